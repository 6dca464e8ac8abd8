/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The gpumarket command's option values (each converted and checked here,
 * once), the paths taken from gpumarket.conf, keys and ledgers opened for a
 * command, and the messages that carry the program's prefix. */
#include "config.h"

#include "cli/cli.h"
#include "common/conf.h"
#include "common/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ messages */

void gm_cli_die(const char *fmt, ...)
{
    va_list ap;
    fputs("gpumarket: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_FAILURE);
}

void gm_cli_warn(const char *fmt, ...)
{
    va_list ap;
    fputs("gpumarket: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void gm_cli_usage_error(const struct gm_cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    const char *path = cmd->path ? cmd->path : cmd->name;
    fprintf(stderr, "gpumarket %s: ", path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see gpumarket %s --help)\n", path);
    exit(GM_CLI_EXIT_USAGE);
}

/* ------------------------------------------------------------ option values */

int gm_cli_parse_u64(const char *s, uint64_t *v)
{
    return gm_text_parse_u64(s, INT64_MAX, 0, v);
}

/* Every option any command takes, for telling "not here" from "unknown". */
static const char *const known_options[] = {
    "config", "ledger",   "key",       "origin",     "name",      "out",       "format",
    "pubkey", "key-name", "hash-only", "threads",    "user",      "account",   "job",
    "since",  "until",    "size",      "checkpoint", "admin-key", "threshold", "set",
    "reason", "expires",  "json",      "host",       "port",      "history",   NULL,
};

int gm_cli_is_known_option(const char *name)
{
    for (const char *const *k = known_options; *k; k++)
        if (!strcmp(*k, name))
            return 1;
    return 0;
}

void gm_cli_store_option(const struct gm_cli_command *cmd, struct gm_cli_args *a,
                         enum gm_cli_key key, const char *value)
{
    uint64_t v;
    switch (key) {
    case GM_CLI_CONFIG:
        a->config = value;
        break;
    case GM_CLI_LEDGER:
        a->ledger = value;
        break;
    case GM_CLI_KEY:
        a->key = value;
        break;
    case GM_CLI_ORIGIN:
        a->origin = value;
        break;
    case GM_CLI_NAME:
        a->name = value;
        break;
    case GM_CLI_OUT:
        a->out = value;
        break;
    case GM_CLI_FORMAT:
        a->format = value;
        break;
    case GM_CLI_KEY_NAME:
        a->key_name = value;
        break;
    case GM_CLI_PUBKEY:
        if (a->npubkeys == GM_CLI_MAX_REPEAT)
            gm_cli_usage_error(cmd, "at most %d --pubkey options", GM_CLI_MAX_REPEAT);
        a->pubkeys[a->npubkeys++] = value;
        break;
    case GM_CLI_CHECKPOINT:
        if (a->ncheckpoints == GM_CLI_MAX_REPEAT)
            gm_cli_usage_error(cmd, "at most %d --checkpoint options", GM_CLI_MAX_REPEAT);
        a->checkpoints[a->ncheckpoints++] = value;
        break;
    case GM_CLI_HASH_ONLY:
        a->hash_only = 1;
        break;
    case GM_CLI_THREADS:
        if (gm_text_parse_u64(value, 1024, 0, &v))
            gm_cli_usage_error(
                cmd, "--threads=%s: give a number of threads from 0 (all CPUs) to 1024", value);
        a->threads = (int)v;
        break;
    case GM_CLI_USER:
        a->user = value;
        break;
    case GM_CLI_ACCOUNT:
        a->account = value;
        break;
    case GM_CLI_JOB:
        if (gm_cli_parse_u64(value, &v))
            gm_cli_usage_error(cmd, "--job=%s: give a numeric Slurm job id", value);
        a->job = (int64_t)v;
        a->have_job = 1;
        break;
    case GM_CLI_SINCE:
    case GM_CLI_UNTIL:
        if (gm_cli_parse_u64(value, &v))
            gm_cli_usage_error(
                cmd, "--%s=%s: give a time in Unix seconds (e.g. $(date -d 2026-01-01 +%%s))",
                key == GM_CLI_SINCE ? "since" : "until", value);
        if (key == GM_CLI_SINCE) {
            a->since = (int64_t)v;
            a->have_since = 1;
        } else {
            a->until = (int64_t)v;
            a->have_until = 1;
        }
        break;
    case GM_CLI_ADMIN_KEY:
        if (a->nadmin_keys == GM_CLI_MAX_REPEAT)
            gm_cli_usage_error(cmd, "at most %d --admin-key options", GM_CLI_MAX_REPEAT);
        a->admin_keys[a->nadmin_keys++] = value;
        break;
    case GM_CLI_SET:
        if (a->nsets == GM_CLI_MAX_REPEAT)
            gm_cli_usage_error(cmd, "at most %d --set options", GM_CLI_MAX_REPEAT);
        if (!strchr(value, '=') || value[0] == '=')
            gm_cli_usage_error(cmd, "--set %s: write KEY=VALUE, e.g. --set ReservePrice=h100:2.40",
                               value);
        a->sets[a->nsets++] = value;
        break;
    case GM_CLI_THRESHOLD:
        if (gm_text_parse_u64(value, GM_CONF_MAX_POLICY_ADMINS, 0, &v) || v == 0)
            gm_cli_usage_error(cmd, "--threshold=%s: give how many admins must sign, 1 to %d",
                               value, GM_CONF_MAX_POLICY_ADMINS);
        a->threshold = v;
        a->have_threshold = 1;
        break;
    case GM_CLI_DELAY:
        if (gm_text_parse_u64(value, 3600, 0, &v))
            gm_cli_usage_error(cmd, "--delay=%s: give seconds, 0 to 3600", value);
        a->delay = v;
        a->have_delay = 1;
        break;
    case GM_CLI_REASON:
        a->reason = value;
        break;
    case GM_CLI_EXPIRES:
        a->expires = value;
        break;
    case GM_CLI_JSON:
        a->json = 1;
        break;
    case GM_CLI_HISTORY:
        a->history = 1;
        break;
    case GM_CLI_HOST:
        a->host = value;
        break;
    case GM_CLI_PORT:
        if (gm_text_parse_u64(value, 65535, 0, &v) || v == 0)
            gm_cli_usage_error(cmd, "--port=%s: give a TCP port from 1 to 65535", value);
        a->port = (uint32_t)v;
        break;
    case GM_CLI_SIZE:
        if (gm_cli_parse_u64(value, &v))
            gm_cli_usage_error(cmd, "--size=%s: give a tree size (a record count)", value);
        a->size = v;
        a->have_size = 1;
        break;
    }
}

/* ------------------------------------------------------------ gpumarket.conf */

/* The cluster's gpumarket.conf, read once when a path was not given with a
 * flag or in the environment: --config FILE, else $GPUMARKET_CONF, else
 * /etc/slurm/gpumarket.conf when it exists.  A file that exists but does not
 * parse (or is not safe: see gm_conf_load) is an error, since the admin
 * meant it; NULL when there is none. */
static struct gm_conf *cluster_conf(const struct gm_cli_args *a)
{
    static struct gm_conf *conf;
    static int loaded;
    char err[1024];

    if (loaded)
        return conf;
    loaded = 1;
    const char *path = a->config ? a->config : getenv("GPUMARKET_CONF");
    if (!path) {
        if (access(GM_CONF_DEFAULT_PATH, F_OK) != 0)
            return NULL;
        path = GM_CONF_DEFAULT_PATH;
    }
    if (gm_conf_load(path, &conf, err, sizeof err) != 0) {
        /* Libraries write no prefix: the program adds it once. */
        fprintf(stderr, "gpumarket: %s\n", err);
        exit(EXIT_FAILURE);
    }
    return conf;
}

struct gm_conf *gm_cli_cluster_conf(const struct gm_cli_args *a)
{
    return cluster_conf(a);
}

void gm_cli_conf_defaults(struct gm_cli_args *a, int want_origin)
{
    if ((a->ledger && a->ledger[0]) && (a->key && a->key[0]) && (!want_origin || a->origin))
        return;
    struct gm_conf *conf = cluster_conf(a);
    if (!conf)
        return;
    if (!a->ledger || !a->ledger[0])
        a->ledger = gm_conf_ledger_dir(conf);
    if (!a->key || !a->key[0])
        a->key = gm_conf_receipt_key(conf);
    if (want_origin && !a->origin)
        a->origin = gm_conf_ledger_origin(conf);
}

const char *gm_cli_need_ledger(const struct gm_cli_command *cmd, struct gm_cli_args *a)
{
    gm_cli_conf_defaults(a, 0);
    if (!a->ledger || !a->ledger[0])
        gm_cli_usage_error(cmd, "no ledger directory: give --ledger DIR, set GPUMARKET_LEDGER_DIR, "
                                "or set LedgerDir in gpumarket.conf (--config FILE)");
    return a->ledger;
}

gm_key *gm_cli_need_private_key(const struct gm_cli_command *cmd, struct gm_cli_args *a)
{
    gm_cli_conf_defaults(a, 0);
    if (!a->key || !a->key[0])
        gm_cli_usage_error(cmd,
                           "no signing key: give --key FILE, set GPUMARKET_RECEIPT_KEY, or set "
                           "ReceiptKey in gpumarket.conf (make one with gpumarket keygen)");
    char err[1024];
    gm_key *k = gm_key_load_private(a->key, NULL, err, sizeof err);
    if (!k)
        gm_cli_die("--key: %s", err);
    return k;
}

/* ------------------------------------------------------------ keys and ledgers */

static gm_key *load_one_pubkey(const struct gm_cli_args *a, const char *path, const char *what)
{
    char err[1024];
    gm_key *k = gm_key_load_public(path, err, sizeof err);
    if (!k)
        gm_cli_die("%s: %s", what, err);
    /* A bare PEM key has no name; --key-name gives it one. */
    if (a->key_name && !gm_key_name(k) && gm_key_set_name(k, a->key_name, err, sizeof err) != 0)
        gm_cli_die("--key-name: %s", err);
    return k;
}

/* The public keys a repeated flag names. */
static gm_key **load_flag_keys(const struct gm_cli_args *a, const char *const *paths, int n,
                               const char *flag)
{
    gm_key **arr = calloc((size_t)n, sizeof *arr);
    if (!arr)
        gm_cli_die("out of memory");
    for (int i = 0; i < n; i++)
        arr[i] = load_one_pubkey(a, paths[i], flag);
    return arr;
}

/* The n public keys a list key of gpumarket.conf (VerifierKeys,
 * PolicyAdmins) names; path(conf, i) is the i-th. */
static gm_key **load_conf_keys(const struct gm_cli_args *a, const struct gm_conf *conf,
                               const char *key, size_t n,
                               const char *(*path)(const struct gm_conf *, size_t))
{
    gm_key **arr = calloc(n, sizeof *arr);
    if (!arr)
        gm_cli_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        char what[GM_CONF_MAX_PATH_LEN + 64];
        snprintf(what, sizeof what, "%s:%u: %s", gm_conf_name(conf), gm_conf_line(conf, key), key);
        arr[i] = load_one_pubkey(a, path(conf, i), what);
    }
    return arr;
}

int gm_cli_load_pubkeys(const struct gm_cli_args *a, gm_key ***keys, const char **from)
{
    *keys = NULL;
    *from = NULL;
    if (a->npubkeys > 0) {
        *keys = load_flag_keys(a, a->pubkeys, a->npubkeys, "--pubkey");
        *from = "--pubkey";
        return a->npubkeys;
    }
    /* The cluster's pinned keys.  Never the ledger directory's own
     * verifier-keys: whoever can write the ledger could write that too. */
    struct gm_conf *conf = cluster_conf(a);
    size_t n = conf ? gm_conf_verifier_key_count(conf) : 0;
    if (n == 0)
        return 0;
    *keys = load_conf_keys(a, conf, "VerifierKeys", n, gm_conf_verifier_key);
    *from = "VerifierKeys";
    return (int)n;
}

gm_key **gm_cli_need_pubkeys(const struct gm_cli_command *cmd, const struct gm_cli_args *a,
                             int *nkeys, const char **from)
{
    gm_key **keys;
    *nkeys = gm_cli_load_pubkeys(a, &keys, from);
    if (*nkeys == 0)
        gm_cli_usage_error(cmd,
                           "no keys to verify signatures with: give the cluster's public key "
                           "with --pubkey FILE, or set VerifierKeys in gpumarket.conf (--config "
                           "FILE); the ledger directory's verifier-keys file is not trusted");
    return keys;
}

int gm_cli_load_admins(const struct gm_cli_command *cmd, const struct gm_cli_args *a,
                       struct gm_governance_admins *admins, gm_key ***keys, const char **from)
{
    memset(admins, 0, sizeof *admins);
    *keys = NULL;
    *from = NULL;
    if (a->nadmin_keys > 0 || a->have_threshold) {
        if (!a->nadmin_keys || !a->have_threshold)
            gm_cli_usage_error(cmd, "give the admins' keys (--admin-key FILE, one per admin) "
                                    "and --threshold M together");
        if (a->threshold > (uint64_t)a->nadmin_keys)
            gm_cli_usage_error(cmd, "--threshold %" PRIu64 " is more than the %d admins given",
                               a->threshold, a->nadmin_keys);
        *keys = load_flag_keys(a, a->admin_keys, a->nadmin_keys, "--admin-key");
        *from = "--admin-key";
        admins->keys = *keys;
        admins->nkeys = (size_t)a->nadmin_keys;
        admins->threshold = (size_t)a->threshold;
        return a->nadmin_keys;
    }
    struct gm_conf *conf = cluster_conf(a);
    size_t n = conf ? gm_conf_policy_admin_count(conf) : 0;
    if (n == 0)
        return 0;
    *keys = load_conf_keys(a, conf, "PolicyAdmins", n, gm_conf_policy_admin);
    *from = "PolicyAdmins";
    admins->keys = *keys;
    admins->nkeys = n;
    admins->threshold = gm_conf_policy_threshold(conf);
    return (int)n;
}

void gm_cli_free_keys(gm_key **keys, int n)
{
    for (int i = 0; i < n; i++)
        gm_key_free(keys[i]);
    free(keys);
}

gm_ledger *gm_cli_open_ledger(const char *dir, int flags, const char *origin)
{
    char err[1024];
    gm_ledger *l = gm_ledger_open(dir, flags, origin, err, sizeof err);
    if (!l)
        gm_cli_die("%s", err);
    uint64_t torn = gm_ledger_recovered_bytes(l);
    const char *kept = gm_ledger_recovered_path(l);
    if (torn)
        gm_cli_warn("%s/ledger: %s a torn tail of %" PRIu64
                    " bytes left by an interrupted append (never acknowledged)%s%s",
                    dir, (flags & GM_LEDGER_WRITE) ? "removed" : "ignoring", torn,
                    kept ? "; its bytes are kept in " : "", kept ? kept : "");
    return l;
}
