#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Check (default) or apply (--fix) .clang-format on every C, header and CUDA
# file of the tree.  CI runs the check; exits 1 naming the files that differ.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
command -v clang-format >/dev/null 2>&1 ||
  { echo "gpumarket: clang-format is missing: install the Debian package clang-format (scripts/install-deps.sh)" >&2; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h' '*.cu')
else
  mapfile -t files < <(find common market settlement cli slurm-plugin mpi-runtime bench tests \
    -name '*.[ch]' -o -name '*.cu' | sort)
fi
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "gpumarket: ${#bad[@]} file(s) differ from .clang-format (fix with scripts/format.sh --fix):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "gpumarket: all ${#files[@]} C, header and CUDA files match .clang-format"
