/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Settlement benchmark, each figure beside its baseline from the same run:
 *   sign+append (durable, group commit): one thread appending batches of
 *   1000 vs raw OpenSSL Ed25519 signing on 1 core; 256 threads appending one
 *   receipt each at a time vs the direct group commit of raw signatures by
 *   the same 256 threads (and, for information, vs raw signing);
 *   full ledger verification on all cores vs raw OpenSSL verify on all cores;
 *   hash-only verification against raw SHA-256 of the same leaf and node
 *   bytes on all cores.
 * Every row is measured in paired rounds (GPUMARKET_BENCH_ROUNDS, default
 * 30): each round measures the baseline and ours back to back (alternating
 * which goes first), the row reports the median of the per-round ratios and
 * their quartiles ("spread"), so a busy moment on a shared machine hurts one
 * round, not the row.  JSON lines on stdout, commentary on stderr.  Sizes:
 * GPUMARKET_BENCH_RECEIPTS (large ledger, default 1000000) and
 * GPUMARKET_BENCH_VERIFY_RECEIPTS (default 100000: the hash-only ledger; a
 * tenth of it is the full-verify ledger, a twenty-fifth each append round);
 * the ledgers live in a temporary directory under $TMPDIR (or /var/tmp). */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define APPENDERS 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t env_size(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static struct gm_receipt sample(int64_t job)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    strcpy(r.cluster, "bench-cluster");
    r.job_id = job;
    r.segment = job % 3;
    strcpy(r.user, "researcher42");
    strcpy(r.account, "physics-lab");
    strcpy(r.nodes, "gpu-node[001-004]");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = 8;
    r.start = 1760000000;
    r.end = 1760000000 + 3600 + job % 1000;
    r.gpu_seconds = r.gpu_count * (r.end - r.start);
    r.price_micro_per_gpu_hour = 2400000;
    r.amount_micro = gm_receipt_amount(r.gpu_seconds, r.price_micro_per_gpu_hour);
    r.end_reason = GM_END_COMPLETED;
    r.has_energy = 1;
    r.energy_mj = 123456789;
    return r;
}

/* ------------------------------------------------------------ raw OpenSSL */

static EVP_PKEY *raw_key;
/* SHA-256 fetched once: SHA256() looks it up by name on every call (OpenSSL
 * 3), which costs about as much as hashing a short record.  The baseline is
 * raw hashing without that lookup; the library still pays it (see
 * settlement/util.c for why it does not keep a fetched method). */
static EVP_MD *raw_sha256;
static char *msg;
static size_t msglen;
#define RAW_SIG_LEN 64
static uint8_t msgsig[RAW_SIG_LEN];

/* Sign the canonical receipt bytes with raw OpenSSL, as every baseline does;
 * 0 on success. */
static int raw_sign(uint8_t sig[RAW_SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = RAW_SIG_LEN;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, raw_key) == 1 &&
             EVP_DigestSign(ctx, sig, &sl, (const uint8_t *)msg, msglen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static double raw_sign_rate(double seconds)
{
    uint64_t n = 0;
    double t0 = now(), t;
    uint8_t sig[RAW_SIG_LEN];
    do {
        for (int i = 0; i < 200; i++)
            raw_sign(sig);
        n += 200;
        t = now();
    } while (t - t0 < seconds);
    return (double)n / (t - t0);
}

struct raw_verify_job {
    double seconds;
    uint64_t n;
    int failures;
};

static void *raw_verify_worker(void *arg)
{
    struct raw_verify_job *j = arg;
    double t0 = now();
    do {
        for (int i = 0; i < 200; i++) {
            EVP_MD_CTX *ctx = EVP_MD_CTX_new();
            EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, raw_key);
            if (EVP_DigestVerify(ctx, msgsig, RAW_SIG_LEN, (const uint8_t *)msg, msglen) != 1)
                j->failures++;
            EVP_MD_CTX_free(ctx);
        }
        j->n += 200;
    } while (now() - t0 < j->seconds);
    return NULL;
}

static double raw_verify_rate(int threads, double seconds)
{
    pthread_t tid[256];
    struct raw_verify_job jobs[256];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct raw_verify_job){ seconds, 0, 0 };
        pthread_create(&tid[i], NULL, raw_verify_worker, &jobs[i]);
    }
    uint64_t n = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        n += jobs[i].n;
        if (jobs[i].failures)
            fprintf(stderr, "raw verify failed?\n");
    }
    return (double)n / (now() - t0);
}

