/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checkpoints: collective saves on 1 to 4 ranks, then the damage a
 * preemption or a bad disk leaves (a save killed before its manifest, a
 * corrupt shard, a truncated manifest, a missing shard) must make restart
 * pick the newest good checkpoint with a warning naming the file; and a
 * table of malformed manifests, each refused.  Run by checkpoint.t. */
#include "config.h"

#include "mpi-runtime/gpumarket_mpi.h"
#include "mpi-runtime/test/mpi-test.h"
#include "tests/tap/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rank, size;
static char warnings[8192];

static int all_true(int pass)
{
    int r;
    MPI_Allreduce(&pass, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}

static void collect(void *arg, const char *msg)
{
    (void)arg;
    size_t n = strlen(warnings);
    snprintf(warnings + n, sizeof warnings - n, "%s\n", msg);
}

static size_t shard_len(int r, int step)
{
    return r == 0 && step == 10 ? 0 : (size_t)(r + 1) * 100 + (size_t)step;
}

static void shard_fill(char *buf, size_t n, int r, int step)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(i * 31 + (size_t)r * 7 + (size_t)step);
}

static int save(gmpi_ctx *ctx, const char *dir, int step)
{
    char err[1024], buf[1024];
    size_t n = shard_len(rank, step);
    shard_fill(buf, n, rank, step);
    int rc = gmpi_checkpoint_save(ctx, dir, (uint64_t)step, buf, n, err, sizeof err);
    if (rc)
        diag("rank %d: %s", rank, err);
    return rc == 0;
}

/* Newest complete checkpoint's step (-1 none), with every shard checked. */
static int latest(const char *dir)
{
    gmpi_checkpoint *ck;
    char err[1024], buf[1024], want[1024];
    warnings[0] = 0;
    int rc = gmpi_checkpoint_find_latest(dir, collect, NULL, &ck, err, sizeof err);
    if (rc)
        return rc == GMPI_ENOENT ? -1 : -2;
    int step = (int)gmpi_checkpoint_step(ck);
    int good = gmpi_checkpoint_shard_count(ck) == size;
    for (int r = 0; r < size && good; r++) {
        size_t n = gmpi_checkpoint_shard_size(ck, r);
        shard_fill(want, shard_len(r, step), r, step);
        good = n == shard_len(r, step) &&
               gmpi_checkpoint_read_shard(ck, r, buf, n, err, sizeof err) == 0 &&
               memcmp(buf, want, n) == 0;
    }
    gmpi_checkpoint_free(ck);
    return good ? step : -3;
}

static void write_text(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n)
        bail_out("cannot write %s: %s", path, strerror(errno));
    close(fd);
}

