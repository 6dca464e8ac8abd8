/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Full, read-only ledger verification on every core: record framing, leaf
 * hashes, strict receipt form, sequence numbers, signatures, the tree and
 * the signed checkpoint.  Reports the first bad record by index. */
#include "config.h"

#include "common/conf.h"
#include "settlement/gpumarket-settlement.h"
#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Leaves per chunk: a power of two, so chunk roots are complete subtrees
 * and the RFC 6962 split points of the whole tree fall on chunk edges.
 * Threads claim chunks one at a time, so small chunks keep every core busy
 * to the end (a signature check is ~40 us: 256 of them ~10 ms). */
#define CHUNK 256

#define ZERO_PARENT "0000000000000000000000000000000000000000000000000000000000000000"

/* SHA-256 for one verification run: the method fetched once per run (and
 * freed at its end, so nothing outlives the call), and one reusable digest
 * context per thread.  SHA256() and EVP_sha256() look the method up in
 * OpenSSL's store on every call (OpenSSL 3), and EVP_Digest allocates a
 * context per call: for a record of a few hundred bytes that costs about as
 * much as the hashing.  Without a context (no memory) the library's own
 * leaf and node hashes are used. */
struct hasher {
    const EVP_MD *md;
    EVP_MD_CTX *ctx;
};

static void hasher_open(struct hasher *h, const EVP_MD *md)
{
    h->md = md;
    h->ctx = md ? EVP_MD_CTX_new() : NULL;
}

