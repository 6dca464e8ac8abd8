# SPDX-License-Identifier: GPL-2.0-or-later
# Functions of scripts/demo.sh that tests call too (tests/t0007-demo-messages.t).

# segment_status RC: the line the demo's training job prints when one segment
# of the job ends with exit status RC.  75 is GMPI_EXIT_PREEMPTED
# (gpumarket_mpi.h): the ranks agreed on a preemption notice, saved a
# checkpoint and exited so that Slurm requeues the job (RequeueExit=75).
segment_status() {
  local rc=$1
  case $rc in
    0) echo "segment ended with status 0: the training finished" ;;
    75) echo "segment ended with status 75: checkpoint saved after a preemption notice; Slurm requeues the job" ;;
    *)
      if [ "$rc" -gt 128 ] 2>/dev/null; then
        echo "segment ended with status $rc: killed by signal $((rc - 128))"
      else
        echo "segment ended with status $rc: the training failed (its messages are above)"
      fi
      ;;
  esac
}
