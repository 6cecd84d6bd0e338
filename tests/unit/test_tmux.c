/*
 * test_tmux.c: the tmux driver against a real tmux server on a private
 * socket (skipped where tmux >= 3.2 is not installed): version strings,
 * the socket directory's checks, answers classified (no server, no such
 * session), exact targets (a session "feat" never answers for "feat-b"),
 * arguments passed unchanged (a trailing ';', '#' in a directory), panes'
 * pids and how they ended; and spawn_run, which the driver runs tmux with.
 */
#include "util/common.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/run.h"
#include "tmux/tmux.h"
#include "tap.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/timeutil.h"

extern char **environ;

static int first_pid(const char *s)
{
	int64_t v = 0;
	char *line = xstrndup(s ? s : "", strcspn(s ? s : "", "\n"));

	parse_i64(line, 1, INT32_MAX, &v);
	free(line);
	return (int)v;
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/bt-XXXXXX");

	if (!mkdtemp(d))
		tap_fail(__FILE__, __LINE__, "mkdtemp");
	return d;
}

/* A driver on a private server in a fresh runtime dir; skips without tmux. */
static char *setup(struct tmux *t)
{
	char *dir = tmpdir(), *cause = NULL;
	int r;

	setenv("XDG_RUNTIME_DIR", dir, 1);
	r = tmux_init(t, "0123456789abcdef", environ, &cause);
	if (r == -ENOENT || r == -ENOTSUP)
		tap_skip(cause);
	if (r < 0)
		printf("# %s\n", cause);
	ASSERT_OK(r);
	return dir;
}

static void teardown(struct tmux *t, char *dir)
{
	const char *args[] = {"kill-server", NULL};

	tmux_run(t, args, NULL, NULL);
	tmux_finish(t);
	rm_rf(dir);
	free(dir);
}

static void test_version_parse(void)
{
	int v = 0;

	ASSERT_OK(tmux_version_parse("tmux 3.3a\n", &v));
	ASSERT_EQ_INT(v, 303);
	ASSERT_OK(tmux_version_parse("tmux 3.2", &v));
	ASSERT_EQ_INT(v, 302);
	ASSERT_OK(tmux_version_parse("tmux next-3.5\n", &v));
	ASSERT_EQ_INT(v, 305);
	ASSERT_OK(tmux_version_parse("tmux 3.1c", &v));
	ASSERT_EQ_INT(v, 301);
	ASSERT_OK(tmux_version_parse("tmux 3.4-rc\n", &v));
	ASSERT_EQ_INT(v, 304);
	ASSERT_OK(tmux_version_parse("tmux 10.12", &v));
	ASSERT_EQ_INT(v, 1012);
	ASSERT_OK(tmux_version_parse("tmux master", &v));
	ASSERT_EQ_INT(v, 9999);
	ASSERT_EQ_INT(tmux_version_parse("tmux", &v), -EINVAL);
	ASSERT_EQ_INT(tmux_version_parse("tmux x.y", &v), -EINVAL);
	ASSERT_EQ_INT(tmux_version_parse("tmux 3", &v), -EINVAL);
	ASSERT_EQ_INT(tmux_version_parse("screen 4.9", &v), -EINVAL);
	ASSERT_EQ_INT(tmux_version_parse("tmux 3.3!", &v), -EINVAL);
}

static void test_socket_dir(void)
{
	char *dir = tmpdir(), *sub = xasprintf("%s/berth", dir), *got = NULL, *cause = NULL;
	struct stat st;

	setenv("XDG_RUNTIME_DIR", dir, 1);
	ASSERT_OK(tmux_socket_dir(&got, &cause));
	ASSERT_STREQ(got, sub);
	ASSERT_OK(stat(sub, &st));
	ASSERT_EQ_INT(st.st_mode & 0777, 0700);
	free(got);
	got = NULL;
	/* A directory others can enter is refused, with what to do. */
	ASSERT_OK(chmod(sub, 0755));
	ASSERT_EQ_INT(tmux_socket_dir(&got, &cause), -EPERM);
	ASSERT_CONTAINS(cause, "0700");
	ASSERT_TRUE(got == NULL);
	free(cause);
	cause = NULL;
	/* So is a symlink in its place. */
	ASSERT_OK(rmdir(sub));
	ASSERT_OK(symlink("/tmp", sub));
	ASSERT_EQ_INT(tmux_socket_dir(&got, &cause), -EPERM);
	free(cause);
	rm_rf(dir);
	free(dir);
	free(sub);
}

