/*
 * xmalloc.c: allocation helpers that abort on out-of-memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xmalloc.h"

static void oom(size_t size)
{
	fprintf(stderr, "berth: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		oom(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom(nmemb * size);
	return p;
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > ((size_t)-1) / size)
		oom((size_t)-1);
	p = realloc(ptr, (nmemb * size) != 0 ? nmemb * size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

char *xstrdup(const char *s)
{
	char *p;

	if (!s)
		return NULL;
	p = strdup(s);
	if (!p)
		oom(strlen(s) + 1);
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom(n + 1);
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *p;

	if (vasprintf(&p, fmt, ap) < 0)
		oom(0);
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

void xgrow(void **ptr, size_t *alloc, size_t n, size_t elem)
{
	size_t want;

	if (n <= *alloc)
		return;
	want = *alloc ? *alloc * 2 : 8;
	while (want < n)
		want *= 2;
	*ptr = xreallocarray(*ptr, want, elem);
	*alloc = want;
}
