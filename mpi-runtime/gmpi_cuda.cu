/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi on CUDA buffers: element-wise reduction kernels for six
 * types and a ring allreduce staged through pinned host memory, with the
 * reductions done on the device on a stream. */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h>
#endif

/* Half and bfloat16 are combined in float: the sum of two of them is exact
 * there, so one rounding back gives the correctly rounded result. */
template <typename T> struct elem {
    static __device__ T sum(T a, T b)
    {
        return a + b;
    }
    static __device__ T max(T a, T b)
    {
        return b > a ? b : a;
    }
    static __device__ T min(T a, T b)
    {
        return b < a ? b : a;
    }
};
template <> struct elem<__half> {
    static __device__ __half sum(__half a, __half b)
    {
        return __float2half(__half2float(a) + __half2float(b));
    }
    static __device__ __half max(__half a, __half b)
    {
        return __half2float(b) > __half2float(a) ? b : a;
    }
    static __device__ __half min(__half a, __half b)
    {
        return __half2float(b) < __half2float(a) ? b : a;
    }
};
template <> struct elem<__nv_bfloat16> {
    static __device__ __nv_bfloat16 sum(__nv_bfloat16 a, __nv_bfloat16 b)
    {
        return __float2bfloat16(__bfloat162float(a) + __bfloat162float(b));
    }
    static __device__ __nv_bfloat16 max(__nv_bfloat16 a, __nv_bfloat16 b)
    {
        return __bfloat162float(b) > __bfloat162float(a) ? b : a;
    }
    static __device__ __nv_bfloat16 min(__nv_bfloat16 a, __nv_bfloat16 b)
    {
        return __bfloat162float(b) < __bfloat162float(a) ? b : a;
    }
};
/* Integer sums wrap, as on the host. */
template <> struct elem<int32_t> {
    static __device__ int32_t sum(int32_t a, int32_t b)
    {
        return (int32_t)((uint32_t)a + (uint32_t)b);
    }
    static __device__ int32_t max(int32_t a, int32_t b)
    {
        return b > a ? b : a;
    }
    static __device__ int32_t min(int32_t a, int32_t b)
    {
        return b < a ? b : a;
    }
};
template <> struct elem<int64_t> {
    static __device__ int64_t sum(int64_t a, int64_t b)
    {
        return (int64_t)((uint64_t)a + (uint64_t)b);
    }
    static __device__ int64_t max(int64_t a, int64_t b)
    {
        return b > a ? b : a;
    }
    static __device__ int64_t min(int64_t a, int64_t b)
    {
        return b < a ? b : a;
    }
};

template <typename T, int OP>
__global__ void reduce_kernel(T *__restrict__ a, const T *__restrict__ b, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        a[i] = OP == GMPI_SUM   ? elem<T>::sum(a[i], b[i])
               : OP == GMPI_MAX ? elem<T>::max(a[i], b[i])
                                : elem<T>::min(a[i], b[i]);
}

template <typename T>
static cudaError_t launch_typed(void *a, const void *b, size_t n, gmpi_op op, cudaStream_t s)
{
    unsigned blocks = (unsigned)((n + 255) / 256);
    if (blocks > 4096)
        blocks = 4096;
    if (blocks == 0)
        return cudaSuccess;
    switch (op) {
    case GMPI_SUM:
        reduce_kernel<T, GMPI_SUM><<<blocks, 256, 0, s>>>((T *)a, (const T *)b, n);
        break;
    case GMPI_MAX:
        reduce_kernel<T, GMPI_MAX><<<blocks, 256, 0, s>>>((T *)a, (const T *)b, n);
        break;
    default:
        reduce_kernel<T, GMPI_MIN><<<blocks, 256, 0, s>>>((T *)a, (const T *)b, n);
        break;
    }
    return cudaGetLastError();
}

/* a[i] = a[i] op b[i] on the device, queued on stream s. */
extern "C" cudaError_t gmpi_cuda_reduce(void *a, const void *b, size_t n, gmpi_dtype t, gmpi_op op,
                                        cudaStream_t s)
{
    switch (t) {
    case GMPI_FLOAT:
        return launch_typed<float>(a, b, n, op, s);
    case GMPI_DOUBLE:
        return launch_typed<double>(a, b, n, op, s);
    case GMPI_INT32:
        return launch_typed<int32_t>(a, b, n, op, s);
    case GMPI_INT64:
        return launch_typed<int64_t>(a, b, n, op, s);
    case GMPI_HALF:
        return launch_typed<__half>(a, b, n, op, s);
    default:
        return launch_typed<__nv_bfloat16>(a, b, n, op, s);
    }
}

