/*
 * ansi.c: terminal output reduced to its text (see ansi.h). A byte-at-a-
 * time state machine over ECMA-48's shapes of sequences; the text between
 * them is copied in runs.
 */
#include "util/common.h"

#include "util/ansi.h"

enum {
	S_TEXT,
	S_ESC,       /* after ESC */
	S_ESC_INTER, /* ESC, intermediate bytes (ESC ( B) */
	S_CSI,       /* ESC [, parameters and intermediates until a final byte */
	S_STR,       /* OSC, DCS, SOS, PM, APC: until BEL or ST */
	S_STR_ESC,   /* an ESC in a string: ST (ESC \) or another sequence */
};

#define ESC '\033'

void ansi_filter_init(struct ansi_filter *f, bool keep_sgr)
{
	memset(f, 0, sizeof(*f));
	f->state = S_TEXT;
	f->keep_sgr = keep_sgr;
	strbuf_init(&f->line);
}

void ansi_filter_finish(struct ansi_filter *f)
{
	strbuf_release(&f->line);
}

static void line_truncate(struct ansi_filter *f, size_t len)
{
	f->line.len = len;
	if (f->line.buf)
		f->line.buf[len] = '\0';
}

static void line_start(struct ansi_filter *f)
{
	line_truncate(f, 0);
	f->cr = false;
	f->has_text = false;
	f->sgr_open = false;
	f->text_floor = 0;
}

/* Add text (or a kept style) to the line: after a \r, what comes replaces it. */
static void line_add(struct ansi_filter *f, const char *p, size_t n, bool text)
{
	if (f->cr)
		line_start(f);
	strbuf_add(&f->line, p, n);
	f->has_text |= text;
}

/* The line, with a reset when a style it set is still on; a line of
 * styles alone shows nothing. Returns whether it had text. */
static bool line_put(struct ansi_filter *f, struct strbuf *out)
{
	bool text = f->has_text && f->line.len;

	if (text) {
		strbuf_add(out, f->line.buf, f->line.len);
		if (f->sgr_open)
			strbuf_adds(out, "\033[0m");
	}
	line_start(f);
	return text;
}

/* Take back the character before the cursor (a UTF-8 sequence whole). */
static void backspace(struct ansi_filter *f)
{
	size_t len = f->line.len;

	if (f->cr || len <= f->text_floor)
		return;
	while (len > f->text_floor + 1 && ((unsigned char)f->line.buf[len - 1] & 0xc0) == 0x80)
		len--;
	line_truncate(f, len - 1);
}

/* A C0 control character or DEL (anywhere but in a string). */
static void control(struct ansi_filter *f, unsigned char c, struct strbuf *out)
{
	switch (c) {
	case '\n':
		line_put(f, out);
		strbuf_addch(out, '\n');
		break;
	case '\r':
		f->cr = true;
		break;
	case '\b':
		backspace(f);
		break;
	case '\t':
		line_add(f, "\t", 1, true);
		break;
	default:
		break; /* BEL, NUL, SO, SI, DEL...: nothing to show */
	}
}

static bool is_reset(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0' && p[i] != ';')
			return false;
	return true;
}

/* The final byte of a CSI: a colour or style is kept when asked for. */
static void csi_end(struct ansi_filter *f, unsigned char final)
{
	bool sgr = final == 'm' && f->seq_len <= ANSI_SEQ_MAX;

	for (size_t i = 0; sgr && i < f->seq_len; i++)
		sgr = (f->seq[i] >= '0' && f->seq[i] <= '9') || f->seq[i] == ';' ||
		      f->seq[i] == ':';
	if (!f->keep_sgr || !sgr)
		return;
	line_add(f, "\033[", 2, false);
	strbuf_add(&f->line, f->seq, f->seq_len);
	strbuf_addch(&f->line, 'm');
	f->sgr_open = !is_reset(f->seq, f->seq_len);
	f->text_floor = f->line.len;
}

/* One byte in a sequence (state != S_TEXT). Returns false when the
 * sequence ends without it: c is then text, to be looked at again. */
static bool seq_byte(struct ansi_filter *f, unsigned char c, struct strbuf *out)
{
	if (c == '\n') {
		/* a line ends, also inside a sequence left unfinished */
		f->state = S_TEXT;
		control(f, c, out);
		return true;
	}
	switch (f->state) {
	case S_STR:
		if (c == 0x07)
			f->state = S_TEXT;
		else if (c == ESC)
			f->state = S_STR_ESC;
		return true;
	case S_STR_ESC:
		if (c == '\\') {
			f->state = S_TEXT;
			return true;
		}
		/* the string ended there: this ESC begins another sequence */
		f->state = S_ESC;
		return seq_byte(f, c, out);
	default:
		break;
	}
	if (c == ESC) {
		f->state = S_ESC;
		return true;
	}
	if (c < 0x20) {
		/* executed where it stands, as a terminal does */
		control(f, c, out);
		return true;
	}
	if (c == 0x7f)
		return true;
	if (c >= 0x80) {
		f->state = S_TEXT;
		return false;
	}
	switch (f->state) {
	case S_ESC:
		if (c == '[') {
			f->state = S_CSI;
			f->seq_len = 0;
		} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
			f->state = S_STR;
		} else if (c < 0x30) {
			f->state = S_ESC_INTER;
		} else {
			f->state = S_TEXT;
		}
		return true;
	case S_ESC_INTER:
		if (c >= 0x30)
			f->state = S_TEXT;
		return true;
	case S_CSI:
		if (c >= 0x40) {
			f->state = S_TEXT;
			csi_end(f, c);
		} else if (f->seq_len < ANSI_SEQ_MAX) {
			f->seq[f->seq_len++] = (char)c;
		} else {
			f->seq_len = ANSI_SEQ_MAX + 1;
		}
		return true;
	default:
		return true;
	}
}

void ansi_filter_feed(struct ansi_filter *f, const char *data, size_t len, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;

	while (p < end) {
		const unsigned char *run = p;

		if (f->state != S_TEXT) {
			if (seq_byte(f, *p, out))
				p++;
			continue;
		}
		while (p < end && (*p >= 0x20 && *p != 0x7f))
			p++;
		if (p > run) {
			line_add(f, (const char *)run, (size_t)(p - run), true);
			continue;
		}
		if (*p == ESC)
			f->state = S_ESC;
		else
			control(f, *p, out);
		p++;
	}
}

bool ansi_filter_flush(struct ansi_filter *f, struct strbuf *out)
{
	return line_put(f, out);
}

void ansi_strip(const char *data, size_t len, bool keep_sgr, struct strbuf *out)
{
	struct ansi_filter f;

	ansi_filter_init(&f, keep_sgr);
	ansi_filter_feed(&f, data, len, out);
	ansi_filter_flush(&f, out);
	ansi_filter_finish(&f);
}
