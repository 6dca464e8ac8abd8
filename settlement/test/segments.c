/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The segment journal: one receipt per ended segment, whatever happens in
 * between.  Replay after reopen, a second begin or end, a torn tail and a
 * damaged record, a crash between the ledger append and the "done" record,
 * a journal or ledger that cannot be written (RLIMIT_FSIZE stands in for a
 * full disk), compaction, a settle whose disk sync stalls while slurmctld's
 * scheduler begins and ends segments, and a writer killed with SIGKILL at
 * random moments while segments stream through it. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gm-segments-test.XXXXXX";

/* fdatasync, as the library calls it: when `stall_sync` is armed, the sync
 * waits until the test says go (or 10 s pass, then `stall_timed_out`), as a
 * disk under load would.  Anything that waits on the journal's mutex
 * meanwhile waits for this. */
static pthread_mutex_t stall_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stall_cv = PTHREAD_COND_INITIALIZER;
static int stall_sync, stall_in_sync, stall_go, stall_timed_out;

int fdatasync(int fd)
{
    pthread_mutex_lock(&stall_mu);
    if (stall_sync) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        stall_in_sync = 1;
        pthread_cond_broadcast(&stall_cv);
        while (!stall_go && !stall_timed_out)
            if (pthread_cond_timedwait(&stall_cv, &stall_mu, &until) == ETIMEDOUT)
                stall_timed_out = 1;
    }
    pthread_mutex_unlock(&stall_mu);
    return (int)syscall(SYS_fdatasync, fd);
}
static gm_key *key;

#define ORIGIN "test.example/segments"

static struct gm_receipt opening(int64_t job, int64_t start, int gpus)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = GM_RECEIPT_VERSION;
    strcpy(r.cluster, "gpu.example.org");
    r.job_id = job;
    strcpy(r.user, "alice");
    strcpy(r.account, "physics lab"); /* a space: escaped in the journal */
    strcpy(r.nodes, "gm[1-2]");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = gpus;
    r.start = start;
    r.price_micro_per_gpu_hour = 2400000;
    return r;
}

static struct gm_segment_end ending(int64_t end, enum gm_end_reason reason)
{
    struct gm_segment_end e = { .end = end, .reason = reason, .energy_mj = -1, .emissions_mg = -1 };
    return e;
}

static gm_segments *open_journal(const char *path)
{
    char err[512];
    gm_segments *s = gm_segments_open(path, err, sizeof err);
    if (!s)
        bail_out("gm_segments_open: %s", err);
    return s;
}

static gm_ledger *open_ledger(const char *dir)
{
    char err[512];
    gm_ledger *l = gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, ORIGIN, err, sizeof err);
    if (!l)
        bail_out("gm_ledger_open %s: %s", dir, err);
    return l;
}

/* Receipts in the ledger for (job, start): count, and the last one. */
static int receipts_for(gm_ledger *l, int64_t job, int64_t start, struct gm_receipt *out)
{
    char err[512];
    int n = 0;
    if (gm_ledger_refresh(l, err, sizeof err))
        bail_out("refresh: %s", err);
    for (uint64_t i = 0; i < gm_ledger_size(l); i++) {
        size_t len;
        char *t = gm_ledger_read(l, i, &len, err, sizeof err);
        struct gm_receipt r;
        if (!t || gm_signed_receipt_verify(t, len, &key, 1, &r, err, sizeof err))
            bail_out("record %llu: %s", (unsigned long long)i, err);
        free(t);
        if (r.job_id == job && r.start == start) {
            n++;
            if (out)
                *out = r;
        }
    }
    return n;
}

struct key2 {
    int64_t job, start;
};

