# common: small pieces shared by every component.
# The strict gpumarket.conf parser (gm_conf_*) and decimal money (gm_money_*).
noinst_LTLIBRARIES += common/libgpumarket-common.la
common_libgpumarket_common_la_SOURCES = \
	common/conf.c common/conf.h \
	common/money.c common/money.h

check_PROGRAMS += common/test/money.t common/test/conf.t
common_test_money_t_SOURCES = common/test/money.c
common_test_money_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
common_test_conf_t_SOURCES = common/test/conf.c
common_test_conf_t_LDADD = common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += common/test/money.t common/test/conf.t
