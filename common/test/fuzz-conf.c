/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target for the gpumarket.conf parser and the money parser: any
 * input is accepted or refused with one "fuzz.conf..." line (no program prefix), never a crash.
 * Build and run: make common/test/fuzz-conf && common/test/fuzz-conf -max_total_time=60 */
#include "config.h"

#include "common/conf.h"
#include "common/money.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gm_conf *conf;
    char err[512];
    int rc = gm_conf_parse("fuzz.conf", (const char *)data, size, &conf, err, sizeof err);
    if (rc == 0) {
        gm_conf_destroy(conf);
    } else if (conf != NULL || strncmp(err, "fuzz.conf", 9) != 0 || strchr(err, '\n')) {
        abort();
    }
    int64_t micro;
    if (gm_money_parse_mem((const char *)data, size, 0, &micro, err, sizeof err) == 0) {
        char back[GM_MONEY_STRLEN];
        int64_t again;
        if (gm_money_format(micro, back, sizeof back) < 0 ||
            gm_money_parse(back, 0, &again, err, sizeof err) != 0 || again != micro)
            abort();
    }
    return 0;
}
