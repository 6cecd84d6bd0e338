/*
 * owners.c: which process holds a socket inode. The only way Linux tells is
 * the fd table of each process: readlink(/proc/<pid>/fd/N) = "socket:[INODE]".
 * owners_pid_holds() reads the fds of one known pid (the cheap path);
 * owner_map_build() reads every process's fds once into a sorted array of
 * (inode, pid) pairs searched by bsearch (the expensive path: once per command).
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "probe/owners.h"

struct owner {
	uint64_t inode;
	pid_t pid;
};

struct owner_map {
	struct owner *v;
	size_t n, alloc;
	unsigned hidden;
};

/* The inode of a "socket:[INODE]" link, or 0 when the link is something else. */
static uint64_t socket_inode(const char *link, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 10 || memcmp(link, "socket:[", 8) || link[len - 1] != ']')
		return 0;
	for (i = 8; i < len - 1; i++) {
		if (link[i] < '0' || link[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (uint64_t)(link[i] - '0');
	}
	return v;
}

/* A pid directory name: all digits, no leading zero. */
static bool pid_name(const char *name, pid_t *ret)
{
	long v = 0;

	if (name[0] < '1' || name[0] > '9')
		return false;
	for (const char *p = name; *p; p++) {
		if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v > INT32_MAX)
		return false;
	*ret = (pid_t)v;
	return true;
}

/* Call fn for each socket fd of the process whose fd directory is open as dfd.
 * Takes ownership of dfd. fn returns true to stop. */
static void for_each_socket(int dfd, bool (*fn)(uint64_t inode, void *data), void *data)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		char link[64];
		ssize_t n;
		uint64_t inode;

		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dfd, de->d_name, link, sizeof(link));
		if (n <= 0 || (size_t)n >= sizeof(link))
			continue; /* closed meanwhile, or not a socket */
		inode = socket_inode(link, (size_t)n);
		if (inode && fn(inode, data))
			break;
	}
	closedir(d);
}

struct sweep_ctx {
	struct owner_map *m;
	pid_t pid;
};

static bool sweep_add(uint64_t inode, void *data)
{
	struct sweep_ctx *c = data;

	XGROW(c->m->v, c->m->alloc, c->m->n + 1);
	c->m->v[c->m->n++] = (struct owner){.inode = inode, .pid = c->pid};
	return false;
}

static int owner_cmp(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* True when pid is a kernel thread or gone, i.e. has no fds worth counting:
 * its exe link is absent (ENOENT), where another user's process gives EACCES. */
static bool no_user_fds(int proc_fd, pid_t pid)
{
	char path[32], link[8];

	snprintf(path, sizeof(path), "%d/exe", (int)pid);
	return readlinkat(proc_fd, path, link, sizeof(link)) < 0 && errno == ENOENT;
}

int owner_map_build(const char *root_dir, struct owner_map **ret)
{
	struct owner_map *m;
	struct dirent *de;
	int proc_fd, r;
	DIR *d;

	proc_fd = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (proc_fd < 0)
		return -errno;
	d = fdopendir(proc_fd);
	if (!d) {
		r = -errno;
		close(proc_fd);
		return r;
	}
	m = xcalloc(1, sizeof(*m));
	while ((errno = 0, de = readdir(d))) {
		struct sweep_ctx c = {.m = m};
		char path[32];
		int dfd;

		if (!pid_name(de->d_name, &c.pid))
			continue;
		snprintf(path, sizeof(path), "%d/fd", (int)c.pid);
		dfd = openat(proc_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			if ((errno == EACCES || errno == EPERM) && !no_user_fds(proc_fd, c.pid))
				m->hidden++;
			continue; /* ENOENT: exited during the sweep */
		}
		for_each_socket(dfd, sweep_add, &c);
	}
	if (errno) {
		r = -errno;
		closedir(d);
		owner_map_destroy(m);
		return r;
	}
	closedir(d);
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), owner_cmp);
	*ret = m;
	return 0;
}

void owner_map_destroy(struct owner_map *m)
{
	if (!m)
		return;
	free(m->v);
	free(m);
}

int owner_map_lookup(const struct owner_map *m, uint64_t inode, pid_t *ret)
{
	size_t lo = 0, hi = m->n;

	/* The lowest pid among the holders (a forked child shares its parent's
	 * socket; the parent is usually the one to name). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].inode < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == m->n || m->v[lo].inode != inode)
		return -ENOENT;
	*ret = m->v[lo].pid;
	return 0;
}

unsigned owner_map_hidden(const struct owner_map *m)
{
	return m->hidden;
}

struct match_ctx {
	uint64_t want;
	bool found;
};

static bool match_inode(uint64_t inode, void *data)
{
	struct match_ctx *c = data;

	if (inode == c->want)
		c->found = true;
	return c->found;
}

bool owners_pid_holds(pid_t pid, uint64_t inode)
{
	struct match_ctx c = {.want = inode};
	char path[64];
	int dfd;

	if (pid <= 0 || inode == 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	for_each_socket(dfd, match_inode, &c);
	return c.found;
}

struct collect_ctx {
	uint64_t **v;
	size_t *n, *alloc;
};

static bool collect_inode(uint64_t inode, void *data)
{
	struct collect_ctx *c = data;

	XGROW(*c->v, *c->alloc, *c->n + 1);
	(*c->v)[(*c->n)++] = inode;
	return false;
}

size_t owners_pid_sockets(pid_t pid, uint64_t **v, size_t *n, size_t *alloc)
{
	struct collect_ctx c = {v, n, alloc};
	size_t first = *n;
	char path[64];
	int dfd;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	for_each_socket(dfd, collect_inode, &c);
	return *n - first;
}
