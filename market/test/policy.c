/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Policy engine decisions, table by table: offers, clearing, placement,
 * local and preemption orders, price history, snapshot and engine errors. */
#include "config.h"

#include "market/policy.h"

#include "common/conf.h"
#include "market/job.h"
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW  100000
#define MAXN 8

static const struct gm_policy_gpu_type two_types[] = {
    { "h100", 1, 2000000 }, /* reserve 2.00 */
    { "a100", 0, 0 },       /* not offered */
    { "l4", 1, 500000 },    /* reserve 0.50 */
};

static struct gm_policy *make_engine(uint32_t reserve, int64_t dwell, int64_t max_bid)
{
    struct gm_policy_params p = { reserve, dwell, max_bid, two_types, 3 };
    struct gm_policy *e;
    char err[256];
    if (gm_policy_create(&p, &e, err, sizeof err) < 0)
        bail_out("%s", err);
    return e;
}

static struct gm_policy_result *decide(struct gm_policy *e, const struct gm_policy_snapshot *s)
{
    struct gm_policy_result *r;
    char err[256];
    if (gm_policy_decide(e, s, &r, err, sizeof err) < 0)
        bail_out("%s", err);
    return r;
}

/* ------------------------------------------------------------------ offers */

struct offer_case {
    const char *why;
    uint32_t reserve;
    int64_t dwell;
    struct gm_policy_node node;
    struct gm_policy_idle idle[4];
    size_t idle_count;
    struct gm_policy_offer want[3]; /* node 0 */
    size_t want_count;
};

static const struct offer_case offer_cases[] = {
    { "idle beyond the reserve is offered",
      2,
      60,
      { 8, 2, 0, 1, 1 },
      { { 0, 0, 6, NOW - 1000 } },
      1,
      { { 0, 0, 4 } },
      1 },
    { "no reserve, all dwelt GPUs offered",
      0,
      60,
      { 8, 0, 0, 1, 1 },
      { { 0, 0, 8, NOW - 1000 } },
      1,
      { { 0, 0, 8 } },
      1 },
    { "GPUs still dwelling are not offered",
      0,
      60,
      { 6, 0, 0, 1, 1 },
      { { 0, 0, 4, NOW - 1000 }, { 0, 0, 2, NOW - 10 } },
      2,
      { { 0, 0, 4 } },
      1 },
    { "dwelling GPUs count toward the reserve",
      2,
      60,
      { 6, 0, 0, 1, 1 },
      { { 0, 0, 4, NOW - 1000 }, { 0, 0, 2, NOW - 10 } },
      2,
      { { 0, 0, 4 } },
      1 },
    { "reserve larger than the dwelling GPUs",
      3,
      60,
      { 6, 0, 0, 1, 1 },
      { { 0, 0, 4, NOW - 1000 }, { 0, 0, 2, NOW - 10 } },
      2,
      { { 0, 0, 3 } },
      1 },
    { "idle exactly the dwell time is offered",
      0,
      60,
      { 2, 0, 0, 1, 1 },
      { { 0, 0, 2, NOW - 60 } },
      1,
      { { 0, 0, 2 } },
      1 },
    { "one second short of the dwell time is not",
      0,
      60,
      { 2, 0, 0, 1, 1 },
      { { 0, 0, 2, NOW - 59 } },
      1,
      { { 0 } },
      0 },
    { "idle since the future counts as just freed",
      0,
      0,
      { 2, 0, 0, 1, 1 },
      { { 0, 0, 2, NOW + 5 } },
      1,
      { { 0 } },
      0 },
    { "node outside the market partition",
      0,
      0,
      { 4, 0, 0, 0, 1 },
      { { 0, 0, 4, NOW - 1000 } },
      1,
      { { 0 } },
      0 },
    { "node not available", 0, 0, { 4, 0, 0, 1, 0 }, { { 0, 0, 4, NOW - 1000 } }, 1, { { 0 } }, 0 },
    { "reserve equal to the idle GPUs",
      4,
      0,
      { 4, 0, 0, 1, 1 },
      { { 0, 0, 4, NOW - 1000 } },
      1,
      { { 0 } },
      0 },
    { "every GPU busy", 0, 0, { 4, 3, 1, 1, 1 }, { { 0 } }, 0, { { 0 } }, 0 },
    { "type without a reserve price is never offered",
      0,
      0,
      { 4, 0, 0, 1, 1 },
      { { 0, 1, 4, NOW - 1000 } },
      1,
      { { 0 } },
      0 },
    { "unoffered type still counts toward the reserve",
      2,
      0,
      { 4, 0, 0, 1, 1 },
      { { 0, 1, 2, NOW - 1000 }, { 0, 0, 2, NOW - 1000 } },
      2,
      { { 0, 0, 2 } },
      1 },
    { "longest idle offered first across types",
      3,
      0,
      { 4, 0, 0, 1, 1 },
      { { 0, 0, 2, NOW - 100 }, { 0, 2, 2, NOW - 500 } },
      2,
      { { 0, 2, 1 } },
      1 },
    { "two types both offered, by type order",
      0,
      0,
      { 5, 1, 0, 1, 1 },
      { { 0, 2, 2, NOW - 100 }, { 0, 0, 2, NOW - 500 } },
      2,
      { { 0, 0, 2 }, { 0, 2, 2 } },
      2 },
    { "records of one type merged",
      1,
      0,
      { 6, 0, 0, 1, 1 },
      { { 0, 0, 2, NOW - 100 }, { 0, 0, 2, NOW - 300 }, { 0, 0, 2, NOW - 200 } },
      3,
      { { 0, 0, 5 } },
      1 },
};

