/*
 * compose.c: a session's compose file (see compose.h). The original is
 * loaded as a libyaml document and copied node by node into a new one,
 * with the session's changes made on the way; the emitter writes that.
 */
#include "util/common.h"

#include <yaml.h>

#include "docker/compose.h"
#include "util/fsutil.h"

#define COMPOSE_MAX_BYTES (4u << 20)

struct rw {
	yaml_document_t in, out; /* in is only read: its node pointers stay valid */
	const struct compose_rewrite *rw;
	struct strvec *warnings;
};

static void warn(struct rw *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct rw *c, const char *fmt, ...)
{
	va_list ap;
	struct strbuf sb = STRBUF_INIT;

	if (!c->warnings)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	strvec_push_owned(c->warnings, strbuf_detach(&sb));
}

/* ---- reading ---- */

static yaml_node_t *get(yaml_document_t *d, int id)
{
	return id ? yaml_document_get_node(d, id) : NULL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in mapping node m, 0 if none. */
static int map_get(yaml_document_t *d, const yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return 0;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(get(d, p->key));

		if (k && !strcmp(k, key))
			return p->value;
	}
	return 0;
}

/* Limits of what berth reads: deeper nesting, more nodes (aliases expanded),
 * anchors or aliases are refused before the document is built. */
#define COMPOSE_DEPTH_MAX 200
#define COMPOSE_NODES_MAX 200000
#define COMPOSE_ANCHORS_MAX 1000
#define COMPOSE_ALIASES_MAX 10000

/* An anchor seen by the pre-pass and what its node expands to. */
struct anchor {
	char *name;
	size_t nodes;    /* nodes in the anchored node, its aliases expanded */
	unsigned height; /* levels of collections in it, itself included (0: a scalar) */
	bool open;       /* a collection not yet ended: an alias to it is recursive */
};

/* A collection not yet ended. */
struct frame {
	size_t first;    /* the node count at its start */
	unsigned height; /* as in struct anchor */
	long anchor;     /* index into the anchors, -1 if none */
};

struct scan {
	const char *path;
	struct anchor *anchors;
	size_t n_anchors, anchors_alloc;
	struct frame *stack;
	size_t depth, stack_alloc; /* open collections */
	size_t nodes, aliases;
	char **cause;
};

static int __attribute__((format(printf, 3, 4)))
refuse(struct scan *sc, const yaml_mark_t *at, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	*sc->cause = xasprintf("%s:%zu:%zu: %s", sc->path, at->line + 1, at->column + 1, msg);
	free(msg);
	return -EINVAL;
}

/* Record the anchor name (NULL: none) of the node starting at at; *ret is its
 * index, -1 for none. */
static int anchor_add(struct scan *sc, const yaml_char_t *name, const yaml_mark_t *at, long *ret)
{
	struct anchor *a;

	*ret = -1;
	if (!name)
		return 0;
	if (sc->n_anchors >= COMPOSE_ANCHORS_MAX)
		return refuse(sc, at,
			      "more than %d anchors; berth reads compose files with up to that "
			      "many",
			      COMPOSE_ANCHORS_MAX);
	XGROW(sc->anchors, sc->anchors_alloc, sc->n_anchors + 1);
	a = &sc->anchors[sc->n_anchors];
	a->name = xstrdup((const char *)name);
	a->nodes = 1;
	a->height = 0;
	a->open = false;
	*ret = (long)sc->n_anchors++;
	return 0;
}

/* A node of height h (and nodes nodes) in the collection on top of the stack. */
static int add_node(struct scan *sc, size_t nodes, unsigned h, const yaml_mark_t *at)
{
	sc->nodes += nodes;
	if (sc->nodes > COMPOSE_NODES_MAX)
		return refuse(sc, at,
			      "more than %d nodes once aliases are expanded; berth reads compose "
			      "files up to that size",
			      COMPOSE_NODES_MAX);
	if (sc->depth && sc->stack[sc->depth - 1].height < h + 1)
		sc->stack[sc->depth - 1].height = h + 1;
	return 0;
}

