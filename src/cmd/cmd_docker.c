/*
 * cmd_docker.c: a session's compose project (SPEC §8): for `up`, the
 * session's compose file written from the worktree's, the project started
 * and waited for; for `down`, removed by its exact label; for `stop`,
 * `restart` (and `start`), named docker services stopped and started again
 * in it, with the same wait as `up`; the docker rows of `status`.
 */
#include "util/common.h"

#include <jansson.h>

#include "cmd/cmd_common.h"
#include "docker/compose.h"
#include "docker/docker.h"
#include "docker/portcheck.h"
#include "cmd/output.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define DOCKER_READY_DEFAULT_MS 60000

int cmd_docker_init(const struct cmd_ctx *ctx, struct docker *d, char *const *envp, char **cause)
{
	/* .berth/ is made by the commands that keep state, not here */
	char *cache = path_is_dir(ctx->berth_dir)
			      ? path_join(ctx->berth_dir, "cache/compose-flavour")
			      : NULL;
	int r = docker_init(d, envp, cache, cause);

	free(cache);
	return r;
}

char *cmd_docker_project(const struct cmd_ctx *ctx, const char *slug)
{
	return xasprintf("%s_%s", ctx->config.prefix, slug);
}

static char *session_compose_dir(const struct cmd_ctx *ctx, const char *slug)
{
	return xasprintf("%s/compose/%s", ctx->berth_dir, slug);
}

/* The compose file of the session's worktree (the branch under test). */
static char *worktree_compose(const struct cmd_ctx *ctx, const struct session *s)
{
	const char *f = ctx->config.compose_file;

	return f[0] == '/' ? xstrdup(f) : path_join(s->worktree, f);
}

static void print_failure(const char *cmd, const struct compose_failure *f)
{
	if (f->service)
		out_error("%s: docker service '%s' %s", cmd, f->service, f->what);
	else
		out_error("%s: docker services not ready: %s", cmd,
			  f->what ? f->what : "no answer");
	if (f->tail) {
		size_t len = strlen(f->tail);

		fprintf(stderr, "--- last 20 lines of its container ---\n");
		fwrite(f->tail, 1, len, stderr);
		fputs(len && f->tail[len - 1] != '\n' ? "\n---\n" : "---\n", stderr);
	}
}

/* The session's host ports of its docker services for compose_rewrite:
 * each one's port for its container port base_port, and each extra port's
 * for the extra's base. ports has room for every service and extra port. */
static size_t session_ports(const struct cmd_ctx *ctx, const struct session *s,
			    struct compose_port *ports)
{
	size_t n = 0;

	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];
		unsigned host = services_port(s, c->name);

		if (c->run != RUN_DOCKER)
			continue;
		if (c->base_port && host)
			ports[n++] = (struct compose_port){c->name, c->base_port, (uint16_t)host};
		for (size_t j = 0; j < c->n_extra; j++) {
			char *rec = xasprintf("%s.%s", c->name, c->extra[j].name);

			host = services_port(s, rec);
			free(rec);
			if (host)
				ports[n++] = (struct compose_port){c->name, c->extra[j].base,
								   (uint16_t)host};
		}
	}
	return n;
}

static size_t count_ports(const struct cmd_ctx *ctx)
{
	size_t n = 0;

	for (size_t i = 0; i < ctx->config.n_services; i++)
		n += 1 + ctx->config.services[i].n_extra;
	return n;
}

/* What `up` waits for: the docker services named (NULL: every docker
 * service of the config), each with its session port (the main one; extra
 * ports are not waited for), within the longest of their ready_timeout;
 * followed from before compose's `up` (docker_wait_create). */
struct ready_wait {
	struct compose_wait *v;
	size_t n;
	uint64_t timeout_ms;
	struct docker_wait *w;
};

static void ready_wait_begin(struct cmd_ctx *ctx, const struct session *s, const struct docker *d,
			     const char *project, const struct strvec *names, struct ready_wait *rw)
{
	memset(rw, 0, sizeof(*rw));
	rw->v = xcalloc(ctx->config.n_services + 1, sizeof(*rw->v));
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];

		if (c->run != RUN_DOCKER || (names && strvec_find(names, c->name) < 0))
			continue;
		rw->v[rw->n++] =
			(struct compose_wait){c->name, (uint16_t)services_port(s, c->name)};
		if (c->ready_timeout_ms > rw->timeout_ms)
			rw->timeout_ms = c->ready_timeout_ms;
	}
	if (!rw->timeout_ms)
		rw->timeout_ms = DOCKER_READY_DEFAULT_MS;
	docker_wait_create(d, project, rw->v, rw->n, &rw->w);
}

