/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File helpers every component shares: see io.h. */
#include "config.h"

#include "common/io.h"

#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set errno after formatting the message (gm_errf's vsnprintf may change it). */
static int fail_errno(int e, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_errno(int e, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    errno = e;
    return -1;
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

int gm_io_open_regular(const char *path, unsigned flags, struct stat *st, char *err, size_t errlen)
{
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (flags & GM_IO_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    int fd = open(path, oflags);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && (flags & GM_IO_NOFOLLOW))
            return fail_errno(e, err, errlen,
                              "%s: is a symbolic link, which is refused here: give the path of "
                              "the file itself",
                              path);
        return fail_errno(e, err, errlen, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(e, err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return fail_errno(EINVAL, err, errlen,
                          "%s: not a regular file (%s): give the path of a file", path,
                          file_kind(st->st_mode));
    }
    /* Regular files never block; clear the flag so later reads are ordinary. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

char *gm_io_read_fd(int fd, const char *path, size_t maxlen, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        fail_errno(e, err, errlen, "%s: cannot stat: %s", path, strerror(e));
        return NULL;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > maxlen) {
        fail_errno(EFBIG, err, errlen, "%s: file is %lld bytes: the most is %zu", path,
                   (long long)st.st_size, maxlen);
        return NULL;
    }
    /* Room for one byte past the size, so a file that grew since fstat is
     * read whole or caught at the limit, never cut. */
    size_t cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fail_errno(ENOMEM, err, errlen, "%s: out of memory for %zu bytes", path, cap);
        return NULL;
    }
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            fail_errno(e, err, errlen, "%s: read error: %s", path, strerror(e));
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > maxlen) {
            free(buf);
            fail_errno(EFBIG, err, errlen, "%s: grew past %zu bytes while being read", path,
                       maxlen);
            return NULL;
        }
        if (got == cap) {
            size_t bigger = cap * 2 < maxlen + 1 ? cap * 2 : maxlen + 1;
            char *nb = realloc(buf, bigger + 1);
            if (!nb) {
                free(buf);
                fail_errno(ENOMEM, err, errlen, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
            cap = bigger;
        }
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

char *gm_io_read_file(const char *path, unsigned flags, size_t maxlen, size_t *len, char *err,
                      size_t errlen)
{
    struct stat st;
    int fd = gm_io_open_regular(path, flags, &st, err, errlen);
    if (fd < 0)
        return NULL;
    char *buf = gm_io_read_fd(fd, path, maxlen, len, err, errlen);
    int e = errno;
    close(fd);
    errno = e;
    return buf;
}

int gm_io_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = EIO; /* no progress: never loop on it */
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory part of path ("." when there is none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

int gm_io_write_file(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                     char *err, size_t errlen)
{
    const int exclusive = (flags & GM_IO_EXCLUSIVE) != 0;
    if (exclusive && access(path, F_OK) == 0)
        return fail_errno(EEXIST, err, errlen,
                          "%s: already exists: refusing to overwrite it (move it away first)",
                          path);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    char *dir = dir_of(path);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return fail_errno(ENOMEM, err, errlen, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int rc = -1, e;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        e = errno;
        fail_errno(e, err, errlen, "%s: cannot create a temporary file beside it: %s", path,
                   strerror(e));
        goto out;
    }
    if (fchmod(fd, mode) != 0 || gm_io_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(tmp);
        fail_errno(e, err, errlen, "%s: cannot write: %s", tmp, strerror(e));
        goto out;
    }
    if (close(fd) != 0) {
        e = errno;
        unlink(tmp);
        fail_errno(e, err, errlen, "%s: cannot write: %s", tmp, strerror(e));
        goto out;
    }
    if (exclusive) {
        /* link() fails when the target exists, so a racing writer is never replaced. */
        if (link(tmp, path) != 0) {
            e = errno;
            unlink(tmp);
            if (e == EEXIST)
                fail_errno(e, err, errlen, "%s: already exists: refusing to overwrite it", path);
            else
                fail_errno(e, err, errlen, "%s: cannot create: %s", path, strerror(e));
            goto out;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        fail_errno(e, err, errlen, "%s: cannot rename into place: %s", path, strerror(e));
        goto out;
    }
    /* The new name is durable only once its directory is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        if (dfd >= 0)
            close(dfd);
        fail_errno(e, err, errlen, "%s: written, but syncing its directory %s failed: %s", path,
                   dir, strerror(e));
        goto out;
    }
    close(dfd);
    rc = 0;
out:
    free(tmp);
    free(dir);
    return rc;
}

/* ------------------------------------------------------------ path_is_secure */

static int owner_ok(uid_t uid, uid_t trusted)
{
    return uid == 0 || uid == trusted;
}

/* Check one directory (already stat'ed). */
static int dir_is_secure(const char *dir, const struct stat *st, uid_t trusted, const char *what,
                         const char *path, char *err, size_t errlen)
{
    if (!owner_ok(st->st_uid, trusted))
        return fail_errno(EPERM, err, errlen,
                          "%s: %s is in directory %s, owned by uid %u (not root or uid %u), who "
                          "could replace it: run chown root %s, or move the file",
                          path, what, dir, (unsigned)st->st_uid, (unsigned)trusted, dir);
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
        const char *who = (st->st_mode & S_IWOTH) ? ((st->st_mode & S_IWGRP) ? "go" : "o") : "g";
        return fail_errno(EPERM, err, errlen,
                          "%s: %s is in directory %s, writable by %s (mode %04o), who could "
                          "replace it: run chmod %s-w %s",
                          path, what, dir, (st->st_mode & S_IWOTH) ? "every user" : "its group",
                          (unsigned)(st->st_mode & 07777), who, dir);
    }
    return 0;
}

/* Walk abs (an absolute path) from its directory up to /. */
static int walk_parents(const char *abs, uid_t trusted, const char *what, const char *path,
                        char *err, size_t errlen)
{
    char *d = dir_of(abs);
    if (!d)
        return fail_errno(ENOMEM, err, errlen, "%s: out of memory", path);
    int rc = 0;
    for (;;) {
        struct stat st;
        if (stat(d, &st) != 0) {
            int e = errno;
            rc = fail_errno(e, err, errlen, "%s: cannot stat directory %s: %s", path, d,
                            strerror(e));
            break;
        }
        if ((rc = dir_is_secure(d, &st, trusted, what, path, err, errlen)) != 0)
            break;
        if (strcmp(d, "/") == 0)
            break;
        char *up = dir_of(d);
        free(d);
        d = up;
        if (!d)
            return fail_errno(ENOMEM, err, errlen, "%s: out of memory", path);
    }
    free(d);
    return rc;
}

int gm_io_path_is_secure(const char *path, const struct stat *st, uid_t trusted_uid,
                         const char *what, char *err, size_t errlen)
{
    if (!owner_ok(st->st_uid, trusted_uid))
        return fail_errno(EPERM, err, errlen,
                          "%s: %s is owned by uid %u, not by root or uid %u: run chown root %s",
                          path, what, (unsigned)st->st_uid, (unsigned)trusted_uid, path);
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        const char *who = (st->st_mode & S_IWOTH) ? ((st->st_mode & S_IWGRP) ? "go" : "o") : "g";
        return fail_errno(EPERM, err, errlen,
                          "%s: %s is writable by %s (mode %04o): run chmod %s-w %s", path, what,
                          (st->st_mode & S_IWOTH) ? "every user" : "its group",
                          (unsigned)(st->st_mode & 07777), who, path);
    }
    /* The path as given, made absolute (its links are checked where they live). */
    char *abs;
    if (path[0] == '/') {
        abs = strdup(path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return fail_errno(errno, err, errlen, "%s: cannot find the current directory: %s", path,
                              strerror(errno));
        size_t n = strlen(cwd) + strlen(path) + 2;
        abs = malloc(n);
        if (abs)
            snprintf(abs, n, "%s/%s", cwd, path);
    }
    if (!abs)
        return fail_errno(ENOMEM, err, errlen, "%s: out of memory", path);
    int rc = walk_parents(abs, trusted_uid, what, path, err, errlen);
    free(abs);
    if (rc)
        return rc;
    /* And the file links lead to. */
    char *real = realpath(path, NULL);
    if (!real)
        return fail_errno(errno, err, errlen, "%s: cannot resolve the path: %s", path,
                          strerror(errno));
    rc = walk_parents(real, trusted_uid, what, path, err, errlen);
    free(real);
    return rc;
}
