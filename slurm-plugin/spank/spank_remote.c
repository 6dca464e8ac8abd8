/* SPDX-License-Identifier: GPL-2.0-or-later */
/* spank_gpumarket.so in slurmstepd (remote context): the buyer's terms are
 * checked again and given to the tasks as GPUMARKET_* variables; errors are
 * kept and reported from task_init on the task's stderr. */
#include "config.h"

#include "slurm-plugin/spank/spank_internal.h"

#include <slurm/spank.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Step ids Slurm gives the batch script and salloc's interactive step. */
#define GM_BATCH_STEP       0xfffffffbu
#define GM_INTERACTIVE_STEP 0xfffffffau

void gm_spank_keep_error(const char *msg)
{
    if (gm_spank.error[0] == '\0')
        snprintf(gm_spank.error, sizeof gm_spank.error, "%s", msg);
}

static int job_env(spank_t sp, const char *name, char *buf, int len)
{
    return spank_getenv(sp, name, buf, len) == ESPANK_SUCCESS;
}

/* Read one job environment variable; 1 if present, 0 if absent, -1 (error
 * kept) if it cannot be read whole. */
static int read_job_env(spank_t sp, const char *name, char *buf, int len)
{
    char err[256];
    spank_err_t rc = spank_getenv(sp, name, buf, len);

    if (rc == ESPANK_ENV_NOEXIST)
        return 0;
    if (rc == ESPANK_SUCCESS)
        return 1;
    snprintf(err, sizeof err, "%s: cannot read it: %s", name, spank_strerror(rc));
    gm_spank_keep_error(err);
    return -1;
}

/* The terms reach slurmstepd by three roads, all in the user's hands and all
 * checked as strictly as at submission: the options themselves (srun passes
 * them; see option_cb), the job's control environment (a batch job and its
 * steps), and the GPUMARKET_* fallbacks.  Where two say different things
 * the step fails rather than guess. */
int gm_spank_remote_user_init(spank_t sp)
{
    char name[128], value[GM_FLAG_MAX_INPUT + 1], err[1024];

    if (gm_spank.error[0] != '\0')
        return 0;
    for (int f = 0; f < GM_FLAG_COUNT; f++) {
        const struct gm_flag_info *info = gm_flag_info((enum gm_flag)f);
        int from_option = gm_flags_isset(&gm_spank.terms, (enum gm_flag)f);
        snprintf(name, sizeof name, "SLURM_SPANK_%s", info->control);
        int have = read_job_env(sp, name, value, sizeof value);
        if (have < 0)
            return 0;
        if (have && gm_flags_import(&gm_spank.terms, (enum gm_flag)f, value, gm_spank.max_bid, err,
                                    sizeof err) != 0) {
            gm_spank_keep_error(err);
            return 0;
        }
        if (!have && !from_option) {
            have = read_job_env(sp, info->env, value, sizeof value);
            if (have < 0)
                return 0;
            if (have && gm_flags_set(&gm_spank.terms, (enum gm_flag)f, value, info->env,
                                     gm_spank.max_bid, err, sizeof err) != 0) {
                gm_spank_keep_error(err);
                return 0;
            }
        }
        if (gm_flags_control_value(&gm_spank.terms, (enum gm_flag)f, value, sizeof value) < 0)
            continue;
        spank_err_t rc = spank_setenv(sp, info->control, value, 1);
        if (rc != ESPANK_SUCCESS) {
            snprintf(err, sizeof err, "cannot set %s for the tasks: %s", info->control,
                     spank_strerror(rc));
            gm_spank_keep_error(err);
            return 0;
        }
    }

    int market = 0;
    char partition[256];
    if (gm_spank.conf != NULL && job_env(sp, "SLURM_JOB_PARTITION", partition, sizeof partition))
        market = strcmp(partition, gm_conf_market_partition(gm_spank.conf)) == 0;
    spank_setenv(sp, "GPUMARKET_MARKET_JOB", market ? "1" : "0", 1);
    return 0;
}

/* Whether this step is where the job's one-time notices belong: the batch
 * script, salloc's interactive step, or step 0 of a job that has neither. */
static int first_step_of_job(spank_t sp)
{
    uint32_t step = 0;
    char env[64];

    if (spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS)
        return 0;
    if (step == GM_BATCH_STEP || step == GM_INTERACTIVE_STEP)
        return 1;
    if (step != 0)
        return 0;
    if (job_env(sp, "ENVIRONMENT", env, sizeof env) && strcmp(env, "BATCH") == 0)
        return 0; /* the batch script already had the notice */
    return !job_env(sp, "SLURM_INTERACTIVE_STEP", env, sizeof env);
}

int gm_spank_remote_task_init(spank_t sp)
{
    char node[256], host[256] = "";

    if (!job_env(sp, "SLURMD_NODENAME", node, sizeof node))
        snprintf(node, sizeof node, "?");
    gethostname(host, sizeof host - 1);

    if (gm_spank.error[0] != '\0') {
        /* The step's stderr may be /dev/null: the admin finds the reason in
         * slurmd's log too, once per node (from the node's first task). */
        int local = 0;
        if (spank_get_item(sp, S_TASK_ID, &local) == ESPANK_SUCCESS && local == 0)
            slurm_error("gpumarket: %s", gm_spank.error);
        fprintf(stderr, "gpumarket: on node %s (host %s): %s\n", node, host, gm_spank.error);
        return -1;
    }

    uint32_t task = 1;
    if (!gm_flags_any(&gm_spank.terms) || gm_spank.conf == NULL ||
        spank_get_item(sp, S_TASK_GLOBAL_ID, &task) != ESPANK_SUCCESS || task != 0 ||
        !first_step_of_job(sp))
        return 0;

    char partition[256];
    const char *market = gm_conf_market_partition(gm_spank.conf);
    if (job_env(sp, "SLURM_JOB_PARTITION", partition, sizeof partition) &&
        strcmp(partition, market) != 0)
        fprintf(stderr,
                "gpumarket: warning: this job is in partition '%s', not in the market "
                "partition '%s': its --market-* flags have no effect; submit with -p %s "
                "to buy GPU time on the market\n",
                partition, market, market);
    return 0;
}
