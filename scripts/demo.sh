#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's main job: install what is missing, build, start a real sandbox
# Slurm cluster (3 nodes x 4 fake H100s) and play the market scenario on it:
# a buyer's distributed training runs on idle GPUs in the market partition, a
# local researcher takes the GPUs back, the training checkpoints, is requeued
# and resumes to exactly the result of an uninterrupted run; the market runs
# inside slurmctld (select/cons_tres_gpumarket), which signs one receipt per
# lease segment into the cluster's ledger, and the demo ends by verifying
# them as a buyer and an auditor would.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${GPUMARKET_BUILD_DIR:-$top/build}
. "$top/scripts/demo-lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
fail() { echo "gpumarket demo: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run it as root: the sandbox cluster's daemons run as root"
"$top/scripts/install-deps.sh" || fail "installing the Debian packages failed"
"$top/scripts/build.sh" "$build" >"$build.log" 2>&1 || { tail -n 30 "$build.log"; fail "the build failed (full log: $build.log)"; }

sandbox=$build/sandbox/gpumarket-sandbox
dir=$(mktemp -d "${TMPDIR:-/tmp}/gpumarket-demo.XXXXXX")
trap '"$sandbox" down --dir "$dir" >/dev/null 2>&1' EXIT

say "1. Start a sandbox cluster: munge, slurmctld with the market's select plugin, 3 slurmd nodes with 4 fake H100 GPUs each"
eval "$("$sandbox" up --nodes 3 --gpus-per-node 4 --gpu-type h100 --select gpumarket --dir "$dir")" ||
  fail "the sandbox did not start (with select/cons_tres_gpumarket, whose receipts the demo shows)"
run bash -c "scontrol show config | grep -E '^SelectType '"
echo "slurmctld signs receipts with the cluster key $dir/etc/gpumarket.key (made by gpumarket keygen)"
run sinfo -N -o '%N %P %t %G'

wait_state() { # wait_state JOB STATE SECONDS
  local deadline=$((SECONDS + $3))
  until scontrol show job "$1" 2>/dev/null | grep -q "JobState=$2"; do
    [ $SECONDS -ge $deadline ] && fail "job $1 did not reach $2 within $3 s"
    sleep 0.5
  done
}

say "2. A buyer's mistake is refused before any job exists (spank_gpumarket.so)"
run sbatch -p market --market-bid=2,40 --wrap true || true
run sbatch -p market --market-bid=500 --wrap true || true
echo "jobs in the queue after both: $(squeue -h | wc -l)"

say "3. A market buyer submits a data-parallel training run: 8 ranks on 2 nodes, bidding 2.40 per GPU-hour"
train=$build/mpi-runtime/gpumarket-train
args="--steps 400 --batch-size 128 --seed 42 --deterministic"
cat >"$dir/train.sh" <<JOB
#!/bin/bash
#SBATCH --market-order=demo-order-1
#SBATCH --market-checkpoint-dir=$dir/ckpt
$(declare -f segment_status)
echo "segment \${SLURM_RESTART_COUNT:-0} started \$(date +%T) on \$SLURM_JOB_NODELIST"
echo "lease terms in the job: bid \$GPUMARKET_BID_MICRO micro-units/GPU-hour, cap \$GPUMARKET_MAX_COST_MICRO, order \$GPUMARKET_ORDER"
# Ranks of two slurmd on one host talk over TCP (see README, troubleshooting).
OMPI_MCA_btl=self,tcp srun --mpi=pmix $train $args --test-throttle-ms 30
rc=\$?
segment_status \$rc
exit \$rc
JOB
market=$(sbatch --parsable -p market -N2 --ntasks-per-node=4 --gres=gpu:4 --requeue --open-mode=append \
  --market-bid=2.40 --market-max-cost=50 \
  -o "$dir/market-%j.out" -J market-train "$dir/train.sh") || fail "sbatch failed"
wait_state "$market" RUNNING 30
run squeue -o '%.6i %.9P %.14j %.8T %.10M %R'
until grep -q '^step 60 loss' "$dir/market-$market.out" 2>/dev/null; do sleep 0.5; done
echo "training... $(grep '^step 60 loss' "$dir/market-$market.out")"

say "4. A local researcher needs 4 GPUs on each of the 3 nodes (partition local)"
local_job=$(sbatch --parsable -p local -N3 --gres=gpu:4 -o "$dir/local-%j.out" -J local-sim \
  --wrap 'echo "local job on $SLURM_JOB_NODELIST"; sleep 5') || fail "sbatch failed"
wait_state "$local_job" RUNNING 60
echo "Slurm sent the market job its preemption signal; the ranks agreed at a step boundary,"
echo "wrote a checkpoint and exited 75, and Slurm requeued the job (RequeueExit=75):"
run grep -E 'preempted after|checkpoint step' "$dir/market-$market.out"
run squeue -o '%.6i %.9P %.14j %.8T %.10M %R'
run bash -c "scontrol show job $market | grep -Eo '(JobState|Reason|Restarts)=[^ ]*'"

say "5. The local job ends; the market job runs again and resumes from its checkpoint"
wait_state "$local_job" COMPLETED 60
wait_state "$market" RUNNING 90
echo "market job $market is running again"
wait_state "$market" COMPLETED 180
run grep -v '^step ' "$dir/market-$market.out"

say "6. The same training on the same GPUs without any interruption, for comparison (a market job too)"
ref=$(OMPI_MCA_btl=self,tcp srun -p market -N2 --ntasks-per-node=4 --gres=gpu:4 --mpi=pmix $train $args --quiet 2>/dev/null |
      sed -n 's/^final loss \([^ ]*\).*/\1/p')
got=$(sed -n 's/^final loss \([^ ]*\).*/\1/p' "$dir/market-$market.out" | tail -n 1)
echo "uninterrupted final loss: $ref"
echo "preempted + resumed loss: $got"
[ -n "$ref" ] && [ "$ref" = "$got" ] || fail "the resumed run did not reach the uninterrupted loss"

say "7. What the buyer and an auditor get: slurmctld signed one receipt per lease segment"
export PATH=$build/cli:$PATH
conf=$dir/etc/gpumarket.conf
currency=$(sed -n 's/^Currency=//p' "$conf")
# The market job's two segments and the reference run (a market job too).
receipts_ready() {
  gpumarket receipts export --config "$conf" >"$dir/receipts.jsonl" &&
    segments_are "$dir/receipts.jsonl" "$market" "0:preempted 1:completed" &&
    { [ "$(grep -c . "$dir/receipts.jsonl")" -eq 3 ] ||
      { echo "the ledger holds $(grep -c . "$dir/receipts.jsonl") receipts, expected 3 (2 segments and the reference run)" >&2; return 1; }; }
}
wait_receipts 60 receipts_ready ||
  fail "slurmctld did not write the receipts of the market job's segments within 60 s (ledger $dir/ledger; see $dir/log/slurmctld.log)"
echo "The ledger ($dir/ledger) as slurmctld wrote it: sequence, job, segment, user, account,"
echo "GPUs, start, end, end reason, amount (micro-$currency), energy source, recovered:"
run gpumarket receipts list --config "$conf"
echo "The price locked per segment: the buyer bid 2.40 and pays the clearing price of the"
echo "segment's start, per second of allocated GPU time:"
while IFS= read -r line; do
  receipt_summary "$line" "$currency" || fail "a receipt breaks the billing rule"
  [ "$(receipt_field "$line" job_id)" != "$market" ] ||
    [ "$(receipt_field "$line" price_micro_per_gpu_hour)" -le 2400000 ] ||
    fail "job $market was billed above its bid of 2.40"
done <"$dir/receipts.jsonl"
echo "An auditor gets a signed checkpoint of the ledger and verifies the ledger against the"
echo "cluster's public key (every receipt's signature, the Merkle tree, the checkpoint):"
run gpumarket ledger checkpoint --config "$conf" || fail "gpumarket ledger checkpoint failed"
printf '$ %s\n' "gpumarket ledger verify --config $conf --pubkey $dir/etc/gpumarket.pub"
verdict=$(gpumarket ledger verify --config "$conf" --pubkey "$dir/etc/gpumarket.pub" 2>&1)
echo "$verdict"
grep -q '"ok":true' <<<"$verdict" && grep -q '"signatures_checked":true' <<<"$verdict" &&
  grep -q '"checkpoint_size":3' <<<"$verdict" || fail "the ledger does not verify with the cluster's public key"
echo "One receipt (the preempted segment) with the openssl command alone, as gpumarket(1) shows:"
mkdir -p "$dir/audit" && cp "$dir/etc/gpumarket.pub" "$dir/audit/cluster.pub"
gpumarket receipts export --config "$conf" --job "$market" | head -n 1 >"$dir/audit/r.json"
verify_with_openssl "$dir/audit" || fail "the receipt of job $market segment 0 does not verify with openssl"

say "Done: the market job ran in two segments around the local job, lost nothing, and each segment has a verified receipt."
echo "The sandbox is stopped and removed on exit. To keep a cluster to play with:"
echo "  $sandbox up --nodes 3 --gpus-per-node 4"
