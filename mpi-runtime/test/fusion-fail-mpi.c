/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tensor fusion when the ranks go wrong: different numbers of tensors, a
 * mismatch, an allocation failure on one rank, tensors queued after a
 * failure, and handles waited for after the engine stopped.  Each must end
 * in a clear error on every rank, never a hang.  Run by fusion-fail.t under
 * a timeout, with and without the background thread. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/test/mpi-test.h"
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size;

static int all_true(int pass)
{
    int r;
    MPI_Allreduce(&pass, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}

/* The engine works again after a failure (a fresh start). */
static void restart_works(gmpi_ctx *ctx, const char *label)
{
    char err[512] = "";
    double b[3] = { 1, 2, 3 };
    gmpi_handle *h;
    int pass = gmpi_fusion_start(ctx, err, sizeof err) == 0 &&
               gmpi_enqueue(ctx, b, 3, GMPI_DOUBLE, GMPI_SUM, &h, err, sizeof err) == 0 &&
               gmpi_wait(h, err, sizeof err) == 0 && gmpi_fusion_stop(ctx, err, sizeof err) == 0;
    if (!ok(all_true(pass && b[0] == size && b[2] == 3.0 * size), "%s: the engine restarts", label))
        diag("rank %d: %s", rank, err);
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[512];
    ctx = mpi_test_init(&argc, &argv, NULL, &rank, &size);
    plan(TAP_NO_PLAN);
    const char *mode = getenv("GPUMARKET_FUSION_THREAD");
    diag("%d ranks, GPUMARKET_FUSION_THREAD=%s", size, mode ? mode : "(auto)");

    {
        /* Rank 0 queues one tensor more and leaves it to gmpi_fusion_stop,
         * then waits for it after the stop. */
        double a[3] = { 1, 1, 1 };
        gmpi_handle *h[3] = { NULL, NULL, NULL };
        int n = rank == 0 ? 3 : 2, pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        for (int i = 0; i < n && pass; i++)
            pass = gmpi_enqueue(ctx, &a[i], 1, GMPI_DOUBLE, GMPI_SUM, &h[i], err, sizeof err) == 0;
        int w0 = pass ? gmpi_wait(h[0], err, sizeof err) : -100;
        int w1 = pass ? gmpi_wait(h[1], err, sizeof err) : -100;
        int src = gmpi_fusion_stop(ctx, err, sizeof err);
        int named = strstr(err, "different numbers of tensors") != NULL;
        if (!ok(all_true(pass && w0 == 0 && w1 == 0 && a[0] == size &&
                         (size == 1 ? src == 0 : src == GMPI_EINVAL && named)),
                "uneven counts: gmpi_fusion_stop fails on every rank, naming the problem"))
            diag("rank %d: waits %d %d stop %d: %s", rank, w0, w1, src, err);
        int w2 = rank == 0 ? gmpi_wait(h[2], err, sizeof err) : 0;
        ok(all_true(size == 1 ? w2 == 0 : rank != 0 || w2 == GMPI_EINVAL),
           "uneven counts: the extra tensor, waited for after the stop, fails");
        restart_works(ctx, "uneven counts");
    }
    if (size > 1) {
        /* Rank 0 waits for a tensor the others never queue; they stop. */
        double a[2] = { 1, 1 };
        gmpi_handle *h[2] = { NULL, NULL };
        int n = rank == 0 ? 2 : 1, pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        for (int i = 0; i < n && pass; i++)
            pass = gmpi_enqueue(ctx, &a[i], 1, GMPI_DOUBLE, GMPI_SUM, &h[i], err, sizeof err) == 0;
        int w0 = pass ? gmpi_wait(h[0], err, sizeof err) : -100;
        int w1 = rank == 0 && pass ? gmpi_wait(h[1], err, sizeof err) : GMPI_EINVAL;
        int src = gmpi_fusion_stop(ctx, err, sizeof err);
        if (!ok(all_true(pass && w0 == 0 && w1 == GMPI_EINVAL && src == GMPI_EINVAL &&
                         strstr(err, "different numbers of tensors")),
                "a wait for a tensor the others never queue fails once they stop"))
            diag("rank %d: waits %d %d stop %d: %s", rank, w0, w1, src, err);
        restart_works(ctx, "a lone wait");
    }
    if (size > 1) {
        /* Different tensors: every wait and the stop fail, and a tensor
         * queued after the failure is refused instead of never finishing. */
        double a[16] = { 0 };
        gmpi_handle *h1, *h2, *h3 = NULL;
        int pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        pass = pass && gmpi_enqueue(ctx, a, 4, GMPI_DOUBLE, GMPI_SUM, &h1, err, sizeof err) == 0;
        pass = pass && gmpi_enqueue(ctx, a + 4, rank == 0 ? 5 : 6, GMPI_DOUBLE, GMPI_SUM, &h2, err,
                                    sizeof err) == 0;
        int r1 = pass ? gmpi_wait(h1, err, sizeof err) : -100;
        int r2 = pass ? gmpi_wait(h2, err, sizeof err) : -100;
        int r3 = gmpi_enqueue(ctx, a + 12, 2, GMPI_DOUBLE, GMPI_SUM, &h3, err, sizeof err);
        if (r3 == 0)
            r3 = gmpi_wait(h3, err, sizeof err);
        int r3_named = strstr(err, "different tensors") != NULL;
        int src = gmpi_fusion_stop(ctx, err, sizeof err);
        if (!ok(all_true(pass && (r1 == GMPI_EINVAL || r1 == 0) && r2 == GMPI_EINVAL &&
                         r3 == GMPI_EINVAL && r3_named && src == GMPI_EINVAL &&
                         strstr(err, "different tensors")),
                "different tensors: waits, a later enqueue and the stop all fail with EINVAL"))
            diag("rank %d: %d %d %d stop %d: %s", rank, r1, r2, r3, src, err);
        restart_works(ctx, "different tensors");
    }
    if (size > 1) {
        /* One rank cannot allocate its cycle: every rank fails, none waits
         * inside the reduction. */
        double a[64];
        gmpi_handle *h[8];
        for (int i = 0; i < 64; i++)
            a[i] = 1;
        if (rank == size - 1)
            setenv("GPUMARKET_TEST_FUSION_ENOMEM", "1", 1);
        int pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        unsetenv("GPUMARKET_TEST_FUSION_ENOMEM");
        /* With a background thread the failed cycle may come before the
         * last enqueues, which are then refused with the same error. */
        int rcs[8], waits = 1, named = 1;
        for (int i = 0; i < 8 && pass; i++)
            rcs[i] = gmpi_enqueue(ctx, a + 8 * i, 8, GMPI_DOUBLE, GMPI_SUM, &h[i], err, sizeof err);
        for (int i = 0; i < 8 && pass; i++) {
            if (rcs[i] == 0)
                rcs[i] = gmpi_wait(h[i], err, sizeof err);
            waits &= rcs[i] == GMPI_ENOMEM;
            named &= strstr(err, "out of memory in the fusion engine") != NULL;
        }
        int src = gmpi_fusion_stop(ctx, err, sizeof err);
        if (!ok(all_true(pass && waits && named && src == GMPI_ENOMEM && a[0] == 1),
                "an allocation failure on one rank fails the cycle on every rank"))
            diag("rank %d: stop %d: %s", rank, src, err);
        restart_works(ctx, "allocation failure");
    }
    {
        /* Handles waited for after gmpi_fusion_stop: the stop finished
         * them; the wait must not touch the freed engine. */
        enum { N = 5 };
        float v[N][7];
        gmpi_handle *h[N];
        int pass = gmpi_fusion_start(ctx, err, sizeof err) == 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 7; j++)
                v[i][j] = (float)(i + j + rank);
        for (int i = 0; i < N && pass; i++)
            pass = gmpi_enqueue(ctx, v[i], 7, GMPI_FLOAT, GMPI_SUM, &h[i], err, sizeof err) == 0;
        pass = pass && gmpi_fusion_stop(ctx, err, sizeof err) == 0;
        for (int i = 0; i < N && pass; i++)
            pass = gmpi_wait(h[i], err, sizeof err) == 0;
        float want = (float)(3 + 4) * size + (float)(size * (size - 1) / 2);
        if (!ok(all_true(pass && v[3][4] == want), "waits after the stop return the results"))
            diag("rank %d: %s (v %g want %g)", rank, err, v[3][4], want);
    }
    done_testing();
    int status = exit_status();
    gmpi_finalize(ctx);
    return status;
}
