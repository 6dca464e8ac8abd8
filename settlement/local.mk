# SPDX-License-Identifier: GPL-2.0-or-later
# settlement: libgpumarket-settlement (receipts, keys, Merkle ledger,
# checkpoints), its tests, fuzz targets and benchmark.

lib_LTLIBRARIES += settlement/libgpumarket-settlement.la
pkginclude_HEADERS += settlement/gpumarket-settlement.h
settlement_libgpumarket_settlement_la_SOURCES = \
	settlement/util.c settlement/util.h settlement/json.c settlement/json.h \
	settlement/receipt.c settlement/policy.c settlement/key.c settlement/merkle.c \
	settlement/checkpoint.c settlement/ledger-internal.h settlement/ledger.c \
	settlement/ledger-append.c settlement/ledger-trust.c settlement/verify.c settlement/audit.c \
	settlement/segments.c
settlement_libgpumarket_settlement_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
settlement_libgpumarket_settlement_la_LIBADD = common/libgpumarket-common.la $(OPENSSL_LIBS)
# Only the public API (gpumarket-settlement.h) is exported; the helpers of
# util.c and json.c and the common/ objects folded in stay private.
# -version-info 1:0:0 is 0.2.0's: struct gm_receipt grew (recovered,
# energy_source, policy) and the governance API (gm_governance_*,
# gm_ledger_apply_policy, ...) was added, all before 0.2.0 shipped.
settlement_libgpumarket_settlement_la_LDFLAGS = $(AM_LDFLAGS) -version-info 1:0:0 \
	-export-symbols-regex '^gm_(checkpoint|end|governance|key|ledger|merkle|receipt|segments|signed)_'


SETTLEMENT_TEST_LDADD = settlement/libgpumarket-settlement.la tests/tap/libtap.la $(OPENSSL_LIBS)
SETTLEMENT_TEST_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

check_PROGRAMS += settlement/test/receipt.t settlement/test/merkle.t \
	settlement/test/merkle-adversarial.t settlement/test/receipt-strings.t \
	settlement/test/ledger-trust.t settlement/test/segments.t
UNIT_TESTS += settlement/test/receipt.t settlement/test/merkle.t \
	settlement/test/merkle-adversarial.t settlement/test/receipt-strings.t \
	settlement/test/ledger-trust.t settlement/test/segments.t
settlement_test_segments_t_SOURCES = settlement/test/segments.c
settlement_test_segments_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_segments_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_ledger_trust_t_SOURCES = settlement/test/ledger-trust.c
settlement_test_ledger_trust_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_ledger_trust_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_receipt_strings_t_SOURCES = settlement/test/receipt-strings.c
settlement_test_receipt_strings_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_receipt_strings_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_merkle_adversarial_t_SOURCES = settlement/test/merkle-adversarial.c
settlement_test_merkle_adversarial_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_merkle_adversarial_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_receipt_t_SOURCES = settlement/test/receipt.c
settlement_test_receipt_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_receipt_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_merkle_t_SOURCES = settlement/test/merkle.c
settlement_test_merkle_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_merkle_t_LDADD = $(SETTLEMENT_TEST_LDADD)

# The billing rule at its bound, through receipts and the policy engine.
check_PROGRAMS += settlement/test/bill.t
UNIT_TESTS += settlement/test/bill.t
settlement_test_bill_t_SOURCES = settlement/test/bill.c
settlement_test_bill_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_bill_t_LDADD = settlement/libgpumarket-settlement.la market/libgpumarket-market.la \
	common/libgpumarket-common.la tests/tap/libtap.la $(OPENSSL_LIBS)

# Governance: M-of-N admin-signed policy changes in the ledger.
check_PROGRAMS += settlement/test/policy.t
UNIT_TESTS += settlement/test/policy.t
settlement_test_policy_t_SOURCES = settlement/test/policy.c
settlement_test_policy_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_policy_t_LDADD = settlement/libgpumarket-settlement.la \
	common/libgpumarket-common.la tests/tap/libtap.la $(OPENSSL_LIBS)

check_PROGRAMS += settlement/test/checkpoint.t settlement/test/ledger.t settlement/test/keys.t
UNIT_TESTS += settlement/test/checkpoint.t settlement/test/ledger.t settlement/test/keys.t
settlement_test_checkpoint_t_SOURCES = settlement/test/checkpoint.c
settlement_test_checkpoint_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_checkpoint_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_ledger_t_SOURCES = settlement/test/ledger.c
settlement_test_ledger_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_ledger_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_keys_t_SOURCES = settlement/test/keys.c
settlement_test_keys_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_keys_t_LDADD = $(SETTLEMENT_TEST_LDADD)

# Shell tests: the gpumarket command, openssl interop, crash loop.
SETTLEMENT_SHELL_TESTS = tests/t2001-settlement-keys.t tests/t2002-settlement-merkle-openssl.t \
	tests/t2003-settlement-crash.t tests/t2004-settlement-cli.t tests/t2005-settlement-config.t \
	tests/t2006-settlement-regressions.t tests/t2007-policy-cli.t
INTEGRATION_TESTS += $(SETTLEMENT_SHELL_TESTS)
EXTRA_DIST += $(SETTLEMENT_SHELL_TESTS)

