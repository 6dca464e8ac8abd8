#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-train: gpumarket-train throughput (samples/s) on 2 ranks against 1.
here=$(dirname "$0")
train=$here/../mpi-runtime/gpumarket-train
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader,tcp}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-@MPIRUN@}
args="--steps 60 --batch-size 2048 --hidden 256 --quiet --deterministic"
rate() {
  "$mpirun" --oversubscribe -np "$1" "$train" $args 2>&1 >/dev/null |
    sed -n 's/^gpumarket-train: \([0-9.]*\) samples\/s$/\1/p'
}
one=$(rate 1)
two=$(rate 2)
if [ -z "$one" ] || [ -z "$two" ]; then
  echo "gpumarket: bench-train: the trainer did not report its throughput" >&2
  exit 1
fi
echo "# gpumarket-train ($args): 1 rank $one samples/s, 2 ranks $two samples/s" >&2
awk -v o="$two" -v b="$one" 'BEGIN { printf "{\"name\": \"gpumarket-train throughput 2 ranks vs 1\", \"unit\": \"samples/s\", \"ours\": %s, \"baseline\": %s, \"ratio\": %.3f, \"target\": 1.6, \"higher_is_better\": true}\n", o, b, o / b }'
