/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Receipts from slurmctld: every lease segment of a market job ends in
 * exactly one signed receipt in the ledger.
 *
 * The segment journal (settlement/segments.c) records each segment's start
 * and end from the locked select_p_* calls with one write(2) each; a writer
 * thread that holds no slurmctld lock fdatasyncs it, signs the receipts of
 * ended segments and appends them to the ledger as one group, and records
 * them as receipted.  The ledger refuses a second receipt for a segment, so
 * a crash between the append and that record only repeats an append that
 * is then recognised.  After a restart the journal is reconciled with
 * slurmctld's job list (see gm_receipts_start).  doc/select-plugin.md has
 * the design; slurm-select-facts.md sections 3, 4, 7, 10 and 12 the facts.
 *
 * Lock order: slurmctld's locks, the plugin's gm_lock, rc_lock, the
 * journal's own mutex.  The writer thread takes only rc_lock and the
 * journal's mutex, never slurmctld's locks or gm_lock. */
#include "config.h" /* Slurm's own, from the configured source tree */

#include "slurm-plugin/select/receipts.h"

#include "common/conf.h"
#include "market/energy.h"
#include "settlement/gpumarket-settlement.h"
#include "src/common/log.h"
#include "src/common/read_config.h"
#include "src/common/uid.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"
#include "src/slurmctld/slurmctld.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#define GM_JOURNAL_FILE    "gpumarket_segments"
#define GM_HEARTBEAT_EVERY 30   /* seconds between "alive" records */
#define GM_RETRY_MAX       30   /* seconds between tries after an error */
#define GM_SETTLE_BATCH    256  /* receipts per group commit */
#define GM_KEEP_DONE       7200 /* seconds a receipted segment is remembered */

static pthread_mutex_t rc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rc_cond = PTHREAD_COND_INITIALIZER;
static gm_segments *rc_journal;
static char *rc_journal_path;
static int rc_started;
/* The writer's settings, copied from gpumarket.conf under rc_lock. */
static char *rc_key_path, *rc_ledger_dir, *rc_origin;
/* VerifierKeys, one path a line: the cluster's earlier keys, whose
 * signatures the writer accepts on the records it builds on. */
static char *rc_verifier_keys;
/* Governance: PolicyAdmins (one path a line) and PolicyThreshold; 0 when off. */
static char *rc_policy_admins;
static unsigned rc_policy_threshold;
static unsigned rc_conf_gen, rc_wakeups;

/* ------------------------------------------------------------ segment data */

/* The receipt's fixed part, from slurmctld's record and the lease. */
static int gm_receipt_opening(job_record_t *job_ptr, const struct gm_job_lease *l,
                              const char *order, struct gm_receipt *r)
{
    const char *user = job_ptr->user_name;
    memset(r, 0, sizeof *r);
    r->version = GM_RECEIPT_VERSION;
    snprintf(r->cluster, sizeof r->cluster, "%s",
             slurm_conf.cluster_name ? slurm_conf.cluster_name : "cluster");
    if (job_ptr->array_task_id != NO_VAL && job_ptr->array_job_id) {
        r->job_id = job_ptr->array_job_id;
        r->has_array_task = 1;
        r->array_task = job_ptr->array_task_id;
    } else {
        r->job_id = job_ptr->job_id;
    }
    r->segment = job_ptr->restart_cnt;
    if (!user || !user[0])
        user = uid_to_string_cached((uid_t)job_ptr->user_id);
    snprintf(r->user, sizeof r->user, "%s", user);
    snprintf(r->account, sizeof r->account, "%s",
             job_ptr->account && job_ptr->account[0] ? job_ptr->account : "(none)");
    if (!job_ptr->nodes || strlen(job_ptr->nodes) >= sizeof r->nodes)
        return -1;
    snprintf(r->nodes, sizeof r->nodes, "%s", job_ptr->nodes);
    snprintf(r->gpu_type, sizeof r->gpu_type, "%s", l->type);
    r->gpu_count = l->gpus;
    r->start = (int64_t)job_ptr->start_time;
    r->price_micro_per_gpu_hour = l->price;
    if (order && order[0]) {
        r->has_market_order = 1;
        snprintf(r->market_order, sizeof r->market_order, "%s", order);
    }
    return 0;
}

