#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Configure (once) and build gpumarket out of tree, against the installed Slurm
# and a matching Slurm source tree for the select plugin.
#   scripts/build.sh [BUILD_DIR] [extra configure options...]
# Warnings are fatal (--enable-werror), as in CI.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
shift || true

slurm_src=$("$top/scripts/get-slurm-source.sh" "$top/slurm-src" | tail -n 1)

if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
  echo "gpumarket: generating configure (autoreconf)"
  (cd "$top" && autoreconf -fi >/dev/null)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ]; then
  echo "gpumarket: configuring in $build"
  "$top/configure" --enable-werror --with-slurm-source="$slurm_src" "$@"
fi
make -j"$(nproc)"
