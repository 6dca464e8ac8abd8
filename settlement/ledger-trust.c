/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a writer checks before it builds on the ledger: every record since the
 * last signed checkpoint carries a valid signature by a trusted key and its
 * own sequence number, and no lease segment has two receipts (an index of
 * (cluster, job, array task, segment, start) over every record). */
#include "config.h"

#include "settlement/ledger-internal.h"
#include "settlement/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gm_segment_slot {
    uint8_t digest[16]; /* all zero: empty */
    uint64_t sequence;
};

void gm_settle_segment_digest(const struct gm_receipt *r, uint8_t out[16])
{
    /* The start is part of the identity: slurmctld -c and job-id wrap reuse
     * job ids, and a later job's segment 0 is not the earlier one's. */
    char id[GM_RECEIPT_NAME_MAX + 100];
    int n = snprintf(id, sizeof id, "%s%c%lld%c%lld%c%lld%c%lld", r->cluster, 0,
                     (long long)r->job_id, 0, r->has_array_task ? (long long)r->array_task : -1LL,
                     0, (long long)r->segment, 0, (long long)r->start);
    uint8_t h[32];
    gm_settle_sha256(id, (size_t)n, h);
    memcpy(out, h, 16);
    if (!memcmp(out, (uint8_t[16]){ 0 }, 16))
        out[0] = 1; /* never the empty marker */
}

static struct gm_segment_slot *slot_for(struct gm_segment_slot *t, size_t cap, const uint8_t d[16])
{
    uint64_t h;
    memcpy(&h, d, sizeof h);
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (!memcmp(t[i].digest, d, 16) || !memcmp(t[i].digest, (uint8_t[16]){ 0 }, 16))
            return &t[i];
}

static int index_grow(gm_ledger *l)
{
    size_t cap = l->segments_cap ? l->segments_cap * 2 : 1024;
    struct gm_segment_slot *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < l->segments_cap; i++)
        if (memcmp(l->segments[i].digest, (uint8_t[16]){ 0 }, 16))
            *slot_for(t, cap, l->segments[i].digest) = l->segments[i];
    free(l->segments);
    l->segments = t;
    l->segments_cap = cap;
    return 0;
}

int gm_settle_segment_find(const gm_ledger *l, const struct gm_receipt *r, uint64_t *sequence)
{
    if (!l->segments_cap)
        return 0;
    uint8_t d[16];
    gm_settle_segment_digest(r, d);
    struct gm_segment_slot *s = slot_for(l->segments, l->segments_cap, d);
    if (memcmp(s->digest, d, 16))
        return 0;
    *sequence = s->sequence;
    return 1;
}

int gm_settle_segment_add(gm_ledger *l, const struct gm_receipt *r, uint64_t sequence)
{
    if ((l->segments_used + 1) * 2 > l->segments_cap && index_grow(l))
        return -1;
    uint8_t d[16];
    gm_settle_segment_digest(r, d);
    struct gm_segment_slot *s = slot_for(l->segments, l->segments_cap, d);
    if (!memcmp(s->digest, d, 16))
        return 1;
    memcpy(s->digest, d, 16);
    s->sequence = sequence;
    l->segments_used++;
    return 0;
}

/* The size of the last signed checkpoint that verifies with `keys` and whose
 * root is this tree's at its size: records before it need no new signature
 * check (the checkpoint's signature covers their hashes). 0 without one. */
static uint64_t trusted_checkpoint_size(gm_ledger *l, gm_key *const *keys, size_t nkeys)
{
    char path[4200], msg[256];
    snprintf(path, sizeof path, "%s/checkpoint", l->dir);
    size_t len;
    char *text = gm_io_read_file(path, 0, 1 << 20, &len, msg, sizeof msg);
    if (!text)
        return 0;
    struct gm_checkpoint cp;
    uint8_t root[GM_HASH_LEN];
    uint64_t size = 0;
    if (gm_checkpoint_verify(text, len, keys, nkeys, &cp, msg, sizeof msg) == 0 &&
        strcmp(cp.origin, l->origin) == 0 && cp.size <= gm_merkle_size(l->tree) &&
        gm_merkle_root_at(l->tree, cp.size, root) == 0 && !memcmp(root, cp.root, GM_HASH_LEN))
        size = cp.size;
    free(text);
    return size;
}

int gm_settle_ledger_trust(gm_ledger *l, const gm_key *key, char *err, size_t errlen)
{
    uint64_t size = gm_merkle_size(l->tree);
    if (l->trusted == size && l->segments_cap)
        return 0;
    gm_key *keys[1 + GM_LEDGER_TRUSTED_MAX];
    size_t nkeys = 0;
    keys[nkeys++] = (gm_key *)key;
    for (size_t i = 0; i < l->ntrusted_keys; i++)
        keys[nkeys++] = l->trusted_keys[i];
    uint64_t from = l->trusted;
    uint64_t signed_from = from;
    if (from == 0)
        signed_from = trusted_checkpoint_size(l, keys, nkeys);
    for (uint64_t i = from; i < size; i++) {
        char msg[300];
        size_t dlen;
        char *data = gm_ledger_read(l, i, &dlen, msg, sizeof msg);
        if (!data)
            return gm_errf(err, errlen, "%s", msg);
        /* A policy record carries admins' signatures, not the cluster key's:
         * gm_settle_ledger_scan_policies checks its form and parent chain,
         * gm_ledger_verify_governed its signatures. */
        if (gm_governance_is_record(data, dlen)) {
            free(data);
            continue;
        }
        struct gm_receipt r;
        int rc = i < signed_from
                     ? gm_signed_receipt_decode(data, dlen, &r, NULL, NULL, NULL, msg, sizeof msg)
                     : gm_signed_receipt_verify(data, dlen, keys, nkeys, &r, msg, sizeof msg);
        free(data);
        if (rc != 0)
            return gm_errf(err, errlen,
                           "%s: record %llu: %s.  Nothing is appended to a ledger whose records "
                           "since the last signed checkpoint do not verify with the signing key "
                           "or the trusted keys (after a key rotation, list the old key in "
                           "VerifierKeys of gpumarket.conf); run gpumarket ledger verify",
                           l->path, (unsigned long long)i, msg);
        if ((uint64_t)r.sequence != i)
            return gm_errf(err, errlen, "%s: record %llu says sequence %lld (records out of place)",
                           l->path, (unsigned long long)i, (long long)r.sequence);
        int added = gm_settle_segment_add(l, &r, i);
        if (added < 0)
            return gm_errf(err, errlen, "out of memory indexing %s", l->path);
        /* added > 0: a second receipt for a segment, written before this
         * check existed.  The first stays the one on record; verify flags the
         * second, and appends go on. */
    }
    l->trusted = size;
    return 0;
}
