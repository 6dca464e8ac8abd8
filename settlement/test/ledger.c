/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger: concurrent group-committed appends from threads and processes,
 * reopen, torn tails cut at every byte, every single-byte flip named by
 * index, and checkpoints catching lost or rewritten records. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static gm_key *key;
static char tmpdir[] = "/tmp/gm-ledger-test.XXXXXX";

static struct gm_receipt receipt(int64_t job)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    strcpy(r.cluster, "alpha");
    r.job_id = job;
    strcpy(r.user, job % 2 ? "ada" : "bob");
    strcpy(r.account, "phys");
    strcpy(r.nodes, "gpu01");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = 1;
    r.start = 1700000000;
    r.end = 1700000000 + job;
    r.gpu_seconds = job;
    r.price_micro_per_gpu_hour = 3600;
    r.amount_micro = job;
    r.end_reason = GM_END_COMPLETED;
    return r;
}

struct th {
    gm_ledger *l;
    int first, count, failures;
};

static void *appender(void *arg)
{
    struct th *t = arg;
    char err[256];
    for (int i = 0; i < t->count; i++) {
        struct gm_receipt r = receipt(t->first + i);
        if (gm_ledger_append(t->l, key, &r, err, sizeof err) != 0) {
            t->failures++;
            diag("append: %s", err);
        }
    }
    return NULL;
}

/* CRC32C (Castagnoli, reflected), bit by bit: the test's own, not the
 * library's, to forge a record header as an attacker would. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        bail_out("open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*len + 1);
    if (fread(b, 1, *len, f) != *len)
        bail_out("read %s", path);
    fclose(f);
    return b;
}

static void spit(const char *path, const char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, len, f) != len || fclose(f) != 0)
        bail_out("write %s", path);
}

/* ------------------------------------------------ crafted ledgers for framing
 * The file format written by hand (a header "GMLEDGER" | u32 version | u32
 * origin length | origin | u32 CRC32C, then records u32 magic "GMRC" | u32
 * length | u32 CRC32C of the 8 bytes before | data | leaf hash), so that the
 * data can hold anything, a record header lookalike included.  Hash-only
 * verification reads no receipt, so any data verifies. */
struct crafted {
    uint8_t *b;
    size_t len, cap;
    uint64_t n;
    size_t off[512]; /* where each record starts */
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void craft_bytes(struct crafted *c, const void *p, size_t n)
{
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->b = realloc(c->b, c->cap);
        if (!c->b)
            bail_out("no memory");
    }
    memcpy(c->b + c->len, p, n);
    c->len += n;
}

static void craft_start(struct crafted *c)
{
    memset(c, 0, sizeof *c);
    const char *origin = "test.example/crafted";
    uint8_t h[16];
    memcpy(h, "GMLEDGER", 8);
    put32(h + 8, 1);
    put32(h + 12, (uint32_t)strlen(origin));
    craft_bytes(c, h, 16);
    craft_bytes(c, origin, strlen(origin));
    uint8_t crc[4];
    put32(crc, crc32c_ref(c->b, c->len));
    craft_bytes(c, crc, 4);
}

/* A record header for `dlen` bytes of data, checksum right. */
static void craft_header(uint8_t h[12], uint32_t dlen)
{
    put32(h, 0x474d5243u);
    put32(h + 4, dlen);
    put32(h + 8, crc32c_ref(h, 8));
}

static void craft_record(struct crafted *c, const uint8_t *data, uint32_t dlen)
{
    uint8_t h[12], leaf[GM_HASH_LEN];
    craft_header(h, dlen);
    if (c->n < sizeof c->off / sizeof c->off[0])
        c->off[c->n] = c->len;
    c->n++;
    craft_bytes(c, h, 12);
    craft_bytes(c, data, dlen);
    gm_merkle_leaf_hash(data, dlen, leaf);
    craft_bytes(c, leaf, GM_HASH_LEN);
}

