/*
 * test_logfile.c: service logs rotate by size without losing, reordering or
 * tearing a line; the in-memory tail is byte-exact.
 */
#include "util/common.h"

#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim/logfile.h"
#include "tap.h"
#include "util/fsutil.h"

static char *tmpdir_new(void)
{
	char *t = xstrdup("/tmp/berth-logfile-XXXXXX");

	ASSERT_TRUE(mkdtemp(t) != NULL);
	return t;
}

/* A small deterministic generator for chunk sizes. */
static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Concatenate <path>.<n> ... <path>.1, <path>: the whole history, oldest first. */
static void read_history(const char *path, unsigned keep, struct strbuf *out, unsigned *files)
{
	*files = 0;
	for (unsigned i = keep; i >= 1; i--) {
		char *p = xasprintf("%s.%u", path, i), *text = NULL;
		size_t len = 0;

		if (read_file(p, 64u << 20, &text, &len) == 0) {
			/* every rotated file ends at a line boundary */
			ASSERT_TRUE(len > 0 && text[len - 1] == '\n');
			strbuf_add(out, text, len);
			(*files)++;
		}
		free(text);
		free(p);
	}
	{
		char *text = NULL;
		size_t len = 0;

		ASSERT_OK(read_file(path, 64u << 20, &text, &len));
		strbuf_add(out, text, len);
		(*files)++;
		free(text);
	}
}

/* The architecture this test is built for, as seccomp names it (0: unknown). */
#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#define TEST_AUDIT_ARCH 0
#endif

/* The low 32 bits of syscall argument i in struct seccomp_data. */
#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t) + 4)
#endif

/* An open-like call number sysnr whose flags (argument arg) hold O_CREAT fails. */
#define CREAT_FAILS(sysnr, arg)                                                \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)), \
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (sysnr), 0, 3),            \
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg)),               \
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, O_CREAT, 0, 1),           \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSPC)

/*
 * From now on, in this (forked) test process, no file can be created: every
 * open with O_CREAT fails with ENOSPC, as on a file system out of inodes,
 * while renames, appends and plain opens go on working. Skips the test where
 * seccomp cannot say so.
 */
static void creation_fails_from_now_on(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		CREAT_FAILS(__NR_openat, 2),
#ifdef __NR_open
		CREAT_FAILS(__NR_open, 1),
#endif
#ifdef __NR_creat
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_creat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSPC),
#endif
#ifdef __NR_openat2
		/* its flags are behind a pointer: refuse it whole (glibc falls back) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = ARRAY_SIZE(filter), .filter = filter};
	int fd;

	if (!TEST_AUDIT_ARCH)
		tap_skip("no seccomp architecture constant for this CPU in the test");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		tap_skip("seccomp filters are not available here");
	/* the filter works: a file cannot be created */
	fd = open("/tmp/berth-logfile-cannot-exist", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_EQ_INT(fd, -1);
	ASSERT_EQ_INT(errno, ENOSPC);
}

/* The whole content of path ("" when it does not exist): the caller frees it. */
static char *slurp(const char *path)
{
	char *text = NULL;
	size_t len = 0;

	if (read_file(path, 64u << 20, &text, &len) < 0)
		return xstrdup("");
	return text;
}

static void test_burst_across_rotation_is_complete_ordered_untorn(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "web.log");
	struct strbuf all = STRBUF_INIT, got = STRBUF_INIT;
	struct logfile *lf;
	unsigned files;
	size_t off = 0;

	for (unsigned i = 1; i <= 100000; i++)
		strbuf_addf(&all, "line %06u of the burst\n", i);
	ASSERT_OK(logfile_open(path, 64u << 10, 1000, &lf));
	/* chunks of 1..8192 bytes, cutting lines anywhere, as a pipe delivers them */
	while (off < all.len) {
		size_t n = 1 + rnd() % 8192;

		if (n > all.len - off)
			n = all.len - off;
		ASSERT_OK(logfile_write(lf, all.buf + off, n));
		off += n;
	}
	ASSERT_TRUE(logfile_rotations(lf) > 10);
	logfile_close(lf);
	read_history(path, 1000, &got, &files);
	printf("# %u files for %zu bytes\n", files, all.len);
	ASSERT_EQ_INT(got.len, all.len);
	ASSERT_TRUE(memcmp(got.buf, all.buf, all.len) == 0);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&all);
	strbuf_release(&got);
	free(path);
	free(dir);
}

