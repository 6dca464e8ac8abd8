#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The gpumarket command takes its paths from gpumarket.conf (ReceiptKey,
# LedgerDir, LedgerOrigin) when no flag or environment variable gives them,
# as an admin sets it up; a bad file is refused, naming file, line and key.
. "$top_srcdir/tests/tap/tap.sh"
plan 9

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
out=$(gpumarket ledger verify 2>&1)
ok $? "ledger verify finds the ledger from the config" || diag "$out"

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
