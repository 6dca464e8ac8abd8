#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# configure's checks of --with-slurm-source and --with-cuda: a tree of
# another Slurm version, or not a configured tree, is refused with a message
# that names the versions or the missing file.
. "$top_srcdir/tests/tap/tap.sh"
plan 6

work=$(mktemp -d "${TMPDIR:-/tmp}/gmconf.XXXXXX")
trap 'rm -rf "$work"' EXIT

installed=$(awk '$2 == "SLURM_VERSION_NUMBER" { print $3 }' /usr/include/slurm/slurm_version.h)
[ -n "$installed" ] || bail_out "cannot read the installed Slurm version"
inst_str=$(printf '%d.%02d.%d' $((installed >> 16 & 255)) $((installed >> 8 & 255)) $((installed & 255)))

# fake_tree DIR VERSION-NUMBER: the files configure looks at, nothing more.
fake_tree() {
  mkdir -p "$1/slurm" "$1/src/common"
  : >"$1/config.h"; : >"$1/src/common/select.h"; : >"$1/src/common/plugin.h"
  printf '#define SLURM_VERSION_NUMBER 0x%06x\n' "$2" >"$1/slurm/slurm_version.h"
}

run_configure() { # run_configure BUILD-DIR ARGS...: configure's output
  local b=$1; shift
  mkdir -p "$b" && (cd "$b" && "$top_srcdir/configure" "$@" 2>&1)
}

fake_tree "$work/other" $((installed + 1))
other_str=$(printf '%d.%02d.%d' $(((installed + 1) >> 16 & 255)) $(((installed + 1) >> 8 & 255)) $(((installed + 1) & 255)))
out=$(run_configure "$work/b1" --with-slurm-source="$work/other"); rc=$?
[ $rc -ne 0 ] && grep -q "is Slurm $other_str but the installed Slurm (slurm/slurm_version.h) is $inst_str" <<<"$out"
ok $? "a Slurm source of another version is refused, naming both ($other_str, $inst_str)" || diag "$out"

mkdir -p "$work/empty"
out=$(run_configure "$work/b2" --with-slurm-source="$work/empty"); rc=$?
[ $rc -ne 0 ] && grep -q "config.h is missing; the tree must be a Slurm source configured once" <<<"$out"
ok $? "a directory that is not a configured Slurm tree is refused" || diag "$out"

out=$(run_configure "$work/b3" --with-slurm-source="$work/nonexistent"); rc=$?
[ $rc -ne 0 ] && grep -q "no such directory" <<<"$out"
ok $? "a missing --with-slurm-source directory is refused" || diag "$out"

out=$(run_configure "$work/b4" --with-cuda="$work/nocuda"); rc=$?
[ $rc -ne 0 ] && grep -q "no nvcc and cuda_runtime.h under $work/nocuda" <<<"$out"
ok $? "--with-cuda=DIR without a CUDA toolkit is refused" || diag "$out"

fake_tree "$work/same" "$installed"
out=$(run_configure "$work/b5" --with-slurm-source="$work/same" --without-cuda); rc=$?
[ $rc -eq 0 ] && grep -q "Slurm internal hdrs  : yes" <<<"$out"
ok $? "a tree of the installed version is accepted" || diag "$(tail -n 20 <<<"$out")"

grep -q "CUDA paths           : no (left out: disabled with --without-cuda)" <<<"$out"
ok $? "the summary says what was left out and why" || diag "$(tail -n 20 <<<"$out")"

finish
