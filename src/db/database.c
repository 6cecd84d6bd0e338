/*
 * database.c: a database per session (see database.h).
 *
 * PostgreSQL clones a database with CREATE DATABASE ... TEMPLATE, a copy of
 * its files on the server, but refuses while anyone else is connected to
 * the template, and the developer's own app usually is connected to the
 * source. So sessions are cloned from a seed, berth's private copy of the
 * source that no one may connect to (ALLOW_CONNECTIONS false). The seed is
 * made once, and again on `berth db refresh` or `db reset`: by a file copy
 * when nobody is connected to the source, else with pg_dump (other people's
 * connections are never ended). Server-side advisory locks keep a refresh
 * and the clones apart: a clone holds the key shared, a refresh exclusive.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/database.h"
#include "db/pq.h"
#include "proc/run.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/strvec.h"
#include "util/testpoint.h"
#include "util/xmalloc.h"

#define NAME_MAX_PG 63
#define DUMP_TIMEOUT_MS (3600ULL * 1000)
#define SEED_COMMENT "berth's private copy of " /* + the source's name */
#define OWNER_TAG "berth:"                      /* + root id, ' ', root */

/* ---- names ---- */

/* base, or when longer than 63 bytes its first 54 and _<8 hex of a hash>. */
static char *fit_name(char *base)
{
	char *s;

	if (strlen(base) <= NAME_MAX_PG)
		return base;
	s = xasprintf("%.54s_%08" PRIx32, base, (uint32_t)hash_fnv1a64(base));
	free(base);
	return s;
}

char *database_name(const struct config *c, const char *slug)
{
	return fit_name(xasprintf("%s_%s", c->prefix, slug));
}

char *database_seed_name(const struct config *c)
{
	/* slugs never start with '_': no session is called this */
	return fit_name(xasprintf("%s__seed", c->prefix));
}

/* ---- where the server is ---- */

static char *read_line_file(const char *dir, const char *name)
{
	char *path = path_join(dir, name), *text = NULL;

	if (read_file(path, 4096, &text, NULL) < 0)
		text = NULL;
	else
		text[strcspn(text, "\n")] = '\0';
	free(path);
	return text;
}

static int place_managed(const char *berth_dir, struct db_place *p, char **cause)
{
	char *dir = path_join(berth_dir, "pg");

	p->port = read_line_file(dir, "port");
	p->password = read_line_file(dir, "password");
	p->admin_host = read_line_file(dir, "socket");
	p->bindir = read_line_file(dir, "bindir");
	free(dir);
	if (!p->port || !p->password) {
		*cause = xstrdup("berth's database server for this repository has not been set up "
				 "yet (`berth up` does it)");
		return -ENOENT;
	}
	p->host = xstrdup("127.0.0.1");
	p->user = xstrdup("berth");
	p->admin_db = xstrdup("postgres");
	if (!p->admin_host || !*p->admin_host) {
		free(p->admin_host);
		p->admin_host = xstrdup(p->host);
	}
	return 0;
}

static int place_url(const char *url, struct db_place *p, char **cause)
{
	PQconninfoOption *opts;
	char *err = NULL;
	int r = pq_load(cause);

	if (r < 0)
		return r;
	opts = pq.conninfoParse(url, &err);
	if (!opts) {
		/* libpq's message quotes no password: it names what it could not parse */
		*cause =
			xasprintf("[database] url cannot be read: %s", err ? err : "out of memory");
		if (err)
			pq.freemem(err);
		return -EINVAL;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		char **slot = NULL;

		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "host"))
			slot = &p->host;
		else if (!strcmp(o->keyword, "port"))
			slot = &p->port;
		else if (!strcmp(o->keyword, "user"))
			slot = &p->user;
		else if (!strcmp(o->keyword, "password"))
			slot = &p->password;
		else if (!strcmp(o->keyword, "dbname"))
			slot = &p->admin_db;
		if (slot)
			*slot = xstrdup(o->val);
	}
	pq.conninfoFree(opts);
	p->url = xstrdup(url);
	if (!p->admin_db)
		p->admin_db = xstrdup("postgres");
	return 0;
}

