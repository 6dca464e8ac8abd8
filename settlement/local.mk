# settlement: libgpumarket-settlement (receipts, keys, Merkle ledger,
# checkpoints), the gpumarket command, their tests, fuzz targets and benchmark.

lib_LTLIBRARIES += settlement/libgpumarket-settlement.la
include_HEADERS += settlement/gpumarket-settlement.h
settlement_libgpumarket_settlement_la_SOURCES = \
	settlement/util.c settlement/util.h \
	settlement/receipt.c settlement/key.c settlement/merkle.c \
	settlement/checkpoint.c settlement/ledger.c settlement/verify.c
settlement_libgpumarket_settlement_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
settlement_libgpumarket_settlement_la_LIBADD = $(OPENSSL_LIBS)
settlement_libgpumarket_settlement_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0

SETTLEMENT_TEST_LDADD = settlement/libgpumarket-settlement.la tests/tap/libtap.la $(OPENSSL_LIBS)
SETTLEMENT_TEST_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

check_PROGRAMS += settlement/test/receipt.t settlement/test/merkle.t
UNIT_TESTS += settlement/test/receipt.t settlement/test/merkle.t
settlement_test_receipt_t_SOURCES = settlement/test/receipt.c
settlement_test_receipt_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_receipt_t_LDADD = $(SETTLEMENT_TEST_LDADD)
settlement_test_merkle_t_SOURCES = settlement/test/merkle.c
settlement_test_merkle_t_CFLAGS = $(SETTLEMENT_TEST_CFLAGS)
settlement_test_merkle_t_LDADD = $(SETTLEMENT_TEST_LDADD)

bin_PROGRAMS += settlement/gpumarket
settlement_gpumarket_SOURCES = settlement/gpumarket.c
settlement_gpumarket_LDADD = settlement/libgpumarket-settlement.la

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
	tests/t2003-settlement-crash.t tests/t2004-settlement-cli.t
INTEGRATION_TESTS += $(SETTLEMENT_SHELL_TESTS)
EXTRA_DIST += $(SETTLEMENT_SHELL_TESTS)
