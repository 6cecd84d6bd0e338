/*
 * cmd_ls.c: `berth ls`: the sessions of this repository, each with the
 * health of its native services as their status files tell it (no port or
 * socket probe: ls stays fast), what needs a hand on stderr, and whether the
 * watcher runs.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

/* How ls classes a native service, from its status file alone. */
enum ls_class {
	LS_UP,          /* runs (its recorded pid lives), or a oneshot that finished with 0 */
	LS_DEAD,        /* ended and not restarted: exited, killed, failed */
	LS_LOST,        /* its supervisor died without recording an end */
	LS_STARTING,    /* its shim is at work: starting, restarting, stopping */
	LS_STOPPED,     /* stopped on request */
	LS_NOT_STARTED, /* no status file */
	LS_UNKNOWN,     /* its status file cannot be read */
	LS_N
};

/* the JSON keys and the words of the HEALTH column, by class */
static const char *const class_keys[LS_N] = {"up",      "dead",        "lost",   "starting",
					     "stopped", "not_started", "unknown"};
static const char *const class_words[LS_N] = {"up",      "dead",        "lost",      "starting",
					      "stopped", "not started", "unreadable"};

struct ls_health {
	size_t total;
	struct strvec by[LS_N]; /* service names by class */
	bool worktree_missing;
	struct strvec advice; /* what needs a hand, each with the command to run */
	char *text;           /* the HEALTH column */
};

static enum ls_class classify(const struct service_config *cfg, const struct svc_view *v)
{
	switch (v->live) {
	case SVC_LIVE_NONE:
		return LS_NOT_STARTED;
	case SVC_LIVE_LOST:
		return LS_LOST;
	case SVC_LIVE_RUNNING:
	case SVC_LIVE_ENDED:
		break;
	}
	switch (v->st.state) {
	case SVC_RUNNING:
		/* a shim that has not yet seen its service die is at work */
		return v->service_alive ? LS_UP : LS_STARTING;
	case SVC_STARTING:
	case SVC_RESTARTING:
	case SVC_STOPPING:
		return LS_STARTING;
	case SVC_EXITED:
		return cfg && cfg->oneshot && v->st.exit_code == 0 && !v->st.exit_signal ? LS_UP
											 : LS_DEAD;
	case SVC_FAILED:
		return LS_DEAD;
	case SVC_STOPPED:
		return LS_STOPPED;
	}
	return LS_UNKNOWN;
}

/* What to tell about service name of session slug in class c, if anything. */
static void advise(struct ls_health *h, const char *slug, const char *name, enum ls_class c,
		   const struct svc_view *v)
{
	char exit_text[96], *what;

	switch (c) {
	case LS_DEAD:
		if (v->st.state == SVC_FAILED && v->st.error[0]) {
			what = xasprintf("failed: %s", v->st.error);
		} else {
			svc_exit_text(&v->st, exit_text, sizeof(exit_text));
			what = xasprintf("%s%s", v->st.exit_signal > 0 ? "was " : "", exit_text);
		}
		strvec_pushf(&h->advice,
			     "%s: service %s %s; `berth logs %s %s`, then `berth start %s %s`",
			     slug, name, what, slug, name, slug, name);
		free(what);
		break;
	case LS_LOST:
		strvec_pushf(&h->advice,
			     "%s: service %s lost its supervisor (killed?); `berth restart %s %s` "
			     "starts it again, `berth down %s` stops what is left",
			     slug, name, slug, name, slug);
		break;
	case LS_UNKNOWN:
		strvec_pushf(&h->advice,
			     "%s: the status file of service %s cannot be read; `berth status %s` "
			     "says more, `berth restart %s %s` writes it anew",
			     slug, name, slug, slug, name);
		break;
	default:
		break;
	}
}

/* "2/3 up (api dead)", "worktree missing", "stopped", "-" (no native service). */
static char *health_text(const struct ls_health *h, const char *status)
{
	struct strbuf sb = STRBUF_INIT;
	bool first = true;

	if (h->worktree_missing && strcmp(status, "pending"))
		return xstrdup("worktree missing");
	if (!strcmp(status, "stopped"))
		return xstrdup("stopped");
	if (!h->total)
		return xstrdup("-");
	strbuf_addf(&sb, "%zu/%zu up", h->by[LS_UP].n, h->total);
	for (int c = LS_UP + 1; c < LS_N; c++) {
		if (!h->by[c].n)
			continue;
		strbuf_adds(&sb, first ? " (" : "; ");
		for (size_t i = 0; i < h->by[c].n; i++)
			strbuf_addf(&sb, "%s%s", i ? ", " : "", h->by[c].v[i]);
		strbuf_addf(&sb, " %s", class_words[c]);
		first = false;
	}
	if (!first)
		strbuf_addch(&sb, ')');
	return strbuf_detach(&sb);
}

/* Red for what needs a hand, yellow for what is on its way, green when all
 * is up. */
static const char *health_colour(const struct ls_health *h)
{
	if (h->worktree_missing || h->by[LS_DEAD].n || h->by[LS_LOST].n || h->by[LS_UNKNOWN].n)
		return "31";
	if (h->by[LS_STARTING].n)
		return "33";
	if (h->total && h->by[LS_UP].n == h->total)
		return "32";
	return NULL;
}

/* Fill h for session s: its native services' status files (services_view)
 * and whether its worktree is there. Advice only for a session no command
 * is working on (pending and crashed-op have their own); of its services
 * only for an active one (`berth up` resumes a stopped one whole). */
