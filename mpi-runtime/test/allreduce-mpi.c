/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Allreduce correctness: every algorithm, type and operation against
 * MPI_Allreduce (floating sums within a tolerance, the rest exactly), the
 * deterministic mode bitwise against a rank-order fold, every rank's result
 * bitwise equal to rank 0's.  Run under mpirun by allreduce.t. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/test/mpi-test.h"
#include "tests/tap/tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size;
/* --exact: data whose sums are exact in any order (eighths below 2^17 in
 * magnitude, at most 8 ranks: 20 significant bits), so every algorithm is
 * held bitwise to MPI_Allreduce, floating sums included. */
static int exact;

static int all_true(int pass)
{
    int r;
    MPI_Allreduce(&pass, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}

/* Deterministic data for (rank, index): fractions with many mantissa bits so
 * floating sums round, and both signs. */
static void fill(void *buf, size_t count, gmpi_dtype t, int r)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(r + 1) * 0xC2B2AE3D27D4EB4Full;
        h ^= h >> 29;
        long v = (long)(h % 200001) - 100000;
        switch (t) {
        case GMPI_FLOAT:
            ((float *)buf)[i] = exact ? (float)v / 8.0f : (float)v / 7.0f;
            break;
        case GMPI_DOUBLE:
            ((double *)buf)[i] = exact ? (double)v / 8.0 : (double)v / 7.0;
            break;
        case GMPI_INT32:
            ((int32_t *)buf)[i] = (int32_t)v;
            break;
        case GMPI_INT64:
            ((int64_t *)buf)[i] = (int64_t)v * 1000003;
            break;
        default:
            break;
        }
    }
}

static MPI_Datatype mpi_type(gmpi_dtype t)
{
    switch (t) {
    case GMPI_FLOAT:
        return MPI_FLOAT;
    case GMPI_DOUBLE:
        return MPI_DOUBLE;
    case GMPI_INT32:
        return MPI_INT32_T;
    default:
        return MPI_INT64_T;
    }
}

static MPI_Op mpi_op(gmpi_op o)
{
    return o == GMPI_SUM ? MPI_SUM : o == GMPI_MAX ? MPI_MAX : MPI_MIN;
}

/* Compare got with want: exact, except floating sums within a relative
 * tolerance (MPI may add in another order). */
static int close_enough(const void *got, const void *want, size_t count, gmpi_dtype t, gmpi_op o,
                        size_t *bad)
{
    if (exact || o != GMPI_SUM || t == GMPI_INT32 || t == GMPI_INT64) {
        size_t es = gmpi_dtype_size(t);
        for (size_t i = 0; i < count; i++)
            if (memcmp((const char *)got + i * es, (const char *)want + i * es, es)) {
                *bad = i;
                return 0;
            }
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        double g = t == GMPI_FLOAT ? ((const float *)got)[i] : ((const double *)got)[i];
        double w = t == GMPI_FLOAT ? ((const float *)want)[i] : ((const double *)want)[i];
        double tol = (t == GMPI_FLOAT ? 1e-5 : 1e-12) * (fabs(w) + 100000.0 / 7.0 * size);
        if (fabs(g - w) > tol) {
            *bad = i;
            return 0;
        }
    }
    return 1;
}

/* The deterministic reference: every rank's data folded in rank order. */
static void fold_reference(void *ref, size_t count, gmpi_dtype t, gmpi_op o)
{
    size_t es = gmpi_dtype_size(t);
    void *tmp = malloc(count * es + 1);
    fill(ref, count, t, 0);
    for (int r = 1; r < size; r++) {
        fill(tmp, count, t, r);
        gmpi_reduce_local(ref, tmp, count, t, o);
    }
    free(tmp);
}

