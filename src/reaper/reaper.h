/*
 * reaper.h: the event layer of process supervision and the only code that
 * reaps. A struct reaper lives on a libev loop made with ev_loop_new() (which
 * installs no SIGCHLD reaper of its own). Each watched child gets a pidfd
 * (pidfd_open) watched by an ev_io and is reaped with waitid(P_PIDFD); a
 * SIGCHLD signalfd reaps everything else: children that could not get a
 * pidfd, and orphans adopted by a subreaper. Stopping a child is a state
 * change plus an ev_timer: TERM (+CONT) now, KILL at the grace deadline.
 */
#ifndef BERTH_REAPER_H
#define BERTH_REAPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ev_loop;
struct reaper;
struct reaper_child;

/* Called once when a watched child has been reaped. wstatus is as from
 * waitpid (WIFEXITED/WIFSIGNALED...). The child object is freed after the
 * callback returns: do not keep it. */
typedef void (*reaper_exit_fn)(struct reaper_child *c, int wstatus, void *data);
/* Called when a process that is not watched (an adopted orphan) was reaped. */
typedef void (*reaper_orphan_fn)(pid_t pid, int wstatus, void *data);

/* A reaper on loop. Blocks SIGCHLD in the calling thread (read through a
 * signalfd). The caller destroys it before the loop. */
int reaper_create(struct ev_loop *loop, struct reaper **ret);
void reaper_destroy(struct reaper *r);
/* Report reaped orphans to cb (NULL: reap them silently). */
void reaper_set_orphan_cb(struct reaper *r, reaper_orphan_fn cb, void *data);

/* Watch our child pid. The reaper takes pidfd when >= 0 (else opens one,
 * falling back to SIGCHLD when pidfds are not available). */
int reaper_watch(struct reaper *r, pid_t pid, int pidfd, reaper_exit_fn cb, void *data,
		 struct reaper_child **ret);
pid_t reaper_child_pid(const struct reaper_child *c);
/* Send sig to the child (group: to its process group, whose id is its pid),
 * through the pidfd when there is one; a reaped child is never signalled. */
int reaper_signal(struct reaper_child *c, int sig, bool group);
/* Stop the child: sig (+SIGCONT, so a stopped process sees it) now, SIGKILL
 * when it is still there after grace_ms. group: the whole process group. */
int reaper_stop(struct reaper_child *c, int sig, uint64_t grace_ms, bool group);
/* True between reaper_stop and the exit: the child is being stopped. */
bool reaper_child_stopping(const struct reaper_child *c);
/* True when reaper_stop had to send SIGKILL. */
bool reaper_child_killed(const struct reaper_child *c);
/* Number of watched children not yet reaped. */
unsigned reaper_pending(const struct reaper *r);

#endif