static void test_keep_limits_old_files(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "api.log"), *p;
	struct logfile *lf;

	ASSERT_OK(logfile_open(path, 100, 2, &lf));
	for (int i = 0; i < 100; i++)
		ASSERT_OK(logfile_write(lf, "0123456789abcdefghij\n", 21));
	logfile_close(lf);
	p = xasprintf("%s.2", path);
	ASSERT_TRUE(path_exists(p));
	free(p);
	p = xasprintf("%s.3", path);
	ASSERT_FALSE(path_exists(p));
	free(p);
	ASSERT_OK(rm_rf(dir));
	free(path);
	free(dir);
}

static void test_long_line_is_never_split(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "x.log"), *text = NULL;
	struct strbuf line = STRBUF_INIT;
	struct logfile *lf;
	size_t len = 0;

	for (int i = 0; i < 500; i++)
		strbuf_addch(&line, (char)('a' + i % 26));
	strbuf_addch(&line, '\n');
	ASSERT_OK(logfile_open(path, 100, 3, &lf));
	ASSERT_OK(logfile_write(lf, "short\n", 6));
	ASSERT_OK(logfile_write(lf, line.buf, 200));
	ASSERT_OK(logfile_write(lf, line.buf + 200, line.len - 200));
	logfile_close(lf);
	/* the long line went whole into a fresh file */
	ASSERT_OK(read_file(path, 1 << 20, &text, &len));
	ASSERT_EQ_INT(len, line.len);
	ASSERT_TRUE(memcmp(text, line.buf, len) == 0);
	free(text);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&line);
	free(path);
	free(dir);
}

static void test_tail_is_byte_exact_with_final_partial_line(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "t.log");
	struct strbuf want = STRBUF_INIT, got = STRBUF_INIT;
	struct logfile *lf;

	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	for (int i = 1; i <= 50; i++) {
		char line[64];
		int n = snprintf(line, sizeof(line), "out %d \t\x01 é\n", i);

		ASSERT_OK(logfile_write(lf, line, (size_t)n));
		if (i > 31)
			strbuf_add(&want, line, (size_t)n);
	}
	ASSERT_OK(logfile_write(lf, "no newline at the end", 21));
	strbuf_adds(&want, "no newline at the end");
	logfile_tail(lf, 20, &got);
	ASSERT_STREQ(got.buf, want.buf);
	strbuf_reset(&got);
	logfile_tail(lf, 1, &got);
	ASSERT_STREQ(got.buf, "no newline at the end");
	/* closing writes the partial line out */
	logfile_close(lf);
	{
		char *text = NULL;
		size_t len = 0;

		ASSERT_OK(read_file(path, 1 << 20, &text, &len));
		ASSERT_TRUE(len > 21 && !memcmp(text + len - 21, "no newline at the end", 21));
		free(text);
	}
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&want);
	strbuf_release(&got);
	free(path);
	free(dir);
}

static void test_appends_to_existing_log(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "a.log"), *text = NULL;
	struct logfile *lf;
	size_t len = 0;

	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	ASSERT_OK(logfile_write(lf, "first run\n", 10));
	logfile_close(lf);
	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	ASSERT_OK(logfile_write(lf, "second run\n", 11));
	logfile_close(lf);
	ASSERT_OK(read_file(path, 1 << 20, &text, &len));
	ASSERT_STREQ(text, "first run\nsecond run\n");
	free(text);
	ASSERT_OK(rm_rf(dir));
	free(path);
	free(dir);
}

