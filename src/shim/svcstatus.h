/*
 * svcstatus.h: .berth/run/<slug>/<service>.status, the record a shim keeps of
 * its service: state, pids with their start times (identity), the last exit,
 * restarts, timestamps. Rewritten atomically at every transition; text lines
 * "key=value" that `berth status` reads back. libc only: the shim uses it.
 */
#ifndef BERTH_SVCSTATUS_H
#define BERTH_SVCSTATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strbuf.h"

enum svc_state {
	SVC_STARTING,   /* forked, exec not yet confirmed */
	SVC_RUNNING,    /* exec succeeded */
	SVC_EXITED,     /* the service ended and will not be restarted (restart = no) */
	SVC_RESTARTING, /* waiting for the backoff before the next start */
	SVC_STOPPING,   /* the shim got SIGTERM: TERM sent, KILL at the grace deadline */
	SVC_STOPPED,    /* stopped on request: a stop, never a crash */
	SVC_FAILED,     /* exec failed, or too many quick deaths in a row */
};

struct svc_status {
	enum svc_state state;
	pid_t shim_pid;
	uint64_t shim_start; /* start time of the shim (field 22 of /proc/<pid>/stat) */
	pid_t pid;           /* the service's process (its group leader), 0 if none */
	uint64_t start_time; /* of pid */
	int exit_code;       /* last exit: status when >= 0, -1 when none or killed */
	int exit_signal;     /* last exit: the killing signal, 0 if none */
	bool core_dumped;
	bool killed; /* the last stop needed SIGKILL */
	unsigned restarts;
	int64_t since_ms; /* wall clock (ms since the epoch) of this state */
	int64_t exec_ms;  /* wall clock of the last successful exec, 0 if none */
	int64_t ready_ms; /* wall clock when a `log:` readiness pattern matched, 0 if not */
	char error[256];  /* why it failed ("cannot run 'x': ..."), "" if none */
	char cgroup[512]; /* the service's cgroup (cgroup v2 containment), "" if none */
};

/* Write s to path atomically (temp file + rename; no fsync). */
int svc_status_write(const char *path, const struct svc_status *s);
/* Read path into *ret. -ENOENT when absent, -EBADMSG when malformed. */
int svc_status_read(const char *path, struct svc_status *ret);
/* The text of a status file: what svc_status_write writes (appended to out). */
void svc_status_format(const struct svc_status *s, struct strbuf *out);
/* Parse that text (split in place) into *ret; -EBADMSG when malformed. */
int svc_status_parse(char *text, struct svc_status *ret);
const char *svc_state_name(enum svc_state st);
/* "exited with status 3", "killed by signal SIGSEGV (core dumped)" for the
 * last exit recorded in s, into buf. */
void svc_exit_text(const struct svc_status *s, char *buf, size_t size);
/* One line about the state s is in, for the event journal: "pid 4242",
 * "exited with status 3", the error of a failure... */
void svc_status_describe(const struct svc_status *s, char *buf, size_t size);
int svc_state_parse(const char *s, enum svc_state *ret);

/* Append "ms<TAB>service<TAB>kind<TAB>detail" (tabs and newlines of detail
 * made spaces) to the session's event journal at path: one write(2) with
 * O_APPEND, so lines of several writers (the shims, `up`) never mix. Best
 * effort: the status files are the record. */
void svc_journal_append(const char *path, const char *service, const char *kind,
			const char *detail);

#endif
