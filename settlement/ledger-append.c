/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ledger's append queue: group commit across threads (one write and one
 * fdatasync per batch) and processes (an exclusive flock).  Each appender
 * reserves its sequence number, signs its own receipt on its own thread (a
 * group from gm_ledger_append_many is signed with helper threads), and the
 * signed receipts are written in sequence order by whichever appender leads.
 * The file format and the records' storage are ledger.c's. */
#include "config.h"

#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* A group being signed with the helpers: claimed by index, shared by
 * reference count so no helper ever touches an entry after its owner has
 * returned. */
struct signwork {
    size_t n, next;   /* next: atomic claim index */
    size_t remaining; /* atomic: entries left to sign */
    int refs;         /* under the ledger mutex */
    struct pending *items[];
};

/* One receipt of an appending thread's group (gm_ledger_append: a group of
 * one).  Fields marked (mu) are under the ledger mutex. */
struct pending {
    struct gm_receipt *r;
    const gm_key *key;
    int rc;
    char *signed_buf; /* the signed receipt, malloc'd by its signer */
    size_t signed_len;
    uint8_t leaf[GM_HASH_LEN];
    uint8_t segment[16];     /* gm_settle_segment_digest */
    bool recorded;           /* its segment already has a receipt: not written */
    struct pending *same_as; /* ... given earlier in this group */
    size_t order;            /* place in the group */
    uint64_t gen;            /* the generation its sequence number belongs to */
    bool ready;              /* (mu) signed, or failed to (signed_buf NULL) */
    char err[256];
    /* The entry of the appending thread this entry belongs to (the last of
     * its group), which alone waits: on its own semaphore (no thundering
     * herd), posted when its group is finished, when it should reserve
     * again, or when it should lead.  A semaphore can be posted without
     * holding the ledger mutex, so finished appenders return without taking
     * the mutex again. */
    struct pending *owner;
    int done;   /* the owner's entry: set (atomically) once the group is finished */
    bool retry; /* (mu) the owner's entry: its reservation went stale, reserve again */
    sem_t wake;
    struct pending *next; /* (mu) in the queue of reserved receipts */
};

void gm_settle_append_queue_init(gm_ledger *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->helper_cv, NULL);
    pthread_cond_init(&l->sign_cv, NULL);
    pthread_cond_init(&l->queue_cv, NULL);
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
    pthread_cond_destroy(&l->queue_cv);
    pthread_mutex_destroy(&l->mu);
}

/* Sign one entry: its signed record and leaf hash, or signed_buf NULL and
 * the reason in err.  Its sequence number and policy are set. */
static void sign_one(struct pending *p)
{
    p->signed_buf = gm_receipt_sign(p->r, p->key, &p->signed_len, p->err, sizeof p->err);
    if (p->signed_buf && p->signed_len > GM_LEDGER_RECORD_MAX) {
        snprintf(p->err, sizeof p->err,
                 "signed receipt of %zu bytes is larger than a record may be", p->signed_len);
        free(p->signed_buf);
        p->signed_buf = NULL;
    }
    if (p->signed_buf)
        gm_merkle_leaf_hash(p->signed_buf, p->signed_len, p->leaf);
}

/* Sign unclaimed entries of a group (its owner and helpers alike). */
static void sign_entries(gm_ledger *l, struct signwork *w)
{
    for (;;) {
        size_t i = __atomic_fetch_add(&w->next, 1, __ATOMIC_ACQ_REL);
        if (i >= w->n)
            break;
        sign_one(w->items[i]);
        /* Only the last signer takes the mutex, to wake the owner. */
        if (__atomic_sub_fetch(&w->remaining, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&l->mu);
            pthread_cond_signal(&l->sign_cv);
            pthread_mutex_unlock(&l->mu);
        }
    }
}

/* Drop a reference to the group; the last one frees it.  Mutex held. */
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

/* Start the signing helpers once (mutex held; they wait for it).  Without
 * them a group is signed by its caller alone, which is correct, only
 * slower. */
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

/* Sign the entries of a group that will be written (mutex not held): one
 * entry on the calling thread, more with the helpers when they are free. */