static int write_s(struct logfile *lf, const char *s)
{
	return logfile_write(lf, s, strlen(s));
}

/*
 * The defect: a run whose output ended inside a line (a prompt, a crash
 * mid-line) left it unended, and the next run's first line was glued to it
 * ("OLD-PARTIALNEW-ATTEMPT", one line in `berth logs`): after a restart of
 * the shim (the file is reopened) and after a restart of the service (the
 * same logfile, logfile_break at the end of its output). A line that only
 * went out early (past 64 KiB, logfile_flush) goes on as one line.
 */
static void test_unended_line_of_a_run_is_not_glued_to_the_next_run(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "g.log"), *text = NULL;
	struct strbuf tail = STRBUF_INIT;
	struct logfile *lf;
	size_t len = 0;

	/* the shim restarted: the file ends inside a line when it is opened */
	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	ASSERT_OK(write_s(lf, "first run\nOLD-PARTIAL"));
	logfile_close(lf);
	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	ASSERT_OK(write_s(lf, "NEW-ATTEMPT\n"));
	/* the service restarted: its run ended inside a line */
	ASSERT_OK(write_s(lf, "prompt> "));
	ASSERT_OK(logfile_break(lf));
	ASSERT_OK(logfile_break(lf)); /* nothing pending: nothing more */
	ASSERT_OK(write_s(lf, "restarted\n"));
	/* nothing pending at a break: no empty line */
	ASSERT_OK(logfile_break(lf));
	ASSERT_OK(write_s(lf, "next\n"));
	/* a line written out early goes on as one line */
	ASSERT_OK(write_s(lf, "long "));
	ASSERT_OK(logfile_flush(lf));
	ASSERT_OK(write_s(lf, "line\n"));
	/* (the tail keeps the early part as an entry of its own) */
	logfile_tail(lf, 5, &tail);
	ASSERT_STREQ(tail.buf, "prompt> \nrestarted\nnext\nlong line\n");
	logfile_close(lf);
	ASSERT_OK(read_file(path, 1 << 20, &text, &len));
	ASSERT_STREQ(text, "first run\nOLD-PARTIAL\nNEW-ATTEMPT\nprompt> \nrestarted\nnext\nlong "
			   "line\n");
	free(text);
	/* a file that ends with its newline gets none more */
	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	ASSERT_OK(write_s(lf, "again\n"));
	logfile_close(lf);
	ASSERT_OK(read_file(path, 1 << 20, &text, &len));
	ASSERT_TRUE(len > 11 && !memcmp(text + len - 11, "line\nagain\n", 11));
	free(text);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&tail);
	free(path);
	free(dir);
}

/*
 * The defect: rotate() renamed <path> -> <path>.1 ... and only then opened a
 * new <path>. When that open failed (inodes exhausted, ENOSPC, EACCES), every
 * later line was lost and the shift had already dropped the oldest kept file.
 */
static void test_rotation_renames_before_it_opens_loses_no_line_nor_kept_file(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "web.log");
	char *p1 = xasprintf("%s.1", path), *p2 = xasprintf("%s.2", path), *text;
	struct strbuf want = STRBUF_INIT;
	struct logfile *lf;
	size_t off = 0;

	ASSERT_OK(write_file_atomic(p1, "kept 1\n", 7, 0644));
	ASSERT_OK(write_file_atomic(p2, "kept 2\n", 7, 0644));
	ASSERT_OK(logfile_open(path, 100, 2, &lf));
	for (unsigned i = 1; i <= 40; i++)
		strbuf_addf(&want, "line %02u of the tests\n", i);
	creation_fails_from_now_on();
	/* 840 bytes against a 100-byte limit, in chunks that cut lines anywhere */
	while (off < want.len) {
		size_t n = 1 + rnd() % 50;

		if (n > want.len - off)
			n = want.len - off;
		ASSERT_OK(logfile_write(lf, want.buf + off, n));
		off += n;
	}
	ASSERT_EQ_INT(logfile_rotations(lf), 0);
	logfile_close(lf);
	/* every line is in <path>, past the limit; the kept files are untouched */
	text = slurp(path);
	ASSERT_STREQ(text, want.buf);
	free(text);
	text = slurp(p1);
	ASSERT_STREQ(text, "kept 1\n");
	free(text);
	text = slurp(p2);
	ASSERT_STREQ(text, "kept 2\n");
	free(text);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&want);
	free(p1);
	free(p2);
	free(path);
	free(dir);
}

