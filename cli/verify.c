/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket verify: check one signed receipt offline against the cluster's
 * public key(s), as a buyer or auditor does. */
#include "config.h"

#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int run_verify(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    if (argc != 1)
        gm_cli_usage_error(cmd, "give exactly one RECEIPT file");
    const char *path = argv[0];
    /* A pipe is fine here (- or <(...)): the receipt is the user's data. */
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        gm_cli_die("%s: cannot open: %s", path, strerror(errno));
    char buf[GM_LEDGER_RECORD_MAX + 2];
    size_t len = fread(buf, 1, sizeof buf, f);
    if (f != stdin)
        fclose(f);
    if (len == sizeof buf)
        gm_cli_die("%s: too large for a receipt", path);
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    const char *from;
    int nkeys;
    gm_key **keys = gm_cli_need_pubkeys(cmd, a, &nkeys, &from);
    struct gm_receipt r;
    char err[1024];
    int rc = gm_signed_receipt_verify(buf, len, keys, (size_t)nkeys, &r, err, sizeof err);
    gm_cli_free_keys(keys, nkeys);
    if (rc) {
        gm_cli_warn("verify: %s: %s", path, err);
        return 1;
    }
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_bool(&j, "ok", 1);
    gm_cli_json_int(&j, "sequence", r.sequence);
    gm_cli_json_int(&j, "job_id", r.job_id);
    gm_cli_json_int(&j, "segment", r.segment);
    gm_cli_json_string(&j, "user", r.user);
    gm_cli_json_int(&j, "amount_micro", r.amount_micro);
    gm_cli_json_string(&j, "key_id", r.key_id);
    gm_cli_json_string(&j, "keys_from", from);
    gm_cli_json_end(&j);
    return 0;
}

static const struct gm_cli_option verify_options[] = {
    { "pubkey", "FILE",
      "the cluster's public key: PEM or .vkey; repeatable\n"
      "(default: VerifierKeys of gpumarket.conf)",
      GM_CLI_PUBKEY },
    { "key-name", "NAME",
      "the key name of --pubkey PEM keys, so the receipt's key\n"
      "id is checked too",
      GM_CLI_KEY_NAME },
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

const struct gm_cli_command gm_cli_verify = {
    .name = "verify",
    .path = "verify",
    .operands = "RECEIPT",
    .summary = "check a signed receipt offline (--pubkey FILE)",
    .doc = "Check a signed receipt file (one JSON line, as `receipts show` prints it;\n"
           "- for stdin) offline against the cluster's public key(s): PEM or .vkey,\n"
           "given with --pubkey, else VerifierKeys of gpumarket.conf.\n"
           "Prints the receipt's summary as JSON and exits 0 only when it verifies.\n",
    .run = run_verify,
    .options = verify_options,
};
