/*
 * cmd_events.c: `berth events`: the event log. Two sources, merged by time:
 * the events table of the state store (what berth commands did: up, down,
 * hooks, restarts) and each live session's journal, appended by its shims
 * (every start, death with its status, restart, stop). A session's journal
 * is moved into the store when the session goes (cmd_ingest_journal). -f
 * follows both, woken by inotify.
 */
#include "util/common.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

struct journal_pos {
	char *slug;
	uint64_t off;
};

struct events_ctx {
	struct cmd_ctx *ctx;
	bool json;
	const char *only; /* a slug, or NULL */
	int64_t last_id;
	struct journal_pos *pos;
	size_t n_pos, pos_alloc;
};

static int cmp_ts(const void *a, const void *b)
{
	const struct event_rec *x = a, *y = b;

	if (x->ts_ms != y->ts_ms)
		return (x->ts_ms > y->ts_ms) - (x->ts_ms < y->ts_ms);
	return (x->id > y->id) - (x->id < y->id);
}

static uint64_t *journal_off(struct events_ctx *e, const char *slug)
{
	for (size_t i = 0; i < e->n_pos; i++)
		if (!strcmp(e->pos[i].slug, slug))
			return &e->pos[i].off;
	XGROW(e->pos, e->pos_alloc, e->n_pos + 1);
	e->pos[e->n_pos] = (struct journal_pos){.slug = xstrdup(slug)};
	return &e->pos[e->n_pos++].off;
}

/* New events of both sources since the last call, sorted by time. */
static void collect(struct events_ctx *e, struct event_rec **ret, size_t *ret_n)
{
	struct event_rec *v = NULL, *db = NULL;
	size_t n = 0, alloc = 0, n_db = 0;
	char *run = path_join(e->ctx->berth_dir, "run");
	DIR *d;

	if (state_events_list(e->ctx->state, e->last_id, 0, &db, &n_db) == 0) {
		for (size_t i = 0; i < n_db; i++) {
			if (db[i].id > e->last_id)
				e->last_id = db[i].id;
			if (e->only && (!db[i].slug || strcmp(db[i].slug, e->only))) {
				free(db[i].slug);
				free(db[i].service);
				free(db[i].kind);
				free(db[i].detail);
				continue;
			}
			XGROW(v, alloc, n + 1);
			v[n++] = db[i];
		}
		free(db);
	}
	d = opendir(run);
	if (d) {
		struct dirent *de;

		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || (e->only && strcmp(de->d_name, e->only)))
				continue;
			services_journal_read(e->ctx->berth_dir, de->d_name,
					      journal_off(e, de->d_name), &v, &n, &alloc);
		}
		closedir(d);
	}
	free(run);
	if (n)
		qsort(v, n, sizeof(*v), cmp_ts);
	*ret = v;
	*ret_n = n;
}

static void print_event(const struct events_ctx *e, const struct event_rec *ev, json_t *arr)
{
	char when[64];
	time_t secs = (time_t)(ev->ts_ms / 1000);
	struct tm tm;

	localtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (e->json) {
		json_t *o = out_event_json(ev);

		if (arr) {
			json_array_append_new(arr, o);
		} else {
			/* -f --json: one JSON object per line */
			char *line = json_dumps(o, JSON_COMPACT);

			printf("%s\n", line);
			free(line);
			json_decref(o);
		}
		return;
	}
	out_line(stdout, "%s.%03d  %-12s %-10s %-12s %s\n", when, (int)(ev->ts_ms % 1000),
		 ev->slug ? ev->slug : "-", ev->service ? ev->service : "-", ev->kind,
		 ev->detail ? ev->detail : "");
}

/* What the store's file and WAL look like (zeros for a missing one): a copy
 * read from them is out of date once this changes. */
struct store_stamp {
	struct timespec mtim[2];
	off_t size[2];
	ino_t ino[2];
};

