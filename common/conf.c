/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket.conf parser: strict Key=Value lines, every byte and length
 * checked, every error naming the file, the line and the key. */
#include "config.h"

#include "common/conf.h"

#include "common/io.h"
#include "common/money.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct gm_conf_typed_value {
    char type[GM_CONF_MAX_GPU_TYPE_LEN + 1];
    int64_t value;
};

/* A per-GPU-type list (ReservePrice, GPUPower): TYPE:VALUE entries in file
 * order and at most one bare VALUE, the default for every other type. */
struct gpu_type_list {
    struct gm_conf_typed_value entries[GM_CONF_MAX_GPU_TYPES];
    size_t count;
    bool has_default;
    int64_t default_value;
};

enum conf_key {
    KEY_MARKET_PARTITION,
    KEY_RESERVE_GPUS_PER_NODE,
    KEY_IDLE_DWELL_SECONDS,
    KEY_RESERVE_PRICE,
    KEY_MAX_BID,
    KEY_CURRENCY,
    KEY_CARBON_INTENSITY,
    KEY_GPU_POWER,
    KEY_RECEIPT_KEY,
    KEY_LEDGER_DIR,
    KEY_LEDGER_ORIGIN,
    KEY_RECEIPTS,
    KEY_VERIFIER_KEYS,
    KEY_POLICY_ADMINS,
    KEY_POLICY_THRESHOLD,
    KEY_QUOTE_PORT,
    KEY_COUNT
};

struct gm_conf {
    char *name;
    unsigned line[KEY_COUNT]; /* where each key was set; 0 = default */
    char market_partition[GM_CONF_MAX_PARTITION_LEN + 1];
    uint32_t reserve_gpus_per_node;
    int64_t idle_dwell_seconds;
    struct gpu_type_list prices;
    int64_t max_bid;
    char currency[GM_CONF_MAX_CURRENCY_LEN + 1];
    bool has_carbon;
    int64_t carbon;
    struct gpu_type_list gpu_power; /* watts per GPU */
    char receipt_key[GM_CONF_MAX_PATH_LEN + 1];
    char ledger_dir[GM_CONF_MAX_PATH_LEN + 1];
    char ledger_origin[GM_CONF_MAX_ORIGIN_LEN + 1];
    bool receipts_off;
    /* VerifierKeys: the value, its commas turned into NULs, and where each
     * path starts in it. */
    char verifier_keys_buf[GM_CONF_MAX_LINE + 1];
    const char *verifier_keys[GM_CONF_MAX_VERIFIER_KEYS];
    size_t nverifier_keys;
    /* PolicyAdmins, held the same way, and PolicyThreshold. */
    char policy_admins_buf[GM_CONF_MAX_LINE + 1];
    const char *policy_admins[GM_CONF_MAX_POLICY_ADMINS];
    size_t npolicy_admins;
    unsigned policy_threshold;
    uint32_t quote_port; /* 0: no quote endpoint */
};

/* A value parser writes the reason (no prefix) into msg and returns -1. */
typedef int (*value_parser)(struct gm_conf *conf, const char *value, char *msg, size_t msglen);

struct key_def {
    const char *name;
    value_parser parse;
};

static int msgf(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int msgf(char *msg, size_t msglen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return -1;
}

/* An unsigned decimal integer in [0, max]: digits only, no sign, no spaces. */
static int parse_count(const char *value, int64_t max, int64_t *out, char *msg, size_t msglen)
{
    int64_t v = 0;
    if (*value == '-')
        return msgf(msg, msglen, "\"%s\" is negative: give a whole number from 0 to %lld", value,
                    (long long)max);
    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '9')
            return msgf(msg, msglen,
                        "\"%s\" is not a whole number: give digits only, "
                        "from 0 to %lld",
                        value, (long long)max);
        v = v * 10 + (*p - '0');
        if (v > max)
            return msgf(msg, msglen, "\"%s\" is too large: the most is %lld", value,
                        (long long)max);
    }
    *out = v;
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

static int parse_market_partition(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (len > GM_CONF_MAX_PARTITION_LEN)
        return msgf(msg, msglen, "partition name is %zu bytes long: the most is %d", len,
                    GM_CONF_MAX_PARTITION_LEN);
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(value[i]))
            return msgf(msg, msglen,
                        "\"%s\" is not a partition name: use letters, digits, "
                        "'_', '-' and '.' (one partition)",
                        value);
    memcpy(conf->market_partition, value, len + 1);
    return 0;
}

static int parse_reserve_gpus(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    int64_t v;
    if (parse_count(value, GM_CONF_MAX_RESERVE_GPUS, &v, msg, msglen) < 0)
        return -1;
    conf->reserve_gpus_per_node = (uint32_t)v;
    return 0;
}

static int parse_dwell(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_count(value, GM_CONF_MAX_DWELL_SECONDS, &conf->idle_dwell_seconds, msg, msglen);
}

