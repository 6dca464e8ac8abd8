/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket: the command-line tool for admins, buyers and auditors, an
 * adapter over the settlement library.  The table below is every command;
 * each group lives in its own file (keygen.c, ledger.c, policy.c,
 * receipts.c, verify.c) with its own option tables. */
#include "config.h"

#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct gm_cli_command *const commands[] = {
    &gm_cli_keygen, &gm_cli_quote,    &gm_cli_offers, &gm_cli_ledger,
    &gm_cli_policy, &gm_cli_receipts, &gm_cli_verify, NULL,
};

static const struct gm_cli_command gpumarket = {
    .name = "gpumarket",
    .doc = "`gpumarket COMMAND --help` describes each; see gpumarket(1).\n",
    .subcommands = commands,
};

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        printf("gpumarket %s\n", PACKAGE_VERSION);
        return 0;
    }
    return gm_cli_dispatch(&gpumarket, argc, argv);
}
