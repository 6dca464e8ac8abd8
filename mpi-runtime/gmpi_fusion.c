/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: tensor fusion.  A background thread, the only caller of
 * MPI while it runs, agrees with the other ranks each cycle on how many
 * queued tensors all of them have, packs those into fusion buffers and
 * reduces them (Horovod's design, without MPI_THREAD_MULTIPLE). */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gmpi_handle {
    void *buf;
    size_t count;
    gmpi_dtype dtype;
    gmpi_op op;
    int done;
    int status;
    uint64_t signature; /* of this tensor and every one queued before it */
    uint64_t index;     /* position in the queue since start */
    char err[256];
    struct gmpi_handle *next;
    struct gmpi_fusion *engine;
};

struct gmpi_fusion {
    gmpi_ctx *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* enqueue (when the threshold fills) or stop */
    pthread_cond_t done; /* some tensor finished */
    gmpi_handle *head, *tail;
    size_t pending, pending_bytes;
    uint64_t signature; /* running signature of the queue */
    uint64_t queued;    /* tensors queued since start */
    int stop_requested;
    int failed; /* then failure_code and failure apply to every tensor */
    int failure_code;
    char failure[256];
    uint64_t tensors, buffers;
    int result;
    char result_err[256];
};

static void finish(struct gmpi_fusion *f, gmpi_handle *h, int status, const char *msg)
{
    pthread_mutex_lock(&f->mu);
    h->status = status;
    if (status && msg)
        snprintf(h->err, sizeof h->err, "%s", msg);
    h->done = 1;
    pthread_mutex_unlock(&f->mu);
}

/* Reduce the k tensors of list.  Tensors of the same type and operation are
 * packed together in queue order up to the fusion threshold (every rank
 * sees the same list, so every rank packs the same way); a tensor at or
 * above the threshold is reduced in place. */
