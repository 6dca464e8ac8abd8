/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for common/text's hex codec and the strict decimal u64 parser
 * every component uses (no blanks, no sign, no overflow). */
#include "config.h"

#include "common/text.h"

#include "tests/tap/tap.h"

#include <stdint.h>
#include <string.h>

static void check_hex(void)
{
    const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    char hex[2 * sizeof bytes + 1];
    gm_hex_encode(bytes, sizeof bytes, hex);
    is_str(hex, "00017f80abff", "hex is lowercase, two digits a byte");
    uint8_t back[sizeof bytes];
    ok(gm_hex_decode(hex, strlen(hex), back, sizeof back) == 0 &&
           memcmp(back, bytes, sizeof bytes) == 0,
       "hex round-trips");
    ok(gm_hex_decode("00017F80ABFF", 12, back, sizeof back) == -1, "uppercase is refused");
    ok(gm_hex_decode("00017f80abf", 11, back, sizeof back) == -1, "an odd length is refused");
    ok(gm_hex_decode("00017f80abffff", 14, back, sizeof back) == -1, "too many digits are refused");
    ok(gm_hex_decode(" 0017f80abff", 12, back, sizeof back) == -1, "a blank is refused");
    ok(gm_hex_decode("00017g80abff", 12, back, sizeof back) == -1, "a non-hex letter is refused");
    gm_hex_encode(bytes, 0, hex);
    is_str(hex, "", "no bytes, empty string");
}

struct u64_case {
    const char *text;
    uint64_t max;
    unsigned flags;
    int rc;
    uint64_t want;
};

static const struct u64_case u64_cases[] = {
    { "0", UINT64_MAX, 0, 0, 0 },
    { "42", UINT64_MAX, 0, 0, 42 },
    { "18446744073709551615", UINT64_MAX, 0, 0, UINT64_MAX },
    { "18446744073709551616", UINT64_MAX, 0, -1, 0 }, /* overflow, not wrapped */
    { "99999999999999999999999", UINT64_MAX, 0, -1, 0 },
    { "1024", 1024, 0, 0, 1024 },
    { "1025", 1024, 0, -1, 0 },      /* above max */
    { " 5", UINT64_MAX, 0, -1, 0 },  /* leading blank (strtoull takes it) */
    { "\t5", UINT64_MAX, 0, -1, 0 }, /* leading tab */
    { "\n5", UINT64_MAX, 0, -1, 0 }, /* leading newline */
    { "5 ", UINT64_MAX, 0, -1, 0 },  /* trailing blank */
    { "+5", UINT64_MAX, 0, -1, 0 },  /* sign */
    { "-5", UINT64_MAX, 0, -1, 0 },  /* strtoull wraps this to 2^64 - 5 */
    { "-0", UINT64_MAX, 0, -1, 0 },
    { "", UINT64_MAX, 0, -1, 0 },
    { "0x10", UINT64_MAX, 0, -1, 0 },
    { "1e3", UINT64_MAX, 0, -1, 0 },
    { "1.0", UINT64_MAX, 0, -1, 0 },
    { "007", UINT64_MAX, 0, 0, 7 },
    { "007", UINT64_MAX, GM_TEXT_U64_CANONICAL, -1, 0 },
    { "0", UINT64_MAX, GM_TEXT_U64_CANONICAL, 0, 0 },
    { "70", UINT64_MAX, GM_TEXT_U64_CANONICAL, 0, 70 },
};

/* The case's text with blanks made visible, for the test's name. */
static const char *shown(const char *text, char *buf, size_t len)
{
    size_t o = 0;
    for (; *text && o + 3 < len; text++) {
        if (*text == '\t' || *text == '\n') {
            buf[o++] = '\\';
            buf[o++] = *text == '\t' ? 't' : 'n';
        } else {
            buf[o++] = *text;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void check_u64(void)
{
    char name[64];
    for (size_t i = 0; i < sizeof u64_cases / sizeof u64_cases[0]; i++) {
        const struct u64_case *c = &u64_cases[i];
        uint64_t v = 12345;
        int rc = gm_text_parse_u64(c->text, c->max, c->flags, &v);
        if (c->rc == 0)
            ok(rc == 0 && v == c->want, "\"%s\" (max %llu, flags %u) is %llu",
               shown(c->text, name, sizeof name), (unsigned long long)c->max, c->flags,
               (unsigned long long)c->want);
        else
            ok(rc == -1 && v == 12345, "\"%s\" (max %llu, flags %u) is refused, value untouched",
               shown(c->text, name, sizeof name), (unsigned long long)c->max, c->flags);
    }
    uint64_t v = 0;
    ok(gm_text_parse_u64_mem("123456", 3, UINT64_MAX, 0, &v) == 0 && v == 123,
       "the _mem form reads only len bytes");
    ok(gm_text_parse_u64_mem("12\0"
                             "3",
                             4, UINT64_MAX, 0, &v) == -1,
       "a NUL byte inside is refused");
    ok(gm_text_parse_u64(NULL, UINT64_MAX, 0, &v) == -1, "NULL is refused");
}

int main(void)
{
    plan(TAP_NO_PLAN);
    check_hex();
    check_u64();
    done_testing();
    return exit_status();
}
