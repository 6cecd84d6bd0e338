/*
 * bench_loggen.c: a bounded `yes` for the log benchmark (bench/shim/run.sh).
 * Writes LINES numbered lines of 21 bytes ("%020u\n": 00000000000000000000,
 * 00000000000000000001, ...) to stdout in write(2)s of BYTES (default 4096,
 * what stdio uses on a pipe or a file: lines are cut across writes as a
 * program's output is), then exits 0. The numbers let the driver check that a
 * log holds every line, in order. Formatting is a counter in ASCII, so the
 * generator costs little beside the writes it measures.
 *
 *   bench_loggen LINES [BYTES]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIGITS 20

static int write_all(const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(1, p, len);

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

static int parse_count(const char *s, unsigned long long max, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	char line[DIGITS + 1], *buf;
	unsigned long long lines, bytes = 4096;
	size_t fill = 0;
	int r;

	if (argc < 2 || argc > 3 || parse_count(argv[1], 1ull << 40, &lines) < 0 ||
	    (argc == 3 && (parse_count(argv[2], 1u << 24, &bytes) < 0 || bytes == 0))) {
		fprintf(stderr, "usage: bench_loggen LINES [BYTES]\n");
		return 2;
	}
	buf = malloc(bytes);
	if (!buf) {
		fprintf(stderr, "bench_loggen: out of memory\n");
		return 1;
	}
	memset(line, '0', DIGITS);
	line[DIGITS] = '\n';
	for (unsigned long long i = 0; i < lines; i++) {
		size_t off = 0;

		while (off < sizeof(line)) {
			size_t n = sizeof(line) - off;

			if (n > bytes - fill)
				n = bytes - fill;
			memcpy(buf + fill, line + off, n);
			fill += n;
			off += n;
			if (fill == bytes) {
				r = write_all(buf, fill);
				if (r < 0)
					goto fail;
				fill = 0;
			}
		}
		/* the next number */
		for (int d = DIGITS - 1; d >= 0; d--) {
			if (line[d] != '9') {
				line[d]++;
				break;
			}
			line[d] = '0';
		}
	}
	r = write_all(buf, fill);
	if (r < 0)
		goto fail;
	free(buf);
	return 0;

fail:
	fprintf(stderr, "bench_loggen: write: %s\n", strerror(-r));
	free(buf);
	return 1;
}
