/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CUDA allreduce: every type (float, double, int32, int64, half, bfloat16)
 * and operation on device buffers against a host reference; small integer
 * values keep every sum exact so results compare bitwise.  With --probe it
 * only says whether a device is usable (for cuda.t to skip loudly). */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/test/mpi-test.h"
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_CUDA
#include <cuda_runtime_api.h>

static int rank, size;

static int all_true(int pass)
{
    int r;
    MPI_Allreduce(&pass, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}

/* Value of element i on rank r: a small integer, exact in every type. */
static int value(size_t i, int r)
{
    return (int)((i * 7 + (size_t)r * 3) % 17) - 8;
}

static void store(void *buf, size_t i, gmpi_dtype t, double v)
{
    switch (t) {
    case GMPI_FLOAT:
        ((float *)buf)[i] = (float)v;
        break;
    case GMPI_DOUBLE:
        ((double *)buf)[i] = v;
        break;
    case GMPI_INT32:
        ((int32_t *)buf)[i] = (int32_t)v;
        break;
    case GMPI_INT64:
        ((int64_t *)buf)[i] = (int64_t)v;
        break;
    case GMPI_HALF:
        ((_Float16 *)buf)[i] = (_Float16)v;
        break;
    default: {
        float f = (float)v; /* exact small integers: bfloat16 is the top half */
        uint32_t bits;
        memcpy(&bits, &f, 4);
        ((uint16_t *)buf)[i] = (uint16_t)(bits >> 16);
    }
    }
}

static int check(gmpi_ctx *ctx, gmpi_dtype t, gmpi_op op, size_t count, char *why, size_t whylen)
{
    size_t es = gmpi_dtype_size(t);
    char err[256];
    void *host = malloc(count * es + 1), *want = malloc(count * es + 1), *dev = NULL;
    int pass = 1;
    for (size_t i = 0; i < count; i++) {
        int acc = value(i, 0);
        for (int r = 1; r < size; r++) {
            int v = value(i, r);
            acc = op == GMPI_SUM   ? acc + v
                  : op == GMPI_MAX ? (v > acc ? v : acc)
                                   : (v < acc ? v : acc);
        }
        store(host, i, t, value(i, rank));
        store(want, i, t, acc);
    }
    if (cudaMalloc(&dev, count * es + 1) != cudaSuccess ||
        cudaMemcpy(dev, host, count * es, cudaMemcpyHostToDevice) != cudaSuccess) {
        snprintf(why, whylen, "cudaMalloc/cudaMemcpy failed");
        pass = 0;
    }
    if (pass && gmpi_allreduce_cuda(ctx, dev, count, t, op, err, sizeof err)) {
        snprintf(why, whylen, "count %zu: %s", count, err);
        pass = 0;
    }
    if (pass && cudaMemcpy(host, dev, count * es, cudaMemcpyDeviceToHost) != cudaSuccess) {
        snprintf(why, whylen, "copy back failed");
        pass = 0;
    }
    if (pass && count && memcmp(host, want, count * es)) {
        snprintf(why, whylen, "count %zu: result differs from the host reference", count);
        pass = 0;
    }
    cudaFree(dev);
    free(host);
    free(want);
    return pass;
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[512];
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
        if (gmpi_cuda_device_count(err, sizeof err) <= 0) {
            printf("%s\n", err);
            return 3;
        }
        return 0;
    }
    ctx = mpi_test_init(&argc, &argv, NULL, &rank, &size);
    int n = gmpi_cuda_device_count(err, sizeof err);
    if (n <= 0)
        skip_all("%s", err);
    cudaSetDevice(gmpi_local_rank(ctx) % n);
    plan(TAP_NO_PLAN);
    static const size_t counts[] = { 0, 1, 7, 1000, 65537, (1u << 20) + 3 };
    for (int t = 0; t < GMPI_DTYPE_COUNT; t++)
        for (int op = 0; op < GMPI_OP_COUNT; op++) {
            char why[512] = "";
            int pass = 1;
            for (size_t c = 0; c < sizeof counts / sizeof counts[0] && pass; c++)
                pass = all_true(check(ctx, (gmpi_dtype)t, (gmpi_op)op, counts[c], why, sizeof why));
            if (!ok(pass, "CUDA %s %s", gmpi_dtype_name((gmpi_dtype)t), gmpi_op_name((gmpi_op)op)))
                diag("rank %d: %s", rank, why);
        }
    float hostbuf[4] = { 0 };
    ok(all_true(size == 1 || gmpi_allreduce_cuda(ctx, hostbuf, 4, GMPI_FLOAT, GMPI_SUM, err,
                                                 sizeof err) == GMPI_EINVAL),
       "a host buffer is refused");
    done_testing();
    int status = exit_status();
    gmpi_finalize(ctx);
    return status;
}
#else
int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("gpumarket: built without CUDA (configure found no nvcc)\n");
    return 3;
}
#endif