/* QuotePort=PORT: 0 (off) or a TCP port from 1 to 65535. */
static int parse_quote_port(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    int64_t v;
    if (parse_count(value, 65535, &v, msg, msglen) < 0)
        return -1;
    conf->quote_port = (uint32_t)v;
    return 0;
}

static int parse_carbon(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    if (parse_count(value, GM_CONF_MAX_CARBON_INTENSITY, &conf->carbon, msg, msglen) < 0)
        return -1;
    conf->has_carbon = true;
    return 0;
}

/* What differs between the per-GPU-type lists: the value's parser and the
 * words used in messages. */
struct gpu_type_list_syntax {
    const char *noun;        /* "price": "give each type one price" */
    const char *placeholder; /* "PRICE": "write TYPE:PRICE" */
    const char *example;     /* one item, "h100:2.40" */
    const char *examples;    /* a list, "h100:2.40,a100:1.10" */
    /* Parse one value of `len` bytes; -1 with the reason in msg. */
    int (*parse)(const char *text, size_t len, int64_t *value, char *msg, size_t msglen);
};

/* "h100:2.40,a100:1.10" and optionally one bare value, the default for every
 * other type: the one syntax of every per-GPU-type key. */
static int parse_gpu_type_list(struct gpu_type_list *list, const struct gpu_type_list_syntax *syn,
                               const char *value, char *msg, size_t msglen)
{
    const char *p = value;
    size_t item = 0;
    for (;;) {
        item++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return msgf(msg, msglen,
                        "item %zu is empty: write TYPE:%s items separated "
                        "by single commas, e.g. %s",
                        item, syn->placeholder, syn->examples);
        const char *colon = memchr(p, ':', len);
        const char *value_text = p;
        size_t value_len = len;
        char value_err[200];
        int64_t v;
        if (colon) {
            size_t type_len = (size_t)(colon - p);
            if (type_len == 0)
                return msgf(msg, msglen,
                            "item %zu (\"%.*s\") has no GPU type before ':': "
                            "write TYPE:%s, e.g. %s",
                            item, (int)len, p, syn->placeholder, syn->example);
            if (type_len > GM_CONF_MAX_GPU_TYPE_LEN)
                return msgf(msg, msglen,
                            "item %zu: GPU type is %zu bytes long: the most "
                            "is %d",
                            item, type_len, GM_CONF_MAX_GPU_TYPE_LEN);
            for (size_t i = 0; i < type_len; i++)
                if (!is_name_char(p[i]))
                    return msgf(msg, msglen,
                                "item %zu (\"%.*s\"): \"%.*s\" is not a GPU "
                                "type: use the gres type name (letters, digits, '_', '-', "
                                "'.'), e.g. %s",
                                item, (int)len, p, (int)type_len, p, syn->example);
            if (list->count == GM_CONF_MAX_GPU_TYPES)
                return msgf(msg, msglen, "more than %d GPU types", GM_CONF_MAX_GPU_TYPES);
            for (size_t i = 0; i < list->count; i++)
                if (strlen(list->entries[i].type) == type_len &&
                    memcmp(list->entries[i].type, p, type_len) == 0)
                    return msgf(msg, msglen,
                                "GPU type \"%.*s\" is listed twice: give each "
                                "type one %s",
                                (int)type_len, p, syn->noun);
            value_text = colon + 1;
            value_len = len - type_len - 1;
            if (memchr(value_text, ':', value_len))
                return msgf(msg, msglen,
                            "item %zu (\"%.*s\") has more than one ':': write "
                            "TYPE:%s, e.g. %s",
                            item, (int)len, p, syn->placeholder, syn->example);
            if (syn->parse(value_text, value_len, &v, value_err, sizeof value_err) < 0)
                return msgf(msg, msglen, "GPU type %.*s: %s", (int)type_len, p, value_err);
            struct gm_conf_typed_value *e = &list->entries[list->count++];
            memcpy(e->type, p, type_len);
            e->type[type_len] = '\0';
            e->value = v;
        } else {
            if (list->has_default)
                return msgf(msg, msglen,
                            "more than one default %s (an item without "
                            "TYPE:): give one default at most",
                            syn->noun);
            if (syn->parse(value_text, value_len, &v, value_err, sizeof value_err) < 0)
                return msgf(msg, msglen,
                            "item %zu: %s; per-type %ss are written "
                            "TYPE:%s",
                            item, value_err, syn->noun, syn->placeholder);
            list->has_default = true;
            list->default_value = v;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* The value of `gpu_type` in a list: its own entry, else the default. */
static int gpu_type_list_find(const struct gpu_type_list *list, const char *gpu_type,
                              int64_t *value)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->entries[i].type, gpu_type) == 0) {
            *value = list->entries[i].value;
            return 0;
        }
    if (list->has_default) {
        *value = list->default_value;
        return 0;
    }
    return -1;
}

