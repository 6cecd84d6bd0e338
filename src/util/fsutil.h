/*
 * fsutil.h: paths and whole-file helpers.
 */
#ifndef BERTH_FSUTIL_H
#define BERTH_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* "a" + "b" -> "a/b" (b absolute -> b). The caller frees. */
char *path_join(const char *a, const char *b);
/* Create a directory and its parents with mode; existing ones are fine. */
int mkdir_p(const char *path, mode_t mode);
/* Read a whole file (at most max bytes, -EFBIG past that); *ret is NUL-terminated,
 * the caller frees. A regular file only: -EINVAL for a FIFO or a device, which is
 * not opened (-EISDIR for a directory). */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write data to path atomically (temp file "<path>.tmp.<pid>" in the same
 * directory, fsync, rename). */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* The same without the fsync: a kill at any instant still leaves the old
 * file or the new one, never a torn one (the rename). For the files berth
 * writes again itself (.env.berth, git's worktree pointers, run records, a
 * tmux window's environment): power loss is not covered (docs/architecture.md,
 * crash safety), and each fsync is a wait for the disk (0.3-3 ms on the
 * benchmark machine: bench/README.md, worktree). */
int write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode);
/* Is name ("<base>.tmp.<digits>") the temporary file write_file_atomic writes
 * base through? A command killed while it wrote leaves one. */
bool atomic_leftover_of(const char *name, const char *base);
/* Remove what killed writers of path left beside it (never the file of a
 * writer that still runs: its pid is in the name); how many. */
unsigned rm_atomic_leftovers(const char *path);
/* True when path exists (any type, symlinks not followed). */
bool path_exists(const char *path);
/* True when path is a directory. */
bool path_is_dir(const char *path);
/* Remove a directory tree (like rm -rf), not following symlinks. Missing is
 * fine. A big tree is removed by several threads (the unlinks' waits
 * overlap); -errno (errno set too) for the first thing that could not go. */
int rm_rf(const char *path);
/* Same, removing path/<last> only after everything else: an interrupted or
 * failed removal leaves path/<last> in place. */
int rm_rf_last(const char *path, const char *last);
/* The directory part of path, as dirname(3) gives it ("." when there is
 * none, "/" for the root's children). The caller frees. */
char *path_dir(const char *path);
/* Absolute canonical path (realpath). The caller frees; NULL with errno set on failure. */
char *path_canonical(const char *path);
/* True when path is relative and stays below its base: not empty, no leading
 * '/', no ".." component. */
bool path_is_relative_below(const char *path);
/* True when path equals dir or lies inside it (both canonical, no trailing '/'). */
bool path_is_inside(const char *path, const char *dir);

/* Open (creating) path and take an exclusive flock on it, waiting as long as
 * another process holds it (the kernel wakes us; nothing polls). Returns the
 * fd (close-on-exec): closing it releases the lock. */
int lock_file(const char *path);

/* inotify instances are reused, not closed while the process runs: closing
 * one makes the kernel wait until every watch removed anywhere just before
 * has been destroyed (fsnotify's mark reaper, an SRCU grace period: 4-27 ms
 * here), which a shim paid between a service's death and its restart.
 * inotify_take: an instance (non-blocking, close-on-exec) with no watch and
 * no pending event, or -1 with errno. inotify_give: its watch wd (if >= 0)
 * is removed and the instance kept for the next take; fd < 0 is a no-op. */
int inotify_take(void);
void inotify_give(int fd, int wd);

#endif
