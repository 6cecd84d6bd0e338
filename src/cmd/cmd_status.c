/*
 * cmd_status.c: `berth status`: per native service of a session (or of every
 * session): state, pid, uptime, restarts, last exit, the assigned port and
 * who really listens on it (wrong owner, wrong port), the log. Exits
 * EXIT_UNHEALTHY when a service is not healthy.
 */
#include "util/common.h"

#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "cmd/output.h"
#include "probe/listeners.h"
#include "probe/marker.h"
#include "probe/probe.h"
#include "store/session.h"
#include "util/hash.h"
#include "util/timeutil.h"
#include "watch/activity.h"

/* What looking at one service's processes without the process table costs
 * (its shim's and its own identity, the walk down from the shim: its task
 * directory and children file, each child's stat, the same below it, and
 * our first ancestor older than it), counted in rows of the table (one
 * /proc/<pid>/stat each): about 9 by syscalls, 5 by time (bench/status:
 * reading every process's stat costs more than reading named files). */
#define PROC_READS_PER_SERVICE 5

/* One service as status shows it. */
struct svc_row {
	const char *name;
	const struct service_config *cfg; /* NULL: recorded, no longer configured */
	struct svc_view v;
	const char *state; /* what to show */
	bool healthy;
	unsigned port;  /* assigned, 0 none */
	char *listener; /* "ok", "not listening", "pid 42 (nc) of user x", ... */
	bool port_ok;
	struct svc_port_holder holder; /* a wrong owner, structured */
	bool wrong_owner;
	unsigned *tree_ports; /* what the service's tree listens on */
	size_t n_tree_ports;
	char *log;
};

/* Green when it does its job, yellow on its way, red when it needs a hand. */
static const char *state_colour(const struct svc_row *r)
{
	static const char *const red[] = {"lost", "failed", "exited", "corrupt-status"};

	if (r->healthy)
		return "32";
	if (!strcmp(r->state, "starting") || !strcmp(r->state, "restarting"))
		return "33";
	for (size_t i = 0; i < ARRAY_SIZE(red); i++)
		if (!strcmp(r->state, red[i]))
			return "31";
	return NULL;
}

static bool wants_port(const struct service_config *cfg)
{
	return cfg && cfg->ready &&
	       (!strcmp(cfg->ready, "port") || !strncmp(cfg->ready, "http:", 5));
}

/* Fill r from the service's status file and from the command's probe;
 * procs: its process table, when the command looks at enough services to
 * make one walk of /proc cheaper than reading each of their processes. */
static void row_fill(struct cmd_ctx *ctx, const struct session *s, const char *root_id,
		     struct probe *probe, const struct proc_table *procs, struct svc_row *r)
{
	struct proc_ref *tree = NULL;
	size_t n_tree = 0;

	r->log = services_log_path(ctx->berth_dir, s->slug, r->name);
	r->port = services_port(s, r->name);
	if (services_view_in(ctx->berth_dir, s->slug, r->name, procs, &r->v) < 0) {
		r->state = "corrupt-status";
		return;
	}
	switch (r->v.live) {
	case SVC_LIVE_NONE:
		r->state = "not-started";
		break;
	case SVC_LIVE_LOST:
		r->state = "lost";
		break;
	case SVC_LIVE_ENDED:
	case SVC_LIVE_RUNNING:
		r->state = svc_state_name(r->v.st.state);
		break;
	}
	if (r->v.live == SVC_LIVE_RUNNING && r->v.st.state == SVC_RUNNING && r->v.service_alive) {
		services_tree_in(r->v.st.shim_pid, procs, &tree, &n_tree);
		services_tree_ports(tree, n_tree, &probe->listeners, &r->tree_ports,
				    &r->n_tree_ports);
	}
	r->healthy =
		r->v.live == SVC_LIVE_RUNNING && r->v.st.state == SVC_RUNNING && r->v.service_alive;
	if (r->cfg && r->cfg->oneshot && r->v.live == SVC_LIVE_ENDED &&
	    r->v.st.state == SVC_EXITED && r->v.st.exit_code == 0) {
		r->state = "done";
		r->healthy = true;
	}
	if (r->port && r->v.live != SVC_LIVE_NONE) {
		char *who = NULL;

		switch (services_port_owner(probe, tree, n_tree, root_id, s->slug, r->name, r->port,
					    &who, &r->holder)) {
		case SVC_PORT_FREE:
			r->listener = xstrdup("not listening");
			break;
		case SVC_PORT_OURS:
			r->listener = xstrdup("ok");
			r->port_ok = true;
			break;
		case SVC_PORT_FOREIGN:
			r->listener = xasprintf("wrong owner: %s", who);
			r->wrong_owner = true;
			break;
		case SVC_PORT_UNKNOWN:
			break;
		}
		free(who);
		if (r->healthy && wants_port(r->cfg) && !r->port_ok)
			r->healthy = false;
	}
	free(tree);
}

