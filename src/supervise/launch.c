/*
 * launch.c: the `up` event loop over a session's services (see launch.h).
 *
 * A service goes WAITING (for its dependencies) -> STARTED (its shim runs)
 * -> READY. Its shim reports through the status file, which the loop watches
 * with inotify: a death, an exec failure or a log match is seen the moment
 * the shim records it. The shim itself is our child, watched by the reaper;
 * under the tmux runner it is a window's process, watched through a pidfd.
 * Readiness is journaled (the session's event journal, as the shims do).
 *
 * Once the outcome is decided (all ready, a failure, Ctrl-C) every callback
 * returns at once: the cleanup kills the readiness checks and reaps them on
 * the same loop, where shims may still end, and frees what the callbacks
 * read only after that.
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supervise/launch.h"
#include "probe/listeners.h"
#include "probe/marker.h"
#include "probe/probe.h"
#include "probe/proc.h"
#include "proc/child.h"
#include "proc/reaper.h"
#include "proc/spawn.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

/* The listener poll: every millisecond for the first POLL_FAST_MS after a
 * service starts (a dump of the socket table costs 0.03-0.15 ms: a listener
 * is seen within a millisecond of its listen()), then x1.5 per tick up to
 * POLL_MAX_S. */
#define POLL_FIRST_S 0.001
#define POLL_FAST_MS 300
#define POLL_MAX_S 0.1
#define PROBE_RETRY_S 0.1 /* between two exec / http readiness attempts */
#define HTTP_TIMEOUT_S 2.0
#define HTTP_MAX 4096
#define FAIL_TAIL_LINES 20
#define SHIM_POLL_S 0.05
#define DRAIN_MAX_S 2.0 /* cleanup: how long killed checks may take to be reaped */

/* READY_FINISH: a oneshot, ready when it finishes with status 0 (whatever
 * `ready` says), failed when it has not finished within ready_timeout. */
enum ready_kind { READY_PORT, READY_HTTP, READY_EXEC, READY_LOG, READY_NONE, READY_FINISH };
enum phase { PH_WAITING, PH_STARTED, PH_READY };

struct launch;

struct lsvc {
	struct launch *l;
	const struct service_config *cfg;
	enum ready_kind kind;
	const char *arg; /* the path of http:, the command of exec: */
	unsigned port;
	enum phase phase;
	pid_t shim_pid;
	bool shim_gone;
	/* tmux runner: the shim is not our child */
	uint64_t shim_start;
	ev_io shim_io;       /* its pidfd */
	ev_timer shim_poll;  /* no pidfd: looked at every SHIM_POLL_S */
	uint64_t started_ms; /* monotonic */
	char *status_path;
	char *log_path;
	struct svc_log_mark log_mark; /* where its log ended when its shim started */
	struct strvec envp;           /* the service's environment, for exec checks */
	char *cwd;
	ev_timer timeout;
	ev_timer window; /* ready = none: the startup window */
	/* exec: */
	pid_t check_pid;
	struct reaper_child *check;
	int check_last; /* last wait status, -1 none */
	ev_timer retry;
	/* http: */
	int http_fd;
	ev_io http_io;
	ev_timer http_timer;
	struct strbuf http_in;
	bool http_sent;
	uint64_t http_started_ms; /* of the attempt in flight (monotonic) */
	char *http_last;          /* what the last finished attempt got */
};

struct launch {
	struct ev_loop *loop;
	struct reaper *reaper;
	const struct svc_env *e;
	struct lsvc *v;
	size_t n;
	int ino_fd, ino_wd;
	ev_io ino_io;
	ev_timer poll;
	double poll_interval;
	uint64_t poll_fast_until; /* monotonic ms: polls stay at POLL_FIRST_S until then */
	ev_io sig;
	bool running;              /* callbacks act only while it runs */
	bool starting, recheck;    /* in check_all; asked again meanwhile */
	enum launch_result result; /* once it does not */
	struct launch_failure *fail;
	char *journal_path;
	launch_progress_fn cb;
	void *cb_data;
	struct strvec *started;
};

static void check_all(struct launch *l);
static void examine(struct lsvc *s);

/* ---- ending ---- */

static void finish_loop(struct launch *l, enum launch_result result)
{
	if (!l->running)
		return;
	l->running = false;
	l->result = result;
	ev_break(l->loop, EVBREAK_ALL);
}

static void failf(struct lsvc *s, enum launch_result kind, bool tail, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void failf(struct lsvc *s, enum launch_result kind, bool tail, const char *fmt, ...)
{
	struct launch_failure *f = s->l->fail;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!s->l->running)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	f->service = xstrdup(s->cfg->name);
	f->what = strbuf_detach(&sb);
	f->log_path = xstrdup(s->log_path);
	if (tail) {
		struct strbuf t = STRBUF_INIT;

		/* this attempt's output only: the log is appended to across runs */
		services_log_tail_since(s->log_path, &s->log_mark, FAIL_TAIL_LINES, &t);
		f->tail_lines = FAIL_TAIL_LINES;
		f->tail = t.len ? strbuf_detach(&t) : NULL;
		strbuf_release(&t);
	}
	finish_loop(s->l, kind);
}

