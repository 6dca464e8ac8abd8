#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash safety: kill -9 an appender at random moments, 100+ times; every
# time the ledger verifies and every acknowledged receipt is in it.  Then cut
# the file at random bytes (a crash in the middle of a write).
. "$(dirname "$0")/tap/tap.sh"
ITER=${GPUMARKET_CRASH_ITERATIONS:-100}
CUTS=30
plan $((3 + 2 + CUTS / 10))

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/k.key
gpumarket keygen --name test.example/crash --out "$T/k" >/dev/null || bail_out "keygen failed"
# The key receipts are verified against is pinned in gpumarket.conf.
printf 'MarketPartition=market\nReservePrice=1\nVerifierKeys=%s\n' "$T/k.vkey" >"$T/pin.conf"
export GPUMARKET_CONF=$T/pin.conf

gen() { # endless receipts, job ids from $1
  awk -v base="$1" 'BEGIN { for (i = 0; ; i++) printf "{\"version\":1,\"cluster\":\"c\",\"job_id\":%d,\"segment\":0,\"user\":\"u\",\"account\":\"a\",\"nodes\":\"n1\",\"gpu_type\":\"h100\",\"gpu_count\":2,\"start\":1000,\"end\":2000,\"price_micro_per_gpu_hour\":1000000,\"end_reason\":\"completed\"}\n", base + i }'
}

: > "$T/acked"
gen 1 | head -1 | gpumarket ledger append > "$T/acked" || bail_out "first append failed"
bad_verify=0 acked_runs=0 unacked_runs=0 early=0
for ((i = 0; i < ITER; i++)); do
  rm -f "$T/out" && touch "$T/out" # a kill before the redirection must not replay old output
  gen $((i * 100000 + 2)) 2>/dev/null | gpumarket ledger append > "$T/out" 2>>"$T/stderr" &
  pid=$!
  # The kill must land while receipts are being appended, not while the
  # program starts (on a fast machine a fixed delay killed it before its
  # first write in 99 runs of 100): wait for its first acknowledgement, then
  # a random 0-9 ms more, during which it writes, syncs and prints batches.
  for ((w = 0; w < 3000; w++)); do [ -s "$T/out" ] && break; sleep 0.01; done
  [ -s "$T/out" ] || early=$((early + 1))
  sleep "0.00$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # Acknowledged = complete output lines (a line cut by the kill is not).
  if [ -n "$(tail -c 1 "$T/out")" ]; then sed '$d' "$T/out"; else cat "$T/out"; fi > "$T/run"
  [ -s "$T/run" ] && acked_runs=$((acked_runs + 1))
  cat "$T/run" >> "$T/acked"
  # Framing, hashes and tree every time; signatures too every 20th run.
  if ! gpumarket ledger verify $([ $((i % 20)) = 0 ] || echo --hash-only) > "$T/verify" 2>>"$T/stderr"; then
    bad_verify=$((bad_verify + 1))
    diag "iteration $i: $(cat "$T/verify")"
  fi
  # Records written but never acknowledged: the kill came between a write
  # and the printing of its receipts (in the sync, or just before it).
  size=$(sed -n 's/.*"size":\([0-9]*\),.*/\1/p' "$T/verify")
  [ "${size:-0}" -gt "$(wc -l < "$T/acked")" ] && unacked_runs=$((unacked_runs + 1))
  # A checkpoint now and then keeps each appender's check of the records
  # since the last one short.
  [ $((i % 10)) = 9 ] && { gpumarket ledger checkpoint > /dev/null 2>>"$T/stderr" || bail_out "checkpoint failed"; }
done
gpumarket receipts export > "$T/export" || bail_out "export failed"
dups=$(sort "$T/acked" | uniq -d | wc -l)
[ "$dups" = 0 ] || diag "$dups acknowledged lines seen twice (test harness bug)"
missing=$(sort -u "$T/acked" | comm -23 - <(sort "$T/export") | wc -l)
nacked=$(wc -l < "$T/acked")
diag "$unacked_runs of $ITER kills left records written but not acknowledged"
ok "$([ $bad_verify = 0 ]; echo $?)" "$ITER kill -9 runs: the ledger verified after every one"
ok "$([ $early = 0 ] && [ $acked_runs = "$ITER" ] && [ "$nacked" -gt $((2 * ITER)) ]; echo $?)" \
  "every kill landed while appending: all $ITER runs acknowledged receipts first ($acked_runs did; $nacked in all; $early never started)"
ok "$([ "$missing" = 0 ] && [ "$(wc -l < "$T/export")" -ge "$nacked" ]; echo $?)" "all $nacked acknowledged receipts are in the ledger ($(wc -l < "$T/export") records)"
# Job ids after the kill runs' (run i uses i * 100000 + 2 on): a receipt for
# a segment already billed is not appended again, and the ledger would not grow.
after=$(((ITER + 1) * 100000))
test_expect "an append after the crashes recovers any torn tail" bash -c "gen $after | head -1 | gpumarket ledger append >/dev/null"
test_expect "and the ledger verifies" gpumarket ledger verify

# Crash at any byte: cut the file inside the last record, at random offsets.
size_records() { gpumarket ledger recover | sed 's/.*"size":\([0-9]*\).*/\1/'; }
for ((c = 0; c < CUTS; c += 10)); do
  fails=0
  for ((k = 0; k < 10; k++)); do
    gen $((after + 1 + c * 10 + k)) | head -1 | gpumarket ledger append >/dev/null || fails=1
    n=$(size_records)
    full=$(stat -c %s "$T/ledger/ledger")
    last=$(gpumarket receipts show $((n - 1)) | tr -d '\n' | wc -c)
    [ "$last" -gt 0 ] || { fails=1; diag "receipts show $((n - 1)) printed nothing"; }
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
