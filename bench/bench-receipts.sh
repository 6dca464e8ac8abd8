#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark (issue 12): the receipts slurmctld writes itself.
#  (a) Receipts per second from slurmctld under a burst of short market jobs
#      (N 1-GPU `--wrap true` jobs released at once on a 2-node x 4-GPU
#      sandbox): N / (time the last receipt is on disk - time the first job
#      ended), read from the ledger; against `gpumarket ledger append` of N
#      receipts piped in one go on the same machine (the raw rate of the
#      settlement library).  The ratio is far below 1 by construction: the
#      receipts cannot come faster than slurmctld ends jobs, so it measures
#      slurmctld's job rate more than the writer.  Also the latency from a
#      job's end to its receipt being in the ledger (median and max; job ends
#      have 1 s resolution, the ledger is polled every 0.2 s).
#  (b) Scheduling throughput (jobs started per second: each job's batch
#      script writes the time it starts, against the time of the release, as
#      bench-select.sh does) with receipts on against Receipts=no, the same
#      stream on two sandboxes at the same time, in paired rounds.
#      Target: the stream takes at most 5% longer with receipts on (ratio
#      on/off >= 1/1.05).  Both slurmctlds are restarted the same way (the
#      setting is read at start), and (b) runs first, then (a) on the
#      receipts sandbox alone.
# Prints JSON lines (see design.md, Benchmarks); commentary goes to stderr.
set -u
# shellcheck source=bench/paired.sh
. "$(dirname "$0")/paired.sh"
jobs=${GPUMARKET_BENCH_RECEIPTS_JOBS:-100}
rounds=${GPUMARKET_BENCH_RECEIPTS_ROUNDS:-15}
nodes=2 gpus_per_node=4
builddir=${top_builddir:-.}
sandbox=$builddir/sandbox/gpumarket-sandbox
cli=$builddir/cli/gpumarket
say() { echo "bench-receipts: $*" >&2; }
if [ "$(id -u)" -ne 0 ]; then
  say "skipped: the sandbox cluster needs root"
  exit 0
fi
if [ ! -f "$builddir/slurm-plugin/.libs/select_cons_tres_gpumarket.so" ] || [ ! -x "$cli" ]; then
  say "skipped: the gpumarket select plugin or the gpumarket command is not built (configure with --with-slurm-source)"
  exit 0
