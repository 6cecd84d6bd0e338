/*
 * config.c: .berth.ini to struct config and back.
 *
 * One static option table (section, key, type, range, default, offset, help)
 * drives everything: config_init applies its defaults, the inih handler parses
 * and range-checks values through it, config_show_each hands every value back
 * typed and as text (config_show's INI, `config show --json`) and
 * config_finish frees through it. config_validate then checks what spans keys
 * and services: the port gap across slots and bump bands, depends_on targets
 * and cycles, docker services against the mode and the compose file.
 *
 * inih is fed through ini_parse_stream() with our own line reader, because the
 * library's build-time choices would change shell commands: Debian builds it
 * with inline comments on (`echo a ; echo b` reaches the handler as `echo a`)
 * and a 200-byte line buffer. The reader does the lexing itself (whole-line
 * comments only, UTF-8 BOM, CRLF, trimming, a 4096-byte line limit with an
 * error past it, no continuation lines) and hands inih only short canonical
 * lines: `[section]` and `key=LINENO`. The value stays in the parse context,
 * so no inih build (inline comment prefixes, line limit, multi-line mode) can
 * alter a byte of it, and the handler knows the line of every key.
 */
#include "util/common.h"

#include <ctype.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <regex.h>
#include <signal.h>
#include <strings.h>

#include "docker/compose.h"
#include "config/config.h"
#include "util/closest.h"
#include "util/hash.h"
#include "util/fsutil.h"
#include "util/parse.h"

#define CONFIG_MAX_LINE 4096          /* bytes of one line, without its newline */
#define CONFIG_MAX_SIZE (1024 * 1024) /* bytes of the whole file */
/* What validation compares pair by pair and orders is bounded: services,
 * ports (base_port and extra_ports), the env names they export (port_env and
 * extra ports' names) and depends_on entries, each of all services. */
#define CONFIG_MAX_SERVICES 256
#define CONFIG_MAX_PORTS 1024
#define CONFIG_MAX_ENV_NAMES 1024
#define CONFIG_MAX_DEPENDS 1024
#define KEY_MAX 64
#define SERVICE_NAME_MAX 31
#define MS_MIN 60000ULL
#define MS_HOUR 3600000ULL

#define CONT_HINT " (continuation lines are not supported: put the whole value on one line)"
#define COMMENT_HINT " (comments must be on their own line)"

enum sect { SECT_NONE, SECT_BERTH, SECT_SERVICE, SECT_HOOKS, SECT_DATABASE, SECT_WATCH };
static const char *const sect_names[] = {"", "berth", "service", "hooks", "database", "watch"};

enum opt_type {
	T_STRING,      /* char *, trimmed */
	T_COMMAND,     /* char *, byte-exact; empty = NULL */
	T_BOOL,        /* bool */
	T_UINT,        /* unsigned in [min, max] */
	T_PORT,        /* uint16_t in [1, 65535]; empty = 0 (none) */
	T_DURATION,    /* uint64_t milliseconds in [min, max] */
	T_ENUM,        /* int index into names */
	T_WORDS,       /* struct strvec, space separated; replaces */
	T_ENV,         /* struct strvec of KEY=VALUE; each line appends */
	T_EXTRA_PORTS, /* struct extra_port *, size_t count right after it */
	T_SIGNAL,      /* int signal number */
	T_READY,       /* char *: port | none | http:/PATH | exec:CMD | log:REGEX */
};

#define OPT_EMPTY 1u  /* an empty value unsets the key (NULL, 0) */
#define OPT_REPEAT 2u /* may be given on several lines; each appends */

typedef int check_fn(const char *word, char **why);

struct option {
	enum sect sect;
	const char *key;
	enum opt_type type;
	uint64_t min, max;        /* T_UINT, T_DURATION (ms) */
	const char *def;          /* default as text; NULL: none, or derived */
	size_t off;               /* offsetof the field in the section's struct */
	const char *const *names; /* T_ENUM: the values in enum order, NULL-terminated */
	check_fn *check;          /* T_STRING, T_WORDS: extra check of each word */
	unsigned flags;
	const char *help;
};

static const char *const mode_names[] = {"host", "hybrid", "container", NULL};
static const char *const runner_names[] = {"process", "tmux", NULL};
static const char *const run_names[] = {"native", "docker", NULL};
static const char *const restart_names[] = {"no", "on-failure", "always", NULL};
static const char *const inherit_names[] = {"symlink", "copy", NULL};
static const char *const engine_names[] = {"postgres", NULL};

_Static_assert(sizeof(enum config_mode) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum config_runner) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum service_run) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum restart_policy) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum inherit_mode) == sizeof(int), "enum stored as int");
_Static_assert(sizeof(enum db_engine) == sizeof(int), "enum stored as int");

static check_fn check_prefix, check_relpath, check_env_name, check_service_name, check_user_name,
	check_db_url, check_db_name;

#define B(f) offsetof(struct config, f)
#define S(f) offsetof(struct service_config, f)
#define H(f) offsetof(struct hooks_config, f)
#define W(f) offsetof(struct watch_config, f)
#define D(f) offsetof(struct database_config, f)

