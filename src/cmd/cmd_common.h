/*
 * cmd_common.h: helpers shared by several commands: option errors, list
 * arguments, config checks, the session's JSON shape and summary, Ctrl-C
 * checks, and the test-only pause points.
 */
#ifndef BERTH_CMD_COMMON_H
#define BERTH_CMD_COMMON_H

#include <jansson.h>
#include <signal.h>

#include "cmd/cmd.h"
#include "supervise/launch.h"
#include "supervise/services.h"
#include "tmux/tmux.h"
#include "store/state.h"

/* Split "a,b, c" into words. */
void cmd_split_list(const char *s, struct strvec *out);
/* On a terminal only (false otherwise): ask question on stderr and read the
 * answer from stdin. want NULL: a yes/no question, true for an answer that
 * starts with y or Y; else true only for exactly want ("yes"). */
bool cmd_confirm(const char *question, const char *want);
/* Run config_validate; print errors (and warnings when asked). EXIT_CONFIG or 0. */
int cmd_check_config(struct cmd_ctx *ctx, bool warnings);
/* Block SIGINT, SIGTERM and SIGHUP so that they become checks between steps
 * (cmd_interrupted); old receives the previous mask for cmd_signals_restore. */
void cmd_signals_block(sigset_t *old);
/* -EINTR when SIGINT, SIGTERM or SIGHUP is pending (blocked by cmd_signals_block). */
int cmd_interrupted(void);
/* Consume what is still pending of those signals, then restore old: a
 * signal that came too late to interrupt must not kill us on unblocking. */
void cmd_signals_restore(const sigset_t *old);
/* Before a command works on a session's worktree: finish what commands
 * killed while creating or removing worktrees left beside it, and repair its
 * damaged .git file (worktree_recover); says what it did, warns on failure.
 * The temporary files a killed writer of .env.berth or an inherit_env copy
 * left in it go too. new_at: the commit an interrupted `up` was creating
 * the session's branch at (op_rec.branch_at), or NULL: the ref lock a kill
 * inside that creation left goes as well. */
void cmd_recover_worktree(struct cmd_ctx *ctx, const struct session *s, const char *new_at,
			  const char *cmd);

/* {slug, slot, mode, branch, status, worktree_path, env_file, env:{}, ports:{},
 * services:[]}: the shape of `up --json` and `env --json` (docs/json.md). */
json_t *cmd_session_json(struct cmd_ctx *ctx, const struct session *s);
/* The human summary lines after "session 'x' is up". */
void cmd_print_session_summary(const struct session *s);
/* "web=3001 web.hmr=24679" (or "-"). The caller frees. */
char *cmd_ports_text(const struct session *s);
/* The session among v[0..n) whose worktree holds dir, or NULL. */
const struct session *cmd_session_at(const char *dir, const struct session *v, size_t n);
/* Fetch a session; prints "no session 'x'" and returns EXIT_NOTFOUND when absent. */
int cmd_get_session(struct cmd_ctx *ctx, const char *slug, struct session *ret);

/* The environment a command run in the session sees: ours, then the
 * worktree's inherit_env files, then the session's variables (later wins).
 * Prints and returns an exit code on a bad env file, else 0. */
int cmd_session_environ(struct cmd_ctx *ctx, const struct session *s, struct strvec *ret);
/* Resolve the slug argument and fetch a session that has a worktree on disk.
 * Prints errors; returns an exit code or 0. */
int cmd_session_for_run(struct cmd_ctx *ctx, const char *arg, struct session *ret);
/* Close the state store and exec cmd in the session's worktree with its
 * environment. Returns (an exit code: 127 not found, 126 not runnable) only
 * on failure. */
int cmd_exec_in_session(struct cmd_ctx *ctx, const struct session *s, char *const *cmd);
/* runner = tmux: replace berth with `tmux attach` to window ("shell": the
 * shell window, started again when it ended) of session s. Prints errors;
 * returns an exit code only on failure. */
int cmd_tmux_attach(struct cmd_ctx *ctx, const struct session *s, const char *window);

/* A program installed beside berth (berth-shim, berth-watch): $env_name
 * when set, else name in the directory of berth's own executable. Caller
 * frees. */
char *cmd_companion_path(const char *name, const char *env_name);
/* Fill c for session s (the environment of cmd_session_environ, the shim
 * beside our executable or $BERTH_SHIM; the repository's tmux server under
 * runner = tmux). Prints errors; returns an exit code or 0. need_shim: fail
 * when berth-shim or (runner = tmux) a usable tmux cannot be found; without
 * it a missing tmux is a warning and the services are stopped without it. */
