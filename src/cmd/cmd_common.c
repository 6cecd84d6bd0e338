/*
 * cmd_common.c: helpers shared by commands.
 */
#include "util/common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "config/envfile.h"
#include "supervise/hooks.h"
#include "probe/marker.h"
#include "cmd/output.h"
#include "watch/activity.h"
#include "watch/lock.h"
#include "store/session.h"
#include "probe/proc.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/signals.h"
#include "util/timeutil.h"

void cmd_split_list(const char *s, struct strvec *out)
{
	char *copy = xstrdup(s);

	for (char *p = copy; *p; p++)
		if (*p == ',')
			*p = ' ';
	strvec_split_ws(out, copy);
	free(copy);
}

bool cmd_confirm(const char *question, const char *want)
{
	char answer[16];

	if (!isatty(STDIN_FILENO))
		return false;
	if (want)
		fprintf(stderr, "%s Type '%s' to go on: ", question, want);
	else
		fprintf(stderr, "%s [y/N] ", question);
	if (!fgets(answer, sizeof(answer), stdin))
		return false;
	if (!want)
		return answer[0] == 'y' || answer[0] == 'Y';
	answer[strcspn(answer, "\r\n")] = '\0';
	return !strcmp(answer, want);
}

int cmd_check_config(struct cmd_ctx *ctx, bool warnings)
{
	struct config_issues is = {0};
	int errors = config_validate(&ctx->config, &is);

	for (size_t i = 0; i < is.n; i++) {
		char *where = is.v[i].line ? xasprintf("%s:%u", CONFIG_FILE, is.v[i].line)
					   : xstrdup(CONFIG_FILE);

		if (is.v[i].error)
			out_error("%s: %s", where, is.v[i].msg);
		else if (warnings)
			out_warn("%s: %s", where, is.v[i].msg);
		free(where);
	}
	config_issues_finish(&is);
	if (errors) {
		out_error("%s has %d error%s; `berth validate` checks it", CONFIG_FILE, errors,
			  errors == 1 ? "" : "s");
		return EXIT_CONFIG;
	}
	return 0;
}

void cmd_signals_block(sigset_t *old)
{
	sigset_t mask;

	signals_interrupt_set(&mask);
	sigprocmask(SIG_BLOCK, &mask, old);
}

void cmd_signals_restore(const sigset_t *old)
{
	const struct timespec zero = {0, 0};
	sigset_t mask;

	signals_interrupt_set(&mask);
	while (sigtimedwait(&mask, NULL, &zero) > 0)
		;
	sigprocmask(SIG_SETMASK, old, NULL);
}

int cmd_interrupted(void)
{
	sigset_t pending;

	sigpending(&pending);
	if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
	    sigismember(&pending, SIGHUP))
		return -EINTR;
	return 0;
}

json_t *cmd_session_json(struct cmd_ctx *ctx, const struct session *s)
{
	json_t *doc = json_object(), *env = json_object(), *ports = json_object();
	json_t *services = json_array();
	struct envmap m = {0};
	char *envfile = path_join(s->worktree, ENVFILE_NAME);

	cmd_session_env(ctx, s, &m);
	for (size_t i = 0; i < m.n; i++)
		json_object_set_new(env, m.v[i].key, json_string(m.v[i].value));
	for (size_t i = 0; i < s->n_ports; i++)
		json_object_set_new(ports, s->ports[i].name, json_integer(s->ports[i].port));
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *svc = &ctx->config.services[i];
		json_t *o = json_object();
		json_t *port = json_null();

		for (size_t j = 0; j < s->n_ports; j++)
			if (!strcmp(s->ports[j].name, svc->name))
				port = json_integer(s->ports[j].port);
		json_object_set_new(o, "name", json_string(svc->name));
		json_object_set_new(o, "run",
				    json_string(svc->run == RUN_DOCKER ? "docker" : "native"));
		json_object_set_new(o, "port", port);
		json_array_append_new(services, o);
	}
	json_object_set_new(doc, "slug", json_string(s->slug));
	json_object_set_new(doc, "slot", json_integer(s->slot));
	json_object_set_new(doc, "mode", json_string(s->mode));
	json_object_set_new(doc, "branch", json_string(s->branch));
	json_object_set_new(doc, "status", json_string(session_display_status(s)));
	json_object_set_new(doc, "worktree_path", json_string(s->worktree));
	json_object_set_new(doc, "env_file", json_string(envfile));
	json_object_set_new(doc, "env", env);
	json_object_set_new(doc, "ports", ports);
	json_object_set_new(doc, "services", services);
	envmap_finish(&m);
	free(envfile);
	return doc;
}

