/*
 * pg.c: berth's PostgreSQL client (see pg.h). Every statement is sent with
 * PQexecParams or with names quoted by PQescapeIdentifier; nothing a user
 * wrote is pasted into SQL unquoted.
 */
#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/pg.h"
#include "db/pq.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xmalloc.h"

#define STARTING_RETRY_MS 50

struct pg_conn {
	PGconn *conn;
	int major;
};

/* Notices (DROP ... IF EXISTS on nothing) are not for the user. */
static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* libpq's message on one line: "...failed: Connection refused\n\tIs the
 * server running...?\n" -> "...failed: Connection refused (Is the server
 * running...?)". */
static char *trimmed(const char *msg)
{
	struct strbuf sb = STRBUF_INIT;
	bool open = false;

	for (const char *p = msg ? msg : ""; *p; p++) {
		if (*p == '\n') {
			while (p[1] == '\t' || p[1] == ' ')
				p++;
			if (p[1] && p[1] != '\n') {
				strbuf_adds(&sb, open ? "; " : " (");
				open = true;
			}
			continue;
		}
		strbuf_addch(&sb, *p);
	}
	if (open)
		strbuf_addch(&sb, ')');
	return strbuf_detach(&sb);
}

/* What a failed connection means, from libpq's message (there is no
 * SQLSTATE before a connection exists). */
static int connect_errno(const char *msg)
{
	if (strstr(msg, "password authentication failed") || strstr(msg, "no password supplied") ||
	    strstr(msg, "authentication failed") || strstr(msg, "role \"") ||
	    strstr(msg, "no pg_hba.conf entry") || strstr(msg, "permission denied"))
		return -EACCES;
	if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
		return -ENOENT;
	return -ECONNREFUSED;
}

int pg_connect(const struct pg_target *t, struct pg_conn **ret, char **cause)
{
	const char *keys[12], *vals[12];
	char timeout[32], options[64], *msg;
	uint64_t deadline;
	struct pg_conn *c;
	int n = 0, r;

	r = pq_load(cause);
	if (r < 0)
		return r;
	snprintf(timeout, sizeof(timeout), "%" PRIu64,
		 t->timeout_ms < 2000 ? 2 : (t->timeout_ms + 999) / 1000);
	snprintf(options, sizeof(options), "-c lock_timeout=%" PRIu64, t->timeout_ms);
	if (t->url) {
		keys[n] = "dbname";
		vals[n++] = t->url;
	}
#define KV(k, v)                       \
	do {                           \
		if (v) {               \
			keys[n] = k;   \
			vals[n++] = v; \
		}                      \
	} while (0)
	KV("host", t->host);
	KV("port", t->port);
	KV("user", t->user);
	KV("password", t->password);
	KV("dbname", t->dbname);
#undef KV
	keys[n] = "connect_timeout";
	vals[n++] = timeout;
	keys[n] = "application_name";
	vals[n++] = "berth";
	keys[n] = "options";
	vals[n++] = options;
	keys[n] = NULL;
	vals[n] = NULL;

	c = xcalloc(1, sizeof(*c));
	deadline = time_mono_ms() + t->timeout_ms;
	for (;;) {
		c->conn = pq.connectdbParams(keys, vals, 1);
		if (!c->conn) {
			free(c);
			*cause = xstrdup("out of memory in libpq");
			return -ENOMEM;
		}
		if (pq.status(c->conn) == CONNECTION_OK)
			break;
		msg = trimmed(pq.errorMessage(c->conn));
		r = connect_errno(msg);
		pq.finish(c->conn);
		/* A server that is starting (its recovery after a crash, or a
		 * start another berth began) has no event to wait for: it is
		 * asked again, briefly, until the timeout. */
		if (strstr(msg, "the database system is starting up") &&
		    time_mono_ms() < deadline) {
			free(msg);
			poll(NULL, 0, STARTING_RETRY_MS);
			continue;
		}
		*cause = msg;
		free(c);
		return r;
	}
	pq.setNoticeProcessor(c->conn, quiet_notice, NULL);
	*ret = c;
	c->major = pg_server_major(c);
	return 0;
}

void pg_close(struct pg_conn *c)
{
	if (!c)
		return;
	pq.finish(c->conn);
	free(c);
}

/* -errno of a failed result, from its SQLSTATE. */
static int result_errno(const PGresult *res)
{
	const char *state = res ? pq.resultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!state)
		return -ECONNREFUSED; /* no SQLSTATE: the connection broke */
	if (!strcmp(state, "3D000"))
		return -ENOENT;
	if (!strcmp(state, "42P04"))
		return -EEXIST;
	if (!strcmp(state, "55006"))
		return -EBUSY;
	if (!strcmp(state, "55P03"))
		return -ETIMEDOUT;
	if (!strncmp(state, "28", 2))
		return -EACCES;
	if (!strcmp(state, "42501"))
		return -EPERM;
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
		return -ECONNREFUSED;
	return -EIO;
}

