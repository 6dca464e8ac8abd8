/* SPDX-License-Identifier: GPL-2.0-or-later */
/* C2SP tlog-checkpoint notes (origin, tree size, base64 root hash) signed
 * per C2SP signed-note with Ed25519: formatting, strict parsing, checking. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EM_DASH        "\xe2\x80\x94"
#define NOTE_MAX       (1 << 20)
#define MAX_SIGNATURES 100

char *gm_checkpoint_sign(const char *origin, uint64_t size, const uint8_t root[GM_HASH_LEN],
                         const gm_key *key, char *err, size_t errlen)
{
    const char *name = gm_key_name(key);
    if (!name) {
        gm_errf(err, errlen, "the checkpoint key has no name (load it with its .vkey)");
        return NULL;
    }
    size_t olen = strlen(origin);
    if (olen == 0 || olen > GM_CHECKPOINT_ORIGIN_MAX || strchr(origin, '\n')) {
        gm_errf(err, errlen, "origin must be one line of 1 to %d bytes", GM_CHECKPOINT_ORIGIN_MAX);
        return NULL;
    }
    char rootb64[48];
    gm_settle_base64_encode(root, GM_HASH_LEN, rootb64);
    size_t cap = olen + strlen(name) + 256;
    char *note = malloc(cap);
    if (!note) {
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    int body = snprintf(note, cap, "%s\n%llu\n%s\n", origin, (unsigned long long)size, rootb64);
    uint8_t sig[4 + GM_SIGNATURE_LEN];
    if (gm_hex_decode(gm_key_id_hex(key), 8, sig, 4) ||
        gm_key_sign(key, note, (size_t)body, sig + 4, err, errlen)) {
        free(note);
        return NULL;
    }
    char sigb64[128];
    gm_settle_base64_encode(sig, sizeof sig, sigb64);
    snprintf(note + body, cap - (size_t)body, "\n" EM_DASH " %s %s\n", name, sigb64);
    return note;
}

/* One signature line "— name base64" (without its newline). */
struct sigline {
    const char *name;
    size_t namelen;
    uint8_t raw[4 + GM_SIGNATURE_LEN + 64];
    long rawlen;
};

static int parse_sigline(const char *s, size_t n, struct sigline *sl, size_t lineno, char *err,
                         size_t errlen)
{
    size_t dl = sizeof EM_DASH - 1;
    if (n < dl + 1 || memcmp(s, EM_DASH " ", dl + 1) != 0)
        return gm_errf(err, errlen,
                       "checkpoint line %zu: a signature line must start with \"" EM_DASH
                       " \" (an em dash, U+2014, and a space)",
                       lineno);
    s += dl + 1;
    n -= dl + 1;
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s)
        return gm_errf(err, errlen,
                       "checkpoint line %zu: signature line needs a key name and a signature",
                       lineno);
    sl->name = s;
    sl->namelen = (size_t)(sp - s);
    for (size_t i = 0; i < sl->namelen; i++)
        if (s[i] == '+')
            return gm_errf(err, errlen, "checkpoint line %zu: key name contains '+'", lineno);
    const char *b = sp + 1;
    size_t blen = n - sl->namelen - 1;
    sl->rawlen = gm_settle_base64_decode(b, blen, sl->raw, sizeof sl->raw);
    if (sl->rawlen < 5)
        return gm_errf(
            err, errlen,
            "checkpoint line %zu: signature is not canonical base64 of a key id and a signature",
            lineno);
    return 0;
}

/* Split and check the note; on success *body_len and the signature block's
 * start are set. */
