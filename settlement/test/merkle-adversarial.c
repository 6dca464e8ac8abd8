/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Merkle proof verification against a forger: proofs with an extra hash, a
 * missing hash, for another tree size or depth, and interior nodes posing as
 * leaves (RFC 9162 2.1.3.2 and 2.1.4.2: the `sn == 0` checks). */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <string.h>

#define N 40

static uint8_t leaves[N][GM_HASH_LEN];

/* Proof length of leaf m in a tree of n leaves (RFC 6962 PATH), computed
 * from the tree's shape alone. */
static size_t path_length(size_t m, size_t n)
{
    size_t len = 0;
    while (n > 1) {
        size_t k = 1;
        while (k < n)
            k <<= 1;
        k >>= 1;
        if (m < k) {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
        len++;
    }
    return len;
}

/* Apply the first `steps` hashes of an inclusion proof of leaf m in a tree of
 * n leaves, as the verifier does: the interior node those steps reach. */
static void climb(const uint8_t leaf[GM_HASH_LEN], uint64_t m, uint64_t n,
                  const uint8_t proof[][GM_HASH_LEN], size_t steps, uint8_t out[GM_HASH_LEN])
{
    uint64_t fn = m, sn = n - 1;
    memcpy(out, leaf, GM_HASH_LEN);
    for (size_t i = 0; i < steps; i++) {
        if ((fn & 1) || fn == sn) {
            gm_merkle_node_hash(proof[i], out, out);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            gm_merkle_node_hash(out, proof[i], out);
        }
        fn >>= 1;
        sn >>= 1;
    }
}

static void test_inclusion(gm_merkle *t)
{
    uint8_t proof[GM_MERKLE_MAX_PROOF + 1][GM_HASH_LEN], root[GM_HASH_LEN];
    uint8_t forged_root[GM_HASH_LEN], node[GM_HASH_LEN];
    size_t extra_ok = 0, short_ok = 0, depth_ok = 0, interior_ok = 0;
    size_t extra_n = 0, short_n = 0, depth_n = 0, interior_n = 0;
    for (uint64_t n = 1; n <= N; n++) {
        gm_merkle_root_at(t, n, root);
        for (uint64_t m = 0; m < n; m++) {
            size_t c = 0;
            gm_merkle_inclusion_proof(t, m, n, proof, &c);
            /* An extra hash: the forger claims the tree was one level
             * taller, with the real root as a left child. */
            memset(proof[c], 0x5a, GM_HASH_LEN);
            gm_merkle_node_hash(root, proof[c], forged_root);
            extra_n++;
            extra_ok += gm_merkle_verify_inclusion(leaves[m], m, n, proof, c + 1, forged_root) != 0;
            gm_merkle_node_hash(proof[c], root, forged_root);
            extra_n++;
            extra_ok += gm_merkle_verify_inclusion(leaves[m], m, n, proof, c + 1, forged_root) != 0;
            /* A missing hash, against the real root. */
            if (c > 0) {
                short_n++;
                short_ok += gm_merkle_verify_inclusion(leaves[m], m, n, proof, c - 1, root) != 0;
            }
            /* The same proof for another size whose path has another depth. */
            for (uint64_t n2 = m + 1; n2 <= N; n2++) {
                if (path_length(m, n2) == c)
                    continue;
                depth_n++;
                depth_ok += gm_merkle_verify_inclusion(leaves[m], m, n2, proof, c, root) != 0;
            }
            /* An interior node posing as a leaf: the node the first h
             * steps reach, presented with the rest of the proof at any
             * index of the same tree size.  A genuine leaf hash is never an
             * interior node (0x00 vs 0x01 prefix), so none may verify. */
            for (size_t h = 1; h < c; h++) {
                climb(leaves[m], m, n, proof, h, node);
                for (uint64_t m2 = 0; m2 < n; m2++) {
                    interior_n++;
                    interior_ok +=
                        gm_merkle_verify_inclusion(node, m2, n, proof + h, c - h, root) != 0;
                }
            }
        }
    }
    ok(extra_ok == extra_n, "inclusion: %zu proofs with an extra hash refused (of %zu)", extra_ok,
       extra_n);
    ok(short_ok == short_n, "inclusion: %zu proofs missing a hash refused (of %zu)", short_ok,
       short_n);
    ok(depth_ok == depth_n, "inclusion: %zu proofs for a size of another depth refused (of %zu)",
       depth_ok, depth_n);
    ok(interior_ok == interior_n, "inclusion: %zu interior nodes posing as leaves refused (of %zu)",
       interior_ok, interior_n);
    ok(interior_n > 0 && depth_n > 0, "the forgeries cover interior nodes and other depths");
}

static void test_consistency(gm_merkle *t)
{
    uint8_t proof[GM_MERKLE_MAX_PROOF + 1][GM_HASH_LEN];
    uint8_t r1[GM_HASH_LEN], r2[GM_HASH_LEN], forged[GM_HASH_LEN];
    size_t extra_ok = 0, short_ok = 0, size_ok = 0, valid_ok = 0;
    size_t extra_n = 0, short_n = 0, size_n = 0, valid_n = 0;
    for (uint64_t n = 1; n <= N; n++) {
        gm_merkle_root_at(t, n, r2);
        for (uint64_t m = 1; m < n; m++) {
            gm_merkle_root_at(t, m, r1);
            size_t c = 0;
            gm_merkle_consistency_proof(t, m, n, proof, &c);
            valid_n++;
            valid_ok += gm_merkle_verify_consistency(m, n, r1, r2, proof, c) == 0;
            /* An extra hash extending the new tree by one level. */
            memset(proof[c], 0xa5, GM_HASH_LEN);
            gm_merkle_node_hash(proof[c], r2, forged);
            extra_n++;
            extra_ok += gm_merkle_verify_consistency(m, n, r1, forged, proof, c + 1) != 0;
            gm_merkle_node_hash(r2, proof[c], forged);
            extra_n++;
            extra_ok += gm_merkle_verify_consistency(m, n, r1, forged, proof, c + 1) != 0;
            if (c > 0) {
                short_n++;
                short_ok += gm_merkle_verify_consistency(m, n, r1, r2, proof, c - 1) != 0;
            }
            /* The same proof and roots claimed for another new size. */
            for (uint64_t n2 = m + 1; n2 <= N; n2++) {
                if (n2 == n)
                    continue;
                uint8_t p2[GM_MERKLE_MAX_PROOF][GM_HASH_LEN];
                size_t c2 = 0;
                gm_merkle_consistency_proof(t, m, n2, p2, &c2);
                if (c2 == c)
                    continue; /* same shape: only the signed size tells them apart */
                size_n++;
                size_ok += gm_merkle_verify_consistency(m, n2, r1, r2, proof, c) != 0;
            }
        }
    }
    ok(valid_ok == valid_n, "consistency: all %zu genuine proofs verify", valid_n);
    ok(extra_ok == extra_n, "consistency: %zu proofs with an extra hash refused (of %zu)", extra_ok,
       extra_n);
    ok(short_ok == short_n, "consistency: %zu proofs missing a hash refused (of %zu)", short_ok,
       short_n);
    ok(size_ok == size_n,
       "consistency: %zu proofs claimed for a size of another shape refused "
       "(of %zu)",
       size_ok, size_n);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    gm_merkle *t = gm_merkle_new();
    for (size_t i = 0; i < N; i++) {
        uint8_t d[3] = { (uint8_t)i, 0x42, (uint8_t)(i * 13) };
        gm_merkle_leaf_hash(d, sizeof d, leaves[i]);
        gm_merkle_append(t, leaves[i]);
    }
    test_inclusion(t);
    test_consistency(t);
    gm_merkle_free(t);
    done_testing();
    return exit_status();
}