/* Why a run ended, from its state at select_p_job_fini (facts section 3). */
static enum gm_end_reason gm_end_reason_of(job_record_t *job_ptr)
{
    switch (job_ptr->job_state & JOB_STATE_BASE) {
    case JOB_COMPLETE:
        return GM_END_COMPLETED;
    case JOB_CANCELLED:
        return GM_END_CANCELLED;
    case JOB_TIMEOUT:
    case JOB_DEADLINE:
        return GM_END_TIMEOUT;
    case JOB_NODE_FAIL:
    case JOB_BOOT_FAIL:
        return GM_END_NODE_FAIL;
    case JOB_PREEMPTED:
        return GM_END_PREEMPTED;
    case JOB_PENDING: /* requeued: by preemption, or by scontrol/RequeueExit */
        return job_ptr->preempt_time ? GM_END_PREEMPTED : GM_END_REQUEUED;
    default: /* FAILED, OOM */
        /* Ended after its preemption notice: a runtime that checkpoints
         * within GraceTime exits on its own (RequeueExit, e.g. 75), and the
         * job is FAILED here; Slurm requeues it only after the epilog. */
        return job_ptr->preempt_time ? GM_END_PREEMPTED : GM_END_FAILED;
    }
}

/* Energy of the segment: Slurm's own meter when it has one (the steps
 * finished by now; see doc/select-plugin.md for what that misses), else
 * GPUPower x GPU-seconds; emissions from CarbonIntensity. */
static void gm_end_energy(job_record_t *job_ptr, const struct gm_conf *conf,
                          const struct gm_job_lease *l, int64_t end, struct gm_segment_end *e)
{
    int64_t g_per_kwh;
    e->energy_mj = e->emissions_mg = -1;
    e->energy_source = NULL;
    if (job_ptr->tres_alloc_cnt && job_ptr->tres_alloc_cnt[TRES_ARRAY_ENERGY] != NO_VAL64 &&
        job_ptr->tres_alloc_cnt[TRES_ARRAY_ENERGY] > 0 &&
        job_ptr->tres_alloc_cnt[TRES_ARRAY_ENERGY] <= (uint64_t)(GM_RECEIPT_INT_MAX / 1000)) {
        e->energy_mj = (int64_t)job_ptr->tres_alloc_cnt[TRES_ARRAY_ENERGY] * 1000;
        e->energy_source = "metered";
    } else if (conf && l) {
        int64_t watts = gm_conf_gpu_power(conf, l->type);
        int64_t secs = end > l->start ? end - l->start : 0;
        if (watts > 0 && secs <= GM_RECEIPT_INT_MAX / (l->gpus ? l->gpus : 1) &&
            gm_energy_estimate(watts, secs * l->gpus, &e->energy_mj) == 0)
            e->energy_source = "estimated";
        else
            e->energy_mj = -1;
    }
    if (e->energy_mj >= 0 && conf && gm_conf_carbon_intensity(conf, &g_per_kwh) == 0 &&
        gm_energy_emissions(e->energy_mj, g_per_kwh, &e->emissions_mg) != 0)
        e->emissions_mg = -1;
}

/* ------------------------------------------------------------ the writer */

/* Log `msg` at error level unless it is the one logged last. */
static void gm_error_once(char *last, size_t lastlen, const char *msg)
{
    if (!strcmp(last, msg))
        return;
    error("gpumarket: %s", msg);
    snprintf(last, lastlen, "%s", msg);
}

/* Load the public keys at `paths` (one a line, at most max) into keys,
 * logging each that does not load, named by the gpumarket.conf key `what`,
 * and leaving it out.  Returns how many loaded. */
static size_t gm_load_keys(const char *paths, const char *what, gm_key **keys, size_t max,
                           char *last, size_t lastlen)
{
    size_t n = 0;
    char err[1024], msg[1400];
    char *copy = xstrdup(paths), *save = NULL;
    for (char *p = copy ? strtok_r(copy, "\n", &save) : NULL; p && n < max;
         p = strtok_r(NULL, "\n", &save)) {
        if (!(keys[n] = gm_key_load_public(p, err, sizeof err))) {
            snprintf(msg, sizeof msg, "%s in gpumarket.conf: %s: %s", what, p, err);
            gm_error_once(last, lastlen, msg);
            continue;
        }
        n++;
    }
    xfree(copy);
    return n;
}

/* Load the keys VerifierKeys pins and hand them to the ledger, so that
 * appends go on after a key rotation.  A key that does not load is logged
 * and left out: the ledger then refuses what only that key signed, and
 * says so. */
