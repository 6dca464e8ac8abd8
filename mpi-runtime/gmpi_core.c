/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: context set-up around MPI, Slurm's environment, names,
 * errors and the element-wise host reductions. */
#include "config.h"

#include "common/text.h"
#include "mpi-runtime/gmpi_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gmpi_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int gmpi_mpi_fail(char *err, size_t errlen, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "MPI error %d", rc);
    return gmpi_fail(err, errlen, GMPI_EMPI,
                     "%s failed: %s; check the MPI launch (mpirun or srun --mpi=pmix)", what, msg);
}

size_t gmpi_dtype_size(gmpi_dtype dtype)
{
    switch (dtype) {
    case GMPI_FLOAT:
        return 4;
    case GMPI_DOUBLE:
        return 8;
    case GMPI_INT32:
        return 4;
    case GMPI_INT64:
        return 8;
    case GMPI_HALF:
        return 2;
    case GMPI_BFLOAT16:
        return 2;
    default:
        return 0;
    }
}

const char *gmpi_dtype_name(gmpi_dtype dtype)
{
    static const char *const names[] = { "float", "double", "int32", "int64", "half", "bfloat16" };
    return (unsigned)dtype < GMPI_DTYPE_COUNT ? names[dtype] : "?";
}

const char *gmpi_op_name(gmpi_op op)
{
    static const char *const names[] = { "sum", "max", "min" };
    return (unsigned)op < GMPI_OP_COUNT ? names[op] : "?";
}

const char *gmpi_algorithm_name(gmpi_algorithm algo)
{
    static const char *const names[] = { "auto",         "ring",          "recursive_doubling",
                                         "hierarchical", "deterministic", "rabenseifner",
                                         "shared_memory" };
    return (unsigned)algo < GMPI_ALGO_COUNT ? names[algo] : "?";
}

int gmpi_algorithm_parse(const char *text, const char *what, gmpi_algorithm *out, char *err,
                         size_t errlen)
{
    static const struct {
        const char *name;
        gmpi_algorithm algo;
    } table[] = {
        { "auto", GMPI_ALGO_AUTO },
        { "ring", GMPI_ALGO_RING },
        { "recursive_doubling", GMPI_ALGO_RECURSIVE_DOUBLING },
        { "rd", GMPI_ALGO_RECURSIVE_DOUBLING },
        { "hierarchical", GMPI_ALGO_HIERARCHICAL },
        { "hier", GMPI_ALGO_HIERARCHICAL },
        { "deterministic", GMPI_ALGO_DETERMINISTIC },
        { "rabenseifner", GMPI_ALGO_RABENSEIFNER },
        { "rab", GMPI_ALGO_RABENSEIFNER },
        { "shared_memory", GMPI_ALGO_SHARED_MEMORY },
        { "shm", GMPI_ALGO_SHARED_MEMORY },
    };
    if (text)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcmp(text, table[i].name) == 0) {
                *out = table[i].algo;
                return GMPI_OK;
            }
    return gmpi_fail(
        err, errlen, GMPI_EINVAL,
        "%s: unknown allreduce algorithm '%s'; use auto, ring, recursive_doubling, rabenseifner, shared_memory, hierarchical or deterministic",
        what, text ? text : "(null)");
}

#define REDUCE_LOOP(T)                            \
    do {                                          \
        T *restrict a = inout;                    \
        const T *restrict b = in;                 \
        switch (op) {                             \
        case GMPI_SUM:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] += b[i];                     \
            break;                                \
        case GMPI_MAX:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] = b[i] > a[i] ? b[i] : a[i]; \
            break;                                \
        case GMPI_MIN:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] = b[i] < a[i] ? b[i] : a[i]; \
            break;                                \
        default:                                  \
            return GMPI_EINVAL;                   \
        }                                         \
    } while (0)

/* Integer sums wrap like MPI_SUM on two's complement machines; done in
 * unsigned arithmetic so the wrap is defined. */
#define REDUCE_LOOP_INT(T, U)                     \
    do {                                          \
        T *restrict a = inout;                    \
        const T *restrict b = in;                 \
        switch (op) {                             \
        case GMPI_SUM:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] = (T)((U)a[i] + (U)b[i]);    \
            break;                                \
        case GMPI_MAX:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] = b[i] > a[i] ? b[i] : a[i]; \
            break;                                \
        case GMPI_MIN:                            \
            for (size_t i = 0; i < count; i++)    \
                a[i] = b[i] < a[i] ? b[i] : a[i]; \
            break;                                \
        default:                                  \
            return GMPI_EINVAL;                   \
        }                                         \
    } while (0)

