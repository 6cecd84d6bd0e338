/*
 * server.h: berth's own PostgreSQL server for a repository ([database]
 * without a url). initdb into .berth/pg on first use, started under a
 * berth-shim like a service (pseudo-session "_pg", so its log, status and
 * stop are the services' own), a unix socket beside its data and a TCP
 * port on 127.0.0.1, a password for TCP in .berth/pg/password. When berth
 * runs as root, the server runs as an unprivileged user (PostgreSQL refuses
 * root); its data then lives where that user can reach it.
 */
#ifndef BERTH_DB_SERVER_H
#define BERTH_DB_SERVER_H

#include <stdbool.h>

#include "config/config.h"
#include "db/database.h"

#define DBSERVER_SLUG "_pg"
#define DBSERVER_SERVICE "postgres"

struct dbserver_ctx {
	const struct config *config; /* the repository's */
	const char *berth_dir;
	const char *root_id;
	const char *shim_path;
	int sigfd; /* readable: give up (Ctrl-C); -1: none */
};

/* .berth/pg. Caller frees. */
char *dbserver_dir(const char *berth_dir);
/* Where PostgreSQL's server programs are (the newest installed), or NULL.
 * Caller frees. */
char *dbserver_find_bindir(void);
/* Does the server run? */
bool dbserver_running(const char *berth_dir);
/* Make sure it runs (initdb first when there is no cluster). Waits until it
 * accepts connections. Parallel callers wait for the first. */
int dbserver_start(const struct dbserver_ctx *x, database_say_fn *say, void *data, char **cause);
/* Stop it (fast shutdown: its sessions' connections end). */
int dbserver_stop(const struct dbserver_ctx *x, char **cause);
/* Remove its data and files (after a stop): flush. */
int dbserver_remove(const char *berth_dir, const char *root_id);

#endif
