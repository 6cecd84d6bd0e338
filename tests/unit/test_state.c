/*
 * test_state.c: the SQLite state store against real files in a temporary
 * directory: creation (user_version, application_id, WAL), reopening,
 * refusing files that are not berth stores without changing a byte of them,
 * migration of an empty store, sessions, slots, ports (unique across
 * sessions, rolled back as a whole), ops, events, survival of SIGKILL in and
 * after a transaction, and concurrent writers from several processes.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/session.h"
#include "store/state.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "tap.h"

#define N_WRITERS 8
#define N_WAITERS 4
#define WAIT_LIMIT_MS 20000

/* ---- helpers ---------------------------------------------------------- */

struct tmp {
	char *dir;
	char *db; /* <dir>/state.db, not created */
};

#define TEXT_OF(x) #x
#define TEXT_OF_VALUE(x) TEXT_OF(x)
#define SCHEMA_TEXT TEXT_OF_VALUE(STATE_SCHEMA_VERSION)

static void tmp_init(struct tmp *t)
{
	const char *base = getenv("TMPDIR");

	t->dir = xasprintf("%s/berth-state-XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(t->dir) != NULL);
	t->db = path_join(t->dir, "state.db");
}

static void tmp_finish(struct tmp *t)
{
	ASSERT_OK(rm_rf(t->dir));
	free(t->dir);
	free(t->db);
}

static struct state *open_ok(const char *path)
{
	struct state *st = NULL;
	char *cause = NULL;
	int r = state_open(path, &st, &cause);

	if (r < 0) {
		char *m = xasprintf("state_open: %s (%s)", cause ? cause : "(no cause)",
				    strerror(-r));

		tap_fail(__FILE__, __LINE__, m);
	}
	ASSERT_TRUE(cause == NULL);
	ASSERT_TRUE(st != NULL);
	return st;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(write(fd, data, len), len);
	ASSERT_OK(close(fd));
}

static char *read_bytes(const char *path, size_t *ret_len)
{
	char *data;

	ASSERT_OK(read_file(path, 64 << 20, &data, ret_len));
	return data;
}

static bool sidecar_exists(const char *db, const char *suffix)
{
	char *p = xasprintf("%s%s", db, suffix);
	bool r = path_exists(p);

	free(p);
	return r;
}

/* Open path with plain SQLite (no berth code) and run a one-value query. */
static char *raw_query(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt;
	char *v = NULL;

	ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
	return v ? v : xstrdup("(null)");
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	ASSERT_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		      SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		tap_fail(__FILE__, __LINE__, err ? err : "sqlite3_exec failed");
	ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
}

static void assert_raw(const char *path, const char *sql, const char *want)
{
	char *got = raw_query(path, sql);

	ASSERT_STREQ(got, want);
	free(got);
}

static void assert_store_intact(const char *path)
{
	assert_raw(path, "PRAGMA integrity_check", "ok");
	assert_raw(path, "PRAGMA foreign_key_check", "(null)");
	assert_raw(path, "PRAGMA application_id", "1650815604");
}

static void session_fill(struct session *s, const char *slug, unsigned slot)
{
	memset(s, 0, sizeof(*s));
	s->slug = (char *)slug;
	s->slot = slot;
	s->branch = (char *)"feat/x";
	s->worktree = (char *)"/repo/.berth/worktrees/x";
	s->mode = (char *)"host";
	s->status = SESSION_PENDING;
}

static void insert_session(struct state *st, const char *slug, unsigned slot)
{
	struct session s;

	session_fill(&s, slug, slot);
	ASSERT_OK(state_session_insert(st, &s));
}

static void set_ports(struct state *st, const char *slug, const char *n1, unsigned p1,
		      const char *n2, unsigned p2)
{
	struct port_rec ports[2] = {{.name = (char *)n1, .port = p1},
				    {.name = (char *)n2, .port = p2}};

	ASSERT_OK(state_ports_set(st, slug, ports, n2 ? 2 : 1));
}

/* ---- opening ---------------------------------------------------------- */

static void test_open_creates_store(void)
{
	struct tmp t;
	struct state *st;
	char want[16];

	tmp_init(&t);
	st = open_ok(t.db);
	state_close(st);
	state_close(NULL);

	snprintf(want, sizeof(want), "%d", STATE_SCHEMA_VERSION);
	assert_raw(t.db, "PRAGMA user_version", want);
	snprintf(want, sizeof(want), "%d", STATE_APPLICATION_ID);
	assert_raw(t.db, "PRAGMA application_id", want);
	assert_raw(t.db, "PRAGMA journal_mode", "wal");
	assert_raw(t.db,
		   "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE "
		   "type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name)",
		   "events,ops,ports,sessions");
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_open_header_bytes(void)
{
	struct tmp t;
	unsigned char *h;
	size_t len;

	/* what the refusal check reads: the application id at offset 68, big-endian,
	 * in the main file itself after a clean close */
	tmp_init(&t);
	state_close(open_ok(t.db));
	h = (unsigned char *)read_bytes(t.db, &len);
	ASSERT_TRUE(len >= 100);
	ASSERT_EQ_INT(memcmp(h, "SQLite format 3", 16), 0);
	ASSERT_EQ_INT(h[68], 'b');
	ASSERT_EQ_INT(h[69], 'e');
	ASSERT_EQ_INT(h[70], 'r');
	ASSERT_EQ_INT(h[71], 't');
	free(h);
	tmp_finish(&t);
}

static void test_reopen_is_idempotent(void)
{
	struct tmp t;
	struct state *st, *st2;
	struct session s;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "keep", 1);
	state_close(st);

	for (int i = 0; i < 3; i++) {
		st = open_ok(t.db);
		ASSERT_OK(state_session_get(st, "keep", &s));
		ASSERT_EQ_INT(s.slot, 1);
		session_finish(&s);
		state_close(st);
	}
	/* two handles at once */
	st = open_ok(t.db);
	st2 = open_ok(t.db);
	insert_session(st2, "other", 2);
	ASSERT_OK(state_session_get(st, "other", &s));
	session_finish(&s);
	state_close(st2);
	state_close(st);

	assert_raw(t.db, "PRAGMA user_version", SCHEMA_TEXT);
	assert_raw(t.db, "SELECT count(*) FROM sessions", "2");
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_open_missing_directory(void)
{
	struct state *st = (struct state *)0x1;
	char *cause = NULL;

	ASSERT_TRUE(state_open("/nonexistent-berth-dir/state.db", &st, &cause) < 0);
	ASSERT_TRUE(st == (struct state *)0x1);
	ASSERT_CONTAINS(cause, "/nonexistent-berth-dir/");
	free(cause);
}

enum opener { OPEN_RW, OPEN_RO, OPEN_CHECK };

static int open_with(enum opener how, const char *path, struct state **ret, char **cause)
{
	switch (how) {
	case OPEN_RW:
		return state_open(path, ret, cause);
	case OPEN_RO:
		return state_open_readonly(path, ret, cause);
	case OPEN_CHECK:
		break;
	}
	return state_check(path, cause);
}

/* A file's bytes, or NULL when there is none; an empty file counts as none
 * when empty_is_none (SQLite reads an empty WAL as no WAL). */
static char *bytes_or_null(const char *path, size_t *ret_len, bool empty_is_none)
{
	char *data = NULL;
	struct stat sb;
	int r;

	/* a symlink or a FIFO is compared by what it is, never read */
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		data = xasprintf("<not a regular file: mode %o>", (unsigned)sb.st_mode);
		*ret_len = strlen(data);
		return data;
	}
	r = read_file(path, 64 << 20, &data, ret_len);

	if (r == -ENOENT || (r >= 0 && empty_is_none && *ret_len == 0)) {
		free(data);
		*ret_len = 0;
		return NULL;
	}
	ASSERT_OK(r);
	return data;
}

static void assert_same_bytes(const char *what, const char *a, size_t na, const char *b, size_t nb)
{
	if ((a == NULL) != (b == NULL) || na != nb || (a && memcmp(a, b, na))) {
		char *m = xasprintf("%s changed (%zu bytes%s before, %zu bytes%s after)", what, na,
				    a ? "" : ", absent", nb, b ? "" : ", absent");

		tap_fail(__FILE__, __LINE__, m);
	}
}

/*
 * state_open, state_open_readonly and state_check on t->db must each fail
 * with r_want, a cause containing every non-NULL want and naming the file,
 * and leave the file and its -wal byte for byte as they were (its mtime
 * too); when foreign (refused for what the file itself is), nothing may be
 * created beside it either: no -wal, -shm, -journal.
 */
static void expect_refused(struct tmp *t, int r_want, bool foreign, const char *want1,
			   const char *want2)
{
	static const enum opener how[] = {OPEN_RW, OPEN_RO, OPEN_CHECK};
	char *before, *after, *wal_before, *wal_after, *wal;
	size_t n_before, n_after, nw_before, nw_after;
	bool shm_before, journal_before;
	struct stat sb, sa;

	wal = xasprintf("%s-wal", t->db);
	before = read_bytes(t->db, &n_before);
	wal_before = bytes_or_null(wal, &nw_before, false);
	shm_before = sidecar_exists(t->db, "-shm");
	journal_before = sidecar_exists(t->db, "-journal");
	ASSERT_OK(stat(t->db, &sb));
	for (size_t i = 0; i < ARRAY_SIZE(how); i++) {
		struct state *st = (struct state *)0x1;
		char *cause = NULL;
		int r = open_with(how[i], t->db, &st, &cause);

		if (r >= 0 && how[i] != OPEN_CHECK)
			state_close(st);
		printf("# %s: %s\n",
		       how[i] == OPEN_RW   ? "state_open"
		       : how[i] == OPEN_RO ? "state_open_readonly"
					   : "state_check",
		       cause ? cause : "(no cause)");
		ASSERT_EQ_INT(r, r_want);
		if (how[i] != OPEN_CHECK)
			ASSERT_TRUE(st == (struct state *)0x1);
		ASSERT_CONTAINS(cause, t->db);
		if (want1)
			ASSERT_CONTAINS(cause, want1);
		if (want2)
			ASSERT_CONTAINS(cause, want2);
		ASSERT_TRUE(strstr(cause, "not an error") == NULL);
		free(cause);

		after = read_bytes(t->db, &n_after);
		assert_same_bytes(t->db, before, n_before, after, n_after);
		free(after);
		wal_after = bytes_or_null(wal, &nw_after, false);
		assert_same_bytes(wal, wal_before, nw_before, wal_after, nw_after);
		free(wal_after);
		ASSERT_OK(stat(t->db, &sa));
		ASSERT_EQ_INT(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
		ASSERT_EQ_INT(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
		if (foreign) {
			ASSERT_EQ_INT(sidecar_exists(t->db, "-wal"), wal_before != NULL);
			ASSERT_EQ_INT(sidecar_exists(t->db, "-shm"), shm_before);
			ASSERT_EQ_INT(sidecar_exists(t->db, "-journal"), journal_before);
		}
	}
	free(before);
	free(wal_before);
	free(wal);
}

/* Regression: a 0-byte state.db was taken for a new store and initialised
 * in place: every session it had recorded was forgotten, silently. berth
 * never leaves an empty store (it builds one aside and links it), so an
 * empty file is refused like any other that is not a store. */
static void test_zero_byte_store_was_reinitialised(void)
{
	struct tmp t;
	struct stat sb;

	tmp_init(&t);
	write_bytes(t.db, "", 0);
	expect_refused(&t, -EBADMSG, true, "is empty (0 bytes)", "move it away");
	ASSERT_OK(stat(t.db, &sb));
	ASSERT_EQ_INT(sb.st_size, 0);
	tmp_finish(&t);
}

static void test_refuse_random_bytes(void)
{
	unsigned char junk[4096];
	struct tmp t;

	tmp_init(&t);
	ASSERT_EQ_INT(getrandom(junk, sizeof(junk), 0), sizeof(junk));
	junk[0] = 'X'; /* never "SQLite format 3" by chance */
	write_bytes(t.db, junk, sizeof(junk));
	expect_refused(&t, -EBADMSG, true, "not a berth state store", "left untouched");
	tmp_finish(&t);
}

static void test_refuse_text_file(void)
{
	static const char text[] = "this is my state.db, do not eat it\n";
	struct tmp t;

	/* shorter than an SQLite header, and longer than one */
	tmp_init(&t);
	write_bytes(t.db, text, strlen(text));
	expect_refused(&t, -EBADMSG, true, "not an SQLite database", "left untouched");
	{
		struct strbuf sb = STRBUF_INIT;

		for (int i = 0; i < 50; i++)
			strbuf_adds(&sb, text);
		write_bytes(t.db, sb.buf, sb.len);
		strbuf_release(&sb);
	}
	expect_refused(&t, -EBADMSG, true, "not an SQLite database", "move it away");
	tmp_finish(&t);
}

static void test_refuse_other_sqlite_app(void)
{
	struct tmp t;

	tmp_init(&t);
	raw_exec(t.db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
		       "INSERT INTO notes (body) VALUES ('precious');");
	expect_refused(&t, -EBADMSG, true, "an SQLite database but not a berth state store",
		       "0x00000000");
	assert_raw(t.db, "SELECT body FROM notes", "precious");
	assert_raw(t.db, "PRAGMA journal_mode", "delete");
	tmp_finish(&t);
}

static void test_refuse_other_sqlite_app_with_its_own_id(void)
{
	struct tmp t;

	tmp_init(&t);
	raw_exec(t.db, "PRAGMA application_id = 1179603788;" /* 0x464f534c */
		       "PRAGMA user_version = 1;"
		       "CREATE TABLE sessions (slug TEXT);");
	expect_refused(&t, -EBADMSG, true, "0x464f534c", "left untouched");
	tmp_finish(&t);
}

static void test_refuse_header_then_garbage(void)
{
	unsigned char junk[4096];
	struct tmp t;

	tmp_init(&t);
	ASSERT_EQ_INT(getrandom(junk, sizeof(junk), 0), sizeof(junk));
	memcpy(junk, "SQLite format 3", 16);
	memset(junk + 68, 0, 4);
	write_bytes(t.db, junk, sizeof(junk));
	expect_refused(&t, -EBADMSG, true, "not a berth state store", "left untouched");
	tmp_finish(&t);
}

static void test_refuse_header_then_garbage_with_our_id(void)
{
	unsigned char junk[4096];
	struct state *st = (struct state *)0x1;
	char *before, *after, *cause = NULL;
	size_t n_before, n_after;
	struct tmp t;

	/* The header check passes (our magic and our id) but the rest is junk:
	 * SQLite must refuse it, and nothing may be written to it. */
	tmp_init(&t);
	memset(junk, 0xa5, sizeof(junk));
	memcpy(junk, "SQLite format 3", 16);
	junk[68] = 'b';
	junk[69] = 'e';
	junk[70] = 'r';
	junk[71] = 't';
	write_bytes(t.db, junk, sizeof(junk));
	before = read_bytes(t.db, &n_before);
	ASSERT_TRUE(state_open(t.db, &st, &cause) < 0);
	ASSERT_TRUE(st == (struct state *)0x1);
	ASSERT_TRUE(cause != NULL);
	printf("# cause: %s\n", cause);
	free(cause);
	after = read_bytes(t.db, &n_after);
	ASSERT_EQ_INT(n_after, n_before);
	ASSERT_TRUE(memcmp(before, after, n_before) == 0);
	ASSERT_FALSE(sidecar_exists(t.db, "-wal"));
	free(before);
	free(after);
	tmp_finish(&t);
}

static void test_refuse_newer_schema(void)
{
	struct tmp t;
	struct state *st;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "from-the-future", 1);
	state_close(st);
	raw_exec(t.db, "PRAGMA user_version = 99");
	expect_refused(&t, -EPROTO, false, "schema version 99", "newer berth");
	/* still the same store for the berth that wrote it */
	assert_raw(t.db, "PRAGMA user_version", "99");
	assert_raw(t.db, "SELECT slug FROM sessions", "from-the-future");
	tmp_finish(&t);
}

static void test_refuse_newer_schema_in_rollback_mode(void)
{
	struct tmp t;

	/* A newer berth (or a user with the sqlite3 shell) may have left the
	 * store in another journal mode: refusing it must still not touch it,
	 * not even by switching it to WAL first (state.h: "not touched"). */
	tmp_init(&t);
	state_close(open_ok(t.db));
	raw_exec(t.db, "PRAGMA journal_mode = DELETE; PRAGMA user_version = 9");
	assert_raw(t.db, "PRAGMA journal_mode", "delete");
	expect_refused(&t, -EPROTO, false, "schema version 9", "newer berth");
	assert_raw(t.db, "PRAGMA journal_mode", "delete");
	tmp_finish(&t);
}

/* Regression: version 0 with our application id and no tables (what an
 * interrupted first open of an older berth could leave, or anyone else) was
 * migrated forward as if it were a store. berth builds a new store whole
 * before it has a name: a half-made one is refused, untouched. */
static void test_half_made_store_version_0_was_migrated(void)
{
	struct tmp t;
	struct stat sb;

	tmp_init(&t);
	raw_exec(t.db, "PRAGMA application_id = 1650815604");
	assert_raw(t.db, "PRAGMA user_version", "0");
	ASSERT_OK(stat(t.db, &sb));
	ASSERT_TRUE(sb.st_size >= 100); /* not an empty file: a real header */
	expect_refused(&t, -EBADMSG, true, "schema version 0", "move it away");
	assert_raw(t.db, "SELECT count(*) FROM sqlite_master", "0");
	tmp_finish(&t);
}

/* Regression: a store with our id and version whose tables are missing was
 * used as it was ("no such table: ops" at the first query, "not an error"
 * from up), and a dropped table was even created again by nobody. */
static void test_half_made_store_with_missing_tables_was_used(void)
{
	struct tmp t;

	tmp_init(&t);
	raw_exec(t.db, "PRAGMA application_id = 1650815604; PRAGMA user_version = 1;"
		       "PRAGMA journal_mode = WAL;"
		       "CREATE TABLE sessions (slug TEXT PRIMARY KEY);");
	expect_refused(&t, -EBADMSG, true, "table 'events' is missing", "not a berth state store");
	tmp_finish(&t);
}

/* Regression: an SQLite database of another program that happens to carry
 * berth's application id got berth's tables added beside its own. */
static void test_foreign_db_with_our_id_got_our_tables(void)
{
	struct tmp t;

	tmp_init(&t);
	raw_exec(t.db, "PRAGMA application_id = 1650815604;"
		       "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
		       "INSERT INTO notes (body) VALUES ('precious');");
	/* version 0: never a store of ours */
	expect_refused(&t, -EBADMSG, true, "schema version 0", NULL);
	/* version 1 and our tables plus its own */
	raw_exec(t.db, "PRAGMA user_version = 1");
	expect_refused(&t, -EBADMSG, true, "table 'events' is missing", NULL);
	assert_raw(t.db, "SELECT count(*) FROM sqlite_master", "1");
	assert_raw(t.db, "SELECT body FROM notes", "precious");
	tmp_finish(&t);
}

/* A store of ours with an extra table, or a table of another shape. */
static void test_store_with_other_tables_is_refused(void)
{
	struct tmp t;

	tmp_init(&t);
	state_close(open_ok(t.db));
	raw_exec(t.db, "CREATE TABLE extra (x)");
	expect_refused(&t, -EBADMSG, false, "table 'extra' that berth does not create", NULL);
	raw_exec(t.db, "DROP TABLE extra; ALTER TABLE sessions ADD COLUMN color TEXT");
	expect_refused(&t, -EBADMSG, false, "table 'sessions' is not the one berth creates", NULL);
	tmp_finish(&t);
}

/* Regression: a store whose events table was dropped was used: up and
 * down went on without it (their events lost), ls said nothing. */
static void test_dropped_table_was_used(void)
{
	struct tmp t;
	struct state *st;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	raw_exec(t.db, "DROP TABLE events");
	expect_refused(&t, -EBADMSG, false, "table 'events' is missing", "move it away");
	tmp_finish(&t);
}

/* Zero pages [first, last] (1-based) of the file at path. */
static void zero_pages(const char *path, unsigned first, unsigned last)
{
	unsigned char zero[4096] = {0};
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	ASSERT_TRUE(fd >= 0);
	for (unsigned p = first; p <= last; p++)
		ASSERT_EQ_INT(pwrite(fd, zero, sizeof(zero), (off_t)(p - 1) * 4096), 4096);
	ASSERT_OK(close(fd));
}

/* Regression: a store whose pages after the first were zeroed opened, and
 * every command then failed its own way ("not an error" from up). It is
 * refused at open, as corrupt, untouched; page 1 zeroed is not SQLite. */
static void test_zeroed_pages_were_used(void)
{
	struct tmp t;
	struct state *st;
	struct stat sb;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	ASSERT_FALSE(sidecar_exists(t.db, "-wal"));
	ASSERT_OK(stat(t.db, &sb));
	ASSERT_TRUE(sb.st_size >= 2 * 4096);
	zero_pages(t.db, 2, (unsigned)(sb.st_size / 4096));
	expect_refused(&t, -EBADMSG, true, "is corrupt", "move it away");
	zero_pages(t.db, 1, 1);
	expect_refused(&t, -EBADMSG, true, "not an SQLite database", NULL);
	tmp_finish(&t);
}

/* The -wal an SQLite database of another program left (pages 1 and 2 of
 * a table "notes"), as the bytes of a file, through *ret_len. */
static char *foreign_wal(const char *dir, size_t *ret_len)
{
	char *other = path_join(dir, "other.db"), *wal = xasprintf("%s-wal", other), *data;
	sqlite3 *db = NULL;

	ASSERT_EQ_INT(sqlite3_open_v2(other, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		      SQLITE_OK);
	ASSERT_EQ_INT(sqlite3_exec(db,
				   "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;"
				   "CREATE TABLE notes (body TEXT);"
				   "INSERT INTO notes VALUES ('not berth''s');",
				   NULL, NULL, NULL),
		      SQLITE_OK);
	data = read_bytes(wal, ret_len); /* while it is open: not checkpointed */
	ASSERT_TRUE(*ret_len > 0);
	ASSERT_EQ_INT(sqlite3_close(db), SQLITE_OK);
	unlink(other);
	free(other);
	free(wal);
	return data;
}

/* Regression: the -wal of another SQLite database beside state.db was
 * replayed into it by the first command (its pages became ours: every
 * session forgotten, the store now someone else's). It is refused, the
 * store and the log both left as they are. */
static void test_foreign_wal_was_replayed(void)
{
	struct tmp t;
	struct state *st;
	char *wal, *data;
	size_t len;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	data = foreign_wal(t.dir, &len);
	wal = xasprintf("%s-wal", t.db);
	write_bytes(wal, data, len);
	expect_refused(&t, -EBADMSG, false, "-wal', the write-ahead log beside", "0x00000000");
	/* once the log is moved away, the store is what it was */
	ASSERT_OK(unlink(wal));
	assert_raw(t.db, "SELECT slug FROM sessions", "kept");
	free(data);
	free(wal);
	tmp_finish(&t);
}

/* A -wal or -shm that is not a regular file: SQLite would follow a symlink
 * (creating or writing its target anywhere) or block on a FIFO. */
static void test_side_file_not_regular_is_refused(void)
{
	static const char *const sides[] = {"-wal", "-shm"};
	struct tmp t;

	tmp_init(&t);
	state_close(open_ok(t.db));
	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		char *side = xasprintf("%s%s", t.db, sides[i]);
		char *target = path_join(t.dir, "elsewhere");

		ASSERT_OK(symlink(target, side));
		expect_refused(&t, -EBADMSG, false, "is a symbolic link", sides[i]);
		ASSERT_FALSE(path_exists(target));
		ASSERT_OK(unlink(side));
		ASSERT_OK(mkfifo(side, 0600));
		expect_refused(&t, -EBADMSG, false, "is a FIFO", sides[i]);
		ASSERT_OK(unlink(side));
		free(side);
		free(target);
	}
	tmp_finish(&t);
}

/* Regression: a symlink to /dev/null at state.db said "database is locked"
 * (SQLite could not lock a character device); any symlink is refused for
 * what it is, wherever it points, and its target is left alone. */
static void test_symlink_store_said_database_is_locked(void)
{
	struct tmp t;
	char *empty, *missing, *inside;
	struct stat sb;

	tmp_init(&t);
	empty = path_join(t.dir, "empty");
	missing = path_join(t.dir, "missing");
	inside = path_join(t.dir, "real.db");
	write_bytes(empty, "", 0);
	state_close(open_ok(inside));

	const char *targets[] = {"/dev/null", empty, missing, inside, "real.db"};
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		ASSERT_OK(symlink(targets[i], t.db));
		for (int how = OPEN_RW; how <= OPEN_CHECK; how++) {
			struct state *st = NULL;
			char *cause = NULL;

			ASSERT_EQ_INT(open_with((enum opener)how, t.db, &st, &cause), -EBADMSG);
			ASSERT_CONTAINS(cause, t.db);
			ASSERT_CONTAINS(cause, "is a symbolic link, not a berth state store");
			ASSERT_TRUE(strstr(cause, "locked") == NULL);
			free(cause);
		}
		ASSERT_OK(unlink(t.db));
	}
	ASSERT_OK(stat("/dev/null", &sb));
	ASSERT_TRUE(S_ISCHR(sb.st_mode));
	ASSERT_OK(stat(empty, &sb));
	ASSERT_EQ_INT(sb.st_size, 0);
	ASSERT_FALSE(path_exists(missing));
	ASSERT_FALSE(sidecar_exists(inside, "-wal"));
	free(empty);
	free(missing);
	free(inside);
	tmp_finish(&t);
}

/* ---- sessions ---------------------------------------------------------- */

static void test_session_crud(void)
{
	struct session s, got = {.slot = 77};
	struct session *v = NULL;
	struct tmp t;
	struct state *st;
	int64_t now = time_wall_s();
	size_t n = 0;

	tmp_init(&t);
	st = open_ok(t.db);
	session_fill(&s, "alpha", 1);
	s.owns_worktree = true;
	ASSERT_OK(state_session_insert(st, &s));
	insert_session(st, "gamma", 3);
	insert_session(st, "beta", 2);

	ASSERT_OK(state_session_get(st, "alpha", &got));
	ASSERT_STREQ(got.slug, "alpha");
	ASSERT_EQ_INT(got.slot, 1);
	ASSERT_STREQ(got.branch, "feat/x");
	ASSERT_STREQ(got.worktree, "/repo/.berth/worktrees/x");
	ASSERT_STREQ(got.mode, "host");
	ASSERT_EQ_INT(got.status, SESSION_PENDING);
	ASSERT_TRUE(got.owns_worktree);
	ASSERT_TRUE(got.created_at >= now - 1 && got.created_at <= now + 60);
	ASSERT_EQ_INT(got.updated_at, got.created_at);
	ASSERT_FALSE(got.has_op);
	ASSERT_EQ_INT(got.n_ports, 0);
	session_finish(&got);

	got.slot = 77;
	ASSERT_EQ_INT(state_session_get(st, "nobody", &got), -ENOENT);
	ASSERT_EQ_INT(got.slot, 77);

	/* listed by slot, not by name or insertion order */
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, 3);
	ASSERT_STREQ(v[0].slug, "alpha");
	ASSERT_STREQ(v[1].slug, "beta");
	ASSERT_STREQ(v[2].slug, "gamma");
	ASSERT_EQ_INT(v[2].slot, 3);
	sessions_free(v, n);

	/* update */
	session_fill(&s, "beta", 2);
	s.status = SESSION_STOPPED;
	s.branch = (char *)"other/branch";
	s.worktree = (char *)"/elsewhere";
	s.owns_worktree = true;
	ASSERT_OK(state_session_update(st, &s));
	ASSERT_OK(state_session_get(st, "beta", &got));
	ASSERT_EQ_INT(got.status, SESSION_STOPPED);
	ASSERT_STREQ(got.branch, "other/branch");
	ASSERT_STREQ(got.worktree, "/elsewhere");
	ASSERT_TRUE(got.owns_worktree);
	ASSERT_EQ_INT(got.slot, 2);
	session_finish(&got);
	session_fill(&s, "nobody", 9);
	ASSERT_EQ_INT(state_session_update(st, &s), -ENOENT);

	/* delete */
	ASSERT_OK(state_session_delete(st, "beta"));
	ASSERT_EQ_INT(state_session_get(st, "beta", &got), -ENOENT);
	ASSERT_OK(state_session_delete(st, "beta")); /* already gone: fine */
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, 2);
	sessions_free(v, n);

	state_close(st);
	tmp_finish(&t);
}