/* clang-format off */
static const struct option options[] = {
	{SECT_BERTH, "mode", T_ENUM, 0, 0, "host", B(mode), mode_names, NULL, 0,
	 "host: every service native; hybrid: run = docker services in compose, the rest native; "
	 "container: the whole compose file"},
	{SECT_BERTH, "runner", T_ENUM, 0, 0, "process", B(runner), runner_names, NULL, 0,
	 "how native services run: process (a shim each) or tmux (a window each)"},
	{SECT_BERTH, "max_slots", T_UINT, 1, 64, "8", B(max_slots), NULL, NULL, 0,
	 "how many sessions can exist at once"},
	{SECT_BERTH, "slot_stride", T_UINT, 1, 1000, "1", B(slot_stride), NULL, NULL, 0,
	 "port spacing between slots"},
	{SECT_BERTH, "port_search_range", T_UINT, 0, 100, "10", B(port_search_range), NULL, NULL, 0,
	 "bump bands tried when a port is taken"},
	{SECT_BERTH, "strict_port", T_BOOL, 0, 0, "false", B(strict_port), NULL, NULL, 0,
	 "true: a taken port is an error, never bumped"},
	{SECT_BERTH, "worktree_dir", T_STRING, 0, 0, ".berth/worktrees", B(worktree_dir), NULL,
	 NULL, 0, "where session worktrees go (relative to the root, or absolute)"},
	{SECT_BERTH, "prefix", T_STRING, 0, 0, NULL, B(prefix), NULL, check_prefix, 0,
	 "compose project = PREFIX_SLUG; default: the root's name and a hash of its path"},
	{SECT_BERTH, "compose_file", T_STRING, 0, 0, "docker-compose.yml", B(compose_file), NULL,
	 NULL, 0, "the compose file, relative to the root"},
	{SECT_BERTH, "inherit_env", T_WORDS, 0, 0, ".env .env.local", B(inherit_env), NULL,
	 check_relpath, 0, "files linked (or copied) from the main root into each worktree"},
	{SECT_BERTH, "inherit_env_mode", T_ENUM, 0, 0, "symlink", B(inherit_env_mode),
	 inherit_names, NULL, 0, "symlink or copy the inherit_env files"},
	{SECT_BERTH, "stop_grace", T_DURATION, 0, MS_HOUR, "5s", B(stop_grace_ms), NULL, NULL, 0,
	 "TERM -> KILL escalation delay"},
	{SECT_BERTH, "startup_window", T_DURATION, 0, 10 * MS_MIN, "1.5s", B(startup_window_ms),
	 NULL, NULL, 0, "a service that dies this soon after exec fails `up`"},

	{SECT_SERVICE, "run", T_ENUM, 0, 0, "native", S(run), run_names, NULL, 0,
	 "native (berth runs the command) or docker (a compose service)"},
	{SECT_SERVICE, "command", T_COMMAND, 0, 0, NULL, S(command), NULL, NULL, 0,
	 "shell command (/bin/sh -c), kept byte for byte; none: ports only"},
	{SECT_SERVICE, "cwd", T_STRING, 0, 0, NULL, S(cwd), NULL, check_relpath, OPT_EMPTY,
	 "working directory relative to the worktree"},
	{SECT_SERVICE, "base_port", T_PORT, 1, 65535, NULL, S(base_port), NULL, NULL, OPT_EMPTY,
	 "port of slot 0: slot N gets base_port + N * slot_stride (docker: the container port)"},
	{SECT_SERVICE, "host_port", T_PORT, 1, 65535, NULL, S(host_port), NULL, NULL, OPT_EMPTY,
	 "docker: base of the host-side range instead of base_port"},
	{SECT_SERVICE, "port_env", T_WORDS, 0, 0, NULL, S(port_env), NULL, check_env_name, 0,
	 "extra env names exported with this service's port"},
	{SECT_SERVICE, "extra_ports", T_EXTRA_PORTS, 0, 0, NULL, S(extra), NULL, NULL, 0,
	 "more ports: NAME:BASE or NAME:BASE:ENV,ENV..."},
	{SECT_SERVICE, "env", T_ENV, 0, 0, NULL, S(env), NULL, NULL, OPT_REPEAT,
	 "KEY=VALUE words set in the service's environment; may repeat"},
	{SECT_SERVICE, "ready", T_READY, 0, 0, NULL, S(ready), NULL, NULL, 0,
	 "port | http:/PATH | exec:CMD | log:REGEX | none; default port with a base_port"},
	{SECT_SERVICE, "ready_timeout", T_DURATION, 1, 24 * MS_HOUR, "60s", S(ready_timeout_ms),
	 NULL, NULL, 0, "how long `up` waits for the service to be ready"},
	{SECT_SERVICE, "depends_on", T_WORDS, 0, 0, NULL, S(depends_on), NULL,
	 check_service_name, 0, "services started (and ready) before this one"},
	{SECT_SERVICE, "restart", T_ENUM, 0, 0, "no", S(restart), restart_names, NULL, 0,
	 "no, on-failure or always"},
	{SECT_SERVICE, "stop_signal", T_SIGNAL, 0, 0, "TERM", S(stop_signal), NULL, NULL, 0,
	 "first signal of a stop: TERM, INT, KILL, HUP, QUIT, USR1, USR2 or a number"},
	{SECT_SERVICE, "stop_grace", T_DURATION, 0, MS_HOUR, NULL, S(stop_grace_ms), NULL, NULL,
	 0, "time between the stop signal and SIGKILL; default: [berth] stop_grace"},
	{SECT_SERVICE, "user", T_STRING, 0, 0, NULL, S(user), NULL, check_user_name, OPT_EMPTY,
	 "run the service as this user (berth must run as root); default: berth's own"},
	{SECT_SERVICE, "oneshot", T_BOOL, 0, 0, "false", S(oneshot), NULL, NULL, 0,
	 "true: exiting 0 is success, not a failure"},

	{SECT_HOOKS, "pre_up", T_COMMAND, 0, 0, NULL, H(pre_up), NULL, NULL, 0,
	 "runs before the worktree is created"},
	{SECT_HOOKS, "post_create", T_COMMAND, 0, 0, NULL, H(post_create), NULL, NULL, 0,
	 "runs once, when the session's worktree is created (dependency installs)"},
	{SECT_HOOKS, "pre_spawn", T_COMMAND, 0, 0, NULL, H(pre_spawn), NULL, NULL, 0,
	 "runs before native services start"},
	{SECT_HOOKS, "post_up", T_COMMAND, 0, 0, NULL, H(post_up), NULL, NULL, 0,
	 "runs after every service is ready"},
	{SECT_HOOKS, "pre_down", T_COMMAND, 0, 0, NULL, H(pre_down), NULL, NULL, 0,
	 "runs before services are stopped"},
	{SECT_HOOKS, "post_down", T_COMMAND, 0, 0, NULL, H(post_down), NULL, NULL, 0,
	 "runs after the session is gone"},
	{SECT_HOOKS, "timeout", T_DURATION, 0, 24 * MS_HOUR, "10m", H(timeout_ms), NULL, NULL, 0,
	 "each hook is killed after this long"},

	{SECT_WATCH, "interval", T_DURATION, 1000, 24 * MS_HOUR, "30s", W(interval_ms), NULL, NULL,
	 0, "how often `berth watch` reconciles every session (deaths are seen at once)"},
	{SECT_WATCH, "idle_stop", T_DURATION, 0, 365 * 24 * MS_HOUR, "0", W(idle_stop_ms), NULL,
	 NULL, 0, "stop the services of a session idle this long, keeping worktree and slot; 0: never"},
	{SECT_WATCH, "autostart", T_BOOL, 0, 0, "false", W(autostart), NULL, NULL, 0,
	 "`berth up` starts `berth watch --daemon` when no watcher runs"},
	{SECT_WATCH, "events_keep", T_UINT, 100, 10000000, "10000", W(events_keep), NULL, NULL, 0,
	 "the event log keeps this many of the newest events"},
	{SECT_WATCH, "events_max_age", T_DURATION, MS_HOUR, 3650 * 24 * MS_HOUR, "30d",
	 W(events_max_age_ms), NULL, NULL, 0, "events older than this are dropped"},

	{SECT_DATABASE, "engine", T_ENUM, 0, 0, "postgres", D(engine), engine_names, NULL, 0,
	 "the database server: postgres"},
	{SECT_DATABASE, "url", T_STRING, 0, 0, NULL, D(url), NULL, check_db_url, OPT_EMPTY,
	 "postgres://USER:PASSWORD@HOST:PORT/DB of a server to use; empty: berth runs one for the "
	 "repository"},
	{SECT_DATABASE, "source", T_STRING, 0, 0, NULL, D(source), NULL, check_db_name, OPT_EMPTY,
	 "the database each session is cloned from (with its data); empty: an empty database"},
	{SECT_DATABASE, "port", T_PORT, 1, 65535, "54320", D(port), NULL, NULL, 0,
	 "berth's own server: the TCP port tried first (the next free one is taken)"},
	{SECT_DATABASE, "server_user", T_STRING, 0, 0, NULL, D(server_user), NULL, check_user_name,
	 OPT_EMPTY, "berth's own server, when berth runs as root: the user it runs as (default: "
	 "postgres, else nobody)"},
	{SECT_DATABASE, "timeout", T_DURATION, 1000, 10 * MS_MIN, "5s", D(timeout_ms), NULL, NULL,
	 0, "how long berth waits for the server to answer"},
};
/* clang-format on */

#define N_OPTIONS ARRAY_SIZE(options)

#define FIELD(base, o, type) ((type *)(void *)((char *)(base) + (o)->off))
#define CFIELD(base, o, type) ((const type *)(const void *)((const char *)(base) + (o)->off))

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{"TERM", SIGTERM}, {"INT", SIGINT},   {"KILL", SIGKILL}, {"HUP", SIGHUP},
	{"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
};

/* ---- small checks ---- */

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* ^[a-z0-9][a-z0-9_-]{0,max-1}$ */
static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || !is_lower_alnum(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool valid_env_name(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* Keys of the file: ^[A-Za-z][A-Za-z0-9_.-]*$, at most KEY_MAX bytes. */
static bool valid_key(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > KEY_MAX || !isalpha((unsigned char)*s))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

bool config_service_name_valid(const char *s)
{
	return valid_name(s, SERVICE_NAME_MAX);
}

static int check_prefix(const char *s, char **why)
{
	if (valid_name(s, SIZE_MAX))
		return 0;
	*why = xstrdup("expected lowercase letters, digits, '_' and '-', starting with a letter or "
		       "digit");
	return -EINVAL;
}

/* A relative path with no ".." component. */
static int check_relpath(const char *s, char **why)
{
	if (path_is_relative_below(s))
		return 0;
	*why = xasprintf("'%s': expected a relative path without '..'", s);
	return -EINVAL;
}

/* A name berth sets itself, which a port_env or an extra port's env name
 * would override for every service: why, or NULL. */
static const char *builtin_env_name(const char *s)
{
	if (!strcmp(s, "PORT"))
		return "berth sets PORT to each service's own port";
	if (!strncmp(s, "BERTH_", 6))
		return "BERTH_ names are berth's own";
	return NULL;
}

static int check_env_name(const char *s, char **why)
{
	if (valid_env_name(s))
		return 0;
	*why = xasprintf("'%s' is not an environment variable name (letters, digits and '_', not "
			 "starting with a digit)",
			 s);
	return -EINVAL;
}

/* A user name as useradd takes it (the user itself is looked up by validate
 * and when the service starts). */
static int check_user_name(const char *s, char **why)
{
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= 32 && s[0] != '-';

	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)s[i]) || strchr("._-", s[i]) ||
		     (s[i] == '$' && i == n - 1);
	if (ok)
		return 0;
	*why = xasprintf("'%s' is not a user name", s);
	return -EINVAL;
}

/* A postgres:// URL (libpq checks the rest when it connects). */
static int check_db_url(const char *s, char **why)
{
	if (!strncmp(s, "postgres://", 11) || !strncmp(s, "postgresql://", 13))
		return 0;
	*why = xstrdup("expected postgres://USER:PASSWORD@HOST:PORT/DB");
	return -EINVAL;
}

/* A database name: 1 to 63 bytes, no control characters. */
static int check_db_name(const char *s, char **why)
{
	size_t n = strlen(s);
	bool ok = n >= 1 && n <= 63;

	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	if (ok)
		return 0;
	*why = xasprintf("'%.80s' is not a database name (1 to 63 bytes, no control characters)",
			 s);
	return -EINVAL;
}

static int check_service_name(const char *s, char **why)
{
	if (valid_name(s, SERVICE_NAME_MAX))
		return 0;
	*why = xasprintf("'%s' is not a service name", s);
	return -EINVAL;
}

/* ---- values: parse, print, free through the table ---- */

static void free_extras(struct extra_port *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		strvec_clear(&v[i].env);
	}
	free(v);
}

static void free_value(const struct option *o, void *base)
{
	switch (o->type) {
	case T_STRING:
	case T_COMMAND:
	case T_READY:
		free(*FIELD(base, o, char *));
		*FIELD(base, o, char *) = NULL;
		break;
	case T_WORDS:
	case T_ENV:
		strvec_clear(FIELD(base, o, struct strvec));
		break;
	case T_EXTRA_PORTS: {
		struct service_config *s = base;

		free_extras(s->extra, s->n_extra);
		s->extra = NULL;
		s->n_extra = 0;
		break;
	}
	default:
		break;
	}
}

static const char *enum_expected(const char *const *names, struct strbuf *sb)
{
	size_t n = 0;

	while (names[n])
		n++;
	strbuf_adds(sb, "expected ");
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_adds(sb, i + 1 == n ? " or " : ", ");
		strbuf_adds(sb, names[i]);
	}
	return sb->buf;
}

static int parse_signal(const char *v, int *ret)
{
	const char *name = v;
	uint64_t n;

	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++) {
		if (!strcasecmp(name, signals[i].name)) {
			*ret = signals[i].sig;
			return 0;
		}
	}
	if (parse_u64(v, 1, 64, &n) < 0)
		return -EINVAL;
	*ret = (int)n;
	return 0;
}