/* The direct way to make 256 synchronous appenders durable, the limit the
 * ledger's appender is held to: each thread signs its receipt's canonical
 * bytes with raw OpenSSL, queues the signed bytes and waits on a semaphore
 * of its own; whoever finds no writer busy writes everything queued with
 * one write and one fdatasync (group commit) and wakes the waiters it
 * wrote.  Every call blocks until its receipt is on disk, as
 * gm_ledger_append's does, so it pays one sleep and one wake-up per receipt
 * too; it keeps no tree, index, sequence or checks. */
struct raw_waiter {
    sem_t wake;
    int done;
    struct raw_waiter *next;
};

struct raw_commit {
    pthread_mutex_t mu;
    struct raw_waiter *head, *tail;
    int busy, fd, failures;
    uint8_t *buf;
    size_t used, cap;
    uint64_t next, total;
};

static void *raw_committer(void *arg)
{
    struct raw_commit *g = arg;
    struct raw_waiter me;
    uint8_t sig[RAW_SIG_LEN];
    for (;;) {
        if (__atomic_fetch_add(&g->next, 1, __ATOMIC_RELAXED) >= g->total)
            return NULL;
        if (raw_sign(sig) != 0)
            __atomic_fetch_add(&g->failures, 1, __ATOMIC_RELAXED);
        sem_init(&me.wake, 0, 0);
        me.done = 0;
        me.next = NULL;
        pthread_mutex_lock(&g->mu);
        if (g->used + msglen + sizeof sig > g->cap) {
            size_t cap = 2 * (g->cap + msglen + sizeof sig);
            uint8_t *nb = realloc(g->buf, cap);
            if (!nb) {
                fprintf(stderr, "gpumarket: bench: out of memory\n");
                exit(1);
            }
            g->buf = nb;
            g->cap = cap;
        }
        memcpy(g->buf + g->used, msg, msglen);
        memcpy(g->buf + g->used + msglen, sig, sizeof sig);
        g->used += msglen + sizeof sig;
        if (g->tail)
            g->tail->next = &me;
        else
            g->head = &me;
        g->tail = &me;
        for (;;) {
            if (g->busy || !g->head) {
                pthread_mutex_unlock(&g->mu);
                while (sem_wait(&me.wake) != 0)
                    ;
                if (__atomic_load_n(&me.done, __ATOMIC_ACQUIRE))
                    break;
                pthread_mutex_lock(&g->mu);
                continue;
            }
            struct raw_waiter *batch = g->head;
            uint8_t *buf = g->buf;
            size_t used = g->used;
            g->head = g->tail = NULL;
            g->buf = NULL;
            g->used = g->cap = 0;
            g->busy = 1;
            pthread_mutex_unlock(&g->mu);
            if (write(g->fd, buf, used) != (ssize_t)used)
                __atomic_fetch_add(&g->failures, 1, __ATOMIC_RELAXED);
            free(buf);
            pthread_mutex_lock(&g->mu);
            g->busy = 0;
            if (g->head)
                sem_post(&g->head->wake);
            pthread_mutex_unlock(&g->mu);
            if (fdatasync(g->fd) != 0)
                __atomic_fetch_add(&g->failures, 1, __ATOMIC_RELAXED);
            for (struct raw_waiter *p = batch, *next; p; p = next) {
                next = p->next;
                __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
                if (p != &me)
                    sem_post(&p->wake);
            }
            if (me.done)
                break;
            pthread_mutex_lock(&g->mu);
        }
        sem_destroy(&me.wake);
    }
}

/* Run fn(arg) on APPENDERS threads at once; returns the seconds until the
 * last one ended. */
static double run_appenders(void *(*fn)(void *), void *arg)
{
    pthread_t tid[APPENDERS];
    double t0 = now();
    for (int i = 0; i < APPENDERS; i++)
        if (pthread_create(&tid[i], NULL, fn, arg) != 0) {
            fprintf(stderr, "gpumarket: bench: cannot start appender thread %d\n", i);
            exit(1);
        }
    for (int i = 0; i < APPENDERS; i++)
        pthread_join(tid[i], NULL);
    return now() - t0;
}

/* n receipts from APPENDERS threads, durable, into a new file in dir;
 * returns receipts/s, and 0 if any failed. */
