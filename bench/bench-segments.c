/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark: what the segment journal costs slurmctld on its locked path.
 * select_p_job_fini looks the job's run up in the journal for every job
 * (local ones too); that lookup must not grow with the segments the journal
 * remembers (receipted ones are kept for hours).  Measured in the same run:
 * the lookup with 20,000 receipted segments remembered against the lookup
 * with 100 in 31 paired rounds (target: at most 2x), and the memory a receipted segment keeps
 * against the size of a receipt (target: at most 1/10).  JSON lines. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bytes the allocator has handed out and not had back (heap and mmap). */
static size_t heap_in_use(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "gpumarket: bench-segments: %s: %s\n", what, err);
    exit(1);
}

/* A journal with n receipted segments (a real ledger and key behind them),
 * opened again as slurmctld's journal is after a restart (replayed from the
 * file); *bytes is the memory it holds for them. */
static gm_segments *build(const char *dir, int n, const gm_key *key, size_t *bytes)
{
    char jpath[512], ldir[512], err[512];
    snprintf(jpath, sizeof jpath, "%s/journal-%d", dir, n);
    snprintf(ldir, sizeof ldir, "%s/ledger-%d", dir, n);
    gm_ledger *l =
        gm_ledger_open(ldir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "bench/segments", err, sizeof err);
    if (!l)
        die("ledger", err);
    gm_segments *s = gm_segments_open(jpath, err, sizeof err);
    if (!s)
        die("journal", err);
    for (int j = 1; j <= n; j++) {
        struct gm_receipt r;
        memset(&r, 0, sizeof r);
        strcpy(r.cluster, "bench");
        r.job_id = j;
        strcpy(r.user, "alice");
        strcpy(r.account, "physics");
        strcpy(r.nodes, "gpu[001-002]");
        strcpy(r.gpu_type, "h100");
        r.gpu_count = 8;
        r.start = 1800000000 + j;
        r.price_micro_per_gpu_hour = 2400000;
        struct gm_segment_end e = {
            .end = r.start + 600, .reason = GM_END_COMPLETED, .energy_mj = -1, .emissions_mg = -1
        };
        if (gm_segments_begin(s, (uint32_t)j, &r, r.start, err, sizeof err) ||
            gm_segments_end(s, (uint32_t)j, r.start, &e, err, sizeof err))
            die("begin/end", err);
    }
    int rc;
    while ((rc = gm_segments_settle(s, l, key, 256, 1900000000, err, sizeof err)) > 0)
        ;
    if (rc < 0)
        die("settle", err);
    gm_segments_close(s);
    gm_ledger_close(l);
    size_t before = heap_in_use();
    if (!(s = gm_segments_open(jpath, err, sizeof err)))
        die("journal", err);
    *bytes = heap_in_use() - before;
    return s;
}

/* ns per lookup of a run that has no segment (a local job's fini). */
static double lookup_ns(gm_segments *s, int n)
{
    char err[256];
    struct gm_segment_end e = {
        .end = 5, .reason = GM_END_COMPLETED, .energy_mj = -1, .emissions_mg = -1
    };
    const int k = 50000;
    double t0 = now();
    for (int i = 0; i < k; i++)
        if (gm_segments_end(s, (uint32_t)(n + 1 + i), 7, &e, err, sizeof err) != 1)
            die("lookup", "a run with no segment was found open");
    return (now() - t0) / k * 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *v, int n, double f)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = f * (n - 1);
    int i = (int)pos;
    return i + 1 >= n ? v[n - 1] : v[i] + (pos - i) * (v[i + 1] - v[i]);
}

int main(void)
{
    char dir[] = "/tmp/gm-bench-segments.XXXXXX", err[512], cmd[600];
    if (!mkdtemp(dir))
        die("mkdtemp", "cannot create a directory in /tmp");
    gm_key *key = gm_key_generate("bench/segments", err, sizeof err);
    if (!key)
        die("keygen", err);
    size_t small_bytes, big_bytes;
    const int small = 100, big = 20000;
    enum { ROUNDS = 31 };
    gm_segments *js = build(dir, small, key, &small_bytes);
    gm_segments *jb = build(dir, big, key, &big_bytes);
    /* Paired rounds, the order alternating: each round times both. */
    double ts[ROUNDS], tb[ROUNDS], ratio[ROUNDS];
    lookup_ns(js, small), lookup_ns(jb, big); /* warm up */
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2) {
            tb[r] = lookup_ns(jb, big);
            ts[r] = lookup_ns(js, small);
        } else {
            ts[r] = lookup_ns(js, small);
            tb[r] = lookup_ns(jb, big);
        }
        ratio[r] = tb[r] / ts[r];
    }
    gm_segments_close(js);
    gm_segments_close(jb);
    double rm = quantile(ratio, ROUNDS, 0.5), q1 = quantile(ratio, ROUNDS, 0.25),
           q3 = quantile(ratio, ROUNDS, 0.75);
    printf("{\"name\": \"segment journal lookup (a job_fini) with %d receipted segments vs %d\", "
           "\"unit\": \"ns\", \"ours\": %.1f, \"baseline\": %.1f, \"ratio\": %.3f, \"target\": 2, "
           "\"higher_is_better\": false, \"rounds\": %d, \"spread\": [%.3f, %.3f]}\n",
           big, small, quantile(tb, ROUNDS, 0.5), quantile(ts, ROUNDS, 0.5), rm, ROUNDS, q1, q3);
    double per = (double)big_bytes / big;
    printf(
        "{\"name\": \"memory per receipted segment remembered vs one receipt\", \"unit\": "
        "\"bytes\", \"ours\": %.0f, \"baseline\": %zu, \"ratio\": %.3f, \"target\": 0.1, "
        "\"higher_is_better\": false, \"note\": \"bytes the allocator holds after the journal is "
        "replayed, counted, not timed: no rounds\"}\n",
        per, sizeof(struct gm_receipt), per / (double)sizeof(struct gm_receipt));
    gm_key_free(key);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
