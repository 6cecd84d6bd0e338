/*
 * printable.c: escaping terminal control characters in outside text.
 */
#include "util/common.h"

#include "util/printable.h"

/* Length of the valid UTF-8 sequence at p (1-4, within avail bytes), or 0
 * when invalid; its code point in *cp. */
static size_t utf8_seq_n(const unsigned char *p, size_t avail, unsigned *cp)
{
	size_t n;
	unsigned c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* The same in a NUL-terminated string (a NUL is never a continuation byte). */
static size_t utf8_seq(const unsigned char *p, unsigned *cp)
{
	return utf8_seq_n(p, 4, cp);
}

/* C0, DEL, C1, and the Unicode controls that make a terminal show text in
 * another order than it is (bidirectional marks, embeddings, overrides and
 * isolates: "Trojan Source") or split lines (line and paragraph separators). */
static bool is_control(unsigned cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c ||
	       cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

void strbuf_add_printable(struct strbuf *sb, const char *s, size_t max, bool keep_newlines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	while (*p) {
		unsigned cp = 0;
		size_t n = utf8_seq(p, &cp);

		if (max && chars == max) {
			strbuf_adds(sb, "...");
			return;
		}
		if (n == 0) {
			strbuf_addf(sb, "\\x%02x", *p);
			n = 1;
		} else if (is_control(cp) && !(keep_newlines && (cp == '\n' || cp == '\t'))) {
			for (size_t i = 0; i < n; i++)
				strbuf_addf(sb, "\\x%02x", p[i]);
		} else {
			strbuf_add(sb, p, n);
		}
		p += n;
		chars++;
	}
}

char *str_printable(const char *s, size_t max)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_add_printable(&sb, s, max, false);
	return strbuf_detach(&sb);
}

bool str_has_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned cp = 0;
		size_t n = utf8_seq(p, &cp);

		if (n == 0 || is_control(cp))
			return true;
		p += n;
	}
	return false;
}

void strbuf_add_utf8(struct strbuf *sb, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned cp = 0;
		size_t n = utf8_seq_n(p, (size_t)(end - p), &cp);

		if (n == 0) {
			strbuf_adds(sb, "\xef\xbf\xbd"); /* U+FFFD */
			n = 1;
		} else {
			strbuf_add(sb, p, n);
		}
		p += n;
	}
}
