/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Energy and emissions estimates: known answers, rounding down, and the
 * 2^53 - 1 bound met exactly, passed by one, and never wrapped. */
#include "config.h"

#include "market/energy.h"

#include "tests/tap/tap.h"

#include <inttypes.h>
#include <stdint.h>

#define MAX GM_ENERGY_MAX

struct energy_case {
    int64_t watts, gpu_seconds;
    int rc;
    int64_t energy_mj;
    const char *why;
};

static const struct energy_case energy_cases[] = {
    { 0, 0, 0, 0, "nothing" },
    { 700, 0, 0, 0, "no GPU-seconds: no energy" },
    { 0, 3600, 0, 0, "0 W (a caller's bug, still exact): no energy" },
    { 700, 3600, 0, 2520000000LL, "one H100-hour at 700 W is 2.52 MJ = 0.7 kWh" },
    { 1, 1, 0, 1000, "1 W for 1 s is 1000 mJ" },
    { 100000, 4 * 86400, 0, 34560000000000LL, "4 GPU-days at the configured maximum" },
    /* MAX / 1000 = 9007199254740 (remainder 991): the last product that fits. */
    { 1, 9007199254740LL, 0, 9007199254740000LL, "the largest product that fits" },
    { 1, 9007199254741LL, -1, 0, "one GPU-second more exceeds 2^53 - 1: refused" },
    { 2, 4503599627370LL, 0, 9007199254740000LL, "split across both factors, fits" },
    { 2, 4503599627371LL, -1, 0, "split across both factors, one over" },
    { INT64_MAX, INT64_MAX, -1, 0, "INT64_MAX squared is refused, not wrapped" },
    { INT64_MAX, 1, -1, 0, "INT64_MAX watts" },
    { 3037000500LL, 3037000500LL, -1, 0, "a product past 2^63 is refused, not wrapped" },
    { -1, 10, -1, 0, "negative watts" },
    { 10, -1, -1, 0, "negative GPU-seconds" },
};

struct emissions_case {
    int64_t energy_mj, grams_per_kwh;
    int rc;
    int64_t emissions_mg;
    const char *why;
};

static const struct emissions_case emissions_cases[] = {
    { 0, 0, 0, 0, "nothing" },
    { 0, 5000, 0, 0, "no energy: no emissions" },
    { 3600000000LL, 0, 0, 0, "carbon-free electricity" },
    { 3600000000LL, 350, 0, 350000, "1 kWh at 350 g/kWh is 350 g = 350000 mg" },
    { 2520000000LL, 400, 0, 280000, "0.7 kWh at 400 g/kWh is 280 g" },
    { 3599999, 1, 0, 0, "just under 1 mg rounds down to 0" },
    { 3600000, 1, 0, 1, "exactly 1 mg" },
    { 7199999, 1, 0, 1, "just under 2 mg rounds down to 1" },
    { MAX, 5000, 0, 12509998964918, "2^53 - 1 mJ at the configured maximum" },
    /* 2^53 - 1 mg needs energy x g = (2^53 - 1) x 3.6e6 (+ up to 3599999). */
    { 9007199254740991LL, 3600000, 0, MAX, "the result at exactly 2^53 - 1" },
    { 9007199254740991LL, 3600001, -1, 0, "just above 2^53 - 1: refused" },
    { INT64_MAX, INT64_MAX, -1, 0, "INT64_MAX squared is refused, not wrapped" },
    { -1, 350, -1, 0, "negative energy" },
    { 1000, -1, -1, 0, "negative intensity" },
};

int main(void)
{
    plan(TAP_NO_PLAN);
    for (size_t i = 0; i < sizeof energy_cases / sizeof energy_cases[0]; i++) {
        const struct energy_case *c = &energy_cases[i];
        int64_t mj = -42;
        int rc = gm_energy_estimate(c->watts, c->gpu_seconds, &mj);
        ok(rc == c->rc && (rc == 0 ? mj == c->energy_mj : mj == -42),
           "energy %" PRId64 " W x %" PRId64 " GPU-s: %s (rc %d, %" PRId64 " mJ)", c->watts,
           c->gpu_seconds, c->why, rc, mj);
    }
    for (size_t i = 0; i < sizeof emissions_cases / sizeof emissions_cases[0]; i++) {
        const struct emissions_case *c = &emissions_cases[i];
        int64_t mg = -42;
        int rc = gm_energy_emissions(c->energy_mj, c->grams_per_kwh, &mg);
        ok(rc == c->rc && (rc == 0 ? mg == c->emissions_mg : mg == -42),
           "emissions %" PRId64 " mJ x %" PRId64 " g/kWh: %s (rc %d, %" PRId64 " mg)", c->energy_mj,
           c->grams_per_kwh, c->why, rc, mg);
    }
    /* The rounding rule against an independent check over many inputs:
     * floor(e x g / 3.6e6) is the q with q x 3.6e6 <= e x g < (q + 1) x 3.6e6. */
    int rounding_ok = 1;
    for (int64_t e = 0; e < 20000000; e += 999983)
        for (int64_t g = 0; g <= 5000; g += 37) {
            int64_t q;
            if (gm_energy_emissions(e, g, &q) != 0 || q * 3600000 > e * g ||
                (q + 1) * 3600000 <= e * g)
                rounding_ok = 0;
        }
    ok(rounding_ok, "emissions round down, exactly, over a grid of inputs");
    done_testing();
    return exit_status();
}
