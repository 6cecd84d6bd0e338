/*
 * cmd_db.c: `berth db` and the database steps of the other commands (see
 * cmd_db.h).
 */
#include "util/common.h"

#include <inttypes.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "cmd/output.h"
#include "db/database.h"
#include "db/server.h"
#include "store/session.h"
#include "util/fsutil.h"
#include "util/hash.h"

void cmd_session_env(struct cmd_ctx *ctx, const struct session *s, struct envmap *ret)
{
	envfile_session_env(&ctx->config, s, ret);
	database_session_env(&ctx->config, ctx->berth_dir, s->slug, ret);
	envmap_sort(ret);
}

/* A step of the database layer, and on a terminal a spinner until the
 * next one or the end of the call (out_progress_end after it). */
static void say_step(void *data, const char *msg)
{
	(void)data;
	out_step("%s", msg);
	out_progress_begin("%s", msg);
}

/* The server as the user names it, without its password. Caller frees. */
static char *server_text(struct cmd_ctx *ctx)
{
	if (ctx->config.database.url) {
		char *url = config_url_redacted(ctx->config.database.url), *s;

		s = xasprintf("the database server at %s", url);
		free(url);
		return s;
	}
	return xstrdup("berth's database server");
}

/* Say what failed and what to do; the exit code of the contract. */
static int db_failed(struct cmd_ctx *ctx, const char *cmd, const char *what, int r,
		     const char *cause)
{
	char *server = server_text(ctx);
	int code = EXIT_FAIL;

	switch (-r) {
	case ECONNREFUSED:
		out_error("%s: %s: %s does not answer: %s; start it, or fix [database] url", cmd,
			  what, server, cause);
		code = EXIT_UNHEALTHY;
		break;
	case EACCES:
		out_error("%s: %s: %s refused berth's login: %s; fix the user or password in "
			  "[database] url",
			  cmd, what, server, cause);
		code = EXIT_CONFIG;
		break;
	case EEXIST:
		out_error("%s: %s: %s", cmd, what, cause);
		code = EXIT_BUSY;
		break;
	case EPERM:
		/* a statement refused to berth's role (not its login) */
		out_error("%s: %s: %s refused it: %s", cmd, what, server, cause);
		break;
	case EINVAL:
		out_error("%s: %s: %s", cmd, what, cause);
		code = EXIT_CONFIG;
		break;
	case EINTR:
		out_error("%s: %s: interrupted", cmd, what);
		code = EXIT_INTERRUPTED;
		break;
	default:
		out_error("%s: %s: %s", cmd, what, cause);
		break;
	}
	free(server);
	return code;
}

static void server_ctx(struct cmd_ctx *ctx, int sigfd, struct dbserver_ctx *x, char **root_id,
		       char **shim)
{
	*root_id = hash_root_id(ctx->root);
	*shim = cmd_companion_path("berth-shim", "BERTH_SHIM");
	*x = (struct dbserver_ctx){
		.config = &ctx->config,
		.berth_dir = ctx->berth_dir,
		.root_id = *root_id,
		.shim_path = *shim,
		.sigfd = sigfd,
	};
}

int cmd_db_server(struct cmd_ctx *ctx, const char *cmd, int sigfd)
{
	struct dbserver_ctx x;
	char *root_id, *shim, *cause = NULL;
	int r, code = 0;

	if (!ctx->config.database.enabled || ctx->config.database.url)
		return 0;
	server_ctx(ctx, sigfd, &x, &root_id, &shim);
	r = dbserver_start(&x, say_step, NULL, &cause);
	out_progress_end();
	if (r < 0) {
		if (r == -EINTR)
			code = EXIT_INTERRUPTED;
		else
			code = r == -ENOENT ? EXIT_CONFIG : EXIT_UNHEALTHY;
		out_error("%s: %s", cmd, cause);
		free(cause);
	}
	free(root_id);
	free(shim);
	return code;
}

