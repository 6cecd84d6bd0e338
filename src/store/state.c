/*
 * state.c: the SQLite state store: schema, migrations, sessions, ports, ops
 * (ownership tokens) and events.
 *
 * Opening is where a hostile file is met: nothing is written to a store
 * before it is known to be berth's. A file is checked in three steps, each
 * before the next may touch anything: its type and first 100 bytes
 * (check_file), then what SQLite reads of it through its write-ahead log, on
 * a read-only connection that never writes the file nor replays the log into
 * it (validate: application id, schema version, the schema exactly as the
 * migrations make it, the tables' first pages), and only then, for a command
 * that writes, a read-write connection. A new store is built whole in a file
 * of its own and linked into place, so that berth never leaves an empty or
 * half-made store behind.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/state.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define BUSY_TIMEOUT_MS 10000

struct state {
	sqlite3 *db;
	char *path; /* the store's file: every message names it */
	char *err;  /* why the last failed call failed (state_errmsg) */
	bool copy;  /* db is a copy in memory (state_is_copy) */
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

/* ---- the file, before SQLite ------------------------------------------ */

static const char *file_kind(mode_t mode)
{
	return S_ISLNK(mode)    ? "a symbolic link"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISDIR(mode)  ? "a directory"
				: "not a regular file";
}

/* SQLite's side file of path (suffix "-wal", "-shm") must be absent or a
 * regular file: SQLite follows a symlink there, and blocks on a FIFO. */
static int check_side_file(const char *path, const char *suffix, bool *ret_exists, char **cause)
{
	char *side = xasprintf("%s%s", path, suffix);
	struct stat sb;
	int r = 0;

	*ret_exists = false;
	if (lstat(side, &sb) == 0) {
		*ret_exists = true;
		if (!S_ISREG(sb.st_mode)) {
			*cause = xasprintf("'%s' is %s, not the SQLite side file of the state "
					   "store '%s'; both were left untouched: move it away and "
					   "run the command again",
					   side, file_kind(sb.st_mode), path);
			r = -EBADMSG;
		}
	} else if (errno != ENOENT) {
		*cause = xasprintf("cannot look at '%s': %s", side, strerror(errno));
		r = -errno;
	}
	free(side);
	return r;
}

/*
 * Look at the file's type and first bytes before SQLite does. Returns 1 when
 * there is no file (a new store), 0 when it may be a berth store (*ret_sb
 * filled, *ret_wal telling whether a write-ahead log lies beside it), else a
 * refusal with *cause. Reading the header ourselves means a foreign file is
 * never opened by SQLite at all.
 */
