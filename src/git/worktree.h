/*
 * worktree.h: git worktrees and branches through libgit2 (never a `git`
 * subprocess): find the main worktree root, create / adopt / check / remove
 * linked worktrees, link the inherited env files.
 */
#ifndef BERTH_WORKTREE_H
#define BERTH_WORKTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strvec.h"

/* Load and initialise libgit2 once per process (idempotent): 0, or -ENOENT
 * with *cause (may be NULL; the caller frees) when it cannot be loaded.
 * Every function below that needs libgit2 calls it itself; the repository
 * is usually found without it (worktree_locate). */
int worktree_lib_init(char **cause);
/* Start that in a thread of its own (signals blocked), for a command that
 * will need libgit2 soon; worktree_lib_init waits for it. */
void worktree_lib_init_async(void);
void worktree_lib_shutdown(void);

struct repo_location {
	char *main_root;      /* canonical path of the main worktree */
	char *current;        /* canonical top of the worktree cwd is in (may equal main_root) */
	bool in_linked;       /* cwd is inside a linked worktree */
	char *current_branch; /* short branch name of `current`, NULL when detached */
};

/* Resolve the repository containing dir. -ENOENT with *cause "not inside a git
 * repository" when there is none. */
int worktree_locate(const char *dir, struct repo_location *ret, char **cause);
void repo_location_finish(struct repo_location *loc);

/* Check a branch name before it reaches git: non-empty, at most 200 bytes, no
 * leading '-', no "..", '~', '^', ':', '?', '*', '[', '\\', spaces, control
 * bytes, no "@{", not ending in '/', ".lock" or '.', and a valid refname. */
int worktree_branch_check(const char *branch, char **cause);

enum worktree_origin {
	WT_NEW_BRANCH,    /* new branch created from the main checkout's HEAD */
	WT_LOCAL_BRANCH,  /* existing local branch checked out */
	WT_REMOTE_BRANCH, /* local branch created tracking origin/<branch> */
};

/* The commit worktree_create would start branch at when it has to create it
 * (origin/<branch>, else the main checkout's HEAD), as hex in *ret_new_at;
 * NULL when the branch exists. Recorded before the create, it lets the
 * recovery from a kill inside it delete the branch it made. */
int worktree_branch_plan(const char *main_root, const char *branch, char **ret_new_at,
			 char **cause);

/* Create a linked worktree at path (which must not exist; its parents are
 * created) named name ([A-Za-z0-9._-], the .git/worktrees/<name> entry), on
 * branch. It is checked out in a side directory and moved to path in one
 * step: path is never a half checkout, even after a kill. *ret_origin (may be NULL) tells which case applied. On failure
 * nothing is left behind (no directory, no .git/worktrees entry, no new
 * branch): -EEXIST path or name taken, -EBUSY branch checked out elsewhere,
 * -ENOENT no commits yet, -EINVAL bad name or branch. */
int worktree_create(const char *main_root, const char *path, const char *name, const char *branch,
		    enum worktree_origin *ret_origin, char **cause);

/* True when path is a linked worktree of main_root. */
bool worktree_is_linked(const char *main_root, const char *path);

/* Uncommitted or untracked changes in the worktree at path: *ret_count is
 * the number of entries, ret_paths (may be NULL) gets up to `max` of them. */
int worktree_changes(const char *path, size_t *ret_count, struct strvec *ret_paths, size_t max,
		     char **cause);
/* Same, but an untracked file whose worktree-relative path is in ignore (may
 * be NULL) is not counted: berth's own files (.env.berth, inherited env
 * links); nor is the temporary file "<name>.tmp.<pid>" of a file in writes
 * (may be NULL), which a command killed while it wrote <name> leaves. */
int worktree_changes_except(const char *path, const struct strvec *ignore,
			    const struct strvec *writes, size_t *ret_count,
			    struct strvec *ret_paths, size_t max, char **cause);

/* Remove the linked worktree at path: the directory (untracked files too) and
 * its administrative entry. The directory is first moved aside in one step:
 * a removal cut short never leaves a half tree at path. The branch is kept. Missing pieces are fine.
 * -EINVAL (nothing touched) for the main worktree or anything that does not
 * prove to be a linked worktree of main_root; -EBUSY when it is locked. */
int worktree_remove(const char *main_root, const char *path, char **cause);

/* What `git worktree prune` does: drop the admin entries whose worktree
 * directory is gone (or that have no gitdir file left), never a locked one.
 * *ret_pruned: how many. */
int worktree_prune(const char *main_root, unsigned *ret_pruned, char **cause);

/* What worktree_recover did. */
#define WT_RECOVER_SWEPT 1u    /* removed what a killed create or remove left */
#define WT_RECOVER_REPAIRED 2u /* wrote a damaged .git file again */
#define WT_RECOVER_UNLOCKED 4u /* removed a killed branch creation's lock files */

/* Finish what commands killed while creating or removing worktrees beside
 * path left (a worktree is made in a side directory and moved into place,
 * and moved aside before it is deleted: those side directories and their
 * admin entries go; nothing else is touched), and repair path/.git when it
 * is damaged while the admin entry of its name still names path. *ret_what
 * tells what was done (WT_RECOVER_*). With new_at (the commit a command
 * recorded before creating branch), the lock files a kill inside that
 * creation left go too (refs/heads/<branch>.lock holding nothing or new_at;
 * config.lock of its upstream): git would refuse the branch, or every
 * change of the configuration, until someone removed them by hand. */
int worktree_recover(const char *main_root, const char *path, const char *branch,
		     const char *new_at, unsigned *ret_what, char **cause);

#define LOST_COMMITS_MAX 10000 /* counted at most */

/* Commits of the worktree at path that no branch, tag, remote-tracking
 * branch or stash holds (a detached HEAD's new commits): deleting the
 * worktree would lose them. *ret_count their number, ret (may be NULL) up to
 * max of them as "<short id> <summary>". */
int worktree_lost_commits(const char *path, size_t *ret_count, struct strvec *ret, size_t max,
			  char **cause);

/* Link (symlink, absolute) or copy each existing main_root/<file> into the
 * worktree; a real file already in the worktree is kept; a stale symlink is
 * replaced. Files inside a worktree that escape it (../) are refused. */
int worktree_inherit_env(const char *main_root, const char *wt_path, const struct strvec *files,
			 bool copy, char **cause);

/* The commit HEAD of the worktree at wt_path points to, as hex. The caller frees. */
int worktree_head(const char *wt_path, char **ret_oid_hex, char **cause);

/* Delete the local branch when it still points at oid_hex and no worktree has
 * it checked out: how a rolled-back `up` drops the branch it created without
 * ever losing a commit: 1 when deleted, with its upstream settings. A branch
 * that moved, is checked out or is gone is left alone (0). */
int worktree_branch_drop(const char *main_root, const char *branch, const char *oid_hex,
			 char **cause);

#endif