static int same_as_rank0(const void *buf, size_t bytes)
{
    char *copy = malloc(bytes + 1);
    if (rank == 0 && bytes)
        memcpy(copy, buf, bytes);
    for (size_t off = 0; off < bytes; off += (size_t)1 << 30) {
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : ((size_t)1 << 30);
        MPI_Bcast(copy + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    int same = bytes == 0 || memcmp(copy, buf, bytes) == 0;
    free(copy);
    return same;
}

/* One case; returns this rank's verdict and describes a failure in why. */
static int check(gmpi_ctx *ctx, gmpi_algorithm algo, size_t count, gmpi_dtype t, gmpi_op o,
                 char *why, size_t whylen)
{
    size_t es = gmpi_dtype_size(t);
    char *buf = malloc(count * es + 1), *want = malloc(count * es + 1);
    char err[512] = "";
    int pass = 1;
    fill(buf, count, t, rank);
    fill(want, count, t, rank);
    int rc = gmpi_allreduce_algo(ctx, algo, buf, count, t, o, err, sizeof err);
    if (rc) {
        snprintf(why, whylen, "count %zu: rc %d: %s", count, rc, err);
        pass = 0;
    }
    if (pass && algo == GMPI_ALGO_DETERMINISTIC) {
        fold_reference(want, count, t, o);
        if (count && memcmp(buf, want, count * es)) {
            snprintf(why, whylen,
                     "count %zu: deterministic result differs from the rank-order fold", count);
            pass = 0;
        }
    } else if (pass) {
        MPI_Allreduce(MPI_IN_PLACE, want, (int)count, mpi_type(t), mpi_op(o), MPI_COMM_WORLD);
        size_t bad = 0;
        if (!close_enough(buf, want, count, t, o, &bad)) {
            snprintf(why, whylen, "count %zu: element %zu differs from MPI_Allreduce", count, bad);
            pass = 0;
        }
    }
    if (pass && !same_as_rank0(buf, count * es)) {
        snprintf(why, whylen, "count %zu: ranks disagree bitwise", count);
        pass = 0;
    }
    free(buf);
    free(want);
    return pass;
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[512];
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        quick |= strcmp(argv[i], "--quick") == 0;
        exact |= strcmp(argv[i], "--exact") == 0;
    }
    ctx = mpi_test_init(&argc, &argv, NULL, &rank, &size);
    if (argc > 1 && strcmp(argv[1], "--init-only") == 0) {
        gmpi_finalize(ctx);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--no-shared-window") == 0) {
        /* Run with an MPI that cannot share a window (OMPI_MCA_osc=pt2pt):
         * shared_memory forced is refused with a message, the automatic
         * choice falls back to Rabenseifner and stays correct. */
        static const size_t fcounts[] = { 1, 1009, 65537, 262147 };
        int status;
        float f = 1;
        plan(TAP_NO_PLAN);
        int rc = gmpi_allreduce_algo(ctx, GMPI_ALGO_SHARED_MEMORY, &f, 1, GMPI_FLOAT, GMPI_SUM, err,
                                     sizeof err);
        ok(size == 1 || (rc == GMPI_EMPI && strncmp(err, "gpumarket:", 10) != 0 &&
                         strstr(err, "MPI_Win_allocate_shared")),
           "shared_memory without shared windows is refused, naming the MPI call");
        if (rc)
            diag("%s", err);
        rc = gmpi_allreduce_algo(ctx, GMPI_ALGO_SHARED_MEMORY, &f, 1, GMPI_FLOAT, GMPI_SUM, err,
                                 sizeof err);
        ok(size == 1 || (rc == GMPI_EMPI && strstr(err, "could not create a shared window")),
           "and refused again without a second try");
        ok(size == 1 || gmpi_choose_algorithm(ctx, (size_t)1 << 20) == GMPI_ALGO_RABENSEIFNER,
           "auto above the small size then uses rabenseifner");
        for (int t = GMPI_FLOAT; t <= GMPI_INT64; t++) {
            char why[512] = "";
            int pass = 1;
            for (size_t c = 0; c < sizeof fcounts / sizeof fcounts[0] && pass; c++)
                pass = all_true(check(ctx, GMPI_ALGO_AUTO, fcounts[c], (gmpi_dtype)t, GMPI_MAX, why,
                                      sizeof why));
            if (!ok(pass, "auto without shared windows: %s max", gmpi_dtype_name((gmpi_dtype)t)))
                diag("rank %d: %s", rank, why);
        }
        done_testing();
        status = exit_status();
        gmpi_finalize(ctx);
        return status;
    }
    if (argc > 1 && strcmp(argv[1], "--partial-shared-window") == 0) {
        /* Run with OMPI_MCA_osc=pt2pt on some ranks only: window creation
         * is collective, so a rank that cannot create one must not go on
         * to another collective while the others create it.  Every rank
         * gets the same error, and auto falls back on every rank. */
        int status;
        float f = 1;
        plan(TAP_NO_PLAN);
        int rc = gmpi_allreduce_algo(ctx, GMPI_ALGO_SHARED_MEMORY, &f, 1, GMPI_FLOAT, GMPI_SUM, err,
                                     sizeof err);
        if (!ok(all_true(rc == GMPI_EMPI && strstr(err, "MPI_Win_allocate_shared") && f == 1),
                "shared_memory with a window on some ranks only: EMPI on every rank"))
            diag("rank %d: rc %d: %s", rank, rc, err);
        ok(all_true(gmpi_choose_algorithm(ctx, (size_t)1 << 20) == GMPI_ALGO_RABENSEIFNER),
           "auto above the small size then uses rabenseifner on every rank");
        char why[512] = "";
        int pass =
            all_true(check(ctx, GMPI_ALGO_AUTO, 262147, GMPI_INT64, GMPI_SUM, why, sizeof why));
        if (!ok(pass, "auto stays correct"))
            diag("rank %d: %s", rank, why);
        done_testing();
        status = exit_status();
        gmpi_finalize(ctx);
        return status;
    }
    if (argc > 2 && strcmp(argv[1], "--forced") == 0) {
        /* GPUMARKET_ALLREDUCE set by the caller: argv[2] names the
         * algorithm it must force, at every size, with correct results. */
        static const size_t fcounts[] = { 0, 1, 7, 1009, 65537, 262147 };
        gmpi_algorithm want;
        int status;
        plan(TAP_NO_PLAN);
        ok(gmpi_algorithm_parse(argv[2], "argv", &want, err, sizeof err) == 0 &&
               gmpi_choose_algorithm(ctx, 4) == want &&
               gmpi_choose_algorithm(ctx, (size_t)1 << 26) == want,
           "GPUMARKET_ALLREDUCE=%s is chosen at every size", argv[2]);
        for (int t = GMPI_FLOAT; t <= GMPI_INT64; t++) {
            char why[512] = "";
            int pass = 1;
            for (size_t c = 0; c < sizeof fcounts / sizeof fcounts[0] && pass; c++)
                pass = all_true(check(ctx, GMPI_ALGO_AUTO, fcounts[c], (gmpi_dtype)t, GMPI_SUM, why,
                                      sizeof why));
            if (!ok(pass, "forced %s: %s sum", argv[2], gmpi_dtype_name((gmpi_dtype)t)))
                diag("rank %d: %s", rank, why);
        }
        done_testing();
        status = exit_status();
        gmpi_finalize(ctx);
        return status;
    }
    plan(TAP_NO_PLAN);
    diag("%d ranks, %d node(s), %d local", size, gmpi_node_count(ctx), gmpi_local_size(ctx));

    static const size_t counts[] = { 0, 1, 2, 3, 5, 7, 13, 61, 1000, 1009, 4099, 65537, 262147 };
    size_t ncounts = sizeof counts / sizeof counts[0];
    if (quick)
        ncounts = 10;
    else if (exact)
        ncounts = 12; /* up to the prime 65537 */
    static const gmpi_algorithm algos[] = {
        GMPI_ALGO_AUTO,         GMPI_ALGO_RING,          GMPI_ALGO_RECURSIVE_DOUBLING,
        GMPI_ALGO_RABENSEIFNER, GMPI_ALGO_SHARED_MEMORY, GMPI_ALGO_HIERARCHICAL,
        GMPI_ALGO_DETERMINISTIC
    };
    for (size_t a = 0; a < sizeof algos / sizeof algos[0]; a++) {
        if (algos[a] == GMPI_ALGO_SHARED_MEMORY && gmpi_node_count(ctx) > 1) {
            float f = 1;
            ok(gmpi_allreduce_algo(ctx, algos[a], &f, 1, GMPI_FLOAT, GMPI_SUM, err, sizeof err) ==
                       GMPI_EINVAL &&
                   strstr(err, "shared_memory") && strstr(err, "one node") && f == 1,
               "shared_memory over %d nodes is refused, naming it", gmpi_node_count(ctx));
            continue;
        }
        for (int t = GMPI_FLOAT; t <= GMPI_INT64; t++)
            for (int o = GMPI_SUM; o < GMPI_OP_COUNT; o++) {
                if (exact && o == GMPI_MAX)
                    continue; /* as MIN, at half the time */
                char why[512] = "";
                int pass = 1;
                for (size_t c = 0; c < ncounts && pass; c++)
                    pass = all_true(check(ctx, algos[a], counts[c], (gmpi_dtype)t, (gmpi_op)o, why,
                                          sizeof why));
                if (!ok(pass, "%s %s %s over %zu counts", gmpi_algorithm_name(algos[a]),
                        gmpi_dtype_name((gmpi_dtype)t), gmpi_op_name((gmpi_op)o), ncounts))
                    diag("rank %d: %s", rank, why);
            }
    }

    if (!quick && !exact) {
        /* 64 MiB of floats, the largest size the issue asks for. */
        size_t big = (size_t)16 << 20;
        static const gmpi_algorithm big_algos[] = { GMPI_ALGO_AUTO, GMPI_ALGO_DETERMINISTIC };
        for (size_t a = 0; a < 2; a++) {
            char why[512] = "";
            int pass =
                all_true(check(ctx, big_algos[a], big, GMPI_FLOAT, GMPI_SUM, why, sizeof why));
            if (!ok(pass, "%s float sum of 64 MiB", gmpi_algorithm_name(big_algos[a])))
                diag("rank %d: %s", rank, why);
        }
    }

    /* The deterministic mode set on the context: the automatic choice then
     * gives the rank-order fold whatever the size. */
    gmpi_set_deterministic(ctx, 1);
    ok(gmpi_choose_algorithm(ctx, 4) == GMPI_ALGO_DETERMINISTIC &&
           gmpi_choose_algorithm(ctx, (size_t)1 << 30) == GMPI_ALGO_DETERMINISTIC,
       "deterministic mode overrides the size-based choice");
    gmpi_set_deterministic(ctx, 0);
    gmpi_set_algorithm(ctx, GMPI_ALGO_RING);
    ok(gmpi_choose_algorithm(ctx, 4) == GMPI_ALGO_RING,
       "a forced algorithm is used for small sizes");
    for (gmpi_algorithm f = GMPI_ALGO_RABENSEIFNER; f <= GMPI_ALGO_SHARED_MEMORY; f++) {
        /* Forced through the context, the automatic entry point uses it
         * even for the smallest sizes. */
        char why[512] = "";
        if (f == GMPI_ALGO_SHARED_MEMORY && gmpi_node_count(ctx) > 1)
            continue;
        gmpi_set_algorithm(ctx, f);
        int pass = gmpi_choose_algorithm(ctx, 4) == f;
        for (size_t c = 0; c < ncounts && pass; c++)
            pass = all_true(
                check(ctx, GMPI_ALGO_AUTO, counts[c], GMPI_FLOAT, GMPI_SUM, why, sizeof why));
        if (!ok(pass, "gmpi_set_algorithm(%s): auto allreduce over %zu counts",
                gmpi_algorithm_name(f), ncounts))
            diag("rank %d: %s", rank, why);
    }
    gmpi_set_algorithm(ctx, GMPI_ALGO_AUTO);
    ok(gmpi_choose_algorithm(ctx, 4) == GMPI_ALGO_RECURSIVE_DOUBLING,
       "auto: small messages use recursive doubling");
    {
        /* Large messages: shared memory on one node, hierarchical across
         * several nodes of equal size (ranks in blocks), Rabenseifner
         * otherwise. */
        int nodes = gmpi_node_count(ctx);
        gmpi_algorithm want = nodes == 1                          ? GMPI_ALGO_SHARED_MEMORY
                              : size % nodes == 0 && size > nodes ? GMPI_ALGO_HIERARCHICAL
                                                                  : GMPI_ALGO_RABENSEIFNER;
        ok(gmpi_choose_algorithm(ctx, (size_t)1 << 20) == want, "auto: 1 MiB on %d node(s) uses %s",
           nodes, gmpi_algorithm_name(want));
    }

    /* Bad arguments. */
    float f = 1;
    ok(gmpi_allreduce(ctx, &f, 1, GMPI_HALF, GMPI_SUM, err, sizeof err) == GMPI_EINVAL &&
           strstr(err, "half"),
       "half on a host buffer is refused by name");
    ok(gmpi_allreduce(ctx, &f, 1, GMPI_FLOAT, (gmpi_op)7, err, sizeof err) == GMPI_EINVAL,
       "an unknown operation is refused");
    ok(gmpi_allreduce(ctx, NULL, 3, GMPI_FLOAT, GMPI_SUM, err, sizeof err) == GMPI_EINVAL,
       "a NULL buffer with elements is refused");
    ok(gmpi_allreduce_algo(ctx, (gmpi_algorithm)42, &f, 1, GMPI_FLOAT, GMPI_SUM, err, sizeof err) ==
           GMPI_EINVAL,
       "an unknown algorithm is refused");
    {
        /* Without a GPU (or CUDA) the device path says so; with one, a host
         * buffer is refused.  Either way nothing is reduced. */
        float hostbuf[2] = { 1, 2 };
        int rc = gmpi_allreduce_cuda(ctx, hostbuf, 2, GMPI_FLOAT, GMPI_SUM, err, sizeof err);
        ok((rc == GMPI_ENODEV || (rc == GMPI_EINVAL && size > 1) || (rc == 0 && size == 1)) &&
               (rc == 0 || (err[0] != '\0' && strncmp(err, "gpumarket", 9) != 0)) &&
               hostbuf[0] == 1,
           "gmpi_allreduce_cuda on a host buffer is refused (%s)",
           rc == GMPI_ENODEV ? "no GPU" : "host memory");
    }
    gmpi_algorithm parsed;
    ok(gmpi_algorithm_parse("rd", "x", &parsed, err, sizeof err) == 0 &&
           parsed == GMPI_ALGO_RECURSIVE_DOUBLING,
       "'rd' names recursive doubling");
    static const struct {
        const char *name;
        gmpi_algorithm algo;
    } names[] = {
        { "rabenseifner", GMPI_ALGO_RABENSEIFNER },
        { "rab", GMPI_ALGO_RABENSEIFNER },
        { "shared_memory", GMPI_ALGO_SHARED_MEMORY },
        { "shm", GMPI_ALGO_SHARED_MEMORY },
        { "ring", GMPI_ALGO_RING },
        { "hier", GMPI_ALGO_HIERARCHICAL },
        { "deterministic", GMPI_ALGO_DETERMINISTIC },
        { "auto", GMPI_ALGO_AUTO },
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ok(gmpi_algorithm_parse(names[i].name, "x", &parsed, err, sizeof err) == 0 &&
               parsed == names[i].algo,
           "'%s' names %s", names[i].name, gmpi_algorithm_name(names[i].algo));
    ok(strcmp(gmpi_algorithm_name(GMPI_ALGO_RABENSEIFNER), "rabenseifner") == 0 &&
           strcmp(gmpi_algorithm_name(GMPI_ALGO_SHARED_MEMORY), "shared_memory") == 0 &&
           strcmp(gmpi_algorithm_name(GMPI_ALGO_COUNT), "?") == 0,
       "algorithm names: rabenseifner, shared_memory, and ? out of range");
    ok(gmpi_algorithm_parse("fastest", "--algo", &parsed, err, sizeof err) == GMPI_EINVAL &&
           strstr(err, "--algo") && strstr(err, "fastest"),
       "an unknown name is refused, naming its source");

    done_testing();
    int status = exit_status();
    gmpi_finalize(ctx);
    return status;
}
