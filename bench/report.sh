#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark report: from the JSON lines `make bench` collected, print the
# table (what, ours, baseline, ratio, target, spread, verdict) and write
# report.md with gnuplot's PNG plots beside it.  Reads only files, so it runs
# the same on a live run's results and on a test's fixture.
#   bench/report.sh [--dir DIR] [RESULTS]
# RESULTS defaults to DIR/results.jsonl, DIR to RESULTS's directory.  Other
# inputs, each optional, in DIR: machine.json (run.sh: CPU model, cores,
# caches), select-market.dat and select-latency.dat (bench-select.sh: the
# market's price, supply and demand over its run; each job's wait).  Output
# in DIR: report.md, allreduce-busbw-np*.png, market-TYPE.png (one per GPU type),
# select-latency.png.  GNUPLOT names the program (default gnuplot; an empty
# or missing one: the report says so and lists the numbers without plots).
# Exit 0 unless an input cannot be read or an output cannot be written.
set -u
dir=
results=
while [ $# -gt 0 ]; do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    -h | --help) sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpumarket: bench/report.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) results=$1; shift ;;
  esac
done
[ -n "$dir" ] || dir=$(dirname "${results:-bench/results.jsonl}")
[ -n "$results" ] || results=$dir/results.jsonl
if [ ! -r "$results" ]; then
  echo "gpumarket: bench/report.sh: cannot read $results; run 'make bench' first" >&2
  exit 1
fi
report=$dir/report.md
: >"$report" 2>/dev/null || { echo "gpumarket: bench/report.sh: cannot write $report" >&2; exit 1; }
gnuplot=${GNUPLOT-gnuplot}
if [ -n "$gnuplot" ] && command -v "$gnuplot" >/dev/null 2>&1; then
  # pngcairo draws smoother lines; libgd's png is the fallback.
  if "$gnuplot" -e 'set terminal' 2>&1 | grep -q pngcairo; then
    term='pngcairo size 900,560 font ",10"'
  else
    term='png size 900,560'
  fi
else
  gnuplot=
fi
# Plots of an earlier report go: each one left is one this report drew.
rm -f "$dir"/allreduce-busbw-np*.png "$dir"/market-*.png "$dir"/select-latency.png
work=$(mktemp -d "${TMPDIR:-/tmp}/gm-report.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# The JSON field reader every awk program here shares: the raw text of a key's
# value in one flat line (a string without its quotes, a number, true, false,
# null, or "a, b" for a two-number array).  The benchmarks write these lines
# themselves; nested objects (an allreduce row's "machine") are searched too,
# so their keys must not repeat an outer key.
awkfield='
function field(line, key,   re, v, i, c, r) {
  re = "\"" key "\": *"
  if (!match(line, re)) return ""
  v = substr(line, RSTART + RLENGTH)
  if (substr(v, 1, 1) == "\"") {
    r = ""
    for (i = 2; i <= length(v); i++) {
      c = substr(v, i, 1)
      if (c == "\\") { i++; r = r substr(v, i, 1); continue }
      if (c == "\"") break
      r = r c
    }
    return r
  }
  if (substr(v, 1, 1) == "[") { v = substr(v, 2); sub(/\].*/, "", v); return v }
  sub(/[,}].*/, "", v); return v
}
function given(v) { return v != "" && v != "null" }
# verdict: "yes", "NO", "no target", "skipped" (it cannot run here) or
# "failed" (the benchmark exited with an error); the ratio is held to the
# target, or with no baseline (ratio null) the figure itself.
function verdict(line,   v, t, hib) {
  if (given(field(line, "skipped"))) return "skipped"
  if (given(field(line, "failed"))) return "failed"
  t = field(line, "target"); hib = field(line, "higher_is_better")
  v = field(line, "ratio"); if (!given(v)) v = field(line, "ours")
  if (!given(t) || !given(v)) return "no target"
  if (hib == "true") return (v + 0 >= t + 0) ? "yes" : "NO"
  return (v + 0 <= t + 0) ? "yes" : "NO"
}
function show(v) { return given(v) ? v : "-" }
function spread(line,   s) {
  s = field(line, "spread"); if (!given(s)) s = field(line, "range")
  if (!given(s)) return "-"
  gsub(/ /, "", s); sub(/,/, "-", s); return s
}
'