static void test_sessions_list_empty(void)
{
	struct session *v = (struct session *)0x1;
	struct tmp t;
	struct state *st;
	size_t n = 99;

	tmp_init(&t);
	st = open_ok(t.db);
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, 0);
	sessions_free(v, n);
	state_close(st);
	tmp_finish(&t);
}

static void test_status_names(void)
{
	enum session_status s = SESSION_ACTIVE;

	ASSERT_STREQ(session_status_name(SESSION_PENDING), "pending");
	ASSERT_STREQ(session_status_name(SESSION_ACTIVE), "active");
	ASSERT_STREQ(session_status_name(SESSION_STOPPED), "stopped");
	ASSERT_OK(session_status_parse("stopped", &s));
	ASSERT_EQ_INT(s, SESSION_STOPPED);
	ASSERT_OK(session_status_parse("pending", &s));
	ASSERT_EQ_INT(s, SESSION_PENDING);
	ASSERT_EQ_INT(session_status_parse("Active", &s), -EINVAL);
	ASSERT_EQ_INT(session_status_parse("crashed-op", &s), -EINVAL);
	ASSERT_EQ_INT(session_status_parse(NULL, &s), -EINVAL);
	ASSERT_EQ_INT(s, SESSION_PENDING);
}

static void test_slot_and_slug_unique(void)
{
	struct tmp t;
	struct state *st;
	struct session s;
	bool *used = NULL;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "one", 1);
	session_fill(&s, "two", 1);
	ASSERT_EQ_INT(state_session_insert(st, &s), -EEXIST); /* slot taken */
	session_fill(&s, "one", 2);
	ASSERT_EQ_INT(state_session_insert(st, &s), -EEXIST); /* slug taken */
	session_fill(&s, "zero", 0);
	ASSERT_TRUE(state_session_insert(st, &s) < 0); /* slots start at 1 */
	ASSERT_EQ_INT(state_session_get(st, "two", &s), -ENOENT);

	insert_session(st, "three", 3);
	insert_session(st, "nine", 9);
	ASSERT_OK(state_slots_used(st, 4, &used));
	ASSERT_TRUE(used[1]);
	ASSERT_FALSE(used[2]);
	ASSERT_TRUE(used[3]);
	ASSERT_FALSE(used[4]); /* slot 9 lies beyond max_slot: ignored */
	free(used);
	state_close(st);
	tmp_finish(&t);
}

