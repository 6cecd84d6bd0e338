/*
 * services.c: a session's native services at run time: paths, the shim's
 * command line and environment, the view of a service from its status file,
 * and stopping (see services.h).
 */
#include "util/common.h"

#include <dirent.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/envfile.h"
#include "probe/listeners.h"
#include "probe/marker.h"
#include "probe/owners.h"
#include "probe/tree.h"
#include "proc/reaper.h"
#include "supervise/services.h"
#include "proc/spawn.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/timeutil.h"

#define STATUS_SUFFIX ".status"
#define SHIM_EXTRA_MS 2000 /* a shim gets stop_grace plus this before it is KILLed */
#define KILL_WAIT_MS 2000  /* how long a SIGKILLed process may take to vanish */
#define LOG_TAIL_READ (256u << 10)

char *services_run_dir(const char *berth_dir, const char *slug)
{
	return xasprintf("%s/run/%s", berth_dir, slug);
}

char *services_log_dir(const char *berth_dir, const char *slug)
{
	return xasprintf("%s/logs/%s", berth_dir, slug);
}

char *services_status_path(const char *berth_dir, const char *slug, const char *service)
{
	return xasprintf("%s/run/%s/%s" STATUS_SUFFIX, berth_dir, slug, service);
}

char *services_log_path(const char *berth_dir, const char *slug, const char *service)
{
	return xasprintf("%s/logs/%s/%s.log", berth_dir, slug, service);
}

char *services_journal_path(const char *berth_dir, const char *slug)
{
	return xasprintf("%s/run/%s/events", berth_dir, slug);
}

/* The environment file a tmux window's shim reads (and removes). */
static char *services_env_path(const char *berth_dir, const char *slug, const char *window)
{
	return xasprintf("%s/run/%s/%s.env", berth_dir, slug, window);
}

unsigned services_port(const struct session *s, const char *service)
{
	for (size_t i = 0; i < s->n_ports; i++)
		if (!strcmp(s->ports[i].name, service))
			return s->ports[i].port;
	return 0;
}

/* ---- starting ---- */

static const char *restart_name(enum restart_policy p)
{
	switch (p) {
	case RESTART_ON_FAILURE:
		return "on-failure";
	case RESTART_ALWAYS:
		return "always";
	case RESTART_NO:
		break;
	}
	return "no";
}

void services_env(const struct svc_env *e, const struct service_config *cfg, struct strvec *envp)
{
	struct envmap m = {0};

	/* Later sources win: the session's environment, the service's env,
	 * then the markers, which nothing may override. */
	for (char *const *p = e->envp; p && *p; p++)
		envmap_set_kv(&m, *p);
	for (size_t i = 0; cfg && i < cfg->env.n; i++)
		envmap_set_kv(&m, cfg->env.v[i]);
	/* A service is not inside the caller's tmux (nor, under the tmux
	 * runner, told it is inside ours). */
	envmap_unset(&m, "TMUX");
	envmap_unset(&m, "TMUX_PANE");
	envmap_set(&m, MARKER_ROOT_ID, e->root_id);
	envmap_set(&m, MARKER_SESSION, e->session->slug);
	if (cfg)
		envmap_set(&m, MARKER_SERVICE, cfg->name);
	else
		envmap_unset(&m, MARKER_SERVICE);
	for (size_t i = 0; i < m.n; i++)
		strvec_pushf(envp, "%s=%s", m.v[i].key, m.v[i].value);
	envmap_finish(&m);
}

void services_shim_argv(const struct svc_env *e, const struct service_config *cfg,
			struct strvec *argv)
{
	const char *slug = e->session->slug;
	char *cwd = cfg->cwd ? path_join(e->session->worktree, cfg->cwd)
			     : xstrdup(e->session->worktree);

