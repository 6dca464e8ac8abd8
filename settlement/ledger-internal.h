/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals of the ledger shared by its two halves: the record file
 * (ledger.c: format, framing, scanning, recovery, reads) and the append queue
 * (ledger-append.c: group commit and its signing threads).  Not installed.
 *
 * DIR/ledger layout (integers big-endian):
 *   header: "GMLEDGER" | u32 version (1) | u32 origin length | origin | u32 CRC32C
 *   record: u32 "GMRC" | u32 data length | u32 CRC32C of the previous 8 bytes
 *           | data (a signed receipt) | SHA-256(0x00 || data), the RFC 6962 leaf hash
 * A crash can only leave a prefix of the last record (one pwrite per batch
 * under an exclusive flock), which is told apart from damage: a full record
 * header has a CRC, and a complete record has its hash. */
#ifndef GPUMARKET_SETTLEMENT_LEDGER_INTERNAL_H
#define GPUMARKET_SETTLEMENT_LEDGER_INTERNAL_H

#include "settlement/gpumarket-settlement.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ the file format */

#define GM_SETTLE_REC_MAGIC    0x474d5243u /* "GMRC" */
#define GM_SETTLE_REC_HDR      12
#define GM_SETTLE_REC_OVERHEAD (GM_SETTLE_REC_HDR + GM_HASH_LEN)

/* Parse one record at buf: its total size, with the data at *data_off
 * (data_len bytes); 0 for a torn prefix (or zeros to the end); -1 when
 * damaged.  The leaf hash is checked only with check_hash. */
long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen);
/* Whether the `len` bytes at p, found after the last whole record and
 * running to the end of the file, can be what a crash leaves of an append: a
 * strict prefix of one record (part of its header, or a checked header whose
 * record runs past the end) holding no complete valid record, or a run of
 * zeros too short to have held one.  CRC32C is not a MAC and a filesystem
 * never zero-fills data that was synced, so anything else (a header edited to
 * run past the end over whole records, zeros over whole records, garbage) is
 * damage.  Returns 1 for a torn tail, or 0 with the reason in err. */
int gm_settle_tail_is_torn(const uint8_t *p, size_t len, char *err, size_t errlen);
/* Frame `data` (len bytes, at most GM_LEDGER_RECORD_MAX) with its leaf hash
 * into out (GM_SETTLE_REC_OVERHEAD + len bytes). */
void gm_settle_frame_record(uint8_t *out, const void *data, size_t len,
                            const uint8_t leaf[GM_HASH_LEN]);
/* Check DIR/ledger's header on fd; copy the origin; header length or -1. */
long gm_settle_read_ledger_header(int fd, const char *path, char *origin, char *err, size_t errlen);

/* ------------------------------------------------------------ the handle */

/* A policy record seen in the ledger (policy.c): where, when applied, and
 * its proposal's hash; what receipts are stamped with. */
struct gm_settle_policy_mark {
    uint64_t index;
    int64_t applied;
    char hash[2 * GM_HASH_LEN + 1];
};

/* An appender's entry in the queue (ledger-append.c). */
struct pending;
/* A batch being signed (ledger-append.c). */
struct signwork;

struct gm_ledger {
    /* The record file (ledger.c). */
    char *dir, *path;
    int fd;
    bool writable;
    char origin[GM_CHECKPOINT_ORIGIN_MAX + 1];
    uint64_t end; /* offset after the last whole record */
    uint64_t recovered;
    char recovered_path[4200]; /* where the last cut torn tail was kept */
    gm_merkle *tree;
    uint64_t *offsets; /* record start offsets, tree-size entries */
    uint64_t noffsets_cap;
    char keys_recorded[9]; /* key id last written to verifier-keys */
    /* What a writer checked (ledger-trust.c): records [0, trusted) carry
     * valid signatures by trusted keys (or precede a checkpoint signed by
     * one) and are in the segment index. */
    uint64_t trusted;
    gm_key *trusted_keys[GM_LEDGER_TRUSTED_MAX];
    size_t ntrusted_keys;
    /* The policy records among records [0, policies_scanned), in order
     * (policy.c). */
    struct gm_settle_policy_mark *policies;
    size_t npolicies, policies_cap;
    uint64_t policies_scanned;
    /* gm_ledger_trust_policy_admins: whose signatures policy records need. */
    gm_key *policy_admin_keys[GM_POLICY_SIGNATURES_MAX];
    struct gm_governance_admins policy_admins; /* nkeys 0: not set */
    struct gm_segment_slot *segments;          /* open addressing, power-of-two size */
    size_t segments_cap, segments_used;
    /* The append queue (ledger-append.c).  Group commit: appenders queue
     * while a leader commits the previous batch; the next leader takes the
     * whole queue, numbers it, has every waiting appender help sign it (all
     * cores), writes it in one pwrite and makes it durable with one
     * fdatasync. */
    pthread_mutex_t mu;
    struct pending *head, *tail;
    bool busy;                /* a leader is committing */
    struct signwork *signing; /* the batch being signed */
    size_t sign_remaining;    /* atomic: entries of the batch left to sign */
    pthread_cond_t sign_cv;   /* the leader waits on it for sign_remaining 0 */
    /* Signing helpers: CPUs - 1 threads, started at the first append, that
     * sign each batch beside its leader (a lone appender uses every core). */
    int nhelpers;
    pthread_t *helpers;
    pthread_cond_t helper_cv;
    uint64_t sign_generation;
    uint8_t *wbuf; /* the leader's write buffer, kept across batches */
    size_t wbuf_cap;
    bool stopping;
    bool broken;
};

