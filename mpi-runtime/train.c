/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket-train: a data-parallel trainer on libgpumarket-mpi.  A small MLP
 * learns a teacher's labels on a dataset generated from a seed; it survives
 * preemption through checkpoints and resumes with identical results. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/train_model.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct flags {
    uint64_t steps;
    uint32_t batch;
    double lr;
    double momentum;
    uint64_t checkpoint_interval;
    const char *checkpoint_dir;
    uint64_t seed;
    uint32_t hidden;
    int deterministic;
    int use_cuda;
    int bind;
    int bind_report;
    const char *topology;
    const char *algorithm;
    int64_t preempt_at;
    int preempt_rank;
    unsigned throttle_ms;
    int barrier_only;
    int quiet;
};

static int rank = 0;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: gpumarket-train [options]\n"
        "  --steps N                 training steps (default 200)\n"
        "  --batch-size N            global batch, split over the ranks (default 256)\n"
        "  --lr X                    learning rate (default 0.05)\n"
        "  --momentum X              SGD momentum (default 0.9)\n"
        "  --hidden N                hidden units (default 32)\n"
        "  --seed N                  dataset and initial weights (default 1)\n"
        "  --checkpoint-dir DIR      checkpoints (default $GPUMARKET_CHECKPOINT_DIR)\n"
        "  --checkpoint-interval N   save every N steps (default 0: only on preemption)\n"
        "  --deterministic           fixed-point gradient sums: bitwise the same loss for any rank count\n"
        "  --algorithm NAME          force an allreduce algorithm (auto, ring, rd, rab, shm, hier, deterministic)\n"
        "  --cuda                    compute gradients on the GPU (when built with CUDA)\n"
        "  --bind                    bind each rank to the cores near its GPU\n"
        "  --bind-report             print each rank's GPU, NIC and cores\n"
        "  --topology FILE           hwloc XML topology for binding (default: this machine)\n"
        "  --quiet                   print only the final loss\n"
        "Exit status: 0 done, 1 error, 2 bad flags, %d preempted (checkpoint saved, requeue).\n",
        GMPI_EXIT_PREEMPTED);
}

/* Only rank 0 reports a bad flag; every rank exits 2. */
static void die_usage(const char *message, const char *what)
{
    if (rank == 0)
        fprintf(stderr, "gpumarket-train: %s '%s'; see --help\n", message, what);
    exit(2);
}

static uint64_t parse_count(const char *flag, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        if (rank == 0)
            fprintf(stderr,
                    "gpumarket-train: %s '%s' is not a whole number from %" PRIu64 " to %" PRIu64
                    "; fix the flag\n",
                    flag, v, min, max);
        exit(2);
    }
    return x;
}

static double parse_real(const char *flag, const char *v, double min, double max)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < min || x > max) {
        if (rank == 0)
            fprintf(stderr,
                    "gpumarket-train: %s '%s' is not a number from %g to %g; fix the flag\n", flag,
                    v, min, max);
        exit(2);
    }
    return x;
}

