/*
 * activity.c: a session's last activity (see activity.h).
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervise/services.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "watch/activity.h"

#define WALK_MAX 500000 /* entries of a worktree looked at before it counts as doubt */

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static void seen(struct activity *a, int64_t ms, const char *what)
{
	if (ms > a->last_ms) {
		a->last_ms = ms;
		a->what = what;
	}
}

static void doubt(struct activity *a, char *why)
{
	if (a->doubt)
		free(why);
	else
		a->doubt = why;
}

/* The newest mtime of path's regular files (and of path), as what. */
static void newest_in_dir(struct activity *a, const char *path, const char *what)
{
	struct stat st;
	struct dirent *d;
	DIR *dir = opendir(path);

	if (!dir)
		return;
	if (fstat(dirfd(dir), &st) == 0)
		seen(a, mtime_ms(&st), what);
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.' &&
		    fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			seen(a, mtime_ms(&st), what);
	closedir(dir);
}

struct walk {
	struct activity *a;
	int64_t since_ms;
	size_t entries;
	bool stop;
};

/* Depth first below dirfd fd (which this closes): every entry's mtime, .git
 * skipped (the index and HEAD are read from the admin directory). */
static void walk_tree(struct walk *w, int fd, const char *name)
{
	struct dirent *d;
	DIR *dir = fdopendir(fd);

	if (!dir) {
		close(fd);
		doubt(w->a, xasprintf("cannot read %s in the worktree: %s", name, strerror(errno)));
		w->stop = true;
		return;
	}
	while (!w->stop && (d = readdir(dir))) {
		struct stat st;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, "..") ||
		    !strcmp(d->d_name, ".git"))
			continue;
		if (++w->entries > WALK_MAX) {
			doubt(w->a, xasprintf("the worktree has more than %d entries", WALK_MAX));
			w->stop = true;
			break;
		}
		if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* deleted meanwhile: its directory's mtime says so */
		seen(w->a, mtime_ms(&st), "a change in its worktree");
		if (w->a->last_ms > w->since_ms) {
			w->stop = true;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(dir), d->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0)
				walk_tree(w, sub, d->d_name);
		}
	}
	closedir(dir);
}

/* The worktree's git admin directory (from its .git file), or NULL. */
static char *admin_dir(const char *worktree)
{
	char *gitfile = path_join(worktree, ".git"), *text = NULL, *ret = NULL;

	if (read_file(gitfile, 4096, &text, NULL) == 0 && !strncmp(text, "gitdir: ", 8)) {
		text[strcspn(text, "\n")] = '\0';
		ret = xstrdup(text + 8);
	}
	free(text);
	free(gitfile);
	return ret;
}

void activity_find(const char *berth_dir, const struct session *s, const struct tmux *tmux,
		   int64_t since_ms, struct activity *ret)
{
	struct activity *a = ret;
	char *run = services_run_dir(berth_dir, s->slug),
	     *logs = services_log_dir(berth_dir, s->slug);
	char *stamp = path_join(run, "activity"), *admin;
	struct stat st;
	int fd;

	*a = (struct activity){0};
	/* not the row's updated_at: a command that takes the session to
	 * check it (stop --if-idle) changes that */
	seen(a, s->created_at * 1000, "a berth command on it");
	if (stat(stamp, &st) == 0)
		seen(a, mtime_ms(&st), "a berth command on it");
	newest_in_dir(a, logs, "output from its services");
	if (tmux) {
		size_t clients = 0;
		char *msg = NULL;

		if (tmux_session_clients(tmux, s->slug, &clients, &msg) < 0)
			doubt(a, xasprintf("cannot tell whether a tmux client is attached: %s",
					   msg ? msg : "tmux failed"));
		else if (clients)
			seen(a, time_wall_ms(), "a tmux client attached to it");
		free(msg);
	}
	admin = admin_dir(s->worktree);
	if (admin) {
		static const char *const files[] = {"HEAD", "index", "logs/HEAD"};

		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			char *p = path_join(admin, files[i]);

			if (stat(p, &st) == 0)
				seen(a, mtime_ms(&st), "a change in its worktree (index or HEAD)");
			free(p);
		}
		free(admin);
	}
	if (a->last_ms <= since_ms && !a->doubt) {
		struct walk w = {.a = a, .since_ms = since_ms};

		fd = open(s->worktree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			doubt(a, xasprintf("cannot read the worktree %s: %s", s->worktree,
					   strerror(errno)));
		} else {
			struct stat top;

			if (fstat(fd, &top) == 0)
				seen(a, mtime_ms(&top), "a change in its worktree");
			walk_tree(&w, fd, s->worktree);
		}
	}
	free(stamp);
	free(run);
	free(logs);
}

void activity_finish(struct activity *a)
{
	free(a->doubt);
	*a = (struct activity){0};
}

void activity_touch(const char *berth_dir, const char *slug)
{
	char *run = services_run_dir(berth_dir, slug), *stamp = path_join(run, "activity");
	int fd;

	if (path_is_dir(run)) {
		fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0) {
			futimens(fd, NULL);
			close(fd);
		}
	}
	free(stamp);
	free(run);
}
