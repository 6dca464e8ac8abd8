/* SPDX-License-Identifier: GPL-2.0-or-later */
/* select/cons_tres_gpumarket: Slurm's select/cons_tres, loaded inside this
 * plugin and called for every operation, plus the GPU market inside
 * slurmctld: offers, the clearing price, admission of market jobs, lease
 * terms at start and the preemption order.  doc/select-plugin.md explains
 * the design; the rules themselves live in market/ (pure, unit-tested).
 *
 * Built against the configured Slurm source tree of the running version
 * (--with-slurm-source); its symbols resolve inside slurmctld, slurmd and
 * the client commands when they load it.  Only slurmctld does market work. */
#include "config.h" /* Slurm's own, from the configured source tree */

#include "common/conf.h"
#include "common/money.h"
#include "market/flags.h"
#include "market/job.h"
#include "market/policy.h"
#include "slurm-plugin/select/quote.h"
#include "slurm-plugin/select/receipts.h"
#include "src/common/bitstring.h"
#include "src/common/gres.h"
#include "src/common/list.h"
#include "src/common/log.h"
#include "src/common/node_conf.h"
#include "src/common/plugin.h"
#include "src/common/read_config.h"
#include "src/common/run_in_daemon.h"
#include "src/common/select.h"
#include "src/common/slurm_xlator.h"
#include "src/common/xmalloc.h"
#include "src/common/xstring.h"
#include "src/slurmctld/locks.h"
#include "src/slurmctld/slurmctld.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char plugin_name[] = "gpumarket: cons_tres with GPU market policy";
const char plugin_type[] = "select/cons_tres_gpumarket";
#define GM_CLOSED_REASON                                                                     \
    "gpumarket: no market policy in force yet (PolicyThreshold is set): the admins put one " \
    "in force with gpumarket policy apply"

/* Unique among select plugins (101-110 are Slurm's own); node information
 * is packed with it, so every host must have this plugin installed. */
const uint32_t plugin_id = 190;
const uint32_t plugin_version = SLURM_VERSION_NUMBER;

/* slurmctld's data; defined here so that clients and slurmd, which load this
 * plugin too, resolve them (programs linked with the public libslurm lack
 * even libslurmfull's node table).  slurmctld's own (exported) definitions
 * take precedence when slurmctld loads the plugin, as in cons_common. */
List job_list;
List part_list;
time_t last_job_update;
diag_stats_t slurmctld_diag_stats;
time_t last_node_update;
int node_record_count;

/* The wrapped plugin's operations, resolved by plugin_context_create with
 * Slurm's own symbol list, in slurm_select_ops_t order. */
static slurm_select_ops_t cons_tres;
static plugin_context_t *cons_tres_context;

/* Everything below is slurmctld-only and guarded by gm_lock, which is always
 * taken AFTER slurmctld's own locks (select_p_* calls arrive holding them;
 * the enforcement thread takes them first). */
static pthread_mutex_t gm_lock = PTHREAD_MUTEX_INITIALIZER;
static int gm_active; /* running inside slurmctld with a policy loaded once */
/* The configuration slurmctld prices under: gpumarket.conf as read
 * (gm_file_conf) or, with governance (PolicyThreshold), the file with the
 * market values of the policy in force in the ledger. */
static struct gm_conf *gm_conf;
static struct gm_conf *gm_file_conf;
static char *gm_conf_path;
static unsigned gm_conf_gen;
static uint32_t gm_gpu_plugin_id;

/* The policy engine, remade when the configuration or the set of GPU types
 * changes (it keeps the last market of each type for the price history). */
static struct gm_policy *gm_engine;
static unsigned gm_engine_conf_gen;
static char **gm_engine_types;
static size_t gm_engine_type_count;

/* Per-GPU idle-since times, by node index: 0 while allocated. */
struct gm_node_idle {
    char *name;
    uint32_t ndev;
    int64_t *since;
};
static struct gm_node_idle *gm_idle;
static size_t gm_idle_count;
/* Idle times read from the state file, waiting for their node's first scan. */
struct gm_idle_saved {
    char name[128];
    uint32_t dev;
    int64_t since;
};
static struct gm_idle_saved *gm_saved;
static size_t gm_saved_count;
static int64_t gm_start_time;

#define GM_STATE_FILE "gpumarket_select_state"

/* A pending market job the snapshot could not price, with the reason. */
struct gm_refusal {
    uint32_t job_id;
    char reason[GM_JOB_TEXT_MAX];
};

/* The market snapshot: rebuilt at most once per scheduling pass (and after
 * a market job starts or any job ends), never once per job_test call. */
static struct {
    int valid;
    uint32_t sched_cycles;
    time_t bf_last;
    time_t node_update;
    time_t job_update;
    unsigned dirty;
    struct gm_policy_result *result;
    uint32_t *node_index; /* snapshot node -> node_record index */
    size_t node_count;
    struct gm_refusal *refusals;
    size_t refusal_count;
} gm_snap;
static unsigned gm_dirty;

/* The verdict of the last RUN_NOW test that admitted a market job, for its
 * job_begin: slurmctld holds its job and node write locks from that test to
 * job_begin, so nothing can have moved the market in between, but a job
 * array's task is split off its pending record there (job_array_post_sched)
 * and begins under a new job id that the snapshot does not know. */
static struct {
    job_record_t *job;
    uint32_t job_id; /* the job id it was tested under */
    unsigned policy_serial;
    struct gm_policy_verdict verdict;
} gm_admitted;

/* Leases of running market jobs, one per segment (job id, start).  The
 * receipts issue closes segments in select_p_job_fini from this table. */
static struct gm_job_lease *gm_leases;
static size_t gm_lease_count, gm_lease_cap;
static volatile int gm_capped_leases; /* leases with a time cap, read unlocked */
static pthread_t gm_thread;
static int gm_thread_started;

/* Price history of this controller (also in the log). */
#define GM_HISTORY_MAX 4096
static struct gm_policy_price_record gm_history[GM_HISTORY_MAX];
static size_t gm_history_count, gm_history_next;

/* ---------------------------------------------------------------- config */

/* Governance: the policy in force, and one the receipt writer has seen in
 * the ledger that comes in force at its applied time (gpumarket policy
 * apply sets that a few seconds ahead, so the switch falls on the second
 * the ledger names and every receipt names the policy it was priced
 * under). */
struct gm_market_policy {
    struct gm_conf *market; /* its market values; NULL: none */
    char hash[2 * GM_HASH_LEN + 1];
    int64_t applied;
    uint64_t index; /* its ledger leaf */
};
static struct gm_market_policy gm_policy, gm_policy_next;
static unsigned gm_policy_serial; /* policies put in force */

static int gm_governed(void)
{
    return gm_file_conf && gm_conf_policy_threshold(gm_file_conf) > 0;
}

#define GM_WHY_POLICY "policy in force"

/* With governance and no policy in force yet, market jobs wait. */
static int gm_market_closed(void)
{
    return gm_governed() && !gm_policy.market;
}

static void gm_note_key(const char *key, void *arg)
{
    char *list = arg;
    size_t n = strlen(list);
    snprintf(list + n, 256 - n, "%s%s", n ? ", " : "", key);
}

/* Make gm_conf from the file and, with governance, the policy in force;
 * say when the file's market values were edited by hand. */
static void gm_make_effective(const char *why)
{
    struct gm_conf *eff;
    char keys[256] = "";

    if (gm_governed() && gm_policy.market) {
        int differ = gm_conf_market_differences(gm_policy.market, gm_file_conf, gm_note_key, keys);
        if (differ && !strcmp(why, GM_WHY_POLICY))
            info("gpumarket: %s: %s differ from the market policy now in force (%.16s..., "
                 "ledger record %" PRIu64 "): the policy's values apply; make the file match "
                 "gpumarket policy show",
                 gm_conf_path, keys, gm_policy.hash, gm_policy.index);
        else if (differ)
            error("gpumarket: %s (%s): %s differ from the market policy in force (%.16s..., "
                  "ledger record %" PRIu64 "): a hand edit takes no effect, prices stay under "
                  "the policy; change them with gpumarket policy propose, sign and apply",
                  gm_conf_path, why, keys, gm_policy.hash, gm_policy.index);
        eff = gm_conf_with_market(gm_file_conf, gm_policy.market);
    } else {
        eff = gm_conf_with_market(gm_file_conf, gm_file_conf);
    }
    if (!eff) {
        error("gpumarket: out of memory applying %s (%s); keeping the last market policy",
              gm_conf_path, why);
        return;
    }
    gm_conf_destroy(gm_conf);
    gm_conf = eff;
    gm_conf_gen++;
    gm_dirty++;
}

/* Put the policy seen in the ledger in force once its time has come
 * (gm_lock and slurmctld's job and node write locks held). */
static void gm_policy_tick(int64_t now)
{
    if (!gm_policy_next.market || gm_policy_next.applied > now)
        return;
    gm_conf_destroy(gm_policy.market);
    gm_policy = gm_policy_next;
    memset(&gm_policy_next, 0, sizeof gm_policy_next);
    gm_policy_serial++;
    if (!gm_governed())
        return; /* governance was turned off since: kept for when it is on */
    gm_make_effective(GM_WHY_POLICY);
    info("gpumarket: market policy %s (ledger record %" PRIu64 ") in force: ReserveGPUsPerNode=%u "
         "IdleDwellSeconds=%" PRId64,
         gm_policy.hash, gm_policy.index, gm_conf_reserve_gpus_per_node(gm_conf),
         gm_conf_idle_dwell_seconds(gm_conf));
}

void gm_market_policy_seen(const gm_governance_record *record, uint64_t index)
{
    const gm_governance_proposal *p = gm_governance_record_proposal(record);
    const struct gm_conf *pc = p ? gm_governance_proposal_conf(p) : NULL;
    struct gm_conf *copy = pc ? gm_conf_with_market(pc, pc) : NULL;
    const char *hash = p ? gm_governance_proposal_hash(p) : "";

    if (!copy) {
        error("gpumarket: market policy of ledger record %" PRIu64 " not taken: out of memory",
              index);
        return;
    }
    pthread_mutex_lock(&gm_lock);
    if ((gm_policy.market && !strcmp(gm_policy.hash, hash)) ||
        (gm_policy_next.market && !strcmp(gm_policy_next.hash, hash))) {
        pthread_mutex_unlock(&gm_lock);
        gm_conf_destroy(copy);
        return;
    }
    gm_conf_destroy(gm_policy_next.market);
    gm_policy_next.market = copy;
    snprintf(gm_policy_next.hash, sizeof gm_policy_next.hash, "%s", hash);
    gm_policy_next.applied = gm_governance_record_applied(record);
    gm_policy_next.index = index;
    gm_dirty++;
    char when[64];
    time_t t = (time_t)gm_policy_next.applied;
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime_r(&t, &tm));
    info("gpumarket: market policy %s (ledger record %" PRIu64 ", %zu signatures) in the "
         "ledger; in force from %s",
         hash, index, gm_governance_record_signature_count(record), when);
    pthread_mutex_unlock(&gm_lock);
}

