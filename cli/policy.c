/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket policy: market policy changes signed by M of N admins and
 * recorded in the ledger (show, propose, sign, apply, history). */
#include "config.h"

#include "cli/cli.h"
#include "common/conf.h"
#include "common/io.h"
#include "common/text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

static void print_time(FILE *f, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[64];
    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        fprintf(f, "%" PRId64 " (%s)", t, buf);
    else
        fprintf(f, "%" PRId64, t);
}

/* The admin each signature of a record matched (their key names), when the
 * admins are known and the record checks out; else NULL. */
static size_t *record_signers(const gm_governance_record *r,
                              const struct gm_governance_admins *admins, int nadmins)
{
    if (nadmins == 0)
        return NULL;
    size_t n = gm_governance_record_signature_count(r);
    size_t *signers = calloc(n ? n : 1, sizeof *signers);
    char err[512];
    if (!signers || gm_governance_record_check(r, admins, signers, err, sizeof err) != 0) {
        free(signers);
        return NULL;
    }
    return signers;
}

/* One policy record: as JSON (one line), or for people. */
static void print_record(const gm_governance_record *r, uint64_t index,
                         const struct gm_governance_admins *admins, int nadmins, int json)
{
    const gm_governance_proposal *p = gm_governance_record_proposal(r);
    size_t nsig = gm_governance_record_signature_count(r);
    size_t *signers = record_signers(r, admins, nadmins);
    if (json) {
        struct gm_cli_json j;
        gm_cli_json_begin(&j, stdout);
        gm_cli_json_string(&j, "policy", gm_governance_proposal_hash(p));
        gm_cli_json_uint(&j, "index", index);
        gm_cli_json_int(&j, "applied", gm_governance_record_applied(r));
        gm_cli_json_string(&j, "parent", gm_governance_proposal_parent(p));
        gm_cli_json_int(&j, "expires", gm_governance_proposal_expires(p));
        gm_cli_json_string(&j, "reason", gm_governance_proposal_reason(p));
        /* The signers by key id, and by name where the admins are known. */
        fputs(",\"signers\":[", stdout);
        for (size_t i = 0; i < nsig; i++) {
            const struct gm_governance_signature *s = gm_governance_record_signature(r, i);
            const char *name = signers ? gm_key_name(admins->keys[signers[i]]) : NULL;
            printf("%s{\"key_id\":\"%s\"", i ? "," : "", s->key_id);
            if (name) {
                struct gm_cli_json n = { stdout, 1 };
                gm_cli_json_string(&n, "name", name);
            }
            putchar('}');
        }
        putchar(']');
        /* The record as the leaf holds it (the values are inside), for
         * anyone who checks the signatures from its canonical bytes. */
        size_t rlen;
        const char *rb = gm_governance_record_bytes(r, &rlen);
        gm_cli_json_raw(&j, "record", rb, rlen);
        gm_cli_json_end(&j);
    } else {
        printf("policy   %s\nindex    %" PRIu64 "\napplied  ", gm_governance_proposal_hash(p),
               index);
        print_time(stdout, gm_governance_record_applied(r));
        printf("\nparent   %s\nexpires  ", gm_governance_proposal_parent(p));
        print_time(stdout, gm_governance_proposal_expires(p));
        printf("\nreason   %s\nsigned   ", gm_governance_proposal_reason(p));
        for (size_t i = 0; i < nsig; i++) {
            const struct gm_governance_signature *s = gm_governance_record_signature(r, i);
            const char *name = signers ? gm_key_name(admins->keys[signers[i]]) : NULL;
            printf("%s%s%s%s%s", i ? ", " : "", s->key_id, name ? " (" : "", name ? name : "",
                   name ? ")" : "");
        }
        putchar('\n');
        for (size_t i = 0; i < gm_governance_proposal_value_count(p); i++) {
            const char *k, *v;
            gm_governance_proposal_value(p, i, &k, &v);
            printf("         %s=%s\n", k, v);
        }
    }
    free(signers);
}

