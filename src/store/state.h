/*
 * state.h: the state store, .berth/state.db. SQLite in WAL mode with a busy
 * timeout; the schema is versioned (PRAGMA user_version) and migrated forward.
 * Every change is one short transaction; nothing slow happens inside one.
 * A file that is not a berth store is refused and never written: before
 * anything writes to it, a store is read through a read-only connection and
 * must have berth's application id, a schema version berth knows and exactly
 * the schema the migrations make at that version.
 */
#ifndef BERTH_STATE_H
#define BERTH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATE_SCHEMA_VERSION 2
#define STATE_APPLICATION_ID 0x62657274 /* "bert" */

struct state;

enum session_status { SESSION_PENDING, SESSION_ACTIVE, SESSION_STOPPED };

struct port_rec {
	char *name; /* "web" or "web.hmr" */
	unsigned port;
	char *slug; /* filled by state_ports_all only */
};

/* An operation in progress on a session: the ownership token. */
struct op_rec {
	char *id;
	char *kind; /* "up", "down" */
	pid_t pid;
	uint64_t start_time; /* of pid, from /proc/<pid>/stat */
	int64_t since;       /* epoch seconds */
	bool had_prev;
	enum session_status prev; /* status before the operation, when had_prev */
	char *step;               /* the step in flight (OP_STEP_*), or NULL */
	char *branch_at;          /* a branch this operation (or the one it took over) created, at
			    this commit: recovery deletes it while it still points there */
	bool recovering;          /* not stored: reserve/take found a crashed owner's op */
	char *crashed_step;       /* not stored: the step that crashed owner was in, or NULL */
};

/* Steps an operation records before it starts them: recovery from a crash
 * inside one knows what was half done. */
#define OP_STEP_WORKTREE_CREATE "worktree-create"
#define OP_STEP_WORKTREE_REMOVE "worktree-remove"
/* the post_create hook runs */
#define OP_STEP_POST_CREATE "post-create"

struct session {
	char *slug;
	unsigned slot;
	char *branch;
	char *worktree; /* absolute path */
	char *mode;     /* host / hybrid / container, as when created */
	enum session_status status;
	bool owns_worktree; /* berth created it: `down` removes it */
	int64_t created_at;
	int64_t updated_at;
	bool has_op;
	struct op_rec op;
	struct port_rec *ports; /* sorted by name */
	size_t n_ports;
};

struct event_rec {
	int64_t id;
	int64_t ts_ms; /* epoch milliseconds */
	char *slug;    /* may be NULL */
	char *service; /* may be NULL */
	char *kind;
	char *detail; /* may be NULL */
};

/* Open the store at path to read and write, creating it when there is no
 * file (built whole beside it, then linked into place) and migrating it.
 * A file that is not a berth store (an empty one included), a newer schema,
 * or a store berth cannot write (-EROFS) is refused with *cause (caller
 * frees) naming the file, and is not touched. */
int state_open(const char *path, struct state **ret, char **cause);
/* Open the store at path only to read it: nothing is ever written nor
 * created. No file reads as an empty store; a store of an older schema is
 * read through a migrated copy in memory. Refusals as state_open. */
int state_open_readonly(const char *path, struct state **ret, char **cause);
/* True when st reads a copy in memory (state_open_readonly found no store,
 * or one of an older schema): it never sees later changes; open the store
 * again to see them. */
bool state_is_copy(struct state *st);
void state_close(struct state *st);
/* Why the last failed call on st failed, naming the store's file: kept when
 * it failed, so that a rollback since does not lose it. */
const char *state_errmsg(struct state *st);

/* BEGIN IMMEDIATE (waits up to the busy timeout for other writers). */
int state_begin(struct state *st);
int state_commit(struct state *st);
/* Roll back; safe when no transaction is open. */
void state_rollback(struct state *st);

/* Read one session with its ports and op. -ENOENT when absent. */
int state_session_get(struct state *st, const char *slug, struct session *ret);
/* Every session, by slot. The caller frees with sessions_free. */
int state_sessions_list(struct state *st, struct session **ret, size_t *ret_n);
/* Insert a new session row (not its ports or op). -EEXIST on slug or slot clash. */
int state_session_insert(struct state *st, const struct session *s);
/* Update status, branch, worktree, owns_worktree of an existing session. */
int state_session_update(struct state *st, const struct session *s);
/* Delete a session and (by cascade) its ports and op. */
int state_session_delete(struct state *st, const char *slug);
/* Slots in use: ret_used[slot] true (array of max_slot + 1 entries, caller frees). */
int state_slots_used(struct state *st, unsigned max_slot, bool **ret_used);

/* Set / clear the op record of a session. */
int state_op_set(struct state *st, const char *slug, const struct op_rec *op);
int state_op_clear(struct state *st, const char *slug);

/* Replace the ports of a session. -EADDRINUSE when another session holds one. */
int state_ports_set(struct state *st, const char *slug, const struct port_rec *ports, size_t n);
/* Every recorded port of every session (slug filled). The caller frees with ports_free. */
int state_ports_all(struct state *st, struct port_rec **ret, size_t *ret_n);

/* Append an event. ts is taken now. */
int state_event_add(struct state *st, const char *slug, const char *service, const char *kind,
		    const char *detail);
/* Append an event that happened at ts_ms (epoch milliseconds). */
int state_event_add_at(struct state *st, int64_t ts_ms, const char *slug, const char *service,
		       const char *kind, const char *detail);
/* Events with id > after_id, oldest first, at most limit (0 = all). */
int state_events_list(struct state *st, int64_t after_id, size_t limit, struct event_rec **ret,
		      size_t *ret_n);

/* Drop every event but the newest keep, and those older than before_ms
 * (epoch milliseconds): the event log's retention. Returns how many went. */
int state_events_prune(struct state *st, unsigned keep, int64_t before_ms);

const char *session_status_name(enum session_status s);
int session_status_parse(const char *s, enum session_status *ret);
void session_finish(struct session *s);
void sessions_free(struct session *v, size_t n);
void ports_free(struct port_rec *v, size_t n);
void op_rec_finish(struct op_rec *op);
void op_rec_copy(struct op_rec *dst, const struct op_rec *src);
void events_free(struct event_rec *v, size_t n);

/* Check the store at path without changing it (`berth doctor`): refused as
 * state_open_readonly refuses, never created, then PRAGMA quick_check. 0
 * when it is sound; -ENOENT when there is no file; else -errno with *cause
 * (caller frees) saying what is wrong and what to do: -EBADMSG when it is
 * corrupt or not a berth store (an empty file included). */
int state_check(const char *path, char **cause);

#endif
