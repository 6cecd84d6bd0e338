/*
 * cmd_flush.c: `berth flush`: the hard reset of this repository, and of no
 * other. Its watcher is stopped; every session is taken down (shutdown's
 * machinery: a worktree with uncommitted work is kept without --force);
 * then what no session record names any more is swept: the repository's
 * private tmux server, every process carrying its markers (BERTH_ROOT_ID of
 * this root, with a session) and everything in its cgroup subtree, a
 * listener on one of its sessions' ports only when it is this repository's
 * (a foreign one is reported, never signalled), its compose projects
 * (`<prefix>_<slug>`, exactly), stale git worktree entries, and its state
 * under .berth/. Another repository on the same machine shares none of
 * these: its root id, cgroup, tmux socket and project names are its own.
 */
#include "util/common.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "db/database.h"
#include "db/server.h"
#include "cmd/output.h"
#include "docker/docker.h"
#include "probe/marker.h"
#include "probe/probe.h"
#include "proc/cgroup.h"
#include "proc/procset.h"
#include "store/session.h"
#include "store/slug.h"
#include "util/fsutil.h"
#include "util/hash.h"

/* What flush did, item by item, for the summary. */
struct flush {
	struct cmd_ctx *ctx;
	char *root_id;
	bool force;
	struct strvec lines; /* "item\ttext" */
	struct strvec kept;  /* sessions still in the store after their downs */
	bool failed;         /* something of ours is left */
};

static void say(struct flush *f, const char *item, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct flush *f, const char *item, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	strbuf_addf(&sb, "%s\t", item);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strvec_push_owned(&f->lines, strbuf_detach(&sb));
}

static void flush_watcher(struct flush *f)
{
	pid_t pid = 0;

	if (cmd_stop_watcher(f->ctx, &pid)) {
		f->failed = true;
		say(f, "watcher", "not stopped (see above)");
	} else if (pid) {
		say(f, "watcher", "stopped (pid %d)", (int)pid);
	}
}

/* berth's database server (stopped; its data removed unless a kept
 * session's database is there), or with a url, the seed copy on that
 * server. */
static void flush_database(struct flush *f)
{
	struct cmd_ctx *ctx = f->ctx;
	char *pgdir = dbserver_dir(ctx->berth_dir), *cause = NULL;

	if (path_is_dir(pgdir)) {
		bool ran = dbserver_running(ctx->berth_dir);

		if (cmd_db_stop_server(ctx, "flush", !f->kept.n)) {
			f->failed = true;
			say(f, "database server", "not removed (see above)");
		} else if (f->kept.n) {
			say(f, "database server",
			    "%s; kept: the kept sessions' databases are in %s",
			    ran ? "stopped" : "not running", pgdir);
		} else {
			say(f, "database server", "%sremoved with its data (%s)",
			    ran ? "stopped and " : "", pgdir);
		}
	} else if (ctx->config.database.url && !f->kept.n) {
		struct db_place p;
		struct pg_conn *conn = NULL;
		char *seed = database_seed_name(&ctx->config);

		if (database_place(&ctx->config, ctx->berth_dir, &p, &cause) == 0) {
			if (database_connect(&p, &conn, &cause) == 0 &&
			    pg_db_exists(conn, seed, &cause) > 0 &&
			    pg_db_drop(conn, seed, &cause) == 0)
				say(f, "database", "dropped the seed copy %s", seed);
			pg_close(conn);
			database_place_finish(&p);
		}
		if (cause) {
			f->failed = true;
			say(f, "database", "the seed copy %s was not dropped: %s", seed, cause);
		}
		free(seed);
	}
	free(cause);
	free(pgdir);
}

/* The repository's private tmux server, on its own socket only. */
static void flush_tmux(struct flush *f)
{
	struct tmux t;
	char *cause = NULL, *msg = NULL;
	pid_t pid = 0;

	if (!tmux_socket_exists(f->root_id))
		return;
	if (tmux_init(&t, f->root_id, environ, &cause) < 0) {
		f->failed = true;
		say(f, "tmux server", "not killed: %s", cause);
		free(cause);
		return;
	}
	if (tmux_kill_server(&t, &pid, &msg) < 0) {
		f->failed = true;
		say(f, "tmux server", "not killed: %s", msg ? msg : "tmux does not answer");
	} else if (pid) {
		say(f, "tmux server", "killed (pid %d, socket %s)", (int)pid, t.socket);
	} else {
		say(f, "tmux server", "none ran; removed its stale socket %s", t.socket);
	}
	free(msg);
	tmux_finish(&t);
}

