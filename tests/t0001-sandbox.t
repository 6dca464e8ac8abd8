#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The sandbox cluster: 3 nodes x 4 fake GPUs come up idle, jobs see their
# GPUs, two sandboxes run side by side, `down` leaves nothing behind.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
plan 16

start=$SECONDS
sandbox_up --nodes 3 --gpus-per-node 4 --gpu-type h100
ok $? "up --nodes 3 --gpus-per-node 4 starts a cluster"
elapsed=$((SECONDS - start))
A=$SANDBOX_DIR
diag "up took ${elapsed}s"

nodes=$(sinfo -h -N -p local -o '%N %t %G')
diag "$nodes"
[ "$(grep -c ' idle gpu:h100:4' <<<"$nodes")" -eq 3 ]
ok $? "three nodes are idle with gpu:h100:4 each"

parts=$(sinfo -h -o '%P' | tr '\n' ' ')
[[ $parts == *"local*"* && $parts == *market* ]]
ok $? "partitions local (default) and market exist ($parts)"

select=$(scontrol show config | sed -n 's/^SelectType *= *//p')
if [ -f "$top_builddir/slurm-plugin/.libs/select_cons_tres_gpumarket.so" ]; then
  [ "$select" = select/cons_tres_gpumarket ]
  ok $? "slurmctld runs the gpumarket select plugin ($select)"
else
  skip 1 "the select plugin is not built (configure --with-slurm-source): the sandbox runs $select"
fi

preempt=$(scontrol show config | grep -E '^PreemptType|^PreemptMode' | tr -s ' ' | tr '\n' ' ')
[[ $preempt == *preempt/partition_prio* && $preempt == *REQUEUE* ]]
ok $? "local preempts market with REQUEUE ($preempt)"

out=$(srun -p local --gres=gpu:2 bash -c 'echo "$CUDA_VISIBLE_DEVICES"' 2>/dev/null)
[ "$(tr ',' '\n' <<<"$out" | grep -c '^[0-9]$')" -eq 2 ]
ok $? "srun --gres=gpu:2 sees two GPUs in CUDA_VISIBLE_DEVICES ($out)"

out=$(srun -p market -N1 --gpus=4 bash -c 'echo "$CUDA_VISIBLE_DEVICES"' 2>/dev/null)
[ "$out" = "0,1,2,3" ]
ok $? "srun --gpus=4 in the market partition sees all four ($out)"

out=$(srun -N3 --ntasks-per-node=1 bash -c 'echo "$SLURMD_NODENAME"' 2>/dev/null | sort | tr '\n' ' ')
[ "$out" = "gm1 gm2 gm3 " ]
ok $? "a 3-node step runs one task on each node ($out)"

test_expect "status shows running daemons" bash -c "gpumarket-sandbox status --dir '$A' | grep -q 'slurmd-gm3 *running'"

test_expect "env prints the SLURM_CONF line" bash -c "gpumarket-sandbox env --dir '$A' | grep -qx 'export SLURM_CONF=$A/etc/slurm.conf'"

# A second, independent sandbox beside the first.
sandbox_up --nodes 1 --gpus-per-node 2 --gpu-type a100 --select cons_tres
ok $? "a second sandbox, on plain select/cons_tres, starts beside the first"
B=$SANDBOX_DIR
out=$(SLURM_CONF=$B/etc/slurm.conf srun --gres=gpu:a100:2 bash -c 'echo "$CUDA_VISIBLE_DEVICES"' 2>/dev/null)
outa=$(SLURM_CONF=$A/etc/slurm.conf sinfo -h -N -p local -o '%G' | sort -u)
[ "$out" = "0,1" ] && [ "$outa" = "gpu:h100:4" ]
ok $? "each sandbox answers with its own nodes (B: $out, A: $outa)"

gpumarket-sandbox down --dir "$B" 2>/dev/null
[ ! -e "$B" ] && [ -z "$(sandbox_processes "$B")" ] &&
  SLURM_CONF=$A/etc/slurm.conf sinfo -h >/dev/null 2>&1
ok $? "down of the second leaves the first running"

# A job still running when the cluster goes down.
export SLURM_CONF=$A/etc/slurm.conf
sbatch -p local --gres=gpu:1 -o /dev/null --wrap 'sleep 300' >/dev/null 2>&1
wait_for 15 bash -c "squeue -h -t R | grep -q ."
ok $? "a long job is running before down"

gpumarket-sandbox down --dir "$A" 2>/dev/null
ok $? "down exits 0"
left=$(sandbox_processes "$A")
[ ! -e "$A" ] && [ -z "$left" ]
ok $? "down leaves no process and no directory${left:+ (left: $left)}"

finish
