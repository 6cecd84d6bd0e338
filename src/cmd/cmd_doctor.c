/*
 * cmd_doctor.c: `berth doctor`: what berth needs from the machine, checked
 * one item per line (ok / warn / fail), each failing line saying what to do:
 * git, libgit2 and the repository, the process layer (pidfds, the child
 * subreaper, /proc and its children files, sock_diag), containment (cgroup v2
 * or the subreaper fallback), tmux and its socket directory, docker and its
 * compose flavour, PostgreSQL for [database], and the integrity of the state
 * store. It changes nothing of the repository nor creates anything: it runs
 * outside one too, and never creates the state store or the socket directory.
 */
#include "util/common.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "db/database.h"
#include "db/server.h"
#include "docker/docker.h"
#include "git/git2.h"
#include "probe/listeners.h"
#include "proc/cgroup.h"
#include "proc/pidref.h"
#include "proc/run.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"

#define DOCTOR_GIT_MS 5000
#define DOCTOR_TMUX_MS 5000
#define DOCTOR_DOCKER_MS 5000 /* a daemon that does not answer by then is reported */

enum check_status { CHECK_OK, CHECK_WARN, CHECK_FAIL };

struct check {
	const char *name;
	enum check_status status;
	char *detail;
};

struct doctor {
	struct check *v;
	size_t n, alloc;
	/* what the repository's config asks for, when there is one */
	bool in_repo;
	bool have_config;
	struct config config;
	char *cgroup; /* the containment base, NULL: subreaper fallback */
};

static const char *const status_names[] = {"ok", "warn", "fail"};