static void row_finish(struct svc_row *r)
{
	free(r->holder.session);
	free(r->listener);
	free(r->tree_ports);
	free(r->log);
}

static char *tree_ports_str(const struct svc_row *r)
{
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < r->n_tree_ports; i++)
		strbuf_addf(&sb, "%s%u", i ? "," : "", r->tree_ports[i]);
	return strbuf_detach(&sb);
}

/* null, or who holds the service's port instead of it: pid (null when not
 * visible), command, the session it belongs to, and what to do. */
static json_t *wrong_owner_json(const struct svc_row *r)
{
	const struct svc_port_holder *h = &r->holder;
	char *hint;
	json_t *o;

	if (!r->wrong_owner)
		return json_null();
	if (h->session)
		hint = xasprintf(
			"pid %d belongs to session '%s': do not kill it; give this session "
			"another port (`berth up --port %s=N`) or stop that one",
			(int)h->pid, h->session, r->name);
	else if (h->pid)
		hint = xasprintf("`berth whose :%u` says more; stop pid %d (%s) if it is yours",
				 r->port, (int)h->pid, h->comm);
	else
		hint = xasprintf("a process berth cannot see holds it; `berth whose :%u`", r->port);
	o = json_pack("{s:o, s:o, s:o, s:s}", "pid", h->pid ? json_integer(h->pid) : json_null(),
		      "command", h->pid ? json_string(h->comm) : json_null(), "session",
		      h->session ? json_string(h->session) : json_null(), "hint", hint);
	free(hint);
	return o;
}

static json_t *row_json(const struct svc_row *r)
{
	json_t *o = json_object(), *tp = json_array();
	bool ran = r->v.live != SVC_LIVE_NONE;
	char exit_text[96];

	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "state", json_string(r->state));
	json_object_set_new(o, "healthy", json_boolean(r->healthy));
	json_object_set_new(o, "pid",
			    ran && r->v.service_alive ? json_integer(r->v.st.pid) : json_null());
	json_object_set_new(o, "shim_pid",
			    r->v.live == SVC_LIVE_RUNNING ? json_integer(r->v.st.shim_pid)
							  : json_null());
	json_object_set_new(o, "uptime_s",
			    ran && r->v.service_alive && r->v.st.exec_ms
				    ? json_integer((time_wall_s() * 1000 - r->v.st.exec_ms) / 1000)
				    : json_null());
	json_object_set_new(o, "restarts", json_integer(ran ? r->v.st.restarts : 0));
	if (ran && (r->v.st.exit_code >= 0 || r->v.st.exit_signal)) {
		json_t *e = json_object();

		svc_exit_text(&r->v.st, exit_text, sizeof(exit_text));
		json_object_set_new(e, "code",
				    r->v.st.exit_code >= 0 ? json_integer(r->v.st.exit_code)
							   : json_null());
		json_object_set_new(e, "signal",
				    r->v.st.exit_signal ? json_integer(r->v.st.exit_signal)
							: json_null());
		json_object_set_new(e, "text", json_string(exit_text));
		json_object_set_new(o, "last_exit", e);
	} else {
		json_object_set_new(o, "last_exit", json_null());
	}
	json_object_set_new(o, "error",
			    ran && r->v.st.error[0] ? json_string(r->v.st.error) : json_null());
	json_object_set_new(o, "port", r->port ? json_integer(r->port) : json_null());
	json_object_set_new(o, "listener", r->listener ? json_string(r->listener) : json_null());
	json_object_set_new(o, "wrong_owner", wrong_owner_json(r));
	/* the port it listens on instead of its own (the first one) */
	json_object_set_new(o, "actual_port",
			    r->port && !r->port_ok && r->n_tree_ports
				    ? json_integer(r->tree_ports[0])
				    : json_null());
	for (size_t i = 0; i < r->n_tree_ports; i++)
		json_array_append_new(tp, json_integer(r->tree_ports[i]));
	json_object_set_new(o, "listens_on", tp);
	json_object_set_new(o, "log", json_string(r->log));
	return o;
}