static void check_offers(void)
{
    for (size_t i = 0; i < sizeof offer_cases / sizeof offer_cases[0]; i++) {
        const struct offer_case *c = &offer_cases[i];
        struct gm_policy *e = make_engine(c->reserve, c->dwell, 100000000);
        struct gm_policy_snapshot s = { .now = NOW,
                                        .nodes = &c->node,
                                        .node_count = 1,
                                        .idle = c->idle,
                                        .idle_count = c->idle_count };
        struct gm_policy_result *r = decide(e, &s);
        size_t n;
        const struct gm_policy_offer *o = gm_policy_result_offers(r, &n);
        int same = n == c->want_count;
        for (size_t k = 0; same && k < n; k++)
            same = o[k].node == c->want[k].node && o[k].type == c->want[k].type &&
                   o[k].count == c->want[k].count;
        ok(same, "offers: %s (%zu offers)", c->why, n);
        gm_policy_result_destroy(r);
        gm_policy_destroy(e);
    }
}

/* ---------------------------------------------------------------- clearing */

struct clear_case {
    const char *why;
    uint32_t supply; /* h100 GPUs offered, on one node of 8 (local jobs use the rest) */
    struct gm_policy_bid bids[5];
    size_t bid_count;
    int64_t want_price;
    enum gm_policy_status want[5];
    uint64_t want_demand;
};

#define B(job, gpus, bid, submit)       \
    {                                   \
        job, 0, gpus, bid, submit, 0, 0 \
    }
#define AD GM_POLICY_ADMITTED
#define BP GM_POLICY_BELOW_PRICE
#define WS GM_POLICY_WAITING_SUPPLY
#define NO GM_POLICY_TYPE_NOT_OFFERED
#define AM GM_POLICY_ABOVE_MAX_BID

static const struct clear_case clear_cases[] = {
    { "no bids: the reserve price", 4, { { 0 } }, 0, 2000000, { 0 }, 0 },
    { "demand below supply: reserve price, all admitted",
      4,
      { B(1, 2, 3000000, 10), B(2, 1, 2500000, 11) },
      2,
      2000000,
      { AD, AD },
      3 },
    { "uniform price is the highest bid left out",
      4,
      { B(1, 2, 5000000, 10), B(2, 2, 4000000, 11), B(3, 2, 3000000, 12) },
      3,
      3000000,
      { AD, AD, WS },
      6 },
    { "left-out bid below reserve: reserve price",
      2,
      { B(1, 2, 5000000, 10), B(2, 2, 1000000, 11) },
      2,
      2000000,
      { AD, BP },
      2 },
    { "a bid that does not fit blocks lower bids",
      2,
      { B(1, 3, 5000000, 10), B(2, 1, 4000000, 11) },
      2,
      5000000,
      { WS, BP },
      4 },
    { "equal bids: earlier submit time wins",
      2,
      { B(7, 2, 3000000, 20), B(8, 2, 3000000, 10) },
      2,
      3000000,
      { WS, AD },
      4 },
    { "equal bids and times: lower job id wins",
      2,
      { B(9, 2, 3000000, 10), B(8, 2, 3000000, 10) },
      2,
      3000000,
      { WS, AD },
      4 },
    { "no bid bids the reserve price",
      2,
      { B(1, 2, 0, 10), B(2, 2, 0, 11) },
      2,
      2000000,
      { AD, WS },
      4 },
    { "bid exactly at the reserve admitted", 2, { B(1, 2, 2000000, 10) }, 1, 2000000, { AD }, 2 },
    { "bid one micro-unit below the reserve", 2, { B(1, 2, 1999999, 10) }, 1, 2000000, { BP }, 0 },
    { "above MaxBid refused, not counted",
      2,
      { B(1, 2, 9000001, 10), B(2, 1, 3000000, 11) },
      2,
      2000000,
      { AM, AD },
      1 },
    { "bid exactly MaxBid accepted", 2, { B(1, 2, 9000000, 10) }, 1, 2000000, { AD }, 2 },
    { "type not offered",
      2,
      { { 1, 1, 1, 3000000, 10, 0, 0 }, B(2, 1, 3000000, 11) },
      2,
      2000000,
      { NO, AD },
      1 },
    { "no supply: everything waits, price is the top bid",
      0,
      { B(1, 1, 3000000, 10), B(2, 1, 2500000, 11) },
      2,
      3000000,
      { WS, BP },
      2 },
    { "bids fill the supply exactly",
      4,
      { B(1, 2, 3000000, 10), B(2, 2, 2500000, 11), B(3, 1, 2400000, 12) },
      3,
      2400000,
      { AD, AD, WS },
      5 },
};

