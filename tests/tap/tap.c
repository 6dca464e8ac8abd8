/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TAP producer for the unit tests: see tap.h. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int planned = TAP_NO_PLAN;
static int run;
static int failed;
static int plan_printed;

void plan(int count)
{
    planned = count;
    if (count != TAP_NO_PLAN) {
        printf("1..%d\n", count);
        plan_printed = 1;
    }
    fflush(stdout);
}

void skip_all(const char *fmt, ...)
{
    va_list ap;
    printf("1..0 # SKIP ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(0);
}

void bail_out(const char *fmt, ...)
{
    va_list ap;
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(255);
}

static int report(int passed, const char *file, int line, const char *fmt, va_list ap)
{
    run++;
    if (!passed)
        failed++;
    printf("%s %d - ", passed ? "ok" : "not ok", run);
    vprintf(fmt, ap);
    printf("\n");
    if (!passed)
        printf("#   failed at %s:%d\n", file, line);
    fflush(stdout);
    return passed;
}

int ok_at(int passed, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(passed, file, line, fmt, ap);
    va_end(ap);
    return passed;
}

int is_int_at(long long got, long long want, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int passed = got == want;
    va_start(ap, fmt);
    report(passed, file, line, fmt, ap);
    va_end(ap);
    if (!passed)
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    return passed;
}

int is_str_at(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int passed =
        (got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0);
    va_start(ap, fmt);
    report(passed, file, line, fmt, ap);
    va_end(ap);
    if (!passed)
        printf("#          got: %s%s%s\n#     expected: %s%s%s\n", got ? "'" : "",
               got ? got : "(null)", got ? "'" : "", want ? "'" : "", want ? want : "(null)",
               want ? "'" : "");
    return passed;
}

int is_mem_at(const void *got, const void *want, size_t len, const char *file, int line,
              const char *fmt, ...)
{
    va_list ap;
    int passed = got != NULL && want != NULL && memcmp(got, want, len) == 0;
    va_start(ap, fmt);
    report(passed, file, line, fmt, ap);
    va_end(ap);
    if (!passed && got && want) {
        const unsigned char *g = got, *w = want;
        for (size_t i = 0; i < len; i++)
            if (g[i] != w[i]) {
                printf("#   first difference at byte %zu: got 0x%02x, expected 0x%02x\n", i, g[i],
                       w[i]);
                break;
            }
    }
    return passed;
}

void skip(int count, const char *fmt, ...)
{
    va_list ap;
    for (int i = 0; i < count; i++) {
        run++;
        printf("ok %d # SKIP ", run);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
}

int diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return 0;
}

void done_testing(void)
{
    if (!plan_printed) {
        printf("1..%d\n", run);
        plan_printed = 1;
        planned = run;
    }
    fflush(stdout);
}

int exit_status(void)
{
    if (planned != TAP_NO_PLAN && planned != run) {
        printf("# planned %d tests but ran %d\n", planned, run);
        return 1;
    }
    return failed ? 1 : 0;
}