/* Place and connection; prints errors. */
static int open_db(struct cmd_ctx *ctx, const char *cmd, const char *what, struct db_place *p,
		   struct pg_conn **conn)
{
	char *cause = NULL;
	int r = database_place(&ctx->config, ctx->berth_dir, p, &cause);

	if (r < 0) {
		int code = db_failed(ctx, cmd, what, r == -ENOENT ? -EIO : r, cause);

		free(cause);
		return code;
	}
	r = database_connect(p, conn, &cause);
	if (r == -ENOENT) {
		/* the database berth logs in to, not a session's */
		char *why = cause;

		cause = xasprintf("%s; fix the database [database] url names (e.g. /postgres)",
				  why);
		free(why);
		r = -EINVAL;
	}
	if (r < 0) {
		int code = db_failed(ctx, cmd, what, r, cause);

		free(cause);
		database_place_finish(p);
		return code;
	}
	return 0;
}

int cmd_db_create(struct cmd_ctx *ctx, const char *cmd, const char *slug, int sigfd, bool *created)
{
	struct db_place p;
	struct pg_conn *conn = NULL;
	char *name = database_name(&ctx->config, slug), *what, *cause = NULL;
	int code, r;

	*created = false;
	what = xasprintf("cannot create the database '%s'", name);
	code = open_db(ctx, cmd, what, &p, &conn);
	if (code)
		goto out;
	r = database_create(conn, &ctx->config, &p, ctx->berth_dir, slug, say_step, NULL, created,
			    &cause);
	out_progress_end();
	if (r == -EPERM) {
		char *server = server_text(ctx);

		out_error("%s: %s: %s refused it: %s; the role in [database] url needs CREATEDB",
			  cmd, what, server, cause);
		free(server);
		free(cause);
		code = EXIT_CONFIG;
	} else if (r < 0) {
		code = db_failed(ctx, cmd, what, r == -ENOENT ? -EINVAL : r, cause);
		free(cause);
	} else if (*created) {
		if (ctx->config.database.source)
			out_step("database %s: cloned from '%s'", name,
				 ctx->config.database.source);
		else
			out_step("database %s: created (empty)", name);
	} else {
		out_step("database %s: kept from before", name);
	}
	pg_close(conn);
	database_place_finish(&p);
out:
	free(what);
	free(name);
	return code;
}

int cmd_db_drop(struct cmd_ctx *ctx, const char *cmd, const char *slug)
{
	struct db_place p;
	struct pg_conn *conn = NULL;
	char *name = database_name(&ctx->config, slug), *what, *cause = NULL, *pgdir;
	int code = 0, r;

	if (!ctx->config.database.enabled)
		goto out_name;
	pgdir = dbserver_dir(ctx->berth_dir);
	if (!ctx->config.database.url && !path_is_dir(pgdir)) {
		free(pgdir);
		goto out_name; /* berth's server never ran: no database to drop */
	}
	free(pgdir);
	code = cmd_db_server(ctx, cmd, -1);
	if (code)
		goto out_name;
	what = xasprintf("cannot drop the database '%s'", name);
	code = open_db(ctx, cmd, what, &p, &conn);
	if (code)
		goto out;
	r = database_drop(conn, &ctx->config, slug, &cause);
	if (r < 0) {
		code = db_failed(ctx, cmd, what, r, cause);
		free(cause);
	} else if (r > 0) {
		out_warn("%s", cause);
		free(cause);
	} else {
		out_step("dropped the database %s", name);
	}
	pg_close(conn);
	database_place_finish(&p);
out:
	free(what);
out_name:
	free(name);
	return code;
}

static char *size_text(uint64_t bytes)
{
	if (bytes >= 10ULL << 30)
		return xasprintf("%" PRIu64 " GB", bytes >> 30);
	if (bytes >= 10ULL << 20)
		return xasprintf("%" PRIu64 " MB", bytes >> 20);
	return xasprintf("%" PRIu64 " kB", bytes >> 10);
}

