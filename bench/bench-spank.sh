#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: latency of `srun true` with spank_gpumarket.so loaded against
# the same sandbox with an empty plugstack.conf, in paired runs (one of each,
# the order alternating) so both see the same machine load.  Prints one JSON
# line: the medians, and the median and quartiles of the per-pair ratios.
set -u
# shellcheck source=bench/paired.sh
. "$(dirname "$0")/paired.sh"
runs=${GPUMARKET_BENCH_SPANK_RUNS:-201}
sandbox=${top_builddir:-.}/sandbox/gpumarket-sandbox
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-spank: skipped: the sandbox cluster needs root" >&2
  exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
trap '"$sandbox" down --dir "$dir" >/dev/null 2>&1' EXIT
eval "$("$sandbox" up --nodes 1 --gpus-per-node 2 --dir "$dir" 2>/dev/null)" || {
  echo "bench-spank: the sandbox did not start" >&2; exit 1; }
conf=$dir/etc/plugstack.conf
if ! grep -q spank_gpumarket "$conf"; then
  echo "bench-spank: spank_gpumarket.so is not built" >&2; exit 1
fi
cp "$conf" "$dir/plugstack.with"
: >"$dir/plugstack.without"

time_us() { # time_us SRUN-ARGS...: one `srun ... true`, in microseconds
  local t0 t1
  t0=$(date +%s%N)
  srun "$@" true >/dev/null 2>&1 || echo "bench-spank: srun $* true failed" >&2
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000))
}
: >"$dir/pairs"
for ((i = 0; i < runs; i++)); do
  if ((i % 2)); then
    cp "$dir/plugstack.without" "$conf"; wo=$(time_us -p market)
    cp "$dir/plugstack.with" "$conf"; w=$(time_us -p market --market-bid=2.40)
  else
    cp "$dir/plugstack.with" "$conf"; w=$(time_us -p market --market-bid=2.40)
    cp "$dir/plugstack.without" "$conf"; wo=$(time_us -p market)
  fi
  echo "$w $wo" >>"$dir/pairs"
done
echo "bench-spank: $runs pairs of srun true, with and without the plugin" >&2
# Latencies in ms, for the row.
awk '{ printf "%.3f %.3f\n", $1 / 1000, $2 / 1000 }' "$dir/pairs" >"$dir/pairs.ms"
paired_row "$dir/pairs.ms" srun_true_latency_spank ms 1 2 1.05 false
