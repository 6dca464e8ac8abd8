#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# crash_report (tests/sandbox.sh), which the sandbox tests use to explain a
# task that died on a signal: silent without a crash, the srun and Open MPI
# lines when there is one, and gdb's backtrace of the core it left.
. "$(dirname "$0")/tap/preamble.sh"
. "$top_srcdir/tests/sandbox.sh"

pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
if command -v gdb >/dev/null && [ -n "$pattern" ] && [ "${pattern#|}" = "$pattern" ] &&
  [ "${pattern#/}" = "$pattern" ]; then
  test_set_prereq CORE
else
  test_missing_prereq CORE "no gdb, or core_pattern '$pattern' does not write cores in the working directory"
fi

test_expect_success 'a job that ran to its end gives no report' '
  mkdir ok && printf "segment 0 starts\nfinal loss 1.5 after 3 steps\n" >ok/job.out &&
  crash_report ok ok/job.out /bin/true >report &&
  ! test -s report
'

test_expect_success 'a task srun saw die on SIGSEGV is reported without a core too' '
  mkdir nocore &&
  printf "segment 0 starts\n[vm:9147] *** Process received signal ***\n[vm:9147] Signal: Segmentation fault (11)\n[vm:9147] Failing at address: (nil)\nsrun: error: gm1: task 2: Segmentation fault (core dumped)\n" >nocore/job.out &&
  crash_report nocore nocore/job.out /bin/true >report &&
  test_grep "^a task crashed; from nocore/job.out" report &&
  test_grep "gm1: task 2: Segmentation fault" report &&
  test_grep "Failing at address: (nil)" report &&
  test_grep "no core file in nocore" report
'

# segfault_in DIR: a shell that dies on SIGSEGV in DIR, its core left there.
segfault_in() {
  (cd "$1" && ulimit -c unlimited && exec bash -c 'kill -SEGV $$') 2>/dev/null
  [ $? -eq $((128 + 11)) ]
}

test_expect_success CORE 'a core left in the directory comes with its backtrace' '
  mkdir crash &&
  segfault_in crash &&
  ls crash/core* >/dev/null &&
  printf "srun: error: gm1: task 0: Segmentation fault (core dumped)\n" >crash/job.out &&
  crash_report crash crash/job.out "$(command -v bash)" >report &&
  test_grep "^backtrace of crash/core" report &&
  test_grep "^#0 " report
'

test_done
