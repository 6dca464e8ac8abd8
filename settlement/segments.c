/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The segment journal: slurmctld's durable record of market lease segments
 * between their start and the moment their receipt is in the ledger.
 *
 * One text file, one record a line, each line ending in the CRC32C of the
 * bytes before it:
 *   O JOB START SEGMENT ARRAY_TASK RJOB CLUSTER USER ACCOUNT NODES TYPE GPUS PRICE ORDER  CRC
 *   C JOB START END REASON RECOVERED ENERGY_MJ ENERGY_SOURCE EMISSIONS_MG                 CRC
 *   D JOB START SEQUENCE DONE_AT                                                          CRC
 *   K JOB START SEGMENT DONE_AT     (a receipted segment kept after compaction)           CRC
 *   H TIME                          (the controller was alive then)                       CRC
 * Strings are written "=" followed by the value with every byte outside
 * [A-Za-z0-9._,:@+/[]-] as %XX, so a value is never empty and never holds a
 * space.  Numbers are decimal; -1 means "none".
 *
 * Records are appended with one write(2) each under the journal's mutex, so
 * a killed process loses nothing it returned from; gm_segments_settle
 * fdatasyncs (without holding the mutex) before it signs, so a receipt never
 * precedes its record on disk.  A torn last line (power loss) is cut at open; a bad line followed
 * by good ones is counted as damage and skipped. */
#include "common/io.h"
#include "common/text.h"
#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_MAGIC "# gpumarket segment journal 1\n"
#define JOURNAL_MAX   ((size_t)256 << 20)
#define LINE_MAX_LEN  8192

enum seg_state {
    SEG_OPEN = GM_SEGMENT_OPEN,
    SEG_CLOSED = GM_SEGMENT_CLOSED,
    SEG_DONE = GM_SEGMENT_DONE
};

/* One segment.  Small, so that the table of every segment still remembered
 * (receipted ones for GM_KEEP hours) stays cheap to scan; only a running or
 * ended one holds its receipt. */
struct seg {
    uint32_t job;
    enum seg_state state;
    int64_t start;
    int64_t segment;
    int64_t sequence;     /* ledger sequence, once receipted */
    int64_t done_at;      /* when it was receipted */
    struct gm_receipt *r; /* open or ended: the receipt so far; NULL once done */
};

struct gm_segments {
    pthread_mutex_t mu;
    char *path;
    int fd;
    uint64_t size; /* bytes of whole records in the file */
    int behind;    /* a record is in memory but not in the file */
    struct seg *v;
    size_t n, cap;
    /* Open-addressing index of v by (job, start): slot holds index + 1, 0
     * is empty.  Rebuilt when v grows past half of it and at compaction.
     * The select plugin looks segments up from slurmctld's locked calls
     * (every job_fini), so this is O(1), not a scan of v. */
    uint32_t *slot;
    size_t nslot;
    int64_t last_seen;
    uint64_t records; /* lines in the file */
    uint64_t torn, damaged;
};

/* ------------------------------------------------------------- encoding */

static int plain_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._,:@+/[]-", c) != NULL;
}

struct line {
    char buf[LINE_MAX_LEN];
    size_t len;
    int overflow;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->overflow || l->len + n >= sizeof l->buf - 16) {
        l->overflow = 1;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_int(struct line *l, int64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, " %" PRId64, v);
    put(l, t, (size_t)n);
}

static void put_str(struct line *l, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    put(l, " =", 2);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (plain_byte(*p)) {
            put(l, (const char *)p, 1);
        } else {
            char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            put(l, e, 3);
        }
    }
}

static void put_end(struct line *l)
{
    char t[16];
    uint32_t crc = gm_settle_crc32c(0, l->buf, l->len);
    int n = snprintf(t, sizeof t, " %08" PRIx32 "\n", crc);
    put(l, t, (size_t)n);
}

