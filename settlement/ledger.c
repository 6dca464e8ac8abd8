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
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#define FILE_MAGIC "GMLEDGER"
#define FILE_VERSION 1
#define REC_MAGIC 0x474d5243u /* "GMRC" */
#define REC_HDR 12
#define REC_OVERHEAD (REC_HDR + GM_HASH_LEN)

struct pending {
    struct gm_receipt *r;
    const gm_key *key;
    int rc;
    bool done;
    char err[256];
    struct pending *next;
};

struct gm_ledger {
    char *dir, *path;
    int fd;
    bool writable;
    char origin[GM_CHECKPOINT_ORIGIN_MAX + 1];
    uint64_t end;          /* offset after the last whole record */
    uint64_t recovered;
    gm_merkle *tree;
    uint64_t *offsets;     /* record start offsets, tree-size entries */
    uint64_t noffsets_cap;
    char keys_recorded[9]; /* key id last written to verifier-keys */
    /* Group commit: appenders queue; one writer at a time signs and writes
     * the whole queue, then syncs it while the next writer may start. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pending *head, *tail;
    bool writer_active;
    bool broken;
};

/* ------------------------------------------------------------ framing */

long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen)
{
    if (len < REC_HDR)
        return 0;
    uint32_t magic = gm_settle_get_be32(buf), dlen = gm_settle_get_be32(buf + 4);
    if (magic != REC_MAGIC || gm_settle_get_be32(buf + 8) != gm_settle_crc32c(0, buf, 8))
        return gm_settle_err(err, errlen, "record header damaged (magic or header checksum wrong)");
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX)
        return gm_settle_err(err, errlen, "record length %u out of range", dlen);
    if (len < REC_OVERHEAD + (size_t)dlen)
        return 0;
    if (check_hash) {
        uint8_t h[GM_HASH_LEN];
        gm_merkle_leaf_hash(buf + REC_HDR, dlen, h);
        if (memcmp(h, buf + REC_HDR + dlen, GM_HASH_LEN) != 0)
            return gm_settle_err(err, errlen,
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

static size_t header_len(size_t olen) { return 8 + 4 + 4 + olen + 4; }

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
        return gm_settle_err(err, errlen, "%s: not a gpumarket ledger (file header damaged or missing)", path);
    uint32_t ver = gm_settle_get_be32(h + 8), olen = gm_settle_get_be32(h + 12);
    if (ver != FILE_VERSION)
        return gm_settle_err(err, errlen, "%s: ledger format version %u, this gpumarket reads version %d",
                             path, ver, FILE_VERSION);
    if (olen == 0 || olen > GM_CHECKPOINT_ORIGIN_MAX || (size_t)n < header_len(olen))
        return gm_settle_err(err, errlen, "%s: file header damaged (origin length)", path);
    if (gm_settle_get_be32(h + 16 + olen) != gm_settle_crc32c(0, h, 16 + olen))
        return gm_settle_err(err, errlen, "%s: file header damaged (checksum)", path);
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
        return gm_settle_err(err, errlen, "%s: %s", l->path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    if (size < l->end)
        return gm_settle_err(err, errlen,
                             "%s: the ledger shrank from %llu to %llu bytes behind our back (truncated by hand?)",
                             l->path, (unsigned long long)l->end, (unsigned long long)size);
    if (size == l->end)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    uint64_t base = l->end - l->end % (uint64_t)page;
    size_t maplen = (size_t)(size - base);
    uint8_t *map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, l->fd, (off_t)base);
    if (map == MAP_FAILED)
        return gm_settle_err(err, errlen, "%s: cannot map: %s", l->path, strerror(errno));
    uint64_t off = l->end, last_off = 0;
    int rc = 0;
    bool have_last = false;
    while (off < size) {
        size_t doff, dlen;
        char msg[200];
        long n = gm_settle_parse_record(map + (off - base), (size_t)(size - off), &doff, &dlen, check_all,
                              msg, sizeof msg);
        if (n < 0) {
            rc = gm_settle_err(err, errlen, "%s: record %llu (byte %llu): %s; run gpumarket ledger verify",
                               l->path, (unsigned long long)gm_merkle_size(l->tree),
                               (unsigned long long)off, msg);
            break;
        }
        if (n == 0)
            break; /* torn tail */
        if (add_record(l, off, map + (off - base) + doff + dlen)) {
            rc = gm_settle_err(err, errlen, "out of memory reading %s", l->path);
            break;
        }
        have_last = true;
        last_off = off;
        off += (uint64_t)n;
    }
    if (rc == 0 && have_last && !check_all) {
        /* The last whole record is where a crash could have left garbage. */
        char msg[200];
        if (gm_settle_parse_record(map + (last_off - base), (size_t)(off - last_off), NULL, NULL, true, msg,
                         sizeof msg) < 0)
            rc = gm_settle_err(err, errlen, "%s: record %llu (byte %llu): %s; run gpumarket ledger verify",
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
                return gm_settle_err(err, errlen, "%s: cannot truncate the torn tail: %s", l->path,
                                     strerror(errno));
        }
    }
    return 0;
}

static int lock_fd(int fd, int op, const char *path, char *err, size_t errlen)
{
    while (flock(fd, op) != 0) {
        if (errno != EINTR)
            return gm_settle_err(err, errlen, "%s: cannot lock: %s", path, strerror(errno));
    }
    return 0;
}

void gm_ledger_close(gm_ledger *l)
{
    if (!l)
        return;
    if (l->fd >= 0)
        close(l->fd);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
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
        gm_settle_err(err, errlen, "out of memory");
        return NULL;
    }
    l->fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->dir = strdup(dir);
    l->tree = gm_merkle_new();
    size_t plen = strlen(dir) + 8;
    l->path = malloc(plen);
    if (!l->dir || !l->tree || !l->path) {
        gm_settle_err(err, errlen, "out of memory");
        goto fail;
    }
    snprintf(l->path, plen, "%s/ledger", dir);
    l->writable = (flags & (GM_LEDGER_WRITE | GM_LEDGER_CREATE)) != 0;
    if ((flags & GM_LEDGER_CREATE) && mkdir(dir, 0750) != 0 && errno != EEXIST) {
        gm_settle_err(err, errlen, "%s: cannot create the ledger directory: %s", dir, strerror(errno));
        goto fail;
    }
    int oflags = l->writable ? O_RDWR : O_RDONLY;
    if (flags & GM_LEDGER_CREATE)
        oflags |= O_CREAT;
    l->fd = open(l->path, oflags | O_CLOEXEC, 0640);
    if (l->fd < 0) {
        gm_settle_err(err, errlen, "%s: cannot open the ledger: %s%s", l->path, strerror(errno),
                      errno == ENOENT ? " (create it with gpumarket ledger append, or check --ledger)" : "");
        goto fail;
    }
    if (lock_fd(l->fd, l->writable ? LOCK_EX : LOCK_SH, l->path, err, errlen))
        goto fail;
    struct stat st;
    if (fstat(l->fd, &st) != 0) {
        gm_settle_err(err, errlen, "%s: %s", l->path, strerror(errno));
        goto fail_locked;
    }
    if (st.st_size == 0) {
        if (!(flags & GM_LEDGER_CREATE) || !origin) {
            gm_settle_err(err, errlen, "%s: empty ledger file%s", l->path,
                          origin ? "" : " and no origin given to create it");
            goto fail_locked;
        }
        size_t olen = strlen(origin), hlen;
        if (olen == 0 || olen > GM_CHECKPOINT_ORIGIN_MAX || strchr(origin, '\n')) {
            gm_settle_err(err, errlen, "ledger origin must be one line of 1 to %d bytes",
                          GM_CHECKPOINT_ORIGIN_MAX);
            goto fail_locked;
        }
        uint8_t hdr[16 + GM_CHECKPOINT_ORIGIN_MAX + 4];
        make_header(origin, hdr, &hlen);
        if (pwrite(l->fd, hdr, hlen, 0) != (ssize_t)hlen || fsync(l->fd) != 0) {
            gm_settle_err(err, errlen, "%s: cannot write the header: %s", l->path, strerror(errno));
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
        gm_settle_err(err, errlen, "%s: the ledger's origin is \"%s\", not \"%s\"", l->path, l->origin, origin);
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

const char *gm_ledger_origin(const gm_ledger *l) { return l->origin; }
uint64_t gm_ledger_size(const gm_ledger *l) { return gm_merkle_size(l->tree); }
const gm_merkle *gm_ledger_tree(const gm_ledger *l) { return l->tree; }
uint64_t gm_ledger_recovered_bytes(const gm_ledger *l) { return l->recovered; }

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
        gm_settle_err(err, errlen, "index %llu is past the end of the ledger (size %llu)",
                      (unsigned long long)index, (unsigned long long)gm_merkle_size(l->tree));
        return NULL;
    }
    uint8_t hdr[REC_HDR];
    uint64_t off = l->offsets[index];
    if (pread(l->fd, hdr, REC_HDR, (off_t)off) != REC_HDR) {
        gm_settle_err(err, errlen, "%s: cannot read record %llu", l->path, (unsigned long long)index);
        return NULL;
    }
    uint32_t dlen = gm_settle_get_be32(hdr + 4);
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX) {
        gm_settle_err(err, errlen, "%s: record %llu damaged", l->path, (unsigned long long)index);
        return NULL;
    }
    uint8_t *rec = malloc(REC_OVERHEAD + dlen + 1);
    if (!rec) {
        gm_settle_err(err, errlen, "out of memory");
        return NULL;
    }
    char msg[200];
    if (pread(l->fd, rec, REC_OVERHEAD + dlen, (off_t)off) != (ssize_t)(REC_OVERHEAD + dlen) ||
        gm_settle_parse_record(rec, REC_OVERHEAD + dlen, NULL, NULL, true, msg, sizeof msg) <= 0 ||
        memcmp(rec + REC_HDR + dlen, gm_merkle_leaf(l->tree, index), GM_HASH_LEN) != 0) {
        gm_settle_err(err, errlen, "%s: record %llu is damaged; run gpumarket ledger verify", l->path,
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
        return gm_settle_err(err, errlen, "the signing key has no name");
    size_t plen = strlen(l->dir) + 16;
    char *path = malloc(plen);
    int rc = -1;
    if (!path) {
        free(line);
        return gm_settle_err(err, errlen, "out of memory");
    }
    snprintf(path, plen, "%s/verifier-keys", l->dir);
    size_t len = 0;
    char msg[256];
    char *cur = gm_settle_read_file(path, 1 << 20, &len, msg, sizeof msg);
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
            gm_settle_err(err, errlen, "%s: cannot record the verifier key: %s", path, strerror(errno));
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

/* Sign and write one batch under the exclusive file lock.  Returns -1 when
 * the whole batch failed (each pending's rc and err are set either way). */
static int write_batch(gm_ledger *l, struct pending *batch)
{
    char err[256];
    struct pending *p;
    if (lock_fd(l->fd, LOCK_EX, l->path, err, sizeof err) != 0)
        goto fail_all;
    if (catch_up(l, true, true, err, sizeof err) != 0)
        goto fail_unlock;
    uint64_t seq = gm_merkle_size(l->tree);
    size_t cap = 0, used = 0, count = 0;
    uint8_t *buf = NULL;
    uint8_t (*hashes)[GM_HASH_LEN] = NULL;
    for (p = batch; p; p = p->next)
        count++;
    hashes = malloc(count * GM_HASH_LEN);
    if (!hashes) {
        snprintf(err, sizeof err, "out of memory");
        goto fail_unlock;
    }
    size_t nh = 0;
    for (p = batch; p; p = p->next) {
        if (record_key(l, p->key, p->err, sizeof p->err)) {
            p->rc = -1;
            continue;
        }
        p->r->sequence = (int64_t)seq;
        size_t slen;
        char *s = gm_receipt_sign(p->r, p->key, &slen, p->err, sizeof p->err);
        if (!s) {
            p->rc = -1;
            continue;
        }
        if (slen > GM_LEDGER_RECORD_MAX) {
            snprintf(p->err, sizeof p->err, "signed receipt of %zu bytes is larger than a record may be", slen);
            free(s);
            p->rc = -1;
            continue;
        }
        if (used + REC_OVERHEAD + slen > cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            while (ncap < used + REC_OVERHEAD + slen)
                ncap *= 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(s);
                snprintf(p->err, sizeof p->err, "out of memory");
                p->rc = -1;
                continue;
            }
            buf = nb;
            cap = ncap;
        }
        uint8_t *rec = buf + used;
        gm_settle_put_be32(rec, REC_MAGIC);
        gm_settle_put_be32(rec + 4, (uint32_t)slen);
        gm_settle_put_be32(rec + 8, gm_settle_crc32c(0, rec, 8));
        memcpy(rec + REC_HDR, s, slen);
        gm_merkle_leaf_hash(s, slen, rec + REC_HDR + slen);
        memcpy(hashes[nh++], rec + REC_HDR + slen, GM_HASH_LEN);
        free(s);
        used += REC_OVERHEAD + slen;
        p->rc = 1; /* written pending sync */
        seq++;
    }
    size_t done = 0;
    while (done < used) {
        ssize_t n = pwrite(l->fd, buf + done, used - done, (off_t)(l->end + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, sizeof err, "%s: write failed: %s", l->path, n < 0 ? strerror(errno) : "no progress");
            /* Leave no partial batch behind: the next open would see a torn tail anyway. */
            if (ftruncate(l->fd, (off_t)l->end) != 0)
                l->broken = true;
            free(buf);
            free(hashes);
            for (p = batch; p; p = p->next)
                if (p->rc == 1)
                    p->rc = 0;
            goto fail_unlock;
        }
        done += (size_t)n;
    }
    uint64_t off = l->end;
    size_t k = 0;
    for (p = batch; p; p = p->next) {
        if (p->rc != 1)
            continue;
        size_t dlen = gm_settle_get_be32(buf + (off - l->end) + 4);
        if (add_record(l, off, hashes[k++]) != 0)
            l->broken = true; /* in-memory view lost; the file is fine */
        off += REC_OVERHEAD + dlen;
    }
    l->end = off;
    free(buf);
    free(hashes);
    flock(l->fd, LOCK_UN);
    return 0;
fail_unlock:
    flock(l->fd, LOCK_UN);
fail_all:
    for (p = batch; p; p = p->next)
        if (p->rc == 0) {
            p->rc = -1;
            snprintf(p->err, sizeof p->err, "%s", err);
        }
    return -1;
}

int gm_ledger_append(gm_ledger *l, const gm_key *key, struct gm_receipt *r, char *err, size_t errlen)
{
    if (!l->writable)
        return gm_settle_err(err, errlen, "%s: ledger opened read-only", l->path);
    struct pending me = {.r = r, .key = key};
    pthread_mutex_lock(&l->mu);
    if (l->broken) {
        pthread_mutex_unlock(&l->mu);
        return gm_settle_err(err, errlen, "%s: an earlier append failed; reopen the ledger", l->path);
    }
    if (l->tail)
        l->tail->next = &me;
    else
        l->head = &me;
    l->tail = &me;
    while (!me.done) {
        if (!l->writer_active) {
            /* Lead: take everything queued, including our own entry. */
            struct pending *batch = l->head;
            l->head = l->tail = NULL;
            l->writer_active = true;
            pthread_mutex_unlock(&l->mu);
            int wrc = write_batch(l, batch);
            pthread_mutex_lock(&l->mu);
            l->writer_active = false;
            pthread_cond_broadcast(&l->cv); /* the next leader may write while we sync */
            pthread_mutex_unlock(&l->mu);
            int src = 0;
            char serr[200] = "";
            if (wrc == 0 && fdatasync(l->fd) != 0) {
                src = -1;
                snprintf(serr, sizeof serr, "%s: fdatasync failed: %s (the receipt may not be durable)",
                         l->path, strerror(errno));
            }
            pthread_mutex_lock(&l->mu);
            if (src)
                l->broken = true;
            for (struct pending *p = batch, *next; p; p = next) {
                next = p->next;
                if (p->rc == 1)
                    p->rc = src;
                if (src)
                    snprintf(p->err, sizeof p->err, "%s", serr);
                p->done = true;
            }
            pthread_cond_broadcast(&l->cv);
        } else {
            pthread_cond_wait(&l->cv, &l->mu);
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (me.rc != 0)
        return gm_settle_err(err, errlen, "%s", me.err);
    return 0;
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
        gm_settle_err(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(path, plen, "%s/checkpoint", l->dir);
    if (gm_settle_write_file(path, note, strlen(note), 0644, 0, err, errlen)) {
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
        return gm_settle_err(err, errlen, "out of memory");
    snprintf(path, plen, "%s/verifier-keys", dir);
    char *buf = gm_settle_read_file(path, 1 << 20, &len, err, errlen);
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
                gm_settle_err(err, errlen, "%s line %d: %s", path, lineno, k ? "out of memory" : msg);
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
