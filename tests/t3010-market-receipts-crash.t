#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Exactly one receipt per ended segment across kill -9: a stream of 200
# short market jobs, with local jobs preempting some of them and two
# `scontrol reconfigure`s, while slurmctld is killed with SIGKILL at random
# moments and restarted each time, and an auditor verifies the live ledger
# meanwhile.  Afterwards no (job, start) has two
# receipts, every completed job has the one receipt of its last run with
# slurmctld's start time, every job has at least one receipt per run
# slurmctld counted, and the ledger verifies.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 10

N=${GPUMARKET_CRASH_JOBS:-200}
sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 2 nodes x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
D=$SANDBOX_DIR
# Keep finished jobs' records for the checks at the end.
sed -i 's/^MinJobAge=.*/MinJobAge=3600/' "$D/etc/slurm.conf" && scontrol reconfigure
SLURMCTLD=$(PATH=$PATH:/usr/sbin:/sbin command -v slurmctld)

ids=()
for ((i = 0; i < N; i++)); do
  ids+=("$(sbatch --parsable -H -p market --gres=gpu:1 --market-bid=2.00 --requeue -o /dev/null \
    --wrap "sleep $((1 + i % 3))")")
done
[ "${#ids[@]}" -eq "$N" ] && [ -n "${ids[$((N - 1))]}" ]
ok $? "$N held market jobs submitted (${ids[0]}..${ids[$((N - 1))]})"
sleep 6 # slurmctld saves new jobs within 5 s: the stream starts from saved state
scontrol release "${ids[@]}"

ctld_pid() { tr -dc 0-9 <"$D/run/slurmctld.pid" 2>/dev/null; }
crashes=0 reconfigs=0 locals=0 verified=0 unverified=0 t0=$SECONDS
RANDOM=$$
active() { squeue -h -p market -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null | grep -c .; }
# What an admin does after a kill -9 rolled slurmctld's state back: a job
# relaunched while its old run was still on the node makes slurmd report a
# duplicate job id (the node drains) or the launch fail (the job is held).
tend() {
  local drained held
  drained=$(sinfo -h -N -t drain,draining -o %N 2>/dev/null | sort -u | paste -sd,)
  [ -n "$drained" ] && scontrol update nodename="$drained" state=resume 2>/dev/null
  held=$(squeue -h -p market -t PD -o '%i %r' 2>/dev/null | awk '/launch.failed/ { print $1 }')
  [ -n "$held" ] && scontrol release $held 2>/dev/null
  return 0
}
while [ $((SECONDS - t0)) -lt 600 ]; do
  sleep $((4 + RANDOM % 8)).$((RANDOM % 10))
  tend
  # An auditor verifies the live ledger while slurmctld appends to it.
  if [ ! -e "$D/ledger/ledger" ]; then
    : # no receipt yet
  elif gpumarket ledger verify --ledger "$D/ledger" --pubkey "$D/etc/gpumarket.pub" 2>&1 | grep -q '"ok":true'; then
    verified=$((verified + 1))
  else
    unverified=$((unverified + 1))
  fi
  left=$(active) || left=1
  [ "$left" -eq 0 ] && break
  case $((RANDOM % 5)) in
  0 | 1)
    pid=$(ctld_pid)
    kill -9 "$pid" 2>/dev/null && crashes=$((crashes + 1))
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    GPUMARKET_SANDBOX_DAEMON=$D "$SLURMCTLD" >>"$D/log/slurmctld-restarts.out" 2>&1
    wait_for 30 ctld_alive || { diag "slurmctld did not come back"; break; }
    ;;
  3)
    scontrol reconfigure && reconfigs=$((reconfigs + 1))
    ;;
  4) # a local job takes a whole node: market jobs there are preempted
    sbatch -p local -w gm$((1 + RANDOM % 2)) --gres=gpu:4 -o /dev/null --wrap 'sleep 2' \
      >/dev/null 2>&1 && locals=$((locals + 1))
    ;;
  esac