/* Print what survived a stop. */
static void report_survivors(struct flush *f, const char *what, const struct procset_result *res)
{
	f->failed = true;
	say(f, "processes", "%zu of %s still run%s", res->n_survivors, what,
	    res->n_survivors == 1 ? "s" : "");
	for (size_t i = 0; i < res->n_survivors && i < 20; i++) {
		char *line = NULL;

		proc_cmdline(res->survivors[i].pid, &line);
		say(f, "", "pid %d: %s", (int)res->survivors[i].pid, line ? line : "?");
		free(line);
	}
}

/* Every process with the repository's markers, and everything in its cgroup
 * subtree (cg, may be NULL): sessions the store no longer names included. */
static void flush_processes(struct flush *f, const char *cg)
{
	struct procset set = {.cgroup = cg, .marks = PROCSET_MARKS_ROOT, .root_id = f->root_id};
	struct procset_result res = {0};
	int r;

	r = procset_stop(&set, SIGTERM, f->ctx->config.stop_grace_ms, -1, &res);
	if (r < 0) {
		f->failed = true;
		say(f, "processes", "cannot stop them: %s", strerror(-r));
		return;
	}
	if (res.n_survivors)
		report_survivors(f, "this repository's processes", &res);
	else if (res.signalled)
		say(f, "processes", "stopped %u that no session record held%s", res.signalled,
		    res.killed ? " (some had to be killed)" : "");
	procset_result_finish(&res);
}

/* Is pid this repository's: its markers, or a member of its cgroup? */
static bool process_is_ours(struct flush *f, pid_t pid, const pid_t *cg, size_t n_cg)
{
	struct marker m;
	bool ours = false;

	for (size_t i = 0; i < n_cg; i++)
		if (cg[i] == pid)
			return true;
	if (marker_read(pid, &m) == 0) {
		ours = marker_of_root(&m, f->root_id);
		marker_finish(&m);
	}
	return ours;
}

/* A listener on a port of the repository's sessions: stopped when it is
 * the repository's own, told (and left alone) when it is not. */
static void flush_ports(struct flush *f, const unsigned *ports, size_t n, const char *cg)
{
	struct probe p;
	struct proc_ref *ours = NULL;
	size_t n_ours = 0, n_cg = 0;
	pid_t *cgp = NULL;

	if (!n || probe_init(&p) < 0)
		return;
	if (cg)
		cgroup_pids(cg, &cgp, &n_cg);
	ours = xcalloc(n, sizeof(*ours));
	for (size_t i = 0; i < n; i++) {
		struct port_holder h;

		if (!probe_listening(&p, (uint16_t)ports[i]) ||
		    probe_port(&p, (uint16_t)ports[i], NULL, 0, &h) < 0)
			continue;
		if (h.kind == HOLDER_PROCESS && process_is_ours(f, h.pid, cgp, n_cg))
			ours[n_ours++] = (struct proc_ref){h.pid, h.start_time};
		else if (h.kind == HOLDER_PROCESS)
			say(f, "ports",
			    "%u: held by pid %d (%s), not this repository's: left alone", ports[i],
			    (int)h.pid, h.comm);
		else if (h.kind == HOLDER_HIDDEN)
			say(f, "ports", "%u: held by %s: left alone", ports[i], SVC_PORT_HIDDEN);
		port_holder_finish(&h);
	}
	if (n_ours) {
		struct procset set = {.refs = ours, .n_refs = n_ours};
		struct procset_result res = {0};

		if (procset_stop(&set, SIGTERM, f->ctx->config.stop_grace_ms, -1, &res) < 0 ||
		    res.n_survivors)
			report_survivors(f, "the listeners on its ports", &res);
		else
			say(f, "ports", "stopped %zu listener%s of this repository", n_ours,
			    n_ours == 1 ? "" : "s");
		procset_result_finish(&res);
	}
	free(ours);
	free(cgp);
	probe_finish(&p);
}

static void flush_cgroup(struct flush *f, const char *cg)
{
	int r;

	if (!cg || !path_is_dir(cg))
		return;
	r = cgroup_remove(cg);
	if (r < 0) {
		f->failed = true;
		say(f, "cgroup", "cannot remove %s: %s", cg, strerror(-r));
	} else {
		say(f, "cgroup", "removed %s", cg);
	}
}

