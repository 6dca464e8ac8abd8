/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File helpers every component shares: open a regular file without hanging on
 * a FIFO, read a whole file, write one atomically and durably, and check that
 * a file and every directory above it are safe from other users. */
#ifndef GPUMARKET_COMMON_IO_H
#define GPUMARKET_COMMON_IO_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Conventions: functions return 0 (a descriptor, a buffer) on success and -1
 * (NULL) on failure with a one-line message in err (errlen bytes, always
 * terminated when errlen > 0; err may be NULL) that names the path, says what
 * is wrong and, where it can, what to do.  Messages carry no program prefix:
 * the program that prints them adds it.  On failure errno says what kind:
 * that of the failing call (ENOENT for a missing file, EACCES, ...), EINVAL
 * for something that is not a regular file, EFBIG for a file over the limit,
 * EPERM for a path that fails gm_io_path_is_secure.  Every function is
 * thread-safe (no shared state) and leaves no descriptor open on failure. */

/* Flags for gm_io_open_regular and gm_io_read_file. */
#define GM_IO_NOFOLLOW 0x1 /* refuse a symbolic link as the last path component */

/* Flags for gm_io_write_file. */
#define GM_IO_EXCLUSIVE 0x1 /* never replace an existing file, even in a race */

/* Open `path` read-only (close-on-exec, no controlling tty) and check, with
 * fstat on the descriptor actually opened, that it is a regular file; *st
 * holds that fstat.  The open is non-blocking, so a FIFO or device at the
 * path is refused at once instead of waiting for a writer.  Returns the
 * descriptor (blocking again) or -1. */
int gm_io_open_regular(const char *path, unsigned flags, struct stat *st, char *err, size_t errlen);

/* Read the whole regular file at `path` (opened as gm_io_open_regular does)
 * into a malloc'd buffer with a NUL after the data; *len gets the data's
 * length (the file may itself hold NUL bytes).  A file over `maxlen` bytes is
 * refused, also one that grows past it while being read.  The caller frees
 * the buffer.  NULL on error. */
char *gm_io_read_file(const char *path, unsigned flags, size_t maxlen, size_t *len, char *err,
                      size_t errlen);

/* As gm_io_read_file, from the descriptor fd (a regular file opened with
 * gm_io_open_regular and perhaps checked with gm_io_path_is_secure; `path`
 * names it in messages), from its current offset to its end.  fd stays
 * open. */
char *gm_io_read_fd(int fd, const char *path, size_t maxlen, size_t *len, char *err, size_t errlen);

/* Write all len bytes to fd, retrying short writes and EINTR.  0, or -1
 * with errno set (EIO when write makes no progress). */
int gm_io_write_all(int fd, const void *data, size_t len);

/* Replace (or, with GM_IO_EXCLUSIVE, create) `path` atomically and durably:
 * write a temporary file in the same directory with permissions `mode`,
 * fsync it, rename (link, for GM_IO_EXCLUSIVE) it into place, fsync the
 * directory.  After a crash the path holds either the old content or the
 * whole new one.  Returns 0 or -1 (the temporary file is removed). */
int gm_io_write_file(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
                     char *err, size_t errlen);

/* Is the already-open file `st` (fstat of the descriptor read) at `path`,
 * and every directory above it, safe from users other than root and
 * `trusted_uid`?  In the manner of munge's path_is_secure:
 *   - the file must be owned by root or trusted_uid and not writable by
 *     group or others;
 *   - every directory from the file's up to / must be owned by root or
 *     trusted_uid, and may be writable by group or others only when its
 *     sticky bit is set (as /tmp is: others can add files there but can
 *     neither remove nor rename ours).
 * Both the path as given (made absolute) and its resolved form (symbolic
 * links followed) are walked, so neither a link nor its target can be
 * swapped by another user.  `what` names the file in messages ("the
 * configuration file", "the receipt key"); messages name the file or the
 * directory at fault and the chmod or chown that fixes it.  0 or -1. */
int gm_io_path_is_secure(const char *path, const struct stat *st, uid_t trusted_uid,
                         const char *what, char *err, size_t errlen);

#endif
