/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The append-only receipt ledger: a framed record file (torn tails detected
 * and recovered), durable group-committed appends safe across threads and
 * processes, the incremental Merkle head, checkpoints and full verification.
 *
 * DIR/ledger layout (integers big-endian):
 *   header: "GMLEDGER" | u32 version (1) | u32 origin length | origin | u32 CRC32C
 *   record: u32 "GMRC" | u32 data length | u32 CRC32C of the previous 8 bytes
 *           | data (a signed receipt) | SHA-256(0x00 || data), the RFC 6962 leaf hash
 * A crash can only leave a prefix of the last record (one pwrite per batch
 * under an exclusive flock), which is told apart from damage: a full record
 * header has a CRC, and a complete record has its hash. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC   "GMLEDGER"
#define FILE_VERSION 1
#define REC_MAGIC    0x474d5243u /* "GMRC" */
#define REC_HDR      12
#define REC_OVERHEAD (REC_HDR + GM_HASH_LEN)

/* A batch being signed: claimed by index, shared by reference count so no
 * helper ever touches an entry after its owner has returned. */
struct signwork {
    size_t n, next; /* next: atomic claim index */
    int refs;       /* under the ledger mutex */
    struct pending *items[];
};

struct pending {
    struct gm_receipt *r;
    const gm_key *key;
    int rc;
    bool done;
    char *signed_buf; /* the signed receipt, malloc'd by its signer */
    size_t signed_len;
    uint8_t leaf[GM_HASH_LEN];
    char err[256];
    pthread_cond_t cv; /* each waiter sleeps on its own: no thundering herd */
    struct pending *next;
};

struct gm_ledger {
    char *dir, *path;
    int fd;
    bool writable;
    char origin[GM_CHECKPOINT_ORIGIN_MAX + 1];
    uint64_t end; /* offset after the last whole record */
    uint64_t recovered;
    gm_merkle *tree;
    uint64_t *offsets; /* record start offsets, tree-size entries */
    uint64_t noffsets_cap;
    char keys_recorded[9]; /* key id last written to verifier-keys */
    /* Group commit: appenders queue while a leader commits the previous
     * batch; the next leader takes the whole queue, numbers it, has every
     * waiting appender help sign it (all cores), writes it in one pwrite and
     * makes it durable with one fdatasync. */
    pthread_mutex_t mu;
    struct pending *head, *tail;
    bool busy;                /* a leader is committing */
    struct signwork *signing; /* the batch being signed */
    size_t sign_remaining;
    struct pending *leader; /* woken when sign_remaining reaches 0 */
    /* Signing helpers: CPUs - 1 threads, started at the first append, that
     * sign each batch beside its leader (a lone appender uses every core). */
    int nhelpers;
    pthread_t *helpers;
    pthread_cond_t helper_cv;
    uint64_t sign_generation;
    bool stopping;
    bool broken;
};

/* ------------------------------------------------------------ framing */

long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen)
{
    if (len < REC_HDR)
        return 0;
    uint32_t magic = gm_settle_get_be32(buf), dlen = gm_settle_get_be32(buf + 4);
    if (magic == 0) {
        /* After a power loss some filesystems leave an extension that was
         * never written as zeros: zeros up to the end are a torn tail too. */
        size_t i = 0;
        while (i < len && buf[i] == 0)
            i++;
        if (i == len)
            return 0;
    }
    if (magic != REC_MAGIC || gm_settle_get_be32(buf + 8) != gm_settle_crc32c(0, buf, 8))
        return gm_errf(err, errlen, "record header damaged (magic or header checksum wrong)");
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX)
        return gm_errf(err, errlen, "record length %u out of range", dlen);
    if (len < REC_OVERHEAD + (size_t)dlen)
        return 0;
    if (check_hash) {
        uint8_t h[GM_HASH_LEN];
        gm_merkle_leaf_hash(buf + REC_HDR, dlen, h);
        if (memcmp(h, buf + REC_HDR + dlen, GM_HASH_LEN) != 0)
            return gm_errf(err, errlen,
                           "record data does not match its leaf hash (the record was altered)");
    }
    if (data_off)
        *data_off = REC_HDR;
    if (data_len)
        *data_len = dlen;
    return (long)(REC_OVERHEAD + dlen);
}

long gm_ledger_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            char *err, size_t errlen)
{
    return gm_settle_parse_record(buf, len, data_off, data_len, true, err, errlen);
}

