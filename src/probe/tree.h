/*
 * tree.h: a snapshot of every process (pid, parent, start time, state) read
 * once from /proc, to find the descendants of a process: the tree of a
 * service under its shim, or what a shim must stop.
 */
#ifndef BERTH_PROBE_TREE_H
#define BERTH_PROBE_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "probe/proc.h"

struct proc_table {
	struct proc_stat *v; /* sorted by pid */
	size_t n;
	size_t *kids; /* indices into v sorted by parent pid: each process's children */
};

/* Read every process of /proc (those that vanish meanwhile are skipped). */
int proc_table_read(struct proc_table *t);
void proc_table_finish(struct proc_table *t);
/* The entry of pid, or NULL. */
const struct proc_stat *proc_table_get(const struct proc_table *t, pid_t pid);
/* True when pid descends from ancestor (a child, grandchild...; not itself). */
bool proc_table_descends(const struct proc_table *t, pid_t pid, pid_t ancestor);
/* Mark in in[0..t->n) (caller memory, cleared here) the entries that
 * descend from ancestor, as proc_table_descends would say of each, walking
 * down its children: work in proportion to the tree, not to the table. */
void proc_table_mark_descendants(const struct proc_table *t, pid_t ancestor, bool *in);
/* Append the live (not zombie) descendants of ancestor to *v (n, alloc as in
 * XGROW), in pid order. Returns how many were added. */
size_t proc_table_descendants(const struct proc_table *t, pid_t ancestor, struct proc_ref **v,
			      size_t *n, size_t *alloc);

/* Every descendant of root (not itself), walking /proc/<pid>/task/<tid>/children
 * from root down: work in proportion to the tree, not to the machine. *v
 * (caller frees) and *n are set. -ENOENT when root is gone; -ENOTSUP when
 * the kernel has no children files (CONFIG_PROC_CHILDREN). */
int proc_tree_walk(pid_t root, pid_t **v, size_t *n);

#endif
