# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=sh
# Paired rounds (sourced by bench-select.sh, bench-receipts.sh,
# bench-spank.sh and bench-train.sh): each round
# measures ours and the baseline under the same load; a row gives the
# medians of both, the median of the per-round ratios and its quartiles.

# paired_row FILE NAME UNIT OURS_COL BASE_COL TARGET HIGHER [EXTRA]: one JSON
# line from FILE's whitespace-separated columns (one line per round).
# TARGET is a number or null; EXTRA is more JSON members, without the
# leading comma ("\"jobs\": 60").
paired_row() {
  awk -v name="$2" -v unit="$3" -v o="$4" -v b="$5" -v t="$6" -v hi="$7" -v extra="${8:-}" '
    function sort(a, k,   i, j, x) {
      for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    }
    function q(a, k, f,   p, i) { p = f * (k - 1) + 1; i = int(p); return (i >= k) ? a[k] : a[i] + (p - i) * (a[i + 1] - a[i]) }
    $b > 0 { n++; ov[n] = $o; bv[n] = $b; rv[n] = $o / $b }
    END {
      if (n == 0) exit 1
      sort(ov, n); sort(bv, n); sort(rv, n)
      printf "{\"name\": \"%s\", \"unit\": \"%s\", \"ours\": %.3f, \"baseline\": %.3f, \"ratio\": %.3f, \"target\": %s, \"higher_is_better\": %s, \"rounds\": %d, \"spread\": [%.3f, %.3f]%s}\n",
        name, unit, q(ov, n, 0.5), q(bv, n, 0.5), q(rv, n, 0.5), t, hi, n, q(rv, n, 0.25), q(rv, n, 0.75),
        (extra == "") ? "" : ", " extra
    }' "$1"
}

# hold_gpus DIR NODES GPUS_PER_NODE: a job on the local partition that holds
# every GPU of the sandbox in DIR (its shape, as `gpumarket-sandbox up` made
# it), once it runs; prints its id.  The compared
# streams are submitted while it runs and released by cancelling it: its
# end (the epilog complete of each node) makes slurmctld schedule at once.
# `scontrol release` of held jobs would leave the first start to
# slurmctld's periodic pass (sched_interval, whole seconds), whose phase
# against the release is 0 to 2 s, unrelated to either scheduler, and
# would be most of a round's difference.
hold_gpus() {
  hold_id=$(SLURM_CONF=$1/etc/slurm.conf sbatch --parsable -p local -N"$2" --gres=gpu:"$3" -o /dev/null \
    --wrap 'sleep 900') || return 1
  hold_wait=0
  while [ $hold_wait -lt 150 ]; do
    if [ "$(SLURM_CONF=$1/etc/slurm.conf squeue -h -j "$hold_id" -o %T)" = RUNNING ]; then
      echo "$hold_id"
      return 0
    fi
    sleep 0.2
    hold_wait=$((hold_wait + 1))
  done
  echo "bench: the job holding the GPUs of $1 did not start" >&2
  return 1
}

# free_gpus DIR ID: prints the time, then cancels the job hold_gpus started.
free_gpus() {
  date +%s.%N
  SLURM_CONF=$1/etc/slurm.conf scancel "$2"
}

# free_pair ROUND DIR_A ID_A DIR_B ID_B: free_gpus on both sandboxes, A first
# in odd rounds and B first in even ones (whichever goes second waits for
# the first's scancel); prints "TIME_A TIME_B".
free_pair() {
  if [ $(($1 % 2)) -eq 1 ]; then
    pair_a=$(free_gpus "$2" "$3")
    pair_b=$(free_gpus "$4" "$5")
  else
    pair_b=$(free_gpus "$4" "$5")
    pair_a=$(free_gpus "$2" "$3")
  fi
  echo "$pair_a $pair_b"
}

# stamp_stats STAMPS RELEASED: "JOBS_PER_S MEDIAN_WAIT" from a file of start
# times (date +%s.%N, one per job, written by each job's batch script) and
# the time the jobs were released; the waits go to STAMPS.waits.  Slurm's
# StartTime has whole seconds, too coarse for the differences measured.
stamp_stats() {
  awk -v r="$2" '{ w = $1 - r; print w > (FILENAME ".waits"); if (w > max) max = w }
                 END { printf "%.4f ", (max > 0) ? NR / max : 0 }' "$1"
  sort -n "$1.waits" | awk '{ a[NR] = $1 } END { printf "%.4f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
