/*
 * test_spawn.c: spawn_start against the real kernel. The binary doubles as the
 * program it starts (`--helper NAME`): each helper reports the state it was
 * born with on stdout, a pipe the test reads with a deadline. Exec failures
 * must come back from spawn_start itself, with the failing step and errno.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/cgroup.h"
#include "proc/spawn.h"
#include "util/timeutil.h"

#define TAP_HAVE_HELPERS
#include "tap.h"

extern char **environ;

/* This binary, resolved in main: exec'ing "/proc/self/exe" itself would run
 * valgrind's tool under valgrind. */
static char self_path[PATH_MAX];
#define SELF ((const char *)self_path)
#define DEADLINE_MS 10000

/* ---- helpers (run in the spawned child) ---- */

static int helper_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int fds[64], n = 0;

	if (!d)
		return 1;
	while ((de = readdir(d))) {
		long fd;

		if (de->d_name[0] == '.')
			continue;
		fd = strtol(de->d_name, NULL, 10);
		if (fd == dirfd(d))
			continue;
		if (n < (int)ARRAY_SIZE(fds))
			fds[n++] = (int)fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++) /* insertion sort: readdir order is not promised */
		for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
			int t = fds[j];
			fds[j] = fds[j - 1];
			fds[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", fds[i]);
	printf("\n");
	return 0;
}

static int tap_helper(int argc, char **argv)
{
	const char *name = argv[0];

	if (!strcmp(name, "fds"))
		return helper_fds();
	if (!strcmp(name, "cwd")) {
		char buf[PATH_MAX];
		if (!getcwd(buf, sizeof(buf)))
			return 1;
		printf("%s\n", buf);
		return 0;
	}
	if (!strcmp(name, "env")) {
		for (char **e = environ; *e; e++)
			printf("%s\n", *e);
		return 0;
	}
	if (!strcmp(name, "ids")) {
		printf("%d %d %d\n", (int)getpid(), (int)getpgid(0), (int)getsid(0));
		return 0;
	}
	if (!strcmp(name, "pdeath")) {
		int sig = -1;
		if (prctl(PR_GET_PDEATHSIG, &sig) < 0)
			return 1;
		printf("%d\n", sig);
		return 0;
	}
	if (!strcmp(name, "outerr")) {
		/* unbuffered writes keep the order on a shared pipe */
		char c;
		ssize_t n;
		if (write(1, "out\n", 4) != 4 || write(2, "err\n", 4) != 4)
			return 1;
		n = read(0, &c, 1);
		if (write(1, n == 0 ? "eof\n" : "data\n", n == 0 ? 4 : 5) < 0)
			return 1;
		return 0;
	}
	if (!strcmp(name, "block")) {
		/* Wait for stdin to close (it never does: we are killed). */
		char c;
		if (write(1, "up\n", 3) != 3)
			return 1;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	if (!strcmp(name, "echo") && argc >= 2) {
		printf("%s\n", argv[1]);
		return 0;
	}
	fprintf(stderr, "unknown helper %s\n", name);
	return 2;
}

/* ---- test utilities ---- */

/* Read fd to EOF, failing the test after DEADLINE_MS. The caller frees. */
static char *read_all(int fd)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t deadline = time_mono_ms() + DEADLINE_MS;
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = time_mono_ms();
		ssize_t n;
		int r;

		if (now >= deadline)
			tap_fail(__FILE__, __LINE__,
				 "no EOF on the child's output before the deadline");
		r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		ASSERT_TRUE(r >= 0);
		if (r == 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		ASSERT_TRUE(n >= 0);
		if (n == 0)
			break;
		strbuf_add(&sb, buf, (size_t)n);
	}
	return strbuf_detach(&sb);
}

static int wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

/* Spawn o with stdout (and stderr, unless set) on a pipe; return the output
 * after checking the child exits 0. The caller frees. */
