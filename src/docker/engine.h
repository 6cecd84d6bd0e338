/*
 * engine.h: the Docker Engine API over its unix socket, HTTP/1.1 GETs
 * answered in full or read as a stream. docker.c asks the daemon through it
 * what it asks often or must hear at once (is it up, the containers,
 * networks and volumes of a project, a project's events while `up` waits):
 * a request costs under a millisecond where a `docker` CLI process costs
 * 40-70 ms. Only a unix socket is spoken to; tcp://, ssh:// and named
 * contexts stay with the docker CLI (engine_socket says which).
 */
#ifndef BERTH_ENGINE_H
#define BERTH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* The unix socket the docker CLI talks to, or NULL when it would talk to
 * something else (the caller uses the CLI then). docker_host: DOCKER_HOST
 * (NULL or "": unset); context: the context the CLI would use when
 * DOCKER_HOST is unset (DOCKER_CONTEXT, else config.json's currentContext;
 * NULL, "" or "default": none). The caller frees. */
char *engine_socket(const char *docker_host, const char *context);

/* GET path (its query escaped already) within timeout_ms: 0 with
 * *ret_status and the body (chunked framing removed) appended to body.
 * -errno with *cause: no connection, no complete answer in time, not HTTP. */
int engine_get(const char *socket, const char *path, uint64_t timeout_ms, int *ret_status,
	       struct strbuf *body, char **cause);

/* GET path whose answer does not end (/events): once the head of a 200
 * answer is in, *ret_fd (non-blocking, close-on-exec; the caller closes it)
 * gives the rest of the body as it comes, chunk framing included; the part
 * of the body that came with the head is appended to body. -EPROTO with
 * *cause for another status; other -errno as engine_get. */
int engine_stream(const char *socket, const char *path, uint64_t timeout_ms, int *ret_fd,
		  struct strbuf *body, char **cause);

/* A whole HTTP/1.x response in buf[0..len): *ret_status and its body
 * (Content-Length, chunked, or up to the end) appended to body. -EPROTO
 * when it is not one, or is cut short. */
int engine_response_parse(const char *buf, size_t len, int *ret_status, struct strbuf *body);

/* Append s to out escaped for a URL query (all but A-Z a-z 0-9 - . _ ~). */
void engine_query_escape(struct strbuf *out, const char *s);

#endif
