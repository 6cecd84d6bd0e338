/*
 * worktree.c: git worktrees and branches through libgit2, never a `git`
 * subprocess. Finds the main worktree root from anywhere in a repository,
 * validates branch names before they reach git, creates linked worktrees
 * (existing branch, tracking branch from origin, or a new branch from the
 * main HEAD) with full rollback, counts uncommitted work, removes worktrees
 * only when they provably belong to the repository, and links or copies the
 * inherited env files into a worktree.
 *
 * Every function returns >= 0 or -errno, and on failure a human *cause
 * (which the caller frees) that ends with libgit2's own message when libgit2
 * failed. Nothing here prints. Every repository opened here is freed before
 * the function returns, so no libgit2 fd outlives a call.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/printable.h"
#include "util/testpoint.h"
#include "git/git2.h"
#include "git/worktree.h"

#define BRANCH_MAX 200
#define NAME_MAX_LEN 100
#define GITFILE_MAX 4096
#define ENV_FILE_MAX (64u << 20)

static bool lib_initialised, init_pending;
static pthread_t init_thread;
static int init_result;  /* of the thread's load */
static char *init_cause; /* its reason when it failed */

/* Load libgit2 and initialise it: 0, or -ENOENT with *cause. */
static int lib_start(char **cause)
{
	int r = git2_load(cause);

	if (r == 0)
		git_libgit2_init();
	return r;
}

static void *init_main(void *arg)
{
	(void)arg;
	init_result = lib_start(&init_cause);
	return NULL;
}

void worktree_lib_init_async(void)
{
	sigset_t all, old;

	if (lib_initialised || init_pending)
		return;
	/* no signal for that thread: the handlers and signalfd stay the
	 * main thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	init_pending = pthread_create(&init_thread, NULL, init_main, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int worktree_lib_init(char **cause)
{
	int r;

	if (init_pending) {
		pthread_join(init_thread, NULL);
		init_pending = false;
		if (init_result < 0) {
			/* told to this caller; the next one tries again */
			if (cause)
				*cause = init_cause;
			else
				free(init_cause);
			init_cause = NULL;
			return init_result;
		}
		lib_initialised = true;
	}
	if (lib_initialised)
		return 0;
	r = lib_start(cause);
	if (r == 0)
		lib_initialised = true;
	return r;
}

void worktree_lib_shutdown(void)
{
	if (init_pending)
		worktree_lib_init(NULL); /* a pending one ends first */
	if (!lib_initialised)
		return;
	git_libgit2_shutdown();
	lib_initialised = false;
}