static void sha_hex(const void *data, size_t n, char *out)
{
    unsigned char md[32];
    unsigned int len = 32;
    EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* Manifest table: each body gets a correct manifest-sha256 line appended
 * (unless raw), so the one defect in it is what is tested. */
struct mrow {
    const char *name;
    const char *body; /* %s = the shard's SHA-256 */
    int raw;          /* body is the whole file */
    int good;
};

#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
static const struct mrow mrows[] = {
    { "a well-formed manifest (control)",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 %s\n", 0, 1 },
    { "another format version", "gpumarket-checkpoint 2\nstep 7\nshards 1\nshard 0 5 %s\n", 0, 0 },
    { "a step with a leading zero", "gpumarket-checkpoint 1\nstep 07\nshards 1\nshard 0 5 %s\n", 0,
      0 },
    { "a step that is not a number", "gpumarket-checkpoint 1\nstep seven\nshards 1\nshard 0 5 %s\n",
      0, 0 },
    { "a step that names another directory",
      "gpumarket-checkpoint 1\nstep 8\nshards 1\nshard 0 5 %s\n", 0, 0 },
    { "zero shards", "gpumarket-checkpoint 1\nstep 7\nshards 0\n", 0, 0 },
    { "fewer shard lines than announced",
      "gpumarket-checkpoint 1\nstep 7\nshards 2\nshard 0 5 %s\n", 0, 0 },
    { "shards out of order", "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 1 5 %s\n", 0, 0 },
    { "a shard size that differs from the file",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 6 %s\n", 0, 0 },
    { "a negative shard size", "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 -5 %s\n", 0, 0 },
    { "a wrong shard checksum",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9825\n",
      0, 0 },
    { "an upper-case checksum",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824\n",
      0, 0 },
    { "a short checksum", "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 2cf24dba\n", 0, 0 },
    { "no manifest-sha256 line (truncated)",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 " HELLO_SHA "\n", 1, 0 },
    { "a wrong manifest-sha256",
      "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 " HELLO_SHA
      "\nmanifest-sha256 0000000000000000000000000000000000000000000000000000000000000000\n",
      1, 0 },
    { "a manifest cut mid-line", "gpumarket-checkpoint 1\nstep 7\nshards 1\nshard 0 5 2cf2", 1, 0 },
    { "an empty manifest", "", 1, 0 },
    { "CRLF line ends", "gpumarket-checkpoint 1\r\nstep 7\r\nshards 1\r\nshard 0 5 %s\r\n", 0, 0 },
};

static int manifest_case(const char *base, size_t i)
{
    const struct mrow *m = &mrows[i];
    char dir[1200], stepdir[1300], path[1400], text[2048], sha[65];
    snprintf(dir, sizeof dir, "%s/case-%zu", base, i);
    snprintf(stepdir, sizeof stepdir, "%s/step-000000000007", dir);
    mkdir(dir, 0755);
    mkdir(stepdir, 0755);
    snprintf(path, sizeof path, "%s/shard-00000.bin", stepdir);
    write_text(path, "hello", 5);
    size_t n;
    if (m->raw) {
        n = (size_t)snprintf(text, sizeof text, "%s", m->body);
    } else {
        const char *mark = strstr(m->body, "%s");
        if (mark)
            n = (size_t)snprintf(text, sizeof text, "%.*s%s%s", (int)(mark - m->body), m->body,
                                 HELLO_SHA, mark + 2);
        else
            n = (size_t)snprintf(text, sizeof text, "%s", m->body);
        sha_hex(text, n, sha);
        n += (size_t)snprintf(text + n, sizeof text - n, "manifest-sha256 %s\n", sha);
    }
    snprintf(path, sizeof path, "%s/MANIFEST", stepdir);
    write_text(path, text, n);
    int got = latest(dir);
    /* A single shard from a single writer: the table runs with any size. */
    if (m->good)
        return got == -3 || got == 7 ? 1 : 0;
    return got == -1 && strstr(warnings, "step-000000000007/") &&
           strncmp(warnings, "gpumarket: ", 11) != 0 && strstr(warnings, "\ngpumarket: ") == NULL;
}

int main(int argc, char **argv)
{
    gmpi_ctx *ctx;
    char err[1024], path[2048];
    ctx = mpi_test_init(&argc, &argv, NULL, &rank, &size);
    if (argc < 2)
        bail_out("usage: checkpoint-mpi DIR");
    const char *dir = argv[1];
    plan(TAP_NO_PLAN);

    ok(all_true(save(ctx, dir, 10) && save(ctx, dir, 20) && save(ctx, dir, 30)),
       "three collective saves");
    ok(all_true(latest(dir) == 30 && warnings[0] == 0),
       "the newest, step 30, is found and every shard reads back");

    /* A save killed before its manifest: shards of step 40, one cut short,
     * a half-written MANIFEST.tmp, no MANIFEST. */
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/step-000000000040", dir);
        mkdir(path, 0755);
        for (int r = 0; r < size; r++) {
            char buf[1024];
            shard_fill(buf, shard_len(r, 40), r, 40);
            snprintf(path, sizeof path, "%s/step-000000000040/shard-%05d.bin", dir, r);
            write_text(path, buf, r == size - 1 ? shard_len(r, 40) / 2 : shard_len(r, 40));
        }
        snprintf(path, sizeof path, "%s/step-000000000040/MANIFEST.tmp", dir);
        write_text(path, "gpumarket-checkpoint 1\nstep 40\nsha", 33);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    ok(all_true(latest(dir) == 30 && strstr(warnings, "step-000000000040/MANIFEST: missing")),
       "a save killed before its manifest is skipped with a warning naming the MANIFEST");

    /* A corrupt shard in step 30 (one byte flipped). */
    int victim = size - 1;
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/step-000000000030/shard-%05d.bin", dir, victim);
        int fd = open(path, O_RDWR);
        char c;
        if (fd < 0 || pread(fd, &c, 1, 3) != 1)
            bail_out("cannot open %s", path);
        c ^= 1;
        if (pwrite(fd, &c, 1, 3) != 1)
            bail_out("cannot write %s", path);
        close(fd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char want[256];
    snprintf(want, sizeof want, "step-000000000030/shard-%05d.bin: SHA-256 differs", victim);
    ok(all_true(latest(dir) == 20 && strstr(warnings, want)),
       "a corrupt shard makes restart fall back to step 20, naming the shard");

    /* A truncated manifest in step 20. */
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/step-000000000020/MANIFEST", dir);
        if (truncate(path, 40))
            bail_out("cannot truncate %s", path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    ok(all_true(latest(dir) == 10 && strstr(warnings, "step-000000000020/MANIFEST: ")),
       "a truncated manifest makes restart fall back to step 10, naming the manifest");

    /* A missing shard in step 10: nothing usable is left. */
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/step-000000000010/shard-%05d.bin", dir, victim);
        unlink(path);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    {
        gmpi_checkpoint *ck = NULL;
        warnings[0] = 0;
        int rc = gmpi_checkpoint_find_latest(dir, collect, NULL, &ck, err, sizeof err);
        ok(all_true(rc == GMPI_ENOENT && !ck && strstr(err, "no complete checkpoint") &&
                    strstr(warnings, "step-000000000010/shard-")),
           "with every checkpoint damaged, find_latest says none is complete");
    }

    /* Saving again over damaged step 30 makes it good again. */
    ok(all_true(save(ctx, dir, 30) && latest(dir) == 30),
       "a new save of step 30 replaces the damaged one");

    /* Other names in the directory are not checkpoints. */
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/step-12", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/notes", dir);
        write_text(path, "x", 1);
        snprintf(path, sizeof path, "%s/step-00000000009x", dir);
        mkdir(path, 0755);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    ok(all_true(latest(dir) == 30 && !strstr(warnings, "step-12") && !strstr(warnings, "notes") &&
                !strstr(warnings, "9x")),
       "other names in the directory are ignored silently");

    /* A new directory with missing parents is created. */
    snprintf(path, sizeof path, "%s/new/deeper", dir);
    {
        char one = 'x';
        gmpi_checkpoint *ck = NULL;
        int rc = gmpi_checkpoint_save(ctx, path, 3, &one, 1, err, sizeof err);
        int found = rc == 0 &&
                    gmpi_checkpoint_find_latest(path, NULL, NULL, &ck, err, sizeof err) == 0 &&
                    gmpi_checkpoint_step(ck) == 3;
        gmpi_checkpoint_free(ck);
        ok(all_true(found), "a checkpoint directory is created with its parents");
    }
    /* A file where the directory should be is refused by name. */
    if (rank == 0) {
        snprintf(path, sizeof path, "%s/plainfile", dir);
        write_text(path, "x", 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    snprintf(path, sizeof path, "%s/plainfile", dir);
    ok(all_true(gmpi_checkpoint_save(ctx, path, 1, "x", 1, err, sizeof err) == GMPI_EIO &&
                (rank != 0 || strstr(err, "plainfile"))),
       "a file in place of the directory is refused, naming it");

    /* Bad arguments. */
    ok(all_true(gmpi_checkpoint_save(ctx, "", 1, "x", 1, err, sizeof err) == GMPI_EINVAL),
       "an empty directory is refused");
    {
        gmpi_checkpoint *ck;
        ok(all_true(gmpi_checkpoint_find_latest("/nonexistent/gpumarket", NULL, NULL, &ck, err,
                                                sizeof err) == GMPI_ENOENT &&
                    strstr(err, "/nonexistent/gpumarket")),
           "a missing directory is reported by name");
    }

    /* Preemption agreement: one rank's flag stops everyone. */
    ok(all_true(gmpi_preempt_install(err, sizeof err) == 0), "signal handlers install");
    ok(all_true(gmpi_preempt_agree(ctx, err, sizeof err) == 0), "no signal: ranks agree to go on");
    if (rank == size - 1)
        raise(SIGUSR1);
    ok(all_true(gmpi_preempt_agree(ctx, err, sizeof err) == 1),
       "SIGUSR1 in the last rank: every rank agrees to stop");
    gmpi_preempt_set(0);
    if (rank == 0)
        raise(SIGTERM);
    ok(all_true(gmpi_preempt_agree(ctx, err, sizeof err) == 1 &&
                (rank != 0 || gmpi_preempt_requested())),
       "SIGTERM in rank 0 does the same");
    gmpi_preempt_set(0);

    /* The manifest table, each rank in its own directory. */
    char base[1100];
    snprintf(base, sizeof base, "%s/table-%d", dir, rank);
    mkdir(base, 0755);
    for (size_t i = 0; i < sizeof mrows / sizeof mrows[0]; i++) {
        int pass = manifest_case(base, i);
        if (!ok(all_true(pass), "manifest: %s %s", mrows[i].name,
                mrows[i].good ? "is accepted" : "is refused"))
            diag("rank %d warnings: %s", rank, warnings);
    }
    done_testing();
    int status = exit_status();
    gmpi_finalize(ctx);
    return status;
}
