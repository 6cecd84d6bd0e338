/*
 * docker.c: compose projects on the Docker engine (see docker.h). Every
 * command goes through spawn_run with a deadline; every request to the
 * engine's socket (engine.c) has one too.
 */
#include "util/common.h"

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "docker/docker.h"
#include "docker/engine.h"
#include "docker/portcheck.h"
#include "proc/reaper.h"
#include "proc/run.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define DOCKER_QUICK_MS 15000 /* info, ps, inspect, logs, rm */
#define DOCKER_SLOW_MS 600000 /* up (images may build), down */
#define DOCKER_PING_MS 10000  /* is the daemon up? */
#define WAIT_POLL_MS 100      /* the wait lists the containers this often without events */
#define WAIT_LIST_MS 1000     /* ... and this often with them (in case one is missed) */
#define LABEL_PROJECT "com.docker.compose.project"
#define LABEL_SERVICE "com.docker.compose.service"
#define FLAVOUR_CACHE_MAGIC "berth compose flavour 1\n"

/* Run argv (argv[0] searched in PATH): 0 when it exited 0; else -errno
 * with *cause (may be NULL) saying why (its stderr, as a rule). */
static int run(const struct docker *d, const char *const *argv, uint64_t timeout_ms,
	       struct strbuf *out, char **cause)
{
	struct spawn_opts o = {0};

	o.argv = (char *const *)argv;
	o.envp = d ? strvec_argv((struct strvec *)&d->env) : NULL;
	o.stdin_fd = -1;
	return spawn_run_checked(&o, timeout_ms, out, cause);
}

/* The value of name in d's environment, or NULL. */
static const char *env_get(const struct docker *d, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < d->env.n; i++)
		if (!strncmp(d->env.v[i], name, n) && d->env.v[i][n] == '=')
			return d->env.v[i] + n + 1;
	return NULL;
}

/* Where an executable name is in the PATH of d's environment (the caller
 * frees), or NULL. */
static char *path_search(const struct docker *d, const char *name)
{
	const char *path = env_get(d, "PATH");

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *f = xasprintf("%.*s/%s", (int)n, path, name);

		if (n && access(f, X_OK) == 0)
			return f;
		free(f);
		path += n + (path[n] == ':');
	}
	return NULL;
}

static bool in_path(const struct docker *d, const char *name)
{
	char *f = path_search(d, name);

	free(f);
	return f != NULL;
}

/* What the docker CLI reads besides its environment: its config directory
 * (DOCKER_CONFIG, else ~/.docker) and, in its config.json, the current
 * context and the extra directories it finds plugins in. */
struct cli_config {
	char *dir;
	char *json;                /* config.json's path */
	char *context;             /* the context the CLI uses without DOCKER_HOST, or NULL */
	struct strvec plugin_dirs; /* every directory `docker compose` is looked for in */
};

static void cli_config_read(const struct docker *d, struct cli_config *c)
{
	static const char *const system_dirs[] = {
		"/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
		"/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"};
	const char *dir = env_get(d, "DOCKER_CONFIG"), *home = env_get(d, "HOME");
	const char *ctx = env_get(d, "DOCKER_CONTEXT");
	json_t *root = NULL, *extra;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->dir = dir && *dir ? xstrdup(dir) : xasprintf("%s/.docker", home ? home : "");
	c->json = path_join(c->dir, "config.json");
	root = json_load_file(c->json, 0, NULL);
	if (ctx && *ctx)
		c->context = xstrdup(ctx);
	else if (json_is_string(json_object_get(root, "currentContext")))
		c->context = xstrdup(json_string_value(json_object_get(root, "currentContext")));
	extra = json_object_get(root, "cliPluginsExtraDirs");
	for (i = 0; json_is_array(extra) && i < json_array_size(extra); i++)
		if (json_is_string(json_array_get(extra, i)))
			strvec_push(&c->plugin_dirs, json_string_value(json_array_get(extra, i)));
	strvec_push_owned(&c->plugin_dirs, path_join(c->dir, "cli-plugins"));
	for (i = 0; i < ARRAY_SIZE(system_dirs); i++)
		strvec_push(&c->plugin_dirs, system_dirs[i]);
	json_decref(root);
}

static void cli_config_finish(struct cli_config *c)
{
	free(c->dir);
	free(c->json);
	free(c->context);
	strvec_clear(&c->plugin_dirs);
}

/* One line of the flavour cache's key: what path is now (identity, size,
 * times; "-" when it is not there), following symlinks. */
