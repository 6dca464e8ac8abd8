/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Property tests of the policy engine over many random snapshots from a
 * fixed-seed generator: the header's contract (market/test/policy-check.c,
 * shared with the fuzz target market/fuzz/fuzz-decide.c: offers respect
 * reserve, dwell and partition; prices never below reserve nor above a
 * winning bid; no more GPUs admitted or placed than offered; orders are
 * permutations in the stated order); clearing agrees with a naive
 * reference; best-fit placement; shuffled input, same decision. */
#include "config.h"

#include "common/rng.h"
#include "market/policy.h"
#include "market/test/policy-check.h"
#include "tests/tap/tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOTS 600
#define NOW       1700000000
#define TYPES     3

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static uint64_t rng(void)
{
    return gm_rng_next(&rng_state);
}
static uint32_t below(uint32_t n)
{
    return n ? (uint32_t)(rng() % n) : 0;
}

struct world {
    struct gm_policy_gpu_type types[TYPES];
    struct gm_policy_params params;
    struct gm_policy_node nodes[64];
    size_t node_count;
    struct gm_policy_idle idle[64 * 8];
    size_t idle_count;
    struct gm_policy_bid bids[100];
    size_t bid_count;
    struct gm_policy_lease leases[40];
    size_t lease_count;
};

static void make_world(struct world *w)
{
    memset(w, 0, sizeof *w);
    w->types[0] = (struct gm_policy_gpu_type){ "h100", 1, (int64_t)below(4) * 1000000 };
    w->types[1] = (struct gm_policy_gpu_type){ "a100", below(4) == 0, 1500000 };
    w->types[2] = (struct gm_policy_gpu_type){ "l4", 1, (int64_t)below(800001) };
    w->params = (struct gm_policy_params){ below(4), below(3) * 300, 10000000, w->types, TYPES };
    w->node_count = below(40) + 1;
    for (size_t n = 0; n < w->node_count; n++) {
        struct gm_policy_node *nd = &w->nodes[n];
        nd->gpus_total = below(9);
        nd->in_market_partition = below(5) != 0;
        nd->available = below(10) != 0;
        uint32_t left = nd->gpus_total;
        nd->gpus_used_local = below(left + 1) / 2;
        left -= nd->gpus_used_local;
        nd->gpus_used_market = below(left + 1) / 2;
        left -= nd->gpus_used_market;
        uint32_t node_type = below(TYPES);
        while (left > 0) {
            uint32_t c = below(left) + 1;
            int64_t since = NOW - (int64_t)below(1500);
            if (below(20) == 0)
                since = NOW + below(100); /* clock skew */
            w->idle[w->idle_count++] =
                (struct gm_policy_idle){ (uint32_t)n, below(4) ? node_type : below(TYPES), c,
                                         since };
            left -= c;
        }
    }
    /* Unique job ids drawn from a small range, so ties and order matter. */
    w->bid_count = below(90);
    uint32_t base = below(1000);
    for (size_t b = 0; b < w->bid_count; b++) {
        struct gm_policy_bid *bd = &w->bids[b];
        bd->job_id = base + (uint32_t)b * 3 + below(3);
        bd->type = below(TYPES);
        bd->gpus = below(6) + 1;
        bd->bid = below(10) == 0 ? 0 : (int64_t)below(5) * 1000000 + (int64_t)below(2) * 500000;
        if (below(30) == 0)
            bd->bid = 10000000 + below(3); /* around MaxBid */
        bd->submit_time = NOW - below(5);
    }
    /* Now and then, values outside the radix sort's packed key (a bid of
     * 2^56 or more, submit times 2^32 s apart), so the merge-sort path is
     * checked against the reference too. */
    if (w->bid_count && below(8) == 0) {
        w->params.max_bid = INT64_MAX;
        w->bids[below((uint32_t)w->bid_count)].bid = (int64_t)1 << (56 + below(6));
    } else if (w->bid_count && below(8) == 0) {
        w->bids[below((uint32_t)w->bid_count)].submit_time = INT64_MIN + below(3);
    }
    /* Scramble the bid order (ids stay unique). */
    for (size_t b = w->bid_count; b > 1; b--) {
        size_t j = below((uint32_t)b);
        struct gm_policy_bid t = w->bids[b - 1];
        w->bids[b - 1] = w->bids[j];
        w->bids[j] = t;
    }
    w->lease_count = below(40);
    for (size_t l = 0; l < w->lease_count; l++)
        w->leases[l] =
            (struct gm_policy_lease){ (uint32_t)(5000 + l * 7), below(TYPES), below(4) + 1,
                                      (int64_t)below(4) * 1000000, NOW - (int64_t)below(5) };
}

