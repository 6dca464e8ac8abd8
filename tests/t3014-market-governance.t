#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Governance in slurmctld, as three admins meet it: with PolicyAdmins and
# PolicyThreshold set, market jobs wait until a policy is in force; a 2-of-3
# change applied with gpumarket policy comes in force in slurmctld at the
# second the ledger names, new leases lock its reserve price and their
# receipts name it; a lone admin's hand edit of gpumarket.conf followed by
# scontrol reconfigure changes nothing and is logged; an auditor with the
# ledger and the admins' public keys verifies it all.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 11

sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 1 node x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }

A=$SANDBOX_DIR/admins
mkdir -p "$A" && chmod 700 "$A"
for a in alice bob carol; do
  gpumarket keygen --name "admins.example/$a" --out "$A/$a" >/dev/null || bail_out "keygen $a"
done
conf=$SANDBOX_DIR/etc/gpumarket.conf
export GPUMARKET_CONF=$conf
market_conf PolicyAdmins "$A/alice.vkey,$A/bob.vkey,$A/carol.vkey" PolicyThreshold 2
ok $? "PolicyAdmins (alice, bob, carol) and PolicyThreshold=2 set with scontrol reconfigure"
ctld_log=$SANDBOX_DIR/log/slurmctld.log

j0=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=5.00 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_reason_is "$j0" "gpumarket: no market policy in force yet (PolicyThreshold is set): the admins put one in force with gpumarket policy apply"
ok $? "with no policy in force a market job waits and says why: $(job_reason "$j0")"

# propose_apply FILE BY1 BY2 KEY=VALUE...: a change signed by two admins, applied.
propose_apply() {
  local f=$1 s1=$2 s2=$3
  shift 3
  local sets=()
  for kv in "$@"; do sets+=(--set "$kv"); done
  gpumarket policy propose "${sets[@]}" --reason "t3014 $f" --expires 1h --out "$A/$f.json" >/dev/null &&
    gpumarket policy sign "$A/$f.json" --key "$A/$s1.key" --out "$A/$f.$s1.sig" >/dev/null &&
    gpumarket policy sign "$A/$f.json" --key "$A/$s2.key" --out "$A/$f.$s2.sig" >/dev/null &&
    gpumarket policy apply "$A/$f.json" "$A/$f.$s1.sig" "$A/$f.$s2.sig" >"$A/$f.applied"
}
applied_hash() { sed -n 's/.*"policy":"\([0-9a-f]*\)".*/\1/p' "$A/$1.applied"; }
in_force_from() { sed -n 's/.*"in_force_from":\([0-9]*\).*/\1/p' "$A/$1.applied"; }

propose_apply p1 alice bob ReservePrice=h100:2.00
ok $? "alice and bob put a first policy in force: h100 at 2.00"
p1=$(applied_hash p1)
wait_for 30 job_in_state "$j0" RUNNING
ok $? "the waiting job starts once it is in force (from $(in_force_from p1))"
start0=$(epoch "$j0" StartTime)
[ "$(lease_price "$j0")" = 2000000 ] && [ "$start0" -ge "$(in_force_from p1)" ]
ok $? "it locked the policy's reserve 2.00 ($(lease_price "$j0")), starting at $start0"

propose_apply p2 bob carol ReservePrice=h100:3.00
p2=$(applied_hash p2)
after_p2() { [ "$(date +%s)" -ge "$(in_force_from p2)" ]; }
wait_for 20 after_p2
j1=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=4.00 -o /dev/null --wrap 'sleep 300')
wait_for 30 job_in_state "$j1" RUNNING
[ "$(lease_price "$j1")" = 3000000 ] && [ "$(epoch "$j1" StartTime)" -ge "$(in_force_from p2)" ]
ok $? "after a 2-of-3 raise to 3.00 a new lease locks 3.00 ($(lease_price "$j1"))"

# A lone admin edits the file by hand and reconfigures.
market_conf ReservePrice h100:0.50
wait_for 20 grep -q "ReservePrice differ from the market policy in force (${p2:0:16}" "$ctld_log"
ok $? "a hand edit of ReservePrice followed by reconfigure is logged as taking no effect"
j2=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null --wrap 'sleep 300')
wait_for 20 job_reason_is "$j2" "gpumarket: bid 2.00 < price 3.00 (h100)"
ok $? "a bid of 2.00 still waits below the policy's 3.00: $(job_reason "$j2")"

scancel "$j0" "$j1" "$j2"
wait_for 60 receipts_at_least 2
policy_of() { # policy_of JOB: the policy its first receipt names
  gpumarket receipts export | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)["receipt"]
    if str(r["job_id"]) == sys.argv[1]:
        print(r.get("policy", "-")); break
' "$1"
}
[ "$(policy_of "$j0")" = "$p1" ] && [ "$(policy_of "$j1")" = "$p2" ]
ok $? "each receipt names the policy its lease was priced under (${p1:0:8}, ${p2:0:8})"

# The auditor: only the ledger and the admins' public keys.
gpumarket ledger verify --ledger "$SANDBOX_DIR/ledger" --pubkey "$SANDBOX_DIR/etc/gpumarket.vkey" \
  --admin-key "$A/alice.vkey" --admin-key "$A/bob.vkey" --admin-key "$A/carol.vkey" \
  --threshold 2 >"$A/verify" 2>&1
grep -q '"ok":true' "$A/verify"
ok $? "ledger verify with the admins' keys: $(head -c 200 "$A/verify")"
finish
