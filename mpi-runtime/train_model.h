/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket-train's model: a one-hidden-layer perceptron (tanh, softmax) on
 * a dataset generated from a seed, with CPU gradients and, when built, CUDA
 * ones.  Gradients are sums over this rank's samples of the global batch. */
#ifndef GPUMARKET_TRAIN_MODEL_H
#define GPUMARKET_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRAIN_INPUTS     16
#define TRAIN_CLASSES    4
#define TRAIN_MAX_HIDDEN 4096
#define TRAIN_MAX_BATCH  65536
/* Fixed-point gradients: value * 2^30, each per-sample term clipped to
 * +-2^16 so a batch of 2^16 samples cannot overflow int64.  Integer sums do
 * not depend on order, so any sharding gives bitwise the same total. */
#define TRAIN_FIXED_SCALE 1073741824.0
#define TRAIN_FIXED_CLIP  65536.0

struct model {
    uint32_t hidden;
    size_t nparams; /* W1[hidden][IN], b1[hidden], W2[CLASSES][hidden], b2[CLASSES] */
    double *w;
    double *mom;
};

int model_init(struct model *m, uint32_t hidden, uint64_t seed);
void model_free(struct model *m);
/* Sample `index` of the stream: TRAIN_INPUTS features in [-1, 1) and its label. */
void dataset_sample(uint64_t seed, uint64_t index, double *x, int *label);
/* Add this rank's share of step `step` (samples j = rank, rank + size, ...
 * of the batch) to out[0..nparams) (gradients) and out[nparams] (loss). */
int model_gradients(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch, int rank,
                    int size, double *out);
int model_gradients_fixed(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                          int rank, int size, int64_t *out);
/* SGD with momentum on the batch mean of the summed gradients. */
void model_update(struct model *m, const double *grad_sum, uint32_t batch, double lr,
                  double momentum);

/* CUDA versions (train_cuda.cu); without CUDA they return -1. */
int train_cuda_select(int device);
int train_cuda_gradients(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                         int rank, int size, double *out);
int train_cuda_gradients_fixed(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                               int rank, int size, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
