/*
 * cmdopt.h: a command's options, declared once (struct cmd_opt, a table per
 * command in its cmd_entry). The parser, `--help`'s usage line and options,
 * the man page's synopses (checked by a test) and the shell completions
 * (`berth completion`) all come from these tables, so they cannot drift.
 */
#ifndef BERTH_CMDOPT_H
#define BERTH_CMDOPT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

/* What a shell may complete an option's value (or a positional) with. */
enum cmd_complete {
	COMPLETE_NONE,
	COMPLETE_SESSION, /* a session's slug */
	COMPLETE_SERVICE, /* a service of .berth.ini */
	COMPLETE_WORDS,   /* one of cmd_opt.words */
	COMPLETE_FILE,
	COMPLETE_COMMAND, /* a berth command */
};

struct cmd_opt {
	const char *name; /* long name ("keep-worktree"); NULL ends a table */
	char letter;      /* short name, or 0 */
	const char *arg;  /* NULL: a flag; else its value's name in help ("N", "NAME=PORT") */
	const char *help; /* one line */
	enum cmd_complete complete;
	const char *words; /* COMPLETE_WORDS: "sh dotenv" */
};

/* One option given on the command line. */
struct cmd_given {
	const struct cmd_opt *opt;
	const char *value; /* NULL for a flag */
};

/* A parsed command line: options in the order given, then the positionals
 * (argv[0], the command's name, first); those after "--" from dashdash on. */
struct cmd_args {
	struct cmd_given *given;
	size_t n_given;
	char **argv; /* NULL-terminated; argv[0] is the command */
	int argc;
	int dashdash; /* index in argv of the first argument after "--", or -1 */
	bool quiet;   /* -q */
	bool help;    /* -h, --help */
};

struct cmd_entry;

/* The options every command takes besides its own: -q, --quiet and -h,
 * --help. */
extern const struct cmd_opt cmdopt_common[];

/* Parse argv (argv[0]: the command) against e's table. On a bad command line
 * it says what is wrong (an unknown option with the closest one, a missing
 * value) and returns EXIT_USAGE; 0 with *ret filled (cmdopt_args_finish). */
int cmdopt_parse(const struct cmd_entry *e, int argc, char **argv, struct cmd_args *ret);
void cmdopt_args_finish(struct cmd_args *a);

/* Was option name given? Its last value (NULL: not given, or a flag). */
bool cmdopt_has(const struct cmd_args *a, const char *name);
const char *cmdopt_value(const struct cmd_args *a, const char *name);

/* "up [<slug-or-branch>] [--branch B] [-p NAME=PORT] ... [-q]": the usage
 * line, without "berth ". */
void cmdopt_synopsis(const struct cmd_entry *e, struct strbuf *out);
/* The "Options:" block of `--help`. */
void cmdopt_help(const struct cmd_entry *e, struct strbuf *out);

/* The closest of names (NULL-terminated) to s within two edits, or NULL. */
const char *cmdopt_closest(const char *s, const char *const *names);

#endif
