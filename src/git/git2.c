/*
 * git2.c: libgit2 through dlopen (see git2.h). One table, filled once.
 */
#include "util/common.h"

#include <dlfcn.h>
#include <pthread.h>

#include "git/git2.h"
#include "util/xmalloc.h"

#ifndef BERTH_LIBGIT2_SONAME
#error "BERTH_LIBGIT2_SONAME (the soname of the libgit2 berth was built against) must be set"
#endif

struct git2_api git2;

/* The names, in the table's order: the table is made of these pointers. */
static const char *const names[] = {
#define GIT2_NAME(f) #f,
	GIT2_FUNCTIONS(GIT2_NAME)
#undef GIT2_NAME
};

_Static_assert(sizeof(struct git2_api) == sizeof(void *) * ARRAY_SIZE(names),
	       "the table is one function pointer per name");

int git2_load(char **cause)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static bool loaded;
	void **slot = (void **)(void *)&git2;
	int r = 0;
	void *h;

	pthread_mutex_lock(&lock);
	if (loaded)
		goto out;
	h = dlopen(BERTH_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		*cause = xasprintf("cannot load libgit2 (%s); install the libgit2 berth was "
				   "built against (Debian 12: apt-get install libgit2-1.5)",
				   dlerror());
		r = -ENOENT;
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		void *f = dlsym(h, names[i]);

		if (!f) {
			*cause = xasprintf("%s has no %s: it is not the libgit2 berth was built "
					   "against; rebuild berth",
					   BERTH_LIBGIT2_SONAME, names[i]);
			dlclose(h);
			r = -ENOENT;
			goto out;
		}
		/* POSIX: a function pointer round-trips through void * (dlsym's contract) */
		slot[i] = f;
	}
	loaded = true; /* the handle stays open for the life of the process */
out:
	pthread_mutex_unlock(&lock);
	return r;
}

/* ---- the CA bundle libgit2 would parse ----
 *
 * libgit2 built with mbedTLS (Debian 12's 1.5) parses the whole system CA
 * bundle in git_libgit2_init, for https remotes: 5-12 ms of CPU in every
 * process that sets libgit2 up, which `up` and `down` waited for (bench/
 * README.md, services 1f). berth calls no libgit2 function that speaks to a
 * remote (the list in git2.h), so it needs no CA: the berth executable
 * exports these two (meson.build: --export-dynamic-symbol), and the dynamic
 * linker binds libgit2's calls to them rather than to libmbedx509's, the
 * executable coming first in the lookup scope. Under another TLS backend
 * nothing calls them. A function of git2.h's list that fetches or pushes
 * over https would need them gone (its certificate checks would fail).
 */

static bool ca_skipped; /* set in the set-up's thread, read after its join */

int mbedtls_x509_crt_parse_file(void *chain, const char *path);
int mbedtls_x509_crt_parse_path(void *chain, const char *path);

int mbedtls_x509_crt_parse_file(void *chain, const char *path)
{
	(void)chain;
	(void)path;
	ca_skipped = true;
	return 0; /* no certificate added, as from an empty bundle */
}

int mbedtls_x509_crt_parse_path(void *chain, const char *path)
{
	return mbedtls_x509_crt_parse_file(chain, path);
}

bool git2_ca_skipped(void)
{
	return ca_skipped;
}
