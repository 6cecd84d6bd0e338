/*
 * watcher.c: `berth watch`'s engine (see watcher.h).
 */
#include "util/common.h"

#include <ev.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "probe/forensics.h"
#include "probe/probe.h"
#include "proc/job.h"
#include "proc/pidref.h"
#include "proc/reaper.h"
#include "store/session.h"
#include "supervise/services.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "watch/activity.h"
#include "watch/watcher.h"

#define RESCAN_DELAY 0.01    /* s: inotify events are gathered this long before a scan */
#define ACTION_ERR_KEEP 4096 /* bytes of an action's stderr kept for its event */
#define EXIT_DIRTY_CODE 7    /* `down` refused: uncommitted work */

struct watcher;

/* A shim we watch: its identity and pidfd. */
struct wshim {
	struct watcher *w;
	char *slug, *service;
	struct proc_ref id;
	pid_t service_pid; /* its service's pid when last seen, for forensics */
	int fd;
	ev_io io;
	struct wshim *next;
};

enum action_kind { ACT_RESTART, ACT_STOP, ACT_DOWN, ACT_IDLE_STOP };

/* A berth command the watcher runs. */
struct waction {
	struct watcher *w;
	enum action_kind kind;
	char *slug;
	struct strvec argv;
	struct job *job; /* NULL until it started */
	struct waction *next;
};

struct watcher {
	const struct watch_opts *o;
	struct ev_loop *loop;
	struct reaper *reaper;
	struct state *st;
	struct config cfg;
	bool have_cfg;
	char *cfg_error; /* the last config error reported */
	char *root_id;
	/* the tmux server */
	struct tmux tmux;
	bool have_tmux;
	struct proc_ref tmux_id;
	int tmux_fd;
	ev_io tmux_io;
	struct strvec tmux_sessions; /* its sessions when last seen */
	struct strvec tmux_hit;      /* sessions its death took down (until a new one runs) */
	struct wshim *shims;
	struct waction *actions;
	/* inotify on .berth/run and each session's run directory */
	int ino_fd;
	ev_io ino_io;
	ev_timer rescan;
	ev_timer tick;
	ev_io stop_io;
	struct strvec reported; /* "slug port who": foreign listeners told once */
	struct strvec suspect;  /* holders not visible to us, seen in the last pass */
	struct strvec told;     /* "slug service shim-pid start": deaths recorded */
	bool failed;            /* an action failed (--once exit status) */
	bool stopping;
	int stop_signo; /* what stopped us, and who sent it */
	pid_t stop_sender;
};

/* ---- events ---- */

