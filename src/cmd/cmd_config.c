/*
 * cmd_config.c: `berth config show`: the effective config with defaults.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/output.h"

static int cmd_config_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct strbuf out = STRBUF_INIT;

	if (argc != 2 || strcmp(argv[1], "show"))
		return cmd_usage_error(&cmd_config_entry, "the only subcommand is `show`");
	config_show(&ctx->config, &out);
	fputs(strbuf_str(&out), stdout);
	strbuf_release(&out);
	return EXIT_OK;
}

const struct cmd_entry cmd_config_entry = {
	.name = "config",
	.args = "show",
	.complete = COMPLETE_WORDS,
	.summary = "print the effective configuration, defaults included",
	.help = "Without a .berth.ini, prints the defaults.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL,
	.exec = cmd_config_exec,
};