#define READY_RE_MAX 1000 /* atoms of a log: pattern once its {m,n} are expanded */
#define READY_RE_GROUPS 64

static size_t sat_add(size_t a, size_t b)
{
	return a + b > READY_RE_MAX + 1 ? READY_RE_MAX + 1 : a + b;
}

static size_t sat_mul(size_t a, size_t b)
{
	return b && a > (READY_RE_MAX + 1) / b ? READY_RE_MAX + 1 : a * b;
}

/* The ']' that closes the bracket expression opened at p (or the last byte). */
static const char *bracket_end(const char *p)
{
	p++;
	p += *p == '^';
	p += *p == ']'; /* first: a member */
	while (*p && *p != ']') {
		const char *e = NULL;

		if (*p == '[' && p[1] && strchr(":=.", p[1])) {
			char close[3] = {p[1], ']', '\0'};

			e = strstr(p + 2, close);
		}
		p = e ? e + 2 : p + 1;
	}
	return *p ? p : p - 1;
}

/* A decimal number at *p (advanced past it), saturated. */
static size_t bound_number(const char **p)
{
	size_t v = 0;

	while (**p >= '0' && **p <= '9')
		v = sat_add(sat_mul(v, 10), (size_t)(*(*p)++ - '0'));
	return v;
}

/* The last item of a group repeated times times: only ever added to (a total
 * saturates, and regcomp builds what {0} then drops). */
static void repeat_last(size_t *total, size_t *last, size_t times)
{
	times = sat_mul(*last, times);
	if (times > *last) {
		*total = sat_add(*total, times - *last);
		*last = times;
	}
}

/* How many atoms the extended regular expression re stands for once glibc's
 * regcomp has expanded its repetitions, saturated past READY_RE_MAX: x{m,n}
 * is max(m, n) copies of x, x{m,} m + 1, x+ two (x x*), x* and x? one. Its
 * time and memory grow faster still ("(a{1,1000}){1,100}": 5 s and 820 MB;
 * "a{1,10000}": over 20 s; 67 '+' in a row: 2^67). Only what matters to the
 * count is parsed (escapes, bracket expressions, groups, repetitions);
 * regcomp judges the rest. */
static size_t regex_size(const char *re)
{
	size_t total[READY_RE_GROUPS], last[READY_RE_GROUPS], depth = 0;

	total[0] = last[0] = 0;
	for (const char *p = re; *p; p++) {
		size_t item = 1;

		if (*p == '\\' && p[1]) {
			p++;
		} else if (*p == '[') {
			p = bracket_end(p);
		} else if (*p == '(') {
			if (++depth == READY_RE_GROUPS)
				return READY_RE_MAX + 1;
			total[depth] = last[depth] = 0;
			continue;
		} else if (*p == ')' && depth) {
			item = total[depth--];
		} else if (*p == '*' || *p == '?') {
			continue;
		} else if (*p == '+') {
			repeat_last(&total[depth], &last[depth], 2);
			continue;
		} else if (*p == '{' && ((p[1] >= '0' && p[1] <= '9') || p[1] == ',')) {
			/* {m}, {m,}, {m,n} and glibc's {,n} (that is {0,n}) */
			const char *q = p + 1;
			size_t m = bound_number(&q), n = m;

			if (*q == ',') {
				q++;
				n = *q >= '0' && *q <= '9' ? bound_number(&q) : m + 1;
			}
			if (*q == '}') { /* else not a bound: regcomp says what it is */
				repeat_last(&total[depth], &last[depth], n > m ? n : m);
				p = q;
				continue;
			}
		}
		last[depth] = item;
		total[depth] = sat_add(total[depth], item);
	}
	/* a group left open counts too: regcomp expands before it sees that */
	while (depth) {
		depth--;
		total[depth] = sat_add(total[depth], total[depth + 1]);
	}
	return total[0];
}

static int parse_ready(const char *v, char **why)
{
	if (!strcmp(v, "port") || !strcmp(v, "none"))
		return 0;
	if (!strncmp(v, "http:", 5)) {
		if (v[5] == '/' && !strpbrk(v, " \t"))
			return 0;
		*why = xstrdup("expected http:/PATH (a path starting with '/', no spaces)");
		return -EINVAL;
	}
	if (!strncmp(v, "exec:", 5)) {
		if (v[5])
			return 0;
		*why = xstrdup("expected a command after exec:");
		return -EINVAL;
	}
	if (!strncmp(v, "log:", 4)) {
		regex_t re;
		int r;

		if (!v[4]) {
			*why = xstrdup("expected a regular expression after log:");
			return -EINVAL;
		}
		if (regex_size(v + 4) > READY_RE_MAX) {
			*why = xasprintf("the regular expression is too large: over %d atoms once "
					 "its {m,n} repetitions are expanded",
					 READY_RE_MAX);
			return -EINVAL;
		}
		r = regcomp(&re, v + 4, REG_EXTENDED | REG_NOSUB);
		if (r) {
			char msg[256];

			regerror(r, &re, msg, sizeof(msg));
			*why = xasprintf("bad regular expression: %s", msg);
			return -EINVAL;
		}
		regfree(&re);
		return 0;
	}
	*why = xstrdup("expected port, none, http:/PATH, exec:COMMAND or log:REGEX");
	return -EINVAL;
}

/* One NAME:BASE or NAME:BASE:ENV,ENV... word into x (zeroed; freed by the caller). */
static int parse_extra_word(const char *w, struct extra_port *x, char **why)
{
	const char *c1 = strchr(w, ':'), *c2, *p;
	uint64_t port;
	char *num;
	int r;

	if (!c1) {
		*why = xasprintf("'%s': expected NAME:PORT or NAME:PORT:ENV,ENV...", w);
		return -EINVAL;
	}
	x->name = xstrndup(w, (size_t)(c1 - w));
	if (!valid_name(x->name, SERVICE_NAME_MAX)) {
		*why = xasprintf("'%s': the name must be 1 to %d lowercase letters, digits, '_' "
				 "and '-', starting with a letter or digit",
				 w, SERVICE_NAME_MAX);
		return -EINVAL;
	}
	c2 = strchr(c1 + 1, ':');
	num = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
	r = parse_u64(num, 1, 65535, &port);
	free(num);
	if (r < 0) {
		*why = xasprintf("'%s': expected a port from 1 to 65535 after the name", w);
		return -EINVAL;
	}
	x->base = (uint16_t)port;
	for (p = c2; p && *p;) {
		size_t len;
		char *e;

		p++; /* the ':' or ',' */
		len = strcspn(p, ",");
		e = xstrndup(p, len);
		if (!valid_env_name(e)) {
			*why = xasprintf("'%s': '%s' is not an environment variable name", w, e);
			free(e);
			return -EINVAL;
		}
		strvec_push_owned(&x->env, e);
		p += len;
	}
	return 0;
}

/* NAME:BASE or NAME:BASE:ENV,ENV... words, names unique. */
static int parse_extra_ports(const char *v, struct extra_port **ret, size_t *ret_n, char **why)
{
	struct strvec words = STRVEC_INIT;
	struct extra_port *xs;
	size_t n = 0;

	strvec_split_ws(&words, v);
	xs = xcalloc(words.n ? words.n : 1, sizeof(*xs));
	for (size_t i = 0; i < words.n; i++) {
		n++;
		if (parse_extra_word(words.v[i], &xs[i], why) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(xs[j].name, xs[i].name)) {
				*why = xasprintf("extra port '%s' is named twice", xs[i].name);
				goto fail;
			}
		}
	}
	strvec_clear(&words);
	*ret = xs;
	*ret_n = n;
	return 0;
fail:
	free_extras(xs, n);
	strvec_clear(&words);
	return -EINVAL;
}

