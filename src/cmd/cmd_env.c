/*
 * cmd_env.c: `berth env`: the session's variables as dotenv lines, shell
 * exports, or JSON.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "config/envfile.h"
#include "cmd/output.h"
#include "store/session.h"
#include "watch/activity.h"

static int cmd_env_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *format = cmdopt_value(ctx->args, "format");
	enum env_format fmt = ENV_FORMAT_DOTENV;
	struct session s = {0};
	struct strbuf out = STRBUF_INIT;
	struct envmap m = {0};
	bool json = cmdopt_has(ctx->args, "json");
	char *slug = NULL;
	int code;

	if (format && !strcmp(format, "sh"))
		fmt = ENV_FORMAT_SH;
	else if (format && strcmp(format, "dotenv"))
		return cmd_usage_error(&cmd_env_entry, "--format must be sh or dotenv, not '%s'",
				       format);
	if (argc > 2)
		return cmd_usage_error(&cmd_env_entry, "unexpected argument '%s'", argv[2]);
	code = cmd_resolve_slug(ctx, argc > 1 ? argv[1] : NULL, &slug);
	if (code)
		return code;
	code = cmd_get_session(ctx, slug, &s);
	if (code)
		goto out;
	activity_touch(ctx->berth_dir, s.slug);
	if (s.status != SESSION_ACTIVE)
		out_warn("session '%s' is %s", slug, session_display_status(&s));
	if (json) {
		out_json(cmd_session_json(ctx, &s));
	} else {
		cmd_session_env(ctx, &s, &m);
		envfile_format(&m, fmt, &out);
		fputs(strbuf_str(&out), stdout);
	}
out:
	envmap_finish(&m);
	strbuf_release(&out);
	session_finish(&s);
	free(slug);
	return code;
}

const struct cmd_entry cmd_env_entry = {
	.name = "env",
	.args = "[<slug>]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL, "the session as JSON (docs/json.md)", COMPLETE_NONE,
			 NULL},
			{"format", 0, "sh|dotenv",
			 "dotenv: KEY=VALUE lines, as in .env.berth (default); sh: export "
			 "KEY='VALUE'",
			 COMPLETE_WORDS, "sh dotenv"},
			{0},
		},
	.summary = "print the session's environment (ports, slot, slug)",
	.help = "eval \"$(berth env feat-a --format sh)\" exports it into a shell.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_env_exec,
};
