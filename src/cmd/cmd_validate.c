/*
 * cmd_validate.c: `berth validate [--ports]`: every check of the config that
 * needs no running service, and the slot x port table.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/slot.h"
#include "util/fsutil.h"

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

/* {"file", "valid", "mode", "runner", "services", "slots", "issues": [{error,
 * line, message}], "ports": {"1": {"web": 3001}}}; exit 3 when not valid. */
static int validate_json(struct cmd_ctx *ctx, bool ports)
{
	struct config_issues is;
	int errors = config_validate(&ctx->config, &is);
	json_t *doc = json_object(), *arr = json_array();
	char *file = path_join(ctx->root, CONFIG_FILE);

	for (size_t i = 0; i < is.n; i++)
		json_array_append_new(
			arr, json_pack("{s:b, s:o, s:s}", "error", is.v[i].error, "line",
				       is.v[i].line ? json_integer(is.v[i].line) : json_null(),
				       "message", is.v[i].msg));
	json_object_set_new(doc, "file", json_string(file));
	json_object_set_new(doc, "valid", json_boolean(errors == 0));
	json_object_set_new(doc, "mode", json_string(config_mode_name(ctx->config.mode)));
	json_object_set_new(doc, "runner", json_string(config_runner_name(ctx->config.runner)));
	json_object_set_new(doc, "services", json_integer((json_int_t)ctx->config.n_services));
	json_object_set_new(doc, "slots", json_integer(ctx->config.max_slots));
	json_object_set_new(doc, "issues", arr);
	if (ports) {
		json_t *t = json_object();
		struct port_want *w;
		size_t n;

		slot_port_wants(&ctx->config, &w, &n);
		for (unsigned slot = 1; slot <= ctx->config.max_slots; slot++) {
			json_t *row = json_object();
			char key[16];

			for (size_t i = 0; i < n; i++) {
				unsigned p = config_port(&ctx->config, w[i].base, slot);

				json_object_set_new(row, w[i].name,
						    p ? json_integer(p) : json_null());
			}
			snprintf(key, sizeof(key), "%u", slot);
			json_object_set_new(t, key, row);
		}
		port_wants_free(w, n);
		json_object_set_new(doc, "ports", t);
	}
	out_json(doc);
	config_issues_finish(&is);
	free(file);
	return errors ? EXIT_CONFIG : EXIT_OK;
}

static int cmd_validate_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool ports = cmdopt_has(ctx->args, "ports");
	int code;

	if (argc > 1)
		return cmd_usage_error(&cmd_validate_entry, "unexpected argument '%s'", argv[1]);
	if (cmdopt_has(ctx->args, "json"))
		return validate_json(ctx, ports);
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
			{"json", 0, NULL,
			 "the result as JSON on stdout, issues included (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "check .berth.ini: syntax, types, ports across slots, dependencies",
	.help = "Checks everything that needs no running service (docs/config.md lists the "
		"checks).\nErrors exit 3; warnings are printed and do not fail.\n",
	.flags = CMD_CONFIG,
	.exec = cmd_validate_exec,
};
