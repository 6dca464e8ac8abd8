/* SPDX-License-Identifier: GPL-2.0-or-later */
/* plugstack.conf arguments of spank_gpumarket.so (`key=value`), parsed once
 * and strictly: an unknown key or a bad value refuses to load the plugin. */
#ifndef GPUMARKET_PLUGIN_ARGS_H
#define GPUMARKET_PLUGIN_ARGS_H

#include <stddef.h>

#define GM_PLUGIN_ARGS_MAX_PATH 4095

struct gm_plugin_args {
    char config[GM_PLUGIN_ARGS_MAX_PATH + 1]; /* gpumarket.conf (absolute) */
};

/* Parse argv[0..argc-1] into *args (defaults first: config is
 * /etc/slurm/gpumarket.conf).  Known keys: config=PATH.  Returns 0, or -1
 * with a message in err naming the argument and what is allowed. */
int gm_plugin_args_parse(int argc, char *const argv[], struct gm_plugin_args *args, char *err,
                         size_t errlen);

#endif
