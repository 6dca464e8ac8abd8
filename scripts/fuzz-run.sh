#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run one libFuzzer target for a while, from a copy of its seed corpus (what
# `make fuzz` does for each target):
#   scripts/fuzz-run.sh TARGET CORPUS RUNDIR SECONDS [KEY]
# TARGET is the fuzzer binary, CORPUS the seed directory in the source tree,
# RUNDIR the directory it works in (emptied first; new inputs go there), KEY
# the name of an Ed25519 private key (PEM) to create in RUNDIR for targets
# that read one.  The log is TARGET.log; on a failure its end is shown and
# the status is 1.
set -eu
target=$1 corpus=$2 run=$3 seconds=$4 key=${5:-}
rm -rf "$run"
mkdir -p "$run"
cp "$corpus"/* "$run"/
[ -z "$key" ] || openssl genpkey -algorithm ed25519 -out "$run/$key"
echo "== $(basename "$target") ($seconds s)"
if "$target" -max_total_time="$seconds" "$run" >"$target.log" 2>&1; then
  tail -n 2 "$target.log"
else
  tail -n 40 "$target.log"
  echo "gpumarket: $(basename "$target") found a failure; the input is in $(pwd) (crash-*), log in $target.log"
  exit 1
fi
