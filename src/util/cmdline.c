/*
 * cmdline.c: splitting a command line a shell would run as one program with
 * fixed words (see cmdline.h).
 */
#include "util/common.h"

#include "util/cmdline.h"
#include "util/strbuf.h"

/* Bytes a word may hold and mean the same to sh: letters, digits and
 * punctuation that is never special ('=' is refused in the program word: an
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

/* Variables a shell sets or changes as it starts (dash, bash): their value
 * in the environment is not the one the command would see. */
static bool shell_variable(const char *name)
{
	static const char *const names[] = {
		"PWD",    "OLDPWD", "PPID", "IFS",   "OPTIND", "OPTARG",  "SHLVL",
		"LINENO", "RANDOM", "_",    "PS1",   "PS2",    "PS4",     "SECONDS",
		"HOME",   "PATH",   "MAIL", "SHELL", "TERM",   "COLUMNS", "LINES",
	};

	if (!strncmp(name, "BASH", 4))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

/* At *p, just past a '$': NAME or {NAME}. Its value (NULL: the shell's to
 * expand), *p moved past it. */
static const char *expansion(const char **p, cmdline_lookup_fn *lookup, void *data)
{
	const char *s = *p, *v;
	bool braced = *s == '{';
	char *name;
	size_t n = 0;

	if (!lookup)
		return NULL;
	s += braced;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return NULL;
	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
		n++;
	if (braced && s[n] != '}')
		return NULL; /* ${NAME:-x} and the like */
	name = xstrndup(s, n);
	v = shell_variable(name) ? NULL : lookup(name, data);
	free(name);
	if (v)
		*p = s + n + braced;
	return v;
}

/* One word at *p (not at a blank): its text into *w, *plain when it is
 * bytes alone; *p moved past it. False: the shell's to read. */
static bool word(const char **p, cmdline_lookup_fn *lookup, void *data, struct strbuf *w,
		 bool *plain)
{
	const char *s = *p, *v, *end;

	*plain = true;
	while (*s && *s != ' ' && *s != '\t') {
		unsigned char c = (unsigned char)*s;

		if (plain_byte(c)) {
			strbuf_addch(w, (char)c);
			s++;
			continue;
		}
		*plain = false;
		if (c == '\'') {
			end = strchr(s + 1, '\'');
			if (!end)
				return false;
			strbuf_add(w, s + 1, (size_t)(end - s - 1));
			s = end + 1;
		} else if (c == '"') {
			for (s++; *s != '"'; s++) {
				c = (unsigned char)*s;
				if (!c || c == '\\' || c == '`' || (c < 0x20 && c != '\t'))
					return false;
				if (c != '$') {
					strbuf_addch(w, (char)c);
					continue;
				}
				s++;
				v = expansion(&s, lookup, data);
				if (!v)
					return false;
				strbuf_adds(w, v);
				s--;
			}
			s++;
		} else if (c == '$') {
			s++;
			v = expansion(&s, lookup, data);
			/* unquoted, sh would split it at blanks and expand globs */
			if (!v || !*v || strpbrk(v, " \t\n*?["))
				return false;
			strbuf_adds(w, v);
		} else
			return false;
	}
	*p = s;
	return true;
}

bool cmdline_split_simple(const char *cmd, cmdline_lookup_fn *lookup, void *data,
			  struct strvec *argv)
{
	struct strvec words = STRVEC_INIT;
	struct strbuf w = STRBUF_INIT;
	const char *p = cmd, *text;
	size_t prog = 0;
	bool plain, prog_plain = false;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		strbuf_reset(&w);
		if (!word(&p, lookup, data, &w, &plain))
			goto shell;
		text = w.buf ? w.buf : ""; /* "" is an empty word */
		/* `exec PROG ...` runs PROG as PROG alone would (an option to
		 * exec itself, as bash has, is the shell's) */
		if (words.n == 1 && !strcmp(words.v[0], "exec") && text[0] != '-')
			prog = 1;
		if (words.n == prog)
			prog_plain = plain && *text && !strchr(text, '=');
		strvec_push(&words, text);
	}
	if (words.n <= prog || !prog_plain || shell_word(words.v[prog]))
		goto shell;
	for (size_t i = prog; i < words.n; i++)
		strvec_push(argv, words.v[i]);
	strvec_clear(&words);
	strbuf_release(&w);
	return true;
shell:
	strvec_clear(&words);
	strbuf_release(&w);
	return false;
}
