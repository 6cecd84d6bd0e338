/*
 * lock.c: the watcher's lock (see lock.h).
 */
#include "util/common.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "watch/lock.h"

#define LOCK_NAME "watch.lock"

char *watch_lock_path(const char *berth_dir)
{
	return path_join(berth_dir, LOCK_NAME);
}

/* "pid start_time\n" from fd; false when it does not parse. */
static bool read_holder(int fd, struct proc_ref *ret)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long long pid;
	unsigned long long start;

	if (n <= 0)
		return false;
	buf[n] = '\0';
	if (sscanf(buf, "%lld %llu", &pid, &start) != 2 || pid <= 0 || pid > INT32_MAX)
		return false;
	ret->pid = (pid_t)pid;
	ret->start_time = start;
	return true;
}

int watch_lock_take(const char *berth_dir, struct proc_ref *holder)
{
	char *path = watch_lock_path(berth_dir), buf[64];
	uint64_t start = 0;
	int fd, r, len;

	if (holder)
		*holder = (struct proc_ref){0};
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	free(path);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY && holder)
			read_holder(fd, holder);
		close(fd);
		return r;
	}
	proc_start_time(getpid(), &start);
	len = snprintf(buf, sizeof(buf), "%d %" PRIu64 "\n", (int)getpid(), start);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

bool watch_running(const char *berth_dir, struct proc_ref *ret)
{
	char *path = watch_lock_path(berth_dir);
	struct proc_ref id = {0};
	bool held = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	free(path);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	if (held)
		read_holder(fd, &id);
	close(fd);
	if (ret)
		*ret = id;
	return held;
}
