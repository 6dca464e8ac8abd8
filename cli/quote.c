/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpumarket quote and gpumarket offers: the market's live state, as the
 * active slurmctld's select plugin serves it on QuotePort (see
 * slurm-plugin/select/quote.h for the protocol).  The controller is found
 * in `scontrol show config` (SlurmctldHost, primary first); the port in
 * gpumarket.conf (QuotePort). */
#include "config.h"

#include "cli/cli.h"
#include "common/conf.h"
#include "common/money.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QUOTE_REQUEST         "gpumarket-quote 1\n"
#define QUOTE_REQUEST_HISTORY "gpumarket-quote 1 history\n"
#define QUOTE_MAX_DOC         (16 * 1024 * 1024)
#define QUOTE_CONNECT_MS      3000
#define QUOTE_REPLY_MS        10000
#define MAX_HOSTS             8
#define QUOTE_STALE_S         60

/* ------------------------------------------------------------ a small JSON reader */

enum jt { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
    enum jt t;
    int64_t n;
    char *s;
    struct jv *kids; /* array items or object values */
    char **keys;     /* object keys */
    size_t len;
};

struct jp {
    const char *p, *end;
    int depth;
};

static void ws(struct jp *p)
{
    while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
        p->p++;
}

static int jparse(struct jp *p, struct jv *v);

static int jstring(struct jp *p, char **out)
{
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    if (!s || p->p >= p->end || *p->p != '"')
        return free(s), -1;
    p->p++;
    while (p->p < p->end && *p->p != '"') {
        char c = *p->p++;
        if (c == '\\') {
            if (p->p >= p->end)
                return free(s), -1;
            c = *p->p++;
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'u': {
                unsigned u = 0;
                for (int i = 0; i < 4; i++, p->p++) {
                    if (p->p >= p->end)
                        return free(s), -1;
                    char h = *p->p;
                    u = u * 16 + (unsigned)(h >= '0' && h <= '9'   ? h - '0'
                                            : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                            : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                   : 0);
                }
                c = u < 0x80 ? (char)u : '?'; /* the server writes ASCII */
                break;
            }
            default:
                break; /* '"', '\\', '/' */
            }
        }
        if (n + 2 > cap) {
            char *t = realloc(s, cap *= 2);
            if (!t)
                return free(s), -1;
            s = t;
        }
        s[n++] = c;
    }
    if (p->p >= p->end)
        return free(s), -1;
    p->p++;
    s[n] = '\0';
    *out = s;
    return 0;
}

static int jlist(struct jp *p, struct jv *v, int object)
{
    char close = object ? '}' : ']';
    size_t cap = 0;
    p->p++;
    ws(p);
    if (p->p < p->end && *p->p == close) {
        p->p++;
        return 0;
    }
    for (;;) {
        if (v->len == cap) {
            cap = cap ? cap * 2 : 8;
            struct jv *k = realloc(v->kids, cap * sizeof *k);
            if (!k)
                return -1;
            v->kids = k;
            if (object) {
                char **ks = realloc(v->keys, cap * sizeof *ks);
                if (!ks)
                    return -1;
                v->keys = ks;
            }
        }
        ws(p);
        if (object) {
            if (jstring(p, &v->keys[v->len]) != 0)
                return -1;
            ws(p);
            if (p->p >= p->end || *p->p != ':') {
                free(v->keys[v->len]);
                return -1;
            }
            p->p++;
        }
        memset(&v->kids[v->len], 0, sizeof v->kids[v->len]);
        v->len++;
        if (jparse(p, &v->kids[v->len - 1]) != 0)
            return -1;
        ws(p);
        if (p->p < p->end && *p->p == ',') {
            p->p++;
            continue;
        }
        if (p->p < p->end && *p->p == close) {
            p->p++;
            return 0;
        }
        return -1;
    }
}

