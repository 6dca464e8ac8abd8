/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Receipts: the canonical encoding (known answer), round trips, and one row
 * per kind of bad input the strict decoder must refuse, naming the field. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gm_receipt sample(void)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    strcpy(r.cluster, "alpha");
    r.sequence = 7;
    r.job_id = 4242;
    r.segment = 1;
    strcpy(r.user, "ada");
    strcpy(r.account, "physics");
    strcpy(r.nodes, "gpu[01-02]");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = 4;
    r.start = 1700000000;
    r.end = 1700003600;
    r.gpu_seconds = 14400;
    r.price_micro_per_gpu_hour = 2400000;
    r.amount_micro = 9600000;
    r.end_reason = GM_END_PREEMPTED;
    strcpy(r.key_id, "0a1b2c3d");
    return r;
}

/* The canonical form, written out by hand from RFC 8785's rules. */
static const char canonical[] =
    "{\"account\":\"physics\",\"amount_micro\":9600000,\"cluster\":\"alpha\","
    "\"end\":1700003600,\"end_reason\":\"preempted\",\"gpu_count\":4,"
    "\"gpu_seconds\":14400,\"gpu_type\":\"h100\",\"job_id\":4242,\"key_id\":\"0a1b2c3d\","
    "\"nodes\":\"gpu[01-02]\",\"price_micro_per_gpu_hour\":2400000,\"segment\":1,"
    "\"sequence\":7,\"start\":1700000000,\"user\":\"ada\",\"version\":1}";

/* canonical with the first `from` replaced by `to` (must occur). */
static char *mutate(const char *from, const char *to)
{
    const char *at = strstr(canonical, from);
    if (!at)
        bail_out("test bug: \"%s\" not in the canonical sample", from);
    size_t n = strlen(canonical) - strlen(from) + strlen(to) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%.*s%s%s", (int)(at - canonical), canonical, to, at + strlen(from));
    return s;
}

struct bad {
    const char *from, *to; /* mutation of the canonical sample */
    const char *want;      /* substring the error must contain */
};

