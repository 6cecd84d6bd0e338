/*
 * tmux.h: the tmux driver of the tmux runner. Each repository has a private
 * tmux server: its socket in a 0700 directory of the runtime dir, our own
 * config file (-f: remain-on-exit on, default-shell /bin/sh; no user config
 * is read). Every target is exact (`=session`, `=session:=window`), because
 * tmux otherwise takes a prefix. Every answer is classified: no server, no
 * such session or window, or failed; a failed answer is never read as
 * "gone". Clients run without TMUX, TMUX_PANE and the berth markers in their
 * environment (the server inherits the first client's).
 */
#ifndef BERTH_TMUX_H
#define BERTH_TMUX_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/strbuf.h"
#include "util/strvec.h"

#define TMUX_VERSION_MIN 302 /* 3.2: -e on new-session, -f filters, pane hooks */

struct tmux {
	char *socket;      /* -S */
	char *conf;        /* -f */
	struct strvec env; /* the clients' environment */
	int version;       /* major * 100 + minor: 303 for "3.3a" */
	/* What this process knows of one session (its own doing, or one
	 * list-windows): a tmux call saved per window started. A target found
	 * missing on the way makes it ask again. */
	char *known; /* the session; NULL: nothing known */
	bool known_exists;
	struct strvec known_windows;
};

enum tmux_answer {
	TMUX_OK = 0,
	TMUX_NO_SERVER, /* no server on the socket */
	TMUX_NO_TARGET, /* no such session, window or pane */
	TMUX_FAILED,    /* anything else: unknown, never "gone" */
};

/* "tmux 3.3a" -> 303, "tmux next-3.5" -> 305, "tmux 3.2" -> 302; "tmux
 * master" -> 9999 (a build from the development tree). -EINVAL otherwise. */
int tmux_version_parse(const char *text, int *ret);

/* The directory of berth's tmux sockets: $XDG_RUNTIME_DIR/berth when
 * XDG_RUNTIME_DIR is set, else /tmp/berth-<uid>; created 0700 and checked
 * (ours, a directory, no access for others). Caller frees. -errno with
 * *cause. */
int tmux_socket_dir(char **ret, char **cause);
/* Where that directory is (nothing is created). Caller frees. */
char *tmux_socket_dir_path(void);
/* The check of tmux_socket_dir on dir, read-only: 0 when it is a directory
 * of ours with no access for others, -ENOENT when it is not there, else
 * -errno with *cause saying what to do. */
int tmux_socket_dir_check(const char *dir, char **cause);

/* Is there a socket of the repository with identity root_id's tmux server
 * (sessions made while its config said runner = tmux)? */
bool tmux_socket_exists(const char *root_id);

/* Set t up for the repository with identity root_id (the socket and config
 * file are <dir>/<root_id>{,.conf}); envp is the caller's environment. Finds
 * tmux in PATH and checks its version (>= 3.2). -errno with *cause saying
 * what to do. */
int tmux_init(struct tmux *t, const char *root_id, char *const *envp, char **cause);
void tmux_finish(struct tmux *t);

/* Run `tmux -S socket -f conf ARGS...` (args NULL-terminated, one command;
 * each argument reaches it unchanged, a trailing ';' included). out (may be
 * NULL) gets stdout; *msg (may be NULL; caller frees) tmux's error text. */
enum tmux_answer tmux_run(const struct tmux *t, const char *const *args, struct strbuf *out,
			  char **msg);

/* Is there a session name? 1 yes, 0 no (no server, or no such session),
 * -EIO with *msg when tmux's answer says neither. */
int tmux_has_session(const struct tmux *t, const char *name, char **msg);
/* Like tmux_has_session, from what t knows when it knows (one list-windows
 * otherwise). */
int tmux_session_known(struct tmux *t, const char *name, char **msg);
/* Does t know, from its own doing or an earlier answer, that session name
 * exists? No tmux call: false may mean "not known". */
bool tmux_session_known_exists(const struct tmux *t, const char *name);
/* Create session name (detached, its first window "shell" running argv in
 * cwd, env "K=V" entries set for it) unless it exists. 0, or -EIO with *msg. */
int tmux_ensure_session(struct tmux *t, const char *name, const char *cwd, const struct strvec *env,
			const char *const *argv, char **msg);
