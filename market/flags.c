/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The buyer's market flags: strict parsing and checking, no Slurm header.
 * Money goes through gm_money (integers only); paths and order references
 * are checked byte by byte. */
#include "config.h"

#include "market/flags.h"

#include "common/money.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct gm_flag_info flag_table[GM_FLAG_COUNT] = {
    [GM_FLAG_BID] = {
        "market-bid", "PRICE",
        "[gpumarket] Highest price per GPU-hour you will pay, in the cluster's "
        "currency (e.g. 2.40); the job starts when the market price is at or "
        "below it, and pays the market price",
        "GPUMARKET_BID", "GPUMARKET_BID_MICRO",
    },
    [GM_FLAG_MAX_COST] = {
        "market-max-cost", "AMOUNT",
        "[gpumarket] Most the whole lease may cost (e.g. 50.00); the time limit "
        "is shortened so the cost cannot exceed it",
        "GPUMARKET_MAX_COST", "GPUMARKET_MAX_COST_MICRO",
    },
    [GM_FLAG_CHECKPOINT_DIR] = {
        "market-checkpoint-dir", "DIR",
        "[gpumarket] Absolute directory where the runtime writes checkpoints "
        "when the job is preempted",
        "GPUMARKET_CHECKPOINT_DIR", "GPUMARKET_CHECKPOINT_DIR",
    },
    [GM_FLAG_ORDER] = {
        "market-order", "ID",
        "[gpumarket] The external market's order reference, copied onto the "
        "receipt (1-64 of A-Z a-z 0-9 . _ : -)",
        "GPUMARKET_ORDER", "GPUMARKET_ORDER",
    },
};

const struct gm_flag_info *gm_flag_info(enum gm_flag flag)
{
    if ((unsigned)flag >= GM_FLAG_COUNT)
        return NULL;
    return &flag_table[flag];
}

/* Check a value's length and bytes before any flag-specific parsing. */
static int check_text(const char *value, const char *source, size_t max, char *err, size_t errlen,
                      size_t *lenp)
{
    if (value == NULL || value[0] == '\0')
        return gm_errf(err, errlen, "%s: a value is required", source);
    size_t len = strnlen(value, GM_FLAG_MAX_INPUT + 1);
    if (len > max)
        return gm_errf(err, errlen, "%s: value too long (%s%zu bytes; at most %zu)", source,
                       len > GM_FLAG_MAX_INPUT ? "more than " : "",
                       len > GM_FLAG_MAX_INPUT ? (size_t)GM_FLAG_MAX_INPUT : len, max);
    size_t bad;
    if (gm_text_check(value, len, &bad) != 0) {
        char shown[200];
        gm_text_quote(value, len, shown, sizeof shown);
        return gm_errf(err, errlen,
                       "%s: \"%s\" has a control character or invalid UTF-8 "
                       "at byte %zu",
                       source, shown, bad + 1);
    }
    *lenp = len;
    return 0;
}

static int parse_money(const char *value, const char *source, int64_t *out, char *err,
                       size_t errlen)
{
    char msg[256];
    size_t len;

    if (check_text(value, source, 64, err, errlen, &len) != 0)
        return -1;
    if (gm_money_parse_mem(value, len, 0, out, msg, sizeof msg) != 0)
        return gm_errf(err, errlen, "%s: %s", source, msg);
    return 0;
}

static int check_bid_cap(int64_t bid, int64_t max_bid, const char *source, char *err, size_t errlen)
{
    if (bid > max_bid) {
        char b[GM_MONEY_STRLEN], m[GM_MONEY_STRLEN];
        gm_money_format(bid, b, sizeof b);
        gm_money_format(max_bid, m, sizeof m);
        return gm_errf(err, errlen,
                       "%s: %s is above this cluster's MaxBid of %s per GPU-hour; "
                       "bid at most %s",
                       source, b, m, m);
    }
    return 0;
}

