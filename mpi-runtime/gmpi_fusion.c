/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: tensor fusion.  Rounds of one agreement (how many queued
 * tensors every rank has, and that they are the same) and one fused
 * reduction, run by a background thread when each rank has a core to spare,
 * else by the caller's thread when it waits (Horovod's design, without
 * MPI_THREAD_MULTIPLE). */
#include "config.h"

#include "mpi-runtime/gmpi_internal.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* The plan of one cycle, kept across cycles: nothing is allocated between
 * the agreement and the reduction, where a failure on one rank would leave
 * the others waiting inside a collective. */
struct plan {
    gmpi_handle **v; /* the k tensors in queue order */
    size_t *order;   /* their indices, grouped */
    size_t *group;   /* group g is order[group[g]] .. order[group[g + 1] - 1] */
    char *taken;
    struct gmpi_seg *segs;
    size_t cap, ngroups;
    int use_shm;
};

struct gmpi_fusion {
    gmpi_ctx *ctx;
    int threaded; /* a background thread runs the rounds */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work; /* enqueue or stop */
    pthread_cond_t done; /* some tensor finished, or a round ended */
    gmpi_handle *head, *tail;
    size_t pending;
    uint64_t signature; /* running signature of the queue */
    uint64_t queued;    /* tensors queued since start */
    int stop_requested;
    int stopped;  /* the rounds are over: every tensor is done */
    int flushing; /* without a thread: a caller runs a round now */
    int dead;     /* after an error every queued and later tensor fails */
    int failure_code;
    char failure[256];
    int result; /* the first error, returned by gmpi_fusion_stop */
    char result_err[256];
    unsigned refs; /* the context's, and one per handle not yet waited for */
    uint64_t tensors, buffers, cycles;
    uint64_t fail_cycle; /* test aid: this cycle fails to allocate */
    struct plan plan;
};

enum { ROUND_IDLE, ROUND_PROGRESS, ROUND_END };

static void engine_free(struct gmpi_fusion *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->work);
    pthread_cond_destroy(&f->done);
    free(f->plan.v);
    free(f->plan.order);
    free(f->plan.group);
    free(f->plan.taken);
    free(f->plan.segs);
    free(f);
}

/* Drop one reference (with f->mu held); frees the engine after the last and
 * then returns 1 (the mutex is gone). */
static int unref_locked(struct gmpi_fusion *f)
{
    if (--f->refs) {
        pthread_mutex_unlock(&f->mu);
        return 0;
    }
    pthread_mutex_unlock(&f->mu);
    engine_free(f);
    return 1;
}

static void finish_locked(gmpi_handle *h, int status, const char *msg)
{
    h->status = status;
    if (status && msg)
        snprintf(h->err, sizeof h->err, "%s", msg);
    h->done = 1;
}

static void finish(struct gmpi_fusion *f, gmpi_handle *h, int status, const char *msg)
{
    pthread_mutex_lock(&f->mu);
    finish_locked(h, status, msg);
    pthread_mutex_unlock(&f->mu);
}

/* The engine cannot go on (MPI failed, or the ranks disagree): record the
 * error, fail every queued tensor and, through gmpi_enqueue, every later
 * one.  Every rank reaches this at the same round, from the same agreed
 * values, so no rank is left inside a collective. */
static void kill_engine(struct gmpi_fusion *f, gmpi_handle *list, int code, const char *msg)
{
    pthread_mutex_lock(&f->mu);
    if (!f->dead) {
        f->dead = 1;
        f->failure_code = code;
        snprintf(f->failure, sizeof f->failure, "%s", msg);
    }
    if (!f->result) {
        f->result = code;
        snprintf(f->result_err, sizeof f->result_err, "%s", msg);
    }
    for (gmpi_handle *h = list, *next; h; h = next) {
        next = h->next; /* h may be freed by gmpi_wait once finished */
        finish_locked(h, code, msg);
    }
    for (gmpi_handle *h = f->head, *next; h; h = next) {
        next = h->next;
        finish_locked(h, code, msg);
    }
    f->head = f->tail = NULL;
    f->pending = 0;
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->mu);
}

static int plan_reserve(struct plan *pl, size_t k)
{
    if (pl->cap >= k)
        return 0;
    size_t cap = k < 64 ? 64 : k;
    void *v = realloc(pl->v, cap * sizeof *pl->v);
    if (v)
        pl->v = v;
    void *o = realloc(pl->order, cap * sizeof *pl->order);
    if (o)
        pl->order = o;
    void *g = realloc(pl->group, (cap + 1) * sizeof *pl->group);
    if (g)
        pl->group = g;
    void *t = realloc(pl->taken, cap);
    if (t)
        pl->taken = t;
    void *s = realloc(pl->segs, cap * sizeof *pl->segs);
    if (s)
        pl->segs = s;
    if (!v || !o || !g || !t || !s)
        return -1;
    pl->cap = cap;
    return 0;
}

