/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Governance: market policy proposals (canonical JSON whose values the one
 * gpumarket.conf parser checks), admins' Ed25519 signatures on them, policy
 * records in the ledger, and applying a change under the ledger's lock. */
#include "config.h"

#include "common/conf.h"
#include "settlement/json.h"
#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* Unix seconds up to the end of year 9999, as receipts. */
#define TIME_MAX      253402300799LL
#define KEY_NAME_MAX  31
#define VALUE_MAX     1024
#define SIG_B64_LEN   88
#define ZERO_HASH     "0000000000000000000000000000000000000000000000000000000000000000"
#define RECORD_PREFIX "{\"applied\":"

struct gm_governance_proposal {
    char *bytes; /* canonical, NUL-terminated */
    size_t len;
    char hash[2 * GM_HASH_LEN + 1];
    uint8_t raw_hash[GM_HASH_LEN];
    char parent[2 * GM_HASH_LEN + 1];
    int64_t expires;
    char reason[GM_POLICY_REASON_MAX + 1];
    size_t nvalues;
    char names[GM_POLICY_VALUES_MAX][KEY_NAME_MAX + 1];
    char *values[GM_POLICY_VALUES_MAX];
    struct gm_conf *conf;
};

struct gm_governance_record {
    char *bytes;
    size_t len;
    int64_t applied;
    gm_governance_proposal *proposal;
    size_t nsigs;
    struct gm_governance_signature sigs[GM_POLICY_SIGNATURES_MAX];
};

/* ------------------------------------------------------------ proposals */

void gm_governance_proposal_destroy(gm_governance_proposal *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nvalues; i++)
        free(p->values[i]);
    gm_conf_destroy(p->conf);
    free(p->bytes);
    free(p);
}

static bool is_hash_hex(const char *s)
{
    uint8_t raw[GM_HASH_LEN];
    return strlen(s) == 2 * GM_HASH_LEN && gm_hex_decode(s, 2 * GM_HASH_LEN, raw, GM_HASH_LEN) == 0;
}

/* The proposal object at p->pos (canonical form only), into *out (bytes not
 * yet set).  `name` starts messages. */
static int parse_proposal_at(struct gm_json_in *in, gm_governance_proposal *out, const char *name)
{
    char msg[600];
    struct gm_json_in p = *in;
    p.err = msg;
    p.errlen = sizeof msg;
    int64_t version;
    char vbuf[VALUE_MAX + 1];
    /* gm_json_in_ws refuses any whitespace in strict mode, naming it. */
    if (gm_json_in_ws(&p) || gm_json_in_expect(&p, '{', "proposal") || gm_json_in_ws(&p) ||
        gm_json_in_string(&p, vbuf, sizeof vbuf, "proposal key"))
        goto fail;
    if (strcmp(vbuf, "expires") != 0) {
        gm_errf(msg, sizeof msg,
                "the first field must be \"expires\" (canonical JSON sorts keys), not \"%.40s\"",
                vbuf);
        goto fail;
    }
    if (gm_json_in_expect(&p, ':', "field \"expires\"") ||
        gm_json_in_int(&p, &out->expires, "field \"expires\""))
        goto fail;
    if (out->expires < 0 || out->expires > TIME_MAX) {
        gm_errf(msg, sizeof msg, "field \"expires\": out of range");
        goto fail;
    }
    if (gm_json_in_literal(&p, ",\"parent\":", "field \"parent\""))
        goto fail;
    if (gm_json_in_string(&p, out->parent, sizeof out->parent, "field \"parent\""))
        goto fail;
    if (!is_hash_hex(out->parent)) {
        gm_errf(msg, sizeof msg,
                "field \"parent\": must be 64 lowercase hex digits (the hash of the policy it "
                "replaces, or 64 zeros for the first)");
        goto fail;
    }
    if (gm_json_in_literal(&p, ",\"reason\":", "field \"reason\""))
        goto fail;
    if (gm_json_in_string(&p, out->reason, sizeof out->reason, "field \"reason\""))
        goto fail;
    size_t bad;
    if (!out->reason[0] || gm_text_check(out->reason, strlen(out->reason), &bad) != 0) {
        gm_errf(msg, sizeof msg,
                "field \"reason\": must be non-empty printable UTF-8 without control characters");
        goto fail;
    }
    if (gm_json_in_literal(&p, ",\"values\":{", "field \"values\" (an object)"))
        goto fail;
    if (p.pos < p.len && p.s[p.pos] == '}') {
        gm_errf(msg, sizeof msg, "field \"values\": empty: a policy sets at least ReservePrice");
        goto fail;
    }
    for (;;) {
        if (out->nvalues == GM_POLICY_VALUES_MAX) {
            gm_errf(msg, sizeof msg, "field \"values\": more than %d keys", GM_POLICY_VALUES_MAX);
            goto fail;
        }
        char *key = out->names[out->nvalues];
        if (gm_json_in_string(&p, key, KEY_NAME_MAX + 1, "a key of \"values\""))
            goto fail;
        if (out->nvalues > 0 && strcmp(out->names[out->nvalues - 1], key) >= 0) {
            gm_errf(msg, sizeof msg,
                    "field \"values\": key \"%s\" is out of order or repeated (canonical JSON "
                    "sorts keys, each once)",
                    key);
            goto fail;
        }
        if (gm_json_in_expect(&p, ':', "field \"values\"") ||
            gm_json_in_string(&p, vbuf, sizeof vbuf, "a value of \"values\""))
            goto fail;
        if (!(out->values[out->nvalues] = strdup(vbuf))) {
            gm_errf(msg, sizeof msg, "out of memory");
            goto fail;
        }
        out->nvalues++;
        if (p.pos < p.len && p.s[p.pos] == ',') {
            p.pos++;
            continue;
        }
        if (gm_json_in_expect(&p, '}', "field \"values\""))
            goto fail;
        break;
    }
    if (gm_json_in_literal(&p, ",\"version\":", "field \"version\" (the last field)"))
        goto fail;
    if (gm_json_in_int(&p, &version, "field \"version\""))
        goto fail;
    if (version != GM_POLICY_VERSION) {
        gm_errf(msg, sizeof msg, "field \"version\": %lld, this gpumarket reads version %d",
                (long long)version, GM_POLICY_VERSION);
        goto fail;
    }
    if (gm_json_in_expect(&p, '}', "proposal"))
        goto fail;
    /* The values, by the one gpumarket.conf parser. */
    const char *names[GM_POLICY_VALUES_MAX];
    for (size_t i = 0; i < out->nvalues; i++)
        names[i] = out->names[i];
    char where[300];
    snprintf(where, sizeof where, "%s: values", name);
    if (gm_conf_parse_policy_values(where, names, (const char *const *)out->values, out->nvalues,
                                    &out->conf, in->err, in->errlen) != 0)
        return -1;
    in->pos = p.pos;
    return 0;
fail:
    return gm_errf(in->err, in->errlen, "%s: %s", name, msg);
}

