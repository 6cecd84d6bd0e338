/*
 * spawn.c: fork-exec with the discipline of DESIGN.md (decisions 2, 4, 7, 8).
 *
 * Everything the child needs (argv, envp, the candidate paths of a PATH
 * search, /dev/null, the error pipe, a stack) is prepared before the child
 * exists. The child is created with clone(CLONE_VM | CLONE_VFORK): it borrows
 * our memory and we are suspended until it has exec'd or exited, as with
 * posix_spawn, so the cost does not grow with our size (performance.md §1).
 * Sharing memory means the child must only read what we prepared and make raw,
 * async-signal-safe system calls: no allocation, no stdio, no locks.
 *
 * A child that starts in a cgroup is made by clone3(CLONE_INTO_CGROUP)
 * instead, as a fork: see clone_into_cgroup.
 *
 * We block every signal around clone so that none of our handlers can run in
 * the child; the child sets every disposition to default and empties its mask
 * (signals_reset_for_exec), enters its own session or process group when
 * asked, sets its parent-death signal, moves the three fds into 0-2, marks
 * every other fd close-on-exec (close_range), changes directory and execs.
 * Any failure is written as a struct spawn_error to a close-on-exec pipe: we
 * read EOF when exec succeeded, a record when it did not. We never reap: the
 * child (exited or running) belongs to the reaper.
 */
#include "util/common.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc/pidref.h"
#include "proc/spawn.h"
#include "util/signals.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

/* The child runs on its own small stack in our address space. */
#define CHILD_STACK_SIZE (256 * 1024)

/* What the child reads; it lives in spawn_start's frame, which the suspended
 * parent does not touch until the child has exec'd or exited. */
struct child_ctx {
	const struct spawn_opts *o;
	char *const *cands; /* NULL-terminated candidate paths for execve */
	char *const *envp;
	int fds[3];     /* sources for 0, 1, 2 */
	int errfd;      /* write end of the error pipe, close-on-exec */
	pid_t parent;   /* our pid, to detect that we died before PDEATHSIG was set */
	long fd_max;    /* fallback bound when close_range is missing */
	bool in_cgroup; /* made inside o->cgroup_fd's cgroup (clone3) */
};

/* The child must not be instrumented: it runs on a stack the sanitizers do
 * not know, and their no-return hooks would complain on it. */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

