/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal helpers of libgpumarket-settlement: base64, CRC32C, UTF-8 and
 * record framing.  Not installed.  Hex, decimal numbers, error messages and
 * files come from the shared helpers in common/. */
#ifndef GPUMARKET_SETTLEMENT_UTIL_H
#define GPUMARKET_SETTLEMENT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Error messages (gm_errf), hex and numbers; files. */
#include "common/io.h"
#include "common/text.h"

/* Standard base64 with padding.  encode writes 4*ceil(n/3) chars + NUL into
 * out (caller sizes it).  decode is strict (canonical padding and zero spare
 * bits, no whitespace); returns the decoded length or -1; out holds at most
 * outmax bytes. */
void gm_settle_base64_encode(const uint8_t *in, size_t n, char *out);
long gm_settle_base64_decode(const char *in, size_t n, uint8_t *out, size_t outmax);

/* SHA-256 of len bytes into out (32 bytes), and the EVP_MD for streaming:
 * every SHA-256 of the library goes through these two (see util.c for why
 * the method is not fetched once and kept). */
void gm_settle_sha256(const void *data, size_t len, uint8_t out[32]);
const struct evp_md_st *gm_settle_sha256_md(void);

uint32_t gm_settle_crc32c(uint32_t crc, const void *buf, size_t len);

/* Valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int gm_settle_utf8_valid(const uint8_t *s, size_t len);

static inline void gm_settle_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t gm_settle_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

struct gm_key;
/* The C2SP key id (4 bytes) that `key` has under `name` (namelen bytes, 1 to
 * 255): SHA-256(name || 0x0A || 0x01 || public key)[:4].  0, or -1 for a bad
 * length.  Lets a key loaded from a bare PEM file check a signature line
 * that names it (key.c). */
int gm_settle_key_id_for_name(const struct gm_key *key, const char *name, size_t namelen,
                              uint8_t id[4]);

#endif