static void ready_wait_end(struct ready_wait *rw)
{
	docker_wait_destroy(rw->w);
	free(rw->v);
	memset(rw, 0, sizeof(*rw));
}

/* Wait as `up` does until the services of rw run, are healthy where they
 * have a healthcheck and their port takes connections. Prints progress
 * (t0: when the start began) and the failure, with the container's last
 * lines. 0, -EINTR, -EIO (a service failed or timed out), -EHOSTDOWN. The
 * name of the failed service goes to *ret_service (may be NULL). */
static int wait_ready(struct ready_wait *rw, int sigfd, uint64_t t0, const char *cmd,
		      char **ret_service)
{
	struct compose_failure fail = {0};
	struct strbuf names_text = STRBUF_INIT;
	size_t nw = rw->n;
	int r;

	out_step("docker: waiting for %zu service%s (running, healthy, port answering)", nw,
		 nw == 1 ? "" : "s");
	for (size_t i = 0; i < nw; i++)
		strbuf_addf(&names_text, "%s%s", i ? ", " : "", rw->v[i].service);
	out_progress_begin("docker: waiting for %s", strbuf_str(&names_text));
	r = docker_compose_wait(rw->w, rw->timeout_ms, sigfd, &fail);
	out_progress_end();
	strbuf_release(&names_text);
	if (r == 0) {
		out_step("docker: %zu service%s ready (%.2f s)", nw, nw == 1 ? "" : "s",
			 (double)(time_mono_ms() - t0) / 1000.0);
	} else if (r == -EHOSTDOWN) {
		out_error("%s: %s", cmd, fail.what);
	} else if (r != -EINTR) {
		print_failure(cmd, &fail);
		if (ret_service && fail.service)
			*ret_service = xstrdup(fail.service);
		r = -EIO;
	}
	compose_failure_finish(&fail);
	return r;
}

int cmd_docker_up(struct cmd_ctx *ctx, struct svc_env *svc, int sigfd, bool *started)
{
	const struct session *s = svc->session;
	struct compose_port *ports = NULL;
	struct strvec services = STRVEC_INIT, warnings = STRVEC_INIT;
	struct strbuf file = STRBUF_INIT, log = STRBUF_INIT;
	struct docker d = {0};
	struct ready_wait rw = {0};
	char *orig = NULL, *dir = NULL, *out = NULL, *project = NULL, *cause = NULL, *odir = NULL;
	size_t np;
	uint64_t t0 = time_mono_ms();
	int r = 0;

	*started = false;
	if (!config_uses_docker(&ctx->config))
		return 0;
	orig = worktree_compose(ctx, s);
	dir = session_compose_dir(ctx, s->slug);
	out = path_join(dir, "docker-compose.yml");
	project = cmd_docker_project(ctx, s->slug);
	ports = xcalloc(count_ports(ctx) + 1, sizeof(*ports));
	np = session_ports(ctx, s, ports);
	for (size_t i = 0; i < ctx->config.n_services; i++)
		if (ctx->config.services[i].run == RUN_DOCKER)
			strvec_push(&services, ctx->config.services[i].name);
	r = compose_rewrite(
		orig, &(struct compose_rewrite){project, ctx->config.prefix, s->slot, ports, np},
		&file, &warnings, &cause);
	if (r < 0) {
		out_error("up: %s", cause);
		goto out;
	}
	for (size_t i = 0; i < warnings.n; i++)
		out_warn("%s", warnings.v[i]);
	r = mkdir_p(dir, 0755);
	if (r == 0)
		r = write_file_atomic(out, file.buf, file.len, 0644);
	if (r < 0) {
		out_error("up: cannot write %s: %s", out, strerror(-r));
		goto out;
	}
	r = cmd_docker_init(ctx, &d, svc->envp, &cause);
	if (r < 0) {
		out_error("up: %s", cause);
		goto out;
	}
	odir = xstrdup(orig);
	if (strrchr(odir, '/'))
		*strrchr(odir, '/') = '\0';
	out_step("docker: starting %s (project %s, compose %s)",
		 ctx->config.mode == MODE_CONTAINER ? "the whole compose file"
						    : "the docker services",
		 project, d.flavour == COMPOSE_V2 ? "v2" : "v1");
	*started = true; /* from here on, a rollback removes the project */
	ready_wait_begin(ctx, s, &d, project, NULL, &rw);
	out_progress_begin("docker compose up (project %s)", project);
	r = docker_compose_up(&d, &(struct compose_project){project, out, odir},
			      ctx->config.mode == MODE_CONTAINER ? NULL : &services, rw.w, &log,
			      &cause);
	out_progress_end();
	if (r < 0) {
		out_error("up: docker compose up failed: %s", cause);
		r = -EPROTO; /* compose's own failure, not a service's */
		goto out;
	}
	r = wait_ready(&rw, sigfd, t0, "up", NULL);
out:
	ready_wait_end(&rw);
	docker_finish(&d);
	strvec_clear(&services);
	strvec_clear(&warnings);
	strbuf_release(&file);
	strbuf_release(&log);
	free(ports);
	free(orig);
	free(odir);
	free(dir);
	free(out);
	free(project);
	free(cause);
	return r;
}

