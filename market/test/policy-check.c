/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Independent checks of the policy engine's contract (see policy-check.h).
 * Written from market/policy.h, by counting, not by the engine's own
 * algorithms, and for small snapshots: quadratic where that is simpler. */
#include "config.h"

#include "market/test/policy-check.h"

#include "common/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fail with a message naming the property. */
#define FAIL(...)                           \
    do {                                    \
        snprintf(why, whylen, __VA_ARGS__); \
        rc = -1;                            \
        goto done;                          \
    } while (0)
#define REQUIRE(cond, ...)     \
    do {                       \
        if (!(cond))           \
            FAIL(__VA_ARGS__); \
    } while (0)

int gm_policy_check_snapshot(const struct gm_policy_params *p, const struct gm_policy_snapshot *s,
                             char *why, size_t whylen)
{
    int rc = 0;
    uint64_t *idle = NULL;
    REQUIRE((s->nodes || !s->node_count) && (s->idle || !s->idle_count) &&
                (s->bids || !s->bid_count) && (s->leases || !s->lease_count),
            "a count without its array");
    idle = calloc(s->node_count ? s->node_count : 1, sizeof *idle);
    REQUIRE(idle, "checker: out of memory");
    for (size_t i = 0; i < s->idle_count; i++) {
        const struct gm_policy_idle *d = &s->idle[i];
        REQUIRE(d->node < s->node_count, "idle record %zu: node out of range", i);
        REQUIRE(d->type < p->type_count, "idle record %zu: type out of range", i);
        idle[d->node] += d->count;
    }
    for (size_t i = 0; i < s->node_count; i++) {
        const struct gm_policy_node *n = &s->nodes[i];
        REQUIRE(n->gpus_total <= GM_POLICY_MAX_NODE_GPUS, "node %zu: too many GPUs", i);
        REQUIRE(idle[i] + n->gpus_used_local + n->gpus_used_market == n->gpus_total,
                "node %zu: counts do not add up", i);
    }
    for (size_t i = 0; i < s->bid_count; i++) {
        const struct gm_policy_bid *b = &s->bids[i];
        REQUIRE(b->type < p->type_count, "bid %zu: type out of range", i);
        REQUIRE(b->gpus > 0, "bid %zu: 0 GPUs", i);
        REQUIRE(b->bid >= 0, "bid %zu: negative bid", i);
        for (size_t j = 0; j < i; j++)
            REQUIRE(s->bids[j].job_id != b->job_id, "bid %zu: repeated job id", i);
    }
    for (size_t i = 0; i < s->lease_count; i++) {
        const struct gm_policy_lease *l = &s->leases[i];
        REQUIRE(l->type < p->type_count, "lease %zu: type out of range", i);
        REQUIRE(l->gpus > 0, "lease %zu: 0 GPUs", i);
        REQUIRE(l->price >= 0, "lease %zu: negative price", i);
        for (size_t j = 0; j < i; j++)
            REQUIRE(s->leases[j].job_id != l->job_id, "lease %zu: repeated job id", i);
    }
done:
    free(idle);
    return rc;
}

/* Admission order (policy.h): by type, then highest bid, earliest submit
 * time, lowest job id.  1 when a may come before b. */
static int admission_le(const struct gm_policy_snapshot *s, const struct gm_policy_verdict *v,
                        uint32_t a, uint32_t b)
{
    if (v[a].type != v[b].type)
        return v[a].type < v[b].type;
    if (v[a].bid != v[b].bid)
        return v[a].bid > v[b].bid;
    if (s->bids[a].submit_time != s->bids[b].submit_time)
        return s->bids[a].submit_time < s->bids[b].submit_time;
    return v[a].job_id <= v[b].job_id;
}

/* Preemption order (gm_policy_preempt_order): lowest price, latest start,
 * highest job id.  1 when a may come before b. */