int database_place(const struct config *c, const char *berth_dir, struct db_place *ret,
		   char **cause)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->timeout_ms = c->database.timeout_ms;
	ret->managed = !c->database.url;
	r = ret->managed ? place_managed(berth_dir, ret, cause)
			 : place_url(c->database.url, ret, cause);
	if (r < 0)
		database_place_finish(ret);
	return r;
}

void database_place_finish(struct db_place *p)
{
	free(p->url);
	free(p->host);
	free(p->port);
	free(p->user);
	free(p->password);
	free(p->admin_host);
	free(p->admin_db);
	free(p->bindir);
	memset(p, 0, sizeof(*p));
}

/* ---- the session's environment ---- */

/* The URL of database name: the configured one with its path replaced, or
 * the managed server's. */
static char *session_url(const struct db_place *p, const char *name)
{
	const char *auth, *path, *query;

	if (p->managed)
		return xasprintf("postgresql://%s:%s@%s:%s/%s", p->user, p->password, p->host,
				 p->port, name);
	auth = strstr(p->url, "://") + 3;
	path = auth + strcspn(auth, "/?");
	query = strchr(path, '?');
	/* names are [a-z0-9_-]: nothing to percent-encode */
	return xasprintf("%.*s/%s%s", (int)(path - p->url), p->url, name, query ? query : "");
}

void database_env(const struct db_place *p, const char *name, struct envmap *env)
{
	char *url = session_url(p, name);

	envmap_set(env, "DATABASE_URL", url);
	envmap_set(env, "PGDATABASE", name);
	if (p->host)
		envmap_set(env, "PGHOST", p->host);
	if (p->port)
		envmap_set(env, "PGPORT", p->port);
	if (p->user)
		envmap_set(env, "PGUSER", p->user);
	if (p->password)
		envmap_set(env, "PGPASSWORD", p->password);
	free(url);
}

void database_session_env(const struct config *c, const char *berth_dir, const char *slug,
			  struct envmap *env)
{
	struct db_place p;
	char *cause = NULL, *name;

	if (!c->database.enabled)
		return;
	if (database_place(c, berth_dir, &p, &cause) < 0) {
		free(cause);
		return;
	}
	name = database_name(c, slug);
	database_env(&p, name, env);
	free(name);
	database_place_finish(&p);
}

int database_connect(const struct db_place *p, struct pg_conn **ret, char **cause)
{
	struct pg_target t = {
		.url = p->managed ? NULL : p->url,
		.host = p->managed ? p->admin_host : NULL,
		.port = p->managed ? p->port : NULL,
		.user = p->managed ? p->user : NULL,
		.password = p->managed ? p->password : NULL,
		.dbname = p->admin_db,
		.timeout_ms = p->timeout_ms,
	};

	return pg_connect(&t, ret, cause);
}

/* ---- the seed ---- */

static int64_t seed_key(const char *seed)
{
	return (int64_t)hash_fnv1a64(seed);
}

/* ---- whose a database is ---- */

/* "berth:<root id> <root>": the comment on a session's database naming the
 * repository it belongs to. Two clones with the same [berth] prefix share
 * names on one server; the comment keeps each from taking, or dropping,
 * the other's. Caller frees. */
static char *owner_comment(const struct config *c)
{
	char *id = hash_root_id(c->root), *s = xasprintf("%s%s %s", OWNER_TAG, id, c->root);

	free(id);
	return s;
}

/* Is database name this repository's? 1 yes (or unmarked: made by a berth
 * killed before it marked it), 0 another's (*who: its root), -errno. */