/* Same entries (in any order) and the same default. */
static bool gpu_type_lists_equal(const struct gpu_type_list *a, const struct gpu_type_list *b)
{
    if (a->count != b->count || a->has_default != b->has_default ||
        (a->has_default && a->default_value != b->default_value))
        return false;
    for (size_t i = 0; i < a->count; i++) {
        int64_t v;
        if (gpu_type_list_find(b, a->entries[i].type, &v) != 0 || v != a->entries[i].value)
            return false;
        /* find() falls back to the default: require b's own entry. */
        bool own = false;
        for (size_t j = 0; j < b->count; j++)
            own |= !strcmp(b->entries[j].type, a->entries[i].type);
        if (!own)
            return false;
    }
    return true;
}

static int parse_price_value(const char *text, size_t len, int64_t *value, char *msg, size_t msglen)
{
    return gm_money_parse_mem(text, len, GM_MONEY_ALLOW_ZERO, value, msg, msglen);
}

static const struct gpu_type_list_syntax reserve_price_syntax = {
    "price", "PRICE", "h100:2.40", "h100:2.40,a100:1.10", parse_price_value,
};

static int parse_reserve_price(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_gpu_type_list(&conf->prices, &reserve_price_syntax, value, msg, msglen);
}

/* Watts per GPU: a whole number from 1 to GM_CONF_MAX_GPU_POWER_WATTS (0
 * would estimate no energy at all: leave the type out instead). */
static int parse_watts_value(const char *text, size_t len, int64_t *value, char *msg, size_t msglen)
{
    if (len == 0)
        return msgf(msg, msglen, "no power given: give watts per GPU, a whole number from 1 to %d",
                    GM_CONF_MAX_GPU_POWER_WATTS);
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return msgf(msg, msglen,
                        "\"%.*s\" is not a whole number of watts: give digits only, from 1 to %d",
                        (int)len, text, GM_CONF_MAX_GPU_POWER_WATTS);
        v = v * 10 + (text[i] - '0');
        if (v > GM_CONF_MAX_GPU_POWER_WATTS)
            return msgf(msg, msglen, "\"%.*s\" is too large: the most is %d watts per GPU",
                        (int)len, text, GM_CONF_MAX_GPU_POWER_WATTS);
    }
    if (v == 0)
        return msgf(msg, msglen,
                    "\"%.*s\" watts: the least is 1 (leave out a type whose power is unknown)",
                    (int)len, text);
    *value = v;
    return 0;
}

static const struct gpu_type_list_syntax gpu_power_syntax = {
    "power", "WATTS", "h100:700", "h100:700,a100:400", parse_watts_value,
};

static int parse_gpu_power(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_gpu_type_list(&conf->gpu_power, &gpu_power_syntax, value, msg, msglen);
}

static int parse_max_bid(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    char money_err[200];
    if (gm_money_parse(value, 0, &conf->max_bid, money_err, sizeof money_err) < 0)
        return msgf(msg, msglen, "%s", money_err);
    return 0;
}

static int parse_currency(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (len > GM_CONF_MAX_CURRENCY_LEN)
        return msgf(msg, msglen, "currency code is %zu bytes long: the most is %d", len,
                    GM_CONF_MAX_CURRENCY_LEN);
    for (size_t i = 0; i < len; i++)
        if (!((value[i] >= 'A' && value[i] <= 'Z') || (value[i] >= '0' && value[i] <= '9')))
            return msgf(msg, msglen,
                        "\"%s\" is not a currency code: use capital letters "
                        "and digits, e.g. USD or EUR",
                        value);
    memcpy(conf->currency, value, len + 1);
    return 0;
}

static int parse_path(char *dst, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (value[0] != '/')
        return msgf(msg, msglen,
                    "\"%s\" is not an absolute path: give a path starting "
                    "with '/'",
                    value);
    if (len > GM_CONF_MAX_PATH_LEN)
        return msgf(msg, msglen, "path is %zu bytes long: the most is %d", len,
                    GM_CONF_MAX_PATH_LEN);
    memcpy(dst, value, len + 1);
    return 0;
}

static int parse_receipt_key(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_path(conf->receipt_key, value, msg, msglen);
}

static int parse_ledger_dir(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_path(conf->ledger_dir, value, msg, msglen);
}

/* A C2SP tlog-checkpoint origin: non-empty, no spaces and no '+'; the line
 * scanner has already refused control bytes and non-ASCII in values. */
static int parse_ledger_origin(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (len > GM_CONF_MAX_ORIGIN_LEN)
        return msgf(msg, msglen, "origin is %zu bytes long: the most is %d", len,
                    GM_CONF_MAX_ORIGIN_LEN);
    if (strchr(value, '+'))
        return msgf(msg, msglen,
                    "\"%s\" contains '+', which a checkpoint origin may not: "
                    "use a schema-less URL such as example.org/gpumarket",
                    value);
    memcpy(conf->ledger_origin, value, len + 1);
    return 0;
}

/* Receipts=yes|no (any case). */
static int parse_receipts(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    if (strcasecmp(value, "yes") == 0)
        conf->receipts_off = false;
    else if (strcasecmp(value, "no") == 0)
        conf->receipts_off = true;
    else
        return msgf(msg, msglen, "\"%s\" is neither yes nor no", value);
    return 0;
}

