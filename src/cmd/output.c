/*
 * output.c: messages, colour, tables and JSON output.
 */
#include "util/common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/output.h"
#include "util/printable.h"
#include "util/timeutil.h"

static bool quiet;

/* The spinner: one step at a time, its line redrawn by a thread of its own
 * (the waits it covers run in many loops, and in blocking calls: libpq,
 * docker). The thread writes only with write(2), under the lock; every
 * message berth prints to stderr takes the lock and clears the line first,
 * and the line comes back with the next tick. */
#define SPIN_TICK_MS 100
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running, stop, drawn, atexit_set;
	bool midline; /* relayed output ended inside a line: no drawing over it */
	char *text;   /* printable */
	uint64_t t0;
	unsigned frame;
} spin = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
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

static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(STDERR_FILENO, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

/* The spinner's line, drawn over whatever the cursor's line holds (under
 * the lock). Cut to the terminal's width: a wrapped line could not be
 * cleared with a carriage return. */
static void spin_draw(void)
{
	static const char *const frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
	struct winsize ws = {0};
	size_t cols = 80, room, w = 0;
	struct strbuf sb = STRBUF_INIT;
	char tail[32];
	const char *p;

	if (spin.midline)
		return;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		cols = ws.ws_col;
	snprintf(tail, sizeof(tail), " %.1f s", (double)(time_mono_ms() - spin.t0) / 1000.0);
	room = cols - 3 - strlen(tail) - 1;
	strbuf_adds(&sb, "\r\033[K");
	strbuf_adds(&sb, frames[spin.frame++ % ARRAY_SIZE(frames)]);
	strbuf_addch(&sb, ' ');
	for (p = spin.text; *p; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && ++w > room)
			break;
		strbuf_addch(&sb, *p);
	}
	strbuf_adds(&sb, tail);
	write_all(sb.buf, sb.len);
	strbuf_release(&sb);
	spin.drawn = true;
}

static void spin_clear(void)
{
	if (spin.drawn)
		write_all("\r\033[K", 4);
	spin.drawn = false;
}

static void *spin_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&spin.lock);
	while (!spin.stop) {
		struct timespec ts;

		spin_draw();
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SPIN_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&spin.cond, &spin.lock, &ts);
	}
	pthread_mutex_unlock(&spin.lock);
	return NULL;
}

/* Stop the thread and take the line away (under no lock). */
static void spin_stop(void)
{
	if (!spin.running)
		return;
	pthread_mutex_lock(&spin.lock);
	spin.stop = true;
	pthread_cond_signal(&spin.cond);
	pthread_mutex_unlock(&spin.lock);
	pthread_join(spin.thread, NULL);
	spin.running = false;
	spin_clear();
}

static void spin_atexit(void)
{
	out_progress_end();
}

bool out_spinner_on(void)
{
	const char *term = getenv("TERM");

	return !quiet && !json_mode && term && *term && strcmp(term, "dumb") &&
	       isatty(STDERR_FILENO) == 1;
}

void out_stderr(const char *buf, size_t len)
{
	pthread_mutex_lock(&spin.lock);
	spin_clear();
	if (spin.midline)
		write_all("\n", 1);
	spin.midline = false;
	write_all(buf, len);
	pthread_mutex_unlock(&spin.lock);
}

/* fmt's text with outside text made printable (a step's text). */
static char *vprintable(const char *fmt, va_list ap)
{
	struct strbuf text = STRBUF_INIT, sb = STRBUF_INIT;

	strbuf_vaddf(&text, fmt, ap);
	strbuf_add_printable(&sb, strbuf_str(&text), 0, false);
	strbuf_release(&text);
	return strbuf_detach(&sb);
}

/* "» text" on a line of its own. */
static void step_line(const char *text)
{
	char *line = xasprintf("» %s\n", text);

	out_stderr(line, strlen(line));
	free(line);
}

