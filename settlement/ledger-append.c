/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger's append queue: group commit across threads (one write and one
 * fdatasync per batch) and processes (an exclusive flock), with the batch
 * signed in parallel by its waiting appenders and helper threads.  The file
 * format and the records' storage are ledger.c's. */
#include "config.h"

#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

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
    bool done;        /* the owner's entry: set (atomically) once the group is finished */
    char *signed_buf; /* the signed receipt, malloc'd by its signer */
    size_t signed_len;
    uint8_t leaf[GM_HASH_LEN];
    uint8_t segment[16];     /* gm_settle_segment_digest */
    bool recorded;           /* its segment already has a receipt: not written */
    struct pending *same_as; /* ... given earlier in this batch */
    size_t order;            /* place in the batch */
    char err[256];
    /* The entry of the appending thread this entry belongs to (the last of
     * its group), which alone waits: on its own semaphore (no thundering
     * herd), posted when its group is finished or when it should lead.  A
     * semaphore can be posted without holding the ledger mutex, so finished
     * appenders return without taking the mutex again. */
    struct pending *owner;
    sem_t wake;
    struct pending *next;
};

void gm_settle_append_queue_init(gm_ledger *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->helper_cv, NULL);
    pthread_cond_init(&l->sign_cv, NULL);
}