static int scan_event(struct scan *sc, const yaml_event_t *ev)
{
	const yaml_mark_t *at = &ev->start_mark;
	const yaml_char_t *anchor;
	struct frame *f;
	long a;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (anchor_add(sc, ev->data.scalar.anchor, at, &a) < 0)
			return -EINVAL;
		return add_node(sc, 1, 0, at);
	case YAML_ALIAS_EVENT:
		if (++sc->aliases > COMPOSE_ALIASES_MAX)
			return refuse(sc, at,
				      "more than %d aliases; berth reads compose files with up to "
				      "that many",
				      COMPOSE_ALIASES_MAX);
		for (a = (long)sc->n_anchors - 1; a >= 0; a--)
			if (!strcmp(sc->anchors[a].name, (const char *)ev->data.alias.anchor))
				break;
		if (a < 0) /* libyaml's loader says it is undefined */
			return add_node(sc, 1, 0, at);
		if (sc->anchors[a].open)
			return refuse(sc, at, "alias *%s is inside the node it names",
				      sc->anchors[a].name);
		if (sc->anchors[a].height &&
		    sc->depth + sc->anchors[a].height - 1 > COMPOSE_DEPTH_MAX)
			return refuse(sc, at,
				      "nested more than %d levels deep once aliases are expanded; "
				      "berth reads compose files up to that depth",
				      COMPOSE_DEPTH_MAX);
		return add_node(sc, sc->anchors[a].nodes, sc->anchors[a].height, at);
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (sc->depth > COMPOSE_DEPTH_MAX)
			return refuse(
				sc, at,
				"nested more than %d levels deep; berth reads compose files up "
				"to that depth",
				COMPOSE_DEPTH_MAX);
		anchor = ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
							       : ev->data.mapping_start.anchor;
		if (anchor_add(sc, anchor, at, &a) < 0 || add_node(sc, 1, 1, at) < 0)
			return -EINVAL;
		if (a >= 0)
			sc->anchors[a].open = true;
		XGROW(sc->stack, sc->stack_alloc, sc->depth + 1);
		sc->stack[sc->depth++] = (struct frame){sc->nodes - 1, 1, a};
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		f = &sc->stack[--sc->depth];
		if (f->anchor >= 0) {
			sc->anchors[f->anchor].nodes = sc->nodes - f->first;
			sc->anchors[f->anchor].height = f->height;
			sc->anchors[f->anchor].open = false;
		}
		if (sc->depth && sc->stack[sc->depth - 1].height < f->height + 1)
			sc->stack[sc->depth - 1].height = f->height + 1;
		return 0;
	default:
		return 0;
	}
}

/* Bounded work before the document is built: one pass over libyaml's events
 * of the first document, refusing at the first limit passed, with where.
 * libyaml's scanner takes time quadratic in the nesting of flow collections
 * ("[[[[...": 17.9 s for 80,000 levels) and its loader in the number of
 * anchors; aliases make a small file a huge document ("billion laughs"),
 * which every walk of it (the services' images, the session's copy) would
 * expand. The events come as libyaml reads the bytes: a refusal costs the
 * bytes up to it, and libyaml's own reading decides what is a quote, a
 * comment or a bracket. */
static int check_bounds(const char *path, const char *buf, size_t len, char **cause)
{
	struct scan sc = {.path = path, .cause = cause};
	yaml_parser_t parser;
	bool end = false;
	int r = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!end && r == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			r = refuse(&sc, &parser.problem_mark, "not valid YAML: %s",
				   parser.problem ? parser.problem : "parse error");
			break;
		}
		end = ev.type == YAML_DOCUMENT_END_EVENT || ev.type == YAML_STREAM_END_EVENT;
		r = scan_event(&sc, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < sc.n_anchors; i++)
		free(sc.anchors[i].name);
	free(sc.anchors);
	free(sc.stack);
	return r;
}