/* Parse v into the field of o at base; on error *why says what was expected. */
static int parse_value(const struct option *o, void *base, const char *v, char **why)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t n;
	bool b;
	int r;

	switch (o->type) {
	case T_STRING:
		if (!*v && !(o->flags & OPT_EMPTY)) {
			*why = xstrdup("expected a value");
			return -EINVAL;
		}
		if (*v && o->check && o->check(v, why) < 0)
			return -EINVAL;
		free_value(o, base);
		*FIELD(base, o, char *) = *v ? xstrdup(v) : NULL;
		return 0;
	case T_COMMAND:
		free_value(o, base);
		*FIELD(base, o, char *) = *v ? xstrdup(v) : NULL;
		return 0;
	case T_READY:
		if (parse_ready(v, why) < 0)
			return -EINVAL;
		free_value(o, base);
		*FIELD(base, o, char *) = xstrdup(v);
		return 0;
	case T_BOOL:
		if (parse_bool(v, &b) < 0) {
			*why = xstrdup("expected true or false");
			return -EINVAL;
		}
		*FIELD(base, o, bool) = b;
		return 0;
	case T_UINT:
		if (parse_u64(v, o->min, o->max, &n) < 0) {
			*why = xasprintf("expected a number from %" PRIu64 " to %" PRIu64, o->min,
					 o->max);
			return -EINVAL;
		}
		*FIELD(base, o, unsigned) = (unsigned)n;
		return 0;
	case T_PORT:
		if (!*v && (o->flags & OPT_EMPTY)) {
			*FIELD(base, o, uint16_t) = 0;
			return 0;
		}
		if (parse_u64(v, o->min, o->max, &n) < 0) {
			*why = xasprintf("expected a port from %" PRIu64 " to %" PRIu64, o->min,
					 o->max);
			return -EINVAL;
		}
		*FIELD(base, o, uint16_t) = (uint16_t)n;
		return 0;
	case T_DURATION:
		if (parse_duration_ms(v, &n) < 0 || n < o->min || n > o->max) {
			char *lo = format_duration_ms(o->min), *hi = format_duration_ms(o->max);

			*why = xasprintf(
				"expected a duration from %s to %s (like 500ms, 5s, 10m, 1h)", lo,
				hi);
			free(lo);
			free(hi);
			return -EINVAL;
		}
		*FIELD(base, o, uint64_t) = n;
		return 0;
	case T_ENUM:
		for (int i = 0; o->names[i]; i++) {
			if (!strcmp(v, o->names[i])) {
				*FIELD(base, o, int) = i;
				return 0;
			}
		}
		*why = xstrdup(enum_expected(o->names, &sb));
		strbuf_release(&sb);
		return -EINVAL;
	case T_WORDS: {
		struct strvec words = STRVEC_INIT;

		strvec_split_ws(&words, v);
		for (size_t i = 0; o->check && i < words.n; i++) {
			if (o->check(words.v[i], why) < 0) {
				strvec_clear(&words);
				return -EINVAL;
			}
		}
		free_value(o, base);
		*FIELD(base, o, struct strvec) = words;
		return 0;
	}
	case T_ENV: {
		struct strvec words = STRVEC_INIT;
		struct strvec *dst = FIELD(base, o, struct strvec);

		strvec_split_ws(&words, v);
		for (size_t i = 0; i < words.n; i++) {
			char *eq = strchr(words.v[i], '=');
			char *key = eq ? xstrndup(words.v[i], (size_t)(eq - words.v[i])) : NULL;
			bool ok = key && valid_env_name(key);

			free(key);
			if (!ok) {
				*why = xasprintf(
					"'%s': expected KEY=VALUE words (KEY: letters, digits "
					"and '_', not starting with a digit)",
					words.v[i]);
				strvec_clear(&words);
				return -EINVAL;
			}
		}
		for (size_t i = 0; i < words.n; i++)
			strvec_push(dst, words.v[i]);
		strvec_clear(&words);
		return 0;
	}
	case T_EXTRA_PORTS: {
		struct service_config *s = base;
		struct extra_port *xs;
		size_t nx;

		r = parse_extra_ports(v, &xs, &nx, why);
		if (r < 0)
			return r;
		free_value(o, base);
		s->extra = xs;
		s->n_extra = nx;
		return 0;
	}
	case T_SIGNAL:
		if (parse_signal(v, FIELD(base, o, int)) < 0) {
			*why = xstrdup("expected a signal name (TERM, INT, KILL, HUP, QUIT, USR1, "
				       "USR2) or a number from 1 to 64");
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static const char *signal_name(int sig)
{
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return NULL;
}

static void add_words(struct strbuf *out, const struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			strbuf_addch(out, ' ');
		strbuf_adds(out, sv->v[i]);
	}
}

/* Print the value of o at base as the file would hold it ("" for none). */
static void format_value(const struct option *o, const void *base, struct strbuf *out)
{
	char *d;

	switch (o->type) {
	case T_STRING:
	case T_COMMAND:
		if (*CFIELD(base, o, char *))
			strbuf_adds(out, *CFIELD(base, o, char *));
		break;
	case T_READY: {
		const struct service_config *s = base;

		strbuf_adds(out, s->ready ? s->ready : s->base_port ? "port" : "none");
		break;
	}
	case T_BOOL:
		strbuf_adds(out, *CFIELD(base, o, bool) ? "true" : "false");
		break;
	case T_UINT:
		strbuf_addf(out, "%u", *CFIELD(base, o, unsigned));
		break;
	case T_PORT:
		if (*CFIELD(base, o, uint16_t))
			strbuf_addf(out, "%u", (unsigned)*CFIELD(base, o, uint16_t));
		break;
	case T_DURATION:
		d = format_duration_ms(*CFIELD(base, o, uint64_t));
		strbuf_adds(out, d);
		free(d);
		break;
	case T_ENUM: {
		int v = *CFIELD(base, o, int), n = 0;

		while (o->names[n])
			n++;
		strbuf_adds(out, v >= 0 && v < n ? o->names[v] : "?");
		break;
	}
	case T_WORDS:
	case T_ENV:
		add_words(out, CFIELD(base, o, struct strvec));
		break;
	case T_EXTRA_PORTS: {
		const struct service_config *s = base;

		for (size_t i = 0; i < s->n_extra; i++) {
			strbuf_addf(out, "%s%s:%u", i ? " " : "", s->extra[i].name,
				    (unsigned)s->extra[i].base);
			for (size_t j = 0; j < s->extra[i].env.n; j++)
				strbuf_addf(out, "%c%s", j ? ',' : ':', s->extra[i].env.v[j]);
		}
		break;
	}
	case T_SIGNAL: {
		int sig = *CFIELD(base, o, int);

		if (signal_name(sig))
			strbuf_adds(out, signal_name(sig));
		else
			strbuf_addf(out, "%d", sig);
		break;
	}
	}
}

/* Apply the defaults of every option of sect to base. */
static void apply_defaults(enum sect sect, void *base)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		char *why = NULL;

		if (options[i].sect != sect || !options[i].def)
			continue;
		if (parse_value(&options[i], base, options[i].def, &why) < 0)
			abort(); /* a bad default in the table is a programming error */
	}
}

static void free_section(enum sect sect, void *base)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].sect == sect)
			free_value(&options[i], base);
}

static const struct option *find_option(enum sect sect, const char *key)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].sect == sect && !strcmp(options[i].key, key))
			return &options[i];
	return NULL;
}

/* ---- the prefix derived from the root ---- */

/* basename of root, lowercased, runs of other characters as one '-', plus '-'
 * and 6 hex digits of a hash of the whole path: unique per repository. */
static char *derive_prefix(const char *root)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len, start;
	bool dash = false;

	if (!root || !*root)
		return xstrdup("berth");
	len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	start = len;
	while (start > 0 && root[start - 1] != '/')
		start--;
	for (size_t i = start; i < len && sb.len < 40; i++) {
		char ch = (char)tolower((unsigned char)root[i]);

		if (is_lower_alnum(ch)) {
			if (dash && sb.len)
				strbuf_addch(&sb, '-');
			strbuf_addch(&sb, ch);
			dash = false;
		} else {
			dash = true;
		}
	}
	if (!sb.len)
		strbuf_adds(&sb, "berth");
	strbuf_addf(&sb, "-%06" PRIx64, hash_fnv1a64_n(root, len) & 0xffffff);
	return strbuf_detach(&sb);
}

/* ---- URLs ---- */

char *config_url_redacted(const char *url)
{
	struct strbuf sb = STRBUF_INIT;
	const char *auth = strstr(url, "://"), *end, *at = NULL, *colon = NULL, *q;

	if (!auth)
		return xstrdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at)
		colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon) {
		strbuf_add(&sb, url, (size_t)(colon - url));
		strbuf_adds(&sb, ":***");
		strbuf_adds(&sb, at);
	} else {
		strbuf_adds(&sb, url);
	}
	/* a password given as a parameter: ?password=... or &password=... */
	q = strchr(strbuf_str(&sb), '?');
	while (q) {
		const char *key = q + 1;
		size_t vlen;

		if (!strncmp(key, "password=", 9)) {
			size_t off = (size_t)(key + 9 - sb.buf);
			char *rest;

			vlen = strcspn(key + 9, "&");
			rest = xstrdup(key + 9 + vlen);
			sb.len = off;
			sb.buf[off] = '\0';
			strbuf_adds(&sb, "***");
			strbuf_adds(&sb, rest);
			free(rest);
			key = sb.buf + off;
		}
		q = strchr(key, '&');
	}
	return strbuf_detach(&sb);
}

/* ---- lifecycle ---- */

void config_init(struct config *c, const char *root)
{
	memset(c, 0, sizeof(*c));
	c->root = xstrdup(root);
	apply_defaults(SECT_BERTH, c);
	apply_defaults(SECT_HOOKS, &c->hooks);
	apply_defaults(SECT_WATCH, &c->watch);
	apply_defaults(SECT_DATABASE, &c->database);
	c->prefix = derive_prefix(root);
}

static void service_finish(struct service_config *s)
{
	free_section(SECT_SERVICE, s);
	free(s->name);
}

void config_finish(struct config *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		service_finish(&c->services[i]);
	free(c->services);
	free_section(SECT_BERTH, c);
	free_section(SECT_HOOKS, &c->hooks);
	free_section(SECT_WATCH, &c->watch);
	free_section(SECT_DATABASE, &c->database);
	free(c->path);
	free(c->root);
	memset(c, 0, sizeof(*c));
}

/* ---- the parser: our line reader in front of inih ---- */

struct parse_ctx {
	struct config *c;
	const char *name; /* file name for messages */
	const char *text;
	size_t len, pos;
	unsigned line;      /* physical line being handled */
	struct strbuf lbuf; /* copy of the current line, split in place */
	const char *key;    /* key and value of the current line */
	const char *value;
	bool indented;           /* the current line started with whitespace */
	enum sect sect;          /* current section */
	struct strbuf sect_text; /* as handed to inih: `berth`, `service "web"` */
	unsigned berth_seen[N_OPTIONS], hooks_seen[N_OPTIONS], watch_seen[N_OPTIONS],
		database_seen[N_OPTIONS]; /* line a key was set on */
	unsigned (*svc_seen)[N_OPTIONS];
	char *cause; /* the first error, "name:line: what" */
};

static void __attribute__((format(printf, 2, 3))) fail(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (ctx->cause)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	ctx->cause = xasprintf("%s:%u: %s", ctx->name, ctx->line, msg);
	free(msg);
}

/* Trim whitespace at both ends, in place. */
static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int __attribute__((format(printf, 4, 5)))
emit(struct parse_ctx *ctx, char *out, int num, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, num > 0 ? (size_t)num : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= num) {
		fail(ctx, "internal error: inih's line buffer (%d bytes) is too small", num);
		return -EINVAL;
	}
	return 1;
}