static void hasher_close(struct hasher *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

/* SHA-256(prefix || a || b) into out; 0 or -1. */
static int hash3(struct hasher *h, uint8_t prefix, const void *a, size_t alen, const void *b,
                 size_t blen, uint8_t out[GM_HASH_LEN])
{
    return h->ctx && EVP_DigestInit_ex(h->ctx, h->md, NULL) == 1 &&
                   EVP_DigestUpdate(h->ctx, &prefix, 1) == 1 &&
                   EVP_DigestUpdate(h->ctx, a, alen) == 1 &&
                   (blen == 0 || EVP_DigestUpdate(h->ctx, b, blen) == 1) &&
                   EVP_DigestFinal_ex(h->ctx, out, NULL) == 1
               ? 0
               : -1;
}

static void leaf_hash(struct hasher *h, const void *data, size_t len, uint8_t out[GM_HASH_LEN])
{
    if (hash3(h, 0x00, data, len, NULL, 0, out) != 0)
        gm_merkle_leaf_hash(data, len, out);
}

static void node_hash(struct hasher *h, const uint8_t l[GM_HASH_LEN], const uint8_t r[GM_HASH_LEN],
                      uint8_t out[GM_HASH_LEN])
{
    if (hash3(h, 0x01, l, GM_HASH_LEN, r, GM_HASH_LEN, out) != 0)
        gm_merkle_node_hash(l, r, out);
}

/* MTH over already-hashed nodes h[0..n): the RFC recursion, base case the node. */
static void mth_nodes(struct hasher *hs, const uint8_t (*h)[GM_HASH_LEN], uint64_t n,
                      uint8_t out[GM_HASH_LEN])
{
    if (n == 0) {
        gm_settle_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, h[0], GM_HASH_LEN);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[GM_HASH_LEN], r[GM_HASH_LEN];
    mth_nodes(hs, h, k, l);
    mth_nodes(hs, h + k, n - k, r);
    node_hash(hs, l, r, out);
}

/* A policy record found by the sequential pass: what receipts after it are
 * checked against. */
struct policy_entry {
    uint64_t index;
    int64_t applied;
    gm_governance_record *record;
};

struct job {
    const uint8_t *map;
    const uint64_t *offsets;
    uint64_t nrec;
    uint8_t (*leaves)[GM_HASH_LEN];
    uint8_t (*chunk_roots)[GM_HASH_LEN];
    uint64_t nchunks;
    uint64_t *next_chunk; /* shared, atomic: the next chunk to claim */
    uint64_t *stop_chunk; /* shared, atomic: lowest chunk with a bad record */
    gm_key *const *keys;
    size_t nkeys;
    int hash_only;
    uint8_t (*segments)[16]; /* each receipt's segment identity */
    uint8_t *is_policy;      /* 1 for a policy record */
    const struct policy_entry *policies;
    size_t npolicies;
    const EVP_MD *md; /* SHA-256, fetched once for the run */
    struct hasher h;  /* the thread's own context */
    int64_t bad;
    char msg[300];
};

/* The receipt names the policy it was priced under (the last policy record
 * before it applied at or before its start) and pays at least that
 * policy's reserve price for its GPU type. */
static int check_priced_under(struct job *j, uint64_t i, const struct gm_receipt *r)
{
    const struct policy_entry *in_force = NULL;
    size_t lo = 0, hi = j->npolicies; /* first policy at or after i */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->policies[mid].index < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k-- > 0;)
        if (j->policies[k].applied <= r->start) {
            in_force = &j->policies[k];
            break;
        }
    if (!in_force) {
        if (r->has_policy) {
            snprintf(j->msg, sizeof j->msg,
                     "record %llu: receipt names policy %.16s... but no policy was in force at "
                     "its start",
                     (unsigned long long)i, r->policy);
            return -1;
        }
        return 0;
    }
    const gm_governance_proposal *p = gm_governance_record_proposal(in_force->record);
    const char *hash = gm_governance_proposal_hash(p);
    if (!r->has_policy || strcmp(r->policy, hash) != 0) {
        snprintf(j->msg, sizeof j->msg,
                 "record %llu: receipt names %s%.16s%s, but the policy in force at its start is "
                 "%.16s... (record %llu)",
                 (unsigned long long)i, r->has_policy ? "policy " : "no policy",
                 r->has_policy ? r->policy : "", r->has_policy ? "..." : "", hash,
                 (unsigned long long)in_force->index);
        return -1;
    }
    int64_t reserve;
    if (gm_conf_reserve_price(gm_governance_proposal_conf(p), r->gpu_type, &reserve) != 0) {
        snprintf(j->msg, sizeof j->msg,
                 "record %llu: GPU type %s has no reserve price under policy %.16s... (record "
                 "%llu), so none could be leased",
                 (unsigned long long)i, r->gpu_type, hash, (unsigned long long)in_force->index);
        return -1;
    }
    if (r->price_micro_per_gpu_hour < reserve) {
        snprintf(j->msg, sizeof j->msg,
                 "record %llu: price %lld micro-units per GPU-hour is below the %s reserve price "
                 "%lld of policy %.16s... (record %llu)",
                 (unsigned long long)i, (long long)r->price_micro_per_gpu_hour, r->gpu_type,
                 (long long)reserve, hash, (unsigned long long)in_force->index);
        return -1;
    }
    return 0;
}

static int check_one(struct job *j, uint64_t i)
{
    const uint8_t *rec = j->map + j->offsets[i];
    uint32_t dlen = gm_settle_get_be32(rec + 4);
    const uint8_t *data = rec + GM_SETTLE_REC_HDR;
    leaf_hash(&j->h, data, dlen, j->leaves[i]);
    if (memcmp(j->leaves[i], data + dlen, GM_HASH_LEN) != 0) {
        snprintf(j->msg, sizeof j->msg,
                 "record %llu: data does not match its leaf hash (the record was altered)",
                 (unsigned long long)i);
        return -1;
    }
    if (j->hash_only || j->is_policy[i])
        return 0;
    struct gm_receipt r;
    char err[256];
    if (gm_signed_receipt_verify((const char *)data, dlen, j->keys, j->nkeys, &r, err,
                                 sizeof err)) {
        snprintf(j->msg, sizeof j->msg, "record %llu: %s", (unsigned long long)i, err);
        return -1;
    }
    if ((uint64_t)r.sequence != i) {
        snprintf(j->msg, sizeof j->msg,
                 "record %llu: receipt says sequence %lld (records out of place)",
                 (unsigned long long)i, (long long)r.sequence);
        return -1;
    }
    gm_settle_segment_digest(&r, j->segments[i]);
    return check_priced_under(j, i, &r);
}