static int preempt_le(const struct gm_policy_lease *a, const struct gm_policy_lease *b)
{
    if (a->price != b->price)
        return a->price < b->price;
    if (a->start_time != b->start_time)
        return a->start_time > b->start_time;
    return a->job_id >= b->job_id;
}

int gm_policy_check_decision(const struct gm_policy_params *p, const struct gm_policy_snapshot *s,
                             const struct gm_policy_result *r, char *why, size_t whylen)
{
    int rc = 0;
    size_t nn = s->node_count, nt = p->type_count, cells = (nn ? nn : 1) * nt;
    uint64_t *eligible = calloc(cells, sizeof *eligible); /* [node * nt + type] */
    uint64_t *offered = calloc(cells, sizeof *offered);
    uint64_t *placed = calloc(cells, sizeof *placed);
    uint64_t *node_placed = calloc(nn ? nn : 1, sizeof *node_placed);
    uint8_t *seen = calloc((nn > s->lease_count ? nn : s->lease_count) + s->bid_count + 1, 1);
    uint64_t supply[GM_POLICY_MAX_TYPES] = { 0 }, type_placed[GM_POLICY_MAX_TYPES] = { 0 };
    uint64_t demand[GM_POLICY_MAX_TYPES] = { 0 }, admitted_jobs[GM_POLICY_MAX_TYPES] = { 0 };
    REQUIRE(eligible && offered && placed && node_placed && seen, "checker: out of memory");

    /* Offers: sorted, non-empty, of offered types, within what each node's
     * idle GPUs allow, and all of what they allow. */
    size_t no, nm, nv, na, np, nl, nq;
    const struct gm_policy_offer *o = gm_policy_result_offers(r, &no);
    const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
    const struct gm_policy_verdict *v = gm_policy_result_verdicts(r, &nv);
    const uint32_t *adm = gm_policy_result_admitted(r, &na);
    const struct gm_policy_placement *pl = gm_policy_result_placements(r, &np);
    const uint32_t *local = gm_policy_result_local_order(r, &nl);
    const uint32_t *pre = gm_policy_result_preempt_order(r, &nq);
    for (size_t i = 0; i < no; i++) {
        REQUIRE(o[i].node < nn && o[i].type < nt, "offer %zu: node or type out of range", i);
        REQUIRE(i == 0 || o[i - 1].node < o[i].node ||
                    (o[i - 1].node == o[i].node && o[i - 1].type < o[i].type),
                "offers: not sorted by node then type (offer %zu)", i);
        REQUIRE(o[i].count > 0, "offers: offer %zu is empty", i);
        REQUIRE(p->types[o[i].type].offered, "offers: node %u offers type %u, not offered",
                o[i].node, o[i].type);
        offered[(size_t)o[i].node * nt + o[i].type] += o[i].count;
        supply[o[i].type] += o[i].count;
    }
    for (size_t n = 0; n < nn; n++) {
        const struct gm_policy_node *nd = &s->nodes[n];
        uint64_t idle = 0, can = 0, total = 0;
        for (size_t i = 0; i < s->idle_count; i++) {
            const struct gm_policy_idle *d = &s->idle[i];
            if (d->node != n)
                continue;
            idle += d->count;
            if (p->types[d->type].offered &&
                (__int128)s->now - d->idle_since >= p->idle_dwell_seconds) {
                eligible[n * nt + d->type] += d->count;
                can += d->count;
            }
        }
        for (size_t t = 0; t < nt; t++) {
            REQUIRE(offered[n * nt + t] <= eligible[n * nt + t],
                    "offers: node %zu type %zu: %llu offered, only %llu idle for the dwell time", n,
                    t, (unsigned long long)offered[n * nt + t],
                    (unsigned long long)eligible[n * nt + t]);
            total += offered[n * nt + t];
        }
        uint64_t room = idle > p->reserve_gpus_per_node ? idle - p->reserve_gpus_per_node : 0;
        uint64_t want = nd->in_market_partition && nd->available ? (can < room ? can : room) : 0;
        REQUIRE(total == want,
                "offers: node %zu offers %llu GPUs, %llu expected (idle %llu, eligible %llu, "
                "reserve %u, partition %u, available %u)",
                n, (unsigned long long)total, (unsigned long long)want, (unsigned long long)idle,
                (unsigned long long)can, p->reserve_gpus_per_node, nd->in_market_partition,
                nd->available);
    }

    /* Markets. */
    REQUIRE(nm == nt, "markets: %zu markets for %zu types", nm, nt);
    for (size_t t = 0; t < nt; t++) {
        REQUIRE(m[t].type == t, "markets: market %zu has type %u", t, m[t].type);
        REQUIRE(!m[t].offered == !p->types[t].offered, "markets: type %zu offered flag", t);
        if (!p->types[t].offered) {
            REQUIRE(m[t].price == 0 && m[t].supply == 0 && m[t].demand == 0 &&
                        m[t].admitted_gpus == 0 && m[t].admitted_jobs == 0,
                    "markets: type %zu is not offered but has a market", t);
            continue;
        }
        REQUIRE(m[t].reserve_price == p->types[t].reserve_price, "markets: type %zu reserve price",
                t);
        REQUIRE(m[t].price >= m[t].reserve_price,
                "price: type %zu clears at %lld below reserve %lld", t, (long long)m[t].price,
                (long long)m[t].reserve_price);
        REQUIRE(m[t].supply == supply[t], "supply: type %zu supply %llu, offers sum to %llu", t,
                (unsigned long long)m[t].supply, (unsigned long long)supply[t]);
        REQUIRE(m[t].admitted_gpus <= m[t].supply,
                "supply: type %zu admits %llu GPUs, %llu offered", t,
                (unsigned long long)m[t].admitted_gpus, (unsigned long long)m[t].supply);
    }

    /* Verdicts, one per bid in bid order. */
    REQUIRE(nv == s->bid_count, "verdicts: %zu for %zu bids", nv, s->bid_count);
    size_t admitted = 0;
    for (size_t i = 0; i < nv; i++) {
        const struct gm_policy_bid *b = &s->bids[i];
        const struct gm_policy_verdict *x = &v[i];
        uint32_t t = b->type;
        uint64_t tasks = b->tasks > 1 ? b->tasks : 1;
        REQUIRE(x->job_id == b->job_id && x->type == t && x->gpus == b->gpus,
                "verdicts: verdict %zu is not its bid's (job %u)", i, b->job_id);
        REQUIRE(gm_policy_result_find(r, x->job_id) == x, "verdicts: find job %u", x->job_id);
        REQUIRE(x->gpus_per_node == 0 ||
                    (x->gpus_per_node == b->gpus_per_node && x->gpus % x->gpus_per_node == 0),
                "verdicts: job %u gpus_per_node %u from %u", x->job_id, x->gpus_per_node,
                b->gpus_per_node);
        REQUIRE(x->price == m[t].price, "price: job %u has %lld, type %u clears at %lld", x->job_id,
                (long long)x->price, t, (long long)m[t].price);
        REQUIRE((x->status == GM_POLICY_TYPE_NOT_OFFERED) == !p->types[t].offered,
                "verdicts: job %u status %d, type %u offered %d", x->job_id, x->status, t,
                p->types[t].offered);
        REQUIRE((x->status == GM_POLICY_ABOVE_MAX_BID) ==
                    (p->types[t].offered && b->bid > p->max_bid),
                "verdicts: job %u status %d with bid %lld, MaxBid %lld", x->job_id, x->status,
                (long long)b->bid, (long long)p->max_bid);
        REQUIRE(x->status == GM_POLICY_ADMITTED || x->placement_count == 0,
                "placements: job %u has placements but is not admitted", x->job_id);
        if (x->status == GM_POLICY_TYPE_NOT_OFFERED || x->status == GM_POLICY_ABOVE_MAX_BID ||
            x->status == GM_POLICY_NEVER_FITS)
            continue;
        REQUIRE(x->status == GM_POLICY_ADMITTED || x->status == GM_POLICY_BELOW_PRICE ||
                    x->status == GM_POLICY_WAITING_SUPPLY,
                "verdicts: job %u has status %d", x->job_id, x->status);
        int64_t effective = b->bid ? b->bid : p->types[t].reserve_price;
        REQUIRE(x->bid == effective, "verdicts: job %u effective bid %lld, expected %lld",
                x->job_id, (long long)x->bid, (long long)effective);
        if (x->bid >= m[t].reserve_price)
            demand[t] += (uint64_t)b->gpus * tasks;
        if (x->status == GM_POLICY_BELOW_PRICE)
            REQUIRE(x->bid < x->price, "verdicts: job %u below price but bids %lld >= %lld",
                    x->job_id, (long long)x->bid, (long long)x->price);
        if (x->status == GM_POLICY_WAITING_SUPPLY)
            REQUIRE(x->bid >= x->price, "verdicts: job %u waits for supply but bids %lld < %lld",
                    x->job_id, (long long)x->bid, (long long)x->price);
        if (x->status != GM_POLICY_ADMITTED)
            continue;
        admitted++;
        admitted_jobs[t]++;
        REQUIRE(x->price >= m[t].reserve_price, "price: job %u admitted at %lld below reserve %lld",
                x->job_id, (long long)x->price, (long long)m[t].reserve_price);
        REQUIRE(x->price <= x->bid, "price: job %u admitted at %lld above its bid %lld", x->job_id,
                (long long)x->price, (long long)x->bid);
        REQUIRE(b->bid <= p->max_bid, "price: job %u bids %lld above MaxBid, admitted", x->job_id,
                (long long)b->bid);
        REQUIRE(x->placement_count > 0 && (size_t)x->placement_first + x->placement_count <= np,
                "placements: job %u range %u+%u of %zu", x->job_id, x->placement_first,
                x->placement_count, np);
        /* Its own placements (its first task's) hold its GPUs; every
         * placement of the job (its other tasks too) comes in whole jobs. */
        uint64_t own = 0, all = 0;
        for (uint32_t k = 0; k < x->placement_count; k++) {
            const struct gm_policy_placement *q = &pl[x->placement_first + k];
            REQUIRE(q->job_id == x->job_id, "placements: job %u's range holds job %u", x->job_id,
                    q->job_id);
            own += q->gpus;
            for (uint32_t k2 = 0; x->gpus_per_node && k2 < k; k2++)
                REQUIRE(pl[x->placement_first + k2].node != q->node,
                        "placements: job %u (gpus_per_node %u) twice on node %u", x->job_id,
                        x->gpus_per_node, q->node);
        }
        REQUIRE(own == x->gpus, "placements: job %u placed %llu of %u GPUs", x->job_id,
                (unsigned long long)own, x->gpus);
        for (size_t k = 0; k < np; k++)
            all += pl[k].job_id == x->job_id ? pl[k].gpus : 0;
        REQUIRE(all % x->gpus == 0 && all / x->gpus >= 1 && all / x->gpus <= tasks,
                "placements: job %u (%u GPUs, %llu tasks) placed %llu GPUs in all", x->job_id,
                x->gpus, (unsigned long long)tasks, (unsigned long long)all);
    }
    for (size_t t = 0; t < nt; t++) {
        if (!p->types[t].offered)
            continue;
        REQUIRE(m[t].demand == demand[t], "markets: type %zu demand %llu, bids ask %llu", t,
                (unsigned long long)m[t].demand, (unsigned long long)demand[t]);
        REQUIRE(m[t].admitted_jobs >= admitted_jobs[t],
                "markets: type %zu admitted_jobs %llu < %llu verdicts", t,
                (unsigned long long)m[t].admitted_jobs, (unsigned long long)admitted_jobs[t]);
    }

    /* The admitted list: each admitted verdict once, in admission order. */
    REQUIRE(na == admitted, "admitted: %zu listed, %zu verdicts admitted", na, admitted);
    memset(seen, 0, s->bid_count + 1);
    for (size_t a = 0; a < na; a++) {
        REQUIRE(adm[a] < nv && v[adm[a]].status == GM_POLICY_ADMITTED && !seen[adm[a]],
                "admitted: entry %zu (%u) is not an admitted verdict listed once", a, adm[a]);
        seen[adm[a]] = 1;
        REQUIRE(a == 0 || admission_le(s, v, adm[a - 1], adm[a]),
                "admitted: jobs %u and %u out of admission order", v[adm[a - 1]].job_id,
                v[adm[a]].job_id);
        REQUIRE(a == 0 || v[adm[a]].placement_first >=
                              v[adm[a - 1]].placement_first + v[adm[a - 1]].placement_count,
                "placements: not grouped by job in admission order (job %u)", v[adm[a]].job_id);
    }

    /* Placements: of admitted jobs, on nodes that offer their type, never
     * more on a node than it offers, and as many per type as admitted. */
    for (size_t k = 0; k < np; k++) {
        const struct gm_policy_verdict *x = gm_policy_result_find(r, pl[k].job_id);
        REQUIRE(x && x->status == GM_POLICY_ADMITTED,
                "placements: placement %zu of job %u, not admitted", k, pl[k].job_id);
        REQUIRE(pl[k].node < nn && pl[k].gpus > 0, "placements: placement %zu node %u, %u GPUs", k,
                pl[k].node, pl[k].gpus);
        REQUIRE(!x->gpus_per_node || pl[k].gpus == x->gpus_per_node,
                "placements: job %u takes %u on node %u, gpus_per_node %u", x->job_id, pl[k].gpus,
                pl[k].node, x->gpus_per_node);
        placed[(size_t)pl[k].node * nt + x->type] += pl[k].gpus;
        node_placed[pl[k].node] += pl[k].gpus;
        type_placed[x->type] += pl[k].gpus;
    }
    for (size_t n = 0; n < nn; n++)
        for (size_t t = 0; t < nt; t++)
            REQUIRE(placed[n * nt + t] <= offered[n * nt + t],
                    "placements: node %zu type %zu: %llu placed, %llu offered", n, t,
                    (unsigned long long)placed[n * nt + t],
                    (unsigned long long)offered[n * nt + t]);
    for (size_t t = 0; t < nt; t++)
        REQUIRE(type_placed[t] == m[t].admitted_gpus,
                "supply: type %zu: %llu GPUs placed, %llu admitted", t,
                (unsigned long long)type_placed[t], (unsigned long long)m[t].admitted_gpus);

    /* Local order: every node once, fewest market GPUs first, ties by index. */
    REQUIRE(nl == nn, "local order: %zu of %zu nodes", nl, nn);
    memset(seen, 0, nn + 1);
    for (size_t i = 0; i < nl; i++) {
        uint32_t n = local[i];
        REQUIRE(n < nn && !seen[n], "local order: not a permutation (node %u)", n);
        seen[n] = 1;
        if (i == 0)
            continue;
        uint32_t q = local[i - 1];
        uint64_t a = s->nodes[q].gpus_used_market + node_placed[q];
        uint64_t b = s->nodes[n].gpus_used_market + node_placed[n];
        REQUIRE(a < b || (a == b && q < n), "local order: node %u (%llu) before node %u (%llu)", q,
                (unsigned long long)a, n, (unsigned long long)b);
    }

    /* Preemption order: every lease once, in gm_policy_preempt_order's order. */
    REQUIRE(nq == s->lease_count, "preemption order: %zu of %zu leases", nq, s->lease_count);
    memset(seen, 0, s->lease_count + 1);
    for (size_t i = 0; i < nq; i++) {
        REQUIRE(pre[i] < nq && !seen[pre[i]], "preemption order: not a permutation (%u)", pre[i]);
        seen[pre[i]] = 1;
        REQUIRE(i == 0 || preempt_le(&s->leases[pre[i - 1]], &s->leases[pre[i]]),
                "preemption order: lease of job %u before job %u", s->leases[pre[i - 1]].job_id,
                s->leases[pre[i]].job_id);
    }
done:
    free(eligible);
    free(offered);
    free(placed);
    free(node_placed);
    free(seen);
    return rc;
}