/* ---- ports ------------------------------------------------------------- */

static void test_ports_set_and_list(void)
{
	struct port_rec *all = NULL;
	struct session s;
	struct tmp t;
	struct state *st;
	size_t n;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "b-sess", 2);
	insert_session(st, "a-sess", 1);
	set_ports(st, "b-sess", "web", 3002, "web.hmr", 24680);
	set_ports(st, "a-sess", "web.hmr", 24679, "api", 4001);

	ASSERT_OK(state_session_get(st, "a-sess", &s));
	ASSERT_EQ_INT(s.n_ports, 2);
	ASSERT_STREQ(s.ports[0].name, "api"); /* sorted by name */
	ASSERT_EQ_INT(s.ports[0].port, 4001);
	ASSERT_STREQ(s.ports[1].name, "web.hmr");
	ASSERT_EQ_INT(s.ports[1].port, 24679);
	session_finish(&s);

	ASSERT_OK(state_ports_all(st, &all, &n));
	ASSERT_EQ_INT(n, 4);
	ASSERT_STREQ(all[0].slug, "a-sess");
	ASSERT_STREQ(all[0].name, "api");
	ASSERT_STREQ(all[2].slug, "b-sess");
	ASSERT_STREQ(all[2].name, "web");
	ASSERT_EQ_INT(all[2].port, 3002);
	ports_free(all, n);

	/* replacing frees the old ports for others */
	set_ports(st, "a-sess", "api", 4101, NULL, 0);
	set_ports(st, "b-sess", "web", 3002, "api", 4001);
	ASSERT_OK(state_session_get(st, "a-sess", &s));
	ASSERT_EQ_INT(s.n_ports, 1);
	ASSERT_EQ_INT(s.ports[0].port, 4101);
	session_finish(&s);
	/* and an empty set clears them */
	ASSERT_OK(state_ports_set(st, "a-sess", NULL, 0));
	ASSERT_OK(state_ports_all(st, &all, &n));
	ASSERT_EQ_INT(n, 2);
	ports_free(all, n);

	state_close(st);
	tmp_finish(&t);
}

