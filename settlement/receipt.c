/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Usage receipts: strict RFC 8785 (JCS) canonical JSON encoding and decoding,
 * the backfill input parser, and signed receipts (Ed25519 over the bytes). */
#include "config.h"

#include "common/money.h"
#include "settlement/gpumarket-settlement.h"
#include "settlement/json.h"
#include "settlement/util.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Indexed by enum gm_end_reason; append only (the numbers are API). */
static const char *const end_reasons[] = {
    "completed", "preempted", "cancelled", "failed", "timeout", "node_fail", "requeued", "lost",
};
#define N_END_REASONS (sizeof end_reasons / sizeof end_reasons[0])
_Static_assert(N_END_REASONS == GM_END_LOST + 1, "one name per end reason");

/* The values of the optional string fields that are closed sets. */
static const char *const recovered_values[] = { "job_record", "last_seen", NULL };
static const char *const energy_source_values[] = { "metered", "estimated", NULL };

const char *gm_receipt_end_reason_name(enum gm_end_reason reason)
{
    if ((unsigned)reason >= N_END_REASONS)
        return NULL;
    return end_reasons[reason];
}

enum field_kind { F_INT, F_STR, F_ENUM };

/* The receipt's fields in canonical (sorted) key order: the encoder walks
 * this table, the decoder checks keys against it. */
struct field {
    const char *name;
    const char *label; /* "field \"name\"", for messages without formatting */
    enum field_kind kind;
    size_t off;   /* int64_t, char[] or enum in struct gm_receipt */
    size_t size;  /* char[] size */
    long has_off; /* offset of the has_* flag, -1 when required */
    int64_t min, max;
    bool filled;               /* may be left out of backfill input */
    const char *const *values; /* F_STR: the allowed values (NULL-terminated), or NULL */
};