static int key2_cmp(const void *a, const void *b)
{
    const struct key2 *x = a, *y = b;
    if (x->job != y->job)
        return x->job < y->job ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

/* Every receipt's (job, start), verified and sorted. */
static struct key2 *ledger_keys(gm_ledger *l, size_t *count)
{
    char err[512];
    if (gm_ledger_refresh(l, err, sizeof err))
        bail_out("refresh: %s", err);
    size_t n = (size_t)gm_ledger_size(l);
    struct key2 *v = calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *t = gm_ledger_read(l, i, &len, err, sizeof err);
        struct gm_receipt r;
        if (!t || gm_signed_receipt_verify(t, len, &key, 1, &r, err, sizeof err))
            bail_out("record %zu: %s", i, err);
        free(t);
        v[i].job = r.job_id;
        v[i].start = r.start;
    }
    qsort(v, n, sizeof *v, key2_cmp);
    *count = n;
    return v;
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static void copy_file(const char *from, const char *to)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", from, to);
    if (system(cmd) != 0)
        bail_out("%s", cmd);
}

static void basics(const char *dir)
{
    char jpath[600], ldir[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/basics.journal", dir);
    snprintf(ldir, sizeof ldir, "%s/basics-ledger", dir);
    gm_segments *s = open_journal(jpath);
    struct gm_receipt r = opening(100, 1000, 2);
    strcpy(r.market_order, "order 7/é");
    r.has_market_order = 1;

    is_int(gm_segments_begin(s, 100, &r, 1000, err, sizeof err), 0, "a segment begins");
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_OPEN, "it is open");
    struct gm_receipt again = opening(100, 1000, 4);
    is_int(gm_segments_begin(s, 100, &again, 1001, err, sizeof err), 1,
           "the same (job, start) again is a no-op (restart or reconfigure)");
    struct gm_segment_end e = ending(1000 + 1800, GM_END_PREEMPTED);
    e.energy_mj = 2520000000;
    e.energy_source = "estimated";
    e.emissions_mg = 280000;
    is_int(gm_segments_end(s, 100, 1000, &e, err, sizeof err), 0, "it ends (preempted)");
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_CLOSED, "it waits for its receipt");
    e.end = 5000;
    is_int(gm_segments_end(s, 100, 1000, &e, err, sizeof err), 1,
           "a second job_fini for the same run changes nothing");
    is_int(gm_segments_end(s, 999, 1000, &e, err, sizeof err), 1,
           "ending an unknown segment: no-op");

    /* The requeued run: a new start, the next segment number. */
    struct gm_receipt r2 = opening(100, 4000, 2);
    r2.segment = 0; /* restart_cnt as a rolled-back job record might say */
    is_int(gm_segments_begin(s, 100, &r2, 4000, err, sizeof err), 0, "the requeued run begins");
    is_int(r2.segment, 1, "it gets segment 1 although the job record said 0");
    gm_segments_close(s);

    s = open_journal(jpath);
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_CLOSED, "after reopen: the first is ended");
    is_int(gm_segments_state(s, 100, 4000), GM_SEGMENT_OPEN, "after reopen: the second is open");
    is_int(gm_segments_torn_bytes(s) + gm_segments_damaged(s), 0, "a clean journal: nothing cut");
    is_int(gm_segments_last_seen(s), 4000, "last seen: the latest event");

    gm_ledger *l = open_ledger(ldir);
    is_int(gm_segments_settle(s, l, key, 64, 5000, err, sizeof err), 1, "one receipt written");
    struct gm_receipt got;
    is_int(receipts_for(l, 100, 1000, &got), 1, "the ledger holds it once, signed by the key");
    is_int(got.gpu_seconds, 3600, "gpu_seconds = 2 GPUs x 1800 s");
    is_int(got.amount_micro, 2400000, "amount by the billing rule (3600 GPU-s at 2.40/GPU-h)");
    is_int(got.end_reason, GM_END_PREEMPTED, "end reason kept");
    is_str(got.account, "physics lab", "a string with a space survives the journal");
    is_str(got.market_order, "order 7/é", "the market order survives the journal (UTF-8)");
    ok(got.has_energy && got.energy_mj == 2520000000 && got.has_emissions &&
           got.emissions_mg == 280000 && got.has_energy_source &&
           !strcmp(got.energy_source, "estimated"),
       "energy, its source and emissions are carried");
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_DONE, "the segment is done");
    is_int(gm_segments_settle(s, l, key, 64, 5001, err, sizeof err), 0, "nothing waits any more");
    gm_segments_close(s);
    s = open_journal(jpath);
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_DONE, "done survives a reopen");
    is_int(gm_segments_settle(s, l, key, 64, 5002, err, sizeof err), 0, "and is not written again");
    is_int(receipts_for(l, 100, 1000, NULL), 1, "still one receipt");

    /* Compaction keeps what is needed and drops old done segments. */
    size_t before = file_size(jpath);
    ok(gm_segments_compact(s, 5003, 3600, err, sizeof err) == 0, "compaction: %s", err);
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_DONE, "a recent done segment is kept");
    is_int(gm_segments_state(s, 100, 4000), GM_SEGMENT_OPEN, "the open one is kept");
    gm_segments_close(s);
    s = open_journal(jpath);
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_DONE, "compacted: done after reopen");
    is_int(gm_segments_state(s, 100, 4000), GM_SEGMENT_OPEN, "compacted: open after reopen");
    struct gm_receipt r3 = opening(100, 9000, 1);
    is_int(gm_segments_begin(s, 100, &r3, 9000, err, sizeof err), 0, "a third run begins");
    is_int(r3.segment, 2, "it is segment 2: numbering survives compaction");
    ok(gm_segments_compact(s, 9000 + 7200, 3600, err, sizeof err) == 0, "compaction later");
    is_int(gm_segments_state(s, 100, 1000), GM_SEGMENT_NONE, "an old done segment is forgotten");
    ok(file_size(jpath) < before + 200, "the file did not grow (%zu, %zu bytes)", before,
       file_size(jpath));
    gm_segments_close(s);
    gm_ledger_close(l);
}

