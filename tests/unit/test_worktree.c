/*
 * test_worktree.c: worktree.c against real repositories in a temporary
 * directory. The git CLI sets repositories up and cross-checks what libgit2
 * did (`git worktree list`, `git status`, `git worktree prune -n`); the module
 * itself never runs git.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "git/git2.h"
#include "tap.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "git/worktree.h"

static const char *base_dir;

/* ---- helpers ------------------------------------------------------------------------------ */

/* Run `git -C dir args...` (NULL-terminated); stdout into *out when out is non-NULL. */
static int git_run(const char *dir, char **out, const char *arg, ...)
{
	const char *argv[32];
	struct strbuf sb = STRBUF_INIT;
	int pfd[2], status, devnull;
	size_t n = 0;
	va_list ap;
	pid_t pid;

	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = dir;
	va_start(ap, arg);
	for (const char *a = arg; a && n < ARRAY_SIZE(argv) - 1; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		abort();
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		dup2(pfd[1], 1);
		/* Keep TAP output clean: git's chatter on stderr goes nowhere. */
		if (devnull >= 0)
			dup2(devnull, 2);
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char buf[4096];
		ssize_t got = read(pfd[0], buf, sizeof(buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		strbuf_add(&sb, buf, (size_t)got);
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out)
		*out = strbuf_detach(&sb);
	else
		strbuf_release(&sb);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define GIT_OK(dir, ...) ASSERT_EQ_INT(git_run((dir), NULL, __VA_ARGS__, (const char *)NULL), 0)

/* `git -C dir args...` stdout with the trailing newline removed; asserts success. */
#define GIT_OUT(var, dir, ...)                                                             \
	do {                                                                               \
		ASSERT_EQ_INT(git_run((dir), &(var), __VA_ARGS__, (const char *)NULL), 0); \
		(var)[strcspn((var), "\n")] = '\0';                                        \
	} while (0)

static void write_str(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	ASSERT_TRUE(f != NULL);
	ASSERT_TRUE(fputs(s, f) >= 0);
	ASSERT_EQ_INT(fclose(f), 0);
}

static char *slurp(const char *path)
{
	char *s = NULL;

	ASSERT_OK(read_file(path, 1 << 20, &s, NULL));
	return s;
}

/* A fresh directory under the run's base directory. The caller frees. */
static char *fresh_dir(void)
{
	char *t = xasprintf("%s/t-XXXXXX", base_dir), *c;

	ASSERT_TRUE(mkdtemp(t) != NULL);
	c = path_canonical(t);
	ASSERT_TRUE(c != NULL);
	free(t);
	return c;
}

/*
 * A repository with two commits on main: a.txt, sub/b.txt, .gitignore
 * (*.log, .berth/). Returns its canonical root; the caller frees.
 */
static char *make_repo(void)
{
	char *dir = fresh_dir(), *root = path_join(dir, "repo"), *p;

	GIT_OK(dir, "init", "-q", "-b", "main", "repo");
	p = path_join(root, "a.txt");
	write_str(p, "alpha\n");
	free(p);
	p = path_join(root, "sub");
	ASSERT_OK(mkdir_p(p, 0755));
	free(p);
	p = path_join(root, "sub/b.txt");
	write_str(p, "beta\n");
	free(p);
	p = path_join(root, ".gitignore");
	write_str(p, "*.log\n.berth/\n");
	free(p);
	GIT_OK(root, "add", "-A");
	GIT_OK(root, "commit", "-q", "-m", "first");
	p = path_join(root, "a.txt");
	write_str(p, "alpha 2\n");
	free(p);
	GIT_OK(root, "commit", "-q", "-am", "second");
	free(dir);
	return root;
}

/* Number of open fds of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the DIR's own fd */
}

/* End of a test: balance libgit2's init and, under ASan, check for leaks now
 * (tests end with _exit, which skips LeakSanitizer's exit hook). */
static void finish(void)
{
	worktree_lib_shutdown();
#if defined(__SANITIZE_ADDRESS__)
	__lsan_do_leak_check();
#endif
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* The branch exists in repo root. */
static bool branch_exists(const char *root, const char *branch)
{
	char *ref = xasprintf("refs/heads/%s", branch);
	int r = git_run(root, NULL, "rev-parse", "-q", "--verify", ref, (const char *)NULL);

	free(ref);
	return r == 0;
}

/* ---- locate ------------------------------------------------------------------------------- */

static void test_locate_main_root(void)
{
	char *root = make_repo();
	struct repo_location loc;
	char *cause = NULL;

	ASSERT_OK(worktree_locate(root, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_STREQ(loc.current, root);
	ASSERT_FALSE(loc.in_linked);
	ASSERT_STREQ(loc.current_branch, "main");
	repo_location_finish(&loc);
	ASSERT_TRUE(loc.main_root == NULL);
	free(root);
	finish();
}

static void test_locate_subdir_and_symlink(void)
{
	char *root = make_repo(), *sub = path_join(root, "sub"), *dir = fresh_dir();
	char *link = path_join(dir, "link");
	struct repo_location loc;
	char *cause = NULL;

	ASSERT_OK(worktree_locate(sub, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_STREQ(loc.current, root);
	repo_location_finish(&loc);

	/* Reached through a symlink: the paths are still canonical. */
	ASSERT_EQ_INT(symlink(sub, link), 0);
	ASSERT_OK(worktree_locate(link, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	repo_location_finish(&loc);
	free(link);
	free(dir);
	free(sub);
	free(root);
	finish();
}

static void test_locate_inside_linked_worktree(void)
{
	char *root = make_repo(), *dir = fresh_dir(), *wt = path_join(dir, "wt");
	char *deep = path_join(wt, "sub");
	struct repo_location loc;
	char *cause = NULL;

	GIT_OK(root, "worktree", "add", "-q", "-b", "feat", wt);
	ASSERT_OK(worktree_locate(deep, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_STREQ(loc.current, wt);
	ASSERT_TRUE(loc.in_linked);
	ASSERT_STREQ(loc.current_branch, "feat");
	repo_location_finish(&loc);
	free(deep);
	free(wt);
	free(dir);
	free(root);
	finish();
}

static void test_locate_outside_repo(void)
{
	char *dir = fresh_dir();
	struct repo_location loc = {0};
	char *cause = NULL;

	ASSERT_EQ_INT(worktree_locate(dir, &loc, &cause), -ENOENT);
	ASSERT_STREQ(cause, "not inside a git repository");
	ASSERT_TRUE(loc.main_root == NULL);
	free(cause);
	free(dir);
	finish();
}

static void test_locate_detached_head(void)
{
	char *root = make_repo();
	struct repo_location loc;
	char *cause = NULL;

	GIT_OK(root, "checkout", "-q", "--detach", "HEAD~1");
	ASSERT_OK(worktree_locate(root, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_TRUE(loc.current_branch == NULL);
	repo_location_finish(&loc);
	free(root);
	finish();
}

static void test_locate_unborn_repo(void)
{
	char *dir = fresh_dir(), *root = path_join(dir, "empty");
	struct repo_location loc;
	char *cause = NULL;

	GIT_OK(dir, "init", "-q", "-b", "trunk", "empty");
	ASSERT_OK(worktree_locate(root, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_STREQ(loc.current_branch, "trunk");
	repo_location_finish(&loc);
	free(root);
	free(dir);
	finish();
}

static void test_locate_bare_repo(void)
{
	char *dir = fresh_dir(), *bare = path_join(dir, "bare.git");
	struct repo_location loc;
	char *cause = NULL;

	GIT_OK(dir, "init", "-q", "--bare", "bare.git");
	ASSERT_EQ_INT(worktree_locate(bare, &loc, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "bare repository");
	free(cause);
	free(bare);
	free(dir);
	finish();
}

/* Layouts the direct reading leaves to libgit2, which must still decide:
 * core.worktree names the working tree elsewhere; the same seen from a
 * linked worktree; core.bare set; a .git directory bare inside (core.bare
 * through an included file). */
static void test_locate_layouts_left_to_libgit2(void)
{
	char *dir = fresh_dir(), *root = make_repo(), *elsewhere = path_join(dir, "tree");
	char *wt = path_join(dir, "wt"), *inc = path_join(dir, "bare.inc"), *cwt = NULL;
	struct repo_location loc;
	char *cause = NULL;

	ASSERT_OK(mkdir_p(elsewhere, 0755));
	cwt = path_canonical(elsewhere);
	GIT_OK(root, "worktree", "add", "-q", "-b", "side", wt);
	GIT_OK(root, "config", "core.worktree", cwt);
	ASSERT_OK(worktree_locate(root, &loc, &cause));
	ASSERT_STREQ(loc.main_root, cwt);
	repo_location_finish(&loc);
	GIT_OK(root, "config", "--unset", "core.worktree");
	ASSERT_OK(worktree_locate(wt, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_STREQ(loc.current_branch, "side");
	repo_location_finish(&loc);
	write_str(inc, "[core]\n\tbare = true\n");
	GIT_OK(root, "config", "include.path", inc);
	ASSERT_EQ_INT(worktree_locate(root, &loc, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "bare repository");
	free(cause);
	cause = NULL;
	GIT_OK(root, "config", "--unset", "include.path");
	GIT_OK(root, "config", "core.bare", "true");
	ASSERT_EQ_INT(worktree_locate(root, &loc, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "bare repository");
	free(cause);
	free(cwt);
	free(inc);
	free(wt);
	free(elsewhere);
	free(root);
	free(dir);
	finish();
}

/* The main checkout's .git is a file (git init --separate-git-dir). */
static void test_locate_gitfile_main(void)
{
	char *dir = fresh_dir(), *root = path_join(dir, "repo"), *gd = path_join(dir, "gd.git");
	char *f = path_join(root, "f"), *wt = path_join(dir, "wt");
	struct repo_location loc;
	char *cause = NULL;

	GIT_OK(dir, "init", "-q", "-b", "main", "--separate-git-dir", gd, "repo");
	write_str(f, "x\n");
	GIT_OK(root, "add", "f");
	GIT_OK(root, "commit", "-q", "-m", "x");
	ASSERT_OK(worktree_locate(root, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	ASSERT_FALSE(loc.in_linked);
	repo_location_finish(&loc);

	/*
	 * From a linked worktree the main worktree cannot be derived (the git
	 * directory does not know it; `git worktree list` shows gd.git): a
	 * clear error rather than a wrong root.
	 */
	GIT_OK(root, "worktree", "add", "-q", "-b", "feat", wt);
	ASSERT_EQ_INT(worktree_locate(wt, &loc, &cause), -ENOENT);
	ASSERT_CONTAINS(cause, "cannot find the main worktree");
	free(cause);
	free(wt);
	free(f);
	free(gd);
	free(root);
	free(dir);
	finish();
}

/* ---- branch names ------------------------------------------------------------------------- */

static void test_branch_check_accepts(void)
{
	static const char *const good[] = {"feat/x",         "fix_thing",     "a.b",
					   "Feat/Foo_bar-2", "release/1.2.3", "ünïcode"};
	char *cause = NULL;
	char max[201];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (worktree_branch_check(good[i], &cause) < 0)
			tap_fail(__FILE__, __LINE__, cause);
	}
	memset(max, 'a', 200);
	max[200] = '\0';
	ASSERT_OK(worktree_branch_check(max, &cause));
	finish();
}

/* The component rules berth checks itself give libgit2's answer
 * (git_reference_name_is_valid of refs/heads/<name>) for names built from
 * the pieces those rules are about. */
static void test_branch_check_agrees_with_libgit2(void)
{
	static const char *const parts[] = {"a", ".",   "..", "/", "//", ".lock", "lock",
					    "-", "x.y", "@",  "{", "_",  "é",     ".a"};
	const size_t np = ARRAY_SIZE(parts);
	char *cause = NULL;
	size_t checked = 0;

	ASSERT_OK(worktree_lib_init(&cause));
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < np; j++)
			for (size_t k = 0; k < np; k++) {
				char *name = xasprintf("%s%s%s", parts[i], parts[j], parts[k]);
				char *ref = xasprintf("refs/heads/%s", name);
				int valid = 0, ours;

				ASSERT_TRUE(git_reference_name_is_valid(&valid, ref) == 0);
				ours = worktree_branch_check(name, &cause) == 0;
				free(cause);
				cause = NULL;
				/* berth is stricter on a few names git allows: a
				 * leading '-', "HEAD", "@"; never the other way round */
				if (ours && !valid)
					tap_fail(__FILE__, __LINE__, name);
				if (valid && !ours && name[0] != '-' && strcmp(name, "HEAD") &&
				    strcmp(name, "@"))
					tap_fail(__FILE__, __LINE__, name);
				checked++;
				free(ref);
				free(name);
			}
	ASSERT_EQ_INT(checked, np * np * np);
	finish();
}

static void test_branch_check_rejects(void)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{"../x", "must not contain '..'"},
		{"-rf", "invalid branch name '-rf': must not start with '-'"},
		{"a..b", "must not contain '..'"},
		{"a\x01"
		 "b",
		 "contains a control character"},
		{"a\tb", "contains a control character"},
		{"a b", "must not contain spaces"},
		{"x.lock", "must not end with '.lock'"},
		{"a~1", "must not contain '~'"},
		{"a^", "must not contain '^'"},
		{"a:b", "must not contain ':'"},
		{"a?", "must not contain '?'"},
		{"a*", "must not contain '*'"},
		{"a[b", "must not contain '['"},
		{"a\\b", "must not contain '\\'"},
		{"@{x}", "must not contain '@{'"},
		{"", "must not be empty"},
		{"x/", "must not end with '/'"},
		{"x.", "must not end with '.'"},
		{"HEAD", "reserved"},
		{"a//b", "not a valid git branch name"},
		{".hidden", "not a valid git branch name"},
		{"a/.b", "not a valid git branch name"},
		{"a.lock/b", "not a valid git branch name"},
		{"/a", "not a valid git branch name"},
	};
	char *cause = NULL;
	char long_name[202];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_EQ_INT(worktree_branch_check(bad[i].name, &cause), -EINVAL);
		ASSERT_CONTAINS(cause, bad[i].why);
		ASSERT_CONTAINS(cause, "invalid branch name '");
		/* Messages never carry raw control bytes. */
		for (const char *p = cause; *p; p++)
			ASSERT_TRUE((unsigned char)*p >= 0x20);
		free(cause);
		cause = NULL;
	}
	memset(long_name, 'a', 201);
	long_name[201] = '\0';
	ASSERT_EQ_INT(worktree_branch_check(long_name, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "is longer than 200 bytes");
	free(cause);
	finish();
}

/* ---- create ------------------------------------------------------------------------------- */

static void test_create_new_branch(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/feat-x");
	char *cause = NULL, *out, *head, *bhead, *p, *s;
	enum worktree_origin origin = WT_LOCAL_BRANCH;
	struct stat st;

	ASSERT_OK(worktree_create(root, wt, "feat-x", "feat/x", &origin, &cause));
	ASSERT_EQ_INT(origin, WT_NEW_BRANCH);
	ASSERT_TRUE(branch_exists(root, "feat/x"));
	GIT_OUT(head, root, "rev-parse", "HEAD");
	GIT_OUT(bhead, root, "rev-parse", "refs/heads/feat/x");
	ASSERT_STREQ(bhead, head);

	/* Files are checked out, .git is a file, git sees a clean linked worktree. */
	p = path_join(wt, "a.txt");
	s = slurp(p);
	ASSERT_STREQ(s, "alpha 2\n");
	free(s);
	free(p);
	p = path_join(wt, "sub/b.txt");
	ASSERT_TRUE(path_exists(p));
	free(p);
	p = path_join(wt, ".git");
	ASSERT_EQ_INT(lstat(p, &st), 0);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	free(p);
	ASSERT_EQ_INT(git_run(wt, &out, "status", "--porcelain", (const char *)NULL), 0);
	ASSERT_STREQ(out, "");
	free(out);
	GIT_OUT(out, wt, "rev-parse", "--abbrev-ref", "HEAD");
	ASSERT_STREQ(out, "feat/x");
	free(out);
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "list", "--porcelain", (const char *)NULL),
		      0);
	p = xasprintf("worktree %s", wt);
	ASSERT_TRUE(has_line(out, p));
	ASSERT_TRUE(has_line(out, "branch refs/heads/feat/x"));
	free(p);
	free(out);
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "prune", "-n", "-v", (const char *)NULL), 0);
	ASSERT_STREQ(out, "");
	free(out);
	ASSERT_TRUE(worktree_is_linked(root, wt));

	/* git can commit in it. */
	p = path_join(wt, "new.txt");
	write_str(p, "n\n");
	free(p);
	GIT_OK(wt, "add", "new.txt");
	GIT_OK(wt, "commit", "-q", "-m", "in worktree");

	free(bhead);
	free(head);
	free(wt);
	free(root);
	finish();
}

static void test_create_existing_local_branch(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/other");
	char *cause = NULL, *p, *s, *tip, *now;
	enum worktree_origin origin;

	GIT_OK(root, "checkout", "-q", "-b", "other");
	p = path_join(root, "other.txt");
	write_str(p, "only on other\n");
	free(p);
	GIT_OK(root, "add", "other.txt");
	GIT_OK(root, "commit", "-q", "-m", "other");
	GIT_OUT(tip, root, "rev-parse", "HEAD");
	GIT_OK(root, "checkout", "-q", "main");

	ASSERT_OK(worktree_create(root, wt, "other", "other", &origin, &cause));
	ASSERT_EQ_INT(origin, WT_LOCAL_BRANCH);
	p = path_join(wt, "other.txt");
	s = slurp(p);
	ASSERT_STREQ(s, "only on other\n");
	free(s);
	free(p);
	GIT_OUT(now, root, "rev-parse", "refs/heads/other");
	ASSERT_STREQ(now, tip);
	GIT_OUT(s, wt, "status", "--porcelain");
	ASSERT_STREQ(s, "");
	free(s);
	free(now);
	free(tip);
	free(wt);
	free(root);
	finish();
}

static void test_create_remote_only_branch(void)
{
	char *root = make_repo(), *dir = fresh_dir(), *wt = path_join(dir, "wts/rb");
	char *origin_dir = path_join(dir, "origin.git"), *cause = NULL, *p, *s, *tip, *now;
	enum worktree_origin origin;

	GIT_OK(dir, "init", "-q", "--bare", "origin.git");
	GIT_OK(root, "remote", "add", "origin", origin_dir);
	GIT_OK(root, "push", "-q", "origin", "main");
	GIT_OK(root, "checkout", "-q", "-b", "rb");
	p = path_join(root, "rb.txt");
	write_str(p, "remote branch\n");
	free(p);
	GIT_OK(root, "add", "rb.txt");
	GIT_OK(root, "commit", "-q", "-m", "rb");
	GIT_OK(root, "push", "-q", "origin", "rb");
	GIT_OK(root, "checkout", "-q", "main");
	GIT_OK(root, "branch", "-q", "-D", "rb");
	ASSERT_FALSE(branch_exists(root, "rb"));
	GIT_OUT(tip, root, "rev-parse", "refs/remotes/origin/rb");

	ASSERT_OK(worktree_create(root, wt, "rb", "rb", &origin, &cause));
	ASSERT_EQ_INT(origin, WT_REMOTE_BRANCH);
	ASSERT_TRUE(branch_exists(root, "rb"));
	GIT_OUT(now, root, "rev-parse", "refs/heads/rb");
	ASSERT_STREQ(now, tip);
	GIT_OUT(s, root, "rev-parse", "--abbrev-ref", "rb@{upstream}");
	ASSERT_STREQ(s, "origin/rb");
	free(s);
	p = path_join(wt, "rb.txt");
	ASSERT_TRUE(path_exists(p));
	free(p);
	GIT_OUT(s, wt, "status", "--porcelain");
	ASSERT_STREQ(s, "");
	free(s);
	free(now);
	free(tip);
	free(origin_dir);
	free(wt);
	free(dir);
	free(root);
	finish();
}

/* Nothing of a failed create remains: no directory, no admin entry. */
static void assert_nothing_left(const char *root, const char *wt, const char *name)
{
	char *admin = xasprintf("%s/.git/worktrees/%s", root, name), *out;

	ASSERT_FALSE(path_exists(wt));
	ASSERT_FALSE(path_exists(admin));
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "list", "--porcelain", (const char *)NULL),
		      0);
	ASSERT_TRUE(strstr(out, wt) == NULL);
	free(out);
	free(admin);
}

static void test_create_branch_checked_out_elsewhere(void)
{
	char *root = make_repo(), *wt1 = path_join(root, ".berth/worktrees/one");
	char *wt2 = path_join(root, ".berth/worktrees/two"), *cause = NULL;
	enum worktree_origin origin;

	/* main is checked out in the main worktree. */
	ASSERT_EQ_INT(worktree_create(root, wt2, "two", "main", &origin, &cause), -EBUSY);
	ASSERT_CONTAINS(cause, "branch 'main' is already checked out");
	ASSERT_CONTAINS(cause, root);
	free(cause);
	assert_nothing_left(root, wt2, "two");

	/* feat is checked out in another linked worktree: named in the message. */
	ASSERT_OK(worktree_create(root, wt1, "one", "feat", &origin, &cause));
	ASSERT_EQ_INT(worktree_create(root, wt2, "two", "feat", &origin, &cause), -EBUSY);
	ASSERT_CONTAINS(cause, wt1);
	free(cause);
	assert_nothing_left(root, wt2, "two");
	ASSERT_TRUE(branch_exists(root, "feat"));
	free(wt2);
	free(wt1);
	free(root);
	finish();
}

static void test_create_path_exists(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/x"), *cause = NULL, *p;
	enum worktree_origin origin;

	ASSERT_OK(mkdir_p(wt, 0755));
	ASSERT_EQ_INT(worktree_create(root, wt, "x", "x", &origin, &cause), -EEXIST);
	ASSERT_CONTAINS(cause, "already exists");
	free(cause);
	ASSERT_TRUE(path_is_dir(wt));
	ASSERT_FALSE(branch_exists(root, "x"));
	p = path_join(root, ".git/worktrees/x");
	ASSERT_FALSE(path_exists(p));
	free(p);
	free(wt);
	free(root);
	finish();
}

static void test_create_unborn_repo(void)
{
	char *dir = fresh_dir(), *root = path_join(dir, "empty"), *wt = path_join(dir, "wt");
	char *cause = NULL;
	enum worktree_origin origin;

	GIT_OK(dir, "init", "-q", "-b", "main", "empty");
	ASSERT_EQ_INT(worktree_create(root, wt, "wt", "feat", &origin, &cause), -ENOENT);
	ASSERT_CONTAINS(cause, "the repository has no commits yet; commit something first");
	free(cause);
	ASSERT_FALSE(path_exists(wt));
	ASSERT_FALSE(branch_exists(root, "feat"));
	free(wt);
	free(root);
	free(dir);
	finish();
}

/* git_worktree_add fails after the branch was made: the branch goes too. */
static void test_create_rollback_removes_new_branch(void)
{
	char *root = make_repo(), *wt = path_join(root, "a.txt/wt"), *cause = NULL;
	enum worktree_origin origin;

	ASSERT_TRUE(worktree_create(root, wt, "wt", "rollback", &origin, &cause) < 0);
	ASSERT_CONTAINS(cause, "a.txt");
	free(cause);
	ASSERT_FALSE(branch_exists(root, "rollback"));
	ASSERT_FALSE(path_exists(wt));
	free(wt);
	free(root);
	finish();
}

/*
 * git_worktree_add fails half-way (the checkout hits a missing blob): the
 * directory, the .git/worktrees entry and the new branch are all undone.
 */
static void test_create_rollback_after_failed_checkout(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/broken");
	char *cause = NULL, *p, *blob, *obj;

	p = path_join(root, "unique.txt");
	write_str(p, "content no other object has 4f1c\n");
	free(p);
	GIT_OK(root, "add", "unique.txt");
	GIT_OK(root, "commit", "-q", "-m", "unique");
	GIT_OUT(blob, root, "rev-parse", "HEAD:unique.txt");
	obj = xasprintf("%s/.git/objects/%.2s/%s", root, blob, blob + 2);
	ASSERT_EQ_INT(unlink(obj), 0);

	ASSERT_TRUE(worktree_create(root, wt, "broken", "broken", NULL, &cause) < 0);
	ASSERT_CONTAINS(cause, "cannot create worktree 'broken'");
	free(cause);
	assert_nothing_left(root, wt, "broken");
	ASSERT_FALSE(branch_exists(root, "broken"));
	p = path_join(root, ".git/logs/refs/heads/broken");
	ASSERT_FALSE(path_exists(p));
	free(p);
	free(obj);
	free(blob);
	free(wt);
	free(root);
	finish();
}

static void test_create_invalid_input(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/x"), *cause = NULL;
	enum worktree_origin origin;

	ASSERT_EQ_INT(worktree_create(root, wt, "x", "-rf", &origin, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "must not start with '-'");
	free(cause);
	ASSERT_EQ_INT(worktree_create(root, wt, "../x", "ok", &origin, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "invalid worktree name");
	free(cause);
	ASSERT_FALSE(path_exists(wt));
	ASSERT_FALSE(branch_exists(root, "ok"));
	free(wt);
	free(root);
	finish();
}

/* A name held by an entry whose directory was deleted by hand is reclaimed. */
static void test_create_reclaims_stale_name(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s");
	char *wt2 = path_join(root, ".berth/worktrees/s2"), *cause = NULL, *out, *line;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "s", "s", &origin, &cause));
	ASSERT_OK(rm_rf(wt));
	/* Same name, same branch (held only by the stale entry), another path. */
	ASSERT_OK(worktree_create(root, wt2, "s", "s", &origin, &cause));
	ASSERT_EQ_INT(origin, WT_LOCAL_BRANCH);
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "list", "--porcelain", (const char *)NULL),
		      0);
	line = xasprintf("worktree %s", wt2);
	ASSERT_TRUE(has_line(out, line));
	free(line);
	line = xasprintf("worktree %s", wt);
	ASSERT_FALSE(has_line(out, line));
	free(line);
	free(out);
	free(wt2);
	free(wt);
	free(root);
	finish();
}

static void test_create_name_taken_by_live_worktree(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/n");
	char *wt2 = path_join(root, ".berth/worktrees/n2"), *cause = NULL;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "n", "n", &origin, &cause));
	ASSERT_EQ_INT(worktree_create(root, wt2, "n", "n2", &origin, &cause), -EEXIST);
	ASSERT_CONTAINS(cause, wt);
	free(cause);
	ASSERT_FALSE(path_exists(wt2));
	ASSERT_FALSE(branch_exists(root, "n2"));
	ASSERT_TRUE(worktree_is_linked(root, wt));
	free(wt2);
	free(wt);
	free(root);
	finish();
}

/* Relative paths work and libgit2 leaves no fd open. */
static void test_create_relative_path_no_fd_leak(void)
{
	char *root = make_repo(), *cause = NULL, *abs;
	struct repo_location loc;
	enum worktree_origin origin;
	size_t n;
	int before;

	/* Packed objects: libgit2 maps pack files, which must not stay open either. */
	GIT_OK(root, "gc", "-q");
	ASSERT_EQ_INT(chdir(root), 0);
	before = count_fds();
	ASSERT_OK(worktree_create(".", "wts/rel", "rel", "rel", &origin, &cause));
	abs = path_join(root, "wts/rel");
	ASSERT_TRUE(worktree_is_linked(root, abs));
	ASSERT_OK(worktree_changes(abs, &n, NULL, 0, &cause));
	ASSERT_EQ_INT(n, 0);
	ASSERT_OK(worktree_locate(abs, &loc, &cause));
	ASSERT_STREQ(loc.main_root, root);
	repo_location_finish(&loc);
	ASSERT_OK(worktree_remove(root, "wts/rel", &cause));
	ASSERT_FALSE(path_exists(abs));
	ASSERT_EQ_INT(count_fds(), before);
	free(abs);
	free(root);
	finish();
}

/* ---- changes ------------------------------------------------------------------------------ */

static void test_changes(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/c"), *cause = NULL, *p;
	struct strvec paths = STRVEC_INIT, ign = STRVEC_INIT, writes = STRVEC_INIT;
	enum worktree_origin origin;
	size_t n = 99;

	ASSERT_OK(worktree_create(root, wt, "c", "c", &origin, &cause));
	ASSERT_OK(worktree_changes(wt, &n, &paths, 10, &cause));
	ASSERT_EQ_INT(n, 0);
	ASSERT_EQ_INT(paths.n, 0);

	/* Ignored files are not work. */
	p = path_join(wt, "debug.log");
	write_str(p, "noise\n");
	free(p);
	ASSERT_OK(worktree_changes(wt, &n, NULL, 0, &cause));
	ASSERT_EQ_INT(n, 0);

	/* A modified tracked file. */
	p = path_join(wt, "a.txt");
	write_str(p, "changed\n");
	free(p);
	ASSERT_OK(worktree_changes(wt, &n, &paths, 10, &cause));
	ASSERT_EQ_INT(n, 1);
	ASSERT_STREQ(paths.v[0], "a.txt");
	strvec_clear(&paths);

	/* Untracked files, one with a space and one with a newline, one in a new dir. */
	p = path_join(wt, "my notes.txt");
	write_str(p, "x\n");
	free(p);
	p = path_join(wt, "line\nbreak");
	write_str(p, "x\n");
	free(p);
	p = path_join(wt, "newdir/deep");
	ASSERT_OK(mkdir_p(p, 0755));
	free(p);
	p = path_join(wt, "newdir/deep/f");
	write_str(p, "x\n");
	free(p);
	ASSERT_OK(worktree_changes(wt, &n, &paths, 10, &cause));
	ASSERT_EQ_INT(n, 4);
	ASSERT_TRUE(strvec_find(&paths, "my notes.txt") >= 0);
	ASSERT_TRUE(strvec_find(&paths, "line\nbreak") >= 0);
	ASSERT_TRUE(strvec_find(&paths, "newdir/deep/f") >= 0);
	strvec_clear(&paths);

	/* max bounds the list, not the count. */
	ASSERT_OK(worktree_changes(wt, &n, &paths, 2, &cause));
	ASSERT_EQ_INT(n, 4);
	ASSERT_EQ_INT(paths.n, 2);
	strvec_clear(&paths);

	/* A staged deletion counts; berth's own untracked files can be excluded. */
	GIT_OK(wt, "rm", "-q", "sub/b.txt");
	p = path_join(wt, ".env.berth");
	write_str(p, "BERTH_SLOT=1\n");
	free(p);
	strvec_push(&ign, ".env.berth");
	strvec_push(&ign, "a.txt"); /* tracked: never excluded */
	ASSERT_OK(worktree_changes_except(wt, &ign, NULL, &n, &paths, 10, &cause));
	ASSERT_EQ_INT(n, 5);
	ASSERT_TRUE(strvec_find(&paths, "sub/b.txt") >= 0);
	ASSERT_TRUE(strvec_find(&paths, ".env.berth") < 0);
	strvec_clear(&paths);
	ASSERT_OK(worktree_changes(wt, &n, NULL, 0, &cause));
	ASSERT_EQ_INT(n, 6);

	/* up killed while writing .env.berth leaves .env.berth.tmp.<pid>: berth's
	 * own, not the user's work (down refused with exit 7 because of it); a
	 * user's file of a similar name still counts */
	p = path_join(wt, ".env.berth.tmp.4242");
	write_str(p, "BERTH_SLOT=1\n");
	free(p);
	p = path_join(wt, ".env.berth.tmp.mine");
	write_str(p, "notes\n");
	free(p);
	/* the same for an inherited env file's copy, written before the file
	 * itself exists (so it is not in ign) */
	p = path_join(wt, ".env.local.tmp.4243");
	write_str(p, "A=1\n");
	free(p);
	strvec_push(&writes, ".env.berth");
	strvec_push(&writes, ".env.local");
	ASSERT_OK(worktree_changes_except(wt, &ign, &writes, &n, &paths, 10, &cause));
	ASSERT_EQ_INT(n, 6);
	ASSERT_TRUE(strvec_find(&paths, ".env.berth.tmp.4242") < 0);
	ASSERT_TRUE(strvec_find(&paths, ".env.local.tmp.4243") < 0);
	ASSERT_TRUE(strvec_find(&paths, ".env.berth.tmp.mine") >= 0);
	strvec_clear(&paths);
	strvec_clear(&writes);

	strvec_clear(&ign);
	free(wt);
	free(root);
	finish();
}

static void test_changes_not_a_worktree(void)
{
	char *dir = fresh_dir(), *cause = NULL;
	size_t n;

	ASSERT_EQ_INT(worktree_changes(dir, &n, NULL, 0, &cause), -ENOENT);
	ASSERT_CONTAINS(cause, dir);
	free(cause);
	free(dir);
	finish();
}

/* ---- remove ------------------------------------------------------------------------------- */

static void test_remove_everything(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/r"), *cause = NULL;
	char *outside = fresh_dir(), *keep = path_join(outside, "precious"), *p, *out, *line;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "r", "r", &origin, &cause));
	p = path_join(wt, "untracked.txt");
	write_str(p, "u\n");
	free(p);
	p = path_join(wt, "build.log");
	write_str(p, "ignored\n");
	free(p);
	p = path_join(wt, "node_modules/x/y");
	ASSERT_OK(mkdir_p(p, 0755));
	free(p);
	/* A symlink out of the worktree: removed, its target is not followed. */
	write_str(keep, "keep me\n");
	p = path_join(wt, "escape");
	ASSERT_EQ_INT(symlink(outside, p), 0);
	free(p);

	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(wt));
	ASSERT_TRUE(path_exists(keep));
	ASSERT_TRUE(branch_exists(root, "r"));
	ASSERT_FALSE(worktree_is_linked(root, wt));
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "list", "--porcelain", (const char *)NULL),
		      0);
	line = xasprintf("worktree %s", wt);
	ASSERT_FALSE(has_line(out, line));
	free(line);
	free(out);
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "prune", "-n", "-v", (const char *)NULL), 0);
	ASSERT_STREQ(out, "");
	free(out);
	p = path_join(root, ".git/worktrees/r");
	ASSERT_FALSE(path_exists(p));
	free(p);

	/* Idempotent. */
	ASSERT_OK(worktree_remove(root, wt, &cause));

	/* The branch can be checked out again. */
	ASSERT_OK(worktree_create(root, wt, "r", "r", &origin, &cause));
	ASSERT_EQ_INT(origin, WT_LOCAL_BRANCH);
	free(keep);
	free(outside);
	free(wt);
	free(root);
	finish();
}

static void test_remove_refuses_main_and_strangers(void)
{
	char *root = make_repo(), *dir = fresh_dir(), *other = path_join(dir, "other");
	char *nested = path_join(root, "nested"), *cause = NULL, *p, *sub;

	/* The main worktree, and a directory that contains it. */
	ASSERT_EQ_INT(worktree_remove(root, root, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "main worktree");
	free(cause);
	p = xstrdup(root);
	*strrchr(p, '/') = '\0';
	ASSERT_EQ_INT(worktree_remove(root, p, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "contains the main worktree");
	free(cause);
	free(p);
	ASSERT_TRUE(path_is_dir(root));

	/* A subdirectory of the main worktree. */
	sub = path_join(root, "sub");
	ASSERT_EQ_INT(worktree_remove(root, sub, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "not a linked worktree");
	free(cause);
	ASSERT_TRUE(path_is_dir(sub));

	/* An unrelated directory with files. */
	ASSERT_OK(mkdir_p(other, 0755));
	p = path_join(other, "f");
	write_str(p, "x\n");
	free(p);
	ASSERT_EQ_INT(worktree_remove(root, other, &cause), -EINVAL);
	free(cause);
	ASSERT_TRUE(path_is_dir(other));

	/* A repository of its own nested in the main worktree. */
	GIT_OK(root, "init", "-q", "nested");
	ASSERT_EQ_INT(worktree_remove(root, nested, &cause), -EINVAL);
	free(cause);
	ASSERT_TRUE(path_is_dir(nested));

	/* A linked worktree of another repository. */
	{
		char *root2 = make_repo(), *wt2 = path_join(dir, "wt2");

		GIT_OK(root2, "worktree", "add", "-q", "-b", "x", wt2);
		ASSERT_EQ_INT(worktree_remove(root, wt2, &cause), -EINVAL);
		free(cause);
		ASSERT_TRUE(path_is_dir(wt2));
		free(wt2);
		free(root2);
	}
	free(sub);
	free(nested);
	free(other);
	free(dir);
	free(root);
	finish();
}

/* The directory went away by hand: remove prunes the entry. */
static void test_remove_dir_already_gone(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/g"), *cause = NULL;
	char *admin = path_join(root, ".git/worktrees/g"), *out;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "g", "g", &origin, &cause));
	ASSERT_OK(rm_rf(wt));
	ASSERT_TRUE(path_exists(admin));
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(admin));
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "prune", "-n", "-v", (const char *)NULL), 0);
	ASSERT_STREQ(out, "");
	free(out);
	free(admin);
	free(wt);
	free(root);
	finish();
}

