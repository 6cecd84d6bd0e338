/*
 * procset.h: the one way berth stops processes. A set is described, not
 * listed: a cgroup (everything in it and below), the descendants of a pid,
 * process groups by their leader's identity, given processes, the processes
 * carrying a session's markers. Stopping it: the stop signal (+SIGCONT, so
 * that a stopped process acts on it) to every member, then the set is
 * scanned again until it is empty (members that appear later get the signal
 * too); at the grace deadline SIGKILL (cgroup.kill where there is one) to
 * every member, again on every scan, until the set is empty or a hard
 * deadline passes; what is left then is reported as survivors. pidfds are
 * opened, used and closed for each signal: none is held per process, so a
 * set larger than the fd limit is stopped like any other.
 *
 * The stopper runs on a libev loop (the shim's own, or a private one for
 * procset_stop); a member that is our own child is reaped by the caller's
 * reaper (procset_stop makes one).
 */
#ifndef BERTH_PROC_PROCSET_H
#define BERTH_PROC_PROCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe/proc.h"

struct ev_loop;

enum procset_marks {
	PROCSET_MARKS_NONE,    /* no marker sweep */
	PROCSET_MARKS_SESSION, /* every process of the session */
	PROCSET_MARKS_SERVICE, /* the processes of one service */
	PROCSET_MARKS_HOOKS,   /* the processes hooks left (BERTH_HOOK set) */
	PROCSET_MARKS_ROOT,    /* every process of every session of root_id (flush) */
};

struct procset {
	const char *cgroup;            /* every process in it and below; NULL: none */
	pid_t tree;                    /* every live descendant of this pid; 0: none */
	const struct proc_ref *groups; /* process groups, by their leader's identity */
	size_t n_groups;
	const struct proc_ref *refs; /* these processes */
	size_t n_refs;
	enum procset_marks marks; /* with root_id, session (and service; ROOT: no session) */
	const char *root_id;
	const char *session;
	const char *service;
};

/* The live members of s now (never us nor our ancestors). *ret: caller
 * frees, NULL when empty. */
int procset_scan(const struct procset *s, struct proc_ref **ret, size_t *ret_n);
struct proc_table;
/* The same, with the processes taken from t (a snapshot the caller read,
 * shared by the sets it looks at) rather than from a walk of /proc of its
 * own; a cgroup's and a marker's members are still read now. */
int procset_scan_in(const struct procset *s, const struct proc_table *t, struct proc_ref **ret,
		    size_t *ret_n);

#define PROCSET_KILL_WAIT_MS 2000 /* after SIGKILL: how long members may take to go */

struct procset_stopper;
/* Called once, when the set is empty or the hard deadline passed. The
 * stopper may be destroyed from it. */
typedef void (*procset_stopper_done_fn)(struct procset_stopper *st, void *data);

/* Start stopping s on loop: sig now (0: no signal, wait; SIGKILL: no
 * grace), SIGKILL at grace_ms. s is copied. Never calls back before the loop
 * runs. */
int procset_stopper_start(struct ev_loop *loop, const struct procset *s, int sig, uint64_t grace_ms,
			  procset_stopper_done_fn cb, void *data, struct procset_stopper **ret);
/* Scan again now (a member was reaped, a cgroup emptied). */
void procset_stopper_poke(struct procset_stopper *st);
/* SIGKILL now (a second Ctrl-C). */
void procset_stopper_hurry(struct procset_stopper *st);
bool procset_stopper_done(const struct procset_stopper *st);
/* How many distinct processes it signalled. */
unsigned procset_stopper_signalled(const struct procset_stopper *st);
/* True when SIGKILL was sent to a member. */
bool procset_stopper_killed(const struct procset_stopper *st);
/* What was still there at the hard deadline (valid until destroy). */
const struct proc_ref *procset_stopper_survivors(const struct procset_stopper *st, size_t *ret_n);
void procset_stopper_destroy(struct procset_stopper *st);

struct procset_result {
	unsigned signalled;
	bool killed;
	bool interrupted;           /* sigfd fired: the rest was KILLed at once */
	struct proc_ref *survivors; /* caller frees */
	size_t n_survivors;
};

/* Stop the sets v[0..n) together, each with its own signal sigs[i], in a
 * private loop with a reaper of its own (our own children among them are
 * reaped). sigfd >= 0: readable means "hurry": KILL now. */
int procset_stop_many(const struct procset *v, const int *sigs, size_t n, uint64_t grace_ms,
		      int sigfd, struct procset_result *ret);
/* One set. */
int procset_stop(const struct procset *s, int sig, uint64_t grace_ms, int sigfd,
		 struct procset_result *ret);
void procset_result_finish(struct procset_result *r);

#endif
