/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lease terms and billing: the time-limit clamp at its exact boundary, the
 * per-segment rounding rule and its bound, overflow refused. */
#include "config.h"

#include "common/money.h"
#include "common/rng.h"
#include "market/policy.h"
#include "tests/tap/tap.h"

#include <inttypes.h>
#include <string.h>

#define U GM_POLICY_UNLIMITED

static int64_t bill(int64_t price, int64_t gpu_seconds)
{
    int64_t a;
    if (gm_policy_segment_amount(price, gpu_seconds, &a, NULL, 0) < 0)
        bail_out("segment amount failed for %" PRId64 " x %" PRId64, price, gpu_seconds);
    return a;
}

struct amount_case {
    int64_t price, gpu_seconds, amount;
};

static const struct amount_case amounts[] = {
    { 3600000, 3600, 3600000 }, /* 3.60/GPU-hour for one GPU-hour */
    { 2400000, 1, 666 },        /* 666.66 rounded down */
    { 2400000, 3600, 2400000 },
    { 2400000, 5400, 3600000 },
    { 1, 3599, 0 }, /* below one micro-unit: nothing */
    { 1, 3600, 1 },
    { 0, 1000000, 0 },
    { 1000000, 0, 0 },
    { GM_MONEY_BILL_MAX, 3600, GM_MONEY_BILL_MAX }, /* the largest bill exactly */
    { GM_MONEY_BILL_MAX, 3601, -1 },                /* one second more: refused */
    { INT64_MAX, INT64_MAX, -1 },
    { -1, 10, -1 },
    { 10, -1, -1 },
};

struct terms_case {
    const char *why;
    struct gm_policy_lease_request q;
    int64_t price, time_limit; /* -2: refused */
    int clamped;
};

