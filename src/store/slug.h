/*
 * slug.h: session names. A slug matches ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$:
 * 1 to 63 characters (one letter or digit is a name too). A slug is a path
 * component (worktree, logs, run files, cgroup), a tmux session name and the
 * tail of the compose project and database names <prefix>_<slug>; all of
 * them take one character. A branch given to `up` becomes a slug by
 * lowercasing and mapping every run of characters outside [a-z0-9] to '-'.
 */
#ifndef BERTH_SLUG_H
#define BERTH_SLUG_H

#define SLUG_MAX 63

/* 0 when s is a valid slug; else -EINVAL with *cause saying why (caller frees). */
int slug_check(const char *s, char **cause);
/* The slug of a branch name ("feat/Foo_bar" -> "feat-foo-bar"). -EINVAL with
 * *cause when the result is not a valid slug (empty, too long). */
int slug_from_branch(const char *branch, char **ret, char **cause);
/* s for a message: control characters and invalid UTF-8 as \xNN (see
 * util/printable.h), at most 80 characters. The caller frees. */
char *slug_quote(const char *s);

#endif
