/*
 * test_probe.c: the probe module against the real kernel: /proc/<pid>/stat
 * parsing, /proc/net/tcp{,6} parsing, live LISTEN sockets through sock_diag
 * and /proc/net, socket inode -> pid lookups, and probe_port on ports held by
 * us, by a helper child, by nobody, and by a process we may not look into.
 *
 * Helpers (this binary run with --helper):
 *   listen ADDR [ARG...]  listen on ADDR port 0 as comm "probe-helper", print
 *                         "PORT\n", exit at stdin EOF (ARGs are ignored: they
 *                         only decorate the command line)
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe/forensics.h"
#include "probe/listeners.h"
#include "probe/owners.h"
#include "probe/probe.h"
#include "probe/proc.h"
#include "probe/tree.h"
#include "util/parse.h"
#include "util/timeutil.h"

#define TAP_HAVE_HELPERS
#include "tap.h"

extern char **environ;

#define READY_TIMEOUT_MS 10000

/* ---- helpers ---------------------------------------------------------- */

struct sock {
	int fd;
	uint16_t port;
	uint64_t inode;
};

/* Bind addr port 0 (listen when do_listen); -errno when the address family or
 * address is not available. */
static int sock_open(const char *addr, bool do_listen, struct sock *ret)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	struct stat st;
	int one = 1, fd, r;

	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_INET6 && !strstr(addr, "ffff:"))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (do_listen && listen(fd, 16) < 0) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	ret->fd = fd;
	ret->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	ret->inode = (uint64_t)st.st_ino;
	return 0;
}

/* sock_open, or skip the test when addr's family is not available here. */
static void sock_open_or_skip(const char *addr, bool do_listen, struct sock *ret)
{
	int r = sock_open(addr, do_listen, ret);

	if (r == -EAFNOSUPPORT || r == -EADDRNOTAVAIL) {
		char why[128];

		snprintf(why, sizeof(why), "%s not available: %s", addr, strerror(-r));
		tap_skip(why);
	}
	ASSERT_OK(r);
}

/* Read one line from fd within timeout_ms (no sleeping: poll with a deadline). */
static void read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = time_mono_ms();
		ssize_t n;
		int r;

		if (now >= deadline)
			tap_fail(__FILE__, __LINE__, "helper not ready before the deadline");
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		ASSERT_TRUE(r >= 0);
		if (r == 0)
			continue;
		ASSERT_TRUE(len + 1 < size);
		n = read(fd, buf + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			tap_fail(__FILE__, __LINE__, "helper exited before it was ready");
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return;
		}
		len++;
	}
}

struct helper {
	pid_t pid;
	int in_fd;  /* its stdin: closing it ends the helper */
	int out_fd; /* its stdout */
	uint16_t port;
};

