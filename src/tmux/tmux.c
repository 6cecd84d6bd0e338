/*
 * tmux.c: the tmux driver (see tmux.h).
 */
#include "util/common.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "proc/pidref.h"
#include "proc/run.h"
#include "tmux/tmux.h"
#include "util/fsutil.h"
#include "util/parse.h"

#define TMUX_TIMEOUT_MS 10000
#define SHELL_WINDOW "shell"

static const char conf_text[] =
	"# berth's private tmux server for one repository. Generated: berth\n"
	"# rewrites it. No user configuration is read by this server.\n"
	"set -g remain-on-exit on\n"
	"set -g default-shell /bin/sh\n"
	"set -g history-limit 50000\n"
	"set -g status-left '[berth #{session_name}] '\n"
	"set -g status-left-length 40\n";

int tmux_version_parse(const char *text, int *ret)
{
	const char *p = text;
	unsigned long major, minor;
	char *end;

	if (strncmp(p, "tmux ", 5))
		return -EINVAL;
	p += 5;
	if (!strncmp(p, "master", 6)) {
		*ret = 9999;
		return 0;
	}
	if (!strncmp(p, "next-", 5))
		p += 5;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	major = strtoul(p, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	minor = strtoul(end + 1, &end, 10);
	/* a letter suffix ("3.3a"), "-rc", or the end of the line */
	if (major > 98 || minor > 99 ||
	    (*end && *end != '\n' && *end != '-' && !(*end >= 'a' && *end <= 'z')))
		return -EINVAL;
	*ret = (int)(major * 100 + minor);
	return 0;
}

char *tmux_socket_dir_path(void)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");

	return rt && *rt == '/' ? xasprintf("%s/berth", rt)
				: xasprintf("/tmp/berth-%u", (unsigned)getuid());
}

int tmux_socket_dir_check(const char *dir, char **cause)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		*cause = xasprintf("cannot read '%s': %s", dir, strerror(errno));
		return -(errno ? errno : EIO);
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		*cause = xasprintf("'%s' must be a directory of yours that nobody else can "
				   "enter (mode 0700): remove it, or set XDG_RUNTIME_DIR",
				   dir);
		return -EPERM;
	}
	return 0;
}

int tmux_socket_dir(char **ret, char **cause)
{
	char *dir = tmux_socket_dir_path();
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		*cause = xasprintf("cannot create '%s': %s", dir, strerror(-r));
		free(dir);
		return r;
	}
	r = tmux_socket_dir_check(dir, cause);
	if (r == -ENOENT) /* removed under us */
		*cause = xasprintf("cannot read '%s': %s", dir, strerror(ENOENT));
	if (r < 0) {
		free(dir);
		return r;
	}
	*ret = dir;
	return 0;
}

bool tmux_socket_exists(const char *root_id)
{
	char *dir = tmux_socket_dir_path(), *path = xasprintf("%s/%s", dir, root_id);
	struct stat st;
	bool r = lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);

	free(dir);
	free(path);
	return r;
}

/* ---- running tmux ---- */

static enum tmux_answer classify(const char *err)
{
	if (strstr(err, "no server running on") ||
	    (strstr(err, "error connecting to") &&
	     (strstr(err, "No such file or directory") || strstr(err, "Connection refused"))))
		return TMUX_NO_SERVER;
	/* "no current target": the server has no session at all (our client is
	 * never attached, and tmux looks for a current session before it reads
	 * the target), so it has not the one named either. */
	if (strstr(err, "can't find session") || strstr(err, "can't find window") ||
	    strstr(err, "can't find pane") || strstr(err, "session not found") ||
	    strstr(err, "no current target"))
		return TMUX_NO_TARGET;
	return TMUX_FAILED;
}

static char *trimmed(const struct strbuf *sb)
{
	size_t n = sb->len;

	while (n && (sb->buf[n - 1] == '\n' || sb->buf[n - 1] == ' '))
		n--;
	return xstrndup(sb->buf ? sb->buf : "", n);
}

