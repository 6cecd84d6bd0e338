/*
 * cmd_whose.c: `berth whose :PORT | PID`: which session (and service) a port
 * or a process belongs to, and who really listens on a port.
 */
#include "util/common.h"

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "docker/docker.h"
#include "cmd/output.h"
#include "probe/marker.h"
#include "probe/probe.h"
#include "probe/proc.h"
#include "store/slot.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/parse.h"

static json_t *holder_json(const struct port_holder *h)
{
	json_t *o;
	char *user;

	if (h->kind != HOLDER_PROCESS)
		return json_null();
	o = json_object();
	json_object_set_new(o, "pid", json_integer(h->pid));
	json_object_set_new(o, "command", json_string(h->comm));
	json_object_set_new(o, "cmdline", h->cmdline ? json_string(h->cmdline) : json_null());
	json_object_set_new(o, "uid", json_integer(h->uid));
	/* every documented key is there: null for a uid without a name */
	user = proc_user_name(h->uid);
	json_object_set_new(o, "user", strncmp(user, "uid ", 4) ? json_string(user) : json_null());
	free(user);
	return o;
}

/* A port held by docker's proxy: the container publishing it, and the
 * session when its compose project is one of this repository's. */
static json_t *whose_container(struct cmd_ctx *ctx, const struct port_holder *h, unsigned port,
			       const struct session *v, size_t nv, bool json)
{
	struct docker d = {0};
	struct container c = {0};
	const char *slug = NULL;
	char *cause = NULL;
	json_t *o = json_null();

	if (h->kind != HOLDER_PROCESS || strcmp(h->comm, "docker-proxy") ||
	    cmd_docker_init(ctx, &d, environ, &cause) < 0 ||
	    docker_container_on_port(&d, (uint16_t)port, &c, &cause) < 0)
		goto out;
	for (size_t i = 0; i < nv && !slug; i++) {
		char *project = xasprintf("%s_%s", ctx->config.prefix, v[i].slug);

		if (!strcmp(project, c.status))
			slug = v[i].slug;
		free(project);
	}
	if (json) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", c.id, "name", c.state, "project",
			      c.status, "service", c.service, "slug",
			      slug ? json_string(slug) : json_null());
	} else {
		out_line(stdout, "  container: %s (%.12s), compose project %s, service %s", c.state,
			 c.id, c.status, c.service);
		if (slug)
			out_line(stdout, ": session '%s'", slug);
		printf("\n");
	}
out:
	free(c.id);
	free(c.service);
	free(c.state);
	free(c.status);
	docker_finish(&d);
	free(cause);
	return o;
}

/* The markers of pid or of its nearest ancestor that carries this
 * repository's (root_id) session markers: true with *m filled (the caller
 * finishes it). */
static bool session_of_pid(pid_t pid, const char *root_id, struct marker *m)
{
	struct proc_stat st;
	pid_t p = pid;

	memset(m, 0, sizeof(*m));
	for (int depth = 0; p > 1 && depth < 64; depth++) {
		if (marker_read(p, m) == 0 && m->root_id && m->session)
			break;
		marker_finish(m);
		memset(m, 0, sizeof(*m));
		if (proc_stat_read(p, &st) < 0)
			break;
		p = st.ppid;
	}
	return m->root_id && !strcmp(m->root_id, root_id);
}