static size_t header_len(size_t olen)
{
    return 8 + 4 + 4 + olen + 4;
}

static int make_header(const char *origin, uint8_t *out, size_t *len)
{
    size_t olen = strlen(origin);
    memcpy(out, FILE_MAGIC, 8);
    gm_settle_put_be32(out + 8, FILE_VERSION);
    gm_settle_put_be32(out + 12, (uint32_t)olen);
    memcpy(out + 16, origin, olen);
    gm_settle_put_be32(out + 16 + olen, gm_settle_crc32c(0, out, 16 + olen));
    *len = header_len(olen);
    return 0;
}

/* Read and check the file header; fills origin, returns its length or -1. */
long gm_settle_read_ledger_header(int fd, const char *path, char *origin, char *err, size_t errlen)
{
    uint8_t h[16 + GM_CHECKPOINT_ORIGIN_MAX + 4];
    ssize_t n = pread(fd, h, sizeof h, 0);
    if (n < 16 || memcmp(h, FILE_MAGIC, 8) != 0)
        return gm_errf(err, errlen, "%s: not a gpumarket ledger (file header damaged or missing)",
                       path);
    uint32_t ver = gm_settle_get_be32(h + 8), olen = gm_settle_get_be32(h + 12);
    if (ver != FILE_VERSION)
        return gm_errf(err, errlen, "%s: ledger format version %u, this gpumarket reads version %d",
                       path, ver, FILE_VERSION);
    if (olen == 0 || olen > GM_CHECKPOINT_ORIGIN_MAX || (size_t)n < header_len(olen))
        return gm_errf(err, errlen, "%s: file header damaged (origin length)", path);
    if (gm_settle_get_be32(h + 16 + olen) != gm_settle_crc32c(0, h, 16 + olen))
        return gm_errf(err, errlen, "%s: file header damaged (checksum)", path);
    memcpy(origin, h + 16, olen);
    origin[olen] = '\0';
    return (long)header_len(olen);
}

static int add_record(gm_ledger *l, uint64_t off, const uint8_t hash[GM_HASH_LEN])
{
    uint64_t n = gm_merkle_size(l->tree);
    if (n == l->noffsets_cap) {
        uint64_t cap = l->noffsets_cap ? l->noffsets_cap * 2 : 1024;
        void *p = realloc(l->offsets, cap * sizeof *l->offsets);
        if (!p)
            return -1;
        l->offsets = p;
        l->noffsets_cap = cap;
    }
    if (gm_merkle_append(l->tree, hash))
        return -1;
    l->offsets[n] = off;
    return 0;
}

/* Take in the records between l->end and the file's end.  With `recover`
 * (exclusive lock held) a torn tail is truncated away.  `check_all`: check
 * every new record's hash (records others wrote), else only the last. */
static int catch_up(gm_ledger *l, bool recover, bool check_all, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return gm_errf(err, errlen, "%s: %s", l->path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    if (size < l->end)
        return gm_errf(
            err, errlen,
            "%s: the ledger shrank from %llu to %llu bytes behind our back (truncated by hand?)",
            l->path, (unsigned long long)l->end, (unsigned long long)size);
    if (size == l->end)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t base = l->end - l->end % (uint64_t)page;
    size_t maplen = (size_t)(size - base);
    uint8_t *map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, l->fd, (off_t)base);
    if (map == MAP_FAILED)
        return gm_errf(err, errlen, "%s: cannot map: %s", l->path, strerror(errno));
    uint64_t off = l->end, last_off = 0;
    int rc = 0;
    bool have_last = false;
    while (off < size) {
        size_t doff, dlen;
        char msg[200];
        long n = gm_settle_parse_record(map + (off - base), (size_t)(size - off), &doff, &dlen,
                                        check_all, msg, sizeof msg);
        if (n < 0) {
            rc = gm_errf(err, errlen,
                         "%s: record %llu (byte %llu): %s; run gpumarket ledger verify", l->path,
                         (unsigned long long)gm_merkle_size(l->tree), (unsigned long long)off, msg);
            break;
        }
        if (n == 0)
            break; /* torn tail */
        if (add_record(l, off, map + (off - base) + doff + dlen)) {
            rc = gm_errf(err, errlen, "out of memory reading %s", l->path);
            break;
        }
        have_last = true;
        last_off = off;
        off += (uint64_t)n;
    }
    if (rc == 0 && have_last && !check_all) {
        /* The last whole record is where a crash could have left garbage. */
        char msg[200];
        if (gm_settle_parse_record(map + (last_off - base), (size_t)(off - last_off), NULL, NULL,
                                   true, msg, sizeof msg) < 0)
            rc =
                gm_errf(err, errlen, "%s: record %llu (byte %llu): %s; run gpumarket ledger verify",
                        l->path, (unsigned long long)gm_merkle_size(l->tree) - 1,
                        (unsigned long long)last_off, msg);
    }
    munmap(map, maplen);
    if (rc)
        return rc;
    l->end = off;
    if (off < size) {
        l->recovered += size - off;
        if (recover) {
            if (ftruncate(l->fd, (off_t)off) != 0 || fdatasync(l->fd) != 0)
                return gm_errf(err, errlen, "%s: cannot truncate the torn tail: %s", l->path,
                               strerror(errno));
        }
    }
    return 0;
}

