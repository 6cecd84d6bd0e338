/*
 * config.h: .berth.ini, parsed with inih through one static option table
 * (section, key, type, range, default, offset) that also validates values,
 * prints defaults and backs `berth config show`.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/strbuf.h"
#include "util/strvec.h"

#define CONFIG_FILE ".berth.ini"

enum config_mode { MODE_HOST, MODE_HYBRID, MODE_CONTAINER };
enum config_runner { RUNNER_PROCESS, RUNNER_TMUX };
enum service_run { RUN_NATIVE, RUN_DOCKER };
enum restart_policy { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };
enum inherit_mode { INHERIT_SYMLINK, INHERIT_COPY };

/* An extra port of a service: `extra_ports = hmr:24678` gives name "hmr", base 24678. */
struct extra_port {
	char *name;        /* [a-z0-9][a-z0-9_-]{0,30}, unique in the service */
	uint16_t base;     /* port of slot 0 */
	struct strvec env; /* optional extra env names (`hmr:24678:VITE_HMR_PORT`) */
};

struct service_config {
	char *name;    /* [a-z0-9][a-z0-9_-]*, unique */
	unsigned line; /* line of the [service "x"] header, for messages */
	enum service_run run;
	char *command;          /* NULL: port allocation only; kept byte-exact (';', '#', quotes) */
	char *cwd;              /* relative to the worktree; NULL = worktree root */
	uint16_t base_port;     /* 0 = no port */
	uint16_t host_port;     /* 0 = unset (use base_port) */
	struct strvec port_env; /* extra env names exported with this service's port */
	struct extra_port *extra;
	size_t n_extra;
	struct strvec env; /* "KEY=VALUE" */
	char *ready;       /* port | http:<path> | exec:<cmd> | log:<regex> | none */
	uint64_t ready_timeout_ms;
	struct strvec depends_on;
	enum restart_policy restart;
	int stop_signal;        /* signal number */
	uint64_t stop_grace_ms; /* [berth] stop_grace unless the service sets its own */
	char *user;             /* run as this user (NULL: berth's own) */
	unsigned port_env_line, extra_ports_line; /* where they were set, for messages */
	bool oneshot;
};

struct hooks_config {
	char *pre_up, *post_create, *pre_spawn, *post_up, *pre_down, *post_down; /* NULL = none */
	uint64_t timeout_ms;
};

/* [watch]: the background supervisor (`berth watch`). */
struct watch_config {
	uint64_t interval_ms;  /* reconcile period */
	uint64_t idle_stop_ms; /* 0: never */
	bool autostart;        /* `up` starts `berth watch --daemon` */
	unsigned events_keep;  /* the event log's newest events kept */
	uint64_t events_max_age_ms;
};

/* [database]: a database per session, cloned from a source (docs/config.md). */
enum db_engine { DB_POSTGRES };
struct database_config {
	bool enabled; /* the file has a [database] section */
	enum db_engine engine;
	char *url;           /* a server berth connects to; NULL: berth runs a managed one */
	char *source;        /* the database sessions are cloned from; NULL: an empty one */
	uint16_t port;       /* managed server: the TCP port tried first */
	char *server_user;   /* managed server run by root: the user it runs as */
	uint64_t timeout_ms; /* connecting and each statement's wait for a lock */
	unsigned line;       /* the [database] header, for messages */
};

struct config {
	char *path; /* absolute path of the file read; NULL for defaults */
	char *root; /* main worktree root the file belongs to */
	enum config_mode mode;
	enum config_runner runner;
	unsigned max_slots;
	unsigned slot_stride;
	unsigned port_search_range;
	bool strict_port;
	char *worktree_dir; /* relative to root, or absolute */
	char *prefix;       /* set from the root when the file leaves it out */
	bool prefix_set;    /* the file sets it (then other clones may share it) */
	char *compose_file;
	struct strvec inherit_env;
	enum inherit_mode inherit_env_mode;
	uint64_t stop_grace_ms;
	uint64_t startup_window_ms;
	struct service_config *services; /* in file order */
	size_t n_services;
	struct hooks_config hooks;
	struct watch_config watch;
	struct database_config database;
};

/* Fill c with every default (no services). root may be NULL. */
void config_init(struct config *c, const char *root);
/* Free everything c owns; c is zeroed. Safe on a zeroed struct. */
void config_finish(struct config *c);
/* Parse the file at path into c (which config_load initialises). On error
 * returns -EINVAL (or -errno for I/O) and sets *cause to "path:line: what is wrong"
 * (the caller frees); c is then finished. */
int config_load(struct config *c, const char *root, const char *path, char **cause);
/* Same from a string; name is used in messages. */
int config_load_string(struct config *c, const char *root, const char *text, const char *name,
		       char **cause);

