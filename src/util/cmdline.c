/*
 * cmdline.c: splitting a command line without shell syntax (see cmdline.h).
 */
#include "util/common.h"

#include "util/cmdline.h"

/* Bytes a word may hold and mean the same to sh: letters, digits and
 * punctuation that is never special ('=' is refused in the first word: an
 * assignment). Anything else ('~' and UTF-8 included) goes to the shell. */
static bool plain_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-_./:=,+@%", c);
}

/* Words sh runs itself, or reads as syntax, whatever PATH holds. */
static bool shell_word(const char *w)
{
	static const char *const words[] = {
		"!",      ".",      ":",        "[",        "alias",  "bg",       "break",
		"case",   "cd",     "command",  "continue", "do",     "done",     "echo",
		"elif",   "else",   "esac",     "eval",     "exec",   "exit",     "export",
		"false",  "fc",     "fg",       "fi",       "for",    "function", "getopts",
		"hash",   "if",     "in",       "jobs",     "kill",   "local",    "printf",
		"pwd",    "read",   "readonly", "return",   "select", "set",      "shift",
		"source", "test",   "then",     "time",     "times",  "trap",     "true",
		"type",   "ulimit", "umask",    "unalias",  "unset",  "until",    "wait",
		"while",
	};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcmp(w, words[i]))
			return true;
	return false;
}

bool cmdline_split_simple(const char *cmd, struct strvec *argv)
{
	struct strvec words = STRVEC_INIT;
	const char *p = cmd;

	for (;;) {
		const char *start;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		start = p;
		for (; *p && *p != ' ' && *p != '\t'; p++)
			if (!plain_byte((unsigned char)*p) || (!words.n && *p == '='))
				goto shell;
		strvec_push_owned(&words, xstrndup(start, (size_t)(p - start)));
	}
	if (!words.n || shell_word(words.v[0]))
		goto shell;
	for (size_t i = 0; i < words.n; i++)
		strvec_push(argv, words.v[i]);
	strvec_clear(&words);
	return true;
shell:
	strvec_clear(&words);
	return false;
}
