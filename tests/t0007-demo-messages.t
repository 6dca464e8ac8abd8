#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What the demo's training job says when a segment ends: a normal end is not
# reported as a checkpoint after a preemption notice (issue 9).  The job
# script is the one scripts/demo.sh writes, run here with an srun that exits
# with the status under test.
. "$(dirname "$0")/tap/preamble.sh"
. "$top_srcdir/scripts/demo-lib.sh"

test_expect_success 'status 0 says the training finished, and nothing of a preemption' '
  segment_status 0 >actual &&
  echo "segment ended with status 0: the training finished" >expect &&
  test_cmp expect actual
'

test_expect_success 'status 75 says a checkpoint was saved after a preemption notice' '
  segment_status 75 >actual &&
  echo "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" >expect &&
  test_cmp expect actual
'

test_expect_success '75 is the runtime'"'"'s GMPI_EXIT_PREEMPTED' '
  grep -E "^#define GMPI_EXIT_PREEMPTED[[:space:]]+75$" "$top_srcdir/mpi-runtime/gpumarket_mpi.h"
'

test_expect_success 'a failure and a signal are named as such' '
  segment_status 1 >actual &&
  segment_status 137 >>actual &&
  printf "%s\n" "segment ended with status 1: the training failed (its messages are above)" \
    "segment ended with status 137: killed by signal 9" >expect &&
  test_cmp expect actual
'

# The job script exactly as demo.sh writes it (its here-document), with the
# demo's variables set; srun is a stub that exits with $FAKE_RC.
sed -n '/^cat >"\$dir\/train.sh" <<JOB$/,/^JOB$/p' "$top_srcdir/scripts/demo.sh" | sed '1d;$d' >heredoc
dir=$TEST_TMPDIR train=/bin/true args=
eval "cat >train.sh <<JOB
$(cat heredoc)
JOB"
mkdir -p bin
printf '#!/bin/sh\nexit "$FAKE_RC"\n' >bin/srun
chmod +x bin/srun train.sh

test_expect_success 'demo.sh writes a job script that uses segment_status' '
  test -s heredoc &&
  test_grep -x "segment_status \\\\\$rc" heredoc
'

test_expect_success 'the demo job ending normally reports a finished training, exit 0' '
  FAKE_RC=0 PATH=$PWD/bin:$PATH ./train.sh >out 2>&1 &&
  test_grep -x "segment ended with status 0: the training finished" out &&
  test_grep -v "preemption" out
'

test_expect_success 'the demo job preempted reports the checkpoint and exits 75 for the requeue' '
  test_expect_code 75 env FAKE_RC=75 PATH=$PWD/bin:$PATH ./train.sh >out 2>&1 &&
  test_grep -x "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" out
'

test_done