static void stop_checks(struct lsvc *s)
{
	struct ev_loop *loop = s->l->loop;

	ev_timer_stop(loop, &s->timeout);
	ev_timer_stop(loop, &s->window);
	ev_timer_stop(loop, &s->retry);
	ev_timer_stop(loop, &s->http_timer);
	if (s->http_fd >= 0) {
		ev_io_stop(loop, &s->http_io);
		close(s->http_fd);
		s->http_fd = -1;
	}
	/* a check is our un-reaped child in a group of its own: its group id
	 * is still its own; nothing of it is worth a grace */
	if (s->check && reaper_signal(s->check, SIGKILL, true) < 0)
		reaper_signal(s->check, SIGKILL, false);
}

static void stop_shim_watch(struct lsvc *s)
{
	ev_timer_stop(s->l->loop, &s->shim_poll);
	if (ev_is_active(&s->shim_io)) {
		ev_io_stop(s->l->loop, &s->shim_io);
		close(s->shim_io.fd);
	}
}

/* "ready after 0.21 s (how)" into the session's event journal, as the
 * shims journal their states. */
static void journal_ready(const struct lsvc *s, uint64_t ms, const char *how)
{
	char *detail = xasprintf("ready after %.2f s (%s)", (double)ms / 1000.0, how);

	svc_journal_append(s->l->journal_path, s->cfg->name, "ready", detail);
	free(detail);
}

/* s is ready. how: what showed it, for the journal; NULL when the shim has
 * journaled it already (a log match). */
static void set_ready(struct lsvc *s, const char *how)
{
	uint64_t ms;

	if (s->phase == PH_READY || !s->l->running)
		return;
	s->phase = PH_READY;
	stop_checks(s);
	ms = time_mono_ms() - s->started_ms;
	if (how)
		journal_ready(s, ms, how);
	if (s->l->cb)
		s->l->cb(s->l->cb_data, s->cfg->name, LAUNCH_READY, ms);
	check_all(s->l);
}

/* ---- the status file ---- */

static const char *exit_hint(const struct svc_status *st)
{
	if (st->exit_signal)
		return "";
	if (st->exit_code == 127)
		return " (command not found)";
	if (st->exit_code == 126)
		return " (command not executable)";
	return "";
}

/* The service died (or ended): fail, unless it is a oneshot that succeeded. */
static void died(struct lsvc *s, const struct svc_status *st)
{
	char text[96];
	double after = st->exec_ms && st->since_ms >= st->exec_ms
			       ? (double)(st->since_ms - st->exec_ms) / 1000.0
			       : 0.0;

	if (s->cfg->oneshot && st->state == SVC_EXITED && st->exit_code == 0) {
		/* with ready = log:, a match was journaled by the shim */
		set_ready(s, st->ready_ms ? NULL : "finished with status 0");
		return;
	}
	svc_exit_text(st, text, sizeof(text));
	if (s->phase == PH_READY)
		failf(s, LAUNCH_DIED, true, "%s%s %.2f s after it started, after it was ready",
		      text, exit_hint(st), after);
	else if (st->exit_code == 0 && !st->exit_signal)
		failf(s, LAUNCH_DIED, true,
		      "%s %.2f s after it started, before it was ready (a service that is meant "
		      "to finish is declared `oneshot = true`)",
		      text, after);
	else
		failf(s, LAUNCH_DIED, true, "%s%s %.2f s after it started", text, exit_hint(st),
		      after);
}

static void examine(struct lsvc *s)
{
	struct svc_status st;

	if (!s->l->running || s->phase == PH_WAITING || svc_status_read(s->status_path, &st) < 0 ||
	    st.shim_pid != s->shim_pid)
		return;
	switch (st.state) {
	case SVC_FAILED:
		if (st.restarts)
			failf(s, LAUNCH_DIED, true, "%s", st.error);
		else
			failf(s, LAUNCH_NOT_STARTED, true, "%s", st.error);
		return;
	case SVC_EXITED:
	case SVC_RESTARTING:
		died(s, &st);
		return;
	case SVC_RUNNING:
		if (st.restarts) {
			/* a death and a restart came between two looks */
			failf(s, LAUNCH_DIED, true,
			      "died and was restarted %u time%s before it was ready", st.restarts,
			      st.restarts == 1 ? "" : "s");
			return;
		}
		if (s->kind == READY_LOG && st.ready_ms)
			set_ready(s, NULL); /* the shim journaled the match */
		return;
	case SVC_STARTING:
	case SVC_STOPPING:
	case SVC_STOPPED:
		return;
	}
}

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
	struct launch *l = w->data;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)loop;
	(void)revents;
	while ((n = read(w->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			size_t nl;

			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			nl = strlen(ev->name);
			for (size_t i = 0; i < l->n; i++) {
				size_t sl = strlen(l->v[i].cfg->name);

				if (nl == sl + 7 && !memcmp(ev->name, l->v[i].cfg->name, sl) &&
				    !strcmp(ev->name + sl, ".status"))
					examine(&l->v[i]);
			}
		}
	}
}

