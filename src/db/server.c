/*
 * server.c: berth's own PostgreSQL server for a repository (see server.h).
 *
 * Files in .berth/pg: lock (an flock held while starting or stopping),
 * data (the cluster, or a symlink to it), run (the unix socket), port,
 * password (0600), socket (the socket directory; empty: TCP only), bindir.
 */
#include <errno.h>
#include <signal.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/server.h"
#include "probe/probe.h"
#include "proc/run.h"
#include "supervise/launch.h"
#include "supervise/services.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/strvec.h"
#include "util/user.h"
#include "util/xmalloc.h"

#define SOCKET_DIR_MAX 90 /* sun_path is 108 bytes with "/.s.PGSQL.NNNNN" */
#define INITDB_TIMEOUT_MS (120ULL * 1000)
#define PORT_TRIES 100
#define SERVER_STOP_GRACE_MS 30000 /* a fast shutdown's checkpoint may take a while */

char *dbserver_dir(const char *berth_dir)
{
	return path_join(berth_dir, "pg");
}

bool dbserver_running(const char *berth_dir)
{
	struct svc_view v;

	return services_view(berth_dir, DBSERVER_SLUG, DBSERVER_SERVICE, &v) == 0 &&
	       v.live == SVC_LIVE_RUNNING;
}

/* The newest PostgreSQL's programs: Debian's /usr/lib/postgresql/N/bin,
 * else a PATH directory with both initdb and postgres. Caller frees. */
char *dbserver_find_bindir(void)
{
	char *best = database_pg_bindir("postgres"), *path_env = getenv("PATH"), *copy,
	     *save = NULL;

	if (best || !path_env)
		return best;
	copy = xstrdup(path_env);
	for (char *dir = strtok_r(copy, ":", &save); dir && !best;
	     dir = strtok_r(NULL, ":", &save)) {
		char *a = path_join(dir, "postgres"), *b = path_join(dir, "initdb");

		if (access(a, X_OK) == 0 && access(b, X_OK) == 0)
			best = xstrdup(dir);
		free(a);
		free(b);
	}
	free(copy);
	return best;
}

/* Can the user u reach (search) every directory down to path? */
static bool reachable(const char *path, const struct user_ids *u)
{
	char *p = xstrdup(path);
	bool ok = true;

	for (char *slash = p + strlen(p); ok && slash; slash = strrchr(p, '/')) {
		struct stat st;
		bool in_group = false;

		*slash = '\0';
		if (stat(*p ? p : "/", &st) < 0) {
			ok = false;
			break;
		}
		for (size_t i = 0; i < u->n_groups; i++)
			in_group |= u->groups[i] == st.st_gid;
		if (st.st_uid == u->uid)
			ok = st.st_mode & S_IXUSR;
		else if (in_group || st.st_gid == u->gid)
			ok = st.st_mode & S_IXGRP;
		else
			ok = st.st_mode & S_IXOTH;
		if (!*p)
			break;
	}
	free(p);
	return ok;
}

