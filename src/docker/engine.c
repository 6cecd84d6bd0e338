/*
 * engine.c: the Docker Engine API over its unix socket (see engine.h). One
 * connection per request ("Connection: close"), every step bounded by the
 * caller's deadline.
 */
#include "util/common.h"

#include <fcntl.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker/engine.h"
#include "util/parse.h"
#include "util/timeutil.h"

#define ENGINE_DEFAULT_SOCKET "/var/run/docker.sock"
#define ENGINE_MAX_BODY (64u << 20)

char *engine_socket(const char *docker_host, const char *context)
{
	struct sockaddr_un sa;
	const char *path = ENGINE_DEFAULT_SOCKET;

	if (docker_host && *docker_host) {
		if (strncmp(docker_host, "unix://", 7) || docker_host[7] != '/')
			return NULL; /* tcp://, ssh://, fd://: the CLI's */
		path = docker_host + 7;
	} else if (context && *context && strcmp(context, "default")) {
		return NULL; /* a named context: its endpoint is the CLI's to read */
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return NULL; /* the CLI says what it makes of that */
	return xstrdup(path);
}

/* Milliseconds left until deadline (0 when past it), as poll takes them. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = time_mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
}

/* Connect to the socket and send a GET of path: the fd, non-blocking. */
static int request(const char *socket_path, const char *path, uint64_t deadline, int *ret_fd,
		   char **cause)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ms = left_ms(deadline);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct strbuf req = STRBUF_INIT;
	size_t off = 0, len = strlen(socket_path);
	int fd, r;

	if (len >= sizeof(sa.sun_path)) {
		*cause = xasprintf("cannot connect to unix://%s: %s", socket_path,
				   strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, socket_path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot make a socket: %s", strerror(-r));
		return r;
	}
	/* a blocking connect waits for room in a full backlog, this long at most */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		*cause = xasprintf("cannot connect to unix://%s: %s", socket_path, strerror(-r));
		close(fd);
		return r;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	strbuf_addf(&req,
		    "GET %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: berth/" PROJECT_VERSION
		    "\r\nConnection: close\r\n\r\n",
		    path);
	while (off < req.len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, req.buf + off, req.len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = -errno;
			goto fail;
		}
		if (n < 0 && errno == EAGAIN && poll(&p, 1, left_ms(deadline)) == 0) {
			r = -ETIMEDOUT;
			goto fail;
		}
	}
	strbuf_release(&req);
	*ret_fd = fd;
	return 0;
fail:
	*cause = xasprintf("cannot send a request to unix://%s: %s", socket_path, strerror(-r));
	strbuf_release(&req);
	close(fd);
	return r;
}

/* Read what fd has into sb: 1 when more may come, 0 at its end, -errno. */
static int read_some(int fd, struct strbuf *sb)
{
	char buf[16384];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			if (sb->len + (size_t)n > ENGINE_MAX_BODY)
				return -EFBIG;
			strbuf_add(sb, buf, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 1 : -errno;
	}
}

