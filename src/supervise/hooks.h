/*
 * hooks.h: running a lifecycle hook (pre_up, pre_spawn, post_up, pre_down,
 * post_down): `/bin/sh -c COMMAND` through spawn and the reaper, in its own
 * process group, its output on our stderr or handed to a callback (never
 * stdout: `--json` stays one document), ended at hooks.timeout (TERM, then
 * KILL) or on a signal.
 */
#ifndef BERTH_HOOKS_H
#define BERTH_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hook_result {
	int wstatus;      /* as from waitpid; valid when ran */
	bool ran;         /* the hook started */
	bool timed_out;   /* stopped at the timeout */
	bool interrupted; /* stopped because sigfd fired */
	uint64_t ms;      /* how long it ran */
	char *error;      /* why it could not start, or NULL (caller frees) */
};

/* The leaf of a session's cgroup where its hooks run. */
#define HOOKS_CGROUP "hook"

/* Where a hook's output goes: with fn NULL it writes to our stderr itself;
 * else its stdout and stderr are one pipe, read as the hook runs and handed
 * to fn in pieces as they come (what is still buffered when the hook ends is
 * read then; a process it left running is not waited for). */
struct hook_output {
	void (*fn)(const char *buf, size_t len, void *data);
	void *data;
};

/* Run command in cwd with envp, in cgroup (NULL: none; made when missing).
 * 0 when it exited 0; -EIO when it failed (status, signal, timeout: see
 * *ret), -EINTR when sigfd (>= 0) fired, -ENOEXEC when it could not start.
 * At the timeout or a signal its process group and descendants are stopped
 * (TERM, KILL 2 s later; a second signal: KILL). */
int hooks_run(const char *command, const char *cwd, char *const *envp, const char *cgroup,
	      uint64_t timeout_ms, int sigfd, const struct hook_output *out,
	      struct hook_result *ret);
/* "exited with status 3", "timed out after 10 s", ... into buf. */
void hooks_result_text(const struct hook_result *r, char *buf, size_t size);

#endif
