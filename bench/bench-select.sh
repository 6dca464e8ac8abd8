#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: the same mixed job stream (local and market 1-GPU jobs) on two
# identical sandboxes at once, one with select/cons_tres_gpumarket and one
# with plain select/cons_tres: jobs started per second, median
# eligible-to-start latency, and slurmctld's mean main-scheduler cycle
# (sdiag).  Prints JSON lines (ours = gpumarket, baseline = cons_tres).
# Then a market scenario on the gpumarket sandbox alone (local jobs hold half
# the GPUs while market jobs with rising bids arrive, then leave).  For the
# report (bench/report.sh) it writes, in GPUMARKET_BENCH_DIR (default bench/):
#   select-latency.dat  each job's wait, eligible to started: SCHEDULER SECONDS
#   select-market.dat   the market each time slurmctld recomputed it, from its
#                       log: SECONDS TYPE PRICE SUPPLY DEMAND
set -u
jobs=${GPUMARKET_BENCH_SELECT_JOBS:-60}
outdir=${GPUMARKET_BENCH_DIR:-bench}
sandbox=${top_builddir:-.}/sandbox/gpumarket-sandbox
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-select: skipped: the sandbox cluster needs root" >&2
  exit 0
fi
dplain=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
dmarket=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
trap '"$sandbox" down --dir "$dplain" >/dev/null 2>&1; "$sandbox" down --dir "$dmarket" >/dev/null 2>&1' EXIT
"$sandbox" up --nodes 2 --gpus-per-node 4 --select cons_tres --dir "$dplain" >/dev/null 2>&1 || {
  echo "bench-select: the cons_tres sandbox did not start" >&2; exit 1; }
"$sandbox" up --nodes 2 --gpus-per-node 4 --select gpumarket --dir "$dmarket" >/dev/null 2>&1 || {
  echo "bench-select: the gpumarket select plugin is not built or its sandbox did not start" >&2; exit 1; }

# submit DIR: the stream, held; prints the job ids.
submit() {
  local i
  for ((i = 0; i < jobs; i++)); do
    if ((i % 5 < 3)); then
      SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -H -p local --gres=gpu:1 -o /dev/null --wrap 'sleep 1'
    else
      SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -H -p market --gres=gpu:1 --market-bid=2.00 \
        -o /dev/null --wrap 'sleep 1'
    fi
  done
}
ids_plain=$(submit "$dplain" | tr '\n' ' ')
ids_market=$(submit "$dmarket" | tr '\n' ' ')
# shellcheck disable=SC2086
SLURM_CONF=$dplain/etc/slurm.conf scontrol release $ids_plain
# shellcheck disable=SC2086
SLURM_CONF=$dmarket/etc/slurm.conf scontrol release $ids_market

left() { SLURM_CONF=$1/etc/slurm.conf squeue -h -o %i | wc -l; }
deadline=$((SECONDS + 600))
while [ "$(left "$dplain")" -gt 0 ] || [ "$(left "$dmarket")" -gt 0 ]; do
  [ $SECONDS -ge $deadline ] && { echo "bench-select: the stream did not finish in 600 s" >&2; exit 1; }
  sleep 1
done

# pairs DIR: "ELIGIBLE START" in epoch seconds, one line per job.
pairs() {
  SLURM_CONF=$1/etc/slurm.conf scontrol show job -o | tr ' ' '\n' |
    sed -n 's/^\(EligibleTime\|StartTime\)=//p' | paste - - | while read -r e s; do
      echo "$(date -d "$e" +%s) $(date -d "$s" +%s)"
    done
}
# stats DIR: "THROUGHPUT MEDIAN_LATENCY" from every job's EligibleTime and StartTime.
stats() {
  local pairs
  pairs=$(pairs "$1")
  local tp med
  tp=$(awk '{ if (min == "" || $1 < min) min = $1; if ($2 > max) max = $2 }
            END { printf "%.3f", NR / (max - min + 1) }' <<<"$pairs")
  med=$(awk '{ print $2 - $1 }' <<<"$pairs" | sort -n |
        awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  echo "$tp $med"
}
read -r tp_plain lat_plain < <(stats "$dplain")
read -r tp_market lat_market < <(stats "$dmarket")
mkdir -p "$outdir"
{
  echo "# each job's wait from eligible to started, $jobs jobs (3/5 local, 2/5 market) on each scheduler"
  pairs "$dplain" | awk '{ print "cons_tres", $2 - $1 }'
  pairs "$dmarket" | awk '{ print "gpumarket", $2 - $1 }'
} >"$outdir/select-latency.dat"
cycle() { SLURM_CONF=$1/etc/slurm.conf sdiag | awk '/^Main schedule statistics/ { m = 1 } m && /Mean cycle:/ { print $3; exit }'; }
cy_plain=$(cycle "$dplain"); cy_market=$(cycle "$dmarket")
echo "bench-select: $jobs jobs (3/5 local, 2/5 market): gpumarket ${tp_market} jobs/s, median ${lat_market} s, mean cycle ${cy_market} us; cons_tres ${tp_plain} jobs/s, median ${lat_plain} s, mean cycle ${cy_plain} us" >&2
awk -v o="$tp_market" -v b="$tp_plain" 'BEGIN {
  printf "{\"name\": \"select_jobs_started_per_second\", \"unit\": \"jobs/s\", \"ours\": %.3f, \"baseline\": %.3f, \"ratio\": %.3f, \"target\": 0.95, \"higher_is_better\": true}\n", o, b, o / b }'
awk -v o="$lat_market" -v b="$lat_plain" 'BEGIN {
  r = (b > 0) ? sprintf("%.3f", o / b) : "null"
  printf "{\"name\": \"select_median_eligible_to_start\", \"unit\": \"s\", \"ours\": %.1f, \"baseline\": %.1f, \"ratio\": %s, \"target\": 1.05, \"higher_is_better\": false}\n", o, b, r }'
