/*
 * listeners.c: the TCP sockets in LISTEN state, IPv4 and IPv6. The kernel is
 * asked through sock_diag netlink (one dump per family, filtered to LISTEN by
 * the kernel: about 0.15 ms at 1000 sockets); /proc/net/tcp{,6} is parsed only
 * where netlink is not available (10-20x slower: every socket is formatted).
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe/listeners.h"
#include "util/fsutil.h"
#include "util/parse.h"

/* The kernel sizes dump messages to the reader's buffer, up to 32 KiB. */
#define NL_BUF_SIZE 32768
#define PROCNET_MAX (256u * 1024 * 1024)

static struct listener *listener_add(struct listener_set *set)
{
	XGROW(set->v, set->alloc, set->n + 1);
	memset(&set->v[set->n], 0, sizeof(set->v[set->n]));
	return &set->v[set->n++];
}

/* One SOCK_DIAG_BY_FAMILY dump of family's LISTEN sockets into set. */
static int netlink_dump_family(int fd, int family, uint32_t seq, struct listener_set *set)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh =
			{
				.nlmsg_len = sizeof(msg),
				.nlmsg_type = SOCK_DIAG_BY_FAMILY,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
				.nlmsg_seq = seq,
			},
		.req =
			{
				.sdiag_family = (uint8_t)family,
				.sdiag_protocol = IPPROTO_TCP,
				.idiag_states = 1u << TCP_LISTEN,
			},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	uint32_t *buf;
	int r = 0;

	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	buf = xmalloc(NL_BUF_SIZE);
	for (;;) {
		struct iovec iov = {.iov_base = buf, .iov_len = NL_BUF_SIZE};
		struct sockaddr_nl from;
		struct msghdr mh = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};
		ssize_t n = recvmsg(fd, &mh, 0);
		size_t off;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0 || (mh.msg_flags & MSG_TRUNC)) {
			r = -EMSGSIZE;
			goto out;
		}
		if (from.nl_pid != 0) /* not from the kernel */
			continue;
		for (off = 0; off + sizeof(struct nlmsghdr) <= (size_t)n;) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)((char *)buf + off);
			const struct inet_diag_msg *d;
			struct listener *l;

			if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > (size_t)n - off) {
				r = -EBADMSG;
				goto out;
			}
			off += NLMSG_ALIGN(h->nlmsg_len);

			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				goto out;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					r = -EBADMSG;
				else
					r = e->error < 0 ? e->error : -EPROTO;
				goto out;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
				continue;
			d = NLMSG_DATA(h);
			if (d->idiag_state != TCP_LISTEN ||
			    (d->idiag_family != AF_INET && d->idiag_family != AF_INET6))
				continue;
			l = listener_add(set);
			l->family = d->idiag_family;
			l->port = ntohs(d->id.idiag_sport);
			memcpy(l->addr, d->id.idiag_src, d->idiag_family == AF_INET ? 4 : 16);
			l->inode = d->idiag_inode;
			l->uid = d->idiag_uid;
		}
	}
out:
	free(buf);
	return r;
}

int listeners_dump_netlink(struct listener_set *set)
{
	size_t old_n = set->n;
	int fd, r;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	r = netlink_dump_family(fd, AF_INET, 1, set);
	if (r >= 0) {
		r = netlink_dump_family(fd, AF_INET6, 2, set);
		/* A kernel without IPv6 has no inet6_diag handler: no v6 listeners. */
		if (r == -ENOENT || r == -EAFNOSUPPORT || r == -EPROTONOSUPPORT)
			r = 0;
	}
	close(fd);
	if (r < 0)
		set->n = old_n;
	return r;
}

/* Exactly n hex digits at s. */
static int parse_hex32(const char *s, size_t n, uint32_t *ret)
{
	uint32_t v = 0;

	if (n == 0 || n > 8)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -EINVAL;
		v = v << 4 | d;
	}
	*ret = v;
	return 0;
}

/* The next whitespace-separated token of the line [*p, end). */
static bool next_token(const char **p, const char *end, const char **ret_s, size_t *ret_n)
{
	const char *s = *p, *e;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	e = s;
	while (e < end && *e != ' ' && *e != '\t')
		e++;
	if (e == s)
		return false;
	*ret_s = s;
	*ret_n = (size_t)(e - s);
	*p = e;
	return true;
}

static int token_u64(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	char buf[24];

	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return parse_u64(buf, 0, max, ret) < 0 ? -EINVAL : 0;
}

/* "ADDR:PORT": the address as the kernel prints it, in 32-bit words of host
 * byte order (%08X of each word), so the word's memory image is network order. */
