#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Non-market work is scheduled exactly as by plain select/cons_tres: the same
# mix of local jobs (GPUs, CPUs, several nodes, --exclusive, typed GPUs)
# released at once on two identical sandboxes, one per select plugin, gets
# the same placements and the same waiting jobs, wave after wave.
. "$top_srcdir/tests/tap/tap.sh"
. "$top_srcdir/tests/sandbox.sh"
. "$top_srcdir/tests/market.sh"
require_sandbox
plan 7

declare -A CONF
sandbox_up --nodes 3 --gpus-per-node 4 --select cons_tres
ok $? "sandbox with plain select/cons_tres is up" || { finish; exit; }
CONF[plain]=$SLURM_CONF
sandbox_up --nodes 3 --gpus-per-node 4 --select gpumarket
ok $? "sandbox with select/cons_tres_gpumarket is up" || { finish; exit; }
CONF[market]=$SLURM_CONF

mix=(
  "-J j01 --gres=gpu:2"
  "-J j02 --gres=gpu:h100:3 -c 2"
  "-J j03 -N 2 --gres=gpu:1"
  "-J j04 --exclusive"
  "-J j05 --gpus=3"
  "-J j06 -c 6"
  "-J j07 --gres=gpu:4"
  "-J j08 --gpus-per-node=1 -N 3"
  "-J j09 --gres=gpu:1 -c 1"
  "-J j10 -n 4 --gpus-per-task=1"
)
# submit SIDE: the whole mix, held, then released at once.
submit() {
  local side=$1 ids=() spec
  for spec in "${mix[@]}"; do
    # shellcheck disable=SC2086
    ids+=("$(SLURM_CONF=${CONF[$side]} sbatch --parsable -H -p local $spec -o /dev/null --wrap 'sleep 600')")
  done
  SLURM_CONF=${CONF[$side]} scontrol release "${ids[@]}"
}
# layout SIDE: job name, state and nodes of every job, sorted by name.
layout() {
  SLURM_CONF=${CONF[$1]} squeue -h -o '%j %T %N' | sort
}
settled() { # nothing changes for 3 s
  local a b
  a=$(layout "$1"); sleep 3; b=$(layout "$1")
  [ "$a" = "$b" ] && grep -q RUNNING <<<"$a"
}
submit plain
submit market
wait_for 60 settled plain && wait_for 60 settled market
ok $? "both clusters settled"
lp=$(layout plain) lm=$(layout market)
[ "$lp" = "$lm" ]
ok $? "first wave: the same jobs run on the same nodes, the same wait"
[ "$lp" = "$lm" ] || diag "cons_tres:"$'\n'"$lp"$'\n'"gpumarket:"$'\n'"$lm"

# Second wave: end the same two jobs on both sides.
for side in plain market; do
  SLURM_CONF=${CONF[$side]} scancel -n j01,j07
done
sleep 1
wait_for 60 settled plain && wait_for 60 settled market
lp=$(layout plain) lm=$(layout market)
[ "$lp" = "$lm" ]
ok $? "second wave after two jobs end: the same again"
[ "$lp" = "$lm" ] || diag "cons_tres:"$'\n'"$lp"$'\n'"gpumarket:"$'\n'"$lm"
diag "layout:"$'\n'"$lm"
grep -q 'gpumarket: market policy from' "$SANDBOX_DIR/log/slurmctld.log"
ok $? "the gpumarket side did run the market plugin"
SLURM_CONF=${CONF[market]} ctld_alive
ok $? "slurmctld is up"
for side in plain market; do SLURM_CONF=${CONF[$side]} scancel -u root 2>/dev/null; done
finish
