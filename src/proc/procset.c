/*
 * procset.c: a set of processes, and stopping it (see procset.h).
 *
 * A stopper is a small state machine: SIGNAL (the stop signal went to every
 * member found so far; members found later get it too) -> KILL (at the grace
 * deadline, or at once for SIGKILL; every member found gets SIGKILL, the
 * cgroup gets cgroup.kill) -> DONE (the set is empty, or the hard deadline
 * passed: survivors recorded). The set is scanned again on a timer that
 * starts at 5 ms and slows to 50 ms, and at once when the caller pokes it (a
 * member was reaped) or the set's cgroup.events changes (inotify).
 */
#include "util/common.h"

#include <ev.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "probe/marker.h"
#include "probe/tree.h"
#include "proc/cgroup.h"
#include "proc/pidref.h"
#include "proc/reaper.h"
#include "proc/procset.h"
#include "util/fsutil.h"

#define SCAN_FIRST_S 0.005
#define SCAN_MAX_S 0.05

/* ---- scanning ---- */

static void add_ref(struct proc_ref **v, size_t *n, size_t *alloc, const struct proc_stat *p)
{
	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].pid == p->pid)
			return;
	XGROW(*v, *alloc, *n + 1);
	(*v)[(*n)++] = (struct proc_ref){p->pid, p->start_time};
}

static bool marks_match(const struct procset *s, const struct marker *m)
{
	switch (s->marks) {
	case PROCSET_MARKS_SESSION:
		return marker_matches(m, s->root_id, s->session, NULL);
	case PROCSET_MARKS_SERVICE:
		return s->service && marker_matches(m, s->root_id, s->session, s->service);
	case PROCSET_MARKS_HOOKS:
		return m->hook && marker_matches(m, s->root_id, s->session, NULL);
	case PROCSET_MARKS_ROOT:
		return marker_of_root(m, s->root_id);
	case PROCSET_MARKS_NONE:
		break;
	}
	return false;
}

/* Is p in one of the groups (its leader alive, or p born after the leader:
 * a group id is not reused while a member of the group exists)? */
static bool in_groups(const struct procset *s, const struct proc_table *t,
		      const struct proc_stat *p)
{
	for (size_t i = 0; i < s->n_groups; i++) {
		const struct proc_ref *g = &s->groups[i];
		const struct proc_stat *leader;

		if (g->pid <= 1 || p->pgrp != g->pid)
			continue;
		leader = proc_table_get(t, g->pid);
		/* Another process wears the leader's pid: the kernel reuses no
		 * pid that is still a group's id, so that group is empty and
		 * this is another group. */
		if (leader && leader->start_time != g->start_time)
			continue;
		if (leader || (g->start_time && p->start_time >= g->start_time))
			return true;
	}
	return false;
}

/* Is the process c one of our ancestors (`berth exec x -- berth down x`)?
 * Our ancestors only get older up the chain (a parent is older than its
 * child; an orphan goes to one of its ancestors), and no two live processes
 * share a pid: the walk up stops at the first ancestor older than c. */
static bool is_ancestor(const struct proc_stat *c)
{
	struct proc_stat st;
	pid_t p = getppid();

	for (int depth = 0; p > 1 && depth < 256; depth++) {
		if (p == c->pid)
			return true;
		if (proc_stat_read(p, &st) < 0 || st.start_time < c->start_time)
			return false;
		p = st.ppid;
	}
	return false;
}

/* A set without groups and markers: its candidates are named (cgroup.procs,
 * the children files below the tree's root, refs), and only they are read:
 * the cost follows the set, not the machine (the shim scans often). */
static int scan_named(const struct procset *s, struct proc_ref **ret, size_t *ret_n)
{
	struct proc_ref *v = NULL;
	size_t n = 0, alloc = 0, n_cg = 0, n_tree = 0;
	pid_t *cg = NULL, *tree = NULL, self = getpid();
	int r = 0;

	if (s->cgroup)
		cgroup_pids(s->cgroup, &cg, &n_cg);
	if (s->tree > 0) {
		r = proc_tree_walk(s->tree, &tree, &n_tree);
		if (r == -ENOENT)
			r = 0;
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_cg + n_tree + s->n_refs; i++) {
		pid_t pid = i < n_cg            ? cg[i]
			    : i < n_cg + n_tree ? tree[i - n_cg]
						: s->refs[i - n_cg - n_tree].pid;
		struct proc_stat st;

		if (pid <= 1 || pid == self || proc_stat_read(pid, &st) < 0 || proc_stat_gone(&st))
			continue;
		if (i >= n_cg + n_tree && st.start_time != s->refs[i - n_cg - n_tree].start_time)
			continue;
		if (is_ancestor(&st))
			continue;
		add_ref(&v, &n, &alloc, &st);
	}
	*ret = v;
	*ret_n = n;
out:
	free(cg);
	free(tree);
	if (r < 0)
		free(v);
	return r;
}

