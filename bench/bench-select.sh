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
# shellcheck source=bench/paired.sh
. "$(dirname "$0")/paired.sh"
jobs=${GPUMARKET_BENCH_SELECT_JOBS:-60}
nodes=2 gpus_per_node=4
outdir=${GPUMARKET_BENCH_DIR:-bench}
sandbox=${top_builddir:-.}/sandbox/gpumarket-sandbox
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-select: skipped: the sandbox cluster needs root" >&2
  exit 0
fi
dplain=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
dmarket=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
trap '"$sandbox" down --dir "$dplain" >/dev/null 2>&1; "$sandbox" down --dir "$dmarket" >/dev/null 2>&1' EXIT
"$sandbox" up --nodes $nodes --gpus-per-node $gpus_per_node --select cons_tres --dir "$dplain" >/dev/null 2>&1 || {
  echo "bench-select: the cons_tres sandbox did not start" >&2; exit 1; }
"$sandbox" up --nodes $nodes --gpus-per-node $gpus_per_node --select gpumarket --dir "$dmarket" >/dev/null 2>&1 || {
  echo "bench-select: the gpumarket select plugin is not built or its sandbox did not start" >&2; exit 1; }

# The compared stream, in rounds: each round holds every GPU of both
# sandboxes with one job, submits the same stream to both, releases both by
# cancelling the holding jobs (in turn, the order alternating by round;
# hold_gpus in paired.sh says why not `scontrol release`) and waits until
# both have run every job.  Each job's batch script writes the time it
# started (date +%s.%N: Slurm's StartTime has whole seconds, coarser than
# the differences measured); eligible is the moment of the release, when
# the stream's jobs have waited 3 s (slurmctld has seen them).  Per round
# and scheduler: jobs started per second (jobs over the last start after
# the release), the median wait from release to start,
# slurmctld's main-scheduler mean cycle (sdiag, reset at the round's start)
# and slurmctld's CPU time per job (utime + stime from /proc).  Each row is
# the median of the per-round ratios, with the quartiles as its spread.
rounds=${GPUMARKET_BENCH_SELECT_ROUNDS:-15}
# submit DIR STAMPS: the stream (pending: hold_gpus holds every GPU).
submit() {
  local i
  for ((i = 0; i < jobs; i++)); do
    if ((i % 5 < 3)); then
      SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -p local --gres=gpu:1 -o /dev/null \
        --wrap "date +%s.%N >>$2; sleep 1"
    else
      SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 \
        -o /dev/null --wrap "date +%s.%N >>$2; sleep 1"
    fi
  done
}
left() { SLURM_CONF=$1/etc/slurm.conf squeue -h -o %i | wc -l; }
# cpu DIR: slurmctld's CPU time so far, in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$(cat "$1/run/slurmctld.pid")/stat" 2>/dev/null || echo 0; }
cycle() { SLURM_CONF=$1/etc/slurm.conf sdiag | awk '/^Main schedule statistics/ { m = 1 } m && /Mean cycle:/ { print $3; exit }'; }
results=$(mktemp "${TMPDIR:-/tmp}/gmbench-rounds.XXXXXX")
cpu_ticks=0 hz=$(getconf CLK_TCK)
for ((r = 1; r <= rounds; r++)); do
  sp=$dplain/tmp/round$r.starts sm=$dmarket/tmp/round$r.starts
  : >"$sp"; : >"$sm"
  hp=$(hold_gpus "$dplain" $nodes $gpus_per_node) &&
    hm=$(hold_gpus "$dmarket" $nodes $gpus_per_node) || exit 1
  submit "$dplain" "$sp" >/dev/null
  submit "$dmarket" "$sm" >/dev/null
  sleep 3
  for d in "$dplain" "$dmarket"; do SLURM_CONF=$d/etc/slurm.conf sdiag --reset >/dev/null; done
  c0p=$(cpu "$dplain") c0m=$(cpu "$dmarket")
  read -r rp relm < <(free_pair "$r" "$dplain" "$hp" "$dmarket" "$hm")
  deadline=$((SECONDS + 600))
  while [ "$(left "$dplain")" -gt 0 ] || [ "$(left "$dmarket")" -gt 0 ]; do
    [ $SECONDS -ge $deadline ] && { echo "bench-select: round $r did not finish in 600 s" >&2; exit 1; }
    sleep 0.5
  done
  c1p=$(cpu "$dplain") c1m=$(cpu "$dmarket")
  if [ "$(wc -l <"$sp")" -ne "$jobs" ] || [ "$(wc -l <"$sm")" -ne "$jobs" ]; then
    echo "bench-select: round $r: $(wc -l <"$sp") of $jobs jobs ran on cons_tres, $(wc -l <"$sm") on gpumarket" >&2
    exit 1
  fi
  read -r tpp latp < <(stamp_stats "$sp" "$rp")
  read -r tpm latm < <(stamp_stats "$sm" "$relm")
  cyp=$(cycle "$dplain") cym=$(cycle "$dmarket")
  echo "$tpm $tpp $latm $latp ${cym:-0} ${cyp:-0} $(((c1m - c0m) * 1000 / hz)) $(((c1p - c0p) * 1000 / hz))" >>"$results"
  cpu_ticks=$((cpu_ticks + c1m - c0m))
  echo "bench-select: round $r: gpumarket $tpm jobs/s, median wait $latm s, mean cycle $cym us, slurmctld CPU $(((c1m - c0m) * 1000 / hz)) ms; cons_tres $tpp jobs/s, median wait $latp s, mean cycle $cyp us, CPU $(((c1p - c0p) * 1000 / hz)) ms" >&2
  cat "$sp.waits" >>"$dplain/tmp/waits"; cat "$sm.waits" >>"$dmarket/tmp/waits"
