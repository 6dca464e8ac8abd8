/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Receipt strings at the edges of UTF-8 and JCS: what the encoder writes for
 * characters JSON may escape but RFC 8785 must not ('/', non-ASCII), and what
 * the checker and the strict decoder refuse (overlong forms, surrogates, code
 * points past U+10FFFF, C0, DEL and C1 controls). */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sample(struct gm_receipt *r)
{
    memset(r, 0, sizeof *r);
    r->version = GM_RECEIPT_VERSION;
    strcpy(r->cluster, "gpu.example.org");
    r->sequence = 7;
    r->job_id = 4242;
    r->segment = 0;
    strcpy(r->user, "alice");
    strcpy(r->account, "physics");
    strcpy(r->nodes, "gm[1-2]");
    strcpy(r->gpu_type, "h100");
    r->gpu_count = 4;
    r->start = 1700000000;
    r->end = 1700003600;
    r->gpu_seconds = 4 * 3600;
    r->price_micro_per_gpu_hour = 2400000;
    r->amount_micro = 9600000;
    r->end_reason = GM_END_COMPLETED;
    strcpy(r->key_id, "0a1b2c3d");
}

/* Encode r, decode the bytes back, and compare. */
static int round_trip(const struct gm_receipt *r, char **json)
{
    char err[512];
    size_t len;
    char *enc = gm_receipt_encode(r, &len, err, sizeof err);
    if (!enc) {
        diag("encode: %s", err);
        return -1;
    }
    struct gm_receipt back;
    int rc = gm_receipt_decode(enc, len, &back, err, sizeof err);
    if (rc != 0)
        diag("decode of our own bytes: %s", err);
    else if (strcmp(back.nodes, r->nodes) != 0 || strcmp(back.user, r->user) != 0 ||
             strcmp(back.market_order, r->market_order) != 0)
        rc = -1;
    *json = enc;
    return rc;
}

/* Replace the value of "user" in canonical receipt bytes with raw `bytes`
 * (as a hostile writer of the ledger would) and decode strictly. */
static int decode_with_user(const char *bytes, char *err, size_t errlen)
{
    struct gm_receipt r;
    sample(&r);
    size_t len;
    char *enc = gm_receipt_encode(&r, &len, err, errlen);
    if (!enc)
        return 0;
    char *at = strstr(enc, "\"user\":\"alice\"");
    if (!at) {
        free(enc);
        return 0;
    }
    size_t head = (size_t)(at - enc) + strlen("\"user\":\"");
    const char *tail = at + strlen("\"user\":\"alice");
    size_t blen = strlen(bytes);
    char *edited = malloc(len + blen + 1);
    memcpy(edited, enc, head);
    memcpy(edited + head, bytes, blen);
    strcpy(edited + head + blen, tail);
    struct gm_receipt out;
    int rc = gm_receipt_decode(edited, strlen(edited), &out, err, errlen);
    free(edited);
    free(enc);
    return rc;
}

int main(void)
{
    plan(TAP_NO_PLAN);
    struct gm_receipt r;
    char *json = NULL;
    char err[512];

    /* '/' is legal unescaped in JSON and RFC 8785 never escapes it: a
     * receipt written "\/" would be signed and then unreadable. */
    sample(&r);
    strcpy(r.nodes, "rack/1/gm[1-2]");
    r.has_market_order = 1;
    strcpy(r.market_order, "io.net/orders/17");
    ok(round_trip(&r, &json) == 0, "a receipt with '/' in its strings round-trips");
    ok(json && strstr(json, "\"nodes\":\"rack/1/gm[1-2]\"") != NULL && !strstr(json, "\\/"),
       "'/' is written as itself, never as \\/");
    free(json);

    /* Non-ASCII is written as UTF-8, never as \u escapes. */
    sample(&r);
    strcpy(r.user, "j\xc3\xb6rg");
    ok(round_trip(&r, &json) == 0 && strstr(json, "\"user\":\"j\xc3\xb6rg\"") != NULL &&
           !strstr(json, "\\u"),
       "non-ASCII is written as raw UTF-8");
    free(json);

    /* What the checker refuses before anything is signed. */
    static const struct {
        const char *bytes, *what;
    } bad[] = {
        { "a\xc0\xaf", "an overlong 2-byte form of '/'" },
        { "a\xe0\x80\xaf", "an overlong 3-byte form of '/'" },
        { "a\xf0\x80\x80\xaf", "an overlong 4-byte form of '/'" },
        { "a\xe0\x9f\xbf", "an overlong 3-byte form of U+07FF" },
        { "a\xf0\x8f\xbf\xbf", "an overlong 4-byte form of U+FFFF" },
        { "a\xed\xa0\x80", "a UTF-16 surrogate (U+D800)" },
        { "a\xf4\x90\x80\x80", "a code point past U+10FFFF" },
        { "a\xe2\x82", "a truncated sequence" },
        { "a\x80", "a lone continuation byte" },
        { "a\x01", "a C0 control" },
        { "a\x7f", "DEL" },
        { "a\xc2\x80", "a C1 control (U+0080)" },
        { "a\xc2\x9f", "a C1 control (U+009F)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sample(&r);
        strcpy(r.user, bad[i].bytes);
        err[0] = '\0';
        int rc = gm_receipt_check(&r, err, sizeof err);
        if (!ok(rc == -1 && strstr(err, "user") != NULL, "check refuses %s in user", bad[i].what))
            diag("rc=%d err=%s", rc, err);
        err[0] = '\0';
        rc = decode_with_user(bad[i].bytes, err, sizeof err);
        if (!ok(rc == -1 && strstr(err, "user") != NULL, "strict decode refuses %s in user",
                bad[i].what))
            diag("rc=%d err=%s", rc, err);
    }
    /* And the edge cases that are fine. */
    static const char *good[] = { "\xc2\xa0", "\xe0\xa0\x80", "\xef\xbf\xbd", "\xf0\x90\x80\x80",
                                  "\xf4\x8f\xbf\xbf" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        sample(&r);
        snprintf(r.user, sizeof r.user, "u%s", good[i]);
        ok(gm_receipt_check(&r, err, sizeof err) == 0, "check accepts the shortest form #%zu", i);
    }
    done_testing();
    return exit_status();
}
