/*
 * cmd_exec.c: `berth exec`: run a command in the session's worktree with the
 * session's environment. berth execs it in place, so its exit status is the
 * command's own.
 */
#include "util/common.h"

#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"

static int cmd_exec_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct session s = {0};
	int dd = ctx->args->dashdash, code;

	if (dd < 0 || dd >= argc)
		return cmd_usage_error(&cmd_exec_entry, "give the command after `--`");
	if (dd > 2)
		return cmd_usage_error(&cmd_exec_entry, "unexpected argument '%s'", argv[2]);
	code = cmd_session_for_run(ctx, dd == 2 ? argv[1] : NULL, &s);
	if (code)
		return code;
	code = cmd_exec_in_session(ctx, &s, argv + dd);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_exec_entry = {
	.name = "exec",
	.args = "[<slug>]",
	.args_after = "-- CMD [ARGS...]",
	.complete = COMPLETE_SESSION,
	.summary = "run a command in the session's worktree with its environment",
	.help = "The environment is yours, then the worktree's inherit_env files, then the\n"
		"session's variables (BERTH_*, ports, PORT). The exit status is the command's;\n"
		"127 when it cannot be found, 126 when it cannot be run.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_exec_exec,
};
