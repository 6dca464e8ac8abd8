# SPDX-License-Identifier: GPL-2.0-or-later
# spank_gpumarket.so: the buyer's market flags in sbatch, salloc and srun. A
# thin adapter: the flag rules live in market/ (libgpumarket-market).
noinst_LTLIBRARIES += slurm-plugin/spank/libspank-args.la
slurm_plugin_spank_libspank_args_la_SOURCES = \
	slurm-plugin/spank/plugin_args.c slurm-plugin/spank/plugin_args.h

slurmplugin_LTLIBRARIES += slurm-plugin/spank_gpumarket.la
slurm_plugin_spank_gpumarket_la_SOURCES = \
	slurm-plugin/spank/spank_gpumarket.c slurm-plugin/spank/spank_client.c \
	slurm-plugin/spank/spank_remote.c slurm-plugin/spank/spank_internal.h
slurm_plugin_spank_gpumarket_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/slurm-plugin/spank/spank_gpumarket.map
slurm_plugin_spank_gpumarket_la_LIBADD = slurm-plugin/spank/libspank-args.la \
	market/libgpumarket-market.la common/libgpumarket-common.la
EXTRA_slurm_plugin_spank_gpumarket_la_DEPENDENCIES = $(srcdir)/slurm-plugin/spank/spank_gpumarket.map
EXTRA_DIST += slurm-plugin/spank/spank_gpumarket.map

check_PROGRAMS += slurm-plugin/spank/test/plugin_args.t
slurm_plugin_spank_test_plugin_args_t_SOURCES = slurm-plugin/spank/test/plugin_args.c
slurm_plugin_spank_test_plugin_args_t_LDADD = slurm-plugin/spank/libspank-args.la \
	common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += slurm-plugin/spank/test/plugin_args.t

# Benchmark: `srun true` latency with the plugin against without.
BENCHMARKS += $(abs_srcdir)/bench/bench-spank.sh
EXTRA_DIST += bench/bench-spank.sh

# Manual page (kept with the others in doc/).
dist_man_MANS += doc/spank_gpumarket.8