/* Run this binary as `--helper listen ADDR ARG...` and wait for its port. */
static void helper_listen_start(struct helper *h, const char *addr, const char *extra)
{
	posix_spawn_file_actions_t fa;
	char exe[4096], line[64];
	char *argv[6];
	int in[2], out[2], n = 0;
	uint64_t port;
	ssize_t len;

	/* readlink, not exec of /proc/self/exe: valgrind presents the real path. */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_TRUE(len > 0);
	exe[len] = '\0';
	argv[n++] = exe;
	argv[n++] = (char *)"--helper";
	argv[n++] = (char *)"listen";
	argv[n++] = (char *)addr;
	if (extra)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	ASSERT_OK(pipe2(in, O_CLOEXEC));
	ASSERT_OK(pipe2(out, O_CLOEXEC));
	ASSERT_EQ_INT(posix_spawn_file_actions_init(&fa), 0);
	ASSERT_EQ_INT(posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO), 0);
	ASSERT_EQ_INT(posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO), 0);
	ASSERT_EQ_INT(posix_spawn(&h->pid, exe, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	h->in_fd = in[1];
	h->out_fd = out[0];
	read_line(h->out_fd, line, sizeof(line), READY_TIMEOUT_MS);
	if (!strncmp(line, "skip ", 5))
		tap_skip(line + 5);
	ASSERT_OK(parse_u64(line, 1, 65535, &port));
	h->port = (uint16_t)port;
}

/* Close the helper's stdin and reap it. */
static void helper_stop(struct helper *h)
{
	int status;

	close(h->in_fd);
	close(h->out_fd);
	while (waitpid(h->pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int tap_helper(int argc, char **argv)
{
	struct sock s;
	char buf[64];
	int r;

	if (argc >= 2 && !strcmp(argv[0], "listen")) {
		prctl(PR_SET_NAME, "probe-helper");
		r = sock_open(argv[1], true, &s);
		if (r < 0) {
			printf("skip %s not available: %s\n", argv[1], strerror(-r));
			return 0;
		}
		printf("%u\n", (unsigned)s.port);
		fflush(stdout);
		while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
			;
		return 0;
	}
	fprintf(stderr, "unknown helper %s\n", argv[0]);
	return 2;
}

/* A forked child named comm that waits for EOF on a pipe; *ret_release is the
 * write end that keeps it alive. Readiness comes back through another pipe. */
static pid_t child_start(const char *comm, int *ret_release)
{
	int ready[2], hold[2];
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(ready, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (comm)
			prctl(PR_SET_NAME, comm);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*ret_release = hold[1];
	return pid;
}

static void child_stop(pid_t pid, int release)
{
	int status;

	close(release);
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
}

static const struct listener *find_inode(const struct listener_set *set, uint64_t inode)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].inode == inode)
			return &set->v[i];
	return NULL;
}

static size_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	ASSERT_TRUE(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- /proc/<pid>/stat ------------------------------------------------- */

static void test_stat_parse_kthread_line(void)
{
	struct proc_stat st;

	ASSERT_OK(proc_stat_parse("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 18 "
				  "0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 1 "
				  "0 0 0 0 0 0 0 0 0 0 0 0 0\n",
				  &st));
	ASSERT_EQ_INT(st.pid, 2);
	ASSERT_STREQ(st.comm, "kthreadd");
	ASSERT_EQ_INT(st.state, 'S');
	ASSERT_EQ_INT(st.ppid, 0);
	ASSERT_EQ_INT(st.pgrp, 0);
	ASSERT_EQ_INT(st.session, 0);
	ASSERT_EQ_INT(st.start_time, 18);
}

static void test_stat_parse_comm_with_spaces_and_parens(void)
{
	static const char tail[] = " 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
				   "987654321 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 "
				   "17 1 0 0 0 0 0";
	struct proc_stat st;
	char buf[512];

	/* comm "(a) (b)": the text is "((a) (b))" */
	snprintf(buf, sizeof(buf), "4242 ((a) (b)) S%s", tail);
	ASSERT_OK(proc_stat_parse(buf, &st));
	ASSERT_STREQ(st.comm, "(a) (b)");
	ASSERT_EQ_INT(st.state, 'S');
	ASSERT_EQ_INT(st.ppid, 1);
	ASSERT_EQ_INT(st.pgrp, 4242);
	ASSERT_EQ_INT(st.session, 4242);
	ASSERT_EQ_INT(st.start_time, 987654321);

	/* comm "a) (b": a naive first-')' parser would read state "(b)" */
	snprintf(buf, sizeof(buf), "77 (a) (b) R%s", tail);
	ASSERT_OK(proc_stat_parse(buf, &st));
	ASSERT_EQ_INT(st.pid, 77);
	ASSERT_STREQ(st.comm, "a) (b");
	ASSERT_EQ_INT(st.state, 'R');
	ASSERT_EQ_INT(st.start_time, 987654321);

	snprintf(buf, sizeof(buf), "9 (tmux: server) Z%s", tail);
	ASSERT_OK(proc_stat_parse(buf, &st));
	ASSERT_STREQ(st.comm, "tmux: server");
	ASSERT_EQ_INT(st.state, 'Z');

	snprintf(buf, sizeof(buf), "10 () D%s", tail);
	ASSERT_OK(proc_stat_parse(buf, &st));
	ASSERT_STREQ(st.comm, "");

	/* a comm that itself looks like the rest of a stat line */
	snprintf(buf, sizeof(buf), "11 (x) R 1 2 3) S%s", tail);
	ASSERT_OK(proc_stat_parse(buf, &st));
	ASSERT_STREQ(st.comm, "x) R 1 2 3");
	ASSERT_EQ_INT(st.state, 'S');
}

static void test_stat_parse_malformed(void)
{
	static const char *const bad[] = {
		"",
		"123",
		"123 (abc",
		"123 abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"(abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"x12 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"-1 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"123 (abc)R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"123 (abc) RS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"123 (abc) R x 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"123 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0",
		"123 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 \n",
		"123 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5x",
		"123 (abc) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5",
		"123 (abc) R 1 1",
	};
	struct proc_stat st = {.pid = 99};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = proc_stat_parse(bad[i], &st);

		if (r != -EINVAL)
			printf("# accepted: \"%s\"\n", bad[i]);
		ASSERT_EQ_INT(r, -EINVAL);
	}
	ASSERT_EQ_INT(st.pid, 99); /* ret_ untouched on failure */
	ASSERT_EQ_INT(proc_stat_parse(NULL, &st), -EINVAL);
}

static void test_stat_read_self(void)
{
	struct proc_stat st;
	uint64_t t;

	ASSERT_OK(proc_stat_read(getpid(), &st));
	ASSERT_EQ_INT(st.pid, getpid());
	ASSERT_EQ_INT(st.ppid, getppid());
	ASSERT_EQ_INT(st.pgrp, getpgrp());
	ASSERT_EQ_INT(st.session, getsid(0));
	ASSERT_EQ_INT(st.state, 'R');
	ASSERT_TRUE(st.start_time > 0);
	ASSERT_OK(proc_start_time(getpid(), &t));
	ASSERT_EQ_INT(t, st.start_time);
	ASSERT_TRUE(proc_is(getpid(), st.start_time));
	ASSERT_EQ_INT(proc_stat_read(0, &st), -EINVAL);
}

static void test_stat_read_live_comm_with_parens(void)
{
	struct proc_stat st;
	int release;
	pid_t pid = child_start("a) (b", &release);

	ASSERT_OK(proc_stat_read(pid, &st));
	ASSERT_EQ_INT(st.pid, pid);
	ASSERT_STREQ(st.comm, "a) (b");
	ASSERT_EQ_INT(st.ppid, getpid());
	ASSERT_EQ_INT(st.pgrp, getpgrp());
	child_stop(pid, release);
}

static void test_proc_is_wrong_start_time_and_reaped(void)
{
	struct proc_stat st;
	uint64_t start;
	int release;
	pid_t pid = child_start(NULL, &release);

	ASSERT_OK(proc_start_time(pid, &start));
	ASSERT_TRUE(proc_is(pid, start));
	ASSERT_FALSE(proc_is(pid, start + 1));
	ASSERT_FALSE(proc_is(pid, 0));
	child_stop(pid, release);
	ASSERT_FALSE(proc_is(pid, start));
	ASSERT_EQ_INT(proc_stat_read(pid, &st), -ENOENT);
	ASSERT_EQ_INT(proc_start_time(pid, &start), -ENOENT);
}

static void test_proc_uid_and_cmdline(void)
{
	struct helper h;
	char *cmd = NULL;
	uid_t uid = 12345;

	ASSERT_OK(proc_uid(getpid(), &uid));
	ASSERT_EQ_INT(uid, getuid());
	ASSERT_OK(proc_cmdline(getpid(), &cmd));
	ASSERT_CONTAINS(cmd, "test_probe");
	free(cmd);

	/* NULs become spaces, control bytes become '?' */
	helper_listen_start(&h, "127.0.0.1", "tab\there\nnl\x7f");
	ASSERT_OK(proc_cmdline(h.pid, &cmd));
	ASSERT_CONTAINS(cmd, " --helper listen 127.0.0.1 tab?here?nl?");
	ASSERT_EQ_INT(cmd[strlen(cmd) - 1], '?');
	free(cmd);
	ASSERT_OK(proc_uid(h.pid, &uid));
	ASSERT_EQ_INT(uid, getuid());
	helper_stop(&h);
}

static void test_proc_cmdline_falls_back_to_comm(void)
{
	siginfo_t si;
	char *cmd = NULL;
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "zombie-x");
		_exit(0);
	}
	/* Wait for the exit but leave the zombie: its cmdline is empty. */
	ASSERT_OK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));
	ASSERT_OK(proc_cmdline(pid, &cmd));
	ASSERT_STREQ(cmd, "[zombie-x]");
	free(cmd);
	ASSERT_OK(waitpid(pid, NULL, 0));
	ASSERT_EQ_INT(proc_cmdline(pid, &cmd), -ENOENT);
}

