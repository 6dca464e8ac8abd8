/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The gpumarket command's frame: a tree of subcommands, each with its own
 * option table and --help generated from it (in the manner of flux-core's
 * optparse_subcommand), the parsed option values, the paths taken from
 * gpumarket.conf, and the one place messages get their "gpumarket:" prefix. */
#ifndef GPUMARKET_CLI_H
#define GPUMARKET_CLI_H

#include "settlement/gpumarket-settlement.h"

#include <stdint.h>
#include <stdio.h>

#define GM_CLI_EXIT_USAGE 2
#define GM_CLI_MAX_REPEAT 32 /* most --pubkey or --checkpoint options */

/* What an option sets: one slot of struct gm_cli_args each.  options.c
 * converts and checks every value in one place. */
enum gm_cli_key {
    GM_CLI_CONFIG = 256,
    GM_CLI_LEDGER,
    GM_CLI_KEY,
    GM_CLI_ORIGIN,
    GM_CLI_NAME,
    GM_CLI_OUT,
    GM_CLI_FORMAT,
    GM_CLI_PUBKEY,
    GM_CLI_KEY_NAME,
    GM_CLI_HASH_ONLY,
    GM_CLI_THREADS,
    GM_CLI_USER,
    GM_CLI_ACCOUNT,
    GM_CLI_JOB,
    GM_CLI_SINCE,
    GM_CLI_UNTIL,
    GM_CLI_SIZE,
    GM_CLI_CHECKPOINT,
    GM_CLI_ADMIN_KEY,
    GM_CLI_THRESHOLD,
    GM_CLI_SET,
    GM_CLI_REASON,
    GM_CLI_EXPIRES,
    GM_CLI_JSON,
    GM_CLI_DELAY,
    GM_CLI_HOST,
    GM_CLI_PORT,
    GM_CLI_HISTORY,
};

/* One option of a command: --name [ARGINFO], its help line(s) (a '\n'
 * starts a continuation line), and the slot it sets. */
struct gm_cli_option {
    const char *name;
    const char *arginfo; /* NULL: the option takes no value */
    const char *usage;
    enum gm_cli_key key;
};
#define GM_CLI_OPTIONS_END  \
    {                       \
        NULL, NULL, NULL, 0 \
    }

/* Options many commands share, with their usual help. */
#define GM_CLI_OPTION_CONFIG                                                                            \
    {                                                                                                   \
        "config", "FILE",                                                                               \
            "gpumarket.conf (default $GPUMARKET_CONF, else\n/etc/slurm/gpumarket.conf when it exists)", \
            GM_CLI_CONFIG                                                                               \
    }
#define GM_CLI_OPTION_LEDGER                                                                       \
    {                                                                                              \
        "ledger", "DIR",                                                                           \
            "ledger directory (default $GPUMARKET_LEDGER_DIR, else\nLedgerDir of gpumarket.conf)", \
            GM_CLI_LEDGER                                                                          \
    }
#define GM_CLI_OPTION_KEY                                                                        \
    {                                                                                            \
        "key", "FILE",                                                                           \
            "private key (default $GPUMARKET_RECEIPT_KEY, else ReceiptKey\nof gpumarket.conf); " \
            "FILE's .vkey names it",                                                             \
            GM_CLI_KEY                                                                           \
    }

/* The option values of one command line. */
struct gm_cli_args {
    const char *config, *ledger, *key, *origin, *name, *out, *format, *key_name;
    const char *pubkeys[GM_CLI_MAX_REPEAT];
    int npubkeys;
    const char *checkpoints[GM_CLI_MAX_REPEAT];
    int ncheckpoints;
    int hash_only, threads;
    const char *user, *account;
    int64_t job, since, until;
    int have_job, have_since, have_until;
    uint64_t size;
    int have_size;
    /* gpumarket policy, and ledger verify's governance checks. */
    const char *admin_keys[GM_CLI_MAX_REPEAT];
    int nadmin_keys;
    uint64_t threshold;
    int have_threshold;
    uint64_t delay; /* policy apply: seconds until it is in force */
    int have_delay;
    const char *sets[GM_CLI_MAX_REPEAT];
    int nsets;
    const char *reason;
    const char *expires; /* checked by the command: it needs the time now */
    int json;
    int history;
    const char *host;
    uint32_t port;
};

struct gm_cli_command;

/* A command runs with its parsed options and its operands (argv[0..argc)).
 * It returns the exit status; errors may also end the program through
 * gm_cli_die (1) or gm_cli_usage_error (2). */
typedef int (*gm_cli_run_fn)(const struct gm_cli_command *cmd, struct gm_cli_args *args, int argc,
                             char **argv);

/* A command: a leaf with `run` and `options`, or a group with
 * `subcommands`.  `path` is the full name ("ledger verify"), `operands` the
 * usage after the options ("INDEX"), `summary` one line for its group's
 * list, `doc` the paragraph --help prints (may be NULL). */
struct gm_cli_command {
    const char *name;
    const char *path;
    const char *operands;
    const char *summary;
    const char *doc;
    gm_cli_run_fn run;
    const struct gm_cli_option *options;
    const struct gm_cli_command *const *subcommands; /* NULL-terminated */
};

/* Find and run the command argv[0] names among `cmd`'s subcommands (argv
 * follows cmd's own name), or run cmd itself when it is a leaf: parse its
 * options (environment defaults first), print its generated --help, refuse
 * unknown options or options of other commands with exit 2. */
int gm_cli_dispatch(const struct gm_cli_command *cmd, int argc, char **argv);

/* Print cmd's generated help to f. */
void gm_cli_print_help(const struct gm_cli_command *cmd, FILE *f);

