/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark, under mpirun: our allreduce against MPI_Allreduce and against
 * the memory-copy bandwidth at the same size, and 1000 fused 4 KiB tensors
 * (adjacent, or scattered in memory) against 1000 separate MPI_Allreduce
 * calls.  Every figure is a median of per-round ratios, each round timing
 * both sides on the same data, alternating which goes first; results are
 * checked.  JSON lines on rank 0's stdout, commentary on stderr.
 *   bench-allreduce-mpi [--max-mib N] [--rounds N] [--label TEXT] [--fusion-only] */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, nranks;
static MPI_Comm comm;
static char label[128] = "";
static char machine[256];

static double max_all(double t)
{
    double m;
    MPI_Allreduce(&t, &m, 1, MPI_DOUBLE, MPI_MAX, comm);
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Quantile q of n sorted values (linear interpolation). */
static double quantile(const double *s, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i + 1 >= n)
        return s[n - 1];
    return s[i] + (pos - i) * (s[i + 1] - s[i]);
}

struct stats {
    double median, q1, q3, lo, hi;
};

static struct stats summarise(const double *v, int n)
{
    double *s = malloc(sizeof *s * (size_t)n);
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    struct stats st = { quantile(s, n, 0.5), quantile(s, n, 0.25), quantile(s, n, 0.75), s[0],
                        s[n - 1] };
    free(s);
    return st;
}

/* One JSON line: ours and baseline are medians of the per-round figures,
 * ratio the median of the per-round ratios, spread its quartiles. */
static void json(const char *name, const char *unit, double ours, double base, struct stats ratio,
                 double target, int higher, int rounds, int correct, const char *extra)
{
    char t[32];
    if (target > 0)
        snprintf(t, sizeof t, "%.3f", target);
    else
        snprintf(t, sizeof t, "null");
    printf(
        "{\"name\": \"%s%s\", \"unit\": \"%s\", \"ours\": %.4f, \"baseline\": %.4f, \"ratio\": %.3f, \"target\": %s, \"higher_is_better\": %s, \"rounds\": %d, \"spread\": [%.3f, %.3f], \"range\": [%.3f, %.3f], \"correct\": %s, %s%s}\n",
        name, label, unit, ours, base, ratio.median, t, higher ? "true" : "false", rounds, ratio.q1,
        ratio.q3, ratio.lo, ratio.hi, correct ? "true" : "false", extra, machine);
    fflush(stdout);
}

/* Fill a buffer with this rank's small integers: float sums of them are
 * exact in any order, so results are checked bitwise. */
static void fill(float *b, size_t n, size_t salt)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (float)((i * 7 + salt + (size_t)rank * 3) % 61);
}

static int check(const float *b, size_t n, size_t salt)
{
    for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < nranks; r++)
            want += (float)((i * 7 + salt + (size_t)r * 3) % 61);
        if (b[i] != want)
            return 0;
    }
    return 1;
}

/* The copy bandwidth at `bytes`: every rank copies at once, as every rank
 * reduces at once.  Seconds for one copy, median over a few tries. */
static double copy_time(char *dst, const char *src, size_t bytes)
{
    double t[9];
    int reps = (int)(((size_t)4 << 20) / bytes) + 1;
    for (int k = 0; k < 9; k++) {
        MPI_Barrier(comm);
        double t0 = MPI_Wtime();
        for (int i = 0; i < reps; i++) {
            memcpy(dst, src, bytes);
            __asm__ volatile("" ::"r"(dst) : "memory");
        }
        t[k] = max_all(MPI_Wtime() - t0) / reps;
    }
    return summarise(t, 9).median;
}

