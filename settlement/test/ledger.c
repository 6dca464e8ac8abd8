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
    int seen[T * PER + 1] = { 0 }, seq_ok = 1;
    for (uint64_t i = 0; i < gm_ledger_size(l); i++) {
        size_t len;
        char *s = gm_ledger_read(l, i, &len, err, sizeof err);
        struct gm_receipt r;
        if (!s || gm_signed_receipt_verify(s, len, &key, 1, &r, err, sizeof err) != 0 ||
            (uint64_t)r.sequence != i || r.job_id < 1 || r.job_id > T * PER || seen[r.job_id]++) {
            seq_ok = 0;
            diag("record %llu: %s", (unsigned long long)i, err);
        }
        free(s);
    }
    ok(seq_ok, "record i carries sequence i, every job exactly once, all signed");
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
    int torn_ok = 1;
    for (size_t cut = 1; cut < rec_len; cut++) {
        spit(lpath, full, last_off + cut);
        if (gm_ledger_verify(dir, &key, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err) != -1 ||
            !strstr(err, "records after index")) {
            /* With the checkpoint present the loss of an acknowledged record is an error. */
            torn_ok = 0;
            diag("cut %zu: verify said %s", cut, err);
        }
        l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        if (!l || gm_ledger_size(l) != n - 1 || gm_ledger_recovered_bytes(l) != cut) {
            torn_ok = 0;
            diag("cut %zu: open: %s", cut, l ? "wrong size" : err);
        }
        gm_ledger_close(l);
        struct stat sb;
        stat(lpath, &sb);
        if ((size_t)sb.st_size != last_off)
            torn_ok = 0;
    }
    ok(torn_ok, "a torn last record (cut at each of its %zu bytes) is detected and truncated",
       rec_len);
    free(last);
    char cppath[700];
    path_in(cppath, sizeof cppath, dir, "checkpoint");
    unlink(cppath);
    spit(lpath, full, last_off + 20);
    ok(gm_ledger_verify(dir, &key, 1, 0, 0, &res, err, sizeof err) == 0 && res.torn_bytes == 20 &&
           res.size == n - 1,
       "without a checkpoint a torn tail verifies, reported as %llu torn bytes",
       (unsigned long long)res.torn_bytes);

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
    /* A ledger with a zero-filled tail verifies and recovers. */
    spit(lpath2, small, slen);
    FILE *zf = fopen(lpath2, "ab");
    char zbuf[700] = { 0 };
    if (!zf || fwrite(zbuf, 1, sizeof zbuf, zf) != sizeof zbuf || fclose(zf) != 0)
        bail_out("append zeros");
    ok(gm_ledger_verify(dir2, &key, 1, 0, 1, &res, err, sizeof err) == 0 &&
           res.torn_bytes == sizeof zbuf,
       "a zero-filled tail verifies as %llu torn bytes (%s)", (unsigned long long)res.torn_bytes,
       err);
    l = gm_ledger_open(dir2, GM_LEDGER_WRITE, NULL, err, sizeof err);
    ok(l && gm_ledger_recovered_bytes(l) == sizeof zbuf && gm_ledger_size(l) == 3,
       "and opening for append cuts it off");
    gm_ledger_close(l);
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
