/*
 * state.c: the SQLite state store: schema, migrations, sessions, ports, ops
 * (ownership tokens) and events.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <sys/time.h>
#include <unistd.h>

#include "store/state.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define BUSY_TIMEOUT_MS 10000

struct state {
	sqlite3 *db;
	char *path; /* the store's file: every message names it */
	char *err;  /* why the last failed call failed (state_errmsg) */
};

/* Migration N brings the schema from version N to N + 1. Never edit a shipped
 * one: append. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE sessions ("
	"  slug TEXT PRIMARY KEY,"
	"  slot INTEGER NOT NULL UNIQUE CHECK (slot > 0),"
	"  branch TEXT NOT NULL,"
	"  worktree TEXT NOT NULL,"
	"  mode TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'stopped')),"
	"  owns_worktree INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE ports ("
	"  slug TEXT NOT NULL REFERENCES sessions(slug) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  port INTEGER NOT NULL UNIQUE CHECK (port BETWEEN 1 AND 65535),"
	"  PRIMARY KEY (slug, name));"
	"CREATE TABLE ops ("
	"  slug TEXT PRIMARY KEY REFERENCES sessions(slug) ON DELETE CASCADE,"
	"  op_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  start_time INTEGER NOT NULL,"
	"  since INTEGER NOT NULL,"
	"  prev_status TEXT);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  slug TEXT,"
	"  service TEXT,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT);"
	"CREATE INDEX events_slug ON events(slug, id);",
	/* 1 -> 2: the step an operation is in (recovery resumes from it) and
	 * the commit of a branch it created (recovery deletes it, as a rollback
	 * does) */
	"ALTER TABLE ops ADD COLUMN step TEXT;"
	"ALTER TABLE ops ADD COLUMN branch_at TEXT;",
};

static int sql_err(int rc)
{
	/* The store is opened with SQLITE_OPEN_EXRESCODE: compare primary codes. */
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		/* a clash of unique values; other constraints (CHECK, NOT NULL)
		 * mean a bad value */
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
			       ? -EEXIST
			       : -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* SQLite's reason for the failure rc of a call on db (its message while it
 * still has one, else the generic text of rc). */
static const char *sql_why(sqlite3 *db, int rc)
{
	if (db && sqlite3_errcode(db) != SQLITE_OK)
		return sqlite3_errmsg(db);
	return sqlite3_errstr(rc);
}

/* What the failure rc of SQLite on the store at path means, for a person
 * (why: SQLite's reason). */
static char *failure_text(const char *path, int rc, const char *why)
{
	switch (rc & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return xasprintf("the state store '%s' is corrupt (%s); it was left as it is: move "
				 "it away and run the command again (the sessions it recorded are "
				 "then forgotten; their worktrees stay on disk)",
				 path, why);
	case SQLITE_READONLY:
		return xasprintf("cannot write the state store '%s': read-only (%s)", path, why);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return xasprintf("the state store '%s' stayed locked by another berth command for "
				 "%d s (%s); run the command again once it is done",
				 path, BUSY_TIMEOUT_MS / 1000, why);
	default:
		return xasprintf("'%s': %s", path, why);
	}
}

/* Keep why a call on st failed while SQLite still knows it (a rollback
 * afterwards leaves it saying "not an error"); returns rc as -errno. */
static int fail(struct state *st, int rc)
{
	free(st->err);
	st->err = failure_text(st->path, rc, sql_why(st->db, rc));
	return sql_err(rc);
}

/* SQLite's error while the last call's failure is still its error code;
 * else the failure kept (by fail, or by state_rollback before the rollback
 * cleared SQLite's). */
const char *state_errmsg(struct state *st)
{
	int rc = sqlite3_extended_errcode(st->db);

	if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail(st, rc);
	return st->err ? st->err : "the state store failed without a reason";
}

static int exec_sql(struct state *st, const char *sql)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(st, rc);
}

static int prepare(struct state *st, const char *sql, sqlite3_stmt **ret)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, ret, NULL);

	return rc == SQLITE_OK ? 0 : fail(st, rc);
}

