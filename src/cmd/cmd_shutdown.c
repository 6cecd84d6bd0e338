/*
 * cmd_shutdown.c: `berth shutdown`: `down` of every session of the
 * repository, each one `berth down <slug>` run as our child (a few at once:
 * each takes its own session's token, so they are safe side by side), going
 * on past failures. A worktree with uncommitted work is never deleted: that
 * session is stopped and kept instead (`down --keep-worktree`). Then one
 * line per session and an exit code that says the worst that happened.
 * `berth flush` runs the same machinery first (cmd_shutdown_run).
 */
#include "util/common.h"

#include <ev.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "cmd/output.h"
#include "proc/job.h"
#include "store/session.h"
#include "util/timeutil.h"

#define SHUTDOWN_AT_ONCE 4 /* downs running side by side */
#define DOWN_ERR_KEEP 4096 /* bytes of a down's stderr kept for its reason */
#define ERROR_PREFIX "berth: "

struct shutdown_run {
	struct ev_loop *loop;
	struct reaper *reaper;
	char *exe;
	const char *root;
	bool keep, force;
	struct shutdown_report *rep;
	size_t next; /* the next item to start */
	unsigned running;
	struct job **jobs; /* per item, while its down runs */
	int sigfd;
	ev_io sig_io;
};

static void start_down(struct shutdown_run *sr, size_t i, bool keep_worktree);

static const char *outcome_text(enum shutdown_outcome o)
{
	switch (o) {
	case SHUTDOWN_REMOVED:
		return "removed";
	case SHUTDOWN_KEPT:
		return "stopped and kept";
	case SHUTDOWN_KEPT_DIRTY:
		return "stopped and kept";
	case SHUTDOWN_FAILED:
		return "failed";
	case SHUTDOWN_NOT_RUN:
		break;
	}
	return "not taken down";
}

/* The last line a down printed on stderr, without "berth: ". */
static char *down_reason(struct job *j, int code)
{
	struct strbuf line = STRBUF_INIT;
	char *r;

	job_last_line(j, &line);
	if (!line.len)
		r = xasprintf("`berth down` exited with status %d", code);
	else if (!strncmp(line.buf, ERROR_PREFIX, strlen(ERROR_PREFIX)))
		r = xstrdup(line.buf + strlen(ERROR_PREFIX));
	else
		r = xstrdup(line.buf);
	strbuf_release(&line);
	return r;
}

static void fill(struct shutdown_run *sr)
{
	while (!sr->rep->interrupted && sr->running < SHUTDOWN_AT_ONCE && sr->next < sr->rep->n)
		start_down(sr, sr->next++, sr->keep);
}

static void on_down_exit(struct job *j, int code, void *data)
{
	struct shutdown_run *sr = data;
	struct shutdown_item *it = NULL;
	size_t i;

	for (i = 0; i < sr->rep->n; i++)
		if (sr->jobs[i] == j) {
			it = &sr->rep->v[i];
			break;
		}
	sr->running--;
	if (!it) { /* not one of ours: cannot happen */
		job_destroy(j);
		return;
	}
	it->code = code;
	if (code == EXIT_OK || code == EXIT_NOTFOUND) {
		/* (not found: another command removed it meanwhile) */
		it->outcome = it->dirty  ? SHUTDOWN_KEPT_DIRTY
			      : sr->keep ? SHUTDOWN_KEPT
					 : SHUTDOWN_REMOVED;
		out_step("%s: %s (%.2f s)", it->slug, outcome_text(it->outcome),
			 (double)(time_mono_ms() - it->t0_ms) / 1000.0);
	} else if (code == EXIT_DIRTY && !it->dirty && !sr->keep && !sr->force) {
		/* uncommitted work is never deleted: stopped, its worktree kept */
		it->dirty = true;
		out_step("%s: its worktree has uncommitted work; stopping the session and keeping "
			 "the worktree",
			 it->slug);
		job_destroy(j);
		sr->jobs[i] = NULL;
		if (!sr->rep->interrupted) {
			start_down(sr, i, true);
		} else {
			it->outcome = SHUTDOWN_FAILED;
			it->reason = xstrdup("interrupted before it was stopped");
		}
		fill(sr);
		return;
	} else {
		it->outcome = SHUTDOWN_FAILED;
		it->reason = down_reason(j, code);
		out_step("%s: failed (exit %d)", it->slug, code);
	}
	job_destroy(j);
	sr->jobs[i] = NULL;
	fill(sr);
}

