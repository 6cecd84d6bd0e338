/*
 * testpoint.c: pause points for the crash tests.
 */
#include "util/common.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/signals.h"
#include "util/testpoint.h"

void test_pause(const char *point)
{
	const char *want = getenv("BERTH_TEST_PAUSE");
	const char *file = getenv("BERTH_TEST_PAUSE_FILE");
	const struct timespec zero = {0, 0};
	struct pollfd pfd = {.events = POLLIN};
	sigset_t mask, usr1, old;
	int fd;

	if (!want || !file || strcmp(want, point))
		return;
	/* Wait until SIGUSR1 (go on) or SIGINT/SIGTERM/SIGHUP is pending. poll
	 * on a signalfd sees a signal without consuming it, so a pending Ctrl-C
	 * is found by the next cmd_interrupted() check and rolls back as after
	 * a real one. SIGKILL ends us here, which is what the crash tests want. */
	signals_interrupt_set(&mask);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	pfd.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if (pfd.fd >= 0) {
		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		close(pfd.fd);
	}
	sigtimedwait(&usr1, NULL, &zero);
	sigprocmask(SIG_SETMASK, &old, NULL);
}