static void line_open(struct line *l, const struct seg *s)
{
    const struct gm_receipt *r = s->r;
    put(l, "O", 1);
    put_int(l, s->job);
    put_int(l, s->start);
    put_int(l, s->segment);
    put_int(l, r->has_array_task ? r->array_task : -1);
    put_int(l, r->job_id);
    put_str(l, r->cluster);
    put_str(l, r->user);
    put_str(l, r->account);
    put_str(l, r->nodes);
    put_str(l, r->gpu_type);
    put_int(l, r->gpu_count);
    put_int(l, r->price_micro_per_gpu_hour);
    put_str(l, r->has_market_order ? r->market_order : "");
    put_end(l);
}

static void line_close(struct line *l, const struct seg *s)
{
    const struct gm_receipt *r = s->r;
    put(l, "C", 1);
    put_int(l, s->job);
    put_int(l, s->start);
    put_int(l, r->end);
    put_str(l, gm_receipt_end_reason_name(r->end_reason));
    put_str(l, r->has_recovered ? r->recovered : "");
    put_int(l, r->has_energy ? r->energy_mj : -1);
    put_str(l, r->has_energy_source ? r->energy_source : "");
    put_int(l, r->has_emissions ? r->emissions_mg : -1);
    put_end(l);
}

static void line_done(struct line *l, const struct seg *s, char type)
{
    put(l, &type, 1);
    put_int(l, s->job);
    put_int(l, s->start);
    put_int(l, type == 'D' ? s->sequence : s->segment);
    put_int(l, s->done_at);
    put_end(l);
}

static void line_heartbeat(struct line *l, int64_t t)
{
    put(l, "H", 1);
    put_int(l, t);
    put_end(l);
}

/* ------------------------------------------------------------- decoding */

#define MAX_TOKENS 16

/* Split a CRC-checked line into its fields.  Returns the count, or -1. */
static int tokenize(char *s, char **tok)
{
    int n = 0;
    for (char *p = strtok(s, " "); p; p = strtok(NULL, " ")) {
        if (n == MAX_TOKENS)
            return -1;
        tok[n++] = p;
    }
    return n;
}

