/*
 * test_svcstatus.c: a service's status file round-trips, and a malformed one
 * is refused; the event journal gets whole lines.
 */
#include "util/common.h"

#include <unistd.h>

#include "shim/svcstatus.h"
#include "tap.h"
#include "util/fsutil.h"

static char *tmpfile_path(void)
{
	char *d = xstrdup("/tmp/berth-status-XXXXXX"), *p;

	ASSERT_TRUE(mkdtemp(d) != NULL);
	p = path_join(d, "web.status");
	free(d);
	return p;
}

/* Remove the status file and its temporary directory. */
static void cleanup(char *path)
{
	char *dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));

	unlink(path);
	rmdir(dir);
	free(dir);
	free(path);
}

static void test_round_trip(void)
{
	struct svc_status s = {
		.state = SVC_FAILED,
		.shim_pid = 4242,
		.shim_start = 123456789012ull,
		.pid = 4243,
		.start_time = 123456789013ull,
		.exit_code = -1,
		.exit_signal = 11,
		.core_dumped = true,
		.killed = true,
		.restarts = 5,
		.since_ms = 1763800000123,
		.exec_ms = 1763800000001,
	};
	struct svc_status got;
	char *path = tmpfile_path();

	snprintf(s.error, sizeof(s.error), "cannot run 'npm':\nNo such file");
	ASSERT_OK(svc_status_write(path, &s));
	ASSERT_OK(svc_status_read(path, &got));
	ASSERT_EQ_INT(got.state, SVC_FAILED);
	ASSERT_EQ_INT(got.shim_pid, 4242);
	ASSERT_TRUE(got.shim_start == 123456789012ull);
	ASSERT_EQ_INT(got.pid, 4243);
	ASSERT_TRUE(got.start_time == 123456789013ull);
	ASSERT_EQ_INT(got.exit_code, -1);
	ASSERT_EQ_INT(got.exit_signal, 11);
	ASSERT_TRUE(got.core_dumped && got.killed);
	ASSERT_EQ_INT(got.restarts, 5);
	ASSERT_TRUE(got.since_ms == 1763800000123 && got.exec_ms == 1763800000001);
	ASSERT_STREQ(got.error, "cannot run 'npm': No such file");
	cleanup(path);
}

static void test_every_state_name_parses_back(void)
{
	for (int st = SVC_STARTING; st <= SVC_FAILED; st++) {
		enum svc_state back;

		ASSERT_OK(svc_state_parse(svc_state_name((enum svc_state)st), &back));
		ASSERT_EQ_INT(back, st);
	}
	ASSERT_TRUE(svc_state_parse("sleeping", &(enum svc_state){0}) < 0);
}

static void test_malformed_and_missing(void)
{
	char *path = tmpfile_path();
	struct svc_status got;

	ASSERT_EQ_INT(svc_status_read(path, &got), -ENOENT);
	ASSERT_OK(write_file_atomic(path, "garbage\n", 8, 0644));
	ASSERT_EQ_INT(svc_status_read(path, &got), -EBADMSG);
	ASSERT_OK(write_file_atomic(path, "state=running\npid=abc\n", 22, 0644));
	ASSERT_EQ_INT(svc_status_read(path, &got), -EBADMSG);
	ASSERT_OK(write_file_atomic(path, "pid=12\n", 7, 0644));
	ASSERT_EQ_INT(svc_status_read(path, &got), -EBADMSG);
	/* an unknown key from a newer shim is skipped */
	ASSERT_OK(write_file_atomic(path, "state=running\nfuture=1\npid=12\n", 30, 0644));
	ASSERT_OK(svc_status_read(path, &got));
	ASSERT_EQ_INT(got.pid, 12);
	ASSERT_EQ_INT(got.state, SVC_RUNNING);
	cleanup(path);
}

/* The journal is made by its first line, then appended to; a detail's tabs
 * and newlines cannot split a line or a field. */
static void test_journal_append(void)
{
	char *path = tmpfile_path(), *text = NULL;
	size_t len = 0;
	int64_t ms;
	char svc[16], kind[16], detail[64];

	svc_journal_append(path, "web", "running", "pid 42");
	svc_journal_append(path, "db", "failed", "line one\nline\ttwo");
	ASSERT_OK(read_file(path, 4096, &text, &len));
	ASSERT_EQ_INT(
		sscanf(text, "%" SCNd64 "\t%15[^\t]\t%15[^\t]\t%63[^\n]", &ms, svc, kind, detail),
		4);
	ASSERT_TRUE(ms > 0);
	ASSERT_STREQ(svc, "web");
	ASSERT_STREQ(kind, "running");
	ASSERT_STREQ(detail, "pid 42");
	ASSERT_TRUE(strstr(text, "\tdb\tfailed\tline one line two\n") != NULL);
	ASSERT_EQ_INT(text[len - 1], '\n');
	ASSERT_TRUE(memchr(text, '\n', len) == strstr(text, "pid 42") + 6);
	free(text);
	cleanup(path);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_round_trip),
	TAP_TEST(test_every_state_name_parses_back),
	TAP_TEST(test_malformed_and_missing),
	TAP_TEST(test_journal_append),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
