/*
 * test_docker.c: what docker.c reads of docker's output without an engine:
 * the time at the start of a `docker logs --timestamps` line.
 */
#include "util/common.h"

#include "docker/docker.h"
#include "tap.h"

static void test_log_line(void)
{
	const char *text = NULL;
	uint64_t ns = 0;

	ASSERT_OK(docker_log_line("2026-12-03T02:55:06.123456789Z db run 2", &ns, &text));
	ASSERT_TRUE(ns == 1796266506123456789ull);
	ASSERT_STREQ(text, "db run 2");
	/* docker drops the fraction's trailing zeros */
	ASSERT_OK(docker_log_line("2026-12-03T02:55:06.1Z x", &ns, &text));
	ASSERT_TRUE(ns == 1796266506100000000ull);
	ASSERT_STREQ(text, "x");
	ASSERT_OK(docker_log_line("1970-01-01T00:00:01Z ", &ns, &text));
	ASSERT_TRUE(ns == 1000000000ull);
	ASSERT_STREQ(text, "");
	/* more than 9 digits: the rest is below a nanosecond */
	ASSERT_OK(docker_log_line("1970-01-01T00:00:00.0000000019Z y", &ns, &text));
	ASSERT_TRUE(ns == 1ull);
}

static void test_log_line_refused(void)
{
	const char *text = NULL;
	uint64_t ns = 7;

	ASSERT_EQ_INT(docker_log_line("db run 2", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(
		docker_log_line("Error response from daemon: No such container: x", &ns, &text),
		-EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-12-03T02:55:06.12+01:00 x", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-12-03T02:55:06Z", &ns, &text), -EINVAL);
	ASSERT_EQ_INT(docker_log_line("2026-1-03T02:55:06Z x", &ns, &text), -EINVAL);
	ASSERT_TRUE(ns == 7 && text == NULL);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_log_line),
	TAP_TEST(test_log_line_refused),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
