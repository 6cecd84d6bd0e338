/*
 * cmd_ls.c: `berth ls`: the sessions of this repository.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/timeutil.h"

static json_t *session_ls_json(const struct session *s)
{
	json_t *o = json_object(), *ports = json_object(), *op = json_null();
	char *created = time_format_rfc3339(s->created_at);

	for (size_t i = 0; i < s->n_ports; i++)
		json_object_set_new(ports, s->ports[i].name, json_integer(s->ports[i].port));
	if (s->has_op) {
		char *since = time_format_rfc3339(s->op.since);

		op = json_object();
		json_object_set_new(op, "kind", json_string(s->op.kind));
		json_object_set_new(op, "pid", json_integer(s->op.pid));
		json_object_set_new(op, "since", json_string(since));
		json_object_set_new(op, "alive", json_boolean(session_op_alive(&s->op)));
		json_object_set_new(op, "step", s->op.step ? json_string(s->op.step) : json_null());
		free(since);
	}
	json_object_set_new(o, "slug", json_string(s->slug));
	json_object_set_new(o, "slot", json_integer(s->slot));
	json_object_set_new(o, "status", json_string(session_display_status(s)));
	json_object_set_new(o, "branch", json_string(s->branch));
	json_object_set_new(o, "mode", json_string(s->mode));
	json_object_set_new(o, "worktree_path", json_string(s->worktree));
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "created_at", json_string(created));
	json_object_set_new(o, "operation", op);
	free(created);
	return o;
}

static int cmd_ls_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const char *const header[] = {"SLUG", "SLOT", "STATUS", "BRANCH", "PORTS", "AGE"};
	struct session *v = NULL;
	bool json = cmdopt_has(ctx->args, "json"), crashed = false;
	size_t n = 0;

	if (argc > 1)
		return cmd_usage_error(&cmd_ls_entry, "unexpected argument '%s'", argv[1]);
	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("ls: cannot read the state store: %s", state_errmsg(ctx->state));
		return EXIT_FAIL;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, session_ls_json(&v[i]));
		out_json(arr);
	} else if (!n) {
		fprintf(stderr, "no sessions; `berth up <branch>` starts one\n");
	} else {
		struct table t;

		table_init(&t, header, ARRAY_SIZE(header));
		for (size_t i = 0; i < n; i++) {
			char slot[16], *ports = cmd_ports_text(&v[i]);
			char *age = time_format_age(time_wall_s() - v[i].created_at);
			const char *st = session_display_status(&v[i]);

			crashed |= !strcmp(st, "crashed-op");
			snprintf(slot, sizeof(slot), "%u", v[i].slot);
			table_add(&t, v[i].slug, slot, st, v[i].branch, ports, age);
			free(ports);
			free(age);
		}
		table_print(&t);
		table_finish(&t);
		cmd_print_watcher(ctx, stderr);
		if (crashed)
			fprintf(stderr, "crashed-op: the command working on the session died; "
					"`berth down <slug>` cleans it up, `berth up <slug>` "
					"resumes it\n");
	}
	sessions_free(v, n);
	return EXIT_OK;
}

const struct cmd_entry cmd_ls_entry = {
	.name = "ls",
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL, "a JSON array on stdout (docs/json.md)", COMPLETE_NONE,
			 NULL},
			{0},
		},
	.summary = "list the sessions: slot, status, branch, ports, age",
	.help = "Status is active, stopped, pending (an up/down is running) or crashed-op (the\n"
		"command working on it died; `berth down` or `berth up` recovers it).\n",
	.flags = CMD_STATE | CMD_STATE_RO,
	.exec = cmd_ls_exec,
};
