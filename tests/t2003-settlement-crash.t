#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash safety: kill -9 an appender at random moments, 100+ times; every
# time the ledger verifies and every acknowledged receipt is in it.  Then cut
# the file at random bytes (a crash in the middle of a write).
. "$(dirname "$0")/tap/tap.sh"
ITER=${GPUMARKET_CRASH_ITERATIONS:-100}
CUTS=30
plan $((2 + 2 + CUTS / 10))

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/k.key
gpumarket keygen --name test.example/crash --out "$T/k" >/dev/null || bail_out "keygen failed"

gen() { # endless receipts, job ids from $1
  awk -v base="$1" 'BEGIN { for (i = 0; ; i++) printf "{\"version\":1,\"cluster\":\"c\",\"job_id\":%d,\"segment\":0,\"user\":\"u\",\"account\":\"a\",\"nodes\":\"n1\",\"gpu_type\":\"h100\",\"gpu_count\":2,\"start\":1000,\"end\":2000,\"price_micro_per_gpu_hour\":1000000,\"end_reason\":\"completed\"}\n", base + i }'
}

: > "$T/acked"
gen 1 | head -1 | gpumarket ledger append > "$T/acked" || bail_out "first append failed"
bad_verify=0 lost=0
for ((i = 0; i < ITER; i++)); do
  rm -f "$T/out" && touch "$T/out" # a kill before the redirection must not replay old output
  gen $((i * 100000 + 1)) 2>/dev/null | gpumarket ledger append > "$T/out" 2>>"$T/stderr" &
  pid=$!
  sleep "0.0$((RANDOM % 5))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # Acknowledged = complete output lines (a line cut by the kill is not).
  if [ -n "$(tail -c 1 "$T/out")" ]; then sed '$d' "$T/out"; else cat "$T/out"; fi >> "$T/acked"
  # Framing, hashes and tree every time; signatures too every 20th run.
  if ! gpumarket ledger verify --pubkey "$T/k.vkey" $([ $((i % 20)) = 0 ] || echo --hash-only) > "$T/verify" 2>>"$T/stderr"; then
    bad_verify=$((bad_verify + 1))
    diag "iteration $i: $(cat "$T/verify")"
  fi
done
gpumarket receipts export --pubkey "$T/k.vkey" > "$T/export" || bail_out "export failed"
dups=$(sort "$T/acked" | uniq -d | wc -l)
[ "$dups" = 0 ] || diag "$dups acknowledged lines seen twice (test harness bug)"
missing=$(sort -u "$T/acked" | comm -23 - <(sort "$T/export") | wc -l)
ok "$([ $bad_verify = 0 ]; echo $?)" "$ITER kill -9 runs: the ledger verified after every one"
ok "$([ "$missing" = 0 ]; echo $?)" "all $(wc -l < "$T/acked") acknowledged receipts are in the ledger ($(wc -l < "$T/export") records)"
test_expect "an append after the crashes recovers any torn tail" bash -c "gen 9000000 | head -1 | gpumarket ledger append >/dev/null"
test_expect "and the ledger verifies" gpumarket ledger verify --pubkey "$T/k.vkey"

# Crash at any byte: cut the file inside the last record, at random offsets.
size_records() { gpumarket ledger recover | sed 's/.*"size":\([0-9]*\).*/\1/'; }
for ((c = 0; c < CUTS; c += 10)); do
  fails=0
  for ((k = 0; k < 10; k++)); do
    gen $((9100000 + c * 10 + k)) | head -1 | gpumarket ledger append >/dev/null || fails=1
    n=$(size_records)
    full=$(stat -c %s "$T/ledger/ledger")
    last=$(gpumarket receipts show --pubkey "$T/k.vkey" $((n - 1)) | tr -d '\n' | wc -c)
    cut=$((full - (last + 44) + 1 + RANDOM % (last + 43)))
    truncate -s "$cut" "$T/ledger/ledger"
    v=$(gpumarket ledger verify --hash-only 2>/dev/null) || fails=1
    [[ $v == *"\"size\":$((n - 1)),"* && $v != *'"torn_tail_bytes":0'* ]] || { fails=1; diag "cut at $cut: $v"; }
    gpumarket ledger recover >/dev/null 2>&1 || fails=1
    [ "$(stat -c %s "$T/ledger/ledger")" -eq $((full - last - 44)) ] || fails=1
  done
  ok $fails "10 cuts inside the last record: reported as a torn tail, recovered to the last whole record"
done
finish