/* Run argv as the process of window `window` of session (which exists): the
 * window is created (at the end, not selected) or, when it exists, its pane
 * respawned (what still runs there is killed). *ret_pid: the pane's
 * process, from the same tmux command. */
int tmux_start_window(struct tmux *t, const char *session, const char *window, const char *cwd,
		      const struct strvec *env, const char *const *argv, pid_t *ret_pid,
		      char **msg);

/* A window to start: its name, argv run in cwd with env "K=V" entries (may
 * be NULL) set for it. */
struct tmux_window {
	const char *name;
	const char *cwd;
	const struct strvec *env;
	const char *const *argv;
};
/* tmux_start_window for each of w[0..n), in order, in one tmux command (a
 * command list; more when their arguments pass the 16 kB a tmux client
 * sends in one message). shell not NULL: a session that does not exist is made in
 * that command too, its first window "shell" running shell's program
 * (shell->name is not read); NULL: the session must exist. ret_pids[i] (room
 * for n): the pane's process of w[i]. *ret_n (also on failure): how many
 * started, in order; when fewer than n, w[*ret_n] could not start (-EIO,
 * *msg says why) and those after it were not tried. *ret_made (may be NULL;
 * also on failure): the session was made, or may have been (tmux failed
 * without saying), by this call, so its shell runs. 0 or -EIO. */
int tmux_start_windows(struct tmux *t, const char *session, const struct tmux_window *shell,
		       const struct tmux_window *w, size_t n, pid_t *ret_pids, size_t *ret_n,
		       bool *ret_made, char **msg);

/* What a window's pane is: its process, whether it is dead and, if so, how
 * it ended (status, or signal: 3.3+ only). tmux shows a pane dead before it
 * knows how it ended, and (3.3a, seen after respawn-pane) sometimes never
 * learns it: a hint for messages, never a record (the shim keeps those). */
struct tmux_pane {
	pid_t pid;
	bool dead;
	int dead_status; /* -1 unknown */
	int dead_signal; /* 0 unknown or none */
};
/* 0, -ENOENT (no server, session or window), or -EIO with *msg. */
int tmux_pane_info(const struct tmux *t, const char *session, const char *window,
		   struct tmux_pane *ret, char **msg);
/* The processes of the live panes of session name (*v: caller frees; none
 * when there is no such session). 0 or -EIO with *msg. */
int tmux_session_pids(const struct tmux *t, const char *name, pid_t **v, size_t *n, char **msg);
/* Kill session name and check with has-session that it is gone. 0 (also
 * when there was none), or -EIO with *msg. */
int tmux_kill_session(struct tmux *t, const char *name, char **msg);

/* End the repository's tmux server (kill-server on t's socket, no other)
 * and wait until its process is gone; then its socket and config file are
 * removed (a stale socket that no server answers on too). *ret_pid: the
 * server's pid, 0 when none ran. 0, or -EIO with *msg. */
int tmux_kill_server(struct tmux *t, pid_t *ret_pid, char **msg);

/* Parse tmux's answer of lines "<pid>[ <rest>]" (buf is changed): *n lines,
 * the first pid in *first (may be NULL), each rest appended to rest (may be
 * NULL). -EIO when a line does not start with a pid: an empty or
 * unreadable field is never taken for "none". */
int tmux_pid_lines(char *buf, pid_t *first, struct strvec *rest, size_t *n);
/* How many clients are attached to session name (0 when there is no server
 * or no such session). -EIO with *msg when tmux's answer says neither, or
 * has a line that is not a client's pid: never read as "none". */
int tmux_session_clients(const struct tmux *t, const char *name, size_t *ret_n, char **msg);
/* The server's pid and its sessions' names (appended to names, may be
 * NULL); *ret_pid 0 when no server runs. -EIO with *msg when tmux's answer
 * says neither. */
int tmux_server_sessions(const struct tmux *t, pid_t *ret_pid, struct strvec *names, char **msg);
/* The command line of `tmux attach` to window (NULL: the session's current
 * one) of session, appended to argv. */
void tmux_attach_argv(const struct tmux *t, const char *session, const char *window,
		      struct strvec *argv);

#endif
