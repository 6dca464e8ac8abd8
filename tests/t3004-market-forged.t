#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Forged input: market jobs submitted through Slurm's C API with SPANK job
# environments the SPANK plugin would never send.  slurmctld re-checks them
# with the same rules: none starts at a price it did not validly bid, each
# says why, and slurmctld keeps running.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
forge=$top_builddir/tests/forge_submit
[ -x "$forge" ] || bail_out "$forge is not built (run the tests with make check)"
plan 14

sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 1 node x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }

# forged CASE-NAME EXPECTED-REASON-SUBSTRING SPANK-ENV...
forged() {
  local name=$1 want=$2 id; shift 2
  id=$("$forge" market gres:gpu:1 "$@" 2>&1)
  if ! [[ $id =~ ^[0-9]+$ ]]; then
    ok 1 "$name: submit refused outright ($id)"; return
  fi
  FORGED+=("$id")
  wait_for 20 eval "job_reason $id | grep -qF -- '$want'"
  ok $? "$name: job $id waits: $(job_reason "$id")"
}
FORGED=()
forged "not a number" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=abc"
forged "negative" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=-5000000"
forged "zero" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=0"
forged "absurd" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=99999999999999999999999"
forged "above MaxBid" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=500000000"
forged "two different bids" "GPUMARKET_BID_MICRO" "GPUMARKET_BID_MICRO=9000000" "GPUMARKET_BID_MICRO=1"
forged "below the reserve" "bid 0.50 < price 1.00 (h100)" "GPUMARKET_BID_MICRO=500000"
forged "bad max cost" "GPUMARKET_MAX_COST_MICRO" "GPUMARKET_BID_MICRO=2000000" "GPUMARKET_MAX_COST_MICRO=1e9"

sleep 4 # several scheduling and backfill passes
running=$(squeue -h -t RUNNING -o %i | wc -l)
[ "$running" -eq 0 ]
ok $? "none of the forged jobs started ($running running)"
ctld_alive
ok $? "slurmctld is up after pricing them"
grep -q "JobId=${FORGED[0]} waits: gpumarket: GPUMARKET_BID_MICRO: \"abc\"" "$SANDBOX_DIR/log/slurmctld.log"
ok $? "slurmctld logged why the forged bid is refused"

# A valid bid sent the same way is honoured: the API is not the problem.
good=$("$forge" market gres:gpu:1 "GPUMARKET_BID_MICRO=2000000")
wait_for 30 job_in_state "$good" RUNNING
ok $? "a valid bid through the C API runs (job $good, locked $(lease_price "$good"))"
[ "$(lease_price "$good")" = 1000000 ]
ok $? "at the clearing price, not its bid"
scancel "${FORGED[@]}" "$good"
finish
