/*
 * cmdopt.c: a command's declared options (see cmdopt.h): the getopt_long
 * table built from them, the parse, and the usage and options text.
 */
#include "util/common.h"

#include <getopt.h>

#include "cmd/cmd.h"
#include "cmd/cmdopt.h"
#include "cmd/output.h"
#include "util/closest.h"

const struct cmd_opt cmdopt_common[] = {
	{"quiet", 'q', NULL, "no progress on stderr", COMPLETE_NONE, NULL},
	{"help", 'h', NULL, "this help", COMPLETE_NONE, NULL},
	{NULL, 0, NULL, NULL, COMPLETE_NONE, NULL},
};

#define N_OPTS_MAX 64

/* e's options, then the common ones: v[0..n). */
static size_t all_opts(const struct cmd_entry *e, const struct cmd_opt **v)
{
	size_t n = 0;

	for (const struct cmd_opt *o = e->opts; o && o->name; o++)
		v[n++] = o;
	for (const struct cmd_opt *o = cmdopt_common; o->name; o++)
		v[n++] = o;
	return n;
}

/* "unknown option '--kep-worktree' (did you mean --keep-worktree?)" */
static int unknown(const struct cmd_entry *e, const char *arg, const struct cmd_opt **v, size_t n)
{
	const char *guess = NULL;
	size_t best = SIZE_MAX;
	char *name = xstrdup(arg + strspn(arg, "-"));

	name[strcspn(name, "=")] = '\0';
	for (size_t i = 0; i < n && strlen(arg) > 2 && arg[1] == '-'; i++)
		if (closest_better(name, v[i]->name, &best))
			guess = v[i]->name;
	free(name);
	if (guess)
		return cmd_usage_error(e, "unknown option '%s' (did you mean --%s?)", arg, guess);
	return cmd_usage_error(e, "unknown option '%s'", arg);
}

int cmdopt_parse(const struct cmd_entry *e, int argc, char **argv, struct cmd_args *ret)
{
	const struct cmd_opt *v[N_OPTS_MAX];
	struct option longopts[N_OPTS_MAX + 1];
	struct strbuf shorts = STRBUF_INIT;
	size_t n = all_opts(e, v), alloc = 0;
	int c, idx, dd, code = 0;

	memset(ret, 0, sizeof(*ret));
	ret->dashdash = -1;
	/* "+" off: options may come before or after the positionals ("-"
	 * would keep them in place); ":" first: a missing value is told apart */
	strbuf_addch(&shorts, ':');
	for (size_t i = 0; i < n; i++) {
		longopts[i] =
			(struct option){v[i]->name, v[i]->arg ? required_argument : no_argument,
					NULL, (int)(256 + i)};
		if (v[i]->letter) {
			strbuf_addch(&shorts, v[i]->letter);
			if (v[i]->arg)
				strbuf_addch(&shorts, ':');
		}
	}
	longopts[n] = (struct option){0};
	/* what follows the first "--" is positional, whatever it looks like */
	for (dd = 1; dd < argc && strcmp(argv[dd], "--"); dd++)
		;
	optind = 0; /* a new scan (glibc: also resets its permutation state) */
	opterr = 0;
	while ((c = getopt_long(dd, argv, strbuf_str(&shorts), longopts, &idx)) != -1) {
		const struct cmd_opt *o = NULL;

		if (c >= 256) {
			/* how it was written: "--name", "--name=VALUE", or "--name"
			 * then VALUE (getopt has moved past both) */
			const char *last = argv[optind - 1], *text = last + 2;

			o = v[c - 256];
			if (o->arg && !(strncmp(last, "--", 2) == 0 && strchr(last, '=')) &&
			    optind >= 2)
				text = argv[optind - 2] + 2;
			/* the whole name: getopt also takes a prefix (--keep for
			 * --keep-worktree), which a script must not rely on */
			if (strncmp(text, o->name, strlen(o->name)) ||
			    (text[strlen(o->name)] && text[strlen(o->name)] != '=')) {
				code = unknown(e, text - 2, v, n);
				break;
			}
		} else if (c != '?' && c != ':') {
			for (size_t i = 0; i < n && !o; i++)
				if (v[i]->letter == c)
					o = v[i];
		}
		if (c == ':') {
			code = cmd_usage_error(e, "option '%s' needs a value",
					       optopt ? (char[]){'-', (char)optopt, '\0'}
						      : argv[optind - 1]);
			break;
		}
		if (!o) {
			if (optopt)
				code = cmd_usage_error(e, "unknown option '-%c'", optopt);
			else
				code = unknown(e, argv[optind - 1], v, n);
			break;
		}
		if (!strcmp(o->name, "quiet"))
			ret->quiet = true;
		else if (!strcmp(o->name, "help"))
			ret->help = true;
		XGROW(ret->given, alloc, ret->n_given + 1);
		ret->given[ret->n_given++] = (struct cmd_given){o, o->arg ? optarg : NULL};
	}
	strbuf_release(&shorts);
	if (code) {
		cmdopt_args_finish(ret);
		return code;
	}
	/* the command's name, what getopt left before "--" (it moved the
	 * options first), then everything after "--" */
	ret->argv = xcalloc((size_t)argc + 1, sizeof(*ret->argv));
	ret->argv[ret->argc++] = argv[0];
	for (int i = optind; i < dd; i++)
		ret->argv[ret->argc++] = argv[i];
	if (dd < argc) {
		ret->dashdash = ret->argc;
		for (int i = dd + 1; i < argc; i++)
			ret->argv[ret->argc++] = argv[i];
	}
	return 0;
}

