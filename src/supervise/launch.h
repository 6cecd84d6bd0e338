/*
 * launch.h: starting a session's native services and waiting, in one libev
 * loop, until each is ready or one fails. Services start in dependency
 * order, each as soon as everything it depends on is ready (independent ones
 * together). Everything is an event: a shim's status file changing
 * (inotify), a shim ending (pidfd), a readiness check's process ending, a
 * deadline. Only listening sockets are polled (the kernel has no event for
 * "a socket now listens"), with one sock_diag dump per tick for all services.
 * Readiness never connects to a port that nothing listens on. A oneshot is
 * ready when it finishes with status 0, and must do so within its
 * ready_timeout. Every service that gets ready has a `ready` line in the
 * session's event journal.
 */
#ifndef BERTH_LAUNCH_H
#define BERTH_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "supervise/services.h"

enum launch_event {
	LAUNCH_STARTED, /* its shim runs */
	LAUNCH_READY,   /* ready (a oneshot: finished with status 0) */
};

/* Progress for the caller to show; ms is the time since the service started. */
typedef void (*launch_progress_fn)(void *data, const char *service, enum launch_event ev,
				   uint64_t ms);

/* How a launch ended. */
enum launch_result {
	LAUNCH_OK,          /* every service is ready */
	LAUNCH_DIED,        /* a service died, or ended before it was ready */
	LAUNCH_NOT_STARTED, /* a service (its shim, its ready check) could not start */
	LAUNCH_TIMEOUT,     /* a service was not ready within its ready_timeout */
	LAUNCH_INTERRUPTED, /* a signal on sigfd (Ctrl-C, or a command taking the session) */
	LAUNCH_ERROR,       /* berth could not run the launch itself: see err */
};

/* Why the launch failed: the service, what happened (one line), and the last
 * lines of its log written by this start (byte-exact; NULL when there are
 * none: output of earlier runs in the same log is not shown); err: the
 * system error of LAUNCH_ERROR. */
struct launch_failure {
	char *service;
	char *what;
	char *tail;
	char *log_path;
	unsigned tail_lines;
	int err;
};

/* Start the services idx[0..n) (indexes into e->config->services, in
 * dependency order) and wait until all are ready. Dependencies outside idx
 * count as met. The names of services whose shim was started are appended to
 * started (so the caller can stop them). Stops at the first failure (*fail
 * says which service and what happened); services not yet started never
 * are. */
enum launch_result launch_services(const struct svc_env *e, const size_t *idx, size_t n, int sigfd,
				   launch_progress_fn cb, void *data, struct strvec *started,
				   struct launch_failure *fail);
void launch_failure_finish(struct launch_failure *f);

#endif
