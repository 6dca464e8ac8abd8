/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The policy engine's radix sorts (market/sort.h) against qsort, on sizes
 * from 0 to 200,000 (beyond the L2 cache) and on keys that are all equal,
 * few and repeated, or spread wide across the 64 bits. */
#include "config.h"

#include "market/sort.h"

#include "common/rng.h"
#include "tests/tap/tap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static uint64_t rng(void)
{
    return gm_rng_next(&rng_state);
}

/* A key of one of the distributions: 0 all equal, 1 few distinct values
 * (long runs), 2 a 24-bit range, 3 spread over every bit, 4 a narrow
 * range high up (constant top bytes, a carry below). */
static uint64_t key_of(int dist)
{
    switch (dist) {
    case 0:
        return 42;
    case 1:
        return rng() % 7 * 1000;
    case 2:
        return rng() & 0xffffff;
    case 3:
        return rng();
    default:
        return UINT64_C(0x00ffffffffff0000) + rng() % 0x20000;
    }
}

static int key_item_cmp(const void *a, const void *b)
{
    const struct gm_key_item *x = a, *y = b;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    if (x->k2 != y->k2)
        return x->k2 < y->k2 ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    static const size_t sizes[] = { 0, 1, 2, 33, 1000, 65536, 200000 };
    size_t most = 200000;
    struct gm_key_item *keys = malloc(2 * most * sizeof *keys);
    struct gm_key_item *want = malloc(most * sizeof *want);
    uint64_t *ids = malloc(2 * most * sizeof *ids);
    uint64_t *ids_want = malloc(most * sizeof *ids_want);
    if (!keys || !want || !ids || !ids_want)
        bail_out("out of memory");
    plan(TAP_NO_PLAN);
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        for (int dist = 0; dist < 5; dist++) {
            /* (k1, k2) with k2 repeated too: index breaks the last ties,
             * and the sort must keep the input order there (stable). */
            for (size_t i = 0; i < n; i++)
                keys[i] = (struct gm_key_item){ key_of(dist), rng() % 5, (uint32_t)i };
            memcpy(want, keys, n * sizeof *want);
            qsort(want, n, sizeof *want, key_item_cmp);
            gm_radix_sort_keys(keys, keys + n, n);
            ok(n == 0 || memcmp(keys, want, n * sizeof *want) == 0,
               "gm_radix_sort_keys: %zu keys, distribution %d, as qsort by (k1, k2, input order)",
               n, dist);

            /* Upper 32 bits the key, the lower ones the input position:
             * stable means the same as sorting the whole word. */
            for (size_t i = 0; i < n; i++)
                ids[i] = (dist == 4 ? key_of(dist) >> 24 : key_of(dist)) << 32 | i;
            memcpy(ids_want, ids, n * sizeof *ids_want);
            qsort(ids_want, n, sizeof *ids_want, u64_cmp);
            gm_radix_sort_hi32(ids, ids + n, n);
            ok(n == 0 || memcmp(ids, ids_want, n * sizeof *ids_want) == 0,
               "gm_radix_sort_hi32: %zu keys, distribution %d, stable", n, dist);
        }
    }
    free(keys);
    free(want);
    free(ids);
    free(ids_want);
    done_testing();
    return exit_status();
}