static void add_service(struct parse_ctx *ctx, const char *name)
{
	struct config *c = ctx->c;
	struct service_config *s;

	c->services = xreallocarray(c->services, c->n_services + 1, sizeof(*c->services));
	ctx->svc_seen = xreallocarray(ctx->svc_seen, c->n_services + 1, sizeof(*ctx->svc_seen));
	memset(ctx->svc_seen[c->n_services], 0, sizeof(ctx->svc_seen[0]));
	s = &c->services[c->n_services++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->line = ctx->line;
	apply_defaults(SECT_SERVICE, s);
}

/* `[name]` or `[name "sub"]`. Sections are handled here, not in the handler,
 * because inih calls the handler only for keys: an empty `[servce "x"]` or a
 * second `[service "web"]` must still be an error. */
static int lex_section(struct parse_ctx *ctx, char *s, char *out, int num)
{
	char *close = strrchr(s, ']'), *inner, *rest, *name = NULL, *sub = NULL;
	size_t nlen, best = SIZE_MAX;
	const char *guess = NULL;
	enum sect kind = SECT_NONE;
	int r = -EINVAL;

	if (!close) {
		fail(ctx, "missing ']' in section header '%.80s'", s);
		return -EINVAL;
	}
	if (close[1]) {
		fail(ctx, "unexpected text after ']' in '%.80s'%s", s,
		     strpbrk(close + 1, ";#") ? COMMENT_HINT : "");
		return -EINVAL;
	}
	*close = '\0';
	inner = trim(s + 1);
	nlen = strcspn(inner, " \t\"");
	rest = trim(inner + nlen);
	if (!nlen)
		goto bad_header;
	name = xstrndup(inner, nlen);
	if (*rest) {
		size_t rlen = strlen(rest);

		if (rlen < 2 || rest[0] != '"' || rest[rlen - 1] != '"' ||
		    memchr(rest + 1, '"', rlen - 2))
			goto bad_header;
		sub = xstrndup(rest + 1, rlen - 2);
	}
	for (size_t i = 1; i < ARRAY_SIZE(sect_names); i++)
		if (!strcmp(name, sect_names[i]))
			kind = (enum sect)i;
	if (kind == SECT_NONE) {
		const char *q = sub ? " \"" : "", *subq = sub ? sub : "", *eq = sub ? "\"" : "";

		for (size_t i = 1; i < ARRAY_SIZE(sect_names); i++)
			if (closest_better(name, sect_names[i], &best))
				guess = sect_names[i];
		if (guess)
			fail(ctx, "unknown section [%s%s%s%s] (did you mean [%s%s%s%s]?)", name, q,
			     subq, eq, guess, q, subq, eq);
		else
			fail(ctx,
			     "unknown section [%s%s%s%s]: expected [berth], [service \"NAME\"], "
			     "[hooks], [watch] or [database]",
			     name, q, subq, eq);
		goto out;
	}
	strbuf_reset(&ctx->sect_text);
	if (kind != SECT_SERVICE) {
		if (sub) {
			fail(ctx, "section [%s] takes no name: found [%s \"%s\"]", name, name, sub);
			goto out;
		}
		strbuf_adds(&ctx->sect_text, name);
	} else {
		const struct service_config *dup;

		if (!sub) {
			fail(ctx, "[service] needs a name: [service \"NAME\"]");
			goto out;
		}
		if (!valid_name(sub, SERVICE_NAME_MAX)) {
			fail(ctx,
			     "invalid service name \"%.80s\": use 1 to %d characters from "
			     "a-z, 0-9, '_' and '-', starting with a letter or digit",
			     sub, SERVICE_NAME_MAX);
			goto out;
		}
		dup = config_service(ctx->c, sub);
		if (dup) {
			fail(ctx, "duplicate service \"%s\" (first defined on line %u)", sub,
			     dup->line);
			goto out;
		}
		if (ctx->c->n_services >= CONFIG_MAX_SERVICES) {
			fail(ctx, "more than %d services; berth reads configs with up to that many",
			     CONFIG_MAX_SERVICES);
			goto out;
		}
		add_service(ctx, sub);
		strbuf_addf(&ctx->sect_text, "service \"%s\"", sub);
	}
	ctx->sect = kind;
	if (kind == SECT_DATABASE && !ctx->c->database.enabled) {
		ctx->c->database.enabled = true;
		ctx->c->database.line = ctx->line;
	}
	r = emit(ctx, out, num, "[%s]\n", strbuf_str(&ctx->sect_text));
	goto out;
bad_header:
	fail(ctx, "bad section header '[%.80s]': expected [NAME] or [NAME \"SUBNAME\"]", inner);
out:
	free(name);
	free(sub);
	return r;
}

/* Lex one physical line (without its newline). Returns 1 with a canonical line
 * for inih in out, 0 for a blank or comment line, < 0 on error (ctx->cause set). */
static int lex_line(struct parse_ctx *ctx, const char *p, size_t n, char *out, int num)
{
	char *s, *eq, *key, *value;

	strbuf_reset(&ctx->lbuf);
	strbuf_add(&ctx->lbuf, p, n);
	s = ctx->lbuf.buf;
	ctx->indented = n && isspace((unsigned char)s[0]);
	ctx->key = ctx->value = NULL;
	s = trim(s);
	if (!*s || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return lex_section(ctx, s, out, num);
	eq = strchr(s, '=');
	if (!eq) {
		fail(ctx, "missing '=' in '%.60s%s': expected 'key = value'%s", s,
		     strlen(s) > 60 ? "..." : "", ctx->indented ? CONT_HINT : "");
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (!*key) {
		fail(ctx, "missing key before '='");
		return -EINVAL;
	}
	if (!valid_key(key)) {
		fail(ctx, "invalid key '%.60s%s'%s", key, strlen(key) > 60 ? "..." : "",
		     ctx->indented ? CONT_HINT : "");
		return -EINVAL;
	}
	ctx->key = key;
	ctx->value = value;
	return emit(ctx, out, num, "%s=%u\n", key, ctx->line);
}

/* inih's fgets-style reader: hand it the next canonical line. NULL at the end
 * of the text or after an error (inih keeps reading after a handler error). */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;

	while (!ctx->cause && ctx->pos < ctx->len) {
		const char *p = ctx->text + ctx->pos, *nl;
		size_t avail = ctx->len - ctx->pos, n;
		int r;

		nl = memchr(p, '\n', avail);
		n = nl ? (size_t)(nl - p) : avail;
		ctx->pos += nl ? n + 1 : n;
		ctx->line++;
		if (ctx->line == 1 && n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
			p += 3;
			n -= 3;
		}
		if (n && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE) {
			fail(ctx, "line too long (%zu bytes; the limit is %d)", n, CONFIG_MAX_LINE);
			break;
		}
		if (memchr(p, '\0', n)) {
			fail(ctx, "the line contains a NUL byte");
			break;
		}
		r = lex_line(ctx, p, n, str, num);
		if (r < 0)
			break;
		if (r > 0)
			return str;
	}
	return NULL;
}

static unsigned *seen_slot(struct parse_ctx *ctx, const struct option *o)
{
	size_t i = (size_t)(o - options);

	switch (ctx->sect) {
	case SECT_BERTH:
		return &ctx->berth_seen[i];
	case SECT_HOOKS:
		return &ctx->hooks_seen[i];
	case SECT_WATCH:
		return &ctx->watch_seen[i];
	case SECT_DATABASE:
		return &ctx->database_seen[i];
	default:
		return &ctx->svc_seen[ctx->c->n_services - 1][i];
	}
}

static void *section_base(struct parse_ctx *ctx)
{
	switch (ctx->sect) {
	case SECT_BERTH:
		return ctx->c;
	case SECT_HOOKS:
		return &ctx->c->hooks;
	case SECT_WATCH:
		return &ctx->c->watch;
	case SECT_DATABASE:
		return &ctx->c->database;
	default:
		return &ctx->c->services[ctx->c->n_services - 1];
	}
}

static void unknown_key(struct parse_ctx *ctx)
{
	const char *guess = NULL, *elsewhere = NULL;
	size_t best = SIZE_MAX;

	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].sect != ctx->sect) {
			if (!strcmp(options[i].key, ctx->key))
				elsewhere = sect_names[options[i].sect];
			continue;
		}
		if (closest_better(ctx->key, options[i].key, &best))
			guess = options[i].key;
	}
	if (guess)
		fail(ctx, "unknown key '%s' in [%s] (did you mean '%s'?)", ctx->key,
		     strbuf_str(&ctx->sect_text), guess);
	else if (elsewhere)
		fail(ctx, "unknown key '%s' in [%s] (%s belongs in [%s%s])", ctx->key,
		     strbuf_str(&ctx->sect_text), ctx->key, elsewhere,
		     !strcmp(elsewhere, "service") ? " \"NAME\"" : "");
	else
		fail(ctx, "unknown key '%s' in [%s]%s", ctx->key, strbuf_str(&ctx->sect_text),
		     ctx->indented ? CONT_HINT : "");
}