static int run_show(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    struct gm_governance_admins admins;
    gm_key **keys;
    const char *from;
    int nadmins = gm_cli_load_admins(cmd, a, &admins, &keys, &from);
    gm_governance_record *r;
    uint64_t index = 0;
    char err[1200];
    int rc = gm_ledger_policy_in_force(l, &r, &index, err, sizeof err);
    if (rc < 0)
        gm_cli_die("policy show: %s", err);
    if (rc == 0) {
        if (a->json)
            puts("{\"policy\":null}");
        else
            puts("no policy in force: the market values of gpumarket.conf apply");
    } else {
        print_record(r, index, &admins, nadmins, a->json);
        gm_governance_record_destroy(r);
    }
    gm_cli_free_keys(keys, nadmins);
    gm_ledger_close(l);
    if (fflush(stdout) != 0)
        gm_cli_die("policy show: cannot write the output: %s", strerror(errno));
    return 0;
}

static int run_history(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                       char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    struct gm_governance_admins admins;
    gm_key **keys;
    const char *from;
    int nadmins = gm_cli_load_admins(cmd, a, &admins, &keys, &from);
    uint64_t *indices;
    size_t n;
    char err[1200];
    if (gm_ledger_policy_indices(l, &indices, &n, err, sizeof err) != 0)
        gm_cli_die("policy history: %s", err);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *data = gm_ledger_read(l, indices[i], &len, err, sizeof err);
        if (!data)
            gm_cli_die("policy history: %s", err);
        gm_governance_record *r = gm_governance_record_parse(data, len, err, sizeof err);
        free(data);
        if (!r)
            gm_cli_die("policy history: record %" PRIu64 ": %s", indices[i], err);
        if (i > 0 && !a->json)
            putchar('\n');
        print_record(r, indices[i], &admins, nadmins, a->json);
        gm_governance_record_destroy(r);
    }
    if (n == 0 && !a->json)
        puts("no policy records: the market values of gpumarket.conf apply");
    free(indices);
    gm_cli_free_keys(keys, nadmins);
    gm_ledger_close(l);
    if (fflush(stdout) != 0)
        gm_cli_die("policy history: cannot write the output: %s", strerror(errno));
    return 0;
}

/* --expires: a duration from now (N followed by s, m, h or d) or a time in
 * Unix seconds. */
static int64_t parse_expires(const struct gm_cli_command *cmd, const char *s, int64_t now)
{
    uint64_t v;
    size_t len = strlen(s);
    if (len >= 2 && strchr("smhd", s[len - 1])) {
        static const int64_t unit[] = { ['s'] = 1, ['m'] = 60, ['h'] = 3600, ['d'] = 86400 };
        if (gm_text_parse_u64_mem(s, len - 1, 100 * 365 * 86400ULL, 0, &v) == 0)
            return now + (int64_t)v * unit[(unsigned char)s[len - 1]];
    } else if (gm_text_parse_u64(s, 253402300799ULL, 0, &v) == 0) {
        if ((int64_t)v <= now)
            gm_cli_usage_error(cmd, "--expires %s is in the past (now %" PRId64 ")", s, now);
        return (int64_t)v;
    }
    gm_cli_usage_error(cmd,
                       "--expires %s: give a duration (e.g. 7d, 12h, 30m) or a time in Unix "
                       "seconds",
                       s);
}

static void write_out(const struct gm_cli_command *cmd, const char *path, const char *data,
                      size_t len)
{
    char err[1024];
    if (gm_io_write_file(path, data, len, 0644, GM_IO_EXCLUSIVE, err, sizeof err) != 0)
        gm_cli_die("%s: --out: %s", cmd->path, err);
}

/* Market values of gpumarket.conf, copied into the proposal's arrays. */
struct file_values {
    const char **names, **values;
    size_t *n;
    char text[GM_POLICY_VALUES_MAX][GM_CONF_MAX_LINE + 1];
};

static void add_file_value(const char *key, const char *value, void *arg)
{
    struct file_values *fv = arg;
    size_t i = *fv->n;
    if (i >= GM_POLICY_VALUES_MAX)
        return;
    snprintf(fv->text[i], sizeof fv->text[i], "%s", value);
    fv->names[i] = key;
    fv->values[i] = fv->text[i];
    (*fv->n)++;
}

