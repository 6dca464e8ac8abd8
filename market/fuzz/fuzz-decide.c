/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the policy engine's decision, gm_policy_decide, which
 * slurmctld's select plugin calls under its locks on every scheduling pass
 * with a snapshot partly made of what users submit.  The bytes decode into
 * an engine (1..4 GPU types, reserve prices, reserve GPUs per node, dwell,
 * MaxBid) and a small snapshot with edge values (0, 1, UINT32_MAX counts,
 * INT64 extremes, idle times after now, gpus_per_node not dividing gpus,
 * array tasks, repeated job ids, indexes out of range, counts that do not
 * add up); a flags byte repairs some of that, so that both consistent and
 * inconsistent snapshots come often.
 *
 * Checked (abort with a message on stderr on any violation):
 * - gm_policy_decide refuses a snapshot exactly when the independent check
 *   (market/test/policy-check.c) finds it inconsistent, with a "policy: "
 *   message, and the engine's market state is then unchanged: the next
 *   decision on a consistent snapshot has the same price history as that
 *   of a twin engine that never saw the refused one;
 * - a decision keeps the header's contract (gm_policy_check_decision) and,
 *   without array tasks or gpus_per_node, clears as the naive reference
 *   does (gm_policy_check_reference);
 * - the same snapshot with its idle, bid and lease arrays shuffled, decided
 *   by a fresh engine, gives the same decision (gm_policy_check_same). */
#include "config.h"

#include "market/policy.h"
#include "market/test/policy-check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TYPES  4
#define MAX_NODES  12
#define MAX_IDLE   24
#define MAX_BIDS   24
#define MAX_LEASES 8
#define NOW        INT64_C(1700000000)

struct reader {
    const uint8_t *p;
    size_t left;
};

static uint8_t u8(struct reader *r)
{
    if (r->left == 0)
        return 0;
    r->left--;
    return *r->p++;
}

static uint32_t raw32(struct reader *r)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x = x << 8 | u8(r);
    return x;
}

static uint64_t raw64(struct reader *r)
{
    return (uint64_t)raw32(r) << 32 | raw32(r);
}

/* A count: mostly small (below `small`), sometimes an edge value. */
static uint32_t count(struct reader *r, uint32_t small)
{
    uint8_t b = u8(r);
    if (b < 240)
        return small ? b % small : 0;
    static const uint32_t edges[] = {
        0, 1, 2, 1023, 1024, 1025, UINT32_MAX, UINT32_MAX - 1, UINT32_MAX / 2 + 1, 65536, 3, 7
    };
    if (b - 240u < sizeof edges / sizeof edges[0])
        return edges[b - 240];
    return raw32(r);
}

/* Money: a few steps of 0.5 a GPU-hour, sometimes an edge value. */
static int64_t money(struct reader *r)
{
    uint8_t b = u8(r);
    if (b < 240)
        return (int64_t)(b % 24) * 500000;
    static const int64_t edges[] = { 0,
                                     1,
                                     -1,
                                     INT64_MAX,
                                     INT64_MIN,
                                     INT64_MAX - 1,
                                     (int64_t)1 << 56,
                                     ((int64_t)1 << 56) - 1,
                                     10000000,
                                     10000001 };
    if (b - 240u < sizeof edges / sizeof edges[0])
        return edges[b - 240];
    return (int64_t)raw64(r);
}

/* A time near now (mostly in the past), sometimes an edge value. */
static int64_t when(struct reader *r)
{
    uint8_t b = u8(r);
    if (b < 200)
        return NOW - (int64_t)b * 10;
    if (b < 240)
        return NOW + (b - 200); /* after now: clock skew */
    static const int64_t edges[] = { INT64_MIN, INT64_MAX, 0, -1, NOW, NOW + ((int64_t)1 << 32) };
    if (b - 240u < sizeof edges / sizeof edges[0])
        return edges[b - 240];
    return (int64_t)raw64(r);
}

struct world {
    char names[MAX_TYPES][8];
    struct gm_policy_gpu_type types[MAX_TYPES];
    struct gm_policy_params params;
    int64_t now;
    struct gm_policy_node nodes[MAX_NODES];
    struct gm_policy_idle idle[MAX_IDLE];
    struct gm_policy_bid bids[MAX_BIDS];
    struct gm_policy_lease leases[MAX_LEASES];
    size_t node_count, idle_count, bid_count, lease_count;
};