static int check_result(struct pg_conn *c, PGresult *res, ExecStatusType want, char **cause)
{
	int r;

	if (res && pq.resultStatus(res) == want)
		return 0;
	r = result_errno(res);
	if (cause) {
		const char *primary =
			res ? pq.resultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		const char *detail = res ? pq.resultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

		if (primary && detail)
			*cause = xasprintf("%s (%s)", primary, detail);
		else if (primary)
			*cause = xstrdup(primary);
		else
			*cause = trimmed(pq.errorMessage(c->conn));
	}
	return r;
}

int pg_exec(struct pg_conn *c, const char *sql, char **cause)
{
	PGresult *res = pq.exec(c->conn, sql);
	int r = check_result(c, res, PGRES_COMMAND_OK, cause);

	if (r < 0 && res && pq.resultStatus(res) == PGRES_TUPLES_OK)
		r = 0;
	pq.clear(res);
	return r;
}

int pg_value(struct pg_conn *c, const char *sql, const char *const *params, int n_params,
	     char **ret, char **cause)
{
	PGresult *res = pq.execParams(c->conn, sql, n_params, NULL, params, NULL, NULL, 0);
	int r = check_result(c, res, PGRES_TUPLES_OK, cause);

	if (r == 0)
		*ret = pq.ntuples(res) > 0 && !pq.getisnull(res, 0, 0)
			       ? xstrdup(pq.getvalue(res, 0, 0))
			       : NULL;
	pq.clear(res);
	return r;
}

/* name as a quoted identifier (caller frees). */
static char *ident(struct pg_conn *c, const char *name)
{
	char *q = pq.escapeIdentifier(c->conn, name, strlen(name)), *s;

	if (!q)
		abort(); /* only on OOM or invalid encoding; names are checked before */
	s = xstrdup(q);
	pq.freemem(q);
	return s;
}

int pg_server_major(struct pg_conn *c)
{
	char *v = NULL;
	uint64_t num = 0;

	if (pg_value(c, "SHOW server_version_num", NULL, 0, &v, NULL) == 0 && v)
		parse_u64(v, 0, UINT32_MAX, &num);
	free(v);
	return (int)(num / 10000);
}

int pg_db_exists(struct pg_conn *c, const char *name, char **cause)
{
	const char *params[] = {name};
	char *v = NULL;
	int r = pg_value(c, "SELECT 1 FROM pg_database WHERE datname = $1", params, 1, &v, cause);

	if (r < 0)
		return r;
	r = v != NULL;
	free(v);
	return r;
}

int pg_db_create(struct pg_conn *c, const char *name, const char *template, char **cause)
{
	struct strbuf sql = STRBUF_INIT;
	char *qn = ident(c, name);
	int r;

	strbuf_addf(&sql, "CREATE DATABASE %s", qn);
	if (template) {
		char *qt = ident(c, template);

		strbuf_addf(&sql, " TEMPLATE %s", qt);
		/* a copy of the files, not of every block through the WAL */
		if (c->major >= 15)
			strbuf_adds(&sql, " STRATEGY FILE_COPY");
		free(qt);
	}
	r = pg_exec(c, strbuf_str(&sql), cause);
	strbuf_release(&sql);
	free(qn);
	return r;
}

int pg_db_drop(struct pg_conn *c, const char *name, char **cause)
{
	const char *params[] = {name};
	char *v = NULL, *qn = ident(c, name), *sql;
	int r;

	r = pg_value(c, "SELECT datistemplate::text FROM pg_database WHERE datname = $1", params, 1,
		     &v, cause);
	if (r < 0 || !v)
		goto out; /* gone already, or an error */
	if (!strcmp(v, "true")) {
		sql = xasprintf("ALTER DATABASE %s IS_TEMPLATE false", qn);
		r = pg_exec(c, sql, cause);
		free(sql);
		if (r < 0)
			goto out;
	}
	/* only this database's own connections end */
	free(v);
	v = NULL;
	r = pg_value(c,
		     "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity "
		     "WHERE datname = $1 AND pid <> pg_backend_pid()",
		     params, 1, &v, cause);
	if (r == -EPERM) {
		char *why = *cause;

		*cause = xasprintf("another role is connected to it and berth's role may not end "
				   "that connection (%s); end it, or grant berth's role "
				   "pg_signal_backend",
				   why);
		free(why);
	}
	if (r < 0)
		goto out;
	sql = xasprintf("DROP DATABASE IF EXISTS %s%s", qn, c->major >= 13 ? " WITH (FORCE)" : "");
	r = pg_exec(c, sql, cause);
	free(sql);
out:
	free(v);
	free(qn);
	return r;
}