/* Many segments: the index finds each one (open, ended, never seen) as the
 * table grows, after a reopen and after compaction. */
static int states_right(gm_segments *s, int n)
{
    int wrong = 0;
    for (int i = 0; i < n; i++) {
        /* Few job ids, many starts: keys that differ only in start. */
        uint32_t job = 500 + (uint32_t)(i % 7);
        int64_t start = 40000 + i;
        enum gm_segment_state want = i % 3 ? GM_SEGMENT_CLOSED : GM_SEGMENT_OPEN;
        wrong += gm_segments_state(s, job, start) != want;
        wrong += gm_segments_state(s, job, start + 1000000) != GM_SEGMENT_NONE;
    }
    return wrong;
}

static void many(const char *dir)
{
    char jpath[600], err[512];
    const int n = 3000;
    snprintf(jpath, sizeof jpath, "%s/many.journal", dir);
    gm_segments *s = open_journal(jpath);
    for (int i = 0; i < n; i++) {
        uint32_t job = 500 + (uint32_t)(i % 7);
        struct gm_receipt r = opening(job, 40000 + i, 1);
        struct gm_segment_end e = ending(40000 + i + 10, GM_END_COMPLETED);
        if (gm_segments_begin(s, job, &r, 40000 + i, err, sizeof err) ||
            (i % 3 && gm_segments_end(s, job, 40000 + i, &e, err, sizeof err)))
            bail_out("%s", err);
    }
    is_int(states_right(s, n), 0, "%d segments: each found in its state, none invented", n);
    gm_segments_close(s);
    s = open_journal(jpath);
    is_int(states_right(s, n), 0, "the same after a reopen");
    ok(gm_segments_compact(s, 50000, 3600, err, sizeof err) == 0, "compacted: %s", err);
    is_int(states_right(s, n), 0, "the same after compaction");
    gm_segments_close(s);
}

/* A crash after the ledger append and before the journal's "done" record:
 * the segment is settled again, and the ledger keeps one receipt. */
