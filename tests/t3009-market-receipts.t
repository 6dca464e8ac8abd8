#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Receipts from slurmctld: every lease segment of a market job ends in
# exactly one receipt, signed by the cluster key, whose start, end and GPUs
# are slurmctld's own and whose amount follows the lease: completed,
# failed, cancelled, timeout, preempted-and-requeued (two segments) and node
# failure (a slurmd killed).  The receipts verify with the openssl command
# alone and with Python's cryptography; a checkpoint of the live ledger
# verifies with the ledger's verifier key; a second job_fini (reconfigure)
# doubles nothing.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 28

sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket --slurmd-timeout 10
ok $? "sandbox with 2 nodes x 4 GPUs, the gpumarket select plugin, SlurmdTimeout=10" ||
  { finish; exit; }
D=$SANDBOX_DIR
market_conf GPUPower h100:700 CarbonIntensity 400 >/dev/null
[ -f "$D/etc/gpumarket.key" ] && [ "$(stat -c %a "$D/etc/gpumarket.key")" = 600 ]
ok $? "the sandbox made the cluster's receipt key (mode 600)"
wait_for 20 grep -q 'gpumarket: segment journal .*/gpumarket_segments: 0 running' "$D/log/slurmctld.log"
ok $? "slurmctld opened its segment journal in StateSaveLocation"

sub() { sbatch --parsable -p market --market-bid=2.00 -o /dev/null "$@"; }
# Each end reason, on its own GPUs: gm1 holds the first four, gm2 the rest.
to=$(sub -w gm1 --gres=gpu:1 -t 1 --wrap 'sleep 300')
done_=$(sub -w gm1 --gres=gpu:2 --market-order=order-42 --wrap 'sleep 3')
wait_for 30 job_in_state "$done_" COMPLETED
failed=$(sub -w gm1 --gres=gpu:1 --wrap 'sleep 2; exit 3')
canc=$(sub -w gm1 --gres=gpu:2 --wrap 'sleep 300')
wait_for 30 job_in_state "$canc" RUNNING && sleep 2 && scancel "$canc"
wait_for 30 job_in_state "$failed" FAILED && wait_for 30 job_in_state "$canc" CANCELLED
ok $? "jobs completed ($done_), failed ($failed) and were cancelled ($canc)"

# Preempted and requeued: a local job takes gm2's four GPUs, then ends.
pre=$(sub -w gm2 --gres=gpu:4 --requeue --wrap 'sleep 300')
wait_for 30 job_in_state "$pre" RUNNING && sleep 2
loc=$(sbatch --parsable -p local -w gm2 --gres=gpu:4 -o /dev/null --wrap 'sleep 3')
wait_for 60 bash -c "scontrol show job $pre | grep -q 'Restarts=1'"
ok $? "the market job $pre was preempted and requeued by local job $loc"
wait_for 90 job_in_state "$pre" RUNNING
ok $? "it runs again once the local job is done (its second segment)"
sleep 2
scancel "$pre"
wait_for 30 job_in_state "$pre" CANCELLED

# Node failure: gm2's slurmd is killed; after SlurmdTimeout the node is down.
nf=$(sub -w gm2 --gres=gpu:1 --requeue --wrap 'sleep 300')
wait_for 90 job_in_state "$nf" RUNNING && sleep 2 &&
  kill -9 "$(tr -dc 0-9 <"$D/run/slurmd-gm2.pid")" &&
  wait_for 90 bash -c "scontrol show job $nf | grep -q 'Restarts=1'"
ok $? "slurmd of gm2 killed: job $nf ended by the node failure and was requeued"
wait_for 120 job_in_state "$to" TIMEOUT
ok $? "job $to reached its time limit"

for j in "$done_" "$failed" "$canc" "$to" "$nf"; do wait_for 20 receipt_count_is "$j" 1; done
wait_for 20 receipt_count_is "$pre" 2
receipts_tsv >"$D/receipts.tsv"
diag "$(cat "$D/receipts.tsv")"