static void test_ports_unique_across_sessions(void)
{
	struct port_rec clash[2] = {{.name = (char *)"web", .port = 6002},
				    {.name = (char *)"api", .port = 5001}};
	struct session s;
	struct tmp t;
	struct state *st;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "a", 1);
	insert_session(st, "b", 2);
	set_ports(st, "a", "web", 5001, "api", 5002);
	set_ports(st, "b", "web", 6001, NULL, 0);

	/* b asks for one of a's ports, inside a transaction: the whole change
	 * (including the delete of b's old ports) is rolled back */
	ASSERT_OK(state_begin(st));
	ASSERT_EQ_INT(state_ports_set(st, "b", clash, 2), -EADDRINUSE);
	state_rollback(st);
	state_rollback(st); /* no transaction open: harmless */

	ASSERT_OK(state_session_get(st, "b", &s));
	ASSERT_EQ_INT(s.n_ports, 1);
	ASSERT_STREQ(s.ports[0].name, "web");
	ASSERT_EQ_INT(s.ports[0].port, 6001);
	session_finish(&s);
	ASSERT_OK(state_session_get(st, "a", &s));
	ASSERT_EQ_INT(s.n_ports, 2);
	ASSERT_EQ_INT(s.ports[0].port, 5002);
	ASSERT_EQ_INT(s.ports[1].port, 5001);
	session_finish(&s);

	/* once a lets go of 5001, b can have it */
	set_ports(st, "a", "web", 5003, NULL, 0);
	ASSERT_OK(state_ports_set(st, "b", clash, 2));
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_ports_need_a_session(void)
{
	struct port_rec p = {.name = (char *)"web", .port = 3001};
	struct port_rec *all;
	struct tmp t;
	struct state *st;
	size_t n;

	tmp_init(&t);
	st = open_ok(t.db);
	ASSERT_OK(state_begin(st));
	ASSERT_TRUE(state_ports_set(st, "ghost", &p, 1) < 0); /* foreign key */
	state_rollback(st);
	ASSERT_OK(state_ports_all(st, &all, &n));
	ASSERT_EQ_INT(n, 0);
	ports_free(all, n);
	state_close(st);
	tmp_finish(&t);
}

static void test_delete_cascades(void)
{
	struct op_rec op = {.id = (char *)"op1", .kind = (char *)"up", .pid = 42};
	struct port_rec *all;
	struct session s;
	struct tmp t;
	struct state *st;
	size_t n;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "doomed", 1);
	insert_session(st, "stays", 2);
	set_ports(st, "doomed", "web", 3001, "api", 4001);
	set_ports(st, "stays", "web", 3002, NULL, 0);
	ASSERT_OK(state_op_set(st, "doomed", &op));
	ASSERT_OK(state_op_set(st, "stays", &op));

	ASSERT_OK(state_session_delete(st, "doomed"));
	ASSERT_OK(state_ports_all(st, &all, &n));
	ASSERT_EQ_INT(n, 1);
	ASSERT_STREQ(all[0].slug, "stays");
	ports_free(all, n);
	state_close(st);
	assert_raw(t.db, "SELECT count(*) FROM ops", "1");
	assert_raw(t.db, "SELECT count(*) FROM ports", "1");

	/* the same slug again starts clean */
	st = open_ok(t.db);
	insert_session(st, "doomed", 1);
	ASSERT_OK(state_session_get(st, "doomed", &s));
	ASSERT_FALSE(s.has_op);
	ASSERT_EQ_INT(s.n_ports, 0);
	session_finish(&s);
	state_close(st);
	tmp_finish(&t);
}

/* ---- ops --------------------------------------------------------------- */

/* A store of schema version 1 with session "old" and its op (the layout of
 * its SQL is not the migration's: the same schema typed out again). */
static const char v1_store_sql[] =
	"PRAGMA application_id = 1650815604; PRAGMA journal_mode = WAL;"
	"CREATE TABLE sessions (slug TEXT PRIMARY KEY, slot INTEGER NOT NULL UNIQUE "
	"CHECK (slot > 0), branch TEXT NOT NULL, worktree TEXT NOT NULL, mode TEXT NOT "
	"NULL, status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'stopped')), "
	"owns_worktree INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, "
	"updated_at INTEGER NOT NULL);"
	"CREATE TABLE ports (slug TEXT NOT NULL REFERENCES sessions(slug) ON DELETE "
	"CASCADE, name TEXT NOT NULL, port INTEGER NOT NULL UNIQUE CHECK (port BETWEEN 1 "
	"AND 65535), PRIMARY KEY (slug, name));"
	"CREATE TABLE ops (slug TEXT PRIMARY KEY REFERENCES sessions(slug) ON DELETE "
	"CASCADE, op_id TEXT NOT NULL, kind TEXT NOT NULL, pid INTEGER NOT NULL, "
	"start_time INTEGER NOT NULL, since INTEGER NOT NULL, prev_status TEXT);"
	"CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, "
	"slug TEXT, service TEXT, kind TEXT NOT NULL, detail TEXT);"
	"CREATE INDEX events_slug ON events(slug, id);"
	"INSERT INTO sessions VALUES ('old', 1, 'old', '/x/old', 'host', 'pending', 1, 1, "
	"1);"
	"INSERT INTO ops VALUES ('old', 'abcd', 'up', 1, 1, 1, NULL);"
	"PRAGMA user_version = 1;";

/* A store written by the berth before steps were recorded (schema 1): its
 * sessions and a crashed command's op survive the migration, without step. */