static int run_cycle(struct gmpi_fusion *f, gmpi_handle *list, size_t k, char *err, size_t errlen)
{
    gmpi_ctx *ctx = f->ctx;
    int rc = GMPI_OK;
    gmpi_handle **v = malloc(k * sizeof *v);
    char *taken = calloc(k, 1);
    if (!v || !taken) {
        free(v);
        free(taken);
        v = NULL;
        taken = NULL;
        f->failed = 1;
        f->failure_code = GMPI_ENOMEM;
        gmpi_fail(f->failure, sizeof f->failure, GMPI_ENOMEM, "out of memory in the fusion thread");
    }
    size_t i = 0;
    for (gmpi_handle *h = list; h && v; h = h->next)
        v[i++] = h;
    for (i = 0; v && i < k; i++) {
        if (taken[i])
            continue;
        gmpi_handle *h = v[i];
        size_t esize = gmpi_dtype_size(h->dtype);
        size_t bytes = h->count * esize;
        taken[i] = 1;
        if (f->failed) {
            finish(f, h, f->failure_code, f->failure);
            continue;
        }
        if ((unsigned)h->dtype > GMPI_INT64 || (unsigned)h->op >= GMPI_OP_COUNT) {
            finish(
                f, h, GMPI_EINVAL,
                "gmpi_enqueue: only float, double, int32 and int64 with sum, max or min are supported on host buffers");
            continue;
        }
        if (bytes >= ctx->fusion_threshold) {
            rc = gmpi_allreduce_run(ctx, GMPI_ALGO_AUTO, h->buf, h->count, h->dtype, h->op, err,
                                    errlen);
            f->tensors++;
            f->buffers++;
            if (rc) {
                f->failed = 1;
                f->failure_code = rc;
                snprintf(f->failure, sizeof f->failure, "%s", err);
            }
            finish(f, h, rc, err);
            continue;
        }
        /* Pack h and the later tensors of its kind that still fit. */
        size_t used = 0, n = 0;
        size_t *members = malloc((k - i) * sizeof *members);
        if (!members) {
            f->failed = 1;
            f->failure_code = GMPI_ENOMEM;
            gmpi_fail(f->failure, sizeof f->failure, GMPI_ENOMEM,
                      "out of memory in the fusion thread");
            finish(f, h, GMPI_ENOMEM, f->failure);
            continue;
        }
        members[n++] = i;
        used = bytes;
        for (size_t j = i + 1; j < k; j++) {
            gmpi_handle *g = v[j];
            size_t gb = g->count * gmpi_dtype_size(g->dtype);
            if (taken[j] || g->dtype != h->dtype || g->op != h->op || gb >= ctx->fusion_threshold ||
                used + gb > ctx->fusion_threshold)
                continue;
            taken[j] = 1;
            used += gb;
            members[n++] = j;
        }
        /* The buffer lives in the context: fresh pages every cycle would
         * cost more than the copies. */
        if (ctx->fusion_buf_size < used) {
            char *bigger = realloc(ctx->fusion_buf, used);
            if (!bigger) {
                f->failed = 1;
                f->failure_code = GMPI_ENOMEM;
                gmpi_fail(
                    f->failure, sizeof f->failure, GMPI_ENOMEM,
                    "out of memory for a %zu-byte fusion buffer; lower GPUMARKET_FUSION_BYTES",
                    used);
                for (size_t m = 0; m < n; m++)
                    finish(f, v[members[m]], GMPI_ENOMEM, f->failure);
                free(members);
                continue;
            }
            ctx->fusion_buf = bigger;
            ctx->fusion_buf_size = used;
        }
        char *fuse = ctx->fusion_buf;
        used = 0;
        for (size_t m = 0; m < n; m++) {
            gmpi_handle *g = v[members[m]];
            if (g->count)
                memcpy(fuse + used, g->buf, g->count * esize);
            used += g->count * esize;
        }
        rc = gmpi_allreduce_run(ctx, GMPI_ALGO_AUTO, fuse, used / esize, h->dtype, h->op, err,
                                errlen);
        if (rc) {
            f->failed = 1;
            f->failure_code = rc;
            snprintf(f->failure, sizeof f->failure, "%s", err);
        }
        f->buffers++;
        used = 0;
        for (size_t m = 0; m < n; m++) {
            gmpi_handle *g = v[members[m]];
            size_t gb = g->count * esize;
            if (!rc && gb)
                memcpy(g->buf, fuse + used, gb);
            used += gb;
            f->tensors++;
            finish(f, g, rc, err);
        }
        free(members);
    }
    if (!v)
        for (gmpi_handle *h = list, *next; h; h = next) {
            next = h->next; /* h may be freed by gmpi_wait once finished */
            finish(f, h, GMPI_ENOMEM, f->failure);
        }
    free(v);
    free(taken);
    pthread_mutex_lock(&f->mu);
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static void *fusion_main(void *arg)
{
    struct gmpi_fusion *f = arg;
    char err[256];
    for (;;) {
        pthread_mutex_lock(&f->mu);
        long long mine[3] = { (long long)f->pending, -(long long)f->pending, f->stop_requested };
        pthread_mutex_unlock(&f->mu);
        long long all[3];
        int mrc = MPI_Allreduce(mine, all, 3, MPI_LONG_LONG, MPI_MIN, f->ctx->comm);
        if (mrc != MPI_SUCCESS) {
            f->result = gmpi_mpi_fail(f->result_err, sizeof f->result_err, mrc,
                                      "fusion negotiation MPI_Allreduce");
            /* Fail everything queued and stop: MPI is unusable now. */
            pthread_mutex_lock(&f->mu);
            for (gmpi_handle *h = f->head; h; h = h->next) {
                h->status = GMPI_EMPI;
                snprintf(h->err, sizeof h->err, "%s", f->result_err);
                h->done = 1;
            }
            f->head = f->tail = NULL;
            f->pending = 0;
            pthread_cond_broadcast(&f->done);
            pthread_mutex_unlock(&f->mu);
            return NULL;
        }
        size_t k = (size_t)all[0];
        if (all[2] == 1 && -all[1] == 0)
            break;
        if (k == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += (long)f->ctx->fusion_cycle_us * 1000;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            /* Nothing agreed yet.  With tensors of our own queued, ask again
             * at once (the other ranks are about to queue theirs); with an
             * empty queue, sleep until the first enqueue or the cycle ends. */
            pthread_mutex_lock(&f->mu);
            if (!f->stop_requested && f->pending == 0)
                pthread_cond_timedwait(&f->work, &f->mu, &ts);
            pthread_mutex_unlock(&f->mu);
            continue;
        }
        /* Detach the first k tensors (the queue only grows at the tail). */
        pthread_mutex_lock(&f->mu);
        gmpi_handle *list = f->head, *last = f->head;
        for (size_t i = 1; i < k; i++)
            last = last->next;
        f->head = last->next;
        if (!f->head)
            f->tail = NULL;
        last->next = NULL;
        f->pending -= k;
        for (gmpi_handle *h = list; h; h = h->next)
            f->pending_bytes -= h->count * gmpi_dtype_size(h->dtype);
        pthread_mutex_unlock(&f->mu);
        /* Every rank must have queued the same tensors: compare the running
         * signatures (MIN of s and of ~s gives both extremes at once).  A
         * mismatch would otherwise hang or mix data. */
        uint64_t sig[2] = { last->signature, ~last->signature }, agreed[2];
        mrc = MPI_Allreduce(sig, agreed, 2, MPI_UINT64_T, MPI_MIN, f->ctx->comm);
        if (mrc != MPI_SUCCESS || agreed[0] != last->signature || ~agreed[1] != last->signature) {
            if (mrc != MPI_SUCCESS)
                gmpi_mpi_fail(f->failure, sizeof f->failure, mrc, "fusion signature MPI_Allreduce");
            else
                gmpi_fail(
                    f->failure, sizeof f->failure, GMPI_EINVAL,
                    "gmpi_enqueue: the ranks queued different tensors (count, type or operation) among the first %llu; every rank must enqueue the same tensors in the same order",
                    (unsigned long long)last->index + 1);
            f->failed = 1;
            f->failure_code = mrc != MPI_SUCCESS ? GMPI_EMPI : GMPI_EINVAL;
        }
        int rc = run_cycle(f, list, k, err, sizeof err);
        if (rc && !f->result) {
            f->result = rc;
            snprintf(f->result_err, sizeof f->result_err, "%s", err);
        }
    }
    return NULL;
}

int gmpi_fusion_start(gmpi_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->fusion)
        return gmpi_fail(err, errlen, GMPI_EBUSY,
                         "gmpi_fusion_start: the fusion engine already runs");
    struct gmpi_fusion *f = calloc(1, sizeof *f);
    if (!f)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory starting the fusion engine");
    f->ctx = ctx;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->work, &ca);
    pthread_cond_init(&f->done, NULL);
    pthread_condattr_destroy(&ca);
    int prc = pthread_create(&f->thread, NULL, fusion_main, f);
    if (prc) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->work);
        pthread_cond_destroy(&f->done);
        free(f);
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "cannot start the fusion thread: %s",
                         strerror(prc));
    }
    ctx->fusion = f;
    return GMPI_OK;
}