static int db_ours(struct pg_conn *conn, const struct config *c, const char *name, char **who,
		   char **cause)
{
	char *comment = NULL, *mine = owner_comment(c);
	int r = pg_db_get_comment(conn, name, &comment, cause);

	if (r == 0) {
		r = !comment || strncmp(comment, OWNER_TAG, strlen(OWNER_TAG)) ||
		    !strcmp(comment, mine);
		if (!r && who) {
			const char *sp = strchr(comment, ' ');

			*who = xstrdup(sp ? sp + 1 : comment);
		}
	}
	free(comment);
	free(mine);
	return r;
}

static int mark_ours(struct pg_conn *conn, const struct config *c, const char *name, char **cause)
{
	char *mine = owner_comment(c);
	int r = pg_db_comment(conn, name, mine, cause);

	free(mine);
	return r;
}

/* -EEXIST saying whose name is. */
static int not_ours(const char *name, const char *who, char **cause)
{
	*cause = xasprintf("the database '%s' belongs to another repository (%s) whose [berth] "
			   "prefix is the same; give this one another prefix in .berth.ini",
			   name, who);
	return -EEXIST;
}

char *database_pg_bindir(const char *prog)
{
	char *best = NULL;
	uint64_t best_v = 0;
	DIR *d = opendir("/usr/lib/postgresql");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		uint64_t v;
		char *bin, *path;

		if (parse_u64(de->d_name, 1, 1000, &v) < 0 || v <= best_v)
			continue;
		bin = xasprintf("/usr/lib/postgresql/%s/bin", de->d_name);
		path = path_join(bin, prog);
		if (access(path, X_OK) == 0) {
			free(best);
			best = bin;
			best_v = v;
		} else {
			free(bin);
		}
		free(path);
	}
	if (d)
		closedir(d);
	return best;
}

/* A program of the server's, or one from the newest PostgreSQL installed
 * (pg_dump reads servers up to its own version), else from PATH. Caller
 * frees. */
static char *pg_program(const struct db_place *p, const char *prog)
{
	char *path, *bin;

	if (p->bindir) {
		path = path_join(p->bindir, prog);
		if (access(path, X_OK) == 0)
			return path;
		free(path);
	}
	bin = database_pg_bindir(prog);
	if (!bin)
		return xstrdup(prog);
	path = path_join(bin, prog);
	free(bin);
	return path;
}

/* value quoted for a libpq keyword=value string */
static void add_conninfo(struct strbuf *sb, const char *key, const char *value)
{
	strbuf_addf(sb, "%s%s='", sb->len ? " " : "", key);
	for (const char *s = value; *s; s++) {
		if (*s == '\'' || *s == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *s);
	}
	strbuf_addch(sb, '\'');
}

/* A connection string for database name without the password (pg_dump
 * and pg_restore get it through PGPASSWORD: never on a command line). */
static char *program_conninfo(const struct db_place *p, const char *name)
{
	struct strbuf sb = STRBUF_INIT;

	if (p->managed) {
		add_conninfo(&sb, "host", p->admin_host);
		add_conninfo(&sb, "port", p->port);
		add_conninfo(&sb, "user", p->user);
	} else {
		char *cause = NULL;
		PQconninfoOption *opts = pq.conninfoParse(p->url, &cause);

		for (PQconninfoOption *o = opts; o && o->keyword; o++)
			if (o->val && *o->val && strcmp(o->keyword, "password") &&
			    strcmp(o->keyword, "dbname"))
				add_conninfo(&sb, o->keyword, o->val);
		if (opts)
			pq.conninfoFree(opts);
		if (cause)
			pq.freemem(cause);
	}
	add_conninfo(&sb, "dbname", name);
	return strbuf_detach(&sb);
}