static const struct terms_case terms[] = {
    { "no cap: requested limit kept", { 2000000, 3000000, 4, U, 7200 }, 2000000, 7200, 0 },
    { "no cap, no limit", { 2000000, 3000000, 4, U, U }, 2000000, U, 0 },
    { "locked price is the clearing price, not the bid",
      { 2000000, 9000000, 1, U, 60 },
      2000000,
      60,
      0 },
    { "bid equal to the price", { 2000000, 2000000, 1, U, 60 }, 2000000, 60, 0 },
    { "bid below the price refused", { 2000000, 1999999, 1, U, 60 }, 0, -2, 0 },
    /* 4 GPUs at 2.00 = 8.00/hour; 4.00 buys 1800 s, and the bill of 1800 s
     * is exactly 4.00; of 1801 s it is 4.002222. */
    { "cap clamps the limit", { 2000000, 2000000, 4, 4000000, 7200 }, 2000000, 1800, 1 },
    { "cap above the requested limit's cost",
      { 2000000, 2000000, 4, 4000000, 1000 },
      2000000,
      1000,
      0 },
    { "cap with an unlimited request", { 2000000, 2000000, 4, 4000000, U }, 2000000, 1800, 1 },
    /* 1 GPU at 0.001/hour, cap 1 micro-unit: the exact cost passes 1 at
     * 3.6 s, but the bill, floor(1000 T / 3600), is 1 up to T = 7 s and 2 at
     * 8 s: the clamp follows the bill. */
    { "rounding-down bill lets a few seconds more", { 1000, 1000, 1, 1, U }, 1000, 7, 1 },
    { "cap below one second refused", { 3600000000, 3600000000, 1, 999999, U }, 0, -2, 0 },
    { "cap of exactly one second", { 3600000000, 3600000000, 1, 1000000, U }, 3600000000, 1, 1 },
    { "zero price: no clamp", { 0, 0, 8, 1, 600 }, 0, 600, 0 },
    { "huge cap, tiny price: GPU-seconds still fit int64",
      { 1, 1, 2, INT64_MAX, U },
      1,
      INT64_MAX / 2,
      1 },
    { "0 GPUs refused", { 1, 1, 0, U, U }, 0, -2, 0 },
    { "negative price refused", { -1, 1, 1, U, U }, 0, -2, 0 },
    { "zero time limit refused", { 1, 1, 1, U, 0 }, 0, -2, 0 },
    { "zero max cost refused", { 1, 1, 1, 0, 60 }, 0, -2, 0 },
};

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint64_t rng(void)
{
    return gm_rng_next(&rng_state);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[256];

    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        const struct amount_case *c = &amounts[i];
        int64_t a = -7;
        int rc = gm_policy_segment_amount(c->price, c->gpu_seconds, &a, err, sizeof err);
        if (c->amount < 0)
            ok(rc == -1 && a == -7 && strncmp(err, "gpumarket: policy: ", 19) == 0,
               "amount of %" PRId64 " GPU-s at %" PRId64 " refused: %s", c->gpu_seconds, c->price,
               err);
        else
            ok(rc == 0 && a == c->amount,
               "amount of %" PRId64 " GPU-s at %" PRId64 " = %" PRId64 " (got %" PRId64 ")",
               c->gpu_seconds, c->price, c->amount, a);
    }

    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        const struct terms_case *c = &terms[i];
        struct gm_policy_lease_terms t = { -9, -9, -9 };
        int rc = gm_policy_lease_terms(&c->q, &t, err, sizeof err);
        if (c->time_limit == -2)
            ok(rc == -1 && strncmp(err, "gpumarket: policy: lease terms: ", 32) == 0,
               "terms: %s: %s", c->why, err);
        else
            ok(rc == 0 && t.price == c->price && t.time_limit == c->time_limit &&
                   t.clamped == c->clamped,
               "terms: %s (price %" PRId64 ", limit %" PRId64 ", clamped %d)", c->why, t.price,
               t.time_limit, t.clamped);
    }

    int64_t gs;
    ok(gm_policy_gpu_seconds(4, 1000, 1600, &gs, err, sizeof err) == 0 && gs == 2400,
       "GPU-seconds of 4 GPUs for 600 s");
    ok(gm_policy_gpu_seconds(4, 1000, 1000, &gs, err, sizeof err) == 0 && gs == 0,
       "an empty segment");
    ok(gm_policy_gpu_seconds(4, 1000, 999, &gs, err, sizeof err) == -1 &&
           strstr(err, "before it starts"),
       "end before start refused: %s", err);
    ok(gm_policy_gpu_seconds(UINT32_MAX, 0, INT64_MAX / 2, &gs, err, sizeof err) == -1 &&
           strstr(err, "overflows"),
       "overflowing GPU-seconds refused: %s", err);
    ok(gm_policy_gpu_seconds(2, INT64_MIN, INT64_MAX, &gs, err, sizeof err) == -1,
       "a segment spanning all of int64 refused");

    /* Property: the clamp is exact.  The bill of the granted limit is within
     * the cap; one second more would exceed it (unless the requested limit
     * or int64 GPU-seconds stopped it first). */
    int clamp_failures = 0;
    for (int i = 0; i < 20000; i++) {
        struct gm_policy_lease_request q = {
            .price = (int64_t)(rng() % 20000000) + 1,
            .gpus = (uint32_t)(rng() % 64) + 1,
            .max_cost = (int64_t)(rng() % 1000000000) + 1,
            .time_limit = (rng() % 4) ? (int64_t)(rng() % 1000000) + 1 : U,
        };
        q.bid = q.price + (int64_t)(rng() % 1000);
        struct gm_policy_lease_terms t;
        if (gm_policy_lease_terms(&q, &t, err, sizeof err) < 0) {
            /* Only refused when one second already costs more than the cap. */
            if (bill(q.price, q.gpus) <= q.max_cost && clamp_failures++ < 5)
                diag("refused wrongly: %s", err);
            continue;
        }
        int64_t cost = bill(t.price, t.time_limit * (int64_t)q.gpus);
        int64_t next = bill(t.price, (t.time_limit + 1) * (int64_t)q.gpus);
        int good = t.price <= q.bid && cost <= q.max_cost &&
                   (t.clamped ? next > q.max_cost : t.time_limit == q.time_limit);
        if (!good && clamp_failures++ < 5)
            diag("clamp wrong: price %" PRId64 " gpus %u cap %" PRId64 " limit %" PRId64
                 " -> %" PRId64 " (cost %" PRId64 ", next %" PRId64 ")",
                 q.price, q.gpus, q.max_cost, q.time_limit, t.time_limit, cost, next);
    }
    is_int(clamp_failures, 0, "clamp exact at its boundary over 20000 random leases");

    /* Property: k segments bill at most the whole, and less by at most
     * k - 1 micro-units. */
    int bound_failures = 0;
    for (int i = 0; i < 20000; i++) {
        int64_t price = (int64_t)(rng() % 100000000);
        int k = (int)(rng() % 20) + 1;
        int64_t total_seconds = 0, sum = 0;
        for (int s = 0; s < k; s++) {
            int64_t seconds = (int64_t)(rng() % 1000000);
            total_seconds += seconds;
            sum += bill(price, seconds);
        }
        int64_t whole = bill(price, total_seconds);
        if (!(sum <= whole && whole - sum <= k - 1) && bound_failures++ < 5)
            diag("bound broken: price %" PRId64 ", %d segments: sum %" PRId64 ", whole %" PRId64,
                 price, k, sum, whole);
    }
    is_int(bound_failures, 0, "sum of segments within [whole - (k-1), whole], 20000 leases");

    /* Property: the amount is the exact floor (checked by long division in
     * another form: amount * 3600 <= price * s < (amount + 1) * 3600). */
    int exact_failures = 0;
    for (int i = 0; i < 20000; i++) {
        int64_t price = (int64_t)(rng() >> 24);
        int64_t seconds = (int64_t)(rng() >> 28);
        int64_t a;
        if (gm_policy_segment_amount(price, seconds, &a, NULL, 0) < 0)
            continue;
        unsigned __int128 exact = (unsigned __int128)price * (uint64_t)seconds;
        unsigned __int128 lo = (unsigned __int128)a * 3600;
        if (!(lo <= exact && exact < lo + 3600) && exact_failures++ < 5)
            diag("not exact: %" PRId64 " x %" PRId64 " -> %" PRId64, price, seconds, a);
    }
    is_int(exact_failures, 0, "amount is the exact floor for 20000 random segments");

    done_testing();
    return exit_status();
}