/* Vectorised (-O2 does not vectorise these loops) and built for AVX2 and
 * AVX-512 too, picked at load time: the reduction is half of the ring's
 * work. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
int gmpi_reduce_local(void *inout, const void *in, size_t count, gmpi_dtype dtype, gmpi_op op)
{
    if (count == 0)
        return GMPI_OK;
    switch (dtype) {
    case GMPI_FLOAT:
        REDUCE_LOOP(float);
        break;
    case GMPI_DOUBLE:
        REDUCE_LOOP(double);
        break;
    case GMPI_INT32:
        REDUCE_LOOP_INT(int32_t, uint32_t);
        break;
    case GMPI_INT64:
        REDUCE_LOOP_INT(int64_t, uint64_t);
        break;
    default:
        return GMPI_EINVAL;
    }
    return GMPI_OK;
}

/* ------------------------------------------------------------------ context */

static int env_size(const char *name, size_t *out, size_t min, size_t max, char *err, size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return GMPI_OK;
    uint64_t x;
    if (gm_text_parse_u64(v, max, 0, &x) || x < min)
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "%s='%s' is not a whole number from %zu to %zu; fix or unset it", name, v,
                         min, max);
    *out = (size_t)x;
    return GMPI_OK;
}

static int read_options(gmpi_ctx *ctx, const gmpi_options *o, char *err, size_t errlen)
{
    int rc;
    size_t v;
    ctx->algorithm = GMPI_ALGO_AUTO;
    ctx->small_bytes = 65536;
    ctx->fusion_threshold = 64u << 20;
    ctx->fusion_cycle_us = 1000;
    if (o && o->algorithm != GMPI_ALGO_AUTO) {
        if ((unsigned)o->algorithm >= GMPI_ALGO_COUNT)
            return gmpi_fail(err, errlen, GMPI_EINVAL, "gmpi_options.algorithm %d is out of range",
                             (int)o->algorithm);
        ctx->algorithm = o->algorithm;
    } else if (getenv("GPUMARKET_ALLREDUCE") && *getenv("GPUMARKET_ALLREDUCE")) {
        if ((rc = gmpi_algorithm_parse(getenv("GPUMARKET_ALLREDUCE"), "GPUMARKET_ALLREDUCE",
                                       &ctx->algorithm, err, errlen)))
            return rc;
    }
    if (o && o->deterministic)
        ctx->deterministic = 1;
    else {
        v = 0;
        if ((rc = env_size("GPUMARKET_DETERMINISTIC", &v, 0, 1, err, errlen)))
            return rc;
        ctx->deterministic = (int)v;
    }
    if (o && o->small_message_bytes)
        ctx->small_bytes = o->small_message_bytes;
    else if ((rc = env_size("GPUMARKET_SMALL_BYTES", &ctx->small_bytes, 0, (size_t)1 << 40, err,
                            errlen)))
        return rc;
    if (o && o->fusion_threshold_bytes)
        ctx->fusion_threshold = o->fusion_threshold_bytes;
    else if ((rc = env_size("GPUMARKET_FUSION_BYTES", &ctx->fusion_threshold, 64, (size_t)1 << 34,
                            err, errlen)))
        return rc;
    v = 0;
    if ((rc = env_size("GPUMARKET_SHM_PIECE_BYTES", &v, 4096, (size_t)1 << 30, err, errlen)))
        return rc;
    ctx->shm_piece_req = v;
    ctx->fusion_thread = -1;
    if (getenv("GPUMARKET_FUSION_THREAD") && *getenv("GPUMARKET_FUSION_THREAD")) {
        if ((rc = env_size("GPUMARKET_FUSION_THREAD", &v, 0, 1, err, errlen)))
            return rc;
        ctx->fusion_thread = (int)v;
    }
    if (o && o->fusion_cycle_us)
        ctx->fusion_cycle_us = o->fusion_cycle_us;
    else {
        v = ctx->fusion_cycle_us;
        if ((rc = env_size("GPUMARKET_FUSION_CYCLE_US", &v, 1, 10000000, err, errlen)))
            return rc;
        ctx->fusion_cycle_us = (unsigned)v;
    }
    return GMPI_OK;
}

/* Node layout: which ranks share a node, and whether nodes are uniform
 * blocks of consecutive ranks (what the hierarchical algorithm wants). */