static const struct bad bad_rows[] = {
    /* duplicate keys */
    { "\"user\":\"ada\"", "\"user\":\"ada\",\"user\":\"bob\"", "duplicate field \"user\"" },
    /* wrong types */
    { "\"gpu_count\":4", "\"gpu_count\":\"4\"", "field \"gpu_count\": must be an integer" },
    { "\"user\":\"ada\"", "\"user\":42", "field \"user\": must be a string" },
    { "\"job_id\":4242", "\"job_id\":true", "field \"job_id\": must be an integer" },
    { "\"nodes\":\"gpu[01-02]\"", "\"nodes\":[\"gpu01\"]", "field \"nodes\": must be a string" },
    { "\"segment\":1", "\"segment\":null", "field \"segment\": must be an integer" },
    /* out of range */
    { "\"version\":1", "\"version\":2", "field \"version\": 2 is out of range" },
    { "\"gpu_count\":4", "\"gpu_count\":0", "field \"gpu_count\": 0 is out of range" },
    { "\"job_id\":4242", "\"job_id\":0", "field \"job_id\": 0 is out of range" },
    { "\"price_micro_per_gpu_hour\":2400000", "\"price_micro_per_gpu_hour\":-1",
      "field \"price_micro_per_gpu_hour\": -1 is out of range" },
    { "\"sequence\":7", "\"sequence\":9007199254740992",
      "field \"sequence\": number out of range" },
    { "\"sequence\":7", "\"sequence\":123456789012345678901",
      "field \"sequence\": number out of range" },
    { "\"start\":1700000000", "\"start\":1700003601", "field \"end\": 1700003600 is before start" },
    { "\"gpu_seconds\":14400", "\"gpu_seconds\":14401", "field \"gpu_seconds\"" },
    { "\"amount_micro\":9600000", "\"amount_micro\":9600001", "field \"amount_micro\"" },
    { "\"end_reason\":\"preempted\"", "\"end_reason\":\"exploded\"", "field \"end_reason\"" },
    { "\"key_id\":\"0a1b2c3d\"", "\"key_id\":\"0A1B2C3D\"", "field \"key_id\"" },
    { "\"key_id\":\"0a1b2c3d\"", "\"key_id\":\"0a1b2c\"", "field \"key_id\"" },
    { "\"user\":\"ada\"", "\"user\":\"\"", "field \"user\": must not be empty" },
    { "\"cluster\":\"alpha\"",
      "\"cluster\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
      "field \"cluster\": longer than 64" },
    /* non-canonical: key order, whitespace, number forms, escapes */
    { "\"account\":\"physics\",\"amount_micro\":9600000",
      "\"amount_micro\":9600000,\"account\":\"physics\"", "field \"account\" out of order" },
    { "\"user\":\"ada\"", "\"user\": \"ada\"", "whitespace at byte" },
    { "{\"account\"", " {\"account\"", "whitespace at byte 0" },
    { "\"version\":1}", "\"version\":1}\n", "unexpected data after the object" },
    { "\"segment\":1", "\"segment\":01", "field \"segment\": leading zero" },
    { "\"segment\":1", "\"segment\":1.0",
      "field \"segment\": must be an integer written without fraction" },
    { "\"segment\":1", "\"segment\":1e0",
      "field \"segment\": must be an integer written without fraction" },
    { "\"segment\":1", "\"segment\":+1", "field \"segment\": must be an integer" },
    { "\"gpu_count\":4", "\"gpu_count\":-0", "\"-0\" is not canonical" },
    { "\"user\":\"ada\"", "\"user\":\"\\u0061da\"", "field \"user\": non-canonical escape \\u" },
    { "\"nodes\":\"gpu[01-02]\"", "\"nodes\":\"gpu\\/01\"",
      "field \"nodes\": non-canonical escape \\/" },
    { "\"user\":\"ada\"", "\"user\":\"a\\nda\"", "field \"user\": non-canonical escape \\n" },
    /* unknown fields, bad content, bad framing */
    { "\"user\":\"ada\"", "\"user\":\"ada\",\"vip\":1", "unknown field \"vip\"" },
    { "\"user\":\"ada\"", "\"user\":\"a\tda\"", "field \"user\": raw control character" },
    { "\"user\":\"ada\"",
      "\"user\":\"a\x7f"
      "da\"",
      "field \"user\": control character" },
    { "\"user\":\"ada\"", "\"user\":\"a\xc3\x28\"", "field \"user\": not valid UTF-8" },
    { "\"user\":\"ada\"", "\"user\":\"\xc0\xa1\"", "field \"user\": not valid UTF-8" },
    { "\"user\":\"ada\"", "\"user\":\"ada", "expected at byte" },
    { "\"version\":1}", "\"version\":1", "receipt: input ends" },
    { "\"version\":1}", "\"version\":1,}", "receipt key" },
};

/* A fresh Ed25519 key pair: its private key as PEM text (malloc'd) and
 * its public key, unnamed. */
static char *pem_pair(gm_key **pub, uint8_t raw[32])
{
    char err[256], *data;
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
    if (!p || !b1 || !b2 || PEM_write_bio_PrivateKey(b1, p, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(b2, p) != 1)
        bail_out("openssl keygen");
    size_t rawlen = 32;
    if (EVP_PKEY_get_raw_public_key(p, raw, &rawlen) != 1 || rawlen != 32)
        bail_out("raw public key");
    long n = BIO_get_mem_data(b1, &data);
    char *priv = strndup(data, (size_t)n);
    n = BIO_get_mem_data(b2, &data);
    *pub = gm_key_parse_public(data, (size_t)n, err, sizeof err);
    if (!priv || !*pub)
        bail_out("parse: %s", err);
    BIO_free(b1);
    BIO_free(b2);
    EVP_PKEY_free(p);
    return priv;
}

struct named_id {
    uint32_t id;
    uint32_t i;
};

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const struct named_id *)a)->id, y = ((const struct named_id *)b)->id;
    return (x > y) - (x < y);
}

/* The C2SP signed-note key id, computed here independently:
 * SHA-256(name || 0x0a || 0x01 || key)[0:4]. */