/* A list of public key files, PATH[,PATH...]: absolute paths, none empty,
 * none twice (VerifierKeys, PolicyAdmins).  buf holds the value with its
 * commas turned into NULs; paths[] point into it. */
static int parse_key_paths(char *buf, size_t bufsize, const char **paths, size_t max, size_t *count,
                           const char *value, char *msg, size_t msglen)
{
    size_t len = strlen(value);
    if (len >= bufsize)
        return msgf(msg, msglen, "value is %zu bytes long: the most is %d", len, GM_CONF_MAX_LINE);
    memcpy(buf, value, len + 1);
    size_t n = 0;
    for (char *p = buf;; n++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p)
            return msgf(msg, msglen,
                        "entry %zu is empty: write PATH[,PATH...], public key files separated "
                        "by single commas",
                        n + 1);
        if (p[0] != '/')
            return msgf(msg, msglen,
                        "\"%s\" is not an absolute path: give public key paths starting "
                        "with '/'",
                        p);
        if (n == max)
            return msgf(msg, msglen, "more than %zu keys: the most is %zu", max, max);
        for (size_t i = 0; i < n; i++)
            if (!strcmp(paths[i], p))
                return msgf(msg, msglen, "\"%s\" is listed twice: list each key once", p);
        paths[n] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    *count = n + 1;
    return 0;
}

static int parse_verifier_keys(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_key_paths(conf->verifier_keys_buf, sizeof conf->verifier_keys_buf,
                           conf->verifier_keys, GM_CONF_MAX_VERIFIER_KEYS, &conf->nverifier_keys,
                           value, msg, msglen);
}

static int parse_policy_admins(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    return parse_key_paths(conf->policy_admins_buf, sizeof conf->policy_admins_buf,
                           conf->policy_admins, GM_CONF_MAX_POLICY_ADMINS, &conf->npolicy_admins,
                           value, msg, msglen);
}

static int parse_policy_threshold(struct gm_conf *conf, const char *value, char *msg, size_t msglen)
{
    int64_t v;
    if (parse_count(value, GM_CONF_MAX_POLICY_ADMINS, &v, msg, msglen) < 0)
        return -1;
    if (v == 0)
        return msgf(msg, msglen, "0 signatures would let anyone change the policy: the least is 1");
    conf->policy_threshold = (unsigned)v;
    return 0;
}

static const struct key_def keys[KEY_COUNT] = {
    [KEY_MARKET_PARTITION] = { "MarketPartition", parse_market_partition },
    [KEY_RESERVE_GPUS_PER_NODE] = { "ReserveGPUsPerNode", parse_reserve_gpus },
    [KEY_IDLE_DWELL_SECONDS] = { "IdleDwellSeconds", parse_dwell },
    [KEY_RESERVE_PRICE] = { "ReservePrice", parse_reserve_price },
    [KEY_MAX_BID] = { "MaxBid", parse_max_bid },
    [KEY_CURRENCY] = { "Currency", parse_currency },
    [KEY_CARBON_INTENSITY] = { "CarbonIntensity", parse_carbon },
    [KEY_GPU_POWER] = { "GPUPower", parse_gpu_power },
    [KEY_RECEIPT_KEY] = { "ReceiptKey", parse_receipt_key },
    [KEY_LEDGER_DIR] = { "LedgerDir", parse_ledger_dir },
    [KEY_LEDGER_ORIGIN] = { "LedgerOrigin", parse_ledger_origin },
    [KEY_RECEIPTS] = { "Receipts", parse_receipts },
    [KEY_VERIFIER_KEYS] = { "VerifierKeys", parse_verifier_keys },
    [KEY_POLICY_ADMINS] = { "PolicyAdmins", parse_policy_admins },
    [KEY_POLICY_THRESHOLD] = { "PolicyThreshold", parse_policy_threshold },
    [KEY_QUOTE_PORT] = { "QuotePort", parse_quote_port },
};

/* The keys a governance policy sets (gm_conf_parse_policy_values): those
 * that price and offer GPUs.  Paths, keys and the partition stay the
 * file's. */
static bool is_market_key(int k)
{
    return k == KEY_RESERVE_GPUS_PER_NODE || k == KEY_IDLE_DWELL_SECONDS ||
           k == KEY_RESERVE_PRICE || k == KEY_MAX_BID || k == KEY_CURRENCY ||
           k == KEY_CARBON_INTENSITY || k == KEY_GPU_POWER;
}

static int find_key(const char *name, size_t len)
{
    for (int k = 0; k < KEY_COUNT; k++)
        if (strlen(keys[k].name) == len && strncasecmp(keys[k].name, name, len) == 0)
            return k;
    return -1;
}

/* Make a short printable version of a key the user wrote, for a message. */
static void printable(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 40 && o + 1 < outlen; i++)
        out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[o] = '\0';
}

static void set_defaults(struct gm_conf *conf)
{
    conf->idle_dwell_seconds = 300;
    conf->max_bid = GM_MONEY_MAX;
    strcpy(conf->currency, "USD");
    strcpy(conf->receipt_key, "/etc/slurm/gpumarket.key");
    strcpy(conf->ledger_dir, "/var/spool/slurm/gpumarket");
}

