#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Owner first, cheapest lease first: three market jobs hold a node's GPUs
# at locked prices 2.00, 1.00 and 1.50 (the reserve price is changed between
# their starts); a local job that needs one GPU requeues the 1.00 lease and
# leaves the others running.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 9

sandbox_up --nodes 1 --gpus-per-node 3 --select gpumarket
ok $? "sandbox with 1 node x 3 GPUs and the gpumarket select plugin is up" || { finish; exit; }
grep -q '^SchedulerParameters=.*preempt_strict_order' "$SANDBOX_DIR/etc/slurm.conf"
ok $? "the sandbox keeps the plugin's order (preempt_strict_order)"

lease_at() { # lease_at RESERVE: a market job that locks RESERVE
  local id
  market_conf ReservePrice "h100:$1" >/dev/null || return 1
  id=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=5.00 --requeue -o /dev/null --wrap 'sleep 600')
  wait_for 30 job_in_state "$id" RUNNING || return 1
  echo "$id"
}
a=$(lease_at 2.00) && b=$(lease_at 1.00) && c=$(lease_at 1.50)
pa=$(lease_price "$a") pb=$(lease_price "$b") pc=$(lease_price "$c")
[ "$pa" = 2000000 ] && [ "$pb" = 1000000 ] && [ "$pc" = 1500000 ]
ok $? "three market jobs run at locked prices 2.00, 1.00, 1.50 ($a:$pa $b:$pb $c:$pc)"

t0=$SECONDS
local_job=$(sbatch --parsable -p local --gres=gpu:1 -o /dev/null --wrap 'sleep 5')
wait_for 90 job_in_state "$local_job" RUNNING
ok $? "the local job needing one GPU starts"
waited=$((SECONDS - t0))
grace=$(sed -n 's/^PartitionName=market .*GraceTime=\([0-9]*\).*/\1/p' "$SANDBOX_DIR/etc/slurm.conf")
diag "the local job waited ${waited}s (GraceTime ${grace}s; Slurm requeues after grace on its 30 s timer)"
[ "$waited" -le $((grace + 30 + 5)) ]
ok $? "within GraceTime plus slurmctld's periodic preemption check (${waited}s)"
restarts() { job_field "$1" Restarts; }
[ "$(restarts "$b")" -ge 1 ] && [ "$(job_state "$b")" != RUNNING ]
ok $? "the cheapest lease (1.00, job $b) was requeued ($(job_state "$b"), restarts $(restarts "$b"))" ||
  diag "$(job_story "$b")"
[ "$(job_state "$a")" = RUNNING ] && [ "$(restarts "$a")" = 0 ]
ok $? "the 2.00 lease (job $a) keeps running"
[ "$(job_state "$c")" = RUNNING ] && [ "$(restarts "$c")" = 0 ]
ok $? "the 1.50 lease (job $c) keeps running"
ctld_alive
ok $? "slurmctld is up"
scancel "$a" "$b" "$c" "$local_job"
finish