static int jparse(struct jp *p, struct jv *v)
{
    ws(p);
    if (p->p >= p->end || ++p->depth > 32)
        return -1;
    int rc = 0;
    char c = *p->p;
    if (c == '{' || c == '[') {
        v->t = c == '{' ? J_OBJ : J_ARR;
        rc = jlist(p, v, c == '{');
    } else if (c == '"') {
        v->t = J_STR;
        rc = jstring(p, &v->s);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *e;
        errno = 0;
        v->t = J_NUM;
        v->n = strtoll(p->p, &e, 10);
        if (e == p->p || errno)
            return -1;
        p->p = e;
    } else if (p->end - p->p >= 4 && !strncmp(p->p, "true", 4)) {
        v->t = J_BOOL, v->n = 1, p->p += 4;
    } else if (p->end - p->p >= 5 && !strncmp(p->p, "false", 5)) {
        v->t = J_BOOL, v->n = 0, p->p += 5;
    } else if (p->end - p->p >= 4 && !strncmp(p->p, "null", 4)) {
        v->t = J_NULL, p->p += 4;
    } else {
        return -1;
    }
    p->depth--;
    return rc;
}

static void jfree(struct jv *v)
{
    for (size_t i = 0; i < v->len; i++) {
        jfree(&v->kids[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->s);
}

static const struct jv *jget(const struct jv *o, const char *key)
{
    if (!o || o->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < o->len; i++)
        if (!strcmp(o->keys[i], key))
            return &o->kids[i];
    return NULL;
}

static int64_t jnum(const struct jv *o, const char *key, int64_t dflt)
{
    const struct jv *v = jget(o, key);
    return v && (v->t == J_NUM || v->t == J_BOOL) ? v->n : dflt;
}

static const char *jstr(const struct jv *o, const char *key)
{
    const struct jv *v = jget(o, key);
    return v && v->t == J_STR ? v->s : "";
}

/* ------------------------------------------------------------ finding the controller */

struct ctld {
    char hosts[MAX_HOSTS][256];
    int nhosts;
    char select_type[128];
    int have_config;
};

/* SlurmctldHost (address in parentheses where given) and SelectType from
 * `scontrol show config`; exits when slurmctld cannot be asked. */
static void read_slurm_config(struct ctld *c)
{
    FILE *f = popen("scontrol show config 2>&1", "r");
    char line[1024], first[1024] = "";

    if (!f)
        gm_cli_die("cannot run scontrol to find the controller: %s; give --host HOST",
                   strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char *eq = strchr(line, '=');
        line[strcspn(line, "\n")] = '\0';
        if (!first[0])
            snprintf(first, sizeof first, "%s", line);
        if (!eq)
            continue;
        char *val = eq + 1;
        while (*val == ' ')
            val++;
        if (!strncmp(line, "SlurmctldHost[", 14) && c->nhosts < MAX_HOSTS) {
            char *open = strchr(val, '('), *close = open ? strchr(open, ')') : NULL;
            if (open && close && close > open + 1)
                snprintf(c->hosts[c->nhosts++], sizeof c->hosts[0], "%.*s", (int)(close - open - 1),
                         open + 1);
            else
                snprintf(c->hosts[c->nhosts++], sizeof c->hosts[0], "%s", val);
        } else if (!strncmp(line, "SelectType ", 11)) {
            snprintf(c->select_type, sizeof c->select_type, "%s", val);
        }
    }
    int st = pclose(f);
    if (st != 0 || c->nhosts == 0)
        gm_cli_die("the controller is unreachable: `scontrol show config` failed%s%s; is slurmctld "
                   "running, and SLURM_CONF the cluster's slurm.conf? (or give --host HOST)",
                   first[0] ? ": " : "", first);
    c->have_config = 1;
}

/* Connect to host:port within the deadline; the socket, or -1 with errno. */
static int connect_to(const char *host, uint32_t port, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV },
                    *res = NULL;
    char service[16];
    snprintf(service, sizeof service, "%" PRIu32, port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd p = { .fd = fd, .events = POLLOUT };
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&p, 1, QUOTE_CONNECT_MS) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            errno = err ? err : ETIMEDOUT;
        }
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The document the controller serves, or exit with what is wrong. */
static char *fetch(struct gm_cli_args *a, size_t *len_out)
{
    struct ctld c;
    uint32_t port = a->port;

    memset(&c, 0, sizeof c);
    if (!port) {
        struct gm_conf *conf = gm_cli_cluster_conf(a);
        if (!conf)
            gm_cli_die("no gpumarket.conf to find QuotePort in: give --config FILE, set "
                       "GPUMARKET_CONF, or give --port PORT");
        port = gm_conf_quote_port(conf);
        if (!port)
            gm_cli_die("QuotePort is not set in %s: slurmctld serves no live quote; an admin sets "
                       "QuotePort=PORT there and runs `scontrol reconfigure` (see "
                       "gpumarket.conf(5))",
                       gm_conf_name(conf));
    }
    if (a->host) {
        snprintf(c.hosts[0], sizeof c.hosts[0], "%s", a->host);
        c.nhosts = 1;
    } else {
        read_slurm_config(&c);
    }
    int fd = -1;
    char why[256] = "", tried[1024] = "";
    for (int i = 0; i < c.nhosts && fd < 0; i++) {
        fd = connect_to(c.hosts[i], port, why, sizeof why);
        if (fd < 0) {
            size_t l = strlen(tried);
            snprintf(tried + l, sizeof tried - l, "%s%s:%" PRIu32 " (%s)", l ? ", " : "",
                     c.hosts[i], port, why);
        }
    }
    if (fd < 0) {
        if (c.have_config && !strstr(c.select_type, "cons_tres_gpumarket"))
            gm_cli_die("the market plugin is not loaded: slurmctld runs SelectType=%s, not "
                       "select/cons_tres_gpumarket, so there is no market to quote",
                       c.select_type[0] ? c.select_type : "(unknown)");
        gm_cli_die("no quote from the controller at %s: is slurmctld running with "
                   "select/cons_tres_gpumarket and QuotePort=%" PRIu32
                   " in its gpumarket.conf? (its log says \"quote endpoint listening\")",
                   tried, port);
    }
    /* One request line, then the document until the server closes. */
    size_t cap = 65536, len = 0;
    char *doc = malloc(cap);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!doc)
        gm_cli_die("out of memory");
    const char *req = a->history ? QUOTE_REQUEST_HISTORY : QUOTE_REQUEST;
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
        gm_cli_die("the quote endpoint closed the connection: %s", strerror(errno));
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left =
            QUOTE_REPLY_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            gm_cli_die("the quote endpoint did not answer within %d s", QUOTE_REPLY_MS / 1000);
        if (len + 1 >= cap) {
            if (cap >= QUOTE_MAX_DOC)
                gm_cli_die("the quote endpoint's answer is larger than %d bytes", QUOTE_MAX_DOC);
            char *t2 = realloc(doc, cap *= 2);
            if (!t2)
                gm_cli_die("out of memory");
            doc = t2;
        }
        ssize_t r = recv(fd, doc + len, cap - len - 1, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            gm_cli_die("reading the quote: %s", strerror(errno));
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    doc[len] = '\0';
    *len_out = len;
    return doc;
}

static void parse_doc(const char *doc, size_t len, struct jv *v)
{
    struct jp p = { doc, doc + len, 0 };
    memset(v, 0, sizeof *v);
    if (jparse(&p, v) != 0 || v->t != J_OBJ)
        gm_cli_die("the quote endpoint's answer is not a JSON object");
    if (jget(v, "error"))
        gm_cli_die("the quote endpoint refused the request: %s", jstr(v, "error"));
    /* The active controller refreshes it every few seconds; an old one
     * comes from a controller that no longer schedules. */
    int64_t snap = jnum(v, "snapshot_time", 0), now = jnum(v, "time", 0);
    if (snap && now - snap > QUOTE_STALE_S)
        gm_cli_warn("the market snapshot is %" PRId64 " s old: is this controller still the "
                    "active one, and is its scheduler running?",
                    now - snap);
}

static const char *money(int64_t micro, char *buf)
{
    if (micro < 0)
        return "-";
    if (gm_money_format(micro, buf, GM_MONEY_STRLEN) < 0)
        snprintf(buf, GM_MONEY_STRLEN, "?");
    return buf;
}

static const char *user_name(int64_t uid, char *buf, size_t len)
{
    struct passwd *pw = uid >= 0 ? getpwuid((uid_t)uid) : NULL;
    if (pw)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "%" PRId64, uid);
    return buf;
}

