/*
 * test_session.c: the session lifecycle in a real store: op records as
 * ownership tokens (this process is a live owner, a reaped child a dead one),
 * the status shown to users, session_reserve (new, resumed, busy, crashed
 * owner, branch conflict, no free slot), session_take, and the owned-only
 * transactions: record_ports, finalize, delete_owned, release.
 */
#include "util/common.h"

#include <fcntl.h>
#include <unistd.h>

#include "probe/proc.h"
#include "store/session.h"
#include "store/state.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "tap.h"

/* ---- helpers ---------------------------------------------------------- */

struct fixture {
	char *dir;
	char *db;
	struct state *st;
};

static void fx_init(struct fixture *f)
{
	const char *base = getenv("TMPDIR");
	char *cause = NULL;

	f->dir = xasprintf("%s/berth-session-XXXXXX", base && *base ? base : "/tmp");
	ASSERT_TRUE(mkdtemp(f->dir) != NULL);
	f->db = path_join(f->dir, "state.db");
	if (state_open(f->db, &f->st, &cause) < 0)
		tap_fail(__FILE__, __LINE__, cause);
}

static void fx_finish(struct fixture *f)
{
	state_close(f->st);
	ASSERT_OK(rm_rf(f->dir));
	free(f->dir);
	free(f->db);
}

static struct reserve_req req_for(const char *slug, unsigned max_slots)
{
	return (struct reserve_req){
		.slug = slug,
		.branch = "feat/x",
		.worktree = "/repo/.berth/worktrees/x",
		.mode = "host",
		.owns_worktree = true,
		.max_slots = max_slots,
	};
}

/* Reserve slug (which must succeed) with a fresh op of ours; returns is_new. */
static bool reserve_ok(struct fixture *f, const struct reserve_req *req, struct op_rec *op,
		       struct session *ret)
{
	char *cause = NULL;
	bool is_new = false;
	int r;

	ASSERT_OK(session_op_new(op, "up"));
	r = session_reserve(f->st, req, op, ret, &is_new, &cause);
	if (r < 0) {
		char *m = xasprintf("session_reserve(%s): %d %s", req->slug, r,
				    cause ? cause : "(no cause)");

		tap_fail(__FILE__, __LINE__, m);
	}
	ASSERT_TRUE(cause == NULL);
	return is_new;
}

/* An op record whose owner existed and has been reaped: provably dead. */
static void dead_op(struct op_rec *op, const char *kind)
{
	int hold[2], status;
	uint64_t start = 0;
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(hold[1]);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(hold[0]);
	ASSERT_OK(proc_start_time(pid, &start));
	close(hold[1]);
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);

	ASSERT_OK(session_op_new(op, kind));
	op->pid = pid;
	op->start_time = start;
	op->since = time_wall_s() - 3600;
}

static void get_ok(struct fixture *f, const char *slug, struct session *s)
{
	ASSERT_OK(state_session_get(f->st, slug, s));
}

/* Put an existing session in status with no op (as a finished command leaves it). */
static void settle(struct fixture *f, const char *slug, enum session_status status)
{
	struct session s;

	get_ok(f, slug, &s);
	s.status = status;
	ASSERT_OK(state_session_update(f->st, &s));
	ASSERT_OK(state_op_clear(f->st, slug));
	session_finish(&s);
}

/* ---- ops ---------------------------------------------------------------- */

static void test_op_new_is_us(void)
{
	struct op_rec a, b;
	uint64_t start;
	int64_t now = time_wall_s();

	ASSERT_OK(session_op_new(&a, "up"));
	ASSERT_OK(session_op_new(&b, "down"));
	ASSERT_OK(proc_start_time(getpid(), &start));
	ASSERT_EQ_INT(a.pid, getpid());
	ASSERT_TRUE(a.start_time == start);
	ASSERT_STREQ(a.kind, "up");
	ASSERT_STREQ(b.kind, "down");
	ASSERT_TRUE(a.since >= now - 1 && a.since <= now + 60);
	ASSERT_FALSE(a.had_prev);
	ASSERT_EQ_INT(strlen(a.id), 16);
	for (size_t i = 0; i < 16; i++)
		ASSERT_TRUE(strchr("0123456789abcdef", a.id[i]) != NULL);
	ASSERT_TRUE(strcmp(a.id, b.id) != 0); /* every op its own token */
	ASSERT_TRUE(session_op_alive(&a));
	op_rec_finish(&a);
	op_rec_finish(&b);
	ASSERT_TRUE(a.id == NULL && a.kind == NULL);
}

