/*
 * activity.h: when a session was last used, for the watcher's idle stop.
 * Activity is: a berth command on the session, output from its services, a
 * change in its worktree (files, index, HEAD), a tmux client attached to it.
 * What cannot be checked is doubt, and doubt is never idleness.
 */
#ifndef BERTH_WATCH_ACTIVITY_H
#define BERTH_WATCH_ACTIVITY_H

#include <stdbool.h>
#include <stdint.h>

#include "store/state.h"
#include "tmux/tmux.h"

struct activity {
	int64_t last_ms;  /* the latest activity found (epoch ms) */
	const char *what; /* what it was (static text), NULL when none was found */
	char *doubt;      /* why the session cannot be called idle, or NULL */
};

/* The session's activity, looking for anything newer than since_ms (the
 * search ends at the first such thing: then last_ms > since_ms). tmux (may
 * be NULL) is the repository's tmux server: an attached client is activity
 * now. */
void activity_find(const char *berth_dir, const struct session *s, const struct tmux *tmux,
		   int64_t since_ms, struct activity *ret);
void activity_finish(struct activity *a);
/* A berth command used session slug now: touch its activity stamp (in its
 * run directory, only when that exists). Never fails. */
void activity_touch(const char *berth_dir, const char *slug);

#endif
