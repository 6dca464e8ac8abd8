/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for common/io: regular files only (a FIFO refused at once, not
 * waited on), whole-file reads with a limit, atomic writes, and munge-style
 * path_is_secure over the file and every directory above it. */
#include "config.h"

#include "common/io.h"

#include "tests/tap/tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[] = "/tmp/gm-io-test-XXXXXX";

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        bail_out("cannot write %s", path);
    if (chmod(path, mode) != 0)
        bail_out("cannot chmod %s", path);
}

static void check_open(void)
{
    char path[512], fifo[512], link[512], err[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/plain", top);
    put(path, "hello\n", 0644);
    int fd = gm_io_open_regular(path, 0, &st, err, sizeof err);
    ok(fd >= 0 && S_ISREG(st.st_mode) && st.st_size == 6, "a regular file opens: %s",
       fd < 0 ? err : "ok");
    ok(fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK), "the descriptor is blocking again");
    if (fd >= 0)
        close(fd);

    errno = 0;
    ok(gm_io_open_regular(top, 0, &st, err, sizeof err) == -1 && errno == EINVAL &&
           strstr(err, top) && strstr(err, "not a regular file (a directory)"),
       "a directory is refused, named: %s", err);

    /* A FIFO nobody writes to: a blocking open would wait for ever.  The
     * alarm turns a hang into a failure (the test is killed). */
    snprintf(fifo, sizeof fifo, "%s/fifo", top);
    if (mkfifo(fifo, 0600) != 0)
        bail_out("mkfifo %s", fifo);
    alarm(20);
    errno = 0;
    ok(gm_io_open_regular(fifo, 0, &st, err, sizeof err) == -1 && errno == EINVAL &&
           strstr(err, "a FIFO"),
       "a FIFO is refused at once: %s", err);
    size_t len;
    ok(gm_io_read_file(fifo, 0, 100, &len, err, sizeof err) == NULL && strstr(err, "a FIFO"),
       "reading a FIFO is refused at once: %s", err);
    ok(gm_io_open_regular("/dev/null", 0, &st, err, sizeof err) == -1 &&
           strstr(err, "a character device"),
       "a device is refused: %s", err);
    alarm(0);

    snprintf(link, sizeof link, "%s/link", top);
    if (symlink(path, link) != 0)
        bail_out("symlink %s", link);
    fd = gm_io_open_regular(link, 0, &st, err, sizeof err);
    ok(fd >= 0, "a symbolic link is followed by default");
    if (fd >= 0)
        close(fd);
    errno = 0;
    ok(gm_io_open_regular(link, GM_IO_NOFOLLOW, &st, err, sizeof err) == -1 && errno == ELOOP &&
           strstr(err, "symbolic link"),
       "GM_IO_NOFOLLOW refuses it: %s", err);

    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing", top);
    errno = 0;
    ok(gm_io_open_regular(missing, 0, &st, err, sizeof err) == -1 && errno == ENOENT &&
           strstr(err, missing) && strstr(err, "cannot open"),
       "a missing file: errno ENOENT, the path named: %s", err);
    unlink(link);
    unlink(fifo);
}

static void check_read(void)
{
    char path[512], err[512];
    size_t len = 99;
    snprintf(path, sizeof path, "%s/data", top);
    put(path, "abc\0def", 0644); /* fputs stops at the NUL: "abc" */
    char *buf = gm_io_read_file(path, 0, 100, &len, err, sizeof err);
    ok(buf && len == 3 && memcmp(buf, "abc", 4) == 0, "a whole file, NUL-terminated");
    free(buf);
    buf = gm_io_read_file(path, 0, 3, &len, err, sizeof err);
    ok(buf && len == 3, "a file of exactly the limit is read");
    free(buf);
    errno = 0;
    buf = gm_io_read_file(path, 0, 2, &len, err, sizeof err);
    ok(!buf && errno == EFBIG && strstr(err, "file is 3 bytes: the most is 2"),
       "a file over the limit is refused: %s", err);
    put(path, "", 0644);
    buf = gm_io_read_file(path, 0, 0, &len, err, sizeof err);
    ok(buf && len == 0 && buf[0] == '\0', "an empty file reads as \"\"");
    free(buf);
    unlink(path);
}