int cmd_svc_init(struct cmd_ctx *ctx, const struct session *s, bool need_shim, struct svc_env *c);
/* A signalfd for SIGINT, SIGTERM and SIGHUP (blocked by cmd_signals_block):
 * an event loop sees Ctrl-C as an fd. -1 on failure. */
int cmd_signalfd(void);
/* Hybrid/container mode: write the session's compose file, start the
 * project and wait until its services are ready; prints progress and the
 * failure (with the container's last lines). *started: a rollback must
 * remove the project. 0, -EINTR, or -errno. */
int cmd_docker_up(struct cmd_ctx *ctx, struct svc_env *svc, int sigfd, bool *started);
/* Remove the session's compose project (by its exact label), when the mode
 * uses docker or the session has a compose file. Prints errors. 0 or -errno. */
int cmd_docker_down(struct cmd_ctx *ctx, const struct session *s, char *const *envp,
		    bool keep_volumes);
/* docker_init with the repository's cache of the compose flavour
 * (.berth/cache/compose-flavour). */
struct docker;
int cmd_docker_init(const struct cmd_ctx *ctx, struct docker *d, char *const *envp, char **cause);
/* The compose project of session slug: <prefix>_<slug>. Caller frees. */
char *cmd_docker_project(const struct cmd_ctx *ctx, const char *slug);
/* Docker services of an active session, by name (names: docker services of
 * the config), in its compose project as `up` wrote it (the file is not
 * written again). Each prints its progress and errors, prefixed with cmd,
 * and returns 0, or: -EIO when a service failed (printed with its
 * container's last lines; the command exits 6; its name in *ret_service,
 * may be NULL, caller frees), -EINTR on a signal on sigfd (-1: none), any
 * other -errno when docker or compose failed (exit 1).
 * cmd_docker_stop: `compose stop` of them (each container gets stop_grace,
 * rounded up to whole seconds, then SIGKILL); their containers are kept,
 * the session's other services are not touched.
 * cmd_docker_start: for `berth start` (and restart): start them again
 * (`compose up --detach` of them: a stopped container is started, a missing
 * one made) and wait as `up` does until each runs, is healthy when it has a
 * healthcheck and its session port takes connections (extra ports are not
 * waited for); a container that exits or turns unhealthy fails at once.
 * What did not get ready (or was interrupted) is stopped again.
 * cmd_docker_restart: cmd_docker_stop, then cmd_docker_start. */
int cmd_docker_stop(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		    char *const *envp, const char *cmd);
int cmd_docker_start(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		     char *const *envp, int sigfd, const char *cmd, char **ret_service);
int cmd_docker_restart(struct cmd_ctx *ctx, const struct session *s, const struct strvec *names,
		       char *const *envp, int sigfd, const char *cmd, char **ret_service);
/* status: the session's docker services (container state, health, its
 * published port taking connections): printed, or as "docker" in obj.
 * *unhealthy set when one of an active session is not well. */
void cmd_docker_status(struct cmd_ctx *ctx, const struct session *s, json_t *obj, bool *unhealthy);
/* launch_services with its failure printed: 0 (all ready), -EINTR (a signal
 * on sigfd), -EIO (a service failed: printed with its last lines; its name in
 * *ret_service (may be NULL; caller frees)), or the -errno that kept the
 * launch from running (printed). */
int cmd_launch(struct svc_env *svc, const size_t *pick, size_t k, int sigfd, struct strvec *started,
	       const char *cmd, char **ret_service);
/* Print a launch failure: what happened, then the last lines of the log. */
void cmd_print_launch_failure(const char *cmd, const struct launch_failure *f);
/* Stop services (NULL: all of the session and anything with its markers);
 * prints progress and survivors. Returns 0, or -EBUSY when something
 * survived. When everything found was stopped but a lost supervisor's
 * escapees cannot be vouched for (no cgroup containment), it says so and
 * sets c->unvouched. */
int cmd_stop_services(struct svc_env *c, const struct strvec *names, int sigfd, const char *cmd);
/* Run hook `which` (its command from the config; nothing when unset) in cwd
 * with envp plus the session's markers, so a process it leaves behind is
 * the session's. Prints what runs and why it failed ("<cmd>: hook pre_up
 * failed: exited with status 3"), records an event. Returns 0, -EINTR, or
 * -EIO / -ENOEXEC on failure. */
