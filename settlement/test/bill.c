/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The billing rule exists once (gm_money_bill): receipts and the policy
 * engine's lease terms are driven through it at its bound, just below, at and
 * just above, and must agree with it and with each other. */
#include "config.h"

#include "common/money.h"
#include "market/policy.h"
#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUND GM_MONEY_BILL_MAX

/* A backfill receipt of one GPU for `seconds` at `price`, amount left out so
 * the library computes it. */
static int receipt_of(int64_t price, int64_t seconds, struct gm_receipt *r, char *err,
                      size_t errlen)
{
    char json[512];
    err[0] = '\0';
    snprintf(json, sizeof json,
             "{\"version\":1,\"cluster\":\"c\",\"job_id\":1,\"segment\":0,\"user\":\"u\","
             "\"account\":\"a\",\"nodes\":\"n1\",\"gpu_type\":\"h100\",\"gpu_count\":1,"
             "\"start\":0,\"end\":%" PRId64 ",\"price_micro_per_gpu_hour\":%" PRId64
             ",\"end_reason\":\"completed\"}",
             seconds, price);
    if (gm_receipt_parse_input(json, strlen(json), r, err, errlen) != 0)
        return -1;
    memcpy(r->key_id, "0a1b2c3d", 9); /* the ledger sets it when signing */
    return 0;
}

static void rule_at_bound(void)
{
    char err[512];
    int64_t a = -7;
    /* price = BOUND per GPU-hour: 3600 GPU-seconds bill exactly BOUND. */
    int rc = gm_money_bill(BOUND, 3599, &a, err, sizeof err);
    ok(rc == 0 && a == BOUND - BOUND / 3600 - 1, "just below the bound: %" PRId64, a);
    ok(gm_money_bill(BOUND, 3600, &a, err, sizeof err) == 0 && a == BOUND, "at the bound");
    a = -7;
    ok(gm_money_bill(BOUND, 3601, &a, err, sizeof err) == -1 && a == -7 &&
           strstr(err, "more than the largest bill"),
       "just above the bound: refused, amount untouched: %s", err);
    ok(gm_money_bill(INT64_MAX, INT64_MAX, &a, err, sizeof err) == -1,
       "the largest inputs are refused, not wrapped");
    ok(gm_money_bill(-1, 1, &a, err, sizeof err) == -1 &&
           gm_money_bill(1, -1, &a, err, sizeof err) == -1,
       "negative inputs are refused");
    ok(gm_money_bill(2400000, 1, &a, err, sizeof err) == 0 && a == 666,
       "rounded down: 1 GPU-second at 2.40/h is 666 micro-units");
}

static void receipts_at_bound(void)
{
    char err[512];
    struct gm_receipt r;
    int64_t want;

    gm_money_bill(BOUND, 3599, &want, NULL, 0);
    ok(receipt_of(BOUND, 3599, &r, err, sizeof err) == 0 && r.amount_micro == want &&
           gm_receipt_amount(3599, BOUND) == want,
       "receipt just below the bound bills %" PRId64 ": %s", want, err);
    ok(receipt_of(BOUND, 3600, &r, err, sizeof err) == 0 && r.amount_micro == BOUND &&
           gm_receipt_check(&r, err, sizeof err) == 0,
       "receipt at the bound bills exactly the bound and checks: %s", err);
    size_t len;
    char *enc = gm_receipt_encode(&r, &len, err, sizeof err);
    struct gm_receipt back;
    ok(enc && gm_receipt_decode(enc, len, &back, err, sizeof err) == 0 &&
           back.amount_micro == BOUND,
       "and it round-trips through canonical JSON");
    free(enc);
    ok(receipt_of(BOUND, 3601, &r, err, sizeof err) == -1 && strstr(err, "amount_micro") &&
           strstr(err, "largest bill") && gm_receipt_amount(3601, BOUND) == -1,
       "receipt just above the bound is refused by the same rule: %s", err);
}

/* One lease: its clamp, then the receipts for the clamped time and one
 * second more, all through the same rule. */
static void lease_at(int64_t price, int64_t max_cost)
{
    char err[512];
    struct gm_policy_lease_request q = { price, price, 1, max_cost, GM_POLICY_UNLIMITED };
    struct gm_policy_lease_terms t;
    if (gm_policy_lease_terms(&q, &t, err, sizeof err) != 0) {
        ok(0, "lease terms at max cost %" PRId64 ": %s", max_cost, err);
        return;
    }
    int64_t budget = max_cost < BOUND ? max_cost : BOUND, at, above;
    int rc_at = gm_money_bill(price, t.time_limit, &at, NULL, 0);
    int rc_above = gm_money_bill(price, t.time_limit + 1, &above, NULL, 0);
    ok(t.clamped && rc_at == 0 && at <= budget && (rc_above == -1 || above > budget),
       "max cost %" PRId64 ": the clamp, %" PRId64 " s, is the longest time whose bill (%" PRId64
       ") stays within %" PRId64,
       max_cost, t.time_limit, at, budget);
    int64_t seg;
    ok(gm_policy_segment_amount(price, t.time_limit, &seg, err, sizeof err) == 0 && seg == at,
       "the policy engine's segment amount is the same rule");
    struct gm_receipt r;
    ok(receipt_of(price, t.time_limit, &r, err, sizeof err) == 0 && r.amount_micro == at,
       "the lease's whole time makes a receipt billing %" PRId64 ": %s", at, err);
    if (max_cost >= BOUND)
        ok(receipt_of(price, t.time_limit + 1, &r, err, sizeof err) == -1 &&
               gm_policy_segment_amount(price, t.time_limit + 1, &seg, NULL, 0) == -1,
           "one second more could not be receipted: the lease never allows it");
}

int main(void)
{
    plan(TAP_NO_PLAN);
    rule_at_bound();
    receipts_at_bound();
    /* 1,000 units per GPU-hour: the bound is reached after about 1,000 years. */
    const int64_t price = 1000000000;
    lease_at(price, BOUND - 1);
    lease_at(price, BOUND);
    lease_at(price, BOUND + 1);
    lease_at(price, INT64_MAX);
    /* 3,600 units per GPU-hour, a bill of one unit a second. */
    lease_at(3600000000, BOUND);
    lease_at(3600000000, BOUND + 1);
    done_testing();
    return exit_status();
}