# ---------------------------------------------------------------- the table
awk "$awkfield"'
# First pass: the widest name sets the first column.
NR == FNR { if (/^{/ && length(field($0, "name")) > w) w = length(field($0, "name")); next }
FNR == 1 { fmt = "%-" w "s %-10s %12s %12s %7s %7s %13s  %s\n"
           printf fmt, "benchmark", "unit", "ours", "baseline", "ratio", "target", "spread", "meets" }
/^{/ {
  name = field($0, "name"); v = verdict($0)
  n[v]++
  if (v == "skipped" || v == "failed") {
    printf "%-" w "s %s: %s\n", name, v, field($0, v); next
  }
  printf fmt, name, field($0, "unit"), show(field($0, "ours")), show(field($0, "baseline")),
    show(field($0, "ratio")), show(field($0, "target")), spread($0), v
}
END {
  if (fmt == "") printf "%-9s %-10s %12s %12s %7s %7s %13s  %s\n", "benchmark", "unit", "ours", "baseline", "ratio", "target", "spread", "meets"
  printf "\n%d rows: %d meet their target, %d do not (NO), %d have no target, %d skipped, %d failed\n",
    n["yes"] + n["NO"] + n["no target"] + n["skipped"] + n["failed"], n["yes"], n["NO"], n["no target"],
    n["skipped"], n["failed"]
}' w=9 "$results" "$results" | tee "$work/table.txt"

# ---------------------------------------------------------------- plot data
# (a) allreduce: per rank count, one line per message size: bytes, our bus
# bandwidth, MPI_Allreduce's, and the memory-copy bandwidth at that size.
awk "$awkfield"'
/^{/ && given(field($0, "ours_busbw_GBps")) {
  b = field($0, "bytes"); np = field($0, "ranks")
  if (!given(b) || !given(np)) next
  f = dir "/allreduce-np" np ".dat"
  print b, field($0, "ours_busbw_GBps"), field($0, "baseline_busbw_GBps"), field($0, "copy_GBps_at_size") >f
}' dir="$work" "$results"

# (b) the market over bench-select.sh's run: seconds, GPU type, price,
# supply, demand (one line each time slurmctld recomputed the market).
market=$dir/select-market.dat
# (c) each job's wait from eligible to started: scheduler, seconds.
latency=$dir/select-latency.dat
if [ -r "$latency" ]; then
  # A CDF per scheduler: seconds, fraction of jobs started within them.
  for s in $(awk '!/^#/ && NF >= 2 { print $1 }' "$latency" | sort -u); do
    awk -v s="$s" '!/^#/ && $1 == s { print $2 }' "$latency" | sort -n |
      awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' >"$work/latency-$s.dat"
  done
fi

plot() { # plot NAME.png GNUPLOT-COMMANDS: writes DIR/NAME.png; prints NAME.png if it did
  [ -n "$gnuplot" ] || return 1
  # noenhanced: names such as cons_tres and MPI_Allreduce are printed as they are.
  if printf 'set terminal %s noenhanced\nset output "%s"\n%s\n' "$term" "$dir/$1" "$2" |
    "$gnuplot" >"$work/gnuplot.err" 2>&1 && [ -s "$dir/$1" ]; then
    echo "$1"
  else
    echo "gpumarket: bench/report.sh: gnuplot did not draw $1: $(head -c 300 "$work/gnuplot.err")" >&2
    rm -f "$dir/$1"
    return 1
  fi
}

# ---------------------------------------------------------------- the report
{
  echo "# gpumarket benchmark report"
  echo
  echo "Written $(date -u '+%Y-%m-%d %H:%M UTC') by \`bench/report.sh\` from \`$(basename "$results")\`" \
    "(one JSON line per measurement; \`make bench\` writes both in the build directory's \`bench/\`)."
  echo
  echo "## The machine"
  echo
  m=$dir/machine.json
  mfile=/dev/null
  [ -r "$m" ] && mfile=$m
  awk "$awkfield"'
  FILENAME == m { cpu = field($0, "cpu_model"); cores = field($0, "cores"); l1 = field($0, "l1d");
                  l2 = field($0, "l2"); l3 = field($0, "l3"); mem = field($0, "memory"); os = field($0, "system"); next }
  /^{/ && given(field($0, "copy_GBps_64MiB")) {
    np = field($0, "ranks")
    if (!(np in dram)) { dram[np] = field($0, "copy_GBps_64MiB"); cache[np] = field($0, "copy_GBps_256KiB"); order[++k] = np }
    if (!given(l1)) { l1 = field($0, "l1d_KiB") " KiB"; l2 = field($0, "l2_KiB") " KiB"; l3 = field($0, "l3_KiB") " KiB" }
  }
  END {
    print "| | |"; print "|---|---|"
    print "| CPU | " (given(cpu) ? cpu : "not recorded (no machine.json)") " |"
    print "| cores | " (given(cores) ? cores : "not recorded") " |"
    print "| caches | L1d " show(l1) ", L2 " show(l2) ", L3 " show(l3) " |"
    if (given(mem)) print "| memory | " mem " |"
    if (given(os)) print "| system | " os " |"
    if (k == 0) print "| memory-copy bandwidth | not measured (bench-allreduce did not run) |"
    for (i = 1; i <= k; i++)
      printf "| memory-copy bandwidth, %d ranks copying at once | %s GB/s at 64 MiB (out of cache), %s GB/s at 256 KiB |\n", order[i], dram[order[i]], cache[order[i]]
  }' m="$m" "$mfile" "$results"
  echo
  echo "Every figure was measured on this machine in this run, shared with whatever else ran on it;" \
    "a benchmark that times rounds gives the spread of its per-round ratios (quartiles)."
  echo
  echo "## How to read the table"
  echo
  echo "- **ours**: gpumarket's figure; **baseline**: the competing figure measured in the same run" \
    "(raw OpenSSL, \`MPI_Allreduce\`, plain \`select/cons_tres\`, Slurm without the plugin...), named in each row."
  echo "- **ratio** = ours / baseline; **target**: the goal the ratio is held to (the figure itself where there is no baseline)." \
    "Whether higher or lower is better is each row's own (\`higher_is_better\` in the JSON line): for times, a ratio below 1 is faster."
  echo "- **spread**: the quartiles (or, failing those, the range) of the per-round ratios; a wide spread means a noisy machine, not a changed program."
  echo "- **meets**: yes or NO against the target; \"no target\" rows are reported for information; \"skipped\" rows say why they could not run here; \"failed\" rows name a benchmark that exited with an error, with its last message."
  echo
  echo "## Results"
  echo
  awk "$awkfield"'
  BEGIN { print "| benchmark | unit | ours | baseline | ratio | target | spread | meets |"
          print "|---|---|--:|--:|--:|--:|--:|---|" }
  /^{/ {
    name = field($0, "name"); gsub(/\|/, "\\|", name); v = verdict($0)
    if (v == "skipped" || v == "failed") {
      why = field($0, v); gsub(/\|/, "\\|", why)
      printf "| %s | | | | | | | %s: %s |\n", name, v == "failed" ? "**failed**" : v, why; next
    }
    printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, field($0, "unit"), show(field($0, "ours")),
      show(field($0, "baseline")), show(field($0, "ratio")), show(field($0, "target")), spread($0),
      v == "NO" ? "**NO**" : v
  }' "$results"
  echo
  tail -n 1 "$work/table.txt"
  echo
  echo "## Plots"
  echo
  if [ -z "$gnuplot" ]; then
    echo "gnuplot is not installed (Debian package \`gnuplot-nox\`, in \`scripts/install-deps.sh\`), so there are no plots;" \
      "the numbers behind each are listed instead."
    echo
  fi

  echo "### Allreduce bus bandwidth by message size"
  echo
  echo "Bus bandwidth = size / time x 2(n-1)/n (the bytes each rank's link carries, as nccl-tests counts them)," \
    "ours against \`MPI_Allreduce\` on the same data in the same rounds, and the memory-copy bandwidth measured at the same size" \
    "with every rank copying at once: the ceiling a host allreduce, which must at least read and write each byte, works under."
  echo
  found=0
  for f in "$work"/allreduce-np*.dat; do
    [ -r "$f" ] || continue
    found=1
    np=${f##*-np}; np=${np%.dat}
    sort -n "$f" -o "$f"
    png=$(plot "allreduce-busbw-np$np.png" "
set title 'Allreduce, float sum, $np ranks: bus bandwidth by message size'
set xlabel 'message size (bytes)'; set ylabel 'GB/s'
set logscale x 2; set logscale y 10; set grid; set key top left
set format x '%.0b%B'
plot '$f' using 1:2 with linespoints title 'gpumarket allreduce', \
     '' using 1:3 with linespoints title 'MPI_Allreduce', \
     '' using 1:4 with lines dashtype 2 title 'memory copy at this size'") && echo "![allreduce bus bandwidth, $np ranks]($png)" && echo
    echo "| size (bytes), $np ranks | ours GB/s | MPI_Allreduce GB/s | copy GB/s |"
    echo "|--:|--:|--:|--:|"
    awk '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$f"
    echo
  done
  [ $found = 1 ] || { echo "No per-size allreduce rows in the results (bench-allreduce did not run)."; echo; }

  echo "### Price and supply against demand"
  echo
  if [ -r "$market" ] && awk '!/^#/ && NF >= 5 { n++ } END { exit !n }' "$market"; then
    awk '/^#/ { sub(/^# ?/, ""); print; print "" }' "$market"
    for type in $(awk '!/^#/ && NF >= 5 { print $2 }' "$market" | sort -u); do
      awk -v t="$type" '!/^#/ && $2 == t' "$market" >"$work/market-$type.dat"
      png=$(plot "market-$type.png" "
set title 'Market for $type GPUs: clearing price, supply and demand over the run'
set xlabel 'seconds since the first market computation'; set ylabel 'GPUs'; set y2label 'price per GPU-hour'
set ytics nomirror; set y2tics; set grid; set key top right
set yrange [0:*]; set y2range [0:*]; set key outside top center horizontal
plot '$work/market-$type.dat' using 1:5 with steps lw 2 title 'demand (GPUs bid for)', \
     '' using 1:4 with steps lw 2 title 'supply (GPUs offered)', \
     '' using 1:3 axes x1y2 with steps lw 2 dashtype 2 title 'clearing price'") && echo "![market for $type]($png)" && echo
      awk '{ n++; p[$3]++; if ($5 > dmax) dmax = $5; if ($4 > smax) smax = $4; if (n == 1 || $3 < pmin) pmin = $3; if ($3 > pmax) pmax = $3; last = $1 }
        END { printf "%s: %d market computations over %s s; price %s to %s per GPU-hour; supply up to %d GPUs, demand up to %d GPUs.\n\n", t, n, last, pmin, pmax, smax, dmax }' t="$type" "$work/market-$type.dat"
    done
  else
    echo "No market series (\`select-market.dat\`): bench-select did not run here (it needs root and the sandbox)."
    echo
  fi

  echo "### Scheduling latency with and without the plugin"
  echo
  if ls "$work"/latency-*.dat >/dev/null 2>&1; then
    echo "The same job stream on two identical sandboxes, one with \`select/cons_tres_gpumarket\`, one with plain \`select/cons_tres\`:" \
      "the fraction of jobs started within a given wait from eligible to started (Slurm records both times in whole seconds)."
    echo
    cmd="set title 'Wait from eligible to started, the same job stream'
set xlabel 'seconds'; set ylabel 'fraction of jobs started'; set grid; set key bottom right; set yrange [0:1.05]; set offsets 0, 1, 0, 0
plot "
    sep=
    for f in "$work"/latency-*.dat; do
      s=${f##*/latency-}; s=${s%.dat}
      cmd="$cmd$sep'$f' using 1:2 with steps lw 2 title '$s'"
      sep=", "
    done
    png=$(plot select-latency.png "$cmd") && echo "![scheduling latency]($png)" && echo
    echo "| scheduler | jobs | median s | 90th percentile s | max s |"
    echo "|---|--:|--:|--:|--:|"
    for f in "$work"/latency-*.dat; do
      s=${f##*/latency-}; s=${s%.dat}
      awk -v s="$s" '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; q = v[int(NR * 0.9 + 0.999)]; if (q == "") q = v[NR]
        printf "| %s | %d | %s | %s | %s |\n", s, NR, m, q, v[NR] }' "$f"
    done
    echo
  else
    echo "No per-job waits (\`select-latency.dat\`): bench-select did not run here (it needs root and the sandbox)."
    echo
  fi
} >>"$report" || { echo "gpumarket: bench/report.sh: cannot write $report" >&2; exit 1; }
plots=$(ls "$dir"/allreduce-busbw-np*.png "$dir"/market-*.png "$dir"/select-latency.png 2>/dev/null | wc -l)
[ "$plots" = 1 ] && plural= || plural=s
echo "gpumarket: the report is in $report, with $plots plot$plural beside it" >&2
[ -n "$gnuplot" ] || echo "gpumarket: gnuplot is not installed (Debian: apt-get install gnuplot-nox); the report has no plots" >&2
exit 0