static void bench_sizes(gmpi_ctx *ctx, size_t maxbytes, int rounds)
{
    char err[512];
    float *buf = malloc(maxbytes), *ref = malloc(maxbytes);
    char *cdst = malloc(maxbytes);
    double *ro = malloc(sizeof(double) * (size_t)rounds),
           *rb = malloc(sizeof(double) * (size_t)rounds);
    double *rr = malloc(sizeof(double) * (size_t)rounds);
    double busfactor = nranks > 1 ? 2.0 * (nranks - 1) / nranks : 1.0;
    for (size_t bytes = 4096; bytes <= maxbytes; bytes *= 4) {
        size_t count = bytes / 4;
        /* Calls per round: enough to time (about a millisecond). */
        int per = (int)(((size_t)1 << 20) / bytes) + 1;
        /* Checked first, on fresh data: sums of small integers are exact,
         * so both results must match the expected sums bit for bit. */
        fill(buf, count, 5);
        fill(ref, count, 5);
        int correct = gmpi_allreduce(ctx, buf, count, GMPI_FLOAT, GMPI_SUM, err, sizeof err) == 0;
        MPI_Allreduce(MPI_IN_PLACE, ref, (int)count, MPI_FLOAT, MPI_SUM, comm);
        correct = correct && check(buf, count, 5) && check(ref, count, 5);
        for (int k = -1; k < rounds; k++) { /* round -1 warms up */
            double t[2];
            for (int side = 0; side < 2; side++) {
                int ours = (side + k + 2) % 2 == 0; /* alternate which side goes first */
                float *b = ours ? buf : ref;
                fill(b, count, (size_t)k + 5); /* the same data for both */
                MPI_Barrier(comm);
                double t0 = MPI_Wtime();
                for (int i = 0; i < per; i++) {
                    if (ours)
                        gmpi_allreduce(ctx, b, count, GMPI_FLOAT, GMPI_SUM, err, sizeof err);
                    else
                        MPI_Allreduce(MPI_IN_PLACE, b, (int)count, MPI_FLOAT, MPI_SUM, comm);
                }
                t[ours] = max_all(MPI_Wtime() - t0) / per;
            }
            if (k >= 0) {
                ro[k] = t[1];
                rb[k] = t[0];
                rr[k] = t[1] / t[0]; /* time ratio: below 1 is faster */
            }
        }
        int all_correct;
        MPI_Allreduce(&correct, &all_correct, 1, MPI_INT, MPI_MIN, comm);
        double ct = copy_time(cdst, (const char *)ref, bytes);
        struct stats so = summarise(ro, rounds), sb = summarise(rb, rounds);
        struct stats sr = summarise(rr, rounds);
        for (int k = 0; k < rounds; k++)
            rr[k] = ct / ro[k]; /* fraction of one copy's time */
        struct stats sc = summarise(rr, rounds);
        if (rank == 0) {
            char name[128], extra[256];
            if (bytes >= (1u << 20))
                snprintf(name, sizeof name, "allreduce float sum %zu MiB np=%d vs MPI_Allreduce",
                         bytes >> 20, nranks);
            else
                snprintf(name, sizeof name, "allreduce float sum %zu KiB np=%d vs MPI_Allreduce",
                         bytes >> 10, nranks);
            snprintf(
                extra, sizeof extra,
                "\"bytes\": %zu, \"ours_busbw_GBps\": %.3f, \"baseline_busbw_GBps\": %.3f, \"copy_GBps_at_size\": %.3f, \"fraction_of_copy\": %.3f, \"algorithm\": \"%s\", ",
                bytes, (double)bytes / so.median * busfactor / 1e9,
                (double)bytes / sb.median * busfactor / 1e9, (double)bytes / ct / 1e9, sc.median,
                gmpi_algorithm_name(gmpi_choose_algorithm(ctx, bytes)));
            /* ours and baseline are times in microseconds, ratio ours over
             * baseline: at most 1 (no slower than MPI_Allreduce) from 64 KiB. */
            json(name, "us", so.median * 1e6, sb.median * 1e6, sr, bytes >= 65536 ? 1.0 : 0.0, 0,
                 rounds, all_correct, extra);
            fprintf(stderr,
                    "# %-52s %-14s ours %9.1f us, MPI %9.1f us, time ratio %.2f [%.2f-%.2f]; "
                    "copy %.2f GB/s, %.2f of one copy\n",
                    name, gmpi_algorithm_name(gmpi_choose_algorithm(ctx, bytes)), so.median * 1e6,
                    sb.median * 1e6, sr.median, sr.q1, sr.q3, (double)bytes / ct / 1e9, sc.median);
        }
    }
    free(buf);
    free(ref);
    free(cdst);
    free(ro);
    free(rb);
    free(rr);
}

/* 1000 tensors of 4 KiB, fused against one MPI_Allreduce each.  The engine
 * is started and stopped inside the timing (conservative). */