static int get_int(const char *t, int64_t min, int64_t max, int64_t *v)
{
    uint64_t u;
    int neg = t[0] == '-';
    if (gm_text_parse_u64(t + neg, (uint64_t)INT64_MAX, 0, &u) != 0)
        return -1;
    int64_t x = neg ? -(int64_t)u : (int64_t)u;
    if (x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int get_str(const char *t, char *out, size_t size)
{
    size_t n = 0;
    if (t[0] != '=')
        return -1;
    for (const char *p = t + 1; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            p += 2;
        } else if (!plain_byte((unsigned char)c)) {
            return -1;
        }
        if (n + 1 >= size || c == 0)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

static size_t slot_of(const struct gm_segments *s, uint32_t job, int64_t start)
{
    uint64_t h = (uint64_t)job * UINT64_C(0x9E3779B97F4A7C15) ^
                 (uint64_t)start * UINT64_C(0xC2B2AE3D27D4EB4F);
    return (size_t)(h ^ (h >> 29)) & (s->nslot - 1);
}

static void index_put(struct gm_segments *s, size_t i)
{
    size_t k = slot_of(s, s->v[i].job, s->v[i].start);
    while (s->slot[k])
        k = (k + 1) & (s->nslot - 1);
    s->slot[k] = (uint32_t)(i + 1);
}

/* Index v again, in a table for at least `want` segments.  0, or -1 (the
 * old index stays) when a bigger table is needed and there is no memory;
 * never fails when v has not grown. */
static int index_rebuild(struct gm_segments *s, size_t want)
{
    if (s->nslot >= 2 * want && s->nslot >= 64) { /* big enough: clear it (cannot fail) */
        memset(s->slot, 0, s->nslot * sizeof *s->slot);
    } else {
        size_t n = 64;
        while (n < 2 * want)
            n *= 2;
        uint32_t *t = calloc(n, sizeof *t);
        if (!t)
            return -1;
        free(s->slot);
        s->slot = t;
        s->nslot = n;
    }
    for (size_t i = 0; i < s->n; i++)
        index_put(s, i);
    return 0;
}

static struct seg *find(struct gm_segments *s, uint32_t job, int64_t start)
{
    if (!s->nslot)
        return NULL;
    for (size_t k = slot_of(s, job, start); s->slot[k]; k = (k + 1) & (s->nslot - 1)) {
        struct seg *g = &s->v[s->slot[k] - 1];
        if (g->job == job && g->start == start)
            return g;
    }
    return NULL;
}

/* A new segment with its key (and, unless done, a zeroed receipt).  NULL
 * on no memory, nothing changed. */
static struct seg *add(struct gm_segments *s, uint32_t job, int64_t start, int with_receipt)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct seg *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    if (2 * (s->n + 1) > s->nslot && index_rebuild(s, s->cap) != 0)
        return NULL;
    struct gm_receipt *r = with_receipt ? calloc(1, sizeof *r) : NULL;
    if (with_receipt && !r)
        return NULL;
    struct seg *g = &s->v[s->n];
    memset(g, 0, sizeof *g);
    g->job = job;
    g->start = start;
    g->r = r;
    index_put(s, s->n++);
    return g;
}

/* The segment's receipt is in the ledger at `sequence`: keep its key only. */
static void set_done(struct seg *g, int64_t sequence, int64_t done_at)
{
    g->state = SEG_DONE;
    g->sequence = sequence;
    g->done_at = done_at;
    free(g->r);
    g->r = NULL;
}

static void seen(struct gm_segments *s, int64_t t)
{
    if (t > s->last_seen)
        s->last_seen = t;
}

static int reason_by_name(const char *name, enum gm_end_reason *reason)
{
    for (int i = 0;; i++) {
        const char *n = gm_receipt_end_reason_name((enum gm_end_reason)i);
        if (!n)
            return -1;
        if (!strcmp(n, name)) {
            *reason = (enum gm_end_reason)i;
            return 0;
        }
    }
}

/* Apply one CRC-checked record.  0, or -1 when it does not parse or does not
 * fit the journal so far (it is then counted as damage). */
static int apply(struct gm_segments *s, char *text)
{
    char *t[MAX_TOKENS];
    int n = tokenize(text, t);
    int64_t job, start, a, b, c;
    char str[GM_RECEIPT_NODES_MAX + 1];

    if (n < 2 || strlen(t[0]) != 1)
        return -1;
    if (t[0][0] == 'H')
        return n == 2 && get_int(t[1], 0, INT64_MAX, &a) == 0 ? (seen(s, a), 0) : -1;
    if (n < 3 || get_int(t[1], 0, UINT32_MAX, &job) || get_int(t[2], 0, GM_RECEIPT_INT_MAX, &start))
        return -1;
    struct seg *g = find(s, (uint32_t)job, start);
    switch (t[0][0]) {
    case 'O': {
        struct gm_receipt r;
        memset(&r, 0, sizeof r);
        r.version = GM_RECEIPT_VERSION;
        r.start = start;
        if (n != 14 || get_int(t[3], 0, GM_RECEIPT_INT_MAX, &r.segment) ||
            get_int(t[4], -1, GM_RECEIPT_INT_MAX, &a) ||
            get_int(t[5], 0, GM_RECEIPT_INT_MAX, &r.job_id) ||
            get_str(t[6], r.cluster, sizeof r.cluster) || get_str(t[7], r.user, sizeof r.user) ||
            get_str(t[8], r.account, sizeof r.account) || get_str(t[9], r.nodes, sizeof r.nodes) ||
            get_str(t[10], r.gpu_type, sizeof r.gpu_type) ||
            get_int(t[11], 1, GM_RECEIPT_INT_MAX, &r.gpu_count) ||
            get_int(t[12], 0, GM_RECEIPT_INT_MAX, &r.price_micro_per_gpu_hour) ||
            get_str(t[13], r.market_order, sizeof r.market_order))
            return -1;
        r.has_array_task = a >= 0;
        r.array_task = a >= 0 ? a : 0;
        r.has_market_order = r.market_order[0] != '\0';
        if (g)
            return -1; /* opened twice */
        if (!(g = add(s, (uint32_t)job, start, 1)))
            return -1;
        g->state = SEG_OPEN;
        g->segment = r.segment;
        *g->r = r;
        seen(s, start);
        return 0;
    }
    case 'C': {
        enum gm_end_reason reason;
        char rec[sizeof g->r->recovered], src[sizeof g->r->energy_source];
        if (n != 9 || !g || g->state != SEG_OPEN || get_int(t[3], start, GM_RECEIPT_INT_MAX, &a) ||
            get_str(t[4], str, 32) || reason_by_name(str, &reason) ||
            get_str(t[5], rec, sizeof rec) || get_int(t[6], -1, GM_RECEIPT_INT_MAX, &b) ||
            get_str(t[7], src, sizeof src) || get_int(t[8], -1, GM_RECEIPT_INT_MAX, &c))
            return -1;
        struct gm_receipt *r = g->r;
        g->state = SEG_CLOSED;
        r->end = a;
        r->end_reason = reason;
        r->has_recovered = rec[0] != '\0';
        memcpy(r->recovered, rec, sizeof rec);
        r->has_energy = b >= 0;
        r->energy_mj = b >= 0 ? b : 0;
        r->has_energy_source = src[0] != '\0';
        memcpy(r->energy_source, src, sizeof src);
        r->has_emissions = c >= 0;
        r->emissions_mg = c >= 0 ? c : 0;
        seen(s, a);
        return 0;
    }
    case 'D':
        if (n != 5 || !g || g->state != SEG_CLOSED || get_int(t[3], 0, GM_RECEIPT_INT_MAX, &a) ||
            get_int(t[4], 0, INT64_MAX, &b))
            return -1;
        set_done(g, a, b);
        return 0;
    case 'K':
        if (n != 5 || g || get_int(t[3], 0, GM_RECEIPT_INT_MAX, &a) ||
            get_int(t[4], 0, INT64_MAX, &b) || !(g = add(s, (uint32_t)job, start, 0)))
            return -1;
        g->state = SEG_DONE;
        g->segment = a;
        g->done_at = b;
        return 0;
    }
    return -1;
}

/* Whether line (n bytes, no newline) ends in the CRC32C of what precedes it. */
static int crc_ok(const char *line, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    char want[8];
    if (n <= 9 || line[n - 9] != ' ')
        return 0;
    uint32_t crc = gm_settle_crc32c(0, line, n - 9);
    for (int i = 0; i < 8; i++)
        want[i] = hexd[(crc >> (28 - 4 * i)) & 15];
    return memcmp(want, line + n - 8, 8) == 0;
}

/* Replay buf; sets *keep to the length to keep: up to the end of the last
 * good record.  Bad lines before a good one are damage (kept in the file
 * until the next compaction); bad or unterminated lines after the last good
 * one are a torn tail. */
static void replay(struct gm_segments *s, char *buf, size_t len, size_t *keep)
{
    size_t off = strlen(JOURNAL_MAGIC), good = off, bad_run = 0;
    while (off < len) {
        char *nl = memchr(buf + off, '\n', len - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (buf + off));
        char *line = buf + off;
        off += n + 1;
        if (n >= LINE_MAX_LEN || !crc_ok(line, n)) {
            bad_run++;
            continue;
        }
        s->damaged += bad_run;
        bad_run = 0;
        line[n - 9] = '\0';
        if (apply(s, line) != 0)
            s->damaged++;
        s->records++;
        good = off;
    }
    *keep = good;
}

/* ------------------------------------------------------------- the file */

/* Append one record (mutex held).  On a failed or short write the file is
 * cut back to its last whole record and the journal is "behind" until
 * gm_segments_compact rewrites it from memory. */
static int record(struct gm_segments *s, struct line *l, char *err, size_t errlen)
{
    if (l->overflow)
        return gm_errf(err, errlen, "%s: a record is longer than %d bytes", s->path, LINE_MAX_LEN);
    if (s->behind)
        return 0; /* in memory; gm_segments_compact writes it (the first failure was reported) */
    if (gm_io_write_all(s->fd, l->buf, l->len) != 0) {
        int e = errno;
        if (ftruncate(s->fd, (off_t)s->size) != 0) {
            /* the next open cuts the partial line as a torn tail */
        }
        s->behind = 1;
        return gm_errf(err, errlen, "%s: cannot write: %s; kept in memory", s->path, strerror(e));
    }
    s->size += l->len;
    s->records++;
    return 0;
}

static int open_file(const char *path, int create, char *err, size_t errlen)
{
    int fd =
        open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0),
             0600);
    if (fd < 0)
        return gm_errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return gm_errf(err, errlen, "%s: not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

gm_segments *gm_segments_open(const char *path, char *err, size_t errlen)
{
    struct gm_segments *s = calloc(1, sizeof *s);
    char *buf = NULL;
    size_t len = 0, keep = 0;

    if (!s || !(s->path = strdup(path))) {
        free(s);
        gm_errf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->fd = open_file(path, 1, err, errlen);
    if (s->fd < 0)
        goto fail;
    buf = gm_io_read_fd(s->fd, path, JOURNAL_MAX, &len, err, errlen);
    if (!buf)
        goto fail;
    if (len == 0) {
        if (gm_io_write_all(s->fd, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0 ||
            fdatasync(s->fd) != 0) {
            gm_errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
            goto fail;
        }
        s->size = strlen(JOURNAL_MAGIC);
    } else {
        if (len < strlen(JOURNAL_MAGIC) || memcmp(buf, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0) {
            gm_errf(err, errlen,
                    "%s: not a gpumarket segment journal (its first line is not \"%.*s\")", path,
                    (int)strlen(JOURNAL_MAGIC) - 1, JOURNAL_MAGIC);
            goto fail;
        }
        replay(s, buf, len, &keep);
        if (keep < len) {
            s->torn = len - keep;
            if (ftruncate(s->fd, (off_t)keep) != 0 || fdatasync(s->fd) != 0) {
                gm_errf(err, errlen, "%s: cannot cut its torn tail: %s", path, strerror(errno));
                goto fail;
            }
        }
        s->size = keep;
    }
    free(buf);
    return s;
fail:
    free(buf);
    gm_segments_close(s);
    return NULL;
}

void gm_segments_close(gm_segments *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].r);
    free(s->v);
    free(s->slot);
    free(s->path);
    free(s);
}

uint64_t gm_segments_torn_bytes(const gm_segments *s)
{
    return s->torn;
}

uint64_t gm_segments_damaged(const gm_segments *s)
{
    return s->damaged;
}

/* ------------------------------------------------------------- events */

int gm_segments_begin(gm_segments *s, uint32_t job, struct gm_receipt *r, int64_t now, char *err,
                      size_t errlen)
{
    struct line l = { .len = 0 };
    int rc;

    pthread_mutex_lock(&s->mu);
    if (find(s, job, r->start)) {
        pthread_mutex_unlock(&s->mu);
        return 1;
    }
    /* A run the journal has already seen for this job (one slurmctld's
     * kill -9 rolled back, say) keeps its number: this one follows it. */
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].job == job && s->v[i].segment >= r->segment)
            r->segment = s->v[i].segment + 1;
    struct seg *g = add(s, job, r->start, 1);
    if (!g) {
        pthread_mutex_unlock(&s->mu);
        return gm_errf(err, errlen, "out of memory");
    }
    g->state = SEG_OPEN;
    g->segment = r->segment;
    *g->r = *r;
    seen(s, now);
    line_open(&l, g);
    rc = record(s, &l, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int gm_segments_end(gm_segments *s, uint32_t job, int64_t start, const struct gm_segment_end *e,
                    char *err, size_t errlen)
{
    struct line l = { .len = 0 };
    int rc;

    pthread_mutex_lock(&s->mu);
    struct seg *g = find(s, job, start);
    if (!g || g->state != SEG_OPEN) {
        pthread_mutex_unlock(&s->mu);
        return 1;
    }
    struct gm_receipt *r = g->r;
    r->end = e->end < start ? start : e->end;
    r->end_reason = e->reason;
    r->has_recovered = e->recovered && e->recovered[0];
    snprintf(r->recovered, sizeof r->recovered, "%s", r->has_recovered ? e->recovered : "");
    r->has_energy = e->energy_mj >= 0;
    r->energy_mj = e->energy_mj >= 0 ? e->energy_mj : 0;
    r->has_energy_source = r->has_energy && e->energy_source && e->energy_source[0];
    snprintf(r->energy_source, sizeof r->energy_source, "%s",
             r->has_energy_source ? e->energy_source : "");
    r->has_emissions = r->has_energy && e->emissions_mg >= 0;
    r->emissions_mg = r->has_emissions ? e->emissions_mg : 0;
    g->state = SEG_CLOSED;
    seen(s, r->end);
    line_close(&l, g);
    rc = record(s, &l, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int gm_segments_heartbeat(gm_segments *s, int64_t now, char *err, size_t errlen)
{
    struct line l = { .len = 0 };
    pthread_mutex_lock(&s->mu);
    seen(s, now);
    line_heartbeat(&l, now);
    int rc = s->behind ? 0 : record(s, &l, err, errlen);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

enum gm_segment_state gm_segments_state(gm_segments *s, uint32_t job, int64_t start)
{
    pthread_mutex_lock(&s->mu);
    struct seg *g = find(s, job, start);
    enum gm_segment_state st = g ? (enum gm_segment_state)g->state : GM_SEGMENT_NONE;
    pthread_mutex_unlock(&s->mu);
    return st;
}

int64_t gm_segments_last_seen(gm_segments *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t t = s->last_seen;
    pthread_mutex_unlock(&s->mu);
    return t;
}

void gm_segments_counts(gm_segments *s, struct gm_segments_counts *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].state == SEG_OPEN)
            c->open++;
        else if (s->v[i].state == SEG_CLOSED)
            c->waiting++;
        else
            c->done++;
    }
    c->records = s->records;
    c->behind = s->behind;
    pthread_mutex_unlock(&s->mu);
}

int gm_segments_list_open(gm_segments *s, struct gm_segment_key **keys, size_t *count)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->v[i].state == SEG_OPEN;
    struct gm_segment_key *k = calloc(n ? n : 1, sizeof *k);
    if (!k) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].state == SEG_OPEN) {
            k[n].job = s->v[i].job;
            k[n].start = s->v[i].start;
            n++;
        }
    pthread_mutex_unlock(&s->mu);
    *keys = k;
    *count = n;
    return 0;
}

