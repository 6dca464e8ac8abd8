#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Allreduce correctness against MPI_Allreduce on 1 to 4 ranks, every type,
# operation and algorithm, and the environment's bad values.
. "$top_srcdir/mpi-runtime/test/mpi-tap.sh"
prog=$top_builddir/mpi-runtime/test/allreduce-mpi
for np in 1 2 3 4; do
  mpi_tap "$np" "$prog"
done
# Bit for bit against MPI_Allreduce (data whose sums are exact in any
# order) at more rank counts, powers of two or not, oversubscribed.
for np in 2 3 5 6 7 8; do
  mpi_tap "$np" "$prog" --exact
done
mpi_tap 6 -x GPUMARKET_TEST_FAKE_NODES=3 "$prog" --exact --quick
mpi_tap 7 -x GPUMARKET_TEST_FAKE_NODES=2 "$prog" --exact --quick
# Two nodes faked by splitting on a variable: exercises the hierarchical path.
mpi_tap 4 -x GPUMARKET_TEST_FAKE_NODES=2 "$prog" --quick
mpi_tap 3 -x GPUMARKET_TEST_FAKE_NODES=2 "$prog" --quick
# An algorithm forced through the environment (3 ranks: the fold-in of the
# extra rank, 4: a power of two).
for np in 3 4; do
  mpi_tap "$np" -x GPUMARKET_ALLREDUCE=rabenseifner "$prog" --forced rabenseifner
done
mpi_tap 2 -x GPUMARKET_ALLREDUCE=rab "$prog" --forced rabenseifner
for np in 2 3; do
  mpi_tap "$np" -x GPUMARKET_ALLREDUCE=shm "$prog" --forced shared_memory
done
# An MPI without shared windows: the automatic choice falls back.
mpi_tap 3 -x OMPI_MCA_osc=pt2pt "$prog" --no-shared-window
# Shared windows on some ranks only (osc=pt2pt on the first): an error on
# every rank, not a deadlock in the collective window creation.
MPI_TAP_TIMEOUT=120 MPI_TAP_TAG="np=3, osc=pt2pt on rank 0 only"
mpi_tap 1 env OMPI_MCA_osc=pt2pt "$prog" --partial-shared-window : -np 2 "$prog" --partial-shared-window
unset MPI_TAP_TIMEOUT MPI_TAP_TAG
# Bad environment values are refused by name.
for bad in "GPUMARKET_ALLREDUCE=bogus" "GPUMARKET_DETERMINISTIC=2" "GPUMARKET_SMALL_BYTES=-1" "GPUMARKET_FUSION_BYTES=12x" "GPUMARKET_FUSION_CYCLE_US=0"; do
  var=${bad%%=*}
  out=$(env "$bad" "$MPIRUN" --oversubscribe -np 1 "$prog" --init-only 2>&1)
  if printf '%s' "$out" | grep -q "gpumarket: $var="; then
    mpi_tap_line ok "$bad is refused with a message naming it"
  elif [ "$var" = GPUMARKET_ALLREDUCE ] && printf '%s' "$out" | grep -q "gpumarket: $var: unknown"; then
    mpi_tap_line ok "$bad is refused with a message naming it"
  else
    mpi_tap_line "not ok" "$bad is refused with a message naming it"
    printf '%s\n' "$out" | sed 's/^/# /'
  fi
done
mpi_tap_finish