static int check_file(const char *path, struct stat *ret_sb, bool *ret_wal, char **cause)
{
	unsigned char h[100];
	uint32_t app, version;
	bool shm;
	ssize_t n;
	int fd, r;

	/* Only a regular file of our own: never a FIFO or a device (a read
	 * would block or have effects), never a symlink (SQLite would create
	 * or write its target, anywhere). */
	if (lstat(path, ret_sb) < 0) {
		if (errno == ENOENT)
			return 1;
		*cause = xasprintf("cannot open state store '%s': %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(ret_sb->st_mode)) {
		*cause = xasprintf("'%s' is %s, not a berth state store; it was left untouched: "
				   "move it away and run the command again",
				   path, file_kind(ret_sb->st_mode));
		return -EBADMSG;
	}
	/* berth never leaves an empty store (it builds a new one elsewhere and
	 * links it into place): an empty file was truncated, or is not ours */
	if (ret_sb->st_size == 0) {
		*cause = xasprintf("the state store '%s' is empty (0 bytes), which berth never "
				   "leaves it: it was truncated, or is not berth's; it was left "
				   "untouched: move it away and run the command again (berth then "
				   "starts a new store: the sessions it recorded are forgotten, "
				   "their worktrees stay on disk)",
				   path);
		return -EBADMSG;
	}
	r = check_side_file(path, "-wal", ret_wal, cause);
	if (r >= 0)
		r = check_side_file(path, "-shm", &shm, cause);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		*cause = xasprintf("cannot open state store '%s': %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
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
	 * change still only in the WAL is caught by validate().) */
	if (version > STATE_SCHEMA_VERSION) {
		*cause = xasprintf("'%s' has schema version %u, newer than this berth "
				   "understands (%d); it was left untouched: use a newer berth",
				   path, version, STATE_SCHEMA_VERSION);
		return -EPROTO;
	}
	return 0;
}

/* Did the file change since sb was taken (a writer came and went)? */
static bool file_changed(const char *path, const struct stat *sb)
{
	struct stat now;

	return lstat(path, &now) < 0 || now.st_dev != sb->st_dev || now.st_ino != sb->st_ino ||
	       now.st_size != sb->st_size || now.st_mtim.tv_sec != sb->st_mtim.tv_sec ||
	       now.st_mtim.tv_nsec != sb->st_mtim.tv_nsec ||
	       now.st_ctim.tv_sec != sb->st_ctim.tv_sec ||
	       now.st_ctim.tv_nsec != sb->st_ctim.tv_nsec;
}

static bool side_exists(const char *path, const char *suffix)
{
	char *side = xasprintf("%s%s", path, suffix);
	struct stat sb;
	bool r = lstat(side, &sb) == 0;

	free(side);
	return r;
}

/* ---- what SQLite reads: the validation --------------------------------- */

/* Append sql to sb with its layout left out: each run of white space one
 * space, none next to punctuation; quoted text as it is. The same schema
 * typed out with other spacing (or laid out by another SQLite's ALTER
 * TABLE) reads the same. */
static void sql_normal(struct strbuf *sb, const char *sql)
{
	size_t start = sb->len;
	bool space = false;

	for (const char *p = sql; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = true;
			continue;
		}
		if (space && sb->len > start && !strchr("(),;", *p) &&
		    !strchr("(),;", sb->buf[sb->len - 1]))
			strbuf_addch(sb, ' ');
		space = false;
		if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
			char close = *p == '[' ? ']' : *p;
			const char *end = strchr(p + 1, close);
			size_t n = end ? (size_t)(end - p) + 1 : strlen(p);

			strbuf_add(sb, p, n);
			p += n - 1;
			continue;
		}
		strbuf_addch(sb, *p);
	}
}

/* Each schema object of db as "type name tbl_name sql", sorted (sql with
 * its layout left out). */
static int schema_rows(sqlite3 *db, struct strvec *ret)
{
	static const char sql[] =
		"SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name";
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct strbuf row = STRBUF_INIT;
		const char *col[4];

		for (int i = 0; i < 4; i++) {
			col[i] = (const char *)sqlite3_column_text(stmt, i);
			if (!col[i])
				col[i] = "";
		}
		strbuf_addf(&row, "%s %s\n%s\n", col[0], col[1], col[2]);
		sql_normal(&row, col[3]);
		strvec_push_owned(ret, strbuf_detach(&row));
	}
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The schema the migrations make at version, built in memory: adding a
 * migration needs no change here. An SQLite result code. */
