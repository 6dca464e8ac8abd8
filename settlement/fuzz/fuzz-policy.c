/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the governance parsers (proposal, signature file, policy
 * record).  What parses must be canonical: a proposal's bytes are exactly
 * the input (less one newline), and a record re-parsed from its own bytes
 * gives the same proposal hash. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    const char *text = (const char *)data;
    gm_governance_proposal *p = gm_governance_proposal_parse(text, size, "fuzz", err, sizeof err);
    if (p) {
        size_t len;
        const char *bytes = gm_governance_proposal_bytes(p, &len);
        size_t want = size > 0 && text[size - 1] == '\n' ? size - 1 : size;
        if (len != want || memcmp(bytes, text, len) != 0)
            abort(); /* only canonical bytes parse */
        gm_governance_proposal_destroy(p);
    }
    struct gm_governance_signature s;
    (void)gm_governance_signature_parse(text, size, "fuzz", &s, err, sizeof err);
    gm_governance_record *r = gm_governance_record_parse(text, size, err, sizeof err);
    if (r) {
        size_t len;
        const char *bytes = gm_governance_record_bytes(r, &len);
        if (len != size || memcmp(bytes, text, size) != 0)
            abort();
        gm_governance_record_destroy(r);
    }
    return 0;
}
