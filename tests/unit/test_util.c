/*
 * test_util.c: the util library: checked number, duration and boolean
 * parsing, strbuf and strvec, paths and whole-file helpers against a real
 * temporary directory (mkdir_p, read_file, write_file_atomic, rm_rf that never
 * follows a symlink out of its tree, with its worker threads too), FNV-1a and
 * clock formatting.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/run.h"
#include "proc/spawn.h"
#include "util/cmdline.h"
#include "util/fsutil.h"
#include "util/hash.h"
#include "util/parse.h"
#include "util/printable.h"
#include "util/timeutil.h"
#include "tap.h"

/* ---- helpers ---------------------------------------------------------- */

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it. */
static char *tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/berth-util-XXXXXX", base && *base ? base : "/tmp");

	ASSERT_TRUE(mkdtemp(t) != NULL);
	return t;
}

static void put_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(write(fd, text, strlen(text)), strlen(text));
	ASSERT_OK(close(fd));
}

/* Number of entries in dir besides . and .. */
static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- parse_u64 / parse_i64 -------------------------------------------- */

static void test_parse_u64_valid(void)
{
	uint64_t v = 0;

	ASSERT_OK(parse_u64("0", 0, 10, &v));
	ASSERT_EQ_INT(v, 0);
	ASSERT_OK(parse_u64("42", 0, 100, &v));
	ASSERT_EQ_INT(v, 42);
	ASSERT_OK(parse_u64("0042", 0, 100, &v));
	ASSERT_EQ_INT(v, 42);
	ASSERT_OK(parse_u64("65535", 1, 65535, &v));
	ASSERT_EQ_INT(v, 65535);
	ASSERT_OK(parse_u64("1", 1, 65535, &v));
	ASSERT_EQ_INT(v, 1);
	ASSERT_OK(parse_u64("18446744073709551615", 0, UINT64_MAX, &v));
	ASSERT_TRUE(v == UINT64_MAX);
}

static void test_parse_u64_range(void)
{
	uint64_t v = 7;

	ASSERT_EQ_INT(parse_u64("0", 1, 65535, &v), -ERANGE);
	ASSERT_EQ_INT(parse_u64("65536", 1, 65535, &v), -ERANGE);
	ASSERT_EQ_INT(parse_u64("5", 6, 10, &v), -ERANGE);
	/* past UINT64_MAX: strtoull's ERANGE */
	ASSERT_EQ_INT(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	ASSERT_EQ_INT(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
	/* out-parameter written only on success */
	ASSERT_EQ_INT(v, 7);
}

static void test_parse_u64_junk(void)
{
	static const char *const bad[] = {
		"",    " 1",   "1 ",  "+1",  "-1",  "- 1", "12a",
		"a12", "0x10", "1.5", "1e3", "\t1", "1\n", "１",
	};
	uint64_t v = 7;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse_u64(bad[i], 0, UINT64_MAX, &v);

		if (r != -EINVAL)
			printf("# parse_u64 accepted \"%s\": %d\n", bad[i], r);
		ASSERT_EQ_INT(r, -EINVAL);
	}
	ASSERT_EQ_INT(parse_u64(NULL, 0, 10, &v), -EINVAL);
	ASSERT_EQ_INT(v, 7);
}

static void test_parse_i64(void)
{
	int64_t v = 7;

	ASSERT_OK(parse_i64("0", -10, 10, &v));
	ASSERT_EQ_INT(v, 0);
	ASSERT_OK(parse_i64("-5", -10, 10, &v));
	ASSERT_EQ_INT(v, -5);
	ASSERT_OK(parse_i64("10", -10, 10, &v));
	ASSERT_EQ_INT(v, 10);
	ASSERT_OK(parse_i64("9223372036854775807", INT64_MIN, INT64_MAX, &v));
	ASSERT_TRUE(v == INT64_MAX);
	ASSERT_OK(parse_i64("-9223372036854775808", INT64_MIN, INT64_MAX, &v));
	ASSERT_TRUE(v == INT64_MIN);

	v = 7;
	ASSERT_EQ_INT(parse_i64("11", -10, 10, &v), -ERANGE);
	ASSERT_EQ_INT(parse_i64("-11", -10, 10, &v), -ERANGE);
	ASSERT_EQ_INT(parse_i64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
	ASSERT_EQ_INT(parse_i64("-9223372036854775809", INT64_MIN, INT64_MAX, &v), -ERANGE);
	ASSERT_EQ_INT(v, 7);
}

static void test_parse_i64_junk(void)
{
	static const char *const bad[] = {
		"", " 1", "1 ", " -1", "-", "--1", "- 1", "-+1", "12a", "0x10", "1.5", "\t1", "1\n",
	};
	int64_t v = 7;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse_i64(bad[i], INT64_MIN, INT64_MAX, &v);

		if (r != -EINVAL)
			printf("# parse_i64 accepted \"%s\": %d\n", bad[i], r);
		ASSERT_EQ_INT(r, -EINVAL);
	}
	ASSERT_EQ_INT(parse_i64(NULL, 0, 10, &v), -EINVAL);
	ASSERT_EQ_INT(v, 7);
}

/* ---- durations -------------------------------------------------------- */

static void test_parse_duration_units(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} ok[] = {
		{"0", 0},          {"250ms", 250},     {"0ms", 0},           {"5s", 5000},
		{"2m", 120000},    {"1h", 3600000},    {"7", 7000},          {"1.5s", 1500},
		{"0.5", 500},      {"1.5m", 90000},    {"0.25h", 900000},    {"0.001s", 1},
		{"1.2345s", 1234}, {"10.0s", 10000},   {"1.9999999s", 1999}, {"24h", 86400000},
		{"2d", 172800000}, {"0.5d", 43200000},
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		uint64_t ms = 12345678;

		if (parse_duration_ms(ok[i].s, &ms) < 0 || ms != ok[i].ms)
			printf("# \"%s\" -> %" PRIu64 ", want %" PRIu64 "\n", ok[i].s, ms,
			       ok[i].ms);
		ASSERT_OK(parse_duration_ms(ok[i].s, &ms));
		ASSERT_EQ_INT(ms, ok[i].ms);
	}
}

static void test_parse_duration_junk(void)
{
	static const char *const bad[] = {
		"",    "s",   "ms",  "1.s", ".5s",    "5 s",  " 5s", "5s ", "5sec", "5S",
		"5MS", "-1s", "+1s", "1x",  "1.5.5s", "1,5s", "5ss", "5hm", "1e3",
	};
	uint64_t ms = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse_duration_ms(bad[i], &ms);

		if (r != -EINVAL)
			printf("# parse_duration_ms accepted \"%s\": %d\n", bad[i], r);
		ASSERT_EQ_INT(r, -EINVAL);
	}
	ASSERT_EQ_INT(parse_duration_ms(NULL, &ms), -EINVAL);
	ASSERT_EQ_INT(ms, 42);
}