static int run_propose(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                       char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    if (a->nsets == 0)
        gm_cli_usage_error(cmd, "give the values to change with --set KEY=VALUE");
    if (!a->reason)
        gm_cli_usage_error(cmd, "give --reason TEXT: it is recorded with the change");
    if (!a->expires)
        gm_cli_usage_error(cmd, "give --expires DURATION|TIME (e.g. 7d): how long the admins "
                                "have to sign and apply it");
    if (!a->out)
        gm_cli_usage_error(cmd, "give --out FILE for the proposal");
    int64_t now = (int64_t)time(NULL);
    int64_t expires = parse_expires(cmd, a->expires, now);
    /* Before the ledger exists there is no policy: the first proposal's
     * parent is 64 zeros. */
    const char *dir = gm_cli_need_ledger(cmd, a);
    char lpath[4200];
    snprintf(lpath, sizeof lpath, "%s/ledger", dir);
    gm_ledger *l = access(lpath, F_OK) == 0 ? gm_cli_open_ledger(dir, 0, NULL) : NULL;
    gm_governance_record *cur = NULL;
    char err[1200];
    if (l && gm_ledger_policy_in_force(l, &cur, NULL, err, sizeof err) < 0)
        gm_cli_die("policy propose: %s", err);
    /* The new values: those in force, with --set's changes. */
    const char *names[GM_POLICY_VALUES_MAX + GM_CLI_MAX_REPEAT];
    const char *values[GM_POLICY_VALUES_MAX + GM_CLI_MAX_REPEAT];
    char *owned[GM_CLI_MAX_REPEAT];
    int set_here[GM_POLICY_VALUES_MAX + GM_CLI_MAX_REPEAT] = { 0 };
    size_t n = 0;
    const gm_governance_proposal *cp = cur ? gm_governance_record_proposal(cur) : NULL;
    for (size_t i = 0; cp && i < gm_governance_proposal_value_count(cp); i++)
        gm_governance_proposal_value(cp, i, &names[n], &values[n]), n++;
    /* The first policy starts from the market values gpumarket.conf sets,
     * so that changing one key leaves the others as the market has them. */
    struct file_values fv = { names, values, &n, { { 0 } } };
    const struct gm_conf *conf = gm_cli_cluster_conf(a);
    if (!cp && conf)
        gm_conf_market_values(conf, add_file_value, &fv);
    for (int s = 0; s < a->nsets; s++) {
        char *kv = owned[s] = strdup(a->sets[s]);
        if (!kv)
            gm_cli_die("out of memory");
        char *eq = strchr(kv, '=');
        *eq = '\0';
        size_t k;
        for (k = 0; k < n; k++)
            if (!strcmp(names[k], kv))
                break;
        if (k < n && set_here[k])
            gm_cli_usage_error(cmd, "--set %s is given twice", kv);
        set_here[k] = 1;
        names[k] = kv;
        values[k] = eq + 1;
        if (k == n)
            n++;
    }
    gm_governance_proposal *p =
        gm_governance_proposal_create(cp ? gm_governance_proposal_hash(cp) : NULL, expires,
                                      a->reason, names, values, n, err, sizeof err);
    if (!p)
        gm_cli_die("policy propose: %s", err);
    size_t len;
    const char *bytes = gm_governance_proposal_bytes(p, &len);
    char *file = malloc(len + 2);
    if (!file)
        gm_cli_die("out of memory");
    memcpy(file, bytes, len);
    file[len] = '\n';
    write_out(cmd, a->out, file, len + 1);
    free(file);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_string(&j, "proposal", a->out);
    gm_cli_json_string(&j, "policy", gm_governance_proposal_hash(p));
    gm_cli_json_string(&j, "parent", gm_governance_proposal_parent(p));
    gm_cli_json_int(&j, "expires", gm_governance_proposal_expires(p));
    gm_cli_json_end(&j);
    gm_governance_proposal_destroy(p);
    gm_governance_record_destroy(cur);
    for (int s = 0; s < a->nsets; s++)
        free(owned[s]);
    gm_ledger_close(l);
    return 0;
}

