/*
 * cmd_logs.c: `berth logs`: the last lines of a session's service logs, each
 * line prefixed with its service's name; -f follows them across rotation
 * (the old file is read to its end before the new one is opened) and
 * restarts (a restarted service appends to the same file), woken by inotify.
 * A docker service's log is its container's output (`docker logs`); -f
 * follows it with `docker logs --follow`, which ends when the container
 * stops, and across restarts through the project's container starts
 * (`docker events`): a container that starts again is followed from the
 * time of the last line shown (docker's own timestamps: a new run's first
 * lines may be logged before docker reports its start).
 *
 * What is shown is the text the output shows (util/ansi: escape sequences,
 * \r-redrawn lines and screen clears taken out; colours kept on a terminal
 * that takes them), or with --raw the bytes as the log has them. With
 * --json, one document of the lines shown; with -f, one object per line.
 * A name with no session whose log directory a rolled-back `up` left shows
 * those logs, said to be such.
 */
#include "util/common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "docker/docker.h"
#include "store/slug.h"
#include "util/ansi.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/printable.h"
#include "util/timeutil.h"
#include "watch/activity.h"

/* How the lines are shown. */
struct logs_view {
	const char *slug;
	size_t width; /* of the service names */
	bool raw;     /* the bytes as logged */
	bool json;    /* a document (or with follow, a JSON object per line) */
	bool follow;
	bool keep_sgr; /* colours kept: a terminal that takes them */
};

struct follow {
	const char *name;
	char *path; /* a native service's log file; NULL for a docker service */
	int fd;
	struct strbuf partial;   /* a line not yet ended (cleaned, unless raw) */
	struct ansi_filter ansi; /* unless raw: the text of the bytes read */
	json_t *lines;           /* --json without -f: the lines shown */
	/* a docker service: `docker logs --follow` of its container; partial
	 * holds what it wrote, each line with its time */
	bool docker;
	struct docker_stream st;
	uint64_t begin_ns; /* when following began */
	uint64_t shown_ns; /* the time of the last line shown; 0: none */
	uint64_t skip_ns;  /* lines up to this time were shown already */
	char *next_id;     /* a container that started while st still ran */
};

/* -f of docker services: the project's container starts, one line each
 * ("<service>\t<id>", docker_starts_stream). */
struct docker_follow {
	struct docker *d;
	struct docker_stream starts;
	struct strbuf lines; /* what starts wrote, a line not yet ended */
};

/* One line of f's (without its newline), as the view shows it. */
static void show_line(struct follow *f, const struct logs_view *vw, const char *line, size_t len)
{
	if (vw->json) {
		struct strbuf sb = STRBUF_INIT;
		json_t *text, *o;
		char *out;

		/* JSON strings are Unicode: a byte that is not UTF-8 is U+FFFD */
		strbuf_add_utf8(&sb, line, len);
		text = json_stringn(strbuf_str(&sb), sb.len);
		strbuf_release(&sb);
		if (!vw->follow) {
			json_array_append_new(f->lines, text);
			return;
		}
		o = json_pack("{s:s, s:s, s:o}", "slug", vw->slug, "service", f->name, "line",
			      text);
		out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		puts(out);
		free(out);
		return;
	}
	printf("%-*s | ", (int)vw->width, f->name);
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
}

/* Bytes of f's log: each line they end is shown. */
static void emit(struct follow *f, const struct logs_view *vw, const char *data, size_t len)
{
	size_t start = 0;
	const char *nl;

	if (vw->raw)
		strbuf_add(&f->partial, data, len);
	else
		ansi_filter_feed(&f->ansi, data, len, &f->partial);
	while (start < f->partial.len &&
	       (nl = memchr(f->partial.buf + start, '\n', f->partial.len - start))) {
		size_t end = (size_t)(nl - f->partial.buf);

		show_line(f, vw, f->partial.buf + start, end - start);
		start = end + 1;
	}
	if (start) {
		memmove(f->partial.buf, f->partial.buf + start, f->partial.len - start);
		f->partial.len -= start;
		f->partial.buf[f->partial.len] = '\0';
	}
}

