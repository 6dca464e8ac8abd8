# SPDX-License-Identifier: GPL-2.0-or-later
# cli: the gpumarket command, an adapter over the market and settlement
# libraries for admins, buyers and auditors.
bin_PROGRAMS += cli/gpumarket
cli_gpumarket_SOURCES = cli/gpumarket.c
cli_gpumarket_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
cli_gpumarket_LDADD = settlement/libgpumarket-settlement.la common/libgpumarket-common.la

dist_man_MANS += doc/gpumarket.1