struct ref_bid {
    int64_t bid;
    int64_t submit;
    uint32_t job;
    size_t index;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref_bid *x = a, *y = b;
    if (x->bid != y->bid)
        return x->bid > y->bid ? -1 : 1;
    if (x->submit != y->submit)
        return x->submit < y->submit ? -1 : 1;
    return x->job < y->job ? -1 : x->job > y->job;
}

int gm_policy_check_reference(const struct gm_policy_params *p, const struct gm_policy_snapshot *s,
                              const struct gm_policy_result *r, char *why, size_t whylen)
{
    int rc = 0;
    size_t no, nm, nv;
    const struct gm_policy_offer *o = gm_policy_result_offers(r, &no);
    const struct gm_policy_market *m = gm_policy_result_markets(r, &nm);
    const struct gm_policy_verdict *v = gm_policy_result_verdicts(r, &nv);
    struct ref_bid *list = calloc(s->bid_count + 1, sizeof *list);
    enum gm_policy_status *status = calloc(s->bid_count + 1, sizeof *status);
    uint64_t supply[GM_POLICY_MAX_TYPES] = { 0 };
    REQUIRE(list && status, "checker: out of memory");
    REQUIRE(nm == p->type_count && nv == s->bid_count, "reference: %zu markets, %zu verdicts", nm,
            nv);
    for (size_t i = 0; i < s->bid_count; i++)
        if (s->bids[i].tasks > 1 ||
            (s->bids[i].gpus_per_node && s->bids[i].gpus % s->bids[i].gpus_per_node == 0 &&
             s->bids[i].gpus_per_node <= GM_POLICY_MAX_NODE_GPUS))
            goto done; /* beyond the reference */
    for (size_t i = 0; i < no; i++)
        supply[o[i].type] += o[i].count;
    /* What the market partition's nodes hold beyond the reserve. */
    uint64_t capacity = 0;
    for (size_t n = 0; n < s->node_count; n++)
        if (s->nodes[n].in_market_partition && s->nodes[n].gpus_total > p->reserve_gpus_per_node)
            capacity += s->nodes[n].gpus_total - p->reserve_gpus_per_node;
    for (uint32_t t = 0; t < p->type_count; t++) {
        size_t n = 0;
        int64_t reserve = p->types[t].reserve_price;
        int64_t price = p->types[t].offered ? reserve : 0;
        for (size_t b = 0; b < s->bid_count; b++) {
            const struct gm_policy_bid *bd = &s->bids[b];
            if (bd->type != t)
                continue;
            if (!p->types[t].offered)
                status[b] = GM_POLICY_TYPE_NOT_OFFERED;
            else if (bd->bid > p->max_bid)
                status[b] = GM_POLICY_ABOVE_MAX_BID;
            else if (bd->gpus > capacity)
                status[b] = GM_POLICY_NEVER_FITS;
            else
                list[n++] =
                    (struct ref_bid){ bd->bid ? bd->bid : reserve, bd->submit_time, bd->job_id, b };
        }
        qsort(list, n, sizeof list[0], ref_cmp);
        uint64_t used = 0;
        size_t k = 0;
        while (k < n && list[k].bid >= reserve && used + s->bids[list[k].index].gpus <= supply[t])
            used += s->bids[list[k++].index].gpus;
        if (k < n && list[k].bid > price)
            price = list[k].bid;
        for (size_t i = 0; i < n; i++)
            status[list[i].index] = i < k ? GM_POLICY_ADMITTED
                                    : (list[i].bid >= price && list[i].bid >= reserve)
                                        ? GM_POLICY_WAITING_SUPPLY
                                        : GM_POLICY_BELOW_PRICE;
        REQUIRE(m[t].price == price, "reference: type %u clears at %lld, reference %lld", t,
                (long long)m[t].price, (long long)price);
    }
    for (size_t b = 0; b < nv; b++)
        REQUIRE(v[b].status == status[b], "reference: job %u status %d, reference %d", v[b].job_id,
                v[b].status, status[b]);
done:
    free(list);
    free(status);
    return rc;
}