/* Run tmux with args as given (argv[0] is "tmux"). */
static enum tmux_answer run_raw(const struct tmux *t, struct strvec *argv, struct strbuf *out,
				char **msg)
{
	struct spawn_opts o = {0};
	char *why = NULL;
	enum tmux_answer a;
	int r;

	o.argv = strvec_argv(argv);
	o.envp = strvec_argv((struct strvec *)&t->env);
	o.cwd = "/";
	o.stdin_fd = -1;
	/* A server that is exiting (its last session just killed, by us or by
	 * another berth a moment ago) may take the connection and go: "server
	 * exited unexpectedly". Whatever the command did went with that
	 * server, so it is asked again (a command that starts a server then
	 * starts a new one). */
	for (int tries = 0;; tries++) {
		size_t mark = out ? out->len : 0;

		r = spawn_run_checked(&o, TMUX_TIMEOUT_MS, out, &why);
		if (r != -EIO || tries == 4 || !why || !strstr(why, "server exited unexpectedly"))
			break;
		if (out && out->buf) {
			out->len = mark;
			out->buf[mark] = '\0';
		}
		free(why);
		why = NULL;
	}
	if (r == 0) {
		a = TMUX_OK;
	} else if (r == -ENOENT) {
		free(why);
		why = xstrdup("tmux is not installed (not found in PATH)");
		a = TMUX_FAILED;
	} else {
		/* a timeout or a start failure says neither "no server" nor
		 * "no target": failed */
		a = r == -EIO ? classify(why) : TMUX_FAILED;
	}
	if (msg)
		*msg = why;
	else
		free(why);
	return a;
}

/* An argument as tmux must get it to pass it on unchanged: tmux splits its
 * command list at an argument ending in ';' unless it ends in "\\;" (then
 * one backslash is dropped). */
static void push_arg(struct strvec *v, const char *a)
{
	size_t n = strlen(a);

	if (n && a[n - 1] == ';')
		strvec_pushf(v, "%.*s\\;", (int)(n - 1), a);
	else
		strvec_push(v, a);
}

/* "tmux -S socket -f conf" */
static void base_argv(const struct tmux *t, struct strvec *v)
{
	strvec_push(v, "tmux");
	strvec_push(v, "-S");
	strvec_push(v, t->socket);
	strvec_push(v, "-f");
	strvec_push(v, t->conf);
}

enum tmux_answer tmux_run(const struct tmux *t, const char *const *args, struct strbuf *out,
			  char **msg)
{
	struct strvec argv = STRVEC_INIT;
	enum tmux_answer a;

	base_argv(t, &argv);
	for (const char *const *p = args; *p; p++)
		push_arg(&argv, *p);
	a = run_raw(t, &argv, out, msg);
	strvec_clear(&argv);
	return a;
}

/* ---- set-up ---- */

static bool dropped_var(const char *kv)
{
	static const char *const drop[] = {"TMUX",          "TMUX_PANE",     "BERTH_ROOT_ID",
					   "BERTH_SESSION", "BERTH_SERVICE", NULL};

	for (const char *const *d = drop; *d; d++) {
		size_t n = strlen(*d);

		if (!strncmp(kv, *d, n) && kv[n] == '=')
			return true;
	}
	return false;
}

/* Write our config file at path unless it holds what we would write (every
 * command runs tmux_init: an fsync each time is ms for nothing). */
static int write_conf(const char *path)
{
	char *old = NULL;
	size_t len = 0;
	bool same = read_file(path, sizeof(conf_text), &old, &len) == 0 &&
		    len == sizeof(conf_text) - 1 && !memcmp(old, conf_text, len);

	free(old);
	return same ? 0 : write_file_atomic(path, conf_text, sizeof(conf_text) - 1, 0600);
}

