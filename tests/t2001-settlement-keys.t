#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gpumarket keygen and key files; receipts and checkpoints checked by the
# openssl command alone (interop); --help and exit codes of every subcommand.
. "$(dirname "$0")/tap/tap.sh"
command -v openssl >/dev/null || skip_all "the openssl command is not installed"
plan 27

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/receipt.key

test_expect "keygen writes the key files" gpumarket keygen --name cluster.example/ledger --out "$T/receipt"
ok "$([ "$(stat -c %a "$T/receipt.key")" = 600 ]; echo $?)" "private key mode is 0600"
test_expect "private key is PKCS#8 PEM that openssl reads" \
  bash -c "head -1 '$T/receipt.key' | grep -qx -- '-----BEGIN PRIVATE KEY-----' && openssl pkey -in '$T/receipt.key' -noout"
test_expect "openssl derives the same public key" \
  bash -c "openssl pkey -in '$T/receipt.key' -pubout | cmp - '$T/receipt.pub'"
out=$(gpumarket keygen --name x --out "$T/receipt" 2>&1); rc=$?
ok "$([ $rc -ne 0 ] && [[ $out == gpumarket:*receipt.key*already\ exists* ]]; echo $?)" "keygen refuses to overwrite: $out"

receipt='{"version":1,"cluster":"alpha","job_id":77,"segment":0,"user":"ada","account":"phys","nodes":"gpu[01-02]","gpu_type":"h100","gpu_count":8,"start":1700000000,"end":1700000600,"price_micro_per_gpu_hour":2500000,"end_reason":"preempted","energy_mj":5000000}'
test_expect "ledger append signs and stores a receipt" bash -c "echo '$receipt' | gpumarket ledger append > '$T/appended'"
test_expect "receipts show prints it" bash -c "gpumarket receipts show 0 --pubkey '$T/receipt.vkey' > '$T/r.json' && cmp '$T/r.json' '$T/appended'"

# Interop: split the signed receipt with sed and check it with openssl only.
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\1/' "$T/r.json" | tr -d '\n' > "$T/receipt-bytes"
sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\2/' "$T/r.json" | base64 -d > "$T/sig.bin"
ok "$([ "$(stat -c %s "$T/sig.bin")" = 64 ]; echo $?)" "the signature is 64 bytes"
test_expect "openssl pkeyutl -verify -rawin accepts the receipt" \
  openssl pkeyutl -verify -rawin -pubin -inkey "$T/receipt.pub" -in "$T/receipt-bytes" -sigfile "$T/sig.bin"
sed 's/"gpu_count":8/"gpu_count":9/' "$T/receipt-bytes" > "$T/forged"
test_expect_fail "openssl rejects a changed receipt" \
  openssl pkeyutl -verify -rawin -pubin -inkey "$T/receipt.pub" -in "$T/forged" -sigfile "$T/sig.bin"
test_expect "gpumarket verify accepts it with the PEM key" gpumarket verify "$T/r.json" --pubkey "$T/receipt.pub"
test_expect "gpumarket verify accepts it with the verifier key" gpumarket verify "$T/r.json" --pubkey "$T/receipt.vkey"
sed 's/"gpu_count":8/"gpu_count":9/' "$T/r.json" > "$T/forged.json"
test_expect_fail "gpumarket verify rejects a changed receipt" gpumarket verify "$T/forged.json" --pubkey "$T/receipt.pub"

# An independent JCS: for integers and strings, Python's sorted, compact,
# non-ASCII-preserving json.dumps is RFC 8785; it must give the same bytes.
if command -v python3 >/dev/null; then
  uni='{"version":1,"cluster":"alpha","job_id":78,"array_task":3,"segment":2,"user":"z\u00e9lie \"zz\"","account":"ph\\ys","nodes":"gpu01","gpu_type":"h100","gpu_count":1,"start":5,"end":9,"price_micro_per_gpu_hour":3600,"end_reason":"node_fail","market_order":"\u2603-1","emissions_mg":7}'
  echo "$uni" | gpumarket ledger append > "$T/uni.json"
  sed 's/^{"receipt":\(.*\),"signature":"\([^"]*\)"}$/\1/' "$T/uni.json" | tr -d '\n' > "$T/uni-bytes"
  python3 -c 'import json,sys; d=open(sys.argv[1],"rb").read(); o=json.loads(d); sys.exit(0 if json.dumps(o,sort_keys=True,separators=(",",":"),ensure_ascii=False).encode() == d else 1)' "$T/uni-bytes"
  ok $? "receipt bytes equal an independent canonical serialization (python json, sorted, compact): $(cat "$T/uni-bytes")"
