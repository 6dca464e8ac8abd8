#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-train: gpumarket-train throughput (samples/s) on 2 ranks, in paired
# rounds.  Each round runs, the order rotating: 1 rank alone; 2 ranks; the
# same 2 ranks with a barrier where the gradients are summed
# (--bench-barrier-only); and two independent 1-rank runs at once, one on
# each of the first two cores.  Rows:
#  - 2 ranks against the barrier-only run (target 0.8): the same ranks,
#    the same work, the same lock step with no exchange cost, so the ratio
#    is what summing the gradients costs (at most a fifth) on whatever else
#    the machine is doing;
#  - 2 ranks against twice the slower of the two independent runs, for
#    information.  On an idle machine that is the lock-step limit too.  With
#    other work on one of two cores it is not: the kernel moves that work
#    between the cores, so each independent run gets about two thirds of a
#    core, while two ranks in lock step always wait for the one that shares
#    its core at that moment (half a core);
#  - 2 ranks against 1, for information: two ranks need both cores, so the
#    ratio is near 2 on an idle 2-core machine and near 1 with a core busy,
#    whatever the trainer does.
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
# rate NP [CPU [FLAG]]: the trainer's samples/s on NP ranks; with CPU, one
# rank on that CPU alone (mpirun would bind two separate runs both to core
# 0); FLAG is one more trainer flag.
rate() {
  flag=${3:-}
  if [ -n "${2:-}" ]; then
    set -- taskset -c "$2" "$mpirun" --bind-to none -np 1
  else
    set -- "$mpirun" -np "$1"
  fi
  # shellcheck disable=SC2086
  "$@" --oversubscribe "$train" $args $flag 2>&1 >/dev/null |
    sed -n 's/^gpumarket-train: \([0-9.]*\) samples\/s$/\1/p'
}
# apart: two 1-rank runs at once, on cores 0 and 1: twice the slower one's
# rate, nothing if one failed.
apart() {
  rate 1 0 >"$tmp/a0" &
  rate 1 1 >"$tmp/a1" &
  wait
  [ -s "$tmp/a0" ] && [ -s "$tmp/a1" ] && awk 'NR == 1 || $1 < m { m = $1 } END { printf "%.1f\n", 2 * m }' "$tmp/a0" "$tmp/a1"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gmbench-train.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
if [ "$(getconf _NPROCESSORS_ONLN)" -lt 2 ] || ! command -v taskset >/dev/null; then
  echo "gpumarket: bench-train: skipped: needs 2 CPUs and taskset" >&2
  exit 0
fi
# barrier: 2 ranks in lock step with no exchange cost.
barrier() { rate 2 "" --bench-barrier-only; }
r=0
while [ $r -lt "$rounds" ]; do
  # The barrier-only run next to the 2-rank run, before it and after it in
  # turn.
  case $((r % 4)) in
  0) one=$(rate 1); bar=$(barrier); two=$(rate 2); lim=$(apart) ;;
  1) two=$(rate 2); bar=$(barrier); lim=$(apart); one=$(rate 1) ;;
  2) lim=$(apart); one=$(rate 1); bar=$(barrier); two=$(rate 2) ;;
  *) two=$(rate 2); bar=$(barrier); one=$(rate 1); lim=$(apart) ;;
  esac
  if [ -z "$one" ] || [ -z "$two" ] || [ -z "$bar" ] || [ -z "$lim" ]; then
    echo "gpumarket: bench-train: the trainer did not report its throughput" >&2
    exit 1
  fi
  echo "# gpumarket-train round $((r + 1)): 1 rank $one samples/s, 2 ranks $two samples/s, 2 ranks with a barrier for the exchange $bar samples/s, twice the slower of two 1-rank runs at once $lim samples/s" >&2
  echo "$two $one $lim $bar" >>"$tmp/rounds"
  r=$((r + 1))
done
paired_row "$tmp/rounds" "gpumarket-train throughput 2 ranks vs 2 ranks in lock step with no exchange" samples/s 1 4 0.8 true \
  "\"note\": \"$args; the baseline: the same 2 ranks with a barrier where the gradients are summed (--bench-barrier-only), the lock step without the exchange\""
paired_row "$tmp/rounds" "gpumarket-train throughput 2 ranks vs two 1-rank runs at once" samples/s 1 3 null true \
  "\"note\": \"$args; for information: two independent 1-rank runs on cores 0 and 1, twice the slower one's rate; the lock-step limit only on an idle machine\""
paired_row "$tmp/rounds" "gpumarket-train throughput 2 ranks vs 1" samples/s 1 2 null true \
  "\"note\": \"$args; for information: near 2 on an idle 2-core machine, near 1 with a core busy\""
