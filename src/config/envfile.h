/*
 * envfile.h: a session's environment: the map of variables berth defines
 * (BERTH_SLUG, BERTH_SLOT, BERTH_MODE, BERTH_<SERVICE>_PORT, extra ports,
 * port_env aliases, PORT), the .env.berth file, dotenv parsing and the output
 * formats of `berth env`.
 */
#ifndef BERTH_ENVFILE_H
#define BERTH_ENVFILE_H

#include <stddef.h>

#include "config/config.h"
#include "store/state.h"
#include "util/strbuf.h"

#define ENVFILE_NAME ".env.berth"

struct env_entry {
	char *key;
	char *value;
};

/* Entries in the order they were first set; index finds a key in constant
 * time (open addressing: slots hold entry index + 1, 0 when empty). */
struct envmap {
	struct env_entry *v;
	size_t n, alloc;
	size_t *index;
	size_t index_cap; /* a power of two, at least twice n; 0 before the first set */
};

/* Set key to value (replacing an earlier value). */
void envmap_set(struct envmap *m, const char *key, const char *value);
/* Set from "KEY=VALUE" (an environ entry); one without '=' is ignored. */
void envmap_set_kv(struct envmap *m, const char *kv);
/* Remove key (nothing when absent). */
void envmap_unset(struct envmap *m, const char *key);
/* The value of key, or NULL. */
const char *envmap_get(const struct envmap *m, const char *key);
/* Sort by key (bytewise). */
void envmap_sort(struct envmap *m);
void envmap_finish(struct envmap *m);

/* The variables berth defines for session s under config c, sorted. */
void envfile_session_env(const struct config *c, const struct session *s, struct envmap *ret);
/* Write m to path as sorted KEY=VALUE lines (quoted where needed), atomically
 * against a kill (not synced: up writes it again). */
int envfile_write(const char *path, const struct envmap *m);
/* Parse dotenv text (KEY=VALUE, optional `export `, '#' comments, one pair of
 * outer quotes stripped) into m. -EINVAL with *cause "line N: ..." on a bad line. */
int envfile_parse(const char *text, struct envmap *m, char **cause);

enum env_format { ENV_FORMAT_DOTENV, ENV_FORMAT_SH };
/* Format m for `berth env --format`: dotenv lines or `export KEY='value'` lines. */
void envfile_format(const struct envmap *m, enum env_format f, struct strbuf *out);

#endif
