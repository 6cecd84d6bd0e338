/*
 * bench_probe: the port-probe benchmark's C side. One program, several roles,
 * driven by bench/probe/run.sh:
 *
 *   bench_probe hold N [V6_EVERY]  listen on N ephemeral ports (127.0.0.1; every
 *                                  V6_EVERY-th on ::1), print "ready N", exit at
 *                                  stdin EOF
 *   bench_probe target PORT        listen on 127.0.0.1:PORT, print "ready PID",
 *                                  exit at stdin EOF
 *   bench_probe crowd K FDS        K processes (this one and K-1 children) that
 *                                  each hold FDS open fds, like the processes of
 *                                  a busy desktop; print "ready K", all exit at
 *                                  stdin EOF
 *   bench_probe time PORT PID [RUNS]
 *                                  time berth's paths in-process for PORT (held
 *                                  by PID): median, min, max in ms, one row each
 *   bench_probe whose PORT [PID]   one lookup as a process (PID: as a hint), for
 *                                  timing side by side with lsof and ss
 *
 * Timing is clock_gettime(CLOCK_MONOTONIC) around each call; nothing is cached
 * between runs (each run is a new struct probe: a new dump and a new sweep).
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe/listeners.h"
#include "probe/owners.h"
#include "probe/probe.h"
#include "probe/proc.h"
#include "util/parse.h"
#include "util/timeutil.h"

static int listen_on(int family, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int one = 1, fd;

	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

static int wait_stdin_eof(void)
{
	char buf[64];

	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (parse_u64(s, min, max, ret) < 0) {
		fprintf(stderr, "bench_probe: bad number '%s'\n", s);
		return -EINVAL;
	}
	return 0;
}

static int cmd_hold(int argc, char **argv)
{
	uint64_t n, v6_every = 0;
	struct rlimit rl;

	if (argc < 2 || parse_num(argv[1], 1, 60000, &n) < 0 ||
	    (argc > 2 && parse_num(argv[2], 0, 60000, &v6_every) < 0))
		return 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (uint64_t i = 0; i < n; i++) {
		bool v6 = v6_every && i % v6_every == v6_every - 1;
		int fd = listen_on(v6 ? AF_INET6 : AF_INET, 0);

		if (fd < 0) {
			fprintf(stderr, "bench_probe: cannot listen (#%" PRIu64 "): %s\n", i,
				strerror(-fd));
			return 1;
		}
	}
	printf("ready %" PRIu64 "\n", n);
	fflush(stdout);
	return wait_stdin_eof();
}

static int cmd_target(int argc, char **argv)
{
	uint64_t port;
	int fd;

	if (argc < 2 || parse_num(argv[1], 1, 65535, &port) < 0)
		return 2;
	fd = listen_on(AF_INET, (uint16_t)port);
	if (fd < 0) {
		fprintf(stderr, "bench_probe: cannot listen on 127.0.0.1:%" PRIu64 ": %s\n", port,
			strerror(-fd));
		return 1;
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	return wait_stdin_eof();
}

static int cmd_crowd(int argc, char **argv)
{
	uint64_t k, fds;
	pid_t *kids;
	size_t n_kids = 0;

	if (argc < 3 || parse_num(argv[1], 1, 10000, &k) < 0 ||
	    parse_num(argv[2], 0, 1000, &fds) < 0)
		return 2;
	for (uint64_t i = 0; i < fds; i++)
		if (open("/dev/null", O_RDONLY | O_CLOEXEC) < 0) {
			perror("bench_probe: open /dev/null");
			return 1;
		}
	kids = xcalloc(k, sizeof(*kids));
	for (uint64_t i = 1; i < k; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("bench_probe: fork");
			break;
		}
		if (pid == 0)
			_exit(wait_stdin_eof());
		kids[n_kids++] = pid;
	}
	printf("ready %zu\n", n_kids + 1);
	fflush(stdout);
	wait_stdin_eof();
	for (size_t i = 0; i < n_kids; i++)
		waitpid(kids[i], NULL, 0);
	free(kids);
	return 0;
}

/* ---- timing ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void report(const char *label, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("%s\t%.3f\t%.3f\t%.3f\t%zu\n", label, (double)ns[n / 2] / 1e6, (double)ns[0] / 1e6,
	       (double)ns[n - 1] / 1e6, n);
}

/* One "is it listening" via sock_diag. */
static int run_listening_netlink(uint16_t port, pid_t pid)
{
	struct listener_set set = {0};
	int r = listeners_dump_netlink(&set);

	if (r >= 0 && !listeners_find(&set, port))
		r = -ENOENT;
	listener_set_finish(&set);
	return r;
}

/* The same through /proc/net/tcp{,6} (the fallback). */
static int run_listening_procnet(uint16_t port, pid_t pid)
{
	struct listener_set set = {0};
	int r = listeners_dump_procnet(&set, "/proc");

	if (r >= 0 && !listeners_find(&set, port))
		r = -ENOENT;
	listener_set_finish(&set);
	return r;
}