static void add(struct doctor *d, const char *name, enum check_status status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(struct doctor *d, const char *name, enum check_status status, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	XGROW(d->v, d->alloc, d->n + 1);
	d->v[d->n++] = (struct check){name, status, strbuf_detach(&sb)};
}

/* ---- git ---- */

static char *first_line(const struct strbuf *sb)
{
	const char *s = sb->buf ? sb->buf : "";

	return xstrndup(s, strcspn(s, "\n"));
}

/* berth itself works through libgit2; git is for the people and hooks that
 * work in the worktrees it makes. */
static void check_git_cli(struct doctor *d)
{
	const char *argv[] = {"git", "--version", NULL};
	struct spawn_opts o = {0};
	struct strbuf out = STRBUF_INIT;
	char *why = NULL, *line;
	int r;

	o.argv = (char *const *)argv;
	o.stdin_fd = -1;
	r = spawn_run_checked(&o, DOCTOR_GIT_MS, &out, &why);
	line = first_line(&out);
	if (r == -ENOENT)
		add(d, "git", CHECK_WARN,
		    "git is not installed: berth works through libgit2, but you (and your hooks) "
		    "need git in the worktrees it makes (apt-get install git)");
	else if (r < 0)
		add(d, "git", CHECK_WARN, "`git --version` fails: %s; check your git installation",
		    why);
	else
		add(d, "git", CHECK_OK, "%s", line);
	free(line);
	free(why);
	strbuf_release(&out);
}

static void check_git(struct doctor *d, struct cmd_ctx *ctx)
{
	char *cause = NULL, *path;
	int major = 0, minor = 0, rev = 0, r;

	check_git_cli(d);
	r = git2_load(&cause);
	if (r < 0) {
		add(d, "libgit2", CHECK_FAIL, "%s: berth cannot create or remove worktrees", cause);
		free(cause);
		cause = NULL;
	} else {
		/* its set-up: whether the CA bundle's parse was skipped (git2.c) */
		bool no_ca = worktree_lib_init(NULL) == 0 && git2_ca_skipped();

		git_libgit2_version(&major, &minor, &rev);
		add(d, "libgit2", CHECK_OK, "libgit2 %d.%d.%d%s", major, minor, rev,
		    no_ca ? " (its CA bundle is not parsed: berth speaks to no remote)" : "");
	}

	r = worktree_locate(ctx->cwd, &ctx->loc, &cause);
	if (r < 0) {
		/* not a failure of the machine: doctor runs anywhere */
		add(d, "repository", CHECK_WARN,
		    "%s ('%s'): berth works inside a git repository; run it in your project "
		    "(or `git init` one)",
		    cause, ctx->cwd);
		free(cause);
		return;
	}
	d->in_repo = true;
	ctx->root = ctx->loc.main_root;
	ctx->berth_dir = path_join(ctx->root, ".berth");
	if (ctx->loc.in_linked)
		add(d, "repository", CHECK_OK, "%s (a linked worktree of %s)", ctx->loc.current,
		    ctx->root);
	else
		add(d, "repository", CHECK_OK, "%s", ctx->root);

	path = path_join(ctx->root, CONFIG_FILE);
	if (!path_exists(path)) {
		add(d, "config", CHECK_WARN, "no %s in '%s': run `berth init` there", CONFIG_FILE,
		    ctx->root);
	} else if (config_load(&d->config, ctx->root, path, &cause) < 0) {
		add(d, "config", CHECK_FAIL, "%s; fix it (`berth validate` checks it)", cause);
		free(cause);
	} else {
		d->have_config = true;
		add(d, "config", CHECK_OK, "%s (mode %s, runner %s, %zu service%s)", path,
		    config_mode_name(d->config.mode), config_runner_name(d->config.runner),
		    d->config.n_services, d->config.n_services == 1 ? "" : "s");
	}
	free(path);
}

/* ---- process supervision ---- */

/* Who listens on which port: what port allocation and `status` ask. */
static void check_sock_diag(struct doctor *d)
{
	struct listener_set set = {0};
	int r = listeners_dump_netlink(&set), r2;

	if (r >= 0) {
		add(d, "sock_diag", CHECK_OK,
		    "a NETLINK_SOCK_DIAG dump works (%zu listening TCP socket%s): berth sees who "
		    "listens on a port without reading /proc/net",
		    set.n, set.n == 1 ? "" : "s");
		listener_set_finish(&set);
		return;
	}
	listener_set_finish(&set);
	r2 = listeners_dump_procnet(&set, "/proc");
	listener_set_finish(&set);
	if (r2 >= 0)
		add(d, "sock_diag", CHECK_WARN,
		    "a NETLINK_SOCK_DIAG dump fails (%s): berth falls back to parsing "
		    "/proc/net/tcp{,6}, which is slower on a busy machine; a container needs "
		    "its own network namespace's netlink (no seccomp filter that denies "
		    "AF_NETLINK)",
		    strerror(-r));
	else
		add(d, "sock_diag", CHECK_FAIL,
		    "a NETLINK_SOCK_DIAG dump fails (%s) and /proc/net/tcp cannot be read (%s): "
		    "berth cannot tell which ports are taken; mount /proc and allow AF_NETLINK",
		    strerror(-r), strerror(-r2));
}

static void check_processes(struct doctor *d)
{
	char *text = NULL, *children;
	size_t len = 0;
	int fd, v = 0, r;

	fd = pidref_pidfd_open(getpid());
	if (fd >= 0) {
		close(fd);
		add(d, "pidfd", CHECK_OK,
		    "pidfd_open works: berth waits for its processes through pidfds");
	} else {
		add(d, "pidfd", CHECK_WARN,
		    "pidfd_open fails (%s): berth falls back to SIGCHLD and checks each pid's "
		    "start time before it signals it; Linux 5.3 or later has pidfds",
		    strerror(-fd));
	}

	/* Set it on ourselves, as every shim does, then put back what was. */
	if (prctl(PR_GET_CHILD_SUBREAPER, (unsigned long)&v, 0, 0, 0) == 0 &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0, 0, 0) == 0) {
		prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)v, 0, 0, 0);
		add(d, "subreaper", CHECK_OK,
		    "prctl(PR_SET_CHILD_SUBREAPER) works: each shim adopts what its service "
		    "double-forks or detaches with setsid");
	} else {
		add(d, "subreaper", CHECK_FAIL,
		    "prctl(PR_SET_CHILD_SUBREAPER) fails (%s): a shim cannot adopt its service's "
		    "orphans; berth needs Linux 3.4 or later (and no seccomp filter that denies "
		    "it)",
		    strerror(errno));
	}

	r = read_file("/proc/self/stat", 4096, &text, &len);
	free(text);
	if (r == 0 && len > 0)
		add(d, "proc", CHECK_OK, "/proc is mounted and readable");
	else
		add(d, "proc", CHECK_FAIL,
		    "cannot read /proc/self/stat (%s): berth identifies processes through /proc; "
		    "mount it (`mount -t proc proc /proc`)",
		    r < 0 ? strerror(-r) : "empty");

	children = xasprintf("/proc/self/task/%ld/children", (long)syscall(SYS_gettid));
	text = NULL;
	r = read_file(children, 1u << 16, &text, &len);
	free(text);
	if (r == 0)
		add(d, "proc-children", CHECK_OK,
		    "/proc/<pid>/task/<tid>/children is available: a service's process tree is "
		    "walked from its root");
	else
		add(d, "proc-children", CHECK_FAIL,
		    "cannot read %s (%s): a shim cannot find its service's descendants to stop "
		    "them; use a kernel built with CONFIG_PROC_CHILDREN (every distribution "
		    "kernel is)",
		    children, strerror(-r));
	free(children);
	check_sock_diag(d);
}