/* Check and store one key's value (value_len bytes, blanks around it already
 * cut).  `where` starts each message ("FILE:LINE"); `mark` is what
 * gm_conf_line reports for the key. */
static int set_value(struct gm_conf *conf, const char *where, unsigned mark, int k,
                     const char *value, size_t value_len, char *err, size_t errlen)
{
    char msg[512];
    const char *key = keys[k].name;
    if (conf->line[k]) {
        gm_errf(err, errlen, "%s: %s: set twice (first on line %u): keep one line", where, key,
                conf->line[k]);
        return -1;
    }
    if (value_len == 0) {
        gm_errf(err, errlen,
                "%s: %s: empty value: give a value or remove "
                "the line to use the default",
                where, key);
        return -1;
    }
    if (value_len > GM_CONF_MAX_LINE) {
        gm_errf(err, errlen, "%s: %s: value is longer than %d bytes: shorten it", where, key,
                GM_CONF_MAX_LINE);
        return -1;
    }
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == ' ' || c == '\t') {
            gm_errf(err, errlen,
                    "%s: %s: value contains a space: values "
                    "have no spaces (one Key=Value per line)",
                    where, key);
            return -1;
        }
        if (c >= 0x80 || c < 0x20 || c == 0x7f) {
            gm_errf(err, errlen,
                    "%s: %s: value contains a non-ASCII or control "
                    "character: values are printable ASCII",
                    where, key);
            return -1;
        }
    }

    char value_buf[GM_CONF_MAX_LINE + 1];
    memcpy(value_buf, value, value_len);
    value_buf[value_len] = '\0';
    if (keys[k].parse(conf, value_buf, msg, sizeof msg) < 0) {
        gm_errf(err, errlen, "%s: %s: %s", where, key, msg);
        return -1;
    }
    conf->line[k] = mark;
    return 0;
}

static int parse_line(struct gm_conf *conf, const char *name, unsigned lineno, const char *line,
                      size_t len, char *err, size_t errlen)
{
    /* Bytes first: a control byte or broken UTF-8 anywhere, comments
     * included, is refused, so nothing invisible changes the meaning. */
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\r') {
            gm_errf(err, errlen,
                    "%s:%u: carriage return (DOS line ending): "
                    "convert the file to Unix line endings (dos2unix)",
                    name, lineno);
            return -1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            gm_errf(err, errlen,
                    "%s:%u: control byte 0x%02x at column %zu: "
                    "remove it",
                    name, lineno, c, i + 1);
            return -1;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = gm_utf8_sequence((const unsigned char *)line + i, len - i);
        if (n == 0) {
            gm_errf(err, errlen,
                    "%s:%u: invalid UTF-8 at column %zu: the file "
                    "must be UTF-8 text",
                    name, lineno, i + 1);
            return -1;
        }
        i += n;
    }

    const char *hash = memchr(line, '#', len);
    if (hash)
        len = (size_t)(hash - line);
    while (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
        line++;
        len--;
    }
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;

    const char *eq = memchr(line, '=', len);
    if (!eq) {
        char shown[48];
        printable(line, len, shown, sizeof shown);
        gm_errf(err, errlen,
                "%s:%u: \"%s\" has no '=': write Key=Value, "
                "one per line",
                name, lineno, shown);
        return -1;
    }
    size_t key_len = (size_t)(eq - line);
    while (key_len > 0 && (line[key_len - 1] == ' ' || line[key_len - 1] == '\t'))
        key_len--;
    if (key_len == 0) {
        gm_errf(err, errlen, "%s:%u: no key before '=': write Key=Value", name, lineno);
        return -1;
    }
    int k = find_key(line, key_len);
    if (k < 0) {
        char shown[48];
        printable(line, key_len, shown, sizeof shown);
        gm_errf(err, errlen,
                "%s:%u: %s: unknown key: the keys are "
                "MarketPartition, ReserveGPUsPerNode, IdleDwellSeconds, ReservePrice, "
                "MaxBid, Currency, CarbonIntensity, GPUPower, ReceiptKey, LedgerDir, LedgerOrigin, "
                "Receipts, VerifierKeys, PolicyAdmins, PolicyThreshold, QuotePort (see "
                "gpumarket.conf(5))",
                name, lineno, shown);
        return -1;
    }
    const char *value = eq + 1;
    size_t value_len = len - (size_t)(value - line);
    while (value_len > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        value_len--;
    }
    char where[GM_CONF_MAX_PATH_LEN + 32];
    snprintf(where, sizeof where, "%s:%u", name, lineno);
    return set_value(conf, where, lineno, k, value, value_len, err, errlen);
}

