#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# slurmctld with select/cons_tres_gpumarket under valgrind, through a short
# market workload (priced, refused, forged, capped, preempted, requeued,
# reconfigured), its receipt writer thread signing and appending the
# segments' receipts: no invalid read or write or use of uninitialised memory, and
# no block leaked by the plugin's own code or the market library.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
command -v valgrind >/dev/null || bail_out "valgrind is not installed (scripts/install-deps.sh installs it)"
forge=$top_builddir/tests/forge_submit
[ -x "$forge" ] || bail_out "$forge is not built (run the tests with make check)"
plan 9

W=$(mktemp -d "${TMPDIR:-/tmp}/gmvg.XXXXXX")
SLURMCTLD_REAL=$(PATH=$PATH:/usr/sbin:/sbin command -v slurmctld) || bail_out "slurmctld not found"
cat >"$W/slurmctld" <<EOS
#!/bin/sh
exec valgrind -q --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=none \
  --num-callers=40 --log-file="$W/vg.%p.log" "$SLURMCTLD_REAL" "\$@"
EOS
chmod +x "$W/slurmctld"

GPUMARKET_SLURMCTLD=$W/slurmctld GPUMARKET_SANDBOX_TIMEOUT=240 \
  sandbox_up --nodes 1 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with slurmctld under valgrind is up" || { finish; exit; }

a=$(sbatch --parsable -p market --gres=gpu:1 --market-bid=2.00 --market-max-cost=0.05 --requeue -o /dev/null --wrap 'sleep 300')
b=$(sbatch --parsable -p market --gres=gpu:2 --market-bid=0.50 -o /dev/null --wrap 'sleep 300')
c=$("$forge" market gres:gpu:1 GPUMARKET_BID_MICRO=abc)
d=$(sbatch --parsable -p market --gres=gpu:h100:1 -o /dev/null --wrap 'sleep 300')
wait_for 120 job_in_state "$a" RUNNING && wait_for 120 job_in_state "$d" RUNNING
ok $? "market jobs run under valgrind ($a, $d)"
wait_for 60 job_reason_is "$b" "gpumarket: bid 0.50 < price 1.00 (h100)" &&
  wait_for 60 eval "job_reason $c | grep -q GPUMARKET_BID_MICRO"
ok $? "refused and forged bids wait with their reasons"
scontrol update jobid="$a" TimeLimit=30 2>/dev/null
market_conf ReserveGPUsPerNode 0 IdleDwellSeconds 0 >/dev/null
loc=$(sbatch --parsable -p local --gres=gpu:4 -o /dev/null --wrap 'sleep 2')
wait_for 180 job_in_state "$loc" COMPLETED
ok $? "a local job preempted the market jobs and completed"
scancel "$a" "$b" "$c" "$d" 2>/dev/null
# The receipt writer thread ran under valgrind too: the segments the local
# job preempted have their receipts.
preempted_receipt() { receipts_of "$1" | cut -f9 | grep -qx preempted; }
wait_for 120 preempted_receipt "$a" && wait_for 60 preempted_receipt "$d"
ok $? "slurmctld's writer thread signed and appended receipts under valgrind ($(receipts_tsv | cut -f1,9 | tr '\t\n' ': '))"
# The quote endpoint's thread (QuotePort): a real request, a malformed one,
# one cut at the size limit and one left unfinished, all under valgrind.
P=$(sed -n 's/^QuotePort=//p' "$SANDBOX_DIR/etc/gpumarket.conf")
wait_for 60 bash -c "gpumarket quote --json --config '$SANDBOX_DIR/etc/gpumarket.conf' | grep -q '\"markets\":\[{'" &&
  python3 - "$P" <<'PY'
import socket, sys
for data in (b"nonsense\n", b"x" * 100000, b"gpumarket-quote"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
    try:
        s.sendall(data)
    except OSError:
        pass  # the server answered and closed before reading it all
    assert s.recv(4096).startswith(b'{"error":'), data[:20]
    s.close()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"gpumarket-quote 1 history\n")
doc = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    doc += d
assert doc.startswith(b'{"version":1') and b'"history":[{' in doc, doc[:200]
PY
ok $? "the quote endpoint answers (with its history too), and refuses bad requests, under valgrind"
sleep 5
pid=$(cat "$SANDBOX_DIR/run/slurmctld.pid")
ctld_alive
ok $? "slurmctld (pid $pid) is up"
scontrol shutdown slurmctld >/dev/null 2>&1
for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
! kill -0 "$pid" 2>/dev/null
ok $? "slurmctld shut down"

log=$W/vg.$pid.log
errors=$(grep -E 'Invalid (read|write|free)|uninitialised|Conditional jump|Mismatched free' "$log" | head -n 5)
ours=$(awk '/definitely lost in loss record/ { block = $0; keep = 0; next }
            block != "" && /^==[0-9]+== *$/ { if (keep) print block; block = ""; next }
            block != "" && /select_gpumarket|gm_|market\/|common\/(conf|money|text)/ { keep = 1 }
            END { if (block != "" && keep) print block }' "$log")
if [ -f "$log" ] && [ -z "$errors" ] && [ -z "$ours" ]; then
  ok 0 "no memory error and no leak from the plugin in slurmctld ($(wc -l <"$log") log lines)"
else
  ok 1 "no memory error and no leak from the plugin in slurmctld"
  diag "valgrind log $log:"$'\n'"$(head -n 80 "$log" 2>/dev/null)"
fi
rm -rf "$W"
finish