/* ---- the shim ---- */

/* The shim is gone. wstatus: its exit (our child), or -1 (a tmux window's:
 * tmux may know how it ended). */
static void shim_ended(struct lsvc *s, int wstatus)
{
	char text[96];
	struct svc_status st = {.exit_code = -1};
	struct tmux_pane p;

	s->shim_gone = true;
	stop_shim_watch(s);
	/* Decided already: the cleanup is on its way, nothing to judge. */
	if (!s->l->running)
		return;
	examine(s); /* its last record */
	if (!s->l->running || (s->phase == PH_READY && s->cfg->oneshot))
		return;
	if (svc_status_read(s->status_path, &st) == 0 && st.shim_pid == s->shim_pid) {
		if (st.state == SVC_EXITED || st.state == SVC_FAILED)
			return; /* examine() judged it */
		if (st.error[0]) {
			failf(s, LAUNCH_DIED, true, "%s", st.error);
			return;
		}
	}
	st = (struct svc_status){.exit_code = -1};
	if (wstatus >= 0) {
		st.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
		st.exit_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
	} else if (s->l->e->tmux &&
		   tmux_pane_info(s->l->e->tmux, s->l->e->session->slug, s->cfg->name, &p, NULL) ==
			   0 &&
		   p.dead && p.pid == s->shim_pid) {
		st.exit_code = p.dead_status;
		st.exit_signal = p.dead_signal;
	}
	if (st.exit_code < 0 && !st.exit_signal)
		snprintf(text, sizeof(text), "ended without recording why");
	else
		svc_exit_text(&st, text, sizeof(text));
	failf(s, LAUNCH_DIED, true, "its supervisor berth-shim (pid %d) %s", (int)s->shim_pid,
	      text);
}

static void on_shim_exit(struct reaper_child *c, int wstatus, void *data)
{
	(void)c;
	shim_ended(data, wstatus);
}

static void on_shim_pidfd(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	shim_ended(w->data, -1);
}

static void on_shim_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsvc *s = w->data;

	(void)loop;
	(void)revents;
	if (!proc_is(s->shim_pid, s->shim_start))
		shim_ended(s, -1);
}

/* A shim that is not our child (a tmux window's): its pidfd, or a poll. */
static void watch_shim(struct lsvc *s, int pidfd)
{
	if (proc_start_time(s->shim_pid, &s->shim_start) < 0 && pidfd >= 0) {
		close(pidfd);
		pidfd = -1;
	}
	if (pidfd >= 0) {
		ev_io_init(&s->shim_io, on_shim_pidfd, pidfd, EV_READ);
		s->shim_io.data = s;
		ev_io_start(s->l->loop, &s->shim_io);
		return;
	}
	ev_timer_set(&s->shim_poll, 0., SHIM_POLL_S);
	ev_timer_start(s->l->loop, &s->shim_poll);
}

/* ---- readiness checks ---- */

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents);
static void on_window(struct ev_loop *loop, ev_timer *w, int revents);
static void start_check(struct lsvc *s);

/* Does a process of s's tree hold a listener on port? */
static bool tree_listens(const struct lsvc *s, const struct listener_set *ls, unsigned port,
			 const struct listener **ret)
{
	struct proc_ref *v;
	size_t n;
	bool found;

	services_tree(s->shim_pid, &v, &n);
	found = services_tree_listens(v, n, ls, port, ret);
	free(v);
	return found;
}

static void on_check_exit(struct reaper_child *c, int wstatus, void *data)
{
	struct lsvc *s = data;

	(void)c;
	s->check = NULL;
	s->check_last = wstatus;
	if (s->phase != PH_STARTED || !s->l->running)
		return;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		set_ready(s, "its ready check exited with status 0");
		return;
	}
	ev_timer_set(&s->retry, PROBE_RETRY_S, 0.);
	ev_timer_start(s->l->loop, &s->retry);
}

static void start_exec_check(struct lsvc *s)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)s->arg, NULL};
	struct spawn_opts o = {
		.path = "/bin/sh",
		.argv = argv,
		.envp = strvec_argv(&s->envp),
		.cwd = s->cwd,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.new_pgroup = true,
	};
	struct spawn_error err = {0};

	if (child_start(s->l->reaper, &o, on_check_exit, s, &s->check, &err) < 0) {
		char *why = spawn_error_text(&o, &err);

		s->check = NULL;
		failf(s, LAUNCH_NOT_STARTED, false, "its ready check cannot start: %s", why);
		free(why);
	}
}

