/*
 * fsutil.c: paths and whole-file helpers.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/testpoint.h"

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (b[0] == '/' || !la)
		return xstrdup(b);
	if (a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

/* The common case, the directory already there, is one stat: a mkdir of
 * an existing name takes its parent's lock (the shims of a session, started
 * together, queued on /, /tmp, ... for nothing). Otherwise the missing part
 * is made from the deepest existing ancestor down. */
int mkdir_p(const char *path, mode_t mode)
{
	char *parent;
	int r;

	if (path_is_dir(path))
		return 0;
	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST)
		return path_is_dir(path) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	parent = path_dir(path);
	/* "/" and "." exist; a parent as long as the path cannot be shorter */
	r = strlen(parent) < strlen(path) ? mkdir_p(parent, mode) : -ENOENT;
	free(parent);
	if (r < 0)
		return r;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -errno;
	return path_is_dir(path) ? 0 : -ENOTDIR;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	struct strbuf sb = STRBUF_INIT;
	struct stat st;
	char buf[8192];
	int fd, r = 0;

	/* A regular file only, symlinks followed: a FIFO or a device is not
	 * even opened (a read would block or never end; some act on an open). */
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { /* replaced meanwhile */
		r = -EINVAL;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max) {
			r = -EFBIG;
			goto out;
		}
		strbuf_add(&sb, buf, (size_t)n);
	}
	if (ret_len)
		*ret_len = sb.len;
	*ret = strbuf_detach(&sb);
out:
	close(fd);
	if (r < 0)
		strbuf_release(&sb);
	return r;
}

char *path_dir(const char *path)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	char *s;

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	s = strrchr(p, '/');
	if (!s) {
		free(p);
		return xstrdup(".");
	}
	if (s == p)
		s[1] = '\0';
	else
		*s = '\0';
	return p;
}

bool atomic_leftover_of(const char *name, const char *base)
{
	size_t l = strlen(base);
	const char *pid = name + l + 5;

	return !strncmp(name, base, l) && !strncmp(name + l, ".tmp.", 5) && *pid &&
	       strspn(pid, "0123456789") == strlen(pid);
}

unsigned rm_atomic_leftovers(const char *path)
{
	char *dir = path_dir(path);
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	d = opendir(dir);
	while (d && (de = readdir(d))) {
		long pid;

		if (!atomic_leftover_of(de->d_name, base))
			continue;
		/* a writer that still runs is between its write and its rename */
		pid = strtol(de->d_name + strlen(base) + 5, NULL, 10);
		if (pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	if (d)
		closedir(d);
	free(dir);
	return n;
}

/* write_file_atomic, the fsync before the rename when sync. */
static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	const char *p = data;
	int fd, r = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		r = -errno;
		goto out_free;
	}
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out_close;
		}
		p += n;
		len -= (size_t)n;
	}
	if (sync && fsync(fd) < 0) {
		r = -errno;
		goto out_close;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out_unlink;
	}
	goto out_free;
out_close:
	close(fd);
out_unlink:
	unlink(tmp);
out_free:
	free(tmp);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_atomic(path, data, len, mode, true);
}

int write_file_atomic_nosync(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_atomic(path, data, len, mode, false);
}

bool path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool path_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Unlink name below dirfd; a directory is opened instead (never through a
 * symlink): 0 when nothing is left to do, 1 with *ret_fd, or -errno. */
static int rm_unlink_or_open(int dirfd, const char *name, int *ret_fd)
{
	int err;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	err = errno;
	if (err != EISDIR && err != EPERM)
		return -err;
	*ret_fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*ret_fd < 0)
		/* EPERM on a file that is no directory: report the unlink's error */
		return errno == ENOTDIR ? -err : -errno;
	return 1;
}

/* Remove name below dirfd, one entry after the other; in that directory
 * itself, remove the entry `last` (when not NULL) after every other one. */
