/*
 * replay.c: the main of a harness outside libFuzzer. Every file named on the
 * command line, and every regular file of every directory named (in name
 * order), is fed to LLVMFuzzerTestOneInput once; the result is TAP, one line
 * per input. The suite `fuzz` runs it on tests/fuzz/corpus/<harness>/, so
 * every seed and every input that once crashed runs in CI (under ASan in the
 * ASan pass).
 */
#include "util/common.h"

#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/fsutil.h"

#define REPLAY_MAX_INPUT (16u << 20)

static unsigned n_run;

static int replay_one(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int r = read_file(path, REPLAY_MAX_INPUT, &data, &len);

	if (r < 0) {
		printf("not ok %u - %s: %s\n", ++n_run, path, strerror(-r));
		return -1;
	}
	/* a crash ends the process: the log then names the input */
	printf("# %s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	printf("ok %u - %s\n", ++n_run, path);
	fflush(stdout);
	return 0;
}

static int only_files(const struct dirent *de)
{
	return de->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct dirent **names;
		int k;

		if (!path_is_dir(argv[i])) {
			failed |= replay_one(argv[i]) < 0;
			continue;
		}
		k = scandir(argv[i], &names, only_files, alphasort);
		if (k < 0) {
			printf("not ok %u - %s: %s\n", ++n_run, argv[i], strerror(errno));
			failed = 1;
			continue;
		}
		for (int j = 0; j < k; j++) {
			char *path = path_join(argv[i], names[j]->d_name);

			failed |= replay_one(path) < 0;
			free(path);
			free(names[j]);
		}
		free(names);
	}
	printf("1..%u\n", n_run);
	return failed;
}
