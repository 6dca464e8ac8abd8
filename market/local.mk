# SPDX-License-Identifier: GPL-2.0-or-later
# market: the pure market rules (policy engine, flag and bid validation, lease
# terms and billing). No Slurm or MPI header: the SPANK plugin, the select
# plugin, the gpumarket command and the benchmarks all link this one library.
noinst_LTLIBRARIES += market/libgpumarket-market.la
market_libgpumarket_market_la_SOURCES = \
	market/policy.c market/policy.h market/sort.h \
	market/flags.c market/flags.h \
	market/job.c market/job.h \
	market/energy.c market/energy.h
# Users link common/libgpumarket-common.la beside it (not folded in here, so a
# program or plugin that links both gets each object once).

MARKET_TEST_LDADD = market/libgpumarket-market.la common/libgpumarket-common.la tests/tap/libtap.la
check_PROGRAMS += market/test/policy.t market/test/properties.t market/test/billing.t \
	market/test/flags.t market/test/job.t market/test/energy.t market/test/sort.t
market_test_policy_t_SOURCES = market/test/policy.c
market_test_policy_t_LDADD = $(MARKET_TEST_LDADD)
market_test_properties_t_SOURCES = market/test/properties.c market/test/policy-check.c \
	market/test/policy-check.h
market_test_properties_t_LDADD = $(MARKET_TEST_LDADD)
market_test_billing_t_SOURCES = market/test/billing.c
market_test_billing_t_LDADD = $(MARKET_TEST_LDADD)
market_test_flags_t_SOURCES = market/test/flags.c
market_test_flags_t_LDADD = $(MARKET_TEST_LDADD)
market_test_job_t_SOURCES = market/test/job.c
market_test_job_t_LDADD = $(MARKET_TEST_LDADD)
market_test_energy_t_SOURCES = market/test/energy.c
market_test_energy_t_LDADD = $(MARKET_TEST_LDADD)
market_test_sort_t_SOURCES = market/test/sort.c
market_test_sort_t_LDADD = $(MARKET_TEST_LDADD)
UNIT_TESTS += market/test/policy.t market/test/properties.t market/test/billing.t \
	market/test/flags.t market/test/job.t market/test/energy.t market/test/sort.t

# Benchmark: a full market decision at 1,000 to 100,000 GPUs.
noinst_PROGRAMS += bench/bench-policy
bench_bench_policy_SOURCES = bench/bench-policy.c
bench_bench_policy_LDADD = market/libgpumarket-market.la common/libgpumarket-common.la
BENCHMARKS += bench/bench-policy

# libFuzzer targets (clang only): the market flags' parsers (fuzz-flags) and
# the policy engine's decision (fuzz-decide, which checks every decision
# against market/test/policy-check.c, shared with the property tests).  Built
# by `make check` (tests/t0090-fuzz-smoke.t runs each briefly) and run for
# FUZZ_SECONDS each by `make fuzz`.
MARKET_FUZZ_SRC = $(srcdir)/market/fuzz/fuzz-flags.c $(srcdir)/market/flags.c \
	$(srcdir)/common/money.c $(srcdir)/common/text.c
MARKET_FUZZ_DECIDE_SRC = $(srcdir)/market/fuzz/fuzz-decide.c $(srcdir)/market/test/policy-check.c \
	$(srcdir)/market/policy.c $(srcdir)/common/conf.c $(srcdir)/common/io.c \
	$(srcdir)/common/money.c $(srcdir)/common/text.c
MARKET_FUZZ_DECIDE_CORPUS = market/fuzz/corpus/decide/empty market/fuzz/corpus/decide/cluster \
	market/fuzz/corpus/decide/arrays market/fuzz/corpus/decide/per-node \
	market/fuzz/corpus/decide/inconsistent market/fuzz/corpus/decide/extremes
EXTRA_DIST += market/fuzz/fuzz-flags.c market/fuzz/corpus/flags/bid \
	market/fuzz/corpus/flags/bid-import market/fuzz/corpus/flags/ckdir \
	market/fuzz/corpus/flags/maxcost market/fuzz/corpus/flags/maxcost-import \
	market/fuzz/corpus/flags/order \
	market/fuzz/fuzz-decide.c market/fuzz/make-decide-corpus.py $(MARKET_FUZZ_DECIDE_CORPUS)
CLEANFILES += market/fuzz/fuzz-flags market/fuzz/fuzz-flags.log \
	market/fuzz/fuzz-decide market/fuzz/fuzz-decide.log
MARKET_FUZZ_TARGETS = flags decide
if HAVE_CLANG
check_SCRIPTS += market/fuzz/fuzz-flags market/fuzz/fuzz-decide
market/fuzz/fuzz-flags: $(MARKET_FUZZ_SRC) $(srcdir)/market/flags.h $(srcdir)/common/money.h \
		$(srcdir)/common/text.h
	@$(MKDIR_P) market/fuzz
	$(AM_V_CCLD)$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I$(top_srcdir) -I$(top_builddir) -o $@ $(MARKET_FUZZ_SRC)
market/fuzz/fuzz-decide: $(MARKET_FUZZ_DECIDE_SRC) $(srcdir)/market/policy.h \
		$(srcdir)/market/sort.h $(srcdir)/market/test/policy-check.h $(srcdir)/common/conf.h \
		$(srcdir)/common/io.h $(srcdir)/common/money.h $(srcdir)/common/text.h
	@$(MKDIR_P) market/fuzz
	$(AM_V_CCLD)$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I$(top_srcdir) -I$(top_builddir) -o $@ \
		$(MARKET_FUZZ_DECIDE_SRC)
fuzz-market: market/fuzz/fuzz-flags market/fuzz/fuzz-decide
	@set -e; for t in $(MARKET_FUZZ_TARGETS); do \
	  $(SHELL) $(srcdir)/scripts/fuzz-run.sh ./market/fuzz/fuzz-$$t \
	    $(srcdir)/market/fuzz/corpus/$$t market/fuzz/run-$$t $(FUZZ_SECONDS); \
	done
else
fuzz-market:
	@echo "gpumarket: the fuzz targets need clang (install the Debian package clang, then re-run configure)"; exit 1
endif
fuzz: fuzz-market
.PHONY: fuzz-market
clean-local: clean-fuzz-market
clean-fuzz-market:
	-rm -rf market/fuzz/run-flags market/fuzz/run-decide
.PHONY: clean-fuzz-market
