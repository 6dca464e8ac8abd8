#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Governance as three admins and an auditor meet it, with real keys from
# gpumarket keygen and files on disk: a 2-of-3 change of the h100 reserve
# price is proposed, signed offline, applied and shown; refusals leave the
# ledger as it was; receipts name the policy; ledger verify checks it all
# and catches a policy leaf changed on disk; Python's cryptography checks the
# admins' signatures from the record's canonical bytes and the record's
# inclusion in the signed checkpoint; Go's transparency-log verifier
# (golang.org/x/mod/sumdb) accepts the checkpoint and the record's inclusion.
. "$(dirname "$0")/tap/preamble.sh"

D=$TEST_TMPDIR
unset GPUMARKET_LEDGER_DIR GPUMARKET_RECEIPT_KEY
for a in alice bob carol dave; do
  gpumarket keygen --name "admins.example/$a" --out "$D/$a" >/dev/null || bail_out "keygen $a"
done
gpumarket keygen --name cluster.example/ledger --out "$D/cluster" >/dev/null || bail_out "keygen"
cat >"$D/gpumarket.conf" <<EOF
MarketPartition=market
ReservePrice=h100:1.00
LedgerDir=$D/ledger
ReceiptKey=$D/cluster.key
VerifierKeys=$D/cluster.vkey
PolicyAdmins=$D/alice.vkey,$D/bob.vkey,$D/carol.vkey
PolicyThreshold=2
EOF
export GPUMARKET_CONF=$D/gpumarket.conf
cp "$D/gpumarket.conf" "$D/gpumarket.conf.orig"
receipt() { # receipt JOB START PRICE
  echo "{\"version\":1,\"cluster\":\"c\",\"job_id\":$1,\"segment\":0,\"user\":\"ada\",\"account\":\"phys\",\"nodes\":\"gm1\",\"gpu_type\":\"h100\",\"gpu_count\":1,\"start\":$2,\"end\":$(($2 + 3600)),\"price_micro_per_gpu_hour\":$3,\"end_reason\":\"completed\"}"
}
receipt 1 1000 1000000 | gpumarket ledger append --origin cluster.example/ledger >/dev/null ||
  bail_out "append"
size() { gpumarket ledger verify --hash-only | sed 's/.*"size":\([0-9]*\).*/\1/'; }

test_expect_success 'without a policy, policy show says the conf values apply' '
  gpumarket policy show >out &&
  test_grep "no policy in force" out &&
  gpumarket policy show --json >out &&
  test_grep "^{\"policy\":null}$" out
'

test_expect_success 'policy propose writes a canonical proposal with the zero parent' '
  gpumarket policy propose --set ReservePrice=h100:2.00,a100:1.00 --set IdleDwellSeconds=5 \
    --reason "raise the h100 reserve" --expires 7d --out p1.json >out &&
  test_grep "\"parent\":\"0000000000000000000000000000000000000000000000000000000000000000\"" out &&
  test_grep "^{\"expires\":[0-9]*,\"parent\":\"0\{64\}\",\"reason\":\"raise the h100 reserve\",\"values\":{\"IdleDwellSeconds\":\"5\",\"ReservePrice\":\"h100:2.00,a100:1.00\"},\"version\":1}$" p1.json
'

test_expect_success 'a value the config parser refuses is refused at propose, naming the key' '
  test_must_fail gpumarket policy propose --set ReservePrice=h100:cheap --reason x \
    --expires 1d --out bad.json 2>err &&
  test_grep "gpumarket: policy propose: .*ReservePrice: GPU type h100" err &&
  test_must_fail test -e bad.json &&
  test_must_fail gpumarket policy propose --set LedgerDir=/tmp --set ReservePrice=1 --reason x \
    --expires 1d --out bad.json 2>err &&
  test_grep "\"LedgerDir\" is not a market key" err
'