static void test_answers(void)
{
	struct tmux t;
	char *dir = setup(&t), *msg = NULL;
	const char *ls[] = {"list-sessions", NULL};
	const char *argv[] = {"sleep", "100", NULL};

	/* No server yet: an answer, not a failure. */
	ASSERT_EQ_INT(tmux_run(&t, ls, NULL, &msg), TMUX_NO_SERVER);
	free(msg);
	msg = NULL;
	ASSERT_EQ_INT(tmux_has_session(&t, "feat", &msg), 0);
	ASSERT_TRUE(msg == NULL);
	ASSERT_OK(tmux_ensure_session(&t, "feat-b", "/", NULL, argv, &msg));
	ASSERT_OK(tmux_ensure_session(&t, "feat-b", "/", NULL, argv, &msg)); /* there already */
	ASSERT_EQ_INT(tmux_has_session(&t, "feat-b", NULL), 1);
	/* tmux alone would take "feat" as a prefix of "feat-b". */
	ASSERT_EQ_INT(tmux_has_session(&t, "feat", &msg), 0);
	ASSERT_OK(tmux_kill_session(&t, "feat", &msg));
	ASSERT_EQ_INT(tmux_has_session(&t, "feat-b", NULL), 1);
	{
		const char *bad[] = {"no-such-command", NULL};

		ASSERT_EQ_INT(tmux_run(&t, bad, NULL, &msg), TMUX_FAILED);
		ASSERT_CONTAINS(msg, "unknown command");
		free(msg);
		msg = NULL;
	}
	ASSERT_OK(tmux_kill_session(&t, "feat-b", &msg));
	ASSERT_EQ_INT(tmux_has_session(&t, "feat-b", NULL), 0);
	teardown(&t, dir);
}

/* Killing a server's last session ends the server, and the client may hear
 * "server exited unexpectedly" or "no current target" for a kill that was
 * done: berth down of a repository's last session failed with it (CI, unit
 * test_answers under load). Many rounds, with the CPUs kept busy. */
