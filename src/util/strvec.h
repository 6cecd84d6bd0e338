/*
 * strvec.h: a growable NULL-terminated array of owned strings (argv, envp,
 * lists read from the config).
 */
#ifndef BERTH_STRVEC_H
#define BERTH_STRVEC_H

#include <stddef.h>

struct strvec {
	char **v; /* NULL-terminated once anything is pushed; NULL when empty */
	size_t n;
	size_t alloc;
};

#define STRVEC_INIT        \
	{                  \
		NULL, 0, 0 \
	}

/* Append a copy of s. */
void strvec_push(struct strvec *sv, const char *s);
/* Append s, taking ownership of it. */
void strvec_push_owned(struct strvec *sv, char *s);
/* Append a formatted string. */
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Split s on runs of spaces and tabs and append each word. */
void strvec_split_ws(struct strvec *sv, const char *s);
/* Index of s in sv, or -1. */
long strvec_find(const struct strvec *sv, const char *s);
/* Free every string and the array. */
void strvec_clear(struct strvec *sv);
/* A NULL-terminated array valid while sv is unchanged (never NULL). */
char *const *strvec_argv(struct strvec *sv);

#endif