/* Set *cause (when cause is non-NULL) and return r. */
static int fail(char **cause, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **cause, int r, const char *fmt, ...)
{
	va_list ap;

	if (cause) {
		va_start(ap, fmt);
		*cause = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Like fail(), with libgit2's last error message appended. */
static int git_fail(char **cause, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int git_fail(char **cause, int r, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!cause)
		return r;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (e && e->message && *e->message)
		strbuf_addf(&sb, ": %s", e->message);
	*cause = strbuf_detach(&sb);
	return r;
}

/* Map a libgit2 error code to -errno. */
static int git_errno(int gr)
{
	switch (gr) {
	case GIT_ENOTFOUND:
	case GIT_EUNBORNBRANCH:
		return -ENOENT;
	case GIT_EEXISTS:
		return -EEXIST;
	case GIT_ELOCKED:
		return -EBUSY;
	case GIT_EOWNER:
		return -EACCES;
	case GIT_EINVALIDSPEC:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* A copy of s without trailing slashes ("/" stays "/"). The caller frees. */
static char *strip_slash(const char *s)
{
	char *p = xstrdup(s);
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	return p;
}

/*
 * Canonical form of a path that may not exist (any more): realpath of the
 * longest existing prefix with the missing components appended. NULL when
 * not even the current directory resolves. The caller frees.
 */
static char *canonical_maybe_missing(const char *path)
{
	char *p, *copy, *slash, *parent, *ret;
	const char *base;

	p = path_canonical(path);
	if (p)
		return p;
	copy = strip_slash(path);
	slash = strrchr(copy, '/');
	if (!slash) {
		base = copy;
		parent = path_canonical(".");
	} else if (slash == copy) {
		base = slash + 1;
		parent = xstrdup("/");
	} else {
		*slash = '\0';
		base = slash + 1;
		parent = canonical_maybe_missing(copy);
	}
	if (!parent) {
		ret = NULL;
	} else if (!strcmp(base, ".") || !*base) {
		ret = parent;
		parent = NULL;
	} else if (!strcmp(base, "..")) {
		char *s = strrchr(parent, '/');

		if (s && s != parent)
			*s = '\0';
		else if (s)
			s[1] = '\0';
		ret = parent;
		parent = NULL;
	} else {
		ret = path_join(parent, base);
	}
	free(parent);
	free(copy);
	return ret;
}

/* The last component of path. Points into path. */
static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A printable, bounded rendering of a user-supplied name for messages. */
static char *quote_name(const char *s)
{
	return str_printable(s, 64);
}

/* The short name of the branch HEAD points at, NULL when detached. The caller frees. */
static char *head_branch(git_repository *repo)
{
	git_reference *head = NULL;
	char *ret = NULL;
	const char *t;

	if (git_reference_lookup(&head, repo, "HEAD") < 0)
		return NULL;
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		t = git_reference_symbolic_target(head);
		if (t && !strncmp(t, "refs/heads/", 11))
			ret = xstrdup(t + 11);
	}
	git_reference_free(head);
	return ret;
}

/* The common git directory of repo, canonical, without a trailing '/'. */
static char *commondir_of(git_repository *repo)
{
	char *p = path_canonical(git_repository_commondir(repo));

	return p ? p : strip_slash(git_repository_commondir(repo));
}

/*
 * libgit2's worktree add and prune are not safe against each other across
 * processes: a parallel `up` can see a sibling's half-made worktree and fail
 * with "reference is already checked out". Creating and removing worktrees
 * therefore hold an flock on <commondir>/berth-worktree.lock (milliseconds;
 * the kernel wakes the waiter, nothing polls). Returns the fd to close.
 */
static int lock_repo(git_repository *repo, char **cause)
{
	char *common = commondir_of(repo);
	char *path = xasprintf("%s/berth-worktree.lock", common);
	int fd = lock_file(path);

	if (fd < 0)
		fail(cause, fd, "cannot lock '%s': %s", path, strerror(-fd));
	free(path);
	free(common);
	return fd;
}

/* Open the main worktree at main_root (exactly there: no upward search). */
static int open_main(const char *main_root, git_repository **ret, char **cause)
{
	git_repository *repo = NULL;
	int gr;

	gr = git_repository_open_ext(&repo, main_root, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (gr < 0)
		return git_fail(cause, gr == GIT_ENOTFOUND ? -ENOENT : git_errno(gr),
				"cannot open the git repository at '%s'", main_root);
	if (git_repository_is_bare(repo)) {
		git_repository_free(repo);
		return fail(cause, -EINVAL, "'%s' is a bare repository; berth needs a working tree",
			    main_root);
	}
	if (git_repository_is_worktree(repo)) {
		git_repository_free(repo);
		return fail(cause, -EINVAL, "'%s' is a linked worktree, not the main worktree",
			    main_root);
	}
	*ret = repo;
	return 0;
}

/* Open the worktree at path (exactly there: no upward search). */
static int open_worktree(const char *path, git_repository **ret, char **cause)
{
	int gr = git_repository_open_ext(ret, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);

	if (gr < 0)
		return git_fail(cause, gr == GIT_ENOTFOUND ? -ENOENT : git_errno(gr),
				"cannot open the worktree at '%s'", path);
	return 0;
}

/* open_main, then lock_repo: the lock's fd (the caller closes it and frees
 * *ret), or -errno with nothing left open. */
static int open_main_locked(const char *main_root, git_repository **ret, char **cause)
{
	int r = open_main(main_root, ret, cause), lock;

	if (r < 0)
		return r;
	lock = lock_repo(*ret, cause);
	if (lock < 0) {
		git_repository_free(*ret);
		*ret = NULL;
	}
	return lock;
}

/* ---- locating the repository without libgit2 ----
 *
 * git_libgit2_init() parses the whole CA bundle with mbedTLS (5-12 ms on
 * the benchmark machine: bench/README.md): ls, status, env and the rest
 * would pay it only to find the repository. The plain layouts are read
 * directly: a main worktree with its .git directory, and a linked worktree
 * whose .git file names <main>/.git/worktrees/<name>. Anything else
 * (core.worktree or an include in the config, a bare repository, one owned
 * by another user, a submodule or a separate git directory, a filesystem
 * boundary on the way up) goes to libgit2, which decides as before.
 */

static int read_gitfile(const char *file, char **ret);

/* gitdir's config changes nothing of the layout: no "worktree" key, no
 * include, "bare" false or absent. */
static bool config_plain(const char *gitdir)
{
	char *path = path_join(gitdir, "config"), *text = NULL, *save = NULL, *line;
	size_t len = 0;
	bool plain;

	plain = read_file(path, 1 << 20, &text, &len) == 0 && strlen(text) == len;
	for (line = plain ? strtok_r(text, "\n", &save) : NULL; plain && line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *k = line + strspn(line, " \t"), *v;

		if (strcasestr(k, "worktree") || strcasestr(k, "include")) {
			plain = false;
		} else if (!strncasecmp(k, "bare", 4) && strchr(" \t=", k[4])) {
			v = strchr(k, '=');
			plain = v && !strncasecmp(v + 1 + strspn(v + 1, " \t"), "false", 5);
		}
	}
	free(text);
	free(path);
	return plain;
}

/* gitdir is a git directory of ours: its HEAD, objects and refs, owned by
 * us. */
static bool gitdir_plain(const char *gitdir)
{
	static const char *const parts[] = {"HEAD", "objects", "refs"};
	struct stat st;
	bool ok = stat(gitdir, &st) == 0 && st.st_uid == geteuid();

	for (size_t i = 0; ok && i < ARRAY_SIZE(parts); i++) {
		char *p = path_join(gitdir, parts[i]);

		ok = lstat(p, &st) == 0;
		free(p);
	}
	return ok;
}

/* The branch HEAD of gitdir (HEAD itself: a linked worktree's own) points
 * at, NULL when detached or elsewhere. */
static char *head_file_branch(const char *gitdir)
{
	char *path = path_join(gitdir, "HEAD"), *text = NULL, *ret = NULL;
	size_t len = 0;

	if (read_file(path, 4096, &text, &len) == 0 && strlen(text) == len &&
	    !strncmp(text, "ref: refs/heads/", 16)) {
		text[strcspn(text, "\r\n")] = '\0';
		if (text[16])
			ret = xstrdup(text + 16);
	}
	free(text);
	free(path);
	return ret;
}

/* The repository of the worktree at top (canonical) whose .git is a file:
 * true with ret filled for a linked worktree of a plain main worktree. */
static bool locate_linked(const char *top, const char *dotgit, struct repo_location *ret)
{
	char *admin = NULL, *file = NULL, *text = NULL, *common = NULL, *raw = NULL;
	char *main_root = NULL, *main_git = NULL;
	size_t len = 0;
	bool ok = false;
	struct stat st;

	if (read_gitfile(dotgit, &admin) < 0)
		return false;
	file = path_join(admin, "commondir");
	if (read_file(file, 4096, &text, &len) < 0 || strlen(text) != len)
		goto out;
	text[strcspn(text, "\r\n")] = '\0';
	raw = path_join(admin, text);
	common = path_canonical(raw);
	if (!common || strcmp(base_of(common), ".git") || !gitdir_plain(common) ||
	    !config_plain(common))
		goto out;
	free(file);
	file = path_join(admin, "HEAD");
	if (lstat(file, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	/* the main worktree holds that very git directory */
	main_root = path_dir(common);
	main_git = path_join(main_root, ".git");
	if (lstat(main_git, &st) < 0 || !S_ISDIR(st.st_mode))
		goto out;
	ret->main_root = main_root;
	ret->current = xstrdup(top);
	ret->in_linked = true;
	ret->current_branch = head_file_branch(admin);
	main_root = NULL;
	ok = true;
out:
	free(main_git);
	free(main_root);
	free(common);
	free(raw);
	free(text);
	free(file);
	free(admin);
	return ok;
}

/* The plain layouts only; false: ask libgit2 (nothing is filled). */
static bool locate_plain(const char *cdir, struct repo_location *ret)
{
	char *d = xstrdup(cdir);
	struct stat st;
	dev_t dev;
	bool ok = false;

	if (stat(d, &st) < 0)
		goto out;
	dev = st.st_dev;
	for (;;) {
		char *dotgit = path_join(d, ".git"), *up;

		if (lstat(dotgit, &st) == 0) {
			if (S_ISDIR(st.st_mode) && gitdir_plain(dotgit) && config_plain(dotgit)) {
				ret->main_root = xstrdup(d);
				ret->current = xstrdup(d);
				ret->in_linked = false;
				ret->current_branch = head_file_branch(dotgit);
				ok = true;
			} else if (S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
				ok = locate_linked(d, dotgit, ret);
			}
			free(dotgit);
			goto out;
		}
		free(dotgit);
		if (errno != ENOENT || !strcmp(d, "/"))
			goto out;
		up = path_dir(d);
		free(d);
		d = up;
		if (stat(d, &st) < 0 || st.st_dev != dev)
			goto out;
	}
out:
	free(d);
	return ok;
}

int worktree_locate(const char *dir, struct repo_location *ret, char **cause)
{
	git_repository *repo = NULL, *main = NULL, *check = NULL;
	char *cdir, *current = NULL, *main_root = NULL, *common = NULL, *common2 = NULL;
	const char *workdir;
	int gr, r = 0;

	cdir = path_canonical(dir);
	if (!cdir)
		return fail(cause, -errno, "cannot resolve '%s': %s", dir, strerror(errno));
	if (locate_plain(cdir, ret)) {
		free(cdir);
		return 0;
	}
	r = worktree_lib_init(cause);
	if (r < 0) {
		free(cdir);
		return r;
	}
	gr = git_repository_open_ext(&repo, cdir, 0, NULL);
	if (gr == GIT_ENOTFOUND) {
		r = fail(cause, -ENOENT, "not inside a git repository");
		goto out;
	}
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr), "cannot open the git repository containing '%s'",
			     cdir);
		goto out;
	}
	workdir = git_repository_workdir(repo);
	if (git_repository_is_bare(repo) || !workdir) {
		r = fail(cause, -EINVAL,
			 "'%s' is inside a bare repository; berth needs a repository with a "
			 "working tree",
			 cdir);
		goto out;
	}
	current = path_canonical(workdir);
	if (!current) {
		r = fail(cause, -errno, "cannot resolve the worktree '%s': %s", workdir,
			 strerror(errno));
		goto out;
	}
	if (!git_repository_is_worktree(repo)) {
		main_root = xstrdup(current);
		goto found;
	}

	/*
	 * A linked worktree: its .git is a file pointing into the common
	 * directory, whose own working tree (core.worktree, else its parent)
	 * is the main worktree. Check that the main worktree found that way
	 * really uses the same common directory.
	 */
	common = commondir_of(repo);
	gr = git_repository_open_ext(&main, common, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr), "cannot open the main repository '%s'", common);
		goto out;
	}
	if (git_repository_is_bare(main) || !git_repository_workdir(main)) {
		r = fail(cause, -EINVAL,
			 "the main repository '%s' of worktree '%s' is bare; berth needs a main "
			 "worktree",
			 common, current);
		goto out;
	}
	main_root = canonical_maybe_missing(git_repository_workdir(main));
	gr = git_repository_open_ext(&check, main_root, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (gr == 0)
		common2 = commondir_of(check);
	if (!common2 || strcmp(common, common2)) {
		r = fail(cause, -ENOENT,
			 "cannot find the main worktree of '%s' (its git directory is '%s')",
			 current, common);
		goto out;
	}

found:
	ret->main_root = main_root;
	ret->current = current;
	ret->in_linked = git_repository_is_worktree(repo);
	ret->current_branch = head_branch(repo);
	main_root = current = NULL;
out:
	git_repository_free(check);
	git_repository_free(main);
	git_repository_free(repo);
	free(common2);
	free(common);
	free(main_root);
	free(current);
	free(cdir);
	return r;
}

void repo_location_finish(struct repo_location *loc)
{
	if (!loc)
		return;
	free(loc->main_root);
	free(loc->current);
	free(loc->current_branch);
	memset(loc, 0, sizeof(*loc));
}

int worktree_branch_check(const char *branch, char **cause)
{
	const char *why = NULL, *bad;
	char *q;
	size_t len;

	if (!branch)
		branch = "";
	len = strlen(branch);
	if (!len)
		return fail(cause, -EINVAL, "invalid branch name '': must not be empty");
	if (len > BRANCH_MAX)
		why = "is longer than 200 bytes";
	else if (branch[0] == '-')
		why = "must not start with '-'";
	if (!why && str_has_control(branch))
		why = "contains a control character (a Unicode bidirectional control too) or "
		      "bytes that are not UTF-8";
	else if (!why && strchr(branch, ' '))
		why = "must not contain spaces";
	if (why)
		goto bad;
	if (strstr(branch, ".."))
		why = "must not contain '..'";
	else if (strstr(branch, "@{"))
		why = "must not contain '@{'";
	else if ((bad = strpbrk(branch, "~^:?*[\\")))
		goto bad_char;
	else if (branch[len - 1] == '/')
		why = "must not end with '/'";
	else if (len >= 5 && !strcmp(branch + len - 5, ".lock"))
		why = "must not end with '.lock'";
	else if (branch[len - 1] == '.')
		why = "must not end with '.'";
	else if (!strcmp(branch, "HEAD") || !strcmp(branch, "@"))
		why = "is reserved by git";
	if (why)
		goto bad;

	/* git's rules for each component of refs/heads/<branch>, checked here
	 * rather than by libgit2 (whose set-up `up` would wait for first);
	 * test_branch_check_agrees_with_libgit2 holds them to its answers */
	for (const char *c = branch;;) {
		size_t n = strcspn(c, "/");

		if (!n || c[0] == '.' || (n >= 5 && !strncmp(c + n - 5, ".lock", 5))) {
			why = "is not a valid git branch name (no component may start with '.', "
			      "end with '.lock' or be empty)";
			goto bad;
		}
		if (!c[n])
			break;
		c += n + 1;
	}
	return 0;

bad_char:
	q = quote_name(branch);
	fail(cause, -EINVAL, "invalid branch name '%s': must not contain '%c'", q, *bad);
	free(q);
	return -EINVAL;
bad:
	q = quote_name(branch);
	fail(cause, -EINVAL, "invalid branch name '%s': %s", q, why);
	free(q);
	return -EINVAL;
}

/* A worktree's administrative name: one path component of [A-Za-z0-9._-]. */
static int check_name(const char *name, char **cause)
{
	size_t len = name ? strlen(name) : 0;

	if (!len || len > NAME_MAX_LEN || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		    len) {
		char *q = quote_name(name ? name : "");

		fail(cause, -EINVAL,
		     "invalid worktree name '%s': use 1-%d of [A-Za-z0-9._-], not starting with "
		     "'.'",
		     q, NAME_MAX_LEN);
		free(q);
		return -EINVAL;
	}
	return 0;
}

/*
 * Read a "gitdir: <path>" file (a linked worktree's .git). *ret is the
 * target made absolute against the file's directory. 0, or -errno.
 */
static int read_gitfile(const char *file, char **ret)
{
	char *buf = NULL, *p, *dir;
	size_t len;
	int r;

	r = read_file(file, GITFILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	if (strlen(buf) != len || strncmp(buf, "gitdir: ", 8)) {
		free(buf);
		return -EINVAL;
	}
	p = buf + 8;
	len = strcspn(p, "\r\n");
	p[len] = '\0';
	if (!len) {
		free(buf);
		return -EINVAL;
	}
	dir = path_dir(file);
	*ret = path_join(dir, p);
	free(dir);
	free(buf);
	return 0;
}

/*
 * Where refname is checked out: the main worktree or a linked one (even one
 * whose directory is gone, as git itself counts those). NULL when nowhere.
 * *ret_stale tells that the worktree's directory is missing. The caller frees.
 */
static char *checked_out_at(git_repository *repo, const char *refname, bool *ret_stale)
{
	git_strarray names = {NULL, 0};
	git_reference *head = NULL;
	char *common, *where = NULL;

	*ret_stale = false;
	if (git_reference_lookup(&head, repo, "HEAD") == 0) {
		if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC &&
		    !strcmp(git_reference_symbolic_target(head), refname))
			where = strip_slash(git_repository_workdir(repo));
		git_reference_free(head);
		if (where)
			return where;
	}
	if (git_worktree_list(&names, repo) < 0)
		return NULL;
	common = commondir_of(repo);
	for (size_t i = 0; !where && i < names.count; i++) {
		char *file = xasprintf("%s/worktrees/%s/HEAD", common, names.strings[i]);
		char *buf = NULL;
		git_worktree *wt = NULL;

		if (read_file(file, GITFILE_MAX, &buf, NULL) == 0) {
			buf[strcspn(buf, "\r\n")] = '\0';
			if (!strncmp(buf, "ref: ", 5) && !strcmp(buf + 5, refname)) {
				if (git_worktree_lookup(&wt, repo, names.strings[i]) == 0) {
					where = xstrdup(git_worktree_path(wt));
					*ret_stale = git_worktree_validate(wt) < 0;
					git_worktree_free(wt);
				} else {
					where = xasprintf("%s/worktrees/%s", common,
							  names.strings[i]);
				}
			}
		}
		free(buf);
		free(file);
	}
	git_error_clear();
	free(common);
	git_strarray_dispose(&names);
	return where;
}

/*
 * A worktree is created in a side directory "<dir>/.<base>.berth-new" and
 * moved into place once checked out; it is moved to "<dir>/.<base>.berth-old"
 * before it is deleted. Each move is one rename(2), so a command killed at
 * any instant leaves the worktree's own path either complete or absent, and
 * never a half tree that would pass for a person's deletions or additions.
 * What a killed command leaves under a side name is berth's alone.
 */
#define SIDE_NEW ".berth-new"
#define SIDE_OLD ".berth-old"

static char *side_path(const char *path, const char *side)
{
	char *dir = path_dir(path), *p = xasprintf("%s/.%s%s", dir, base_of(path), side);

	free(dir);
	return p;
}

/* The <base> of a side directory's name ".<base>.berth-new|old", or NULL. */
static char *side_base(const char *name)
{
	size_t n = strlen(name), l = strlen(SIDE_NEW);

	if (n <= l + 1 || name[0] != '.' ||
	    (strcmp(name + n - l, SIDE_NEW) && strcmp(name + n - l, SIDE_OLD)))
		return NULL;
	return xstrndup(name + 1, n - l - 1);
}

/* Point the admin entry's gitdir file at wt/.git (what `git worktree move`
 * does), atomically. */
static int point_entry_at(const char *admin, const char *wt)
{
	char *file = path_join(admin, "gitdir"), *text = xasprintf("%s/.git\n", wt);
	int r = write_file_atomic_nosync(file, text, strlen(text), 0644);

	free(text);
	free(file);
	return r;
}

/* The worktree directory an admin entry's gitdir file names (canonical as
 * far as it exists), or NULL when the file is missing, empty or unreadable. */
static char *entry_target(const char *admin)
{
	char *file = path_join(admin, "gitdir"), *buf = NULL, *wt = NULL;
	size_t len;

	if (read_file(file, GITFILE_MAX, &buf, &len) == 0 && strlen(buf) == len) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '/' && strcmp(base_of(buf), ".git") == 0) {
			char *d = path_dir(buf);

			wt = canonical_maybe_missing(d);
			free(d);
		}
	}
	free(buf);
	free(file);
	return wt;
}

