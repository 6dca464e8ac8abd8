#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every benchmark given, collect their JSON lines in bench/results.jsonl,
# print the table and write the report (bench/report.sh: bench/report.md and
# its plots).  Benchmarks report; they never fail the build.
#   bench/run.sh PROGRAM...   (paths relative to the build directory, or absolute)
# A benchmark that gives no JSON line (it cannot run here: no GPU, not root)
# still gets a row: {"name": PROGRAM, "skipped": REASON}, the reason from its
# "skipped: ..." message; one that exits with an error gets a row
# {"name": ..., "failed": REASON} besides whatever rows it gave.
here=$(dirname "$0")
out=bench/results.jsonl
mkdir -p bench
: >"$out"

# json_string TEXT: TEXT as the inside of a JSON string.
json_string() { printf '%s' "$1" | tr '\n\t' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g'; }

# The machine, for the report's label (the benchmarks add what they measure).
cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
cache() { LC_ALL=C lscpu 2>/dev/null | sed -n "s/^$1 cache: *//p" | head -n 1; }
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
printf '{"cpu_model": "%s", "cores": %s, "l1d": "%s", "l2": "%s", "l3": "%s", "memory": "%s", "system": "%s"}\n' \
  "$(json_string "${cpu:-unknown}")" "$(nproc 2>/dev/null || echo null)" "$(json_string "$(cache L1d)")" \
  "$(json_string "$(cache L2)")" "$(json_string "$(cache L3)")" "$(json_string "$mem")" \
  "$(json_string "$(uname -srm)")" >bench/machine.json
# Series the benchmarks write for the plots; stale ones from an earlier run go.
rm -f bench/select-market.dat bench/select-latency.dat

for b in "$@"; do
  echo "== $b" >&2
  # A benchmark prints one JSON object per line on stdout; anything else is
  # commentary and goes to the terminal.
  case $b in /*) prog=$b ;; *) prog=./$b ;; esac
  name=$(basename "$b" .sh)
  "$prog" >"$out.part" 2>&1
  rc=$?
  grep '^{' "$out.part" >>"$out"
  grep -v '^{' "$out.part" >&2
  why=$(grep -v '^{' "$out.part" | sed -n 's/.*skipped: //p' | tail -n 1)
  if [ $rc -ne 0 ]; then
    echo "gpumarket: benchmark $b exited with status $rc (its results so far are kept)" >&2
    last=$(grep -v '^{' "$out.part" | grep -v '^ *$' | tail -n 1)
    printf '{"name": "%s (exit status %d)", "failed": "%s"}\n' "$name" $rc \
      "$(json_string "${last:-no message}")" >>"$out"
  elif ! grep -q '^{' "$out.part"; then
    printf '{"name": "%s", "skipped": "%s"}\n' "$name" "$(json_string "${why:-it printed no result}")" >>"$out"
  fi
  rm -f "$out.part"
done
cat "$out"
echo
sh "$here/report.sh" --dir bench "$out"
exit 0