static char *run_capture(struct spawn_opts *o)
{
	struct spawn_error e = {0};
	int p[2], pidfd = -1;
	pid_t pid;
	char *out;

	ASSERT_OK(pipe2(p, O_CLOEXEC));
	o->stdout_fd = p[1];
	if (o->stderr_fd == -1)
		o->stderr_fd = p[1];
	ASSERT_OK(spawn_start(o, &pid, &pidfd, &e));
	ASSERT_TRUE(pid > 0);
	close(p[1]);
	out = read_all(p[0]);
	close(p[0]);
	if (pidfd >= 0)
		close(pidfd);
	ASSERT_EQ_INT(wait_exit(pid), 0);
	return out;
}

/* Memory a test keeps until it ends: freed at exit, so that LeakSanitizer
 * (which checks every test process under ASan) sees only real leaks. */
static struct strvec kept_vecs[64];
static size_t n_kept_vecs;
static void *kept[256];
static size_t n_kept;

static void free_kept(void)
{
	for (size_t i = 0; i < n_kept_vecs; i++)
		strvec_clear(&kept_vecs[i]);
	for (size_t i = 0; i < n_kept; i++)
		free(kept[i]);
}

static void *keep(void *p)
{
	ASSERT_TRUE(n_kept < ARRAY_SIZE(kept));
	kept[n_kept++] = p;
	return p;
}

/* A NULL-terminated copy of the arguments (string literals are const). */
static char **vec_of(const char *first, ...)
{
	struct strvec *sv;
	va_list ap;

	ASSERT_TRUE(n_kept_vecs < ARRAY_SIZE(kept_vecs));
	sv = &kept_vecs[n_kept_vecs++];
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		strvec_push(sv, s);
	va_end(ap);
	return (char **)strvec_argv(sv);
}

#define VEC(...) vec_of(__VA_ARGS__, (const char *)NULL)

#define OPTS_INIT(...)                                                                     \
	{                                                                                  \
		.argv = VEC(__VA_ARGS__), .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 \
	}

/* Expect spawn to fail in the child with stage and err; the child exits 127. */
static struct spawn_error expect_failure(struct spawn_opts *o, enum spawn_stage stage, int err)
{
	struct spawn_error e = {0};
	int pidfd = 7777, r;
	pid_t pid = 0;

	r = spawn_start(o, &pid, &pidfd, &e);
	ASSERT_EQ_INT(r, -err);
	ASSERT_EQ_INT(e.err, err);
	ASSERT_STREQ(spawn_stage_name(e.stage), spawn_stage_name(stage));
	ASSERT_TRUE(pid > 0);
	ASSERT_EQ_INT(pidfd, -1);
	ASSERT_EQ_INT(wait_exit(pid), 127);
	return e;
}

static char *tmpdir_make(void)
{
	char *d = keep(xstrdup("/tmp/berth-test-spawn-XXXXXX"));

	ASSERT_TRUE(mkdtemp(d) != NULL);
	return d;
}

static char *file_make(const char *dir, const char *name, mode_t mode)
{
	char *path = keep(xasprintf("%s/%s", dir, name));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	close(fd);
	ASSERT_OK(chmod(path, mode));
	return path;
}

static uint64_t status_field(const char *status, const char *key)
{
	const char *p = strstr(status, key);

	ASSERT_TRUE(p != NULL);
	return strtoull(p + strlen(key), NULL, 16);
}

static int ignore_raw(int sig)
{
	/* glibc's sigaction refuses its reserved signals 32 and 33. */
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask;
	} act = {.handler = SIG_IGN};

	return (int)syscall(SYS_rt_sigaction, sig, &act, NULL, sizeof(act.mask));
}

/* ---- tests ---- */

/* The child starts with default dispositions and an empty mask whatever we
 * ignore or block. /bin/cat reads its own status: a fresh, uninstrumented
 * program (the sanitizers install handlers in our own helper). */
