/*
 * user.c: a user's ids (see user.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/user.h"
#include "util/xmalloc.h"

int user_lookup(const char *name, struct user_ids *ret)
{
	struct passwd *pw = getpwnam(name);
	int n = 16;

	if (!pw)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->uid = pw->pw_uid;
	ret->gid = pw->pw_gid;
	ret->home = xstrdup(pw->pw_dir);
	ret->groups = xcalloc((size_t)n, sizeof(*ret->groups));
	while (getgrouplist(name, pw->pw_gid, ret->groups, &n) < 0)
		ret->groups = xreallocarray(ret->groups, (size_t)n, sizeof(*ret->groups));
	ret->n_groups = (size_t)n;
	return 0;
}

void user_ids_finish(struct user_ids *u)
{
	free(u->groups);
	free(u->home);
	memset(u, 0, sizeof(*u));
}

bool user_needs_switch(const struct user_ids *u)
{
	return geteuid() == 0 || u->uid != geteuid() || u->gid != getegid();
}
