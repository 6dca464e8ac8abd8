#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Open MPI programs across sandbox nodes with srun --mpi=pmix.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
plan 5

prog=$top_builddir/tests/mpi_allreduce_check
[ -x "$prog" ] || bail_out "$prog is not built"

sandbox_up --nodes 2 --gpus-per-node 2
ok $? "sandbox with 2 nodes is up" || { finish; exit; }

# Ranks on two slurmd of one host must not use the shared-memory transport.
export OMPI_MCA_btl=self,tcp

out=$(srun -N2 -n2 --mpi=pmix "$prog" 2>&1); rc=$?
diag "$out"
[ $rc -eq 0 ] && [ "$(grep -c 'allreduce ok' <<<"$out")" -eq 2 ]
ok $? "a 2-rank allreduce across two nodes is correct"
nodes=$(sed -n 's/.* node \(gm[0-9]*\): .*/\1/p' <<<"$out" | sort -u | tr '\n' ' ')
[ "$nodes" = "gm1 gm2 " ]
ok $? "the two ranks ran on two different nodes ($nodes)"

out=$(srun -N2 -n4 --mpi=pmix "$prog" 2>&1); rc=$?
diag "$out"
[ $rc -eq 0 ] && [ "$(grep -c 'allreduce ok' <<<"$out")" -eq 4 ] &&
  grep -q 'of 4 .*sum of ranks 10' <<<"$out"
ok $? "a 4-rank allreduce over 2 nodes is correct"

out=$(srun -N1 -n2 --mpi=pmix --gres=gpu:2 "$prog" 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(grep -c 'allreduce ok' <<<"$out")" -eq 2 ]
ok $? "ranks of one node with GPUs run too"

finish