static void key_stat(struct strbuf *key, const char *what, const char *path)
{
	struct stat st;

	strbuf_addf(key, "%s %s ", what, path ? path : "-");
	if (path && stat(path, &st) == 0)
		strbuf_addf(key, "%ju:%ju:%jd:%jd.%09ld:%jd.%09ld\n", (uintmax_t)st.st_dev,
			    (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
			    st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	else
		strbuf_adds(key, "-\n");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything `docker compose version` depends on, as text: the docker
 * binary found in PATH, the DOCKER_* variables, config.json, each plugin
 * directory (its times change when a plugin is added, removed or renamed
 * in it) and the docker-compose plugin in it. */
static void flavour_key(const struct docker *d, const struct cli_config *c, struct strbuf *key)
{
	char *docker = path_search(d, "docker");
	struct strvec vars = STRVEC_INIT;

	strbuf_adds(key, FLAVOUR_CACHE_MAGIC);
	key_stat(key, "docker", docker);
	for (size_t i = 0; i < d->env.n; i++)
		if (!strncmp(d->env.v[i], "DOCKER_", 7))
			strvec_push(&vars, d->env.v[i]);
	if (vars.n)
		qsort(vars.v, vars.n, sizeof(*vars.v), cmp_str);
	for (size_t i = 0; i < vars.n; i++) {
		strbuf_adds(key, "env ");
		engine_query_escape(key, vars.v[i]); /* one line, whatever it holds */
		strbuf_addch(key, '\n');
	}
	strbuf_addf(key, "home %s\n", c->dir);
	key_stat(key, "config", c->json);
	for (size_t i = 0; i < c->plugin_dirs.n; i++) {
		char *plugin = path_join(c->plugin_dirs.v[i], "docker-compose");

		key_stat(key, "dir", c->plugin_dirs.v[i]);
		key_stat(key, "plugin", plugin);
		free(plugin);
	}
	strvec_clear(&vars);
	free(docker);
}

/* Does `docker compose` (the v2 plugin) run? From the cache when its key is
 * key (unless fresh); else probed, and the answer kept there (cache may be
 * NULL) when it was a real one (an exit, not a timeout). */
static bool probe_v2(const struct docker *d, const char *cache, const struct strbuf *key,
		     bool fresh, bool *ret_cached)
{
	const char *v2[] = {"docker", "compose", "version", NULL};
	char *text = NULL;
	size_t len = 0;
	int r;

	*ret_cached = false;
	if (cache && !fresh && read_file(cache, 65536, &text, &len) == 0 && len > key->len &&
	    !memcmp(text, key->buf, key->len)) {
		const char *answer = text + key->len;

		if (!strcmp(answer, "v2 yes\n") || !strcmp(answer, "v2 no\n")) {
			bool yes = answer[3] == 'y';

			free(text);
			*ret_cached = true;
			return yes;
		}
	}
	free(text);
	r = run(d, v2, DOCKER_QUICK_MS, NULL, NULL);
	if (cache && (r == 0 || r == -EIO || r == -ENOENT)) {
		struct strbuf out = STRBUF_INIT;
		char *dir = path_dir(cache);

		strbuf_add(&out, key->buf, key->len);
		strbuf_adds(&out, r == 0 ? "v2 yes\n" : "v2 no\n");
		/* a cache that cannot be written costs the probe next time, nothing else */
		if (mkdir_p(dir, 0755) == 0)
			write_file_atomic(cache, out.buf, out.len, 0644);
		strbuf_release(&out);
		free(dir);
	}
	return r == 0;
}

/* Is the daemon up? Its _ping on the socket, else `docker info`. */
static int ping(const struct docker *d, char **why)
{
	const char *info[] = {"docker", "info", "--format", "{{.ServerVersion}}", NULL};
	struct strbuf body = STRBUF_INIT;
	int status = 0, r;

	if (!d->socket)
		return run(d, info, DOCKER_PING_MS, NULL, why);
	r = engine_get(d->socket, "/_ping", DOCKER_PING_MS, &status, &body, why);
	if (r == 0 && status != 200) {
		*why = xasprintf("unix://%s answered HTTP %d to GET /_ping: %.200s", d->socket,
				 status, strbuf_str(&body));
		r = -EPROTO;
	}
	strbuf_release(&body);
	return r;
}

int docker_init(struct docker *d, char *const *envp, const char *cache, char **cause)
{
	struct cli_config cfg;
	struct strbuf key = STRBUF_INIT;
	char *why = NULL;
	bool cached = false;
	int r;

	memset(d, 0, sizeof(*d));
	for (char *const *p = envp; p && *p; p++)
		strvec_push(&d->env, *p);
	cli_config_read(d, &cfg);
	d->socket = engine_socket(env_get(d, "DOCKER_HOST"), cfg.context);
	r = ping(d, &why);
	if (r < 0) {
		*cause = xasprintf("the Docker daemon does not answer (%s): start it (`systemctl "
				   "start docker`, or dockerd) and run the command again",
				   why ? why : "no answer");
		free(why);
		cli_config_finish(&cfg);
		docker_finish(d);
		return -EHOSTDOWN;
	}
	free(why);
	/* v1 is a python program that takes ~0.6 s to start: found in PATH,
	 * not run (a broken one fails the command that uses it, with its
	 * error). v2 is asked once, then its answer kept while the docker
	 * binary and its plugins stay as they are. */
	flavour_key(d, &cfg, &key);
	cli_config_finish(&cfg);
	if (probe_v2(d, cache, &key, false, &cached)) {
		d->flavour = COMPOSE_V2;
		d->flavour_cache = cached ? xstrdup(cache) : NULL;
	} else if (in_path(d, "docker-compose")) {
		d->flavour = COMPOSE_V1;
	} else if (cached && probe_v2(d, cache, &key, true, &cached)) {
		/* never fail on the cache's word alone */
		d->flavour = COMPOSE_V2;
	} else {
		*cause = xstrdup("neither `docker compose` (the v2 plugin) nor `docker-compose` "
				 "(v1) runs: install one (apt-get install docker-compose)");
		strbuf_release(&key);
		docker_finish(d);
		return -ENOPKG;
	}
	strbuf_release(&key);
	return 0;
}

void docker_finish(struct docker *d)
{
	strvec_clear(&d->env);
	free(d->socket);
	free(d->flavour_cache);
	memset(d, 0, sizeof(*d));
}

/* The start of a compose command line: flavour, project, file, directory. */
static void compose_argv(const struct docker *d, const struct compose_project *p, struct strvec *v)
{
	if (d->flavour == COMPOSE_V2) {
		strvec_push(v, "docker");
		strvec_push(v, "compose");
	} else {
		strvec_push(v, "docker-compose");
	}
	strvec_push(v, "--project-name");
	strvec_push(v, p->name);
	strvec_push(v, "--file");
	strvec_push(v, p->file);
	strvec_push(v, "--project-directory");
	strvec_push(v, p->dir);
}

/* Run a compose command line. When it fails and the flavour came from the
 * cache, the cache goes: the next command asks `docker compose` again (a
 * plugin removed behind a wrapper the key cannot see). */
static int run_compose(const struct docker *d, struct strvec *v, struct strbuf *log, char **cause)
{
	int r = run(d, (const char *const *)strvec_argv(v), DOCKER_SLOW_MS, log, cause);

	if (r < 0 && d->flavour_cache)
		unlink(d->flavour_cache);
	return r;
}

static size_t beside_fill(void *data, struct pollfd *p, size_t max, uint64_t *ret_due);
static void beside_step(void *data, const struct pollfd *p, size_t n);
static size_t wait_nfds(const struct docker_wait *w);

int docker_compose_up(const struct docker *d, const struct compose_project *p,
		      const struct strvec *services, struct docker_wait *w, struct strbuf *log,
		      char **cause)
{
	struct strvec v = STRVEC_INIT;
	struct spawn_beside beside = {0, beside_fill, beside_step, w};
	struct spawn_opts o = {0};
	int r;

	compose_argv(d, p, &v);
	strvec_push(&v, "up");
	strvec_push(&v, "--detach");
	strvec_push(&v, "--no-color");
	for (size_t i = 0; services && i < services->n; i++)
		strvec_push(&v, services->v[i]);
	if (!w || !d->socket) {
		/* through the CLI, a look costs a process: the wait begins after */
		r = run_compose(d, &v, log, cause);
		strvec_clear(&v);
		return r;
	}
	beside.max_fds = wait_nfds(w);
	o.argv = strvec_argv(&v);
	o.envp = strvec_argv((struct strvec *)&d->env);
	o.stdin_fd = -1;
	r = spawn_run_checked_beside(&o, DOCKER_SLOW_MS, log, cause, &beside);
	if (r < 0 && d->flavour_cache)
		unlink(d->flavour_cache);
	strvec_clear(&v);
	return r;
}

int docker_compose_stop(const struct docker *d, const struct compose_project *p,
			const struct strvec *services, unsigned stop_timeout_s, struct strbuf *log,
			char **cause)
{
	struct strvec v = STRVEC_INIT;
	char timeout[16];
	int r;

	compose_argv(d, p, &v);
	snprintf(timeout, sizeof(timeout), "%u", stop_timeout_s);
	strvec_push(&v, "stop");
	strvec_push(&v, "--timeout");
	strvec_push(&v, timeout);
	for (size_t i = 0; services && i < services->n; i++)
		strvec_push(&v, services->v[i]);
	r = run_compose(d, &v, log, cause);
	strvec_clear(&v);
	return r;
}

void containers_free(struct container *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].service);
		free(v[i].state);
		free(v[i].status);
	}
	free(v);
}