/* Rows for session s, one per name of names (cmd_service_names: configured
 * native services with a command, then services recorded but no longer
 * configured). */
static size_t collect(struct cmd_ctx *ctx, const struct session *s, const char *root_id,
		      struct probe *probe, const struct proc_table *procs, struct svc_row **ret,
		      const struct strvec *names)
{
	struct svc_row *rows;
	size_t n = 0;

	rows = xcalloc(names->n ? names->n : 1, sizeof(*rows));
	for (size_t i = 0; i < names->n; i++) {
		rows[n].name = names->v[i];
		rows[n].cfg = config_service(&ctx->config, names->v[i]);
		row_fill(ctx, s, root_id, probe, procs, &rows[n]);
		n++;
	}
	*ret = rows;
	return n;
}

/* runner = tmux: the sessions of the repository's tmux server, asked once
 * per command (one list-sessions, not a has-session per session). */
struct tmux_view {
	const struct tmux *tm; /* NULL: not that runner */
	bool asked;
	int answer; /* 0, or -EIO: tmux's answer says neither */
	struct strvec sessions;
};

/* Is the session's tmux session there? NULL: not that runner. */
static const char *tmux_state(struct tmux_view *tv, const struct session *s)
{
	pid_t server;

	if (!tv->tm)
		return NULL;
	if (!tv->asked) {
		tv->asked = true;
		tv->answer = tmux_server_sessions(tv->tm, &server, &tv->sessions, NULL);
	}
	if (tv->answer < 0)
		return "unknown";
	return strvec_find(&tv->sessions, s->slug) >= 0 ? "running" : "gone";
}

static void print_tmux(const struct session *s, const char *state, size_t n_started,
		       const struct tmux *tm)
{
	if (!state)
		return;
	if (!strcmp(state, "running"))
		out_line(stdout,
			 "  tmux: session %s is running (`berth attach %s [service]`; socket %s)\n",
			 s->slug, s->slug, tm->socket);
	else if (!strcmp(state, "gone") && n_started)
		out_line(stdout,
			 "  tmux: session %s is gone (its tmux server was killed or exited); its "
			 "services were stopped with it; `berth up %s` starts them again\n",
			 s->slug, s->slug);
	else if (strcmp(state, "gone"))
		out_line(stdout, "  tmux: cannot tell whether session %s is running\n", s->slug);
}

