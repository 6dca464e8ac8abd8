#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The ledger's tree head, inclusion and consistency proofs recomputed with
# nothing but `openssl dgst -sha256` over the stored records (RFC 6962).
. "$(dirname "$0")/tap/tap.sh"
command -v openssl >/dev/null || skip_all "the openssl command is not installed"
plan 12

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/k.key
gpumarket keygen --name test.example/merkle --out "$T/k" >/dev/null || bail_out "keygen failed"
# The key receipts are verified against is pinned in gpumarket.conf.
printf 'MarketPartition=market\nReservePrice=1\nVerifierKeys=%s\n' "$T/k.vkey" >"$T/pin.conf"
export GPUMARKET_CONF=$T/pin.conf

leaf() { # leaf INDEX: SHA-256(0x00 || record bytes), hex
  (printf '\000'; gpumarket receipts show "$1" | tr -d '\n') | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n'
}
node() { # node LEFTHEX RIGHTHEX
  (printf '\001'; printf '%s%s' "$1" "$2" | xxd -r -p) | openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n'
}
command -v xxd >/dev/null || skip_all "xxd is not installed"
declare -a L
mth() { # mth LO N: RFC 6962 MTH over L[LO..LO+N)
  local lo=$1 n=$2 k=1
  if [ "$n" -eq 1 ]; then echo "${L[$lo]}"; return; fi
  while [ $((k * 2)) -lt "$n" ]; do k=$((k * 2)); done
  node "$(mth "$lo" "$k")" "$(mth $((lo + k)) $((n - k)))"
}

for i in 1 2 3 4 5 6 7; do
  echo "{\"version\":1,\"cluster\":\"c\",\"job_id\":$i,\"segment\":0,\"user\":\"u$i\",\"account\":\"a\",\"nodes\":\"n1\",\"gpu_type\":\"a100\",\"gpu_count\":1,\"start\":100,\"end\":$((100 + i)),\"price_micro_per_gpu_hour\":3600,\"end_reason\":\"completed\"}" |
    gpumarket ledger append >/dev/null || bail_out "append $i failed"
  L[$((i - 1))]=$(leaf $((i - 1)))
  root=$(gpumarket ledger prove 0 | sed 's/.*"root_hash":"\([0-9a-f]*\)".*/\1/')
  ok "$([ "$root" = "$(mth 0 "$i")" ]; echo $?)" "tree of $i: root equals the openssl computation"
done

proof=$(gpumarket ledger prove 2 --size 7)
want="[\"${L[3]}\",\"$(node "${L[0]}" "${L[1]}")\",\"$(mth 4 3)\"]"
ok "$([[ $proof == *"\"leaf_hash\":\"${L[2]}\""* && $proof == *"\"proof\":$want"* ]]; echo $?)" "inclusion proof of leaf 2 in 7, by hand: $proof"
proof=$(gpumarket ledger prove 6 --size 7)
want="[\"$(node "${L[4]}" "${L[5]}")\",\"$(mth 0 4)\"]"
ok "$([[ $proof == *"\"proof\":$want"* ]]; echo $?)" "inclusion proof of leaf 6 in 7"
cons=$(gpumarket ledger consistency 3 7)
# RFC 6962 2.1.3 example: PROOF(3, D[7]) = [c, d, g, l] with c = L2, d = L3, g = MTH(0,2), l = MTH(4,3).
want="[\"${L[2]}\",\"${L[3]}\",\"$(node "${L[0]}" "${L[1]}")\",\"$(mth 4 3)\"]"
ok "$([[ $cons == *"\"proof\":$want"* && $cons == *"\"old_root_hash\":\"$(mth 0 3)\""* ]]; echo $?)" "consistency proof 3 -> 7 is RFC 6962's [c, d, g, l]"
cons=$(gpumarket ledger consistency 4 7)
ok "$([[ $cons == *"\"proof\":[\"$(mth 4 3)\"]"* ]]; echo $?)" "consistency proof 4 -> 7 is [l] (RFC 6962 example)"
test_expect_fail "prove past the end fails" gpumarket ledger prove 7
finish