static void check_clearing(void)
{
    for (size_t i = 0; i < sizeof clear_cases / sizeof clear_cases[0]; i++) {
        const struct clear_case *c = &clear_cases[i];
        struct gm_policy *e = make_engine(0, 0, 9000000);
        struct gm_policy_node node = { 8, 8 - c->supply, 0, 1, 1 };
        struct gm_policy_idle idle = { 0, 0, c->supply, NOW - 1000 };
        struct gm_policy_snapshot s = { NOW,     &node,        1,    &idle, c->supply ? 1 : 0,
                                        c->bids, c->bid_count, NULL, 0 };
        struct gm_policy_result *r = decide(e, &s);
        size_t n, nm;
        const struct gm_policy_verdict *v = gm_policy_result_verdicts(r, &n);
        const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
        int same = n == c->bid_count && m[0].price == c->want_price &&
                   m[0].demand == c->want_demand && m[0].supply == c->supply;
        for (size_t k = 0; same && k < n; k++) {
            same = v[k].status == c->want[k] && v[k].job_id == c->bids[k].job_id;
            if (v[k].status == GM_POLICY_ADMITTED)
                same = same && v[k].price == c->want_price && v[k].price <= v[k].bid;
        }
        ok(same, "clearing: %s (price %lld, demand %llu)", c->why, (long long)m[0].price,
           (unsigned long long)m[0].demand);
        gm_policy_result_destroy(r);
        gm_policy_destroy(e);
    }
}