static int whose_port(struct cmd_ctx *ctx, unsigned port, bool json)
{
	struct port_rec *all = NULL;
	struct session *v = NULL;
	struct probe probe = {0};
	struct port_holder h = {0};
	const struct port_rec *rec;
	const struct session *mine_s;
	const char *mine;
	size_t n = 0, nv = 0;
	struct marker m = {0};
	char *root_id = hash_root_id(ctx->root);
	bool owned = false;
	int r, code = EXIT_OK;

	if (state_ports_all(ctx->state, &all, &n) < 0 ||
	    state_sessions_list(ctx->state, &v, &nv) < 0) {
		out_error("whose: cannot read the state store: %s", state_errmsg(ctx->state));
		ports_free(all, n);
		free(root_id);
		return EXIT_FAIL;
	}
	rec = slot_recorded_port(all, n, port);
	mine_s = cmd_session_at(ctx->cwd, v, nv);
	mine = mine_s ? mine_s->slug : NULL;
	r = probe_init(&probe);
	if (r >= 0)
		r = probe_port(&probe, (uint16_t)port, NULL, 0, &h);
	if (r < 0) {
		out_error("whose: cannot probe port %u: %s", port, strerror(-r));
		code = EXIT_FAIL;
		goto out;
	}
	/* its listener's markers: the session it is of, recorded or not (a
	 * service on the wrong port) */
	owned = h.kind == HOLDER_PROCESS && session_of_pid(h.pid, root_id, &m);
	if (json) {
		json_t *o = json_object(), *recj = json_null();

		if (rec) {
			recj = json_object();
			json_object_set_new(recj, "slug", json_string(rec->slug));
			json_object_set_new(recj, "name", json_string(rec->name));
			json_object_set_new(recj, "this_session",
					    json_boolean(mine && !strcmp(mine, rec->slug)));
		}
		json_object_set_new(o, "port", json_integer(port));
		json_object_set_new(o, "recorded", recj);
		json_object_set_new(o, "listening", json_boolean(h.kind != HOLDER_FREE));
		json_object_set_new(o, "owner_visible", json_boolean(h.kind == HOLDER_PROCESS));
		json_object_set_new(o, "holder", holder_json(&h));
		/* every documented key is there: null when nothing listens */
		json_object_set_new(o, "socket_uid",
				    h.kind != HOLDER_FREE ? json_integer(h.uid) : json_null());
		json_object_set_new(o, "container", whose_container(ctx, &h, port, v, nv, true));
		json_object_set_new(
			o, "session",
			owned ? json_pack("{s:s, s:o}", "slug", m.session, "service",
					  m.service ? json_string(m.service) : json_null())
			      : json_null());
		out_json(o);
	} else {
		char *who = slot_holder_text(&h, NULL);

		if (rec)
			out_line(stdout, "port %u: %s session '%s' (%s)\n", port,
				 mine && !strcmp(mine, rec->slug) ? "this session," : "recorded by",
				 rec->slug, rec->name);
		else
			printf("port %u: not recorded by any session\n", port);
		if (h.kind == HOLDER_FREE)
			printf("  nothing listens on it\n");
		else
			out_line(stdout, "  listening: %s\n", who);
		if (owned)
			out_line(stdout, "  the listener belongs to session '%s'%s%s%s\n",
				 m.session, m.service ? ", service '" : "",
				 m.service ? m.service : "", m.service ? "'" : "");
		whose_container(ctx, &h, port, v, nv, false);
		free(who);
	}
	if (!rec && h.kind == HOLDER_FREE)
		code = EXIT_FAIL;
out:
	marker_finish(&m);
	free(root_id);
	port_holder_finish(&h);
	probe_finish(&probe);
	ports_free(all, n);
	sessions_free(v, nv);
	return code;
}

static int whose_pid(struct cmd_ctx *ctx, pid_t pid, bool json)
{
	char *root_id = hash_root_id(ctx->root);
	struct proc_stat top;
	struct marker m = {0};
	int r, code = EXIT_FAIL;

	r = proc_stat_read(pid, &top);
	if (r < 0) {
		/* the documented answer: nobody's (there is no such process) */
		if (json)
			out_json(json_pack("{s:i, s:b}", "pid", (int)pid, "owned", 0));
		out_error("whose: no process %d", (int)pid);
		free(root_id);
		return EXIT_FAIL;
	}
	if (session_of_pid(pid, root_id, &m)) {
		code = EXIT_OK;
		if (json) {
			json_t *o = json_object();

			json_object_set_new(o, "pid", json_integer(pid));
			json_object_set_new(o, "owned", json_true());
			json_object_set_new(o, "slug", json_string(m.session));
			json_object_set_new(o, "service",
					    m.service ? json_string(m.service) : json_null());
			out_json(o);
		} else {
			out_line(stdout, "pid %d (%s) belongs to session '%s'", (int)pid, top.comm,
				 m.session);
			if (m.service)
				out_line(stdout, ", service '%s'", m.service);
			printf("\n");
		}
	} else if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "pid", json_integer(pid));
		json_object_set_new(o, "owned", json_false());
		out_json(o);
	} else {
		out_line(stdout, "pid %d (%s) does not belong to any session of this repository\n",
			 (int)pid, top.comm);
	}
	marker_finish(&m);
	free(root_id);
	return code;
}

static int cmd_whose_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool json = cmdopt_has(ctx->args, "json");
	uint64_t v;

	if (argc != 2)
		return cmd_usage_error(&cmd_whose_entry, "give one :PORT or PID");
	if (argv[1][0] == ':') {
		if (parse_u64(argv[1] + 1, 1, 65535, &v) < 0)
			return cmd_usage_error(&cmd_whose_entry,
					       "'%s' is not a port (:1 to :65535)", argv[1]);
		return whose_port(ctx, (unsigned)v, json);
	}
	if (parse_u64(argv[1], 1, 4194304, &v) < 0)
		return cmd_usage_error(&cmd_whose_entry, "'%s' is neither :PORT nor a PID",
				       argv[1]);
	return whose_pid(ctx, (pid_t)v, json);
}

const struct cmd_entry cmd_whose_entry = {
	.name = "whose",
	.args = ":PORT | PID",
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL, "the answer as JSON (docs/json.md)", COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "tell which session owns a port or a process, and who listens",
	.help = "For a port: the session that recorded it (\"this session\" inside its "
		"worktree),\n"
		"and the process listening on it (pid, command, user), or that its owner is not\n"
		"visible (another user's process). For a pid: the session and service whose\n"
		"markers it or an ancestor carries. Exit 1 when nobody owns it.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_whose_exec,
};
