/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket receipts: list, show and export the receipts of the ledger. */
#include "config.h"

#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum receipts_output { OUT_LIST, OUT_SHOW, OUT_JSONL, OUT_CSV };

static int matches(const struct gm_cli_args *a, const struct gm_receipt *r)
{
    if (a->user && strcmp(a->user, r->user) != 0)
        return 0;
    if (a->account && strcmp(a->account, r->account) != 0)
        return 0;
    if (a->have_job && a->job != r->job_id)
        return 0;
    if (a->have_since && r->end < a->since)
        return 0;
    if (a->have_until && r->start >= a->until)
        return 0;
    return 1;
}

static void csv_field(const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

/* Columns are only ever appended, so that readers that go by position keep
 * working. */
static const char csv_header[] =
    "sequence,cluster,job_id,array_task,segment,user,account,nodes,gpu_type,gpu_count,start,end,"
    "gpu_seconds,price_micro_per_gpu_hour,amount_micro,end_reason,energy_mj,emissions_mg,"
    "market_order,key_id,energy_source,recovered,policy\n";

static void print_csv(const struct gm_receipt *r)
{
    printf("%" PRId64 ",", r->sequence);
    csv_field(r->cluster);
    printf(",%" PRId64 ",", r->job_id);
    if (r->has_array_task)
        printf("%" PRId64, r->array_task);
    printf(",%" PRId64 ",", r->segment);
    csv_field(r->user);
    putchar(',');
    csv_field(r->account);
    putchar(',');
    csv_field(r->nodes);
    putchar(',');
    csv_field(r->gpu_type);
    printf(",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,",
           r->gpu_count, r->start, r->end, r->gpu_seconds, r->price_micro_per_gpu_hour,
           r->amount_micro, gm_receipt_end_reason_name(r->end_reason));
    if (r->has_energy)
        printf("%" PRId64, r->energy_mj);
    putchar(',');
    if (r->has_emissions)
        printf("%" PRId64, r->emissions_mg);
    putchar(',');
    if (r->has_market_order)
        csv_field(r->market_order);
    printf(",%s,", r->key_id);
    if (r->has_energy_source)
        csv_field(r->energy_source);
    putchar(',');
    if (r->has_recovered)
        csv_field(r->recovered);
    putchar(',');
    if (r->has_policy)
        csv_field(r->policy);
    putchar('\n');
}

/* Optional columns of the list read "-" when the receipt has no value. */
static void print_list_line(const struct gm_receipt *r)
{
    printf("%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s\t%s\t%" PRId64 "x%s\t%" PRId64 "\t%" PRId64
           "\t%s\t%" PRId64 "\t%s\t%s\n",
           r->sequence, r->job_id, r->segment, r->user, r->account, r->gpu_count, r->gpu_type,
           r->start, r->end, gm_receipt_end_reason_name(r->end_reason), r->amount_micro,
           r->has_energy_source ? r->energy_source : "-", r->has_recovered ? r->recovered : "-");
}

/* Print records [lo, hi) of the ledger, those matching the filters (all for
 * show), in the given form. */
static int print_receipts(const struct gm_cli_command *cmd, struct gm_cli_args *a, gm_ledger *l,
                          uint64_t lo, uint64_t hi, enum receipts_output out)
{
    char err[1024];
    /* Nothing unverified is printed: billing reads this.  One Ed25519
     * verification per receipt read (tens of thousands a second per core). */
    int nkeys;
    const char *from;
    gm_key **keys = gm_cli_need_pubkeys(cmd, a, &nkeys, &from);
    if (out == OUT_CSV)
        fputs(csv_header, stdout);
    for (uint64_t k = lo; k < hi; k++) {
        size_t len;
        char *s = gm_ledger_read(l, k, &len, err, sizeof err);
        if (!s)
            gm_cli_die("%s: %s", cmd->path, err);
        /* Policy records are not receipts (gpumarket policy history lists them). */
        if (gm_governance_is_record(s, len)) {
            if (out == OUT_SHOW)
                gm_cli_die("%s: record %" PRIu64 " is a policy record, not a receipt: see "
                           "gpumarket policy history",
                           cmd->path, k);
            free(s);
            continue;
        }
        struct gm_receipt r;
        if (gm_signed_receipt_verify(s, len, keys, (size_t)nkeys, &r, err, sizeof err)) {
            fflush(stdout);
            gm_cli_die("%s: the receipt at sequence %" PRIu64
                       " does not verify with the keys from %s: %s; "
                       "nothing from it on is printed (run gpumarket ledger verify)",
                       cmd->path, k, from, err);
        }
        if ((uint64_t)r.sequence != k) {
            fflush(stdout);
            gm_cli_die("%s: record %" PRIu64 " says sequence %" PRId64
                       " (records out of place); nothing from it on is printed (run gpumarket "
                       "ledger verify)",
                       cmd->path, k, r.sequence);
        }
        if (out == OUT_SHOW || matches(a, &r)) {
            if (out == OUT_LIST) {
                print_list_line(&r);
            } else if (out == OUT_CSV) {
                print_csv(&r);
            } else {
                fwrite(s, 1, len, stdout);
                putchar('\n');
            }
        }
        free(s);
    }
    gm_ledger_close(l);
    gm_cli_free_keys(keys, nkeys);
    if (fflush(stdout) != 0)
        gm_cli_die("%s: cannot write the output: %s", cmd->path, strerror(errno));
    return 0;
}

/* --since T after --until T selects nothing: a mistake, not an empty report. */
static void check_window(const struct gm_cli_command *cmd, const struct gm_cli_args *a)
{
    if (a->have_since && a->have_until && a->since > a->until)
        gm_cli_usage_error(cmd,
                           "--since %" PRId64 " is after --until %" PRId64
                           ": no segment can end at or after the one and start before the "
                           "other; swap them",
                           a->since, a->until);
}

static int run_list(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    check_window(cmd, a);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    return print_receipts(cmd, a, l, 0, gm_ledger_size(l), OUT_LIST);
}

static int run_export(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    if (a->format && strcmp(a->format, "jsonl") != 0 && strcmp(a->format, "csv") != 0)
        gm_cli_usage_error(cmd, "--format: jsonl or csv, for export only");
    enum receipts_output out = a->format && !strcmp(a->format, "csv") ? OUT_CSV : OUT_JSONL;
    check_window(cmd, a);
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    if (argc > 0)
        gm_cli_usage_error(cmd, "unexpected argument %s", argv[0]);
    return print_receipts(cmd, a, l, 0, gm_ledger_size(l), out);
}

static int run_show(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    gm_ledger *l = gm_cli_open_ledger(gm_cli_need_ledger(cmd, a), 0, NULL);
    uint64_t index, size = gm_ledger_size(l);
    if (argc != 1 || gm_cli_parse_u64(argv[0], &index))
        gm_cli_usage_error(cmd, "give one record INDEX");
    if (index >= size)
        gm_cli_die("receipts show: INDEX %" PRIu64 " is past the end of the ledger (%" PRIu64
                   " records)",
                   index, size);
    return print_receipts(cmd, a, l, index, index + 1, OUT_SHOW);
}

#define FILTER_OPTIONS                                                                 \
    { "user", "NAME", "receipts of this user", GM_CLI_USER },                          \
        { "account", "NAME", "receipts of this account", GM_CLI_ACCOUNT },             \
        { "job", "ID", "receipts of this Slurm job", GM_CLI_JOB },                     \
        { "since", "T", "segments that ended at or after Unix time T", GM_CLI_SINCE }, \
    {                                                                                  \
        "until", "T", "segments that started before Unix time T", GM_CLI_UNTIL         \
    }

#define PUBKEY_OPTIONS                                                                   \
    { "pubkey", "FILE",                                                                  \
      "public key (PEM or .vkey) each receipt must verify with\n"                        \
      "before it is printed; repeatable (default: VerifierKeys of\n"                     \
      "gpumarket.conf; never DIR/verifier-keys)",                                        \
      GM_CLI_PUBKEY },                                                                   \
    {                                                                                    \
        "key-name", "NAME", "the key name of --pubkey PEM keys, so key ids are checked", \
            GM_CLI_KEY_NAME                                                              \
    }

static const struct gm_cli_option list_options[] = {
    FILTER_OPTIONS, PUBKEY_OPTIONS, GM_CLI_OPTION_LEDGER, GM_CLI_OPTION_CONFIG, GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option export_options[] = {
    { "format", "jsonl|csv", "signed receipts as JSON lines (default) or CSV with a header",
      GM_CLI_FORMAT },
    FILTER_OPTIONS,
    PUBKEY_OPTIONS,
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option show_options[] = {
    PUBKEY_OPTIONS,
    GM_CLI_OPTION_LEDGER,
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

#define VERIFIED_DOC                                                                  \
    "Each receipt's signature is checked against the pinned keys (--pubkey, else\n"   \
    "VerifierKeys of gpumarket.conf) before it is printed; the first that does not\n" \
    "verify stops the command with exit 1, naming its sequence number.\n"

static const struct gm_cli_command list_command = {
    .name = "list",
    .path = "receipts list",
    .summary = "one line per receipt",
    .doc =
        "One tab-separated line per receipt: sequence, job, segment, user, account,\n"
        "GPUs, start, end, end reason, amount (micro-units), energy source (metered,\n"
        "estimated or -), how the end was recovered (job_record, last_seen or -).\n" VERIFIED_DOC,
    .run = run_list,
    .options = list_options,
};

static const struct gm_cli_command show_command = {
    .name = "show",
    .path = "receipts show",
    .operands = "INDEX",
    .summary = "the signed receipt at INDEX, as stored",
    .doc = "Print the signed receipt at INDEX exactly as stored (one JSON line), for\n"
           "gpumarket verify.\n" VERIFIED_DOC,
    .run = run_show,
    .options = show_options,
};

static const struct gm_cli_command export_command = {
    .name = "export",
    .path = "receipts export",
    .summary = "signed receipts as JSON lines or CSV",
    .doc = "Export the receipts that pass the filters: signed receipts as JSON lines\n"
           "(default) or CSV.\n" VERIFIED_DOC,
    .run = run_export,
    .options = export_options,
};

static const struct gm_cli_command *const receipts_subcommands[] = {
    &list_command,
    &show_command,
    &export_command,
    NULL,
};

const struct gm_cli_command gm_cli_receipts = {
    .name = "receipts",
    .path = "receipts",
    .operands = "list|show|export",
    .summary = "read receipts from the ledger",
    .doc = "Filters (list, export): --user NAME --account NAME --job ID --since T (ended\n"
           "at or after Unix time T) --until T (started before T).\n",
    .subcommands = receipts_subcommands,
};