/* Copy the canonical bytes [start, end) of in and hash them. */
static int set_bytes(gm_governance_proposal *p, const char *s, size_t len, char *err, size_t errlen)
{
    if (!(p->bytes = malloc(len + 1)))
        return gm_errf(err, errlen, "out of memory");
    memcpy(p->bytes, s, len);
    p->bytes[len] = '\0';
    p->len = len;
    unsigned hl = 0;
    if (!EVP_Digest(p->bytes, len, p->raw_hash, &hl, gm_settle_sha256_md(), NULL))
        return gm_errf(err, errlen, "SHA-256 failed");
    gm_hex_encode(p->raw_hash, GM_HASH_LEN, p->hash);
    return 0;
}

gm_governance_proposal *gm_governance_proposal_parse(const char *buf, size_t len, const char *name,
                                                     char *err, size_t errlen)
{
    if (!name)
        name = "proposal";
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0) {
        gm_errf(err, errlen, "%s: empty: a proposal is one canonical JSON object", name);
        return NULL;
    }
    if (len > GM_POLICY_FILE_MAX) {
        gm_errf(err, errlen, "%s: %zu bytes: the most is %d", name, len, GM_POLICY_FILE_MAX);
        return NULL;
    }
    gm_governance_proposal *p = calloc(1, sizeof *p);
    if (!p) {
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    struct gm_json_in in = { buf, len, 0, true, err, errlen };
    if (parse_proposal_at(&in, p, name) != 0)
        goto fail;
    if (in.pos != len) {
        gm_errf(err, errlen, "%s: unexpected data after the proposal at byte %zu", name, in.pos);
        goto fail;
    }
    if (set_bytes(p, buf, len, err, errlen) != 0)
        goto fail;
    return p;
fail:
    gm_governance_proposal_destroy(p);
    return NULL;
}