static void health_fill(struct cmd_ctx *ctx, const struct session *s, struct ls_health *h)
{
	const char *status = session_display_status(s);
	bool active = !strcmp(status, "active"), quiet;
	struct strvec names = STRVEC_INIT;

	h->worktree_missing = !path_is_dir(s->worktree);
	if (h->worktree_missing && (active || !strcmp(status, "stopped")))
		strvec_pushf(&h->advice,
			     "%s: its worktree '%s' is gone; `berth down %s` frees its slot and "
			     "ports",
			     s->slug, s->worktree, s->slug);
	/* a session without its worktree: down is the one thing to do */
	quiet = !active || h->worktree_missing;
	cmd_service_names(ctx, s->slug, &names);
	for (size_t i = 0; i < names.n; i++) {
		struct svc_view v;
		enum ls_class c = LS_UNKNOWN;

		if (services_view(ctx->berth_dir, s->slug, names.v[i], &v) == 0)
			c = classify(config_service(&ctx->config, names.v[i]), &v);
		strvec_push(&h->by[c], names.v[i]);
		if (!quiet)
			advise(h, s->slug, names.v[i], c, &v);
	}
	h->total = names.n;
	h->text = health_text(h, status);
	strvec_clear(&names);
}

static void health_finish(struct ls_health *h)
{
	for (int c = 0; c < LS_N; c++)
		strvec_clear(&h->by[c]);
	strvec_clear(&h->advice);
	free(h->text);
}

static json_t *health_json(const struct ls_health *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "up", json_integer((json_int_t)h->by[LS_UP].n));
	json_object_set_new(o, "total", json_integer((json_int_t)h->total));
	for (int c = LS_UP + 1; c < LS_N; c++)
		json_object_set_new(o, class_keys[c], out_json_strvec(&h->by[c]));
	json_object_set_new(o, "worktree_missing", json_boolean(h->worktree_missing));
	json_object_set_new(o, "text", json_string(h->text));
	json_object_set_new(o, "advice", out_json_strvec(&h->advice));
	return o;
}

/* ls reads .berth.ini itself, leniently: without one (or with a broken one)
 * it still lists, counting the services recorded in the run directories. */
static void load_config(struct cmd_ctx *ctx)
{
	char *path = path_join(ctx->root, CONFIG_FILE), *cause = NULL;

	if (!path_exists(path)) {
		config_init(&ctx->config, ctx->root);
	} else if (config_load(&ctx->config, ctx->root, path, &cause) < 0) {
		out_warn("ls: %s; the health counts only the services that ran (`berth validate` "
			 "checks the config)",
			 cause);
		free(cause);
		config_init(&ctx->config, ctx->root);
	} else {
		ctx->have_config = true;
	}
	free(path);
}

static json_t *session_ls_json(const struct session *s, const struct ls_health *h, json_t *watcher)
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
	json_object_set_new(o, "health", health_json(h));
	json_object_set(o, "watcher", watcher);
	free(created);
	return o;
}

static int cmd_ls_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const char *const header[] = {"SLUG",  "SLOT", "STATUS", "BRANCH",
					     "PORTS", "AGE",  "HEALTH"};
	struct session *v = NULL;
	struct ls_health *health;
	bool json = cmdopt_has(ctx->args, "json"), crashed = false;
	size_t n = 0;

	if (argc > 1)
		return cmd_usage_error(&cmd_ls_entry, "unexpected argument '%s'", argv[1]);
	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("ls: cannot read the state store: %s", state_errmsg(ctx->state));
		return EXIT_FAIL;
	}
	load_config(ctx);
	health = xcalloc(n ? n : 1, sizeof(*health));
	for (size_t i = 0; i < n; i++)
		health_fill(ctx, &v[i], &health[i]);
	if (json) {
		json_t *arr = json_array(), *watcher = cmd_watcher_json(ctx);

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, session_ls_json(&v[i], &health[i], watcher));
		json_decref(watcher);
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
			table_add(&t, v[i].slug, slot, st, v[i].branch, ports, age, health[i].text);
			table_paint(&t, 2, !strcmp(st, "crashed-op") ? "31" : NULL);
			table_paint(&t, 6, health_colour(&health[i]));
			free(ports);
			free(age);
		}
		table_print(&t);
		table_finish(&t);
	}
	/* what needs a hand goes to stderr with --json too: stdout stays one document */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < health[i].advice.n; j++)
			out_warn("%s", health[i].advice.v[j]);
	if (!json && n) {
		if (crashed)
			fprintf(stderr, "crashed-op: the command working on the session died; "
					"`berth down <slug>` cleans it up, `berth up <slug>` "
					"resumes it\n");
		cmd_print_watcher(ctx, stderr);
	}
	for (size_t i = 0; i < n; i++)
		health_finish(&health[i]);
	free(health);
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
	.summary = "list the sessions: slot, status, branch, ports, age, health",
	.help = "Status is active, stopped, pending (an up/down is running) or crashed-op (the\n"
		"command working on it died; `berth down` or `berth up` recovers it).\n"
		"Health counts the native services that run, from their status files:\n"
		"`3/3 up`, `2/3 up (api dead)`, `1/2 up (web lost)`, `worktree missing`,\n"
		"`stopped`. What needs a hand is said on stderr with the command to run; the\n"
		"last line says whether the watcher runs.\n",
	.flags = CMD_STATE | CMD_STATE_RO,
	.exec = cmd_ls_exec,
};
