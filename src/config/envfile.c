/*
 * envfile.c: building, writing, parsing and printing session environments.
 */
#include "util/common.h"

#include <ctype.h>

#include "config/envfile.h"
#include "util/fsutil.h"
#include "util/hash.h"

/* Where key is in m's index, or the empty slot where it would go. */
static size_t *index_slot(const struct envmap *m, const char *key)
{
	size_t mask = m->index_cap - 1;

	for (size_t i = hash_fnv1a64(key) & mask;; i = (i + 1) & mask) {
		size_t *slot = &m->index[i];

		if (!*slot || !strcmp(m->v[*slot - 1].key, key))
			return slot;
	}
}

static void index_rebuild(struct envmap *m, size_t cap)
{
	free(m->index);
	m->index = xcalloc(cap, sizeof(*m->index));
	m->index_cap = cap;
	for (size_t i = 0; i < m->n; i++)
		*index_slot(m, m->v[i].key) = i + 1;
}

void envmap_set(struct envmap *m, const char *key, const char *value)
{
	size_t *slot;

	if ((m->n + 1) * 2 > m->index_cap)
		index_rebuild(m, m->index_cap ? m->index_cap * 2 : 16);
	slot = index_slot(m, key);
	if (*slot) {
		free(m->v[*slot - 1].value);
		m->v[*slot - 1].value = xstrdup(value);
		return;
	}
	XGROW(m->v, m->alloc, m->n + 1);
	m->v[m->n].key = xstrdup(key);
	m->v[m->n].value = xstrdup(value);
	*slot = ++m->n;
}

void envmap_unset(struct envmap *m, const char *key)
{
	size_t *slot = m->index_cap ? index_slot(m, key) : NULL, i;

	if (!slot || !*slot)
		return;
	i = *slot - 1;
	free(m->v[i].key);
	free(m->v[i].value);
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
	m->n--;
	index_rebuild(m, m->index_cap);
}

void envmap_set_kv(struct envmap *m, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *k;

	if (!eq)
		return;
	k = xstrndup(kv, (size_t)(eq - kv));
	envmap_set(m, k, eq + 1);
	free(k);
}

const char *envmap_get(const struct envmap *m, const char *key)
{
	size_t *slot;

	if (!m->index_cap)
		return NULL;
	slot = index_slot(m, key);
	return *slot ? m->v[*slot - 1].value : NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct env_entry *)a)->key, ((const struct env_entry *)b)->key);
}

void envmap_sort(struct envmap *m)
{
	if (m->n > 1) {
		qsort(m->v, m->n, sizeof(*m->v), cmp_entry);
		index_rebuild(m, m->index_cap);
	}
}

void envmap_finish(struct envmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].key);
		free(m->v[i].value);
	}
	free(m->v);
	free(m->index);
	memset(m, 0, sizeof(*m));
}

static const struct port_rec *session_port(const struct session *s, const char *name)
{
	for (size_t i = 0; i < s->n_ports; i++)
		if (!strcmp(s->ports[i].name, name))
			return &s->ports[i];
	return NULL;
}

void envfile_session_env(const struct config *c, const struct session *s, struct envmap *ret)
{
	bool have_port = false;
	char num[16];

	envmap_set(ret, "BERTH_SLUG", s->slug);
	snprintf(num, sizeof(num), "%u", s->slot);
	envmap_set(ret, "BERTH_SLOT", num);
	envmap_set(ret, "BERTH_MODE", s->mode);
	for (size_t i = 0; i < c->n_services; i++) {
		const struct service_config *svc = &c->services[i];
		const struct port_rec *p = session_port(s, svc->name);

		if (p) {
			char *key = config_port_env_name(svc->name, NULL);

			snprintf(num, sizeof(num), "%u", p->port);
			envmap_set(ret, key, num);
			free(key);
			for (size_t j = 0; j < svc->port_env.n; j++)
				envmap_set(ret, svc->port_env.v[j], num);
			if (!have_port && svc->run == RUN_NATIVE) {
				envmap_set(ret, "PORT", num);
				have_port = true;
			}
		}
		for (size_t j = 0; j < svc->n_extra; j++) {
			const struct extra_port *x = &svc->extra[j];
			char *name = xasprintf("%s.%s", svc->name, x->name);
			char *key = config_port_env_name(svc->name, x->name);

			p = session_port(s, name);
			if (p) {
				snprintf(num, sizeof(num), "%u", p->port);
				envmap_set(ret, key, num);
				for (size_t k = 0; k < x->env.n; k++)
					envmap_set(ret, x->env.v[k], num);
			}
			free(key);
			free(name);
		}
	}
	envmap_sort(ret);
}