static void test_migrates_v1_store_with_an_op(void)
{
	struct tmp t;
	struct state *st;
	struct session s;

	tmp_init(&t);
	raw_exec(t.db, v1_store_sql);
	st = open_ok(t.db);
	ASSERT_OK(state_session_get(st, "old", &s));
	ASSERT_TRUE(s.has_op);
	ASSERT_STREQ(s.op.kind, "up");
	ASSERT_TRUE(s.op.step == NULL && s.op.branch_at == NULL);
	session_finish(&s);
	state_close(st);
	assert_raw(t.db, "PRAGMA user_version", SCHEMA_TEXT);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

/* A reading command on a store of an older schema reads it through a copy
 * migrated in memory: the new columns read as NULL, and the file is left
 * at its version, byte for byte (the next writing command upgrades it). */
static void test_readonly_open_of_older_schema_reads_a_copy(void)
{
	char *before, *after;
	size_t n_before, n_after;
	struct state *st = NULL;
	struct session s;
	char *cause = NULL;
	struct tmp t;

	tmp_init(&t);
	raw_exec(t.db, v1_store_sql);
	raw_exec(t.db, "PRAGMA wal_checkpoint(TRUNCATE)");
	before = read_bytes(t.db, &n_before);
	ASSERT_OK(state_open_readonly(t.db, &st, &cause));
	ASSERT_TRUE(state_is_copy(st));
	ASSERT_OK(state_session_get(st, "old", &s));
	ASSERT_TRUE(s.has_op);
	ASSERT_STREQ(s.op.kind, "up");
	ASSERT_TRUE(s.op.step == NULL && s.op.branch_at == NULL);
	session_finish(&s);
	state_close(st);
	after = read_bytes(t.db, &n_after);
	assert_same_bytes(t.db, before, n_before, after, n_after);
	assert_raw(t.db, "PRAGMA user_version", "1");
	/* a current store is read directly */
	state_close(open_ok(t.db));
	ASSERT_OK(state_open_readonly(t.db, &st, &cause));
	ASSERT_FALSE(state_is_copy(st));
	state_close(st);
	free(before);
	free(after);
	tmp_finish(&t);
}

static void test_op_set_clear(void)
{
	struct op_rec op = {
		.id = (char *)"0123456789abcdef",
		.kind = (char *)"up",
		.pid = 4242,
		.start_time = (uint64_t)1 << 40,
		.since = 1700000000,
		.had_prev = true,
		.prev = SESSION_STOPPED,
		.step = (char *)OP_STEP_WORKTREE_CREATE,
		.branch_at = (char *)"0123456789012345678901234567890123456789",
	};
	struct session s;
	struct tmp t;
	struct state *st;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "s1", 1);
	ASSERT_OK(state_op_set(st, "s1", &op));
	ASSERT_OK(state_session_get(st, "s1", &s));
	ASSERT_TRUE(s.has_op);
	ASSERT_STREQ(s.op.step, OP_STEP_WORKTREE_CREATE);
	ASSERT_STREQ(s.op.branch_at, "0123456789012345678901234567890123456789");
	ASSERT_STREQ(s.op.id, "0123456789abcdef");
	ASSERT_STREQ(s.op.kind, "up");
	ASSERT_EQ_INT(s.op.pid, 4242);
	ASSERT_TRUE(s.op.start_time == (uint64_t)1 << 40);
	ASSERT_EQ_INT(s.op.since, 1700000000);
	ASSERT_TRUE(s.op.had_prev);
	ASSERT_EQ_INT(s.op.prev, SESSION_STOPPED);
	session_finish(&s);

	/* replaced: a new owner, no previous status */
	op.id = (char *)"fedcba9876543210";
	op.kind = (char *)"down";
	op.had_prev = false;
	op.prev = SESSION_ACTIVE;
	op.step = NULL;
	op.branch_at = NULL;
	ASSERT_OK(state_op_set(st, "s1", &op));
	ASSERT_OK(state_session_get(st, "s1", &s));
	ASSERT_TRUE(s.has_op);
	ASSERT_TRUE(s.op.step == NULL && s.op.branch_at == NULL);
	ASSERT_STREQ(s.op.id, "fedcba9876543210");
	ASSERT_STREQ(s.op.kind, "down");
	ASSERT_FALSE(s.op.had_prev);
	session_finish(&s);

	/* each previous status survives the trip */
	for (int p = SESSION_PENDING; p <= SESSION_STOPPED; p++) {
		op.had_prev = true;
		op.prev = (enum session_status)p;
		ASSERT_OK(state_op_set(st, "s1", &op));
		ASSERT_OK(state_session_get(st, "s1", &s));
		ASSERT_TRUE(s.op.had_prev);
		ASSERT_EQ_INT(s.op.prev, p);
		session_finish(&s);
	}

	ASSERT_OK(state_op_clear(st, "s1"));
	ASSERT_OK(state_session_get(st, "s1", &s));
	ASSERT_FALSE(s.has_op);
	ASSERT_TRUE(s.op.id == NULL);
	session_finish(&s);
	ASSERT_OK(state_op_clear(st, "s1")); /* nothing to clear: fine */

	/* an op needs its session */
	ASSERT_TRUE(state_op_set(st, "ghost", &op) < 0);
	state_close(st);
	assert_raw(t.db, "SELECT count(*) FROM ops", "0");
	tmp_finish(&t);
}

/* ---- events ------------------------------------------------------------ */

