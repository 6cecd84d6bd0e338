/*
 * cmd.c: the command table, help, and the per-command set-up of repository,
 * config and state.
 */
#include "util/common.h"

#include <stdarg.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "store/slug.h"
#include "util/fsutil.h"

/* Alphabetical. */
static const struct cmd_entry *const cmd_table[] = {
	&cmd_attach_entry,   &cmd_completion_entry, &cmd_config_entry, &cmd_db_entry,
	&cmd_doctor_entry,   &cmd_down_entry,       &cmd_env_entry,    &cmd_events_entry,
	&cmd_exec_entry,     &cmd_flush_entry,      &cmd_init_entry,   &cmd_logs_entry,
	&cmd_ls_entry,       &cmd_restart_entry,    &cmd_shell_entry,  &cmd_shutdown_entry,
	&cmd_start_entry,    &cmd_status_entry,     &cmd_stop_entry,   &cmd_up_entry,
	&cmd_validate_entry, &cmd_watch_entry,      &cmd_whose_entry,  &cmd_complete_entry,
};

const struct cmd_entry *const *cmd_table_get(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(cmd_table);
	return cmd_table;
}

static const char exit_codes_help[] =
	"Exit codes:\n"
	"  0    success\n"
	"  1    the operation failed, or a negative answer (whose: nobody holds it)\n"
	"  2    usage error (bad command line)\n"
	"  3    configuration error (.berth.ini missing or invalid, not in a git repository)\n"
	"  4    not found (no such session or service)\n"
	"  5    busy or conflict (an operation in progress, no free slot, port held)\n"
	"  6    a service failed or is unhealthy\n"
	"  7    refused to delete uncommitted or untracked work (use --force)\n"
	"  130  interrupted (Ctrl-C); what the command had created was rolled back\n"
	"  exec propagates the command's own status (128 + N when killed by signal N).\n";

const struct cmd_entry *cmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (!strcmp(cmd_table[i]->name, name))
			return cmd_table[i];
	return NULL;
}

const char *cmd_closest(const char *name)
{
	const char *names[ARRAY_SIZE(cmd_table) + 1];

	for (size_t i = 0; i < ARRAY_SIZE(cmd_table); i++)
		names[i] = cmd_table[i]->name;
	names[ARRAY_SIZE(cmd_table)] = NULL;
	return cmdopt_closest(name, names);
}

