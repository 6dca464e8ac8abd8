/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The market policy engine: which GPUs are offered, the clearing price per GPU
 * type, which market jobs start and where, which are preempted first, lease
 * terms and billing.  Pure logic: no Slurm or MPI header, no clock, no I/O.
 *
 * Use: create an engine from gpumarket.conf (gm_policy_create_from_conf) or
 * from explicit parameters; fill a gm_policy_snapshot from the scheduler's
 * node and job records; gm_policy_decide returns every decision for that
 * snapshot.  Money is int64 micro-units (see common/money.h), prices are per
 * GPU-hour, times are Unix seconds.  An engine is not thread-safe: one caller
 * at a time (slurmctld calls it under its node and job write locks). */
#ifndef GPUMARKET_POLICY_H
#define GPUMARKET_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct gm_conf;

/* A time limit or cost cap that is not set. */
#define GM_POLICY_UNLIMITED (-1)
/* Most GPU types one engine knows; the caller's type indexes stay below. */
#define GM_POLICY_MAX_TYPES 64
/* Most GPUs one node may have in a snapshot. */
#define GM_POLICY_MAX_NODE_GPUS 1024

/* ------------------------------------------------------------------ engine */

/* One GPU type (gres type name) and its reserve price. */
struct gm_policy_gpu_type {
    const char *name;      /* copied by gm_policy_create */
    int offered;           /* 0: GPUs of this type are never offered */
    int64_t reserve_price; /* micro-units per GPU-hour, >= 0; ignored if !offered */
};

struct gm_policy_params {
    uint32_t reserve_gpus_per_node; /* idle GPUs each node keeps for local work */
    int64_t idle_dwell_seconds;     /* idle at least this long before offered, >= 0 */
    int64_t max_bid;                /* bids above are refused, > 0 */
    const struct gm_policy_gpu_type *types;
    size_t type_count; /* 1..GM_POLICY_MAX_TYPES; index = the snapshot's type */
};

struct gm_policy;

/* Make an engine.  Returns 0 and sets *engine (free with gm_policy_destroy),
 * or -1 with a "policy: ..." message in err when a parameter is out of
 * range or a type name is empty or repeated. */
int gm_policy_create(const struct gm_policy_params *params, struct gm_policy **engine, char *err,
                     size_t errlen);

/* Make an engine from a parsed gpumarket.conf, for the cluster's GPU types
 * `type_names` (the gres types the nodes have; their order fixes the type
 * indexes of snapshots).  A type gets its ReservePrice entry, else the
 * default; a type with neither is not offered.  Errors as gm_policy_create. */
int gm_policy_create_from_conf(const struct gm_conf *conf, const char *const *type_names,
                               size_t type_count, struct gm_policy **engine, char *err,
                               size_t errlen);

/* Free an engine (NULL is ignored). */
void gm_policy_destroy(struct gm_policy *engine);

/* The engine's types: count, name of type i (owned by the engine, NULL when
 * out of range), and the index of a name (0, or -1 when unknown). */
size_t gm_policy_type_count(const struct gm_policy *engine);
const char *gm_policy_type_name(const struct gm_policy *engine, uint32_t type);
int gm_policy_type_index(const struct gm_policy *engine, const char *name, uint32_t *type);

/* ---------------------------------------------------------------- snapshot */

/* One node, as slurmctld's node record has it.  GPUs are counted over all
 * types; the idle ones are described by gm_policy_idle records. */
struct gm_policy_node {
    uint32_t gpus_total;
    uint32_t gpus_used_local;  /* allocated to non-market jobs */
    uint32_t gpus_used_market; /* allocated to market jobs */
    uint8_t in_market_partition;
    uint8_t available; /* up and schedulable (not down, drained, reserved...) */
};

/* `count` idle GPUs of one type on one node, idle since `idle_since`.  A
 * node's idle GPUs may be split over several records (different types or
 * times); their counts plus the used ones must add up to gpus_total.  A GPU
 * whose idle_since is after `now` is treated as just freed. */
struct gm_policy_idle {
    uint32_t node; /* index into the snapshot's nodes */
    uint32_t type; /* engine type index */
    uint32_t count;
    int64_t idle_since;
};

/* A pending market job.  Job ids must be unique among the bids. */
struct gm_policy_bid {
    uint32_t job_id;
    uint32_t type; /* engine type index; the adapter resolves untyped requests */
    uint32_t gpus; /* > 0 */
    int64_t bid;   /* micro-units per GPU-hour; 0: no bid, bids the reserve price */
    int64_t submit_time;
    /* > 0: the job takes exactly this many GPUs on each of its nodes
     * (--gres=gpu:N, --gpus-per-node), so it needs gpus / gpus_per_node
     * distinct nodes offering that many; 0: its GPUs may be spread over
     * nodes in any way.  A value that does not divide gpus reads as 0. */
    uint32_t gpus_per_node;
    /* > 1: a job array's pending record, standing for this many tasks that
     * bid alike; each is a bid of `gpus`, one after another.  The verdict
     * is its first task's (the one Slurm tries); the others count in the
     * demand and, when admitted, hold supply and set the price as any bid
     * does.  0 or 1: one job. */
    uint32_t tasks;
};

