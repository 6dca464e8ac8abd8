#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Offers: ReserveGPUsPerNode=1 on 2 nodes x 4 GPUs leaves 6 GPUs for eight
# 1-GPU market jobs, at most 3 a node; IdleDwellSeconds keeps GPUs a local
# job just freed off the market until they have been idle that long.  Both
# keys are changed with `scontrol reconfigure`, as an admin would.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 9

sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 2 nodes x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
market_conf ReserveGPUsPerNode 1 IdleDwellSeconds 0
ok $? "ReserveGPUsPerNode=1 set with scontrol reconfigure"

ids=()
for i in 1 2 3 4 5 6 7 8; do
  ids+=("$(sbatch --parsable -H -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')")
done
scontrol release "${ids[@]}"
wait_for 30 running_count_is market 6
ok $? "six of eight 1-GPU market jobs run"
sleep 4 # more scheduling and backfill passes
n=$(running_count market)
per_node=$(squeue -h -t RUNNING -p market -o %N | sort | uniq -c | awk '{print $1}' | sort -n | tail -n 1)
[ "$n" -eq 6 ] && [ "$per_node" -le 3 ]
ok $? "still six, at most 3 a node: each node keeps one GPU back ($n running, busiest node $per_node)"
pending=$(squeue -h -t PENDING -p market -o %i | head -n 1)
job_reason "$pending" | grep -q 'waiting for 1 offered GPUs'
ok $? "a waiting one says why: $(job_reason "$pending")"
scancel "${ids[@]}"
wait_for 30 running_count_is market 0

market_conf ReserveGPUsPerNode 0 IdleDwellSeconds 15
ok $? "IdleDwellSeconds=15 set"
l1=$(sbatch --parsable -p local -w gm1 --gres=gpu:4 -o /dev/null --wrap 'sleep 4')
l2=$(sbatch --parsable -p local -w gm2 --gres=gpu:4 -o /dev/null --wrap 'sleep 4')
wait_for 20 job_in_state "$l1" RUNNING && wait_for 20 job_in_state "$l2" RUNNING
ok $? "two local jobs hold every GPU"
m=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 90 job_in_state "$m" RUNNING
ok $? "the market job starts once GPUs have been idle long enough"
e1=$(date -d "$(job_field "$l1" EndTime)" +%s) e2=$(date -d "$(job_field "$l2" EndTime)" +%s)
first_free=$((e1 < e2 ? e1 : e2))
start=$(date -d "$(job_field "$m" StartTime)" +%s)
diag "GPUs freed at $first_free, market job started at $start ($((start - first_free))s later)"
[ $((start - first_free)) -ge 15 ]
ok $? "not before the dwell time: started $((start - first_free))s after the first GPUs came free"
scancel "$m"
finish