/* http: one GET at a time, once the port listens. */
static void http_done(struct lsvc *s, char *what)
{
	ev_io_stop(s->l->loop, &s->http_io);
	ev_timer_stop(s->l->loop, &s->http_timer);
	close(s->http_fd);
	s->http_fd = -1;
	free(s->http_last);
	s->http_last = what;
	strbuf_reset(&s->http_in);
}

static void on_http(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lsvc *s = w->data;
	char buf[1024];
	ssize_t n;
	int code = 0;

	(void)loop;
	if (!s->http_sent && (revents & EV_WRITE)) {
		struct strbuf req = STRBUF_INIT;
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(s->http_fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			http_done(s, xasprintf("connecting failed: %s", strerror(err)));
			return;
		}
		strbuf_addf(&req,
			    "GET %s HTTP/1.0\r\nHost: localhost:%u\r\nUser-Agent: berth\r\n\r\n",
			    s->arg, s->port);
		if (send(s->http_fd, req.buf, req.len, MSG_NOSIGNAL) != (ssize_t)req.len) {
			strbuf_release(&req);
			http_done(s, xasprintf("sending the request failed: %s", strerror(errno)));
			return;
		}
		strbuf_release(&req);
		s->http_sent = true;
		ev_io_stop(s->l->loop, &s->http_io);
		ev_io_set(&s->http_io, s->http_fd, EV_READ);
		ev_io_start(s->l->loop, &s->http_io);
		return;
	}
	n = recv(s->http_fd, buf, sizeof(buf), 0);
	if (n > 0 && s->http_in.len < HTTP_MAX) {
		strbuf_add(&s->http_in, buf, (size_t)n);
		if (!memchr(s->http_in.buf, '\n', s->http_in.len))
			return;
	} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	/* "HTTP/1.x NNN ..." */
	if (s->http_in.len >= 12 && !memcmp(s->http_in.buf, "HTTP/", 5)) {
		const char *sp = memchr(s->http_in.buf, ' ', s->http_in.len);

		if (sp && (size_t)(sp - s->http_in.buf) + 4 <= s->http_in.len &&
		    isdigit((unsigned char)sp[1]) && isdigit((unsigned char)sp[2]) &&
		    isdigit((unsigned char)sp[3]))
			code = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
	}
	if (code >= 200 && code < 400) {
		char *how = xasprintf("http://localhost:%u%s answered %d", s->port, s->arg, code);

		http_done(s, NULL);
		set_ready(s, how);
		free(how);
		return;
	}
	http_done(s, code ? xasprintf("it answered %d", code)
			  : xstrdup("it closed the connection without an HTTP answer"));
}

static void on_http_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsvc *s = w->data;

	(void)loop;
	(void)revents;
	http_done(s, xstrdup("no answer within 2 s"));
}

static void start_http(struct lsvc *s, const struct listener *li)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd;

	if (li->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		static const uint8_t any6[16];

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)s->port);
		if (memcmp(li->addr, any6, 16))
			memcpy(&a->sin6_addr, li->addr, 16);
		else
			a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)s->port);
		memcpy(&a->sin_addr, li->addr, 4);
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		free(s->http_last);
		s->http_last = xasprintf("connecting failed: %s", strerror(errno));
		close(fd);
		return;
	}
	s->http_fd = fd;
	s->http_sent = false;
	s->http_started_ms = time_mono_ms();
	ev_io_init(&s->http_io, on_http, fd, EV_WRITE);
	s->http_io.data = s;
	ev_io_start(s->l->loop, &s->http_io);
	ev_timer_set(&s->http_timer, HTTP_TIMEOUT_S, 0.);
	ev_timer_start(s->l->loop, &s->http_timer);
}

/* One listener dump for every service that waits for a port. */
static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct launch *l = w->data;
	struct listener_set ls = {0};
	bool waiting = false;

	(void)revents;
	for (size_t i = 0; i < l->n; i++)
		waiting |= l->v[i].phase == PH_STARTED &&
			   (l->v[i].kind == READY_PORT || l->v[i].kind == READY_HTTP);
	if (!waiting)
		return;
	if (listeners_dump(&ls) == 0) {
		for (size_t i = 0; i < l->n && l->running; i++) {
			struct lsvc *s = &l->v[i];
			const struct listener *li = NULL;

			if (s->phase != PH_STARTED || !s->port ||
			    (s->kind != READY_PORT && s->kind != READY_HTTP))
				continue;
			if (s->kind == READY_HTTP && (s->http_fd >= 0 || ev_is_active(&s->retry)))
				continue;
			if (!listeners_find(&ls, (uint16_t)s->port) ||
			    !tree_listens(s, &ls, s->port, &li))
				continue;
			if (s->kind == READY_PORT) {
				char how[32];

				snprintf(how, sizeof(how), "port %u", s->port);
				set_ready(s, how);
			} else
				start_http(s, li);
		}
	}
	listener_set_finish(&ls);
	if (l->poll_interval < POLL_MAX_S && time_mono_ms() >= l->poll_fast_until)
		l->poll_interval *= 1.5;
	ev_timer_set(w, l->poll_interval, 0.);
	ev_timer_start(loop, w);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsvc *s = w->data;

	(void)loop;
	(void)revents;
	if (s->phase == PH_STARTED && s->kind == READY_EXEC && s->l->running)
		start_exec_check(s);
}

