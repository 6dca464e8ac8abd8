/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A market job as the select plugin sees it: the GPUs its request asks for,
 * the reason text a waiting buyer reads, and the lease record kept in the
 * job's SystemComment.  Pure logic, no Slurm header: unit-tested directly. */
#ifndef GPUMARKET_MARKET_JOB_H
#define GPUMARKET_MARKET_JOB_H

#include "market/policy.h"

#include <stddef.h>
#include <stdint.h>

/* Longest GPU type name kept (gpumarket.conf's limit). */
#define GM_JOB_MAX_TYPE 31
/* A buffer of this size holds any reason or lease text written here. */
#define GM_JOB_TEXT_MAX 256

/* Sum the GPUs of a Slurm TRES request string as slurmctld keeps it in
 * tres_per_job / tres_per_node / tres_per_task / tres_per_socket: a comma
 * list of "gres:gpu:N", "gres:gpu:TYPE:N" (also "gres/gpu..." and without
 * the "gres:" prefix); other TRES are skipped.  NULL or "" asks for none.
 * Sets *count and type ("" when untyped, typelen >= GM_JOB_MAX_TYPE + 1).
 * Returns 0, or -1 with a message naming the input when a count is not a
 * plain decimal, overflows, or two GPU types are asked for at once. */
int gm_job_parse_gpu_tres(const char *tres, uint64_t *count, char *type, size_t typelen, char *err,
                          size_t errlen);

/* The request forms a job may use, from its record. */
struct gm_job_gpu_request {
    const char *per_job;          /* --gpus */
    const char *per_node;         /* --gpus-per-node, --gres=gpu:N */
    const char *per_task;         /* --gpus-per-task */
    const char *per_socket;       /* --gpus-per-socket */
    uint32_t nodes;               /* minimum node count, 0 read as 1 */
    uint32_t tasks;               /* task count, 0 read as 1 */
    uint32_t exclusive_node_gpus; /* --exclusive: GPUs of one whole node, else 0 */
};

/* GPUs a job asks for in total: --gpus as given, else per node times nodes,
 * else per task times tasks, else per socket times nodes (one socket a node,
 * the least it can mean); an --exclusive job with no GPU request takes
 * every GPU of its nodes.  Sets *gpus (0: no GPU asked) and type.  Returns
 * 0, or -1 with a message when a form is malformed or the total exceeds
 * GM_POLICY_MAX_NODE_GPUS per node. */
int gm_job_gpus(const struct gm_job_gpu_request *req, uint32_t *gpus, char *type, size_t typelen,
                char *err, size_t errlen);

/* As gm_job_gpus, and the GPUs the request fixes per node: the count of
 * --gpus-per-node / --gres=gpu:N, or one whole node's for --exclusive; 0
 * when the total may be spread over nodes in any way (--gpus,
 * --gpus-per-task, --gpus-per-socket). */
int gm_job_gpus_shaped(const struct gm_job_gpu_request *req, uint32_t *gpus, uint32_t *per_node,
                       char *type, size_t typelen, char *err, size_t errlen);

/* The reason a pending market job shows in squeue / scontrol (as
 * state_desc), e.g. "gpumarket: bid 2.00 < price 2.40 (h100)" or
 * "gpumarket: no h100 offered".  `max_bid` is MaxBid in micro-units.
 * Returns the length written (always terminated; buflen >= GM_JOB_TEXT_MAX
 * always suffices), or 0 for an admitted verdict (no reason). */
size_t gm_job_reason(const struct gm_policy_verdict *verdict, const char *type_name,
                     int64_t max_bid, char *buf, size_t buflen);

/* The fixed terms of one lease segment.  Keyed by (job id, start): a
 * requeued job starts a new segment with new terms. */
struct gm_job_lease {
    uint32_t job_id;
    int64_t start;    /* the segment's start, Unix seconds */
    int64_t price;    /* locked price, micro-units per GPU-hour */
    int64_t bid;      /* the effective bid it was admitted with */
    int64_t max_cost; /* micro-units, or GM_POLICY_UNLIMITED */
    uint32_t gpus;    /* allocated GPUs */
    char type[GM_JOB_MAX_TYPE + 1];
    int64_t limit_min; /* the time limit the lease allows, minutes, or GM_POLICY_UNLIMITED */
};

/* The marker that starts a lease record in SystemComment. */
#define GM_JOB_LEASE_MARK "gpumarket lease:"

/* Write `lease` as one line: GM_JOB_LEASE_MARK then key=value pairs
 * (job, start, price_micro, bid_micro, max_cost_micro, gpus, type,
 * limit_min; -1 for unlimited).  Returns its length, or -1 when buf is too
 * small or the type holds a character other than [A-Za-z0-9_.-]. */
int gm_job_lease_format(const struct gm_job_lease *lease, char *buf, size_t buflen);

/* Read the LAST lease record in `text` (a SystemComment may hold other
 * lines before it) back into *lease, as strictly as it was written.
 * Returns 0, 1 when `text` has no record, or -1 with a message when the
 * record is malformed. */
int gm_job_lease_parse(const char *text, struct gm_job_lease *lease, char *err, size_t errlen);

/* The lease's end: start + limit_min minutes, or GM_POLICY_UNLIMITED. */
int64_t gm_job_lease_end(const struct gm_job_lease *lease);

#endif