/* Step a statement that returns no rows and finalize it. */
static int step_done(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);
	int r = rc == SQLITE_DONE ? 0 : sql_err(rc);

	sqlite3_finalize(stmt);
	return r;
}

static void bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, i);
}

static char *col_text(sqlite3_stmt *stmt, int i)
{
	const unsigned char *t = sqlite3_column_text(stmt, i);

	return t ? xstrdup((const char *)t) : NULL;
}

/*
 * Look at the file's bytes before SQLite does: a missing file is a new store
 * (returns 1); anything else must be an SQLite file carrying our application
 * id (returns 0).
 * Reading the header ourselves means a foreign file is never written to (not
 * even by the switch to WAL).
 */
static int check_header(const char *path, char **cause)
{
	unsigned char h[100];
	uint32_t app, version;
	struct stat sb;
	ssize_t n;
	int fd;

	/* Only a regular file of our own: never a FIFO or a device (a read
	 * would block or have effects), never a symlink (SQLite would create
	 * or write its target, anywhere). */
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		*cause = xasprintf("'%s' is %s, not a berth state store; it was left untouched: "
				   "move it away and run the command again",
				   path,
				   S_ISLNK(sb.st_mode)    ? "a symbolic link"
				   : S_ISFIFO(sb.st_mode) ? "a FIFO"
				   : S_ISDIR(sb.st_mode)  ? "a directory"
							  : "not a regular file");
		return -EBADMSG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		*cause = xasprintf("cannot open state store '%s': %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
	/* berth never leaves an empty store (it builds one aside and links it
	 * into place): an empty file was truncated, or is not berth's */
	if (n == 0) {
		*cause = xasprintf("the state store '%s' is empty (0 bytes), which berth never "
				   "leaves it: it was truncated, or is not berth's; it was left "
				   "untouched: move it away and run the command again (berth then "
				   "starts a new store: the sessions it recorded are forgotten, "
				   "their worktrees stay on disk)",
				   path);
		return -EBADMSG;
	}
	if (n < (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16)) {
		*cause = xasprintf("'%s' is not a berth state store (not an SQLite database); "
				   "it was left untouched: move it away and run the command again",
				   path);
		return -EBADMSG;
	}
	app = (uint32_t)h[68] << 24 | (uint32_t)h[69] << 16 | (uint32_t)h[70] << 8 | h[71];
	version = (uint32_t)h[60] << 24 | (uint32_t)h[61] << 16 | (uint32_t)h[62] << 8 | h[63];
	if (app != STATE_APPLICATION_ID) {
		*cause = xasprintf("'%s' is an SQLite database but not a berth state store "
				   "(application id 0x%08x); it was left untouched: move it away "
				   "and run the command again",
				   path, app);
		return -EBADMSG;
	}
	/* A newer schema is refused before SQLite may touch the file. (A version
	 * change still only in the WAL is caught again by migrate().) */
	if (version > STATE_SCHEMA_VERSION) {
		*cause = xasprintf("'%s' has schema version %u, newer than this berth "
				   "understands (%d); it was left untouched: use a newer berth",
				   path, version, STATE_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

static bool side_exists(const char *path, const char *suffix)
{
	char *side = xasprintf("%s%s", path, suffix);
	struct stat sb;
	bool r = lstat(side, &sb) == 0;

	free(side);
	return r;
}

/* The directory of path (caller frees). */
static char *dir_of(const char *path)
{
	char *copy = xstrdup(path), *dir = xstrdup(dirname(copy));

	free(copy);
	return dir;
}

static int user_version(struct state *st, int *ret)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st, "PRAGMA user_version", &stmt);
	if (r < 0)
		return r;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		r = sql_err(sqlite3_errcode(st->db));
		sqlite3_finalize(stmt);
		return r < 0 ? r : -EIO;
	}
	*ret = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

static int migrate(struct state *st, char **cause)
{
	int version, r;

	r = state_begin(st);
	if (r < 0)
		goto fail;
	r = user_version(st, &version);
	if (r < 0)
		goto fail_rollback;
	if (version > (int)ARRAY_SIZE(migrations)) {
		state_rollback(st);
		*cause = xasprintf("the state store has schema version %d, newer than this berth "
				   "understands (%zu); use a newer berth",
				   version, ARRAY_SIZE(migrations));
		return -EPROTO;
	}
	for (int v = version; v < (int)ARRAY_SIZE(migrations); v++) {
		char *set;

		r = exec_sql(st, migrations[v]);
		if (r < 0)
			goto fail_rollback;
		set = xasprintf("PRAGMA user_version = %d", v + 1);
		r = exec_sql(st, set);
		free(set);
		if (r < 0)
			goto fail_rollback;
	}
	r = state_commit(st);
	if (r < 0)
		goto fail;
	return 0;
fail_rollback:
	state_rollback(st);
fail:
	*cause = xstrdup(state_errmsg(st));
	return r;
}

/* Creating the store, switching it to WAL and migrating it take locks that
 * SQLite's busy handler does not wait for; concurrent first opens would fail
 * with "database is locked". An flock on <path>.lock serializes that phase:
 * the kernel wakes the waiter, nothing polls. */
static int open_lock(const char *path, char **cause)
{
	char *lock = xasprintf("%s.lock", path);
	int fd = lock_file(lock);

	if (fd < 0)
		*cause = xasprintf("cannot lock '%s': %s", lock, strerror(-fd));
	free(lock);
	return fd;
}

/* Remove what a creator killed before it linked its store into place left:
 * <name>.new.<pid> and its SQLite side files. Under the open lock, so none
 * of them is being built. */
static void remove_stale_new(const char *path)
{
	char *dir = dir_of(path), *copy = xstrdup(path), *prefix;
	struct dirent *de;
	DIR *d;

	prefix = xasprintf("%s.new.", basename(copy));
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		const char *p = de->d_name + strlen(prefix);

		if (strncmp(de->d_name, prefix, strlen(prefix)) || !(*p >= '0' && *p <= '9'))
			continue;
		while (*p >= '0' && *p <= '9')
			p++;
		if (!*p || !strcmp(p, "-journal") || !strcmp(p, "-wal") || !strcmp(p, "-shm"))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	free(prefix);
	free(copy);
	free(dir);
}

/*
 * Build a new store whole (application id, schema at the current version,
 * WAL mode) in <path>.new.<pid>, then link it into place only if path is
 * still absent. Under the open lock. A store that appeared meanwhile is kept
 * (and validated by the caller).
 */
static int create_store(const char *path, char **cause)
{
	char *tmp = xasprintf("%s.new.%d", path, (int)getpid()), *set, *dir;
	struct state st = {.path = tmp};
	int rc, r, fd;

	remove_stale_new(path);
	rc = sqlite3_open_v2(tmp, &st.db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = fail(&st, rc);
		goto fail;
	}
	set = xasprintf("PRAGMA application_id = %d; BEGIN IMMEDIATE;", STATE_APPLICATION_ID);
	r = exec_sql(&st, set);
	free(set);
	for (size_t v = 0; r >= 0 && v < ARRAY_SIZE(migrations); v++)
		r = exec_sql(&st, migrations[v]);
	if (r >= 0) {
		set = xasprintf("PRAGMA user_version = %zu; COMMIT; PRAGMA journal_mode = WAL;",
				ARRAY_SIZE(migrations));
		r = exec_sql(&st, set);
		free(set);
	}
	if (r < 0)
		goto fail;
	rc = sqlite3_close(st.db);
	st.db = NULL;
	/* the close checkpointed the WAL: the file alone is the whole store */
	if (rc != SQLITE_OK || side_exists(tmp, "-wal")) {
		r = -EIO;
		free(st.err);
		st.err = xasprintf("'%s': SQLite did not close it cleanly", tmp);
		goto fail;
	}
	/* into place only if nothing is there: a rename that replaces
	 * nothing, or (where the file system cannot) a link */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0 && errno != EEXIST) {
		if (errno != EINVAL && errno != ENOSYS) {
			r = -errno;
			free(st.err);
			st.err = xasprintf("cannot rename '%s' to '%s': %s", tmp, path,
					   strerror(-r));
			goto fail;
		}
		if (link(tmp, path) < 0 && errno != EEXIST) {
			r = -errno;
			free(st.err);
			st.err = xasprintf("cannot link '%s' to '%s': %s", tmp, path, strerror(-r));
			goto fail;
		}
	}
	unlink(tmp);
	/* the new name lasts as long as the store's first commit does */
	dir = dir_of(path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
	free(tmp);
	return 0;
fail:
	*cause = xasprintf("cannot create the state store '%s': %s", path,
			   st.err ? st.err : strerror(-r));
	sqlite3_close(st.db);
	remove_stale_new(path);
	free(st.err);
	free(tmp);
	return r;
}

int state_open(const char *path, struct state **ret, char **cause)
{
	struct state *st;
	int rc, r, lock, is_new;

	lock = open_lock(path, cause);
	if (lock < 0)
		return lock;
	is_new = check_header(path, cause);
	if (is_new == 1) {
		is_new = create_store(path, cause);
		if (is_new >= 0)
			is_new = check_header(path, cause);
	}
	if (is_new < 0) {
		close(lock);
		return is_new;
	}
	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
				     SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(rc);
		*cause = xasprintf("cannot open state store '%s': %s", path,
				   st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	r = exec_sql(st, "PRAGMA journal_mode = WAL");
	if (r < 0)
		goto fail_msg;
	r = exec_sql(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
	if (r < 0)
		goto fail_msg;
	r = migrate(st, cause);
	if (r < 0)
		goto fail;
	close(lock);
	*ret = st;
	return 0;
fail_msg:
	*cause = xstrdup(state_errmsg(st));
fail:
	state_close(st);
	close(lock);
	return r;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->path);
	free(st->err);
	free(st);
}

int state_begin(struct state *st)
{
	return exec_sql(st, "BEGIN IMMEDIATE");
}

int state_commit(struct state *st)
{
	return exec_sql(st, "COMMIT");
}

void state_rollback(struct state *st)
{
	if (sqlite3_get_autocommit(st->db))
		return;
	/* the rollback clears SQLite's message of the failure that led here */
	state_errmsg(st);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

const char *session_status_name(enum session_status s)
{
	switch (s) {
	case SESSION_PENDING:
		return "pending";
	case SESSION_ACTIVE:
		return "active";
	case SESSION_STOPPED:
		return "stopped";
	}
	return "?";
}

int session_status_parse(const char *s, enum session_status *ret)
{
	if (!s)
		return -EINVAL;
	if (!strcmp(s, "pending"))
		*ret = SESSION_PENDING;
	else if (!strcmp(s, "active"))
		*ret = SESSION_ACTIVE;
	else if (!strcmp(s, "stopped"))
		*ret = SESSION_STOPPED;
	else
		return -EINVAL;
	return 0;
}

void op_rec_finish(struct op_rec *op)
{
	free(op->id);
	free(op->kind);
	free(op->step);
	free(op->branch_at);
	free(op->crashed_step);
	memset(op, 0, sizeof(*op));
}

void op_rec_copy(struct op_rec *dst, const struct op_rec *src)
{
	*dst = *src;
	dst->id = src->id ? xstrdup(src->id) : NULL;
	dst->kind = src->kind ? xstrdup(src->kind) : NULL;
	dst->step = src->step ? xstrdup(src->step) : NULL;
	dst->branch_at = src->branch_at ? xstrdup(src->branch_at) : NULL;
	dst->crashed_step = src->crashed_step ? xstrdup(src->crashed_step) : NULL;
}

void ports_free(struct port_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].slug);
	}
	free(v);
}

void session_finish(struct session *s)
{
	free(s->slug);
	free(s->branch);
	free(s->worktree);
	free(s->mode);
	op_rec_finish(&s->op);
	ports_free(s->ports, s->n_ports);
	memset(s, 0, sizeof(*s));
}

void sessions_free(struct session *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		session_finish(&v[i]);
	free(v);
}

#define SESSION_COLS                                                                  \
	"s.slug, s.slot, s.branch, s.worktree, s.mode, s.status, s.owns_worktree, "   \
	"s.created_at, s.updated_at, o.op_id, o.kind, o.pid, o.start_time, o.since, " \
	"o.prev_status, o.step, o.branch_at FROM sessions s LEFT JOIN ops o ON o.slug = s.slug"

static int row_to_session(sqlite3_stmt *stmt, struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->slug = col_text(stmt, 0);
	s->slot = (unsigned)sqlite3_column_int(stmt, 1);
	s->branch = col_text(stmt, 2);
	s->worktree = col_text(stmt, 3);
	s->mode = col_text(stmt, 4);
	if (session_status_parse((const char *)sqlite3_column_text(stmt, 5), &s->status) < 0)
		s->status = SESSION_PENDING;
	s->owns_worktree = sqlite3_column_int(stmt, 6) != 0;
	s->created_at = sqlite3_column_int64(stmt, 7);
	s->updated_at = sqlite3_column_int64(stmt, 8);
	if (sqlite3_column_type(stmt, 9) != SQLITE_NULL) {
		s->has_op = true;
		s->op.id = col_text(stmt, 9);
		s->op.kind = col_text(stmt, 10);
		s->op.pid = (pid_t)sqlite3_column_int64(stmt, 11);
		s->op.start_time = (uint64_t)sqlite3_column_int64(stmt, 12);
		s->op.since = sqlite3_column_int64(stmt, 13);
		s->op.had_prev = session_status_parse((const char *)sqlite3_column_text(stmt, 14),
						      &s->op.prev) == 0;
		s->op.step = col_text(stmt, 15);
		s->op.branch_at = col_text(stmt, 16);
	}
	if (!s->slug || !s->branch || !s->worktree || !s->mode)
		return -EBADMSG;
	return 0;
}

static int load_ports(struct state *st, const char *slug, struct port_rec **ret, size_t *ret_n)
{
	struct port_rec *v = NULL;
	size_t n = 0, alloc = 0;
	sqlite3_stmt *stmt;
	int rc, r;

	r = prepare(st,
		    slug ? "SELECT name, port, slug FROM ports WHERE slug = ?1 ORDER BY name"
			 : "SELECT name, port, slug FROM ports ORDER BY slug, name",
		    &stmt);
	if (r < 0)
		return r;
	if (slug)
		bind_text(stmt, 1, slug);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		XGROW(v, alloc, n + 1);
		v[n].name = col_text(stmt, 0);
		v[n].port = (unsigned)sqlite3_column_int(stmt, 1);
		v[n].slug = col_text(stmt, 2);
		n++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		ports_free(v, n);
		return sql_err(rc);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int state_session_get(struct state *st, const char *slug, struct session *ret)
{
	struct session s;
	sqlite3_stmt *stmt;
	int rc, r;

	r = prepare(st, "SELECT " SESSION_COLS " WHERE s.slug = ?1", &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, slug);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(stmt);
		return rc == SQLITE_DONE ? -ENOENT : sql_err(rc);
	}
	r = row_to_session(stmt, &s);
	sqlite3_finalize(stmt);
	if (r >= 0)
		r = load_ports(st, slug, &s.ports, &s.n_ports);
	if (r < 0) {
		session_finish(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int state_sessions_list(struct state *st, struct session **ret, size_t *ret_n)
{
	struct session *v = NULL;
	size_t n = 0, alloc = 0;
	sqlite3_stmt *stmt;
	int rc, r;

	r = prepare(st, "SELECT " SESSION_COLS " ORDER BY s.slot", &stmt);
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		XGROW(v, alloc, n + 1);
		r = row_to_session(stmt, &v[n++]);
		if (r < 0)
			break;
	}
	sqlite3_finalize(stmt);
	if (r >= 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sql_err(rc);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = load_ports(st, v[i].slug, &v[i].ports, &v[i].n_ports);
	if (r < 0) {
		sessions_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int state_session_insert(struct state *st, const struct session *s)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st,
		    "INSERT INTO sessions (slug, slot, branch, worktree, mode, status, "
		    "owns_worktree, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		    "?8, ?8)",
		    &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, s->slug);
	sqlite3_bind_int(stmt, 2, (int)s->slot);
	bind_text(stmt, 3, s->branch);
	bind_text(stmt, 4, s->worktree);
	bind_text(stmt, 5, s->mode);
	bind_text(stmt, 6, session_status_name(s->status));
	sqlite3_bind_int(stmt, 7, s->owns_worktree);
	sqlite3_bind_int64(stmt, 8, time_wall_s());
	return step_done(stmt);
}

int state_session_update(struct state *st, const struct session *s)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st,
		    "UPDATE sessions SET status = ?2, branch = ?3, worktree = ?4, "
		    "owns_worktree = ?5, updated_at = ?6 WHERE slug = ?1",
		    &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, s->slug);
	bind_text(stmt, 2, session_status_name(s->status));
	bind_text(stmt, 3, s->branch);
	bind_text(stmt, 4, s->worktree);
	sqlite3_bind_int(stmt, 5, s->owns_worktree);
	sqlite3_bind_int64(stmt, 6, time_wall_s());
	r = step_done(stmt);
	if (r >= 0 && sqlite3_changes(st->db) == 0)
		return -ENOENT;
	return r;
}

int state_session_delete(struct state *st, const char *slug)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st, "DELETE FROM sessions WHERE slug = ?1", &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, slug);
	return step_done(stmt);
}