/* Two types clear independently. */
static void check_two_types(void)
{
    struct gm_policy *e = make_engine(0, 0, 9000000);
    struct gm_policy_node nodes[] = { { 4, 0, 0, 1, 1 } };
    struct gm_policy_idle idle[] = { { 0, 0, 2, 0 }, { 0, 2, 2, 0 } };
    struct gm_policy_bid bids[] = { { 1, 0, 2, 3000000, 1, 0, 0 },
                                    { 2, 2, 2, 800000, 1, 0, 0 },
                                    { 3, 2, 1, 700000, 2, 0, 0 },
                                    { 4, 0, 1, 2500000, 3, 0, 0 } };
    struct gm_policy_snapshot s = { NOW, nodes, 1, idle, 2, bids, 4, NULL, 0 };
    struct gm_policy_result *r = decide(e, &s);
    size_t nm;
    const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
    is_int(nm, 3, "one market per type");
    ok(m[0].price == 2500000 && m[0].admitted_jobs == 1, "h100 cleared at the left-out bid");
    ok(m[2].price == 700000 && m[2].admitted_jobs == 1, "l4 cleared at its left-out bid");
    ok(!m[1].offered && m[1].supply == 0 && m[1].price == 0, "a100 not offered");
    const struct gm_policy_verdict *v = gm_policy_result_find(r, 3);
    ok(v && v->status == GM_POLICY_WAITING_SUPPLY && v->price == 700000,
       "find job 3: waiting at the l4 price");
    ok(gm_policy_result_find(r, 99) == NULL, "find an unknown job: NULL");
    size_t na;
    const uint32_t *adm = gm_policy_result_admitted(r, &na);
    ok(na == 2 && adm[0] == 0 && adm[1] == 1, "admission order: by type, then bid");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* --------------------------------------------------------------- placement */

struct place_case {
    const char *why;
    uint32_t idle[4];   /* offered h100 GPUs per node (0..3) */
    uint32_t market[4]; /* market GPUs already running per node */
    uint32_t gpus[3];   /* jobs, in admission order (0: none) */
    struct gm_policy_placement want[6];
    size_t want_count;
};

static const struct place_case place_cases[] = {
    { "onto market nodes, best fit, split only when no node holds the job",
      { 2, 4, 1, 0 },
      { 2, 0, 0, 0 },
      { 1, 2, 3 },
      { { 1, 0, 1 }, { 2, 1, 2 }, { 3, 1, 2 }, { 3, 0, 1 } },
      4 },
    { "whole onto a fresh node rather than split over market nodes",
      { 1, 1, 4, 0 },
      { 1, 1, 0, 0 },
      { 2, 0, 0 },
      { { 1, 2, 2 } },
      1 },
    { "best fit among market nodes",
      { 3, 2, 0, 0 },
      { 1, 1, 0, 0 },
      { 2, 0, 0 },
      { { 1, 1, 2 } },
      1 },
    { "a market node before a better-fitting fresh one",
      { 4, 2, 0, 0 },
      { 1, 0, 0, 0 },
      { 2, 0, 0 },
      { { 1, 0, 2 } },
      1 },
    { "split: most GPUs left first, market node first at equal counts",
      { 3, 2, 2, 0 },
      { 0, 0, 1, 0 },
      { 6, 0, 0 },
      { { 1, 0, 3 }, { 1, 2, 2 }, { 1, 1, 1 } },
      3 },
    { "the next job packs onto the node the last one opened",
      { 4, 4, 0, 0 },
      { 0, 0, 0, 0 },
      { 1, 1, 0 },
      { { 1, 0, 1 }, { 2, 0, 1 } },
      2 },
    { "equal fresh nodes: lowest node index",
      { 0, 2, 2, 2 },
      { 0, 0, 0, 0 },
      { 2, 2, 0 },
      { { 1, 1, 2 }, { 2, 2, 2 } },
      2 },
};

static void check_placement(void)
{
    struct gm_policy *e = make_engine(0, 0, 9000000);
    for (size_t c = 0; c < sizeof place_cases / sizeof place_cases[0]; c++) {
        const struct place_case *pc = &place_cases[c];
        struct gm_policy_node nodes[4];
        struct gm_policy_idle idle[4];
        struct gm_policy_bid bids[3];
        size_t ni = 0, nb = 0;
        for (uint32_t n = 0; n < 4; n++) {
            nodes[n] =
                (struct gm_policy_node){ 8, 8 - pc->idle[n] - pc->market[n], pc->market[n], 1, 1 };
            if (pc->idle[n])
                idle[ni++] = (struct gm_policy_idle){ n, 0, pc->idle[n], 0 };
        }
        for (uint32_t j = 0; j < 3 && pc->gpus[j]; j++, nb++)
            bids[nb] = (struct gm_policy_bid){ j + 1, 0, pc->gpus[j], 5000000 - j, 1, 0, 0 };
        struct gm_policy_snapshot s = { NOW, nodes, 4, idle, ni, bids, nb, NULL, 0 };
        struct gm_policy_result *r = decide(e, &s);
        size_t np;
        const struct gm_policy_placement *p = gm_policy_result_placements(r, &np);
        int same = np == pc->want_count;
        for (size_t k = 0; same && k < np; k++)
            same = p[k].job_id == pc->want[k].job_id && p[k].node == pc->want[k].node &&
                   p[k].gpus == pc->want[k].gpus;
        ok(same, "placement: %s", pc->why);
        if (!same)
            for (size_t k = 0; k < np; k++)
                diag("  job %u: node %u, %u GPUs", p[k].job_id, p[k].node, p[k].gpus);
        gm_policy_result_destroy(r);
    }

    /* The first case again, for the verdict's range and the local order. */
    const struct place_case *pc = &place_cases[0];
    struct gm_policy_node nodes[] = {
        { 4, 0, 2, 1, 1 }, { 4, 0, 0, 1, 1 }, { 4, 3, 0, 1, 1 }, { 4, 4, 0, 1, 1 }
    };
    struct gm_policy_idle idle[] = { { 0, 0, 2, 0 }, { 1, 0, 4, 0 }, { 2, 0, 1, 0 } };
    struct gm_policy_bid bids[] = { { 1, 0, pc->gpus[0], 5000000, 1, 0, 0 },
                                    { 2, 0, pc->gpus[1], 4000000, 1, 0, 0 },
                                    { 3, 0, pc->gpus[2], 3000000, 1, 0, 0 } };
    struct gm_policy_snapshot s = { NOW, nodes, 4, idle, 3, bids, 3, NULL, 0 };
    struct gm_policy_result *r = decide(e, &s);
    const struct gm_policy_verdict *v = gm_policy_result_find(r, 3);
    ok(v && v->placement_first == 2 && v->placement_count == 2, "job 3's placement range");
    size_t nl;
    const uint32_t *lo = gm_policy_result_local_order(r, &nl);
    /* Market GPUs after the decision: node 0: 2 + 2, node 1: 4, nodes 2, 3: 0. */
    ok(nl == 4 && lo[0] == 2 && lo[1] == 3 && lo[2] == 0 && lo[3] == 1,
       "local jobs steered to nodes with the fewest market GPUs: %u %u %u %u", lo[0], lo[1], lo[2],
       lo[3]);
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* Jobs that take a fixed count on each node (--gres=gpu:N, --gpus-per-node):
 * two nodes of 4 GPUs with one reserved each offer 3 apiece. */
static void check_per_node(void)
{
    struct gm_policy *e = make_engine(1, 0, 9000000);
    struct gm_policy_node nodes[] = { { 4, 0, 0, 1, 1 }, { 4, 0, 0, 1, 1 } };
    struct gm_policy_idle idle[] = { { 0, 0, 4, 0 }, { 1, 0, 4, 0 } };
    struct gm_policy_snapshot s = { NOW, nodes, 2, idle, 2, NULL, 0, NULL, 0 };
    struct gm_policy_result *r;
    const struct gm_policy_verdict *v;
    const struct gm_policy_placement *p;
    const struct gm_policy_market *m;
    size_t np, nm;
    char reason[GM_JOB_TEXT_MAX];

    /* 4 on one node of 4 that keeps 1: it never fits, and holds up nothing. */
    struct gm_policy_bid one4[] = { { 1, 0, 4, 5000000, 1, 4, 0 }, { 2, 0, 1, 3000000, 2, 0, 0 } };
    s.bids = one4;
    s.bid_count = 2;
    r = decide(e, &s);
    v = gm_policy_result_find(r, 1);
    ok(v && v->status == GM_POLICY_NEVER_FITS && v->placement_count == 0,
       "per node: 4 GPUs on one node never fit nodes of 4 that keep 1");
    gm_job_reason(v, "h100", 9000000, reason, sizeof reason);
    is_str(reason,
           "gpumarket: never fits: no market node holds 4 h100 GPUs beyond ReserveGPUsPerNode",
           "per node: the reason says it never fits");
    v = gm_policy_result_find(r, 2);
    m = gm_policy_result_markets(r, &nm);
    ok(v && v->status == GM_POLICY_ADMITTED && m[0].price == 2000000 && m[0].demand == 1,
       "per node: a job that never fits holds up no lower bid, nor counts in the demand");
    gm_policy_result_destroy(r);

    /* 4 on one node where each offers 3 now (a local job holds one GPU of
     * each; nothing reserved): it waits, and holds lower bids up. */
    struct gm_policy *e0 = make_engine(0, 0, 9000000);
    struct gm_policy_node busy[] = { { 4, 1, 0, 1, 1 }, { 4, 1, 0, 1, 1 } };
    struct gm_policy_idle busy_idle[] = { { 0, 0, 3, 0 }, { 1, 0, 3, 0 } };
    struct gm_policy_snapshot sb = { NOW, busy, 2, busy_idle, 2, one4, 2, NULL, 0 };
    r = decide(e0, &sb);
    v = gm_policy_result_find(r, 1);
    ok(v && v->status == GM_POLICY_WAITING_SUPPLY && v->placement_count == 0,
       "per node: 4 GPUs on one node wait while each node offers 3 of 4");
    gm_job_reason(v, "h100", 9000000, reason, sizeof reason);
    is_str(reason,
           "gpumarket: bid 5.00 >= price 5.00 (h100), waiting for 4 offered GPUs on one node",
           "per node: the reason says one node");
    v = gm_policy_result_find(r, 2);
    ok(v && v->status == GM_POLICY_BELOW_PRICE,
       "per node: a lower bid does not jump the waiting one (below the price it set)");
    m = gm_policy_result_markets(r, &nm);
    ok(m[0].price == 5000000 && m[0].admitted_gpus == 0, "per node: price is the bid left out");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e0);

    /* The same 4 spread (--gpus=4) is admitted over both nodes. */
    one4[0].gpus_per_node = 0;
    r = decide(e, &s);
    v = gm_policy_result_find(r, 1);
    p = gm_policy_result_placements(r, &np);
    ok(v && v->status == GM_POLICY_ADMITTED && v->placement_count == 2 &&
           p[v->placement_first].gpus == 3 && p[v->placement_first + 1].gpus == 1,
       "spread: 4 GPUs split 3 + 1");
    gm_policy_result_destroy(r);

    /* 7 spread over nodes that hold 6 beyond the reserve, and 4 on each of
     * 2 such nodes, never fit either. */
    struct gm_policy_bid big[] = { { 1, 0, 7, 5000000, 1, 0, 0 }, { 2, 0, 6, 5000000, 1, 3, 0 } };
    s.bids = big;
    r = decide(e, &s);
    v = gm_policy_result_find(r, 1);
    gm_job_reason(v, "h100", 9000000, reason, sizeof reason);
    ok(v && v->status == GM_POLICY_NEVER_FITS &&
           !strcmp(reason, "gpumarket: never fits: the market's nodes hold fewer than 7 h100 GPUs "
                           "beyond ReserveGPUsPerNode"),
       "spread: 7 never fit 2 nodes of 4 that keep 1: %s", reason);
    v = gm_policy_result_find(r, 2);
    ok(v && v->status == GM_POLICY_ADMITTED, "per node: 3 on each of 2 nodes fit exactly");
    gm_policy_result_destroy(r);
    big[1].gpus = 9; /* 3 on each of 3 */
    r = decide(e, &s);
    v = gm_policy_result_find(r, 2);
    gm_job_reason(v, "h100", 9000000, reason, sizeof reason);
    is_str(reason,
           "gpumarket: never fits: fewer than 3 market nodes hold 3 h100 GPUs each beyond "
           "ReserveGPUsPerNode",
           "per node: 3 on each of 3 nodes never fit 2 nodes");
    gm_policy_result_destroy(r);

    /* 2 on each of 2 nodes: distinct nodes, 2 each. */
    struct gm_policy_bid two2[] = { { 1, 0, 4, 5000000, 1, 2, 0 }, { 2, 0, 2, 3000000, 2, 2, 0 } };
    s.bids = two2;
    r = decide(e, &s);
    v = gm_policy_result_find(r, 1);
    p = gm_policy_result_placements(r, &np);
    ok(v && v->status == GM_POLICY_ADMITTED && v->placement_count == 2 &&
           p[v->placement_first].node != p[v->placement_first + 1].node &&
           p[v->placement_first].gpus == 2 && p[v->placement_first + 1].gpus == 2,
       "per node: 2 on each of 2 distinct nodes");
    v = gm_policy_result_find(r, 2);
    ok(v && v->status == GM_POLICY_WAITING_SUPPLY,
       "per node: 2 GPUs wait when 2 are offered but 1 per node");
    gm_job_reason(gm_policy_result_find(r, 1), "h100", 9000000, reason, sizeof reason);
    gm_policy_result_destroy(r);
    struct gm_policy_verdict w = { 9, 0, 6, GM_POLICY_WAITING_SUPPLY, 3000000, 2000000, 0, 0, 2 };
    gm_job_reason(&w, "h100", 9000000, reason, sizeof reason);
    is_str(
        reason,
        "gpumarket: bid 3.00 >= price 2.00 (h100), waiting for 2 offered GPUs on each of 3 nodes",
        "per node: the reason says how many on how many nodes");

    /* A count per node that does not divide the total reads as spread. */
    struct gm_policy_bid odd[] = { { 1, 0, 3, 5000000, 1, 2, 0 } };
    s.bids = odd;
    s.bid_count = 1;
    r = decide(e, &s);
    v = gm_policy_result_find(r, 1);
    ok(v && v->status == GM_POLICY_ADMITTED && v->gpus_per_node == 0 && v->placement_count == 1,
       "per node: 3 with 2 per node reads as spread");
    gm_policy_result_destroy(r);

    /* After a spread job takes 2 of node 0's 3, a job of 2 per node for one
     * node goes to node 1; then one of 1 per node finds 1 left on each and
     * takes the node used last. */
    struct gm_policy_bid mix[] = { { 1, 0, 2, 5000000, 1, 0, 0 },
                                   { 2, 0, 2, 4000000, 1, 2, 0 },
                                   { 3, 0, 1, 3000000, 1, 1, 0 } };
    s.bids = mix;
    s.bid_count = 3;
    r = decide(e, &s);
    p = gm_policy_result_placements(r, &np);
    ok(np == 3 && p[0].job_id == 1 && p[0].node == 0 && p[1].job_id == 2 && p[1].node == 1 &&
           p[1].gpus == 2 && p[2].job_id == 3 && p[2].node == 1 && p[2].gpus == 1,
       "per node: placed where a node still holds the count");
    if (np != 3 || p[1].node != 1 || p[2].node != 1)
        for (size_t k = 0; k < np; k++)
            diag("  job %u: node %u, %u GPUs", p[k].job_id, p[k].node, p[k].gpus);
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* A job array's pending record: each task a bid (3 GPUs offered). */
static void check_array(void)
{
    struct gm_policy *e = make_engine(0, 0, 9000000);
    struct gm_policy_node nodes[] = { { 3, 0, 0, 1, 1 } };
    struct gm_policy_idle idle[] = { { 0, 0, 3, 0 } };
    struct gm_policy_bid bids[] = { { 1, 0, 1, 5000000, 1, 0, 4 }, { 2, 0, 1, 4000000, 2, 0, 0 } };
    struct gm_policy_snapshot s = { NOW, nodes, 1, idle, 1, bids, 2, NULL, 0 };
    struct gm_policy_result *r = decide(e, &s);
    const struct gm_policy_verdict *v1 = gm_policy_result_find(r, 1);
    const struct gm_policy_verdict *v2 = gm_policy_result_find(r, 2);
    size_t nm, np;
    const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
    gm_policy_result_placements(r, &np);
    ok(v1 && v1->status == GM_POLICY_ADMITTED && v1->placement_count == 1,
       "array: its first task is admitted");
    ok(m[0].demand == 5 && m[0].admitted_gpus == 3 && m[0].admitted_jobs == 3 && np == 3,
       "array: 4 tasks of 1 GPU are 4 bids: demand %llu, 3 admitted, %zu placed",
       (unsigned long long)m[0].demand, np);
    ok(v2 && v2->status == GM_POLICY_BELOW_PRICE && m[0].price == 5000000,
       "array: its fourth task left out sets the price: a lower bid waits below it");
    gm_policy_result_destroy(r);

    bids[0].tasks = 2;
    r = decide(e, &s);
    v2 = gm_policy_result_find(r, 2);
    m = gm_policy_result_markets(r, &nm);
    ok(v2 && v2->status == GM_POLICY_ADMITTED && m[0].price == 2000000,
       "array: 2 tasks leave room for the next bid at the reserve price");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* --------------------------------------------------------------- preemption */

static void check_preemption(void)
{
    static const struct gm_policy_lease leases[] = {
        { 1, 0, 1, 3000000, 100 }, /* dearer */
        { 2, 0, 1, 2000000, 100 }, /* cheap, older */
        { 3, 0, 1, 2000000, 200 }, /* cheap, newer: first */
        { 4, 0, 1, 2000000, 200 }, /* same as 3, higher job id: before 3 */
        { 5, 0, 4, 1000000, 50 },  /* cheapest of all */
    };
    uint32_t order[5] = { 0 };
    int rc = gm_policy_preempt_order(leases, 5, order);
    ok(rc == 0 && order[0] == 4 && order[1] == 3 && order[2] == 2 && order[3] == 1 && order[4] == 0,
       "preemption: lowest price, then most recent start, then higher job id: "
       "%u %u %u %u %u",
       order[0], order[1], order[2], order[3], order[4]);
    ok(gm_policy_preempt_order(leases, 0, order) == 0, "no leases: nothing to order");

    struct gm_policy *e = make_engine(0, 0, 9000000);
    struct gm_policy_node node = { 5, 0, 5, 1, 1 };
    struct gm_policy_snapshot s = { NOW, &node, 1, NULL, 0, NULL, 0, leases, 5 };
    struct gm_policy_result *r = decide(e, &s);
    size_t n;
    const uint32_t *o = gm_policy_result_preempt_order(r, &n);
    ok(n == 5 && memcmp(o, order, sizeof order) == 0, "decision carries the same order");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* ------------------------------------------------------------------ history */

static void check_history(void)
{
    struct gm_policy *e = make_engine(0, 0, 9000000);
    struct gm_policy_node node = { 4, 0, 0, 1, 1 };
    struct gm_policy_idle idle[] = { { 0, 0, 2, 0 }, { 0, 2, 2, 0 } };
    struct gm_policy_bid bids[] = { { 1, 0, 4, 3000000, 1, 0, 0 } };
    struct gm_policy_snapshot s = { NOW, &node, 1, idle, 2, bids, 1, NULL, 0 };
    struct gm_policy_result *r = decide(e, &s);
    size_t n;
    const struct gm_policy_price_record *h = gm_policy_result_history(r, &n);
    ok(n == 2 && h[0].type == 0 && h[0].price == 3000000 && h[0].supply == 2 && h[0].demand == 4 &&
           h[0].time == NOW && h[1].type == 2 && h[1].price == 500000,
       "first decision records every offered type");
    gm_policy_result_destroy(r);

    s.now = NOW + 10;
    r = decide(e, &s);
    gm_policy_result_history(r, &n);
    is_int(n, 0, "same market again: no record");
    gm_policy_result_destroy(r);

    bids[0].bid = 3500000;
    s.now = NOW + 20;
    r = decide(e, &s);
    h = gm_policy_result_history(r, &n);
    ok(n == 1 && h[0].type == 0 && h[0].price == 3500000 && h[0].time == NOW + 20,
       "a price change is recorded for its type only");
    gm_policy_result_destroy(r);

    idle[1].count = 1;
    node.gpus_used_local = 1;
    r = decide(e, &s);
    h = gm_policy_result_history(r, &n);
    ok(n == 1 && h[0].type == 2 && h[0].supply == 1 && h[0].price == 500000,
       "a supply change is recorded");
    gm_policy_result_destroy(r);

    /* A refused snapshot leaves the engine's state alone. */
    char err[256];
    struct gm_policy_bid dup[] = { { 1, 0, 1, 0, 1, 0, 0 }, { 1, 0, 1, 0, 2, 0, 0 } };
    struct gm_policy_snapshot bad = s;
    bad.bids = dup;
    bad.bid_count = 2;
    ok(gm_policy_decide(e, &bad, &r, err, sizeof err) == -1 && r == NULL,
       "a bad snapshot is refused");
    r = decide(e, &s);
    gm_policy_result_history(r, &n);
    is_int(n, 0, "and the history is unchanged by it");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* ---------------------------------------------------------- snapshot errors */

struct bad_snapshot {
    const char *why;
    struct gm_policy_node nodes[2];
    size_t node_count;
    struct gm_policy_idle idle[2];
    size_t idle_count;
    struct gm_policy_bid bids[2];
    size_t bid_count;
    struct gm_policy_lease leases[2];
    size_t lease_count;
    const char *expect;
};

static const struct bad_snapshot bad_snapshots[] = {
    { "node with too many GPUs",
      { { 1025, 0, 0, 1, 1 } },
      1,
      { { 0, 0, 1025, 0 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "node 0 has 1025 GPUs: the most a node may have is 1024" },
    { "used above total",
      { { 2, 2, 1, 1, 1 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "2 local + 1 market GPUs in use but only 2" },
    { "idle does not add up",
      { { 4, 1, 0, 1, 1 } },
      1,
      { { 0, 0, 2, 0 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "4 GPUs in total but 2 idle + 1 local + 0 market" },
    { "idle too many",
      { { 4, 1, 0, 1, 1 } },
      1,
      { { 0, 0, 4, 0 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "4 GPUs in total but 4 idle" },
    { "idle node out of range",
      { { 4, 0, 0, 1, 1 } },
      1,
      { { 1, 0, 4, 0 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "node 1 out of range" },
    { "idle type out of range",
      { { 4, 0, 0, 1, 1 } },
      1,
      { { 0, 3, 4, 0 } },
      1,
      { { 0 } },
      0,
      { { 0 } },
      0,
      "GPU type 3 out of range" },
    { "bid type out of range",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 9, 1, 0, 0, 0, 0 } },
      1,
      { { 0 } },
      0,
      "job 7: GPU type 9 out of range" },
    { "bid for 0 GPUs",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 0, 0, 0, 0, 0 } },
      1,
      { { 0 } },
      0,
      "0 GPUs" },
    { "negative bid",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 1, -1, 0, 0, 0 } },
      1,
      { { 0 } },
      0,
      "negative bid" },
    { "two bids of one job",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 1, 0, 0, 0, 0 }, { 7, 0, 2, 0, 0, 0, 0 } },
      2,
      { { 0 } },
      0,
      "job 7 has two bids" },
    { "two leases of one job",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 1, 0, 0 }, { 7, 0, 1, 0, 0 } },
      2,
      "job 7 has two leases" },
    { "lease with 0 GPUs",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 0, 0, 0 } },
      1,
      "0 GPUs" },
    { "lease with a negative price",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 0, 1, -5, 0 } },
      1,
      "negative price" },
    { "lease type out of range",
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 0 } },
      0,
      { { 7, 3, 1, 0, 0 } },
      1,
      "GPU type 3 out of range" },
};

