/*
 * output.h: everything berth writes for humans and machines: errors and
 * warnings on stderr ("berth: ..."), progress on stderr, colour only on a
 * terminal and never with NO_COLOR, aligned tables, JSON documents on stdout.
 */
#ifndef BERTH_OUTPUT_H
#define BERTH_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "util/strvec.h"

/* "berth: <message>" on stderr. */
void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "berth: warning: <message>" on stderr. */
void out_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "berth: hint: <message>" on stderr: a suggestion of what to do next. */
void out_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress line on stderr ("» ..."), unless quiet. */
void out_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A wait that can take more than a moment (a hook, a readiness wait, a
 * docker wait, a stop). On a terminal (stderr a tty, TERM set and not dumb,
 * not quiet, not --json) a line at the bottom shows a spinner, the text and
 * the time elapsed, redrawn until out_progress_end takes it away; messages
 * printed meanwhile appear above it. Elsewhere nothing: the step's own
 * out_step lines say what happens. A new wait ends the current one. */
void out_progress_begin(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Change the text of the current wait. */
void out_progress_update(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_progress_end(void);
/* True when steps get a spinner. */
bool out_spinner_on(void);
/* Write a message (whole lines) to stderr, under the spinner. */
void out_stderr(const char *buf, size_t len);
/* Write a child's output (any bytes) to stderr, under the spinner: it is
 * not drawn while the output stops inside a line. */
void out_relay(const char *buf, size_t len);
/* Print formatted text to f with outside text made printable (newlines kept):
 * for results that quote names, paths or process commands. */
void out_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Silence out_step (for --json and --quiet). */
void out_set_quiet(bool quiet);
/* True when stream fd gets colour. */
bool out_colour(int fd);
/* Wrap s in an SGR colour for fd when colour is on ("32" green, "31" red, "33"
 * yellow, "1" bold). Returns a new string. */
char *out_paint(int fd, const char *sgr, const char *s);

/* A table: set the header, add rows (each row as many cells as the header),
 * print with columns aligned to stdout. */
struct table {
	struct strvec cells;
	size_t cols;
	const char **sgr; /* each cell's colour (NULL: none), as cells */
	size_t sgr_alloc;
};
void table_init(struct table *t, const char *const *header, size_t cols);
void table_add(struct table *t, ...); /* cols strings */
/* Colour cell col of the last row added (an SGR as for out_paint, a static
 * string; NULL: none), shown when stdout gets colour. */
void table_paint(struct table *t, size_t col, const char *sgr);
void table_print(struct table *t);
void table_finish(struct table *t);

/* Print a JSON document to stdout (indented) and release it. */
int out_json(json_t *doc);
/* --json was given: errors are kept for out_json_error. */
void out_set_json(bool on);
/* A command that failed under --json without printing its document prints
 * {"error": {"exit": N, "kind": "usage|config|not-found|busy|unhealthy|
 * dirty|interrupted|failed", "message": "..."}} on stdout instead. */
void out_json_error(int code);
/* A JSON string of s (null for NULL); outside text that is not valid UTF-8,
 * which jansson refuses, made printable. */
json_t *out_json_text(const char *s);
/* A JSON array of the strings of sv (out_json_text each). */
json_t *out_json_strvec(const struct strvec *sv);
/* An event as JSON: {ts, ts_ms, slug, service, kind, detail} (docs/json.md). */
struct event_rec;
json_t *out_event_json(const struct event_rec *ev);
/* Flush stdout and fail loudly on a write error (EPIPE aside); returns 0 or EXIT_FAIL. */
int out_finish(void);

#endif