/* A rotation that cannot create the next file is not tried again on every
 * write, but once another max_bytes went in; then it rotates as usual. */
static void test_rotation_that_cannot_create_is_retried_after_another_limit(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "api.log");
	char *next = xasprintf("%s%s", path, LOGFILE_NEXT_SUFFIX);
	char *p1 = xasprintf("%s.1", path), *p2 = xasprintf("%s.2", path), *text;
	struct strbuf want = STRBUF_INIT, line = STRBUF_INIT;
	struct logfile *lf;

	ASSERT_OK(write_file_atomic(p1, "kept 1\n", 7, 0644));
	ASSERT_OK(write_file_atomic(p2, "kept 2\n", 7, 0644));
	/* a directory where the next file must be created: open fails, unlink too */
	ASSERT_EQ_INT(mkdir(next, 0755), 0);
	ASSERT_OK(logfile_open(path, 100, 2, &lf));
	/* 21-byte lines: the 5th would pass 100 bytes; the rotation fails */
	for (unsigned i = 1; i <= 5; i++) {
		strbuf_reset(&line);
		strbuf_addf(&line, "line %02u of the tests\n", i);
		strbuf_add(&want, line.buf, line.len);
		ASSERT_OK(logfile_write(lf, line.buf, line.len));
	}
	ASSERT_EQ_INT(logfile_rotations(lf), 0);
	ASSERT_EQ_INT(rmdir(next), 0);
	/* creation would work now, but the retry waits for another 100 bytes */
	for (unsigned i = 6; i <= 8; i++) {
		strbuf_reset(&line);
		strbuf_addf(&line, "line %02u of the tests\n", i);
		strbuf_add(&want, line.buf, line.len);
		ASSERT_OK(logfile_write(lf, line.buf, line.len));
		ASSERT_EQ_INT(logfile_rotations(lf), 0);
	}
	/* 168 + 21 passes 84 + 100: the retry, which works */
	ASSERT_OK(logfile_write(lf, "line 09 of the tests\n", 21));
	ASSERT_EQ_INT(logfile_rotations(lf), 1);
	logfile_close(lf);
	text = slurp(p1);
	ASSERT_STREQ(text, want.buf);
	free(text);
	text = slurp(path);
	ASSERT_STREQ(text, "line 09 of the tests\n");
	free(text);
	text = slurp(p2);
	ASSERT_STREQ(text, "kept 1\n");
	free(text);
	ASSERT_FALSE(path_exists(next));
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&want);
	strbuf_release(&line);
	free(p1);
	free(p2);
	free(next);
	free(path);
	free(dir);
}

/* A next file left by a shim killed in the middle of a rotation is replaced. */
static void test_stale_next_file_is_replaced(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "w.log");
	char *next = xasprintf("%s%s", path, LOGFILE_NEXT_SUFFIX), *p1 = xasprintf("%s.1", path);
	char *text;
	struct logfile *lf;

	ASSERT_OK(write_file_atomic(next, "stale\n", 6, 0644));
	ASSERT_OK(logfile_open(path, 10, 1, &lf));
	ASSERT_OK(logfile_write(lf, "first\n", 6));
	ASSERT_OK(logfile_write(lf, "second\n", 7));
	ASSERT_EQ_INT(logfile_rotations(lf), 1);
	logfile_close(lf);
	text = slurp(path);
	ASSERT_STREQ(text, "second\n");
	free(text);
	text = slurp(p1);
	ASSERT_STREQ(text, "first\n");
	free(text);
	ASSERT_FALSE(path_exists(next));
	ASSERT_OK(rm_rf(dir));
	free(p1);
	free(next);
	free(path);
	free(dir);
}