# check JOB REASON [SEGMENT]: one receipt with slurmctld's times and GPUs.
check() {
  local job=$1 reason=$2 line start end gpus
  line=$(awk -F'\t' -v j="$job" '$1 == j' "$D/receipts.tsv")
  [ "$(echo "$line" | wc -l)" -eq 1 ] || { echo "job $job: $(echo "$line" | wc -l) receipts"; return 1; }
  IFS=$'\t' read -r _ _ seg start end gpus price amount r rec src emj emg user _ <<<"$line"
  local want_start want_end
  want_start=$(epoch "$job" StartTime) want_end=$(epoch "$job" EndTime)
  [ "$r" = "$reason" ] || { echo "job $job: reason $r, want $reason"; return 1; }
  [ "$start" = "$want_start" ] && [ "$end" = "$want_end" ] ||
    { echo "job $job: $start-$end, slurmctld says $want_start-$want_end"; return 1; }
  [ "$amount" = $((gpus * (end - start) * price / 3600)) ] ||
    { echo "job $job: amount $amount for $gpus GPUs x $((end - start)) s at $price"; return 1; }
  [ "$src" = estimated ] && [ "$emj" = $((700 * gpus * (end - start) * 1000)) ] &&
    [ "$emg" = $((emj * 400 / 3600000)) ] ||
    { echo "job $job: energy $emj ($src), emissions $emg"; return 1; }
  [ "$rec" = - ] && [ "$user" = root ] || { echo "job $job: recovered $rec, user $user"; return 1; }
}
out=$(check "$done_" completed) && [ "$(cut -f6 <<<"$(receipts_of "$done_")")" = 2 ] &&
  [ "$(cut -f18 <<<"$(receipts_of "$done_")")" = order-42 ]
ok $? "completed: one receipt, slurmctld's times, 2 GPUs, the order reference $out"
out=$(check "$failed" failed)
ok $? "failed: one receipt $out"
out=$(check "$canc" cancelled)
ok $? "cancelled: one receipt $out"
out=$(check "$to" timeout)
ok $? "timeout: one receipt $out"

# The preempted job: segment 0 preempted, segment 1 cancelled; each is a
# full receipt, and the second starts when slurmctld says it started.
p=$(receipts_of "$pre")
[ "$(cut -f3,9 <<<"$p" | tr '\t\n' ': ')" = "0:preempted 1:cancelled " ]
ok $? "preempted and requeued: two segments, preempted then cancelled ($(cut -f3,9 <<<"$p" | tr '\t\n' ': '))"
s1=$(sed -n 2p <<<"$p" | cut -f4) e0=$(sed -n 1p <<<"$p" | cut -f5)
[ "$s1" = "$(epoch "$pre" StartTime)" ] && [ "$e0" -le "$s1" ] &&
  [ "$(sed -n 1p <<<"$p" | cut -f6)" = 4 ]
ok $? "the second segment starts at slurmctld's StartTime ($s1), after the first ended ($e0)"
n=$(receipts_of "$nf")
[ "$(cut -f9 <<<"$n")" = node_fail ] && [ "$(cut -f3 <<<"$n")" = 0 ]
ok $? "node failure: one receipt, end reason node_fail ($(cut -f9 <<<"$n"))"

# No segment has two receipts, and every receipt names a job we ran.
dups=$(cut -f1,4 "$D/receipts.tsv" | sort | uniq -d)
[ -z "$dups" ] && [ "$(wc -l <"$D/receipts.tsv")" -eq 7 ]
ok $? "7 receipts for 7 segments, none doubled ${dups:+(doubled: $dups)}"

# A second job_fini (reconfigure with completing jobs) and a reconfigure
# in general double nothing.
scontrol reconfigure && sleep 3 && scontrol reconfigure && sleep 3
[ "$(receipts_tsv | wc -l)" -eq 7 ]
ok $? "two reconfigures later: still 7 receipts"
# Each reconfigure logs what the market's gate cost in job_test so far
# (bench/bench-select.sh reads it): market calls are among the calls.
cost=$(grep 'gpumarket: job_test cost:' "$D/log/slurmctld.log" | tail -n 1)
read -r calls market < <(sed -n 's/.*job_test cost: \([0-9]*\) calls (\([0-9]*\) of market jobs), gate [0-9]* ns, cons_tres [0-9]* ns in all; [0-9]* snapshots rebuilt in [0-9]* ns\(; .*\)\{0,1\}$/\1 \2/p' <<<"$cost")
[ -n "$market" ] && [ "$market" -ge 7 ] && [ "$calls" -ge "$market" ]
ok $? "reconfigure logs the gate's cost in job_test (${cost#*gpumarket: })"

