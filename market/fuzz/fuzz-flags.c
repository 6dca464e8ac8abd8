/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the market flags' parsers (what sbatch/salloc/srun and,
 * through the job's control environment, slurmstepd and slurmctld accept).
 * The first byte picks the flag and the entry point; the rest is the value.
 * Whatever is accepted must round-trip through its control value. */
#include "config.h"

#include "market/flags.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Import `value` as the control value of `flag` and check that it is
 * canonical: written back, it gives the same bytes. */
static void import_round_trip(enum gm_flag flag, const char *value, int must_accept)
{
    struct gm_market_terms terms;
    char err[512], back[GM_FLAG_MAX_INPUT + 1];
    memset(&terms, 0, sizeof terms);
    if (gm_flags_import(&terms, flag, value, 1000000000LL, err, sizeof err) != 0) {
        if (must_accept)
            abort(); /* a control value the parser wrote must import */
        return;
    }
    if (!gm_flags_isset(&terms, flag))
        abort();
    int n = gm_flags_control_value(&terms, flag, back, sizeof back);
    if (n < 0 || (size_t)n != strlen(back) || strcmp(back, value) != 0)
        abort(); /* control values are canonical: one spelling per value */
    struct gm_market_terms again;
    memset(&again, 0, sizeof again);
    if (gm_flags_import(&again, flag, back, 1000000000LL, err, sizeof err) != 0 ||
        memcmp(&again, &terms, sizeof terms) != 0)
        abort(); /* the canonical value must import to the same terms */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > GM_FLAG_MAX_INPUT + 1)
        return 0;
    enum gm_flag flag = (enum gm_flag)(data[0] % GM_FLAG_COUNT);
    int import = (data[0] / GM_FLAG_COUNT) & 1;
    char *value = malloc(size);
    if (!value)
        return 0;
    memcpy(value, data + 1, size - 1);
    value[size - 1] = '\0';

    if (import) {
        import_round_trip(flag, value, 0);
    } else {
        struct gm_market_terms terms;
        char err[512], control[GM_FLAG_MAX_INPUT + 1];
        memset(&terms, 0, sizeof terms);
        if (gm_flags_set(&terms, flag, value, "--fuzz", 1000000000LL, err, sizeof err) == 0) {
            if (gm_flags_control_value(&terms, flag, control, sizeof control) < 0)
                abort();
            import_round_trip(flag, control, 1);
            /* The same value again is accepted and changes nothing. */
            struct gm_market_terms before = terms;
            if (gm_flags_set(&terms, flag, value, "--fuzz", 1000000000LL, err, sizeof err) != 0 ||
                memcmp(&before, &terms, sizeof terms) != 0)
                abort();
        } else if (strlen(err) == 0) {
            abort(); /* every refusal says why */
        }
    }
    free(value);
    return 0;
}
