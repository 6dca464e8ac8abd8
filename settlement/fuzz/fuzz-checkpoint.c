/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the C2SP checkpoint / signed-note parser and verifier. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gm_key *key;
    char err[256];
    if (!key)
        key = gm_key_generate("fuzz.example/log", err, sizeof err);
    struct gm_checkpoint cp;
    if (gm_checkpoint_parse((const char *)data, size, &cp, err, sizeof err) == 0) {
        if (cp.body_len >= size || cp.nsignatures == 0 || strlen(cp.origin) == 0)
            abort();
    }
    gm_checkpoint_verify((const char *)data, size, &key, 1, &cp, err, sizeof err);
    return 0;
}