char *cmd_ports_text(const struct session *s)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < s->n_ports; i++)
		strbuf_addf(&sb, "%s%s=%u", i ? " " : "", s->ports[i].name, s->ports[i].port);
	if (!sb.len)
		strbuf_adds(&sb, "-");
	return strbuf_detach(&sb);
}

void cmd_print_session_summary(const struct session *s)
{
	char *ports = cmd_ports_text(s);

	out_line(stdout, "  worktree: %s\n", s->worktree);
	out_line(stdout, "  branch:   %s\n", s->branch);
	out_line(stdout, "  mode:     %s\n", s->mode);
	out_line(stdout, "  ports:    %s\n", ports);
	out_line(stdout, "  env file: %s/%s\n", s->worktree, ENVFILE_NAME);
	out_line(stdout, "  next:     cd %s   (or: berth shell %s)\n", s->worktree, s->slug);
	free(ports);
}

const struct session *cmd_session_at(const char *dir, const struct session *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (path_is_inside(dir, v[i].worktree))
			return &v[i];
	return NULL;
}

int cmd_get_session(struct cmd_ctx *ctx, const char *slug, struct session *ret)
{
	int r = state_session_get(ctx->state, slug, ret);

	if (r == -ENOENT) {
		out_error("no session '%s'; `berth ls` lists the sessions", slug);
		return EXIT_NOTFOUND;
	}
	if (r < 0) {
		out_error("cannot read session '%s': %s", slug, state_errmsg(ctx->state));
		return EXIT_FAIL;
	}
	return 0;
}

extern char **environ;

int cmd_session_environ(struct cmd_ctx *ctx, const struct session *s, struct strvec *ret)
{
	struct envmap m = {0}, berth = {0};
	int code = 0;

	for (char **e = environ; *e; e++)
		envmap_set_kv(&m, *e);
	for (size_t i = 0; i < ctx->config.inherit_env.n; i++) {
		char *path = path_join(s->worktree, ctx->config.inherit_env.v[i]);
		char *text = NULL, *cause = NULL;

		if (read_file(path, 1 << 20, &text, NULL) == 0 &&
		    envfile_parse(text, &m, &cause) < 0) {
			out_error("cannot read '%s': %s", path, cause);
			free(cause);
			code = EXIT_CONFIG;
		}
		free(text);
		free(path);
		if (code)
			goto out;
	}
	cmd_session_env(ctx, s, &berth);
	for (size_t i = 0; i < berth.n; i++)
		envmap_set(&m, berth.v[i].key, berth.v[i].value);
	for (size_t i = 0; i < m.n; i++)
		strvec_pushf(ret, "%s=%s", m.v[i].key, m.v[i].value);
out:
	envmap_finish(&m);
	envmap_finish(&berth);
	return code;
}

int cmd_session_for_run(struct cmd_ctx *ctx, const char *arg, struct session *ret)
{
	char *slug = NULL;
	int code;

	code = cmd_resolve_slug(ctx, arg, &slug);
	if (code)
		return code;
	code = cmd_get_session(ctx, slug, ret);
	free(slug);
	if (code)
		return code;
	if (!path_is_dir(ret->worktree)) {
		out_error("the worktree '%s' of session '%s' is missing; `berth down %s` clears "
			  "the session",
			  ret->worktree, ret->slug, ret->slug);
		session_finish(ret);
		return EXIT_NOTFOUND;
	}
	activity_touch(ctx->berth_dir, ret->slug);
	return 0;
}