#define ANCESTORS_MAX 256

static bool pid_in(const pid_t *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

/* The pids of which t says pid descends (proc_table_descends(t, pid, x)
 * for each x), into v[0..ANCESTORS_MAX); returns how many. */
static size_t table_ancestors(const struct proc_table *t, pid_t pid, pid_t *v)
{
	const struct proc_stat *p = proc_table_get(t, pid);
	size_t n = 0;

	while (p && n < ANCESTORS_MAX) {
		v[n++] = p->ppid;
		if (p->ppid <= 1)
			break;
		p = proc_table_get(t, p->ppid);
	}
	return n;
}

int procset_scan_in(const struct procset *s, const struct proc_table *t, struct proc_ref **ret,
		    size_t *ret_n)
{
	struct proc_ref *v = NULL;
	size_t n = 0, alloc = 0;
	pid_t self = getpid(), ours[ANCESTORS_MAX];
	pid_t *cg = NULL;
	size_t n_cg = 0, n_ours = table_ancestors(t, self, ours);
	bool *in_tree = NULL, tree_only;

	*ret = NULL;
	*ret_n = 0;
	if (s->cgroup)
		cgroup_pids(s->cgroup, &cg, &n_cg);
	/* the tree once, walked down from its root, not once per process */
	if (s->tree > 0 && t->n) {
		in_tree = xcalloc(t->n, sizeof(*in_tree));
		proc_table_mark_descendants(t, s->tree, in_tree);
	}
	tree_only =
		in_tree && !n_cg && !s->n_refs && !s->n_groups && s->marks == PROCSET_MARKS_NONE;
	for (size_t i = 0; i < t->n; i++) {
		const struct proc_stat *p = &t->v[i];
		bool member = false;

		if (tree_only && !in_tree[i])
			continue;
		/* Never us, nor what runs us (`berth exec x -- berth down x`), nor
		 * a zombie (gone; its parent reaps it). */
		if (p->pid == self || p->pid <= 1 || proc_stat_gone(p) ||
		    pid_in(ours, n_ours, p->pid))
			continue;
		for (size_t j = 0; j < n_cg && !member; j++)
			member = cg[j] == p->pid;
		for (size_t j = 0; j < s->n_refs && !member; j++)
			member = s->refs[j].pid == p->pid && s->refs[j].start_time == p->start_time;
		if (!member && in_tree)
			member = in_tree[i];
		if (!member && s->n_groups)
			member = in_groups(s, t, p);
		if (!member && s->marks != PROCSET_MARKS_NONE && s->root_id &&
		    (s->session || s->marks == PROCSET_MARKS_ROOT)) {
			struct marker m;

			if (marker_read(p->pid, &m) == 0) {
				member = marks_match(s, &m);
				marker_finish(&m);
			}
		}
		if (member)
			add_ref(&v, &n, &alloc, p);
	}
	free(in_tree);
	free(cg);
	*ret = v;
	*ret_n = n;
	return 0;
}

int procset_scan(const struct procset *s, struct proc_ref **ret, size_t *ret_n)
{
	struct proc_table t;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (!s->n_groups && s->marks == PROCSET_MARKS_NONE && scan_named(s, ret, ret_n) == 0)
		return 0;
	r = proc_table_read(&t);
	if (r < 0)
		return r;
	r = procset_scan_in(s, &t, ret, ret_n);
	proc_table_finish(&t);
	return r;
}

/* ---- the stopper ---- */

enum stopper_phase { PH_SIGNAL, PH_KILL, PH_DONE };

struct procset_stopper {
	struct ev_loop *loop;
	struct procset set; /* a copy: the strings and arrays below are ours */
	char *cgroup, *root_id, *session, *service;
	struct proc_ref *groups, *refs;
	int sig;
	enum stopper_phase phase;
	struct proc_ref *hit; /* signalled in this phase */
	size_t n_hit, hit_alloc;
	struct proc_ref *ever; /* signalled at all: what procset_stopper_signalled counts */
	size_t n_ever, ever_alloc;
	bool empty_once; /* the last scan found nothing: one more confirms it */
	unsigned signalled;
	bool killed;
	struct proc_ref *survivors;
	size_t n_survivors;
	double interval;
	ev_timer scan;
	ev_timer grace;
	ev_timer hard;
	int ino_fd, ino_wd;
	ev_io ino;
	procset_stopper_done_fn cb;
	void *data;
};

static bool in_list(const struct proc_ref *v, size_t n, const struct proc_ref *r)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == r->pid && v[i].start_time == r->start_time)
			return true;
	return false;
}