/* write-like system calls this process made so far (/proc/self/io syscw). */
static uint64_t write_calls(void)
{
	char *text = NULL, *p;
	size_t len = 0;
	uint64_t n;

	if (read_file("/proc/self/io", 4096, &text, &len) < 0)
		tap_skip("no /proc/self/io (task I/O accounting) to count write calls");
	p = strstr(text, "syscw: ");
	ASSERT_TRUE(p != NULL);
	n = strtoull(p + 7, NULL, 10);
	free(text);
	return n;
}

/* Skip unless one write(2) counts as one in syscw (under valgrind, its own
 * lock pipe adds writes). */
static void write_calls_must_count(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	uint64_t w0 = write_calls();

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(write(fd, "x", 1), 1);
	if (write_calls() - w0 != 1)
		tap_skip("write calls are not counted one by one here (valgrind?)");
	close(fd);
}

/* n numbered 21-byte lines, from line `first` on. */
static void add_lines(struct strbuf *sb, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++)
		strbuf_addf(sb, "line %08u of log\n", i);
}

static void test_a_chunk_of_lines_is_one_write_per_file(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "b.log");
	struct strbuf chunk = STRBUF_INIT;
	struct logfile *lf;
	uint64_t w0;
	unsigned rot;

	write_calls_must_count();
	add_lines(&chunk, 1, 3120); /* 65520 bytes */
	ASSERT_OK(logfile_open(path, 0, 0, &lf));
	w0 = write_calls();
	ASSERT_OK(logfile_write(lf, chunk.buf, chunk.len));
	ASSERT_EQ_INT(write_calls() - w0, 1);
	/* a pending partial line is completed in the same write */
	w0 = write_calls();
	ASSERT_OK(logfile_write(lf, "a partial ", 10));
	ASSERT_EQ_INT(write_calls() - w0, 0);
	ASSERT_OK(logfile_write(lf, "line\n", 5));
	ASSERT_OK(logfile_write(lf, chunk.buf, chunk.len - 7));
	ASSERT_EQ_INT(write_calls() - w0, 2);
	logfile_close(lf);
	ASSERT_OK(rm_rf(dir));
	free(dir);

	/* across rotation: one write per file the chunk lands in */
	dir = tmpdir_new();
	free(path);
	path = path_join(dir, "b.log");
	ASSERT_OK(logfile_open(path, 16u << 10, 10, &lf));
	ASSERT_OK(logfile_write(lf, chunk.buf, 1000 * 21));
	rot = logfile_rotations(lf);
	w0 = write_calls();
	ASSERT_OK(logfile_write(lf, chunk.buf, chunk.len));
	ASSERT_EQ_INT(logfile_rotations(lf) - rot, 4);
	ASSERT_EQ_INT(write_calls() - w0, 5);
	logfile_close(lf);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&chunk);
	free(path);
	free(dir);
}

static void test_64k_chunks_of_short_lines_across_rotation_complete_ordered_untorn(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "c.log");
	struct strbuf all = STRBUF_INIT, got = STRBUF_INIT;
	const uint64_t max = 256u << 10, per_file = max - max % 21;
	struct logfile *lf;
	unsigned files;

	add_lines(&all, 1, 200000); /* 4.2 MB */
	ASSERT_OK(logfile_open(path, max, 1000, &lf));
	/* 64 KiB reads, as the shim gets them from a busy pipe: lines cut anywhere */
	for (size_t off = 0; off < all.len; off += 65536)
		ASSERT_OK(logfile_write(lf, all.buf + off,
					all.len - off < 65536 ? all.len - off : 65536));
	/* files of as many whole lines as fit, and the rest */
	ASSERT_EQ_INT(logfile_rotations(lf), (all.len - 1) / per_file);
	logfile_close(lf);
	read_history(path, 1000, &got, &files);
	ASSERT_EQ_INT(files, (all.len - 1) / per_file + 1);
	ASSERT_EQ_INT(got.len, all.len);
	ASSERT_TRUE(memcmp(got.buf, all.buf, all.len) == 0);
	/* every rotated file is full up to the last line that fitted */
	for (unsigned i = 1; i < files; i++) {
		char *p = xasprintf("%s.%u", path, i);
		struct stat st;

		ASSERT_EQ_INT(stat(p, &st), 0);
		ASSERT_EQ_INT(st.st_size, per_file);
		free(p);
	}
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&all);
	strbuf_release(&got);
	free(path);
	free(dir);
}