/* (Re)read gpumarket.conf; a bad file keeps the last good policy. */
static void gm_load_conf(const char *why)
{
    struct gm_conf *conf = NULL;
    char err[1024];

    if (!gm_conf_path)
        gm_conf_path = get_extra_conf_path("gpumarket.conf");
    if (gm_conf_load(gm_conf_path, &conf, err, sizeof err) != 0) {
        if (gm_conf)
            error("%s (%s); keeping the last good market policy", err, why);
        else
            error("%s (%s); no market policy: jobs of any partition are scheduled as by "
                  "select/cons_tres until gpumarket.conf is fixed and `scontrol reconfigure` runs",
                  err, why);
        return;
    }
    gm_conf_destroy(gm_file_conf);
    gm_file_conf = conf;
    /* The writer takes only the file's paths and keys, no market value: a
     * policy coming in force does not make it load them again. */
    gm_receipts_configure(gm_file_conf);
    gm_make_effective(why);
    if (gm_market_closed())
        info("gpumarket: %s (%s): governance is on (PolicyThreshold=%u): market jobs wait until "
             "the admins put a market policy in force (gpumarket policy apply)",
             gm_conf_path, why, gm_conf_policy_threshold(gm_file_conf));
    else
        info("gpumarket: market policy from %s (%s): MarketPartition=%s ReserveGPUsPerNode=%u "
             "IdleDwellSeconds=%" PRId64 "%s%s",
             gm_conf_path, why, gm_conf_market_partition(gm_conf),
             gm_conf_reserve_gpus_per_node(gm_conf), gm_conf_idle_dwell_seconds(gm_conf),
             gm_governed() ? " under policy " : "", gm_governed() ? gm_policy.hash : "");
}

/* ----------------------------------------------------------- job helpers */

static part_record_t *gm_market_part(void)
{
    if (!gm_conf || !part_list)
        return NULL;
    return find_part_record((char *)gm_conf_market_partition(gm_conf));
}

/* Whether the job is tried in (or runs in) the market partition now. */
static int gm_is_market_now(job_record_t *job_ptr)
{
    return gm_conf && job_ptr && job_ptr->part_ptr && job_ptr->part_ptr->name &&
           !xstrcmp(job_ptr->part_ptr->name, gm_conf_market_partition(gm_conf));
}

static int gm_part_in_list(void *x, void *key)
{
    return x == key;
}

/* Whether a pending job may be tried in the market partition. */
static int gm_may_be_market(job_record_t *job_ptr, part_record_t *market)
{
    if (!market)
        return 0;
    if (job_ptr->part_ptr == market)
        return 1;
    if (job_ptr->part_ptr_list && list_find_first(job_ptr->part_ptr_list, gm_part_in_list, market))
        return 1;
    return 0;
}

static gres_node_state_t *gm_node_gpus(node_record_t *node_ptr)
{
    gres_state_t *gs;

    if (!node_ptr || !node_ptr->gres_list || !gm_gpu_plugin_id)
        return NULL;
    gs = list_find_first(node_ptr->gres_list, gres_find_id, &gm_gpu_plugin_id);
    if (!gs || !gs->gres_data)
        return NULL;
    return gs->gres_data;
}

/* Devices of a node's GPU state and whether device d is allocated. */
static uint32_t gm_node_devices(gres_node_state_t *ns)
{
    uint64_t n = ns->gres_bit_alloc ? (uint64_t)bit_size(ns->gres_bit_alloc) : ns->gres_cnt_avail;
    if (n > GM_POLICY_MAX_NODE_GPUS)
        n = GM_POLICY_MAX_NODE_GPUS;
    return (uint32_t)n;
}

static int gm_device_busy(gres_node_state_t *ns, uint32_t d)
{
    if (ns->gres_bit_alloc)
        return bit_test(ns->gres_bit_alloc, d);
    return d < ns->gres_cnt_alloc; /* no File=: count only */
}

/* The gres type of device d ("gpu" when the node has none). */
static const char *gm_device_type(gres_node_state_t *ns, uint32_t d)
{
    if (ns->type_cnt == 1 && ns->type_name && ns->type_name[0])
        return ns->type_name[0];
    for (uint16_t t = 0; t < ns->topo_cnt; t++) {
        if (ns->topo_gres_bitmap && ns->topo_gres_bitmap[t] && ns->topo_type_name &&
            ns->topo_type_name[t] && d < (uint32_t)bit_size(ns->topo_gres_bitmap[t]) &&
            bit_test(ns->topo_gres_bitmap[t], d))
            return ns->topo_type_name[t];
    }
    return "gpu";
}

/* Largest GPU count of one node of the market partition (--exclusive). */
static uint32_t gm_market_node_gpus(part_record_t *market)
{
    node_record_t *node_ptr;
    uint32_t most = 0;

    if (!market || !market->node_bitmap)
        return 0;
    for (int i = 0; (node_ptr = next_node(&i)); i++) {
        gres_node_state_t *ns;
        if (!bit_test(market->node_bitmap, node_ptr->index) || !(ns = gm_node_gpus(node_ptr)))
            continue;
        uint32_t n = gm_node_devices(ns);
        if (n > most)
            most = n;
    }
    return most;
}

/* The GPUs a job asks for; 0 with an empty type when none. */
static int gm_job_request_shaped(job_record_t *job_ptr, part_record_t *market, uint32_t *gpus,
                                 uint32_t *per_node, char *type, size_t typelen, char *err,
                                 size_t errlen)
{
    struct gm_job_gpu_request r;
    struct job_details *d = job_ptr->details;

    memset(&r, 0, sizeof r);
    r.per_job = job_ptr->tres_per_job;
    r.per_node = job_ptr->tres_per_node;
    r.per_task = job_ptr->tres_per_task;
    r.per_socket = job_ptr->tres_per_socket;
    r.nodes = d ? d->min_nodes : 1;
    r.tasks = d ? d->num_tasks : 1;
    if (d && d->whole_node == WHOLE_NODE_REQUIRED)
        r.exclusive_node_gpus = gm_market_node_gpus(market);
    return gm_job_gpus_shaped(&r, gpus, per_node, type, typelen, err, errlen);
}

static int gm_job_request(job_record_t *job_ptr, part_record_t *market, uint32_t *gpus, char *type,
                          size_t typelen, char *err, size_t errlen)
{
    uint32_t per_node;
    return gm_job_request_shaped(job_ptr, market, gpus, &per_node, type, typelen, err, errlen);
}

/* The buyer's terms from the job's SPANK control environment: the user's
 * own claim, checked as strictly as the SPANK plugin checks it. */
static int gm_job_terms(job_record_t *job_ptr, struct gm_market_terms *terms, char *err,
                        size_t errlen)
{
    char msg[GM_JOB_TEXT_MAX];
    if (gm_flags_from_control_env(terms, (const char *const *)job_ptr->spank_job_env,
                                  job_ptr->spank_job_env ? job_ptr->spank_job_env_size : 0,
                                  gm_conf_max_bid(gm_conf), msg, sizeof msg) != 0) {
        /* The market library writes no prefix: the buyer's reason gets it
         * here, once. */
        snprintf(err, errlen, "gpumarket: %s", msg);
        return -1;
    }
    return 0;
}

/* Show `text` as the job's pending reason (squeue %R, scontrol Reason=).
 * WAIT_BLOCK_D_ACTION keeps select_nodes from overwriting it (Slurm 22.05,
 * node_scheduler.c:2624); see doc/select-plugin.md. */
static void gm_set_reason(job_record_t *job_ptr, const char *text)
{
    if (job_ptr->state_reason == WAIT_BLOCK_D_ACTION && job_ptr->state_desc &&
        !xstrcmp(job_ptr->state_desc, text))
        return;
    info("%pJ waits: %s", job_ptr, text);
    xfree(job_ptr->state_desc);
    job_ptr->state_desc = xstrdup(text);
    job_ptr->state_reason = WAIT_BLOCK_D_ACTION;
    last_job_update = time(NULL);
}

static void gm_clear_reason(job_record_t *job_ptr)
{
    if (job_ptr->state_reason != WAIT_BLOCK_D_ACTION || !job_ptr->state_desc ||
        strncmp(job_ptr->state_desc, "gpumarket: ", 11) != 0)
        return;
    xfree(job_ptr->state_desc);
    job_ptr->state_reason = WAIT_RESOURCES;
    last_job_update = time(NULL);
}

/* --------------------------------------------------------- idle tracking */

static struct gm_node_idle *gm_idle_entry(node_record_t *node_ptr, uint32_t ndev)
{
    int idx = node_ptr->index;

    if (idx < 0)
        return NULL;
    if ((size_t)idx >= gm_idle_count) {
        size_t n = (size_t)idx + 16;
        struct gm_node_idle *t = realloc(gm_idle, n * sizeof *t);
        if (!t)
            return NULL;
        memset(t + gm_idle_count, 0, (n - gm_idle_count) * sizeof *t);
        gm_idle = t;
        gm_idle_count = n;
    }
    struct gm_node_idle *e = &gm_idle[idx];
    if (e->name && (e->ndev != ndev || xstrcmp(e->name, node_ptr->name))) {
        free(e->name);
        free(e->since);
        memset(e, 0, sizeof *e);
    }
    if (!e->name) {
        e->since = calloc(ndev ? ndev : 1, sizeof *e->since);
        e->name = strdup(node_ptr->name ? node_ptr->name : "?");
        if (!e->since || !e->name) {
            free(e->since);
            free(e->name);
            memset(e, 0, sizeof *e);
            return NULL;
        }
        e->ndev = ndev;
        for (uint32_t d = 0; d < ndev; d++) {
            e->since[d] = gm_start_time; /* unknown: idle from this controller's start */
            for (size_t s = 0; s < gm_saved_count; s++)
                if (gm_saved[s].dev == d && !strcmp(gm_saved[s].name, e->name))
                    e->since[d] = gm_saved[s].since;
        }
    }
    return e;
}

/* Record which GPUs of a node are idle since when. */
static void gm_idle_scan_node(node_record_t *node_ptr, int64_t now)
{
    gres_node_state_t *ns = gm_node_gpus(node_ptr);
    if (!ns)
        return;
    uint32_t ndev = gm_node_devices(ns);
    struct gm_node_idle *e = gm_idle_entry(node_ptr, ndev);
    if (!e)
        return;
    for (uint32_t d = 0; d < ndev; d++) {
        if (gm_device_busy(ns, d))
            e->since[d] = 0;
        else if (e->since[d] == 0)
            e->since[d] = now;
    }
}

static void gm_idle_scan_job(job_record_t *job_ptr, int64_t now)
{
    node_record_t *node_ptr;

    if (!job_ptr->node_bitmap)
        return;
    for (int i = 0; (node_ptr = next_node(&i)); i++)
        if (node_ptr->index < bit_size(job_ptr->node_bitmap) &&
            bit_test(job_ptr->node_bitmap, node_ptr->index))
            gm_idle_scan_node(node_ptr, now);
}

