/*
 * portcheck.c: a connection that stays up (see portcheck.h).
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "docker/portcheck.h"
#include "util/timeutil.h"

/* Pause between two failed tries: short at first, when a container that has
 * just started is about to listen; longer once it has failed a while (each
 * try costs docker's proxy a connection to the container). */
#define PAUSE_FIRST_MS 10
#define PAUSE_LATER_MS 100
#define PAUSE_FIRST_FOR_MS 2000

void portcheck_init(struct portcheck *c, uint16_t port, bool retry)
{
	*c = (struct portcheck){.port = port, .state = PORTCHECK_IDLE, .fd = -1, .retry = retry};
}

void portcheck_stop(struct portcheck *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = PORTCHECK_IDLE;
	c->failing_since = 0;
}

static void failed(struct portcheck *c, uint64_t now)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (!c->retry) {
		c->state = PORTCHECK_CLOSED;
		return;
	}
	if (!c->failing_since)
		c->failing_since = now;
	c->state = PORTCHECK_PAUSE;
	c->due = now +
		 (now - c->failing_since < PAUSE_FIRST_FOR_MS ? PAUSE_FIRST_MS : PAUSE_LATER_MS);
}

/* Did the connect land on itself? A port in the ephemeral range with
 * nothing listening can be picked as the connection's own source port
 * (performance.md §3): that is no server, and must not hold the port. */
static bool self_connected(int fd)
{
	struct sockaddr_in a, b;
	socklen_t la = sizeof(a), lb = sizeof(b);

	return getsockname(fd, (struct sockaddr *)&a, &la) == 0 &&
	       getpeername(fd, (struct sockaddr *)&b, &lb) == 0 && a.sin_port == b.sin_port &&
	       a.sin_addr.s_addr == b.sin_addr.s_addr;
}

static void opened(struct portcheck *c)
{
	close(c->fd);
	c->fd = -1;
	c->state = PORTCHECK_OPEN;
}

void portcheck_start(struct portcheck *c, uint64_t now)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};

	if (c->fd >= 0)
		close(c->fd);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		failed(c, now);
		return;
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		if (self_connected(c->fd)) {
			failed(c, now);
			return;
		}
		c->state = PORTCHECK_QUIET;
		c->due = now + PORTCHECK_QUIET_MS;
	} else if (errno == EINPROGRESS) {
		c->state = PORTCHECK_CONNECTING;
		c->due = now + PORTCHECK_CONNECT_MS;
	} else {
		failed(c, now);
	}
}

short portcheck_events(const struct portcheck *c)
{
	if (c->state == PORTCHECK_CONNECTING)
		return POLLOUT;
	if (c->state == PORTCHECK_QUIET)
		return POLLIN;
	return 0;
}

uint64_t portcheck_due(const struct portcheck *c)
{
	if (c->state == PORTCHECK_CONNECTING || c->state == PORTCHECK_QUIET ||
	    c->state == PORTCHECK_PAUSE)
		return c->due;
	return UINT64_MAX;
}

void portcheck_step(struct portcheck *c, short revents, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char ch;

	switch (c->state) {
	case PORTCHECK_CONNECTING:
		if (revents & (POLLOUT | POLLERR | POLLHUP)) {
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err ||
			    self_connected(c->fd)) {
				failed(c, now);
				return;
			}
			c->state = PORTCHECK_QUIET;
			c->due = now + PORTCHECK_QUIET_MS;
			return;
		}
		if (now >= c->due)
			failed(c, now);
		return;
	case PORTCHECK_QUIET:
		if (revents & (POLLIN | POLLERR | POLLHUP)) {
			/* a server that speaks first, or the proxy's close */
			if (recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
				opened(c);
			else
				failed(c, now);
			return;
		}
		if (now >= c->due)
			opened(c); /* open, and quiet: a server waiting for its client */
		return;
	case PORTCHECK_PAUSE:
		if (now >= c->due)
			portcheck_start(c, now);
		return;
	default:
		return;
	}
}

void portcheck_all(const uint16_t *ports, size_t n, bool *ret_open)
{
	struct portcheck *c = xcalloc(n + 1, sizeof(*c));
	struct pollfd *p = xcalloc(n + 1, sizeof(*p));
	uint64_t now = time_mono_ms();

	for (size_t i = 0; i < n; i++) {
		portcheck_init(&c[i], ports[i], false);
		portcheck_start(&c[i], now);
	}
	for (;;) {
		uint64_t due = UINT64_MAX;
		size_t busy = 0;

		for (size_t i = 0; i < n; i++) {
			p[i] = (struct pollfd){.fd = c[i].fd, .events = portcheck_events(&c[i])};
			if (p[i].events) {
				busy++;
				if (portcheck_due(&c[i]) < due)
					due = portcheck_due(&c[i]);
			} else {
				p[i].fd = -1;
			}
		}
		if (!busy)
			break;
		now = time_mono_ms();
		poll(p, n, due > now ? (int)(due - now) : 0);
		now = time_mono_ms();
		for (size_t i = 0; i < n; i++)
			if (p[i].fd >= 0)
				portcheck_step(&c[i], p[i].revents, now);
	}
	for (size_t i = 0; i < n; i++) {
		ret_open[i] = c[i].state == PORTCHECK_OPEN;
		portcheck_stop(&c[i]);
	}
	free(p);
	free(c);
}
