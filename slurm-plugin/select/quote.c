/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The market's live quote endpoint inside slurmctld: see quote.h. */
#include "config.h" /* Slurm's own, from the configured source tree */

#include "slurm-plugin/select/quote.h"

#include "common/conf.h"
#include "market/job.h"
#include "market/policy.h"
#include "src/common/log.h"
#include "src/common/node_conf.h"
#include "src/slurmctld/slurmctld.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct q_market {
    char type[GM_JOB_MAX_TYPE + 1];
    int offered;
    int64_t reserve, price;
    uint64_t supply, demand, admitted_gpus, admitted_jobs, waiting_jobs;
};

struct q_offer {
    char node[64];
    char type[GM_JOB_MAX_TYPE + 1];
    uint32_t gpus;
};

struct q_job {
    uint32_t job_id, user_id, gpus;
    char type[GM_JOB_MAX_TYPE + 1];
    int64_t bid, price; /* -1: not known */
    const char *status;
    char reason[GM_JOB_TEXT_MAX];
};

/* One published copy: immutable once committed, freed with its last
 * reference. */
struct q_snap {
    int refs;
    int64_t time;
    char currency[GM_CONF_MAX_CURRENCY_LEN + 1];
    char partition[GM_CONF_MAX_PARTITION_LEN + 1];
    uint32_t reserve_gpus_per_node;
    int64_t idle_dwell_seconds, max_bid;
    struct q_market *markets;
    size_t nmarkets;
    struct q_offer *offers;
    size_t noffers;
    struct q_job *jobs;
    size_t njobs, jobs_cap, jobs_total;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct q_snap *q_current; /* under q_lock */
static volatile int q_running;   /* the serving thread runs (read without the lock) */
static int64_t q_published;      /* time of q_current, under q_lock */

/* Owned by the configuring caller (job_init, reconfigure, fini). */
static pthread_t q_thread;
static int q_listen_fd = -1, q_wake[2] = { -1, -1 };
static uint32_t q_port;
static char q_addr[256];

/* The price history: every change of a type's market since the endpoint
 * started, the oldest dropped past GM_QUOTE_HISTORY_MAX (under q_lock). */
struct q_hist {
    int64_t time;
    char type[GM_JOB_MAX_TYPE + 1];
    int64_t price;
    uint64_t supply, demand;
};
static struct q_hist q_history[GM_QUOTE_HISTORY_MAX];
static size_t q_history_count, q_history_next;

/* The copy being published (publisher only, under gm_lock). */
static struct q_snap *q_next;

static void snap_unref(struct q_snap *s)
{
    if (!s || --s->refs > 0)
        return;
    free(s->markets);
    free(s->offers);
    free(s->jobs);
    free(s);
}

/* ---------------------------------------------------------------- publish */

static const char *status_token(enum gm_policy_status st)
{
    switch (st) {
    case GM_POLICY_ADMITTED:
        return "admitted";
    case GM_POLICY_BELOW_PRICE:
        return "below_price";
    case GM_POLICY_WAITING_SUPPLY:
        return "waiting_supply";
    case GM_POLICY_TYPE_NOT_OFFERED:
        return "type_not_offered";
    case GM_POLICY_ABOVE_MAX_BID:
        return "above_max_bid";
    case GM_POLICY_NEVER_FITS:
        return "never_fits";
    }
    return "unknown";
}

static struct q_job *next_job(uint32_t job_id)
{
    struct q_snap *s = q_next;
    s->jobs_total++;
    if (s->njobs >= GM_QUOTE_MAX_JOBS)
        return NULL;
    if (s->njobs == s->jobs_cap) {
        size_t n = s->jobs_cap ? s->jobs_cap * 2 : 16;
        struct q_job *t = realloc(s->jobs, n * sizeof *t);
        if (!t)
            return NULL;
        s->jobs = t;
        s->jobs_cap = n;
    }
    struct q_job *j = &s->jobs[s->njobs++];
    memset(j, 0, sizeof *j);
    job_record_t *job_ptr = find_job_record(job_id);
    j->job_id = job_id;
    j->user_id = job_ptr ? job_ptr->user_id : (uint32_t)-1;
    j->bid = j->price = -1;
    return j;
}

int gm_quote_begin(const struct gm_conf *conf, const struct gm_policy *engine,
                   const struct gm_policy_result *result, const uint32_t *node_index,
                   size_t node_count, int64_t now)
{
    size_t nm = 0, no = 0, nv = 0;

    if (!q_running || !conf)
        return 0;
    snap_unref(q_next);
    q_next = calloc(1, sizeof *q_next);
    if (!q_next)
        return 0;
    struct q_snap *s = q_next;
    s->refs = 1;
    s->time = now;
    snprintf(s->currency, sizeof s->currency, "%s", gm_conf_currency(conf));
    snprintf(s->partition, sizeof s->partition, "%s", gm_conf_market_partition(conf));
    s->reserve_gpus_per_node = gm_conf_reserve_gpus_per_node(conf);
    s->idle_dwell_seconds = gm_conf_idle_dwell_seconds(conf);
    s->max_bid = gm_conf_max_bid(conf);

    const struct gm_policy_market *m = result ? gm_policy_result_markets(result, &nm) : NULL;
    const struct gm_policy_offer *o = result ? gm_policy_result_offers(result, &no) : NULL;
    const struct gm_policy_verdict *v = result ? gm_policy_result_verdicts(result, &nv) : NULL;
    size_t nh = 0;
    const struct gm_policy_price_record *h = result ? gm_policy_result_history(result, &nh) : NULL;
    pthread_mutex_lock(&q_lock);
    for (size_t i = 0; i < nh; i++) {
        struct q_hist *e = &q_history[q_history_next];
        const char *name = gm_policy_type_name(engine, h[i].type);
        e->time = h[i].time;
        snprintf(e->type, sizeof e->type, "%s", name ? name : "?");
        e->price = h[i].price;
        e->supply = h[i].supply;
        e->demand = h[i].demand;
        q_history_next = (q_history_next + 1) % GM_QUOTE_HISTORY_MAX;
        if (q_history_count < GM_QUOTE_HISTORY_MAX)
            q_history_count++;
    }
    pthread_mutex_unlock(&q_lock);
    s->markets = calloc(nm + 1, sizeof *s->markets);
    s->offers = calloc(no + 1, sizeof *s->offers);
    if (!s->markets || !s->offers) {
        snap_unref(q_next);
        q_next = NULL;
        return 0;
    }
    for (size_t i = 0; i < nm; i++) {
        struct q_market *qm = &s->markets[s->nmarkets++];
        const char *name = gm_policy_type_name(engine, m[i].type);
        snprintf(qm->type, sizeof qm->type, "%s", name ? name : "?");
        qm->offered = m[i].offered;
        qm->reserve = m[i].reserve_price;
        qm->price = m[i].price;
        qm->supply = m[i].supply;
        qm->demand = m[i].demand;
        qm->admitted_gpus = m[i].admitted_gpus;
        qm->admitted_jobs = m[i].admitted_jobs;
    }
    for (size_t i = 0; i < no; i++) {
        struct q_offer *qo = &s->offers[s->noffers];
        const char *type = gm_policy_type_name(engine, o[i].type);
        if (o[i].node >= node_count || !node_index ||
            node_index[o[i].node] >= (uint32_t)node_record_count ||
            !node_record_table_ptr[node_index[o[i].node]])
            continue;
        snprintf(qo->node, sizeof qo->node, "%s",
                 node_record_table_ptr[node_index[o[i].node]]->name);
        snprintf(qo->type, sizeof qo->type, "%s", type ? type : "?");
        qo->gpus = o[i].count;
        s->noffers++;
    }
    for (size_t i = 0; i < nv; i++) {
        const char *type = gm_policy_type_name(engine, v[i].type);
        if (v[i].status != GM_POLICY_ADMITTED && v[i].type < s->nmarkets)
            s->markets[v[i].type].waiting_jobs++;
        struct q_job *j = next_job(v[i].job_id);
        if (!j)
            continue;
        j->gpus = v[i].gpus;
        snprintf(j->type, sizeof j->type, "%s", type ? type : "?");
        j->bid = v[i].bid;
        j->price = v[i].price;
        j->status = status_token(v[i].status);
        if (gm_job_reason(&v[i], type ? type : "?", s->max_bid, j->reason, sizeof j->reason) == 0)
            snprintf(j->reason, sizeof j->reason, "%s", gm_policy_status_string(v[i].status));
    }
    return 1;
}

void gm_quote_refusal(uint32_t job_id, const char *reason)
{
    if (!q_next)
        return;
    struct q_job *j = next_job(job_id);
    if (!j)
        return;
    j->status = "refused";
    snprintf(j->reason, sizeof j->reason, "%s", reason ? reason : "");
}

void gm_quote_commit(void)
{
    struct q_snap *old;

    if (!q_next)
        return;
    pthread_mutex_lock(&q_lock);
    old = q_current;
    q_current = q_next;
    q_published = q_next->time;
    snap_unref(old); /* its last reference unless a reply is being rendered */
    pthread_mutex_unlock(&q_lock);
    q_next = NULL;
}

int gm_quote_wants_snapshot(int64_t now, int64_t max_age)
{
    int want;

    if (!q_running)
        return 0;
    pthread_mutex_lock(&q_lock);
    want = !q_current || now - q_published >= max_age;
    pthread_mutex_unlock(&q_lock);
    return want;
}

/* ----------------------------------------------------------------- render */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The document; with history (hist != NULL, nhist records oldest first)
 * also the price history. */
static char *render(const struct q_snap *s, const struct q_hist *hist, size_t nhist, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    if (!f)
        return NULL;
    if (!s) {
        fprintf(f,
                "{\"version\":1,\"time\":%lld,\"snapshot_time\":0,\"markets\":[],"
                "\"offers\":[],\"jobs\":[],\"jobs_total\":0%s}\n",
                (long long)time(NULL), hist ? ",\"history\":[]" : "");
        fclose(f);
        return buf;
    }
    fprintf(f, "{\"version\":1,\"time\":%lld,\"snapshot_time\":%" PRId64 ",\"currency\":",
            (long long)time(NULL), s->time);
    json_string(f, s->currency);
    fputs(",\"market_partition\":", f);
    json_string(f, s->partition);
    fprintf(f,
            ",\"reserve_gpus_per_node\":%" PRIu32 ",\"idle_dwell_seconds\":%" PRId64
            ",\"max_bid_micro\":%" PRId64 ",\"markets\":[",
            s->reserve_gpus_per_node, s->idle_dwell_seconds, s->max_bid);
    for (size_t i = 0; i < s->nmarkets; i++) {
        const struct q_market *m = &s->markets[i];
        fputs(i ? ",{\"type\":" : "{\"type\":", f);
        json_string(f, m->type);
        fprintf(f,
                ",\"offered\":%s,\"reserve_micro\":%" PRId64 ",\"price_micro\":%" PRId64
                ",\"supply\":%" PRIu64 ",\"demand\":%" PRIu64 ",\"admitted_gpus\":%" PRIu64
                ",\"admitted_jobs\":%" PRIu64 ",\"waiting_jobs\":%" PRIu64 "}",
                m->offered ? "true" : "false", m->reserve, m->price, m->supply, m->demand,
                m->admitted_gpus, m->admitted_jobs, m->waiting_jobs);
    }
    fputs("],\"offers\":[", f);
    for (size_t i = 0; i < s->noffers; i++) {
        fputs(i ? ",{\"node\":" : "{\"node\":", f);
        json_string(f, s->offers[i].node);
        fputs(",\"type\":", f);
        json_string(f, s->offers[i].type);
        fprintf(f, ",\"gpus\":%" PRIu32 "}", s->offers[i].gpus);
    }
    fputs("],\"jobs\":[", f);
    for (size_t i = 0; i < s->njobs; i++) {
        const struct q_job *j = &s->jobs[i];
        fprintf(f, "%s{\"job_id\":%" PRIu32 ",\"user_id\":%" PRIu32 ",\"status\":", i ? "," : "",
                j->job_id, j->user_id);
        json_string(f, j->status ? j->status : "unknown");
        if (j->type[0]) {
            fputs(",\"type\":", f);
            json_string(f, j->type);
            fprintf(f, ",\"gpus\":%" PRIu32, j->gpus);
        }
        if (j->bid >= 0)
            fprintf(f, ",\"bid_micro\":%" PRId64, j->bid);
        if (j->price >= 0)
            fprintf(f, ",\"price_micro\":%" PRId64, j->price);
        fputs(",\"reason\":", f);
        json_string(f, j->reason);
        fputc('}', f);
    }
    fprintf(f, "],\"jobs_total\":%zu", s->jobs_total);
    if (hist) {
        fputs(",\"history\":[", f);
        for (size_t i = 0; i < nhist; i++) {
            fprintf(f, "%s{\"time\":%" PRId64 ",\"type\":", i ? "," : "", hist[i].time);
            json_string(f, hist[i].type);
            fprintf(f,
                    ",\"price_micro\":%" PRId64 ",\"supply\":%" PRIu64 ",\"demand\":%" PRIu64 "}",
                    hist[i].price, hist[i].supply, hist[i].demand);
        }
        fputc(']', f);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ------------------------------------------------------------------ serve */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One client: reading its request line, then writing its answer. */
struct q_conn {
    int fd;
    int64_t read_deadline, deadline;
    char req[GM_QUOTE_REQUEST_MAX + 1];
    size_t got;
    char *out;
    size_t outlen, outoff;
};

static struct q_conn q_conns[GM_QUOTE_MAX_CONNS];

static void conn_close(struct q_conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void conn_error(struct q_conn *c, const char *error)
{
    debug("gpumarket: quote: %s", error);
    free(c->out);
    c->out = NULL;
    if (asprintf(&c->out, "{\"error\":\"%s\"}\n", error) < 0) {
        c->out = NULL;
        c->outlen = 0;
        return;
    }
    c->outlen = strlen(c->out);
}

static void conn_answer(struct q_conn *c, int with_history)
{
    struct q_snap *s;
    struct q_hist *hist = NULL;
    size_t nhist = 0;
    if (with_history && !(hist = calloc(GM_QUOTE_HISTORY_MAX, sizeof *hist))) {
        conn_error(c, "out of memory");
        return;
    }
    pthread_mutex_lock(&q_lock);
    s = q_current;
    if (s)
        s->refs++;
    if (hist) { /* oldest first */
        nhist = q_history_count;
        size_t first = (q_history_next + GM_QUOTE_HISTORY_MAX - nhist) % GM_QUOTE_HISTORY_MAX;
        for (size_t i = 0; i < nhist; i++)
            hist[i] = q_history[(first + i) % GM_QUOTE_HISTORY_MAX];
    }
    pthread_mutex_unlock(&q_lock);
    c->out = render(s, hist, nhist, &c->outlen);
    free(hist);
    pthread_mutex_lock(&q_lock);
    snap_unref(s);
    pthread_mutex_unlock(&q_lock);
    if (!c->out)
        conn_error(c, "out of memory");
}

/* Read what the client sent; decide once a line is complete. */
static void conn_read(struct q_conn *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->req + c->got, GM_QUOTE_REQUEST_MAX - c->got, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_error(c, "connection closed before a complete request line");
            return;
        }
        c->got += (size_t)r;
        c->req[c->got] = '\0';
        char *nl = memchr(c->req, '\n', c->got);
        if (nl) {
            *nl = '\0';
            if (nl > c->req && nl[-1] == '\r')
                nl[-1] = '\0';
            if (!strcmp(c->req, GM_QUOTE_REQUEST))
                conn_answer(c, 0);
            else if (!strcmp(c->req, GM_QUOTE_REQUEST_HISTORY))
                conn_answer(c, 1);
            else
                conn_error(c, "unknown request: send the line '" GM_QUOTE_REQUEST "'");
            return;
        }
        if (c->got == GM_QUOTE_REQUEST_MAX) {
            conn_error(c, "request line too long");
            return;
        }
    }
}

/* Write what the socket takes; 1 when the answer is all sent. */
static int conn_write(struct q_conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w =
            send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w <= 0)
            return 1; /* the client went away */
        c->outoff += (size_t)w;
    }
    return 1;
}