/*
 * Remove what commands killed while creating or removing a worktree in dir
 * (canonical) left: the side directories, and the admin entries of common
 * that belonged to them (their gitdir names a side directory, or the
 * worktree a side directory was becoming or ceasing to be, which is absent;
 * or it was never written). Entries of any other worktree, and locked ones,
 * are never touched. Runs under the repository lock, when no live command
 * has a side directory. Returns how many things were removed.
 */
static unsigned sweep_leftovers(const char *common, const char *dir)
{
	struct strvec bases = STRVEC_INIT;
	char *wts = path_join(common, "worktrees");
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	d = opendir(dir);
	while (d && (de = readdir(d))) {
		char *base = side_base(de->d_name), *p;
		struct stat st;

		if (!base)
			continue;
		p = path_join(dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && rm_rf_last(p, ".git") == 0) {
			strvec_push(&bases, base);
			n++;
		}
		free(p);
		free(base);
	}
	if (d)
		closedir(d);
	d = bases.n ? opendir(wts) : NULL;
	while (d && (de = readdir(d))) {
		char *admin, *locked, *wt, *wdir = NULL, *sb = NULL;
		bool ours = false;

		if (de->d_name[0] == '.')
			continue;
		admin = path_join(wts, de->d_name);
		locked = path_join(admin, "locked");
		wt = entry_target(admin);
		if (wt)
			wdir = path_dir(wt);
		if (path_exists(locked))
			ours = false;
		else if (!wt)
			ours = strvec_find(&bases, de->d_name) >= 0;
		else if (!strcmp(wdir, dir) && !path_exists(wt))
			ours = (sb = side_base(base_of(wt))) != NULL ||
			       strvec_find(&bases, base_of(wt)) >= 0;
		if (ours && rm_rf(admin) == 0)
			n++;
		free(sb);
		free(wdir);
		free(wt);
		free(locked);
		free(admin);
	}
	if (d)
		closedir(d);
	free(wts);
	strvec_clear(&bases);
	return n;
}

