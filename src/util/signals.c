/*
 * signals.c: resetting signal dispositions and the mask before exec.
 */
#include "util/common.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/signals.h"

/* The kernel's struct sigaction for rt_sigaction(2) on x86-64 and most
 * others: handler, flags, restorer, then the mask as _NSIG bits. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask[1];
};

void signals_default_all(void)
{
	struct kernel_sigaction act = {.handler = SIG_DFL};

	for (int sig = 1; sig < 65; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		syscall(SYS_rt_sigaction, sig, &act, NULL, sizeof(act.mask));
	}
}

void signals_reset_for_exec(void)
{
	unsigned long none[1] = {0};

	signals_default_all();
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, sizeof(none));
}

void signals_interrupt_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}