/* The admin entry went away (git worktree prune on a moved disk, rm -rf): the
 * directory still points into this repository, so it is ours to remove. */
static void test_remove_entry_already_gone(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/e"), *cause = NULL;
	char *admin = path_join(root, ".git/worktrees/e");
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "e", "e", &origin, &cause));
	ASSERT_OK(rm_rf(admin));
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(wt));
	ASSERT_TRUE(branch_exists(root, "e"));
	free(admin);
	free(wt);
	free(root);
	finish();
}

/* A directory whose .git file is gone no longer proves it is a worktree: kept. */
static void test_remove_refuses_dir_without_gitfile(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/ng"), *cause = NULL;
	char *p = path_join(wt, ".git");
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "ng", "ng", &origin, &cause));
	ASSERT_EQ_INT(unlink(p), 0);
	ASSERT_FALSE(worktree_is_linked(root, wt));
	ASSERT_EQ_INT(worktree_remove(root, wt, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "not a linked worktree");
	free(cause);
	ASSERT_TRUE(path_is_dir(wt));
	free(p);
	free(wt);
	free(root);
	finish();
}

static void test_remove_locked_refused(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/l"), *cause = NULL;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "l", "l", &origin, &cause));
	GIT_OK(root, "worktree", "lock", "--reason", "on a usb disk", wt);
	ASSERT_EQ_INT(worktree_remove(root, wt, &cause), -EBUSY);
	ASSERT_CONTAINS(cause, "is locked (on a usb disk)");
	ASSERT_CONTAINS(cause, "git worktree unlock");
	free(cause);
	ASSERT_TRUE(path_is_dir(wt));
	GIT_OK(root, "worktree", "unlock", wt);
	GIT_OK(root, "worktree", "lock", wt);
	ASSERT_EQ_INT(worktree_remove(root, wt, &cause), -EBUSY);
	ASSERT_CONTAINS(cause, "is locked (no reason given)");
	free(cause);
	GIT_OK(root, "worktree", "unlock", wt);
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(wt));
	free(wt);
	free(root);
	finish();
}

