/*
 * job.h: a program run as our child on a libev loop, the tail of its stderr
 * kept, its end told once: how `berth watch` runs its actions and `berth
 * shutdown` its downs (each a berth command of its own). Starting goes
 * through child_start on the caller's reaper, the only code that reaps.
 */
#ifndef BERTH_PROC_JOB_H
#define BERTH_PROC_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proc/reaper.h"
#include "proc/spawn.h"
#include "util/strbuf.h"

struct job;
/* Called once, when the job was reaped and what it wrote to stderr read:
 * code is its exit status, or 128 + the signal that killed it. The job may
 * be destroyed from it. */
typedef void (*job_done_fn)(struct job *j, int code, void *data);

/* Start o (its stderr_fd is replaced by a pipe read on loop; at most keep
 * bytes of its end are kept) and watch it on r, which runs on loop. 0 with
 * *ret; -errno with *ret_why (caller frees) saying why it could not start
 * (no callback then). */
int job_start(struct ev_loop *loop, struct reaper *r, const struct spawn_opts *o, size_t keep,
	      job_done_fn cb, void *data, struct job **ret, char **ret_why);
/* Its pid (its process group's id too when o->new_pgroup was set). */
pid_t job_pid(const struct job *j);
/* Send sig to the job (group: to its process group, when it made one),
 * while it runs: -ESRCH once it was reaped. */
int job_signal(struct job *j, int sig, bool group);
/* The last non-empty line of what it wrote to stderr, appended to out. */
void job_last_line(const struct job *j, struct strbuf *out);
/* Free j: after its callback, or a job still running, which is then
 * forgotten (its pipe closed; not signalled). A running job's reaper must be
 * destroyed before its loop runs again: it would call back into j. NULL is
 * a no-op. */
void job_destroy(struct job *j);

#endif
