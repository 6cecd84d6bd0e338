/*
 * tree.c: the process table snapshot and descendant walks.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "probe/tree.h"
#include "util/parse.h"

/* Deeper chains than this are cut: a loop in a racing snapshot must end. */
#define TREE_DEPTH_MAX 256

static int cmp_pid(const void *a, const void *b)
{
	const struct proc_stat *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The children index: by parent, then pid. */
static int cmp_kid(const void *a, const void *b, void *table)
{
	const struct proc_table *t = table;
	const struct proc_stat *x = &t->v[*(const size_t *)a];
	const struct proc_stat *y = &t->v[*(const size_t *)b];

	if (x->ppid != y->ppid)
		return (x->ppid > y->ppid) - (x->ppid < y->ppid);
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static void index_kids(struct proc_table *t)
{
	t->kids = xcalloc(t->n, sizeof(*t->kids));
	for (size_t i = 0; i < t->n; i++)
		t->kids[i] = i;
	qsort_r(t->kids, t->n, sizeof(*t->kids), cmp_kid, t);
}

/* The first position in t->kids of a child of pid; the children of pid are
 * the positions from there whose parent is pid. */
static size_t first_kid(const struct proc_table *t, pid_t pid)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[t->kids[mid]].ppid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int proc_table_read(struct proc_table *t)
{
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	memset(t, 0, sizeof(*t));
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct proc_stat ps;
		uint64_t v;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    parse_u64(de->d_name, 1, INT32_MAX, &v) < 0 ||
		    proc_stat_read((pid_t)v, &ps) < 0)
			continue;
		XGROW(t->v, alloc, t->n + 1);
		t->v[t->n++] = ps;
	}
	closedir(d);
	if (t->n) {
		qsort(t->v, t->n, sizeof(*t->v), cmp_pid);
		index_kids(t);
	}
	return 0;
}

void proc_table_finish(struct proc_table *t)
{
	free(t->v);
	free(t->kids);
	memset(t, 0, sizeof(*t));
}

const struct proc_stat *proc_table_get(const struct proc_table *t, pid_t pid)
{
	struct proc_stat key = {.pid = pid};

	if (!t->n)
		return NULL;
	return bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_pid);
}

bool proc_table_descends(const struct proc_table *t, pid_t pid, pid_t ancestor)
{
	const struct proc_stat *p = proc_table_get(t, pid);

	for (int depth = 0; p && depth < TREE_DEPTH_MAX; depth++) {
		if (p->ppid == ancestor)
			return true;
		if (p->ppid <= 1)
			return false;
		p = proc_table_get(t, p->ppid);
	}
	return false;
}

void proc_table_mark_descendants(const struct proc_table *t, pid_t ancestor, bool *in)
{
	size_t *level, *next, n_level = 0, n_next;

	if (!t->n)
		return;
	memset(in, 0, t->n * sizeof(*in));
	level = xcalloc(t->n, sizeof(*level));
	next = xcalloc(t->n, sizeof(*next));
	/* Level by level, as deep as proc_table_descends looks up. It stops
	 * at a parent <= 1 other than ancestor itself, so their children are
	 * not walked; an entry seen already (a loop in a racing snapshot) is
	 * not walked again. */
	for (int depth = 0; depth < TREE_DEPTH_MAX; depth++) {
		n_next = 0;
		for (size_t l = 0; l < (depth ? n_level : 1); l++) {
			pid_t parent = depth ? t->v[level[l]].pid : ancestor;

			if (depth && parent <= 1)
				continue;
			for (size_t k = first_kid(t, parent);
			     k < t->n && t->v[t->kids[k]].ppid == parent; k++) {
				if (in[t->kids[k]])
					continue;
				in[t->kids[k]] = true;
				next[n_next++] = t->kids[k];
			}
		}
		if (!n_next)
			break;
		memcpy(level, next, n_next * sizeof(*level));
		n_level = n_next;
	}
	free(level);
	free(next);
}

size_t proc_table_descendants(const struct proc_table *t, pid_t ancestor, struct proc_ref **v,
			      size_t *n, size_t *alloc)
{
	size_t added = 0;
	bool *in;

	if (!t->n)
		return 0;
	in = xcalloc(t->n, sizeof(*in));
	proc_table_mark_descendants(t, ancestor, in);
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_stat *p = &t->v[i];

		if (!in[i] || proc_stat_gone(p))
			continue;
		XGROW(*v, *alloc, *n + 1);
		(*v)[*n].pid = p->pid;
		(*v)[*n].start_time = p->start_time;
		(*n)++;
		added++;
	}
	free(in);
	return added;
}

/* Append the children of every thread of pid to *v. */
static int children_of(pid_t pid, pid_t **v, size_t *n, size_t *alloc)
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char file[320], buf[4096];
		ssize_t got;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT && access(path, F_OK) == 0) {
				closedir(d);
				return -ENOTSUP;
			}
			continue;
		}
		while ((got = read(fd, buf, sizeof(buf) - 1)) > 0) {
			char *p = buf, *save = NULL, *tok;

			buf[got] = '\0';
			/* a read ends at a pid boundary: the file is made of "pid " */
			for (tok = strtok_r(p, " \n", &save); tok;
			     tok = strtok_r(NULL, " \n", &save)) {
				uint64_t c;

				if (parse_u64(tok, 1, INT32_MAX, &c) < 0)
					continue;
				XGROW(*v, *alloc, *n + 1);
				(*v)[(*n)++] = (pid_t)c;
			}
		}
		close(fd);
	}
	closedir(d);
	return 0;
}

int proc_tree_walk(pid_t root, pid_t **v, size_t *n)
{
	size_t alloc = 0, start = 0;
	int r;

	*v = NULL;
	*n = 0;
	r = children_of(root, v, n, &alloc);

	if (r < 0)
		return r;
	/* breadth first; a pid seen twice (racing reparenting) is not walked again */
	for (size_t i = start; i < *n && *n - start < 1000000; i++) {
		bool seen = false;

		for (size_t j = start; j < i && !seen; j++)
			seen = (*v)[j] == (*v)[i];
		if (!seen && children_of((*v)[i], v, n, &alloc) == -ENOTSUP)
			return -ENOTSUP;
	}
	return 0;
}
