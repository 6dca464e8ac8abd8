/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gm_errf, the one error convention: a message that fits is written whole,
 * one that does not ends in GM_ERR_TRUNCATED and never in half a character. */
#include "config.h"

#include "common/text.h"
#include "tests/tap/tap.h"

#include <string.h>

int main(void)
{
    char buf[16];

    is_int(gm_errf(buf, sizeof buf, "%s: %d", "bid", 7), -1, "gm_errf returns -1");
    is_str(buf, "bid: 7", "a message that fits is written as is");

    gm_errf(buf, sizeof buf, "%s", "exactly 15 byte");
    is_str(buf, "exactly 15 byte", "a message of errlen - 1 bytes fits and is not marked");

    gm_errf(buf, sizeof buf, "%s", "exactly 16 bytes");
    is_str(buf, "exactly 16 b" GM_ERR_TRUNCATED, "one byte too long is cut and marked");
    ok(strlen(buf) == sizeof buf - 1, "the cut message fills the buffer");

    gm_errf(buf, sizeof buf, "--market-order: %s", "a very long order reference");
    is_str(buf, "--market-ord" GM_ERR_TRUNCATED, "a long message ends in the mark");

    /* "ab" then U+20AC (3 bytes) five times: the cut falls inside one. */
    gm_errf(buf, sizeof buf, "ab%s",
            "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
    is_str(buf, "ab\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac" GM_ERR_TRUNCATED,
           "the cut backs off to a character boundary");
    size_t bad = 0;
    is_int(gm_text_check(buf, strlen(buf), &bad), 0, "the cut message is still valid UTF-8");

    char tiny[3] = "zz";
    gm_errf(tiny, sizeof tiny, "%s", "longer");
    is_str(tiny, "lo", "a buffer too small for the mark is cut without it");

    char one[1] = { 'x' };
    gm_errf(one, sizeof one, "%s", "anything");
    is_int(one[0], '\0', "a one-byte buffer holds the terminator");

    is_int(gm_errf(NULL, 0, "%s", "nowhere"), -1, "a NULL buffer is allowed");

    done_testing();
    return exit_status();
}