gm_governance_proposal *gm_governance_proposal_load(const char *path, char *err, size_t errlen)
{
    size_t len;
    char msg[512];
    char *buf = gm_io_read_file(path, 0, GM_POLICY_FILE_MAX + 1, &len, msg, sizeof msg);
    if (!buf) {
        gm_errf(err, errlen, "%s", msg);
        return NULL;
    }
    gm_governance_proposal *p = gm_governance_proposal_parse(buf, len, path, err, errlen);
    free(buf);
    return p;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

gm_governance_proposal *gm_governance_proposal_create(const char *parent_hex, int64_t expires,
                                                      const char *reason, const char *const *names,
                                                      const char *const *values, size_t n,
                                                      char *err, size_t errlen)
{
    if (parent_hex && !is_hash_hex(parent_hex)) {
        gm_errf(err, errlen, "parent: must be 64 lowercase hex digits");
        return NULL;
    }
    if (n == 0 || n > GM_POLICY_VALUES_MAX) {
        gm_errf(err, errlen, "a proposal sets 1 to %d keys", GM_POLICY_VALUES_MAX);
        return NULL;
    }
    size_t bad;
    if (!reason || !reason[0] || strlen(reason) > GM_POLICY_REASON_MAX ||
        gm_text_check(reason, strlen(reason), &bad) != 0) {
        gm_errf(err, errlen,
                "reason: give 1 to %d bytes of printable UTF-8 without control characters",
                GM_POLICY_REASON_MAX);
        return NULL;
    }
    /* Sort the pairs by key (canonical order) through an index. */
    const char *const *order[GM_POLICY_VALUES_MAX];
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !values[i] || strlen(names[i]) > KEY_NAME_MAX ||
            strlen(values[i]) > VALUE_MAX || gm_text_check(values[i], strlen(values[i]), &bad)) {
            gm_errf(err, errlen,
                    "value %zu: a key of at most %d bytes and a printable value of at most %d",
                    i + 1, KEY_NAME_MAX, VALUE_MAX);
            return NULL;
        }
        order[i] = &names[i];
    }
    qsort(order, n, sizeof order[0], compare_names);
    struct gm_json_out b = { 0 };
    gm_json_out_add(&b, "{\"expires\":", 11);
    gm_json_out_int(&b, expires);
    gm_json_out_add(&b, ",\"parent\":", 10);
    gm_json_out_string(&b, parent_hex ? parent_hex : ZERO_HASH);
    gm_json_out_add(&b, ",\"reason\":", 10);
    gm_json_out_string(&b, reason);
    gm_json_out_add(&b, ",\"values\":{", 11);
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)(order[i] - names);
        if (i > 0) {
            if (!strcmp(names[k], *order[i - 1])) {
                free(b.p);
                gm_errf(err, errlen, "%s is given twice: give each key once", names[k]);
                return NULL;
            }
            gm_json_out_add(&b, ",", 1);
        }
        gm_json_out_string(&b, names[k]);
        gm_json_out_add(&b, ":", 1);
        gm_json_out_string(&b, values[k]);
    }
    gm_json_out_add(&b, "},\"version\":", 12);
    gm_json_out_int(&b, GM_POLICY_VERSION);
    gm_json_out_add(&b, "}", 1);
    if (b.failed) {
        free(b.p);
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    /* One path to a proposal: what we wrote must parse as what we meant. */
    gm_governance_proposal *p = gm_governance_proposal_parse(b.p, b.len, "proposal", err, errlen);
    free(b.p);
    return p;
}

const char *gm_governance_proposal_bytes(const gm_governance_proposal *p, size_t *len)
{
    if (len)
        *len = p->len;
    return p->bytes;
}
const char *gm_governance_proposal_hash(const gm_governance_proposal *p)
{
    return p->hash;
}
const char *gm_governance_proposal_parent(const gm_governance_proposal *p)
{
    return p->parent;
}
int64_t gm_governance_proposal_expires(const gm_governance_proposal *p)
{
    return p->expires;
}
const char *gm_governance_proposal_reason(const gm_governance_proposal *p)
{
    return p->reason;
}
size_t gm_governance_proposal_value_count(const gm_governance_proposal *p)
{
    return p->nvalues;
}
int gm_governance_proposal_value(const gm_governance_proposal *p, size_t i, const char **name,
                                 const char **value)
{
    if (i >= p->nvalues)
        return -1;
    *name = p->names[i];
    *value = p->values[i];
    return 0;
}
const struct gm_conf *gm_governance_proposal_conf(const gm_governance_proposal *p)
{
    return p->conf;
}

int gm_governance_compare_conf(const gm_governance_proposal *policy, const struct gm_conf *conf,
                               void (*report)(const char *key, void *arg), void *arg)
{
    return gm_conf_market_differences(policy->conf, conf, report, arg);
}

/* ------------------------------------------------------------ signatures */

/* What an admin signs: the domain prefix and the raw hash. */
static size_t signed_message(const gm_governance_proposal *p, uint8_t *out)
{
    size_t n = sizeof GM_POLICY_SIGNING_PREFIX - 1;
    memcpy(out, GM_POLICY_SIGNING_PREFIX, n);
    memcpy(out + n, p->raw_hash, GM_HASH_LEN);
    return n + GM_HASH_LEN;
}
#define SIGNED_MESSAGE_MAX (sizeof GM_POLICY_SIGNING_PREFIX - 1 + GM_HASH_LEN)