	strvec_push(argv, e->shim_path);
	strvec_push(argv, "--status");
	strvec_push_owned(argv, services_status_path(e->berth_dir, slug, cfg->name));
	strvec_push(argv, "--log");
	strvec_push_owned(argv, services_log_path(e->berth_dir, slug, cfg->name));
	strvec_push(argv, "--events");
	strvec_push_owned(argv, services_journal_path(e->berth_dir, slug));
	strvec_push(argv, "--cwd");
	strvec_push_owned(argv, cwd);
	strvec_push(argv, "--stop-signal");
	strvec_pushf(argv, "%d", cfg->stop_signal ? cfg->stop_signal : SIGTERM);
	strvec_push(argv, "--stop-grace");
	strvec_pushf(argv, "%" PRIu64, e->stop_grace_ms);
	strvec_push(argv, "--restart");
	strvec_push(argv, cfg->oneshot ? "no" : restart_name(cfg->restart));
	if (cfg->ready && !strncmp(cfg->ready, "log:", 4)) {
		strvec_push(argv, "--ready-log");
		strvec_push(argv, cfg->ready + 4);
	}
	if (e->tmux) {
		strvec_push(argv, "--terminal");
		strvec_push(argv, "--env-file");
		strvec_push_owned(argv, services_env_path(e->berth_dir, slug, cfg->name));
	}
	strvec_push(argv, "--");
	strvec_push(argv, cfg->command);
}

static int make_dirs(const struct svc_env *e, char **cause)
{
	char *dirs[2] = {services_run_dir(e->berth_dir, e->session->slug),
			 services_log_dir(e->berth_dir, e->session->slug)};
	int r = 0;

	for (int i = 0; i < 2 && r == 0; i++) {
		r = mkdir_p(dirs[i], 0755);
		if (r < 0)
			*cause = xasprintf("cannot create '%s': %s", dirs[i], strerror(-r));
	}
	free(dirs[0]);
	free(dirs[1]);
	return r;
}

/* ---- the tmux runner ---- */

/* Write envp, NUL-separated, to the environment file of window. */
static int write_env_file(const struct svc_env *e, const char *window, const struct strvec *envp,
			  char **cause)
{
	char *path = services_env_path(e->berth_dir, e->session->slug, window);
	struct strbuf sb = STRBUF_INIT;
	int r;

	for (size_t i = 0; i < envp->n; i++)
		strbuf_add(&sb, envp->v[i], strlen(envp->v[i]) + 1);
	r = write_file_atomic(path, sb.buf ? sb.buf : "", sb.len, 0600);
	if (r < 0)
		*cause = xasprintf("cannot write '%s': %s", path, strerror(-r));
	strbuf_release(&sb);
	free(path);
	return r;
}

/* The markers a window's process carries itself (service NULL: the shell). */
static void window_markers(const struct svc_env *e, const char *service, struct strvec *ret)
{
	strvec_pushf(ret, "%s=%s", MARKER_ROOT_ID, e->root_id);
	strvec_pushf(ret, "%s=%s", MARKER_SESSION, e->session->slug);
	if (service)
		strvec_pushf(ret, "%s=%s", MARKER_SERVICE, service);
}

/* The shell window's command line: the shim execs `$SHELL` (or sh) in the
 * worktree with the session's environment. */
static int shell_argv(const struct svc_env *e, struct strvec *argv, char **cause)
{
	struct strvec envp = STRVEC_INIT;
	int r;

	services_env(e, NULL, &envp);
	r = write_env_file(e, "shell", &envp, cause);
	strvec_clear(&envp);
	if (r < 0)
		return r;
	strvec_push(argv, e->shim_path);
	strvec_push(argv, "--exec");
	strvec_push(argv, "--env-file");
	strvec_push_owned(argv, services_env_path(e->berth_dir, e->session->slug, "shell"));
	strvec_push(argv, "--cwd");
	strvec_push(argv, e->session->worktree);
	strvec_push(argv, "--");
	strvec_push(argv, "exec \"${SHELL:-/bin/sh}\"");
	return 0;
}

int services_tmux_session(const struct svc_env *e, bool respawn, char **cause)
{
	struct strvec argv = STRVEC_INIT, markers = STRVEC_INIT;
	const char *slug = e->session->slug;
	struct tmux_pane p;
	char *msg = NULL;
	int has, r = make_dirs(e, cause);

	if (r < 0)
		return r;
	has = tmux_session_known(e->tmux, slug, &msg);
	if (has < 0)
		goto fail;
	if (has > 0 &&
	    (!respawn || (tmux_pane_info(e->tmux, slug, "shell", &p, NULL) == 0 && !p.dead)))
		goto out;
	r = shell_argv(e, &argv, cause);
	if (r < 0)
		goto out;
	window_markers(e, NULL, &markers);
	if (has > 0) {
		pid_t pid;

		r = tmux_start_window(e->tmux, slug, "shell", e->session->worktree, &markers,
				      (const char *const *)strvec_argv(&argv), &pid, &msg);
	} else {
		r = tmux_ensure_session(e->tmux, slug, e->session->worktree, &markers,
					(const char *const *)strvec_argv(&argv), &msg);
	}
	if (r == 0)
		goto out;
fail:
	*cause = xasprintf("tmux: %s", msg ? msg : "no answer");
	r = -EIO;
out:
	free(msg);
	strvec_clear(&argv);
	strvec_clear(&markers);
	return r;
}