static void crash_after_append(const char *dir)
{
    char jpath[600], saved[620], ldir[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/crash.journal", dir);
    snprintf(saved, sizeof saved, "%s.saved", jpath);
    snprintf(ldir, sizeof ldir, "%s/crash-ledger", dir);
    gm_segments *s = open_journal(jpath);
    for (int j = 0; j < 5; j++) {
        struct gm_receipt r = opening(200 + j, 10000, 1);
        struct gm_segment_end e = ending(10060, GM_END_COMPLETED);
        if (gm_segments_begin(s, 200 + j, &r, 10000, err, sizeof err) ||
            gm_segments_end(s, 200 + j, 10000, &e, err, sizeof err))
            bail_out("%s", err);
    }
    gm_segments_close(s);
    copy_file(jpath, saved);
    s = open_journal(jpath);
    gm_ledger *l = open_ledger(ldir);
    is_int(gm_segments_settle(s, l, key, 3, 10100, err, sizeof err), 3, "a group of three written");
    gm_segments_close(s);
    copy_file(saved, jpath); /* as if killed before the "done" records */
    s = open_journal(jpath);
    int total = 0, rc;
    while ((rc = gm_segments_settle(s, l, key, 2, 10200, err, sizeof err)) > 0)
        total += rc;
    is_int(rc, 0, "settling again ends cleanly");
    is_int(total, 5, "all five are settled after the crash");
    is_int(gm_ledger_size(l), 5, "the ledger holds five receipts, none doubled");
    for (int j = 0; j < 5; j++)
        if (receipts_for(l, 200 + j, 10000, NULL) != 1)
            ok(0, "job %d has %d receipts", 200 + j, receipts_for(l, 200 + j, 10000, NULL));
    gm_segments_close(s);
    gm_ledger_close(l);
}

static void damage(const char *dir)
{
    char jpath[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/damage.journal", dir);
    gm_segments *s = open_journal(jpath);
    struct gm_receipt a = opening(300, 20000, 1), b = opening(301, 20000, 1);
    gm_segments_begin(s, 300, &a, 20000, err, sizeof err);
    gm_segments_begin(s, 301, &b, 20000, err, sizeof err);
    gm_segments_close(s);

    /* Flip a byte in the first record: damage, the second still counts. */
    size_t len = file_size(jpath);
    FILE *f = fopen(jpath, "r+b");
    char *buf = malloc(len + 1);
    if (!f || fread(buf, 1, len, f) != len)
        bail_out("read %s", jpath);
    char *first = strchr(buf, '\n') + 1;
    first[4] ^= 1;
    fseek(f, 0, SEEK_SET);
    fwrite(buf, 1, len, f);
    /* And a torn record at the end. */
    fputs("C 301 20000 20010 =compl", f);
    fclose(f);
    free(buf);
    s = open_journal(jpath);
    is_int(gm_segments_damaged(s), 1, "a record with a bad CRC before good ones is damage");
    ok(gm_segments_torn_bytes(s) > 0, "the unterminated last record is a torn tail (%llu bytes)",
       (unsigned long long)gm_segments_torn_bytes(s));
    is_int(gm_segments_state(s, 301, 20000), GM_SEGMENT_OPEN,
           "the record after the damaged one is replayed");
    struct gm_segment_end e = ending(20010, GM_END_COMPLETED);
    is_int(gm_segments_end(s, 301, 20000, &e, err, sizeof err), 0,
           "appending after the cut tail works");
    gm_segments_close(s);
    s = open_journal(jpath);
    is_int(gm_segments_state(s, 301, 20000), GM_SEGMENT_CLOSED, "and replays");
    is_int(gm_segments_torn_bytes(s), 0, "no torn tail any more");
    gm_segments_close(s);

    /* Not a journal at all. */
    char other[620];
    snprintf(other, sizeof other, "%s/not-a-journal", dir);
    f = fopen(other, "w");
    fputs("hello\n", f);
    fclose(f);
    ok(gm_segments_open(other, err, sizeof err) == NULL && strstr(err, other) &&
           strstr(err, "not a gpumarket segment journal"),
       "another file is refused, naming it: %s", err);
    ok(gm_segments_open(dir, err, sizeof err) == NULL, "a directory is refused: %s", err);
}

/* RLIMIT_FSIZE makes writes fail with EFBIG, as a full disk fails them
 * with ENOSPC: nothing is lost, the journal catches up when space returns,
 * and receipts wait until the ledger can be written. */
static void full_disk(const char *dir)
{
    char jpath[600], ldir[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/full.journal", dir);
    snprintf(ldir, sizeof ldir, "%s/full-ledger", dir);
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);

    gm_segments *s = open_journal(jpath);
    gm_ledger *l = open_ledger(ldir);
    size_t jsize = file_size(jpath);
    struct rlimit lim = { jsize + 100, old.rlim_max };
    setrlimit(RLIMIT_FSIZE, &lim);
    int first_fail = -1, later = 0;
    for (int j = 0; j < 10; j++) {
        struct gm_receipt r = opening(400 + j, 30000, 1);
        struct gm_segment_end e = ending(30030, GM_END_COMPLETED);
        int rc[2] = { gm_segments_begin(s, 400 + j, &r, 30000, err, sizeof err),
                      gm_segments_end(s, 400 + j, 30000, &e, err, sizeof err) };
        for (int k = 0; k < 2; k++) {
            if (rc[k] < 0 && first_fail < 0)
                first_fail = 2 * j + k;
            else if (rc[k] < 0)
                later++;
        }
    }
    ok(first_fail >= 0 && later == 0, "the first write that fails is reported once (at %d)",
       first_fail);
    struct gm_segments_counts c;
    gm_segments_counts(s, &c);
    ok(c.behind && c.waiting == 10, "memory holds all ten ended segments (behind %d, waiting %zu)",
       c.behind, c.waiting);
    is_int(gm_segments_settle(s, l, key, 64, 30100, err, sizeof err), -1,
           "no receipt while the journal is behind");
    ok(gm_segments_compact(s, 30100, 3600, err, sizeof err) != 0,
       "compaction fails while the disk is full: %s", err);
    setrlimit(RLIMIT_FSIZE, &old);
    ok(gm_segments_compact(s, 30100, 3600, err, sizeof err) == 0, "space returns: compacted");

    /* Now the ledger is full. */
    size_t lsize = file_size(ldir) + 0;
    char lfile[700];
    snprintf(lfile, sizeof lfile, "%s/ledger", ldir);
    lsize = file_size(lfile);
    lim.rlim_cur = lsize + 64;
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = gm_segments_settle(s, l, key, 64, 30200, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    ok(rc == -1, "the ledger cannot take them: an error, nothing written (%s)", err);
    gm_segments_counts(s, &c);
    is_int(c.waiting, 10, "all ten still wait");
    gm_ledger_close(l);
    l = open_ledger(ldir); /* what slurmctld's writer does after an error */
    is_int(gm_segments_settle(s, l, key, 64, 30300, err, sizeof err), 10,
           "space returns: all ten receipts written");
    gm_segments_close(s);
    s = open_journal(jpath);
    gm_segments_counts(s, &c);
    ok(c.waiting == 0 && c.done == 10, "after reopen all ten are done (waiting %zu, done %zu)",
       c.waiting, c.done);
    int ones = 0;
    for (int j = 0; j < 10; j++)
        ones += receipts_for(l, 400 + j, 30000, NULL) == 1;
    is_int(ones, 10, "each has exactly one receipt");
    gm_segments_close(s);
    gm_ledger_close(l);
}

/* A child streams segments (begin, end, settle every few) and is killed
 * with SIGKILL at a random moment, many times over the same journal and
 * ledger; it writes each segment's end to a side file only after
 * gm_segments_end returned.  Afterwards every ended segment has exactly one
 * receipt. */
static void killed(const char *dir, unsigned seed)
{
    char jpath[600], ldir[600], done_path[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/kill.journal", dir);
    snprintf(ldir, sizeof ldir, "%s/kill-ledger", dir);
    snprintf(done_path, sizeof done_path, "%s/kill.ended", dir);
    srand(seed);
    int rounds = 25, next_job = 1000, kills = 0;
    for (int round = 0; round < rounds; round++) {
        FILE *jf = fopen(done_path, "a");
        fflush(jf);
        pid_t pid = fork();
        if (pid == 0) {
            gm_segments *s = open_journal(jpath);
            gm_ledger *l = open_ledger(ldir);
            /* Close what a previous child left open, as reconciliation does. */
            struct gm_segment_key *k;
            size_t n;
            gm_segments_list_open(s, &k, &n);
            for (size_t i = 0; i < n; i++) {
                struct gm_segment_end e = ending(k[i].start + 5, GM_END_LOST);
                e.recovered = "last_seen";
                if (gm_segments_end(s, k[i].job, k[i].start, &e, err, sizeof err) == 0)
                    fprintf(jf, "%u %lld\n", k[i].job, (long long)k[i].start), fflush(jf);
            }
            free(k);
            for (int j = next_job;; j++) {
                struct gm_receipt r = opening(j, 50000 + j, 1 + j % 3);
                if (gm_segments_begin(s, (uint32_t)j, &r, 50000 + j, err, sizeof err) < 0)
                    _exit(3);
                struct gm_segment_end e = ending(50000 + j + 60, (enum gm_end_reason)(j % 6));
                if (gm_segments_end(s, (uint32_t)j, 50000 + j, &e, err, sizeof err) != 0)
                    _exit(4);
                fprintf(jf, "%d %d\n", j, 50000 + j);
                fflush(jf);
                if (j % 4 == 0 && gm_segments_settle(s, l, key, 8, 60000, err, sizeof err) < 0)
                    _exit(5);
                if (j % 50 == 0)
                    gm_segments_compact(s, 60000, 3600, err, sizeof err);
            }
        }
        fclose(jf);
        usleep((useconds_t)(10000 + rand() % 70000)); /* slow under ASan: give it time */
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
            kills++;
        else
            diag("child exited with status %d", WEXITSTATUS(status));
        next_job += 100000; /* job ids never repeat across rounds */
    }
    /* The last settle, as a restarted slurmctld does. */
    gm_segments *s = open_journal(jpath);
    gm_ledger *l = open_ledger(ldir);
    struct gm_segment_key *k;
    size_t n;
    gm_segments_list_open(s, &k, &n);
    FILE *jf = fopen(done_path, "a");
    for (size_t i = 0; i < n; i++) {
        struct gm_segment_end e = ending(k[i].start + 5, GM_END_LOST);
        if (gm_segments_end(s, k[i].job, k[i].start, &e, err, sizeof err) == 0)
            fprintf(jf, "%u %lld\n", k[i].job, (long long)k[i].start);
    }
    fclose(jf);
    free(k);
    int rc;
    while ((rc = gm_segments_settle(s, l, key, 256, 70000, err, sizeof err)) > 0)
        ;
    is_int(rc, 0, "the restarted writer settles everything");
    is_int(kills, rounds, "the writer was killed %d times", rounds);

    /* Every ended segment once, nothing else. */
    jf = fopen(done_path, "r");
    unsigned job;
    long long start;
    size_t ended = 0, right = 0, nkeys;
    struct key2 *keys = ledger_keys(l, &nkeys);
    while (fscanf(jf, "%u %lld", &job, &start) == 2) {
        struct key2 want = { job, start };
        struct key2 *hit = bsearch(&want, keys, nkeys, sizeof *keys, key2_cmp);
        ended++;
        if (hit)
            right += (hit == keys || key2_cmp(hit - 1, &want) != 0) &&
                     (hit + 1 == keys + nkeys || key2_cmp(hit + 1, &want) != 0);
    }
    fclose(jf);
    size_t doubled = 0;
    for (size_t i = 1; i < nkeys; i++)
        doubled += key2_cmp(&keys[i - 1], &keys[i]) == 0;
    free(keys);
    is_int(doubled, 0, "no (job, start) has two receipts in the ledger");
    ok(ended >= 5, "%zu segments ended across the kills", ended);
    is_int(right, ended, "each ended segment has exactly one receipt");
    ok(gm_ledger_size(l) >= ended, "the ledger holds %llu receipts for %zu ended segments",
       (unsigned long long)gm_ledger_size(l), ended);
    struct gm_segments_counts c;
    gm_segments_counts(s, &c);
    is_int(c.waiting + c.open, 0, "nothing left open or waiting");
    diag("%d kills, %zu segments, %llu receipts", kills, ended,
         (unsigned long long)gm_ledger_size(l));
    struct gm_ledger_verify_result res;
    ok(gm_ledger_verify(ldir, &key, 1, 0, 1, &res, err, sizeof err) == 0,
       "the ledger verifies with the key (%s)", err);
    gm_segments_close(s);
    gm_ledger_close(l);
}

struct settle_args {
    gm_segments *s;
    gm_ledger *l;
    int rc;
    char err[512];
};

static void *settle_thread(void *arg)
{
    struct settle_args *a = arg;
    a->rc = gm_segments_settle(a->s, a->l, key, 64, 90100, a->err, sizeof a->err);
    return NULL;
}

/* The receipt writer's sync does not hold the mutex that slurmctld's
 * scheduler takes in job_begin and job_fini (gm_segments_begin and _end): a
 * segment begins and ends while the sync stands still, and only then is the
 * sync let go. */
static void sync_unlocked(const char *dir)
{
    char jpath[600], ldir[600], err[512];
    snprintf(jpath, sizeof jpath, "%s/stall-journal", dir);
    snprintf(ldir, sizeof ldir, "%s/stall-ledger", dir);
    gm_segments *s = open_journal(jpath);
    gm_ledger *l = open_ledger(ldir);
    struct gm_receipt r = opening(900, 90000, 1);
    struct gm_segment_end e = ending(90060, GM_END_COMPLETED);
    gm_segments_begin(s, 900, &r, 90000, err, sizeof err);
    gm_segments_end(s, 900, 90000, &e, err, sizeof err);

    struct settle_args a = { .s = s, .l = l, .rc = -2 };
    pthread_t t;
    pthread_mutex_lock(&stall_mu);
    stall_sync = 1;
    stall_in_sync = stall_go = stall_timed_out = 0;
    pthread_mutex_unlock(&stall_mu);
    if (pthread_create(&t, NULL, settle_thread, &a) != 0)
        bail_out("pthread_create");
    pthread_mutex_lock(&stall_mu);
    while (!stall_in_sync)
        pthread_cond_wait(&stall_cv, &stall_mu);
    pthread_mutex_unlock(&stall_mu);

    struct gm_receipt r2 = opening(901, 90050, 1);
    struct gm_segment_end e2 = ending(90070, GM_END_COMPLETED);
    int begun = gm_segments_begin(s, 901, &r2, 90050, err, sizeof err);
    int ended = gm_segments_end(s, 901, 90050, &e2, err, sizeof err);
    pthread_mutex_lock(&stall_mu);
    int waited = stall_timed_out;
    stall_go = 1;
    stall_sync = 0;
    pthread_cond_broadcast(&stall_cv);
    pthread_mutex_unlock(&stall_mu);
    pthread_join(t, NULL);
    ok(!waited && begun == 0 && ended >= 0,
       "a segment begins and ends while the settle's disk sync stands still (%s)",
       waited ? "they waited until the sync gave up: the sync held the journal's mutex"
              : "they did not wait for it");
    is_int(a.rc, 1, "the stalled settle then writes its one receipt (%s)", a.err);
    is_int(gm_segments_settle(s, l, key, 64, 90200, err, sizeof err), 1,
           "and the segment ended meanwhile is receipted next");
    gm_ledger_close(l);
    gm_segments_close(s);
}

int main(void)
{
    char err[512];
    plan(TAP_NO_PLAN);
    if (!mkdtemp(tmpdir))
        bail_out("mkdtemp");
    key = gm_key_generate(ORIGIN, err, sizeof err);
    if (!key)
        bail_out("keygen: %s", err);
    basics(tmpdir);
    many(tmpdir);
    crash_after_append(tmpdir);
    damage(tmpdir);
    full_disk(tmpdir);
    sync_unlocked(tmpdir);
    unsigned seed = (unsigned)time(NULL);
    diag("kill test seed %u", seed);
    killed(tmpdir, seed);
    gm_key_free(key);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    done_testing();
    return exit_status();
}
