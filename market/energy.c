/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Energy and emissions estimates (see energy.h): products taken in 128 bits,
 * so no input pair can overflow before the bound is checked. */
#include "config.h"

#include "market/energy.h"

#include "common/money.h"

/* A receipt carries energy, emissions and money under the same bound. */
_Static_assert(GM_ENERGY_MAX == GM_MONEY_BILL_MAX, "energy must fit a receipt's integers");

/* Millijoules in one kilowatt-hour, over the milligrams in one gram. */
#define MJ_PER_KWH_PER_MG_PER_G 3600000

int gm_energy_estimate(int64_t watts, int64_t gpu_seconds, int64_t *energy_mj)
{
    if (watts < 0 || gpu_seconds < 0)
        return -1;
    /* watts x gpu_seconds fits 126 bits; x 1000 might not, so compare it
     * first: p x 1000 <= MAX exactly when p <= floor(MAX / 1000). */
    __int128 joules = (__int128)watts * gpu_seconds;
    if (joules > GM_ENERGY_MAX / 1000)
        return -1;
    *energy_mj = (int64_t)joules * 1000;
    return 0;
}

int gm_energy_emissions(int64_t energy_mj, int64_t grams_per_kwh, int64_t *emissions_mg)
{
    if (energy_mj < 0 || grams_per_kwh < 0)
        return -1;
    /* Both factors are below 2^63, so the product fits 126 bits; dividing
     * non-negative integers rounds down. */
    __int128 mg = (__int128)energy_mj * grams_per_kwh / MJ_PER_KWH_PER_MG_PER_G;
    if (mg > GM_ENERGY_MAX)
        return -1;
    *emissions_mg = (int64_t)mg;
    return 0;
}