done
# A kill -9 can roll slurmctld's state back to before a run ended on its
# node: the job shows RUNNING long after its `sleep 3` (seen in CI: three
# jobs RUNNING for 5 minutes at the end of the wait).  slurmctld asks a node
# to register again only about every 20 pings; what an admin does is
# `scontrol reconfigure`, after which each slurmd registers and slurmctld
# ends the runs the node no longer has (requeued: more segments, each
# receipted, as after any crash).  At most once every 30 s.
ghost_fix=0
ghosts() { squeue -h -p market -t RUNNING -o '%M' 2>/dev/null | awk -F: 'NF > 2 || $1 + 0 >= 1 { n++ } END { print n + 0 }'; }
drained() {
  sleep 1
  tend
  if [ "$(ghosts)" -gt 0 ] && [ $((SECONDS - ghost_fix)) -ge 30 ]; then
    scontrol reconfigure && reconfigs=$((reconfigs + 1))
    ghost_fix=$SECONDS
  fi
  [ "$(active)" -eq 0 ]
}
wait_for 300 drained
ok $? "the stream drained in $((SECONDS - t0)) s: $crashes kill -9s, $reconfigs reconfigures, $locals local jobs" ||
  squeue -h -p market -t PENDING,RUNNING,COMPLETING -o '%i %T %M %R' 2>&1 | head -n 20 | sed 's/^/# not drained: /'
[ "$crashes" -ge 3 ]
ok $? "slurmctld was killed at least 3 times ($crashes)"
[ "$unverified" -eq 0 ] && [ "$verified" -gt 0 ]
ok $? "the live ledger verified $verified times during the stream ($unverified failures)"

# Receipts settle within seconds of the last end.
stable() {
  local a b
  a=$(receipts_tsv | wc -l); sleep 3; b=$(receipts_tsv | wc -l)
  [ "$a" -eq "$b" ] && ! grep -q 'wait in' <(tail -n 5 "$D/log/slurmctld.log")
}
wait_for 60 stable
receipts_tsv >"$D/receipts.tsv"
segs=$(wc -l <"$D/receipts.tsv")
dups=$(cut -f1,4 "$D/receipts.tsv" | sort | uniq -d | head)
[ -z "$dups" ] && [ "$segs" -ge "$N" ]
ok $? "$segs receipts for $N jobs; no (job, start) has two ${dups:+(doubled: $dups)}"

bad=() completed=0 runs=0
for j in "${ids[@]}"; do
  info=$(scontrol show job "$j" 2>/dev/null)
  state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$info")
  restarts=$(sed -n 's/.*Restarts=\([0-9]*\).*/\1/p' <<<"$info")
  mine=$(awk -F'\t' -v j="$j" '$1 == j' "$D/receipts.tsv")
  n=$(grep -c . <<<"$mine")
  if [ "$state" = COMPLETED ]; then
    completed=$((completed + 1))
    start=$(date -d "$(sed -n 's/.* StartTime=\([^ ]*\).*/\1/p' <<<"$info")" +%s)
    last=$(awk -F'\t' -v s="$start" '$4 == s' <<<"$mine")
    [ "$(grep -c . <<<"$last")" -eq 1 ] && [ "$(cut -f9 <<<"$last")" = completed ] ||
      bad+=("$j: completed run at $start has receipt [$last]")
  fi
  [ -n "$restarts" ] && [ "$n" -lt $((restarts + 1)) ] && bad+=("$j: $n receipts for $((restarts + 1)) runs")
  runs=$((runs + ${restarts:-0} + 1))
done
[ ${#bad[@]} -eq 0 ] && [ "$completed" -gt 0 ]
ok $? "each of $completed completed jobs has one receipt for its last run, with slurmctld's start; every run counted has a receipt" ||
  diag "$(printf '%s\n' "${bad[@]}" | head -20)"
recovered=$(awk -F'\t' '$10 != "-"' "$D/receipts.tsv" | wc -l)
diag "$crashes crashes, $segs segments ($recovered closed after a restart), $completed jobs completed, $runs runs counted by slurmctld"
awk -F'\t' '$10 != "-" {print}' "$D/receipts.tsv" | head -5 | while read -r l; do diag "recovered: $l"; done
out=$(gpumarket ledger verify --ledger "$D/ledger" --pubkey "$D/etc/gpumarket.pub" 2>&1)
grep -q '"ok":true' <<<"$out"
ok $? "the ledger verifies with the cluster's public key" || diag "$out"
grep -q 'gpumarket: segment journal .*gpumarket_segments: ' "$D/log/slurmctld.log" &&
  ! grep -q 'damaged record' "$D/log/slurmctld.log"
ok $? "every restart replayed the journal; no damaged record"
ctld_alive
ok $? "slurmctld is up"
finish
