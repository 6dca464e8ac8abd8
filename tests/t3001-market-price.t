#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The clearing price inside slurmctld: a bid below the reserve waits with the
# reason in squeue; with more demand than supply the highest bids run at the
# highest bid left out; when supply grows the rest start; no locked price is
# ever above its bid.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 14

sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 2 nodes x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }

low=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=0.50 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_reason_is "$low" "gpumarket: bid 0.50 < price 1.00 (h100)"
ok $? "a bid below the reserve price waits; squeue says why: $(job_reason "$low")"
reason=$(job_field "$low" Reason)
[ "$reason" = "gpumarket:_bid_0.50_<_price_1.00_(h100)" ]
ok $? "scontrol show job shows the same reason ($reason)"
scancel "$low"

# The local job holds gm1's four GPUs: four are offered, on gm2.
hog=$(sbatch --parsable -p local -w gm1 --gres=gpu:4 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_in_state "$hog" RUNNING
ok $? "a local job holds the four GPUs of gm1"

ids=()
for bid in 5.00 4.00 3.00 2.00; do
  ids+=("$(sbatch --parsable -H -p market --gres=gpu:2 --market-bid=$bid -o /dev/null --wrap 'sleep 300')")
done
scontrol release "${ids[@]}"
wait_for 30 job_in_state "${ids[0]}" RUNNING && wait_for 30 job_in_state "${ids[1]}" RUNNING
ok $? "the two highest bids (5.00, 4.00) run on the four offered GPUs"
sleep 3 # a few more scheduling passes: nothing else may start
[ "$(job_state "${ids[2]}")" = PENDING ] && [ "$(job_state "${ids[3]}")" = PENDING ]
ok $? "the bids of 3.00 and 2.00 wait ($(job_state "${ids[2]}"), $(job_state "${ids[3]}"))"
p0=$(lease_price "${ids[0]}") p1=$(lease_price "${ids[1]}")
[ "$p0" = 3000000 ] && [ "$p1" = 3000000 ]
ok $? "both lock the clearing price 3.00, the highest bid left out ($p0, $p1)"
wait_for 10 job_reason_is "${ids[3]}" "gpumarket: bid 2.00 < price 3.00 (h100)"
ok $? "the 2.00 bid is below the price: $(job_reason "${ids[3]}")"
job_reason "${ids[2]}" | grep -q '^(gpumarket: bid 3.00 >= price 3.00 (h100), waiting for 2 offered GPUs on one node)$'
ok $? "the 3.00 bid waits for supply: $(job_reason "${ids[2]}")"
grep -q 'gpumarket: market h100: price 3.00 supply 4 demand 8' "$SANDBOX_DIR/log/slurmctld.log"
ok $? "slurmctld logged the price change (price, supply, demand)"

scancel "$hog"
wait_for 40 job_in_state "${ids[2]}" RUNNING && wait_for 40 job_in_state "${ids[3]}" RUNNING
ok $? "when gm1's GPUs come free, the waiting bids start"
p2=$(lease_price "${ids[2]}") p3=$(lease_price "${ids[3]}")
[ -n "$p2" ] && [ -n "$p3" ] && [ "$p2" -le 3000000 ] && [ "$p3" -le 2000000 ] && [ "$p3" -ge 1000000 ]
ok $? "their locked prices are at most their bids and at least the reserve ($p2, $p3)"
[ "$(lease_field "${ids[3]}" gpus)" = 2 ] && [ "$(lease_field "${ids[3]}" type)" = h100 ]
ok $? "the lease records 2 h100 GPUs"
ctld_alive
ok $? "slurmctld is up"
scancel "${ids[@]}"
finish