static void print_header(const struct jv *v)
{
    int64_t snap = jnum(v, "snapshot_time", 0), now = jnum(v, "time", 0);
    if (snap == 0)
        printf(
            "GPU market: no snapshot yet (slurmctld has not cleared the market since it started)\n");
    else
        printf("GPU market of partition %s, prices in %s per GPU-hour (snapshot %" PRId64
               " s old; ReserveGPUsPerNode=%" PRId64 ", IdleDwellSeconds=%" PRId64 ")\n",
               jstr(v, "market_partition"), jstr(v, "currency"), now - snap,
               jnum(v, "reserve_gpus_per_node", 0), jnum(v, "idle_dwell_seconds", 0));
}

static int run_quote(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc, char **argv)
{
    (void)argv;
    if (argc)
        gm_cli_usage_error(cmd, "takes no operand");
    size_t len;
    char *doc = fetch(a, &len);
    struct jv v;
    parse_doc(doc, len, &v);
    if (a->json) {
        fwrite(doc, 1, len, stdout);
        jfree(&v);
        free(doc);
        return 0;
    }
    if (a->history) {
        const struct jv *h = jget(&v, "history");
        printf("Price history since the quote endpoint started (%s per GPU-hour, UTC):\n",
               jstr(&v, "currency")[0] ? jstr(&v, "currency") : "money");
        printf("%-20s %-10s %10s %8s %9s\n", "TIME", "TYPE", "PRICE", "OFFERED", "DEMANDED");
        for (size_t i = 0; h && h->t == J_ARR && i < h->len; i++) {
            const struct jv *x = &h->kids[i];
            char when[32], p[GM_MONEY_STRLEN];
            time_t t = (time_t)jnum(x, "time", 0);
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
            printf("%-20s %-10s %10s %8" PRId64 " %9" PRId64 "\n", when, jstr(x, "type"),
                   money(jnum(x, "price_micro", -1), p), jnum(x, "supply", 0),
                   jnum(x, "demand", 0));
        }
        jfree(&v);
        free(doc);
        return 0;
    }
    print_header(&v);
    const struct jv *m = jget(&v, "markets");
    printf("%-10s %10s %10s %8s %9s %9s %8s\n", "TYPE", "RESERVE", "PRICE", "OFFERED", "DEMANDED",
           "ADMITTED", "WAITING");
    for (size_t i = 0; m && m->t == J_ARR && i < m->len; i++) {
        const struct jv *x = &m->kids[i];
        char r[GM_MONEY_STRLEN], p[GM_MONEY_STRLEN];
        if (!jnum(x, "offered", 0)) {
            printf("%-10s %10s %10s %8s %9s %9s %8" PRId64 "\n", jstr(x, "type"), "-",
                   "not offered", "0", "-", "-", jnum(x, "waiting_jobs", 0));
            continue;
        }
        printf("%-10s %10s %10s %8" PRId64 " %9" PRId64 " %9" PRId64 " %8" PRId64 "\n",
               jstr(x, "type"), money(jnum(x, "reserve_micro", -1), r),
               money(jnum(x, "price_micro", -1), p), jnum(x, "supply", 0), jnum(x, "demand", 0),
               jnum(x, "admitted_gpus", 0), jnum(x, "waiting_jobs", 0));
    }
    const struct jv *jobs = jget(&v, "jobs");
    if (jobs && jobs->t == J_ARR && jobs->len) {
        printf("\nPending market jobs (%" PRId64 "):\n", jnum(&v, "jobs_total", 0));
        printf("%-10s %-10s %-8s %4s %10s %10s %-16s %s\n", "JOBID", "USER", "TYPE", "GPUS", "BID",
               "PRICE", "STATUS", "REASON");
        for (size_t i = 0; i < jobs->len; i++) {
            const struct jv *j = &jobs->kids[i];
            char u[64], b[GM_MONEY_STRLEN], p[GM_MONEY_STRLEN], g[16];
            snprintf(g, sizeof g, "%" PRId64, jnum(j, "gpus", -1));
            printf("%-10" PRId64 " %-10s %-8s %4s %10s %10s %-16s %s\n", jnum(j, "job_id", 0),
                   user_name(jnum(j, "user_id", -1), u, sizeof u),
                   jget(j, "type") ? jstr(j, "type") : "-", jget(j, "gpus") ? g : "-",
                   money(jnum(j, "bid_micro", -1), b), money(jnum(j, "price_micro", -1), p),
                   jstr(j, "status"), jstr(j, "reason"));
        }
    } else {
        printf("\nNo market job is pending.\n");
    }
    jfree(&v);
    free(doc);
    return 0;
}

