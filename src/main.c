/*
 * main.c: argv -> the command table.
 */
#include "util/common.h"

#include <signal.h>

#include "cmd/cmd.h"
#include "cmd/output.h"

int main(int argc, char **argv)
{
	const struct cmd_entry *e;

	/* A closed pipe is a write error we report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		cmd_print_main_help(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		if (argc > 2 && (e = cmd_find(argv[2]))) {
			cmd_print_help(e, stdout);
			return out_finish();
		}
		cmd_print_main_help(stdout);
		return out_finish();
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") ||
	    !strcmp(argv[1], "version")) {
		printf("berth %s\n", PROJECT_VERSION);
		return out_finish();
	}
	e = cmd_find(argv[1]);
	if (!e) {
		const char *guess = cmd_closest(argv[1]);

		if (guess)
			out_error("unknown command '%s' (did you mean '%s'?); `berth --help` lists "
				  "the "
				  "commands",
				  argv[1], guess);
		else
			out_error("unknown command '%s'; `berth --help` lists the commands",
				  argv[1]);
		return EXIT_USAGE;
	}
	return cmd_run(e, argc - 1, argv + 1);
}
