/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A market job as the select plugin sees it: GPU requests, reasons, lease
 * records (see market/job.h). */
#include "config.h"

#include "market/job.h"

#include "common/money.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain decimal of at most 19 digits, no sign or suffix. */
static int parse_count(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static int type_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* One comma-separated item: "[gres:|gres/]gpu[:TYPE]:N" or "...gpu[:TYPE]=N". */
static int parse_item(const char *item, size_t len, uint64_t *count, char *type, size_t typelen,
                      int *is_gpu, char *err, size_t errlen)
{
    char quoted[64];

    *is_gpu = 0;
    if (len >= 5 && (memcmp(item, "gres:", 5) == 0 || memcmp(item, "gres/", 5) == 0)) {
        item += 5;
        len -= 5;
    }
    if (len < 3 || memcmp(item, "gpu", 3) != 0 || (len > 3 && item[3] != ':' && item[3] != '='))
        return 0; /* another TRES */
    *is_gpu = 1;
    type[0] = '\0';
    if (len == 3) {
        *count = 1; /* "gpu" alone asks for one, as Slurm reads it */
        return 0;
    }
    const char *rest = item + 4;
    size_t rlen = len - 4;
    const char *sep = NULL;
    for (size_t i = 0; i < rlen; i++)
        if (rest[i] == ':' || rest[i] == '=')
            sep = rest + i;
    if (sep != NULL) {
        size_t tlen = (size_t)(sep - rest);
        if (tlen == 0 || tlen > GM_JOB_MAX_TYPE || tlen + 1 > typelen)
            goto bad;
        for (size_t i = 0; i < tlen; i++)
            if (!type_char_ok(rest[i]))
                goto bad;
        memcpy(type, rest, tlen);
        type[tlen] = '\0';
        rlen -= tlen + 1;
        rest = sep + 1;
    }
    if (parse_count(rest, rlen, count) != 0)
        goto bad;
    return 0;
bad:
    gm_text_quote(item, len, quoted, sizeof quoted);
    return gm_errf(err, errlen,
                   "gpumarket: GPU request \"%s\": expected gpu[:TYPE]:COUNT with a plain "
                   "decimal count",
                   quoted);
}

int gm_job_parse_gpu_tres(const char *tres, uint64_t *count, char *type, size_t typelen, char *err,
                          size_t errlen)
{
    uint64_t total = 0;
    char item_type[GM_JOB_MAX_TYPE + 1];
    int typed = 0;

    if (typelen < 1)
        return gm_errf(err, errlen, "gpumarket: GPU request: no room for the type");
    type[0] = '\0';
    *count = 0;
    if (tres == NULL)
        return 0;
    const char *p = tres;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        uint64_t n = 0;
        int is_gpu;
        if (parse_item(p, len, &n, item_type, sizeof item_type, &is_gpu, err, errlen) != 0)
            return -1;
        if (is_gpu && n > 0) {
            if (item_type[0] != '\0') {
                if (typed && strcmp(type, item_type) != 0)
                    return gm_errf(err, errlen,
                                   "gpumarket: GPU request asks for two GPU types (%s and %s); "
                                   "a market job buys one type",
                                   type, item_type);
                if (strlen(item_type) + 1 > typelen)
                    return gm_errf(err, errlen, "gpumarket: GPU request: type name too long");
                strcpy(type, item_type);
                typed = 1;
            }
            if (n > UINT64_MAX / 2 - total)
                return gm_errf(err, errlen, "gpumarket: GPU request: count out of range");
            total += n;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    *count = total;
    return 0;
}

int gm_job_gpus(const struct gm_job_gpu_request *req, uint32_t *gpus, char *type, size_t typelen,
                char *err, size_t errlen)
{
    uint32_t per_node;
    return gm_job_gpus_shaped(req, gpus, &per_node, type, typelen, err, errlen);
}

int gm_job_gpus_shaped(const struct gm_job_gpu_request *req, uint32_t *gpus, uint32_t *per_node,
                       char *type, size_t typelen, char *err, size_t errlen)
{
    const char *forms[4] = { req->per_job, req->per_node, req->per_task, req->per_socket };
    uint64_t mult[4];
    uint64_t nodes = req->nodes ? req->nodes : 1, tasks = req->tasks ? req->tasks : 1;

    mult[0] = 1;
    mult[1] = nodes;
    mult[2] = tasks;
    mult[3] = nodes;
    *gpus = 0;
    *per_node = 0;
    type[0] = '\0';
    for (int f = 0; f < 4; f++) {
        uint64_t n;
        if (gm_job_parse_gpu_tres(forms[f], &n, type, typelen, err, errlen) != 0)
            return -1;
        if (n == 0)
            continue;
        uint64_t limit = (uint64_t)GM_POLICY_MAX_NODE_GPUS * nodes;
        if (n > limit / mult[f])
            return gm_errf(err, errlen,
                           "gpumarket: GPU request asks for more than %d GPUs per node",
                           GM_POLICY_MAX_NODE_GPUS);
        *gpus = (uint32_t)(n * mult[f]);
        /* Only a per-node count fixes what each node gives: --gpus and
         * --gpus-per-task may be spread, and a node may have more sockets
         * than the one --gpus-per-socket is counted for. */
        if (f == 1)
            *per_node = (uint32_t)n;
        return 0;
    }
    if (req->exclusive_node_gpus > 0) {
        uint64_t n = (uint64_t)req->exclusive_node_gpus * nodes;
        if (n > UINT32_MAX)
            return gm_errf(err, errlen, "gpumarket: GPU request: count out of range");
        *gpus = (uint32_t)n;
        *per_node = req->exclusive_node_gpus;
    }
    return 0;
}

size_t gm_job_reason(const struct gm_policy_verdict *v, const char *type_name, int64_t max_bid,
                     char *buf, size_t buflen)
{
    char bid[GM_MONEY_STRLEN], price[GM_MONEY_STRLEN], cap[GM_MONEY_STRLEN];
    const char *type = type_name ? type_name : "?";
    int n = 0;

    if (buflen == 0)
        return 0;
    buf[0] = '\0';
    gm_money_format(v->bid, bid, sizeof bid);
    gm_money_format(v->price, price, sizeof price);
    gm_money_format(max_bid, cap, sizeof cap);
    switch (v->status) {
    case GM_POLICY_ADMITTED:
        return 0;
    case GM_POLICY_BELOW_PRICE:
        n = snprintf(buf, buflen, "gpumarket: bid %s < price %s (%s)", bid, price, type);
        break;
    case GM_POLICY_WAITING_SUPPLY:
        if (v->gpus_per_node == 0 || v->gpus_per_node > v->gpus || v->gpus % v->gpus_per_node)
            n = snprintf(buf, buflen,
                         "gpumarket: bid %s >= price %s (%s), waiting for %" PRIu32 " offered GPUs",
                         bid, price, type, v->gpus);
        else if (v->gpus_per_node == v->gpus)
            n = snprintf(buf, buflen,
                         "gpumarket: bid %s >= price %s (%s), waiting for %" PRIu32
                         " offered GPUs on one node",
                         bid, price, type, v->gpus);
        else
            n = snprintf(buf, buflen,
                         "gpumarket: bid %s >= price %s (%s), waiting for %" PRIu32
                         " offered GPUs on each of %" PRIu32 " nodes",
                         bid, price, type, v->gpus_per_node, v->gpus / v->gpus_per_node);
        break;
    case GM_POLICY_TYPE_NOT_OFFERED:
        n = snprintf(buf, buflen, "gpumarket: no %s offered", type);
        break;
    case GM_POLICY_NEVER_FITS:
        if (v->gpus_per_node == 0 || v->gpus % v->gpus_per_node)
            n = snprintf(buf, buflen,
                         "gpumarket: never fits: the market's nodes hold fewer than %" PRIu32
                         " %s GPUs beyond ReserveGPUsPerNode",
                         v->gpus, type);
        else if (v->gpus == v->gpus_per_node)
            n = snprintf(buf, buflen,
                         "gpumarket: never fits: no market node holds %" PRIu32
                         " %s GPUs beyond ReserveGPUsPerNode",
                         v->gpus, type);
        else
            n = snprintf(buf, buflen,
                         "gpumarket: never fits: fewer than %" PRIu32 " market nodes hold %" PRIu32
                         " %s GPUs each beyond ReserveGPUsPerNode",
                         v->gpus / v->gpus_per_node, v->gpus_per_node, type);
        break;
    case GM_POLICY_ABOVE_MAX_BID:
        n = snprintf(buf, buflen, "gpumarket: bid %s above MaxBid %s", bid, cap);
        break;
    default:
        n = snprintf(buf, buflen, "gpumarket: %s", gm_policy_status_string(v->status));
        break;
    }
    if (n < 0)
        return 0;
    return (size_t)n < buflen ? (size_t)n : buflen - 1;
}

int gm_job_lease_format(const struct gm_job_lease *l, char *buf, size_t buflen)
{
    size_t tlen = strlen(l->type);

    if (tlen == 0 || tlen > GM_JOB_MAX_TYPE)
        return -1;
    for (size_t i = 0; i < tlen; i++)
        if (!type_char_ok(l->type[i]))
            return -1;
    int n = snprintf(buf, buflen,
                     GM_JOB_LEASE_MARK " job=%" PRIu32 " start=%" PRId64 " price_micro=%" PRId64
                                       " bid_micro=%" PRId64 " max_cost_micro=%" PRId64
                                       " gpus=%" PRIu32 " type=%s limit_min=%" PRId64,
                     l->job_id, l->start, l->price, l->bid, l->max_cost, l->gpus, l->type,
                     l->limit_min);
    if (n < 0 || (size_t)n >= buflen)
        return -1;
    return n;
}

/* Read "KEY=<int64>" at *p (then one space or the end). */
static int take_int(const char **p, const char *key, int64_t min, int64_t *out)
{
    size_t klen = strlen(key);
    const char *s = *p;
    int neg = 0;
    uint64_t v = 0;
    size_t digits = 0;

    if (strncmp(s, key, klen) != 0 || s[klen] != '=')
        return -1;
    s += klen + 1;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    while (*s >= '0' && *s <= '9') {
        if (++digits > 19)
            return -1;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    if (digits == 0 || v > (uint64_t)INT64_MAX)
        return -1;
    int64_t r = neg ? -(int64_t)v : (int64_t)v;
    if (r < min)
        return -1;
    if (*s == ' ')
        s++;
    else if (*s != '\0' && *s != '\n')
        return -1;
    *out = r;
    *p = s;
    return 0;
}

int gm_job_lease_parse(const char *text, struct gm_job_lease *lease, char *err, size_t errlen)
{
    const char *p = NULL, *q = text;
    struct gm_job_lease l;
    int64_t v;

    if (text == NULL)
        return 1;
    while ((q = strstr(q, GM_JOB_LEASE_MARK)) != NULL) {
        p = q;
        q += strlen(GM_JOB_LEASE_MARK);
    }
    if (p == NULL)
        return 1;
    memset(&l, 0, sizeof l);
    p += strlen(GM_JOB_LEASE_MARK);
    if (*p++ != ' ')
        goto bad;
    if (take_int(&p, "job", 0, &v) != 0 || v > UINT32_MAX)
        goto bad;
    l.job_id = (uint32_t)v;
    if (take_int(&p, "start", 0, &l.start) != 0 || take_int(&p, "price_micro", 0, &l.price) != 0 ||
        take_int(&p, "bid_micro", 0, &l.bid) != 0 ||
        take_int(&p, "max_cost_micro", GM_POLICY_UNLIMITED, &l.max_cost) != 0 ||
        take_int(&p, "gpus", 1, &v) != 0 || v > UINT32_MAX)
        goto bad;
    l.gpus = (uint32_t)v;
    if (strncmp(p, "type=", 5) != 0)
        goto bad;
    p += 5;
    size_t tlen = 0;
    while (type_char_ok(p[tlen]))
        tlen++;
    if (tlen == 0 || tlen > GM_JOB_MAX_TYPE || p[tlen] != ' ')
        goto bad;
    memcpy(l.type, p, tlen);
    l.type[tlen] = '\0';
    p += tlen + 1;
    if (take_int(&p, "limit_min", GM_POLICY_UNLIMITED, &l.limit_min) != 0)
        goto bad;
    if (l.price > l.bid)
        return gm_errf(err, errlen, "gpumarket: lease record: price above the bid");
    *lease = l;
    return 0;
bad:
    return gm_errf(err, errlen, "gpumarket: lease record: malformed near \"%.24s\"", p);
}

int64_t gm_job_lease_end(const struct gm_job_lease *l)
{
    if (l->limit_min < 0)
        return GM_POLICY_UNLIMITED;
    return l->start + l->limit_min * 60;
}