static void test_signals_reset(void)
{
	struct spawn_opts o = OPTS_INIT("/bin/cat", "/proc/self/status");
	sigset_t block;
	char *out;

	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGRTMIN, SIG_IGN);
	ASSERT_OK(ignore_raw(32));
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR2);
	ASSERT_OK(sigprocmask(SIG_BLOCK, &block, NULL));

	out = run_capture(&o);
	ASSERT_EQ_INT(status_field(out, "SigBlk:"), 0);
	ASSERT_EQ_INT(status_field(out, "SigIgn:"), 0);
	ASSERT_EQ_INT(status_field(out, "SigCgt:"), 0);
	free(out);

	/* and our own mask is back as it was */
	sigset_t now;
	ASSERT_OK(sigprocmask(SIG_SETMASK, NULL, &now));
	ASSERT_TRUE(sigismember(&now, SIGTERM) && sigismember(&now, SIGUSR2));
	ASSERT_FALSE(sigismember(&now, SIGHUP));
}

/* Only 0, 1, 2 reach the child, even fds we opened without O_CLOEXEC. */
static void test_fds_only_stdio(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "fds");
	int p[2];
	char *out;

	for (int i = 0; i < 4; i++)
		ASSERT_TRUE(open("/dev/null", O_RDONLY) >= 0);
	ASSERT_OK(pipe(p));
	ASSERT_TRUE(dup(1) >= 0);
	out = run_capture(&o);
	ASSERT_STREQ(out, "0 1 2\n");
	free(out);
}

/* 1000 open, inheritable fds: none leak. */
static void test_fds_1000_do_not_leak(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "fds");
	struct rlimit rl;
	int null;
	char *out;

	ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1100)
		tap_skip("RLIMIT_NOFILE hard limit below 1100");
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1100) {
		rl.rlim_cur = 1100;
		ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
	}
	null = open("/dev/null", O_RDONLY);
	ASSERT_TRUE(null >= 0);
	for (int i = 0; i < 1000; i++)
		ASSERT_TRUE(dup(null) >= 0);
	out = run_capture(&o);
	ASSERT_STREQ(out, "0 1 2\n");
	free(out);
}

/* The child runs in the directory asked for. */
static void test_cwd(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "cwd");
	char *dir = tmpdir_make(), *want, *out;

	want = keep(realpath(dir, NULL));
	ASSERT_TRUE(want != NULL);
	o.cwd = dir;
	out = run_capture(&o);
	ASSERT_STREQ(out, keep(xasprintf("%s\n", want)));
	free(out);
	rmdir(dir);
}

/* envp is the child's whole environment. */
static void test_env_exact(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "env");
	char *out;

	o.envp = VEC("A=1", "B=2");
	out = run_capture(&o);
	ASSERT_STREQ(out, "A=1\nB=2\n");
	free(out);
}

static void ids_of(struct spawn_opts *o, long *pid, long *pgid, long *sid)
{
	char *out = run_capture(o);

	ASSERT_EQ_INT(sscanf(out, "%ld %ld %ld", pid, pgid, sid), 3);
	free(out);
}

static void test_new_session(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "ids");
	long pid, pgid, sid;

	o.new_session = true;
	ids_of(&o, &pid, &pgid, &sid);
	ASSERT_EQ_INT(sid, pid);
	ASSERT_EQ_INT(pgid, pid);
}

static void test_new_pgroup(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "ids");
	long pid, pgid, sid;

	o.new_pgroup = true;
	ids_of(&o, &pid, &pgid, &sid);
	ASSERT_EQ_INT(pgid, pid);
	ASSERT_EQ_INT(sid, getsid(0));
}

static void test_same_pgroup_by_default(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "ids");
	long pid, pgid, sid;

	ids_of(&o, &pid, &pgid, &sid);
	ASSERT_EQ_INT(pgid, getpgid(0));
	ASSERT_EQ_INT(sid, getsid(0));
}

