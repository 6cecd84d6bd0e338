/*
 * own.c: session ownership, the precondition of every command that changes
 * a session. The command table declares how each command takes a session
 * (cmd_entry.owner); the token (an op record with our pid and start time) is
 * taken here, in one place, and checked here. A command that took a session
 * from a live owner tells that owner to stand down (SIGTERM, identity
 * checked) and waits until it is gone before it touches anything, so that
 * exactly one command removes what a session has; the owner that lost the
 * session notices at its next check (an interruption, or -ESTALE from the
 * store), stops what it started itself, removes nothing, and exits 5.
 */
#include "util/common.h"

#include <signal.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/output.h"
#include "proc/pidref.h"
#include "store/session.h"

#define STAND_DOWN_EXTRA_MS 10000 /* beyond the longest stop, before the owner is killed */
#define STOP_LEVEL_EXTRA_MS 4000  /* a shim's 2 s past its grace, then 2 s after its KILL */

/* Tell the live owner to stand down and wait for it; KILL it past the bound. */
static void depose(struct cmd_ctx *ctx, const char *slug, const struct op_rec *live)
{
	struct proc_ref id = {live->pid, live->start_time};
	unsigned levels = 1;
	uint64_t graces = config_stop_time_ms(&ctx->config, &levels);
	/* each level, and the safety net, may take its grace plus the time a
	 * shim or a set is given to go after its KILL */
	uint64_t bound = graces + (levels + 1) * STOP_LEVEL_EXTRA_MS + STAND_DOWN_EXTRA_MS;

	out_warn("session '%s' was being changed by `%s` (pid %d); it is told to stand down", slug,
		 live->kind, (int)live->pid);
	if (pidref_signal_once(&id, SIGTERM, false) < 0)
		return;
	if (pidref_wait_gone(&id, bound))
		return;
	out_warn("`%s` (pid %d) did not stand down within %.0f s; killing it", live->kind,
		 (int)live->pid, (double)bound / 1000.0);
	pidref_signal_once(&id, SIGKILL, false);
	pidref_wait_gone(&id, 2000);
}

int cmd_own_session(struct cmd_ctx *ctx, const char *slug, struct session *ret)
{
	enum cmd_owner how = ctx->entry ? ctx->entry->owner : OWNER_NONE;
	struct op_rec live = {0};
	char *cause = NULL;
	int r;

	if (how != OWNER_TAKE && how != OWNER_IDLE)
		return 0;
	if (session_op_new(&ctx->own, ctx->entry->name) < 0) {
		out_error("%s: cannot read this process's start time from /proc; berth needs /proc "
			  "mounted",
			  ctx->entry->name);
		return EXIT_FAIL;
	}
	r = session_take(ctx->state, slug, how == OWNER_TAKE ? SESSION_TAKE_ANY : SESSION_TAKE_IDLE,
			 &ctx->own, ret, &live, &cause);
	if (r < 0) {
		out_error("%s: %s", ctx->entry->name, cause ? cause : state_errmsg(ctx->state));
		free(cause);
		op_rec_finish(&ctx->own);
		return cmd_exit_for(r);
	}
	ctx->own_slug = xstrdup(slug);
	if (live.pid)
		depose(ctx, slug, &live);
	op_rec_finish(&live);
	return 0;
}

void cmd_own_adopt(struct cmd_ctx *ctx, const char *slug, const struct op_rec *op)
{
	ctx->own_slug = xstrdup(slug);
	op_rec_copy(&ctx->own, op);
}

bool cmd_own_lost(struct cmd_ctx *ctx)
{
	return ctx->own_slug && !session_owns(ctx->state, ctx->own_slug, ctx->own.id);
}

int cmd_stand_down(struct cmd_ctx *ctx)
{
	struct session s = {0};

	/* The command that took the session over tells us to stand down with
	 * a SIGTERM, which may come after we noticed on our own (the store
	 * said so) and after our signals are unblocked again: it must not
	 * turn this clean exit (5) into a death by signal (143). */
	signal(SIGTERM, SIG_IGN);

	if (ctx->own_slug && state_session_get(ctx->state, ctx->own_slug, &s) == 0 && s.has_op)
		out_error("%s: session '%s' was taken over by `%s` (pid %d); this run stood down "
			  "and removed nothing",
			  ctx->entry->name, ctx->own_slug, s.op.kind, (int)s.op.pid);
	else
		out_error("%s: session '%s' was taken over by another command; this run stood "
			  "down and removed nothing",
			  ctx->entry->name, ctx->own_slug ? ctx->own_slug : "?");
	session_finish(&s);
	cmd_own_release(ctx);
	return EXIT_BUSY;
}

void cmd_own_release(struct cmd_ctx *ctx)
{
	free(ctx->own_slug);
	ctx->own_slug = NULL;
	op_rec_finish(&ctx->own);
}

void cmd_own_finish(struct cmd_ctx *ctx)
{
	/* A command that returned still owning its session (an error path
	 * that did not settle it) gives it back as it was. */
	if (ctx->own_slug && ctx->state && session_owns(ctx->state, ctx->own_slug, ctx->own.id))
		session_release(ctx->state, ctx->own_slug, ctx->own.id, false,
				ctx->own.had_prev ? ctx->own.prev : SESSION_STOPPED);
	cmd_own_release(ctx);
}
