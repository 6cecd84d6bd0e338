/*
 * slot.c: choosing a session's slot and ports.
 */
#include "util/common.h"

#include "probe/proc.h"
#include "probe/marker.h"
#include "store/slot.h"

int slot_pick(const bool *used, unsigned max_slots)
{
	for (unsigned s = 1; s <= max_slots; s++)
		if (!used[s])
			return (int)s;
	return -ENOSPC;
}

void slot_port_wants(const struct config *c, struct port_want **ret, size_t *ret_n)
{
	struct port_want *v = NULL;
	size_t n = 0, alloc = 0;

	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *s = &c->services[i];

		if (s->base_port) {
			XGROW(v, alloc, n + 1);
			v[n].name = xstrdup(s->name);
			v[n].service = s->name;
			v[n].extra = NULL;
			v[n].base = s->host_port ? s->host_port : s->base_port;
			n++;
		}
		for (size_t j = 0; j < s->n_extra; j++) {
			XGROW(v, alloc, n + 1);
			v[n].name = xasprintf("%s.%s", s->name, s->extra[j].name);
			v[n].service = s->name;
			v[n].extra = s->extra[j].name;
			v[n].base = s->extra[j].base;
			n++;
		}
	}
	*ret = v;
	*ret_n = n;
}

void port_wants_free(struct port_want *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

const struct port_rec *slot_recorded_port(const struct port_rec *v, size_t n, unsigned port)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].port == port)
			return &v[i];
	return NULL;
}