static void test_kill_last_session_server_exits(void)
{
	struct tmux t;
	char *dir = setup(&t), *msg = NULL;
	const char *argv[] = {"sleep", "100", NULL};
	pid_t busy[2];

	for (size_t i = 0; i < ARRAY_SIZE(busy); i++) {
		busy[i] = fork();
		ASSERT_TRUE(busy[i] >= 0);
		if (busy[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the test */
			for (;;)
				;
		}
	}
	for (int round = 0; round < 40; round++) {
		if (tmux_ensure_session(&t, "last", "/", NULL, argv, &msg) != 0) {
			printf("# round %d: new-session: %s\n", round, msg ? msg : "(no message)");
			ASSERT_TRUE(0);
		}
		if (tmux_kill_session(&t, "last", &msg) != 0) {
			printf("# round %d: %s\n", round, msg ? msg : "(no message)");
			ASSERT_TRUE(0);
		}
		ASSERT_TRUE(msg == NULL);
		ASSERT_EQ_INT(tmux_has_session(&t, "last", NULL), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(busy); i++) {
		kill(busy[i], SIGKILL);
		waitpid(busy[i], NULL, 0);
	}
	teardown(&t, dir);
}

/* Until the pane of window is dead, then up to 1 s more for how it ended. */
static void wait_dead(struct tmux *t, const char *window, struct tmux_pane *p, char **msg)
{
	uint64_t known_by = 0;

	for (uint64_t end = time_mono_ms() + 5000; time_mono_ms() < end;) {
		ASSERT_OK(tmux_pane_info(t, "s1", window, p, msg));
		if (p->dead && !known_by)
			known_by = time_mono_ms() + 1000;
		if (p->dead && (p->dead_status >= 0 || p->dead_signal || time_mono_ms() > known_by))
			break;
		usleep(10000);
	}
	ASSERT_TRUE(p->dead);
	if (p->dead_status < 0 && !p->dead_signal)
		printf("# tmux did not learn how pane %d ended\n", (int)p->pid);
}

static void test_windows(void)
{
	struct tmux t;
	char *dir = setup(&t), *msg = NULL, *hashdir = NULL, *out = NULL, *got = NULL;
	const char *shell[] = {"sleep", "100", NULL};
	struct strvec env = STRVEC_INIT;
	struct tmux_pane p;
	pid_t pid = 0, pid2 = 0;
	size_t len;

	hashdir = xasprintf("%s/a#b", dir);
	out = xasprintf("%s/out", dir);
	ASSERT_OK(mkdir(hashdir, 0755));
	strvec_push(&env, "BT_VAR=x y");
	ASSERT_OK(tmux_ensure_session(&t, "s1", "/", NULL, shell, &msg));
	ASSERT_EQ_INT(tmux_pane_info(&t, "s1", "web", &p, &msg), -ENOENT);
	free(msg);
	msg = NULL;
	{
		/* Arguments reach the program unchanged: a trailing ';' (tmux's
		 * command separator), '#' (formats), the cwd with '#'. */
		char *script =
			xasprintf("printf '%%s|' \"$@\" \"$(pwd)\" \"$BT_VAR\" >%s; exit 3", out);
		const char *argv[] = {"sh",   "-c",         script, "x", "a;",
				      "b\\;", "#{pane_id}", ";",    NULL};

		ASSERT_OK(tmux_start_window(&t, "s1", "web", hashdir, &env, argv, &pid, &msg));
		ASSERT_TRUE(pid > 0);
		free(script);
	}
	/* It ended: the pane stays (remain-on-exit), dead. tmux shows the pane
	 * dead before it knows the status, and now and then never learns it
	 * (3.3a): berth takes statuses from its shims, never from tmux alone.
	 * A status tmux does give must be the right one. */
	wait_dead(&t, "web", &p, &msg);
	ASSERT_EQ_INT(p.pid, pid);
	ASSERT_TRUE(p.dead_status == 3 || p.dead_status == -1);
	ASSERT_OK(read_file(out, 4096, &got, &len));
	{
		char *want = xasprintf("a;|b\\;|#{pane_id}|;|%s|x y|", hashdir);

		ASSERT_STREQ(got, want);
		free(want);
	}
	/* Started again in the same window: a new process. */
	{
		const char *argv[] = {"sleep", "100", NULL};
		pid_t *pids = NULL;
		size_t n = 0;

		ASSERT_OK(tmux_start_window(&t, "s1", "web", "/", NULL, argv, &pid2, &msg));
		ASSERT_TRUE(pid2 > 0 && pid2 != pid);
		ASSERT_OK(tmux_pane_info(&t, "s1", "web", &p, &msg));
		ASSERT_FALSE(p.dead);
		ASSERT_OK(tmux_session_pids(&t, "s1", &pids, &n, &msg));
		ASSERT_EQ_INT(n, 2); /* the first window's sleep and this one */
		ASSERT_TRUE(pids[0] == pid2 || pids[1] == pid2);
		free(pids);
		/* Killed by a signal: 3.3 and later say which. */
		ASSERT_OK(kill(pid2, SIGKILL));
		wait_dead(&t, "web", &p, &msg);
		ASSERT_EQ_INT(p.dead_status, -1);
		ASSERT_TRUE(p.dead_signal == SIGKILL || p.dead_signal == 0);
	}
	/* The window closed behind the driver's back: it is made again, once. */
	{
		const char *kw[] = {"kill-window", "-t", "=s1:=web", NULL};
		const char *lw[] = {"list-windows", "-t", "=s1:", "-F", "#{window_name}", NULL};
		const char *argv[] = {"sleep", "100", NULL};
		struct strbuf names = STRBUF_INIT;
		pid_t pid3 = 0;

		ASSERT_EQ_INT(tmux_run(&t, kw, NULL, NULL), TMUX_OK);
		ASSERT_OK(tmux_start_window(&t, "s1", "web", "/", NULL, argv, &pid3, &msg));
		ASSERT_TRUE(pid3 > 0);
		ASSERT_EQ_INT(tmux_run(&t, lw, &names, NULL), TMUX_OK);
		ASSERT_STREQ(names.buf, "shell\nweb\n");
		strbuf_release(&names);
	}
	strvec_clear(&env);
	free(got);
	free(out);
	free(hashdir);
	teardown(&t, dir);
}

/* The window names of session s1, one a line. */
static char *window_names(struct tmux *t)
{
	const char *lw[] = {"list-windows", "-t", "=s1:", "-F", "#{window_name}", NULL};
	struct strbuf names = STRBUF_INIT;

	ASSERT_EQ_INT(tmux_run(t, lw, &names, NULL), TMUX_OK);
	return strbuf_detach(&names);
}

/* Each pid is its window's live pane process. */
static void assert_panes(struct tmux *t, const struct tmux_window *w, const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct tmux_pane p;

		ASSERT_OK(tmux_pane_info(t, "s1", w[i].name, &p, NULL));
		ASSERT_EQ_INT(p.pid, pids[i]);
		ASSERT_FALSE(p.dead);
	}
}

/* Several windows in one tmux command: made with the session, then some
 * respawned and some new, one of them closed behind the driver's back;
 * a session made meanwhile by another client is not made twice. */
static void test_start_windows_batch(void)
{
	struct tmux t, t2;
	char *dir = setup(&t), *msg = NULL, *names, *cause = NULL;
	const char *sleep[] = {"sleep", "100", NULL};
	const struct tmux_window shell = {"ignored", "/", NULL, sleep};
	const struct tmux_window w[] = {
		{"a", "/", NULL, sleep}, {"b", "/", NULL, sleep}, {"c", "/", NULL, sleep}};
	pid_t pids[3] = {0}, again[3] = {0};
	size_t n = 9;
	bool made = false;

	/* The session, its shell and three windows: one command. */
	ASSERT_OK(tmux_start_windows(&t, "s1", &shell, w, 3, pids, &n, &made, &msg));
	ASSERT_EQ_INT(n, 3);
	ASSERT_TRUE(made);
	ASSERT_TRUE(tmux_session_known_exists(&t, "s1"));
	names = window_names(&t);
	ASSERT_STREQ(names, "shell\na\nb\nc\n");
	free(names);
	assert_panes(&t, w, pids, 3);
	ASSERT_TRUE(pids[0] != pids[1] && pids[1] != pids[2]);

	/* b closed by hand: a is respawned, then b's respawn finds no window;
	 * the driver asks again and makes b, respawns c. */
	{
		const char *kw[] = {"kill-window", "-t", "=s1:=b", NULL};

		ASSERT_EQ_INT(tmux_run(&t, kw, NULL, NULL), TMUX_OK);
	}
	ASSERT_OK(tmux_start_windows(&t, "s1", &shell, w, 3, again, &n, &made, &msg));
	ASSERT_EQ_INT(n, 3);
	ASSERT_FALSE(made);
	names = window_names(&t); /* b made again in its old place */
	ASSERT_STREQ(names, "shell\na\nb\nc\n");
	free(names);
	assert_panes(&t, w, again, 3);
	for (size_t i = 0; i < 3; i++)
		ASSERT_TRUE(again[i] != pids[i]);

	/* Another driver that knows nothing: the session is there, so its
	 * shell is not made again; a new window is added. */
	{
		const struct tmux_window d[] = {{"d", "/", NULL, sleep}};
		pid_t pd = 0;

		ASSERT_OK(tmux_init(&t2, "0123456789abcdef", environ, &cause));
		ASSERT_OK(tmux_start_windows(&t2, "s1", &shell, d, 1, &pd, &n, &made, &msg));
		ASSERT_EQ_INT(n, 1);
		ASSERT_FALSE(made);
		assert_panes(&t2, d, &pd, 1);
		tmux_finish(&t2);
	}
	names = window_names(&t);
	ASSERT_STREQ(names, "shell\na\nb\nc\nd\n");
	free(names);

	/* More than a tmux client sends in one message (16 kB): several
	 * commands, every window started. */
	{
		enum { MANY = 12 };
		struct tmux_window many[MANY];
		char wname[MANY][8], *filler = xcalloc(2001, 1);
		const char *argv[] = {"sh", "-c", "exec sleep 100", "sh", filler, NULL};
		pid_t mp[MANY] = {0};
		size_t k = 0;

		memset(filler, 'x', 2000);
		for (size_t i = 0; i < MANY; i++) {
			snprintf(wname[i], sizeof(wname[i]), "m%zu", i);
			many[i] = (struct tmux_window){wname[i], "/", NULL, argv};
		}
		ASSERT_OK(tmux_start_windows(&t, "s1", &shell, many, MANY, mp, &k, &made, &msg));
		ASSERT_EQ_INT(k, MANY);
		assert_panes(&t, many, mp, MANY);
		free(filler);
	}

	/* No session and none to make: nothing starts, tmux says why. */
	{
		size_t k = 9;

		ASSERT_EQ_INT(tmux_start_windows(&t, "s2", NULL, w, 3, pids, &k, &made, &msg),
			      -EIO);
		ASSERT_EQ_INT(k, 0);
		ASSERT_FALSE(made);
		ASSERT_CONTAINS(msg, "s2");
		free(msg);
		msg = NULL;
	}
	teardown(&t, dir);
}

static void test_run_captures(void)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)"echo out; echo err >&2; exit 7", NULL};
	struct spawn_opts o = {.argv = argv, .stdin_fd = -1};
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	int ws = 0;

	ASSERT_OK(spawn_run(&o, 5000, &out, &err, &ws, NULL));
	ASSERT_TRUE(WIFEXITED(ws));
	ASSERT_EQ_INT(WEXITSTATUS(ws), 7);
	ASSERT_STREQ(out.buf, "out\n");
	ASSERT_STREQ(err.buf, "err\n");
	strbuf_release(&out);
	strbuf_release(&err);
}

