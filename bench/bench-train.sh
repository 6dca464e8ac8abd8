#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-train: gpumarket-train throughput (samples/s) on 2 ranks against 1,
# in paired rounds (one run of each, the order alternating): the medians,
# and the median and quartiles of the per-round ratios.  Two ranks on a
# 2-core machine need both cores: with other work on one of them the ratio
# tends to 1 whatever the trainer does.
here=$(dirname "$0")
train=$here/../mpi-runtime/gpumarket-train
# shellcheck source=bench/paired.sh
. "@srcbench@/paired.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-@MPIRUN@}
rounds=${GPUMARKET_BENCH_TRAIN_ROUNDS:-7}
args="--steps 60 --batch-size 2048 --hidden 256 --quiet --deterministic"
rate() {
  # shellcheck disable=SC2086
  "$mpirun" --oversubscribe -np "$1" "$train" $args 2>&1 >/dev/null |
    sed -n 's/^gpumarket-train: \([0-9.]*\) samples\/s$/\1/p'
}
pairs=$(mktemp "${TMPDIR:-/tmp}/gmbench-train.XXXXXX") || exit 1
trap 'rm -f "$pairs"' EXIT
r=0
while [ $r -lt "$rounds" ]; do
  if [ $((r % 2)) -eq 0 ]; then
    one=$(rate 1); two=$(rate 2)
  else
    two=$(rate 2); one=$(rate 1)
  fi
  if [ -z "$one" ] || [ -z "$two" ]; then
    echo "gpumarket: bench-train: the trainer did not report its throughput" >&2
    exit 1
  fi
  echo "# gpumarket-train round $((r + 1)): 1 rank $one samples/s, 2 ranks $two samples/s" >&2
  echo "$two $one" >>"$pairs"
  r=$((r + 1))
done
paired_row "$pairs" "gpumarket-train throughput 2 ranks vs 1" samples/s 1 2 1.6 true \
  "\"note\": \"$args\""
