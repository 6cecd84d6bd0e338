/*
 * probe.c: "who holds this port?" for one command. The listeners are dumped
 * once (sock_diag); a port's owner is looked for first among the pids the
 * caller expects (recorded owners: reads only their fds), and only then in an
 * inode -> pid map built by one /proc sweep, at most once per struct probe.
 * Nothing here connect()s to a port.
 */
#include "util/common.h"

#include <sys/sysinfo.h>

#include "probe/owners.h"
#include "probe/probe.h"
#include "probe/proc.h"

int probe_init(struct probe *p)
{
	int r;

	*p = (struct probe){.proc_root = "/proc"};
	r = listeners_dump(&p->listeners);
	if (r < 0)
		listener_set_finish(&p->listeners);
	return r;
}

void probe_finish(struct probe *p)
{
	listener_set_finish(&p->listeners);
	owner_map_destroy(p->owners);
	p->owners = NULL;
	proc_table_finish(&p->procs);
	p->procs_read = 0;
}

const struct proc_table *probe_procs(struct probe *p)
{
	if (!p->procs_read)
		p->procs_read = proc_table_read(&p->procs) < 0 ? -EIO : 1;
	return p->procs_read > 0 ? &p->procs : NULL;
}

const struct proc_table *probe_procs_cheaper(struct probe *p, size_t reads)
{
	const char *forced = getenv("BERTH_PROC_TABLE");
	struct sysinfo si;

	if (forced && !strcmp(forced, "always"))
		return probe_procs(p);
	if (forced && !strcmp(forced, "never"))
		return NULL;
	/* the kernel's count of tasks: the processes, and their threads (an
	 * upper bound: a busy machine is told to read its files one by one) */
	if (p->procs_read || (sysinfo(&si) == 0 && si.procs <= reads))
		return probe_procs(p);
	return NULL;
}

bool probe_listening(const struct probe *p, uint16_t port)
{
	return listeners_find(&p->listeners, port) != NULL;
}

/* Describe pid as the holder of l. Fails when pid is gone or (verify) no
 * longer holds the socket, e.g. the pid was reused since the sweep. */
static int holder_process(pid_t pid, const struct listener *l, bool verify, struct port_holder *ret)
{
	struct port_holder h = {.kind = HOLDER_PROCESS, .inode = l->inode, .uid = l->uid};
	struct proc_stat st;
	char *cmdline = NULL;
	int r;

	r = proc_stat_read(pid, &st);
	if (r < 0)
		return r;
	if (verify && !owners_pid_holds(pid, l->inode))
		return -ESRCH;
	h.pid = pid;
	h.start_time = st.start_time;
	snprintf(h.comm, sizeof(h.comm), "%s", st.comm);
	if (proc_cmdline(pid, &cmdline) >= 0)
		h.cmdline = cmdline;
	*ret = h;
	return 0;
}

int probe_port(struct probe *p, uint16_t port, const pid_t *hint_pids, size_t n_hints,
	       struct port_holder *ret)
{
	const struct listener *first = NULL;
	int r;

	/* The cheap path: a pid we expect, checked against each socket on port. */
	for (size_t i = 0; i < p->listeners.n; i++) {
		const struct listener *l = &p->listeners.v[i];

		if (l->port != port)
			continue;
		if (!first)
			first = l;
		for (size_t j = 0; j < n_hints; j++)
			if (owners_pid_holds(hint_pids[j], l->inode) &&
			    holder_process(hint_pids[j], l, false, ret) >= 0)
				return 0;
	}
	if (!first) {
		*ret = (struct port_holder){.kind = HOLDER_FREE};
		return 0;
	}

	/* The expensive path: one sweep of /proc/<pid>/fd, kept for later ports. */
	if (!p->owners) {
		r = owner_map_build(p->proc_root ? p->proc_root : "/proc", &p->owners);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->listeners.n; i++) {
		const struct listener *l = &p->listeners.v[i];
		pid_t pid;

		if (l->port != port || owner_map_lookup(p->owners, l->inode, &pid) < 0)
			continue;
		if (holder_process(pid, l, true, ret) >= 0)
			return 0;
	}
	*ret = (struct port_holder){
		.kind = HOLDER_HIDDEN, .inode = first->inode, .uid = first->uid};
	return 0;
}

void port_holder_finish(struct port_holder *h)
{
	free(h->cmdline);
	h->cmdline = NULL;
}
