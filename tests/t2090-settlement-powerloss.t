#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Durability against a crash and a power loss: `gpumarket ledger append` is
# killed right after a write to the ledger and before its sync (a preloaded
# library does it, so every kill lands there), then everything that was not
# synced is dropped, as a power cut would.  Every receipt the appender
# acknowledged must survive, the ledger must verify, and appends go on.
. "$(dirname "$0")/tap/tap.sh"
ROUNDS=${GPUMARKET_POWERLOSS_ROUNDS:-20}
shim=$top_builddir/tests/fault/.libs/crashpoint.so
[ -f "$shim" ] || bail_out "$shim is missing (make check builds it)"
plan 6

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export GPUMARKET_LEDGER_DIR=$T/ledger GPUMARKET_RECEIPT_KEY=$T/k.key
gpumarket keygen --name test.example/powerloss --out "$T/k" >/dev/null || bail_out "keygen failed"
# The key receipts are verified against is pinned in gpumarket.conf.
printf 'MarketPartition=market\nReservePrice=1\nVerifierKeys=%s\n' "$T/k.vkey" >"$T/pin.conf"
export GPUMARKET_CONF=$T/pin.conf
gen() { # COUNT receipts, job ids from BASE
  awk -v base="$2" -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "{\"version\":1,\"cluster\":\"c\",\"job_id\":%d,\"segment\":0,\"user\":\"u\",\"account\":\"a\",\"nodes\":\"n1\",\"gpu_type\":\"h100\",\"gpu_count\":2,\"start\":1000,\"end\":2000,\"price_micro_per_gpu_hour\":1000000,\"end_reason\":\"completed\"}\n", base + i }'
}
ledger=$T/ledger/ledger
# Every process below runs with the library preloaded, so the log holds every
# sync of the ledger file: the last one bounds what a power loss leaves.
export LD_PRELOAD=$shim GPUMARKET_CRASH_FILE=$ledger GPUMARKET_CRASH_LOG=$T/log
gen 1 1 | gpumarket ledger append > "$T/acked" || bail_out "first append failed"

kills=0 lost_rounds=0 bad_verify=0 refused=0
for ((r = 0; r < ROUNDS; r++)); do
  : > "$T/out"
  # Between 1 and 4 writes go through before the kill; stdin holds enough
  # receipts (batched by group commit) that the appender is never done first.
  n=$((1 + RANDOM % 4))
  kills_before=$(grep -c '^kill' "$T/log")
  gen 20000 $((r * 100000 + 10)) |
    GPUMARKET_CRASH_AFTER_WRITES=$n gpumarket ledger append > "$T/out" 2>>"$T/stderr"
  [ "$(grep -c '^kill' "$T/log")" = $((kills_before + 1)) ] && [ "$(tail -n 1 "$T/log")" = "kill $n" ] &&
    kills=$((kills + 1))
  # Acknowledged = complete output lines.
  if [ -n "$(tail -c 1 "$T/out")" ]; then sed '$d' "$T/out"; else cat "$T/out"; fi > "$T/round"
  cat "$T/round" >> "$T/acked"
  # Power loss: only the prefix covered by the last sync survives (nothing,
  # if the file was never synced).
  synced=$(awk '$1 == "sync" { s = $2 } END { print s + 0 }' "$T/log")
  if [ "$synced" -lt "$(stat -c %s "$ledger")" ]; then
    truncate -s "$synced" "$ledger"
  fi
  # Recovery after the power loss, then framing, hashes and tree.
  gpumarket ledger recover > /dev/null 2>>"$T/stderr" || refused=$((refused + 1))
  gpumarket ledger verify --hash-only > "$T/verify" 2>>"$T/stderr" || {
    bad_verify=$((bad_verify + 1)); diag "round $r: $(cat "$T/verify")"; }
  # This round's first and last acknowledged receipts are stored as acknowledged.
  for line in "$(head -n 1 "$T/round")" "$(tail -n 1 "$T/round")"; do
    [ -n "$line" ] || continue
    seq=$(sed 's/.*"sequence":\([0-9]*\).*/\1/' <<<"$line")
    [ "$(gpumarket receipts show "$seq" 2>/dev/null)" = "$line" ] || {
      lost_rounds=$((lost_rounds + 1)); diag "round $r: receipt $seq lost"; break; }
  done
done
acked=$(sort -u "$T/acked" | wc -l)
gpumarket receipts export > "$T/export" 2>>"$T/stderr"
missing=$(sort -u "$T/acked" | comm -23 - <(sort "$T/export") | wc -l)
ok "$([ $kills = "$ROUNDS" ]; echo $?)" "all $ROUNDS kills landed right after a ledger write, before its sync ($kills seen)"
ok "$([ "$acked" -gt "$ROUNDS" ]; echo $?)" "the appenders acknowledged receipts before being killed ($acked in all)"
ok "$([ $refused = 0 ]; echo $?)" "recovery after each power loss succeeded"
ok "$([ $bad_verify = 0 ]; echo $?)" "the ledger verified after every power loss"
ok "$([ $lost_rounds = 0 ] && [ "$missing" = 0 ]; echo $?)" "no acknowledged receipt was lost to a power loss ($lost_rounds rounds lost some; $missing of $acked missing at the end)"
test_expect "appends go on after the last power loss" bash -c "gen 1 99999999 | gpumarket ledger append >/dev/null && gpumarket ledger verify >/dev/null"
finish
