#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# CUDA allreduce on 1 to 4 ranks; skips, saying why, without a usable GPU.
. "$top_srcdir/mpi-runtime/test/mpi-tap.sh"
prog=$top_builddir/mpi-runtime/test/cuda-mpi
[ -x "$prog" ] || { echo "Bail out! $prog is not built"; exit 255; }
reason=$("$prog" --probe 2>&1)
case $? in
  0) ;;
  3) echo "1..0 # SKIP no GPU to test the CUDA path on: $reason"; exit 0 ;;
  *) echo "Bail out! the CUDA probe failed: $reason"; exit 255 ;;
esac
for np in 1 2 3 4; do
  mpi_tap "$np" "$prog"
done
mpi_tap_finish