static struct gm_policy_snapshot snapshot_of(const struct world *w)
{
    return (struct gm_policy_snapshot){ w->now,       w->nodes,      w->node_count,
                                        w->idle,      w->idle_count, w->bids,
                                        w->bid_count, w->leases,     w->lease_count };
}

enum repair {
    R_INDEXES = 1, /* idle nodes and every type in range */
    R_COUNTS = 2,  /* node totals: their idle and used GPUs, at most the maximum */
    R_IDS = 4,     /* job ids unique among bids and among leases */
    R_VALUES = 8,  /* no 0 GPUs, negative bid or lease price */
    R_ALL = 15,
};

static void decode(struct reader *r, struct world *w)
{
    memset(w, 0, sizeof *w);
    w->params.type_count = 1 + u8(r) % MAX_TYPES;
    for (size_t t = 0; t < w->params.type_count; t++) {
        snprintf(w->names[t], sizeof w->names[t], "t%zu", t);
        uint8_t b = u8(r);
        w->types[t] = (struct gm_policy_gpu_type){ w->names[t], b % 5 != 0, 0 };
        w->types[t].reserve_price = money(r);
        if (w->types[t].reserve_price < 0)
            w->types[t].reserve_price = 0; /* a refused engine decides nothing */
    }
    w->params.types = w->types;
    w->params.reserve_gpus_per_node = count(r, 4);
    w->params.idle_dwell_seconds = (int64_t)(u8(r) % 4) * 300;
    w->params.max_bid = money(r);
    if (w->params.max_bid <= 0)
        w->params.max_bid = INT64_MAX;
    w->now = u8(r) < 250 ? NOW : when(r);

    w->node_count = u8(r) % (MAX_NODES + 1);
    for (size_t n = 0; n < w->node_count; n++) {
        uint8_t b = u8(r);
        w->nodes[n] = (struct gm_policy_node){ count(r, 9), count(r, 3), count(r, 3),
                                               (uint8_t)(b % 5 != 0), (uint8_t)(b % 7 != 0) };
    }
    w->idle_count = u8(r) % (MAX_IDLE + 1);
    for (size_t i = 0; i < w->idle_count; i++)
        w->idle[i] = (struct gm_policy_idle){ count(r, MAX_NODES), count(r, MAX_TYPES), count(r, 9),
                                              when(r) };
    w->bid_count = u8(r) % (MAX_BIDS + 1);
    for (size_t i = 0; i < w->bid_count; i++) {
        struct gm_policy_bid *b = &w->bids[i];
        b->job_id = 100 + count(r, 32);
        b->type = count(r, MAX_TYPES);
        b->gpus = count(r, 10);
        b->bid = money(r);
        b->submit_time = when(r);
        b->gpus_per_node = count(r, 5);
        b->tasks = count(r, 4);
    }
    w->lease_count = u8(r) % (MAX_LEASES + 1);
    for (size_t i = 0; i < w->lease_count; i++)
        w->leases[i] = (struct gm_policy_lease){ 200 + count(r, 16), count(r, MAX_TYPES),
                                                 count(r, 5), money(r), when(r) };
}

