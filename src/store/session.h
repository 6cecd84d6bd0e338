/*
 * session.h: the session lifecycle in the state store: ownership tokens
 * (op records), reserving a slot as `pending`, taking a session over for an
 * operation, finalizing only when still owned, releasing on failure. Each
 * function is one short transaction.
 */
#ifndef BERTH_SESSION_H
#define BERTH_SESSION_H

#include <stdbool.h>

#include "store/state.h"

/* A fresh op record for this process: random id, our pid and start time.
 * -EIO when our own start time cannot be read (/proc not mounted). */
int session_op_new(struct op_rec *op, const char *kind);
/* True when the op's owner process still runs (pid and start time match). */
bool session_op_alive(const struct op_rec *op);
/* "active", "stopped", "pending" (an owner that runs) or "crashed-op". */
const char *session_display_status(const struct session *s);

struct reserve_req {
	const char *slug;
	const char *branch;
	bool branch_explicit; /* the user named the branch: a different stored one is a conflict */
	const char *worktree;
	const char *mode;
	bool owns_worktree;
	unsigned max_slots;
};

/* Reserve a session for `up`. A new session gets the lowest free slot and is
 * inserted as pending with op; an existing one (active, stopped, or pending
 * with a dead owner) is taken over as pending with op. *ret is the session as
 * it is now in the store, *ret_new tells which case applied. Errors: -EBUSY
 * (a live operation owns it), -ENOSPC (no free slot, *cause names the
 * holders), -EEXIST (the slug belongs to another branch). */
int session_reserve(struct state *st, const struct reserve_req *req, struct op_rec *op,
		    struct session *ret, bool *ret_new, char **cause);

enum session_take_how {
	SESSION_TAKE_ANY,  /* down: even from a live owner (it is told to stand down) */
	SESSION_TAKE_IDLE, /* restart: an active session that no live command owns */
};

/* Take an existing session over for an operation (pending, with op).
 * SESSION_TAKE_ANY takes it even from a live owner: *ret_live (may be NULL)
 * then names that owner (kind, id, pid, start time; else it is zeroed), so
 * that the caller can tell it to stand down and wait for it. op->recovering
 * is set when the previous owner had crashed (op->crashed_step: the step it
 * was in); a branch the previous owner created (branch_at) passes to op. -ENOENT when absent; with
 * SESSION_TAKE_IDLE, -EBUSY (a live owner) or -ESTALE (not active), with
 * *cause. */
int session_take(struct state *st, const char *slug, enum session_take_how how, struct op_rec *op,
		 struct session *ret, struct op_rec *ret_live, char **cause);
/* Does op_id own the session now? (false when another command took it over,
 * or it is gone) */
bool session_owns(struct state *st, const char *slug, const char *op_id);

/* Store op's step and branch_at, if op still owns the session (-ESTALE
 * otherwise): written before a step starts, so that a crash inside it leaves
 * the record of what was half done. */
int session_op_update(struct state *st, const char *slug, const struct op_rec *op);

/* Record the session's ports, if op still owns it. -ESTALE when another
 * command took it over; -EADDRINUSE when another session holds a port. */
int session_record_ports(struct state *st, const char *slug, const char *op_id,
			 const struct port_rec *ports, size_t n);

/* Set status (and worktree fields from s) and drop the op, if op_id still owns
 * the session. -ESTALE when it does not. */
int session_finalize(struct state *st, const struct session *s, const char *op_id,
		     enum session_status status);
/* Delete the session, if op_id still owns it (-ESTALE otherwise). */
int session_delete_owned(struct state *st, const char *slug, const char *op_id);
/* Give the session back in status `prev` (or delete it when it was new), if
 * op_id still owns it. */
int session_release(struct state *st, const char *slug, const char *op_id, bool was_new,
		    enum session_status prev);

/* Record an event, ignoring failure (events never fail an operation). */
void session_event(struct state *st, const char *slug, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
