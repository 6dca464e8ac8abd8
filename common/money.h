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
 * when errlen > 0) that names the value but NOT the flag or key, and does not
 * start with "gpumarket:", so the caller prefixes it, e.g.
 * "gpumarket: --market-bid: " + err. */
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

/* ------------------------------------------------------------ the billing rule */

/* The largest amount a bill may reach, in micro-units: 2^53 - 1 (about 9.0
 * billion units).  Receipts are JSON whose integers must stay exact in an
 * IEEE double (RFC 7493, I-JSON), so a larger bill could not be written into
 * a receipt; the policy engine clamps a lease's time so its bill stays
 * within it, and settlement refuses anything above it.  One bound for both,
 * so a lease can never run up a bill no receipt can carry. */
#define GM_MONEY_BILL_MAX 9007199254740991LL

/* The billing rule, the one place it is written: the amount for
 * `gpu_seconds` GPU-seconds at `price_micro_per_gpu_hour` micro-units per
 * GPU-hour is floor(price * gpu_seconds / 3600) micro-units, computed
 * exactly in 128-bit integers.  Each call rounds down on its own, so the sum
 * of k segments' bills is at most the bill of their total GPU-seconds and
 * less by at most k - 1 micro-units: the buyer never pays more than the
 * exact price.  Returns 0 and sets *amount, or -1 (leaving *amount untouched)
 * with a message in err when an input is negative or the amount would exceed
 * GM_MONEY_BILL_MAX: it refuses, never saturates or wraps.  Thread-safe. */
int gm_money_bill(int64_t price_micro_per_gpu_hour, int64_t gpu_seconds, int64_t *amount, char *err,
                  size_t errlen);

/* The inverse used to cap a lease: the largest GPU-seconds S (at most
 * INT64_MAX) whose bill, gm_money_bill(price, S), is at most `budget`
 * micro-units, with budget taken as GM_MONEY_BILL_MAX when it is larger.
 * A price of 0 bills nothing: S is INT64_MAX.  Returns 0, or -1 when price or
 * budget is negative. */
int gm_money_bill_longest(int64_t price_micro_per_gpu_hour, int64_t budget, int64_t *gpu_seconds);

#endif
