/* Private state of libgpumarket-mpi shared by its source files. */
#ifndef GMPI_INTERNAL_H
#define GMPI_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include "mpi-runtime/gpumarket_mpi.h"

struct gmpi_fusion;

struct gmpi_ctx {
    MPI_Comm comm;        /* duplicate of MPI_COMM_WORLD; used by one thread at a time */
    MPI_Comm node_comm;   /* ranks sharing memory with this one */
    MPI_Comm leader_comm; /* local rank 0 of every node; MPI_COMM_NULL elsewhere */
    int rank, size;
    int local_rank, local_size, node_count;
    int uniform_layout;   /* every node has the same number of ranks, in blocks */
    int owns_mpi;
    gmpi_algorithm algorithm;
    int deterministic;
    size_t small_bytes;
    size_t fusion_threshold;
    unsigned fusion_cycle_us;
    struct gmpi_fusion *fusion; /* non-NULL while the engine runs */
};

/* Format "gpumarket: ..." into err and return code. */
int gmpi_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gmpi_mpi_fail(char *err, size_t errlen, int rc, const char *what);

/* The allreduce proper, called by the caller's thread or, while fusion runs,
 * by the fusion thread only. */
int gmpi_allreduce_run(gmpi_ctx *ctx, gmpi_algorithm algo, void *buf,
                      size_t count, gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen);
void gmpi_fusion_destroy(gmpi_ctx *ctx);

#endif