static int expected_schema(int version, struct strvec *ret)
{
	sqlite3 *mem = NULL;
	int rc;

	rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	for (int v = 0; rc == SQLITE_OK && v < version; v++)
		rc = sqlite3_exec(mem, migrations[v], NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = schema_rows(mem, ret);
	sqlite3_close(mem);
	return rc;
}

/* "table 'events'" of a schema row. */
static char *row_subject(const char *row)
{
	size_t type = strcspn(row, " "), name = strcspn(row + type + 1, "\n");

	return xasprintf("%.*s '%.*s'", (int)type, row, (int)name, row + type + 1);
}

/* How schema rows have differs from want, or NULL when they are the same
 * (tables first: a missing table says more than its missing index). */
static char *schema_diff(const struct strvec *have, const struct strvec *want)
{
	for (size_t k = 0; k < 2 * want->n; k++) {
		size_t i = k % want->n, key = strcspn(want->v[i], "\n");
		bool found = false;

		if ((k < want->n) != !strncmp(want->v[i], "table ", 6))
			continue;
		for (size_t j = 0; j < have->n && !found; j++) {
			if (strncmp(have->v[j], want->v[i], key + 1))
				continue;
			found = true;
			if (strcmp(have->v[j], want->v[i])) {
				char *subj = row_subject(want->v[i]), *d;

				d = xasprintf("its %s is not the one berth creates", subj);
				free(subj);
				return d;
			}
		}
		if (!found) {
			char *subj = row_subject(want->v[i]), *d;

			d = xasprintf("its %s is missing", subj);
			free(subj);
			return d;
		}
	}
	for (size_t j = 0; j < have->n; j++) {
		size_t key = strcspn(have->v[j], "\n");
		bool found = false;

		for (size_t i = 0; i < want->n && !found; i++)
			found = !strncmp(have->v[j], want->v[i], key + 1);
		if (!found) {
			char *subj = row_subject(have->v[j]), *d;

			d = xasprintf("it has a %s that berth does not create", subj);
			free(subj);
			return d;
		}
	}
	return NULL;
}

static int pragma_int(sqlite3 *db, const char *sql, int *ret)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int(stmt, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/*
 * Is what db reads of path (through its write-ahead log, if any) a berth
 * store? Its application id, its schema version (1 to ours: berth never
 * leaves version 0), its schema exactly as the migrations make it at that
 * version, and the first page of each table, all in one read transaction.
 * 0 with *ret_version, else -errno with *cause.
 */
static int validate(sqlite3 *db, const char *path, bool wal, int *ret_version, char **cause)
{
	struct strvec have = STRVEC_INIT, want = STRVEC_INIT;
	char *diff = NULL;
	int rc, app = 0, version = 0, r = 0;

	rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = pragma_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		goto fail_sql;
	if ((uint32_t)app != STATE_APPLICATION_ID) {
		if (wal)
			*cause = xasprintf(
				"'%s-wal', the write-ahead log beside the state store "
				"'%s', is not berth's: read through it, the store is an "
				"SQLite database of another application (application id "
				"0x%08x); both were left untouched: move them away and run "
				"the command again",
				path, path, (uint32_t)app);
		else
			*cause =
				xasprintf("'%s' is an SQLite database but not a berth state store "
					  "(application id 0x%08x); it was left untouched: move it "
					  "away and run the command again",
					  path, (uint32_t)app);
		r = -EBADMSG;
		goto out;
	}
	if (version > STATE_SCHEMA_VERSION) {
		*cause = xasprintf("'%s' has schema version %d, newer than this berth "
				   "understands (%d); it was left untouched: use a newer berth",
				   path, version, STATE_SCHEMA_VERSION);
		r = -EPROTO;
		goto out;
	}
	if (version < 1) {
		*cause = xasprintf("'%s' is not a berth state store: it has berth's application "
				   "id but schema version %d, a store berth never leaves (half "
				   "made); it was left untouched: move it away and run the command "
				   "again",
				   path, version);
		r = -EBADMSG;
		goto out;
	}
	rc = schema_rows(db, &have);
	if (rc != SQLITE_OK)
		goto fail_sql;
	rc = expected_schema(version, &want);
	if (rc != SQLITE_OK)
		goto fail_sql;
	diff = schema_diff(&have, &want);
	if (diff) {
		*cause = xasprintf("'%s' is not a berth state store: it has berth's application "
				   "id and schema version %d, but %s; it was left untouched: move "
				   "it away and run the command again",
				   path, version, diff);
		r = -EBADMSG;
		goto out;
	}
	/* the schema is on page 1; each table's first page too must be sound
	 * (zeroed pages would otherwise fail only later, inside a command) */
	for (size_t i = 0; i < want.n; i++) {
		char *subj, *sql;

		if (strncmp(want.v[i], "table ", 6))
			continue;
		subj = xasprintf("%.*s", (int)strcspn(want.v[i] + 6, "\n"), want.v[i] + 6);
		sql = xasprintf("SELECT 1 FROM \"%s\" LIMIT 1", subj);
		free(subj);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK)
			goto fail_sql;
	}
	*ret_version = version;
	goto out;
fail_sql:
	*cause = failure_text(path, rc, sql_why(db, rc));
	r = sql_err(rc);
	if (r == 0)
		r = -EIO;
out:
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	free(diff);
	strvec_clear(&have);
	strvec_clear(&want);
	return r;
}

/* path as an SQLite URI ("file:" and the path, percent-encoded). */
static char *file_uri(const char *path)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_adds(&sb, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._~-", *p))
			strbuf_addch(&sb, (char)*p);
		else
			strbuf_addf(&sb, "%%%02X", *p);
	}
	return strbuf_detach(&sb);
}