/* ---- /proc/net/tcp{,6} text ------------------------------------------- */

static const char procnet_tcp[] =
	"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
	"timeout inode                                                     \n"
	"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        "
	"0 41234 1 0000000000000000 100 0 0 10 0                     \n"
	"   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
	"0 1059 1 00000000c774e99c 100 0 0 10 0                      \n"
	"   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        "
	"0 51234 1 0000000000000000 20 4 30 10 -1                   \n"
	"   3: 0100007F:D431 0100007F:1F90 06 00000000:00000000 03:00000F9E 00000000     0        "
	"0 0 3 0000000000000000\n";

static const char procnet_tcp6[] =
	"  sl  local_address                         remote_address                        st "
	"tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	"   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 "
	"0\n"
	"   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000  1000        0 2002 1 0000000000000000 100 0 0 10 "
	"0\n"
	"   2: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000  1000        0 2003 1 0000000000000000 100 0 0 10 "
	"0\n"
	"   3: 00000000000000000000000001000000:1F91 00000000000000000000000001000000:E0B2 01 "
	"00000000:00000000 02:000A2D0B 00000000  1000        0 2004 2 0000000000000000 20 4 30 10 "
	"-1\n"
	"   4: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A "
	"00000000:00000000 00:00000000 00000000   33        0 2005 1 0000000000000000 100 0 0 10 "
	"0";

static void assert_listener(const struct listener *l, int family, const char *addr, uint16_t port,
			    uint64_t inode, uid_t uid)
{
	char *s;

	ASSERT_TRUE(l != NULL);
	s = listener_addr_str(l);
	ASSERT_EQ_INT(l->family, family);
	ASSERT_STREQ(s, addr);
	ASSERT_EQ_INT(l->port, port);
	ASSERT_EQ_INT(l->inode, inode);
	ASSERT_EQ_INT(l->uid, uid);
	free(s);
}

static void test_procnet_parse_tcp(void)
{
	struct listener_set set = {0};

	ASSERT_OK(listeners_parse_procnet(procnet_tcp, AF_INET, &set));
	ASSERT_EQ_INT(set.n, 2); /* ESTABLISHED and TIME_WAIT rows are not listeners */
	assert_listener(&set.v[0], AF_INET, "127.0.0.1", 8080, 41234, 1000);
	assert_listener(&set.v[1], AF_INET, "0.0.0.0", 22, 1059, 0);
	ASSERT_TRUE(listeners_find(&set, 8080) == &set.v[0]);
	ASSERT_TRUE(listeners_find(&set, 22) == &set.v[1]);
	ASSERT_TRUE(listeners_find(&set, 50000) == NULL);
	ASSERT_TRUE(listeners_find(&set, 54321) == NULL);
	listener_set_finish(&set);
	ASSERT_TRUE(set.v == NULL && set.n == 0);
}