static int load(const char *path, yaml_document_t *doc, char **cause)
{
	yaml_parser_t parser;
	char *buf = NULL;
	size_t len = 0;
	yaml_node_t *root, *services;
	int r = read_file(path, COMPOSE_MAX_BYTES, &buf, &len);

	if (r < 0) {
		*cause = xasprintf("cannot read the compose file %s: %s", path,
				   r == -EINVAL ? "not a regular file" : strerror(-r));
		return r;
	}
	r = check_bounds(path, buf, len, cause);
	if (r < 0) {
		free(buf);
		return r;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, doc)) {
		*cause = xasprintf("%s:%zu:%zu: not valid YAML: %s", path,
				   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				   parser.problem ? parser.problem : "parse error");
		yaml_parser_delete(&parser);
		free(buf);
		return -EINVAL;
	}
	yaml_parser_delete(&parser);
	free(buf);
	root = yaml_document_get_root_node(doc);
	services = root ? get(doc, map_get(doc, root, "services")) : NULL;
	if (!root || root->type != YAML_MAPPING_NODE || !services ||
	    services->type != YAML_MAPPING_NODE) {
		*cause =
			xasprintf("%s: not a compose file: no top-level 'services:' mapping", path);
		yaml_document_delete(doc);
		return -EINVAL;
	}
	return 0;
}

int compose_services(const char *path, struct strvec *names, struct strvec *images, char **cause)
{
	yaml_document_t doc;
	yaml_node_t *services;
	int r = load(path, &doc, cause);

	if (r < 0)
		return r;
	services = get(&doc, map_get(&doc, yaml_document_get_root_node(&doc), "services"));
	for (yaml_node_pair_t *p = services->data.mapping.pairs.start;
	     p < services->data.mapping.pairs.top; p++) {
		const char *k = scalar(get(&doc, p->key));
		const char *img = scalar(get(&doc, map_get(&doc, get(&doc, p->value), "image")));

		if (!k)
			continue;
		strvec_push(names, k);
		if (images)
			strvec_push(images, img ? img : "");
	}
	yaml_document_delete(&doc);
	return 0;
}

/* ---- writing ---- */

static int add_str(struct rw *c, const char *s, yaml_scalar_style_t style)
{
	return yaml_document_add_scalar(&c->out, NULL, (const yaml_char_t *)s, (int)strlen(s),
					style);
}

/* Copy node id of the original (and all below it) into the output: bounded
 * work, as check_bounds bounded the original with its aliases expanded. */
static int copy(struct rw *c, int id)
{
	yaml_node_t *n = get(&c->in, id);
	int out = 0;

	if (!n)
		return add_str(c, "", YAML_PLAIN_SCALAR_STYLE);
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return yaml_document_add_scalar(&c->out, n->tag, n->data.scalar.value,
						(int)n->data.scalar.length, n->data.scalar.style);
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *start = n->data.sequence.items.start;
		size_t k = (size_t)(n->data.sequence.items.top - start);

		out = yaml_document_add_sequence(&c->out, n->tag, n->data.sequence.style);
		for (size_t i = 0; i < k; i++) {
			int item = n->data.sequence.items.start[i];

			yaml_document_append_sequence_item(&c->out, out, copy(c, item));
		}
		return out;
	}
	case YAML_MAPPING_NODE: {
		size_t k = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);

		out = yaml_document_add_mapping(&c->out, n->tag, n->data.mapping.style);
		for (size_t i = 0; i < k; i++) {
			yaml_node_pair_t p = n->data.mapping.pairs.start[i];
			int key = copy(c, p.key);

			yaml_document_append_mapping_pair(&c->out, out, key, copy(c, p.value));
		}
		return out;
	}
	case YAML_NO_NODE:
		break;
	}
	return add_str(c, "", YAML_PLAIN_SCALAR_STYLE);
}

static void put(struct rw *c, int map, const char *key, int value)
{
	yaml_document_append_mapping_pair(&c->out, map, add_str(c, key, YAML_PLAIN_SCALAR_STYLE),
					  value);
}

