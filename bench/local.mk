# SPDX-License-Identifier: GPL-2.0-or-later
# bench/run.sh runs the benchmarks `make bench` names; bench/report.sh turns
# their JSON lines into the table and bench/report.md with gnuplot's plots.
EXTRA_DIST += bench/run.sh bench/report.sh bench/paired.sh