/* A worktree made by the git CLI is removed just as well. */
static void test_remove_git_cli_worktree(void)
{
	char *root = make_repo(), *dir = fresh_dir(), *wt = path_join(dir, "cli"), *cause = NULL;
	char *out;

	GIT_OK(root, "worktree", "add", "-q", "-b", "cli", wt);
	ASSERT_TRUE(worktree_is_linked(root, wt));
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(wt));
	ASSERT_EQ_INT(git_run(root, &out, "worktree", "list", (const char *)NULL), 0);
	ASSERT_TRUE(strstr(out, wt) == NULL);
	free(out);
	free(wt);
	free(dir);
	free(root);
	finish();
}

static void test_is_linked(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/k"), *cause = NULL;
	char *dir = fresh_dir(), *sub = path_join(root, "sub");
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "k", "k", &origin, &cause));
	ASSERT_TRUE(worktree_is_linked(root, wt));
	ASSERT_FALSE(worktree_is_linked(root, root));
	ASSERT_FALSE(worktree_is_linked(root, sub));
	ASSERT_FALSE(worktree_is_linked(root, dir));
	ASSERT_FALSE(worktree_is_linked(root, "/nonexistent/path"));
	ASSERT_FALSE(worktree_is_linked(dir, wt));
	free(sub);
	free(dir);
	free(wt);
	free(root);
	finish();
}

