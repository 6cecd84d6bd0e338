/*
 * test_logfile.c: service logs rotate by size without losing, reordering or
 * tearing a line; the in-memory tail is byte-exact.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
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

static const struct tap_test tests[] = {
	TAP_TEST(test_burst_across_rotation_is_complete_ordered_untorn),
	TAP_TEST(test_keep_limits_old_files),
	TAP_TEST(test_long_line_is_never_split),
	TAP_TEST(test_tail_is_byte_exact_with_final_partial_line),
	TAP_TEST(test_appends_to_existing_log),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