fi
won=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
doff=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmbench.XXXXXX")
poller=
cleanup() {
  [ -n "$poller" ] && kill "$poller" 2>/dev/null
  "$sandbox" down --dir "$won" >/dev/null 2>&1
  "$sandbox" down --dir "$doff" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
for d in "$won" "$doff"; do
  "$sandbox" up --nodes $nodes --gpus-per-node $gpus_per_node --select gpumarket --dir "$d" >/dev/null 2>&1 || {
    say "a sandbox did not start in $d"; exit 1; }
done
# Receipts=no is read when slurmctld starts: both slurmctlds are restarted
# the same way, one with Receipts=no, so the two differ in that alone.
echo "Receipts=no" >>"$doff/etc/gpumarket.conf"
ctld=$(sed -n 's/^SLURMCTLD_BIN=//p' "$sandbox" | tr -d "'")
[ -x "$ctld" ] || ctld=$(PATH=$PATH:/usr/sbin:/sbin command -v slurmctld)
restart_ctld() { # restart_ctld DIR
  local pid deadline
  pid=$(tr -dc 0-9 <"$1/run/slurmctld.pid")
  kill "$pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    [ $SECONDS -ge $deadline ] && { say "slurmctld $pid of $1 did not stop"; return 1; }
    sleep 0.2
  done
  SLURM_CONF=$1/etc/slurm.conf GPUMARKET_SANDBOX_DAEMON=$1 "$ctld" >>"$1/log/slurmctld.out" 2>&1
  deadline=$((SECONDS + 60))
  until [ "$(SLURM_CONF=$1/etc/slurm.conf sinfo -h -N -p market -o %t 2>/dev/null | sort -u)" = idle ]; do
    [ $SECONDS -ge $deadline ] && { say "the sandbox in $1 did not come back after the restart"; return 1; }
    sleep 0.3
  done
}
restart_ctld "$won" && restart_ctld "$doff" || exit 1
grep -q 'receipts are off' "$doff/log/slurmctld.log" ||
  { say "slurmctld of $doff did not turn receipts off"; exit 1; }

now() { date +%s.%N; }
# submit DIR [STAMPS]: N 1-GPU market jobs that end at once, each writing
# the time it starts to STAMPS; prints their ids.  They wait behind the job
# hold_gpus started (paired.sh) until free_gpus cancels it.
submit() {
  local i cmd=true
  [ -n "${2:-}" ] && cmd="date +%s.%N >>$2"
  for ((i = 0; i < jobs; i++)); do
    SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 \
      -o /dev/null --wrap "$cmd"
  done
}
left() { SLURM_CONF=$1/etc/slurm.conf squeue -h -o %i | wc -l; }
# receipts DIR: how many receipts the sandbox's ledger holds, each checked
# against the sandbox's VerifierKeys (receipts list prints nothing without keys).
receipts() { "$cli" receipts list --config "$1/etc/gpumarket.conf" --ledger "$1/ledger" 2>/dev/null | wc -l; }
# times DIR IDS FIELD: FIELD (EligibleTime, StartTime, EndTime) of each job, Unix s.
times() {
  local j
  for j in $2; do
    SLURM_CONF=$1/etc/slurm.conf scontrol show job -o "$j" | tr ' ' '\n' | sed -n "s/^$3=//p" |
      while read -r t; do date -d "$t" +%s; done
  done
}

# ---- (b) the same stream on both sandboxes at once: receipts on and
# Receipts=no, in ROUNDS paired rounds (the two slurmctlds share the CPUs,
# so one round is noisy): ours and baseline are the medians, the ratio the
# median of the per-round ratios, the spread their quartiles.
: >"$tmp/rounds"
for ((r = 1; r <= rounds; r++)); do
  son=$tmp/on$r.starts soff=$tmp/off$r.starts
  : >"$son"; : >"$soff"
  # Every GPU held while the stream is submitted, then freed on both (in
  # turn, the first alternating between rounds): see hold_gpus in paired.sh.
  hon=$(hold_gpus "$won" $nodes $gpus_per_node) &&
    hoff=$(hold_gpus "$doff" $nodes $gpus_per_node) || exit 1
  submit "$won" "$son" >/dev/null
  submit "$doff" "$soff" >/dev/null
  sleep 3
  read -r ron roff < <(free_pair "$r" "$won" "$hon" "$doff" "$hoff")
  deadline=$((SECONDS + 600))
  while [ "$(left "$won")" -gt 0 ] || [ "$(left "$doff")" -gt 0 ]; do
    [ $SECONDS -ge $deadline ] && { say "(b): round $r did not finish in 600 s"; exit 1; }
    sleep 0.5
  done
  if [ "$(wc -l <"$son")" -ne "$jobs" ] || [ "$(wc -l <"$soff")" -ne "$jobs" ]; then
    say "(b): round $r: $(wc -l <"$son") of $jobs jobs started with receipts on, $(wc -l <"$soff") with Receipts=no"
    exit 1
  fi
  read -r tp_on _ < <(stamp_stats "$son" "$ron")
  read -r tp_off _ < <(stamp_stats "$soff" "$roff")
  echo "$tp_on $tp_off" >>"$tmp/rounds"
  say "(b) round $r, $jobs jobs on each: receipts on $tp_on jobs/s, Receipts=no $tp_off jobs/s"
done
deadline=$((SECONDS + 60))
until [ "$(receipts "$won")" -ge $((rounds * jobs)) ]; do
  [ $SECONDS -ge $deadline ] && { say "(b): only $(receipts "$won") of $((rounds * jobs)) receipts of the stream"; break; }
  sleep 0.5
done
say "(b) receipts of the stream: $(receipts "$won"); in the Receipts=no ledger: $(receipts "$doff")"
"$sandbox" down --dir "$doff" >/dev/null 2>&1

# ---- (a) the burst, on the receipts sandbox alone (its ledger holds the
# stream's receipts already: counts start from there)
before=$(receipts "$won")
hold=$(hold_gpus "$won" $nodes $gpus_per_node) || exit 1
ids=$(submit "$won" | tr '\n' ' ')
[ "$(wc -w <<<"$ids")" -eq "$jobs" ] || { say "sbatch failed"; exit 1; }
# The time is taken once the count is known: an upper bound for each receipt.
( while :; do c=$(receipts "$won"); echo "$(now) $c"; sleep 0.2; done ) >"$tmp/poll" &
poller=$!
free_gpus "$won" "$hold" >/dev/null
deadline=$((SECONDS + 600))
until [ "$(left "$won")" -eq 0 ] && [ "$(receipts "$won")" -ge $((before + jobs)) ]; do
  [ $SECONDS -ge $deadline ] && { say "(a): $(($(receipts "$won") - before)) of $jobs receipts after 600 s"; exit 1; }
  sleep 0.5
done
sleep 0.5
kill "$poller" 2>/dev/null
wait "$poller" 2>/dev/null
poller=
first_end=$(times "$won" "$ids" EndTime | sort -n | head -n 1)
last_receipt=$(stat -c %.9Y "$won/ledger/ledger")
# Latency: receipt i (ledger order) is on disk at the first poll that counts
# more than i receipts; its job ended at its receipt's end.
"$cli" receipts list --config "$won/etc/gpumarket.conf" --ledger "$won/ledger" | tail -n +$((before + 1)) | cut -f8 >"$tmp/ends"
read -r lat_med lat_max < <(awk -v b="$before" 'BEGIN { i = 0 } NR == FNR { e[NR - 1] = $1; n = NR; next }
  { while (i < n && $2 - b > i) { printf "%.2f\n", $1 - e[i]; i++ } }' "$tmp/ends" "$tmp/poll" |
  sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "null null"; exit }
    med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    printf "%.2f %.2f\n", med, a[NR] }')
