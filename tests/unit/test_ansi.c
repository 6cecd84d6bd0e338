/*
 * test_ansi.c: util/ansi, terminal output reduced to its text: sequences of
 * every shape go, \r-rewritten lines show their last state, backspaces and
 * other controls, plain text and newlines untouched, colours kept only when
 * asked (with a reset at the end of a line that leaves one on); the same
 * result whatever the input's split into feeds (every split point of every
 * case), and what strbuf_add_utf8 makes of bytes that are not UTF-8.
 */
#include "util/common.h"

#include "util/ansi.h"
#include "util/printable.h"
#include "tap.h"

struct ansi_case {
	const char *in;
	const char *out;     /* keep_sgr false */
	const char *out_sgr; /* keep_sgr true; NULL: the same as out */
};

static const struct ansi_case cases[] = {
	/* plain text and newlines are byte-exact */
	{"hello\n", "hello\n", NULL},
	{"a\n\nb\n", "a\n\nb\n", NULL},
	{"tab\there\n", "tab\there\n", NULL},
	{"caf\xc3\xa9 \xe2\x9c\x93\n", "caf\xc3\xa9 \xe2\x9c\x93\n", NULL},
	{"no newline", "no newline", NULL},
	{"", "", NULL},
	/* colours (SGR): gone, or kept with a reset when one stays on */
	{"\033[31mred\033[0m ok\n", "red ok\n", "\033[31mred\033[0m ok\n"},
	{"\033[1;32mbold green\n", "bold green\n", "\033[1;32mbold green\033[0m\n"},
	{"\033[38;5;208morange\033[m\n", "orange\n", "\033[38;5;208morange\033[m\n"},
	{"\033[38:2:1:2:3mrgb\033[0m\n", "rgb\n", "\033[38:2:1:2:3mrgb\033[0m\n"},
	/* a style alone on a line shows nothing: an empty line */
	{"\033[31m\nx\n", "\nx\n", NULL},
	/* private or odd CSIs are never kept, even ending in m */
	{"\033[>4;1mkeys\n", "keys\n", NULL},
	{"\033[?25l\033[2J\033[H\033[3Jscreen\033[?25h\n", "screen\n", NULL},
	{"\033[1A\033[2Kredrawn\n", "redrawn\n", NULL},
	{"\033[12;40Hat\033[K\n", "at\n", NULL},
	{"\033[?1049hfull screen\033[?1049l\n", "full screen\n", NULL},
	/* OSC (title, hyperlink), by BEL or ST; DCS, APC */
	{"\033]0;my title\007text\n", "text\n", NULL},
	{"\033]8;;http://x\033\\link\033]8;;\033\\\n", "link\n", NULL},
	{"\033Pq#0;2;0;0;0\033\\after\n", "after\n", NULL},
	{"\033_app\033\\b\n", "b\n", NULL},
	/* short sequences */
	{"\033cclear\n", "clear\n", NULL},
	{"\033(Bcharset\033)0\n", "charset\n", NULL},
	{"\0337saved\0338\033=\033>\n", "saved\n", NULL},
	/* \r: the last rewrite of a line; before \n, dropped */
	{"10%\r50%\r100%\n", "100%\n", NULL},
	{"crlf\r\n", "crlf\n", NULL},
	{"a\r\r\nb\n", "a\nb\n", NULL},
	{"progress 100%\rdone\n", "done\n", NULL},
	{"\r\033[K50%\r\033[K100%\n", "100%\n", NULL},
	{"\033[32mold\033[0m\r\033[33mnew\n", "new\n", "\033[33mnew\033[0m\n"},
	{"last\r", "last", NULL},
	/* backspace takes back a character (a UTF-8 one whole); not a style */
	{"abc\bd\n", "abd\n", NULL},
	{"|\b/\b-\b\\\n", "\\\n", NULL},
	{"\xc3\xa9\bx\n", "x\n", NULL},
	{"\b\bx\n", "x\n", NULL},
	{"\033[31m\bx\n", "x\n", "\033[31mx\033[0m\n"},
	/* other controls and DEL go */
	{"bell\007 nul\001\x7f!\n", "bell nul!\n", NULL},
	/* a newline ends a line, also inside a sequence left unfinished */
	{"\033[12\nnext\n", "\nnext\n", NULL},
	{"\033]0;title\nnext\n", "\nnext\n", NULL},
	{"\033\nx\n", "\nx\n", NULL},
	/* a sequence ended by another; controls inside a CSI act */
	{"\033]0;t\033[31mred\n", "red\n", "\033[31mred\033[0m\n"},
	{"\033[3\r1mx\n", "x\n", "\033[31mx\033[0m\n"},
	/* a sequence cut by a non-ASCII byte: the byte is text */
	{"\033[1\xc3\xa9\n", "\xc3\xa9\n", NULL},
	/* a CSI too long to keep is dropped whole */
	{"\033[1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1mlong\n", "long\n", NULL},
};

