/* SPDX-License-Identifier: GPL-2.0-or-later */
/* plugstack.conf arguments of spank_gpumarket.so: see plugin_args.h. */
#include "config.h"

#include "slurm-plugin/spank/plugin_args.h"

#include "common/conf.h"
#include "common/text.h"

#include <stdio.h>
#include <string.h>

int gm_plugin_args_parse(int argc, char *const argv[], struct gm_plugin_args *args, char *err,
                         size_t errlen)
{
    int have_config = 0;

    snprintf(args->config, sizeof args->config, "%s", GM_CONF_DEFAULT_PATH);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i] ? argv[i] : "";
        size_t len = strlen(arg), bad;
        char shown[200];

        gm_text_quote(arg, len, shown, sizeof shown);
        if (gm_text_check(arg, len, &bad) != 0)
            return gm_errf(err, errlen,
                           "plugstack.conf argument \"%s\": control character or "
                           "invalid UTF-8 at byte %zu",
                           shown, bad + 1);
        const char *eq = strchr(arg, '=');
        if (eq == NULL)
            return gm_errf(err, errlen,
                           "plugstack.conf argument \"%s\" is not key=value; "
                           "known: config=PATH",
                           shown);
        size_t keylen = (size_t)(eq - arg);
        const char *value = eq + 1;
        if (keylen == 6 && strncmp(arg, "config", 6) == 0) {
            if (have_config)
                return gm_errf(err, errlen,
                               "plugstack.conf argument config= given twice: give it once");
            if (value[0] != '/')
                return gm_errf(err, errlen,
                               "plugstack.conf argument \"%s\": config= needs an "
                               "absolute path to gpumarket.conf",
                               shown);
            if (strlen(value) > GM_PLUGIN_ARGS_MAX_PATH)
                return gm_errf(err, errlen,
                               "plugstack.conf argument config=: path longer than %d bytes",
                               GM_PLUGIN_ARGS_MAX_PATH);
            snprintf(args->config, sizeof args->config, "%s", value);
            have_config = 1;
            continue;
        }
        return gm_errf(err, errlen,
                       "plugstack.conf argument \"%s\": unknown key; known: config=PATH", shown);
    }
    return 0;
}