static int spawn_in_tmux(const struct svc_env *e, const struct service_config *cfg, pid_t *ret_pid,
			 int *ret_pidfd, char **cause)
{
	struct strvec argv = STRVEC_INIT, envp = STRVEC_INIT, markers = STRVEC_INIT;
	char *cwd = cfg->cwd ? path_join(e->session->worktree, cfg->cwd)
			     : xstrdup(e->session->worktree);
	char *msg = NULL;
	pid_t pid = -1;
	int r;

	r = services_tmux_session(e, false, cause);
	if (r < 0)
		goto out;
	services_env(e, cfg, &envp);
	r = write_env_file(e, cfg->name, &envp, cause);
	if (r < 0)
		goto out;
	services_shim_argv(e, cfg, &argv);
	window_markers(e, cfg->name, &markers);
	/* A directory that does not exist is the shim's to report. */
	r = tmux_start_window(e->tmux, e->session->slug, cfg->name,
			      path_is_dir(cwd) ? cwd : e->session->worktree, &markers,
			      (const char *const *)strvec_argv(&argv), &pid, &msg);
	if (r < 0) {
		*cause = xasprintf("tmux: %s", msg ? msg : "no answer");
		goto out;
	}
	/* The pane's process is the shim only while it runs: a shim that died
	 * at once leaves its pid to be recycled. A pidfd that names another
	 * process would only delay noticing the end (until the readiness
	 * deadline): nothing is signalled through it, stopping goes by the
	 * status file's pid and start time. */
	*ret_pid = pid;
	*ret_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
out:
	free(msg);
	free(cwd);
	strvec_clear(&argv);
	strvec_clear(&envp);
	strvec_clear(&markers);
	return r;
}

int services_spawn_shim(const struct svc_env *e, const struct service_config *cfg, pid_t *ret_pid,
			int *ret_pidfd, char **cause)
{
	struct strvec argv = STRVEC_INIT, envp = STRVEC_INIT;
	char *status = services_status_path(e->berth_dir, e->session->slug, cfg->name);
	struct spawn_opts o = {0};
	struct spawn_error err = {0};
	pid_t pid = -1;
	int r;

	*ret_pid = -1;
	*ret_pidfd = -1;
	r = make_dirs(e, cause);
	if (r < 0)
		goto out;
	/* A status left by an earlier run must not be read as this one's. */
	unlink(status);
	if (e->tmux) {
		r = spawn_in_tmux(e, cfg, ret_pid, ret_pidfd, cause);
		goto out;
	}
	services_shim_argv(e, cfg, &argv);
	services_env(e, cfg, &envp);
	o.path = e->shim_path;
	o.argv = strvec_argv(&argv);
	o.envp = strvec_argv(&envp);
	o.cwd = e->berth_dir;
	o.stdin_fd = o.stdout_fd = o.stderr_fd = -1;
	o.new_session = true;
	r = spawn_start(&o, &pid, ret_pidfd, &err);
	*ret_pid = pid;
	if (r < 0)
		*cause = spawn_error_text(&o, &err);
out:
	strvec_clear(&argv);
	strvec_clear(&envp);
	free(status);
	return r;
}

/* ---- what runs ---- */

int services_view(const char *berth_dir, const char *slug, const char *service,
		  struct svc_view *ret)
{
	char *path = services_status_path(berth_dir, slug, service);
	struct svc_view v = {0};
	int r;

