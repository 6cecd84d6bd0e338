/*
 * cmd_config.c: `berth config show [--json]`: the effective config with
 * defaults, as INI or as one JSON document (docs/json.md). Both walk the
 * config's option table (config_show_each), so they show the same keys and
 * redact the same passwords.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/output.h"

/* The JSON walk: the document, and the object of the section it is in. */
struct config_json {
	json_t *doc, *section;
	const char *section_name, *service;
};

static json_t *value_json(const struct config_value *v)
{
	json_t *j;

	switch (v->kind) {
	case CONFIG_VALUE_STRING:
		return out_json_text(v->str);
	case CONFIG_VALUE_BOOL:
		return json_boolean(v->flag);
	case CONFIG_VALUE_NUMBER:
	case CONFIG_VALUE_DURATION:
		return json_integer((json_int_t)v->number);
	case CONFIG_VALUE_PORT:
		return v->number ? json_integer((json_int_t)v->number) : json_null();
	case CONFIG_VALUE_WORDS:
		j = json_array();
		for (size_t i = 0; i < v->words->n; i++)
			json_array_append_new(j, out_json_text(v->words->v[i]));
		return j;
	case CONFIG_VALUE_ENV:
		/* KEY=VALUE lines: a later KEY wins, as in the service's environment */
		j = json_object();
		for (size_t i = 0; i < v->words->n; i++) {
			const char *eq = strchr(v->words->v[i], '=');
			char *key = xstrndup(v->words->v[i], (size_t)(eq - v->words->v[i]));

			json_object_set_new(j, key, out_json_text(eq + 1));
			free(key);
		}
		return j;
	case CONFIG_VALUE_EXTRA_PORTS:
		j = json_array();
		for (size_t i = 0; i < v->n_extra; i++) {
			json_t *env = json_array();

			for (size_t k = 0; k < v->extra[i].env.n; k++)
				json_array_append_new(env, out_json_text(v->extra[i].env.v[k]));
			json_array_append_new(j,
					      json_pack("{s:s, s:i, s:o}", "name", v->extra[i].name,
							"base", (int)v->extra[i].base, "env", env));
		}
		return j;
	}
	return json_null();
}

static void add_value(const struct config_value *v, void *data)
{
	struct config_json *cj = data;

	if (!cj->section_name || strcmp(v->section, cj->section_name) ||
	    v->service != cj->service) {
		cj->section = json_object();
		/* a service defined twice (validate's error): the last one */
		json_object_set_new(v->service ? json_object_get(cj->doc, "services") : cj->doc,
				    v->service ? v->service : v->section, cj->section);
		cj->section_name = v->section;
		cj->service = v->service;
	}
	if (v->kind == CONFIG_VALUE_DURATION) {
		char *key = xasprintf("%s_ms", v->key);

		json_object_set_new(cj->section, key, value_json(v));
		free(key);
	} else {
		json_object_set_new(cj->section, v->key, value_json(v));
	}
}

/* {"file", "berth", "services": {NAME: {...}}, "hooks", "watch", "database"}
 * (docs/json.md). */
static json_t *config_json(const struct config *c)
{
	struct config_json cj = {.doc = json_object()};

	/* the sections in this order; [database] stays null without one */
	json_object_set_new(cj.doc, "file", out_json_text(c->path));
	json_object_set_new(cj.doc, "berth", json_object());
	json_object_set_new(cj.doc, "services", json_object());
	json_object_set_new(cj.doc, "hooks", json_object());
	json_object_set_new(cj.doc, "watch", json_object());
	json_object_set_new(cj.doc, "database", json_null());
	config_show_each(c, add_value, &cj);
	return cj.doc;
}

static int cmd_config_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct strbuf out = STRBUF_INIT;

	if (argc != 2 || strcmp(argv[1], "show"))
		return cmd_usage_error(&cmd_config_entry, "the only subcommand is `show`");
	if (cmdopt_has(ctx->args, "json"))
		return out_json(config_json(&ctx->config)) < 0 ? EXIT_FAIL : EXIT_OK;
	config_show(&ctx->config, &out);
	fputs(strbuf_str(&out), stdout);
	strbuf_release(&out);
	return EXIT_OK;
}

const struct cmd_entry cmd_config_entry = {
	.name = "config",
	.args = "show",
	.complete = COMPLETE_WORDS,
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL, "the configuration as JSON on stdout (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "print the effective configuration, defaults included",
	.help = "Without a .berth.ini, prints the defaults.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL,
	.exec = cmd_config_exec,
};