static void test_run_timeout_kills_the_group(void)
{
	char *argv[] = {(char *)"sh", (char *)"-c", (char *)"sleep 100 & echo $! ; wait", NULL};
	struct spawn_opts o = {.argv = argv, .stdin_fd = -1};
	struct strbuf out = STRBUF_INIT;
	uint64_t t0 = time_mono_ms();
	int ws = 0, child;

	ASSERT_EQ_INT(spawn_run(&o, 300, &out, NULL, &ws, NULL), -ETIMEDOUT);
	ASSERT_TRUE(time_mono_ms() - t0 < 3000);
	child = first_pid(out.buf);
	ASSERT_TRUE(child > 0);
	/* the background sleep was in the group: KILLed too */
	for (uint64_t end = time_mono_ms() + 3000; time_mono_ms() < end && kill(child, 0) == 0;)
		usleep(5000);
	ASSERT_TRUE(kill(child, 0) < 0);
	strbuf_release(&out);
}

static void test_run_daemon_holding_the_pipe(void)
{
	/* A daemon that keeps stdout open must not hold spawn_run up (a tmux
	 * client starting its server). */
	char *argv[] = {(char *)"sh", (char *)"-c",
			(char *)"setsid sleep 100 & echo $!; echo started", NULL};
	struct spawn_opts o = {.argv = argv, .stdin_fd = -1};
	struct strbuf out = STRBUF_INIT;
	uint64_t t0 = time_mono_ms();
	int ws = -1, child;

	ASSERT_OK(spawn_run(&o, 10000, &out, NULL, &ws, NULL));
	ASSERT_TRUE(time_mono_ms() - t0 < 5000);
	ASSERT_EQ_INT(ws, 0);
	ASSERT_CONTAINS(out.buf, "started");
	child = first_pid(out.buf);
	if (child > 0)
		kill(child, SIGKILL);
	strbuf_release(&out);
}

