# SPDX-License-Identifier: GPL-2.0-or-later
# market: the pure market rules (policy engine, flag and bid validation, lease
# terms and billing). No Slurm or MPI header: the SPANK plugin, the select
# plugin, the gpumarket command and the benchmarks all link this one library.
noinst_LTLIBRARIES += market/libgpumarket-market.la
market_libgpumarket_market_la_SOURCES = \
	market/policy.c market/policy.h market/sort.h \
	market/flags.c market/flags.h \
	market/job.c market/job.h
# Users link common/libgpumarket-common.la beside it (not folded in here, so a
# program or plugin that links both gets each object once).

MARKET_TEST_LDADD = market/libgpumarket-market.la common/libgpumarket-common.la tests/tap/libtap.la
check_PROGRAMS += market/test/policy.t market/test/properties.t market/test/billing.t \
	market/test/flags.t market/test/job.t
market_test_policy_t_SOURCES = market/test/policy.c
market_test_policy_t_LDADD = $(MARKET_TEST_LDADD)
market_test_properties_t_SOURCES = market/test/properties.c
market_test_properties_t_LDADD = $(MARKET_TEST_LDADD)
market_test_billing_t_SOURCES = market/test/billing.c
market_test_billing_t_LDADD = $(MARKET_TEST_LDADD)
market_test_flags_t_SOURCES = market/test/flags.c
market_test_flags_t_LDADD = $(MARKET_TEST_LDADD)
market_test_job_t_SOURCES = market/test/job.c
market_test_job_t_LDADD = $(MARKET_TEST_LDADD)
UNIT_TESTS += market/test/policy.t market/test/properties.t market/test/billing.t \
	market/test/flags.t market/test/job.t

# Benchmark: a full market decision at 1,000 to 100,000 GPUs.
noinst_PROGRAMS += bench/bench-policy
bench_bench_policy_SOURCES = bench/bench-policy.c
bench_bench_policy_LDADD = market/libgpumarket-market.la common/libgpumarket-common.la
BENCHMARKS += bench/bench-policy

dist_man_MANS += doc/gpumarket.conf.5