static void finish(struct procset_stopper *st, struct proc_ref *left, size_t n_left)
{
	st->phase = PH_DONE;
	st->survivors = left;
	st->n_survivors = n_left;
	ev_timer_stop(st->loop, &st->scan);
	ev_timer_stop(st->loop, &st->grace);
	ev_timer_stop(st->loop, &st->hard);
	if (st->ino_fd >= 0)
		ev_io_stop(st->loop, &st->ino);
	st->cb(st, st->data);
}

/* Scan, signal the members not yet signalled in this phase; done when empty
 * (then true, and the callback ran: st may be gone). */
static bool sweep(struct procset_stopper *st, bool may_finish)
{
	struct proc_ref *v = NULL;
	size_t n = 0;
	int sig = st->phase == PH_KILL ? SIGKILL : st->sig;

	if (st->phase == PH_DONE)
		return false;
	if (procset_scan(&st->set, &v, &n) < 0) {
		free(v);
		v = NULL;
		n = 0;
	}
	/* A cgroup is empty when the kernel says so: a process whose main
	 * thread has exited is in no cgroup.procs, yet runs (cgroup.kill
	 * reaches it). */
	if (!n && st->set.cgroup && cgroup_populated(st->set.cgroup) == 1) {
		st->empty_once = false;
		if (st->phase == PH_KILL && cgroup_kill(st->set.cgroup) == 0)
			st->killed = true;
		free(v);
		return false;
	}
	if (!n) {
		free(v);
		/* A walk of the tree can miss a process whose parent died while
		 * it was read (the child moves to a list read already): a set
		 * with a tree is empty when two scans in a row say so. */
		if (!may_finish || (st->set.tree > 0 && !st->empty_once)) {
			st->empty_once = true;
			if (may_finish)
				procset_stopper_poke(st);
			return false;
		}
		finish(st, NULL, 0);
		return true;
	}
	st->empty_once = false;
	if (st->phase == PH_KILL && st->set.cgroup && cgroup_kill(st->set.cgroup) == 0)
		st->killed = true;
	for (size_t i = 0; i < n; i++) {
		bool again = in_list(st->hit, st->n_hit, &v[i]);

		/* SIGKILL goes on every scan: a member can only outlive it by
		 * being born after it, and is then a new member anyway. */
		if (again && sig != SIGKILL)
			continue;
		if (!sig)
			continue;
		if (pidref_signal_once(&v[i], sig, true) == 0) {
			if (!again) {
				XGROW(st->hit, st->hit_alloc, st->n_hit + 1);
				st->hit[st->n_hit++] = v[i];
			}
			if (!in_list(st->ever, st->n_ever, &v[i])) {
				XGROW(st->ever, st->ever_alloc, st->n_ever + 1);
				st->ever[st->n_ever++] = v[i];
				st->signalled++;
			}
			if (sig == SIGKILL)
				st->killed = true;
		}
	}
	free(v);
	return false;
}

static void schedule(struct procset_stopper *st)
{
	if (st->phase == PH_DONE)
		return;
	ev_timer_stop(st->loop, &st->scan);
	ev_timer_set(&st->scan, st->interval, 0.);
	ev_timer_start(st->loop, &st->scan);
	if (st->interval < SCAN_MAX_S)
		st->interval *= 1.5;
}

static void on_scan(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct procset_stopper *st = w->data;

	(void)loop;
	(void)revents;
	if (!sweep(st, true))
		schedule(st);
}

static void enter_kill(struct procset_stopper *st)
{
	if (st->phase != PH_SIGNAL)
		return;
	st->phase = PH_KILL;
	st->n_hit = 0;
	ev_timer_stop(st->loop, &st->grace);
	ev_now_update(st->loop);
	ev_timer_set(&st->hard, PROCSET_KILL_WAIT_MS / 1000., 0.);
	ev_timer_start(st->loop, &st->hard);
	sweep(st, false);
	procset_stopper_poke(st);
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	enter_kill(w->data);
}