int gmpi_fusion_stop(gmpi_ctx *ctx, char *err, size_t errlen)
{
    struct gmpi_fusion *f = ctx->fusion;
    if (!f)
        return GMPI_OK;
    pthread_mutex_lock(&f->mu);
    f->stop_requested = 1;
    pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    int rc = f->result;
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", f->result_err);
    ctx->fusion = NULL;
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->work);
    pthread_cond_destroy(&f->done);
    free(f);
    return rc;
}

int gmpi_enqueue(gmpi_ctx *ctx, void *buf, size_t count, gmpi_dtype dtype, gmpi_op op,
                 gmpi_handle **handle, char *err, size_t errlen)
{
    struct gmpi_fusion *f = ctx->fusion;
    *handle = NULL;
    if (!f)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "gmpi_enqueue: call gmpi_fusion_start first");
    if (count > 0 && !buf)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "gmpi_enqueue: NULL buffer with %zu elements",
                         count);
    /* Bad types are queued too, so every rank skips the same tensor. */
    gmpi_handle *h = calloc(1, sizeof *h);
    if (!h)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory queueing a tensor");
    h->buf = buf;
    h->count = count;
    h->dtype = dtype;
    h->op = op;
    h->engine = f;
    pthread_mutex_lock(&f->mu);
    uint64_t x = f->signature ^ ((uint64_t)count * 0x9E3779B97F4A7C15ull) ^
                 ((uint64_t)dtype << 56) ^ ((uint64_t)op << 60);
    x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
    f->signature = x ^ (x >> 29);
    h->signature = f->signature;
    h->index = f->queued++;
    if (f->tail)
        f->tail->next = h;
    else
        f->head = h;
    f->tail = h;
    f->pending++;
    f->pending_bytes += count * gmpi_dtype_size(dtype);
    if (f->pending == 1)
        pthread_cond_signal(&f->work);
    pthread_mutex_unlock(&f->mu);
    *handle = h;
    return GMPI_OK;
}

int gmpi_wait(gmpi_handle *h, char *err, size_t errlen)
{
    if (!h)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "gmpi_wait: NULL handle");
    struct gmpi_fusion *f = h->engine;
    pthread_mutex_lock(&f->mu);
    while (!h->done)
        pthread_cond_wait(&f->done, &f->mu);
    pthread_mutex_unlock(&f->mu);
    int rc = h->status;
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", h->err);
    free(h);
    return rc;
}

void gmpi_fusion_stats(const gmpi_ctx *ctx, uint64_t *tensors, uint64_t *buffers)
{
    const struct gmpi_fusion *f = ctx->fusion;
    *tensors = f ? f->tensors : 0;
    *buffers = f ? f->buffers : 0;
}
