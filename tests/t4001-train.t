#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# gpumarket-train under mpirun: the same loss on 1, 2 and 4 ranks (bitwise
# with --deterministic), preemption by flag and by real signals followed by
# a restart that ends with exactly the uninterrupted loss, damaged
# checkpoints skipped, bad flags refused.
. "$top_srcdir/tests/tap/tap.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
# Open MPI unloads its components and leaks from them, where LeakSanitizer
# cannot suppress by name: leak checking is off for processes under mpirun
# (it stays on for the other unit tests), whatever the caller asked for.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
unset GPUMARKET_CHECKPOINT_DIR SLURM_STEP_GPUS SLURM_JOB_GPUS CUDA_VISIBLE_DEVICES
: "${MPIRUN:=mpirun}"
train=$top_builddir/mpi-runtime/gpumarket-train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plan 30

run() { # NP ARGS... ; output in $tmp/out, status in $rc
  local np=$1; shift
  "$MPIRUN" --oversubscribe -np "$np" "$train" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}
final() { sed -n 's/^final loss \([^ ]*\) .*/\1/p' "$tmp/out"; }

common=(--steps 120 --batch-size 96 --seed 7 --quiet)
for np in 1 2 4; do
  run "$np" "${common[@]}" --deterministic
  eval "det_$np=\$(final)"
  ok "$rc" "deterministic run on $np rank(s) finishes" || diag "$(cat "$tmp/err")"
done
test "$det_1" = "$det_2" && test "$det_1" = "$det_4"
ok $? "deterministic: 1, 2 and 4 ranks end with bitwise the same loss ($det_1)" || diag "1: $det_1 2: $det_2 4: $det_4"
run 3 "${common[@]}" --deterministic --algorithm ring
test "$(final)" = "$det_1"
ok $? "deterministic: 3 ranks with a forced ring algorithm agree too"

# bench-train's limit: the same 2 ranks with a barrier for the exchange.
# It runs to the end, and rank 0 then trains on its own samples only, so
# its loss is not the shared one.
run 2 "${common[@]}" --deterministic --bench-barrier-only
ok "$rc" "--bench-barrier-only on 2 ranks finishes" || diag "$(cat "$tmp/err")"
test -n "$(final)" && test "$(final)" != "$det_1"
ok $? "--bench-barrier-only leaves out the gradient sum (loss $(final), not $det_1)"

run 1 "${common[@]}"; float_1=$(final)
run 2 "${common[@]}"; float_2=$(final)
awk -v a="$float_1" -v b="$float_2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 1e-9 * a) }'
ok $? "floating sums: 2 ranks within 1e-9 of 1 rank ($float_1 vs $float_2)"

run 1 --steps 200 --batch-size 128 --lr 0.1
first=$(sed -n 's/^step 1 loss //p' "$tmp/out"); last=$(final)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'
ok $? "the loss falls by more than half in 200 steps ($first -> $last)"
grep -q '^step 200 loss ' "$tmp/out"
ok $? "a loss line is printed for every step"

# Preemption by the test flag: rank 1 gets SIGUSR1 after step 50.
ck=$tmp/ck1
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 20 --test-preempt-at 50:1
test "$rc" -eq 75
ok $? "a preempted run exits with status 75 (requeue)" || diag "status $rc: $(cat "$tmp/err")"
grep -q 'preempted after step 50, checkpoint saved' "$tmp/err"
ok $? "it says where it stopped"
test -f "$ck/step-000000000050/MANIFEST" && test -f "$ck/step-000000000040/MANIFEST"
ok $? "periodic (step 40) and preemption (step 50) checkpoints are committed"
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 20
test "$rc" -eq 0 && test "$(final)" = "$det_1"
ok $? "restarted, it ends with exactly the uninterrupted loss" || diag "got $(final), want $det_1"

# Restart on another rank count (a requeue may land on fewer nodes).
ck=$tmp/ck2
run 4 "${common[@]}" --deterministic --checkpoint-dir "$ck" --test-preempt-at 33:3
test "$rc" -eq 75
ok $? "4 ranks preempted after step 33"
run 1 "${common[@]}" --deterministic --checkpoint-dir "$ck"
test "$(final)" = "$det_1"
ok $? "resumed on 1 rank, the final loss is still bitwise the same"

# Floating sums: same rank count, restart is exact as well.
ck=$tmp/ck3
run 2 "${common[@]}" --checkpoint-dir "$ck" --test-preempt-at 70:0
rc1=$rc
run 2 "${common[@]}" --checkpoint-dir "$ck"
test "$rc1" -eq 75 && test "$(final)" = "$float_2"
ok $? "floating sums on 2 ranks: preempted and resumed equals uninterrupted"