/* ---- the engine's lists ---- */

/* The query value of a filter on label (a key "k", or "k=v") and, with
 * events, on container events of those kinds: filters={"label":{...:true}}
 * as the docker CLI writes it, escaped. */
static void filters_query(struct strbuf *q, const char *label, const char *const *events)
{
	json_t *f = json_pack("{s:{s:b}}", "label", label, 1);
	char *text;

	if (events) {
		json_t *ev = json_object();

		for (size_t i = 0; events[i]; i++)
			json_object_set_new(ev, events[i], json_true());
		json_object_set_new(f, "event", ev);
		json_object_set_new(f, "type", json_pack("{s:b}", "container", 1));
	}
	text = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
	strbuf_adds(q, "filters=");
	engine_query_escape(q, text);
	free(text);
	json_decref(f);
}

/* The objects of kind ("container", "network", "volume") carrying label
 * ("k" or "k=v"), from the engine: a JSON array (the caller decrefs) whose
 * objects have "Labels" and "Id" (containers: "State", "Status"; volumes:
 * "Name" instead of "Id"). */
static int api_objects(const struct docker *d, const char *kind, const char *label, json_t **ret,
		       char **cause)
{
	struct strbuf path = STRBUF_INIT, body = STRBUF_INIT;
	json_t *doc, *arr;
	json_error_t jerr;
	int status = 0, r;

	if (!strcmp(kind, "container"))
		strbuf_adds(&path, "/containers/json?all=1&");
	else
		strbuf_addf(&path, "/%ss?", kind);
	filters_query(&path, label, NULL);
	r = engine_get(d->socket, path.buf, DOCKER_QUICK_MS, &status, &body, cause);
	if (r < 0)
		goto out;
	doc = json_loadb(body.buf ? body.buf : "", body.len, 0, &jerr);
	arr = !strcmp(kind, "volume") ? json_object_get(doc, "Volumes") : doc;
	if (status != 200 || !doc || !(json_is_array(arr) || json_is_null(arr))) {
		json_t *m = json_object_get(doc, "message");

		*cause = xasprintf("GET %s: HTTP %d: %s", path.buf, status,
				   json_is_string(m) ? json_string_value(m)
				   : doc             ? "an unexpected answer"
						     : jerr.text);
		json_decref(doc);
		r = -EPROTO;
		goto out;
	}
	*ret = json_is_array(arr) ? json_incref(arr) : json_array(); /* "Volumes": null */
	json_decref(doc);
out:
	strbuf_release(&path);
	strbuf_release(&body);
	return r;
}