struct staging {
    char *host;      /* pinned mirror of the buffer */
    char *host_recv; /* pinned landing area for one block */
    char *dev_recv;  /* device copy of it, the kernel's second operand */
    size_t host_bytes, recv_bytes;
    cudaStream_t stream;
};

extern "C" int gmpi_cuda_built(void)
{
    return 1;
}

extern "C" int gmpi_cuda_device_count(char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        gmpi_fail(err, errlen, GMPI_ENODEV, "no usable CUDA device: cudaGetDeviceCount: %s",
                  cudaGetErrorString(e));
        return 0;
    }
    if (n == 0)
        gmpi_fail(err, errlen, GMPI_ENODEV,
                  "no CUDA device on this machine (cudaGetDeviceCount returned 0)");
    return n;
}

extern "C" void gmpi_cuda_release(gmpi_ctx *ctx)
{
    struct staging *st = (struct staging *)ctx->cuda;
    if (!st)
        return;
    cudaFreeHost(st->host);
    cudaFreeHost(st->host_recv);
    cudaFree(st->dev_recv);
    if (st->stream)
        cudaStreamDestroy(st->stream);
    free(st);
    ctx->cuda = NULL;
}

static int cuda_fail(char *err, size_t errlen, cudaError_t e, const char *what)
{
    return gmpi_fail(err, errlen, GMPI_ENODEV, "%s failed: %s", what, cudaGetErrorString(e));
}

/* Grow the staging buffers to hold `bytes` and one block of them. */
static int staging_get(gmpi_ctx *ctx, size_t bytes, size_t block, struct staging **out, char *err,
                       size_t errlen)
{
    struct staging *st = (struct staging *)ctx->cuda;
    cudaError_t e;
    if (!st) {
        st = (struct staging *)calloc(1, sizeof *st);
        if (!st)
            return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for CUDA staging");
        if ((e = cudaStreamCreateWithFlags(&st->stream, cudaStreamNonBlocking)) != cudaSuccess) {
            free(st);
            return cuda_fail(err, errlen, e, "cudaStreamCreate");
        }
        ctx->cuda = st;
    }
    if (st->host_bytes < bytes) {
        cudaFreeHost(st->host);
        st->host = NULL;
        st->host_bytes = 0;
        if ((e = cudaMallocHost((void **)&st->host, bytes)) != cudaSuccess)
            return cuda_fail(err, errlen, e, "cudaMallocHost (staging)");
        st->host_bytes = bytes;
    }
    if (st->recv_bytes < block) {
        cudaFreeHost(st->host_recv);
        cudaFree(st->dev_recv);
        st->host_recv = st->dev_recv = NULL;
        st->recv_bytes = 0;
        if ((e = cudaMallocHost((void **)&st->host_recv, block)) != cudaSuccess)
            return cuda_fail(err, errlen, e, "cudaMallocHost (receive block)");
        if ((e = cudaMalloc((void **)&st->dev_recv, block)) != cudaSuccess)
            return cuda_fail(err, errlen, e, "cudaMalloc (receive block)");
        st->recv_bytes = block;
    }
    *out = st;
    return GMPI_OK;
}

#define SEGMENT ((size_t)1 << 20)

/* Whether MPI takes device pointers: Open MPI's build-time and run-time
 * answer, overridden by GPUMARKET_CUDA_AWARE=0 or 1. */
static int cuda_aware_mpi(void)
{
    const char *v = getenv("GPUMARKET_CUDA_AWARE");
    if (v && (strcmp(v, "0") == 0 || strcmp(v, "1") == 0))
        return v[0] == '1';
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
    return MPIX_Query_cuda_support() == 1;
#else
    return 0;
#endif
}

/* CUDA-aware MPI: the ring moves device memory directly; each received
 * segment is reduced by a kernel while the next one travels. */
