/*
 * proc.c: reading one process out of /proc/<pid>. The stat line gives its
 * identity (pid + start time, field 22) and its comm; status gives its real
 * uid; cmdline gives what to show a human. Nothing here keeps state.
 */
#include "util/common.h"

#include <dirent.h>

#include <pwd.h>

#include <fcntl.h>
#include <unistd.h>

#include "probe/proc.h"
#include "util/parse.h"

/* A stat line is about 300 bytes; comm is at most 64 even for kernel threads. */
#define STAT_MAX 4096
#define CMDLINE_MAX (64 * 1024)

/* Read at most size - 1 bytes of path into buf, NUL-terminated. A process
 * that dies between open and read gives ESRCH: report it as gone (ENOENT). */
static int read_small(const char *path, char *buf, size_t size, size_t *ret_len)
{
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ESRCH ? -ENOENT : -errno;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errno == ESRCH ? -ENOENT : -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	buf[len] = '\0';
	*ret_len = len;
	return 0;
}

/* The next space-separated field of *p, copied into buf; advances *p. */
static int next_field(const char **p, char *buf, size_t size)
{
	const char *s = *p, *e;

	while (*s == ' ')
		s++;
	e = s;
	while (*e && *e != ' ' && *e != '\n')
		e++;
	if (e == s || (size_t)(e - s) >= size)
		return -EINVAL;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	*p = e;
	return 0;
}

static int field_pid(const char *s, pid_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, 0, INT32_MAX, &v);

	if (r < 0)
		return -EINVAL;
	*ret = (pid_t)v;
	return 0;
}

int proc_stat_parse(const char *text, struct proc_stat *ret)
{
	struct proc_stat st = {0};
	const char *lparen, *rparen, *p;
	char field[32];
	size_t comm_len;
	uint64_t v;

	if (!text)
		return -EINVAL;
	lparen = strchr(text, '(');
	rparen = strrchr(text, ')');
	if (!lparen || !rparen || rparen < lparen || lparen == text || lparen[-1] != ' ')
		return -EINVAL;

	/* Field 1: the pid, alone before " (". */
	if ((size_t)(lparen - 1 - text) >= sizeof(field))
		return -EINVAL;
	memcpy(field, text, (size_t)(lparen - 1 - text));
	field[lparen - 1 - text] = '\0';
	if (field_pid(field, &st.pid) < 0)
		return -EINVAL;

	/* Field 2: comm may hold anything, ')' included: it ends at the last ')'. */
	comm_len = (size_t)(rparen - lparen - 1);
	if (comm_len >= sizeof(st.comm))
		comm_len = sizeof(st.comm) - 1;
	memcpy(st.comm, lparen + 1, comm_len);
	st.comm[comm_len] = '\0';

	p = rparen + 1;
	if (*p != ' ')
		return -EINVAL;
	/* Field 3: state, one letter. */
	if (next_field(&p, field, sizeof(field)) < 0 || field[1] != '\0')
		return -EINVAL;
	st.state = field[0];
	/* Fields 4-6: ppid, pgrp, session. */
	if (next_field(&p, field, sizeof(field)) < 0 || field_pid(field, &st.ppid) < 0)
		return -EINVAL;
	if (next_field(&p, field, sizeof(field)) < 0 || field_pid(field, &st.pgrp) < 0)
		return -EINVAL;
	if (next_field(&p, field, sizeof(field)) < 0 || field_pid(field, &st.session) < 0)
		return -EINVAL;
	/* Fields 7-21: present, not needed (some are signed). */
	for (int i = 7; i <= 21; i++)
		if (next_field(&p, field, sizeof(field)) < 0)
			return -EINVAL;
	/* Field 22: start time in clock ticks since boot. */
	if (next_field(&p, field, sizeof(field)) < 0 || parse_u64(field, 0, UINT64_MAX, &v) < 0)
		return -EINVAL;
	st.start_time = v;

	*ret = st;
	return 0;
}

int proc_stat_read(pid_t pid, struct proc_stat *ret)
{
	char path[64], buf[STAT_MAX];
	size_t len;
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	r = read_small(path, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	return proc_stat_parse(buf, ret);
}

int proc_start_time(pid_t pid, uint64_t *ret)
{
	struct proc_stat st;
	int r = proc_stat_read(pid, &st);

	if (r < 0)
		return r;
	*ret = st.start_time;
	return 0;
}

bool proc_stat_gone(const struct proc_stat *st)
{
	char path[64];
	struct dirent *de;
	unsigned threads = 0;
	DIR *d;

	if (st->state != 'Z' && st->state != 'X' && st->state != 'x')
		return false;
	/* A main thread that called pthread_exit shows as a zombie while the
	 * other threads of its process run on: the process is alive. */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)st->pid);
	d = opendir(path);
	if (!d)
		return true;
	while ((de = readdir(d)) && threads < 2)
		threads += de->d_name[0] >= '1' && de->d_name[0] <= '9';
	closedir(d);
	return threads < 2;
}

bool proc_is(pid_t pid, uint64_t start_time)
{
	struct proc_stat st;

	/* A zombie keeps its start time until reaped, but it runs no more. */
	return proc_stat_read(pid, &st) >= 0 && st.start_time == start_time && !proc_stat_gone(&st);
}

int proc_uid(pid_t pid, uid_t *ret)
{
	char path[64], buf[STAT_MAX], field[32];
	const char *line, *p;
	size_t len;
	uint64_t v;
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	r = read_small(path, buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	if (!strncmp(buf, "Uid:", 4)) {
		p = buf + 4;
	} else {
		line = strstr(buf, "\nUid:");
		if (!line)
			return -EINVAL;
		p = line + 5;
	}
	/* "Uid:\treal\teffective\tsaved\tfs": the first is the real uid. */
	while (*p == '\t' || *p == ' ')
		p++;
	len = strspn(p, "0123456789");
	if (len == 0 || len >= sizeof(field))
		return -EINVAL;
	memcpy(field, p, len);
	field[len] = '\0';
	if (parse_u64(field, 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*ret = (uid_t)v;
	return 0;
}

int proc_cmdline(pid_t pid, char **ret)
{
	char path[64];
	char *buf;
	size_t len;
	int r;

	if (pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf = xmalloc(CMDLINE_MAX);
	/* A longer command line is cut: this is for humans, not for identity. */
	r = read_small(path, buf, CMDLINE_MAX, &len);
	if (r < 0)
		goto out_free;
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	if (len == 0) {
		/* A kernel thread or a zombie: show the comm like ps does. */
		struct proc_stat st;

		r = proc_stat_read(pid, &st);
		if (r < 0)
			goto out_free;
		*ret = xasprintf("[%s]", st.comm);
		r = 0;
		goto out_free;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\0')
			buf[i] = ' ';
		else if (c < 0x20 || c == 0x7f)
			buf[i] = '?';
	}
	buf[len] = '\0';
	*ret = xstrndup(buf, len);
	r = 0;
out_free:
	free(buf);
	return r;
}

char *proc_user_name(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		return xstrdup(res->pw_name);
	return xasprintf("uid %u", (unsigned)uid);
}
