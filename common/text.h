/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small text helpers every component shares: error messages into a
 * caller's buffer, UTF-8 checking, quoting user input for a message, hex,
 * and the one strict decimal number parser. */
#ifndef GPUMARKET_COMMON_TEXT_H
#define GPUMARKET_COMMON_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Format a message into err (errlen bytes, always terminated when errlen > 0;
 * err may be NULL).  Returns -1, so `return gm_errf(...)` reports failure. */
int gm_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Length of the well-formed UTF-8 sequence of two or more bytes at s (at
 * most `avail` bytes), or 0 when it is malformed, overlong, a surrogate or
 * above U+10FFFF.  ASCII bytes are not sequences: callers test them first. */
size_t gm_utf8_sequence(const unsigned char *s, size_t avail);

/* Check that `text` (len bytes) is well-formed UTF-8 without control
 * characters (C0, DEL, C1).  Returns 0, or -1 and the offset of the first bad
 * byte in *bad_offset (when not NULL). */
int gm_text_check(const char *text, size_t len, size_t *bad_offset);

/* Quote at most 40 bytes of `text` for a message into out (outlen bytes,
 * always terminated when outlen > 0): printable ASCII as is, anything else
 * (and " and \) as \xNN; "..." marks a cut. */
void gm_text_quote(const char *text, size_t len, char *out, size_t outlen);

/* Lowercase hex of the n bytes at in into out (2 * n + 1 bytes, terminated). */
void gm_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decode exactly 2 * n lowercase hex digits (len must be 2 * n; uppercase,
 * blanks and any other byte are refused) into out.  Returns 0, or -1 with
 * out partly written. */
int gm_hex_decode(const char *in, size_t len, uint8_t *out, size_t n);

/* Flags for gm_text_parse_u64. */
#define GM_TEXT_U64_CANONICAL 0x1 /* also refuse leading zeros ("007"; "0" is fine) */

/* Parse the `len` bytes at s as an unsigned decimal number of at most `max`:
 * one or more ASCII digits and nothing else, so no leading or trailing
 * blanks, no sign, no "0x", no overflow.  Returns 0 and sets *value, or -1
 * leaving it untouched (callers name the input in their own message). */
int gm_text_parse_u64_mem(const char *s, size_t len, uint64_t max, unsigned flags, uint64_t *value);
/* As gm_text_parse_u64_mem, for a NUL-terminated string. */
int gm_text_parse_u64(const char *s, uint64_t max, unsigned flags, uint64_t *value);

#endif
