/*
 * cmd_validate.c: `berth validate [--ports]`: every check of the config that
 * needs no running service, and the slot x port table.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/slot.h"

static void print_ports(const struct config *c)
{
	struct port_want *w;
	struct strvec header = STRVEC_INIT;
	struct table t;
	size_t n;

	slot_port_wants(c, &w, &n);
	strvec_push(&header, "SLOT");
	for (size_t i = 0; i < n; i++)
		strvec_push(&header, w[i].name);
	table_init(&t, (const char *const *)header.v, header.n);
	for (unsigned slot = 1; slot <= c->max_slots; slot++) {
		strvec_pushf(&t.cells, "%u", slot);
		for (size_t i = 0; i < n; i++) {
			unsigned p = config_port(c, w[i].base, slot);

			if (p)
				strvec_pushf(&t.cells, "%u", p);
			else
				strvec_push(&t.cells, "(>65535)");
		}
	}
	table_print(&t);
	table_finish(&t);
	if (!c->strict_port && c->port_search_range)
		printf("a taken port is bumped by %u (max_slots x slot_stride), up to %u times\n",
		       c->max_slots * c->slot_stride, c->port_search_range);
	strvec_clear(&header);
	port_wants_free(w, n);
}

static int cmd_validate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool ports = cmdopt_has(ctx->args, "ports");
	int code;

	if (argc > 1)
		return cmd_usage_error(&cmd_validate_entry, "unexpected argument '%s'", argv[1]);
	code = cmd_check_config(ctx, true);
	if (code)
		return code;
	out_line(stdout, "%s/%s is valid: mode %s, runner %s, %zu service%s, %u slots\n", ctx->root,
		 CONFIG_FILE, config_mode_name(ctx->config.mode),
		 config_runner_name(ctx->config.runner), ctx->config.n_services,
		 ctx->config.n_services == 1 ? "" : "s", ctx->config.max_slots);
	if (ports)
		print_ports(&ctx->config);
	return EXIT_OK;
}

const struct cmd_entry cmd_validate_entry = {
	.name = "validate",
	.opts =
		(const struct cmd_opt[]){
			{"ports", 0, NULL, "print the port of every service in every slot",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "check .berth.ini: syntax, types, ports across slots, dependencies",
	.help = "Checks everything that needs no running service (docs/config.md lists the "
		"checks).\nErrors exit 3; warnings are printed and do not fail.\n",
	.flags = CMD_CONFIG,
	.exec = cmd_validate_exec,
};