static int ring_device(gmpi_ctx *ctx, char *dev, size_t count, size_t es, gmpi_dtype dtype,
                       gmpi_op op, struct staging *st, char *err, size_t errlen)
{
    int p = ctx->size, r = ctx->rank, rc = GMPI_OK;
    int right = (r + 1) % p, left = (r - 1 + p) % p;
    size_t seg_elems = SEGMENT / es, maxblock = count / (size_t)p + 1;
    size_t nseg_max = maxblock / seg_elems + 2;
    cudaError_t e;
    MPI_Request *req = (MPI_Request *)malloc(2 * nseg_max * sizeof *req);
    if (!req)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for CUDA ring requests");
    for (int s = 0; s < p - 1 && !rc; s++) {
        size_t sst, sln, rst, rln;
        gmpi_block_range(count, p, (r - s + p) % p, &sst, &sln);
        gmpi_block_range(count, p, (r - s - 1 + 2 * p) % p, &rst, &rln);
        /* The block to send was reduced by the previous step's kernels. */
        if ((e = cudaStreamSynchronize(st->stream)) != cudaSuccess) {
            rc = cuda_fail(err, errlen, e, "cudaStreamSynchronize");
            break;
        }
        MPI_Request *rreq = req, *sreq = req + nseg_max;
        int nr = 0, ns = 0;
        for (size_t off = 0; off < rln; off += seg_elems, nr++) {
            size_t n = rln - off < seg_elems ? rln - off : seg_elems;
            MPI_Irecv(st->dev_recv + off * es, (int)(n * es), MPI_BYTE, left, nr % 32768, ctx->comm,
                      &rreq[nr]);
        }
        for (size_t off = 0; off < sln; off += seg_elems, ns++) {
            size_t n = sln - off < seg_elems ? sln - off : seg_elems;
            MPI_Isend(dev + (sst + off) * es, (int)(n * es), MPI_BYTE, right, ns % 32768, ctx->comm,
                      &sreq[ns]);
        }
        int j = 0;
        for (size_t off = 0; off < rln && !rc; off += seg_elems, j++) {
            size_t n = rln - off < seg_elems ? rln - off : seg_elems;
            int mrc = MPI_Wait(&rreq[j], MPI_STATUS_IGNORE);
            if (mrc != MPI_SUCCESS)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Wait");
            else if ((e = gmpi_cuda_reduce(dev + (rst + off) * es, st->dev_recv + off * es, n,
                                           dtype, op, st->stream)) != cudaSuccess)
                rc = cuda_fail(err, errlen, e, "device reduction");
        }
        for (; j < nr; j++)
            MPI_Wait(&rreq[j], MPI_STATUS_IGNORE);
        MPI_Waitall(ns, sreq, MPI_STATUSES_IGNORE);
    }
    free(req);
    if (!rc && (e = cudaStreamSynchronize(st->stream)) != cudaSuccess)
        rc = cuda_fail(err, errlen, e, "cudaStreamSynchronize");
    if (!rc)
        rc = gmpi_ring_allgather(ctx->comm, dev, count, es, err, errlen);
    return rc;
}