# Fuzz targets (libFuzzer): built with clang from the library's sources so
# the library is instrumented too; `make fuzz` builds them and runs each for
# FUZZ_SECONDS seconds on a copy of its seed corpus.
SETTLEMENT_FUZZ_LIBSRC = $(srcdir)/settlement/util.c $(srcdir)/settlement/json.c \
	$(srcdir)/settlement/receipt.c $(srcdir)/settlement/policy.c $(srcdir)/common/conf.c \
	$(srcdir)/settlement/key.c $(srcdir)/settlement/merkle.c $(srcdir)/settlement/checkpoint.c \
	$(srcdir)/settlement/ledger.c $(srcdir)/settlement/ledger-append.c $(srcdir)/settlement/ledger-trust.c \
	$(srcdir)/settlement/verify.c $(srcdir)/settlement/audit.c $(srcdir)/common/text.c \
	$(srcdir)/common/io.c $(srcdir)/common/money.c
SETTLEMENT_FUZZ_TARGETS = fuzz-receipt fuzz-record fuzz-checkpoint fuzz-key fuzz-policy
EXTRA_DIST += $(SETTLEMENT_FUZZ_TARGETS:%=settlement/fuzz/%.c) \
	settlement/fuzz/corpus/receipt/input.json settlement/fuzz/corpus/receipt/signed.json \
	settlement/fuzz/corpus/receipt/canonical.json \
	settlement/fuzz/corpus/receipt/canonical-recovered.json settlement/fuzz/corpus/record/one-record \
	settlement/fuzz/corpus/checkpoint/cp settlement/fuzz/corpus/key/public.pem \
	settlement/fuzz/corpus/key/vkey settlement/fuzz/corpus/policy/proposal.json \
	settlement/fuzz/corpus/policy/signature.sig settlement/fuzz/corpus/policy/record.json
FUZZ_SECONDS = 10
SETTLEMENT_FUZZ_CC = $(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I$(top_srcdir) -I$(top_builddir) $(OPENSSL_CFLAGS)
CLEANFILES += $(SETTLEMENT_FUZZ_TARGETS:%=settlement/fuzz/%) $(SETTLEMENT_FUZZ_TARGETS:%=settlement/fuzz/%.log)

if HAVE_CLANG
# Built by `make check` too: tests/t0090-fuzz-smoke.t runs each briefly.
check_SCRIPTS += $(SETTLEMENT_FUZZ_TARGETS:%=settlement/fuzz/%)
settlement/fuzz/fuzz-receipt: $(srcdir)/settlement/fuzz/fuzz-receipt.c $(SETTLEMENT_FUZZ_LIBSRC)
	$(AM_V_CC)$(MKDIR_P) settlement/fuzz && $(SETTLEMENT_FUZZ_CC) -o $@ $^ $(OPENSSL_LIBS) -lpthread
settlement/fuzz/fuzz-record: $(srcdir)/settlement/fuzz/fuzz-record.c $(SETTLEMENT_FUZZ_LIBSRC)
	$(AM_V_CC)$(MKDIR_P) settlement/fuzz && $(SETTLEMENT_FUZZ_CC) -o $@ $^ $(OPENSSL_LIBS) -lpthread
settlement/fuzz/fuzz-checkpoint: $(srcdir)/settlement/fuzz/fuzz-checkpoint.c $(SETTLEMENT_FUZZ_LIBSRC)
	$(AM_V_CC)$(MKDIR_P) settlement/fuzz && $(SETTLEMENT_FUZZ_CC) -o $@ $^ $(OPENSSL_LIBS) -lpthread
settlement/fuzz/fuzz-key: $(srcdir)/settlement/fuzz/fuzz-key.c $(SETTLEMENT_FUZZ_LIBSRC)
	$(AM_V_CC)$(MKDIR_P) settlement/fuzz && $(SETTLEMENT_FUZZ_CC) -o $@ $^ $(OPENSSL_LIBS) -lpthread
settlement/fuzz/fuzz-policy: $(srcdir)/settlement/fuzz/fuzz-policy.c $(SETTLEMENT_FUZZ_LIBSRC)
	$(AM_V_CC)$(MKDIR_P) settlement/fuzz && $(SETTLEMENT_FUZZ_CC) -o $@ $^ $(OPENSSL_LIBS) -lpthread

fuzz-settlement: $(SETTLEMENT_FUZZ_TARGETS:%=settlement/fuzz/%)
	@set -e; for t in receipt record checkpoint key policy; do \
	  $(SHELL) $(srcdir)/scripts/fuzz-run.sh ./settlement/fuzz/fuzz-$$t \
	    $(srcdir)/settlement/fuzz/corpus/$$t settlement/fuzz/run-$$t $(FUZZ_SECONDS) \
	    $$(test $$t = key && echo private.pem); \
	done
else
fuzz-settlement:
	@echo "gpumarket: the fuzz targets need clang (install the Debian package clang, then re-run configure)"; exit 1
endif
fuzz: fuzz-settlement
.PHONY: fuzz fuzz-settlement

# Benchmark (run by `make bench`).
noinst_PROGRAMS += bench/bench-settlement
BENCHMARKS += bench/bench-settlement
bench_bench_settlement_SOURCES = bench/bench-settlement.c
bench_bench_settlement_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_bench_settlement_LDADD = settlement/libgpumarket-settlement.la $(OPENSSL_LIBS)
# The segment journal's cost on slurmctld's locked path (lookup, memory).
noinst_PROGRAMS += bench/bench-segments
BENCHMARKS += bench/bench-segments
bench_bench_segments_SOURCES = bench/bench-segments.c
bench_bench_segments_LDADD = settlement/libgpumarket-settlement.la

clean-local: clean-fuzz-settlement
clean-fuzz-settlement:
	-rm -rf settlement/fuzz/run-receipt settlement/fuzz/run-record settlement/fuzz/run-checkpoint \
	  settlement/fuzz/run-key settlement/fuzz/run-policy
.PHONY: clean-fuzz-settlement