int state_slots_used(struct state *st, unsigned max_slot, bool **ret_used)
{
	bool *used = xcalloc(max_slot + 1, sizeof(*used));
	sqlite3_stmt *stmt;
	int rc, r;

	r = prepare(st, "SELECT slot FROM sessions", &stmt);
	if (r < 0) {
		free(used);
		return r;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int slot = sqlite3_column_int(stmt, 0);

		if (slot > 0 && (unsigned)slot <= max_slot)
			used[slot] = true;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		free(used);
		return sql_err(rc);
	}
	*ret_used = used;
	return 0;
}

int state_op_set(struct state *st, const char *slug, const struct op_rec *op)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st,
		    "INSERT OR REPLACE INTO ops (slug, op_id, kind, pid, start_time, since, "
		    "prev_status, step, branch_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		    &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, slug);
	bind_text(stmt, 2, op->id);
	bind_text(stmt, 3, op->kind);
	sqlite3_bind_int64(stmt, 4, op->pid);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)op->start_time);
	sqlite3_bind_int64(stmt, 6, op->since);
	bind_text(stmt, 7, op->had_prev ? session_status_name(op->prev) : NULL);
	bind_text(stmt, 8, op->step);
	bind_text(stmt, 9, op->branch_at);
	return step_done(stmt);
}

