#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# spank_gpumarket.so inside sbatch, salloc and srun under valgrind: no invalid
# read or write, no use of uninitialised memory, and no block leaked by the
# plugin's own code, for good values, bad values and the env fallbacks.
. "$(dirname "$0")/tap/preamble.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
command -v valgrind >/dev/null || bail_out "valgrind is not installed (scripts/install-deps.sh installs it)"

test_expect_success 'sandbox is up' '
  sandbox_up --nodes 1 --gpus-per-node 2
' || test_done
n=0

# clean_under_valgrind COMMAND...: the command's own exit status does not
# matter (bad values are meant to fail); valgrind must report no error, and
# no definitely-lost block allocated under the plugin's code.  The log is
# printed when either does not hold.
clean_under_valgrind() {
  n=$((n + 1))
  local log=$TEST_TMPDIR/vg-$n.log rc ours
  GPUMARKET_BID=${VG_BID:-} valgrind -q --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=none --log-file="$log" "$@" >/dev/null 2>&1
  rc=$?
  ours=$(awk '/definitely lost in loss record/ { block = $0; keep = 0; next }
              block != "" && /^==[0-9]+== *$/ { if (keep) print block; block = ""; next }
              block != "" && /spank_gpumarket|market\/(flags|policy)|plugin_args|common\/(conf|money|text)/ { keep = 1 }
              END { if (block != "" && keep) print block }' "$log")
  if [ $rc -eq 99 ] || [ -n "$ours" ]; then
    echo "valgrind exit $rc; log $log:"
    head -n 60 "$log"
    return 1
  fi
}

test_expect_success 'sbatch with every flag' '
  clean_under_valgrind sbatch -p market --market-bid=2.40 --market-max-cost=50 \
    --market-checkpoint-dir=/scratch/x --market-order=o-1 -o /dev/null --wrap true
'
test_expect_success 'sbatch with a bad bid' '
  clean_under_valgrind sbatch -p market --market-bid=2,40 --wrap true
'
test_expect_success 'sbatch with a conflicting repeat' '
  clean_under_valgrind sbatch -p market --market-bid=2 --market-bid=3 --wrap true
'
test_expect_success 'sbatch with a 5000-byte value' '
  clean_under_valgrind sbatch -p market "--market-order=$(printf "x%.0s" $(seq 5000))" --wrap true
'
test_expect_success 'sbatch with a bad GPUMARKET_BID' '
  VG_BID=abc clean_under_valgrind sbatch -p market --wrap true
'
test_expect_success 'srun with flags' '
  clean_under_valgrind srun -p market --market-bid=1.5 --market-order=o-2 true
'
test_expect_success 'salloc with a bad checkpoint dir' '
  clean_under_valgrind salloc -p market --market-checkpoint-dir=rel true
'
test_expect_success 'sbatch --help' '
  clean_under_valgrind sbatch --help
'

test_done
