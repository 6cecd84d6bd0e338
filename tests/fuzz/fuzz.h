/*
 * fuzz.h: what the harnesses of tests/fuzz/ share. Each defines libFuzzer's
 * entry point, LLVMFuzzerTestOneInput; `make fuzz` links it with libFuzzer
 * (clang), the test suite with replay.c (any compiler), which feeds it every
 * file of a corpus directory. A harness returns 0; a broken property aborts
 * (FUZZ_CHECK), and the sanitizers stop it on memory errors and leaks.
 */
#ifndef BERTH_FUZZ_H
#define BERTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(e)                                                                            \
	do {                                                                                     \
		if (!(e)) {                                                                      \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #e); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

/* The readers under test take a path: the input is put in a memfd (slot 0 or
 * 1, created once, rewritten at each call) named by its /proc/self/fd path. */
static inline const char *fuzz_file(int slot, const void *data, size_t size)
{
	static int fds[2] = {-1, -1};
	static char paths[2][32];
	const char *p = data;
	off_t off = 0;

	if (fds[slot] < 0) {
		fds[slot] = memfd_create("berth-fuzz", MFD_CLOEXEC);
		if (fds[slot] < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d", fds[slot]);
	}
	if (ftruncate(fds[slot], 0) < 0) {
		perror("ftruncate");
		abort();
	}
	while ((size_t)off < size) {
		ssize_t n = pwrite(fds[slot], p + off, size - (size_t)off, off);

		if (n <= 0) {
			perror("pwrite");
			abort();
		}
		off += n;
	}
	return paths[slot];
}

#endif