int cmd_docker_down(struct cmd_ctx *ctx, const struct session *s, char *const *envp,
		    bool keep_volumes)
{
	char *dir = session_compose_dir(ctx, s->slug), *file = path_join(dir, "docker-compose.yml");
	char *project = cmd_docker_project(ctx, s->slug), *orig = worktree_compose(ctx, s),
	     *cause = NULL;
	struct docker d = {0};
	int r = 0;

	/* Teardown goes by what the session has (its compose file), not only by
	 * what the config says now. */
	if (!config_uses_docker(&ctx->config) && !path_exists(dir))
		goto out;
	r = cmd_docker_init(ctx, &d, envp, &cause);
	if (r < 0) {
		out_error("down: %s", cause);
		goto out;
	}
	if (strrchr(orig, '/'))
		*strrchr(orig, '/') = '\0';
	out_step("docker: removing project %s%s", project, keep_volumes ? " (volumes kept)" : "");
	/* containers get stop_grace too, rounded up to whole seconds */
	out_progress_begin("docker: removing project %s", project);
	r = docker_project_remove(&d, &(struct compose_project){project, file, orig}, keep_volumes,
				  (unsigned)((ctx->config.stop_grace_ms + 999) / 1000), &cause);
	out_progress_end();
	if (r < 0)
		out_error("down: cannot remove the docker project %s: %s", project, cause);
	else
		rm_rf(dir);
out:
	docker_finish(&d);
	free(cause);
	free(dir);
	free(file);
	free(project);
	free(orig);
	return r;
}

/* The compose project of an active session, for commands on its docker
 * services: the file `up` wrote (not written again: it is what runs), and
 * the engine. */
struct session_project {
	struct docker d;
	char *name, *file, *dir;
	const char *slug;
};

static void session_project_finish(struct session_project *p)
{
	docker_finish(&p->d);
	free(p->name);
	free(p->file);
	free(p->dir);
	memset(p, 0, sizeof(*p));
}

/* Prints what is wrong: 0, -ENOENT (the session has no compose file) or
 * the -errno of docker_init. */
static int session_project_open(struct cmd_ctx *ctx, const struct session *s, char *const *envp,
				const char *cmd, struct session_project *p)
{
	char *dir = session_compose_dir(ctx, s->slug), *cause = NULL;
	int r;

	memset(p, 0, sizeof(*p));
	p->slug = s->slug;
	p->file = path_join(dir, "docker-compose.yml");
	free(dir);
	p->name = cmd_docker_project(ctx, s->slug);
	p->dir = worktree_compose(ctx, s);
	if (strrchr(p->dir, '/'))
		*strrchr(p->dir, '/') = '\0';
	if (!path_exists(p->file)) {
		out_error("%s: session '%s' has no compose project (no %s); `berth up %s` starts "
			  "its docker services",
			  cmd, s->slug, p->file, s->slug);
		session_project_finish(p);
		return -ENOENT;
	}
	r = cmd_docker_init(ctx, &p->d, envp, &cause);
	if (r < 0) {
		out_error("%s: %s", cmd, cause);
		free(cause);
		session_project_finish(p);
	}
	return r;
}

static void list_text(const struct strvec *names, struct strbuf *out)
{
	for (size_t i = 0; i < names->n; i++)
		strbuf_addf(out, "%s%s", i ? ", " : "", names->v[i]);
}

