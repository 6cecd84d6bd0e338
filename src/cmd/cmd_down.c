/*
 * cmd_down.c: `berth down`: refuse before touching anything when the worktree
 * holds uncommitted or untracked work (unless --force), take the session over,
 * remove the worktree berth created (or keep it: a stopped session that keeps
 * slot and ports), and free the slot. Branches are kept, but for one a crashed
 * or deposed `up` created that has no commit of its own.
 */
#include "util/common.h"

#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_common.h"
#include "cmd/cmd_db.h"
#include "config/envfile.h"
#include "cmd/output.h"
#include "store/session.h"
#include "util/fsutil.h"
#include "util/testpoint.h"
#include "util/timeutil.h"

#define DIRTY_SHOW 10

/* Is the worktree's inherit_env file rel berth's own: a symlink into the main
 * root, or (copy mode) an unchanged copy? */
static bool inherited_unchanged(struct cmd_ctx *ctx, const struct session *s, const char *rel)
{
	char *path = path_join(s->worktree, rel), *src = path_join(ctx->root, rel);
	char *target, *a = NULL, *b = NULL;
	size_t la = 0, lb = 0;
	struct stat st;
	bool ours = false;

	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(path, NULL);
		ours = !target || path_is_inside(target, ctx->root);
		free(target);
	} else if (ctx->config.inherit_env_mode == INHERIT_COPY &&
		   read_file(path, 1 << 20, &a, &la) == 0 &&
		   read_file(src, 1 << 20, &b, &lb) == 0) {
		ours = la == lb && !memcmp(a, b, la);
	}
	free(a);
	free(b);
	free(src);
	free(path);
	return ours;
}

/* The user's uncommitted and untracked changes in the session's worktree:
 * everything but the files berth put there itself (.env.berth and unchanged
 * inherit_env files). Returns the count (>= 0) or -errno (printed). */
static long user_changes(struct cmd_ctx *ctx, const struct session *s, struct strvec *ret)
{
	struct strvec ignore = STRVEC_INIT, writes = STRVEC_INIT;
	char *cause = NULL;
	size_t count = 0;
	int r;

	strvec_push(&ignore, ENVFILE_NAME);
	strvec_push(&writes, ENVFILE_NAME);
	for (size_t i = 0; i < ctx->config.inherit_env.n; i++) {
		if (inherited_unchanged(ctx, s, ctx->config.inherit_env.v[i]))
			strvec_push(&ignore, ctx->config.inherit_env.v[i]);
		strvec_push(&writes, ctx->config.inherit_env.v[i]);
	}
	r = worktree_changes_except(s->worktree, &ignore, &writes, &count, ret, DIRTY_SHOW, &cause);
	strvec_clear(&ignore);
	strvec_clear(&writes);
	if (r < 0) {
		out_error("down: cannot check '%s' for uncommitted work: %s; nothing was "
			  "changed (--force skips the check)",
			  s->worktree, cause);
		free(cause);
		return r;
	}
	return (long)count;
}

/* Commits of the worktree no branch holds (a detached HEAD's): deleting the
 * worktree would lose them. Prints and returns EXIT_DIRTY when there are
 * some, EXIT_FAIL when they cannot be counted, else 0. */
static int refuse_lost_commits(const struct session *s)
{
	struct strvec commits = STRVEC_INIT;
	char *cause = NULL;
	size_t n = 0;

	if (worktree_lost_commits(s->worktree, &n, &commits, DIRTY_SHOW, &cause) < 0) {
		out_error("down: cannot check '%s' for commits no branch holds: %s; nothing was "
			  "changed (--force skips the check)",
			  s->worktree, cause);
		free(cause);
		return EXIT_FAIL;
	}
	if (!n)
		return 0;
	out_error("down: refused: the worktree '%s' has %zu%s commit%s that no branch holds (its "
		  "HEAD is detached); deleting it would lose them; nothing was stopped or deleted:",
		  s->worktree, n, n >= LOST_COMMITS_MAX ? " or more" : "", n == 1 ? "" : "s");
	for (size_t i = 0; i < commits.n; i++)
		out_line(stderr, "  %s\n", commits.v[i]);
	if (n > DIRTY_SHOW)
		fprintf(stderr, "  ... and %zu more\n", n - DIRTY_SHOW);
	fprintf(stderr,
		"keep them on a branch (`git -C %s branch <name>`); or `berth down %s "
		"--keep-worktree`; or --force to delete them\n",
		s->worktree, s->slug);
	strvec_clear(&commits);
	return EXIT_DIRTY;
}

