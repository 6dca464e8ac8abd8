# SPDX-License-Identifier: GPL-2.0-or-later
# Integration tests: numbered shell scripts that start a real sandbox cluster.
INTEGRATION_TESTS += \
	tests/t0001-sandbox.t \
	tests/t0002-sandbox-mpi.t \
	tests/t0003-sandbox-preempt.t \
	tests/t0004-sandbox-bad-input.t \
	tests/t0005-configure.t \
	tests/t0006-readme-quickstart.t \
	tests/t0007-demo-messages.t \
	tests/t0008-layout.t \
	tests/t0009-installed-libraries.t \
	tests/t0090-fuzz-smoke.t \
	tests/t2090-settlement-powerloss.t \
	tests/t0010-sandbox-hosts.t \
	tests/t0011-sandbox-hosts-mpi.t \
	tests/t0012-sandbox-hosts-node-down.t \
	tests/t0013-sandbox-hosts-refused.t \
	tests/t1001-spank-flags.t \
	tests/t1002-spank-valgrind.t \
	tests/t4101-train-preempt.t \
	tests/t3001-market-price.t \
	tests/t3002-market-reserve-dwell.t \
	tests/t3003-market-lease.t \
	tests/t3004-market-forged.t \
	tests/t3005-market-preempt.t \
	tests/t3006-market-valgrind.t \
	tests/t3007-market-unchanged.t \
	tests/t3008-market-restart.t \
	tests/t3009-market-receipts.t \
	tests/t3010-market-receipts-crash.t \
	tests/t3011-market-receipts-full-disk.t \
	tests/t3012-market-quote.t \
	tests/t3013-market-per-node.t \
	tests/t3014-market-governance.t
EXTRA_DIST += $(INTEGRATION_TESTS) tests/sandbox.sh tests/market.sh tests/peers/tlog_check.go

# crash_report of tests/sandbox.sh, which needs no sandbox: a crashed task
# of a sandbox test must be explained by its TAP output.
UNIT_TESTS += tests/crash-report.t
EXTRA_DIST += tests/crash-report.t

# bench/report.sh on a fixed results file (no sandbox, no live benchmark):
# the table's verdicts, the Markdown report and its PNG plots.
UNIT_TESTS += tests/t0014-bench-report.t
EXTRA_DIST += tests/t0014-bench-report.t

# A 2-rank MPI program that checks its own allreduce result.
check_PROGRAMS += tests/mpi_allreduce_check
tests_mpi_allreduce_check_SOURCES = tests/mpi_allreduce_check.c
tests_mpi_allreduce_check_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
tests_mpi_allreduce_check_LDADD = $(MPI_LIBS)

# A preloaded library that kills a process right after its Nth write to one
# file and logs what each sync made durable (tests/t2090-settlement-powerloss.t).
check_LTLIBRARIES += tests/fault/crashpoint.la
tests_fault_crashpoint_la_SOURCES = tests/fault/crashpoint.c
# No sanitizer runtime: it is preloaded into programs built without one.
tests_fault_crashpoint_la_CFLAGS = -std=gnu11 $(WARNING_CFLAGS)
tests_fault_crashpoint_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_fault_crashpoint_la_LIBADD = -ldl

# Submits a market job through Slurm's C API with a forged SPANK job
# environment (tests/t3004-market-forged.t).  Linked with libslurmfull, the
# library Slurm's own sbatch uses (it sits in Slurm's plugin directory): a
# program linked with the public libslurm cannot load select plugins.
check_PROGRAMS += tests/forge_submit
tests_forge_submit_SOURCES = tests/forge_submit.c
tests_forge_submit_LDFLAGS = -L$(SLURM_SYSTEM_PLUGINDIR) -Wl,-rpath,$(SLURM_SYSTEM_PLUGINDIR)
tests_forge_submit_LDADD = -lslurmfull
