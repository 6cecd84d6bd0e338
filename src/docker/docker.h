/*
 * docker.h: a session's compose project on the Docker engine (SPEC §8): the
 * compose flavour (`docker compose` v2 plugin, else `docker-compose` v1),
 * `up -d` of the session's file, berth's own wait (v1 has no --wait) until
 * every container runs, is healthy where it has a healthcheck and its
 * published port accepts connections, and teardown by the exact
 * com.docker.compose.project label. Every docker command has a deadline: a
 * daemon that does not answer is an error within seconds.
 *
 * What berth asks the daemon itself (is it up, a project's containers,
 * networks and volumes, its events) goes through the Engine API on the
 * daemon's unix socket when the docker CLI would talk to one (engine.h),
 * else through the CLI; compose, logs and removals always through the CLI.
 */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/strbuf.h"
#include "util/strvec.h"

enum compose_flavour { COMPOSE_V2, COMPOSE_V1 };

struct docker {
	enum compose_flavour flavour;
	struct strvec env;   /* the environment of docker commands (interpolation) */
	char *socket;        /* the engine's unix socket (engine.h), NULL: the CLI only */
	char *flavour_cache; /* the cache file the flavour was read from, or NULL */
};

/* Check that the daemon answers and find the compose flavour. envp: the
 * environment compose interpolates from. cache (may be NULL: always probe):
 * a file that keeps what `docker compose version` said, with what it
 * depends on (the docker binary, its plugin directories and config, the
 * DOCKER_* variables): while none of that changes, the probe is not run
 * again. -errno with *cause saying what to do. */
int docker_init(struct docker *d, char *const *envp, const char *cache, char **cause);
void docker_finish(struct docker *d);

/* A project: its name, the session's compose file, and the directory
 * relative paths resolve against (the original file's). */
struct compose_project {
	const char *name;
	const char *file;
	const char *dir;
};

struct docker_wait;

/* `up -d` of services (all when empty). The command's output is appended
 * to log. With w (may be NULL; see docker_wait_create), the containers it
 * starts are looked at and their ports tried while it runs, through the
 * engine's socket: docker_compose_wait then has only to see them again. */
int docker_compose_up(const struct docker *d, const struct compose_project *p,
		      const struct strvec *services, struct docker_wait *w, struct strbuf *log,
		      char **cause);

/* `stop` of services (compose's own stop: each container gets its stop
 * signal, then SIGKILL after stop_timeout_s; the containers are kept, a
 * later docker_compose_up starts them again). The command's output is
 * appended to log (may be NULL). */
int docker_compose_stop(const struct docker *d, const struct compose_project *p,
			const struct strvec *services, unsigned stop_timeout_s, struct strbuf *log,
			char **cause);

/* A container of a project. */
struct container {
	char *id;
	char *service;
	char *state;  /* running, exited, created, restarting, dead... */
	char *status; /* "Up 2 seconds (healthy)", "Exited (3) 1 second ago" */
};
void containers_free(struct container *v, size_t n);
/* The containers with label com.docker.compose.project=project (exactly). */
int docker_project_containers(const struct docker *d, const char *project, struct container **v,
			      size_t *n, char **cause);
/* The last n lines of a container's output (stdout and stderr in the
 * order it wrote them), appended to out. */
void docker_logs_tail(const struct docker *d, const char *id, unsigned n, struct strbuf *out);

/* A docker command whose output is read as it comes (`docker logs
 * --follow`, `docker events`): its stdout and stderr on one pipe, in a
 * process group of its own, with a parent-death signal. */
struct docker_stream {
	pid_t pid;
	int pidfd; /* -1: none */
	int fd;    /* the pipe's read end (non-blocking), -1 once at its end */
};
#define DOCKER_STREAM_INIT                       \
	{                                        \
		.pid = -1, .pidfd = -1, .fd = -1 \
	}
/* `docker logs` of container id: its last tail lines (-1: all of them)
 * written since since_ns (0: ever; ns since the epoch), then, with follow,
 * what it writes until it stops. With follow, each line starts with the
 * time docker logged it (docker_log_line reads it). -errno with *cause
 * when it cannot start. */
int docker_logs_stream(const struct docker *d, const char *id, long tail, uint64_t since_ns,
		       bool follow, struct docker_stream *ret, char **cause);
/* A line of `docker logs --timestamps`: "<RFC 3339 time> <text>": *ret_ns
 * (ns since the epoch) and *ret_text (in line). -EINVAL when it does not
 * start with a time. */
int docker_log_line(const char *line, uint64_t *ret_ns, const char **ret_text);
/* `docker events` of project's containers as they start, from since_ns (0:
 * from now on; ns since the epoch): one line "<service>\t<container id>"
 * per start. */
int docker_starts_stream(const struct docker *d, const char *project, uint64_t since_ns,
			 struct docker_stream *ret, char **cause);
/* Append what s's pipe holds now to out: false once the pipe is at its end
 * (the command ended: docker_stream_close reaps it). */
bool docker_stream_read(struct docker_stream *s, struct strbuf *out);
/* Close s: a command still running is killed (its group), then reaped. */
void docker_stream_close(struct docker_stream *s);

/* The container publishing host port (docker ps --filter publish=):
 * *ret filled (id, service; state holds its name, status its compose
 * project); -ENOENT when none. */
int docker_container_on_port(const struct docker *d, uint16_t port, struct container *ret,
			     char **cause);
/* "healthy", "unhealthy", "starting" from a container's status, or NULL
 * when it has no healthcheck. */
const char *docker_health(const char *status);

/* What the wait watches: a service and the host port it publishes (0: none). */
struct compose_wait {
	const char *service;
	uint16_t port;
};
/* Why a wait failed. */
struct compose_failure {
	char *service;
	char *what; /* "exited with status 3", "is unhealthy", "port 15433 ..." */
	char *tail; /* its last log lines, or NULL */
};
void compose_failure_finish(struct compose_failure *f);
/* A wait for v[0..n) (kept by the caller until docker_wait_destroy) in
 * project: it follows the project's events (docker events: start, die,
 * health_status...) from now on, so that it sees what a docker_compose_up
 * given it starts. destroy(NULL) is a no-op. */
int docker_wait_create(const struct docker *d, const char *project, const struct compose_wait *v,
		       size_t n, struct docker_wait **ret);
void docker_wait_destroy(struct docker_wait *w);
/* Wait until each service of w has a running container, healthy when it
 * has a healthcheck, whose port accepts connections. -ETIMEDOUT after
 * timeout_ms, -EIO at the first container that exits or turns unhealthy
 * (*fail says which and how, with its last 20 lines), -EHOSTDOWN when docker
 * stops answering, -EINTR when sigfd (>= 0) becomes readable. The
 * containers are listed again when the events say something changed, and
 * once a second besides; the ports are checked side by side. */
int docker_compose_wait(struct docker_wait *w, uint64_t timeout_ms, int sigfd,
			struct compose_failure *fail);

/* The names of the compose projects on the engine: every value of the label
 * com.docker.compose.project that a container, network or volume carries
 * (each once), appended to ret. -errno with *cause. */
int docker_projects(const struct docker *d, struct strvec *ret, char **cause);

/* Remove the project: compose down (containers get stop_timeout_s between
 * their stop signal and SIGKILL; with the volumes unless keep_volumes),
 * then whatever still carries its label (containers, networks, volumes
 * unless keep_volumes). p->file may be missing: the label sweep does the
 * work then. */
int docker_project_remove(const struct docker *d, const struct compose_project *p,
			  bool keep_volumes, unsigned stop_timeout_s, char **cause);

#endif