json_t *cmd_db_json(struct cmd_ctx *ctx, struct cmd_db_view *view, const char *slug, FILE *out)
{
	struct db_info info;
	char *name, *cause = NULL;
	json_t *o;

	if (!ctx->config.database.enabled)
		return NULL;
	if (!view->tried) {
		struct db_place p;

		view->tried = true;
		if (database_place(&ctx->config, ctx->berth_dir, &p, &view->error) == 0) {
			database_connect(&p, &view->conn, &view->error);
			database_place_finish(&p);
		}
	}
	name = database_name(&ctx->config, slug);
	o = json_object();
	json_object_set_new(o, "name", json_string(name));
	if (!view->conn) {
		json_object_set_new(o, "error", json_string(view->error));
		if (out)
			out_line(out, "  database: %s (cannot tell: %s)\n", name, view->error);
	} else if (database_info(view->conn, name, &info, &cause) < 0) {
		json_object_set_new(o, "error", json_string(cause));
		if (out)
			out_line(out, "  database: %s (cannot tell: %s)\n", name, cause);
	} else {
		json_object_set_new(o, "exists", json_boolean(info.exists));
		if (info.exists) {
			char *size = size_text(info.size);

			json_object_set_new(o, "size", json_integer((json_int_t)info.size));
			json_object_set_new(o, "connections", json_integer(info.connections));
			if (out)
				out_line(out, "  database: %s (%s, %u connection%s)\n", name, size,
					 info.connections, info.connections == 1 ? "" : "s");
			free(size);
		} else if (out) {
			out_line(out, "  database: %s (not there: `berth up %s` makes it)\n", name,
				 slug);
		}
	}
	free(cause);
	free(name);
	return o;
}

void cmd_db_view_finish(struct cmd_db_view *view)
{
	pg_close(view->conn);
	free(view->error);
	memset(view, 0, sizeof(*view));
}

int cmd_db_stop_server(struct cmd_ctx *ctx, const char *cmd, bool remove)
{
	struct dbserver_ctx x;
	char *root_id, *shim, *cause = NULL, *pgdir = dbserver_dir(ctx->berth_dir);
	int code = 0;

	if (!path_is_dir(pgdir)) {
		free(pgdir);
		return 0;
	}
	server_ctx(ctx, -1, &x, &root_id, &shim);
	if (dbserver_running(ctx->berth_dir))
		out_step("stopping berth's database server");
	if (dbserver_stop(&x, &cause) < 0) {
		out_error("%s: %s", cmd, cause);
		free(cause);
		code = EXIT_FAIL;
	} else if (remove && dbserver_remove(ctx->berth_dir, root_id) < 0) {
		out_error("%s: cannot remove '%s': %s", cmd, pgdir, strerror(errno));
		code = EXIT_FAIL;
	}
	free(root_id);
	free(shim);
	free(pgdir);
	return code;
}

/* ---- berth db ---- */

static int db_url(struct cmd_ctx *ctx, const char *arg)
{
	struct session s = {0};
	struct envmap m = {0};
	char *slug = NULL;
	int code = cmd_resolve_slug(ctx, arg, &slug);

	if (code)
		return code;
	code = cmd_get_session(ctx, slug, &s);
	if (code)
		goto out;
	database_session_env(&ctx->config, ctx->berth_dir, slug, &m);
	if (!envmap_get(&m, "DATABASE_URL")) {
		out_error("db url: session '%s' has no database yet (`berth up %s` makes it)", slug,
			  slug);
		code = EXIT_NOTFOUND;
		goto out;
	}
	out_line(stdout, "%s\n", envmap_get(&m, "DATABASE_URL"));
out:
	envmap_finish(&m);
	session_finish(&s);
	free(slug);
	return code;
}

