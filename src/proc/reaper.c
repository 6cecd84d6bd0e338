/*
 * reaper.c: the only code in berth that reaps children.
 *
 * Two event sources feed one reaping path:
 *
 *   - a pidfd per watched child (pidfd_open, ev_io on EV_READ): readable once
 *     the child has exited; reaped with waitid(P_PIDFD, WNOHANG);
 *   - a SIGCHLD signalfd (SIGCHLD blocked in reaper_create): drained, then
 *     waitid(P_ALL, WEXITED | WNOHANG) until nothing is left. This reaps
 *     *every* zombie, watched or not: children watched without a pidfd,
 *     orphans adopted by a subreaper, and watched children whose pidfd has
 *     not been served yet.
 *
 * Whichever source reaps a pid hands it to reaper_dispatch(), which looks it
 * up among the watched children. Why that is race-free:
 *   - A child is in the watch list only while it is our un-reaped child
 *     (reaper_watch checks that with waitid(WNOWAIT)), and it leaves the list
 *     in the same dispatch that reaped it. The kernel never reuses a pid while
 *     its zombie exists, so a pid found in the list is always that child.
 *   - No WNOWAIT peeking in the sweep: every waitid there consumes a zombie,
 *     so the loop ends and never spins on the same one.
 *   - Reaping through the sweep stops the child's pidfd ev_io (ev_io_stop also
 *     drops an already pending event) before the pidfd is closed, so a pidfd
 *     event is never delivered for a reaped child. Reaping through the pidfd
 *     leaves nothing for the sweep to find (the pid is gone).
 *   - Each child's callback runs exactly once, after its watchers are stopped
 *     and it has left the list; the child is freed after the callback
 *     returns. The callback may watch new children (restarts), signal or stop
 *     others: the sweep looks children up again for every pid it reaps.
 * One requirement on callers: call reaper_watch() right after starting the
 * child, before control returns to the loop; otherwise a child that dies
 * at once is reaped by the sweep and reported as an orphan.
 *
 * Stopping is not here: proc/procset stops a child with everything of it.
 */
#include "util/common.h"

#include <ev.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/pidref.h"
#include "proc/reaper.h"

struct reaper_child {
	struct reaper *r;
	struct reaper_child *prev, *next;
	pid_t pid;
	int pidfd; /* -1: watched through the SIGCHLD sweep only */
	reaper_exit_fn cb;
	void *data;
	ev_io io; /* on pidfd, when there is one */
	bool reaped;
};

struct reaper {
	struct ev_loop *loop;
	int sfd;
	ev_io sig_io;
	struct reaper_child *children;
	unsigned pending;
	reaper_orphan_fn orphan_cb;
	void *orphan_data;
	unsigned depth;     /* callbacks in progress: destroy is deferred */
	bool destroy_asked; /* reaper_destroy was called from a callback */
	bool chld_was_blocked;
	bool chld_action_changed;
	struct sigaction old_chld_action;
};

/* The waitpid() status word of a waitid() result. */
static int wstatus_of(const siginfo_t *info)
{
	switch (info->si_code) {
	case CLD_EXITED:
		return W_EXITCODE(info->si_status & 0xff, 0);
	case CLD_DUMPED:
		return (info->si_status & 0x7f) | WCOREFLAG;
	case CLD_KILLED:
	default:
		return info->si_status & 0x7f;
	}
}

static struct reaper_child *reaper_find(struct reaper *r, pid_t pid)
{
	for (struct reaper_child *c = r->children; c; c = c->next)
		if (c->pid == pid)
			return c;
	return NULL;
}