static int run_program(const struct db_place *p, struct strvec *argv, char **cause)
{
	extern char **environ;
	struct strvec env = STRVEC_INIT;
	char *why = NULL;
	int r;

	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PGPASSWORD=", 11))
			strvec_push(&env, *e);
	if (p->password)
		strvec_pushf(&env, "PGPASSWORD=%s", p->password);
	struct spawn_opts o = {
		.path = argv->v[0],
		.argv = strvec_argv(argv),
		.envp = strvec_argv(&env),
		.stdin_fd = -1,
		.stdout_fd = -1,
		.stderr_fd = -1,
		.pdeath_sig = SIGKILL, /* the copy ends with the berth that made it */
	};
	r = spawn_run_checked(&o, DUMP_TIMEOUT_MS, NULL, &why);
	if (r < 0)
		*cause = why;
	else
		free(why);
	strvec_clear(&env);
	return r;
}

/* pg_dump source | pg_restore into target, through a file. */
static int dump_restore(const struct db_place *p, const char *berth_dir, const char *source,
			const char *target, char **cause)
{
	struct strvec argv = STRVEC_INIT;
	/* in run/: flush removes what a killed copy left */
	char *file = xasprintf("%s/run/seed-%d.dump", berth_dir, (int)getpid());
	int r;

	{
		char *run = path_join(berth_dir, "run");

		mkdir_p(run, 0755);
		free(run);
	}
	strvec_push_owned(&argv, pg_program(p, "pg_dump"));
	strvec_push(&argv, "--format=custom");
	strvec_push(&argv, "--no-owner");
	strvec_push(&argv, "--no-privileges");
	strvec_pushf(&argv, "--file=%s", file);
	strvec_push_owned(&argv, program_conninfo(p, source));
	r = run_program(p, &argv, cause);
	strvec_clear(&argv);
	if (r == 0) {
		strvec_push_owned(&argv, pg_program(p, "pg_restore"));
		strvec_push(&argv, "--no-owner");
		strvec_push(&argv, "--no-privileges");
		strvec_push(&argv, "--exit-on-error");
		strvec_push(&argv, "--dbname");
		strvec_push_owned(&argv, program_conninfo(p, target));
		strvec_push(&argv, file);
		r = run_program(p, &argv, cause);
		strvec_clear(&argv);
	}
	unlink(file);
	free(file);
	return r;
}

/* An empty target, then source's dump restored into it; the target is
 * dropped again when that fails. */
static int dump_copy(struct pg_conn *conn, const struct db_place *p, const char *berth_dir,
		     const char *source, const char *target, char **cause)
{
	int r = pg_db_create(conn, target, NULL, cause);

	if (r == 0)
		r = dump_restore(p, berth_dir, source, target, cause);
	if (r < 0) {
		char *ignored = NULL;

		pg_db_drop(conn, target, &ignored);
		free(ignored);
	}
	return r;
}

static void sayf(database_say_fn *say, void *data, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void sayf(database_say_fn *say, void *data, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!say)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	say(data, msg);
	free(msg);
}

/* Take key: at once, or after saying what it waits for. */
static int take_lock(struct pg_conn *conn, int64_t key, bool shared, const char *waiting,
		     database_say_fn *say, void *data, char **cause)
{
	int r = pg_lock(conn, key, shared, false, cause);

	if (r != -EAGAIN)
		return r;
	sayf(say, data, "%s", waiting);
	return pg_lock(conn, key, shared, true, cause);
}

/* Make the seed from the source under the exclusive key (which the caller
 * holds): the copy is made under a temporary name and renamed, so that a
 * copy that fails or is killed half-way never becomes the seed. */
