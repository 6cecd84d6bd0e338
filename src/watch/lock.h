/*
 * lock.h: one watcher per repository. `.berth/watch.lock` holds an
 * exclusive flock for as long as the watcher runs, and says who it is
 * (pid and start time). A reader tells a running watcher from a stale file
 * by the lock, never by the pid alone (a pid is recycled; a lock dies with
 * its holder).
 */
#ifndef BERTH_WATCH_LOCK_H
#define BERTH_WATCH_LOCK_H

#include <stdbool.h>

#include "probe/proc.h"

/* .berth/watch.lock. Caller frees. */
char *watch_lock_path(const char *berth_dir);
/* Take the lock (never waits) and write our identity in it: the fd to keep
 * open (close-on-exec) for as long as we watch. -EBUSY when a watcher runs
 * (*holder says which, when it could be read); -errno otherwise. */
int watch_lock_take(const char *berth_dir, struct proc_ref *holder);
/* Is a watcher running for this repository? Never creates the file; true
 * with *ret (may be NULL) its identity, when the lock is held. */
bool watch_running(const char *berth_dir, struct proc_ref *ret);

#endif