static int db_status(struct cmd_ctx *ctx, bool json)
{
	struct session *v = NULL;
	size_t n = 0;
	struct db_place p;
	struct pg_conn *conn = NULL;
	char *cause = NULL, *server = server_text(ctx), *seed = database_seed_name(&ctx->config);
	json_t *doc = json_object(), *arr = json_array();
	struct table t;
	static const char *const header[] = {"SESSION", "DATABASE", "SIZE", "CONNECTIONS"};
	struct db_info seed_info = {0};
	bool reachable = false;
	int code = 0;

	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("db status: cannot read the state store: %s", state_errmsg(ctx->state));
		code = EXIT_FAIL;
		goto out;
	}
	if (database_place(&ctx->config, ctx->berth_dir, &p, &cause) == 0) {
		if (database_connect(&p, &conn, &cause) == 0)
			reachable = true;
		database_place_finish(&p);
	}
	json_object_set_new(doc, "server", json_string(server));
	json_object_set_new(doc, "managed", json_boolean(!ctx->config.database.url));
	if (!ctx->config.database.url)
		json_object_set_new(doc, "running", json_boolean(dbserver_running(ctx->berth_dir)));
	json_object_set_new(doc, "reachable", json_boolean(reachable));
	if (!reachable && cause)
		json_object_set_new(doc, "error", json_string(cause));
	if (ctx->config.database.source) {
		json_t *so = json_object();

		json_object_set_new(so, "source", json_string(ctx->config.database.source));
		json_object_set_new(so, "seed", json_string(seed));
		if (reachable && database_info(conn, seed, &seed_info, NULL) == 0) {
			json_object_set_new(so, "seed_exists", json_boolean(seed_info.exists));
			if (seed_info.exists)
				json_object_set_new(so, "seed_size",
						    json_integer((json_int_t)seed_info.size));
		}
		json_object_set_new(doc, "source", so);
	}
	if (!json) {
		out_line(stdout, "server: %s (%s)\n", server,
			 reachable ? "answers"
			 : cause   ? cause
				   : "does not answer");
		if (ctx->config.database.source)
			out_line(stdout, "source: %s; seed copy %s%s%s\n",
				 ctx->config.database.source, seed,
				 seed_info.exists ? "" : " (not made yet)", "");
		table_init(&t, header, 4);
	}
	for (size_t i = 0; i < n; i++) {
		char *name = database_name(&ctx->config, v[i].slug), *size = NULL, conns[16] = "-";
		struct db_info info = {0};
		json_t *o = json_object();

		json_object_set_new(o, "session", json_string(v[i].slug));
		json_object_set_new(o, "name", json_string(name));
		if (reachable && database_info(conn, name, &info, NULL) == 0) {
			json_object_set_new(o, "exists", json_boolean(info.exists));
			if (info.exists) {
				json_object_set_new(o, "size", json_integer((json_int_t)info.size));
				json_object_set_new(o, "connections",
						    json_integer(info.connections));
				size = size_text(info.size);
				snprintf(conns, sizeof(conns), "%u", info.connections);
			}
		}
		json_array_append_new(arr, o);
		if (!json)
			table_add(&t, v[i].slug, name,
				  size        ? size
				  : reachable ? "(none)"
					      : "?",
				  conns);
		free(size);
		free(name);
	}
	json_object_set_new(doc, "sessions", arr);
	arr = NULL;
	if (json) {
		out_json(doc);
		doc = NULL;
	} else {
		table_print(&t);
		table_finish(&t);
	}
	if (!reachable)
		code = EXIT_UNHEALTHY;
out:
	json_decref(doc);
	json_decref(arr);
	pg_close(conn);
	for (size_t i = 0; i < n; i++)
		session_finish(&v[i]);
	free(v);
	free(cause);
	free(seed);
	free(server);
	return code;
}

/* refresh (slug NULL) or reset slug: the seed again from the source, and
 * (reset) the session's database dropped and cloned again. */
