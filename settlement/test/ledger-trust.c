/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A writer builds only on verified data and bills a segment once: duplicate
 * receipts are not appended (alone, in a group, within a group), and a
 * record re-signed by another key or edited with its leaf hash recomputed
 * stops appends and checkpoints. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gm-trust-test.XXXXXX";

static struct gm_receipt receipt(int64_t job, int64_t segment)
{
    struct gm_receipt r;
    memset(&r, 0, sizeof r);
    r.version = GM_RECEIPT_VERSION;
    strcpy(r.cluster, "gpu.example.org");
    r.job_id = job;
    r.segment = segment;
    strcpy(r.user, "alice");
    strcpy(r.account, "physics");
    strcpy(r.nodes, "gm1");
    strcpy(r.gpu_type, "h100");
    r.gpu_count = 2;
    r.start = 1700000000;
    r.end = 1700003600;
    r.gpu_seconds = 7200;
    r.price_micro_per_gpu_hour = 2400000;
    r.amount_micro = 4800000;
    r.end_reason = GM_END_COMPLETED;
    return r;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        bail_out("open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        bail_out("read %s", path);
    fclose(f);
    *len = (size_t)n;
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
    if (!mkdtemp(tmpdir))
        bail_out("mkdtemp");
    char err[1024], dir[600], lpath[700];
    snprintf(dir, sizeof dir, "%s/L", tmpdir);
    snprintf(lpath, sizeof lpath, "%s/ledger", dir);
    gm_key *key = gm_key_generate("test.example/trust", err, sizeof err);
    gm_key *other = gm_key_generate("test.example/trust", err, sizeof err);
    if (!key || !other)
        bail_out("keygen: %s", err);

    gm_ledger *l = gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/trust",
                                  err, sizeof err);
    if (!l)
        bail_out("open: %s", err);
    struct gm_receipt a = receipt(10, 0), b = receipt(10, 1), c = receipt(11, 0);
    ok(gm_ledger_append(l, key, &a, err, sizeof err) == 0 && a.sequence == 0,
       "job 10 segment 0 appended");
    ok(gm_ledger_append(l, key, &b, err, sizeof err) == 0 && b.sequence == 1,
       "job 10 segment 1 (another segment of the same job) appended");
    struct gm_receipt again = receipt(10, 0);
    again.price_micro_per_gpu_hour = 9999999;
    again.amount_micro = 0; /* whatever it says, it is the same segment */
    again.gpu_seconds = 7200;
    again.amount_micro = 19999998;
    int rc = gm_ledger_append(l, key, &again, err, sizeof err);
    ok(rc == 1 && again.sequence == 0 && gm_ledger_size(l) == 2,
       "a second receipt for job 10 segment 0 is not appended: 1, pointing at sequence 0 (%s)",
       rc < 0 ? err : "");
    struct gm_receipt arr = receipt(10, 0);
    arr.has_array_task = 1;
    arr.array_task = 3;
    ok(gm_ledger_append(l, key, &arr, err, sizeof err) == 0 && arr.sequence == 2,
       "an array task of the same job id is its own segment");

    /* A group mixing new, recorded and repeated receipts. */
    struct gm_receipt group[5] = { receipt(20, 0), receipt(10, 1), receipt(21, 0), receipt(20, 0),
                                   c };
    unsigned char recorded[5];
    memset(recorded, 7, sizeof recorded);
    rc = gm_ledger_append_many(l, key, group, 5, recorded, err, sizeof err);
    ok(rc == 0 && !recorded[0] && recorded[1] && !recorded[2] && recorded[3] && !recorded[4],
       "a group: new ones appended, the recorded and the repeated one flagged (%s)", rc ? err : "");
    ok(gm_ledger_size(l) == 6 && group[1].sequence == 1 && group[3].sequence == group[0].sequence,
       "the group added 3 records; flagged ones point at the receipt on record (size %llu)",
       (unsigned long long)gm_ledger_size(l));
    gm_ledger_close(l);