static void test_procnet_parse_tcp6(void)
{
	struct listener_set set = {0};

	ASSERT_OK(listeners_parse_procnet(procnet_tcp6, AF_INET6, &set));
	ASSERT_EQ_INT(set.n, 4);
	assert_listener(&set.v[0], AF_INET6, "::", 80, 2001, 0);
	assert_listener(&set.v[1], AF_INET6, "::1", 8081, 2002, 1000);
	assert_listener(&set.v[2], AF_INET6, "::ffff:127.0.0.1", 8082, 2003, 1000);
	assert_listener(&set.v[3], AF_INET6, "2001:db8::1", 443, 2005, 33);
	/* appends to what is there */
	ASSERT_OK(listeners_parse_procnet(procnet_tcp, AF_INET, &set));
	ASSERT_EQ_INT(set.n, 6);
	listener_set_finish(&set);
}

static void test_procnet_parse_header_and_blank(void)
{
	struct listener_set set = {0};

	ASSERT_OK(listeners_parse_procnet("", AF_INET, &set));
	ASSERT_OK(listeners_parse_procnet("  sl  local_address rem_address   st tx_queue\n",
					  AF_INET, &set));
	ASSERT_OK(listeners_parse_procnet("\n\n", AF_INET6, &set));
	ASSERT_EQ_INT(set.n, 0);
	ASSERT_EQ_INT(listeners_parse_procnet("", AF_UNIX, &set), -EINVAL);
	listener_set_finish(&set);
}

static void test_procnet_parse_malformed(void)
{
	static const char *const bad[] = {
		/* truncated row */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000",
		/* missing inode */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0\n",
		/* bad hex in the address */
		"   0: 0100G07F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"5\n",
		/* short address */
		"   0: 100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"5\n",
		/* an IPv6 address in the IPv4 table */
		"   0: 00000000000000000000000001000000:1F91 00000000:0000 0A 00000000:00000000 "
		"00:00000000 00000000 0 0 5\n",
		/* no port */
		"   0: 0100007F 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5\n",
		/* bad state */
		"   0: 0100007F:1F90 00000000:0000 A 00000000:00000000 00:00000000 00000000 0 0 "
		"5\n",
		/* non-numeric uid */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 "
		"5\n",
		/* non-numeric inode */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"5x\n",
		/* no "N:" slot */
		"   0 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"5\n",
		/* garbage */
		"hello world\n",
		/* a good row, then a bad one: nothing is added */
		"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 "
		"5\n"
		"   1: 0100007F:1F91 00000000:0000 0A\n",
	};
	struct listener_set set = {0};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = listeners_parse_procnet(bad[i], AF_INET, &set);

		if (r != -EINVAL)
			printf("# accepted: \"%s\"\n", bad[i]);
		ASSERT_EQ_INT(r, -EINVAL);
		ASSERT_EQ_INT(set.n, 0);
	}
	/* an IPv4 row in the IPv6 table */
	ASSERT_EQ_INT(listeners_parse_procnet(procnet_tcp, AF_INET6, &set), -EINVAL);
	ASSERT_EQ_INT(set.n, 0);
	listener_set_finish(&set);
}

static void test_listener_addr_str(void)
{
	struct listener l4 = {.family = AF_INET, .addr = {10, 1, 2, 254}};
	struct listener l6 = {.family = AF_INET6, .addr = {0xfe, 0x80, [15] = 1}};
	char *s;

	s = listener_addr_str(&l4);
	ASSERT_STREQ(s, "10.1.2.254");
	free(s);
	s = listener_addr_str(&l6);
	ASSERT_STREQ(s, "fe80::1");
	free(s);
}

/* ---- live sockets ----------------------------------------------------- */

static void check_live(const char *addr, int family, const char *want_addr)
{
	struct listener_set nl = {0}, pn = {0}, any = {0};
	struct sock s, quiet;
	const struct listener *l;

	sock_open_or_skip(addr, true, &s);
	/* bound but not listening: must not show up */
	ASSERT_OK(sock_open(addr, false, &quiet));

	ASSERT_OK(listeners_dump_netlink(&nl));
	l = listeners_find(&nl, s.port);
	assert_listener(l, family, want_addr, s.port, s.inode, geteuid());
	ASSERT_TRUE(listeners_find(&nl, quiet.port) == NULL);
	ASSERT_TRUE(find_inode(&nl, quiet.inode) == NULL);

	ASSERT_OK(listeners_dump_procnet(&pn, "/proc"));
	l = listeners_find(&pn, s.port);
	assert_listener(l, family, want_addr, s.port, s.inode, geteuid());
	ASSERT_TRUE(listeners_find(&pn, quiet.port) == NULL);

	ASSERT_OK(listeners_dump(&any));
	ASSERT_TRUE(find_inode(&any, s.inode) != NULL);

	/* closed: gone from both */
	close(s.fd);
	listener_set_finish(&nl);
	listener_set_finish(&pn);
	ASSERT_OK(listeners_dump_netlink(&nl));
	ASSERT_OK(listeners_dump_procnet(&pn, "/proc"));
	ASSERT_TRUE(find_inode(&nl, s.inode) == NULL);
	ASSERT_TRUE(find_inode(&pn, s.inode) == NULL);

	close(quiet.fd);
	listener_set_finish(&nl);
	listener_set_finish(&pn);
	listener_set_finish(&any);
}