static int db_renew(struct cmd_ctx *ctx, const char *cmd, const char *arg, bool reset)
{
	struct session s = {0};
	struct db_place p;
	struct pg_conn *conn = NULL;
	char *slug = NULL, *cause = NULL, *name = NULL;
	int code = 0, r;

	if (reset) {
		code = cmd_resolve_slug(ctx, arg, &slug);
		if (!code)
			code = cmd_own_session(ctx, slug, &s);
		if (code)
			goto out;
		name = database_name(&ctx->config, slug);
	} else if (!ctx->config.database.source) {
		out_error("%s: [database] has no source: sessions start with an empty database; "
			  "nothing to refresh",
			  cmd);
		return EXIT_CONFIG;
	}
	code = cmd_db_server(ctx, cmd, -1);
	if (code)
		goto out;
	code = open_db(ctx, cmd, reset ? "cannot reset the database" : "cannot refresh the seed",
		       &p, &conn);
	if (code)
		goto out;
	if (reset) {
		r = database_reset(conn, &ctx->config, &p, ctx->berth_dir, slug, say_step, NULL,
				   &cause);
	} else {
		out_step("copying '%s' into berth's seed copy", ctx->config.database.source);
		r = database_refresh_seed(conn, &ctx->config, &p, ctx->berth_dir, say_step, NULL,
					  &cause);
	}
	out_progress_end();
	if (r < 0) {
		code = db_failed(ctx, cmd, reset ? "cannot reset the database" : "cannot refresh",
				 r == -ENOENT ? -EINVAL : r, cause);
		free(cause);
	} else if (reset) {
		out_line(stdout, "database %s of session '%s' is %s\n", name, slug,
			 ctx->config.database.source ? "a fresh clone of the source"
						     : "empty again");
		session_event(ctx->state, slug, "db-reset", "%s", name);
	} else {
		out_line(stdout,
			 "the seed copy of '%s' is fresh; new sessions and `berth db reset` "
			 "clone it\n",
			 ctx->config.database.source);
	}
	pg_close(conn);
	database_place_finish(&p);
out:
	session_finish(&s);
	free(name);
	free(slug);
	return code;
}

static int cmd_db_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool json = cmdopt_has(ctx->args, "json");
	const char *sub;
	int next = 1;

	if (argc < 2)
		return cmd_usage_error(&cmd_db_entry,
				       "name what to do: status, url, reset or refresh");
	sub = argv[next++];
	if (argc - next > 1)
		return cmd_usage_error(&cmd_db_entry, "unexpected argument '%s'", argv[next + 1]);
	if (!ctx->config.database.enabled) {
		out_error(
			"db: %s has no [database] section; add one (docs/config.md) to give every "
			"session its own database",
			CONFIG_FILE);
		return EXIT_CONFIG;
	}
	if (json && strcmp(sub, "status"))
		return cmd_usage_error(&cmd_db_entry, "--json goes with `db status`");
	if (!strcmp(sub, "status")) {
		if (next < argc)
			return cmd_usage_error(&cmd_db_entry, "db status takes no argument");
		return db_status(ctx, json);
	}
	if (!strcmp(sub, "url"))
		return db_url(ctx, next < argc ? argv[next] : NULL);
	if (!strcmp(sub, "reset"))
		return db_renew(ctx, "db reset", next < argc ? argv[next] : NULL, true);
	if (!strcmp(sub, "refresh")) {
		if (next < argc)
			return cmd_usage_error(&cmd_db_entry, "db refresh takes no argument");
		return db_renew(ctx, "db refresh", NULL, false);
	}
	return cmd_usage_error(&cmd_db_entry,
			       "unknown subcommand '%s' (status, url, reset, refresh)", sub);
}

const struct cmd_entry cmd_db_entry = {
	.name = "db",
	.args = "status|url|reset|refresh [<slug>]",
	.complete = COMPLETE_WORDS,
	.opts =
		(const struct cmd_opt[]){
			{"json", 0, NULL, "status as JSON (docs/json.md)", COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "the sessions' databases ([database]): status, URL, reset, refresh",
	.help = "status    the server, the source and its seed copy, each session's database\n"
		"          (size, connections); exit 6 when the server does not answer\n"
		"url       the session's DATABASE_URL\n"
		"reset     give the session a fresh clone of the source as it is now (its own\n"
		"          connections are ended; other sessions are not touched)\n"
		"refresh   copy the source again into berth's seed copy, which new sessions\n"
		"          and reset clone\n",
	.flags = CMD_CONFIG | CMD_STATE,
	.owner = OWNER_IDLE,
	.exec = cmd_db_exec,
};