static const struct port_rec *find_name(const struct port_rec *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

char *slot_holder_text(const struct port_holder *h, const struct port_rec *recorded)
{
	struct strbuf sb = STRBUF_INIT;

	if (recorded && recorded->slug)
		strbuf_addf(&sb, "session '%s' (%s)", recorded->slug, recorded->name);
	if (h && h->kind == HOLDER_PROCESS) {
		char *user = proc_user_name(h->uid);

		if (sb.len)
			strbuf_adds(&sb, ", listening: ");
		strbuf_addf(&sb, "pid %d (%s) of %s%s", (int)h->pid, h->comm,
			    strncmp(user, "uid ", 4) ? "user " : "", user);
		free(user);
		if (h->cmdline && *h->cmdline)
			strbuf_addf(&sb, ": %s", h->cmdline);
	} else if (h && h->kind == HOLDER_HIDDEN) {
		if (sb.len)
			strbuf_adds(&sb, ", listening: ");
		strbuf_addf(&sb, "a process of uid %u (owner not visible)", (unsigned)h->uid);
	}
	if (!sb.len)
		strbuf_adds(&sb, "nobody");
	return strbuf_detach(&sb);
}

/* Why port cannot be used by in->slug, or NULL when it can. A port in another
 * session's record is refused even when nothing listens on it yet. */
static char *port_taken(const struct port_alloc_input *in, struct probe *probe, unsigned port,
			const struct port_rec *mine, size_t n_mine)
{
	const struct port_rec *rec = slot_recorded_port(in->recorded, in->n_recorded, port);
	struct port_holder h;
	char *who, *why;

	if (rec && rec->slug && strcmp(rec->slug, in->slug))
		return xasprintf("recorded by session '%s' (%s)", rec->slug, rec->name);
	if (slot_recorded_port(mine, n_mine, port))
		return xstrdup("already given to another port of this session");
	if (!probe_listening(probe, (uint16_t)port))
		return NULL;
	if (probe_port(probe, (uint16_t)port, NULL, 0, &h) < 0)
		return xstrdup("held by a process that could not be identified");
	if (h.kind == HOLDER_PROCESS && in->root_id) {
		/* A service of this very session (an `up` of a running session). */
		struct marker m = {0};
		bool ours = marker_read(h.pid, &m) == 0 && m.root_id && m.session &&
			    !strcmp(m.root_id, in->root_id) && !strcmp(m.session, in->slug);

		marker_finish(&m);
		if (ours) {
			port_holder_finish(&h);
			return NULL;
		}
	}
	who = slot_holder_text(&h, NULL);
	why = xasprintf("held by %s", who);
	free(who);
	port_holder_finish(&h);
	return why;
}

int slot_check_pins(const struct config *c, const struct port_rec *pins, size_t n_pins,
		    char **cause)
{
	struct port_want *wants;
	size_t n_wants;
	int r = 0;

	slot_port_wants(c, &wants, &n_wants);
	for (size_t i = 0; i < n_pins && r == 0; i++) {
		struct strbuf names = STRBUF_INIT;
		bool known = false;

		for (size_t j = 0; j < n_wants; j++)
			known |= !strcmp(wants[j].name, pins[i].name);
		if (known)
			continue;
		for (size_t j = 0; j < n_wants; j++)
			strbuf_addf(&names, "%s%s", j ? ", " : "", wants[j].name);
		*cause = xasprintf("--port %s=%u: no port named '%s'; the ports of this config "
				   "are: %s",
				   pins[i].name, pins[i].port, pins[i].name,
				   names.len ? names.buf : "(none)");
		strbuf_release(&names);
		r = -ENOENT;
	}
	port_wants_free(wants, n_wants);
	return r;
}

int slot_alloc_ports(const struct port_alloc_input *in, struct probe *probe, struct port_rec **ret,
		     size_t *ret_n, char **cause)
{
	const struct config *c = in->config;
	struct port_rec *out = NULL;
	struct port_want *wants;
	size_t n_wants, n = 0;
	int r = 0;

	r = slot_check_pins(c, in->pins, in->n_pins, cause);
	if (r < 0)
		return r;
	slot_port_wants(c, &wants, &n_wants);
	out = xcalloc(n_wants ? n_wants : 1, sizeof(*out));
	for (size_t i = 0; i < n_wants; i++) {
		const struct port_want *w = &wants[i];
		const struct port_rec *pin = find_name(in->pins, in->n_pins, w->name);
		const struct port_rec *prev = find_name(in->previous, in->n_previous, w->name);
		unsigned nominal = config_port(c, w->base, in->slot), chosen = 0, tried = 0;
		char *why = NULL, *first_why = NULL;

		if (pin) {
			why = port_taken(in, probe, pin->port, out, n);
			if (why) {
				*cause = xasprintf("--port %s=%u: port %u is %s", w->name,
						   pin->port, pin->port, why);
				free(why);
				r = -EADDRINUSE;
				goto out;
			}
			chosen = pin->port;
		} else if (prev && (why = port_taken(in, probe, prev->port, out, n)) == NULL) {
			chosen = prev->port;
		} else {
			free(why);
			if (!nominal) {
				*cause = xasprintf("port '%s' of slot %u is beyond 65535; lower "
						   "base ports or max_slots",
						   w->name, in->slot);
				r = -ERANGE;
				goto out;
			}
			for (unsigned b = 0; b <= (c->strict_port ? 0 : c->port_search_range);
			     b++) {
				unsigned p = nominal + b * c->max_slots * c->slot_stride;

				if (p > 65535)
					break;
				tried = b;
				why = port_taken(in, probe, p, out, n);
				if (!why) {
					chosen = p;
					break;
				}
				if (!first_why)
					first_why = why;
				else
					free(why);
			}
			if (!chosen) {
				if (c->strict_port)
					*cause = xasprintf(
						"port %u for '%s' is %s, and strict_port is on; "
						"free the port, or pin another with --port %s=PORT",
						nominal, w->name, first_why, w->name);
				else
					*cause = xasprintf(
						"no free port for '%s': port %u is %s, and %u bump "
						"candidate%s (+%u each, up to 65535) %s taken too; "
						"free a port, raise port_search_range, or pin one "
						"with --port %s=PORT",
						w->name, nominal, first_why, tried,
						tried == 1 ? "" : "s",
						c->max_slots * c->slot_stride,
						tried == 1 ? "is" : "are", w->name);
				free(first_why);
				r = -EADDRINUSE;
				goto out;
			}
			free(first_why);
		}
		out[n].name = xstrdup(w->name);
		out[n].port = chosen;
		n++;
	}
out:
	port_wants_free(wants, n_wants);
	if (r < 0) {
		ports_free(out, n);
		return r;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}
