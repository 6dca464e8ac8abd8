#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Checkpoints on 1 to 4 ranks: saves, damage, restart picks the last good one.
. "$top_srcdir/mpi-runtime/test/mpi-tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for np in 1 2 3 4; do
  mkdir "$tmp/$np"
  mpi_tap "$np" "$top_builddir/mpi-runtime/test/checkpoint-mpi" "$tmp/$np"
done
mpi_tap_finish
