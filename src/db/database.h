/*
 * database.h: a database per session ([database], docs/config.md). Where
 * the repository's server is and how berth and the sessions reach it; what
 * a session's database is called; making it (a clone of a private seed
 * copy of the source, so that nobody else's connections to the source
 * ever stop a clone), dropping it, and what it holds. Prints nothing: what
 * the user should hear comes through a say callback.
 */
#ifndef BERTH_DB_DATABASE_H
#define BERTH_DB_DATABASE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "config/envfile.h"
#include "db/pg.h"

/* How to reach the repository's server. */
struct db_place {
	bool managed;
	char *url;                           /* url mode: [database] url */
	char *host, *port, *user, *password; /* what sessions connect with */
	char *admin_host;                    /* where berth itself connects */
	char *admin_db;                      /* the database berth connects to */
	char *bindir;                        /* managed: the server's programs */
	uint64_t timeout_ms;
};

/* Fill p from the config; a managed server's from .berth/pg (-ENOENT when
 * berth has never started it). *cause on failure (caller frees). */
int database_place(const struct config *c, const char *berth_dir, struct db_place *ret,
		   char **cause);
void database_place_finish(struct db_place *p);

/* <prefix>_<slug>, at most 63 bytes (a longer one ends in a hash). Caller frees. */
char *database_name(const struct config *c, const char *slug);
/* <prefix>__seed: berth's private copy of the source. Caller frees. */
char *database_seed_name(const struct config *c);

/* DATABASE_URL, PGHOST, PGPORT, PGDATABASE, PGUSER (and PGPASSWORD when
 * there is one) of database name. */
void database_env(const struct db_place *p, const char *name, struct envmap *env);
/* The session environment's database part: nothing without [database] or
 * before the managed server first ran. */
void database_session_env(const struct config *c, const char *berth_dir, const char *slug,
			  struct envmap *env);

/* The bin directory of the newest PostgreSQL installed the Debian way
 * (/usr/lib/postgresql/N/bin) that has prog, or NULL. Caller frees. */
char *database_pg_bindir(const char *prog);

/* Connect to the server as berth. */
int database_connect(const struct db_place *p, struct pg_conn **ret, char **cause);

typedef void database_say_fn(void *data, const char *msg);

/* Make the session's database (nothing when it exists: *ret_created
 * false): empty, or a clone of the seed, which is made from the source
 * first when missing. */
int database_create(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		    const char *berth_dir, const char *slug, database_say_fn *say, void *data,
		    bool *ret_created, char **cause);
/* Copy the source into the seed again (a file copy when nobody is connected
 * to the source, pg_dump otherwise, saying so). */
int database_refresh_seed(struct pg_conn *conn, const struct config *c, const struct db_place *p,
			  const char *berth_dir, database_say_fn *say, void *data, char **cause);
/* Give the session a fresh database: dropped, and cloned straight from the
 * source when nobody is connected to it (its data as of now, one file
 * copy); else the seed is copied again (pg_dump, said so) and cloned; an
 * empty one without a source. */
int database_reset(struct pg_conn *conn, const struct config *c, const struct db_place *p,
		   const char *berth_dir, const char *slug, database_say_fn *say, void *data,
		   char **cause);
/* Drop the session's database (its own connections ended first). 1 with
 * *cause when it is another repository's (same prefix): left alone. A
 * session's database carries a comment naming its repository. */
int database_drop(struct pg_conn *conn, const struct config *c, const char *slug, char **cause);

/* What a session's database holds now. */
struct db_info {
	bool exists;
	uint64_t size;
	unsigned connections;
};
int database_info(struct pg_conn *conn, const char *name, struct db_info *ret, char **cause);

#endif
