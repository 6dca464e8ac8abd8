/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the strict receipt decoder, the backfill parser and the
 * signed-receipt decoder.  Whatever decodes must re-encode to the same bytes. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct gm_receipt r;
    if (gm_receipt_decode((const char *)data, size, &r, err, sizeof err) == 0) {
        size_t len;
        char *enc = gm_receipt_encode(&r, &len, err, sizeof err);
        if (!enc || len != size || memcmp(enc, data, size) != 0)
            abort(); /* a decoded receipt must be canonical */
        free(enc);
    }
    if (gm_receipt_parse_input((const char *)data, size, &r, err, sizeof err) == 0) {
        r.sequence = 0;
        strcpy(r.key_id, "00000000");
        if (gm_receipt_check(&r, err, sizeof err) != 0)
            abort(); /* accepted input must make a valid receipt */
    }
    size_t off, rlen;
    uint8_t sig[GM_SIGNATURE_LEN];
    if (gm_signed_receipt_decode((const char *)data, size, &r, &off, &rlen, sig, err, sizeof err) ==
        0) {
        size_t len;
        char *enc = gm_receipt_encode(&r, &len, err, sizeof err);
        if (off + rlen > size || !enc || len != rlen || memcmp(enc, data + off, len) != 0)
            abort(); /* the signed bytes must be the canonical receipt */
        free(enc);
    }
    return 0;
}
