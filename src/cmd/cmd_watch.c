/*
 * cmd_watch.c: `berth watch`: the background supervisor of the repository's
 * sessions (src/watch/watcher.c). One per repository (watch/lock.c); in the
 * foreground it prints every event as one JSON line on stdout; --daemon
 * detaches it (its own session, output to .berth/watch.log, rotated);
 * --stop ends the running one; --once runs one reconcile pass.
 */
#include "util/common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/output.h"
#include "proc/pidref.h"
#include "proc/procset.h"
#include "util/fsutil.h"
#include "watch/lock.h"

#define LOG_NAME "watch.log"
#define STOP_WAIT_MS 15000

struct watch_out {
	char *log_path; /* --daemon: the log that stdout and stderr go to */
};

/* The daemon's stdout and stderr: its log, appended to. */
static void log_open(struct watch_out *wo)
{
	int fd = open(wo->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return;
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

int cmd_stop_watcher(struct cmd_ctx *ctx, pid_t *ret_pid)
{
	struct proc_ref id;

	*ret_pid = 0;
	if (!watch_running(ctx->berth_dir, &id))
		return EXIT_OK;
	if (!id.pid || !proc_is(id.pid, id.start_time)) {
		out_error(
			"watch: a watcher holds %s/watch.lock but its pid cannot be read; stop it "
			"by hand (fuser %s/watch.lock names it)",
			ctx->berth_dir, ctx->berth_dir);
		return EXIT_FAIL;
	}
	pidref_signal_once(&id, SIGTERM, false);
	if (!pidref_wait_gone(&id, STOP_WAIT_MS)) {
		out_warn("the watcher (pid %d) did not stop within %d s; killing it", (int)id.pid,
			 STOP_WAIT_MS / 1000);
		pidref_signal_once(&id, SIGKILL, false);
		pidref_wait_gone(&id, PROCSET_KILL_WAIT_MS);
	}
	*ret_pid = id.pid;
	return EXIT_OK;
}

/* --stop: end the running watcher and say so. */
static int stop_watcher(struct cmd_ctx *ctx)
{
	pid_t pid;
	int code = cmd_stop_watcher(ctx, &pid);

	if (code)
		return code;
	if (pid)
		out_line(stdout, "stopped the watcher (pid %d)\n", (int)pid);
	else
		out_line(stdout, "no watcher runs for this repository\n");
	return EXIT_OK;
}

/* --daemon: double fork; the grandchild takes the lock and says so through
 * a pipe before the caller returns, so a second watcher is refused here and
 * `berth watch --stop` right after finds this one. Returns in the daemon
 * only (0, *lock_fd set), or an exit code in the caller's process. */
static int daemonize(struct cmd_ctx *ctx, struct watch_out *wo, int *lock_fd, bool *parent)
{
	int p[2], devnull;
	char msg[64] = "";
	pid_t pid;
	ssize_t k;

	*parent = true;
	if (pipe2(p, O_CLOEXEC) < 0) {
		out_error("watch: cannot start the daemon: %s", strerror(errno));
		return EXIT_FAIL;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		out_error("watch: cannot start the daemon: %s", strerror(errno));
		return EXIT_FAIL;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		*parent = false;
		/* nothing of the caller's but fds 0-2 (replaced below): a pipe
		 * it reads to its end must not wait for the daemon */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[1])
				close(fd);
		struct proc_ref holder;
		int fd = watch_lock_take(ctx->berth_dir, &holder);

		if (fd < 0) {
			dprintf(p[1], "busy %d\n", (int)holder.pid);
			_exit(EXIT_BUSY);
		}
		*lock_fd = fd;
		devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		wo->log_path = path_join(ctx->berth_dir, LOG_NAME);
		log_open(wo);
		if (chdir("/") < 0)
			_exit(EXIT_FAIL);
		/* A hangup from the moment the caller hears "ok" must not end
		 * us before the engine runs (it ignores SIGHUP too; the
		 * disposition survives the exec). */
		signal(SIGHUP, SIG_IGN);
		dprintf(p[1], "ok %d\n", (int)getpid());
		close(p[1]);
		return 0;
	}
	close(p[1]);
	waitpid(pid, NULL, 0);
	k = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	msg[k > 0 ? k : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (!strncmp(msg, "ok ", 3)) {
		out_line(stdout,
			 "the watcher runs (pid %s); its events are in %s/%s and `berth events`\n",
			 msg + 3, ctx->berth_dir, LOG_NAME);
		return EXIT_OK;
	}
	if (!strncmp(msg, "busy ", 5)) {
		out_error(
			"watch: a watcher already runs for this repository (pid %s); `berth watch "
			"--stop` ends it",
			msg + 5);
		return EXIT_BUSY;
	}
	out_error("watch: the daemon did not start");
	return EXIT_FAIL;
}

static int cmd_watch_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool once = cmdopt_has(ctx->args, "once"), daemon = cmdopt_has(ctx->args, "daemon");
	bool stop = cmdopt_has(ctx->args, "stop"), parent = false;
	struct watch_out wo = {0};
	struct strvec args = STRVEC_INIT;
	struct proc_ref holder;
	char *exe = NULL, *cfg_path = NULL, *engine = NULL;
	int code, lock_fd = -1;

	if (argc > 1)
		return cmd_usage_error(&cmd_watch_entry, "unexpected argument '%s'", argv[1]);
	if (once + daemon + stop > 1)
		return cmd_usage_error(&cmd_watch_entry, "--once, --daemon and --stop go alone");
	if (stop)
		return stop_watcher(ctx);
	exe = realpath("/proc/self/exe", NULL);
	if (!exe) {
		out_error("watch: cannot find berth's own executable: %s", strerror(errno));
		return EXIT_FAIL;
	}
	/* the store first: one berth cannot use is refused before anything
	 * else happens (and, for --daemon, in the caller's terminal); the
	 * engine opens its own (an SQLite connection never crosses a fork) */
	code = cmd_open_state(ctx);
	if (code) {
		free(exe);
		return code;
	}
	state_close(ctx->state);
	ctx->state = NULL;
	engine = cmd_companion_path("berth-watch", "BERTH_WATCH_ENGINE");
	if (access(engine, X_OK) < 0) {
		out_error("watch: cannot run '%s': %s; berth-watch is installed beside berth "
			  "(reinstall berth)",
			  engine, strerror(errno));
		code = EXIT_FAIL;
		goto out;
	}
	if (daemon) {
		code = daemonize(ctx, &wo, &lock_fd, &parent);
		if (parent)
			goto out;
	} else {
		lock_fd = watch_lock_take(ctx->berth_dir, &holder);
		if (lock_fd == -EBUSY) {
			out_error("watch: a watcher already runs for this repository (pid %d); "
				  "`berth "
				  "watch --stop` ends it",
				  (int)holder.pid);
			code = EXIT_BUSY;
			goto out;
		}
		if (lock_fd < 0) {
			out_error("watch: cannot take %s/watch.lock: %s", ctx->berth_dir,
				  strerror(-lock_fd));
			code = EXIT_FAIL;
			goto out;
		}
	}
	/* the engine keeps the lock (fd 3) for as long as it runs: open across
	 * the exec (dup2 clears close-on-exec; onto itself it does not) */
	if (lock_fd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(lock_fd, 3) < 0) {
		out_error("watch: %s", strerror(errno));
		code = EXIT_FAIL;
		goto out;
	}
	cfg_path = path_join(ctx->root, CONFIG_FILE);
	strvec_push(&args, engine);
	strvec_push(&args, ctx->root);
	strvec_push(&args, ctx->berth_dir);
	strvec_push(&args, cfg_path);
	strvec_push(&args, exe);
	if (once)
		strvec_push(&args, "--once");
	if (wo.log_path) {
		strvec_push(&args, "--log");
		strvec_push(&args, wo.log_path);
	}
	fflush(NULL);
	execv(engine, strvec_argv(&args));
	out_error("watch: cannot run '%s': %s", engine, strerror(errno));
	code = EXIT_FAIL;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	strvec_clear(&args);
	free(cfg_path);
	free(engine);
	free(exe);
	free(wo.log_path);
	return code;
}

const struct cmd_entry cmd_watch_entry = {
	.name = "watch",
	.opts =
		(const struct cmd_opt[]){
			{"once", 0, NULL,
			 "one reconcile pass, wait for what it started, exit (cron, CI)",
			 COMPLETE_NONE, NULL},
			{"daemon", 0, NULL, "detach (its own session; output to .berth/watch.log)",
			 COMPLETE_NONE, NULL},
			{"stop", 0, NULL, "end the running watcher", COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "the background supervisor: keeps every session true between commands",
	.help = "Watches every shim and the repository's tmux server (a death is seen at once,\n"
		"recorded with its cause, and the service restarted per its restart policy),\n"
		"and reconciles every [watch] interval: operations whose command died, worktrees\n"
		"deleted by hand, foreign processes on a session's port, idle sessions\n"
		"([watch] idle_stop). One per repository. In the foreground every event is one\n"
		"JSON line on stdout. --once, --daemon and --stop go alone.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL,
	.owner = OWNER_NONE,
	.exec = cmd_watch_exec,
};
