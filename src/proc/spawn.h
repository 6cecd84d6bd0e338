/*
 * spawn.h: starting a program with the discipline of DESIGN.md: argv, envp
 * and paths built before fork; in the child only async-signal-safe calls,
 * default dispositions for every signal and an empty mask, exactly fds 0-2
 * (close_range), optionally its own session or process group; a
 * close-on-exec error pipe that carries {stage, errno} so that an exec that
 * fails is reported at once, with its reason, by spawn_start itself.
 */
#ifndef BERTH_SPAWN_H
#define BERTH_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

enum spawn_stage {
	SPAWN_STAGE_NONE = 0,
	SPAWN_STAGE_CGROUP,
	SPAWN_STAGE_SETSID,
	SPAWN_STAGE_SETPGID,
	SPAWN_STAGE_FDS,
	SPAWN_STAGE_TTY,
	SPAWN_STAGE_CHDIR,
	SPAWN_STAGE_USER,
	SPAWN_STAGE_EXEC,
};

struct spawn_opts {
	const char *path;  /* the program; NULL: argv[0], searched in PATH of envp */
	char *const *argv; /* NULL-terminated */
	char *const *envp; /* NULL-terminated; NULL: our environ */
	const char *cwd;   /* NULL: ours */
	int stdin_fd;      /* -1: /dev/null */
	int stdout_fd;     /* -1: /dev/null */
	int stderr_fd;     /* -1: /dev/null; may equal stdout_fd */
	bool new_session;  /* setsid(): its own session and process group */
	bool new_pgroup;   /* setpgid(0, 0) (when not new_session) */
	bool ctty;         /* with new_session: stdin (a terminal) becomes the
			    * controlling terminal, the child its foreground group */
	int pdeath_sig;    /* 0, or a signal the child gets when we die */
	int cgroup_fd;     /* 0: none; else an fd on a cgroup v2 directory
			    * (cgroup_dir_fd) that the child starts in, or
			    * enters before anything else */
	/* set_user: the child drops to uid, gid and groups[0..n_groups)
	 * after its chdir (made with our rights) and before its parent-death
	 * signal is set (a change of credentials clears that). */
	bool set_user;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
};

struct spawn_error {
	enum spawn_stage stage;
	int err; /* errno of the failed step */
};

/* Start a child. On success *ret_pid is the running program's pid (exec has
 * already succeeded) and *ret_pidfd (may be NULL) a close-on-exec pidfd for
 * it (-1 when pidfds are not available). When a step in the child fails
 * (chdir, exec...), returns -errno with *ret_err (may be NULL) telling which
 * step; the child has exited with status 127, *ret_pid is still set and
 * *ret_pidfd is -1: the caller hands the pid to the reaper, the only code
 * that reaps. -errno with *ret_pid = -1 (and ret_err's stage NONE) when no
 * child was made: bad options (-EINVAL), clone, pipe or /dev/null failed.
 * A PATH search follows execvpe: PATH of envp (default "/bin:/usr/bin"),
 * relative entries and programs resolved after the chdir, EACCES when a match
 * exists but none could be run. pdeath_sig fires when the *thread* that called
 * spawn_start exits, not only the process. */
int spawn_start(const struct spawn_opts *o, pid_t *ret_pid, int *ret_pidfd,
		struct spawn_error *ret_err);

/* Enter cgroup_fd's cgroup by a write to its cgroup.procs between fork and
 * exec, as on a kernel without clone3's CLONE_INTO_CGROUP, instead of being
 * made inside it: for the tests of that path. */
void spawn_cgroup_by_write(bool on);
/* "exec", "chdir"... for messages. */
const char *spawn_stage_name(enum spawn_stage s);
/* "cannot run 'x': No such file or directory" style text for a failure. The
 * caller frees. */
char *spawn_error_text(const struct spawn_opts *o, const struct spawn_error *e);

#endif