int tmux_init(struct tmux *t, const char *root_id, char *const *envp, char **cause)
{
	struct strvec argv = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	char *dir = NULL, *msg = NULL;
	int r;

	memset(t, 0, sizeof(*t));
	for (char *const *p = envp; p && *p; p++)
		if (!dropped_var(*p))
			strvec_push(&t->env, *p);

	/* The version first: a missing or old tmux is the likelier problem. */
	strvec_push(&argv, "tmux");
	strvec_push(&argv, "-V");
	if (run_raw(t, &argv, &out, &msg) != TMUX_OK) {
		*cause = xasprintf("the tmux runner needs tmux %d.%d or later: %s; install it "
				   "(apt-get install tmux) or set runner = process",
				   TMUX_VERSION_MIN / 100, TMUX_VERSION_MIN % 100, msg);
		r = -ENOENT;
		goto fail;
	}
	if (tmux_version_parse(out.buf ? out.buf : "", &t->version) < 0) {
		char *v = trimmed(&out);

		*cause = xasprintf("cannot tell the version of tmux from '%s'", v);
		free(v);
		r = -ENOTSUP;
		goto fail;
	}
	if (t->version < TMUX_VERSION_MIN) {
		*cause = xasprintf("tmux %d.%d is too old: the tmux runner needs %d.%d or later "
				   "(or set runner = process)",
				   t->version / 100, t->version % 100, TMUX_VERSION_MIN / 100,
				   TMUX_VERSION_MIN % 100);
		r = -ENOTSUP;
		goto fail;
	}

	r = tmux_socket_dir(&dir, cause);
	if (r < 0)
		goto fail;
	t->socket = xasprintf("%s/%s", dir, root_id);
	t->conf = xasprintf("%s/%s.conf", dir, root_id);
	if (strlen(t->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		*cause = xasprintf("the tmux socket path '%s' is too long for a socket: set "
				   "XDG_RUNTIME_DIR to a shorter directory",
				   t->socket);
		r = -ENAMETOOLONG;
		goto fail;
	}
	r = write_conf(t->conf);
	if (r < 0) {
		*cause = xasprintf("cannot write '%s': %s", t->conf, strerror(-r));
		goto fail;
	}
	r = 0;
	goto out;
fail:
	tmux_finish(t);
out:
	free(dir);
	free(msg);
	strvec_clear(&argv);
	strbuf_release(&out);
	return r;
}

static void forget(struct tmux *t)
{
	free(t->known);
	t->known = NULL;
	t->known_exists = false;
	strvec_clear(&t->known_windows);
}

void tmux_finish(struct tmux *t)
{
	forget(t);
	free(t->socket);
	free(t->conf);
	strvec_clear(&t->env);
	memset(t, 0, sizeof(*t));
}

/* ---- sessions and windows ---- */

static char *session_target(const char *name)
{
	return xasprintf("=%s", name);
}

static char *window_target(const char *session, const char *window)
{
	return xasprintf("=%s:=%s", session, window);
}

/* -c takes a format: '#' must be doubled. */
static char *format_escaped(const char *s)
{
	struct strbuf sb = STRBUF_INIT;

	for (; *s; s++) {
		if (*s == '#')
			strbuf_addch(&sb, '#');
		strbuf_addch(&sb, *s);
	}
	return strbuf_detach(&sb);
}

/* The end of new-session / new-window / respawn-pane: -c cwd, -e for each
 * of env, then the program's argv, each reaching tmux unchanged. */
static void push_program(struct strvec *v, const char *cwd, const struct strvec *env,
			 const char *const *argv)
{
	char *c = format_escaped(cwd);

	strvec_push(v, "-c");
	push_arg(v, c);
	free(c);
	for (size_t i = 0; env && i < env->n; i++) {
		strvec_push(v, "-e");
		push_arg(v, env->v[i]);
	}
	strvec_push(v, "--");
	for (const char *const *p = argv; *p; p++)
		push_arg(v, *p);
}

int tmux_has_session(const struct tmux *t, const char *name, char **msg)
{
	char *target = session_target(name);
	const char *args[] = {"has-session", "-t", target, NULL};
	enum tmux_answer a = tmux_run(t, args, NULL, msg);

	free(target);
	if (a == TMUX_OK)
		return 1;
	if (a == TMUX_NO_SERVER || a == TMUX_NO_TARGET) {
		if (msg) {
			free(*msg);
			*msg = NULL;
		}
		return 0;
	}
	return -EIO;
}

/* Learn session's windows (one list-windows) unless known. */
static int know_session(struct tmux *t, const char *session, char **msg)
{
	char *target, *save = NULL;
	struct strbuf out = STRBUF_INIT;
	enum tmux_answer a;

	if (t->known && !strcmp(t->known, session))
		return 0;
	forget(t);
	target = xasprintf("=%s:", session);
	{
		const char *args[] = {"list-windows", "-t", target, "-F", "#{window_name}", NULL};

		a = tmux_run(t, args, &out, msg);
	}
	free(target);
	if (a == TMUX_FAILED) {
		strbuf_release(&out);
		return -EIO;
	}
	if (a != TMUX_OK && msg) {
		free(*msg);
		*msg = NULL;
	}
	t->known = xstrdup(session);
	t->known_exists = a == TMUX_OK;
	strbuf_addch(&out, '\0'); /* a buffer even for no output */
	for (char *w = a == TMUX_OK ? strtok_r(out.buf, "\n", &save) : NULL; w;
	     w = strtok_r(NULL, "\n", &save))
		strvec_push(&t->known_windows, w);
	strbuf_release(&out);
	return 0;
}

bool tmux_session_known_exists(const struct tmux *t, const char *name)
{
	return t->known && !strcmp(t->known, name) && t->known_exists;
}

int tmux_session_known(struct tmux *t, const char *name, char **msg)
{
	int r = know_session(t, name, msg);

	return r < 0 ? r : t->known_exists;
}

/* "new-session" making session with its first window "shell" running
 * shell's program. */
static void push_new_session(struct strvec *v, const char *session, const struct tmux_window *shell)
{
	strvec_push(v, "new-session");
	strvec_push(v, "-d");
	strvec_push(v, "-s");
	strvec_push(v, session);
	strvec_push(v, "-n");
	strvec_push(v, SHELL_WINDOW);
	strvec_push(v, "-x");
	strvec_push(v, "200");
	strvec_push(v, "-y");
	strvec_push(v, "50");
	push_program(v, shell->cwd, shell->env, shell->argv);
}

/* The command that starts w in session and prints its pane's pid: a new
 * window, or (exists) its pane respawned, then its pid listed. */
static void push_window(struct strvec *v, const char *session, const struct tmux_window *w,
			bool exists)
{
	if (exists) {
		/* Its shim ended (the pane is dead): respawn in place. */
		strvec_push(v, "respawn-pane");
		strvec_push(v, "-k");
		strvec_push(v, "-t");
		strvec_push_owned(v, window_target(session, w->name));
	} else {
		strvec_push(v, "new-window");
		strvec_push(v, "-d");
		strvec_push(v, "-P");
		strvec_push(v, "-F");
		strvec_push(v, "#{pane_pid}");
		strvec_push(v, "-t");
		strvec_pushf(v, "=%s:", session);
		strvec_push(v, "-n");
		strvec_push(v, w->name);
	}
	push_program(v, w->cwd, w->env, w->argv);
	if (exists) {
		/* the pid, in the same call (the window exists: no fallback) */
		strvec_push(v, ";");
		strvec_push(v, "list-panes");
		strvec_push(v, "-t");
		strvec_push_owned(v, window_target(session, w->name));
		strvec_push(v, "-F");
		strvec_push(v, "#{pane_pid}");
	}
}

/* What tmux's client sends of a command list (its arguments, each with its
 * NUL) must fit in one message of at most 16 kB (MAX_IMSGSIZE, less a
 * header): past that it refuses the whole with "command too long". */
#define TMUX_COMMAND_MAX 16000
#define BASE_ARGC 5 /* "tmux -S socket -f conf" */

/* The bytes of v's arguments from the from-th on, as tmux's client counts. */
static size_t args_size(const struct strvec *v, size_t from)
{
	size_t n = 0;

	for (size_t i = from; i < v->n; i++)
		n += strlen(v->v[i]) + 1;
	return n;
}

/* The pids tmux printed, one a line, into pids (room for max): how many,
 * or -EIO (a line that is not a pid, or more lines than asked for). */
static int pane_pids(const struct strbuf *out, pid_t *pids, size_t max, size_t *ret_n)
{
	const char *p = out->buf ? out->buf : "";
	size_t n = 0;

	while (*p) {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len);
		int64_t v;
		int r = parse_i64(line, 1, INT32_MAX, &v);

		free(line);
		if (r < 0 || n == max)
			return -EIO;
		pids[n++] = (pid_t)v;
		p += len;
		if (*p)
			p++;
	}
	*ret_n = n;
	return 0;
}