/* The compose projects `<prefix>_<slug>`, exactly: every project name on the
 * engine is checked, none is taken for merely containing the prefix. A
 * session kept for its uncommitted work keeps its volumes. */
static void flush_docker(struct flush *f)
{
	struct cmd_ctx *ctx = f->ctx;
	char *compose_dir = path_join(ctx->berth_dir, "compose"), *cause = NULL;
	char *prefix = xasprintf("%s_", ctx->config.prefix);
	bool needed = config_uses_docker(&ctx->config) || path_is_dir(compose_dir);
	struct strvec names = STRVEC_INIT, removed = STRVEC_INIT;
	struct docker d = {0};
	size_t pl = strlen(prefix);

	if (cmd_docker_init(ctx, &d, environ, &cause) < 0) {
		/* a repository that never used docker needs no engine */
		if (needed) {
			f->failed = true;
			say(f, "compose", "not checked: %s", cause);
		}
		goto out;
	}
	if (docker_projects(&d, &names, &cause) < 0) {
		f->failed = true;
		say(f, "compose", "cannot list the projects: %s", cause);
		goto out;
	}
	for (size_t i = 0; i < names.n; i++) {
		const char *slug = names.v[i] + pl;
		char *why = NULL, *file, *dir;
		int r;

		if (strncmp(names.v[i], prefix, pl) || slug_check(slug, &why) < 0 ||
		    strvec_find(&f->kept, slug) >= 0) {
			free(why);
			continue;
		}
		dir = xasprintf("%s/%s", compose_dir, slug);
		file = path_join(dir, "docker-compose.yml");
		/* A prefix set in .berth.ini may be every clone's: a project no
		 * session of this repository left a file for may be another's. */
		if (ctx->config.prefix_set && !path_exists(dir)) {
			say(f, "compose",
			    "kept %s: the prefix '%s' is set in %s, so it may be another clone's; "
			    "`docker compose -p %s down --volumes` removes it",
			    names.v[i], ctx->config.prefix, CONFIG_FILE, names.v[i]);
			free(file);
			free(dir);
			continue;
		}
		r = docker_project_remove(
			&d,
			&(struct compose_project){names.v[i], path_exists(file) ? file : NULL,
						  ctx->root},
			false, (unsigned)((ctx->config.stop_grace_ms + 999) / 1000), &why);
		if (r < 0) {
			f->failed = true;
			say(f, "compose", "cannot remove the project %s: %s", names.v[i], why);
		} else {
			strvec_push(&removed, names.v[i]);
		}
		free(why);
		free(file);
		free(dir);
	}
	if (removed.n) {
		struct strbuf sb = STRBUF_INIT;

		for (size_t i = 0; i < removed.n; i++)
			strbuf_addf(&sb, "%s%s", i ? ", " : "", removed.v[i]);
		say(f, "compose", "removed %zu project%s with its volumes and networks: %s",
		    removed.n, removed.n == 1 ? "" : "s", sb.buf);
		strbuf_release(&sb);
	}
out:
	docker_finish(&d);
	strvec_clear(&names);
	strvec_clear(&removed);
	free(cause);
	free(prefix);
	free(compose_dir);
}

/* What killed commands left in the worktree directory, and git's entries
 * of worktrees that are gone. A worktree berth made went with its session's
 * down; anything else there is told, never deleted. */
static void flush_worktrees(struct flush *f, const struct session *v, size_t n)
{
	struct cmd_ctx *ctx = f->ctx;
	char *wtdir = path_join(ctx->root, ctx->config.worktree_dir), *cause = NULL;
	struct dirent *de;
	unsigned pruned = 0, what = 0;
	bool first = true;
	DIR *d;

	d = opendir(wtdir);
	while (d && (de = readdir(d))) {
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = path_join(wtdir, de->d_name);
		/* once: it finishes what was left beside any path of the directory */
		if (first && worktree_recover(ctx->root, p, NULL, NULL, &what, &cause) < 0) {
			say(f, "worktrees", "%s", cause);
			free(cause);
			cause = NULL;
		} else if (first && (what & WT_RECOVER_SWEPT)) {
			say(f, "worktrees", "removed what killed commands left in %s", wtdir);
		}
		first = false;
		free(p);
	}
	if (d)
		closedir(d);
	if (worktree_prune(ctx->root, &pruned, &cause) < 0) {
		f->failed = true;
		say(f, "worktrees", "cannot prune git's worktree entries: %s", cause);
		free(cause);
	} else if (pruned) {
		say(f, "worktrees", "pruned %u stale git worktree entr%s", pruned,
		    pruned == 1 ? "y" : "ies");
	}
	d = opendir(wtdir);
	while (d && (de = readdir(d))) {
		char *p;
		bool known = false;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = path_join(wtdir, de->d_name);
		for (size_t i = 0; i < n && !known; i++)
			known = strvec_find(&f->kept, v[i].slug) >= 0 && !strcmp(v[i].worktree, p);
		if (!known)
			say(f, "worktrees", "left %s: no session of berth's has it", p);
		free(p);
	}
	if (d)
		closedir(d);
	/* the default worktree directory is berth's own, inside .berth */
	if (path_is_inside(wtdir, ctx->berth_dir))
		rmdir(wtdir);
	free(wtdir);
}