static int lock_fd(int fd, int op, const char *path, char *err, size_t errlen)
{
    while (flock(fd, op) != 0) {
        if (errno != EINTR)
            return gm_errf(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
    }
    return 0;
}

void gm_ledger_close(gm_ledger *l)
{
    if (!l)
        return;
    if (l->nhelpers > 0) {
        pthread_mutex_lock(&l->mu);
        l->stopping = true;
        pthread_cond_broadcast(&l->helper_cv);
        pthread_mutex_unlock(&l->mu);
        for (int i = 0; i < l->nhelpers; i++)
            pthread_join(l->helpers[i], NULL);
    }
    free(l->helpers);
    pthread_cond_destroy(&l->helper_cv);
    if (l->fd >= 0)
        close(l->fd);
    pthread_mutex_destroy(&l->mu);
    gm_merkle_free(l->tree);
    free(l->offsets);
    free(l->dir);
    free(l->path);
    free(l);
}

gm_ledger *gm_ledger_open(const char *dir, int flags, const char *origin, char *err, size_t errlen)
{
    gm_ledger *l = calloc(1, sizeof *l);
    if (!l) {
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    l->fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->helper_cv, NULL);
    l->dir = strdup(dir);
    l->tree = gm_merkle_new();
    size_t plen = strlen(dir) + 8;
    l->path = malloc(plen);
    if (!l->dir || !l->tree || !l->path) {
        gm_errf(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(l->path, plen, "%s/ledger", dir);
    l->writable = (flags & (GM_LEDGER_WRITE | GM_LEDGER_CREATE)) != 0;
    if ((flags & GM_LEDGER_CREATE) && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        gm_errf(err, errlen, "%s: cannot create the ledger directory: %s", dir, strerror(errno));
        goto fail;
    }
    int oflags = l->writable ? O_RDWR : O_RDONLY;
    if (flags & GM_LEDGER_CREATE)
        oflags |= O_CREAT;
    l->fd = open(l->path, oflags | O_CLOEXEC, 0640);
    if (l->fd < 0) {
        gm_errf(err, errlen, "%s: cannot open the ledger: %s%s", l->path, strerror(errno),
                errno == ENOENT ? " (create it with gpumarket ledger append, or check --ledger)"
                                : "");
        goto fail;
    }
    if (lock_fd(l->fd, l->writable ? LOCK_EX : LOCK_SH, l->path, err, errlen))
        goto fail;
    struct stat st;
    if (fstat(l->fd, &st) != 0) {
        gm_errf(err, errlen, "%s: %s", l->path, strerror(errno));
        goto fail_locked;
    }
    if (st.st_size == 0) {
        if (!(flags & GM_LEDGER_CREATE) || !origin) {
            gm_errf(err, errlen, "%s: empty ledger file%s", l->path,
                    origin ? "" : " and no origin given to create it");
            goto fail_locked;
        }
        size_t olen = strlen(origin), hlen;
        if (olen == 0 || olen > GM_CHECKPOINT_ORIGIN_MAX || strchr(origin, '\n')) {
            gm_errf(err, errlen, "ledger origin must be one line of 1 to %d bytes",
                    GM_CHECKPOINT_ORIGIN_MAX);
            goto fail_locked;
        }
        uint8_t hdr[16 + GM_CHECKPOINT_ORIGIN_MAX + 4];
        make_header(origin, hdr, &hlen);
        if (pwrite(l->fd, hdr, hlen, 0) != (ssize_t)hlen || fsync(l->fd) != 0) {
            gm_errf(err, errlen, "%s: cannot write the header: %s", l->path, strerror(errno));
            goto fail_locked;
        }
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    long hl = gm_settle_read_ledger_header(l->fd, l->path, l->origin, err, errlen);
    if (hl < 0)
        goto fail_locked;
    if (origin && strcmp(origin, l->origin) != 0) {
        gm_errf(err, errlen, "%s: the ledger's origin is \"%s\", not \"%s\"", l->path, l->origin,
                origin);
        goto fail_locked;
    }
    l->end = (uint64_t)hl;
    if (catch_up(l, l->writable, false, err, errlen))
        goto fail_locked;
    flock(l->fd, LOCK_UN);
    return l;
fail_locked:
    flock(l->fd, LOCK_UN);
fail:
    gm_ledger_close(l);
    return NULL;
}

const char *gm_ledger_origin(const gm_ledger *l)
{
    return l->origin;
}
uint64_t gm_ledger_size(const gm_ledger *l)
{
    return gm_merkle_size(l->tree);
}
const gm_merkle *gm_ledger_tree(const gm_ledger *l)
{
    return l->tree;
}
uint64_t gm_ledger_recovered_bytes(const gm_ledger *l)
{
    return l->recovered;
}

int gm_ledger_refresh(gm_ledger *l, char *err, size_t errlen)
{
    if (lock_fd(l->fd, LOCK_SH, l->path, err, errlen))
        return -1;
    int rc = catch_up(l, false, true, err, errlen);
    flock(l->fd, LOCK_UN);
    return rc;
}

char *gm_ledger_read(gm_ledger *l, uint64_t index, size_t *len, char *err, size_t errlen)
{
    if (index >= gm_merkle_size(l->tree)) {
        gm_errf(err, errlen, "index %llu is past the end of the ledger (size %llu)",
                (unsigned long long)index, (unsigned long long)gm_merkle_size(l->tree));
        return NULL;
    }
    uint8_t hdr[REC_HDR];
    uint64_t off = l->offsets[index];
    if (pread(l->fd, hdr, REC_HDR, (off_t)off) != REC_HDR) {
        gm_errf(err, errlen, "%s: cannot read record %llu", l->path, (unsigned long long)index);
        return NULL;
    }
    uint32_t dlen = gm_settle_get_be32(hdr + 4);
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX) {
        gm_errf(err, errlen, "%s: record %llu damaged", l->path, (unsigned long long)index);
        return NULL;
    }
    uint8_t *rec = malloc(REC_OVERHEAD + dlen + 1);
    if (!rec) {
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    char msg[200];
    if (pread(l->fd, rec, REC_OVERHEAD + dlen, (off_t)off) != (ssize_t)(REC_OVERHEAD + dlen) ||
        gm_settle_parse_record(rec, REC_OVERHEAD + dlen, NULL, NULL, true, msg, sizeof msg) <= 0 ||
        memcmp(rec + REC_HDR + dlen, gm_merkle_leaf(l->tree, index), GM_HASH_LEN) != 0) {
        gm_errf(err, errlen, "%s: record %llu is damaged; run gpumarket ledger verify", l->path,
                (unsigned long long)index);
        free(rec);
        return NULL;
    }
    memmove(rec, rec + REC_HDR, dlen);
    rec[dlen] = '\0';
    *len = dlen;
    return (char *)rec;
}

/* ------------------------------------------------------------ appends */

/* Make sure DIR/verifier-keys lists the key (under the ledger lock), so
 * verification keeps working after the key is rotated. */
static int record_key(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
{
    if (strcmp(l->keys_recorded, gm_key_id_hex(key)) == 0)
        return 0;
    char *line = gm_key_verifier_line(key);
    if (!line)
        return gm_errf(err, errlen, "the signing key has no name");
    size_t plen = strlen(l->dir) + 16;
    char *path = malloc(plen);
    int rc = -1;
    if (!path) {
        free(line);
        return gm_errf(err, errlen, "out of memory");
    }
    snprintf(path, plen, "%s/verifier-keys", l->dir);
    size_t len = 0;
    char msg[256];
    char *cur = gm_io_read_file(path, 0, 1 << 20, &len, msg, sizeof msg);
    bool present = false;
    if (cur) {
        for (char *s = cur; *s;) {
            char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            if (n == strlen(line) && memcmp(s, line, n) == 0)
                present = true;
            s += n + (nl ? 1 : 0);
        }
    }
    if (!present) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        size_t ll = strlen(line);
        line[ll] = '\n';
        if (fd < 0 || write(fd, line, ll + 1) != (ssize_t)(ll + 1) || fsync(fd) != 0) {
            gm_errf(err, errlen, "%s: cannot record the verifier key: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
    }
    snprintf(l->keys_recorded, sizeof l->keys_recorded, "%s", gm_key_id_hex(key));
    rc = 0;
out:
    free(cur);
    free(path);
    free(line);
    return rc;
}

/* Sign unclaimed entries of the batch (leader and helpers alike). */
static void sign_entries(gm_ledger *l, struct signwork *w)
{
    for (;;) {
        size_t i = __atomic_fetch_add(&w->next, 1, __ATOMIC_ACQ_REL);
        if (i >= w->n)
            break;
        struct pending *p = w->items[i];
        p->signed_buf = gm_receipt_sign(p->r, p->key, &p->signed_len, p->err, sizeof p->err);
        if (p->signed_buf && p->signed_len > GM_LEDGER_RECORD_MAX) {
            snprintf(p->err, sizeof p->err,
                     "signed receipt of %zu bytes is larger than a record may be", p->signed_len);
            free(p->signed_buf);
            p->signed_buf = NULL;
        }
        if (p->signed_buf)
            gm_merkle_leaf_hash(p->signed_buf, p->signed_len, p->leaf);
        pthread_mutex_lock(&l->mu);
        if (--l->sign_remaining == 0 && l->leader)
            pthread_cond_signal(&l->leader->cv);
        pthread_mutex_unlock(&l->mu);
    }
}

/* Drop a reference to the batch; the last one frees it.  Mutex held. */
static void signwork_unref(struct signwork *w)
{
    if (--w->refs == 0)
        free(w);
}

static void *helper_main(void *arg)
{
    gm_ledger *l = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stopping && (!l->signing || l->sign_generation == seen))
            pthread_cond_wait(&l->helper_cv, &l->mu);
        if (l->stopping)
            break;
        struct signwork *w = l->signing;
        seen = l->sign_generation;
        w->refs++;
        pthread_mutex_unlock(&l->mu);
        sign_entries(l, w);
        pthread_mutex_lock(&l->mu);
        signwork_unref(w);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Start the signing helpers once (mutex not held).  Without them the
 * leader signs alone, which is correct, only slower. */
static void start_helpers(gm_ledger *l)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int want = ncpu > 1 ? (int)(ncpu > 64 ? 63 : ncpu - 1) : 0;
    if (want == 0)
        return;
    l->helpers = calloc((size_t)want, sizeof *l->helpers);
    if (!l->helpers)
        return;
    for (int i = 0; i < want; i++) {
        if (pthread_create(&l->helpers[i], NULL, helper_main, l) != 0)
            break;
        l->nhelpers++;
    }
}

/* Write one batch: number it under the exclusive file lock, sign it on the
 * waiting threads, write it with one pwrite.  The caller syncs it.  Returns
 * 0, or -1 with err when none of it was written. */
static int commit_batch(gm_ledger *l, struct pending *me, struct pending *batch, char *err,
                        size_t errlen)
{
    struct pending *p;
    size_t count = 0;
    for (p = batch; p; p = p->next)
        count++;
    if (lock_fd(l->fd, LOCK_EX, l->path, err, errlen) != 0)
        return -1;
    if (catch_up(l, true, true, err, errlen) != 0)
        goto fail_unlock;
    for (p = batch; p; p = p->next)
        if (record_key(l, p->key, err, errlen) != 0)
            goto fail_unlock;
    /* Number the batch, then let its waiting appenders sign in parallel. */
    struct signwork *w = malloc(sizeof *w + count * sizeof w->items[0]);
    if (!w) {
        gm_errf(err, errlen, "out of memory");
        goto fail_unlock;
    }
    w->n = count;
    w->next = 0;
    w->refs = 1;
    uint64_t seq = gm_merkle_size(l->tree);
    size_t k = 0;
    pthread_mutex_lock(&l->mu);
    l->signing = w;
    l->sign_remaining = count;
    l->leader = me;
    for (p = batch; p; p = p->next) {
        p->r->sequence = (int64_t)seq++;
        w->items[k++] = p;
    }
    if (count > 1) {
        l->sign_generation++;
        pthread_cond_broadcast(&l->helper_cv);
    }
    pthread_mutex_unlock(&l->mu);
    sign_entries(l, w);
    pthread_mutex_lock(&l->mu);
    while (l->sign_remaining > 0)
        pthread_cond_wait(&me->cv, &l->mu);
    l->leader = NULL;
    /* Unpublish before dropping our reference, so no late helper finds it freed. */
    l->signing = NULL;
    signwork_unref(w);
    pthread_mutex_unlock(&l->mu);

    size_t used = 0;
    for (p = batch; p; p = p->next) {
        if (!p->signed_buf) {
            /* Receipts were checked before queueing, so this is OpenSSL failing. */
            gm_errf(err, errlen, "%s", p->err);
            goto fail_unlock;
        }
        used += REC_OVERHEAD + p->signed_len;
    }
    uint8_t *buf = malloc(used);
    if (!buf) {
        gm_errf(err, errlen, "out of memory");
        goto fail_unlock;
    }
    size_t o = 0;
    for (p = batch; p; p = p->next) {
        uint8_t *rec = buf + o;
        gm_settle_put_be32(rec, REC_MAGIC);
        gm_settle_put_be32(rec + 4, (uint32_t)p->signed_len);
        gm_settle_put_be32(rec + 8, gm_settle_crc32c(0, rec, 8));
        memcpy(rec + REC_HDR, p->signed_buf, p->signed_len);
        memcpy(rec + REC_HDR + p->signed_len, p->leaf, GM_HASH_LEN);
        o += REC_OVERHEAD + p->signed_len;
    }
    size_t done = 0;
    while (done < used) {
        ssize_t n = pwrite(l->fd, buf + done, used - done, (off_t)(l->end + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            gm_errf(err, errlen, "%s: write failed: %s", l->path,
                    n < 0 ? strerror(errno) : "no progress");
            /* Leave no partial batch behind (the next open would cut it anyway). */
            if (ftruncate(l->fd, (off_t)l->end) != 0)
                l->broken = true;
            free(buf);
            goto fail_unlock;
        }
        done += (size_t)n;
    }
    free(buf);
    uint64_t off = l->end;
    for (p = batch; p; p = p->next) {
        if (add_record(l, off, p->leaf) != 0)
            l->broken = true; /* the in-memory view is lost; the file is fine */
        off += REC_OVERHEAD + p->signed_len;
    }
    l->end = off;
    flock(l->fd, LOCK_UN);
    return 0;
fail_unlock:
    flock(l->fd, LOCK_UN);
    return -1;
}

/* Queue entries[0..n) as one group and wait until they are durable (or
 * failed); the calling thread may lead the commit. */
static int append_entries(gm_ledger *l, struct pending *entries, size_t n, char *err, size_t errlen)
{
    struct pending *me = &entries[n - 1];
    for (size_t i = 0; i < n; i++) {
        pthread_cond_init(&entries[i].cv, NULL);
        entries[i].next = i + 1 < n ? &entries[i + 1] : NULL;
    }
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->broken) {
        rc = gm_errf(err, errlen, "%s: an earlier append failed; reopen the ledger", l->path);
        goto out;
    }
    if (!l->helpers)
        start_helpers(l);
    if (l->tail)
        l->tail->next = &entries[0];
    else
        l->head = &entries[0];
    l->tail = me;
    while (!me->done) {
        if (!l->busy) {
            /* Lead: take everything queued, our own entries included. */
            struct pending *batch = l->head;
            l->head = l->tail = NULL;
            l->busy = true;
            pthread_mutex_unlock(&l->mu);
            char berr[256] = "";
            int brc = commit_batch(l, me, batch, berr, sizeof berr);
            /* Let the next leader number and sign its batch while we sync:
             * the sync below also covers anything written before it. */
            pthread_mutex_lock(&l->mu);
            l->busy = false;
            if (l->head)
                pthread_cond_signal(&l->head->cv);
            pthread_mutex_unlock(&l->mu);
            /* One sync for the whole batch: this is the group commit. */
            bool sync_failed = false;
            if (brc == 0 && fdatasync(l->fd) != 0) {
                brc = -1;
                sync_failed = true;
                snprintf(berr, sizeof berr,
                         "%s: fdatasync failed: %s (the receipts may not be durable)", l->path,
                         strerror(errno));
            }
            pthread_mutex_lock(&l->mu);
            if (sync_failed)
                l->broken = true;
            for (struct pending *p = batch, *next; p; p = next) {
                next = p->next;
                p->rc = brc;
                if (brc)
                    snprintf(p->err, sizeof p->err, "%s", berr);
                free(p->signed_buf);
                p->signed_buf = NULL;
                p->done = true;
                pthread_cond_signal(&p->cv);
            }
        } else {
            pthread_cond_wait(&me->cv, &l->mu);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (entries[i].rc != 0) {
            rc = gm_errf(err, errlen, "%s", entries[i].err);
            break;
        }
out:
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++)
        pthread_cond_destroy(&entries[i].cv);
    return rc;
}

/* Check a receipt before it gets a sequence number, so a bad one never
 * leaves a gap in a batch. */
static int prepare(const gm_key *key, struct gm_receipt *r, char *err, size_t errlen)
{
    const char *id = gm_key_id_hex(key);
    if (!gm_key_has_private(key) || strlen(id) != 8)
        return gm_errf(err, errlen, "the signing key needs a private key and a name");
    memcpy(r->key_id, id, 9);
    r->sequence = 0;
    return gm_receipt_check(r, err, errlen);
}

int gm_ledger_append(gm_ledger *l, const gm_key *key, struct gm_receipt *r, char *err,
                     size_t errlen)
{
    if (!l->writable)
        return gm_errf(err, errlen, "%s: ledger opened read-only", l->path);
    if (prepare(key, r, err, errlen))
        return -1;
    struct pending me = { .r = r, .key = key };
    return append_entries(l, &me, 1, err, errlen);
}

int gm_ledger_append_many(gm_ledger *l, const gm_key *key, struct gm_receipt *rs, size_t n,
                          char *err, size_t errlen)
{
    if (!l->writable)
        return gm_errf(err, errlen, "%s: ledger opened read-only", l->path);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char msg[200];
        if (prepare(key, &rs[i], msg, sizeof msg))
            return gm_errf(err, errlen, "receipt %zu of the batch: %s", i, msg);
    }
    struct pending *entries = calloc(n, sizeof *entries);
    if (!entries)
        return gm_errf(err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        entries[i].r = &rs[i];
        entries[i].key = key;
    }
    int rc = append_entries(l, entries, n, err, errlen);
    free(entries);
    return rc;
}

char *gm_ledger_checkpoint(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
{
    uint8_t root[GM_HASH_LEN];
    gm_merkle_root(l->tree, root);
    char *note = gm_checkpoint_sign(l->origin, gm_merkle_size(l->tree), root, key, err, errlen);
    if (!note)
        return NULL;
    size_t plen = strlen(l->dir) + 16;
    char *path = malloc(plen);
    if (!path) {
        free(note);
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(path, plen, "%s/checkpoint", l->dir);
    if (gm_io_write_file(path, note, strlen(note), 0644, 0, err, errlen)) {
        free(note);
        note = NULL;
    }
    free(path);
    return note;
}

int gm_ledger_known_keys(const char *dir, gm_key ***keys, char *err, size_t errlen)
{
    size_t plen = strlen(dir) + 16, len;
    char *path = malloc(plen);
    *keys = NULL;
    if (!path)
        return gm_errf(err, errlen, "out of memory");
    snprintf(path, plen, "%s/verifier-keys", dir);
    char *buf = gm_io_read_file(path, 0, 1 << 20, &len, err, errlen);
    if (!buf) {
        free(path);
        return -1;
    }
    int n = 0, lineno = 0;
    gm_key **arr = NULL;
    for (char *s = buf; *s;) {
        char *nl = strchr(s, '\n');
        size_t ll = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        if (ll > 0) {
            char msg[200];
            gm_key *k = gm_key_parse_public(s, ll, msg, sizeof msg);
            gm_key **na = realloc(arr, (size_t)(n + 1) * sizeof *arr);
            if (!k || !na) {
                gm_errf(err, errlen, "%s line %d: %s", path, lineno, k ? "out of memory" : msg);
                gm_key_free(k);
                if (na)
                    arr = na;
                for (int i = 0; i < n; i++)
                    gm_key_free(arr[i]);
                free(arr);
                free(buf);
                free(path);
                return -1;
            }
            arr = na;
            arr[n++] = k;
        }
        s += ll + (nl ? 1 : 0);
    }
    free(buf);
    free(path);
    *keys = arr;
    return n;
}