static void print_rows(const struct session *s, const struct svc_row *rows, size_t n)
{
	static const char *const header[] = {"SERVICE",  "STATE",     "PID",  "UPTIME",
					     "RESTARTS", "LAST EXIT", "PORT", "LISTENER"};
	struct table t;

	out_line(stdout, "session '%s' (slot %u, %s)\n", s->slug, s->slot,
		 session_display_status(s));
	if (!n) {
		printf("  no native services\n");
		return;
	}
	table_init(&t, header, ARRAY_SIZE(header));
	for (size_t i = 0; i < n; i++) {
		const struct svc_row *r = &rows[i];
		bool ran = r->v.live != SVC_LIVE_NONE;
		char pid[16] = "-", restarts[16] = "-", port[16] = "-", exit_text[96] = "-";
		char *uptime = xstrdup("-"), *listener, *tp = tree_ports_str(r);

		if (ran && r->v.service_alive) {
			snprintf(pid, sizeof(pid), "%d", (int)r->v.st.pid);
			free(uptime);
			uptime = time_format_age((time_wall_s() * 1000 - r->v.st.exec_ms) / 1000);
		}
		if (ran)
			snprintf(restarts, sizeof(restarts), "%u", r->v.st.restarts);
		if (ran && (r->v.st.exit_code >= 0 || r->v.st.exit_signal))
			svc_exit_text(&r->v.st, exit_text, sizeof(exit_text));
		if (r->port)
			snprintf(port, sizeof(port), "%u", r->port);
		if (r->listener && !r->port_ok && r->n_tree_ports)
			listener = xasprintf("%s; it listens on %s", r->listener, tp);
		else if (r->listener)
			listener = xstrdup(r->listener);
		else if (r->n_tree_ports)
			listener = xasprintf("listens on %s", tp);
		else
			listener = xstrdup("-");
		table_add(&t, r->name, r->state, pid, uptime, restarts, exit_text, port, listener);
		table_paint(&t, 1, state_colour(r));
		table_paint(&t, 7, r->listener && !r->port_ok ? "31" : NULL);
		free(uptime);
		free(listener);
		free(tp);
	}
	table_print(&t);
	table_finish(&t);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].v.live != SVC_LIVE_NONE && rows[i].v.st.error[0])
			out_line(stdout, "  %s: %s\n", rows[i].name, rows[i].v.st.error);
		if (!strcmp(rows[i].state, "lost"))
			out_line(stdout,
				 "  %s: its supervisor died (killed?); `berth restart %s %s` "
				 "starts it "
				 "again, `berth down %s` stops what is left\n",
				 rows[i].name, s->slug, rows[i].name, s->slug);
	}
}