/*
 * Make the administrative name free: an entry whose worktree directory is
 * gone (and that is not locked) is pruned, as is a half-written one; a live
 * one is an error.
 */
static int free_admin_name(git_repository *repo, const char *name, const char *admin, char **cause)
{
	git_worktree_prune_options popts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	git_worktree *wt = NULL;
	int gr, r = 0;

	if (!path_exists(admin))
		return 0;
	gr = git_worktree_lookup(&wt, repo, name);
	if (gr < 0) {
		/* No gitdir/commondir/HEAD inside: nothing git can use (git prunes it too). */
		r = rm_rf(admin);
		if (r < 0)
			return fail(cause, r, "cannot remove the stale worktree entry '%s': %s",
				    admin, strerror(-r));
		return 0;
	}
	if (git_worktree_validate(wt) == 0) {
		r = fail(cause, -EEXIST,
			 "the worktree name '%s' is already used by the worktree at '%s'", name,
			 git_worktree_path(wt));
		goto out;
	}
	if (git_worktree_is_locked(NULL, wt) > 0) {
		r = fail(cause, -EBUSY,
			 "the worktree name '%s' is held by a locked worktree entry (for '%s'); "
			 "run `git worktree unlock %s && git worktree prune`",
			 name, git_worktree_path(wt), git_worktree_path(wt));
		goto out;
	}
	gr = git_worktree_prune(wt, &popts);
	if (gr < 0)
		r = git_fail(cause, git_errno(gr), "cannot prune the stale worktree entry '%s'",
			     admin);
out:
	git_worktree_free(wt);
	return r;
}

/* Peel ref to the commit it points at. */
static int ref_commit(git_reference *ref, git_commit **ret)
{
	git_object *obj = NULL;
	int gr;

	gr = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	if (gr < 0)
		return gr;
	*ret = (git_commit *)obj;
	return 0;
}

/*
 * Make branch track origin/<branch> (remote_ref): branch.<b>.remote and
 * branch.<b>.merge, the merge ref found through origin's fetch refspecs.
 * Read and written through the config API directly rather than through
 * git_branch_set_upstream() or git_remote_lookup(), whose config regex
 * matching leaks in libgit2 1.5 (fixed upstream by libgit2 PR #6382).
 */
static int set_upstream(git_repository *repo, const char *branch, const char *remote_ref,
			char **cause)
{
	git_config_iterator *it = NULL;
	git_config_entry *entry;
	git_buf merge = GIT_BUF_INIT;
	git_config *cfg = NULL;
	char *key = NULL;
	bool have_remote = false;
	int gr, r = 0;

	gr = git_repository_config(&cfg, repo);
	if (gr == 0)
		gr = git_config_multivar_iterator_new(&it, cfg, "remote.origin.fetch", NULL);
	while (gr == 0 && !merge.ptr && git_config_next(&entry, it) == 0) {
		git_refspec *rs = NULL;

		have_remote = true;
		if (git_refspec_parse(&rs, entry->value, 1) < 0)
			continue;
		if (git_refspec_dst_matches(rs, remote_ref) &&
		    git_refspec_rtransform(&merge, rs, remote_ref) < 0)
			git_buf_dispose(&merge);
		git_refspec_free(rs);
	}
	git_config_iterator_free(it);
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr),
			     "cannot read the configuration of remote 'origin'");
		goto out;
	}
	if (!merge.ptr) {
		r = fail(cause, -ENOENT, "cannot make branch '%s' track 'origin/%s': %s", branch,
			 branch,
			 have_remote ? "no fetch refspec of remote 'origin' maps to it"
				     : "remote 'origin' is not configured");
		goto out;
	}
	key = xasprintf("branch.%s.remote", branch);
	gr = git_config_set_string(cfg, key, "origin");
	if (gr == 0) {
		free(key);
		key = xasprintf("branch.%s.merge", branch);
		gr = git_config_set_string(cfg, key, merge.ptr);
	}
	if (gr < 0)
		r = git_fail(cause, git_errno(gr), "cannot make branch '%s' track 'origin/%s'",
			     branch, branch);
out:
	free(key);
	git_config_free(cfg);
	git_buf_dispose(&merge);
	git_error_clear();
	return r;
}

/*
 * Delete the branch ref (and its reflog), then its upstream settings
 * (branch.<b>.remote and .merge) where it has them, as `git branch -d`
 * does. Not git_branch_delete: its config regex leaks in libgit2 1.5 (see
 * set_upstream); git_config_delete_entry matches no regex. libgit2's result
 * of the ref's deletion.
 */
static int delete_branch_ref(git_repository *repo, git_reference *ref, const char *branch)
{
	static const char *const keys[] = {"remote", "merge"};
	git_config *cfg = NULL;
	int gr = git_reference_delete(ref);

	if (gr == 0 && git_repository_config(&cfg, repo) == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			char *key = xasprintf("branch.%s.%s", branch, keys[i]);

			git_config_delete_entry(cfg, key); /* absent: nothing to do */
			free(key);
		}
		git_config_free(cfg);
	}
	return gr;
}

/* Undo a branch this module created (refs/heads/<branch>). */
static void delete_branch(git_repository *repo, const char *branch)
{
	char *refname = xasprintf("refs/heads/%s", branch);
	git_reference *ref = NULL;

	if (git_reference_lookup(&ref, repo, refname) == 0)
		delete_branch_ref(repo, ref, branch);
	git_reference_free(ref);
	git_error_clear();
	free(refname);
}

