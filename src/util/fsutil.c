/*
 * fsutil.c: paths and whole-file helpers.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (b[0] == '/' || !la)
		return xstrdup(b);
	if (a[la - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int r = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		r = -errno;
	else if (!path_is_dir(p))
		r = -ENOTDIR;
out:
	free(p);
	return r;
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

/* Remove name below dirfd; in that directory itself, remove the entry `last`
 * (when not NULL) after every other one. */
static int rm_rf_at(int dirfd, const char *name, const char *last)
{
	struct dirent *de;
	int fd, r = 0, err;
	DIR *d;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	err = errno;
	if (err != EISDIR && err != EPERM)
		return -err;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		/* EPERM on a file that is no directory: report the unlink's error */
		return errno == ENOTDIR ? -err : -errno;
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

int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path, NULL);
}

int rm_rf_last(const char *path, const char *last)
{
	return rm_rf_at(AT_FDCWD, path, last);
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

void inotify_retire(int fd, int wd)
{
	static int retired = -1;

	if (fd < 0)
		return;
	if (wd >= 0)
		inotify_rm_watch(fd, wd);
	if (retired >= 0)
		close(retired);
	retired = fd;
}