/* ---- ports ---- */

/* A short-syntax port "[ip:][host:]container[/proto]" split up; false when
 * it is not one berth understands (then it is dropped). */
struct short_port {
	char *ip, *host, *container, *proto; /* NULL when absent */
};

static void short_port_free(struct short_port *p)
{
	free(p->ip);
	free(p->host);
	free(p->container);
	free(p->proto);
}

static bool short_port_parse(const char *s, struct short_port *ret)
{
	const char *slash = strchr(s, '/'), *end = slash ? slash : s + strlen(s), *c, *h;

	memset(ret, 0, sizeof(*ret));
	if (slash)
		ret->proto = xstrdup(slash + 1);
	c = end;
	while (c > s && c[-1] != ':')
		c--;
	ret->container = xstrndup(c, (size_t)(end - c));
	if (c > s) {
		h = c - 1;
		while (h > s && h[-1] != ':')
			h--;
		ret->host = xstrndup(h, (size_t)(c - 1 - h));
		if (h > s)
			ret->ip = xstrndup(s, (size_t)(h - 1 - s));
	}
	return *ret->container != '\0';
}

/* "5432" -> 5432; ranges and anything else -> 0. */
static unsigned port_number(const char *s)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return 0;
	v = strtoul(s, &end, 10);
	return *end || v == 0 || v > 65535 ? 0 : (unsigned)v;
}

/* The session's mapping of service for container port, or NULL. */
static const struct compose_port *mapping(const struct rw *c, const char *service,
					  unsigned container)
{
	for (size_t i = 0; i < c->rw->n_ports; i++)
		if (!strcmp(c->rw->ports[i].service, service) &&
		    c->rw->ports[i].container == container)
			return &c->rw->ports[i];
	return NULL;
}

/* One entry of a service's ports: its rewritten copy, or 0 (dropped). *used
 * marks the mapping it took. */
