#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A receipt key readable by others is refused with a clear log line, and
# the segments wait until it is fixed.  A full disk under the ledger loses
# nothing: the ledger directory is on a
# small tmpfs made by this test; it fills up while market jobs end, slurmctld
# logs the error once with the path and keeps scheduling, and when space
# returns every segment gets its one receipt and the ledger verifies.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox

M=$(mktemp -d "${TMPDIR:-/tmp}/gmfull.XXXXXX")
if ! out=$(mount -t tmpfs -o size=1m,mode=0755 gmfull "$M" 2>&1); then
  rmdir "$M"
  skip_all "cannot mount a small tmpfs for the ledger here ($out): this needs root with CAP_SYS_ADMIN"
fi
cleanup_mount() { umount "$M" 2>/dev/null || umount -l "$M" 2>/dev/null; rmdir "$M" 2>/dev/null; }
trap "_sandbox_teardown; cleanup_mount" EXIT # slurmctld stops before the unmount
plan 12

sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 1 node x 4 GPUs and the gpumarket select plugin is up" || { finish; exit; }
D=$SANDBOX_DIR
market_conf LedgerDir "$M/ledger" >/dev/null
sub() { sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 -o /dev/null "$@"; }
first=$(sub --wrap 'sleep 1')
wait_for 60 receipt_count_is "$first" 1
ok $? "the first receipt is in the ledger on the small filesystem ($M/ledger)"

# A key others can read: receipts wait, the log says why, once.
chmod 644 "$D/etc/gpumarket.key" && scontrol reconfigure
k1=$(sub --wrap 'sleep 1')
wait_for 60 grep -q "gpumarket: receipts are not written: $D/etc/gpumarket.key: private key is accessible by group or others (mode 0644): run chmod 600" "$D/log/slurmctld.log"
ok $? "a key readable by others: slurmctld refuses to sign, naming the key and the fix"
wait_for 30 job_in_state "$k1" COMPLETED && sleep 2 && [ "$(receipt_count "$k1")" -eq 0 ]
ok $? "the job ran; its receipt waits"
chmod 600 "$D/etc/gpumarket.key" && scontrol reconfigure
wait_for 30 receipt_count_is "$k1" 1
ok $? "the key fixed and slurmctld reconfigured: the waiting receipt is written, once"

# Fill the filesystem to the last byte.
dd if=/dev/zero of="$M/fill" bs=4k >/dev/null 2>&1
dd if=/dev/zero of="$M/fill2" bs=1 >/dev/null 2>&1
[ "$(df --output=avail "$M" | tail -n 1 | tr -d ' ')" -eq 0 ]
ok $? "the ledger's filesystem is full"

ids=()
for i in $(seq 1 12); do ids+=("$(sub --wrap 'sleep 1')"); done
all_done() { local j; for j in "${ids[@]}"; do job_in_state "$j" COMPLETED || return 1; done; }
wait_for 180 all_done
ok $? "12 market jobs ran and completed while the ledger could not grow: scheduling went on"
wait_for 30 grep -q "gpumarket: receipts are not written: ledger $M/ledger: .*No space left on device" "$D/log/slurmctld.log"
n=$(grep -c "gpumarket: receipts are not written: ledger $M/ledger" "$D/log/slurmctld.log")
# The writer retries every 1 to 30 s; the error is logged when it starts,
# not at every retry (a receipt that still fits in the ledger file's last
# page may succeed in between and start a new episode).
[ "$n" -ge 1 ] && [ "$n" -le 3 ]
ok $? "slurmctld logged the error with the path, not at every retry ($n time(s)): $(grep -m1 "not written: ledger" "$D/log/slurmctld.log" | cut -c1-220)"
got=$(receipts_tsv | wc -l)
[ "$got" -lt 14 ]
ok $? "receipts wait while the disk is full ($got of 14 written)"

rm -f "$M/fill" "$M/fill2"
wait_for 90 receipts_at_least 14
receipts_tsv >"$D/receipts.tsv"
missing=0
for j in "${ids[@]}"; do [ "$(awk -F'\t' -v j="$j" '$1 == j' "$D/receipts.tsv" | wc -l)" -eq 1 ] || missing=$((missing + 1)); done
[ "$missing" -eq 0 ] && [ "$(wc -l <"$D/receipts.tsv")" -eq 14 ]
ok $? "space returned: each of the 12 segments has exactly one receipt ($(wc -l <"$D/receipts.tsv") in all, $missing missing)"
grep -q "gpumarket: receipts are written again to $M/ledger" "$D/log/slurmctld.log"
ok $? "slurmctld logged that receipts are written again"
out=$(gpumarket ledger verify --ledger "$M/ledger" --pubkey "$D/etc/gpumarket.pub" 2>&1)
grep -q '"ok":true' <<<"$out"
ok $? "the ledger verifies" || diag "$out"
finish
