/*
 * cmd_attach.c: `berth attach <slug> [service]`: the session's tmux session
 * on the repository's private server (runner = tmux), at the service's
 * window or the shell. It replaces berth, so it holds no lock or store.
 */
#include "util/common.h"

#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "supervise/services.h"
#include "util/signals.h"

int cmd_tmux_attach(struct cmd_ctx *ctx, const struct session *s, const char *window)
{
	struct strvec argv = STRVEC_INIT;
	struct svc_env svc;
	struct tmux_pane p;
	char *cause = NULL, *msg = NULL;
	int code, r, err;

	if (ctx->config.runner != RUNNER_TMUX) {
		out_error("session '%s' runs its services without tmux (runner = process): there "
			  "is no window to attach to; `berth logs -f %s` follows their output",
			  s->slug, s->slug);
		return EXIT_FAIL;
	}
	if (!isatty(STDIN_FILENO)) {
		out_error("attaching needs a terminal, and stdin is not one; `berth logs -f %s` "
			  "follows the output",
			  s->slug);
		return EXIT_FAIL;
	}
	code = cmd_svc_init(ctx, s, true, &svc);
	if (code)
		return code;
	if (!strcmp(window, "shell")) {
		/* The shell window (and the tmux session with it) is made again
		 * when its shell ended or the server went away. */
		r = services_tmux_session(&svc, true, &cause);
		if (r < 0) {
			out_error("cannot open the shell window of session '%s': %s", s->slug,
				  cause);
			code = EXIT_FAIL;
			goto out;
		}
	} else {
		r = tmux_pane_info(&svc.tmux_server, s->slug, window, &p, &msg);
		if (r == -ENOENT) {
			out_error(
				"session '%s' has no tmux window '%s' (its tmux server or session "
				"is gone, or the service never started); `berth status %s` shows "
				"its services",
				s->slug, window, s->slug);
			code = EXIT_NOTFOUND;
			goto out;
		}
		if (r < 0) {
			out_error("tmux: %s", msg);
			code = EXIT_FAIL;
			goto out;
		}
	}
	tmux_attach_argv(&svc.tmux_server, s->slug, window, &argv);
	state_close(ctx->state);
	ctx->state = NULL;
	fflush(NULL);
	signals_reset_for_exec();
	execvpe(argv.v[0], strvec_argv(&argv), strvec_argv(&svc.tmux_server.env));
	err = errno;
	out_error("cannot run tmux: %s", strerror(err));
	code = err == ENOENT ? 127 : 126;
out:
	free(cause);
	free(msg);
	strvec_clear(&argv);
	svc_env_finish(&svc);
	return code;
}

static int cmd_attach_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct session s = {0};
	const char *window = "shell";
	int code;

	if (argc < 2 || argc > 3)
		return cmd_usage_error(&cmd_attach_entry,
				       argc < 2 ? "which session?" : "unexpected argument '%s'",
				       argv[3]);
	code = cmd_session_for_run(ctx, argv[1], &s);
	if (code)
		return code;
	if (argc == 3) {
		window = argv[2];
		if (strcmp(window, "shell") && !config_service(&ctx->config, window)) {
			out_error("attach: session '%s' has no service '%s'", s.slug, window);
			session_finish(&s);
			return EXIT_NOTFOUND;
		}
	}
	code = cmd_tmux_attach(ctx, &s, window);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_attach_entry = {
	.name = "attach",
	.args = "<slug> [service]",
	.complete = COMPLETE_SESSION,
	.summary = "attach to the session's tmux window (runner = tmux)",
	.help = "Without a service: the shell window (an interactive shell in the worktree with\n"
		"the session's environment), started again if it ended. Detach with the tmux\n"
		"prefix key and d (C-b d); the services keep running. Replaces berth: no lock\n"
		"is held while attached.\n",
	.flags = CMD_CONFIG | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_attach_exec,
};
