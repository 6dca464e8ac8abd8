/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An auditor's operations on a ledger: check a checkpoint saved earlier (a
 * copy kept outside the ledger directory) against the ledger as it is now. */
#include "config.h"

#include "settlement/gpumarket-settlement.h"
#include "settlement/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A saved checkpoint is one small note; the same limit as DIR/checkpoint. */
#define SAVED_CHECKPOINT_MAX (1 << 20)

int gm_ledger_check_checkpoint(const gm_ledger *ledger, const char *text, size_t len,
                               gm_key *const *keys, size_t nkeys, struct gm_checkpoint *cp,
                               char *err, size_t errlen)
{
    struct gm_checkpoint tmp;
    if (!cp)
        cp = &tmp;
    if (gm_checkpoint_verify(text, len, keys, nkeys, cp, err, errlen) != 0)
        return -1;
    const char *origin = gm_ledger_origin(ledger);
    if (strcmp(cp->origin, origin) != 0)
        return gm_errf(err, errlen, "origin \"%s\" is not this ledger's (\"%s\")", cp->origin,
                       origin);
    uint64_t size = gm_ledger_size(ledger);
    if (cp->size > size)
        return gm_errf(err, errlen,
                       "signed for %" PRIu64 " records but the ledger has %" PRIu64
                       ": records were lost",
                       cp->size, size);
    uint8_t root[GM_HASH_LEN];
    if (gm_merkle_root_at(gm_ledger_tree(ledger), cp->size, root) != 0 ||
        memcmp(root, cp->root, GM_HASH_LEN) != 0)
        return gm_errf(err, errlen,
                       "the first %" PRIu64
                       " records no longer have the signed root hash: the ledger was rewritten",
                       cp->size);
    return 0;
}

int gm_ledger_check_checkpoint_file(const gm_ledger *ledger, const char *path, gm_key *const *keys,
                                    size_t nkeys, struct gm_checkpoint *cp, char *err,
                                    size_t errlen)
{
    char msg[512];
    size_t len;
    /* Non-blocking open: a FIFO at the path is refused, not waited on. */
    char *text = gm_io_read_file(path, 0, SAVED_CHECKPOINT_MAX, &len, msg, sizeof msg);
    if (!text)
        return gm_errf(err, errlen, "%s", msg);
    int rc = gm_ledger_check_checkpoint(ledger, text, len, keys, nkeys, cp, msg, sizeof msg);
    free(text);
    if (rc != 0)
        return gm_errf(err, errlen, "%s: %s", path, msg);
    return 0;
}
