/*
 * cmd_docker.c: a session's compose project for `up` and `down` (SPEC §8):
 * the session's compose file written from the worktree's, the project
 * started and waited for, and removed by its exact label.
 */
#include "util/common.h"

#include <jansson.h>

#include "cmd/cmd_common.h"
#include "docker/compose.h"
#include "docker/docker.h"
#include "cmd/output.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define DOCKER_READY_DEFAULT_MS 60000

static char *project_name(const struct cmd_ctx *ctx, const char *slug)
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

static void print_failure(const struct compose_failure *f)
{
	if (f->service)
		out_error("up: docker service '%s' %s", f->service, f->what);
	else
		out_error("up: docker services not ready: %s", f->what ? f->what : "no answer");
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

int cmd_docker_up(struct cmd_ctx *ctx, struct svc_env *svc, int sigfd, bool *started)
{
	const struct session *s = svc->session;
	struct compose_port *ports = NULL;
	struct compose_wait *wait = NULL;
	struct strvec services = STRVEC_INIT, warnings = STRVEC_INIT;
	struct strbuf file = STRBUF_INIT, log = STRBUF_INIT;
	struct compose_failure fail = {0};
	struct docker d = {0};
	char *orig = NULL, *dir = NULL, *out = NULL, *project = NULL, *cause = NULL, *odir = NULL;
	size_t np, nw = 0;
	uint64_t timeout = 0, t0 = time_mono_ms();
	int r = 0;

	*started = false;
	if (!config_uses_docker(&ctx->config))
		return 0;
	orig = worktree_compose(ctx, s);
	dir = session_compose_dir(ctx, s->slug);
	out = path_join(dir, "docker-compose.yml");
	project = project_name(ctx, s->slug);
	ports = xcalloc(count_ports(ctx) + 1, sizeof(*ports));
	np = session_ports(ctx, s, ports);
	wait = xcalloc(ctx->config.n_services + 1, sizeof(*wait));
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];

		if (c->run != RUN_DOCKER)
			continue;
		strvec_push(&services, c->name);
		/* the main port only: extra ports are not waited for */
		wait[nw++] = (struct compose_wait){c->name, (uint16_t)services_port(s, c->name)};
		if (c->ready_timeout_ms > timeout)
			timeout = c->ready_timeout_ms;
	}
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
	r = docker_init(&d, svc->envp, &cause);
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
	r = docker_compose_up(&d, &(struct compose_project){project, out, odir},
			      ctx->config.mode == MODE_CONTAINER ? NULL : &services, &log, &cause);
	if (r < 0) {
		out_error("up: docker compose up failed: %s", cause);
		r = -EPROTO; /* compose's own failure, not a service's */
		goto out;
	}
	out_step("docker: waiting for %zu service%s (running, healthy, port answering)", nw,
		 nw == 1 ? "" : "s");
	r = docker_compose_wait(&d, project, wait, nw, timeout ? timeout : DOCKER_READY_DEFAULT_MS,
				sigfd, &fail);
	if (r == -EINTR)
		goto out;
	if (r == -EHOSTDOWN) {
		out_error("up: %s", fail.what);
		goto out;
	}
	if (r < 0) {
		print_failure(&fail);
		r = -EIO;
		goto out;
	}
	out_step("docker: %zu service%s ready (%.2f s)", nw, nw == 1 ? "" : "s",
		 (double)(time_mono_ms() - t0) / 1000.0);
out:
	compose_failure_finish(&fail);
	docker_finish(&d);
	strvec_clear(&services);
	strvec_clear(&warnings);
	strbuf_release(&file);
	strbuf_release(&log);
	free(ports);
	free(wait);
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
	char *project = project_name(ctx, s->slug), *orig = worktree_compose(ctx, s), *cause = NULL;
	struct docker d = {0};
	int r = 0;

	/* Teardown goes by what the session has (its compose file), not only by
	 * what the config says now. */
	if (!config_uses_docker(&ctx->config) && !path_exists(dir))
		goto out;
	r = docker_init(&d, envp, &cause);
	if (r < 0) {
		out_error("down: %s", cause);
		goto out;
	}
	if (strrchr(orig, '/'))
		*strrchr(orig, '/') = '\0';
	out_step("docker: removing project %s%s", project, keep_volumes ? " (volumes kept)" : "");
	/* containers get stop_grace too, rounded up to whole seconds */
	r = docker_project_remove(&d, &(struct compose_project){project, file, orig}, keep_volumes,
				  (unsigned)((ctx->config.stop_grace_ms + 999) / 1000), &cause);
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

void cmd_docker_status(struct cmd_ctx *ctx, const struct session *s, json_t *obj, bool *unhealthy)
{
	char *dir = session_compose_dir(ctx, s->slug), *project = project_name(ctx, s->slug);
	char *cause = NULL;
	struct container *cs = NULL;
	size_t nc = 0;
	struct docker d = {0};
	json_t *arr = NULL;
	bool header = false;

	if (!config_uses_docker(&ctx->config) && !path_exists(dir)) {
		if (obj)
			json_object_set_new(obj, "docker", json_null());
		goto out;
	}
	if (docker_init(&d, environ, &cause) < 0 ||
	    docker_project_containers(&d, project, &cs, &nc, &cause) < 0) {
		*unhealthy = true;
		if (obj)
			json_object_set_new(obj, "docker", json_pack("{s:s}", "error", cause));
		else
			out_line(stdout, "  docker: %s\n", cause);
		goto out;
	}
	arr = json_array();
	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *c = &ctx->config.services[i];
		const struct container *ct = NULL;
		unsigned port = services_port(s, c->name);
		const char *health;
		bool accepts, ok;

		if (c->run != RUN_DOCKER)
			continue;
		for (size_t j = 0; j < nc; j++)
			if (!strcmp(cs[j].service, c->name))
				ct = &cs[j];
		health = ct ? docker_health(ct->status) : NULL;
		accepts = ct && port && docker_port_accepts((uint16_t)port);
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
	free(cause);
	free(dir);
	free(project);
}