static void test_pdeath_sig_set(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "pdeath");
	char *out;

	o.pdeath_sig = SIGUSR1;
	out = run_capture(&o);
	ASSERT_STREQ(out, keep(xasprintf("%d\n", SIGUSR1)));
	free(out);
	o.pdeath_sig = 0;
	o.stderr_fd = -1;
	out = run_capture(&o);
	ASSERT_STREQ(out, "0\n");
	free(out);
}

/* When the spawning process dies, the child gets pdeath_sig: its stdout pipe
 * reaches EOF although nothing closes its stdin. */
static void test_pdeath_sig_kills_on_parent_exit(void)
{
	int out[2], in[2];
	pid_t mid;
	char *got;

	ASSERT_OK(pipe2(out, O_CLOEXEC));
	ASSERT_OK(pipe2(in, O_CLOEXEC));
	mid = fork();
	ASSERT_TRUE(mid >= 0);
	if (mid == 0) {
		struct spawn_opts o = OPTS_INIT(SELF, "--helper", "block");
		pid_t pid;

		o.stdin_fd = in[0];
		o.stdout_fd = out[1];
		o.pdeath_sig = SIGKILL;
		_exit(spawn_start(&o, &pid, NULL, NULL) < 0 ? 1 : 0);
	}
	close(out[1]);
	close(in[0]);
	ASSERT_EQ_INT(wait_exit(mid), 0);
	got = read_all(out[0]); /* EOF: the orphan was killed */
	ASSERT_TRUE(!strcmp(got, "up\n") || !strcmp(got, ""));
	free(got);
	close(in[1]);
}

/* stdout and stderr share one pipe in order; stdin is /dev/null. */
static void test_stdout_stderr_one_pipe_stdin_null(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "outerr");
	char *out = run_capture(&o);

	ASSERT_STREQ(out, "out\nerr\neof\n");
	free(out);
}

/* Sources already in 0-2, crossed: our 2 becomes the child's 1 and our 1 its 2. */
static void test_fds_crossed_in_stdio_range(void)
{
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "outerr");
	int a[2], b[2], saved1, saved2, r;
	char *ga, *gb;
	pid_t pid;

	ASSERT_OK(pipe2(a, O_CLOEXEC));
	ASSERT_OK(pipe2(b, O_CLOEXEC));
	saved1 = fcntl(1, F_DUPFD_CLOEXEC, 3);
	saved2 = fcntl(2, F_DUPFD_CLOEXEC, 3);
	fflush(stdout);
	dup2(a[1], 1);
	dup2(b[1], 2);
	o.stdout_fd = 2;
	o.stderr_fd = 1;
	r = spawn_start(&o, &pid, NULL, NULL);
	dup2(saved1, 1);
	dup2(saved2, 2);
	ASSERT_OK(r);
	close(a[1]);
	close(b[1]);
	ga = read_all(a[0]);
	gb = read_all(b[0]);
	ASSERT_EQ_INT(wait_exit(pid), 0);
	ASSERT_STREQ(ga, "err\n");
	ASSERT_STREQ(gb, "out\neof\n");
	free(ga);
	free(gb);
}

/* We were started with 0 and 1 closed: the error pipe lands in 0-1 and must
 * survive the child's dup2s. */
static void test_error_pipe_in_stdio_range(void)
{
	struct spawn_opts o = OPTS_INIT("/nonexistent/berth-prog");
	struct spawn_error e = {0};
	int null, p[2], saved1, r1, r2;
	pid_t pid1, pid2;
	char *out;

	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_OK(pipe2(p, O_CLOEXEC));
	saved1 = fcntl(1, F_DUPFD_CLOEXEC, 3);
	fflush(stdout);
	close(0);
	close(1);
	o.stdin_fd = null;
	o.stdout_fd = p[1];
	o.stderr_fd = p[1];
	r1 = spawn_start(&o, &pid1, NULL, &e);
	o.argv = VEC(SELF, "--helper", "echo", "hi");
	r2 = spawn_start(&o, &pid2, NULL, NULL);
	dup2(saved1, 1);
	ASSERT_EQ_INT(r1, -ENOENT);
	ASSERT_STREQ(spawn_stage_name(e.stage), "exec");
	ASSERT_EQ_INT(wait_exit(pid1), 127);
	ASSERT_OK(r2);
	close(p[1]);
	out = read_all(p[0]);
	ASSERT_EQ_INT(wait_exit(pid2), 0);
	ASSERT_STREQ(out, "hi\n");
	free(out);
}

