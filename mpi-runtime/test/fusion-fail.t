#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tensor fusion when the ranks disagree or one fails: clear errors on every
# rank, with the background thread and with rounds on the caller's thread.
# A hang is the failure these guard against: each run is killed after two
# minutes.
. "$top_srcdir/mpi-runtime/test/mpi-tap.sh"
MPI_TAP_TIMEOUT=${MPI_TAP_TIMEOUT_FAIL:-120}
prog=$top_builddir/mpi-runtime/test/fusion-fail-mpi
for thread in 0 1; do
  for np in 1 2 3; do
    mpi_tap "$np" -x GPUMARKET_FUSION_THREAD=$thread "$prog"
  done
done
mpi_tap_finish