/* ---- inherit_env -------------------------------------------------------------------------- */

static char *read_link(const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);

	ASSERT_TRUE(n >= 0);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void test_inherit_env(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/i"), *cause = NULL;
	char *p, *q, *s;
	struct strvec files = STRVEC_INIT;
	enum worktree_origin origin;
	struct stat st;

	ASSERT_OK(worktree_create(root, wt, "i", "i", &origin, &cause));
	p = path_join(root, ".env");
	write_str(p, "A=1\n");
	free(p);
	p = path_join(root, "config");
	ASSERT_OK(mkdir_p(p, 0755));
	free(p);
	p = path_join(root, "config/.env.local");
	write_str(p, "B=2\n");
	free(p);
	/* a.txt is tracked, so the worktree has its own real a.txt. */
	strvec_push(&files, ".env");
	strvec_push(&files, "config/.env.local");
	strvec_push(&files, "a.txt");
	strvec_push(&files, "missing.env");

	ASSERT_OK(worktree_inherit_env(root, wt, &files, false, &cause));
	p = path_join(wt, ".env");
	ASSERT_EQ_INT(lstat(p, &st), 0);
	ASSERT_TRUE(S_ISLNK(st.st_mode));
	s = read_link(p);
	q = path_join(root, ".env");
	ASSERT_STREQ(s, q);
	ASSERT_TRUE(s[0] == '/');
	free(q);
	free(s);
	free(p);
	p = path_join(wt, "config/.env.local");
	s = slurp(p);
	ASSERT_STREQ(s, "B=2\n");
	free(s);
	free(p);
	p = path_join(wt, "a.txt");
	ASSERT_EQ_INT(lstat(p, &st), 0);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	s = slurp(p);
	ASSERT_STREQ(s, "alpha 2\n");
	free(s);
	free(p);
	p = path_join(wt, "missing.env");
	ASSERT_FALSE(path_exists(p));
	free(p);

	/* Idempotent. */
	ASSERT_OK(worktree_inherit_env(root, wt, &files, false, &cause));

	/* A stale symlink is replaced. */
	p = path_join(wt, ".env");
	ASSERT_EQ_INT(unlink(p), 0);
	ASSERT_EQ_INT(symlink("/nonexistent/old/.env", p), 0);
	ASSERT_OK(worktree_inherit_env(root, wt, &files, false, &cause));
	s = read_link(p);
	q = path_join(root, ".env");
	ASSERT_STREQ(s, q);
	free(q);
	free(s);
	free(p);
	strvec_clear(&files);
	free(wt);
	free(root);
	finish();
}