/* The last n lines of text, the way logfile_tail counts them (an unended
 * last line is one). */
static void expected_tail(const struct strbuf *text, unsigned n, struct strbuf *out)
{
	size_t start = text->len;

	for (unsigned k = 0; k < n && start > 0; k++) {
		const char *nl = start > 1 ? memrchr(text->buf, '\n', start - 1) : NULL;

		start = nl ? (size_t)(nl - text->buf) + 1 : 0;
	}
	strbuf_add(out, text->buf + start, text->len - start);
}

static void test_tail_is_byte_exact_across_chunks_and_nul_bytes(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "n.log");
	struct strbuf all = STRBUF_INIT, want = STRBUF_INIT, got = STRBUF_INIT;
	static const unsigned counts[] = {1, 2, 7, LOGFILE_TAIL_LINES};
	struct logfile *lf;
	size_t off = 0;

	/* lines of 0 to 39 dots after a NUL byte, in chunks of up to 3000 bytes */
	for (unsigned i = 1; i <= 3000; i++) {
		strbuf_addf(&all, "out %u", i);
		strbuf_addch(&all, '\0');
		strbuf_addf(&all, "after nul %.*s\n", (int)(i % 40),
			    "........................................");
	}
	ASSERT_OK(logfile_open(path, 4096, 2, &lf));
	while (off < all.len) {
		size_t n = 1 + rnd() % 3000;
		struct strbuf sofar = {all.buf, 0, 0};

		if (n > all.len - off)
			n = all.len - off;
		ASSERT_OK(logfile_write(lf, all.buf + off, n));
		off += n;
		sofar.len = off;
		for (size_t i = 0; i < ARRAY_SIZE(counts); i++) {
			unsigned k = counts[i];

			strbuf_reset(&want);
			strbuf_reset(&got);
			expected_tail(&sofar, k, &want);
			logfile_tail(lf, k, &got);
			ASSERT_EQ_INT(got.len, want.len);
			ASSERT_TRUE(memcmp(got.buf, want.buf, want.len) == 0);
		}
	}
	logfile_close(lf);
	ASSERT_OK(rm_rf(dir));
	strbuf_release(&all);
	strbuf_release(&want);
	strbuf_release(&got);
	free(path);
	free(dir);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_burst_across_rotation_is_complete_ordered_untorn),
	TAP_TEST(test_keep_limits_old_files),
	TAP_TEST(test_long_line_is_never_split),
	TAP_TEST(test_tail_is_byte_exact_with_final_partial_line),
	TAP_TEST(test_appends_to_existing_log),
	TAP_TEST(test_unended_line_of_a_run_is_not_glued_to_the_next_run),
	TAP_TEST(test_rotation_renames_before_it_opens_loses_no_line_nor_kept_file),
	TAP_TEST(test_rotation_that_cannot_create_is_retried_after_another_limit),
	TAP_TEST(test_stale_next_file_is_replaced),
	TAP_TEST(test_a_chunk_of_lines_is_one_write_per_file),
	TAP_TEST(test_64k_chunks_of_short_lines_across_rotation_complete_ordered_untorn),
	TAP_TEST(test_tail_is_byte_exact_across_chunks_and_nul_bytes),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