awk -v o="${cy_market:-0}" -v b="${cy_plain:-0}" 'BEGIN {
  r = (b > 0) ? sprintf("%.3f", o / b) : "null"
  printf "{\"name\": \"select_main_sched_mean_cycle\", \"unit\": \"us\", \"ours\": %d, \"baseline\": %d, \"ratio\": %s, \"target\": 1.05, \"higher_is_better\": false}\n", o, b, r }'
# The gate's own cost: slurmctld logs, at each reconfigure, the time its
# job_test calls (RUN_NOW and WILL_RUN) spent in the market's gate and in
# cons_tres's job_test.  Ratio: what the gate adds to a call's time.
SLURM_CONF=$dmarket/etc/slurm.conf scontrol reconfigure
gate_line=
for ((w = 0; w < 50; w++)); do
  gate_line=$(grep 'gpumarket: job_test cost:' "$dmarket/log/slurmctld.log" | tail -n 1)
  [ -n "$gate_line" ] && break
  sleep 0.2
done
if [ -n "$gate_line" ]; then
  read -r calls gate_ns ct_ns < <(sed -n 's/.*job_test cost: \([0-9]*\) calls .* gate \([0-9]*\) ns, cons_tres \([0-9]*\) ns.*/\1 \2 \3/p' <<<"$gate_line")
  echo "bench-select: $gate_line" >&2
  awk -v n="$calls" -v g="$gate_ns" -v c="$ct_ns" 'BEGIN {
    r = (c > 0) ? sprintf("%.3f", g / c) : "null"
    printf "{\"name\": \"select_gate_cost_per_job_test\", \"unit\": \"us\", \"ours\": %.2f, \"baseline\": %.2f, \"ratio\": %s, \"target\": 0.10, \"higher_is_better\": false}\n", g / n / 1000, c / n / 1000, r }'
else
  echo "bench-select: slurmctld logged no job_test cost line at reconfigure" >&2
fi

# The market scenario, on the gpumarket sandbox alone: 4 local jobs hold half
# the 8 GPUs (supply 4) while 12 one-GPU market jobs arrive, two every 2 s,
# bidding 1.50 to 4.25 (above the reserve price 1.00, so every one ends):
# demand passes supply and the price climbs to the highest bid left out;
# when the local jobs end, supply grows and the price falls back.
submit_market() { # BID SECONDS
  SLURM_CONF=$dmarket/etc/slurm.conf sbatch --parsable -p market --gres=gpu:1 --market-bid="$1" \
    -o /dev/null --wrap "sleep $2" >/dev/null
}
for ((i = 0; i < 4; i++)); do
  SLURM_CONF=$dmarket/etc/slurm.conf sbatch --parsable -p local --gres=gpu:1 -o /dev/null \
    --wrap 'sleep 20' >/dev/null
done
for bid in 1.50 1.75 2.00 2.25 2.50 2.75 3.00 3.25 3.50 3.75 4.00 4.25; do
  submit_market "$bid" 10
  case $bid in *.50 | *.00) sleep 2 ;; esac
done
deadline=$((SECONDS + 300))
while [ "$(left "$dmarket")" -gt 0 ]; do
  [ $SECONDS -ge $deadline ] && { echo "bench-select: the market scenario did not finish in 300 s" >&2; break; }
  sleep 1
done
# slurmctld logs each change of a type's market:
#   [2026-12-01T23:37:07.975] gpumarket: market h100: price 2.00 supply 4 demand 6
# The series covers the whole run: the compared stream (every market bid
# 2.00), then the scenario.
awk '
/gpumarket: market [^ ]*: price [^ ]* supply [0-9]+ demand [0-9]+/ {
  ts = substr($1, 2, length($1) - 2)             # 2026-12-01T23:37:07.975
  split(substr(ts, 12), hms, ":")
  t = hms[1] * 3600 + hms[2] * 60 + hms[3]
  if (t0 == "") t0 = t
  if (t < t0) t += 86400                         # past midnight
  for (i = 1; i <= NF; i++) if ($i == "market") type = $(i + 1)
  sub(/:$/, "", type)
  for (i = 1; i <= NF; i++) {
    if ($i == "price") price = $(i + 1)
    if ($i == "supply") supply = $(i + 1)
    if ($i == "demand") demand = $(i + 1)
  }
  printf "%.3f %s %s %s %s\n", t - t0, type, price, supply, demand
}' "$dmarket/log/slurmctld.log" >"$outdir/select-market.dat.part"
{
  echo "# From slurmctld's log (\"gpumarket: market TYPE: price P supply S demand D\", one line per change): seconds, GPU type, clearing price per GPU-hour, supply (GPUs offered), demand (GPUs asked by pending bids at or above the reserve price)."
  echo "# The run: first the compared job stream ($jobs jobs; every market job bids 2.00), then a scenario: 4 local jobs hold half the GPUs while 12 market jobs arrive bidding 1.50 to 4.25, then the local jobs end."
  cat "$outdir/select-market.dat.part"
} >"$outdir/select-market.dat"
rm -f "$outdir/select-market.dat.part"
echo "bench-select: $(grep -vc '^#' "$outdir/select-market.dat") market changes logged; series in $outdir/select-market.dat, waits in $outdir/select-latency.dat" >&2