static void accept_one(void)
{
    int fd = accept4(q_listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            usleep(100000); /* no descriptor now: leave them to the controller */
        return;
    }
    /* Full: the connection closest to its deadline makes room. */
    struct q_conn *slot = NULL;
    for (int i = 0; i < GM_QUOTE_MAX_CONNS; i++) {
        if (q_conns[i].fd < 0) {
            slot = &q_conns[i];
            break;
        }
        if (!slot || q_conns[i].deadline < slot->deadline)
            slot = &q_conns[i];
    }
    if (slot->fd >= 0)
        conn_close(slot);
    int64_t now = now_ms();
    slot->fd = fd;
    slot->read_deadline = now + GM_QUOTE_READ_MS;
    slot->deadline = now + GM_QUOTE_CONN_MS;
}

/* The serving thread: one poll loop over the listening socket, the wake
 * pipe and at most GM_QUOTE_MAX_CONNS clients, each closed by its deadline
 * whatever it does. */
static void *serve(void *arg)
{
    struct pollfd p[GM_QUOTE_MAX_CONNS + 2];
    int idx[GM_QUOTE_MAX_CONNS + 2];
    (void)arg;

    for (int i = 0; i < GM_QUOTE_MAX_CONNS; i++)
        q_conns[i].fd = -1;
    while (q_running) {
        int n = 0;
        int64_t now = now_ms(), wait = 1000;
        p[n++] = (struct pollfd){ .fd = q_listen_fd, .events = POLLIN };
        p[n++] = (struct pollfd){ .fd = q_wake[0], .events = POLLIN };
        for (int i = 0; i < GM_QUOTE_MAX_CONNS; i++) {
            struct q_conn *c = &q_conns[i];
            if (c->fd < 0)
                continue;
            if (now >= c->deadline) {
                conn_close(c);
                continue;
            }
            if (!c->out && now >= c->read_deadline)
                conn_error(c, "no complete request line in time");
            int64_t d = (c->out ? c->deadline : c->read_deadline) - now;
            if (d < wait)
                wait = d > 0 ? d : 0;
            idx[n] = i;
            p[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
        }
        int r = poll(p, (nfds_t)n, (int)wait);
        if (r <= 0 || p[1].revents)
            continue;
        for (int k = 2; k < n; k++) {
            struct q_conn *c = &q_conns[idx[k]];
            if (!p[k].revents || c->fd < 0)
                continue;
            if (!c->out)
                conn_read(c);
            if (c->out && conn_write(c))
                conn_close(c);
        }
        if (p[0].revents)
            accept_one();
    }
    for (int i = 0; i < GM_QUOTE_MAX_CONNS; i++)
        if (q_conns[i].fd >= 0)
            conn_close(&q_conns[i]);
    return NULL;
}

void gm_quote_stop(void)
{
    if (q_listen_fd < 0)
        return;
    q_running = 0;
    if (write(q_wake[1], "x", 1) < 0) {
        /* the thread sees q_running within a second anyway */
    }
    pthread_join(q_thread, NULL);
    close(q_listen_fd);
    close(q_wake[0]);
    close(q_wake[1]);
    q_listen_fd = q_wake[0] = q_wake[1] = -1;
    pthread_mutex_lock(&q_lock);
    snap_unref(q_current);
    q_current = NULL;
    pthread_mutex_unlock(&q_lock);
    snap_unref(q_next);
    q_next = NULL;
    q_history_count = q_history_next = 0;
    info("gpumarket: quote endpoint on port %" PRIu32 " stopped", q_port);
    q_port = 0;
}

static int listen_on(uint32_t port, const char *addr)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
                    *res = NULL;
    char service[16];
    int fd = -1, rc, one = 1;

    snprintf(service, sizeof service, "%" PRIu32, port);
    rc = getaddrinfo(addr && addr[0] ? addr : NULL, service, &hints, &res);
    if (rc != 0) {
        error("gpumarket: QuotePort=%" PRIu32 ": cannot resolve %s: %s; no quote is served", port,
              addr, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, GM_QUOTE_BACKLOG) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    if (fd < 0)
        error("gpumarket: QuotePort=%" PRIu32 ": cannot listen on %s:%" PRIu32
              ": %m; no quote is served",
              port, addr && addr[0] ? addr : "*", port);
    freeaddrinfo(res);
    return fd;
}

/* This controller's address: the SlurmctldHost entry of this host (a
 * backup that took over binds its own), else the primary's. */
static void controller_addr(char *buf, size_t len)
{
    char host[256] = "";

    buf[0] = '\0';
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    char *dot = strchr(host, '.');
    for (uint32_t i = 0; i < slurm_conf.control_cnt; i++) {
        const char *m = slurm_conf.control_machine ? slurm_conf.control_machine[i] : NULL;
        if (!m ||
            (strcmp(m, host) && (!dot || strncmp(m, host, (size_t)(dot - host)) || m[dot - host])))
            continue;
        snprintf(buf, len, "%s", slurm_conf.control_addr[i] ? slurm_conf.control_addr[i] : m);
        return;
    }
    if (slurm_conf.control_cnt && slurm_conf.control_addr && slurm_conf.control_addr[0])
        snprintf(buf, len, "%s", slurm_conf.control_addr[0]);
}

int gm_quote_configure(uint32_t port)
{
    char addr[256];
    controller_addr(addr, sizeof addr);
    if (q_listen_fd >= 0 && port == q_port && !strcmp(addr, q_addr))
        return 0; /* unchanged */
    gm_quote_stop();
    if (port == 0)
        return 0;
    int fd = listen_on(port, addr);
    if (fd < 0)
        return -1;
    if (pipe2(q_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        error("gpumarket: quote endpoint: pipe: %m; no quote is served");
        close(fd);
        return -1;
    }
    q_listen_fd = fd;
    q_port = port;
    snprintf(q_addr, sizeof q_addr, "%s", addr);
    q_running = 1;
    if (pthread_create(&q_thread, NULL, serve, NULL) != 0) {
        error("gpumarket: quote endpoint: cannot start its thread: %m; no quote is served");
        q_running = 0;
        close(q_listen_fd);
        close(q_wake[0]);
        close(q_wake[1]);
        q_listen_fd = q_wake[0] = q_wake[1] = -1;
        q_port = 0;
        return -1;
    }
    info("gpumarket: quote endpoint listening on %s:%" PRIu32 " (QuotePort)", addr[0] ? addr : "*",
         port);
    return 0;
}
