/*
 * bench_deathlat: how long after a process dies does its watcher know? The
 * C side of bench/services/run.sh, one mode per run:
 *
 *   bench_deathlat pidfd N     the parent watches its child: pidfd_open + poll
 *                              (the reaper's way)
 *   bench_deathlat watch N     a process that is not the parent does the same
 *                              (berth's way for shims it did not start)
 *   bench_deathlat kill100 N   a process that is not the parent polls
 *                              kill(pid, 0) every 100 ms (overmind's way)
 *
 * The child writes CLOCK_MONOTONIC into shared memory right before _exit(3),
 * so the delay includes the kernel's exit path. In the non-parent modes a
 * middle process forks the child, sends its pid through a pipe and reaps it
 * at once (kill(pid, 0) only fails with ESRCH once the zombie is reaped). In
 * kill100 the child lives a random 1-101 ms, so the death falls at a uniform
 * phase of the 100 ms tick.
 *
 * Prints one line: MODE N MEDIAN P90 P99 MAX (milliseconds).
 */
#include "util/common.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static volatile int64_t *death_ns; /* shared with the children */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The watched process: live for LIFE_US, note the time, die. */
static void child_body(long life_us)
{
	sleep_us(life_us);
	__atomic_store_n(death_ns, now_ns(), __ATOMIC_SEQ_CST);
	_exit(3);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Wait until the pidfd says the process is gone; the time it did. */
static int64_t wait_pidfd(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	return now_ns();
}

/* One sample of the parent mode: the delay in ns, or -1. */
static int64_t sample_parent(void)
{
	pid_t pid = fork();
	int64_t t;
	int fd;

	if (pid < 0)
		return -1;
	if (pid == 0)
		child_body(2000 + lrand48() % 3000);
	fd = pidfd_open(pid);
	if (fd < 0) {
		waitpid(pid, NULL, 0);
		return -1;
	}
	t = wait_pidfd(fd);
	waitpid(pid, NULL, 0);
	close(fd);
	return t - __atomic_load_n(death_ns, __ATOMIC_SEQ_CST);
}

/* One sample of a non-parent mode (kill100 or watch). */
static int64_t sample_other(bool by_kill)
{
	long life_us = by_kill ? 1000 + lrand48() % 100000 : 5000 + lrand48() % 5000;
	int64_t t = -1;
	pid_t mid, pid = 0;
	int p[2];

	if (pipe(p) < 0)
		return -1;
	mid = fork();
	if (mid < 0)
		return -1;
	if (mid == 0) {
		pid_t c = fork();

		if (c == 0)
			child_body(life_us);
		close(p[0]);
		if (write(p[1], &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(1);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &pid, sizeof(pid)) == (ssize_t)sizeof(pid) && pid > 0) {
		if (by_kill) {
			while (kill(pid, 0) == 0 || errno != ESRCH)
				sleep_us(100000);
			t = now_ns();
		} else {
			int fd = pidfd_open(pid);

			if (fd >= 0) {
				t = wait_pidfd(fd);
				close(fd);
			}
		}
	}
	close(p[0]);
	waitpid(mid, NULL, 0);
	return t < 0 ? -1 : t - __atomic_load_n(death_ns, __ATOMIC_SEQ_CST);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	int64_t *v;
	long got = 0, failed = 0;

	if (argc != 3 || n < 1 || n > 100000 ||
	    (strcmp(mode, "pidfd") && strcmp(mode, "watch") && strcmp(mode, "kill100"))) {
		fprintf(stderr, "usage: bench_deathlat pidfd|watch|kill100 N\n");
		return 2;
	}
	death_ns = mmap(NULL, sizeof(*death_ns), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	if (death_ns == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return 1;
	srand48((long)now_ns() ^ getpid());
	while (got < n && failed < n) {
		int64_t d = !strcmp(mode, "pidfd") ? sample_parent()
						   : sample_other(!strcmp(mode, "kill100"));

		if (d < 0)
			failed++;
		else
			v[got++] = d;
	}
	if (got == 0) {
		fprintf(stderr, "bench_deathlat: %s: no sample (pidfd_open unsupported?)\n", mode);
		return 1;
	}
	qsort(v, (size_t)got, sizeof(*v), cmp_i64);
	/* nearest rank: the smallest sample with at least p% of the samples at or below it */
	printf("%s %ld %.3f %.3f %.3f %.3f\n", mode, got, (double)v[(got - 1) / 2] / 1e6,
	       (double)v[(got * 90 + 99) / 100 - 1] / 1e6,
	       (double)v[(got * 99 + 99) / 100 - 1] / 1e6, (double)v[got - 1] / 1e6);
	free(v);
	return 0;
}
