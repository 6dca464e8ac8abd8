#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The layout is the architecture (issue 9): the adapters (the gpumarket
# command, the two Slurm plugins, the trainer) reach into the libraries and
# never into each other; the pure libraries include no Slurm or MPI header;
# the SPANK plugin reaches the market rules only through market/flags.h.
. "$(dirname "$0")/tap/preamble.sh"

# includes DIR...: "file: included-path" for every #include of the C, header
# and CUDA files under DIR (tests excluded: they may reach anywhere).
includes() {
  (cd "$top_srcdir" && find "$@" \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) -not -path '*/test/*' \
    -not -path '*/fuzz/*' -print0 |
    xargs -0 grep -HoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<][^">]+[">]' |
    sed -E 's/:[[:space:]]*#[[:space:]]*include[[:space:]]*/: /')
}

# The adapters and what each may not include.
test_expect_success 'the SPANK plugin includes no other adapter' '
  includes slurm-plugin/spank >inc &&
  test -s inc &&
  test_grep -v -E ": \"(slurm-plugin/select|cli|mpi-runtime|settlement)/" inc
'

test_expect_success 'the select plugin includes no other adapter' '
  includes slurm-plugin/select >inc &&
  test -s inc &&
  test_grep -v -E ": \"(slurm-plugin/spank|cli|mpi-runtime)/" inc
'

test_expect_success 'the gpumarket command includes no plugin and no runtime' '
  includes cli >inc &&
  test -s inc &&
  test_grep -v -E ": \"(slurm-plugin|mpi-runtime)/" inc
'

test_expect_success 'the runtime and trainer include no plugin and no command' '
  includes mpi-runtime >inc &&
  test -s inc &&
  test_grep -v -E ": \"(slurm-plugin|cli)/" inc
'

test_expect_success 'common/ and market/ are pure: no Slurm, MPI, settlement or adapter header' '
  includes common market >inc &&
  test -s inc &&
  test_grep -v -E ": (<slurm/|<mpi\.h>|\"src/|\"(slurm-plugin|cli|mpi-runtime|settlement)/)" inc
'

test_expect_success 'settlement/ includes no Slurm, MPI or adapter header' '
  includes settlement >inc &&
  test -s inc &&
  test_grep -v -E ": (<slurm/|<mpi\.h>|\"src/|\"(slurm-plugin|cli|mpi-runtime)/)" inc
'

test_expect_success 'the SPANK plugin reaches the market rules only through market/flags.h' '
  includes slurm-plugin/spank | sed -n "s/.*: \"\(market\/[^\"]*\)\"/\1/p" | sort -u >market-headers &&
  echo market/flags.h >expect &&
  test_cmp expect market-headers &&
  cat "$top_srcdir"/slurm-plugin/spank/*.c >spank-sources &&
  test_grep -v -E "gm_money_parse|gm_policy_" spank-sources
'

test_done
