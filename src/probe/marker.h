/*
 * marker.h: the environment markers berth gives every process it starts
 * (BERTH_ROOT_ID, BERTH_SESSION, BERTH_SERVICE; BERTH_HOOK for hooks), read back from
 * /proc/<pid>/environ to tell which session a process belongs to.
 */
#ifndef BERTH_PROBE_MARKER_H
#define BERTH_PROBE_MARKER_H

#include <stddef.h>
#include <sys/types.h>

#include "probe/proc.h"

#define MARKER_ROOT_ID "BERTH_ROOT_ID"
#define MARKER_SESSION "BERTH_SESSION"
#define MARKER_SERVICE "BERTH_SERVICE"
#define MARKER_HOOK "BERTH_HOOK" /* a hook's processes: the hook's name */

struct marker {
	char *root_id; /* NULL when absent */
	char *session;
	char *service;
	char *hook;
};

/* Read pid's markers. -ENOENT when the process is gone, -EACCES when its
 * environment is not readable (another user's). Absent markers stay NULL. */
int marker_read(pid_t pid, struct marker *ret);
/* Parse the NUL-separated text of an environ file. */
void marker_parse(const char *env, size_t len, struct marker *ret);
void marker_finish(struct marker *m);

/* Do m's markers say root_id and session, and service when it is not NULL? */
bool marker_matches(const struct marker *m, const char *root_id, const char *session,
		    const char *service);
/* Is m a process of some session of the repository with identity root_id
 * (BERTH_ROOT_ID is root_id, BERTH_SESSION is set)? */
bool marker_of_root(const struct marker *m, const char *root_id);

#endif
