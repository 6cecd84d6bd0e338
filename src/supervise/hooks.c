/*
 * hooks.c: running one hook (see hooks.h).
 */
#include "util/common.h"

#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervise/hooks.h"
#include "probe/proc.h"
#include "proc/cgroup.h"
#include "proc/child.h"
#include "proc/reaper.h"
#include "proc/procset.h"
#include "proc/spawn.h"
#include "shim/svcstatus.h"
#include "util/timeutil.h"

#define HOOK_KILL_GRACE_MS 2000

struct hook_run {
	struct ev_loop *loop;
	struct reaper_child *child;
	struct proc_ref leader;
	struct procset_stopper *stopper; /* stopping the hook's group (timeout, signal) */
	struct hook_result *res;
	bool done;
	ev_timer timeout;
	ev_io sig;
	const struct hook_output *out;
	ev_io out_io; /* the read end of the output pipe */
};

/* Hand what the pipe holds now to the output callback: at most max reads
 * (a process the hook left running may go on writing). */
static void drain_output(struct hook_run *h, unsigned max)
{
	char buf[4096];
	ssize_t n = -1;

	while (max-- &&
	       ((n = read(h->out_io.fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			h->out->fn(buf, (size_t)n, h->out->data);
	if (n == 0)
		ev_io_stop(h->loop, &h->out_io);
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	drain_output(w->data, 16);
}

static void on_exit_cb(struct reaper_child *c, int wstatus, void *data)
{
	struct hook_run *h = data;

	(void)c;
	h->child = NULL;
	h->res->wstatus = wstatus;
	h->done = true;
	procset_stopper_poke(h->stopper);
	if (!h->stopper || procset_stopper_done(h->stopper))
		ev_break(h->loop, EVBREAK_ALL);
}

static void on_stopped(struct procset_stopper *st, void *data)
{
	struct hook_run *h = data;

	(void)st;
	if (h->done)
		ev_break(h->loop, EVBREAK_ALL);
}

/* Stop the hook: its process group and its descendants, TERM then KILL. */
static void stop_hook(struct hook_run *h, bool now)
{
	struct procset set = {.groups = &h->leader, .n_groups = 1, .tree = h->leader.pid};

	if (h->stopper) {
		if (now)
			procset_stopper_hurry(h->stopper);
		return;
	}
	procset_stopper_start(h->loop, &set, now ? SIGKILL : SIGTERM, HOOK_KILL_GRACE_MS,
			      on_stopped, h, &h->stopper);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook_run *h = w->data;

	(void)loop;
	(void)revents;
	h->res->timed_out = true;
	stop_hook(h, false);
}

static void on_signal(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hook_run *h = w->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	/* a second signal: no grace */
	stop_hook(h, h->res->interrupted);
	h->res->interrupted = true;
}

int hooks_run(const char *command, const char *cwd, char *const *envp, const char *cgroup,
	      uint64_t timeout_ms, int sigfd, const struct hook_output *out,
	      struct hook_result *ret)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
	struct spawn_opts o = {
		.path = "/bin/sh",
		.argv = argv,
		.envp = envp,
		.cwd = cwd,
		.stdin_fd = -1,
		.stdout_fd = STDERR_FILENO,
		.stderr_fd = STDERR_FILENO,
		.new_pgroup = true,
	};
	struct hook_run h = {.res = ret, .out = out && out->fn ? out : NULL};
	struct spawn_error err = {0};
	struct reaper *reaper = NULL;
	uint64_t t0 = time_mono_ms();
	int r, cgfd = -1, pipefd[2] = {-1, -1};

	memset(ret, 0, sizeof(*ret));
	h.loop = ev_loop_new(EVFLAG_AUTO);
	if (!h.loop)
		return -ENOMEM;
	r = reaper_create(h.loop, &reaper);
	if (r < 0) {
		ev_loop_destroy(h.loop);
		return r;
	}
	/* In the session's cgroup: what the hook leaves behind is the session's
	 * and goes with it. */
	if (cgroup && cgroup_make(cgroup) == 0 && (cgfd = cgroup_dir_fd(cgroup)) > 0)
		o.cgroup_fd = cgfd;
	if (h.out) {
		if (pipe2(pipefd, O_CLOEXEC) < 0) {
			ret->error = xasprintf("cannot make a pipe: %s", strerror(errno));
			if (cgfd >= 0)
				close(cgfd);
			r = -ENOEXEC;
			goto out;
		}
		fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
		o.stdout_fd = o.stderr_fd = pipefd[1];
		ev_io_init(&h.out_io, on_output, pipefd[0], EV_READ);
		h.out_io.data = &h;
		ev_io_start(h.loop, &h.out_io);
	}
	fflush(stderr);
	r = child_start(reaper, &o, on_exit_cb, &h, &h.child, &err);
	if (cgfd >= 0)
		close(cgfd);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (r < 0) {
		ret->error = spawn_error_text(&o, &err);
		r = -ENOEXEC;
		goto out;
	}
	ret->ran = true;
	h.leader.pid = reaper_child_pid(h.child);
	proc_start_time(h.leader.pid, &h.leader.start_time);
	ev_timer_init(&h.timeout, on_timeout, (double)timeout_ms / 1000.0, 0.);
	h.timeout.data = &h;
	ev_timer_start(h.loop, &h.timeout);
	if (sigfd >= 0) {
		ev_io_init(&h.sig, on_signal, sigfd, EV_READ);
		h.sig.data = &h;
		ev_io_start(h.loop, &h.sig);
	}
	while (!h.done || (h.stopper && !procset_stopper_done(h.stopper)))
		ev_run(h.loop, 0);
	ev_timer_stop(h.loop, &h.timeout);
	if (sigfd >= 0)
		ev_io_stop(h.loop, &h.sig);
	if (h.out) {
		drain_output(&h, 256);
		ev_io_stop(h.loop, &h.out_io);
	}
	ret->ms = time_mono_ms() - t0;
	if (ret->interrupted)
		r = -EINTR;
	else if (ret->timed_out || !WIFEXITED(ret->wstatus) || WEXITSTATUS(ret->wstatus) != 0)
		r = -EIO;
	else
		r = 0;
out:
	if (pipefd[0] >= 0) {
		ev_io_stop(h.loop, &h.out_io);
		close(pipefd[0]);
	}
	procset_stopper_destroy(h.stopper);
	reaper_destroy(reaper);
	ev_loop_destroy(h.loop);
	return r;
}

void hooks_result_text(const struct hook_result *r, char *buf, size_t size)
{
	struct svc_status st = {.exit_code = -1};
	char text[96];

	if (r->error) {
		snprintf(buf, size, "%s", r->error);
		return;
	}
	if (r->timed_out) {
		snprintf(buf, size, "timed out after %.3g s and was stopped",
			 (double)r->ms / 1000.0);
		return;
	}
	if (r->interrupted) {
		snprintf(buf, size, "was interrupted");
		return;
	}
	st.exit_code = WIFEXITED(r->wstatus) ? WEXITSTATUS(r->wstatus) : -1;
	st.exit_signal = WIFSIGNALED(r->wstatus) ? WTERMSIG(r->wstatus) : 0;
	st.core_dumped = WIFSIGNALED(r->wstatus) && WCOREDUMP(r->wstatus);
	svc_exit_text(&st, text, sizeof(text));
	snprintf(buf, size, "%s", text);
}