static void parse_flags(int argc, char **argv, struct flags *f)
{
    enum {
        O_STEPS = 256,
        O_BATCH,
        O_LR,
        O_MOM,
        O_HIDDEN,
        O_SEED,
        O_CKDIR,
        O_CKINT,
        O_DET,
        O_ALGO,
        O_CUDA,
        O_BIND,
        O_BINDREP,
        O_TOPO,
        O_QUIET,
        O_PREEMPT,
        O_THROTTLE,
        O_BARRIER,
        O_HELP
    };
    static const struct option opts[] = {
        { "steps", required_argument, 0, O_STEPS },
        { "batch-size", required_argument, 0, O_BATCH },
        { "lr", required_argument, 0, O_LR },
        { "momentum", required_argument, 0, O_MOM },
        { "hidden", required_argument, 0, O_HIDDEN },
        { "seed", required_argument, 0, O_SEED },
        { "checkpoint-dir", required_argument, 0, O_CKDIR },
        { "checkpoint-interval", required_argument, 0, O_CKINT },
        { "deterministic", no_argument, 0, O_DET },
        { "algorithm", required_argument, 0, O_ALGO },
        { "cuda", no_argument, 0, O_CUDA },
        { "bind", no_argument, 0, O_BIND },
        { "bind-report", no_argument, 0, O_BINDREP },
        { "topology", required_argument, 0, O_TOPO },
        { "quiet", no_argument, 0, O_QUIET },
        /* Test aids: raise SIGUSR1 in one rank after a step; slow steps down. */
        { "test-preempt-at", required_argument, 0, O_PREEMPT },
        { "test-throttle-ms", required_argument, 0, O_THROTTLE },
        /* Benchmark aid: a barrier where the gradients are summed, so the
         * ranks keep in lock step but each trains on its own samples only
         * (bench-train's limit: lock step with no exchange cost). */
        { "bench-barrier-only", no_argument, 0, O_BARRIER },
        { "help", no_argument, 0, O_HELP },
        { 0, 0, 0, 0 },
    };
    memset(f, 0, sizeof *f);
    f->steps = 200;
    f->batch = 256;
    f->lr = 0.05;
    f->momentum = 0.9;
    f->hidden = 32;
    f->seed = 1;
    f->preempt_at = -1;
    f->checkpoint_dir = getenv("GPUMARKET_CHECKPOINT_DIR");
    if (f->checkpoint_dir && !*f->checkpoint_dir)
        f->checkpoint_dir = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_STEPS:
            f->steps = parse_count("--steps", optarg, 1, 100000000);
            break;
        case O_BATCH:
            f->batch = (uint32_t)parse_count("--batch-size", optarg, 1, TRAIN_MAX_BATCH);
            break;
        case O_LR:
            f->lr = parse_real("--lr", optarg, 0, 100);
            break;
        case O_MOM:
            f->momentum = parse_real("--momentum", optarg, 0, 0.999);
            break;
        case O_HIDDEN:
            f->hidden = (uint32_t)parse_count("--hidden", optarg, 1, TRAIN_MAX_HIDDEN);
            break;
        case O_SEED:
            f->seed = parse_count("--seed", optarg, 0, UINT64_MAX);
            break;
        case O_CKDIR:
            if (!*optarg)
                die_usage("--checkpoint-dir needs a directory, not", optarg);
            f->checkpoint_dir = optarg;
            break;
        case O_CKINT:
            f->checkpoint_interval = parse_count("--checkpoint-interval", optarg, 0, 100000000);
            break;
        case O_DET:
            f->deterministic = 1;
            break;
        case O_ALGO:
            f->algorithm = optarg;
            break;
        case O_CUDA:
            f->use_cuda = 1;
            break;
        case O_BIND:
            f->bind = 1;
            break;
        case O_BINDREP:
            f->bind_report = 1;
            break;
        case O_TOPO:
            f->topology = optarg;
            break;
        case O_QUIET:
            f->quiet = 1;
            break;
        case O_PREEMPT: {
            char *colon = strchr(optarg, ':');
            if (colon) {
                *colon = 0;
                f->preempt_rank = (int)parse_count("--test-preempt-at RANK", colon + 1, 0, INT_MAX);
            }
            f->preempt_at = (int64_t)parse_count("--test-preempt-at", optarg, 0, 100000000);
            break;
        }
        case O_THROTTLE:
            f->throttle_ms = (unsigned)parse_count("--test-throttle-ms", optarg, 0, 10000);
            break;
        case O_BARRIER:
            f->barrier_only = 1;
            break;
        case O_HELP:
            if (rank == 0)
                usage(stdout);
            exit(0);
        default:
            die_usage("unknown flag, or a flag without its value:", argv[optind - 1]);
        }
    }
    if (optind < argc)
        die_usage("unexpected argument", argv[optind]);
}