/* Does marker m say: this repository, this session, this service? */
static bool marker_is_ours(const struct lsvc *s, const struct marker *m)
{
	const struct svc_env *e = s->l->e;

	return marker_matches(m, e->root_id, e->session->slug, s->cfg->name);
}

/* Who holds s's port: "port 3001 is held by pid 4242 (node) of session
 * feat-b", or NULL when nothing berth can see does. *ret_own: the holder is
 * s's own, a process of its tree or one carrying this session's and this
 * service's markers. The caller frees. */
static char *port_holder_text(const struct lsvc *s, bool *ret_own)
{
	struct probe p;
	struct port_holder h;
	struct proc_ref *v = NULL;
	pid_t *hints;
	size_t n = 0;
	char *text = NULL;
	unsigned port = s->port;

	*ret_own = false;
	if (probe_init(&p) < 0)
		return NULL;
	services_tree(s->shim_pid, &v, &n);
	hints = xcalloc(n ? n : 1, sizeof(*hints));
	for (size_t i = 0; i < n; i++)
		hints[i] = v[i].pid;
	if (probe_port(&p, (uint16_t)port, hints, n, &h) == 0) {
		if (h.kind == HOLDER_PROCESS) {
			struct marker m = {0};
			char *user = proc_user_name(h.uid);

			for (size_t i = 0; i < n; i++)
				*ret_own |= v[i].pid == h.pid && v[i].start_time == h.start_time;
			marker_read(h.pid, &m);
			*ret_own |= marker_is_ours(s, &m);
			if (m.session)
				text = xasprintf("port %u is held by pid %d (%s) of session %s%s%s",
						 port, (int)h.pid, h.comm, m.session,
						 m.service ? ", service " : "",
						 m.service ? m.service : "");
			else
				text = xasprintf("port %u is held by pid %d (%s, user %s), not by "
						 "this service",
						 port, (int)h.pid, h.comm, user);
			free(user);
			marker_finish(&m);
		} else if (h.kind == HOLDER_HIDDEN) {
			text = xasprintf("port %u is held by a process of uid %u that berth "
					 "cannot see",
					 port, (unsigned)h.uid);
		}
		port_holder_finish(&h);
	}
	free(hints);
	free(v);
	probe_finish(&p);
	return text;
}

/* What the URL answered last, or how long the attempt in flight has waited;
 * NULL when it was never asked. The caller frees. */
static char *http_text(const struct lsvc *s)
{
	if (s->http_last)
		return xstrdup(s->http_last);
	if (s->http_fd >= 0)
		return xasprintf("no answer after %.2f s",
				 (double)(time_mono_ms() - s->http_started_ms) / 1000.0);
	return NULL;
}

/* Ports the service's tree listens on (the wrong port), or NULL. */
static char *tree_ports_text(const struct lsvc *s)
{
	struct listener_set ls = {0};
	struct proc_ref *v;
	unsigned *ports;
	size_t n, n_ports;
	struct strbuf sb = STRBUF_INIT;

	if (listeners_dump(&ls) < 0) {
		listener_set_finish(&ls);
		return NULL;
	}
	services_tree(s->shim_pid, &v, &n);
	services_tree_ports(v, n, &ls, &ports, &n_ports);
	for (size_t i = 0; i < n_ports; i++)
		strbuf_addf(&sb, "%s%u", i ? ", " : "", ports[i]);
	free(ports);
	free(v);
	listener_set_finish(&ls);
	return sb.len ? strbuf_detach(&sb) : NULL;
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsvc *s = w->data;
	char *after, *holder = NULL, *ports = NULL, *http = NULL;
	bool own = false;

	(void)loop;
	(void)revents;
	if (!s->l->running)
		return;
	after = xasprintf("%.3g s", (double)s->cfg->ready_timeout_ms / 1000.0);
	switch (s->kind) {
	case READY_PORT:
	case READY_HTTP:
		holder = port_holder_text(s, &own);
		/* An answer was asked for only once the service's own tree
		 * listened: unless a foreign process holds the port now, the
		 * answer is what is missing. */
		if (s->kind == READY_HTTP)
			http = http_text(s);
		if (http && (own || !holder))
			failf(s, LAUNCH_TIMEOUT, true,
			      "not ready after %s: http://localhost:%u%s: %s", after, s->port,
			      s->arg, http);
		else if (holder)
			failf(s, LAUNCH_TIMEOUT, true, "not ready after %s: %s", after, holder);
		else if ((ports = tree_ports_text(s))) {
			/* the variable .env.berth really has (BERTH_WEB_APP_PORT) */
			char *var = config_port_env_name(s->cfg->name, NULL);

			failf(s, LAUNCH_TIMEOUT, true,
			      "not ready after %s: port %u is not listening; the service listens "
			      "on %s instead (does it read $PORT or $%s?)",
			      after, s->port, ports, var);
			free(var);
		} else
			failf(s, LAUNCH_TIMEOUT, true,
			      "not ready after %s: port %u is not listening", after, s->port);
		break;
	case READY_EXEC:
		if (s->check_last == -1)
			failf(s, LAUNCH_TIMEOUT, true,
			      "not ready after %s: its ready check `%s` never "
			      "finished",
			      after, s->arg);
		else {
			struct svc_status st = {.exit_code = -1};
			char text[96];

			st.exit_code = WIFEXITED(s->check_last) ? WEXITSTATUS(s->check_last) : -1;
			st.exit_signal = WIFSIGNALED(s->check_last) ? WTERMSIG(s->check_last) : 0;
			svc_exit_text(&st, text, sizeof(text));
			failf(s, LAUNCH_TIMEOUT, true,
			      "not ready after %s: its ready check `%s` %s", after, s->arg, text);
		}
		break;
	case READY_LOG:
		failf(s, LAUNCH_TIMEOUT, true, "not ready after %s: no output line matched /%s/",
		      after, s->arg);
		break;
	case READY_FINISH:
		failf(s, LAUNCH_TIMEOUT, true, "did not finish within %s (its ready_timeout)",
		      after);
		break;
	case READY_NONE:
		break;
	}
	free(http);
	free(holder);
	free(ports);
	free(after);
}