/* ---------------------------------------------------------------- leases */

static struct gm_job_lease *gm_lease_find(uint32_t job_id)
{
    for (size_t i = 0; i < gm_lease_count; i++)
        if (gm_leases[i].job_id == job_id)
            return &gm_leases[i];
    return NULL;
}

static void gm_count_capped(void)
{
    int n = 0;
    for (size_t i = 0; i < gm_lease_count; i++)
        n += gm_leases[i].limit_min >= 0;
    gm_capped_leases = n;
}

static struct gm_job_lease *gm_lease_put(const struct gm_job_lease *l)
{
    struct gm_job_lease *e = gm_lease_find(l->job_id);
    if (!e) {
        if (gm_lease_count == gm_lease_cap) {
            size_t n = gm_lease_cap ? gm_lease_cap * 2 : 64;
            struct gm_job_lease *t = realloc(gm_leases, n * sizeof *t);
            if (!t)
                return NULL;
            gm_leases = t;
            gm_lease_cap = n;
        }
        e = &gm_leases[gm_lease_count++];
    }
    *e = *l;
    gm_count_capped();
    return e;
}

static void gm_lease_drop(uint32_t job_id, int64_t start)
{
    for (size_t i = 0; i < gm_lease_count; i++) {
        if (gm_leases[i].job_id != job_id || gm_leases[i].start != start)
            continue;
        gm_leases[i] = gm_leases[--gm_lease_count];
        break;
    }
    gm_count_capped();
}

/* Set NAME=value in the job's supplemental environment: slurmctld merges it
 * into a batch job's environment at launch and salloc's allocation. */
static void gm_set_env_sup(job_record_t *job_ptr, const char *name, const char *value)
{
    struct job_details *d = job_ptr->details;
    size_t len = strlen(name);

    if (!d)
        return;
    for (uint16_t i = 0; i < d->env_cnt; i++) {
        if (d->env_sup[i] && !strncmp(d->env_sup[i], name, len) && d->env_sup[i][len] == '=') {
            xfree(d->env_sup[i]);
            d->env_sup[i] = xstrdup_printf("%s=%s", name, value);
            return;
        }
    }
    if (d->env_cnt == UINT16_MAX)
        return;
    xrecalloc(d->env_sup, d->env_cnt + 1, sizeof(char *));
    d->env_sup[d->env_cnt++] = xstrdup_printf("%s=%s", name, value);
}

/* Hold a running lease to its cap: backfill resets a time limit set in
 * job_begin, and `scontrol update TimeLimit` may raise it. */
static int gm_enforce_cap(job_record_t *job_ptr, const struct gm_job_lease *l)
{
    if (l->limit_min < 0 || !IS_JOB_RUNNING(job_ptr) || job_ptr->start_time != l->start)
        return 0;
    time_t cap_end = (time_t)gm_job_lease_end(l);
    if (job_ptr->time_limit != INFINITE && job_ptr->time_limit != NO_VAL &&
        job_ptr->time_limit <= (uint32_t)l->limit_min && job_ptr->end_time <= cap_end)
        return 0;
    if (job_ptr->time_limit != (uint32_t)l->limit_min)
        info("gpumarket: %pJ: time limit held at %" PRId64 " min by its max cost (was %u)", job_ptr,
             l->limit_min, job_ptr->time_limit);
    job_ptr->time_limit = (uint32_t)l->limit_min;
    if (job_ptr->end_time > cap_end || job_ptr->end_time == 0)
        job_ptr->end_time = cap_end;
    job_ptr->end_time_exp = job_ptr->end_time;
    last_job_update = time(NULL);
    return 1;
}

static void gm_enforce_all(void)
{
    for (size_t i = 0; i < gm_lease_count; i++) {
        job_record_t *job_ptr = find_job_record(gm_leases[i].job_id);
        if (job_ptr)
            gm_enforce_cap(job_ptr, &gm_leases[i]);
    }
}

/* Whether a capped lease has reached its end while its job still runs. */
static int gm_lease_due(time_t now)
{
    for (size_t i = 0; i < gm_lease_count; i++) {
        const struct gm_job_lease *l = &gm_leases[i];
        if (l->limit_min < 0 || gm_job_lease_end(l) > (int64_t)now)
            continue;
        job_record_t *job_ptr = find_job_record(l->job_id);
        if (job_ptr && IS_JOB_RUNNING(job_ptr) && job_ptr->start_time == l->start)
            return 1;
    }
    return 0;
}

/* Once a second while capped leases run: hold their caps, and end a lease
 * on time with slurmctld's own time-limit pass (it otherwise runs every
 * 30 s, which would let a lease overrun what its max cost buys).  The
 * locks are those slurmctld's background thread takes for that pass. */
static void gm_rebuild(int64_t now);
static void *gm_enforce_thread(void *arg)
{
    slurmctld_lock_t lk = { .conf = READ_LOCK,
                            .job = WRITE_LOCK,
                            .node = WRITE_LOCK,
                            .part = READ_LOCK,
                            .fed = READ_LOCK };
    slurmctld_lock_t rk = { READ_LOCK, READ_LOCK, READ_LOCK, READ_LOCK, NO_LOCK };
    (void)arg;
    for (;;) {
        sleep(1);
        if (gm_quote_wants_snapshot(time(NULL), 2)) { /* keep an idle market's quote live */
            lock_slurmctld(rk);
            pthread_mutex_lock(&gm_lock);
            gm_rebuild(time(NULL));
            pthread_mutex_unlock(&gm_lock);
            unlock_slurmctld(rk);
        }
        if (!gm_capped_leases)
            continue;
        lock_slurmctld(lk);
        pthread_mutex_lock(&gm_lock);
        gm_enforce_all();
        int due = gm_lease_due(time(NULL));
        pthread_mutex_unlock(&gm_lock);
        if (due)
            job_time_limit(); /* calls select_p_job_fini: gm_lock is not held */
        unlock_slurmctld(lk);
    }
    return NULL;
}

/* Write the lease where the buyer and restarts see it: SystemComment (kept in
 * job_state) and the job's environment. */
static void gm_publish_lease(job_record_t *job_ptr, const struct gm_job_lease *l)
{
    char line[GM_JOB_TEXT_MAX * 2], num[32];

    if (gm_job_lease_format(l, line, sizeof line) < 0)
        return;
    if (job_ptr->system_comment) {
        char *mark = strstr(job_ptr->system_comment, GM_JOB_LEASE_MARK);
        if (mark) {
            *mark = '\0';
            if (mark > job_ptr->system_comment && mark[-1] == '\n')
                mark[-1] = '\0';
        }
        if (job_ptr->system_comment[0])
            xstrcat(job_ptr->system_comment, "\n");
    }
    xstrcat(job_ptr->system_comment, line);
    snprintf(num, sizeof num, "%" PRId64, l->price);
    gm_set_env_sup(job_ptr, "GPUMARKET_PRICE_MICRO", num);
    int64_t end = gm_job_lease_end(l);
    snprintf(num, sizeof num, "%" PRId64, end >= 0 ? end : (int64_t)job_ptr->end_time);
    gm_set_env_sup(job_ptr, "GPUMARKET_LEASE_END", num);
    snprintf(num, sizeof num, "%" PRIu32, l->gpus);
    gm_set_env_sup(job_ptr, "GPUMARKET_LEASE_GPUS", num);
    gm_set_env_sup(job_ptr, "GPUMARKET_LEASE_TYPE", l->type);
    last_job_update = time(NULL);
}

/* The terms of a lease for `gpus` GPUs at `price`.  Returns 0, or -1 with a
 * reason for the buyer. */
static int gm_terms_for(job_record_t *job_ptr, const struct gm_market_terms *t, int64_t price,
                        int64_t bid, uint32_t gpus, struct gm_job_lease *l, char *err,
                        size_t errlen)
{
    struct gm_policy_lease_request q;
    struct gm_policy_lease_terms terms;
    char msg[512];

    q.price = price;
    q.bid = bid;
    q.gpus = gpus;
    q.max_cost = gm_flags_isset(t, GM_FLAG_MAX_COST) ? t->max_cost_micro : GM_POLICY_UNLIMITED;
    q.time_limit = (job_ptr->time_limit == INFINITE || job_ptr->time_limit == NO_VAL)
                       ? GM_POLICY_UNLIMITED
                       : (int64_t)job_ptr->time_limit * 60;
    if (gm_policy_lease_terms(&q, &terms, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s", msg);
        return -1;
    }
    l->price = terms.price;
    l->bid = bid;
    l->max_cost = q.max_cost;
    l->gpus = gpus;
    l->limit_min =
        terms.time_limit == GM_POLICY_UNLIMITED ? GM_POLICY_UNLIMITED : terms.time_limit / 60;
    if (q.max_cost != GM_POLICY_UNLIMITED && terms.clamped && l->limit_min < 1) {
        char cost[GM_MONEY_STRLEN], p[GM_MONEY_STRLEN];
        gm_money_format(q.max_cost, cost, sizeof cost);
        gm_money_format(price, p, sizeof p);
        snprintf(err, errlen,
                 "gpumarket: max cost %s does not buy one minute of %" PRIu32 " GPUs at price %s",
                 cost, gpus, p);
        return -1;
    }
    if (!terms.clamped && q.max_cost == GM_POLICY_UNLIMITED)
        l->limit_min = GM_POLICY_UNLIMITED; /* Slurm's own limit applies */
    return 0;
}

/* -------------------------------------------------------------- snapshot */

struct gm_build {
    part_record_t *market;
    int64_t now;
    struct gm_policy_bid *bids;
    size_t bid_count, bid_cap;
    struct gm_refusal *refusals;
    size_t refusal_count, refusal_cap;
    int failed;
};

static void gm_refuse(struct gm_build *b, uint32_t job_id, const char *reason)
{
    if (b->refusal_count == b->refusal_cap) {
        size_t n = b->refusal_cap ? b->refusal_cap * 2 : 16;
        struct gm_refusal *t = realloc(b->refusals, n * sizeof *t);
        if (!t) {
            b->failed = 1;
            return;
        }
        b->refusals = t;
        b->refusal_cap = n;
    }
    b->refusals[b->refusal_count].job_id = job_id;
    snprintf(b->refusals[b->refusal_count].reason, GM_JOB_TEXT_MAX, "%s", reason);
    b->refusal_count++;
}

/* The engine type of a request: its own, else the first offered type. */
static int gm_resolve_type(const char *type, uint32_t *index)
{
    int64_t price;

    if (type[0])
        return gm_policy_type_index(gm_engine, type, index);
    for (uint32_t t = 0; t < gm_policy_type_count(gm_engine); t++)
        if (gm_conf_reserve_price(gm_conf, gm_policy_type_name(gm_engine, t), &price) == 0) {
            *index = t;
            return 0;
        }
    return gm_policy_type_count(gm_engine) ? (*index = 0, 0) : -1;
}

/* The tasks a job array's pending record stands for that may start now
 * (each a bid); 1 for any other job. */
static uint32_t gm_array_tasks(job_record_t *job_ptr)
{
    job_array_struct_t *a = job_ptr->array_recs;
    uint32_t n;

    if (!a || a->task_cnt <= 1)
        return 1;
    n = a->task_cnt;
    if (a->max_run_tasks > 0) { /* --array=...%N */
        uint32_t room =
            a->max_run_tasks > a->tot_run_tasks ? a->max_run_tasks - a->tot_run_tasks : 1;
        if (n > room)
            n = room;
    }
    return n;
}

static int gm_collect_bid(void *x, void *arg)
{
    job_record_t *job_ptr = x;
    struct gm_build *b = arg;
    char type[GM_JOB_MAX_TYPE + 1], err[GM_JOB_TEXT_MAX];
    struct gm_market_terms terms;
    uint32_t gpus, per_node, tidx;

    if (b->failed || !job_ptr || !IS_JOB_PENDING(job_ptr) || IS_JOB_COMPLETING(job_ptr) ||
        job_ptr->priority == 0 || !gm_may_be_market(job_ptr, b->market))
        return 0;
    if (gm_job_request_shaped(job_ptr, b->market, &gpus, &per_node, type, sizeof type, err,
                              sizeof err) != 0) {
        gm_refuse(b, job_ptr->job_id, err);
        return 0;
    }
    if (gpus == 0)
        return 0; /* asks for no GPU: nothing to price */
    if (gm_job_terms(job_ptr, &terms, err, sizeof err) != 0) {
        gm_refuse(b, job_ptr->job_id, err);
        return 0;
    }
    if (gm_resolve_type(type, &tidx) != 0) {
        char msg[GM_JOB_TEXT_MAX];
        snprintf(msg, sizeof msg, "gpumarket: no %s offered", type[0] ? type : "GPU");
        gm_refuse(b, job_ptr->job_id, msg);
        return 0;
    }
    if (b->bid_count == b->bid_cap) {
        size_t n = b->bid_cap ? b->bid_cap * 2 : 64;
        struct gm_policy_bid *t = realloc(b->bids, n * sizeof *t);
        if (!t) {
            b->failed = 1;
            return 0;
        }
        b->bids = t;
        b->bid_cap = n;
    }
    struct gm_policy_bid *bid = &b->bids[b->bid_count++];
    bid->job_id = job_ptr->job_id;
    bid->type = tidx;
    bid->gpus = gpus;
    bid->bid = gm_flags_isset(&terms, GM_FLAG_BID) ? terms.bid_micro : 0;
    bid->submit_time = job_ptr->details ? (int64_t)job_ptr->details->submit_time : 0;
    bid->gpus_per_node = per_node;
    bid->tasks = gm_array_tasks(job_ptr);
    return 0;
}

static int gm_same_types(char **names, size_t n)
{
    if (!gm_engine || n != gm_engine_type_count || gm_engine_conf_gen != gm_conf_gen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], gm_engine_types[i]))
            return 0;
    return 1;
}