/* `berth down -q <slug> [--keep-worktree] [--force]` for item i. */
static void start_down(struct shutdown_run *sr, size_t i, bool keep_worktree)
{
	struct shutdown_item *it = &sr->rep->v[i];
	struct strvec argv = STRVEC_INIT;
	char *why = NULL;
	int r;

	strvec_push(&argv, sr->exe);
	strvec_push(&argv, "down");
	strvec_push(&argv, "-q");
	strvec_push(&argv, it->slug);
	if (keep_worktree)
		strvec_push(&argv, "--keep-worktree");
	if (sr->force && !keep_worktree)
		strvec_push(&argv, "--force");
	struct spawn_opts o = {
		.path = sr->exe,
		.argv = strvec_argv(&argv),
		.cwd = sr->root,
		.stdin_fd = -1,
		.stdout_fd = -1,
		.new_pgroup = true,
	};
	if (!it->t0_ms)
		it->t0_ms = time_mono_ms();
	r = job_start(sr->loop, sr->reaper, &o, DOWN_ERR_KEEP, on_down_exit, sr, &sr->jobs[i],
		      &why);
	strvec_clear(&argv);
	if (r < 0) {
		it->outcome = SHUTDOWN_FAILED;
		it->code = EXIT_FAIL;
		it->reason = why;
		return;
	}
	sr->running++;
}

/* Ctrl-C, SIGTERM: no down is started any more; the running ones get the
 * signal (each is in a process group of its own) and are waited for.
 * SIGHUP is ignored by both callers (shutdown, flush). */
