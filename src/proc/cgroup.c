/*
 * cgroup.c: cgroup v2 containment (see cgroup.h).
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/cgroup.h"
#include "util/fsutil.h"
#include "util/parse.h"

#define CGROUP_DEPTH_MAX 16

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

/* Undo the octal escapes of /proc/self/mountinfo ("\040" for a space); a
 * backslash not followed by three octal digits within s is kept. */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    is_octal(s[i + 2]) && is_octal(s[i + 3])) {
			*o++ = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) |
				      (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int cgroup_mount_parse(char *text, char **ret)
{
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent major:minor root mountpoint options ... - fstype source super */
		const char *sep = strstr(line, " - "), *mp = line;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		for (int field = 0; field < 4 && mp; field++) {
			mp = strchr(mp, ' ');
			if (mp)
				mp++;
		}
		if (!mp || mp > sep)
			continue;
		*ret = unescape(mp, strcspn(mp, " "));
		return 0;
	}
	return -ENOENT;
}

int cgroup_mount(char **ret)
{
	char *text = NULL;
	size_t len = 0;
	int r = read_file("/proc/self/mountinfo", 1u << 20, &text, &len);

	if (r < 0)
		return r;
	r = cgroup_mount_parse(text, ret);
	free(text);
	return r;
}

/* Our own cgroup (v2) below the mount, from /proc/self/cgroup ("0::/path"). */
static char *own_cgroup(const char *mnt)
{
	char *text = NULL, *line, *save = NULL, *out = NULL;
	size_t len = 0;

	if (read_file("/proc/self/cgroup", 1u << 16, &text, &len) < 0)
		return NULL;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "0::/", 4)) {
			out = strcmp(line + 3, "/") ? xasprintf("%s%s", mnt, line + 3)
						    : xstrdup(mnt);
			break;
		}
	free(text);
	return out;
}

/* Can berth make and use cgroups in dir/berth? */
static bool usable(const char *dir, char **ret)
{
	char *base = path_join(dir, "berth"), *procs;
	bool ok;

	if (mkdir(base, 0755) < 0 && errno != EEXIST) {
		free(base);
		return false;
	}
	procs = path_join(base, "cgroup.procs");
	ok = access(procs, W_OK) == 0;
	free(procs);
	if (!ok) {
		free(base);
		return false;
	}
	*ret = base;
	return true;
}

int cgroup_base(char **ret, char **why)
{
	const char *forced = getenv("BERTH_CONTAINMENT");
	char *mnt = NULL, *own = NULL;
	int r;

	if (forced && !strcmp(forced, "subreaper")) {
		*why = xstrdup("BERTH_CONTAINMENT=subreaper is set");
		return -ENOTSUP;
	}
	r = cgroup_mount(&mnt);
	if (r < 0) {
		*why = xstrdup("no cgroup v2 hierarchy is mounted");
		return -ENOTSUP;
	}
	/* root: the top of the hierarchy; a user: a subtree delegated to us. */
	if (usable(mnt, ret)) {
		free(mnt);
		return 0;
	}
	own = own_cgroup(mnt);
	if (own && strcmp(own, mnt) && usable(own, ret)) {
		free(own);
		free(mnt);
		return 0;
	}
	*why = xasprintf("no writable cgroup v2 subtree (neither %s nor %s is writable: run as "
			 "root, or in a systemd unit with Delegate=yes)",
			 mnt, own ? own : "our own cgroup");
	free(own);
	free(mnt);
	return -ENOTSUP;
}

static bool component_ok(const char *s, size_t n)
{
	if (n == 0 || (n <= 2 && !strncmp(s, "..", n)))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20)
			return false;
	return true;
}

bool cgroup_path_valid(const char *path, const char *root_id, const char *slug, bool leaf)
{
	char *mnt = NULL, *want;
	const char *p, *end;
	size_t ml, wl;
	bool ok = false;

	if (!path || path[0] != '/' || strstr(path, "/..") || strstr(path, "//") ||
	    cgroup_mount(&mnt) < 0)
		goto out;
	ml = strlen(mnt);
	if (strncmp(path, mnt, ml) || path[ml] != '/')
		goto out;
	end = path + strlen(path);
	if (leaf) {
		p = strrchr(path, '/');
		if (!p || !component_ok(p + 1, (size_t)(end - p - 1)))
			goto out;
		end = p;
	}
	want = xasprintf("/%s/%s", root_id, slug);
	wl = strlen(want);
	ok = (size_t)(end - path) > ml + wl && !memcmp(end - wl, want, wl);
	free(want);
out:
	free(mnt);
	return ok;
}

