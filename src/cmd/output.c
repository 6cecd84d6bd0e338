/*
 * output.c: messages, colour, tables and JSON output.
 */
#include "util/common.h"

#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/output.h"
#include "util/printable.h"
#include "util/timeutil.h"

static bool quiet;
/* --json: the errors said, for the error document (out_json_error), and
 * whether a JSON document was printed */
static bool json_mode, json_printed;
static struct strbuf json_errors = STRBUF_INIT;

void out_set_quiet(bool q)
{
	quiet = q;
}

bool out_colour(int fd)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");

	if (nc && *nc)
		return false;
	if (term && !strcmp(term, "dumb"))
		return false;
	return isatty(fd) == 1;
}

char *out_paint(int fd, const char *sgr, const char *s)
{
	if (!out_colour(fd))
		return xstrdup(s);
	return xasprintf("\033[%sm%s\033[0m", sgr, s);
}

static void vmsg(const char *prefix, const char *sgr, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT, text = STRBUF_INIT;

	fflush(stdout);
	strbuf_vaddf(&text, fmt, ap);
	strbuf_adds(&sb, "berth: ");
	if (prefix) {
		char *p = out_paint(STDERR_FILENO, sgr, prefix);

		strbuf_adds(&sb, p);
		free(p);
	}
	/* Messages quote outside text (names, paths, process commands). */
	strbuf_add_printable(&sb, strbuf_str(&text), 0, true);
	if (json_mode && !prefix) {
		if (json_errors.len)
			strbuf_addch(&json_errors, '\n');
		strbuf_adds(&json_errors, sb.buf + strlen("berth: "));
	}
	strbuf_addch(&sb, '\n');
	fputs(sb.buf, stderr);
	strbuf_release(&sb);
	strbuf_release(&text);
}

void out_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(NULL, NULL, fmt, ap);
	va_end(ap);
}

void out_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", "33", fmt, ap);
	va_end(ap);
}

void out_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("hint: ", "36", fmt, ap);
	va_end(ap);
}

void out_step(const char *fmt, ...)
{
	struct strbuf text = STRBUF_INIT, sb = STRBUF_INIT;
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	strbuf_adds(&sb, "» ");
	strbuf_add_printable(&sb, strbuf_str(&text), 0, false);
	strbuf_addch(&sb, '\n');
	fputs(sb.buf, stderr);
	strbuf_release(&text);
	strbuf_release(&sb);
}

void out_line(FILE *f, const char *fmt, ...)
{
	struct strbuf text = STRBUF_INIT, sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	strbuf_add_printable(&sb, strbuf_str(&text), 0, true);
	fputs(strbuf_str(&sb), f);
	strbuf_release(&text);
	strbuf_release(&sb);
}

void table_init(struct table *t, const char *const *header, size_t cols)
{
	memset(t, 0, sizeof(*t));
	t->cols = cols;
	for (size_t i = 0; i < cols; i++)
		strvec_push(&t->cells, header[i]);
}

void table_add(struct table *t, ...)
{
	va_list ap;

	va_start(ap, t);
	for (size_t i = 0; i < t->cols; i++) {
		const char *s = va_arg(ap, const char *);

		strvec_push_owned(&t->cells, str_printable(s ? s : "-", 0));
	}
	va_end(ap);
}

/* Display width of a UTF-8 string (code points; good enough for our cells). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void table_print(struct table *t)
{
	size_t rows = t->cells.n / t->cols;
	size_t *w = xcalloc(t->cols, sizeof(*w));

	for (size_t r = 0; r < rows; r++)
		for (size_t c = 0; c < t->cols; c++) {
			size_t cw = width(t->cells.v[r * t->cols + c]);

			if (cw > w[c])
				w[c] = cw;
		}
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *s = t->cells.v[r * t->cols + c];

			if (c + 1 == t->cols) {
				fputs(s, stdout);
				break;
			}
			fputs(s, stdout);
			for (size_t pad = width(s); pad < w[c] + 2; pad++)
				fputc(' ', stdout);
		}
		fputc('\n', stdout);
	}
	free(w);
}

void table_finish(struct table *t)
{
	strvec_clear(&t->cells);
}

void out_set_json(bool on)
{
	json_mode = on;
}

static const char *error_kind(int code)
{
	switch (code) {
	case EXIT_USAGE:
		return "usage";
	case EXIT_CONFIG:
		return "config";
	case EXIT_NOTFOUND:
		return "not-found";
	case EXIT_BUSY:
		return "busy";
	case EXIT_UNHEALTHY:
		return "unhealthy";
	case EXIT_DIRTY:
		return "dirty";
	case EXIT_INTERRUPTED:
		return "interrupted";
	default:
		return "failed";
	}
}

void out_json_error(int code)
{
	if (!json_mode || json_printed || code == EXIT_OK)
		return;
	out_json(json_pack("{s:{s:i, s:s, s:s}}", "error", "exit", code, "kind", error_kind(code),
			   "message", json_errors.len ? json_errors.buf : error_kind(code)));
	strbuf_release(&json_errors);
}

int out_json(json_t *doc)
{
	int r = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_printed = true;
	fputc('\n', stdout);
	json_decref(doc);
	return r < 0 ? -EIO : 0;
}

int out_finish(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return 0;
		fprintf(stderr, "berth: cannot write the output: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}

json_t *out_json_text(const char *s)
{
	json_t *j;
	char *p;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	p = str_printable(s, 0);
	j = json_string(p);
	free(p);
	return j;
}

json_t *out_json_strvec(const struct strvec *sv)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(a, out_json_text(sv->v[i]));
	return a;
}

json_t *out_event_json(const struct event_rec *ev)
{
	json_t *o = json_object();
	char *iso = time_format_rfc3339((time_t)(ev->ts_ms / 1000));

	json_object_set_new(o, "ts", json_string(iso));
	json_object_set_new(o, "ts_ms", json_integer(ev->ts_ms));
	json_object_set_new(o, "slug", ev->slug ? json_string(ev->slug) : json_null());
	json_object_set_new(o, "service", ev->service ? json_string(ev->service) : json_null());
	json_object_set_new(o, "kind", json_string(ev->kind));
	json_object_set_new(o, "detail", ev->detail ? json_string(ev->detail) : json_null());
	free(iso);
	return o;
}
