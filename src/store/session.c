/*
 * session.c: session lifecycle transactions and ownership tokens.
 */
#include "util/common.h"

#include <sys/random.h>
#include <unistd.h>

#include "probe/proc.h"
#include "store/session.h"
#include "store/slot.h"
#include "util/timeutil.h"

int session_op_new(struct op_rec *op, const char *kind)
{
	unsigned char rnd[8];
	uint64_t st = 0;

	memset(op, 0, sizeof(*op));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = time_mono_ns() ^ (uint64_t)getpid();

		memcpy(rnd, &t, sizeof(rnd));
	}
	op->id = xasprintf("%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3],
			   rnd[4], rnd[5], rnd[6], rnd[7]);
	op->kind = xstrdup(kind);
	op->pid = getpid();
	op->since = time_wall_s();
	/* Without our start time the token would look dead to everyone else. */
	if (proc_start_time(op->pid, &st) < 0)
		return -EIO;
	op->start_time = st;
	return 0;
}

bool session_op_alive(const struct op_rec *op)
{
	return op->pid > 0 && proc_is(op->pid, op->start_time);
}

const char *session_display_status(const struct session *s)
{
	if (s->status == SESSION_PENDING || s->has_op) {
		if (!s->has_op || !session_op_alive(&s->op))
			return "crashed-op";
		return "pending";
	}
	return session_status_name(s->status);
}

static char *busy_text(const struct session *s)
{
	char *age = time_format_age(time_wall_s() - s->op.since);
	char *t = xasprintf("session '%s' has an operation in progress (%s by pid %d, started "
			    "%s ago); wait for it to finish, or run `berth down %s` to take it "
			    "over",
			    s->slug, s->op.kind, (int)s->op.pid, age, s->slug);

	free(age);
	return t;
}

static char *slots_full_text(struct state *st, unsigned max_slots)
{
	struct strbuf sb = STRBUF_INIT;
	struct session *v = NULL;
	size_t n = 0;

	strbuf_addf(&sb, "no free slot: all %u slots are in use (", max_slots);
	if (state_sessions_list(st, &v, &n) >= 0) {
		for (size_t i = 0; i < n; i++)
			strbuf_addf(&sb, "%s%u: %s [%s]", i ? ", " : "", v[i].slot, v[i].slug,
				    session_display_status(&v[i]));
		sessions_free(v, n);
	}
	strbuf_adds(&sb, "); run `berth down <slug>` to free one, or raise max_slots");
	return strbuf_detach(&sb);
}

/* Taking a session over from another operation: what that one left to
 * recover goes with the token (a branch it created; the step it crashed in). */
static void inherit_op(struct op_rec *op, const struct session *s, bool crashed)
{
	if (!s->has_op)
		return;
	if (s->op.branch_at && !op->branch_at)
		op->branch_at = xstrdup(s->op.branch_at);
	if (crashed && s->op.step) {
		free(op->crashed_step);
		op->crashed_step = xstrdup(s->op.step);
	}
}

int session_reserve(struct state *st, const struct reserve_req *req, struct op_rec *op,
		    struct session *ret, bool *ret_new, char **cause)
{
	struct session s = {0};
	bool *used = NULL;
	int r, slot;

	r = state_begin(st);
	if (r < 0)
		return r;
	r = state_session_get(st, req->slug, &s);
	if (r == 0) {
		if (s.has_op && session_op_alive(&s.op)) {
			*cause = busy_text(&s);
			r = -EBUSY;
			goto fail;
		}
		if (req->branch_explicit && strcmp(s.branch, req->branch)) {
			*cause = xasprintf("session '%s' already exists for branch '%s' (you asked "
					   "for '%s'); run `berth down %s` first, or pick another "
					   "name",
					   s.slug, s.branch, req->branch, s.slug);
			r = -EEXIST;
			goto fail;
		}
		op->had_prev = true;
		op->recovering = s.status == SESSION_PENDING;
		inherit_op(op, &s, true);
		if (s.status != SESSION_PENDING)
			op->prev = s.status;
		else if (s.has_op && s.op.had_prev)
			op->prev = s.op.prev;
		else
			op->prev = SESSION_STOPPED; /* a crashed first `up`: keep the slot */
		s.status = SESSION_PENDING;
		r = state_session_update(st, &s);
		if (r >= 0)
			r = state_op_set(st, s.slug, op);
		if (r < 0)
			goto fail;
		*ret_new = false;
	} else if (r == -ENOENT) {
		r = state_slots_used(st, req->max_slots, &used);
		if (r < 0)
			goto fail;
		slot = slot_pick(used, req->max_slots);
		free(used);
		if (slot < 0) {
			*cause = slots_full_text(st, req->max_slots);
			r = -ENOSPC;
			goto fail;
		}
		s.slug = xstrdup(req->slug);
		s.slot = (unsigned)slot;
		s.branch = xstrdup(req->branch);
		s.worktree = xstrdup(req->worktree);
		s.mode = xstrdup(req->mode);
		s.status = SESSION_PENDING;
		s.owns_worktree = req->owns_worktree;
		op->had_prev = false;
		r = state_session_insert(st, &s);
		if (r >= 0)
			r = state_op_set(st, s.slug, op);
		if (r < 0)
			goto fail;
		*ret_new = true;
	} else {
		goto fail;
	}
	r = state_commit(st);
	if (r < 0)
		goto fail;
	session_finish(&s);
	return state_session_get(st, req->slug, ret);
fail:
	state_rollback(st);
	session_finish(&s);
	return r;
}

