/*
 * slug.c: validating and deriving session names.
 */
#include "util/common.h"

#include "store/slug.h"
#include "util/printable.h"

char *slug_quote(const char *s)
{
	return str_printable(s, 80);
}

static bool slug_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int slug_check(const char *s, char **cause)
{
	size_t n = strlen(s);
	char *q;

	if (n < 1 || n > SLUG_MAX || !slug_char(s[0]) || !slug_char(s[n - 1]))
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (!slug_char(s[i]) && s[i] != '-')
			goto bad;
	return 0;
bad:
	q = slug_quote(s);
	if (n > SLUG_MAX)
		*cause = xasprintf("invalid session name '%s': longer than %d characters", q,
				   SLUG_MAX);
	else
		*cause = xasprintf("invalid session name '%s': use 1-%d characters from a-z, 0-9 "
				   "and '-', starting and ending with a letter or digit",
				   q, SLUG_MAX);
	free(q);
	return -EINVAL;
}

int slug_from_branch(const char *branch, char **ret, char **cause)
{
	struct strbuf sb = STRBUF_INIT;
	int r;

	for (const char *p = branch; *p; p++) {
		char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (slug_char(c))
			strbuf_addch(&sb, c);
		else if (sb.len && sb.buf[sb.len - 1] != '-')
			strbuf_addch(&sb, '-');
	}
	while (sb.len && sb.buf[sb.len - 1] == '-')
		sb.buf[--sb.len] = '\0';
	r = slug_check(strbuf_str(&sb), cause);
	if (r < 0) {
		char *q = slug_quote(branch);

		free(*cause);
		if (sb.len > SLUG_MAX)
			*cause = xasprintf("branch '%s' gives a session name longer than %d "
					   "characters; pass a shorter name",
					   q, SLUG_MAX);
		else
			*cause = xasprintf("branch '%s' gives no usable session name: it has no "
					   "letter or digit; name the session with `berth up "
					   "<name> --branch <branch>`",
					   q);
		free(q);
		strbuf_release(&sb);
		return r;
	}
	*ret = strbuf_detach(&sb);
	return 0;
}