int tmux_start_windows(struct tmux *t, const char *session, const struct tmux_window *shell,
		       const struct tmux_window *w, size_t n, pid_t *ret_pids, size_t *ret_n,
		       bool *ret_made, char **msg)
{
	struct strbuf out = STRBUF_INIT;
	bool retried = false, made = false;
	size_t done = 0;
	int r = 0;

	for (;;) {
		struct strvec args = STRVEC_INIT;
		bool create, known = t->known && !strcmp(t->known, session);
		enum tmux_answer a;
		char *why = NULL;
		size_t k = 0, m;

		/* Which windows exist (to respawn them) must be known, unless
		 * the session may be made here: then, knowing nothing, make it
		 * with the windows in the one command, which fails whole
		 * ("duplicate session", nothing done) when the session is
		 * there. */
		if (!known && !shell) {
			r = know_session(t, session, msg);
			if (r < 0)
				break;
			known = true;
		}
		create = shell && (!known || !t->known_exists);
		if (!create && done == n) {
			r = 0;
			break;
		}
		base_argv(t, &args);
		if (create)
			push_new_session(&args, session, shell);
		/* As many windows as fit in one command (at least one). */
		for (m = done; m < n; m++) {
			struct strvec one = STRVEC_INIT;

			if (create || m > done)
				strvec_push(&one, ";");
			push_window(&one, session, &w[m],
				    !create && strvec_find(&t->known_windows, w[m].name) >= 0);
			if (m > done &&
			    args_size(&args, BASE_ARGC) + args_size(&one, 0) > TMUX_COMMAND_MAX) {
				strvec_clear(&one);
				break;
			}
			for (size_t j = 0; j < one.n; j++)
				strvec_push(&args, one.v[j]);
			strvec_clear(&one);
		}
		strbuf_reset(&out);
		a = run_raw(t, &args, &out, &why);
		strvec_clear(&args);
		made |= create && !(a != TMUX_OK && why && strstr(why, "duplicate session"));
		if (pane_pids(&out, ret_pids + done, m - done, &k) < 0 ||
		    (a == TMUX_OK && k != m - done)) {
			forget(t);
			free(why);
			if (msg)
				*msg = xasprintf("unexpected answer from tmux: '%s'",
						 out.buf ? out.buf : "");
			r = -EIO;
			break;
		}
		if (a == TMUX_OK) {
			if (create) {
				forget(t);
				t->known = xstrdup(session);
				t->known_exists = true;
				strvec_push(&t->known_windows, SHELL_WINDOW);
			}
			for (size_t i = done; i < m; i++)
				if (strvec_find(&t->known_windows, w[i].name) < 0)
					strvec_push(&t->known_windows, w[i].name);
			free(why);
			done = m;
			r = 0;
			if (done == n)
				break;
			continue;
		}
		/* Those before the one that failed did start. */
		done += k;
		forget(t);
		if (create && !k && why && strstr(why, "duplicate session")) {
			/* Made by someone else in between, or there before us:
			 * nothing ran. Learn its windows (unless there are none
			 * to start). */
			free(why);
			if (done == n) {
				r = 0;
				break;
			}
			r = know_session(t, session, msg);
			if (r < 0)
				break;
			continue;
		}
		if ((a == TMUX_NO_TARGET || a == TMUX_NO_SERVER) && !retried) {
			/* What we knew is stale (a window closed by hand?): ask again. */
			retried = true;
			free(why);
			continue;
		}
		if (msg)
			*msg = why;
		else
			free(why);
		r = -EIO;
		break;
	}
	*ret_n = done;
	if (ret_made)
		*ret_made = made;
	strbuf_release(&out);
	return r;
}