/* The entries of dir (run/, logs/, compose/) of no kept session. */
static int remove_unkept(struct flush *f, const char *name)
{
	char *dir = path_join(f->ctx->berth_dir, name);
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = 0;

	while (d && (de = readdir(d))) {
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    strvec_find(&f->kept, de->d_name) >= 0)
			continue;
		p = path_join(dir, de->d_name);
		if (rm_rf(p) < 0 && r == 0)
			r = -errno;
		free(p);
	}
	if (d)
		closedir(d);
	if (!f->kept.n)
		rmdir(dir);
	free(dir);
	return r;
}

/* .berth/: the state store and every run, log, compose and cache file, when no
 * session is left in it; else the files of the sessions that are gone.
 * .berth.ini (in the root) and anything not berth's are kept. */
static void flush_state(struct flush *f)
{
	static const char *const files[] = {
		"state.db",   "state.db-wal", "state.db-shm", "state.db.lock",
		"watch.lock", "watch.log",    "watch.log.1",
	};
	/* cache/: what berth keeps to go faster (the compose flavour) */
	static const char *const dirs[] = {"run", "logs", "compose", "cache"};
	struct cmd_ctx *ctx = f->ctx;
	struct dirent *de;
	DIR *d;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (remove_unkept(f, dirs[i]) < 0)
			r = -errno;
	if (f->kept.n) {
		say(f, "state", "kept: %zu session%s still in %s/state.db", f->kept.n,
		    f->kept.n == 1 ? " is" : "s are", ctx->berth_dir);
		goto out;
	}
	state_close(ctx->state);
	ctx->state = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = path_join(ctx->berth_dir, files[i]);

		if (unlink(p) < 0 && errno != ENOENT)
			r = -errno;
		free(p);
	}
	/* what a killed creator of the store left */
	d = opendir(ctx->berth_dir);
	while (d && (de = readdir(d))) {
		if (!strncmp(de->d_name, "state.db.new.", strlen("state.db.new."))) {
			char *p = path_join(ctx->berth_dir, de->d_name);

			unlink(p);
			free(p);
		}
	}
	if (d)
		closedir(d);
	if (r < 0) {
		f->failed = true;
		say(f, "state", "not all removed from %s: %s", ctx->berth_dir, strerror(-r));
	} else {
		say(f, "state", "removed (%s: state.db, run/, logs/, compose/, cache/)",
		    ctx->berth_dir);
	}
	rmdir(ctx->berth_dir); /* when nothing else is in it */
out:
	return;
}

static void print_lines(const struct flush *f)
{
	for (size_t i = 0; i < f->lines.n; i++) {
		const char *tab = strchr(f->lines.v[i], '\t');

		out_line(stdout, "  %-12.*s %s\n", (int)(tab - f->lines.v[i]), f->lines.v[i],
			 tab + 1);
	}
}