extern "C" int gmpi_allreduce_cuda(gmpi_ctx *ctx, void *devbuf, size_t count, gmpi_dtype dtype,
                                   gmpi_op op, char *err, size_t errlen)
{
    if (ctx->fusion)
        return gmpi_fail(err, errlen, GMPI_EBUSY,
                         "gmpi_allreduce_cuda: stop the fusion engine first");
    if ((unsigned)dtype >= GMPI_DTYPE_COUNT || (unsigned)op >= GMPI_OP_COUNT)
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "gmpi_allreduce_cuda: unknown type or operation");
    if (gmpi_cuda_device_count(err, errlen) <= 0)
        return GMPI_ENODEV;
    if (count == 0 || ctx->size == 1)
        return GMPI_OK;
    cudaPointerAttributes attr;
    cudaError_t e = cudaPointerGetAttributes(&attr, devbuf);
    if (e != cudaSuccess ||
        (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged))
        return gmpi_fail(
            err, errlen, GMPI_EINVAL,
            "gmpi_allreduce_cuda: the buffer is not CUDA device memory; use gmpi_allreduce for host buffers");
    int p = ctx->size, r = ctx->rank, rc = GMPI_OK;
    size_t es = gmpi_dtype_size(dtype), maxblock = (count / (size_t)p + 1) * es;
    struct staging *st = NULL;
    int aware = cuda_aware_mpi();
    if ((rc = staging_get(ctx, aware ? 0 : count * es, maxblock, &st, err, errlen)))
        return rc;
    char *dev = (char *)devbuf;
    if (aware)
        return ring_device(ctx, dev, count, es, dtype, op, st, err, errlen);
    int right = (r + 1) % p, left = (r - 1 + p) % p;
    size_t seg_elems = SEGMENT / es;
    size_t nseg_max = maxblock / es / seg_elems + 2;
    MPI_Request *req = (MPI_Request *)malloc(2 * nseg_max * sizeof *req);
    if (!req)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for CUDA ring requests");
    /* Reduce-scatter: the block to send was finished by the previous step's
     * kernels; copy it out, exchange it segment by segment, and reduce each
     * received segment on the device while the next one travels. */
    for (int s = 0; s < p - 1 && !rc; s++) {
        size_t sst, sln, rst, rln;
        gmpi_block_range(count, p, (r - s + p) % p, &sst, &sln);
        gmpi_block_range(count, p, (r - s - 1 + 2 * p) % p, &rst, &rln);
        if (sln && (e = cudaMemcpyAsync(st->host + sst * es, dev + sst * es, sln * es,
                                        cudaMemcpyDeviceToHost, st->stream)) != cudaSuccess) {
            rc = cuda_fail(err, errlen, e, "cudaMemcpyAsync (device to host)");
            break;
        }
        if ((e = cudaStreamSynchronize(st->stream)) != cudaSuccess) {
            rc = cuda_fail(err, errlen, e, "cudaStreamSynchronize");
            break;
        }
        MPI_Request *rreq = req, *sreq = req + nseg_max;
        int nr = 0, ns = 0;
        for (size_t off = 0; off < rln; off += seg_elems, nr++) {
            size_t n = rln - off < seg_elems ? rln - off : seg_elems;
            MPI_Irecv(st->host_recv + off * es, (int)(n * es), MPI_BYTE, left, nr % 32768,
                      ctx->comm, &rreq[nr]);
        }
        for (size_t off = 0; off < sln; off += seg_elems, ns++) {
            size_t n = sln - off < seg_elems ? sln - off : seg_elems;
            MPI_Isend(st->host + (sst + off) * es, (int)(n * es), MPI_BYTE, right, ns % 32768,
                      ctx->comm, &sreq[ns]);
        }
        int j = 0;
        for (size_t off = 0; off < rln && !rc; off += seg_elems, j++) {
            size_t n = rln - off < seg_elems ? rln - off : seg_elems;
            int mrc = MPI_Wait(&rreq[j], MPI_STATUS_IGNORE);
            if (mrc != MPI_SUCCESS)
                rc = gmpi_mpi_fail(err, errlen, mrc, "MPI_Wait");
            else if ((e = cudaMemcpyAsync(st->dev_recv + off * es, st->host_recv + off * es, n * es,
                                          cudaMemcpyHostToDevice, st->stream)) != cudaSuccess ||
                     (e = gmpi_cuda_reduce(dev + (rst + off) * es, st->dev_recv + off * es, n,
                                           dtype, op, st->stream)) != cudaSuccess)
                rc = cuda_fail(err, errlen, e, "staged reduction");
        }
        for (; j < nr; j++)
            MPI_Wait(&rreq[j], MPI_STATUS_IGNORE);
        MPI_Waitall(ns, sreq, MPI_STATUSES_IGNORE);
    }
    free(req);
    if (rc)
        return rc;
    /* Allgather on the pinned mirror, then one copy back. */
    size_t ost, oln;
    gmpi_block_range(count, p, (r + 1) % p, &ost, &oln);
    if ((oln && (e = cudaMemcpyAsync(st->host + ost * es, dev + ost * es, oln * es,
                                     cudaMemcpyDeviceToHost, st->stream)) != cudaSuccess) ||
        (e = cudaStreamSynchronize(st->stream)) != cudaSuccess)
        return cuda_fail(err, errlen, e, "copying the reduced block out");
    if ((rc = gmpi_ring_allgather(ctx->comm, st->host, count, es, err, errlen)))
        return rc;
    if ((e = cudaMemcpyAsync(dev, st->host, count * es, cudaMemcpyHostToDevice, st->stream)) !=
            cudaSuccess ||
        (e = cudaStreamSynchronize(st->stream)) != cudaSuccess)
        return cuda_fail(err, errlen, e, "copying the result back to the device");
    return GMPI_OK;
}