static void reaper_unlink(struct reaper_child *c)
{
	struct reaper *r = c->r;

	if (c->prev)
		c->prev->next = c->next;
	else
		r->children = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Stop c's watchers and close its pidfd; no callback. */
static void reaper_child_release(struct reaper_child *c)
{
	struct ev_loop *loop = c->r->loop;

	/* Stop before close: libev must forget the fd before its number can be
	 * reused, and ev_io_stop drops an event already pending for it. */
	if (c->pidfd >= 0) {
		ev_io_stop(loop, &c->io);
		close(c->pidfd);
		c->pidfd = -1;
	}
}

static void reaper_free(struct reaper *r)
{
	struct reaper_child *c;

	while ((c = r->children)) {
		reaper_unlink(c);
		reaper_child_release(c);
		free(c);
	}
	ev_io_stop(r->loop, &r->sig_io);
	close(r->sfd);
	if (r->chld_action_changed)
		sigaction(SIGCHLD, &r->old_chld_action, NULL);
	if (!r->chld_was_blocked) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	free(r);
}

static void reaper_enter(struct reaper *r)
{
	r->depth++;
}

/* Leave a callback section; true when the reaper was destroyed meanwhile
 * (and is now freed). */
static bool reaper_leave(struct reaper *r)
{
	if (--r->depth == 0 && r->destroy_asked) {
		reaper_free(r);
		return true;
	}
	return false;
}

/* pid was just reaped with status wstatus: finish its watched child, or
 * report an orphan. Returns true when the reaper was destroyed by a callback. */
static bool reaper_dispatch(struct reaper *r, pid_t pid, int wstatus)
{
	struct reaper_child *c = reaper_find(r, pid);

	reaper_enter(r);
	if (c) {
		c->reaped = true;
		reaper_unlink(c);
		reaper_child_release(c);
		r->pending--;
		c->cb(c, wstatus, c->data);
		free(c);
	} else if (r->orphan_cb) {
		r->orphan_cb(pid, wstatus, r->orphan_data);
	}
	return reaper_leave(r);
}

/* Reap c if it has exited. Returns 1 when reaped (and dispatched), 0 when it
 * is still running, 2 when the reaper was destroyed meanwhile. */
static int reaper_try_reap(struct reaper_child *c)
{
	struct reaper *r = c->r;
	siginfo_t info;
	int rc;

	memset(&info, 0, sizeof(info));
	if (c->pidfd >= 0)
		rc = waitid(P_PIDFD, (id_t)c->pidfd, &info, WEXITED | WNOHANG | __WALL);
	else
		rc = waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | __WALL);
	if (rc < 0) {
		if (errno != ECHILD)
			return 0;
		/* Somebody else reaped it (a stray wait elsewhere: a bug). The
		 * status is lost; report -1 rather than wait forever. */
		return reaper_dispatch(r, c->pid, -1) ? 2 : 1;
	}
	if (info.si_pid == 0)
		return 0;
	return reaper_dispatch(r, info.si_pid, wstatus_of(&info)) ? 2 : 1;
}

static void reaper_pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	reaper_try_reap(w->data);
}

static void reaper_sigchld_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct reaper *r = w->data;
	struct signalfd_siginfo ssi[8];

	(void)loop;
	(void)revents;
	/* SIGCHLDs coalesce: a read says "at least one child changed", so the
	 * sweep below, not the count of reads, decides what is reaped. */
	while (read(r->sfd, ssi, sizeof(ssi)) > 0)
		;
	for (;;) {
		siginfo_t info;

		memset(&info, 0, sizeof(info));
		if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | __WALL) < 0)
			break; /* ECHILD: no children at all */
		if (info.si_pid == 0)
			break; /* children, none exited */
		if (reaper_dispatch(r, info.si_pid, wstatus_of(&info)))
			return;
	}
}

int reaper_create(struct ev_loop *loop, struct reaper **ret)
{
	struct reaper *r;
	struct sigaction sa;
	sigset_t set, old;
	int err;

	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		err = -errno;
		goto out_free;
	}
	r->chld_was_blocked = sigismember(&old, SIGCHLD) == 1;
	r->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sfd < 0) {
		err = -errno;
		goto out_mask;
	}
	/* An ignored SIGCHLD (inherited through exec) or SA_NOCLDWAIT makes the
	 * kernel reap children itself: every exit status would be lost. */
	if (sigaction(SIGCHLD, NULL, &r->old_chld_action) == 0 &&
	    (r->old_chld_action.sa_handler == SIG_IGN ||
	     (r->old_chld_action.sa_flags & SA_NOCLDWAIT))) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGCHLD, &sa, NULL) == 0)
			r->chld_action_changed = true;
	}
	ev_io_init(&r->sig_io, reaper_sigchld_cb, r->sfd, EV_READ);
	r->sig_io.data = r;
	ev_io_start(loop, &r->sig_io);
	/* Zombies may predate the signalfd (their SIGCHLD was delivered before
	 * the block): sweep once on the first loop iteration. */
	ev_feed_event(loop, &r->sig_io, EV_READ);
	*ret = r;
	return 0;

