/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The market policy engine (see policy.h): offers, uniform-price clearing,
 * packing placement, local and preemption orders, price history. */
#include "config.h"

#include "market/policy.h"

#include "common/conf.h"
#include "common/money.h"
#include "common/text.h"
#include "market/sort.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct market_state {
    int valid;
    int64_t price;
    uint64_t supply;
    uint64_t demand;
};

struct gm_policy {
    uint32_t reserve_gpus_per_node;
    int64_t idle_dwell_seconds;
    int64_t max_bid;
    size_t type_count;
    char *names[GM_POLICY_MAX_TYPES];
    int offered[GM_POLICY_MAX_TYPES];
    int64_t reserve[GM_POLICY_MAX_TYPES];
    struct market_state last[GM_POLICY_MAX_TYPES];
    /* Scratch memory reused from decision to decision, so a decision does
     * not pay for fresh pages; grows only. */
    void *scratch;
    size_t scratch_size;
    /* Placement's own scratch: it runs while clearing holds the other. */
    void *fit_scratch;
    size_t fit_scratch_size;
};

struct gm_policy_result {
    struct gm_policy_market markets[GM_POLICY_MAX_TYPES];
    size_t market_count;
    struct gm_policy_offer *offers;
    size_t offer_count;
    struct gm_policy_verdict *verdicts;
    size_t verdict_count;
    uint32_t *by_job; /* verdict indexes sorted by job id */
    uint32_t *admitted;
    size_t admitted_count;
    struct gm_policy_placement *placements;
    size_t placement_count;
    uint32_t *local_order;
    size_t node_count;
    uint32_t *preempt_order;
    size_t lease_count;
    struct gm_policy_price_record history[GM_POLICY_MAX_TYPES];
    size_t history_count;
};

/* ------------------------------------------------------------------ engine */

int gm_policy_create(const struct gm_policy_params *params, struct gm_policy **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (!params || !params->types || params->type_count == 0 ||
        params->type_count > GM_POLICY_MAX_TYPES)
        return gm_errf(err, errlen, "policy: between 1 and %d GPU types are needed",
                       GM_POLICY_MAX_TYPES);
    if (params->idle_dwell_seconds < 0)
        return gm_errf(err, errlen, "policy: IdleDwellSeconds is negative");
    if (params->max_bid <= 0)
        return gm_errf(err, errlen, "policy: MaxBid must be above 0");
    struct gm_policy *e = calloc(1, sizeof *e);
    if (!e)
        return gm_errf(err, errlen, "policy: out of memory");
    e->reserve_gpus_per_node = params->reserve_gpus_per_node;
    e->idle_dwell_seconds = params->idle_dwell_seconds;
    e->max_bid = params->max_bid;
    e->type_count = params->type_count;
    for (size_t t = 0; t < params->type_count; t++) {
        const struct gm_policy_gpu_type *gt = &params->types[t];
        if (!gt->name || !gt->name[0]) {
            gm_errf(err, errlen, "policy: GPU type %zu has no name", t);
            goto error;
        }
        for (size_t u = 0; u < t; u++)
            if (strcmp(e->names[u], gt->name) == 0) {
                gm_errf(err, errlen, "policy: GPU type %s is listed twice", gt->name);
                goto error;
            }
        if (gt->offered && gt->reserve_price < 0) {
            gm_errf(err, errlen, "policy: GPU type %s: negative reserve price", gt->name);
            goto error;
        }
        if (!(e->names[t] = strdup(gt->name))) {
            gm_errf(err, errlen, "policy: out of memory");
            goto error;
        }
        e->offered[t] = gt->offered != 0;
        e->reserve[t] = gt->offered ? gt->reserve_price : 0;
    }
    *out = e;
    return 0;
error:
    gm_policy_destroy(e);
    return -1;
}

int gm_policy_create_from_conf(const struct gm_conf *conf, const char *const *type_names,
                               size_t type_count, struct gm_policy **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!conf || !type_names || type_count == 0 || type_count > GM_POLICY_MAX_TYPES)
        return gm_errf(err, errlen, "policy: between 1 and %d GPU types are needed",
                       GM_POLICY_MAX_TYPES);
    struct gm_policy_gpu_type types[GM_POLICY_MAX_TYPES];
    for (size_t t = 0; t < type_count; t++) {
        types[t].name = type_names[t];
        int64_t price = 0;
        types[t].offered = type_names[t] && gm_conf_reserve_price(conf, type_names[t], &price) == 0;
        types[t].reserve_price = price;
    }
    struct gm_policy_params params = {
        .reserve_gpus_per_node = gm_conf_reserve_gpus_per_node(conf),
        .idle_dwell_seconds = gm_conf_idle_dwell_seconds(conf),
        .max_bid = gm_conf_max_bid(conf),
        .types = types,
        .type_count = type_count,
    };
    return gm_policy_create(&params, out, err, errlen);
}

void gm_policy_destroy(struct gm_policy *e)
{
    if (!e)
        return;
    free(e->scratch);
    free(e->fit_scratch);
    for (size_t t = 0; t < e->type_count; t++)
        free(e->names[t]);
    free(e);
}

size_t gm_policy_type_count(const struct gm_policy *e)
{
    return e->type_count;
}

const char *gm_policy_type_name(const struct gm_policy *e, uint32_t type)
{
    return type < e->type_count ? e->names[type] : NULL;
}