static void on_window(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsvc *s = w->data;

	(void)loop;
	(void)revents;
	examine(s); /* a death recorded in the same instant wins */
	if (s->phase == PH_STARTED && s->l->running)
		set_ready(s, "still running at the end of its startup window");
}

static void start_check(struct lsvc *s)
{
	struct ev_loop *loop = s->l->loop;

	switch (s->kind) {
	case READY_NONE:
		ev_timer_set(&s->window, (double)s->l->e->config->startup_window_ms / 1000.0, 0.);
		ev_timer_start(loop, &s->window);
		return;
	case READY_EXEC:
		start_exec_check(s);
		break;
	case READY_PORT:
	case READY_HTTP:
		s->l->poll_interval = POLL_FIRST_S;
		s->l->poll_fast_until = time_mono_ms() + POLL_FAST_MS;
		ev_timer_stop(loop, &s->l->poll);
		ev_timer_set(&s->l->poll, 0., 0.);
		ev_timer_start(loop, &s->l->poll);
		break;
	case READY_LOG:
	case READY_FINISH:
		break;
	}
	ev_timer_set(&s->timeout, (double)s->cfg->ready_timeout_ms / 1000.0, 0.);
	ev_timer_start(loop, &s->timeout);
}

/* ---- starting ---- */

static bool deps_ready(const struct launch *l, const struct lsvc *s)
{
	for (size_t d = 0; d < s->cfg->depends_on.n; d++)
		for (size_t j = 0; j < l->n; j++)
			if (!strcmp(l->v[j].cfg->name, s->cfg->depends_on.v[d]) &&
			    l->v[j].phase != PH_READY)
				return false;
	return true;
}

/* s's shim runs (pid; pidfd: under the tmux runner, its pidfd or -1):
 * watch it and its readiness. */
static void started(struct lsvc *s, pid_t pid, int pidfd)
{
	struct launch *l = s->l;

	if (pid <= 1) {
		/* never a tree to scan from: the tree of pid 1 is every process */
		if (l->e->tmux && pidfd >= 0)
			close(pidfd);
		failf(s, LAUNCH_NOT_STARTED, false,
		      "cannot start its supervisor: it got no process id");
		return;
	}
	s->shim_pid = pid;
	if (l->e->tmux)
		watch_shim(s, pidfd);
	s->phase = PH_STARTED;
	strvec_push(l->started, s->cfg->name);
	if (l->cb)
		l->cb(l->cb_data, s->cfg->name, LAUNCH_STARTED, 0);
	/* Started with others after the outcome was decided: it is listed
	 * (stopping it is the caller's), nothing more. */
	if (!l->running)
		return;
	start_check(s);
	examine(s); /* the shim may have recorded before the watch began */
}

static void start_one(struct lsvc *s)
{
	struct launch *l = s->l;
	char *cause = NULL;
	pid_t pid = -1;
	int pidfd = -1, r;

	services_log_mark(s->log_path, &s->log_mark);
	s->started_ms = time_mono_ms();
	r = services_spawn_shim(l->e, s->cfg, &pid, &pidfd, &cause);
	if (pid > 0 && !l->e->tmux) {
		int ws;

		/* a shim whose exec failed has exited: reap exactly it here;
		 * a running one is watched before the loop runs again */
		if (r < 0)
			reaper_reap_sync(pid, -1, &ws);
		else if (reaper_watch(l->reaper, pid, pidfd, on_shim_exit, s, NULL) < 0 &&
			 pidfd >= 0)
			close(pidfd);
	}
	if (r < 0) {
		failf(s, LAUNCH_NOT_STARTED, false, "cannot start its supervisor: %s", cause);
		free(cause);
		return;
	}
	started(s, pid, l->e->tmux ? pidfd : -1);
}