void gm_settle_append_queue_destroy(gm_ledger *l)
{
    if (l->nhelpers > 0) {
        pthread_mutex_lock(&l->mu);
        l->stopping = true;
        pthread_cond_broadcast(&l->helper_cv);
        pthread_mutex_unlock(&l->mu);
        for (int i = 0; i < l->nhelpers; i++)
            pthread_join(l->helpers[i], NULL);
    }
    free(l->helpers);
    l->helpers = NULL;
    l->nhelpers = 0;
    free(l->wbuf);
    l->wbuf = NULL;
    l->wbuf_cap = 0;
    pthread_cond_destroy(&l->helper_cv);
    pthread_cond_destroy(&l->sign_cv);
    pthread_mutex_destroy(&l->mu);
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
        /* Only the last signer takes the mutex, to wake the leader. */
        if (__atomic_sub_fetch(&l->sign_remaining, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&l->mu);
            pthread_cond_signal(&l->sign_cv);
            pthread_mutex_unlock(&l->mu);
        }
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

/* By segment, then by place in the queue. */
static int compare_segment(const void *a, const void *b)
{
    const struct pending *x = *(const struct pending *const *)a,
                         *y = *(const struct pending *const *)b;
    int c = memcmp(x->segment, y->segment, sizeof x->segment);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* One receipt per segment: mark the batch's entries whose segment the ledger
 * already holds (their sequence becomes the record's), and those repeating an
 * earlier entry of the batch (the earliest is written).  Exclusive lock held,
 * index up to date. */
static int mark_recorded(gm_ledger *l, struct pending *batch, size_t count, char *err,
                         size_t errlen)
{
    struct pending **v = malloc(count * sizeof *v);
    if (!v)
        return gm_errf(err, errlen, "out of memory");
    size_t k = 0, order = 0;
    for (struct pending *p = batch; p; p = p->next) {
        uint64_t seq;
        gm_settle_segment_digest(p->r, p->segment);
        p->order = order++;
        p->same_as = NULL;
        p->recorded = gm_settle_segment_find(l, p->r, &seq);
        if (p->recorded)
            p->r->sequence = (int64_t)seq;
        else
            v[k++] = p;
    }
    qsort(v, k, sizeof *v, compare_segment);
    for (size_t i = 1; i < k; i++)
        if (!memcmp(v[i]->segment, v[i - 1]->segment, sizeof v[i]->segment)) {
            v[i]->recorded = true;
            v[i]->same_as = v[i - 1]->same_as ? v[i - 1]->same_as : v[i - 1];
        }
    free(v);
    return 0;
}

/* Write buf at the ledger's end, all of it; on a failure cut what was
 * written (leaving no partial record behind; the next open would cut it
 * anyway) and return -1 with the message. */
static int write_at_end(gm_ledger *l, const uint8_t *buf, size_t used, char *err, size_t errlen)
{
    size_t done = 0;
    while (done < used) {
        ssize_t n = pwrite(l->fd, buf + done, used - done, (off_t)(l->end + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            gm_errf(err, errlen, "%s: write failed: %s", l->path,
                    n < 0 ? strerror(errno) : "no progress");
            if (ftruncate(l->fd, (off_t)l->end) != 0)
                l->broken = true;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Write one batch: number it under the exclusive file lock, sign it on the
 * waiting threads, write it with one pwrite.  The caller syncs it.  Returns
 * 0, or -1 with err when none of it was written. */
static int commit_batch(gm_ledger *l, struct pending *batch, char *err, size_t errlen)
{
    struct pending *p;
    size_t count = 0;
    for (p = batch; p; p = p->next)
        count++;
    if (count == 0)
        return 0; /* our entries went with an earlier leader's batch */
    if (gm_settle_ledger_lock(l->fd, LOCK_EX, l->path, err, errlen) != 0)
        return -1;
    if (gm_settle_ledger_catch_up(l, true, true, err, errlen) != 0)
        goto fail_unlock;
    if (gm_settle_ledger_trust(l, batch->key, err, errlen) != 0)
        goto fail_unlock;
    if (mark_recorded(l, batch, count, err, errlen) != 0)
        goto fail_unlock;
    /* Receipts name the policy they were priced under. */
    if (gm_settle_ledger_scan_policies(l, err, errlen) != 0)
        goto fail_unlock;
    count = 0;
    for (p = batch; p; p = p->next)
        count += !p->recorded;
    for (p = batch; p; p = p->next)
        if (!p->recorded && gm_settle_ledger_record_key(l, p->key, err, errlen) != 0)
            goto fail_unlock;
    if (count == 0) {
        /* Every receipt of the batch was already recorded. */
        for (p = batch; p; p = p->next)
            if (p->same_as)
                p->r->sequence = p->same_as->r->sequence;
        flock(l->fd, LOCK_UN);
        return 0;
    }
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
    __atomic_store_n(&l->sign_remaining, count, __ATOMIC_RELEASE);
    for (p = batch; p; p = p->next) {
        if (p->recorded)
            continue;
        p->r->sequence = (int64_t)seq++;
        gm_settle_stamp_policy(l, p->r);
        w->items[k++] = p;
    }
    for (p = batch; p; p = p->next)
        if (p->same_as)
            p->r->sequence = p->same_as->r->sequence;
    if (count > 1) {
        l->sign_generation++;
        pthread_cond_broadcast(&l->helper_cv);
    }
    pthread_mutex_unlock(&l->mu);
    sign_entries(l, w);
    pthread_mutex_lock(&l->mu);
    while (__atomic_load_n(&l->sign_remaining, __ATOMIC_ACQUIRE) > 0)
        pthread_cond_wait(&l->sign_cv, &l->mu);
    /* Unpublish before dropping our reference, so no late helper finds it freed. */
    l->signing = NULL;
    signwork_unref(w);
    pthread_mutex_unlock(&l->mu);

    size_t used = 0;
    for (p = batch; p; p = p->next) {
        if (p->recorded)
            continue;
        if (!p->signed_buf) {
            /* Receipts were checked before queueing, so this is OpenSSL failing. */
            gm_errf(err, errlen, "%s", p->err);
            goto fail_unlock;
        }
        used += GM_SETTLE_REC_OVERHEAD + p->signed_len;
    }
    /* The batch's bytes go to a buffer kept across batches (only the
     * leader, one at a time, uses it): a fresh one this size would be
     * mapped, faulted in and unmapped again for every batch. */
    if (used > l->wbuf_cap) {
        size_t cap = used > 2 * l->wbuf_cap ? used : 2 * l->wbuf_cap;
        uint8_t *nb = malloc(cap);
        if (!nb) {
            gm_errf(err, errlen, "out of memory");
            goto fail_unlock;
        }
        free(l->wbuf);
        l->wbuf = nb;
        l->wbuf_cap = cap;
    }
    uint8_t *buf = l->wbuf;
    size_t o = 0;
    for (p = batch; p; p = p->next) {
        if (p->recorded)
            continue;
        gm_settle_frame_record(buf + o, p->signed_buf, p->signed_len, p->leaf);
        o += GM_SETTLE_REC_OVERHEAD + p->signed_len;
    }
    if (write_at_end(l, buf, used, err, errlen) != 0)
        goto fail_unlock;
    uint64_t off = l->end;
    for (p = batch; p; p = p->next) {
        if (p->recorded)
            continue;
        if (gm_settle_ledger_add_record(l, off, p->leaf) != 0 ||
            gm_settle_segment_add(l, p->r, (uint64_t)p->r->sequence) < 0)
            l->broken = true; /* the in-memory view is lost; the file is fine */
        off += GM_SETTLE_REC_OVERHEAD + p->signed_len;
    }
    l->end = off;
    /* What this writer wrote itself needs no second check, nor a look for
     * policy records (it wrote receipts). */
    if (l->trusted + count == gm_merkle_size(l->tree))
        l->trusted = gm_merkle_size(l->tree);
    if (l->policies_scanned + count == gm_merkle_size(l->tree))
        l->policies_scanned = gm_merkle_size(l->tree);
    flock(l->fd, LOCK_UN);
    return 0;
fail_unlock:
    flock(l->fd, LOCK_UN);
    return -1;
}

int gm_settle_ledger_write_locked(gm_ledger *l, const void *data, size_t len,
                                  const uint8_t leaf[GM_HASH_LEN], char *err, size_t errlen)
{
    if (l->broken)
        return gm_errf(err, errlen, "%s: an earlier append failed; reopen the ledger", l->path);
    size_t used = GM_SETTLE_REC_OVERHEAD + len;
    uint8_t *buf = malloc(used);
    if (!buf)
        return gm_errf(err, errlen, "out of memory");
    gm_settle_frame_record(buf, data, len, leaf);
    int wrote = write_at_end(l, buf, used, err, errlen);
    free(buf);
    if (wrote != 0)
        return -1;
    if (fdatasync(l->fd) != 0) {
        l->broken = true;
        return gm_errf(err, errlen, "%s: fdatasync failed: %s (the record may not be durable)",
                       l->path, strerror(errno));
    }
    if (gm_settle_ledger_add_record(l, l->end, leaf) != 0) {
        l->broken = true;
        return gm_errf(err, errlen, "out of memory");
    }
    l->end += used;
    return 0;
}

/* Queue entries[0..n) as one group and wait until they are durable (or
 * failed); the calling thread may lead the commit. */
static int append_entries(gm_ledger *l, struct pending *entries, size_t n, unsigned char *recorded,
                          char *err, size_t errlen)
{
    struct pending *me = &entries[n - 1];
    for (size_t i = 0; i < n; i++) {
        entries[i].owner = me;
        entries[i].done = false;
        entries[i].next = i + 1 < n ? &entries[i + 1] : NULL;
    }
    if (sem_init(&me->wake, 0, 0) != 0)
        return gm_errf(err, errlen, "cannot make a semaphore: %s", strerror(errno));
    pthread_mutex_lock(&l->mu);
    int rc = 0;
    if (l->broken) {
        pthread_mutex_unlock(&l->mu);
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
    /* The mutex is held at the top of the loop; it is released when done. */
    for (;;) {
        /* Wait while another leads, or while an earlier leader that took our
         * entries syncs them (nothing queued). */
        if (l->busy || !l->head) {
            pthread_mutex_unlock(&l->mu);
            while (sem_wait(&me->wake) != 0 && errno == EINTR)
                ;
            if (__atomic_load_n(&me->done, __ATOMIC_ACQUIRE))
                break;
            pthread_mutex_lock(&l->mu);
            continue;
        }
        /* Lead: take everything queued, our own entries included unless an
         * earlier leader took them (then we lead others' and wait on). */
        struct pending *batch = l->head;
        l->head = l->tail = NULL;
        l->busy = true;
        pthread_mutex_unlock(&l->mu);
        char berr[256] = "";
        int brc = commit_batch(l, batch, berr, sizeof berr);
        /* Let the next leader number and sign its batch while we sync:
         * the sync below also covers anything written before it. */
        pthread_mutex_lock(&l->mu);
        l->busy = false;
        if (l->head)
            sem_post(&l->head->owner->wake);
        pthread_mutex_unlock(&l->mu);
        /* One sync for the whole batch: this is the group commit. */
        if (brc == 0 && fdatasync(l->fd) != 0) {
            brc = -1;
            snprintf(berr, sizeof berr,
                     "%s: fdatasync failed: %s (the receipts may not be durable)", l->path,
                     strerror(errno));
            pthread_mutex_lock(&l->mu);
            l->broken = true;
            pthread_mutex_unlock(&l->mu);
        }
        /* Hand each appender its result without the mutex: a group's entries
         * come before its owner's, and once the owner is told it is done it
         * may return and free them, so nothing of a group is touched after
         * that (the post only wakes the owner's thread). */
        for (struct pending *p = batch, *next; p; p = next) {
            next = p->next;
            p->rc = brc;
            if (brc)
                snprintf(p->err, sizeof p->err, "%s", berr);
            free(p->signed_buf);
            p->signed_buf = NULL;
            if (p->owner == p) {
                __atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
                if (p != me)
                    sem_post(&p->wake);
            }
        }
        if (__atomic_load_n(&me->done, __ATOMIC_ACQUIRE))
            break;
        pthread_mutex_lock(&l->mu);
    }
    for (size_t i = 0; i < n; i++)
        if (entries[i].rc != 0) {
            rc = gm_errf(err, errlen, "%s", entries[i].err);
            break;
        }
    if (rc == 0 && recorded)
        for (size_t i = 0; i < n; i++)
            recorded[i] = entries[i].recorded;
out:
    sem_destroy(&me->wake);
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
    unsigned char recorded = 0;
    if (append_entries(l, &me, 1, &recorded, err, errlen) != 0)
        return -1;
    return recorded ? 1 : 0;
}

int gm_ledger_append_many(gm_ledger *l, const gm_key *key, struct gm_receipt *rs, size_t n,
                          unsigned char *recorded, char *err, size_t errlen)
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
    int rc = append_entries(l, entries, n, recorded, err, errlen);
    free(entries);
    return rc;
}

int gm_ledger_trust_keys(gm_ledger *l, gm_key *const *keys, size_t nkeys, char *err, size_t errlen)
{
    if (nkeys > GM_LEDGER_TRUSTED_MAX)
        return gm_errf(err, errlen, "at most %d trusted keys", GM_LEDGER_TRUSTED_MAX);
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < nkeys; i++)
        l->trusted_keys[i] = keys[i];
    l->ntrusted_keys = nkeys;
    pthread_mutex_unlock(&l->mu);
    return 0;
}
