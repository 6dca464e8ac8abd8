/* SPDX-License-Identifier: GPL-2.0-or-later */
/* RFC 6962 Merkle tree: leaf and node hashing, an incremental tree head
 * (stack of complete-subtree roots), prefix roots, inclusion and consistency
 * proofs, and their RFC 9162 verification. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

struct gm_merkle {
    uint8_t (*leaves)[GM_HASH_LEN];
    uint64_t size, cap;
    /* Roots of the complete subtrees that make up the tree, largest first;
     * heights[i] is log2 of the leaves under stack[i]. */
    uint8_t stack[64][GM_HASH_LEN];
    unsigned heights[64];
    unsigned depth;
};

void gm_merkle_leaf_hash(const void *data, size_t len, uint8_t out[GM_HASH_LEN])
{
    uint8_t small[2048];
    uint8_t *buf = len + 1 <= sizeof small ? small : malloc(len + 1);
    if (!buf) {
        /* Streaming fallback keeps us correct when memory is short. */
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        static const uint8_t zero = 0;
        EVP_DigestInit_ex(ctx, gm_settle_sha256_md(), NULL);
        EVP_DigestUpdate(ctx, &zero, 1);
        EVP_DigestUpdate(ctx, data, len);
        EVP_DigestFinal_ex(ctx, out, NULL);
        EVP_MD_CTX_free(ctx);
        return;
    }
    buf[0] = 0x00;
    memcpy(buf + 1, data, len);
    gm_settle_sha256(buf, len + 1, out);
    if (buf != small)
        free(buf);
}

void gm_merkle_node_hash(const uint8_t left[GM_HASH_LEN], const uint8_t right[GM_HASH_LEN],
                         uint8_t out[GM_HASH_LEN])
{
    uint8_t buf[1 + 2 * GM_HASH_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, left, GM_HASH_LEN);
    memcpy(buf + 1 + GM_HASH_LEN, right, GM_HASH_LEN);
    gm_settle_sha256(buf, sizeof buf, out);
}

gm_merkle *gm_merkle_new(void)
{
    return calloc(1, sizeof(gm_merkle));
}

void gm_merkle_free(gm_merkle *t)
{
    if (!t)
        return;
    free(t->leaves);
    free(t);
}

uint64_t gm_merkle_size(const gm_merkle *t)
{
    return t->size;
}

const uint8_t *gm_merkle_leaf(const gm_merkle *t, uint64_t index)
{
    return index < t->size ? t->leaves[index] : NULL;
}

static void stack_push(gm_merkle *t, const uint8_t h[GM_HASH_LEN])
{
    memcpy(t->stack[t->depth], h, GM_HASH_LEN);
    t->heights[t->depth++] = 0;
    /* Two complete subtrees of equal height merge: at most log2(n) merges. */
    while (t->depth >= 2 && t->heights[t->depth - 1] == t->heights[t->depth - 2]) {
        gm_merkle_node_hash(t->stack[t->depth - 2], t->stack[t->depth - 1], t->stack[t->depth - 2]);
        t->heights[t->depth - 2]++;
        t->depth--;
    }
}

int gm_merkle_append(gm_merkle *t, const uint8_t h[GM_HASH_LEN])
{
    if (t->size == t->cap) {
        uint64_t cap = t->cap ? t->cap * 2 : 1024;
        void *p = realloc(t->leaves, cap * GM_HASH_LEN);
        if (!p)
            return -1;
        t->leaves = p;
        t->cap = cap;
    }
    memcpy(t->leaves[t->size++], h, GM_HASH_LEN);
    stack_push(t, h);
    return 0;
}

