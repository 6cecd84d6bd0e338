/*
 * watcher.h: `berth watch`'s engine, the background supervisor of every
 * session of one repository. One libev loop:
 *   - every shim and the repository's tmux server are watched through
 *     pidfds: a death is known at once, recorded with what can be known of
 *     its cause, and acted on (the service restarted per its policy, or its
 *     leftovers stopped);
 *   - a reconcile pass on a timer resolves what commands cannot see between
 *     them: operations whose owner died, worktrees deleted by hand, foreign
 *     processes on a session's port, idle sessions;
 *   - new sessions and shims are found through inotify on .berth/run, so
 *     nothing waits for the timer to be watched.
 * It acts only through berth's own commands (`down`, `restart`, `stop`), run
 * as its children: each takes the session's ownership token and re-checks
 * everything under it, so the watcher never races a command a person runs,
 * and a mechanism exists once. It decides nothing about a session that a
 * live command owns. Events go to the event log and to emit.
 */
#ifndef BERTH_WATCH_WATCHER_H
#define BERTH_WATCH_WATCHER_H

#include <stdbool.h>

#include "store/state.h"

/* Called for every event the watcher records (after it is in the log). */
typedef void (*watch_emit_fn)(const struct event_rec *ev, void *data);

struct watch_opts {
	const char *root;        /* the main worktree root */
	const char *berth_dir;   /* <root>/.berth */
	const char *config_path; /* .berth.ini, read again at each pass */
	const char *exe;         /* the berth executable the actions run */
	bool once;               /* one reconcile pass, wait for its actions, return */
	int stop_fd;             /* readable: stop (a signalfd); -1: none */
	watch_emit_fn emit;
	void *emit_data;
};

/* Run the watcher until stop_fd is readable (or, once, after one pass).
 * st is the open state store. The config is read from config_path (defaults
 * when NULL) at the start and at each pass; a config that stops parsing is
 * reported once and the last good one kept. Returns 0, or -errno with
 * *cause when it cannot run; with once, 1 when an action it ran failed. */
int watcher_run(const struct watch_opts *o, struct state *st, char **cause);

#endif