#define RO(m) offsetof(struct gm_receipt, m)
#define IMAX  GM_RECEIPT_INT_MAX
/* Unix seconds up to the end of year 9999. */
#define TIME_MAX 253402300799LL
static const struct field fields[] = {
    { "account", "field \"account\"", F_STR, RO(account), sizeof(((struct gm_receipt *)0)->account),
      -1, 0, 0, false, NULL },
    { "amount_micro", "field \"amount_micro\"", F_INT, RO(amount_micro), 0, -1, 0, IMAX, true,
      NULL },
    { "array_task", "field \"array_task\"", F_INT, RO(array_task), 0, RO(has_array_task), 0,
      4294967293LL, false, NULL },
    { "cluster", "field \"cluster\"", F_STR, RO(cluster), sizeof(((struct gm_receipt *)0)->cluster),
      -1, 0, 0, false, NULL },
    { "emissions_mg", "field \"emissions_mg\"", F_INT, RO(emissions_mg), 0, RO(has_emissions), 0,
      IMAX, false, NULL },
    { "end", "field \"end\"", F_INT, RO(end), 0, -1, 0, TIME_MAX, false, NULL },
    { "end_reason", "field \"end_reason\"", F_ENUM, RO(end_reason), 0, -1, 0, 0, false, NULL },
    { "energy_mj", "field \"energy_mj\"", F_INT, RO(energy_mj), 0, RO(has_energy), 0, IMAX, false,
      NULL },
    { "energy_source", "field \"energy_source\"", F_STR, RO(energy_source),
      sizeof(((struct gm_receipt *)0)->energy_source), RO(has_energy_source), 0, 0, false,
      energy_source_values },
    { "gpu_count", "field \"gpu_count\"", F_INT, RO(gpu_count), 0, -1, 1, 1000000, false, NULL },
    { "gpu_seconds", "field \"gpu_seconds\"", F_INT, RO(gpu_seconds), 0, -1, 0, IMAX, true, NULL },
    { "gpu_type", "field \"gpu_type\"", F_STR, RO(gpu_type),
      sizeof(((struct gm_receipt *)0)->gpu_type), -1, 0, 0, false, NULL },
    { "job_id", "field \"job_id\"", F_INT, RO(job_id), 0, -1, 1, 4294967293LL, false, NULL },
    { "key_id", "field \"key_id\"", F_STR, RO(key_id), sizeof(((struct gm_receipt *)0)->key_id), -1,
      0, 0, true, NULL },
    { "market_order", "field \"market_order\"", F_STR, RO(market_order),
      sizeof(((struct gm_receipt *)0)->market_order), RO(has_market_order), 0, 0, false, NULL },
    { "nodes", "field \"nodes\"", F_STR, RO(nodes), sizeof(((struct gm_receipt *)0)->nodes), -1, 0,
      0, false, NULL },
    { "policy", "field \"policy\"", F_STR, RO(policy), sizeof(((struct gm_receipt *)0)->policy),
      RO(has_policy), 0, 0, true, NULL },
    { "price_micro_per_gpu_hour", "field \"price_micro_per_gpu_hour\"", F_INT,
      RO(price_micro_per_gpu_hour), 0, -1, 0, IMAX, false, NULL },
    { "recovered", "field \"recovered\"", F_STR, RO(recovered),
      sizeof(((struct gm_receipt *)0)->recovered), RO(has_recovered), 0, 0, false,
      recovered_values },
    { "segment", "field \"segment\"", F_INT, RO(segment), 0, -1, 0, 1000000, false, NULL },
    { "sequence", "field \"sequence\"", F_INT, RO(sequence), 0, -1, 0, IMAX, true, NULL },
    { "start", "field \"start\"", F_INT, RO(start), 0, -1, 0, TIME_MAX, false, NULL },
    { "user", "field \"user\"", F_STR, RO(user), sizeof(((struct gm_receipt *)0)->user), -1, 0, 0,
      false, NULL },
    { "version", "field \"version\"", F_INT, RO(version), 0, -1, GM_RECEIPT_VERSION,
      GM_RECEIPT_VERSION, false, NULL },
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int64_t *int_at(const struct gm_receipt *r, const struct field *f)
{
    return (int64_t *)((char *)r + f->off);
}
static char *str_at(const struct gm_receipt *r, const struct field *f)
{
    return (char *)r + f->off;
}
static int *has_at(const struct gm_receipt *r, const struct field *f)
{
    return (int *)((char *)r + f->has_off);
}

/* The bill's bound is the receipt's integer bound: every bill fits a receipt. */
_Static_assert(GM_MONEY_BILL_MAX == GM_RECEIPT_INT_MAX, "a bill must fit a receipt's integers");

int64_t gm_receipt_amount(int64_t gpu_seconds, int64_t price)
{
    int64_t amount;
    return gm_money_bill(price, gpu_seconds, &amount, NULL, 0) == 0 ? amount : -1;
}

/* A receipt string: UTF-8 without control characters (C0, DEL, C1: the one
 * shared text check), non-empty, fits. */
static int check_string(const char *s, size_t size, const char *name, char *err, size_t errlen)
{
    size_t n = strnlen(s, size), bad = 0;
    if (n == size)
        return gm_errf(err, errlen, "field \"%s\": longer than %zu bytes", name, size - 1);
    if (n == 0)
        return gm_errf(err, errlen, "field \"%s\": must not be empty", name);
    if (gm_text_check(s, n, &bad) != 0)
        return gm_errf(err, errlen,
                       "field \"%s\": control character or invalid UTF-8 at byte %zu (receipts "
                       "hold printable UTF-8 only)",
                       name, bad);
    return 0;
}

/* "a", "b" or "c": the values of a closed set, for messages. */
static void list_values(const char *const *values, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && values[i] && o < outlen; i++) {
        int w = snprintf(out + o, outlen - o, "%s\"%s\"",
                         i == 0                           ? ""
                         : (i + 1 == n || !values[i + 1]) ? " or "
                                                          : ", ",
                         values[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* A string field whose values are a closed set. */
static int check_value(const char *s, size_t size, const char *name, const char *const *values,
                       char *err, size_t errlen)
{
    if (strnlen(s, size) < size)
        for (size_t i = 0; values[i]; i++)
            if (strcmp(s, values[i]) == 0)
                return 0;
    char list[128];
    list_values(values, SIZE_MAX, list, sizeof list);
    return gm_errf(err, errlen, "field \"%s\": \"%.*s\" is not one of %s", name,
                   (int)strnlen(s, size), s, list);
}

static int check_key_id(const char *id, char *err, size_t errlen)
{
    uint8_t raw[4];
    if (strnlen(id, 9) != 8 || gm_hex_decode(id, 8, raw, 4) != 0)
        return gm_errf(err, errlen,
                       "field \"key_id\": must be 8 lowercase hex digits (the C2SP key id)");
    return 0;
}

static int check_fields(const struct gm_receipt *r, bool unset_key_ok, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        if (f->has_off >= 0 && !*has_at(r, f))
            continue;
        if (f->kind == F_INT) {
            int64_t v = *int_at(r, f);
            if (v < f->min || v > f->max)
                return gm_errf(err, errlen, "field \"%s\": %lld is out of range (%lld..%lld)",
                               f->name, (long long)v, (long long)f->min, (long long)f->max);
        } else if (f->kind == F_ENUM) {
            if (!gm_receipt_end_reason_name(r->end_reason))
                return gm_errf(err, errlen, "field \"end_reason\": invalid value %d",
                               (int)r->end_reason);
        } else if (f->off == RO(policy)) {
            uint8_t raw[GM_HASH_LEN];
            if (strnlen(r->policy, sizeof r->policy) != 2 * GM_HASH_LEN ||
                gm_hex_decode(r->policy, 2 * GM_HASH_LEN, raw, GM_HASH_LEN) != 0)
                return gm_errf(err, errlen,
                               "field \"policy\": must be 64 lowercase hex digits (the SHA-256 "
                               "of the policy's proposal)");
        } else if (f->off == RO(key_id)) {
            if (!(unset_key_ok && r->key_id[0] == '\0') && check_key_id(r->key_id, err, errlen))
                return -1;
        } else if (f->values) {
            if (check_value(str_at(r, f), f->size, f->name, f->values, err, errlen))
                return -1;
        } else if (check_string(str_at(r, f), f->size, f->name, err, errlen)) {
            return -1;
        }
    }
    /* The source describes an energy figure; alone it describes nothing. */
    if (r->has_energy_source && !r->has_energy)
        return gm_errf(err, errlen,
                       "field \"energy_source\": given without field \"energy_mj\" (it says "
                       "where energy_mj comes from)");
    if (r->end < r->start)
        return gm_errf(err, errlen, "field \"end\": %lld is before start %lld", (long long)r->end,
                       (long long)r->start);
    __int128 gs = (__int128)r->gpu_count * (r->end - r->start);
    if (gs > IMAX || (int64_t)gs != r->gpu_seconds)
        return gm_errf(err, errlen,
                       "field \"gpu_seconds\": %lld but gpu_count * (end - start) is %lld",
                       (long long)r->gpu_seconds, (long long)gs);
    int64_t amount;
    char msg[256];
    if (gm_money_bill(r->price_micro_per_gpu_hour, r->gpu_seconds, &amount, msg, sizeof msg))
        return gm_errf(err, errlen, "field \"amount_micro\": %s", msg);
    if (amount != r->amount_micro)
        return gm_errf(
            err, errlen,
            "field \"amount_micro\": %lld but gpu_seconds * price_micro_per_gpu_hour / 3600 (rounded down) is %lld",
            (long long)r->amount_micro, (long long)amount);
    return 0;
}

int gm_receipt_check(const struct gm_receipt *r, char *err, size_t errlen)
{
    return check_fields(r, false, err, errlen);
}

/* ------------------------------------------------------------ encoder */

char *gm_receipt_encode(const struct gm_receipt *r, size_t *len, char *err, size_t errlen)
{
    if (gm_receipt_check(r, err, errlen))
        return NULL;
    struct gm_json_out b = { 0 };
    gm_json_out_add(&b, "{", 1);
    bool first = true;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        if (f->has_off >= 0 && !*has_at(r, f))
            continue;
        if (!first)
            gm_json_out_add(&b, ",", 1);
        first = false;
        gm_json_out_string(&b, f->name);
        gm_json_out_add(&b, ":", 1);
        if (f->kind == F_INT) {
            gm_json_out_int(&b, *int_at(r, f));
        } else if (f->kind == F_ENUM) {
            gm_json_out_string(&b, gm_receipt_end_reason_name(r->end_reason));
        } else {
            gm_json_out_string(&b, str_at(r, f));
        }
    }
    gm_json_out_add(&b, "}", 1);
    if (b.failed) {
        free(b.p);
        gm_errf(err, errlen, "out of memory encoding a receipt");
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* ------------------------------------------------------------ decoder */

static const char *kind_name(enum field_kind k)
{
    return k == F_INT ? "an integer" : "a string";
}

/* The receipt object at p->pos.  `input`: backfill mode, derived fields may
 * be missing. */
static int parse_receipt(struct gm_json_in *p, struct gm_receipt *r, bool input)
{
    memset(r, 0, sizeof *r);
    bool seen[N_FIELDS] = { false };
    char key[64];
    const char *prev = NULL;
    if (gm_json_in_ws(p) || gm_json_in_expect(p, '{', "receipt") || gm_json_in_ws(p))
        return -1;
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
    } else {
        for (;;) {
            if (gm_json_in_ws(p))
                return -1;
            size_t keypos = p->pos;
            if (gm_json_in_string(p, key, sizeof key, "receipt key"))
                return -1;
            size_t fi;
            for (fi = 0; fi < N_FIELDS; fi++)
                if (strcmp(fields[fi].name, key) == 0)
                    break;
            if (fi == N_FIELDS)
                return gm_errf(p->err, p->errlen, "unknown field \"%s\" at byte %zu", key, keypos);
            const struct field *f = &fields[fi];
            if (seen[fi])
                return gm_errf(p->err, p->errlen, "duplicate field \"%s\" at byte %zu", key,
                               keypos);
            if (p->strict && prev && strcmp(key, prev) < 0)
                return gm_errf(
                    p->err, p->errlen,
                    "field \"%s\" out of order (canonical JSON sorts keys: it belongs before \"%s\")",
                    key, prev);
            seen[fi] = true;
            prev = f->name;
            const char *what = f->label;
            if (gm_json_in_ws(p) || gm_json_in_expect(p, ':', what) || gm_json_in_ws(p))
                return -1;
            if (p->pos >= p->len)
                return gm_errf(p->err, p->errlen, "%s: value missing", what);
            char c = p->s[p->pos];
            bool is_str = c == '"';
            bool is_num = c == '-' || (c >= '0' && c <= '9');
            if ((f->kind == F_INT && !is_num) || (f->kind != F_INT && !is_str))
                return gm_errf(p->err, p->errlen, "%s: must be %s", what, kind_name(f->kind));
            if (f->kind == F_INT) {
                int64_t v = 0;
                if (gm_json_in_int(p, &v, what))
                    return -1;
                if (v < f->min || v > f->max)
                    return gm_errf(p->err, p->errlen, "%s: %lld is out of range (%lld..%lld)", what,
                                   (long long)v, (long long)f->min, (long long)f->max);
                *int_at(r, f) = v;
            } else if (f->kind == F_ENUM) {
                char val[32];
                if (gm_json_in_string(p, val, sizeof val, what))
                    return -1;
                size_t k;
                for (k = 0; k < N_END_REASONS; k++)
                    if (strcmp(val, end_reasons[k]) == 0)
                        break;
                if (k == N_END_REASONS) {
                    char list[256];
                    list_values(end_reasons, N_END_REASONS, list, sizeof list);
                    return gm_errf(p->err, p->errlen, "%s: \"%s\" is not one of %s", what, val,
                                   list);
                }
                r->end_reason = (enum gm_end_reason)k;
            } else if (f->values) {
                /* Read into room for any value named in the message, so a
                 * long wrong value is reported as not one of the set. */
                char val[64];
                if (gm_json_in_string(p, val, sizeof val, what) ||
                    check_value(val, sizeof val, f->name, f->values, p->err, p->errlen))
                    return -1;
                memcpy(str_at(r, f), val, strlen(val) + 1);
            } else {
                if (gm_json_in_string(p, str_at(r, f), f->size, what))
                    return -1;
                if (check_string(str_at(r, f), f->size, f->name, p->err, p->errlen))
                    return -1;
            }
            if (f->has_off >= 0)
                *has_at(r, f) = 1;
            if (gm_json_in_ws(p))
                return -1;
            if (p->pos < p->len && p->s[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (gm_json_in_expect(p, '}', "receipt"))
                return -1;
            break;
        }
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (seen[i] || fields[i].has_off >= 0 || (input && fields[i].filled))
            continue;
        return gm_errf(p->err, p->errlen, "missing field \"%s\"", fields[i].name);
    }
    if (input) {
        size_t fi_gs = 0, fi_amount = 0;
        for (size_t i = 0; i < N_FIELDS; i++) {
            if (strcmp(fields[i].name, "gpu_seconds") == 0)
                fi_gs = i;
            if (strcmp(fields[i].name, "amount_micro") == 0)
                fi_amount = i;
            /* The ledger assigns these; a given value would be silently replaced. */
            if (seen[i] && fields[i].filled &&
                (fields[i].off == RO(sequence) || fields[i].off == RO(key_id) ||
                 fields[i].off == RO(policy)))
                return gm_errf(p->err, p->errlen,
                               "field \"%s\": the ledger assigns it; leave it out of the input",
                               fields[i].name);
        }
        if (!seen[fi_gs]) {
            if (r->end < r->start)
                return gm_errf(p->err, p->errlen, "field \"end\": %lld is before start %lld",
                               (long long)r->end, (long long)r->start);
            r->gpu_seconds = r->gpu_count * (r->end - r->start);
        }
        if (!seen[fi_amount]) {
            char msg[256];
            if (gm_money_bill(r->price_micro_per_gpu_hour, r->gpu_seconds, &r->amount_micro, msg,
                              sizeof msg))
                return gm_errf(p->err, p->errlen, "field \"amount_micro\": %s", msg);
        }
    }
    return check_fields(r, input, p->err, p->errlen);
}

int gm_receipt_decode(const char *buf, size_t len, struct gm_receipt *r, char *err, size_t errlen)
{
    struct gm_json_in p = { buf, len, 0, true, err, errlen };
    if (parse_receipt(&p, r, false))
        return -1;
    /* The strict parser admits only canonical bytes (no whitespace, sorted
     * unique keys, canonical numbers and escapes), so decode(x) succeeding
     * implies encode(decode(x)) == x; the fuzz target checks exactly that. */
    if (p.pos != len)
        return gm_errf(err, errlen, "receipt: unexpected data after the object at byte %zu", p.pos);
    return 0;
}

int gm_receipt_parse_input(const char *buf, size_t len, struct gm_receipt *r, char *err,
                           size_t errlen)
{
    struct gm_json_in p = { buf, len, 0, false, err, errlen };
    if (parse_receipt(&p, r, true) || gm_json_in_ws(&p))
        return -1;
    if (p.pos != len)
        return gm_errf(err, errlen, "receipt: unexpected data after the object at byte %zu", p.pos);
    return 0;
}

/* ------------------------------------------------------------ signed receipts */

static const char sig_prefix[] = "{\"receipt\":";
static const char sig_middle[] = ",\"signature\":\"";
#define SIG_B64_LEN 88

char *gm_receipt_sign(struct gm_receipt *r, const gm_key *key, size_t *len, char *err,
                      size_t errlen)
{
    const char *id = gm_key_id_hex(key);
    if (!id || strlen(id) != 8) {
        gm_errf(err, errlen, "signing key has no name, so no key id: load it with its name");
        return NULL;
    }
    memcpy(r->key_id, id, 9);
    size_t rlen;
    char *enc = gm_receipt_encode(r, &rlen, err, errlen);
    if (!enc)
        return NULL;
    uint8_t sig[GM_SIGNATURE_LEN];
    if (gm_key_sign(key, enc, rlen, sig, err, errlen)) {
        free(enc);
        return NULL;
    }
    size_t total = sizeof sig_prefix - 1 + rlen + sizeof sig_middle - 1 + SIG_B64_LEN + 2;
    char *out = malloc(total + 1);
    if (!out) {
        free(enc);
        gm_errf(err, errlen, "out of memory signing a receipt");
        return NULL;
    }
    char *o = out;
    memcpy(o, sig_prefix, sizeof sig_prefix - 1);
    o += sizeof sig_prefix - 1;
    memcpy(o, enc, rlen);
    o += rlen;
    memcpy(o, sig_middle, sizeof sig_middle - 1);
    o += sizeof sig_middle - 1;
    gm_settle_base64_encode(sig, sizeof sig, o);
    o += SIG_B64_LEN;
    *o++ = '"';
    *o++ = '}';
    *o = '\0';
    free(enc);
    if (len)
        *len = total;
    return out;
}

int gm_signed_receipt_decode(const char *buf, size_t len, struct gm_receipt *r, size_t *receipt_off,
                             size_t *receipt_len, uint8_t sig[GM_SIGNATURE_LEN], char *err,
                             size_t errlen)
{
    struct gm_receipt tmp;
    if (!r)
        r = &tmp;
    size_t plen = sizeof sig_prefix - 1, mlen = sizeof sig_middle - 1;
    if (len < plen || memcmp(buf, sig_prefix, plen) != 0)
        return gm_errf(
            err, errlen,
            "signed receipt: must start with {\"receipt\": (canonical JSON, no whitespace)");
    struct gm_json_in p = { buf, len, plen, true, err, errlen };
    if (parse_receipt(&p, r, false))
        return -1;
    size_t rend = p.pos;
    if (len - rend < mlen || memcmp(buf + rend, sig_middle, mlen) != 0)
        return gm_errf(err, errlen,
                       "signed receipt: ,\"signature\":\" expected after the receipt at byte %zu",
                       rend);
    size_t s = rend + mlen;
    if (len - s != SIG_B64_LEN + 2 || buf[len - 2] != '"' || buf[len - 1] != '}')
        return gm_errf(
            err, errlen,
            "signed receipt: field \"signature\" must be %d base64 characters and end the object",
            SIG_B64_LEN);
    uint8_t raw[GM_SIGNATURE_LEN];
    if (gm_settle_base64_decode(buf + s, SIG_B64_LEN, raw, sizeof raw) != GM_SIGNATURE_LEN)
        return gm_errf(err, errlen,
                       "signed receipt: field \"signature\" is not canonical base64 of 64 bytes");
    if (receipt_off)
        *receipt_off = plen;
    if (receipt_len)
        *receipt_len = rend - plen;
    if (sig)
        memcpy(sig, raw, sizeof raw);
    return 0;
}

int gm_signed_receipt_verify(const char *buf, size_t len, gm_key *const *keys, size_t nkeys,
                             struct gm_receipt *r, char *err, size_t errlen)
{
    struct gm_receipt tmp;
    if (!r)
        r = &tmp;
    size_t off, rlen;
    uint8_t sig[GM_SIGNATURE_LEN];
    if (gm_signed_receipt_decode(buf, len, r, &off, &rlen, sig, err, errlen))
        return -1;
    /* Every key with the receipt's key id is tried (4-byte ids can collide:
     * two keys sharing one each get their chance), then the keys without a
     * name (bare PEM keys), whose id is unknown.  A named key that verifies
     * must carry the receipt's key id: key_id names the key that signed. */
    bool tried = false;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nkeys; i++) {
            const char *id = gm_key_id_hex(keys[i]);
            if (pass == 0 ? (!id[0] || strcmp(id, r->key_id) != 0) : id[0] != '\0')
                continue;
            tried = true;
            if (gm_key_verify(keys[i], buf + off, rlen, sig) != 0)
                continue;
            if (id[0] && strcmp(id, r->key_id) != 0)
                return gm_errf(err, errlen,
                               "receipt %lld (job %lld): says key id %s but was signed by key %s",
                               (long long)r->sequence, (long long)r->job_id, r->key_id, id);
            return 0;
        }
    if (tried)
        return gm_errf(
            err, errlen,
            "receipt %lld (job %lld, key id %s): the signature does not verify with any key given",
            (long long)r->sequence, (long long)r->job_id, r->key_id);
    return gm_errf(
        err, errlen,
        "receipt %lld (job %lld): signed by key id %s, and no key given has that id (pass the cluster's public key with --pubkey)",
        (long long)r->sequence, (long long)r->job_id, r->key_id);
}
