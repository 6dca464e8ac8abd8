#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The market gives a job only the GPUs it offers, node by node: a job that
# takes a count per node (--gres=gpu:N) is admitted only where one node
# offers that many (ReserveGPUsPerNode is never taken), and cons_tres gets
# the GPUs that have dwelt, not those a local job has just freed.  Each
# task of a job array is a bid.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 14

sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 2 nodes x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
market_conf ReserveGPUsPerNode 1 IdleDwellSeconds 0
ok $? "ReserveGPUsPerNode=1: each node offers 3 of its 4 GPUs"

# GPUs allocated on a node (GresUsed=gpu:h100:3(IDX:0-2); 0 when none).
node_gpus_alloc() {
  scontrol -d show node "$1" | sed -n 's/.*GresUsed=gpu:[^:]*:\([0-9]*\).*/\1/p' | head -n 1 | grep . || echo x
}

big=$(sbatch --parsable -p market --gres=gpu:4 --market-bid=3.00 -o /dev/null --wrap 'sleep 300')
small=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_reason_is "$big" "gpumarket: never fits: no market node holds 4 h100 GPUs beyond ReserveGPUsPerNode"
ok $? "4 GPUs on one node never fit nodes of 4 that keep 1, although 6 are offered: $(job_reason "$big")"
wait_for 20 job_in_state "$small" RUNNING
ok $? "a lower bid for 1 GPU is not held up by it"
sleep 4 # more scheduling and backfill passes
a1=$(node_gpus_alloc gm1) a2=$(node_gpus_alloc gm2)
[ "$(job_state "$big")" = PENDING ] && [ "$a1" -le 3 ] && [ "$a2" -le 3 ]
ok $? "it stays pending and no node gives more than 3 (gm1 $a1, gm2 $a2 allocated)"
scancel "$big" "$small"
wait_for 30 running_count_is market 0

# A job array's tasks are bids each: 8 tasks at 3.00 outbid a job at 2.50
# for the 6 offered GPUs, and the 7th task left out sets the price.
arr=$(sbatch --parsable -H -p market --array=0-7 --gres=gpu:1 --market-bid=3.00 -o /dev/null --wrap 'sleep 300')
one=$(sbatch --parsable -H -p market --gres=gpu:1 --market-bid=2.50 -o /dev/null --wrap 'sleep 300')
scontrol release "$arr" "$one"
wait_for 30 running_count_is market 6
ok $? "six of the array's tasks run on the 6 offered GPUs"
sleep 3 # more scheduling and backfill passes
first=$(squeue -h -t RUNNING -p market -o %i | sort | head -n 1)
[ "$(job_state "$one")" = PENDING ] && job_reason "$one" | grep -q 'bid 2.50 < price 3.00' &&
  [ "$(lease_price "$first")" = 3000000 ]
ok $? "the lower bid waits below the price the array set ($(job_reason "$one")); task $first locked $(lease_price "$first")"
scancel "$arr" "$one"
wait_for 30 running_count_is market 0

# 5 GPUs that may be spread (--gpus): no node holds them, so the plan is 3
# on one node and 2 on the other, and cons_tres gets no reserved GPU.
five=$(sbatch --parsable -p market --gpus=5 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$five" RUNNING
a1=$(node_gpus_alloc gm1) a2=$(node_gpus_alloc gm2)
[ "$a1" -le 3 ] && [ "$a2" -le 3 ] && [ $((a1 + a2)) -eq 5 ]
ok $? "5 GPUs spread run as $a1 + $a2, each node keeping its reserved one"
scancel "$five"
wait_for 30 running_count_is market 0

two=$(sbatch --parsable -p market -N 2 --gres=gpu:3 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$two" RUNNING
ok $? "3 GPUs on each of 2 nodes run"
a1=$(node_gpus_alloc gm1) a2=$(node_gpus_alloc gm2)
[ "$a1" -eq 3 ] && [ "$a2" -eq 3 ]
ok $? "3 taken on each node, the reserved one left (gm1 $a1, gm2 $a2 allocated)"
scancel "$two"
wait_for 30 running_count_is market 0

# Dwell: gm1's GPUs 0-1 are held by a local job, 2-3 idle.  When the local
# job ends, a 2-GPU market job fits on gm1 only with 2-3: 0-1 are dwelling.
market_conf ReserveGPUsPerNode 0 IdleDwellSeconds 15
loc=$(sbatch --parsable -p local -w gm1 --gres=gpu:2 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_in_state "$loc" RUNNING
loc_idx=$(scontrol -d show job "$loc" | sed -n 's/.*GRES=[^ ]*(IDX:\([-0-9,]*\)).*/\1/p' | head -n 1)
[ -n "$loc_idx" ]
ok $? "a local job holds 2 of gm1's GPUs (IDX $loc_idx)"
sleep 16 # gm1's other two GPUs have dwelt
scancel "$loc"
wait_for 20 job_in_state "$loc" CANCELLED
freed=$(date +%s)
m=$(sbatch --parsable -p market --gres=gpu:2 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$m" RUNNING
started=$(date +%s)
gres=$(scontrol -d show job "$m" | grep -o 'Nodes=[^ ]* .*GRES=[^ ]*' | head -n 1)
diag "market job started $((started - freed)) s after the local job's GPUs came free: $gres"
[ $((started - freed)) -lt 15 ]
ok $? "the market job started while the freed GPUs were still dwelling"
# gm1 offers the 2 that dwelt, gm2 all 4: best fit puts the job on gm1.
m_idx=$(echo "$gres" | sed -n 's/.*(IDX:\([-0-9,]*\)).*/\1/p')
expand() { echo "$1" | tr ',' '\n' | awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }'; }
common=$(comm -12 <(expand "$loc_idx" | sort) <(expand "$m_idx" | sort) | wc -l)
[[ $gres == Nodes=gm1\ * ]] && [ -n "$m_idx" ] && [ "$common" -eq 0 ]
ok $? "on gm1, with GPUs that have dwelt (IDX $m_idx), not those just freed (IDX $loc_idx)"
scancel "$m"
wait_for 30 running_count_is market 0
# Nothing the plugin marked for cons_tres stays marked: all 8 GPUs free.
l1=$(sbatch --parsable -p local -w gm1 --gres=gpu:4 -o /dev/null --wrap 'sleep 300')
l2=$(sbatch --parsable -p local -w gm2 --gres=gpu:4 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$l1" RUNNING && wait_for 30 job_in_state "$l2" RUNNING
ok $? "afterwards local jobs take all 4 GPUs of each node (gm1 $(node_gpus_alloc gm1), gm2 $(node_gpus_alloc gm2) allocated)"
scancel "$l1" "$l2"
finish
