/*
 * signals.h: the signal state a child process starts with.
 */
#ifndef BERTH_SIGNALS_H
#define BERTH_SIGNALS_H

/* Set every signal's disposition to default, including the real-time signals
 * glibc reserves for itself (32, 33), which its sigaction() refuses and which
 * an ignoring parent would otherwise pass on through exec. Async-signal-safe
 * (raw system calls only): usable between fork and exec. */
void signals_default_all(void);
/* signals_default_all() and an empty signal mask: the state a program we
 * start must see. Async-signal-safe. */
void signals_reset_for_exec(void);

#include <signal.h>

/* The interruptions a command turns into a rollback: SIGINT, SIGTERM, SIGHUP. */
void signals_interrupt_set(sigset_t *set);

#endif
