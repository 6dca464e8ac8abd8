/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Merkle tree: every size 0..64 against an independent recursive reference
 * (its own SHA-256 calls), every inclusion and consistency proof, their
 * verification and refusal when tampered, and the RFC 6962 test vectors. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "tests/tap/tap.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 64

static uint8_t data[N][4];

static void sha(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c,
                size_t clen, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestUpdate(ctx, c, clen);
    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
}

/* Reference MTH of leaves data[lo..lo+n), straight from RFC 6962 2.1. */
static void ref_mth(size_t lo, size_t n, uint8_t out[32])
{
    static const uint8_t zero = 0, one = 1;
    if (n == 0) {
        sha(NULL, 0, NULL, 0, NULL, 0, out);
        return;
    }
    if (n == 1) {
        sha(&zero, 1, data[lo], 4, NULL, 0, out);
        return;
    }
    size_t k = 1;
    while (k < n)
        k <<= 1;
    k >>= 1;
    uint8_t l[32], r[32];
    ref_mth(lo, k, l);
    ref_mth(lo + k, n - k, r);
    sha(&one, 1, l, 32, r, 32, out);
}

static void ref_path(size_t m, size_t lo, size_t n, uint8_t out[][32], size_t *c)
{
    if (n <= 1)
        return;
    size_t k = 1;
    while (k < n)
        k <<= 1;
    k >>= 1;
    if (m < k) {
        ref_path(m, lo, k, out, c);
        ref_mth(lo + k, n - k, out[(*c)++]);
    } else {
        ref_path(m - k, lo + k, n - k, out, c);
        ref_mth(lo, k, out[(*c)++]);
    }
}

static void ref_subproof(size_t m, size_t lo, size_t n, int b, uint8_t out[][32], size_t *c)
{
    if (m == n) {
        if (!b)
            ref_mth(lo, n, out[(*c)++]);
        return;
    }
    size_t k = 1;
    while (k < n)
        k <<= 1;
    k >>= 1;
    if (m <= k) {
        ref_subproof(m, lo, k, b, out, c);
        ref_mth(lo + k, n - k, out[(*c)++]);
    } else {
        ref_subproof(m - k, lo + k, n - k, 0, out, c);
        ref_mth(lo, k, out[(*c)++]);
    }
}