static struct gm_policy_snapshot snapshot_of(const struct world *w)
{
    return (struct gm_policy_snapshot){ NOW,          w->nodes,      w->node_count,
                                        w->idle,      w->idle_count, w->bids,
                                        w->bid_count, w->leases,     w->lease_count };
}

/* The properties, each reported as one test over every snapshot. */
enum property { P_CONTRACT, P_REFERENCE, P_PLACEMENT, P_DETERMINISM, P_HISTORY, P_COUNT };

static const char *const property_names[P_COUNT] = {
    [P_CONTRACT] = "the header's contract (policy-check.c): offers only idle GPUs past the dwell "
                   "time, beyond the node's reserve, on available market-partition nodes, of "
                   "priced types, and all of them; prices between the reserve and every winning "
                   "bid; nothing above MaxBid admitted; no more GPUs admitted or placed than "
                   "offered; local and preemption orders are permutations in their order",
    [P_REFERENCE] = "clearing agrees with a naive uniform-price reference",
    [P_PLACEMENT] = "admitted jobs placed whole by best fit, split only when no node holds them",
    [P_DETERMINISM] = "same decision for shuffled input and for a second run",
    [P_HISTORY] = "history: every offered type at first, nothing when nothing changed",
};

static int failures[P_COUNT];
static int snapshot_no;