/* Tmux runner: start v[0..n) together, their windows made in one tmux
 * command; then each is watched, in order, as start_one would. */
static void start_tmux(struct launch *l, struct lsvc **v, size_t n)
{
	const struct service_config **cfgs = xcalloc(n, sizeof(*cfgs));
	pid_t *pids = xcalloc(n, sizeof(*pids));
	int *pidfds = xcalloc(n, sizeof(*pidfds));
	char *cause = NULL;
	size_t done = 0;
	int r;

	for (size_t i = 0; i < n; i++) {
		cfgs[i] = v[i]->cfg;
		services_log_mark(v[i]->log_path, &v[i]->log_mark);
		v[i]->started_ms = time_mono_ms();
	}
	r = services_spawn_tmux(l->e, cfgs, n, pids, pidfds, &done, &cause);
	for (size_t i = 0; i < done; i++)
		started(v[i], pids[i], pidfds[i]);
	if (r < 0 && done < n)
		failf(v[done], LAUNCH_NOT_STARTED, false, "cannot start its supervisor: %s", cause);
	free(cause);
	free(pidfds);
	free(pids);
	free(cfgs);
}

/* Start whatever may start; finish when all are ready. Under the tmux
 * runner, what may start at once starts together. A service that becomes
 * ready while others start (its status seen at once) comes back here: its
 * dependents start after the current round. */
static void check_all(struct launch *l)
{
	bool all_ready;

	if (l->starting) {
		l->recheck = true;
		return;
	}
	l->starting = true;
	do {
		struct lsvc **v = xcalloc(l->n ? l->n : 1, sizeof(*v));
		size_t k = 0;

		l->recheck = false;
		for (size_t i = 0; i < l->n; i++)
			if (l->v[i].phase == PH_WAITING && deps_ready(l, &l->v[i]))
				v[k++] = &l->v[i];
		if (k && l->e->tmux)
			start_tmux(l, v, k);
		else
			for (size_t i = 0; i < k && l->running; i++)
				start_one(v[i]);
		free(v);
	} while (l->recheck && l->running);
	l->starting = false;
	all_ready = true;
	for (size_t i = 0; i < l->n; i++)
		all_ready &= l->v[i].phase == PH_READY;
	if (all_ready)
		finish_loop(l, LAUNCH_OK);
}

static void on_signal(struct ev_loop *loop, ev_io *w, int revents)
{
	struct launch *l = w->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	/* Consumed: the rollback that follows waits for a *second* one. */
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	finish_loop(l, LAUNCH_INTERRUPTED);
}

static void lsvc_init(struct launch *l, struct lsvc *s, const struct service_config *cfg)
{
	const char *r = cfg->ready ? cfg->ready : "none";

	s->l = l;
	s->cfg = cfg;
	s->http_fd = -1;
	s->check_last = -1;
	s->port = services_port(l->e->session, cfg->name);
	s->status_path = services_status_path(l->e->berth_dir, l->e->session->slug, cfg->name);
	s->log_path = services_log_path(l->e->berth_dir, l->e->session->slug, cfg->name);
	s->cwd = cfg->cwd ? path_join(l->e->session->worktree, cfg->cwd)
			  : xstrdup(l->e->session->worktree);
	services_env(l->e, cfg, &s->envp);
	strbuf_init(&s->http_in);
	if (!strcmp(r, "port")) {
		s->kind = READY_PORT;
	} else if (!strncmp(r, "http:", 5)) {
		s->kind = READY_HTTP;
		s->arg = r + 5;
	} else if (!strncmp(r, "exec:", 5)) {
		s->kind = READY_EXEC;
		s->arg = r + 5;
	} else if (!strncmp(r, "log:", 4)) {
		s->kind = READY_LOG;
		s->arg = r + 4;
	} else {
		s->kind = READY_NONE;
	}
	if ((s->kind == READY_PORT || s->kind == READY_HTTP) && !s->port)
		s->kind = READY_NONE;
	if (cfg->oneshot)
		s->kind = READY_FINISH;
	ev_timer_init(&s->timeout, on_timeout, 0., 0.);
	s->timeout.data = s;
	ev_timer_init(&s->window, on_window, 0., 0.);
	s->window.data = s;
	ev_timer_init(&s->retry, on_retry, 0., 0.);
	s->retry.data = s;
	ev_timer_init(&s->http_timer, on_http_timeout, 0., 0.);
	s->http_timer.data = s;
	ev_timer_init(&s->shim_poll, on_shim_poll, 0., 0.);
	s->shim_poll.data = s;
	ev_init(&s->shim_io, on_shim_pidfd);
}