/* A running market job (its lease).  Job ids must be unique among leases. */
struct gm_policy_lease {
    uint32_t job_id;
    uint32_t type;
    uint32_t gpus;
    int64_t price; /* locked price, micro-units per GPU-hour */
    int64_t start_time;
};

struct gm_policy_snapshot {
    int64_t now;
    const struct gm_policy_node *nodes;
    size_t node_count;
    const struct gm_policy_idle *idle;
    size_t idle_count;
    const struct gm_policy_bid *bids;
    size_t bid_count;
    const struct gm_policy_lease *leases;
    size_t lease_count;
};

/* ----------------------------------------------------------------- results */

enum gm_policy_status {
    GM_POLICY_ADMITTED = 0,     /* may start now at `price` */
    GM_POLICY_BELOW_PRICE,      /* bid below the clearing price (or reserve) */
    GM_POLICY_WAITING_SUPPLY,   /* bid is high enough; not enough GPUs offered */
    GM_POLICY_TYPE_NOT_OFFERED, /* its GPU type has no reserve price */
    GM_POLICY_ABOVE_MAX_BID,    /* bid above MaxBid; refused */
    GM_POLICY_NEVER_FITS,       /* more GPUs (per node) than the market partition's
                                   nodes could offer were every GPU idle; not
                                   counted, so it holds up no other bid */
};

/* The market of one GPU type after clearing. */
struct gm_policy_market {
    uint32_t type;
    int offered; /* 0: type not offered; the rest is 0 */
    int64_t reserve_price;
    int64_t price;   /* clearing price: max(reserve, highest bid left out) */
    uint64_t supply; /* GPUs offered */
    uint64_t demand; /* GPUs asked by bids at or above the reserve price */
    uint64_t admitted_gpus;
    uint64_t admitted_jobs;
};

/* GPUs of one type offered on one node. */
struct gm_policy_offer {
    uint32_t node;
    uint32_t type;
    uint32_t count;
};

/* The decision for one pending market job (same index as its bid). */
struct gm_policy_verdict {
    uint32_t job_id;
    uint32_t type;
    uint32_t gpus;
    enum gm_policy_status status;
    int64_t bid;              /* effective bid (the reserve price for "no bid") */
    int64_t price;            /* the type's clearing price; locked price if admitted */
    uint32_t placement_first; /* admitted: its placements, see below */
    uint32_t placement_count;
    uint32_t gpus_per_node; /* its bid's, or 0 when the GPUs may be spread */
};

/* Planned GPUs of one admitted job on one node.  Jobs are placed by best
 * fit, packing market work together: a job goes whole onto the node that
 * already hosts market work (running, or placed earlier in this decision)
 * and has the fewest offered GPUs left that hold it; else onto the node
 * without market work with the fewest that hold it; a job that no node
 * holds is split, taking the nodes with the most GPUs left first.  A job
 * with gpus_per_node takes that many on each of its nodes, each node chosen
 * the same best-fit way; it is admitted only when that many distinct nodes
 * offer them.  Equal choices go to the node used last, then to the lowest
 * node index. */
struct gm_policy_placement {
    uint32_t job_id;
    uint32_t node;
    uint32_t gpus;
};

/* A change of a type's market, for the price history. */
struct gm_policy_price_record {
    int64_t time;
    uint32_t type;
    int64_t price;
    uint64_t supply;
    uint64_t demand;
};

struct gm_policy_result;

/* Take every decision for `snapshot`.  Deterministic: the same engine state
 * and snapshot (whatever the order of its idle, bid and lease arrays) give
 * the same result.  Also records, in the engine, the market of each offered
 * type, so that the next decision's history holds only changes.  Returns 0
 * and sets *result (free with gm_policy_result_destroy), or -1 with a
 * "policy: ..." message in err when the snapshot is inconsistent
 * (an index out of range, counts that do not add up, a node with more than
 * GM_POLICY_MAX_NODE_GPUS GPUs, a repeated job id, a job asking for 0 GPUs,
 * a negative bid or price) or memory runs out; the engine's market state
 * is then unchanged. */
int gm_policy_decide(struct gm_policy *engine, const struct gm_policy_snapshot *snapshot,
                     struct gm_policy_result **result, char *err, size_t errlen);

/* Free a result (NULL is ignored). */
void gm_policy_result_destroy(struct gm_policy_result *result);

