/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RFC 8785 (JCS) canonical JSON pieces every signed object of the settlement
 * library shares (receipts, policy proposals and records): an output buffer
 * that writes canonical strings and integers, and a reader that, in strict
 * mode, admits only canonical bytes.  Not installed. */
#ifndef GPUMARKET_SETTLEMENT_JSON_H
#define GPUMARKET_SETTLEMENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing output buffer; `failed` is set once memory runs out and every
 * later add is ignored (check it once at the end).  p is NUL-terminated. */
struct gm_json_out {
    char *p;
    size_t len, cap;
    bool failed;
};
void gm_json_out_add(struct gm_json_out *b, const char *s, size_t n);
/* A JCS string: the text holds no control characters (callers check), so
 * only '"' and '\' are escaped. */
void gm_json_out_string(struct gm_json_out *b, const char *s);
/* A JCS integer (plain decimal). */
void gm_json_out_int(struct gm_json_out *b, int64_t v);

/* A reader over s[0..len) from pos.  strict: canonical JCS only (no
 * whitespace, canonical escapes and numbers).  Errors go to err. */
struct gm_json_in {
    const char *s;
    size_t len, pos;
    bool strict;
    char *err;
    size_t errlen;
};
/* Skip whitespace (an error in strict mode).  0 or -1. */
int gm_json_in_ws(struct gm_json_in *p);
/* The byte c next, or -1 naming `what`. */
int gm_json_in_expect(struct gm_json_in *p, char c, const char *what);
/* The exact bytes lit next (a key with its quotes and colon, say), or -1
 * saying "WHAT expected at byte N". */
int gm_json_in_literal(struct gm_json_in *p, const char *lit, const char *what);
/* A string into out (outsize bytes with the NUL), valid UTF-8 without NUL. */
int gm_json_in_string(struct gm_json_in *p, char *out, size_t outsize, const char *what);
/* An integer within +-GM_RECEIPT_INT_MAX in canonical form. */
int gm_json_in_int(struct gm_json_in *p, int64_t *v, const char *what);

#endif
