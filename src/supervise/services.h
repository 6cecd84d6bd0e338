/*
 * services.h: a session's native services at run time. Where their status
 * files, logs and event journal live; how one is started under its
 * berth-shim (argv, environment with the session markers); what each one is
 * doing now (the status file checked against the shim's identity); and
 * stopping them so that nothing of the session is left: every shim signalled
 * at once and waited for through pidfds, then the safety net (recorded
 * process groups and the environment-marker sweep), then a check.
 */
#ifndef BERTH_SERVICES_H
#define BERTH_SERVICES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config/config.h"
#include "probe/proc.h"
#include "shim/svcstatus.h"
#include "store/state.h"
#include "tmux/tmux.h"
#include "util/strvec.h"

/* What starting or stopping a session's services needs to know; it owns
 * its strings (cmd_svc_init fills it, svc_env_finish frees it). */
struct svc_env {
	const struct config *config;
	const struct session *session;
	const char *berth_dir;   /* <root>/.berth */
	char *root_id;           /* BERTH_ROOT_ID of this repository */
	char *shim_path;         /* the berth-shim executable */
	struct strvec env;       /* the session's environment */
	char *const *envp;       /* env, NULL-terminated */
	uint64_t stop_grace_ms;  /* config's stop_grace */
	struct tmux *tmux;       /* &tmux_server under the tmux runner; NULL: the process runner */
	struct tmux tmux_server; /* the repository's tmux server */
	char *cgroup;            /* the session's cgroup (containment), or NULL */
	char *uncontained;       /* why there is none (for messages), or NULL */
	bool unvouched;          /* a stop could not vouch for a lost supervisor's escapees */
};

/* Free what e owns. */
void svc_env_finish(struct svc_env *e);

/* .berth/run/<slug>, .berth/logs/<slug> and the files in them. Caller frees. */
char *services_run_dir(const char *berth_dir, const char *slug);
char *services_log_dir(const char *berth_dir, const char *slug);
char *services_status_path(const char *berth_dir, const char *slug, const char *service);
char *services_log_path(const char *berth_dir, const char *slug, const char *service);
char *services_journal_path(const char *berth_dir, const char *slug);

/* The port a service is reached on in session s (its own port record), 0 if none. */
unsigned services_port(const struct session *s, const char *service);

/* The environment of service cfg: the session's, the service's env, the
 * markers (BERTH_ROOT_ID, BERTH_SESSION, BERTH_SERVICE), without TMUX and
 * TMUX_PANE. cfg NULL: the session's own (the tmux runner's shell window),
 * with no BERTH_SERVICE. Appended to envp. */
void services_env(const struct svc_env *e, const struct service_config *cfg, struct strvec *envp);
/* The shim's command line for service cfg, appended to argv. */
void services_shim_argv(const struct svc_env *e, const struct service_config *cfg,
			struct strvec *argv);
/* Start the shim of cfg. Process runner: our child, in its own session, fds
 * 0-2 on /dev/null (a shim never holds the caller's terminal or pipes).
 * Tmux runner: the process of the service's window in the session's tmux
 * session (created with its shell window when missing), not our child, its
 * environment passed in a file. *ret_pid is the shim; *ret_pidfd its pidfd
 * or -1 (tmux: -1 too when it is gone already). Creates the run and log
 * directories. -errno with *cause on failure; *ret_pid is then still a child
 * to reap when it is > 0 (an exec of the shim that failed: see
 * spawn_start). */
int services_spawn_shim(const struct svc_env *e, const struct service_config *cfg, pid_t *ret_pid,
			int *ret_pidfd, char **cause);
/* Tmux runner: services_spawn_shim for each of cfgs[0..n) in one tmux
 * command (services started together: they get their windows in one go),
 * the session's tmux session made in it when missing. The first *ret_n
 * (also set on failure) started: ret_pids[i] and ret_pidfds[i] as
 * services_spawn_shim's (room for n each). When *ret_n < n, cfgs[*ret_n]
 * could not start (-errno, *cause) and those after it were not tried. */
int services_spawn_tmux(const struct svc_env *e, const struct service_config *const *cfgs, size_t n,
			pid_t *ret_pids, int *ret_pidfds, size_t *ret_n, char **cause);
/* Tmux runner: make sure the session's tmux session exists; with respawn,
 * also restart its shell window when the shell there has ended. */
int services_tmux_session(const struct svc_env *e, bool respawn, char **cause);

/* What a service is doing now. */
enum svc_live {
	SVC_LIVE_NONE,    /* no status file: never started, or cleared */
	SVC_LIVE_RUNNING, /* its shim runs */
	SVC_LIVE_ENDED,   /* its shim is gone and recorded an end (exited, stopped, failed) */
	SVC_LIVE_LOST,    /* its shim is gone without recording an end (killed) */
};

struct svc_view {
	enum svc_live live;
	struct svc_status st; /* valid unless live == SVC_LIVE_NONE */
	bool service_alive;   /* the recorded service pid runs (same start time) */
};

/* Read service's status and check its shim's identity. -EBADMSG for a corrupt file. */
int services_view(const char *berth_dir, const char *slug, const char *service,
		  struct svc_view *ret);
struct proc_table;
/* The same, the identities checked against t, the command's snapshot of
 * the machine (probe_procs), when it holds them (NULL: read /proc now). */
int services_view_in(const char *berth_dir, const char *slug, const char *service,
		     const struct proc_table *t, struct svc_view *ret);
/* The live processes of a service: every descendant of its shim. *v (caller
 * frees) may be NULL when there is none. */
