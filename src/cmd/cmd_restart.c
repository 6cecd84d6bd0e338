/*
 * cmd_restart.c: `berth restart` and `berth start`. restart: stop services
 * of an active session (each whole tree, as down does) and start them again
 * on the same ports, waiting for readiness as up does. start: the same for
 * services that do not run (stopped by `berth stop`, ended, failed), and
 * what they depend on; a stopped session is resumed by `berth up`.
 */
#include "util/common.h"

#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/testpoint.h"
#include "watch/activity.h"

/* start of a stopped session, no service named: what `berth up` does. */
static int start_session(const char *slug)
{
	char *argv[] = {(char *)"berth", (char *)"up", (char *)slug, NULL};

	fflush(NULL);
	execv("/proc/self/exe", argv);
	out_error("start: cannot run `berth up %s`: %s", slug, strerror(errno));
	return EXIT_FAIL;
}

/* start: the named services and what they depend on, split into native
 * (wanted) and docker ones; none named (all): every docker service too. */
static void start_set(struct cmd_ctx *ctx, bool all, struct strvec *wanted, struct strvec *docker)
{
	bool docker_mode = config_uses_docker(&ctx->config);
	struct strvec both = STRVEC_INIT;

	for (size_t i = 0; i < ctx->config.n_services; i++) {
		const struct service_config *cfg = &ctx->config.services[i];

		if (strvec_find(wanted, cfg->name) >= 0 || strvec_find(docker, cfg->name) >= 0 ||
		    (all && docker_mode && cfg->run == RUN_DOCKER))
			strvec_push(&both, cfg->name);
	}
	config_with_deps(&ctx->config, &both);
	strvec_clear(wanted);
	strvec_clear(docker);
	for (size_t i = 0; i < both.n; i++) {
		const struct service_config *cfg = config_service(&ctx->config, both.v[i]);

		if (cfg && cfg->run == RUN_DOCKER && docker_mode)
			strvec_push(docker, cfg->name);
		else if (cfg)
			strvec_push(wanted, cfg->name);
	}
	strvec_clear(&both);
}

/* The native services to act on (wanted NULL: all), in dependency order,
 * into pick[] and names (both reset). start: not those that run; those a
 * lost shim may have left running also go to lost (stopped first, so that
 * exactly one copy runs). Returns how many. */
static size_t pick_native(struct cmd_ctx *ctx, const char *slug, bool start,
			  const struct strvec *wanted, const size_t *order, size_t n, size_t *pick,
			  struct strvec *names, struct strvec *lost)
{
	size_t k = 0;

	strvec_clear(names);
	strvec_clear(lost);
	for (size_t i = 0; i < n; i++) {
		const struct service_config *cfg = &ctx->config.services[order[i]];
		struct svc_view v;

		if ((wanted && strvec_find(wanted, cfg->name) < 0) || cfg->run != RUN_NATIVE ||
		    !cfg->command)
			continue;
		if (start && services_view(ctx->berth_dir, slug, cfg->name, &v) == 0) {
			if (v.live == SVC_LIVE_RUNNING)
				continue;
			if (v.live == SVC_LIVE_LOST ||
			    (v.live == SVC_LIVE_ENDED && v.service_alive))
				strvec_push(lost, cfg->name);
		}
		pick[k++] = order[i];
		strvec_push(names, cfg->name);
	}
	return k;
}