test_expect_success 'alice and carol sign offline, each with their own key' '
  gpumarket policy sign p1.json --key "$D/alice.key" --out alice.sig >out &&
  test_grep "\"name\":\"admins.example/alice\"" out &&
  gpumarket policy sign p1.json --key "$D/carol.key" --out carol.sig &&
  gpumarket policy sign p1.json --key "$D/dave.key" --out dave.sig &&
  gpumarket policy sign p1.json --key "$D/bob.key" --out bob.sig
'

test_expect_success 'one signature is refused, naming the proposal; nothing is appended' '
  test_must_fail gpumarket policy apply p1.json alice.sig 2>err &&
  test_grep "gpumarket: policy apply: p1.json: 1 valid admin signature, and 2 are required" err &&
  test_grep "nothing was appended" err &&
  test "$(size)" = 1
'

test_expect_success 'the same admin twice is refused, naming the file' '
  cp alice.sig alice-again.sig &&
  test_must_fail gpumarket policy apply p1.json alice.sig alice-again.sig 2>err &&
  test_grep "alice-again.sig: key id .* signed already (alice.sig)" err &&
  test "$(size)" = 1
'

test_expect_success 'an admin not listed in PolicyAdmins does not count' '
  test_must_fail gpumarket policy apply p1.json alice.sig dave.sig 2>err &&
  test_grep "dave.sig: key id .* is not a listed admin" err &&
  test "$(size)" = 1
'

test_expect_success 'a value changed after signing is refused' '
  sed "s/h100:2.00/h100:0.01/" p1.json >p1-edited.json &&
  test_must_fail gpumarket policy apply p1-edited.json alice.sig carol.sig 2>err &&
  test_grep "alice.sig: signs policy .*, not this proposal" err &&
  test "$(size)" = 1
'

test_expect_success 'malformed and truncated files are refused, naming them' '
  head -c 60 p1.json >trunc.json &&
  test_must_fail gpumarket policy apply trunc.json alice.sig carol.sig 2>err &&
  test_grep "gpumarket: policy apply: trunc.json: " err &&
  head -c 40 carol.sig >trunc.sig &&
  test_must_fail gpumarket policy apply p1.json alice.sig trunc.sig 2>err &&
  test_grep "gpumarket: policy apply: trunc.sig: " err &&
  test_must_fail gpumarket policy sign trunc.json --key "$D/alice.key" --out x.sig 2>err &&
  test_grep "trunc.json" err &&
  test "$(size)" = 1
'

test_expect_success 'alice and carol (2 of 3) apply the change' '
  gpumarket policy apply --delay 0 p1.json alice.sig carol.sig >out &&
  test_grep "\"index\":1,\"signatures\":2,\"in_force_from\":[0-9]*,\"admins_from\":\"PolicyAdmins\"" out &&
  test "$(size)" = 2
'

test_expect_success 'policy show names the policy, its signers and values' '
  gpumarket policy show >out &&
  test_grep "^policy   [0-9a-f]\{64\}$" out &&
  test_grep "admins.example/alice" out &&
  test_grep "admins.example/carol" out &&
  test_grep "ReservePrice=h100:2.00,a100:1.00" out &&
  gpumarket policy show --json >show.json &&
  test_grep "\"index\":1,\"applied\":[0-9]*,\"parent\":\"0\{64\}\"" show.json
'

test_expect_success 'applying it again is a stale parent' '
  test_must_fail gpumarket policy apply p1.json alice.sig carol.sig 2>err &&
  test_grep "stale parent" err &&
  test "$(size)" = 2
'

test_expect_success 'the next proposal builds on it; an older one is stale' '
  p1=$(sed -n "s/.*\"policy\":\"\([0-9a-f]*\)\".*/\1/p" show.json) &&
  gpumarket policy propose --set ReservePrice=h100:3.00,a100:1.00 --reason later --expires 1h \
    --out p2.json >out &&
  test_grep "\"parent\":\"$p1\"" out &&
  test_grep "\"IdleDwellSeconds\":\"5\"" p2.json &&
  gpumarket policy propose --set MaxBid=50 --reason racing --expires 1h --out p3.json &&
  gpumarket policy sign p2.json --key "$D/bob.key" --out p2b.sig &&
  gpumarket policy sign p2.json --key "$D/carol.key" --out p2c.sig &&
  gpumarket policy sign p3.json --key "$D/alice.key" --out p3a.sig &&
  gpumarket policy sign p3.json --key "$D/bob.key" --out p3b.sig &&
  gpumarket policy apply --delay 0 p2.json p2b.sig p2c.sig &&
  test_must_fail gpumarket policy apply p3.json p3a.sig p3b.sig 2>err &&
  test_grep "stale parent" err &&
  gpumarket policy history >hist &&
  test "$(grep -c "^policy " hist)" = 2