CHILD_CODE __attribute__((noreturn)) static void child_fail(int errfd, enum spawn_stage stage,
							    int err)
{
	struct spawn_error e = {.stage = stage, .err = err};
	ssize_t n;

	do
		n = write(errfd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

/* fd itself when it is above 2 (or -1), else a close-on-exec copy above 2. */
CHILD_CODE static int child_fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* The 32-bit ids calls where the plain ones take 16-bit ids (i386, arm). */
#ifdef SYS_setuid32
#define SYS_SETUID SYS_setuid32
#define SYS_SETGID SYS_setgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETUID SYS_setuid
#define SYS_SETGID SYS_setgid
#define SYS_SETGROUPS SYS_setgroups
#endif

CHILD_CODE static int child_main(void *arg)
{
	const struct child_ctx *c = arg;
	const struct spawn_opts *o = c->o;
	int errfd = c->errfd, src[3], err;
	bool eacces = false;

	/* Signals were all blocked by the parent: no handler of ours can run
	 * here. Default dispositions first, then the empty mask. */
	signals_reset_for_exec();

	/* Into the service's cgroup first, unless it was born there: whatever
	 * it starts from now on is contained there. */
	if (o->cgroup_fd > 0 && !c->in_cgroup) {
		int procs = openat(o->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);

		if (procs < 0 || write(procs, "0", 1) < 0)
			child_fail(errfd, SPAWN_STAGE_CGROUP, errno);
		close(procs);
	}
	if (o->new_session) {
		if (setsid() < 0)
			child_fail(errfd, SPAWN_STAGE_SETSID, errno);
	} else if (o->new_pgroup) {
		if (setpgid(0, 0) < 0)
			child_fail(errfd, SPAWN_STAGE_SETPGID, errno);
	}
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(errfd, SPAWN_STAGE_CHDIR, errno);
	/* Raw system calls: glibc's wrappers would ask every thread of the
	 * parent (whose memory we share) to change too. */
	if (o->set_user && (syscall(SYS_SETGROUPS, o->n_groups, o->groups) < 0 ||
			    syscall(SYS_SETGID, o->gid) < 0 || syscall(SYS_SETUID, o->uid) < 0))
		child_fail(errfd, SPAWN_STAGE_USER, errno);
	if (o->pdeath_sig) {
		if (prctl(PR_SET_PDEATHSIG, (unsigned long)o->pdeath_sig) < 0)
			child_fail(errfd, SPAWN_STAGE_NONE, errno);
		/* The parent may have died before the prctl: then nobody would
		 * ever send the signal. */
		if (getppid() != c->parent) {
			kill(getpid(), o->pdeath_sig);
			_exit(127);
		}
	}

	/* The error pipe and the sources may sit in 0-2 (our parent may have
	 * started us with those closed): lift them all above 2 before dup2
	 * writes 0-2, so that no dup2 clobbers a source still needed. dup2 onto
	 * a different fd clears close-on-exec on the target. */
	errfd = child_fd_above_stdio(errfd);
	if (errfd < 0)
		child_fail(c->errfd, SPAWN_STAGE_FDS, errno);
	for (int i = 0; i < 3; i++) {
		src[i] = child_fd_above_stdio(c->fds[i]);
		if (src[i] < 0)
			child_fail(errfd, SPAWN_STAGE_FDS, errno);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(src[i], i) < 0)
			child_fail(errfd, SPAWN_STAGE_FDS, errno);
	/* Every fd above 2 becomes close-on-exec: whatever sqlite, libgit2 or
	 * our own parent left open vanishes at exec, and the error pipe stays
	 * usable until then. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (long fd = 3; fd < c->fd_max; fd++)
			fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}

	if (o->ctty && ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(errfd, SPAWN_STAGE_TTY, errno);

	/* execvpe's rules: skip candidates that are missing, remember one that
	 * exists but cannot be run, stop at any other error. */
	err = ENOENT;
	for (char *const *p = c->cands; *p; p++) {
		execve(*p, o->argv, c->envp);
		err = errno;
		switch (err) {
		case EACCES:
			eacces = true;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
			break;
		default:
			child_fail(errfd, SPAWN_STAGE_EXEC, err);
		}
	}
	child_fail(errfd, SPAWN_STAGE_EXEC, eacces ? EACCES : err);
}

/* The value of PATH in envp, or glibc's default when it has none. */
static const char *path_of(char *const *envp)
{
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			return *e + 5;
	return "/bin:/usr/bin";
}

/* The paths the child will try, in order; NULL-terminated. */
static void candidates_build(const struct spawn_opts *o, char *const *envp, struct strvec *out)
{
	const char *file = o->path ? o->path : o->argv[0];
	const char *dir, *end;

	if (o->path || strchr(file, '/')) {
		strvec_push(out, file);
		return;
	}
	if (!*file)
		return; /* nothing to try: ENOENT */
	for (dir = path_of(envp);; dir = end + 1) {
		end = strchrnul(dir, ':');
		if (end == dir)
			strvec_pushf(out, "./%s", file); /* empty entry: the cwd */
		else
			strvec_pushf(out, "%.*s/%s", (int)(end - dir), dir, file);
		if (!*end)
			break;
	}
}

/* struct clone_args of <linux/sched.h> up to cgroup (CLONE_ARGS_SIZE_VER2),
 * whose header clashes with glibc's <sched.h>. */
struct clone3_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	uint64_t set_tid, set_tid_size, cgroup;
};
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/*
 * The child made inside the cgroup of cgroup_fd: clone3(CLONE_INTO_CGROUP).
 * Entering it afterwards, by a write to cgroup.procs, takes the cgroup
 * core's thread-group lock for writing, which waits for an RCU grace period
 * (about 10 ms on the benchmark machine, at every start and restart of a
 * service: bench/README.md, services); being born there does not. clone3
 * cannot run the child on a stack of ours without assembly, so this child
 * is a fork (a copy-on-write copy of our memory, which the shim keeps small)
 * and runs child_main on its copy of our stack. The pid; -errno when clone3
 * or CLONE_INTO_CGROUP is refused (an older kernel, a v1-only cgroup), and
 * then the caller makes the child the usual way.
 */
static bool clone3_refused;

void spawn_cgroup_by_write(bool on)
{
	clone3_refused = on;
}

static pid_t clone_into_cgroup(struct child_ctx *c)
{
	struct clone3_args a = {.flags = SPAWN_CLONE_INTO_CGROUP,
				.exit_signal = SIGCHLD,
				.cgroup = (uint64_t)c->o->cgroup_fd};
	long pid;

	if (clone3_refused)
		return -ENOSYS;
	c->in_cgroup = true;
	pid = syscall(SYS_clone3, &a, sizeof(a));
	if (pid == 0)
		child_main(c); /* does not return */
	if (pid > 0)
		return (pid_t)pid;
	c->in_cgroup = false;
	clone3_refused = errno == ENOSYS || errno == E2BIG;
	return -errno;
}

/* The usual child: clone(CLONE_VM | CLONE_VFORK) on a small stack of its
 * own, which is ours again once it has exec'd or exited. The pid, or -1
 * with errno. */
static pid_t clone_vfork(struct child_ctx *c)
{
	void *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	pid_t pid;
	int err;

	if (stack == MAP_FAILED)
		return -1;
	pid = clone(child_main, (char *)stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD,
		    c);
	err = errno;
	munmap(stack, CHILD_STACK_SIZE);
	errno = err;
	return pid;
}

static long fd_max_get(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1 << 20))
		return 1 << 20;
	return (long)rl.rlim_cur;
}

int spawn_start(const struct spawn_opts *o, pid_t *ret_pid, int *ret_pidfd,
		struct spawn_error *ret_err)
{
	struct strvec cands = STRVEC_INIT;
	struct spawn_error rec = {SPAWN_STAGE_NONE, 0};
	struct child_ctx c = {0};
	sigset_t all, old;
	int pipefd[2] = {-1, -1}, nullfd = -1, pidfd = -1, r;
	ssize_t n;
	pid_t pid;

