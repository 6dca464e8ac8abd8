# common: small pieces shared by every component.
# The strict gpumarket.conf parser (gm_conf_*) and decimal money (gm_money_*).
noinst_LTLIBRARIES += common/libgpumarket-common.la
common_libgpumarket_common_la_SOURCES = \
	common/conf.c common/conf.h \
	common/money.c common/money.h \
	common/text.c common/text.h common/rng.h

check_PROGRAMS += common/test/money.t common/test/conf.t
common_test_money_t_SOURCES = common/test/money.c
common_test_money_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_conf_t_SOURCES = common/test/conf.c
common_test_conf_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += common/test/money.t common/test/conf.t

# libFuzzer target (clang only; not part of `make check`, run it by hand):
#   make common/test/fuzz-conf && common/test/fuzz-conf -max_total_time=60
EXTRA_DIST += common/test/fuzz-conf.c
CLEANFILES += common/test/fuzz-conf
if HAVE_CLANG
common/test/fuzz-conf: $(srcdir)/common/test/fuzz-conf.c $(srcdir)/common/conf.c \
		$(srcdir)/common/money.c $(srcdir)/common/text.c $(srcdir)/common/conf.h \
		$(srcdir)/common/money.h $(srcdir)/common/text.h
	@$(MKDIR_P) common/test
	$(AM_V_CCLD)$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
		-I$(top_srcdir) -I$(top_builddir) -o $@ $(srcdir)/common/test/fuzz-conf.c \
		$(srcdir)/common/conf.c $(srcdir)/common/money.c $(srcdir)/common/text.c
endif