/* ------------------------------------------------------------- receipts */

int gm_segments_settle(gm_segments *s, gm_ledger *ledger, const gm_key *key, size_t max,
                       int64_t now, char *err, size_t errlen)
{
    struct gm_receipt *rs;
    struct gm_segment_key *keys;
    unsigned char *recorded;
    size_t n = 0, bad = 0;
    char why[512] = "";

    if (max == 0)
        max = 1;
    rs = calloc(max, sizeof *rs);
    keys = calloc(max, sizeof *keys);
    recorded = calloc(max, 1);
    if (!rs || !keys || !recorded) {
        free(rs);
        free(keys);
        free(recorded);
        return gm_errf(err, errlen, "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && n < max; i++) {
        struct seg *g = &s->v[i];
        if (g->state != SEG_CLOSED)
            continue;
        struct gm_receipt r = *g->r;
        r.version = GM_RECEIPT_VERSION;
        r.gpu_seconds = r.gpu_count * (r.end - r.start);
        if (r.end - r.start > GM_RECEIPT_INT_MAX / r.gpu_count)
            r.gpu_seconds = -1;
        r.amount_micro =
            r.gpu_seconds < 0 ? -1 : gm_receipt_amount(r.gpu_seconds, r.price_micro_per_gpu_hour);
        /* As the ledger will sign it (it sets the sequence again), so that
         * one unfit receipt is kept back instead of failing the group. */
        r.sequence = 0;
        memcpy(r.key_id, gm_key_id_hex(key), sizeof r.key_id);
        char msg[256];
        if (r.gpu_seconds < 0 || r.amount_micro < 0) {
            gm_errf(msg, sizeof msg, "its bill is beyond 2^53-1 micro-units");
        } else if (gm_receipt_check(&r, msg, sizeof msg) == 0) {
            keys[n].job = g->job;
            keys[n].start = g->start;
            rs[n++] = r;
            continue;
        }
        if (!bad++)
            snprintf(why, sizeof why, "job %" PRIu32 " started %" PRId64 ": %s", g->job, g->start,
                     msg);
    }
    /* The closing records are on disk before any receipt is. */
    if (s->behind) {
        pthread_mutex_unlock(&s->mu);
        free(rs);
        free(keys);
        free(recorded);
        return gm_errf(err, errlen, "%s: the journal is behind memory; compact it first", s->path);
    }
    /* The sync runs without the mutex: gm_segments_begin and _end are
     * called by slurmctld's scheduler with its job lock held and must not
     * wait for a disk.  A duplicate of the descriptor keeps the file that
     * holds these records open if gm_segments_compact replaces it meanwhile
     * (it syncs the file it writes itself). */
    int fd = n == 0 ? -1 : dup(s->fd);
    pthread_mutex_unlock(&s->mu);
    int synced = n == 0 || (fd >= 0 && fdatasync(fd) == 0);
    int sync_errno = errno;
    if (fd >= 0)
        close(fd);

    int rc = 0;
    if (!synced) {
        rc = gm_errf(err, errlen, "%s: fdatasync: %s", s->path, strerror(sync_errno));
    } else if (n > 0 && gm_ledger_append_many(ledger, key, rs, n, recorded, err, errlen) != 0) {
        rc = -1;
    } else if (n > 0) {
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < n; i++) {
            struct seg *g = find(s, keys[i].job, keys[i].start);
            if (!g || g->state != SEG_CLOSED)
                continue;
            struct line l = { .len = 0 };
            set_done(g, rs[i].sequence, now);
            line_done(&l, g, 'D');
            char msg[256];
            record(s, &l, msg, sizeof msg); /* lost only to a crash: then redone, recorded once */
        }
        pthread_mutex_unlock(&s->mu);
        rc = (int)n;
    }
    if (rc >= 0 && bad > 0) {
        gm_errf(err, errlen, "%zu closed segment(s) cannot be receipted (first: %s)", bad, why);
        if (n == 0)
            rc = -2;
    }
    free(rs);
    free(keys);
    free(recorded);
    return rc;
}

