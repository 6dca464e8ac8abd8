#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Slurm preemption as the sandbox configures it: a local job takes the GPUs of
# a running market job, which is requeued and runs again afterwards.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
plan 6

sandbox_up --nodes 1 --gpus-per-node 4
ok $? "sandbox with 1 node x 4 GPUs is up" || { finish; exit; }

market=$(sbatch --parsable -p market --gres=gpu:4 --requeue -o /dev/null --wrap 'sleep 300')
wait_for 20 job_in_state "$market" RUNNING
ok $? "market job $market runs on all four GPUs"

local_job=$(sbatch --parsable -p local --gres=gpu:4 -o /dev/null --wrap 'sleep 3')
wait_for 30 job_in_state "$local_job" RUNNING
ok $? "local job $local_job preempts it and runs"

restarts=$(scontrol show job "$market" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
state=$(job_state "$market")
[ "${restarts:-0}" -ge 1 ] && [ "$state" != RUNNING ]
ok $? "the market job was requeued, not killed (state $state, restarts $restarts)"

wait_for 30 job_in_state "$local_job" COMPLETED
ok $? "the local job completes"

wait_for 60 job_in_state "$market" RUNNING
ok $? "the market job runs again once the GPUs are free"

scancel "$market" 2>/dev/null
finish