ours_a=$(awk -v n="$jobs" -v a="$first_end" -v b="$last_receipt" 'BEGIN { printf "%.2f", n / (b - a) }')

# The baseline: as many receipts of the same shape, piped in one go into
# `gpumarket ledger append` with a fresh key and ledger.
"$cli" keygen --name bench.gpumarket.invalid/receipts --out "$tmp/key" >/dev/null 2>&1 ||
  { say "gpumarket keygen failed"; exit 1; }
for ((i = 0; i < jobs; i++)); do
  echo "{\"version\":1,\"cluster\":\"bench\",\"job_id\":$((i + 1)),\"segment\":0,\"user\":\"root\",\"account\":\"root\",\"nodes\":\"gm$((i % 2 + 1))\",\"gpu_type\":\"h100\",\"gpu_count\":1,\"start\":$((1800000000 + i)),\"end\":$((1800000001 + i)),\"price_micro_per_gpu_hour\":1000000,\"end_reason\":\"completed\"}"
done >"$tmp/in"
t0=$(now)
"$cli" ledger append --ledger "$tmp/ledger" --key "$tmp/key.key" <"$tmp/in" >/dev/null ||
  { say "gpumarket ledger append failed"; exit 1; }
t1=$(now)
base_a=$(awk -v n="$jobs" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", n / (b - a) }')
say "(a) $jobs jobs: first ended at $first_end, last receipt on disk at $last_receipt: $ours_a receipts/s; job end to receipt median $lat_med s, max $lat_max s; gpumarket ledger append of $jobs receipts: $base_a receipts/s"

awk -v o="$ours_a" -v b="$base_a" -v n="$jobs" 'BEGIN {
  printf "{\"name\": \"receipts_from_slurmctld_per_second\", \"unit\": \"receipts/s\", \"ours\": %.2f, \"baseline\": %.2f, \"ratio\": %.4f, \"target\": null, \"higher_is_better\": true, \"jobs\": %d, \"note\": \"ours: %d 1-GPU market jobs released at once on 2 nodes x 4 GPUs, receipts / (last receipt on disk - first job end); baseline: gpumarket ledger append of %d receipts in one pipe. Bound by the rate slurmctld starts and ends jobs, not by the writer, so the ratio is far below 1; no target\"}\n", o, b, o / b, n, n, n }'
awk -v o="$lat_med" -v m="$lat_max" 'BEGIN {
  printf "{\"name\": \"receipt_latency_job_end_to_ledger_median\", \"unit\": \"s\", \"ours\": %s, \"baseline\": null, \"ratio\": null, \"target\": null, \"higher_is_better\": false, \"max\": %s, \"note\": \"from the receipt end (slurmctld end_time, whole seconds, so up to 1 s early or late) to the end of the first 0.2 s poll of the ledger that holds the receipt\"}\n", o, m }'
paired_row "$tmp/rounds" receipts_sched_jobs_started_per_second jobs/s 1 2 0.952 true \
  "\"jobs\": $jobs, \"note\": \"ours: receipts on, baseline: Receipts=no, the same stream on two sandboxes at once; target 1/1.05: the stream takes at most 5% longer with receipts\""
