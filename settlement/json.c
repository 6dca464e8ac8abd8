/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RFC 8785 (JCS) canonical JSON: the writer and the strict reader shared by
 * receipts (receipt.c) and governance policies (policy.c). */
#include "config.h"

#include "settlement/json.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <stdlib.h>
#include <string.h>

void gm_json_out_add(struct gm_json_out *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* JCS string: receipts hold no control characters, so only '"' and '\'
 * need escaping; everything else is copied as UTF-8. */
void gm_json_out_string(struct gm_json_out *b, const char *s)
{
    gm_json_out_add(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            gm_json_out_add(b, "\\", 1);
        gm_json_out_add(b, s, 1);
    }
    gm_json_out_add(b, "\"", 1);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int gm_json_in_ws(struct gm_json_in *p)
{
    if (p->pos < p->len && is_ws(p->s[p->pos])) {
        if (p->strict)
            return gm_errf(p->err, p->errlen,
                           "whitespace at byte %zu: canonical JSON (RFC 8785) has none", p->pos);
        while (p->pos < p->len && is_ws(p->s[p->pos]))
            p->pos++;
    }
    return 0;
}

int gm_json_in_literal(struct gm_json_in *p, const char *lit, const char *what)
{
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0)
        return gm_errf(p->err, p->errlen, "%s expected at byte %zu", what, p->pos);
    p->pos += n;
    return 0;
}

int gm_json_in_expect(struct gm_json_in *p, char c, const char *what)
{
    if (p->pos >= p->len)
        return gm_errf(p->err, p->errlen, "%s: input ends where '%c' was expected", what, c);
    if (p->s[p->pos] != c)
        return gm_errf(p->err, p->errlen, "%s: '%c' expected at byte %zu", what, c, p->pos);
    p->pos++;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int gm_json_in_u4(struct gm_json_in *p, uint32_t *v, const char *what)
{
    if (p->pos + 4 > p->len)
        return gm_errf(p->err, p->errlen, "%s: truncated \\u escape", what);
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0)
            return gm_errf(p->err, p->errlen, "%s: bad \\u escape at byte %zu", what, p->pos);
        *v = (*v << 4) | (uint32_t)h;
    }
    p->pos += 4;
    return 0;
}

/* A JSON string into out (at most outsize - 1 bytes, NUL-terminated). */
int gm_json_in_string(struct gm_json_in *p, char *out, size_t outsize, const char *what)
{
    if (gm_json_in_expect(p, '"', what))
        return -1;
    size_t o = 0;
    for (;;) {
        if (p->pos >= p->len)
            return gm_errf(p->err, p->errlen, "%s: unterminated string", what);
        unsigned char c = (unsigned char)p->s[p->pos++];
        char enc[4];
        size_t n = 1;
        if (c == '"')
            break;
        if (c < 0x20)
            return gm_errf(p->err, p->errlen, "%s: raw control character at byte %zu", what,
                           p->pos - 1);
        enc[0] = (char)c;
        if (c == '\\') {
            if (p->pos >= p->len)
                return gm_errf(p->err, p->errlen, "%s: unterminated escape", what);
            char e = p->s[p->pos++];
            if (p->strict && e != '"' && e != '\\')
                return gm_errf(
                    p->err, p->errlen,
                    "%s: non-canonical escape \\%c at byte %zu (RFC 8785 escapes only '\"', '\\' and control characters, which receipts do not allow)",
                    what, e, p->pos - 2);
            switch (e) {
            case '"':
                enc[0] = '"';
                break;
            case '\\':
                enc[0] = '\\';
                break;
            case '/':
                enc[0] = '/';
                break;
            case 'b':
                enc[0] = '\b';
                break;
            case 'f':
                enc[0] = '\f';
                break;
            case 'n':
                enc[0] = '\n';
                break;
            case 'r':
                enc[0] = '\r';
                break;
            case 't':
                enc[0] = '\t';
                break;
            case 'u': {
                uint32_t cp;
                if (gm_json_in_u4(p, &cp, what))
                    return -1;
                if (cp >= 0xdc00 && cp <= 0xdfff)
                    return gm_errf(p->err, p->errlen, "%s: lone low surrogate", what);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return gm_errf(p->err, p->errlen, "%s: lone high surrogate", what);
                    p->pos += 2;
                    if (gm_json_in_u4(p, &lo, what))
                        return -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return gm_errf(p->err, p->errlen, "%s: bad surrogate pair", what);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                if (cp < 0x80) {
                    enc[0] = (char)cp;
                    n = 1;
                } else if (cp < 0x800) {
                    enc[0] = (char)(0xc0 | (cp >> 6));
                    enc[1] = (char)(0x80 | (cp & 0x3f));
                    n = 2;
                } else if (cp < 0x10000) {
                    enc[0] = (char)(0xe0 | (cp >> 12));
                    enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    enc[2] = (char)(0x80 | (cp & 0x3f));
                    n = 3;
                } else {
                    enc[0] = (char)(0xf0 | (cp >> 18));
                    enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                    enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    enc[3] = (char)(0x80 | (cp & 0x3f));
                    n = 4;
                }
                break;
            }
            default:
                return gm_errf(p->err, p->errlen, "%s: invalid escape \\%c", what, e);
            }
        }
        if (o + n >= outsize)
            return gm_errf(p->err, p->errlen, "%s: longer than %zu bytes", what, outsize - 1);
        memcpy(out + o, enc, n);
        o += n;
    }
    out[o] = '\0';
    if (memchr(out, '\0', o))
        return gm_errf(p->err, p->errlen, "%s: contains a NUL character", what);
    if (!gm_settle_utf8_valid((const uint8_t *)out, o))
        return gm_errf(p->err, p->errlen, "%s: not valid UTF-8", what);
    return 0;
}

/* An integer; canonical JCS form is -?(0|[1-9][0-9]*) and never "-0". */
int gm_json_in_int(struct gm_json_in *p, int64_t *v, const char *what)
{
    size_t start = p->pos;
    bool neg = false;
    if (p->pos < p->len && p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    size_t digits = p->pos;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    size_t ndig = p->pos - digits;
    if (ndig == 0)
        return gm_errf(p->err, p->errlen, "%s: must be an integer", what);
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return gm_errf(p->err, p->errlen,
                       "%s: must be an integer written without fraction or exponent", what);
    if (ndig > 1 && p->s[digits] == '0')
        return gm_errf(p->err, p->errlen, "%s: leading zero in number at byte %zu", what, start);
    if (neg && ndig == 1 && p->s[digits] == '0' && p->strict)
        return gm_errf(p->err, p->errlen, "%s: \"-0\" is not canonical (write 0)", what);
    if (ndig > 16)
        return gm_errf(p->err, p->errlen, "%s: number out of range (|n| <= %lld)", what,
                       GM_RECEIPT_INT_MAX);
    int64_t n = 0;
    for (size_t i = digits; i < p->pos; i++)
        n = n * 10 + (p->s[i] - '0');
    if (n > GM_RECEIPT_INT_MAX)
        return gm_errf(p->err, p->errlen, "%s: number out of range (|n| <= %lld)", what,
                       GM_RECEIPT_INT_MAX);
    *v = neg ? -n : n;
    return 0;
}

void gm_json_out_int(struct gm_json_out *b, int64_t v)
{
    /* Decimal by hand: this runs for every field of every receipt. */
    char num[24], *e = num + sizeof num, *q = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    gm_json_out_add(b, q, (size_t)(e - q));
}