/* The crash tests stop a checkout half way (pause point "worktree-checkout"). */
static void checkout_progress(const char *path, size_t done, size_t total, void *payload)
{
	(void)path;
	(void)payload;
	if (total > 1 && done == total / 2)
		test_pause("worktree-checkout");
}

int worktree_branch_plan(const char *main_root, const char *branch, char **ret_new_at, char **cause)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	git_object *obj = NULL;
	char *refname = xasprintf("refs/heads/%s", branch), *remote = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid oid;
	int r, gr;

	*ret_new_at = NULL;
	r = worktree_lib_init(cause);
	if (r < 0) {
		free(refname); /* nothing of libgit2's to free: it is not there */
		return r;
	}
	r = open_main(main_root, &repo, cause);
	if (r < 0)
		goto out;
	gr = git_reference_name_to_id(&oid, repo, refname);
	if (gr != GIT_ENOTFOUND)
		goto out; /* it exists (or cannot be read: worktree_create says why) */
	/* what worktree_create starts a new branch at: origin/<branch>, or HEAD
	 * (references looked up as such: git_revparse_single would read
	 * "x-g1234" as describe output, and leaks on it in libgit2 1.5) */
	remote = xasprintf("refs/remotes/origin/%s", branch);
	gr = git_reference_lookup(&ref, repo, remote);
	if (gr == GIT_ENOTFOUND)
		gr = git_repository_head(&ref, repo);
	if (gr == 0)
		gr = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	if (gr == 0) {
		git_oid_tostr(hex, sizeof(hex), git_object_id(obj));
		*ret_new_at = xstrdup(hex);
	}
out:
	git_object_free(obj);
	git_reference_free(ref);
	git_repository_free(repo);
	git_error_clear();
	free(remote);
	free(refname);
	return r;
}

int worktree_create(const char *main_root, const char *path, const char *name, const char *branch,
		    enum worktree_origin *ret_origin, char **cause)
{
	git_worktree_add_options opts;
	git_repository *repo = NULL;
	git_reference *ref = NULL, *remote = NULL, *head = NULL;
	git_commit *commit = NULL;
	git_worktree *wt = NULL;
	char *parent = NULL, *cparent = NULL, *abs_path = NULL, *admin = NULL, *common = NULL;
	char *refname = NULL, *remote_name = NULL, *where = NULL, *staging = NULL;
	enum worktree_origin origin;
	bool created_branch = false, stale;
	int gr, r, lock = -1;

	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	r = worktree_branch_check(branch, cause);
	if (r < 0)
		return r;
	r = check_name(name, cause);
	if (r < 0)
		return r;
	if (!*path || !strcmp(base_of(path), ".") || !strcmp(base_of(path), ".."))
		return fail(cause, -EINVAL, "invalid worktree path '%s'", path);
	if (path_exists(path))
		return fail(cause, -EEXIST, "cannot create a worktree at '%s': it already exists",
			    path);
	lock = open_main_locked(main_root, &repo, cause);
	if (lock < 0)
		return lock;
	common = commondir_of(repo);
	/* libgit2 wants an absolute path and an existing parent. */
	parent = path_dir(path);
	r = mkdir_p(parent, 0755);
	if (r < 0) {
		fail(cause, r, "cannot create directory '%s': %s", parent, strerror(-r));
		goto out;
	}
	cparent = path_canonical(parent);
	if (!cparent) {
		r = -errno;
		fail(cause, r, "cannot resolve '%s': %s", parent, strerror(-r));
		goto out;
	}
	abs_path = path_join(cparent, base_of(path));
	staging = side_path(abs_path, SIDE_NEW);
	/* What a killed command left here would make libgit2 refuse every
	 * branch ("reference is already checked out"). */
	sweep_leftovers(common, cparent);
	admin = xasprintf("%s/worktrees/%s", common, name);
	r = free_admin_name(repo, name, admin, cause);
	if (r < 0)
		goto out;

	refname = xasprintf("refs/heads/%s", branch);
	gr = git_reference_lookup(&ref, repo, refname);
	if (gr == 0) {
		origin = WT_LOCAL_BRANCH;
		where = checked_out_at(repo, refname, &stale);
		if (where) {
			r = fail(cause, -EBUSY,
				 "branch '%s' is already checked out in the worktree at '%s'%s",
				 branch, where,
				 stale ? " (its directory is missing: run `git worktree prune`)"
				       : "");
			goto out;
		}
	} else if (gr != GIT_ENOTFOUND) {
		r = git_fail(cause, git_errno(gr), "cannot look up branch '%s'", branch);
		goto out;
	} else {
		remote_name = xasprintf("refs/remotes/origin/%s", branch);
		gr = git_reference_lookup(&remote, repo, remote_name);
		if (gr == 0) {
			origin = WT_REMOTE_BRANCH;
			gr = ref_commit(remote, &commit);
			if (gr < 0) {
				r = git_fail(cause, git_errno(gr), "cannot resolve 'origin/%s'",
					     branch);
				goto out;
			}
		} else if (gr != GIT_ENOTFOUND) {
			r = git_fail(cause, git_errno(gr), "cannot look up 'origin/%s'", branch);
			goto out;
		} else {
			origin = WT_NEW_BRANCH;
			gr = git_repository_head(&head, repo);
			if (gr == GIT_EUNBORNBRANCH || gr == GIT_ENOTFOUND) {
				r = fail(cause, -ENOENT,
					 "cannot create branch '%s': the repository has no commits "
					 "yet; commit something first",
					 branch);
				goto out;
			}
			if (gr == 0)
				gr = ref_commit(head, &commit);
			if (gr < 0) {
				r = git_fail(cause, git_errno(gr),
					     "cannot resolve HEAD of the main worktree '%s'",
					     main_root);
				goto out;
			}
		}
		test_pause("branch-create");
		gr = git_branch_create(&ref, repo, branch, commit, 0);
		if (gr < 0) {
			r = git_fail(cause, git_errno(gr), "cannot create branch '%s'", branch);
			goto out;
		}
		created_branch = true;
		if (origin == WT_REMOTE_BRANCH) {
			r = set_upstream(repo, branch, remote_name, cause);
			if (r < 0)
				goto rollback;
		}
	}

	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	opts.ref = ref;
	if (getenv("BERTH_TEST_PAUSE"))
		opts.checkout_options.progress_cb = checkout_progress;
	gr = git_worktree_add(&wt, repo, name, staging, &opts);
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr),
			     "cannot create worktree '%s' at '%s' on branch '%s'", name, abs_path,
			     branch);
		goto rollback;
	}
	git_worktree_free(wt);
	test_pause("worktree-staged");
	/* Checked out: the entry names the final path, then the tree moves
	 * there in one step (never over something that appeared meanwhile). */
	r = point_entry_at(admin, abs_path);
	if (r < 0) {
		fail(cause, r, "cannot update the worktree entry '%s': %s", admin, strerror(-r));
		goto rollback;
	}
	if (renameat2(AT_FDCWD, staging, AT_FDCWD, abs_path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		fail(cause, r, "cannot move the new worktree into place at '%s': %s", abs_path,
		     strerror(-r));
		goto rollback;
	}
	if (ret_origin)
		*ret_origin = origin;
	r = 0;
	goto out;

rollback:
	/*
	 * Undo in reverse. The side directory and the admin entry did not
	 * exist when we started (checked above, under the lock): they are ours.
	 */
	rm_rf(staging);
	rm_rf(admin);
	if (created_branch)
		delete_branch(repo, branch);
out:
	git_commit_free(commit);
	git_reference_free(head);
	git_reference_free(remote);
	git_reference_free(ref);
	git_repository_free(repo);
	free(where);
	free(remote_name);
	free(refname);
	free(staging);
	free(abs_path);
	free(cparent);
	free(parent);
	free(admin);
	free(common);
	if (lock >= 0)
		close(lock);
	return r;
}