'

test_expect_success 'receipts name the policy in force at their start' '
  now=$(date +%s) &&
  receipt 2 "$now" 3000000 | gpumarket ledger append >r2 &&
  p2=$(gpumarket policy show --json | sed -n "s/^{\"policy\":\"\([0-9a-f]*\)\".*/\1/p") &&
  test_grep "\"policy\":\"$p2\"" r2 &&
  gpumarket receipts export --format csv >csv &&
  test "$(tail -1 csv | cut -d, -f23)" = "$p2" &&
  test "$(sed -n 2p csv | cut -d, -f23)" = ""
'

test_expect_success 'ledger verify checks the policies with the pinned admins' '
  gpumarket ledger verify >out &&
  test_grep "\"ok\":true,\"size\":4" out &&
  test_grep "\"admins_from\":\"PolicyAdmins\"" out &&
  gpumarket ledger verify --admin-key "$D/alice.vkey" --admin-key "$D/bob.vkey" \
    --admin-key "$D/carol.pub" --threshold 2 >out &&
  test_grep "\"admins_from\":\"--admin-key\"" out
'

test_expect_success 'an auditor with the wrong admins or threshold gets a failure' '
  test_must_fail gpumarket ledger verify --admin-key "$D/alice.vkey" --admin-key "$D/bob.vkey" \
    --threshold 2 >out 2>err &&
  test_grep "\"bad_index\":1" out &&
  test_must_fail gpumarket ledger verify --admin-key "$D/alice.vkey" --admin-key "$D/bob.vkey" \
    --admin-key "$D/carol.vkey" --threshold 3 >out 2>err &&
  test_grep "3 are required" out
'

test_expect_success 'a receipt under the reserve price is caught by verify' '
  receipt 3 "$(date +%s)" 2500000 | gpumarket ledger append >/dev/null &&
  test_must_fail gpumarket ledger verify >out 2>err &&
  test_grep "\"bad_index\":4" out &&
  test_grep "below the h100 reserve price 3000000" out
'

# Python's cryptography, an independent Ed25519 and JSON implementation,
# checks an admin's signature on the policy record from its canonical bytes.
pycrypto=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import cryptography' 2>/dev/null && { pycrypto=$p; break; }
done
[ -n "$pycrypto" ] && test_set_prereq PYCRYPTO ||
  test_missing_prereq PYCRYPTO "no python3 with the cryptography module (Debian python3-cryptography; scripts/install-deps.sh)"
test_expect_success PYCRYPTO 'Python verifies the admins signatures from the canonical record bytes' '
  "$pycrypto" - show.json "$D/alice.pub" "$D/carol.pub" "$D/bob.pub" >py.out 2>&1 <<-\PY &&
	import base64, hashlib, json, sys
	from cryptography.hazmat.primitives.serialization import load_pem_public_key
	shown = json.loads(open(sys.argv[1], "rb").read())
	record = shown["record"]
	canon = lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
	h = hashlib.sha256(canon(record["policy"])).hexdigest()
	assert h == shown["policy"], "the policy hash is SHA-256 of the canonical proposal"
	msg = b"gpumarket-policy-v1\n" + bytes.fromhex(h)
	good = 0
	for path in sys.argv[2:]:
	    key = load_pem_public_key(open(path, "rb").read())
	    for s in record["signatures"]:
	        try:
	            key.verify(base64.b64decode(s["sig"]), msg)
	            good += 1
	        except Exception:
	            pass
	assert good == 2, "alice and carol signed, bob did not: %d" % good
	tampered = dict(record["policy"], reason="edited")
	m2 = b"gpumarket-policy-v1\n" + hashlib.sha256(canon(tampered)).digest()
	key = load_pem_public_key(open(sys.argv[2], "rb").read())
	for s in record["signatures"]:
	    try:
	        key.verify(base64.b64decode(s["sig"]), m2)
	        sys.exit("a signature verified an edited proposal")
	    except Exception:
	        pass
	print("ok")
	PY
  test_grep "^ok$" py.out
