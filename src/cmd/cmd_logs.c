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
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/timeutil.h"
#include "watch/activity.h"

struct follow {
	const char *name;
	char *path; /* a native service's log file; NULL for a docker service */
	int fd;
	struct strbuf partial; /* a line not yet ended */
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

static void emit(struct follow *f, size_t width, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		strbuf_addch(&f->partial, data[i]);
		if (data[i] == '\n') {
			printf("%-*s | ", (int)width, f->name);
			fwrite(f->partial.buf, 1, f->partial.len, stdout);
			strbuf_reset(&f->partial);
		}
	}
}

/* The end of what is shown of f: a last line without newline ends there. */
static void flush_partial(struct follow *f, size_t width)
{
	if (!f->partial.len)
		return;
	printf("%-*s | %.*s\n", (int)width, f->name, (int)f->partial.len, f->partial.buf);
	strbuf_reset(&f->partial);
}

/* Read f's file from where we are to its end. */
static void drain(struct follow *f, size_t width)
{
	char buf[65536];
	ssize_t n;

	if (f->fd < 0)
		return;
	while ((n = read(f->fd, buf, sizeof(buf))) > 0)
		emit(f, width, buf, (size_t)n);
	fflush(stdout);
}

/* The file at f->path is a new one (created, or rotated in): finish the old. */
static void reopen(struct follow *f, size_t width)
{
	drain(f, width);
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
static void docker_line(struct follow *f, size_t width, const char *line)
{
	const char *text = line;
	uint64_t ns;

	if (docker_log_line(line, &ns, &text) == 0) {
		if (ns <= f->skip_ns)
			return;
		if (ns > f->shown_ns)
			f->shown_ns = ns;
	}
	printf("%-*s | %s\n", (int)width, f->name, text);
}

/* f's `docker logs --follow` is readable: its container's output, or its
 * end (the container stopped): a start seen meanwhile is followed now. */
static void docker_follow_read(struct docker_follow *df, struct follow *f, size_t width)
{
	bool more = docker_stream_read(&f->st, &f->partial);
	char *nl;

	while (f->partial.len && (nl = memchr(f->partial.buf, '\n', f->partial.len))) {
		size_t len = (size_t)(nl - f->partial.buf) + 1;

		*nl = '\0';
		docker_line(f, width, f->partial.buf);
		memmove(f->partial.buf, f->partial.buf + len, f->partial.len - len);
		f->partial.len -= len;
	}
	if (more)
		return;
	if (f->partial.len) {
		/* a last line without newline */
		strbuf_addch(&f->partial, '\0');
		docker_line(f, width, f->partial.buf);
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

static void inotify_read(int ino, struct follow *v, size_t n, size_t width)
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
					reopen(&v[i], width);
				else
					drain(&v[i], width);
			}
		}
	}
}

static int follow_loop(const char *dir, struct follow *v, size_t n, size_t width,
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
		drain(&v[i], width);
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
			inotify_read(ino, v, n, width);
		for (size_t i = 0; i < n; i++)
			if (p[2 + i].revents)
				docker_follow_read(df, &v[i], width);
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

static int cmd_logs_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const char *lines_arg = cmdopt_value(ctx->args, "lines");
	struct strvec names = STRVEC_INIT;
	struct session s = {0};
	struct follow *v = NULL;
	struct docker d = {0};
	struct docker_follow df = {.d = &d, .starts = DOCKER_STREAM_INIT};
	struct container *cs = NULL;
	bool follow = cmdopt_has(ctx->args, "follow"), have_docker = false;
	uint64_t lines = 10, t0 = 0;
	char *dir = NULL, *project = NULL, *cause = NULL;
	size_t width = 0, n = 0, nc = 0;
	int code, first;

	if (lines_arg && parse_u64(lines_arg, 0, 100000, &lines) < 0)
		return cmd_usage_error(&cmd_logs_entry, "-n: '%s' is not a number of lines",
				       lines_arg);
	code = cmd_session_then_services(ctx, argc, argv, 1, &s, &first);
	if (code)
		goto out;
	activity_touch(ctx->berth_dir, s.slug);
	for (int i = first; i < argc; i++) {
		const struct service_config *cfg = config_service(&ctx->config, argv[i]);
		char *path = services_log_path(ctx->berth_dir, s.slug, argv[i]);

		have_docker |= cfg && cfg->run == RUN_DOCKER;
		if (!cfg && access(path, F_OK) < 0) {
			out_error("logs: session '%s' has no service '%s'", s.slug, argv[i]);
			free(path);
			code = EXIT_NOTFOUND;
			goto out;
		}
		free(path);
		strvec_push(&names, argv[i]);
	}
	if (!names.n)
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
		width = strlen(names.v[i]) > width ? strlen(names.v[i]) : width;
	for (size_t i = 0; i < names.n; i++) {
		const struct service_config *cfg = config_service(&ctx->config, names.v[i]);
		struct follow *f = &v[n++];
		struct strbuf tail = STRBUF_INIT;

		f->name = names.v[i];
		f->fd = -1;
		f->st = (struct docker_stream)DOCKER_STREAM_INIT;
		strbuf_init(&f->partial);
		if (cfg && cfg->run == RUN_DOCKER) {
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
		emit(f, width, tail.buf ? tail.buf : "", tail.len);
		strbuf_release(&tail);
		/* a last line without newline: show it, keep following after it */
		flush_partial(f, width);
	}
	fflush(stdout);
	if (follow) {
		dir = services_log_dir(ctx->berth_dir, s.slug);
		mkdir_p(dir, 0755);
		state_close(ctx->state);
		ctx->state = NULL;
		code = follow_loop(dir, v, n, width, have_docker ? &df : NULL);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		docker_stream_close(&v[i].st);
		free(v[i].path);
		free(v[i].next_id);
		strbuf_release(&v[i].partial);
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
			{0},
		},
	.summary = "the services' logs, each line prefixed with its service",
	.help = "Logs are in .berth/logs/<slug>/<service>.log (rotated: .1, .2...). A docker\n"
		"service named shows its container's output (docker logs); -f follows it\n"
		"across restarts of the container.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_logs_exec,
};