/* A finding of config_validate. */
struct config_issue {
	bool error;    /* false: a warning */
	char *msg;     /* "service 'web': ..." */
	unsigned line; /* the line of the file it is about, or 0 */
};
struct config_issues {
	struct config_issue *v;
	size_t n, alloc;
};
/* Check everything that needs no running service (SPEC §2): types and ranges
 * already hold after load; this checks uniqueness, the port gap across slots and
 * bump bands, depends_on targets and cycles, docker services in host mode,
 * compose file existence and services, privileged ports. ret is initialised
 * here (the caller finishes it). Returns the number of errors. */
int config_validate(const struct config *c, struct config_issues *ret);
void config_issues_finish(struct config_issues *is);

/* The effective config with defaults, as INI text (config_load reads it back). */
void config_show(const struct config *c, struct strbuf *out);

/* One key of the effective config, as config_show_each hands it out. */
enum config_value_kind {
	CONFIG_VALUE_STRING,      /* str; NULL when unset */
	CONFIG_VALUE_BOOL,        /* flag */
	CONFIG_VALUE_NUMBER,      /* number */
	CONFIG_VALUE_PORT,        /* number; 0 when unset */
	CONFIG_VALUE_DURATION,    /* number: milliseconds */
	CONFIG_VALUE_WORDS,       /* words */
	CONFIG_VALUE_ENV,         /* words, each KEY=VALUE */
	CONFIG_VALUE_EXTRA_PORTS, /* extra, n_extra */
};
struct config_value {
	const char *section; /* "berth", "service", "hooks", "watch" or "database" */
	const char *service; /* the NAME of [service "NAME"], else NULL */
	const char *key;
	enum config_value_kind kind;
	const char *text; /* the value as config_show prints it ("" for none) */
	const char *str;
	uint64_t number;
	bool flag;
	const struct strvec *words;
	const struct extra_port *extra;
	size_t n_extra;
};
typedef void config_value_fn(const struct config_value *v, void *data);
/* Call fn on every key of the effective config in config_show's order
 * ([berth], each [service], [hooks], [watch], [database] when the file has
 * one): typed, and as text. A url's password is *** in both. Everything v
 * points to lives until fn returns. */
void config_show_each(const struct config *c, config_value_fn *fn, void *data);
/* Every key of every section, one per line: "section.key (type, default X): help". */
void config_describe(struct strbuf *out);

/* True when s is a valid service name: ^[a-z0-9][a-z0-9_-]{0,30}$. */
bool config_service_name_valid(const char *s);
/* Look up a service by name; NULL if none. */
const struct service_config *config_service(const struct config *c, const char *name);
/* Host port of service s in slot (host_port or base_port) + slot * stride; 0 if none
 * or out of range. */
unsigned config_port(const struct config *c, uint16_t base, unsigned slot);
/* Env name of a service's port: "web" -> "BERTH_WEB_PORT"; extra "hmr" ->
 * "BERTH_WEB_HMR_PORT". The caller frees. */
char *config_port_env_name(const char *service, const char *extra);
/* url with its password (user:PASSWORD@, ?password=) as ***, for messages
 * and `config show`. The caller frees. */
char *config_url_redacted(const char *url);
/* Mode/runner names. */
/* Does the session run docker services (container mode, or hybrid with a
 * service run = docker)? */
bool config_uses_docker(const struct config *c);
const char *config_mode_name(enum config_mode m);
const char *config_runner_name(enum config_runner r);
/* Parse "host"|"hybrid"|"container"; -EINVAL otherwise. */
int config_mode_parse(const char *s, enum config_mode *ret);
int config_runner_parse(const char *s, enum config_runner *ret);
/* Services in dependency order (dependencies first, ties in file order;
 * unknown depends_on names are ignored: config_validate reports them). Returns
 * the number of services, -ELOOP on a cycle. ret holds indexes into
 * c->services (NULL when there is none); the caller frees. */
int config_service_order(const struct config *c, size_t **ret);
/* The order of a stop: (*ret)[i] is service i's level, 0 for a service no
 * other depends on, else one more than the highest level of those that depend
 * on it. Level 0 stops first, each level in parallel. -ELOOP on a cycle
 * (*ret NULL); the caller frees. */
int config_stop_levels(const struct config *c, unsigned **ret);
/* Add to names every service they depend on, directly or not (unknown names
 * are left to config_validate). */
void config_with_deps(const struct config *c, struct strvec *names);
/* The longest a stop of every service takes before its last SIGKILL: each
 * level's longest stop_grace, then the longest of all (the safety net).
 * *ret_levels (may be NULL): how many levels it goes through. */
uint64_t config_stop_time_ms(const struct config *c, unsigned *ret_levels);

#endif