/* Claim chunks in order until none is left.  Every chunk before a bad
 * record's is claimed before it and checked to the end (or to its own first
 * bad record), so the lowest bad index over all threads is the first. */
static void work(struct job *j)
{
    for (;;) {
        uint64_t c = __atomic_fetch_add(j->next_chunk, 1, __ATOMIC_RELAXED);
        if (c >= j->nchunks || c > __atomic_load_n(j->stop_chunk, __ATOMIC_RELAXED))
            return;
        uint64_t lo = c * CHUNK, hi = lo + CHUNK < j->nrec ? lo + CHUNK : j->nrec;
        for (uint64_t i = lo; i < hi; i++)
            if (check_one(j, i)) {
                j->bad = (int64_t)i;
                uint64_t stop = __atomic_load_n(j->stop_chunk, __ATOMIC_RELAXED);
                while (c < stop && !__atomic_compare_exchange_n(j->stop_chunk, &stop, c, true,
                                                                __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                    ;
                return;
            }
        mth_nodes(&j->h, (const uint8_t(*)[GM_HASH_LEN])j->leaves + lo, hi - lo, j->chunk_roots[c]);
    }
}

static void *worker(void *arg)
{
    struct job *j = arg;
    hasher_open(&j->h, j->md);
    work(j);
    hasher_close(&j->h);
    return NULL;
}

static int compare_by_segment(const void *a, const void *b, void *arg)
{
    const uint8_t(*seg)[16] = arg;
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    int c = memcmp(seg[x], seg[y], 16);
    return c ? c : (x > y) - (x < y);
}

/* The first record (by index) that is a second receipt for a segment, or
 * -1; *first gets the index of the receipt it repeats. */
static int64_t first_duplicate(const uint8_t (*segments)[16], const uint8_t *is_policy,
                               uint64_t nrec, uint64_t *first)
{
    uint64_t *v = malloc((nrec ? nrec : 1) * sizeof *v);
    if (!v)
        return -2;
    uint64_t n = 0;
    for (uint64_t i = 0; i < nrec; i++)
        if (!is_policy[i])
            v[n++] = i;
    qsort_r(v, n, sizeof *v, compare_by_segment, (void *)segments);
    int64_t dup = -1;
    for (uint64_t i = 1; i < n; i++)
        if (!memcmp(segments[v[i]], segments[v[i - 1]], 16) && (dup < 0 || v[i] < (uint64_t)dup)) {
            uint64_t k = i - 1;
            while (k > 0 && !memcmp(segments[v[k - 1]], segments[v[i]], 16))
                k--;
            dup = (int64_t)v[i];
            *first = v[k];
        }
    free(v);
    return dup;
}

/* Root of the first `size` leaves from the chunk roots (and the partial chunk). */
static int root_at(struct hasher *h, uint8_t (*leaves)[GM_HASH_LEN],
                   uint8_t (*chunk_roots)[GM_HASH_LEN], uint64_t size, uint8_t out[GM_HASH_LEN])
{
    uint64_t full = size / CHUNK, rem = size % CHUNK;
    uint8_t(*tmp)[GM_HASH_LEN] = malloc((full + 1) * GM_HASH_LEN);
    if (!tmp)
        return -1;
    memcpy(tmp, chunk_roots, full * GM_HASH_LEN);
    if (rem)
        mth_nodes(h, (const uint8_t(*)[GM_HASH_LEN])leaves + full * CHUNK, rem, tmp[full]);
    mth_nodes(h, (const uint8_t(*)[GM_HASH_LEN])tmp, full + (rem ? 1 : 0), out);
    free(tmp);
    return 0;
}

/* The policy records, in order: form, leaf hash, signatures by the admins,
 * expiry, parent chain, applied times.  *nout counts the records decoded
 * into out[] (to free), *nvalid those that passed every check (a prefix:
 * receipts before the first bad policy record are checked against them).
 * -1 with *bad and msg at the first bad one. */
static int check_policies(const uint8_t *map, const uint64_t *offsets, const uint8_t *is_policy,
                          uint64_t nrec, const struct gm_governance_admins *admins,
                          struct policy_entry *out, size_t *nout, size_t *nvalid, int64_t *bad,
                          char *msg, size_t msglen)
{
    const char *prev_hash = NULL;
    int64_t prev_applied = 0;
    size_t n = 0;
    for (uint64_t i = 0; i < nrec; i++) {
        if (!is_policy[i])
            continue;
        *nvalid = n;
        *bad = (int64_t)i;
        const uint8_t *rec = map + offsets[i];
        uint32_t dlen = gm_settle_get_be32(rec + 4);
        const uint8_t *data = rec + GM_SETTLE_REC_HDR;
        uint8_t leaf[GM_HASH_LEN];
        gm_merkle_leaf_hash(data, dlen, leaf);
        if (memcmp(leaf, data + dlen, GM_HASH_LEN) != 0)
            return gm_errf(msg, msglen,
                           "record %llu: data does not match its leaf hash (the record was "
                           "altered)",
                           (unsigned long long)i);
        char err[900];
        gm_governance_record *r =
            gm_governance_record_parse((const char *)data, dlen, err, sizeof err);
        if (!r)
            return gm_errf(msg, msglen, "record %llu: %s", (unsigned long long)i, err);
        out[n++] = (struct policy_entry){ i, gm_governance_record_applied(r), r };
        *nout = n;
        if (!admins || admins->nkeys == 0)
            return gm_errf(msg, msglen,
                           "record %llu is a policy record: give the policy admins' public keys "
                           "and threshold (--admin-key and --threshold, or PolicyAdmins and "
                           "PolicyThreshold in gpumarket.conf) to verify it",
                           (unsigned long long)i);
        if (gm_governance_record_check(r, admins, NULL, err, sizeof err) != 0)
            return gm_errf(msg, msglen, "record %llu: policy record: %s", (unsigned long long)i,
                           err);
        const gm_governance_proposal *p = gm_governance_record_proposal(r);
        const char *want = prev_hash ? prev_hash : ZERO_PARENT;
        if (strcmp(gm_governance_proposal_parent(p), want) != 0)
            return gm_errf(msg, msglen,
                           "record %llu: the policy's parent %.16s... is not the policy before "
                           "it (%.16s...): the chain of policies is broken",
                           (unsigned long long)i, gm_governance_proposal_parent(p), want);
        if (prev_hash && gm_governance_record_applied(r) < prev_applied)
            return gm_errf(msg, msglen,
                           "record %llu: applied at %lld, before the policy it replaces (%lld)",
                           (unsigned long long)i, (long long)gm_governance_record_applied(r),
                           (long long)prev_applied);
        prev_hash = gm_governance_proposal_hash(p);
        prev_applied = gm_governance_record_applied(r);
    }
    *nvalid = n;
    *bad = -1;
    return 0;
}

/* ------------------------------------------------------------ framing
 *
 * The record boundaries, found on every core speculatively: the file after
 * its header is cut into one byte range per thread; each thread finds the
 * first record header in its range (magic and header checksum right, length
 * in range and inside the file) and walks records from there as the
 * sequential walk would, taking every record that starts inside its range.
 * A range's result is the sequential walk's exactly when it started where
 * the walk from the previous ranges ends (the first record start at or
 * after the range's first byte), since the walk from a given record start
 * is deterministic.  So the ranges are joined in order, each accepted only
 * if its start is that boundary, else walked again from the true boundary
 * (a header lookalike inside a record's data, or damage); the walk stops at
 * the first record that does not parse, at the same record as one
 * sequential pass from the start. */

/* Ranges shorter than this are not worth a thread. */
#define FRAME_RANGE_MIN 4096

struct frame_range {
    uint64_t lo, hi; /* the bytes [lo, hi): records starting there are ours */
    uint64_t start;  /* where the walk began (UINT64_MAX: no header found) */
    uint64_t end;    /* the first record start at or after hi, or the stop */
    int stopped;     /* a record that does not parse (or a torn tail) at end */
    int nomem;
    uint64_t *off, n, cap;
    uint8_t *pol;
    size_t npolicy;
    const uint8_t *map;
    size_t size;
};

/* A record header at p (its checksum right, its length in range, the
 * record inside the file): where a speculative walk may begin. */
static bool header_at(const uint8_t *map, size_t size, uint64_t p)
{
    if (p + GM_SETTLE_REC_HDR > size || gm_settle_get_be32(map + p) != GM_SETTLE_REC_MAGIC)
        return false;
    uint32_t dlen = gm_settle_get_be32(map + p + 4);
    return dlen > 0 && dlen <= GM_LEDGER_RECORD_MAX && p + GM_SETTLE_REC_OVERHEAD + dlen <= size &&
           gm_settle_get_be32(map + p + 8) == gm_settle_crc32c(0, map + p, 8);
}

/* Walk the records starting at r->start that begin before r->hi. */
static void frame_walk(struct frame_range *r)
{
    r->n = 0;
    r->npolicy = 0;
    r->stopped = 0;
    uint64_t off = r->start;
    while (off < r->hi) {
        long n = gm_settle_parse_record(r->map + off, r->size - off, NULL, NULL, 0, NULL, 0);
        if (n <= 0) {
            r->stopped = 1;
            break;
        }
        if (r->n == r->cap) {
            uint64_t cap = r->cap ? r->cap * 2 : 1024;
            uint64_t *no = realloc(r->off, cap * sizeof *no);
            if (no)
                r->off = no;
            uint8_t *np = no ? realloc(r->pol, cap) : NULL;
            if (np)
                r->pol = np;
            if (!no || !np) {
                r->nomem = 1;
                break;
            }
            r->cap = cap;
        }
        uint8_t pol = (uint8_t)gm_governance_is_record(r->map + off + GM_SETTLE_REC_HDR,
                                                       gm_settle_get_be32(r->map + off + 4));
        r->pol[r->n] = pol;
        r->npolicy += pol;
        r->off[r->n++] = off;
        off += (uint64_t)n;
    }
    r->end = off;
}

/* A thread's range: resynchronise on the first header, then walk. */
static void *frame_speculate(void *arg)
{
    struct frame_range *r = arg;
    r->start = UINT64_MAX;
    for (uint64_t p = r->lo; p < r->hi; p++)
        if (r->map[p] == (uint8_t)(GM_SETTLE_REC_MAGIC >> 24) && header_at(r->map, r->size, p)) {
            r->start = p;
            break;
        }
    if (r->start != UINT64_MAX)
        frame_walk(r);
    return NULL;
}

/* Every record start of map[from, size) as one sequential walk finds them,
 * into *whole (off, pol, n, npolicy; stopped and end: the first record that
 * does not parse).  0, or -1 on no memory. */
static int frame_all(const uint8_t *map, size_t size, uint64_t from, int threads,
                     struct frame_range *whole)
{
    uint64_t bytes = size > from ? size - from : 0;
    uint64_t nr = (uint64_t)(threads > 0 ? threads : 1);
    if (nr > bytes / FRAME_RANGE_MIN)
        nr = bytes / FRAME_RANGE_MIN ? bytes / FRAME_RANGE_MIN : 1;
    struct frame_range *r = calloc(nr, sizeof *r);
    pthread_t *tids = calloc(nr, sizeof *tids);
    int rc = -1;
    if (!r || !tids)
        goto done;
    for (uint64_t k = 0; k < nr; k++) {
        r[k].lo = from + bytes * k / nr;
        r[k].hi = from + bytes * (k + 1) / nr;
        r[k].map = map;
        r[k].size = size;
    }
    /* Range 0 starts on a record boundary: no resynchronisation. */
    for (uint64_t k = 1; k < nr; k++)
        if (pthread_create(&tids[k], NULL, frame_speculate, &r[k]) != 0) {
            tids[k] = pthread_self(); /* not started: walked from the boundary below */
            r[k].start = UINT64_MAX;
        }
    r[0].start = from;
    frame_walk(&r[0]);
    for (uint64_t k = 1; k < nr; k++)
        if (!pthread_equal(tids[k], pthread_self()))
            pthread_join(tids[k], NULL);

    /* Join the ranges in order from the true boundary. */
    uint64_t cur = from, total = 0;
    uint64_t last = 0; /* ranges [0, last) are part of the walk */
    for (uint64_t k = 0; k < nr; k++) {
        if (cur >= r[k].hi) { /* a record spans the whole range */
            r[k].n = 0;
            last = k + 1;
            continue;
        }
        if (r[k].nomem || r[k].start != cur) {
            r[k].nomem = 0;
            r[k].start = cur;
            frame_walk(&r[k]);
        }
        if (r[k].nomem)
            goto done;
        total += r[k].n;
        cur = r[k].end;
        last = k + 1;
        if (r[k].stopped)
            break;
    }
    whole->end = cur;
    whole->stopped = last > 0 && r[last - 1].stopped;
    whole->off = malloc((total ? total : 1) * sizeof *whole->off);
    whole->pol = malloc(total ? total : 1);
    if (!whole->off || !whole->pol) {
        free(whole->off);
        free(whole->pol);
        whole->off = NULL;
        whole->pol = NULL;
        goto done;
    }
    whole->n = 0;
    whole->npolicy = 0;
    for (uint64_t k = 0; k < last; k++) {
        if (r[k].n == 0) /* a range with no record may have no arrays (memcpy from NULL) */
            continue;
        memcpy(whole->off + whole->n, r[k].off, r[k].n * sizeof *r[k].off);
        memcpy(whole->pol + whole->n, r[k].pol, r[k].n);
        whole->n += r[k].n;
        whole->npolicy += r[k].npolicy;
    }
    rc = 0;
done:
    for (uint64_t k = 0; r && k < nr; k++) {
        free(r[k].off);
        free(r[k].pol);
    }
    free(r);
    free(tids);
    return rc;
}

int gm_ledger_verify(const char *dir, gm_key *const *keys, size_t nkeys, int flags, int threads,
                     struct gm_ledger_verify_result *res, char *err, size_t errlen)
{
    return gm_ledger_verify_governed(dir, keys, nkeys, NULL, flags, threads, res, err, errlen);
}

int gm_ledger_verify_governed(const char *dir, gm_key *const *keys, size_t nkeys,
                              const struct gm_governance_admins *admins, int flags, int threads,
                              struct gm_ledger_verify_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    res->bad_index = -1;
    char path[4096], origin[GM_CHECKPOINT_ORIGIN_MAX + 1];
    snprintf(path, sizeof path, "%s/ledger", dir);
    /* Read the checkpoint before the ledger's size: a checkpoint only ever
     * covers records already written, so it can never look ahead of us. */
    char cppath[4096];
    char *cptext = NULL;
    size_t cplen = 0;
    snprintf(cppath, sizeof cppath, "%s/checkpoint", dir);
    if (access(cppath, F_OK) == 0) {
        cptext = gm_io_read_file(cppath, 0, 1 << 20, &cplen, err, errlen);
        if (!cptext)
            return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(cptext);
        return gm_errf(err, errlen, "%s: cannot open the ledger: %s", path, strerror(errno));
    }
    /* The shared lock covers the framing pass only: appenders wait for it,
     * and whole records never change or go away afterwards (recovery only
     * cuts bytes after the last whole record). */
    while (flock(fd, LOCK_SH) != 0 && errno == EINTR)
        ;
    bool locked = true;
    int rc = -1;
    uint8_t *map = MAP_FAILED;
    size_t size = 0;
    uint64_t *offsets = NULL, nrec = 0;
    uint8_t(*leaves)[GM_HASH_LEN] = NULL, (*chunk_roots)[GM_HASH_LEN] = NULL;
    uint8_t(*segments)[16] = NULL;
    uint8_t *is_policy = NULL;
    size_t npolicy_records = 0, npolicies = 0;
    struct policy_entry *policies = NULL;
    struct job *jobs = NULL;
    pthread_t *tids = NULL;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL); /* NULL: the slow way */
    struct hasher mainh;
    hasher_open(&mainh, md);
    long hl = gm_settle_read_ledger_header(fd, path, origin, err, errlen);
    if (hl < 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        gm_errf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    size = (size_t)st.st_size;
    /* Populated: one pass maps the whole file, instead of a page fault every
     * few pages in the (serial) framing pass below. */
    map = mmap(NULL, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        gm_errf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        goto out;
    }
    madvise(map, size, MADV_SEQUENTIAL);

    /* Framing: the record boundaries, in parallel (see frame_all). */
    int64_t frame_bad = -1;
    char frame_msg[300] = "";
    if (threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu > 0 ? (int)ncpu : 1;
    }
    struct frame_range whole = { 0 };
    if (frame_all(map, size, (uint64_t)hl, threads, &whole) != 0) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }
    offsets = whole.off;
    is_policy = whole.pol;
    nrec = whole.n;
    npolicy_records = whole.npolicy;
    if (whole.stopped) {
        /* The first record that does not parse, found by walking from the
         * start: damage, or an unfinished append at the end. */
        uint64_t off = whole.end;
        char msg[200];
        long n = gm_settle_parse_record(map + off, size - off, NULL, NULL, 0, msg, sizeof msg);
        if (n < 0) {
            frame_bad = (int64_t)nrec;
            snprintf(frame_msg, sizeof frame_msg, "record %llu (byte %llu): %s",
                     (unsigned long long)nrec, (unsigned long long)off, msg);
        } else if (!gm_settle_tail_is_torn(map + off, size - off, msg, sizeof msg)) {
            frame_bad = (int64_t)nrec;
            snprintf(frame_msg, sizeof frame_msg,
                     "bytes %llu to the end (after record %llu) are damage, not an "
                     "unfinished append: %s",
                     (unsigned long long)off, (unsigned long long)nrec, msg);
        } else {
            res->torn_bytes = size - off;
        }
    }
    flock(fd, LOCK_UN);
    locked = false;

    /* Policies first, in order (few, and receipts are checked against
     * them); the first bad record of any kind is reported below. */
    int64_t policy_bad = -1;
    char policy_msg[1000] = "";
    size_t nvalid_policies = 0;
    if (!(flags & GM_VERIFY_HASH_ONLY) && npolicy_records > 0) {
        policies = calloc(npolicy_records, sizeof *policies);
        if (!policies) {
            gm_errf(err, errlen, "out of memory");
            goto out;
        }
        check_policies(map, offsets, is_policy, nrec, admins, policies, &npolicies,
                       &nvalid_policies, &policy_bad, policy_msg, sizeof policy_msg);
    }
    if (!is_policy && !(is_policy = calloc(1, 1))) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }

    uint64_t nchunks = (nrec + CHUNK - 1) / CHUNK;
    leaves = malloc((nrec ? nrec : 1) * GM_HASH_LEN);
    segments = malloc((nrec ? nrec : 1) * 16);
    chunk_roots = malloc((nchunks ? nchunks : 1) * GM_HASH_LEN);
    if ((uint64_t)threads > nchunks)
        threads = nchunks ? (int)nchunks : 1;
    jobs = calloc((size_t)threads, sizeof *jobs);
    tids = calloc((size_t)threads, sizeof *tids);
    if (!leaves || !chunk_roots || !jobs || !tids || !segments) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }
    uint64_t next_chunk = 0, stop_chunk = UINT64_MAX;
    for (int t = 0; t < threads; t++) {
        struct job *j = &jobs[t];
        *j = (struct job){ map,
                           offsets,
                           nrec,
                           leaves,
                           chunk_roots,
                           nchunks,
                           &next_chunk,
                           &stop_chunk,
                           keys,
                           nkeys,
                           flags & GM_VERIFY_HASH_ONLY,
                           segments,
                           is_policy,
                           policies,
                           nvalid_policies,
                           md,
                           { NULL, NULL },
                           -1,
                           "" };
        if (t > 0 && pthread_create(&tids[t], NULL, worker, j) != 0) {
            tids[t] = pthread_self(); /* marks "not started": done inline below */
            worker(j);
        }
    }
    worker(&jobs[0]);
    for (int t = 1; t < threads; t++)
        if (!pthread_equal(tids[t], pthread_self()))
            pthread_join(tids[t], NULL);
    int64_t bad = frame_bad;
    const char *why = frame_msg;
    if (policy_bad >= 0 && (bad < 0 || policy_bad < bad)) {
        bad = policy_bad;
        why = policy_msg;
    }
    for (int t = 0; t < threads; t++)
        if (jobs[t].bad >= 0 && (bad < 0 || jobs[t].bad < bad)) {
            bad = jobs[t].bad;
            why = jobs[t].msg;
        }
    if (bad >= 0) {
        res->bad_index = bad;
        gm_errf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    /* One receipt per segment (receipts are decoded only in a full verify). */
    if (!(flags & GM_VERIFY_HASH_ONLY)) {
        uint64_t first = 0;
        int64_t dup = first_duplicate((const uint8_t(*)[16])segments, is_policy, nrec, &first);
        if (dup == -2) {
            gm_errf(err, errlen, "out of memory");
            goto out;
        }
        if (dup >= 0) {
            res->bad_index = dup;
            gm_errf(
                err, errlen,
                "%s: record %lld is a second receipt for the segment billed by record %llu "
                "(same cluster, job, array task, segment and start): the segment would be billed "
                "twice",
                path, (long long)dup, (unsigned long long)first);
            goto out;
        }
    }
    res->size = nrec;
    if (root_at(&mainh, leaves, chunk_roots, nrec, res->root)) {
        gm_errf(err, errlen, "out of memory");
        goto out;
    }

    /* The signed checkpoint, when there is one, must be a prefix of this tree. */
    if (cptext) {
        char msg[300];
        struct gm_checkpoint cp;
        int unsigned_ok = (flags & GM_VERIFY_HASH_ONLY) && nkeys == 0;
        if (unsigned_ok ? gm_checkpoint_parse(cptext, cplen, &cp, msg, sizeof msg)
                        : gm_checkpoint_verify(cptext, cplen, keys, nkeys, &cp, msg, sizeof msg)) {
            gm_errf(err, errlen, "%s: %s", cppath, msg);
            goto out;
        }
        if (strcmp(cp.origin, origin) != 0) {
            gm_errf(err, errlen, "%s: origin \"%s\" is not the ledger's \"%s\"", cppath, cp.origin,
                    origin);
            goto out;
        }
        if (cp.size > nrec) {
            gm_errf(
                err, errlen,
                "%s: signed for %llu records but the ledger has %llu: records after index %llu were lost",
                cppath, (unsigned long long)cp.size, (unsigned long long)nrec,
                (unsigned long long)nrec);
            res->bad_index = (int64_t)nrec;
            goto out;
        }
        uint8_t r[GM_HASH_LEN];
        if (root_at(&mainh, leaves, chunk_roots, cp.size, r)) {
            gm_errf(err, errlen, "out of memory");
            goto out;
        }
        if (memcmp(r, cp.root, GM_HASH_LEN) != 0) {
            gm_errf(
                err, errlen,
                "%s: the root hash of the first %llu records differs from the signed one: the ledger was rewritten",
                cppath, (unsigned long long)cp.size);
            goto out;
        }
        res->has_checkpoint = 1;
        res->checkpoint_signature_checked = !unsigned_ok;
        res->checkpoint_size = cp.size;
    }
    rc = 0;
out:
    hasher_close(&mainh);
    EVP_MD_free(md);
    free(cptext);
    free(jobs);
    free(tids);
    free(leaves);
    free(segments);
    free(is_policy);
    for (size_t i = 0; i < npolicies; i++)
        gm_governance_record_destroy(policies[i].record);
    free(policies);
    free(chunk_roots);
    free(offsets);
    if (map != MAP_FAILED)
        munmap(map, size);
    if (locked)
        flock(fd, LOCK_UN);
    close(fd);
    return rc;
}