int cmd_exec_in_session(struct cmd_ctx *ctx, const struct session *s, char *const *cmd)
{
	struct strvec envp = STRVEC_INIT;
	int code, err;

	code = cmd_session_environ(ctx, s, &envp);
	if (code)
		return code;
	if (chdir(s->worktree) < 0) {
		out_error("cannot enter '%s': %s", s->worktree, strerror(errno));
		strvec_clear(&envp);
		return EXIT_FAIL;
	}
	state_close(ctx->state);
	ctx->state = NULL;
	fflush(NULL);
	/* The command gets default dispositions and an empty mask, not ours
	 * (berth ignores SIGPIPE: a pipeline in `berth shell` must not), nor
	 * whatever our own parent ignored. */
	signals_reset_for_exec();
	execvpe(cmd[0], cmd, strvec_argv(&envp));
	err = errno;
	out_error("cannot run '%s': %s", cmd[0], strerror(err));
	strvec_clear(&envp);
	return err == ENOENT ? 127 : 126;
}

char *cmd_companion_path(const char *name, const char *env_name)
{
	const char *env = getenv(env_name);
	char *self, *slash, *path;

	if (env && *env)
		return xstrdup(env);
	self = realpath("/proc/self/exe", NULL);
	if (!self)
		return xstrdup(name);
	slash = strrchr(self, '/');
	*slash = '\0';
	path = path_join(self, name);
	free(self);
	return path;
}

int cmd_svc_init(struct cmd_ctx *ctx, const struct session *s, bool need_shim, struct svc_env *c)
{
	int code;

	memset(c, 0, sizeof(*c));
	c->config = &ctx->config;
	c->session = s;
	c->berth_dir = ctx->berth_dir;
	c->stop_grace_ms = ctx->config.stop_grace_ms;
	c->shim_path = cmd_companion_path("berth-shim", "BERTH_SHIM");
	if (need_shim && access(c->shim_path, X_OK) < 0) {
		out_error("cannot run the service supervisor '%s': %s; berth-shim is installed "
			  "beside berth (reinstall berth, or point $BERTH_SHIM at it)",
			  c->shim_path, strerror(errno));
		svc_env_finish(c);
		return EXIT_FAIL;
	}
	code = cmd_session_environ(ctx, s, &c->env);
	if (code) {
		svc_env_finish(c);
		return code;
	}
	c->envp = strvec_argv(&c->env);
	c->root_id = hash_root_id(ctx->root);
	/* A stop (need_shim false) also ends the tmux session of a session
	 * started while the config said runner = tmux. */
	if (ctx->config.runner == RUNNER_TMUX || (!need_shim && tmux_socket_exists(c->root_id))) {
		char *cause = NULL;

		if (tmux_init(&c->tmux_server, c->root_id, environ, &cause) < 0) {
			if (need_shim) {
				out_error("%s", cause);
				free(cause);
				svc_env_finish(c);
				return EXIT_FAIL;
			}
			out_warn("%s; going on without tmux", cause);
			free(cause);
		}
	}
	c->tmux = c->tmux_server.socket ? &c->tmux_server : NULL;
	/* Containment: where the session's services run (or why nothing
	 * contains them but their shims). Starting records it. */
	services_cgroup(ctx->berth_dir, c->root_id, s->slug, need_shim, &c->cgroup,
			&c->uncontained);
	return 0;
}

int cmd_signalfd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* What a launch waits for, named for the spinner: "web (port 41401)". */
struct launch_wait {
	const struct svc_env *svc;
	struct awaited {
		char *name, *what;
	} * v;
	size_t n;
};

static void launch_wait_text(struct launch_wait *w)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < w->n; i++)
		strbuf_addf(&sb, "%s%s (%s)", i ? ", " : "", w->v[i].name, w->v[i].what);
	if (w->n)
		out_progress_update("waiting for %s", strbuf_str(&sb));
	strbuf_release(&sb);
}