/* Make the snapshot consistent in the ways `what` names. */
static void repair(struct world *w, unsigned what)
{
    uint32_t nt = (uint32_t)w->params.type_count;
    if (what & R_INDEXES) {
        size_t k = 0;
        for (size_t i = 0; i < w->idle_count; i++)
            if (w->node_count) {
                w->idle[k] = w->idle[i];
                w->idle[k].node %= (uint32_t)w->node_count;
                w->idle[k++].type %= nt;
            }
        w->idle_count = k;
        for (size_t i = 0; i < w->bid_count; i++)
            w->bids[i].type %= nt;
        for (size_t i = 0; i < w->lease_count; i++)
            w->leases[i].type %= nt;
    }
    if ((what & R_COUNTS) && (what & R_INDEXES)) {
        for (size_t n = 0; n < w->node_count; n++) {
            struct gm_policy_node *nd = &w->nodes[n];
            nd->gpus_used_local %= 257;
            nd->gpus_used_market %= 257;
            uint32_t total = nd->gpus_used_local + nd->gpus_used_market;
            for (size_t i = 0; i < w->idle_count; i++) {
                struct gm_policy_idle *d = &w->idle[i];
                if (d->node != n)
                    continue;
                if (d->count > GM_POLICY_MAX_NODE_GPUS - total)
                    d->count = GM_POLICY_MAX_NODE_GPUS - total;
                total += d->count;
            }
            nd->gpus_total = total;
        }
    }
    if (what & R_IDS) {
        for (size_t i = 0; i < w->bid_count; i++)
            for (size_t j = 0; j < i; j++)
                if (w->bids[j].job_id == w->bids[i].job_id) {
                    w->bids[i].job_id++;
                    j = (size_t)-1; /* check against every earlier id again */
                }
        for (size_t i = 0; i < w->lease_count; i++)
            for (size_t j = 0; j < i; j++)
                if (w->leases[j].job_id == w->leases[i].job_id) {
                    w->leases[i].job_id++;
                    j = (size_t)-1;
                }
    }
    if (what & R_VALUES) {
        for (size_t i = 0; i < w->bid_count; i++) {
            if (w->bids[i].gpus == 0)
                w->bids[i].gpus = 1;
            if (w->bids[i].bid < 0)
                w->bids[i].bid = w->bids[i].bid == INT64_MIN ? 0 : -w->bids[i].bid;
        }
        for (size_t i = 0; i < w->lease_count; i++) {
            if (w->leases[i].gpus == 0)
                w->leases[i].gpus = 1;
            if (w->leases[i].price < 0)
                w->leases[i].price = 0;
        }
    }
}

static void fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz-decide: %s: %s\n", what, why);
    abort();
}

/* The decision r on s keeps the contract and clears as the reference does. */
static void check_result(const struct world *w, const struct gm_policy_snapshot *s,
                         const struct gm_policy_result *r, const char *what)
{
    char why[512];
    if (gm_policy_check_decision(&w->params, s, r, why, sizeof why) != 0 ||
        gm_policy_check_reference(&w->params, s, r, why, sizeof why) != 0)
        fail(what, why);
}

/* Decide `s` on `e`; must succeed (s is consistent); checks the contract. */
static struct gm_policy_result *decide_ok(struct gm_policy *e, const struct world *w,
                                          const struct gm_policy_snapshot *s, const char *what)
{
    struct gm_policy_result *r;
    char err[512];
    if (gm_policy_decide(e, s, &r, err, sizeof err) != 0)
        fail(what, err[0] ? err : "a consistent snapshot refused, with no message");
    check_result(w, s, r, what);
    return r;
}

/* The history of a decision: records in type order, each of an offered
 * type, stamped now, with its market's price, supply and demand; on an
 * engine's first decision one per offered type. */
static void check_history(const struct world *w, const struct gm_policy_snapshot *s,
                          const struct gm_policy_result *r, int first, const char *what)
{
    size_t nh, nm, offered = 0;
    const struct gm_policy_price_record *h = gm_policy_result_history(r, &nh);
    const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
    for (size_t t = 0; t < w->params.type_count; t++)
        offered += w->types[t].offered != 0;
    if (first && nh != offered)
        fail(what, "history: a first decision records other than every offered type");
    for (size_t i = 0; i < nh; i++) {
        if ((i > 0 && h[i - 1].type >= h[i].type) || h[i].type >= nm || !m[h[i].type].offered)
            fail(what, "history: records not in type order, or of a type not offered");
        if (h[i].time != s->now || h[i].price != m[h[i].type].price ||
            h[i].supply != m[h[i].type].supply || h[i].demand != m[h[i].type].demand)
            fail(what, "history: a record differs from its market");
    }
}