static void test_op_alive(void)
{
	struct op_rec op;

	dead_op(&op, "up");
	ASSERT_FALSE(session_op_alive(&op)); /* reaped */
	/* our pid with our start time is alive; with another, a recycled pid */
	op.pid = getpid();
	ASSERT_OK(proc_start_time(getpid(), &op.start_time));
	ASSERT_TRUE(session_op_alive(&op));
	op.start_time++;
	ASSERT_FALSE(session_op_alive(&op));
	op.pid = 0;
	ASSERT_FALSE(session_op_alive(&op));
	op.pid = -1;
	ASSERT_FALSE(session_op_alive(&op));
	op_rec_finish(&op);
}

static void test_display_status(void)
{
	struct session s = {.status = SESSION_ACTIVE};

	ASSERT_STREQ(session_display_status(&s), "active");
	s.status = SESSION_STOPPED;
	ASSERT_STREQ(session_display_status(&s), "stopped");

	/* pending with a live owner */
	s.status = SESSION_PENDING;
	s.has_op = true;
	ASSERT_OK(session_op_new(&s.op, "up"));
	ASSERT_STREQ(session_display_status(&s), "pending");
	op_rec_finish(&s.op);

	/* pending with a dead owner, or with none */
	dead_op(&s.op, "up");
	ASSERT_STREQ(session_display_status(&s), "crashed-op");
	s.has_op = false;
	ASSERT_STREQ(session_display_status(&s), "crashed-op");

	/* an op left on an active session by a dead owner */
	s.status = SESSION_ACTIVE;
	s.has_op = true;
	ASSERT_STREQ(session_display_status(&s), "crashed-op");
	op_rec_finish(&s.op);
}

/* ---- reserve ------------------------------------------------------------ */

static void test_reserve_new_sessions(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8), b = req_for("beta", 8);
	struct op_rec op1, op2;
	struct session s;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op1, &s));
	ASSERT_STREQ(s.slug, "alpha");
	ASSERT_EQ_INT(s.slot, 1);
	ASSERT_STREQ(s.branch, "feat/x");
	ASSERT_STREQ(s.worktree, "/repo/.berth/worktrees/x");
	ASSERT_STREQ(s.mode, "host");
	ASSERT_TRUE(s.owns_worktree);
	ASSERT_EQ_INT(s.status, SESSION_PENDING);
	ASSERT_TRUE(s.has_op);
	ASSERT_STREQ(s.op.id, op1.id);
	ASSERT_STREQ(s.op.kind, "up");
	ASSERT_EQ_INT(s.op.pid, getpid());
	ASSERT_FALSE(s.op.had_prev);
	ASSERT_FALSE(op1.had_prev);
	ASSERT_STREQ(session_display_status(&s), "pending");
	session_finish(&s);

	ASSERT_TRUE(reserve_ok(&f, &b, &op2, &s));
	ASSERT_EQ_INT(s.slot, 2);
	session_finish(&s);

	/* a freed slot is reused: the lowest free one */
	ASSERT_OK(session_delete_owned(f.st, "alpha", op1.id));
	op_rec_finish(&op1);
	a.slug = "gamma";
	ASSERT_TRUE(reserve_ok(&f, &a, &op1, &s));
	ASSERT_EQ_INT(s.slot, 1);
	session_finish(&s);

	op_rec_finish(&op1);
	op_rec_finish(&op2);
	fx_finish(&f);
}

