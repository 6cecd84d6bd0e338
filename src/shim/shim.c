/*
 * shim.c: berth-shim, the supervisor of one native service (SPEC §6). A lean
 * executable (libev + libc): it starts a session of its own, becomes a child
 * subreaper so that nothing the service starts can escape it (double forks
 * and setsid() land back here), runs `/bin/sh -c COMMAND` in its own process
 * group, owns the output pipe (log file with lossless rotation), records
 * every transition in the status file, restarts per policy with exponential
 * backoff and a crash-loop limit, and on SIGTERM stops the whole tree: the
 * stop signal plus SIGCONT to the group and every descendant, SIGKILL to
 * whatever is left at the grace deadline. It exits when no descendant is
 * left and the output is drained.
 *
 *   berth-shim --status FILE --log FILE [--cwd DIR] [--stop-signal N]
 *              [--stop-grace MS] [--restart no|on-failure|always]
 *              [--log-max BYTES] [--log-keep N] [--ready-log REGEX]
 *              [--events FILE] [--env-file FILE] [--terminal] [--exec]
 *              -- COMMAND
 *
 * The service gets the shim's environment as it is, or exactly the one in
 * --env-file (NUL-separated KEY=VALUE entries, as in /proc/<pid>/environ; the
 * file is removed once read). --ready-log records the service as ready
 * (ready_ms in the status) when an output line matches the extended regular
 * expression; --events appends each transition to the session's event
 * journal.
 *
 * --terminal (the tmux runner: the shim is a tmux pane's process, its fds 0-2
 * the pane's terminal): the service runs on a terminal of its own (a pty the
 * shim holds), sized as the pane. Its output goes to the log, byte for byte
 * (no \n -> \r\n translation), and to the pane; what is typed in the pane
 * goes to the service. SIGHUP (the window or the tmux server gone) stops the
 * tree like SIGTERM and is recorded as such.
 *
 * --exec: no supervision; take the environment from --env-file (keeping our
 * TMUX and TMUX_PANE), enter --cwd and exec `/bin/sh -c COMMAND` (the tmux
 * runner's shell window).
 */
#include "util/common.h"

#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "probe/proc.h"
#include "proc/cgroup.h"
#include "proc/child.h"
#include "proc/reaper.h"
#include "proc/spawn.h"
#include "proc/procset.h"
#include "shim/logfile.h"
#include "shim/svcstatus.h"
#include "util/cmdline.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/timeutil.h"
#include "util/user.h"

#define QUICK_DEATH_MS 2000 /* a run shorter than this counts towards a crash loop */
#define CRASH_LOOP_MAX 5    /* quick deaths in a row before giving up */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 10000
#define SCREEN_PENDING_MAX (1u << 20) /* output not yet shown in the pane; beyond: dropped */
#define OUTPUT_CHUNK (64u << 10)      /* one read of the service's output */
#define OUTPUT_BURST 4                /* reads per wake-up before the loop runs again */
#define PIPE_SIZE (1 << 20)           /* the output pipe's capacity */

enum restart_mode { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };

struct shim {
	struct ev_loop *loop;
	struct reaper *reaper;
	struct reaper_child *child;      /* the service's leader while it runs */
	struct procset_stopper *stopper; /* stopping the service's set (CLEANING, STOPPING) */
	struct logfile *log;
	struct svc_status st;       /* the record; written only by the actions */
	int state;                  /* enum shim_state */
	int ev;                     /* the event being handled, for messages */
	int wstatus;                /* the leader's last exit */
	enum svc_state after_clean; /* CLEANING leads to: RESTARTING, EXITED, FAILED, STOPPED */
	bool set_killed;            /* the last stop of the set needed SIGKILL */
	bool abandon;               /* survivors after SIGKILL: exit without waiting */
	bool empty_seen;            /* STOPPING: the set is empty, the leader not yet reaped */
	const char *status_path;
	const char *cwd;
	const char *command;
	enum restart_mode restart;
	int stop_signal;
	uint64_t stop_grace_ms;
	unsigned quick_deaths;
	uint64_t backoff_ms;
	int exit_code;
	ev_io out_io; /* the service's output pipe */
	ev_io sig_io; /* signalfd: TERM, INT, HUP */
	ev_timer restart_timer;
	int sigfd;
	const char *events_path; /* the session's event journal, or NULL */
	const char *name;        /* the service (BERTH_SERVICE), for the journal */
	regex_t ready_re;        /* --ready-log: readiness is a matching output line */
	bool have_ready_re;
	struct strbuf line;  /* the output line being assembled for ready_re */
	char **envp;         /* --env-file: the service's environment, or NULL */
	struct strvec words; /* the command's words when it has no shell syntax */
	/* --user: the service runs as this user (resolved once, at start) */
	const char *user;
	bool have_user;
	struct user_ids ids;
	char *buf; /* OUTPUT_CHUNK bytes for reading the output */
	/* --terminal */
	bool terminal;
	bool hangup;              /* our terminal hung up */
	struct termios saved_tio; /* the pane's modes, restored at exit */
	bool tio_saved;
	ev_io in_io;          /* what is typed in the pane */
	ev_io screen_io;      /* the pane writable again */
	struct strbuf screen; /* output waiting for the pane */
};

