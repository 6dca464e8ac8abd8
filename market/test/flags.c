/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Table-driven tests of the market flags' parsers and the control-environment
 * round trip. */
#include "config.h"

#include "market/flags.h"

#include "common/text.h"
#include "tests/tap/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXBID_100 100000000LL /* 100.00 per GPU-hour */

struct flag_case {
    enum gm_flag flag;
    const char *value;
    int64_t max_bid;
    int ok;
    const char *want; /* ok: the control value; error: a substring of the message */
};

static char long_digits[5001];
static char long_path[5001];
static char order_64[65];
static char order_65[66];
static char path_4095[4096];

static void make_long_inputs(void)
{
    memset(long_digits, '9', sizeof long_digits - 1);
    long_path[0] = '/';
    memset(long_path + 1, 'a', sizeof long_path - 2);
    memset(order_64, 'x', 64);
    memset(order_65, 'x', 65);
    path_4095[0] = '/';
    memset(path_4095 + 1, 'p', 4094);
}

static const struct flag_case cases[] = {
    /* --market-bid: good */
    { GM_FLAG_BID, "2.40", MAXBID_100, 1, "2400000" },
    { GM_FLAG_BID, "2.4", MAXBID_100, 1, "2400000" },
    { GM_FLAG_BID, "1", MAXBID_100, 1, "1000000" },
    { GM_FLAG_BID, "0.000001", MAXBID_100, 1, "1" },
    { GM_FLAG_BID, "100", MAXBID_100, 1, "100000000" },
    { GM_FLAG_BID, "100.000000", MAXBID_100, 1, "100000000" },
    { GM_FLAG_BID, "9223372036854.775807", INT64_MAX, 1, "9223372036854775807" },
    /* --market-bid: bad */
    { GM_FLAG_BID, "", MAXBID_100, 0, "a value is required" },
    { GM_FLAG_BID, " 2.40", MAXBID_100, 0, "not a decimal amount" },
    { GM_FLAG_BID, "2.40 ", MAXBID_100, 0, "2.40 " },
    { GM_FLAG_BID, "2 .40", MAXBID_100, 0, "2 .40" },
    { GM_FLAG_BID, "+2.40", MAXBID_100, 0, "+2.40" },
    { GM_FLAG_BID, "-2.40", MAXBID_100, 0, "negative" },
    { GM_FLAG_BID, "0", MAXBID_100, 0, "0" },
    { GM_FLAG_BID, "0.000000", MAXBID_100, 0, "0.000000" },
    { GM_FLAG_BID, "1e3", MAXBID_100, 0, "1e3" },
    { GM_FLAG_BID, "2.4E1", MAXBID_100, 0, "2.4E1" },
    { GM_FLAG_BID, "0x10", MAXBID_100, 0, "0x10" },
    { GM_FLAG_BID, "NaN", MAXBID_100, 0, "NaN" },
    { GM_FLAG_BID, "nan", MAXBID_100, 0, "nan" },
    { GM_FLAG_BID, "inf", MAXBID_100, 0, "inf" },
    { GM_FLAG_BID, "Infinity", MAXBID_100, 0, "Infinity" },
    { GM_FLAG_BID, "2.4000001", MAXBID_100, 0, "more than 6 decimals" },
    { GM_FLAG_BID, "9223372036855", INT64_MAX, 0, "too large" },
    { GM_FLAG_BID, "99999999999999999999", INT64_MAX, 0, "too large" },
    { GM_FLAG_BID, "2,40", MAXBID_100, 0, "2,40" },
    { GM_FLAG_BID, "1,000.00", MAXBID_100, 0, "1,000.00" },
    { GM_FLAG_BID, "2.4.0", MAXBID_100, 0, "2.4.0" },
    { GM_FLAG_BID, "2..4", MAXBID_100, 0, "2..4" },
    { GM_FLAG_BID, ".5", MAXBID_100, 0, ".5" },
    { GM_FLAG_BID, "5.", MAXBID_100, 0, "5." },
    { GM_FLAG_BID, "2.40;rm -rf /", MAXBID_100, 0, "2.40;rm -rf /" },
    { GM_FLAG_BID, "$(id)", MAXBID_100, 0, "$(id)" },
    { GM_FLAG_BID, "`id`", MAXBID_100, 0, "`id`" },
    { GM_FLAG_BID, "2.40|cat", MAXBID_100, 0, "2.40|cat" },
    { GM_FLAG_BID, "\xff\xfe", MAXBID_100, 0, "invalid UTF-8 at byte 1" },
    { GM_FLAG_BID, "2\t40", MAXBID_100, 0, "control character" },
    { GM_FLAG_BID, "\xd9\xa2", MAXBID_100, 0, "not a decimal amount" },     /* Arabic-Indic two */
    { GM_FLAG_BID, "\xef\xbc\x92", MAXBID_100, 0, "not a decimal amount" }, /* fullwidth 2 */
    { GM_FLAG_BID, "150.00", MAXBID_100, 0, "above this cluster's MaxBid of 100.00" },
    { GM_FLAG_BID, "100.000001", MAXBID_100, 0, "MaxBid" },
    /* --market-max-cost */
    { GM_FLAG_MAX_COST, "50.00", MAXBID_100, 1, "50000000" },
    { GM_FLAG_MAX_COST, "1000000", MAXBID_100, 1, "1000000000000" }, /* not capped by MaxBid */
    { GM_FLAG_MAX_COST, "0", MAXBID_100, 0, "0" },
    { GM_FLAG_MAX_COST, "-1", MAXBID_100, 0, "negative" },
    { GM_FLAG_MAX_COST, "1e9", MAXBID_100, 0, "1e9" },
    { GM_FLAG_MAX_COST, "", MAXBID_100, 0, "a value is required" },
    { GM_FLAG_MAX_COST, "12.3456789", MAXBID_100, 0, "more than 6 decimals" },
    /* --market-checkpoint-dir */
    { GM_FLAG_CHECKPOINT_DIR, "/scratch/alice/ckpt", MAXBID_100, 1, "/scratch/alice/ckpt" },
    { GM_FLAG_CHECKPOINT_DIR, "/", MAXBID_100, 1, "/" },
    { GM_FLAG_CHECKPOINT_DIR, "/d\xc3\xa9j\xc3\xa0", MAXBID_100, 1, "/d\xc3\xa9j\xc3\xa0" },
    { GM_FLAG_CHECKPOINT_DIR, "/with space/ok", MAXBID_100, 1, "/with space/ok" },
    { GM_FLAG_CHECKPOINT_DIR, "", MAXBID_100, 0, "a value is required" },
    { GM_FLAG_CHECKPOINT_DIR, "ckpt", MAXBID_100, 0, "not an absolute path" },
    { GM_FLAG_CHECKPOINT_DIR, "./ckpt", MAXBID_100, 0, "not an absolute path" },
    { GM_FLAG_CHECKPOINT_DIR, "~/ckpt", MAXBID_100, 0, "not an absolute path" },
    { GM_FLAG_CHECKPOINT_DIR, " /ckpt", MAXBID_100, 0, "not an absolute path" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\x01x", MAXBID_100, 0, "control character" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/x\n", MAXBID_100, 0, "control character" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\x7f", MAXBID_100, 0, "control character" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\xc3\x28", MAXBID_100, 0, "invalid UTF-8 at byte 6" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\xc0\xaf", MAXBID_100, 0, "invalid UTF-8" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\xed\xa0\x80", MAXBID_100, 0, "invalid UTF-8" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\xe2\x82", MAXBID_100, 0, "invalid UTF-8" },
    { GM_FLAG_CHECKPOINT_DIR, "/tmp/\xc2\x85", MAXBID_100, 0, "control character" },
    /* --market-order */
    { GM_FLAG_ORDER, "ord-2026-11:a.b_c", MAXBID_100, 1, "ord-2026-11:a.b_c" },
    { GM_FLAG_ORDER, "x", MAXBID_100, 1, "x" },
    { GM_FLAG_ORDER, "", MAXBID_100, 0, "a value is required" },
    { GM_FLAG_ORDER, "has space", MAXBID_100, 0, "has ' ' at position 4" },
    { GM_FLAG_ORDER, "a;b", MAXBID_100, 0, "has ';' at position 2" },
    { GM_FLAG_ORDER, "a/b", MAXBID_100, 0, "has '/'" },
    { GM_FLAG_ORDER, "$(id)", MAXBID_100, 0, "has '$' at position 1" },
    { GM_FLAG_ORDER, "caf\xc3\xa9", MAXBID_100, 0, "position 4" },
    { GM_FLAG_ORDER, "\xff", MAXBID_100, 0, "invalid UTF-8" },
};

static const char *flag_name(enum gm_flag f)
{
    return gm_flag_info(f)->option;
}

static void run_case(const struct flag_case *c)
{
    struct gm_market_terms terms = { 0 };
    char err[1024] = "", source[64], value[GM_FLAG_MAX_INPUT + 1] = "";
    char shown[100];

    snprintf(source, sizeof source, "--%s", flag_name(c->flag));
    gm_text_quote(c->value, strlen(c->value), shown, sizeof shown);
    int rc = gm_flags_set(&terms, c->flag, c->value, source, c->max_bid, err, sizeof err);
    if (c->ok) {
        gm_flags_control_value(&terms, c->flag, value, sizeof value);
        if (!ok(rc == 0 && strcmp(value, c->want) == 0, "--%s=\"%s\" is accepted as %s",
                flag_name(c->flag), shown, c->want))
            diag("rc %d, value '%s', err '%s'", rc, value, err);
        return;
    }
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s: ", source);
    if (!ok(rc == -1 && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, c->want) != NULL &&
                strchr(err, '\n') == NULL && terms.set == 0,
            "--%s=\"%s\" is refused: %s", flag_name(c->flag), shown, c->want))
        diag("rc %d, err '%s'", rc, err);
}

