# SPDX-License-Identifier: GPL-2.0-or-later
# The one preamble of every gpumarket shell test:
#   . "$(dirname "$0")/tap/preamble.sh"        (tests/tNNNN-*.t)
# It finds the source and build trees (make check exports top_srcdir and
# top_builddir; run by hand, the source tree is found from this file and the
# build tree defaults to it), puts the programs just built first on PATH,
# makes a temporary directory TEST_TMPDIR that is removed when the test exits
# (kept with GM_TEST_KEEP=1, its path then printed) and runs the test inside
# it, and loads the TAP
# library (tap.sh) and the fixtures (fixtures.sh).

if [ -z "${top_srcdir:-}" ]; then
  top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) ||
    { echo "Bail out! cannot find the source tree from ${BASH_SOURCE[0]}"; exit 255; }
fi
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
PATH=$top_builddir/cli:$top_builddir/sandbox:$PATH
export PATH

. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/tap/fixtures.sh"

TEST_NAME=$(basename "$0" .t)
TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/gm-$TEST_NAME.XXXXXX") ||
  bail_out "cannot create a temporary directory under ${TMPDIR:-/tmp}"
export TEST_TMPDIR
# Bodies run in the temporary directory, so the files they write (expect,
# actual, err) never land in the trees; $0 may be relative to where the test
# started, so use $top_srcdir rather than $(dirname "$0") from here on.
TEST_START_DIR=$PWD
cd "$TEST_TMPDIR" || bail_out "cannot enter $TEST_TMPDIR"

# test_atexit COMMANDS: run COMMANDS when the test exits, however it exits
# (last registered first), before TEST_TMPDIR is removed.  Tests and helpers
# register here instead of setting their own EXIT trap, which would replace
# this one.
_TEST_ATEXIT=()
test_atexit() { _TEST_ATEXIT=("$*" "${_TEST_ATEXIT[@]}"); }

_test_exit() {
  local rc=$? c
  for c in "${_TEST_ATEXIT[@]}"; do
    eval "$c" || echo "# at exit: '$c' failed" >&2
  done
  if [ "${GM_TEST_KEEP:-0}" = 1 ]; then
    echo "# kept $TEST_TMPDIR" >&2
  else
    rm -rf -- "$TEST_TMPDIR"
  fi
  return $rc
}
trap _test_exit EXIT
