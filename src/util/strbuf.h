/*
 * strbuf.h: a growable NUL-terminated byte buffer.
 */
#ifndef BERTH_STRBUF_H
#define BERTH_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	char *buf; /* always NUL-terminated once anything is added; NULL when empty */
	size_t len;
	size_t alloc;
};

#define STRBUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}

/* Prepare sb for use (same as STRBUF_INIT). */
void strbuf_init(struct strbuf *sb);
/* Free sb's memory; sb may be reused afterwards. */
void strbuf_release(struct strbuf *sb);
/* Empty sb, keeping its memory. */
void strbuf_reset(struct strbuf *sb);
/* Append len bytes. */
void strbuf_add(struct strbuf *sb, const void *data, size_t len);
/* Append a NUL-terminated string. */
void strbuf_adds(struct strbuf *sb, const char *s);
/* Append one character. */
void strbuf_addch(struct strbuf *sb, char c);
/* Append formatted text. */
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append formatted text from a va_list. */
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Drop the first n bytes (all of them when n >= len). */
void strbuf_drop_front(struct strbuf *sb, size_t n);
/* Where the last n lines of buf[0..len) begin (a last line without a line
 * end counts as one). */
size_t str_tail_lines(const char *buf, size_t len, unsigned n);
/* Return the buffer (never NULL: "" when empty) and hand it to the caller. */
char *strbuf_detach(struct strbuf *sb);
/* The current contents as a string ("" when empty); sb keeps ownership. */
const char *strbuf_str(const struct strbuf *sb);

#endif