/*
 * The entry named by the directory wt itself: wt/.git is a regular file
 * "gitdir: <commondir>/worktrees/<name>" of this repository. *ret_name (may
 * be NULL) gets <name>. A .git directory is a repository of its own, never a
 * linked worktree.
 */
static bool gitfile_entry(git_repository *repo, const char *wt, char **ret_name)
{
	char *dotgit = path_join(wt, ".git"), *target = NULL, *ctarget = NULL, *common, *wtdir;
	struct stat st;
	bool found = false;

	common = commondir_of(repo);
	wtdir = path_join(common, "worktrees");
	if (lstat(dotgit, &st) < 0 || !S_ISREG(st.st_mode) || read_gitfile(dotgit, &target) < 0)
		goto out;
	ctarget = canonical_maybe_missing(target);
	if (ctarget) {
		char *d = path_dir(ctarget);
		const char *b = base_of(ctarget);

		if (!strcmp(d, wtdir) && check_name(b, NULL) == 0) {
			found = true;
			if (ret_name)
				*ret_name = xstrdup(b);
		}
		free(d);
	}
out:
	free(ctarget);
	free(target);
	free(wtdir);
	free(common);
	free(dotgit);
	return found;
}

/* The admin entry of repo whose gitdir points at wt/.git (wt canonical). */
static bool entry_for_path(git_repository *repo, const char *wt, char **ret_name)
{
	git_strarray names = {NULL, 0};
	bool found = false;

	if (git_worktree_list(&names, repo) < 0) {
		git_error_clear();
		return false;
	}
	for (size_t i = 0; !found && i < names.count; i++) {
		git_worktree *w = NULL;
		char *p;

		if (git_worktree_lookup(&w, repo, names.strings[i]) < 0)
			continue;
		p = canonical_maybe_missing(git_worktree_path(w));
		if (p && !strcmp(p, wt)) {
			found = true;
			if (ret_name)
				*ret_name = xstrdup(names.strings[i]);
		}
		free(p);
		git_worktree_free(w);
	}
	git_strarray_dispose(&names);
	git_error_clear();
	return found;
}

bool worktree_is_linked(const char *main_root, const char *path)
{
	git_repository *repo = NULL;
	git_worktree *wt = NULL;
	char *root = NULL, *cpath = NULL, *name = NULL, *entry = NULL;
	bool linked = false;

	if (worktree_lib_init(NULL) < 0)
		return false;
	root = path_canonical(main_root);
	cpath = path_canonical(path);
	if (!root || !cpath || !strcmp(root, cpath) || !path_is_dir(cpath))
		goto out;
	if (open_main(root, &repo, NULL) < 0)
		goto out;
	/* Both directions agree: its .git names the entry, the entry names it. */
	if (gitfile_entry(repo, cpath, &name) && git_worktree_lookup(&wt, repo, name) == 0) {
		entry = canonical_maybe_missing(git_worktree_path(wt));
		linked = entry && !strcmp(entry, cpath);
	}
out:
	git_worktree_free(wt);
	free(entry);
	free(name);
	git_repository_free(repo);
	git_error_clear();
	free(cpath);
	free(root);
	return linked;
}

/* Is p one of ignore, or the temporary file berth writes one of writes
 * through ("<name>.tmp.<pid>", write_file_atomic), left by a command killed
 * while it wrote? Neither is the user's work. */
static bool ignored(const struct strvec *ignore, const struct strvec *writes, const char *p)
{
	for (size_t i = 0; ignore && i < ignore->n; i++)
		if (!strcmp(p, ignore->v[i]))
			return true;
	for (size_t i = 0; writes && i < writes->n; i++)
		if (atomic_leftover_of(p, writes->v[i]))
			return true;
	return false;
}

int worktree_changes_except(const char *path, const struct strvec *ignore,
			    const struct strvec *writes, size_t *ret_count,
			    struct strvec *ret_paths, size_t max, char **cause)
{
	git_status_options opts;
	git_repository *repo = NULL;
	git_status_list *list = NULL;
	size_t n, count = 0;
	int gr, r = 0;

	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	r = open_worktree(path, &repo, cause);
	if (r < 0)
		return r;
	if (git_repository_is_bare(repo)) {
		r = fail(cause, -EINVAL, "'%s' is a bare repository, not a worktree", path);
		goto out;
	}
	git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	/* Ignored files are not work; untracked and unreadable ones may be. */
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_INCLUDE_UNREADABLE |
		     GIT_STATUS_OPT_INCLUDE_UNREADABLE_AS_UNTRACKED;
	gr = git_status_list_new(&list, repo, &opts);
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr), "cannot read the status of '%s'", path);
		goto out;
	}
	n = git_status_list_entrycount(list);
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d;
		const char *p = NULL;

		if (!e || e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED))
			continue;
		d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
		if (d)
			p = d->new_file.path ? d->new_file.path : d->old_file.path;
		if (p && e->status == GIT_STATUS_WT_NEW && ignored(ignore, writes, p))
			continue;
		count++;
		if (ret_paths && count <= max)
			strvec_push(ret_paths, p ? p : "?");
	}
	*ret_count = count;
out:
	git_status_list_free(list);
	git_repository_free(repo);
	return r;
}

int worktree_changes(const char *path, size_t *ret_count, struct strvec *ret_paths, size_t max,
		     char **cause)
{
	return worktree_changes_except(path, NULL, NULL, ret_count, ret_paths, max, cause);
}

/* Remove the admin entry name when it has no gitdir file left (what a prune
 * cut short leaves) and is not locked. */
static void drop_headless_entry(git_repository *repo, const char *name)
{
	char *common = commondir_of(repo), *admin = xasprintf("%s/worktrees/%s", common, name);
	char *locked = path_join(admin, "locked"), *target = entry_target(admin);

	if (!target && path_is_dir(admin) && !path_exists(locked) && check_name(name, NULL) == 0)
		rm_rf(admin);
	free(target);
	free(locked);
	free(admin);
	free(common);
}