static bool looks_commented(const char *v)
{
	return strstr(v, " ;") || strstr(v, "\t;") || strstr(v, " #") || strstr(v, "\t#");
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = user;
	const struct option *o;
	unsigned *seen;
	uint64_t line;
	char *why = NULL;

	if (ctx->cause)
		return 0;
	/* inih must hand back exactly the line the reader gave it. */
	if (!ctx->key || strcmp(name, ctx->key) || strcmp(section, strbuf_str(&ctx->sect_text)) ||
	    parse_u64(value, 0, UINT_MAX, &line) < 0 || line != ctx->line) {
		fail(ctx, "internal error: inih passed back an unexpected line");
		return 0;
	}
	if (ctx->sect == SECT_NONE) {
		fail(ctx,
		     "key '%s' outside any section: put it under [berth], [service \"NAME\"] or "
		     "[hooks]",
		     ctx->key);
		return 0;
	}
	o = find_option(ctx->sect, ctx->key);
	if (!o) {
		unknown_key(ctx);
		return 0;
	}
	seen = seen_slot(ctx, o);
	if (*seen && !(o->flags & OPT_REPEAT)) {
		fail(ctx, "duplicate key '%s' in [%s] (first set on line %u)", ctx->key,
		     strbuf_str(&ctx->sect_text), *seen);
		return 0;
	}
	*seen = ctx->line;
	if (parse_value(o, section_base(ctx), ctx->value, &why) < 0) {
		/* a URL's password is never repeated in a message */
		char *shown = o->check == check_db_url ? config_url_redacted(ctx->value)
						       : xstrdup(ctx->value);

		fail(ctx, "bad value '%.80s%s' for %s: %s%s", shown,
		     strlen(shown) > 80 ? "..." : "", o->key, why,
		     looks_commented(ctx->value) ? COMMENT_HINT : "");
		free(shown);
		free(why);
		return 0;
	}
	return 1;
}

/* The totals of all services against the limits above: past one, a cause. */
static char *check_totals(const struct config *c, const char *name)
{
	size_t ports = 0, env_names = 0, depends = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];

		ports += (s->base_port != 0) + s->n_extra;
		env_names += s->port_env.n;
		for (size_t j = 0; j < s->n_extra; j++)
			env_names += s->extra[j].env.n;
		depends += s->depends_on.n;
	}
	if (ports > CONFIG_MAX_PORTS)
		return xasprintf("%s: more than %d ports (base_port and extra_ports of all "
				 "services); berth reads configs with up to that many",
				 name, CONFIG_MAX_PORTS);
	if (env_names > CONFIG_MAX_ENV_NAMES)
		return xasprintf("%s: more than %d port_env and extra port env names (of all "
				 "services); berth reads configs with up to that many",
				 name, CONFIG_MAX_ENV_NAMES);
	if (depends > CONFIG_MAX_DEPENDS)
		return xasprintf("%s: more than %d depends_on entries (of all services); berth "
				 "reads configs with up to that many",
				 name, CONFIG_MAX_DEPENDS);
	return NULL;
}

/* What the parse leaves implicit: `ready` follows base_port, a service's
 * stop_grace is [berth]'s unless it set its own (seen: the lines its keys
 * were set on). */
static void finalize(struct config *c, unsigned (*seen)[N_OPTIONS])
{
	size_t grace = (size_t)(find_option(SECT_SERVICE, "stop_grace") - options);
	size_t port_env = (size_t)(find_option(SECT_SERVICE, "port_env") - options);
	size_t extra = (size_t)(find_option(SECT_SERVICE, "extra_ports") - options);

	for (size_t i = 0; i < c->n_services; i++) {
		struct service_config *s = &c->services[i];

		if (!s->ready)
			s->ready = xstrdup(s->base_port ? "port" : "none");
		if (!seen[i][grace])
			s->stop_grace_ms = c->stop_grace_ms;
		s->port_env_line = seen[i][port_env];
		s->extra_ports_line = seen[i][extra];
	}
}

static void set_cause(char **cause, char *msg)
{
	if (cause)
		*cause = msg;
	else
		free(msg);
}

static int load_buf(struct config *c, const char *root, const char *text, size_t len,
		    const char *name, char **cause)
{
	struct parse_ctx *ctx = xcalloc(1, sizeof(*ctx));
	int r;

	config_init(c, root);
	ctx->c = c;
	ctx->name = name;
	ctx->text = text;
	ctx->len = len;
	r = ini_parse_stream(reader, ctx, handler, ctx);
	if (!ctx->cause && r != 0)
		ctx->cause = xasprintf("%s:%d: internal error: inih rejected the line", name, r);
	if (!ctx->cause)
		ctx->cause = check_totals(c, name);
	strbuf_release(&ctx->lbuf);
	strbuf_release(&ctx->sect_text);
	if (ctx->cause) {
		set_cause(cause, ctx->cause);
		free(ctx->svc_seen);
		free(ctx);
		config_finish(c);
		return -EINVAL;
	}
	finalize(c, ctx->svc_seen);
	c->prefix_set = ctx->berth_seen[find_option(SECT_BERTH, "prefix") - options] != 0;
	free(ctx->svc_seen);
	free(ctx);
	return 0;
}

int config_load_string(struct config *c, const char *root, const char *text, const char *name,
		       char **cause)
{
	return load_buf(c, root, text, strlen(text), name, cause);
}

int config_load(struct config *c, const char *root, const char *path, char **cause)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	r = read_file(path, CONFIG_MAX_SIZE, &text, &len);
	if (r < 0) {
		memset(c, 0, sizeof(*c));
		if (r == -EFBIG)
			set_cause(cause, xasprintf("%s: the file is larger than %d bytes", path,
						   CONFIG_MAX_SIZE));
		else
			set_cause(cause,
				  xasprintf("cannot open '%s': %s", path,
					    r == -EINVAL ? "not a regular file" : strerror(-r)));
		return r;
	}
	r = load_buf(c, root, text, len, path, cause);
	free(text);
	if (r < 0)
		return r;
	c->path = path_canonical(path);
	if (!c->path)
		c->path = xstrdup(path);
	return 0;
}

/* ---- printing ---- */

/* Hand fn every key of sect at base: typed, and as text (format_value, a
 * url's password as ***). */
static void show_each_section(enum sect sect, const void *base, const char *service,
			      config_value_fn *fn, void *data)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option *o = &options[i];
		struct config_value v = {
			.section = sect_names[sect], .service = service, .key = o->key};
		struct strbuf text = STRBUF_INIT;
		char *redacted = NULL;

		if (o->sect != sect)
			continue;
		if (o->check == check_db_url) {
			const char *url = *CFIELD(base, o, char *);

			redacted = url ? config_url_redacted(url) : NULL;
			if (redacted)
				strbuf_adds(&text, redacted);
		} else {
			format_value(o, base, &text);
		}
		switch (o->type) {
		case T_STRING:
		case T_COMMAND:
			v.kind = CONFIG_VALUE_STRING;
			v.str = o->check == check_db_url ? redacted : *CFIELD(base, o, char *);
			break;
		case T_READY:
		case T_ENUM:
		case T_SIGNAL:
			v.kind = CONFIG_VALUE_STRING;
			v.str = strbuf_str(&text);
			break;
		case T_BOOL:
			v.kind = CONFIG_VALUE_BOOL;
			v.flag = *CFIELD(base, o, bool);
			break;
		case T_UINT:
			v.kind = CONFIG_VALUE_NUMBER;
			v.number = *CFIELD(base, o, unsigned);
			break;
		case T_PORT:
			v.kind = CONFIG_VALUE_PORT;
			v.number = *CFIELD(base, o, uint16_t);
			break;
		case T_DURATION:
			v.kind = CONFIG_VALUE_DURATION;
			v.number = *CFIELD(base, o, uint64_t);
			break;
		case T_WORDS:
		case T_ENV:
			v.kind = o->type == T_ENV ? CONFIG_VALUE_ENV : CONFIG_VALUE_WORDS;
			v.words = CFIELD(base, o, struct strvec);
			break;
		case T_EXTRA_PORTS:
			v.kind = CONFIG_VALUE_EXTRA_PORTS;
			v.extra = ((const struct service_config *)base)->extra;
			v.n_extra = ((const struct service_config *)base)->n_extra;
			break;
		}
		v.text = strbuf_str(&text);
		fn(&v, data);
		strbuf_release(&text);
		free(redacted);
	}
}

void config_show_each(const struct config *c, config_value_fn *fn, void *data)
{
	show_each_section(SECT_BERTH, c, NULL, fn, data);
	for (size_t i = 0; i < c->n_services; i++)
		show_each_section(SECT_SERVICE, &c->services[i], c->services[i].name, fn, data);
	show_each_section(SECT_HOOKS, &c->hooks, NULL, fn, data);
	show_each_section(SECT_WATCH, &c->watch, NULL, fn, data);
	if (c->database.enabled)
		show_each_section(SECT_DATABASE, &c->database, NULL, fn, data);
}

/* config_show's walk: the section it is in, to print a header at each new one. */
struct show_text {
	struct strbuf *out;
	const char *section, *service;
};

static void show_line(const struct config_value *v, void *data)
{
	struct show_text *st = data;

	if (v->section != st->section || v->service != st->service) {
		if (st->section)
			strbuf_addch(st->out, '\n');
		if (v->service)
			strbuf_addf(st->out, "[%s \"%s\"]\n", v->section, v->service);
		else
			strbuf_addf(st->out, "[%s]\n", v->section);
		st->section = v->section;
		st->service = v->service;
	}
	/* "key =" for none, without a trailing space */
	strbuf_addf(st->out, "%s =%s%s\n", v->key, *v->text ? " " : "", v->text);
}

void config_show(const struct config *c, struct strbuf *out)
{
	struct show_text st = {.out = out};

	config_show_each(c, show_line, &st);
}

static const char *type_name(const struct option *o)
{
	static const char *const names[] = {
		[T_STRING] = "string",      [T_COMMAND] = "command",
		[T_BOOL] = "bool",          [T_UINT] = "number",
		[T_PORT] = "port",          [T_DURATION] = "duration",
		[T_ENUM] = "enum",          [T_WORDS] = "word list",
		[T_ENV] = "KEY=VALUE list", [T_EXTRA_PORTS] = "extra ports",
		[T_SIGNAL] = "signal",      [T_READY] = "ready check",
	};
	return names[o->type];
}