static size_t gm_trust_pinned(gm_ledger *ledger, const char *paths, gm_key **keys, char *last,
                              size_t lastlen)
{
    char err[1024], msg[1400];
    size_t n = gm_load_keys(paths, "VerifierKeys", keys, GM_LEDGER_TRUSTED_MAX, last, lastlen);
    if (n > 0 && gm_ledger_trust_keys(ledger, keys, n, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "VerifierKeys in gpumarket.conf: %s", err);
        gm_error_once(last, lastlen, msg);
    }
    return n;
}

static void gm_untrust(gm_key **keys, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        gm_key_free(keys[i]);
    *n = 0;
}

/* Load the admins PolicyAdmins lists (one path a line) and have the ledger
 * check policy records against them.  Returns how many loaded; one that
 * does not load is logged and left out (a record then needs the others). */
static size_t gm_trust_admins(gm_ledger *ledger, const char *paths, unsigned threshold,
                              gm_key **keys, struct gm_governance_admins *admins, char *last,
                              size_t lastlen)
{
    char err[1024], msg[1400];
    size_t n = gm_load_keys(paths, "PolicyAdmins", keys, GM_CONF_MAX_POLICY_ADMINS, last, lastlen);
    *admins = (struct gm_governance_admins){ keys, n, threshold };
    if (n < threshold) {
        snprintf(msg, sizeof msg,
                 "PolicyAdmins in gpumarket.conf: %zu admin key(s) loaded, PolicyThreshold is %u: "
                 "no policy can be checked, so the market stays closed",
                 n, threshold);
        gm_error_once(last, lastlen, msg);
        return n;
    }
    if (gm_ledger_trust_policy_admins(ledger, admins, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "PolicyAdmins in gpumarket.conf: %s", err);
        gm_error_once(last, lastlen, msg);
    }
    return n;
}

/* The policy in force in the ledger, when it is new to this writer: checked
 * against the admins and handed to the plugin (gm_market_policy_seen), which
 * prices under it from its applied time on.  Returns -1 when the ledger
 * could not be read (close and open it again). */
static int gm_watch_policy(gm_ledger *ledger, const struct gm_governance_admins *admins,
                           uint64_t *seen_index, int *seen, char *last, size_t lastlen)
{
    gm_governance_record *rec = NULL;
    uint64_t index;
    char err[1024], msg[1400];

    if (gm_ledger_refresh(ledger, err, sizeof err) != 0)
        goto fail;
    /* Read and check the record only when it is new to this writer. */
    int r = gm_ledger_policy_last(ledger, &index, err, sizeof err);
    if (r < 0)
        goto fail;
    if (r == 0 || (*seen && *seen_index == index))
        return 0;
    if (gm_ledger_policy_in_force(ledger, &rec, &index, err, sizeof err) != 1)
        goto fail;
    if (admins->nkeys < admins->threshold ||
        gm_governance_record_check(rec, admins, NULL, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg,
                 "ledger record %" PRIu64 ": a policy that PolicyAdmins did not sign: %s; the "
                 "market keeps the policy it had",
                 index, admins->nkeys < admins->threshold ? "too few admin keys loaded" : err);
        gm_error_once(last, lastlen, msg);
    } else {
        gm_market_policy_seen(rec, index);
        *seen_index = index;
        *seen = 1;
    }
    gm_governance_record_destroy(rec);
    return 0;
fail:
    snprintf(msg, sizeof msg, "the market policy cannot be read from the ledger: %s", err);
    gm_error_once(last, lastlen, msg);
    return -1;
}