/* ------------------------------------------------------------- compaction */

int gm_segments_compact(gm_segments *s, int64_t now, int64_t keep_seconds, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0, cap = 0, kept = 0, records = 0;
    int rc = -1, fd = -1;

    pthread_mutex_lock(&s->mu);
    /* Drop what is no longer needed: receipted segments older than
     * keep_seconds (a restored stale job record can no longer reopen them). */
    for (size_t i = 0; i < s->n; i++) {
        struct seg *g = &s->v[i];
        if (g->state == SEG_DONE && now - g->done_at > keep_seconds)
            continue;
        s->v[kept++] = *g;
    }
    s->n = kept;
    index_rebuild(s, s->n); /* v shrank: cannot fail */
    cap = 4096 + s->n * 512;
    if (!(text = malloc(cap))) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }
    memcpy(text, JOURNAL_MAGIC, len = strlen(JOURNAL_MAGIC));
    for (size_t i = 0; i <= s->n; i++) {
        struct line a = { .len = 0 }, b = { .len = 0 };
        if (i == s->n) {
            line_heartbeat(&a, s->last_seen);
        } else if (s->v[i].state == SEG_DONE) {
            line_done(&a, &s->v[i], 'K');
        } else {
            line_open(&a, &s->v[i]);
            if (s->v[i].state == SEG_CLOSED)
                line_close(&b, &s->v[i]);
        }
        if (a.overflow || b.overflow) {
            gm_errf(err, errlen, "%s: a record is longer than %d bytes", s->path, LINE_MAX_LEN);
            goto out;
        }
        if (len + a.len + b.len > cap) {
            size_t ncap = (len + a.len + b.len) * 2;
            char *t = realloc(text, ncap);
            if (!t) {
                gm_errf(err, errlen, "out of memory");
                goto out;
            }
            text = t;
            cap = ncap;
        }
        memcpy(text + len, a.buf, a.len);
        len += a.len;
        memcpy(text + len, b.buf, b.len);
        len += b.len;
        records += 1 + (b.len > 0);
    }
    if (gm_io_write_file(s->path, text, len, 0600, 0, err, errlen) != 0)
        goto out;
    fd = open_file(s->path, 0, err, errlen);
    if (fd < 0)
        goto out;
    close(s->fd);
    s->fd = fd;
    s->size = len;
    s->records = records;
    s->behind = 0;
    rc = 0;
out:
    pthread_mutex_unlock(&s->mu);
    free(text);
    return rc;
}