/* The event log's retention: the newest `keep`, none older than the cut. */
static void test_events_prune(void)
{
	struct event_rec *v = NULL;
	struct tmp t;
	struct state *st;
	int64_t now = time_wall_s() * 1000;
	size_t n = 0;

	tmp_init(&t);
	st = open_ok(t.db);
	ASSERT_OK(state_event_add_at(st, now - 3600000, "old", NULL, "up", NULL));
	for (int i = 0; i < 150; i++)
		ASSERT_OK(state_event_add(st, "s", NULL, "restart", NULL));
	/* nothing older than an hour ago minus a minute: only the count cuts */
	ASSERT_EQ_INT(state_events_prune(st, 100, now - 3660000), 51);
	ASSERT_OK(state_events_list(st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 100);
	ASSERT_STREQ(v[0].slug, "s");
	events_free(v, n);
	/* the age cut */
	ASSERT_OK(state_event_add_at(st, now - 7200000, "older", NULL, "up", NULL));
	ASSERT_EQ_INT(state_events_prune(st, 1000, now - 3600000), 1);
	ASSERT_EQ_INT(state_events_prune(st, 1000, now - 3600000), 0);
	ASSERT_OK(state_events_list(st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 100);
	events_free(v, n);
	state_close(st);
	tmp_finish(&t);
}

static void test_events(void)
{
	struct event_rec *v = NULL;
	struct tmp t;
	struct state *st;
	int64_t before = time_wall_s() * 1000;
	size_t n = 0;

	tmp_init(&t);
	st = open_ok(t.db);
	ASSERT_OK(state_events_list(st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 0);
	events_free(v, n);

	ASSERT_OK(state_event_add(st, "s1", "web", "start", "pid 1"));
	ASSERT_OK(state_event_add(st, "s1", NULL, "up", NULL));
	ASSERT_OK(state_event_add(st, NULL, NULL, "flush", "everything"));
	ASSERT_OK(state_event_add(st, "s2", "db", "exit", "status 1"));
	ASSERT_OK(state_event_add(st, "s2", "db", "restart", "it's \"quoted\"\nand long"));

	ASSERT_OK(state_events_list(st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 5);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ASSERT_TRUE(v[i].id > v[i - 1].id);
		ASSERT_TRUE(v[i].ts_ms >= before - 1000);
		ASSERT_TRUE(v[i].ts_ms <= time_wall_s() * 1000 + 1000);
	}
	ASSERT_STREQ(v[0].slug, "s1");
	ASSERT_STREQ(v[0].service, "web");
	ASSERT_STREQ(v[0].kind, "start");
	ASSERT_STREQ(v[0].detail, "pid 1");
	ASSERT_TRUE(v[1].service == NULL);
	ASSERT_TRUE(v[1].detail == NULL);
	ASSERT_TRUE(v[2].slug == NULL);
	ASSERT_STREQ(v[2].kind, "flush");
	ASSERT_STREQ(v[4].detail, "it's \"quoted\"\nand long");

	/* after_id and limit */
	{
		int64_t second = v[1].id, last = v[4].id;
		struct event_rec *w = NULL;
		size_t m = 0;

		ASSERT_OK(state_events_list(st, second, 0, &w, &m));
		ASSERT_EQ_INT(m, 3);
		ASSERT_STREQ(w[0].kind, "flush");
		events_free(w, m);

		ASSERT_OK(state_events_list(st, 0, 2, &w, &m));
		ASSERT_EQ_INT(m, 2);
		ASSERT_STREQ(w[0].kind, "start");
		ASSERT_STREQ(w[1].kind, "up");
		events_free(w, m);

		ASSERT_OK(state_events_list(st, second, 1, &w, &m));
		ASSERT_EQ_INT(m, 1);
		ASSERT_STREQ(w[0].kind, "flush");
		events_free(w, m);

		ASSERT_OK(state_events_list(st, last, 0, &w, &m));
		ASSERT_EQ_INT(m, 0);
		events_free(w, m);
	}
	events_free(v, n);
	state_close(st);
	tmp_finish(&t);
}

/* ---- crashes ----------------------------------------------------------- */

enum crash_point { CRASH_IN_TRANSACTION, CRASH_AFTER_COMMIT };

/*
 * A child opens the store, inserts session "victim" (committed or not, per
 * point), tells us through a pipe, and waits to be SIGKILLed: no close, no
 * checkpoint, no cleanup of any kind.
 */
static void crash_child(const char *path, enum crash_point point)
{
	int ready[2], hold[2], status;
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(ready, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct state *st = NULL;
		char *cause = NULL;
		struct session s;

		close(ready[0]);
		close(hold[1]);
		if (state_open(path, &st, &cause) < 0) {
			fprintf(stderr, "child: %s\n", cause);
			_exit(2);
		}
		session_fill(&s, "victim", 1);
		if (state_begin(st) < 0 || state_session_insert(st, &s) < 0 ||
		    state_event_add(st, "victim", NULL, "up", "about to die") < 0)
			_exit(3);
		if (point == CRASH_AFTER_COMMIT && state_commit(st) < 0)
			_exit(4);
		if (write(ready[1], "r", 1) != 1)
			_exit(5);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(6); /* only reached when the parent died */
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		tap_fail(__FILE__, __LINE__, "the child failed before the crash point");
	}
	ASSERT_OK(kill(pid, SIGKILL));
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(ready[0]);
	close(hold[1]);
}

static void test_sigkill_in_transaction(void)
{
	struct tmp t;
	struct state *st;
	struct session s;
	struct event_rec *v;
	size_t n;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "survivor", 2);
	state_close(st);

	crash_child(t.db, CRASH_IN_TRANSACTION);

	st = open_ok(t.db);
	ASSERT_EQ_INT(state_session_get(st, "victim", &s), -ENOENT);
	ASSERT_OK(state_session_get(st, "survivor", &s));
	session_finish(&s);
	ASSERT_OK(state_events_list(st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 0);
	events_free(v, n);
	/* the slot the dead transaction wanted is free, and writes work */
	insert_session(st, "next", 1);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_sigkill_after_commit(void)
{
	struct tmp t;
	struct state *st;
	struct session s;

	tmp_init(&t);
	state_close(open_ok(t.db));

	crash_child(t.db, CRASH_AFTER_COMMIT);
	ASSERT_TRUE(sidecar_exists(t.db, "-wal")); /* the commit lives in the WAL */

	st = open_ok(t.db);
	ASSERT_OK(state_session_get(st, "victim", &s));
	ASSERT_EQ_INT(s.slot, 1);
	session_finish(&s);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_sigkill_after_first_open(void)
{
	struct tmp t;
	struct state *st;
	struct session s;

	/* The very first command in a repository creates the store and is killed
	 * (SPEC §5: SIGKILL of `up`) before it closes it: its session is only in
	 * the WAL (the store itself was built whole before it was linked into
	 * place). The next command must open the store and recover, not call it
	 * a foreign database. */
	tmp_init(&t);
	crash_child(t.db, CRASH_AFTER_COMMIT);

	st = open_ok(t.db);
	ASSERT_OK(state_session_get(st, "victim", &s));
	session_finish(&s);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_sigkill_in_first_transaction(void)
{
	struct tmp t;
	struct state *st;
	struct session s;

	tmp_init(&t);
	crash_child(t.db, CRASH_IN_TRANSACTION);

	st = open_ok(t.db);
	ASSERT_EQ_INT(state_session_get(st, "victim", &s), -ENOENT);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

/* ---- creating, reading only, read-only files -------------------------- */

/* The names in dir, sorted, one per line (for before/after comparisons). */
static char *dir_listing(const char *dir)
{
	struct strvec names = STRVEC_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct dirent *de;
	DIR *d = opendir(dir);

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			strvec_push(&names, de->d_name);
	closedir(d);
	for (size_t i = 0; i < names.n; i++)
		for (size_t j = i + 1; j < names.n; j++)
			if (strcmp(names.v[i], names.v[j]) > 0) {
				char *x = names.v[i];

				names.v[i] = names.v[j];
				names.v[j] = x;
			}
	for (size_t i = 0; i < names.n; i++)
		strbuf_addf(&sb, "%s\n", names.v[i]);
	strvec_clear(&names);
	return strbuf_detach(&sb);
}

/* A new store is built whole beside its name and linked into place: the
 * file at path is never empty nor half made, even when the creator is
 * killed. What a killed creator left (state.db.new.<pid> and its side
 * files) is removed by the next one; a symlink planted at our own
 * temporary name is not followed. */
static void test_new_store_is_built_aside(void)
{
	static const char *const stale[] = {"state.db.new.999999", "state.db.new.999999-journal",
					    "state.db.new.12-wal", "state.db.new.12-shm"};
	static const char *const kept[] = {"state.db.newer", "state.db.new.x", "notes.new.12"};
	char *ours, *target, *listing;
	unsigned char *h;
	struct tmp t;
	size_t len;

	tmp_init(&t);
	for (size_t i = 0; i < ARRAY_SIZE(stale); i++) {
		char *p = path_join(t.dir, stale[i]);

		write_bytes(p, "half", 4);
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
		char *p = path_join(t.dir, kept[i]);

		write_bytes(p, "mine", 4);
		free(p);
	}
	ours = xasprintf("%s.new.%d", t.db, (int)getpid());
	target = path_join(t.dir, "target-outside");
	ASSERT_OK(symlink(target, ours));

	state_close(open_ok(t.db));
	listing = dir_listing(t.dir);
	ASSERT_STREQ(listing, "notes.new.12\nstate.db\nstate.db.lock\nstate.db.new.x\n"
			      "state.db.newer\n");
	ASSERT_FALSE(path_exists(target));
	/* whole in the main file: id, version, WAL mode (bytes 18 and 19) */
	h = (unsigned char *)read_bytes(t.db, &len);
	ASSERT_TRUE(len >= 100);
	ASSERT_EQ_INT(h[18], 2);
	ASSERT_EQ_INT(h[19], 2);
	ASSERT_EQ_INT(h[63], STATE_SCHEMA_VERSION);
	ASSERT_EQ_INT(memcmp(h + 68, "bert", 4), 0);
	free(h);
	assert_store_intact(t.db);
	free(listing);
	free(ours);
	free(target);
	tmp_finish(&t);
}

/* The lock beside the store is never followed through a symlink (its
 * target would be created anywhere) nor taken on a FIFO. */
static void test_lock_file_not_regular_is_refused(void)
{
	struct state *st = (struct state *)0x1;
	char *lock, *target, *cause = NULL;
	struct tmp t;

	tmp_init(&t);
	lock = xasprintf("%s.lock", t.db);
	target = path_join(t.dir, "outside-lock");
	ASSERT_OK(symlink(target, lock));
	ASSERT_EQ_INT(state_open(t.db, &st, &cause), -ELOOP);
	ASSERT_CONTAINS(cause, "is a symbolic link");
	ASSERT_CONTAINS(cause, lock);
	free(cause);
	cause = NULL;
	ASSERT_FALSE(path_exists(target));
	ASSERT_OK(unlink(lock));
	ASSERT_OK(mkfifo(lock, 0600));
	ASSERT_EQ_INT(state_open(t.db, &st, &cause), -EBADMSG);
	ASSERT_CONTAINS(cause, lock);
	free(cause);
	ASSERT_TRUE(st == (struct state *)0x1);
	ASSERT_FALSE(path_exists(t.db)); /* no store was made */
	free(lock);
	free(target);
	tmp_finish(&t);
}

/* Regression: the cause of a failure was read from SQLite after the
 * rollback had cleared it: `up: cannot reserve session 's2': not an error`.
 * The cause is kept when the call fails, and names the file. */
static void test_errmsg_after_rollback_said_not_an_error(void)
{
	struct reserve_req req = {
		.slug = "s2",
		.branch = "s2",
		.worktree = "/repo/wt/s2",
		.mode = "host",
		.max_slots = 4,
	};
	struct state *st, *ro = NULL;
	struct session s, got;
	struct op_rec op;
	char *cause = NULL;
	bool is_new;
	struct tmp t;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "taken", 1);
	ASSERT_OK(state_begin(st));
	session_fill(&s, "taken", 2);
	ASSERT_EQ_INT(state_session_insert(st, &s), -EEXIST);
	state_rollback(st);
	printf("# %s\n", state_errmsg(st));
	ASSERT_CONTAINS(state_errmsg(st), "UNIQUE constraint failed");
	ASSERT_CONTAINS(state_errmsg(st), t.db);
	state_close(st);

	/* a store opened read-only: session_reserve rolls back, then says why */
	ASSERT_OK(state_open_readonly(t.db, &ro, &cause));
	ASSERT_OK(session_op_new(&op, "up"));
	ASSERT_TRUE(session_reserve(ro, &req, &op, &got, &is_new, &cause) < 0);
	ASSERT_TRUE(cause == NULL);
	printf("# %s\n", state_errmsg(ro));
	ASSERT_TRUE(strstr(state_errmsg(ro), "not an error") == NULL);
	ASSERT_CONTAINS(state_errmsg(ro), "read-only");
	ASSERT_CONTAINS(state_errmsg(ro), t.db);
	op_rec_finish(&op);
	state_close(ro);
	tmp_finish(&t);
}

/* Regression: `ls` opened the store to write, switching a store in
 * rollback-journal mode to WAL (its header rewritten) and creating what
 * was missing. A read-only open writes nothing: header, pages, mtime. */
static void test_readonly_open_switched_journal_mode(void)
{
	char *before, *after, *listing, *listing_after;
	size_t n_before, n_after;
	struct session s;
	struct state *st = NULL;
	struct stat sb, sa;
	char *cause = NULL;
	struct tmp t;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	raw_exec(t.db, "PRAGMA journal_mode = DELETE");
	listing = dir_listing(t.dir);
	before = read_bytes(t.db, &n_before);
	ASSERT_EQ_INT(before[18], 1);
	ASSERT_OK(stat(t.db, &sb));

	ASSERT_OK(state_open_readonly(t.db, &st, &cause));
	ASSERT_OK(state_session_get(st, "kept", &s));
	session_finish(&s);
	session_fill(&s, "new", 2);
	ASSERT_EQ_INT(state_session_insert(st, &s), -EROFS);
	ASSERT_CONTAINS(state_errmsg(st), t.db);
	state_close(st);

	after = read_bytes(t.db, &n_after);
	assert_same_bytes(t.db, before, n_before, after, n_after);
	ASSERT_OK(stat(t.db, &sa));
	ASSERT_EQ_INT(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec);
	listing_after = dir_listing(t.dir);
	ASSERT_STREQ(listing_after, listing);
	assert_raw(t.db, "PRAGMA journal_mode", "delete");
	free(listing);
	free(listing_after);
	free(before);
	free(after);
	tmp_finish(&t);
}

/* A read-only open of a WAL store reads what the WAL holds, and leaves the
 * store and its WAL as they were. */
static void test_readonly_open_reads_the_wal(void)
{
	char *before, *after, *wal_before, *wal_after, *wal;
	size_t n_before, n_after, nw_before, nw_after;
	struct state *st = NULL;
	struct session s;
	char *cause = NULL;
	struct tmp t;

	tmp_init(&t);
	crash_child(t.db, CRASH_AFTER_COMMIT); /* "victim" only in the WAL */
	wal = xasprintf("%s-wal", t.db);
	before = read_bytes(t.db, &n_before);
	wal_before = bytes_or_null(wal, &nw_before, false);
	ASSERT_TRUE(wal_before != NULL);

	ASSERT_OK(state_open_readonly(t.db, &st, &cause));
	ASSERT_OK(state_session_get(st, "victim", &s));
	session_finish(&s);
	state_close(st);

	after = read_bytes(t.db, &n_after);
	assert_same_bytes(t.db, before, n_before, after, n_after);
	wal_after = bytes_or_null(wal, &nw_after, false);
	assert_same_bytes(wal, wal_before, nw_before, wal_after, nw_after);
	free(before);
	free(after);
	free(wal_before);
	free(wal_after);
	free(wal);
	tmp_finish(&t);
}

/* No store: a read-only open reads an empty one and creates nothing, not
 * even its directory. */
static void test_readonly_open_of_missing_store_creates_nothing(void)
{
	struct state *st = NULL;
	struct session *v;
	struct event_rec *e;
	char *cause = NULL, *listing, *nodir;
	struct tmp t;
	size_t n;

	tmp_init(&t);
	ASSERT_OK(state_open_readonly(t.db, &st, &cause));
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, 0);
	sessions_free(v, n);
	ASSERT_OK(state_events_list(st, 0, 0, &e, &n));
	ASSERT_EQ_INT(n, 0);
	events_free(e, n);
	state_close(st);
	listing = dir_listing(t.dir);
	ASSERT_STREQ(listing, "");
	free(listing);

	nodir = path_join(t.dir, "no-such-dir/state.db");
	ASSERT_OK(state_open_readonly(nodir, &st, &cause));
	state_close(st);
	listing = dir_listing(t.dir);
	ASSERT_STREQ(listing, "");
	ASSERT_EQ_INT(state_check(t.db, &cause), -ENOENT);
	free(listing);
	free(nodir);
	tmp_finish(&t);
}

/*
 * Run fn(t) in a child that cannot write what it does not have permission
 * to: as itself when not root; as root, in a user namespace where root is
 * uid 1000 without capabilities (the files stay its own, so their mode
 * bits apply). Skips when neither can be had.
 */
static void run_unprivileged(void (*fn)(struct tmp *), struct tmp *t)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0) {
			struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
			struct __user_cap_data_struct d[2];
			int fd;

			memset(d, 0, sizeof(d));
			if (unshare(CLONE_NEWUSER) < 0)
				_exit(TAP_EXIT_SKIP);
			fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "deny", 4) != 4)
				_exit(TAP_EXIT_SKIP);
			close(fd);
			fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "1000 0 1", 8) != 8)
				_exit(TAP_EXIT_SKIP);
			close(fd);
			fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "1000 0 1", 8) != 8)
				_exit(TAP_EXIT_SKIP);
			close(fd);
			if (syscall(SYS_capset, &h, d) < 0)
				_exit(TAP_EXIT_SKIP);
			/* the mode bits must now apply to us */
			if (access(t->db, W_OK) == 0 && access(t->dir, W_OK) == 0)
				_exit(TAP_EXIT_SKIP);
		}
		fn(t);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	if (WIFEXITED(status) && WEXITSTATUS(status) == TAP_EXIT_SKIP)
		tap_skip("no user namespace to run without privileges in");
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A sound store that cannot be written: a writing open says so, naming the
 * file ("cannot write ...: read-only"), before it creates anything; a
 * read-only open reads it. */