static void gm_free_types(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Make sure the engine knows exactly the GPU types of the market nodes. */
static int gm_ensure_engine(part_record_t *market)
{
    char **names = NULL;
    size_t n = 0;
    node_record_t *node_ptr;
    char err[512];

    for (int i = 0; (node_ptr = next_node(&i)); i++) {
        gres_node_state_t *ns;
        if (!bit_test(market->node_bitmap, node_ptr->index) || !(ns = gm_node_gpus(node_ptr)))
            continue;
        uint32_t ndev = gm_node_devices(ns);
        for (uint32_t d = 0; d < ndev; d++) {
            const char *t = gm_device_type(ns, d);
            size_t k;
            for (k = 0; k < n && strcmp(names[k], t); k++)
                ;
            if (k < n || n >= GM_POLICY_MAX_TYPES)
                continue;
            char **nn = realloc(names, (n + 1) * sizeof *nn);
            if (!nn || !(nn[n] = strdup(t))) {
                gm_free_types(nn ? nn : names, n);
                return -1;
            }
            names = nn;
            n++;
        }
    }
    if (gm_same_types(names, n)) {
        gm_free_types(names, n);
        return 0;
    }
    struct gm_policy *engine = NULL;
    if (n == 0 || gm_policy_create_from_conf(gm_conf, (const char *const *)names, n, &engine, err,
                                             sizeof err) != 0) {
        if (n)
            error("%s", err);
        gm_free_types(names, n);
        return -1;
    }
    gm_policy_destroy(gm_engine);
    gm_free_types(gm_engine_types, gm_engine_type_count);
    gm_engine = engine;
    gm_engine_types = names;
    gm_engine_type_count = n;
    gm_engine_conf_gen = gm_conf_gen;
    return 0;
}

static int gm_node_available(node_record_t *node_ptr)
{
    return !IS_NODE_DOWN(node_ptr) && !IS_NODE_DRAIN(node_ptr) && !IS_NODE_FAIL(node_ptr) &&
           !IS_NODE_NO_RESPOND(node_ptr) && !IS_NODE_FUTURE(node_ptr) &&
           !IS_NODE_POWERED_DOWN(node_ptr) && !IS_NODE_MAINT(node_ptr);
}

static void gm_snap_clear(void)
{
    gm_policy_result_destroy(gm_snap.result);
    gm_snap.result = NULL;
    free(gm_snap.node_index);
    gm_snap.node_index = NULL;
    gm_snap.node_count = 0;
    free(gm_snap.refusals);
    gm_snap.refusals = NULL;
    gm_snap.refusal_count = 0;
    gm_snap.valid = 0;
}

static void gm_record_history(const struct gm_policy_result *result)
{
    size_t n;
    const struct gm_policy_price_record *h = gm_policy_result_history(result, &n);
    for (size_t i = 0; i < n; i++) {
        char p[GM_MONEY_STRLEN];
        gm_money_format(h[i].price, p, sizeof p);
        info("gpumarket: market %s: price %s supply %" PRIu64 " demand %" PRIu64,
             gm_policy_type_name(gm_engine, h[i].type), p, h[i].supply, h[i].demand);
        gm_history[gm_history_next] = h[i];
        gm_history_next = (gm_history_next + 1) % GM_HISTORY_MAX;
        if (gm_history_count < GM_HISTORY_MAX)
            gm_history_count++;
    }
}

/* What the gate costs on slurmctld's scheduling path, against cons_tres's
 * own job_test in the same calls (RUN_NOW and WILL_RUN): logged at each
 * reconfigure, read by bench/bench-select.sh and t3009.
 *
 * The clock is CLOCK_MONOTONIC (vDSO, tens of ns).  The thread CPU clock
 * would leave out the time the thread was descheduled, but it is a system
 * call costing 1 to 2.5 us on a virtual machine: four readings per call
 * doubled the gate's measured cost of a 15 us job_test.  A deschedule inside
 * a call instead lands in rounds: the calls are summed in rounds of
 * GM_COST_ROUND and the log gives, besides the sums, the median and
 * quartiles of the per-round ratio gate/cons_tres, which a few descheduled
 * rounds do not move.  Each round's sums keep its share of snapshot
 * rebuilds, so the median does not leave the periodic cost out.  A rebuild
 * (tens of us) is also timed in thread CPU time, and the call it happened
 * in counts that instead of its wall time: the longest piece of the gate
 * is the one a deschedule is most likely to land in.
 *
 * job_test runs under the job write lock, so calls do not overlap; the
 * counters are under gm_cost_lock all the same. */
#define GM_COST_ROUND  32
#define GM_COST_ROUNDS 4096
static pthread_mutex_t gm_cost_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t gm_cost_calls, gm_cost_market, gm_cost_gate_ns, gm_cost_cons_tres_ns;
/* Snapshots rebuilt, and the CPU time they took (part of the gate's cost). */
static uint64_t gm_cost_rebuilds, gm_cost_rebuild_ns;
/* The round being summed, and the ratios of the last GM_COST_ROUNDS. */
static uint64_t gm_cost_round_gate, gm_cost_round_ct;
static unsigned gm_cost_round_calls;
static float gm_cost_ratio[GM_COST_ROUNDS];
static size_t gm_cost_ratio_count;
/* A rebuild's wall time beyond its CPU time (the thread was descheduled),
 * taken out of the job_test call it happened in. */
static __thread uint64_t gm_cost_rebuild_idle;

static uint64_t gm_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One job_test call: the gate's time, cons_tres's, and whether it was a
 * market job's. */
static void gm_cost_call(uint64_t gate_ns, uint64_t cons_tres_ns, int market)
{
    gate_ns = gate_ns > gm_cost_rebuild_idle ? gate_ns - gm_cost_rebuild_idle : 0;
    gm_cost_rebuild_idle = 0;
    pthread_mutex_lock(&gm_cost_lock);
    gm_cost_calls++;
    gm_cost_market += market != 0;
    gm_cost_gate_ns += gate_ns;
    gm_cost_cons_tres_ns += cons_tres_ns;
    gm_cost_round_gate += gate_ns;
    gm_cost_round_ct += cons_tres_ns;
    if (++gm_cost_round_calls == GM_COST_ROUND) {
        if (gm_cost_round_ct > 0)
            gm_cost_ratio[gm_cost_ratio_count++ % GM_COST_ROUNDS] =
                (float)((double)gm_cost_round_gate / (double)gm_cost_round_ct);
        gm_cost_round_gate = gm_cost_round_ct = 0;
        gm_cost_round_calls = 0;
    }
    pthread_mutex_unlock(&gm_cost_lock);
}

/* The calling thread's CPU time: a system call, so only around a rebuild. */
static uint64_t gm_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void gm_cost_rebuilt(uint64_t wall_ns, uint64_t cpu_ns)
{
    if (wall_ns > cpu_ns)
        gm_cost_rebuild_idle += wall_ns - cpu_ns;
    pthread_mutex_lock(&gm_cost_lock);
    gm_cost_rebuilds++;
    gm_cost_rebuild_ns += cpu_ns;
    pthread_mutex_unlock(&gm_cost_lock);
}

static int gm_cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void gm_cost_log(void)
{
    static float sorted[GM_COST_ROUNDS];
    char rounds[160] = "";

    pthread_mutex_lock(&gm_cost_lock);
    if (gm_cost_calls == 0) {
        pthread_mutex_unlock(&gm_cost_lock);
        return;
    }
    size_t n = gm_cost_ratio_count < GM_COST_ROUNDS ? gm_cost_ratio_count : GM_COST_ROUNDS;
    memcpy(sorted, gm_cost_ratio, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, gm_cmp_float);
    if (n > 0)
        snprintf(rounds, sizeof rounds,
                 "; gate/cons_tres per round of %d calls: median %.3f, quartiles %.3f %.3f, "
                 "%zu rounds",
                 GM_COST_ROUND, sorted[n / 2], sorted[n / 4], sorted[(3 * n) / 4], n);
    info("gpumarket: job_test cost: %" PRIu64 " calls (%" PRIu64 " of market jobs), gate %" PRIu64
         " ns, cons_tres %" PRIu64 " ns in all; %" PRIu64 " snapshots rebuilt in %" PRIu64 " ns%s",
         gm_cost_calls, gm_cost_market, gm_cost_gate_ns, gm_cost_cons_tres_ns, gm_cost_rebuilds,
         gm_cost_rebuild_ns, rounds);
    pthread_mutex_unlock(&gm_cost_lock);
}

/* Rebuild the snapshot from slurmctld's node and job records (job and node
 * locks held by the caller) and clear the market on it. */
static void gm_rebuild(int64_t now)
{
    part_record_t *market = gm_market_part();
    struct gm_policy_node *nodes = NULL;
    struct gm_policy_idle *idle = NULL;
    struct gm_policy_lease *leases = NULL;
    size_t nn = 0, ni = 0, idle_cap = 0;
    struct gm_build b;
    node_record_t *node_ptr;
    char err[512];

    gm_snap_clear();
    gm_snap.sched_cycles = slurmctld_diag_stats.schedule_cycle_counter;
    gm_snap.bf_last = slurmctld_diag_stats.bf_when_last_cycle;
    gm_snap.node_update = last_node_update;
    gm_snap.job_update = last_job_update;
    gm_snap.dirty = gm_dirty;
    memset(&b, 0, sizeof b);
    if (!market || !market->node_bitmap || gm_market_closed() || gm_ensure_engine(market) != 0)
        goto out_empty;
    b.market = market;
    b.now = now;

    nodes = calloc((size_t)node_record_count + 1, sizeof *nodes);
    gm_snap.node_index = calloc((size_t)node_record_count + 1, sizeof *gm_snap.node_index);
    if (!nodes || !gm_snap.node_index)
        goto out_empty;
    for (int i = 0; (node_ptr = next_node(&i)); i++) {
        gres_node_state_t *ns;
        if (!bit_test(market->node_bitmap, node_ptr->index) || !(ns = gm_node_gpus(node_ptr)))
            continue;
        gm_idle_scan_node(node_ptr, now);
        struct gm_node_idle *e = gm_idle_entry(node_ptr, gm_node_devices(ns));
        if (!e)
            continue;
        struct gm_policy_node *pn = &nodes[nn];
        pn->gpus_total = e->ndev;
        pn->in_market_partition = 1;
        pn->available = gm_node_available(node_ptr);
        for (uint32_t d = 0; d < e->ndev; d++) {
            uint32_t t;
            if (e->since[d] == 0) {
                pn->gpus_used_local++;
                continue;
            }
            if (gm_policy_type_index(gm_engine, gm_device_type(ns, d), &t) != 0) {
                pn->gpus_used_local++; /* a type the engine lacks: never offered */
                continue;
            }
            if (ni == idle_cap) {
                size_t c = idle_cap ? idle_cap * 2 : 64;
                struct gm_policy_idle *tmp = realloc(idle, c * sizeof *tmp);
                if (!tmp)
                    goto out_empty;
                idle = tmp;
                idle_cap = c;
            }
            idle[ni].node = (uint32_t)nn;
            idle[ni].type = t;
            idle[ni].count = 1;
            idle[ni].idle_since = e->since[d];
            ni++;
        }
        gm_snap.node_index[nn++] = (uint32_t)node_ptr->index;
    }
    gm_snap.node_count = nn;

    if (job_list)
        list_for_each(job_list, gm_collect_bid, &b);
    if (b.failed)
        goto out_empty;

    leases = calloc(gm_lease_count + 1, sizeof *leases);
    if (!leases)
        goto out_empty;
    size_t nl = 0;
    for (size_t i = 0; i < gm_lease_count; i++) {
        uint32_t t;
        if (gm_policy_type_index(gm_engine, gm_leases[i].type, &t) != 0)
            continue;
        leases[nl].job_id = gm_leases[i].job_id;
        leases[nl].type = t;
        leases[nl].gpus = gm_leases[i].gpus;
        leases[nl].price = gm_leases[i].price;
        leases[nl].start_time = gm_leases[i].start;
        nl++;
    }

    struct gm_policy_snapshot s = { .now = now,
                                    .nodes = nodes,
                                    .node_count = nn,
                                    .idle = idle,
                                    .idle_count = ni,
                                    .bids = b.bids,
                                    .bid_count = b.bid_count,
                                    .leases = leases,
                                    .lease_count = nl };
    if (gm_policy_decide(gm_engine, &s, &gm_snap.result, err, sizeof err) != 0) {
        error("%s", err);
        gm_snap.result = NULL;
        goto out_empty;
    }
    gm_record_history(gm_snap.result);
    gm_snap.refusals = b.refusals;
    gm_snap.refusal_count = b.refusal_count;
    b.refusals = NULL;
    gm_snap.valid = 1;
out_empty:
    if (!gm_snap.valid) {
        gm_snap.refusals = b.refusals;
        gm_snap.refusal_count = b.refusal_count;
        b.refusals = NULL;
        gm_snap.valid = 1; /* no result: every GPU market job waits */
    }
    if (gm_quote_begin(gm_conf, gm_engine, gm_snap.result, gm_snap.node_index, gm_snap.node_count,
                       now)) {
        for (size_t i = 0; i < gm_snap.refusal_count; i++)
            gm_quote_refusal(gm_snap.refusals[i].job_id, gm_snap.refusals[i].reason);
        gm_quote_commit();
    }
    free(b.refusals);
    free(b.bids);
    free(nodes);
    free(idle);
    free(leases);
}

static void gm_rebuild_timed(int64_t now)
{
    uint64_t t0 = gm_now_ns(), c0 = gm_cpu_ns();
    gm_rebuild(now);
    uint64_t c1 = gm_cpu_ns(), t1 = gm_now_ns();
    gm_cost_rebuilt(t1 - t0, c1 - c0);
}

static void gm_maybe_rebuild(int64_t now)
{
    if (gm_snap.valid && gm_snap.sched_cycles == slurmctld_diag_stats.schedule_cycle_counter &&
        gm_snap.bf_last == slurmctld_diag_stats.bf_when_last_cycle &&
        gm_snap.node_update == last_node_update && gm_snap.dirty == gm_dirty)
        return;
    gm_rebuild_timed(now);
}

static const struct gm_refusal *gm_find_refusal(uint32_t job_id)
{
    for (size_t i = 0; i < gm_snap.refusal_count; i++)
        if (gm_snap.refusals[i].job_id == job_id)
            return &gm_snap.refusals[i];
    return NULL;
}

/* The verdict of a pending market job in the current snapshot, rebuilding
 * once when the job is newer than the snapshot.  Sets *refusal instead when
 * its request or bid is invalid. */
static const struct gm_policy_verdict *gm_lookup(job_record_t *job_ptr, int64_t now,
                                                 const struct gm_refusal **refusal)
{
    const struct gm_policy_verdict *v = NULL;

    gm_maybe_rebuild(now);
    for (int pass = 0; pass < 2; pass++) {
        *refusal = gm_find_refusal(job_ptr->job_id);
        if (*refusal)
            return NULL;
        v = gm_snap.result ? gm_policy_result_find(gm_snap.result, job_ptr->job_id) : NULL;
        if (v || pass || gm_snap.job_update == last_job_update)
            break;
        gm_rebuild_timed(now);
    }
    return v;
}

/* Narrow node_bitmap to the nodes the policy placed the job on. */
static int gm_narrow(const struct gm_policy_verdict *v, bitstr_t *node_bitmap)
{
    size_t np;
    const struct gm_policy_placement *pl = gm_policy_result_placements(gm_snap.result, &np);
    bitstr_t *mask;

    if (!node_bitmap)
        return 0;
    mask = bit_alloc(bit_size(node_bitmap));
    for (uint32_t k = 0; k < v->placement_count && v->placement_first + k < np; k++) {
        uint32_t sn = pl[v->placement_first + k].node;
        if (sn < gm_snap.node_count && gm_snap.node_index[sn] < (uint32_t)bit_size(mask))
            bit_set(mask, gm_snap.node_index[sn]);
    }
    bit_and(node_bitmap, mask);
    FREE_NULL_BITMAP(mask);
    return bit_set_count(node_bitmap);
}

/* A job that names its nodes (-w, --nodelist) may run only there, which the
 * policy engine's plan does not know: it runs where it asked if the nodes
 * it requires offer it enough GPUs of its type, narrowed to the nodes that
 * offer that type at all.  Returns the node count left, or -1 with the
 * reason when its required nodes offer too few. */
static int gm_narrow_required(job_record_t *job_ptr, const struct gm_policy_verdict *v,
                              bitstr_t *node_bitmap, char *reason, size_t reasonlen)
{
    size_t no;
    const struct gm_policy_offer *of = gm_policy_result_offers(gm_snap.result, &no);
    bitstr_t *req = job_ptr->details->req_node_bitmap, *mask;
    uint64_t offered = 0;

    if (!node_bitmap)
        return 0;
    mask = bit_alloc(bit_size(node_bitmap));
    for (size_t i = 0; i < no; i++) {
        uint32_t sn = of[i].node;
        if (of[i].type != v->type || sn >= gm_snap.node_count ||
            gm_snap.node_index[sn] >= (uint32_t)bit_size(mask))
            continue;
        bit_set(mask, gm_snap.node_index[sn]);
        if ((int64_t)gm_snap.node_index[sn] < bit_size(req) &&
            bit_test(req, gm_snap.node_index[sn]))
            offered += of[i].count;
    }
    if (offered < v->gpus) {
        FREE_NULL_BITMAP(mask);
        snprintf(reason, reasonlen,
                 "gpumarket: the nodes it requires offer %" PRIu64 " of the %u %s GPUs it asks for",
                 offered, v->gpus, gm_policy_type_name(gm_engine, v->type));
        return -1;
    }
    bit_and(node_bitmap, mask);
    FREE_NULL_BITMAP(mask);
    return bit_set_count(node_bitmap);
}

/* ------------------------------------------------------ hidden GPUs */

/* cons_tres picks a job's GPUs from every free one of its nodes: it knows
 * nothing of the GPUs each node keeps for local work or of those still
 * dwelling.  For the one RUN_NOW test of an admitted market job, the free
 * GPUs of its nodes beyond those the market offers it there are marked
 * allocated (under slurmctld's node write lock, which every job_test holds)
 * and given back as soon as cons_tres returns: it can then take only
 * offered GPUs, the longest idle first. */
struct gm_hidden_gpu {
    gres_node_state_t *ns;
    uint32_t dev;   /* device index, or UINT32_MAX: `count` of a node without File= */
    uint64_t count; /* GPUs of a node without File= */
};

struct gm_hidden {
    struct gm_hidden_gpu *gpus;
    size_t count, cap;
};

static int gm_type_slot(gres_node_state_t *ns, const char *type)
{
    for (uint16_t k = 0; k < ns->type_cnt; k++)
        if (ns->type_name && ns->type_name[k] && !xstrcmp(ns->type_name[k], type))
            return k;
    return -1;
}

/* Mark device d (or `count` GPUs of a node without File=) allocated, or
 * free again (sign -1), in every count cons_tres reads. */
static void gm_hidden_mark(gres_node_state_t *ns, uint32_t d, uint64_t count, int sign)
{
    if (d != UINT32_MAX) {
        if (sign > 0)
            bit_set(ns->gres_bit_alloc, d);
        else
            bit_clear(ns->gres_bit_alloc, d);
        for (uint16_t t = 0; t < ns->topo_cnt; t++)
            if (ns->topo_gres_bitmap && ns->topo_gres_bitmap[t] && ns->topo_gres_cnt_alloc &&
                d < (uint32_t)bit_size(ns->topo_gres_bitmap[t]) &&
                bit_test(ns->topo_gres_bitmap[t], d))
                ns->topo_gres_cnt_alloc[t] += sign > 0 ? 1 : (uint64_t)-1;
        int k = ns->type_cnt_alloc ? gm_type_slot(ns, gm_device_type(ns, d)) : -1;
        if (k >= 0)
            ns->type_cnt_alloc[k] += sign > 0 ? 1 : (uint64_t)-1;
        count = 1;
    } else if (ns->type_cnt == 1 && ns->type_cnt_alloc) {
        ns->type_cnt_alloc[0] += sign > 0 ? count : (uint64_t)0 - count;
    }
    ns->gres_cnt_alloc += sign > 0 ? count : (uint64_t)0 - count;
}

static int gm_hidden_add(struct gm_hidden *h, gres_node_state_t *ns, uint32_t d, uint64_t count)
{
    if (h->count == h->cap) {
        size_t n = h->cap ? h->cap * 2 : 16;
        struct gm_hidden_gpu *t = realloc(h->gpus, n * sizeof *t);
        if (!t)
            return -1;
        h->gpus = t;
        h->cap = n;
    }
    h->gpus[h->count++] = (struct gm_hidden_gpu){ ns, d, count };
    gm_hidden_mark(ns, d, count, 1);
    return 0;
}

/* Give every hidden GPU back, last first. */
static void gm_hidden_restore(struct gm_hidden *h)
{
    while (h->count > 0) {
        struct gm_hidden_gpu *g = &h->gpus[--h->count];
        gm_hidden_mark(g->ns, g->dev, g->count, -1);
    }
    free(h->gpus);
    h->gpus = NULL;
    h->cap = 0;
}

/* Hide the free GPUs of node_ptr beyond the `allow` longest idle ones that
 * have dwelt (type `type`; other types' free GPUs are all hidden).  Returns
 * 0, or -1 when memory runs out. */
static int gm_hide_node(struct gm_hidden *h, node_record_t *node_ptr, const char *type,
                        uint32_t allow, int64_t now)
{
    gres_node_state_t *ns = gm_node_gpus(node_ptr);
    struct gm_node_idle *e;
    int64_t dwell = gm_conf_idle_dwell_seconds(gm_conf);

    if (!ns)
        return 0;
    if (!ns->gres_bit_alloc) {
        uint64_t free_gpus =
            ns->gres_cnt_avail > ns->gres_cnt_alloc ? ns->gres_cnt_avail - ns->gres_cnt_alloc : 0;
        return free_gpus > allow ? gm_hidden_add(h, ns, UINT32_MAX, free_gpus - allow) : 0;
    }
    uint32_t ndev = gm_node_devices(ns);
    if (!(e = gm_idle_entry(node_ptr, ndev)))
        return -1;
    /* Keep the `allow` longest idle: pick them one at a time (a node has
     * few GPUs), then hide every other free one. */
    bitstr_t *keep = bit_alloc(ndev ? ndev : 1);
    for (uint32_t k = 0; k < allow; k++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t d = 0; d < ndev && d < e->ndev; d++) {
            if (bit_test(keep, d) || gm_device_busy(ns, d) || e->since[d] == 0 ||
                now - e->since[d] < dwell || xstrcmp(gm_device_type(ns, d), type))
                continue;
            if (best == UINT32_MAX || e->since[d] < e->since[best])
                best = d;
        }
        if (best == UINT32_MAX)
            break;
        bit_set(keep, best);
    }
    int rc = 0;
    for (uint32_t d = 0; d < ndev && d < (uint32_t)bit_size(ns->gres_bit_alloc) && rc == 0; d++)
        if (!bit_test(keep, d) && !gm_device_busy(ns, d))
            rc = gm_hidden_add(h, ns, d, 0);
    FREE_NULL_BITMAP(keep);
    return rc;
}