/* Checks across keys, once the whole file is read. */
static int check_complete(const struct gm_conf *conf, bool policy, char *err, size_t errlen)
{
    const char *name = conf->name;
    if (!!conf->line[KEY_POLICY_ADMINS] != !!conf->line[KEY_POLICY_THRESHOLD]) {
        gm_errf(err, errlen,
                "%s: %s is set without %s: governance needs both the admins' public keys "
                "(PolicyAdmins=PATH,...) and how many of them must sign (PolicyThreshold=M)",
                name, conf->line[KEY_POLICY_ADMINS] ? "PolicyAdmins" : "PolicyThreshold",
                conf->line[KEY_POLICY_ADMINS] ? "PolicyThreshold" : "PolicyAdmins");
        return -1;
    }
    if (conf->policy_threshold > conf->npolicy_admins) {
        gm_errf(err, errlen,
                "%s:%u: PolicyThreshold: %u signatures but PolicyAdmins lists %zu admins: no "
                "change could ever be applied; lower it or list more admins",
                name, conf->line[KEY_POLICY_THRESHOLD], conf->policy_threshold,
                conf->npolicy_admins);
        return -1;
    }
    if (!policy && !conf->line[KEY_MARKET_PARTITION]) {
        gm_errf(err, errlen,
                "%s: MarketPartition is not set: add a line "
                "MarketPartition=PARTITION naming the market's Slurm partition",
                name);
        return -1;
    }
    if (!conf->line[KEY_RESERVE_PRICE]) {
        gm_errf(err, errlen,
                policy ? "%s: ReservePrice is not set: a policy sets it, e.g. "
                         "ReservePrice=h100:2.40,a100:1.10 (GPU types without a price are never "
                         "offered)"
                       : "%s: ReservePrice is not set: add a line such as "
                         "ReservePrice=h100:2.40,a100:1.10 (GPU types without a price are never "
                         "offered)",
                name);
        return -1;
    }
    char a[GM_MONEY_STRLEN], b[GM_MONEY_STRLEN];
    gm_money_format(conf->max_bid, b, sizeof b);
    for (size_t i = 0; i < conf->prices.count; i++) {
        if (conf->prices.entries[i].value > conf->max_bid) {
            gm_money_format(conf->prices.entries[i].value, a, sizeof a);
            gm_errf(err, errlen,
                    "%s:%u: ReservePrice: %s's reserve price %s "
                    "is above MaxBid %s (line %u), so no bid could win: lower it or raise "
                    "MaxBid",
                    name, conf->line[KEY_RESERVE_PRICE], conf->prices.entries[i].type, a, b,
                    conf->line[KEY_MAX_BID]);
            return -1;
        }
    }
    if (conf->prices.has_default && conf->prices.default_value > conf->max_bid) {
        gm_money_format(conf->prices.default_value, a, sizeof a);
        gm_errf(err, errlen,
                "%s:%u: ReservePrice: the default reserve price "
                "%s is above MaxBid %s (line %u), so no bid could win: lower it or raise "
                "MaxBid",
                name, conf->line[KEY_RESERVE_PRICE], a, b, conf->line[KEY_MAX_BID]);
        return -1;
    }
    return 0;
}

int gm_conf_parse(const char *name, const char *buf, size_t len, struct gm_conf **out, char *err,
                  size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    if (!name)
        name = "(buffer)";
    if (len > GM_CONF_MAX_SIZE) {
        gm_errf(err, errlen, "%s: file is %zu bytes: the most is %d", name, len, GM_CONF_MAX_SIZE);
        return -1;
    }
    struct gm_conf *conf = calloc(1, sizeof *conf);
    if (!conf || !(conf->name = strdup(name))) {
        free(conf);
        gm_errf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    set_defaults(conf);

    unsigned lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        if (line_len > GM_CONF_MAX_LINE) {
            gm_errf(err, errlen,
                    "%s:%u: line is longer than %d bytes: shorten "
                    "it",
                    name, lineno, GM_CONF_MAX_LINE);
            goto fail;
        }
        if (parse_line(conf, conf->name, lineno, buf + pos, line_len, err, errlen) < 0)
            goto fail;
        pos += line_len + (nl ? 1 : 0);
    }
    if (check_complete(conf, false, err, errlen) < 0)
        goto fail;
    *out = conf;
    return 0;
fail:
    gm_conf_destroy(conf);
    return -1;
}

int gm_conf_load(const char *path, struct gm_conf **out, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    if (!path)
        path = GM_CONF_DEFAULT_PATH;
    /* The file sets market prices: refuse it unless only root (or the user
     * reading it, e.g. SlurmUser in slurmctld) can change it or any
     * directory above it.  The open does not block on a FIFO. */
    char msg[1024];
    struct stat st;
    int fd = gm_io_open_regular(path, 0, &st, msg, sizeof msg);
    if (fd < 0 ||
        gm_io_path_is_secure(path, &st, geteuid(), "the market configuration (it sets prices)", msg,
                             sizeof msg) != 0) {
        if (fd >= 0)
            close(fd);
        gm_errf(err, errlen, "%s", msg);
        return -1;
    }
    size_t used;
    char *buf = gm_io_read_fd(fd, path, GM_CONF_MAX_SIZE, &used, msg, sizeof msg);
    close(fd);
    if (!buf) {
        gm_errf(err, errlen, "%s", msg);
        return -1;
    }
    int rc = gm_conf_parse(path, buf, used, out, err, errlen);
    free(buf);
    return rc;
}