static void test_fail_missing_program(void)
{
	struct spawn_opts o = OPTS_INIT("/nonexistent/berth-prog");
	struct spawn_error e = expect_failure(&o, SPAWN_STAGE_EXEC, ENOENT);
	char *t = spawn_error_text(&o, &e);

	ASSERT_STREQ(t, "cannot run '/nonexistent/berth-prog': No such file or directory");
	free(t);
}

static void test_fail_not_executable(void)
{
	char *dir = tmpdir_make(), *f = file_make(dir, "x", 0644), *t;
	struct spawn_opts o = OPTS_INIT("./x");
	struct spawn_error e;

	o.cwd = dir; /* "./x" is found after the chdir */
	e = expect_failure(&o, SPAWN_STAGE_EXEC, EACCES);
	t = spawn_error_text(&o, &e);
	ASSERT_STREQ(t, "cannot run './x': Permission denied");
	free(t);
	unlink(f);
	rmdir(dir);
}

static void test_fail_directory(void)
{
	char *dir = tmpdir_make();
	struct spawn_opts o = OPTS_INIT(dir);

	expect_failure(&o, SPAWN_STAGE_EXEC, EACCES);
	rmdir(dir);
}

static void test_fail_bad_cwd(void)
{
	char *dir = tmpdir_make(), *t;
	struct spawn_opts o = OPTS_INIT(SELF, "--helper", "echo", "no");
	struct spawn_error e;

	ASSERT_OK(chdir(dir));
	o.cwd = "apps/web";
	e = expect_failure(&o, SPAWN_STAGE_CHDIR, ENOENT);
	t = spawn_error_text(&o, &e);
	ASSERT_STREQ(t, "cannot enter 'apps/web' (cwd of the service): No such file or directory");
	free(t);
	rmdir(dir);
}

static void test_fail_path_no_match(void)
{
	struct spawn_opts o = OPTS_INIT("berth-no-such-program");
	struct spawn_error e;
	char *t;

	o.envp = VEC("PATH=/nonexistent-a:/nonexistent-b");
	e = expect_failure(&o, SPAWN_STAGE_EXEC, ENOENT);
	t = spawn_error_text(&o, &e);
	ASSERT_STREQ(t, "cannot run 'berth-no-such-program': no such program in PATH");
	free(t);
}

/* PATH: a non-executable match first and an executable one later runs the
 * later one; the non-executable one alone gives EACCES. */
static void test_path_skips_non_executable(void)
{
	char *a = tmpdir_make(), *b = tmpdir_make(), *fa = file_make(a, "prog", 0644);
	char *fb = keep(xasprintf("%s/prog", b)), *self = keep(xstrdup(SELF)), *out;
	struct spawn_opts o = OPTS_INIT("prog", "--helper", "echo", "later");

	ASSERT_OK(symlink(self, fb));
	o.envp = VEC(keep(xasprintf("PATH=/nonexistent:%s:%s", a, b)));
	out = run_capture(&o);
	ASSERT_STREQ(out, "later\n");
	free(out);

	o.envp = VEC(keep(xasprintf("PATH=%s:/nonexistent", a)));
	o.stdout_fd = o.stderr_fd = -1;
	expect_failure(&o, SPAWN_STAGE_EXEC, EACCES);
	unlink(fa);
	unlink(fb);
	rmdir(a);
	rmdir(b);
}

