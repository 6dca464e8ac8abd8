#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run every benchmark given, collect their JSON lines in bench/results.jsonl
# and print a table.  Benchmarks report; they never fail the build.
#   bench/run.sh PROGRAM...   (paths relative to the build directory, or absolute)
out=bench/results.jsonl
mkdir -p bench
: >"$out"
for b in "$@"; do
  echo "== $b" >&2
  # A benchmark prints one JSON object per line on stdout; anything else is
  # commentary and goes to the terminal.
  case $b in /*) prog=$b ;; *) prog=./$b ;; esac
  if ! "$prog" >"$out.part" 2>&1; then
    echo "gpumarket: benchmark $b exited with an error (its results so far are kept)" >&2
  fi
  grep '^{' "$out.part" >>"$out"
  grep -v '^{' "$out.part" >&2
  rm -f "$out.part"
done
cat "$out"
# A table: name, unit, ours, baseline, ratio, target, verdict.
awk '
function field(line, key,   re, v) {
  re = "\"" key "\": *"
  if (!match(line, re)) return ""
  v = substr(line, RSTART + RLENGTH)
  if (substr(v, 1, 1) == "\"") { v = substr(v, 2); sub(/".*/, "", v); return v }
  sub(/[,}].*/, "", v); return v
}
BEGIN { printf "\n%-44s %-12s %14s %14s %8s %8s  %s\n", "benchmark", "unit", "ours", "baseline", "ratio", "target", "meets" }
{
  name = field($0, "name"); unit = field($0, "unit"); ours = field($0, "ours")
  base = field($0, "baseline"); ratio = field($0, "ratio"); target = field($0, "target")
  hib = field($0, "higher_is_better")
  v = (ratio != "" && ratio != "null") ? ratio : ours
  meets = "?"
  if (target != "" && target != "null" && v != "" && v != "null")
    meets = (hib == "true") ? (v + 0 >= target + 0 ? "yes" : "NO") : (v + 0 <= target + 0 ? "yes" : "NO")
  printf "%-44s %-12s %14s %14s %8s %8s  %s\n", name, unit, ours, base, ratio, target, meets
}' "$out"
exit 0
