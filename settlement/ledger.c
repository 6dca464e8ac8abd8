/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger's record file: the format (ledger-internal.h), record framing,
 * scanning with torn-tail detection and recovery, reads, the verifier-keys
 * file, checkpoints written beside it.  Appends go through the queue in
 * ledger-append.c, which calls back in here under the file lock. */
#include "config.h"

#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILE_MAGIC   "GMLEDGER"
#define FILE_VERSION 1

/* ------------------------------------------------------------ framing */

long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen)
{
    if (len < GM_SETTLE_REC_HDR)
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
    if (magic != GM_SETTLE_REC_MAGIC || gm_settle_get_be32(buf + 8) != gm_settle_crc32c(0, buf, 8))
        return gm_errf(err, errlen, "record header damaged (magic or header checksum wrong)");
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX)
        return gm_errf(err, errlen, "record length %u out of range", dlen);
    if (len < GM_SETTLE_REC_OVERHEAD + (size_t)dlen)
        return 0;
    if (check_hash) {
        uint8_t h[GM_HASH_LEN];
        gm_merkle_leaf_hash(buf + GM_SETTLE_REC_HDR, dlen, h);
        if (memcmp(h, buf + GM_SETTLE_REC_HDR + dlen, GM_HASH_LEN) != 0)
            return gm_errf(err, errlen,
                           "record data does not match its leaf hash (the record was altered)");
    }
    if (data_off)
        *data_off = GM_SETTLE_REC_HDR;
    if (data_len)
        *data_len = dlen;
    return (long)(GM_SETTLE_REC_OVERHEAD + dlen);
}

/* Is there a complete record (checked header, data matching its leaf hash)
 * starting at p, within len bytes? */
static bool complete_record_at(const uint8_t *p, size_t len)
{
    size_t doff, dlen;
    return gm_settle_parse_record(p, len, &doff, &dlen, 1, NULL, 0) > 0;
}

int gm_settle_tail_is_torn(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len && p[i] == 0)
        i++;
    if (i == len) {
        if (len < GM_SETTLE_REC_OVERHEAD + 1)
            return 1;
        gm_errf(err, errlen,
                "%zu zero bytes run to the end of the file: room for whole records, and a "
                "filesystem never zero-fills synced data",
                len);
        return 0;
    }
    uint8_t magic[4];
    gm_settle_put_be32(magic, GM_SETTLE_REC_MAGIC);
    if (len < GM_SETTLE_REC_HDR) {
        if (memcmp(p, magic, len < 4 ? len : 4) == 0)
            return 1;
        gm_errf(err, errlen, "%zu bytes that are not the start of a record header", len);
        return 0;
    }
    if (gm_settle_get_be32(p) != GM_SETTLE_REC_MAGIC ||
        gm_settle_get_be32(p + 8) != gm_settle_crc32c(0, p, 8)) {
        gm_errf(err, errlen, "%zu bytes that do not start with a record header", len);
        return 0;
    }
    uint32_t dlen = gm_settle_get_be32(p + 4);
    if ((size_t)dlen + GM_SETTLE_REC_OVERHEAD <= len) {
        gm_errf(err, errlen, "a whole record that does not parse");
        return 0;
    }
    /* A header edited to claim more data than its record holds: the record's
     * real end is a '}' (a signed receipt is a JSON object) followed by the
     * leaf hash of what came before it. */
    for (size_t end = GM_SETTLE_REC_HDR + 1; end + GM_HASH_LEN <= len; end++) {
        if (p[end - 1] != '}')
            continue;
        uint8_t h[GM_HASH_LEN];
        gm_merkle_leaf_hash(p + GM_SETTLE_REC_HDR, end - GM_SETTLE_REC_HDR, h);
        if (memcmp(h, p + end, GM_HASH_LEN) == 0) {
            gm_errf(err, errlen,
                    "a record header claims %u bytes of data, but a complete record of %zu "
                    "bytes is there: the header was edited",
                    dlen, end - GM_SETTLE_REC_HDR);
            return 0;
        }
    }
    /* Whole records after the first header: not a torn append. */
    for (size_t q = 1; q + GM_SETTLE_REC_OVERHEAD < len; q++)
        if (p[q] == magic[0] && complete_record_at(p + q, len - q)) {
            gm_errf(err, errlen,
                    "a record header claims %u bytes running past the end of the file over a "
                    "complete record at +%zu",
                    dlen, q);
            return 0;
        }
    return 1;
}

