/* SPDX-License-Identifier: GPL-2.0-or-later */
/* spank_gpumarket.so in sbatch, salloc and srun (allocator and local
 * contexts): environment fallbacks, then the terms go to slurmctld. */
#include "config.h"

#include "slurm-plugin/spank/spank_internal.h"

#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>

int gm_spank_client_post_opt(spank_t sp)
{
    char err[1024], value[GM_FLAG_MAX_INPUT + 1];

    /* The command line (and #SBATCH lines) win over the environment. */
    for (int f = 0; f < GM_FLAG_COUNT; f++) {
        const struct gm_flag_info *info = gm_flag_info((enum gm_flag)f);
        const char *env = getenv(info->env);
        if (env == NULL || gm_flags_isset(&gm_spank.terms, (enum gm_flag)f))
            continue;
        if (gm_flags_set(&gm_spank.terms, (enum gm_flag)f, env, info->env, gm_spank.max_bid, err,
                         sizeof err) != 0) {
            slurm_error("gpumarket: %s", err);
            return -1;
        }
    }
    if (!gm_flags_any(&gm_spank.terms))
        return 0;

    /* The job's control environment reaches slurmctld (the select plugin
     * reads it from the job record) and the job's tasks as SLURM_SPANK_*. */
    for (int f = 0; f < GM_FLAG_COUNT; f++) {
        const struct gm_flag_info *info = gm_flag_info((enum gm_flag)f);
        if (gm_flags_control_value(&gm_spank.terms, (enum gm_flag)f, value, sizeof value) < 0)
            continue;
        spank_err_t rc = spank_job_control_setenv(sp, info->control, value, 1);
        if (rc != ESPANK_SUCCESS) {
            slurm_error("gpumarket: --%s: cannot pass the value to slurmctld: %s", info->option,
                        spank_strerror(rc));
            return -1;
        }
    }
    return 0;
}