static int parse_endpoint(const char *s, size_t n, int family, uint8_t *addr, uint16_t *port)
{
	size_t alen = family == AF_INET ? 8 : 32;
	uint32_t w;

	if (n != alen + 5 || s[alen] != ':')
		return -EINVAL;
	for (size_t i = 0; i < alen / 8; i++) {
		if (parse_hex32(s + i * 8, 8, &w) < 0)
			return -EINVAL;
		memcpy(addr + i * 4, &w, 4);
	}
	if (parse_hex32(s + alen + 1, 4, &w) < 0)
		return -EINVAL;
	*port = (uint16_t)w;
	return 0;
}

/* "HEX:HEX" with the given digit counts (tx:rx queues, timer:when). */
static int check_hex_pair(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	uint32_t w;

	if (!colon || colon == s || colon == s + n - 1)
		return -EINVAL;
	if ((size_t)(colon - s) > 8 || (size_t)(s + n - colon - 1) > 8)
		return -EINVAL;
	if (parse_hex32(s, (size_t)(colon - s), &w) < 0 ||
	    parse_hex32(colon + 1, (size_t)(s + n - colon - 1), &w) < 0)
		return -EINVAL;
	return 0;
}

/* One row: "sl: local remote st tx:rx tr:when retrnsmt uid timeout inode ...". */
static int parse_procnet_row(const char *p, const char *end, int family, struct listener *ret,
			     bool *ret_listen)
{
	struct listener l = {.family = (uint8_t)family};
	uint8_t raddr[16];
	uint16_t rport;
	const char *s;
	size_t n;
	uint32_t st, w;
	uint64_t v;

	/* sl, "N:" */
	if (!next_token(&p, end, &s, &n) || n < 2 || s[n - 1] != ':' ||
	    token_u64(s, n - 1, UINT32_MAX, &v) < 0)
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || parse_endpoint(s, n, family, l.addr, &l.port) < 0)
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || parse_endpoint(s, n, family, raddr, &rport) < 0)
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || n != 2 || parse_hex32(s, 2, &st) < 0)
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || check_hex_pair(s, n) < 0) /* tx:rx queue */
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || check_hex_pair(s, n) < 0) /* tr:tm->when */
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || n > 8 || parse_hex32(s, n, &w) < 0) /* retrnsmt */
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || token_u64(s, n, UINT32_MAX, &v) < 0)
		return -EINVAL;
	l.uid = (uid_t)v;
	if (!next_token(&p, end, &s, &n) || token_u64(s, n, UINT64_MAX, &v) < 0) /* timeout */
		return -EINVAL;
	if (!next_token(&p, end, &s, &n) || token_u64(s, n, UINT64_MAX, &v) < 0)
		return -EINVAL;
	l.inode = v;
	*ret_listen = st == TCP_LISTEN;
	*ret = l;
	return 0;
}

int listeners_parse_procnet(const char *text, int family, struct listener_set *set)
{
	size_t old_n = set->n;
	const char *p = text;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	while (*p) {
		const char *end = strchr(p, '\n'), *q, *s;
		struct listener l;
		bool listen;
		size_t n;

		if (!end)
			end = p + strlen(p);
		q = p;
		if (!next_token(&q, end, &s, &n)) {
			/* a blank line */
		} else if (n == 2 && !memcmp(s, "sl", 2)) {
			/* the header line */
		} else if (parse_procnet_row(p, end, family, &l, &listen) < 0) {
			set->n = old_n;
			return -EINVAL;
		} else if (listen) {
			*listener_add(set) = l;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

int listeners_dump_procnet(struct listener_set *set, const char *root_dir)
{
	static const struct {
		const char *name;
		int family;
	} files[] = {{"net/tcp", AF_INET}, {"net/tcp6", AF_INET6}};
	size_t old_n = set->n;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *path = path_join(root_dir, files[i].name), *text = NULL;

		r = read_file(path, PROCNET_MAX, &text, NULL);
		free(path);
		if (r == -ENOENT && files[i].family == AF_INET6) {
			r = 0; /* no IPv6 in this kernel */
			continue;
		}
		if (r < 0)
			break;
		r = listeners_parse_procnet(text, files[i].family, set);
		free(text);
		if (r < 0)
			break;
	}
	if (r < 0)
		set->n = old_n;
	return r;
}

int listeners_dump(struct listener_set *set)
{
	int r = listeners_dump_netlink(set);

	if (r >= 0)
		return r;
	return listeners_dump_procnet(set, "/proc");
}

const struct listener *listeners_find(const struct listener_set *set, uint16_t port)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].port == port)
			return &set->v[i];
	return NULL;
}

char *listener_addr_str(const struct listener *l)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(l->family == AF_INET ? AF_INET : AF_INET6, l->addr, buf, sizeof(buf)))
		return xstrdup("?");
	return xstrdup(buf);
}

void listener_set_finish(struct listener_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = set->alloc = 0;
}