static int parse_path(const char *value, const char *source, char *out, char *err, size_t errlen)
{
    size_t len;

    if (check_text(value, source, GM_FLAG_MAX_PATH, err, errlen, &len) != 0)
        return -1;
    if (value[0] != '/') {
        char shown[200];
        gm_text_quote(value, len, shown, sizeof shown);
        return gm_errf(err, errlen,
                       "%s: \"%s\" is not an absolute path: give one that starts "
                       "with /, e.g. /scratch/$USER/ckpt",
                       source, shown);
    }
    memcpy(out, value, len + 1);
    return 0;
}

static int parse_order(const char *value, const char *source, char *out, char *err, size_t errlen)
{
    size_t len;

    if (check_text(value, source, GM_FLAG_MAX_ORDER, err, errlen, &len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-')) {
            char shown[200];
            gm_text_quote(value, len, shown, sizeof shown);
            return gm_errf(err, errlen,
                           "%s: \"%s\" has '%c' at position %zu: an order "
                           "reference is 1-64 of A-Z a-z 0-9 . _ : -",
                           source, shown, c, i + 1);
        }
    }
    memcpy(out, value, len + 1);
    return 0;
}

int gm_flags_isset(const struct gm_market_terms *terms, enum gm_flag flag)
{
    return (unsigned)flag < GM_FLAG_COUNT && (terms->set & (1u << flag)) != 0;
}

int gm_flags_any(const struct gm_market_terms *terms)
{
    return terms->set != 0;
}

