/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: private key (PKCS#8 PEM) and public key (PEM or
 * signed-note verifier key) parsing. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    gm_key *k = gm_key_parse_private((const char *)data, size, "fuzz.example/key", err, sizeof err);
    if (k) {
        uint8_t sig[GM_SIGNATURE_LEN];
        if (gm_key_sign(k, "x", 1, sig, err, sizeof err) != 0 || gm_key_verify(k, "x", 1, sig) != 0)
            abort(); /* a key that parses must sign and verify */
        gm_key_free(k);
    }
    k = gm_key_parse_public((const char *)data, size, err, sizeof err);
    if (k) {
        char *line = gm_key_verifier_line(k);
        free(line);
        gm_key_free(k);
    }
    return 0;
}