/* Data of `dlen` bytes for record i; with lookalikes, a whole record header
 * (checksum right, a length that stays inside the file) every 64 bytes. */
static void craft_data(uint8_t *d, uint32_t dlen, uint64_t i, int lookalikes)
{
    for (uint32_t k = 0; k < dlen; k++)
        d[k] = (uint8_t)('a' + (i + k) % 26);
    for (uint32_t k = 1; lookalikes && k + 12 <= dlen; k += 64)
        craft_header(d + k, 40);
}

/* Hash-only verification of the crafted ledger on `threads` threads; the
 * result and message. */
struct vres {
    int rc;
    struct gm_ledger_verify_result r;
    char err[512];
};

static struct vres verify_crafted(const char *dir, const struct crafted *c, int threads)
{
    char p[700];
    snprintf(p, sizeof p, "%s/ledger", dir);
    spit(p, (const char *)c->b, c->len);
    struct vres v;
    memset(&v, 0, sizeof v);
    v.rc = gm_ledger_verify(dir, NULL, 0, GM_VERIFY_HASH_ONLY, threads, &v.r, v.err, sizeof v.err);
    return v;
}

/* The parallel framing finds what one sequential pass finds: the same
 * records, tree head, first bad record and message, torn tail. */
static int same_as_serial(const char *dir, const struct crafted *c, int threads, struct vres *got)
{
    struct vres one = verify_crafted(dir, c, 1);
    *got = verify_crafted(dir, c, threads);
    int same = one.rc == got->rc && one.r.size == got->r.size &&
               one.r.bad_index == got->r.bad_index && one.r.torn_bytes == got->r.torn_bytes &&
               memcmp(one.r.root, got->r.root, GM_HASH_LEN) == 0 && !strcmp(one.err, got->err);
    if (!same)
        diag("1 thread: rc %d size %llu bad %lld torn %llu: %s; %d threads: rc %d size %llu bad "
             "%lld torn %llu: %s",
             one.rc, (unsigned long long)one.r.size, (long long)one.r.bad_index,
             (unsigned long long)one.r.torn_bytes, one.err, threads, got->rc,
             (unsigned long long)got->r.size, (long long)got->r.bad_index,
             (unsigned long long)got->r.torn_bytes, got->err);
    return same;
}

