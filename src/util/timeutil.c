/*
 * timeutil.c: clocks.
 */
#include "util/common.h"

#include <time.h>

#include "util/timeutil.h"

uint64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ms(void)
{
	return time_mono_ns() / 1000000u;
}

int64_t time_wall_s(void)
{
	return (int64_t)time(NULL);
}

int64_t time_wall_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

char *time_format_age(int64_t s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		return xasprintf("%" PRId64 "s", s);
	if (s < 3600)
		return xasprintf("%" PRId64 "m", s / 60);
	if (s < 86400)
		return xasprintf("%" PRId64 "h", s / 3600);
	return xasprintf("%" PRId64 "d", s / 86400);
}

char *time_format_rfc3339(int64_t epoch_s)
{
	time_t t = (time_t)epoch_s;
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(buf);
}
