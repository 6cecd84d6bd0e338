/*
 * probe.h: the machine as one command sees it: "who holds this port?" and
 * which processes run. Dumps the listeners once; reads the process table
 * (one /proc walk) at most once, when asked for; sweeps /proc for owners at
 * most once, lazily, only when a port's owner is asked for and not already
 * known. A command that looks at many sessions builds one and shares it.
 */
#ifndef BERTH_PROBE_PROBE_H
#define BERTH_PROBE_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe/listeners.h"
#include "probe/tree.h"

enum port_holder_kind {
	HOLDER_FREE,    /* nothing listens */
	HOLDER_PROCESS, /* a visible process listens: pid, comm, uid known */
	HOLDER_HIDDEN,  /* something listens, its owner is not visible to us */
};

struct port_holder {
	enum port_holder_kind kind;
	uint64_t inode;
	uid_t uid;           /* socket owner uid */
	pid_t pid;           /* HOLDER_PROCESS */
	uint64_t start_time; /* HOLDER_PROCESS */
	char comm[64];       /* HOLDER_PROCESS */
	char *cmdline;       /* HOLDER_PROCESS, may be NULL; owned, see port_holder_finish */
};

struct probe {
	struct listener_set listeners;
	struct owner_map *owners; /* built on first need */
	const char *proc_root;    /* "/proc" */
	struct proc_table procs;  /* read on first need (probe_procs) */
	int procs_read;           /* 0 not yet, 1 read, -errno failed */
};

/* Dump the listeners. On failure p is left empty (probe_finish is safe). */
int probe_init(struct probe *p);
/* Free the listeners and the owner map. */
void probe_finish(struct probe *p);
/* True when something listens on port. */
bool probe_listening(const struct probe *p, uint16_t port);
/* Who holds port. hint_pids (may be NULL) are checked first, reading only their
 * fds; otherwise one /proc sweep, built on first need and kept in p for later
 * ports. Never connects. Release ret with port_holder_finish. */
int probe_port(struct probe *p, uint16_t port, const pid_t *hint_pids, size_t n_hints,
	       struct port_holder *ret);
/* Every process, read from /proc on the first call and kept in p (later
 * calls return the same snapshot); NULL when /proc cannot be read. */
const struct proc_table *probe_procs(struct probe *p);
/* probe_procs, when reading the table (one /proc/<pid>/stat per process of
 * the machine) costs less than the caller's reads: about that many reads of
 * single /proc files it would make instead; else NULL (read them).
 * BERTH_PROC_TABLE=always or never in the environment decides instead
 * (tests and benchmarks compare the two ways). */
const struct proc_table *probe_procs_cheaper(struct probe *p, size_t reads);
/* Free h->cmdline. */
void port_holder_finish(struct port_holder *h);

#endif