    /* Another process (a new handle) sees the same: nothing bills twice. */
    l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    struct gm_receipt again2 = receipt(21, 0);
    ok(l && gm_ledger_append(l, key, &again2, err, sizeof err) == 1 && gm_ledger_size(l) == 6,
       "after reopening, a re-run backfill line is still refused");
    char *cp = gm_ledger_checkpoint(l, key, err, sizeof err);
    ok(cp != NULL, "checkpoint of the verified ledger signed (%s)", cp ? "" : err);
    free(cp);
    struct gm_receipt d = receipt(30, 0);
    ok(gm_ledger_append(l, key, &d, err, sizeof err) == 0, "one more after the checkpoint");
    gm_ledger_close(l);

    /* A record after the checkpoint re-signed by another key (its leaf hash
     * recomputed, as a writer of the directory could): appends and
     * checkpoints by the cluster's key refuse to build on it. */
    size_t flen;
    char *good = slurp(lpath, &flen);
    l = gm_ledger_open(dir, 0, NULL, err, sizeof err);
    gm_ledger_close(l);
    {
        gm_ledger *w = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
        (void)w;
        gm_ledger_close(w);
    }
    /* Build the forged file: same ledger up to the last record, whose
     * receipt is re-signed by `other` with nine times the amount. */
    char fdir[600];
    snprintf(fdir, sizeof fdir, "%s/F", tmpdir);
    gm_ledger *f = gm_ledger_open(fdir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/trust",
                                  err, sizeof err);
    char path_f[700];
    snprintf(path_f, sizeof path_f, "%s/ledger", fdir);
    gm_ledger *g = gm_ledger_open(dir, 0, NULL, err, sizeof err);
    for (uint64_t i = 0; i + 1 < gm_ledger_size(g); i++) {
        size_t len;
        char *data = gm_ledger_read(g, i, &len, err, sizeof err);
        struct gm_receipt r;
        gm_signed_receipt_decode(data, len, &r, NULL, NULL, NULL, err, sizeof err);
        free(data);
        gm_ledger_append(f, key, &r, err, sizeof err);
    }
    struct gm_receipt forged = receipt(30, 0);
    forged.price_micro_per_gpu_hour *= 9;
    forged.amount_micro *= 9;
    ok(gm_ledger_append(f, other, &forged, err, sizeof err) == 0, "forger appends its record");
    gm_ledger_close(f);
    gm_ledger_close(g);
    size_t forged_len;
    char *forged_file = slurp(path_f, &forged_len);
    spit(lpath, forged_file, forged_len);
    l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    struct gm_receipt e = receipt(31, 0);
    rc = l ? gm_ledger_append(l, key, &e, err, sizeof err) : -1;
    ok(rc == -1 && strstr(err, "record 6") && strstr(err, "Nothing is appended"),
       "an append refuses to build on a record re-signed by another key: %s", err);
    cp = l ? gm_ledger_checkpoint(l, key, err, sizeof err) : NULL;
    ok(cp == NULL && strstr(err, "record 6"), "and so does a checkpoint: %s", err);
    free(cp);
    gm_ledger_close(l);
    /* With the forger's key trusted (a rotation), the writer accepts it. */
    l = gm_ledger_open(dir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    gm_key *trusted[1] = { other };
    gm_ledger_trust_keys(l, trusted, 1, err, sizeof err);
    ok(l && gm_ledger_append(l, key, &e, err, sizeof err) == 0,
       "a key listed as trusted (an earlier cluster key) is accepted");
    gm_ledger_close(l);
    spit(lpath, good, flen);
    free(good);
    free(forged_file);

    /* A ledger written before this rule, or by hand, with two receipts for
     * one segment: both signed, in sequence, and verify flags the second. */
    char adir[600], bdir[600], apath[700], bpath[700];
    snprintf(adir, sizeof adir, "%s/A", tmpdir);
    snprintf(bdir, sizeof bdir, "%s/B", tmpdir);
    snprintf(apath, sizeof apath, "%s/ledger", adir);
    snprintf(bpath, sizeof bpath, "%s/ledger", bdir);
    gm_ledger *la = gm_ledger_open(adir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/trust",
                                   err, sizeof err);
    gm_ledger *lb = gm_ledger_open(bdir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/trust",
                                   err, sizeof err);
    struct gm_receipt x = receipt(40, 0), y = receipt(41, 0), x2 = receipt(40, 0);
    gm_ledger_append(la, key, &x, err, sizeof err);
    gm_ledger_append(lb, key, &y, err, sizeof err);
    gm_ledger_append(lb, key, &x2, err, sizeof err); /* sequence 1 in B */
    gm_ledger_close(la);
    gm_ledger_close(lb);
    size_t alen, blen;
    char *afile = slurp(apath, &alen), *bfile = slurp(bpath, &blen);
    size_t rec_len = blen - alen; /* B = header + y + x2; A = header + x; y, x2, x: same size */
    char *joined = malloc(alen + rec_len);
    memcpy(joined, afile, alen);
    memcpy(joined + alen, bfile + blen - rec_len, rec_len);
    spit(apath, joined, alen + rec_len);
    struct gm_ledger_verify_result res;
    ok(gm_ledger_verify(adir, &key, 1, 0, 1, &res, err, sizeof err) == -1 && res.bad_index == 1 &&
           strstr(err, "second receipt"),
       "verify flags a second receipt for a segment: %s", err);
    ok(gm_ledger_verify(adir, &key, 1, GM_VERIFY_HASH_ONLY, 1, &res, err, sizeof err) == 0,
       "(a hash-only verify decodes no receipt and cannot see it)");
    la = gm_ledger_open(adir, GM_LEDGER_WRITE, NULL, err, sizeof err);
    struct gm_receipt z = receipt(42, 0);
    ok(la && gm_ledger_append(la, key, &z, err, sizeof err) == 0 && z.sequence == 2,
       "appends go on after such a legacy duplicate (the first stays the one on record)");
    gm_ledger_close(la);

    /* slurmctld -c or a job-id wrap hands out job 50 again: the second job's
     * segment 0 starts later and is its own segment, billed once as well. */
    char rdir[600];
    snprintf(rdir, sizeof rdir, "%s/R", tmpdir);
    gm_ledger *lr = gm_ledger_open(rdir, GM_LEDGER_CREATE | GM_LEDGER_WRITE, "test.example/trust",
                                   err, sizeof err);
    if (!lr)
        bail_out("open %s: %s", rdir, err);
    struct gm_receipt first = receipt(50, 0), reused = receipt(50, 0);
    reused.start += 86400;
    reused.end += 86400;
    ok(gm_ledger_append(lr, key, &first, err, sizeof err) == 0 && first.sequence == 0,
       "job 50 segment 0 appended");
    rc = gm_ledger_append(lr, key, &reused, err, sizeof err);
    ok(rc == 0 && reused.sequence == 1 && gm_ledger_size(lr) == 2,
       "job 50 segment 0 again with another start (a reused job id) is a second receipt (%s)",
       rc < 0 ? err : "");
    struct gm_receipt reused_again = reused;
    ok(gm_ledger_append(lr, key, &reused_again, err, sizeof err) == 1 &&
           reused_again.sequence == 1 && gm_ledger_size(lr) == 2,
       "the reused job's receipt appended twice is still recorded once");
    struct gm_receipt wrapped[3] = { receipt(50, 0), receipt(50, 0), first };
    wrapped[0].start += 2 * 86400;
    wrapped[0].end += 2 * 86400;
    wrapped[1] = wrapped[0];
    memset(recorded, 7, sizeof recorded);
    rc = gm_ledger_append_many(lr, key, wrapped, 3, recorded, err, sizeof err);
    ok(rc == 0 && !recorded[0] && recorded[1] && recorded[2] && wrapped[1].sequence == 2 &&
           wrapped[2].sequence == 0 && gm_ledger_size(lr) == 3,
       "in a group: a third start is new, its repeat and the first one are flagged (%s)",
       rc ? err : "");
    gm_ledger_close(lr);
    ok(gm_ledger_verify(rdir, &key, 1, 0, 1, &res, err, sizeof err) == 0 && res.size == 3,
       "verify does not flag receipts of one job id with different starts (%s)", err);
    free(afile);
    free(bfile);
    free(joined);
    gm_key_free(key);
    gm_key_free(other);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        diag("could not remove %s", tmpdir);
    done_testing();
    return exit_status();
}
