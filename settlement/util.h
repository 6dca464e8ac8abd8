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

/* Ledger record framing (ledger.c): total record size, 0 for a torn
 * prefix, -1 when damaged; the leaf hash is checked only with check_hash. */
long gm_settle_parse_record(const uint8_t *buf, size_t len, size_t *data_off, size_t *data_len,
                            int check_hash, char *err, size_t errlen);
/* Check DIR/ledger's header on fd; copy the origin; header length or -1. */
long gm_settle_read_ledger_header(int fd, const char *path, char *origin, char *err, size_t errlen);
#define GM_SETTLE_REC_HDR      12
#define GM_SETTLE_REC_OVERHEAD (12 + 32)

#endif
