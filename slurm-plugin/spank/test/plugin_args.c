/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of spank_gpumarket.so's plugstack.conf arguments (key=value). */
#include "config.h"

#include "slurm-plugin/spank/plugin_args.h"

#include "tests/tap/tap.h"

#include <string.h>

static void test_plugin_args(void)
{
    static const struct {
        int argc;
        const char *argv[3];
        int ok;
        const char *want;
    } rows[] = {
        { 0, { NULL }, 1, "/etc/slurm/gpumarket.conf" },
        { 1, { "config=/etc/gm.conf" }, 1, "/etc/gm.conf" },
        { 1, { "config=gm.conf" }, 0, "config= needs an absolute path" },
        { 1, { "config=" }, 0, "config= needs an absolute path" },
        { 1, { "config" }, 0, "is not key=value" },
        { 1, { "frob=1" }, 0, "\"frob=1\": unknown key; known: config=PATH" },
        { 1, { "Config=/x" }, 0, "unknown key" },
        { 2, { "config=/a", "config=/b" }, 0, "given twice" },
        { 1, { "config=/a\x01" }, 0, "control character" },
        { 1, { "config=/\xff" }, 0, "invalid UTF-8" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct gm_plugin_args args;
        char err[1024] = "";
        int rc =
            gm_plugin_args_parse(rows[i].argc, (char *const *)rows[i].argv, &args, err, sizeof err);
        if (rows[i].ok) {
            if (!ok(rc == 0 && strcmp(args.config, rows[i].want) == 0,
                    "plugstack arguments #%zu give %s", i, rows[i].want))
                diag("%s", err);
        } else if (!ok(rc == -1 && strncmp(err, "plugstack.conf argument", 23) == 0 &&
                           strstr(err, rows[i].want) != NULL,
                       "plugstack arguments #%zu refused: %s", i, rows[i].want)) {
            diag("%s", err);
        }
    }
}

int main(void)
{
    plan(TAP_NO_PLAN);
    test_plugin_args();
    done_testing();
    return exit_status();
}