static int run_probe(uint16_t port, const pid_t *hints, size_t n_hints, pid_t want)
{
	struct port_holder h;
	struct probe p;
	int r = probe_init(&p);

	if (r < 0)
		return r;
	r = probe_port(&p, port, hints, n_hints, &h);
	if (r >= 0) {
		if (h.kind != HOLDER_PROCESS || h.pid != want)
			r = -ESRCH;
		port_holder_finish(&h);
	}
	probe_finish(&p);
	return r;
}

/* Owner through the cheap path: dump + the hint pid's fds. */
static int run_owner_hint(uint16_t port, pid_t pid)
{
	return run_probe(port, &pid, 1, pid);
}

/* Owner unknown: dump + one sweep of every /proc/<pid>/fd. */
static int run_owner_sweep(uint16_t port, pid_t pid)
{
	return run_probe(port, NULL, 0, pid);
}

/* The sweep alone (no dump, no stat/cmdline of the holder). */
static int run_sweep_only(uint16_t port, pid_t pid)
{
	struct owner_map *m;
	int r = owner_map_build("/proc", &m);

	if (r < 0)
		return r;
	owner_map_destroy(m);
	return 0;
}

static int time_path(const char *label, int (*fn)(uint16_t, pid_t), uint16_t port, pid_t pid,
		     size_t runs)
{
	uint64_t *ns = xcalloc(runs, sizeof(*ns));
	int r;

	/* warm the dentry caches like any second command would find them */
	for (int i = 0; i < 3; i++) {
		r = fn(port, pid);
		if (r < 0) {
			fprintf(stderr, "bench_probe: %s: %s\n", label, strerror(-r));
			free(ns);
			return r;
		}
	}
	for (size_t i = 0; i < runs; i++) {
		uint64_t t0 = time_mono_ns();

		r = fn(port, pid);
		ns[i] = time_mono_ns() - t0;
		if (r < 0) {
			fprintf(stderr, "bench_probe: %s: %s\n", label, strerror(-r));
			free(ns);
			return r;
		}
	}
	report(label, ns, runs);
	free(ns);
	return 0;
}

static int cmd_time(int argc, char **argv)
{
	uint64_t port, pid, runs = 200;
	uint16_t p;
	pid_t holder;

	if (argc < 3 || parse_num(argv[1], 1, 65535, &port) < 0 ||
	    parse_num(argv[2], 1, INT32_MAX, &pid) < 0 ||
	    (argc > 3 && parse_num(argv[3], 1, 1000000, &runs) < 0))
		return 2;
	p = (uint16_t)port;
	holder = (pid_t)pid;
	printf("path\tmedian_ms\tmin_ms\tmax_ms\tn\n");
	if (time_path("listening_sockdiag", run_listening_netlink, p, holder, runs) < 0 ||
	    time_path("listening_procnet", run_listening_procnet, p, holder, runs) < 0 ||
	    time_path("owner_hint", run_owner_hint, p, holder, runs) < 0 ||
	    time_path("owner_sweep", run_owner_sweep, p, holder, runs / 4 ? runs / 4 : 1) < 0 ||
	    time_path("sweep_only", run_sweep_only, p, holder, runs / 4 ? runs / 4 : 1) < 0)
		return 1;
	return 0;
}

static int cmd_whose(int argc, char **argv)
{
	struct port_holder h;
	struct probe p;
	uint64_t port, pid = 0;
	pid_t hint;
	int r;

	if (argc < 2 || parse_num(argv[1], 1, 65535, &port) < 0 ||
	    (argc > 2 && parse_num(argv[2], 1, INT32_MAX, &pid) < 0))
		return 2;
	hint = (pid_t)pid;
	r = probe_init(&p);
	if (r >= 0)
		r = probe_port(&p, (uint16_t)port, &hint, pid ? 1 : 0, &h);
	if (r < 0) {
		fprintf(stderr, "bench_probe: cannot probe port %" PRIu64 ": %s\n", port,
			strerror(-r));
		probe_finish(&p);
		return 1;
	}
	if (h.kind == HOLDER_PROCESS)
		printf("%d %s\n", (int)h.pid, h.comm);
	else
		printf("%s\n", h.kind == HOLDER_FREE ? "free" : "hidden");
	port_holder_finish(&h);
	probe_finish(&p);
	return h.kind == HOLDER_FREE ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "hold"))
		return cmd_hold(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "target"))
		return cmd_target(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "crowd"))
		return cmd_crowd(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "time"))
		return cmd_time(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "whose"))
		return cmd_whose(argc - 1, argv + 1);
	fprintf(stderr, "usage: bench_probe hold N [V6_EVERY] | target PORT | "
			"crowd K FDS | time PORT PID [RUNS] | whose PORT [PID]\n");
	return 2;
}