static void on_hard(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct procset_stopper *st = w->data;
	struct proc_ref *v = NULL;
	size_t n = 0;

	(void)loop;
	(void)revents;
	if (st->phase == PH_DONE)
		return;
	procset_scan(&st->set, &v, &n);
	finish(st, v, n);
}

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
	struct procset_stopper *st = w->data;
	char buf[4096];

	(void)loop;
	(void)revents;
	while (read(w->fd, buf, sizeof(buf)) > 0)
		;
	procset_stopper_poke(st);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static struct proc_ref *dup_refs(const struct proc_ref *v, size_t n)
{
	struct proc_ref *c;

	if (!n)
		return NULL;
	c = xcalloc(n, sizeof(*c));
	memcpy(c, v, n * sizeof(*c));
	return c;
}

int procset_stopper_start(struct ev_loop *loop, const struct procset *s, int sig, uint64_t grace_ms,
			  procset_stopper_done_fn cb, void *data, struct procset_stopper **ret)
{
	struct procset_stopper *st = xcalloc(1, sizeof(*st));

	st->loop = loop;
	st->cb = cb;
	st->data = data;
	st->sig = sig;
	st->cgroup = dup_or_null(s->cgroup);
	st->root_id = dup_or_null(s->root_id);
	st->session = dup_or_null(s->session);
	st->service = dup_or_null(s->service);
	st->groups = dup_refs(s->groups, s->n_groups);
	st->refs = dup_refs(s->refs, s->n_refs);
	st->set = (struct procset){
		.cgroup = st->cgroup,
		.tree = s->tree,
		.groups = st->groups,
		.n_groups = s->n_groups,
		.refs = st->refs,
		.n_refs = s->n_refs,
		.marks = s->marks,
		.root_id = st->root_id,
		.session = st->session,
		.service = st->service,
	};
	st->interval = SCAN_FIRST_S;
	st->ino_fd = st->ino_wd = -1;
	ev_timer_init(&st->scan, on_scan, 0., 0.);
	st->scan.data = st;
	ev_timer_init(&st->grace, on_grace, 0., 0.);
	st->grace.data = st;
	ev_timer_init(&st->hard, on_hard, 0., 0.);
	st->hard.data = st;
	if (st->cgroup) {
		char *events = xasprintf("%s/cgroup.events", st->cgroup);

		st->ino_fd = inotify_take();
		if (st->ino_fd >= 0 &&
		    (st->ino_wd = inotify_add_watch(st->ino_fd, events, IN_MODIFY)) < 0) {
			inotify_give(st->ino_fd, -1);
			st->ino_fd = -1;
		}
		free(events);
		if (st->ino_fd >= 0) {
			ev_io_init(&st->ino, on_inotify, st->ino_fd, EV_READ);
			st->ino.data = st;
			ev_io_start(loop, &st->ino);
		}
	}
	ev_now_update(loop);
	if (sig == SIGKILL) {
		st->phase = PH_KILL;
		ev_timer_set(&st->hard, PROCSET_KILL_WAIT_MS / 1000., 0.);
		ev_timer_start(loop, &st->hard);
	} else {
		st->phase = PH_SIGNAL;
		ev_timer_set(&st->grace, (double)grace_ms / 1000., 0.);
		ev_timer_start(loop, &st->grace);
	}
	/* The first sweep signals at once; a set already empty is reported
	 * from the loop, never from here. */
	sweep(st, false);
	ev_timer_set(&st->scan, 0., 0.);
	ev_timer_start(loop, &st->scan);
	*ret = st;
	return 0;
}

void procset_stopper_poke(struct procset_stopper *st)
{
	if (!st || st->phase == PH_DONE)
		return;
	st->interval = SCAN_FIRST_S;
	ev_timer_stop(st->loop, &st->scan);
	ev_timer_set(&st->scan, 0., 0.);
	ev_timer_start(st->loop, &st->scan);
}

void procset_stopper_hurry(struct procset_stopper *st)
{
	if (st)
		enter_kill(st);
}

bool procset_stopper_done(const struct procset_stopper *st)
{
	return st->phase == PH_DONE;
}

unsigned procset_stopper_signalled(const struct procset_stopper *st)
{
	return st->signalled;
}

