/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libgpumarket-mpi: preemption flag and preemption-safe checkpoints (shards
 * written and fsynced by every rank, a manifest with SHA-256 sums committed
 * atomically by rank 0, the newest complete checkpoint found on restart). */
#include "config.h"

#include "common/io.h"
#include "common/text.h"
#include "mpi-runtime/gmpi_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_MAGIC  "gpumarket-checkpoint 1"
#define MANIFEST_MAX    (1u << 22)
#define MAX_SHARDS      65536
#define MAX_SHARD_BYTES ((uint64_t)1 << 40)

/* ---------------------------------------------------------------- preemption */

static volatile sig_atomic_t preempt_flag;

static void on_preempt_signal(int sig)
{
    (void)sig;
    preempt_flag = 1;
}

int gmpi_preempt_install(char *err, size_t errlen)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_preempt_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "cannot install the SIGUSR1/SIGTERM handlers: %s", strerror(errno));
    return GMPI_OK;
}

int gmpi_preempt_requested(void)
{
    return preempt_flag != 0;
}

void gmpi_preempt_set(int on)
{
    preempt_flag = on ? 1 : 0;
}

int gmpi_preempt_agree(gmpi_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->fusion)
        return gmpi_fail(err, errlen, GMPI_EBUSY,
                         "gmpi_preempt_agree: stop the fusion engine at the step boundary first");
    int mine = preempt_flag != 0, any = 0;
    int rc = MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, ctx->comm);
    if (rc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, rc, "MPI_Allreduce (preemption agreement)");
    return any;
}

/* ------------------------------------------------------------------ helpers */

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Write a whole file durably: create, write, fsync, close. */
static int write_file(const char *path, const void *buf, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return gmpi_fail(err, errlen, GMPI_EIO, "%s: cannot create: %s; check --checkpoint-dir",
                         path, strerror(errno));
    if (gm_io_write_all(fd, buf, len) || fsync(fd)) {
        int e = errno;
        close(fd);
        return gmpi_fail(err, errlen, GMPI_EIO, "%s: cannot write: %s; check the disk", path,
                         strerror(e));
    }
    if (close(fd))
        return gmpi_fail(err, errlen, GMPI_EIO, "%s: cannot close: %s", path, strerror(errno));
    return GMPI_OK;
}

/* Read a whole file of at most max bytes (common/io.h), with the error kind
 * the runtime reports. */
static int read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                     size_t errlen)
{
    char msg[512];
    *out = gm_io_read_file(path, 0, max, len, msg, sizeof msg);
    if (*out)
        return GMPI_OK;
    int code = errno == ENOENT                     ? GMPI_ENOENT
               : errno == ENOMEM                   ? GMPI_ENOMEM
               : errno == EINVAL || errno == EFBIG ? GMPI_ECORRUPT
                                                   : GMPI_EIO;
    return gmpi_fail(err, errlen, code, "%s", msg);
}

/* mkdir -p: the checkpoint directory may be new, parents included. */
static int make_dir(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "%s: path too long", path);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return gmpi_fail(err, errlen, GMPI_EIO,
                                 "%s: cannot create the directory: %s; check --checkpoint-dir", tmp,
                                 strerror(errno));
            *p = saved;
            if (!saved)
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return gmpi_fail(err, errlen, GMPI_EIO, "%s: not a directory; check --checkpoint-dir",
                         path);
    return GMPI_OK;
}

/* ------------------------------------------------------------------- saving */

struct shard_record {
    uint64_t bytes;
    int32_t status;
    int32_t pad;
    unsigned char sha[32];
};