/* 'text' for sh. */
static void add_sh_quoted(struct strbuf *sb, const char *text)
{
	strbuf_addch(sb, '\'');
	for (const char *s = text; *s; s++) {
		if (*s == '\'')
			strbuf_adds(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

static int write_text(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = path_join(dir, name);
	int r = write_file_atomic(path, text, strlen(text), mode);

	free(path);
	return r;
}

static char *new_password(void)
{
	unsigned char raw[16];
	char *hex = xmalloc(2 * sizeof(raw) + 1);

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		abort(); /* the kernel always has 16 bytes for us after boot */
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return hex;
}

/* Where the cluster's directory goes: .berth/pg, or, when the server's
 * user cannot reach it, /var/lib/berth/<root_id>. Caller frees. */
static char *cluster_home(const struct dbserver_ctx *x, const char *pgdir, const struct user_ids *u)
{
	if (!u || reachable(pgdir, u))
		return xstrdup(pgdir);
	return xasprintf("/var/lib/berth/%s", x->root_id);
}

static int owned_dir(const char *path, mode_t mode, const struct user_ids *u)
{
	int r = mkdir_p(path, mode);

	if (r == 0 && chmod(path, mode) < 0)
		r = -errno;
	if (r == 0 && u && chown(path, u->uid, u->gid) < 0)
		r = -errno;
	return r;
}

/* initdb a new cluster at home/data (through home/data.new, so that a
 * killed initdb leaves no half cluster that looks whole). */
static int init_cluster(const struct dbserver_ctx *x, const char *pgdir, const char *home,
			const char *bindir, const struct user_ids *u, database_say_fn *say,
			void *data, char **cause)
{
	char *tmp = path_join(home, "data.new"), *data_dir = path_join(home, "data");
	char *pwfile = path_join(home, "pwfile"), *password = NULL, *why = NULL;
	char *link = path_join(pgdir, "data"), *pwpath;
	struct strvec argv = STRVEC_INIT;
	int r;

	say(data, "creating berth's PostgreSQL server for this repository (initdb, once)");
	pwpath = path_join(pgdir, "password");
	if (read_file(pwpath, 4096, &password, NULL) < 0)
		password = NULL;
	free(pwpath);
	if (!password) {
		password = new_password();
		r = write_text(pgdir, "password", password, 0600);
		if (r < 0) {
			*cause = xasprintf("cannot write '%s/password': %s", pgdir, strerror(-r));
			goto out;
		}
	}
	password[strcspn(password, "\n")] = '\0';
	rm_rf(tmp);
	r = owned_dir(home, 0755, NULL);
	if (r == 0)
		r = owned_dir(tmp, 0700, u);
	if (r == 0) {
		r = write_file_atomic(pwfile, password, strlen(password), 0600);
		if (r == 0 && u && chown(pwfile, u->uid, u->gid) < 0)
			r = -errno;
	}
	if (r < 0) {
		*cause = xasprintf("cannot prepare '%s': %s", tmp, strerror(-r));
		goto out;
	}
	strvec_push_owned(&argv, path_join(bindir, "initdb"));
	strvec_push(&argv, "--pgdata");
	strvec_push(&argv, tmp);
	strvec_push(&argv, "--username=berth");
	strvec_pushf(&argv, "--pwfile=%s", pwfile);
	strvec_push(&argv,
		    "--auth-local=trust"); /* the socket's directory is the server user's, 0700 */
	strvec_push(&argv, "--auth-host=scram-sha-256");
	strvec_push(&argv, "--encoding=UTF8");
	strvec_push(&argv, "--locale=C");
	strvec_push(&argv, "--no-sync");
	struct spawn_opts o = {
		.path = argv.v[0],
		.argv = strvec_argv(&argv),
		.cwd = home,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.set_user = u && user_needs_switch(u),
		.uid = u ? u->uid : 0,
		.gid = u ? u->gid : 0,
		.groups = u ? u->groups : NULL,
		.n_groups = u ? u->n_groups : 0,
		/* a killed berth's initdb must not write on while the next one starts */
		.pdeath_sig = SIGKILL,
	};
	r = spawn_run_checked(&o, INITDB_TIMEOUT_MS, NULL, &why);
	unlink(pwfile);
	if (r < 0) {
		*cause = xasprintf("initdb failed: %s", why);
		rm_rf(tmp);
		goto out;
	}
	if (rename(tmp, data_dir) < 0) {
		r = -errno;
		*cause = xasprintf("cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (strcmp(home, pgdir)) {
		unlink(link);
		if (symlink(data_dir, link) < 0) {
			r = -errno;
			*cause = xasprintf("cannot link '%s': %s", link, strerror(errno));
		}
	}
out:
	strvec_clear(&argv);
	free(why);
	free(password);
	free(link);
	free(pwfile);
	free(data_dir);
	free(tmp);
	return r;
}

/* The recorded port while nothing else listens there, else the first free
 * one from [database] port on. */
static int pick_port(const struct dbserver_ctx *x, const char *pgdir, unsigned *ret, char **cause)
{
	struct probe p;
	char *text = NULL, *path = path_join(pgdir, "port");
	uint64_t last = 0;
	int r = probe_init(&p);

	if (r < 0) {
		*cause = xasprintf("cannot list listening ports: %s", strerror(-r));
		free(path);
		return r;
	}
	if (read_file(path, 64, &text, NULL) == 0) {
		text[strcspn(text, "\n")] = '\0';
		parse_u64(text, 1, 65535, &last);
	}
	free(text);
	free(path);
	r = -EADDRINUSE;
	if (last && !probe_listening(&p, (uint16_t)last)) {
		*ret = (unsigned)last;
		r = 0;
	}
	for (unsigned i = 0; r < 0 && i < PORT_TRIES && x->config->database.port + i <= 65535;
	     i++) {
		if (!probe_listening(&p, (uint16_t)(x->config->database.port + i))) {
			*ret = x->config->database.port + i;
			r = 0;
		}
	}
	probe_finish(&p);
	if (r < 0)
		*cause = xasprintf("no free port in %u-%u for berth's database server; set "
				   "[database] port to a free range",
				   x->config->database.port,
				   x->config->database.port + PORT_TRIES - 1);
	return r;
}

/* The server as a one-service config: its shim, log, readiness (its own
 * "ready to accept connections" line), stop (SIGINT: fast shutdown). */
static char *server_config_text(const char *bindir, const char *data_dir, unsigned port,
				const char *sock, const char *user)
{
	struct strbuf sb = STRBUF_INIT;
	char *prog = path_join(bindir, "postgres");

	strbuf_addf(&sb,
		    "[berth]\nstop_grace = %" PRIu64 "ms\n[service \"" DBSERVER_SERVICE "\"]\n",
		    (uint64_t)SERVER_STOP_GRACE_MS);
	strbuf_adds(&sb, "command = exec ");
	add_sh_quoted(&sb, prog);
	strbuf_adds(&sb, " -D ");
	add_sh_quoted(&sb, data_dir);
	strbuf_addf(&sb, " -p %u -k ", port);
	add_sh_quoted(&sb, sock);
	strbuf_adds(&sb, " -c listen_addresses=127.0.0.1 -c synchronous_commit=off\n");
	strbuf_adds(&sb, "ready = log:ready to accept connections\nready_timeout = 60s\n");
	strbuf_adds(&sb, "stop_signal = INT\nrestart = on-failure\n");
	if (user)
		strbuf_addf(&sb, "user = %s\n", user);
	free(prog);
	return strbuf_detach(&sb);
}

static int dbserver_stop_locked(const struct dbserver_ctx *x, char **cause);

/* A svc_env for the server (cfg and session are the caller's). */
static void server_env(const struct dbserver_ctx *x, const struct config *cfg,
		       const struct session *s, struct svc_env *e)
{
	memset(e, 0, sizeof(*e));
	e->config = cfg;
	e->session = s;
	e->berth_dir = x->berth_dir;
	e->root_id = xstrdup(x->root_id);
	e->shim_path = xstrdup(x->shim_path);
	strvec_push(&e->env, "PATH=/usr/local/bin:/usr/bin:/bin");
	strvec_push(&e->env, "LC_ALL=C");
	e->envp = strvec_argv(&e->env);
	e->stop_grace_ms = cfg->stop_grace_ms;
	services_cgroup(x->berth_dir, e->root_id, DBSERVER_SLUG, true, &e->cgroup, &e->uncontained);
}

static const char *server_user(const struct config *c)
{
	if (geteuid() != 0)
		return NULL;
	if (c->database.server_user)
		return c->database.server_user;
	return getpwnam("postgres") ? "postgres" : "nobody";
}

int dbserver_start(const struct dbserver_ctx *x, database_say_fn *say, void *data, char **cause)
{
	char *pgdir = dbserver_dir(x->berth_dir), *lock = path_join(pgdir, "lock");
	char *bindir = NULL, *home = NULL, *data_dir = NULL, *version = NULL, *sock = NULL;
	char *text = NULL, *why = NULL;
	const char *user = server_user(x->config);
	struct user_ids ids = {0};
	struct config cfg;
	struct session s = {.slug = (char *)DBSERVER_SLUG, .mode = (char *)"host"};
	struct svc_env e;
	struct svc_view view;
	struct strvec started = STRVEC_INIT;
	struct launch_failure fail = {0};
	size_t idx = 0;
	unsigned port = 0;
	int fd = -1, r;

	r = mkdir_p(pgdir, 0755);
	if (r == 0)
		fd = r = lock_file(lock);
	if (r < 0) {
		*cause = xasprintf("cannot lock '%s': %s", lock, strerror(-r));
		goto out;
	}
	if (services_view(x->berth_dir, DBSERVER_SLUG, DBSERVER_SERVICE, &view) == 0) {
		if (view.live == SVC_LIVE_RUNNING)
			goto out; /* r = the fd: >= 0 */
		if (view.live == SVC_LIVE_LOST) {
			/* its shim was killed: what it left (a postgres holding the
			 * data directory) is stopped before another starts */
			r = dbserver_stop_locked(x, cause);
			if (r < 0)
				goto out;
		}
	}
	bindir = dbserver_find_bindir();
	if (!bindir) {
		*cause = xstrdup("PostgreSQL's server is not installed (Debian: apt-get install "
				 "postgresql); or set [database] url to a server berth should use");
		r = -ENOENT;
		goto out;
	}
	if (user && user_lookup(user, &ids) < 0) {
		*cause =
			xasprintf("no such user '%s' to run berth's database server as (berth runs "
				  "as root; PostgreSQL refuses to); set [database] server_user",
				  user);
		r = -ENOENT;
		goto out;
	}
	home = cluster_home(x, pgdir, user ? &ids : NULL);
	data_dir = path_join(home, "data");
	version = path_join(data_dir, "PG_VERSION");
	if (!path_exists(version)) {
		r = init_cluster(x, pgdir, home, bindir, user ? &ids : NULL, say, data, cause);
		if (r < 0)
			goto out;
	}
	r = pick_port(x, pgdir, &port, cause);
	if (r < 0)
		goto out;
	sock = path_join(home, "run");
	if (strlen(sock) > SOCKET_DIR_MAX) {
		sock[0] = '\0'; /* too long for a unix socket: TCP only */
	} else if ((r = owned_dir(sock, 0700, user ? &ids : NULL)) < 0) {
		*cause = xasprintf("cannot make '%s': %s", sock, strerror(-r));
		goto out;
	}
	text = xasprintf("%u", port);
	if ((r = write_text(pgdir, "port", text, 0644)) < 0 ||
	    (r = write_text(pgdir, "socket", sock, 0644)) < 0 ||
	    (r = write_text(pgdir, "bindir", bindir, 0644)) < 0) {
		*cause = xasprintf("cannot write in '%s': %s", pgdir, strerror(-r));
		goto out;
	}
	free(text);
	text = server_config_text(bindir, data_dir, port, sock, user);
	r = config_load_string(&cfg, home, text, "berth's database server", &why);
	if (r < 0) {
		*cause = xasprintf("cannot start berth's database server: %s", why);
		goto out;
	}
	s.worktree = home;
	server_env(x, &cfg, &s, &e);
	say(data, "starting berth's PostgreSQL server for this repository");
	switch (launch_services(&e, &idx, 1, x->sigfd, NULL, NULL, &started, &fail)) {
	case LAUNCH_OK:
		r = 0;
		break;
	case LAUNCH_INTERRUPTED:
		r = -EINTR;
		*cause = xstrdup("interrupted while berth's database server started");
		break;
	default:
		r = -EIO;
		*cause = xasprintf("berth's database server did not start: %s%s%s (log: %s)",
				   fail.what ? fail.what : "it failed", fail.tail ? "\n" : "",
				   fail.tail ? fail.tail : "", fail.log_path ? fail.log_path : "-");
		break;
	}
	if (r < 0 && started.n) {
		struct stop_report rep = {0};

		services_stop(&e, NULL, -1, &rep);
		stop_report_finish(&rep);
	}
	launch_failure_finish(&fail);
	strvec_clear(&started);
	svc_env_finish(&e);
	config_finish(&cfg);
out:
	if (fd >= 0)
		close(fd);
	user_ids_finish(&ids);
	free(why);
	free(text);
	free(sock);
	free(version);
	free(data_dir);
	free(home);
	free(bindir);
	free(lock);
	free(pgdir);
	return r < 0 ? r : 0;
}

/* Stop the server; the caller holds the lock. */
static int dbserver_stop_locked(const struct dbserver_ctx *x, char **cause)
{
	char *pgdir = dbserver_dir(x->berth_dir);
	struct config cfg;
	struct session s = {.slug = (char *)DBSERVER_SLUG, .mode = (char *)"host"};
	struct svc_env e;
	struct stop_report rep = {0};
	char *why = NULL;
	int r;

	config_init(&cfg, pgdir);
	cfg.stop_grace_ms = SERVER_STOP_GRACE_MS;
	s.worktree = pgdir;
	server_env(x, &cfg, &s, &e);
	r = services_stop(&e, NULL, x->sigfd, &rep);
	if (r >= 0 && rep.n_survivors) {
		r = -EBUSY;
		why = xasprintf("%zu of its processes survived SIGKILL", rep.n_survivors);
	}
	if (r < 0)
		*cause = xasprintf("cannot stop berth's database server: %s",
				   why ? why : strerror(-r));
	stop_report_finish(&rep);
	svc_env_finish(&e);
	config_finish(&cfg);
	free(why);
	free(pgdir);
	return r < 0 ? r : 0;
}

int dbserver_stop(const struct dbserver_ctx *x, char **cause)
{
	char *pgdir = dbserver_dir(x->berth_dir), *lock = path_join(pgdir, "lock");
	int fd, r = 0;

	if (path_is_dir(pgdir)) {
		fd = lock_file(lock);
		r = dbserver_stop_locked(x, cause);
		if (fd >= 0)
			close(fd);
	}
	free(lock);
	free(pgdir);
	return r;
}

int dbserver_remove(const char *berth_dir, const char *root_id)
{
	char *pgdir = dbserver_dir(berth_dir), *away = xasprintf("/var/lib/berth/%s", root_id);
	int r = 0;

	if (path_exists(away) && rm_rf(away) < 0)
		r = -errno;
	if (rm_rf(pgdir) < 0 && r == 0)
		r = -errno;
	free(away);
	free(pgdir);
	return r;
}
