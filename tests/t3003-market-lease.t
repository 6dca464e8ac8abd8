#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Lease terms fixed at start: the locked price and GPUs in SystemComment and
# in the job's environment; a time limit cut so the lease cannot cost more
# than --market-max-cost, held against backfill and `scontrol update`; a max
# cost that buys less than a minute never starts.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 13

sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 1 node x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
out=$SANDBOX_DIR/lease.out

# 0.025 at the reserve price 1.00 per GPU-hour buys 90 s of one GPU: Slurm
# keeps minutes, so the limit is 1 minute.
job=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 --market-max-cost=0.025 -o "$out" \
  --wrap 'echo "PRICE=$GPUMARKET_PRICE_MICRO END=$GPUMARKET_LEASE_END GPUS=$GPUMARKET_LEASE_GPUS TYPE=$GPUMARKET_LEASE_TYPE"; sleep 300')
wait_for 30 job_in_state "$job" RUNNING
ok $? "market job $job with a max cost runs"
tl_is() { [ "$(job_field "$1" TimeLimit)" = "$2" ]; }
wait_for 10 tl_is "$job" 00:01:00
ok $? "its time limit is cut to 1 minute (TimeLimit=$(job_field "$job" TimeLimit))"
[ "$(lease_price "$job")" = 1000000 ] && [ "$(lease_field "$job" limit_min)" = 1 ] &&
  [ "$(lease_field "$job" max_cost_micro)" = 25000 ] && [ "$(lease_field "$job" gpus)" = 1 ]
ok $? "SystemComment holds the lease: $(job_field "$job" SystemComment | head -c 200)"
start=$(date -d "$(job_field "$job" StartTime)" +%s)
wait_for 10 grep -q PRICE "$out"
line=$(cat "$out")
[ "$line" = "PRICE=1000000 END=$((start + 60)) GPUS=1 TYPE=h100" ]
ok $? "the job's tasks see the locked price and the lease end ($line, start $start)"

scontrol update jobid="$job" TimeLimit=10 2>/dev/null
wait_for 10 tl_is "$job" 00:01:00
ok $? "scontrol update TimeLimit=10 does not extend the lease (TimeLimit=$(job_field "$job" TimeLimit))"
grep -q "JobId=$job: time limit held at 1 min by its max cost" "$SANDBOX_DIR/log/slurmctld.log"
ok $? "slurmctld logged holding the cap"

# Without a max cost, the lease keeps the job's own limit.
free=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -t 7 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$free" RUNNING
sleep 3
tl_is "$free" 00:07:00 && [ "$(lease_field "$free" limit_min)" = -1 ]
ok $? "a lease without max cost keeps the job's time limit ($(job_field "$free" TimeLimit))"
scancel "$free"

# 0.01 buys 36 s: less than Slurm's one-minute granularity.
tiny=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 --market-max-cost=0.01 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_reason_is "$tiny" "gpumarket: max cost 0.01 does not buy one minute of 1 GPUs at price 1.00"
ok $? "a max cost below one minute never starts: $(job_reason "$tiny")"
scancel "$tiny"

ended() { case "$(job_state "$1")" in TIMEOUT|COMPLETED|FAILED|CANCELLED) return 0 ;; esac; return 1; }
wait_for 150 ended "$job"
ok $? "the capped job ends by itself ($(job_state "$job"))"
[ "$(job_state "$job")" = TIMEOUT ]
ok $? "it ended on its time limit"
end=$(date -d "$(job_field "$job" EndTime)" +%s)
ran=$((end - start))
diag "the lease ran ${ran}s of the 60 s it was given (90 s paid for)"
[ "$ran" -le 90 ]
ok $? "it held its GPU no longer than the max cost buys: ${ran}s <= 90s"
ctld_alive
ok $? "slurmctld is up"
finish