static void readonly_store_checks(struct tmp *t)
{
	struct state *st = (struct state *)0x1;
	char *cause = NULL, *before, *after, *listing, *listing_after;
	size_t n_before, n_after;
	struct stat dir;
	struct session s;

	ASSERT_OK(stat(t->dir, &dir));
	before = read_bytes(t->db, &n_before);
	listing = dir_listing(t->dir);
	ASSERT_EQ_INT(state_open(t->db, &st, &cause), -EROFS);
	ASSERT_TRUE(st == (struct state *)0x1);
	printf("# %s\n", cause);
	ASSERT_CONTAINS(cause, "cannot write the state store '");
	ASSERT_CONTAINS(cause, t->db);
	ASSERT_CONTAINS(cause, "read-only");
	ASSERT_CONTAINS(cause, (dir.st_mode & 0200) ? "read-only (" : "its directory");
	ASSERT_TRUE(strstr(cause, "not an error") == NULL);
	free(cause);
	cause = NULL;
	listing_after = dir_listing(t->dir);
	ASSERT_STREQ(listing_after, listing); /* nothing created */
	free(listing_after);

	ASSERT_OK(state_open_readonly(t->db, &st, &cause));
	ASSERT_OK(state_session_get(st, "kept", &s));
	session_finish(&s);
	state_close(st);
	ASSERT_OK(state_check(t->db, &cause));

	after = read_bytes(t->db, &n_after);
	assert_same_bytes(t->db, before, n_before, after, n_after);
	free(before);
	free(after);
	free(listing);
}

/* Regression: on a read-only state.db, up said "cannot reserve session
 * 's2': not an error" and down "not an error"; ls created state.db-wal. */
static void test_readonly_file_said_not_an_error(void)
{
	struct state *st;
	struct tmp t;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	ASSERT_OK(chmod(t.db, 0444));
	run_unprivileged(readonly_store_checks, &t);
	tmp_finish(&t);
}

/* Regression: in a read-only .berth/ directory every command failed with
 * "attempt to write a readonly database", ls and status included. */
static void test_readonly_dir_could_not_be_read(void)
{
	struct state *st;
	struct tmp t;

	tmp_init(&t);
	st = open_ok(t.db);
	insert_session(st, "kept", 1);
	state_close(st);
	ASSERT_OK(chmod(t.dir, 0555));
	run_unprivileged(readonly_store_checks, &t);
	ASSERT_OK(chmod(t.dir, 0755));
	tmp_finish(&t);
}

/* A store whose last commits are only in its WAL, in a directory that
 * cannot be written and without the -shm SQLite needs to read a WAL: the
 * message says so (it said "unable to open database file"). */
static void wal_without_shm_checks(struct tmp *t)
{
	struct state *st = (struct state *)0x1;
	char *cause = NULL;

	ASSERT_TRUE(state_open_readonly(t->db, &st, &cause) < 0);
	ASSERT_TRUE(st == (struct state *)0x1);
	printf("# %s\n", cause);
	ASSERT_CONTAINS(cause, t->db);
	ASSERT_CONTAINS(cause, "-shm' beside it, and its directory is read-only");
	free(cause);
}

static void test_readonly_dir_wal_without_shm_says_why(void)
{
	char *shm;
	struct tmp t;

	tmp_init(&t);
	crash_child(t.db, CRASH_AFTER_COMMIT);
	ASSERT_TRUE(sidecar_exists(t.db, "-wal"));
	shm = xasprintf("%s-shm", t.db);
	ASSERT_OK(unlink(shm));
	ASSERT_OK(chmod(t.dir, 0555));
	run_unprivileged(wal_without_shm_checks, &t);
	ASSERT_OK(chmod(t.dir, 0755));
	free(shm);
	tmp_finish(&t);
}

/* ---- concurrent writers ------------------------------------------------ */

/*
 * N_WRITERS children wait on a common start line, then each opens the store
 * and reserves its own session at once; each reports its slot (or an error)
 * through a pipe and keeps the store open until the parent lets go, like N
 * `berth up` running side by side.
 */
