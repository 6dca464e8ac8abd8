/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket-train on CUDA: per-sample gradients on the device, one thread
 * per sample, summed with atomics (exact and order-free in fixed point). */
#include "config.h"

#include "mpi-runtime/train_model.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The same generator as train_model.c, for host and device alike. */
__device__ static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

__device__ static double uniform(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t h = mix(mix(mix(seed) ^ a) ^ b);
    return (double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

__global__ void gradients_kernel(const double *w, uint32_t H, uint64_t seed, uint64_t step,
                                 uint32_t batch, int rank, int size, double *hbuf, double *out_d,
                                 unsigned long long *out_fixed)
{
    uint64_t t = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x;
    uint64_t j = (uint64_t)rank + t * (uint64_t)size;
    if (j >= batch)
        return;
    size_t nparams = (size_t)H * TRAIN_INPUTS + H + (size_t)TRAIN_CLASSES * H + TRAIN_CLASSES;
    uint64_t index = step * batch + j;
    double x[TRAIN_INPUTS];
    for (int k = 0; k < TRAIN_INPUTS; k++)
        x[k] = uniform(seed, 2 * index + 1, (uint64_t)k);
    int label = 0;
    double bestv = -INFINITY;
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        double v = 0;
        for (int k = 0; k < TRAIN_INPUTS; k++)
            v += uniform(seed ^ 0x7EAC4E5ull, (uint64_t)c, (uint64_t)k) * x[k];
        if (v > bestv) {
            bestv = v;
            label = c;
        }
    }
    const double *W1 = w, *b1 = W1 + (size_t)H * TRAIN_INPUTS, *W2 = b1 + H,
                 *b2 = W2 + (size_t)TRAIN_CLASSES * H;
    double *h = hbuf + t * H;
    for (uint32_t k = 0; k < H; k++) {
        double a = b1[k];
        for (int i = 0; i < TRAIN_INPUTS; i++)
            a += W1[(size_t)k * TRAIN_INPUTS + i] * x[i];
        h[k] = tanh(a);
    }
    double z[TRAIN_CLASSES], zmax = -INFINITY, sum = 0;
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        double v = b2[c];
        for (uint32_t k = 0; k < H; k++)
            v += W2[(size_t)c * H + k] * h[k];
        z[c] = v;
        zmax = v > zmax ? v : zmax;
    }
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        z[c] = exp(z[c] - zmax);
        sum += z[c];
    }
#define ADD(idx, val)                                                                \
    do {                                                                             \
        double v_ = (val);                                                           \
        if (out_fixed) {                                                             \
            v_ = v_ > TRAIN_FIXED_CLIP    ? TRAIN_FIXED_CLIP                         \
                 : v_ < -TRAIN_FIXED_CLIP ? -TRAIN_FIXED_CLIP                        \
                                          : v_;                                      \
            atomicAdd(&out_fixed[idx],                                               \
                      (unsigned long long)(long long)llrint(v_ *TRAIN_FIXED_SCALE)); \
        } else {                                                                     \
            atomicAdd(&out_d[idx], v_);                                              \
        }                                                                            \
    } while (0)
    ADD(nparams, -log(z[label] / sum));
    size_t gW2 = (size_t)H * TRAIN_INPUTS + H, gb2 = gW2 + (size_t)TRAIN_CLASSES * H;
    double dz[TRAIN_CLASSES];
    for (int c = 0; c < TRAIN_CLASSES; c++) {
        dz[c] = z[c] / sum - (c == label ? 1.0 : 0.0);
        ADD(gb2 + c, dz[c]);
        for (uint32_t k = 0; k < H; k++)
            ADD(gW2 + (size_t)c * H + k, dz[c] * h[k]);
    }
    for (uint32_t k = 0; k < H; k++) {
        double dh = 0;
        for (int c = 0; c < TRAIN_CLASSES; c++)
            dh += W2[(size_t)c * H + k] * dz[c];
        double da = dh * (1 - h[k] * h[k]);
        ADD((size_t)H * TRAIN_INPUTS + k, da);
        for (int i = 0; i < TRAIN_INPUTS; i++)
            ADD((size_t)k * TRAIN_INPUTS + i, da * x[i]);
    }
#undef ADD
}

extern "C" int train_cuda_select(int device)
{
    return cudaSetDevice(device) == cudaSuccess ? 0 : -1;
}

static int run(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch, int rank,
               int size, double *out_d, int64_t *out_fixed)
{
    size_t n = m->nparams + 1;
    uint32_t mine =
        batch > (uint32_t)rank ? (batch - (uint32_t)rank + (uint32_t)size - 1) / (uint32_t)size : 0;
    double *dw = NULL, *dh = NULL;
    void *dout = NULL;
    int rc = -1;
    size_t outsz = out_fixed ? sizeof(int64_t) : sizeof(double);
    if (cudaMalloc((void **)&dw, m->nparams * sizeof(double)) != cudaSuccess ||
        cudaMalloc((void **)&dh, ((size_t)mine + 1) * m->hidden * sizeof(double)) != cudaSuccess ||
        cudaMalloc(&dout, n * outsz) != cudaSuccess)
        goto out;
    if (cudaMemcpy(dw, m->w, m->nparams * sizeof(double), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemset(dout, 0, n * outsz) != cudaSuccess)
        goto out;
    if (mine) {
        gradients_kernel<<<(mine + 127) / 128, 128>>>(
            dw, m->hidden, seed, step, batch, rank, size, dh, out_fixed ? NULL : (double *)dout,
            out_fixed ? (unsigned long long *)dout : NULL);
        if (cudaGetLastError() != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)
            goto out;
    }
    if (out_fixed) {
        int64_t *tmp = (int64_t *)malloc(n * sizeof *tmp);
        if (!tmp || cudaMemcpy(tmp, dout, n * sizeof *tmp, cudaMemcpyDeviceToHost) != cudaSuccess) {
            free(tmp);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            out_fixed[i] += tmp[i];
        free(tmp);
    } else {
        double *tmp = (double *)malloc(n * sizeof *tmp);
        if (!tmp || cudaMemcpy(tmp, dout, n * sizeof *tmp, cudaMemcpyDeviceToHost) != cudaSuccess) {
            free(tmp);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            out_d[i] += tmp[i];
        free(tmp);
    }
    rc = 0;
out:
    cudaFree(dw);
    cudaFree(dh);
    cudaFree(dout);
    return rc;
}

extern "C" int train_cuda_gradients(const struct model *m, uint64_t seed, uint64_t step,
                                    uint32_t batch, int rank, int size, double *out)
{
    return run(m, seed, step, batch, rank, size, out, NULL);
}

extern "C" int train_cuda_gradients_fixed(const struct model *m, uint64_t seed, uint64_t step,
                                          uint32_t batch, int rank, int size, int64_t *out)
{
    return run(m, seed, step, batch, rank, size, NULL, out);
}
