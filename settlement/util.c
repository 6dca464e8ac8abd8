/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal helpers of libgpumarket-settlement: base64, CRC32C and UTF-8
 * checks.  Hex, numbers and files come from common/ (text.h, io.h). */
#include "config.h"

#include "settlement/util.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

/* SHA256() and EVP_sha256() look SHA-256 up in OpenSSL's method store on
 * every call (OpenSSL 3), about as costly as hashing a short record.  A
 * method fetched once and kept would be faster, but this library is loaded
 * into slurmctld by the select plugin, which Slurm unloads (dlclose) at
 * shutdown: the kept method becomes a leak there (valgrind, t3006), and
 * freeing it from a destructor can run after OpenSSL's own exit-time
 * cleanup in a program that exits without unloading.  One place to change
 * it, with a release call from the plugin's fini, is here. */
const EVP_MD *gm_settle_sha256_md(void)
{
    return EVP_sha256();
}

void gm_settle_sha256(const void *data, size_t len, uint8_t out[32])
{
    SHA256(data, len, out);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void gm_settle_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = b64chars[(v >> 6) & 63];
        *out++ = b64chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        *out++ = b64chars[v >> 18];
        *out++ = b64chars[(v >> 12) & 63];
        *out++ = b64chars[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long gm_settle_base64_decode(const char *in, size_t n, uint8_t *out, size_t outmax)
{
    if (n % 4 != 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) /* data after '=' */
                    return -1;
                v[k] = b64val(in[i + k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) |
                     (uint32_t)v[3];
        size_t take = 3 - (size_t)pad;
        /* Canonical form: the bits padding covers must be zero. */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return -1;
        if (o + take > outmax)
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (take > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (take > 2)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

/* CRC32C (Castagnoli), reflected, table-driven: only record headers use it. */
static uint32_t crc_table[256];
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t gm_settle_crc32c(uint32_t crc, const void *buf, size_t len)
{
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        crc_init(); /* idempotent: racing threads write the same table */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int gm_settle_utf8_valid(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = gm_utf8_sequence(s + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}
