/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The subcommand tree: find a command by name in its group's table, parse
 * its options from its own table, and generate --help from the tables. */
#include "config.h"

#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define HELP_KEY 1

static int repeatable(enum gm_cli_key key)
{
    return key == GM_CLI_PUBKEY || key == GM_CLI_CHECKPOINT || key == GM_CLI_ADMIN_KEY ||
           key == GM_CLI_SET;
}

static const char *full_path(const struct gm_cli_command *cmd)
{
    return cmd->path ? cmd->path : cmd->name;
}

static void print_group_help(const struct gm_cli_command *cmd, FILE *f)
{
    if (cmd->path)
        fprintf(f, "Usage: gpumarket %s COMMAND [OPTIONS]\n", cmd->path);
    else
        fprintf(f, "Usage: gpumarket COMMAND [ARGS]\n");
    for (const struct gm_cli_command *const *s = cmd->subcommands; *s; s++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", (*s)->name, (*s)->operands ? " " : "",
                 (*s)->operands ? (*s)->operands : "");
        if (strlen(head) > 22) /* a long head gets its own line */
            fprintf(f, "  %s\n  %-22s %s\n", head, "", (*s)->summary);
        else
            fprintf(f, "  %-22s %s\n", head, (*s)->summary);
    }
    if (cmd->doc)
        fputs(cmd->doc, f);
}

static void print_leaf_help(const struct gm_cli_command *cmd, FILE *f)
{
    /* Usage line: every option in brackets, then the operands, wrapped. */
    char line[4096];
    int col = snprintf(line, sizeof line, "Usage: gpumarket %s", full_path(cmd));
    const int indent = col;
    fputs(line, f);
    for (const struct gm_cli_option *o = cmd->options; o && o->name; o++) {
        char item[128];
        int n = snprintf(item, sizeof item, " [--%s%s%s]%s", o->name, o->arginfo ? " " : "",
                         o->arginfo ? o->arginfo : "", repeatable(o->key) ? "..." : "");
        if (col + n > 79) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        fputs(item, f);
        col += n;
    }
    if (cmd->operands)
        fprintf(f, " %s", cmd->operands);
    fputc('\n', f);
    if (cmd->doc)
        fputs(cmd->doc, f);
    /* One line per option, help text from column 22, continuations indented. */
    for (const struct gm_cli_option *o = cmd->options; o && o->name; o++) {
        char head[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->arginfo ? " " : "",
                 o->arginfo ? o->arginfo : "");
        fprintf(f, "  %-19s ", head);
        for (const char *u = o->usage; *u; u++) {
            fputc(*u, f);
            if (*u == '\n')
                fprintf(f, "%22s", "");
        }
        fputc('\n', f);
    }
    fprintf(f, "  %-19s %s\n", "--help", "print this help");
}

void gm_cli_print_help(const struct gm_cli_command *cmd, FILE *f)
{
    if (cmd->subcommands)
        print_group_help(cmd, f);
    else
        print_leaf_help(cmd, f);
}

static int run_leaf(const struct gm_cli_command *cmd, int argc, char **argv)
{
    struct gm_cli_args args;
    memset(&args, 0, sizeof args);
    args.ledger = getenv("GPUMARKET_LEDGER_DIR");
    args.key = getenv("GPUMARKET_RECEIPT_KEY");

    /* getopt_long's table, built from the command's own. */
    size_t n = 0;
    while (cmd->options && cmd->options[n].name)
        n++;
    struct option *longopts = calloc(n + 2, sizeof *longopts);
    if (!longopts)
        gm_cli_die("out of memory");
    for (size_t i = 0; i < n; i++) {
        longopts[i].name = cmd->options[i].name;
        longopts[i].has_arg = cmd->options[i].arginfo ? required_argument : no_argument;
        longopts[i].val = (int)cmd->options[i].key;
    }
    longopts[n].name = "help";
    longopts[n].val = HELP_KEY;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (c == '?' || c == ':') {
            const char *given = argv[optind - 1];
            char name[128];
            size_t len = strcspn(given + (given[0] == '-' && given[1] == '-' ? 2 : 0), "=");
            snprintf(name, sizeof name, "%.*s", (int)len,
                     given + (given[0] == '-' && given[1] == '-' ? 2 : 0));
            free(longopts);
            if (c == ':')
                gm_cli_usage_error(cmd, "option %s needs a value", given);
            if (given[0] == '-' && given[1] == '-' && gm_cli_is_known_option(name))
                gm_cli_usage_error(cmd, "option %s does not apply here", given);
            gm_cli_usage_error(cmd, "unknown option %s", given);
        }
        if (c == HELP_KEY) {
            free(longopts);
            gm_cli_print_help(cmd, stdout);
            exit(EXIT_SUCCESS);
        }
        gm_cli_store_option(cmd, &args, (enum gm_cli_key)c, optarg);
    }
    free(longopts);
    return cmd->run(cmd, &args, argc - optind, argv + optind);
}

int gm_cli_dispatch(const struct gm_cli_command *cmd, int argc, char **argv)
{
    if (!cmd->subcommands)
        return run_leaf(cmd, argc, argv);
    if (argc < 2) {
        print_group_help(cmd, stderr);
        return GM_CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || (!cmd->path && !strcmp(sub, "help"))) {
        print_group_help(cmd, stdout);
        return 0;
    }
    for (const struct gm_cli_command *const *s = cmd->subcommands; *s; s++)
        if (!strcmp((*s)->name, sub))
            return gm_cli_dispatch(*s, argc - 1, argv + 1);
    if (!cmd->path) {
        fprintf(stderr, "gpumarket: unknown command \"%s\"\n", sub);
        print_group_help(cmd, stderr);
        exit(GM_CLI_EXIT_USAGE);
    }
    char names[256] = "";
    size_t used = 0;
    for (const struct gm_cli_command *const *s = cmd->subcommands; *s && used < sizeof names; s++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                 s == cmd->subcommands ? ""
                                 : s[1]                ? ", "
                                                       : " or ",
                                 (*s)->name);
    gm_cli_usage_error(cmd, "unknown command \"%s\" (%s)", sub, names);
}
