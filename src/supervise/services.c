/*
 * services.c: a session's native services at run time: paths, the shim's
 * command line and environment, the view of a service from its status file,
 * and stopping (see services.h).
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/envfile.h"
#include "probe/listeners.h"
#include "probe/marker.h"
#include "probe/owners.h"
#include "probe/probe.h"
#include "proc/cgroup.h"
#include "proc/pidref.h"
#include "proc/procset.h"
#include "supervise/hooks.h"
#include "supervise/services.h"
#include "proc/spawn.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/timeutil.h"

#define STATUS_SUFFIX ".status"
#define SHIM_EXTRA_MS 2000 /* a shim gets stop_grace plus this before it is KILLed */
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

void svc_env_finish(struct svc_env *e)
{
	tmux_finish(&e->tmux_server);
	strvec_clear(&e->env);
	free(e->root_id);
	free(e->shim_path);
	free(e->cgroup);
	free(e->uncontained);
	memset(e, 0, sizeof(*e));
}

/* ---- starting ---- */

/* The cgroup of service name, when the session has one. */
static char *service_cgroup(const struct svc_env *e, const char *name)
{
	return e->cgroup ? xasprintf("%s/%s", e->cgroup, name) : NULL;
}

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
	/* PORT is the service's own port (the session's is its first
	 * service's): two services that listen on $PORT never collide. */
	if (cfg) {
		unsigned port = services_port(e->session, cfg->name);

		if (port) {
			char num[16];

			snprintf(num, sizeof(num), "%u", port);
			envmap_set(&m, "PORT", num);
		} else {
			envmap_unset(&m, "PORT");
		}
	}
	/* A service run as another user gets that user's HOME, USER and
	 * LOGNAME (as login would), unless its env sets them. */
	if (cfg && cfg->user) {
		struct passwd *pw = getpwnam(cfg->user);

		if (pw) {
			envmap_set(&m, "HOME", pw->pw_dir);
			envmap_set(&m, "USER", pw->pw_name);
			envmap_set(&m, "LOGNAME", pw->pw_name);
		}
	}
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
	strvec_pushf(argv, "%" PRIu64, cfg->stop_grace_ms);
	if (cfg->user) {
		strvec_push(argv, "--user");
		strvec_push(argv, cfg->user);
	}
	strvec_push(argv, "--restart");
	strvec_push(argv, cfg->oneshot ? "no" : restart_name(cfg->restart));
	if (cfg->ready && !strncmp(cfg->ready, "log:", 4)) {
		strvec_push(argv, "--ready-log");
		strvec_push(argv, cfg->ready + 4);
	}
	if (e->cgroup) {
		strvec_push(argv, "--cgroup");
		strvec_push_owned(argv, service_cgroup(e, cfg->name));
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
	/* No fsync: the shim reads it at once and removes it; after a crash
	 * there is no window to read it. */
	r = write_file_atomic_nosync(path, sb.buf ? sb.buf : "", sb.len, 0600);
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

/* What one window of services_spawn_tmux runs. */
struct tmux_start {
	struct strvec argv, markers;
	char *cwd;
};

/* Write service cfg's environment file and fill t and w with what its
 * window runs. */
static int prepare_window(const struct svc_env *e, const struct service_config *cfg,
			  struct tmux_start *t, struct tmux_window *w, char **cause)
{
	struct strvec envp = STRVEC_INIT;
	char *status = services_status_path(e->berth_dir, e->session->slug, cfg->name);
	char *cwd = cfg->cwd ? path_join(e->session->worktree, cfg->cwd)
			     : xstrdup(e->session->worktree);
	int r;

	/* A status left by an earlier run must not be read as this one's. */
	unlink(status);
	free(status);
	services_env(e, cfg, &envp);
	r = write_env_file(e, cfg->name, &envp, cause);
	strvec_clear(&envp);
	if (r < 0) {
		free(cwd);
		return r;
	}
	services_shim_argv(e, cfg, &t->argv);
	window_markers(e, cfg->name, &t->markers);
	/* A directory that does not exist is the shim's to report. */
	if (path_is_dir(cwd)) {
		t->cwd = cwd;
	} else {
		free(cwd);
		t->cwd = xstrdup(e->session->worktree);
	}
	*w = (struct tmux_window){cfg->name, t->cwd, &t->markers,
				  (const char *const *)strvec_argv(&t->argv)};
	return 0;
}

static void unlink_env_file(const struct svc_env *e, const char *window)
{
	char *path = services_env_path(e->berth_dir, e->session->slug, window);

	unlink(path);
	free(path);
}

int services_spawn_tmux(const struct svc_env *e, const struct service_config *const *cfgs, size_t n,
			pid_t *ret_pids, int *ret_pidfds, size_t *ret_n, char **cause)
{
	const char *slug = e->session->slug;
	struct tmux_start *v = xcalloc(n ? n : 1, sizeof(*v));
	struct tmux_window *w = xcalloc(n ? n : 1, sizeof(*w));
	struct tmux_window shell = {0};
	struct strvec sh_argv = STRVEC_INIT, sh_markers = STRVEC_INIT;
	bool with_shell = false, made = false;
	char *msg = NULL, *why = NULL;
	size_t ready = 0, done = 0, keep = 0;
	int r, tr;

	*ret_n = 0;
	r = make_dirs(e, cause);
	if (r < 0)
		goto out;
	/* Those before one that cannot be prepared still start (as one at a
	 * time would have): r and why tell about that one. */
	while (ready < n && (r = prepare_window(e, cfgs[ready], &v[ready], &w[ready], &why)) == 0)
		ready++;
	/* The session with its shell window, in the same tmux command, unless
	 * it is known to be there. */
	if (!tmux_session_known_exists(e->tmux, slug)) {
		tr = shell_argv(e, &sh_argv, cause);
		if (tr < 0) {
			r = tr;
			goto out;
		}
		window_markers(e, NULL, &sh_markers);
		shell = (struct tmux_window){"shell", e->session->worktree, &sh_markers,
					     (const char *const *)strvec_argv(&sh_argv)};
		with_shell = true;
	}
	if (!ready && r < 0)
		goto fail_prepare;
	tr = tmux_start_windows(e->tmux, slug, with_shell ? &shell : NULL, w, ready, ret_pids,
				&done, &made, &msg);
	/* The pane's process is the shim only while it runs: a shim that died
	 * at once leaves its pid to be recycled. A pidfd that names another
	 * process would only delay noticing the end (until the readiness
	 * deadline): nothing is signalled through it, stopping goes by the
	 * status file's pid and start time. */
	for (size_t i = 0; i < done; i++) {
		ret_pidfds[i] = pidref_pidfd_open(ret_pids[i]);
		if (ret_pidfds[i] < 0)
			ret_pidfds[i] = -1;
	}
	*ret_n = done;
	/* tmux may have started the one it failed on (a timeout) */
	keep = done < ready ? done + 1 : done;
	if (tr < 0) {
		*cause = xasprintf("tmux: %s", msg ? msg : "no answer");
		r = tr;
		goto out;
	}
fail_prepare:
	if (r < 0) {
		*cause = why;
		why = NULL;
	}
out:
	/* Environment files no shim will read: the shell's when the session
	 * was there, and those of windows that were not started. */
	if (with_shell && !made)
		unlink_env_file(e, "shell");
	for (size_t i = keep; i < ready; i++)
		unlink_env_file(e, cfgs[i]->name);
	for (size_t i = 0; i < n; i++) {
		strvec_clear(&v[i].argv);
		strvec_clear(&v[i].markers);
		free(v[i].cwd);
	}
	free(v);
	free(w);
	free(msg);
	free(why);
	strvec_clear(&sh_argv);
	strvec_clear(&sh_markers);
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
	if (e->tmux) {
		size_t n;

		r = services_spawn_tmux(e, &cfg, 1, ret_pid, ret_pidfd, &n, cause);
		goto out;
	}
	r = make_dirs(e, cause);
	if (r < 0)
		goto out;
	/* A status left by an earlier run must not be read as this one's. */
	unlink(status);
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

/* Does the process pid with this start time run? From t when it holds pid
 * with that identity; otherwise (t NULL, or a process born after t was
 * read: a restart) from /proc now. */
static bool runs(const struct proc_table *t, pid_t pid, uint64_t start_time)
{
	const struct proc_stat *p = t ? proc_table_get(t, pid) : NULL;

	if (p && p->start_time == start_time)
		return !proc_stat_gone(p);
	return proc_is(pid, start_time);
}

int services_view_in(const char *berth_dir, const char *slug, const char *service,
		     const struct proc_table *t, struct svc_view *ret)
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
	if (v.st.shim_pid > 0 && runs(t, v.st.shim_pid, v.st.shim_start))
		v.live = SVC_LIVE_RUNNING;
	else if (v.st.state == SVC_EXITED || v.st.state == SVC_STOPPED || v.st.state == SVC_FAILED)
		v.live = SVC_LIVE_ENDED;
	else
		v.live = SVC_LIVE_LOST;
	v.service_alive = v.st.pid > 1 && runs(t, v.st.pid, v.st.start_time);
	*ret = v;
	return 0;
}

int services_view(const char *berth_dir, const char *slug, const char *service,
		  struct svc_view *ret)
{
	return services_view_in(berth_dir, slug, service, NULL, ret);
}

void services_tree_in(pid_t shim_pid, const struct proc_table *t, struct proc_ref **v, size_t *n)
{
	*v = NULL;
	*n = 0;
	if (shim_pid <= 1)
		return;
	/* from the command's snapshot when it has one; else the walk down
	 * from the shim costs what its tree holds, not what the machine runs:
	 * up looks at it on every readiness poll */
	if (t)
		procset_scan_in(&(struct procset){.tree = shim_pid}, t, v, n);
	else
		procset_scan(&(struct procset){.tree = shim_pid}, v, n);
}

void services_tree(pid_t shim_pid, struct proc_ref **v, size_t *n)
{
	services_tree_in(shim_pid, NULL, v, n);
}

static bool tree_holds(const struct proc_ref *v, size_t n, uint64_t inode)
{
	for (size_t j = 0; j < n; j++)
		if (owners_pid_holds(v[j].pid, inode))
			return true;
	return false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

void services_tree_ports(const struct proc_ref *v, size_t n, const struct listener_set *ls,
			 unsigned **ret, size_t *ret_n)
{
	unsigned *ports = NULL;
	uint64_t *socks = NULL;
	size_t k = 0, alloc = 0, n_socks = 0, socks_alloc = 0;

	/* each process's fds read once, whatever the number of listeners */
	for (size_t j = 0; ls->n && j < n; j++)
		owners_pid_sockets(v[j].pid, &socks, &n_socks, &socks_alloc);
	if (n_socks > 1)
		qsort(socks, n_socks, sizeof(*socks), cmp_u64);
	for (size_t i = 0; n_socks && i < ls->n; i++) {
		bool dup = false;

		for (size_t j = 0; j < k && !dup; j++)
			dup = ports[j] == ls->v[i].port;
		if (dup || !bsearch(&ls->v[i].inode, socks, n_socks, sizeof(*socks), cmp_u64))
			continue;
		XGROW(ports, alloc, k + 1);
		ports[k++] = ls->v[i].port;
	}
	free(socks);
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

enum svc_port_owner services_port_owner(struct probe *p, const struct proc_ref *tree, size_t n,
					const char *root_id, const char *slug, const char *service,
					unsigned port, char **who, struct svc_port_holder *holder)
{
	enum svc_port_owner ret = SVC_PORT_UNKNOWN;
	struct port_holder h;
	struct marker m = {0};

	*who = NULL;
	if (!probe_listening(p, (uint16_t)port))
		return SVC_PORT_FREE;
	if (services_tree_listens(tree, n, &p->listeners, port, NULL))
		return SVC_PORT_OURS;
	if (probe_port(p, (uint16_t)port, NULL, 0, &h) < 0)
		return SVC_PORT_UNKNOWN;
	if (h.kind == HOLDER_PROCESS && marker_read(h.pid, &m) == 0 &&
	    marker_matches(&m, root_id, slug, service)) {
		/* its own process, outside a (lost) supervisor's tree (the
		 * same slug and service of another repository is not ours) */
		ret = SVC_PORT_OURS;
	} else {
		ret = SVC_PORT_FOREIGN;
		if (holder && h.kind == HOLDER_PROCESS) {
			holder->pid = h.pid;
			snprintf(holder->comm, sizeof(holder->comm), "%s", h.comm);
			holder->session = m.session && m.root_id && !strcmp(m.root_id, root_id)
						  ? xstrdup(m.session)
						  : NULL;
		}
		if (h.kind == HOLDER_PROCESS && m.session)
			*who = xasprintf("pid %d (%s) of session %s", (int)h.pid, h.comm,
					 m.session);
		else if (h.kind == HOLDER_PROCESS)
			*who = xasprintf("pid %d (%s)", (int)h.pid, h.comm);
		else
			*who = xstrdup(SVC_PORT_HIDDEN);
	}
	marker_finish(&m);
	port_holder_finish(&h);
	return ret;
}

/* The names of dir's files ending in suffix (without it), sorted, appended to ret. */
static void names_with_suffix(const char *dir, const char *suffix, struct strvec *ret)
{
	size_t first = ret->n, sl = strlen(suffix);
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len > sl && !strcmp(de->d_name + len - sl, suffix))
			strvec_push_owned(ret, xstrndup(de->d_name, len - sl));
	}
	closedir(d);
	if (ret->n > first)
		qsort(ret->v + first, ret->n - first, sizeof(*ret->v), cmp_str);
}

void services_recorded(const char *berth_dir, const char *slug, struct strvec *ret)
{
	char *dir = services_run_dir(berth_dir, slug);

	names_with_suffix(dir, STATUS_SUFFIX, ret);
	free(dir);
}

void services_logged(const char *berth_dir, const char *slug, struct strvec *ret)
{
	char *dir = services_log_dir(berth_dir, slug);

	names_with_suffix(dir, ".log", ret);
	free(dir);
}

void services_log_mark(const char *log_path, struct svc_log_mark *ret)
{
	struct stat sb;

	*ret = (struct svc_log_mark){0};
	if (stat(log_path, &sb) == 0)
		*ret = (struct svc_log_mark){
			.dev = sb.st_dev, .ino = sb.st_ino, .size = sb.st_size};
}

void services_log_tail_since(const char *log_path, const struct svc_log_mark *mark, unsigned n,
			     struct strbuf *out)
{
	int fd;
	char *buf;
	struct stat sb;
	off_t size, from, floor = 0;
	char before;
	ssize_t got;
	size_t len, start;

	if (n == 0)
		return;
	fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return;
	}
	size = sb.st_size;
	/* The same file, not shorter than it was: what came after the mark.
	 * Another file (rotated since) or a shorter one holds only newer
	 * output: all of it counts. */
	if (mark && mark->ino && sb.st_dev == mark->dev && sb.st_ino == mark->ino &&
	    size >= mark->size)
		floor = mark->size;
	from = size - floor > (off_t)LOG_TAIL_READ ? size - (off_t)LOG_TAIL_READ : floor;
	/* A mark inside a line an earlier run left unended: the shim ended it
	 * with the first byte after the mark, a newline that is not this run's
	 * (logfile_break). */
	if (floor > 0 && from == floor && size > floor && pread(fd, &before, 1, floor - 1) == 1 &&
	    before != '\n' && pread(fd, &before, 1, floor) == 1 && before == '\n')
		from++;
	buf = xmalloc(LOG_TAIL_READ + 1);
	got = size > from ? pread(fd, buf, (size_t)(size - from), from) : 0;
	close(fd);
	if (got <= 0) {
		free(buf);
		return;
	}
	len = (size_t)got;
	start = str_tail_lines(buf, len, n);
	strbuf_add(out, buf + start, len - start);
	free(buf);
}