/* A dotenv value needs quotes when a reader could change it. */
static bool needs_quotes(const char *v)
{
	if (!*v)
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_./:,+@%=", *p))
			return true;
	return false;
}

static void add_dotenv_value(struct strbuf *out, const char *v)
{
	if (!needs_quotes(v)) {
		strbuf_adds(out, v);
		return;
	}
	strbuf_addch(out, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\' || *p == '$' || *p == '`')
			strbuf_addch(out, '\\');
		if (*p == '\n')
			strbuf_adds(out, "\\n");
		else
			strbuf_addch(out, *p);
	}
	strbuf_addch(out, '"');
}

static void add_sh_value(struct strbuf *out, const char *v)
{
	strbuf_addch(out, '\'');
	for (const char *p = v; *p; p++) {
		if (*p == '\'')
			strbuf_adds(out, "'\\''");
		else
			strbuf_addch(out, *p);
	}
	strbuf_addch(out, '\'');
}

void envfile_format(const struct envmap *m, enum env_format f, struct strbuf *out)
{
	for (size_t i = 0; i < m->n; i++) {
		if (f == ENV_FORMAT_SH) {
			strbuf_addf(out, "export %s=", m->v[i].key);
			add_sh_value(out, m->v[i].value);
		} else {
			strbuf_addf(out, "%s=", m->v[i].key);
			add_dotenv_value(out, m->v[i].value);
		}
		strbuf_addch(out, '\n');
	}
}

int envfile_write(const char *path, const struct envmap *m)
{
	struct strbuf sb = STRBUF_INIT;
	struct envmap sorted = {0};
	int r;

	for (size_t i = 0; i < m->n; i++)
		envmap_set(&sorted, m->v[i].key, m->v[i].value);
	envmap_sort(&sorted);
	envfile_format(&sorted, ENV_FORMAT_DOTENV, &sb);
	/* a database password makes it the user's alone */
	r = write_file_atomic_nosync(path, strbuf_str(&sb), sb.len,
				     envmap_get(&sorted, "PGPASSWORD") ? 0600 : 0644);
	strbuf_release(&sb);
	envmap_finish(&sorted);
	return r;
}

static bool valid_key(const char *k, size_t n)
{
	if (!n || isdigit((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '.')
			return false;
	return true;
}

int envfile_parse(const char *text, struct envmap *m, char **cause)
{
	unsigned lineno = 0;
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n'), *k, *eq, *v, *end;
		struct strbuf val = STRBUF_INIT;
		char *key;

		lineno++;
		end = eol ? eol : p + strlen(p);
		if (end > p && end[-1] == '\r')
			end--;
		k = p;
		while (k < end && isspace((unsigned char)*k))
			k++;
		if (k == end || *k == '#')
			goto next;
		if (end - k > 7 && !strncmp(k, "export", 6) && isspace((unsigned char)k[6])) {
			k += 7;
			while (k < end && isspace((unsigned char)*k))
				k++;
		}
		eq = memchr(k, '=', (size_t)(end - k));
		if (!eq) {
			*cause = xasprintf("line %u: expected KEY=VALUE", lineno);
			return -EINVAL;
		}
		v = eq;
		while (v > k && isspace((unsigned char)v[-1]))
			v--;
		if (!valid_key(k, (size_t)(v - k))) {
			*cause = xasprintf("line %u: '%.*s' is not a variable name", lineno,
					   (int)(v - k), k);
			return -EINVAL;
		}
		key = xstrndup(k, (size_t)(v - k));
		v = eq + 1;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		if (v < end && (*v == '"' || *v == '\'')) {
			char q = *v++;
			const char *close = v;

			while (close < end && *close != q) {
				if (q == '"' && *close == '\\' && close + 1 < end) {
					close++;
					strbuf_addch(&val, *close == 'n' ? '\n' : *close);
				} else {
					strbuf_addch(&val, *close);
				}
				close++;
			}
			if (close == end) {
				*cause = xasprintf("line %u: unterminated quote", lineno);
				free(key);
				strbuf_release(&val);
				return -EINVAL;
			}
		} else {
			const char *ve = end;
			const char *hash = NULL;

			for (const char *h = v; h < end; h++) {
				if (*h == '#' && (h == v || isspace((unsigned char)h[-1]))) {
					hash = h;
					break;
				}
			}
			if (hash)
				ve = hash;
			while (ve > v && isspace((unsigned char)ve[-1]))
				ve--;
			strbuf_add(&val, v, (size_t)(ve - v));
		}
		envmap_set(m, key, strbuf_str(&val));
		free(key);
		strbuf_release(&val);
	next:
		if (!eol)
			break;
		p = eol + 1;
	}
	return 0;
}