void cmdopt_args_finish(struct cmd_args *a)
{
	free(a->given);
	free(a->argv);
	memset(a, 0, sizeof(*a));
	a->dashdash = -1;
}

bool cmdopt_has(const struct cmd_args *a, const char *name)
{
	for (size_t i = 0; i < a->n_given; i++)
		if (!strcmp(a->given[i].opt->name, name))
			return true;
	return false;
}

const char *cmdopt_value(const struct cmd_args *a, const char *name)
{
	const char *v = NULL;

	for (size_t i = 0; i < a->n_given; i++)
		if (!strcmp(a->given[i].opt->name, name))
			v = a->given[i].value;
	return v;
}

static void add_opt_form(const struct cmd_opt *o, struct strbuf *out)
{
	if (o->letter)
		strbuf_addf(out, "-%c, ", o->letter);
	strbuf_addf(out, "--%s", o->name);
	if (o->arg)
		strbuf_addf(out, " %s", o->arg);
}

void cmdopt_synopsis(const struct cmd_entry *e, struct strbuf *out)
{
	strbuf_adds(out, e->name);
	if (e->args && *e->args)
		strbuf_addf(out, " %s", e->args);
	for (const struct cmd_opt *o = e->opts; o && o->name; o++) {
		if (o->letter)
			strbuf_addf(out, " [-%c", o->letter);
		else
			strbuf_addf(out, " [--%s", o->name);
		if (o->arg)
			strbuf_addf(out, " %s", o->arg);
		strbuf_addch(out, ']');
	}
	strbuf_adds(out, " [-q]");
	if (e->args_after && *e->args_after)
		strbuf_addf(out, " %s", e->args_after);
}

void cmdopt_help(const struct cmd_entry *e, struct strbuf *out)
{
	const struct cmd_opt *v[N_OPTS_MAX];
	size_t n = all_opts(e, v), width = 0;

	for (size_t i = 0; i < n; i++) {
		struct strbuf f = STRBUF_INIT;

		add_opt_form(v[i], &f);
		if (f.len > width)
			width = f.len;
		strbuf_release(&f);
	}
	strbuf_adds(out, "Options:\n");
	for (size_t i = 0; i < n; i++) {
		struct strbuf f = STRBUF_INIT;

		add_opt_form(v[i], &f);
		strbuf_addf(out, "  %-*s  %s\n", (int)width, strbuf_str(&f), v[i]->help);
		strbuf_release(&f);
	}
}

const char *cmdopt_closest(const char *s, const char *const *names)
{
	const char *guess = NULL;
	size_t best = SIZE_MAX;

	for (size_t i = 0; names[i]; i++)
		if (closest_better(s, names[i], &best))
			guess = names[i];
	return guess;
}