int gm_policy_type_index(const struct gm_policy *e, const char *name, uint32_t *type)
{
    for (size_t t = 0; name && t < e->type_count; t++)
        if (strcmp(e->names[t], name) == 0) {
            *type = (uint32_t)t;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------ sorting */

struct idle_item {
    int64_t since;
    uint32_t node;
    uint32_t type;
    uint32_t count;
};

/* By node, then longest idle first, then type: the order GPUs are offered. */
#define IDLE_LESS(ctx, x, y)                              \
    ((x)->node != (y)->node     ? (x)->node < (y)->node   \
     : (x)->since != (y)->since ? (x)->since < (y)->since \
                                : (x)->type < (y)->type)
GM_DEFINE_MERGE_SORT(sort_idle, struct idle_item, IDLE_LESS)

struct bid_item {
    int64_t bid; /* effective */
    int64_t submit;
    uint32_t job_id;
    uint32_t type;
    uint32_t index; /* into the snapshot's bids */
};

/* By type, then highest bid, earliest submit time, lowest job id. */
#define BID_LESS(ctx, x, y)                                   \
    ((x)->type != (y)->type       ? (x)->type < (y)->type     \
     : (x)->bid != (y)->bid       ? (x)->bid > (y)->bid       \
     : (x)->submit != (y)->submit ? (x)->submit < (y)->submit \
                                  : (x)->job_id < (y)->job_id)
GM_DEFINE_MERGE_SORT(sort_bids, struct bid_item, BID_LESS)

/* The order of the bids to clear (the verdicts marked WAITING_SUPPLY, n of
 * them, whose effective bids span bid_low..bid_high and submit times
 * first..last), in BID_LESS order, into keys[0..n).index; keys has room for
 * 2n, items for 2n.  When every bid is below 2^56 and the submit times span
 * less than 2^32 seconds (always, in practice), the order is the order of
 * the 128-bit key (k1: type above the bids' range | bid_high - bid, k2:
 * submit - first | job id): a radix sort on k1 takes a few linear passes,
 * one per byte of the range the bids span, and leaves each run of equal k1
 * for the caller to sort by k2 when it gets there (gm_sort_run_by_key2);
 * otherwise the merge sort compares the fields, and each k1 is distinct.
 * Both give the same order. */
static void sort_bid_order(const struct gm_policy_snapshot *s, const struct gm_policy_result *r,
                           struct gm_key_item *keys, struct bid_item *items, size_t n,
                           int64_t bid_low, int64_t bid_high, int64_t first, int64_t last)
{
    const uint64_t bid_limit = (UINT64_C(1) << 56) - 1;
    if (n == 0)
        return;
    /* Unsigned subtraction gives the exact span even across int64's range. */
    if ((uint64_t)bid_high > bid_limit || (uint64_t)last - (uint64_t)first > UINT32_MAX) {
        for (size_t i = 0, k = 0; k < n; i++) {
            const struct gm_policy_verdict *v = &r->verdicts[i];
            if (v->status == GM_POLICY_WAITING_SUPPLY)
                items[k++] = (struct bid_item){ v->bid, s->bids[i].submit_time, v->job_id, v->type,
                                                (uint32_t)i };
        }
        sort_bids(items, items + n, n, NULL);
        for (size_t k = 0; k < n; k++)
            keys[k] = (struct gm_key_item){ k, 0, items[k].index };
        return;
    }
    unsigned width = 0;
    while (((uint64_t)(bid_high - bid_low) >> width) != 0)
        width++;
    for (size_t i = 0, k = 0; k < n; i++) {
        const struct gm_policy_verdict *v = &r->verdicts[i];
        if (v->status == GM_POLICY_WAITING_SUPPLY)
            keys[k++] = (struct gm_key_item){
                (uint64_t)v->type << width | (uint64_t)(bid_high - v->bid),
                ((uint64_t)s->bids[i].submit_time - (uint64_t)first) << 32 | v->job_id, (uint32_t)i
            };
    }
    gm_radix_sort_k1(keys, keys + n, n);
}

struct node_item {
    uint64_t market_gpus;
    uint32_t node;
};
#define NODE_LESS(ctx, x, y)                                                    \
    ((x)->market_gpus != (y)->market_gpus ? (x)->market_gpus < (y)->market_gpus \
                                          : (x)->node < (y)->node)
GM_DEFINE_MERGE_SORT(sort_nodes, struct node_item, NODE_LESS)

struct lease_item {
    int64_t price;
    int64_t start;
    uint32_t job_id;
    uint32_t index;
};
/* Cheapest first, then most recently started (least work lost), then the
 * higher job id. */
#define LEASE_LESS(ctx, x, y)                             \
    ((x)->price != (y)->price   ? (x)->price < (y)->price \
     : (x)->start != (y)->start ? (x)->start > (y)->start \
                                : (x)->job_id > (y)->job_id)
GM_DEFINE_MERGE_SORT(sort_leases, struct lease_item, LEASE_LESS)

int gm_policy_preempt_order(const struct gm_policy_lease *leases, size_t count, uint32_t *order)
{
    if (count == 0)
        return 0;
    if (count > SIZE_MAX / (2 * sizeof(struct lease_item)))
        return -1;
    struct lease_item *items = malloc(2 * count * sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < count; i++)
        items[i] = (struct lease_item){ leases[i].price, leases[i].start_time, leases[i].job_id,
                                        (uint32_t)i };
    sort_leases(items, items + count, count, NULL);
    for (size_t i = 0; i < count; i++)
        order[i] = items[i].index;
    free(items);
    return 0;
}

/* Check that job ids are unique; ids[] gets (job_id << 32 | index) sorted by
 * job id.  Returns the index of a repeated entry, or -1. */
static long find_repeated_job(uint64_t *ids, uint64_t *tmp, size_t n)
{
    gm_radix_sort_hi32(ids, tmp, n);
    for (size_t i = 1; i < n; i++)
        if ((ids[i] >> 32) == (ids[i - 1] >> 32))
            return (long)(uint32_t)ids[i];
    return -1;
}

/* ----------------------------------------------------------------- decide */

void gm_policy_result_destroy(struct gm_policy_result *r)
{
    if (!r)
        return;
    free(r->offers);
    free(r->verdicts);
    free(r->by_job);
    free(r->admitted);
    free(r->placements);
    free(r->local_order);
    free(r->preempt_order);
    free(r);
}

/* malloc that treats n == 0 as 1 so every array is a real pointer. */
static void *alloc_array(size_t n, size_t size)
{
    if (n != 0 && size > SIZE_MAX / n)
        return NULL;
    return malloc(n ? n * size : 1);
}

/* The engine's scratch area, at least `n * size` bytes; NULL when memory
 * runs out.  Each phase takes it afresh, so at most one phase uses it. */
static void *scratch_area(void **area, size_t *area_size, size_t n, size_t size)
{
    if (n != 0 && size > SIZE_MAX / n)
        return NULL;
    size_t bytes = n ? n * size : 1;
    if (bytes > *area_size) {
        void *p = realloc(*area, bytes);
        if (!p)
            return NULL;
        *area = p;
        *area_size = bytes;
    }
    return *area;
}

static void *scratch(struct gm_policy *e, size_t n, size_t size)
{
    return scratch_area(&e->scratch, &e->scratch_size, n, size);
}

static int check_snapshot(const struct gm_policy *e, const struct gm_policy_snapshot *s, char *err,
                          size_t errlen)
{
    if ((s->node_count && !s->nodes) || (s->idle_count && !s->idle) || (s->bid_count && !s->bids) ||
        (s->lease_count && !s->leases))
        return gm_errf(err, errlen, "policy: snapshot has a count without its array");
    if (s->node_count > UINT32_MAX || s->idle_count > UINT32_MAX || s->bid_count > UINT32_MAX ||
        s->lease_count > UINT32_MAX)
        return gm_errf(err, errlen, "policy: snapshot has more than 2^32 entries");
    for (size_t i = 0; i < s->node_count; i++) {
        const struct gm_policy_node *n = &s->nodes[i];
        if (n->gpus_total > GM_POLICY_MAX_NODE_GPUS)
            return gm_errf(err, errlen,
                           "policy: snapshot node %zu has %u GPUs: the "
                           "most a node may have is %d",
                           i, n->gpus_total, GM_POLICY_MAX_NODE_GPUS);
        if ((uint64_t)n->gpus_used_local + n->gpus_used_market > n->gpus_total)
            return gm_errf(err, errlen,
                           "policy: snapshot node %zu: %u local + %u "
                           "market GPUs in use but only %u in total",
                           i, n->gpus_used_local, n->gpus_used_market, n->gpus_total);
    }
    for (size_t i = 0; i < s->idle_count; i++) {
        const struct gm_policy_idle *d = &s->idle[i];
        if (d->node >= s->node_count)
            return gm_errf(err, errlen,
                           "policy: snapshot idle record %zu: node %u "
                           "out of range (%zu nodes)",
                           i, d->node, s->node_count);
        if (d->type >= e->type_count)
            return gm_errf(err, errlen,
                           "policy: snapshot idle record %zu: GPU type "
                           "%u out of range (%zu types)",
                           i, d->type, e->type_count);
    }
    for (size_t i = 0; i < s->bid_count; i++) {
        const struct gm_policy_bid *b = &s->bids[i];
        if (b->type >= e->type_count)
            return gm_errf(err, errlen,
                           "policy: job %u: GPU type %u out of range "
                           "(%zu types)",
                           b->job_id, b->type, e->type_count);
        if (b->gpus == 0)
            return gm_errf(err, errlen, "policy: job %u asks for 0 GPUs", b->job_id);
        if (b->bid < 0)
            return gm_errf(err, errlen, "policy: job %u has a negative bid", b->job_id);
    }
    for (size_t i = 0; i < s->lease_count; i++) {
        const struct gm_policy_lease *l = &s->leases[i];
        if (l->type >= e->type_count)
            return gm_errf(err, errlen,
                           "policy: lease of job %u: GPU type %u out "
                           "of range (%zu types)",
                           l->job_id, l->type, e->type_count);
        if (l->gpus == 0 || l->price < 0)
            return gm_errf(err, errlen, "policy: lease of job %u: %s", l->job_id,
                           l->gpus == 0 ? "0 GPUs" : "negative price");
    }
    return 0;
}

/* Offers: per node, the eligible GPUs idle the longest, at most the node's
 * idle count minus its reserve.  Fills r->offers and supply[]. */
static int compute_offers(struct gm_policy *e, const struct gm_policy_snapshot *s,
                          struct gm_policy_result *r, uint64_t *supply, char *err, size_t errlen)
{
    size_t n = s->idle_count;
    struct idle_item *items = scratch(e, 2 * n, sizeof *items);
    uint64_t *idle_sum = calloc(s->node_count ? s->node_count : 1, sizeof *idle_sum);
    r->offers = alloc_array(n, sizeof *r->offers);
    if (!items || !idle_sum || !r->offers) {
        free(idle_sum);
        return gm_errf(err, errlen, "policy: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct gm_policy_idle *d = &s->idle[i];
        items[i] = (struct idle_item){ d->idle_since, d->node, d->type, d->count };
        idle_sum[d->node] += d->count;
    }
    for (size_t i = 0; i < s->node_count; i++) {
        const struct gm_policy_node *nd = &s->nodes[i];
        uint64_t used = (uint64_t)nd->gpus_used_local + nd->gpus_used_market;
        if (idle_sum[i] + used != nd->gpus_total) {
            gm_errf(err, errlen,
                    "policy: snapshot node %zu: %u GPUs in total but "
                    "%llu idle + %u local + %u market",
                    i, nd->gpus_total, (unsigned long long)idle_sum[i], nd->gpus_used_local,
                    nd->gpus_used_market);
            free(idle_sum);
            return -1;
        }
    }
    sort_idle(items, items + n, n, NULL);

    uint64_t per_type[GM_POLICY_MAX_TYPES] = { 0 };
    size_t offers = 0;
    for (size_t i = 0; i < n;) {
        uint32_t node = items[i].node;
        size_t end = i;
        while (end < n && items[end].node == node)
            end++;
        const struct gm_policy_node *nd = &s->nodes[node];
        uint64_t idle = idle_sum[node];
        uint64_t budget =
            nd->in_market_partition && nd->available && idle > e->reserve_gpus_per_node
                ? idle - e->reserve_gpus_per_node
                : 0;
        uint64_t mask_types[(GM_POLICY_MAX_TYPES + 63) / 64] = { 0 };
        for (size_t k = i; k < end && budget > 0; k++) {
            const struct idle_item *it = &items[k];
            /* 128-bit: now - since cannot overflow whatever the inputs. */
            if (!e->offered[it->type] || (__int128)s->now - it->since < e->idle_dwell_seconds)
                continue;
            uint64_t take = it->count < budget ? it->count : budget;
            if (take == 0)
                continue;
            per_type[it->type] += take;
            mask_types[it->type / 64] |= UINT64_C(1) << (it->type % 64);
            budget -= take;
        }
        for (uint32_t t = 0; t < e->type_count; t++) {
            if (!(mask_types[t / 64] & (UINT64_C(1) << (t % 64))))
                continue;
            /* A node offers at most its idle GPUs, which fit in uint32. */
            r->offers[offers++] = (struct gm_policy_offer){ node, t, (uint32_t)per_type[t] };
            supply[t] += per_type[t];
            per_type[t] = 0;
        }
        i = end;
    }
    r->offer_count = offers;
    free(idle_sum);
    return 0;
}

/* Best-fit placement state for one GPU type: the nodes with offered GPUs
 * left, in stacks by (hosts market work, GPUs left), with a bitmap of the
 * non-empty stacks so the smallest fitting count is found a word at a time. */
#define FIT_COUNTS (GM_POLICY_MAX_NODE_GPUS + 1)
#define FIT_WORDS  ((FIT_COUNTS + 63) / 64)

struct fit_node {
    uint32_t node;
    uint32_t left;
    int32_t next; /* next in its stack, -1 at the bottom */
};

struct fit_state {
    struct fit_node *nodes;
    int32_t head[2][FIT_COUNTS];
    uint64_t nonempty[2][FIT_WORDS];
};

static void fit_push(struct fit_state *f, int hosts, int32_t i)
{
    uint32_t left = f->nodes[i].left;
    f->nodes[i].next = f->head[hosts][left];
    f->head[hosts][left] = i;
    f->nonempty[hosts][left / 64] |= UINT64_C(1) << (left % 64);
}

static int32_t fit_pop(struct fit_state *f, int hosts, uint32_t left)
{
    int32_t i = f->head[hosts][left];
    f->head[hosts][left] = f->nodes[i].next;
    if (f->head[hosts][left] < 0)
        f->nonempty[hosts][left / 64] &= ~(UINT64_C(1) << (left % 64));
    return i;
}

/* The smallest count >= want with a non-empty stack, or 0 when none. */
static uint32_t fit_smallest(const struct fit_state *f, int hosts, uint32_t want)
{
    for (uint32_t w = want / 64; w < FIT_WORDS; w++) {
        uint64_t bits = f->nonempty[hosts][w];
        if (w == want / 64)
            bits &= ~UINT64_C(0) << (want % 64);
        if (bits)
            return w * 64 + (uint32_t)__builtin_ctzll(bits);
    }
    return 0;
}

/* The largest count with a non-empty stack (nodes hosting market work first
 * at equal counts); 0 when every stack is empty. */
static uint32_t fit_largest(const struct fit_state *f, int *hosts)
{
    for (uint32_t w = FIT_WORDS; w-- > 0;) {
        uint64_t bits = f->nonempty[0][w] | f->nonempty[1][w];
        if (!bits)
            continue;
        uint32_t b = 63 - (uint32_t)__builtin_clzll(bits);
        *hosts = (int)((f->nonempty[1][w] >> b) & 1);
        return w * 64 + b;
    }
    return 0;
}

/* A placement to add to the result, growing its array as needed. */
static int add_placement(struct gm_policy_result *r, size_t *cap, uint32_t job_id, uint32_t node,
                         uint32_t gpus)
{
    if (r->placement_count == *cap) {
        size_t n = *cap ? *cap * 2 : 16;
        struct gm_policy_placement *p =
            n > SIZE_MAX / sizeof *p ? NULL : realloc(r->placements, n * sizeof *p);
        if (!p)
            return -1;
        r->placements = p;
        *cap = n;
    }
    r->placements[r->placement_count++] = (struct gm_policy_placement){ job_id, node, gpus };
    return 0;
}

/* Placement of one GPU type's admitted jobs, in admission order. */
struct placer {
    struct fit_state *fit;
    struct { /* nodes a job with gpus_per_node has taken so far */
        int32_t index;
        int hosts;
    } * picked;
    uint64_t *planned; /* GPUs planned per snapshot node, over every type */
    size_t cap;        /* of the result's placements */
};

/* Load type t's offers.  Pushed in falling node order, so each stack pops
 * lowest node first. */
static void placer_load(struct placer *p, const struct gm_policy_snapshot *s,
                        const struct gm_policy_result *r, uint32_t t)
{
    struct fit_state *f = p->fit;
    memset(f->head, 0xff, sizeof f->head);
    memset(f->nonempty, 0, sizeof f->nonempty);
    for (size_t i = r->offer_count; i-- > 0;) {
        const struct gm_policy_offer *o = &r->offers[i];
        if (o->type != t)
            continue;
        f->nodes[i] = (struct fit_node){ o->node, o->count, -1 };
        fit_push(f, s->nodes[o->node].gpus_used_market > 0 || p->planned[o->node] > 0, (int32_t)i);
    }
}

/* Take `take` GPUs of offer i for job v and put the node back where it now
 * belongs (it hosts market work now). */
static int placer_take(struct placer *p, struct gm_policy_result *r,
                       const struct gm_policy_verdict *v, int32_t i, uint32_t take)
{
    struct fit_node *n = &p->fit->nodes[i];
    if (add_placement(r, &p->cap, v->job_id, n->node, take) < 0)
        return -1;
    p->planned[n->node] += take;
    n->left -= take;
    if (n->left > 0)
        fit_push(p->fit, 1, i);
    return 0;
}

/* Place v, whose GPUs may be spread: whole onto the node that hosts market
 * work and has the fewest offered GPUs left that still hold it; failing
 * that, onto such a node without market work; a job no node holds takes
 * the nodes with the most GPUs left first.  The caller has checked that the
 * type's supply holds it.  Returns 0, -1 when memory runs out, or -2 when
 * the supply did not hold it after all (an internal error). */
static int place_spread(struct placer *p, struct gm_policy_result *r,
                        const struct gm_policy_verdict *v)
{
    struct fit_state *f = p->fit;
    uint32_t need = v->gpus;
    int hosts = 1;
    uint32_t left = need <= GM_POLICY_MAX_NODE_GPUS ? fit_smallest(f, 1, need) : 0;
    if (!left && need <= GM_POLICY_MAX_NODE_GPUS) {
        hosts = 0;
        left = fit_smallest(f, 0, need);
    }
    while (need > 0) {
        if (!left)
            left = fit_largest(f, &hosts);
        if (!left)
            return -2; /* cannot happen: the supply held it */
        int32_t i = fit_pop(f, hosts, left);
        uint32_t take = need < left ? need : left;
        if (placer_take(p, r, v, i, take) < 0)
            return -1;
        need -= take;
        left = 0;
    }
    return 0;
}

/* Place v, which takes v->gpus_per_node GPUs on each of its nodes: each
 * node chosen as place_spread chooses a whole job's.  Returns 0, 1 when too
 * few distinct nodes offer that many (nothing is taken), or -1 when memory
 * runs out. */
static int place_per_node(struct placer *p, struct gm_policy_result *r,
                          const struct gm_policy_verdict *v)
{
    struct fit_state *f = p->fit;
    uint32_t per = v->gpus_per_node, count = v->gpus / per;

    for (uint32_t k = 0; k < count; k++) {
        int hosts = 1;
        uint32_t left = fit_smallest(f, 1, per);
        if (!left) {
            hosts = 0;
            left = fit_smallest(f, 0, per);
        }
        if (!left) {
            /* Back in the reverse order: the stacks are as they were. */
            while (k-- > 0)
                fit_push(f, p->picked[k].hosts, p->picked[k].index);
            return 1;
        }
        p->picked[k].index = fit_pop(f, hosts, left);
        p->picked[k].hosts = hosts;
    }
    for (uint32_t k = 0; k < count; k++)
        if (placer_take(p, r, v, p->picked[k].index, per) < 0)
            return -1;
    return 0;
}

/* How many bids ahead the clearing walk prefetches. */
#define GM_WALK_AHEAD 8

/* Uniform-price clearing per type over the bids sorted high to low; fills
 * verdicts, the admitted list, their placements and the markets.  A bid is
 * admitted when the type's supply holds it and, for a job that takes a
 * fixed count per node, when enough distinct nodes offer that count;
 * admission stops at the first bid that does not fit. */
static int clear_market(struct gm_policy *e, const struct gm_policy_snapshot *s,
                        struct gm_policy_result *r, const uint64_t *supply, uint64_t *planned,
                        char *err, size_t errlen)
{
    size_t n = s->bid_count, no = r->offer_count;
    uint64_t *ids = scratch(e, 2 * n, sizeof *ids);
    struct placer pl = { .planned = planned };
    size_t picked_bytes = (no ? no : 1) * sizeof *pl.picked;
    pl.fit = scratch_area(&e->fit_scratch, &e->fit_scratch_size, 1,
                          sizeof *pl.fit + no * sizeof(struct fit_node) + picked_bytes);
    r->verdicts = alloc_array(n, sizeof *r->verdicts);
    r->by_job = alloc_array(n, sizeof *r->by_job);
    r->admitted = alloc_array(n, sizeof *r->admitted);
    /* Room for every job whose GPUs may be spread (each split but its last
     * empties a node); jobs with a count per node may grow it. */
    r->placements = alloc_array(no + n, sizeof *r->placements);
    pl.cap = r->placements ? no + n : 0;
    if (!ids || !pl.fit || !r->verdicts || !r->by_job || !r->admitted || !r->placements)
        return gm_errf(err, errlen, "policy: out of memory");
    pl.fit->nodes = (struct fit_node *)(pl.fit + 1);
    pl.picked = (void *)(pl.fit->nodes + no);
    r->verdict_count = n;
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint64_t)s->bids[i].job_id << 32 | i;
    long rep = find_repeated_job(ids, ids + n, n);
    if (rep >= 0)
        return gm_errf(err, errlen, "policy: job %u has two bids in the snapshot",
                       s->bids[rep].job_id);
    for (size_t i = 0; i < n; i++)
        r->by_job[i] = (uint32_t)ids[i];

    /* ids is done with; the scratch area now holds the order of the bids to
     * clear, as radix keys (2n, half of it radix scratch), and, when the keys
     * cannot hold the order, the bids for the merge sort (2n). */
    struct gm_key_item *keys = scratch(e, 2 * n, sizeof *keys + sizeof(struct bid_item));
    if (!keys)
        return gm_errf(err, errlen, "policy: out of memory");
    struct bid_item *items = (struct bid_item *)(keys + 2 * n);

    /* What the market could offer were every GPU idle: each market node's
     * GPUs less the reserve (over all types: an upper bound).  A bid beyond
     * it would wait forever at the head of its type.  with_cap[c]: how many
     * nodes could offer c or more (check_snapshot bounds c). */
    uint32_t with_cap[GM_POLICY_MAX_NODE_GPUS + 2] = { 0 };
    uint64_t cap_total = 0;
    for (size_t i = 0; i < s->node_count; i++) {
        const struct gm_policy_node *nd = &s->nodes[i];
        if (nd->in_market_partition && nd->gpus_total > e->reserve_gpus_per_node) {
            with_cap[nd->gpus_total - e->reserve_gpus_per_node]++;
            cap_total += nd->gpus_total - e->reserve_gpus_per_node;
        }
    }
    for (size_t c = GM_POLICY_MAX_NODE_GPUS; c-- > 0;)
        with_cap[c] += with_cap[c + 1];

    for (size_t t = 0; t < e->type_count; t++) {
        struct gm_policy_market *m = &r->markets[t];
        *m = (struct gm_policy_market){ .type = (uint32_t)t, .offered = e->offered[t] };
        if (m->offered) {
            m->reserve_price = m->price = e->reserve[t];
            m->supply = supply[t];
        }
    }
    r->market_count = e->type_count;

    /* One pass in the snapshot's order: the verdicts, the demand (every bid
     * at or above the reserve price counts, admitted or not, so it does not
     * depend on the order) and what the sort keys need.  A bid to clear is
     * marked WAITING_SUPPLY until the walk below admits it or the last pass
     * settles it against its type's price. */
    size_t sorted = 0, per_type[GM_POLICY_MAX_TYPES] = { 0 };
    int64_t bid_low = INT64_MAX, bid_high = 0, first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        const struct gm_policy_bid *b = &s->bids[i];
        struct gm_policy_verdict *v = &r->verdicts[i];
        *v = (struct gm_policy_verdict){ .job_id = b->job_id,
                                         .type = b->type,
                                         .gpus = b->gpus,
                                         .bid = b->bid,
                                         .gpus_per_node = b->gpus_per_node };
        if (v->gpus_per_node == 0 || v->gpus_per_node > GM_POLICY_MAX_NODE_GPUS ||
            v->gpus % v->gpus_per_node != 0)
            v->gpus_per_node = 0;
        if (!e->offered[b->type]) {
            v->status = GM_POLICY_TYPE_NOT_OFFERED;
        } else if (b->bid > e->max_bid) {
            v->status = GM_POLICY_ABOVE_MAX_BID;
        } else if (v->gpus_per_node ? with_cap[v->gpus_per_node] < v->gpus / v->gpus_per_node
                                    : v->gpus > cap_total) {
            v->status = GM_POLICY_NEVER_FITS;
        } else {
            v->status = GM_POLICY_WAITING_SUPPLY;
            v->bid = b->bid ? b->bid : e->reserve[b->type];
            if (v->bid >= r->markets[b->type].reserve_price)
                r->markets[b->type].demand += (uint64_t)v->gpus * (b->tasks > 1 ? b->tasks : 1);
            if (sorted++ == 0)
                first = last = b->submit_time;
            bid_low = v->bid < bid_low ? v->bid : bid_low;
            bid_high = v->bid > bid_high ? v->bid : bid_high;
            first = b->submit_time < first ? b->submit_time : first;
            last = b->submit_time > last ? b->submit_time : last;
            per_type[b->type]++;
        }
    }
    sort_bid_order(s, r, keys, items, sorted, bid_low, bid_high, first, last);

    /* Per type, over its bids high to low, admit while the supply holds
     * them.  The price is the reserve unless a bid at or above it is left
     * out; admission stops at the first bid that does not fit, so every
     * admitted bid is at or above the highest bid left out, and no later bid
     * of the type changes anything the last pass does not settle. */
    size_t admitted = 0;
    for (size_t t = 0, i = 0; t < e->type_count; i += per_type[t], t++) {
        struct gm_policy_market *m = &r->markets[t];
        size_t end = i + per_type[t];
        if (i == end || r->verdicts[keys[i].index].bid < m->reserve_price)
            continue;
        uint64_t remaining = m->supply;
        int blocked = 0;
        placer_load(&pl, s, r, (uint32_t)t);
        /* Bids of equal type and bid are put in (submit, job id) order run
         * by run as the walk reaches them: past the first bid left out the
         * order makes no difference, and most runs are never reached. */
        size_t run_end = i;
        for (size_t k = i; k < end && !blocked; k++) {
            if (k == run_end)
                run_end = k + gm_sort_run_by_key2(keys + k, keys + sorted, end - k);
            uint32_t index = keys[k].index;
            /* The bids are visited in price order, scattered over the
             * snapshot's arrays: fetch a few ahead (beyond the L2 cache each
             * visit would wait for memory). */
            if (k + GM_WALK_AHEAD < end) {
                __builtin_prefetch(&r->verdicts[keys[k + GM_WALK_AHEAD].index], 1);
                __builtin_prefetch(&s->bids[keys[k + GM_WALK_AHEAD].index], 0);
            }
            struct gm_policy_verdict *v = &r->verdicts[index];
            uint32_t tasks = s->bids[index].tasks > 1 ? s->bids[index].tasks : 1;
            if (v->bid < m->reserve_price)
                break; /* and so is every later one */
            /* A job array's pending tasks are bids one after another; the
             * verdict is its first task's, the next tasks hold supply. */
            for (uint32_t task = 0; task < tasks; task++) {
                size_t first_placement = r->placement_count;
                int placed = 1;
                if (v->gpus <= remaining) {
                    placed = v->gpus_per_node ? place_per_node(&pl, r, v) : place_spread(&pl, r, v);
                    if (placed == -1)
                        return gm_errf(err, errlen, "policy: out of memory");
                    if (placed < 0)
                        return gm_errf(err, errlen,
                                       "policy: internal error: job %u admitted beyond the "
                                       "supply of type %u",
                                       v->job_id, v->type);
                }
                if (placed != 0) {
                    /* The highest bid left out (at or above the reserve). */
                    blocked = 1;
                    m->price = v->bid;
                    break;
                }
                remaining -= v->gpus;
                m->admitted_gpus += v->gpus;
                m->admitted_jobs++;
                if (task == 0) {
                    v->status = GM_POLICY_ADMITTED;
                    v->placement_first = (uint32_t)first_placement;
                    v->placement_count = (uint32_t)(r->placement_count - first_placement);
                    r->admitted[admitted++] = index;
                }
            }
        }
    }
    r->admitted_count = admitted;
    /* In the snapshot's order again: each bid left waiting is below its
     * type's price or waits for supply at it. */
    for (size_t i = 0; i < n; i++) {
        struct gm_policy_verdict *v = &r->verdicts[i];
        v->price = r->markets[v->type].price;
        if (v->status == GM_POLICY_WAITING_SUPPLY && v->bid < v->price)
            v->status = GM_POLICY_BELOW_PRICE;
    }
    return 0;
}

static int order_nodes(struct gm_policy *e, const struct gm_policy_snapshot *s,
                       struct gm_policy_result *r, const uint64_t *planned, char *err,
                       size_t errlen)
{
    size_t n = s->node_count;
    struct node_item *items = scratch(e, 2 * n, sizeof *items);
    r->local_order = alloc_array(n, sizeof *r->local_order);
    if (!items || !r->local_order)
        return gm_errf(err, errlen, "policy: out of memory");
    for (size_t i = 0; i < n; i++)
        items[i] = (struct node_item){ s->nodes[i].gpus_used_market + planned[i], (uint32_t)i };
    sort_nodes(items, items + n, n, NULL);
    for (size_t i = 0; i < n; i++)
        r->local_order[i] = items[i].node;
    r->node_count = n;
    return 0;
}

static int order_leases(struct gm_policy *e, const struct gm_policy_snapshot *s,
                        struct gm_policy_result *r, char *err, size_t errlen)
{
    size_t n = s->lease_count;
    uint64_t *ids = scratch(e, 2 * n, sizeof *ids);
    r->preempt_order = alloc_array(n, sizeof *r->preempt_order);
    if (!ids || !r->preempt_order)
        return gm_errf(err, errlen, "policy: out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint64_t)s->leases[i].job_id << 32 | i;
    long rep = find_repeated_job(ids, ids + n, n);
    if (rep >= 0)
        return gm_errf(err, errlen, "policy: job %u has two leases in the snapshot",
                       s->leases[rep].job_id);
    if (gm_policy_preempt_order(s->leases, n, r->preempt_order) < 0)
        return gm_errf(err, errlen, "policy: out of memory");
    r->lease_count = n;
    return 0;
}

int gm_policy_decide(struct gm_policy *e, const struct gm_policy_snapshot *s,
                     struct gm_policy_result **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!e || !s)
        return gm_errf(err, errlen, "policy: no engine or no snapshot");
    if (check_snapshot(e, s, err, errlen) < 0)
        return -1;
    struct gm_policy_result *r = calloc(1, sizeof *r);
    uint64_t *planned = calloc(s->node_count ? s->node_count : 1, sizeof *planned);
    uint64_t supply[GM_POLICY_MAX_TYPES] = { 0 };
    if (!r || !planned) {
        gm_errf(err, errlen, "policy: out of memory");
        goto error;
    }
    if (compute_offers(e, s, r, supply, err, errlen) < 0 ||
        clear_market(e, s, r, supply, planned, err, errlen) < 0 ||
        order_nodes(e, s, r, planned, err, errlen) < 0 || order_leases(e, s, r, err, errlen) < 0)
        goto error;
    free(planned);

    /* Only now, with nothing left to fail, does the engine's state move. */
    for (size_t t = 0; t < e->type_count; t++) {
        const struct gm_policy_market *m = &r->markets[t];
        struct market_state *last = &e->last[t];
        if (!m->offered)
            continue;
        if (last->valid && last->price == m->price && last->supply == m->supply &&
            last->demand == m->demand)
            continue;
        r->history[r->history_count++] =
            (struct gm_policy_price_record){ s->now, (uint32_t)t, m->price, m->supply, m->demand };
        *last = (struct market_state){ 1, m->price, m->supply, m->demand };
    }
    *out = r;
    return 0;
error:
    free(planned);
    gm_policy_result_destroy(r);
    return -1;
}

/* ---------------------------------------------------------------- results */

const struct gm_policy_market *gm_policy_result_markets(const struct gm_policy_result *r,
                                                        size_t *count)
{
    *count = r->market_count;
    return r->markets;
}

const struct gm_policy_offer *gm_policy_result_offers(const struct gm_policy_result *r,
                                                      size_t *count)
{
    *count = r->offer_count;
    return r->offers;
}

const struct gm_policy_verdict *gm_policy_result_verdicts(const struct gm_policy_result *r,
                                                          size_t *count)
{
    *count = r->verdict_count;
    return r->verdicts;
}

const struct gm_policy_verdict *gm_policy_result_find(const struct gm_policy_result *r,
                                                      uint32_t job_id)
{
    size_t lo = 0, hi = r->verdict_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct gm_policy_verdict *v = &r->verdicts[r->by_job[mid]];
        if (v->job_id == job_id)
            return v;
        if (v->job_id < job_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const uint32_t *gm_policy_result_admitted(const struct gm_policy_result *r, size_t *count)
{
    *count = r->admitted_count;
    return r->admitted;
}

const struct gm_policy_placement *gm_policy_result_placements(const struct gm_policy_result *r,
                                                              size_t *count)
{
    *count = r->placement_count;
    return r->placements;
}

const uint32_t *gm_policy_result_local_order(const struct gm_policy_result *r, size_t *count)
{
    *count = r->node_count;
    return r->local_order;
}

const uint32_t *gm_policy_result_preempt_order(const struct gm_policy_result *r, size_t *count)
{
    *count = r->lease_count;
    return r->preempt_order;
}

const struct gm_policy_price_record *gm_policy_result_history(const struct gm_policy_result *r,
                                                              size_t *count)
{
    *count = r->history_count;
    return r->history;
}

const char *gm_policy_status_string(enum gm_policy_status status)
{
    switch (status) {
    case GM_POLICY_ADMITTED:
        return "admitted at the clearing price";
    case GM_POLICY_BELOW_PRICE:
        return "bid below the clearing price";
    case GM_POLICY_WAITING_SUPPLY:
        return "waiting for offered GPUs";
    case GM_POLICY_TYPE_NOT_OFFERED:
        return "GPU type not offered on the market";
    case GM_POLICY_ABOVE_MAX_BID:
        return "bid above MaxBid";
    case GM_POLICY_NEVER_FITS:
        return "more GPUs than the market's nodes could ever offer";
    }
    return "unknown";
}

/* ---------------------------------------------------------- lease and money */

int gm_policy_lease_terms(const struct gm_policy_lease_request *q,
                          struct gm_policy_lease_terms *terms, char *err, size_t errlen)
{
    if (q->gpus == 0)
        return gm_errf(err, errlen, "policy: lease terms: 0 GPUs");
    if (q->price < 0 || q->bid < 0)
        return gm_errf(err, errlen, "policy: lease terms: negative price or bid");
    if (q->bid < q->price)
        return gm_errf(err, errlen,
                       "policy: lease terms: bid %lld is below the "
                       "price %lld micro-units per GPU-hour: the job may not start",
                       (long long)q->bid, (long long)q->price);
    if (q->time_limit != GM_POLICY_UNLIMITED && q->time_limit <= 0)
        return gm_errf(err, errlen,
                       "policy: lease terms: time limit must be above "
                       "0 seconds or unlimited");
    if (q->max_cost != GM_POLICY_UNLIMITED && q->max_cost <= 0)
        return gm_errf(err, errlen,
                       "policy: lease terms: max cost must be above 0 "
                       "or unlimited");
    terms->price = q->price;
    terms->time_limit = q->time_limit;
    terms->clamped = 0;
    if (q->max_cost == GM_POLICY_UNLIMITED || q->price == 0)
        return 0;
    /* The longest T whose bill, gm_money_bill(price, gpus * T), stays within
     * the max cost: the billing rule's own inverse (common/money.h). */
    int64_t longest_gpu_seconds;
    if (gm_money_bill_longest(q->price, q->max_cost, &longest_gpu_seconds) != 0)
        return gm_errf(err, errlen, "policy: lease terms: negative price or max cost");
    int64_t longest = longest_gpu_seconds / q->gpus;
    if (longest == 0)
        return gm_errf(err, errlen,
                       "policy: lease terms: max cost %lld micro-units "
                       "does not cover one second of %u GPUs at %lld micro-units per GPU-hour",
                       (long long)q->max_cost, q->gpus, (long long)q->price);
    if (q->time_limit == GM_POLICY_UNLIMITED || q->time_limit > longest) {
        terms->time_limit = longest;
        terms->clamped = 1;
    }
    return 0;
}

int gm_policy_gpu_seconds(uint32_t gpus, int64_t start, int64_t end, int64_t *gpu_seconds,
                          char *err, size_t errlen)
{
    if (end < start)
        return gm_errf(err, errlen,
                       "policy: segment ends (%lld) before it starts "
                       "(%lld)",
                       (long long)end, (long long)start);
    __int128 product = ((__int128)end - start) * gpus;
    if (product > INT64_MAX)
        return gm_errf(err, errlen,
                       "policy: segment of %u GPUs from %lld to %lld "
                       "overflows 64-bit GPU-seconds",
                       gpus, (long long)start, (long long)end);
    *gpu_seconds = (int64_t)product;
    return 0;
}

int gm_policy_segment_amount(int64_t price, int64_t gpu_seconds, int64_t *amount, char *err,
                             size_t errlen)
{
    char msg[256];
    if (gm_money_bill(price, gpu_seconds, amount, msg, sizeof msg) != 0)
        return gm_errf(err, errlen, "policy: segment amount: %s", msg);
    return 0;
}
