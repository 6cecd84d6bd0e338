/*
 * run.h: running a short command to completion (tmux, later docker): its
 * output captured, a deadline, its exit status. Synchronous: it reaps its
 * own child only, so it may run inside another event loop's callback.
 */
#ifndef BERTH_RUN_H
#define BERTH_RUN_H

#include <stdint.h>

#include "proc/spawn.h"
#include "util/strbuf.h"

/* Run o (its stdout/stderr fields are ignored; stdin is /dev/null unless
 * o->stdin_fd is set) until it exits, stdout appended to out and stderr to
 * err (either may be NULL: discarded). The program runs in a process group
 * of its own; at timeout_ms the group is KILLed and -ETIMEDOUT returned.
 * 0 with *ret_wstatus when it ran; -errno with *ret_err when it could not
 * start (see spawn_start). */
int spawn_run(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
	      struct strbuf *err, int *ret_wstatus, struct spawn_error *ret_err);

/* spawn_run for a command whose failure is told in words: 0 when it exited
 * with status 0. Else *why (may be NULL; caller frees) says what happened:
 * its stderr (trailing blanks dropped), or "`prog` exited with status N",
 * "`prog` did not finish within N s", why it could not start; and the
 * return is -ETIMEDOUT, the start error (-ENOENT: no such program), or
 * -EIO for a non-zero exit. */
int spawn_run_checked(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
		      char **why);

/* Work that goes on while a command of spawn_run_beside runs, in the same
 * poll: before each poll, fill puts the fds it waits for in p[0..max) and
 * returns how many, with *ret_due the CLOCK_MONOTONIC ms it wants to be
 * called at (UINT64_MAX: none); after it, step gets them back with their
 * revents (and is called at that time with none). Neither may run or reap
 * a child of its own. */
struct pollfd;
struct spawn_beside {
	size_t max_fds;
	size_t (*fill)(void *data, struct pollfd *p, size_t max, uint64_t *ret_due);
	void (*step)(void *data, const struct pollfd *p, size_t n);
	void *data;
};

/* spawn_run_checked with beside (may be NULL) turning while it runs. */
int spawn_run_checked_beside(const struct spawn_opts *o, uint64_t timeout_ms, struct strbuf *out,
			     char **why, const struct spawn_beside *beside);

#endif