void out_progress_begin(const char *fmt, ...)
{
	sigset_t all, old;
	va_list ap;

	out_progress_end();
	if (!out_spinner_on())
		return;
	va_start(ap, fmt);
	spin.text = vprintable(fmt, ap);
	va_end(ap);
	fflush(stderr);
	pthread_mutex_lock(&spin.lock);
	if (spin.midline)
		write_all("\n", 1);
	spin.midline = false;
	pthread_mutex_unlock(&spin.lock);
	spin.t0 = time_mono_ms();
	spin.stop = false;
	if (!spin.atexit_set)
		spin.atexit_set = atexit(spin_atexit) == 0;
	/* The thread takes no signal: they stay for the signalfds. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	spin.running = pthread_create(&spin.thread, NULL, spin_main, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!spin.running) {
		free(spin.text);
		spin.text = NULL;
	}
}

void out_progress_update(const char *fmt, ...)
{
	va_list ap;
	char *text;

	if (!spin.running)
		return;
	va_start(ap, fmt);
	text = vprintable(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&spin.lock);
	free(spin.text);
	spin.text = text;
	spin_draw();
	pthread_mutex_unlock(&spin.lock);
}

void out_progress_end(void)
{
	spin_stop();
	free(spin.text);
	spin.text = NULL;
}

void out_relay(const char *buf, size_t len)
{
	if (!len)
		return;
	pthread_mutex_lock(&spin.lock);
	spin_clear();
	write_all(buf, len);
	spin.midline = buf[len - 1] != '\n';
	pthread_mutex_unlock(&spin.lock);
}

static void vmsg(const char *prefix, const char *sgr, const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT, text = STRBUF_INIT;
	char *who;

	fflush(stdout);
	strbuf_vaddf(&text, fmt, ap);
	/* an error's "berth:" in red on a terminal; a warning's or a hint's
	 * word in its colour */
	who = out_paint(STDERR_FILENO, prefix ? "0" : "1;31", "berth:");
	strbuf_adds(&sb, prefix ? "berth:" : who);
	strbuf_addch(&sb, ' ');
	free(who);
	if (prefix) {
		char *p = out_paint(STDERR_FILENO, sgr, prefix);

		strbuf_adds(&sb, p);
		free(p);
	}
	/* Messages quote outside text (names, paths, process commands). */
	if (json_mode && !prefix) {
		if (json_errors.len)
			strbuf_addch(&json_errors, '\n');
		strbuf_add_printable(&json_errors, strbuf_str(&text), 0, true);
	}
	strbuf_add_printable(&sb, strbuf_str(&text), 0, true);
	strbuf_addch(&sb, '\n');
	out_stderr(sb.buf, sb.len);
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
	va_list ap;
	char *text;

	if (quiet)
		return;
	va_start(ap, fmt);
	text = vprintable(fmt, ap);
	va_end(ap);
	step_line(text);
	free(text);
}

void out_line(FILE *f, const char *fmt, ...)
{
	struct strbuf text = STRBUF_INIT, sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&text, fmt, ap);
	va_end(ap);
	strbuf_add_printable(&sb, strbuf_str(&text), 0, true);
	if (f == stderr)
		out_stderr(sb.buf, sb.len);
	else
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

void table_paint(struct table *t, size_t col, const char *sgr)
{
	size_t i = t->cells.n - t->cols + col;

	size_t had = t->sgr_alloc;

	if (col >= t->cols || t->cells.n < 2 * t->cols)
		return;
	XGROW(t->sgr, t->sgr_alloc, t->cells.n);
	memset(t->sgr + had, 0, (t->sgr_alloc - had) * sizeof(*t->sgr));
	t->sgr[i] = sgr;
}

void table_print(struct table *t)
{
	bool colour = out_colour(STDOUT_FILENO);
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
			size_t i = r * t->cols + c;
			const char *s = t->cells.v[i];

			if (colour && i < t->sgr_alloc && t->sgr[i])
				printf("\033[%sm%s\033[0m", t->sgr[i], s);
			else
				fputs(s, stdout);
			if (c + 1 == t->cols)
				break;
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
	free(t->sgr);
	t->sgr = NULL;
	t->sgr_alloc = 0;
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
