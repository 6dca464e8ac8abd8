/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sorting helpers for the policy engine: a stable bottom-up merge sort
 * instantiated per element type with an inlined comparison (qsort's
 * indirect calls cost too much at 100,000 bids), and a radix sort on 32-bit
 * keys.  Internal to the policy library. */
#ifndef GPUMARKET_POLICY_SORT_H
#define GPUMARKET_POLICY_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Defines `static void NAME(T *a, T *tmp, size_t n, const void *ctx)`:
 * sorts a[0..n) stably by LESS(ctx, const T *x, const T *y), using tmp
 * (n elements) as scratch. */
#define GM_DEFINE_MERGE_SORT(NAME, T, LESS)                                       \
    static void NAME(T *a, T *tmp, size_t n, const void *ctx)                     \
    {                                                                             \
        const size_t run = 16;                                                    \
        (void)ctx;                                                                \
        for (size_t lo = 0; lo < n; lo += run) {                                  \
            size_t hi = lo + run < n ? lo + run : n;                              \
            for (size_t i = lo + 1; i < hi; i++) {                                \
                T x = a[i];                                                       \
                size_t j = i;                                                     \
                while (j > lo && LESS(ctx, &x, &a[j - 1])) {                      \
                    a[j] = a[j - 1];                                              \
                    j--;                                                          \
                }                                                                 \
                a[j] = x;                                                         \
            }                                                                     \
        }                                                                         \
        T *src = a, *dst = tmp;                                                   \
        for (size_t width = run; width < n; width *= 2) {                         \
            for (size_t lo = 0; lo < n; lo += 2 * width) {                        \
                size_t mid = lo + width < n ? lo + width : n;                     \
                size_t hi = lo + 2 * width < n ? lo + 2 * width : n;              \
                size_t i = lo, j = mid, k = lo;                                   \
                while (i < mid && j < hi)                                         \
                    dst[k++] = LESS(ctx, &src[j], &src[i]) ? src[j++] : src[i++]; \
                while (i < mid)                                                   \
                    dst[k++] = src[i++];                                          \
                while (j < hi)                                                    \
                    dst[k++] = src[j++];                                          \
            }                                                                     \
            T *swap = src;                                                        \
            src = dst;                                                            \
            dst = swap;                                                           \
        }                                                                         \
        if (src != a)                                                             \
            memcpy(a, src, n * sizeof *a);                                        \
    }

/* Sort a[0..n) by the upper 32 bits (stable: equal keys keep their order),
 * 8 bits a pass, skipping bytes equal in every key; tmp holds n elements. */
static inline void gm_radix_sort_hi32(uint64_t *a, uint64_t *tmp, size_t n)
{
    if (n < 2)
        return;
    uint64_t diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= a[i] ^ a[0];
    uint64_t *src = a, *dst = tmp;
    for (unsigned shift = 32; shift < 64; shift += 8) {
        if (((diff >> shift) & 0xff) == 0)
            continue;
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((src[i] >> shift) & 0xff) + 1]++;
        for (size_t b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xff]++] = src[i];
        uint64_t *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* An element sorted by the 128-bit key (k1, k2), both compared unsigned. */
struct gm_key_item {
    uint64_t k1;
    uint64_t k2;
    uint32_t index;
};

#define GM_KEY2_LESS(ctx, x, y) ((x)->k2 < (y)->k2)
GM_DEFINE_MERGE_SORT(gm_sort_by_key2, struct gm_key_item, GM_KEY2_LESS)

/* Sort a[0..n) by k1 (stable): an LSD radix sort, 8 bits a pass, skipping
 * the bytes equal in every key (so real inputs take a few passes).  tmp
 * holds n elements. */
static inline void gm_radix_sort_k1(struct gm_key_item *a, struct gm_key_item *tmp, size_t n)
{
    if (n < 2)
        return;
    uint64_t diff = 0;
    for (size_t i = 1; i < n; i++)
        diff |= a[i].k1 ^ a[0].k1;
    struct gm_key_item *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (((diff >> shift) & 0xff) == 0)
            continue;
        size_t count[257] = { 0 };
        for (size_t i = 0; i < n; i++)
            count[((src[i].k1 >> shift) & 0xff) + 1]++;
        for (size_t b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i].k1 >> shift) & 0xff]++] = src[i];
        struct gm_key_item *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

/* Sort the run of equal k1 that starts at a[0] (of a[0..n)) by k2, and
 * return its length: runs are short in practice; a long one costs a merge
 * sort.  tmp holds the run. */
static inline size_t gm_sort_run_by_key2(struct gm_key_item *a, struct gm_key_item *tmp, size_t n)
{
    size_t len = 1;
    while (len < n && a[len].k1 == a[0].k1)
        len++;
    if (len > 1)
        gm_sort_by_key2(a, tmp, len, NULL);
    return len;
}

/* Sort a[0..n) by (k1, k2): gm_radix_sort_k1, then each run of equal k1
 * by k2.  tmp holds n elements. */
static inline void gm_radix_sort_keys(struct gm_key_item *a, struct gm_key_item *tmp, size_t n)
{
    gm_radix_sort_k1(a, tmp, n);
    for (size_t lo = 0; lo < n;)
        lo += gm_sort_run_by_key2(a + lo, tmp, n - lo);
}

#endif