int gm_flags_control_value(const struct gm_market_terms *terms, enum gm_flag flag, char *buf,
                           size_t buflen)
{
    int n;

    if (!gm_flags_isset(terms, flag) || buflen == 0)
        return -1;
    switch (flag) {
    case GM_FLAG_BID:
        n = snprintf(buf, buflen, "%" PRId64, terms->bid_micro);
        break;
    case GM_FLAG_MAX_COST:
        n = snprintf(buf, buflen, "%" PRId64, terms->max_cost_micro);
        break;
    case GM_FLAG_CHECKPOINT_DIR:
        n = snprintf(buf, buflen, "%s", terms->checkpoint_dir);
        break;
    case GM_FLAG_ORDER:
        n = snprintf(buf, buflen, "%s", terms->order);
        break;
    default:
        return -1;
    }
    if (n < 0 || (size_t)n >= buflen) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

/* Parse `value` for `flag` into a scratch copy of the terms. */
static int parse_into(struct gm_market_terms *scratch, enum gm_flag flag, const char *value,
                      const char *source, int64_t max_bid, char *err, size_t errlen)
{
    switch (flag) {
    case GM_FLAG_BID:
        if (parse_money(value, source, &scratch->bid_micro, err, errlen) != 0 ||
            check_bid_cap(scratch->bid_micro, max_bid, source, err, errlen) != 0)
            return -1;
        return 0;
    case GM_FLAG_MAX_COST:
        return parse_money(value, source, &scratch->max_cost_micro, err, errlen);
    case GM_FLAG_CHECKPOINT_DIR:
        return parse_path(value, source, scratch->checkpoint_dir, err, errlen);
    case GM_FLAG_ORDER:
        return parse_order(value, source, scratch->order, err, errlen);
    default:
        return gm_errf(err, errlen, "%s: unknown market flag", source);
    }
}

/* Record the parsed value, or refuse a second, different one. */
static int record(struct gm_market_terms *terms, const struct gm_market_terms *parsed,
                  enum gm_flag flag, const char *source, char *err, size_t errlen)
{
    if (gm_flags_isset(terms, flag)) {
        char old[GM_FLAG_MAX_INPUT + 1], new[GM_FLAG_MAX_INPUT + 1];
        struct gm_market_terms tmp = *parsed;
        tmp.set |= 1u << flag;
        gm_flags_control_value(terms, flag, old, sizeof old);
        gm_flags_control_value(&tmp, flag, new, sizeof new);
        if (strcmp(old, new) == 0)
            return 0;
        char a[200], b[200];
        if (flag == GM_FLAG_BID || flag == GM_FLAG_MAX_COST) {
            gm_money_format(flag == GM_FLAG_BID ? terms->bid_micro : terms->max_cost_micro, a,
                            sizeof a);
            gm_money_format(flag == GM_FLAG_BID ? parsed->bid_micro : parsed->max_cost_micro, b,
                            sizeof b);
        } else {
            gm_text_quote(old, strlen(old), a, sizeof a);
            gm_text_quote(new, strlen(new), b, sizeof b);
        }
        return gm_errf(err, errlen,
                       "%s: given twice with different values (%s and %s): give it "
                       "once (#SBATCH lines, the environment and the command line all count)",
                       source, a, b);
    }
    switch (flag) {
    case GM_FLAG_BID:
        terms->bid_micro = parsed->bid_micro;
        break;
    case GM_FLAG_MAX_COST:
        terms->max_cost_micro = parsed->max_cost_micro;
        break;
    case GM_FLAG_CHECKPOINT_DIR:
        memcpy(terms->checkpoint_dir, parsed->checkpoint_dir, sizeof terms->checkpoint_dir);
        break;
    case GM_FLAG_ORDER:
        memcpy(terms->order, parsed->order, sizeof terms->order);
        break;
    default:
        break;
    }
    terms->set |= 1u << flag;
    return 0;
}

int gm_flags_set(struct gm_market_terms *terms, enum gm_flag flag, const char *value,
                 const char *source, int64_t max_bid, char *err, size_t errlen)
{
    struct gm_market_terms parsed = { 0 };

    if ((unsigned)flag >= GM_FLAG_COUNT)
        return gm_errf(err, errlen, "%s: unknown market flag", source);
    if (parse_into(&parsed, flag, value, source, max_bid, err, errlen) != 0)
        return -1;
    return record(terms, &parsed, flag, source, err, errlen);
}

/* A positive decimal integer of micro-units, exactly as gm_flags_control_value
 * writes it: no sign, no leading zero, no spaces. */
static int parse_micro(const char *value, const char *source, int64_t *out, char *err,
                       size_t errlen)
{
    size_t len;
    int64_t v = 0;

    if (check_text(value, source, 19, err, errlen, &len) != 0)
        return -1;
    if (value[0] == '0')
        goto bad;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            goto bad;
        int d = value[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            goto bad;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
bad:;
    char shown[200];
    gm_text_quote(value, len, shown, sizeof shown);
    return gm_errf(err, errlen, "%s: \"%s\" is not a positive whole number of micro-units", source,
                   shown);
}

int gm_flags_import(struct gm_market_terms *terms, enum gm_flag flag, const char *value,
                    int64_t max_bid, char *err, size_t errlen)
{
    struct gm_market_terms parsed = { 0 };
    const struct gm_flag_info *info = gm_flag_info(flag);

    if (info == NULL)
        return gm_errf(err, errlen, "unknown market flag %d", (int)flag);
    const char *source = info->control;
    int rc;
    switch (flag) {
    case GM_FLAG_BID:
        rc = parse_micro(value, source, &parsed.bid_micro, err, errlen);
        if (rc == 0)
            rc = check_bid_cap(parsed.bid_micro, max_bid, source, err, errlen);
        break;
    case GM_FLAG_MAX_COST:
        rc = parse_micro(value, source, &parsed.max_cost_micro, err, errlen);
        break;
    default:
        rc = parse_into(&parsed, flag, value, source, max_bid, err, errlen);
        break;
    }
    if (rc != 0)
        return -1;
    return record(terms, &parsed, flag, source, err, errlen);
}

int gm_flags_from_control_env(struct gm_market_terms *terms, const char *const *env, size_t count,
                              int64_t max_bid, char *err, size_t errlen)
{
    memset(terms, 0, sizeof *terms);
    if (env == NULL && count > 0)
        return gm_errf(err, errlen, "control environment: %zu entries but no array", count);
    for (size_t i = 0; i < count; i++) {
        const char *entry = env[i];
        if (entry == NULL)
            continue;
        for (int f = 0; f < GM_FLAG_COUNT; f++) {
            const char *name = gm_flag_info((enum gm_flag)f)->control;
            size_t len = strlen(name);
            if (strncmp(entry, name, len) != 0 || entry[len] != '=')
                continue;
            if (gm_flags_import(terms, (enum gm_flag)f, entry + len + 1, max_bid, err, errlen) !=
                0) {
                memset(terms, 0, sizeof *terms);
                return -1;
            }
            break;
        }
    }
    return 0;
}
