# spank_gpumarket.so, the buyer's market flags, and the pure logic behind it.
noinst_LTLIBRARIES += slurm-plugin/spank/libgpumarket-flags.la
slurm_plugin_spank_libgpumarket_flags_la_SOURCES = \
	slurm-plugin/spank/market_flags.c slurm-plugin/spank/market_flags.h \
	slurm-plugin/spank/plugin_args.c slurm-plugin/spank/plugin_args.h

slurmplugin_LTLIBRARIES += slurm-plugin/spank_gpumarket.la
slurm_plugin_spank_gpumarket_la_SOURCES = \
	slurm-plugin/spank/spank_gpumarket.c slurm-plugin/spank/spank_client.c \
	slurm-plugin/spank/spank_remote.c slurm-plugin/spank/spank_internal.h
slurm_plugin_spank_gpumarket_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/slurm-plugin/spank/spank_gpumarket.map
slurm_plugin_spank_gpumarket_la_LIBADD = slurm-plugin/spank/libgpumarket-flags.la \
	common/libgpumarket-common.la
EXTRA_slurm_plugin_spank_gpumarket_la_DEPENDENCIES = $(srcdir)/slurm-plugin/spank/spank_gpumarket.map
EXTRA_DIST += slurm-plugin/spank/spank_gpumarket.map

check_PROGRAMS += slurm-plugin/spank/test/flags.t
slurm_plugin_spank_test_flags_t_SOURCES = slurm-plugin/spank/test/flags.c
slurm_plugin_spank_test_flags_t_LDADD = slurm-plugin/spank/libgpumarket-flags.la \
	common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += slurm-plugin/spank/test/flags.t

# Benchmark: `srun true` latency with the plugin against without.
BENCHMARKS += $(abs_srcdir)/bench/bench-spank.sh
EXTRA_DIST += bench/bench-spank.sh