static void *gm_writer(void *arg)
{
    gm_key *key = NULL;
    gm_ledger *ledger = NULL;
    gm_key *trusted[GM_LEDGER_TRUSTED_MAX];
    size_t ntrusted = 0;
    gm_key *admin_keys[GM_CONF_MAX_POLICY_ADMINS];
    size_t nadmins = 0;
    struct gm_governance_admins admins = { admin_keys, 0, 0 };
    uint64_t policy_index = 0;
    int policy_seen = 0;
    unsigned conf_gen = 0;
    time_t last_beat = 0, retry_at = 0;
    int backoff = 1;
    char err[1024], msg[1400], last[1400] = "";
    (void)arg;

    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&rc_lock);
        if (!rc_wakeups)
            pthread_cond_timedwait(&rc_cond, &rc_lock, &until);
        rc_wakeups = 0;
        char *key_path = xstrdup(rc_key_path), *dir = xstrdup(rc_ledger_dir),
             *origin = xstrdup(rc_origin), *pinned = xstrdup(rc_verifier_keys),
             *admin_paths = xstrdup(rc_policy_admins);
        unsigned threshold = rc_policy_threshold;
        if (conf_gen != rc_conf_gen) { /* reconfigured: load the keys again */
            conf_gen = rc_conf_gen;
            gm_key_free(key);
            key = NULL;
            gm_ledger_close(ledger);
            ledger = NULL;
            gm_untrust(trusted, &ntrusted);
            gm_untrust(admin_keys, &nadmins);
            admins.nkeys = 0;
            policy_seen = 0; /* hand the policy in force over again */
            retry_at = 0;
        }
        pthread_mutex_unlock(&rc_lock);

        time_t now = time(NULL);
        if (now - last_beat >= GM_HEARTBEAT_EVERY) {
            if (gm_segments_heartbeat(rc_journal, now, err, sizeof err) != 0)
                gm_error_once(last, sizeof last, err);
            last_beat = now;
        }
        struct gm_segments_counts c;
        gm_segments_counts(rc_journal, &c);
        if (c.behind || c.records > 2 * (c.open + c.waiting + c.done) + 4096) {
            if (gm_segments_compact(rc_journal, now, GM_KEEP_DONE, err, sizeof err) != 0) {
                snprintf(msg, sizeof msg, "%s; segment events wait in memory", err);
                gm_error_once(last, sizeof last, msg);
            }
            gm_segments_counts(rc_journal, &c);
        }
        /* With governance the ledger is watched for policy changes even
         * when no receipt waits. */
        if ((c.waiting == 0 && !threshold) || now < retry_at)
            goto next;
        if (!key_path) {
            snprintf(msg, sizeof msg,
                     "receipts are not written: gpumarket.conf did not load; %zu ended segment(s) "
                     "wait in %s",
                     c.waiting, rc_journal_path);
            gm_error_once(last, sizeof last, msg);
            retry_at = now + GM_RETRY_MAX;
            goto next;
        }
        if (!key) {
            key = gm_key_load_private(key_path, NULL, err, sizeof err);
            if (!key) {
                snprintf(msg, sizeof msg,
                         "receipts are not written: %s (ReceiptKey in gpumarket.conf); %zu ended "
                         "segment(s) wait in %s",
                         err, c.waiting, rc_journal_path);
                gm_error_once(last, sizeof last, msg);
                retry_at = now + GM_RETRY_MAX;
                goto next;
            }
        }
        if (!ledger) {
            ledger =
                gm_ledger_open(dir, GM_LEDGER_CREATE | GM_LEDGER_WRITE,
                               origin && origin[0] ? origin : gm_key_name(key), err, sizeof err);
            if (!ledger) {
                snprintf(msg, sizeof msg,
                         "receipts are not written: ledger %s: %s; %zu ended segment(s) wait in %s",
                         dir, err, c.waiting, rc_journal_path);
                gm_error_once(last, sizeof last, msg);
                retry_at = now + backoff;
                backoff = backoff * 2 > GM_RETRY_MAX ? GM_RETRY_MAX : backoff * 2;
                goto next;
            }
            gm_untrust(trusted, &ntrusted);
            ntrusted = gm_trust_pinned(ledger, pinned, trusted, last, sizeof last);
            gm_untrust(admin_keys, &nadmins);
            admins.nkeys = 0;
            if (threshold)
                nadmins = gm_trust_admins(ledger, admin_paths, threshold, admin_keys, &admins, last,
                                          sizeof last);
        }
        if (threshold &&
            gm_watch_policy(ledger, &admins, &policy_index, &policy_seen, last, sizeof last) != 0) {
            gm_ledger_close(ledger); /* opened again, and checked, next time */
            ledger = NULL;
            retry_at = now + backoff;
            backoff = backoff * 2 > GM_RETRY_MAX ? GM_RETRY_MAX : backoff * 2;
            goto next;
        }
        if (c.waiting == 0)
            goto next;
        err[0] = '\0';
        int n = gm_segments_settle(rc_journal, ledger, key, GM_SETTLE_BATCH, now, err, sizeof err);
        if (n == -1) {
            snprintf(msg, sizeof msg,
                     "receipts are not written: ledger %s: %s; %zu ended segment(s) wait in %s and "
                     "are written when it can be",
                     dir, err, c.waiting, rc_journal_path);
            gm_error_once(last, sizeof last, msg);
            gm_ledger_close(ledger); /* opened again, and checked, next time */
            ledger = NULL;
            retry_at = now + backoff;
            backoff = backoff * 2 > GM_RETRY_MAX ? GM_RETRY_MAX : backoff * 2;
            goto next;
        }
        if (n == -2 || (n > 0 && err[0] && strstr(err, "cannot be receipted"))) {
            gm_error_once(last, sizeof last, err);
            retry_at = now + GM_RETRY_MAX;
        }
        if (n > 0) {
            if (last[0] && !strstr(last, "cannot be receipted")) {
                info("gpumarket: receipts are written again to %s", dir);
                last[0] = '\0';
            }
            backoff = 1;
            debug("gpumarket: %d receipt(s) appended to %s", n, dir);
            pthread_mutex_lock(&rc_lock);
            rc_wakeups++; /* more may wait: go round at once */
            pthread_mutex_unlock(&rc_lock);
        }
        err[0] = '\0';
    next:
        xfree(admin_paths);
        xfree(key_path);
        xfree(dir);
        xfree(origin);
        xfree(pinned);
    }
    return NULL;
}