static int make_seed(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		     const char *berth_dir, database_say_fn *say, void *data, char **cause)
{
	const char *source = c->database.source;
	char *seed = database_seed_name(c), *tmp = xasprintf("%.57s_new", seed), *who = NULL;
	char *comment = NULL;
	unsigned others = 0;
	int r;

	r = pg_db_drop(conn, tmp, cause); /* a copy a killed berth left */
	if (r == 0)
		r = pg_db_connections(conn, source, &others, &who, cause);
	if (r < 0)
		goto out;
	if (!others) {
		r = pg_db_create(conn, tmp, source, cause);
		if (r == -EBUSY) { /* someone connected just now */
			free(*cause);
			*cause = NULL;
			free(who);
			who = xstrdup("a connection made during the copy");
			others = 1;
		} else if (r == -EPERM) {
			/* only its owner (or a superuser) may copy its files; reading
			 * it, which pg_dump needs, may still be granted */
			sayf(say, data,
			     "berth's role may not copy the files of the source database '%s' "
			     "(%s): "
			     "copying it with pg_dump instead (slower; sessions are then cloned "
			     "from that copy at full speed)",
			     source, *cause);
			free(*cause);
			*cause = NULL;
			r = dump_copy(conn, p, berth_dir, source, tmp, cause);
			if (r < 0)
				goto out;
			goto seal;
		} else if (r < 0) {
			goto out;
		}
	}
	if (others) {
		sayf(say, data,
		     "the source database '%s' is in use (%s); PostgreSQL copies a database's "
		     "files only when nobody is connected, and berth never ends other people's "
		     "connections: copying it with pg_dump instead (slower; sessions are then "
		     "cloned from that copy at full speed)",
		     source, who);
		r = dump_copy(conn, p, berth_dir, source, tmp, cause);
		if (r < 0)
			goto out;
	}
seal:
	test_pause("seed-copied");
	comment = xasprintf("%s%s", SEED_COMMENT, source);
	r = pg_db_comment(conn, tmp, comment, cause);
	if (r == 0)
		r = pg_db_seal(conn, tmp, cause);
	if (r == 0)
		r = pg_db_drop(conn, seed, cause);
	if (r == 0)
		r = pg_db_rename(conn, tmp, seed, cause);
out:
	free(comment);
	free(who);
	free(tmp);
	free(seed);
	return r;
}

/* 0 when the source exists; -ENOENT saying what to do. */
static int source_exists(struct pg_conn *conn, const char *source, char **cause)
{
	int r = pg_db_exists(conn, source, cause);

	if (r > 0)
		return 0;
	if (r == 0) {
		*cause = xasprintf("the source database '%s' does not exist on the server; create "
				   "it, or set [database] source to an existing database (empty: "
				   "sessions start with an empty database)",
				   source);
		r = -ENOENT;
	}
	return r;
}

/* The seed of the source exists (made now when missing or of another
 * source, or again with refresh). */
static int ensure_seed(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		       const char *berth_dir, bool refresh, database_say_fn *say, void *data,
		       char **cause)
{
	char *seed = database_seed_name(c), *ignored = NULL, *comment = NULL;
	int64_t key = seed_key(seed);
	int r;

	r = source_exists(conn, c->database.source, cause);
	if (r < 0)
		goto out;
	r = take_lock(conn, key, false, "waiting for another berth copying the source database",
		      say, data, cause);
	if (r < 0)
		goto out;
	/* a seed of another source (the config changed) is made again */
	if (!refresh && (r = pg_db_get_comment(conn, seed, &comment, cause)) == 0 && comment &&
	    !strncmp(comment, SEED_COMMENT, strlen(SEED_COMMENT)) &&
	    !strcmp(comment + strlen(SEED_COMMENT), c->database.source))
		r = 1;
	if (r == 0)
		r = make_seed(conn, c, p, berth_dir, say, data, cause);
	if (r > 0)
		r = 0;
	free(comment);
	pg_unlock(conn, key, false, &ignored);
	free(ignored);
out:
	free(seed);
	return r;
}

int database_refresh_seed(struct pg_conn *conn, const struct config *c, const struct db_place *p,
			  const char *berth_dir, database_say_fn *say, void *data, char **cause)
{
	if (!c->database.source) {
		*cause = xstrdup("[database] has no source: sessions start with an empty database");
		return -EINVAL;
	}
	return ensure_seed(conn, c, p, berth_dir, true, say, data, cause);
}