static void test_inherit_env_copy(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/cp"), *cause = NULL;
	char *p, *s;
	struct strvec files = STRVEC_INIT;
	enum worktree_origin origin;
	struct stat st;

	ASSERT_OK(worktree_create(root, wt, "cp", "cp", &origin, &cause));
	p = path_join(root, ".env");
	write_str(p, "SECRET=1\n");
	ASSERT_EQ_INT(chmod(p, 0600), 0);
	free(p);
	/* A symlink left by an earlier symlink-mode run becomes a copy. */
	p = path_join(wt, ".env");
	ASSERT_EQ_INT(symlink("/nonexistent", p), 0);
	free(p);
	strvec_push(&files, ".env");
	ASSERT_OK(worktree_inherit_env(root, wt, &files, true, &cause));
	p = path_join(wt, ".env");
	ASSERT_EQ_INT(lstat(p, &st), 0);
	ASSERT_TRUE(S_ISREG(st.st_mode));
	ASSERT_EQ_INT(st.st_mode & 07777, 0600);
	s = slurp(p);
	ASSERT_STREQ(s, "SECRET=1\n");
	free(s);

	/* A copy is the worktree's own from then on: never overwritten. */
	write_str(p, "EDITED=1\n");
	ASSERT_OK(worktree_inherit_env(root, wt, &files, true, &cause));
	s = slurp(p);
	ASSERT_STREQ(s, "EDITED=1\n");
	free(s);
	free(p);
	strvec_clear(&files);
	free(wt);
	free(root);
	finish();
}