static void emit(struct watcher *w, const char *slug, const char *service, const char *kind,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void emit(struct watcher *w, const char *slug, const char *service, const char *kind,
		 const char *fmt, ...)
{
	struct event_rec ev = {0};
	va_list ap;

	va_start(ap, fmt);
	ev.detail = xvasprintf(fmt, ap);
	va_end(ap);
	ev.ts_ms = time_wall_ms();
	ev.slug = (char *)slug;
	ev.service = (char *)service;
	ev.kind = (char *)kind;
	/* events never fail the watcher: a store that refuses one is told on
	 * the output all the same */
	state_event_add_at(w->st, ev.ts_ms, slug, service, kind, ev.detail);
	if (w->o->emit)
		w->o->emit(&ev, w->o->emit_data);
	free(ev.detail);
}

/* ---- config ---- */

static void load_config(struct watcher *w)
{
	struct config c;
	char *cause = NULL;
	int r;

	if (!w->o->config_path || !path_exists(w->o->config_path)) {
		config_init(&c, w->o->root);
		r = 0;
	} else {
		r = config_load(&c, w->o->root, w->o->config_path, &cause);
	}
	if (r < 0) {
		if (!w->cfg_error || strcmp(w->cfg_error, cause))
			emit(w, NULL, NULL, "config-error",
			     "%s; the watcher keeps the last config "
			     "it could read",
			     cause);
		free(w->cfg_error);
		w->cfg_error = cause;
		return;
	}
	free(w->cfg_error);
	w->cfg_error = NULL;
	if (w->have_cfg)
		config_finish(&w->cfg);
	w->cfg = c;
	w->have_cfg = true;
	/* a running timer takes a new period through `repeat` (ev_timer_set
	 * is for stopped ones) */
	w->tick.repeat = (double)w->cfg.watch.interval_ms / 1000.0;
	if (ev_is_active(&w->tick))
		ev_timer_again(w->loop, &w->tick);
}

/* ---- actions: berth commands run as our children ---- */

static bool busy(const struct watcher *w, const char *slug)
{
	for (const struct waction *a = w->actions; a; a = a->next)
		if (!strcmp(a->slug, slug))
			return true;
	return false;
}

static void action_free(struct waction *a)
{
	job_destroy(a->job);
	strvec_clear(&a->argv);
	free(a->slug);
	free(a);
}

static void scan(struct watcher *w);
static bool session_idle_now(struct watcher *w, const char *slug, struct session *s);
static void check_lost(struct watcher *w, const struct session *s);
static int action_start(struct watcher *w, enum action_kind kind, const char *slug,
			const char *const *args);

static void on_action_exit(struct job *j, int code, void *data)
{
	struct waction *a = data, **pp;
	struct watcher *w = a->w;
	struct strbuf line = STRBUF_INIT, cmd = STRBUF_INIT;

	for (pp = &w->actions; *pp != a; pp = &(*pp)->next)
		;
	*pp = a->next;
	for (size_t i = 1; i < a->argv.n; i++)
		strbuf_addf(&cmd, "%s%s", i > 1 ? " " : "", a->argv.v[i]);
	job_last_line(j, &line);
	if (code == 0) {
		emit(w, a->slug, NULL, "watch-action", "`berth %s` done", cmd.buf);
	} else if (a->kind == ACT_DOWN && code == EXIT_DIRTY_CODE) {
		/* uncommitted work is never deleted: the session is stopped,
		 * its worktree kept */
		emit(w, a->slug, NULL, "watch-action",
		     "`berth %s` refused (exit 7: uncommitted work); stopping the session and "
		     "keeping its worktree",
		     cmd.buf);
		action_start(w, ACT_DOWN, a->slug,
			     (const char *const[]){"down", "-q", "--keep-worktree", a->slug, NULL});
	} else if (a->kind == ACT_IDLE_STOP && code == 5) {
		emit(w, a->slug, NULL, "idle-stop-skipped", "%s",
		     line.len ? line.buf : "the session was not idle when checked again");
	} else {
		w->failed = true;
		emit(w, a->slug, NULL, "watch-action-failed", "`berth %s` exited %d%s%s", cmd.buf,
		     code, line.len ? ": " : "", line.buf ? line.buf : "");
	}
	strbuf_release(&line);
	strbuf_release(&cmd);
	/* after a success, what else of the session died meanwhile; after a
	 * failure, the next reconcile pass tries again (no tight loop) */
	if (!w->stopping && code == 0 && !busy(w, a->slug)) {
		struct session s = {0};

		if (session_idle_now(w, a->slug, &s)) {
			if (s.status == SESSION_ACTIVE)
				check_lost(w, &s);
			session_finish(&s);
		}
	}
	action_free(a);
	if (!w->stopping)
		scan(w);
}

/* Run `berth args...`; its stderr is kept for the event. */
static int action_start(struct watcher *w, enum action_kind kind, const char *slug,
			const char *const *args)
{
	struct waction *a = xcalloc(1, sizeof(*a));
	char *why = NULL;
	int r;

	a->w = w;
	a->kind = kind;
	a->slug = xstrdup(slug);
	strvec_push(&a->argv, w->o->exe);
	for (const char *const *p = args; *p; p++)
		strvec_push(&a->argv, *p);
	struct spawn_opts o = {
		.path = w->o->exe,
		.argv = strvec_argv(&a->argv),
		.cwd = w->o->root,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.new_pgroup = true,
	};
	r = job_start(w->loop, w->reaper, &o, ACTION_ERR_KEEP, on_action_exit, a, &a->job, &why);
	if (r < 0) {
		w->failed = true;
		emit(w, slug, NULL, "watch-action-failed", "%s", why);
		free(why);
		action_free(a);
		return r;
	}
	a->next = w->actions;
	w->actions = a;
	return 0;
}

/* ---- sessions ---- */

/* The session as it is now; false when it is gone, or a live command owns
 * it (then it is that command's business). */
static bool session_idle_now(struct watcher *w, const char *slug, struct session *s)
{
	if (state_session_get(w->st, slug, s) < 0)
		return false;
	if (s->status == SESSION_PENDING || (s->has_op && session_op_alive(&s->op))) {
		session_finish(s);
		return false;
	}
	return true;
}

static const struct service_config *service_cfg(const struct watcher *w, const char *name)
{
	return w->have_cfg ? config_service(&w->cfg, name) : NULL;
}

/* A shim died without recording an end (SIGKILL, OOM, a crash): say what is
 * known, then restart the service per its policy, or stop what it left. */
static void shim_lost(struct watcher *w, const struct session *s, const char *service,
		      const struct proc_ref *shim, pid_t service_pid)
{
	const struct service_config *cfg = service_cfg(w, service);
	struct strbuf why = STRBUF_INIT;
	pid_t pids[2] = {shim->pid, service_pid};
	bool restart = cfg && cfg->restart != RESTART_NO;
	char *key =
		xasprintf("%s %s %d %" PRIu64, s->slug, service, (int)shim->pid, shim->start_time);

	/* one death, one record: its pidfd and a reconcile pass may both
	 * find it */
	if (strvec_find(&w->told, key) < 0) {
		if (w->told.n >= 1024)
			strvec_clear(&w->told);
		strvec_push(&w->told, key);
		forensics_snapshot(pids, service_pid > 0 ? 2 : 1, "/dev/kmsg",
				   "/proc/pressure/memory", &why);
		emit(w, s->slug, service, "shim-died",
		     "its supervisor berth-shim (pid %d) died without recording an end (killed, "
		     "or crashed); %s; %s",
		     (int)shim->pid, why.buf,
		     restart ? "restarting it (restart policy)"
			     : "stopping what it left (restart = no)");
		strbuf_release(&why);
	}
	free(key);
	/* one action at a time per session: when the one in flight ends, the
	 * session is looked at again (check_lost) */
	if (busy(w, s->slug))
		return;
	if (restart)
		action_start(w, ACT_RESTART, s->slug,
			     (const char *const[]){"restart", s->slug, service, NULL});
	else
		action_start(w, ACT_STOP, s->slug,
			     (const char *const[]){"stop", "-q", s->slug, service, NULL});
}

/* Services of s whose shim is gone without a record (one that died while
 * nobody watched it, or while an action was in flight). */
static void check_lost(struct watcher *w, const struct session *s)
{
	struct strvec names = STRVEC_INIT;

	services_recorded(w->o->berth_dir, s->slug, &names);
	for (size_t k = 0; k < names.n && !busy(w, s->slug); k++) {
		struct svc_view sv;

		if (services_view(w->o->berth_dir, s->slug, names.v[k], &sv) == 0 &&
		    sv.live == SVC_LIVE_LOST) {
			struct proc_ref id = {sv.st.shim_pid, sv.st.shim_start};

			shim_lost(w, s, names.v[k], &id, sv.st.pid);
		}
	}
	strvec_clear(&names);
}

/* Is the tmux server we watch gone (its pidfd readable)? */
static bool tmux_gone(const struct watcher *w)
{
	struct pollfd p = {.fd = w->tmux_fd, .events = POLLIN};

	return w->tmux_fd >= 0 && poll(&p, 1, 0) == 1;
}

static void tmux_died(struct watcher *w);

static void shim_ended(struct watcher *w, struct wshim *sh)
{
	struct session s = {0};
	struct svc_view v = {0};

	if (tmux_gone(w))
		tmux_died(w); /* first: the shims of its windows die of it */
	if (!session_idle_now(w, sh->slug, &s))
		return;
	if (services_view(w->o->berth_dir, sh->slug, sh->service, &v) == 0 &&
	    v.st.shim_pid == sh->id.pid && v.st.shim_start == sh->id.start_time) {
		if (v.live == SVC_LIVE_LOST)
			shim_lost(w, &s, sh->service, &sh->id, sh->service_pid);
		else if (v.live == SVC_LIVE_ENDED && v.st.state == SVC_STOPPED &&
			 strvec_find(&w->tmux_hit, sh->slug) < 0)
			emit(w, sh->slug, sh->service, "shim-ended",
			     "its supervisor (pid %d) stopped the service on a signal that did "
			     "not come from berth; not restarted",
			     (int)sh->id.pid);
	}
	session_finish(&s);
}

static void shim_free(struct watcher *w, struct wshim *sh)
{
	if (sh->fd >= 0) {
		ev_io_stop(w->loop, &sh->io);
		close(sh->fd);
	}
	free(sh->slug);
	free(sh->service);
	free(sh);
}

static void shim_unlink(struct watcher *w, struct wshim *sh)
{
	for (struct wshim **pp = &w->shims; *pp; pp = &(*pp)->next)
		if (*pp == sh) {
			*pp = sh->next;
			return;
		}
}

static void on_shim_death(struct ev_loop *loop, ev_io *io, int revents)
{
	struct wshim *sh = io->data;
	struct watcher *w = sh->w;

	shim_unlink(w, sh);
	ev_io_stop(loop, &sh->io);
	shim_ended(w, sh);
	shim_free(w, sh);
}

static struct wshim *find_shim(struct watcher *w, const char *slug, const char *service)
{
	for (struct wshim *sh = w->shims; sh; sh = sh->next)
		if (!strcmp(sh->slug, slug) && !strcmp(sh->service, service))
			return sh;
	return NULL;
}

/* Watch the shim the status file of slug/service names, when it runs. */
static void watch_shim(struct watcher *w, const struct session *s, const char *service)
{
	struct wshim *sh = find_shim(w, s->slug, service);
	struct svc_view v;
	struct pidref ref;

	if (services_view(w->o->berth_dir, s->slug, service, &v) < 0)
		return;
	if (sh && (sh->id.pid != v.st.shim_pid || sh->id.start_time != v.st.shim_start)) {
		/* a new shim replaced the one we watch (a restart): follow it */
		shim_unlink(w, sh);
		shim_free(w, sh);
		sh = NULL;
	}
	if (sh || v.live != SVC_LIVE_RUNNING)
		return;
	sh = xcalloc(1, sizeof(*sh));
	sh->w = w;
	sh->slug = xstrdup(s->slug);
	sh->service = xstrdup(service);
	sh->id = (struct proc_ref){v.st.shim_pid, v.st.shim_start};
	sh->service_pid = v.st.pid;
	sh->fd = -1;
	if (pidref_open(&sh->id, &ref) < 0) {
		/* gone between the status file and now: the same as a death */
		shim_ended(w, sh);
		shim_free(w, sh);
		return;
	}
	sh->fd = ref.fd;
	if (sh->fd < 0) {
		/* no pidfd here: the reconcile pass finds it lost */
		shim_free(w, sh);
		return;
	}
	ev_io_init(&sh->io, on_shim_death, sh->fd, EV_READ);
	sh->io.data = sh;
	ev_io_start(w->loop, &sh->io);
	sh->next = w->shims;
	w->shims = sh;
}

/* ---- the tmux server ---- */

static void on_tmux_death(struct ev_loop *loop, ev_io *io, int revents)
{
	tmux_died(io->data);
}

static void tmux_unwatch(struct watcher *w)
{
	if (w->tmux_fd >= 0) {
		ev_io_stop(w->loop, &w->tmux_io);
		close(w->tmux_fd);
	}
	w->tmux_fd = -1;
	w->tmux_id = (struct proc_ref){0};
}

/* A session whose tmux session is gone: its services with a restart policy
 * are restarted, which makes its tmux session again. */
static void bring_back(struct watcher *w, const char *slug)
{
	struct strvec args = STRVEC_INIT;

	strvec_push(&args, "restart");
	strvec_push(&args, slug);
	for (size_t k = 0; w->have_cfg && k < w->cfg.n_services; k++) {
		const struct service_config *c = &w->cfg.services[k];

		if (c->run == RUN_NATIVE && c->command && c->restart != RESTART_NO)
			strvec_push(&args, c->name);
	}
	if (args.n == 2)
		emit(w, slug, NULL, "watch-action",
		     "not brought back: none of its services has a restart policy");
	else if (!busy(w, slug)) {
		emit(w, slug, NULL, "watch-action", "bringing its services back");
		action_start(w, ACT_RESTART, slug, (const char *const *)args.v);
	}
	strvec_clear(&args);
}

/* The server died: once, with forensics, unless no session was using it
 * (a `down` of the last one ends it on purpose). Every session it carried
 * that no command owns is brought back: its services with a restart policy
 * are restarted (which makes its tmux session again). */
static void tmux_died(struct watcher *w)
{
	struct strvec hit = STRVEC_INIT;
	struct strbuf why = STRBUF_INIT;
	pid_t pid = w->tmux_id.pid;

	tmux_unwatch(w);
	for (size_t i = 0; i < w->tmux_sessions.n; i++) {
		struct session s = {0};

		if (session_idle_now(w, w->tmux_sessions.v[i], &s) && s.status == SESSION_ACTIVE) {
			strvec_push(&hit, s.slug);
			strvec_push(&w->tmux_hit, s.slug);
		}
		if (s.slug)
			session_finish(&s);
	}
	strvec_clear(&w->tmux_sessions); /* what it carried is told once */
	if (hit.n) {
		forensics_snapshot(&pid, 1, "/dev/kmsg", "/proc/pressure/memory", &why);
		emit(w, NULL, NULL, "tmux-server-died",
		     "the tmux server (pid %d) of this repository died with %zu session%s on "
		     "it; %s",
		     (int)pid, hit.n, hit.n == 1 ? "" : "s", why.buf);
	}
	for (size_t i = 0; i < hit.n; i++)
		bring_back(w, hit.v[i]);
	strvec_clear(&hit);
	strbuf_release(&why);
}

/* Find the repository's tmux server and watch it: 0 when tmux answered
 * (w->tmux_sessions is then what runs), 1 when the server we watch is
 * gone and its death not yet handled, -1 when tmux could not be asked. */
static int watch_tmux(struct watcher *w)
{
	struct strvec names = STRVEC_INIT;
	struct pidref ref;
	pid_t pid = 0;
	uint64_t start = 0;

	if (!w->have_tmux) {
		char *cause = NULL;

		if (!tmux_socket_exists(w->root_id))
			return -1;
		if (tmux_init(&w->tmux, w->root_id, environ, &cause) < 0) {
			free(cause);
			return -1;
		}
		w->have_tmux = true;
	}
	if (tmux_server_sessions(&w->tmux, &pid, &names, NULL) < 0) {
		strvec_clear(&names);
		return -1; /* unknown: keep what we know */
	}
	if (!pid && w->tmux_fd >= 0) {
		/* the server we watch is going: what it carried is for
		 * tmux_died, now or when its pidfd says so */
		strvec_clear(&names);
		if (tmux_gone(w))
			tmux_died(w);
		return 1;
	}
	strvec_clear(&w->tmux_sessions);
	w->tmux_sessions = names;
	if (!pid)
		return 0;
	if (proc_start_time(pid, &start) < 0)
		return 0;
	if (w->tmux_fd >= 0 && w->tmux_id.pid == pid && w->tmux_id.start_time == start)
		return 0;
	if (w->tmux_fd >= 0 && tmux_gone(w))
		tmux_died(w);
	tmux_unwatch(w);
	strvec_clear(&w->tmux_hit); /* a new server: its sessions' ends are theirs again */
	w->tmux_id = (struct proc_ref){pid, start};
	if (pidref_open(&w->tmux_id, &ref) < 0 || ref.fd < 0)
		return 0;
	w->tmux_fd = ref.fd;
	ev_io_init(&w->tmux_io, on_tmux_death, w->tmux_fd, EV_READ);
	w->tmux_io.data = w;
	ev_io_start(w->loop, &w->tmux_io);
	return 0;
}

/* ---- scanning: what runs now ---- */

static void ino_add(struct watcher *w, const char *path)
{
	if (w->ino_fd >= 0)
		inotify_add_watch(w->ino_fd, path,
				  IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR |
					  IN_EXCL_UNLINK);
}

/* Watch every running shim of every session no command is changing, and
 * the tmux server; forget shims of sessions that are gone. */
static void scan(struct watcher *w)
{
	struct session *v = NULL;
	size_t n = 0;

	if (state_sessions_list(w->st, &v, &n) < 0)
		return;
	for (struct wshim *sh = w->shims, *next; sh; sh = next) {
		bool found = false;

		next = sh->next;
		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(v[i].slug, sh->slug);
		if (!found) {
			shim_unlink(w, sh);
			shim_free(w, sh);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct strvec names = STRVEC_INIT;
		char *run = services_run_dir(w->o->berth_dir, v[i].slug);

		ino_add(w, run);
		free(run);
		services_recorded(w->o->berth_dir, v[i].slug, &names);
		for (size_t k = 0; k < names.n; k++)
			watch_shim(w, &v[i], names.v[k]);
		strvec_clear(&names);
	}
	sessions_free(v, n);
	watch_tmux(w);
}

static void on_rescan(struct ev_loop *loop, ev_timer *t, int revents)
{
	scan(t->data);
}

static void on_inotify(struct ev_loop *loop, ev_io *io, int revents)
{
	struct watcher *w = io->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(w->ino_fd, buf, sizeof(buf)) > 0)
		;
	if (!ev_is_active(&w->rescan)) {
		ev_timer_set(&w->rescan, RESCAN_DELAY, 0.);
		ev_timer_start(loop, &w->rescan);
	}
}

/* ---- the reconcile pass ---- */

static bool worktree_gone(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 && errno == ENOENT;
}

/* Ports of s taken by a process that is not the session's: told once each. */
static void check_ports(struct watcher *w, struct probe *p, const struct session *s,
			struct strvec *suspects)
{
	for (size_t i = 0; i < s->n_ports; i++) {
		char *svc = xstrndup(s->ports[i].name, strcspn(s->ports[i].name, "."));
		const struct service_config *cfg = service_cfg(w, svc);
		struct svc_view v;
		struct proc_ref *tree = NULL;
		size_t n_tree = 0;
		char *who = NULL, *key;

		/* a docker service's port is held by docker's proxy */
		if (!cfg || cfg->run != RUN_NATIVE || !cfg->command) {
			free(svc);
			continue;
		}
		if (services_view(w->o->berth_dir, s->slug, svc, &v) == 0 &&
		    v.live == SVC_LIVE_RUNNING)
			services_tree(v.st.shim_pid, &tree, &n_tree);
		if (services_port_owner(p, tree, n_tree, w->root_id, s->slug, svc, s->ports[i].port,
					&who, NULL) == SVC_PORT_FOREIGN) {
			bool hidden = !strcmp(who, SVC_PORT_HIDDEN);

			key = xasprintf("%s %u %s", s->slug, s->ports[i].port, who);
			/* a holder we cannot see may be a socket closing as its
			 * process dies: told when a second pass still finds it */
			if (hidden)
				strvec_push(suspects, key);
			if ((!hidden || strvec_find(&w->suspect, key) >= 0) &&
			    strvec_find(&w->reported, key) < 0) {
				emit(w, s->slug, svc, "port-taken",
				     "port %u (%s) is listened on by %s, not by the session; "
				     "`berth "
				     "whose :%u` tells more",
				     s->ports[i].port, s->ports[i].name, who, s->ports[i].port);
				strvec_push(&w->reported, key);
			}
			free(key);
		}
		free(who);
		free(tree);
		free(svc);
	}
}

/* Idle stop: the watcher only proposes; `berth stop --if-idle` decides
 * again under the session's token. */
static void check_idle(struct watcher *w, const struct session *s)
{
	uint64_t idle = w->cfg.watch.idle_stop_ms;
	int64_t since = time_wall_ms() - (int64_t)idle;
	struct activity a;
	char *arg, *age;

	if (!idle || s->status != SESSION_ACTIVE)
		return;
	activity_find(w->o->berth_dir, s, w->have_tmux ? &w->tmux : NULL, since, &a);
	if (!a.doubt && a.last_ms <= since) {
		age = time_format_age((time_wall_ms() - a.last_ms) / 1000);
		emit(w, s->slug, NULL, "idle",
		     "no activity for %s (last: %s); stopping its services, keeping its worktree "
		     "and slot",
		     age, a.what ? a.what : "none found");
		free(age);
		arg = xasprintf("%" PRIu64 "ms", idle);
		action_start(w, ACT_IDLE_STOP, s->slug,
			     (const char *const[]){"stop", "-q", "--if-idle", arg, s->slug, NULL});
		free(arg);
	}
	activity_finish(&a);
}

static void reconcile(struct watcher *w)
{
	struct session *v = NULL;
	struct strvec suspects = STRVEC_INIT;
	struct probe p;
	bool have_probe, tmux_answered;
	size_t n = 0;

	load_config(w);
	if (w->have_cfg)
		state_events_prune(w->st, w->cfg.watch.events_keep,
				   time_wall_ms() - (int64_t)w->cfg.watch.events_max_age_ms);
	if (state_sessions_list(w->st, &v, &n) < 0) {
		emit(w, NULL, NULL, "watch-error", "cannot read the sessions: %s",
		     state_errmsg(w->st));
		return;
	}
	have_probe = probe_init(&p) == 0;
	tmux_answered = w->have_cfg && w->cfg.runner == RUNNER_TMUX && watch_tmux(w) == 0;
	if (tmux_answered) {
		/* a session back on the server is its own again */
		struct strvec keep = STRVEC_INIT;

		for (size_t i = 0; i < w->tmux_hit.n; i++)
			if (strvec_find(&w->tmux_sessions, w->tmux_hit.v[i]) < 0)
				strvec_push(&keep, w->tmux_hit.v[i]);
		strvec_clear(&w->tmux_hit);
		w->tmux_hit = keep;
	}
	for (size_t i = 0; i < n; i++) {
		struct session *s = &v[i];
		bool owned = s->has_op && session_op_alive(&s->op);

		if (busy(w, s->slug) || owned)
			continue;
		if (s->status == SESSION_PENDING) {
			/* its owner died: ended as `down` would end it */
			if (s->has_op)
				emit(w, s->slug, NULL, "crashed-op",
				     "`%s` (pid %d) died%s%s; ending the session as `berth down` "
				     "would",
				     s->op.kind, (int)s->op.pid, s->op.step ? " in step " : "",
				     s->op.step ? s->op.step : "");
			else
				emit(w, s->slug, NULL, "crashed-op",
				     "left pending by a command that died; ending the session as "
				     "`berth down` would");
			action_start(w, ACT_DOWN, s->slug,
				     (const char *const[]){"down", "-q", s->slug, NULL});
			continue;
		}
		if (worktree_gone(s->worktree)) {
			emit(w, s->slug, NULL, "worktree-gone",
			     "its worktree %s was deleted; ending the session", s->worktree);
			action_start(w, ACT_DOWN, s->slug,
				     (const char *const[]){"down", "-q", s->slug, NULL});
			continue;
		}
		if (s->status != SESSION_ACTIVE)
			continue;
		/* under tmux: its tmux session ended while nobody watched (a
		 * server that died before it was found, a kill-session) */
		if (tmux_answered && w->cfg.runner == RUNNER_TMUX &&
		    strvec_find(&w->tmux_sessions, s->slug) < 0 &&
		    strvec_find(&w->tmux_hit, s->slug) < 0) {
			emit(w, s->slug, NULL, "tmux-session-gone",
			     "its tmux session ended (the tmux server died or the session was "
			     "killed)");
			strvec_push(&w->tmux_hit, s->slug);
			bring_back(w, s->slug);
			continue;
		}
		check_lost(w, s);
		if (busy(w, s->slug))
			continue;
		if (have_probe)
			check_ports(w, &p, s, &suspects);
		check_idle(w, s);
	}
	strvec_clear(&w->suspect);
	w->suspect = suspects;
	if (have_probe)
		probe_finish(&p);
	sessions_free(v, n);
	scan(w);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	reconcile(t->data);
}

static void on_stop(struct ev_loop *loop, ev_io *io, int revents)
{
	struct watcher *w = io->data;
	struct signalfd_siginfo si;

	/* who stopped us goes into watch-stop */
	if (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		w->stop_signo = (int)si.ssi_signo;
		w->stop_sender = (pid_t)si.ssi_pid;
	}
	w->stopping = true;
	ev_break(loop, EVBREAK_ALL);
}

/* ---- running ---- */

int watcher_run(const struct watch_opts *o, struct state *st, char **cause)
{
	struct watcher w = {.o = o, .st = st, .tmux_fd = -1, .ino_fd = -1};
	char *run = path_join(o->berth_dir, "run");
	int r;

	w.loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!w.loop) {
		*cause = xstrdup("cannot create an event loop");
		free(run);
		return -ENOMEM;
	}
	r = reaper_create(w.loop, &w.reaper);
	if (r < 0) {
		*cause = xasprintf("cannot watch child processes: %s", strerror(-r));
		ev_loop_destroy(w.loop);
		free(run);
		return r;
	}
	w.root_id = hash_root_id(o->root);
	ev_timer_init(&w.tick, on_tick, 30., 30.);
	w.tick.data = &w;
	ev_timer_init(&w.rescan, on_rescan, RESCAN_DELAY, 0.);
	w.rescan.data = &w;
	load_config(&w);
	if (!o->once) {
		mkdir_p(run, 0755);
		w.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (w.ino_fd >= 0) {
			ino_add(&w, run);
			ev_io_init(&w.ino_io, on_inotify, w.ino_fd, EV_READ);
			w.ino_io.data = &w;
			ev_io_start(w.loop, &w.ino_io);
		}
		if (o->stop_fd >= 0) {
			ev_io_init(&w.stop_io, on_stop, o->stop_fd, EV_READ);
			w.stop_io.data = &w;
			ev_io_start(w.loop, &w.stop_io);
		}
		/* "watch-start" once every shim and the tmux server are watched */
		scan(&w);
		emit(&w, NULL, NULL, "watch-start", "pid %d, reconciling every %.3g s",
		     (int)getpid(), (double)w.tick.repeat);
		reconcile(&w);
		ev_timer_set(&w.tick, w.tick.repeat, w.tick.repeat);
		ev_timer_start(w.loop, &w.tick);
		ev_run(w.loop, 0);
		if (w.stop_signo)
			emit(&w, NULL, NULL, "watch-stop", "pid %d; SIG%s from pid %d",
			     (int)getpid(),
			     sigabbrev_np(w.stop_signo) ? sigabbrev_np(w.stop_signo) : "?",
			     (int)w.stop_sender);
		else
			emit(&w, NULL, NULL, "watch-stop", "pid %d", (int)getpid());
	} else {
		reconcile(&w);
		/* the shims scan() watched are not waited for: only the actions */
		for (struct wshim *sh = w.shims; sh; sh = sh->next)
			ev_io_stop(w.loop, &sh->io);
		if (w.tmux_fd >= 0)
			ev_io_stop(w.loop, &w.tmux_io);
		while (w.actions)
			ev_run(w.loop, EVRUN_ONCE);
	}
	while (w.shims) {
		struct wshim *sh = w.shims;

		w.shims = sh->next;
		shim_free(&w, sh);
	}
	/* actions still running finish on their own (each is a whole berth
	 * command); their outcome is in the event log */
	while (w.actions) {
		struct waction *a = w.actions;

		w.actions = a->next;
		action_free(a);
	}
	tmux_unwatch(&w);
	if (w.have_tmux)
		tmux_finish(&w.tmux);
	if (w.ino_fd >= 0) {
		ev_io_stop(w.loop, &w.ino_io);
		close(w.ino_fd);
	}
	if (o->stop_fd >= 0 && !o->once)
		ev_io_stop(w.loop, &w.stop_io);
	ev_timer_stop(w.loop, &w.tick);
	ev_timer_stop(w.loop, &w.rescan);
	reaper_destroy(w.reaper);
	ev_loop_destroy(w.loop);
	if (w.have_cfg)
		config_finish(&w.cfg);
	free(w.cfg_error);
	free(w.root_id);
	strvec_clear(&w.tmux_sessions);
	strvec_clear(&w.tmux_hit);
	strvec_clear(&w.reported);
	strvec_clear(&w.suspect);
	strvec_clear(&w.told);
	free(run);
	return o->once && w.failed ? 1 : 0;
}