static int refuse_dirty(const struct session *s, long n, const struct strvec *paths)
{
	out_error("down: refused: the worktree '%s' has %ld uncommitted or untracked change%s; "
		  "nothing was stopped or deleted:",
		  s->worktree, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < paths->n && i < DIRTY_SHOW; i++)
		out_line(stderr, "  %s\n", paths->v[i]);
	if ((size_t)n > DIRTY_SHOW)
		fprintf(stderr, "  ... and %ld more\n", n - DIRTY_SHOW);
	fprintf(stderr,
		"commit or stash them; or `berth down %s --keep-worktree` to stop the "
		"session and keep the worktree; or --force to delete them\n",
		s->slug);
	return EXIT_DIRTY;
}

/* Stop every process of the session. On survivors the session goes back to
 * what it was (nothing else is touched) and down fails. *unvouched: a lost
 * supervisor's escapees cannot be vouched for (no cgroup): the teardown goes
 * on, and down exits 1 at its end. */
static int stop_services(struct cmd_ctx *ctx, struct session *s, const struct op_rec *op,
			 bool *unvouched)
{
	struct svc_env svc;
	sigset_t old;
	int code, sigfd, r;

	code = cmd_svc_init(ctx, s, false, &svc);
	if (code)
		return code;
	cmd_signals_block(&old);
	sigfd = cmd_signalfd();
	/* pre_down failing does not stop the teardown: nothing may be left */
	cmd_run_hook(ctx, "down", "pre_down", s->slug,
		     path_is_dir(s->worktree) ? s->worktree : ctx->root, svc.envp, sigfd);
	r = cmd_stop_services(&svc, NULL, sigfd, "down");
	if (sigfd >= 0)
		close(sigfd);
	cmd_signals_restore(&old);
	*unvouched = svc.unvouched;
	svc_env_finish(&svc);
	if (r < 0) {
		session_finalize(ctx->state, s, op->id, op->had_prev ? op->prev : SESSION_STOPPED);
		out_error("down: session '%s' was not removed; stop those processes, then run "
			  "`berth down %s` again",
			  s->slug, s->slug);
		return EXIT_FAIL;
	}
	return 0;
}

/* The session's compose project, by its exact label. When docker does not
 * answer the session is kept (stopped), to be taken down again. */
static int remove_docker(struct cmd_ctx *ctx, struct session *s, const struct op_rec *op,
			 bool keep_volumes)
{
	struct strvec env = STRVEC_INIT;
	int code = cmd_session_environ(ctx, s, &env), r;

	if (code) {
		strvec_clear(&env);
		for (char **p = environ; *p; p++)
			strvec_push(&env, *p);
	}
	r = cmd_docker_down(ctx, s, strvec_argv(&env), keep_volumes);
	strvec_clear(&env);
	if (r < 0) {
		session_finalize(ctx->state, s, op->id, SESSION_STOPPED);
		out_error(
			"down: session '%s' was stopped but not removed; once docker answers, run "
			"`berth down %s` again",
			s->slug, s->slug);
		return EXIT_FAIL;
	}
	return 0;
}

/* post_down: after the worktree is gone, in the main root; a failure is
 * reported, the teardown is done anyway. */
static void run_post_down(struct cmd_ctx *ctx, const struct session *s)
{
	struct svc_env svc;

	if (!ctx->config.hooks.post_down || cmd_svc_init(ctx, s, false, &svc))
		return;
	cmd_run_hook(ctx, "down", "post_down", s->slug, ctx->root, svc.envp, -1);
	svc_env_finish(&svc);
}

