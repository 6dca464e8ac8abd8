/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Governance: a 2-of-3 policy change is applied; one signature, the same
 * admin twice, an unlisted signer, a stale parent, a value changed after
 * signing, an expired proposal and malformed files are refused with nothing
 * appended; receipts name the policy in force at their start, and verify
 * catches a receipt priced under the policy's reserve. */
#include "config.h"

#include "common/conf.h"
#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW     1800000000LL
#define EXPIRES (NOW + 86400)

static char tmpdir[] = "/tmp/gm-policy-test.XXXXXX";

static struct gm_receipt receipt(int64_t job, int64_t start, int64_t price)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = GM_RECEIPT_VERSION;
    strcpy(r.cluster, "gpu.example.org");
    r.job_id = job;
    strcpy(r.user, "alice");
    strcpy(r.account, "physics");
    strcpy(r.nodes, "gm1");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = 1;
    r.start = start;
    r.end = start + 3600;
    r.gpu_seconds = 3600;
    r.price_micro_per_gpu_hour = price;
    r.amount_micro = price;
    r.end_reason = GM_END_COMPLETED;
    return r;
}

static gm_key *keygen(const char *name)
{
    char err[512];
    gm_key *k = gm_key_generate(name, err, sizeof err);
    if (!k)
        bail_out("keygen %s: %s", name, err);
    return k;
}

static gm_governance_proposal *propose(const char *parent, int64_t expires, const char *price)
{
    const char *names[] = { "ReservePrice", "IdleDwellSeconds", "ReserveGPUsPerNode" };
    const char *values[] = { price, "5", "1" };
    char err[1024];
    gm_governance_proposal *p = gm_governance_proposal_create(
        parent, expires, "raise the h100 reserve", names, values, 3, err, sizeof err);
    if (!p)
        bail_out("propose: %s", err);
    return p;
}

static struct gm_governance_signature sign(const gm_governance_proposal *p, const gm_key *k)
{
    char err[512];
    size_t len;
    char *text = gm_governance_sign(p, k, &len, err, sizeof err);
    struct gm_governance_signature s;
    if (!text || gm_governance_signature_parse(text, len, NULL, &s, err, sizeof err) != 0)
        bail_out("sign: %s", err);
    free(text);
    return s;
}

/* Apply and expect a refusal whose message holds `want`, with nothing
 * appended. */
static void refused(gm_ledger *l, const gm_governance_proposal *p,
                    const struct gm_governance_signature *sigs, size_t n,
                    const struct gm_governance_admins *admins, int64_t now, const char *want,
                    const char *what)
{
    char err[1024] = "";
    uint64_t before = gm_ledger_size(l);
    int rc = gm_ledger_apply_policy(l, p, sigs, n, admins, now, NULL, err, sizeof err);
    ok(rc == -1 && strstr(err, want) && gm_ledger_size(l) == before, "%s: refused (%s)", what, err);
}

static void count_report(const char *key, void *arg)
{
    strcat((char *)arg, key);
    strcat((char *)arg, " ");
}

