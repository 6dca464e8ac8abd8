#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The gpumarket command takes its paths from gpumarket.conf (ReceiptKey,
# LedgerDir, LedgerOrigin) when no flag or environment variable gives them,
# as an admin sets it up; a bad file is refused, naming file, line and key.
# Signatures are checked against the keys VerifierKeys pins (or --pubkey),
# never against the ledger directory's own verifier-keys.
. "$top_srcdir/tests/tap/tap.sh"
plan 22

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset GPUMARKET_LEDGER_DIR GPUMARKET_RECEIPT_KEY
mkdir -p "$T/etc"
cat >"$T/etc/gpumarket.conf" <<CONF
MarketPartition=market
ReservePrice=h100:2.40
ReceiptKey=$T/etc/receipts.key
LedgerDir=$T/ledger
LedgerOrigin=cluster.example.org/gpumarket
CONF
export GPUMARKET_CONF=$T/etc/gpumarket.conf

out=$(gpumarket keygen 2>&1)
[ -f "$T/etc/receipts.key" ] && grep -q '"name":"cluster.example.org/gpumarket"' <<<"$out"
ok $? "keygen writes ReceiptKey, named after LedgerOrigin" || diag "$out"
[ "$(stat -c %a "$T/etc/receipts.key")" = 600 ]
ok $? "the private key is mode 600"

echo '{"version":1,"cluster":"c","job_id":7,"segment":0,"user":"ada","account":"phys","nodes":"gm1","gpu_type":"h100","gpu_count":2,"start":1000,"end":4600,"price_micro_per_gpu_hour":2400000,"end_reason":"completed"}' >"$T/in"
out=$(gpumarket ledger append <"$T/in" 2>&1)
[ -f "$T/ledger/ledger" ] && grep -q '"amount_micro":4800000' <<<"$out"
ok $? "ledger append signs into LedgerDir (2 GPUs x 1 h x 2.40 = 4.80)" || diag "$out"
# No pinned keys: signatures are not checked against the ledger's own
# verifier-keys; verify refuses, saying how to pin them.
out=$(gpumarket ledger verify 2>/dev/null); rc=$?
[ $rc = 1 ] && [[ $out == '{"ok":false,'*'--pubkey'*'VerifierKeys'*'"keys_from":null}' ]]
ok $? "without --pubkey or VerifierKeys, verify says ok false and how to pin keys" || diag "$out"
out=$(gpumarket receipts export 2>&1); rc=$?
[ $rc = 2 ] && [[ $out == *'--pubkey'*'VerifierKeys'* ]] && ! grep -q '"receipt"' <<<"$out"
ok $? "receipts export prints nothing without pinned keys (exit 2)" || diag "$out"
out=$(gpumarket ledger verify --hash-only 2>&1)
ok $? "--hash-only needs no keys" || diag "$out"
echo "VerifierKeys=$T/etc/receipts.vkey" >>"$T/etc/gpumarket.conf"
out=$(gpumarket ledger verify 2>&1)
ok $? "ledger verify finds the ledger and the pinned key from the config" || diag "$out"
[[ $out == *'"signatures_checked":true,'*'"keys_from":"VerifierKeys"}' ]]
ok $? "its JSON says the keys came from VerifierKeys: $out"
out=$(gpumarket ledger verify --pubkey "$T/etc/receipts.pub" 2>&1)
[[ $out == *'"keys_from":"--pubkey"}' ]]
ok $? "--pubkey wins over VerifierKeys: $out"
out=$(gpumarket receipts export 2>&1)
grep -q '"amount_micro":4800000' <<<"$out"
ok $? "receipts export verifies with VerifierKeys and prints the receipt" || diag "$out"

# An attacker who can write the ledger directory rewrites it with their own
# key of the same name, nine times the amount, and lists that key in
# DIR/verifier-keys: nothing verifies against the pinned key.
cp -a "$T/ledger" "$T/ledger.good"
mkdir "$T/evil"
gpumarket keygen --name cluster.example.org/gpumarket --out "$T/evil/k" >/dev/null
rm "$T/ledger/"*
sed 's/"price_micro_per_gpu_hour":2400000/"price_micro_per_gpu_hour":21600000/' "$T/in" |
  gpumarket ledger append --key "$T/evil/k.key" >/dev/null
gpumarket ledger checkpoint --key "$T/evil/k.key" >/dev/null
grep -q "$(cat "$T/evil/k.vkey")" "$T/ledger/verifier-keys"
ok $? "the rewritten ledger lists the attacker's key in its verifier-keys"
out=$(gpumarket ledger verify 2>/dev/null); rc=$?
[ $rc = 1 ] && [[ $out == '{"ok":false,"bad_index":0,'*'"keys_from":"VerifierKeys"}' ]]
ok $? "ledger verify with the pinned key fails at record 0: $out"
out=$(gpumarket receipts export 2>&1 >"$T/billed"); rc=$?
[ $rc = 1 ] && [[ $out == *'receipt at sequence 0 does not verify'* ]] && [ ! -s "$T/billed" ]
ok $? "receipts export refuses it, naming sequence 0, and prints nothing: $out"
out=$(gpumarket receipts list 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ $out == *'sequence 0'* ]]
ok $? "so does receipts list"
out=$(gpumarket receipts show 0 2>&1 >/dev/null); rc=$?
[ $rc = 1 ] && [[ $out == *'sequence 0'* ]]
ok $? "and receipts show"
out=$(gpumarket ledger verify --pubkey "$T/etc/receipts.vkey" 2>/dev/null); rc=$?
[ $rc = 1 ] && [[ $out == *'"bad_index":0,'* ]]
ok $? "and so does --pubkey with the cluster's key"
rm -rf "$T/ledger"
mv "$T/ledger.good" "$T/ledger"

sed -i "s|^VerifierKeys=.*|VerifierKeys=$T/etc/receipts.vkey,$T/etc/nope.vkey|" "$T/etc/gpumarket.conf"
out=$(gpumarket ledger verify 2>&1); rc=$?
[ $rc = 1 ] && [[ $out == *"$T/etc/gpumarket.conf:6: VerifierKeys: $T/etc/nope.vkey"* ]]
ok $? "a missing VerifierKeys file is named with the config line: $out"
sed -i "s|^VerifierKeys=.*|VerifierKeys=$T/etc/receipts.vkey|" "$T/etc/gpumarket.conf"

mkdir -p "$T/other"
out=$(gpumarket ledger verify --ledger "$T/other" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "$T/other" <<<"$out"
ok $? "--ledger on the command line wins over LedgerDir" || diag "$out"
out=$(GPUMARKET_LEDGER_DIR=$T/other gpumarket ledger verify 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "$T/other" <<<"$out"
ok $? "GPUMARKET_LEDGER_DIR wins over LedgerDir" || diag "$out"

chmod 640 "$T/etc/receipts.key"
out=$(gpumarket ledger append <"$T/in" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "accessible by group or others (mode 0640): run chmod 600 $T/etc/receipts.key" <<<"$out"
ok $? "a private key readable by the group is refused, naming the fix" || diag "$out"
chmod 600 "$T/etc/receipts.key"

sed -i 's|^LedgerDir=.*|LedgerDir=relative/path|' "$T/etc/gpumarket.conf"
out=$(gpumarket ledger verify 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "gpumarket: $T/etc/gpumarket.conf:4: LedgerDir: " <<<"$out"
ok $? "a bad gpumarket.conf is refused, naming file, line and key" || diag "$out"

out=$(gpumarket ledger verify --config "$T/nope.conf" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "$T/nope.conf" <<<"$out"
ok $? "--config names a missing file" || diag "$out"

finish