static void test_reserve_resumes_active_and_stopped(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op1, op2;
	struct session s;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op1, &s));
	ASSERT_OK(session_finalize(f.st, &s, op1.id, SESSION_ACTIVE));
	session_finish(&s);

	/* `up` again on an active session: taken over, not new */
	ASSERT_FALSE(reserve_ok(&f, &a, &op2, &s));
	ASSERT_TRUE(op2.had_prev);
	ASSERT_EQ_INT(op2.prev, SESSION_ACTIVE);
	ASSERT_EQ_INT(s.slot, 1);
	ASSERT_EQ_INT(s.status, SESSION_PENDING);
	ASSERT_STREQ(s.op.id, op2.id);
	ASSERT_TRUE(s.op.had_prev);
	ASSERT_EQ_INT(s.op.prev, SESSION_ACTIVE);
	session_finish(&s);
	op_rec_finish(&op2);

	/* stopped (down --keep-worktree) resumes the same way */
	settle(&f, "alpha", SESSION_STOPPED);
	ASSERT_FALSE(reserve_ok(&f, &a, &op2, &s));
	ASSERT_EQ_INT(op2.prev, SESSION_STOPPED);
	ASSERT_EQ_INT(s.op.prev, SESSION_STOPPED);
	ASSERT_EQ_INT(s.slot, 1);
	session_finish(&s);

	op_rec_finish(&op1);
	op_rec_finish(&op2);
	fx_finish(&f);
}

static void test_reserve_busy_while_owner_lives(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op1, op2;
	struct session s, after, untouched = {.slot = 99};
	char *cause = NULL, *want;
	bool is_new = true;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op1, &s));
	session_finish(&s);

	/* op1 belongs to this live process: a second `up` must wait its turn */
	ASSERT_OK(session_op_new(&op2, "up"));
	ASSERT_EQ_INT(session_reserve(f.st, &a, &op2, &untouched, &is_new, &cause), -EBUSY);
	ASSERT_EQ_INT(untouched.slot, 99);
	ASSERT_CONTAINS(cause, "session 'alpha' has an operation in progress");
	want = xasprintf("up by pid %d", (int)getpid());
	ASSERT_CONTAINS(cause, want);
	free(want);
	ASSERT_CONTAINS(cause, "berth down alpha");
	free(cause);

	/* nothing changed */
	get_ok(&f, "alpha", &after);
	ASSERT_STREQ(after.op.id, op1.id);
	ASSERT_EQ_INT(after.status, SESSION_PENDING);
	session_finish(&after);

	/* the transaction was closed: the store takes writes */
	ASSERT_OK(state_begin(f.st));
	ASSERT_OK(state_commit(f.st));

	op_rec_finish(&op1);
	op_rec_finish(&op2);
	fx_finish(&f);
}

static void test_reserve_takes_over_dead_owner(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec dead, op;
	struct session s;

	fx_init(&f);
	/* a first `up` SIGKILLed: pending, its owner gone, no previous status */
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	session_finish(&s);
	op_rec_finish(&op);
	dead_op(&dead, "up");
	ASSERT_OK(state_op_set(f.st, "alpha", &dead));
	get_ok(&f, "alpha", &s);
	ASSERT_STREQ(session_display_status(&s), "crashed-op");
	session_finish(&s);

	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	ASSERT_EQ_INT(s.slot, 1);
	ASSERT_STREQ(s.op.id, op.id);
	ASSERT_STREQ(session_display_status(&s), "pending");
	/* nothing to go back to but a stopped session that keeps its slot */
	ASSERT_TRUE(op.had_prev);
	ASSERT_EQ_INT(op.prev, SESSION_STOPPED);
	session_finish(&s);
	op_rec_finish(&op);

	/* a crashed `up` that had resumed an active session: its prev carries over */
	dead.had_prev = true;
	dead.prev = SESSION_ACTIVE;
	ASSERT_OK(state_op_set(f.st, "alpha", &dead));
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	ASSERT_EQ_INT(op.prev, SESSION_ACTIVE);
	session_finish(&s);
	op_rec_finish(&op);

	/* pending with no op at all */
	ASSERT_OK(state_op_clear(f.st, "alpha"));
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	ASSERT_EQ_INT(op.prev, SESSION_STOPPED);
	session_finish(&s);

	op_rec_finish(&op);
	op_rec_finish(&dead);
	fx_finish(&f);
}

