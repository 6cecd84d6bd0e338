/*
 * cmd_restart.c: `berth restart`: stop services of an active session (each
 * whole tree, as down does) and start them again on the same ports, waiting
 * for readiness as up does.
 */
#include "util/common.h"

#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/testpoint.h"
#include "watch/activity.h"

static int cmd_restart_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct strvec names = STRVEC_INIT, started = STRVEC_INIT, docker = STRVEC_INIT;
	char *failed = NULL;
	struct session s = {0}, owned = {0};
	struct svc_env svc = {0};
	bool have_svc = false, lost = false, docker_failed = false;
	size_t *order = NULL, *pick = NULL, k = 0;
	sigset_t old;
	int c, code, first, n, r, sigfd;

	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, "")) != -1)
		return cmd_bad_option(&cmd_restart_entry, argv);
	code = cmd_session_then_services(ctx, argc, argv, optind, &s, &first);
	if (code)
		goto out;
	if (s.status != SESSION_ACTIVE) {
		out_error("restart: session '%s' is %s; `berth up %s` starts it", s.slug,
			  session_display_status(&s), s.slug);
		code = EXIT_BUSY;
		goto out;
	}
	code = cmd_named_services(ctx, "restart", argv, first, argc, NULL, &docker);
	if (code)
		goto out;
	n = config_service_order(&ctx->config, &order);
	if (n < 0) {
		out_error("restart: the services' depends_on form a cycle; `berth validate` "
			  "shows it");
		code = EXIT_CONFIG;
		goto out;
	}
	pick = xcalloc(n ? (size_t)n : 1, sizeof(*pick));
	for (int i = 0; i < n; i++) {
		const struct service_config *cfg = &ctx->config.services[order[i]];
		bool named = first == argc;

		for (int j = first; j < argc; j++)
			named |= !strcmp(argv[j], cfg->name);
		if (!named || cfg->run != RUN_NATIVE || !cfg->command)
			continue;
		pick[k++] = order[i];
		strvec_push(&names, cfg->name);
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
	code = cmd_svc_init(ctx, &s, true, &svc);
	if (code)
		goto out;
	have_svc = true;
	cmd_signals_block(&old);
	sigfd = cmd_signalfd();
	r = k ? cmd_stop_services(&svc, &names, sigfd, "restart") : 0;
	test_pause("restart-launch");
	if (r >= 0)
		r = cmd_interrupted();
	/* Named docker services (cmd_docker.c) come back before the native
	 * ones, which may depend on them. */
	if (r >= 0 && docker.n && !cmd_own_lost(ctx)) {
		r = cmd_docker_restart(ctx, &s, &docker, svc.envp, sigfd, "restart", &failed);
		docker_failed = r < 0 && r != -EIO && r != -EINTR;
	}
	if (r >= 0 && k && !cmd_own_lost(ctx)) {
		r = cmd_launch(&svc, pick, k, sigfd, &started, "restart", &failed);
		if (r == -EINTR && !cmd_own_lost(ctx))
			out_error("restart: interrupted; stopping what was started");
	}
	if (r >= 0 && session_finalize(ctx->state, &s, ctx->own.id, SESSION_ACTIVE) == -ESTALE)
		r = -ESTALE;
	lost = r < 0 && cmd_own_lost(ctx);
	/* what did not come up, or what a run that lost its session started,
	 * is stopped, not left half-alive */
	if (r < 0 && started.n)
		cmd_stop_services(&svc, &started, lost ? -1 : sigfd, "restart");
	if (sigfd >= 0)
		close(sigfd);
	cmd_signals_restore(&old);
	if (lost) {
		code = cmd_stand_down(ctx);
	} else if (r < 0) {
		code = r == -EINTR                    ? EXIT_INTERRUPTED
		       : r == -EBUSY || docker_failed ? EXIT_FAIL
						      : EXIT_UNHEALTHY;
		session_event(ctx->state, s.slug, "restart-failed", "%s", failed ? failed : "");
	} else {
		cmd_own_release(ctx);
		activity_touch(ctx->berth_dir, s.slug);
		k += docker.n;
		session_event(ctx->state, s.slug, "restart", "%zu service%s", k, k == 1 ? "" : "s");
		out_line(stdout, "restarted %zu service%s of session '%s'\n", k, k == 1 ? "" : "s",
			 s.slug);
	}
out:
	free(failed);
	if (have_svc)
		svc_env_finish(&svc);
	strvec_clear(&names);
	strvec_clear(&started);
	strvec_clear(&docker);
	free(order);
	free(pick);
	session_finish(&s);
	session_finish(&owned);
	return code;
}

const struct cmd_entry cmd_restart_entry = {
	.name = "restart",
	.usage = "restart [<slug>] [service...]",
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