void services_tree(pid_t shim_pid, struct proc_ref **v, size_t *n);
/* The same, from t (NULL: a walk down from the shim now). */
void services_tree_in(pid_t shim_pid, const struct proc_table *t, struct proc_ref **v, size_t *n);
/* The ports (sorted, unique) that processes v[0..n) listen on, from ls. */
struct listener_set;
void services_tree_ports(const struct proc_ref *v, size_t n, const struct listener_set *ls,
			 unsigned **ret, size_t *ret_n);
/* Does a process of v[0..n) listen on port (per ls)? *ret (may be NULL) is
 * its listener. */
struct listener;
bool services_tree_listens(const struct proc_ref *v, size_t n, const struct listener_set *ls,
			   unsigned port, const struct listener **ret);

/* Who listens on port, the port of service in session slug of the repository
 * root_id. */
#define SVC_PORT_HIDDEN "a process not visible to berth"
enum svc_port_owner {
	SVC_PORT_FREE,    /* nothing listens */
	SVC_PORT_OURS,    /* its tree (tree[0..n)), or a process with its markers */
	SVC_PORT_FOREIGN, /* someone else: *who says who ("pid 42 (nc)", "pid 42 (x) of
			     session y", SVC_PORT_HIDDEN) */
	SVC_PORT_UNKNOWN, /* the owner could not be looked up */
};
/* The foreign holder, structured (status --json): pid 0 when it is not
 * visible; session: the berth session of this repository it belongs to, or
 * NULL (the caller frees session). */
struct svc_port_holder {
	pid_t pid;
	char comm[64];
	char *session;
};
struct probe;
/* holder may be NULL. */
enum svc_port_owner services_port_owner(struct probe *p, const struct proc_ref *tree, size_t n,
					const char *root_id, const char *slug, const char *service,
					unsigned port, char **who, struct svc_port_holder *holder);

/* Names of the services with a status file in the session's run dir, sorted. */
void services_recorded(const char *berth_dir, const char *slug, struct strvec *ret);
/* Names of the services with a log in the session's log dir, sorted. */
void services_logged(const char *berth_dir, const char *slug, struct strvec *ret);
/* The last n lines of service's log (byte-exact), appended to out. */
void services_log_tail(const char *log_path, unsigned n, struct strbuf *out);
/* Where a log ends now (a missing log: all zero), taken before a shim starts
 * appending to it, so that its output can be told from earlier runs'. */
struct svc_log_mark {
	dev_t dev;
	ino_t ino;
	off_t size;
};
void services_log_mark(const char *log_path, struct svc_log_mark *ret);
/* services_log_tail of what was written after mark (NULL: the whole log).
 * When the log was replaced (rotated) or truncated since, all of the
 * current file is newer than the mark and counts. */
void services_log_tail_since(const char *log_path, const struct svc_log_mark *mark, unsigned n,
			     struct strbuf *out);

/* What stopping found. */
struct stop_report {
	unsigned shims;             /* shims signalled */
	bool shims_killed;          /* a shim did not end by its deadline: KILLed */
	unsigned swept;             /* processes found by the safety net and signalled */
	struct proc_ref *survivors; /* still running afterwards (caller frees) */
	size_t n_survivors;
	struct strvec lost; /* services whose shim was gone without recording an end */
	bool contained;     /* a cgroup held the session: nothing can have escaped */
	bool interrupted;   /* a signal on sigfd: the rest was KILLed at once */
	char *tmux_error;   /* the tmux session could not be killed (caller frees) */
};

/* Stop services names (NULL: every service recorded for the session) and
 * everything of theirs (every process of the session when names is NULL),
 * through proc/procset: TERM to each running shim at once (each stops its
 * own tree; a shim still there at stop_grace + 2 s is KILLed), then (names
 * NULL, tmux runner) the tmux session, then the safety net: what a lost
 * shim left (its cgroup, its recorded process group, its markers, with the
 * service's stop_signal), the session's cgroup and marker set; survivors
 * are what is left at the end. Status files of stopped services are kept
 * (they say "stopped"). sigfd >= 0: readable means "hurry": KILL now. */
int services_stop(const struct svc_env *e, const struct strvec *names, int sigfd,
		  struct stop_report *ret);
void stop_report_finish(struct stop_report *r);

/* The cgroup where the session's hooks run (a leaf of its cgroup), or NULL
 * when the machine gives berth none. Caller frees. */
char *services_hook_cgroup(const char *berth_dir, const char *root_id, const char *slug);
/* Stop what the session's hooks left running (their cgroup, every process
 * with the session's markers and BERTH_HOOK): TERM, KILL at grace_ms.
 * Returns how many processes were signalled. */
unsigned services_stop_hooks(const char *berth_dir, const char *root_id, const char *slug,
			     uint64_t grace_ms, int sigfd);
/* .berth/run/<slug>/cgroup: where the session's cgroup is recorded. */
char *services_cgroup_file(const char *berth_dir, const char *slug);
/* The session's cgroup: the recorded one (checked: berth's own, for this
 * session), else <cgroup_base>/<root_id>/<slug> (recorded when record).
 * -ENOTSUP with *why (caller frees) when the machine gives berth none. */
int services_cgroup(const char *berth_dir, const char *root_id, const char *slug, bool record,
		    char **ret, char **why);

/* Parse the session's event journal (lines "ms<TAB>service<TAB>kind<TAB>detail"
 * appended by the shims) from byte offset *off on; complete lines only, *off
 * advanced past them. Events get slug and id 0. */
int services_journal_read(const char *berth_dir, const char *slug, uint64_t *off,
			  struct event_rec **v, size_t *n, size_t *alloc);

/* Remove the session's run directory (and its logs when logs), after
 * services_stop. */
void services_clear(const char *berth_dir, const char *slug, bool logs);

#endif
