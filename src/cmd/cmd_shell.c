/*
 * cmd_shell.c: `berth shell`: an interactive shell in the session's worktree
 * with its environment (runner = tmux: the session's shell window, attached).
 * It replaces berth, so it holds no lock or store.
 */
#include "util/common.h"

#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"

static int cmd_shell_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *sh = getenv("SHELL");
	struct session s = {0};
	char *cmd[2];
	int code;

	if (argc > 2)
		return cmd_usage_error(&cmd_shell_entry, "unexpected argument '%s'", argv[2]);
	code = cmd_session_for_run(ctx, argc == 2 ? argv[1] : NULL, &s);
	if (code)
		return code;
	if (ctx->config.runner == RUNNER_TMUX) {
		/* The session's shell window, on its tmux server. */
		code = cmd_tmux_attach(ctx, &s, "shell");
		session_finish(&s);
		return code;
	}
	if (!sh || !*sh)
		sh = "/bin/sh";
	out_line(stderr, "entering session '%s' (slot %u) in %s; `exit` leaves it\n", s.slug,
		 s.slot, s.worktree);
	cmd[0] = (char *)sh;
	cmd[1] = NULL;
	code = cmd_exec_in_session(ctx, &s, cmd);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_shell_entry = {
	.name = "shell",
	.args = "[<slug>]",
	.complete = COMPLETE_SESSION,
	.summary = "open $SHELL in the session's worktree with its environment",
	.help = "The shell replaces berth: no lock is held while it runs. Under runner = tmux it\n"
		"attaches to the session's shell window instead (see `berth attach`).\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_shell_exec,
};
