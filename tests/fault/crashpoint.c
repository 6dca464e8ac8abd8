/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LD_PRELOAD library for crash tests: kills the process right after its Nth
 * write to one file (so the kill lands between a write and its sync, every
 * time), and logs the file's size at each successful sync (the prefix a power
 * loss cannot take).  The code under test is not changed or trusted.
 *   GPUMARKET_CRASH_FILE          the file watched (it may not exist yet)
 *   GPUMARKET_CRASH_AFTER_WRITES  N: SIGKILL after the Nth write to it (0: never)
 *   GPUMARKET_CRASH_LOG           appended: "sync SIZE" after each fsync or
 *                                 fdatasync of the file, "kill N" before the kill */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long writes;

/* Whether fd is the watched file (compared by device and inode, so renames
 * and relative paths do not matter). */
static int watched(int fd)
{
    const char *path = getenv("GPUMARKET_CRASH_FILE");
    struct stat a, b;
    if (!path || fstat(fd, &a) != 0 || stat(path, &b) != 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void log_line(const char *what, unsigned long long v)
{
    const char *path = getenv("GPUMARKET_CRASH_LOG");
    if (!path)
        return;
    char line[64];
    int n = snprintf(line, sizeof line, "%s %llu\n", what, v);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (real_write(fd, line, (size_t)n) != n)
        abort();
    close(fd);
}

static void after_write(int fd, ssize_t rc)
{
    if (rc <= 0 || !watched(fd))
        return;
    pthread_mutex_lock(&lock);
    unsigned long n = ++writes;
    pthread_mutex_unlock(&lock);
    const char *limit = getenv("GPUMARKET_CRASH_AFTER_WRITES");
    if (limit && strtoul(limit, NULL, 10) == n) {
        log_line("kill", n);
        raise(SIGKILL);
    }
}

/* The size is taken before the sync: what was written before the call is
 * what the call makes durable (a later write by another thread is not). */
static off_t before_sync(int fd)
{
    struct stat st;
    return watched(fd) && fstat(fd, &st) == 0 ? st.st_size : -1;
}

static void after_sync(off_t size, int rc)
{
    if (rc == 0 && size >= 0)
        log_line("sync", (unsigned long long)size);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = dlsym(RTLD_NEXT, "write");
    ssize_t rc = real(fd, buf, len);
    after_write(fd, rc);
    return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = dlsym(RTLD_NEXT, "pwrite");
    ssize_t rc = real(fd, buf, len, off);
    after_write(fd, rc);
    return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    if (!real)
        real = dlsym(RTLD_NEXT, "writev");
    ssize_t rc = real(fd, iov, cnt);
    after_write(fd, rc);
    return rc;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = dlsym(RTLD_NEXT, "fsync");
    off_t size = before_sync(fd);
    int rc = real(fd);
    after_sync(size, rc);
    return rc;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = dlsym(RTLD_NEXT, "fdatasync");
    off_t size = before_sync(fd);
    int rc = real(fd);
    after_sync(size, rc);
    return rc;
}