void config_describe(struct strbuf *out)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct option *o = &options[i];
		struct strbuf sb = STRBUF_INIT;

		strbuf_addf(out, "%s.%s (%s", sect_names[o->sect], o->key, type_name(o));
		if (o->type == T_UINT)
			strbuf_addf(out, " %" PRIu64 "..%" PRIu64, o->min, o->max);
		else if (o->type == T_ENUM)
			strbuf_addf(out, ": %s",
				    enum_expected(o->names, &sb) + strlen("expected "));
		strbuf_addf(out, ", default %s): %s\n", o->def ? o->def : "none", o->help);
		strbuf_release(&sb);
	}
}

/* ---- lookups and names ---- */

const struct service_config *config_service(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (!strcmp(c->services[i].name, name))
			return &c->services[i];
	return NULL;
}

static long service_index(const struct config *c, const char *name)
{
	const struct service_config *s = config_service(c, name);

	return s ? (long)(s - c->services) : -1;
}

unsigned config_port(const struct config *c, uint16_t base, unsigned slot)
{
	uint64_t p;

	if (!base)
		return 0;
	p = (uint64_t)base + (uint64_t)slot * c->slot_stride;
	return p > 65535 ? 0 : (unsigned)p;
}

char *config_port_env_name(const char *service, const char *extra)
{
	struct strbuf sb = STRBUF_INIT;
	const char *parts[2] = {service, extra};

	strbuf_adds(&sb, "BERTH_");
	for (size_t i = 0; i < 2; i++) {
		if (!parts[i])
			continue;
		for (const char *p = parts[i]; *p; p++)
			strbuf_addch(&sb, isalnum((unsigned char)*p)
						  ? (char)toupper((unsigned char)*p)
						  : '_');
		strbuf_addch(&sb, '_');
	}
	strbuf_adds(&sb, "PORT");
	return strbuf_detach(&sb);
}

bool config_uses_docker(const struct config *c)
{
	if (c->mode == MODE_CONTAINER)
		return true;
	if (c->mode != MODE_HYBRID)
		return false;
	for (size_t i = 0; i < c->n_services; i++)
		if (c->services[i].run == RUN_DOCKER)
			return true;
	return false;
}

const char *config_mode_name(enum config_mode m)
{
	return (unsigned)m < ARRAY_SIZE(mode_names) - 1 ? mode_names[m] : "?";
}

const char *config_runner_name(enum config_runner r)
{
	return (unsigned)r < ARRAY_SIZE(runner_names) - 1 ? runner_names[r] : "?";
}

