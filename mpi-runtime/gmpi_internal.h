/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private state of libgpumarket-mpi shared by its source files. */
#ifndef GMPI_INTERNAL_H
#define GMPI_INTERNAL_H

#include "mpi-runtime/gpumarket_mpi.h"

#include <pthread.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gmpi_fusion;

struct gmpi_ctx {
    MPI_Comm comm;        /* duplicate of MPI_COMM_WORLD; used by one thread at a time */
    MPI_Comm node_comm;   /* ranks sharing memory with this one */
    MPI_Comm leader_comm; /* local rank 0 of every node; MPI_COMM_NULL elsewhere */
    int rank, size;
    int local_rank, local_size, node_count;
    int uniform_layout; /* every node has the same number of ranks, in blocks */
    int owns_mpi;
    gmpi_algorithm algorithm;
    int deterministic;
    size_t small_bytes;
    size_t fusion_threshold;
    unsigned fusion_cycle_us;
    struct gmpi_fusion *fusion; /* non-NULL while the engine runs */
    void *cuda;                 /* CUDA staging buffers, owned by gmpi_cuda */
    char *scratch;              /* reused by every allreduce: fresh pages cost */
    size_t scratch_size;        /* more than the copies themselves */
    MPI_Win shm_win;            /* shared-memory allreduce: two sets of one */
    char **shm_slots;           /* slot per rank, NULL until first used */
    unsigned shm_phase;         /* which set the next piece uses */
    int shm_state;              /* 0 untried, 1 ready, -1 MPI could not */
    size_t shm_slot;            /* bytes of one slot: a cache-sized piece */
    size_t shm_piece_req;       /* GPUMARKET_SHM_PIECE_BYTES, 0 = from the caches */
    int fusion_thread;          /* GPUMARKET_FUSION_THREAD: 1, 0, or -1 for auto */
    char *fusion_buf;           /* kept across fusion start/stop, for the */
    size_t fusion_buf_size;     /* same reason */
};

/* Format a message into err (without a program prefix: the program that
 * shows it adds "gpumarket: ") and return code. */
int gmpi_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int gmpi_mpi_fail(char *err, size_t errlen, int rc, const char *what);

/* The allreduce proper, called by the caller's thread or, while fusion runs,
 * by the fusion thread only. */
int gmpi_allreduce_run(gmpi_ctx *ctx, gmpi_algorithm algo, void *buf, size_t count,
                       gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen);
/* Ring allgather of the blocks of a host buffer (block b of p from rank
 * (b - 1) mod p), as left by the ring reduce-scatter. */
int gmpi_ring_allgather(MPI_Comm comm, char *buf, size_t count, size_t esize, char *err,
                        size_t errlen);
/* The block of count elements split in p parts that rank i owns. */
void gmpi_block_range(size_t count, int parts, int i, size_t *start, size_t *len);
/* One run of a fused group on this rank: bytes at p (tensors adjacent in
 * memory are one run). */
struct gmpi_seg {
    char *p;
    size_t bytes;
};
/* Whether the shared-memory path is usable; sets the window up the first
 * time, which is collective (every rank calls it at the same point, and
 * every rank gets the same answer). */
int gmpi_shm_ready(gmpi_ctx *ctx);
/* Shared-memory allreduce of a group of runs seen as one vector of bytes
 * bytes: each piece is gathered from the runs straight into this rank's
 * window slot and the reduced piece scattered straight back, without a
 * fusion buffer.  Needs gmpi_shm_ready. */
int gmpi_shm_fused(gmpi_ctx *ctx, const struct gmpi_seg *segs, size_t nsegs, size_t bytes,
                   gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen);
/* Grow the scratch buffer now so that an allreduce of up to bytes bytes
 * allocates nothing (a failure then would leave the other ranks waiting). */
int gmpi_scratch_reserve(gmpi_ctx *ctx, size_t bytes);
/* Free the CUDA staging buffers (no-op without CUDA). */
void gmpi_cuda_release(gmpi_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
