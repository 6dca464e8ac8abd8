/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: the distributed-training runtime of gpumarket (binding,
 * fast and fused allreduce, preemption-safe checkpoints), built on MPI. */
#ifndef GPUMARKET_MPI_H
#define GPUMARKET_MPI_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* The version of the API this header declares, as hwloc's HWLOC_API_VERSION:
 * (major << 16) | (minor << 8) | release, here 0.2.0.  Installed as
 * <gpumarket/gpumarket_mpi.h>; `pkg-config --cflags --libs gpumarket-mpi`. */
#define GPUMARKET_MPI_API_VERSION 0x00000200

#ifdef __cplusplus
extern "C" {
#endif

/* Return codes.  0 is success; every error also fills the caller's message
 * buffer (err, errlen) with one sentence naming the input and what to do,
 * without a program prefix (the program that shows it adds its own, as
 * gpumarket-train adds "gpumarket: "). */
enum {
    GMPI_OK = 0,
    GMPI_EINVAL = -1, /* a bad argument, flag or environment variable */
    GMPI_ENOMEM = -2,
    GMPI_EMPI = -3,     /* an MPI call failed */
    GMPI_EIO = -4,      /* a file could not be read or written */
    GMPI_ECORRUPT = -5, /* a checkpoint file failed its checks */
    GMPI_ENOENT = -6,   /* nothing found (e.g. no complete checkpoint) */
    GMPI_EBUSY = -7,    /* the fusion engine owns MPI right now */
    GMPI_ENODEV = -8,   /* no GPU, or CUDA not built in */
};

/* Exit status a job uses after a preemption checkpoint: "preempted, please
 * requeue" (EX_TEMPFAIL).  Slurm admins may list it in RequeueExit. */
#define GMPI_EXIT_PREEMPTED 75

typedef enum {
    GMPI_FLOAT = 0,
    GMPI_DOUBLE,
    GMPI_INT32,
    GMPI_INT64,
    GMPI_HALF,     /* IEEE binary16: CUDA buffers only */
    GMPI_BFLOAT16, /* bfloat16: CUDA buffers only */
    GMPI_DTYPE_COUNT
} gmpi_dtype;

typedef enum { GMPI_SUM = 0, GMPI_MAX, GMPI_MIN, GMPI_OP_COUNT } gmpi_op;

typedef enum {
    GMPI_ALGO_AUTO = 0,
    GMPI_ALGO_RING,               /* reduce-scatter + allgather, pipelined */
    GMPI_ALGO_RECURSIVE_DOUBLING, /* latency-bound sizes, any rank count */
    GMPI_ALGO_HIERARCHICAL,       /* within node, across leaders, broadcast */
    GMPI_ALGO_DETERMINISTIC,      /* every element folded in rank order 0..n-1 */
    GMPI_ALGO_RABENSEIFNER,       /* recursive halving + doubling, any rank count */
    GMPI_ALGO_SHARED_MEMORY,      /* one node: reduce straight from peers' memory */
    GMPI_ALGO_COUNT
} gmpi_algorithm;

/* Size in bytes of one element, or 0 for an unknown type. */
size_t gmpi_dtype_size(gmpi_dtype dtype);
/* Static names ("float", "sum", "ring"...); "?" when out of range. */
const char *gmpi_dtype_name(gmpi_dtype dtype);
const char *gmpi_op_name(gmpi_op op);
const char *gmpi_algorithm_name(gmpi_algorithm algo);
/* Parse an algorithm name (auto, ring, recursive_doubling|rd, hierarchical|
 * hier, deterministic, rabenseifner|rab, shared_memory|shm).  Returns 0, or GMPI_EINVAL with a message naming
 * `what` (the flag or variable the text came from). */
int gmpi_algorithm_parse(const char *text, const char *what, gmpi_algorithm *out, char *err,
                         size_t errlen);

/* inout[i] = inout[i] OP in[i] for host buffers of the four host types. */
int gmpi_reduce_local(void *inout, const void *in, size_t count, gmpi_dtype dtype, gmpi_op op);

/* ------------------------------------------------------------------ context */
typedef struct gmpi_ctx gmpi_ctx;

/* Options for gmpi_init; zero-initialise, then set what you need.  Every
 * field has an environment fallback, read when the field is left at 0/NULL:
 *   GPUMARKET_ALLREDUCE       algorithm name (forces one)
 *   GPUMARKET_DETERMINISTIC   1 = deterministic reductions
 *   GPUMARKET_SMALL_BYTES     at or below: recursive doubling (default 65536)
 *   GPUMARKET_FUSION_BYTES    fusion buffer threshold (default 64 MiB)
 *   GPUMARKET_FUSION_CYCLE_US fusion cycle time (default 1000)
 *   GPUMARKET_FUSION_THREAD   1 = background fusion thread, 0 = flush on the
 *                             caller's thread in gmpi_wait; unset: a thread
 *                             only when each local rank has a spare core
 *   GPUMARKET_SHM_PIECE_BYTES shared-memory piece (default from the caches) */
typedef struct {
    gmpi_algorithm algorithm;
    int deterministic;
    size_t small_message_bytes;
    size_t fusion_threshold_bytes;
    unsigned fusion_cycle_us;
} gmpi_options;

/* Initialise MPI (MPI_THREAD_SERIALIZED, unless the caller already did) and
 * the runtime on MPI_COMM_WORLD: the node layout and local rank come from
 * MPI_Comm_split_type (under srun --mpi=pmix the local rank equals
 * SLURM_LOCALID).  opts may be NULL.
 * On success *out is a context the caller frees with gmpi_finalize. */
int gmpi_init(int *argc, char ***argv, const gmpi_options *opts, gmpi_ctx **out, char *err,
              size_t errlen);
/* Stop the fusion engine if running, free the context, and finalize MPI when
 * gmpi_init initialised it.  Accepts NULL. */
void gmpi_finalize(gmpi_ctx *ctx);

int gmpi_rank(const gmpi_ctx *ctx);
int gmpi_size(const gmpi_ctx *ctx);
int gmpi_local_rank(const gmpi_ctx *ctx);
int gmpi_local_size(const gmpi_ctx *ctx);
int gmpi_node_count(const gmpi_ctx *ctx);
MPI_Comm gmpi_comm(const gmpi_ctx *ctx);

/* Force an algorithm (GMPI_ALGO_AUTO gives the choice back) and switch the
 * deterministic mode.  Not while the fusion engine runs (GMPI_EBUSY). */
int gmpi_set_algorithm(gmpi_ctx *ctx, gmpi_algorithm algo);
int gmpi_set_deterministic(gmpi_ctx *ctx, int on);
/* The algorithm an allreduce of `bytes` bytes would use now. */
gmpi_algorithm gmpi_choose_algorithm(const gmpi_ctx *ctx, size_t bytes);

/* Collective, in place: buf holds this rank's count elements and receives the
 * reduction over all ranks.  Every rank gets bitwise the same result.  With
 * the deterministic mode the result is also independent of the algorithm,
 * of fusion packing and of timing: each element is folded in rank order.
 * Returns GMPI_EBUSY while the fusion engine runs (use gmpi_enqueue). */
int gmpi_allreduce(gmpi_ctx *ctx, void *buf, size_t count, gmpi_dtype dtype, gmpi_op op, char *err,
                   size_t errlen);
/* The same with a given algorithm, whatever the context's choice. */
int gmpi_allreduce_algo(gmpi_ctx *ctx, gmpi_algorithm algo, void *buf, size_t count,
                        gmpi_dtype dtype, gmpi_op op, char *err, size_t errlen);

/* ------------------------------------------------------------ tensor fusion
 * Between gmpi_fusion_start and gmpi_fusion_stop the engine is the only
 * caller of MPI on the context (works with MPI_THREAD_SERIALIZED): callers
 * enqueue tensors and wait for them.  Every rank must enqueue the same
 * tensors (same count, type and op) in the same order, as with MPI
 * collectives.  Each round the engine agrees with the other ranks on how
 * many tensors all of them have queued (and that they are the same), groups
 * those by type and operation and reduces each group: on one node through
 * the shared-memory window, gathered from the tensors straight into this
 * rank's slot a cache-sized piece at a time; otherwise packed into fusion
 * buffers of at most the threshold, or reduced in place when a group's
 * tensors are adjacent in memory.  The rounds run on a background thread
 * when every local rank has a core to spare, else on the caller's thread
 * inside gmpi_wait and gmpi_fusion_stop (GPUMARKET_FUSION_THREAD forces
 * either).  When the ranks disagree (different tensors, or different
 * numbers of them by the time one stops), MPI fails, or a rank cannot
 * allocate a round, every rank fails every queued tensor with the same
 * error, gmpi_enqueue refuses further tensors with it, and
 * gmpi_fusion_stop returns it; a fresh gmpi_fusion_start starts over. */
typedef struct gmpi_handle gmpi_handle;

int gmpi_fusion_start(gmpi_ctx *ctx, char *err, size_t errlen);
/* Waits until every rank stops and every queued tensor is done; returns the
 * engine's first error, if any.  Handles not yet waited for stay valid:
 * gmpi_wait after the stop returns their status. */
int gmpi_fusion_stop(gmpi_ctx *ctx, char *err, size_t errlen);
/* Queue an in-place allreduce of buf; the buffer must stay untouched until
 * gmpi_wait returns.  *handle is owned by the caller until gmpi_wait. */
int gmpi_enqueue(gmpi_ctx *ctx, void *buf, size_t count, gmpi_dtype dtype, gmpi_op op,
                 gmpi_handle **handle, char *err, size_t errlen);
/* Wait for one tensor and free its handle; returns its status. */
int gmpi_wait(gmpi_handle *handle, char *err, size_t errlen);
/* Statistics since start: tensors reduced and fused buffers sent. */
void gmpi_fusion_stats(const gmpi_ctx *ctx, uint64_t *tensors, uint64_t *buffers);

/* ------------------------------------------------------------------ binding
 * GPUs are PCI devices of class 0x0302 (3D controller) or 0x0300 (VGA) from
 * NVIDIA (vendor 0x10de) or AMD (0x1002), numbered 0.. in PCI bus-id order,
 * which is CUDA_DEVICE_ORDER=PCI_BUS_ID and Slurm's order.  NICs are PCI
 * devices of class 0x0200 (Ethernet) or 0x0207 (InfiniBand).  Pure hwloc: no
 * MPI needed. */
#define GMPI_MAX_GPUS 64

typedef struct {
    int gpu;            /* node GPU index (PCI order), -1 when none */
    int visible_index;  /* index among the GPUs the job may use (the CUDA
                            device number once CUDA_VISIBLE_DEVICES is set) */
    char gpu_busid[16]; /* "0000:3b:00.0" or "" */
    char nic_busid[16]; /* nearest NIC, or "" */
    char nic_name[32];  /* its OS device name when known (mlx5_0, eth0) */
    char cpus[256];     /* hwloc list string of the PUs given to the rank */
    int cores;          /* how many cores that is */
} gmpi_binding;

/* Compute the binding of local rank `local_rank` out of `local_size` on a
 * node.  topology_xml: an hwloc XML file, or NULL for the real machine (or
 * GPUMARKET_TOPOLOGY_XML when set).  gpu_list: the GPUs the job may use as a
 * comma list of node indices (Slurm's SLURM_STEP_GPUS style), or NULL to read
 * SLURM_STEP_GPUS, SLURM_JOB_GPUS, then CUDA_VISIBLE_DEVICES, else all.
 * rank_cpus: the rank's current CPU set as an hwloc list string ("0-7"), or
 * NULL for the whole machine.  Ranks are assigned in local-rank order, each
 * to the least-used allowed GPU with the largest share of its CPU set near
 * the GPU, ties to the lowest index: the same inputs give the same answer. */
int gmpi_bind_compute(const char *topology_xml, int local_rank, int local_size,
                      const char *gpu_list, const char *rank_cpus, gmpi_binding *out, char *err,
                      size_t errlen);
/* The same for all local ranks at once: rank_cpus has local_size entries
 * (NULL entries mean the whole machine); out has local_size slots. */
int gmpi_bind_compute_all(const char *topology_xml, int local_size, const char *gpu_list,
                          const char *const *rank_cpus, gmpi_binding *out, char *err,
                          size_t errlen);
/* Collective over the node: gathers every local rank's current CPU binding
 * (ignored with an XML topology) and computes this rank's binding. */
int gmpi_bind_node(gmpi_ctx *ctx, const char *topology_xml, const char *gpu_list, gmpi_binding *out,
                   char *err, size_t errlen);
/* Apply a binding to the calling process: binds it to b->cpus on the real
 * machine; CUDA_VISIBLE_DEVICES is left as is (the caller selects device
 * b->visible_index). */
int gmpi_bind_apply(const gmpi_binding *b, char *err, size_t errlen);
/* One line "rank R (local L): GPU g [busid] NIC n [busid] cores C cpus S". */
int gmpi_bind_format(const gmpi_binding *b, int rank, int local_rank, char *buf, size_t buflen);

/* Data-cache sizes in bytes of the first core (0 when hwloc does not know
 * one) and how many processing units share its last-level cache. */
typedef struct {
    size_t l1d, l2, l3;
    int l3_pus;
} gmpi_caches;
int gmpi_cache_sizes(gmpi_caches *out, char *err, size_t errlen);

/* --------------------------------------------------------------- preemption */
/* Install handlers: SIGUSR1 and SIGTERM set a flag (nothing else). */
int gmpi_preempt_install(char *err, size_t errlen);
/* Whether this process got the signal (async-signal-safe flag). */
int gmpi_preempt_requested(void);
/* Set or clear the flag by hand (tests, or a caller's own policy). */
void gmpi_preempt_set(int on);
/* Collective, at a step boundary: 1 when any rank got the signal, else 0;
 * negative on error. */
int gmpi_preempt_agree(gmpi_ctx *ctx, char *err, size_t errlen);

/* -------------------------------------------------------------- checkpoints
 * Layout: DIR/step-NNNNNNNNNNNN/shard-RRRRR.bin, one per rank, and
 * DIR/step-NNNNNNNNNNNN/MANIFEST, committed last by rank 0 (write to a
 * temporary file, fsync, rename, fsync the directory).  The manifest lists
 * every shard's size and SHA-256 and ends with its own SHA-256 line. */

/* Collective: every rank writes its shard (write, fsync), rank 0 commits the
 * manifest.  Returns 0 on every rank only once the manifest is durable. */
int gmpi_checkpoint_save(gmpi_ctx *ctx, const char *dir, uint64_t step, const void *shard,
                         size_t len, char *err, size_t errlen);

typedef struct gmpi_checkpoint gmpi_checkpoint;
/* Called once per checkpoint that is skipped, with a sentence naming the
 * file and why (no program prefix). */
typedef void (*gmpi_warn_fn)(void *arg, const char *message);

/* Find the newest complete checkpoint under dir: manifest intact and every
 * shard present with its size and checksum.  Not collective.  Returns 0 and
 * *out (free with gmpi_checkpoint_free), GMPI_ENOENT when there is none. */
int gmpi_checkpoint_find_latest(const char *dir, gmpi_warn_fn warn, void *warn_arg,
                                gmpi_checkpoint **out, char *err, size_t errlen);
uint64_t gmpi_checkpoint_step(const gmpi_checkpoint *ck);
int gmpi_checkpoint_shard_count(const gmpi_checkpoint *ck);
size_t gmpi_checkpoint_shard_size(const gmpi_checkpoint *ck, int shard);
/* Read shard `shard` into buf (len must equal its size), checking it again. */
int gmpi_checkpoint_read_shard(const gmpi_checkpoint *ck, int shard, void *buf, size_t len,
                               char *err, size_t errlen);
void gmpi_checkpoint_free(gmpi_checkpoint *ck);

/* -------------------------------------------------------------------- CUDA */
/* Whether the library was built with CUDA, and how many devices are usable
 * now (0 with a reason in err when none). */
int gmpi_cuda_built(void);
int gmpi_cuda_device_count(char *err, size_t errlen);
/* In-place allreduce of a device buffer (all six types), a ring whose
 * reductions run as CUDA kernels on a stream.  With CUDA-aware MPI (Open
 * MPI's MPIX_Query_cuda_support, or GPUMARKET_CUDA_AWARE=1) device memory
 * is sent directly; otherwise through pinned host staging buffers.
 * GMPI_EINVAL for a host buffer, GMPI_ENODEV without CUDA. */
int gmpi_allreduce_cuda(gmpi_ctx *ctx, void *devbuf, size_t count, gmpi_dtype dtype, gmpi_op op,
                        char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
