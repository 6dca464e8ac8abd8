/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Energy and emissions estimates for receipts: the one rule for turning a
 * configured GPU power into a segment's energy, and energy into emissions.
 * Pure integer arithmetic: no Slurm header, no floating point. */
#ifndef GPUMARKET_ENERGY_H
#define GPUMARKET_ENERGY_H

#include <stdint.h>

/* Largest result either function gives: 2^53 - 1, the largest integer a
 * receipt carries (JSON numbers are IEEE doubles; GM_RECEIPT_INT_MAX in the
 * settlement library, GM_MONEY_BILL_MAX in common/money.h). */
#define GM_ENERGY_MAX 9007199254740991LL

/* The estimated energy of a segment whose GPUs each drew `watts` for
 * `gpu_seconds` GPU-seconds (gpu_count x (end - start)): watts x gpu_seconds
 * x 1000, in millijoules.  It assumes every allocated GPU drew that power for
 * the whole segment, so it is an upper-bound style estimate, not a
 * measurement.  Returns 0 and sets *energy_mj, or -1 (leaving *energy_mj
 * unchanged) when an input is negative or the result would exceed
 * GM_ENERGY_MAX: it refuses, never wraps or saturates.  Thread-safe. */
int gm_energy_estimate(int64_t watts, int64_t gpu_seconds, int64_t *energy_mj);

/* The emissions of `energy_mj` millijoules at `grams_per_kwh` gCO2e/kWh, in
 * milligrams CO2e, rounded down: floor(energy_mj x grams_per_kwh / 3.6e6)
 * (1 kWh = 3.6e9 mJ, 1 g = 1000 mg), exact in integers.  Returns 0 and sets
 * *emissions_mg, or -1 (leaving it unchanged) when an input is negative or
 * the result would exceed GM_ENERGY_MAX.  Thread-safe. */
int gm_energy_emissions(int64_t energy_mj, int64_t grams_per_kwh, int64_t *emissions_mg);

#endif
