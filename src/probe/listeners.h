/*
 * listeners.h: the TCP sockets in LISTEN state on this machine (IPv4 and IPv6),
 * from sock_diag netlink, with /proc/net/tcp{,6} as fallback.
 */
#ifndef BERTH_PROBE_LISTENERS_H
#define BERTH_PROBE_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct listener {
	uint16_t port;
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	uint64_t inode;   /* socket inode: unique while the socket lives */
	uid_t uid;
};

struct listener_set {
	struct listener *v;
	size_t n, alloc;
};

/* Fill set with every LISTEN socket: sock_diag first, /proc/net/tcp{,6} if
 * netlink is not available. These add to set; on an error set keeps only
 * the entries it had, but its array may have grown: finish it either way. */
int listeners_dump(struct listener_set *set);
/* The sock_diag path only. */
int listeners_dump_netlink(struct listener_set *set);
/* The /proc/net path only (root_dir is normally "/proc"). */
int listeners_dump_procnet(struct listener_set *set, const char *root_dir);
/* Parse the text of /proc/net/tcp (family AF_INET) or tcp6 (AF_INET6), adding
 * its LISTEN rows to set. -EINVAL on a malformed row. */
int listeners_parse_procnet(const char *text, int family, struct listener_set *set);
/* The first listener on port, or NULL. */
const struct listener *listeners_find(const struct listener_set *set, uint16_t port);
/* The text of l's address: "127.0.0.1", "::", "::1", "::ffff:127.0.0.1" (no
 * brackets, no port). The caller frees. */
char *listener_addr_str(const struct listener *l);
/* Free set's array; set is empty and reusable afterwards. */
void listener_set_finish(struct listener_set *set);

#endif