/* Hide, on each node left in node_bitmap, the free GPUs the market does not
 * offer job v there: beyond its planned count, or beyond the node's offer
 * of its type for a job that named its nodes. */
static int gm_hide_unoffered(struct gm_hidden *h, const struct gm_policy_verdict *v,
                             bitstr_t *node_bitmap, int required, int64_t now)
{
    size_t n;
    const char *type = gm_policy_type_name(gm_engine, v->type);
    const struct gm_policy_offer *of = gm_policy_result_offers(gm_snap.result, &n);
    const struct gm_policy_placement *pl = NULL;
    int rc = 0;

    /* node_bitmap holds only nodes of this list (gm_narrow and
     * gm_narrow_required cut it so), each named once: a job's placements
     * are on distinct nodes, and a node has one offer per type. */
    if (!required) {
        pl = gm_policy_result_placements(gm_snap.result, &n);
        n = v->placement_first + v->placement_count <= n ? v->placement_count : 0;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint32_t sn = required ? of[i].node : pl[v->placement_first + i].node;
        uint32_t allow = required ? of[i].count : pl[v->placement_first + i].gpus;
        if ((required && of[i].type != v->type) || sn >= gm_snap.node_count)
            continue;
        uint32_t idx = gm_snap.node_index[sn];
        if (idx < (uint32_t)bit_size(node_bitmap) && bit_test(node_bitmap, idx) &&
            node_record_table_ptr[idx])
            rc = gm_hide_node(h, node_record_table_ptr[idx], type, allow, now);
    }
    if (rc != 0)
        gm_hidden_restore(h);
    return rc;
}