/* `compose stop` of names (their containers kept), each container getting
 * the longest stop_grace of them (rounded up to whole seconds) before
 * SIGKILL. Compose's own failure is -EPROTO (exit 1, not a service's). */
static int project_stop(struct cmd_ctx *ctx, struct session_project *p, const struct strvec *names,
			const char *cmd)
{
	struct strbuf list = STRBUF_INIT;
	char *cause = NULL;
	uint64_t t0 = time_mono_ms(), grace = ctx->config.stop_grace_ms;
	int r;

	for (size_t i = 0; i < names->n; i++) {
		const struct service_config *cfg = config_service(&ctx->config, names->v[i]);

		if (cfg && cfg->stop_grace_ms > grace)
			grace = cfg->stop_grace_ms;
	}
	list_text(names, &list);
	out_progress_begin("docker: stopping %s", list.buf);
	r = docker_compose_stop(&p->d, &(struct compose_project){p->name, p->file, p->dir}, names,
				(unsigned)((grace + 999) / 1000), NULL, &cause);
	out_progress_end();
	if (r < 0) {
		out_error("%s: docker compose stop of %s failed: %s; once docker answers, run "
			  "`berth stop %s %s` again",
			  cmd, list.buf, cause, p->slug, list.buf);
		r = -EPROTO;
	} else
		out_step("docker: stopped %s in %.2f s", list.buf,
			 (double)(time_mono_ms() - t0) / 1000.0);
	strbuf_release(&list);
	free(cause);
	return r;
}

/* Which of names have a running container in the project now (a docker
 * that does not answer: none). */