void gm_settle_frame_record(uint8_t *out, const void *data, size_t len,
                            const uint8_t leaf[GM_HASH_LEN])
{
    gm_settle_put_be32(out, GM_SETTLE_REC_MAGIC);
    gm_settle_put_be32(out + 4, (uint32_t)len);
    gm_settle_put_be32(out + 8, gm_settle_crc32c(0, out, 8));
    memcpy(out + GM_SETTLE_REC_HDR, data, len);
    memcpy(out + GM_SETTLE_REC_HDR + len, leaf, GM_HASH_LEN);
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

int gm_settle_ledger_add_record(gm_ledger *l, uint64_t off, const uint8_t hash[GM_HASH_LEN])
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

/* Keep the bytes of a torn tail in DIR/torn-OFFSET before they are cut, so
 * that even a misjudged tail is never lost (its path is reported). */
static int keep_torn_tail(gm_ledger *l, const uint8_t *p, size_t len, uint64_t off, char *err,
                          size_t errlen)
{
    char msg[512];
    for (int n = 0; n < 1000; n++) {
        if (n == 0)
            snprintf(l->recovered_path, sizeof l->recovered_path, "%s/torn-%llu", l->dir,
                     (unsigned long long)off);
        else
            snprintf(l->recovered_path, sizeof l->recovered_path, "%s/torn-%llu.%d", l->dir,
                     (unsigned long long)off, n);
        if (gm_io_write_file(l->recovered_path, p, len, 0640, GM_IO_EXCLUSIVE, msg, sizeof msg) ==
            0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    l->recovered_path[0] = '\0';
    return gm_errf(err, errlen, "%s: cannot keep the torn tail before cutting it: %s", l->path,
                   msg);
}

/* A writer never works on a ledger holding fewer whole records than its
 * signed checkpoint covers: those records were lost, and appending would
 * reuse their sequence numbers.  (The checkpoint is only parsed here: a
 * forged one can make this refuse, never allow, an append.) */
static int checkpoint_floor_holds(gm_ledger *l, char *err, size_t errlen)
{
    char path[4096], msg[300];
    snprintf(path, sizeof path, "%s/checkpoint", l->dir);
    size_t len;
    char *text = gm_io_read_file(path, 0, 1 << 20, &len, msg, sizeof msg);
    if (!text)
        return errno == ENOENT ? 0 : gm_errf(err, errlen, "%s", msg);
    struct gm_checkpoint cp;
    int rc = gm_checkpoint_parse(text, len, &cp, msg, sizeof msg);
    free(text);
    if (rc != 0)
        return gm_errf(err, errlen, "%s: %s; appends are refused until it is repaired", path, msg);
    if (cp.size > gm_merkle_size(l->tree))
        return gm_errf(err, errlen,
                       "%s holds %llu whole records but %s covers %llu: records were lost.  "
                       "Appends are refused (they would reuse the lost sequence numbers); "
                       "restore the ledger from a replica or backup",
                       l->path, (unsigned long long)gm_merkle_size(l->tree), path,
                       (unsigned long long)cp.size);
    return 0;
}

int gm_settle_ledger_catch_up(gm_ledger *l, bool recover, bool check_all, char *err, size_t errlen)
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
        if (gm_settle_ledger_add_record(l, off, map + (off - base) + doff + dlen)) {
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
    if (rc == 0 && off < size) {
        char why[300];
        if (!gm_settle_tail_is_torn(map + (off - base), (size_t)(size - off), why, sizeof why))
            rc = gm_errf(err, errlen,
                         "%s: bytes %llu to %llu (after record %llu) are damage, not an unfinished "
                         "append: %s.  Nothing was cut and appends are refused; keep a copy of "
                         "the file and restore it from a replica or backup (see gpumarket ledger "
                         "verify)",
                         l->path, (unsigned long long)off, (unsigned long long)size,
                         (unsigned long long)gm_merkle_size(l->tree), why);
        else if (recover && checkpoint_floor_holds(l, err, errlen) != 0)
            rc = -1;
        else if (recover)
            rc = keep_torn_tail(l, map + (off - base), (size_t)(size - off), off, err, errlen);
    } else if (rc == 0 && recover && checkpoint_floor_holds(l, err, errlen) != 0) {
        rc = -1;
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

int gm_settle_ledger_lock(int fd, int op, const char *path, char *err, size_t errlen)
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
    gm_settle_append_queue_destroy(l);
    if (l->fd >= 0)
        close(l->fd);
    gm_merkle_free(l->tree);
    free(l->offsets);
    free(l->segments);
    free(l->policies);
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
    gm_settle_append_queue_init(l);
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
    if (gm_settle_ledger_lock(l->fd, l->writable ? LOCK_EX : LOCK_SH, l->path, err, errlen))
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
    /* A writer builds its tree from hashes recomputed from every record's
     * data, never from the stored ones alone. */
    if (gm_settle_ledger_catch_up(l, l->writable, l->writable, err, errlen))
        goto fail_locked;
    /* Also when nothing follows the header: every record may be gone. */
    if (l->writable && checkpoint_floor_holds(l, err, errlen))
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
const char *gm_ledger_recovered_path(const gm_ledger *l)
{
    return l->recovered_path[0] ? l->recovered_path : NULL;
}

int gm_ledger_refresh(gm_ledger *l, char *err, size_t errlen)
{
    if (gm_settle_ledger_lock(l->fd, LOCK_SH, l->path, err, errlen))
        return -1;
    int rc = gm_settle_ledger_catch_up(l, false, true, err, errlen);
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
    uint8_t hdr[GM_SETTLE_REC_HDR];
    uint64_t off = l->offsets[index];
    if (pread(l->fd, hdr, GM_SETTLE_REC_HDR, (off_t)off) != GM_SETTLE_REC_HDR) {
        gm_errf(err, errlen, "%s: cannot read record %llu", l->path, (unsigned long long)index);
        return NULL;
    }
    uint32_t dlen = gm_settle_get_be32(hdr + 4);
    if (dlen == 0 || dlen > GM_LEDGER_RECORD_MAX) {
        gm_errf(err, errlen, "%s: record %llu damaged", l->path, (unsigned long long)index);
        return NULL;
    }
    uint8_t *rec = malloc(GM_SETTLE_REC_OVERHEAD + dlen + 1);
    if (!rec) {
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    char msg[200];
    if (pread(l->fd, rec, GM_SETTLE_REC_OVERHEAD + dlen, (off_t)off) !=
            (ssize_t)(GM_SETTLE_REC_OVERHEAD + dlen) ||
        gm_settle_parse_record(rec, GM_SETTLE_REC_OVERHEAD + dlen, NULL, NULL, true, msg,
                               sizeof msg) <= 0 ||
        memcmp(rec + GM_SETTLE_REC_HDR + dlen, gm_merkle_leaf(l->tree, index), GM_HASH_LEN) != 0) {
        gm_errf(err, errlen, "%s: record %llu is damaged; run gpumarket ledger verify", l->path,
                (unsigned long long)index);
        free(rec);
        return NULL;
    }
    memmove(rec, rec + GM_SETTLE_REC_HDR, dlen);
    rec[dlen] = '\0';
    *len = dlen;
    return (char *)rec;
}

/* ------------------------------------------------------------ verifier keys */

/* verifier-keys lists every key that ever signed, so verification keeps
 * working after the key is rotated. */
int gm_settle_ledger_record_key(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
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

char *gm_ledger_checkpoint(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
{
    /* Never sign over unverified data: every record's hash recomputed, and
     * the signatures of those since the last checkpoint checked. */
    if (gm_settle_ledger_lock(l->fd, LOCK_SH, l->path, err, errlen))
        return NULL;
    int trc = gm_settle_ledger_trust(l, key, err, errlen);
    flock(l->fd, LOCK_UN);
    if (trc != 0)
        return NULL;
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
