/*
 * cmd.h: the command table. Each command lives in cmd_<name>.c and defines a
 * `const struct cmd_entry cmd_<name>_entry`; cmd.c lists them. cmd_run()
 * handles --help, then sets up what the entry's flags ask for (the repository,
 * the config, the state store) before calling exec, and tears it down after.
 */
#ifndef BERTH_CMD_H
#define BERTH_CMD_H

#include <stdbool.h>

#include "cmd/cmdopt.h"
#include "config/config.h"
#include "store/state.h"
#include "git/worktree.h"

/* The exit-code contract (docs/exit-codes.md, berth(1)). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAIL = 1,      /* the operation failed, or a negative answer (whose: nobody) */
	EXIT_USAGE = 2,     /* bad command line */
	EXIT_CONFIG = 3,    /* .berth.ini missing or invalid */
	EXIT_NOTFOUND = 4,  /* no such session / service */
	EXIT_BUSY = 5,      /* busy, conflict, no free slot, port held */
	EXIT_UNHEALTHY = 6, /* a service failed or is unhealthy */
	EXIT_DIRTY = 7,     /* refused: uncommitted work would be lost */
	EXIT_INTERRUPTED = 130,
};

enum cmd_flags {
	CMD_REPO = 1 << 0,            /* locate the repository and its main root */
	CMD_CONFIG = 1 << 1,          /* load .berth.ini (implies CMD_REPO) */
	CMD_STATE = 1 << 2,           /* open .berth/state.db (implies CMD_REPO) */
	CMD_CONFIG_OPTIONAL = 1 << 3, /* with CMD_CONFIG: a missing file is not an error */
	CMD_STATE_RO = 1 << 4,        /* with CMD_STATE: only reads it, never creates it */
	CMD_HIDDEN = 1 << 5,          /* not listed by `berth --help` (__complete) */
	CMD_GIT = 1 << 6,             /* works on worktrees and branches: libgit2's set-up
				       * (5-12 ms) starts at once, beside the rest */
};

/* How a command takes the session it changes (own.c). */
enum cmd_owner {
	OWNER_NONE,    /* changes no session */
	OWNER_RESERVE, /* up: reserves (or resumes) it itself, then adopts the token */
	OWNER_TAKE,    /* down: takes it even from a live owner, which stands down first */
	OWNER_IDLE,    /* restart: an active session no live command owns */
};

struct cmd_entry;

struct cmd_ctx {
	const struct cmd_entry *entry;
	char *cwd;
	struct repo_location loc;
	const char *root; /* loc.main_root */
	char *berth_dir;  /* <root>/.berth */
	struct config config;
	bool have_config; /* the file existed and parsed */
	struct state *state;
	struct op_rec own; /* the ownership token, while own_slug is set */
	char *own_slug;
	const struct cmd_args *args; /* the command line, parsed */
};

struct cmd_entry {
	const char *name;
	const char *args;           /* positionals before the options: "[<slug>] [service...]" */
	const char *args_after;     /* after them ("-- CMD [ARGS...]"), or NULL */
	enum cmd_complete complete; /* what the first positional is */
	const struct cmd_opt *opts; /* its options (cmdopt.h); -q and -h are everyone's */
	const char *summary;        /* one line for `berth --help` */
	const char *help;           /* what `berth CMD --help` says besides usage and options */
	unsigned flags;
	enum cmd_owner owner;
	/* argv: the command's name and its positionals; its options are in
	 * ctx->args */
	int (*exec)(struct cmd_ctx *ctx, int argc, char **argv);
};

/* Find a command by exact name; NULL if none. */
const struct cmd_entry *cmd_find(const char *name);
/* Every command, in the table's order (*ret_n of them). */
const struct cmd_entry *const *cmd_table_get(size_t *ret_n);
/* The command closest to a mistyped name, or NULL. */
const char *cmd_closest(const char *name);
/* Run a command (argv[0] is its name); returns the exit code. */
int cmd_run(const struct cmd_entry *e, int argc, char **argv);
/* Print the main help to f. */
void cmd_print_main_help(FILE *f);
/* Print e's usage and options to f. */
void cmd_print_help(const struct cmd_entry *e, FILE *f);
/* Report a usage error for e ("berth up: ...; see `berth up --help`"); returns EXIT_USAGE. */
int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The slug a command acts on: arg when given (validated), else the session
 * whose worktree holds the current directory. Prints the error itself and
 * returns an exit code (> 0) on failure, 0 on success. */
int cmd_resolve_slug(struct cmd_ctx *ctx, const char *arg, char **ret);
/* Open the state store if the command did not (for commands that need it
 * only sometimes). Prints the error; returns an exit code or 0. */
int cmd_open_state(struct cmd_ctx *ctx);
/* For a command that reads the store read-only and has others change it
 * (shutdown, flush): can it be changed? Prints why not ("nothing was
 * changed") and returns EXIT_FAIL, else 0. */
int cmd_store_writable(struct cmd_ctx *ctx);
/* Take session slug as the entry's owner field says (OWNER_TAKE,
 * OWNER_IDLE; nothing for others), into *ret. Prints errors; returns an
 * exit code or 0. */
int cmd_own_session(struct cmd_ctx *ctx, const char *slug, struct session *ret);
/* up: the token session_reserve took becomes the command's. */
void cmd_own_adopt(struct cmd_ctx *ctx, const char *slug, const struct op_rec *op);
/* True when another command took the session over since we took it. */
bool cmd_own_lost(struct cmd_ctx *ctx);
/* Say that the run stood down (taken over); returns EXIT_BUSY. */
int cmd_stand_down(struct cmd_ctx *ctx);
/* The command settled its session (finalized, released, deleted). */
void cmd_own_release(struct cmd_ctx *ctx);
/* After exec: a session still owned is given back as it was. */
void cmd_own_finish(struct cmd_ctx *ctx);
/* Map a -errno from a library call to the exit-code contract. */
int cmd_exit_for(int r);

extern const struct cmd_entry cmd_complete_entry;
extern const struct cmd_entry cmd_completion_entry;
extern const struct cmd_entry cmd_config_entry;
extern const struct cmd_entry cmd_db_entry;
extern const struct cmd_entry cmd_doctor_entry;
extern const struct cmd_entry cmd_down_entry;
extern const struct cmd_entry cmd_env_entry;
extern const struct cmd_entry cmd_events_entry;
extern const struct cmd_entry cmd_exec_entry;
extern const struct cmd_entry cmd_flush_entry;
extern const struct cmd_entry cmd_init_entry;
extern const struct cmd_entry cmd_logs_entry;
extern const struct cmd_entry cmd_ls_entry;
extern const struct cmd_entry cmd_restart_entry;
extern const struct cmd_entry cmd_shell_entry;
extern const struct cmd_entry cmd_shutdown_entry;
extern const struct cmd_entry cmd_attach_entry;
extern const struct cmd_entry cmd_start_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_stop_entry;
extern const struct cmd_entry cmd_up_entry;
extern const struct cmd_entry cmd_validate_entry;
extern const struct cmd_entry cmd_watch_entry;
extern const struct cmd_entry cmd_whose_entry;

#endif
