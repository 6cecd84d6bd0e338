/*
 * pg.h: one connection to a PostgreSQL server through libpq, and the few
 * statements berth sends: database exists/create from a template/drop,
 * what a database holds (size, connections), advisory locks. Names and
 * literals are quoted by libpq. Errors come back as -errno with a message
 * that never contains a password:
 *   -ECONNREFUSED the server does not answer (or is starting/stopping)
 *   -EACCES       authentication failed (the login)
 *   -EPERM        the role may not do this (no CREATEDB, another role's
 *                 connections to end, a database it does not own to copy)
 *   -ENOENT       the database does not exist
 *   -EEXIST       the database already exists
 *   -EBUSY        the template database has other connections
 *   -EIO          anything else (the server's message says what)
 */
#ifndef BERTH_DB_PG_H
#define BERTH_DB_PG_H

#include <stdbool.h>
#include <stdint.h>

struct pg_conn;

/* Where to connect: a postgres:// URL, or host/port/user/password (NULL:
 * libpq's defaults). dbname overrides the URL's database. */
struct pg_target {
	const char *url;
	const char *host, *port, *user, *password;
	const char *dbname;
	uint64_t timeout_ms; /* connecting, and waiting for a lock */
};

/* Connect. *cause (caller frees) on failure. */
int pg_connect(const struct pg_target *t, struct pg_conn **ret, char **cause);
/* Close and free; NULL is a no-op. */
void pg_close(struct pg_conn *c);

/* Run sql (no parameters, no result rows wanted). */
int pg_exec(struct pg_conn *c, const char *sql, char **cause);
/* Run sql with text parameters; the first column of the first row, or NULL
 * when there is no row or it is NULL, in *ret (caller frees). */
int pg_value(struct pg_conn *c, const char *sql, const char *const *params, int n_params,
	     char **ret, char **cause);

/* Does database name exist? 1 yes, 0 no, -errno. */
int pg_db_exists(struct pg_conn *c, const char *name, char **cause);
/* CREATE DATABASE name [TEMPLATE template] [STRATEGY ...]: a file copy of the
 * template on the server. *cause names the connections when -EBUSY. */
int pg_db_create(struct pg_conn *c, const char *name, const char *template, char **cause);
/* End the connections to database name (only it) and DROP DATABASE IF EXISTS. */
int pg_db_drop(struct pg_conn *c, const char *name, char **cause);
/* ALTER DATABASE from RENAME TO to. */
int pg_db_rename(struct pg_conn *c, const char *from, const char *to, char **cause);
/* COMMENT ON DATABASE name; and read it back (*ret NULL: none; caller frees). */
int pg_db_comment(struct pg_conn *c, const char *name, const char *text, char **cause);
int pg_db_get_comment(struct pg_conn *c, const char *name, char **ret, char **cause);
/* Make name a private template: nobody may connect to it; it can be cloned. */
int pg_db_seal(struct pg_conn *c, const char *name, char **cause);
/* How many connections other than ours database name has, and a short list
 * of who they are ("pid 123 (psql, app)"), in *who (caller frees; may be
 * NULL). */
int pg_db_connections(struct pg_conn *c, const char *name, unsigned *ret, char **who, char **cause);
/* Size of database name in bytes. */
int pg_db_size(struct pg_conn *c, const char *name, uint64_t *ret, char **cause);
/* Session-level advisory lock on key (shared or exclusive). Without wait,
 * -EAGAIN when another holds it; with wait, as long as that takes. */
int pg_lock(struct pg_conn *c, int64_t key, bool shared, bool wait, char **cause);
int pg_unlock(struct pg_conn *c, int64_t key, bool shared, char **cause);
/* The server's major version (e.g. 15). */
int pg_server_major(struct pg_conn *c);

#endif
