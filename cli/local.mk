# SPDX-License-Identifier: GPL-2.0-or-later
# cli: the gpumarket command, an adapter over the market and settlement
# libraries for admins, buyers and auditors.
bin_PROGRAMS += cli/gpumarket
# One file per command group; main.c holds the table of commands.
cli_gpumarket_SOURCES = cli/cli.h cli/main.c cli/subcommand.c cli/options.c cli/json.c \
	cli/keygen.c cli/ledger.c cli/policy.c cli/receipts.c cli/verify.c cli/quote.c
cli_gpumarket_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
cli_gpumarket_LDADD = settlement/libgpumarket-settlement.la common/libgpumarket-common.la

dist_man_MANS += doc/gpumarket.1