static double raw_commit_rate(const char *dir, uint64_t n)
{
    char path[700];
    snprintf(path, sizeof path, "%s/raw-commit", dir);
    struct raw_commit g = { .mu = PTHREAD_MUTEX_INITIALIZER, .total = n };
    g.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (g.fd < 0) {
        fprintf(stderr, "gpumarket: bench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    double rate = (double)n / run_appenders(raw_committer, &g);
    struct stat st;
    int ok = g.failures == 0 && fstat(g.fd, &st) == 0 &&
             (uint64_t)st.st_size == n * (msglen + RAW_SIG_LEN);
    close(g.fd);
    unlink(path);
    free(g.buf);
    return ok ? rate : 0;
}

/* ------------------------------------------------------------ ledger */

struct app {
    gm_ledger *l;
    gm_key *key;
    uint64_t first, next, total;
    pthread_mutex_t mu;
    int failures;
};

static void *appender(void *arg)
{
    struct app *a = arg;
    char err[256];
    for (;;) {
        uint64_t job = __atomic_fetch_add(&a->next, 1, __ATOMIC_RELAXED);
        if (job >= a->total)
            return NULL;
        struct gm_receipt r = sample((int64_t)(a->first + job) + 1);
        err[0] = '\0';
        int rc = gm_ledger_append(a->l, a->key, &r, err, sizeof err);
        if (rc != 0) {
            pthread_mutex_lock(&a->mu);
            if (!a->failures++)
                fprintf(stderr, "append failed: %s\n",
                        rc == 1 ? "the segment already has a receipt (nothing appended)" : err);
            pthread_mutex_unlock(&a->mu);
        }
    }
}

/* Append n receipts (jobs first+1 to first+n: each round its own jobs, as
 * the ledger keeps one receipt per segment) with APPENDERS threads; returns
 * receipts/s (durable). */
static double fill(const char *dir, gm_key *key, uint64_t first, uint64_t n)
{
    char err[512];
    gm_ledger *l =
        gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, gm_key_name(key), err, sizeof err);
    if (!l) {
        fprintf(stderr, "gpumarket: bench: %s\n", err);
        exit(1);
    }
    struct app a = { l, key, first, 0, n, PTHREAD_MUTEX_INITIALIZER, 0 };
    double rate = (double)n / run_appenders(appender, &a);
    if (a.failures) {
        fprintf(stderr, "gpumarket: bench: %d appends failed\n", a.failures);
        exit(1);
    }
    gm_ledger_close(l);
    return rate;
}

/* Append n receipts (jobs first+1 to first+n) from one thread in batches of
 * `batch` (the backfill path: one write and one sync per batch); returns
 * receipts/s. */
static double fill_batches(const char *dir, gm_key *key, uint64_t first, uint64_t n, size_t batch)
{
    char err[512];
    gm_ledger *l =
        gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, gm_key_name(key), err, sizeof err);
    struct gm_receipt *rs = malloc(batch * sizeof *rs);
    if (!l || !rs) {
        fprintf(stderr, "gpumarket: bench: %s\n", l ? "out of memory" : err);
        exit(1);
    }
    double t0 = now();
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < batch ? (size_t)(n - done) : batch;
        for (size_t i = 0; i < k; i++)
            rs[i] = sample((int64_t)(first + done + i) + 1);
        if (gm_ledger_append_many(l, key, rs, k, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "gpumarket: bench: append_many: %s\n", err);
            exit(1);
        }
        done += k;
    }
    double rate = (double)n / (now() - t0);
    gm_ledger_close(l);
    free(rs);
    return rate;
}

/* ------------------------------------------------- raw SHA-256 of a ledger
 * The limit for hash-only verification: SHA-256 over the same leaf bytes
 * (0x00 || each record's data, as in RFC 6962) and the same tree nodes
 * (0x01 || left || right), on every core, with the records already located
 * (DIR/ledger: a header "GMLEDGER" | u32 version | u32 origin length |
 * origin | u32 CRC, then records u32 magic | u32 length | u32 CRC | data |
 * 32-byte hash, integers big-endian). */
