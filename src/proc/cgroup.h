/*
 * cgroup.h: containment in cgroup v2, where the machine gives berth a
 * writable subtree (root: a `berth` directory at the top of the cgroup2
 * mount; otherwise the subtree of our own cgroup when it was delegated to
 * us). A session's processes live in <base>/<root-id>/<slug>/, each service
 * in a leaf of its own and hooks in `hook`: cgroup.kill ends everything in a
 * cgroup at once (nothing escapes by setsid, double fork or `env -i`),
 * cgroup.procs names its members without markers, cgroup.events says when it
 * is empty. The cgroup2 mount is found in /proc/self/mountinfo, never
 * assumed. BERTH_CONTAINMENT=subreaper in the environment turns it off (the
 * shim's subreaper and the markers then do the work alone).
 */
#ifndef BERTH_PROC_CGROUP_H
#define BERTH_PROC_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The directory berth makes its cgroups under (caller frees), or -ENOTSUP
 * with *why (caller frees) saying why there is none. */
int cgroup_base(char **ret, char **why);
/* The cgroup2 mount point (caller frees); -ENOENT when none is mounted. */
int cgroup_mount(char **ret);
/* The same from the text of /proc/self/mountinfo (split in place). */
int cgroup_mount_parse(char *text, char **ret);
/* True when path is a cgroup of berth's for session slug of root_id: below
 * a cgroup2 mount, no "..", ending in /<root_id>/<slug> (or, with leaf, in
 * /<root_id>/<slug>/<leaf-name>). Paths read back from files are checked
 * with it before anything is signalled. */
bool cgroup_path_valid(const char *path, const char *root_id, const char *slug, bool leaf);
/* mkdir -p path (0755). */
int cgroup_make(const char *path);
/* A close-on-exec fd on the cgroup directory path, for spawn_opts.cgroup_fd:
 * the child is made inside it (or enters it between fork and exec). */
int cgroup_dir_fd(const char *path);
/* Move pid into path. */
int cgroup_attach(const char *path, pid_t pid);
/* Every pid in path and its descendants (*v: caller frees; may be NULL).
 * -ENOENT when path does not exist. */
int cgroup_pids(const char *path, pid_t **v, size_t *n);
/* Append the pids of the text of a cgroup.procs file (split in place) to *v
 * (n, alloc as in XGROW); lines that are not a pid are skipped. */
void cgroup_procs_parse(char *text, pid_t **v, size_t *n, size_t *alloc);
/* SIGKILL to everything in path and below at once (cgroup.kill); -ENOTSUP
 * on kernels without it (before 5.14). */
int cgroup_kill(const char *path);
/* 1 when a process is in path or below, 0 when not, -errno. */
int cgroup_populated(const char *path);
/* Remove path and its descendant cgroups (empty ones; -EBUSY when a process
 * is still there). A missing path is not an error. */
int cgroup_remove(const char *path);

#endif