#define CHECK(property, cond, ...)                           \
    do {                                                     \
        if (!(cond)) {                                       \
            if (failures[property]++ < 5) {                  \
                diag("snapshot %d: %s", snapshot_no, #cond); \
                diag(__VA_ARGS__);                           \
            }                                                \
        }                                                    \
    } while (0)

/* ------------------------------------------------------------- properties */

static void check_one(const struct world *w, struct gm_policy_result *r)
{
    size_t no, nv, np, na;
    const struct gm_policy_offer *offers = gm_policy_result_offers(r, &no);
    const struct gm_policy_verdict *v = gm_policy_result_verdicts(r, &nv);
    const struct gm_policy_placement *pl = gm_policy_result_placements(r, &np);
    char why[512];
    struct gm_policy_snapshot snap = snapshot_of(w);
    int contract = gm_policy_check_decision(&w->params, &snap, r, why, sizeof why);
    CHECK(P_CONTRACT, contract == 0, "%s", why);
    if (contract != 0)
        return; /* the checks below assume what it checked */

    static uint32_t offered[64][TYPES];
    memset(offered, 0, sizeof offered);
    for (size_t i = 0; i < no; i++)
        offered[offers[i].node][offers[i].type] += offers[i].count;

    /* Markets and verdicts against the naive reference. */
    CHECK(P_REFERENCE, gm_policy_check_reference(&w->params, &snap, r, why, sizeof why) == 0, "%s",
          why);

    /* Replay the placements in admission order: a job is split only when no
     * node holds it whole, and a whole job goes to the best fit (market
     * nodes first, then the fewest GPUs left that hold it). */
    {
        static uint32_t left[64][TYPES];
        static uint8_t hosts[64];
        memcpy(left, offered, sizeof left);
        for (size_t n = 0; n < w->node_count; n++)
            hosts[n] = w->nodes[n].gpus_used_market > 0;
        const uint32_t *adm = gm_policy_result_admitted(r, &na);
        for (size_t a = 0; a < na; a++) {
            const struct gm_policy_verdict *jv = &v[adm[a]];
            uint32_t t = jv->type, best[2] = { UINT32_MAX, UINT32_MAX };
            for (size_t n = 0; n < w->node_count; n++)
                if (left[n][t] >= jv->gpus && left[n][t] < best[hosts[n]])
                    best[hosts[n]] = left[n][t];
            const struct gm_policy_placement *first = &pl[jv->placement_first];
            if (jv->placement_count > 1) {
                CHECK(P_PLACEMENT, best[0] == UINT32_MAX && best[1] == UINT32_MAX,
                      "job %u split although a node held it", jv->job_id);
            } else if (jv->placement_count == 1) {
                uint32_t had = left[first->node][t];
                uint32_t want = best[1] != UINT32_MAX ? best[1] : best[0];
                CHECK(P_PLACEMENT, had == want && (best[1] == UINT32_MAX || hosts[first->node]),
                      "job %u: node with %u left chosen, best fit was %u", jv->job_id, had, want);
            }
            for (uint32_t k = 0; k < jv->placement_count; k++) {
                const struct gm_policy_placement *p = &first[k];
                if (left[p->node][t] >= p->gpus)
                    left[p->node][t] -= p->gpus;
                hosts[p->node] = 1;
            }
        }
    }
}

/* The same world with its idle, bid and lease arrays shuffled must give the
 * same decision (compared job by job and node by node). */
static void check_deterministic(const struct world *w, struct gm_policy_result *r)
{
    struct world *s = malloc(sizeof *s);
    if (!s)
        bail_out("out of memory");
    *s = *w;
    s->params.types = s->types;
    gm_policy_check_shuffle(s->idle, s->idle_count, s->bids, s->bid_count, s->leases,
                            s->lease_count, rng());
    struct gm_policy *e;
    struct gm_policy_result *r2;
    char err[256];
    struct gm_policy_snapshot snap = snapshot_of(s);
    if (gm_policy_create(&s->params, &e, err, sizeof err) < 0 ||
        gm_policy_decide(e, &snap, &r2, err, sizeof err) < 0)
        bail_out("%s", err);
    struct gm_policy_snapshot snap1 = snapshot_of(w);
    CHECK(P_DETERMINISM, gm_policy_check_same(&snap1, r, &snap, r2, err, sizeof err) == 0, "%s",
          err);
    gm_policy_result_destroy(r2);
    gm_policy_destroy(e);
    free(s);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    struct world *w = malloc(sizeof *w);
    if (!w)
        bail_out("out of memory");
    size_t admitted_total = 0, waiting_total = 0, offers_total = 0;
    for (snapshot_no = 0; snapshot_no < SNAPSHOTS; snapshot_no++) {
        make_world(w);
        struct gm_policy *e;
        struct gm_policy_result *r;
        char err[256];
        struct gm_policy_snapshot snap = snapshot_of(w);
        if (gm_policy_create(&w->params, &e, err, sizeof err) < 0 ||
            gm_policy_decide(e, &snap, &r, err, sizeof err) < 0) {
            CHECK(P_REFERENCE, 0, "decision failed: %s", err);
            continue;
        }
        check_one(w, r);
        check_deterministic(w, r);
        size_t n;
        gm_policy_result_admitted(r, &n);
        admitted_total += n;
        gm_policy_result_offers(r, &n);
        offers_total += n;
        const struct gm_policy_verdict *v = gm_policy_result_verdicts(r, &n);
        for (size_t i = 0; i < n; i++)
            waiting_total += v[i].status == GM_POLICY_WAITING_SUPPLY;
        /* First decision of a fresh engine records every offered type. */
        size_t nh, offered_types = 0;
        gm_policy_result_history(r, &nh);
        for (int t = 0; t < TYPES; t++)
            offered_types += w->types[t].offered != 0;
        CHECK(P_HISTORY, nh == offered_types, "history of a first decision");
        /* The same snapshot again is the same decision, with no history. */
        struct gm_policy_result *again;
        if (gm_policy_decide(e, &snap, &again, err, sizeof err) == 0) {
            gm_policy_result_history(again, &nh);
            CHECK(P_HISTORY, nh == 0, "history without a change");
            check_deterministic(w, again);
            gm_policy_result_destroy(again);
        }
        gm_policy_result_destroy(r);
        gm_policy_destroy(e);
    }
    diag("%d snapshots: %zu offers, %zu jobs admitted, %zu waiting for supply", SNAPSHOTS,
         offers_total, admitted_total, waiting_total);
    /* The generator must exercise the interesting cases, or the checks
     * above prove little. */
    ok(admitted_total > 1000 && waiting_total > 100 && offers_total > 1000,
       "random snapshots exercise admission, waiting and offers");
    for (int p = 0; p < P_COUNT; p++)
        is_int(failures[p], 0, "%s (%d random snapshots)", property_names[p], SNAPSHOTS);
    free(w);
    done_testing();
    return exit_status();
}