/* Without envp, the search uses our PATH. */
static void test_path_from_our_environ(void)
{
	struct spawn_opts o = OPTS_INIT("echo", "ours");
	char *out;

	ASSERT_OK(setenv("PATH", "/nonexistent:/bin:/usr/bin", 1));
	out = run_capture(&o);
	ASSERT_STREQ(out, "ours\n");
	free(out);
}

static void test_invalid_arguments(void)
{
	struct spawn_opts o = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
	pid_t pid = 0;

	ASSERT_EQ_INT(spawn_start(&o, &pid, NULL, NULL), -EINVAL);
	ASSERT_EQ_INT(pid, -1);
	o.argv = VEC("/bin/true");
	o.pdeath_sig = 999;
	ASSERT_EQ_INT(spawn_start(&o, &pid, NULL, NULL), -EINVAL);
	ASSERT_EQ_INT(pid, -1);
}

static void test_pidfd_returned(void)
{
	struct spawn_opts o = OPTS_INIT("/bin/true");
	int pidfd = -1;
	pid_t pid;

	ASSERT_OK(spawn_start(&o, &pid, &pidfd, NULL));
	if (pidfd < 0) {
		wait_exit(pid);
		tap_skip("pidfd_open unavailable (kernel before 5.3, or valgrind)");
	}
	ASSERT_TRUE(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	ASSERT_EQ_INT(poll(&p, 1, DEADLINE_MS), 1); /* readable once it exits */
	ASSERT_EQ_INT(wait_exit(pid), 0);
	close(pidfd);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* valgrind preloads its vgpreload_*.so into the programs it runs. */
static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

#define RUNS 200

/* Time spawn_start from call to return, median over RUNS. */
static uint64_t time_spawn(struct spawn_opts *o, bool want_ok, uint64_t *min, uint64_t *max)
{
	static uint64_t ns[RUNS];

	for (int i = 0; i < RUNS; i++) {
		uint64_t t0;
		pid_t pid;
		int r;

		t0 = time_mono_ns();
		r = spawn_start(o, &pid, NULL, NULL);
		ns[i] = time_mono_ns() - t0;
		ASSERT_EQ_INT(r >= 0, want_ok);
		ASSERT_EQ_INT(wait_exit(pid), want_ok ? 0 : 127);
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_u64);
	*min = ns[0];
	*max = ns[RUNS - 1];
	return ns[RUNS / 2];
}

static void test_spawn_timing(void)
{
	struct spawn_opts fail = OPTS_INIT("/nonexistent/berth-prog");
	struct spawn_opts ok = OPTS_INIT("/bin/true");
	uint64_t fmed, fmin, fmax, smed, smin, smax;

	fmed = time_spawn(&fail, false, &fmin, &fmax);
	smed = time_spawn(&ok, true, &smin, &smax);
	printf("# spawn_start, failing exec (missing program): median %.3f ms (min %.3f, max %.3f, "
	       "n=%d)\n",
	       fmed / 1e6, fmin / 1e6, fmax / 1e6, RUNS);
	printf("# spawn_start, /bin/true exec'd: median %.3f ms (min %.3f, max %.3f, n=%d)\n",
	       smed / 1e6, smin / 1e6, smax / 1e6, RUNS);
	/* Errors come back synchronously, from spawn_start itself: no timer.
	 * Typically 0.2-0.3 ms here; the bound leaves room for a loaded machine
	 * (medians up to 4 ms seen with both cores busy, more under ASan in CI):
	 * it only proves the answer is synchronous, not a fixed wait of seconds. Under valgrind the
	 * child runs (and exits) under the tool: no bound. */
	if (!under_valgrind())
		ASSERT_TRUE(fmed < 500 * 1000000ULL);
}

#define CG_RUNS 15

/* The child starts in (or enters) the cgroup of cgroup_fd before it
 * execs: made inside it by clone3, or by a write to cgroup.procs; a failed
 * exec is reported the same either way. Also times both. */
static void test_cgroup(void)
{
	char *base = NULL, *why = NULL, *path, *want, *out;
	uint64_t ns[2][CG_RUNS];
	int fd;

	if (cgroup_base(&base, &why) < 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", why);
		free(why);
		tap_skip(msg);
	}
	path = keep(xasprintf("%s/test-spawn-%d", base, (int)getpid()));
	free(base);
	ASSERT_OK(cgroup_make(path));
	fd = cgroup_dir_fd(path);
	ASSERT_OK(fd);
	want = keep(xasprintf("/test-spawn-%d\n", (int)getpid()));
	for (int by_write = 0; by_write < 2; by_write++) {
		struct spawn_opts o = OPTS_INIT("/bin/cat", "/proc/self/cgroup");
		struct spawn_opts fail = OPTS_INIT("/nonexistent/berth-prog");
		struct spawn_opts ok = OPTS_INIT("/bin/true");

		spawn_cgroup_by_write(by_write);
		o.cgroup_fd = fail.cgroup_fd = ok.cgroup_fd = fd;
		out = run_capture(&o);
		ASSERT_TRUE(strstr(out, "0::") != NULL);
		ASSERT_TRUE(strlen(out) >= strlen(want) &&
			    !strcmp(out + strlen(out) - strlen(want), want));
		free(out);
		expect_failure(&fail, SPAWN_STAGE_EXEC, ENOENT);
		/* 30 ms apart, as a service's starts come: a write's wait for an
		 * RCU grace period is shared only by writes close together */
		for (int i = 0; i < CG_RUNS; i++) {
			uint64_t t0;
			pid_t pid;

			usleep(30000);
			t0 = time_mono_ns();
			ASSERT_OK(spawn_start(&ok, &pid, NULL, NULL));
			ns[by_write][i] = time_mono_ns() - t0;
			ASSERT_EQ_INT(wait_exit(pid), 0);
		}
		qsort(ns[by_write], CG_RUNS, sizeof(ns[0][0]), cmp_u64);
	}
	spawn_cgroup_by_write(false);
	printf("# spawn_start of /bin/true into a cgroup, 30 ms apart: made inside it (clone3) "
	       "median %.3f ms, entered by a write to cgroup.procs median %.3f ms (n=%d)\n",
	       ns[0][CG_RUNS / 2] / 1e6, ns[1][CG_RUNS / 2] / 1e6, CG_RUNS);
	close(fd);
	ASSERT_OK(rmdir(path) == 0 ? 0 : -errno);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_signals_reset),
	TAP_TEST(test_fds_only_stdio),
	TAP_TEST(test_fds_1000_do_not_leak),
	TAP_TEST(test_cwd),
	TAP_TEST(test_env_exact),
	TAP_TEST(test_new_session),
	TAP_TEST(test_new_pgroup),
	TAP_TEST(test_same_pgroup_by_default),
	TAP_TEST(test_pdeath_sig_set),
	TAP_TEST(test_pdeath_sig_kills_on_parent_exit),
	TAP_TEST(test_stdout_stderr_one_pipe_stdin_null),
	TAP_TEST(test_fds_crossed_in_stdio_range),
	TAP_TEST(test_error_pipe_in_stdio_range),
	TAP_TEST(test_fail_missing_program),
	TAP_TEST(test_fail_not_executable),
	TAP_TEST(test_fail_directory),
	TAP_TEST(test_fail_bad_cwd),
	TAP_TEST(test_fail_path_no_match),
	TAP_TEST(test_path_skips_non_executable),
	TAP_TEST(test_path_from_our_environ),
	TAP_TEST(test_invalid_arguments),
	TAP_TEST(test_pidfd_returned),
	TAP_TEST(test_cgroup),
	TAP_TEST(test_spawn_timing),
};

int main(int argc, char **argv)
{
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);

	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self_path[n] = '\0';
	atexit(free_kept);
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