/* The GPU count of a job's allocation (gres_list_alloc, set by cons_tres in
 * nodeinfo_set), or 0 when unknown. */
static uint32_t gm_alloc_gpus(job_record_t *job_ptr)
{
    ListIterator it;
    gres_state_t *gs;
    uint64_t n = 0;

    if (!job_ptr->gres_list_alloc)
        return 0;
    it = list_iterator_create(job_ptr->gres_list_alloc);
    while ((gs = list_next(it))) {
        gres_job_state_t *js = gs->gres_data;
        if (gs->plugin_id != gm_gpu_plugin_id || !js || js->total_gres == NO_CONSUME_VAL64)
            continue;
        n += js->total_gres;
    }
    list_iterator_destroy(it);
    return n > GM_POLICY_MAX_NODE_GPUS * (uint64_t)node_record_count ? 0 : (uint32_t)n;
}

/* --------------------------------------------------------- state file */

static void gm_state_load(const char *dir)
{
    char *path = xstrdup_printf("%s/%s", dir, GM_STATE_FILE);
    FILE *f = fopen(path, "r");
    char line[512];
    unsigned lineno = 0;

    if (!f) {
        if (errno != ENOENT)
            error("gpumarket: %s: cannot read it: %m; GPU idle times start now", path);
        xfree(path);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        struct gm_idle_saved s;
        char name[128];
        unsigned dev;
        long long since;
        lineno++;
        if (line[0] == '#')
            continue;
        if (sscanf(line, "idle %127s %u %lld", name, &dev, &since) != 3 || since < 0 ||
            dev >= GM_POLICY_MAX_NODE_GPUS) {
            error("gpumarket: %s:%u: malformed line ignored", path, lineno);
            continue;
        }
        struct gm_idle_saved *t = realloc(gm_saved, (gm_saved_count + 1) * sizeof *t);
        if (!t)
            break;
        gm_saved = t;
        memset(&s, 0, sizeof s);
        snprintf(s.name, sizeof s.name, "%s", name);
        s.dev = dev;
        s.since = since;
        gm_saved[gm_saved_count++] = s;
    }
    fclose(f);
    info("gpumarket: %zu GPU idle times restored from %s", gm_saved_count, path);
    xfree(path);
}

/* Write the idle times (called with no slurmctld lock held): .new, fsync,
 * rename, as slurmctld writes its own state. */
static int gm_state_write(const char *dir)
{
    char *text = NULL, *path, *tmp;
    int fd, rc = SLURM_SUCCESS;

    pthread_mutex_lock(&gm_lock);
    xstrcat(text, "# gpumarket select plugin state: idle NODE DEVICE SINCE (0 = in use)\n");
    for (size_t i = 0; i < gm_idle_count; i++) {
        if (!gm_idle[i].name)
            continue;
        for (uint32_t d = 0; d < gm_idle[i].ndev; d++)
            xstrfmtcat(text, "idle %s %u %" PRId64 "\n", gm_idle[i].name, d, gm_idle[i].since[d]);
    }
    pthread_mutex_unlock(&gm_lock);

    path = xstrdup_printf("%s/%s", dir, GM_STATE_FILE);
    tmp = xstrdup_printf("%s.new", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error("gpumarket: %s: cannot create it: %m", tmp);
        rc = SLURM_ERROR;
    } else {
        size_t len = strlen(text), off = 0;
        while (off < len) {
            ssize_t w = write(fd, text + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                error("gpumarket: %s: cannot write it: %m", tmp);
                rc = SLURM_ERROR;
                break;
            }
            off += (size_t)w;
        }
        if (rc == SLURM_SUCCESS && fsync(fd) != 0) {
            error("gpumarket: %s: fsync: %m", tmp);
            rc = SLURM_ERROR;
        }
        close(fd);
        if (rc == SLURM_SUCCESS && rename(tmp, path) != 0) {
            error("gpumarket: cannot rename %s to %s: %m", tmp, path);
            rc = SLURM_ERROR;
        }
        if (rc != SLURM_SUCCESS)
            unlink(tmp);
    }
    xfree(text);
    xfree(path);
    xfree(tmp);
    return rc;
}

/* ------------------------------------------------------------ preemption */

/* Lowest locked price first, then the most recently started, then the
 * highest job id; jobs without a lease keep their place after them. */
static int gm_preempt_cmp(void *x, void *y)
{
    job_record_t *a = *(job_record_t **)x, *b = *(job_record_t **)y;
    struct gm_job_lease *la = gm_lease_find(a->job_id), *lb = gm_lease_find(b->job_id);

    if (!la || !lb)
        return (la ? 0 : 1) - (lb ? 0 : 1);
    if (la->price != lb->price)
        return la->price < lb->price ? -1 : 1;
    if (la->start != lb->start)
        return la->start > lb->start ? -1 : 1;
    return a->job_id > b->job_id ? -1 : (a->job_id < b->job_id);
}

