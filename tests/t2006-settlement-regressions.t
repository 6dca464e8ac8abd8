#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Regressions of issue 9 (and small items of issue 10) in the settlement
# commands: a PEM public key checks the signed checkpoint; gpumarket.conf and
# the receipt key are refused when another user could change them or any
# directory above them; a FIFO at a key, .vkey or checkpoint path is refused
# at once instead of hanging; numbers with leading blanks are refused.
. "$(dirname "$0")/tap/tap.sh"
plan 22

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
chmod 700 "$T"
unset GPUMARKET_CONF
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/keys/cluster.key
mkdir -m 700 "$T/keys"
gpumarket keygen --name cluster.example/ledger --out "$T/keys/cluster" >/dev/null || bail_out "keygen failed"
echo '{"version":1,"cluster":"c","job_id":7,"segment":0,"user":"ada","account":"phys","nodes":"gm1","gpu_type":"h100","gpu_count":2,"start":1000,"end":4600,"price_micro_per_gpu_hour":2400000,"end_reason":"completed"}' >"$T/in"
gpumarket ledger append <"$T/in" >/dev/null || bail_out "append failed"
gpumarket ledger checkpoint >"$T/auditor-cp" || bail_out "checkpoint failed"

# --- ledger verify --pubkey cluster.pub (a PEM key) checks the signed checkpoint.
out=$(gpumarket ledger verify --pubkey "$T/keys/cluster.pub" 2>&1)
ok $? "ledger verify with only the PEM public key checks DIR/checkpoint" || diag "$out"
grep -q '"checkpoint_size":1' <<<"$out"
ok $? "and reports the checkpoint it checked: $out"
out=$(gpumarket ledger verify --pubkey "$T/keys/cluster.pub" --checkpoint "$T/auditor-cp" 2>&1)
ok $? "the auditor's saved checkpoint verifies with the PEM key too" || diag "$out"
gpumarket keygen --name cluster.example/ledger --out "$T/other" >/dev/null
out=$(gpumarket ledger verify --pubkey "$T/other.pub" --hash-only 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no signature by a known key" <<<"$out"
ok $? "another PEM key does not verify it: ${out%%$'\n'*}"
gpumarket receipts show 0 --pubkey "$T/keys/cluster.vkey" >"$T/r0"
out=$(gpumarket verify "$T/r0" --pubkey "$T/keys/cluster.pub" --key-name cluster.example/ledger 2>&1)
ok $? "--key-name names a PEM key; the receipt's key id then matches" || diag "$out"
out=$(gpumarket verify "$T/r0" --pubkey "$T/keys/cluster.pub" --key-name wrong.example/name 2>&1); rc=$?
[ $rc = 1 ] && grep -q "key id" <<<"$out"
ok $? "a wrong --key-name gives another key id: refused: $out"

# --- gpumarket.conf: refused when another user could change it.
mkdir -m 755 "$T/etc"
cat >"$T/etc/gpumarket.conf" <<CONF
MarketPartition=market
ReservePrice=h100:2.40
LedgerDir=$T/ledger
VerifierKeys=$T/keys/cluster.vkey
CONF
chmod 644 "$T/etc/gpumarket.conf"
unset GPUMARKET_LEDGER_DIR
out=$(gpumarket ledger verify --config "$T/etc/gpumarket.conf" 2>&1)
ok $? "a gpumarket.conf only root can change is used" || diag "$out"
chmod 664 "$T/etc/gpumarket.conf"
out=$(gpumarket ledger verify --config "$T/etc/gpumarket.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "^gpumarket: $T/etc/gpumarket.conf: .*writable by its group (mode 0664): run chmod g-w $T/etc/gpumarket.conf" <<<"$out"
ok $? "a group-writable gpumarket.conf is refused, naming the fix: $out"
chmod 644 "$T/etc/gpumarket.conf"
chmod 777 "$T/etc"
out=$(gpumarket ledger verify --config "$T/etc/gpumarket.conf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "in directory $T/etc, writable by every user (mode 0777).*run chmod go-w $T/etc" <<<"$out"
ok $? "a gpumarket.conf in a world-writable directory is refused: $out"
chmod 1777 "$T/etc"
out=$(gpumarket ledger verify --config "$T/etc/gpumarket.conf" 2>&1)
ok $? "a sticky directory (as /tmp) is accepted" || diag "$out"
chmod 755 "$T/etc"
if [ "$(id -u)" = 0 ]; then
  chown 12345 "$T/etc/gpumarket.conf"
  out=$(gpumarket ledger verify --config "$T/etc/gpumarket.conf" 2>&1); rc=$?
  [ $rc = 1 ] && grep -q "owned by uid 12345, not by root or uid 0: run chown root $T/etc/gpumarket.conf" <<<"$out"
  ok $? "a gpumarket.conf owned by another user is refused: $out"
  chown 0 "$T/etc/gpumarket.conf"
else
  skip 1 "only root can hand the file to another owner"
fi
export GPUMARKET_LEDGER_DIR=$T/ledger

# --- the receipt key's directory.
chmod 770 "$T/keys"
out=$(gpumarket ledger checkpoint 2>&1 </dev/null); rc=$?
[ $rc = 1 ] && grep -q "receipt key is in directory $T/keys, writable by its group (mode 0770).*run chmod g-w $T/keys" <<<"$out"
ok $? "a receipt key in a group-writable directory is refused: $out"
chmod 700 "$T/keys"
chmod 777 "$T"
out=$(gpumarket ledger checkpoint 2>&1 </dev/null); rc=$?
[ $rc = 1 ] && grep -q "in directory $T, writable by every user" <<<"$out"
ok $? "so is one whose grandparent directory others can write: $out"
chmod 700 "$T"
test_expect "the key is used again once its directories are safe" gpumarket ledger checkpoint

# --- FIFOs are refused at once, not waited on (timeout 60: a hang fails).
mkfifo "$T/fifo.key" "$T/fifo.pub" "$T/fifo-cp"
out=$(timeout 60 gpumarket ledger checkpoint --key "$T/fifo.key" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "fifo.key: not a regular file (a FIFO)" <<<"$out"
ok $? "a FIFO as the private key: refused at once (exit $rc): $out"
out=$(timeout 60 gpumarket ledger verify --pubkey "$T/fifo.pub" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "a FIFO" <<<"$out"
ok $? "a FIFO as --pubkey: refused at once (exit $rc): $out"
out=$(timeout 60 gpumarket ledger verify --pubkey "$T/keys/cluster.vkey" --checkpoint "$T/fifo-cp" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "fifo-cp: not a regular file (a FIFO)" <<<"$out"
ok $? "a FIFO as --checkpoint: refused at once (exit $rc): $out"
cp -p "$T/keys/cluster.key" "$T/keys/fifo-vkey.key"
mkfifo "$T/keys/fifo-vkey.vkey"
out=$(timeout 60 gpumarket ledger checkpoint --key "$T/keys/fifo-vkey.key" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "fifo-vkey.vkey.*a FIFO" <<<"$out"
ok $? "a FIFO as the key's .vkey: refused at once (exit $rc): $out"
mv "$T/ledger/checkpoint" "$T/checkpoint.saved"
mkfifo "$T/ledger/checkpoint"
out=$(timeout 60 gpumarket ledger verify --pubkey "$T/keys/cluster.vkey" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "checkpoint: not a regular file (a FIFO)" <<<"$out"
ok $? "a FIFO as DIR/checkpoint: refused at once (exit $rc): $out"
rm "$T/ledger/checkpoint"
mv "$T/checkpoint.saved" "$T/ledger/checkpoint"

# --- numbers: no leading blanks, no signs (strtoull took " 7" and "-1").
out=$(gpumarket receipts export --job " 7" 2>&1); rc=$?
[ $rc = 2 ] && grep -q -- "--job= 7: give a numeric Slurm job id" <<<"$out"
ok $? "--job with a leading blank is refused: $out"
out=$(gpumarket ledger prove " 0" 2>&1); rc=$?
ok "$([ $rc = 2 ]; echo $?)" "INDEX with a leading blank is refused: $out"
out=$(gpumarket receipts export --since -1 2>&1); rc=$?
ok "$([ $rc = 2 ]; echo $?)" "a negative --since is refused: $out"
finish
