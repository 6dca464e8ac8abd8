/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal helpers of libgpumarket-settlement: error messages, base64, hex,
 * CRC32C, whole-file reads and atomic writes.  Not installed. */
#ifndef GPUMARKET_SETTLEMENT_UTIL_H
#define GPUMARKET_SETTLEMENT_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Error messages go through common/text.h's gm_errf (returns -1). */
#include "common/text.h"

/* Standard base64 with padding.  encode writes 4*ceil(n/3) chars + NUL into
 * out (caller sizes it).  decode is strict (canonical padding and zero spare
 * bits, no whitespace); returns the decoded length or -1; out holds at most
 * outmax bytes. */
void gm_settle_base64_encode(const uint8_t *in, size_t n, char *out);
long gm_settle_base64_decode(const char *in, size_t n, uint8_t *out, size_t outmax);

void gm_settle_hex(const uint8_t *in, size_t n, char *out);
/* Strict lowercase hex of exactly 2*n digits; 0 or -1. */
int gm_settle_unhex(const char *in, size_t len, uint8_t *out, size_t n);

uint32_t gm_settle_crc32c(uint32_t crc, const void *buf, size_t len);

struct stat;
/* Open a regular file for reading (O_RDONLY | O_CLOEXEC | flags, e.g.
 * O_NOFOLLOW) and fstat the descriptor actually opened into *st.  Returns
 * the descriptor, or -1 with a message naming the file. */
int gm_settle_open_regular(const char *path, int flags, struct stat *st, char *err, size_t errlen);

/* Read a whole regular file (at most maxlen bytes) into a malloc'd buffer
 * with a NUL after it.  NULL with a message naming the file. */
char *gm_settle_read_file(const char *path, size_t maxlen, size_t *len, char *err, size_t errlen);
/* Write data to path atomically (temp file, fsync, rename, fsync dir).
 * With exclusive, refuse to replace an existing file.  0 or -1. */
int gm_settle_write_file(const char *path, const void *data, size_t len, int mode, int exclusive,
                         char *err, size_t errlen);

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

/* Ledger record framing (ledger.c): total record size, 0 for a torn
 * prefix, -1 when damaged; the leaf hash is checked only with check_hash. */
long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen);
/* Check DIR/ledger's header on fd; copy the origin; header length or -1. */
long gm_settle_read_ledger_header(int fd, const char *path, char *origin, char *err, size_t errlen);
#define GM_SETTLE_REC_HDR      12
#define GM_SETTLE_REC_OVERHEAD (12 + 32)

#endif
