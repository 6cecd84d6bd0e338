/*
 * tap.h: the unit-test harness. Each test runs in its own forked process with
 * a timeout; the parent prints TAP. ASSERT_* print file:line, the expression
 * and both values, then abort the test process.
 *
 *   static void test_foo(void) { ASSERT_EQ_INT(1 + 1, 2); }
 *   static const struct tap_test tests[] = { TAP_TEST(test_foo) };
 *   int main(int argc, char **argv) { return tap_main(argc, argv, tests, ARRAY_SIZE(tests)); }
 *
 * A test binary that needs helper processes passes `--helper NAME ...` to
 * itself: define tap_helper() and set TAP_HAVE_HELPERS before including.
 */
#ifndef BERTH_TAP_H
#define BERTH_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct tap_test {
	const char *name;
	void (*fn)(void);
};

#define TAP_TEST(fn)    \
	{               \
#fn, fn \
	}
#define TAP_TIMEOUT_DEFAULT 30
#define TAP_EXIT_SKIP 77

static int tap_skip_fd = -1;

static inline void tap_fail(const char *file, int line, const char *msg)
{
	fflush(stdout);
	printf("#   %s:%d: %s\n", file, line, msg);
	fflush(stdout);
	abort();
}

#define ASSERT_TRUE(e)                                                         \
	do {                                                                   \
		if (!(e))                                                      \
			tap_fail(__FILE__, __LINE__, "assertion failed: " #e); \
	} while (0)

#define ASSERT_FALSE(e) ASSERT_TRUE(!(e))

#define ASSERT_EQ_INT(a, b)                                                                        \
	do {                                                                                       \
		long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                        \
		if (tap_a_ != tap_b_) {                                                            \
			char tap_m_[512];                                                          \
			snprintf(tap_m_, sizeof(tap_m_), "%s == %s: %lld != %lld", #a, #b, tap_a_, \
				 tap_b_);                                                          \
			tap_fail(__FILE__, __LINE__, tap_m_);                                      \
		}                                                                                  \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                     \
	do {                                                                                   \
		const char *tap_a_ = (a), *tap_b_ = (b);                                       \
		if (!tap_a_ || !tap_b_ || strcmp(tap_a_, tap_b_)) {                            \
			char tap_m_[4096];                                                     \
			snprintf(tap_m_, sizeof(tap_m_), "%s == %s: \"%s\" != \"%s\"", #a, #b, \
				 tap_a_ ? tap_a_ : "(null)", tap_b_ ? tap_b_ : "(null)");      \
			tap_fail(__FILE__, __LINE__, tap_m_);                                  \
		}                                                                              \
	} while (0)

/* The haystack contains the needle. */
#define ASSERT_CONTAINS(hay, needle)                                                            \
	do {                                                                                    \
		const char *tap_h_ = (hay), *tap_n_ = (needle);                                 \
		if (!tap_h_ || !strstr(tap_h_, tap_n_)) {                                       \
			char tap_m_[4096];                                                      \
			snprintf(tap_m_, sizeof(tap_m_), "%s contains %s: \"%s\" lacks \"%s\"", \
				 #hay, #needle, tap_h_ ? tap_h_ : "(null)", tap_n_);            \
			tap_fail(__FILE__, __LINE__, tap_m_);                                   \
		}                                                                               \
	} while (0)

/* r >= 0 (the project's error convention). */
#define ASSERT_OK(r)                                                                  \
	do {                                                                          \
		long long tap_r_ = (long long)(r);                                    \
		if (tap_r_ < 0) {                                                     \
			char tap_m_[512];                                             \
			snprintf(tap_m_, sizeof(tap_m_), "%s: %lld (%s)", #r, tap_r_, \
				 strerror((int)-tap_r_));                             \
			tap_fail(__FILE__, __LINE__, tap_m_);                         \
		}                                                                     \
	} while (0)

/* End the current test as skipped. */
static inline void tap_skip(const char *why)
{
	if (tap_skip_fd >= 0 && write(tap_skip_fd, why, strlen(why)) < 0)
		_exit(1);
	_exit(TAP_EXIT_SKIP);
}

#ifdef TAP_HAVE_HELPERS
/* Defined by the test file: run helper argv[0] with its arguments; returns the exit code. */
static int tap_helper(int argc, char **argv);
#endif

static inline int tap_main(int argc, char **argv, const struct tap_test *tests, size_t n)
{
	unsigned timeout = TAP_TIMEOUT_DEFAULT, failed = 0;
	const char *only = getenv("TAP_ONLY");

#ifdef TAP_HAVE_HELPERS
	if (argc >= 3 && !strcmp(argv[1], "--helper"))
		return tap_helper(argc - 2, argv + 2);
#else
	(void)argc;
	(void)argv;
#endif
	if (getenv("TAP_TIMEOUT"))
		timeout = (unsigned)strtoul(getenv("TAP_TIMEOUT"), NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		char why[256] = "";
		int pfd[2], status;
		ssize_t got;
		pid_t pid;

		if (only && !strstr(tests[i].name, only)) {
			printf("ok %zu - %s # SKIP not selected by TAP_ONLY\n", i + 1,
			       tests[i].name);
			continue;
		}
		if (pipe2(pfd, O_CLOEXEC) < 0) {
			perror("pipe2");
			return 1;
		}
		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(pfd[0]);
			tap_skip_fd = pfd[1];
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			alarm(timeout);
			tests[i].fn();
			/* exit, not _exit: under ASan, LeakSanitizer checks the test */
			exit(0);
		}
		close(pfd[1]);
		got = read(pfd[0], why, sizeof(why) - 1);
		close(pfd[0]);
		why[got > 0 ? got : 0] = '\0';
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %zu - %s\n", i + 1, tests[i].name);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == TAP_EXIT_SKIP) {
			printf("ok %zu - %s # SKIP %s\n", i + 1, tests[i].name, why);
		} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
			printf("not ok %zu - %s # timed out after %us\n", i + 1, tests[i].name,
			       timeout);
			failed++;
		} else if (WIFSIGNALED(status)) {
			printf("not ok %zu - %s # killed by signal %d\n", i + 1, tests[i].name,
			       WTERMSIG(status));
			failed++;
		} else {
			printf("not ok %zu - %s # exit status %d\n", i + 1, tests[i].name,
			       WEXITSTATUS(status));
			failed++;
		}
	}
	return failed ? 1 : 0;
}

#endif
