/*
 * cmd_env.c: `berth env`: the session's variables as dotenv lines, shell
 * exports, or JSON.
 */
#include "util/common.h"

#include <getopt.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "config/envfile.h"
#include "cmd/output.h"
#include "store/session.h"
#include "watch/activity.h"

static int cmd_env_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"format", required_argument, NULL, 'F'},
		{0},
	};
	enum env_format fmt = ENV_FORMAT_DOTENV;
	struct session s = {0};
	struct strbuf out = STRBUF_INIT;
	struct envmap m = {0};
	bool json = false;
	char *slug = NULL;
	int c, code;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'F':
			if (!strcmp(optarg, "sh"))
				fmt = ENV_FORMAT_SH;
			else if (!strcmp(optarg, "dotenv"))
				fmt = ENV_FORMAT_DOTENV;
			else
				return cmd_usage_error(&cmd_env_entry,
						       "--format must be sh or dotenv, not '%s'",
						       optarg);
			break;
		default:
			return cmd_bad_option(&cmd_env_entry, argv);
		}
	}
	if (argc - optind > 1)
		return cmd_usage_error(&cmd_env_entry, "unexpected argument '%s'",
				       argv[optind + 1]);
	code = cmd_resolve_slug(ctx, optind < argc ? argv[optind] : NULL, &slug);
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
	.usage = "env [<slug>] [--json | --format sh|dotenv]",
	.summary = "print the session's environment (ports, slot, slug)",
	.help = "eval \"$(berth env feat-a --format sh)\" exports it into a shell.\n\n"
		"Options:\n"
		"  --format dotenv   KEY=VALUE lines, as in .env.berth (default)\n"
		"  --format sh       export KEY='VALUE' lines for eval\n"
		"  --json            the session as JSON (docs/json.md)\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_env_exec,
};
