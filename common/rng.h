/* SPDX-License-Identifier: GPL-2.0-or-later */
/* xorshift64*: a small, fixed-seed generator so that tests, property checks
 * and benchmarks replay the same inputs on every run.  Never for secrets. */
#ifndef GPUMARKET_COMMON_RNG_H
#define GPUMARKET_COMMON_RNG_H

#include <stdint.h>

/* Advance *state (never 0) and return the next 64-bit value. */
static inline uint64_t gm_rng_next(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}

#endif