void services_log_tail(const char *log_path, unsigned n, struct strbuf *out)
{
	services_log_tail_since(log_path, NULL, n, out);
}

/* ---- containment ---- */

char *services_cgroup_file(const char *berth_dir, const char *slug)
{
	return xasprintf("%s/run/%s/cgroup", berth_dir, slug);
}

int services_cgroup(const char *berth_dir, const char *root_id, const char *slug, bool record,
		    char **ret, char **why)
{
	char *file = services_cgroup_file(berth_dir, slug), *text = NULL, *base = NULL;
	size_t len = 0;
	int r;

	*ret = NULL;
	*why = NULL;
	/* The path the session's services were started in (the base may differ
	 * for another caller: a delegated subtree is the caller's own). A
	 * hostile or stale file is not followed. */
	if (read_file(file, 4096, &text, &len) == 0) {
		while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
			text[--len] = '\0';
		if (cgroup_path_valid(text, root_id, slug, false)) {
			*ret = text;
			free(file);
			return 0;
		}
		free(text);
	}
	r = cgroup_base(&base, why);
	if (r < 0)
		goto out;
	*ret = xasprintf("%s/%s/%s", base, root_id, slug);
	if (record) {
		char *dir = services_run_dir(berth_dir, slug);

		mkdir_p(dir, 0755);
		free(dir);
		r = write_file_atomic_nosync(file, *ret, strlen(*ret), 0644);
		if (r < 0) {
			*why = xasprintf("cannot write '%s': %s", file, strerror(-r));
			free(*ret);
			*ret = NULL;
			r = -ENOTSUP;
		}
	}
out:
	free(base);
	free(file);
	return r;
}