static int port_entry(struct rw *c, const char *service, int id, bool *used)
{
	yaml_node_t *n = get(&c->in, id);
	const struct compose_port *m;
	char text[32];

	if (n && n->type == YAML_MAPPING_NODE) {
		/* long syntax: target, published, host_ip, protocol, mode */
		unsigned target = port_number(scalar(get(&c->in, map_get(&c->in, n, "target"))));
		size_t k = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
		int out;

		m = target ? mapping(c, service, target) : NULL;
		if (!m) {
			warn(c,
			     "service '%s': port %s is not published for the session (berth "
			     "publishes only the ports it allocates)",
			     service,
			     target ? scalar(get(&c->in, map_get(&c->in, n, "target"))) : "?");
			return 0;
		}
		used[m - c->rw->ports] = true;
		out = yaml_document_add_mapping(&c->out, n->tag, n->data.mapping.style);
		for (size_t i = 0; i < k; i++) {
			yaml_node_pair_t p = n->data.mapping.pairs.start[i];
			const char *key = scalar(get(&c->in, p.key));

			if (key && !strcmp(key, "published"))
				continue;
			yaml_document_append_mapping_pair(&c->out, out, copy(c, p.key),
							  copy(c, p.value));
		}
		snprintf(text, sizeof(text), "%u", m->host);
		put(c, out, "published", add_str(c, text, YAML_PLAIN_SCALAR_STYLE));
		return out;
	}
	if (n && n->type == YAML_SCALAR_NODE) {
		struct short_port p;
		struct strbuf sb = STRBUF_INIT;
		int out;

		if (!short_port_parse(scalar(n), &p) ||
		    !(m = mapping(c, service, port_number(p.container)))) {
			warn(c,
			     "service '%s': port \"%s\" is not published for the session (berth "
			     "publishes only the ports it allocates%s)",
			     service, scalar(n),
			     p.container && strchr(p.container, '-') ? "; ranges are not" : "");
			short_port_free(&p);
			return 0;
		}
		used[m - c->rw->ports] = true;
		if (p.ip)
			strbuf_addf(&sb, "%s:", p.ip);
		strbuf_addf(&sb, "%u:%s", m->host, p.container);
		if (p.proto)
			strbuf_addf(&sb, "/%s", p.proto);
		/* quoted: YAML 1.1 reads an unquoted 22:22 as a base-60 number */
		out = add_str(c, sb.buf, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		strbuf_release(&sb);
		short_port_free(&p);
		return out;
	}
	warn(c, "service '%s': a port entry that is neither a string nor a mapping was dropped",
	     service);
	return 0;
}

static int rewrite_ports(struct rw *c, const char *service, int id)
{
	yaml_node_t *n = get(&c->in, id);
	bool *used = xcalloc(c->rw->n_ports + 1, sizeof(*used));
	int out = yaml_document_add_sequence(&c->out, NULL, YAML_BLOCK_SEQUENCE_STYLE);

	if (n && n->type == YAML_SEQUENCE_NODE) {
		size_t k = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

		for (size_t i = 0; i < k; i++) {
			int e = port_entry(c, service, n->data.sequence.items.start[i], used);

			if (e)
				yaml_document_append_sequence_item(&c->out, out, e);
		}
	} else if (n) {
		warn(c, "service '%s': its ports are not a list; replaced", service);
	}
	/* What the session allocated is published even when the original did
	 * not publish it. */
	for (size_t i = 0; i < c->rw->n_ports; i++) {
		char text[32];

		if (used[i] || strcmp(c->rw->ports[i].service, service))
			continue;
		snprintf(text, sizeof(text), "%u:%u", c->rw->ports[i].host,
			 c->rw->ports[i].container);
		yaml_document_append_sequence_item(
			&c->out, out, add_str(c, text, YAML_DOUBLE_QUOTED_SCALAR_STYLE));
	}
	free(used);
	return out;
}

/* ---- services, volumes, networks ---- */

static bool has_mapping(const struct rw *c, const char *service)
{
	for (size_t i = 0; i < c->rw->n_ports; i++)
		if (!strcmp(c->rw->ports[i].service, service))
			return true;
	return false;
}

static int rewrite_service(struct rw *c, const char *name, int id)
{
	yaml_node_t *n = get(&c->in, id);
	size_t k;
	bool had_ports = false;
	int out;

	if (!n || n->type != YAML_MAPPING_NODE)
		return copy(c, id);
	k = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out = yaml_document_add_mapping(&c->out, n->tag, n->data.mapping.style);
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t p = n->data.mapping.pairs.start[i];
		const char *key = scalar(get(&c->in, p.key));

		if (key && !strcmp(key, "ports")) {
			had_ports = true;
			put(c, out, "ports", rewrite_ports(c, name, p.value));
		} else if (key && !strcmp(key, "container_name")) {
			char *cn = xasprintf("%s-%s-%u", c->rw->prefix, name, c->rw->slot);

			put(c, out, "container_name", add_str(c, cn, YAML_PLAIN_SCALAR_STYLE));
			free(cn);
		} else {
			yaml_document_append_mapping_pair(&c->out, out, copy(c, p.key),
							  copy(c, p.value));
		}
	}
	if (!had_ports && has_mapping(c, name))
		put(c, out, "ports", rewrite_ports(c, name, 0));
	return out;
}