static void test_long_inputs(void)
{
    struct gm_market_terms terms = { 0 };
    char err[1024];
    char value[GM_FLAG_MAX_INPUT + 1];

    if (!ok(gm_flags_set(&terms, GM_FLAG_BID, long_digits, "--market-bid", INT64_MAX, err,
                         sizeof err) == -1 &&
                strstr(err, "too long (more than 4096 bytes; at most 64)"),
            "a 5000-byte bid is refused as too long"))

        diag("%s", err);
    if (!ok(gm_flags_set(&terms, GM_FLAG_CHECKPOINT_DIR, long_path, "--market-checkpoint-dir",
                         INT64_MAX, err, sizeof err) == -1 &&
                strstr(err, "at most 4095"),
            "a 5000-byte checkpoint path is refused"))
        diag("%s", err);
    if (!ok(gm_flags_set(&terms, GM_FLAG_CHECKPOINT_DIR, path_4095, "--market-checkpoint-dir",
                         INT64_MAX, err, sizeof err) == 0 &&
                gm_flags_control_value(&terms, GM_FLAG_CHECKPOINT_DIR, value, sizeof value) == 4095,
            "a 4095-byte checkpoint path is accepted whole"))
        diag("%s", err);
    ok(gm_flags_set(&terms, GM_FLAG_ORDER, order_64, "--market-order", INT64_MAX, err,
                    sizeof err) == 0,
       "a 64-character order reference is accepted");
    if (!ok(gm_flags_set(&terms, GM_FLAG_ORDER, order_65, "--market-order", INT64_MAX, err,
                         sizeof err) == -1 &&
                strstr(err, "too long (65 bytes; at most 64)"),
            "a 65-character order reference is refused"))
        diag("%s", err);
    ok(gm_flags_set(&terms, GM_FLAG_BID, NULL, "--market-bid", INT64_MAX, err, sizeof err) == -1 &&
           strstr(err, "a value is required"),
       "a missing value is refused");
}