/* The price history of a decision, as a comparable list. */
static int same_history(const struct gm_policy_result *a, const struct gm_policy_result *b)
{
    size_t na, nb;
    const struct gm_policy_price_record *ha = gm_policy_result_history(a, &na);
    const struct gm_policy_price_record *hb = gm_policy_result_history(b, &nb);
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (ha[i].time != hb[i].time || ha[i].type != hb[i].type || ha[i].price != hb[i].price ||
            ha[i].supply != hb[i].supply || ha[i].demand != hb[i].demand)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = { data, size };
    uint8_t flags = u8(&rd);
    uint64_t seed = raw64(&rd);
    static struct world raw, fixed, shuffled;
    decode(&rd, &raw); /* it points raw.params.types at raw.types */
    fixed = raw;
    fixed.params.types = fixed.types;
    repair(&raw, flags & R_ALL);
    repair(&fixed, R_ALL);

    struct gm_policy *a, *b, *c;
    char err[512], why[512];
    if (gm_policy_create(&raw.params, &a, err, sizeof err) != 0)
        fail("gm_policy_create", err);
    if (gm_policy_create(&raw.params, &b, err, sizeof err) != 0)
        fail("gm_policy_create (twin)", err);

    /* Both engines first decide the repaired snapshot, so that each holds
     * a market state to keep. */
    struct gm_policy_snapshot fs = snapshot_of(&fixed), rs = snapshot_of(&raw);
    struct gm_policy_result *ra = decide_ok(a, &fixed, &fs, "repaired snapshot");
    struct gm_policy_result *rb = decide_ok(b, &fixed, &fs, "repaired snapshot (twin)");
    check_history(&fixed, &fs, ra, 1, "repaired snapshot");
    if (!same_history(ra, rb))
        fail("determinism", "two engines made alike record different histories");
    gm_policy_result_destroy(ra);
    gm_policy_result_destroy(rb);

    /* Then the raw snapshot, refused exactly when inconsistent: now and
     * then with a count whose array is missing. */
    if ((flags & 0x30) == 0x30) {
        switch (seed % 4) {
        case 0:
            rs.nodes = NULL;
            break;
        case 1:
            rs.idle = NULL;
            break;
        case 2:
            rs.bids = NULL;
            break;
        default:
            rs.leases = NULL;
        }
    }
    int consistent = gm_policy_check_snapshot(&raw.params, &rs, why, sizeof why) == 0;
    struct gm_policy_result *r = NULL;
    err[0] = '\0';
    int rc = gm_policy_decide(a, &rs, &r, err, sizeof err);
    if (rc == 0) {
        if (!consistent)
            fail("validation", why); /* decided on an inconsistent snapshot */
        check_result(&raw, &rs, r, "raw snapshot");
        check_history(&raw, &rs, r, 0, "raw snapshot");
        gm_policy_result_destroy(decide_ok(b, &raw, &rs, "raw snapshot (twin)"));

        /* The same snapshot shuffled, on a fresh engine, decides alike. */
        shuffled = raw;
        shuffled.params.types = shuffled.types;
        gm_policy_check_shuffle(shuffled.idle, shuffled.idle_count, shuffled.bids,
                                shuffled.bid_count, shuffled.leases, shuffled.lease_count, seed);
        struct gm_policy_snapshot ss = snapshot_of(&shuffled);
        if (gm_policy_create(&raw.params, &c, err, sizeof err) != 0)
            fail("gm_policy_create (fresh)", err);
        struct gm_policy_result *r2 = decide_ok(c, &shuffled, &ss, "shuffled snapshot");
        if (gm_policy_check_same(&rs, r, &ss, r2, why, sizeof why) != 0)
            fail("shuffled snapshot", why);
        gm_policy_result_destroy(r2);
        gm_policy_destroy(c);
        gm_policy_result_destroy(r);
    } else {
        if (rc != -1 || r != NULL)
            fail("refusal", "gm_policy_decide did not return -1 with no result");
        if (strncmp(err, "policy: ", 8) != 0)
            fail("refusal", "no \"policy: \" message");
        if (consistent)
            fail("refusal of a consistent snapshot", err);
    }

    /* The engine that saw the raw snapshot and its twin record the same
     * history for the next decision: a refusal left the state unchanged. */
    fixed.now = fixed.now == INT64_MAX ? fixed.now : fixed.now + 1;
    fs = snapshot_of(&fixed);
    ra = decide_ok(a, &fixed, &fs, "repaired snapshot after the raw one");
    rb = decide_ok(b, &fixed, &fs, "repaired snapshot after the raw one (twin)");
    check_history(&fixed, &fs, ra, 0, "repaired snapshot after the raw one");
    if (!same_history(ra, rb))
        fail("state", "a decision changed the engine's market state differently from its twin's "
                      "(a refused snapshot moved it?)");
    gm_policy_result_destroy(ra);
    gm_policy_result_destroy(rb);
    gm_policy_destroy(a);
    gm_policy_destroy(b);
    return 0;
}
