#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-allreduce: runs bench-allreduce-mpi on 2 and 4 ranks (oversubscribed
# on small machines), then the fusion rows again on 2 ranks with one core
# kept busy by a spinning process.  Arguments go to bench-allreduce-mpi
# (--max-mib N, --rounds N).
here=$(dirname "$0")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-@MPIRUN@}
status=0
for np in ${GPUMARKET_BENCH_RANKS:-2 4}; do
  "$mpirun" --oversubscribe -np "$np" "$here/bench-allreduce-mpi" "$@" || status=1
done
# One core busy: a competing process spins for the whole run.
sh -c 'while :; do :; done' &
spinner=$!
"$mpirun" --oversubscribe -np 2 "$here/bench-allreduce-mpi" --fusion-only --label "one core busy" "$@" ||
  status=1
kill "$spinner"
wait "$spinner" 2>/dev/null
exit $status