static int valid_host(const gmpi_handle *h)
{
    return (unsigned)h->dtype <= GMPI_INT64 && (unsigned)h->op < GMPI_OP_COUNT;
}

/* Plan the cycle of the k tensors of list: group them by type and
 * operation in queue order (every rank sees the same list, so every rank
 * groups the same way).  On the shared-memory path a group is one vector
 * of any size; otherwise groups stop at the fusion threshold and a tensor
 * at or above it is a group of its own.  Everything the cycle needs is
 * allocated here.  Returns 0, or -1 when out of memory. */
static int plan_cycle(struct gmpi_fusion *f, gmpi_handle *list, size_t k)
{
    gmpi_ctx *ctx = f->ctx;
    struct plan *pl = &f->plan;
    if (f->fail_cycle && f->cycles + 1 == f->fail_cycle)
        return -1;
    if (plan_reserve(pl, k))
        return -1;
    size_t i = 0;
    for (gmpi_handle *h = list; h; h = h->next)
        pl->v[i++] = h;
    memset(pl->taken, 0, k);
    size_t n = 0, largest = 0;
    pl->ngroups = 0;
    for (i = 0; i < k; i++) {
        if (pl->taken[i])
            continue;
        gmpi_handle *h = pl->v[i];
        size_t esize = gmpi_dtype_size(h->dtype), used = h->count * esize;
        pl->taken[i] = 1;
        pl->group[pl->ngroups++] = n;
        pl->order[n++] = i;
        if (!valid_host(h))
            continue; /* fails alone */
        if (!pl->use_shm && used >= ctx->fusion_threshold) {
            largest = used > largest ? used : largest;
            continue;
        }
        for (size_t j = i + 1; j < k; j++) {
            gmpi_handle *g = pl->v[j];
            size_t gb = g->count * gmpi_dtype_size(g->dtype);
            if (pl->taken[j] || g->dtype != h->dtype || g->op != h->op)
                continue;
            if (!pl->use_shm && (gb >= ctx->fusion_threshold || used + gb > ctx->fusion_threshold))
                continue;
            pl->taken[j] = 1;
            used += gb;
            pl->order[n++] = j;
        }
        largest = used > largest ? used : largest;
    }
    pl->group[pl->ngroups] = n;
    if (!pl->use_shm && ctx->size > 1) {
        /* The packed buffer and the algorithms' scratch, grown now. */
        size_t buf = largest < ctx->fusion_threshold ? largest : ctx->fusion_threshold;
        if (ctx->fusion_buf_size < buf) {
            char *bigger = realloc(ctx->fusion_buf, buf);
            if (!bigger)
                return -1;
            ctx->fusion_buf = bigger;
            ctx->fusion_buf_size = buf;
        }
        if (gmpi_scratch_reserve(ctx, largest))
            return -1;
    }
    return 0;
}

/* The members of group g as runs: tensors adjacent in memory (the next one
 * starts where the last ends, as in one flat gradient buffer) are one run.
 * Empty tensors are left out.  Returns the run count; *bytes the total. */
static size_t group_runs(struct plan *pl, size_t g, size_t *bytes)
{
    size_t nseg = 0;
    *bytes = 0;
    for (size_t m = pl->group[g]; m < pl->group[g + 1]; m++) {
        gmpi_handle *h = pl->v[pl->order[m]];
        size_t b = h->count * gmpi_dtype_size(h->dtype);
        if (!b)
            continue;
        if (nseg && pl->segs[nseg - 1].p + pl->segs[nseg - 1].bytes == (char *)h->buf)
            pl->segs[nseg - 1].bytes += b;
        else
            pl->segs[nseg++] = (struct gmpi_seg){ h->buf, b };
        *bytes += b;
    }
    return nseg;
}

/* Reduce the planned groups.  Returns 0, or the error of an allreduce (MPI
 * failed: the engine stops). */