static uint32_t id_of(const uint8_t raw[32], const char *name)
{
    uint8_t in[128], h[32];
    size_t n = strlen(name);
    memcpy(in, name, n);
    in[n] = 0x0a;
    in[n + 1] = 0x01;
    memcpy(in + n + 2, raw, 32);
    EVP_Digest(in, n + 34, h, NULL, EVP_sha256(), NULL);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Two different keys sharing a 4-byte key id (a birthday search over
 * names: 2^17 names for one key, about four hits expected within 2^18
 * names of the other).  The receipt is signed by the second key; the first,
 * listed before it, must not end the search. */
static void check_key_id_collision(void)
{
    char err[512], name_a[64], name_b[64];
    gm_key *a, *b;
    uint8_t a_raw[32], b_raw[32];
    char *a_pem = pem_pair(&a, a_raw), *b_pem = pem_pair(&b, b_raw);
    enum { N = 1 << 17 };
    struct named_id *t = malloc(N * sizeof *t);
    if (!t)
        bail_out("out of memory");
    for (uint32_t i = 0; i < N; i++) {
        snprintf(name_a, sizeof name_a, "a.example/%u", i);
        t[i] = (struct named_id){ id_of(a_raw, name_a), i };
    }
    qsort(t, N, sizeof *t, by_id);
    long found_a = -1, found_b = -1;
    for (uint32_t i = 0; i < 32 * N && found_a < 0; i++) {
        snprintf(name_b, sizeof name_b, "b.example/%u", i);
        struct named_id want = { id_of(b_raw, name_b), 0 }, *hit;
        if ((hit = bsearch(&want, t, N, sizeof *t, by_id)) != NULL) {
            found_a = hit->i;
            found_b = i;
        }
    }
    free(t);
    if (!ok(found_a >= 0, "two keys sharing one key id found"))
        bail_out("no collision found");
    snprintf(name_a, sizeof name_a, "a.example/%ld", found_a);
    snprintf(name_b, sizeof name_b, "b.example/%ld", found_b);
    gm_key *signer = gm_key_parse_private(b_pem, strlen(b_pem), name_b, err, sizeof err);
    if (!signer || gm_key_set_name(a, name_a, err, sizeof err) ||
        gm_key_set_name(b, name_b, err, sizeof err))
        bail_out("%s", err);
    is_str(gm_key_id_hex(a), gm_key_id_hex(b), "%s and %s share key id %s", name_a, name_b,
           gm_key_id_hex(a));
    struct gm_receipt r = sample(), back;
    size_t slen;
    char *s = gm_receipt_sign(&r, signer, &slen, err, sizeof err);
    if (!s)
        bail_out("%s", err);
    gm_key *both[2] = { a, b };
    ok(gm_signed_receipt_verify(s, slen, both, 2, &back, err, sizeof err) == 0,
       "key id collision: the search goes on past the first key with that id (%s)", err);
    ok(gm_signed_receipt_verify(s, slen, both, 1, &back, err, sizeof err) == -1 &&
           strstr(err, "does not verify"),
       "the other key alone with that id is refused: %s", err);
    free(s);
    free(a_pem);
    free(b_pem);
    gm_key_free(a);
    gm_key_free(b);
    gm_key_free(signer);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[512];
    struct gm_receipt r = sample(), back;
    size_t len;
    char *enc = gm_receipt_encode(&r, &len, err, sizeof err);
    ok(enc != NULL, "sample receipt encodes (%s)", enc ? "ok" : err);
    is_str(enc, canonical, "encoding is the hand-written RFC 8785 form");
    is_int(len, strlen(canonical), "reported length");
    ok(gm_receipt_decode(canonical, strlen(canonical), &back, err, sizeof err) == 0,
       "canonical sample decodes (%s)", err);
    ok(memcmp(&r, &back, sizeof r) == 0, "decode(encode(r)) == r");
    free(enc);

    /* Optional fields and escapes. */
    r.has_array_task = 1;
    r.array_task = 3;
    r.has_energy = 1;
    r.energy_mj = 123456789;
    r.has_emissions = 1;
    r.emissions_mg = 4567;
    r.has_market_order = 1;
    strcpy(r.market_order, "ord-\"9\"\\x");
    strcpy(r.user, "z\xc3\xa9lie");
    enc = gm_receipt_encode(&r, &len, err, sizeof err);
    ok(enc && strstr(enc, "\"array_task\":3,\"cluster\"") &&
           strstr(enc, "\"emissions_mg\":4567,\"end\"") &&
           strstr(enc, "\"end_reason\":\"preempted\",\"energy_mj\":123456789,\"gpu_count\"") &&
           strstr(enc, "\"market_order\":\"ord-\\\"9\\\"\\\\x\",\"nodes\"") &&
           strstr(enc, "\"user\":\"z\xc3\xa9lie\""),
       "optional fields in key order, only '\"' and '\\' escaped, UTF-8 literal");
    ok(enc && gm_receipt_decode(enc, len, &back, err, sizeof err) == 0 &&
           memcmp(&r, &back, sizeof r) == 0,
       "full receipt round-trips (%s)", err);
    free(enc);

    /* A receipt with every field that existed before recovered and
     * energy_source: its bytes, as the encoder wrote them before those fields
     * were added, must not change (old signatures and leaf hashes stay valid). */
    static const char old_full[] =
        "{\"account\":\"physics\",\"amount_micro\":9600000,\"array_task\":3,\"cluster\":\"alpha\","
        "\"emissions_mg\":4567,\"end\":1700003600,\"end_reason\":\"preempted\","
        "\"energy_mj\":123456789,\"gpu_count\":4,\"gpu_seconds\":14400,\"gpu_type\":\"h100\","
        "\"job_id\":4242,\"key_id\":\"0a1b2c3d\",\"market_order\":\"ord-\\\"9\\\"\\\\x\","
        "\"nodes\":\"gpu[01-02]\",\"price_micro_per_gpu_hour\":2400000,\"segment\":1,"
        "\"sequence\":7,\"start\":1700000000,\"user\":\"ada\",\"version\":1}";
    strcpy(r.user, "ada");
    enc = gm_receipt_encode(&r, &len, err, sizeof err);
    is_str(enc, old_full, "an old receipt (energy_mj without energy_source) keeps its exact bytes");
    ok(gm_receipt_decode(old_full, strlen(old_full), &back, err, sizeof err) == 0 &&
           !back.has_recovered && !back.has_energy_source,
       "old bytes decode, without the new fields (%s)", err);
    free(enc);

    /* The new end reasons, numbered after the old ones. */
    is_int(GM_END_REQUEUED, 6, "GM_END_REQUEUED is 6");
    is_int(GM_END_LOST, 7, "GM_END_LOST is 7");
    is_str(gm_receipt_end_reason_name(GM_END_REQUEUED), "requeued", "name of GM_END_REQUEUED");
    is_str(gm_receipt_end_reason_name(GM_END_LOST), "lost", "name of GM_END_LOST");
    ok(gm_receipt_end_reason_name((enum gm_end_reason)8) == NULL, "no end reason 8");
    static const struct {
        enum gm_end_reason reason;
        const char *json;
    } reasons[] = { { GM_END_REQUEUED, "\"end_reason\":\"requeued\"" },
                    { GM_END_LOST, "\"end_reason\":\"lost\"" } };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        r = sample();
        r.end_reason = reasons[i].reason;
        enc = gm_receipt_encode(&r, &len, err, sizeof err);
        ok(enc && strstr(enc, reasons[i].json) &&
               gm_receipt_decode(enc, len, &back, err, sizeof err) == 0 &&
               back.end_reason == reasons[i].reason,
           "end reason %s encodes and decodes (%s)", reasons[i].json, enc ? "" : err);
        free(enc);
    }

    /* recovered and energy_source: every value, in its sorted place. */
    static const struct {
        const char *recovered, *energy_source, *want;
    } newer[] = {
        { "job_record", NULL,
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":\"job_record\",\"segment\":1" },
        { "last_seen", NULL,
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":\"last_seen\",\"segment\":1" },
        { NULL, "metered", "\"energy_mj\":5000,\"energy_source\":\"metered\",\"gpu_count\":4" },
        { NULL, "estimated", "\"energy_mj\":5000,\"energy_source\":\"estimated\",\"gpu_count\":4" },
    };
    for (size_t i = 0; i < sizeof newer / sizeof newer[0]; i++) {
        r = sample();
        r.end_reason = GM_END_LOST;
        if (newer[i].recovered) {
            r.has_recovered = 1;
            strcpy(r.recovered, newer[i].recovered);
        }
        if (newer[i].energy_source) {
            r.has_energy = 1;
            r.energy_mj = 5000;
            r.has_energy_source = 1;
            strcpy(r.energy_source, newer[i].energy_source);
        }
        enc = gm_receipt_encode(&r, &len, err, sizeof err);
        ok(enc && strstr(enc, newer[i].want), "%s in key order: %s", newer[i].want,
           enc ? enc : err);
        ok(enc && gm_receipt_decode(enc, len, &back, err, sizeof err) == 0 &&
               memcmp(&r, &back, sizeof r) == 0,
           "%s round-trips (%s)", newer[i].recovered ? newer[i].recovered : newer[i].energy_source,
           enc ? err : "");
        free(enc);
    }
    /* Both at once, with every optional field: still sorted, still strict. */
    r = sample();
    r.has_array_task = 1;
    r.array_task = 3;
    r.has_energy = 1;
    r.energy_mj = 123456789;
    r.has_energy_source = 1;
    strcpy(r.energy_source, "estimated");
    r.has_emissions = 1;
    r.emissions_mg = 4567;
    r.has_market_order = 1;
    strcpy(r.market_order, "o-1");
    r.has_recovered = 1;
    strcpy(r.recovered, "job_record");
    enc = gm_receipt_encode(&r, &len, err, sizeof err);
    ok(enc && gm_receipt_decode(enc, len, &back, err, sizeof err) == 0 &&
           memcmp(&r, &back, sizeof r) == 0,
       "every optional field at once round-trips through the strict decoder (%s)", enc ? err : "");
    free(enc);

    /* Bad values of the new fields, refused by the checker and the decoder. */
    r = sample();
    r.has_recovered = 1;
    strcpy(r.recovered, "observed");
    ok(gm_receipt_check(&r, err, sizeof err) == -1 && strstr(err, "field \"recovered\"") &&
           strstr(err, "\"job_record\" or \"last_seen\""),
       "check refuses recovered \"observed\": %s", err);
    r = sample();
    r.has_recovered = 1;
    ok(gm_receipt_check(&r, err, sizeof err) == -1 && strstr(err, "field \"recovered\""),
       "check refuses an empty recovered: %s", err);
    r = sample();
    r.has_energy = 1;
    r.energy_mj = 1;
    r.has_energy_source = 1;
    strcpy(r.energy_source, "Metered");
    ok(gm_receipt_check(&r, err, sizeof err) == -1 && strstr(err, "field \"energy_source\"") &&
           strstr(err, "\"metered\" or \"estimated\""),
       "check refuses energy_source \"Metered\": %s", err);
    r = sample();
    r.has_energy_source = 1;
    strcpy(r.energy_source, "metered");
    ok(gm_receipt_check(&r, err, sizeof err) == -1 && strstr(err, "field \"energy_source\"") &&
           strstr(err, "field \"energy_mj\""),
       "check refuses energy_source without energy_mj, naming both: %s", err);
    ok(gm_receipt_encode(&r, &len, err, sizeof err) == NULL && strstr(err, "energy_mj"),
       "so does the encoder: %s", err);
    static const struct bad bad_new[] = {
        { "\"price_micro_per_gpu_hour\":2400000",
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":\"restart\"",
          "field \"recovered\": \"restart\" is not one of" },
        { "\"price_micro_per_gpu_hour\":2400000",
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":\"\"",
          "field \"recovered\": \"\" is not one of" },
        { "\"price_micro_per_gpu_hour\":2400000",
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":\"job_record_from_the_controller\"",
          "field \"recovered\": \"job_record_from_the_controller\" is not one of" },
        { "\"price_micro_per_gpu_hour\":2400000",
          "\"price_micro_per_gpu_hour\":2400000,\"recovered\":1",
          "field \"recovered\": must be a string" },
        { "\"segment\":1", "\"segment\":1,\"recovered\":\"last_seen\"",
          "field \"recovered\" out of order" },
        { "\"end_reason\":\"preempted\"",
          "\"end_reason\":\"preempted\",\"energy_mj\":5,\"energy_source\":\"guessed\"",
          "field \"energy_source\": \"guessed\" is not one of" },
        { "\"end_reason\":\"preempted\"",
          "\"end_reason\":\"preempted\",\"energy_source\":\"metered\"",
          "given without field \"energy_mj\"" },
        { "\"end_reason\":\"preempted\"",
          "\"end_reason\":\"preempted\",\"energy_source\":\"metered\",\"energy_mj\":5",
          "out of order" },
        { "\"end_reason\":\"preempted\"", "\"end_reason\":\"requeue\"",
          "\"requeued\" or \"lost\"" },
    };
    for (size_t i = 0; i < sizeof bad_new / sizeof bad_new[0]; i++) {
        char *in = mutate(bad_new[i].from, bad_new[i].to);
        err[0] = '\0';
        int rc = gm_receipt_decode(in, strlen(in), &back, err, sizeof err);
        ok(rc == -1 && strstr(err, bad_new[i].want) != NULL, "new-field row %zu refused (%s): %s",
           i, bad_new[i].want, err);
        free(in);
    }

    /* Encoder refuses bad structs. */
    r = sample();
    r.gpu_seconds = 1;
    ok(gm_receipt_encode(&r, &len, err, sizeof err) == NULL && strstr(err, "gpu_seconds"),
       "encoder refuses inconsistent gpu_seconds: %s", err);
    r = sample();
    r.end_reason = (enum gm_end_reason)99;
    ok(gm_receipt_encode(&r, &len, err, sizeof err) == NULL && strstr(err, "end_reason"),
       "encoder refuses a bad end reason: %s", err);

    /* Every bad row. */
    for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
        char *in = mutate(bad_rows[i].from, bad_rows[i].to);
        err[0] = '\0';
        int rc = gm_receipt_decode(in, strlen(in), &back, err, sizeof err);
        ok(rc == -1 && strstr(err, bad_rows[i].want) != NULL,
           "bad row %zu refused, naming it (%s): %s", i, bad_rows[i].want, err);
        free(in);
    }

    /* Every required field, removed, is named as missing. */
    static const char *const required[] = {
        "account",    "amount_micro", "cluster",     "end",
        "end_reason", "gpu_count",    "gpu_seconds", "gpu_type",
        "job_id",     "key_id",       "nodes",       "price_micro_per_gpu_hour",
        "segment",    "sequence",     "start",       "user",
        "version",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char key[64], want[96];
        snprintf(key, sizeof key, "\"%s\":", required[i]);
        const char *at = strstr(canonical, key);
        const char *end = at + strlen(key);
        if (*end == '"') {
            end = strchr(end + 1, '"') + 1;
        } else {
            while (*end == '-' || (*end >= '0' && *end <= '9'))
                end++;
        }
        /* Remove the member and one adjacent comma. */
        char in[1024];
        if (*end == ',')
            snprintf(in, sizeof in, "%.*s%s", (int)(at - canonical), canonical, end + 1);
        else
            snprintf(in, sizeof in, "%.*s%s", (int)(at - canonical - 1), canonical, end);
        snprintf(want, sizeof want, "missing field \"%s\"", required[i]);
        err[0] = '\0';
        ok(gm_receipt_decode(in, strlen(in), &back, err, sizeof err) == -1 && strstr(err, want),
           "missing %s refused: %s", required[i], err);
    }

    /* Truncated input never decodes, at every length. */
    int truncated_ok = 1;
    for (size_t n = 0; n < strlen(canonical); n++)
        if (gm_receipt_decode(canonical, n, &back, err, sizeof err) == 0)
            truncated_ok = 0;
    ok(truncated_ok, "every proper prefix of the canonical sample is refused");

    /* Backfill input: whitespace and order allowed, derived fields filled. */
    const char *input =
        "{ \"version\": 1, \"cluster\": \"alpha\", \"job_id\": 4242, \"segment\": 1,\n"
        "  \"user\": \"\\u0061da\", \"account\": \"physics\", \"nodes\": \"gpu[01-02]\",\n"
        "  \"gpu_type\": \"h100\", \"gpu_count\": 4, \"start\": 1700000000, \"end\": 1700003600,\n"
        "  \"price_micro_per_gpu_hour\": 2400000, \"end_reason\": \"preempted\" }";
    ok(gm_receipt_parse_input(input, strlen(input), &back, err, sizeof err) == 0,
       "backfill input parses (%s)", err);
    is_int(back.gpu_seconds, 14400, "gpu_seconds filled in");
    is_int(back.amount_micro, 9600000, "amount filled in (4 GPUs x 1 h x 2.4)");
    is_str(back.user, "ada", "\\u escape decoded in input mode");
    static const struct bad bad_input[] = {
        { "\"segment\": 1", "\"segment\": 1, \"segment\": 2", "duplicate field \"segment\"" },
        { "\"segment\": 1", "\"segment\": 1, \"sequence\": 5",
          "field \"sequence\": the ledger assigns it" },
        { "\"segment\": 1", "\"segment\": 1, \"key_id\": \"00000000\"",
          "field \"key_id\": the ledger assigns it" },
        { "\"gpu_count\": 4", "\"gpu_count\": 4.5", "field \"gpu_count\": must be an integer" },
        { "\"segment\": 1", "\"segment\": 1, \"amount_micro\": 5", "field \"amount_micro\"" },
        { "\"user\": \"\\u0061da\"", "\"user\": \"\\ud800\"", "surrogate" },
        { "\"cluster\": \"alpha\", ", "", "missing field \"cluster\"" },
    };
    for (size_t i = 0; i < sizeof bad_input / sizeof bad_input[0]; i++) {
        const char *at = strstr(input, bad_input[i].from);
        if (!at)
            bail_out("test bug: %s", bad_input[i].from);
        char in[2048];
        snprintf(in, sizeof in, "%.*s%s%s", (int)(at - input), input, bad_input[i].to,
                 at + strlen(bad_input[i].from));
        err[0] = '\0';
        ok(gm_receipt_parse_input(in, strlen(in), &back, err, sizeof err) == -1 &&
               strstr(err, bad_input[i].want),
           "input refused (%s): %s", bad_input[i].want, err);
    }

    /* Backfill input takes the new fields in any order, with the same rules. */
    {
        char in[2048];
        snprintf(in, sizeof in,
                 "{ \"recovered\": \"last_seen\", \"energy_source\": \"estimated\", "
                 "\"energy_mj\": 7, %s",
                 input + 1);
        ok(gm_receipt_parse_input(in, strlen(in), &back, err, sizeof err) == 0 &&
               back.has_recovered && !strcmp(back.recovered, "last_seen") &&
               back.has_energy_source && !strcmp(back.energy_source, "estimated"),
           "backfill input with recovered and energy_source parses (%s)", err);
        snprintf(in, sizeof in, "{ \"energy_source\": \"metered\", %s", input + 1);
        ok(gm_receipt_parse_input(in, strlen(in), &back, err, sizeof err) == -1 &&
               strstr(err, "field \"energy_source\"") && strstr(err, "field \"energy_mj\""),
           "backfill input: energy_source without energy_mj refused: %s", err);
        snprintf(in, sizeof in, "{ \"recovered\": \"yes\", %s", input + 1);
        ok(gm_receipt_parse_input(in, strlen(in), &back, err, sizeof err) == -1 &&
               strstr(err, "field \"recovered\""),
           "backfill input: a bad recovered refused: %s", err);
        snprintf(in, sizeof in, "%.*s\"lost\" }", (int)(strstr(input, "\"preempted\"") - input),
                 input);
        ok(gm_receipt_parse_input(in, strlen(in), &back, err, sizeof err) == 0 &&
               back.end_reason == GM_END_LOST,
           "backfill input: end_reason \"lost\" (%s)", err);
    }

    /* Amount rounding is down, exact in integers. */
    is_int(gm_receipt_amount(1, 3599), 0, "1 s at 3599 micro/h rounds down to 0");
    is_int(gm_receipt_amount(3600, 1), 1, "1 GPU-hour at 1 micro/h is 1");
    is_int(gm_receipt_amount(9007199254740991LL, 9007199254740991LL), -1,
           "overflowing amount refused");

    /* Signed receipts. */
    gm_key *key = gm_key_generate("test.example/ledger", err, sizeof err);
    ok(key != NULL, "key generated (%s)", err);
    r = sample();
    size_t slen;
    char *signed_r = gm_receipt_sign(&r, key, &slen, err, sizeof err);
    ok(signed_r != NULL, "receipt signed (%s)", err);
    is_str(r.key_id, gm_key_id_hex(key), "key id set from the key");
    ok(gm_signed_receipt_verify(signed_r, slen, &key, 1, &back, err, sizeof err) == 0,
       "signed receipt verifies (%s)", err);
    gm_key *other = gm_key_generate("test.example/ledger", err, sizeof err);
    ok(gm_signed_receipt_verify(signed_r, slen, &other, 1, &back, err, sizeof err) == -1 &&
           strstr(err, "no key given has that id"),
       "another key is refused: %s", err);
    /* Every single-byte change of the signed receipt is refused. */
    int all_caught = 1;
    for (size_t i = 0; i < slen; i++) {
        char save = signed_r[i];
        signed_r[i] ^= 0x01;
        if (gm_signed_receipt_verify(signed_r, slen, &key, 1, &back, err, sizeof err) == 0) {
            diag("flip at byte %zu not caught", i);
            all_caught = 0;
        }
        signed_r[i] = save;
    }
    ok(all_caught, "every one-bit flip of a signed receipt fails verification");
    free(signed_r);
    gm_key_free(key);
    gm_key_free(other);
    check_key_id_collision();
    done_testing();
    return exit_status();
}