char *gm_governance_sign(const gm_governance_proposal *p, const gm_key *admin, size_t *len,
                         char *err, size_t errlen)
{
    const char *id = gm_key_id_hex(admin);
    if (!gm_key_has_private(admin) || strlen(id) != 8) {
        gm_errf(err, errlen,
                "the admin key needs its private key and a name (the .vkey file beside it, as "
                "gpumarket keygen writes)");
        return NULL;
    }
    uint8_t msg[SIGNED_MESSAGE_MAX], sig[GM_SIGNATURE_LEN];
    size_t mlen = signed_message(p, msg);
    if (gm_key_sign(admin, msg, mlen, sig, err, errlen) != 0)
        return NULL;
    char b64[SIG_B64_LEN + 1];
    gm_settle_base64_encode(sig, sizeof sig, b64);
    struct gm_json_out b = { 0 };
    gm_json_out_add(&b, "{\"key_id\":", 10);
    gm_json_out_string(&b, id);
    gm_json_out_add(&b, ",\"policy\":", 10);
    gm_json_out_string(&b, p->hash);
    gm_json_out_add(&b, ",\"sig\":", 7);
    gm_json_out_string(&b, b64);
    gm_json_out_add(&b, "}\n", 2);
    if (b.failed) {
        free(b.p);
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}

/* "KEY":"VALUE" with an exact key, at in->pos. */
static int expect_field(struct gm_json_in *in, const char *lead, char *out, size_t outsize,
                        const char *what)
{
    return gm_json_in_literal(in, lead, what) || gm_json_in_string(in, out, outsize, what) ? -1 : 0;
}

static int parse_key_id_sig(struct gm_json_in *in, struct gm_governance_signature *s)
{
    uint8_t raw[4];
    if (expect_field(in, "\"key_id\":", s->key_id, sizeof s->key_id, "field \"key_id\""))
        return -1;
    if (strlen(s->key_id) != 8 || gm_hex_decode(s->key_id, 8, raw, 4) != 0)
        return gm_errf(in->err, in->errlen,
                       "field \"key_id\": must be 8 lowercase hex digits (the admin key's id)");
    return 0;
}

static int parse_sig_value(struct gm_json_in *in, struct gm_governance_signature *s)
{
    char b64[SIG_B64_LEN + 2];
    if (expect_field(in, ",\"sig\":", b64, sizeof b64, "field \"sig\""))
        return -1;
    if (strlen(b64) != SIG_B64_LEN ||
        gm_settle_base64_decode(b64, SIG_B64_LEN, s->sig, sizeof s->sig) != GM_SIGNATURE_LEN)
        return gm_errf(in->err, in->errlen,
                       "field \"sig\": must be canonical base64 of a 64-byte Ed25519 signature");
    return 0;
}

int gm_governance_signature_parse(const char *buf, size_t len, const char *name,
                                  struct gm_governance_signature *s, char *err, size_t errlen)
{
    char msg[400];
    memset(s, 0, sizeof *s);
    s->name = name;
    if (!name)
        name = "signature";
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    struct gm_json_in in = { buf, len, 0, true, msg, sizeof msg };
    if (gm_json_in_expect(&in, '{', "signature") || parse_key_id_sig(&in, s) ||
        expect_field(&in, ",\"policy\":", s->policy, sizeof s->policy, "field \"policy\""))
        return gm_errf(err, errlen, "%s: %s", name, msg);
    if (!is_hash_hex(s->policy))
        return gm_errf(
            err, errlen,
            "%s: field \"policy\": must be 64 lowercase hex digits (the proposal's hash)", name);
    if (parse_sig_value(&in, s) || gm_json_in_expect(&in, '}', "signature"))
        return gm_errf(err, errlen, "%s: %s", name, msg);
    if (in.pos != len)
        return gm_errf(err, errlen, "%s: unexpected data after the signature at byte %zu", name,
                       in.pos);
    return 0;
}

int gm_governance_signature_load(const char *path, struct gm_governance_signature *s, char *err,
                                 size_t errlen)
{
    size_t len;
    char msg[512];
    char *buf = gm_io_read_file(path, 0, GM_POLICY_FILE_MAX, &len, msg, sizeof msg);
    if (!buf)
        return gm_errf(err, errlen, "%s", msg);
    int rc = gm_governance_signature_parse(buf, len, path, s, err, errlen);
    free(buf);
    return rc;
}

static const char *sig_name(const struct gm_governance_signature *s, size_t i, char *buf,
                            size_t size)
{
    if (s->name)
        return s->name;
    snprintf(buf, size, "signature %zu (key id %s)", i + 1, s->key_id);
    return buf;
}

/* The checks every accepted set of signatures passes (apply and verify):
 * each signature is for p, by a listed admin (matched by key id, or by
 * signature for a nameless key), no admin twice, and at least threshold. */
static int check_signatures(const gm_governance_proposal *p,
                            const struct gm_governance_signature *sigs, size_t nsigs,
                            const struct gm_governance_admins *admins, size_t *signers, char *err,
                            size_t errlen)
{
    char nb[64], nb2[64];
    if (!admins || admins->nkeys == 0 || admins->threshold == 0)
        return gm_errf(err, errlen,
                       "no policy admins: list the admins' public keys (PolicyAdmins and "
                       "PolicyThreshold in gpumarket.conf, or --admin-key and --threshold)");
    if (admins->threshold > admins->nkeys)
        return gm_errf(err, errlen, "threshold %zu is more than the %zu admins listed",
                       admins->threshold, admins->nkeys);
    if (nsigs > GM_POLICY_SIGNATURES_MAX)
        return gm_errf(err, errlen, "%zu signatures: the most is %d", nsigs,
                       GM_POLICY_SIGNATURES_MAX);
    uint8_t msg[SIGNED_MESSAGE_MAX];
    size_t mlen = signed_message(p, msg);
    size_t used[GM_POLICY_SIGNATURES_MAX];
    for (size_t i = 0; i < nsigs; i++) {
        const struct gm_governance_signature *s = &sigs[i];
        const char *sn = sig_name(s, i, nb, sizeof nb);
        if (strcmp(s->policy, p->hash) != 0)
            return gm_errf(err, errlen,
                           "%s: signs policy %.16s..., not this proposal (%.16s...): sign the "
                           "proposal being applied",
                           sn, s->policy, p->hash);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(sigs[j].key_id, s->key_id))
                return gm_errf(err, errlen,
                               "%s: key id %s signed already (%s): the same admin counts once; "
                               "get another admin's signature",
                               sn, s->key_id, sig_name(&sigs[j], j, nb2, sizeof nb2));
        size_t found = SIZE_MAX;
        bool named_match = false;
        for (int pass = 0; pass < 2 && found == SIZE_MAX; pass++)
            for (size_t k = 0; k < admins->nkeys; k++) {
                const char *id = gm_key_id_hex(admins->keys[k]);
                if (pass == 0 ? (!id[0] || strcmp(id, s->key_id) != 0) : id[0] != '\0')
                    continue;
                named_match |= pass == 0;
                if (gm_key_verify(admins->keys[k], msg, mlen, s->sig) == 0) {
                    found = k;
                    break;
                }
            }
        if (found == SIZE_MAX)
            return gm_errf(err, errlen,
                           named_match ? "%s: the signature by key id %s does not verify: the "
                                         "proposal was changed after signing, or the file was "
                                         "damaged"
                                       : "%s: key id %s is not a listed admin (PolicyAdmins): "
                                         "only the listed admins' signatures count",
                           sn, s->key_id);
        /* The same admin, also when PolicyAdmins lists one key twice (as a
         * .vkey and a PEM file, say): an earlier signer's key verifies it. */
        for (size_t j = 0; j < i; j++)
            if (used[j] == found || gm_key_verify(admins->keys[used[j]], msg, mlen, s->sig) == 0)
                return gm_errf(err, errlen,
                               "%s: signed by the same admin as %s: the same admin counts once", sn,
                               sig_name(&sigs[j], j, nb2, sizeof nb2));
        used[i] = found;
        if (signers)
            signers[i] = found;
    }
    if (nsigs < admins->threshold)
        return gm_errf(err, errlen,
                       "%zu valid admin signature%s, and %zu are required (PolicyThreshold): get "
                       "%zu more",
                       nsigs, nsigs == 1 ? "" : "s", admins->threshold, admins->threshold - nsigs);
    return 0;
}