static void run_writers(const char *path)
{
	int go[2], results[2], hold[2];
	pid_t pids[N_WRITERS];
	bool seen[N_WRITERS + 1] = {false};
	char line[256];
	FILE *in;

	ASSERT_OK(pipe2(go, O_CLOEXEC));
	ASSERT_OK(pipe2(results, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	fflush(stdout);
	for (int i = 0; i < N_WRITERS; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			struct reserve_req req = {
				.branch = "feat/x",
				.worktree = "/repo/wt",
				.mode = "host",
				.owns_worktree = true,
				.max_slots = 2 * N_WRITERS,
			};
			struct state *st = NULL;
			struct session s;
			struct op_rec op;
			char slug[16], c, *cause = NULL;
			bool is_new = false;
			int r;

			close(go[1]);
			close(results[0]);
			close(hold[1]);
			snprintf(slug, sizeof(slug), "writer-%d", i);
			req.slug = slug;
			while (read(go[0], &c, 1) > 0)
				;
			r = state_open(path, &st, &cause);
			if (r < 0) {
				dprintf(results[1], "%d error open %d %s\n", i, r, cause);
				_exit(1);
			}
			session_op_new(&op, "up");
			r = session_reserve(st, &req, &op, &s, &is_new, &cause);
			if (r < 0) {
				dprintf(results[1], "%d error reserve %d %s / %s\n", i, r,
					cause ? cause : "", state_errmsg(st));
				_exit(1);
			}
			dprintf(results[1], "%d slot %u %d\n", i, s.slot, is_new);
			while (read(hold[0], &c, 1) > 0)
				;
			session_finish(&s);
			op_rec_finish(&op);
			state_close(st);
			_exit(0);
		}
	}
	close(go[0]);
	close(results[1]);
	close(hold[0]);
	close(go[1]); /* start */

	in = fdopen(results[0], "r");
	ASSERT_TRUE(in != NULL);
	for (int i = 0; i < N_WRITERS; i++) {
		unsigned slot;
		int who, is_new;

		if (!fgets(line, sizeof(line), in))
			tap_fail(__FILE__, __LINE__, "a writer died without a word");
		printf("# %s", line);
		if (sscanf(line, "%d slot %u %d", &who, &slot, &is_new) != 3)
			tap_fail(__FILE__, __LINE__, line);
		ASSERT_TRUE(slot >= 1 && slot <= N_WRITERS);
		ASSERT_FALSE(seen[slot]); /* never two sessions on one slot */
		seen[slot] = true;
		ASSERT_EQ_INT(is_new, 1);
	}
	fclose(in);
	close(hold[1]);
	for (int i = 0; i < N_WRITERS; i++) {
		int status;

		while (waitpid(pids[i], &status, 0) < 0)
			ASSERT_EQ_INT(errno, EINTR);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void test_concurrent_reserve(void)
{
	struct session *v;
	struct tmp t;
	struct state *st;
	size_t n;

	tmp_init(&t);
	state_close(open_ok(t.db));
	run_writers(t.db);

	st = open_ok(t.db);
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, N_WRITERS);
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ_INT(v[i].slot, i + 1);
		ASSERT_TRUE(v[i].has_op);
		ASSERT_EQ_INT(v[i].status, SESSION_PENDING);
	}
	sessions_free(v, n);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static void test_concurrent_first_open(void)
{
	struct session *v;
	struct tmp t;
	struct state *st;
	size_t n;

	/* the same, on a repository whose store does not exist yet */
	tmp_init(&t);
	run_writers(t.db);

	st = open_ok(t.db);
	ASSERT_OK(state_sessions_list(st, &v, &n));
	ASSERT_EQ_INT(n, N_WRITERS);
	sessions_free(v, n);
	state_close(st);
	assert_store_intact(t.db);
	tmp_finish(&t);
}

/* The system call pid is blocked in, or -1 when it runs (or is gone). */
static long blocked_in(pid_t pid)
{
	char path[64], *text;
	long nr = -1;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	r = read_file(path, 4096, &text, NULL);
	if (r == -EACCES || r == -EPERM)
		tap_skip("/proc/<pid>/syscall is not readable here");
	if (r < 0)
		return -1;
	if (text[0] >= '0' && text[0] <= '9')
		nr = strtol(text, NULL, 10);
	free(text);
	return nr;
}

static bool is_sleep_call(long nr)
{
#ifdef SYS_nanosleep
	if (nr == SYS_nanosleep)
		return true;
#endif
	return nr == SYS_clock_nanosleep;
}

/* A child that holds a write transaction (session "blocker" inserted, not
 * committed) until *ret_release is closed, then commits and exits 0. */
static pid_t blocker_start(const char *path, int *ret_release)
{
	int ready[2], hold[2];
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(ready, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	fflush(stdout);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		struct state *st = NULL;
		char *cause = NULL;
		struct session s;

		close(ready[0]);
		close(hold[1]);
		session_fill(&s, "blocker", 1);
		if (state_open(path, &st, &cause) < 0 || state_begin(st) < 0 ||
		    state_session_insert(st, &s) < 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		while (read(hold[0], &c, 1) > 0)
			;
		if (state_commit(st) < 0)
			_exit(4);
		state_close(st);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*ret_release = hold[1];
	return pid;
}

static void test_busy_writer_is_waited_for(void)
{
	struct tmp t;
	int results[2], release, status;
	pid_t pids[N_WAITERS], blocker;
	bool seen[N_WAITERS + 2] = {false};
	uint64_t deadline;
	char line[256];
	FILE *in;

	/* One process holds a write transaction; N_WAITERS others open the store
	 * and reserve a session meanwhile. Once one of them sleeps in SQLite's
	 * busy handler (and the others wait for the open lock), the writer
	 * commits: every waiter must then succeed, none may give up with
	 * "database is locked". (No SQLite handle may cross a fork, so this
	 * process keeps none open while it forks.) */
	tmp_init(&t);
	state_close(open_ok(t.db));
	blocker = blocker_start(t.db, &release);

	ASSERT_OK(pipe2(results, O_CLOEXEC));
	fflush(stdout);
	for (int i = 0; i < N_WAITERS; i++) {
		pids[i] = fork();
		ASSERT_TRUE(pids[i] >= 0);
		if (pids[i] == 0) {
			struct reserve_req req = {
				.branch = "b", .worktree = "/w", .mode = "host", .max_slots = 8};
			struct state *mine = NULL;
			struct session s;
			struct op_rec op;
			char slug[16], *cause = NULL;
			bool is_new;
			int r;

			close(results[0]);
			close(release);
			snprintf(slug, sizeof(slug), "waiter-%d", i);
			req.slug = slug;
			r = state_open(t.db, &mine, &cause);
			if (r < 0) {
				dprintf(results[1], "%d error open %d %s\n", i, r, cause);
				_exit(1);
			}
			session_op_new(&op, "up");
			r = session_reserve(mine, &req, &op, &s, &is_new, &cause);
			if (r < 0) {
				dprintf(results[1], "%d error reserve %d %s / %s\n", i, r,
					cause ? cause : "", state_errmsg(mine));
				_exit(1);
			}
			dprintf(results[1], "%d slot %u %d\n", i, s.slot, is_new);
			session_finish(&s);
			op_rec_finish(&op);
			state_close(mine);
			_exit(0);
		}
	}
	close(results[1]);

	/* bounded wait for the event "a waiter sleeps in the busy handler" */
	deadline = time_mono_ms() + WAIT_LIMIT_MS;
	for (;;) {
		bool sleeping = false;

		for (int i = 0; i < N_WAITERS; i++)
			sleeping |= is_sleep_call(blocked_in(pids[i]));
		if (sleeping)
			break;
		if (time_mono_ms() > deadline)
			tap_fail(__FILE__, __LINE__,
				 "no waiter reached SQLite's busy handler within 20s");
		poll(NULL, 0, 1);
	}
	close(release); /* the writer commits */
	while (waitpid(blocker, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	in = fdopen(results[0], "r");
	ASSERT_TRUE(in != NULL);
	for (int i = 0; i < N_WAITERS; i++) {
		unsigned slot;
		int who, is_new;

		if (!fgets(line, sizeof(line), in))
			tap_fail(__FILE__, __LINE__, "a waiter died without a word");
		printf("# %s", line);
		if (sscanf(line, "%d slot %u %d", &who, &slot, &is_new) != 3)
			tap_fail(__FILE__, __LINE__, line);
		ASSERT_TRUE(slot >= 2 && slot <= N_WAITERS + 1);
		ASSERT_FALSE(seen[slot]);
		seen[slot] = true;
	}
	fclose(in);
	for (int i = 0; i < N_WAITERS; i++) {
		while (waitpid(pids[i], &status, 0) < 0)
			ASSERT_EQ_INT(errno, EINTR);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	{
		char want[16];

		snprintf(want, sizeof(want), "%d", N_WAITERS + 1);
		assert_raw(t.db, "SELECT count(*) FROM sessions", want);
	}
	assert_store_intact(t.db);
	tmp_finish(&t);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_open_creates_store),
	TAP_TEST(test_open_header_bytes),
	TAP_TEST(test_reopen_is_idempotent),
	TAP_TEST(test_zero_byte_store_was_reinitialised),
	TAP_TEST(test_open_missing_directory),
	TAP_TEST(test_refuse_random_bytes),
	TAP_TEST(test_refuse_text_file),
	TAP_TEST(test_refuse_other_sqlite_app),
	TAP_TEST(test_refuse_other_sqlite_app_with_its_own_id),
	TAP_TEST(test_refuse_header_then_garbage),
	TAP_TEST(test_refuse_header_then_garbage_with_our_id),
	TAP_TEST(test_refuse_newer_schema),
	TAP_TEST(test_refuse_newer_schema_in_rollback_mode),
	TAP_TEST(test_half_made_store_version_0_was_migrated),
	TAP_TEST(test_half_made_store_with_missing_tables_was_used),
	TAP_TEST(test_foreign_db_with_our_id_got_our_tables),
	TAP_TEST(test_store_with_other_tables_is_refused),
	TAP_TEST(test_dropped_table_was_used),
	TAP_TEST(test_zeroed_pages_were_used),
	TAP_TEST(test_foreign_wal_was_replayed),
	TAP_TEST(test_side_file_not_regular_is_refused),
	TAP_TEST(test_symlink_store_said_database_is_locked),
	TAP_TEST(test_session_crud),
	TAP_TEST(test_sessions_list_empty),
	TAP_TEST(test_status_names),
	TAP_TEST(test_slot_and_slug_unique),
	TAP_TEST(test_ports_set_and_list),
	TAP_TEST(test_ports_unique_across_sessions),
	TAP_TEST(test_ports_need_a_session),
	TAP_TEST(test_delete_cascades),
	TAP_TEST(test_migrates_v1_store_with_an_op),
	TAP_TEST(test_readonly_open_of_older_schema_reads_a_copy),
	TAP_TEST(test_op_set_clear),
	TAP_TEST(test_events),
	TAP_TEST(test_events_prune),
	TAP_TEST(test_sigkill_in_transaction),
	TAP_TEST(test_sigkill_after_commit),
	TAP_TEST(test_sigkill_after_first_open),
	TAP_TEST(test_sigkill_in_first_transaction),
	TAP_TEST(test_new_store_is_built_aside),
	TAP_TEST(test_lock_file_not_regular_is_refused),
	TAP_TEST(test_errmsg_after_rollback_said_not_an_error),
	TAP_TEST(test_readonly_open_switched_journal_mode),
	TAP_TEST(test_readonly_open_reads_the_wal),
	TAP_TEST(test_readonly_open_of_missing_store_creates_nothing),
	TAP_TEST(test_readonly_file_said_not_an_error),
	TAP_TEST(test_readonly_dir_could_not_be_read),
	TAP_TEST(test_readonly_dir_wal_without_shm_says_why),
	TAP_TEST(test_concurrent_reserve),
	TAP_TEST(test_concurrent_first_open),
	TAP_TEST(test_busy_writer_is_waited_for),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