int state_op_clear(struct state *st, const char *slug)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st, "DELETE FROM ops WHERE slug = ?1", &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, slug);
	return step_done(stmt);
}

int state_ports_set(struct state *st, const char *slug, const struct port_rec *ports, size_t n)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st, "DELETE FROM ports WHERE slug = ?1", &stmt);
	if (r < 0)
		return r;
	bind_text(stmt, 1, slug);
	r = step_done(stmt);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = prepare(st, "INSERT INTO ports (slug, name, port) VALUES (?1, ?2, ?3)", &stmt);
		if (r < 0)
			return r;
		bind_text(stmt, 1, slug);
		bind_text(stmt, 2, ports[i].name);
		sqlite3_bind_int(stmt, 3, (int)ports[i].port);
		r = step_done(stmt);
		if (r == -EEXIST)
			return -EADDRINUSE;
		if (r < 0)
			return r;
	}
	return 0;
}

int state_ports_all(struct state *st, struct port_rec **ret, size_t *ret_n)
{
	return load_ports(st, NULL, ret, ret_n);
}

int state_event_add(struct state *st, const char *slug, const char *service, const char *kind,
		    const char *detail)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return state_event_add_at(st, (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, slug, service,
				  kind, detail);
}

int state_event_add_at(struct state *st, int64_t ts_ms, const char *slug, const char *service,
		       const char *kind, const char *detail)
{
	sqlite3_stmt *stmt;
	int r;

	r = prepare(st,
		    "INSERT INTO events (ts, slug, service, kind, detail) VALUES (?1, ?2, ?3, ?4, "
		    "?5)",
		    &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)ts_ms);
	bind_text(stmt, 2, slug);
	bind_text(stmt, 3, service);
	bind_text(stmt, 4, kind);
	bind_text(stmt, 5, detail);
	return step_done(stmt);
}