static int cmd_down_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	bool keep_wt = cmdopt_has(ctx->args, "keep-worktree");
	bool keep_vol = cmdopt_has(ctx->args, "keep-volumes");
	bool keep_db = cmdopt_has(ctx->args, "keep-database");
	bool force = cmdopt_has(ctx->args, "force"), remove_wt;
	bool unvouched = false, branch_dropped = false, crashed;
	struct session s = {0}, cur = {0};
	const struct op_rec *op = &ctx->own;
	char *slug = NULL, *cause = NULL;
	int code, r;

	if (argc > 2)
		return cmd_usage_error(&cmd_down_entry, "unexpected argument '%s'", argv[2]);
	code = cmd_resolve_slug(ctx, argc > 1 ? argv[1] : NULL, &slug);
	if (code)
		return code;
	code = cmd_get_session(ctx, slug, &cur);
	if (code)
		goto out;
	/* What a killed command left of a worktree is berth's: finished first,
	 * so that it never passes for a person's changes. */
	if (!keep_wt)
		cmd_recover_worktree(ctx, &cur, cur.has_op ? cur.op.branch_at : NULL, "down");
	/* A worktree directory the user already deleted still has git's entry
	 * to prune: worktree_remove handles both. */
	remove_wt = !keep_wt && cur.owns_worktree;
	/* A worktree a live `up` is creating is berth's, half checked out:
	 * the check waits until that `up` has stood down (below). */
	if (remove_wt && !force && path_exists(cur.worktree) &&
	    !(cur.status == SESSION_PENDING && cur.has_op && session_op_alive(&cur.op))) {
		struct strvec paths = STRVEC_INIT;
		long n = user_changes(ctx, &cur, &paths);

		code = n < 0 ? EXIT_FAIL
		       : n   ? refuse_dirty(&cur, n, &paths)
			     : refuse_lost_commits(&cur);
		strvec_clear(&paths);
		if (code)
			goto out;
	}

	/* The token, from whoever held it: a live `up` or `restart` stands down
	 * (and is waited for) before anything is stopped or removed here. */
	/* (told before the take-over: a live owner deposed there is gone after it) */
	crashed = cur.status == SESSION_PENDING && cur.has_op && !session_op_alive(&cur.op);
	code = cmd_own_session(ctx, slug, &s);
	if (code)
		goto out;
	if (s.has_op && !strcmp(s.op.kind, "down") && crashed)
		out_step("recovering session '%s' left pending by a crashed %s%s%s", slug,
			 cur.op.kind, cur.op.step ? " in step " : "",
			 cur.op.step ? cur.op.step : "");
	else if (cur.status == SESSION_PENDING && !cur.has_op)
		out_step("recovering session '%s' left pending by a crashed command", slug);

	test_pause("down-taken");
	code = stop_services(ctx, &s, op, &unvouched);
	if (code)
		goto out;
	test_pause("down-stopped");
	/* A second `down` may have taken the session meanwhile: it removes. */
	if (cmd_own_lost(ctx)) {
		code = cmd_stand_down(ctx);
		goto out;
	}
	code = remove_docker(ctx, &s, op, keep_vol || keep_wt);
	if (code)
		goto out;
	if (remove_wt && !force && path_exists(s.worktree)) {
		/* Again, right before deleting: work may have been saved since the
		 * first check (and, with services, while they were stopping). */
		struct strvec paths = STRVEC_INIT;
		long n = user_changes(ctx, &s, &paths);

		code = n < 0 ? EXIT_FAIL
		       : n   ? refuse_dirty(&s, n, &paths)
			     : refuse_lost_commits(&s);
		strvec_clear(&paths);
		if (code) {
			session_finalize(ctx->state, &s, op->id, op->prev);
			goto out;
		}
	}
	/* The session's database (its own connections end with it); kept with a
	 * stopped session. A server that does not answer keeps the session, to
	 * be taken down again. */
	if (!keep_wt && !keep_db && cmd_db_drop(ctx, "down", slug)) {
		session_finalize(ctx->state, &s, op->id, SESSION_STOPPED);
		out_error(
			"down: session '%s' was stopped but not removed; once its database can be "
			"dropped (see above), run `berth down %s` again, or `berth down %s "
			"--keep-database` to leave the database",
			slug, slug, slug);
		code = EXIT_FAIL;
		goto out;
	}
	if (keep_db && !keep_wt && ctx->config.database.enabled)
		out_step("keeping the session's database (--keep-database)");
	if (remove_wt) {
		out_step("removing the worktree %s", s.worktree);
		/* recorded first: a kill inside leaves the record of it */
		free(ctx->own.step);
		ctx->own.step = xstrdup(OP_STEP_WORKTREE_REMOVE);
		session_op_update(ctx->state, slug, &ctx->own);
		r = worktree_remove(ctx->root, s.worktree, &cause);
		if (r < 0) {
			out_error("down: cannot remove the worktree: %s; the session is kept "
				  "(stopped), run `berth down %s` again once it is fixed",
				  cause, slug);
			free(cause);
			session_finalize(ctx->state, &s, op->id, SESSION_STOPPED);
			code = EXIT_FAIL;
			goto out;
		}
		/* A branch a crashed (or deposed) `up` created goes, as its
		 * rollback would have dropped it, while it has no commit of its own. */
		r = op->branch_at ? worktree_branch_drop(ctx->root, s.branch, op->branch_at, &cause)
				  : 0;
		if (r < 0) {
			out_warn("cannot delete the branch '%s' the interrupted `up` created: %s",
				 s.branch, cause);
			free(cause);
		} else if (r > 0) {
			out_step("deleted the branch %s the interrupted `up` created", s.branch);
			branch_dropped = true;
		}
	} else if (!keep_wt && !s.owns_worktree && path_exists(s.worktree)) {
		out_step("keeping the worktree %s: berth did not create it", s.worktree);
	}

	/* The run files go before the row: a kill in between leaves a session
	 * the next `down` finishes, never run files no session names. */
	if (!keep_wt) {
		cmd_ingest_journal(ctx, slug);
		services_clear(ctx->berth_dir, slug, true);
	}
	if (keep_wt)
		r = session_finalize(ctx->state, &s, op->id, SESSION_STOPPED);
	else
		r = session_delete_owned(ctx->state, slug, op->id);
	cmd_own_release(ctx);
	if (r == -ESTALE) {
		out_warn("session '%s' was taken over by another command during teardown; leaving "
			 "its record to it",
			 slug);
	} else if (r < 0) {
		out_error("down: cannot update the state store: %s", state_errmsg(ctx->state));
		code = EXIT_FAIL;
		goto out;
	}
	run_post_down(ctx, &s);
	session_event(ctx->state, slug, keep_wt ? "stopped" : "down", "slot %u", s.slot);
	/* the event log's retention ([watch] events_keep, events_max_age) */
	state_events_prune(ctx->state, ctx->config.watch.events_keep,
			   time_wall_ms() - (int64_t)ctx->config.watch.events_max_age_ms);
	if (cmdopt_has(ctx->args, "json"))
		out_json(json_pack("{s:s, s:s, s:i, s:s, s:b, s:o, s:b}", "slug", slug, "status",
				   keep_wt ? "stopped" : "down", "slot", (int)s.slot, "branch",
				   s.branch, "branch_deleted", branch_dropped, "worktree",
				   keep_wt || !remove_wt ? json_string(s.worktree) : json_null(),
				   "database_kept",
				   ctx->config.database.enabled && (keep_wt || keep_db)));
	else if (keep_wt)
		out_line(stdout,
			 "session '%s' is stopped; slot %u and its ports are kept, the worktree is "
			 "at %s; `berth up %s` resumes it\n",
			 slug, s.slot, s.worktree, slug);
	else
		out_line(stdout, "session '%s' is down; slot %u is free; branch '%s' is %s\n", slug,
			 s.slot, s.branch,
			 branch_dropped ? "deleted (no commit of its own)" : "kept");
	code = unvouched ? EXIT_FAIL : EXIT_OK;
