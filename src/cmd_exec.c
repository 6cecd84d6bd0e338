/*
 * cmd_exec.c: `berth exec`: run a command in the session's worktree with the
 * session's environment. berth execs it in place, so its exit status is the
 * command's own.
 */
#include "util/common.h"

#include <signal.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_common.h"
#include "output.h"

int cmd_exec_in_session(struct cmd_ctx *ctx, const struct session *s, char *const *cmd)
{
	struct strvec envp = STRVEC_INIT;
	sigset_t none;
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
	 * (berth ignores SIGPIPE: a pipeline in `berth shell` must not). */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvpe(cmd[0], cmd, strvec_argv(&envp));
	err = errno;
	out_error("cannot run '%s': %s", cmd[0], strerror(err));
	strvec_clear(&envp);
	return err == ENOENT ? 127 : 126;
}

static int cmd_exec_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct session s = {0};
	const char *slug = NULL;
	int dd = -1, code;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dd = i;
			break;
		}
	}
	if (dd < 0 || dd + 1 >= argc)
		return cmd_usage_error(&cmd_exec_entry, "give the command after `--`");
	if (dd > 2)
		return cmd_usage_error(&cmd_exec_entry, "unexpected argument '%s'", argv[2]);
	if (dd == 2) {
		if (argv[1][0] == '-')
			return cmd_usage_error(&cmd_exec_entry, "unknown option '%s'", argv[1]);
		slug = argv[1];
	}
	code = cmd_session_for_run(ctx, slug, &s);
	if (code)
		return code;
	code = cmd_exec_in_session(ctx, &s, argv + dd + 1);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_exec_entry = {
	.name = "exec",
	.usage = "exec [<slug>] -- CMD [ARGS...]",
	.summary = "run a command in the session's worktree with its environment",
	.help = "The environment is yours, then the worktree's inherit_env files, then the\n"
		"session's variables (BERTH_*, ports, PORT). The exit status is the command's;\n"
		"127 when it cannot be found, 126 when it cannot be run.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE,
	.exec = cmd_exec_exec,
};
