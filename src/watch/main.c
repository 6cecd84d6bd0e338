/*
 * main.c: berth-watch, the process `berth watch` becomes. `berth watch`
 * (src/cmd/cmd_watch.c) checks the store, takes the repository's watcher
 * lock, detaches for --daemon, then execs this lean program with the lock
 * on fd 3: the engine (watcher.c) runs here without libgit2, libcrypto or
 * jansson mapped, which is most of the memory of the full berth binary (see
 * bench/watch). It prints every event as one JSON line on stdout and, as a
 * daemon, rotates its log.
 *
 *   berth-watch ROOT BERTH_DIR CONFIG BERTH [--once] [--log PATH]
 */
#include "util/common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/state.h"
#include "util/fsutil.h"
#include "util/printable.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "watch/watcher.h"

#define LOG_MAX (1 << 20) /* bytes: the log is rotated past this (one old copy kept) */

static const char *log_path; /* --log: stdout and stderr go there */

/* Reopen the log on fds 1 and 2, the old one kept as <log>.1 once it
 * passed LOG_MAX. */
static void log_rotate(void)
{
	struct stat st;
	char *old;
	int fd;

	if (fstat(STDOUT_FILENO, &st) < 0 || st.st_size < LOG_MAX)
		return;
	old = xasprintf("%s.1", log_path);
	rename(log_path, old);
	free(old);
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* "key":"value" (null when s is NULL): made printable (valid UTF-8, no
 * control characters), then JSON-escaped. */
static void json_str(struct strbuf *out, const char *key, const char *s)
{
	struct strbuf p = STRBUF_INIT;

	strbuf_addf(out, ",\"%s\":", key);
	if (!s) {
		strbuf_adds(out, "null");
		return;
	}
	strbuf_add_printable(&p, s, 0, false);
	strbuf_addch(out, '"');
	for (size_t i = 0; i < p.len; i++) {
		if (p.buf[i] == '"' || p.buf[i] == '\\')
			strbuf_addch(out, '\\');
		strbuf_addch(out, p.buf[i]);
	}
	strbuf_addch(out, '"');
	strbuf_release(&p);
}

/* One event, the shape of `berth events --json -f` (docs/json.md). */
static void print_event(const struct event_rec *ev, void *data)
{
	struct strbuf line = STRBUF_INIT;
	char *ts = time_format_rfc3339(ev->ts_ms / 1000);

	strbuf_addf(&line, "{\"ts\":\"%s\",\"ts_ms\":%" PRId64, ts, ev->ts_ms);
	json_str(&line, "slug", ev->slug);
	json_str(&line, "service", ev->service);
	json_str(&line, "kind", ev->kind);
	json_str(&line, "detail", ev->detail);
	strbuf_adds(&line, "}\n");
	if (write(STDOUT_FILENO, line.buf, line.len) < 0) {
		/* nobody reads us any more: the events are in the log all the same */
	}
	strbuf_release(&line);
	free(ts);
	if (log_path)
		log_rotate();
}

int main(int argc, char **argv)
{
	struct state *st = NULL;
	char *path, *cause = NULL;
	bool once = false;
	sigset_t mask;
	int r, sigfd;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 5) {
		fprintf(stderr, "usage: berth-watch ROOT BERTH_DIR CONFIG BERTH [--once] [--log "
				"PATH] (run by `berth watch`)\n");
		return 2;
	}
	for (int i = 5; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			once = true;
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			log_path = argv[++i];
	}
	/* the lock `berth watch` took is ours now: fd 3, close-on-exec from here */
	fcntl(3, F_SETFD, FD_CLOEXEC);
	path = path_join(argv[2], "state.db");
	r = state_open(path, &st, &cause);
	free(path);
	if (r < 0) {
		fprintf(stderr, "berth: watch: %s\n", cause);
		free(cause);
		return 1;
	}
	/* Ctrl-C, SIGTERM and (in a terminal) a hangup stop the watcher; a
	 * daemon has no terminal, so a hangup is nobody's word to stop: it is
	 * ignored, and not blocked (a blocked one would still be queued) */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (log_path)
		signal(SIGHUP, SIG_IGN);
	else
		sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct watch_opts o = {
		.root = argv[1],
		.berth_dir = argv[2],
		.config_path = argv[3],
		.exe = argv[4],
		.once = once,
		.stop_fd = sigfd,
		.emit = print_event,
	};
	r = watcher_run(&o, st, &cause);
	if (r < 0) {
		fprintf(stderr, "berth: watch: %s\n", cause);
		free(cause);
	}
	if (sigfd >= 0)
		close(sigfd);
	state_close(st);
	return r < 0 || r > 0 ? 1 : 0;
}
