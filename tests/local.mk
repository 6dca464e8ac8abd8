# SPDX-License-Identifier: GPL-2.0-or-later
# Integration tests: numbered shell scripts that start a real sandbox cluster.
INTEGRATION_TESTS += \
	tests/t0001-sandbox.t \
	tests/t0002-sandbox-mpi.t \
	tests/t0003-sandbox-preempt.t \
	tests/t0004-sandbox-bad-input.t \
	tests/t0005-configure.t \
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
	tests/t3008-market-restart.t
EXTRA_DIST += $(INTEGRATION_TESTS) tests/sandbox.sh tests/market.sh

# A 2-rank MPI program that checks its own allreduce result.
check_PROGRAMS += tests/mpi_allreduce_check
tests_mpi_allreduce_check_SOURCES = tests/mpi_allreduce_check.c
tests_mpi_allreduce_check_CFLAGS = $(AM_CFLAGS) $(MPI_CFLAGS)
tests_mpi_allreduce_check_LDADD = $(MPI_LIBS)

# Submits a market job through Slurm's C API with a forged SPANK job
# environment (tests/t3004-market-forged.t).  Linked with libslurmfull, the
# library Slurm's own sbatch uses (it sits in Slurm's plugin directory): a
# program linked with the public libslurm cannot load select plugins.
check_PROGRAMS += tests/forge_submit
tests_forge_submit_SOURCES = tests/forge_submit.c
tests_forge_submit_LDFLAGS = -L$(SLURM_SYSTEM_PLUGINDIR) -Wl,-rpath,$(SLURM_SYSTEM_PLUGINDIR)
tests_forge_submit_LDADD = -lslurmfull
