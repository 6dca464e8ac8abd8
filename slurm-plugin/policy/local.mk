# The market policy engine: pure decision logic, no Slurm or MPI header.
noinst_LTLIBRARIES += slurm-plugin/policy/libgpumarket-policy.la
slurm_plugin_policy_libgpumarket_policy_la_SOURCES = \
	slurm-plugin/policy/policy.c slurm-plugin/policy/policy.h \
	slurm-plugin/policy/sort.h
# Users link common/libgpumarket-common.la beside it (not folded in here, so a
# program or plugin that links both gets each object once).

check_PROGRAMS += slurm-plugin/policy/test/policy.t slurm-plugin/policy/test/properties.t \
	slurm-plugin/policy/test/money.t
slurm_plugin_policy_test_policy_t_SOURCES = slurm-plugin/policy/test/policy.c
slurm_plugin_policy_test_policy_t_LDADD = slurm-plugin/policy/libgpumarket-policy.la \
	common/libgpumarket-common.la tests/tap/libtap.la
slurm_plugin_policy_test_properties_t_SOURCES = slurm-plugin/policy/test/properties.c
slurm_plugin_policy_test_properties_t_LDADD = slurm-plugin/policy/libgpumarket-policy.la \
	common/libgpumarket-common.la tests/tap/libtap.la
slurm_plugin_policy_test_money_t_SOURCES = slurm-plugin/policy/test/money.c
slurm_plugin_policy_test_money_t_LDADD = slurm-plugin/policy/libgpumarket-policy.la \
	common/libgpumarket-common.la tests/tap/libtap.la
UNIT_TESTS += slurm-plugin/policy/test/policy.t slurm-plugin/policy/test/properties.t \
	slurm-plugin/policy/test/money.t

# Benchmark: a full market decision at 1,000 to 100,000 GPUs.
noinst_PROGRAMS += bench/bench-policy
bench_bench_policy_SOURCES = bench/bench-policy.c
bench_bench_policy_LDADD = slurm-plugin/policy/libgpumarket-policy.la \
	common/libgpumarket-common.la
BENCHMARKS += bench/bench-policy

dist_man_MANS += doc/gpumarket.conf.5
