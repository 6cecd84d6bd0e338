/*
 * marker.c: reading berth's marker variables from /proc/<pid>/environ.
 */
#include "util/common.h"

#include <unistd.h>

#include "probe/marker.h"
#include "util/fsutil.h"

#define ENVIRON_MAX (4u << 20)

void marker_parse(const char *env, size_t len, struct marker *ret)
{
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{MARKER_ROOT_ID "=", offsetof(struct marker, root_id)},
		{MARKER_SESSION "=", offsetof(struct marker, session)},
		{MARKER_SERVICE "=", offsetof(struct marker, service)},
		{MARKER_HOOK "=", offsetof(struct marker, hook)},
	};
	const char *p = env, *end = env + len;

	memset(ret, 0, sizeof(*ret));
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);

		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t kl = strlen(keys[i].key);
			char **slot = (char **)((char *)ret + keys[i].off);

			if (n >= kl && !memcmp(p, keys[i].key, kl) && !*slot)
				*slot = xstrndup(p + kl, n - kl);
		}
		p += n + 1;
	}
}

int marker_read(pid_t pid, struct marker *ret)
{
	char path[64], *text = NULL;
	size_t len = 0;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	r = read_file(path, ENVIRON_MAX, &text, &len);
	if (r < 0)
		return r == -ESRCH ? -ENOENT : r;
	marker_parse(text, len, ret);
	free(text);
	return 0;
}

void marker_finish(struct marker *m)
{
	free(m->root_id);
	free(m->session);
	free(m->service);
	free(m->hook);
	memset(m, 0, sizeof(*m));
}

bool marker_matches(const struct marker *m, const char *root_id, const char *session,
		    const char *service)
{
	return root_id && session && m->root_id && m->session && !strcmp(m->root_id, root_id) &&
	       !strcmp(m->session, session) &&
	       (!service || (m->service && !strcmp(m->service, service)));
}

bool marker_of_root(const struct marker *m, const char *root_id)
{
	return root_id && m->root_id && m->session && !strcmp(m->root_id, root_id);
}
