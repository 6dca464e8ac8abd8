# SPDX-License-Identifier: GPL-2.0-or-later
# select/cons_tres_gpumarket: needs Slurm's internal headers (a configured
# source tree of the installed version, --with-slurm-source).
if BUILD_SELECT_PLUGIN
slurmplugin_LTLIBRARIES += slurm-plugin/select_cons_tres_gpumarket.la
slurm_plugin_select_cons_tres_gpumarket_la_SOURCES = slurm-plugin/select/select_gpumarket.c \
	slurm-plugin/select/receipts.c slurm-plugin/select/receipts.h \
	slurm-plugin/select/quote.c slurm-plugin/select/quote.h
# Slurm's own config.h and headers, not ours: the file is compiled as a
# plugin of the Slurm tree it was configured with.
slurm_plugin_select_cons_tres_gpumarket_la_CPPFLAGS = $(SLURM_SOURCE_CPPFLAGS) -I$(top_srcdir)
# Slurm's headers do not build warning-free under -Wmissing-prototypes and
# -Wstrict-prototypes; the rest of our warnings stay on.
slurm_plugin_select_cons_tres_gpumarket_la_CFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
	$(WERROR_FLAG) $(SANITIZER_CFLAGS)
slurm_plugin_select_cons_tres_gpumarket_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/slurm-plugin/select/select_gpumarket.map
EXTRA_slurm_plugin_select_cons_tres_gpumarket_la_DEPENDENCIES = \
	$(srcdir)/slurm-plugin/select/select_gpumarket.map
# The market rules (pure, no Slurm header), linked in.  Their includes name
# the project's own headers relative to the top of the tree.
slurm_plugin_select_cons_tres_gpumarket_la_LIBADD = market/libgpumarket-market.la \
	settlement/libgpumarket-settlement.la common/libgpumarket-common.la $(OPENSSL_LIBS)
# Benchmark: the same job stream under this plugin and plain select/cons_tres.
BENCHMARKS += $(abs_srcdir)/bench/bench-select.sh
# Benchmark: receipts from slurmctld under a burst, against ledger append;
# scheduling with receipts on against Receipts=no (issue 12).
BENCHMARKS += $(abs_srcdir)/bench/bench-receipts.sh
endif
EXTRA_DIST += bench/bench-select.sh bench/bench-receipts.sh
EXTRA_DIST += slurm-plugin/select/select_gpumarket.c slurm-plugin/select/select_gpumarket.map \
	slurm-plugin/select/receipts.c slurm-plugin/select/receipts.h \
	slurm-plugin/select/quote.c slurm-plugin/select/quote.h