/* The end of what is shown of f: a last line without newline ends there. */
static void flush_partial(struct follow *f, const struct logs_view *vw)
{
	if (!vw->raw)
		ansi_filter_flush(&f->ansi, &f->partial);
	if (!f->partial.len)
		return;
	show_line(f, vw, f->partial.buf, f->partial.len);
	strbuf_reset(&f->partial);
}

/* Read f's file from where we are to its end. */
static void drain(struct follow *f, const struct logs_view *vw)
{
	char buf[65536];
	ssize_t n;

	if (f->fd < 0)
		return;
	while ((n = read(f->fd, buf, sizeof(buf))) > 0)
		emit(f, vw, buf, (size_t)n);
	fflush(stdout);
}

/* The file at f->path is a new one (created, or rotated in): finish the old. */
static void reopen(struct follow *f, const struct logs_view *vw)
{
	drain(f, vw);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
}

/* Follow docker service f's container id: its last tail lines, or (tail
 * -1) what it wrote after what was shown of f, then its output until it
 * stops. */
static void docker_follow_start(struct docker_follow *df, struct follow *f, const char *id,
				long tail)
{
	uint64_t since = tail >= 0 ? 0 : f->shown_ns ? f->shown_ns : f->begin_ns;
	char *cause = NULL;

	/* --since includes its own time: the last line shown comes again */
	f->skip_ns = tail >= 0 ? 0 : f->shown_ns;
	if (docker_logs_stream(df->d, id, tail, since, true, &f->st, &cause) < 0) {
		out_warn("logs: cannot follow docker service '%s': %s", f->name, cause);
		free(cause);
	}
}

/* One line of f's `docker logs --timestamps`, without its newline. */
static void docker_line(struct follow *f, const struct logs_view *vw, const char *line)
{
	struct strbuf clean = STRBUF_INIT;
	const char *text = line;
	uint64_t ns;

	if (docker_log_line(line, &ns, &text) == 0) {
		if (ns <= f->skip_ns)
			return;
		if (ns > f->shown_ns)
			f->shown_ns = ns;
	}
	if (vw->raw) {
		show_line(f, vw, text, strlen(text));
		return;
	}
	ansi_strip(text, strlen(text), vw->keep_sgr, &clean);
	show_line(f, vw, strbuf_str(&clean), clean.len);
	strbuf_release(&clean);
}

/* f's `docker logs --follow` is readable: its container's output, or its
 * end (the container stopped): a start seen meanwhile is followed now. */
static void docker_follow_read(struct docker_follow *df, struct follow *f,
			       const struct logs_view *vw)
{
	bool more = docker_stream_read(&f->st, &f->partial);
	char *nl;

	while (f->partial.len && (nl = memchr(f->partial.buf, '\n', f->partial.len))) {
		size_t len = (size_t)(nl - f->partial.buf) + 1;

		*nl = '\0';
		docker_line(f, vw, f->partial.buf);
		memmove(f->partial.buf, f->partial.buf + len, f->partial.len - len);
		f->partial.len -= len;
	}
	if (more)
		return;
	if (f->partial.len) {
		/* a last line without newline */
		strbuf_addch(&f->partial, '\0');
		docker_line(f, vw, f->partial.buf);
		strbuf_reset(&f->partial);
	}
	docker_stream_close(&f->st);
	if (f->next_id) {
		docker_follow_start(df, f, f->next_id, -1);
		free(f->next_id);
		f->next_id = NULL;
	}
}

/* A container of the project started: "<service>\t<id>". Its stream
 * starts now, or once the one of its previous run ended. */