/* Between subcommand.c and options.c: store one parsed option value (a
 * usage error when it is bad), and whether `name` (without "--") is an
 * option of some command, to tell "does not apply here" from "unknown". */
void gm_cli_store_option(const struct gm_cli_command *cmd, struct gm_cli_args *args,
                         enum gm_cli_key key, const char *value);
int gm_cli_is_known_option(const char *name);

/* ------------------------------------------------------------ messages */

/* "gpumarket: " + message on stderr, exit 1.  The only place, with
 * gm_cli_usage_error and gm_cli_warn, that adds the program's prefix:
 * library messages carry none. */
void gm_cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "gpumarket: " + message on stderr, and go on. */
void gm_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "gpumarket PATH: message (see gpumarket PATH --help)", exit 2. */
void gm_cli_usage_error(const struct gm_cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* ------------------------------------------------------------ options shared by commands */

/* A strict decimal operand (common/text.h's parser): 0 or -1. */
int gm_cli_parse_u64(const char *s, uint64_t *v);

/* The paths the command line and environment left open, from
 * gpumarket.conf (--config FILE, $GPUMARKET_CONF, else
 * /etc/slurm/gpumarket.conf when it exists): LedgerDir, ReceiptKey and, with
 * want_origin, LedgerOrigin. */
void gm_cli_conf_defaults(struct gm_cli_args *args, int want_origin);
/* The cluster's gpumarket.conf (--config FILE, $GPUMARKET_CONF, else
 * /etc/slurm/gpumarket.conf when it exists), or NULL when there is none;
 * exits when the file exists but does not parse. */
struct gm_conf *gm_cli_cluster_conf(const struct gm_cli_args *args);
/* The ledger directory, or a usage error saying how to give one. */
const char *gm_cli_need_ledger(const struct gm_cli_command *cmd, struct gm_cli_args *args);
/* The signing key (private), or exit naming --key. */
gm_key *gm_cli_need_private_key(const struct gm_cli_command *cmd, struct gm_cli_args *args);
/* The keys signatures are checked against: the --pubkey keys, else the
 * VerifierKeys of gpumarket.conf (PEM keys named with --key-name where
 * they have no name).  Never the ledger directory's verifier-keys, which
 * whoever writes the ledger writes.  Returns the count (0: none given);
 * *from says where they came from ("--pubkey" or "VerifierKeys", NULL with
 * none); *keys is freed with gm_cli_free_keys.  Exits on a bad key file. */
int gm_cli_load_pubkeys(const struct gm_cli_args *args, gm_key ***keys, const char **from);
/* As gm_cli_load_pubkeys, but a usage error (exit 2) saying how to give
 * keys when there are none. */
gm_key **gm_cli_need_pubkeys(const struct gm_cli_command *cmd, const struct gm_cli_args *args,
                             int *nkeys, const char **from);
void gm_cli_free_keys(gm_key **keys, int n);
/* The policy admins: --admin-key keys with --threshold, else PolicyAdmins
 * and PolicyThreshold of gpumarket.conf.  Fills *admins (its keys array is
 * *keys, freed with gm_cli_free_keys) and returns the key count (0: none
 * given; *from NULL).  Exits on a bad key file or a lone --admin-key or
 * --threshold. */
int gm_cli_load_admins(const struct gm_cli_command *cmd, const struct gm_cli_args *args,
                       struct gm_governance_admins *admins, gm_key ***keys, const char **from);
/* Open the ledger or exit; says on stderr when a torn tail was found. */
gm_ledger *gm_cli_open_ledger(const char *dir, int flags, const char *origin);

/* ------------------------------------------------------------ JSON output */

/* One JSON object printed on one line, field by field, in the order given:
 *   struct gm_cli_json j; gm_cli_json_begin(&j, stdout);
 *   gm_cli_json_uint(&j, "size", n); ...; gm_cli_json_end(&j);  */
struct gm_cli_json {
    FILE *f;
    int fields;
};
void gm_cli_json_begin(struct gm_cli_json *j, FILE *f);
void gm_cli_json_string(struct gm_cli_json *j, const char *key, const char *value);
void gm_cli_json_int(struct gm_cli_json *j, const char *key, int64_t value);
void gm_cli_json_uint(struct gm_cli_json *j, const char *key, uint64_t value);
void gm_cli_json_bool(struct gm_cli_json *j, const char *key, int value);
void gm_cli_json_null(struct gm_cli_json *j, const char *key);
/* A lowercase hex string of n bytes. */
void gm_cli_json_hex(struct gm_cli_json *j, const char *key, const uint8_t *bytes, size_t n);
/* An array of hex strings, one per hash. */
void gm_cli_json_hashes(struct gm_cli_json *j, const char *key,
                        const uint8_t (*hashes)[GM_HASH_LEN], size_t n);
/* A value that is already JSON (a canonical object, say), copied as is. */
void gm_cli_json_raw(struct gm_cli_json *j, const char *key, const char *json, size_t len);
/* "}" and a newline. */
void gm_cli_json_end(struct gm_cli_json *j);

/* ------------------------------------------------------------ the commands */

/* Each command group lives in its own file; adding a command is one file and
 * one entry in main.c's table. */
extern const struct gm_cli_command gm_cli_keygen;
extern const struct gm_cli_command gm_cli_ledger;
extern const struct gm_cli_command gm_cli_policy;
extern const struct gm_cli_command gm_cli_receipts;
extern const struct gm_cli_command gm_cli_verify;
extern const struct gm_cli_command gm_cli_quote;
extern const struct gm_cli_command gm_cli_offers;

#endif