int tmux_ensure_session(struct tmux *t, const char *name, const char *cwd, const struct strvec *env,
			const char *const *argv, char **msg)
{
	const struct tmux_window shell = {SHELL_WINDOW, cwd, env, argv};
	size_t n;

	return tmux_start_windows(t, name, &shell, NULL, 0, NULL, &n, NULL, msg);
}

int tmux_pane_info(const struct tmux *t, const char *session, const char *window,
		   struct tmux_pane *ret, char **msg)
{
	char *target = window_target(session, window);
	const char *fmt =
		t->version >= 303
			? "#{pane_pid} #{pane_dead} #{pane_dead_status}. #{pane_dead_signal}."
			: "#{pane_pid} #{pane_dead} #{pane_dead_status}. .";
	/* Not display-message: it falls back to the current pane when the
	 * target does not resolve. */
	const char *args[] = {"list-panes", "-t", target, "-F", fmt, NULL};
	struct strbuf out = STRBUF_INIT;
	enum tmux_answer a = tmux_run(t, args, &out, msg);
	struct tmux_pane p = {.dead_status = -1};
	char f[4][32] = {{0}};
	int r = 0;

	free(target);
	if (a == TMUX_NO_SERVER || a == TMUX_NO_TARGET) {
		r = -ENOENT;
		goto out;
	}
	if (a != TMUX_OK) {
		r = -EIO;
		goto out;
	}
	/* Fields may be empty: "4242 1 3. ." -> pid, dead, "3.", "." */
	if (!out.buf || sscanf(out.buf, "%31s %31s %31s %31s", f[0], f[1], f[2], f[3]) != 4) {
		if (msg)
			*msg = xasprintf("unexpected answer from tmux: '%s'",
					 out.buf ? out.buf : "");
		r = -EIO;
		goto out;
	}
	{
		int64_t v;

		if (parse_i64(f[0], 1, INT32_MAX, &v) < 0) {
			if (msg)
				*msg = xasprintf("unexpected pane pid '%s' from tmux", f[0]);
			r = -EIO;
			goto out;
		}
		p.pid = (pid_t)v;
		p.dead = !strcmp(f[1], "1");
		f[2][strlen(f[2]) - 1] = '\0';
		f[3][strlen(f[3]) - 1] = '\0';
		if (*f[2] && parse_i64(f[2], 0, 255, &v) == 0)
			p.dead_status = (int)v;
		if (*f[3] && parse_i64(f[3], 1, 64, &v) == 0)
			p.dead_signal = (int)v;
	}
	*ret = p;
out:
	strbuf_release(&out);
	return r;
}