static void test_live_listener_ipv4(void)
{
	check_live("127.0.0.1", AF_INET, "127.0.0.1");
}

static void test_live_listener_ipv6_loopback(void)
{
	check_live("::1", AF_INET6, "::1");
}

static void test_live_listener_ipv6_v4mapped(void)
{
	check_live("::ffff:127.0.0.1", AF_INET6, "::ffff:127.0.0.1");
}

static void test_live_listener_many(void)
{
	struct listener_set nl = {0}, pn = {0};
	struct sock s[600];

	/* more than one netlink message's worth of sockets */
	for (size_t i = 0; i < ARRAY_SIZE(s); i++)
		ASSERT_OK(sock_open("127.0.0.1", true, &s[i]));
	ASSERT_OK(listeners_dump_netlink(&nl));
	ASSERT_OK(listeners_dump_procnet(&pn, "/proc"));
	for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
		ASSERT_TRUE(find_inode(&nl, s[i].inode) != NULL);
		ASSERT_TRUE(find_inode(&pn, s[i].inode) != NULL);
		close(s[i].fd);
	}
	ASSERT_EQ_INT(nl.n, pn.n);
	listener_set_finish(&nl);
	listener_set_finish(&pn);
}

static void test_procnet_missing_root(void)
{
	struct listener_set set = {0};

	ASSERT_EQ_INT(listeners_dump_procnet(&set, "/nonexistent-berth-root"), -ENOENT);
	ASSERT_EQ_INT(set.n, 0);
}

/* ---- the process table ------------------------------------------------ */

/* A chain of depth processes below us, each the parent of the next, all
 * waiting for EOF on one pipe (*ret_release keeps them alive); ready when
 * the last one says so (its ancestors exist by then). The top's pid. */
static pid_t chain_start(int depth, int *ret_release)
{
	int ready[2], hold[2];
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(ready, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		pid_t below = 0;

		close(ready[0]);
		close(hold[1]);
		for (int d = 1; d < depth; d++) {
			below = fork();
			if (below < 0)
				_exit(1);
			if (below > 0)
				break;
		}
		if (below == 0 && write(ready[1], "r", 1) != 1)
			_exit(1);
		close(ready[1]);
		while (read(hold[0], &c, 1) > 0)
			;
		if (below > 0)
			waitpid(below, NULL, 0);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*ret_release = hold[1];
	return pid;
}

static bool has_ref(const struct proc_ref *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid)
			return true;
	return false;
}

/* The walk down the children index says of every process what the walk up
 * its parents (proc_table_descends) says, for a chain of ours, us, our
 * parent, init and 0; the descendants agree with the children files. */
static void test_table_descendants_agree_with_descends(void)
{
	struct proc_table t;
	struct proc_ref *v = NULL;
	pid_t *walk = NULL, top, sibling;
	size_t n = 0, alloc = 0, n_walk = 0;
	int release, release2;
	bool *in;

	top = chain_start(3, &release);
	sibling = child_start(NULL, &release2);
	ASSERT_OK(proc_table_read(&t));
	in = xcalloc(t.n, sizeof(*in));
	{
		const pid_t ancestors[] = {top, getpid(), getppid(), 1, 0};

		for (size_t a = 0; a < ARRAY_SIZE(ancestors); a++) {
			proc_table_mark_descendants(&t, ancestors[a], in);
			for (size_t i = 0; i < t.n; i++)
				if (in[i] != proc_table_descends(&t, t.v[i].pid, ancestors[a]))
					tap_fail(__FILE__, __LINE__, "walks disagree");
		}
	}
	ASSERT_EQ_INT(proc_table_descendants(&t, getpid(), &v, &n, &alloc), 4);
	ASSERT_TRUE(has_ref(v, n, top));
	ASSERT_TRUE(has_ref(v, n, sibling));
	for (size_t i = 1; i < n; i++)
		ASSERT_TRUE(v[i - 1].pid < v[i].pid);
	ASSERT_OK(proc_tree_walk(getpid(), &walk, &n_walk));
	ASSERT_EQ_INT(n_walk, n);
	for (size_t i = 0; i < n_walk; i++)
		ASSERT_TRUE(has_ref(v, n, walk[i]));
	ASSERT_EQ_INT(proc_table_descendants(&t, sibling, &v, &n, &alloc), 0);
	free(walk);
	free(v);
	free(in);
	proc_table_finish(&t);
	child_stop(sibling, release2);
	child_stop(top, release);
}

/* probe_procs reads the table once: later calls get the same snapshot
 * (a process started since is not in it); probe_procs_cheaper reads it only
 * for more reads than the machine has processes. */
