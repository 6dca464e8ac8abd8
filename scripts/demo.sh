#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's main job: install what is missing, build, start a real sandbox
# Slurm cluster (3 nodes x 4 fake H100s) and play the whole market on it:
# the admin writes the market policy and makes the receipt key; buyers bid,
# the price rises with demand and a bid below the reserve waits with its
# reason (gpumarket quote, live from slurmctld); a buyer's distributed
# training runs on idle GPUs; a local researcher takes GPUs back from the
# cheapest lease, the training checkpoints, is requeued and resumes to
# exactly the result of an uninterrupted run; slurmctld signs one receipt
# per lease segment into the cluster's ledger, which the demo checkpoints,
# verifies, exports and sums up per buyer.  Every step is checked; the demo
# exits 0 only if every check held, and leaves its artifacts (ledger,
# checkpoints, receipts, logs, report.md) in one directory named at the end.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GPUMARKET_BUILD_DIR:-$top/build}
. "$top/scripts/demo-lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fail() { echo "gpumarket demo: $*" >&2; exit 1; }
# check DESCRIPTION COMMAND...: run a step's check; remember and report it.
failed=()
check() {
  local what=$1
  shift
  if "$@"; then
    printf '  \033[32m[ok]\033[0m %s\n' "$what"
    echo "- [x] $what" >>"$out/checks.md"
  else
    printf '  \033[31m[FAILED]\033[0m %s\n' "$what"
    echo "- [ ] **FAILED**: $what" >>"$out/checks.md"
    failed+=("$what")
  fi
}

[ "$(id -u)" -eq 0 ] || fail "run it as root: the sandbox cluster's daemons run as root"
started=$SECONDS
# GPUMARKET_DEMO_NO_INSTALL=1: use the build in $GPUMARKET_BUILD_DIR as it is
# (the tests do; a new user wants the install and the build).
if [ -z "${GPUMARKET_DEMO_NO_INSTALL:-}" ]; then
  "$top/scripts/install-deps.sh" || fail "installing the Debian packages failed"
  "$top/scripts/build.sh" "$build" >"$build.log" 2>&1 || { tail -n 30 "$build.log"; fail "the build failed (full log: $build.log)"; }
fi

