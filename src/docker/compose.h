/*
 * compose.h: docker compose files for sessions (SPEC §8), read and written
 * with libyaml.
 *
 * A session gets its own complete compose file (never an overlay: compose
 * merges `ports:` additively, which would also publish the base host port).
 * It is the original, read from the session's worktree, with:
 *   - ports: each service publishes exactly the session's host ports for
 *     the container ports berth manages for it (its base_port and the base
 *     of each of its extra ports; host IP and protocol kept; added when the
 *     original did not publish that container port) and nothing else: every
 *     other published port, a range among them, is dropped with a warning
 *     (it would collide between sessions);
 *   - container_name, where set, made <prefix>-<service>-<slot>;
 *   - top-level volumes and networks with an explicit `name:` get
 *     `_<project>` appended (the others are namespaced by the project name
 *     already); an `external` one is kept, with a warning: sessions share it;
 *   - everything else as it was: scalars byte for byte, `${VAR}`
 *     interpolation left to compose, custom tags kept. Relative paths keep
 *     resolving as in the original because compose runs with
 *     --project-directory set to the original's directory.
 */
#ifndef BERTH_COMPOSE_H
#define BERTH_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"
#include "util/strvec.h"

/* The session's host port for one container port of a compose service. */
struct compose_port {
	const char *service;
	uint16_t container; /* the port inside the container (base_port, or an extra's base) */
	uint16_t host;      /* the session's port on the host */
};

struct compose_rewrite {
	const char *project; /* <prefix>_<slug> */
	const char *prefix;
	unsigned slot;
	const struct compose_port *ports;
	size_t n_ports;
};

/* Rewrite the compose file at path for a session (see above) into out.
 * Warnings ("service 'db': ...") are appended to warnings (may be NULL).
 * -EINVAL with *cause ("path:line:column: what") for a file that is not a
 * compose file; -errno with *cause when it cannot be read. */
int compose_rewrite(const char *path, const struct compose_rewrite *rw, struct strbuf *out,
		    struct strvec *warnings, char **cause);

/* The names of the services under the top-level `services:` of the compose
 * file at path, in file order, appended to names; their `image:` (or "")
 * to images (may be NULL). Errors as compose_rewrite. */
int compose_services(const char *path, struct strvec *names, struct strvec *images, char **cause);

#endif