/*
 * A read-only connection to path: it never writes the file, never
 * checkpoints, never replays the write-ahead log into it. immutable: read
 * the main file alone, without locks or side files (only sound while no
 * writer can be at work).
 */
static int open_readonly(const char *path, bool immutable, sqlite3 **ret, char **cause)
{
	char *uri = file_uri(path);
	sqlite3 *db = NULL;
	int rc;

	if (immutable) {
		char *with = xasprintf("%s?immutable=1", uri);

		free(uri);
		uri = with;
	}
	rc = sqlite3_open_v2(uri, &db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX |
				     SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		*cause = xasprintf("cannot open state store '%s' read-only: %s", path,
				   sql_why(db, rc));
		sqlite3_close(db);
		return sql_err(rc) < 0 ? sql_err(rc) : -EIO;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	*ret = db;
	return 0;
}

/* 0 when the directory of path is writable, else an errno value. */
static int dir_access(const char *path)
{
	char *dir = path_dir(path);
	int err = access(dir, W_OK) == 0 ? 0 : errno;

	free(dir);
	return err;
}

enum inspect_how {
	INSPECT_CHECK,   /* validate the store, close what was opened */
	INSPECT_KEEP,    /* the same, keeping the connection to read it through */
	INSPECT_REFUSAL, /* the caller cannot write the store and refuses anyway:
			  * only look for a reason to refuse the file itself,
			  * creating nothing beside it if it can */
};

/* What inspect() found. */
struct found {
	bool missing;   /* no file at all */
	int version;    /* its schema version, read through its WAL */
	struct stat sb; /* the file that was validated */
	sqlite3 *db;    /* with keep: the read-only connection that validated it */
};

/*
 * Is the file at path a berth store? check_file, then validate() on a
 * read-only connection. When no write-ahead log lies beside it, the main
 * file alone is validated first with an immutable connection, which creates
 * no side files: a file refused then is left exactly as it was found, and
 * nothing is created beside it. (A writer that came and went meanwhile
 * would have changed the file: then only the second, locked read counts.)
 * 0 with *f, else a refusal with *cause. With INSPECT_KEEP, f->db is the
 * connection to read the store through (the caller closes it).
 */
static int inspect(const char *path, enum inspect_how how, struct found *f, char **cause)
{
	bool keep = how == INSPECT_KEEP;
	bool wal, writable = dir_access(path) == 0;
	sqlite3 *db = NULL;
	int r;

	memset(f, 0, sizeof(*f));
	r = check_file(path, &f->sb, &wal, cause);
	if (r == 1) {
		f->missing = true;
		return 0;
	}
	if (r < 0)
		return r;
	if (!wal) {
		bool stable;

		r = open_readonly(path, true, &db, cause);
		if (r < 0)
			return r;
		r = validate(db, path, false, &f->version, cause);
		stable = !file_changed(path, &f->sb) && !side_exists(path, "-wal");
		if (stable && (r < 0 || !keep || !writable)) {
			/* refused, or sound, as it stood all along with no WAL to
			 * read it through: a caller that keeps no connection needs
			 * no other look; in a directory we cannot write, SQLite
			 * cannot make its side files to read it the usual way (and
			 * no writer of ours is at work there) */
			if (r < 0 || !keep)
				sqlite3_close(db);
			else
				f->db = db;
			return r;
		}
		free(*cause);
		*cause = NULL;
		sqlite3_close(db);
		db = NULL;
	}
	r = open_readonly(path, false, &db, cause);
	if (r >= 0)
		r = validate(db, path, wal, &f->version, cause);
	if (!writable && (r == -ENOENT || r == -EROFS || r == -EACCES)) {
		char *why = *cause;

		*cause = xasprintf("cannot read the state store '%s': its write-ahead log "
				   "'%s-wal' can only be read with '%s-shm' beside it, and its "
				   "directory is read-only (%s); make the directory writable",
				   path, path, path, why);
		free(why);
	}
	if (r < 0 || !keep)
		sqlite3_close(db);
	else
		f->db = db;
	return r;
}

/* ---- creating and opening ---------------------------------------------- */

/* Creating the store, switching it to WAL and migrating it take locks that
 * SQLite's busy handler does not wait for; concurrent first opens would fail
 * with "database is locked". An flock on <path>.lock serializes that phase:
 * the kernel wakes the waiter, nothing polls. */
static int open_lock(const char *path, char **cause)
{
	char *lock = xasprintf("%s.lock", path);
	struct stat sb;
	int fd, r;

	/* never through a symlink (its target would be created, anywhere),
	 * never a FIFO or a device */
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		r = -errno;
		*cause = r == -ELOOP ? xasprintf("'%s' is a symbolic link, not berth's lock of the "
						 "state store; it was left untouched: move it away "
						 "and run the command again",
						 lock)
				     : xasprintf("cannot lock '%s': %s", lock, strerror(-r));
		goto out;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		*cause = xasprintf("'%s' is not a regular file, not berth's lock of the state "
				   "store; it was left untouched: move it away and run the command "
				   "again",
				   lock);
		r = -EBADMSG;
		goto out_close;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = -errno;
			*cause = xasprintf("cannot lock '%s': %s", lock, strerror(-r));
			goto out_close;
		}
	}
	r = fd;
	goto out;
