/*
 * forensics.c: evidence of why a process that was not our child died (see
 * forensics.h).
 */
#include "util/common.h"

#include <fcntl.h>
#include <unistd.h>

#include "probe/forensics.h"
#include "util/fsutil.h"

#define KMSG_MAX (1 << 20) /* read at most this much of the kernel log */
#define LINE_MAX_SHOWN 200

/* Does line (a kmsg record's text) name an OOM kill of one of pids? */
static bool names_oom_of(const char *line, size_t len, const pid_t *pids, size_t n)
{
	static const char *const marks[] = {
		"Killed process ", "oom-kill:", "Memory cgroup out of memory: Killed process "};
	char *copy = xstrndup(line, len);
	bool hit = false;

	for (size_t m = 0; m < ARRAY_SIZE(marks) && !hit; m++) {
		const char *p = strstr(copy, marks[m]);

		if (!p)
			continue;
		for (size_t i = 0; i < n && !hit; i++) {
			char *needle = m == 1 ? xasprintf(",pid=%d,", (int)pids[i])
					      : xasprintf("Killed process %d ", (int)pids[i]);

			hit = strstr(copy, needle) != NULL;
			free(needle);
		}
	}
	free(copy);
	return hit;
}

size_t forensics_oom_lines(const char *text, const pid_t *pids, size_t n, size_t max,
			   struct strbuf *out)
{
	size_t found = 0;

	for (const char *p = text; *p && found < max;) {
		size_t len = strcspn(p, "\n");
		const char *msg = memchr(p, ';', len);

		/* a record: "prio,seq,usec,flags;message"; continuation lines
		 * (" KEY=value") have no ';' before their text */
		if (msg && names_oom_of(msg + 1, len - (size_t)(msg + 1 - p), pids, n)) {
			size_t mlen = len - (size_t)(msg + 1 - p);

			strbuf_addf(out, "%soom: %.*s%s", out->len ? "; " : "",
				    (int)(mlen > LINE_MAX_SHOWN ? LINE_MAX_SHOWN : mlen), msg + 1,
				    mlen > LINE_MAX_SHOWN ? "..." : "");
			found++;
		}
		p += len;
		if (*p)
			p++;
	}
	return found;
}

/* /dev/kmsg hands out one record per read(2) and EAGAIN at the end (with
 * O_NONBLOCK): read every record there is, within KMSG_MAX. */
static int read_kmsg(const char *path, struct strbuf *out)
{
	char rec[8192];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (out->len < KMSG_MAX) {
		ssize_t k = read(fd, rec, sizeof(rec) - 1);

		if (k < 0 && errno == EPIPE)
			continue; /* records overwritten while we read: go on */
		if (k <= 0)
			break;
		strbuf_add(out, rec, (size_t)k);
		if (rec[k - 1] != '\n')
			strbuf_addch(out, '\n');
	}
	close(fd);
	return 0;
}

void forensics_snapshot(const pid_t *pids, size_t n, const char *kmsg, const char *pressure,
			struct strbuf *out)
{
	struct strbuf log = STRBUF_INIT;
	char *psi = NULL;
	int r;

	if (read_file(pressure, 4096, &psi, NULL) == 0) {
		/* "some avg10=...\nfull avg10=...\n" -> "some avg10=..., full avg10=..." */
		strbuf_addf(out, "%smemory pressure: ", out->len ? "; " : "");
		for (char *p = psi, *nl; *p; p = nl + 1) {
			if (!(nl = strchr(p, '\n')))
				nl = p + strlen(p) - 1;
			strbuf_addf(out, "%s%.*s", p == psi ? "" : ", ",
				    (int)(nl - p + (*nl != '\n')), p);
			if (!nl[1])
				break;
		}
	} else {
		strbuf_addf(out, "%smemory pressure: unknown (no %s)", out->len ? "; " : "",
			    pressure);
	}
	free(psi);
	r = read_kmsg(kmsg, &log);
	if (r < 0)
		strbuf_addf(out, "; the kernel log is not readable (%s)", strerror(-r));
	else if (!forensics_oom_lines(log.buf ? log.buf : "", pids, n, 3, out))
		strbuf_adds(out, "; no OOM kill of it in the kernel log");
	strbuf_release(&log);
}
