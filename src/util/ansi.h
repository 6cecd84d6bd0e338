/*
 * ansi.h: terminal output reduced to the text it shows, line by line, for
 * `berth logs`. A service on a terminal (the tmux runner), or one that
 * colours its output anyway, writes escape sequences (colours, cursor
 * moves, screen clears, window titles) and progress lines redrawn with \r;
 * the filter takes them out and keeps the text and the newlines as they
 * are:
 *
 * - ESC sequences go: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \),
 *   DCS, SOS, PM and APC strings (ESC P, X, ^, _ ... ESC \), and the short
 *   ones (ESC c, ESC ( B, ESC 7, ESC =...). With keep_sgr, colour and
 *   style sequences (CSI ... m) stay, and a line that leaves a style on
 *   ends with a reset (ESC [ 0 m), so that none runs into the next line.
 * - A line rewritten with \r shows as its last rewrite: text after a \r
 *   replaces the line ("50%\r100%" is "100%"); a \r right before the
 *   newline is dropped ("ok\r\n" is "ok").
 * - A backspace takes back the character before it; other control
 *   characters (BEL, NUL, ...) and DEL go; a tab stays.
 *
 * The filter is a stream: a sequence or a line split across two feeds is
 * handled as if it came in one. A newline always ends a line, also inside
 * a sequence left unfinished (a sequence never swallows a line).
 */
#ifndef BERTH_ANSI_H
#define BERTH_ANSI_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

#define ANSI_SEQ_MAX 32 /* a longer CSI is dropped, never kept */

struct ansi_filter {
	int state;
	bool keep_sgr;
	bool cr;           /* a \r came: the next text starts the line again */
	bool has_text;     /* the line has text (not only kept styles) */
	bool sgr_open;     /* a style kept on this line is still on */
	size_t text_floor; /* a backspace takes nothing back before this (a kept SGR) */
	char seq[ANSI_SEQ_MAX];
	size_t seq_len;     /* the CSI's parameter bytes; ANSI_SEQ_MAX + 1: too long */
	struct strbuf line; /* the line begun, cleaned so far */
};

/* Prepare f; keep_sgr keeps colour and style sequences (a terminal). */
void ansi_filter_init(struct ansi_filter *f, bool keep_sgr);
/* Free what f holds. */
void ansi_filter_finish(struct ansi_filter *f);
/* Feed len bytes of output: each line they end is appended to out,
 * cleaned, with its '\n'; the line begun stays in f. */
void ansi_filter_feed(struct ansi_filter *f, const char *data, size_t len, struct strbuf *out);
/* Append the line begun, cleaned, without a newline (a last line that has
 * none), and start a new one; a sequence begun stays begun. Returns false
 * when it had no text (nothing appended). */
bool ansi_filter_flush(struct ansi_filter *f, struct strbuf *out);
/* len bytes cleaned in one go (a last line without '\n' included), appended to out. */
void ansi_strip(const char *data, size_t len, bool keep_sgr, struct strbuf *out);

#endif