	r = svc_status_read(path, &v.st);
	free(path);
	if (r == -ENOENT) {
		*ret = (struct svc_view){.live = SVC_LIVE_NONE};
		return 0;
	}
	if (r < 0)
		return r;
	if (v.st.shim_pid > 0 && proc_is(v.st.shim_pid, v.st.shim_start))
		v.live = SVC_LIVE_RUNNING;
	else if (v.st.state == SVC_EXITED || v.st.state == SVC_STOPPED || v.st.state == SVC_FAILED)
		v.live = SVC_LIVE_ENDED;
	else
		v.live = SVC_LIVE_LOST;
	v.service_alive = v.st.pid > 0 && proc_is(v.st.pid, v.st.start_time);
	*ret = v;
	return 0;
}

void services_tree(pid_t shim_pid, struct proc_ref **v, size_t *n)
{
	struct proc_table t;
	size_t alloc = 0;

	*v = NULL;
	*n = 0;
	if (shim_pid <= 0 || proc_table_read(&t) < 0)
		return;
	proc_table_descendants(&t, shim_pid, v, n, &alloc);
	proc_table_finish(&t);
}

static bool tree_holds(const struct proc_ref *v, size_t n, uint64_t inode)
{
	for (size_t j = 0; j < n; j++)
		if (owners_pid_holds(v[j].pid, inode))
			return true;
	return false;
}

void services_tree_ports(const struct proc_ref *v, size_t n, const struct listener_set *ls,
			 unsigned **ret, size_t *ret_n)
{
	unsigned *ports = NULL;
	size_t k = 0, alloc = 0;

	for (size_t i = 0; i < ls->n; i++) {
		bool dup = false;

		for (size_t j = 0; j < k && !dup; j++)
			dup = ports[j] == ls->v[i].port;
		if (dup || !tree_holds(v, n, ls->v[i].inode))
			continue;
		XGROW(ports, alloc, k + 1);
		ports[k++] = ls->v[i].port;
	}
	*ret = ports;
	*ret_n = k;
}

bool services_tree_listens(const struct proc_ref *v, size_t n, const struct listener_set *ls,
			   unsigned port, const struct listener **ret)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->v[i].port == port && tree_holds(v, n, ls->v[i].inode)) {
			if (ret)
				*ret = &ls->v[i];
			return true;
		}
	}
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void services_recorded(const char *berth_dir, const char *slug, struct strvec *ret)
{
	char *dir = services_run_dir(berth_dir, slug);
	size_t first = ret->n;
	struct dirent *de;
	DIR *d = opendir(dir);

	free(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name), sl = strlen(STATUS_SUFFIX);

		if (len > sl && !strcmp(de->d_name + len - sl, STATUS_SUFFIX))
			strvec_push_owned(ret, xstrndup(de->d_name, len - sl));
	}
	closedir(d);
	if (ret->n > first)
		qsort(ret->v + first, ret->n - first, sizeof(*ret->v), cmp_str);
}

void services_log_tail(const char *log_path, unsigned n, struct strbuf *out)
{
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	char *buf;
	off_t size, from;
	ssize_t got;
	size_t len, start;
	unsigned lines = 0;

	if (n == 0)
		return;

	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	from = size > (off_t)LOG_TAIL_READ ? size - (off_t)LOG_TAIL_READ : 0;
	buf = xmalloc(LOG_TAIL_READ + 1);
	got = size > 0 ? pread(fd, buf, (size_t)(size - from), from) : 0;
	close(fd);
	if (got <= 0) {
		free(buf);
		return;
	}
	len = (size_t)got;
	/* Walk back over n line ends (a last line without one counts too). */
	start = 0;
	for (size_t i = buf[len - 1] == '\n' ? len - 1 : len; i > 0; i--) {
		if (buf[i - 1] == '\n' && ++lines == n) {
			start = i;
			break;
		}
	}
	strbuf_add(out, buf + start, len - start);
	free(buf);
}

/* ---- stopping ---- */

/* Processes being waited for, each through a pidfd (or the reaper, for our
 * own children), until all are gone or a deadline passes. */
struct waiter;

struct waited {
	struct waiter *w;
	struct proc_ref ref;
	int pidfd;
	ev_io io;
	bool gone;
	bool child;  /* watched by the reaper */
	bool polled; /* no pidfds here: checked on a timer */
};

struct waiter {
	struct ev_loop *loop;
	struct reaper *reaper;
	struct waited *v;
	size_t n, alloc;
	size_t left;
	ev_timer deadline;
	ev_timer poll; /* for polled entries only */
	ev_io sig;
	bool timed_out;
	bool interrupted;
};