static int rm_rf_at(int dirfd, const char *name, const char *last)
{
	struct dirent *de;
	int fd, r;
	DIR *d;

	r = rm_unlink_or_open(dirfd, name, &fd);
	if (r <= 0)
		return r;
	r = 0;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (last && !strcmp(de->d_name, last)))
			continue;
		r = rm_rf_at(fd, de->d_name, NULL);
		if (r < 0)
			break;
	}
	if (r >= 0 && last)
		r = rm_rf_at(fd, last, NULL);
	closedir(d);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * A big tree is removed by a walker (the calling thread) and RM_WORKERS
 * helper threads. Unlinking a file is where the time goes: on a filesystem
 * that discards freed blocks at once (ext4 without a journal, mounted with
 * `discard`), every unlink waits for its discard; elsewhere it is the
 * inode's eviction. Those waits overlap when several threads unlink, while
 * one thread (like `rm -rf`) pays them one after the other (bench/README.md,
 * worktree: a 9,000-file node_modules in a quarter of rm -rf's time, with
 * the same CPU; 16 workers give most of what 32 give).
 *
 * Everything is relative to directory fds, each opened O_NOFOLLOW |
 * O_DIRECTORY from its parent's: a symlink is unlinked, never followed, even
 * if one replaces a directory meanwhile. The walker lists a directory,
 * queues its files and pushes its subdirectories; workers unlink the queued
 * files. A directory counts what it still holds (queued files, subdirectories
 * not yet removed, its own listing); the thread that brings that to zero
 * closes it and removes it from its parent. Nothing is skipped: the first
 * error stops the removal (what is left stays, `last` in the top directory
 * included) and is returned. Small trees never start a thread.
 */
#define RM_WORKERS 16
#define RM_SPAWN_AT 32   /* queued files before the workers start */
#define RM_OPEN_SOFT 256 /* open directories past which the walker helps first */
#define RM_PAUSE_AT 64   /* test_pause("rm-tree-walk") once this many are walked */

struct rm_dir {
	struct rm_dir *parent; /* NULL for the top */
	char *name;            /* in parent */
	int fd;                /* -1 until walked */
	unsigned held;         /* queued files + live subdirectories + 1 until listed */
};

struct rm_file {
	struct rm_dir *dir;
	char name[];
};

struct rm_job {
	pthread_mutex_t lock;
	pthread_cond_t more;     /* to workers: a file was queued, or the job ends */
	pthread_cond_t progress; /* to the walker: a file or directory is done */
	struct rm_file **q;      /* queued files (a stack) */
	size_t qlen, qcap;
	unsigned open; /* directory fds open */
	int err;       /* the first error */
	bool ending;
	pthread_t workers[RM_WORKERS];
	int nworkers;
	bool spawned;
};

static void rm_fail(struct rm_job *j, int err)
{
	if (!j->err)
		j->err = err;
}

/* d holds one thing less (lock held): at zero it is closed and removed from
 * its parent, which then holds one thing less. The top is left to the
 * walker. The lock is dropped around the rmdir: the parent, still holding
 * d, cannot go meanwhile, and nothing else can reach d. */
static void rm_dir_put(struct rm_job *j, struct rm_dir *d)
{
	while (d && --d->held == 0 && d->parent) {
		struct rm_dir *p = d->parent;

		if (d->fd >= 0) {
			close(d->fd);
			j->open--;
			if (!j->err) {
				int r = 0;

				pthread_mutex_unlock(&j->lock);
				if (unlinkat(p->fd, d->name, AT_REMOVEDIR) < 0 && errno != ENOENT)
					r = -errno;
				pthread_mutex_lock(&j->lock);
				if (r < 0)
					rm_fail(j, r);
			}
		}
		free(d->name);
		free(d);
		d = p;
	}
	pthread_cond_broadcast(&j->progress);
}

/* Unlink one queued file (lock held; dropped around the unlink). A file
 * that turned into a directory since it was listed is removed in full. */
static void rm_do(struct rm_job *j, struct rm_file *f)
{
	int r = 0;

	if (!j->err) {
		pthread_mutex_unlock(&j->lock);
		if (unlinkat(f->dir->fd, f->name, 0) < 0 && errno != ENOENT)
			r = errno == EISDIR ? rm_rf_at(f->dir->fd, f->name, NULL) : -errno;
		pthread_mutex_lock(&j->lock);
		if (r < 0)
			rm_fail(j, r);
	}
	rm_dir_put(j, f->dir);
	free(f);
}

