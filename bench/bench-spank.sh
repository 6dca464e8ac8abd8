#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: median latency of `srun true` with spank_gpumarket.so loaded
# against the same sandbox with an empty plugstack.conf, runs interleaved so
# both see the same machine load.  Prints one JSON line.
set -u
runs=${GPUMARKET_BENCH_SPANK_RUNS:-25}
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
: >"$dir/with"; : >"$dir/without"
for ((i = 0; i < runs; i++)); do
  cp "$dir/plugstack.with" "$conf"; time_us -p market --market-bid=2.40 >>"$dir/with"
  cp "$dir/plugstack.without" "$conf"; time_us -p market >>"$dir/without"
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
with=$(median "$dir/with"); without=$(median "$dir/without")
echo "bench-spank: $runs runs each, median srun true: with plugin ${with} us, without ${without} us" >&2
awk -v w="$with" -v wo="$without" 'BEGIN {
  printf "{\"name\": \"srun_true_latency_spank\", \"unit\": \"ms\", \"ours\": %.2f, \"baseline\": %.2f, \"ratio\": %.3f, \"target\": 1.05, \"higher_is_better\": false}\n", w / 1000, wo / 1000, w / wo }'