static void bench_fusion(gmpi_ctx *ctx, int scattered, int rounds)
{
    enum { NT = 1000, TC = 1024 };
    char err[512];
    size_t slots = scattered ? 2 * NT : NT;
    float *pool = malloc(sizeof(float) * TC * slots);
    float **t = malloc(sizeof *t * NT);
    gmpi_handle **h = malloc(sizeof *h * NT);
    double *ro = malloc(sizeof(double) * (size_t)rounds),
           *rb = malloc(sizeof(double) * (size_t)rounds);
    double *rr = malloc(sizeof(double) * (size_t)rounds);
    /* Scattered: tensor i in a pseudo-random slot of a pool twice the size,
     * so no two tensors queued in turn are neighbours in memory.  The same
     * permutation on every rank (a fixed seed). */
    size_t *perm = malloc(sizeof *perm * slots);
    for (size_t i = 0; i < slots; i++)
        perm[i] = i;
    unsigned long long x = 88172645463325252ull;
    for (size_t i = slots - 1; scattered && i > 0; i--) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t j = (size_t)(x % (i + 1)), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (int i = 0; i < NT; i++)
        t[i] = pool + perm[i] * TC;
    int correct = 1, fused_ok = 1;
    for (int k = -1; k < rounds; k++) {
        double tt[2];
        for (int side = 0; side < 2; side++) {
            int ours = (side + k + 2) % 2 == 0;
            for (int i = 0; i < NT; i++)
                fill(t[i], TC, (size_t)i + (size_t)k);
            MPI_Barrier(comm);
            double t0 = MPI_Wtime();
            if (ours) {
                if (gmpi_fusion_start(ctx, err, sizeof err))
                    fused_ok = 0;
                for (int i = 0; i < NT; i++)
                    if (gmpi_enqueue(ctx, t[i], TC, GMPI_FLOAT, GMPI_SUM, &h[i], err, sizeof err))
                        fused_ok = 0;
                for (int i = 0; i < NT; i++)
                    if (gmpi_wait(h[i], err, sizeof err))
                        fused_ok = 0;
                if (gmpi_fusion_stop(ctx, err, sizeof err))
                    fused_ok = 0;
            } else {
                for (int i = 0; i < NT; i++)
                    MPI_Allreduce(MPI_IN_PLACE, t[i], TC, MPI_FLOAT, MPI_SUM, comm);
            }
            tt[ours] = max_all(MPI_Wtime() - t0);
            if (!fused_ok) {
                fprintf(stderr, "gpumarket: bench: fusion failed: %s\n", err);
                MPI_Abort(comm, 1);
            }
            if (k == 0 || k == rounds - 1)
                for (int i = 0; i < NT; i += 37)
                    correct &= check(t[i], TC, (size_t)i + (size_t)k);
        }
        if (k >= 0) {
            ro[k] = tt[1] * 1e3;
            rb[k] = tt[0] * 1e3;
            rr[k] = tt[1] / tt[0];
        }
    }
    int all_correct;
    MPI_Allreduce(&correct, &all_correct, 1, MPI_INT, MPI_MIN, comm);
    struct stats so = summarise(ro, rounds), sb = summarise(rb, rounds), sr = summarise(rr, rounds);
    if (rank == 0) {
        char name[160];
        snprintf(name, sizeof name, "1000 x 4 KiB tensors fused vs separate MPI_Allreduce np=%d %s",
                 nranks, scattered ? "scattered" : "adjacent");
        /* Time ratio: at most 1/3 is 3x faster. */
        json(name, "ms", so.median, sb.median, sr, 1.0 / 3, 0, rounds, all_correct, "");
        fprintf(stderr,
                "# %-62s fused %.2f ms, separate %.2f ms: %.2fx faster (per-round %.2f-%.2f)\n",
                name, so.median, sb.median, 1 / sr.median, 1 / sr.q3, 1 / sr.q1);
    }
    free(pool);
    free(t);
    free(h);
    free(perm);
    free(ro);
    free(rb);
    free(rr);
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[512];
    if (gmpi_init(&argc, &argv, NULL, &ctx, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rank = gmpi_rank(ctx);
    nranks = gmpi_size(ctx);
    comm = gmpi_comm(ctx);
    size_t maxbytes = (size_t)64 << 20;
    int rounds = 30, fusion_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-mib") == 0 && i + 1 < argc)
            maxbytes = (size_t)strtoull(argv[++i], NULL, 10) << 20;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
            snprintf(label, sizeof label, " %s", argv[++i]);
        else if (strcmp(argv[i], "--fusion-only") == 0)
            fusion_only = 1;
        else {
            if (rank == 0)
                fprintf(stderr, "bench-allreduce-mpi: unknown argument '%s'\n", argv[i]);
            gmpi_finalize(ctx);
            return 2;
        }
    }
    if (rounds < 3)
        rounds = 3;
    /* The machine's label: cache sizes and the copy bandwidth of 64 MiB
     * (out of cache) and 256 KiB (in cache), every rank copying at once. */
    gmpi_caches c;
    gmpi_cache_sizes(&c, NULL, 0);
    size_t big = (size_t)64 << 20, small = (size_t)256 << 10;
    char *a = malloc(big), *b = malloc(big);
    memset(a, 1, big);
    memset(b, 2, big);
    double dram = (double)big / copy_time(b, a, big) / 1e9;
    double cache = (double)small / copy_time(b, a, small) / 1e9;
    free(a);
    free(b);
    snprintf(
        machine, sizeof machine,
        "\"machine\": {\"l1d_KiB\": %zu, \"l2_KiB\": %zu, \"l3_KiB\": %zu, \"copy_GBps_64MiB\": "
        "%.2f, \"copy_GBps_256KiB\": %.2f, \"ranks\": %d}",
        c.l1d >> 10, c.l2 >> 10, c.l3 >> 10, dram, cache, nranks);
    if (rank == 0)
        fprintf(stderr,
                "# np=%d%s: L1d %zu KiB, L2 %zu KiB, L3 %zu KiB; copy (all ranks at once) %.2f "
                "GB/s at 64 MiB, %.2f GB/s at 256 KiB; %d rounds\n",
                nranks, label, c.l1d >> 10, c.l2 >> 10, c.l3 >> 10, dram, cache, rounds);
    if (!fusion_only)
        bench_sizes(ctx, maxbytes, rounds);
    bench_fusion(ctx, 0, rounds);
    bench_fusion(ctx, 1, rounds);
    gmpi_finalize(ctx);
    return 0;
}
