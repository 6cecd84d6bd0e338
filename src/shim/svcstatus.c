/*
 * svcstatus.c: writing and reading a service's status file.
 */
#include "util/common.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "shim/svcstatus.h"
#include "util/fsutil.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

static const char *const state_names[] = {
	[SVC_STARTING] = "starting",     [SVC_RUNNING] = "running",   [SVC_EXITED] = "exited",
	[SVC_RESTARTING] = "restarting", [SVC_STOPPING] = "stopping", [SVC_STOPPED] = "stopped",
	[SVC_FAILED] = "failed",
};

const char *svc_state_name(enum svc_state st)
{
	return (size_t)st < ARRAY_SIZE(state_names) ? state_names[st] : "?";
}

void svc_exit_text(const struct svc_status *s, char *buf, size_t size)
{
	if (s->exit_signal > 0) {
		const char *abbrev = sigabbrev_np(s->exit_signal);

		if (abbrev)
			snprintf(buf, size, "killed by signal SIG%s%s", abbrev,
				 s->core_dumped ? " (core dumped)" : "");
		else
			snprintf(buf, size, "killed by signal %d%s", s->exit_signal,
				 s->core_dumped ? " (core dumped)" : "");
	} else if (s->exit_code >= 0) {
		snprintf(buf, size, "exited with status %d", s->exit_code);
	} else {
		snprintf(buf, size, "has not exited");
	}
}

void svc_status_describe(const struct svc_status *s, char *buf, size_t size)
{
	char exit_text[96];

	switch (s->state) {
	case SVC_STARTING:
		snprintf(buf, size, "shim pid %d", (int)s->shim_pid);
		break;
	case SVC_RUNNING:
		snprintf(buf, size, "pid %d%s", (int)s->pid, s->restarts ? " (restarted)" : "");
		break;
	case SVC_EXITED:
	case SVC_RESTARTING:
	case SVC_STOPPED:
		svc_exit_text(s, exit_text, sizeof(exit_text));
		snprintf(buf, size, "%s%s", exit_text,
			 s->killed ? " (SIGKILL at the deadline)" : "");
		break;
	case SVC_STOPPING:
		snprintf(buf, size, "pid %d", (int)s->pid);
		break;
	case SVC_FAILED:
		snprintf(buf, size, "%s", s->error);
		break;
	}
}

int svc_state_parse(const char *s, enum svc_state *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
		if (!strcmp(s, state_names[i])) {
			*ret = (enum svc_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

void svc_status_format(const struct svc_status *s, struct strbuf *out)
{
	strbuf_addf(out,
		    "state=%s\nshim_pid=%d\nshim_start=%" PRIu64 "\npid=%d\nstart_time=%" PRIu64
		    "\nexit_code=%d\nexit_signal=%d\ncore_dumped=%d\nkilled=%d\nrestarts=%u\n"
		    "since_ms=%" PRId64 "\nexec_ms=%" PRId64 "\nready_ms=%" PRId64 "\n",
		    svc_state_name(s->state), (int)s->shim_pid, s->shim_start, (int)s->pid,
		    s->start_time, s->exit_code, s->exit_signal, s->core_dumped, s->killed,
		    s->restarts, s->since_ms, s->exec_ms, s->ready_ms);
	/* the error text is one line: newlines would break the format */
	strbuf_adds(out, "error=");
	for (const char *p = s->error; *p; p++)
		strbuf_addch(out, *p == '\n' ? ' ' : *p);
	strbuf_addch(out, '\n');
	if (s->cgroup[0])
		strbuf_addf(out, "cgroup=%s\n", s->cgroup);
}

int svc_status_write(const char *path, const struct svc_status *s)
{
	struct strbuf sb = STRBUF_INIT;
	int r;

	svc_status_format(s, &sb);
	/* No fsync: a record says what runs now; after a power loss nothing
	 * runs and no record is worth keeping. The rename keeps it whole
	 * against a kill. */
	r = write_file_atomic_nosync(path, sb.buf, sb.len, 0644);
	strbuf_release(&sb);
	return r;
}

static int set_field(struct svc_status *s, const char *key, const char *val)
{
	int64_t i;
	uint64_t u;

	if (!strcmp(key, "state"))
		return svc_state_parse(val, &s->state);
	if (!strcmp(key, "error")) {
		snprintf(s->error, sizeof(s->error), "%s", val);
		return 0;
	}
	if (!strcmp(key, "cgroup")) {
		if (strlen(val) >= sizeof(s->cgroup))
			return -EINVAL;
		snprintf(s->cgroup, sizeof(s->cgroup), "%s", val);
		return 0;
	}
	if (!strcmp(key, "shim_start") || !strcmp(key, "start_time")) {
		if (parse_u64(val, 0, UINT64_MAX, &u) < 0)
			return -EINVAL;
		*(!strcmp(key, "shim_start") ? &s->shim_start : &s->start_time) = u;
		return 0;
	}
	if (parse_i64(val, INT64_MIN, INT64_MAX, &i) < 0)
		return -EINVAL;
	if (!strcmp(key, "shim_pid"))
		s->shim_pid = (pid_t)i;
	else if (!strcmp(key, "pid"))
		s->pid = (pid_t)i;
	else if (!strcmp(key, "exit_code"))
		s->exit_code = (int)i;
	else if (!strcmp(key, "exit_signal"))
		s->exit_signal = (int)i;
	else if (!strcmp(key, "core_dumped"))
		s->core_dumped = i != 0;
	else if (!strcmp(key, "killed"))
		s->killed = i != 0;
	else if (!strcmp(key, "restarts"))
		s->restarts = (unsigned)i;
	else if (!strcmp(key, "since_ms"))
		s->since_ms = i;
	else if (!strcmp(key, "exec_ms"))
		s->exec_ms = i;
	else if (!strcmp(key, "ready_ms"))
		s->ready_ms = i;
	/* unknown keys are skipped: a newer shim may write more */
	return 0;
}

int svc_status_parse(char *text, struct svc_status *ret)
{
	struct svc_status s = {.exit_code = -1};
	char *line, *save = NULL;
	bool have_state = false;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (!eq)
			return -EBADMSG;
		*eq = '\0';
		if (set_field(&s, line, eq + 1) < 0)
			return -EBADMSG;
		have_state |= !strcmp(line, "state");
	}
	if (!have_state)
		return -EBADMSG;
	*ret = s;
	return 0;
}

int svc_status_read(const char *path, struct svc_status *ret)
{
	char *text = NULL;
	int r;

	r = read_file(path, 64 << 10, &text, NULL);
	if (r < 0)
		return r;
	r = svc_status_parse(text, ret);
	free(text);
	return r;
}

void svc_journal_append(const char *path, const char *service, const char *kind, const char *detail)
{
	struct strbuf sb = STRBUF_INIT;
	int fd;

	strbuf_addf(&sb, "%" PRId64 "\t%s\t%s\t", time_wall_ms(), service, kind);
	for (const char *p = detail; *p; p++)
		strbuf_addch(&sb, *p == '\n' || *p == '\t' ? ' ' : *p);
	strbuf_addch(&sb, '\n');
	/* O_CREAT only when it is missing: an open that may create takes the
	 * directory's lock, which the shims of a session starting together
	 * would queue on at every line */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, sb.buf, sb.len) < 0) {
			/* best effort: the status files are the record */
		}
		close(fd);
	}
	strbuf_release(&sb);
}
