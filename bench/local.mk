EXTRA_DIST += bench/run.sh