/* The arrays below are owned by the result and live as long as it; each
 * accessor sets *count. */

/* One market per engine type, indexed by type. */
const struct gm_policy_market *gm_policy_result_markets(const struct gm_policy_result *result,
                                                        size_t *count);
/* Offers, sorted by node then type; never more than a node's idle GPUs
 * beyond its reserve, only GPUs idle for the dwell time, on available nodes
 * of the market partition, of offered types.  Per node, the GPUs idle the
 * longest are offered first. */
const struct gm_policy_offer *gm_policy_result_offers(const struct gm_policy_result *result,
                                                      size_t *count);
/* Verdicts, one per bid, in the snapshot's bid order. */
const struct gm_policy_verdict *gm_policy_result_verdicts(const struct gm_policy_result *result,
                                                          size_t *count);
/* The verdict of a job id (binary search), or NULL when it had no bid. */
const struct gm_policy_verdict *gm_policy_result_find(const struct gm_policy_result *result,
                                                      uint32_t job_id);
/* Admitted jobs as indexes into the verdicts, in admission order: by type,
 * then highest bid, earliest submit time, lowest job id. */
const uint32_t *gm_policy_result_admitted(const struct gm_policy_result *result, size_t *count);
/* Placements of the admitted jobs, grouped by job in admission order. */
const struct gm_policy_placement *gm_policy_result_placements(const struct gm_policy_result *result,
                                                              size_t *count);
/* Every node index, in the order local (non-market) jobs should try them:
 * fewest market GPUs (running plus just admitted) first, so fewer
 * preemptions are needed; ties by node index. */
const uint32_t *gm_policy_result_local_order(const struct gm_policy_result *result, size_t *count);
/* Every lease index, in preemption order (see gm_policy_preempt_order). */
const uint32_t *gm_policy_result_preempt_order(const struct gm_policy_result *result,
                                               size_t *count);
/* Price history records of this decision: one per offered type whose price,
 * supply or demand differs from the engine's previous decision (all offered
 * types on the first one), in type order, stamped with the snapshot's now. */
const struct gm_policy_price_record *gm_policy_result_history(const struct gm_policy_result *result,
                                                              size_t *count);

/* A short reason for a status, for squeue and `gpumarket quote`. */
const char *gm_policy_status_string(enum gm_policy_status status);

/* ------------------------------------------------- preemption, lease, money */

/* Order `count` leases for preemption into order[] (lease indexes): lowest
 * locked price first, then the most recently started, then the highest job
 * id.  Returns 0, or -1 when memory runs out. */
int gm_policy_preempt_order(const struct gm_policy_lease *leases, size_t count, uint32_t *order);

/* What a starting job asks for. */
struct gm_policy_lease_request {
    int64_t price;      /* the type's clearing price */
    int64_t bid;        /* the job's effective bid */
    uint32_t gpus;      /* > 0 */
    int64_t max_cost;   /* --market-max-cost in micro-units, or GM_POLICY_UNLIMITED */
    int64_t time_limit; /* requested seconds, or GM_POLICY_UNLIMITED */
};

/* The fixed terms of a lease. */
struct gm_policy_lease_terms {
    int64_t price;      /* locked price: the clearing price, never above the bid */
    int64_t time_limit; /* seconds, or GM_POLICY_UNLIMITED */
    int clamped;        /* 1 when max_cost shortened the time limit */
};

/* Fix the terms of a lease at start.  With a max cost, the time limit is the
 * smaller of the requested one and the longest T whose bill,
 * gm_policy_segment_amount(price, gpus * T), is at most max_cost (exact
 * integer arithmetic).  Slurm keeps time limits in minutes: round the
 * result down.  For a requeued job pass the max cost minus what its earlier
 * segments were billed.  Returns 0, or -1 with a message in err when the bid
 * is below the price, a value is out of range, or the max cost does not
 * cover one second. */
int gm_policy_lease_terms(const struct gm_policy_lease_request *request,
                          struct gm_policy_lease_terms *terms, char *err, size_t errlen);

/* GPU-seconds of a segment: gpus * (end - start).  Returns 0, or -1 with a
 * message when end < start or the product overflows int64. */
int gm_policy_gpu_seconds(uint32_t gpus, int64_t start, int64_t end, int64_t *gpu_seconds,
                          char *err, size_t errlen);

/* The amount billed for a segment: the billing rule, gm_money_bill
 * (common/money.h), floor(price * gpu_seconds / 3600) micro-units, rounded
 * down per segment.  Returns 0, or -1 with a message when an input is
 * negative or the amount exceeds GM_MONEY_BILL_MAX (no saturation). */
int gm_policy_segment_amount(int64_t price, int64_t gpu_seconds, int64_t *amount, char *err,
                             size_t errlen);

#endif