static void test_reserve_branch_conflict(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op;
	struct session s;
	char *cause = NULL;
	bool is_new = true;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	ASSERT_OK(session_finalize(f.st, &s, op.id, SESSION_ACTIVE));
	session_finish(&s);
	op_rec_finish(&op);

	a.branch = "feat/other";
	a.branch_explicit = true;
	ASSERT_OK(session_op_new(&op, "up"));
	ASSERT_EQ_INT(session_reserve(f.st, &a, &op, &s, &is_new, &cause), -EEXIST);
	ASSERT_CONTAINS(cause, "session 'alpha' already exists for branch 'feat/x'");
	ASSERT_CONTAINS(cause, "'feat/other'");
	free(cause);
	op_rec_finish(&op);
	get_ok(&f, "alpha", &s);
	ASSERT_EQ_INT(s.status, SESSION_ACTIVE);
	ASSERT_FALSE(s.has_op);
	ASSERT_STREQ(s.branch, "feat/x");
	session_finish(&s);

	/* the same branch named explicitly is fine; an implied one too */
	a.branch = "feat/x";
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	session_finish(&s);
	op_rec_finish(&op);
	settle(&f, "alpha", SESSION_ACTIVE);
	a.branch = "feat/other";
	a.branch_explicit = false;
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	ASSERT_STREQ(s.branch, "feat/x"); /* the stored branch stays */
	session_finish(&s);
	op_rec_finish(&op);
	fx_finish(&f);
}

static void test_reserve_full(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 2), b = req_for("beta", 2), c = req_for("gamma", 2);
	struct op_rec op1, op2, op3;
	struct session s;
	char *cause = NULL;
	bool is_new = false;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op1, &s));
	ASSERT_OK(session_finalize(f.st, &s, op1.id, SESSION_ACTIVE));
	session_finish(&s);
	ASSERT_TRUE(reserve_ok(&f, &b, &op2, &s));
	session_finish(&s);

	ASSERT_OK(session_op_new(&op3, "up"));
	ASSERT_EQ_INT(session_reserve(f.st, &c, &op3, &s, &is_new, &cause), -ENOSPC);
	ASSERT_CONTAINS(cause, "no free slot: all 2 slots are in use");
	ASSERT_CONTAINS(cause, "1: alpha [active]");
	ASSERT_CONTAINS(cause, "2: beta [pending]");
	ASSERT_CONTAINS(cause, "berth down <slug>");
	ASSERT_CONTAINS(cause, "max_slots");
	free(cause);
	ASSERT_EQ_INT(state_session_get(f.st, "gamma", &s), -ENOENT);

	/* raising max_slots makes room */
	op_rec_finish(&op3);
	c.max_slots = 3;
	ASSERT_TRUE(reserve_ok(&f, &c, &op3, &s));
	ASSERT_EQ_INT(s.slot, 3);
	session_finish(&s);

	op_rec_finish(&op1);
	op_rec_finish(&op2);
	op_rec_finish(&op3);
	fx_finish(&f);
}

/* ---- take ----------------------------------------------------------------- */

/* session_take(SESSION_TAKE_ANY) with "was the owner live" as a bool. */
static int take_any(struct state *st, const char *slug, struct op_rec *op, struct session *ret,
		    bool *was_live, char **cause)
{
	struct op_rec live;
	int r = session_take(st, slug, SESSION_TAKE_ANY, op, ret, &live, cause);

	if (r == 0) {
		*was_live = live.pid != 0;
		op_rec_finish(&live);
	}
	return r;
}