char *services_hook_cgroup(const char *berth_dir, const char *root_id, const char *slug)
{
	char *cg = NULL, *why = NULL, *hook = NULL;

	if (services_cgroup(berth_dir, root_id, slug, false, &cg, &why) == 0)
		hook = xasprintf("%s/%s", cg, HOOKS_CGROUP);
	free(cg);
	free(why);
	return hook;
}

/* ---- stopping ---- */

static const struct service_config *find_config(const struct svc_env *e, const char *name)
{
	for (size_t i = 0; i < e->config->n_services; i++)
		if (!strcmp(e->config->services[i].name, name))
			return &e->config->services[i];
	return NULL;
}

/* The set of what a lost shim left: its recorded cgroup (checked), its
 * recorded process group, and its service's markers. */
struct lost {
	struct proc_ref group;
	char *cgroup;
	char *name;
	int sig;
};

static void kill_tmux_session(const struct svc_env *e, int sigfd, struct stop_report *ret)
{
	pid_t *pids = NULL;
	size_t n = 0;
	char *msg = NULL;
	struct proc_ref *refs = NULL;
	size_t k = 0;
	struct procset_result res;

	tmux_session_pids(e->tmux, e->session->slug, &pids, &n, NULL);
	refs = xcalloc(n ? n : 1, sizeof(*refs));
	for (size_t i = 0; i < n; i++)
		if (proc_start_time(pids[i], &refs[k].start_time) == 0)
			refs[k++].pid = pids[i];
	if (tmux_kill_session(e->tmux, e->session->slug, &msg) < 0)
		ret->tmux_error = xasprintf("cannot kill tmux session %s: %s", e->session->slug,
					    msg ? msg : "no answer");
	/* The panes got their hangup: a moment to go, then the safety net. */
	if (k) {
		struct procset set = {.refs = refs, .n_refs = k};

		procset_stop(&set, 0, PROCSET_KILL_WAIT_MS, sigfd, &res);
		procset_result_finish(&res);
	}
	free(refs);
	free(msg);
	free(pids);
}