/* Top-level volumes or networks (what = "volume" / "network"). */
static int rewrite_named(struct rw *c, const char *what, int id)
{
	yaml_node_t *n = get(&c->in, id);
	size_t k;
	int out;

	if (!n || n->type != YAML_MAPPING_NODE)
		return copy(c, id);
	k = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out = yaml_document_add_mapping(&c->out, n->tag, n->data.mapping.style);
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t p = n->data.mapping.pairs.start[i];
		yaml_node_t *v = get(&c->in, p.value);
		const char *key = scalar(get(&c->in, p.key));
		const char *ext = v ? scalar(get(&c->in, map_get(&c->in, v, "external"))) : NULL;
		bool external = map_get(&c->in, v, "external") && !(ext && !strcmp(ext, "false"));
		const char *explicit_name = scalar(get(&c->in, map_get(&c->in, v, "name")));
		int entry;

		if (external)
			warn(c, "%s '%s' is external: every session shares it", what,
			     key ? key : "?");
		if (external || !explicit_name || !v || v->type != YAML_MAPPING_NODE) {
			yaml_document_append_mapping_pair(&c->out, out, copy(c, p.key),
							  copy(c, p.value));
			continue;
		}
		entry = yaml_document_add_mapping(&c->out, v->tag, v->data.mapping.style);
		for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
		     q < v->data.mapping.pairs.top; q++) {
			const char *vk = scalar(get(&c->in, q->key));

			if (vk && !strcmp(vk, "name")) {
				char *nn = xasprintf("%s_%s", explicit_name, c->rw->project);

				put(c, entry, "name", add_str(c, nn, YAML_PLAIN_SCALAR_STYLE));
				free(nn);
			} else {
				yaml_document_append_mapping_pair(&c->out, entry, copy(c, q->key),
								  copy(c, q->value));
			}
		}
		yaml_document_append_mapping_pair(&c->out, out, copy(c, p.key), entry);
	}
	return out;
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	strbuf_add(data, buffer, size);
	return 1;
}

int compose_rewrite(const char *path, const struct compose_rewrite *rw, struct strbuf *out,
		    struct strvec *warnings, char **cause)
{
	struct rw c = {.rw = rw, .warnings = warnings};
	yaml_emitter_t em;
	yaml_node_t *root;
	size_t k;
	int r, top;

	r = load(path, &c.in, cause);
	if (r < 0)
		return r;
	if (!yaml_document_initialize(&c.out, NULL, NULL, NULL, 1, 1)) {
		yaml_document_delete(&c.in);
		return -ENOMEM;
	}
	root = yaml_document_get_root_node(&c.in);
	top = yaml_document_add_mapping(&c.out, root->tag, YAML_BLOCK_MAPPING_STYLE);
	k = (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start);
	for (size_t i = 0; i < k; i++) {
		yaml_node_pair_t p = root->data.mapping.pairs.start[i];
		const char *key = scalar(get(&c.in, p.key));
		int value;

		yaml_node_t *s = get(&c.in, p.value);

		/* load() checked the first `services:` only: a second one may be
		 * anything (a scalar was read as a mapping) */
		if (key && !strcmp(key, "services") && s && s->type == YAML_MAPPING_NODE) {
			size_t ns =
				(size_t)(s->data.mapping.pairs.top - s->data.mapping.pairs.start);

			value = yaml_document_add_mapping(&c.out, s->tag, s->data.mapping.style);
			for (size_t j = 0; j < ns; j++) {
				yaml_node_pair_t q = s->data.mapping.pairs.start[j];
				const char *name = scalar(get(&c.in, q.key));

				yaml_document_append_mapping_pair(
					&c.out, value, copy(&c, q.key),
					name ? rewrite_service(&c, name, q.value)
					     : copy(&c, q.value));
			}
		} else if (key && (!strcmp(key, "volumes") || !strcmp(key, "networks"))) {
			value = rewrite_named(&c, !strcmp(key, "volumes") ? "volume" : "network",
					      p.value);
		} else {
			value = copy(&c, p.value);
		}
		yaml_document_append_mapping_pair(&c.out, top, copy(&c, p.key), value);
	}
	yaml_document_delete(&c.in);
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, write_handler, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	/* dump takes the document (and deletes it) */
	if (!yaml_emitter_dump(&em, &c.out) || !yaml_emitter_close(&em)) {
		*cause = xasprintf("cannot write the session's compose file: %s",
				   em.problem ? em.problem : "emitter error");
		yaml_emitter_delete(&em);
		return -EIO;
	}
	yaml_emitter_delete(&em);
	return 0;
}