done
mkdir -p "$outdir"
{
  echo "# each job's wait from its release (eligible) to its batch script's start, $rounds rounds of $jobs jobs (3/5 local, 2/5 market) on each scheduler"
  awk '{ print "cons_tres", $1 }' "$dplain/tmp/waits"
  awk '{ print "gpumarket", $1 }' "$dmarket/tmp/waits"
} >"$outdir/select-latency.dat"
paired_row "$results" select_jobs_started_per_second jobs/s 1 2 0.95 true "\"jobs\": $jobs"
paired_row "$results" select_median_eligible_to_start s 3 4 1.05 false "\"jobs\": $jobs"
# The main scheduler's mean cycle is wall time (sdiag): on a shared machine a
# round's mean follows its few longest cycles, whoever was descheduled; it
# is kept for information.  What the plugin costs slurmctld is held by the
# CPU row below (and a stall would show in the two rows above).
paired_row "$results" select_main_sched_mean_cycle us 5 6 null false "\"jobs\": $jobs"
paired_row "$results" select_slurmctld_cpu_per_round ms 7 8 1.05 false "\"jobs\": $jobs"
rm -f "$results"

# The gate's own cost: slurmctld logs, at each reconfigure, the time its
# job_test calls (RUN_NOW and WILL_RUN) spent in the market's gate and in
# cons_tres's job_test since it started (wall clock: see gm_cost_call in the
# plugin), and the median and quartiles of the ratio gate/cons_tres over
# rounds of 32 calls.  Two rows:
#  - select_gate_share_of_slurmctld_cpu: all the gate's time against all of
#    slurmctld's CPU time over the compared rounds, held to the 5 % that
#    the scheduling rows allow the plugin (the gate's count also holds the
#    calls made before the rounds, so it errs high);
#  - select_gate_cost_per_job_test: the gate against cons_tres's job_test
#    in the same calls, for information.  Rounds that test market jobs
#    rebuild the snapshot and cost about as much as cons_tres; rounds of
#    local jobs cost a few percent: the quartiles show both kinds.
SLURM_CONF=$dmarket/etc/slurm.conf scontrol reconfigure
gate_line=
for ((w = 0; w < 50; w++)); do
  gate_line=$(grep 'gpumarket: job_test cost:' "$dmarket/log/slurmctld.log" | tail -n 1)
  [ -n "$gate_line" ] && break
  sleep 0.2
done
if [ -n "$gate_line" ]; then
  read -r calls gate_ns ct_ns < <(sed -n 's/.*job_test cost: \([0-9]*\) calls .* gate \([0-9]*\) ns, cons_tres \([0-9]*\) ns.*/\1 \2 \3/p' <<<"$gate_line")
  read -r rmed rq1 rq3 nr < <(sed -n 's/.*per round of [0-9]* calls: median \([0-9.]*\), quartiles \([0-9.]*\) \([0-9.]*\), \([0-9]*\) rounds.*/\1 \2 \3 \4/p' <<<"$gate_line")
  echo "bench-select: $gate_line" >&2
  awk -v g="$gate_ns" -v c="$cpu_ticks" -v hz="$hz" -v n="$rounds" 'BEGIN {
    cns = c * 1e9 / hz
    r = (cns > 0) ? sprintf("%.4f", g / cns) : "null"
    printf "{\"name\": \"select_gate_share_of_slurmctld_cpu\", \"unit\": \"ms\", \"ours\": %.2f, \"baseline\": %.2f, \"ratio\": %s, \"target\": 0.05, \"higher_is_better\": false, \"rounds\": %d, \"note\": \"ours: time in the market gate of every job_test call since slurmctld started; baseline: slurmctld CPU time over the compared rounds\"}\n", g / 1e6, cns / 1e6, r, n }'
  awk -v n="$calls" -v g="$gate_ns" -v c="$ct_ns" -v m="${rmed:-}" -v q1="${rq1:-}" -v q3="${rq3:-}" -v nr="${nr:-0}" 'BEGIN {
    if (m == "") { m = (c > 0) ? g / c : "null"; q1 = m; q3 = m }
    printf "{\"name\": \"select_gate_cost_per_job_test\", \"unit\": \"us\", \"ours\": %.2f, \"baseline\": %.2f, \"ratio\": %s, \"target\": null, \"higher_is_better\": false, \"rounds\": %d, \"spread\": [%s, %s], \"note\": \"rounds of 32 job_test calls; the median of the per-round ratios gate / cons_tres\"}\n", g / n / 1000, c / n / 1000, m, nr, q1, q3 }'
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