/* The end of the head (past its blank line) in buf[0..len), or 0. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			return i + 4;
	return 0;
}

/* The status of the head at buf; -EPROTO when it is not HTTP's. */
static int head_status(const char *buf, size_t len, int *ret_status)
{
	uint64_t v;
	char code[4];

	if (len < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -EPROTO;
	memcpy(code, buf + 9, 3);
	code[3] = '\0';
	if (parse_u64(code, 100, 599, &v) < 0)
		return -EPROTO;
	*ret_status = (int)v;
	return 0;
}

/* The value of header name (lowercase) in the head, or NULL; *ret_len its
 * length. */
static const char *head_value(const char *head, size_t len, const char *name, size_t *ret_len)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*ret_len = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

/* Decode a chunked body at buf[0..len) into body: 0 once its last chunk is
 * in, -EAGAIN when more is needed, -EPROTO. */
static int dechunk(const char *buf, size_t len, struct strbuf *body)
{
	size_t off = 0;

	for (;;) {
		const char *eol = memchr(buf + off, '\n', len - off);
		uint64_t size = 0;
		size_t digits = 0;

		if (!eol)
			return -EAGAIN;
		for (const char *p = buf + off; p < eol; p++, digits++) {
			int c = (unsigned char)*p, d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				break; /* ";extension" or the line's "\r" */
			if (size > ENGINE_MAX_BODY)
				return -EPROTO;
			size = size * 16 + (uint64_t)d;
		}
		if (!digits)
			return -EPROTO;
		off = (size_t)(eol - buf) + 1;
		if (size == 0)
			return 0; /* trailers, if any, are not read */
		if (len - off < size + 2)
			return -EAGAIN;
		if (body->len + size > ENGINE_MAX_BODY)
			return -EPROTO;
		strbuf_add(body, buf + off, (size_t)size);
		off += (size_t)size;
		if (buf[off] == '\r')
			off++;
		if (buf[off] != '\n')
			return -EPROTO;
		off++;
	}
}

/* engine_response_parse, with -EAGAIN when buf is a response cut short and
 * more may come (at_end: nothing more comes). body is untouched on error. */
static int parse(const char *buf, size_t len, bool at_end, int *ret_status, struct strbuf *body)
{
	size_t hl = head_end(buf, len), vl = 0;
	const char *v;
	int status, r;

	if (!hl)
		return at_end ? -EPROTO : -EAGAIN;
	r = head_status(buf, hl, &status);
	if (r < 0)
		return r;
	if (status < 200 || status == 204 || status == 304) {
		*ret_status = status;
		return 0;
	}
	v = head_value(buf, hl, "transfer-encoding", &vl);
	if (v && vl >= 7 && !strncasecmp(v + vl - 7, "chunked", 7)) {
		struct strbuf tmp = STRBUF_INIT;

		r = dechunk(buf + hl, len - hl, &tmp);
		if (r == 0) {
			strbuf_add(body, tmp.buf ? tmp.buf : "", tmp.len);
			*ret_status = status;
		} else if (r == -EAGAIN && at_end) {
			r = -EPROTO;
		}
		strbuf_release(&tmp);
		return r;
	}
	v = head_value(buf, hl, "content-length", &vl);
	if (v) {
		char num[24];
		uint64_t cl;

		if (vl >= sizeof(num))
			return -EPROTO;
		memcpy(num, v, vl);
		num[vl] = '\0';
		if (parse_u64(num, 0, ENGINE_MAX_BODY, &cl) < 0)
			return -EPROTO;
		if (len - hl < cl)
			return at_end ? -EPROTO : -EAGAIN;
		strbuf_add(body, buf + hl, (size_t)cl);
		*ret_status = status;
		return 0;
	}
	if (!at_end)
		return -EAGAIN; /* the body ends with the connection */
	strbuf_add(body, buf + hl, len - hl);
	*ret_status = status;
	return 0;
}

int engine_response_parse(const char *buf, size_t len, int *ret_status, struct strbuf *body)
{
	int r = parse(buf, len, true, ret_status, body);

	return r == -EAGAIN ? -EPROTO : r;
}

int engine_get(const char *socket, const char *path, uint64_t timeout_ms, int *ret_status,
	       struct strbuf *body, char **cause)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct strbuf in = STRBUF_INIT;
	int fd, r;

	r = request(socket, path, deadline, &fd, cause);
	if (r < 0)
		return r;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int more = read_some(fd, &in);

		if (more < 0) {
			r = more;
			*cause = xasprintf("cannot read the answer of unix://%s: %s", socket,
					   strerror(-r));
			break;
		}
		r = parse(in.buf ? in.buf : "", in.len, more == 0, ret_status, body);
		if (r != -EAGAIN) {
			if (r < 0)
				*cause = xasprintf("unix://%s gave no HTTP answer to GET %s",
						   socket, path);
			break;
		}
		if (poll(&p, 1, left_ms(deadline)) == 0) {
			r = -ETIMEDOUT;
			*cause = xasprintf("unix://%s did not answer GET %s within %.1f s", socket,
					   path, (double)timeout_ms / 1000.0);
			break;
		}
	}
	close(fd);
	strbuf_release(&in);
	return r;
}

int engine_stream(const char *socket, const char *path, uint64_t timeout_ms, int *ret_fd,
		  struct strbuf *body, char **cause)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct strbuf in = STRBUF_INIT;
	size_t hl = 0;
	int fd, r, status = 0;

	r = request(socket, path, deadline, &fd, cause);
	if (r < 0)
		return r;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int more = read_some(fd, &in);

		if (more >= 0 && (hl = head_end(in.buf ? in.buf : "", in.len)))
			break;
		if (more <= 0) {
			r = more < 0 ? more : -EPROTO;
			*cause =
				xasprintf("unix://%s ended GET %s before its answer", socket, path);
			goto fail;
		}
		if (poll(&p, 1, left_ms(deadline)) == 0) {
			r = -ETIMEDOUT;
			*cause = xasprintf("unix://%s did not answer GET %s within %.1f s", socket,
					   path, (double)timeout_ms / 1000.0);
			goto fail;
		}
	}
	r = head_status(in.buf, hl, &status);
	if (r < 0 || status != 200) {
		const char *b = in.buf + hl;

		r = -EPROTO;
		*cause =
			status ? xasprintf("GET %s: HTTP %d %.*s", path, status,
					   (int)strcspn(b, "\r\n"), b)
			       : xasprintf("unix://%s gave no HTTP answer to GET %s", socket, path);
		goto fail;
	}
	strbuf_add(body, in.buf + hl, in.len - hl);
	strbuf_release(&in);
	*ret_fd = fd;
	return 0;
fail:
	strbuf_release(&in);
	close(fd);
	return r;
}

void engine_query_escape(struct strbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			strbuf_addch(out, (char)c);
		} else {
			strbuf_addch(out, '%');
			strbuf_addch(out, hex[c >> 4]);
			strbuf_addch(out, hex[c & 15]);
		}
	}
}
