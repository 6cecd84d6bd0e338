/*
 * cmdline.c: splitting a command line a shell would run as one program with
 * fixed words (see cmdline.h).
 */
#include "util/common.h"

#include <ctype.h>

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

/* Words sh runs itself, or reads as syntax, whatever PATH holds: dash's and
 * bash's keywords and builtins. */
static bool shell_word(const char *w)
{
	static const char *const words[] = {
		"!",         "[",        ".",       ":",        "alias",   "bg",      "bind",
		"break",     "builtin",  "caller",  "case",     "cd",      "chdir",   "command",
		"compgen",   "complete", "compopt", "continue", "coproc",  "declare", "dirs",
		"disown",    "do",       "done",    "echo",     "elif",    "else",    "enable",
		"esac",      "eval",     "exec",    "exit",     "export",  "false",   "fc",
		"fg",        "fi",       "for",     "function", "getopts", "hash",    "help",
		"history",   "if",       "in",      "jobs",     "kill",    "let",     "local",
		"logout",    "mapfile",  "popd",    "printf",   "pushd",   "pwd",     "read",
		"readarray", "readonly", "return",  "select",   "set",     "shift",   "shopt",
		"source",    "suspend",  "test",    "then",     "time",    "times",   "trap",
		"true",      "type",     "typeset", "ulimit",   "umask",   "unalias", "unset",
		"until",     "wait",     "while",
	};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (!strcmp(w, words[i]))
			return true;
	return false;
}

/* Variables a shell sets or changes as it starts (dash; bash run as sh):
 * their value in the environment is not the one the command would see.
 * name: its n bytes. */
static bool shell_variable(const char *name, size_t n)
{
	static const char *const names[] = {
		"PWD",
		"OLDPWD",
		"PPID",
		"IFS",
		"OPTIND",
		"OPTARG",
		"OPTERR",
		"SHLVL",
		"LINENO",
		"RANDOM",
		"SRANDOM",
		"_",
		"PS1",
		"PS2",
		"PS4",
		"SECONDS",
		"HOME",
		"PATH",
		"MAIL",
		"SHELL",
		"TERM",
		"COLUMNS",
		"LINES",
		"HISTCMD",
		"EPOCHSECONDS",
		"EPOCHREALTIME",
		"POSIXLY_CORRECT",
		"COMP_WORDBREAKS",
	};

	if (n >= 4 && !strncmp(name, "BASH", 4))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n && !strncmp(name, names[i], n))
			return true;
	return false;
}

/* Does envp hold what changes how bash, run as sh, reads a command beyond
 * its variables: an exported function (a program name could be one), its
 * options (noexec, extglob...)? */
static bool env_shapes_shell(char *const *envp)
{
	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, "BASH_FUNC_", 10) || !strncmp(*e, "SHELLOPTS=", 10) ||
		    !strncmp(*e, "BASHOPTS=", 9))
			return true;
	return false;
}

/* The value of name in envp, the last entry of that name (as the shells
 * take it), or NULL. */
static const char *env_value(char *const *envp, const char *name, size_t n)
{
	const char *v = NULL;

	for (char *const *e = envp; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			v = *e + n + 1;
	return v;
}

/* At *p, just past a '$': NAME or {NAME}. Its value in envp (NULL: the
 * shell's to expand), *p moved past it. */
static const char *expansion(const char **p, char *const *envp)
{
	const char *s = *p, *v;
	bool braced = *s == '{';
	size_t n = 0;

	if (!envp)
		return NULL;
	s += braced;
	if (!isalpha((unsigned char)s[0]) && s[0] != '_')
		return NULL;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	if (braced && s[n] != '}')
		return NULL; /* ${NAME:-x} and the like */
	v = shell_variable(s, n) ? NULL : env_value(envp, s, n);
	if (v)
		*p = s + n + braced;
	return v;
}

/* The "double-quoted" text at *p (just past its opening quote) into w, *p
 * moved past its closing quote. False: the shell's to read. */
static bool double_quoted(const char **p, char *const *envp, struct strbuf *w)
{
	const char *s = *p, *v;

	while (*s != '"') {
		unsigned char c = (unsigned char)*s;

		if (!c || c == '\\' || c == '`' || (c < 0x20 && c != '\t'))
			return false;
		s++;
		if (c != '$') {
			strbuf_addch(w, (char)c);
			continue;
		}
		v = expansion(&s, envp);
		if (!v)
			return false;
		strbuf_adds(w, v);
	}
	*p = s + 1;
	return true;
}

/* One word at *p (not at a blank): its text into *w, *plain when it is
 * bytes alone; *p moved past it. False: the shell's to read. */
static bool word(const char **p, char *const *envp, struct strbuf *w, bool *plain)
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
			s++;
			if (!double_quoted(&s, envp, w))
				return false;
		} else if (c == '$') {
			s++;
			v = expansion(&s, envp);
			/* unquoted, sh would split it at blanks and expand globs
			 * (bash's extended ones too: "@(", "!(") */
			if (!v || !*v || strpbrk(v, " \t\n*?[("))
				return false;
			strbuf_adds(w, v);
		} else
			return false;
	}
	*p = s;
	return true;
}

bool cmdline_split_simple(const char *cmd, char *const *envp, struct strvec *argv)
{
	struct strvec words = STRVEC_INIT;
	struct strbuf w = STRBUF_INIT;
	const char *p = cmd, *text;
	size_t prog = 0;
	bool plain, prog_plain = false;

	if (envp && env_shapes_shell(envp))
		return false;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		strbuf_reset(&w);
		if (!word(&p, envp, &w, &plain))
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