static void test_repeats(void)
{
    struct gm_market_terms terms = { 0 };
    char err[1024], value[64];

    ok(gm_flags_set(&terms, GM_FLAG_BID, "2.40", "--market-bid", MAXBID_100, err, sizeof err) == 0,
       "a first bid is recorded");
    ok(gm_flags_set(&terms, GM_FLAG_BID, "2.4", "--market-bid", MAXBID_100, err, sizeof err) == 0,
       "the same bid again, written differently, is accepted");
    if (!ok(gm_flags_set(&terms, GM_FLAG_BID, "3.00", "--market-bid", MAXBID_100, err,
                         sizeof err) == -1 &&
                strstr(err, "--market-bid: given twice with different values (2.40 and 3.00)"),
            "a different second bid is refused, naming both values"))
        diag("%s", err);
    gm_flags_control_value(&terms, GM_FLAG_BID, value, sizeof value);
    is_str(value, "2400000", "the refused repeat leaves the first bid in place");
    ok(gm_flags_set(&terms, GM_FLAG_BID, "abc", "--market-bid", MAXBID_100, err, sizeof err) ==
               -1 &&
           strstr(err, "not a decimal amount"),
       "a bad repeat is refused for its own fault first");
    if (!ok(gm_flags_set(&terms, GM_FLAG_ORDER, "a1", "--market-order", MAXBID_100, err,
                         sizeof err) == 0 &&
                gm_flags_set(&terms, GM_FLAG_ORDER, "a2", "GPUMARKET_ORDER", MAXBID_100, err,
                             sizeof err) == -1 &&
                strstr(err, "GPUMARKET_ORDER: given twice with different values (a1 and a2)"),
            "a conflicting order names the source that repeated it"))
        diag("%s", err);
    ok(gm_flags_isset(&terms, GM_FLAG_BID) && gm_flags_isset(&terms, GM_FLAG_ORDER) &&
           !gm_flags_isset(&terms, GM_FLAG_MAX_COST) && gm_flags_any(&terms),
       "isset and any report what was given");
}

