/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Decimal money amounts <-> int64 micro-units, integer arithmetic only. */
#include "config.h"

#include "common/money.h"

#include "common/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int gm_money_parse_mem(const char *text, size_t len, unsigned flags, int64_t *micro, char *err,
                       size_t errlen)
{
    char shown[256];
    const char *hint = "use digits with at most 6 decimals, e.g. 2.40";

    if (text == NULL || len == 0)
        return gm_errf(err, errlen, "empty amount: %s", hint);
    gm_text_quote(text, len, shown, sizeof shown);

    /* Integer part: digits only, accumulated with an explicit overflow check
     * against the largest whole number of units that fits in micro-units. */
    const int64_t max_units = GM_MONEY_MAX / GM_MONEY_SCALE;
    int64_t units = 0;
    size_t i = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9') {
        int d = text[i] - '0';
        if (units > (max_units - d) / 10)
            return gm_errf(err, errlen, "\"%s\" is too large: the most is %lld.%06lld", shown,
                           (long long)max_units, (long long)(GM_MONEY_MAX % GM_MONEY_SCALE));
        units = units * 10 + d;
        i++;
    }
    if (i == 0 && text[0] == '-')
        return gm_errf(err, errlen,
                       "\"%s\" is negative: amounts are written "
                       "without a sign, e.g. 2.40",
                       shown);
    if (i == 0)
        return gm_errf(err, errlen, "\"%s\" is not a decimal amount: %s", shown, hint);

    int64_t frac = 0;
    if (i < len && text[i] == '.') {
        size_t start = ++i;
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            if (i - start == GM_MONEY_MAX_DECIMALS)
                return gm_errf(err, errlen,
                               "\"%s\" has more than %d decimals: amounts are kept in "
                               "millionths",
                               shown, GM_MONEY_MAX_DECIMALS);
            frac = frac * 10 + (text[i] - '0');
            i++;
        }
        if (i == start)
            return gm_errf(err, errlen, "\"%s\" has no digits after '.': %s", shown, hint);
        for (size_t k = i - start; k < GM_MONEY_MAX_DECIMALS; k++)
            frac *= 10;
    }
    if (i != len)
        return gm_errf(err, errlen,
                       "\"%s\" is not a decimal amount (byte %zu is not "
                       "a digit): %s",
                       shown, i + 1, hint);

    /* units <= max_units, so units * SCALE cannot overflow; only the
     * fractional part can push the whole past INT64_MAX. */
    int64_t whole = units * GM_MONEY_SCALE;
    if (frac > GM_MONEY_MAX - whole)
        return gm_errf(err, errlen, "\"%s\" is too large: the most is %lld.%06lld", shown,
                       (long long)max_units, (long long)(GM_MONEY_MAX % GM_MONEY_SCALE));
    whole += frac;
    if (whole == 0 && !(flags & GM_MONEY_ALLOW_ZERO))
        return gm_errf(err, errlen, "\"%s\" is zero: give an amount above 0", shown);
    *micro = whole;
    return 0;
}

int gm_money_parse(const char *text, unsigned flags, int64_t *micro, char *err, size_t errlen)
{
    return gm_money_parse_mem(text, text ? strlen(text) : 0, flags, micro, err, errlen);
}

int gm_money_format(int64_t micro, char *buf, size_t buflen)
{
    /* Work on the magnitude as unsigned so INT64_MIN needs no special case. */
    uint64_t mag = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
    uint64_t units = mag / GM_MONEY_SCALE;
    unsigned frac = (unsigned)(mag % GM_MONEY_SCALE);
    char digits[8];
    snprintf(digits, sizeof digits, "%06u", frac);
    int keep = GM_MONEY_MAX_DECIMALS;
    while (keep > 2 && digits[keep - 1] == '0')
        keep--;
    digits[keep] = '\0';
    int n =
        snprintf(buf, buflen, "%s%llu.%s", micro < 0 ? "-" : "", (unsigned long long)units, digits);
    if (n < 0 || (size_t)n >= buflen) {
        if (buflen > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

int gm_money_bill(int64_t price, int64_t gpu_seconds, int64_t *amount, char *err, size_t errlen)
{
    if (price < 0)
        return gm_errf(err, errlen, "billing: negative price (%lld micro-units per GPU-hour)",
                       (long long)price);
    if (gpu_seconds < 0)
        return gm_errf(err, errlen, "billing: negative GPU-seconds (%lld)", (long long)gpu_seconds);
    /* Both factors are below 2^63, so the product fits in 126 bits. */
    unsigned __int128 a = (unsigned __int128)price * (uint64_t)gpu_seconds / 3600;
    if (a > (unsigned __int128)GM_MONEY_BILL_MAX)
        return gm_errf(err, errlen,
                       "billing: %lld GPU-seconds at %lld micro-units per GPU-hour come to more "
                       "than the largest bill, %lld micro-units (2^53 - 1)",
                       (long long)gpu_seconds, (long long)price, (long long)GM_MONEY_BILL_MAX);
    *amount = (int64_t)a;
    return 0;
}

int gm_money_bill_longest(int64_t price, int64_t budget, int64_t *gpu_seconds)
{
    if (price < 0 || budget < 0)
        return -1;
    if (price == 0) {
        *gpu_seconds = INT64_MAX;
        return 0;
    }
    if (budget > GM_MONEY_BILL_MAX)
        budget = GM_MONEY_BILL_MAX;
    /* floor(price * S / 3600) <= budget  <=>  price * S < (budget + 1) * 3600
     * <=>  S <= ((budget + 1) * 3600 - 1) / price.  (budget + 1) * 3600 < 2^65. */
    unsigned __int128 longest =
        (((unsigned __int128)budget + 1) * 3600 - 1) / (unsigned __int128)price;
    *gpu_seconds = longest > INT64_MAX ? INT64_MAX : (int64_t)longest;
    return 0;
}