/* The session's own set (names NULL) or each named service's. */
static size_t own_sets(const struct svc_env *e, const struct strvec *names, struct procset *v,
		       char **cgroups)
{
	const char *slug = e->session->slug;
	size_t n = 0;

	if (!names) {
		v[n++] = (struct procset){.cgroup = e->cgroup,
					  .marks = PROCSET_MARKS_SESSION,
					  .root_id = e->root_id,
					  .session = slug};
		return n;
	}
	for (size_t i = 0; i < names->n; i++) {
		cgroups[i] = service_cgroup(e, names->v[i]);
		v[n++] = (struct procset){.cgroup = cgroups[i],
					  .marks = PROCSET_MARKS_SERVICE,
					  .root_id = e->root_id,
					  .session = slug,
					  .service = names->v[i]};
	}
	return n;
}

/* The longest stop_grace of the session's services (the safety net's). */
static uint64_t max_grace(const struct svc_env *e)
{
	uint64_t g = e->stop_grace_ms;

	for (size_t i = 0; i < e->config->n_services; i++)
		if (e->config->services[i].stop_grace_ms > g)
			g = e->config->services[i].stop_grace_ms;
	return g;
}

/* TERM the running shims shims[0..n) (cfg[i]: service i's config, or NULL
 * for one no longer configured) in stop order: dependents before what they
 * depend on, each level at once, so the total is the slowest chain, not the
 * sum. Each shim stops its own tree; one still there at its stop_grace +
 * SHIM_EXTRA_MS is KILLed (its service then gets its parent-death signal, and
 * the safety net takes the rest). Once interrupted (sigfd), the remaining
 * levels are KILLed at once. Returns whether it was interrupted. */
