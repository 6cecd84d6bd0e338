/*
 * run.c: a short command run to completion (see run.h).
 */
#include "util/common.h"

#include <fcntl.h>
#include <ev.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe/proc.h"
#include "proc/reaper.h"
#include "proc/procset.h"
#include "proc/run.h"
#include "util/timeutil.h"

/* Read what fd holds into sb (NULL: discard). false at EOF or error. */
static bool drain(int fd, struct strbuf *sb)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			if (sb)
				strbuf_add(sb, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

static void on_group_gone(struct procset_stopper *st, void *data)
{
	(void)st;
	ev_break(data, EVBREAK_ALL);
}

/* SIGKILL to the group of our un-reaped child pid (its group id is still
 * its own) through proc/procset, until nothing of it is left; the leader's
 * zombie is ours to reap after. No reaper here: we may run inside another
 * loop's callback, whose reaper owns every other child. */
static void kill_group(pid_t pid)
{
	struct proc_ref leader = {pid, 0};
	struct procset set = {.groups = &leader, .n_groups = 1, .refs = &leader, .n_refs = 1};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct procset_stopper *st = NULL;

	proc_start_time(pid, &leader.start_time);
	if (!loop || procset_stopper_start(loop, &set, SIGKILL, 0, on_group_gone, loop, &st) < 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
	} else {
		ev_run(loop, 0);
	}
	procset_stopper_destroy(st);
	if (loop)
		ev_loop_destroy(loop);
}

static int run_beside(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
		      struct strbuf *err, int *ret_wstatus, struct spawn_error *ret_err,
		      const struct spawn_beside *beside)
{
	struct spawn_opts so = *o;
	struct strbuf *sinks[2] = {out, err};
	int opipe[2] = {-1, -1}, epipe[2] = {-1, -1}, fds[2], pidfd = -1, r;
	uint64_t deadline = time_mono_ms() + timeout_ms;
	bool open_[2] = {true, true}, exited = false, timed_out = false;
	pid_t pid = -1;
	struct pollfd *p = xcalloc(3 + (beside ? beside->max_fds : 0), sizeof(*p));

	if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
		r = -errno;
		if (ret_err)
			*ret_err = (struct spawn_error){SPAWN_STAGE_NONE, -r};
		goto out;
	}
	so.stdout_fd = opipe[1];
	so.stderr_fd = epipe[1];
	if (!so.new_session)
		so.new_pgroup = true;
	r = spawn_start(&so, &pid, &pidfd, ret_err);
	close(opipe[1]);
	close(epipe[1]);
	opipe[1] = epipe[1] = -1;
	if (r < 0) {
		int ws;

		if (pid > 0)
			reaper_reap_sync(pid, -1, &ws);
		goto out;
	}
	fds[0] = opipe[0];
	fds[1] = epipe[0];
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	/* Until both pipes are at EOF, or the program has exited (a daemon it
	 * started may hold the pipes: what is there then is read, no more). */
	while ((open_[0] || open_[1]) && !exited) {
		nfds_t np = 0, nb = 0;
		uint64_t now = time_mono_ms(), due = deadline;
		int idx[2] = {-1, -1}, ipid = -1;

		if (now >= deadline) {
			timed_out = true;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!open_[i])
				continue;
			idx[i] = (int)np;
			p[np++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		}
		if (pidfd >= 0) {
			ipid = (int)np;
			p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		}
		if (beside) {
			uint64_t bdue = UINT64_MAX;

			nb = beside->fill(beside->data, p + np, beside->max_fds, &bdue);
			if (bdue < due)
				due = bdue;
		}
		if (poll(p, np + nb, due > now ? (int)(due - now) : 0) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (beside)
			beside->step(beside->data, p + np, nb);
		for (int i = 0; i < 2; i++)
			if (idx[i] >= 0 && p[idx[i]].revents)
				open_[i] = drain(fds[i], sinks[i]);
		if (ipid >= 0 && p[ipid].revents) {
			exited = true;
			for (int i = 0; i < 2; i++)
				if (open_[i])
					drain(fds[i], sinks[i]);
		}
	}
	if (timed_out || r < 0)
		kill_group(pid);
	{
		int ws = 0, rr = reaper_reap_sync(pid, pidfd, &ws);

		if (r == 0 && rr < 0)
			r = rr;
		if (r == 0 && timed_out)
			r = -ETIMEDOUT;
		if (r == 0)
			*ret_wstatus = ws;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	free(p);
	return r;
}

int spawn_run(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
	      struct strbuf *err, int *ret_wstatus, struct spawn_error *ret_err)
{
	return run_beside(o, timeout_ms, out, err, ret_wstatus, ret_err, NULL);
}

int spawn_run_checked(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
		      char **why)
{
	return spawn_run_checked_beside(o, timeout_ms, out, why, NULL);
}

int spawn_run_checked_beside(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
			     char **why, const struct spawn_beside *beside)
{
	const char *prog = o->path ? o->path : o->argv[0];
	struct strbuf err = STRBUF_INIT;
	struct spawn_error se = {0};
	char *text = NULL;
	int ws = 0, r = run_beside(o, timeout_ms, out, &err, &ws, &se, beside);

	if (r == -ETIMEDOUT) {
		text = xasprintf("`%s` did not finish within %" PRIu64 " s", prog,
				 timeout_ms / 1000);
	} else if (r < 0) {
		text = spawn_error_text(o, &se);
	} else if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
		size_t n = err.len;

		while (n && (err.buf[n - 1] == '\n' || err.buf[n - 1] == ' '))
			n--;
		text = n ? xstrndup(err.buf, n)
		       : WIFEXITED(ws)
			       ? xasprintf("`%s` exited with status %d", prog, WEXITSTATUS(ws))
			       : xasprintf("`%s` was killed by signal %d", prog, WTERMSIG(ws));
		r = -EIO;
	}
	strbuf_release(&err);
	if (why)
		*why = text;
	else
		free(text);
	return r;
}
