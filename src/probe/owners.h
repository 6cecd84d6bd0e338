/*
 * owners.h: which process holds a socket inode. Either checks the fds of known
 * pids (cheap) or sweeps every /proc/<pid>/fd once per command into an
 * inode -> pid map (about 15 ms on a busy machine: never once per port).
 */
#ifndef BERTH_PROBE_OWNERS_H
#define BERTH_PROBE_OWNERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct owner_map;

/* Sweep every /proc/<pid>/fd once (root_dir is normally "/proc"). Processes whose fd
 * directory cannot be read are counted, not fatal. The caller destroys. */
int owner_map_build(const char *root_dir, struct owner_map **ret);
/* Free m; NULL is a no-op. */
void owner_map_destroy(struct owner_map *m);
/* The pid holding inode (the lowest when several share it); -ENOENT when no
 * readable process holds it. */
int owner_map_lookup(const struct owner_map *m, uint64_t inode, pid_t *ret);
/* How many processes had an unreadable fd directory. */
unsigned owner_map_hidden(const struct owner_map *m);
/* True when pid currently has an fd on socket inode (reads only that pid's fds). */
bool owners_pid_holds(pid_t pid, uint64_t inode);
/* The socket inodes pid has fds on (reads only that pid's fds, once), in fd
 * order, appended to *v (n, alloc as in XGROW). Returns how many were added. */
size_t owners_pid_sockets(pid_t pid, uint64_t **v, size_t *n, size_t *alloc);

#endif