/* A line of the session's event journal (svcstatus.h), when there is one. */
static void journal(struct shim *s, const char *kind, const char *detail)
{
	if (s->events_path)
		svc_journal_append(s->events_path, s->name, kind, detail);
}

static void record(struct shim *s, enum svc_state state)
{
	char detail[384];

	s->st.state = state;
	s->st.since_ms = time_wall_ms();
	/* A status that cannot be written must not take the service down. */
	svc_status_write(s->status_path, &s->st);
	svc_status_describe(&s->st, detail, sizeof(detail));
	journal(s, svc_state_name(state), detail);
}

static void log_line(struct shim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(struct shim *s, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	strbuf_adds(&sb, "[berth-shim] ");
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strbuf_addch(&sb, '\n');
	if (s->log) {
		/* on a line of its own, not glued to a line the service left open */
		logfile_break(s->log);
		logfile_write(s->log, sb.buf, sb.len);
	}
	if (s->terminal && !s->hangup && write(2, sb.buf, sb.len) < 0) {
		/* the pane is best effort: the log has it */
	}
	strbuf_release(&sb);
}

/* ---- the pane (--terminal) ---- */

static void screen_flush(struct shim *s)
{
	size_t done = 0;

	while (done < s->screen.len) {
		ssize_t n = write(1, s->screen.buf + done, s->screen.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* the pane is gone: the log keeps everything */
			done = s->screen.len;
			break;
		}
		done += (size_t)n;
	}
	memmove(s->screen.buf, s->screen.buf + done, s->screen.len - done);
	s->screen.len -= done;
	if (s->screen.buf)
		s->screen.buf[s->screen.len] = '\0';
	if (s->screen.len && !ev_is_active(&s->screen_io))
		ev_io_start(s->loop, &s->screen_io);
	else if (!s->screen.len)
		ev_io_stop(s->loop, &s->screen_io);
}

static void on_screen(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	screen_flush(w->data);
}

/* Show service output in the pane. When the pane does not keep up, what is
 * beyond SCREEN_PENDING_MAX is not shown (the log has it all). */
static void screen_write(struct shim *s, const char *buf, size_t n)
{
	if (!s->terminal || s->hangup || s->screen.len + n > SCREEN_PENDING_MAX)
		return;
	strbuf_add(&s->screen, buf, n);
	if (!ev_is_active(&s->screen_io))
		screen_flush(s);
}

/* What is typed in the pane goes to the service's terminal. */
static void on_input(struct ev_loop *loop, ev_io *w, int revents)
{
	struct shim *s = w->data;
	char buf[4096];
	ssize_t n = read(0, buf, sizeof(buf));

	(void)revents;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		ev_io_stop(loop, w); /* hung up: SIGHUP follows */
		return;
	}
	if (ev_is_active(&s->out_io) && write(s->out_io.fd, buf, (size_t)n) < 0) {
		/* a service that does not read its terminal loses keystrokes */
	}
}

/* The pane in raw input mode: every key reaches the service's own terminal,
 * whose line discipline then does echo, editing and ^C. Output processing
 * stays, so the service's "\n" shows as a new line. */
static void pane_raw(struct shim *s)
{
	struct termios t;

	if (tcgetattr(0, &s->saved_tio) < 0)
		return;
	s->tio_saved = true;
	t = s->saved_tio;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(0, TCSANOW, &t);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
}

static void pane_resize(const struct shim *s)
{
	struct winsize ws;

	if (ev_is_active(&s->out_io) && ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(s->out_io.fd, TIOCSWINSZ, &ws);
}

/* A terminal for one run of the service: master (ours, non-blocking) and
 * slave (the service's fds 0-2), with output processing off so the log gets
 * the service's bytes unchanged, sized as the pane. */
static int open_pty(int *ret_master, int *ret_slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), sl, r;
	struct termios tio;
	struct winsize ws;

	if (m < 0)
		return -errno;
	if (unlockpt(m) < 0)
		goto fail;
	sl = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0) {
		char name[128];

		if (ptsname_r(m, name, sizeof(name)) != 0)
			goto fail;
		sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (sl < 0)
			goto fail;
	}
	if (tcgetattr(sl, &tio) == 0) {
		tio.c_oflag &= ~(tcflag_t)OPOST;
		tcsetattr(sl, TCSANOW, &tio);
	}
	if (ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(m, TIOCSWINSZ, &ws);
	fcntl(m, F_SETFL, O_NONBLOCK);
	*ret_master = m;
	*ret_slave = sl;
	return 0;
fail:
	r = -errno;
	close(m);
	return r;
}

