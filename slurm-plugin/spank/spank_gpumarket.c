/* SPDX-License-Identifier: GPL-2.0-or-later */
/* spank_gpumarket.so: the buyer's market flags for sbatch, salloc and srun.
 * This file declares the plugin, loads its configuration, registers the
 * options and dispatches on spank_context(); each context has its own file. */
#include "config.h"

#include "slurm-plugin/spank/spank_internal.h"

#include <slurm/slurm_version.h>
#include <slurm/spank.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

SPANK_PLUGIN(gpumarket, 1);

struct gm_spank_state gm_spank;

static int option_cb(int val, const char *optarg, int remote);

/* The options, in the order of enum gm_flag; names and help come from the
 * shared flag table so the CLI, tests and man page agree. */
static struct spank_option options[GM_FLAG_COUNT];

static int register_options(spank_t sp)
{
    for (int f = 0; f < GM_FLAG_COUNT; f++) {
        const struct gm_flag_info *info = gm_flag_info((enum gm_flag)f);
        options[f] = (struct spank_option){
            .name = (char *)info->option,
            .arginfo = (char *)info->arginfo,
            .usage = (char *)info->usage,
            .has_arg = 1,
            .val = f,
            .cb = option_cb,
        };
        spank_err_t rc = spank_option_register(sp, &options[f]);
        if (rc != ESPANK_SUCCESS) {
            slurm_error("gpumarket: cannot register --%s: %s", info->option, spank_strerror(rc));
            return -1;
        }
    }
    return 0;
}

/* Called once per occurrence of a flag (#SBATCH line, environment,
 * command line); gm_flags_set refuses a second, different value. */
static int option_cb(int val, const char *optarg, int remote)
{
    char err[1024];
    const struct gm_flag_info *info = gm_flag_info((enum gm_flag)val);
    char source[64];

    if (info == NULL)
        return 0;
    snprintf(source, sizeof source, "--%s", info->option);
    if (gm_flags_set(&gm_spank.terms, (enum gm_flag)val, optarg, source, gm_spank.max_bid, err,
                     sizeof err) != 0) {
        if (remote) {
            /* slurmstepd's errors do not reach srun: task_init reports it. */
            gm_spank_keep_error(err);
            return 0;
        }
        slurm_error("gpumarket: %s", err);
        return -1;
    }
    return 0;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    char err[1024];
    spank_context_t ctx = spank_context();

    memset(&gm_spank, 0, sizeof gm_spank);
    gm_spank.max_bid = INT64_MAX;

    /* slurmd and prolog/epilog contexts have nothing to do. */
    if (ctx != S_CTX_LOCAL && ctx != S_CTX_ALLOCATOR && ctx != S_CTX_REMOTE)
        return 0;

    /* Slurm checks plugin_version too; this says which file and what to do. */
    char *major = NULL, *minor = NULL;
    if (spank_get_item(sp, S_SLURM_VERSION_MAJOR, &major) == ESPANK_SUCCESS &&
        spank_get_item(sp, S_SLURM_VERSION_MINOR, &minor) == ESPANK_SUCCESS && major && minor &&
        (atoi(major) != SLURM_VERSION_MAJOR(SLURM_VERSION_NUMBER) ||
         atoi(minor) != SLURM_VERSION_MINOR(SLURM_VERSION_NUMBER))) {
        slurm_error("gpumarket: spank_gpumarket.so was built for Slurm %d.%02d but this is "
                    "Slurm %s.%s: rebuild gpumarket against this Slurm and install it on "
                    "every node",
                    SLURM_VERSION_MAJOR(SLURM_VERSION_NUMBER),
                    SLURM_VERSION_MINOR(SLURM_VERSION_NUMBER), major, minor);
        return -1;
    }

    if (gm_plugin_args_parse(ac, av, &gm_spank.args, err, sizeof err) != 0) {
        slurm_error("gpumarket: %s", err);
        return -1;
    }
    if (gm_conf_load(gm_spank.args.config, &gm_spank.conf, err, sizeof err) != 0) {
        if (ctx == S_CTX_REMOTE) {
            gm_spank_keep_error(err);
        } else {
            slurm_error("gpumarket: %s", err);
            return -1;
        }
    } else {
        gm_spank.max_bid = gm_conf_max_bid(gm_spank.conf);
    }
    /* sbatch and salloc ignore the static spank_options table: register. */
    return register_options(sp);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    spank_context_t ctx = spank_context();

    if (ctx == S_CTX_LOCAL || ctx == S_CTX_ALLOCATOR)
        return gm_spank_client_post_opt(sp);
    return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    if (spank_context() == S_CTX_REMOTE)
        return gm_spank_remote_user_init(sp);
    return 0;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    if (spank_context() == S_CTX_REMOTE)
        return gm_spank_remote_task_init(sp);
    return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
    gm_conf_destroy(gm_spank.conf);
    gm_spank.conf = NULL;
    return 0;
}