/* ---- containment ---- */

static void check_containment(struct doctor *d)
{
	char *base = NULL, *why = NULL, *kill_file;

	if (cgroup_base(&base, &why) < 0) {
		add(d, "containment", CHECK_WARN,
		    "none: %s; berth falls back to its shims' subreaper and environment markers: "
		    "a process that leaves its group and clears its environment after its "
		    "supervisor was killed cannot be found",
		    why);
		free(why);
		return;
	}
	d->cgroup = base;
	kill_file = path_join(base, "cgroup.kill");
	if (path_exists(kill_file))
		add(d, "containment", CHECK_OK,
		    "cgroup v2 at %s: a session's processes are contained (cgroup.kill)", base);
	else
		add(d, "containment", CHECK_WARN,
		    "cgroup v2 at %s: a session's processes are contained, but the kernel has no "
		    "cgroup.kill (Linux 5.14 or later): berth signals each member of a group "
		    "instead of killing it at once",
		    base);
	free(kill_file);
}

/* ---- tmux ---- */

static void check_tmux(struct doctor *d)
{
	const char *argv[] = {"tmux", "-V", NULL};
	struct spawn_opts o = {0};
	struct strbuf out = STRBUF_INIT;
	bool needed = d->have_config && d->config.runner == RUNNER_TMUX;
	enum check_status bad = needed ? CHECK_FAIL : CHECK_WARN;
	const char *unneeded = needed ? "" : " (needed only for runner = tmux)";
	char *why = NULL, *line;
	int version = 0, r;

	/* `tmux -V` alone: tmux_init would also make the socket directory */
	o.argv = (char *const *)argv;
	o.stdin_fd = -1;
	r = spawn_run_checked(&o, DOCTOR_TMUX_MS, &out, &why);
	line = first_line(&out);
	if (r == -ENOENT)
		add(d, "tmux", bad,
		    "tmux is not installed%s: install tmux %d.%d or later "
		    "(apt-get install tmux)",
		    unneeded, TMUX_VERSION_MIN / 100, TMUX_VERSION_MIN % 100);
	else if (r < 0)
		add(d, "tmux", bad, "`tmux -V` fails%s: %s", unneeded, why);
	else if (tmux_version_parse(out.buf ? out.buf : "", &version) < 0)
		add(d, "tmux", bad, "cannot tell the version of tmux from '%s'%s", line, unneeded);
	else if (version < TMUX_VERSION_MIN)
		add(d, "tmux", bad,
		    "%s is too old%s: the tmux runner needs %d.%d or later; upgrade it", line,
		    unneeded, TMUX_VERSION_MIN / 100, TMUX_VERSION_MIN % 100);
	else
		add(d, "tmux", CHECK_OK, "%s (the tmux runner needs %d.%d or later)", line,
		    TMUX_VERSION_MIN / 100, TMUX_VERSION_MIN % 100);
	free(line);
	free(why);
	strbuf_release(&out);
}