/* MTH(D[lo:lo+n]) by the RFC's recursion. */
static void mth(const gm_merkle *t, uint64_t lo, uint64_t n, uint8_t out[GM_HASH_LEN])
{
    if (n == 0) {
        gm_settle_sha256("", 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, t->leaves[lo], GM_HASH_LEN);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t l[GM_HASH_LEN], r[GM_HASH_LEN];
    mth(t, lo, k, l);
    mth(t, lo + k, n - k, r);
    gm_merkle_node_hash(l, r, out);
}

int gm_merkle_truncate(gm_merkle *t, uint64_t size)
{
    if (size > t->size)
        return -1;
    /* Rebuild the subtree stack: one complete subtree per set bit of size. */
    t->depth = 0;
    uint64_t lo = 0;
    for (int bit = 63; bit >= 0; bit--) {
        uint64_t n = (uint64_t)1 << bit;
        if (!(size & n))
            continue;
        mth(t, lo, n, t->stack[t->depth]);
        t->heights[t->depth++] = (unsigned)bit;
        lo += n;
    }
    t->size = size;
    return 0;
}

void gm_merkle_root(const gm_merkle *t, uint8_t out[GM_HASH_LEN])
{
    if (t->depth == 0) {
        gm_settle_sha256("", 0, out);
        return;
    }
    uint8_t r[GM_HASH_LEN];
    memcpy(r, t->stack[t->depth - 1], GM_HASH_LEN);
    for (unsigned i = t->depth - 1; i-- > 0;)
        gm_merkle_node_hash(t->stack[i], r, r);
    memcpy(out, r, GM_HASH_LEN);
}

int gm_merkle_root_at(const gm_merkle *t, uint64_t size, uint8_t out[GM_HASH_LEN])
{
    if (size > t->size)
        return -1;
    if (size == t->size)
        gm_merkle_root(t, out);
    else
        mth(t, 0, size, out);
    return 0;
}

/* PATH(m, D[lo:lo+n]), appended to proof in RFC 6962 order (leaf end first). */
static void path(const gm_merkle *t, uint64_t m, uint64_t lo, uint64_t n,
                 uint8_t proof[][GM_HASH_LEN], size_t *count)
{
    if (n <= 1)
        return;
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    if (m < k) {
        path(t, m, lo, k, proof, count);
        mth(t, lo + k, n - k, proof[(*count)++]);
    } else {
        path(t, m - k, lo + k, n - k, proof, count);
        mth(t, lo, k, proof[(*count)++]);
    }
}

int gm_merkle_inclusion_proof(const gm_merkle *t, uint64_t index, uint64_t size,
                              uint8_t proof[][GM_HASH_LEN], size_t *count)
{
    *count = 0;
    if (index >= size || size > t->size)
        return -1;
    path(t, index, 0, size, proof, count);
    return 0;
}

/* SUBPROOF(m, D[lo:lo+n], b) of RFC 6962 section 2.1.2. */
static void subproof(const gm_merkle *t, uint64_t m, uint64_t lo, uint64_t n, int b,
                     uint8_t proof[][GM_HASH_LEN], size_t *count)
{
    if (m == n) {
        if (!b)
            mth(t, lo, n, proof[(*count)++]);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        subproof(t, m, lo, k, b, proof, count);
        mth(t, lo + k, n - k, proof[(*count)++]);
    } else {
        subproof(t, m - k, lo + k, n - k, 0, proof, count);
        mth(t, lo, k, proof[(*count)++]);
    }
}

int gm_merkle_consistency_proof(const gm_merkle *t, uint64_t old_size, uint64_t new_size,
                                uint8_t proof[][GM_HASH_LEN], size_t *count)
{
    *count = 0;
    if (old_size > new_size || new_size > t->size)
        return -1;
    if (old_size == 0 || old_size == new_size)
        return 0; /* nothing to prove: the empty tree is a prefix of all */
    subproof(t, old_size, 0, new_size, 1, proof, count);
    return 0;
}

int gm_merkle_verify_inclusion(const uint8_t leaf[GM_HASH_LEN], uint64_t index, uint64_t size,
                               const uint8_t proof[][GM_HASH_LEN], size_t count,
                               const uint8_t root[GM_HASH_LEN])
{
    if (index >= size)
        return -1;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[GM_HASH_LEN];
    memcpy(r, leaf, GM_HASH_LEN);
    for (size_t i = 0; i < count; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            gm_merkle_node_hash(proof[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            gm_merkle_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(r, root, GM_HASH_LEN) == 0 ? 0 : -1;
}

int gm_merkle_verify_consistency(uint64_t first, uint64_t second,
                                 const uint8_t first_hash[GM_HASH_LEN],
                                 const uint8_t second_hash[GM_HASH_LEN],
                                 const uint8_t proof[][GM_HASH_LEN], size_t count)
{
    if (first > second)
        return -1;
    if (first == second)
        return count == 0 && memcmp(first_hash, second_hash, GM_HASH_LEN) == 0 ? 0 : -1;
    if (first == 0)
        return count == 0 ? 0 : -1;
    if (count == 0)
        return -1;
    /* When first is a power of two its root is the proof's implicit first element. */
    size_t i = 0;
    const uint8_t *start;
    if ((first & (first - 1)) == 0) {
        start = first_hash;
    } else {
        start = proof[0];
        i = 1;
    }
    uint64_t fn = first - 1, sn = second - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[GM_HASH_LEN], sr[GM_HASH_LEN];
    memcpy(fr, start, GM_HASH_LEN);
    memcpy(sr, start, GM_HASH_LEN);
    for (; i < count; i++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            gm_merkle_node_hash(proof[i], fr, fr);
            gm_merkle_node_hash(proof[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            gm_merkle_node_hash(sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(fr, first_hash, GM_HASH_LEN) == 0 &&
                   memcmp(sr, second_hash, GM_HASH_LEN) == 0
               ? 0
               : -1;
}
