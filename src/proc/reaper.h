/*
 * reaper.h: the event layer of process supervision and the only code that
 * reaps. A struct reaper lives on a libev loop made with ev_loop_new() (which
 * installs no SIGCHLD reaper of its own). Each watched child gets a pidfd
 * (pidfd_open) watched by an ev_io and is reaped with waitid(P_PIDFD); a
 * SIGCHLD signalfd reaps everything else: children that could not get a
 * pidfd, and orphans adopted by a subreaper. Stopping a child is a state
 * change plus an ev_timer: TERM (+CONT) now, KILL at the grace deadline.
 *
 * Both sources reap through one path (see reaper.c): the SIGCHLD sweep reaps
 * every zombie with waitid(P_ALL), watched or not, and hands watched ones to
 * their callback exactly as the pidfd would. So: one reaper per process, and
 * nothing else in the process may wait for children. Call reaper_watch()
 * right after starting a child, before control returns to the loop, or a
 * child that dies at once is reported as an orphan.
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
 * waitpid (WIFEXITED/WIFSIGNALED...); -1 if something outside the reaper
 * reaped the child (a bug: the status is lost). The child object is freed
 * after the callback returns: do not keep it. During the callback it is
 * still valid but reaped (reaper_signal refuses it with -ESRCH).
 * The callback may watch new children (a restart), signal or stop others,
 * and even destroy the reaper (deferred until the callback returns). */
typedef void (*reaper_exit_fn)(struct reaper_child *c, int wstatus, void *data);
/* Called when a process that is not watched (an adopted orphan) was reaped. */
typedef void (*reaper_orphan_fn)(pid_t pid, int wstatus, void *data);

/* A reaper on loop (made with ev_loop_new: the default loop reaps on its
 * own). Blocks SIGCHLD in the calling thread (read through a signalfd) and
 * resets an ignored SIGCHLD to default (else the kernel discards exit
 * statuses). The caller destroys it before the loop. */
int reaper_create(struct ev_loop *loop, struct reaper **ret);
/* Stop every watcher, close every fd, free every child without calling back,
 * and restore SIGCHLD's mask and disposition as they were before
 * reaper_create. Children still running are left to the caller. */
void reaper_destroy(struct reaper *r);
/* Report reaped orphans to cb (NULL: reap them silently). */
void reaper_set_orphan_cb(struct reaper *r, reaper_orphan_fn cb, void *data);

/* Passed as pidfd to reaper_watch: open no pidfd, reap through the SIGCHLD
 * sweep only (the path of kernels without pidfds; tests use it). */
#define REAPER_NO_PIDFD (-2)

/* Watch our child pid (-ECHILD if it is not our un-reaped child, -EEXIST if
 * already watched). pidfd >= 0: a pidfd of pid, owned by the reaper on
 * success (the caller keeps it on failure). -1: the reaper opens one, falling
 * back to SIGCHLD when pidfds are not available (ENOSYS) or fds run out.
 * REAPER_NO_PIDFD: SIGCHLD only. *ret (may be NULL) is valid until the exit
 * callback returns. */
int reaper_watch(struct reaper *r, pid_t pid, int pidfd, reaper_exit_fn cb, void *data,
		 struct reaper_child **ret);
pid_t reaper_child_pid(const struct reaper_child *c);
/* Send sig to the child (group: to its process group, whose id is its pid),
 * through the pidfd when there is one; a reaped child is never signalled
 * (-ESRCH). While the child is un-reaped its pid, hence its group id, cannot
 * be recycled, so kill(-pid) can only reach the group the child made. */
int reaper_signal(struct reaper_child *c, int sig, bool group);
/* Wait for our child pid to exit and reap it (blocking), through pidfd when
 * it is >= 0, else by pid. For a short synchronous run (spawn_run) that no
 * reaper watches: it reaps that one child only, never another's. */
int reaper_reap_sync(pid_t pid, int pidfd, int *ret_wstatus);
/* Number of watched children not yet reaped. */
unsigned reaper_pending(const struct reaper *r);

#endif