static void test_run_missing_program(void)
{
	char *argv[] = {(char *)"no-such-program-xyz", NULL};
	struct spawn_opts o = {.argv = argv, .stdin_fd = -1};
	struct spawn_error se = {0};
	int ws = 0;

	ASSERT_EQ_INT(spawn_run(&o, 5000, NULL, NULL, &ws, &se), -ENOENT);
	ASSERT_EQ_INT(se.stage, SPAWN_STAGE_EXEC);
}

/* A peer's idle reaper never reaped anything: its re-check read empty
 * fields from tmux and took them for "no client". Here an empty or
 * unreadable line is doubt (-EIO), never "none". */
static void test_pid_lines_empty_field_is_doubt(void)
{
	struct strvec rest = STRVEC_INIT;
	char none[] = "", one[] = "4242\n", two[] = "10 a\n11 b", empty[] = "\n",
	     blank_after[] = "12\n\n", junk[] = "x1\n";
	pid_t first = 0;
	size_t n = 9;

	ASSERT_OK(tmux_pid_lines(none, &first, NULL, &n));
	ASSERT_EQ_INT(n, 0);
	ASSERT_OK(tmux_pid_lines(one, &first, NULL, &n));
	ASSERT_EQ_INT(n, 1);
	ASSERT_EQ_INT(first, 4242);
	ASSERT_OK(tmux_pid_lines(two, &first, &rest, &n));
	ASSERT_EQ_INT(n, 2);
	ASSERT_EQ_INT(first, 10);
	ASSERT_EQ_INT(rest.n, 2);
	ASSERT_STREQ(rest.v[1], "b");
	ASSERT_EQ_INT(tmux_pid_lines(empty, NULL, NULL, &n), -EIO);
	ASSERT_EQ_INT(tmux_pid_lines(blank_after, NULL, NULL, &n), -EIO);
	ASSERT_EQ_INT(tmux_pid_lines(junk, NULL, NULL, &n), -EIO);
	strvec_clear(&rest);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_version_parse),
	TAP_TEST(test_socket_dir),
	TAP_TEST(test_answers),
	TAP_TEST(test_kill_last_session_server_exits),
	TAP_TEST(test_windows),
	TAP_TEST(test_start_windows_batch),
	TAP_TEST(test_run_captures),
	TAP_TEST(test_run_timeout_kills_the_group),
	TAP_TEST(test_run_daemon_holding_the_pipe),
	TAP_TEST(test_run_missing_program),
	TAP_TEST(test_pid_lines_empty_field_is_doubt),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
