/*
 * logfile.c: size-rotated service logs that never tear or lose a line, and
 * the in-memory tail of the last lines.
 */
#include "util/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim/logfile.h"

#define PARTIAL_MAX (64u << 10)

struct logfile {
	char *path;
	int fd;
	uint64_t size;
	uint64_t max_bytes;
	unsigned keep;
	unsigned rotations;
	struct strbuf partial; /* bytes after the last newline, not yet written */
	/* ring of the last complete lines (each with its '\n') */
	char *ring[LOGFILE_TAIL_LINES];
	unsigned ring_next, ring_count;
};

static int open_log(struct logfile *lf)
{
	struct stat st;

	lf->fd = open(lf->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (lf->fd < 0)
		return -errno;
	lf->size = fstat(lf->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int logfile_open(const char *path, uint64_t max_bytes, unsigned keep, struct logfile **ret)
{
	struct logfile *lf = xcalloc(1, sizeof(*lf));
	int r;

	lf->path = xstrdup(path);
	lf->max_bytes = max_bytes;
	lf->keep = keep;
	r = open_log(lf);
	if (r < 0) {
		free(lf->path);
		free(lf);
		return r;
	}
	*ret = lf;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* <path> -> <path>.1 -> ... -> <path>.<keep>; a new empty <path>. */
static int rotate(struct logfile *lf)
{
	char *from, *to;

	close(lf->fd);
	lf->fd = -1;
	if (lf->keep == 0) {
		unlink(lf->path);
	} else {
		for (unsigned i = lf->keep; i > 1; i--) {
			from = xasprintf("%s.%u", lf->path, i - 1);
			to = xasprintf("%s.%u", lf->path, i);
			rename(from, to);
			free(from);
			free(to);
		}
		to = xasprintf("%s.1", lf->path);
		rename(lf->path, to);
		free(to);
	}
	lf->rotations++;
	return open_log(lf);
}

static void ring_add(struct logfile *lf, const char *line, size_t len)
{
	free(lf->ring[lf->ring_next]);
	lf->ring[lf->ring_next] = xstrndup(line, len);
	lf->ring_next = (lf->ring_next + 1) % LOGFILE_TAIL_LINES;
	if (lf->ring_count < LOGFILE_TAIL_LINES)
		lf->ring_count++;
}

/* Write whole lines (text ends with '\n', or is a forced partial flush):
 * rotation only ever happens between two lines. */
static int put_lines(struct logfile *lf, const char *text, size_t len)
{
	while (len) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl ? (size_t)(nl - text) + 1 : len;
		int r;

		if (lf->max_bytes && lf->size > 0 && lf->size + n > lf->max_bytes) {
			r = rotate(lf);
			if (r < 0)
				return r;
		}
		r = write_all(lf->fd, text, n);
		if (r < 0)
			return r;
		lf->size += n;
		ring_add(lf, text, n);
		text += n;
		len -= n;
	}
	return 0;
}

int logfile_write(struct logfile *lf, const void *data, size_t len)
{
	const char *p = data;
	const char *last_nl;
	size_t head;
	int r;

	if (!len)
		return 0;
	last_nl = memrchr(p, '\n', len);
	if (!last_nl) {
		strbuf_add(&lf->partial, p, len);
		if (lf->partial.len > PARTIAL_MAX)
			return logfile_flush(lf);
		return 0;
	}
	head = (size_t)(last_nl - p) + 1;
	if (lf->partial.len) {
		/* complete the pending line first */
		const char *nl = memchr(p, '\n', len);
		size_t first = (size_t)(nl - p) + 1;

		strbuf_add(&lf->partial, p, first);
		r = put_lines(lf, lf->partial.buf, lf->partial.len);
		strbuf_reset(&lf->partial);
		if (r < 0)
			return r;
		p += first;
		len -= first;
		head -= first;
	}
	r = put_lines(lf, p, head);
	if (r < 0)
		return r;
	if (len > head)
		strbuf_add(&lf->partial, p + head, len - head);
	return 0;
}

int logfile_flush(struct logfile *lf)
{
	int r;

	if (!lf->partial.len)
		return 0;
	r = put_lines(lf, lf->partial.buf, lf->partial.len);
	strbuf_reset(&lf->partial);
	return r;
}

void logfile_tail(const struct logfile *lf, unsigned n, struct strbuf *out)
{
	unsigned have = lf->ring_count, start;

	/* a pending partial line is the last line */
	if (lf->partial.len && n)
		n--;
	if (n > have)
		n = have;
	start = (lf->ring_next + LOGFILE_TAIL_LINES - n) % LOGFILE_TAIL_LINES;
	for (unsigned i = 0; i < n; i++)
		strbuf_adds(out, lf->ring[(start + i) % LOGFILE_TAIL_LINES]);
	if (lf->partial.len)
		strbuf_add(out, lf->partial.buf, lf->partial.len);
}

unsigned logfile_rotations(const struct logfile *lf)
{
	return lf->rotations;
}

void logfile_close(struct logfile *lf)
{
	if (!lf)
		return;
	logfile_flush(lf);
	if (lf->fd >= 0)
		close(lf->fd);
	for (unsigned i = 0; i < LOGFILE_TAIL_LINES; i++)
		free(lf->ring[i]);
	strbuf_release(&lf->partial);
	free(lf->path);
	free(lf);
}