int main(void)
{
    plan(TAP_NO_PLAN);
    if (!mkdtemp(tmpdir))
        bail_out("mkdtemp");
    char err[1024], dir[600];
    snprintf(dir, sizeof dir, "%s/L", tmpdir);
    gm_key *cluster = keygen("test.example/ledger");
    gm_key *alice = keygen("admin/alice"), *bob = keygen("admin/bob"),
           *carol = keygen("admin/carol"), *dave = keygen("admin/dave");
    gm_key *admin_keys[] = { alice, bob, carol };
    struct gm_governance_admins admins = { admin_keys, 3, 2 };

    /* ------------------------------------------------ proposals */
    gm_governance_proposal *p1 = propose(NULL, EXPIRES, "h100:2.00,a100:1.00");
    size_t len;
    const char *bytes = gm_governance_proposal_bytes(p1, &len);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"expires\":%lld,\"parent\":\"%064d\",\"reason\":\"raise the h100 "
             "reserve\",\"values\":{\"IdleDwellSeconds\":\"5\",\"ReserveGPUsPerNode\":\"1\","
             "\"ReservePrice\":\"h100:2.00,a100:1.00\"},\"version\":1}",
             (long long)EXPIRES, 0);
    is_str(bytes, want, "a proposal is canonical JSON, keys sorted");
    uint8_t h[32];
    char hex[65];
    SHA256((const uint8_t *)bytes, len, h);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", h[i]);
    is_str(gm_governance_proposal_hash(p1), hex, "its hash is SHA-256 of those bytes");
    int64_t price = 0;
    ok(gm_conf_reserve_price(gm_governance_proposal_conf(p1), "h100", &price) == 0 &&
           price == 2000000,
       "its values went through the gpumarket.conf parser (h100 reserve 2000000)");
    gm_governance_proposal *again =
        gm_governance_proposal_parse(want, strlen(want), "p1.json", err, sizeof err);
    ok(again && !strcmp(gm_governance_proposal_hash(again), hex), "it parses back (%s)",
       again ? "" : err);
    gm_governance_proposal_destroy(again);

    /* Bad proposals: each named, none accepted. */
    static const struct {
        const char *from, *to, *what, *want;
    } bad[] = {
        { "\"IdleDwellSeconds\":\"5\"", "\"LedgerDir\":\"/tmp\"", "a non-market key",
          "not a market key" },
        { "h100:2.00,a100:1.00", "h100:two", "a value the config parser refuses", "ReservePrice" },
        { "\"5\"", "\"-5\"", "a negative dwell", "IdleDwellSeconds" },
        { ",\"ReservePrice\":\"h100:2.00,a100:1.00\"", "", "no ReservePrice",
          "ReservePrice is not set" },
        { "{\"expires\"", "{ \"expires\"", "whitespace", "whitespace" },
        { "\"version\":1", "\"version\":2", "another version", "version" },
        { "\"reason\":\"raise the h100 reserve\"", "\"reason\":\"\"", "an empty reason", "reason" },
        { "\"IdleDwellSeconds\":\"5\",\"ReserveGPUsPerNode\":\"1\"",
          "\"ReserveGPUsPerNode\":\"1\",\"IdleDwellSeconds\":\"5\"", "keys out of order",
          "out of order" },
        { "}", "},\"extra\":1}", "a field too many", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[2048];
        const char *at = strstr(want, bad[i].from);
        if (!at)
            bail_out("fixture %zu", i);
        if (!strcmp(bad[i].from, "}"))
            at = want + strlen(want) - 1;
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - want), want, bad[i].to,
                 at + strlen(bad[i].from));
        err[0] = '\0';
        gm_governance_proposal *p =
            gm_governance_proposal_parse(text, strlen(text), "bad.json", err, sizeof err);
        ok(!p && !strncmp(err, "bad.json", 8) && strstr(err, bad[i].want),
           "proposal with %s refused, naming the file: %s", bad[i].what, err);
        gm_governance_proposal_destroy(p);
    }
    int truncated_ok = 1;
    for (size_t n = 0; n + 1 < len; n++) {
        gm_governance_proposal *p = gm_governance_proposal_parse(want, n, "t", err, sizeof err);
        if (p) {
            truncated_ok = 0;
            gm_governance_proposal_destroy(p);
        }
    }
    ok(truncated_ok, "every truncation of a proposal is refused");

    /* ------------------------------------------------ signatures */
    struct gm_governance_signature sa = sign(p1, alice), sb = sign(p1, bob), sc = sign(p1, carol),
                                   sd = sign(p1, dave);
    ok(strcmp(sa.key_id, gm_key_id_hex(alice)) == 0 && !strcmp(sa.policy, hex),
       "a signature names its key id and the proposal's hash");
    {
        char *text = gm_governance_sign(p1, alice, &len, err, sizeof err);
        int all_refused = 1;
        struct gm_governance_signature s;
        for (size_t n = 0; n + 1 < len; n++)
            if (gm_governance_signature_parse(text, n, "a.sig", &s, err, sizeof err) == 0)
                all_refused = 0;
        ok(all_refused && !strncmp(err, "a.sig", 5),
           "every truncation of a signature file is refused, naming it (%s)", err);
        free(text);
    }

    /* ------------------------------------------------ applying */
    gm_ledger *l = gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/ledger",
                                  err, sizeof err);
    if (!l)
        bail_out("open: %s", err);
    struct gm_receipt before = receipt(1, NOW - 7200, 1000000);
    if (gm_ledger_append(l, cluster, &before, err, sizeof err) != 0)
        bail_out("append: %s", err);
    ok(!before.has_policy, "a receipt written before any policy names none");

    struct gm_governance_signature one[] = { sa };
    refused(l, p1, one, 1, &admins, NOW, "2 are required", "one signature of 2-of-3");
    struct gm_governance_signature twice[] = { sa, sa };
    refused(l, p1, twice, 2, &admins, NOW, "same admin", "the same admin twice");
    struct gm_governance_signature alias = sa;
    strcpy(alias.key_id, gm_key_id_hex(bob)); /* alice's signature under bob's id */
    struct gm_governance_signature renamed[] = { sa, alias };
    refused(l, p1, renamed, 2, &admins, NOW, "does not verify",
            "alice's signature relabelled as bob's");
    /* alice listed twice (named, and as a nameless copy of her public key):
     * her signature again under a made-up key id must not count twice. */
    {
        gm_key *alice_pub = NULL;
        char path[700];
        snprintf(path, sizeof path, "%s/alice", tmpdir);
        if (gm_key_write_files(alice, path, err, sizeof err) == 0) {
            snprintf(path, sizeof path, "%s/alice.pub", tmpdir);
            alice_pub = gm_key_load_public(path, err, sizeof err);
        }
        if (!alice_pub)
            bail_out("alice.pub: %s", err);
        gm_key *twice_listed[] = { alice, bob, alice_pub };
        struct gm_governance_admins dup_admins = { twice_listed, 3, 2 };
        struct gm_governance_signature forged = sa;
        strcpy(forged.key_id, "00000000");
        struct gm_governance_signature both[] = { sa, forged };
        refused(l, p1, both, 2, &dup_admins, NOW, "same admin",
                "one admin listed twice, signing twice under two key ids");
        gm_key_free(alice_pub);
    }
    struct gm_governance_signature outsider[] = { sa, sd };
    refused(l, p1, outsider, 2, &admins, NOW, "not a listed admin", "an unlisted signer");
    /* A value changed after signing: the signatures are for another hash,
     * and relabelling them with the new hash does not make them verify. */
    gm_governance_proposal *tampered = propose(NULL, EXPIRES, "h100:0.01,a100:1.00");
    struct gm_governance_signature ab[] = { sa, sb };
    refused(l, tampered, ab, 2, &admins, NOW, "not this proposal", "a value changed after signing");
    struct gm_governance_signature ab_relabelled[] = { sa, sb };
    strcpy(ab_relabelled[0].policy, gm_governance_proposal_hash(tampered));
    strcpy(ab_relabelled[1].policy, gm_governance_proposal_hash(tampered));
    refused(l, tampered, ab_relabelled, 2, &admins, NOW, "does not verify",
            "a value changed after signing, signature files edited to match");
    refused(l, p1, ab, 2, &admins, EXPIRES + 1, "expired", "an expired proposal");
    struct gm_governance_admins three = { admin_keys, 3, 3 };
    refused(l, p1, ab, 2, &three, NOW, "3 are required", "2 signatures under a 3-of-3 rule");
    gm_governance_record *in_force = NULL;
    uint64_t last = 99;
    ok(gm_ledger_policy_in_force(l, &in_force, NULL, err, sizeof err) == 0 && !in_force &&
           gm_ledger_policy_last(l, &last, err, sizeof err) == 0 && last == 99,
       "after every refusal there is still no policy in force");

    struct gm_governance_signature ac[] = { sc, sa };
    uint64_t index = 0;
    int rc = gm_ledger_apply_policy(l, p1, ac, 2, &admins, NOW, &index, err, sizeof err);
    ok(rc == 0 && index == 1 && gm_ledger_size(l) == 2,
       "2-of-3 (carol, alice) applied at leaf 1 (%s)", rc ? err : "");
    uint64_t at = 0;
    ok(gm_ledger_policy_in_force(l, &in_force, &at, err, sizeof err) == 1 && at == 1 &&
           !strcmp(gm_governance_proposal_hash(gm_governance_record_proposal(in_force)), hex) &&
           gm_governance_record_applied(in_force) == NOW &&
           gm_governance_record_signature_count(in_force) == 2,
       "it is the policy in force: its hash, applied time, two signatures");
    ok(gm_ledger_policy_last(l, &last, err, sizeof err) == 1 && last == 1,
       "its leaf index without reading it: %llu", (unsigned long long)last);
    size_t signers[2];
    ok(gm_governance_record_check(in_force, &admins, signers, err, sizeof err) == 0 &&
           signers[0] + signers[1] == 2 && signers[0] != signers[1],
       "its record checks against the admins, signed by alice and carol (%s)", err);
    refused(l, p1, ac, 2, &admins, NOW + 1, "stale parent", "applying the same proposal again");

    /* The next change builds on it; a change built on the old parent is stale. */
    gm_governance_proposal *p2 = propose(hex, EXPIRES, "h100:3.00");
    gm_governance_proposal *p2_stale = propose(hex, EXPIRES, "h100:2.50");
    struct gm_governance_signature b2[] = { sign(p2, bob), sign(p2, carol) };
    ok(gm_ledger_apply_policy(l, p2, b2, 2, &admins, NOW + 100, &index, err, sizeof err) == 0,
       "a second change, parent the first, applied (%s)", err);
    struct gm_governance_signature b3[] = { sign(p2_stale, bob), sign(p2_stale, carol) };
    refused(l, p2_stale, b3, 2, &admins, NOW + 200, "stale parent",
            "a change whose parent was replaced since");
    gm_governance_proposal *first_again = propose(NULL, EXPIRES, "h100:0.50");
    struct gm_governance_signature b4[] = { sign(first_again, bob), sign(first_again, carol) };
    refused(l, first_again, b4, 2, &admins, NOW + 200, "stale parent",
            "a \"first\" policy once there is one");

    /* ------------------------------------------------ receipts */
    struct gm_receipt r_old = receipt(2, NOW + 50, 2000000);  /* started under p1 */
    struct gm_receipt r_new = receipt(3, NOW + 150, 3000000); /* under p2 */
    struct gm_receipt r_pre = receipt(4, NOW - 10, 500000);   /* before any policy */
    strcpy(r_pre.policy, hex);
    r_pre.has_policy = 1; /* a given value is replaced */
    ok(gm_ledger_append(l, cluster, &r_old, err, sizeof err) == 0 && r_old.has_policy &&
           !strcmp(r_old.policy, hex),
       "a segment that started under the first policy names it (%s)", err);
    ok(gm_ledger_append(l, cluster, &r_new, err, sizeof err) == 0 && r_new.has_policy &&
           !strcmp(r_new.policy, gm_governance_proposal_hash(p2)),
       "a segment that started under the second names the second");
    ok(gm_ledger_append(l, cluster, &r_pre, err, sizeof err) == 0 && !r_pre.has_policy,
       "a segment that started before any policy names none, whatever it was given");
    gm_ledger_close(l);

    struct gm_ledger_verify_result res;
    ok(gm_ledger_verify_governed(dir, &cluster, 1, &admins, 0, 1, &res, err, sizeof err) == 0 &&
           res.size == 6,
       "verify with the admins: policy records, chain and receipts check out (%s)", err);
    ok(gm_ledger_verify(dir, &cluster, 1, 0, 1, &res, err, sizeof err) == -1 &&
           res.bad_index == 1 && strstr(err, "policy admins"),
       "verify without the admins fails at the first policy record, saying what to give");
    ok(gm_ledger_verify_governed(dir, &cluster, 1, &three, 0, 1, &res, err, sizeof err) == -1 &&
           res.bad_index == 1,
       "verify under a 3-of-3 rule fails at the 2-of-3 record (%s)", err);
    gm_key *two_keys[] = { alice, bob };
    struct gm_governance_admins other = { two_keys, 2, 2 };
    ok(gm_ledger_verify_governed(dir, &cluster, 1, &other, 0, 1, &res, err, sizeof err) == -1 &&
           strstr(err, "not a listed admin"),
       "verify with carol unlisted refuses her signature (%s)", err);
    ok(gm_ledger_verify_governed(dir, NULL, 0, NULL, GM_VERIFY_HASH_ONLY, 1, &res, err,
                                 sizeof err) == 0,
       "hash-only verify needs no admins");

    /* A writer told the admins refuses to build on a policy they did not
     * sign (carol is not among these two). */
    l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    struct gm_receipt r_more = receipt(6, NOW + 400, 3000000);
    ok(l && gm_ledger_trust_policy_admins(l, &other, err, sizeof err) == 0 &&
           gm_ledger_append(l, cluster, &r_more, err, sizeof err) == -1 &&
           strstr(err, "record 1: policy record") && gm_ledger_size(l) == 6,
       "a writer checking the admins refuses a policy signed by someone else: %s", err);
    ok(gm_ledger_trust_policy_admins(l, &admins, err, sizeof err) == 0 &&
           gm_ledger_append(l, cluster, &r_more, err, sizeof err) == 0 && r_more.has_policy,
       "and appends under the right admins (%s)", err);
    gm_ledger_close(l);

    /* A receipt priced under the reserve of the policy it names. */
    l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    struct gm_receipt cheap = receipt(5, NOW + 500, 2900000);
    ok(l && gm_ledger_append(l, cluster, &cheap, err, sizeof err) == 0, "(append a cheap receipt)");
    gm_ledger_close(l);
    ok(gm_ledger_verify_governed(dir, &cluster, 1, &admins, 0, 1, &res, err, sizeof err) == -1 &&
           res.bad_index == 7 && strstr(err, "below the h100 reserve price 3000000"),
       "verify catches a receipt priced under its policy's reserve: %s", err);

    /* A hand-edited gpumarket.conf differs from the policy in force. */
    static const char conf_text[] = "MarketPartition=market\nReservePrice=h100:3.00\n"
                                    "IdleDwellSeconds=5\nReserveGPUsPerNode=1\n";
    struct gm_conf *conf;
    if (gm_conf_parse("gm.conf", conf_text, sizeof conf_text - 1, &conf, err, sizeof err))
        bail_out("conf: %s", err);
    char keys_differ[200] = "";
    is_int(gm_governance_compare_conf(p2, conf, count_report, keys_differ), 0,
           "a gpumarket.conf with the policy's values does not differ");
    gm_conf_destroy(conf);
    static const char edited[] = "MarketPartition=market\nReservePrice=h100:1.00\n"
                                 "IdleDwellSeconds=5\nReserveGPUsPerNode=2\n";
    if (gm_conf_parse("gm.conf", edited, sizeof edited - 1, &conf, err, sizeof err))
        bail_out("conf: %s", err);
    ok(gm_governance_compare_conf(p2, conf, count_report, keys_differ) == 2 &&
           strstr(keys_differ, "ReservePrice") && strstr(keys_differ, "ReserveGPUsPerNode"),
       "a hand edit differs, naming the keys: %s", keys_differ);
    gm_conf_destroy(conf);

    gm_governance_record_destroy(in_force);
    gm_governance_proposal_destroy(p1);
    gm_governance_proposal_destroy(p2);
    gm_governance_proposal_destroy(p2_stale);
    gm_governance_proposal_destroy(first_again);
    gm_governance_proposal_destroy(tampered);
    gm_key_free(cluster);
    gm_key_free(alice);
    gm_key_free(bob);
    gm_key_free(carol);
    gm_key_free(dave);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    done_testing();
    return exit_status();
}