/* Files in dir whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static void check_write(void)
{
    char path[512], err[512];
    size_t len;
    struct stat st;
    snprintf(path, sizeof path, "%s/out", top);
    ok(gm_io_write_file(path, "one", 3, 0640, 0, err, sizeof err) == 0, "write a new file");
    char *buf = gm_io_read_file(path, 0, 100, &len, err, sizeof err);
    ok(buf && len == 3 && strcmp(buf, "one") == 0 && stat(path, &st) == 0 &&
           (st.st_mode & 07777) == 0640,
       "content and mode as asked");
    free(buf);
    ok(gm_io_write_file(path, "second", 6, 0644, 0, err, sizeof err) == 0, "replace it");
    buf = gm_io_read_file(path, 0, 100, &len, err, sizeof err);
    ok(buf && strcmp(buf, "second") == 0, "the new content replaced the old");
    free(buf);
    errno = 0;
    ok(gm_io_write_file(path, "third", 5, 0644, GM_IO_EXCLUSIVE, err, sizeof err) == -1 &&
           errno == EEXIST && strstr(err, "already exists"),
       "GM_IO_EXCLUSIVE never replaces a file: %s", err);
    buf = gm_io_read_file(path, 0, 100, &len, err, sizeof err);
    ok(buf && strcmp(buf, "second") == 0, "and the file is unchanged");
    free(buf);
    is_int(count_files(top, "out.tmp."), 0, "no temporary file is left behind");
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no-such-dir/out", top);
    ok(gm_io_write_file(bad, "x", 1, 0644, 0, err, sizeof err) == -1 && strstr(err, bad),
       "a path in a missing directory is named: %s", err);
    unlink(path);
}

static int secure(const char *path, char *err, size_t errlen)
{
    struct stat st;
    err[0] = '\0';
    int fd = gm_io_open_regular(path, 0, &st, err, errlen);
    if (fd < 0)
        return -2;
    close(fd);
    return gm_io_path_is_secure(path, &st, geteuid(), "the test file", err, errlen);
}

static void check_secure(void)
{
    char dir[512], path[600], err[1024], want[1200];
    snprintf(dir, sizeof dir, "%s/etc", top);
    if (mkdir(dir, 0755) != 0)
        bail_out("mkdir %s", dir);
    snprintf(path, sizeof path, "%s/market.conf", dir);
    put(path, "x\n", 0644);
    ok(secure(path, err, sizeof err) == 0, "0644 in 0755 directories is secure: %s", err);

    chmod(path, 0664);
    snprintf(want, sizeof want, "writable by its group (mode 0664): run chmod g-w %s", path);
    ok(secure(path, err, sizeof err) == -1 && strstr(err, want) && errno == EPERM,
       "a group-writable file is refused, naming the fix: %s", err);
    chmod(path, 0646);
    snprintf(want, sizeof want, "run chmod o-w %s", path);
    ok(secure(path, err, sizeof err) == -1 && strstr(err, want),
       "a world-writable file is refused: %s", err);
    chmod(path, 0644);

    chmod(dir, 0775);
    snprintf(want, sizeof want, "is in directory %s, writable by its group (mode 0775)", dir);
    ok(secure(path, err, sizeof err) == -1 && strstr(err, want) && strstr(err, "chmod g-w"),
       "a group-writable parent directory is refused: %s", err);
    chmod(dir, 0777);
    ok(secure(path, err, sizeof err) == -1 && strstr(err, "writable by every user") &&
           strstr(err, "chmod go-w"),
       "a world-writable parent directory is refused: %s", err);
    chmod(dir, 01777);
    ok(secure(path, err, sizeof err) == 0,
       "a sticky world-writable directory (as /tmp) is allowed: %s", err);
    chmod(dir, 0755);

    /* Deeper: a writable grandparent is found too. */
    char sub[600], deep[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0755);
    snprintf(deep, sizeof deep, "%s/deep.conf", sub);
    put(deep, "x\n", 0644);
    chmod(dir, 0770);
    ok(secure(deep, err, sizeof err) == -1 && strstr(err, dir) && strstr(err, "chmod g-w"),
       "every directory up to / is checked, not only the file's: %s", err);
    chmod(dir, 0755);

    /* Relative paths are walked from the current directory. */
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0)
        bail_out("chdir %s", dir);
    ok(secure("sub/deep.conf", err, sizeof err) == 0, "a relative path: %s", err);
    if (chdir(cwd) != 0)
        bail_out("chdir back");

    /* A link in a safe directory to a file in an unsafe one, and the reverse. */
    char unsafe[600], target[700], link[700];
    snprintf(unsafe, sizeof unsafe, "%s/unsafe", top);
    mkdir(unsafe, 0755);
    chmod(unsafe, 0777);
    snprintf(target, sizeof target, "%s/target.conf", unsafe);
    put(target, "x\n", 0644);
    snprintf(link, sizeof link, "%s/link.conf", dir);
    if (symlink(target, link) != 0)
        bail_out("symlink");
    ok(secure(link, err, sizeof err) == -1 && strstr(err, unsafe),
       "a link to a file in a writable directory is refused: %s", err);
    unlink(link);
    snprintf(link, sizeof link, "%s/link.conf", unsafe);
    if (symlink(path, link) != 0)
        bail_out("symlink");
    ok(secure(link, err, sizeof err) == -1 && strstr(err, unsafe),
       "a link in a writable directory (anyone could re-point it) is refused: %s", err);
    unlink(link);
    unlink(target);
    rmdir(unsafe);

    if (geteuid() != 0) {
        skip(2, "changing a file's owner needs root (uid %u here)", (unsigned)geteuid());
    } else {
        if (chown(path, 12345, 0) != 0)
            bail_out("chown %s", path);
        snprintf(want, sizeof want, "owned by uid 12345, not by root or uid 0: run chown root %s",
                 path);
        ok(secure(path, err, sizeof err) == -1 && strstr(err, want),
           "a file owned by another user is refused: %s", err);
        chown(path, 0, 0);
        chown(dir, 12345, 0);
        ok(secure(path, err, sizeof err) == -1 && strstr(err, "owned by uid 12345") &&
               strstr(err, dir),
           "a directory owned by another user is refused: %s", err);
        chown(dir, 0, 0);
    }
    unlink(deep);
    rmdir(sub);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    plan(TAP_NO_PLAN);
    umask(022);
    if (!mkdtemp(top))
        bail_out("mkdtemp: cannot make a temporary directory");
    check_open();
    check_read();
    check_write();
    check_secure();
    rmdir(top);
    done_testing();
    return exit_status();
}