static void test_probe_procs_is_one_snapshot(void)
{
	const struct proc_table *t;
	struct probe p;
	int release;
	pid_t child;

	ASSERT_OK(probe_init(&p));
	/* not worth it for no read; worth it for more reads than processes */
	ASSERT_TRUE(probe_procs_cheaper(&p, 0) == NULL);
	ASSERT_TRUE(p.procs.v == NULL);
	t = probe_procs_cheaper(&p, SIZE_MAX);
	ASSERT_TRUE(t != NULL);
	ASSERT_TRUE(probe_procs(&p) == t);
	ASSERT_TRUE(probe_procs_cheaper(&p, 0) == t);
	ASSERT_TRUE(proc_table_get(t, getpid()) != NULL);
	child = child_start(NULL, &release);
	ASSERT_TRUE(probe_procs(&p) == t);
	ASSERT_TRUE(proc_table_get(t, child) == NULL);
	probe_finish(&p);
	ASSERT_TRUE(p.procs.v == NULL);
	child_stop(child, release);
}

/* ---- owners ----------------------------------------------------------- */

static void test_owner_map_finds_self(void)
{
	struct owner_map *m = NULL;
	struct sock s;
	pid_t pid = 0;

	ASSERT_OK(sock_open("127.0.0.1", true, &s));
	ASSERT_OK(owner_map_build("/proc", &m));
	ASSERT_OK(owner_map_lookup(m, s.inode, &pid));
	ASSERT_EQ_INT(pid, getpid());
	ASSERT_EQ_INT(owner_map_lookup(m, UINT64_MAX, &pid), -ENOENT);
	ASSERT_EQ_INT(pid, getpid());
	if (geteuid() == 0)
		ASSERT_EQ_INT(owner_map_hidden(m), 0);
	owner_map_destroy(m);
	owner_map_destroy(NULL);

	ASSERT_TRUE(owners_pid_holds(getpid(), s.inode));
	ASSERT_FALSE(owners_pid_holds(getppid(), s.inode));
	ASSERT_FALSE(owners_pid_holds(getpid(), UINT64_MAX));
	ASSERT_FALSE(owners_pid_holds(getpid(), 0));
	ASSERT_FALSE(owners_pid_holds(0, s.inode));
	close(s.fd);
	ASSERT_FALSE(owners_pid_holds(getpid(), s.inode));
}

/* Every socket of a pid, listening or not, from one read of its fds. */
static void test_owners_pid_sockets(void)
{
	struct sock l, q;
	uint64_t *v = NULL;
	size_t n = 0, alloc = 0, got;
	bool seen_l = false, seen_q = false;

	ASSERT_OK(sock_open("127.0.0.1", true, &l));
	ASSERT_OK(sock_open("127.0.0.1", false, &q));
	got = owners_pid_sockets(getpid(), &v, &n, &alloc);
	ASSERT_EQ_INT(got, n);
	for (size_t i = 0; i < n; i++) {
		seen_l |= v[i] == l.inode;
		seen_q |= v[i] == q.inode;
	}
	ASSERT_TRUE(seen_l);
	ASSERT_TRUE(seen_q);
	ASSERT_EQ_INT(owners_pid_sockets(0, &v, &n, &alloc), 0);
	close(l.fd);
	close(q.fd);
	n = 0;
	owners_pid_sockets(getpid(), &v, &n, &alloc);
	for (size_t i = 0; i < n; i++)
		ASSERT_TRUE(v[i] != l.inode && v[i] != q.inode);
	free(v);
}

static void test_owner_map_shared_socket_names_lowest_pid(void)
{
	struct owner_map *m = NULL;
	struct sock s;
	int release;
	pid_t child, pid = 0;

	ASSERT_OK(sock_open("127.0.0.1", true, &s));
	child = child_start(NULL, &release); /* inherits the socket */
	ASSERT_TRUE(owners_pid_holds(child, s.inode));
	ASSERT_OK(owner_map_build("/proc", &m));
	ASSERT_OK(owner_map_lookup(m, s.inode, &pid));
	ASSERT_EQ_INT(pid, child < getpid() ? child : getpid());
	owner_map_destroy(m);
	child_stop(child, release);
	close(s.fd);
}

static void test_owner_map_missing_root(void)
{
	struct owner_map *m = (struct owner_map *)&m;

	ASSERT_EQ_INT(owner_map_build("/nonexistent-berth-root", &m), -ENOENT);
	ASSERT_TRUE(m == (struct owner_map *)&m);
}

/* ---- probe_port ------------------------------------------------------- */