static void store_stamp(const char *berth_dir, struct store_stamp *ret)
{
	static const char *const names[] = {"state.db", "state.db-wal"};

	memset(ret, 0, sizeof(*ret));
	for (int i = 0; i < 2; i++) {
		char *path = path_join(berth_dir, names[i]);
		struct stat sb;

		if (lstat(path, &sb) == 0) {
			ret->mtim[i] = sb.st_mtim;
			ret->size[i] = sb.st_size;
			ret->ino[i] = sb.st_ino;
		}
		free(path);
	}
}

static int follow(struct events_ctx *e)
{
	struct store_stamp read_at, now;
	int ino = inotify_init1(IN_CLOEXEC), code = EXIT_OK;
	char *run = path_join(e->ctx->berth_dir, "run");
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (ino < 0)
		goto out;
	mkdir_p(run, 0755);
	/* the store's WAL (written; and closed by a writer, once its last
	 * commit shows: a reader woken by the write may look too early), new
	 * session dirs, and each journal */
	inotify_add_watch(ino, e->ctx->berth_dir, IN_MODIFY | IN_CLOSE_WRITE);
	inotify_add_watch(ino, run, IN_CREATE);
	/* a copy was read before this, when the store looked unknown: no file
	 * stamps as zeros, any file (since made or changed) otherwise */
	memset(&read_at, 0, sizeof(read_at));
	for (;;) {
		struct event_rec *v;
		size_t n;
		DIR *d = opendir(run);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			char *dir;

			if (de->d_name[0] == '.')
				continue;
			dir = path_join(run, de->d_name);
			inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE);
			free(dir);
		}
		if (d)
			closedir(d);
		store_stamp(e->ctx->berth_dir, &now);
		if (state_is_copy(e->ctx->state) && memcmp(&now, &read_at, sizeof(now))) {
			/* no store yet, or an older one read through a copy: a
			 * copy never changes, read the store as it is now */
			read_at = now;
			state_close(e->ctx->state);
			e->ctx->state = NULL;
			code = cmd_open_state(e->ctx);
			if (code)
				break;
		}
		collect(e, &v, &n);
		for (size_t i = 0; i < n; i++)
			print_event(e, &v[i], NULL);
		fflush(stdout);
		events_free(v, n);
		if (read(ino, buf, sizeof(buf)) <= 0 && errno != EINTR)
			break;
	}
	close(ino);
out:
	free(run);
	return code;
}

static int cmd_events_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct events_ctx e = {.ctx = ctx, .json = cmdopt_has(ctx->args, "json")};
	struct event_rec *v = NULL;
	bool follow_on = cmdopt_has(ctx->args, "follow");
	int code = EXIT_OK;
	size_t n = 0;

	if (argc > 2)
		return cmd_usage_error(&cmd_events_entry, "unexpected argument '%s'", argv[2]);
	if (argc > 1)
		e.only = argv[1];
	collect(&e, &v, &n);
	if (e.json && !follow_on) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			print_event(&e, &v[i], arr);
		out_json(arr);
	} else {
		for (size_t i = 0; i < n; i++)
			print_event(&e, &v[i], NULL);
		fflush(stdout);
	}
	events_free(v, n);
	if (follow_on)
		code = follow(&e);
	for (size_t i = 0; i < e.n_pos; i++)
		free(e.pos[i].slug);
	free(e.pos);
	return code;
}

const struct cmd_entry cmd_events_entry = {
	.name = "events",
	.args = "[<slug>]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"follow", 'f', NULL, "then print new events as they come (Ctrl-C ends)",
			 COMPLETE_NONE, NULL},
			{"json", 0, NULL, "a JSON array (with -f: one JSON object per line)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "the event log: starts, deaths with status, restarts, stops, hooks",
	.help = "Events of berth's commands (up, down, hooks, restart) and of the services'\n"
		"supervisors (started, running, exited with status N, restarting, stopping,\n"
		"stopped, failed, ready), oldest first.\n",
	.flags = CMD_STATE | CMD_STATE_RO,
	.exec = cmd_events_exec,
};