int database_create(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		    const char *berth_dir, const char *slug, database_say_fn *say, void *data,
		    bool *ret_created, char **cause)
{
	char *name = database_name(c, slug), *seed = NULL, *ignored = NULL, *who = NULL;
	int64_t key = 0;
	int r;

	*ret_created = false;
	r = pg_db_exists(conn, name, cause);
	if (r > 0) {
		/* kept from before: the session's data stays, if it is ours */
		r = db_ours(conn, c, name, &who, cause);
		if (r == 0)
			r = not_ours(name, who, cause);
		else if (r > 0)
			r = mark_ours(conn, c, name, cause);
		goto out;
	}
	if (r < 0)
		goto out;
	if (c->database.source) {
		r = ensure_seed(conn, c, p, berth_dir, false, say, data, cause);
		if (r < 0)
			goto out;
		seed = database_seed_name(c);
		key = seed_key(seed);
		r = take_lock(conn, key, true, "waiting for another berth refreshing the seed copy",
			      say, data, cause);
		if (r < 0)
			goto out;
	}
	r = pg_db_create(conn, name, seed, cause);
	if (seed) {
		pg_unlock(conn, key, true, &ignored);
		free(ignored);
	}
	if (r == 0) {
		*ret_created = true;
		r = mark_ours(conn, c, name, cause);
	}
out:
	free(who);
	free(seed);
	free(name);
	return r;
}

int database_reset(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		   const char *berth_dir, const char *slug, database_say_fn *say, void *data,
		   char **cause)
{
	char *name = database_name(c, slug), *who = NULL;
	unsigned others = 0;
	bool created;
	int r;

	r = c->database.source ? source_exists(conn, c->database.source, cause) : 0;
	if (r == 0)
		r = db_ours(conn, c, name, &who, cause);
	if (r == 0)
		r = not_ours(name, who, cause);
	else if (r > 0)
		r = pg_db_drop(conn, name, cause);
	if (r < 0 || !c->database.source)
		goto create;
	/* nobody on the source: one file copy of it, its data as of now */
	r = pg_db_connections(conn, c->database.source, &others, NULL, cause);
	if (r == 0 && !others) {
		r = pg_db_create(conn, name, c->database.source, cause);
		if (r == 0)
			r = mark_ours(conn, c, name, cause);
		if (r != -EBUSY && r != -EPERM)
			goto out;
		free(*cause);
		*cause = NULL;
	}
	/* in use, or not ours to copy by file: through the seed, copied again
	 * (make_seed says how and why) */
	if (r == 0 || r == -EBUSY || r == -EPERM)
		r = ensure_seed(conn, c, p, berth_dir, true, say, data, cause);
create:
	if (r == 0)
		r = database_create(conn, c, p, berth_dir, slug, say, data, &created, cause);
out:
	free(who);
	free(name);
	return r;
}

int database_drop(struct pg_conn *conn, const struct config *c, const char *slug, char **cause)
{
	char *name = database_name(c, slug), *who = NULL;
	int r = db_ours(conn, c, name, &who, cause);

	if (r > 0)
		r = pg_db_drop(conn, name, cause);
	else if (r == 0) {
		/* another repository's: left alone, and said */
		*cause = xasprintf("the database '%s' belongs to another repository (%s) with the "
				   "same [berth] prefix: left alone",
				   name, who);
		r = 1;
	}
	free(who);
	free(name);
	return r;
}

int database_info(struct pg_conn *conn, const char *name, struct db_info *ret, char **cause)
{
	int r;

	memset(ret, 0, sizeof(*ret));
	r = pg_db_exists(conn, name, cause);
	if (r <= 0)
		return r;
	ret->exists = true;
	r = pg_db_size(conn, name, &ret->size, cause);
	if (r == 0)
		r = pg_db_connections(conn, name, &ret->connections, NULL, cause);
	return r;
}
