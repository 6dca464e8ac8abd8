/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Decimal money amounts as int64 micro-units (1 unit = 1,000,000 micro-units),
 * parsed and printed without floating point.  Shared by the config parser,
 * the SPANK flags (--market-bid, --market-max-cost) and the CLI. */
#ifndef GPUMARKET_COMMON_MONEY_H
#define GPUMARKET_COMMON_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Micro-units per currency unit. */
#define GM_MONEY_SCALE 1000000
/* Digits allowed after the decimal point. */
#define GM_MONEY_MAX_DECIMALS 6
/* Largest amount gm_money_parse accepts: INT64_MAX micro-units. */
#define GM_MONEY_MAX INT64_MAX
/* A buffer of this size always holds gm_money_format's output. */
#define GM_MONEY_STRLEN 32

/* Flags for gm_money_parse. */
enum {
    GM_MONEY_ALLOW_ZERO = 1 << 0, /* accept 0 (e.g. a reserve price); rejected by default */
};

/* Parse a decimal amount such as "2.40" into micro-units (2400000).
 * Accepted: one or more ASCII digits, optionally '.' and 1 to 6 digits.
 * Rejected (with a reason in err): an empty string, spaces, a sign, an
 * exponent, hex, "nan"/"inf", commas, more than one '.', a leading or
 * trailing '.', more than 6 decimals, anything above GM_MONEY_MAX micro-units,
 * and zero unless `flags` has GM_MONEY_ALLOW_ZERO.
 * On success returns 0 and sets *micro.  On error returns -1, leaves *micro
 * untouched and writes a message into err (errlen bytes, always terminated
 * when errlen > 0) that names the value but NOT the flag or key, so the
 * caller prefixes what was being read, e.g. "--market-bid: " + err (and the
 * adapter "gpumarket: ", see common/text.h). */
int gm_money_parse(const char *text, unsigned flags, int64_t *micro, char *err, size_t errlen);

/* As gm_money_parse, for `len` bytes at `text` (no terminating NUL needed;
 * a NUL byte inside is rejected). */
int gm_money_parse_mem(const char *text, size_t len, unsigned flags, int64_t *micro, char *err,
                       size_t errlen);

/* Write `micro` as a decimal string into buf: at least 2 decimals, more only
 * when needed, no trailing zeros beyond 2 ("2.40", "0.000001", "-1.50").
 * Every int64 value, INT64_MIN included, is printed exactly, and
 * gm_money_parse reads back any non-negative output to the same value.
 * Returns the string length, or -1 when buf is too small (GM_MONEY_STRLEN
 * always suffices); buf is then set to "" when buflen > 0. */
int gm_money_format(int64_t micro, char *buf, size_t buflen);

#endif
