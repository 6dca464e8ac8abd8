#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The gpumarket settlement commands as a new user meets them: backfill with
# bad lines named, export filters (JSON lines, CSV), a tampered ledger named
# by index, key rotation, checkpoints catching rewritten history.
. "$(dirname "$0")/tap/tap.sh"
plan 31

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/old.key
gpumarket keygen --name site.example/gpu-ledger --out "$T/old" >/dev/null || bail_out "keygen failed"
# The auditor's pinned keys (the ledger's own verifier-keys is never trusted).
pin() { printf 'MarketPartition=market\nReservePrice=1\nVerifierKeys=%s\n' "$1" >"$T/pin.conf"; }
pin "$T/old.vkey"
export GPUMARKET_CONF=$T/pin.conf

r() { # r JOB USER ACCOUNT START END
  echo "{\"version\":1,\"cluster\":\"alpha\",\"job_id\":$1,\"segment\":0,\"user\":\"$2\",\"account\":\"$3\",\"nodes\":\"gpu01\",\"gpu_type\":\"h100\",\"gpu_count\":2,\"start\":$4,\"end\":$5,\"price_micro_per_gpu_hour\":1800000,\"end_reason\":\"completed\"}"
}
{ r 1 ada phys 1000 2000; r 2 bob chem 1500 4000; r 3 ada chem 5000 9000; r 4 cy phys 8000 8600; } > "$T/in"
test_expect "backfill four receipts" bash -c "gpumarket ledger append < '$T/in' > '$T/out'"
ok "$([ "$(wc -l < "$T/out")" = 4 ]; echo $?)" "four signed receipts printed"
ok "$(grep -q '"amount_micro":1000000,' "$T/out"; echo $?)" "amount filled in: 2 GPUs x 1000 s at 1.8/h = 1.0"

out=$( { r 5 dee phys 1 2; echo '{"version":1,"job_id":"six"}'; r 7 eve phys 1 2; } | gpumarket ledger append 2>&1 >/dev/null); rc=$?
ok "$([ $rc = 1 ] && [[ $out == gpumarket:*"stdin line 2"*'"job_id"'* ]]; echo $?)" "a bad line is named by line and field, exit 1: $out"
n=$(gpumarket receipts list | wc -l)
ok "$([ "$n" = 5 ]; echo $?)" "lines before the bad one were appended, none after ($n)"
out=$(r 8 fay phys 1 2 | sed 's/"job_id":8/"job_id":8,"sequence":3/' | gpumarket ledger append 2>&1); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *'"sequence"'*'assigns'* ]]; echo $?)" "a given sequence number is refused: $out"

ok "$([ "$(gpumarket receipts export --user ada | wc -l)" = 2 ]; echo $?)" "--user filter"
ok "$([ "$(gpumarket receipts export --account chem --user ada | grep -c '"job_id":3,')" = 1 ]; echo $?)" "--account and --user together"
ok "$([ "$(gpumarket receipts export --since 4500 --until 8500 | grep -o '"job_id":[0-9]*' | tr '\n' ' ')" = '"job_id":3 "job_id":4 ' ]; echo $?)" "--since/--until select by time"
ok "$([ "$(gpumarket receipts export --job 2 | wc -l)" = 1 ]; echo $?)" "--job filter"
csv=$(gpumarket receipts export --format csv --account phys)
ok "$([ "$(echo "$csv" | head -1 | cut -d, -f1-3)" = "sequence,cluster,job_id" ] && [ "$(echo "$csv" | wc -l)" = 4 ]; echo $?)" "CSV export with a header"
ok "$([ "$(echo "$csv" | head -1)" = "sequence,cluster,job_id,array_task,segment,user,account,nodes,gpu_type,gpu_count,start,end,gpu_seconds,price_micro_per_gpu_hour,amount_micro,end_reason,energy_mj,emissions_mg,market_order,key_id,energy_source,recovered,policy" ]; echo $?)" "CSV header: new columns (energy_source, recovered, policy) only at the end"
test_expect_fail "--format xml is refused" gpumarket receipts export --format xml
test_expect_fail "--since with a non-number is refused" gpumarket receipts export --since yesterday
out=$(gpumarket receipts export --since 8500 --until 4500 2>&1); rc=$?
ok "$([ $rc = 2 ] && [[ $out == *'--since 8500'*'--until 4500'* ]]; echo $?)" "--since after --until is refused, naming both: $out"
out=$(gpumarket receipts list --since 5500 --until 5500 2>&1); rc=$?
ok "$([ $rc = 0 ] && [ "$(grep -c . <<<"$out")" = 1 ] && [[ $out == 2$'\t'3$'\t'* ]]; echo $?)" "--since equal to --until is one instant (job 3 runs through it): $out"

