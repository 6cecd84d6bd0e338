/*
 * test_docker.c: what docker.c reads of docker's output without an engine:
 * the time at the start of a `docker logs --timestamps` line; the engine
 * client (engine.c) against a fake engine on a unix socket (answers whole,
 * chunked, cut short; a stream whose head comes with its first event); the
 * port checks (portcheck.c) against real sockets: open and quiet, closed,
 * closed by the server at once (docker's proxy without a container), a
 * server that speaks first, all side by side.
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "docker/docker.h"
#include "docker/engine.h"
#include "docker/portcheck.h"
#include "util/timeutil.h"
#include "tap.h"

static void test_log_line(void)
{
	const char *text = NULL;
	uint64_t ns = 0;

	ASSERT_OK(docker_log_line("2026-12-03T02:55:06.123456789Z db run 2", &ns, &text));
	ASSERT_TRUE(ns == 1796266506123456789ull);
	ASSERT_STREQ(text, "db run 2");
	/* docker drops the fraction's trailing zeros */
	ASSERT_OK(docker_log_line("2026-12-03T02:55:06.1Z x", &ns, &text));
	ASSERT_TRUE(ns == 1796266506100000000ull);
	ASSERT_STREQ(text, "x");
	ASSERT_OK(docker_log_line("1970-01-01T00:00:01Z ", &ns, &text));
	ASSERT_TRUE(ns == 1000000000ull);
	ASSERT_STREQ(text, "");
	/* more than 9 digits: the rest is below a nanosecond */
	ASSERT_OK(docker_log_line("1970-01-01T00:00:00.0000000019Z y", &ns, &text));
	ASSERT_TRUE(ns == 1ull);
}