/* ------------------------------------------------------------ records */

int gm_governance_is_record(const void *data, size_t len)
{
    return len >= sizeof RECORD_PREFIX - 1 &&
           memcmp(data, RECORD_PREFIX, sizeof RECORD_PREFIX - 1) == 0;
}

void gm_governance_record_destroy(gm_governance_record *r)
{
    if (!r)
        return;
    gm_governance_proposal_destroy(r->proposal);
    free(r->bytes);
    free(r);
}

gm_governance_record *gm_governance_record_parse(const char *buf, size_t len, char *err,
                                                 size_t errlen)
{
    char msg[700];
    gm_governance_record *r = calloc(1, sizeof *r);
    gm_governance_proposal *p = calloc(1, sizeof *p);
    if (!r || !p) {
        free(r);
        free(p);
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    r->proposal = p;
    struct gm_json_in in = { buf, len, 0, true, msg, sizeof msg };
    if (!gm_governance_is_record(buf, len)) {
        gm_errf(msg, sizeof msg, "not a policy record: it starts with %s", RECORD_PREFIX);
        goto fail;
    }
    in.pos = sizeof RECORD_PREFIX - 1;
    if (gm_json_in_int(&in, &r->applied, "field \"applied\""))
        goto fail;
    if (r->applied < 0 || r->applied > TIME_MAX) {
        gm_errf(msg, sizeof msg, "field \"applied\": out of range");
        goto fail;
    }
    if (gm_json_in_literal(&in, ",\"policy\":", "field \"policy\""))
        goto fail;
    size_t pstart = in.pos;
    if (parse_proposal_at(&in, p, "field \"policy\"") != 0)
        goto fail;
    if (set_bytes(p, buf + pstart, in.pos - pstart, msg, sizeof msg) != 0)
        goto fail;
    if (gm_json_in_literal(&in, ",\"signatures\":[", "field \"signatures\" (an array)"))
        goto fail;
    for (;;) {
        if (r->nsigs == GM_POLICY_SIGNATURES_MAX) {
            gm_errf(msg, sizeof msg, "more than %d signatures", GM_POLICY_SIGNATURES_MAX);
            goto fail;
        }
        struct gm_governance_signature *s = &r->sigs[r->nsigs];
        if (gm_json_in_expect(&in, '{', "a signature") || parse_key_id_sig(&in, s) ||
            parse_sig_value(&in, s) || gm_json_in_expect(&in, '}', "a signature"))
            goto fail;
        memcpy(s->policy, p->hash, sizeof s->policy);
        if (r->nsigs > 0 && strcmp(r->sigs[r->nsigs - 1].key_id, s->key_id) >= 0) {
            gm_errf(msg, sizeof msg,
                    "signature by key id %s is out of order or repeated (sorted by key id, each "
                    "once)",
                    s->key_id);
            goto fail;
        }
        r->nsigs++;
        if (in.pos < len && buf[in.pos] == ',') {
            in.pos++;
            continue;
        }
        break;
    }
    if (gm_json_in_expect(&in, ']', "field \"signatures\"") ||
        gm_json_in_expect(&in, '}', "policy record"))
        goto fail;
    if (in.pos != len) {
        gm_errf(msg, sizeof msg, "unexpected data after the record at byte %zu", in.pos);
        goto fail;
    }
    if (!(r->bytes = malloc(len + 1))) {
        gm_errf(msg, sizeof msg, "out of memory");
        goto fail;
    }
    memcpy(r->bytes, buf, len);
    r->bytes[len] = '\0';
    r->len = len;
    return r;
fail:
    gm_errf(err, errlen, "policy record: %s", msg);
    gm_governance_record_destroy(r);
    return NULL;
}

const gm_governance_proposal *gm_governance_record_proposal(const gm_governance_record *r)
{
    return r->proposal;
}
int64_t gm_governance_record_applied(const gm_governance_record *r)
{
    return r->applied;
}
size_t gm_governance_record_signature_count(const gm_governance_record *r)
{
    return r->nsigs;
}
const struct gm_governance_signature *gm_governance_record_signature(const gm_governance_record *r,
                                                                     size_t i)
{
    return i < r->nsigs ? &r->sigs[i] : NULL;
}
const char *gm_governance_record_bytes(const gm_governance_record *r, size_t *len)
{
    if (len)
        *len = r->len;
    return r->bytes;
}

int gm_governance_record_check(const gm_governance_record *r,
                               const struct gm_governance_admins *admins, size_t *signers,
                               char *err, size_t errlen)
{
    if (r->applied > r->proposal->expires)
        return gm_errf(err, errlen, "applied at %lld, after the proposal expired at %lld",
                       (long long)r->applied, (long long)r->proposal->expires);
    return check_signatures(r->proposal, r->sigs, r->nsigs, admins, signers, err, errlen);
}

static int compare_key_ids(const void *a, const void *b)
{
    return strcmp(((const struct gm_governance_signature *)a)->key_id,
                  ((const struct gm_governance_signature *)b)->key_id);
}

static char *encode_record(const gm_governance_proposal *p,
                           const struct gm_governance_signature *sigs, size_t nsigs,
                           int64_t applied, size_t *len)
{
    struct gm_governance_signature sorted[GM_POLICY_SIGNATURES_MAX];
    memcpy(sorted, sigs, nsigs * sizeof *sigs);
    qsort(sorted, nsigs, sizeof *sorted, compare_key_ids);
    struct gm_json_out b = { 0 };
    gm_json_out_add(&b, RECORD_PREFIX, sizeof RECORD_PREFIX - 1);
    gm_json_out_int(&b, applied);
    gm_json_out_add(&b, ",\"policy\":", 10);
    gm_json_out_add(&b, p->bytes, p->len);
    gm_json_out_add(&b, ",\"signatures\":[", 15);
    for (size_t i = 0; i < nsigs; i++) {
        char b64[SIG_B64_LEN + 1];
        gm_settle_base64_encode(sorted[i].sig, GM_SIGNATURE_LEN, b64);
        gm_json_out_add(&b, i ? ",{\"key_id\":" : "{\"key_id\":", i ? 11 : 10);
        gm_json_out_string(&b, sorted[i].key_id);
        gm_json_out_add(&b, ",\"sig\":", 7);
        gm_json_out_string(&b, b64);
        gm_json_out_add(&b, "}", 1);
    }
    gm_json_out_add(&b, "]}", 2);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ------------------------------------------------------------ the ledger's policies */

int gm_settle_ledger_scan_policies(gm_ledger *l, char *err, size_t errlen)
{
    uint64_t size = gm_merkle_size(l->tree);
    static const char prefix[] = RECORD_PREFIX;
    for (uint64_t i = l->policies_scanned; i < size; i++) {
        char head[sizeof prefix - 1];
        if (pread(l->fd, head, sizeof head, (off_t)(l->offsets[i] + GM_SETTLE_REC_HDR)) !=
            (ssize_t)sizeof head)
            return gm_errf(err, errlen, "%s: cannot read record %llu", l->path,
                           (unsigned long long)i);
        if (!gm_governance_is_record(head, sizeof head))
            continue;
        char msg[800];
        size_t dlen;
        char *data = gm_ledger_read(l, i, &dlen, msg, sizeof msg);
        if (!data)
            return gm_errf(err, errlen, "%s", msg);
        gm_governance_record *r = gm_governance_record_parse(data, dlen, msg, sizeof msg);
        free(data);
        if (!r)
            return gm_errf(err, errlen, "%s: record %llu: %s; run gpumarket ledger verify", l->path,
                           (unsigned long long)i, msg);
        if (l->policy_admins.nkeys > 0 &&
            gm_governance_record_check(r, &l->policy_admins, NULL, msg, sizeof msg) != 0) {
            gm_errf(err, errlen,
                    "%s: record %llu: policy record: %s.  Nothing is appended to a ledger whose "
                    "policy is not signed by the admins of PolicyAdmins; run gpumarket ledger "
                    "verify",
                    l->path, (unsigned long long)i, msg);
            gm_governance_record_destroy(r);
            return -1;
        }
        const char *want = l->npolicies ? l->policies[l->npolicies - 1].hash : ZERO_HASH;
        if (strcmp(r->proposal->parent, want) != 0) {
            gm_errf(err, errlen,
                    "%s: record %llu: the policy's parent %.16s... is not the policy before it "
                    "(%.16s...); run gpumarket ledger verify",
                    l->path, (unsigned long long)i, r->proposal->parent, want);
            gm_governance_record_destroy(r);
            return -1;
        }
        if (l->npolicies == l->policies_cap) {
            size_t cap = l->policies_cap ? l->policies_cap * 2 : 8;
            struct gm_settle_policy_mark *m = realloc(l->policies, cap * sizeof *m);
            if (!m) {
                gm_governance_record_destroy(r);
                return gm_errf(err, errlen, "out of memory");
            }
            l->policies = m;
            l->policies_cap = cap;
        }
        struct gm_settle_policy_mark *m = &l->policies[l->npolicies++];
        m->index = i;
        m->applied = r->applied;
        memcpy(m->hash, r->proposal->hash, sizeof m->hash);
        gm_governance_record_destroy(r);
        l->policies_scanned = i + 1;
    }
    l->policies_scanned = size;
    return 0;
}

int gm_ledger_trust_policy_admins(gm_ledger *l, const struct gm_governance_admins *admins,
                                  char *err, size_t errlen)
{
    if (admins && (admins->nkeys > GM_POLICY_SIGNATURES_MAX || admins->threshold == 0 ||
                   admins->threshold > admins->nkeys))
        return gm_errf(err, errlen,
                       "policy admins: 1 to %d keys and a threshold from 1 to their "
                       "number",
                       GM_POLICY_SIGNATURES_MAX);
    memset(&l->policy_admins, 0, sizeof l->policy_admins);
    if (admins) {
        memcpy(l->policy_admin_keys, admins->keys, admins->nkeys * sizeof admins->keys[0]);
        l->policy_admins.keys = l->policy_admin_keys;
        l->policy_admins.nkeys = admins->nkeys;
        l->policy_admins.threshold = admins->threshold;
    }
    /* Look at every policy record again, under the new rule. */
    l->npolicies = 0;
    l->policies_scanned = 0;
    return 0;
}

void gm_settle_stamp_policy(const gm_ledger *l, struct gm_receipt *r)
{
    r->has_policy = 0;
    r->policy[0] = '\0';
    for (size_t i = l->npolicies; i-- > 0;)
        if (l->policies[i].applied <= r->start) {
            r->has_policy = 1;
            memcpy(r->policy, l->policies[i].hash, sizeof r->policy);
            return;
        }
}

int gm_ledger_policy_indices(gm_ledger *l, uint64_t **indices, size_t *n, char *err, size_t errlen)
{
    *indices = NULL;
    *n = 0;
    if (gm_settle_ledger_scan_policies(l, err, errlen) != 0)
        return -1;
    if (l->npolicies == 0)
        return 0;
    uint64_t *v = malloc(l->npolicies * sizeof *v);
    if (!v)
        return gm_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < l->npolicies; i++)
        v[i] = l->policies[i].index;
    *indices = v;
    *n = l->npolicies;
    return 0;
}

static int read_record(gm_ledger *l, uint64_t index, gm_governance_record **record, char *err,
                       size_t errlen)
{
    char msg[800];
    size_t dlen;
    char *data = gm_ledger_read(l, index, &dlen, msg, sizeof msg);
    if (!data)
        return gm_errf(err, errlen, "%s", msg);
    *record = gm_governance_record_parse(data, dlen, msg, sizeof msg);
    free(data);
    if (!*record)
        return gm_errf(err, errlen, "%s: record %llu: %s", l->path, (unsigned long long)index, msg);
    return 0;
}

int gm_ledger_policy_last(gm_ledger *l, uint64_t *index, char *err, size_t errlen)
{
    if (gm_settle_ledger_scan_policies(l, err, errlen) != 0)
        return -1;
    if (l->npolicies == 0)
        return 0;
    *index = l->policies[l->npolicies - 1].index;
    return 1;
}

int gm_ledger_policy_in_force(gm_ledger *l, gm_governance_record **record, uint64_t *index,
                              char *err, size_t errlen)
{
    uint64_t i;
    *record = NULL;
    int r = gm_ledger_policy_last(l, &i, err, errlen);
    if (r <= 0)
        return r;
    if (read_record(l, i, record, err, errlen) != 0)
        return -1;
    if (index)
        *index = i;
    return 1;
}

int gm_ledger_apply_policy(gm_ledger *l, const gm_governance_proposal *p,
                           const struct gm_governance_signature *sigs, size_t nsigs,
                           const struct gm_governance_admins *admins, int64_t now, uint64_t *index,
                           char *err, size_t errlen)
{
    char msg[900];
    if (!l->writable)
        return gm_errf(err, errlen, "%s: ledger opened read-only", l->path);
    /* Everything that does not depend on the ledger first. */
    if (now > p->expires)
        return gm_errf(err, errlen,
                       "the proposal expired at %lld (now %lld): propose it again with a later "
                       "--expires and have it signed again",
                       (long long)p->expires, (long long)now);
    if (check_signatures(p, sigs, nsigs, admins, NULL, err, errlen) != 0)
        return -1;
    size_t len;
    char *data = encode_record(p, sigs, nsigs, now, &len);
    if (!data)
        return gm_errf(err, errlen, "out of memory");
    if (len > GM_LEDGER_RECORD_MAX) {
        free(data);
        return gm_errf(err, errlen, "the policy record would be %zu bytes: the most is %d", len,
                       GM_LEDGER_RECORD_MAX);
    }
    /* The parent is checked against the ledger under its exclusive lock, so
     * two admins applying at once cannot both build on the same policy. */
    if (gm_settle_ledger_lock(l->fd, LOCK_EX, l->path, err, errlen) != 0) {
        free(data);
        return -1;
    }
    int rc = -1;
    if (gm_settle_ledger_catch_up(l, true, true, msg, sizeof msg) != 0 ||
        gm_settle_ledger_scan_policies(l, msg, sizeof msg) != 0) {
        gm_errf(err, errlen, "%s", msg);
        goto out;
    }
    const struct gm_settle_policy_mark *cur = l->npolicies ? &l->policies[l->npolicies - 1] : NULL;
    const char *want = cur ? cur->hash : ZERO_HASH;
    if (strcmp(p->parent, want) != 0) {
        if (cur)
            gm_errf(err, errlen,
                    "stale parent: the proposal replaces policy %.16s..., but the policy in force "
                    "is %.16s... (record %llu): another change was applied since; propose "
                    "again from the policy in force",
                    p->parent, want, (unsigned long long)cur->index);
        else
            gm_errf(err, errlen,
                    "the proposal replaces policy %.16s..., but the ledger has no policy yet: the "
                    "first proposal's parent is 64 zeros",
                    p->parent);
        goto out;
    }
    if (cur && now < cur->applied) {
        gm_errf(err, errlen,
                "the clock (%lld) is before the policy in force was applied (%lld): fix the "
                "clock",
                (long long)now, (long long)cur->applied);
        goto out;
    }
    uint8_t leaf[GM_HASH_LEN];
    gm_merkle_leaf_hash(data, len, leaf);
    if (gm_settle_ledger_write_locked(l, data, len, leaf, err, errlen) != 0)
        goto out;
    if (index)
        *index = gm_merkle_size(l->tree) - 1;
    rc = 0;
out:
    flock(l->fd, LOCK_UN);
    free(data);
    return rc;
}