/* ------------------------------------------------------------ checkpoints */

struct state_header {
    char magic[8];
    uint64_t step;
    uint64_t seed;
    uint32_t hidden;
    uint32_t batch;
    double lr;
    double momentum;
    uint32_t deterministic;
    uint32_t nparams;
};

static void warn_checkpoint(void *arg, const char *message)
{
    (void)arg;
    fprintf(stderr, "gpumarket: %s\n", message);
}

/* The training state as bytes: header, weights, momentum. */
static size_t state_size(const struct model *m)
{
    return sizeof(struct state_header) + 2 * m->nparams * sizeof(double);
}

static void header_fill(const struct model *m, const struct flags *f, uint64_t step,
                        struct state_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, "GMTRAIN1", 8);
    h->step = step;
    h->seed = f->seed;
    h->hidden = f->hidden;
    h->batch = f->batch;
    h->lr = f->lr;
    h->momentum = f->momentum;
    h->deterministic = (uint32_t)f->deterministic;
    h->nparams = (uint32_t)m->nparams;
}

static void state_pack(const struct model *m, const struct flags *f, uint64_t step, char *out)
{
    struct state_header h;
    header_fill(m, f, step, &h);
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, m->w, m->nparams * sizeof(double));
    memcpy(out + sizeof h + m->nparams * sizeof(double), m->mom, m->nparams * sizeof(double));
}

/* Every rank writes its slice of the state bytes. */
static int save(gmpi_ctx *ctx, const struct model *m, const struct flags *f, uint64_t step)
{
    char err[1024];
    size_t total = state_size(m);
    char *blob = malloc(total);
    if (!blob) {
        fprintf(stderr, "gpumarket-train: out of memory packing a checkpoint\n");
        return -1;
    }
    state_pack(m, f, step, blob);
    int n = gmpi_size(ctx), r = gmpi_rank(ctx);
    size_t start = total * (size_t)r / (size_t)n, end = total * (size_t)(r + 1) / (size_t)n;
    int rc = gmpi_checkpoint_save(ctx, f->checkpoint_dir, step, blob + start, end - start, err,
                                  sizeof err);
    free(blob);
    if (rc) {
        fprintf(stderr, "gpumarket: %s (rank %d)\n", err, r);
        return -1;
    }
    if (r == 0 && !f->quiet)
        printf("checkpoint step %" PRIu64 " saved in %s\n", step, f->checkpoint_dir);
    return 0;
}

/* Rank 0 finds and reads the newest complete checkpoint and broadcasts it.
 * Returns the step to resume from (0 when none); -1 on error. */
