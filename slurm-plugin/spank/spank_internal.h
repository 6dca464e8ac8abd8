/* SPDX-License-Identifier: GPL-2.0-or-later */
/* State shared by the contexts of spank_gpumarket.so.  One plugin instance
 * lives in each process that loads it (srun, sbatch, salloc, slurmstepd). */
#ifndef GPUMARKET_SPANK_INTERNAL_H
#define GPUMARKET_SPANK_INTERNAL_H

#include "common/conf.h"
#include "common/text.h"
#include "market/flags.h"
#include "slurm-plugin/spank/plugin_args.h"

#include <slurm/spank.h>

struct gm_spank_state {
    struct gm_plugin_args args;
    struct gm_conf *conf;         /* NULL in contexts that need none */
    int64_t max_bid;              /* from conf; INT64_MAX without one */
    struct gm_market_terms terms; /* what the buyer gave */
    char error[GM_ERRLEN];        /* remote context: an error kept for task_init */
};

extern struct gm_spank_state gm_spank;

/* Allocator and local contexts (sbatch, salloc, srun): apply the environment
 * fallbacks and send the terms to slurmctld in the job's control environment. */
int gm_spank_client_post_opt(spank_t sp);

/* Remote context (slurmstepd).  Errors there never reach srun on their own
 * (a known Slurm behaviour): the first is kept (without the "gpumarket: "
 * prefix, like every library message) and task_init reports it once,
 * prefixed with the node's name. */
void gm_spank_keep_error(const char *msg);
int gm_spank_remote_user_init(spank_t sp);
int gm_spank_remote_task_init(spank_t sp);

#endif