static void waited_gone(struct waited *x)
{
	if (x->gone)
		return;
	x->gone = true;
	if (!x->child && !x->polled) {
		ev_io_stop(x->w->loop, &x->io);
		close(x->pidfd);
		x->pidfd = -1;
	}
	if (--x->w->left == 0)
		ev_break(x->w->loop, EVBREAK_ONE);
}

static void on_pidfd(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	waited_gone(io->data);
}

static void on_child_exit(struct reaper_child *c, int wstatus, void *data)
{
	struct waiter *w = data;

	(void)wstatus;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].child && !w->v[i].gone && w->v[i].ref.pid == reaper_child_pid(c))
			waited_gone(&w->v[i]);
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct waiter *w = t->data;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].polled && !w->v[i].gone &&
		    !proc_is(w->v[i].ref.pid, w->v[i].ref.start_time))
			waited_gone(&w->v[i]);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct waiter *w = t->data;

	(void)revents;
	w->timed_out = true;
	ev_break(loop, EVBREAK_ONE);
}

static void on_hurry(struct ev_loop *loop, ev_io *io, int revents)
{
	struct waiter *w = io->data;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		w->interrupted = true;
	ev_io_stop(loop, io);
	ev_break(loop, EVBREAK_ONE);
}

static int waiter_init(struct waiter *w, int sigfd)
{
	memset(w, 0, sizeof(*w));
	w->loop = ev_loop_new(EVFLAG_AUTO);
	if (!w->loop)
		return -ENOMEM;
	if (reaper_create(w->loop, &w->reaper) < 0)
		w->reaper = NULL;
	ev_timer_init(&w->deadline, on_deadline, 0., 0.);
	w->deadline.data = w;
	ev_timer_init(&w->poll, on_poll, 0.01, 0.01);
	w->poll.data = w;
	if (sigfd >= 0) {
		ev_io_init(&w->sig, on_hurry, sigfd, EV_READ);
		w->sig.data = w;
		ev_io_start(w->loop, &w->sig);
	}
	return 0;
}

static void waiter_finish(struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (!w->v[i].child && !w->v[i].polled && w->v[i].pidfd >= 0) {
			ev_io_stop(w->loop, &w->v[i].io);
			close(w->v[i].pidfd);
		}
	}
	ev_io_stop(w->loop, &w->sig);
	ev_timer_stop(w->loop, &w->deadline);
	ev_timer_stop(w->loop, &w->poll);
	reaper_destroy(w->reaper);
	ev_loop_destroy(w->loop);
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* Add ref; false when it is already gone. The array may move: io watchers
 * are started only in waiter_run. */
static bool waiter_add(struct waiter *w, const struct proc_ref *ref)
{
	struct waited *x;
	int fd = proc_ref_pidfd(ref);

	if (fd < 0 && fd != -ENOSYS)
		return false;
	XGROW(w->v, w->alloc, w->n + 1);
	x = &w->v[w->n++];
	*x = (struct waited){.w = w, .ref = *ref, .pidfd = fd, .polled = fd == -ENOSYS};
	w->left++;
	return true;
}

/* Signal every waited process that is not gone. */
static void waiter_signal(struct waiter *w, int sig)
{
	for (size_t i = 0; i < w->n; i++) {
		struct waited *x = &w->v[i];

		if (x->gone)
			continue;
		if (x->polled || x->pidfd < 0) {
			proc_ref_signal(&x->ref, sig, true);
			continue;
		}
		if (syscall(SYS_pidfd_send_signal, x->pidfd, sig, NULL, 0) == 0 && sig != SIGKILL &&
		    sig != SIGCONT)
			syscall(SYS_pidfd_send_signal, x->pidfd, SIGCONT, NULL, 0);
	}
}