static void *rm_worker(void *arg)
{
	struct rm_job *j = arg;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		while (!j->qlen && !j->ending)
			pthread_cond_wait(&j->more, &j->lock);
		if (!j->qlen)
			break;
		rm_do(j, j->q[--j->qlen]);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

/* The workers, once (lock held). They take no signal: those stay for the
 * signalfds. Fewer threads, or none, only make it slower: the walker drains
 * the queue as well. */
static void rm_spawn(struct rm_job *j)
{
	sigset_t all, old;

	j->spawned = true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (j->nworkers < RM_WORKERS &&
	       pthread_create(&j->workers[j->nworkers], NULL, rm_worker, j) == 0)
		j->nworkers++;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Queue the file name of d (lock held). */
static void rm_queue(struct rm_job *j, struct rm_dir *d, const char *name)
{
	size_t n = strlen(name);
	struct rm_file *f = xmalloc(sizeof(*f) + n + 1);

	f->dir = d;
	memcpy(f->name, name, n + 1);
	d->held++;
	XGROW(j->q, j->qcap, j->qlen + 1);
	j->q[j->qlen++] = f;
	if (!j->spawned && j->qlen >= RM_SPAWN_AT)
		rm_spawn(j);
	pthread_cond_signal(&j->more);
}

/* Push the subdirectory name of d on *stack, held by d (lock held). */
static void rm_push(struct rm_dir *d, const char *name, struct rm_dir ***stack, size_t *depth,
		    size_t *cap)
{
	struct rm_dir *c = xcalloc(1, sizeof(*c));

	c->parent = d;
	c->name = xstrdup(name);
	c->fd = -1;
	c->held = 1;
	d->held++;
	XGROW(*stack, *cap, *depth + 1);
	(*stack)[(*depth)++] = c;
}

/* List d (its fd open): files are queued, subdirectories pushed on *stack.
 * `last` is skipped. False once the job has failed. */
static bool rm_list(struct rm_job *j, struct rm_dir *d, const char *last, struct rm_dir ***stack,
		    size_t *depth, size_t *cap)
{
	char buf[16384] __attribute__((aligned(8)));
	bool ok = true;
	ssize_t n;
	int err;

	while (ok && (n = getdents64(d->fd, buf, sizeof(buf))) > 0) {
		pthread_mutex_lock(&j->lock);
		for (ssize_t off = 0; off < n && !j->err;
		     off += ((struct dirent64 *)(buf + off))->d_reclen) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			unsigned char type = de->d_type;
			struct stat st;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    (last && !strcmp(de->d_name, last)))
				continue;
			/* (a filesystem that does not say) */
			if (type == DT_UNKNOWN &&
			    fstatat(d->fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				type = S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
			if (type == DT_DIR)
				rm_push(d, de->d_name, stack, depth, cap);
			else
				rm_queue(j, d, de->d_name);
		}
		ok = !j->err;
		pthread_mutex_unlock(&j->lock);
	}
	if (ok && n < 0) {
		err = errno;
		pthread_mutex_lock(&j->lock);
		rm_fail(j, -err);
		pthread_mutex_unlock(&j->lock);
		ok = false;
	}
	return ok;
}

/* Open the subdirectory c for listing: 1 when open, 0 when it needs no
 * listing (gone, or no directory any more: then unlinked as a file). */
static int rm_open(struct rm_job *j, struct rm_dir *c)
{
	int fd, err;

	/* Past the soft limit, unlinking first lets directories close;
	 * with nothing queued it opens anyway (the walk needs it). */
	pthread_mutex_lock(&j->lock);
	while (j->open >= RM_OPEN_SOFT && j->qlen && !j->err)
		rm_do(j, j->q[--j->qlen]);
	pthread_mutex_unlock(&j->lock);
	fd = openat(c->parent->fd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	err = errno;
	pthread_mutex_lock(&j->lock);
	if (fd >= 0) {
		c->fd = fd;
		j->open++;
		pthread_mutex_unlock(&j->lock);
		return 1;
	}
	if (err == ENOTDIR || err == ELOOP)
		rm_queue(j, c->parent, c->name);
	else if (err != ENOENT)
		rm_fail(j, -err);
	rm_dir_put(j, c); /* never opened: frees c, the parent holds one less */
	pthread_mutex_unlock(&j->lock);
	return 0;
}

/* Remove name below dirfd; in that directory itself, `last` goes after
 * everything else, and only when everything else went. */
static int rm_tree(int dirfd, const char *name, const char *last)
{
	struct rm_job j = {.lock = PTHREAD_MUTEX_INITIALIZER,
			   .more = PTHREAD_COND_INITIALIZER,
			   .progress = PTHREAD_COND_INITIALIZER};
	struct rm_dir top = {.name = (char *)name, .held = 1}, **stack = NULL;
	size_t depth = 0, cap = 0, walked = 0;
	int fd, r;
	bool ok;

	r = rm_unlink_or_open(dirfd, name, &fd);
	if (r <= 0)
		return r;
	top.fd = fd;
	ok = rm_list(&j, &top, last, &stack, &depth, &cap);
	while (ok && depth) {
		struct rm_dir *c = stack[--depth];

		/* the crash tests kill a removal half done, workers running */
		if (++walked == RM_PAUSE_AT && j.nworkers)
			test_pause("rm-tree-walk");
		if (!rm_open(&j, c))
			continue;
		ok = rm_list(&j, c, NULL, &stack, &depth, &cap);
		pthread_mutex_lock(&j.lock);
		rm_dir_put(&j, c); /* listed: the listing's hold goes */
		ok = ok && !j.err;
		pthread_mutex_unlock(&j.lock);
	}
	pthread_mutex_lock(&j.lock);
	/* after an error, the directories never walked are released unopened */
	while (depth)
		rm_dir_put(&j, stack[--depth]);
	/* The walker helps with the queue, then waits for the files in flight. */
	while (j.qlen)
		rm_do(&j, j.q[--j.qlen]);
	while (top.held > 1)
		pthread_cond_wait(&j.progress, &j.lock);
	j.ending = true;
	pthread_cond_broadcast(&j.more);
	pthread_mutex_unlock(&j.lock);
	for (int i = 0; i < j.nworkers; i++)
		pthread_join(j.workers[i], NULL);
	free(stack);
	free(j.q);
	r = j.err;
	if (r >= 0 && last)
		r = rm_rf_at(fd, last, NULL);
	close(fd);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* errno is set too, as it was when one thread did it all (callers read it). */
static int set_errno(int r)
{
	if (r < 0)
		errno = -r;
	return r;
}

int rm_rf(const char *path)
{
	return set_errno(rm_tree(AT_FDCWD, path, NULL));
}

int rm_rf_last(const char *path, const char *last)
{
	return set_errno(rm_tree(AT_FDCWD, path, last));
}

char *path_canonical(const char *path)
{
	char *p = realpath(path, NULL);

	if (!p && errno == ENOMEM)
		abort();
	return p;
}

bool path_is_inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

int lock_file(const char *path)
{
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}

bool path_is_relative_below(const char *path)
{
	const char *p = path;

	if (!*path || path[0] == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		p += strspn(p, "/");
	}
	return true;
}

/* More than berth holds at once (a launch's, a stopper per service being
 * stopped); beyond, an instance is closed. The pool is the main thread's:
 * no lock (the other thread berth has, libgit2's set-up, takes none). */
#define INOTIFY_KEPT 16

static int inotify_kept[INOTIFY_KEPT];
static size_t inotify_n_kept;

int inotify_take(void)
{
	char buf[4096];
	int fd;

	if (!inotify_n_kept)
		return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	fd = inotify_kept[--inotify_n_kept];
	/* the IN_IGNORED of the watch removed at the give, and anything
	 * queued before it */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return fd;
}

void inotify_give(int fd, int wd)
{
	if (fd < 0)
		return;
	if (wd >= 0)
		inotify_rm_watch(fd, wd);
	if (inotify_n_kept < INOTIFY_KEPT)
		inotify_kept[inotify_n_kept++] = fd;
	else
		close(fd);
}