/* ------------------------------------------------------------ entry points */

void gm_receipts_configure(const struct gm_conf *conf)
{
    if (!conf)
        return;
    pthread_mutex_lock(&rc_lock);
    xfree(rc_key_path);
    xfree(rc_ledger_dir);
    xfree(rc_origin);
    rc_key_path = xstrdup(gm_conf_receipt_key(conf));
    rc_ledger_dir = xstrdup(gm_conf_ledger_dir(conf));
    rc_origin = xstrdup(gm_conf_ledger_origin(conf) ? gm_conf_ledger_origin(conf) : "");
    xfree(rc_verifier_keys);
    for (size_t i = 0; i < gm_conf_verifier_key_count(conf); i++)
        xstrfmtcat(rc_verifier_keys, "%s\n", gm_conf_verifier_key(conf, i));
    xfree(rc_policy_admins);
    for (size_t i = 0; i < gm_conf_policy_admin_count(conf); i++)
        xstrfmtcat(rc_policy_admins, "%s\n", gm_conf_policy_admin(conf, i));
    rc_policy_threshold = gm_conf_policy_threshold(conf);
    rc_conf_gen++;
    rc_wakeups++;
    pthread_cond_signal(&rc_cond);
    pthread_mutex_unlock(&rc_lock);
}

/* Close a segment that ended while no controller watched it (kill -9, or a
 * job state rolled back to an older save). */
static void gm_recover_one(const struct gm_segment_key *k, int64_t last_seen)
{
    job_record_t *job_ptr = find_job_record(k->job);
    struct gm_segment_end e = { .energy_mj = -1, .emissions_mg = -1 };
    char err[512];

    if (job_ptr && (int64_t)job_ptr->start_time == k->start &&
        (IS_JOB_RUNNING(job_ptr) || IS_JOB_SUSPENDED(job_ptr)))
        return; /* still running: stays open */
    if (job_ptr && (int64_t)job_ptr->start_time == k->start && job_ptr->end_time > k->start &&
        !IS_JOB_PENDING(job_ptr)) {
        e.end = (int64_t)job_ptr->end_time;
        e.reason = gm_end_reason_of(job_ptr);
        e.recovered = "job_record";
    } else {
        /* The job record no longer shows this run: it ended between the
         * last time the journal saw the controller alive and the restart. */
        e.end = last_seen > k->start ? last_seen : k->start;
        e.reason = job_ptr ? GM_END_REQUEUED : GM_END_LOST;
        e.recovered = "last_seen";
    }
    if (gm_segments_end(rc_journal, k->job, k->start, &e, err, sizeof err) < 0)
        error("gpumarket: %s", err);
    info("gpumarket: segment of job %u started %" PRId64 " closed after a restart: end %" PRId64
         " (%s), %s",
         k->job, k->start, e.end, e.recovered, gm_receipt_end_reason_name(e.reason));
}