int pg_db_rename(struct pg_conn *c, const char *from, const char *to, char **cause)
{
	char *qf = ident(c, from), *qt = ident(c, to);
	char *sql = xasprintf("ALTER DATABASE %s RENAME TO %s", qf, qt);
	int r = pg_exec(c, sql, cause);

	free(sql);
	free(qf);
	free(qt);
	return r;
}

int pg_db_comment(struct pg_conn *c, const char *name, const char *text, char **cause)
{
	char *qn = ident(c, name), *lit = pq.escapeLiteral(c->conn, text, strlen(text)), *sql;
	int r;

	if (!lit)
		abort(); /* only on OOM or invalid encoding; our own text */
	sql = xasprintf("COMMENT ON DATABASE %s IS %s", qn, lit);
	pq.freemem(lit);
	r = pg_exec(c, sql, cause);
	free(sql);
	free(qn);
	return r;
}

int pg_db_get_comment(struct pg_conn *c, const char *name, char **ret, char **cause)
{
	const char *params[] = {name};

	return pg_value(c,
			"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE "
			"datname = $1",
			params, 1, ret, cause);
}

int pg_db_seal(struct pg_conn *c, const char *name, char **cause)
{
	char *qn = ident(c, name);
	char *sql =
		xasprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS false IS_TEMPLATE true", qn);
	int r = pg_exec(c, sql, cause);

	free(sql);
	free(qn);
	return r;
}

int pg_db_connections(struct pg_conn *c, const char *name, unsigned *ret, char **who, char **cause)
{
	const char *params[] = {name};
	char *v = NULL;
	int r;

	r = pg_value(
		c,
		"SELECT count(*)::text || ':' || coalesce(string_agg(w, ', '), '') FROM ("
		"SELECT 'pid ' || pid || coalesce(' (' || nullif(application_name, '') || ')', "
		"'') AS w FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
		"ORDER BY pid) a",
		params, 1, &v, cause);
	if (r < 0)
		return r;
	{
		char *colon = v ? strchr(v, ':') : NULL;
		uint64_t num = 0;

		if (colon)
			*colon = '\0';
		parse_u64(v ? v : "0", 0, UINT32_MAX, &num);
		*ret = (unsigned)num;
		if (who)
			*who = xstrdup(colon ? colon + 1 : "");
	}
	free(v);
	return 0;
}

int pg_db_size(struct pg_conn *c, const char *name, uint64_t *ret, char **cause)
{
	const char *params[] = {name};
	char *v = NULL;
	int r = pg_value(c, "SELECT pg_database_size($1)::text", params, 1, &v, cause);

	if (r < 0)
		return r;
	*ret = 0;
	if (v)
		parse_u64(v, 0, UINT64_MAX, ret);
	free(v);
	return 0;
}

int pg_lock(struct pg_conn *c, int64_t key, bool shared, bool wait, char **cause)
{
	char num[32], sql[96];
	const char *params[] = {num};
	char *v = NULL;
	int r;

	snprintf(num, sizeof(num), "%" PRId64, key);
	if (wait)
		snprintf(sql, sizeof(sql), "SELECT 'true' FROM pg_advisory_lock%s($1::bigint)",
			 shared ? "_shared" : "");
	else
		snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock%s($1::bigint)::text",
			 shared ? "_shared" : "");
	/* a wait for the other berth's copy: however long it takes */
	if (wait && (r = pg_exec(c, "SET lock_timeout = 0", cause)) < 0)
		return r;
	r = pg_value(c, sql, params, 1, &v, cause);
	if (wait && r == 0)
		r = pg_exec(c, "RESET lock_timeout", cause); /* the connection's own again */
	if (r == 0 && !wait && (!v || strcmp(v, "true")))
		r = -EAGAIN;
	free(v);
	return r;
}

int pg_unlock(struct pg_conn *c, int64_t key, bool shared, char **cause)
{
	char num[32], sql[96];
	const char *params[] = {num};
	char *v = NULL;
	int r;

	snprintf(num, sizeof(num), "%" PRId64, key);
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock%s($1::bigint)::text",
		 shared ? "_shared" : "");
	r = pg_value(c, sql, params, 1, &v, cause);
	free(v);
	return r;
}