/* ---- the state machine ----
 *
 * Every change of the service's life is an event fed to shim_event(), which
 * looks up the action in the table below; only actions write the status
 * record. States:
 *   STARTING  spawning the service (synchronous: exec's outcome is known
 *             when spawn returns)
 *   RUNNING   the service's leader runs
 *   CLEANING  the leader ended by itself: what its run left (its group, its
 *             descendants, its cgroup) is being stopped before a restart or
 *             the end
 *   BACKOFF   waiting before the next start
 *   STOPPING  a stop was asked for: the whole set gets the stop signal, then
 *             SIGKILL at the grace deadline
 *   DONE      nothing of the service is left: exit once the output is drained
 */

enum shim_state { SH_STARTING, SH_RUNNING, SH_CLEANING, SH_BACKOFF, SH_STOPPING, SH_DONE, SH_N };
enum shim_ev {
	EV_STARTED,
	EV_START_FAILED,
	EV_EXITED,
	EV_READY,
	EV_EMPTY,
	EV_BACKOFF_OVER,
	EV_STOP,
	EV_N
};

static const char *const state_names[SH_N] = {"starting", "running",  "cleaning",
					      "backoff",  "stopping", "done"};
static const char *const ev_names[EV_N] = {"started", "start-failed", "exited", "ready",
					   "empty",   "backoff-over", "stop"};

static void shim_event(struct shim *s, enum shim_ev ev);

/* True while any child (service or adopted orphan) is not yet reaped. */
static bool have_children(void)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* DONE: exit once the output is at EOF and every child is reaped, or at
 * once when the stop gave up on survivors (they may hold the pipe). */
static void maybe_exit(struct shim *s)
{
	if (s->state != SH_DONE)
		return;
	if (!s->abandon && (ev_is_active(&s->out_io) || have_children()))
		return;
	ev_break(s->loop, EVBREAK_ALL);
}

static void on_set_empty(struct procset_stopper *st, void *data)
{
	struct shim *s = data;
	size_t n = 0;

	procset_stopper_survivors(st, &n);
	if (n) {
		/* Unkillable (D state) or out of our reach: say so, do not hang. */
		snprintf(s->st.error, sizeof(s->st.error),
			 "%zu process%s of the service did not end after SIGKILL", n,
			 n == 1 ? "" : "es");
		log_line(s, "%s", s->st.error);
		s->abandon = true;
	}
	s->set_killed = procset_stopper_killed(st);
	shim_event(s, EV_EMPTY);
}

/* Stop everything of the service: its cgroup and every descendant of ours
 * (we are their subreaper: double forks and setsid() land back here). */
static void stop_set(struct shim *s)
{
	struct procset set = {.cgroup = s->st.cgroup[0] ? s->st.cgroup : NULL, .tree = getpid()};

	if (s->stopper)
		return;
	s->set_killed = false;
	procset_stopper_start(s->loop, &set, s->stop_signal, s->stop_grace_ms, on_set_empty, s,
			      &s->stopper);
}

static void on_exit_cb(struct reaper_child *c, int wstatus, void *data);

#define READY_LINE_MAX 8192 /* longer lines are matched on their start */

/* --ready-log: match each complete output line until one matches. */
static void match_ready(struct shim *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && !s->st.ready_ms; i++) {
		if (buf[i] != '\n') {
			if (s->line.len < READY_LINE_MAX)
				strbuf_addch(&s->line, buf[i]);
			continue;
		}
		if (regexec(&s->ready_re, s->line.buf ? s->line.buf : "", 0, NULL, 0) == 0)
			shim_event(s, EV_READY);
		strbuf_reset(&s->line);
	}
}

/* Read what the pipe (or the terminal's master) holds, at most
 * OUTPUT_BURST chunks: a service that writes faster than we log must not
 * starve the loop (signals, the stopper's timers). Returns false at EOF
 * (EIO for a terminal; it is then closed: every writer is gone). */
