#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gpumarket quote and gpumarket offers, live from slurmctld's select plugin
# (QuotePort of gpumarket.conf): the endpoint listens on the controller's
# address only; an idle cluster's offers follow ReserveGPUsPerNode; the
# price rises with demand and falls with supply; a low bid waits with the
# same reason squeue shows; malformed, huge, partial and idle clients get a
# bounded answer and never hold up slurmctld or other clients; QuotePort
# removed stops it, put back starts it; each failure names what is wrong
# (QuotePort unset, plugin not loaded, controller unreachable); and
# slurmctld's shutdown joins the serving thread.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 24

sandbox_up --nodes 2 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with 2 nodes x 4 h100, the gpumarket select plugin" || { finish; exit; }
D=$SANDBOX_DIR
export GPUMARKET_CONF=$D/etc/gpumarket.conf
P=$(sed -n 's/^QuotePort=//p' "$GPUMARKET_CONF")
wait_for 20 grep -q "gpumarket: quote endpoint listening on 127.0.0.1:$P (QuotePort)" "$D/log/slurmctld.log"
ok $? "slurmctld serves the quote on the controller's address 127.0.0.1:$P"
ctld_pid=$(tr -dc 0-9 <"$D/run/slurmctld.pid")
[ "$(ss -Hltn "sport = :$P" | awk '{ print $4 }')" = "127.0.0.1:$P" ]
ok $? "bound to 127.0.0.1 only, not to every address ($(ss -Hltn "sport = :$P" | awk '{ print $4 }'))"

# quote_json: the document, one line; qfield PYTHON-EXPR: a value from it.
quote_json() { gpumarket quote --json 2>/dev/null; }
qfield() {
  quote_json | python3 -c 'import json, sys
d = json.load(sys.stdin)
m = {x["type"]: x for x in d["markets"]}
j = {x["job_id"]: x for x in d["jobs"]}
o = {x["node"]: x["gpus"] for x in d["offers"]}
print('"$1"')' 2>/dev/null
}
qis() { [ "$(qfield "$1")" = "$2" ]; }

wait_for 20 qis 'm["h100"]["supply"]' 8
ok $? "an idle cluster offers its 8 GPUs at the reserve price"
out=$(gpumarket quote 2>&1)
diag "$out"
grep -Eq '^h100 +1\.00 +1\.00 +8 +0 +0 +0$' <<<"$out" && grep -q '^No market job is pending' <<<"$out"
ok $? "the table: type, reserve, price, offered, demanded, admitted, waiting"
gpumarket offers >"$D/offers.txt" 2>&1
grep -Eq '^gm1 +h100 +4$' "$D/offers.txt" && grep -Eq '^gm2 +h100 +4$' "$D/offers.txt"
ok $? "gpumarket offers lists 4 offered GPUs on each node"
market_conf ReserveGPUsPerNode 1 >/dev/null
wait_for 20 qis 'm["h100"]["supply"], o["gm1"], o["gm2"], d["reserve_gpus_per_node"]' "6 3 3 1"
ok $? "ReserveGPUsPerNode=1: 3 offered per node, 6 in all ($(qfield 'm["h100"]["supply"], o'))"
market_conf ReserveGPUsPerNode 0 >/dev/null
wait_for 20 qis 'm["h100"]["supply"]' 8

# Demand: two high bids take all 8 GPUs; a third waits for supply at a price
# its bid sets; a fourth, below the reserve price, waits below the price.
sub() { sbatch --parsable -p market --gres=gpu:4 -o /dev/null --market-bid="$1" --wrap 'sleep 300'; }
a=$(sub 3.00) && b=$(sub 2.00)
wait_for 60 job_in_state "$a" RUNNING && wait_for 60 job_in_state "$b" RUNNING
c=$(sub 1.50) && low=$(sub 0.50)
wait_for 30 qis 'm["h100"]["price_micro"], m["h100"]["supply"], m["h100"]["demand"]' "1500000 0 4"
ok $? "with more demand than supply the price rises to the highest bid left out: 1.50 ($(qfield 'm["h100"]'))"
gpumarket quote --history >"$D/history.txt" 2>&1
diag "$(cat "$D/history.txt")"
awk '$3 == "h100" { p = p " " $4 } END { print p }' "$D/history.txt" | grep -Eq '^ 1\.00( .*)? 1\.50'
ok $? "quote --history: the price of h100 went from the reserve 1.00 to 1.50"
wait_for 30 qis "j[$low][\"status\"], j[$c][\"status\"]" "below_price waiting_supply"
ok $? "the low bid $low is below the price, job $c waits for supply"
wait_for 30 bash -c "[ \"\$(squeue -h -j $low -o %R)\" = \"(\$(gpumarket quote --json | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)[\"jobs\"] if x[\"job_id\"] == $low][0][\"reason\"])'))\" ]"
ok $? "and quote shows the reason squeue shows: $(squeue -h -j "$low" -o %R)"
out=$(gpumarket quote 2>&1)
diag "$out"
grep -Eq "^$low +root +h100 +4 +0\.50 +1\.50 +below_price +gpumarket: bid 0\.50 < price 1\.50 \(h100\)$" <<<"$out"
ok $? "the table lists the low bid with its bid, price, status and reason"

