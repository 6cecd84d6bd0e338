/*
 * pq.c: libpq through dlopen (see pq.h). One table, filled once.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "db/pq.h"
#include "util/common.h"
#include "util/xmalloc.h"

struct pq_api pq;

static const struct {
	const char *name;
	size_t off;
} symbols[] = {
	{"PQconnectdbParams", offsetof(struct pq_api, connectdbParams)},
	{"PQstatus", offsetof(struct pq_api, status)},
	{"PQerrorMessage", offsetof(struct pq_api, errorMessage)},
	{"PQfinish", offsetof(struct pq_api, finish)},
	{"PQexec", offsetof(struct pq_api, exec)},
	{"PQexecParams", offsetof(struct pq_api, execParams)},
	{"PQresultStatus", offsetof(struct pq_api, resultStatus)},
	{"PQresultErrorField", offsetof(struct pq_api, resultErrorField)},
	{"PQresultErrorMessage", offsetof(struct pq_api, resultErrorMessage)},
	{"PQclear", offsetof(struct pq_api, clear)},
	{"PQntuples", offsetof(struct pq_api, ntuples)},
	{"PQgetvalue", offsetof(struct pq_api, getvalue)},
	{"PQgetisnull", offsetof(struct pq_api, getisnull)},
	{"PQescapeIdentifier", offsetof(struct pq_api, escapeIdentifier)},
	{"PQescapeLiteral", offsetof(struct pq_api, escapeLiteral)},
	{"PQfreemem", offsetof(struct pq_api, freemem)},
	{"PQconninfoParse", offsetof(struct pq_api, conninfoParse)},
	{"PQconninfoFree", offsetof(struct pq_api, conninfoFree)},
	{"PQsetNoticeProcessor", offsetof(struct pq_api, setNoticeProcessor)},
};

int pq_load(char **cause)
{
	static bool loaded;
	void *h;

	if (loaded)
		return 0;
	h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*cause = xasprintf("cannot load libpq (%s); install it (Debian: apt-get install "
				   "libpq5)",
				   dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < ARRAY_SIZE(symbols); i++) {
		void *f = dlsym(h, symbols[i].name);

		if (!f) {
			*cause = xasprintf("libpq has no %s: it is older than berth needs "
					   "(PostgreSQL 10 or later)",
					   symbols[i].name);
			dlclose(h);
			return -ENOENT;
		}
		/* POSIX: a function pointer round-trips through void * (dlsym's contract) */
		*(void **)(void *)((char *)&pq + symbols[i].off) = f;
	}
	loaded = true; /* the handle stays open for the life of the process */
	return 0;
}