static char *ready_what(const struct svc_env *svc, const struct service_config *c)
{
	const char *r = c->ready ? c->ready : "none";

	if (c->oneshot)
		return xstrdup("to finish");
	if (!strcmp(r, "port")) {
		for (size_t i = 0; svc->session && i < svc->session->n_ports; i++)
			if (!strcmp(svc->session->ports[i].name, c->name))
				return xasprintf("port %u", svc->session->ports[i].port);
		return xstrdup("its port");
	}
	if (!strncmp(r, "http:", 5))
		return xasprintf("http %s", r + 5);
	if (!strncmp(r, "log:", 4))
		return xasprintf("log /%s/", r + 4);
	if (!strncmp(r, "exec:", 5))
		return xasprintf("`%s`", r + 5);
	return xstrdup("its start");
}

static void launch_wait_remove(struct launch_wait *w, const char *service)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->v[i].name, service)) {
			free(w->v[i].name);
			free(w->v[i].what);
			memmove(&w->v[i], &w->v[i + 1], (w->n - i - 1) * sizeof(*w->v));
			w->n--;
			return;
		}
}

/* Progress of a launch: "web: ready (0.21 s)", and on a terminal the
 * spinner's list of what is still awaited. */
static void cmd_launch_progress(void *data, const char *service, enum launch_event ev, uint64_t ms)
{
	struct launch_wait *w = data;

	if (ev == LAUNCH_STARTED) {
		out_step("%s: started", service);
		for (size_t i = 0; w && i < w->svc->config->n_services; i++)
			if (!strcmp(w->svc->config->services[i].name, service)) {
				w->v = xreallocarray(w->v, w->n + 1, sizeof(*w->v));
				w->v[w->n].name = xstrdup(service);
				w->v[w->n++].what =
					ready_what(w->svc, &w->svc->config->services[i]);
			}
	} else {
		out_step("%s: ready (%.2f s)", service, (double)ms / 1000.0);
		if (w)
			launch_wait_remove(w, service);
	}
	if (w)
		launch_wait_text(w);
}

int cmd_launch(struct svc_env *svc, const size_t *pick, size_t k, int sigfd, struct strvec *started,
	       const char *cmd, char **ret_service)
{
	struct launch_failure f = {0};
	struct launch_wait w = {.svc = svc};
	bool spin = out_spinner_on();
	enum launch_result res;
	int r = 0;

	/* on a terminal: a spinner naming what is still awaited */
	out_progress_begin("starting %zu service%s", k, k == 1 ? "" : "s");
	res = launch_services(svc, pick, k, sigfd, cmd_launch_progress, spin ? &w : NULL, started,
			      &f);
	out_progress_end();
	while (w.n)
		launch_wait_remove(&w, w.v[0].name);
	free(w.v);
	switch (res) {
	case LAUNCH_OK:
		break;
	case LAUNCH_INTERRUPTED:
		r = -EINTR;
		break;
	case LAUNCH_DIED:
	case LAUNCH_NOT_STARTED:
	case LAUNCH_TIMEOUT:
		cmd_print_launch_failure(cmd, &f);
		if (ret_service)
			*ret_service = xstrdup(f.service);
		r = -EIO;
		break;
	case LAUNCH_ERROR:
		out_error("%s: cannot start the services: %s", cmd, strerror(f.err));
		r = -f.err;
		break;
	}
	launch_failure_finish(&f);
	return r;
}

void cmd_print_launch_failure(const char *cmd, const struct launch_failure *f)
{
	out_error("%s: service '%s' %s", cmd, f->service, f->what);
	if (f->tail) {
		size_t len = strlen(f->tail);

		fprintf(stderr, "--- last %u lines of %s ---\n", f->tail_lines, f->log_path);
		/* byte-exact: the service's own bytes */
		fwrite(f->tail, 1, len, stderr);
		if (len && f->tail[len - 1] != '\n')
			fputs("\n--- (no newline at the end) ---\n", stderr);
		else
			fputs("---\n", stderr);
	} else if (f->log_path && path_exists(f->log_path)) {
		fprintf(stderr, "(no output of this attempt in its log %s)\n", f->log_path);
	}
}