static bool stop_shims(const struct svc_env *e, const struct proc_ref *shims,
		       const struct service_config *const *cfg, size_t n, int sigfd,
		       struct stop_report *ret)
{
	unsigned *levels = NULL, top = 0;
	unsigned *lv = xcalloc(n + 1, sizeof(*lv));
	struct proc_ref *batch = xcalloc(n + 1, sizeof(*batch));
	bool hurry = false;

	if (config_stop_levels(e->config, &levels) < 0)
		levels = NULL; /* a cycle (validate says so): all at once */
	for (size_t i = 0; i < n; i++) {
		lv[i] = levels && cfg[i] ? levels[cfg[i] - e->config->services] : 0;
		if (lv[i] > top)
			top = lv[i];
	}
	for (unsigned level = 0; level <= top; level++) {
		struct procset set = {.refs = batch};
		struct procset_result res;
		uint64_t grace = 0;

		for (size_t i = 0; i < n; i++) {
			if (lv[i] != level)
				continue;
			batch[set.n_refs++] = shims[i];
			if ((cfg[i] ? cfg[i]->stop_grace_ms : e->stop_grace_ms) > grace)
				grace = cfg[i] ? cfg[i]->stop_grace_ms : e->stop_grace_ms;
		}
		if (!set.n_refs)
			continue;
		procset_stop(&set, hurry ? SIGKILL : SIGTERM, grace + SHIM_EXTRA_MS,
			     hurry ? -1 : sigfd, &res);
		ret->shims += set.n_refs;
		ret->shims_killed |= res.killed;
		hurry |= res.interrupted;
		procset_result_finish(&res);
	}
	free(batch);
	free(lv);
	free(levels);
	return hurry;
}