static void on_signal(struct ev_loop *loop, ev_io *io, int revents)
{
	struct shutdown_run *sr = io->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	while (read(sr->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		sr->rep->interrupted = true;
		for (size_t i = 0; i < sr->rep->n; i++)
			if (sr->jobs[i])
				job_signal(sr->jobs[i], (int)si.ssi_signo, true);
	}
}

int cmd_shutdown_run(struct cmd_ctx *ctx, const struct session *v, size_t n, bool keep, bool force,
		     struct shutdown_report *ret)
{
	struct shutdown_run sr = {.root = ctx->root, .keep = keep, .force = force, .rep = ret};
	sigset_t old;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->v = xcalloc(n ? n : 1, sizeof(*ret->v));
	ret->n = n;
	for (size_t i = 0; i < n; i++) {
		ret->v[i].slug = xstrdup(v[i].slug);
		ret->v[i].worktree = xstrdup(v[i].worktree);
		ret->v[i].outcome = SHUTDOWN_NOT_RUN;
	}
	if (!n)
		return 0;
	sr.exe = realpath("/proc/self/exe", NULL);
	if (!sr.exe) {
		r = -errno;
		out_error("cannot find berth's own executable: %s", strerror(-r));
		return r;
	}
	sr.jobs = xcalloc(n, sizeof(*sr.jobs));
	sr.loop = ev_loop_new(EVFLAG_AUTO);
	if (!sr.loop || (r = reaper_create(sr.loop, &sr.reaper)) < 0) {
		r = sr.loop ? r : -ENOMEM;
		out_error("cannot run `berth down`: %s", strerror(-r));
		goto out;
	}
	cmd_signals_block(&old);
	sr.sigfd = cmd_signalfd();
	if (sr.sigfd >= 0) {
		ev_io_init(&sr.sig_io, on_signal, sr.sigfd, EV_READ);
		sr.sig_io.data = &sr;
		ev_io_start(sr.loop, &sr.sig_io);
	}
	fill(&sr);
	while (sr.running)
		ev_run(sr.loop, EVRUN_ONCE);
	if (sr.sigfd >= 0) {
		ev_io_stop(sr.loop, &sr.sig_io);
		close(sr.sigfd);
	}
	cmd_signals_restore(&old);
	r = 0;
out:
	if (sr.reaper)
		reaper_destroy(sr.reaper);
	if (sr.loop)
		ev_loop_destroy(sr.loop);
	free(sr.jobs);
	free(sr.exe);
	return r;
}

int cmd_shutdown_print(const struct shutdown_report *rep, const char *cmd)
{
	struct strbuf failed = STRBUF_INIT;
	size_t width = 0, n_failed = 0;
	bool dirty = false;

	for (size_t i = 0; i < rep->n; i++)
		if (strlen(rep->v[i].slug) > width)
			width = strlen(rep->v[i].slug);
	for (size_t i = 0; i < rep->n; i++) {
		const struct shutdown_item *it = &rep->v[i];

		switch (it->outcome) {
		case SHUTDOWN_REMOVED:
		case SHUTDOWN_KEPT:
			out_line(stdout, "  %-*s  %s\n", (int)width, it->slug,
				 outcome_text(it->outcome));
			continue;
		case SHUTDOWN_KEPT_DIRTY:
			dirty = true;
			out_line(stdout,
				 "  %-*s  stopped and kept: its worktree %s has uncommitted work "
				 "(`berth down %s` lists it; --force deletes it)\n",
				 (int)width, it->slug, it->worktree, it->slug);
			strbuf_addf(&failed, "%s'%s' (kept: uncommitted work in %s)",
				    failed.len ? ", " : "", it->slug, it->worktree);
			continue;
		case SHUTDOWN_FAILED:
			out_line(stdout, "  %-*s  failed (exit %d): %s\n", (int)width, it->slug,
				 it->code, it->reason ? it->reason : "?");
			strbuf_addf(&failed, "%s'%s' (`berth down` exited %d)",
				    failed.len ? ", " : "", it->slug, it->code);
			n_failed++;
			continue;
		case SHUTDOWN_NOT_RUN:
			out_line(stdout, "  %-*s  not taken down (interrupted)\n", (int)width,
				 it->slug);
			continue;
		}
	}
	if (failed.len)
		out_error("%s: not every session was removed: %s", cmd, failed.buf);
	strbuf_release(&failed);
	if (rep->interrupted)
		return EXIT_INTERRUPTED;
	return n_failed ? EXIT_FAIL : dirty ? EXIT_DIRTY : EXIT_OK;
}

void shutdown_report_finish(struct shutdown_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].slug);
		free(r->v[i].worktree);
		free(r->v[i].reason);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int cmd_shutdown_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct shutdown_report rep = {0};
	struct session *v = NULL;
	bool keep = cmdopt_has(ctx->args, "keep-worktrees"), force = cmdopt_has(ctx->args, "force");
	size_t n = 0;
	int code;

	if (argc > 1)
		return cmd_usage_error(&cmd_shutdown_entry, "unexpected argument '%s'", argv[1]);
	if (cmd_store_writable(ctx))
		return EXIT_FAIL;
	/* run from a session's tmux shell, our terminal hangs up when that
	 * session ends: the rest must still be done */
	signal(SIGHUP, SIG_IGN);
	if (state_sessions_list(ctx->state, &v, &n) < 0) {
		out_error("shutdown: cannot read the state store: %s", state_errmsg(ctx->state));
		return EXIT_FAIL;
	}
	if (!n) {
		out_line(stdout, "no sessions in this repository\n");
		return cmd_db_stop_server(ctx, "shutdown", false);
	}
	out_step("taking down %zu session%s%s", n, n == 1 ? "" : "s",
		 keep ? " (worktrees kept)" : "");
	if (cmd_shutdown_run(ctx, v, n, keep, force, &rep) < 0) {
		code = EXIT_FAIL;
		goto out;
	}
	code = cmd_shutdown_print(&rep, "shutdown");
	/* berth's database server goes last: the downs dropped their databases */
	if (!rep.interrupted && cmd_db_stop_server(ctx, "shutdown", false) && !code)
		code = EXIT_FAIL;
out:
	shutdown_report_finish(&rep);
	sessions_free(v, n);
	return code;
}

const struct cmd_entry cmd_shutdown_entry = {
	.name = "shutdown",
	.opts =
		(const struct cmd_opt[]){
			{"keep-worktrees", 0, NULL,
			 "stop every session and keep its worktree, slot and ports", COMPLETE_NONE,
			 NULL},
			{"force", 'f', NULL,
			 "delete worktrees even with uncommitted or untracked work", COMPLETE_NONE,
			 NULL},
			{0},
		},
	.summary = "take every session of the repository down",
	.help = "`berth down` of every session, a few at once, going on past failures; then\n"
		"one line per session. A worktree with uncommitted or untracked work is never\n"
		"deleted: that session is stopped and kept (`down --keep-worktree`), and the\n"
		"exit is 7 unless something worse failed (then 1). berth's own database server\n"
		"([database] without a url) is stopped last.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_STATE_RO,
	.owner = OWNER_NONE,
	.exec = cmd_shutdown_exec,
};
