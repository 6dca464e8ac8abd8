#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-allreduce: runs bench-allreduce-mpi on 2 and 4 ranks (oversubscribed
# on small machines).  Arguments: the largest size in MiB (default 64).
here=$(dirname "$0")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
status=0
for np in ${GPUMARKET_BENCH_RANKS:-2 4}; do
  "${MPIRUN:-@MPIRUN@}" --oversubscribe -np "$np" "$here/bench-allreduce-mpi" "$@" || status=1
done
exit $status