/* A string member of obj, or "". */
static const char *jstr(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* The value of label key in obj's "Labels", or "". */
static const char *jlabel(const json_t *obj, const char *key)
{
	return jstr(json_object_get(obj, "Labels"), key);
}

static int cli_project_containers(const struct docker *d, const char *project, struct container **v,
				  size_t *n, char **cause)
{
	char *filter = xasprintf("label=" LABEL_PROJECT "=%s", project);
	const char *argv[] = {
		"docker",
		"ps",
		"--all",
		"--no-trunc",
		"--filter",
		filter,
		"--format",
		"{{.ID}}\t{{.Label \"com.docker.compose.service\"}}\t{{.State}}\t{{.Status}}",
		NULL};
	struct strbuf out = STRBUF_INIT;
	size_t alloc = 0;
	char *save = NULL;
	int r = run(d, argv, DOCKER_QUICK_MS, &out, cause);

	free(filter);
	if (r < 0) {
		strbuf_release(&out);
		return r;
	}
	strbuf_addch(&out, '\0'); /* a buffer even for no output */
	for (char *line = strtok_r(out.buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0}, *p = line;

		for (int i = 0; i < 4; i++) {
			f[i] = p;
			p = p ? strchr(p, '\t') : NULL;
			if (p)
				*p++ = '\0';
		}
		if (!f[3])
			continue;
		XGROW(*v, alloc, *n + 1);
		(*v)[(*n)++] = (struct container){xstrdup(f[0]), xstrdup(f[1]), xstrdup(f[2]),
						  xstrdup(f[3])};
	}
	strbuf_release(&out);
	return 0;
}

int docker_project_containers(const struct docker *d, const char *project, struct container **v,
			      size_t *n, char **cause)
{
	char *label;
	json_t *arr = NULL;
	size_t i;
	int r;

	*v = NULL;
	*n = 0;
	if (!d->socket)
		return cli_project_containers(d, project, v, n, cause);
	label = xasprintf(LABEL_PROJECT "=%s", project);
	r = api_objects(d, "container", label, &arr, cause);
	free(label);
	if (r < 0)
		return r;
	/* newest first, as `docker ps` lists them */
	*v = xcalloc(json_array_size(arr) + 1, sizeof(**v));
	for (i = 0; i < json_array_size(arr); i++) {
		const json_t *c = json_array_get(arr, i);

		(*v)[(*n)++] = (struct container){
			xstrdup(jstr(c, "Id")), xstrdup(jlabel(c, LABEL_SERVICE)),
			xstrdup(jstr(c, "State")), xstrdup(jstr(c, "Status"))};
	}
	json_decref(arr);
	return 0;
}

int docker_container_on_port(const struct docker *d, uint16_t port, struct container *ret,
			     char **cause)
{
	char filter[32];
	const char *argv[] = {"docker",
			      "ps",
			      "--no-trunc",
			      "--filter",
			      filter,
			      "--format",
			      "{{.ID}}\t{{.Label \"com.docker.compose.service\"}}\t{{.Names}}\t"
			      "{{.Label \"com.docker.compose.project\"}}",
			      NULL};
	struct strbuf out = STRBUF_INIT;
	char *f[4] = {0}, *p;
	int r;

	snprintf(filter, sizeof(filter), "publish=%u", port);
	r = run(d, argv, DOCKER_QUICK_MS, &out, cause);
	if (r < 0 || !out.len) {
		strbuf_release(&out);
		return r < 0 ? r : -ENOENT;
	}
	p = out.buf;
	p[strcspn(p, "\n")] = '\0';
	for (int i = 0; i < 4; i++) {
		f[i] = p;
		p = p ? strchr(p, '\t') : NULL;
		if (p)
			*p++ = '\0';
	}
	*ret = (struct container){xstrdup(f[0]), xstrdup(f[1] ? f[1] : ""),
				  xstrdup(f[2] ? f[2] : ""), xstrdup(f[3] ? f[3] : "")};
	strbuf_release(&out);
	return 0;
}

/* ---- streams ---- */

static int stream_start(const struct docker *d, const char *const *argv, struct docker_stream *ret,
			char **cause)
{
	struct spawn_opts o = {0};
	struct spawn_error se = {0};
	int fds[2], r, ws;

	*ret = (struct docker_stream)DOCKER_STREAM_INIT;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = -errno;
		*cause = xasprintf("cannot make a pipe: %s", strerror(-r));
		return r;
	}
	o.argv = (char *const *)argv;
	o.envp = strvec_argv((struct strvec *)&d->env);
	o.stdin_fd = -1;
	/* one pipe for both: the lines stay in the order docker wrote them */
	o.stdout_fd = o.stderr_fd = fds[1];
	o.new_pgroup = true;
	o.pdeath_sig = SIGTERM;
	r = spawn_start(&o, &ret->pid, &ret->pidfd, &se);
	close(fds[1]);
	if (r < 0) {
		if (ret->pid > 0)
			reaper_reap_sync(ret->pid, -1, &ws);
		*cause = spawn_error_text(&o, &se);
		close(fds[0]);
		*ret = (struct docker_stream)DOCKER_STREAM_INIT;
		return r;
	}
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	ret->fd = fds[0];
	return 0;
}

