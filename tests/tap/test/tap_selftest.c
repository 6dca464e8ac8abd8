/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checks the TAP library itself: verdicts, plan accounting, exit status.
 * The program runs itself again (fresh TAP state) with a scenario name, and
 * checks the TAP that scenario writes and its exit status. */
#include "tests/tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self;

/* Run scenario `name` in a fresh process, stdout captured; return its exit status. */
static int run_child(const char *name, char *out, size_t outlen)
{
    int fds[2];
    if (pipe(fds) != 0)
        bail_out("pipe: %m");
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bail_out("fork: %m");
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        execl(self, self, name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t n;
    while (used + 1 < outlen && (n = read(fds[0], out + used, outlen - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        bail_out("waitpid: %m");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void all_pass(void)
{
    plan(3);
    ok(1, "first");
    is_int(42, 42, "second");
    is_str("abc", "abc", "third");
}

static void one_fails(void)
{
    plan(2);
    ok(1, "good");
    is_int(1, 2, "bad");
}

static void short_of_plan(void)
{
    plan(3);
    ok(1, "only one");
}

static void no_plan_done(void)
{
    plan(TAP_NO_PLAN);
    ok(1, "a");
    skip(2, "not here");
    done_testing();
}

static const struct {
    const char *name;
    void (*body)(void);
} scenarios[] = {
    { "all_pass", all_pass },
    { "one_fails", one_fails },
    { "short_of_plan", short_of_plan },
    { "no_plan_done", no_plan_done },
};

int main(int argc, char **argv)
{
    char out[4096];

    if (argc == 2) {
        for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
            if (strcmp(argv[1], scenarios[i].name) == 0) {
                scenarios[i].body();
                return exit_status();
            }
        fprintf(stderr, "tap_selftest: unknown scenario %s\n", argv[1]);
        return 127;
    }
    self = "/proc/self/exe";

    plan(9);

    is_int(run_child("all_pass", out, sizeof out), 0, "all passing tests exit 0");
    ok(strstr(out, "1..3\nok 1 - first\nok 2 - second\nok 3 - third\n") != NULL,
       "passing output is well-formed TAP");

    is_int(run_child("one_fails", out, sizeof out), 1, "a failing test exits 1");
    ok(strstr(out, "not ok 2 - bad") != NULL, "the failure is reported as not ok");
    ok(strstr(out, "#          got: 1\n#     expected: 2") != NULL,
       "is_int shows got and expected");

    is_int(run_child("short_of_plan", out, sizeof out), 1,
           "running fewer tests than planned fails");
    ok(strstr(out, "planned 3 tests but ran 1") != NULL, "the plan mismatch is explained");

    is_int(run_child("no_plan_done", out, sizeof out), 0, "done_testing closes an unplanned run");
    ok(strstr(out, "ok 2 # SKIP not here\nok 3 # SKIP not here\n1..3\n") != NULL,
       "skips count and the trailing plan matches");

    return exit_status();
}