int gm_policy_check_same(const struct gm_policy_snapshot *s1, const struct gm_policy_result *r1,
                         const struct gm_policy_snapshot *s2, const struct gm_policy_result *r2,
                         char *why, size_t whylen)
{
    int rc = 0;
    size_t a, b;
#define SAME_ARRAY(getter, what)                                                       \
    do {                                                                               \
        const void *x1 = getter(r1, &a), *x2 = getter(r2, &b);                         \
        REQUIRE(a == b && (a == 0 || memcmp(x1, x2, a * sizeof *getter(r1, &a)) == 0), \
                "determinism: %s differ after a shuffle", what);                       \
    } while (0)
    SAME_ARRAY(gm_policy_result_offers, "offers");
    SAME_ARRAY(gm_policy_result_markets, "markets");
    SAME_ARRAY(gm_policy_result_placements, "placements");
    SAME_ARRAY(gm_policy_result_local_order, "local orders");
#undef SAME_ARRAY
    const struct gm_policy_verdict *v1 = gm_policy_result_verdicts(r1, &a);
    gm_policy_result_verdicts(r2, &b);
    REQUIRE(a == b, "determinism: %zu verdicts, then %zu", a, b);
    for (size_t i = 0; i < a; i++) {
        const struct gm_policy_verdict *v2 = gm_policy_result_find(r2, v1[i].job_id);
        REQUIRE(v2 && v2->type == v1[i].type && v2->gpus == v1[i].gpus &&
                    v2->status == v1[i].status && v2->bid == v1[i].bid &&
                    v2->price == v1[i].price && v2->placement_first == v1[i].placement_first &&
                    v2->placement_count == v1[i].placement_count &&
                    v2->gpus_per_node == v1[i].gpus_per_node,
                "determinism: verdict of job %u differs after a shuffle", v1[i].job_id);
    }
    const uint32_t *q1 = gm_policy_result_admitted(r1, &a);
    const uint32_t *q2 = gm_policy_result_admitted(r2, &b);
    REQUIRE(a == b, "determinism: %zu admitted, then %zu", a, b);
    for (size_t i = 0; i < a; i++)
        REQUIRE(s1->bids[q1[i]].job_id == s2->bids[q2[i]].job_id,
                "determinism: admission order differs after a shuffle (%zu)", i);
    q1 = gm_policy_result_preempt_order(r1, &a);
    q2 = gm_policy_result_preempt_order(r2, &b);
    REQUIRE(a == b, "determinism: %zu leases ordered, then %zu", a, b);
    for (size_t i = 0; i < a; i++)
        REQUIRE(s1->leases[q1[i]].job_id == s2->leases[q2[i]].job_id,
                "determinism: preemption order differs after a shuffle (%zu)", i);
done:
    return rc;
}

void gm_policy_check_shuffle(struct gm_policy_idle *idle, size_t idle_count,
                             struct gm_policy_bid *bids, size_t bid_count,
                             struct gm_policy_lease *leases, size_t lease_count, uint64_t seed)
{
    uint64_t state = seed | 1;
#define SHUFFLE(arr, n)                               \
    for (size_t i = (n); i > 1; i--) {                \
        size_t j = (size_t)(gm_rng_next(&state) % i); \
        __typeof__(arr[0]) tmp = arr[i - 1];          \
        arr[i - 1] = arr[j];                          \
        arr[j] = tmp;                                 \
    }
    SHUFFLE(idle, idle_count);
    SHUFFLE(bids, bid_count);
    SHUFFLE(leases, lease_count);
#undef SHUFFLE
}