/* ------------------------------------------------------------- plugin API */

extern int init(void)
{
    if (cons_tres_context)
        return SLURM_SUCCESS;
    /* node_select_syms (Slurm's, one name per member of slurm_select_ops_t)
     * is declared without a size: the ops structure gives it. */
    cons_tres_context = plugin_context_create("select", "select/cons_tres", (void **)&cons_tres,
                                              node_select_syms, sizeof(cons_tres));
    if (!cons_tres_context) {
        error("gpumarket: select/cons_tres_gpumarket cannot load select/cons_tres from "
              "PluginDir; check that select_cons_tres.so is installed beside it");
        return SLURM_ERROR;
    }
    if (running_in_slurmctld()) {
        pthread_mutex_lock(&gm_lock);
        gm_start_time = time(NULL);
        gm_gpu_plugin_id = gres_build_id("gpu");
        gm_load_conf("slurmctld start");
        gm_active = 1;
        pthread_mutex_unlock(&gm_lock);
    }
    /* init() also runs in every client command (sinfo, squeue, sbatch...). */
    debug("gpumarket: %s loaded, wrapping select/cons_tres", plugin_type);
    return SLURM_SUCCESS;
}

extern int fini(void)
{
    int rc = SLURM_SUCCESS;
    pthread_mutex_lock(&gm_lock);
    gm_quote_stop();
    pthread_mutex_unlock(&gm_lock);
    if (cons_tres_context) {
        rc = plugin_context_destroy(cons_tres_context);
        cons_tres_context = NULL;
    }
    return rc;
}

extern int select_p_state_save(char *dir_name)
{
    int rc = cons_tres.state_save(dir_name);
    if (gm_active && dir_name) {
        gm_state_write(dir_name);
        gm_receipts_heartbeat();
    }
    return rc;
}

extern int select_p_state_restore(char *dir_name)
{
    static int restored;
    if (gm_active && dir_name && !restored) {
        restored = 1;
        pthread_mutex_lock(&gm_lock);
        gm_state_load(dir_name);
        pthread_mutex_unlock(&gm_lock);
    }
    return cons_tres.state_restore(dir_name);
}

/* Leases of running market jobs come back from their SystemComment (saved
 * with the job state); the enforcement thread starts on the active
 * controller only (job_init never runs in a standby backup). */
static int gm_restore_lease(void *x, void *arg)
{
    job_record_t *job_ptr = x;
    struct gm_job_lease l;
    char err[256];
    (void)arg;

    if (!job_ptr || !IS_JOB_RUNNING(job_ptr) || gm_lease_find(job_ptr->job_id))
        return 0;
    int rc = gm_job_lease_parse(job_ptr->system_comment, &l, err, sizeof err);
    if (rc < 0)
        error("gpumarket: %pJ: %s", job_ptr, err);
    if (rc != 0 || l.job_id != job_ptr->job_id || l.start != (int64_t)job_ptr->start_time)
        return 0;
    gm_lease_put(&l);
    return 0;
}

extern int select_p_job_init(List job_list_arg)
{
    if (gm_active && job_list_arg) {
        pthread_mutex_lock(&gm_lock);
        list_for_each(job_list_arg, gm_restore_lease, NULL);
        gm_receipts_start(gm_conf);
        gm_dirty++;
        if (!gm_thread_started) {
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&gm_thread, &attr, gm_enforce_thread, NULL) == 0)
                gm_thread_started = 1;
            else
                error("gpumarket: cannot start the lease thread: %m; max-cost time limits "
                      "are held only when the scheduler runs");
            pthread_attr_destroy(&attr);
        }
        gm_quote_configure(gm_conf ? gm_conf_quote_port(gm_conf) : 0);
        pthread_mutex_unlock(&gm_lock);
    }
    return cons_tres.job_init(job_list_arg);
}

extern int select_p_node_init(void)
{
    return cons_tres.node_init();
}

static int gm_job_test_gated(job_record_t *job_ptr, bitstr_t *node_bitmap, uint32_t min_nodes,
                             uint16_t mode, List preemptee_candidates, struct gm_hidden *hidden);

extern int select_p_job_test(job_record_t *job_ptr, bitstr_t *node_bitmap, uint32_t min_nodes,
                             uint32_t max_nodes, uint32_t req_nodes, uint16_t mode,
                             List preemptee_candidates, List *preemptee_job_list,
                             bitstr_t *exc_core_bitmap)
{
    /* TEST_ONLY is "could it ever run": never priced, or sbatch refuses. */
    if (!gm_active || mode == SELECT_MODE_TEST_ONLY || !job_ptr)
        return cons_tres.job_test(job_ptr, node_bitmap, min_nodes, max_nodes, req_nodes, mode,
                                  preemptee_candidates, preemptee_job_list, exc_core_bitmap);
    struct gm_hidden hidden = { 0 };
    gm_cost_rebuild_idle = 0; /* rebuilds outside job_test are not its cost */
    uint64_t t0 = gm_now_ns();
    int gate =
        gm_job_test_gated(job_ptr, node_bitmap, min_nodes, mode, preemptee_candidates, &hidden);
    uint64_t t1 = gm_now_ns();
    if (gate < 0) {
        gm_cost_call(t1 - t0, 0, 0);
        return SLURM_ERROR;
    }
    int rc = cons_tres.job_test(job_ptr, node_bitmap, min_nodes, max_nodes, req_nodes, mode,
                                preemptee_candidates, preemptee_job_list, exc_core_bitmap);
    uint64_t t2 = gm_now_ns();
    gm_hidden_restore(&hidden);
    gm_cost_call(t1 - t0 + (gm_now_ns() - t2), t2 - t1, gate > 0);
    return rc;
}

/* The market's gate of one RUN_NOW or WILL_RUN test: -1 refuses the job
 * (its reason set), 0 lets a job the market does not price through, 1 lets
 * an admitted market job through with node_bitmap narrowed to its plan and,
 * for RUN_NOW, the GPUs not offered to it in `hidden` until cons_tres has
 * chosen. */
static int gm_job_test_gated(job_record_t *job_ptr, bitstr_t *node_bitmap, uint32_t min_nodes,
                             uint16_t mode, List preemptee_candidates, struct gm_hidden *hidden)
{
    const struct gm_policy_verdict *v;
    const struct gm_refusal *refusal = NULL;
    char reason[GM_JOB_TEXT_MAX * 2], type[GM_JOB_MAX_TYPE + 1];
    uint32_t gpus;

    pthread_mutex_lock(&gm_lock);
    gm_policy_tick(time(NULL));
    if (mode == SELECT_MODE_RUN_NOW)
        gm_admitted.job = NULL;
    if (mode == SELECT_MODE_RUN_NOW && preemptee_candidates && list_count(preemptee_candidates) > 1)
        list_sort(preemptee_candidates, gm_preempt_cmp);
    if (!gm_is_market_now(job_ptr)) {
        pthread_mutex_unlock(&gm_lock);
        return 0;
    }
    part_record_t *market = gm_market_part();
    if (gm_job_request(job_ptr, market, &gpus, type, sizeof type, reason, sizeof reason) == 0 &&
        gpus == 0) {
        pthread_mutex_unlock(&gm_lock);
        return 0; /* no GPU asked: nothing to sell */
    }
    if (gm_market_closed()) {
        gm_set_reason(job_ptr, GM_CLOSED_REASON);
        goto refuse;
    }
    v = gm_lookup(job_ptr, time(NULL), &refusal);
    if (refusal) {
        gm_set_reason(job_ptr, refusal->reason);
        goto refuse;
    }
    if (!v) {
        gm_set_reason(job_ptr, "gpumarket: not priced yet");
        goto refuse;
    }
    if (v->status != GM_POLICY_ADMITTED) {
        gm_job_reason(v, gm_policy_type_name(gm_engine, v->type), gm_conf_max_bid(gm_conf), reason,
                      sizeof reason);
        gm_set_reason(job_ptr, reason);
        goto refuse;
    }
    struct gm_market_terms terms;
    struct gm_job_lease l;
    if (gm_job_terms(job_ptr, &terms, reason, sizeof reason) != 0 ||
        gm_terms_for(job_ptr, &terms, v->price, v->bid, v->gpus, &l, reason, sizeof reason) != 0) {
        gm_set_reason(job_ptr, reason);
        goto refuse;
    }
    int required = job_ptr->details && job_ptr->details->req_node_bitmap &&
                   bit_set_count(job_ptr->details->req_node_bitmap) > 0;
    if (required) {
        if (gm_narrow_required(job_ptr, v, node_bitmap, reason, sizeof reason) < 0) {
            gm_set_reason(job_ptr, reason);
            goto refuse;
        }
    } else if (gm_narrow(v, node_bitmap) < (int)(min_nodes ? min_nodes : 1)) {
        gm_set_reason(job_ptr, "gpumarket: its planned nodes are not available");
        goto refuse;
    }
    if (mode == SELECT_MODE_RUN_NOW && node_bitmap &&
        gm_hide_unoffered(hidden, v, node_bitmap, required, time(NULL)) != 0) {
        gm_set_reason(job_ptr, "gpumarket: out of memory choosing its GPUs");
        goto refuse;
    }
    gm_clear_reason(job_ptr);
    if (mode == SELECT_MODE_RUN_NOW) {
        gm_admitted.job = job_ptr;
        gm_admitted.job_id = job_ptr->job_id;
        gm_admitted.policy_serial = gm_policy_serial;
        gm_admitted.verdict = *v;
    }
    pthread_mutex_unlock(&gm_lock);
    return 1;
refuse:
    pthread_mutex_unlock(&gm_lock);
    return -1;
}