static void test_parallel_framing(void)
{
    char dir[600];
    path_in(dir, sizeof dir, tmpdir, "F");
    if (mkdir(dir, 0700) != 0)
        bail_out("mkdir %s", dir);
    struct crafted c;
    struct vres v;
    uint8_t d[9000];

    /* Empty: a header and no record. */
    craft_start(&c);
    ok(same_as_serial(dir, &c, 4, &v) && v.rc == 0 && v.r.size == 0,
       "an empty ledger verifies on 4 threads as on 1 (%s)", v.err);
    /* Fewer records than threads, records longer than a range: most ranges
     * hold no record start (but header lookalikes, in the second case). */
    for (int look = 0; look < 2; look++) {
        free(c.b);
        craft_start(&c);
        for (uint64_t i = 0; i < 3; i++) {
            craft_data(d, 9000, i, look);
            craft_record(&c, d, 9000);
        }
        ok(same_as_serial(dir, &c, 8, &v) && v.rc == 0 && v.r.size == 3,
           "3 records of 9000 bytes%s on 8 threads: as on 1 (%s)",
           look ? " with header lookalikes" : "", v.err);
    }
    free(c.b);
    craft_start(&c);
    craft_data(d, 10, 0, 0);
    craft_record(&c, d, 10);
    ok(same_as_serial(dir, &c, 8, &v) && v.rc == 0 && v.r.size == 1,
       "1 record on 8 threads: as on 1 (%s)", v.err);
    free(c.b);

    /* Record header lookalikes inside the data, every 64 bytes: each
     * speculative range lands on one first, and is walked again from the
     * true boundary. */
    craft_start(&c);
    for (uint64_t i = 0; i < 200; i++) { /* the first shorter: no range starts on a record */
        craft_data(d, i ? 700 : 333, i, 1);
        craft_record(&c, d, i ? 700 : 333);
    }
    for (int t = 2; t <= 8; t *= 2)
        ok(same_as_serial(dir, &c, t, &v) && v.rc == 0 && v.r.size == 200,
           "header lookalikes in every record's data: 200 records on %d threads, as on 1 (%s)", t,
           v.err);

    /* A damaged header in the middle of range 2 of 4, and at the first
     * record start of range 2: reported with its global index and offset. */
    size_t lo2 = c.off[0] + (c.len - c.off[0]) * 2 / 4, hi2 = c.off[0] + (c.len - c.off[0]) * 3 / 4;
    uint64_t first2 = 0, mid2 = 0;
    while (c.off[first2] < lo2)
        first2++;
    mid2 = first2;
    while (c.off[mid2] < (lo2 + hi2) / 2)
        mid2++;
    uint64_t which[2] = { mid2, first2 };
    for (int w = 0; w < 2; w++) {
        uint64_t m = which[w];
        c.b[c.off[m] + 9] ^= 0x40; /* the header checksum */
        char want[200];
        snprintf(want, sizeof want, "record %llu (byte %llu): record header damaged",
                 (unsigned long long)m, (unsigned long long)c.off[m]);
        ok(same_as_serial(dir, &c, 4, &v) && v.rc == -1 && v.r.bad_index == (int64_t)m &&
               strstr(v.err, want),
           "a damaged header %s range 2 of 4 is record %llu on 4 threads: %s",
           w ? "first in" : "in the middle of", (unsigned long long)m, v.err);
        c.b[c.off[m] + 9] ^= 0x40;
    }
    /* Data altered in range 3: the hashing pass names it. */
    c.b[c.off[mid2 + 40] + 12 + 300] ^= 1;
    ok(same_as_serial(dir, &c, 4, &v) && v.rc == -1 && v.r.bad_index == (int64_t)(mid2 + 40),
       "altered data in range 3 of 4 is record %llu: %s", (unsigned long long)(mid2 + 40), v.err);
    c.b[c.off[mid2 + 40] + 12 + 300] ^= 1;
    /* A torn last record. */
    size_t full = c.len;
    craft_data(d, 700, 200, 1);
    craft_record(&c, d, 700);
    c.len = full + 300;
    c.n--;
    ok(same_as_serial(dir, &c, 4, &v) && v.rc == 0 && v.r.size == 200 && v.r.torn_bytes == 300,
       "a torn last record on 4 threads: 200 records and 300 torn bytes, as on 1 (%s)", v.err);
    free(c.b);
}

/* Every record of `l` is a receipt signed by `key` carrying its own index
 * as sequence, for a job from 1 to max_job seen once (seen[] counts, from
 * zeros); with winseq, the sequence the winning append of its job got. */
static int records_in_order(gm_ledger *l, int max_job, int *seen, const int64_t *winseq)
{
    char err[512] = "";
    int good = 1;
    for (uint64_t i = 0; i < gm_ledger_size(l); i++) {
        size_t len;
        char *s = gm_ledger_read(l, i, &len, err, sizeof err);
        struct gm_receipt r;
        if (!s || gm_signed_receipt_verify(s, len, &key, 1, &r, err, sizeof err) != 0 ||
            (uint64_t)r.sequence != i || r.job_id < 1 || r.job_id > max_job || seen[r.job_id]++ ||
            (winseq && winseq[r.job_id] != r.sequence)) {
            good = 0;
            diag("record %llu: %s", (unsigned long long)i, err);
        }
        free(s);
    }
    return good;
}

/* Threads racing for the same segments: thread t appends jobs t*STEP+1 ..
 * t*STEP+SPAN (SPAN > STEP, so each job is tried by SPAN/STEP threads at
 * once), some one at a time and some as groups that repeat a job inside the
 * group too.  Each attempt's result and sequence are kept per job. */