# Clients that misbehave: each gets a bounded answer; none holds up the rest.
python3 - "$P" >"$D/clients.txt" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])
def ask(data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t = time.time()
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError as e:
        out += b"<%s>" % str(e).encode()
    s.close()
    return out.decode(errors="replace").strip(), time.time() - t
print("bad", *ask(b"GET / HTTP/1.0\r\n\r\n"))
print("huge", *ask(b"x" * (4 << 20)))
print("binary", *ask(bytes(range(256)) * 4))
print("partial", *ask(b"gpumarket-quote"))
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
doc, took = ask(b"gpumarket-quote 1\n")
print("behind-idle", took, doc[:40])
PY
diag "$(cut -c1-160 "$D/clients.txt")"
grep -q "^bad {\"error\":\"unknown request: send the line 'gpumarket-quote 1'\"}" "$D/clients.txt"
ok $? "a malformed request gets an error naming the request to send"
grep -q '^huge {"error":"request line too long"}' "$D/clients.txt" &&
  grep -q '^binary {"error":"' "$D/clients.txt"
ok $? "a 4 MiB request is cut at the request limit, binary garbage refused"
awk '$1 == "partial" { exit !($NF >= 0.9 && $NF < 4) }' "$D/clients.txt" &&
  grep -q '^partial {"error":"no complete request line in time"}' "$D/clients.txt"
ok $? "a request never finished is closed after its read deadline"
awk '$1 == "behind-idle" { exit !($2 < 2) }' "$D/clients.txt" && grep -q '^behind-idle [0-9.e-]* {"version":1' "$D/clients.txt"
ok $? "200 idle connections do not hold up a real client"
[ "$(tr -dc 0-9 <"$D/run/slurmctld.pid")" = "$ctld_pid" ] && kill -0 "$ctld_pid" && ctld_alive &&
  timeout 5 squeue -h >/dev/null
ok $? "slurmctld kept running and answering throughout"

# Supply grows: the top job ends, job $c starts, the price falls back.
scancel "$a"
wait_for 60 job_in_state "$c" RUNNING
wait_for 30 qis 'm["h100"]["price_micro"], m["h100"]["demand"], len(j)' "1000000 0 1"
ok $? "when supply grows job $c starts and the price falls back to the reserve ($(qfield 'm["h100"]["price_micro"]'))"

# What is wrong, named: QuotePort unset; the plugin not loaded; no controller.
market_conf QuotePort 0 >/dev/null
wait_for 20 grep -q "gpumarket: quote endpoint on port $P stopped" "$D/log/slurmctld.log"
out=$(gpumarket quote 2>&1); rc=$?
out2=$(gpumarket offers --port "$P" 2>&1); rc2=$?
[ $rc -eq 1 ] && grep -q "QuotePort is not set in $GPUMARKET_CONF" <<<"$out" &&
  [ $rc2 -eq 1 ] && grep -q "no quote from the controller at 127.0.0.1:$P (Connection refused)" <<<"$out2"
ok $? "QuotePort=0 and reconfigure: the endpoint stops; quote says so (exit $rc: $out)"
market_conf QuotePort "$P" >/dev/null
wait_for 20 qis 'm["h100"]["price_micro"]' 1000000
ok $? "QuotePort put back and reconfigure: served again"
mkdir -p "$D/stub"
cat >"$D/stub/scontrol" <<'EOF'
#!/bin/sh
echo "SelectType              = select/cons_tres"
echo "SlurmctldHost[0]        = vm(127.0.0.1)"
EOF
chmod +x "$D/stub/scontrol"
free_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(PATH=$D/stub:$PATH gpumarket quote --port "$free_port" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "the market plugin is not loaded: slurmctld runs SelectType=select/cons_tres" <<<"$out"
ok $? "a controller without the plugin: named (exit $rc: $out)"

# Shutdown: the endpoint goes with slurmctld (Slurm 22.05 calls the
# plugin's fini only in MEMORY_LEAK_DEBUG builds; reconfigure above showed
# the thread stopped and joined); the quote then names the unreachable
# controller.
scontrol shutdown slurmctld >/dev/null 2>&1
wait_for 30 bash -c "! kill -0 $ctld_pid 2>/dev/null" && ! ss -Hltn "sport = :$P" | grep -q .
ok $? "slurmctld's shutdown stops the endpoint (the port is closed)"
out=$(timeout 60 gpumarket quote 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "the controller is unreachable: \`scontrol show config\` failed" <<<"$out"
ok $? "with slurmctld gone: the controller is unreachable (exit $rc: $(head -c 200 <<<"$out"))"
! grep -E 'gpumarket: (quote|QuotePort)' "$D/log/slurmctld.log" | grep -qiE 'error|cannot'
ok $? "slurmctld logged no quote error"
finish