void events_free(struct event_rec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].slug);
		free(v[i].service);
		free(v[i].kind);
		free(v[i].detail);
	}
	free(v);
}

int state_events_list(struct state *st, int64_t after_id, size_t limit, struct event_rec **ret,
		      size_t *ret_n)
{
	struct event_rec *v = NULL;
	size_t n = 0, alloc = 0;
	sqlite3_stmt *stmt;
	int rc, r;

	r = prepare(st,
		    "SELECT id, ts, slug, service, kind, detail FROM events WHERE id > ?1 "
		    "ORDER BY id LIMIT ?2",
		    &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_int64(stmt, 1, after_id);
	sqlite3_bind_int64(stmt, 2, limit ? (sqlite3_int64)limit : -1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		XGROW(v, alloc, n + 1);
		v[n].id = sqlite3_column_int64(stmt, 0);
		v[n].ts_ms = sqlite3_column_int64(stmt, 1);
		v[n].slug = col_text(stmt, 2);
		v[n].service = col_text(stmt, 3);
		v[n].kind = col_text(stmt, 4);
		v[n].detail = col_text(stmt, 5);
		n++;
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		events_free(v, n);
		return sql_err(rc);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int state_check(const char *path, char **cause)
{
	struct strbuf problems = STRBUF_INIT;
	struct state st = {.path = (char *)path};
	sqlite3_stmt *stmt = NULL;
	unsigned bad = 0, rows = 0;
	int rc, r;

	/* check_header reads the file only: a missing one is no store (never
	 * created here), a foreign or empty one is refused untouched. */
	r = check_header(path, cause);
	if (r < 0)
		return r;
	if (r == 1)
		return -ENOENT;
	rc = sqlite3_open_v2(path, &st.db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
				     SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(rc);
		*cause = xasprintf("cannot open state store '%s' read-only: %s", path,
				   st.db ? sqlite3_errmsg(st.db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(st.db, BUSY_TIMEOUT_MS);
	r = prepare(&st, "PRAGMA quick_check", &stmt);
	if (r < 0)
		goto fail_msg;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(stmt, 0);

		rows++;
		if (line && !strcmp(line, "ok"))
			continue;
		/* quick_check lists up to 100 problems, the first after a
		 * "*** in database main ***" line: a few say enough, on one line */
		if (line && !strncmp(line, "*** in database main ***\n", 25))
			line += 25;
		if (bad++ >= 3)
			continue;
		if (bad > 1)
			strbuf_adds(&problems, "; ");
		for (const char *p = line ? line : "?"; *p; p++) {
			if (*p == '\n')
				strbuf_adds(&problems, "; ");
			else
				strbuf_addch(&problems, *p);
		}
	}
	if (rc != SQLITE_DONE) {
		r = sql_err(rc);
		goto fail_msg;
	}
	if (bad > 3)
		strbuf_addf(&problems, "; and %u more", bad - 3);
	if (bad || !rows) {
		*cause = xasprintf("the state store '%s' is corrupt (quick_check: %s); move it "
				   "away and run berth again (the sessions it recorded are then "
				   "forgotten; their worktrees stay on disk)",
				   path, bad ? strbuf_str(&problems) : "no answer");
		r = -EBADMSG;
		goto out;
	}
	r = 0;
	goto out;
fail_msg:
	*cause = xstrdup(state_errmsg(&st));
out:
	sqlite3_finalize(stmt);
	sqlite3_close(st.db);
	free(st.err);
	strbuf_release(&problems);
	return r;
}