static int run_sign(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    if (argc != 1)
        gm_cli_usage_error(cmd, "give one PROPOSAL file");
    if (!a->key)
        gm_cli_usage_error(cmd, "give --key ADMIN.key, your admin private key");
    if (!a->out)
        gm_cli_usage_error(cmd, "give --out FILE for the signature");
    char err[1200];
    gm_governance_proposal *p = gm_governance_proposal_load(argv[0], err, sizeof err);
    if (!p)
        gm_cli_die("policy sign: %s", err);
    gm_key *k = gm_key_load_private(a->key, NULL, err, sizeof err);
    if (!k)
        gm_cli_die("policy sign: --key: %s", err);
    size_t len;
    char *sig = gm_governance_sign(p, k, &len, err, sizeof err);
    if (!sig)
        gm_cli_die("policy sign: --key %s: %s", a->key, err);
    write_out(cmd, a->out, sig, len);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_string(&j, "signature", a->out);
    gm_cli_json_string(&j, "policy", gm_governance_proposal_hash(p));
    gm_cli_json_string(&j, "key_id", gm_key_id_hex(k));
    gm_cli_json_string(&j, "name", gm_key_name(k));
    gm_cli_json_end(&j);
    free(sig);
    gm_key_free(k);
    gm_governance_proposal_destroy(p);
    return 0;
}

static int run_apply(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    if (argc < 2)
        gm_cli_usage_error(cmd, "give the PROPOSAL file and its SIGNATURE files");
    if (argc - 1 > GM_POLICY_SIGNATURES_MAX)
        gm_cli_usage_error(cmd, "at most %d signature files", GM_POLICY_SIGNATURES_MAX);
    struct gm_governance_admins admins;
    gm_key **keys;
    const char *from;
    int nadmins = gm_cli_load_admins(cmd, a, &admins, &keys, &from);
    if (nadmins == 0)
        gm_cli_usage_error(cmd, "no policy admins: set PolicyAdmins and PolicyThreshold in "
                                "gpumarket.conf (--config FILE)");
    char err[1400];
    gm_governance_proposal *p = gm_governance_proposal_load(argv[0], err, sizeof err);
    if (!p)
        gm_cli_die("policy apply: %s; nothing was appended", err);
    struct gm_governance_signature sigs[GM_POLICY_SIGNATURES_MAX];
    for (int i = 1; i < argc; i++)
        if (gm_governance_signature_load(argv[i], &sigs[i - 1], err, sizeof err) != 0)
            gm_cli_die("policy apply: %s; nothing was appended", err);
    /* A policy may come before the first receipt: the ledger is created
     * then, named by LedgerOrigin. */
    const char *dir = gm_cli_need_ledger(cmd, a);
    gm_cli_conf_defaults(a, 1);
    gm_ledger *l =
        gm_cli_open_ledger(dir, GM_LEDGER_WRITE | (a->origin ? GM_LEDGER_CREATE : 0), a->origin);
    uint64_t index;
    /* In force a few seconds after it is appended: slurmctld, which reads
     * the ledger once a second, switches to it at that very second, so every
     * receipt names the policy its lease was priced under. */
    int64_t in_force = (int64_t)time(NULL) + (int64_t)(a->have_delay ? a->delay : 5);
    if (gm_ledger_apply_policy(l, p, sigs, (size_t)(argc - 1), &admins, in_force, &index, err,
                               sizeof err) != 0)
        gm_cli_die("policy apply: %s: %s; nothing was appended", argv[0], err);
    struct gm_cli_json j;
    gm_cli_json_begin(&j, stdout);
    gm_cli_json_string(&j, "policy", gm_governance_proposal_hash(p));
    gm_cli_json_uint(&j, "index", index);
    gm_cli_json_uint(&j, "signatures", (uint64_t)(argc - 1));
    gm_cli_json_int(&j, "in_force_from", in_force);
    gm_cli_json_string(&j, "admins_from", from);
    gm_cli_json_end(&j);
    gm_ledger_close(l);
    gm_governance_proposal_destroy(p);
    gm_cli_free_keys(keys, nadmins);
    return 0;
}

#define ADMIN_OPTIONS                                                                  \
    { "admin-key", "FILE",                                                             \
      "a policy admin's public key (.vkey or PEM), one per admin\n"                    \
      "(default: PolicyAdmins of gpumarket.conf)",                                     \
      GM_CLI_ADMIN_KEY },                                                              \
    {                                                                                  \
        "threshold", "M",                                                              \
            "signatures a change needs, with --admin-key\n(default: PolicyThreshold)", \
            GM_CLI_THRESHOLD                                                           \
    }

