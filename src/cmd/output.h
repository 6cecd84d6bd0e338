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
};
void table_init(struct table *t, const char *const *header, size_t cols);
void table_add(struct table *t, ...); /* cols strings */
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
