/*
 * berth-test-listen: a tiny foreign process for tests. Listens on each given
 * TCP port, prints "ready <pid>" once every socket listens, then waits until
 * it is killed or its stdin reaches EOF (when -s is given).
 *
 *   berth-test-listen [-s] [-6] [-a ADDR] PORT...
 *   -6      listen on ::1 / :: instead of 127.0.0.1
 *   -a ADDR bind address (IPv4 or IPv6 literal)
 *   -s      exit when stdin reaches EOF
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/parse.h"

static int listen_on(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int one = 1, fd;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	bool until_eof = false;
	int c;

	while ((c = getopt(argc, argv, "s6a:")) != -1) {
		switch (c) {
		case 's':
			until_eof = true;
			break;
		case '6':
			addr = "::1";
			break;
		case 'a':
			addr = optarg;
			break;
		default:
			fprintf(stderr, "usage: berth-test-listen [-s] [-6] [-a ADDR] PORT...\n");
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		uint64_t port;
		int fd;

		if (parse_u64(argv[i], 1, 65535, &port) < 0) {
			fprintf(stderr, "berth-test-listen: bad port '%s'\n", argv[i]);
			return 2;
		}
		fd = listen_on(addr, (uint16_t)port);
		if (fd < 0) {
			fprintf(stderr, "berth-test-listen: cannot listen on %s:%s: %s\n", addr,
				argv[i], strerror(-fd));
			return 1;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (until_eof) {
		char buf[64];

		while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
			;
		return 0;
	}
	for (;;)
		pause();
}
