/*
 * fuzz_proc.c: the readers of what the kernel and the shim write, each fed
 * the same input: /proc/<pid>/stat (proc_stat_parse), /proc/net/tcp and tcp6
 * (listeners_parse_procnet), /proc/self/mountinfo (cgroup_mount_parse),
 * cgroup.procs (cgroup_procs_parse), /proc/<pid>/environ (marker_parse) and
 * the shim's status record (svc_status_parse). Properties: what they return
 * holds what they promise; a status record svc_status_format writes parses
 * back to the same record.
 */
#include "util/common.h"

#include <sys/socket.h>

#include "fuzz.h"
#include "probe/listeners.h"
#include "probe/marker.h"
#include "probe/proc.h"
#include "proc/cgroup.h"
#include "shim/svcstatus.h"

static void fuzz_stat(const char *text)
{
	struct proc_stat st;

	if (proc_stat_parse(text, &st) < 0)
		return;
	FUZZ_CHECK(st.pid >= 0 && st.ppid >= 0 && st.pgrp >= 0 && st.session >= 0);
	FUZZ_CHECK(strlen(st.comm) < sizeof(st.comm));
}

static void fuzz_procnet(const char *text, int family)
{
	struct listener_set set = {0};

	if (listeners_parse_procnet(text, family, &set) < 0) {
		FUZZ_CHECK(set.n == 0);
		listener_set_finish(&set);
		return;
	}
	for (size_t i = 0; i < set.n; i++) {
		char *addr = listener_addr_str(&set.v[i]);

		FUZZ_CHECK(set.v[i].family == family);
		FUZZ_CHECK(listeners_find(&set, set.v[i].port) != NULL);
		free(addr);
	}
	listener_set_finish(&set);
}

static void fuzz_mountinfo(const char *text)
{
	char *copy = xstrdup(text), *mnt = NULL;

	if (cgroup_mount_parse(copy, &mnt) == 0) {
		FUZZ_CHECK(mnt != NULL);
		free(mnt);
	}
	free(copy);
}

static void fuzz_procs(const char *text)
{
	char *copy = xstrdup(text);
	pid_t *v = NULL;
	size_t n = 0, alloc = 0;

	cgroup_procs_parse(copy, &v, &n, &alloc);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(v[i] > 0);
	free(v);
	free(copy);
}

static void fuzz_status(const char *text)
{
	char *copy = xstrdup(text);
	struct svc_status s, back;
	struct strbuf sb = STRBUF_INIT;

	if (svc_status_parse(copy, &s) == 0) {
		svc_status_format(&s, &sb);
		FUZZ_CHECK(svc_status_parse(sb.buf, &back) == 0);
		FUZZ_CHECK(back.state == s.state && back.shim_pid == s.shim_pid &&
			   back.shim_start == s.shim_start && back.pid == s.pid &&
			   back.start_time == s.start_time && back.exit_code == s.exit_code &&
			   back.exit_signal == s.exit_signal && back.core_dumped == s.core_dumped &&
			   back.killed == s.killed && back.restarts == s.restarts &&
			   back.since_ms == s.since_ms && back.exec_ms == s.exec_ms &&
			   back.ready_ms == s.ready_ms);
		FUZZ_CHECK(!strcmp(back.error, s.error) && !strcmp(back.cgroup, s.cgroup));
	}
	strbuf_release(&sb);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	struct marker m;

	fuzz_stat(text);
	fuzz_procnet(text, AF_INET);
	fuzz_procnet(text, AF_INET6);
	fuzz_mountinfo(text);
	fuzz_procs(text);
	fuzz_status(text);
	marker_parse((const char *)data, size, &m);
	marker_finish(&m);
	free(text);
	return 0;
}