static void test_log_line_refused(void)
{
	const char *text = NULL;
	uint64_t ns = 7;

	ASSERT_EQ_INT(docker_log_line("db run 2", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(
		docker_log_line("Error response from daemon: No such container: x", &ns, &text),
		-EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-12-03T02:55:06.12+01:00 x", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-12-03T02:55:06Z", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-1-03T02:55:06Z x", &ns, &text), -EINVAL);
	ASSERT_TRUE(ns == 7 && text == NULL);
}

static void test_response_parse(void)
{
	struct strbuf b = STRBUF_INIT;
	int status = 0;
	const char *cl =
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 2\r\n\r\nOK";
	const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			      "3\r\n[{\"\r\na;ext=1\r\nId\":\"x\"}]\n\r\n0\r\n\r\n";
	const char *to_end = "HTTP/1.0 404 Not Found\r\n\r\n{\"message\":\"no\"}";

	ASSERT_OK(engine_response_parse(cl, strlen(cl), &status, &b));
	ASSERT_EQ_INT(status, 200);
	ASSERT_STREQ(strbuf_str(&b), "OK");
	strbuf_reset(&b);
	ASSERT_OK(engine_response_parse(chunked, strlen(chunked), &status, &b));
	ASSERT_STREQ(strbuf_str(&b), "[{\"Id\":\"x\"}]\n");
	strbuf_reset(&b);
	ASSERT_OK(engine_response_parse(to_end, strlen(to_end), &status, &b));
	ASSERT_EQ_INT(status, 404);
	ASSERT_STREQ(strbuf_str(&b), "{\"message\":\"no\"}");
	strbuf_reset(&b);
	/* cut short: in the head, in a chunk, before the last chunk, in a body */
	ASSERT_EQ_INT(engine_response_parse(cl, 20, &status, &b), -EPROTO);
	ASSERT_EQ_INT(engine_response_parse(chunked, strlen(chunked) - 12, &status, &b), -EPROTO);
	ASSERT_EQ_INT(engine_response_parse(chunked, strlen(chunked) - 5, &status, &b), -EPROTO);
	ASSERT_EQ_INT(engine_response_parse(cl, strlen(cl) - 1, &status, &b), -EPROTO);
	ASSERT_EQ_INT(engine_response_parse("SSH-2.0-x\r\n\r\n", 15, &status, &b), -EPROTO);
	ASSERT_EQ_INT(engine_response_parse("HTTP/1.1 2x0 OK\r\n\r\n", 20, &status, &b), -EPROTO);
	ASSERT_EQ_INT((int)b.len, 0);
	strbuf_release(&b);
}

static void test_socket_and_query(void)
{
	struct strbuf q = STRBUF_INIT;
	char *s;

	s = engine_socket(NULL, NULL);
	ASSERT_STREQ(s, "/var/run/docker.sock");
	free(s);
	s = engine_socket("", "default");
	ASSERT_STREQ(s, "/var/run/docker.sock");
	free(s);
	s = engine_socket("unix:///run/user/1000/docker.sock", "remote");
	ASSERT_STREQ(s, "/run/user/1000/docker.sock"); /* DOCKER_HOST wins over a context */
	free(s);
	ASSERT_TRUE(engine_socket("tcp://10.0.0.2:2376", NULL) == NULL);
	ASSERT_TRUE(engine_socket("ssh://me@host", NULL) == NULL);
	ASSERT_TRUE(engine_socket(NULL, "desktop-linux") == NULL);
	engine_query_escape(&q, "{\"label\":{\"com.docker.compose.project=a_b-1\":true}}");
	ASSERT_STREQ(strbuf_str(&q),
		     "%7B%22label%22%3A%7B%22com.docker.compose.project%3Da_b-1%22%3Atrue%7D%7D");
	strbuf_release(&q);
}

/* A fake engine: a child that serves n connections on the unix socket
 * path, writing each answer (in pieces split at '|', 200 ms apart) and
 * then closing (unless hold: it keeps the last one open). */
static pid_t fake_engine(const char *path, const char *const *answers, size_t n, bool hold)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(listen(fd, 8));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid > 0) {
		close(fd);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* gone with the test, whatever fails */
	for (size_t i = 0; i < n; i++) {
		int c = accept(fd, NULL, NULL);
		char req[4096], *piece, *save = NULL, *copy = xstrdup(answers[i]);
		size_t got = 0;

		/* the whole request first */
		while (got < sizeof(req) - 1) {
			ssize_t r = read(c, req + got, sizeof(req) - 1 - got);

			if (r <= 0)
				break;
			got += (size_t)r;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		for (piece = strtok_r(copy, "|", &save); piece;
		     piece = strtok_r(NULL, "|", &save)) {
			if (write(c, piece, strlen(piece)) < 0)
				_exit(1);
			if (save && *save)
				poll(NULL, 0, 200);
		}
		free(copy);
		if (hold && i + 1 == n)
			pause();
		close(c);
	}
	_exit(0);
}

static void test_engine_get_and_stream(void)
{
	char path[] = "/tmp/berth-test-engine-XXXXXX";
	char *sock, *cause = NULL;
	const char *answers[] = {
		/* a ping, in two pieces */
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n|OK",
		/* an error */
		"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\n\r\n11\r\n{\"message\":\"bad\"}\r\n0\r\n\r\n",
		/* events: the head and a first event in one piece, another later */
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n|3\r\n{}\n\r\n",
	};
	struct strbuf body = STRBUF_INIT;
	uint64_t t0;
	int status = 0, fd = -1, ws;
	pid_t pid;
	char buf[64];

	ASSERT_TRUE(mkdtemp(path) != NULL);
	sock = xasprintf("%s/docker.sock", path);
	pid = fake_engine(sock, answers, ARRAY_SIZE(answers), true);
	ASSERT_OK(engine_get(sock, "/_ping", 5000, &status, &body, &cause));
	ASSERT_EQ_INT(status, 200);
	ASSERT_STREQ(strbuf_str(&body), "OK");
	strbuf_reset(&body);
	ASSERT_OK(engine_get(sock, "/containers/json", 5000, &status, &body, &cause));
	ASSERT_EQ_INT(status, 500);
	ASSERT_STREQ(strbuf_str(&body), "{\"message\":\"bad\"}");
	strbuf_reset(&body);
	/* the stream is handed over as soon as its head is in, with what came with it */
	t0 = time_mono_ms();
	ASSERT_OK(engine_stream(sock, "/events", 5000, &fd, &body, &cause));
	ASSERT_TRUE(time_mono_ms() - t0 < 150);
	ASSERT_STREQ(strbuf_str(&body), "3\r\n{}\n\r\n");
	{
		struct pollfd p = {.fd = fd, .events = POLLIN};

		ASSERT_EQ_INT(poll(&p, 1, 5000), 1);
		ASSERT_TRUE(read(fd, buf, sizeof(buf)) > 0);
	}
	close(fd);
	kill(pid, SIGKILL);
	waitpid(pid, &ws, 0);
	/* nobody there: a clear cause */
	ASSERT_EQ_INT(engine_get(sock, "/_ping", 5000, &status, &body, &cause), -ECONNREFUSED);
	ASSERT_CONTAINS(cause, "cannot connect to unix://");
	free(cause);
	unlink(sock);
	ASSERT_EQ_INT(engine_get(sock, "/_ping", 5000, &status, &body, &cause), -ENOENT);
	free(cause);
	rmdir(path);
	free(sock);
	strbuf_release(&body);
}

/* A TCP listener on 127.0.0.1 (any port): its fd, and the port. */
static int listener(uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(listen(fd, 64));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&sa, &len));
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* A child that accepts on fd for ever and closes each connection at once
 * (docker's proxy while the container does not listen), or writes a byte
 * first and keeps it (a server that speaks first). */
static pid_t acceptor(int fd, bool speak)
{
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		if (speak && write(c, "+", 1) == 1)
			continue; /* kept open */
		close(c);
	}
}

static void test_portcheck(void)
{
	uint16_t ports[4];
	int gone = listener(&ports[3]);
	int quiet, proxy, speaks;
	pid_t p1, p2;
	bool open[4] = {true, true, true, true};
	uint64_t t0;
	int ws;

	close(gone); /* nothing listens there now (closed before any fork) */
	quiet = listener(&ports[0]);
	proxy = listener(&ports[1]);
	speaks = listener(&ports[2]);
	p1 = acceptor(proxy, false);
	p2 = acceptor(speaks, true);
	t0 = time_mono_ms();
	portcheck_all(ports, 4, open);
	/* side by side: about one quiet period, not one per port */
	ASSERT_TRUE(time_mono_ms() - t0 < PORTCHECK_QUIET_MS + 250);
	ASSERT_TRUE(open[0]);  /* open and quiet: the kernel accepted it */
	ASSERT_FALSE(open[1]); /* accepted, then closed at once */
	ASSERT_TRUE(open[2]);  /* spoke first */
	ASSERT_FALSE(open[3]); /* refused */
	/* one alone, as status asks */
	portcheck_all(&ports[1], 1, &open[1]);
	ASSERT_FALSE(open[1]);
	kill(p1, SIGKILL);
	kill(p2, SIGKILL);
	waitpid(p1, &ws, 0);
	waitpid(p2, &ws, 0);
	close(quiet);
	close(proxy);
	close(speaks);
}

/* A check that retries: the port is refused, then served; the try after
 * the server came succeeds within the short pause. */
static void test_portcheck_retry(void)
{
	struct portcheck c;
	uint16_t port;
	int fd = listener(&port);
	uint64_t t0, now;

	close(fd); /* refused for now */
	portcheck_init(&c, port, true);
	t0 = time_mono_ms();
	portcheck_start(&c, t0);
	while (c.state != PORTCHECK_PAUSE) {
		struct pollfd p = {.fd = c.fd, .events = portcheck_events(&c)};

		poll(&p, 1, 50);
		portcheck_step(&c, p.revents, time_mono_ms());
	}
	ASSERT_TRUE(c.due - t0 <= 20);
	{
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
		int one = 1;

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			tap_skip("the port was taken meanwhile");
		ASSERT_OK(listen(fd, 8));
	}
	while (c.state != PORTCHECK_OPEN) {
		struct pollfd p = {.fd = c.fd, .events = portcheck_events(&c)};

		now = time_mono_ms();
		ASSERT_TRUE(now - t0 < 2000);
		poll(&p, p.events ? 1 : 0,
		     portcheck_due(&c) > now ? (int)(portcheck_due(&c) - now) : 0);
		portcheck_step(&c, p.events ? p.revents : 0, time_mono_ms());
	}
	portcheck_stop(&c);
	ASSERT_EQ_INT(c.fd, -1);
	close(fd);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_log_line),
	TAP_TEST(test_log_line_refused),
	TAP_TEST(test_response_parse),
	TAP_TEST(test_socket_and_query),
	TAP_TEST(test_engine_get_and_stream),
	TAP_TEST(test_portcheck),
	TAP_TEST(test_portcheck_retry),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