extern int select_p_job_begin(job_record_t *job_ptr)
{
    const struct gm_policy_verdict *v;
    const struct gm_refusal *refusal = NULL;
    struct gm_market_terms terms;
    struct gm_job_lease l;
    char err[GM_JOB_TEXT_MAX * 2], type[GM_JOB_MAX_TYPE + 1];
    uint32_t gpus;
    int rc;

    if (!gm_active || !job_ptr)
        return cons_tres.job_begin(job_ptr);
    pthread_mutex_lock(&gm_lock);
    if (!gm_is_market_now(job_ptr) ||
        gm_job_request(job_ptr, gm_market_part(), &gpus, type, sizeof type, err, sizeof err) != 0 ||
        gpus == 0) {
        pthread_mutex_unlock(&gm_lock);
        return cons_tres.job_begin(job_ptr);
    }
    /* The verdict of the test that just admitted it (the same record, under
     * its own job id or, for an array task split off since, its array's);
     * else the current snapshot's, in case the price moved. */
    gm_policy_tick(time(NULL));
    if (gm_market_closed()) {
        error("gpumarket: %pJ: not started: %s", job_ptr, GM_CLOSED_REASON);
        gm_admitted.job = NULL;
        pthread_mutex_unlock(&gm_lock);
        return SLURM_ERROR;
    }
    /* A policy put in force since the test priced it: look again. */
    struct gm_policy_verdict tested;
    if (gm_admitted.job == job_ptr && gm_admitted.policy_serial == gm_policy_serial &&
        (gm_admitted.job_id == job_ptr->job_id ||
         (job_ptr->array_task_id != NO_VAL && gm_admitted.job_id == job_ptr->array_job_id))) {
        tested = gm_admitted.verdict;
        v = &tested;
    } else {
        v = gm_lookup(job_ptr, time(NULL), &refusal);
    }
    gm_admitted.job = NULL;
    if (!v || v->status != GM_POLICY_ADMITTED || gm_job_terms(job_ptr, &terms, err, sizeof err) ||
        gm_terms_for(job_ptr, &terms, v->price, v->bid, v->gpus, &l, err, sizeof err)) {
        error("gpumarket: %pJ: not started: %s", job_ptr,
              refusal ? refusal->reason
              : v     ? gm_policy_status_string(v->status)
                      : "not priced");
        pthread_mutex_unlock(&gm_lock);
        return SLURM_ERROR;
    }
    rc = cons_tres.job_begin(job_ptr);
    if (rc == SLURM_SUCCESS) {
        l.job_id = job_ptr->job_id;
        l.start = (int64_t)job_ptr->start_time;
        snprintf(l.type, sizeof l.type, "%s", gm_policy_type_name(gm_engine, v->type));
        gm_lease_put(&l);
        if (l.limit_min >= 0) {
            job_ptr->time_limit = (uint32_t)l.limit_min;
            job_ptr->end_time = job_ptr->start_time + (time_t)l.limit_min * 60;
            job_ptr->end_time_exp = job_ptr->end_time;
        }
        gm_publish_lease(job_ptr, &l);
        char p[GM_MONEY_STRLEN];
        gm_money_format(l.price, p, sizeof p);
        info("gpumarket: %pJ: lease %s x%" PRIu32 " at %s/GPU-hour, time limit %" PRId64 " min",
             job_ptr, l.type, l.gpus, p, l.limit_min);
        gm_dirty++;
    }
    pthread_mutex_unlock(&gm_lock);
    return rc;
}

extern int select_p_select_nodeinfo_set(job_record_t *job_ptr)
{
    int rc = cons_tres.nodeinfo_set(job_ptr);

    if (!gm_active || !job_ptr || !IS_JOB_RUNNING(job_ptr))
        return rc;
    pthread_mutex_lock(&gm_lock);
    gm_idle_scan_job(job_ptr, time(NULL));
    struct gm_job_lease *l = gm_lease_find(job_ptr->job_id);
    if (l && l->start == (int64_t)job_ptr->start_time) {
        uint32_t alloc = gm_alloc_gpus(job_ptr);
        struct gm_market_terms terms;
        struct gm_job_lease nl;
        char err[GM_JOB_TEXT_MAX * 2];
        /* The allocation fixes the GPU count (e.g. --exclusive takes the
         * whole node): re-derive the time cap for it at the locked price. */
        if (alloc > 0 && alloc != l->gpus && gm_job_terms(job_ptr, &terms, err, sizeof err) == 0) {
            if (gm_terms_for(job_ptr, &terms, l->price, l->bid, alloc, &nl, err, sizeof err) == 0) {
                nl.job_id = l->job_id;
                nl.start = l->start;
                memcpy(nl.type, l->type, sizeof nl.type);
                if (l->limit_min >= 0 && (nl.limit_min < 0 || nl.limit_min > l->limit_min))
                    nl.limit_min = l->limit_min;
                *l = nl;
                gm_count_capped();
                gm_publish_lease(job_ptr, l);
            } else {
                /* Cannot afford its real allocation even for a minute. */
                error("gpumarket: %pJ: %s; it ends at once", job_ptr, err);
                l->gpus = alloc;
                l->limit_min = 0;
                gm_count_capped();
                gm_publish_lease(job_ptr, l);
            }
        }
        gm_enforce_cap(job_ptr, l);
        if (gm_receipts_need_begin(job_ptr)) {
            struct gm_market_terms terms;
            char err[GM_JOB_TEXT_MAX * 2];
            /* The order reference is the buyer's own label; the bid was
             * checked at admission, so a bad one here only loses the label. */
            if (gm_job_terms(job_ptr, &terms, err, sizeof err) != 0)
                terms.order[0] = '\0';
            gm_receipts_begin(job_ptr, l, terms.order);
        }
    }
    pthread_mutex_unlock(&gm_lock);
    return rc;
}

extern int select_p_job_fini(job_record_t *job_ptr)
{
    int rc;

    if (!gm_active || !job_ptr)
        return cons_tres.job_fini(job_ptr);
    pthread_mutex_lock(&gm_lock);
    /* The segment (job id, start) ends here, with the state and end time
     * slurmctld set before this call; a second fini for the run is a no-op. */
    gm_receipts_end(job_ptr, gm_conf, gm_lease_find(job_ptr->job_id));
    pthread_mutex_unlock(&gm_lock);
    rc = cons_tres.job_fini(job_ptr);
    pthread_mutex_lock(&gm_lock);
    gm_lease_drop(job_ptr->job_id, (int64_t)job_ptr->start_time);
    gm_idle_scan_job(job_ptr, time(NULL));
    gm_dirty++;
    pthread_mutex_unlock(&gm_lock);
    return rc;
}

extern int select_p_reconfigure(void)
{
    if (gm_active) {
        pthread_mutex_lock(&gm_lock);
        gm_load_conf("reconfigure");
        if (gm_thread_started) /* the active controller, after job_init */
            gm_quote_configure(gm_conf ? gm_conf_quote_port(gm_conf) : 0);
        pthread_mutex_unlock(&gm_lock);
        gm_cost_log();
    }
    return cons_tres.reconfigure();
}

extern int select_p_job_ready(job_record_t *job_ptr)
{
    return cons_tres.job_ready(job_ptr);
}

extern int select_p_job_expand(job_record_t *from_job_ptr, job_record_t *to_job_ptr)
{
    return cons_tres.job_expand(from_job_ptr, to_job_ptr);
}

extern int select_p_job_resized(job_record_t *job_ptr, node_record_t *node_ptr)
{
    return cons_tres.job_resized(job_ptr, node_ptr);
}

extern int select_p_job_signal(job_record_t *job_ptr, int signal)
{
    return cons_tres.job_signal(job_ptr, signal);
}

extern int select_p_job_suspend(job_record_t *job_ptr, bool indf_susp)
{
    return cons_tres.job_suspend(job_ptr, indf_susp);
}

extern int select_p_job_resume(job_record_t *job_ptr, bool indf_susp)
{
    return cons_tres.job_resume(job_ptr, indf_susp);
}

extern bitstr_t *select_p_step_pick_nodes(job_record_t *job_ptr, select_jobinfo_t *jobinfo,
                                          uint32_t node_count, bitstr_t **avail_nodes)
{
    return cons_tres.step_pick_nodes(job_ptr, jobinfo, node_count, avail_nodes);
}

extern int select_p_step_start(step_record_t *step_ptr)
{
    return cons_tres.step_start(step_ptr);
}

extern int select_p_step_finish(step_record_t *step_ptr, bool killing_step)
{
    return cons_tres.step_finish(step_ptr, killing_step);
}

extern int select_p_select_nodeinfo_pack(select_nodeinfo_t *nodeinfo, buf_t *buffer,
                                         uint16_t protocol_version)
{
    return cons_tres.nodeinfo_pack(nodeinfo, buffer, protocol_version);
}

extern int select_p_select_nodeinfo_unpack(select_nodeinfo_t **nodeinfo, buf_t *buffer,
                                           uint16_t protocol_version)
{
    return cons_tres.nodeinfo_unpack(nodeinfo, buffer, protocol_version);
}

extern select_nodeinfo_t *select_p_select_nodeinfo_alloc(void)
{
    return cons_tres.nodeinfo_alloc();
}

extern int select_p_select_nodeinfo_free(select_nodeinfo_t *nodeinfo)
{
    return cons_tres.nodeinfo_free(nodeinfo);
}

extern int select_p_select_nodeinfo_set_all(void)
{
    return cons_tres.nodeinfo_set_all();
}

extern int select_p_select_nodeinfo_get(select_nodeinfo_t *nodeinfo,
                                        enum select_nodedata_type dinfo, enum node_states state,
                                        void *data)
{
    return cons_tres.nodeinfo_get(nodeinfo, dinfo, state, data);
}

extern select_jobinfo_t *select_p_select_jobinfo_alloc(void)
{
    return cons_tres.jobinfo_alloc();
}

extern int select_p_select_jobinfo_free(select_jobinfo_t *jobinfo)
{
    return cons_tres.jobinfo_free(jobinfo);
}

extern int select_p_select_jobinfo_set(select_jobinfo_t *jobinfo,
                                       enum select_jobdata_type data_type, void *data)
{
    return cons_tres.jobinfo_set(jobinfo, data_type, data);
}

extern int select_p_select_jobinfo_get(select_jobinfo_t *jobinfo,
                                       enum select_jobdata_type data_type, void *data)
{
    return cons_tres.jobinfo_get(jobinfo, data_type, data);
}

extern select_jobinfo_t *select_p_select_jobinfo_copy(select_jobinfo_t *jobinfo)
{
    return cons_tres.jobinfo_copy(jobinfo);
}

extern int select_p_select_jobinfo_pack(select_jobinfo_t *jobinfo, buf_t *buffer,
                                        uint16_t protocol_version)
{
    return cons_tres.jobinfo_pack(jobinfo, buffer, protocol_version);
}

extern int select_p_select_jobinfo_unpack(select_jobinfo_t **jobinfo, buf_t *buffer,
                                          uint16_t protocol_version)
{
    return cons_tres.jobinfo_unpack(jobinfo, buffer, protocol_version);
}

extern char *select_p_select_jobinfo_sprint(select_jobinfo_t *jobinfo, char *buf, size_t size,
                                            int mode)
{
    return cons_tres.jobinfo_sprint(jobinfo, buf, size, mode);
}

extern char *select_p_select_jobinfo_xstrdup(select_jobinfo_t *jobinfo, int mode)
{
    return cons_tres.jobinfo_xstrdup(jobinfo, mode);
}

extern int select_p_get_info_from_plugin(enum select_plugindata_info dinfo, job_record_t *job_ptr,
                                         void *data)
{
    return cons_tres.get_info_from_plugin(dinfo, job_ptr, data);
}

extern int select_p_update_node_config(int index)
{
    return cons_tres.update_node_config(index);
}

extern bitstr_t *select_p_resv_test(resv_desc_msg_t *resv_desc_ptr, uint32_t node_cnt,
                                    bitstr_t *avail_bitmap, bitstr_t **core_bitmap)
{
    return cons_tres.resv_test(resv_desc_ptr, node_cnt, avail_bitmap, core_bitmap);
}