'

test_expect_success PYCRYPTO 'Python checks the policy record is in the signed checkpoint' '
  gpumarket ledger checkpoint >cp &&
  gpumarket ledger prove 1 >proof.json &&
  "$pycrypto" - show.json proof.json cp "$D/cluster.pub" >py2.out 2>&1 <<-\PY &&
	import base64, hashlib, json, sys
	from cryptography.hazmat.primitives.serialization import load_pem_public_key
	shown = json.loads(open(sys.argv[1], "rb").read())
	proof = json.loads(open(sys.argv[2], "rb").read())
	note = open(sys.argv[3], "rb").read().decode()
	canon = json.dumps(shown["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
	leaf = hashlib.sha256(b"\x00" + canon).digest()
	assert leaf.hex() == proof["leaf_hash"], "the leaf is the canonical policy record"
	# RFC 9162 2.1.3.2: the inclusion proof from the leaf to the root.
	fn, sn, r = proof["index"], proof["tree_size"] - 1, leaf
	for p in (bytes.fromhex(x) for x in proof["proof"]):
	    if sn == 0:
	        sys.exit("proof too long")
	    if fn % 2 == 1 or fn == sn:
	        r = hashlib.sha256(b"\x01" + p + r).digest()
	        while fn % 2 == 0 and fn != 0:
	            fn >>= 1
	            sn >>= 1
	    else:
	        r = hashlib.sha256(b"\x01" + r + p).digest()
	    fn >>= 1
	    sn >>= 1
	assert sn == 0, "proof too short"
	body, sigs = note.split("\n\n", 1)
	origin, size, root = body.split("\n")[:3]
	assert int(size) == proof["tree_size"] and base64.b64decode(root) == r, "root is the signed one"
	sig = base64.b64decode(sigs.split(" ")[2].strip())[4:]
	load_pem_public_key(open(sys.argv[4], "rb").read()).verify(sig, (body + "\n").encode())
	print("ok")
	PY
  test_grep "^ok$" py2.out
'

# Go's transparency-log code (golang.org/x/mod/sumdb: note and tlog, Debian's
# golang-go and golang-golang-x-mod-dev, scripts/install-deps.sh).
gobin=$TEST_TMPDIR/tlog_check
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog ] &&
  GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=$TEST_TMPDIR/gocache GOFLAGS= \
    go build -o "$gobin" "$top_srcdir/tests/peers/tlog_check.go" >"$TEST_TMPDIR/go.log" 2>&1; then
  test_set_prereq GOTLOG
else
  test_missing_prereq GOTLOG "no Go toolchain with golang.org/x/mod/sumdb (Debian golang-go and golang-golang-x-mod-dev; scripts/install-deps.sh): $(tail -n 1 "$TEST_TMPDIR/go.log" 2>/dev/null)"
fi

test_expect_success GOTLOG 'Go (x/mod/sumdb note and tlog) accepts the checkpoint and the policy record in it' '
  gpumarket ledger checkpoint >go-cp &&
  gpumarket policy show --json >go-show.json &&
  index=$(sed -n "s/.*\"index\":\([0-9]*\),.*/\1/p" go-show.json) &&
  gpumarket ledger prove "$index" >go-proof.json &&
  "$gobin" "$D/cluster.vkey" go-cp go-show.json go-proof.json >go.out 2>&1 &&
  test_grep "^ok cluster.example/ledger record $index of " go.out &&
  sed "s/h100:3.00/h100:0.01/" go-show.json >go-edited.json &&
  test_must_fail "$gobin" "$D/cluster.vkey" go-cp go-edited.json go-proof.json 2>go.err &&
  test_grep "leaf hash" go.err &&
  sed "2s/\$/0/" go-cp >go-cp-edited && ! cmp -s go-cp go-cp-edited &&
  test_must_fail "$gobin" "$D/cluster.vkey" go-cp-edited go-show.json go-proof.json 2>go.err &&
  test_grep "checkpoint" go.err
'

test_expect_success 'a policy leaf changed on disk fails verify, named by index' '
  cp -r "$D/ledger" "$D/ledger-copy" &&
  "${pycrypto:-python3}" -c "
import sys
p = sys.argv[1]
b = open(p, \"rb\").read()
assert b.count(b\"h100:3.00\") == 1
open(p, \"wb\").write(b.replace(b\"h100:3.00\", b\"h100:0.01\"))
" "$D/ledger/ledger" &&
  test_must_fail gpumarket ledger verify --hash-only >out 2>err &&
  test_grep "\"bad_index\":2" out &&
  test_grep "leaf hash" out
'

test_expect_success 'and with its leaf hash recomputed, the admins signatures fail (verify, and the writer)' '
  "${pycrypto:-python3}" -c "
import hashlib, struct, sys
p = sys.argv[1]
b = bytearray(open(p, \"rb\").read())
i = b.find(b\"h100:0.01\")
start = b.rfind(b\"GMRC\", 0, i)
n = struct.unpack(\">I\", b[start + 4:start + 8])[0]
data = bytes(b[start + 12:start + 12 + n])
b[start + 12 + n:start + 44 + n] = hashlib.sha256(b\"\\x00\" + data).digest()
open(p, \"wb\").write(bytes(b))
" "$D/ledger/ledger" &&
  test_must_fail gpumarket ledger verify --hash-only >out 2>err &&
  test_grep "rewritten" out &&
  test_must_fail gpumarket ledger verify >out 2>err &&
  test_grep "\"bad_index\":2" out &&
  test_grep "does not verify" out &&
  receipt 4 "$(date +%s)" 3000000 | test_must_fail gpumarket ledger append >out 2>err &&
  test_grep "record 2: policy record: .* does not verify" err
'

test_expect_success 'a policy can come before the first receipt: apply creates the ledger; by default it is in force 5 s later' '
  sed -e "s|^LedgerDir=.*|LedgerDir=$D/new-ledger|" gpumarket.conf.orig >new.conf &&
  echo LedgerOrigin=cluster.example/ledger >>new.conf &&
  GPUMARKET_CONF=$PWD/new.conf gpumarket policy propose --set ReservePrice=h100:2.00 \
    --reason "opening day" --expires 1d --out first.json >out &&
  test_grep "\"parent\":\"0\{64\}\"" out &&
  gpumarket policy sign first.json --key "$D/alice.key" --out f-a.sig &&
  gpumarket policy sign first.json --key "$D/bob.key" --out f-b.sig &&
  before=$(date +%s) &&
  GPUMARKET_CONF=$PWD/new.conf gpumarket policy apply first.json f-a.sig f-b.sig >out &&
  test_grep "\"index\":0," out &&
  in_force=$(sed -n "s/.*\"in_force_from\":\([0-9]*\).*/\1/p" out) &&
  test "$in_force" -ge $((before + 5)) && test "$in_force" -le $((before + 7)) &&
  receipt 8 "$before" 2000000 | GPUMARKET_CONF=$PWD/new.conf gpumarket ledger append >r8 &&
  test_grep -v "\"policy\":\"" r8 &&
  receipt 9 "$in_force" 2000000 | GPUMARKET_CONF=$PWD/new.conf gpumarket ledger append >r9 &&
  test_grep "\"policy\":\"" r9 &&
  GPUMARKET_CONF=$PWD/new.conf gpumarket ledger verify >out &&
  test_grep "\"ok\":true,\"size\":3" out
'

test_done