/* "<seconds>.<nanoseconds>", as docker reads a time. */
static void since_text(uint64_t ns, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

int docker_logs_stream(const struct docker *d, const char *id, long tail, uint64_t since_ns,
		       bool follow, struct docker_stream *ret, char **cause)
{
	const char *argv[11];
	char t[24], since[48];
	size_t n = 0;

	if (tail < 0)
		snprintf(t, sizeof(t), "all");
	else
		snprintf(t, sizeof(t), "%ld", tail);
	argv[n++] = "docker";
	argv[n++] = "logs";
	argv[n++] = "--tail";
	argv[n++] = t;
	if (since_ns) {
		since_text(since_ns, since, sizeof(since));
		argv[n++] = "--since";
		argv[n++] = since;
	}
	if (follow) {
		argv[n++] = "--follow";
		argv[n++] = "--timestamps";
	}
	argv[n++] = id;
	argv[n] = NULL;
	return stream_start(d, argv, ret, cause);
}

int docker_log_line(const char *line, uint64_t *ret_ns, const char **ret_text)
{
	struct tm tm = {0};
	uint64_t frac = 0;
	int used = 0, digits = 0;
	time_t t;

	/* docker writes RFC 3339 in UTC with up to 9 digits of fraction */
	if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -EINVAL;
	line += used;
	if (*line == '.')
		for (line++; *line >= '0' && *line <= '9'; line++, digits++)
			if (digits < 9)
				frac = frac * 10 + (uint64_t)(*line - '0');
	for (; digits < 9; digits++)
		frac *= 10;
	if (line[0] != 'Z' || line[1] != ' ')
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ret_ns = (uint64_t)t * 1000000000u + frac;
	*ret_text = line + 2;
	return 0;
}

int docker_starts_stream(const struct docker *d, const char *project, uint64_t since_ns,
			 struct docker_stream *ret, char **cause)
{
	char *filter = xasprintf("label=" LABEL_PROJECT "=%s", project);
	const char *argv[14];
	char since[48];
	size_t n = 0;
	int r;

	argv[n++] = "docker";
	argv[n++] = "events";
	if (since_ns) {
		since_text(since_ns, since, sizeof(since));
		argv[n++] = "--since";
		argv[n++] = since;
	}
	argv[n++] = "--filter";
	argv[n++] = "type=container";
	argv[n++] = "--filter";
	argv[n++] = "event=start";
	argv[n++] = "--filter";
	argv[n++] = filter;
	argv[n++] = "--format";
	argv[n++] = "{{index .Actor.Attributes \"com.docker.compose.service\"}}\t{{.Actor.ID}}";
	argv[n] = NULL;
	r = stream_start(d, argv, ret, cause);
	free(filter);
	return r;
}

bool docker_stream_read(struct docker_stream *s, struct strbuf *out)
{
	char buf[16384];
	ssize_t n;

	if (s->fd < 0)
		return false;
	do
		n = read(s->fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		strbuf_add(out, buf, (size_t)n);
		return true;
	}
	if (n < 0 && errno == EAGAIN)
		return true;
	close(s->fd);
	s->fd = -1;
	return false;
}

void docker_stream_close(struct docker_stream *s)
{
	int ws;

	if (s->fd >= 0)
		close(s->fd);
	if (s->pid > 0) {
		/* Ended or not, it is killed: the wait below is bounded. While it
		 * is not reaped, its group id is still its own. */
		kill(-s->pid, SIGKILL);
		reaper_reap_sync(s->pid, s->pidfd, &ws);
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	*s = (struct docker_stream)DOCKER_STREAM_INIT;
}

void docker_logs_tail(const struct docker *d, const char *id, unsigned n, struct strbuf *out)
{
	struct docker_stream s;
	uint64_t deadline = time_mono_ms() + DOCKER_QUICK_MS;
	char *cause = NULL;

	if (docker_logs_stream(d, id, (long)n, 0, false, &s, &cause) < 0) {
		free(cause);
		return;
	}
	while (docker_stream_read(&s, out)) {
		struct pollfd p = {.fd = s.fd, .events = POLLIN};
		uint64_t now = time_mono_ms();

		if (now >= deadline)
			break;
		poll(&p, 1, (int)(deadline - now));
	}
	docker_stream_close(&s);
}

/* ---- the wait ---- */

void compose_failure_finish(struct compose_failure *f)
{
	free(f->service);
	free(f->what);
	free(f->tail);
	memset(f, 0, sizeof(*f));
}

const char *docker_health(const char *status)
{
	if (strstr(status, "(unhealthy)"))
		return "unhealthy";
	if (strstr(status, "(health: starting)"))
		return "starting";
	if (strstr(status, "(healthy)"))
		return "healthy";
	return NULL;
}

static void fail_with(const struct docker *d, struct compose_failure *f, const struct container *c,
		      char *what)
{
	struct strbuf t = STRBUF_INIT;

	f->service = xstrdup(c->service);
	f->what = what;
	docker_logs_tail(d, c->id, 20, &t);
	f->tail = t.len ? strbuf_detach(&t) : NULL;
	strbuf_release(&t);
}

/* The container events after which the wait looks again: a container
 * started, ended, removed, paused or resumed, or its health changed. */
static const char *const wait_events[] = {"start", "restart", "die",           "destroy",
					  "pause", "unpause", "health_status", NULL};

/* What tells the wait that something changed in the project: the engine's
 * /events on its socket, or a `docker events` child. */
struct events {
	int fd; /* -1: none (the wait lists every WAIT_POLL_MS) */
	struct docker_stream child;
	struct strbuf buf;
};

/* Follow the project's events from a second ago (changes between then and
 * the list that follows are seen twice: harmless; none is missed, even
 * with a daemon's clock a little behind ours). */
static void events_open(const struct docker *d, const char *project, struct events *ev)
{
	int64_t ms = time_wall_ms() - 1000;
	char since[48], *cause = NULL, *label = xasprintf(LABEL_PROJECT "=%s", project);

	*ev = (struct events){.fd = -1, .child = DOCKER_STREAM_INIT, .buf = STRBUF_INIT};
	snprintf(since, sizeof(since), "%" PRId64 ".%03d000000", ms / 1000, (int)(ms % 1000));
	if (d->socket) {
		struct strbuf path = STRBUF_INIT;

		strbuf_addf(&path, "/events?since=%s&", since);
		filters_query(&path, label, wait_events);
		engine_stream(d->socket, path.buf, DOCKER_QUICK_MS, &ev->fd, &ev->buf, &cause);
		strbuf_release(&path);
	} else {
		char *filter = xasprintf("label=%s", label);
		const char *argv[8 + 2 * ARRAY_SIZE(wait_events)];
		struct strvec names = STRVEC_INIT;
		size_t n = 0;

		argv[n++] = "docker";
		argv[n++] = "events";
		argv[n++] = "--since";
		argv[n++] = since;
		argv[n++] = "--filter";
		argv[n++] = "type=container";
		argv[n++] = "--filter";
		argv[n++] = filter;
		for (size_t i = 0; wait_events[i]; i++)
			strvec_pushf(&names, "event=%s", wait_events[i]);
		for (size_t i = 0; i < names.n; i++) {
			argv[n++] = "--filter";
			argv[n++] = names.v[i];
		}
		argv[n] = NULL;
		if (stream_start(d, argv, &ev->child, &cause) == 0)
			ev->fd = ev->child.fd;
		strvec_clear(&names);
		free(filter);
	}
	/* without events, the wait lists the containers every WAIT_POLL_MS */
	free(cause);
	free(label);
}

/* Read what came: false once the stream has ended (closed then). */
static bool events_read(struct events *ev)
{
	bool more;

	if (ev->child.pid > 0) {
		more = docker_stream_read(&ev->child, &ev->buf);
	} else {
		char buf[4096];
		ssize_t n;

		do
			n = read(ev->fd, buf, sizeof(buf));
		while (n < 0 && errno == EINTR);
		more = n > 0 || (n < 0 && errno == EAGAIN);
	}
	strbuf_reset(&ev->buf); /* only that something came counts */
	if (!more) {
		if (ev->child.pid > 0)
			docker_stream_close(&ev->child);
		else
			close(ev->fd);
		ev->fd = -1;
	}
	return more;
}

static void events_close(struct events *ev)
{
	if (ev->child.pid > 0)
		docker_stream_close(&ev->child);
	else if (ev->fd >= 0)
		close(ev->fd);
	ev->fd = -1;
	strbuf_release(&ev->buf);
}

/* Where a service of the wait stands. */
enum wait_state {
	WAIT_NO_CONTAINER,
	WAIT_NOT_RUNNING, /* created, restarting, paused... (in state) */
	WAIT_HEALTH,      /* running, its healthcheck not passed yet */
	WAIT_RUNNING,     /* running, healthy or without a healthcheck: its port next */
};

struct wait_svc {
	const struct compose_wait *w;
	enum wait_state state;
	char *docker_state;
	char *id; /* the container its port check is about, or NULL */
	struct portcheck port;
};

struct docker_wait {
	const struct docker *d;
	char *project;
	struct wait_svc *s;
	size_t n;
	struct events ev;
	bool look;          /* list the containers before the next poll */
	uint64_t next_look; /* ... and at the latest then */
};

int docker_wait_create(const struct docker *d, const char *project, const struct compose_wait *v,
		       size_t n, struct docker_wait **ret)
{
	struct docker_wait *w = xcalloc(1, sizeof(*w));

	w->d = d;
	w->project = xstrdup(project);
	w->s = xcalloc(n + 1, sizeof(*w->s));
	w->n = n;
	w->look = true;
	for (size_t i = 0; i < n; i++) {
		w->s[i].w = &v[i];
		portcheck_init(&w->s[i].port, v[i].port, true);
	}
	/* events first, then the list: a change after the list is an event */
	events_open(d, project, &w->ev);
	*ret = w;
	return 0;
}

void docker_wait_destroy(struct docker_wait *w)
{
	if (!w)
		return;
	events_close(&w->ev);
	for (size_t i = 0; i < w->n; i++) {
		portcheck_stop(&w->s[i].port);
		free(w->s[i].docker_state);
		free(w->s[i].id);
	}
	free(w->s);
	free(w->project);
	free(w);
}

/* List the containers and see where each service stands. A service that
 * is not running (any more) has its port check stopped; one that runs has
 * it started, again when its container is another one. With decide: 0, or
 * -EIO when a container exited or is unhealthy (*fail filled), -EHOSTDOWN
 * when docker does not answer; without (compose still runs): only that,
 * nothing failed yet. */
static int wait_look(struct docker_wait *w, bool decide, struct compose_failure *fail)
{
	struct container *cs = NULL;
	size_t nc = 0;
	char *cause = NULL;
	uint64_t now;
	int r = 0;

	w->look = false;
	w->next_look = time_mono_ms() + (w->ev.fd >= 0 ? WAIT_LIST_MS : WAIT_POLL_MS);
	if (docker_project_containers(w->d, w->project, &cs, &nc, &cause) < 0) {
		if (decide)
			fail->what = xasprintf("docker stopped answering: %s", cause);
		free(cause);
		return decide ? -EHOSTDOWN : 0;
	}
	now = time_mono_ms();
	for (size_t i = 0; i < w->n && r == 0; i++) {
		struct wait_svc *s = &w->s[i];
		const struct container *c = NULL;
		const char *health;
		bool ended;

		for (size_t j = 0; j < nc; j++)
			if (!strcmp(cs[j].service, s->w->service))
				c = &cs[j];
		health = c ? docker_health(c->status) : NULL;
		ended = c && (!strcmp(c->state, "exited") || !strcmp(c->state, "dead"));
		free(s->docker_state);
		s->docker_state = c ? xstrdup(c->state) : NULL;
		if (!c || !s->id || strcmp(s->id, c->id)) {
			/* another container: what was tried was not this one */
			portcheck_stop(&s->port);
			free(s->id);
			s->id = c ? xstrdup(c->id) : NULL;
		}
		if (!c) {
			s->state = WAIT_NO_CONTAINER;
		} else if (ended && decide) {
			fail_with(w->d, fail, c, xasprintf("%s", c->status));
			r = -EIO;
		} else if (health && !strcmp(health, "unhealthy") && decide) {
			fail_with(w->d, fail, c, xstrdup("is unhealthy"));
			r = -EIO;
		} else if (strcmp(c->state, "running")) {
			s->state = WAIT_NOT_RUNNING;
		} else if (health && strcmp(health, "healthy")) {
			s->state = WAIT_HEALTH; /* starting (or unhealthy, not decided yet) */
		} else {
			s->state = WAIT_RUNNING;
		}
		if (s->state != WAIT_RUNNING || r < 0)
			portcheck_stop(&s->port);
		else if (s->w->port && s->port.state == PORTCHECK_IDLE)
			portcheck_start(&s->port, now);
	}
	containers_free(cs, nc);
	return r;
}

static bool wait_ready(const struct wait_svc *s)
{
	return s->state == WAIT_RUNNING && (!s->w->port || s->port.state == PORTCHECK_OPEN);
}

/* Why s is not ready, for a timeout. */
static char *wait_why(const struct wait_svc *s)
{
	switch (s->state) {
	case WAIT_NO_CONTAINER:
		return xasprintf("service '%s' has no container", s->w->service);
	case WAIT_NOT_RUNNING:
		return xasprintf("service '%s' is %s", s->w->service, s->docker_state);
	case WAIT_HEALTH:
		return xasprintf("service '%s' is not healthy yet", s->w->service);
	default:
		return xasprintf("service '%s': port %u does not accept connections", s->w->service,
				 s->w->port);
	}
}

static size_t wait_nfds(const struct docker_wait *w)
{
	return w->n + 1;
}

/* What the wait polls (its events, then each port) in p[0..n]: how many,
 * and *due, when it wants to run at the latest. */
static size_t wait_fill(struct docker_wait *w, struct pollfd *p, uint64_t *due)
{
	*due = w->next_look;
	p[0] = (struct pollfd){.fd = w->ev.fd, .events = POLLIN};
	for (size_t i = 0; i < w->n; i++) {
		p[1 + i] = (struct pollfd){.fd = w->s[i].port.fd,
					   .events = portcheck_events(&w->s[i].port)};
		if (portcheck_due(&w->s[i].port) < *due)
			*due = portcheck_due(&w->s[i].port);
	}
	return w->n + 1;
}

/* What poll said of them. */
static void wait_step(struct docker_wait *w, const struct pollfd *p)
{
	uint64_t now;

	if (w->ev.fd >= 0 && p[0].revents) {
		/* something changed (or the stream ended: then the list says
		 * whether docker still answers) */
		events_read(&w->ev);
		w->look = true;
	}
	now = time_mono_ms();
	for (size_t i = 0; i < w->n; i++)
		portcheck_step(&w->s[i].port, w->s[i].port.fd >= 0 ? p[1 + i].revents : 0, now);
}

/* While compose's `up` runs (spawn_beside): the containers it starts are
 * looked at as their events come and their ports tried, so that what
 * stays is only to see them again once compose is done. Nothing fails
 * here: that is decided after compose, as if nothing had been tried. */
static size_t beside_fill(void *data, struct pollfd *p, size_t max, uint64_t *ret_due)
{
	struct docker_wait *w = data;

	(void)max;
	if (w->look || time_mono_ms() >= w->next_look)
		wait_look(w, false, NULL);
	return wait_fill(w, p, ret_due);
}

static void beside_step(void *data, const struct pollfd *p, size_t n)
{
	(void)n;
	wait_step(data, p);
}

int docker_compose_wait(struct docker_wait *w, uint64_t timeout_ms, int sigfd,
			struct compose_failure *fail)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	struct pollfd *p = xcalloc(w->n + 2, sizeof(*p));
	int r;

	memset(fail, 0, sizeof(*fail));
	w->look = true; /* what compose left, decided now */
	for (;;) {
		uint64_t now = time_mono_ms(), due;
		bool all = true;

		if (w->look || now >= w->next_look) {
			r = wait_look(w, true, fail);
			if (r < 0)
				break;
		}
		for (size_t i = 0; i < w->n; i++)
			all = all && wait_ready(&w->s[i]);
		if (all) {
			r = 0;
			break;
		}
		now = time_mono_ms();
		if (now >= deadline) {
			for (size_t i = 0; i < w->n && !fail->what; i++)
				if (!wait_ready(&w->s[i]))
					fail->what = wait_why(&w->s[i]);
			r = -ETIMEDOUT;
			break;
		}
		p[0] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		wait_fill(w, p + 1, &due);
		if (deadline < due)
			due = deadline;
		if (poll(p, w->n + 2, due > now ? (int)(due - now) : 0) < 0 && errno != EINTR) {
			fail->what = xasprintf("cannot wait: %s", strerror(errno));
			r = -EHOSTDOWN;
			break;
		}
		if (sigfd >= 0 && (p[0].revents & POLLIN)) {
			r = -EINTR;
			break;
		}
		wait_step(w, p + 1);
	}
	free(p);
	return r;
}

/* ---- teardown ---- */

/* Append to ret the ids (volumes: names) of the objects of kind carrying
 * label, from the engine; with values, the value of label key `values` of
 * each instead (each once, none empty). */
static int api_labelled(const struct docker *d, const char *kind, const char *label,
			const char *values, struct strvec *ret, char **cause)
{
	json_t *arr = NULL;
	int r = api_objects(d, kind, label, &arr, cause);

	for (size_t i = 0; r == 0 && i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		const char *s = values                    ? jlabel(o, values)
				: !strcmp(kind, "volume") ? jstr(o, "Name")
							  : jstr(o, "Id");

		if (*s && (!values || strvec_find(ret, s) < 0))
			strvec_push(ret, s);
	}
	json_decref(arr);
	return r;
}

int docker_projects(const struct docker *d, struct strvec *ret, char **cause)
{
	static const char *const kinds[] = {"container", "network", "volume"};
	const char *format = "{{.Label \"" LABEL_PROJECT "\"}}";
	struct strvec names = STRVEC_INIT;
	int r = 0;

	for (size_t k = 0; k < ARRAY_SIZE(kinds) && r == 0; k++) {
		const char *ps[] = {"docker",   "ps",   "--all", "--filter", "label=" LABEL_PROJECT,
				    "--format", format, NULL};
		const char *ls[] = {"docker",   kinds[k], "ls", "--filter", "label=" LABEL_PROJECT,
				    "--format", format,   NULL};
		struct strbuf out = STRBUF_INIT;
		char *save = NULL;

		if (d->socket) {
			r = api_labelled(d, kinds[k], LABEL_PROJECT, LABEL_PROJECT, &names, cause);
			continue;
		}
		r = run(d, k == 0 ? ps : ls, DOCKER_QUICK_MS, &out, cause);
		strbuf_addch(&out, '\0'); /* a buffer even for no output */
		for (char *name = strtok_r(out.buf, "\n", &save); r == 0 && name;
		     name = strtok_r(NULL, "\n", &save))
			if (*name && strvec_find(&names, name) < 0)
				strvec_push(&names, name);
		strbuf_release(&out);
	}
	for (size_t i = 0; r == 0 && i < names.n; i++)
		strvec_push(ret, names.v[i]);
	strvec_clear(&names);
	return r;
}

/* Remove every object of kind ("container", "network", "volume") with the
 * project's label. */
static int remove_labelled(const struct docker *d, const char *kind, const char *project,
			   char **cause)
{
	char *filter = xasprintf("label=" LABEL_PROJECT "=%s", project);
	const char *ls_c[] = {"docker", "ps", "--all", "--quiet", "--filter", filter, NULL};
	const char *ls_o[] = {"docker", kind, "ls", "--quiet", "--filter", filter, NULL};
	struct strbuf out = STRBUF_INIT;
	struct strvec rm = STRVEC_INIT;
	char *save = NULL;
	int r;

	strvec_push(&rm, "docker");
	strvec_push(&rm, kind);
	strvec_push(&rm, "rm");
	if (!strcmp(kind, "container")) {
		strvec_push(&rm, "--force");
		strvec_push(&rm, "--volumes");
	}
	if (d->socket) {
		r = api_labelled(d, kind, filter + strlen("label="), NULL, &rm, cause);
	} else {
		r = run(d, !strcmp(kind, "container") ? ls_c : ls_o, DOCKER_QUICK_MS, &out, cause);
		strbuf_addch(&out, '\0'); /* a buffer even for no output */
		for (char *id = strtok_r(out.buf, "\n", &save); r == 0 && id;
		     id = strtok_r(NULL, "\n", &save))
			strvec_push(&rm, id);
	}
	free(filter);
	if (r == 0 && rm.n > (strcmp(kind, "container") ? 3u : 5u))
		r = run(d, (const char *const *)strvec_argv(&rm), DOCKER_QUICK_MS, NULL, cause);
	strbuf_release(&out);
	strvec_clear(&rm);
	return r;
}

int docker_project_remove(const struct docker *d, const struct compose_project *p,
			  bool keep_volumes, unsigned stop_timeout_s, char **cause)
{
	char timeout[16];
	struct strvec v = STRVEC_INIT;
	char *why = NULL;
	int r = 0;

	if (p->file && access(p->file, R_OK) == 0) {
		compose_argv(d, p, &v);
		snprintf(timeout, sizeof(timeout), "%u", stop_timeout_s);
		strvec_push(&v, "down");
		strvec_push(&v, "--timeout");
		strvec_push(&v, timeout);
		strvec_push(&v, "--remove-orphans");
		if (!keep_volumes)
			strvec_push(&v, "--volumes");
		/* failures here are the label sweep's to finish */
		run_compose(d, &v, NULL, &why);
		free(why);
		why = NULL;
		strvec_clear(&v);
	}
	/* What compose missed (a file that changed or is gone), by the exact label. */
	r = remove_labelled(d, "container", p->name, cause);
	if (r == 0)
		r = remove_labelled(d, "network", p->name, cause);
	if (r == 0 && !keep_volumes)
		r = remove_labelled(d, "volume", p->name, cause);
	return r;
}
