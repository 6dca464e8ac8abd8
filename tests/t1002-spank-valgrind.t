#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# spank_gpumarket.so inside sbatch, salloc and srun under valgrind: no invalid
# read or write, no use of uninitialised memory, and no block leaked by the
# plugin's own code, for good values, bad values and the env fallbacks.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
require_sandbox
command -v valgrind >/dev/null || bail_out "valgrind is not installed (scripts/install-deps.sh installs it)"
plan 9

sandbox_up --nodes 1 --gpus-per-node 2
ok $? "sandbox is up" || { finish; exit; }
W=$SANDBOX_DIR/vg
mkdir -p "$W"
n=0

# under_valgrind DESCRIPTION COMMAND...: the command's own exit status does not
# matter (bad values are meant to fail); valgrind must report no error, and no
# definitely-lost block allocated under the plugin's code.
under_valgrind() {
  local desc=$1; shift
  n=$((n + 1))
  local log=$W/vg-$n.log
  GPUMARKET_BID=${VG_BID:-} valgrind -q --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite --errors-for-leak-kinds=none --log-file="$log" "$@" >/dev/null 2>&1
  local rc=$?
  local ours
  ours=$(awk '/definitely lost in loss record/ { block = $0; keep = 0; next }
              block != "" && /^==[0-9]+== *$/ { if (keep) print block; block = ""; next }
              block != "" && /spank_gpumarket|market\/(flags|policy)|plugin_args|common\/(conf|money|text)/ { keep = 1 }
              END { if (block != "" && keep) print block }' "$log")
  if [ $rc -ne 99 ] && [ -z "$ours" ]; then
    ok 0 "$desc"
  else
    ok 1 "$desc"
    diag "valgrind exit $rc; log $log:"$'\n'"$(head -n 60 "$log")"
  fi
}

under_valgrind "sbatch with every flag" sbatch -p market --market-bid=2.40 --market-max-cost=50 \
  --market-checkpoint-dir=/scratch/x --market-order=o-1 -o /dev/null --wrap true
under_valgrind "sbatch with a bad bid" sbatch -p market --market-bid=2,40 --wrap true
under_valgrind "sbatch with a conflicting repeat" sbatch -p market --market-bid=2 --market-bid=3 --wrap true
under_valgrind "sbatch with a 5000-byte value" sbatch -p market "--market-order=$(printf 'x%.0s' $(seq 5000))" --wrap true
VG_BID=abc under_valgrind "sbatch with a bad GPUMARKET_BID" sbatch -p market --wrap true
under_valgrind "srun with flags" srun -p market --market-bid=1.5 --market-order=o-2 true
under_valgrind "salloc with a bad checkpoint dir" salloc -p market --market-checkpoint-dir=rel true
under_valgrind "sbatch --help" sbatch --help

finish