static int cmd_restart_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool start = ctx->entry == &cmd_start_entry;
	const char *cmd = ctx->entry->name;
	struct strvec names = STRVEC_INIT, started = STRVEC_INIT, wanted = STRVEC_INIT,
		      lost_ones = STRVEC_INIT, docker = STRVEC_INIT;
	char *failed = NULL;
	struct session s = {0}, owned = {0};
	struct svc_env svc = {0};
	bool have_svc = false, lost = false, docker_failed = false, all;
	size_t *order = NULL, *pick = NULL, k = 0;
	sigset_t old;
	int code, first, n, r, sigfd;

	code = cmd_session_then_services(ctx, argc, argv, 1, &s, &first);
	if (code)
		goto out;
	if (start && s.status == SESSION_STOPPED && first == argc) {
		code = start_session(s.slug);
		goto out;
	}
	if (s.status != SESSION_ACTIVE) {
		out_error("%s: session '%s' is %s; `berth up %s` starts it", cmd, s.slug,
			  session_display_status(&s), s.slug);
		code = EXIT_BUSY;
		goto out;
	}
	all = first == argc;
	code = cmd_named_services(ctx, cmd, argv, first, argc, &wanted, &docker);
	if (code)
		goto out;
	if (start)
		start_set(ctx, all, &wanted, &docker);
	n = config_service_order(&ctx->config, &order);
	if (n < 0) {
		out_error("%s: the services' depends_on form a cycle; `berth validate` shows it",
			  cmd);
		code = EXIT_CONFIG;
		goto out;
	}
	pick = xcalloc(n ? (size_t)n : 1, sizeof(*pick));
	k = pick_native(ctx, s.slug, start, all ? NULL : &wanted, order, (size_t)n, pick, &names,
			&lost_ones);
	if (!k && !docker.n && start) {
		if (cmdopt_has(ctx->args, "json"))
			out_json(cmd_outcome_json(s.slug, "active", "started", &names, &docker));
		else
			out_line(stdout, "every service named of session '%s' runs already\n",
				 s.slug);
		goto out;
	}
	if (!k && !docker.n) {
		out_error("restart: session '%s' has no native service to restart", s.slug);
		code = EXIT_NOTFOUND;
		goto out;
	}
	/* The token: nothing else may change the session while we do; a
	 * `down` that takes it over meanwhile makes us stand down. */
	session_finish(&owned);
	code = cmd_own_session(ctx, s.slug, &owned);
	if (code)
		goto out;
	/* start: what runs now, under the token, is left alone (another
	 * start may have started it since we looked) */
	if (start)
		k = pick_native(ctx, s.slug, start, all ? NULL : &wanted, order, (size_t)n, pick,
				&names, &lost_ones);
	code = cmd_svc_init(ctx, &s, true, &svc);
	if (code)
		goto out;
	have_svc = true;
	cmd_signals_block(&old);
	sigfd = cmd_signalfd();
	if (start)
		r = lost_ones.n ? cmd_stop_services(&svc, &lost_ones, sigfd, cmd) : 0;
	else
		r = k ? cmd_stop_services(&svc, &names, sigfd, cmd) : 0;
	test_pause("restart-launch");
	if (r >= 0)
		r = cmd_interrupted();
	/* Named docker services (cmd_docker.c) come back before the native
	 * ones, which may depend on them. */
	if (r >= 0 && docker.n && !cmd_own_lost(ctx)) {
		r = start ? cmd_docker_start(ctx, &s, &docker, svc.envp, sigfd, cmd, &failed)
			  : cmd_docker_restart(ctx, &s, &docker, svc.envp, sigfd, cmd, &failed);
		docker_failed = r < 0 && r != -EIO && r != -EINTR;
	}
	if (r >= 0 && k && !cmd_own_lost(ctx)) {
		r = cmd_launch(&svc, pick, k, sigfd, &started, cmd, &failed);
		if (r == -EINTR && !cmd_own_lost(ctx))
			out_error("%s: interrupted; stopping what was started", cmd);
	}
	if (r >= 0 && session_finalize(ctx->state, &s, ctx->own.id, SESSION_ACTIVE) == -ESTALE)
		r = -ESTALE;
	lost = r < 0 && cmd_own_lost(ctx);
	/* what did not come up, or what a run that lost its session started,
	 * is stopped, not left half-alive */
	if (r < 0 && started.n)
		cmd_stop_services(&svc, &started, lost ? -1 : sigfd, cmd);
	if (sigfd >= 0)
		close(sigfd);
	cmd_signals_restore(&old);
	if (lost) {
		code = cmd_stand_down(ctx);
	} else if (r < 0) {
		code = r == -EINTR                    ? EXIT_INTERRUPTED
		       : r == -EBUSY || docker_failed ? EXIT_FAIL
						      : EXIT_UNHEALTHY;
		session_event(ctx->state, s.slug, start ? "start-failed" : "restart-failed", "%s",
			      failed ? failed : "");
	} else {
		cmd_own_release(ctx);
		activity_touch(ctx->berth_dir, s.slug);
		k += docker.n;
		session_event(ctx->state, s.slug, cmd, "%zu service%s", k, k == 1 ? "" : "s");
		if (cmdopt_has(ctx->args, "json"))
			out_json(cmd_outcome_json(s.slug, "active", start ? "started" : "restarted",
						  &names, &docker));
		else
			out_line(stdout, "%s %zu service%s of session '%s'\n",
				 start ? "started" : "restarted", k, k == 1 ? "" : "s", s.slug);
	}
out:
	free(failed);
	if (have_svc)
		svc_env_finish(&svc);
	strvec_clear(&names);
	strvec_clear(&started);
	strvec_clear(&wanted);
	strvec_clear(&lost_ones);
	strvec_clear(&docker);
	free(order);
	free(pick);
	session_finish(&s);
	session_finish(&owned);
	return code;
}

/* restart's and start's options */
static const struct cmd_opt outcome_opts[] = {
	{"json", 0, NULL, "the outcome as JSON on stdout (docs/json.md)", COMPLETE_NONE, NULL},
	{0},
};

const struct cmd_entry cmd_restart_entry = {
	.name = "restart",
	.args = "[<slug>] [service...]",
	.complete = COMPLETE_SESSION,
	.opts = outcome_opts,
	.summary = "restart services in place: same ports, waiting until they are ready",
	.help = "Without services: every native service, in dependency order. Each service's\n"
		"whole process tree is stopped first (TERM, then KILL at stop_grace). A service\n"
		"that does not get ready again is stopped, and restart exits 6.\n"
		"A docker service (run = docker) named is stopped and started again in the\n"
		"session's compose project (compose stop, then compose up), before the native\n"
		"ones, and waited for as up does: running, healthy, its port answering; one\n"
		"that exits fails at once (exit 6) with its container's last lines.\n",
	.flags = CMD_CONFIG | CMD_STATE,
	.owner = OWNER_IDLE,
	.exec = cmd_restart_exec,
};

const struct cmd_entry cmd_start_entry = {
	.name = "start",
	.args = "[<slug>] [service...]",
	.complete = COMPLETE_SESSION,
	.opts = outcome_opts,
	.summary = "start services that do not run, on their ports, waiting until they are ready",
	.help = "Named services (and what they depend on) that are not running: stopped by\n"
		"`berth stop`, ended or failed. Without services: every service that does not\n"
		"run, docker ones too (compose up of them; a running container is left as it\n"
		"is). Each starts on its session's ports and is waited for as `up`\n"
		"does; one that does not get ready is stopped again, and start exits 6. What\n"
		"runs is left alone. A stopped session with no service named is resumed as\n"
		"`berth up <slug>` does.\n",
	.flags = CMD_CONFIG | CMD_STATE,
	.owner = OWNER_IDLE,
	.exec = cmd_restart_exec,
};