static bool read_output(struct shim *s, bool drain)
{
	for (int i = 0; drain || i < OUTPUT_BURST; i++) {
		ssize_t n = read(s->out_io.fd, s->buf, OUTPUT_CHUNK);

		if (n > 0) {
			logfile_write(s->log, s->buf, (size_t)n);
			screen_write(s, s->buf, (size_t)n);
			if (s->have_ready_re && !s->st.ready_ms)
				match_ready(s, s->buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		ev_io_stop(s->loop, &s->out_io);
		close(s->out_io.fd);
		/* this run's output ends; a restart's starts on a line of its own */
		logfile_break(s->log);
		return false;
	}
	return true;
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	struct shim *s = w->data;

	(void)loop;
	(void)revents;
	if (!read_output(s, false))
		maybe_exit(s);
}

/* --user: its uid, gid and groups, looked up once (a user that does not
 * exist makes every start fail, saying so). */
static void resolve_user(struct shim *s)
{
	s->have_user = user_lookup(s->user, &s->ids) == 0;
}

/* Spawn the service (STARTING): EV_STARTED or EV_START_FAILED follows. */
static void start_service(struct shim *s)
{
	char *sh_argv[] = {(char *)"sh", (char *)"-c", (char *)s->command, NULL};
	struct spawn_opts o = {
		.path = "/bin/sh",
		.argv = sh_argv,
		.envp = s->envp,
		.cwd = s->cwd,
		.stdin_fd = -1,
		.new_pgroup = true,
		/* the service dies with us where the kernel allows it */
		.pdeath_sig = s->stop_signal,
	};
	struct spawn_error err = {0};
	int pfd[2], r, cgfd = -1;

	s->state = SH_STARTING;
	/* A command without shell syntax is exec'd itself, found in the
	 * service's PATH: no shell in between, and a missing program is the
	 * spawn's own error. */
	if (s->words.n) {
		o.path = NULL;
		o.argv = strvec_argv(&s->words);
	}
	if (s->user && !s->have_user) {
		snprintf(s->st.error, sizeof(s->st.error),
			 "no such user '%s' (user = of the service)", s->user);
		shim_event(s, EV_START_FAILED);
		return;
	}
	/* berth's own user needs no switch (and without root could not drop
	 * its groups) */
	o.set_user = s->have_user && user_needs_switch(&s->ids);
	o.uid = s->ids.uid;
	o.gid = s->ids.gid;
	o.groups = s->ids.groups;
	o.n_groups = s->ids.n_groups;
	if (s->terminal) {
		/* pfd[0] our side, pfd[1] the service's terminal, made its
		 * controlling one in a session of its own (^C reaches it) */
		r = open_pty(&pfd[0], &pfd[1]);
		if (r < 0) {
			snprintf(s->st.error, sizeof(s->st.error), "cannot open a terminal: %s",
				 strerror(-r));
			shim_event(s, EV_START_FAILED);
			return;
		}
		o.stdin_fd = pfd[1];
		o.new_session = true;
		o.ctty = true;
	} else if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(s->st.error, sizeof(s->st.error), "cannot make a pipe: %s",
			 strerror(errno));
		shim_event(s, EV_START_FAILED);
		return;
	}
	if (s->st.cgroup[0]) {
		cgfd = cgroup_dir_fd(s->st.cgroup);
		if (cgfd < 0) {
			log_line(s, "cannot enter the cgroup %s (%s): contained by the shim alone",
				 s->st.cgroup, strerror(-cgfd));
			s->st.cgroup[0] = '\0';
		}
		o.cgroup_fd = cgfd > 0 ? cgfd : 0;
	}
	o.stdout_fd = pfd[1];
	o.stderr_fd = pfd[1];
	r = child_start(s->reaper, &o, on_exit_cb, s, &s->child, &err);
	close(pfd[1]);
	if (cgfd >= 0)
		close(cgfd);
	if (r < 0) {
		char *why = spawn_error_text(&o, &err);

		close(pfd[0]);
		snprintf(s->st.error, sizeof(s->st.error), "%s", why);
		free(why);
		shim_event(s, EV_START_FAILED);
		return;
	}
	if (!s->terminal) {
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		/* a larger pipe: a fast writer wakes us less often, and we take
		 * more per read (capped by fs.pipe-max-size; best effort) */
		fcntl(pfd[0], F_SETPIPE_SZ, PIPE_SIZE);
	}
	if (ev_is_active(&s->out_io)) {
		/* a restart: the previous run's writers are gone (CLEANING) */
		read_output(s, true);
		if (ev_is_active(&s->out_io)) {
			ev_io_stop(s->loop, &s->out_io);
			close(s->out_io.fd);
		}
	}
	ev_io_init(&s->out_io, on_output, pfd[0], EV_READ);
	s->out_io.data = s;
	ev_io_start(s->loop, &s->out_io);
	s->st.pid = reaper_child_pid(s->child);
	s->st.start_time = 0;
	proc_start_time(s->st.pid, &s->st.start_time);
	shim_event(s, EV_STARTED);
}

static void on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	shim_event(w->data, EV_BACKOFF_OVER);
}

static void on_exit_cb(struct reaper_child *c, int wstatus, void *data)
{
	struct shim *s = data;

	(void)c;
	s->child = NULL;
	s->wstatus = wstatus;
	shim_event(s, EV_EXITED);
}

static void on_orphan(pid_t pid, int wstatus, void *data)
{
	struct shim *s = data;

	(void)pid;
	(void)wstatus;
	procset_stopper_poke(s->stopper);
	maybe_exit(s);
}

/* ---- the actions ---- */

typedef void action_fn(struct shim *s);

static void a_ignore(struct shim *s)
{
	(void)s;
}