static int run_offers(const struct gm_cli_command *cmd, struct gm_cli_args *a, int argc,
                      char **argv)
{
    (void)argv;
    if (argc)
        gm_cli_usage_error(cmd, "takes no operand");
    size_t len;
    char *doc = fetch(a, &len);
    struct jv v;
    parse_doc(doc, len, &v);
    const struct jv *o = jget(&v, "offers");
    if (a->json) {
        /* The offers alone, one object. */
        struct gm_cli_json j;
        gm_cli_json_begin(&j, stdout);
        gm_cli_json_int(&j, "snapshot_time", jnum(&v, "snapshot_time", 0));
        fputs(",\"offers\":[", stdout);
        for (size_t i = 0; o && o->t == J_ARR && i < o->len; i++) {
            struct gm_cli_json k;
            if (i)
                fputc(',', stdout);
            gm_cli_json_begin(&k, stdout);
            gm_cli_json_string(&k, "node", jstr(&o->kids[i], "node"));
            gm_cli_json_string(&k, "type", jstr(&o->kids[i], "type"));
            gm_cli_json_int(&k, "gpus", jnum(&o->kids[i], "gpus", 0));
            fputc('}', stdout);
        }
        fputs("]}\n", stdout);
    } else {
        print_header(&v);
        printf("%-20s %-10s %8s\n", "NODE", "TYPE", "OFFERED");
        int64_t total = 0;
        for (size_t i = 0; o && o->t == J_ARR && i < o->len; i++) {
            printf("%-20s %-10s %8" PRId64 "\n", jstr(&o->kids[i], "node"),
                   jstr(&o->kids[i], "type"), jnum(&o->kids[i], "gpus", 0));
            total += jnum(&o->kids[i], "gpus", 0);
        }
        printf("%-20s %-10s %8" PRId64 "\n", "(total)", "", total);
    }
    jfree(&v);
    free(doc);
    return 0;
}