static void check_bad_snapshots(void)
{
    struct gm_policy *e = make_engine(0, 0, 9000000);
    for (size_t i = 0; i < sizeof bad_snapshots / sizeof bad_snapshots[0]; i++) {
        const struct bad_snapshot *c = &bad_snapshots[i];
        struct gm_policy_snapshot s = { NOW,          c->nodes,      c->node_count,
                                        c->idle,      c->idle_count, c->bids,
                                        c->bid_count, c->leases,     c->lease_count };
        struct gm_policy_result *r = (struct gm_policy_result *)e;
        char err[256] = "";
        ok(gm_policy_decide(e, &s, &r, err, sizeof err) == -1 && r == NULL &&
               strncmp(err, "policy: ", 8) == 0 && strstr(err, c->expect),
           "snapshot refused: %s: %s", c->why, err);
    }
    struct gm_policy_snapshot s = { NOW, NULL, 3, NULL, 0, NULL, 0, NULL, 0 };
    struct gm_policy_result *r;
    char err[256];
    ok(gm_policy_decide(e, &s, &r, err, sizeof err) == -1 && strstr(err, "without its array"),
       "a count without its array: %s", err);
    struct gm_policy_snapshot empty = { NOW, NULL, 0, NULL, 0, NULL, 0, NULL, 0 };
    ok(gm_policy_decide(e, &empty, &r, err, sizeof err) == 0, "an empty cluster is fine");
    size_t n;
    ok(gm_policy_result_offers(r, &n) && n == 0, "and offers nothing");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
}

