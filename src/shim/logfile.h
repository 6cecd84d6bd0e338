/*
 * logfile.h: a service's output log. Bytes go to <path> as they come; when
 * the file reaches its size limit it is rotated (<path> -> <path>.1 -> ...
 * <path>.<keep>, the oldest dropped) at a line boundary, so no line is ever
 * split across two files or lost. The next file is created first, as
 * <path>.new, and renamed to <path> once the kept files are shifted; when it
 * cannot be created (no inodes, no space, no permission) nothing is renamed:
 * lines go on to <path> past the limit and the rotation is tried again after
 * another max_bytes. Complete lines go out in one write(2) per call (per file
 * when the call crosses the limit). The last lines are also kept in memory,
 * byte-exact (a final line without newline included), for failure reports.
 * libc only: the shim uses it.
 */
#ifndef BERTH_LOGFILE_H
#define BERTH_LOGFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define LOGFILE_TAIL_LINES 20
/* The next file is created as <path> LOGFILE_NEXT_SUFFIX, then renamed in. */
#define LOGFILE_NEXT_SUFFIX ".new"

struct logfile;

/* Open (appending to) path; rotate past max_bytes keeping `keep` old files. */
int logfile_open(const char *path, uint64_t max_bytes, unsigned keep, struct logfile **ret);
/* Append len bytes. Lines are kept whole: a partial last line waits in memory
 * until its newline comes (or until it grows past 64 KiB, or logfile_flush).
 * Returns 0 or -errno of a failed write (a failed rotation is not one). */
int logfile_write(struct logfile *lf, const void *data, size_t len);
/* Write out a pending partial line (it may go on: a line past 64 KiB). */
int logfile_flush(struct logfile *lf);
/* The writer of the pending partial line is gone (EOF of the service's
 * output, a line of the shim's own): write it out, ended by the next
 * output's first byte, a newline of its own. A file that ends inside a
 * line when it is opened is ended the same way. */
int logfile_break(struct logfile *lf);
/* The last n (<= LOGFILE_TAIL_LINES) lines written, byte-exact, appended to out. */
void logfile_tail(const struct logfile *lf, unsigned n, struct strbuf *out);
/* How many times the file was rotated. */
unsigned logfile_rotations(const struct logfile *lf);
/* Flush and close. NULL is a no-op. */
void logfile_close(struct logfile *lf);

#endif