static void running_now(struct session_project *p, const struct strvec *names, struct strvec *ret)
{
	struct container *cs = NULL;
	size_t n = 0;
	char *cause = NULL;

	if (docker_project_containers(&p->d, p->name, &cs, &n, &cause) < 0) {
		free(cause);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (cs[i].service && cs[i].state && !strcmp(cs[i].state, "running") &&
		    strvec_find(names, cs[i].service) >= 0 && strvec_find(ret, cs[i].service) < 0)
			strvec_push(ret, cs[i].service);
	containers_free(cs, n);
}

/* `compose up --detach` of names (their containers started again, made
 * when missing) and the wait of `up`; what did not get ready, of what did
 * not run before, is stopped again. */
static int project_start(struct cmd_ctx *ctx, const struct session *s, struct session_project *p,
			 const struct strvec *names, int sigfd, const char *cmd, char **ret_service)
{
	struct strbuf list = STRBUF_INIT, log = STRBUF_INIT;
	struct strvec was_running = STRVEC_INIT;
	struct ready_wait rw = {0};
	char *cause = NULL;
	uint64_t t0 = time_mono_ms();
	int r;

	list_text(names, &list);
	/* what runs already is not ours to stop if the start fails */
	running_now(p, names, &was_running);
	out_step("docker: starting %s (project %s)", list.buf, p->name);
	ready_wait_begin(ctx, s, &p->d, p->name, names, &rw);
	out_progress_begin("docker compose up (project %s)", p->name);
	r = docker_compose_up(&p->d, &(struct compose_project){p->name, p->file, p->dir}, names,
			      rw.w, &log, &cause);
	out_progress_end();
	if (r < 0) {
		out_error("%s: docker compose up of %s failed: %s", cmd, list.buf, cause);
		r = -EPROTO; /* compose's own failure, not a service's */
		goto out;
	}
	r = wait_ready(&rw, sigfd, t0, cmd, ret_service);
	ready_wait_end(&rw);
	if (r == -EIO || r == -EINTR) {
		struct strvec ours = STRVEC_INIT;

		for (size_t i = 0; i < names->n; i++)
			if (strvec_find(&was_running, names->v[i]) < 0)
				strvec_push(&ours, names->v[i]);
		if (r == -EINTR)
			out_error("%s: interrupted; stopping what it started", cmd);
		if (ours.n)
			project_stop(ctx, p, &ours, cmd);
		strvec_clear(&ours);
	}
out:
	ready_wait_end(&rw);
	strvec_clear(&was_running);
	strbuf_release(&list);
	strbuf_release(&log);
	free(cause);
	return r;
}

int cmd_docker_stop(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		    char *const *envp, const char *cmd)
{
	struct session_project p;
	int r = session_project_open(ctx, s, envp, cmd, &p);

	if (r < 0)
		return r;
	r = project_stop(ctx, &p, names, cmd);
	session_project_finish(&p);
	return r;
}

/* For `berth start` (and restart): start named docker services of an active
 * session again and wait as `up` does; see cmd_common.h. */
int cmd_docker_start(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		     char *const *envp, int sigfd, const char *cmd, char **ret_service)
{
	struct session_project p;
	int r = session_project_open(ctx, s, envp, cmd, &p);

	if (r < 0)
		return r;
	r = project_start(ctx, s, &p, names, sigfd, cmd, ret_service);
	session_project_finish(&p);
	return r;
}

int cmd_docker_restart(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		       char *const *envp, int sigfd, const char *cmd, char **ret_service)
{
	struct session_project p;
	int r = session_project_open(ctx, s, envp, cmd, &p);

	if (r < 0)
		return r;
	r = project_stop(ctx, &p, names, cmd);
	if (r >= 0)
		r = cmd_interrupted();
	if (r >= 0)
		r = project_start(ctx, s, &p, names, sigfd, cmd, ret_service);
	session_project_finish(&p);
	return r;
}

void cmd_docker_status(struct cmd_ctx *ctx, const struct session *s, json_t *obj, bool *unhealthy)
{
	char *dir = session_compose_dir(ctx, s->slug), *project = cmd_docker_project(ctx, s->slug);
	char *cause = NULL;
	struct container *cs = NULL;
	size_t nc = 0;
	struct docker d = {0};
	json_t *arr = NULL;
	bool header = false, *open = NULL;
	uint16_t *ports = NULL;
	size_t np = 0;

	if (!config_uses_docker(&ctx->config) && !path_exists(dir)) {
		if (obj)
			json_object_set_new(obj, "docker", json_null());
		goto out;
	}
	if (cmd_docker_init(ctx, &d, environ, &cause) < 0 ||
	    docker_project_containers(&d, project, &cs, &nc, &cause) < 0) {
		*unhealthy = true;
		if (obj)
			json_object_set_new(obj, "docker", json_pack("{s:s}", "error", cause));
		else
			out_line(stdout, "  docker: %s\n", cause);
		goto out;
	}
	/* the ports of the services with a container, checked side by side */
	ports = xcalloc(ctx->config.n_services + 1, sizeof(*ports));
	open = xcalloc(ctx->config.n_services + 1, sizeof(*open));
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];
		unsigned port = services_port(s, c->name);

		for (size_t j = 0; c->run == RUN_DOCKER && port && j < nc; j++)
			if (!strcmp(cs[j].service, c->name)) {
				ports[np++] = (uint16_t)port;
				break;
			}
	}
	portcheck_all(ports, np, open);
	arr = json_array();
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];
		const struct container *ct = NULL;
		unsigned port = services_port(s, c->name);
		const char *health;
		bool accepts = false, ok;

		if (c->run != RUN_DOCKER)
			continue;
		for (size_t j = 0; j < nc; j++)
			if (!strcmp(cs[j].service, c->name))
				ct = &cs[j];
		health = ct ? docker_health(ct->status) : NULL;
		for (size_t j = 0; ct && port && j < np; j++)
			accepts = accepts || (ports[j] == port && open[j]);
		ok = ct && !strcmp(ct->state, "running") &&
		     (!health || !strcmp(health, "healthy")) && (!port || accepts);
		if (s->status == SESSION_ACTIVE && !ok)
			*unhealthy = true;
		if (obj) {
			json_array_append_new(
				arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "name",
					       c->name, "state", ct ? ct->state : "missing",
					       "health", health ? json_string(health) : json_null(),
					       "status", ct ? json_string(ct->status) : json_null(),
					       "port", port ? json_integer(port) : json_null(),
					       "accepts", accepts, "healthy", ok));
			continue;
		}
		if (!header) {
			out_line(stdout, "  %-12s %-10s %-10s %-6s %s\n", "DOCKER", "STATE",
				 "HEALTH", "PORT", "ACCEPTS");
			header = true;
		}
		out_line(stdout, "  %-12s %-10s %-10s %-6u %s\n", c->name,
			 ct ? ct->state : "missing", health ? health : "-", port,
			 !port     ? "-"
			 : accepts ? "yes"
				   : "no");
	}
	if (obj)
		json_object_set_new(obj, "docker",
				    json_pack("{s:s, s:o}", "project", project, "services", arr));
	else
		json_decref(arr);
out:
	containers_free(cs, nc);
	docker_finish(&d);
	free(ports);
	free(open);
	free(cause);
	free(dir);
	free(project);
}