# Key rotation: a new key signs later receipts; both verify.
test_expect "checkpoint with the old key (an auditor keeps a copy)" bash -c "gpumarket ledger checkpoint > '$T/auditor-cp'"
gpumarket keygen --name site.example/gpu-ledger --out "$T/new" >/dev/null
# (r is a function of this shell: bash -c could not call it, and appended nothing.)
r 9 gil bio 1 2 >"$T/in9"
test_expect "append with the rotated key" bash -c "gpumarket ledger append --key '$T/new.key' < '$T/in9' | grep -q '\"job_id\":9,'"
out=$(gpumarket ledger verify 2>/dev/null); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *'"bad_index":5,'* ]]; echo $?)" "with only the old key pinned, the new key's receipt is named: $out"
pin "$T/old.vkey,$T/new.vkey"
test_expect "ledger verify knows both keys (VerifierKeys)" gpumarket ledger verify
out=$(gpumarket ledger verify --pubkey "$T/new.vkey" 2>&1); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *"record 0"* ]]; echo $?)" "with only the new key, record 0 is named: ${out%%$'\n'*}"
test_expect "with both keys given, it verifies" gpumarket ledger verify --pubkey "$T/old.vkey" --pubkey "$T/new.vkey"
test_expect "the grown ledger still extends the auditor's checkpoint" gpumarket ledger verify --checkpoint "$T/auditor-cp"
test_expect "an old receipt still verifies offline with the old key" \
  bash -c "gpumarket receipts show 1 > '$T/r1' && gpumarket verify '$T/r1' --pubkey '$T/new.pub' --pubkey '$T/old.pub'"

# Tamper: change one byte inside record 2 with dd; verify names index 2.
off=$(grep -abo '"job_id":3,' "$T/ledger/ledger" | cut -d: -f1)
cp "$T/ledger/ledger" "$T/ledger.good"
printf '4' | dd of="$T/ledger/ledger" bs=1 seek=$((off + 9)) conv=notrunc status=none
out=$(gpumarket ledger verify 2>/dev/null); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *'"bad_index":2'* ]]; echo $?)" "a changed byte is named by index: $out"
cp "$T/ledger.good" "$T/ledger/ledger"

# History rewritten consistently (records re-signed) still breaks the checkpoint.
# (The checkpoint is put back after the forged appends: a writer refuses to
# append to a ledger holding fewer records than its checkpoint covers.)
mkdir "$T/forged"
cp "$T/ledger/verifier-keys" "$T/forged/"
gpumarket receipts export | head -5 | sed 's/"user":"bob"/"user":"bib"/' | sed 's/"sequence":[0-9]*,//' | sed 's/,"key_id":"[0-9a-f]*"//' |
  sed 's/^{"receipt":\(.*\),"signature":"[^"]*"}$/\1/' | sed 's/"amount_micro":[0-9]*,//;s/"gpu_seconds":[0-9]*,//' |
  GPUMARKET_LEDGER_DIR=$T/forged gpumarket ledger append --origin site.example/gpu-ledger > /dev/null
cp "$T/ledger/checkpoint" "$T/forged/"
out=$(GPUMARKET_LEDGER_DIR=$T/forged gpumarket ledger verify 2>&1); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *"root hash of the first"*"differs"* ]]; echo $?)" "a re-signed rewrite of history fails the checkpoint: ${out%%$'\n'*}"
rm "$T/forged/checkpoint"
out=$(GPUMARKET_LEDGER_DIR=$T/forged gpumarket ledger verify --checkpoint "$T/auditor-cp" 2>&1); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *"auditor-cp"*"rewritten"* ]]; echo $?)" "with its checkpoint deleted, the auditor's copy still catches it: ${out%%$'\n'*}"

# The fields a controller restart and estimated energy add, in every view.
export GPUMARKET_LEDGER_DIR=$T/recovered
r 20 hal phys 1000 2000 | sed 's/"end_reason":"completed"/"end_reason":"lost","recovered":"last_seen","energy_mj":7200000,"energy_source":"estimated"/' |
  gpumarket ledger append --origin site.example/gpu-ledger > /dev/null
r 21 hal phys 1000 2000 | sed 's/"end_reason":"completed"/"end_reason":"requeued","recovered":"job_record"/' |
  gpumarket ledger append > /dev/null
line=$(gpumarket receipts list | head -1)
ok "$([ "$line" = "$(printf '0\t20\t0\thal\tphys\t2xh100\t1000\t2000\tlost\t1000000\testimated\tlast_seen')" ]; echo $?)" "receipts list shows the end reason, energy source and recovered: $line"
ok "$(gpumarket receipts show 1 | grep -q '"end_reason":"requeued",.*"recovered":"job_record"'; echo $?)" "receipts show keeps them in the signed receipt"
csv=$(gpumarket receipts export --format csv)
ok "$([ "$(echo "$csv" | sed -n 2p | cut -d, -f16-18,21-22)" = "lost,7200000,,estimated,last_seen" ] && [ "$(echo "$csv" | sed -n 3p | cut -d, -f16,17,21-22)" = "requeued,,,job_record" ]; echo $?)" "CSV: end_reason, energy_source and recovered in their columns"
out=$(r 22 hal phys 1 2 | sed 's/"end_reason":"completed"/"end_reason":"completed","energy_source":"metered"/' | gpumarket ledger append 2>&1); rc=$?
ok "$([ $rc = 1 ] && [[ $out == *'"energy_source"'*'"energy_mj"'* ]]; echo $?)" "energy_source without energy_mj is refused, naming both: $out"
finish