static const struct gm_cli_option show_options[] = {
    GM_CLI_OPTION_LEDGER,
    { "json", NULL, "one JSON line (with the record's canonical bytes)", GM_CLI_JSON },
    ADMIN_OPTIONS,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option propose_options[] = {
    { "set", "KEY=VALUE", "a market value to change (repeatable)", GM_CLI_SET },
    { "reason", "TEXT", "why: recorded with the change", GM_CLI_REASON },
    { "expires", "WHEN",
      "a duration from now (7d, 12h, 30m, 90s) or Unix seconds:\n"
      "the change cannot be applied after it",
      GM_CLI_EXPIRES },
    { "out", "FILE", "where to write the proposal (never replaced)", GM_CLI_OUT },
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option sign_options[] = {
    { "key", "FILE", "your admin private key (its .vkey beside it names it)", GM_CLI_KEY },
    { "out", "FILE", "where to write the signature (never replaced)", GM_CLI_OUT },
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option apply_options[] = {
    GM_CLI_OPTION_LEDGER,
    { "origin", "NAME", "the ledger's origin when it is created (default: LedgerOrigin)",
      GM_CLI_ORIGIN },
    { "delay", "SECONDS",
      "seconds from now until the policy is in force (default 5: slurmctld\n"
      "switches to it at that second)",
      GM_CLI_DELAY },
    ADMIN_OPTIONS,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_command show_command = {
    .name = "show",
    .path = "policy show",
    .summary = "the policy in force: hash, values, signers, when applied",
    .doc = "Print the policy in force (the last policy record of the ledger): its hash,\n"
           "leaf index, applied time, parent, expiry, reason, signers (named when the\n"
           "admins' keys are known) and values.\n",
    .run = run_show,
    .options = show_options,
};

static const struct gm_cli_command propose_command = {
    .name = "propose",
    .path = "policy propose",
    .summary = "write a proposal changing market values",
    .doc = "Write a proposal: the values of the policy in force with the --set changes\n"
           "(the first policy starts from the market values gpumarket.conf sets and must\n"
           "have ReservePrice), its parent the policy in force.  Every value is checked\n"
           "as gpumarket.conf's.  Prints the proposal's hash, which the admins sign.\n",
    .run = run_propose,
    .options = propose_options,
};

static const struct gm_cli_command sign_command = {
    .name = "sign",
    .path = "policy sign",
    .operands = "PROPOSAL",
    .summary = "sign a proposal with your admin key (offline)",
    .doc = "Sign PROPOSAL with an admin's Ed25519 key: Ed25519 over\n"
           "\"gpumarket-policy-v1\\n\" and the proposal's SHA-256.  Needs no ledger.\n",
    .run = run_sign,
    .options = sign_options,
};

static const struct gm_cli_command apply_command = {
    .name = "apply",
    .path = "policy apply",
    .operands = "PROPOSAL SIGNATURE...",
    .summary = "check M-of-N signatures and append the policy to the ledger",
    .doc = "Check that the signatures come from at least PolicyThreshold distinct admins\n"
           "of PolicyAdmins and nobody else, that the proposal has not expired and that\n"
           "its parent is the policy in force; then append the policy record, in force\n"
           "from --delay seconds later (its \"applied\" time).  Nothing is appended on\n"
           "any error.\n",
    .run = run_apply,
    .options = apply_options,
};

static const struct gm_cli_command history_command = {
    .name = "history",
    .path = "policy history",
    .summary = "every policy record, oldest first",
    .run = run_history,
    .options = show_options,
};

static const struct gm_cli_command *const policy_commands[] = {
    &show_command, &propose_command, &sign_command, &apply_command, &history_command, NULL,
};

const struct gm_cli_command gm_cli_policy = {
    .name = "policy",
    .path = "policy",
    .operands = "show|propose|sign|apply|history",
    .summary = "market policy changes signed by M of N admins",
    .doc = "See gpumarket(1), GOVERNANCE.\n",
    .subcommands = policy_commands,
};