static void on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Wait until the checks stop_checks killed are reaped, for DRAIN_MAX_S at
 * most (one that is not is left to the reaper's destruction). */
static void drain_checks(struct launch *l)
{
	ev_timer deadline;

	ev_timer_init(&deadline, on_drain_deadline, DRAIN_MAX_S, 0.);
	ev_now_update(l->loop);
	ev_timer_start(l->loop, &deadline);
	for (;;) {
		bool pending = false;

		for (size_t i = 0; i < l->n; i++)
			pending |= l->v[i].check != NULL;
		if (!pending || !ev_is_active(&deadline))
			break;
		ev_run(l->loop, EVRUN_ONCE);
	}
	ev_timer_stop(l->loop, &deadline);
}

/* Free what s holds, once nothing can call back (see launch_services). */
static void lsvc_finish(struct lsvc *s)
{
	free(s->status_path);
	free(s->log_path);
	free(s->cwd);
	free(s->http_last);
	strbuf_release(&s->http_in);
	strvec_clear(&s->envp);
}

enum launch_result launch_services(const struct svc_env *e, const size_t *idx, size_t n, int sigfd,
				   launch_progress_fn cb, void *data, struct strvec *started,
				   struct launch_failure *fail)
{
	struct launch l = {
		.journal_path = services_journal_path(e->berth_dir, e->session->slug),
		.e = e,
		.running = true,
		.fail = fail,
		.cb = cb,
		.cb_data = data,
		.started = started,
		.ino_fd = -1,
		.ino_wd = -1,
		.poll_interval = POLL_FIRST_S,
	};
	char *run = services_run_dir(e->berth_dir, e->session->slug);
	enum launch_result res = LAUNCH_ERROR;
	int r;

	memset(fail, 0, sizeof(*fail));
	r = mkdir_p(run, 0755);
	if (r < 0)
		goto fail;
	l.loop = ev_loop_new(EVFLAG_AUTO);
	if (!l.loop) {
		r = -ENOMEM;
		goto fail;
	}
	r = reaper_create(l.loop, &l.reaper);
	if (r < 0)
		goto out_loop;
	/* Shims replace their status file by rename: IN_MOVED_TO is a new record. */
	l.ino_fd = inotify_take();
	if (l.ino_fd < 0 ||
	    (l.ino_wd = inotify_add_watch(l.ino_fd, run, IN_MOVED_TO | IN_CLOSE_WRITE)) < 0) {
		r = -errno;
		goto out_reaper;
	}
	ev_io_init(&l.ino_io, on_inotify, l.ino_fd, EV_READ);
	l.ino_io.data = &l;
	ev_io_start(l.loop, &l.ino_io);
	ev_timer_init(&l.poll, on_poll, 0., 0.);
	l.poll.data = &l;
	if (sigfd >= 0) {
		ev_io_init(&l.sig, on_signal, sigfd, EV_READ);
		l.sig.data = &l;
		ev_io_start(l.loop, &l.sig);
	}
	l.v = xcalloc(n ? n : 1, sizeof(*l.v));
	l.n = n;
	for (size_t i = 0; i < n; i++)
		lsvc_init(&l, &l.v[i], &e->config->services[idx[i]]);

	check_all(&l);
	if (l.running)
		ev_run(l.loop, 0);
	if (l.running) {
		/* the loop ran dry (cannot happen) */
		l.running = false;
		l.result = LAUNCH_ERROR;
		fail->err = EIO;
	}
	res = l.result;
	/* the watch goes now: nothing written from here on wakes us */
	inotify_rm_watch(l.ino_fd, l.ino_wd);
	l.ino_wd = -1;

	/* Decided: callbacks return at once from here on. Stop our watchers,
	 * kill the checks and reap them before the reaper goes; shims may end
	 * meanwhile (the reaper calls back for them too), so what callbacks
	 * read is freed only after that. */
	if (sigfd >= 0)
		ev_io_stop(l.loop, &l.sig);
	ev_timer_stop(l.loop, &l.poll);
	ev_io_stop(l.loop, &l.ino_io);
	for (size_t i = 0; i < n; i++) {
		stop_checks(&l.v[i]);
		stop_shim_watch(&l.v[i]);
	}
	drain_checks(&l);
	for (size_t i = 0; i < n; i++)
		lsvc_finish(&l.v[i]);
	free(l.v);
out_reaper:
	inotify_give(l.ino_fd, l.ino_wd);
	reaper_destroy(l.reaper);
out_loop:
	ev_loop_destroy(l.loop);
	if (res == LAUNCH_ERROR && !fail->err)
		fail->err = r < 0 ? -r : EIO;
out:
	free(l.journal_path);
	free(run);
	return res;
fail:
	fail->err = -r;
	goto out;
}

void launch_failure_finish(struct launch_failure *f)
{
	free(f->service);
	free(f->what);
	free(f->tail);
	free(f->log_path);
	memset(f, 0, sizeof(*f));
}