static int64_t restore(gmpi_ctx *ctx, struct model *m, const struct flags *f)
{
    char err[1024];
    size_t total = state_size(m);
    char *blob = malloc(total);
    long long result[2] = { 0, 0 }; /* status (0 none, 1 found, -1 error), step */
    if (!blob) {
        fprintf(stderr, "gpumarket-train: out of memory for the checkpoint\n");
        return -1;
    }
    if (gmpi_rank(ctx) == 0) {
        gmpi_checkpoint *ck = NULL;
        int rc = gmpi_checkpoint_find_latest(f->checkpoint_dir, warn_checkpoint, NULL, &ck, err,
                                             sizeof err);
        if (rc == GMPI_ENOENT) {
            result[0] = 0;
        } else if (rc) {
            fprintf(stderr, "gpumarket: %s\n", err);
            result[0] = -1;
        } else {
            size_t off = 0;
            result[0] = 1;
            for (int i = 0; i < gmpi_checkpoint_shard_count(ck) && result[0] == 1; i++) {
                size_t n = gmpi_checkpoint_shard_size(ck, i);
                if (n > total - off) {
                    fprintf(
                        stderr,
                        "gpumarket-train: checkpoint step %" PRIu64
                        " in %s holds more state than this model (other --hidden?); use the same flags or another --checkpoint-dir\n",
                        gmpi_checkpoint_step(ck), f->checkpoint_dir);
                    result[0] = -1;
                } else if ((rc = gmpi_checkpoint_read_shard(ck, i, blob + off, n, err,
                                                            sizeof err))) {
                    fprintf(stderr, "gpumarket: %s\n", err);
                    result[0] = -1;
                } else {
                    off += n;
                }
            }
            if (result[0] == 1 && off != total) {
                fprintf(
                    stderr,
                    "gpumarket-train: checkpoint step %" PRIu64
                    " in %s holds %zu bytes of state, this model needs %zu (other --hidden?); use the same flags or another --checkpoint-dir\n",
                    gmpi_checkpoint_step(ck), f->checkpoint_dir, off, total);
                result[0] = -1;
            }
            if (result[0] == 1) {
                struct state_header h, want;
                memcpy(&h, blob, sizeof h);
                header_fill(m, f, h.step, &want);
                if (memcmp(&h, &want, sizeof h)) {
                    fprintf(
                        stderr,
                        "gpumarket-train: checkpoint step %" PRIu64
                        " in %s was written with other flags (--seed %" PRIu64
                        " --batch-size %u --hidden %u --lr %g --momentum %g%s); rerun with those or use another --checkpoint-dir\n",
                        h.step, f->checkpoint_dir, h.seed, h.batch, h.hidden, h.lr, h.momentum,
                        h.deterministic ? " --deterministic" : "");
                    result[0] = -1;
                } else {
                    result[1] = (long long)h.step;
                }
            }
            gmpi_checkpoint_free(ck);
        }
    }
    MPI_Bcast(result, 2, MPI_LONG_LONG, 0, gmpi_comm(ctx));
    if (result[0] == 1) {
        MPI_Bcast(blob, (int)total, MPI_BYTE, 0, gmpi_comm(ctx));
        memcpy(m->w, blob + sizeof(struct state_header), m->nparams * sizeof(double));
        memcpy(m->mom, blob + sizeof(struct state_header) + m->nparams * sizeof(double),
               m->nparams * sizeof(double));
    }
    free(blob);
    return result[0] < 0 ? -1 : result[1];
}

/* ------------------------------------------------------------------ main */

/* Sum this step's gradients over the ranks, or with --bench-barrier-only
 * only wait for every rank at a barrier (the sum stays this rank's). */
