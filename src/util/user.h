/*
 * user.h: a user's ids, looked up once, for a child that drops to them
 * (spawn_opts.set_user).
 */
#ifndef BERTH_USER_H
#define BERTH_USER_H

#include <stdbool.h>
#include <sys/types.h>

struct user_ids {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* every group of the user, its primary one included */
	size_t n_groups;
	char *home;
};

/* Look name up. -ENOENT when there is no such user. */
int user_lookup(const char *name, struct user_ids *ret);
void user_ids_finish(struct user_ids *u);
/* Would a child started by us need to change its ids to be u? */
bool user_needs_switch(const struct user_ids *u);

#endif