static int parse_note(const char *text, size_t len, struct gm_checkpoint *cp, size_t *sig_start,
                      char *err, size_t errlen)
{
    memset(cp, 0, sizeof *cp);
    if (len == 0 || len > NOTE_MAX)
        return gm_errf(err, errlen, "checkpoint: empty or larger than %d bytes", NOTE_MAX);
    if (!gm_settle_utf8_valid((const uint8_t *)text, len))
        return gm_errf(err, errlen, "checkpoint: not valid UTF-8");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return gm_errf(err, errlen, "checkpoint: control character at byte %zu", i);
    }
    if (text[len - 1] != '\n')
        return gm_errf(err, errlen, "checkpoint: must end with a newline");
    /* The signatures follow the last blank line. */
    size_t split = 0;
    for (size_t i = len - 1; i-- > 0;)
        if (text[i] == '\n' && text[i + 1] == '\n') {
            split = i + 1;
            break;
        }
    if (split == 0)
        return gm_errf(err, errlen,
                       "checkpoint: no blank line before the signatures (not a signed note)");
    cp->body_len = split;
    *sig_start = split + 1;

    /* Body: origin, size, root hash, then optional extension lines. */
    const char *p = text, *end = text + split;
    const char *lines[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return gm_errf(err, errlen,
                           "checkpoint: body has fewer than 3 lines (origin, size, root hash)");
        lines[i] = p;
        lens[i] = (size_t)(nl - p);
        p = nl + 1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == p)
            return gm_errf(err, errlen, "checkpoint: empty extension line in the body");
        p = nl + 1;
    }
    if (lens[0] == 0 || lens[0] > GM_CHECKPOINT_ORIGIN_MAX)
        return gm_errf(err, errlen, "checkpoint line 1: origin must be 1 to %d bytes",
                       GM_CHECKPOINT_ORIGIN_MAX);
    memcpy(cp->origin, lines[0], lens[0]);
    cp->origin[lens[0]] = '\0';
    if (lens[1] == 0 || lens[1] > 20 || (lens[1] > 1 && lines[1][0] == '0'))
        return gm_errf(
            err, errlen,
            "checkpoint line 2: tree size must be a decimal number without leading zeros");
    unsigned __int128 v = 0;
    for (size_t i = 0; i < lens[1]; i++) {
        if (lines[1][i] < '0' || lines[1][i] > '9')
            return gm_errf(err, errlen, "checkpoint line 2: tree size must be a decimal number");
        v = v * 10 + (unsigned)(lines[1][i] - '0');
    }
    if (v > INT64_MAX)
        return gm_errf(err, errlen, "checkpoint line 2: tree size out of range");
    cp->size = (uint64_t)v;
    if (gm_settle_base64_decode(lines[2], lens[2], cp->root, GM_HASH_LEN) != GM_HASH_LEN)
        return gm_errf(err, errlen,
                       "checkpoint line 3: root hash must be canonical base64 of 32 bytes");

    /* Signature lines: at least one, each well formed. */
    size_t lineno = 0;
    for (const char *q = text; q < text + split; q++)
        lineno += *q == '\n';
    lineno += 2;
    p = text + *sig_start;
    if (p >= text + len)
        return gm_errf(err, errlen, "checkpoint: no signature lines");
    while (p < text + len) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        struct sigline sl;
        if (parse_sigline(p, (size_t)(nl - p), &sl, lineno, err, errlen))
            return -1;
        if (++cp->nsignatures > MAX_SIGNATURES)
            return gm_errf(err, errlen, "checkpoint: more than %d signatures", MAX_SIGNATURES);
        lineno++;
        p = nl + 1;
    }
    return 0;
}

int gm_checkpoint_parse(const char *text, size_t len, struct gm_checkpoint *cp, char *err,
                        size_t errlen)
{
    size_t sig_start;
    return parse_note(text, len, cp, &sig_start, err, errlen);
}

int gm_checkpoint_verify(const char *text, size_t len, gm_key *const *keys, size_t nkeys,
                         struct gm_checkpoint *cp, char *err, size_t errlen)
{
    struct gm_checkpoint tmp;
    if (!cp)
        cp = &tmp;
    size_t sig_start;
    if (parse_note(text, len, cp, &sig_start, err, errlen))
        return -1;
    const char *p = text + sig_start;
    int verified = 0;
    while (p < text + len) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        struct sigline sl;
        parse_sigline(p, (size_t)(nl - p), &sl, 0, NULL, 0);
        for (size_t k = 0; k < nkeys; k++) {
            const char *name = gm_key_name(keys[k]);
            uint8_t id[4];
            /* A key without a name (a bare PEM public key) takes the name the
             * line gives: the key id binds that name to this very key, so a
             * match means the line claims this key. */
            if (name && (strlen(name) != sl.namelen || memcmp(name, sl.name, sl.namelen) != 0))
                continue;
            if (gm_settle_key_id_for_name(keys[k], sl.name, sl.namelen, id) != 0 ||
                memcmp(id, sl.raw, 4) != 0)
                continue;
            char idhex[9];
            gm_hex_encode(id, 4, idhex);
            if (sl.rawlen != 4 + GM_SIGNATURE_LEN ||
                gm_key_verify(keys[k], text, cp->body_len, sl.raw + 4) != 0)
                return gm_errf(
                    err, errlen,
                    "checkpoint: the signature by %.*s (key id %s) does not verify: the checkpoint was altered",
                    (int)sl.namelen, sl.name, idhex);
            verified = 1;
        }
        p = nl + 1;
    }
    if (!verified)
        return gm_errf(err, errlen,
                       "checkpoint: no signature by a known key (give the ledger's verifier key)");
    return 0;
}