void gm_receipts_start(const struct gm_conf *conf)
{
    char err[1024];
    struct gm_segment_key *keys = NULL;
    size_t n = 0;

    if (rc_started)
        return; /* reconfigure: job_init runs again; recovery is once a process */
    rc_started = 1;
    if (conf && !gm_conf_receipts(conf)) {
        info("gpumarket: receipts are off (Receipts=no in gpumarket.conf): lease segments are "
             "not recorded");
        if (gm_conf_policy_threshold(conf))
            error("gpumarket: PolicyThreshold is set but Receipts=no: slurmctld reads the market "
                  "policy from the ledger its receipt writer keeps, so no policy comes in force "
                  "and market jobs wait; set Receipts=yes");
        return;
    }
    gm_receipts_configure(conf);
    if (!slurm_conf.state_save_location) {
        error("gpumarket: receipts are disabled: StateSaveLocation is not set");
        return;
    }
    rc_journal_path = xstrdup_printf("%s/%s", slurm_conf.state_save_location, GM_JOURNAL_FILE);
    rc_journal = gm_segments_open(rc_journal_path, err, sizeof err);
    if (!rc_journal) {
        error("gpumarket: receipts are disabled: segment journal %s; fix it and restart "
              "slurmctld (market jobs still run; their segments are not recorded)",
              err);
        return;
    }
    if (gm_segments_torn_bytes(rc_journal))
        info("gpumarket: %s: cut a torn last record (%" PRIu64 " bytes) left by a crash",
             rc_journal_path, gm_segments_torn_bytes(rc_journal));
    if (gm_segments_damaged(rc_journal))
        error("gpumarket: %s: %" PRIu64 " damaged record(s) skipped", rc_journal_path,
              gm_segments_damaged(rc_journal));
    int64_t last_seen = gm_segments_last_seen(rc_journal);
    if (gm_segments_list_open(rc_journal, &keys, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            gm_recover_one(&keys[i], last_seen);
        free(keys);
    }
    struct gm_segments_counts c;
    gm_segments_counts(rc_journal, &c);
    info("gpumarket: segment journal %s: %zu running, %zu waiting for a receipt", rc_journal_path,
         c.open, c.waiting);

    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, gm_writer, NULL) != 0)
        error("gpumarket: cannot start the receipt writer: %m; segments are recorded in %s and "
              "receipted after the next restart",
              rc_journal_path);
    pthread_attr_destroy(&attr);
}

int gm_receipts_need_begin(job_record_t *job_ptr)
{
    /* Known already: a restart or reconfigure, or a stale record of a run
     * that has ended (kill -9 restored an older job state). */
    return rc_journal && gm_segments_state(rc_journal, job_ptr->job_id,
                                           (int64_t)job_ptr->start_time) == GM_SEGMENT_NONE;
}

void gm_receipts_begin(job_record_t *job_ptr, const struct gm_job_lease *l, const char *order)
{
    struct gm_receipt r;
    char err[1024];

    if (!rc_journal || !l || l->gpus == 0)
        return; /* gm_segments_begin below does nothing for a known run */
    if (gm_receipt_opening(job_ptr, l, order, &r) != 0) {
        error("gpumarket: %pJ: its node list is too long for a receipt (%zu bytes max): its "
              "segment is not recorded",
              job_ptr, (size_t)GM_RECEIPT_NODES_MAX);
        return;
    }
    if (gm_segments_begin(rc_journal, job_ptr->job_id, &r, (int64_t)time(NULL), err, sizeof err) <
        0)
        error("gpumarket: %s", err);
}

void gm_receipts_end(job_record_t *job_ptr, const struct gm_conf *conf,
                     const struct gm_job_lease *l)
{
    struct gm_segment_end e;
    char err[1024];
    int64_t start = (int64_t)job_ptr->start_time;

    if (!rc_journal)
        return;
    e.end = job_ptr->end_time ? (int64_t)job_ptr->end_time : (int64_t)time(NULL);
    e.reason = gm_end_reason_of(job_ptr);
    e.recovered = NULL;
    gm_end_energy(job_ptr, conf, l && l->start == start ? l : NULL, e.end, &e);
    /* One lookup: 1 when this run has no open segment (a local job, or a
     * second fini for the run). */
    int rc = gm_segments_end(rc_journal, job_ptr->job_id, start, &e, err, sizeof err);
    if (rc < 0)
        error("gpumarket: %s", err);
    if (rc == 0) {
        pthread_mutex_lock(&rc_lock);
        rc_wakeups++;
        pthread_cond_signal(&rc_cond);
        pthread_mutex_unlock(&rc_lock);
    }
}

void gm_receipts_heartbeat(void)
{
    char err[1024];
    if (rc_journal && gm_segments_heartbeat(rc_journal, (int64_t)time(NULL), err, sizeof err) < 0)
        error("gpumarket: %s", err);
}