static void docker_started(struct docker_follow *df, struct follow *v, size_t n, char *line)
{
	char *id = strchr(line, '\t');

	if (!id)
		return;
	*id++ = '\0';
	for (size_t i = 0; i < n; i++) {
		struct follow *f = &v[i];

		if (!f->docker || strcmp(f->name, line))
			continue;
		if (f->st.fd < 0) {
			docker_follow_start(df, f, id, -1);
		} else {
			free(f->next_id);
			f->next_id = xstrdup(id);
		}
	}
}

static void docker_starts_read(struct docker_follow *df, struct follow *v, size_t n)
{
	char *nl;

	if (!docker_stream_read(&df->starts, &df->lines)) {
		docker_stream_close(&df->starts);
		out_warn("logs: `docker events` ended: a docker service that starts again is not "
			 "followed");
	}
	while (df->lines.len && (nl = memchr(df->lines.buf, '\n', df->lines.len))) {
		size_t len = (size_t)(nl - df->lines.buf) + 1;
		char *line = xstrndup(df->lines.buf, len - 1);

		docker_started(df, v, n, line);
		free(line);
		memmove(df->lines.buf, df->lines.buf + len, df->lines.len - len);
		df->lines.len -= len;
	}
}

static void inotify_read(int ino, struct follow *v, size_t n, const struct logs_view *vw)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	while ((len = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			for (size_t i = 0; ev->len && i < n; i++) {
				const char *base;

				if (!v[i].path)
					continue;
				base = strrchr(v[i].path, '/') + 1;
				if (strcmp(ev->name, base))
					continue;
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					reopen(&v[i], vw);
				else
					drain(&v[i], vw);
			}
		}
	}
}

static int follow_loop(const char *dir, struct follow *v, size_t n, const struct logs_view *vw,
		       struct docker_follow *df)
{
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	struct pollfd *p = xcalloc(n + 2, sizeof(*p));

	if (ino < 0 || inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		out_error("logs: cannot watch '%s': %s", dir, strerror(errno));
		if (ino >= 0)
			close(ino);
		free(p);
		return EXIT_FAIL;
	}
	/* What was written between the tail and the watch. */
	for (size_t i = 0; i < n; i++)
		drain(&v[i], vw);
	for (;;) {
		nfds_t np = 0;

		p[np++] = (struct pollfd){.fd = ino, .events = POLLIN};
		p[np++] = (struct pollfd){.fd = df ? df->starts.fd : -1, .events = POLLIN};
		for (size_t i = 0; i < n; i++)
			p[np++] = (struct pollfd){.fd = v[i].st.fd, .events = POLLIN};
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			inotify_read(ino, v, n, vw);
		for (size_t i = 0; i < n; i++)
			if (p[2 + i].revents)
				docker_follow_read(df, &v[i], vw);
		/* after the streams: a container's start is handled once the
		 * end of its previous run was read */
		if (p[1].revents)
			docker_starts_read(df, v, n);
		fflush(stdout);
	}
	close(ino);
	free(p);
	return EXIT_OK;
}

/* The session named (or the one here). A name with no session but the log
 * directory a rolled-back `up` left (*ret_rolled_back): those logs, with
 * only ret's slug set. */
static int logs_session(struct cmd_ctx *ctx, int argc, char **argv, bool follow,
			struct session *ret, int *ret_first, bool *ret_rolled_back)
{
	const char *arg = argc > 1 && !config_service(&ctx->config, argv[1]) ? argv[1] : NULL;
	char *cause = NULL;

	*ret_rolled_back = false;
	/* -f follows a session; the logs of an attempt gone have nothing to follow */
	if (!follow && arg && slug_check(arg, &cause) == 0) {
		struct session probe = {0};
		struct strvec logged = STRVEC_INIT;
		int r = state_session_get(ctx->state, arg, &probe);

		session_finish(&probe);
		if (r == -ENOENT)
			services_logged(ctx->berth_dir, arg, &logged);
		if (logged.n) {
			strvec_clear(&logged);
			ret->slug = xstrdup(arg);
			*ret_first = 2;
			*ret_rolled_back = true;
			return 0;
		}
	}
	free(cause);
	return cmd_session_then_services(ctx, argc, argv, 1, ret, ret_first);
}