static int run_cycle(struct gmpi_fusion *f, char *err, size_t errlen)
{
    gmpi_ctx *ctx = f->ctx;
    struct plan *pl = &f->plan;
    int rc = GMPI_OK;
    for (size_t g = 0; g < pl->ngroups; g++) {
        gmpi_handle *h = pl->v[pl->order[pl->group[g]]];
        if (!valid_host(h)) {
            finish(
                f, h, GMPI_EINVAL,
                "gmpi_enqueue: only float, double, int32 and int64 with sum, max or min are supported on host buffers");
            continue;
        }
        size_t bytes, esize = gmpi_dtype_size(h->dtype);
        size_t nseg = rc ? 0 : group_runs(pl, g, &bytes);
        if (rc || ctx->size == 1 || bytes == 0) {
            /* nothing to exchange */
        } else if (pl->use_shm) {
            rc = gmpi_shm_fused(ctx, pl->segs, nseg, bytes, h->dtype, h->op, err, errlen);
        } else if (nseg == 1) {
            /* An adjacent run is reduced in place, without packing. */
            rc = gmpi_allreduce_run(ctx, GMPI_ALGO_AUTO, pl->segs[0].p, bytes / esize, h->dtype,
                                    h->op, err, errlen);
        } else {
            char *fuse = ctx->fusion_buf;
            size_t off = 0;
            for (size_t s = 0; s < nseg; s++) {
                memcpy(fuse + off, pl->segs[s].p, pl->segs[s].bytes);
                off += pl->segs[s].bytes;
            }
            rc = gmpi_allreduce_run(ctx, GMPI_ALGO_AUTO, fuse, bytes / esize, h->dtype, h->op, err,
                                    errlen);
            off = 0;
            for (size_t s = 0; s < nseg && !rc; s++) {
                memcpy(pl->segs[s].p, fuse + off, pl->segs[s].bytes);
                off += pl->segs[s].bytes;
            }
        }
        f->buffers++;
        for (size_t m = pl->group[g]; m < pl->group[g + 1]; m++) {
            f->tensors++;
            finish(f, pl->v[pl->order[m]], rc, err);
        }
    }
    pthread_mutex_lock(&f->mu);
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* One round, by the only thread calling MPI: agree on the queue, then
 * reduce what every rank has queued.  Collective: every rank runs the same
 * rounds, and every branch below depends on agreed values only. */
static int round_run(struct gmpi_fusion *f)
{
    MPI_Comm comm = f->ctx->comm;
    char msg[256], err[256];
    pthread_mutex_lock(&f->mu);
    if (f->dead) {
        pthread_mutex_unlock(&f->mu);
        return ROUND_END;
    }
    long long pend = (long long)f->pending, stop = f->stop_requested;
    pthread_mutex_unlock(&f->mu);
    /* MIN over the ranks of: queued, -queued (the most queued), stopping,
     * -(stopping with an empty queue). */
    long long mine[4] = { pend, -pend, stop, -(long long)(stop && pend == 0) }, all[4];
    int mrc = MPI_Allreduce(mine, all, 4, MPI_LONG_LONG, MPI_MIN, comm);
    if (mrc != MPI_SUCCESS) {
        gmpi_mpi_fail(msg, sizeof msg, mrc, "fusion negotiation MPI_Allreduce");
        kill_engine(f, NULL, GMPI_EMPI, msg);
        return ROUND_END;
    }
    long long k = all[0], most = -all[1];
    if (all[2] && most == 0)
        return ROUND_END;
    if (all[3] && most > 0) {
        /* A rank stopped with its queue empty while another still has
         * tensors: they queued different numbers of tensors, and waiting
         * would never end. */
        gmpi_fail(
            msg, sizeof msg, GMPI_EINVAL,
            "gmpi_fusion_stop: the ranks queued different numbers of tensors (%lld more on some than on others); every rank must enqueue the same tensors in the same order",
            most);
        kill_engine(f, NULL, GMPI_EINVAL, msg);
        return ROUND_END;
    }
    if (k == 0)
        return ROUND_IDLE;
    /* Detach the first k tensors (the queue only grows at the tail). */
    pthread_mutex_lock(&f->mu);
    gmpi_handle *list = f->head, *last = f->head;
    for (long long i = 1; i < k; i++)
        last = last->next;
    f->head = last->next;
    if (!f->head)
        f->tail = NULL;
    last->next = NULL;
    f->pending -= (size_t)k;
    pthread_mutex_unlock(&f->mu);
    /* The shared-memory path is set up the first time (collective, and
     * agreed), before the plan that depends on it. */
    gmpi_ctx *ctx = f->ctx;
    f->plan.use_shm =
        !ctx->deterministic &&
        (ctx->algorithm == GMPI_ALGO_AUTO || ctx->algorithm == GMPI_ALGO_SHARED_MEMORY) &&
        gmpi_shm_ready(ctx);
    int planned = plan_cycle(f, list, (size_t)k) == 0;
    /* Every rank must have queued the same tensors (MIN of s and of ~s
     * gives both extremes at once), and every rank must have planned the
     * cycle: a mismatch would hang or mix data, a rank out of memory would
     * leave the others inside the reduction. */
    uint64_t sig[3] = { last->signature, ~last->signature, (uint64_t)planned }, agreed[3];
    mrc = MPI_Allreduce(sig, agreed, 3, MPI_UINT64_T, MPI_MIN, comm);
    if (mrc != MPI_SUCCESS) {
        gmpi_mpi_fail(msg, sizeof msg, mrc, "fusion signature MPI_Allreduce");
        kill_engine(f, list, GMPI_EMPI, msg);
        return ROUND_END;
    }
    if (agreed[0] != last->signature || ~agreed[1] != last->signature) {
        gmpi_fail(
            msg, sizeof msg, GMPI_EINVAL,
            "gmpi_enqueue: the ranks queued different tensors (count, type or operation) among the first %llu; every rank must enqueue the same tensors in the same order",
            (unsigned long long)last->index + 1);
        kill_engine(f, list, GMPI_EINVAL, msg);
        return ROUND_END;
    }
    if (!agreed[2]) {
        gmpi_fail(msg, sizeof msg, GMPI_ENOMEM,
                  "out of memory in the fusion engine on %s (cycle of %lld tensors)",
                  planned ? "another rank" : "this rank", k);
        kill_engine(f, list, GMPI_ENOMEM, msg);
        return ROUND_END;
    }
    f->cycles++;
    int rc = run_cycle(f, err, sizeof err);
    if (rc) {
        kill_engine(f, NULL, rc, err);
        return ROUND_END;
    }
    return ROUND_PROGRESS;
}

static void *fusion_main(void *arg)
{
    struct gmpi_fusion *f = arg;
    for (;;) {
        int r = round_run(f);
        if (r == ROUND_END)
            break;
        if (r == ROUND_PROGRESS)
            continue;
        /* Nothing agreed yet.  With tensors of our own queued, ask again at
         * once (the other ranks are about to queue theirs); with an empty
         * queue, sleep until the first enqueue or the cycle ends. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)f->ctx->fusion_cycle_us * 1000;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_mutex_lock(&f->mu);
        if (!f->stop_requested && f->pending == 0)
            pthread_cond_timedwait(&f->work, &f->mu, &ts);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_lock(&f->mu);
    f->stopped = 1;
    pthread_cond_broadcast(&f->done);
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Without a thread: run rounds on the calling thread until *cond holds
 * (read with f->mu held, which the caller holds and still holds after). */
static void drive_locked(struct gmpi_fusion *f, const int *cond)
{
    while (!*cond && !f->stopped) {
        if (f->flushing) {
            pthread_cond_wait(&f->done, &f->mu);
            continue;
        }
        f->flushing = 1;
        pthread_mutex_unlock(&f->mu);
        int r = round_run(f);
        pthread_mutex_lock(&f->mu);
        f->flushing = 0;
        if (r == ROUND_END)
            f->stopped = 1;
        pthread_cond_broadcast(&f->done);
    }
}

/* A background thread pays only when it has a core of its own: each local
 * rank has at least two CPUs in its set and the node has two per rank.
 * Otherwise (np=2 on 2 cores, or bound to one core each) it competes with
 * its own rank and every hand-over costs a scheduling delay. */
static int want_thread(const gmpi_ctx *ctx)
{
    if (ctx->fusion_thread >= 0)
        return ctx->fusion_thread;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    return allowed >= 2 && online >= 2L * ctx->local_size;
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
    f->refs = 1;
    const char *fc = getenv("GPUMARKET_TEST_FUSION_ENOMEM");
    if (fc && *fc)
        f->fail_cycle = strtoull(fc, NULL, 10);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->work, &ca);
    pthread_cond_init(&f->done, NULL);
    pthread_condattr_destroy(&ca);
    f->threaded = want_thread(ctx);
    if (f->threaded) {
        int prc = pthread_create(&f->thread, NULL, fusion_main, f);
        if (prc) {
            engine_free(f);
            return gmpi_fail(err, errlen, GMPI_ENOMEM, "cannot start the fusion thread: %s",
                             strerror(prc));
        }
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
    if (f->threaded) {
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        pthread_mutex_lock(&f->mu);
    } else {
        drive_locked(f, &f->stopped);
    }
    int rc = f->result;
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", f->result_err);
    ctx->fusion = NULL;
    unref_locked(f);
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
    if (f->dead) {
        int code = f->failure_code;
        if (err && errlen)
            snprintf(err, errlen, "%s", f->failure);
        pthread_mutex_unlock(&f->mu);
        free(h);
        return code;
    }
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
    f->refs++;
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
    if (f->threaded)
        while (!h->done && !f->stopped)
            pthread_cond_wait(&f->done, &f->mu);
    else
        drive_locked(f, &h->done);
    if (!h->done) /* cannot happen: the last round finishes every tensor */
        finish_locked(h, GMPI_EINVAL, "gpumarket: gmpi_wait: the fusion engine ended first");
    int rc = h->status;
    if (rc && err && errlen)
        snprintf(err, errlen, "%s", h->err);
    free(h);
    unref_locked(f);
    return rc;
}

void gmpi_fusion_stats(const gmpi_ctx *ctx, uint64_t *tensors, uint64_t *buffers)
{
    const struct gmpi_fusion *f = ctx->fusion;
    *tensors = f ? f->tensors : 0;
    *buffers = f ? f->buffers : 0;
}