static void sign_group(gm_ledger *l, struct pending *entries, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += !entries[i].recorded;
    if (count == 0)
        return;
    struct signwork *w = NULL;
    if (count > 1) {
        w = malloc(sizeof *w + count * sizeof w->items[0]);
        pthread_mutex_lock(&l->mu);
        if (w && !l->helpers)
            start_helpers(l);
        if (w && l->nhelpers > 0 && !l->signing) {
            w->n = count;
            w->next = 0;
            w->remaining = count;
            w->refs = 1;
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (!entries[i].recorded)
                    w->items[k++] = &entries[i];
            l->signing = w;
            l->sign_generation++;
            pthread_cond_broadcast(&l->helper_cv);
        } else {
            free(w); /* the helpers are busy with another group: sign alone */
            w = NULL;
        }
        pthread_mutex_unlock(&l->mu);
    }
    if (!w) {
        for (size_t i = 0; i < n; i++)
            if (!entries[i].recorded)
                sign_one(&entries[i]);
        return;
    }
    sign_entries(l, w);
    pthread_mutex_lock(&l->mu);
    while (__atomic_load_n(&w->remaining, __ATOMIC_ACQUIRE) > 0)
        pthread_cond_wait(&l->sign_cv, &l->mu);
    /* Unpublish before dropping our reference, so no late helper finds it freed. */
    l->signing = NULL;
    signwork_unref(w);
    pthread_mutex_unlock(&l->mu);
}