static void check_probe_child(const char *addr)
{
	struct port_holder h = {0};
	struct owner_map *swept;
	struct probe p;
	struct helper child;
	struct sock quiet;
	uint64_t start;
	pid_t hints[2];

	helper_listen_start(&child, addr, NULL);
	ASSERT_OK(proc_start_time(child.pid, &start));
	ASSERT_OK(probe_init(&p));
	ASSERT_TRUE(probe_listening(&p, child.port));

	/* the cheap path: the expected pid holds it, no sweep */
	hints[0] = getpid();
	hints[1] = child.pid;
	ASSERT_OK(probe_port(&p, child.port, hints, 2, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_PROCESS);
	ASSERT_EQ_INT(h.pid, child.pid);
	ASSERT_EQ_INT(h.start_time, start);
	ASSERT_STREQ(h.comm, "probe-helper");
	ASSERT_EQ_INT(h.uid, geteuid());
	ASSERT_TRUE(h.inode != 0);
	ASSERT_CONTAINS(h.cmdline, "--helper listen");
	ASSERT_TRUE(p.owners == NULL);
	port_holder_finish(&h);
	ASSERT_TRUE(h.cmdline == NULL);

	/* no hint (or a wrong one): one sweep */
	ASSERT_OK(probe_port(&p, child.port, hints, 1, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_PROCESS);
	ASSERT_EQ_INT(h.pid, child.pid);
	ASSERT_EQ_INT(h.start_time, start);
	ASSERT_STREQ(h.comm, "probe-helper");
	ASSERT_TRUE(p.owners != NULL);
	swept = p.owners;
	port_holder_finish(&h);

	/* later ports reuse the sweep */
	ASSERT_OK(probe_port(&p, child.port, NULL, 0, &h));
	ASSERT_EQ_INT(h.pid, child.pid);
	port_holder_finish(&h);
	ASSERT_OK(sock_open("127.0.0.1", false, &quiet));
	if (quiet.port == child.port) {
		/* the kernel may give 127.0.0.1 the number of the child's [::1]
		 * port (CI once): another, while this one is held */
		struct sock other;

		ASSERT_OK(sock_open("127.0.0.1", false, &other));
		close(quiet.fd);
		quiet = other;
	}
	ASSERT_OK(probe_port(&p, quiet.port, NULL, 0, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_FREE);
	ASSERT_TRUE(p.owners == swept);

	probe_finish(&p);
	ASSERT_TRUE(p.owners == NULL);
	close(quiet.fd);
	helper_stop(&child);
}

static void test_probe_port_child_ipv4(void)
{
	check_probe_child("127.0.0.1");
}

static void test_probe_port_child_ipv6(void)
{
	check_probe_child("::1");
}

static void test_probe_port_free(void)
{
	struct port_holder h = {.pid = 7};
	struct probe p;
	struct sock quiet;

	/* bound, not listening: nobody can listen on it while we hold it */
	ASSERT_OK(sock_open("127.0.0.1", false, &quiet));
	ASSERT_OK(probe_init(&p));
	ASSERT_FALSE(probe_listening(&p, quiet.port));
	ASSERT_OK(probe_port(&p, quiet.port, NULL, 0, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_FREE);
	ASSERT_EQ_INT(h.pid, 0);
	ASSERT_TRUE(h.cmdline == NULL);
	ASSERT_TRUE(p.owners == NULL); /* a free port needs no sweep */
	probe_finish(&p);
	close(quiet.fd);
}

static void test_probe_port_own_socket(void)
{
	struct port_holder h;
	struct probe p;
	struct sock s;
	uint64_t start;

	ASSERT_OK(sock_open("127.0.0.1", true, &s));
	ASSERT_OK(probe_init(&p));
	ASSERT_OK(probe_port(&p, s.port, NULL, 0, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_PROCESS);
	ASSERT_EQ_INT(h.pid, getpid());
	ASSERT_EQ_INT(h.inode, s.inode);
	ASSERT_OK(proc_start_time(getpid(), &start));
	ASSERT_EQ_INT(h.start_time, start);
	ASSERT_CONTAINS(h.cmdline, "test_probe");
	port_holder_finish(&h);
	probe_finish(&p);
	close(s.fd);
}

static void test_probe_port_hidden_other_uid(void)
{
	struct port_holder h;
	struct helper child;
	struct probe p;
	pid_t hint;

	if (geteuid() != 0)
		tap_skip("needs root to look from another uid");
	helper_listen_start(&child, "127.0.0.1", NULL);
	/* Become nobody: root's /proc/<pid>/fd is now closed to us. */
	ASSERT_OK(setgroups(0, NULL));
	ASSERT_OK(setresgid(65534, 65534, 65534));
	ASSERT_OK(setresuid(65534, 65534, 65534));

	ASSERT_OK(probe_init(&p));
	ASSERT_TRUE(probe_listening(&p, child.port));
	hint = child.pid;
	ASSERT_OK(probe_port(&p, child.port, &hint, 1, &h));
	ASSERT_EQ_INT(h.kind, HOLDER_HIDDEN);
	ASSERT_EQ_INT(h.uid, 0);
	ASSERT_TRUE(h.inode != 0);
	ASSERT_EQ_INT(h.pid, 0);
	ASSERT_TRUE(h.cmdline == NULL);
	ASSERT_TRUE(p.owners != NULL);
	ASSERT_TRUE(owner_map_hidden(p.owners) >= 1);
	probe_finish(&p);
	helper_stop(&child);
}

static void test_probe_leaks_no_fds(void)
{
	struct port_holder h;
	struct probe p;
	struct sock s;
	size_t before;

	ASSERT_OK(sock_open("127.0.0.1", true, &s));
	before = count_fds();
	ASSERT_OK(probe_init(&p));
	ASSERT_OK(probe_port(&p, s.port, NULL, 0, &h));
	port_holder_finish(&h);
	probe_finish(&p);
	ASSERT_EQ_INT(count_fds(), before);
	close(s.fd);
}

/* ---- forensics ---------------------------------------------------------- */

/* The kernel's OOM records name the pid exactly: 12 is not 123. */
static void test_forensics_oom_lines(void)
{
	static const char log[] =
		"6,100,1000,-;eth0: link up\n"
		"4,101,2000,-;node invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0\n"
		"6,102,2001,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=node,"
		"pid=123,uid=0\n"
		"3,103,2002,-;Out of memory: Killed process 123 (node) total-vm:100kB\n"
		" SUBSYSTEM=memory\n"
		"3,104,3000,-;Out of memory: Killed process 1234 (other) total-vm:1kB\n"
		"3,105,4000,-;Memory cgroup out of memory: Killed process 77 (sh) total-vm:5kB";
	struct strbuf sb = STRBUF_INIT;
	pid_t mine[] = {12, 123}, other[] = {77}, none[] = {5};

	ASSERT_EQ_INT(forensics_oom_lines(log, mine, 2, 3, &sb), 2);
	ASSERT_CONTAINS(sb.buf, "oom: oom-kill:constraint=CONSTRAINT_NONE");
	ASSERT_CONTAINS(sb.buf, "; oom: Out of memory: Killed process 123 (node)");
	ASSERT_TRUE(strstr(sb.buf, "1234") == NULL);
	strbuf_reset(&sb);
	ASSERT_EQ_INT(forensics_oom_lines(log, mine, 2, 1, &sb), 1);
	strbuf_reset(&sb);
	ASSERT_EQ_INT(forensics_oom_lines(log, other, 1, 3, &sb), 1);
	ASSERT_CONTAINS(sb.buf, "Memory cgroup out of memory: Killed process 77 (sh)");
	strbuf_reset(&sb);
	ASSERT_EQ_INT(forensics_oom_lines(log, none, 1, 3, &sb), 0);
	ASSERT_EQ_INT(sb.len, 0);
	strbuf_release(&sb);
}

/* The snapshot reads pressure and the log from the paths it is given, and
 * says so when it cannot. */
static void test_forensics_snapshot(void)
{
	char dir[] = "/tmp/berth-forensics-XXXXXX", *psi, *kmsg;
	struct strbuf sb = STRBUF_INIT;
	pid_t pid = 123;
	FILE *f;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	psi = xasprintf("%s/memory", dir);
	kmsg = xasprintf("%s/kmsg", dir);
	f = fopen(psi, "w");
	fputs("some avg10=1.50 avg60=0.20 avg300=0.00 total=9\nfull avg10=0.50 avg60=0.10 "
	      "avg300=0.00 total=3\n",
	      f);
	fclose(f);
	f = fopen(kmsg, "w");
	fputs("3,1,1,-;Out of memory: Killed process 123 (node) total-vm:1kB\n", f);
	fclose(f);
	forensics_snapshot(&pid, 1, kmsg, psi, &sb);
	ASSERT_STREQ(sb.buf, "memory pressure: some avg10=1.50 avg60=0.20 avg300=0.00 total=9, "
			     "full avg10=0.50 avg60=0.10 avg300=0.00 total=3; oom: Out of memory: "
			     "Killed process 123 (node) total-vm:1kB");
	strbuf_reset(&sb);
	unlink(kmsg);
	unlink(psi);
	forensics_snapshot(&pid, 1, kmsg, psi, &sb);
	ASSERT_CONTAINS(sb.buf, "memory pressure: unknown");
	ASSERT_CONTAINS(sb.buf, "the kernel log is not readable (No such file or directory)");
	strbuf_release(&sb);
	rmdir(dir);
	free(psi);
	free(kmsg);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_stat_parse_kthread_line),
	TAP_TEST(test_stat_parse_comm_with_spaces_and_parens),
	TAP_TEST(test_stat_parse_malformed),
	TAP_TEST(test_stat_read_self),
	TAP_TEST(test_stat_read_live_comm_with_parens),
	TAP_TEST(test_proc_is_wrong_start_time_and_reaped),
	TAP_TEST(test_proc_uid_and_cmdline),
	TAP_TEST(test_proc_cmdline_falls_back_to_comm),
	TAP_TEST(test_procnet_parse_tcp),
	TAP_TEST(test_procnet_parse_tcp6),
	TAP_TEST(test_procnet_parse_header_and_blank),
	TAP_TEST(test_procnet_parse_malformed),
	TAP_TEST(test_listener_addr_str),
	TAP_TEST(test_live_listener_ipv4),
	TAP_TEST(test_live_listener_ipv6_loopback),
	TAP_TEST(test_live_listener_ipv6_v4mapped),
	TAP_TEST(test_live_listener_many),
	TAP_TEST(test_procnet_missing_root),
	TAP_TEST(test_table_descendants_agree_with_descends),
	TAP_TEST(test_probe_procs_is_one_snapshot),
	TAP_TEST(test_owner_map_finds_self),
	TAP_TEST(test_owners_pid_sockets),
	TAP_TEST(test_owner_map_shared_socket_names_lowest_pid),
	TAP_TEST(test_owner_map_missing_root),
	TAP_TEST(test_probe_port_child_ipv4),
	TAP_TEST(test_probe_port_child_ipv6),
	TAP_TEST(test_probe_port_free),
	TAP_TEST(test_probe_port_own_socket),
	TAP_TEST(test_probe_port_hidden_other_uid),
	TAP_TEST(test_probe_leaks_no_fds),
	TAP_TEST(test_forensics_oom_lines),
	TAP_TEST(test_forensics_snapshot),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
