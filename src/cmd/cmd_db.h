/*
 * cmd_db.h: the database steps of the commands ([database]): up creates
 * the session's database, down drops it, status and `berth db status` show
 * it, shutdown and flush stop berth's own server. Each prints its progress
 * and errors and returns an exit code (0: done, or nothing to do).
 */
#ifndef BERTH_CMD_DB_H
#define BERTH_CMD_DB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "db/pg.h"

#include "cmd/cmd.h"
#include "config/envfile.h"

/* The session's environment: envfile_session_env plus its database's. */
void cmd_session_env(struct cmd_ctx *ctx, const struct session *s, struct envmap *ret);
/* Start berth's own server when [database] has no url (up, before the
 * environment is written). */
int cmd_db_server(struct cmd_ctx *ctx, const char *cmd, int sigfd);
/* Create slug's database unless it exists; *created says whether this did. */
int cmd_db_create(struct cmd_ctx *ctx, const char *cmd, const char *slug, int sigfd, bool *created);
/* Drop slug's database. */
int cmd_db_drop(struct cmd_ctx *ctx, const char *cmd, const char *slug);
/* One connection for the databases of many sessions (status). */
struct cmd_db_view {
	bool tried;
	struct pg_conn *conn;
	char *error; /* why there is no connection */
};
/* What slug's database holds, as JSON (NULL without [database]), and with
 * out, as a line of `berth status`. */
json_t *cmd_db_json(struct cmd_ctx *ctx, struct cmd_db_view *view, const char *slug, FILE *out);
void cmd_db_view_finish(struct cmd_db_view *view);
/* Stop berth's own server (shutdown, flush); with remove, delete its data. */
int cmd_db_stop_server(struct cmd_ctx *ctx, const char *cmd, bool remove);

#endif
