/*
 * proc.h: reading /proc/<pid>: stat (identity = pid + start time), owner uid,
 * command line.
 */
#ifndef BERTH_PROBE_PROC_H
#define BERTH_PROBE_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_stat {
	pid_t pid;
	char comm[64]; /* as in stat, without the parentheses; may hold spaces and ')' */
	char state;
	pid_t ppid;
	pid_t pgrp;
	pid_t session;
	uint64_t start_time; /* field 22, clock ticks since boot */
};

/* A process by identity: a pid alone may be recycled, pid + start time not. */
struct proc_ref {
	pid_t pid;
	uint64_t start_time;
};

/* Parse the contents of /proc/<pid>/stat. The comm is found between the first
 * '(' and the *last* ')'. -EINVAL on malformed text. */
int proc_stat_parse(const char *text, struct proc_stat *ret);
/* Read and parse /proc/<pid>/stat. -ENOENT when the process is gone. */
int proc_stat_read(pid_t pid, struct proc_stat *ret);
/* Start time of pid (field 22); -ENOENT when gone. */
int proc_start_time(pid_t pid, uint64_t *ret);
/* True when the process st describes has ended: a zombie (or dead) whose
 * threads are all gone (a main thread that exited while others run makes a
 * "zombie" that still runs). */
bool proc_stat_gone(const struct proc_stat *st);
/* True when pid runs (not a zombie) and has this start time: the identity
 * check before any signal, and the liveness test of an operation's owner. */
bool proc_is(pid_t pid, uint64_t start_time);
/* Real uid of pid from /proc/<pid>/status. */
int proc_uid(pid_t pid, uid_t *ret);
/* Command line with arguments joined by spaces (NULs and control bytes made
 * printable), or "[comm]" for kernel threads / empty cmdline. The caller frees. */
int proc_cmdline(pid_t pid, char **ret);

/* The name of user uid ("alice"), or "uid 1001" when it has none. The caller frees. */
char *proc_user_name(uid_t uid);

#endif
