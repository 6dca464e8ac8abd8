#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The researcher's story in a real sandbox cluster: a 4-rank gpumarket-train
# job over 2 nodes in the market partition is preempted by a local job,
# checkpoints within GraceTime, is requeued by Slurm, resumes from its
# checkpoint and ends with exactly the loss of an uninterrupted run.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
train=$top_builddir/mpi-runtime/gpumarket-train
[ -x "$train" ] || bail_out "$train is not built"
plan 11

sandbox_up --nodes 2 --gpus-per-node 2
ok $? "sandbox with 2 nodes x 2 GPUs is up" || { finish; exit; }
W=$SANDBOX_DIR/t4101
mkdir -p "$W/ref"
# Two slurmd of one host cannot share memory segments: TCP between ranks.
export OMPI_MCA_btl=self,tcp
# A rank that crashes leaves a core in $W (srun and sbatch pass the limit on
# to the tasks) for crash_report's backtrace: an intermittent crash must
# explain itself the one time it happens.
ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)" 2>/dev/null
args=(--steps 300 --batch-size 96 --seed 11 --deterministic)

# The reference: the same training, uninterrupted, through srun.
ref_out=$(srun -p market -N2 -n4 --mpi=pmix -D "$W/ref" "$train" "${args[@]}" --quiet 2>&1)
echo "$ref_out" >"$W/ref/out"
ref=$(sed -n 's/^final loss \([^ ]*\) .*/\1/p' <<<"$ref_out")
[ -n "$ref" ]
ok $? "an uninterrupted 4-rank run over 2 nodes ends with loss $ref" ||
  diag "$ref_out"$'\n'"$(crash_report "$W/ref" "$W/ref/out" "$train")"

# The market job: slowed down so the local job arrives mid-training.
cat >"$W/train.sh" <<JOB
#!/bin/bash
#SBATCH -p market
#SBATCH -N2
#SBATCH -n4
#SBATCH --gres=gpu:2
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --market-bid=2.40
#SBATCH --market-checkpoint-dir=$W/ckpt
#SBATCH -D $W
ulimit -c unlimited 2>/dev/null
echo "segment \${SLURM_RESTART_COUNT:-0} starts"
srun --mpi=pmix $train ${args[*]} --test-throttle-ms 40
rc=\$?
echo "srun exited with \$rc"
# 75: checkpoint saved after a preemption notice; RequeueExit=75 requeues.
exit \$rc
JOB
job=$(sbatch --parsable -o "$W/job.out" "$W/train.sh")
reached_step() { grep -q "^step $1 loss" "$W/job.out" 2>/dev/null; }
wait_for 60 reached_step 40
ok $? "market job $job is training (step 40 reached)" ||
  diag "$(grep -v '^step ' "$W/job.out" 2>&1 | tail -n 30)"$'\n'"$(crash_report "$W" "$W/job.out" "$train")"

local_job=$(sbatch --parsable -p local -N2 --gres=gpu:2 -o "$W/local.out" --wrap 'sleep 2')
wait_for 40 job_in_state "$local_job" RUNNING
ok $? "local job $local_job preempts it"

grep -q "preempted after step [0-9]*, checkpoint saved" "$W/job.out"
ok $? "the trainer checkpointed within GraceTime before it stopped" || diag "$(tail -n 15 "$W/job.out")"
ls "$W/ckpt"/step-*/MANIFEST >/dev/null 2>&1
ok $? "a committed checkpoint is in --market-checkpoint-dir"

wait_for 120 job_in_state "$job" COMPLETED
ok $? "the requeued job runs again and completes" || diag "state $(job_state "$job"); $(tail -n 15 "$W/job.out")"
restarts=$(scontrol show job "$job" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
resumed=$(grep -c "resum" "$W/job.out")
[ "${restarts:-0}" -ge 1 ] && [ "$resumed" -ge 1 ]
ok $? "it was requeued ($restarts restart) and resumed from the checkpoint" || diag "$(cat "$W/job.out" | grep -v '^step ' | tail -n 20)"

# With --deterministic a restart from step 0 reaches the same final loss:
# the second segment must start at the checkpointed step, not at step 1.
saved=$(sed -n 's/.*preempted after step \([0-9]*\), checkpoint saved.*/\1/p' "$W/job.out" | tail -n 1)
resumed_at=$(sed -n 's/.*resuming from checkpoint step \([0-9]*\) .*/\1/p' "$W/job.out" | tail -n 1)
first=$(sed -n '/^segment 1 starts/,$p' "$W/job.out" | sed -n 's/^step \([0-9]*\) loss.*/\1/p' | head -n 1)
[ -n "$saved" ] && [ "$resumed_at" = "$saved" ] && [ "$first" = $((saved + 1)) ]
ok $? "the second segment resumes at the checkpointed step (saved after step $saved, resumed from $resumed_at, first step $first)" ||
  diag "$(grep -v '^step ' "$W/job.out" | tail -n 20)"

final=$(sed -n 's/^final loss \([^ ]*\) .*/\1/p' "$W/job.out" | tail -n 1)
[ -n "$final" ] && [ "$final" = "$ref" ]
ok $? "the preempted and resumed run ends with exactly the uninterrupted loss ($final = $ref)" ||
  diag "$(grep -v '^step ' "$W/job.out" | tail -n 20)"

# Every segment's tasks ran to their end or to a preemption checkpoint.  A
# crash inside MPI_Init points at the fences of Slurm's mpi/pmix: the
# slurmstepd logs go with the report.
report=$(crash_report "$W" "$W/job.out" "$train")
[ -z "$report" ]
ok $? "no gpumarket-train task of the market job crashed" ||
  diag "$report"$'\n'"job output without steps:"$'\n'"$(grep -v '^step ' "$W/job.out")"$'\n'"mpi/pmix in the slurmd logs:"$'\n'"$(grep -h -i 'pmix' "$SANDBOX_DIR"/log/slurmd-*.log 2>&1 | tail -n 30)"

finish
