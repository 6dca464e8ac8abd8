/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket keygen: make the cluster's Ed25519 receipt signing key. */
#include "config.h"

#include "cli/cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int run_keygen(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    char prefix[4096], name[300];
    if (!a->out || !a->name)
        gm_cli_conf_defaults(a, 1);
    if (!a->name && a->origin)
        a->name = a->origin;
    if (a->out) {
        snprintf(prefix, sizeof prefix, "%s", a->out);
    } else if (a->key && a->key[0]) {
        snprintf(prefix, sizeof prefix, "%s", a->key);
        size_t n = strlen(prefix);
        if (n > 4 && strcmp(prefix + n - 4, ".key") == 0)
            prefix[n - 4] = '\0';
    } else {
        gm_cli_usage_error(cmd, "give --out PREFIX, set GPUMARKET_RECEIPT_KEY, or set ReceiptKey "
                                "in gpumarket.conf (--config FILE)");
    }
    if (a->name) {
        snprintf(name, sizeof name, "%s", a->name);
    } else {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(name, sizeof name, "%s/gpumarket", host);
    }
    char err[1024];
    gm_key *k = gm_key_generate(name, err, sizeof err);
    if (!k)
        gm_cli_die("--name: %s", err);
    if (gm_key_write_files(k, prefix, err, sizeof err))
        gm_cli_die("keygen: %s", err);
    char path[4200];
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    snprintf(path, sizeof path, "%s.key", prefix);
    gm_cli_json_string(&j, "key", path);
    snprintf(path, sizeof path, "%s.pub", prefix);
    gm_cli_json_string(&j, "public_key", path);
    snprintf(path, sizeof path, "%s.vkey", prefix);
    gm_cli_json_string(&j, "verifier_key", path);
    gm_cli_json_string(&j, "name", name);
    gm_cli_json_string(&j, "key_id", gm_key_id_hex(k));
    gm_cli_json_end(&j);
    gm_key_free(k);
    return 0;
}

static const struct gm_cli_option keygen_options[] = {
    { "name", "NAME",
      "key name, also the ledger origin (default: LedgerOrigin of\n"
      "gpumarket.conf, else HOSTNAME/gpumarket)",
      GM_CLI_NAME },
    { "out", "PREFIX",
      "file prefix (default: $GPUMARKET_RECEIPT_KEY, else ReceiptKey\n"
      "of gpumarket.conf, without .key)",
      GM_CLI_OUT },
    { "config", "FILE",
      "gpumarket.conf (default $GPUMARKET_CONF, else\n"
      "/etc/slurm/gpumarket.conf when it exists)",
      GM_CLI_CONFIG },
    GM_CLI_OPTIONS_END,
};

const struct gm_cli_command gm_cli_keygen = {
    .name = "keygen",
    .path = "keygen",
    .summary = "generate the receipt signing key",
    .doc = "Generate the Ed25519 receipt signing key.  Writes PREFIX.key (PKCS#8 PEM,\n"
           "mode 0600), PREFIX.pub (public key PEM) and PREFIX.vkey (C2SP signed-note\n"
           "verifier key); never overwrites a file.\n",
    .run = run_keygen,
    .options = keygen_options,
};
