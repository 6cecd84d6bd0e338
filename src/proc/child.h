/*
 * child.h: the one way berth starts a child it supervises (in the spirit of
 * git's run-command): spawn it, and register its watch on the reaper in the
 * same call, so that no caller can forget the watch or register it too late.
 * A child whose start failed (its exec, chdir, cgroup...: it has already
 * exited with status 127) is reaped here and never reported to the exit
 * callback: the caller gets the reason instead, once.
 */
#ifndef BERTH_PROC_CHILD_H
#define BERTH_PROC_CHILD_H

#include "proc/reaper.h"
#include "proc/spawn.h"

/* Start o's program and watch it on r: cb(data) runs once when it has been
 * reaped. 0 with *ret (may be NULL) valid until cb returns; -errno with
 * *ret_err (may be NULL) when it could not start (nothing to reap, no
 * callback). */
int child_start(struct reaper *r, const struct spawn_opts *o, reaper_exit_fn cb, void *data,
		struct reaper_child **ret, struct spawn_error *ret_err);

#endif
