/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the ledger record framing parser, scanning a buffer the
 * way open() scans a ledger file. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    size_t off = 0;
    while (off < size) {
        size_t doff, dlen;
        long n = gm_ledger_parse_record(data + off, size - off, &doff, &dlen, err, sizeof err);
        if (n <= 0)
            break;
        if ((size_t)n > size - off || doff + dlen > (size_t)n)
            abort(); /* a record must lie inside the buffer */
        off += (size_t)n;
    }
    return 0;
}