static void test_inherit_env_rejects_escapes(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/esc"), *cause = NULL;
	char *outside = fresh_dir(), *p;
	struct strvec files = STRVEC_INIT;
	enum worktree_origin origin;

	ASSERT_OK(worktree_create(root, wt, "esc", "esc", &origin, &cause));
	strvec_push(&files, ".env");
	strvec_push(&files, "../x");
	p = path_join(root, ".env");
	write_str(p, "A=1\n");
	free(p);
	ASSERT_EQ_INT(worktree_inherit_env(root, wt, &files, false, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "'../x'");
	free(cause);
	/* Validated before anything is done. */
	p = path_join(wt, ".env");
	ASSERT_FALSE(path_exists(p));
	free(p);
	strvec_clear(&files);

	strvec_push(&files, "/etc/passwd");
	ASSERT_EQ_INT(worktree_inherit_env(root, wt, &files, false, &cause), -EINVAL);
	free(cause);
	strvec_clear(&files);
	strvec_push(&files, "a/../../x");
	ASSERT_EQ_INT(worktree_inherit_env(root, wt, &files, false, &cause), -EINVAL);
	free(cause);
	strvec_clear(&files);

	/* A directory symlinked out of the worktree is not followed. */
	p = path_join(root, "conf");
	ASSERT_OK(mkdir_p(p, 0755));
	free(p);
	p = path_join(root, "conf/.env");
	write_str(p, "C=3\n");
	free(p);
	p = path_join(wt, "conf");
	ASSERT_EQ_INT(symlink(outside, p), 0);
	free(p);
	strvec_push(&files, "conf/.env");
	ASSERT_EQ_INT(worktree_inherit_env(root, wt, &files, false, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "outside the worktree");
	free(cause);
	p = path_join(outside, ".env");
	ASSERT_FALSE(path_exists(p));
	free(p);
	strvec_clear(&files);
	free(outside);
	free(wt);
	free(root);
	finish();
}

/* ---- timing ------------------------------------------------------------------------------- */

/* What a create killed inside libgit2 leaves: the side directory with a .git
 * file, and an admin entry whose commondir and gitdir were never written. */
static void leave_half_create(const char *root, const char *name)
{
	char *side = xasprintf("%s/.berth/worktrees/.%s.berth-new", root, name);
	char *admin = xasprintf("%s/.git/worktrees/%s", root, name), *p;

	ASSERT_OK(mkdir_p(side, 0755));
	ASSERT_OK(mkdir_p(admin, 0755));
	p = path_join(side, ".git");
	{
		char *text = xasprintf("gitdir: %s\n", admin);

		write_str(p, text);
		free(text);
	}
	free(p);
	p = path_join(admin, "commondir");
	write_str(p, "");
	free(p);
	free(admin);
	free(side);
}

static void test_create_sweeps_a_killed_create(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/b");
	char *side = path_join(root, ".berth/worktrees/.a.berth-new");
	char *admin = path_join(root, ".git/worktrees/a"), *cause = NULL;

	leave_half_create(root, "a");
	ASSERT_OK(worktree_create(root, wt, "b", "b", NULL, &cause));
	ASSERT_FALSE(path_exists(side));
	ASSERT_FALSE(path_exists(admin));
	ASSERT_TRUE(worktree_is_linked(root, wt));
	free(admin);
	free(side);
	free(wt);
	free(root);
	finish();
}

static void test_recover_moved_aside_and_foreign_entries(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s");
	char *old = path_join(root, ".berth/worktrees/.s.berth-old"), *cause = NULL;
	char *theirs = xasprintf("%s/../theirs", root);
	unsigned what = 0;

	ASSERT_OK(worktree_create(root, wt, "s", "s", NULL, &cause));
	/* a remove killed after the move aside */
	ASSERT_OK(rename(wt, old) == 0 ? 0 : -errno);
	/* someone else's worktree whose directory is gone: not ours to prune */
	GIT_OK(root, "worktree", "add", "-q", theirs, "-b", "theirs");
	ASSERT_OK(rm_rf(theirs));
	ASSERT_OK(worktree_recover(root, wt, NULL, NULL, &what, &cause));
	ASSERT_TRUE(what & WT_RECOVER_SWEPT);
	ASSERT_FALSE(path_exists(old));
	ASSERT_FALSE(path_exists(wt));
	free(old);
	old = path_join(root, ".git/worktrees/s");
	ASSERT_FALSE(path_exists(old));
	free(old);
	old = path_join(root, ".git/worktrees/theirs");
	ASSERT_TRUE(path_exists(old));
	/* nothing more to do: a second pass changes nothing */
	ASSERT_OK(worktree_recover(root, wt, NULL, NULL, &what, &cause));
	ASSERT_EQ_INT(what, 0);
	free(old);
	free(theirs);
	free(wt);
	free(root);
	finish();
}

static void test_recover_repairs_gitfile(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s");
	char *dotgit = path_join(wt, ".git"), *cause = NULL;
	unsigned what = 0;
	size_t n = 99;

	ASSERT_OK(worktree_create(root, wt, "s", "s", NULL, &cause));
	write_str(dotgit, "garbage\n");
	ASSERT_FALSE(worktree_is_linked(root, wt));
	ASSERT_OK(worktree_recover(root, wt, NULL, NULL, &what, &cause));
	ASSERT_EQ_INT(what, WT_RECOVER_REPAIRED);
	ASSERT_TRUE(worktree_is_linked(root, wt));
	ASSERT_OK(worktree_changes(wt, &n, NULL, 0, &cause));
	ASSERT_EQ_INT(n, 0);
	free(dotgit);
	free(wt);
	free(root);
	finish();
}

/* git-lock-left (crash suite, random kill of `up`): a kill inside
 * git_branch_create leaves refs/heads/<branch>.lock, and git refuses the
 * branch until it goes. The recovery removes it when it is empty or holds
 * the commit the killed `up` recorded; anything else is left alone. */
static void test_recover_git_lock_left(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s");
	char *lock = path_join(root, ".git/refs/heads/s.lock"), *cause = NULL, *at = NULL;
	char *text;
	unsigned what = 0;

	ASSERT_OK(worktree_branch_plan(root, "s", &at, &cause));
	ASSERT_TRUE(at != NULL);
	/* not ours: another commit, or no recorded commit */
	write_str(lock, "0123456789012345678901234567890123456789\n");
	ASSERT_OK(worktree_recover(root, wt, "s", at, &what, &cause));
	ASSERT_EQ_INT(what, 0);
	ASSERT_TRUE(path_exists(lock));
	write_str(lock, "");
	ASSERT_OK(worktree_recover(root, wt, "s", NULL, &what, &cause));
	ASSERT_EQ_INT(what, 0);
	ASSERT_TRUE(path_exists(lock));
	/* with it there the branch cannot be made */
	ASSERT_TRUE(worktree_create(root, wt, "s", "s", NULL, &cause) < 0);
	free(cause);
	cause = NULL;
	ASSERT_FALSE(path_exists(wt));
	/* killed before libgit2 wrote the id: empty */
	ASSERT_OK(worktree_recover(root, wt, "s", at, &what, &cause));
	ASSERT_EQ_INT(what, WT_RECOVER_UNLOCKED);
	ASSERT_FALSE(path_exists(lock));
	/* killed after: the id and a newline */
	text = xasprintf("%s\n", at);
	write_str(lock, text);
	ASSERT_OK(worktree_recover(root, wt, "s", at, &what, &cause));
	ASSERT_EQ_INT(what, WT_RECOVER_UNLOCKED);
	ASSERT_FALSE(path_exists(lock));
	ASSERT_OK(worktree_create(root, wt, "s", "s", NULL, &cause));
	ASSERT_TRUE(worktree_is_linked(root, wt));
	free(text);
	free(at);
	free(lock);
	free(wt);
	free(root);
	finish();
}

/* A branch made from origin/<branch>: its upstream settings are written
 * through config.lock. A kill inside leaves that lock (every `git config`
 * then fails); the recovery removes it when it is empty or has the
 * branch's section, and the branch's drop takes its settings with it. */
static void test_recover_config_lock_and_drop_upstream(void)
{
	char *root = make_repo(), *dir = fresh_dir(), *wt = path_join(dir, "wts/rb");
	char *origin_dir = path_join(dir, "origin.git"), *cause = NULL, *at = NULL, *s;
	char *lock = path_join(root, ".git/config.lock");
	unsigned what = 0;

	GIT_OK(dir, "init", "-q", "--bare", "origin.git");
	GIT_OK(root, "remote", "add", "origin", origin_dir);
	GIT_OK(root, "checkout", "-q", "-b", "rb");
	GIT_OK(root, "commit", "-q", "--allow-empty", "-m", "rb");
	GIT_OK(root, "push", "-q", "origin", "rb");
	GIT_OK(root, "checkout", "-q", "main");
	GIT_OK(root, "branch", "-q", "-D", "rb");
	ASSERT_OK(worktree_branch_plan(root, "rb", &at, &cause));
	GIT_OUT(s, root, "rev-parse", "refs/remotes/origin/rb");
	ASSERT_STREQ(at, s);
	free(s);
	/* a lock that is not the branch's: kept */
	write_str(lock, "[core]\n\tbare = false\n");
	ASSERT_OK(worktree_recover(root, wt, "rb", at, &what, &cause));
	ASSERT_EQ_INT(what, 0);
	ASSERT_TRUE(path_exists(lock));
	/* the kill's: empty, or the new configuration with the branch's section */
	write_str(lock, "");
	ASSERT_OK(worktree_recover(root, wt, "rb", at, &what, &cause));
	ASSERT_EQ_INT(what, WT_RECOVER_UNLOCKED);
	ASSERT_FALSE(path_exists(lock));
	write_str(lock, "[core]\n[branch \"rb\"]\n\tremote = origin\n");
	ASSERT_OK(worktree_recover(root, wt, "rb", at, &what, &cause));
	ASSERT_EQ_INT(what, WT_RECOVER_UNLOCKED);
	ASSERT_FALSE(path_exists(lock));
	/* the branch made and dropped: no setting of it is left */
	ASSERT_OK(worktree_create(root, wt, "rb", "rb", NULL, &cause));
	GIT_OUT(s, root, "config", "branch.rb.merge");
	ASSERT_STREQ(s, "refs/heads/rb");
	free(s);
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_EQ_INT(worktree_branch_drop(root, "rb", at, &cause), 1);
	ASSERT_FALSE(branch_exists(root, "rb"));
	ASSERT_TRUE(git_run(root, NULL, "config", "--get-regexp", "^branch\\.rb\\.",
			    (const char *)NULL) != 0);
	free(lock);
	free(at);
	free(origin_dir);
	free(wt);
	free(dir);
	free(root);
	finish();
}

/* A remove killed inside the prune of the admin entry: the directory is
 * gone, the entry has lost its gitdir file. The next remove drops it (the
 * crash suite's down recovered this way left it, and git called it
 * prunable); a locked one stays. */
static void test_remove_finishes_a_prune_cut_short(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s");
	char *admin = path_join(root, ".git/worktrees/s"), *p, *cause = NULL;

	ASSERT_OK(worktree_create(root, wt, "s", "s", NULL, &cause));
	ASSERT_OK(rm_rf(wt));
	p = path_join(admin, "gitdir");
	ASSERT_OK(unlink(p) == 0 ? 0 : -errno);
	free(p);
	p = path_join(admin, "locked");
	write_str(p, "kept\n");
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_TRUE(path_exists(admin));
	ASSERT_OK(unlink(p) == 0 ? 0 : -errno);
	free(p);
	ASSERT_OK(worktree_remove(root, wt, &cause));
	ASSERT_FALSE(path_exists(admin));
	free(admin);
	free(wt);
	free(root);
	finish();
}

static void test_lost_commits(void)
{
	char *root = make_repo(), *wt = path_join(root, ".berth/worktrees/s"), *cause = NULL;
	char *p = path_join(wt, "c.txt");
	struct strvec v = STRVEC_INIT;
	size_t n = 99;

	ASSERT_OK(worktree_create(root, wt, "s", "s", NULL, &cause));
	ASSERT_OK(worktree_lost_commits(wt, &n, &v, 5, &cause));
	ASSERT_EQ_INT(n, 0);
	GIT_OK(wt, "checkout", "-q", "--detach");
	ASSERT_OK(worktree_lost_commits(wt, &n, &v, 5, &cause));
	ASSERT_EQ_INT(n, 0); /* detached at a commit a branch holds */
	write_str(p, "c\n");
	GIT_OK(wt, "add", "c.txt");
	GIT_OK(wt, "commit", "-q", "-m", "detached work");
	ASSERT_OK(worktree_lost_commits(wt, &n, &v, 5, &cause));
	ASSERT_EQ_INT(n, 1);
	ASSERT_EQ_INT(v.n, 1);
	ASSERT_TRUE(strstr(v.v[0], " detached work") != NULL);
	strvec_clear(&v);
	GIT_OK(wt, "tag", "kept");
	ASSERT_OK(worktree_lost_commits(wt, &n, &v, 5, &cause));
	ASSERT_EQ_INT(n, 0); /* a tag holds it */
	free(p);
	free(wt);
	free(root);
	finish();
}

static void test_branch_plan(void)
{
	char *root = make_repo(), *at = NULL, *head = NULL, *cause = NULL, *first, *name;

	ASSERT_OK(worktree_branch_plan(root, "main", &at, &cause));
	ASSERT_TRUE(at == NULL); /* exists: nothing to create */
	ASSERT_OK(worktree_branch_plan(root, "fresh", &at, &cause));
	ASSERT_OK(worktree_head(root, &head, &cause));
	ASSERT_STREQ(at, head);
	free(at);
	/* a name that reads as describe output ("<tag>-g<abbrev>"): still HEAD,
	 * the commit worktree_create starts it at (git_revparse_single leaked
	 * on such names in libgit2 1.5: LeakSanitizer failed `up st-g`) */
	ASSERT_EQ_INT(git_run(root, &first, "rev-parse", "--short=7", "HEAD~1", (const char *)NULL),
		      0);
	first[strcspn(first, "\n")] = '\0';
	name = xasprintf("st-g%s", first);
	ASSERT_OK(worktree_branch_plan(root, name, &at, &cause));
	ASSERT_STREQ(at, head);
	free(name);
	free(first);
	free(head);
	free(at);
	free(root);
	finish();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Not an assertion: prints worktree_create's median against `git worktree add`. */
static void test_create_timing(void)
{
	enum { N = 7 };
	char *root = make_repo(), *cause = NULL;
	uint64_t ours[N], theirs[N];
	enum worktree_origin origin;

	for (int i = 0; i < N; i++) {
		char *name = xasprintf("lib%d", i), *wt = path_join(root, name);
		uint64_t t0 = time_mono_ns();

		ASSERT_OK(worktree_create(root, wt, name, name, &origin, &cause));
		ours[i] = time_mono_ns() - t0;
		free(wt);
		free(name);
	}
	for (int i = 0; i < N; i++) {
		char *name = xasprintf("cli%d", i), *wt = path_join(root, name);
		uint64_t t0 = time_mono_ns();

		GIT_OK(root, "worktree", "add", "-q", "-b", name, wt);
		theirs[i] = time_mono_ns() - t0;
		free(wt);
		free(name);
	}
	qsort(ours, N, sizeof(ours[0]), cmp_u64);
	qsort(theirs, N, sizeof(theirs[0]), cmp_u64);
	printf("# worktree_create median %.2f ms (min %.2f); `git worktree add` median %.2f ms "
	       "(min %.2f)\n",
	       ours[N / 2] / 1e6, ours[0] / 1e6, theirs[N / 2] / 1e6, theirs[0] / 1e6);
	free(root);
	finish();
}

static const struct tap_test tests[] = {
	TAP_TEST(test_locate_main_root),
	TAP_TEST(test_locate_subdir_and_symlink),
	TAP_TEST(test_locate_inside_linked_worktree),
	TAP_TEST(test_locate_outside_repo),
	TAP_TEST(test_locate_detached_head),
	TAP_TEST(test_locate_unborn_repo),
	TAP_TEST(test_locate_bare_repo),
	TAP_TEST(test_locate_gitfile_main),
	TAP_TEST(test_locate_layouts_left_to_libgit2),
	TAP_TEST(test_branch_check_accepts),
	TAP_TEST(test_branch_check_rejects),
	TAP_TEST(test_branch_check_agrees_with_libgit2),
	TAP_TEST(test_create_new_branch),
	TAP_TEST(test_create_existing_local_branch),
	TAP_TEST(test_create_remote_only_branch),
	TAP_TEST(test_create_branch_checked_out_elsewhere),
	TAP_TEST(test_create_path_exists),
	TAP_TEST(test_create_unborn_repo),
	TAP_TEST(test_create_rollback_removes_new_branch),
	TAP_TEST(test_create_rollback_after_failed_checkout),
	TAP_TEST(test_create_invalid_input),
	TAP_TEST(test_create_reclaims_stale_name),
	TAP_TEST(test_create_name_taken_by_live_worktree),
	TAP_TEST(test_create_relative_path_no_fd_leak),
	TAP_TEST(test_create_sweeps_a_killed_create),
	TAP_TEST(test_recover_moved_aside_and_foreign_entries),
	TAP_TEST(test_recover_repairs_gitfile),
	TAP_TEST(test_recover_git_lock_left),
	TAP_TEST(test_recover_config_lock_and_drop_upstream),
	TAP_TEST(test_remove_finishes_a_prune_cut_short),
	TAP_TEST(test_lost_commits),
	TAP_TEST(test_branch_plan),
	TAP_TEST(test_changes),
	TAP_TEST(test_changes_not_a_worktree),
	TAP_TEST(test_remove_everything),
	TAP_TEST(test_remove_refuses_main_and_strangers),
	TAP_TEST(test_remove_dir_already_gone),
	TAP_TEST(test_remove_entry_already_gone),
	TAP_TEST(test_remove_refuses_dir_without_gitfile),
	TAP_TEST(test_remove_locked_refused),
	TAP_TEST(test_remove_git_cli_worktree),
	TAP_TEST(test_is_linked),
	TAP_TEST(test_inherit_env),
	TAP_TEST(test_inherit_env_copy),
	TAP_TEST(test_inherit_env_rejects_escapes),
	TAP_TEST(test_create_timing),
};

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/berth-test-worktree-XXXXXX";
	char *home;
	int r;

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	base_dir = tmpl;
	/* A private, predictable git configuration for the git CLI and libgit2 alike. */
	home = path_join(tmpl, "home");
	if (mkdir_p(home, 0755) < 0)
		return 1;
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "Berth Test", 1);
	setenv("GIT_AUTHOR_EMAIL", "test@berth.invalid", 1);
	setenv("GIT_COMMITTER_NAME", "Berth Test", 1);
	setenv("GIT_COMMITTER_EMAIL", "test@berth.invalid", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_COMMON_DIR");
	unsetenv("GIT_INDEX_FILE");
	unsetenv("GIT_CEILING_DIRECTORIES");
	r = tap_main(argc, argv, tests, ARRAY_SIZE(tests));
	rm_rf(tmpl);
	free(home);
	return r;
}