int session_take(struct state *st, const char *slug, enum session_take_how how, struct op_rec *op,
		 struct session *ret, struct op_rec *ret_live, char **cause)
{
	struct session s = {0};
	bool live = false;
	int r;

	r = state_begin(st);
	if (r < 0)
		return r;
	r = state_session_get(st, slug, &s);
	if (r < 0) {
		if (r == -ENOENT)
			*cause = xasprintf("no session '%s'; `berth ls` lists them", slug);
		goto fail;
	}
	live = s.has_op && session_op_alive(&s.op);
	if (how == SESSION_TAKE_IDLE && (live || s.status != SESSION_ACTIVE)) {
		*cause = live ? busy_text(&s)
			      : xasprintf("session '%s' is %s; `berth up %s` starts it", slug,
					  session_display_status(&s), slug);
		r = live ? -EBUSY : -ESTALE;
		goto fail;
	}
	op->had_prev = true;
	op->recovering = s.status == SESSION_PENDING && !live;
	inherit_op(op, &s, !live);
	if (s.status != SESSION_PENDING)
		op->prev = s.status;
	else
		op->prev = s.has_op && s.op.had_prev ? s.op.prev : SESSION_STOPPED;
	s.status = SESSION_PENDING;
	r = state_session_update(st, &s);
	if (r >= 0)
		r = state_op_set(st, slug, op);
	if (r >= 0)
		r = state_commit(st);
	if (r < 0)
		goto fail;
	if (ret_live) {
		memset(ret_live, 0, sizeof(*ret_live));
		if (live && s.status == SESSION_PENDING) {
			ret_live->kind = xstrdup(s.op.kind);
			ret_live->id = xstrdup(s.op.id);
			ret_live->pid = s.op.pid;
			ret_live->start_time = s.op.start_time;
		}
	}
	session_finish(&s);
	return state_session_get(st, slug, ret);
fail:
	state_rollback(st);
	session_finish(&s);
	return r;
}

/* Does op_id own slug? (a read: in a transaction, or on its own) */
static int owned(struct state *st, const char *slug, const char *op_id)
{
	struct session s;
	int r;

	r = state_session_get(st, slug, &s);
	if (r == -ENOENT)
		return -ESTALE;
	if (r < 0)
		return r;
	r = s.has_op && !strcmp(s.op.id, op_id) ? 0 : -ESTALE;
	session_finish(&s);
	return r;
}

bool session_owns(struct state *st, const char *slug, const char *op_id)
{
	return owned(st, slug, op_id) == 0;
}

int session_op_update(struct state *st, const char *slug, const struct op_rec *op)
{
	int r;

	r = state_begin(st);
	if (r < 0)
		return r;
	r = owned(st, slug, op->id);
	if (r >= 0)
		r = state_op_set(st, slug, op);
	if (r >= 0)
		r = state_commit(st);
	if (r < 0)
		state_rollback(st);
	return r;
}

int session_record_ports(struct state *st, const char *slug, const char *op_id,
			 const struct port_rec *ports, size_t n)
{
	int r;

	r = state_begin(st);
	if (r < 0)
		return r;
	r = owned(st, slug, op_id);
	if (r >= 0)
		r = state_ports_set(st, slug, ports, n);
	if (r >= 0)
		r = state_commit(st);
	if (r < 0)
		state_rollback(st);
	return r;
}

int session_finalize(struct state *st, const struct session *s, const char *op_id,
		     enum session_status status)
{
	struct session upd = *s;
	int r;

	upd.status = status;
	r = state_begin(st);
	if (r < 0)
		return r;
	r = owned(st, s->slug, op_id);
	if (r >= 0)
		r = state_session_update(st, &upd);
	if (r >= 0)
		r = state_op_clear(st, s->slug);
	if (r >= 0)
		r = state_commit(st);
	if (r < 0)
		state_rollback(st);
	return r;
}

int session_delete_owned(struct state *st, const char *slug, const char *op_id)
{
	int r;

	r = state_begin(st);
	if (r < 0)
		return r;
	r = owned(st, slug, op_id);
	if (r >= 0)
		r = state_session_delete(st, slug);
	if (r >= 0)
		r = state_commit(st);
	if (r < 0)
		state_rollback(st);
	return r;
}

int session_release(struct state *st, const char *slug, const char *op_id, bool was_new,
		    enum session_status prev)
{
	struct session s;
	int r;

	if (was_new)
		return session_delete_owned(st, slug, op_id);
	r = state_session_get(st, slug, &s);
	if (r < 0)
		return r;
	r = session_finalize(st, &s, op_id, prev);
	session_finish(&s);
	return r;
}

void session_event(struct state *st, const char *slug, const char *kind, const char *fmt, ...)
{
	va_list ap;
	char *detail;

	va_start(ap, fmt);
	detail = xvasprintf(fmt, ap);
	va_end(ap);
	state_event_add(st, slug, NULL, kind, detail);
	free(detail);
}