void cmd_print_main_help(FILE *f)
{
	fprintf(f, "usage: berth <command> [options]\n\n"
		   "berth gives every git worktree of a repository its own isolated development\n"
		   "environment: a slot, its own ports, an env file, and the services it runs.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmd_table); i++)
		if (!(cmd_table[i]->flags & CMD_HIDDEN))
			fprintf(f, "  %-10s %s\n", cmd_table[i]->name, cmd_table[i]->summary);
	fprintf(f,
		"\n`berth <command> --help` describes a command. `berth --version` prints the "
		"version.\n\n%s",
		exit_codes_help);
}

void cmd_print_help(const struct cmd_entry *e, FILE *f)
{
	struct strbuf sb = STRBUF_INIT;

	cmdopt_synopsis(e, &sb);
	fprintf(f, "usage: berth %s\n\n%s\n", strbuf_str(&sb), e->summary);
	if (e->help && *e->help)
		fprintf(f, "\n%s", e->help);
	strbuf_reset(&sb);
	cmdopt_help(e, &sb);
	fprintf(f, "\n%s\n%s", strbuf_str(&sb), exit_codes_help);
	strbuf_release(&sb);
}

int cmd_usage_error(const struct cmd_entry *e, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	out_error("%s: %s; see `berth %s --help`", e->name, sb.buf, e->name);
	strbuf_release(&sb);
	return EXIT_USAGE;
}

int cmd_exit_for(int r)
{
	switch (-r) {
	case 0:
		return EXIT_OK;
	case ENOENT:
		return EXIT_NOTFOUND;
	case EBUSY:
	case ENOSPC:
	case EEXIST:
	case EADDRINUSE:
	case ESTALE:
		return EXIT_BUSY;
	case EINTR:
		return EXIT_INTERRUPTED;
	default:
		return EXIT_FAIL;
	}
}

int cmd_open_state(struct cmd_ctx *ctx)
{
	bool ro = ctx->entry && (ctx->entry->flags & CMD_STATE_RO);
	char *path, *cause = NULL;
	int r;

	if (ctx->state)
		return 0;
	if (!ro) {
		r = mkdir_p(ctx->berth_dir, 0755);
		if (r < 0) {
			out_error("cannot create '%s': %s", ctx->berth_dir, strerror(-r));
			return EXIT_FAIL;
		}
	}
	path = path_join(ctx->berth_dir, "state.db");
	r = ro ? state_open_readonly(path, &ctx->state, &cause)
	       : state_open(path, &ctx->state, &cause);
	free(path);
	if (r < 0) {
		out_error("%s", cause);
		free(cause);
		return EXIT_FAIL;
	}
	return 0;
}

int cmd_store_writable(struct cmd_ctx *ctx)
{
	char *path = path_join(ctx->berth_dir, "state.db"), *cause = NULL;
	struct state *st = NULL;
	int r = 0;

	/* no store: nothing to change in it (and none is made here) */
	if (path_exists(path))
		r = state_open(path, &st, &cause);
	free(path);
	if (r < 0) {
		out_error("%s: %s; nothing was changed", ctx->entry->name, cause);
		free(cause);
		return EXIT_FAIL;
	}
	if (st)
		state_close(st);
	return 0;
}

static int setup(struct cmd_ctx *ctx, unsigned flags)
{
	char *cause = NULL, *path;
	int r;

	ctx->cwd = getcwd(NULL, 0);
	if (!ctx->cwd) {
		out_error("cannot read the current directory: %s", strerror(errno));
		return EXIT_FAIL;
	}
	if (!(flags & (CMD_REPO | CMD_CONFIG | CMD_STATE)))
		return 0;
	if (flags & CMD_GIT)
		worktree_lib_init_async();
	/* libgit2 itself is initialised by the first call that needs it: finding
	 * the repository usually does not (worktree_locate) */
	r = worktree_locate(ctx->cwd, &ctx->loc, &cause);
	if (r < 0) {
		out_error("%s; run berth inside your project's git repository", cause);
		free(cause);
		return EXIT_CONFIG;
	}
	ctx->root = ctx->loc.main_root;
	ctx->berth_dir = path_join(ctx->root, ".berth");
	if (flags & CMD_CONFIG) {
		path = path_join(ctx->root, CONFIG_FILE);
		if (!path_exists(path)) {
			config_init(&ctx->config, ctx->root);
			if (!(flags & CMD_CONFIG_OPTIONAL)) {
				out_error("no %s in '%s'; run `berth init` there first",
					  CONFIG_FILE, ctx->root);
				free(path);
				return EXIT_CONFIG;
			}
		} else {
			r = config_load(&ctx->config, ctx->root, path, &cause);
			if (r < 0) {
				out_error("%s", cause);
				free(cause);
				free(path);
				return EXIT_CONFIG;
			}
			ctx->have_config = true;
		}
		free(path);
	}
	if (flags & CMD_STATE)
		return cmd_open_state(ctx);
	return 0;
}

static void teardown(struct cmd_ctx *ctx)
{
	state_close(ctx->state);
	config_finish(&ctx->config);
	repo_location_finish(&ctx->loc);
	free(ctx->berth_dir);
	free(ctx->cwd);
	worktree_lib_shutdown();
}

int cmd_run(const struct cmd_entry *e, int argc, char **argv)
{
	struct cmd_ctx ctx = {0};
	struct cmd_args args;
	int code;

	/* --json before the parse: a usage error is a JSON document too */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--json"))
			out_set_json(true);
	/* the command line first: a usage error wins over a missing config */
	code = cmdopt_parse(e, argc, argv, &args);
	if (code) {
		out_json_error(code);
		return code;
	}
	if (args.help) {
		cmd_print_help(e, stdout);
		cmdopt_args_finish(&args);
		return out_finish();
	}
	if (args.quiet)
		out_set_quiet(true);

	ctx.entry = e;
	ctx.args = &args;
	code = setup(&ctx, e->flags);
	if (code == 0)
		code = e->exec(&ctx, args.argc, args.argv);
	cmd_own_finish(&ctx);
	teardown(&ctx);
	out_json_error(code);
	cmdopt_args_finish(&args);
	if (out_finish() != 0 && code == 0)
		code = EXIT_FAIL;
	return code;
}

int cmd_resolve_slug(struct cmd_ctx *ctx, const char *arg, char **ret)
{
	struct session *v = NULL;
	const struct session *here;
	char *cause = NULL;
	size_t n = 0;
	int code;

	if (arg) {
		if (slug_check(arg, &cause) < 0) {
			out_error("%s", cause);
			free(cause);
			return EXIT_USAGE;
		}
		*ret = xstrdup(arg);
		return 0;
	}
	code = cmd_open_state(ctx);
	if (code)
		return code;
	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("cannot read the state store: %s", state_errmsg(ctx->state));
		return EXIT_FAIL;
	}
	here = cmd_session_at(ctx->cwd, v, n);
	if (here) {
		*ret = xstrdup(here->slug);
		sessions_free(v, n);
		return 0;
	}
	sessions_free(v, n);
	if (ctx->loc.in_linked)
		out_error("the worktree '%s' has no berth session; run `berth up` in it to start "
			  "one, or pass a session name",
			  ctx->loc.current);
	else
		out_error("no session name given and '%s' is not inside a session's worktree; "
			  "pass a session name (`berth ls` lists them)",
			  ctx->cwd);
	return EXIT_USAGE;
}
