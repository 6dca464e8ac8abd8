/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sorting helpers for the policy engine: a stable bottom-up merge sort
 * instantiated per element type with an inlined comparison (qsort's
 * indirect calls cost too much at 100,000 bids), and radix sorts on integer
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

/* Radix sorts, stable, by a 64-bit unsigned key KEY(x) of elements of type
 * T; tmp holds n elements.  FINISH(range, scratch, m) then runs on each
 * sorted range (the whole array, or each bucket below) whose keys no other
 * range shares, with as much scratch.  Only the bits the keys differ in count: the key
 * less the smallest key, a byte a pass, skipping bytes equal in every key.
 * Arrays beyond GM_RADIX_MSD_MIN elements no longer fit the CPU's L2 cache
 * (1 MB and less), and a pass over them costs a trip to L3 or memory per
 * element moved, twice (read, scattered write): those take one pass on the
 * top byte of the key (256 buckets) and then sort each bucket, a few
 * hundred elements that stay in L1, by the bytes below.  Same order either
 * way: a stable sort by the key has one result. */
#ifndef GM_RADIX_MSD_MIN /* a test may lower it */
#define GM_RADIX_MSD_MIN 65536
#endif

#define GM_DEFINE_RADIX_SORT(NAME, T, KEY, FINISH)                             \
    /* LSD passes over a[0..n) on the bytes of KEY(x) set in `diff` (the     \
     * bytes the keys differ in); the result is in a. */ \
    static void NAME##_lsd(T *a, T *tmp, size_t n, uint64_t diff)              \
    {                                                                          \
        T *src = a, *dst = tmp;                                                \
        for (unsigned shift = 0; shift < 64; shift += 8) {                     \
            if (((diff >> shift) & 0xff) == 0)                                 \
                continue;                                                      \
            size_t count[257] = { 0 };                                         \
            for (size_t i = 0; i < n; i++)                                     \
                count[((KEY(&src[i])) >> shift & 0xff) + 1]++;                 \
            for (size_t b = 0; b < 256; b++)                                   \
                count[b + 1] += count[b];                                      \
            for (size_t i = 0; i < n; i++)                                     \
                dst[count[(KEY(&src[i])) >> shift & 0xff]++] = src[i];         \
            T *swap = src;                                                     \
            src = dst;                                                         \
            dst = swap;                                                        \
        }                                                                      \
        if (src != a)                                                          \
            memcpy(a, src, n * sizeof *a);                                     \
    }                                                                          \
    static void NAME(T *a, T *tmp, size_t n)                                   \
    {                                                                          \
        if (n < 2)                                                             \
            return;                                                            \
        uint64_t k0 = KEY(&a[0]), low = k0, high = k0, diff = 0;               \
        for (size_t i = 1; i < n; i++) {                                       \
            uint64_t k = KEY(&a[i]);                                           \
            low = k < low ? k : low;                                           \
            high = k > high ? k : high;                                        \
            diff |= k ^ k0;                                                    \
        }                                                                      \
        if (diff == 0) {                                                       \
            FINISH(a, tmp, n);                                                 \
            return;                                                            \
        }                                                                      \
        unsigned bits = 64 - (unsigned)__builtin_clzll(high - low);            \
        if (n < GM_RADIX_MSD_MIN || bits <= 8) {                               \
            NAME##_lsd(a, tmp, n, diff);                                       \
            FINISH(a, tmp, n);                                                 \
            return;                                                            \
        }                                                                      \
        unsigned shift = bits - 8;                                             \
        size_t count[257] = { 0 };                                             \
        for (size_t i = 0; i < n; i++)                                         \
            count[((KEY(&a[i]) - low) >> shift & 0xff) + 1]++;                 \
        for (size_t b = 0; b < 256; b++)                                       \
            count[b + 1] += count[b];                                          \
        size_t start[256];                                                     \
        memcpy(start, count, sizeof start);                                    \
        for (size_t i = 0; i < n; i++)                                         \
            tmp[count[(KEY(&a[i]) - low) >> shift & 0xff]++] = a[i];           \
        for (size_t b = 0; b < 256; b++) {                                     \
            size_t lo = start[b], m = count[b] - lo;                           \
            T *bucket = tmp + lo;                                              \
            if (m > 32) {                                                      \
                uint64_t d = 0, b0 = KEY(&bucket[0]);                          \
                for (size_t i = 1; i < m; i++)                                 \
                    d |= KEY(&bucket[i]) ^ b0;                                 \
                NAME##_lsd(bucket, a + lo, m, d);                              \
            } else {                                                           \
                for (size_t i = 1; i < m; i++) {                               \
                    T x = bucket[i];                                           \
                    size_t j = i;                                              \
                    for (; j > 0 && KEY(&x) < KEY(&bucket[j - 1]); j--)        \
                        bucket[j] = bucket[j - 1];                             \
                    bucket[j] = x;                                             \
                }                                                              \
            }                                                                  \
            memcpy(a + lo, bucket, m * sizeof *a);                             \
            FINISH(a + lo, bucket, m);                                         \
        }                                                                      \
    }

/* Sort a[0..n) by the upper 32 bits (stable: equal keys keep their order);
 * tmp holds n elements. */
#define GM_HI32_KEY(x)          (*(x) >> 32)
#define GM_NO_FINISH(a, tmp, n) ((void)0)
GM_DEFINE_RADIX_SORT(gm_radix_sort_hi32, uint64_t, GM_HI32_KEY, GM_NO_FINISH)

/* An element sorted by the 128-bit key (k1, k2), both compared unsigned. */
struct gm_key_item {
    uint64_t k1;
    uint64_t k2;
    uint32_t index;
};

#define GM_KEY2_LESS(ctx, x, y) ((x)->k2 < (y)->k2)
GM_DEFINE_MERGE_SORT(gm_sort_by_key2, struct gm_key_item, GM_KEY2_LESS)

/* Sort each run of equal k1 in a[0..n) by k2 (runs are short in practice;
 * a long one costs a merge sort); tmp holds n elements. */
static inline void gm_sort_runs_by_key2(struct gm_key_item *a, struct gm_key_item *tmp, size_t n)
{
    for (size_t lo = 0; lo < n;) {
        size_t hi = lo + 1;
        while (hi < n && a[hi].k1 == a[lo].k1)
            hi++;
        if (hi - lo > 1)
            gm_sort_by_key2(a + lo, tmp, hi - lo, NULL);
        lo = hi;
    }
}

/* Sort a[0..n) by (k1, k2): a radix sort on k1 (above), each run of equal
 * k1 then sorted by k2 while its bucket is still in the cache.  tmp holds
 * n elements. */
#define GM_K1_KEY(x) ((x)->k1)
GM_DEFINE_RADIX_SORT(gm_radix_sort_keys, struct gm_key_item, GM_K1_KEY, gm_sort_runs_by_key2)

#endif
