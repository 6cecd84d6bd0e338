/*
 * cmd_logs.c: `berth logs`: the last lines of a session's service logs, each
 * line prefixed with its service's name; -f follows them across rotation
 * (the old file is read to its end before the new one is opened) and
 * restarts (a restarted service appends to the same file), woken by inotify.
 */
#include "util/common.h"

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "watch/activity.h"

struct follow {
	const char *name;
	char *path;
	int fd;
	struct strbuf partial; /* a line not yet ended */
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

static int follow_loop(const char *dir, struct follow *v, size_t n, size_t width)
{
	int ino = inotify_init1(IN_CLOEXEC);
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (ino < 0 || inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
		out_error("logs: cannot watch '%s': %s", dir, strerror(errno));
		if (ino >= 0)
			close(ino);
		return EXIT_FAIL;
	}
	/* What was written between the tail and the watch. */
	for (size_t i = 0; i < n; i++)
		drain(&v[i], width);
	for (;;) {
		ssize_t len = read(ino, buf, sizeof(buf));

		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			for (size_t i = 0; ev->len && i < n; i++) {
				const char *base = strrchr(v[i].path, '/') + 1;

				if (strcmp(ev->name, base))
					continue;
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					reopen(&v[i], width);
				else
					drain(&v[i], width);
			}
		}
	}
	close(ino);
	return EXIT_OK;
}

static int cmd_logs_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"follow", no_argument, NULL, 'f'},
		{"lines", required_argument, NULL, 'n'},
		{0},
	};
	struct strvec names = STRVEC_INIT;
	struct session s = {0};
	struct follow *v = NULL;
	bool follow = false;
	uint64_t lines = 10;
	char *dir = NULL;
	size_t width = 0, n = 0;
	int c, code, first;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fn:", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'n':
			if (parse_u64(optarg, 0, 100000, &lines) < 0)
				return cmd_usage_error(&cmd_logs_entry,
						       "-n: '%s' is not a number of lines", optarg);
			break;
		default:
			return cmd_bad_option(&cmd_logs_entry, argv);
		}
	}
	code = cmd_session_then_services(ctx, argc, argv, optind, &s, &first);
	if (code)
		goto out;
	activity_touch(ctx->berth_dir, s.slug);
	for (int i = first; i < argc; i++) {
		char *path = services_log_path(ctx->berth_dir, s.slug, argv[i]);

		if (!config_service(&ctx->config, argv[i]) && access(path, F_OK) < 0) {
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
	v = xcalloc(names.n ? names.n : 1, sizeof(*v));
	for (size_t i = 0; i < names.n; i++)
		width = strlen(names.v[i]) > width ? strlen(names.v[i]) : width;
	for (size_t i = 0; i < names.n; i++) {
		struct follow *f = &v[n++];
		struct strbuf tail = STRBUF_INIT;

		f->name = names.v[i];
		f->path = services_log_path(ctx->berth_dir, s.slug, names.v[i]);
		strbuf_init(&f->partial);
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0)
			continue;
		services_log_tail(f->path, (unsigned)lines, &tail);
		emit(f, width, tail.buf ? tail.buf : "", tail.len);
		strbuf_release(&tail);
		if (f->partial.len) {
			/* a last line without newline: show it, keep following after it */
			printf("%-*s | %.*s\n", (int)width, f->name, (int)f->partial.len,
			       f->partial.buf);
			strbuf_reset(&f->partial);
		}
		lseek(f->fd, 0, SEEK_END);
	}
	fflush(stdout);
	if (follow) {
		dir = services_log_dir(ctx->berth_dir, s.slug);
		mkdir_p(dir, 0755);
		state_close(ctx->state);
		ctx->state = NULL;
		code = follow_loop(dir, v, n, width);
	}
out:
	for (size_t i = 0; i < n; i++) {
		if (v[i].fd >= 0)
			close(v[i].fd);
		free(v[i].path);
		strbuf_release(&v[i].partial);
	}
	free(v);
	free(dir);
	strvec_clear(&names);
	session_finish(&s);
	return code;
}

const struct cmd_entry cmd_logs_entry = {
	.name = "logs",
	.usage = "logs [<slug>] [service...] [-f] [-n N]",
	.summary = "the services' logs, each line prefixed with its service",
	.help = "Logs are in .berth/logs/<slug>/<service>.log (rotated: .1, .2...).\n\n"
		"Options:\n"
		"  -n, --lines N   the last N lines of each log (default 10)\n"
		"  -f, --follow    then follow them, across rotation and restarts (Ctrl-C "
		"ends)\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.exec = cmd_logs_exec,
};
