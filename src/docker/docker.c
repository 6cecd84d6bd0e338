/*
 * docker.c: compose projects on the Docker engine (see docker.h). Every
 * command goes through spawn_run with a deadline.
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "docker/docker.h"
#include "proc/reaper.h"
#include "proc/run.h"
#include "util/timeutil.h"

#define DOCKER_QUICK_MS 15000 /* info, ps, inspect, logs, rm */
#define DOCKER_SLOW_MS 600000 /* up (images may build), down */
#define WAIT_POLL_MS 100
#define LABEL_PROJECT "com.docker.compose.project"

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

/* Is there an executable name in the PATH of d's environment? */
static bool in_path(const struct docker *d, const char *name)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	bool found = false;

	for (size_t i = 0; i < d->env.n; i++)
		if (!strncmp(d->env.v[i], "PATH=", 5))
			path = d->env.v[i] + 5;
	while (*path && !found) {
		size_t n = strcspn(path, ":");
		char *f = xasprintf("%.*s/%s", (int)n, path, name);

		found = n && access(f, X_OK) == 0;
		free(f);
		path += n + (path[n] == ':');
	}
	return found;
}

int docker_init(struct docker *d, char *const *envp, char **cause)
{
	const char *info[] = {"docker", "info", "--format", "{{.ServerVersion}}", NULL};
	const char *v2[] = {"docker", "compose", "version", NULL};
	char *why = NULL;
	int r;

	memset(d, 0, sizeof(*d));
	for (char *const *p = envp; p && *p; p++)
		strvec_push(&d->env, *p);
	r = run(d, info, 10000, NULL, &why);
	if (r < 0) {
		*cause = xasprintf("the Docker daemon does not answer (%s): start it (`systemctl "
				   "start docker`, or dockerd) and run the command again",
				   why);
		free(why);
		docker_finish(d);
		return -EHOSTDOWN;
	}
	free(why);
	why = NULL;
	/* v1 is a python program that takes ~0.6 s to start: found in PATH,
	 * not run (a broken one fails the command that uses it, with its
	 * error). */
	if (run(d, v2, DOCKER_QUICK_MS, NULL, NULL) == 0) {
		d->flavour = COMPOSE_V2;
	} else if (in_path(d, "docker-compose")) {
		d->flavour = COMPOSE_V1;
	} else {
		*cause = xstrdup("neither `docker compose` (the v2 plugin) nor `docker-compose` "
				 "(v1) runs: install one (apt-get install docker-compose)");
		docker_finish(d);
		return -ENOPKG;
	}
	return 0;
}

void docker_finish(struct docker *d)
{
	strvec_clear(&d->env);
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

int docker_compose_up(const struct docker *d, const struct compose_project *p,
		      const struct strvec *services, struct strbuf *log, char **cause)
{
	struct strvec v = STRVEC_INIT;
	int r;

	compose_argv(d, p, &v);
	strvec_push(&v, "up");
	strvec_push(&v, "--detach");
	strvec_push(&v, "--no-color");
	for (size_t i = 0; services && i < services->n; i++)
		strvec_push(&v, services->v[i]);
	r = run(d, (const char *const *)strvec_argv(&v), DOCKER_SLOW_MS, log, cause);
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
	r = run(d, (const char *const *)strvec_argv(&v), DOCKER_SLOW_MS, log, cause);
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

int docker_project_containers(const struct docker *d, const char *project, struct container **v,
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

	*v = NULL;
	*n = 0;
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

/* Does 127.0.0.1:port take a connection that stays up? docker's userland
 * proxy accepts at once and closes when the container does not listen yet:
 * an end within 100 ms counts as "no". */
bool docker_port_accepts(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t len = sizeof(err);
	struct pollfd p;
	bool ok = false;
	char c;

	if (fd < 0)
		return false;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		goto out;
	p = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, 300) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		goto out;
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 100) == 0)
		ok = true; /* open, and quiet: a server waiting for its client */
	else
		ok = recv(fd, &c, 1, MSG_PEEK) > 0; /* a server that speaks first */
out:
	close(fd);
	return ok;
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

static bool sigfd_fired(int sigfd)
{
	struct pollfd p = {.fd = sigfd, .events = POLLIN};

	return sigfd >= 0 && poll(&p, 1, 0) == 1;
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

int docker_compose_wait(const struct docker *d, const char *project, const struct compose_wait *v,
			size_t n, uint64_t timeout_ms, int sigfd, struct compose_failure *fail)
{
	uint64_t deadline = time_mono_ms() + timeout_ms;
	char *last = NULL;

	memset(fail, 0, sizeof(*fail));
	for (;;) {
		struct container *cs = NULL;
		size_t nc = 0;
		char *cause = NULL;
		bool all = true;

		if (docker_project_containers(d, project, &cs, &nc, &cause) < 0) {
			fail->what = xasprintf("docker stopped answering: %s", cause);
			free(cause);
			free(last);
			return -EHOSTDOWN;
		}
		for (size_t i = 0; i < n && all; i++) {
			const struct container *c = NULL;
			const char *health;

			for (size_t j = 0; j < nc; j++)
				if (!strcmp(cs[j].service, v[i].service))
					c = &cs[j];
			health = c ? docker_health(c->status) : NULL;
			free(last);
			last = NULL;
			if (!c) {
				all = false;
				last = xasprintf("service '%s' has no container", v[i].service);
			} else if (!strcmp(c->state, "exited") || !strcmp(c->state, "dead")) {
				fail_with(d, fail, c, xasprintf("%s", c->status));
				containers_free(cs, nc);
				return -EIO;
			} else if (health && !strcmp(health, "unhealthy")) {
				fail_with(d, fail, c, xstrdup("is unhealthy"));
				containers_free(cs, nc);
				return -EIO;
			} else if (strcmp(c->state, "running")) {
				all = false;
				last = xasprintf("service '%s' is %s", v[i].service, c->state);
			} else if (health && !strcmp(health, "starting")) {
				all = false;
				last = xasprintf("service '%s' is not healthy yet", v[i].service);
			} else if (v[i].port && !docker_port_accepts(v[i].port)) {
				all = false;
				last = xasprintf(
					"service '%s': port %u does not accept connections",
					v[i].service, v[i].port);
			}
		}
		containers_free(cs, nc);
		if (all) {
			free(last);
			return 0;
		}
		if (sigfd_fired(sigfd)) {
			free(last);
			return -EINTR;
		}
		if (time_mono_ms() >= deadline) {
			fail->what = last ? last : xstrdup("not ready");
			return -ETIMEDOUT;
		}
		poll(NULL, 0, WAIT_POLL_MS);
	}
}

/* ---- teardown ---- */

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

	r = run(d, !strcmp(kind, "container") ? ls_c : ls_o, DOCKER_QUICK_MS, &out, cause);
	free(filter);
	if (r < 0)
		goto out;
	strvec_push(&rm, "docker");
	strvec_push(&rm, kind);
	strvec_push(&rm, "rm");
	if (!strcmp(kind, "container")) {
		strvec_push(&rm, "--force");
		strvec_push(&rm, "--volumes");
	}
	strbuf_addch(&out, '\0'); /* a buffer even for no output */
	for (char *id = strtok_r(out.buf, "\n", &save); id; id = strtok_r(NULL, "\n", &save))
		strvec_push(&rm, id);
	if (rm.n > (strcmp(kind, "container") ? 3u : 5u))
		r = run(d, (const char *const *)strvec_argv(&rm), DOCKER_QUICK_MS, NULL, cause);
out:
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
		run(d, (const char *const *)strvec_argv(&v), DOCKER_SLOW_MS, NULL, &why);
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