int gmpi_checkpoint_save(gmpi_ctx *ctx, const char *dir, uint64_t step, const void *shard,
                         size_t len, char *err, size_t errlen)
{
    char stepdir[PATH_MAX], path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    int rc = GMPI_OK, mrc;
    if (ctx->fusion)
        return gmpi_fail(err, errlen, GMPI_EBUSY,
                         "gmpi_checkpoint_save: stop the fusion engine first");
    if (!dir || !*dir || (len > 0 && !shard))
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "gmpi_checkpoint_save: no directory or no shard data");
    if ((uint64_t)len > MAX_SHARD_BYTES)
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "gmpi_checkpoint_save: a %zu-byte shard is above 1 TiB", len);
    if (snprintf(stepdir, sizeof stepdir, "%s/step-%012" PRIu64, dir, step) >= (int)sizeof stepdir)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "--checkpoint-dir %s: path too long", dir);
    snprintf(path, sizeof path, "%s/MANIFEST", stepdir);

    /* Rank 0 prepares the directory and withdraws any older manifest of this
     * step before a shard changes, so no manifest ever covers new shards it
     * did not check. */
    if (ctx->rank == 0) {
        rc = make_dir(dir, err, errlen);
        if (!rc)
            rc = make_dir(stepdir, err, errlen);
        if (!rc && unlink(path) && errno != ENOENT)
            rc = gmpi_fail(err, errlen, GMPI_EIO, "%s: cannot remove: %s", path, strerror(errno));
        if (!rc && fsync_path(stepdir))
            rc = gmpi_fail(err, errlen, GMPI_EIO, "%s: fsync failed: %s", stepdir, strerror(errno));
    }
    mrc = MPI_Bcast(&rc, 1, MPI_INT, 0, ctx->comm);
    if (mrc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, mrc, "MPI_Bcast (checkpoint start)");
    if (rc) {
        if (ctx->rank != 0)
            gmpi_fail(err, errlen, rc, "checkpoint %s: rank 0 could not prepare the directory",
                      stepdir);
        return rc;
    }

    struct shard_record mine;
    memset(&mine, 0, sizeof mine);
    mine.bytes = len;
    snprintf(tmp, sizeof tmp, "%s/shard-%05d.bin", stepdir, ctx->rank);
    mine.status = write_file(tmp, shard, len, err, errlen);
    sha256(len ? shard : "", len, mine.sha);
    /* Test aid: GPUMARKET_TEST_KILL_IN_SAVE=RANK kills that rank with
     * SIGKILL between its shard and the manifest, as a preemption can. */
    const char *kill_rank = getenv("GPUMARKET_TEST_KILL_IN_SAVE");
    if (kill_rank && *kill_rank && atoi(kill_rank) == ctx->rank)
        raise(SIGKILL);

    struct shard_record *all = NULL;
    if (ctx->rank == 0 && !(all = calloc((size_t)ctx->size, sizeof *all)))
        rc = GMPI_ENOMEM;
    mrc = MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, 0,
                     ctx->comm);
    if (mrc != MPI_SUCCESS) {
        free(all);
        return gmpi_mpi_fail(err, errlen, mrc, "MPI_Gather (checkpoint shards)");
    }
    if (ctx->rank == 0 && !rc) {
        for (int i = 0; i < ctx->size && !rc; i++)
            if (all[i].status)
                rc = gmpi_fail(err, errlen, all[i].status,
                               "checkpoint %s: rank %d could not write its shard (see its message)",
                               stepdir, i);
        size_t cap = 128 + (size_t)ctx->size * 120, used = 0;
        char *text = rc ? NULL : malloc(cap);
        if (!rc && !text)
            rc = gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory for the manifest");
        if (!rc) {
            used += (size_t)snprintf(text + used, cap - used, "%s\nstep %" PRIu64 "\nshards %d\n",
                                     MANIFEST_MAGIC, step, ctx->size);
            for (int i = 0; i < ctx->size; i++) {
                char h[65];
                gm_hex_encode(all[i].sha, 32, h);
                used += (size_t)snprintf(text + used, cap - used, "shard %d %" PRIu64 " %s\n", i,
                                         all[i].bytes, h);
            }
            unsigned char msha[32];
            char h[65];
            sha256(text, used, msha);
            gm_hex_encode(msha, 32, h);
            used += (size_t)snprintf(text + used, cap - used, "manifest-sha256 %s\n", h);
            /* Shard names must be durable before the manifest points at them. */
            if (fsync_path(stepdir))
                rc = gmpi_fail(err, errlen, GMPI_EIO, "%s: fsync failed: %s", stepdir,
                               strerror(errno));
            /* Temporary file, fsync, rename, fsync stepdir (common/io.h). */
            char msg[512];
            if (!rc && gm_io_write_file(path, text, used, 0644, 0, msg, sizeof msg))
                rc = gmpi_fail(err, errlen, GMPI_EIO, "%s; check the disk", msg);
            if (!rc && fsync_path(dir))
                rc = gmpi_fail(err, errlen, GMPI_EIO, "%s: fsync failed: %s", dir, strerror(errno));
        }
        free(text);
    }
    free(all);
    int code = ctx->rank == 0 ? rc : mine.status;
    mrc = MPI_Bcast(&code, 1, MPI_INT, 0, ctx->comm);
    if (mrc != MPI_SUCCESS)
        return gmpi_mpi_fail(err, errlen, mrc, "MPI_Bcast (checkpoint commit)");
    if (code && ctx->rank != 0 && !mine.status)
        gmpi_fail(err, errlen, code, "checkpoint %s: rank 0 could not commit the manifest",
                  stepdir);
    return code ? code : mine.status;
}

/* ------------------------------------------------------------------ loading */

struct gmpi_checkpoint {
    char stepdir[PATH_MAX];
    uint64_t step;
    int shards;
    uint64_t *bytes;
    unsigned char (*sha)[32];
};

