/*
 * logfile.c: size-rotated service logs that never tear or lose a line, and
 * the in-memory tail of the last lines.
 *
 * Output goes out in whole-line batches: one write(2) per logfile_write for
 * all the complete lines of the chunk (one per file when the chunk crosses
 * the limit). A rotation first creates the next file, and only once it exists
 * shifts the kept files and renames it into place: a file that cannot be
 * created costs neither a line nor a kept file.
 *
 * A line left unended by a writer that is gone (the service's run ended
 * on it, or an earlier shim closed on it) is ended by the next output,
 * which starts with a newline of its own: the next run's first line is
 * never glued to the last one of the run before.
 */
#include "util/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim/logfile.h"

#define PARTIAL_MAX (64u << 10)
/* A tail slot holding more than this is freed when a short line reuses it. */
#define TAIL_SLOT_KEEP (8u << 10)

struct logfile {
	char *path;
	char *next_path; /* <path>LOGFILE_NEXT_SUFFIX: the next file, before it is renamed in */
	int fd;
	uint64_t size;
	uint64_t max_bytes;
	/* rotate before a line would take size past this: max_bytes, or after a
	 * failed rotation the size then plus max_bytes (the retry point) */
	uint64_t limit;
	unsigned keep;
	unsigned rotations;
	/* the file ends inside a line whose writer is gone: the next output
	 * starts with a newline */
	bool need_nl;
	struct strbuf partial; /* bytes after the last newline, not yet written */
	/* ring of the last lines (each with its '\n'), slots reused in place */
	struct strbuf ring[LOGFILE_TAIL_LINES];
	unsigned ring_next, ring_count;
};

int logfile_open(const char *path, uint64_t max_bytes, unsigned keep, struct logfile **ret)
{
	struct logfile *lf;
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	lf = xcalloc(1, sizeof(*lf));
	lf->path = xstrdup(path);
	lf->next_path = xasprintf("%s%s", path, LOGFILE_NEXT_SUFFIX);
	lf->fd = fd;
	lf->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (lf->size) {
		/* (fd is write-only) */
		int rfd = open(path, O_RDONLY | O_CLOEXEC);
		char last;

		lf->need_nl =
			rfd >= 0 && pread(rfd, &last, 1, (off_t)lf->size - 1) == 1 && last != '\n';
		if (rfd >= 0)
			close(rfd);
	}
	lf->max_bytes = max_bytes;
	lf->limit = max_bytes;
	lf->keep = keep;
	*ret = lf;
	return 0;
}

/* Create <path>.new, replacing one left behind by a shim that died in the
 * middle of a rotation. Returns the fd or -errno. */
static int create_next(struct logfile *lf)
{
	const int flags = O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC;
	int fd = open(lf->next_path, flags, 0644);

	if (fd < 0 && errno == EEXIST) {
		if (unlink(lf->next_path) < 0)
			return -EEXIST;
		fd = open(lf->next_path, flags, 0644);
	}
	return fd < 0 ? -errno : fd;
}