struct raw_ledger {
    uint8_t *file;
    size_t size;
    uint64_t n;
    size_t *off;
    uint32_t *len;
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int raw_ledger_load(const char *dir, struct raw_ledger *L)
{
    char path[700];
    snprintf(path, sizeof path, "%s/ledger", dir);
    FILE *f = fopen(path, "rb");
    memset(L, 0, sizeof *L);
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    L->size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    L->file = malloc(L->size + 1);
    if (!L->file || fread(L->file, 1, L->size, f) != L->size) {
        fclose(f);
        return -1;
    }
    fclose(f);
    size_t pos = 16 + be32(L->file + 12) + 4, cap = 1024;
    L->off = malloc(cap * sizeof *L->off);
    L->len = malloc(cap * sizeof *L->len);
    while (pos + 12 <= L->size) {
        uint32_t dl = be32(L->file + pos + 4);
        if (pos + 12 + dl + GM_HASH_LEN > L->size)
            break;
        if (L->n == cap) {
            cap *= 2;
            L->off = realloc(L->off, cap * sizeof *L->off);
            L->len = realloc(L->len, cap * sizeof *L->len);
        }
        L->off[L->n] = pos + 12;
        L->len[L->n++] = dl;
        pos += 12 + dl + GM_HASH_LEN;
    }
    return L->n ? 0 : -1;
}

struct raw_hash_job {
    const struct raw_ledger *L;
    const uint8_t *below; /* NULL: hash leaves into out */
    uint8_t *out;
    uint64_t lo, hi, width; /* width: nodes in the level below */
};

static void *raw_hash_worker(void *arg)
{
    const struct raw_hash_job *j = arg;
    const struct raw_ledger *L = j->L;
    uint8_t buf[1 + 8192];
    for (uint64_t i = j->lo; i < j->hi; i++) {
        if (!j->below) {
            buf[0] = 0;
            size_t n = L->len[i] <= 8192 ? L->len[i] : 8192;
            memcpy(buf + 1, L->file + L->off[i], n);
            EVP_Digest(buf, n + 1, j->out + i * GM_HASH_LEN, NULL, raw_sha256, NULL);
        } else if (2 * i + 1 < j->width) {
            buf[0] = 1;
            memcpy(buf + 1, j->below + 2 * i * GM_HASH_LEN, 2 * GM_HASH_LEN);
            EVP_Digest(buf, 1 + 2 * GM_HASH_LEN, j->out + i * GM_HASH_LEN, NULL, raw_sha256, NULL);
        } else { /* a lone last node moves up as it is (RFC 6962) */
            memcpy(j->out + i * GM_HASH_LEN, j->below + 2 * i * GM_HASH_LEN, GM_HASH_LEN);
        }
    }
    return NULL;
}

static void raw_hash_level(const struct raw_ledger *L, const uint8_t *below, uint8_t *out,
                           uint64_t count, uint64_t width, int threads)
{
    pthread_t tid[256];
    struct raw_hash_job jobs[256];
    int t = count < (uint64_t)threads * 256 ? 1 : threads;
    for (int k = 0; k < t; k++)
        jobs[k] = (struct raw_hash_job){ L,
                                         below,
                                         out,
                                         count * (uint64_t)k / (uint64_t)t,
                                         count * (uint64_t)(k + 1) / (uint64_t)t,
                                         width };
    for (int k = 1; k < t; k++)
        pthread_create(&tid[k], NULL, raw_hash_worker, &jobs[k]);
    raw_hash_worker(&jobs[0]);
    for (int k = 1; k < t; k++)
        pthread_join(tid[k], NULL);
}

/* Seconds to hash every leaf and the whole tree on `threads` threads;
 * root gets the tree head. */
static double raw_hash_tree(const struct raw_ledger *L, int threads, uint8_t root[GM_HASH_LEN])
{
    uint8_t *a = malloc(L->n * GM_HASH_LEN + 1), *b = malloc(L->n * GM_HASH_LEN + 1);
    double t0 = now();
    raw_hash_level(L, NULL, a, L->n, 0, threads);
    for (uint64_t width = L->n; width > 1; width = (width + 1) / 2) {
        raw_hash_level(L, a, b, (width + 1) / 2, width, threads);
        uint8_t *x = a;
        a = b;
        b = x;
    }
    double t = now() - t0;
    memcpy(root, a, GM_HASH_LEN);
    free(a);
    free(b);
    return t;
}

static void raw_ledger_free(struct raw_ledger *L)
{
    free(L->file);
    free(L->off);
    free(L->len);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double quant(const double *v, int n, double f)
{
    double *s = malloc(sizeof *s * (size_t)n);
    memcpy(s, v, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double pos = f * (n - 1);
    int i = (int)pos;
    double r = i + 1 >= n ? s[n - 1] : s[i] + (pos - i) * (s[i + 1] - s[i]);
    free(s);
    return r;
}

/* One row from paired rounds: ours[k] and base[k] (rates) were measured
 * back to back in round k; the ratio is the median of ours[k]/base[k], the
 * spread its quartiles, the rates shown the medians of each. */
static void paired_row(const char *name, const char *unit, const double *ours, const double *base,
                       int rounds, double target, int correct, const char *extra)
{
    double *r = malloc(sizeof *r * (size_t)rounds);
    for (int k = 0; k < rounds; k++)
        r[k] = ours[k] / base[k];
    char target_json[32] = "null"; /* a negative target: for information */
    if (target >= 0)
        snprintf(target_json, sizeof target_json, "%g", target);
    fprintf(stderr, "%s: %.0f vs %.0f %s, %.3fx [%.3f-%.3f] over %d rounds%s\n", name,
            quant(ours, rounds, 0.5), quant(base, rounds, 0.5), unit, quant(r, rounds, 0.5),
            quant(r, rounds, 0.25), quant(r, rounds, 0.75), rounds,
            correct ? "" : "; results WRONG");
    printf("{\"name\": \"%s\", \"unit\": \"%s\", \"ours\": %.0f, \"baseline\": %.0f, "
           "\"ratio\": %.3f, \"target\": %s, \"higher_is_better\": true, \"rounds\": %d, "
           "\"spread\": [%.3f, %.3f], \"range\": [%.3f, %.3f], \"correct\": %s%s}\n",
           name, unit, quant(ours, rounds, 0.5), quant(base, rounds, 0.5), quant(r, rounds, 0.5),
           target_json, rounds, quant(r, rounds, 0.25), quant(r, rounds, 0.75), quant(r, rounds, 0),
           quant(r, rounds, 1), correct ? "true" : "false", extra ? extra : "");
    fflush(stdout);
    free(r);
}

static void remove_dir(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    uint64_t big = env_size("GPUMARKET_BENCH_RECEIPTS", 1000000);
    uint64_t small = env_size("GPUMARKET_BENCH_VERIFY_RECEIPTS", 100000);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int cores = ncpu > 0 ? (int)ncpu : 1;
    char err[512];
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    char base[512];
    snprintf(base, sizeof base, "%s/gpumarket-bench.XXXXXX", tmp);
    if (!mkdtemp(base)) {
        fprintf(stderr, "gpumarket: bench: cannot make a directory under %s (set TMPDIR)\n", tmp);
        return 1;
    }
    gm_key *key = gm_key_generate("bench.example/ledger", err, sizeof err);

    /* The baseline signs and verifies the same canonical receipt bytes. */
    struct gm_receipt r = sample(1);
    memcpy(r.key_id, gm_key_id_hex(key), 9);
    msg = gm_receipt_encode(&r, &msglen, err, sizeof err);
    raw_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    raw_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!msg || !raw_key || raw_sign(msgsig) != 0) {
        fprintf(stderr, "gpumarket: bench: cannot make the baseline's signed receipt: %s\n",
                msg ? "OpenSSL failed" : err);
        return 1;
    }
    fprintf(stderr, "receipt: %zu canonical bytes; %d CPUs; ledgers in %s\n", msglen, cores, base);

    int rounds = (int)env_size("GPUMARKET_BENCH_ROUNDS", 30);
    if (rounds < 3)
        rounds = 3;
    double *ro = malloc(sizeof(double) * (size_t)rounds);
    double *ro2 = malloc(sizeof(double) * (size_t)rounds);
    double *rb = malloc(sizeof(double) * (size_t)rounds);
    double *rc = malloc(sizeof(double) * (size_t)rounds);

    /* Sign+append in paired rounds: raw signing in the middle, next to both
     * of ours (256 threads, batches of 1000), and the raw group commit next
     * to the 256 threads, the order reversed every other round; each round
     * appends to fresh ledgers, so no round pays for checking an earlier
     * round's records when its ledger is opened again. */
    char dir_big[600], dir_small[600], dir_verify[600], dir_round[600];
    snprintf(dir_big, sizeof dir_big, "%s/big", base);
    snprintf(dir_small, sizeof dir_small, "%s/small", base);
    snprintf(dir_verify, sizeof dir_verify, "%s/verify", base);
    snprintf(dir_round, sizeof dir_round, "%s/round", base);
    uint64_t per_round = small / 25 > 1000 ? small / 25 : 1000;
    int append_ok = 1;
    for (int k = 0; k < rounds; k++) {
        static const int order[4] = { 3, 0, 1, 2 }; /* raw commit, threads, raw sign, batches */
        for (int step = 0; step < 4; step++) {
            int what = order[k % 2 ? 3 - step : step];
            if (what == 1) {
                rb[k] = raw_sign_rate(0.15);
                continue;
            }
            if (what == 3) {
                rc[k] = raw_commit_rate(base, per_round);
                append_ok &= rc[k] > 0;
                continue;
            }
            double v = what == 0 ? fill(dir_round, key, 0, per_round)
                                 : fill_batches(dir_round, key, 0, per_round, 1000);
            /* Every receipt is there, and the ledger verifies (not timed). */
            struct gm_ledger_verify_result vr;
            append_ok &= gm_ledger_verify(dir_round, &key, 1, 0, 0, &vr, err, sizeof err) == 0 &&
                         vr.size == per_round;
            remove_dir(dir_round);
            (what == 0 ? ro : ro2)[k] = v;
        }
    }
    char extra[200];
    snprintf(extra, sizeof extra, ", \"receipts_per_round\": %llu", (unsigned long long)per_round);
    paired_row("settlement sign+append durable, batches of 1000 vs raw Ed25519 sign (1 core)",
               "receipts/s", ro2, rb, rounds, 0.9, append_ok, extra);
    paired_row("settlement sign+append durable, 256 appender threads vs raw group commit "
               "(256 threads, raw sign, one write+fdatasync per group)",
               "receipts/s", ro, rc, rounds, 0.9, append_ok, extra);
    /* For information: a synchronous appender sleeps and is woken once per
     * receipt, which raw signing in a loop never does. */
    paired_row("settlement sign+append durable, 256 appender threads vs raw Ed25519 sign (1 core)",
               "receipts/s", ro, rb, rounds, -1, append_ok, extra);

    /* The verification ledgers (not timed). */
    fill_batches(dir_small, key, 0, small, 1000);
    uint64_t nverify = small / 10 > 1000 ? small / 10 : 1000;
    fill_batches(dir_verify, key, 0, nverify, 1000);

    double t0 = now();
    double big_rate = fill_batches(dir_big, key, 0, big, 1000);
    fprintf(stderr, "built a %llu-receipt ledger in %.1f s (%.0f/s, durable, batches of 1000)\n",
            (unsigned long long)big, now() - t0, big_rate);

    /* Hash-only verification of the big ledger against its signed checkpoint. */
    gm_ledger *l = gm_ledger_open(dir_big, 0, NULL, err, sizeof err);
    char *cp = l ? gm_ledger_checkpoint(l, key, err, sizeof err) : NULL;
    if (!cp) {
        fprintf(stderr, "gpumarket: bench: checkpoint: %s\n", err);
        return 1;
    }
    free(cp);
    gm_ledger_close(l);
    struct gm_ledger_verify_result res;
    t0 = now();
    if (gm_ledger_verify(dir_big, &key, 1, GM_VERIFY_HASH_ONLY, 0, &res, err, sizeof err) != 0 ||
        !res.has_checkpoint || res.checkpoint_size != big) {
        fprintf(stderr, "gpumarket: bench: hash-only verify failed: %s\n", err);
        return 1;
    }
    double dt = now() - t0;
    fprintf(stderr, "hash-only verify of %llu receipts against the checkpoint: %.2f s (%.0f/s)\n",
            (unsigned long long)big, dt, (double)big / dt);

    /* Hash-only verification against its limit, raw SHA-256 over the same
     * leaf and node bytes on every core: paired rounds on the ledger of
     * `small` receipts, alternating which goes first; the raw tree head
     * must equal the verified one. */
    {
        struct raw_ledger L;
        if (raw_ledger_load(dir_small, &L)) {
            fprintf(stderr, "gpumarket: bench: cannot read %s/ledger\n", dir_small);
            return 1;
        }
        double *rr = malloc(sizeof(double) * (size_t)rounds);
        int correct = 1;
        uint8_t root[GM_HASH_LEN];
        for (int k = -1; k < rounds; k++) {
            double t_ours = 0, t_raw = 0;
            for (int side = 0; side < 2; side++) {
                if ((side + k + 2) % 2 == 0) {
                    t0 = now();
                    if (gm_ledger_verify(dir_small, &key, 1, GM_VERIFY_HASH_ONLY, 0, &res, err,
                                         sizeof err) != 0 ||
                        res.size != L.n) {
                        fprintf(stderr, "gpumarket: bench: hash-only verify failed: %s\n", err);
                        return 1;
                    }
                    t_ours = now() - t0;
                } else {
                    t_raw = raw_hash_tree(&L, cores, root);
                    correct &= memcmp(root, res.root, GM_HASH_LEN) == 0 || k < 0;
                }
            }
            if (k >= 0) {
                ro[k] = (double)L.n / t_ours;
                rb[k] = (double)L.n / t_raw;
                rr[k] = t_raw / t_ours;
            }
        }
        correct &= memcmp(root, res.root, GM_HASH_LEN) == 0;
        double med = quant(rr, rounds, 0.5);
        fprintf(stderr,
                "hash-only verify of %llu receipts: %.0f/s; raw SHA-256 of the same leaves and "
                "nodes on %d threads: %.0f/s; %.2fx [%.2f-%.2f] over %d rounds; tree heads %s\n",
                (unsigned long long)L.n, quant(ro, rounds, 0.5), cores, quant(rb, rounds, 0.5), med,
                quant(rr, rounds, 0.25), quant(rr, rounds, 0.75), rounds,
                correct ? "equal" : "DIFFER");
        printf("{\"name\": \"settlement hash-only verify vs raw SHA-256 of the same leaves and "
               "nodes (all cores)\", \"unit\": \"receipts/s\", \"ours\": %.0f, \"baseline\": "
               "%.0f, \"ratio\": %.3f, \"target\": 0.8, \"higher_is_better\": true, \"rounds\": "
               "%d, \"spread\": [%.3f, %.3f], \"range\": [%.3f, %.3f], \"correct\": %s, "
               "\"receipts\": %llu, \"big_ledger_receipts_per_s\": %.0f}\n",
               quant(ro, rounds, 0.5), quant(rb, rounds, 0.5), med, rounds, quant(rr, rounds, 0.25),
               quant(rr, rounds, 0.75), quant(rr, rounds, 0), quant(rr, rounds, 1),
               correct ? "true" : "false", (unsigned long long)L.n, (double)big / dt);
        fflush(stdout);
        free(rr);
        raw_ledger_free(&L);
    }

    /* Full verification (signatures) on every core vs raw verify on every
     * core, paired rounds alternating which goes first; every round's result
     * must be the whole ledger, verified, with the same tree head. */
    {
        int correct = 1;
        uint8_t root0[GM_HASH_LEN];
        for (int k = -1; k < rounds; k++) {
            double rv = 0, ov = 0;
            for (int side = 0; side < 2; side++) {
                if ((side + k + 2) % 2 == 0) {
                    rv = raw_verify_rate(cores, 0.3);
                    continue;
                }
                t0 = now();
                if (gm_ledger_verify(dir_verify, &key, 1, 0, 0, &res, err, sizeof err) != 0) {
                    fprintf(stderr, "gpumarket: bench: verify failed: %s\n", err);
                    return 1;
                }
                ov = (double)nverify / (now() - t0);
                if (k < 0)
                    memcpy(root0, res.root, GM_HASH_LEN);
                correct &= res.size == nverify && res.bad_index == -1 &&
                           memcmp(root0, res.root, GM_HASH_LEN) == 0;
            }
            if (k >= 0) {
                ro[k] = ov;
                rb[k] = rv;
            }
        }
        snprintf(extra, sizeof extra, ", \"receipts\": %llu", (unsigned long long)nverify);
        paired_row("settlement full verify (all cores) vs raw Ed25519 verify (all cores)",
                   "receipts/s", ro, rb, rounds, 0.9, correct, extra);
    }
    free(ro);
    free(ro2);
    free(rb);
    free(rc);

    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    free(msg);
    EVP_PKEY_free(raw_key);
    EVP_MD_free(raw_sha256);
    gm_key_free(key);
    return 0;
}