void gmpi_checkpoint_free(gmpi_checkpoint *ck)
{
    if (!ck)
        return;
    free(ck->bytes);
    free(ck->sha);
    free(ck);
}

uint64_t gmpi_checkpoint_step(const gmpi_checkpoint *ck)
{
    return ck->step;
}
int gmpi_checkpoint_shard_count(const gmpi_checkpoint *ck)
{
    return ck->shards;
}
size_t gmpi_checkpoint_shard_size(const gmpi_checkpoint *ck, int shard)
{
    return shard >= 0 && shard < ck->shards ? (size_t)ck->bytes[shard] : 0;
}

/* A decimal number with no sign, no leading zero (unless "0"), at most max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    return gm_text_parse_u64_mem(s, n, max, GM_TEXT_U64_CANONICAL, out);
}

/* Take one line "<keyword> <rest>" from *p; rest is returned (not NUL-ended). */
static int take_line(const char **p, const char *end, const char *keyword, const char **rest,
                     size_t *restlen)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t kl = strlen(keyword);
    if (!nl || (size_t)(nl - *p) < kl + 1 || memcmp(*p, keyword, kl) || (*p)[kl] != ' ')
        return -1;
    *rest = *p + kl + 1;
    *restlen = (size_t)(nl - *rest);
    *p = nl + 1;
    return 0;
}

/* Parse and check a manifest; the message names the line that is wrong. */
static int parse_manifest(const char *path, const char *text, size_t len, gmpi_checkpoint *ck,
                          char *err, size_t errlen)
{
    const char *p = text, *end = text + len, *rest;
    size_t rl;
    uint64_t v;
    size_t ml = strlen(MANIFEST_MAGIC);
    if (memchr(text, 0, len))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: contains a NUL byte", path);
    if (len < ml + 1 || memcmp(p, MANIFEST_MAGIC "\n", ml + 1))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: line 1 is not '%s'", path,
                         MANIFEST_MAGIC);
    p += ml + 1;
    if (take_line(&p, end, "step", &rest, &rl) || parse_u64(rest, rl, UINT64_MAX, &ck->step))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: line 2 is not 'step N'", path);
    if (take_line(&p, end, "shards", &rest, &rl) || parse_u64(rest, rl, MAX_SHARDS, &v) || v == 0)
        return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                         "%s: line 3 is not 'shards N' with N from 1 to %d", path, MAX_SHARDS);
    ck->shards = (int)v;
    ck->bytes = calloc(v, sizeof *ck->bytes);
    ck->sha = calloc(v, sizeof *ck->sha);
    if (!ck->bytes || !ck->sha)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < ck->shards; i++) {
        char want[32];
        int wl = snprintf(want, sizeof want, "%d ", i);
        const char *sp;
        if (take_line(&p, end, "shard", &rest, &rl) || rl < (size_t)wl + 66 ||
            memcmp(rest, want, (size_t)wl) || !(sp = memchr(rest + wl, ' ', rl - (size_t)wl)) ||
            parse_u64(rest + wl, (size_t)(sp - rest - wl), MAX_SHARD_BYTES, &ck->bytes[i]) ||
            (size_t)(rest + rl - sp) != 65 || gm_hex_decode(sp + 1, 64, ck->sha[i], 32))
            return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                             "%s: line %d is not 'shard %d BYTES SHA256'", path, i + 4, i);
    }
    size_t covered = (size_t)(p - text);
    unsigned char want[32], got[32];
    if (take_line(&p, end, "manifest-sha256", &rest, &rl) || rl != 64 ||
        gm_hex_decode(rest, 64, want, 32))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                         "%s: the last line is not 'manifest-sha256 HEX' (truncated?)", path);
    if (p != end)
        return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                         "%s: unexpected data after the manifest-sha256 line", path);
    sha256(text, covered, got);
    if (memcmp(want, got, 32))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                         "%s: manifest-sha256 does not match its contents", path);
    return GMPI_OK;
}

int gmpi_checkpoint_read_shard(const gmpi_checkpoint *ck, int shard, void *buf, size_t len,
                               char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    if (shard < 0 || shard >= ck->shards)
        return gmpi_fail(err, errlen, GMPI_EINVAL, "checkpoint %s has no shard %d", ck->stepdir,
                         shard);
    snprintf(path, sizeof path, "%s/shard-%05d.bin", ck->stepdir, shard);
    if ((uint64_t)len != ck->bytes[shard])
        return gmpi_fail(err, errlen, GMPI_EINVAL,
                         "%s: the caller expects %zu bytes, the manifest says %" PRIu64, path, len,
                         ck->bytes[shard]);
    char *data;
    size_t got;
    int rc = read_file(path, (size_t)ck->bytes[shard], &data, &got, err, errlen);
    if (rc == GMPI_ECORRUPT || (!rc && got != len)) {
        free(data);
        return gmpi_fail(err, errlen, GMPI_ECORRUPT,
                         "%s: size differs from the manifest (%" PRIu64 " bytes)", path,
                         ck->bytes[shard]);
    }
    if (rc)
        return rc;
    unsigned char sha[32];
    sha256(data, got, sha);
    if (memcmp(sha, ck->sha[shard], 32)) {
        free(data);
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: SHA-256 differs from the manifest", path);
    }
    if (len)
        memcpy(buf, data, len);
    free(data);
    return GMPI_OK;
}