# Verify: the whole live ledger with the cluster key, then peers.
out=$(gpumarket ledger verify --ledger "$D/ledger" --pubkey "$D/etc/gpumarket.pub" 2>&1)
grep -q '"ok":true' <<<"$out" && grep -q '"signatures_checked":true' <<<"$out"
ok $? "gpumarket ledger verify: the ledger verifies with the cluster's public key"
gpumarket receipts export --config "$D/etc/gpumarket.conf" --job "$done_" >"$D/r.json"
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\1/' "$D/r.json" | tr -d '\n' >"$D/r.bytes"
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\2/' "$D/r.json" | base64 -d >"$D/r.sig"
openssl pkeyutl -verify -rawin -pubin -inkey "$D/etc/gpumarket.pub" -in "$D/r.bytes" \
  -sigfile "$D/r.sig" >/dev/null 2>&1
ok $? "a receipt written by slurmctld verifies with the openssl command alone"
printf 'x' >>"$D/r.bytes"
! openssl pkeyutl -verify -rawin -pubin -inkey "$D/etc/gpumarket.pub" -in "$D/r.bytes" \
  -sigfile "$D/r.sig" >/dev/null 2>&1
ok $? "and one changed byte fails it"
# Debian's python3-cryptography (scripts/install-deps.sh) is for
# /usr/bin/python3, which another python3 first on PATH may shadow.
pycrypto=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import cryptography' 2>/dev/null && { pycrypto=$p; break; }
done
if [ -n "$pycrypto" ]; then
  "$pycrypto" - "$D/r.json" "$D/etc/gpumarket.pub" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
line = open(sys.argv[1], "rb").read().rstrip(b"\n")
obj = json.loads(line)
body = line[len(b'{"receipt":'):line.rindex(b',"signature":')]
canon = json.dumps(obj["receipt"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
assert body == canon, "the signed bytes are the canonical form"
load_pem_public_key(open(sys.argv[2], "rb").read()).verify(base64.b64decode(obj["signature"]), body)
PY
  ok $? "and with Python's cryptography on its canonical bytes"
else
  skip 1 "no python3 with the cryptography module (Debian package python3-cryptography; scripts/install-deps.sh installs it)"
fi
out=$(gpumarket ledger checkpoint --config "$D/etc/gpumarket.conf" 2>&1) &&
  gpumarket ledger verify --ledger "$D/ledger" --pubkey "$D/etc/gpumarket.vkey" >/dev/null 2>&1
ok $? "a checkpoint of the live ledger verifies with the ledger's verifier key"
grep -q "$(sed -n 's/.*"key_id":"\([0-9a-f]*\)".*/\1/p' "$D/log/keygen.json")" <<<"$(cut -f19 "$D/receipts.tsv" | sort -u)" &&
  [ "$(cut -f19 "$D/receipts.tsv" | sort -u | wc -l)" -eq 1 ]
ok $? "every receipt names the cluster key's id"

# Key rotation: a new signing key under the same name, the old one still
# pinned in VerifierKeys.  The writer builds on records the old key signed,
# so it must trust the pinned keys, as the gpumarket command does.
name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' "$D/log/keygen.json")
gpumarket keygen --name "$name" --out "$D/etc/rotated" >"$D/log/keygen-rotated.json" 2>&1 &&
  market_conf ReceiptKey "$D/etc/rotated.key" VerifierKeys "$D/etc/gpumarket.vkey,$D/etc/rotated.vkey" >/dev/null
rot=$(sub -w gm1 --gres=gpu:1 --wrap 'sleep 1')
new_id=$(sed -n 's/.*"key_id":"\([0-9a-f]*\)".*/\1/p' "$D/log/keygen-rotated.json")
wait_for 60 receipt_count_is "$rot" 1 && [ -n "$new_id" ] && [ "$(receipts_of "$rot" | cut -f19)" = "$new_id" ]
ok $? "after a key rotation slurmctld signs with the new key, building on the old key's records ($rot: $(receipts_of "$rot" | cut -f19))"
gpumarket ledger verify --config "$D/etc/gpumarket.conf" 2>&1 | grep -q '"ok":true'
ok $? "and the ledger verifies with both pinned keys"
! grep -q 'receipts are not written' "$D/log/slurmctld.log"
ok $? "slurmctld logged no receipt error"
ctld_alive
ok $? "slurmctld is up"
scancel "$nf" 2>/dev/null
finish