else
  skip 1 "python3 is not installed: no independent JSON serializer to compare with"
fi

# Checkpoint: a C2SP signed note; verify its signature with openssl.
test_expect "ledger checkpoint" bash -c "gpumarket ledger checkpoint > '$T/cp'"
head -3 "$T/cp" > "$T/cp-body"
sigline=$(sed -n 5p "$T/cp")
keyid=$(sed 's/.*+\([0-9a-f]\{8\}\)+.*/\1/' "$T/receipt.vkey")
ok "$([[ $sigline == "— cluster.example/ledger "* ]] && [ "$(sed -n 4p "$T/cp")" = "" ]; echo $?)" "signature line follows a blank line: $sigline"
echo "${sigline##* }" | base64 -d > "$T/cp-sig-full"
ok "$([ "$(head -c 4 "$T/cp-sig-full" | od -An -tx1 | tr -d ' \n')" = "$keyid" ]; echo $?)" "signature starts with the key id $keyid"
tail -c 64 "$T/cp-sig-full" > "$T/cp-sig"
test_expect "openssl verifies the checkpoint signature over the note body" \
  openssl pkeyutl -verify -rawin -pubin -inkey "$T/receipt.pub" -in "$T/cp-body" -sigfile "$T/cp-sig"
# The key id from openssl alone: SHA-256(name || 0x0A || 0x01 || raw public key).
openssl pkey -pubin -in "$T/receipt.pub" -outform DER | tail -c 32 > "$T/raw-pub"
idcalc=$( (printf 'cluster.example/ledger\n\001'; cat "$T/raw-pub") | openssl dgst -sha256 -binary | head -c 4 | od -An -tx1 | tr -d ' \n')
ok "$([ "$idcalc" = "$keyid" ]; echo $?)" "key id recomputed with openssl ($idcalc)"

# Permissions: every tool refuses a key others can read, naming the fix.
chmod 640 "$T/receipt.key"
out=$(echo "$receipt" | gpumarket ledger append 2>&1); rc=$?
ok "$([ $rc -ne 0 ] && [[ $out == gpumarket:*receipt.key*chmod\ 600* ]]; echo $?)" "append refuses a group-readable key: $out"
out=$(gpumarket ledger checkpoint 2>&1); rc=$?
ok "$([ $rc -ne 0 ] && [[ $out == *chmod\ 600* ]]; echo $?)" "checkpoint refuses it too"
chmod 600 "$T/receipt.key"
if [ "$(id -u)" = 0 ]; then
  chown 12345 "$T/receipt.key"
  out=$(gpumarket ledger checkpoint 2>&1); rc=$?
  ok "$([ $rc -ne 0 ] && [[ $out == *chown* ]]; echo $?)" "a key owned by someone else is refused: $out"
  chown 0 "$T/receipt.key"
else
  skip 1 "only root can hand the key file to another owner"
fi

# --help everywhere, exit codes.
helps=0
for c in "keygen" "ledger" "ledger append" "ledger verify" "ledger checkpoint" "ledger prove" \
         "ledger consistency" "ledger recover" "receipts" "receipts list" "receipts show" \
         "receipts export" "verify"; do
  out=$(gpumarket $c --help) && [[ $out == Usage:* ]] || { helps=1; diag "no help for $c"; }
done
ok $helps "--help on every subcommand prints usage and exits 0"
gpumarket ledger verify --bogus >/dev/null 2>&1
ok "$([ $? = 2 ]; echo $?)" "an unknown option exits 2"
gpumarket frobnicate >/dev/null 2>&1
ok "$([ $? = 2 ]; echo $?)" "an unknown command exits 2"
out=$(env -u GPUMARKET_LEDGER_DIR gpumarket ledger verify 2>&1); rc=$?
ok "$([ $rc = 2 ] && [[ $out == *--ledger* ]]; echo $?)" "a missing ledger is named with its flag: $out"
out=$(gpumarket verify "$T/r.json" 2>&1); rc=$?
ok "$([ $rc = 2 ] && [[ $out == *--pubkey*VerifierKeys* ]]; echo $?)" "verify without --pubkey or VerifierKeys says to give one: $out"
finish