int cmd_stop_services(struct svc_env *c, const struct strvec *names, int sigfd, const char *cmd)
{
	struct stop_report rep;
	uint64_t t0 = time_mono_ms();
	int r;

	out_progress_begin("stopping the services of '%s'", c->session->slug);
	r = services_stop(c, names, sigfd, &rep);
	out_progress_end();
	if (r < 0) {
		out_error("%s: cannot stop the services of '%s': %s", cmd, c->session->slug,
			  strerror(-r));
		return r;
	}
	if (rep.shims)
		out_step("stopped %u service%s%s in %.2f s%s", rep.shims, rep.shims == 1 ? "" : "s",
			 rep.swept ? " and stray processes" : "",
			 (double)(time_mono_ms() - t0) / 1000.0,
			 rep.interrupted ? " (interrupted: killed)" : "");
	else if (rep.swept)
		out_step("stopped %u process%s that no supervisor held in %.2f s%s", rep.swept,
			 rep.swept == 1 ? "" : "es", (double)(time_mono_ms() - t0) / 1000.0,
			 rep.interrupted ? " (interrupted: killed)" : "");
	if (rep.tmux_error)
		out_warn("%s", rep.tmux_error);
	if (rep.shims_killed)
		out_warn("a supervisor did not end in time and was killed");
	if (rep.n_survivors) {
		out_error("%s: %zu process%s of session '%s' still run%s:", cmd, rep.n_survivors,
			  rep.n_survivors == 1 ? "" : "es", c->session->slug,
			  rep.n_survivors == 1 ? "s" : "");
		for (size_t i = 0; i < rep.n_survivors && i < 20; i++) {
			char *line = NULL;

			proc_cmdline(rep.survivors[i].pid, &line);
			out_line(stderr, "  pid %d: %s\n", (int)rep.survivors[i].pid,
				 line ? line : "?");
			free(line);
		}
		r = -EBUSY;
	} else if (rep.lost.n && !rep.contained) {
		/* Without a cgroup, a process that left its group and cleared
		 * berth's markers was findable only through its (lost) shim. */
		for (size_t i = 0; i < rep.lost.n; i++)
			out_error("%s: the supervisor of service '%s' was killed; what it ran was "
				  "stopped, but a process it started that left its process group "
				  "and cleared berth's markers cannot be found without cgroup "
				  "containment (%s); check with `ps`",
				  cmd, rep.lost.v[i],
				  c->uncontained ? c->uncontained : "no cgroup");
		c->unvouched = true;
	}
	stop_report_finish(&rep);
	return r;
}

static const char *hook_command(const struct hooks_config *h, const char *which)
{
	if (!strcmp(which, "pre_up"))
		return h->pre_up;
	if (!strcmp(which, "post_create"))
		return h->post_create;
	if (!strcmp(which, "pre_spawn"))
		return h->pre_spawn;
	if (!strcmp(which, "post_up"))
		return h->post_up;
	if (!strcmp(which, "pre_down"))
		return h->pre_down;
	if (!strcmp(which, "post_down"))
		return h->post_down;
	return NULL;
}

/* A quiet hook's output: its end kept for the failure report. */
#define HOOK_KEEP_BYTES 4096
#define HOOK_TAIL_LINES 20
static void hook_keep(const char *buf, size_t len, void *data)
{
	struct strbuf *kept = data;

	strbuf_add(kept, buf, len);
	if (kept->len > 2 * HOOK_KEEP_BYTES)
		strbuf_drop_front(kept, kept->len - HOOK_KEEP_BYTES);
}

static void hook_relay(const char *buf, size_t len, void *data)
{
	(void)data;
	out_relay(buf, len);
}

/* The last lines of a quiet hook's output, after its failure. */
static void hook_print_kept(const char *which, struct strbuf *kept)
{
	size_t start;

	if (!kept->len)
		return;
	start = str_tail_lines(kept->buf, kept->len, HOOK_TAIL_LINES);
	out_line(stderr, "--- last lines of hook %s ---\n", which);
	out_stderr(kept->buf + start, kept->len - start);
	if (kept->buf[kept->len - 1] != '\n')
		out_stderr("\n", 1);
}