/* By segment, then by place in the group. */
static int compare_segment(const void *a, const void *b)
{
    const struct pending *x = *(const struct pending *const *)a,
                         *y = *(const struct pending *const *)b;
    int c = memcmp(x->segment, y->segment, sizeof x->segment);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* Tell the owner of each group in the queue that its reservation went stale
 * (an owner still signing finds the generation changed when it queues), and
 * start a new generation at the next record to write.  Mutex held, no
 * leader writing. */
static void invalidate(gm_ledger *l)
{
    l->gen++;
    l->next_seq = l->write_next;
    for (struct pending *p = l->head, *next; p; p = next) {
        next = p->next;
        p->next = NULL;
        if (p->ready && (!next || next->owner != p->owner)) {
            p->owner->retry = true;
            sem_post(&p->owner->wake);
        }
    }
    l->head = l->tail = NULL;
    /* Reservations waiting for one of these segments look again. */
    pthread_cond_broadcast(&l->queue_cv);
}

/* Hand `count` finished entries (whole groups, a run taken off the queue's
 * head) their result and wake their owners.  Nothing of a group is touched
 * after its owner is told: it may return and free them. */
static void finish_run(struct pending *first, size_t count, int rc, const char *err,
                       const struct pending *self)
{
    struct pending *p = first, *next;
    for (size_t i = 0; i < count; i++, p = next) {
        next = i + 1 < count ? p->next : NULL;
        p->rc = rc;
        if (rc)
            snprintf(p->err, sizeof p->err, "%s", err);
        free(p->signed_buf);
        p->signed_buf = NULL;
        if (!next || next->owner != p->owner) {
            struct pending *o = p->owner;
            if (o != self) {
                /* 1: being told; 2: told, and this thread is done with it.
                 * The owner returns only on 2 (an earlier post can wake it
                 * in between), so the post never finds it gone. */
                __atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
                sem_post(&o->wake);
            }
            __atomic_store_n(&o->done, 2, __ATOMIC_RELEASE);
        }
    }
}

/* Whether the owner's group is finished (and its last post made). */
static bool is_done(struct pending *me)
{
    int d = __atomic_load_n(&me->done, __ATOMIC_ACQUIRE);
    if (d == 0)
        return false;
    while (__atomic_load_n(&me->done, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    return true;
}

/* Base the reservations on the file: under the exclusive lock, take in what
 * others wrote, check it (trust: signatures, sequence numbers, the segment
 * index; the policy records), and start a generation at its end.  Mutex
 * held (released while waiting for the lock), queue empty. */
static int base(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
{
    while (l->busy)
        pthread_cond_wait(&l->queue_cv, &l->mu);
    if (l->based)
        return 0;
    l->busy = true;
    pthread_mutex_unlock(&l->mu);
    int rc = gm_settle_ledger_lock(l->fd, LOCK_EX, l->path, err, errlen);
    pthread_mutex_lock(&l->mu);
    if (rc == 0) {
        if (gm_settle_ledger_catch_up(l, true, true, err, errlen) != 0 ||
            gm_settle_ledger_trust(l, key, err, errlen) != 0 ||
            gm_settle_ledger_scan_policies(l, err, errlen) != 0)
            rc = -1;
        flock(l->fd, LOCK_UN);
    }
    if (rc == 0) {
        l->based = true;
        l->write_next = gm_merkle_size(l->tree);
        invalidate(l);
    }
    l->busy = false;
    pthread_cond_broadcast(&l->queue_cv);
    return rc;
}

/* Reserve sequence numbers for a group's entries (mutex held; released
 * while waiting): one receipt per segment, checked against the segment index
 * (records written) and the queue (receipts reserved by others, which are
 * waited for: once written they are in the index, and if they fail the
 * segment is free again).  Sets *must_sync when an entry's receipt was
 * found written but perhaps not yet synced.  Returns how many entries will
 * be written, or -1. */
static long reserve(gm_ledger *l, struct pending *entries, size_t n, bool *must_sync, char *err,
                    size_t errlen)
{
    *must_sync = false;
again:
    if (l->broken)
        return gm_errf(err, errlen, "%s: an earlier append failed; reopen the ledger", l->path);
    if (!l->based && base(l, entries[0].key, err, errlen) != 0)
        return -1;
    if (!l->based)
        goto again; /* based by another thread, then invalidated again */
    struct pending **v = malloc(n * sizeof *v);
    if (!v)
        return gm_errf(err, errlen, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = &entries[i];
        uint64_t seq;
        p->order = i;
        p->same_as = NULL;
        p->recorded = gm_settle_segment_find_digest(l, p->segment, &seq);
        if (p->recorded) {
            p->r->sequence = (int64_t)seq;
            if (seq >= l->durable)
                *must_sync = true;
            continue;
        }
        for (struct pending *q = l->head; q; q = q->next)
            if (!memcmp(q->segment, p->segment, sizeof q->segment)) {
                /* Reserved by another appender: wait until it is written
                 * (or failed), then look again. */
                free(v);
                pthread_cond_wait(&l->queue_cv, &l->mu);
                goto again;
            }
        v[k++] = p;
    }
    /* Repeats within the group: the earliest is written. */
    qsort(v, k, sizeof *v, compare_segment);
    for (size_t i = 1; i < k; i++)
        if (!memcmp(v[i]->segment, v[i - 1]->segment, sizeof v[i]->segment)) {
            v[i]->recorded = true;
            v[i]->same_as = v[i - 1]->same_as ? v[i - 1]->same_as : v[i - 1];
        }
    free(v);
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = &entries[i];
        p->gen = l->gen;
        if (p->recorded)
            continue;
        p->r->sequence = (int64_t)l->next_seq++;
        gm_settle_stamp_policy(l, p->r);
        p->ready = false;
        p->next = NULL;
        if (l->tail)
            l->tail->next = p;
        else
            l->head = p;
        l->tail = p;
        count++;
    }
    for (size_t i = 0; i < n; i++)
        if (entries[i].same_as)
            entries[i].r->sequence = entries[i].same_as->r->sequence;
    return count;
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

/* Lead one write: under the exclusive lock, check the file is still what
 * the reservations rest on and write the signed receipts at the queue's
 * head in one pwrite; they then wait for a sync (sync_written).  Mutex held
 * (released while locking and writing), no leader, the head ready.  `self`
 * is the leading thread's own entry, which is not woken. */
static void lead(gm_ledger *l, const struct pending *self)
{
    char berr[256] = "";
    if (l->broken) {
        /* Told to its appenders when they reserve again. */
        invalidate(l);
        return;
    }
    l->busy = true;
    const gm_key *key = l->head->key;
    pthread_mutex_unlock(&l->mu);
    int brc = gm_settle_ledger_lock(l->fd, LOCK_EX, l->path, berr, sizeof berr);
    pthread_mutex_lock(&l->mu);
    if (brc == 0) {
        if (gm_settle_ledger_catch_up(l, true, true, berr, sizeof berr) != 0 ||
            gm_settle_ledger_trust(l, key, berr, sizeof berr) != 0 ||
            gm_settle_ledger_scan_policies(l, berr, sizeof berr) != 0) {
            brc = -1;
        } else if (gm_merkle_size(l->tree) != l->write_next) {
            /* Records came in behind our reservations (another process,
             * a policy record): now checked and indexed, they move every
             * reserved receipt's place (and maybe its policy or whether its
             * segment is free), so all reserve and sign again. */
            l->write_next = gm_merkle_size(l->tree);
            invalidate(l);
        }
    }
    if (brc != 0) {
        /* Nothing written: every reservation reserves again, basing itself
         * anew (and most likely fails the same way, with its own message). */
        l->based = false;
        invalidate(l);
    }
    /* A receipt that could not be signed leaves a hole: its group fails, and
     * the reservations after it are made again. */
    while (l->head && l->head->ready && !l->head->signed_buf) {
        struct pending *first = l->head, *end = first;
        size_t n = 0;
        while (end && end->owner == first->owner) {
            end = end->next;
            n++;
        }
        l->head = end;
        if (!end)
            l->tail = NULL;
        char msg[256];
        snprintf(msg, sizeof msg, "%s", first->err);
        finish_run(first, n, -1, msg, self);
        invalidate(l);
    }
    /* The batch: every signed receipt at the head, in sequence order.  They
     * stay queued (so that no appender reserves their segments again) until
     * they are in the segment index. */
    struct pending *batch = l->head, *last = NULL;
    size_t count = 0, used = 0;
    for (struct pending *p = batch; p && p->ready && p->signed_buf; p = p->next) {
        used += GM_SETTLE_REC_OVERHEAD + p->signed_len;
        count++;
        last = p;
    }
    pthread_mutex_unlock(&l->mu);

    int wrc = 0;
    /* Appenders queue behind the batch meanwhile: its last entry's `next`
     * may change, so the batch is walked by count (never reading that). */
    struct pending *p = batch;
    for (size_t i = 0; i < count && wrc == 0; i++, p = i < count ? p->next : NULL)
        if (i == 0 || p->key != key)
            wrc = gm_settle_ledger_record_key(l, p->key, berr, sizeof berr);
    /* The batch's bytes go to a buffer kept across batches (only the
     * leader, one at a time, uses it): a fresh one this size would be
     * mapped, faulted in and unmapped again for every batch. */
    if (wrc == 0 && used > l->wbuf_cap) {
        size_t cap = used > 2 * l->wbuf_cap ? used : 2 * l->wbuf_cap;
        uint8_t *nb = malloc(cap);
        if (nb) {
            free(l->wbuf);
            l->wbuf = nb;
            l->wbuf_cap = cap;
        } else {
            wrc = gm_errf(berr, sizeof berr, "out of memory");
        }
    }
    if (wrc == 0 && count > 0) {
        size_t o = 0;
        p = batch;
        for (size_t i = 0; i < count; i++, p = i < count ? p->next : NULL) {
            gm_settle_frame_record(l->wbuf + o, p->signed_buf, p->signed_len, p->leaf);
            o += GM_SETTLE_REC_OVERHEAD + p->signed_len;
        }
        wrc = write_at_end(l, l->wbuf, used, berr, sizeof berr);
    }

    pthread_mutex_lock(&l->mu);
    if (count > 0 && wrc == 0) {
        uint64_t off = l->end;
        p = batch;
        for (size_t i = 0; i < count; i++, p = i < count ? p->next : NULL) {
            if (gm_settle_ledger_add_record(l, off, p->leaf) != 0 ||
                gm_settle_segment_add_digest(l, p->segment, (uint64_t)p->r->sequence) < 0)
                l->broken = true; /* the in-memory view is lost; the file is fine */
            off += GM_SETTLE_REC_OVERHEAD + p->signed_len;
        }
        l->end = off;
        l->write_next += count;
        /* What this writer wrote itself needs no second check, nor a look
         * for policy records (it wrote receipts). */
        if (l->trusted + count == gm_merkle_size(l->tree))
            l->trusted = gm_merkle_size(l->tree);
        if (l->policies_scanned + count == gm_merkle_size(l->tree))
            l->policies_scanned = gm_merkle_size(l->tree);
    }
    if (count > 0) {
        l->head = last->next;
        if (!l->head)
            l->tail = NULL;
        last->next = NULL;
    }
    if (count > 0 && wrc != 0) {
        /* Nothing of the batch was written: it fails, and the reservations
         * after it are made again. */
        finish_run(batch, count, -1, berr, self);
        invalidate(l);
    } else if (count > 0) {
        /* Written: now it waits for a sync. */
        if (l->wtail)
            l->wtail->next = batch;
        else
            l->whead = batch;
        l->wtail = last;
        l->wcount += count;
    }
    if (l->broken)
        invalidate(l);
    /* Unlocked before the next leader may lock: a flock belongs to the
     * open file, which all our threads share, so its LOCK_EX would not wait
     * and our LOCK_UN would drop its lock. */
    flock(l->fd, LOCK_UN);
    l->busy = false;
    /* Reservations waiting on a segment, and a thread basing the view,
     * look again. */
    pthread_cond_broadcast(&l->queue_cv);
}

/* Make everything written so far durable with one fdatasync (the group
 * commit), and hand those receipts their result.  Writes go on meanwhile;
 * the next sync covers them.  Mutex held (released while syncing), no sync
 * running, something written. */
static void sync_written(gm_ledger *l, const struct pending *self)
{
    char serr[256] = "";
    int src = 0;
    struct pending *batch = l->whead;
    size_t count = l->wcount;
    uint64_t target = l->write_next;
    bool broken = l->broken;
    l->whead = l->wtail = NULL;
    l->wcount = 0;
    l->syncing = true;
    pthread_mutex_unlock(&l->mu);
    if (broken) {
        /* After a failed fdatasync a second one may well succeed without
         * the lost pages ever reaching the disk. */
        src =
            gm_errf(serr, sizeof serr, "%s: an earlier append failed; reopen the ledger", l->path);
    } else if (fdatasync(l->fd) != 0) {
        src =
            gm_errf(serr, sizeof serr, "%s: fdatasync failed: %s (the receipts may not be durable)",
                    l->path, strerror(errno));
        pthread_mutex_lock(&l->mu);
        l->broken = true;
        if (!l->busy)
            invalidate(l);
        pthread_mutex_unlock(&l->mu);
    }
    finish_run(batch, count, src, serr, self);
    pthread_mutex_lock(&l->mu);
    if (src == 0 && target > l->durable)
        l->durable = target;
    l->syncing = false;
}

/* Write and sync whatever is ready, as long as there is some and no other
 * thread is at it (mutex held).  A thread whose own group is finished does
 * a little more and then hands the rest to an appender still waiting, so it
 * can go on. */
static void commit_work(gm_ledger *l, struct pending *me)
{
    int extra = 0;
    for (;;) {
        bool can_write = !l->busy && l->head && l->head->ready;
        bool can_sync = !l->syncing && l->whead;
        if (!can_write && !can_sync)
            return;
        if (__atomic_load_n(&me->done, __ATOMIC_ACQUIRE) && ++extra > 2) {
            sem_post(can_write ? &l->head->owner->wake : &l->whead->owner->wake);
            return;
        }
        /* Writing first: the sync then covers more. */
        if (can_write)
            lead(l, me);
        else
            sync_written(l, me);
    }
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

/* Reserve, sign and queue entries[0..n) as one group and wait until they
 * are durable (or failed); the calling thread may lead commits. */
static int append_entries(gm_ledger *l, struct pending *entries, size_t n, unsigned char *recorded,
                          char *err, size_t errlen)
{
    struct pending *me = &entries[n - 1];
    for (size_t i = 0; i < n; i++)
        entries[i].owner = me;
    if (sem_init(&me->wake, 0, 0) != 0)
        return gm_errf(err, errlen, "cannot make a semaphore: %s", strerror(errno));
    /* The segments' digests (a SHA-256 each) before taking the mutex. */
    for (size_t i = 0; i < n; i++)
        gm_settle_segment_digest(entries[i].r, entries[i].segment);
    int rc = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        /* Mutex held here.  Reserve the group's places... */
        bool must_sync;
        me->done = 0;
        me->retry = false;
        for (size_t i = 0; i < n; i++) {
            entries[i].rc = 0;
            entries[i].signed_buf = NULL;
        }
        long count = reserve(l, entries, n, &must_sync, err, errlen);
        if (count < 0) {
            pthread_mutex_unlock(&l->mu);
            rc = -1;
            goto out;
        }
        if (count == 0) {
            /* Every receipt is already recorded: make sure it is durable
             * (a sync covers whatever was written before it). */
            pthread_mutex_unlock(&l->mu);
            if (must_sync && fdatasync(l->fd) != 0) {
                rc = gm_errf(err, errlen, "%s: fdatasync failed: %s", l->path, strerror(errno));
                goto out;
            }
            goto results;
        }
        pthread_mutex_unlock(&l->mu);
        /* ... sign them on this thread, outside the mutex: the expensive
         * part, done by every appender at once ... */
        sign_group(l, entries, n);
        /* ... and queue them, unless the reservation went stale meanwhile. */
        pthread_mutex_lock(&l->mu);
        if (me->gen != l->gen) {
            for (size_t i = 0; i < n; i++) {
                free(entries[i].signed_buf);
                entries[i].signed_buf = NULL;
            }
            continue;
        }
        for (size_t i = 0; i < n; i++)
            entries[i].ready = true;
        /* Wait until the group is written and synced, writing and syncing
         * whenever there is work and no other thread is at it. */
        for (;;) {
            if (me->retry)
                break;
            commit_work(l, me);
            if (is_done(me)) {
                pthread_mutex_unlock(&l->mu);
                goto results;
            }
            if (me->retry)
                break;
            pthread_mutex_unlock(&l->mu);
            while (sem_wait(&me->wake) != 0 && errno == EINTR)
                ;
            if (is_done(me))
                goto results;
            pthread_mutex_lock(&l->mu);
        }
        /* Stale: our entries were taken off the queue; reserve again. */
        for (size_t i = 0; i < n; i++) {
            free(entries[i].signed_buf);
            entries[i].signed_buf = NULL;
        }
    }
results:
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
