/*
 * git2.h: libgit2, loaded when a command first needs it (dlopen), as libpq
 * is (db/pq.h). Linking it made every berth process map its 16 libraries
 * (mbedTLS, libssh2, Kerberos...): 3-4 ms per exec on the benchmark
 * machine, for ls, status and the rest, which find the repository without
 * it (bench/README.md, worktree). Include this instead of <git2.h>: each
 * libgit2 function berth calls is named here once, and a call of it goes
 * through the table `git2`, valid after git2_load returned 0. A function
 * missing from the list fails the link (nothing links libgit2).
 */
#ifndef BERTH_GIT_GIT2_H
#define BERTH_GIT_GIT2_H

#include <git2.h>

#define GIT2_FUNCTIONS(X)                   \
	X(git_branch_create)                \
	X(git_buf_dispose)                  \
	X(git_commit_free)                  \
	X(git_commit_lookup)                \
	X(git_commit_summary)               \
	X(git_config_delete_entry)          \
	X(git_config_free)                  \
	X(git_config_iterator_free)         \
	X(git_config_multivar_iterator_new) \
	X(git_config_next)                  \
	X(git_config_set_string)            \
	X(git_error_clear)                  \
	X(git_error_last)                   \
	X(git_libgit2_init)                 \
	X(git_libgit2_shutdown)             \
	X(git_libgit2_version)              \
	X(git_object_free)                  \
	X(git_object_id)                    \
	X(git_oid_tostr)                    \
	X(git_reference_delete)             \
	X(git_reference_free)               \
	X(git_reference_iterator_free)      \
	X(git_reference_iterator_new)       \
	X(git_reference_lookup)             \
	X(git_reference_name_is_valid)      \
	X(git_reference_name_to_id)         \
	X(git_reference_next)               \
	X(git_reference_peel)               \
	X(git_reference_symbolic_target)    \
	X(git_reference_target)             \
	X(git_reference_type)               \
	X(git_refspec_dst_matches)          \
	X(git_refspec_free)                 \
	X(git_refspec_parse)                \
	X(git_refspec_rtransform)           \
	X(git_repository_commondir)         \
	X(git_repository_config)            \
	X(git_repository_free)              \
	X(git_repository_head)              \
	X(git_repository_head_detached)     \
	X(git_repository_is_bare)           \
	X(git_repository_is_worktree)       \
	X(git_repository_open_ext)          \
	X(git_repository_workdir)           \
	X(git_revwalk_free)                 \
	X(git_revwalk_hide)                 \
	X(git_revwalk_new)                  \
	X(git_revwalk_next)                 \
	X(git_revwalk_push_head)            \
	X(git_status_byindex)               \
	X(git_status_list_entrycount)       \
	X(git_status_list_free)             \
	X(git_status_list_new)              \
	X(git_status_options_init)          \
	X(git_strarray_dispose)             \
	X(git_worktree_add)                 \
	X(git_worktree_add_options_init)    \
	X(git_worktree_free)                \
	X(git_worktree_is_locked)           \
	X(git_worktree_is_prunable)         \
	X(git_worktree_list)                \
	X(git_worktree_lookup)              \
	X(git_worktree_path)                \
	X(git_worktree_prune)               \
	X(git_worktree_validate)

struct git2_api {
#define GIT2_MEMBER(f) __typeof__(f) *f;
	GIT2_FUNCTIONS(GIT2_MEMBER)
#undef GIT2_MEMBER
};

extern struct git2_api git2;

/* Load libgit2 (once per process; thread-safe). -ENOENT with *cause (the
 * caller frees) when it cannot be loaded. */
int git2_load(char **cause);

/* Did libgit2's set-up skip parsing the system's CA bundle (git2.c)? True
 * after git_libgit2_init under a libgit2 built with mbedTLS. */
bool git2_ca_skipped(void);

/* From here on, a call of a listed function goes through the table. */
#define git_branch_create git2.git_branch_create
#define git_buf_dispose git2.git_buf_dispose
#define git_commit_free git2.git_commit_free
#define git_commit_lookup git2.git_commit_lookup
#define git_commit_summary git2.git_commit_summary
#define git_config_delete_entry git2.git_config_delete_entry
#define git_config_free git2.git_config_free
#define git_config_iterator_free git2.git_config_iterator_free
#define git_config_multivar_iterator_new git2.git_config_multivar_iterator_new
#define git_config_next git2.git_config_next
#define git_config_set_string git2.git_config_set_string
#define git_error_clear git2.git_error_clear
#define git_error_last git2.git_error_last
#define git_libgit2_init git2.git_libgit2_init
#define git_libgit2_shutdown git2.git_libgit2_shutdown
#define git_libgit2_version git2.git_libgit2_version
#define git_object_free git2.git_object_free
#define git_object_id git2.git_object_id
#define git_oid_tostr git2.git_oid_tostr
#define git_reference_delete git2.git_reference_delete
#define git_reference_free git2.git_reference_free
#define git_reference_iterator_free git2.git_reference_iterator_free
#define git_reference_iterator_new git2.git_reference_iterator_new
#define git_reference_lookup git2.git_reference_lookup
#define git_reference_name_is_valid git2.git_reference_name_is_valid
#define git_reference_name_to_id git2.git_reference_name_to_id
#define git_reference_next git2.git_reference_next
#define git_reference_peel git2.git_reference_peel
#define git_reference_symbolic_target git2.git_reference_symbolic_target
#define git_reference_target git2.git_reference_target
#define git_reference_type git2.git_reference_type
#define git_refspec_dst_matches git2.git_refspec_dst_matches
#define git_refspec_free git2.git_refspec_free
#define git_refspec_parse git2.git_refspec_parse
#define git_refspec_rtransform git2.git_refspec_rtransform
#define git_repository_commondir git2.git_repository_commondir
#define git_repository_config git2.git_repository_config
#define git_repository_free git2.git_repository_free
#define git_repository_head git2.git_repository_head
#define git_repository_head_detached git2.git_repository_head_detached
#define git_repository_is_bare git2.git_repository_is_bare
#define git_repository_is_worktree git2.git_repository_is_worktree
#define git_repository_open_ext git2.git_repository_open_ext
#define git_repository_workdir git2.git_repository_workdir
#define git_revwalk_free git2.git_revwalk_free
#define git_revwalk_hide git2.git_revwalk_hide
#define git_revwalk_new git2.git_revwalk_new
#define git_revwalk_next git2.git_revwalk_next
#define git_revwalk_push_head git2.git_revwalk_push_head
#define git_status_byindex git2.git_status_byindex
#define git_status_list_entrycount git2.git_status_list_entrycount
#define git_status_list_free git2.git_status_list_free
#define git_status_list_new git2.git_status_list_new
#define git_status_options_init git2.git_status_options_init
#define git_strarray_dispose git2.git_strarray_dispose
#define git_worktree_add git2.git_worktree_add
#define git_worktree_add_options_init git2.git_worktree_add_options_init
#define git_worktree_free git2.git_worktree_free
#define git_worktree_is_locked git2.git_worktree_is_locked
#define git_worktree_is_prunable git2.git_worktree_is_prunable
#define git_worktree_list git2.git_worktree_list
#define git_worktree_lookup git2.git_worktree_lookup
#define git_worktree_path git2.git_worktree_path
#define git_worktree_prune git2.git_worktree_prune
#define git_worktree_validate git2.git_worktree_validate

#endif