int config_mode_parse(const char *s, enum config_mode *ret)
{
	for (int i = 0; mode_names[i]; i++) {
		if (!strcmp(s, mode_names[i])) {
			*ret = (enum config_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

int config_runner_parse(const char *s, enum config_runner *ret)
{
	for (int i = 0; runner_names[i]; i++) {
		if (!strcmp(s, runner_names[i])) {
			*ret = (enum config_runner)i;
			return 0;
		}
	}
	return -EINVAL;
}

int config_stop_levels(const struct config *c, unsigned **ret)
{
	size_t n = c->n_services;
	unsigned *level = xcalloc(n ? n : 1, sizeof(*level));
	bool changed = true;

	/* Relax until nothing moves: a service's level is one more than the
	 * highest of the services that depend on it. More than n rounds: a
	 * cycle. */
	for (size_t round = 0; changed; round++) {
		if (round > n) {
			free(level);
			*ret = NULL;
			return -ELOOP;
		}
		changed = false;
		for (size_t i = 0; i < n; i++) {
			const struct strvec *deps = &c->services[i].depends_on;

			for (size_t j = 0; j < deps->n; j++) {
				long d = service_index(c, deps->v[j]);

				if (d >= 0 && level[d] < level[i] + 1) {
					level[d] = level[i] + 1;
					changed = true;
				}
			}
		}
	}
	*ret = level;
	return 0;
}

void config_with_deps(const struct config *c, struct strvec *names)
{
	/* names grows as it is walked: each name's dependencies are appended
	 * once, so the walk ends. */
	for (size_t i = 0; i < names->n; i++) {
		long k = service_index(c, names->v[i]);

		if (k < 0)
			continue;
		for (size_t j = 0; j < c->services[k].depends_on.n; j++)
			if (strvec_find(names, c->services[k].depends_on.v[j]) < 0)
				strvec_push(names, c->services[k].depends_on.v[j]);
	}
}

uint64_t config_stop_time_ms(const struct config *c, unsigned *ret_levels)
{
	unsigned *levels = NULL, top = 0;
	uint64_t total = c->stop_grace_ms, *per;

	if (config_stop_levels(c, &levels) < 0)
		levels = NULL;
	for (size_t i = 0; levels && i < c->n_services; i++)
		if (levels[i] > top)
			top = levels[i];
	per = xcalloc(top + 1, sizeof(*per));
	for (size_t i = 0; i < c->n_services; i++) {
		unsigned l = levels ? levels[i] : 0;

		if (c->services[i].stop_grace_ms > per[l])
			per[l] = c->services[i].stop_grace_ms;
		if (c->services[i].stop_grace_ms > total)
			total = c->services[i].stop_grace_ms;
	}
	for (unsigned l = 0; l <= top; l++)
		total += per[l];
	if (ret_levels)
		*ret_levels = top + 1;
	free(per);
	free(levels);
	return total;
}

int config_service_order(const struct config *c, size_t **ret)
{
	size_t n = c->n_services, *order;
	bool *placed;

	if (!n) {
		*ret = NULL;
		return 0;
	}
	order = xcalloc(n, sizeof(*order));
	placed = xcalloc(n, sizeof(*placed));
	for (size_t k = 0; k < n; k++) {
		size_t pick = n;

		/* The first service in file order whose known dependencies are placed. */
		for (size_t i = 0; i < n && pick == n; i++) {
			const struct strvec *deps = &c->services[i].depends_on;
			bool ready = !placed[i];

			for (size_t j = 0; ready && j < deps->n; j++) {
				long d = service_index(c, deps->v[j]);

				if (d >= 0 && !placed[d])
					ready = false;
			}
			if (ready)
				pick = i;
		}
		if (pick == n) {
			free(order);
			free(placed);
			return -ELOOP;
		}
		placed[pick] = true;
		order[k] = pick;
	}
	free(placed);
	*ret = order;
	return (int)n;
}

/* ---- validation ---- */

static void __attribute__((format(printf, 3, 4)))
issue(struct config_issues *is, bool error, const char *fmt, ...)
{
	va_list ap;

	XGROW(is->v, is->alloc, is->n + 1);
	va_start(ap, fmt);
	is->v[is->n].msg = xvasprintf(fmt, ap);
	va_end(ap);
	is->v[is->n].error = error;
	is->v[is->n].line = 0;
	is->n++;
}

/* Env names berth sets itself, exported with a port: an error each. */
static void check_builtin_env(const struct service_config *s, struct config_issues *is)
{
	for (size_t j = 0; j < s->port_env.n; j++) {
		const char *why = builtin_env_name(s->port_env.v[j]);

		if (!why)
			continue;
		issue(is, true, "service '%s': port_env names %s: %s; remove it from port_env",
		      s->name, s->port_env.v[j], why);
		is->v[is->n - 1].line = s->port_env_line;
	}
	for (size_t j = 0; j < s->n_extra; j++) {
		for (size_t k = 0; k < s->extra[j].env.n; k++) {
			const char *why = builtin_env_name(s->extra[j].env.v[k]);

			if (!why)
				continue;
			issue(is, true,
			      "service '%s': extra port '%s' exports %s: %s; remove it from "
			      "extra_ports",
			      s->name, s->extra[j].name, s->extra[j].env.v[k], why);
			is->v[is->n - 1].line = s->extra_ports_line;
		}
	}
}

void config_issues_finish(struct config_issues *is)
{
	for (size_t i = 0; i < is->n; i++)
		free(is->v[i].msg);
	free(is->v);
	memset(is, 0, sizeof(*is));
}

/* A port-bearing thing: a service's primary port or one of its extra ports. */
struct port_thing {
	char *desc; /* "service 'web'" or "service 'web' extra port 'hmr'" */
	uint64_t base;
};

static void check_ports(const struct config *c, struct config_issues *is)
{
	/* Every slot 1..max_slots and every bump band i = 0..port_search_range:
	 * base + s*stride + i*max_slots*stride = base + k*stride, k = 1..K with
	 * K = max_slots * (port_search_range + 1). */
	uint64_t stride = c->slot_stride;
	uint64_t span = (uint64_t)c->max_slots * (c->port_search_range + 1) * stride;
	struct port_thing *t = NULL;
	size_t n = 0, alloc = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];
		uint16_t base = s->host_port ? s->host_port : s->base_port;

		if (base) {
			XGROW(t, alloc, n + 1);
			t[n].desc = xasprintf("service '%s'", s->name);
			t[n++].base = base;
		}
		for (size_t j = 0; j < s->n_extra; j++) {
			XGROW(t, alloc, n + 1);
			t[n].desc = xasprintf("service '%s' extra port '%s'", s->name,
					      s->extra[j].name);
			t[n++].base = s->extra[j].base;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (t[i].base < 1024)
			issue(is, false,
			      "%s: base port %" PRIu64 " is below 1024: binding privileged ports "
			      "needs root",
			      t[i].desc, t[i].base);
		if (t[i].base + span > 65535)
			issue(is, true,
			      "%s (base %" PRIu64 ") can take ports up to %" PRIu64
			      ", beyond 65535; lower its base port, max_slots, slot_stride or "
			      "port_search_range",
			      t[i].desc, t[i].base, t[i].base + span);
	}
	/* Each thing's first clash with an earlier one: a pair per clash made
	 * n^2 / 2 messages for n things on one port. */
	for (size_t j = 1; j < n; j++) {
		for (size_t i = 0; i < j; i++) {
			const struct port_thing *lo = &t[i], *hi = &t[j];
			uint64_t d;

			if (lo->base == hi->base) {
				issue(is, true, "%s and %s use the same base port %" PRIu64,
				      lo->desc, hi->desc, lo->base);
				break;
			}
			if (lo->base > hi->base) {
				lo = &t[j];
				hi = &t[i];
			}
			/* lo + k1*stride == hi + k2*stride for some k1, k2 in 1..K. */
			d = hi->base - lo->base;
			if (d % stride == 0 && d < span) {
				issue(is, true,
				      "%s (base %" PRIu64 ") can take ports up to %" PRIu64
				      ", which overlaps %s (base %" PRIu64
				      "); move base ports at least %" PRIu64
				      " apart or lower port_search_range",
				      lo->desc, lo->base, lo->base + span, hi->desc, hi->base,
				      span);
				break;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(t[i].desc);
	free(t);
}

/* Env names a service exports: BERTH_<S>_PORT, port_env, extra ports and their
 * names (berth's own names, PORT among them, are refused when the file is read). */
static void check_env_names(const struct config *c, struct config_issues *is)
{
	struct strvec names = STRVEC_INIT, owners = STRVEC_INIT;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];
		size_t first = names.n;

		if (s->base_port || s->host_port) {
			strvec_push_owned(&names, config_port_env_name(s->name, NULL));
			strvec_pushf(&owners, "service '%s'", s->name);
			for (size_t j = 0; j < s->port_env.n; j++) {
				strvec_push(&names, s->port_env.v[j]);
				strvec_pushf(&owners, "service '%s'", s->name);
			}
		}
		for (size_t j = 0; j < s->n_extra; j++) {
			strvec_push_owned(&names, config_port_env_name(s->name, s->extra[j].name));
			strvec_pushf(&owners, "service '%s'", s->name);
			for (size_t k = 0; k < s->extra[j].env.n; k++) {
				strvec_push(&names, s->extra[j].env.v[k]);
				strvec_pushf(&owners, "service '%s'", s->name);
			}
		}
		for (size_t j = first; j < names.n; j++) {
			for (size_t k = 0; k < j; k++) {
				/* A service may repeat a name of its own (same port). */
				if (strcmp(names.v[j], names.v[k]) ||
				    !strcmp(owners.v[j], owners.v[k]))
					continue;
				issue(is, true, "env name '%s' is exported by both %s and %s",
				      names.v[j], owners.v[k], owners.v[j]);
				break;
			}
		}
	}
	strvec_clear(&names);
	strvec_clear(&owners);
}

static void dfs_cycles(const struct config *c, size_t v, int *color, size_t *stack, size_t depth,
		       struct config_issues *is)
{
	const struct strvec *deps = &c->services[v].depends_on;

	color[v] = 1;
	stack[depth] = v;
	for (size_t j = 0; j < deps->n; j++) {
		long w = service_index(c, deps->v[j]);

		if (w < 0)
			continue;
		if (color[w] == 1) {
			struct strbuf sb = STRBUF_INIT;
			size_t from = 0;

			while (stack[from] != (size_t)w)
				from++;
			for (size_t k = from; k <= depth; k++)
				strbuf_addf(&sb, "%s -> ", c->services[stack[k]].name);
			strbuf_adds(&sb, c->services[w].name);
			issue(is, true, "dependency cycle: %s", sb.buf);
			strbuf_release(&sb);
		} else if (color[w] == 0) {
			dfs_cycles(c, (size_t)w, color, stack, depth + 1, is);
		}
	}
	color[v] = 2;
}

static void check_compose(const struct config *c, struct config_issues *is)
{
	struct strvec names = STRVEC_INIT;
	char *path, *cause = NULL;
	int r;

	path = path_join(c->root ? c->root : ".", c->compose_file);
	if (!path_exists(path)) {
		issue(is, true,
		      "mode = %s needs the compose file '%s': it does not exist; create it or set "
		      "compose_file in [berth]",
		      config_mode_name(c->mode), path);
		free(path);
		return;
	}
	r = compose_services(path, &names, NULL, &cause);
	if (r < 0) {
		issue(is, true, "%s", cause);
		free(cause);
		free(path);
		return;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];

		if (s->run == RUN_DOCKER && strvec_find(&names, s->name) < 0)
			issue(is, true,
			      "service '%s' has run = docker but '%s' defines no service '%s'",
			      s->name, path, s->name);
	}
	strvec_clear(&names);
	free(path);
}

/* user = : the user exists, is not a docker service's key, and berth may
 * switch to it. */
static void check_user(const struct service_config *s, struct config_issues *is)
{
	struct passwd *pw = getpwnam(s->user);

	if (s->run == RUN_DOCKER)
		issue(is, true,
		      "service '%s' has run = docker and user = %s: set the user in the compose "
		      "file",
		      s->name, s->user);
	else if (!pw)
		issue(is, true, "service '%s': no such user '%s' (user =)", s->name, s->user);
	else if (geteuid() != 0 && pw->pw_uid != geteuid())
		issue(is, false,
		      "service '%s' runs as user '%s': berth must run as root for that, or it "
		      "fails to start",
		      s->name, s->user);
}

/* [database]: what can be told without a server. */
static void check_database(const struct config *c, struct config_issues *is)
{
	const struct database_config *d = &c->database;

	if (!d->enabled)
		return;
	if (d->url && d->server_user)
		issue(is, false,
		      "[database] server_user applies to berth's own server only, and url names "
		      "another: it is ignored");
	else if (d->server_user && !getpwnam(d->server_user))
		issue(is, true,
		      "[database] server_user: no such user '%s' (berth's own server runs as it "
		      "when "
		      "berth is root)",
		      d->server_user);
	if (d->url && d->source && !strchr(d->source, '/')) {
		const char *path = strstr(d->url, "://");

		path = path ? path + 3 + strcspn(path + 3, "/?") : NULL;
		if (path && *path == '/' && !strncmp(path + 1, d->source, strlen(d->source)) &&
		    strchr("?", path[1 + strlen(d->source)]))
			issue(is, true,
			      "[database] source = %s is the database berth connects to (url): "
			      "name "
			      "another in the url (e.g. /postgres), since a database with berth "
			      "connected cannot be copied by file",
			      d->source);
	}
}

int config_validate(const struct config *c, struct config_issues *ret)
{
	int *color;
	size_t *stack;
	int errors = 0;

	memset(ret, 0, sizeof(*ret));
	check_database(c, ret);
	if (!c->hooks.timeout_ms)
		issue(ret, true,
		      "hooks: timeout = 0 would kill every hook at once; set it above 0");
	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];

		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->name, c->services[j].name))
				issue(ret, true, "service '%s' is defined twice", s->name);
		if (s->run == RUN_DOCKER && c->mode == MODE_HOST)
			issue(ret, true,
			      "service '%s' has run = docker but mode = host runs no containers; "
			      "set "
			      "mode = hybrid in [berth] or make the service native",
			      s->name);
		if (s->run == RUN_DOCKER && s->command)
			issue(ret, true,
			      "service '%s' has run = docker and a command: its compose file "
			      "defines what it runs; remove the command",
			      s->name);
		if (s->run == RUN_NATIVE && !s->command)
			issue(ret, false,
			      "service '%s' has no command: berth only allocates its ports",
			      s->name);
		if (s->host_port && !s->base_port)
			issue(ret, true, "service '%s' has host_port but no base_port", s->name);
		if (s->ready && !strcmp(s->ready, "port") && !s->base_port)
			issue(ret, true, "service '%s' has ready = port but no base_port", s->name);
		if (c->runner == RUNNER_TMUX && s->run == RUN_NATIVE && !strcmp(s->name, "shell"))
			issue(ret, true,
			      "service 'shell' clashes with the tmux runner's shell window; rename "
			      "the service");
		if (s->user)
			check_user(s, ret);
		check_builtin_env(s, ret);
		if (s->oneshot && s->restart == RESTART_ALWAYS)
			issue(ret, true,
			      "service '%s' is oneshot with restart = always: a oneshot service is "
			      "meant to exit; use restart = no or on-failure",
			      s->name);
		for (size_t j = 0; j < s->depends_on.n; j++) {
			long t = service_index(c, s->depends_on.v[j]);

			if (t < 0)
				issue(ret, true, "service '%s' depends on unknown service '%s'",
				      s->name, s->depends_on.v[j]);
			else if (s->run == RUN_DOCKER && c->services[t].run == RUN_NATIVE)
				issue(ret, true,
				      "docker service '%s' depends on native service '%s': docker "
				      "services start before native ones (a native service may "
				      "depend on a docker one)",
				      s->name, s->depends_on.v[j]);
		}
	}
	if (c->n_services) {
		color = xcalloc(c->n_services, sizeof(*color));
		stack = xcalloc(c->n_services, sizeof(*stack));
		for (size_t i = 0; i < c->n_services; i++)
			if (!color[i])
				dfs_cycles(c, i, color, stack, 0, ret);
		free(color);
		free(stack);
	}
	check_ports(c, ret);
	check_env_names(c, ret);
	if (c->mode != MODE_HOST)
		check_compose(c, ret);
	for (size_t i = 0; i < ret->n; i++)
		errors += ret->v[i].error;
	return errors;
}
