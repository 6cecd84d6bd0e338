/*
 * printable.h: making text from outside (branch and file names, process
 * names, arguments) safe to print on a terminal. Control characters (C0,
 * DEL, and the C1 range U+0080-U+009F) and bytes that are not valid UTF-8
 * become \xNN; everything else, including non-ASCII UTF-8, stays as it is.
 */
#ifndef BERTH_PRINTABLE_H
#define BERTH_PRINTABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

/* Append s made printable; at most max characters (0 = no limit), then "...".
 * keep_newlines leaves '\n' and '\t' alone (for multi-line messages). */
void strbuf_add_printable(struct strbuf *sb, const char *s, size_t max, bool keep_newlines);
/* s made printable, at most max characters (0 = no limit). The caller frees. */
char *str_printable(const char *s, size_t max);
/* True when s holds a control character (C0, DEL, C1) or invalid UTF-8. */
bool str_has_control(const char *s);

/* Append len bytes as valid UTF-8: each byte that is not part of a valid
 * sequence becomes U+FFFD (for JSON strings of outside bytes). */
void strbuf_add_utf8(struct strbuf *sb, const char *s, size_t len);

#endif
