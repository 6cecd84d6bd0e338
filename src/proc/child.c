/*
 * child.c: spawn + watch in one call (see child.h).
 */
#include "util/common.h"

#include <signal.h>
#include <unistd.h>

#include "proc/child.h"

int child_start(struct reaper *r, const struct spawn_opts *o, reaper_exit_fn cb, void *data,
		struct reaper_child **ret, struct spawn_error *ret_err)
{
	struct spawn_error err = {SPAWN_STAGE_NONE, 0};
	pid_t pid = -1;
	int pidfd = -1, rc, wr, ws;

	rc = spawn_start(o, &pid, &pidfd, &err);
	if (rc < 0) {
		/* A child that failed on its way to exec has exited already:
		 * reap exactly it, here, so that no callback ever sees it. */
		if (pid > 0)
			reaper_reap_sync(pid, -1, &ws);
		if (ret_err)
			*ret_err = err;
		return rc;
	}
	wr = reaper_watch(r, pid, pidfd, cb, data, ret);
	if (wr < 0) {
		/* Cannot happen for our own fresh child; never leave it running
		 * unwatched. */
		if (pidfd >= 0)
			close(pidfd);
		kill(pid, SIGKILL);
		reaper_reap_sync(pid, -1, &ws);
		if (ret_err)
			*ret_err = (struct spawn_error){SPAWN_STAGE_NONE, -wr};
		return wr;
	}
	return 0;
}