enum {
    RACE_T = 24,
    RACE_STEP = 10,
    RACE_SPAN = 30,
    RACE_JOBS = (RACE_T - 1) * RACE_STEP + RACE_SPAN
};

struct race {
    gm_ledger *l;
    int t, failures;
    int rc[RACE_SPAN + 1];
    int64_t job[RACE_SPAN + 1], seq[RACE_SPAN + 1];
};

static void *racer(void *arg)
{
    struct race *x = arg;
    char err[256];
    int first = x->t * RACE_STEP + 1;
    if (x->t % 3 == 2) {
        /* A group: every job of the span, then the first one again. */
        struct gm_receipt rs[RACE_SPAN + 1];
        unsigned char rec[RACE_SPAN + 1];
        for (int i = 0; i < RACE_SPAN; i++)
            rs[i] = receipt(first + i);
        rs[RACE_SPAN] = receipt(first);
        if (gm_ledger_append_many(x->l, key, rs, RACE_SPAN + 1, rec, err, sizeof err) != 0) {
            x->failures++;
            diag("append_many: %s", err);
            return NULL;
        }
        for (int i = 0; i <= RACE_SPAN; i++) {
            x->rc[i] = rec[i];
            x->job[i] = rs[i].job_id;
            x->seq[i] = rs[i].sequence;
        }
        return NULL;
    }
    for (int i = 0; i < RACE_SPAN; i++) {
        struct gm_receipt r = receipt(first + i);
        x->rc[i] = gm_ledger_append(x->l, key, &r, err, sizeof err);
        x->job[i] = r.job_id;
        x->seq[i] = r.sequence;
        if (x->rc[i] < 0) {
            x->failures++;
            diag("append: %s", err);
        }
    }
    x->rc[RACE_SPAN] = -2; /* not tried */
    return NULL;
}