/* Check one step directory completely; fills ck on success. */
static int check_step(const char *stepdir, gmpi_checkpoint *ck, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(ck->stepdir, sizeof ck->stepdir, "%s", stepdir);
    snprintf(path, sizeof path, "%s/MANIFEST", stepdir);
    char *text;
    size_t len;
    int rc = read_file(path, MANIFEST_MAX, &text, &len, err, errlen);
    if (rc == GMPI_ENOENT)
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: missing (the save was interrupted)",
                         path);
    if (rc)
        return rc;
    rc = parse_manifest(path, text, len, ck, err, errlen);
    free(text);
    if (rc)
        return rc;
    const char *base = strrchr(stepdir, '/');
    char want[64];
    snprintf(want, sizeof want, "step-%012" PRIu64, ck->step);
    if (strcmp(base ? base + 1 : stepdir, want))
        return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s: names step %" PRIu64 " but lives in %s",
                         path, ck->step, stepdir);
    for (int i = 0; i < ck->shards; i++) {
        size_t n = (size_t)ck->bytes[i];
        void *buf = malloc(n + 1);
        if (!buf)
            return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory checking %s", stepdir);
        rc = gmpi_checkpoint_read_shard(ck, i, buf, n, err, errlen);
        free(buf);
        if (rc == GMPI_ENOENT || rc == GMPI_EIO)
            return gmpi_fail(err, errlen, GMPI_ECORRUPT, "%s/shard-%05d.bin: missing or unreadable",
                             stepdir, i);
        if (rc)
            return rc;
    }
    return GMPI_OK;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int gmpi_checkpoint_find_latest(const char *dir, gmpi_warn_fn warn, void *warn_arg,
                                gmpi_checkpoint **out, char *err, size_t errlen)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return gmpi_fail(err, errlen, errno == ENOENT ? GMPI_ENOENT : GMPI_EIO,
                         "--checkpoint-dir %s: %s", dir, strerror(errno));
    size_t n = 0, cap = 16;
    uint64_t *steps = malloc(cap * sizeof *steps);
    struct dirent *e;
    while (steps && (e = readdir(d))) {
        uint64_t s;
        /* Exactly "step-" and 12 digits; anything else is not ours. */
        if (strncmp(e->d_name, "step-", 5) || strlen(e->d_name) != 17)
            continue;
        const char *digits = e->d_name + 5;
        while (*digits == '0' && digits[1])
            digits++;
        if (parse_u64(digits, strlen(digits), UINT64_MAX, &s))
            continue;
        if (n == cap) {
            uint64_t *bigger = realloc(steps, 2 * cap * sizeof *steps);
            if (!bigger) {
                free(steps);
                steps = NULL;
                break;
            }
            steps = bigger;
            cap *= 2;
        }
        steps[n++] = s;
    }
    closedir(d);
    if (!steps)
        return gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory listing %s", dir);
    qsort(steps, n, sizeof *steps, cmp_desc);
    int rc = GMPI_ENOENT;
    for (size_t i = 0; i < n; i++) {
        char stepdir[PATH_MAX], why[1024];
        snprintf(stepdir, sizeof stepdir, "%s/step-%012" PRIu64, dir, steps[i]);
        gmpi_checkpoint *ck = calloc(1, sizeof *ck);
        if (!ck) {
            rc = gmpi_fail(err, errlen, GMPI_ENOMEM, "out of memory reading %s", stepdir);
            break;
        }
        int crc = check_step(stepdir, ck, why, sizeof why);
        if (crc == GMPI_OK) {
            *out = ck;
            rc = GMPI_OK;
            break;
        }
        gmpi_checkpoint_free(ck);
        if (crc == GMPI_ENOMEM) {
            rc = gmpi_fail(err, errlen, crc, "%s", why);
            break;
        }
        if (warn) {
            char msg[1200];
            snprintf(msg, sizeof msg, "%s; skipping this checkpoint for an older one", why);
            warn(warn_arg, msg);
        }
    }
    free(steps);
    if (rc == GMPI_ENOENT)
        gmpi_fail(err, errlen, GMPI_ENOENT, "--checkpoint-dir %s: no complete checkpoint", dir);
    return rc;
}