/* The directory of the tmux runner's sockets: read, never created. */
static void check_socket_dir(struct doctor *d)
{
	bool needed = d->have_config && d->config.runner == RUNNER_TMUX;
	enum check_status bad = needed ? CHECK_FAIL : CHECK_WARN;
	const char *unneeded = needed ? "" : " (used only by runner = tmux)";
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char *dir = tmux_socket_dir_path(), *cause = NULL;
	struct stat st;
	const char *where =
		rt && *rt == '/' ? "under $XDG_RUNTIME_DIR" : "in /tmp: XDG_RUNTIME_DIR is not set";
	int r = tmux_socket_dir_check(dir, &cause);

	if (r == -ENOENT)
		add(d, "socket-dir", CHECK_OK,
		    "%s (%s) is not there yet: the tmux runner makes it, mode 0700", dir, where);
	else if (r == -EPERM && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
		 st.st_uid == getuid())
		add(d, "socket-dir", bad,
		    "%s has mode %04o%s: others can reach the tmux server's socket there, and "
		    "berth refuses it; `chmod 700 %s`",
		    dir, (unsigned)(st.st_mode & 07777), unneeded, dir);
	else if (r < 0)
		add(d, "socket-dir", bad, "%s%s", cause, unneeded);
	else
		add(d, "socket-dir", CHECK_OK, "%s (%s): yours, mode 0700", dir, where);
	free(cause);
	free(dir);
}

/* ---- docker ---- */

static void check_docker(struct doctor *d)
{
	const char *argv[] = {"docker", "version", "--format", "{{.Server.Version}}", NULL};
	struct spawn_opts o = {0};
	struct strbuf out = STRBUF_INIT;
	struct docker dk;
	bool needed = d->have_config && config_uses_docker(&d->config);
	enum check_status bad = needed ? CHECK_FAIL : CHECK_WARN;
	const char *unneeded = needed ? "" : " (this config uses no docker service)";
	char *why = NULL, *cause = NULL, *version = NULL;
	int r;

	/* The daemon first, with a short deadline of our own: docker_init
	 * waits longer, for commands that must not give up early. */
	o.argv = (char *const *)argv;
	o.stdin_fd = -1;
	r = spawn_run_checked(&o, DOCTOR_DOCKER_MS, &out, &why);
	if (r == -ENOENT) {
		add(d, "docker", bad,
		    "docker is not installed%s: install the Docker engine and a compose "
		    "(apt-get install docker.io docker-compose)",
		    unneeded);
		goto out;
	}
	if (r < 0) {
		const char *host = getenv("DOCKER_HOST");

		if (host && *host)
			add(d, "docker", bad,
			    "the Docker daemon at DOCKER_HOST=%s does not answer%s (%s): start it, "
			    "or point DOCKER_HOST at one that runs (unset, docker uses "
			    "/var/run/docker.sock)",
			    host, unneeded, why);
		else
			add(d, "docker", bad,
			    "the Docker daemon does not answer%s (%s): start it (`systemctl start "
			    "docker`, or dockerd)",
			    unneeded, why);
		goto out;
	}
	version = first_line(&out);
	r = docker_init(&dk, environ, NULL, &cause); /* probed, not from the cache */
	if (r < 0) {
		add(d, "docker", bad, "daemon %s answers, but%s: %s", version, unneeded, cause);
		goto out;
	}
	add(d, "docker", CHECK_OK, "daemon %s answers; compose: %s", version,
	    dk.flavour == COMPOSE_V2 ? "the v2 plugin (`docker compose`)"
				     : "v1 (`docker-compose`)");
	docker_finish(&dk);
out:
	free(version);
	free(cause);
	free(why);
	strbuf_release(&out);
}

/* ---- [database] ---- */

static void check_database(struct doctor *d, struct cmd_ctx *ctx)
{
	struct db_place p;
	struct pg_conn *conn = NULL;
	char *cause = NULL, *bindir = NULL;

	if (!d->have_config || !d->config.database.enabled)
		return;
	if (!d->config.database.url) {
		bindir = dbserver_find_bindir();
		if (!bindir) {
			add(d, "database", CHECK_FAIL,
			    "[database] needs PostgreSQL's server, which is not installed: "
			    "apt-get install postgresql (or set [database] url)");
			return;
		}
		if (!dbserver_running(ctx->berth_dir)) {
			add(d, "database", CHECK_OK,
			    "berth's server (PostgreSQL in %s) is not running: `berth up` starts "
			    "it",
			    bindir);
			free(bindir);
			return;
		}
	}
	if (database_place(&d->config, ctx->berth_dir, &p, &cause) == 0) {
		if (database_connect(&p, &conn, &cause) == 0)
			add(d, "database", CHECK_OK, "%s answers (PostgreSQL %d)",
			    d->config.database.url ? "the server" : "berth's server",
			    pg_server_major(conn));
		pg_close(conn);
		database_place_finish(&p);
	}
	if (cause) {
		char *url = d->config.database.url ? config_url_redacted(d->config.database.url)
						   : xstrdup("berth's server");

		add(d, "database", CHECK_FAIL, "%s: %s", url, cause);
		free(url);
	}
	free(cause);
	free(bindir);
}