static int cmd_flush_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct flush f = {.ctx = ctx,
			  .lines = STRVEC_INIT,
			  .kept = STRVEC_INIT,
			  .force = cmdopt_has(ctx->args, "force")};
	struct shutdown_report rep = {0};
	struct session *v = NULL, *after = NULL;
	size_t n = 0, n_after = 0, n_ports = 0, ports_alloc = 0;
	unsigned *ports = NULL;
	char *base = NULL, *why = NULL, *cg = NULL, *question;
	bool yes = cmdopt_has(ctx->args, "yes");
	int code = EXIT_OK;

	if (argc > 1)
		return cmd_usage_error(&cmd_flush_entry, "unexpected argument '%s'", argv[1]);
	if (cmd_store_writable(ctx))
		return EXIT_FAIL;
	if (!yes && !isatty(STDIN_FILENO)) {
		out_error("flush: refused: it ends every session, process, container and worktree "
			  "of the repository '%s' and removes its state, and stdin is not a "
			  "terminal to confirm it; nothing was changed; pass --yes",
			  ctx->root);
		return EXIT_USAGE;
	}
	question = xasprintf("berth: flush ends every session, process, container and worktree of "
			     "the repository '%s' and removes its state.",
			     ctx->root);
	if (!yes && !cmd_confirm(question, "yes")) {
		out_error("flush: not confirmed; nothing was changed");
		free(question);
		return EXIT_FAIL;
	}
	free(question);

	/* run from a session's tmux shell, our terminal hangs up when that
	 * session or the tmux server ends: the rest must still be done */
	signal(SIGHUP, SIG_IGN);
	f.root_id = hash_root_id(ctx->root);
	if (cgroup_base(&base, &why) == 0)
		cg = xasprintf("%s/%s", base, f.root_id);
	flush_watcher(&f);
	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("flush: cannot read the state store: %s; nothing was changed",
			  state_errmsg(ctx->state));
		code = EXIT_FAIL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		XGROW(ports, ports_alloc, n_ports + v[i].n_ports + 1);
		for (size_t j = 0; j < v[i].n_ports; j++)
			ports[n_ports++] = v[i].ports[j].port;
	}
	out_line(stdout, "flush of %s:\n", ctx->root);
	if (n) {
		out_step("taking down %zu session%s", n, n == 1 ? "" : "s");
		if (cmd_shutdown_run(ctx, v, n, false, f.force, &rep) < 0) {
			code = EXIT_FAIL;
			goto out;
		}
		code = cmd_shutdown_print(&rep, "flush");
		if (rep.interrupted)
			goto out;
	}
	if (state_sessions_list(ctx->state, &after, &n_after) == 0)
		for (size_t i = 0; i < n_after; i++)
			strvec_push(&f.kept, after[i].slug);
	out_step("sweeping what is left of the repository (root id %s)", f.root_id);
	flush_database(&f);
	flush_tmux(&f);
	flush_processes(&f, cg && path_is_dir(cg) ? cg : NULL);
	flush_ports(&f, ports, n_ports, cg && path_is_dir(cg) ? cg : NULL);
	flush_cgroup(&f, cg);
	flush_docker(&f);
	flush_worktrees(&f, v, n);
	flush_state(&f);

	if (!f.lines.n)
		out_line(stdout, "  %s\n", n ? "nothing else was left" : "nothing was left");
	print_lines(&f);
	if (f.failed) {
		out_error("flush: not everything of the repository could be removed (see above)");
		code = EXIT_FAIL;
	} else if (code == EXIT_OK) {
		out_line(stdout, "the repository has no session, process, container or state of "
				 "berth's left\n");
	}
out:
	shutdown_report_finish(&rep);
	sessions_free(v, n);
	sessions_free(after, n_after);
	strvec_clear(&f.lines);
	strvec_clear(&f.kept);
	free(ports);
	free(f.root_id);
	free(base);
	free(why);
	free(cg);
	return code;
}

const struct cmd_entry cmd_flush_entry = {
	.name = "flush",
	.opts =
		(const struct cmd_opt[]){
			{"yes", 'y', NULL, "do not ask", COMPLETE_NONE, NULL},
			{"force", 'f', NULL,
			 "delete worktrees even with uncommitted or untracked work", COMPLETE_NONE,
			 NULL},
			{0},
		},
	.summary = "the hard reset of this repository: every session, process, container, state",
	.help = "Stops the watcher, takes every session down (as `berth shutdown`: a worktree\n"
		"with uncommitted work is stopped and kept, exit 7, unless --force), then\n"
		"removes what is left of this repository only: its tmux server, every process\n"
		"with its markers or in its cgroup, its listeners on its sessions' ports (a\n"
		"foreign one is reported, never killed), its compose projects <prefix>_<slug>\n"
		"with their volumes, stale worktree entries, and its state under .berth/\n"
		"(.berth.ini stays). Other repositories are not touched. Asks for `yes` on a\n"
		"terminal; without one, --yes is required (exit 2).\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.owner = OWNER_NONE,
	.exec = cmd_flush_exec,
};