/* restart takes an active, idle session only; the owner knows when it lost it */
static void test_take_idle_and_owns(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec up, rs, rs2, down;
	struct session s;
	char *cause = NULL;
	bool was_live = false;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &up, &s));
	session_finish(&s);
	/* a live up owns it: busy */
	ASSERT_OK(session_op_new(&rs, "restart"));
	ASSERT_EQ_INT(session_take(f.st, "alpha", SESSION_TAKE_IDLE, &rs, &s, NULL, &cause),
		      -EBUSY);
	ASSERT_TRUE(cause != NULL);
	free(cause);
	cause = NULL;
	ASSERT_TRUE(session_owns(f.st, "alpha", up.id));
	settle(&f, "alpha", SESSION_ACTIVE);
	ASSERT_OK(session_take(f.st, "alpha", SESSION_TAKE_IDLE, &rs, &s, NULL, &cause));
	ASSERT_EQ_INT(s.status, SESSION_PENDING);
	ASSERT_EQ_INT(rs.prev, SESSION_ACTIVE);
	ASSERT_TRUE(session_owns(f.st, "alpha", rs.id));
	ASSERT_FALSE(session_owns(f.st, "alpha", up.id));
	session_finish(&s);
	/* a second restart while the first runs: busy */
	ASSERT_OK(session_op_new(&rs2, "restart"));
	ASSERT_EQ_INT(session_take(f.st, "alpha", SESSION_TAKE_IDLE, &rs2, &s, NULL, &cause),
		      -EBUSY);
	free(cause);
	cause = NULL;
	/* down takes it from the live restart, which then no longer owns it */
	ASSERT_OK(session_op_new(&down, "down"));
	ASSERT_OK(take_any(f.st, "alpha", &down, &s, &was_live, &cause));
	ASSERT_TRUE(was_live);
	ASSERT_FALSE(session_owns(f.st, "alpha", rs.id));
	ASSERT_TRUE(session_owns(f.st, "alpha", down.id));
	session_finish(&s);
	/* a stopped session is not restarted */
	settle(&f, "alpha", SESSION_STOPPED);
	ASSERT_EQ_INT(session_take(f.st, "alpha", SESSION_TAKE_IDLE, &rs2, &s, NULL, &cause),
		      -ESTALE);
	ASSERT_CONTAINS(cause, "stopped");
	free(cause);
	op_rec_finish(&up);
	op_rec_finish(&rs);
	op_rec_finish(&rs2);
	op_rec_finish(&down);
	fx_finish(&f);
}

static void test_take(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec up, down, dead;
	struct session s;
	char *cause = NULL;
	bool was_live = false;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &up, &s));
	session_finish(&s);

	/* `down` takes a session from a live `up` (which then finds -ESTALE) */
	ASSERT_OK(session_op_new(&down, "down"));
	ASSERT_OK(take_any(f.st, "alpha", &down, &s, &was_live, &cause));
	ASSERT_TRUE(cause == NULL);
	ASSERT_TRUE(was_live);
	ASSERT_STREQ(s.op.id, down.id);
	ASSERT_STREQ(s.op.kind, "down");
	ASSERT_EQ_INT(s.status, SESSION_PENDING);
	ASSERT_TRUE(down.had_prev);
	ASSERT_EQ_INT(down.prev, SESSION_STOPPED);
	session_finish(&s);
	op_rec_finish(&down);

	/* from a dead owner: not live */
	dead_op(&dead, "up");
	ASSERT_OK(state_op_set(f.st, "alpha", &dead));
	ASSERT_OK(session_op_new(&down, "down"));
	was_live = true;
	ASSERT_OK(take_any(f.st, "alpha", &down, &s, &was_live, &cause));
	ASSERT_FALSE(was_live);
	session_finish(&s);
	op_rec_finish(&down);

	/* an active session: prev = active, not live */
	settle(&f, "alpha", SESSION_ACTIVE);
	ASSERT_OK(session_op_new(&down, "down"));
	was_live = true;
	ASSERT_OK(take_any(f.st, "alpha", &down, &s, &was_live, &cause));
	ASSERT_FALSE(was_live);
	ASSERT_EQ_INT(down.prev, SESSION_ACTIVE);
	ASSERT_EQ_INT(s.op.prev, SESSION_ACTIVE);
	session_finish(&s);
	op_rec_finish(&down);

	/* absent */
	ASSERT_OK(session_op_new(&down, "down"));
	ASSERT_EQ_INT(take_any(f.st, "nobody", &down, &s, &was_live, &cause), -ENOENT);
	ASSERT_CONTAINS(cause, "no session 'nobody'");
	free(cause);
	ASSERT_OK(state_begin(f.st)); /* no transaction left open */
	state_rollback(f.st);

	op_rec_finish(&up);
	op_rec_finish(&down);
	op_rec_finish(&dead);
	fx_finish(&f);
}

/* ---- owned-only transactions --------------------------------------------- */

