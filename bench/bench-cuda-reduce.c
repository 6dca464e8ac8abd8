/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Benchmark, on a GPU: the device reduction kernel's bandwidth (read two
 * operands, write one) against the device's own copy bandwidth (read one,
 * write one), float sum over 256 MiB.  Without a GPU it says so and reports
 * nothing. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"

#include <cuda_runtime_api.h>
#include <stdio.h>

/* From libgpumarket-mpi's CUDA part (not in the public header). */
cudaError_t gmpi_cuda_reduce(void *a, const void *b, size_t n, gmpi_dtype t, gmpi_op op,
                             cudaStream_t s);

int main(void)
{
    char err[256];
    if (gmpi_cuda_device_count(err, sizeof err) <= 0) {
        fprintf(stderr, "# bench-cuda-reduce: skipped: %s\n", err);
        return 0;
    }
    size_t bytes = (size_t)256 << 20, n = bytes / sizeof(float);
    void *a, *b, *c;
    if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes) || cudaMalloc(&c, bytes)) {
        fprintf(stderr, "gpumarket: bench-cuda-reduce: cudaMalloc of 3 x 256 MiB failed\n");
        return 1;
    }
    cudaMemset(a, 0, bytes);
    cudaMemset(b, 0, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    float best_copy = 1e30f, best_reduce = 1e30f, ms;
    for (int round = 0; round < 6; round++) {
        cudaEventRecord(e0, 0);
        cudaMemcpyAsync(c, b, bytes, cudaMemcpyDeviceToDevice, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
        if (round && ms < best_copy)
            best_copy = ms;
        cudaEventRecord(e0, 0);
        gmpi_cuda_reduce(a, b, n, GMPI_FLOAT, GMPI_SUM, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        cudaEventElapsedTime(&ms, e0, e1);
        if (round && ms < best_reduce)
            best_reduce = ms;
    }
    double copy_bw = 2.0 * (double)bytes / (best_copy / 1e3) / 1e9;
    double reduce_bw = 3.0 * (double)bytes / (best_reduce / 1e3) / 1e9;
    printf(
        "{\"name\": \"CUDA float sum kernel vs device copy bandwidth\", \"unit\": \"GB/s\", \"ours\": %.1f, \"baseline\": %.1f, \"ratio\": %.3f, \"target\": 0.85, \"higher_is_better\": true}\n",
        reduce_bw, copy_bw, reduce_bw / copy_bw);
    fprintf(stderr, "# reduce kernel %.1f GB/s, cudaMemcpy device to device %.1f GB/s\n", reduce_bw,
            copy_bw);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    return 0;
}