/* An event that cannot happen in this state: logged, never acted on. */
static void a_bug(struct shim *s)
{
	log_line(s, "internal: event %s in state %s ignored", ev_names[s->ev],
		 state_names[s->state]);
}

static void a_running(struct shim *s)
{
	s->state = SH_RUNNING;
	s->st.exec_ms = time_wall_ms();
	s->st.ready_ms = 0;
	strbuf_reset(&s->line);
	s->st.error[0] = '\0';
	record(s, SVC_RUNNING);
}

/* The service could not start: its real reason stays in the record. */
static void a_start_failed(struct shim *s)
{
	log_line(s, "%s", s->st.error);
	s->st.pid = 0;
	s->exit_code = 127;
	s->state = SH_DONE;
	record(s, SVC_FAILED);
	maybe_exit(s);
}

static void a_ready(struct shim *s)
{
	s->st.ready_ms = time_wall_ms();
	svc_status_write(s->status_path, &s->st);
	journal(s, "ready", "its output matched the ready pattern");
}

/* What the last exit was, into the record (not yet written). */
static void take_exit(struct shim *s)
{
	int ws = s->wstatus;

	/* What the service wrote before it died is in the log before its
	 * death is recorded: a reader of the status finds its last lines. */
	if (ev_is_active(&s->out_io))
		read_output(s, false);
	s->st.exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
	s->st.exit_signal = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
	s->st.core_dumped = WIFSIGNALED(ws) && WCOREDUMP(ws);
	s->exit_code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* The leader ended by itself: record it at once (up is waiting for that),
 * then clear what its run left, then restart or end. */
static void a_exited(struct shim *s)
{
	bool failed, quick;

	take_exit(s);
	s->st.killed = false;
	failed = !WIFEXITED(s->wstatus) || WEXITSTATUS(s->wstatus) != 0;
	quick = time_wall_ms() - s->st.exec_ms < QUICK_DEATH_MS;
	s->quick_deaths = quick ? s->quick_deaths + 1 : 0;
	s->state = SH_CLEANING;
	if (s->restart == RESTART_ALWAYS || (s->restart == RESTART_ON_FAILURE && failed)) {
		if (s->quick_deaths >= CRASH_LOOP_MAX) {
			snprintf(s->st.error, sizeof(s->st.error),
				 "died %u times in a row within %d ms of starting; not restarted",
				 s->quick_deaths, QUICK_DEATH_MS);
			log_line(s, "%s", s->st.error);
			s->after_clean = SVC_FAILED;
			record(s, SVC_FAILED);
		} else {
			/* after a run that lasted: again at once; a crash loop
			 * backs off */
			s->backoff_ms =
				!quick ? 0 : (s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_FIRST_MS);
			if (s->backoff_ms > BACKOFF_MAX_MS)
				s->backoff_ms = BACKOFF_MAX_MS;
			s->after_clean = SVC_RESTARTING;
			record(s, SVC_RESTARTING);
		}
	} else {
		s->after_clean = SVC_EXITED;
		record(s, SVC_EXITED);
	}
	stop_set(s);
}

/* The previous run is gone entirely: restart after the backoff, or end. */
static void a_cleaned(struct shim *s)
{
	procset_stopper_destroy(s->stopper);
	s->stopper = NULL;
	if (s->after_clean == SVC_RESTARTING) {
		s->state = SH_BACKOFF;
		ev_timer_set(&s->restart_timer, (double)s->backoff_ms / 1000.0, 0.);
		ev_timer_start(s->loop, &s->restart_timer);
		return;
	}
	s->state = SH_DONE;
	if (s->after_clean == SVC_STOPPED) {
		s->exit_code = 0;
		record(s, SVC_STOPPED);
	}
	maybe_exit(s);
}

static void a_start(struct shim *s)
{
	s->st.restarts++;
	start_service(s);
}

static void note_hangup(struct shim *s)
{
	if (s->hangup)
		snprintf(
			s->st.error, sizeof(s->st.error), "%s",
			"stopped because its terminal hung up (its tmux window or server is gone)");
}

/* A stop while the service runs: the whole set, the leader's group first
 * among equals. */
static void a_stop(struct shim *s)
{
	note_hangup(s);
	s->state = SH_STOPPING;
	record(s, SVC_STOPPING);
	stop_set(s);
}

/* A stop while the previous run is being cleared: the stopper already
 * stops it with the same signal and deadline; no restart follows. */
static void a_stop_cleaning(struct shim *s)
{
	note_hangup(s);
	if (s->after_clean == SVC_RESTARTING)
		s->after_clean = SVC_STOPPED;
	s->state = SH_STOPPING;
}

/* A stop between two runs: nothing runs, nothing to stop. */
static void a_stop_idle(struct shim *s)
{
	note_hangup(s);
	ev_timer_stop(s->loop, &s->restart_timer);
	s->state = SH_DONE;
	s->exit_code = 0;
	record(s, SVC_STOPPED);
	maybe_exit(s);
}

static void a_stopped(struct shim *s);

/* The leader ended while being stopped: its status is the stop's record. */
static void a_stopping_exit(struct shim *s)
{
	take_exit(s);
	if (s->empty_seen)
		a_stopped(s);
}

/* Everything is gone after a stop (the set can be seen empty before the
 * leader's zombie is reaped: its exit status is then waited for). */
static void a_stopped(struct shim *s)
{
	if (s->child && !s->abandon) {
		s->empty_seen = true;
		return;
	}
	procset_stopper_destroy(s->stopper);
	s->stopper = NULL;
	s->state = SH_DONE;
	if (s->after_clean == SVC_EXITED || s->after_clean == SVC_FAILED) {
		/* it had ended by itself before the stop: that stays the record */
		maybe_exit(s);
		return;
	}
	s->st.killed = s->set_killed;
	s->exit_code = 0;
	record(s, SVC_STOPPED);
	maybe_exit(s);
}

/* state x event: every cell filled. */
static action_fn *const transitions[SH_N][EV_N] = {
	/*              STARTED    START_FAILED    EXITED           READY     EMPTY      BACKOFF_OVER STOP */
	[SH_STARTING] = {a_running, a_start_failed, a_bug, a_bug, a_ignore, a_bug, a_bug},
	[SH_RUNNING] = {a_bug, a_bug, a_exited, a_ready, a_ignore, a_bug, a_stop},
	[SH_CLEANING] = {a_bug, a_bug, a_bug, a_ignore, a_cleaned, a_bug, a_stop_cleaning},
	[SH_BACKOFF] = {a_bug, a_bug, a_bug, a_ignore, a_ignore, a_start, a_stop_idle},
	[SH_STOPPING] = {a_bug, a_bug, a_stopping_exit, a_ignore, a_stopped, a_ignore, a_ignore},
	[SH_DONE] = {a_bug, a_bug, a_bug, a_ignore, a_ignore, a_ignore, a_ignore},
};

static void shim_event(struct shim *s, enum shim_ev ev)
{
	s->ev = ev;
	transitions[s->state][ev](s);
}

/* ---- signals ---- */

static void on_signal(struct ev_loop *loop, ev_io *w, int revents)
{
	struct shim *s = w->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGWINCH) {
			pane_resize(s);
			continue;
		}
		if (si.ssi_signo == SIGHUP && s->terminal && !s->hangup) {
			s->hangup = true;
			ev_io_stop(s->loop, &s->in_io);
			ev_io_stop(s->loop, &s->screen_io);
			strbuf_reset(&s->screen);
			if (s->state != SH_STOPPING && s->state != SH_DONE)
				journal(s, "hangup",
					"its terminal hung up (its tmux window or server is gone): "
					"stopping it");
		}
		shim_event(s, EV_STOP);
	}
}

