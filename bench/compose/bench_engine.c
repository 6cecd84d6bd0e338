/*
 * bench_engine: berth's own docker steps, timed in-process (no process
 * start), for bench/compose/run.sh:
 *
 *   bench_engine CACHE PROJECT [RUNS]
 *
 * prints one Markdown table row per step: median, min, max in ms over RUNS
 * (default 200) calls:
 *   - docker_init: the daemon's _ping and the compose flavour from the cache
 *     file CACHE (written by the first, untimed, call);
 *   - docker_project_containers of PROJECT (the engine's container list: one
 *     look of the wait);
 *   - the label sweep's three lists (containers, networks, volumes) of
 *     PROJECT, as a down that finds nothing left makes them;
 *   - portcheck_all of one refused port (a try of the wait that fails).
 * The environment is ours (DOCKER_HOST, PATH, HOME as docker sees them).
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "docker/docker.h"
#include "docker/portcheck.h"
#include "util/parse.h"
#include "util/timeutil.h"

extern char **environ;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void row(const char *what, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("| %s | %.3f ms | %.3f – %.3f ms |\n", what, (double)ns[n / 2] / 1e6,
	       (double)ns[0] / 1e6, (double)ns[n - 1] / 1e6);
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static uint16_t refused_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("bench_engine: a port");
		exit(1);
	}
	close(fd);
	return ntohs(sa.sin_port);
}

int main(int argc, char **argv)
{
	uint64_t runs = 200, *t;
	struct docker d;
	char *cause = NULL;
	uint16_t port;

	if (argc < 3 || (argc > 3 && parse_u64(argv[3], 1, 100000, &runs) < 0)) {
		fprintf(stderr, "usage: bench_engine CACHE PROJECT [RUNS]\n");
		return 2;
	}
	t = xcalloc(runs, sizeof(*t));
	if (docker_init(&d, environ, argv[1], &cause) < 0) {
		fprintf(stderr, "bench_engine: %s\n", cause);
		return 1;
	}
	printf("| engine: %s |  |  |\n", d.socket ? d.socket : "the docker CLI (no unix socket)");
	docker_finish(&d);
	for (uint64_t i = 0; i < runs; i++) {
		uint64_t t0 = time_mono_ns();

		if (docker_init(&d, environ, argv[1], &cause) < 0) {
			fprintf(stderr, "bench_engine: %s\n", cause);
			return 1;
		}
		t[i] = time_mono_ns() - t0;
		docker_finish(&d);
	}
	row("`docker_init`: `GET /_ping`, the flavour from the cache", t, runs);
	docker_init(&d, environ, argv[1], &cause);
	for (uint64_t i = 0; i < runs; i++) {
		struct container *cs = NULL;
		size_t nc = 0;
		uint64_t t0 = time_mono_ns();

		if (docker_project_containers(&d, argv[2], &cs, &nc, &cause) < 0) {
			fprintf(stderr, "bench_engine: %s\n", cause);
			return 1;
		}
		t[i] = time_mono_ns() - t0;
		containers_free(cs, nc);
	}
	row("`docker_project_containers` (one look of the wait)", t, runs);
	for (uint64_t i = 0; i < runs; i++) {
		struct compose_project p = {argv[2], NULL, "/"};
		uint64_t t0 = time_mono_ns();

		/* no file: no compose down, only the label sweeps (which find nothing) */
		if (docker_project_remove(&d, &p, false, 1, &cause) < 0) {
			fprintf(stderr, "bench_engine: %s\n", cause);
			return 1;
		}
		t[i] = time_mono_ns() - t0;
	}
	row("the label sweep of `down` (containers, networks, volumes; nothing left)", t, runs);
	port = refused_port();
	for (uint64_t i = 0; i < runs; i++) {
		bool open;
		uint64_t t0 = time_mono_ns();

		portcheck_all(&port, 1, &open);
		t[i] = time_mono_ns() - t0;
	}
	row("`portcheck_all` of a refused port (a failed try of the wait)", t, runs);
	docker_finish(&d);
	free(t);
	return 0;
}
