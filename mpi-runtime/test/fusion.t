#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tensor fusion on 1 to 4 ranks.
. "$top_srcdir/mpi-runtime/test/mpi-tap.sh"
for np in 1 2 3 4; do
  mpi_tap "$np" "$top_builddir/mpi-runtime/test/fusion-mpi"
done
mpi_tap_finish