int services_stop(const struct svc_env *e, const struct strvec *names, int sigfd,
		  struct stop_report *ret)
{
	struct strvec all = STRVEC_INIT;
	const struct strvec *list = names;
	struct proc_ref *shims = NULL;
	const struct service_config **shim_cfg = NULL;
	struct lost *lost = NULL;
	size_t n_shims = 0, n_lost = 0, n_sets;
	struct procset *sets;
	char **cgroups;
	int *sigs;
	struct procset_result res;
	bool hurry = false;

	memset(ret, 0, sizeof(*ret));
	if (!list) {
		services_recorded(e->berth_dir, e->session->slug, &all);
		list = &all;
	}
	shims = xcalloc(list->n + 1, sizeof(*shims));
	shim_cfg = xcalloc(list->n + 1, sizeof(*shim_cfg));
	lost = xcalloc(list->n + 1, sizeof(*lost));
	for (size_t i = 0; i < list->n; i++) {
		const struct service_config *cfg = find_config(e, list->v[i]);
		struct svc_view v;

		if (services_view(e->berth_dir, e->session->slug, list->v[i], &v) < 0 ||
		    v.live == SVC_LIVE_NONE)
			continue;
		if (v.live == SVC_LIVE_RUNNING) {
			shim_cfg[n_shims] = cfg;
			shims[n_shims++] = (struct proc_ref){v.st.shim_pid, v.st.shim_start};
			continue;
		}
		if (v.live != SVC_LIVE_LOST && !v.service_alive)
			continue;
		/* The shim is gone without recording an end: what it ran may
		 * still run, out of its supervision. */
		lost[n_lost] = (struct lost){
			.group = {v.st.pid > 1 ? v.st.pid : 0, v.st.start_time},
			.cgroup = cgroup_path_valid(v.st.cgroup, e->root_id, e->session->slug, true)
					  ? xstrdup(v.st.cgroup)
					  : service_cgroup(e, list->v[i]),
			.name = xstrdup(list->v[i]),
			.sig = cfg && cfg->stop_signal ? cfg->stop_signal : SIGTERM,
		};
		if (v.live == SVC_LIVE_LOST)
			strvec_push(&ret->lost, list->v[i]);
		n_lost++;
	}