bool gm_conf_is_market_key(const char *key)
{
    for (int k = 0; k < KEY_COUNT; k++)
        if (!strcmp(keys[k].name, key))
            return is_market_key(k);
    return false;
}

int gm_conf_parse_policy_values(const char *name, const char *const *names,
                                const char *const *values, size_t n, struct gm_conf **out,
                                char *err, size_t errlen)
{
    char dummy[1];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    if (!name)
        name = "(policy)";
    struct gm_conf *conf = calloc(1, sizeof *conf);
    if (!conf || !(conf->name = strdup(name))) {
        free(conf);
        gm_errf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    set_defaults(conf);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < KEY_COUNT; j++)
            if (!strcmp(keys[j].name, names[i]))
                k = j;
        if (k < 0 || !is_market_key(k)) {
            char shown[48];
            printable(names[i], strlen(names[i]), shown, sizeof shown);
            gm_errf(err, errlen,
                    "%s: \"%s\" is not a market key: a policy sets ReservePrice, "
                    "ReserveGPUsPerNode, IdleDwellSeconds, MaxBid, Currency, CarbonIntensity and "
                    "GPUPower (spelled so), nothing else",
                    name, shown);
            goto fail;
        }
        if (set_value(conf, name, (unsigned)i + 1, k, values[i], strlen(values[i]), err, errlen) <
            0)
            goto fail;
    }
    if (check_complete(conf, true, err, errlen) < 0)
        goto fail;
    *out = conf;
    return 0;
fail:
    gm_conf_destroy(conf);
    return -1;
}

/* A per-type list as the file writes it: TYPE:VALUE,... then the default. */
static void format_type_list(const struct gpu_type_list *l, int money, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i <= l->count && n < len; i++) {
        char v[GM_MONEY_STRLEN];
        int64_t value = i < l->count ? l->entries[i].value : l->default_value;
        if (i == l->count && !l->has_default)
            break;
        if (money)
            gm_money_format(value, v, sizeof v);
        else
            snprintf(v, sizeof v, "%lld", (long long)value);
        n += (size_t)snprintf(buf + n, len - n, "%s%s%s%s", n ? "," : "",
                              i < l->count ? l->entries[i].type : "", i < l->count ? ":" : "", v);
    }
}

int gm_conf_market_values(const struct gm_conf *conf,
                          void (*each)(const char *key, const char *value, void *arg), void *arg)
{
    int n = 0;
    for (int k = 0; k < KEY_COUNT; k++) {
        char v[GM_CONF_MAX_LINE + 1];
        if (!is_market_key(k) || !conf->line[k])
            continue;
        switch (k) {
        case KEY_RESERVE_GPUS_PER_NODE:
            snprintf(v, sizeof v, "%u", conf->reserve_gpus_per_node);
            break;
        case KEY_IDLE_DWELL_SECONDS:
            snprintf(v, sizeof v, "%lld", (long long)conf->idle_dwell_seconds);
            break;
        case KEY_RESERVE_PRICE:
            format_type_list(&conf->prices, 1, v, sizeof v);
            break;
        case KEY_MAX_BID:
            gm_money_format(conf->max_bid, v, sizeof v);
            break;
        case KEY_CURRENCY:
            snprintf(v, sizeof v, "%s", conf->currency);
            break;
        case KEY_CARBON_INTENSITY:
            snprintf(v, sizeof v, "%lld", (long long)conf->carbon);
            break;
        case KEY_GPU_POWER:
            format_type_list(&conf->gpu_power, 0, v, sizeof v);
            break;
        default:
            continue;
        }
        each(keys[k].name, v, arg);
        n++;
    }
    return n;
}

struct gm_conf *gm_conf_with_market(const struct gm_conf *base, const struct gm_conf *market)
{
    struct gm_conf *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *base;
    if (!(c->name = strdup(base->name))) {
        free(c);
        return NULL;
    }
    /* The path lists point into the conf's own buffers. */
    for (size_t i = 0; i < c->nverifier_keys; i++)
        c->verifier_keys[i] =
            c->verifier_keys_buf + (base->verifier_keys[i] - base->verifier_keys_buf);
    for (size_t i = 0; i < c->npolicy_admins; i++)
        c->policy_admins[i] =
            c->policy_admins_buf + (base->policy_admins[i] - base->policy_admins_buf);
    c->reserve_gpus_per_node = market->reserve_gpus_per_node;
    c->idle_dwell_seconds = market->idle_dwell_seconds;
    c->prices = market->prices;
    c->max_bid = market->max_bid;
    memcpy(c->currency, market->currency, sizeof c->currency);
    c->has_carbon = market->has_carbon;
    c->carbon = market->carbon;
    c->gpu_power = market->gpu_power;
    for (int k = 0; k < KEY_COUNT; k++)
        if (is_market_key(k))
            c->line[k] = market->line[k];
    return c;
}