static void test_parse_duration_overflow(void)
{
	uint64_t ms = 42;

	ASSERT_EQ_INT(parse_duration_ms("99999999999999999999", &ms), -ERANGE);
	ASSERT_EQ_INT(parse_duration_ms("99999999999999999999ms", &ms), -ERANGE);
	/* The largest whole number of hours that fits is 5124095576030 (UINT64_MAX
	 * ms / 3600000); one more hour must not wrap around to a small value. */
	ASSERT_OK(parse_duration_ms("5124095576h", &ms));
	ASSERT_TRUE(ms == 5124095576ULL * 3600000ULL);
	ms = 42;
	ASSERT_EQ_INT(parse_duration_ms("5124095576039h", &ms), -ERANGE);
	ASSERT_EQ_INT(parse_duration_ms("51240955760390m", &ms), -ERANGE);
	ASSERT_EQ_INT(ms, 42);
}

static void test_format_duration(void)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} v[] = {
		{0, "0s"},         {1, "1ms"},          {250, "250ms"},   {100, "100ms"},
		{1000, "1s"},      {1100, "1.1s"},      {1500, "1.5s"},   {1234, "1234ms"},
		{5000, "5s"},      {90000, "90s"},      {60000, "1m"},    {120000, "2m"},
		{3600000, "1h"},   {5400000, "90m"},    {86400000, "1d"}, {61500, "61.5s"},
		{90000000, "25h"}, {2592000000, "30d"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *s = format_duration_ms(v[i].ms);
		uint64_t back = 0;

		ASSERT_STREQ(s, v[i].s);
		/* what config show prints, config load reads back */
		ASSERT_OK(parse_duration_ms(s, &back));
		ASSERT_EQ_INT(back, v[i].ms);
		free(s);
	}
}

static void test_parse_bool(void)
{
	static const char *const yes[] = {"true", "TRUE", "True", "yes", "YES", "on", "On", "1"};
	static const char *const no[] = {"false", "FALSE", "no", "No", "off", "OFF", "0"};
	static const char *const bad[] = {"",      "2", "yess", "tru",    " true",
					  "true ", "y", "n",    "enable", "01"};
	bool b;

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		b = false;
		ASSERT_OK(parse_bool(yes[i], &b));
		ASSERT_TRUE(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		b = true;
		ASSERT_OK(parse_bool(no[i], &b));
		ASSERT_FALSE(b);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = true;
		ASSERT_EQ_INT(parse_bool(bad[i], &b), -EINVAL);
		ASSERT_TRUE(b);
	}
}

/* ---- strbuf / strvec -------------------------------------------------- */

static void test_strbuf_basics(void)
{
	struct strbuf sb = STRBUF_INIT;
	char *s;

	ASSERT_STREQ(strbuf_str(&sb), "");
	ASSERT_EQ_INT(sb.len, 0);
	strbuf_adds(&sb, "hello");
	strbuf_addch(&sb, ' ');
	strbuf_addf(&sb, "%s %d", "world", 42);
	ASSERT_STREQ(strbuf_str(&sb), "hello world 42");
	ASSERT_EQ_INT(sb.len, 14);
	ASSERT_TRUE(sb.alloc > sb.len);

	/* reset keeps the memory */
	s = sb.buf;
	strbuf_reset(&sb);
	ASSERT_EQ_INT(sb.len, 0);
	ASSERT_STREQ(strbuf_str(&sb), "");
	ASSERT_TRUE(sb.buf == s);

	/* embedded NUL bytes and growth well past the first allocation */
	strbuf_add(&sb, "a\0b", 3);
	ASSERT_EQ_INT(sb.len, 3);
	ASSERT_EQ_INT(memcmp(sb.buf, "a\0b", 4), 0);
	for (int i = 0; i < 5000; i++)
		strbuf_addf(&sb, "%04d", i);
	ASSERT_EQ_INT(sb.len, 3 + 5000 * 4);
	ASSERT_EQ_INT(sb.buf[sb.len], '\0');
	ASSERT_EQ_INT(memcmp(sb.buf + 3 + 4999 * 4, "4999", 4), 0);
	strbuf_add(&sb, NULL, 0);
	ASSERT_EQ_INT(sb.len, 3 + 5000 * 4);

	s = strbuf_detach(&sb);
	ASSERT_TRUE(sb.buf == NULL && sb.len == 0 && sb.alloc == 0);
	ASSERT_EQ_INT(strlen(s + 4), 5000 * 4 - 1);
	free(s);

	/* detach of an empty buffer gives an owned "" */
	s = strbuf_detach(&sb);
	ASSERT_STREQ(s, "");
	free(s);
	strbuf_release(&sb);
	strbuf_release(&sb);
	ASSERT_TRUE(sb.buf == NULL);
}

static void test_strbuf_long_format(void)
{
	struct strbuf sb = STRBUF_INIT;
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_adds(&sb, "<");
	strbuf_addf(&sb, "%s>%s", big, big);
	ASSERT_EQ_INT(sb.len, 1 + 2 * (sizeof(big) - 1) + 1);
	ASSERT_EQ_INT(sb.buf[0], '<');
	ASSERT_EQ_INT(sb.buf[sizeof(big)], '>');
	ASSERT_EQ_INT(sb.buf[sb.len - 1], 'x');
	strbuf_release(&sb);
}

static void test_strvec_basics(void)
{
	struct strvec sv = STRVEC_INIT;
	char *const *argv = strvec_argv(&sv);

	ASSERT_TRUE(argv != NULL && argv[0] == NULL);
	ASSERT_EQ_INT(strvec_find(&sv, "x"), -1);

	strvec_push(&sv, "pear");
	strvec_pushf(&sv, "apple-%d", 2);
	strvec_push_owned(&sv, xstrdup("fig"));
	ASSERT_EQ_INT(sv.n, 3);
	ASSERT_TRUE(sv.v[3] == NULL);
	ASSERT_STREQ(sv.v[1], "apple-2");
	ASSERT_EQ_INT(strvec_find(&sv, "fig"), 2);
	ASSERT_EQ_INT(strvec_find(&sv, "fi"), -1);

	/* many pushes keep the array NULL-terminated */
	for (int i = 0; i < 1000; i++)
		strvec_pushf(&sv, "%d", i);
	ASSERT_EQ_INT(sv.n, 1003);
	ASSERT_STREQ(sv.v[1002], "999");
	ASSERT_TRUE(strvec_argv(&sv)[1003] == NULL);

	strvec_clear(&sv);
	ASSERT_TRUE(sv.v == NULL && sv.n == 0 && sv.alloc == 0);
	ASSERT_TRUE(strvec_argv(&sv)[0] == NULL);
	strvec_clear(&sv);
}

