/*
 * pidref.c: process references that own their pidfd (see pidref.h).
 */
#include "util/common.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc/pidref.h"
#include "util/timeutil.h"

int pidref_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : fd;
}

int pidref_open(const struct proc_ref *id, struct pidref *ret)
{
	int fd;

	if (id->pid <= 1)
		return -ESRCH;
	fd = pidref_pidfd_open(id->pid);
	if (fd == -ESRCH)
		return -ESRCH;
	/* With the pidfd held the pid names that process (or its zombie); the
	 * identity is checked after, so a recycled pid is never taken. Without
	 * a pidfd the check is all there is. */
	if (!proc_is(id->pid, id->start_time)) {
		if (fd >= 0)
			close(fd);
		return -ESRCH;
	}
	*ret = (struct pidref){
		.pid = id->pid, .fd = fd >= 0 ? fd : -1, .start_time = id->start_time};
	return 0;
}

int pidref_signal(const struct pidref *p, int sig)
{
	if (p->pid <= 1)
		return -ESRCH;
	if (p->fd >= 0)
		return syscall(SYS_pidfd_send_signal, p->fd, sig, NULL, 0) < 0 ? -errno : 0;
	/* No pidfd: the identity is checked right before; a pid recycled in
	 * between is the remaining, tiny, risk. */
	if (p->start_time && !proc_is(p->pid, p->start_time))
		return -ESRCH;
	return kill(p->pid, sig) < 0 ? -errno : 0;
}

void pidref_close(struct pidref *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

int pidref_signal_once(const struct proc_ref *id, int sig, bool cont)
{
	struct pidref p;
	int r = pidref_open(id, &p);

	if (r < 0)
		return r;
	r = pidref_signal(&p, sig);
	if (r == 0 && cont && sig != SIGKILL && sig != SIGCONT)
		pidref_signal(&p, SIGCONT);
	pidref_close(&p);
	return r;
}

bool pidref_wait_gone(const struct proc_ref *id, uint64_t timeout_ms)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct pidref p;

	if (pidref_open(id, &p) < 0)
		return true;
	for (;;) {
		uint64_t now = time_mono_ms();
		struct pollfd pfd = {.fd = p.fd, .events = POLLIN};

		if (!proc_is(id->pid, id->start_time))
			break;
		if (now >= deadline) {
			pidref_close(&p);
			return false;
		}
		/* a pidfd is readable when the process exits; without one, look
		 * again in 10 ms */
		if (p.fd >= 0)
			poll(&pfd, 1, (int)(deadline - now));
		else
			poll(NULL, 0, 10);
	}
	pidref_close(&p);
	return true;
}