/* ---- the state store ---- */

static void check_state(struct doctor *d, struct cmd_ctx *ctx)
{
	char *path, *cause = NULL;
	int r;

	if (!d->in_repo)
		return;
	path = path_join(ctx->berth_dir, "state.db");
	r = state_check(path, &cause);
	if (r == -ENOENT)
		add(d, "state.db", CHECK_OK,
		    "no state store yet (the first command that needs it creates %s)", path);
	else if (r < 0)
		add(d, "state.db", CHECK_FAIL, "%s", cause);
	else
		add(d, "state.db", CHECK_OK, "%s: quick_check ok", path);
	free(cause);
	free(path);
}

/* ---- output ---- */

static void print_text(const struct doctor *d)
{
	static const char *const sgr[] = {"32", "33", "31"};
	size_t counts[3] = {0};

	for (size_t i = 0; i < d->n; i++) {
		const struct check *c = &d->v[i];
		const char *word = status_names[c->status];
		char *painted = out_paint(STDOUT_FILENO, sgr[c->status], word);

		counts[c->status]++;
		fputs(painted, stdout);
		free(painted);
		out_line(stdout, "%*s %-13s %s\n", (int)(5 - strlen(word)), "", c->name, c->detail);
	}
	printf("%zu ok, %zu warning%s, %zu failure%s\n", counts[CHECK_OK], counts[CHECK_WARN],
	       counts[CHECK_WARN] == 1 ? "" : "s", counts[CHECK_FAIL],
	       counts[CHECK_FAIL] == 1 ? "" : "s");
}

static json_t *doctor_json(const struct doctor *d)
{
	json_t *doc = json_object(), *arr = json_array();

	for (size_t i = 0; i < d->n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", d->v[i].name,
						     "status", status_names[d->v[i].status],
						     "detail", d->v[i].detail));
	json_object_set_new(doc, "checks", arr);
	json_object_set_new(doc, "containment", json_string(d->cgroup ? "cgroup" : "subreaper"));
	json_object_set_new(doc, "cgroup", d->cgroup ? json_string(d->cgroup) : json_null());
	return doc;
}

static int cmd_doctor_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct doctor d = {0};
	bool json = cmdopt_has(ctx->args, "json"), failed = false;

	if (argc > 1)
		return cmd_usage_error(&cmd_doctor_entry, "unexpected argument '%s'", argv[1]);

	/* The repository is looked for here, not by cmd_run: outside one
	 * doctor still checks the machine. What it sets in ctx is released by
	 * cmd_run's teardown. */
	check_git(&d, ctx);
	check_processes(&d);
	check_containment(&d);
	check_tmux(&d);
	check_socket_dir(&d);
	check_docker(&d);
	check_database(&d, ctx);
	check_state(&d, ctx);

	for (size_t i = 0; i < d.n; i++)
		failed |= d.v[i].status == CHECK_FAIL;
	if (json)
		out_json(doctor_json(&d));
	else
		print_text(&d);

	for (size_t i = 0; i < d.n; i++)
		free(d.v[i].detail);
	free(d.v);
	free(d.cgroup);
	config_finish(&d.config);
	return failed ? EXIT_FAIL : EXIT_OK;
}

const struct cmd_entry cmd_doctor_entry = {
	.name = "doctor",
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL,
			 "{checks: [{name, status, detail}], containment, cgroup} (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "check what berth needs: git, pidfds, subreaper, /proc, sock_diag, cgroups, "
		   "tmux, docker",
	.help = "One line per item: ok, warn (berth works, with less), or fail (berth cannot\n"
		"work as it should; the line says what to do). Runs outside a repository too\n"
		"(the repository line is then a warning). tmux, its socket directory and docker\n"
		"are failures only when .berth.ini uses them (runner = tmux; docker services or\n"
		"container mode).\n"
		"The state store is checked read-only (PRAGMA quick_check), never created.\n"
		"Exit status 1 when an item failed.\n",
	.flags = 0,
	.exec = cmd_doctor_exec,
};