int cgroup_make(const char *path)
{
	return mkdir_p(path, 0755);
}

int cgroup_dir_fd(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int write_value(const char *path, const char *file, const char *value)
{
	char *f = path_join(path, file);
	int fd = open(f, O_WRONLY | O_CLOEXEC), r = 0;

	free(f);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

int cgroup_attach(const char *path, pid_t pid)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	return write_value(path, "cgroup.procs", buf);
}

/* The thread group of tid (Tgid in /proc/<tid>/status), or -ESRCH. */
static pid_t tgid_of(pid_t tid)
{
	char file[64], num[16], *text = NULL, *line;
	size_t len = 0, k;
	uint64_t t;
	pid_t r = -ESRCH;

	snprintf(file, sizeof(file), "/proc/%d/status", (int)tid);
	if (read_file(file, 1u << 16, &text, &len) < 0)
		return -ESRCH;
	line = strstr(text, "\nTgid:");
	if (line) {
		line += 6;
		line += strspn(line, " \t");
		k = strspn(line, "0123456789");
		if (k > 0 && k < sizeof(num)) {
			memcpy(num, line, k);
			num[k] = '\0';
			if (parse_u64(num, 1, INT32_MAX, &t) == 0)
				r = (pid_t)t;
		}
	}
	free(text);
	return r;
}

/* A process whose main thread has exited is missing from cgroup.procs (and
 * from what cgroup.kill walks) while its other threads run in the cgroup:
 * cgroup.threads names them; their thread group joins the list. */
static void add_thread_groups(const char *path, pid_t **v, size_t *n, size_t *alloc)
{
	char *threads = path_join(path, "cgroup.threads"), *text = NULL, *line, *save = NULL;
	size_t len = 0;
	int r = read_file(threads, 16u << 20, &text, &len);

	free(threads);
	if (r < 0)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t tid;
		bool known = false;
		pid_t tg;

		if (parse_u64(line, 1, INT32_MAX, &tid) < 0)
			continue;
		for (size_t i = 0; i < *n && !known; i++)
			known = (*v)[i] == (pid_t)tid;
		if (known || (tg = tgid_of((pid_t)tid)) < 0)
			continue;
		for (size_t i = 0; i < *n && !known; i++)
			known = (*v)[i] == tg;
		if (!known) {
			XGROW(*v, *alloc, *n + 1);
			(*v)[(*n)++] = tg;
		}
	}
	free(text);
}

void cgroup_procs_parse(char *text, pid_t **v, size_t *n, size_t *alloc)
{
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t pid;

		if (parse_u64(line, 1, INT32_MAX, &pid) < 0)
			continue;
		XGROW(*v, *alloc, *n + 1);
		(*v)[(*n)++] = (pid_t)pid;
	}
}

static int collect(const char *path, int depth, pid_t **v, size_t *n, size_t *alloc)
{
	char *procs = path_join(path, "cgroup.procs"), *text = NULL;
	size_t len = 0;
	struct dirent *de;
	DIR *d;
	int r = read_file(procs, 16u << 20, &text, &len);

	free(procs);
	if (r < 0)
		return r;
	cgroup_procs_parse(text, v, n, alloc);
	free(text);
	add_thread_groups(path, v, n, alloc);
	if (depth >= CGROUP_DEPTH_MAX)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = path_join(path, de->d_name);
		collect(sub, depth + 1, v, n, alloc);
		free(sub);
	}
	closedir(d);
	return 0;
}

int cgroup_pids(const char *path, pid_t **v, size_t *n)
{
	size_t alloc = 0;

	*v = NULL;
	*n = 0;
	return collect(path, 0, v, n, &alloc);
}

int cgroup_kill(const char *path)
{
	int r = write_value(path, "cgroup.kill", "1");

	return r == -ENOENT && path_is_dir(path) ? -ENOTSUP : r;
}

int cgroup_populated(const char *path)
{
	char *f = path_join(path, "cgroup.events"), *text = NULL;
	size_t len = 0;
	int r = read_file(f, 4096, &text, &len);

	free(f);
	if (r < 0)
		return r;
	r = strstr(text, "populated 1") != NULL;
	free(text);
	return r;
}

static int remove_tree(const char *path, int depth)
{
	struct dirent *de;
	DIR *d;

	if (depth < CGROUP_DEPTH_MAX && (d = opendir(path))) {
		while ((de = readdir(d))) {
			char *sub;

			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			sub = path_join(path, de->d_name);
			remove_tree(sub, depth + 1);
			free(sub);
		}
		closedir(d);
	}
	if (rmdir(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int cgroup_remove(const char *path)
{
	return remove_tree(path, 0);
}