int cmd_run_hook(struct cmd_ctx *ctx, const char *cmd, const char *which, const char *slug,
		 const char *cwd, char *const *envp, int sigfd)
{
	struct strbuf kept = STRBUF_INIT;
	struct hook_output out = {0};
	const char *command = hook_command(&ctx->config.hooks, which);
	struct strvec env = STRVEC_INIT;
	struct envmap m = {0};
	struct hook_result res;
	char *root_id, text[320], *hook_cg = NULL;
	int r;

	if (!command || !*command)
		return 0;
	/* This session's markers and the hook's, and no service's (the caller
	 * may itself be a service of another session). */
	root_id = hash_root_id(ctx->root);
	for (char *const *p = envp; *p; p++)
		if (strncmp(*p, MARKER_SERVICE "=", strlen(MARKER_SERVICE) + 1))
			envmap_set_kv(&m, *p);
	envmap_set(&m, MARKER_ROOT_ID, root_id);
	envmap_set(&m, MARKER_SESSION, slug);
	envmap_set(&m, MARKER_HOOK, which);
	for (size_t i = 0; i < m.n; i++)
		strvec_pushf(&env, "%s=%s", m.v[i].key, m.v[i].value);
	envmap_finish(&m);
	/* post_down runs after the session's cgroup is gone: none for it */
	if (strcmp(which, "post_down"))
		hook_cg = services_hook_cgroup(ctx->berth_dir, root_id, slug);
	/* With -q its output is kept and shown only if the hook fails (--json
	 * alone keeps it on stderr: it is the user's); on a terminal it comes
	 * through us, under the spinner; else the hook writes it to our stderr
	 * itself. */
	if (ctx->args && ctx->args->quiet)
		out = (struct hook_output){hook_keep, &kept};
	else if (out_spinner_on())
		out = (struct hook_output){hook_relay, NULL};
	out_step("hook %s: %s", which, command);
	out_progress_begin("hook %s", which);
	r = hooks_run(command, cwd, strvec_argv(&env), hook_cg, ctx->config.hooks.timeout_ms, sigfd,
		      &out, &res);
	out_progress_end();
	hooks_result_text(&res, text, sizeof(text));
	if (r < 0 && r != -EINTR) {
		out_error("%s: hook %s failed: %s (%s)", cmd, which, text, command);
		hook_print_kept(which, &kept);
	}
	strbuf_release(&kept);
	session_event(ctx->state, slug, r == 0 ? "hook" : "hook-failed", "%s %s in %.2f s", which,
		      r == 0 ? "succeeded" : text, (double)res.ms / 1000.0);
	free(res.error);
	free(root_id);
	free(hook_cg);
	strvec_clear(&env);
	return r;
}