out_close:
	close(fd);
out:
	free(lock);
	return r;
}

/* Remove what a creator killed before it linked its store into place left:
 * <name>.new.<pid> and its SQLite side files. Under the open lock, so none
 * of them is being built. */
static void remove_stale_new(const char *path)
{
	char *dir = path_dir(path), *copy = xstrdup(path), *prefix;
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
	dir = path_dir(path);
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

/* Does access(W_OK) failing with err mean we may not write? */
static bool read_only_errno(int err)
{
	return err == EACCES || err == EPERM || err == EROFS;
}

/* The message for a store that cannot be written. */
static char *read_only_text(const char *path, bool dir, int err)
{
	char *d = path_dir(path), *text;

	if (dir)
		text = xasprintf("cannot write the state store '%s': its directory '%s' is "
				 "read-only (%s); the commands that only read it (ls, status, env, "
				 "events, whose, logs) still work: make the directory writable to "
				 "change sessions",
				 path, d, strerror(err));
	else
		text = xasprintf(
			"cannot write the state store '%s': read-only (%s); the "
			"commands that only read it (ls, status, env, events, whose, logs) "
			"still work: make it writable to change sessions",
			path, strerror(err));
	free(d);
	return text;
}

/* Bring the schema to STATE_SCHEMA_VERSION, in one transaction. */
static int migrate(struct state *st, char **cause)
{
	int version, rc, r;

	r = state_begin(st);
	if (r < 0)
		goto fail;
	rc = pragma_int(st->db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK) {
		r = fail(st, rc);
		goto fail_rollback;
	}
	if (version > (int)ARRAY_SIZE(migrations)) {
		state_rollback(st);
		*cause = xasprintf("'%s' has schema version %d, newer than this berth understands "
				   "(%zu); it was left untouched: use a newer berth",
				   st->path, version, ARRAY_SIZE(migrations));
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

static struct state *state_new(const char *path)
{
	struct state *st = xcalloc(1, sizeof(*st));

	st->path = xstrdup(path);
	return st;
}

int state_open(const char *path, struct state **ret, char **cause)
{
	struct state *st = NULL;
	struct found f;
	struct stat sb;
	int rc, r, lock, dir_err, file_err;

	/* A store in a directory we cannot write, or a file we cannot write,
	 * cannot be changed (SQLite makes its side files in the directory): say
	 * so, once the file is known not to be refused for worse. */
	dir_err = dir_access(path);
	file_err = access(path, W_OK) == 0 ? 0 : errno;
	if (dir_err && !read_only_errno(dir_err)) {
		*cause = xasprintf("cannot open state store '%s': %s", path, strerror(dir_err));
		return -dir_err;
	}
	if (dir_err || read_only_errno(file_err)) {
		r = inspect(path, INSPECT_REFUSAL, &f, cause);
		if (r < 0)
			return r;
		*cause = read_only_text(path, dir_err != 0, dir_err ? dir_err : file_err);
		return -EROFS;
	}
	lock = open_lock(path, cause);
	if (lock < 0)
		return lock;
	r = inspect(path, INSPECT_CHECK, &f, cause);
	if (r >= 0 && f.missing) {
		r = create_store(path, cause);
		if (r >= 0)
			r = inspect(path, INSPECT_CHECK, &f, cause);
		if (r >= 0 && f.missing) {
			*cause = xasprintf("cannot create the state store '%s': it vanished as it "
					   "was made",
					   path);
			r = -EIO;
		}
	}
	if (r < 0)
		goto fail;
	st = state_new(path);
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
				     SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = fail(st, rc);
		*cause = xasprintf("cannot open state store '%s': %s", path, sql_why(st->db, rc));
		goto fail;
	}
	/* the file validated is the file opened, and SQLite may write it */
	if (lstat(path, &sb) < 0 || sb.st_dev != f.sb.st_dev || sb.st_ino != f.sb.st_ino) {
		*cause = xasprintf("the state store '%s' was replaced while berth opened it; run "
				   "the command again",
				   path);
		r = -EBUSY;
		goto fail;
	}
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		*cause = read_only_text(path, false, EACCES);
		r = -EROFS;
		goto fail;
	}
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	r = exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
			 "PRAGMA foreign_keys = ON;");
	if (r < 0) {
		*cause = xstrdup(state_errmsg(st));
		goto fail;
	}
	r = migrate(st, cause);
	if (r < 0)
		goto fail;
	close(lock);
	*ret = st;
	return 0;
fail:
	state_close(st);
	close(lock);
	return r;
}