/* Wait until every added process is gone, timeout_ms passes, or sigfd fires. */
static void waiter_run(struct waiter *w, uint64_t timeout_ms)
{
	for (size_t i = 0; i < w->n; i++) {
		struct waited *x = &w->v[i];

		if (x->gone || x->child || x->polled || ev_is_active(&x->io))
			continue;
		/* Our own child (a shim this run started): the reaper reaps it. */
		if (w->reaper &&
		    reaper_watch(w->reaper, x->ref.pid, x->pidfd, on_child_exit, w, NULL) == 0) {
			x->child = true;
			x->pidfd = -1; /* the reaper owns it now */
			continue;
		}
		ev_io_init(&x->io, on_pidfd, x->pidfd, EV_READ);
		x->io.data = x;
		ev_io_start(w->loop, &x->io);
	}
	w->timed_out = false;
	if (!w->left || w->interrupted)
		return;
	ev_timer_set(&w->deadline, (double)timeout_ms / 1000.0, 0.);
	ev_timer_start(w->loop, &w->deadline);
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].polled && !w->v[i].gone)
			ev_timer_start(w->loop, &w->poll);
	ev_run(w->loop, 0);
	ev_timer_stop(w->loop, &w->deadline);
	ev_timer_stop(w->loop, &w->poll);
}

/* Kill what is left, now, and wait for it to vanish. */
static void waiter_kill_rest(struct waiter *w)
{
	waiter_signal(w, SIGKILL);
	ev_io_stop(w->loop, &w->sig);
	waiter_run(w, KILL_WAIT_MS);
}