int tmux_start_window(struct tmux *t, const char *session, const char *window, const char *cwd,
		      const struct strvec *env, const char *const *argv, pid_t *ret_pid, char **msg)
{
	const struct tmux_window w = {window, cwd, env, argv};
	pid_t pid;
	size_t n;
	int r = tmux_start_windows(t, session, NULL, &w, 1, &pid, &n, NULL, msg);

	if (r == 0)
		*ret_pid = pid;
	return r;
}

int tmux_session_pids(const struct tmux *t, const char *name, pid_t **v, size_t *n, char **msg)
{
	char *target = xasprintf("=%s:", name);
	const char *args[] = {"list-panes", "-s", "-t", target, "-F", "#{pane_pid} #{pane_dead}",
			      NULL};
	struct strbuf out = STRBUF_INIT;
	enum tmux_answer a = tmux_run(t, args, &out, msg);
	size_t alloc = 0;
	char *save = NULL;

	free(target);
	*v = NULL;
	*n = 0;
	if (a == TMUX_NO_SERVER || a == TMUX_NO_TARGET) {
		if (msg) {
			free(*msg);
			*msg = NULL;
		}
		strbuf_release(&out);
		return 0;
	}
	if (a != TMUX_OK) {
		strbuf_release(&out);
		return -EIO;
	}
	strbuf_addch(&out, '\0'); /* a buffer even for no output */
	for (char *line = strtok_r(out.buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int64_t pid;
		char *sp = strchr(line, ' ');

		if (!sp || strcmp(sp + 1, "0"))
			continue; /* dead, or unreadable */
		*sp = '\0';
		if (parse_i64(line, 1, INT32_MAX, &pid) < 0)
			continue;
		XGROW(*v, alloc, *n + 1);
		(*v)[(*n)++] = (pid_t)pid;
	}
	strbuf_release(&out);
	return 0;
}

int tmux_kill_session(struct tmux *t, const char *name, char **msg)
{
	char *target = session_target(name);
	const char *args[] = {"kill-session", "-t", target, NULL};
	enum tmux_answer a = tmux_run(t, args, NULL, msg);
	int r;

	free(target);
	forget(t);
	/* Believe has-session, not kill-session's answer: killing the last
	 * session ends the server, and the client may then report "server
	 * exited unexpectedly" or "no current target" for a kill that was
	 * done. */
	r = tmux_has_session(t, name, NULL);
	if (r == 0) {
		if (msg) {
			free(*msg);
			*msg = NULL;
		}
		return 0;
	}
	if (a != TMUX_FAILED && msg) {
		free(*msg);
		*msg = r > 0 ? xasprintf("tmux session %s is still there after kill-session", name)
			     : xstrdup("tmux does not answer has-session after kill-session");
	}
	return -EIO;
}

int tmux_kill_server(struct tmux *t, pid_t *ret_pid, char **msg)
{
	const char *args[] = {"kill-server", NULL};
	struct proc_ref id = {0};
	int r;

	*ret_pid = 0;
	forget(t);
	r = tmux_server_sessions(t, &id.pid, NULL, msg);
	if (r < 0)
		return r;
	if (id.pid && proc_start_time(id.pid, &id.start_time) == 0) {
		/* Believe the server's process, not kill-server's answer (the
		 * client may hear "server exited unexpectedly" for a kill that
		 * was done). */
		tmux_run(t, args, NULL, NULL);
		if (!pidref_wait_gone(&id, TMUX_TIMEOUT_MS)) {
			if (msg) {
				free(*msg);
				*msg = xasprintf("the tmux server (pid %d) is still there %d s "
						 "after kill-server",
						 (int)id.pid, TMUX_TIMEOUT_MS / 1000);
			}
			return -EIO;
		}
		*ret_pid = id.pid;
	}
	unlink(t->socket);
	unlink(t->conf);
	return 0;
}

void tmux_attach_argv(const struct tmux *t, const char *session, const char *window,
		      struct strvec *argv)
{
	strvec_push(argv, "tmux");
	strvec_push(argv, "-S");
	strvec_push(argv, t->socket);
	strvec_push(argv, "-f");
	strvec_push(argv, t->conf);
	if (window) {
		strvec_push(argv, "select-window");
		strvec_push(argv, "-t");
		strvec_push_owned(argv, window_target(session, window));
		strvec_push(argv, ";");
	}
	strvec_push(argv, "attach-session");
	strvec_push(argv, "-t");
	strvec_push_owned(argv, session_target(session));
}

int tmux_pid_lines(char *buf, pid_t *first, struct strvec *rest, size_t *n)
{
	char *line = buf;

	*n = 0;
	/* line by line, empty ones included: strtok would skip them */
	while (*line) {
		char *nl = strchr(line, '\n'), *next = nl ? nl + 1 : line + strlen(line), *sp;
		int64_t pid;

		if (nl)
			*nl = '\0';
		if ((sp = strchr(line, ' ')))
			*sp = '\0';
		if (parse_i64(line, 1, INT32_MAX, &pid) < 0)
			return -EIO;
		if (first && !*n)
			*first = (pid_t)pid;
		if (rest && sp)
			strvec_push(rest, sp + 1);
		(*n)++;
		line = next;
	}
	return 0;
}

int tmux_session_clients(const struct tmux *t, const char *name, size_t *ret_n, char **msg)
{
	char *target = xasprintf("=%s", name);
	const char *args[] = {"list-clients", "-t", target, "-F", "#{client_pid}", NULL};
	struct strbuf out = STRBUF_INIT;
	enum tmux_answer a = tmux_run(t, args, &out, msg);
	int r = 0;

	free(target);
	*ret_n = 0;
	if (a == TMUX_OK) {
		strbuf_addch(&out, '\0');
		r = tmux_pid_lines(out.buf, NULL, NULL, ret_n);
		if (r < 0 && msg) {
			free(*msg);
			*msg = xstrdup(
				"tmux list-clients printed a line that is not a client's pid");
		}
	} else if (a == TMUX_FAILED) {
		r = -EIO;
	}
	strbuf_release(&out);
	return r;
}

int tmux_server_sessions(const struct tmux *t, pid_t *ret_pid, struct strvec *names, char **msg)
{
	const char *args[] = {"list-sessions", "-F", "#{pid} #{session_name}", NULL};
	struct strbuf out = STRBUF_INIT;
	enum tmux_answer a = tmux_run(t, args, &out, msg);
	size_t n = 0;
	int r = 0;

	*ret_pid = 0;
	if (a == TMUX_OK) {
		strbuf_addch(&out, '\0');
		r = tmux_pid_lines(out.buf, ret_pid, names, &n);
	} else if (a == TMUX_FAILED) {
		r = -EIO;
	}
	strbuf_release(&out);
	return r;
}
