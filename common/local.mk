# SPDX-License-Identifier: GPL-2.0-or-later
# common: small pieces shared by every component.
# The strict gpumarket.conf parser (gm_conf_*), decimal money and the one
# billing rule (gm_money_*), files (gm_io_*: open, read, write atomically,
# path_is_secure), text (messages, UTF-8, hex, the strict u64 parser).
noinst_LTLIBRARIES += common/libgpumarket-common.la
common_libgpumarket_common_la_SOURCES = \
	common/conf.c common/conf.h \
	common/io.c common/io.h \
	common/money.c common/money.h \
	common/text.c common/text.h common/rng.h

check_PROGRAMS += common/test/money.t common/test/conf.t common/test/io.t common/test/text.t \
	common/test/errf.t
common_test_money_t_SOURCES = common/test/money.c
common_test_money_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_conf_t_SOURCES = common/test/conf.c
common_test_conf_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_io_t_SOURCES = common/test/io.c
common_test_io_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_text_t_SOURCES = common/test/text.c
common_test_text_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_errf_t_SOURCES = common/test/errf.c
common_test_errf_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += common/test/money.t common/test/conf.t common/test/io.t common/test/text.t \
	common/test/errf.t

# gpumarket.conf(5): the file the parser above reads (kept in doc/).
dist_man_MANS += doc/gpumarket.conf.5

# libFuzzer target for the config parser (clang only); `make fuzz` runs it for
# FUZZ_SECONDS seconds from the seed corpus, beside the settlement targets.
EXTRA_DIST += common/test/fuzz-conf.c common/test/corpus/conf/example.conf
CLEANFILES += common/test/fuzz-conf common/test/fuzz-conf.log
if HAVE_CLANG
# Built by `make check` too: tests/t0090-fuzz-smoke.t runs it briefly.
check_SCRIPTS += common/test/fuzz-conf
common/test/fuzz-conf: $(srcdir)/common/test/fuzz-conf.c $(srcdir)/common/conf.c \
		$(srcdir)/common/money.c $(srcdir)/common/text.c $(srcdir)/common/io.c \
		$(srcdir)/common/conf.h $(srcdir)/common/money.h $(srcdir)/common/text.h \
		$(srcdir)/common/io.h
	@$(MKDIR_P) common/test
	$(AM_V_CCLD)$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-I$(top_srcdir) -I$(top_builddir) -o $@ $(srcdir)/common/test/fuzz-conf.c \
		$(srcdir)/common/conf.c $(srcdir)/common/money.c $(srcdir)/common/text.c \
		$(srcdir)/common/io.c
endif

if HAVE_CLANG
fuzz-common: common/test/fuzz-conf
	@$(SHELL) $(srcdir)/scripts/fuzz-run.sh ./common/test/fuzz-conf \
	  $(srcdir)/common/test/corpus/conf common/test/run-conf $(FUZZ_SECONDS)
else
fuzz-common:
	@echo "gpumarket: the fuzz targets need clang (install the Debian package clang, then re-run configure)"; exit 1
endif
fuzz: fuzz-common
.PHONY: fuzz-common
clean-local: clean-fuzz-common
clean-fuzz-common:
	-rm -rf common/test/run-conf
.PHONY: clean-fuzz-common