void cmd_ingest_journal(struct cmd_ctx *ctx, const char *slug)
{
	struct event_rec *v = NULL;
	size_t n = 0, alloc = 0;
	uint64_t off = 0;

	if (services_journal_read(ctx->berth_dir, slug, &off, &v, &n, &alloc) < 0 || !n)
		goto out;
	if (state_begin(ctx->state) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		state_event_add_at(ctx->state, v[i].ts_ms, v[i].slug, v[i].service, v[i].kind,
				   v[i].detail);
	if (state_commit(ctx->state) < 0)
		state_rollback(ctx->state);
out:
	events_free(v, n);
}

json_t *cmd_outcome_json(const char *slug, const char *status, const char *key,
			 const struct strvec *native, const struct strvec *docker)
{
	json_t *names = json_array();

	for (size_t i = 0; i < native->n; i++)
		json_array_append_new(names, json_string(native->v[i]));
	for (size_t i = 0; i < docker->n; i++)
		json_array_append_new(names, json_string(docker->v[i]));
	return json_pack("{s:s, s:s, s:o}", "slug", slug, "status", status, key, names);
}

int cmd_session_then_services(struct cmd_ctx *ctx, int argc, char **argv, int optind_,
			      struct session *ret, int *ret_first)
{
	const char *slug_arg = NULL;
	char *slug = NULL;
	int first = optind_, code;

	if (first < argc && !config_service(&ctx->config, argv[first]))
		slug_arg = argv[first++];
	code = cmd_resolve_slug(ctx, slug_arg, &slug);
	if (!code)
		code = cmd_get_session(ctx, slug, ret);
	free(slug);
	if (!code)
		*ret_first = first;
	return code;
}

int cmd_named_services(struct cmd_ctx *ctx, const char *cmd, char **argv, int first, int argc,
		       struct strvec *names, struct strvec *docker)
{
	for (int i = first; i < argc; i++) {
		const struct service_config *cfg = config_service(&ctx->config, argv[i]);

		if (docker && cfg && cfg->run == RUN_DOCKER) {
			if (strvec_find(docker, argv[i]) < 0)
				strvec_push(docker, argv[i]);
			continue;
		}
		if (!cfg || cfg->run != RUN_NATIVE || !cfg->command) {
			out_error("%s: no native service '%s' in %s%s", cmd, argv[i], CONFIG_FILE,
				  docker ? " (nor a docker one)" : "");
			return EXIT_NOTFOUND;
		}
		if (names)
			strvec_push(names, argv[i]);
	}
	return 0;
}

void cmd_service_names(struct cmd_ctx *ctx, const char *slug, struct strvec *ret)
{
	struct strvec rec = STRVEC_INIT;

	for (size_t i = 0; i < ctx->config.n_services; i++)
		if (ctx->config.services[i].run == RUN_NATIVE && ctx->config.services[i].command)
			strvec_push(ret, ctx->config.services[i].name);
	services_recorded(ctx->berth_dir, slug, &rec);
	for (size_t i = 0; i < rec.n; i++)
		if (strvec_find(ret, rec.v[i]) < 0)
			strvec_push(ret, rec.v[i]);
	strvec_clear(&rec);
}

void cmd_recover_worktree(struct cmd_ctx *ctx, const struct session *s, const char *new_at,
			  const char *cmd)
{
	char *cause = NULL;
	unsigned what = 0;

	if (worktree_recover(ctx->root, s->worktree, s->branch, new_at, &what, &cause) < 0) {
		out_warn("%s: %s", cmd, cause);
		free(cause);
		return;
	}
	if (what & WT_RECOVER_SWEPT)
		out_step("finished what a killed command left of a worktree beside %s",
			 s->worktree);
	if (what & WT_RECOVER_REPAIRED)
		out_step("repaired the damaged .git file of %s", s->worktree);
	if (what & WT_RECOVER_UNLOCKED)
		out_step("removed the lock file a killed command left on branch %s", s->branch);
	/* the temporary files of a killed writer of berth's own files */
	if (path_is_dir(s->worktree)) {
		char *p = path_join(s->worktree, ENVFILE_NAME);

		rm_atomic_leftovers(p);
		free(p);
		for (size_t i = 0; i < ctx->config.inherit_env.n; i++) {
			p = path_join(s->worktree, ctx->config.inherit_env.v[i]);
			rm_atomic_leftovers(p);
			free(p);
		}
	}
}

json_t *cmd_watcher_json(struct cmd_ctx *ctx)
{
	struct proc_ref id;
	bool on = watch_running(ctx->berth_dir, &id);

	return json_pack("{s:b, s:o}", "running", on, "pid",
			 on && id.pid ? json_integer(id.pid) : json_null());
}

void cmd_print_watcher(struct cmd_ctx *ctx, FILE *f)
{
	struct proc_ref id;

	if (watch_running(ctx->berth_dir, &id))
		out_line(f, "watcher: running (pid %d)\n", (int)id.pid);
	else
		out_line(f, "watcher: not running; `berth watch --daemon` restarts a service whose "
			    "supervisor is killed and reconciles sessions between commands\n");
}