int main(void)
{
    plan(TAP_NO_PLAN);
    char err[512], dir[600], lpath[700];
    if (!mkdtemp(tmpdir))
        bail_out("mkdtemp");
    key = gm_key_generate("test.example/ledger", err, sizeof err);
    path_in(dir, sizeof dir, tmpdir, "L");
    path_in(lpath, sizeof lpath, dir, "ledger");

    ok(gm_ledger_open(dir, 0, NULL, err, sizeof err) == NULL && strstr(err, "cannot open"),
       "opening a missing ledger read-only fails: %s", err);
    gm_ledger *l = gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/ledger",
                                  err, sizeof err);
    ok(l != NULL, "ledger created (%s)", err);
    is_str(gm_ledger_origin(l), "test.example/ledger", "origin stored");

    /* 8 threads x 40 appends: group commit, contiguous unique sequence numbers. */
    enum { T = 8, PER = 40 };
    pthread_t tids[T];
    struct th ths[T];
    for (int i = 0; i < T; i++) {
        ths[i] = (struct th){ l, 1 + i * PER, PER, 0 };
        pthread_create(&tids[i], NULL, appender, &ths[i]);
    }
    int failures = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(tids[i], NULL);
        failures += ths[i].failures;
    }
    is_int(failures, 0, "no append failed");
    is_int(gm_ledger_size(l), T * PER, "every append is in the tree");
    int seen[T * PER + 1] = { 0 };
    ok(records_in_order(l, T * PER, seen, NULL),
       "record i carries sequence i, every job exactly once, all signed");

    /* Racing for segments: exactly one append of each job wins (0), every
     * other gets 1 and the winner's sequence, and the ledger holds each job
     * once, in a tree that verifies. */
    {
        char rdir[700];
        path_in(rdir, sizeof rdir, tmpdir, "race");
        gm_ledger *rl = gm_ledger_open(rdir, GM_LEDGER_CREATE | GM_LEDGER_WRITE,
                                       "test.example/ledger", err, sizeof err);
        static struct race xs[RACE_T];
        pthread_t rt[RACE_T];
        for (int i = 0; i < RACE_T; i++) {
            xs[i] = (struct race){ .l = rl, .t = i };
            pthread_create(&rt[i], NULL, racer, &xs[i]);
        }
        int rfail = 0;
        for (int i = 0; i < RACE_T; i++) {
            pthread_join(rt[i], NULL);
            rfail += xs[i].failures;
        }
        is_int(rfail, 0, "racing appends: none failed");
        static int wins[RACE_JOBS + 1];
        static int64_t winseq[RACE_JOBS + 1];
        int tries = 0, dup_ok = 1;
        for (int i = 0; i < RACE_T; i++)
            for (int k = 0; k <= RACE_SPAN; k++)
                if (xs[i].rc[k] == 0) {
                    wins[xs[i].job[k]]++;
                    winseq[xs[i].job[k]] = xs[i].seq[k];
                }
        for (int i = 0; i < RACE_T; i++)
            for (int k = 0; k <= RACE_SPAN; k++) {
                if (xs[i].rc[k] == -2)
                    continue;
                tries++;
                if (xs[i].rc[k] == 1 && xs[i].seq[k] != winseq[xs[i].job[k]]) {
                    dup_ok = 0;
                    diag("job %lld: duplicate says sequence %lld, the winner %lld",
                         (long long)xs[i].job[k], (long long)xs[i].seq[k],
                         (long long)winseq[xs[i].job[k]]);
                }
            }
        int distinct = 0, once = 1;
        for (int j = 1; j <= RACE_JOBS; j++) {
            if (wins[j] != 1) {
                once = 0;
                diag("job %d won %d times", j, wins[j]);
            }
            distinct += wins[j] == 1;
        }
        ok(once && tries > distinct, "each job won exactly once (%d tries, %d jobs)", tries,
           distinct);
        ok(dup_ok, "every losing append got 1 and the winner's sequence");
        is_int(gm_ledger_size(rl), distinct, "the ledger holds each job once");
        static int seenr[RACE_JOBS + 1];
        ok(records_in_order(rl, RACE_JOBS, seenr, winseq),
           "record i carries sequence i and is the winner's receipt, all signed");
        gm_ledger_close(rl);
        struct gm_ledger_verify_result rres;
        err[0] = '\0';
        ok(gm_ledger_verify(rdir, &key, 1, 0, 2, &rres, err, sizeof err) == 0 &&
               rres.size == (uint64_t)distinct,
           "the raced ledger verifies (%s)", err);
    }
    uint8_t root1[32], root2[32];
    gm_merkle_root(gm_ledger_tree(l), root1);
    gm_ledger_close(l);

    /* Other processes append to the same ledger at once. */
    for (int c = 0; c < 4; c++) {
        pid_t pid = fork();
        if (pid == 0) {
            gm_ledger *cl = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
            struct th t = { cl, 1000 + c * 25, 25, 0 };
            if (!cl)
                _exit(2);
            appender(&t);
            gm_ledger_close(cl);
            _exit(t.failures ? 1 : 0);
        }
    }
    int child_fail = 0, st;
    while (wait(&st) > 0)
        child_fail |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    is_int(child_fail, 0, "4 processes appended 25 receipts each");
    l = gm_ledger_open(dir, 0, NULL, err, sizeof err);
    is_int(gm_ledger_size(l), T * PER + 100, "all process appends present after reopen");
    gm_merkle_root_at(gm_ledger_tree(l), T * PER, root2);
    ok(memcmp(root1, root2, 32) == 0, "the old tree is a prefix of the new one");
    uint64_t n = gm_ledger_size(l);
    gm_ledger_close(l);

    struct gm_ledger_verify_result res;
    ok(gm_ledger_verify(dir, &key, 1, 0, 2, &res, err, sizeof err) == 0 && res.size == n,
       "full verification passes (%s)", err);
    gm_key **known;
    int nk = gm_ledger_known_keys(dir, &known, err, sizeof err);
    ok(nk == 1 && strcmp(gm_key_id_hex(known[0]), gm_key_id_hex(key)) == 0,
       "the appender recorded its verifier key");
    ok(gm_ledger_verify(dir, known, (size_t)nk, 0, 0, &res, err, sizeof err) == 0,
       "verification with the recorded key passes (%s)", err);
    for (int i = 0; i < nk; i++)
        gm_key_free(known[i]);
    free(known);
    gm_key *stranger = gm_key_generate("test.example/ledger", err, sizeof err);
    ok(gm_ledger_verify(dir, &stranger, 1, 0, 1, &res, err, sizeof err) == -1 && res.bad_index == 0,
       "a wrong public key fails at record 0: %s", err);
    ok(gm_ledger_verify(dir, &stranger, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err) == 0,
       "hash-only verification needs no receipt key");

    /* Checkpoint, then lose records: verify names the loss. */
    l = gm_ledger_open(dir, 0, NULL, err, sizeof err);
    char *cp = gm_ledger_checkpoint(l, key, err, sizeof err);
    ok(cp != NULL, "checkpoint written (%s)", err);
    free(cp);
    gm_ledger_close(l);
    ok(gm_ledger_verify(dir, &key, 1, 0, 0, &res, err, sizeof err) == 0 && res.has_checkpoint &&
           res.checkpoint_size == n,
       "verification checks the checkpoint");
    size_t flen;
    char *full = slurp(lpath, &flen);

    /* Torn tail at every byte of the last record. */
    l = gm_ledger_open(dir, 0, NULL, err, sizeof err);
    size_t last_len;
    char *last = gm_ledger_read(l, n - 1, &last_len, err, sizeof err);
    gm_ledger_close(l);
    size_t rec_len = last_len + 44, last_off = flen - rec_len;
    char cppath[700];
    path_in(cppath, sizeof cppath, dir, "checkpoint");
    size_t cplen;
    char *cptext = slurp(cppath, &cplen);
    int floor_ok = 1, torn_ok = 1;
    for (size_t cut = 1; cut < rec_len; cut++) {
        /* With the signed checkpoint covering the record, a cut inside it
         * is the loss of an acknowledged record: verify says so, and a
         * writer refuses to cut or append. */
        spit(cppath, cptext, cplen);
        spit(lpath, full, last_off + cut);
        if (gm_ledger_verify(dir, &key, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err) != -1 ||
            !strstr(err, "records after index")) {
            floor_ok = 0;
            diag("cut %zu: verify said %s", cut, err);
        }
        l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        struct stat sb;
        stat(lpath, &sb);
        if (l || !strstr(err, "records were lost") || (size_t)sb.st_size != last_off + cut) {
            floor_ok = 0;
            diag("cut %zu: open for append: %s", cut, l ? "accepted" : err);
        }
        gm_ledger_close(l);
        /* Without a checkpoint it is an unfinished append: cut, and kept. */
        unlink(cppath);
        l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        if (!l || gm_ledger_size(l) != n - 1 || gm_ledger_recovered_bytes(l) != cut ||
            !gm_ledger_recovered_path(l)) {
            torn_ok = 0;
            diag("cut %zu: open: %s", cut, l ? "wrong size" : err);
        } else {
            size_t klen;
            char *kept = slurp(gm_ledger_recovered_path(l), &klen);
            if (klen != cut || memcmp(kept, full + last_off, cut) != 0)
                torn_ok = 0;
            unlink(gm_ledger_recovered_path(l));
            free(kept);
        }
        gm_ledger_close(l);
        stat(lpath, &sb);
        if ((size_t)sb.st_size != last_off)
            torn_ok = 0;
    }
    ok(floor_ok,
       "a cut inside a record the checkpoint covers is a loss: verify fails, appends refuse, "
       "nothing is cut (%zu cuts)",
       rec_len - 1);
    ok(torn_ok,
       "without a checkpoint a cut inside the last record (each of its %zu bytes) is a torn "
       "tail: truncated, its bytes kept in DIR/torn-OFFSET",
       rec_len);
    free(cptext);
    free(last);
    spit(lpath, full, last_off + 20);
    ok(gm_ledger_verify(dir, &key, 1, 0, 0, &res, err, sizeof err) == 0 && res.torn_bytes == 20 &&
           res.size == n - 1,
       "without a checkpoint a torn tail verifies, reported as %llu torn bytes",
       (unsigned long long)res.torn_bytes);

    /* What a crash cannot leave is damage, never cut: a header edited to
     * run past the end of the file over whole records, or over the rest of
     * the last record, and zeros over whole records. */
    {
        size_t hdr_len = 8 + 4 + 4 + strlen("test.example/ledger") + 4;
        char *edited = malloc(flen);
        memcpy(edited, full, flen);
        /* The length of record n-3 made to run past the end (CRC recomputed:
         * CRC32C is not a MAC). */
        l = gm_ledger_open(dir, 0, NULL, err, sizeof err);
        gm_ledger_close(l);
        size_t rlen = last_len + 44; /* receipts here are of equal length */
        size_t at = last_off - 2 * rlen;
        (void)hdr_len;
        const char *cases[] = { "a header of record n-3 claiming to run past the end",
                                "the last record's header claiming more data" };
        size_t offs[] = { at, last_off };
        for (int c = 0; c < 2; c++) {
            memcpy(edited, full, flen);
            uint8_t *h = (uint8_t *)edited + offs[c];
            uint32_t big = (uint32_t)(flen - offs[c]) + 100;
            h[4] = (uint8_t)(big >> 24);
            h[5] = (uint8_t)(big >> 16);
            h[6] = (uint8_t)(big >> 8);
            h[7] = (uint8_t)big;
            uint32_t crc = crc32c_ref(h, 8);
            h[8] = (uint8_t)(crc >> 24);
            h[9] = (uint8_t)(crc >> 16);
            h[10] = (uint8_t)(crc >> 8);
            h[11] = (uint8_t)crc;
            spit(lpath, edited, flen);
            int vrc = gm_ledger_verify(dir, &key, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err);
            ok(vrc == -1 && strstr(err, "damage") && res.bad_index >= 0,
               "%s: verify fails naming it (%s)", cases[c], err);
            l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
            struct stat sb;
            stat(lpath, &sb);
            ok(!l && strstr(err, "damage") && (size_t)sb.st_size == flen,
               "%s: a writer refuses and cuts nothing", cases[c]);
            gm_ledger_close(l);
        }
        /* Zeros over the last two whole records. */
        memcpy(edited, full, flen);
        memset(edited + last_off - rlen, 0, 2 * rlen);
        spit(lpath, edited, flen);
        ok(gm_ledger_verify(dir, &key, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err) == -1 &&
               strstr(err, "zero bytes"),
           "zeros over whole records are damage: %s", err);
        l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        ok(!l && strstr(err, "damage"), "and a writer refuses them");
        gm_ledger_close(l);
        /* Zeros too short to hold a record: a torn append. */
        memcpy(edited, full, flen);
        spit(lpath, edited, last_off + 20);
        FILE *zf = fopen(lpath, "ab");
        char zb[40] = { 0 };
        if (!zf || fwrite(zb, 1, sizeof zb, zf) != sizeof zb || fclose(zf) != 0)
            bail_out("append zeros");
        l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        ok(l && gm_ledger_size(l) == n - 1 && gm_ledger_recovered_bytes(l) == 60,
           "a partial record followed by a few zeros is a torn tail (%s)", l ? "cut" : err);
        if (l && gm_ledger_recovered_path(l))
            unlink(gm_ledger_recovered_path(l));
        gm_ledger_close(l);
        free(edited);
    }

    /* Tamper: flip every byte of a small ledger; verify names the record. */
    char dir2[700], lpath2[800];
    path_in(dir2, sizeof dir2, tmpdir, "S");
    path_in(lpath2, sizeof lpath2, dir2, "ledger");
    l = gm_ledger_open(dir2, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/ledger", err,
                       sizeof err);
    for (int i = 1; i <= 3; i++) {
        struct gm_receipt r = receipt(i);
        gm_ledger_append(l, key, &r, err, sizeof err);
    }
    gm_ledger_close(l);
    size_t slen;
    char *small = slurp(lpath2, &slen);
    size_t hdr = 8 + 4 + 4 + strlen("test.example/ledger") + 4;
    size_t recsize = (slen - hdr) / 3; /* equal-length receipts */
    int tamper_ok = 1;
    for (size_t b = 0; b < slen; b++) {
        small[b] ^= 0x20;
        spit(lpath2, small, slen);
        small[b] ^= 0x20;
        int64_t want = b < hdr ? -1 : (int64_t)((b - hdr) / recsize);
        int rc = gm_ledger_verify(dir2, &key, 1, 0, 1, &res, err, sizeof err);
        if (rc != -1 || res.bad_index != want) {
            tamper_ok = 0;
            diag("flip at byte %zu: rc %d, index %lld, want %lld: %s", b, rc,
                 (long long)res.bad_index, (long long)want, err);
        }
    }
    ok(tamper_ok, "each of the %zu single-byte flips is caught, naming the record", slen);
    spit(lpath2, small, slen);
    ok(gm_ledger_verify(dir2, &key, 1, 0, 1, &res, err, sizeof err) == 0,
       "restored ledger verifies again");

    /* Record parser: damaged vs torn. */
    size_t off, dlen;
    const uint8_t *rec = (const uint8_t *)small + hdr;
    ok(gm_ledger_parse_record(rec, recsize, &off, &dlen, err, sizeof err) == (long)recsize,
       "a whole record parses");
    ok(gm_ledger_parse_record(rec, recsize - 1, &off, &dlen, err, sizeof err) == 0,
       "a prefix is torn (0)");
    ok(gm_ledger_parse_record(rec, 11, &off, &dlen, err, sizeof err) == 0,
       "a partial header is torn (0)");
    uint8_t zeros[600] = { 0 };
    ok(gm_ledger_parse_record(zeros, sizeof zeros, &off, &dlen, err, sizeof err) == 0,
       "zeros to the end (an unwritten extension after a power loss) are torn (0)");
    zeros[599] = 1;
    ok(gm_ledger_parse_record(zeros, sizeof zeros, &off, &dlen, err, sizeof err) == -1,
       "zeros followed by anything else are damage");
    /* A zero-filled tail with room for whole records is damage: verify
     * fails and a writer cuts nothing. */
    spit(lpath2, small, slen);
    FILE *zf = fopen(lpath2, "ab");
    char zbuf[700] = { 0 };
    if (!zf || fwrite(zbuf, 1, sizeof zbuf, zf) != sizeof zbuf || fclose(zf) != 0)
        bail_out("append zeros");
    ok(gm_ledger_verify(dir2, &key, 1, 0, 1, &res, err, sizeof err) == -1 && res.bad_index == 3,
       "a 700-byte zero-filled tail is damage, named after record 2 (%s)", err);
    l = gm_ledger_open(dir2, GM_LEDGER_WRITE, NULL, err, sizeof err);
    ok(!l && strstr(err, "damage"), "and opening for append refuses it: %s", err);
    gm_ledger_close(l);
    spit(lpath2, small, slen);
    uint8_t copy[4096];
    memcpy(copy, rec, recsize);
    copy[5] ^= 1;
    ok(gm_ledger_parse_record(copy, recsize, &off, &dlen, err, sizeof err) == -1 &&
           strstr(err, "header"),
       "a changed length is damage, not a torn tail: %s", err);
    ok(gm_ledger_open(dir2, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "other/origin", err, sizeof err) ==
               NULL &&
           strstr(err, "origin"),
       "opening with another origin is refused: %s", err);
    test_parallel_framing();
    free(small);
    free(full);
    gm_key_free(stranger);
    gm_key_free(key);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    done_testing();
    return exit_status();
}