bool procset_stopper_killed(const struct procset_stopper *st)
{
	return st->killed;
}

const struct proc_ref *procset_stopper_survivors(const struct procset_stopper *st, size_t *ret_n)
{
	*ret_n = st->n_survivors;
	return st->survivors;
}

void procset_stopper_destroy(struct procset_stopper *st)
{
	if (!st)
		return;
	ev_timer_stop(st->loop, &st->scan);
	ev_timer_stop(st->loop, &st->grace);
	ev_timer_stop(st->loop, &st->hard);
	if (st->ino_fd >= 0) {
		ev_io_stop(st->loop, &st->ino);
		inotify_give(st->ino_fd, st->ino_wd);
	}
	free(st->cgroup);
	free(st->root_id);
	free(st->session);
	free(st->service);
	free(st->groups);
	free(st->refs);
	free(st->hit);
	free(st->ever);
	free(st->survivors);
	free(st);
}

/* ---- synchronous ---- */

struct stop_many {
	struct ev_loop *loop;
	size_t left;
	bool interrupted;
	struct procset_stopper **v;
	size_t n;
	ev_io sig;
};

static void on_one_done(struct procset_stopper *st, void *data)
{
	struct stop_many *m = data;

	(void)st;
	if (--m->left == 0)
		ev_break(m->loop, EVBREAK_ALL);
}

static void on_hurry(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stop_many *m = w->data;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	m->interrupted = true;
	ev_io_stop(loop, w);
	for (size_t i = 0; i < m->n; i++)
		procset_stopper_hurry(m->v[i]);
}

static void on_reaped(pid_t pid, int wstatus, void *data)
{
	struct stop_many *m = data;

	(void)pid;
	(void)wstatus;
	for (size_t i = 0; i < m->n; i++)
		procset_stopper_poke(m->v[i]);
}

int procset_stop_many(const struct procset *v, const int *sigs, size_t n, uint64_t grace_ms,
		      int sigfd, struct procset_result *ret)
{
	struct stop_many m = {0};
	struct reaper *reaper = NULL;

	memset(ret, 0, sizeof(*ret));
	if (!n)
		return 0;
	m.loop = ev_loop_new(EVFLAG_AUTO);
	if (!m.loop)
		return -ENOMEM;
	/* Our own children among the members (shims this command started)
	 * become zombies when they end: reap them, and look again at once. */
	if (reaper_create(m.loop, &reaper) == 0)
		reaper_set_orphan_cb(reaper, on_reaped, &m);
	m.v = xcalloc(n, sizeof(*m.v));
	m.n = n;
	m.left = n;
	for (size_t i = 0; i < n; i++)
		procset_stopper_start(m.loop, &v[i], sigs[i], grace_ms, on_one_done, &m, &m.v[i]);
	if (sigfd >= 0) {
		ev_io_init(&m.sig, on_hurry, sigfd, EV_READ);
		m.sig.data = &m;
		ev_io_start(m.loop, &m.sig);
	}
	ev_run(m.loop, 0);
	if (sigfd >= 0)
		ev_io_stop(m.loop, &m.sig);
	for (size_t i = 0; i < n; i++) {
		size_t k;
		const struct proc_ref *s = procset_stopper_survivors(m.v[i], &k);

		ret->signalled += procset_stopper_signalled(m.v[i]);
		ret->killed |= procset_stopper_killed(m.v[i]);
		for (size_t j = 0; j < k; j++) {
			bool dup = false;

			for (size_t x = 0; x < ret->n_survivors && !dup; x++)
				dup = ret->survivors[x].pid == s[j].pid;
			if (dup)
				continue;
			ret->survivors = xreallocarray(ret->survivors, ret->n_survivors + 1,
						       sizeof(*ret->survivors));
			ret->survivors[ret->n_survivors++] = s[j];
		}
		procset_stopper_destroy(m.v[i]);
	}
	ret->interrupted = m.interrupted;
	free(m.v);
	reaper_destroy(reaper);
	ev_loop_destroy(m.loop);
	return 0;
}

int procset_stop(const struct procset *s, int sig, uint64_t grace_ms, int sigfd,
		 struct procset_result *ret)
{
	return procset_stop_many(s, &sig, 1, grace_ms, sigfd, ret);
}

void procset_result_finish(struct procset_result *r)
{
	free(r->survivors);
	memset(r, 0, sizeof(*r));
}