static const struct gm_cli_option quote_options[] = {
    { "json", NULL, "print the controller's whole JSON document", GM_CLI_JSON },
    { "history", NULL,
      "the price history instead: each change of a type's\nprice, supply or demand",
      GM_CLI_HISTORY },
    { "host", "HOST",
      "the controller (default: SlurmctldHost of\n`scontrol show config`, in order)", GM_CLI_HOST },
    { "port", "PORT", "the quote port (default: QuotePort of gpumarket.conf)", GM_CLI_PORT },
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

static const struct gm_cli_option offers_options[] = {
    { "json", NULL, "print the offers as one JSON object", GM_CLI_JSON },
    { "host", "HOST",
      "the controller (default: SlurmctldHost of\n`scontrol show config`, in order)", GM_CLI_HOST },
    { "port", "PORT", "the quote port (default: QuotePort of gpumarket.conf)", GM_CLI_PORT },
    GM_CLI_OPTION_CONFIG,
    GM_CLI_OPTIONS_END,
};

const struct gm_cli_command gm_cli_quote = {
    .name = "quote",
    .path = "quote",
    .summary = "the live price, supply and demand per GPU type",
    .doc = "Ask the active slurmctld (select/cons_tres_gpumarket, QuotePort of\n"
           "gpumarket.conf) for the market as it last cleared it: per GPU type the\n"
           "reserve price, clearing price, offered and demanded GPUs, and every\n"
           "pending market job with its bid and why it waits.  --json prints the\n"
           "controller's document as is.\n",
    .run = run_quote,
    .options = quote_options,
};

const struct gm_cli_command gm_cli_offers = {
    .name = "offers",
    .path = "offers",
    .summary = "the GPUs offered to the market, per node and type",
    .doc = "Ask the active slurmctld for the GPUs it offers to the market now:\n"
           "idle beyond ReserveGPUsPerNode for IdleDwellSeconds, per node and type.\n",
    .run = run_offers,
    .options = offers_options,
};