int cmd_run_hook(struct cmd_ctx *ctx, const char *cmd, const char *which, const char *slug,
		 const char *cwd, char *const *envp, int sigfd);
/* For `cmd [<slug>] [service...]`: argv[optind] is the session unless it
 * names a configured service (then the session is the current worktree's).
 * Fetches the session into *ret and sets *ret_first to the first service
 * argument. Prints errors; returns an exit code or 0. */
/* {"slug", "status", key: [native names..., docker names...]}: the outcome
 * of stop, start and restart under --json. */
json_t *cmd_outcome_json(const char *slug, const char *status, const char *key,
			 const struct strvec *native, const struct strvec *docker);
int cmd_session_then_services(struct cmd_ctx *ctx, int argc, char **argv, int optind_,
			      struct session *ret, int *ret_first);
/* argv[first..argc) must each name a native service with a command in the
 * config, or a docker service (run = docker) when docker is not NULL: native
 * ones are appended to names (may be NULL), docker ones to docker (once
 * each). Prints "<cmd>: no native service 'x'" and returns EXIT_NOTFOUND for
 * the first that is neither. */
int cmd_named_services(struct cmd_ctx *ctx, const char *cmd, char **argv, int first, int argc,
		       struct strvec *names, struct strvec *docker);
/* The session's native services: those of the config with a command, then
 * those recorded in its run directory but no longer configured. */
void cmd_service_names(struct cmd_ctx *ctx, const char *slug, struct strvec *ret);
/* Move the session's journal (what its shims recorded) into the state
 * store's events, before its run directory is removed. */
void cmd_ingest_journal(struct cmd_ctx *ctx, const char *slug);
/* Whether `berth watch` runs for this repository: {"running": bool, "pid":
 * N or null} for --json, or one line ("watcher: running (pid N)") on f. */
json_t *cmd_watcher_json(struct cmd_ctx *ctx);
void cmd_print_watcher(struct cmd_ctx *ctx, FILE *f);
/* End the repository's running watcher (what `berth watch --stop` does):
 * SIGTERM, its identity checked, KILL after 15 s; waits until it is gone.
 * *ret_pid: its pid, 0 when none ran. Prints errors; an exit code or 0. */
int cmd_stop_watcher(struct cmd_ctx *ctx, pid_t *ret_pid);
/* What `berth shutdown` did to one session. */
enum shutdown_outcome {
	SHUTDOWN_NOT_RUN,    /* interrupted before its down started */
	SHUTDOWN_REMOVED,    /* `down` removed it */
	SHUTDOWN_KEPT,       /* stopped and kept, as asked (--keep-worktrees) */
	SHUTDOWN_KEPT_DIRTY, /* its worktree has uncommitted work: stopped and kept */
	SHUTDOWN_FAILED,     /* `down` failed: code and reason say how */
};
struct shutdown_item {
	char *slug;
	char *worktree;
	enum shutdown_outcome outcome;
	int code;     /* the exit status of its (last) down */
	char *reason; /* SHUTDOWN_FAILED: what down said last, or why it did not run */
	bool dirty;   /* its first down refused: uncommitted work */
	uint64_t t0_ms;
};
struct shutdown_report {
	struct shutdown_item *v;
	size_t n;
	bool interrupted; /* a signal came: what had not started was not run */
};
/* `berth down <slug>` of each session of v[0..n), run as berth's children
 * (at most 4 at once; each takes its session's token), going on past
 * failures. A down refused for uncommitted work (exit 7) is followed by
 * `down --keep-worktree`. keep: every one with --keep-worktree; force: with
 * --force. Progress on stderr; *ret says what happened to each (free it
 * with shutdown_report_finish). 0, or -errno (printed) when none could run. */
int cmd_shutdown_run(struct cmd_ctx *ctx, const struct session *v, size_t n, bool keep, bool force,
		     struct shutdown_report *ret);
/* One line per session on stdout; what was not removed named on stderr.
 * Returns the exit code: EXIT_FAIL when a down failed, else EXIT_DIRTY when
 * a session was kept for its uncommitted work, else 0 (130 interrupted). */
int cmd_shutdown_print(const struct shutdown_report *rep, const char *cmd);
void shutdown_report_finish(struct shutdown_report *r);

#endif