/* ------------------------------------------------------------ file operations for the queue */

/* flock with EINTR retried; 0 or -1 naming path. */
int gm_settle_ledger_lock(int fd, int op, const char *path, char *err, size_t errlen);
/* Take in the records between l->end and the file's end.  With `recover`
 * (exclusive lock held) a torn tail is truncated away.  `check_all`: check
 * every new record's hash (records others wrote), else only the last. */
int gm_settle_ledger_catch_up(gm_ledger *l, bool recover, bool check_all, char *err, size_t errlen);
/* Add a record written at offset `off` to the in-memory view. 0 or -1. */
int gm_settle_ledger_add_record(gm_ledger *l, uint64_t off, const uint8_t hash[GM_HASH_LEN]);
/* Make sure DIR/verifier-keys lists the key (exclusive lock held). */
int gm_settle_ledger_record_key(gm_ledger *l, const gm_key *key, char *err, size_t errlen);

/* Write one record (data with its leaf hash) at the end of the file, make
 * it durable (fdatasync) and add it to the in-memory view.  Exclusive lock
 * held, caught up.  0, or -1 with the file as it was. */
int gm_settle_ledger_write_locked(gm_ledger *l, const void *data, size_t len,
                                  const uint8_t leaf[GM_HASH_LEN], char *err, size_t errlen);

/* ------------------------------------------------------------ governance (policy.c) */

/* Note the policy records among the records not yet scanned (reading only
 * the first bytes of the others), checking each one's form and that its
 * parent is the policy record before it.  0 or -1. */
int gm_settle_ledger_scan_policies(gm_ledger *l, char *err, size_t errlen);
/* Set r's policy field from the scanned policy records: the last one
 * applied at or before r->start, or none. */
void gm_settle_stamp_policy(const gm_ledger *l, struct gm_receipt *r);

/* ------------------------------------------------------------ trust and uniqueness */

/* Check the records not yet checked (signatures by `key` or the trusted keys
 * since the last checkpoint they sign, sequence numbers) and index their
 * segments.  Exclusive lock held.  0 or -1. */
int gm_settle_ledger_trust(gm_ledger *l, const gm_key *key, char *err, size_t errlen);
/* The 128-bit identity of the segment a receipt bills: (cluster, job, array
 * task, segment, start).  The start tells apart two jobs that were given the
 * same id (slurmctld -c, job-id wrap). */
void gm_settle_segment_digest(const struct gm_receipt *r, uint8_t out[16]);
/* 1 and the record's sequence when the segment has a receipt, else 0. */
int gm_settle_segment_find(const gm_ledger *l, const struct gm_receipt *r, uint64_t *sequence);
/* Index a record's segment: 0, 1 when already indexed (kept as it was), -1
 * on no memory. */
int gm_settle_segment_add(gm_ledger *l, const struct gm_receipt *r, uint64_t sequence);

/* ------------------------------------------------------------ the queue's lifecycle */

/* Set up the queue of a new handle (ledger open). */
void gm_settle_append_queue_init(gm_ledger *l);
/* Stop the signing helpers and free the queue (ledger close). */
void gm_settle_append_queue_destroy(gm_ledger *l);

#endif
