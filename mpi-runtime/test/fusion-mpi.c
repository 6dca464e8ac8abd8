/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tensor fusion: many tensors of mixed sizes, types and operations queued at
 * once come back equal to MPI_Allreduce of each (and, in deterministic mode,
 * bitwise equal to the rank-order fold whatever the packing).  Run under
 * mpirun by fusion.t. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/test/mpi-test.h"
#include "tests/tap/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTENSORS 300

static int rank, size;

static int all_true(int pass)
{
    int r;
    MPI_Allreduce(&pass, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}

static void fill(double *buf, size_t count, int r, int tensor)
{
    for (size_t i = 0; i < count; i++)
        buf[i] =
            (double)((long)((i * 7919 + (size_t)tensor * 104729 + (size_t)r * 1299709) % 100003) -
                     50000) /
            3.0;
}

static size_t tensor_count(int i)
{
    /* Sizes from empty to larger than the fusion threshold. */
    return i == 17 ? 5000 : (size_t)((i * 37) % 211);
}

static int run(gmpi_ctx *ctx, int deterministic, const char *label)
{
    char err[512];
    double *bufs[NTENSORS], *want[NTENSORS];
    gmpi_handle *h[NTENSORS];
    int pass = 1;
    gmpi_set_deterministic(ctx, deterministic);
    for (int i = 0; i < NTENSORS; i++) {
        size_t n = tensor_count(i);
        bufs[i] = malloc(n * sizeof(double) + 1);
        want[i] = malloc(n * sizeof(double) + 1);
        fill(bufs[i], n, rank, i);
    }
    if (gmpi_fusion_start(ctx, err, sizeof err)) {
        diag("%s", err);
        return 0;
    }
    float dummy = 0;
    int busy = gmpi_allreduce(ctx, &dummy, 1, GMPI_FLOAT, GMPI_SUM, err, sizeof err) == GMPI_EBUSY;
    ok(all_true(busy), "%s: a blocking allreduce is refused while fusion runs", label);
    gmpi_op ops[3] = { GMPI_SUM, GMPI_MAX, GMPI_MIN };
    for (int i = 0; i < NTENSORS; i++)
        if (gmpi_enqueue(ctx, bufs[i], tensor_count(i), GMPI_DOUBLE, ops[i % 3], &h[i], err,
                         sizeof err)) {
            diag("enqueue %d: %s", i, err);
            pass = 0;
            h[i] = NULL;
        }
    gmpi_handle *bad;
    int32_t half_data[2] = { 0, 0 };
    int bad_ok = gmpi_enqueue(ctx, half_data, 2, GMPI_HALF, GMPI_SUM, &bad, err, sizeof err) == 0 &&
                 gmpi_wait(bad, err, sizeof err) == GMPI_EINVAL;
    for (int i = 0; i < NTENSORS; i++)
        if (h[i] && gmpi_wait(h[i], err, sizeof err)) {
            diag("tensor %d: %s", i, err);
            pass = 0;
        }
    uint64_t tensors, buffers;
    gmpi_fusion_stats(ctx, &tensors, &buffers);
    if (gmpi_fusion_stop(ctx, err, sizeof err)) {
        diag("stop: %s", err);
        pass = 0;
    }
    ok(all_true(bad_ok), "%s: a half tensor on the host fails alone with EINVAL", label);
    diag("%s: %llu tensors in %llu fused buffers", label, (unsigned long long)tensors,
         (unsigned long long)buffers);
    ok(all_true(tensors >= NTENSORS && buffers < tensors),
       "%s: tensors were fused (fewer buffers than tensors)", label);
    int bad_index = -1;
    for (int i = 0; i < NTENSORS && pass; i++) {
        size_t n = tensor_count(i);
        if (deterministic) {
            double *tmp = malloc(n * sizeof(double) + 1);
            fill(want[i], n, 0, i);
            for (int r = 1; r < size; r++) {
                fill(tmp, n, r, i);
                gmpi_reduce_local(want[i], tmp, n, GMPI_DOUBLE, ops[i % 3]);
            }
            free(tmp);
            if (n && memcmp(want[i], bufs[i], n * sizeof(double)))
                bad_index = i;
        } else {
            fill(want[i], n, rank, i);
            MPI_Allreduce(MPI_IN_PLACE, want[i], (int)n, MPI_DOUBLE,
                          i % 3 == 0   ? MPI_SUM
                          : i % 3 == 1 ? MPI_MAX
                                       : MPI_MIN,
                          MPI_COMM_WORLD);
            for (size_t j = 0; j < n; j++)
                if (fabs(want[i][j] - bufs[i][j]) > 1e-9 * (fabs(want[i][j]) + 1))
                    bad_index = i;
        }
        if (bad_index >= 0)
            pass = 0;
    }
    if (!ok(all_true(pass), "%s: %d fused tensors match %s", label, NTENSORS,
            deterministic ? "the rank-order fold bitwise" : "MPI_Allreduce"))
        diag("rank %d: first bad tensor %d", rank, bad_index);
    for (int i = 0; i < NTENSORS; i++) {
        free(bufs[i]);
        free(want[i]);
    }
    return pass;
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[512];
    /* A small threshold so the 300 tensors need several buffers, and a long
     * cycle so they are all queued before the first one. */
    gmpi_options o = { .fusion_threshold_bytes = 16384, .fusion_cycle_us = 100000 };
    ctx = mpi_test_init(&argc, &argv, &o, &rank, &size);
    plan(TAP_NO_PLAN);
    gmpi_handle *hh;
    double x = 0;
    ok(gmpi_enqueue(ctx, &x, 1, GMPI_DOUBLE, GMPI_SUM, &hh, err, sizeof err) == GMPI_EINVAL &&
           strstr(err, "gmpi_fusion_start"),
       "enqueue before gmpi_fusion_start is refused");
    run(ctx, 0, "auto");
    run(ctx, 1, "deterministic");
    gmpi_set_deterministic(ctx, 0);
    if (size > 1) {
        /* Ranks that queue different tensors get an error, not a hang. */
        double a[16] = { 0 };
        gmpi_handle *h1, *h2;
        int pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        pass = pass && gmpi_enqueue(ctx, a, 4, GMPI_DOUBLE, GMPI_SUM, &h1, err, sizeof err) == 0;
        pass = pass && gmpi_enqueue(ctx, a + 4, rank == 0 ? 10 : 11, GMPI_DOUBLE, GMPI_SUM, &h2,
                                    err, sizeof err) == 0;
        int r1 = pass ? gmpi_wait(h1, err, sizeof err) : -100;
        int r2 = pass ? gmpi_wait(h2, err, sizeof err) : -100;
        gmpi_fusion_stop(ctx, NULL, 0);
        if (!ok(all_true(r2 == GMPI_EINVAL && strstr(err, "different tensors") &&
                         (r1 == 0 || r1 == GMPI_EINVAL)),
                "ranks that queue different tensors get EINVAL naming the problem"))
            diag("rank %d: r1 %d r2 %d: %s", rank, r1, r2, err);
        /* A fresh start works again. */
        gmpi_handle *h3;
        double b[3] = { 1, 2, 3 };
        pass = gmpi_fusion_start(ctx, err, sizeof err) == 0 &&
               gmpi_enqueue(ctx, b, 3, GMPI_DOUBLE, GMPI_SUM, &h3, err, sizeof err) == 0 &&
               gmpi_wait(h3, err, sizeof err) == 0 && gmpi_fusion_stop(ctx, err, sizeof err) == 0;
        ok(all_true(pass && b[0] == size && b[2] == 3.0 * size),
           "the engine restarts cleanly afterwards");
    }
    done_testing();
    int status = exit_status();
    gmpi_finalize(ctx);
    return status;
}
