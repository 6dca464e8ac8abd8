/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small TAP (Test Anything Protocol, version 13) producer for gpumarket's C
 * unit tests, read by Automake's tap-driver.sh.  Not thread-safe. */
#ifndef GPUMARKET_TAP_H
#define GPUMARKET_TAP_H

#include <stddef.h>
#include <stdint.h>

#define TAP_NO_PLAN (-1)

/* Declare how many tests will run (or TAP_NO_PLAN, then call done_testing). */
void plan(int count);
/* Skip the whole file: prints "1..0 # SKIP reason" and exits 0. */
void skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Abort the run: "Bail out! reason", exit 255. */
void bail_out(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Each returns its verdict (nonzero when the test passed). */
int ok_at(int passed, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int is_int_at(long long got, long long want, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int is_str_at(const char *got, const char *want, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int is_mem_at(const void *got, const void *want, size_t len, const char *file, int line,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define ok(passed, ...) ok_at(!!(passed), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
    is_int_at((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...)      is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, want, len, ...) is_mem_at((got), (want), (len), __FILE__, __LINE__, __VA_ARGS__)

/* Record `count` skipped tests with a reason. */
void skip(int count, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A comment line ("# ...") on stdout.  Returns 0, so `ok(...) || diag(...)` reads well. */
int diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the plan for TAP_NO_PLAN runs. */
void done_testing(void);
/* The process exit status: 0 when every test passed and the plan was met. */
int exit_status(void);

#endif
