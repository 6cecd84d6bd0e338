/*
 * xmalloc.h: allocation that never fails. Out of memory prints a message and
 * aborts; nothing else in berth checks malloc. Never call these between fork
 * and exec.
 */
#ifndef BERTH_XMALLOC_H
#define BERTH_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

/* malloc that aborts on OOM; the caller frees. */
void *xmalloc(size_t size);
/* calloc that aborts on OOM (and on nmemb * size overflow); the caller frees. */
void *xcalloc(size_t nmemb, size_t size);
/* realloc of nmemb * size bytes that aborts on OOM or overflow. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
/* strdup that aborts on OOM; xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
/* strndup that aborts on OOM. */
char *xstrndup(const char *s, size_t n);
/* asprintf that aborts on OOM; returns the new string, the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* vasprintf that aborts on OOM; the caller frees. */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grow array *ptr of *alloc elements of size elem so that it holds at least n. */
void xgrow(void **ptr, size_t *alloc, size_t n, size_t elem);
#define XGROW(ptr, alloc, n) xgrow((void **)&(ptr), &(alloc), (n), sizeof(*(ptr)))

#endif