out:
	session_finish(&s);
	session_finish(&cur);
	free(slug);
	return code;
}

const struct cmd_entry cmd_down_entry = {
	.name = "down",
	.args = "[<slug>]",
	.complete = COMPLETE_SESSION,
	.opts =
		(const struct cmd_opt[]){
			{"keep-worktree", 0, NULL,
			 "stop the session but keep worktree, slot, ports and database; `berth up` "
			 "resumes it",
			 COMPLETE_NONE, NULL},
			{"keep-database", 0, NULL, "keep the session's database ([database])",
			 COMPLETE_NONE, NULL},
			{"keep-volumes", 0, NULL, "keep the session's compose volumes",
			 COMPLETE_NONE, NULL},
			{"force", 'f', NULL,
			 "delete the worktree even with uncommitted or untracked work",
			 COMPLETE_NONE, NULL},
			{"json", 0, NULL, "the outcome as JSON on stdout (docs/json.md)",
			 COMPLETE_NONE, NULL},
			{0},
		},
	.summary = "stop a session, remove its worktree, free its slot and ports",
	.help = "A worktree with uncommitted or untracked changes, or commits no branch holds,\n"
		"is never deleted without --force: down refuses before it stops anything.\n"
		"Branches are kept, but for one an interrupted `up` created that has no commit\n"
		"of its own. A worktree berth did not create (adopted with `berth up` inside it)\n"
		"is kept.\n",
	.flags = CMD_CONFIG | CMD_CONFIG_OPTIONAL | CMD_STATE | CMD_GIT,
	.owner = OWNER_TAKE,
	.exec = cmd_down_exec,
};