static int setup_layout(gmpi_ctx *ctx, char *err, size_t errlen)
{
    int rc;
    /* Tests fake several nodes on one host: rank blocks become "nodes". */
    const char *fake = getenv("GPUMARKET_TEST_FAKE_NODES");
    size_t nodes = 0;
    if ((rc = env_size("GPUMARKET_TEST_FAKE_NODES", &nodes, 1, 1 << 20, err, errlen)))
        return rc;
    if (fake && *fake)
        rc = MPI_Comm_split(ctx->comm, (int)((size_t)ctx->rank * nodes / (size_t)ctx->size),
                            ctx->rank, &ctx->node_comm);
    else
        rc = MPI_Comm_split_type(ctx->comm, MPI_COMM_TYPE_SHARED, ctx->rank, MPI_INFO_NULL,
                                 &ctx->node_comm);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Comm_split_type");
    if ((rc = MPI_Comm_rank(ctx->node_comm, &ctx->local_rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(ctx->node_comm, &ctx->local_size)) != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Comm_rank/size of the node communicator");
    rc = MPI_Comm_split(ctx->comm, ctx->local_rank == 0 ? 0 : MPI_UNDEFINED, ctx->rank,
                        &ctx->leader_comm);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Comm_split");
    int leader = ctx->local_rank == 0;
    rc = MPI_Allreduce(&leader, &ctx->node_count, 1, MPI_INT, MPI_SUM, ctx->comm);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Allreduce");
    /* Uniform: same local size everywhere and local rank == rank % local size. */
    int mine[2] = { ctx->local_size, ctx->local_rank == ctx->rank % ctx->local_size ? 1 : 0 };
    int minv[2], maxv[2];
    if ((rc = MPI_Allreduce(mine, minv, 2, MPI_INT, MPI_MIN, ctx->comm)) != MPI_SUCCESS ||
        (rc = MPI_Allreduce(mine, maxv, 2, MPI_INT, MPI_MAX, ctx->comm)) != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Allreduce of the node layout");
    ctx->uniform_layout = minv[0] == maxv[0] && minv[1] == 1;
    return GMPI_OK;
}

int gmpi_init(int *argc, char ***argv, const gmpi_options *opts, gmpi_ctx **out, char *err,
              size_t errlen)
{
    int inited = 0, rc;
    *out = NULL;
    gmpi_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory creating the runtime context");
    ctx->comm = ctx->node_comm = ctx->leader_comm = MPI_COMM_NULL;
    if ((rc = read_options(ctx, opts, err, errlen))) {
        free(ctx);
        return rc;
    }
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        rc = MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) {
            free(ctx);
            return gmpi_mpi_fail(err, errlen, rc, "MPI_Init_thread");
        }
        ctx->owns_mpi = 1;
        if (provided < MPI_THREAD_SERIALIZED) {
            gmpi_finalize(ctx);
            return gmpi_fail(
                err, errlen, GMPI_EMPI,
                "MPI gives thread level %d, below MPI_THREAD_SERIALIZED which the fusion thread needs; use an MPI built with thread support",
                provided);
        }
    }
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &ctx->comm);
    if (rc != MPI_SUCCESS) {
        gmpi_finalize(ctx);
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Comm_dup");
    }
    if ((rc = MPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(ctx->comm, &ctx->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(ctx->comm, &ctx->size)) != MPI_SUCCESS) {
        gmpi_finalize(ctx);
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Comm_set_errhandler/rank/size");
    }
    if ((rc = setup_layout(ctx, err, errlen))) {
        gmpi_finalize(ctx);
        return rc;
    }
    *out = ctx;
    return GMPI_OK;
}

void gmpi_finalize(gmpi_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->fusion)
        gmpi_fusion_stop(ctx, NULL, 0);
    gmpi_cuda_release(ctx);
    free(ctx->scratch);
    free(ctx->fusion_buf);
    if (ctx->shm_slots) {
        MPI_Win_unlock_all(ctx->shm_win);
        MPI_Win_free(&ctx->shm_win);
        free(ctx->shm_slots);
    }
    if (ctx->leader_comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->leader_comm);
    if (ctx->node_comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->node_comm);
    if (ctx->comm != MPI_COMM_NULL)
        MPI_Comm_free(&ctx->comm);
    if (ctx->owns_mpi) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin)
            MPI_Finalize();
    }
    free(ctx);
}

int gmpi_rank(const gmpi_ctx *ctx)
{
    return ctx->rank;
}
int gmpi_size(const gmpi_ctx *ctx)
{
    return ctx->size;
}
int gmpi_local_rank(const gmpi_ctx *ctx)
{
    return ctx->local_rank;
}
int gmpi_local_size(const gmpi_ctx *ctx)
{
    return ctx->local_size;
}
int gmpi_node_count(const gmpi_ctx *ctx)
{
    return ctx->node_count;
}
MPI_Comm gmpi_comm(const gmpi_ctx *ctx)
{
    return ctx->comm;
}

int gmpi_set_algorithm(gmpi_ctx *ctx, gmpi_algorithm algo)
{
    if (ctx->fusion)
        return GMPI_EBUSY;
    if ((unsigned)algo >= GMPI_ALGO_COUNT)
        return GMPI_EINVAL;
    ctx->algorithm = algo;
    return GMPI_OK;
}

int gmpi_set_deterministic(gmpi_ctx *ctx, int on)
{
    if (ctx->fusion)
        return GMPI_EBUSY;
    ctx->deterministic = !!on;
    return GMPI_OK;
}
