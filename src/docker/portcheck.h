/*
 * portcheck.h: does 127.0.0.1:PORT take a connection that stays up? That
 * is how berth knows a container listens behind docker's userland proxy,
 * which accepts at once and closes again while the container does not
 * listen yet: an end within PORTCHECK_QUIET_MS counts as "no"; a server that
 * speaks first counts as "yes" at its first byte. A check is a small state
 * machine over one non-blocking socket, so that many run side by side in
 * one poll loop (docker_compose_wait), or all at once (portcheck_all).
 */
#ifndef BERTH_PORTCHECK_H
#define BERTH_PORTCHECK_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PORTCHECK_CONNECT_MS 300 /* a connect that takes longer fails the try */
#define PORTCHECK_QUIET_MS 100   /* how long a connection must stay up */

enum portcheck_state {
	PORTCHECK_IDLE,       /* not started, or stopped */
	PORTCHECK_CONNECTING, /* waiting for the connect to complete */
	PORTCHECK_QUIET,      /* connected, waiting for an end that would mean "no" */
	PORTCHECK_OPEN,       /* yes: it stayed up (final until portcheck_stop) */
	PORTCHECK_CLOSED,     /* no, and no retry asked (final until portcheck_stop) */
	PORTCHECK_PAUSE,      /* no; trying again at `due` */
};

struct portcheck {
	uint16_t port;
	enum portcheck_state state;
	int fd;                 /* -1 unless CONNECTING or QUIET */
	uint64_t due;           /* CLOCK_MONOTONIC ms: CONNECTING gives up, QUIET counts
		       * as open, PAUSE tries again */
	bool retry;             /* a failed try pauses and tries again (else CLOSED) */
	uint64_t failing_since; /* the first failed try of the current run, 0: none */
};

/* An idle check of port (no fd). */
void portcheck_init(struct portcheck *c, uint16_t port, bool retry);
/* Start a try now (from IDLE, PAUSE or a final state). */
void portcheck_start(struct portcheck *c, uint64_t now_ms);
/* Back to IDLE, its socket closed. */
void portcheck_stop(struct portcheck *c);
/* What to poll for (0: nothing: no fd), and until when (UINT64_MAX: no
 * time of its own). */
short portcheck_events(const struct portcheck *c);
uint64_t portcheck_due(const struct portcheck *c);
/* Move on with what poll said of its fd (revents; 0 when it was not
 * polled or said nothing) and the time now. */
void portcheck_step(struct portcheck *c, short revents, uint64_t now_ms);

/* Check ports[0..n) side by side, once each: ret_open[i] says whether
 * ports[i] took a connection that stayed up. Takes about
 * PORTCHECK_QUIET_MS when one of them is open and quiet. */
void portcheck_all(const uint16_t *ports, size_t n, bool *ret_open);

#endif