/* rename(from, to); a missing `from` is not an error. */
static int rename_kept(const char *from, const char *to)
{
	if (rename(from, to) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * <path>.new is created first; only then <path>.<keep-1> -> <path>.<keep> ...
 * <path> -> <path>.1 (the oldest dropped), and <path>.new -> <path>. Returns 0,
 * or -errno with lf->fd still the current file: when the next file cannot be
 * created nothing was renamed; a rename failing half-way through the shift
 * (rarer: renames need no inode) stops it there, leaving a gap in the
 * numbers, and drops no more than a rotation would.
 */
static int rotate(struct logfile *lf)
{
	char *to = NULL;
	int fd, r = 0;

	fd = create_next(lf);
	if (fd < 0)
		return fd;
	for (unsigned i = lf->keep; i > 1 && r == 0; i--) {
		char *older = xasprintf("%s.%u", lf->path, i),
		     *newer = xasprintf("%s.%u", lf->path, i - 1);

		r = rename_kept(newer, older);
		free(newer);
		free(older);
	}
	if (r < 0)
		goto drop_next;
	if (lf->keep) {
		to = xasprintf("%s.1", lf->path);
		r = rename_kept(lf->path, to);
		if (r < 0)
			goto drop_next;
	}
	/* with keep == 0 this replaces <path> in one step */
	if (rename(lf->next_path, lf->path) < 0) {
		r = -errno;
		if (to && rename(to, lf->path) < 0) {
			/* <path> stays missing; lf->fd, now <path>.1, still takes the lines */
		}
		goto drop_next;
	}
	free(to);
	close(lf->fd);
	lf->fd = fd;
	lf->size = 0;
	lf->limit = lf->max_bytes;
	lf->rotations++;
	lf->need_nl = false; /* a new file: its first line starts it */
	return 0;

drop_next:
	free(to);
	close(fd);
	unlink(lf->next_path);
	return r;
}

/* Keep one line (pre + p) in the next tail slot. */
static void tail_put(struct logfile *lf, const char *pre, size_t prelen, const char *p, size_t n)
{
	struct strbuf *slot = &lf->ring[lf->ring_next];

	if (slot->alloc > TAIL_SLOT_KEEP && prelen + n < TAIL_SLOT_KEEP / 2)
		strbuf_release(slot);
	else
		strbuf_reset(slot);
	strbuf_add(slot, pre, prelen);
	strbuf_add(slot, p, n);
	lf->ring_next = (lf->ring_next + 1) % LOGFILE_TAIL_LINES;
	if (lf->ring_count < LOGFILE_TAIL_LINES)
		lf->ring_count++;
}

/* The last LOGFILE_TAIL_LINES lines of a batch (pre + text, whole lines) go
 * to the tail; the lines before them are not even looked at. */
static void tail_add(struct logfile *lf, const char *pre, size_t prelen, const char *text,
		     size_t len)
{
	size_t start[LOGFILE_TAIL_LINES], end = len;
	unsigned k = 0;

	if (!len) {
		tail_put(lf, pre, prelen, NULL, 0);
		return;
	}
	/* newest first: a line ends at `end`, its own '\n' is at end - 1 */
	while (k < LOGFILE_TAIL_LINES) {
		const char *nl = end > 1 ? memrchr(text, '\n', end - 1) : NULL;

		start[k++] = nl ? (size_t)(nl - text) + 1 : 0;
		if (!nl)
			break;
		end = start[k - 1];
	}
	while (k--) {
		size_t stop = k ? start[k - 1] : len;

		if (start[k] == 0)
			tail_put(lf, pre, prelen, text, stop);
		else
			tail_put(lf, NULL, 0, text + start[k], stop - start[k]);
	}
}

/* One write(2) of pre + text (a short write is continued), after the
 * newline that ends a line left unended (need_nl). */
static int write_batch(struct logfile *lf, const char *pre, size_t prelen, const char *text,
		       size_t len)
{
	struct iovec iov[3], *v = iov;
	bool nl = lf->need_nl;
	int cnt = 0;

	if (nl)
		iov[cnt++] = (struct iovec){(void *)"\n", 1};
	if (prelen)
		iov[cnt++] = (struct iovec){(void *)pre, prelen};
	iov[cnt++] = (struct iovec){(void *)text, len};
	while (cnt) {
		ssize_t n = writev(lf->fd, v, cnt);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		lf->size += (uint64_t)n;
		while (cnt && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			cnt--;
		}
		if (cnt) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	if (nl) {
		/* the tail's last line is ended too, as in the file */
		lf->need_nl = false;
		if (lf->ring_count)
			strbuf_addch(&lf->ring[(lf->ring_next + LOGFILE_TAIL_LINES - 1) %
					       LOGFILE_TAIL_LINES],
				     '\n');
	}
	return 0;
}

/*
 * Write whole lines: pre (the start of the first line, no newline in it, may
 * be empty) then text, which ends with '\n' unless this is a forced flush of
 * a partial line. As many lines go in each write as fit under the limit, so
 * rotation only ever happens between two lines: one write per file.
 */
static int put_lines(struct logfile *lf, const char *pre, size_t prelen, const char *text,
		     size_t len)
{
	while (prelen + len) {
		const char *nl = len ? memchr(text, '\n', len) : NULL;
		size_t batch =
			nl ? (size_t)(nl - text) + 1 : len; /* the first line's part of text */
		int r;

		if (lf->max_bytes && lf->size > 0 && lf->size + prelen + batch > lf->limit &&
		    rotate(lf) < 0) {
			/* go on past the limit; try again once another max_bytes went in */
			lf->limit = lf->size + lf->max_bytes;
		}
		if (!lf->max_bytes || lf->size + prelen + len <= lf->limit) {
			batch = len;
		} else if (lf->size + prelen + batch < lf->limit) {
			/* and the lines after it that still fit */
			size_t room = lf->limit - lf->size - prelen;
			const char *last = memrchr(text, '\n', room);

			if (last && (size_t)(last - text) + 1 > batch)
				batch = (size_t)(last - text) + 1;
		}
		r = write_batch(lf, pre, prelen, text, batch);
		if (r < 0)
			return r;
		tail_add(lf, pre, prelen, text, batch);
		pre = NULL;
		prelen = 0;
		text += batch;
		len -= batch;
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
	/* the pending partial line, completed, and every whole line after it */
	head = (size_t)(last_nl - p) + 1;
	r = put_lines(lf, lf->partial.buf, lf->partial.len, p, head);
	strbuf_reset(&lf->partial);
	if (len > head)
		strbuf_add(&lf->partial, p + head, len - head);
	return r;
}

int logfile_flush(struct logfile *lf)
{
	int r;

	if (!lf->partial.len)
		return 0;
	r = put_lines(lf, NULL, 0, lf->partial.buf, lf->partial.len);
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
	for (unsigned i = 0; i < n; i++) {
		const struct strbuf *line = &lf->ring[(start + i) % LOGFILE_TAIL_LINES];

		strbuf_add(out, line->buf, line->len);
	}
	if (lf->partial.len)
		strbuf_add(out, lf->partial.buf, lf->partial.len);
}

int logfile_break(struct logfile *lf)
{
	bool open_line = lf->partial.len > 0;
	int r = logfile_flush(lf);

	if (open_line)
		lf->need_nl = true;
	return r;
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
		strbuf_release(&lf->ring[i]);
	strbuf_release(&lf->partial);
	free(lf->next_path);
	free(lf->path);
	free(lf);
}