out_mask:
	if (!r->chld_was_blocked)
		sigprocmask(SIG_UNBLOCK, &set, NULL);
out_free:
	free(r);
	return err;
}

void reaper_destroy(struct reaper *r)
{
	if (!r)
		return;
	if (r->depth > 0) {
		/* Called from one of our callbacks: finish when it returns. */
		r->destroy_asked = true;
		return;
	}
	reaper_free(r);
}

void reaper_set_orphan_cb(struct reaper *r, reaper_orphan_fn cb, void *data)
{
	r->orphan_cb = cb;
	r->orphan_data = data;
}

int reaper_watch(struct reaper *r, pid_t pid, int pidfd, reaper_exit_fn cb, void *data,
		 struct reaper_child **ret)
{
	struct reaper_child *c;
	siginfo_t info;
	int fd = pidfd;

	if (pid <= 0 || !cb || pidfd < REAPER_NO_PIDFD)
		return -EINVAL;
	if (reaper_find(r, pid))
		return -EEXIST;
	/* Only our own, not yet reaped children can be watched: that is what
	 * makes the pid (and its process group id) stable until we reap it. */
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return -errno;
	if (pidfd == -1) {
		/* No pidfd, whatever the reason (an old kernel, a seccomp
		 * profile answering EPERM, no fd to spare): the SIGCHLD sweep
		 * reaps it all the same. The child is ours and un-reaped (checked
		 * above), so no failure here can mean "not watchable". */
		fd = pidref_pidfd_open(pid);
		if (fd < 0)
			fd = -1;
	} else if (pidfd == REAPER_NO_PIDFD) {
		fd = -1;
	}

	c = xcalloc(1, sizeof(*c));
	c->r = r;
	c->pid = pid;
	c->pidfd = fd;
	c->cb = cb;
	c->data = data;
	if (fd >= 0) {
		ev_io_init(&c->io, reaper_pidfd_cb, fd, EV_READ);
		/* A death wakes both the pidfd and the signalfd, usually in the
		 * same iteration: serve the pidfd first, the sweep then finds
		 * nothing left (either order is correct; this one is cheaper). */
		ev_set_priority(&c->io, EV_MAXPRI);
		c->io.data = c;
		ev_io_start(r->loop, &c->io);
	}
	c->next = r->children;
	if (c->next)
		c->next->prev = c;
	r->children = c;
	r->pending++;
	if (ret)
		*ret = c;
	return 0;
}

pid_t reaper_child_pid(const struct reaper_child *c)
{
	return c->pid;
}

int reaper_signal(struct reaper_child *c, int sig, bool group)
{
	if (c->reaped)
		return -ESRCH;
	/* The child is our un-reaped child: its pid cannot be recycled, and a
	 * process group with that id can only be the one it created (a pgid is
	 * the pid of its creator, and the kernel does not reuse a pid still in
	 * use as a pgid). So kill(-pid) reaches our child's group, or fails with
	 * ESRCH when the child never made itself a group leader. */
	if (group)
		return kill(-c->pid, sig) < 0 ? -errno : 0;
	return pidref_signal(&(struct pidref){.pid = c->pid, .fd = c->pidfd}, sig);
}

int reaper_reap_sync(pid_t pid, int pidfd, int *ret_wstatus)
{
	siginfo_t info;
	int rc;

	do {
		memset(&info, 0, sizeof(info));
		rc = pidfd >= 0 ? waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL)
				: waitid(P_PID, (id_t)pid, &info, WEXITED | __WALL);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	*ret_wstatus = wstatus_of(&info);
	return 0;
}

unsigned reaper_pending(const struct reaper *r)
{
	return r->pending;
}