static int exchange(gmpi_ctx *ctx, const struct flags *f, void *buf, size_t n, gmpi_dtype type,
                    char *err, size_t errlen)
{
    if (!f->barrier_only)
        return gmpi_allreduce(ctx, buf, n, type, GMPI_SUM, err, errlen);
    int rc = MPI_Barrier(gmpi_comm(ctx));
    if (rc != MPI_SUCCESS)
        snprintf(err, errlen, "MPI_Barrier failed (MPI error %d)", rc);
    return rc == MPI_SUCCESS ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct flags f;
    gmpi_ctx *ctx;
    char err[1024];
    gmpi_options o;
    memset(&o, 0, sizeof o);
    /* Flags are parsed after MPI starts so only rank 0 reports them. */
    if (gmpi_init(&argc, &argv, &o, &ctx, err, sizeof err)) {
        fprintf(stderr, "gpumarket: %s\n", err);
        return 1;
    }
    rank = gmpi_rank(ctx);
    parse_flags(argc, argv, &f);
    int size = gmpi_size(ctx);
    if (f.algorithm) {
        gmpi_algorithm a;
        if (gmpi_algorithm_parse(f.algorithm, "--algorithm", &a, err, sizeof err)) {
            if (rank == 0)
                fprintf(stderr, "gpumarket: %s\n", err);
            gmpi_finalize(ctx);
            return 2;
        }
        gmpi_set_algorithm(ctx, a);
    }
    if (f.use_cuda && !gmpi_cuda_built()) {
        if (rank == 0)
            fprintf(
                stderr,
                "gpumarket-train: --cuda: this build has no CUDA; rebuild with --with-cuda or drop --cuda\n");
        gmpi_finalize(ctx);
        return 2;
    }
    if (f.use_cuda && gmpi_cuda_device_count(err, sizeof err) <= 0) {
        if (rank == 0)
            fprintf(stderr, "gpumarket: %s; drop --cuda to train on the CPU\n", err);
        gmpi_finalize(ctx);
        return 2;
    }

    /* Slurm's view of this task, when launched by srun. */
    const char *procid = getenv("SLURM_PROCID"), *localid = getenv("SLURM_LOCALID");
    if (procid && atoi(procid) != rank && rank == 0)
        fprintf(
            stderr,
            "gpumarket-train: SLURM_PROCID=%s differs from the MPI rank %d; use srun --mpi=pmix\n",
            procid, rank);
    if (f.bind || f.bind_report || f.use_cuda) {
        gmpi_binding b;
        int lr = gmpi_local_rank(ctx);
        if (localid && atoi(localid) != lr && rank == 0)
            fprintf(
                stderr,
                "gpumarket-train: SLURM_LOCALID=%s differs from the node-local MPI rank %d; binding follows MPI\n",
                localid, lr);
        if (gmpi_bind_node(ctx, f.topology, NULL, &b, err, sizeof err)) {
            fprintf(stderr, "gpumarket: %s (rank %d)\n", err, rank);
            gmpi_finalize(ctx);
            return 1;
        }
        if (f.bind && gmpi_bind_apply(&b, err, sizeof err))
            fprintf(stderr, "gpumarket: %s (rank %d); continuing unbound\n", err, rank);
        if (f.bind_report) {
            char line[512];
            gmpi_bind_format(&b, rank, lr, line, sizeof line);
            /* One rank at a time, in order, so the report reads well. */
            for (int r = 0; r < size; r++) {
                if (r == rank) {
                    printf("gpumarket: %s\n", line);
                    fflush(stdout);
                }
                MPI_Barrier(gmpi_comm(ctx));
            }
        }
        /* The nearest GPU; without a topology answer, round robin. */
        if (f.use_cuda) {
            int ndev = gmpi_cuda_device_count(err, sizeof err);
            int dev = b.visible_index >= 0 && b.visible_index < ndev ? b.visible_index : lr % ndev;
            if (train_cuda_select(dev)) {
                fprintf(
                    stderr,
                    "gpumarket-train: rank %d cannot use CUDA device %d; check CUDA_VISIBLE_DEVICES\n",
                    rank, dev);
                gmpi_finalize(ctx);
                return 1;
            }
        }
    }

    struct model m;
    if (model_init(&m, f.hidden, f.seed)) {
        fprintf(stderr, "gpumarket-train: out of memory for the model\n");
        gmpi_finalize(ctx);
        return 1;
    }
    if (gmpi_preempt_install(err, sizeof err)) {
        fprintf(stderr, "gpumarket: %s\n", err);
        gmpi_finalize(ctx);
        return 1;
    }
    if (!f.checkpoint_dir && rank == 0)
        fprintf(
            stderr,
            "gpumarket-train: no --checkpoint-dir (or GPUMARKET_CHECKPOINT_DIR): a preemption will lose all progress\n");

    uint64_t start = 0;
    if (f.checkpoint_dir) {
        int64_t s = restore(ctx, &m, &f);
        if (s < 0) {
            model_free(&m);
            gmpi_finalize(ctx);
            return 1;
        }
        start = (uint64_t)s;
        if (start && rank == 0)
            fprintf(stderr, "gpumarket-train: resuming from checkpoint step %" PRIu64 " in %s\n",
                    start, f.checkpoint_dir);
    }
    if (rank == 0 && !f.quiet)
        printf("gpumarket-train: %d rank(s) on %d node(s), %" PRIu64
               " steps, batch %u, %zu parameters, %s sums%s\n",
               size, gmpi_node_count(ctx), f.steps, f.batch, m.nparams,
               f.deterministic ? "fixed-point" : "floating", f.use_cuda ? ", CUDA" : "");

    size_t n = m.nparams + 1; /* gradients then the loss */
    int64_t *fixed = calloc(n, sizeof *fixed);
    double *grad = calloc(n, sizeof *grad);
    if (!fixed || !grad) {
        fprintf(stderr, "gpumarket-train: out of memory for gradients\n");
        return 1;
    }
    double loss = NAN;
    int status = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t step;
    for (step = start; step < f.steps; step++) {
        int rc;
        /* This rank's samples of the global batch: j = rank, rank + size... */
        if (f.deterministic) {
            memset(fixed, 0, n * sizeof *fixed);
            rc = f.use_cuda
                     ? train_cuda_gradients_fixed(&m, f.seed, step, f.batch, rank, size, fixed)
                     : model_gradients_fixed(&m, f.seed, step, f.batch, rank, size, fixed);
            if (!rc)
                rc = exchange(ctx, &f, fixed, n, GMPI_INT64, err, sizeof err);
            for (size_t i = 0; i < n && !rc; i++)
                grad[i] = (double)fixed[i] / TRAIN_FIXED_SCALE;
        } else {
            memset(grad, 0, n * sizeof *grad);
            rc = f.use_cuda ? train_cuda_gradients(&m, f.seed, step, f.batch, rank, size, grad)
                            : model_gradients(&m, f.seed, step, f.batch, rank, size, grad);
            if (!rc)
                rc = exchange(ctx, &f, grad, n, GMPI_DOUBLE, err, sizeof err);
        }
        if (rc) {
            fprintf(stderr, "gpumarket: %s (rank %d, step %" PRIu64 ")\n",
                    rc > 0 ? "gpumarket-train: gradient computation failed" : err, rank, step);
            status = 1;
            break;
        }
        loss = grad[m.nparams] / f.batch;
        model_update(&m, grad, f.batch, f.lr, f.momentum);
        if (rank == 0 && !f.quiet)
            printf("step %" PRIu64 " loss %.17g\n", step + 1, loss);
        if (f.throttle_ms)
            usleep(f.throttle_ms * 1000u);
        if (f.preempt_at >= 0 && (uint64_t)f.preempt_at == step + 1 && rank == f.preempt_rank)
            raise(SIGUSR1);
        uint64_t done = step + 1;
        int saved = 0;
        if (f.checkpoint_dir && f.checkpoint_interval && done % f.checkpoint_interval == 0 &&
            done < f.steps) {
            if (save(ctx, &m, &f, done)) {
                status = 1;
                break;
            }
            saved = 1;
        }
        int pre = gmpi_preempt_agree(ctx, err, sizeof err);
        if (pre < 0) {
            fprintf(stderr, "gpumarket: %s\n", err);
            status = 1;
            break;
        }
        if (pre && done < f.steps) {
            if (f.checkpoint_dir && !saved && save(ctx, &m, &f, done)) {
                status = 1;
                break;
            }
            if (rank == 0)
                fprintf(stderr,
                        "gpumarket-train: preempted after step %" PRIu64
                        "%s; exiting with status %d so the job is requeued\n",
                        done,
                        f.checkpoint_dir ? ", checkpoint saved"
                                         : " (no checkpoint directory: progress lost)",
                        GMPI_EXIT_PREEMPTED);
            status = GMPI_EXIT_PREEMPTED;
            break;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (status == 0 && rank == 0) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("final loss %.17g after %" PRIu64 " steps\n", loss, f.steps);
        if (step > start && secs > 0)
            fprintf(stderr, "gpumarket-train: %.0f samples/s\n",
                    (double)(step - start) * f.batch / secs);
    }
    free(fixed);
    free(grad);
    model_free(&m);
    fflush(stdout);
    gmpi_finalize(ctx);
    return status;
}
