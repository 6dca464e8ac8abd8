/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Independent checks of the policy engine's contract (market/policy.h),
 * shared by the property tests (market/test/properties.c) and the fuzz
 * target (market/fuzz/fuzz-decide.c).  Each returns 0, or -1 with a message
 * in why naming the first property that does not hold. */
#ifndef GPUMARKET_POLICY_CHECK_H
#define GPUMARKET_POLICY_CHECK_H

#include "market/policy.h"

#include <stddef.h>

/* Whether `snapshot` is consistent as gm_policy_decide's contract defines
 * it for an engine made from `params`: indexes in range, counts that add
 * up, at most GM_POLICY_MAX_NODE_GPUS GPUs a node, unique job ids among
 * bids and among leases, no bid or lease of 0 GPUs, no negative bid or
 * lease price.  -1 says why not. */
int gm_policy_check_snapshot(const struct gm_policy_params *params,
                             const struct gm_policy_snapshot *snapshot, char *why, size_t whylen);

/* Whether `result`, the decision for the consistent `snapshot` of an
 * engine made from `params`, keeps the contract: offers (exactly what may
 * be offered: idle long enough, beyond the node's reserve, on available
 * market-partition nodes, of offered types), one market per type whose
 * supply is the sum of its offers, verdicts in bid order, prices between
 * the reserve and every admitted bid, no bid above MaxBid admitted,
 * admitted GPUs (array tasks included) within the supply, placements that
 * add up per job, stay within each node's offers and keep gpus_per_node,
 * the local order (a permutation, fewest market GPUs first) and the
 * preemption order (a permutation, in gm_policy_preempt_order's order). */
int gm_policy_check_decision(const struct gm_policy_params *params,
                             const struct gm_policy_snapshot *snapshot,
                             const struct gm_policy_result *result, char *why, size_t whylen);

/* Whether `result` clears as a naive uniform-price reference does: per
 * type, the longest prefix of the bids (high to low) at or above the
 * reserve that the supply holds is admitted, the price is the reserve or
 * the highest bid left out.  Only for snapshots without array tasks or
 * gpus_per_node (returns 0 for others); `snapshot` must be consistent and
 * `result` have passed gm_policy_check_decision. */
int gm_policy_check_reference(const struct gm_policy_params *params,
                              const struct gm_policy_snapshot *snapshot,
                              const struct gm_policy_result *result, char *why, size_t whylen);

/* Whether two decisions on the same snapshot (up to the order of its idle,
 * bid and lease arrays) are the same: offers, markets, placements, local
 * order, each job's verdict and the preemption order by job id. */
int gm_policy_check_same(const struct gm_policy_snapshot *s1, const struct gm_policy_result *r1,
                         const struct gm_policy_snapshot *s2, const struct gm_policy_result *r2,
                         char *why, size_t whylen);

/* Shuffle a snapshot's idle, bid and lease arrays in place, pseudo-randomly
 * from `seed` (Fisher-Yates): the same snapshot as far as the contract goes. */
void gm_policy_check_shuffle(struct gm_policy_idle *idle, size_t idle_count,
                             struct gm_policy_bid *bids, size_t bid_count,
                             struct gm_policy_lease *leases, size_t lease_count, uint64_t seed);

#endif