/* TERM (+CONT) to every process of the sweep, KILL at the grace deadline. */
static unsigned sweep(const struct svc_env *e, const char *service, int sigfd, bool *hurry)
{
	struct proc_ref *v = NULL;
	size_t n = 0;
	struct waiter w;
	unsigned hit = 0;

	if (marker_sweep(e->root_id, e->session->slug, service, &v, &n) < 0 || !n) {
		free(v);
		return 0;
	}
	if (waiter_init(&w, *hurry ? -1 : sigfd) < 0) {
		free(v);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (waiter_add(&w, &v[i]))
			hit++;
	waiter_signal(&w, *hurry ? SIGKILL : SIGTERM);
	waiter_run(&w, *hurry ? KILL_WAIT_MS : e->stop_grace_ms);
	if (w.interrupted)
		*hurry = true;
	if (w.left)
		waiter_kill_rest(&w);
	waiter_finish(&w);
	free(v);
	return hit;
}

static void kill_tmux_session(const struct svc_env *e, int sigfd, struct stop_report *ret)
{
	pid_t *pids = NULL;
	size_t n = 0;
	char *msg = NULL;
	struct waiter w;
	bool waiting = false;

	tmux_session_pids(e->tmux, e->session->slug, &pids, &n, NULL);
	if (n && waiter_init(&w, sigfd) == 0) {
		waiting = true;
		for (size_t i = 0; i < n; i++) {
			struct proc_ref ref = {pids[i], 0};

			if (proc_start_time(pids[i], &ref.start_time) == 0)
				waiter_add(&w, &ref);
		}
	}
	if (tmux_kill_session(e->tmux, e->session->slug, &msg) < 0)
		ret->tmux_error = xasprintf("cannot kill tmux session %s: %s", e->session->slug,
					    msg ? msg : "no answer");
	if (waiting) {
		waiter_run(&w, KILL_WAIT_MS);
		waiter_finish(&w);
	}
	free(msg);
	free(pids);
}

int services_stop(const struct svc_env *e, const struct strvec *names, int sigfd,
		  struct stop_report *ret)
{
	struct strvec all = STRVEC_INIT;
	const struct strvec *list = names;
	struct proc_ref *groups = NULL;
	size_t n_groups = 0, groups_alloc = 0;
	struct waiter w;
	bool hurry = false;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (!list) {
		services_recorded(e->berth_dir, e->session->slug, &all);
		list = &all;
	}
	r = waiter_init(&w, sigfd);
	if (r < 0)
		goto out;
	/* Every shim at once: the total is the slowest service, not the sum. */
	for (size_t i = 0; i < list->n; i++) {
		struct svc_view v;
		struct proc_ref shim;

		if (services_view(e->berth_dir, e->session->slug, list->v[i], &v) < 0 ||
		    v.live == SVC_LIVE_NONE)
			continue;
		shim = (struct proc_ref){v.st.shim_pid, v.st.shim_start};
		if (v.live == SVC_LIVE_RUNNING && waiter_add(&w, &shim)) {
			ret->shims++;
			continue;
		}
		/* The shim is gone: its service's group is the safety net's. */
		if (v.service_alive) {
			XGROW(groups, groups_alloc, n_groups + 1);
			groups[n_groups++] = (struct proc_ref){v.st.pid, v.st.start_time};
		}
	}
	waiter_signal(&w, SIGTERM);
	waiter_run(&w, e->stop_grace_ms + SHIM_EXTRA_MS);
	hurry = w.interrupted;
	if (w.left) {
		for (size_t i = 0; i < w.n; i++)
			ret->shims_killed += !w.v[i].gone;
		waiter_kill_rest(&w);
	}
	waiter_finish(&w);

	/* The tmux session goes once its services are stopped: the kernel
	 * hangs up the processes of its other windows (the shell), which are
	 * given a moment to go before the safety net; has-session must then
	 * say it is gone. */
	if (!names && e->tmux)
		kill_tmux_session(e, sigfd, ret);

	/* The safety net: a lost shim's process group (its leader verified:
	 * while the leader lives its group id cannot be reused), then every
	 * process carrying the markers. */
	for (size_t i = 0; i < n_groups; i++) {
		int fd = proc_ref_pidfd(&groups[i]);

		if (fd < 0)
			continue;
		kill(-groups[i].pid, hurry ? SIGKILL : SIGTERM);
		if (!hurry)
			kill(-groups[i].pid, SIGCONT);
		close(fd);
	}
	if (!names) {
		ret->swept += sweep(e, NULL, sigfd, &hurry);
	} else {
		for (size_t i = 0; i < names->n; i++)
			ret->swept += sweep(e, names->v[i], sigfd, &hurry);
	}
	ret->interrupted = hurry;

	/* What is left is a survivor, named by the caller. */
	if (!names) {
		marker_sweep(e->root_id, e->session->slug, NULL, &ret->survivors,
			     &ret->n_survivors);
	} else {
		for (size_t i = 0; i < names->n; i++) {
			struct proc_ref *v = NULL;
			size_t n = 0;

			if (marker_sweep(e->root_id, e->session->slug, names->v[i], &v, &n) == 0 &&
			    n) {
				ret->survivors = xreallocarray(ret->survivors, ret->n_survivors + n,
							       sizeof(*v));
				memcpy(ret->survivors + ret->n_survivors, v, n * sizeof(*v));
				ret->n_survivors += n;
			}
			free(v);
		}
	}
	r = 0;
out:
	free(groups);
	strvec_clear(&all);
	return r;
}

void stop_report_finish(struct stop_report *r)
{
	free(r->survivors);
	free(r->tmux_error);
	memset(r, 0, sizeof(*r));
}

int services_journal_read(const char *berth_dir, const char *slug, uint64_t *off,
			  struct event_rec **v, size_t *n, size_t *alloc)
{
	char *path = services_journal_path(berth_dir, slug), *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	struct strbuf sb = STRBUF_INIT;
	char chunk[65536];
	ssize_t got;
	size_t start = 0;

	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (lseek(fd, (off_t)*off, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		strbuf_add(&sb, chunk, (size_t)got);
	buf = sb.buf;
	for (size_t i = 0; i < sb.len; i++) {
		char *f[4], *line, *save = NULL;
		int64_t ts;
		size_t k = 0;

		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		line = buf + start;
		start = i + 1;
		for (char *p = strtok_r(line, "\t", &save); p && k < 4;
		     p = strtok_r(NULL, "\t", &save))
			f[k++] = p;
		if (k < 3 || parse_i64(f[0], 0, INT64_MAX, &ts) < 0)
			continue;
		XGROW(*v, *alloc, *n + 1);
		(*v)[*n] = (struct event_rec){
			.ts_ms = ts,
			.slug = xstrdup(slug),
			.service = xstrdup(f[1]),
			.kind = xstrdup(f[2]),
			.detail = k > 3 ? xstrdup(f[3]) : NULL,
		};
		(*n)++;
	}
	*off += start;
out:
	strbuf_release(&sb);
	close(fd);
	return r;
}

void services_clear(const char *berth_dir, const char *slug, bool logs_too)
{
	char *run = services_run_dir(berth_dir, slug), *logs = services_log_dir(berth_dir, slug);

	rm_rf(run);
	if (logs_too)
		rm_rf(logs);
	free(run);
	free(logs);
}