sandbox=$build/sandbox/gpumarket-sandbox
export PATH=$build/cli:$PATH
out=${GPUMARKET_DEMO_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gpumarket-demo-result.XXXXXX")}
mkdir -p "$out" || fail "cannot create $out"
: >"$out/checks.md"
dir=$(mktemp -d "${TMPDIR:-/tmp}/gpumarket-demo.XXXXXX")
sampler=
# Keep what the run left (ledger, checkpoints, logs), then stop everything.
finish() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
  mkdir -p "$out/logs"
  cp -a "$dir/ledger" "$out/" 2>/dev/null
  cp -a "$dir/ckpt" "$out/checkpoint" 2>/dev/null
  cp "$dir"/log/*.log "$dir"/*.out "$out/logs/" 2>/dev/null
  cp "$dir/etc/gpumarket.conf" "$dir/etc/admin/gpumarket.pub" "$dir/etc/admin/gpumarket.vkey" "$out/" 2>/dev/null
  "$sandbox" down --dir "$dir" >/dev/null 2>&1
}
trap finish EXIT

say "1. Start a sandbox cluster: munge, slurmctld with the market's select plugin, 3 slurmd nodes with 4 fake H100 GPUs each"
eval "$("$sandbox" up --nodes 3 --gpus-per-node 4 --gpu-type h100 --select gpumarket --dir "$dir")" ||
  fail "the sandbox did not start (with select/cons_tres_gpumarket, whose market the demo shows)"
run bash -c "scontrol show config | grep -E '^SelectType '"
run sinfo -N -o '%N %P %t %G'

say "2. The admin writes the market policy (gpumarket.conf) and makes the receipt key"
conf=$dir/etc/gpumarket.conf
export GPUMARKET_CONF=$conf
origin=$(sed -n 's/^LedgerOrigin=//p' "$conf") quote_port=$(sed -n 's/^QuotePort=//p' "$conf")
dwell=5
mkdir -p "$dir/etc/admin"
cat >"$conf" <<EOF
# The market policy of this cluster (gpumarket.conf(5)): reserve price per
# GPU type, one GPU of every node kept for local work, a GPU offered only
# after $dwell s idle, the receipt key, the ledger and the live quote.
MarketPartition=market
ReservePrice=h100:1.00
MaxBid=100.00
Currency=USD
ReserveGPUsPerNode=1
IdleDwellSeconds=$dwell
ReceiptKey=$dir/etc/admin/gpumarket.key
VerifierKeys=$dir/etc/admin/gpumarket.vkey
LedgerDir=$dir/ledger
LedgerOrigin=$origin
QuotePort=$quote_port
EOF
run cat "$conf"
run gpumarket keygen --config "$conf" || fail "gpumarket keygen failed"
run ls -l "$dir/etc/admin"
run scontrol reconfigure
currency=USD
quote_is() { # quote_is PYTHON-CONDITION: on the live quote document
  gpumarket quote --json 2>/dev/null | python3 -c 'import json, sys
d = json.load(sys.stdin)
m = {x["type"]: x for x in d["markets"]}
j = {x["job_id"]: x for x in d["jobs"]}
o = {x["node"]: x["gpus"] for x in d["offers"]}
sys.exit(0 if ('"$1"') else 1)' 2>/dev/null
}
wait_until() { # wait_until SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}
check "slurmctld read the policy: ReserveGPUsPerNode=1 IdleDwellSeconds=$dwell" \
  wait_until 20 grep -q "market policy from $conf (reconfigure): MarketPartition=market ReserveGPUsPerNode=1 IdleDwellSeconds=$dwell" "$dir/log/slurmctld.log"
check "the idle cluster offers 3 of each node's 4 GPUs at the reserve price 1.00" \
  wait_until 30 quote_is 'm["h100"]["supply"] == 9 and o == {"gm1": 3, "gm2": 3, "gm3": 3} and m["h100"]["price_micro"] == 1000000'
run gpumarket quote
run gpumarket offers

# From now on: the live quote and the market's GPUs per node, every second.
(
  while :; do
    gpumarket quote --json >>"$out/quotes.jsonl" 2>/dev/null
    market_gpus_per_node | sed "s/^/$(date +%s) /" >>"$out/market-gpus.txt"
    sleep 1
  done
) &
sampler=$!

say "3. A buyer's mistake is refused before any job exists (spank_gpumarket.so)"
run sbatch -p market --market-bid=2,40 --wrap true || true
run sbatch -p market --market-bid=500 --wrap true || true
check "no job was queued by either" test "$(squeue -h | wc -l)" -eq 0

wait_state() { # wait_state JOB STATE SECONDS
  wait_until "$3" bash -c "scontrol show job $1 2>/dev/null | grep -q 'JobState=$2'" ||
    fail "job $1 did not reach $2 within $3 s"
}

say "4. Buyer ml-startup runs a data-parallel training: 6 ranks on 2 nodes (3 GPUs each), bidding 2.40 per GPU-hour"
train=$build/mpi-runtime/gpumarket-train
args="--steps 600 --batch-size 192 --seed 42 --deterministic"
cat >"$dir/train.sh" <<JOB
#!/bin/bash
#SBATCH --market-order=demo-order-1
#SBATCH --market-checkpoint-dir=$dir/ckpt
$(declare -f segment_status)
echo "segment \${SLURM_RESTART_COUNT:-0} started \$(date +%T) on \$SLURM_JOB_NODELIST"
echo "lease terms in the job: bid \$GPUMARKET_BID_MICRO micro-units/GPU-hour, cap \$GPUMARKET_MAX_COST_MICRO, order \$GPUMARKET_ORDER"
# Ranks of two slurmd on one host talk over TCP (see README, troubleshooting).
OMPI_MCA_btl=self,tcp srun --mpi=pmix $train $args --test-throttle-ms 40
rc=\$?
segment_status \$rc
exit \$rc
JOB
market=$(sbatch --parsable -p market -A ml-startup -N2 --ntasks-per-node=3 --gres=gpu:3 --requeue --open-mode=append \
  --market-bid=2.40 --market-max-cost=50 \
  -o "$dir/market-%j.out" -J market-train "$dir/train.sh") || fail "sbatch failed"
wait_state "$market" RUNNING 60
run squeue -o '%.9i %.9P %.12a %.14j %.8T %.10M %R'
train_price=$(scontrol show job "$market" | sed -n 's/.*gpumarket lease:.* price_micro=\([0-9]*\).*/\1/p')
check "its lease is locked at the clearing price $(money "${train_price:-0}"), not above its bid 2.40" \
  test -n "$train_price" -a "${train_price:-0}" -le 2400000
wait_until 120 grep -q '^step 60 loss' "$dir/market-$market.out" || fail "the training did not reach step 60"
echo "training... $(grep '^step 60 loss' "$dir/market-$market.out")"

say "5. More buyers bid for the 3 GPUs left: the price rises with demand; a bid below the reserve waits"
# Held, then released together: the three bids meet in one clearing.
bio=$(sbatch --parsable --hold -p market -A bio-lab --gres=gpu:2 --market-bid=2.00 -o "$dir/bio-%j.out" -J fold --wrap 'sleep 40') &&
  render=$(sbatch --parsable --hold -p market -A render-farm --gres=gpu:2 --market-bid=1.50 -o "$dir/render-%j.out" -J render --wrap 'sleep 8') &&
  student=$(sbatch --parsable --hold -p market -A student --gres=gpu:1 --market-bid=0.50 -o "$dir/student-%j.out" -J homework --wrap 'sleep 8') ||
  fail "sbatch failed"
run scontrol release "$bio,$render,$student"
echo "bio-lab bids 2.00 for 2 GPUs (job $bio), render-farm 1.50 for 2 (job $render), student 0.50 for 1 (job $student)"
check "only one of the 2-GPU bids fits: bio-lab's 2.00 runs, the price rises to the highest bid left out, 1.50" \
  wait_until 60 quote_is "m['h100']['price_micro'] == 1500000 and j[$render]['status'] == 'waiting_supply' and $bio not in j"
check "the student's bid 0.50, below the reserve 1.00, waits with its reason" \
  wait_until 30 quote_is "j[$student]['status'] == 'below_price' and j[$student]['reason'].startswith('gpumarket: bid 0.50 < price')"
run gpumarket quote
# Between the market's passes the main scheduler may show "Priority" for a
# moment; the market's own reason comes back at its next pass.
same_reason() {
  reason=$(squeue -h -j "$student" -o %R)
  quoted=$(gpumarket quote --json | python3 -c 'import json, sys
print([x["reason"] for x in json.load(sys.stdin)["jobs"] if x["job_id"] == int(sys.argv[1])][0])' "$student" 2>/dev/null)
  [ "$reason" = "($quoted)" ]
}
check "squeue shows the student the quote's reason" wait_until 30 same_reason
echo "squeue: $reason"
bio_price=$(scontrol show job "$bio" | sed -n 's/.*gpumarket lease:.* price_micro=\([0-9]*\).*/\1/p')
echo "bio-lab's lease is locked at $(money "${bio_price:-0}") (the training's at $(money "${train_price:-0}"))"

say "6. A local researcher needs 4 GPUs of one node (partition local): the cheapest lease is preempted first"
local_job=$(sbatch --parsable -p local -N1 --gres=gpu:4 -o "$dir/local-%j.out" -J local-sim \
  --wrap 'echo "local job on $SLURM_JOB_NODELIST"; sleep 10') || fail "sbatch failed"
wait_state "$local_job" RUNNING 90
echo "Slurm sent the cheapest market job its preemption signal; the ranks agreed at a step boundary,"
echo "wrote a checkpoint and exited 75, and Slurm requeued the job (RequeueExit=75):"
wait_until 30 grep -q 'preempted after' "$dir/market-$market.out"
run grep -E 'preempted after|checkpoint step' "$dir/market-$market.out"
run squeue -o '%.9i %.9P %.12a %.14j %.8T %.10M %R'
check "the training (lease $(money "${train_price:-0}"), the cheapest) was preempted and requeued" \
  bash -c "scontrol show job $market | grep -q 'Restarts=1'"
check "bio-lab's dearer lease ($(money "${bio_price:-0}")) kept running" \
  bash -c "scontrol show job $bio | grep -q 'JobState=RUNNING' && scontrol show job $bio | grep -q 'Restarts=0'"
check "the cheapest lease was the one preempted" test "${train_price:-0}" -le "${bio_price:-0}"

say "7. The local job ends; after the $dwell s dwell the GPUs are offered again and the training resumes from its checkpoint"
wait_state "$local_job" COMPLETED 90
local_end=$(date -d "$(scontrol show job "$local_job" | sed -n 's/.*EndTime=\([^ ]*\).*/\1/p')" +%s)
wait_state "$market" RUNNING 120
echo "market job $market is running again"
wait_state "$market" COMPLETED 240
run grep -v '^step ' "$dir/market-$market.out"

say "8. The same training without any interruption, for comparison (partition local, same ranks and nodes)"
ref=$(OMPI_MCA_btl=self,tcp srun -p local -N2 --ntasks-per-node=3 --gres=gpu:3 --mpi=pmix $train $args --quiet 2>/dev/null |
      sed -n 's/^final loss \([^ ]*\).*/\1/p')
got=$(sed -n 's/^final loss \([^ ]*\).*/\1/p' "$dir/market-$market.out" | tail -n 1)
echo "uninterrupted final loss: $ref"
echo "preempted + resumed loss: $got"
check "the resumed run reached exactly the uninterrupted loss" test -n "$ref" -a "$ref" = "$got"

say "9. What the buyers and an auditor get: slurmctld signed one receipt per lease segment"
wait_state "$bio" COMPLETED 120
wait_state "$render" COMPLETED 120
echo "The student gives up the bid that never reached the reserve: it never ran, so it has no receipt."
run scancel "$student"
kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
sampler=
# The training's two segments, bio-lab's and render-farm's jobs.
receipts_ready() {
  gpumarket receipts export --config "$conf" >"$out/receipts.jsonl" &&
    segments_are "$out/receipts.jsonl" "$market" "0:preempted 1:completed" &&
    segments_are "$out/receipts.jsonl" "$bio" "0:completed" &&
    segments_are "$out/receipts.jsonl" "$render" "0:completed" &&
    segments_are "$out/receipts.jsonl" "$student" "" &&
    { [ "$(grep -c . "$out/receipts.jsonl")" -eq 4 ] ||
      { echo "the ledger holds $(grep -c . "$out/receipts.jsonl") receipts, expected 4" >&2; return 1; }; }
}
check "every lease segment has exactly one receipt from slurmctld (training: preempted + completed; bio-lab, render-farm: completed; student: none)" \
  wait_receipts 60 receipts_ready
echo "The ledger ($dir/ledger) as slurmctld wrote it: sequence, job, segment, user, account,"
echo "GPUs, start, end, end reason, amount (micro-$currency), energy source, recovered:"
run gpumarket receipts list --config "$conf"
echo "The price locked per segment, never above the bid, billed per second of allocated GPU time:"
billing_ok=yes
while IFS= read -r line; do
  receipt_summary "$line" "$currency" || billing_ok=no
  [ "$(receipt_field "$line" job_id)" != "$market" ] ||
    [ "$(receipt_field "$line" price_micro_per_gpu_hour)" -le 2400000 ] || billing_ok=no
done <"$out/receipts.jsonl"
check "every receipt follows the billing rule and no price is above its bid" test $billing_ok = yes
resume_start=$(while IFS= read -r l; do
  [ "$(receipt_field "$l" job_id)" = "$market" ] && [ "$(receipt_field "$l" segment)" = 1 ] && receipt_field "$l" start
done <"$out/receipts.jsonl")
check "the GPUs the local job freed were leased again only after the dwell time (resumed $((${resume_start:-0} - ${local_end:-0})) s after it ended, dwell $dwell s)" \
  test "${resume_start:-0}" -ge $((${local_end:-0} + dwell))
check "market jobs never held more than 3 of a node's 4 GPUs (ReserveGPUsPerNode=1; samples in market-gpus.txt)" \
  over_reserve "$out/market-gpus.txt" 4 1
echo "An auditor gets a signed checkpoint of the ledger and verifies the ledger against the"
echo "cluster's public key (every receipt's signature, the Merkle tree, the checkpoint):"
printf '$ %s\n' "gpumarket ledger checkpoint --config $conf"
gpumarket ledger checkpoint --config "$conf" >"$out/checkpoint.txt" || fail "gpumarket ledger checkpoint failed"
cat "$out/checkpoint.txt"
printf '$ %s\n' "gpumarket ledger verify --config $conf --pubkey $dir/etc/admin/gpumarket.pub"
verdict=$(gpumarket ledger verify --config "$conf" --pubkey "$dir/etc/admin/gpumarket.pub" 2>&1)
echo "$verdict"
grep -q '"ok":true' <<<"$verdict" && grep -q '"signatures_checked":true' <<<"$verdict" &&
  grep -q '"checkpoint_size":4' <<<"$verdict" || fail "the ledger does not verify with the cluster's public key"
check "the ledger and its checkpoint verify with the cluster's public key" true
echo "One receipt (the preempted segment) with the openssl command alone, as gpumarket(1) shows:"
mkdir -p "$out/audit" && cp "$dir/etc/admin/gpumarket.pub" "$out/audit/cluster.pub"
gpumarket receipts export --config "$conf" --job "$market" | head -n 1 >"$out/audit/r.json"
check "one receipt verifies with the openssl command alone" verify_with_openssl "$out/audit"
verified=0
while IFS= read -r line; do
  printf '%s\n' "$line" | gpumarket verify --pubkey "$dir/etc/admin/gpumarket.pub" - >/dev/null 2>&1 && verified=$((verified + 1))
done <"$out/receipts.jsonl"
check "each of the 4 receipts verifies on its own (gpumarket verify): $verified" test $verified -eq 4
echo "The receipts for the external market, as JSON lines and CSV:"
printf '$ %s\n' "gpumarket receipts export --config $conf --format csv > $out/receipts.csv"
gpumarket receipts export --config "$conf" --format csv >"$out/receipts.csv"
cat "$out/receipts.csv"
check "exported: $out/receipts.jsonl and $out/receipts.csv (header + 4 rows)" \
  test "$(grep -c . "$out/receipts.csv")" -eq 5

say "10. Summary"
echo "The price history as slurmctld recorded it:"
printf '$ %s\n' "gpumarket quote --history"
gpumarket quote --history | tee "$out/price-history.txt"
quote_prices "$out/quotes.jsonl" >"$out/prices.tsv"
{
  echo "# gpumarket demo: the market scenario"
  echo
  echo "Sandbox: 3 nodes x 4 h100, ReservePrice=h100:1.00, ReserveGPUsPerNode=1, IdleDwellSeconds=$dwell."
  echo "Ran in $((SECONDS - started)) s on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  demo_summary "$out/receipts.jsonl" "$out/prices.tsv" "$verified" "$currency"
  echo
  echo "## Checks"
  echo
  cat "$out/checks.md"
} >"$out/report.md"
sed -n '/^## Buyers/,/^## Checks/p' "$out/report.md" | sed '$d'

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "gpumarket demo: ${#failed[@]} check(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "Artifacts (ledger, checkpoint, receipts, logs, report.md): $out" >&2
  exit 1
fi
say "Done in $((SECONDS - started)) s: the market priced, admitted, preempted and billed every lease, and every receipt verifies."
echo "Artifacts (ledger, checkpoint, receipts.jsonl/.csv, logs, report.md): $out"
echo "The sandbox is stopped and removed. To keep a cluster to play with:"
echo "  $sandbox up --nodes 3 --gpus-per-node 4"
