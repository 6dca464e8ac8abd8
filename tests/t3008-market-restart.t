#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Across a slurmctld restart: a running lease keeps its terms (read back from
# the job's SystemComment), so its max-cost cap still holds against
# `scontrol update`, and GPU idle times come back from the plugin's state
# file instead of starting over.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 8

sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 1 node x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
market_conf IdleDwellSeconds 20 >/dev/null
job=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 --market-max-cost=0.05 -o /dev/null --wrap 'sleep 300')
tl_is() { [ "$(job_field "$1" TimeLimit)" = "$2" ]; }
# Its GPUs have been idle since the controller started: wait out the dwell.
wait_for 60 job_in_state "$job" RUNNING && wait_for 10 tl_is "$job" 00:03:00
ok $? "a market job runs with its time limit cut to 3 minutes by its max cost"

pid=$(cat "$SANDBOX_DIR/run/slurmctld.pid")
scontrol shutdown slurmctld >/dev/null 2>&1
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$pid" 2>/dev/null
ok $? "slurmctld stopped (pid $pid)"
state=$SANDBOX_DIR/state/gpumarket_select_state
grep -q '^idle gm1 [0-3] [0-9]' "$state"
ok $? "the plugin saved its GPU idle times ($(grep -c '^idle' "$state" 2>/dev/null) GPUs)"
before=$(grep '^idle gm1 3 ' "$state")

GPUMARKET_SANDBOX_DAEMON=$SANDBOX_DIR "$(PATH=$PATH:/usr/sbin:/sbin command -v slurmctld)" \
  >"$SANDBOX_DIR/log/slurmctld-restart.out" 2>&1
wait_for 30 ctld_alive
ok $? "slurmctld restarted on its saved state"
wait_for 20 job_in_state "$job" RUNNING
scontrol update jobid="$job" TimeLimit=30 2>/dev/null
sleep 3
tl_is "$job" 00:03:00
ok $? "after the restart the lease still caps the time limit ($(job_field "$job" TimeLimit))"
grep -q "gpumarket: .* GPU idle times restored from $state" "$SANDBOX_DIR/log/slurmctld.log"
ok $? "the idle times were read back"
# A GPU idle since before the restart keeps its time: offered at once to a
# new market job although the dwell is 20 s and the controller just started.
t0=$SECONDS
m=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 60 job_in_state "$m" RUNNING
diag "idle time before the restart: $before; second job started after $((SECONDS - t0))s"
[ $((SECONDS - t0)) -lt 15 ] && job_in_state "$m" RUNNING
ok $? "a GPU idle since before the restart is offered without a new dwell"
scancel "$job" "$m"
finish