static void test_finalize_stale_op(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec up, down;
	struct session s, upd;
	char *cause = NULL;
	bool was_live;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &up, &s));
	ASSERT_OK(session_op_new(&down, "down"));
	ASSERT_OK(take_any(f.st, "alpha", &down, &upd, &was_live, &cause));
	session_finish(&upd);

	/* the `up` that lost its session cannot finalize, record or delete it */
	ASSERT_EQ_INT(session_finalize(f.st, &s, up.id, SESSION_ACTIVE), -ESTALE);
	{
		struct port_rec p = {.name = (char *)"web", .port = 3001};

		ASSERT_EQ_INT(session_record_ports(f.st, "alpha", up.id, &p, 1), -ESTALE);
	}
	ASSERT_EQ_INT(session_delete_owned(f.st, "alpha", up.id), -ESTALE);
	ASSERT_EQ_INT(session_release(f.st, "alpha", up.id, false, SESSION_ACTIVE), -ESTALE);
	ASSERT_EQ_INT(session_release(f.st, "alpha", up.id, true, SESSION_ACTIVE), -ESTALE);

	get_ok(&f, "alpha", &upd);
	ASSERT_EQ_INT(upd.status, SESSION_PENDING);
	ASSERT_STREQ(upd.op.id, down.id);
	ASSERT_EQ_INT(upd.n_ports, 0);
	session_finish(&upd);

	/* gone entirely: stale too */
	ASSERT_OK(session_delete_owned(f.st, "alpha", down.id));
	ASSERT_EQ_INT(session_finalize(f.st, &s, down.id, SESSION_ACTIVE), -ESTALE);
	ASSERT_EQ_INT(session_delete_owned(f.st, "alpha", down.id), -ESTALE);

	session_finish(&s);
	op_rec_finish(&up);
	op_rec_finish(&down);
	fx_finish(&f);
}

static void test_finalize_owned(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op;
	struct session s, got;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	/* the worktree fields come from the caller's copy */
	free(s.worktree);
	s.worktree = xstrdup("/elsewhere/alpha");
	s.owns_worktree = false;
	ASSERT_OK(session_finalize(f.st, &s, op.id, SESSION_ACTIVE));
	get_ok(&f, "alpha", &got);
	ASSERT_EQ_INT(got.status, SESSION_ACTIVE);
	ASSERT_FALSE(got.has_op);
	ASSERT_STREQ(got.worktree, "/elsewhere/alpha");
	ASSERT_FALSE(got.owns_worktree);
	ASSERT_STREQ(session_display_status(&got), "active");
	session_finish(&got);
	/* done: the op id no longer owns anything */
	ASSERT_EQ_INT(session_finalize(f.st, &s, op.id, SESSION_STOPPED), -ESTALE);
	session_finish(&s);
	op_rec_finish(&op);
	fx_finish(&f);
}

static void test_record_ports(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8), b = req_for("beta", 8);
	struct op_rec opa, opb;
	struct session s;
	struct port_rec pa[] = {{.name = (char *)"web", .port = 3001},
				{.name = (char *)"web.hmr", .port = 24679}};
	struct port_rec pb[] = {{.name = (char *)"api", .port = 4002},
				{.name = (char *)"web", .port = 3001}};

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &opa, &s));
	session_finish(&s);
	ASSERT_TRUE(reserve_ok(&f, &b, &opb, &s));
	session_finish(&s);

	ASSERT_OK(session_record_ports(f.st, "alpha", opa.id, pa, 2));
	get_ok(&f, "alpha", &s);
	ASSERT_EQ_INT(s.n_ports, 2);
	ASSERT_EQ_INT(s.ports[1].port, 24679);
	session_finish(&s);

	/* beta wants alpha's port: refused as a whole, the caller allocates again */
	ASSERT_EQ_INT(session_record_ports(f.st, "beta", opb.id, pb, 2), -EADDRINUSE);
	get_ok(&f, "beta", &s);
	ASSERT_EQ_INT(s.n_ports, 0);
	session_finish(&s);
	pb[1].port = 3002;
	ASSERT_OK(session_record_ports(f.st, "beta", opb.id, pb, 2));

	op_rec_finish(&opa);
	op_rec_finish(&opb);
	fx_finish(&f);
}