static void hex(const uint8_t *h, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    for (size_t i = 0; i < N; i++) {
        data[i][0] = (uint8_t)i;
        data[i][1] = (uint8_t)(i * 7);
        data[i][2] = 0xa5;
        data[i][3] = (uint8_t)(255 - i);
    }

    /* Incremental heads equal the reference for every size. */
    gm_merkle *t = gm_merkle_new();
    uint8_t root[32], want[32], leaf[32];
    int heads_ok = 1;
    gm_merkle_root(t, root);
    ref_mth(0, 0, want);
    heads_ok &= memcmp(root, want, 32) == 0;
    for (size_t i = 0; i < N; i++) {
        gm_merkle_leaf_hash(data[i], 4, leaf);
        gm_merkle_append(t, leaf);
        gm_merkle_root(t, root);
        ref_mth(0, i + 1, want);
        if (memcmp(root, want, 32) != 0) {
            diag("incremental root differs at size %zu", i + 1);
            heads_ok = 0;
        }
    }
    ok(heads_ok, "incremental tree head equals the reference MTH for sizes 0..64");

    int prefix_ok = 1;
    for (size_t n = 0; n <= N; n++) {
        gm_merkle_root_at(t, n, root);
        ref_mth(0, n, want);
        prefix_ok &= memcmp(root, want, 32) == 0;
    }
    ok(prefix_ok, "root of every prefix size 0..64 equals the reference");
    ok(gm_merkle_root_at(t, N + 1, root) == -1, "root past the end refused");

    /* Every inclusion proof. */
    int incl_same = 1, incl_verify = 1, incl_tamper = 1;
    uint8_t proof[GM_MERKLE_MAX_PROOF][32], refp[GM_MERKLE_MAX_PROOF][32];
    for (size_t n = 1; n <= N; n++) {
        gm_merkle_root_at(t, n, root);
        for (size_t m = 0; m < n; m++) {
            size_t c = 0, rc = 0;
            if (gm_merkle_inclusion_proof(t, m, n, proof, &c) != 0)
                incl_same = 0;
            ref_path(m, 0, n, refp, &rc);
            if (c != rc || memcmp(proof, refp, c * 32) != 0) {
                diag("inclusion proof differs m=%zu n=%zu", m, n);
                incl_same = 0;
            }
            const uint8_t *lh = gm_merkle_leaf(t, m);
            if (gm_merkle_verify_inclusion(lh, m, n, (const uint8_t(*)[32])proof, c, root) != 0) {
                diag("inclusion proof does not verify m=%zu n=%zu", m, n);
                incl_verify = 0;
            }
            /* Wrong index, dropped or flipped hash: all refused.  (A wrong size can
             * legitimately pass: the path shape of size n may equal that of n+1.) */
            if (n > 1 && gm_merkle_verify_inclusion(lh, (m + 1) % n, n, (const uint8_t(*)[32])proof,
                                                    c, root) == 0) {
                diag("wrong index accepted m=%zu n=%zu", m, n);
                incl_tamper = 0;
            }
            if (c > 0 && gm_merkle_verify_inclusion(lh, m, n, (const uint8_t(*)[32])proof, c - 1,
                                                    root) == 0) {
                diag("short proof accepted m=%zu n=%zu", m, n);
                incl_tamper = 0;
            }
            for (size_t k = 0; k < c; k++) {
                proof[k][k % 32] ^= 0x80;
                if (gm_merkle_verify_inclusion(lh, m, n, (const uint8_t(*)[32])proof, c, root) == 0)
                    incl_tamper = 0;
                proof[k][k % 32] ^= 0x80;
            }
        }
    }
    ok(incl_same, "inclusion proofs for every (index, size <= 64) equal the reference PATH");
    ok(incl_verify, "every inclusion proof verifies (RFC 9162 2.1.3.2)");
    ok(incl_tamper, "wrong index, short or altered proofs are refused");
    size_t c;
    ok(gm_merkle_inclusion_proof(t, 5, 5, proof, &c) == -1, "inclusion index >= size refused");
    ok(gm_merkle_inclusion_proof(t, 0, N + 1, proof, &c) == -1, "inclusion size > tree refused");

    /* Every consistency proof. */
    int cons_same = 1, cons_verify = 1, cons_tamper = 1;
    for (size_t n = 0; n <= N; n++) {
        uint8_t nroot[32];
        gm_merkle_root_at(t, n, nroot);
        for (size_t m = 0; m <= n; m++) {
            uint8_t mroot[32];
            gm_merkle_root_at(t, m, mroot);
            size_t rc = 0;
            c = 0;
            if (gm_merkle_consistency_proof(t, m, n, proof, &c) != 0)
                cons_same = 0;
            if (m > 0 && m < n)
                ref_subproof(m, 0, n, 1, refp, &rc);
            if (c != rc || memcmp(proof, refp, c * 32) != 0) {
                diag("consistency proof differs m=%zu n=%zu", m, n);
                cons_same = 0;
            }
            if (gm_merkle_verify_consistency(m, n, mroot, nroot, (const uint8_t(*)[32])proof, c) !=
                0) {
                diag("consistency proof does not verify m=%zu n=%zu", m, n);
                cons_verify = 0;
            }
            if (m > 0 && m < n) {
                uint8_t bad[32];
                memcpy(bad, mroot, 32);
                bad[0] ^= 1;
                if (gm_merkle_verify_consistency(m, n, bad, nroot, (const uint8_t(*)[32])proof,
                                                 c) == 0)
                    cons_tamper = 0;
                if (gm_merkle_verify_consistency(m, n, mroot, bad, (const uint8_t(*)[32])proof,
                                                 c) == 0)
                    cons_tamper = 0;
                for (size_t k = 0; k < c; k++) {
                    proof[k][3] ^= 0x10;
                    if (gm_merkle_verify_consistency(m, n, mroot, nroot,
                                                     (const uint8_t(*)[32])proof, c) == 0)
                        cons_tamper = 0;
                    proof[k][3] ^= 0x10;
                }
                if (gm_merkle_verify_consistency(m, n, mroot, nroot, (const uint8_t(*)[32])proof,
                                                 c - 1) == 0)
                    cons_tamper = 0;
            }
        }
    }
    ok(cons_same,
       "consistency proofs for every 0 <= old <= new <= 64 equal the reference SUBPROOF");
    ok(cons_verify, "every consistency proof verifies (RFC 9162 2.1.4.2)");
    ok(cons_tamper, "altered roots, altered or short proofs are refused");
    ok(gm_merkle_consistency_proof(t, 5, 4, proof, &c) == -1, "old > new refused");

    /* Truncation rebuilds the subtree stack. */
    int trunc_ok = 1;
    for (size_t n = N; n-- > 0;) {
        gm_merkle_truncate(t, n);
        gm_merkle_root(t, root);
        ref_mth(0, n, want);
        trunc_ok &= memcmp(root, want, 32) == 0 && gm_merkle_size(t) == n;
    }
    ok(trunc_ok, "truncate to every size gives the reference root");
    gm_merkle_free(t);

    /* RFC 6962 test vectors (certificate-transparency's merkle tree tests). */
    static const char *const inputs[8] = {
        "",
        "\x00",
        "\x10",
        "\x20\x21",
        "\x30\x31",
        "\x40\x41\x42\x43",
        "\x50\x51\x52\x53\x54\x55\x56\x57",
        "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"
    };
    static const size_t lens[8] = { 0, 1, 1, 2, 2, 4, 8, 16 };
    static const char *const roots[8] = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    };
    t = gm_merkle_new();
    gm_merkle_root(t, root);
    char h[65];
    hex(root, h);
    is_str(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "empty tree root is SHA-256 of the empty string");
    for (int i = 0; i < 8; i++) {
        gm_merkle_leaf_hash(inputs[i], lens[i], leaf);
        gm_merkle_append(t, leaf);
        gm_merkle_root(t, root);
        hex(root, h);
        is_str(h, roots[i], "RFC 6962 test vector: root of %d leaves", i + 1);
    }
    gm_merkle_free(t);
    done_testing();
    return exit_status();
}
