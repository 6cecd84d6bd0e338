/*
 * slot.h: slot and port allocation (SPEC §3), pure functions over the
 * recorded state and one probe of the machine. A session's port names are
 * "<service>" for a service's port and "<service>.<extra>" for an extra port.
 */
#ifndef BERTH_SLOT_H
#define BERTH_SLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "probe/probe.h"
#include "store/state.h"

/* The lowest free slot in 1..max_slots given used[0..max_slots]; -ENOSPC if none. */
int slot_pick(const bool *used, unsigned max_slots);

/* One port a session needs, as the config defines it. */
struct port_want {
	char *name;          /* "web" or "web.hmr" */
	const char *service; /* points into the config */
	const char *extra;   /* NULL for a service's own port */
	uint16_t base;       /* host_port or base_port, or the extra's base */
};

/* Every port the config defines, in config order. The caller frees with port_wants_free. */
void slot_port_wants(const struct config *c, struct port_want **ret, size_t *ret_n);
void port_wants_free(struct port_want *v, size_t n);

struct port_alloc_input {
	const struct config *config;
	unsigned slot;
	const char *slug;
	const struct port_rec *recorded; /* every session's recorded ports */
	size_t n_recorded;
	const struct port_rec *pins; /* --port NAME=PORT */
	size_t n_pins;
	const struct port_rec *previous; /* this session's ports from before (resume) */
	size_t n_previous;
	const char *root_id; /* a holder with this session's markers is this session; may be NULL */
};

/* Check that every pin names a port of the config; -ENOENT with *cause
 * listing the valid names otherwise. */
int slot_check_pins(const struct config *c, const struct port_rec *pins, size_t n_pins,
		    char **cause);

/* Allocate every port of a session: a pin if given; else the previous port if
 * it is still free; else the nominal port, bumped by whole bands when taken
 * (unless strict_port). Ports recorded by other sessions are never handed out.
 * On failure *cause names the port and its holder. */
int slot_alloc_ports(const struct port_alloc_input *in, struct probe *probe, struct port_rec **ret,
		     size_t *ret_n, char **cause);

/* Describe who holds port for a human: "session 'feat-b' (web)", "pid 4242
 * (node) of user alice: node server.js", "a process of uid 1001 (owner not
 * visible)". recorded may be NULL. The caller frees. */
char *slot_holder_text(const struct port_holder *h, const struct port_rec *recorded);

/* The record among v[0..n) with this port, or NULL. */
const struct port_rec *slot_recorded_port(const struct port_rec *v, size_t n, unsigned port);

#endif