/* ---- main ---- */

static int usage(void)
{
	fprintf(stderr, "usage: berth-shim --status FILE --log FILE [--cwd DIR] [--stop-signal N] "
			"[--stop-grace MS] [--restart no|on-failure|always] [--log-max BYTES] "
			"[--log-keep N] [--ready-log REGEX] [--events FILE] [--env-file FILE] "
			"[--terminal] [--cgroup DIR] [--user NAME] -- COMMAND\n"
			"       berth-shim --exec --env-file FILE [--cwd DIR] -- COMMAND\n");
	return 2;
}

/* The environment in path (NUL-separated KEY=VALUE), then path removed. Our
 * own values of keep[] (NULL-terminated) replace or join the file's. */
static char **load_env(const char *path, const char *const *keep)
{
	struct strvec v = STRVEC_INIT;
	char *buf = NULL, **out;
	size_t len = 0, start = 0;
	int r = read_file(path, 16u << 20, &buf, &len);

	if (r < 0) {
		fprintf(stderr, "berth-shim: cannot read the environment file '%s': %s\n", path,
			strerror(-r));
		return NULL;
	}
	unlink(path);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i])
			continue;
		if (i > start) {
			const char *kv = buf + start;
			bool kept = false;

			for (const char *const *k = keep; *k && !kept; k++)
				kept = !strncmp(kv, *k, strlen(*k)) && kv[strlen(*k)] == '=' &&
				       getenv(*k);
			if (!kept && strchr(kv, '='))
				strvec_push(&v, kv);
		}
		start = i + 1;
	}
	for (const char *const *k = keep; *k; k++)
		if (getenv(*k))
			strvec_pushf(&v, "%s=%s", *k, getenv(*k));
	free(buf);
	strvec_argv(&v);
	out = v.v; /* handed over, NULL-terminated */
	return out;
}

