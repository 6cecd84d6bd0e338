/*
 * pidref.h: a reference to one process that owns its pidfd: pid, pidfd and
 * start time (systemd's PidRef is the model). Opened from an identity (pid +
 * start time) and checked once the pidfd is held, so that a signal sent
 * through it reaches that very process and never one that now wears its pid.
 * Where no pidfd can be had (old kernels, seccomp answering EPERM, valgrind,
 * no fd to spare) the reference holds none and falls back to kill(2) right
 * after an identity check: every pidfd_open failure but ESRCH means "use the
 * fallback", never "cannot signal".
 */
#ifndef BERTH_PROC_PIDREF_H
#define BERTH_PROC_PIDREF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe/proc.h"

struct pidref {
	pid_t pid;
	int fd; /* pidfd, or -1 (the kill(2) fallback) */
	uint64_t start_time;
};

#define PIDREF_NULL ((struct pidref){.pid = 0, .fd = -1, .start_time = 0})

/* A pidfd of pid, or -errno; the raw call, for the reaper and spawn. */
int pidref_pidfd_open(pid_t pid);
/* Open a reference to the running process id names. -ESRCH when it is gone,
 * a zombie, or another process now has its pid. */
int pidref_open(const struct proc_ref *id, struct pidref *ret);
/* Send sig: through the pidfd, or kill(2) after an identity check. */
int pidref_signal(const struct pidref *p, int sig);
/* Close the pidfd (the reference stays an identity). */
void pidref_close(struct pidref *p);
/* Open, signal (and SIGCONT after it when cont and sig is not KILL/CONT, so
 * a stopped process acts on it), close: one process, no fd kept. */
int pidref_signal_once(const struct proc_ref *id, int sig, bool cont);
/* Wait until the process id names is gone (exited, or its pid taken by
 * another), at most timeout_ms: through its pidfd, else a look every 10 ms.
 * True when it is gone. */
bool pidref_wait_gone(const struct proc_ref *id, uint64_t timeout_ms);

#endif