int gm_conf_market_differences(const struct gm_conf *a, const struct gm_conf *b,
                               void (*report)(const char *key, void *arg), void *arg)
{
    int n = 0;
    for (int k = 0; k < KEY_COUNT; k++) {
        if (!is_market_key(k))
            continue;
        bool same = true;
        switch (k) {
        case KEY_RESERVE_GPUS_PER_NODE:
            same = a->reserve_gpus_per_node == b->reserve_gpus_per_node;
            break;
        case KEY_IDLE_DWELL_SECONDS:
            same = a->idle_dwell_seconds == b->idle_dwell_seconds;
            break;
        case KEY_RESERVE_PRICE:
            same = gpu_type_lists_equal(&a->prices, &b->prices);
            break;
        case KEY_MAX_BID:
            same = a->max_bid == b->max_bid;
            break;
        case KEY_CURRENCY:
            same = !strcmp(a->currency, b->currency);
            break;
        case KEY_CARBON_INTENSITY:
            same = a->has_carbon == b->has_carbon && (!a->has_carbon || a->carbon == b->carbon);
            break;
        case KEY_GPU_POWER:
            same = gpu_type_lists_equal(&a->gpu_power, &b->gpu_power);
            break;
        }
        if (!same) {
            n++;
            if (report)
                report(keys[k].name, arg);
        }
    }
    return n;
}

size_t gm_conf_policy_admin_count(const struct gm_conf *conf)
{
    return conf->npolicy_admins;
}

const char *gm_conf_policy_admin(const struct gm_conf *conf, size_t i)
{
    return i < conf->npolicy_admins ? conf->policy_admins[i] : NULL;
}

unsigned gm_conf_policy_threshold(const struct gm_conf *conf)
{
    return conf->policy_threshold;
}

void gm_conf_destroy(struct gm_conf *conf)
{
    if (!conf)
        return;
    free(conf->name);
    free(conf);
}

const char *gm_conf_market_partition(const struct gm_conf *conf)
{
    return conf->market_partition;
}

uint32_t gm_conf_reserve_gpus_per_node(const struct gm_conf *conf)
{
    return conf->reserve_gpus_per_node;
}

int64_t gm_conf_idle_dwell_seconds(const struct gm_conf *conf)
{
    return conf->idle_dwell_seconds;
}

int gm_conf_reserve_price(const struct gm_conf *conf, const char *gpu_type, int64_t *price)
{
    return gpu_type_list_find(&conf->prices, gpu_type, price);
}

size_t gm_conf_reserve_price_count(const struct gm_conf *conf)
{
    return conf->prices.count;
}

int gm_conf_reserve_price_at(const struct gm_conf *conf, size_t i, const char **gpu_type,
                             int64_t *price)
{
    if (i >= conf->prices.count)
        return -1;
    *gpu_type = conf->prices.entries[i].type;
    *price = conf->prices.entries[i].value;
    return 0;
}

int gm_conf_default_reserve_price(const struct gm_conf *conf, int64_t *price)
{
    if (!conf->prices.has_default)
        return -1;
    *price = conf->prices.default_value;
    return 0;
}

int64_t gm_conf_max_bid(const struct gm_conf *conf)
{
    return conf->max_bid;
}

const char *gm_conf_currency(const struct gm_conf *conf)
{
    return conf->currency;
}

int gm_conf_carbon_intensity(const struct gm_conf *conf, int64_t *grams_per_kwh)
{
    if (!conf->has_carbon)
        return -1;
    *grams_per_kwh = conf->carbon;
    return 0;
}

int64_t gm_conf_gpu_power(const struct gm_conf *conf, const char *type)
{
    int64_t watts;
    return gpu_type_list_find(&conf->gpu_power, type, &watts) == 0 ? watts : -1;
}

const char *gm_conf_receipt_key(const struct gm_conf *conf)
{
    return conf->receipt_key;
}

const char *gm_conf_ledger_dir(const struct gm_conf *conf)
{
    return conf->ledger_dir;
}

uint32_t gm_conf_quote_port(const struct gm_conf *conf)
{
    return conf->quote_port;
}

bool gm_conf_receipts(const struct gm_conf *conf)
{
    return !conf->receipts_off;
}

const char *gm_conf_ledger_origin(const struct gm_conf *conf)
{
    return conf->ledger_origin[0] ? conf->ledger_origin : NULL;
}

unsigned gm_conf_line(const struct gm_conf *conf, const char *key)
{
    int k = key ? find_key(key, strlen(key)) : -1;
    return k < 0 ? 0 : conf->line[k];
}

size_t gm_conf_verifier_key_count(const struct gm_conf *conf)
{
    return conf->nverifier_keys;
}

const char *gm_conf_verifier_key(const struct gm_conf *conf, size_t i)
{
    return i < conf->nverifier_keys ? conf->verifier_keys[i] : NULL;
}

const char *gm_conf_name(const struct gm_conf *conf)
{
    return conf->name;
}