static void free_env(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

/* envp (NULL: a copy of environ) with PWD=cwd; takes envp over. */
static char **env_set_pwd(char **envp, const char *cwd)
{
	struct strvec v = STRVEC_INIT;
	char **out;

	for (char **p = envp ? envp : environ; *p; p++)
		if (strncmp(*p, "PWD=", 4))
			strvec_push(&v, *p);
	strvec_pushf(&v, "PWD=%s", cwd);
	free_env(envp);
	strvec_argv(&v);
	out = v.v; /* handed over, NULL-terminated */
	return out;
}

/* --exec: the tmux runner's shell window. */
static int exec_shell(const char *env_file, const char *cwd, const char *command)
{
	static const char *const keep[] = {"TMUX", "TMUX_PANE", "TERM", NULL};
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)command, NULL};
	char **envp = env_file ? load_env(env_file, keep) : environ;

	if (!envp)
		return 127;
	if (cwd && chdir(cwd) < 0) {
		fprintf(stderr, "berth-shim: cannot enter '%s': %s\n", cwd, strerror(errno));
		return 127;
	}
	execve("/bin/sh", argv, envp);
	fprintf(stderr, "berth-shim: cannot run /bin/sh: %s\n", strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	enum {
		O_STATUS = 256,
		O_LOG,
		O_CWD,
		O_SIG,
		O_GRACE,
		O_RESTART,
		O_LOGMAX,
		O_LOGKEEP,
		O_READYLOG,
		O_EVENTS,
		O_ENVFILE,
		O_TERMINAL,
		O_EXEC,
		O_CGROUP,
		O_USER
	};
	static const struct option longopts[] = {
		{"status", required_argument, NULL, O_STATUS},
		{"log", required_argument, NULL, O_LOG},
		{"cwd", required_argument, NULL, O_CWD},
		{"stop-signal", required_argument, NULL, O_SIG},
		{"stop-grace", required_argument, NULL, O_GRACE},
		{"restart", required_argument, NULL, O_RESTART},
		{"log-max", required_argument, NULL, O_LOGMAX},
		{"log-keep", required_argument, NULL, O_LOGKEEP},
		{"ready-log", required_argument, NULL, O_READYLOG},
		{"events", required_argument, NULL, O_EVENTS},
		{"env-file", required_argument, NULL, O_ENVFILE},
		{"terminal", no_argument, NULL, O_TERMINAL},
		{"exec", no_argument, NULL, O_EXEC},
		{"cgroup", required_argument, NULL, O_CGROUP},
		{"user", required_argument, NULL, O_USER},
		{0},
	};
	static const char *const keep_terminal[] = {"TERM", NULL};
	static const char *const keep_none[] = {NULL};
	struct shim s = {.stop_signal = SIGTERM,
			 .stop_grace_ms = 5000,
			 .exit_code = 0,
			 .state = SH_STARTING};
	uint64_t log_max = 10u << 20, log_keep = 5, v;
	const char *log_path = NULL, *ready_log = NULL, *env_file = NULL;
	bool exec_mode = false;
	sigset_t mask;
	int c, r;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_STATUS:
			s.status_path = optarg;
			break;
		case O_LOG:
			log_path = optarg;
			break;
		case O_CWD:
			s.cwd = optarg;
			break;
		case O_SIG:
			if (parse_u64(optarg, 1, 64, &v) < 0)
				return usage();
			s.stop_signal = (int)v;
			break;
		case O_GRACE:
			if (parse_u64(optarg, 0, 24 * 3600 * 1000ull, &s.stop_grace_ms) < 0)
				return usage();
			break;
		case O_RESTART:
			if (!strcmp(optarg, "no"))
				s.restart = RESTART_NO;
			else if (!strcmp(optarg, "on-failure"))
				s.restart = RESTART_ON_FAILURE;
			else if (!strcmp(optarg, "always"))
				s.restart = RESTART_ALWAYS;
			else
				return usage();
			break;
		case O_LOGMAX:
			if (parse_u64(optarg, 0, UINT64_MAX, &log_max) < 0)
				return usage();
			break;
		case O_LOGKEEP:
			if (parse_u64(optarg, 0, 1000, &log_keep) < 0)
				return usage();
			break;
		case O_READYLOG:
			ready_log = optarg;
			break;
		case O_EVENTS:
			s.events_path = optarg;
			break;
		case O_ENVFILE:
			env_file = optarg;
			break;
		case O_TERMINAL:
			s.terminal = true;
			break;
		case O_EXEC:
			exec_mode = true;
			break;
		case O_CGROUP:
			if (strlen(optarg) >= sizeof(s.st.cgroup) || optarg[0] != '/')
				return usage();
			snprintf(s.st.cgroup, sizeof(s.st.cgroup), "%s", optarg);
			break;
		case O_USER:
			s.user = optarg;
			break;
		default:
			return usage();
		}
	}
	if (exec_mode)
		return optind + 1 == argc ? exec_shell(env_file, s.cwd, argv[optind]) : usage();
	if (!s.status_path || !log_path || optind + 1 != argc)
		return usage();
	s.command = argv[optind];
	if (s.terminal && !isatty(0)) {
		fprintf(stderr, "berth-shim: --terminal needs a terminal on stdin\n");
		return 2;
	}
	/* Under a terminal the service sees the pane's TERM, not the caller's. */
	if (env_file) {
		s.envp = load_env(env_file, s.terminal ? keep_terminal : keep_none);
		if (!s.envp)
			return 1;
	}
	/* Exec'd without a shell, the service gets the PWD a shell would give
	 * it. */
	if (cmdline_split_simple(s.command, s.envp ? s.envp : environ, &s.words) && s.cwd &&
	    s.cwd[0] == '/')
		s.envp = env_set_pwd(s.envp, s.cwd);

	if (s.user)
		resolve_user(&s);
	s.name = getenv("BERTH_SERVICE") ? getenv("BERTH_SERVICE") : "service";
	if (ready_log && regcomp(&s.ready_re, ready_log, REG_EXTENDED | REG_NOSUB) != 0) {
		fprintf(stderr, "berth-shim: bad --ready-log pattern '%s'\n", ready_log);
		return 2;
	}
	s.have_ready_re = ready_log != NULL;

	/* Our own session (no terminal signals from the caller's), and the
	 * subreaper of everything below us. Under --terminal tmux made us the
	 * leader of the pane's session already. */
	if (!s.terminal)
		setsid();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	s.st.shim_pid = getpid();
	proc_start_time(s.st.shim_pid, &s.st.shim_start);
	s.st.exit_code = -1;
	/* The status comes first: whoever started us learns even why we could
	 * not start. */
	record(&s, SVC_STARTING);
	r = logfile_open(log_path, log_max, (unsigned)log_keep, &s.log);
	if (r < 0) {
		snprintf(s.st.error, sizeof(s.st.error), "cannot open the log file '%s': %s",
			 log_path, strerror(-r));
		record(&s, SVC_FAILED);
		fprintf(stderr, "berth-shim: %s\n", s.st.error);
		return 1;
	}
	if (s.st.cgroup[0] && (r = cgroup_make(s.st.cgroup)) < 0) {
		log_line(&s, "cannot create the cgroup %s (%s): contained by the shim alone",
			 s.st.cgroup, strerror(-r));
		s.st.cgroup[0] = '\0';
	}
	s.buf = xmalloc(OUTPUT_CHUNK);
	s.loop = ev_loop_new(EVFLAG_AUTO);
	if (!s.loop || reaper_create(s.loop, &s.reaper) < 0) {
		fprintf(stderr, "berth-shim: cannot set up the event loop\n");
		return 1;
	}
	reaper_set_orphan_cb(s.reaper, on_orphan, &s);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ev_io_init(&s.sig_io, on_signal, s.sigfd, EV_READ);
	/* a stop is served before more output is read */
	ev_set_priority(&s.sig_io, EV_MAXPRI);
	s.sig_io.data = &s;
	ev_io_start(s.loop, &s.sig_io);
	ev_timer_init(&s.restart_timer, on_restart_timer, 0., 0.);
	s.restart_timer.data = &s;
	ev_init(&s.out_io, on_output);
	ev_io_init(&s.in_io, on_input, 0, EV_READ);
	s.in_io.data = &s;
	ev_io_init(&s.screen_io, on_screen, 1, EV_WRITE);
	s.screen_io.data = &s;
	if (s.terminal) {
		pane_raw(&s);
		ev_io_start(s.loop, &s.in_io);
	}

	start_service(&s);
	if (s.state != SH_DONE)
		ev_run(s.loop, 0);
	if (s.terminal && !s.hangup) {
		fcntl(1, F_SETFL, fcntl(1, F_GETFL) & ~O_NONBLOCK);
		screen_flush(&s); /* the last output, before the pane shows our end */
	}
	if (s.tio_saved && !s.hangup)
		tcsetattr(0, TCSANOW, &s.saved_tio);
	if (ev_is_active(&s.out_io)) {
		/* abandoned: a survivor may hold the pipe */
		ev_io_stop(s.loop, &s.out_io);
		close(s.out_io.fd);
		logfile_flush(s.log);
	}
	procset_stopper_destroy(s.stopper);
	if (s.st.cgroup[0] && !s.abandon)
		cgroup_remove(s.st.cgroup);
	ev_io_stop(s.loop, &s.in_io);
	ev_io_stop(s.loop, &s.screen_io);
	ev_io_stop(s.loop, &s.sig_io);
	close(s.sigfd);
	reaper_destroy(s.reaper);
	ev_loop_destroy(s.loop);
	logfile_close(s.log);
	if (s.have_ready_re)
		regfree(&s.ready_re);
	strbuf_release(&s.line);
	strbuf_release(&s.screen);
	free_env(s.envp);
	strvec_clear(&s.words);
	user_ids_finish(&s.ids);
	free(s.buf);
	return s.exit_code;
}