/* ------------------------------------------------------------------ engines */

static void check_engines(void)
{
    struct gm_policy *e;
    char err[256];
    struct gm_policy_gpu_type dup[] = { { "h100", 1, 1 }, { "h100", 1, 2 } };
    struct gm_policy_gpu_type noname[] = { { "", 1, 1 } };
    struct gm_policy_gpu_type negative[] = { { "h100", 1, -1 } };
    struct {
        const char *why;
        struct gm_policy_params p;
        const char *expect;
    } cases[] = {
        { "no types", { 0, 0, 1, two_types, 0 }, "GPU types are needed" },
        { "too many types", { 0, 0, 1, two_types, GM_POLICY_MAX_TYPES + 1 }, "GPU types" },
        { "negative dwell", { 0, -1, 1, two_types, 3 }, "negative" },
        { "MaxBid zero", { 0, 0, 0, two_types, 3 }, "MaxBid" },
        { "type listed twice", { 0, 0, 1, dup, 2 }, "listed twice" },
        { "type without a name", { 0, 0, 1, noname, 1 }, "no name" },
        { "negative reserve price", { 0, 0, 1, negative, 1 }, "negative reserve" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        e = (struct gm_policy *)err;
        ok(gm_policy_create(&cases[i].p, &e, err, sizeof err) == -1 && e == NULL &&
               strstr(err, cases[i].expect),
           "engine refused: %s: %s", cases[i].why, err);
    }

    static const char text[] = "MarketPartition=market\nReserveGPUsPerNode=1\n"
                               "IdleDwellSeconds=30\nReservePrice=h100:2.40,1\nMaxBid=50\n";
    struct gm_conf *conf;
    if (gm_conf_parse("t.conf", text, sizeof text - 1, &conf, err, sizeof err) < 0)
        bail_out("%s", err);
    const char *names[] = { "a100", "h100" };
    ok(gm_policy_create_from_conf(conf, names, 2, &e, err, sizeof err) == 0,
       "engine from gpumarket.conf");
    uint32_t t = 9;
    ok(gm_policy_type_index(e, "h100", &t) == 0 && t == 1 && gm_policy_type_count(e) == 2 &&
           strcmp(gm_policy_type_name(e, 0), "a100") == 0 && gm_policy_type_name(e, 2) == NULL &&
           gm_policy_type_index(e, "l4", &t) == -1,
       "type names and indexes");
    /* a100 takes the default 1.00; one node with 3 idle GPUs of each. */
    struct gm_policy_node node = { 6, 0, 0, 1, 1 };
    struct gm_policy_idle idle[] = { { 0, 0, 3, NOW - 30 }, { 0, 1, 3, NOW - 31 } };
    struct gm_policy_bid bids[] = { { 1, 1, 1, 50000001, 1, 0, 0 } };
    struct gm_policy_snapshot s = { NOW, &node, 1, idle, 2, bids, 1, NULL, 0 };
    struct gm_policy_result *r = decide(e, &s);
    size_t n;
    const struct gm_policy_market *m = gm_policy_result_markets(r, &n);
    ok(m[0].reserve_price == 1000000 && m[1].reserve_price == 2400000,
       "reserve prices from the file (type and default)");
    ok(m[0].supply + m[1].supply == 5 && m[1].supply == 3,
       "reserve of 1 GPU taken from the most recently idle type");
    ok(gm_policy_result_find(r, 1)->status == GM_POLICY_ABOVE_MAX_BID, "MaxBid from the file");
    gm_policy_result_destroy(r);
    gm_policy_destroy(e);
    ok(gm_policy_create_from_conf(conf, names, 0, &e, err, sizeof err) == -1,
       "no type names refused");
    gm_conf_destroy(conf);

    for (int st = GM_POLICY_ADMITTED; st <= GM_POLICY_NEVER_FITS; st++)
        ok(strcmp(gm_policy_status_string((enum gm_policy_status)st), "unknown") != 0,
           "status %d has a reason: %s", st, gm_policy_status_string((enum gm_policy_status)st));
}

int main(void)
{
    plan(TAP_NO_PLAN);
    check_offers();
    check_clearing();
    check_two_types();
    check_placement();
    check_per_node();
    check_array();
    check_preemption();
    check_history();
    check_bad_snapshots();
    check_engines();
    done_testing();
    return exit_status();
}
