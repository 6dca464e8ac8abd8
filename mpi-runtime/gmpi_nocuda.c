/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi without CUDA: the CUDA entry points say so. */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

int gmpi_cuda_built(void)
{
    return 0;
}

int gmpi_cuda_device_count(char *err, size_t errlen)
{
    gmpi_fail(err, errlen, GMPI_ENODEV,
              "this build has no CUDA (configure found no nvcc); rebuild with --with-cuda=DIR");
    return 0;
}

int gmpi_allreduce_cuda(gmpi_ctx *ctx, void *devbuf, size_t count, gmpi_dtype dtype, gmpi_op op,
                        char *err, size_t errlen)
{
    (void)ctx, (void)devbuf, (void)count, (void)dtype, (void)op;
    return gmpi_fail(err, errlen, GMPI_ENODEV,
                     "gmpi_allreduce_cuda: this build has no CUDA; rebuild with --with-cuda=DIR");
}

void gmpi_cuda_release(gmpi_ctx *ctx)
{
    (void)ctx;
}