/* A copy of st's store in memory, migrated to the current schema: what a
 * read-only command reads of a store of an older schema (the file is
 * upgraded by the next command that writes). */
static int migrate_in_memory(struct state *st, char **cause)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *b;
	int rc;

	rc = sqlite3_open_v2(":memory:", &mem,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc == SQLITE_OK) {
		b = sqlite3_backup_init(mem, "main", st->db, "main");
		rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(mem);
		if (b && rc == SQLITE_DONE)
			rc = sqlite3_backup_finish(b);
		else if (b)
			sqlite3_backup_finish(b);
	}
	if (rc != SQLITE_OK) {
		*cause = xasprintf("cannot read the state store '%s': %s", st->path,
				   sql_why(mem, rc));
		sqlite3_close(mem);
		return sql_err(rc) < 0 ? sql_err(rc) : -EIO;
	}
	sqlite3_close(st->db);
	st->db = mem;
	return migrate(st, cause);
}

int state_open_readonly(const char *path, struct state **ret, char **cause)
{
	struct state *st;
	struct found f;
	int rc, r;

	r = inspect(path, INSPECT_KEEP, &f, cause);
	if (r < 0)
		return r;
	st = state_new(path);
	if (f.missing) {
		/* no store: no sessions; nothing is created */
		rc = sqlite3_open_v2(
			":memory:", &st->db,
			SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
		if (rc != SQLITE_OK) {
			fail(st, rc);
			*cause = xstrdup(state_errmsg(st));
			state_close(st);
			return sql_err(rc);
		}
		st->copy = true;
		r = migrate(st, cause);
	} else {
		st->db = f.db;
		if (f.version < STATE_SCHEMA_VERSION) {
			st->copy = true;
			r = migrate_in_memory(st, cause);
		}
	}
	if (r < 0) {
		state_close(st);
		return r;
	}
	*ret = st;
	return 0;
}

bool state_is_copy(struct state *st)
{
	return st->copy;
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
	return state_event_add_at(st, time_wall_ms(), slug, service, kind, detail);
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

int state_events_prune(struct state *st, unsigned keep, int64_t before_ms)
{
	sqlite3_stmt *stmt;
	int r;

	/* ids grow with time: the newest `keep` are the highest ids */
	r = prepare(st,
		    "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1 OR ts < ?2",
		    &stmt);
	if (r < 0)
		return r;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)keep);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)before_ms);
	r = step_done(stmt);
	return r < 0 ? r : sqlite3_changes(st->db);
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
	struct found f;
	int rc, r;

	/* What any command would refuse, refused the same way; a missing
	 * store is no store (never created here). */
	r = inspect(path, INSPECT_KEEP, &f, cause);
	if (r < 0)
		return r;
	if (f.missing)
		return -ENOENT;
	st.db = f.db;
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
		r = fail(&st, rc);
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