int worktree_remove(const char *main_root, const char *path, char **cause)
{
	git_worktree_prune_options popts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	git_buf reason = GIT_BUF_INIT;
	git_repository *repo = NULL;
	git_worktree *wt = NULL;
	char *root, *cpath = NULL, *name = NULL, *entry_path = NULL, *old = NULL;
	int gr, r, lock = -1;

	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	root = path_canonical(main_root);
	if (!root)
		return fail(cause, -errno, "cannot resolve '%s': %s", main_root, strerror(errno));
	cpath = canonical_maybe_missing(path);
	if (!cpath) {
		r = fail(cause, -EINVAL, "cannot resolve '%s'", path);
		goto out;
	}
	/* Never remove the main worktree, nor a directory that contains it. */
	if (path_is_inside(root, cpath)) {
		r = fail(cause, -EINVAL, "refusing to remove '%s': it %s the main worktree", cpath,
			 strcmp(root, cpath) ? "contains" : "is");
		goto out;
	}
	lock = open_main_locked(root, &repo, cause);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	/*
	 * What gets deleted must prove it is ours: an existing directory by
	 * its .git file pointing into this repository's worktrees/ (whether or
	 * not that entry still exists); a directory already gone only has its
	 * entry left to prune.
	 */
	if (path_exists(cpath)) {
		if (!gitfile_entry(repo, cpath, &name)) {
			r = fail(cause, -EINVAL,
				 "refusing to remove '%s': it is not a linked worktree of '%s'",
				 cpath, root);
			goto out;
		}
	} else if (!entry_for_path(repo, cpath, &name)) {
		/* Already gone, entry and all; but a prune cut short (a kill)
		 * leaves the entry of its name without its gitdir file, which git
		 * can no longer tie to any directory: it goes too. */
		drop_headless_entry(repo, base_of(cpath));
		r = 0;
		goto out;
	}

	gr = git_worktree_lookup(&wt, repo, name);
	if (gr == 0) {
		entry_path = canonical_maybe_missing(git_worktree_path(wt));
		if (entry_path && !strcmp(entry_path, cpath) &&
		    git_worktree_is_locked(&reason, wt) > 0) {
			size_t n = reason.size;
			char *why;

			while (n && (reason.ptr[n - 1] == '\n' || reason.ptr[n - 1] == '\r'))
				n--;
			why = n ? xstrndup(reason.ptr, n) : xstrdup("no reason given");
			r = fail(cause, -EBUSY,
				 "worktree '%s' is locked (%s); run `git worktree unlock %s` first",
				 cpath, why, cpath);
			free(why);
			goto out;
		}
	}
	git_error_clear();

	/* Moved aside first: a removal cut short (a kill, a file that cannot
	 * be deleted) never leaves a half tree at the worktree's path, which
	 * would pass for a person's deletions; the next command that meets
	 * the side directory finishes it. Where it cannot move (a mount point),
	 * it is removed in place, the .git file last so that what is left still
	 * proves it is ours. */
	old = side_path(cpath, SIDE_OLD);
	rm_rf_last(old, ".git");
	if (renameat2(AT_FDCWD, cpath, AT_FDCWD, old, RENAME_NOREPLACE) == 0) {
		test_pause("worktree-remove");
		r = rm_rf_last(old, ".git");
	} else {
		r = rm_rf_last(cpath, ".git");
	}
	if (r < 0) {
		fail(cause, r, "cannot remove worktree '%s': %s", cpath, strerror(-r));
		goto out;
	}
	/*
	 * Prune the entry only when it is now invalid: an entry that still
	 * points at another live directory (a copied worktree) is not ours.
	 */
	if (wt && git_worktree_is_prunable(wt, &popts) > 0) {
		gr = git_worktree_prune(wt, &popts);
		if (gr < 0) {
			r = git_fail(cause, git_errno(gr),
				     "removed '%s' but cannot prune its worktree entry '%s'", cpath,
				     name);
			goto out;
		}
	}
	git_error_clear();
	r = 0;
out:
	git_buf_dispose(&reason);
	git_worktree_free(wt);
	git_repository_free(repo);
	free(entry_path);
	free(old);
	free(name);
	free(cpath);
	free(root);
	if (lock >= 0)
		close(lock);
	return r;
}

int worktree_prune(const char *main_root, unsigned *ret_pruned, char **cause)
{
	git_worktree_prune_options popts = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	git_strarray names = {NULL, 0};
	git_repository *repo = NULL;
	char *common = NULL;
	unsigned n = 0;
	int lock;

	*ret_pruned = 0;
	lock = worktree_lib_init(cause);
	if (lock < 0)
		return lock;
	lock = open_main_locked(main_root, &repo, cause);
	if (lock < 0)
		return lock;
	common = commondir_of(repo);
	if (git_worktree_list(&names, repo) < 0)
		names.count = 0;
	for (size_t i = 0; i < names.count; i++) {
		const char *name = names.strings[i];
		char *admin = xasprintf("%s/worktrees/%s", common, name);
		git_worktree *wt = NULL;

		if (git_worktree_lookup(&wt, repo, name) < 0)
			drop_headless_entry(repo, name);
		else if (git_worktree_validate(wt) < 0 && git_worktree_is_locked(NULL, wt) == 0)
			git_worktree_prune(wt, &popts); /* prunes an invalid, unlocked one only */
		if (!path_exists(admin))
			n++;
		git_worktree_free(wt);
		free(admin);
	}
	*ret_pruned = n;
	git_strarray_dispose(&names);
	git_repository_free(repo);
	git_error_clear();
	free(common);
	close(lock);
	return 0;
}

/*
 * The lock files a command killed while creating branch at new_at left:
 * refs/heads/<branch>.lock (libgit2 makes it, writes the commit's id into
 * it and renames it over the ref), removed when it holds nothing or exactly
 * new_at; and, when the branch was being made from origin/<branch> (then at
 * new_at), config.lock of the upstream's two settings, removed when it holds
 * nothing yet or has the branch's section. Runs under the repository lock,
 * which every berth command creating a branch holds, so no live berth is
 * inside that step; a person's git command holds such a lock for
 * microseconds and writes its own content. True when one was removed.
 */
static bool drop_stale_locks(git_repository *repo, const char *common, const char *branch,
			     const char *new_at)
{
	char *ref_lock = xasprintf("%s/refs/heads/%s.lock", common, branch);
	char *cfg_lock = path_join(common, "config.lock");
	char *remote = xasprintf("refs/remotes/origin/%s", branch);
	char *section = xasprintf("[branch \"%s\"]", branch), *text = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	size_t len = 0, n = strlen(new_at);
	bool gone = false;
	git_oid oid;

	if (read_file(ref_lock, 128, &text, &len) == 0 &&
	    (len == 0 ||
	     ((len == n || (len == n + 1 && text[n] == '\n')) && !memcmp(text, new_at, n))))
		gone = unlink(ref_lock) == 0;
	free(text);
	text = NULL;
	if (git_reference_name_to_id(&oid, repo, remote) == 0 &&
	    !strcmp(git_oid_tostr(hex, sizeof(hex), &oid), new_at) &&
	    read_file(cfg_lock, 1 << 20, &text, &len) == 0 && (len == 0 || strstr(text, section)))
		gone = unlink(cfg_lock) == 0 || gone;
	git_error_clear();
	free(text);
	free(section);
	free(remote);
	free(cfg_lock);
	free(ref_lock);
	return gone;
}

int worktree_recover(const char *main_root, const char *path, const char *branch,
		     const char *new_at, unsigned *ret_what, char **cause)
{
	git_repository *repo = NULL;
	char *cpath = NULL, *dir = NULL, *common = NULL, *admin = NULL, *target = NULL;
	char *text = NULL, *dotgit = NULL;
	unsigned what = 0;
	int r, lock = -1;

	*ret_what = 0;
	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	cpath = canonical_maybe_missing(path);
	if (!cpath)
		return fail(cause, -EINVAL, "cannot resolve '%s'", path);
	lock = open_main_locked(main_root, &repo, cause);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	common = commondir_of(repo);
	dir = path_dir(cpath);
	if (sweep_leftovers(common, dir))
		what |= WT_RECOVER_SWEPT;
	if (branch && new_at && drop_stale_locks(repo, common, branch, new_at))
		what |= WT_RECOVER_UNLOCKED;
	/* A damaged .git file while the entry of the same name still names
	 * this directory: written again, as `git worktree repair` does. */
	if (path_is_dir(cpath) && !gitfile_entry(repo, cpath, NULL)) {
		admin = xasprintf("%s/worktrees/%s", common, base_of(cpath));
		target = entry_target(admin);
		if (target && !strcmp(target, cpath)) {
			dotgit = path_join(cpath, ".git");
			text = xasprintf("gitdir: %s\n", admin);
			r = write_file_atomic_nosync(dotgit, text, strlen(text), 0644);
			if (r < 0) {
				fail(cause, r, "cannot repair '%s': %s", dotgit, strerror(-r));
				goto out;
			}
			what |= WT_RECOVER_REPAIRED;
		}
	}
	*ret_what = what;
	r = 0;
out:
	git_repository_free(repo);
	git_error_clear();
	free(dotgit);
	free(text);
	free(target);
	free(admin);
	free(dir);
	free(common);
	free(cpath);
	if (lock >= 0)
		close(lock);
	return r;
}