# Damaged checkpoints: the newest shard corrupt, restart falls back.
ck=$tmp/ck4
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 25 --test-preempt-at 60:0
printf 'X' | dd of="$ck/step-000000000060/shard-00001.bin" bs=1 seek=10 conv=notrunc 2>/dev/null
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 25
grep -q "step-000000000060/shard-00001.bin: SHA-256 differs" "$tmp/err"
ok $? "a corrupt shard is named in a warning" || diag "$(cat "$tmp/err")"
grep -q "resuming from checkpoint step 50 " "$tmp/err" && test "$(final)" = "$det_1"
ok $? "restart from the older checkpoint (step 50) still ends with the same loss"

# A rank killed (SIGKILL) in the middle of a save, after its shard and
# before the manifest: the job dies; restart warns about that checkpoint,
# uses the one before, and still ends with the same loss.
ck=$tmp/ck5
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 30 --test-preempt-at 45:0
GPUMARKET_TEST_KILL_IN_SAVE=1 run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 30
test "$rc" -ne 0 && test -f "$ck/step-000000000060/shard-00001.bin" && test ! -f "$ck/step-000000000060/MANIFEST"
ok $? "a rank killed during the save leaves shards and no manifest" || diag "status $rc; $(ls -R "$ck")"
run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck" --checkpoint-interval 30
grep -q "step-000000000060/MANIFEST: missing" "$tmp/err" && grep -q "resuming from checkpoint step 45 " "$tmp/err"
ok $? "restart warns about the interrupted save and resumes from step 45" || diag "$(cat "$tmp/err" "$tmp/out" | head)"
test "$(final)" = "$det_1"
ok $? "and ends with exactly the uninterrupted loss"

# Real signals while running: SIGUSR1 to mpirun (it forwards it), and
# SIGTERM straight to every rank as slurmstepd does.
for sig in USR1 TERM; do
  ck=$tmp/sig-$sig
  "$MPIRUN" --oversubscribe -np 2 "$train" --steps 120 --batch-size 96 --seed 7 --deterministic \
    --checkpoint-dir "$ck" --test-throttle-ms 30 >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 200); do
    grep -q '^step 5 ' "$tmp/out" 2>/dev/null && break
    sleep 0.1
  done
  if [ "$sig" = USR1 ]; then
    kill -USR1 "$pid"
  else
    for child in $(ps -o pid= --ppid "$pid"); do kill -TERM "$child" 2>/dev/null; done
  fi
  wait "$pid"
  rc=$?
  test "$rc" -eq 75
  ok $? "SIG$sig during the run: exit status 75" || diag "status $rc: $(cat "$tmp/err")"
  run 2 "${common[@]}" --deterministic --checkpoint-dir "$ck"
  test "$(final)" = "$det_1"
  ok $? "after SIG$sig, the restart ends with exactly the uninterrupted loss"
done

# A restart with other flags is refused, naming them.
run 1 --steps 120 --batch-size 96 --seed 8 --quiet --deterministic --checkpoint-dir "$tmp/ck1"
test "$rc" -eq 1 && grep -q "written with other flags (--seed 7" "$tmp/err"
ok $? "a checkpoint from other flags is refused with the flags it needs"

# Binding report from an XML topology with a Slurm GPU subset.
SLURM_STEP_GPUS=2,3 run 2 --steps 1 --quiet --bind-report --topology "$top_srcdir/mpi-runtime/test/topologies/two-socket.xml"
grep -q 'rank 0 (local 0): GPU 2 \[0000:82:00.0\] (device 0), NIC mlx5_1' "$tmp/out" &&
  grep -q 'rank 1 (local 1): GPU 3 \[0000:83:00.0\] (device 1), NIC mlx5_1' "$tmp/out"
ok $? "--bind-report: each rank gets its nearest GPU and NIC from Slurm's GPUs" || diag "$(cat "$tmp/out" "$tmp/err")"

# Bad flags: status 2 and a message naming the flag.
bad=0
while IFS='|' read -r args needle; do
  read -ra a <<<"$args"
  "$train" "${a[@]}" >"$tmp/out" 2>"$tmp/err"
  r=$?
  if [ "$r" -ne 2 ] || ! grep -qF -- "$needle" "$tmp/err"; then
    bad=1
    diag "gpumarket-train $args: status $r, stderr: $(cat "$tmp/err")"
  fi
done <<'ROWS'
--steps 0|--steps '0'
--steps abc|--steps 'abc'
--steps -5|--steps '-5'
--batch-size 0|--batch-size '0'
--batch-size 70000|--batch-size '70000'
--lr -1|--lr '-1'
--lr nan|--lr 'nan'
--momentum 1|--momentum '1'
--hidden 0|--hidden '0'
--seed 1x|--seed '1x'
--checkpoint-interval -1|--checkpoint-interval '-1'
--bogus|unknown flag
--steps|unknown flag, or a flag without its value
--algorithm fastest|--algorithm: unknown allreduce algorithm 'fastest'
extra|unexpected argument 'extra'
ROWS
ok $bad "bad flags exit 2 with a message naming the flag"
"$train" --help >"$tmp/out" 2>&1
grep -q -- '--checkpoint-interval' "$tmp/out" && grep -q ' 75 preempted' "$tmp/out"
ok $? "--help lists the flags and the requeue status"
finish