/* --json without -f: {"slug", "raw", "rolled_back", "services": [{"name",
 * "run", "log", "lines"}]} (docs/json.md). */
static void print_json(const struct logs_view *vw, bool rolled_back, struct follow *v, size_t n)
{
	json_t *services = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(services,
				      json_pack("{s:s, s:s, s:o, s:O}", "name", v[i].name, "run",
						v[i].docker ? "docker" : "native", "log",
						v[i].path ? json_string(v[i].path) : json_null(),
						"lines", v[i].lines));
	out_json(json_pack("{s:s, s:b, s:b, s:o}", "slug", vw->slug, "raw", vw->raw, "rolled_back",
			   rolled_back, "services", services));
}

static int cmd_logs_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *lines_arg = cmdopt_value(ctx->args, "lines");
	struct strvec names = STRVEC_INIT;
	struct session s = {0};
	struct follow *v = NULL;
	struct docker d = {0};
	struct docker_follow df = {.d = &d, .starts = DOCKER_STREAM_INIT};
	struct container *cs = NULL;
	struct logs_view vw = {
		.raw = cmdopt_has(ctx->args, "raw"),
		.json = cmdopt_has(ctx->args, "json"),
		.follow = cmdopt_has(ctx->args, "follow"),
	};
	bool follow = vw.follow, have_docker = false, rolled_back = false;
	uint64_t lines = 10, t0 = 0;
	char *dir = NULL, *project = NULL, *cause = NULL;
	size_t n = 0, nc = 0;
	int code, first;

	if (lines_arg && parse_u64(lines_arg, 0, 100000, &lines) < 0)
		return cmd_usage_error(&cmd_logs_entry, "-n: '%s' is not a number of lines",
				       lines_arg);
	/* colours only where they show (a terminal, not NO_COLOR), and as text */
	vw.keep_sgr = !vw.raw && !vw.json && out_colour(STDOUT_FILENO);
	code = logs_session(ctx, argc, argv, follow, &s, &first, &rolled_back);
	if (code)
		goto out;
	vw.slug = s.slug;
	if (rolled_back)
		out_warn("logs: no session '%s': these are the logs its last `up` left when it "
			 "failed and was rolled back (the next `berth up %s` starts them anew)",
			 s.slug, s.slug);
	else
		activity_touch(ctx->berth_dir, s.slug);
	for (int i = first; i < argc; i++) {
		const struct service_config *cfg = config_service(&ctx->config, argv[i]);
		char *path = services_log_path(ctx->berth_dir, s.slug, argv[i]);

		have_docker |= !rolled_back && cfg && cfg->run == RUN_DOCKER;
		if ((!cfg || rolled_back) && access(path, F_OK) < 0) {
			out_error("logs: session '%s' has no service '%s'%s", s.slug, argv[i],
				  rolled_back ? " in the logs of its rolled-back `up`" : "");
			free(path);
			code = EXIT_NOTFOUND;
			goto out;
		}
		free(path);
		strvec_push(&names, argv[i]);
	}
	if (!names.n && rolled_back)
		services_logged(ctx->berth_dir, s.slug, &names);
	else if (!names.n)
		cmd_service_names(ctx, s.slug, &names);
	if (have_docker) {
		/* Docker services named: their containers in the session's
		 * project. Starts are followed from before the listing, so that
		 * none is missed between the two. */
		project = cmd_docker_project(ctx, s.slug);
		t0 = (uint64_t)time_wall_ms() * 1000000u;
		if (cmd_docker_init(ctx, &d, environ, &cause) < 0 ||
		    (follow && docker_starts_stream(&d, project, t0, &df.starts, &cause) < 0) ||
		    docker_project_containers(&d, project, &cs, &nc, &cause) < 0) {
			out_error("logs: %s", cause);
			code = EXIT_FAIL;
			goto out;
		}
	}
	v = xcalloc(names.n ? names.n : 1, sizeof(*v));
	for (size_t i = 0; i < names.n; i++)
		vw.width = strlen(names.v[i]) > vw.width ? strlen(names.v[i]) : vw.width;
	for (size_t i = 0; i < names.n; i++) {
		const struct service_config *cfg = config_service(&ctx->config, names.v[i]);
		struct follow *f = &v[n++];
		struct strbuf tail = STRBUF_INIT;

		f->name = names.v[i];
		f->fd = -1;
		f->st = (struct docker_stream)DOCKER_STREAM_INIT;
		strbuf_init(&f->partial);
		ansi_filter_init(&f->ansi, vw.keep_sgr);
		f->lines = json_array();
		if (!rolled_back && cfg && cfg->run == RUN_DOCKER) {
			const struct container *ct = NULL;

			f->docker = true;
			f->begin_ns = t0;
			for (size_t j = 0; j < nc; j++)
				if (!strcmp(cs[j].service, f->name))
					ct = &cs[j];
			if (!ct) {
				out_warn("logs: docker service '%s' has no container in project "
					 "%s%s",
					 f->name, project, follow ? " yet" : "");
				continue;
			}
			if (follow) {
				/* its tail comes through the stream */
				docker_follow_start(&df, f, ct->id, (long)lines);
				continue;
			}
			docker_logs_tail(&d, ct->id, (unsigned)lines, &tail);
		} else {
			f->path = services_log_path(ctx->berth_dir, s.slug, names.v[i]);
			f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
			if (f->fd < 0)
				continue;
			services_log_tail(f->path, (unsigned)lines, &tail);
			lseek(f->fd, 0, SEEK_END);
		}
		emit(f, &vw, tail.buf ? tail.buf : "", tail.len);
		strbuf_release(&tail);
		/* a last line without newline: show it, keep following after it */
		flush_partial(f, &vw);
	}
	if (vw.json && !follow)
		print_json(&vw, rolled_back, v, n);
	fflush(stdout);
	if (follow) {
		dir = services_log_dir(ctx->berth_dir, s.slug);
		mkdir_p(dir, 0755);
		state_close(ctx->state);
		ctx->state = NULL;
		code = follow_loop(dir, v, n, &vw, have_docker ? &df : NULL);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		docker_stream_close(&v[i].st);
		free(v[i].path);
		free(v[i].next_id);
		strbuf_release(&v[i].partial);
		ansi_filter_finish(&v[i].ansi);
		json_decref(v[i].lines);
	}
	docker_stream_close(&df.starts);
	strbuf_release(&df.lines);
	containers_free(cs, nc);
	docker_finish(&d);
	free(v);
	free(dir);
	free(project);
	free(cause);
	strvec_clear(&names);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_logs_entry = {
	.name = "logs",
	.args = "[<slug>] [service...]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"lines", 'n', "N", "the last N lines of each log (default 10)",
			 COMPLETE_NONE, NULL},
			{"follow", 'f', NULL,
			 "then follow them, across rotation and restarts (Ctrl-C ends)",
			 COMPLETE_NONE, NULL},
			{"raw", 0, NULL,
			 "the bytes as logged: escape sequences and \\r-redrawn lines kept",
			 COMPLETE_NONE, NULL},
			{"json", 0, NULL,
			 "the lines shown as one JSON document (with -f: one object per line)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "the services' logs, each line prefixed with its service",
	.help = "Logs are in .berth/logs/<slug>/<service>.log (rotated: .1, .2...). A docker\n"
		"service named shows its container's output (docker logs); -f follows it\n"
		"across restarts of the container. Lines show as text: escape sequences\n"
		"(colours, cursor moves, screen clears) go, a line redrawn with \\r shows its\n"
		"last state; colours stay on a terminal (not with NO_COLOR). --raw shows the\n"
		"bytes as logged. A name whose `up` failed and was rolled back shows the logs\n"
		"it left, until the next `up` of that name.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_logs_exec,
};