static int cmd_status_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct session *v = NULL, one = {0};
	size_t n = 0;
	bool json = cmdopt_has(ctx->args, "json"), all = false, unhealthy = false;
	struct probe probe;
	const struct proc_table *procs = NULL;
	struct strvec *names = NULL;
	size_t n_services = 0;
	struct tmux tm = {0};
	const struct tmux *tmp = NULL;
	struct tmux_view tv = {.sessions = STRVEC_INIT};
	json_t *arr = NULL, *db, *watcher = NULL;
	char *root_id = NULL;
	struct cmd_db_view dbv = {0};
	char *slug = NULL;
	int code;

	if (argc > 2)
		return cmd_usage_error(&cmd_status_entry, "unexpected argument '%s'", argv[2]);
	if (argc > 1) {
		code = cmd_resolve_slug(ctx, argv[1], &slug);
	} else {
		if (state_sessions_list(ctx->state, &v, &n) < 0) {
			out_error("status: cannot read the state store: %s",
				  state_errmsg(ctx->state));
			return EXIT_FAIL;
		}
		const struct session *here = cmd_session_at(ctx->cwd, v, n);

		all = !here;
		if (here)
			slug = xstrdup(here->slug);
		code = 0;
	}
	if (code)
		goto out;
	if (!all) {
		sessions_free(v, n);
		v = NULL;
		n = 0;
		code = cmd_get_session(ctx, slug, &one);
		if (code)
			goto out;
		activity_touch(ctx->berth_dir, one.slug);
	}
	/* One look at the machine for the whole command, shared by every
	 * service: the listeners, and the process table when the services are
	 * enough for one walk of /proc to cost less than reading each one's
	 * processes. */
	if (probe_init(&probe) < 0)
		memset(&probe, 0, sizeof(probe));
	names = xcalloc(all && n ? n : 1, sizeof(*names));
	for (size_t i = 0; i < (all ? n : 1); i++) {
		cmd_service_names(ctx, (all ? &v[i] : &one)->slug, &names[i]);
		n_services += names[i].n;
	}
	procs = probe_procs_cheaper(&probe, n_services * PROC_READS_PER_SERVICE);
	root_id = hash_root_id(ctx->root);
	if (ctx->config.runner == RUNNER_TMUX) {
		char *cause = NULL;

		if (tmux_init(&tm, root_id, environ, &cause) == 0)
			tmp = &tm;
		else
			out_warn("%s", cause);
		free(cause);
	}
	tv.tm = tmp;
	if (json) {
		arr = json_array();
		watcher = cmd_watcher_json(ctx);
	}
	for (size_t i = 0; i < (all ? n : 1); i++) {
		const struct session *s = all ? &v[i] : &one;
		struct svc_row *rows = NULL;
		size_t k = collect(ctx, s, root_id, &probe, procs, &rows, &names[i]), started = 0;
		const char *ts = k ? tmux_state(&tv, s) : NULL;

		for (size_t j = 0; j < k; j++) {
			bool ran = strcmp(rows[j].state, "not-started") != 0;

			started += ran;
			unhealthy |= !rows[j].healthy && ran;
		}
		unhealthy |= ts && started && strcmp(ts, "running");
		if (json) {
			json_t *o = json_object(), *svcs = json_array();

			for (size_t j = 0; j < k; j++)
				json_array_append_new(svcs, row_json(&rows[j]));
			json_object_set_new(o, "slug", json_string(s->slug));
			json_object_set_new(o, "slot", json_integer(s->slot));
			json_object_set_new(o, "status", json_string(session_display_status(s)));
			json_object_set_new(o, "services", svcs);
			cmd_docker_status(ctx, s, o, &unhealthy);
			db = cmd_db_json(ctx, &dbv, s->slug, NULL);
			json_object_set_new(o, "database", db ? db : json_null());
			json_object_set_new(
				o, "tmux",
				ts ? json_pack("{s:s, s:s}", "state", ts, "socket", tmp->socket)
				   : json_null());
			json_object_set(o, "watcher", watcher);
			json_array_append_new(arr, o);
		} else {
			if (i)
				printf("\n");
			print_rows(s, rows, k);
			cmd_docker_status(ctx, s, NULL, &unhealthy);
			json_decref(cmd_db_json(ctx, &dbv, s->slug, stdout));
			print_tmux(s, ts, started, tmp);
		}
		for (size_t j = 0; j < k; j++)
			row_finish(&rows[j]);
		free(rows);
	}
	if (json) {
		/* `status x --json` is one object; `status --json` every session */
		if (!all) {
			json_t *first = json_incref(json_array_get(arr, 0));

			json_decref(arr);
			arr = first;
		}
		out_json(arr);
	} else if (all && !n) {
		fprintf(stderr, "no sessions; `berth up <branch>` starts one\n");
	} else {
		cmd_print_watcher(ctx, stdout);
	}
	json_decref(watcher);
	cmd_db_view_finish(&dbv);
	probe_finish(&probe);
	strvec_clear(&tv.sessions);
	tmux_finish(&tm);
	free(root_id);
	for (size_t i = 0; i < (all ? n : 1); i++)
		strvec_clear(&names[i]);
	free(names);
	code = unhealthy ? EXIT_UNHEALTHY : EXIT_OK;
out:
	session_finish(&one);
	sessions_free(v, n);
	free(slug);
	return code;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.args = "[<slug>]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL,
			 "one JSON object (with a slug) or an array (docs/json.md)", COMPLETE_NONE,
			 NULL},
			{0},
		},
	.summary = "the services of a session: state, pid, uptime, restarts, port, listener",
	.help = "Without a slug: the session whose worktree holds the current directory, else\n"
		"every session. LISTENER says who really listens on the assigned port: ok (the\n"
		"service), not listening, or a wrong owner; and on which ports the service\n"
		"listens when that is not its own (wrong port). A service whose supervisor died\n"
		"is `lost`. Exit status 6 when a started service is not healthy.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_status_exec,
};
