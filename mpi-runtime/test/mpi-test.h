/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The start every MPI unit test shares: initialise the runtime, learn this
 * rank and the rank count, and keep only rank 0's TAP on stdout (mpi-tap.sh
 * merges the ranks' verdicts itself). */
#ifndef GPUMARKET_MPI_TEST_H
#define GPUMARKET_MPI_TEST_H

#include "mpi-runtime/gpumarket_mpi.h"

#include <stdio.h>
#include <stdlib.h>

/* Returns the context; exits 1 with the runtime's message when it cannot
 * start. */
static inline gmpi_ctx *mpi_test_init(int *argc, char ***argv, const gmpi_options *opts, int *rank,
                                      int *size)
{
    gmpi_ctx *ctx;
    char err[1024];

    if (gmpi_init(argc, argv, opts, &ctx, err, sizeof err)) {
        fprintf(stderr, "gpumarket: %s\n", err);
        exit(1);
    }
    *rank = gmpi_rank(ctx);
    *size = gmpi_size(ctx);
    if (*rank != 0 && !freopen("/dev/null", "w", stdout))
        exit(1);
    return ctx;
}

#endif
