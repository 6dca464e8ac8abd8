/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gm_money: every accepted and refused form of a decimal amount, the
 * formatter, and parse(format(x)) == x over many values. */
#include "config.h"

#include "common/money.h"

#include "common/rng.h"
#include "tests/tap/tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct good_case {
    const char *text;
    unsigned flags;
    int64_t micro;
};

static const struct good_case good[] = {
    { "2.40", 0, 2400000 },
    { "2.4", 0, 2400000 },
    { "2", 0, 2000000 },
    { "0.000001", 0, 1 },
    { "0.5", 0, 500000 },
    { "1.123456", 0, 1123456 },
    { "007.10", 0, 7100000 },
    { "0", GM_MONEY_ALLOW_ZERO, 0 },
    { "0.000000", GM_MONEY_ALLOW_ZERO, 0 },
    { "9223372036854", 0, INT64_C(9223372036854000000) },
    { "9223372036854.775807", 0, INT64_MAX },
    { "100000", 0, INT64_C(100000000000) },
};

struct bad_case {
    const char *why;
    const char *text;
    size_t len; /* 0: strlen(text) */
    unsigned flags;
    const char *expect; /* a word the message must contain */
};

static const struct bad_case bad[] = {
    { "empty", "", 0, 0, "empty" },
    { "zero refused by default", "0", 0, 0, "zero" },
    { "zero with decimals", "0.000", 0, 0, "zero" },
    { "leading space", " 2.40", 0, 0, "not a decimal" },
    { "trailing space", "2.40 ", 0, 0, "byte 5" },
    { "inner space", "2. 40", 0, 0, "no digits after" },
    { "minus sign", "-2.40", 0, 0, "negative" },
    { "minus zero", "-0", 0, GM_MONEY_ALLOW_ZERO, "negative" },
    { "plus sign", "+2.40", 0, 0, "not a decimal" },
    { "exponent", "2e3", 0, 0, "byte 2" },
    { "exponent after decimals", "2.4E1", 0, 0, "byte 4" },
    { "hex", "0x10", 0, 0, "byte 2" },
    { "nan", "nan", 0, 0, "not a decimal" },
    { "NaN", "NaN", 0, 0, "not a decimal" },
    { "inf", "inf", 0, 0, "not a decimal" },
    { "infinity", "Infinity", 0, 0, "not a decimal" },
    { "comma thousands", "1,000", 0, 0, "byte 2" },
    { "decimal comma", "2,40", 0, 0, "byte 2" },
    { "two dots", "2.4.0", 0, 0, "byte 4" },
    { "leading dot", ".5", 0, 0, "not a decimal" },
    { "trailing dot", "2.", 0, 0, "no digits after" },
    { "only a dot", ".", 0, 0, "not a decimal" },
    { "seven decimals", "1.1234567", 0, 0, "more than 6 decimals" },
    { "seven zero decimals", "1.0000000", 0, 0, "more than 6 decimals" },
    { "overflow by one micro-unit", "9223372036854.775808", 0, 0, "too large" },
    { "overflow in units", "9223372036855", 0, 0, "too large" },
    { "huge", "99999999999999999999999999", 0, 0, "too large" },
    { "currency sign", "$2.40", 0, 0, "not a decimal" },
    { "currency suffix", "2.40USD", 0, 0, "byte 5" },
    { "underscore", "1_000", 0, 0, "byte 2" },
    { "newline", "2.40\n", 0, 0, "byte 5" },
    { "tab", "\t2", 0, 0, "not a decimal" },
    { "embedded NUL",
      "2\0"
      "5",
      3, 0, "byte 2" },
    { "non-ASCII digit", "\xd9\xa3", 0, 0, "not a decimal" },
    { "fullwidth digit", "\xef\xbc\x92", 0, 0, "not a decimal" },
};

struct format_case {
    int64_t micro;
    const char *text;
};

static const struct format_case formats[] = {
    { 0, "0.00" },
    { 1, "0.000001" },
    { 2400000, "2.40" },
    { 2410000, "2.41" },
    { 2410500, "2.4105" },
    { 1000000, "1.00" },
    { -1500000, "-1.50" },
    { INT64_MAX, "9223372036854.775807" },
    { INT64_MIN, "-9223372036854.775808" },
};

/* xorshift64*: a fixed-seed generator so the run is reproducible. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    return gm_rng_next(&rng_state);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[256];

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = -1;
        int rc = gm_money_parse(good[i].text, good[i].flags, &v, err, sizeof err);
        ok(rc == 0 && v == good[i].micro, "parse \"%s\" = %" PRId64 " (got %" PRId64 ")",
           good[i].text, good[i].micro, v);
    }

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 12345;
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
        err[0] = '\0';
        int rc = gm_money_parse_mem(bad[i].text, len, bad[i].flags, &v, err, sizeof err);
        ok(rc == -1 && v == 12345 && strstr(err, bad[i].expect) &&
               strncmp(err, "gpumarket:", 10) != 0,
           "refuse %s: %s", bad[i].why, err);
    }

    ok(gm_money_parse(NULL, 0, &(int64_t){ 0 }, err, sizeof err) == -1, "refuse NULL text");
    /* A tiny error buffer is truncated, not overrun (ASan watches). */
    char tiny[4];
    ok(gm_money_parse("abc", 0, &(int64_t){ 0 }, tiny, sizeof tiny) == -1 && strlen(tiny) == 3,
       "a small error buffer is truncated");
    ok(gm_money_parse("abc", 0, &(int64_t){ 0 }, NULL, 0) == -1, "no error buffer at all");
    /* The message quotes at most 40 bytes of a long value. */
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    gm_money_parse(longv, 0, &(int64_t){ 0 }, err, sizeof err);
    ok(strlen(err) < 120 && strstr(err, "..."), "long value shortened in message: %s", err);
    gm_money_parse("\x01"
                   "2",
                   0, &(int64_t){ 0 }, err, sizeof err);
    ok(strstr(err, "\\x01") != NULL, "control byte escaped in message: %s", err);

    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char buf[GM_MONEY_STRLEN];
        int n = gm_money_format(formats[i].micro, buf, sizeof buf);
        ok(n == (int)strlen(formats[i].text) && strcmp(buf, formats[i].text) == 0,
           "format %" PRId64 " = %s (got %s)", formats[i].micro, formats[i].text, buf);
    }
    char small[4];
    ok(gm_money_format(2400000, small, sizeof small) == -1 && small[0] == '\0',
       "format into a too-small buffer fails cleanly");

    /* Round trip over random magnitudes, every digit count represented. */
    int round_trip_failures = 0;
    for (int i = 0; i < 20000; i++) {
        int64_t v = (int64_t)(rng() >> (1 + rng() % 63));
        char buf[GM_MONEY_STRLEN];
        int64_t back = -1;
        if (gm_money_format(v, buf, sizeof buf) < 0 ||
            gm_money_parse(buf, GM_MONEY_ALLOW_ZERO, &back, err, sizeof err) != 0 || back != v) {
            if (round_trip_failures++ < 5)
                diag("round trip failed for %" PRId64 " (%s -> %" PRId64 ")", v, buf, back);
        }
    }
    is_int(round_trip_failures, 0, "parse(format(x)) == x for 20000 random amounts");

    done_testing();
    return exit_status();
}