static void check(const struct ansi_case *c, bool keep_sgr)
{
	const char *want = keep_sgr && c->out_sgr ? c->out_sgr : c->out;
	struct strbuf out = STRBUF_INIT;
	size_t len = strlen(c->in);

	ansi_strip(c->in, len, keep_sgr, &out);
	ASSERT_STREQ(strbuf_str(&out), want);
	strbuf_release(&out);
	/* every split into two feeds, and one byte at a time */
	for (size_t cut = 0; cut <= len; cut++) {
		struct ansi_filter f;

		ansi_filter_init(&f, keep_sgr);
		ansi_filter_feed(&f, c->in, cut, &out);
		ansi_filter_feed(&f, c->in + cut, len - cut, &out);
		ansi_filter_flush(&f, &out);
		ansi_filter_finish(&f);
		ASSERT_STREQ(strbuf_str(&out), want);
		strbuf_reset(&out);
	}
	{
		struct ansi_filter f;

		ansi_filter_init(&f, keep_sgr);
		for (size_t i = 0; i < len; i++)
			ansi_filter_feed(&f, c->in + i, 1, &out);
		ansi_filter_flush(&f, &out);
		ansi_filter_finish(&f);
		ASSERT_STREQ(strbuf_str(&out), want);
	}
	strbuf_release(&out);
}

static void test_ansi_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		check(&cases[i], false);
		check(&cases[i], true);
	}
}

/* Feeding gives complete lines only; the line begun stays until flushed. */
static void test_ansi_feed_gives_whole_lines(void)
{
	struct ansi_filter f;
	struct strbuf out = STRBUF_INIT;

	ansi_filter_init(&f, false);
	ansi_filter_feed(&f, "one\ntw", strlen("one\ntw"), &out);
	ASSERT_STREQ(strbuf_str(&out), "one\n");
	ansi_filter_feed(&f, "o\033[3", strlen("o\033[3"), &out);
	ASSERT_STREQ(strbuf_str(&out), "one\n");
	ansi_filter_feed(&f, "1m\n", strlen("1m\n"), &out);
	ASSERT_STREQ(strbuf_str(&out), "one\ntwo\n");
	strbuf_release(&out);
	ansi_filter_finish(&f);
}

/* A flush shows the line begun; a sequence begun before it stays begun, so
 * that its end is not taken for text (`logs -f` shows a last line without
 * newline, then follows what comes after it). */
static void test_ansi_flush_keeps_sequence_state(void)
{
	struct ansi_filter f;
	struct strbuf out = STRBUF_INIT;

	ansi_filter_init(&f, false);
	ansi_filter_feed(&f, "50%\033[3", strlen("50%\033[3"), &out);
	ASSERT_TRUE(ansi_filter_flush(&f, &out));
	ASSERT_STREQ(strbuf_str(&out), "50%");
	strbuf_reset(&out);
	ansi_filter_feed(&f, "2mdone\n", strlen("2mdone\n"), &out);
	ASSERT_STREQ(strbuf_str(&out), "done\n");
	strbuf_reset(&out);
	/* nothing begun, or only sequences: nothing to show */
	ASSERT_FALSE(ansi_filter_flush(&f, &out));
	ansi_filter_feed(&f, "\033[?25h", strlen("\033[?25h"), &out);
	ASSERT_FALSE(ansi_filter_flush(&f, &out));
	ASSERT_EQ_INT(out.len, 0);
	strbuf_release(&out);
	ansi_filter_finish(&f);
}

/* A kept style still on at a flush is reset there too. */
static void test_ansi_flush_resets_style(void)
{
	struct strbuf out = STRBUF_INIT;

	ansi_strip("\033[31mred", strlen("\033[31mred"), true, &out);
	ASSERT_STREQ(strbuf_str(&out), "\033[31mred\033[0m");
	strbuf_release(&out);
}

/* A long run of text is copied whole, and a line of 1 MiB is one line. */
static void test_ansi_long_line(void)
{
	size_t n = 1 << 20;
	char *in = xmalloc(n + 1);
	struct strbuf out = STRBUF_INIT;

	memset(in, 'x', n);
	in[n - 1] = '\n';
	in[n] = '\0';
	ansi_strip(in, n, false, &out);
	ASSERT_EQ_INT(out.len, n);
	ASSERT_TRUE(memcmp(out.buf, in, n) == 0);
	strbuf_release(&out);
	free(in);
}

static void test_utf8_lossy(void)
{
	struct strbuf out = STRBUF_INIT;

	strbuf_add_utf8(&out, "ok \xc3\xa9", 5);
	ASSERT_STREQ(strbuf_str(&out), "ok \xc3\xa9");
	strbuf_reset(&out);
	/* a lone continuation byte, a cut sequence, an overlong form */
	strbuf_add_utf8(&out,
			"a\x80"
			"b\xc3",
			4);
	ASSERT_STREQ(strbuf_str(&out), "a\xef\xbf\xbd"
				       "b\xef\xbf\xbd");
	strbuf_reset(&out);
	strbuf_add_utf8(&out, "\xc0\xaf", 2);
	ASSERT_STREQ(strbuf_str(&out), "\xef\xbf\xbd\xef\xbf\xbd");
	strbuf_release(&out);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_ansi_cases),
	TAP_TEST(test_ansi_feed_gives_whole_lines),
	TAP_TEST(test_ansi_flush_keeps_sequence_state),
	TAP_TEST(test_ansi_flush_resets_style),
	TAP_TEST(test_ansi_long_line),
	TAP_TEST(test_utf8_lossy),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