	*ret_pid = -1;
	if (ret_pidfd)
		*ret_pidfd = -1;
	if (!o || !o->argv || !o->argv[0] || o->pdeath_sig < 0 || o->pdeath_sig >= NSIG ||
	    (o->ctty && !o->new_session)) {
		r = -EINVAL;
		goto fail;
	}

	c.o = o;
	c.envp = o->envp ? o->envp : environ;
	candidates_build(o, c.envp, &cands);
	c.cands = strvec_argv(&cands);
	c.fd_max = fd_max_get();
	if (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0) {
		nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (nullfd < 0) {
			r = -errno;
			goto fail_cands;
		}
	}
	c.fds[0] = o->stdin_fd < 0 ? nullfd : o->stdin_fd;
	c.fds[1] = o->stdout_fd < 0 ? nullfd : o->stdout_fd;
	c.fds[2] = o->stderr_fd < 0 ? nullfd : o->stderr_fd;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail_null;
	}
	c.errfd = pipefd[1];
	c.parent = getpid();

	/* With every signal blocked none of our handlers can run in the child
	 * before it has reset them; the child inherits this mask and empties
	 * it. We get our own mask back once the child has exec'd or exited
	 * (CLONE_VFORK suspends us until then). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = o->cgroup_fd > 0 ? clone_into_cgroup(&c) : -1;
	if (pid < 0)
		pid = clone_vfork(&c);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (pid < 0)
		goto fail_pipe;

	/* The pid cannot be recycled before we read the pipe: the child is ours
	 * and unreaped. pidfds are always close-on-exec. */
	pidfd = pidref_pidfd_open(pid);
	if (pidfd < 0)
		pidfd = -1;

	do
		n = read(pipefd[0], &rec, sizeof(rec));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (nullfd >= 0)
		close(nullfd);
	strvec_clear(&cands);
	*ret_pid = pid;
	if (n == 0) {
		if (ret_pidfd)
			*ret_pidfd = pidfd;
		else if (pidfd >= 0)
			close(pidfd);
		return 0;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (n != (ssize_t)sizeof(rec) || rec.err <= 0)
		rec = (struct spawn_error){SPAWN_STAGE_NONE, n < 0 ? errno : EIO};
	if (ret_err)
		*ret_err = rec;
	return -rec.err;

fail_pipe:
	close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
fail_null:
	if (nullfd >= 0)
		close(nullfd);
fail_cands:
	strvec_clear(&cands);
fail:
	if (ret_err)
		*ret_err = (struct spawn_error){SPAWN_STAGE_NONE, -r};
	return r;
}

const char *spawn_stage_name(enum spawn_stage s)
{
	switch (s) {
	case SPAWN_STAGE_NONE:
		return "start";
	case SPAWN_STAGE_CGROUP:
		return "cgroup";
	case SPAWN_STAGE_SETSID:
		return "setsid";
	case SPAWN_STAGE_SETPGID:
		return "setpgid";
	case SPAWN_STAGE_FDS:
		return "fds";
	case SPAWN_STAGE_TTY:
		return "tty";
	case SPAWN_STAGE_CHDIR:
		return "chdir";
	case SPAWN_STAGE_USER:
		return "user";
	case SPAWN_STAGE_EXEC:
		return "exec";
	}
	return "unknown";
}

char *spawn_error_text(const struct spawn_opts *o, const struct spawn_error *e)
{
	const char *prog = o->path ? o->path : (o->argv && o->argv[0] ? o->argv[0] : "");
	const char *why = strerror(e->err);

	switch (e->stage) {
	case SPAWN_STAGE_EXEC:
		if (e->err == ENOENT && !o->path && !strchr(prog, '/'))
			return xasprintf("cannot run '%s': no such program in PATH", prog);
		return xasprintf("cannot run '%s': %s", prog, why);
	case SPAWN_STAGE_CHDIR:
		return xasprintf("cannot enter '%s' (cwd of the service): %s", o->cwd ? o->cwd : "",
				 why);
	case SPAWN_STAGE_SETSID:
		return xasprintf("cannot start a new session for '%s': %s", prog, why);
	case SPAWN_STAGE_SETPGID:
		return xasprintf("cannot start a new process group for '%s': %s", prog, why);
	case SPAWN_STAGE_FDS:
		return xasprintf("cannot set up stdin, stdout and stderr of '%s': %s", prog, why);
	case SPAWN_STAGE_TTY:
		return xasprintf("cannot give '%s' its terminal: %s", prog, why);
	case SPAWN_STAGE_CGROUP:
		return xasprintf("cannot move '%s' into its cgroup: %s", prog, why);
	case SPAWN_STAGE_USER:
		return xasprintf("cannot run '%s' as uid %u: %s%s", prog, (unsigned)o->uid, why,
				 e->err == EPERM ? " (running a service as another user needs "
						   "berth to run as root)"
						 : "");
	case SPAWN_STAGE_NONE:
		break;
	}
	return xasprintf("cannot start '%s': %s", prog, why);
}