static void test_strvec_split_ws(void)
{
	struct strvec sv = STRVEC_INIT;

	strvec_split_ws(&sv, "  a \t bb  c ");
	ASSERT_EQ_INT(sv.n, 3);
	ASSERT_STREQ(sv.v[0], "a");
	ASSERT_STREQ(sv.v[1], "bb");
	ASSERT_STREQ(sv.v[2], "c");
	strvec_clear(&sv);

	strvec_split_ws(&sv, "");
	ASSERT_EQ_INT(sv.n, 0);
	strvec_split_ws(&sv, " \t  \t");
	ASSERT_EQ_INT(sv.n, 0);

	strvec_split_ws(&sv, "one");
	strvec_split_ws(&sv, "two\tthree");
	ASSERT_EQ_INT(sv.n, 3);
	ASSERT_STREQ(sv.v[2], "three");
	/* only spaces and tabs separate: other bytes belong to the word */
	strvec_split_ws(&sv, "a\nb;c");
	ASSERT_EQ_INT(sv.n, 4);
	ASSERT_STREQ(sv.v[3], "a\nb;c");
	strvec_clear(&sv);
}

/* ---- paths ------------------------------------------------------------ */

static void test_path_join(void)
{
	static const char *const v[][3] = {
		{"a", "b", "a/b"}, {"a/", "b", "a/b"},   {"/a/b", "c/d", "/a/b/c/d"},
		{"a", "/b", "/b"}, {"", "b", "b"},       {"/", "b", "/b"},
		{"a", "", "a/"},   {"a//", "b", "a//b"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *p = path_join(v[i][0], v[i][1]);

		ASSERT_STREQ(p, v[i][2]);
		free(p);
	}
}

static void test_path_is_inside(void)
{
	ASSERT_TRUE(path_is_inside("/a/b", "/a"));
	ASSERT_TRUE(path_is_inside("/a/b/c", "/a"));
	ASSERT_TRUE(path_is_inside("/a", "/a"));
	ASSERT_TRUE(path_is_inside("/a/", "/a"));
	ASSERT_TRUE(path_is_inside("/x", "/"));
	ASSERT_TRUE(path_is_inside("/", "/"));
	ASSERT_FALSE(path_is_inside("/ab", "/a"));
	ASSERT_FALSE(path_is_inside("/a", "/a/b"));
	ASSERT_FALSE(path_is_inside("/b/a", "/a"));
	ASSERT_FALSE(path_is_inside("/", "/a"));
	ASSERT_FALSE(path_is_inside("relative", "/"));
}

static void test_path_exists_and_dir(void)
{
	char *dir = tmpdir_new();
	char *f = path_join(dir, "file"), *l = path_join(dir, "dangling"),
	     *ld = path_join(dir, "linkdir"), *canon;

	put_file(f, "x");
	ASSERT_OK(symlink("/nonexistent-berth-target", l));
	ASSERT_OK(symlink(dir, ld));
	ASSERT_TRUE(path_exists(dir));
	ASSERT_TRUE(path_exists(f));
	ASSERT_TRUE(path_exists(l)); /* a dangling symlink exists */
	ASSERT_FALSE(path_exists("/nonexistent-berth-path"));
	ASSERT_TRUE(path_is_dir(dir));
	ASSERT_TRUE(path_is_dir(ld));
	ASSERT_FALSE(path_is_dir(f));
	ASSERT_FALSE(path_is_dir(l));

	canon = path_canonical(ld);
	ASSERT_TRUE(canon != NULL);
	ASSERT_TRUE(canon[0] == '/');
	{
		char *want = path_canonical(dir);

		ASSERT_STREQ(canon, want);
		free(want);
	}
	free(canon);
	errno = 0;
	ASSERT_TRUE(path_canonical(l) == NULL);
	ASSERT_EQ_INT(errno, ENOENT);

	ASSERT_OK(rm_rf(dir));
	free(f);
	free(l);
	free(ld);
	free(dir);
}

static void test_mkdir_p(void)
{
	char *dir = tmpdir_new();
	char *deep = path_join(dir, "a/b/c/d"), *slash = path_join(dir, "x/y/"),
	     *file = path_join(dir, "file"), *under = path_join(dir, "file/sub");
	struct stat st;

	umask(022);
	ASSERT_OK(mkdir_p(deep, 0750));
	ASSERT_OK(stat(deep, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ_INT(st.st_mode & 07777, 0750);
	/* again: existing directories are fine */
	ASSERT_OK(mkdir_p(deep, 0750));
	ASSERT_OK(mkdir_p(dir, 0750));
	/* a trailing slash */
	ASSERT_OK(mkdir_p(slash, 0755));
	ASSERT_TRUE(path_is_dir(slash));
	/* a file in the way */
	put_file(file, "x");
	ASSERT_EQ_INT(mkdir_p(file, 0755), -ENOTDIR);
	ASSERT_EQ_INT(mkdir_p(under, 0755), -ENOTDIR);

	ASSERT_OK(rm_rf(dir));
	free(deep);
	free(slash);
	free(file);
	free(under);
	free(dir);
}

static void test_read_file(void)
{
	char *dir = tmpdir_new();
	char *f = path_join(dir, "f"), *e = path_join(dir, "empty"), *big = path_join(dir, "big");
	char *text = (char *)0x1, *data;
	size_t len = 99;
	struct strbuf sb = STRBUF_INIT;

	put_file(f, "hello\nworld");
	ASSERT_OK(read_file(f, 100, &text, &len));
	ASSERT_STREQ(text, "hello\nworld");
	ASSERT_EQ_INT(len, 11);
	free(text);
	/* exactly max is fine, one byte less is not */
	ASSERT_OK(read_file(f, 11, &text, NULL));
	ASSERT_STREQ(text, "hello\nworld");
	free(text);
	text = (char *)0x1;
	len = 99;
	ASSERT_EQ_INT(read_file(f, 10, &text, &len), -EFBIG);
	ASSERT_TRUE(text == (char *)0x1);
	ASSERT_EQ_INT(len, 99);

	put_file(e, "");
	ASSERT_OK(read_file(e, 0, &text, &len));
	ASSERT_STREQ(text, "");
	ASSERT_EQ_INT(len, 0);
	free(text);

	/* more than one read() worth */
	for (int i = 0; i < 10000; i++)
		strbuf_addf(&sb, "%05d\n", i);
	put_file(big, sb.buf);
	ASSERT_OK(read_file(big, sb.len, &data, &len));
	ASSERT_EQ_INT(len, sb.len);
	ASSERT_STREQ(data, sb.buf);
	free(data);
	ASSERT_EQ_INT(read_file(big, 20000, &data, &len), -EFBIG);

	ASSERT_EQ_INT(read_file("/nonexistent-berth-file", 10, &data, &len), -ENOENT);
	ASSERT_EQ_INT(read_file(dir, 10, &data, &len), -EISDIR);

	strbuf_release(&sb);
	ASSERT_OK(rm_rf(dir));
	free(f);
	free(e);
	free(big);
	free(dir);
}

/* A committed symlink docker-compose.yml -> /dev/stdin (or a FIFO, or
 * compose_file = /dev/tty in .berth.ini) hung `berth validate` and `up` in
 * read_file, which opened and read whatever the path named. A FIFO or a
 * device is now refused without being opened. */
static void test_read_file_not_regular(void)
{
	char *dir = tmpdir_new();
	char *fifo = path_join(dir, "fifo"), *link = path_join(dir, "link");
	char *f = path_join(dir, "f"), *flink = path_join(dir, "flink"), *text = NULL;
	size_t len;

	ASSERT_OK(mkfifo(fifo, 0600) < 0 ? -errno : 0);
	ASSERT_EQ_INT(read_file(fifo, 100, &text, &len), -EINVAL);
	ASSERT_OK(symlink(fifo, link) < 0 ? -errno : 0);
	ASSERT_EQ_INT(read_file(link, 100, &text, &len), -EINVAL);
	ASSERT_EQ_INT(read_file("/dev/null", 100, &text, &len), -EINVAL);
	ASSERT_TRUE(text == NULL);
	put_file(f, "x");
	ASSERT_OK(symlink(f, flink) < 0 ? -errno : 0);
	ASSERT_OK(read_file(flink, 100, &text, &len));
	ASSERT_STREQ(text, "x");
	free(text);
	ASSERT_OK(rm_rf(dir));
	free(fifo);
	free(link);
	free(f);
	free(flink);
	free(dir);
}

static void test_write_file_atomic(void)
{
	char *dir = tmpdir_new();
	char *f = path_join(dir, "out"), *missing = path_join(dir, "nodir/out"), *text;
	struct stat st;
	size_t len;

	umask(0);
	ASSERT_OK(write_file_atomic(f, "one\n", 4, 0600));
	ASSERT_OK(read_file(f, 100, &text, &len));
	ASSERT_STREQ(text, "one\n");
	free(text);
	ASSERT_OK(stat(f, &st));
	ASSERT_EQ_INT(st.st_mode & 07777, 0600);
	ASSERT_EQ_INT(count_entries(dir), 1); /* no temp file left */

	/* replacing: new contents, new mode, still no temp file */
	ASSERT_OK(write_file_atomic(f, "two", 3, 0644));
	ASSERT_OK(read_file(f, 100, &text, &len));
	ASSERT_STREQ(text, "two");
	ASSERT_EQ_INT(len, 3);
	free(text);
	ASSERT_OK(stat(f, &st));
	ASSERT_EQ_INT(st.st_mode & 07777, 0644);
	ASSERT_EQ_INT(count_entries(dir), 1);

	/* empty contents */
	ASSERT_OK(write_file_atomic(f, "", 0, 0644));
	ASSERT_OK(stat(f, &st));
	ASSERT_EQ_INT(st.st_size, 0);

	/* the unsynced variant: the same file, the same rename */
	ASSERT_OK(write_file_atomic_nosync(f, "three\n", 6, 0600));
	ASSERT_OK(read_file(f, 100, &text, &len));
	ASSERT_STREQ(text, "three\n");
	free(text);
	ASSERT_OK(stat(f, &st));
	ASSERT_EQ_INT(st.st_mode & 07777, 0600);
	ASSERT_EQ_INT(count_entries(dir), 1);
	ASSERT_EQ_INT(write_file_atomic_nosync(missing, "x", 1, 0644), -ENOENT);

	/* a directory that does not exist: an error and nothing created */
	ASSERT_EQ_INT(write_file_atomic(missing, "x", 1, 0644), -ENOENT);
	ASSERT_EQ_INT(count_entries(dir), 1);
	/* the target is a directory: rename fails, the temp file is removed */
	{
		char *sub = path_join(dir, "sub"), *inner = path_join(dir, "sub/keep");

		ASSERT_OK(mkdir(sub, 0755));
		put_file(inner, "k");
		ASSERT_TRUE(write_file_atomic(sub, "x", 1, 0644) < 0);
		ASSERT_EQ_INT(count_entries(dir), 2); /* out and sub */
		ASSERT_EQ_INT(count_entries(sub), 1);
		free(sub);
		free(inner);
	}

	ASSERT_OK(rm_rf(dir));
	free(f);
	free(missing);
	free(dir);
}

static void test_rm_rf_tree(void)
{
	char *dir = tmpdir_new();
	char *root = path_join(dir, "tree"), *p;
	static const char *const dirs[] = {"tree", "tree/a", "tree/a/b", "tree/a/b/c", "tree/e"};
	static const char *const files[] = {"tree/f", "tree/a/g", "tree/a/b/c/h", "tree/e/.hidden"};

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		p = path_join(dir, dirs[i]);
		ASSERT_OK(mkdir(p, 0755));
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		p = path_join(dir, files[i]);
		put_file(p, "data");
		free(p);
	}
	ASSERT_OK(rm_rf(root));
	ASSERT_FALSE(path_exists(root));
	ASSERT_EQ_INT(count_entries(dir), 0);
	/* missing is fine */
	ASSERT_OK(rm_rf(root));
	/* a plain file */
	p = path_join(dir, "plain");
	put_file(p, "x");
	ASSERT_OK(rm_rf(p));
	ASSERT_FALSE(path_exists(p));
	free(p);

	ASSERT_OK(rm_rf(dir));
	ASSERT_FALSE(path_exists(dir));
	free(root);
	free(dir);
}

/* A removal that fails half-way (here: a directory the user may not change)
 * keeps the entry named last, and a second try after the fix finishes. This
 * is what lets `berth down` finish a worktree removal that was cut short. */
static void test_rm_rf_last_keeps_last_on_failure(void)
{
	char *dir = tmpdir_new();
	char *tree = path_join(dir, "wt"), *p;

	if (geteuid() == 0) {
		/* root ignores permissions: do the removal as nobody */
		ASSERT_OK(chown(dir, 65534, 65534));
		if (setgid(65534) < 0 || setuid(65534) < 0)
			tap_skip("cannot drop to uid 65534");
	}
	ASSERT_OK(mkdir(tree, 0755));
	for (int i = 0; i < 20; i++) {
		p = xasprintf("%s/file%02d", tree, i);
		put_file(p, "x");
		free(p);
	}
	p = path_join(tree, ".git");
	put_file(p, "gitdir: /somewhere\n");
	free(p);
	p = path_join(tree, "locked");
	ASSERT_OK(mkdir(p, 0755));
	free(p);
	p = path_join(tree, "locked/keep");
	put_file(p, "x");
	free(p);
	p = path_join(tree, "locked");
	ASSERT_OK(chmod(p, 0555));

	ASSERT_EQ_INT(rm_rf_last(tree, ".git"), -EACCES);
	free(p);
	p = path_join(tree, ".git");
	ASSERT_TRUE(path_exists(p));
	free(p);

	p = path_join(tree, "locked");
	ASSERT_OK(chmod(p, 0755));
	free(p);
	ASSERT_OK(rm_rf_last(tree, ".git"));
	ASSERT_FALSE(path_exists(tree));
	ASSERT_OK(rm_rf(dir));
	free(tree);
	free(dir);
}

/* Open fds of this process. */
static size_t open_fds(void)
{
	return count_entries("/proc/self/fd");
}

/* What a node_modules looks like, big enough for rm_rf's worker threads: 30
 * packages of 3 directories of 8 files, .bin symlinks into them, an empty
 * directory, a FIFO, and a chain of 300 nested directories (more than the
 * walker keeps open before it waits) with a file in each. */
static void make_big_tree(const char *root)
{
	char *p;

	ASSERT_OK(mkdir(root, 0755));
	p = path_join(root, ".bin");
	ASSERT_OK(mkdir(p, 0755));
	free(p);
	for (int i = 0; i < 30; i++) {
		static const char *const subs[] = {"", "/lib", "/dist"};

		for (size_t k = 0; k < ARRAY_SIZE(subs); k++) {
			char *d = xasprintf("%s/pkg-%02d%s", root, i, subs[k]);

			ASSERT_OK(mkdir(d, 0755));
			for (int f = 0; f < 8; f++) {
				p = xasprintf("%s/f%d.js", d, f);
				put_file(p, "module.exports = 1;\n");
				free(p);
			}
			free(d);
		}
		p = xasprintf("%s/.bin/cmd%02d", root, i);
		ASSERT_OK(symlink("../pkg-00/lib/f1.js", p) < 0 ? -errno : 0);
		free(p);
	}
	p = path_join(root, "empty");
	ASSERT_OK(mkdir(p, 0755));
	free(p);
	p = path_join(root, "fifo");
	ASSERT_OK(mkfifo(p, 0644) < 0 ? -errno : 0);
	free(p);
	p = path_join(root, "deep");
	for (int i = 0; i < 300; i++) {
		char *f = path_join(p, "x"), *next = path_join(p, "d");

		ASSERT_OK(mkdir(p, 0755));
		put_file(f, "x");
		free(f);
		free(p);
		p = next;
	}
	free(p);
}

/* A tree big enough for the worker threads goes in full, without following
 * symlinks out of it (to a directory, to a file, placed deep inside), and
 * leaves no fd open. */
static void test_rm_rf_big_tree(void)
{
	char *dir = tmpdir_new(), *tree = path_join(dir, "node_modules");
	char *outside = path_join(dir, "outside"), *keep = path_join(dir, "outside/keep");
	char *okeep = path_join(dir, "outside-file"), *p, *text;
	size_t fds = open_fds();

	ASSERT_OK(mkdir(outside, 0755));
	put_file(keep, "precious");
	put_file(okeep, "precious too");
	make_big_tree(tree);
	p = path_join(tree, "pkg-17/lib/escape-dir");
	ASSERT_OK(symlink(outside, p));
	free(p);
	p = path_join(tree, "deep/d/d/d/d/escape-file");
	ASSERT_OK(symlink(okeep, p));
	free(p);

	ASSERT_OK(rm_rf(tree));
	ASSERT_FALSE(path_exists(tree));
	ASSERT_EQ_INT(open_fds(), fds);
	ASSERT_OK(read_file(keep, 100, &text, NULL));
	ASSERT_STREQ(text, "precious");
	free(text);
	ASSERT_OK(read_file(okeep, 100, &text, NULL));
	ASSERT_STREQ(text, "precious too");
	free(text);
	ASSERT_EQ_INT(count_entries(dir), 2);

	ASSERT_OK(rm_rf(dir));
	free(okeep);
	free(keep);
	free(outside);
	free(tree);
	free(dir);
}

/* The same with the worker threads busy: a file that cannot be deleted deep
 * in a big tree stops the removal with its error, the entry named last
 * stays (what lets `berth down` finish a cut-short removal later), nothing
 * is leaked, and a second try after the fix finishes. */
static void test_rm_rf_last_big_tree_failure(void)
{
	char *dir = tmpdir_new();
	char *tree = path_join(dir, "wt"), *nm = path_join(dir, "wt/node_modules");
	char *locked = path_join(dir, "wt/node_modules/pkg-20/lib/locked"), *p;
	size_t fds;

	if (geteuid() == 0) {
		/* root ignores permissions: do the removal as nobody */
		ASSERT_OK(chown(dir, 65534, 65534));
		if (setgid(65534) < 0 || setuid(65534) < 0)
			tap_skip("cannot drop to uid 65534");
	}
	ASSERT_OK(mkdir(tree, 0755));
	make_big_tree(nm);
	p = path_join(tree, ".git");
	put_file(p, "gitdir: /somewhere\n");
	free(p);
	ASSERT_OK(mkdir(locked, 0755));
	p = path_join(locked, "keep");
	put_file(p, "x");
	free(p);
	ASSERT_OK(chmod(locked, 0555));

	fds = open_fds();
	errno = 0;
	ASSERT_EQ_INT(rm_rf_last(tree, ".git"), -EACCES);
	ASSERT_EQ_INT(errno, EACCES); /* a worker's error, set for the caller too */
	ASSERT_EQ_INT(open_fds(), fds);
	p = path_join(tree, ".git");
	ASSERT_TRUE(path_exists(p));
	free(p);
	p = path_join(locked, "keep");
	ASSERT_TRUE(path_exists(p));
	free(p);

	ASSERT_OK(chmod(locked, 0755));
	ASSERT_OK(rm_rf_last(tree, ".git"));
	ASSERT_FALSE(path_exists(tree));
	ASSERT_EQ_INT(open_fds(), fds);
	ASSERT_OK(rm_rf(dir));
	free(locked);
	free(nm);
	free(tree);
	free(dir);
}

static void test_rm_rf_does_not_follow_symlinks(void)
{
	char *dir = tmpdir_new();
	char *outside = path_join(dir, "outside"), *keep = path_join(dir, "outside/keep"),
	     *okeep = path_join(dir, "outside-file"), *tree = path_join(dir, "tree"),
	     *sub = path_join(dir, "tree/sub"), *l1 = path_join(dir, "tree/link-to-dir"),
	     *l2 = path_join(dir, "tree/sub/link-to-file"), *l3 = path_join(dir, "top-link");
	char *text;

	ASSERT_OK(mkdir(outside, 0755));
	put_file(keep, "precious");
	put_file(okeep, "precious too");
	ASSERT_OK(mkdir(tree, 0755));
	ASSERT_OK(mkdir(sub, 0755));
	ASSERT_OK(symlink(outside, l1));
	ASSERT_OK(symlink(okeep, l2));

	ASSERT_OK(rm_rf(tree));
	ASSERT_FALSE(path_exists(tree));
	ASSERT_TRUE(path_is_dir(outside));
	ASSERT_OK(read_file(keep, 100, &text, NULL));
	ASSERT_STREQ(text, "precious");
	free(text);
	ASSERT_OK(read_file(okeep, 100, &text, NULL));
	ASSERT_STREQ(text, "precious too");
	free(text);

	/* the path itself a symlink to a directory: only the link goes */
	ASSERT_OK(symlink(outside, l3));
	ASSERT_OK(rm_rf(l3));
	ASSERT_FALSE(path_exists(l3));
	ASSERT_TRUE(path_exists(keep));

	ASSERT_OK(rm_rf(dir));
	free(outside);
	free(keep);
	free(okeep);
	free(tree);
	free(sub);
	free(l1);
	free(l2);
	free(l3);
	free(dir);
}

/* ---- hash and time ---------------------------------------------------- */

static void test_hash_fnv1a_vectors(void)
{
	/* the published FNV-1a 64-bit test vectors */
	ASSERT_TRUE(hash_fnv1a64("") == 0xcbf29ce484222325ULL);
	ASSERT_TRUE(hash_fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
	ASSERT_TRUE(hash_fnv1a64("foobar") == 0x85944171f73967e8ULL);
}

static void test_hash_root_id(void)
{
	char *a = hash_root_id("/home/u/repo"), *b = hash_root_id("/home/u/repo"),
	     *c = hash_root_id("/home/u/repo2"), *e = hash_root_id("");

	ASSERT_STREQ(a, b);
	ASSERT_EQ_INT(strlen(a), 16);
	for (size_t i = 0; i < 16; i++)
		ASSERT_TRUE(strchr("0123456789abcdef", a[i]) != NULL);
	ASSERT_TRUE(strcmp(a, c) != 0);
	ASSERT_STREQ(e, "cbf29ce484222325");
	free(a);
	free(b);
	free(c);
	free(e);
	/* small hashes keep their leading zeros */
	for (int i = 0; i < 2000; i++) {
		char root[32], *id;

		snprintf(root, sizeof(root), "/r/%d", i);
		id = hash_root_id(root);
		ASSERT_EQ_INT(strlen(id), 16);
		free(id);
	}
}

static void test_time_format_age(void)
{
	static const struct {
		int64_t s;
		const char *want;
	} v[] = {
		{-5, "0s"},     {0, "0s"},     {1, "1s"},      {59, "59s"},
		{60, "1m"},     {119, "1m"},   {3599, "59m"},  {3600, "1h"},
		{86399, "23h"}, {86400, "1d"}, {172800, "2d"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *s = time_format_age(v[i].s);

		ASSERT_STREQ(s, v[i].want);
		free(s);
	}
}

static void test_time_rfc3339_and_clocks(void)
{
	char *s = time_format_rfc3339(0);
	uint64_t a, b, ns;
	int64_t wall;

	ASSERT_STREQ(s, "1970-01-01T00:00:00Z");
	free(s);
	s = time_format_rfc3339(1700000000);
	ASSERT_STREQ(s, "2023-11-14T22:13:20Z");
	free(s);

	a = time_mono_ms();
	ns = time_mono_ns();
	b = time_mono_ms();
	ASSERT_TRUE(a <= b);
	ASSERT_TRUE(ns / 1000000 >= a && ns / 1000000 <= b);
	wall = time_wall_s();
	ASSERT_TRUE(wall > 1600000000); /* after 2020 */
	ASSERT_TRUE(wall - (int64_t)time(NULL) <= 1);
}

/* ---- printable ---------------------------------------------------------- */

static void test_printable(void)
{
	char *p;

	p = str_printable("plain caf\xc3\xa9 \xe2\x82\xac ok", 0);
	ASSERT_STREQ(p, "plain caf\xc3\xa9 \xe2\x82\xac ok");
	free(p);
	p = str_printable("a\x01"
			  "b\x1b]0;x\x07"
			  "c\x7f",
			  0);
	ASSERT_STREQ(p, "a\\x01b\\x1b]0;x\\x07c\\x7f");
	free(p);
	/* U+009B (CSI) as UTF-8, and a lone 0x9b byte */
	p = str_printable("x\xc2\x9by\x9bz", 0);
	ASSERT_STREQ(p, "x\\xc2\\x9by\\x9bz");
	free(p);
	/* overlong and truncated sequences */
	p = str_printable("\xc0\xafq\xe2\x82", 0);
	ASSERT_STREQ(p, "\\xc0\\xafq\\xe2\\x82");
	free(p);
	p = str_printable("abcdef", 3);
	ASSERT_STREQ(p, "abc...");
	free(p);
	ASSERT_FALSE(str_has_control("feat/caf\xc3\xa9"));
	ASSERT_TRUE(str_has_control("a\x01"));
	ASSERT_TRUE(str_has_control("a\xc2\x9b"));
	ASSERT_TRUE(str_has_control("a\xff"));
	ASSERT_TRUE(str_has_control("tab\there"));
	/* branch names git accepts but a terminal misrenders: bidirectional
	 * controls (U+202E right-to-left override, U+2066 isolate, U+200F
	 * mark, U+061C Arabic letter mark) and line separators (U+2028) */
	ASSERT_TRUE(str_has_control("feat/\xe2\x80\xae"
				    "gnp.exe"));
	ASSERT_TRUE(str_has_control("a\xe2\x81\xa6"
				    "b"));
	ASSERT_TRUE(str_has_control("a\xe2\x80\x8f"
				    "b"));
	ASSERT_TRUE(str_has_control("a\xd8\x9c"
				    "b"));
	ASSERT_TRUE(str_has_control("a\xe2\x80\xa8"
				    "b"));
	ASSERT_FALSE(str_has_control("a\xe2\x80\x94"
				     "b")); /* an em dash is text */
}

/* The temporary file of a writer that still runs is never removed: down
 * removed up's .env.berth.tmp.<pid> between its write and its rename, and up
 * failed with ENOENT (t3200's up-racing-down under ASan); a dead writer's is. */
static void test_rm_atomic_leftovers_spares_live_writers(void)
{
	char dir[] = "/tmp/berth-leftovers-XXXXXX", *path, *live, *dead, *mine;
	pid_t pid = fork();
	int status;

	ASSERT_TRUE(pid >= 0);
	if (pid == 0)
		_exit(0);
	ASSERT_EQ_INT(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/.env.berth", dir);
	live = xasprintf("%s.tmp.%d", path, (int)getpid());
	dead = xasprintf("%s.tmp.%d", path, (int)pid);
	mine = xasprintf("%s.tmp.notes", path);
	ASSERT_OK(write_file_atomic(mine, "n", 1, 0644));
	ASSERT_OK(rename(mine, live) == 0 ? 0 : -errno);
	ASSERT_OK(write_file_atomic(mine, "n", 1, 0644));
	ASSERT_OK(rename(mine, dead) == 0 ? 0 : -errno);
	ASSERT_OK(write_file_atomic(mine, "n", 1, 0644));
	ASSERT_EQ_INT(rm_atomic_leftovers(path), 1);
	ASSERT_TRUE(path_exists(live));
	ASSERT_FALSE(path_exists(dead));
	ASSERT_TRUE(path_exists(mine));
	ASSERT_OK(rm_rf(dir));
	free(mine);
	free(dead);
	free(live);
	free(path);
}

static void test_path_dir(void)
{
	static const char *const cases[][2] = {
		{"/a/b/c", "/a/b"}, {"/a/b/", "/a"}, {"/x", "/"},  {"/", "/"},
		{"x", "."},         {"x/y", "x"},    {"x//", "."},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *d = path_dir(cases[i][0]);

		ASSERT_STREQ(d, cases[i][1]);
		free(d);
	}
}

static void test_cmdline_split_simple(void)
{
	static const char *const shell[] = {
		"",
		"   ",
		"exec python3 -m http.server $PORT",
		"npm run dev && echo done",
		"PORT=1 node server.js",
		"node server.js > log",
		"node server.js # comment",
		"node *.js",
		"cd web",
		"echo hi",
		"exec",
		"exec -a name node",
		"node$PORT",
		"\"node\" x",
		"$NODE x",
		"true",
		"node ~/server.js",
		"node server.js\nnode other.js",
		"node serv\\er.js",
		"node s\303\251rver.js",
		"(node)",
		"node server.js &",
		"[ -e x ]",
	};
	struct strvec v = STRVEC_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(shell); i++) {
		ASSERT_FALSE(cmdline_split_simple(shell[i], NULL, &v));
		ASSERT_EQ_INT((int)v.n, 0);
	}
	ASSERT_TRUE(cmdline_split_simple("  npm\trun  dev --port=3000 ", NULL, &v));
	ASSERT_EQ_INT((int)v.n, 4);
	ASSERT_STREQ(v.v[0], "npm");
	ASSERT_STREQ(v.v[1], "run");
	ASSERT_STREQ(v.v[2], "dev");
	ASSERT_STREQ(v.v[3], "--port=3000");
	strvec_clear(&v);
	ASSERT_TRUE(cmdline_split_simple("./bin/server-1.2 -v user@host:80,x+y%z", NULL, &v));
	ASSERT_EQ_INT((int)v.n, 3);
	ASSERT_STREQ(v.v[0], "./bin/server-1.2");
	strvec_clear(&v);
}

/* The environment of the expansion cases (DUP twice: the last counts). */
static const char *const test_env[] = {
	"PORT=3001", "HOST=127.0.0.1", "EMPTY=",    "SPACED=a b", "GLOB=*.js", "PWD=/elsewhere",
	"NL=a\nb",   "PAREN=@(x)",     "DUP=first", "DUP=second", NULL,
};

/* What the shell at path, run as sh, makes of the words after the program
 * word in cmd, with test_env (but PWD): `printf '|%s\0'` in the program's
 * place, the words joined by '|' after prog into *out. */
static void sh_words(const char *path, const char *cmd, const char *prog, struct strbuf *out)
{
	const char *rest = strstr(cmd, prog) + strlen(prog);
	char *line = xasprintf("printf '|%%s\\0' %s", rest);
	char *argv[] = {(char *)"sh", (char *)"-c", line, NULL};
	struct strvec env = STRVEC_INIT;
	struct spawn_opts o = {.path = path, .argv = argv, .stdin_fd = -1};
	struct strbuf got = STRBUF_INIT;
	struct spawn_error err = {0};
	int ws = -1;

	for (size_t i = 0; test_env[i]; i++)
		if (strncmp(test_env[i], "PWD=", 4))
			strvec_push(&env, test_env[i]);
	o.envp = strvec_argv(&env);
	ASSERT_OK(spawn_run(&o, 10000, &got, NULL, &ws, &err));
	ASSERT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	strbuf_adds(out, prog);
	for (size_t i = 0; i < got.len; i++)
		if (got.buf[i])
			strbuf_addch(out, got.buf[i]);
	strbuf_release(&got);
	strvec_clear(&env);
	free(line);
}

/* What sh would expand to fixed words is expanded here, to the words sh
 * itself makes of them (each case is run by dash and by bash as sh too,
 * the program being the only word not compared); anything whose
 * words depend on the shell (splitting, globs, its own variables, unset
 * ones, command substitution, escapes) stays the shell's. */
static void test_cmdline_expansions(void)
{
	static const struct {
		const char *cmd;
		const char *words; /* joined by '|'; NULL: the shell's */
	} cases[] = {
		{"exec node server.js", "node|server.js"},
		{"exec listen \"$PORT\"", "listen|3001"},
		{"node --port=$PORT --host ${HOST}", "node|--port=3001|--host|127.0.0.1"},
		{"node \"$EMPTY\" 'a b' \"x  $SPACED\" \"$GLOB\"", "node||a b|x  a b|*.js"},
		{"node '$PORT' \"it's\" \"$NL\"", "node|$PORT|it's|a\nb"},
		{"node \"\"", "node|"},
		{"node 'server.js' \"server.js\"", "node|server.js|server.js"},
		{"exec exec node", NULL},
		{"node $EMPTY", NULL},
		{"node $SPACED", NULL},
		{"node $GLOB", NULL},
		{"node $NL", NULL},
		{"node \"$UNSET\"", NULL},
		{"node \"$PWD\"", NULL},
		{"node ${PORT:-1}", NULL},
		{"node \"$1\"", NULL},
		{"node \"$(id)\"", NULL},
		{"node \"`id`\"", NULL},
		{"node \"a\\\"b\"", NULL},
		{"node 'open", NULL},
		{"node \"open", NULL},
		{"node \"$PORT\"x&", NULL},
		{"exec -a x node", NULL},
		{"PORT=1 node", NULL},
		{"exec PORT=1 node", NULL},
		{"exec \"$PORT\"", NULL},
		{"exec echo $PORT", NULL},
		{"node \"$DUP\" \"$PAREN\"", "node|second|@(x)"},
		{"node $PAREN", NULL},
		{"chdir /x", NULL},
		{"declare x", NULL},
	};
	static const char *const shells[] = {"/bin/sh", "/bin/dash", "/bin/bash"};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct strvec v = STRVEC_INIT;
		struct strbuf got = STRBUF_INIT;
		bool ok = cmdline_split_simple(cases[i].cmd, (char *const *)test_env, &v);

		for (size_t j = 0; j < v.n; j++)
			strbuf_addf(&got, "%s%s", j ? "|" : "", v.v[j]);
		if (!cases[i].words) {
			if (ok)
				fprintf(stderr, "# '%s' split as '%s'\n", cases[i].cmd,
					got.buf ? got.buf : "");
			ASSERT_FALSE(ok);
			ASSERT_EQ_INT((int)v.n, 0);
		} else {
			if (!ok)
				fprintf(stderr, "# '%s' left to the shell\n", cases[i].cmd);
			ASSERT_TRUE(ok);
			ASSERT_STREQ(got.buf ? got.buf : "", cases[i].words);
			/* and what the shells themselves make of them */
			for (size_t k = 0; k < ARRAY_SIZE(shells) && v.n > 1; k++) {
				struct strbuf sh = STRBUF_INIT;

				if (access(shells[k], X_OK) < 0)
					continue;
				sh_words(shells[k], cases[i].cmd, v.v[0], &sh);
				if (strcmp(sh.buf, got.buf))
					fprintf(stderr, "# %s: '%s'\n", shells[k], sh.buf);
				ASSERT_STREQ(sh.buf, got.buf);
				strbuf_release(&sh);
			}
		}
		strbuf_release(&got);
		strvec_clear(&v);
	}
}

/* An environment that changes how bash, run as sh, reads a command leaves
 * every command to the shell: an exported function may be the program, its
 * options may glob or not run anything. */
static void test_cmdline_env_shapes_shell(void)
{
	static const char *const shaping[] = {"BASH_FUNC_node%%=() {  echo function",
					      "SHELLOPTS=noexec", "BASHOPTS=extglob"};

	for (size_t i = 0; i < ARRAY_SIZE(shaping); i++) {
		const char *env[] = {"PORT=1", shaping[i], NULL};
		struct strvec v = STRVEC_INIT;

		ASSERT_FALSE(cmdline_split_simple("node server.js", (char *const *)env, &v));
		ASSERT_EQ_INT((int)v.n, 0);
	}
}

/* An instance given back is kept open (closing it would wait for the
 * kernel's destruction of recently removed watches) and handed out again
 * without its watch and without the events queued before. */
static void test_inotify_reuse(void)
{
	char *dir = tmpdir_new(), *file = path_join(dir, "f"), buf[256];
	int a, b, wa;

	a = inotify_take();
	ASSERT_TRUE(a >= 0);
	ASSERT_TRUE(fcntl(a, F_GETFD) & FD_CLOEXEC);
	ASSERT_TRUE(fcntl(a, F_GETFL) & O_NONBLOCK);
	wa = inotify_add_watch(a, dir, IN_CREATE);
	ASSERT_TRUE(wa >= 0);
	put_file(file, "x");
	inotify_give(a, wa);
	ASSERT_TRUE(fcntl(a, F_GETFD) >= 0); /* kept open */
	ASSERT_EQ_INT(inotify_rm_watch(a, wa), -1);
	b = inotify_take();
	ASSERT_EQ_INT(b, a);
	/* neither the IN_CREATE nor the IN_IGNORED of the removed watch */
	ASSERT_EQ_INT((int)read(b, buf, sizeof(buf)), -1);
	ASSERT_EQ_INT(errno, EAGAIN);
	/* two out at once: two instances */
	a = inotify_take();
	ASSERT_TRUE(a >= 0 && a != b);
	inotify_give(a, -1);
	inotify_give(b, -1);
	inotify_give(-1, -1);
	ASSERT_OK(rm_rf(dir));
	free(file);
	free(dir);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_cmdline_split_simple),
	TAP_TEST(test_cmdline_expansions),
	TAP_TEST(test_cmdline_env_shapes_shell),
	TAP_TEST(test_inotify_reuse),
	TAP_TEST(test_parse_u64_valid),
	TAP_TEST(test_parse_u64_range),
	TAP_TEST(test_parse_u64_junk),
	TAP_TEST(test_parse_i64),
	TAP_TEST(test_parse_i64_junk),
	TAP_TEST(test_parse_duration_units),
	TAP_TEST(test_parse_duration_junk),
	TAP_TEST(test_parse_duration_overflow),
	TAP_TEST(test_format_duration),
	TAP_TEST(test_parse_bool),
	TAP_TEST(test_strbuf_basics),
	TAP_TEST(test_strbuf_long_format),
	TAP_TEST(test_strvec_basics),
	TAP_TEST(test_strvec_split_ws),
	TAP_TEST(test_path_join),
	TAP_TEST(test_path_is_inside),
	TAP_TEST(test_path_exists_and_dir),
	TAP_TEST(test_mkdir_p),
	TAP_TEST(test_read_file),
	TAP_TEST(test_read_file_not_regular),
	TAP_TEST(test_write_file_atomic),
	TAP_TEST(test_rm_rf_tree),
	TAP_TEST(test_rm_rf_does_not_follow_symlinks),
	TAP_TEST(test_rm_rf_last_keeps_last_on_failure),
	TAP_TEST(test_rm_rf_big_tree),
	TAP_TEST(test_rm_rf_last_big_tree_failure),
	TAP_TEST(test_printable),
	TAP_TEST(test_hash_fnv1a_vectors),
	TAP_TEST(test_hash_root_id),
	TAP_TEST(test_time_format_age),
	TAP_TEST(test_time_rfc3339_and_clocks),
	TAP_TEST(test_rm_atomic_leftovers_spares_live_writers),
	TAP_TEST(test_path_dir),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