int worktree_lost_commits(const char *path, size_t *ret_count, struct strvec *ret, size_t max,
			  char **cause)
{
	git_repository *repo = NULL;
	git_reference_iterator *it = NULL;
	git_reference *ref;
	git_revwalk *walk = NULL;
	git_oid oid;
	size_t count = 0;
	int gr, r = 0;

	*ret_count = 0;
	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	r = open_worktree(path, &repo, cause);
	if (r < 0)
		return r;
	/* On a branch, every commit is that branch's. */
	if (git_repository_head_detached(repo) != 1)
		goto out;
	gr = git_revwalk_new(&walk, repo);
	if (gr == 0)
		gr = git_revwalk_push_head(walk);
	if (gr == 0)
		gr = git_reference_iterator_new(&it, repo);
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr), "cannot read the history of '%s'", path);
		goto out;
	}
	/* Whatever a branch, a tag, a remote-tracking branch or the stash
	 * holds is kept by them. */
	while (git_reference_next(&ref, it) == 0) {
		git_object *obj = NULL;

		if (git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0)
			git_revwalk_hide(walk, git_object_id(obj));
		git_object_free(obj);
		git_reference_free(ref);
	}
	while (count < LOST_COMMITS_MAX && (gr = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *c = NULL;
		char hex[GIT_OID_HEXSZ + 1];

		count++;
		if (count > max || !ret)
			continue;
		git_oid_tostr(hex, 8, &oid);
		if (git_commit_lookup(&c, repo, &oid) == 0) {
			char *summary = str_printable(git_commit_summary(c), 60);

			strvec_pushf(ret, "%s %s", hex, summary);
			free(summary);
		} else {
			strvec_push(ret, hex);
		}
		git_commit_free(c);
	}
	if (gr < 0 && gr != GIT_ITEROVER) {
		r = git_fail(cause, git_errno(gr), "cannot read the history of '%s'", path);
		goto out;
	}
	*ret_count = count;
out:
	git_reference_iterator_free(it);
	git_revwalk_free(walk);
	git_repository_free(repo);
	git_error_clear();
	return r;
}

static int copy_file(const char *src, const char *dst)
{
	struct stat st;
	char *data = NULL;
	size_t len;
	int r;

	if (stat(src, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = read_file(src, ENV_FILE_MAX, &data, &len);
	if (r < 0)
		return r;
	r = write_file_atomic_nosync(dst, data, len, st.st_mode & 07777);
	/* The umask applied at creation; the copy keeps the source's mode. */
	if (r == 0 && chmod(dst, st.st_mode & 07777) < 0)
		r = -errno;
	free(data);
	return r;
}

int worktree_inherit_env(const char *main_root, const char *wt_path, const struct strvec *files,
			 bool copy, char **cause)
{
	char *root = NULL, *wt = NULL;
	int r = 0;

	if (!files || !files->n)
		return 0;
	for (size_t i = 0; i < files->n; i++) {
		if (!path_is_relative_below(files->v[i])) {
			char *q = quote_name(files->v[i]);

			fail(cause, -EINVAL,
			     "inherit_env file '%s' must be a relative path inside the repository "
			     "(no leading '/', no '..')",
			     q);
			free(q);
			return -EINVAL;
		}
	}
	root = path_canonical(main_root);
	if (!root) {
		r = fail(cause, -errno, "cannot resolve '%s': %s", main_root, strerror(errno));
		goto out;
	}
	wt = path_canonical(wt_path);
	if (!wt) {
		r = fail(cause, -errno, "cannot resolve worktree '%s': %s", wt_path,
			 strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < files->n && r >= 0; i++) {
		const char *name = files->v[i];
		char *src = path_join(root, name), *dst = path_join(wt, name);
		char *parent = path_dir(dst), *cparent = NULL, *link = NULL;
		struct stat st;

		if (lstat(src, &st) < 0) {
			if (errno != ENOENT)
				r = fail(cause, -errno, "cannot inherit '%s': %s", src,
					 strerror(errno));
			goto next;
		}
		r = mkdir_p(parent, 0755);
		if (r < 0) {
			fail(cause, r, "cannot create directory '%s': %s", parent, strerror(-r));
			goto next;
		}
		/* A symlinked directory inside the worktree must not lead us out of it. */
		cparent = path_canonical(parent);
		if (!cparent || !path_is_inside(cparent, wt)) {
			r = fail(cause, -EINVAL,
				 "cannot inherit '%s': its directory '%s' leads outside the "
				 "worktree",
				 name, parent);
			goto next;
		}
		if (lstat(dst, &st) == 0) {
			if (!S_ISLNK(st.st_mode))
				goto next; /* a real file (tracked, or the user's): keep it */
			if (!copy) {
				link = xcalloc(1, (size_t)st.st_size + 2);
				if (readlink(dst, link, (size_t)st.st_size + 1) == st.st_size &&
				    !strcmp(link, src))
					goto next; /* already the right link */
			}
			if (unlink(dst) < 0 && errno != ENOENT) {
				r = fail(cause, -errno, "cannot replace the symlink '%s': %s", dst,
					 strerror(errno));
				goto next;
			}
		} else if (errno != ENOENT) {
			r = fail(cause, -errno, "cannot inspect '%s': %s", dst, strerror(errno));
			goto next;
		}
		if (copy) {
			r = copy_file(src, dst);
			if (r < 0)
				fail(cause, r, "cannot copy '%s' to '%s': %s", src, dst,
				     r == -EINVAL ? "not a regular file" : strerror(-r));
		} else if (symlink(src, dst) < 0) {
			r = fail(cause, -errno, "cannot link '%s' to '%s': %s", dst, src,
				 strerror(errno));
		}
	next:
		free(link);
		free(cparent);
		free(parent);
		free(dst);
		free(src);
	}
out:
	free(wt);
	free(root);
	return r < 0 ? r : 0;
}

int worktree_head(const char *wt_path, char **ret_oid_hex, char **cause)
{
	git_repository *repo = NULL;
	git_oid oid;
	char hex[GIT_OID_HEXSZ + 1];
	int gr, r;

	r = worktree_lib_init(cause);
	if (r < 0)
		return r;
	r = open_worktree(wt_path, &repo, cause);
	if (r < 0)
		return r;
	gr = git_reference_name_to_id(&oid, repo, "HEAD");
	git_repository_free(repo);
	if (gr < 0)
		return git_fail(cause, git_errno(gr), "cannot read HEAD of '%s'", wt_path);
	git_oid_tostr(hex, sizeof(hex), &oid);
	*ret_oid_hex = xstrdup(hex);
	return 0;
}

int worktree_branch_drop(const char *main_root, const char *branch, const char *oid_hex,
			 char **cause)
{
	git_repository *repo = NULL;
	git_reference *ref = NULL;
	char *refname = xasprintf("refs/heads/%s", branch), *where;
	char hex[GIT_OID_HEXSZ + 1];
	bool stale = false;
	int r = 0, gr, lock = -1;

	r = worktree_lib_init(cause);
	if (r < 0) {
		free(refname);
		return r;
	}
	/* under the repository lock: no `up` may check the branch out meanwhile */
	lock = open_main_locked(main_root, &repo, cause);
	if (lock < 0) {
		r = lock;
		goto out;
	}
	gr = git_reference_lookup(&ref, repo, refname);
	if (gr == GIT_ENOTFOUND)
		goto out;
	if (gr < 0) {
		r = git_fail(cause, git_errno(gr), "cannot read branch '%s'", branch);
		goto out;
	}
	/* Only a branch nobody moved and nobody checked out is ours to drop. */
	if (git_reference_type(ref) != GIT_REFERENCE_DIRECT)
		goto out;
	git_oid_tostr(hex, sizeof(hex), git_reference_target(ref));
	if (strcmp(hex, oid_hex))
		goto out;
	where = checked_out_at(repo, refname, &stale);
	if (where) {
		free(where);
		goto out;
	}
	gr = delete_branch_ref(repo, ref, branch);
	if (gr < 0)
		r = git_fail(cause, git_errno(gr), "cannot delete branch '%s'", branch);
	else
		r = 1;
	git_error_clear();
out:
	git_reference_free(ref);
	git_repository_free(repo);
	free(refname);
	if (lock >= 0)
		close(lock);
	return r;
}
