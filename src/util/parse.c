/*
 * parse.c: checked number, duration and boolean parsing.
 */
#include "util/common.h"

#include <ctype.h>
#include <strings.h>

#include "util/parse.h"

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	long long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || end == s)
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	uint64_t whole = 0, frac = 0, frac_div = 1, mult = 1000;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > UINT64_MAX / 10 / 3600000)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div >= 1000000)
				continue; /* ignore digits below a nanosecond-ish precision */
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
		}
	}
	if (!strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "s") || !*p)
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (!strcmp(p, "h"))
		mult = 3600000;
	else if (!strcmp(p, "d"))
		mult = 86400000;
	else
		return -EINVAL;
	if (whole > (UINT64_MAX - mult) / mult)
		return -ERANGE;
	*ret_ms = whole * mult + frac * mult / frac_div;
	return 0;
}

char *format_duration_ms(uint64_t ms)
{
	if (ms && ms % 86400000 == 0)
		return xasprintf("%" PRIu64 "d", ms / 86400000);
	if (ms && ms % 3600000 == 0)
		return xasprintf("%" PRIu64 "h", ms / 3600000);
	if (ms && ms % 60000 == 0)
		return xasprintf("%" PRIu64 "m", ms / 60000);
	if (ms % 1000 == 0)
		return xasprintf("%" PRIu64 "s", ms / 1000);
	if (ms > 1000 && ms % 100 == 0)
		return xasprintf("%" PRIu64 ".%" PRIu64 "s", ms / 1000, ms % 1000 / 100);
	return xasprintf("%" PRIu64 "ms", ms);
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}