	hurry = stop_shims(e, shims, shim_cfg, n_shims, sigfd, ret);

	/* The tmux session goes once its services are stopped: the kernel
	 * hangs up the processes of its other windows (the shell). */
	if (!names && e->tmux)
		kill_tmux_session(e, hurry ? -1 : sigfd, ret);

	/* The safety net: what lost shims left (with each service's own stop
	 * signal), then everything of the session (or of the named services):
	 * its cgroup, every process with its markers. */
	sets = xcalloc(n_lost + list->n + 1, sizeof(*sets));
	sigs = xcalloc(n_lost + list->n + 1, sizeof(*sigs));
	cgroups = xcalloc(list->n + 1, sizeof(*cgroups));
	n_sets = 0;
	for (size_t i = 0; i < n_lost; i++) {
		sets[n_sets] = (struct procset){.cgroup = lost[i].cgroup,
						.groups = &lost[i].group,
						.n_groups = lost[i].group.pid ? 1 : 0,
						.marks = PROCSET_MARKS_SERVICE,
						.root_id = e->root_id,
						.session = e->session->slug,
						.service = lost[i].name};
		sigs[n_sets++] = hurry ? SIGKILL : lost[i].sig;
	}
	{
		size_t k = own_sets(e, names, sets + n_sets, cgroups);

		for (size_t i = 0; i < k; i++)
			sigs[n_sets + i] = hurry ? SIGKILL : SIGTERM;
		n_sets += k;
	}
	procset_stop_many(sets, sigs, n_sets, max_grace(e), hurry ? -1 : sigfd, &res);
	ret->swept = res.signalled;
	ret->interrupted = hurry || res.interrupted;
	ret->survivors = res.survivors;
	ret->n_survivors = res.n_survivors;
	res.survivors = NULL;
	procset_result_finish(&res);
	ret->contained = e->cgroup != NULL;

	/* Empty cgroups go (a populated one stays: its survivors are named). */
	if (!names && e->cgroup && !ret->n_survivors && cgroup_remove(e->cgroup) == 0) {
		/* and the repository's, once its last session is gone */
		char *parent = xstrndup(e->cgroup, (size_t)(strrchr(e->cgroup, '/') - e->cgroup));

		rmdir(parent);
		free(parent);
	}
	for (size_t i = 0; i < list->n; i++)
		free(cgroups[i]);
	for (size_t i = 0; i < n_lost; i++) {
		free(lost[i].cgroup);
		free(lost[i].name);
	}
	free(cgroups);
	free(sigs);
	free(sets);
	free(lost);
	free(shims);
	free(shim_cfg);
	strvec_clear(&all);
	return 0;
}

unsigned services_stop_hooks(const char *berth_dir, const char *root_id, const char *slug,
			     uint64_t grace_ms, int sigfd)
{
	char *hook_cg = services_hook_cgroup(berth_dir, root_id, slug);
	struct procset set = {.cgroup = hook_cg,
			      .marks = PROCSET_MARKS_HOOKS,
			      .root_id = root_id,
			      .session = slug};
	struct procset_result res;
	unsigned n = 0;

	if (procset_stop(&set, SIGTERM, grace_ms, sigfd, &res) == 0)
		n = res.signalled;
	procset_result_finish(&res);
	free(hook_cg);
	return n;
}

void stop_report_finish(struct stop_report *r)
{
	free(r->survivors);
	free(r->tmux_error);
	strvec_clear(&r->lost);
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