static void test_import(void)
{
    static const struct {
        enum gm_flag flag;
        const char *value;
        int64_t max_bid;
        int ok;
        const char *want;
    } rows[] = {
        { GM_FLAG_BID, "2400000", MAXBID_100, 1, "2400000" },
        { GM_FLAG_BID, "9223372036854775807", INT64_MAX, 1, "9223372036854775807" },
        { GM_FLAG_BID, "9223372036854775808", INT64_MAX, 0, "not a positive whole number" },
        { GM_FLAG_BID, "02400000", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_BID, "0", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_BID, "-5", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_BID, "2.40", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_BID, " 1", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_BID, "", MAXBID_100, 0, "a value is required" },
        { GM_FLAG_BID, "200000000", MAXBID_100, 0, "MaxBid" },
        { GM_FLAG_MAX_COST, "50000000", MAXBID_100, 1, "50000000" },
        { GM_FLAG_MAX_COST, "5e7", MAXBID_100, 0, "not a positive whole number" },
        { GM_FLAG_CHECKPOINT_DIR, "/ckpt", MAXBID_100, 1, "/ckpt" },
        { GM_FLAG_CHECKPOINT_DIR, "ckpt", MAXBID_100, 0, "not an absolute path" },
        { GM_FLAG_ORDER, "o-1", MAXBID_100, 1, "o-1" },
        { GM_FLAG_ORDER, "o 1", MAXBID_100, 0, "has ' '" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct gm_market_terms terms = { 0 };
        char err[1024] = "", value[128] = "";
        const char *control = gm_flag_info(rows[i].flag)->control;
        int rc =
            gm_flags_import(&terms, rows[i].flag, rows[i].value, rows[i].max_bid, err, sizeof err);
        if (rows[i].ok) {
            gm_flags_control_value(&terms, rows[i].flag, value, sizeof value);
            if (!ok(rc == 0 && strcmp(value, rows[i].want) == 0, "import %s=%s", control,
                    rows[i].value))
                diag("err %s", err);
        } else {
            char prefix[80];
            snprintf(prefix, sizeof prefix, "%s: ", control);
            if (!ok(rc == -1 && strncmp(err, prefix, strlen(prefix)) == 0 &&
                        strstr(err, rows[i].want) != NULL,
                    "import %s=\"%s\" is refused: %s", control, rows[i].value, rows[i].want))
                diag("rc %d err %s", rc, err);
        }
    }
}

/* The entry point slurmctld's select plugin uses: a job record's
 * spank_job_env, NAME=value without prefix. */
static void test_control_env(void)
{
    struct gm_market_terms terms;
    char err[GM_ERRLEN] = "";

    const char *good[] = { "SLURM_JOB_NAME=x",
                           NULL,
                           "GPUMARKET_BID_MICRO=2400000",
                           "GPUMARKET_BID=ignored",
                           "GPUMARKET_ORDER=o-7",
                           "GPUMARKET_MAX_COST_MICRO=50000000",
                           "GPUMARKET_CHECKPOINT_DIR=/scratch/c",
                           "GPUMARKET_BID_MICRO=2400000" };
    int rc = gm_flags_from_control_env(&terms, good, sizeof good / sizeof good[0], MAXBID_100, err,
                                       sizeof err);
    if (!ok(rc == 0 && terms.bid_micro == 2400000 && terms.max_cost_micro == 50000000 &&
                strcmp(terms.order, "o-7") == 0 &&
                strcmp(terms.checkpoint_dir, "/scratch/c") == 0 &&
                terms.set == (1u << GM_FLAG_COUNT) - 1,
            "a job's control environment gives its terms; other names and a same repeat are "
            "ignored"))
        diag("rc %d err %s", rc, err);

    const char *none[] = { "PATH=/bin", "GPUMARKET_BID_MICROX=1" };
    rc = gm_flags_from_control_env(&terms, none, 2, MAXBID_100, err, sizeof err);
    ok(rc == 0 && !gm_flags_any(&terms), "a job without market variables has no terms");
    ok(gm_flags_from_control_env(&terms, NULL, 0, MAXBID_100, err, sizeof err) == 0 &&
           !gm_flags_any(&terms),
       "an empty control environment is fine");

    struct {
        const char *entry, *want;
    } bad[] = {
        { "GPUMARKET_BID_MICRO=12abc", "GPUMARKET_BID_MICRO: \"12abc\" is not a positive whole" },
        { "GPUMARKET_BID_MICRO=200000000", "GPUMARKET_BID_MICRO: " },
        { "GPUMARKET_BID_MICRO=", "GPUMARKET_BID_MICRO: a value is required" },
        { "GPUMARKET_MAX_COST_MICRO=-5", "GPUMARKET_MAX_COST_MICRO: " },
        { "GPUMARKET_CHECKPOINT_DIR=rel", "GPUMARKET_CHECKPOINT_DIR: \"rel\" is not an absolute" },
        { "GPUMARKET_ORDER=a b", "GPUMARKET_ORDER: " },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* A good value first: the terms must still come back empty. */
        const char *env[] = { "GPUMARKET_ORDER=first", bad[i].entry };
        err[0] = '\0';
        rc = gm_flags_from_control_env(&terms, env, 2, MAXBID_100, err, sizeof err);
        if (!ok(rc == -1 && strncmp(err, bad[i].want, strlen(bad[i].want)) == 0 &&
                    !gm_flags_any(&terms),
                "control environment %s is refused, naming the variable", bad[i].entry))
            diag("rc %d err %s", rc, err);
    }

    const char *twice[] = { "GPUMARKET_BID_MICRO=2000000", "GPUMARKET_BID_MICRO=3000000" };
    rc = gm_flags_from_control_env(&terms, twice, 2, MAXBID_100, err, sizeof err);
    if (!ok(rc == -1 && strstr(err, "GPUMARKET_BID_MICRO: given twice with different values") &&
                !gm_flags_any(&terms),
            "a variable given twice with different values is refused"))
        diag("rc %d err %s", rc, err);
    ok(gm_flags_from_control_env(&terms, NULL, 3, MAXBID_100, err, sizeof err) == -1,
       "a count without an array is refused");
}

static void test_round_trip(void)
{
    struct gm_market_terms given = { 0 }, back = { 0 };
    char err[1024], value[GM_FLAG_MAX_INPUT + 1], again[GM_FLAG_MAX_INPUT + 1];
    int all = 1;

    gm_flags_set(&given, GM_FLAG_BID, "7.123456", "--market-bid", INT64_MAX, err, sizeof err);
    gm_flags_set(&given, GM_FLAG_MAX_COST, "99.5", "--market-max-cost", INT64_MAX, err, sizeof err);
    gm_flags_set(&given, GM_FLAG_CHECKPOINT_DIR, "/c", "--market-checkpoint-dir", INT64_MAX, err,
                 sizeof err);
    gm_flags_set(&given, GM_FLAG_ORDER, "o:1", "--market-order", INT64_MAX, err, sizeof err);
    for (int f = 0; f < GM_FLAG_COUNT; f++) {
        gm_flags_control_value(&given, (enum gm_flag)f, value, sizeof value);
        if (gm_flags_import(&back, (enum gm_flag)f, value, INT64_MAX, err, sizeof err) != 0)
            all = 0;
        gm_flags_control_value(&back, (enum gm_flag)f, again, sizeof again);
        if (strcmp(value, again) != 0)
            all = 0;
    }
    ok(all && back.bid_micro == 7123456 && back.max_cost_micro == 99500000,
       "every flag survives the control environment unchanged");
    char tiny[4];
    ok(gm_flags_control_value(&given, GM_FLAG_BID, tiny, sizeof tiny) == -1 && tiny[0] == '\0',
       "a too-small buffer is refused, not truncated");
    struct gm_market_terms none = { 0 };
    ok(gm_flags_control_value(&none, GM_FLAG_BID, value, sizeof value) == -1,
       "an unset flag has no control value");
    ok(strncmp(gm_flag_info(GM_FLAG_BID)->usage, "[gpumarket]", 11) == 0 &&
           strncmp(gm_flag_info(GM_FLAG_ORDER)->usage, "[gpumarket]", 11) == 0 &&
           gm_flag_info(GM_FLAG_COUNT) == NULL,
       "help texts carry the [gpumarket] prefix");
}

static void test_text_check(void)
{
    size_t bad = 0;
    ok(gm_text_check("\xf0\x9f\x98\x80 ok", 7, &bad) == 0, "a 4-byte UTF-8 sequence is fine");
    ok(gm_text_check("ab\xf4\x90\x80\x80", 6, &bad) == -1 && bad == 2,
       "a code point past U+10FFFF is refused at its first byte");
    ok(gm_text_check("abc\xe2", 4, &bad) == -1 && bad == 3, "a truncated sequence is refused");
    char q[100];
    gm_text_quote("a\"b\\c\x01", 6, q, sizeof q);
    is_str(q, "a\\x22b\\x5cc\\x01", "quoting escapes quotes, backslashes and controls");
}

int main(void)
{
    make_long_inputs();
    plan(TAP_NO_PLAN);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    test_long_inputs();
    test_repeats();
    test_import();
    test_control_env();
    test_round_trip();
    test_text_check();
    done_testing();
    return exit_status();
}
