/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket-train without CUDA: --cuda is refused before these are called. */
#include "config.h"

#include "mpi-runtime/train_model.h"

int train_cuda_select(int device)
{
    (void)device;
    return -1;
}

int train_cuda_gradients(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                         int rank, int size, double *out)
{
    (void)m, (void)seed, (void)step, (void)batch, (void)rank, (void)size, (void)out;
    return -1;
}

int train_cuda_gradients_fixed(const struct model *m, uint64_t seed, uint64_t step, uint32_t batch,
                               int rank, int size, int64_t *out)
{
    (void)m, (void)seed, (void)step, (void)batch, (void)rank, (void)size, (void)out;
    return -1;
}