static void test_release_new_deletes(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op;
	struct session s;
	struct port_rec p = {.name = (char *)"web", .port = 3001};
	struct port_rec *all;
	size_t n;

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	session_finish(&s);
	ASSERT_OK(session_record_ports(f.st, "alpha", op.id, &p, 1));
	/* a failed first `up` gives everything back: row, ports, op, slot */
	ASSERT_OK(session_release(f.st, "alpha", op.id, true, SESSION_STOPPED));
	ASSERT_EQ_INT(state_session_get(f.st, "alpha", &s), -ENOENT);
	ASSERT_OK(state_ports_all(f.st, &all, &n));
	ASSERT_EQ_INT(n, 0);
	ports_free(all, n);
	op_rec_finish(&op);
	a.slug = "beta";
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	ASSERT_EQ_INT(s.slot, 1);
	session_finish(&s);
	op_rec_finish(&op);
	fx_finish(&f);
}

static void test_release_resumed_restores(void)
{
	struct fixture f;
	struct reserve_req a = req_for("alpha", 8);
	struct op_rec op;
	struct session s;
	struct port_rec p = {.name = (char *)"web", .port = 3001};

	fx_init(&f);
	ASSERT_TRUE(reserve_ok(&f, &a, &op, &s));
	ASSERT_OK(session_record_ports(f.st, "alpha", op.id, &p, 1));
	ASSERT_OK(session_finalize(f.st, &s, op.id, SESSION_ACTIVE));
	session_finish(&s);
	op_rec_finish(&op);

	/* a failed `up` on an active session gives it back active, ports kept */
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	session_finish(&s);
	ASSERT_OK(session_release(f.st, "alpha", op.id, false, op.prev));
	get_ok(&f, "alpha", &s);
	ASSERT_EQ_INT(s.status, SESSION_ACTIVE);
	ASSERT_FALSE(s.has_op);
	ASSERT_EQ_INT(s.n_ports, 1);
	ASSERT_EQ_INT(s.slot, 1);
	session_finish(&s);
	op_rec_finish(&op);

	/* and a stopped one stopped */
	settle(&f, "alpha", SESSION_STOPPED);
	ASSERT_FALSE(reserve_ok(&f, &a, &op, &s));
	session_finish(&s);
	ASSERT_OK(session_release(f.st, "alpha", op.id, false, op.prev));
	get_ok(&f, "alpha", &s);
	ASSERT_EQ_INT(s.status, SESSION_STOPPED);
	ASSERT_FALSE(s.has_op);
	session_finish(&s);
	op_rec_finish(&op);

	ASSERT_EQ_INT(session_release(f.st, "nobody", "x", false, SESSION_ACTIVE), -ENOENT);
	fx_finish(&f);
}

static void test_event(void)
{
	struct fixture f;
	struct event_rec *v;
	size_t n;

	fx_init(&f);
	session_event(f.st, "alpha", "port-bump", "web: %u taken, using %u", 3001u, 3009u);
	session_event(f.st, NULL, "flush", "%s", "all");
	ASSERT_OK(state_events_list(f.st, 0, 0, &v, &n));
	ASSERT_EQ_INT(n, 2);
	ASSERT_STREQ(v[0].slug, "alpha");
	ASSERT_TRUE(v[0].service == NULL);
	ASSERT_STREQ(v[0].kind, "port-bump");
	ASSERT_STREQ(v[0].detail, "web: 3001 taken, using 3009");
	ASSERT_TRUE(v[1].slug == NULL);
	events_free(v, n);
	fx_finish(&f);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_op_new_is_us),
	TAP_TEST(test_op_alive),
	TAP_TEST(test_display_status),
	TAP_TEST(test_reserve_new_sessions),
	TAP_TEST(test_reserve_resumes_active_and_stopped),
	TAP_TEST(test_reserve_busy_while_owner_lives),
	TAP_TEST(test_reserve_takes_over_dead_owner),
	TAP_TEST(test_reserve_branch_conflict),
	TAP_TEST(test_reserve_full),
	TAP_TEST(test_take),
	TAP_TEST(test_take_idle_and_owns),
	TAP_TEST(test_finalize_stale_op),
	TAP_TEST(test_finalize_owned),
	TAP_TEST(test_record_ports),
	TAP_TEST(test_release_new_deletes),
	TAP_TEST(test_release_resumed_restores),
	TAP_TEST(test_event),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
