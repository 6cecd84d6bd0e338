/*
 * test_slot.c: slot and port allocation against the real machine: ports are
 * reserved by binding them (bound, not listening: free for the probe, but
 * nobody else can take them meanwhile), and made "taken" by listen()ing on
 * them, in this process or in a forked child that holds the socket. Covers
 * slot_pick, slot_port_wants, slot_alloc_ports (nominal, bump bands,
 * strict_port, pins, previous ports, other sessions' records, exhaustion,
 * ports beyond 65535) and slot_holder_text.
 */
#include "util/common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "probe/probe.h"
#include "store/slot.h"
#include "store/state.h"
#include "tap.h"

#define BAND_MAX 16

/* ---- helpers ---------------------------------------------------------- */

/* Bind 127.0.0.1:port (0: any) without listening; the fd, or -errno. */
static int bind_port(unsigned port, unsigned *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sa);
	int fd, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (ret_port)
		*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* Ports P, P + step, ..., P + (n - 1) * step, all reserved by us and free
 * as far as the probe can see. */
struct band {
	unsigned port[BAND_MAX];
	int fd[BAND_MAX];
	size_t n;
};

static void band_reserve(struct band *b, size_t n, unsigned step)
{
	ASSERT_TRUE(n >= 1 && n <= BAND_MAX);
	for (int attempt = 0; attempt < 500; attempt++) {
		struct probe p;
		bool ok = true;
		size_t got = 1;

		b->fd[0] = bind_port(0, &b->port[0]);
		ASSERT_TRUE(b->fd[0] >= 0);
		/* leave room below for the base of slot 1 (and of stride 8) */
		if (b->port[0] < 1024 || b->port[0] + (n - 1) * step > 65535)
			ok = false;
		for (; ok && got < n; got++) {
			b->port[got] = b->port[0] + (unsigned)got * step;
			b->fd[got] = bind_port(b->port[got], NULL);
			if (b->fd[got] < 0)
				ok = false;
		}
		if (ok) {
			ASSERT_OK(probe_init(&p));
			for (size_t i = 0; i < n; i++)
				ok &= !probe_listening(&p, (uint16_t)b->port[i]);
			probe_finish(&p);
		}
		if (ok) {
			b->n = n;
			return;
		}
		for (size_t i = 0; i < got && i < n; i++)
			if (b->fd[i] >= 0)
				close(b->fd[i]);
	}
	tap_fail(__FILE__, __LINE__, "no free band of ports on 127.0.0.1");
}

static void band_listen(struct band *b, size_t i)
{
	ASSERT_TRUE(i < b->n);
	ASSERT_OK(listen(b->fd[i], 8));
}

static void band_release(struct band *b)
{
	for (size_t i = 0; i < b->n; i++)
		close(b->fd[i]);
	b->n = 0;
}

/* A child that holds fd (listening) until *ret_release is closed; our copy
 * of fd is closed, so the child is the only holder. */
static pid_t hold_in_child(int fd, int *ret_release)
{
	int ready[2], hold[2];
	char c;
	pid_t pid;

	ASSERT_OK(pipe2(ready, O_CLOEXEC));
	ASSERT_OK(pipe2(hold, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ASSERT_EQ_INT(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(fd);
	*ret_release = hold[1];
	return pid;
}

static void child_stop(pid_t pid, int release)
{
	int status;

	close(release);
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
}

static void load_config(struct config *c, const char *text)
{
	char *cause = NULL;

	if (config_load_string(c, "/repo", text, ".berth.ini", &cause) < 0) {
		printf("# config:\n%s", text);
		tap_fail(__FILE__, __LINE__, cause ? cause : "config_load_string failed");
	}
}

/* A config with service web on nominal port web_port and extra hmr on
 * hmr_port (0: none) in slot 1. */
static void web_config(struct config *c, unsigned max_slots, unsigned stride, unsigned range,
		       bool strict, unsigned web_port, unsigned hmr_port)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb,
		    "[berth]\nmax_slots = %u\nslot_stride = %u\nport_search_range = %u\n"
		    "strict_port = %s\n\n[service \"web\"]\ncommand = ./web\nbase_port = %u\n",
		    max_slots, stride, range, strict ? "true" : "false", web_port - stride);
	if (hmr_port)
		strbuf_addf(&sb, "extra_ports = hmr:%u\n", hmr_port - stride);
	load_config(c, sb.buf);
	strbuf_release(&sb);
}

struct alloc {
	struct port_alloc_input in;
	struct port_rec *out;
	size_t n;
	char *cause;
	int r;
};

static void alloc_run(struct alloc *a)
{
	struct probe p;

	a->out = NULL;
	a->n = 0;
	a->cause = NULL;
	ASSERT_OK(probe_init(&p));
	a->r = slot_alloc_ports(&a->in, &p, &a->out, &a->n, &a->cause);
	probe_finish(&p);
	if (a->cause)
		printf("# cause: %s\n", a->cause);
	if (a->r >= 0)
		ASSERT_TRUE(a->cause == NULL);
	else
		ASSERT_TRUE(a->cause != NULL);
}

static void alloc_finish(struct alloc *a)
{
	ports_free(a->out, a->n);
	free(a->cause);
	a->out = NULL;
	a->n = 0;
	a->cause = NULL;
}

static unsigned out_port(const struct alloc *a, const char *name)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->out[i].name, name))
			return a->out[i].port;
	tap_fail(__FILE__, __LINE__, "port name missing from the allocation");
	return 0;
}

/* ---- slot_pick ---------------------------------------------------------- */

static void test_pick(void)
{
	bool used[9] = {false};

	ASSERT_EQ_INT(slot_pick(used, 8), 1);
	used[1] = true;
	ASSERT_EQ_INT(slot_pick(used, 8), 2);
	used[2] = used[3] = used[5] = true;
	ASSERT_EQ_INT(slot_pick(used, 8), 4); /* lowest free, not next after highest */
	for (int i = 1; i <= 8; i++)
		used[i] = true;
	ASSERT_EQ_INT(slot_pick(used, 8), -ENOSPC);
	used[8] = false;
	ASSERT_EQ_INT(slot_pick(used, 8), 8);
	ASSERT_EQ_INT(slot_pick(used, 7), -ENOSPC);
	used[0] = false; /* slot 0 is never handed out */
	ASSERT_EQ_INT(slot_pick(used, 0), -ENOSPC);
}

/* ---- slot_port_wants ---------------------------------------------------- */

static void test_port_wants(void)
{
	struct port_want *w = NULL;
	struct config c;
	size_t n = 0;

	load_config(&c, "[berth]\nmode = hybrid\n\n"
			"[service \"web\"]\ncommand = ./web\nbase_port = 3000\n"
			"extra_ports = hmr:24678 debug:9229\n\n"
			"[service \"worker\"]\ncommand = ./worker\nextra_ports = metrics:9100\n\n"
			"[service \"cron\"]\ncommand = ./cron\n\n"
			"[service \"db\"]\nrun = docker\nbase_port = 5432\nhost_port = 15432\n");
	slot_port_wants(&c, &w, &n);
	ASSERT_EQ_INT(n, 5);
	ASSERT_STREQ(w[0].name, "web");
	ASSERT_STREQ(w[0].service, "web");
	ASSERT_TRUE(w[0].extra == NULL);
	ASSERT_EQ_INT(w[0].base, 3000);
	ASSERT_STREQ(w[1].name, "web.hmr");
	ASSERT_STREQ(w[1].service, "web");
	ASSERT_STREQ(w[1].extra, "hmr");
	ASSERT_EQ_INT(w[1].base, 24678);
	ASSERT_STREQ(w[2].name, "web.debug");
	ASSERT_EQ_INT(w[2].base, 9229);
	ASSERT_STREQ(w[3].name, "worker.metrics"); /* an extra without a main port */
	ASSERT_STREQ(w[3].service, "worker");
	ASSERT_EQ_INT(w[3].base, 9100);
	ASSERT_STREQ(w[4].name, "db");
	ASSERT_EQ_INT(w[4].base, 15432); /* host_port is the base of the host side */
	ASSERT_TRUE(w[4].service == c.services[3].name);
	port_wants_free(w, n);
	config_finish(&c);

	/* no ports at all */
	load_config(&c, "[service \"a\"]\ncommand = true\n");
	slot_port_wants(&c, &w, &n);
	ASSERT_EQ_INT(n, 0);
	port_wants_free(w, n);
	config_finish(&c);
	port_wants_free(NULL, 0);
}

static void test_recorded_port(void)
{
	struct port_rec v[] = {{.name = (char *)"web", .port = 3001, .slug = (char *)"a"},
			       {.name = (char *)"api", .port = 4001, .slug = (char *)"b"}};

	ASSERT_TRUE(slot_recorded_port(v, 2, 4001) == &v[1]);
	ASSERT_TRUE(slot_recorded_port(v, 2, 3001) == &v[0]);
	ASSERT_TRUE(slot_recorded_port(v, 2, 3002) == NULL);
	ASSERT_TRUE(slot_recorded_port(NULL, 0, 3001) == NULL);
}

/* ---- slot_alloc_ports --------------------------------------------------- */

static void test_alloc_nominal_when_free(void)
{
	struct band web, hmr;
	struct config c;
	struct alloc a = {0};

	band_reserve(&web, 1, 1);
	band_reserve(&hmr, 1, 1);
	web_config(&c, 8, 1, 10, false, web.port[0], hmr.port[0]);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(a.n, 2);
	ASSERT_STREQ(a.out[0].name, "web");
	ASSERT_EQ_INT(a.out[0].port, web.port[0]);
	ASSERT_STREQ(a.out[1].name, "web.hmr");
	ASSERT_EQ_INT(a.out[1].port, hmr.port[0]);
	ASSERT_TRUE(a.out[0].slug == NULL);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&web);
	band_release(&hmr);
}

static void test_alloc_slot_and_stride(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	char *text;

	/* slot 3 with stride 10: base + 30 */
	band_reserve(&b, 1, 1);
	text = xasprintf("[berth]\nslot_stride = 10\n[service \"web\"]\ncommand = x\n"
			 "base_port = %u\n",
			 b.port[0] - 30);
	load_config(&c, text);
	free(text);
	a.in = (struct port_alloc_input){.config = &c, .slot = 3, .slug = "me"};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_bumps_past_listener(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};

	/* max_slots 4, stride 2: one bump band is 8 ports */
	band_reserve(&b, 3, 8);
	web_config(&c, 4, 2, 10, false, b.port[0], 0);
	band_listen(&b, 0);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[1]);
	alloc_finish(&a);

	/* the first band taken too: the second */
	band_listen(&b, 1);
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[2]);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_skips_recorded_port(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	struct port_rec rec[] = {{.name = (char *)"api", .slug = (char *)"other"}};
	struct port_rec mine[] = {{.name = (char *)"web", .slug = (char *)"me"}};

	band_reserve(&b, 2, 8);
	web_config(&c, 8, 1, 10, false, b.port[0], 0);

	/* recorded by another session, nothing listening: still not handed out */
	rec[0].port = b.port[0];
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .recorded = rec, .n_recorded = 1};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[1]);
	alloc_finish(&a);

	/* recorded by this very session: ours to keep */
	mine[0].port = b.port[0];
	a.in.recorded = mine;
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_two_services_same_nominal(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	char *text;

	/* two ports of one session never get the same number */
	band_reserve(&b, 2, 8);
	text = xasprintf("[service \"web\"]\ncommand = x\nbase_port = %u\n"
			 "[service \"api\"]\ncommand = y\nbase_port = %u\n",
			 b.port[0] - 1, b.port[0] - 1);
	load_config(&c, text);
	free(text);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	ASSERT_EQ_INT(out_port(&a, "api"), b.port[1]);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_strict_port_names_holder(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	int release;
	pid_t holder;
	char *want;

	band_reserve(&b, 2, 8);
	web_config(&c, 8, 1, 10, true, b.port[0], 0);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};

	/* free: strict changes nothing */
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	alloc_finish(&a);

	/* held by another process: an error naming it, never a bump */
	band_listen(&b, 0);
	holder = hold_in_child(b.fd[0], &release);
	b.fd[0] = bind_port(0, NULL); /* keep band_release's close harmless */
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	ASSERT_TRUE(a.out == NULL);
	want = xasprintf("port %u for 'web' is held by pid %d (", b.port[0], (int)holder);
	ASSERT_CONTAINS(a.cause, want);
	free(want);
	ASSERT_CONTAINS(a.cause, "strict_port");
	ASSERT_CONTAINS(a.cause, "--port web=PORT");
	alloc_finish(&a);
	child_stop(holder, release);

	/* recorded by another session: the error names the session */
	{
		struct port_rec rec[] = {
			{.name = (char *)"api", .port = b.port[1], .slug = (char *)"feat-b"}};

		config_finish(&c);
		web_config(&c, 8, 1, 10, true, b.port[1], 0);
		a.in.recorded = rec;
		a.in.n_recorded = 1;
		alloc_run(&a);
		ASSERT_EQ_INT(a.r, -EADDRINUSE);
		ASSERT_CONTAINS(a.cause, "recorded by session 'feat-b' (api)");
		alloc_finish(&a);
	}
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_pins(void)
{
	struct band b, pin;
	struct config c;
	struct alloc a = {0};
	struct port_rec pins[] = {{.name = (char *)"web"}};
	struct port_rec rec[] = {{.name = (char *)"web", .slug = (char *)"feat-b"}};
	char *want;

	band_reserve(&b, 1, 1);
	band_reserve(&pin, 1, 1);
	web_config(&c, 8, 1, 10, false, b.port[0], 0);
	pins[0].port = pin.port[0];
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .pins = pins, .n_pins = 1};

	/* a free pin is used as given */
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), pin.port[0]);
	alloc_finish(&a);

	/* a pin recorded by another session */
	rec[0].port = pin.port[0];
	a.in.recorded = rec;
	a.in.n_recorded = 1;
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	want = xasprintf("--port web=%u: port", pin.port[0]);
	ASSERT_CONTAINS(a.cause, want);
	free(want);
	ASSERT_CONTAINS(a.cause, "recorded by session 'feat-b'");
	alloc_finish(&a);
	a.in.recorded = NULL;
	a.in.n_recorded = 0;

	/* a pin somebody listens on: an error, not a bump */
	band_listen(&pin, 0);
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	want = xasprintf("--port web=%u: port %u is held by pid %d (", pin.port[0], pin.port[0],
			 (int)getpid());
	ASSERT_CONTAINS(a.cause, want);
	free(want);
	alloc_finish(&a);

	config_finish(&c);
	band_release(&b);
	band_release(&pin);
}

static void test_alloc_unknown_pin(void)
{
	struct band web, hmr;
	struct config c;
	struct alloc a = {0};
	struct port_rec pins[] = {{.name = (char *)"web", .port = 0},
				  {.name = (char *)"wbe", .port = 3001}};

	band_reserve(&web, 1, 1);
	band_reserve(&hmr, 1, 1);
	web_config(&c, 8, 1, 10, false, web.port[0], hmr.port[0]);
	pins[0].port = web.port[0];
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .pins = pins, .n_pins = 2};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -ENOENT);
	ASSERT_CONTAINS(a.cause, "--port wbe=3001: no port named 'wbe'");
	ASSERT_CONTAINS(a.cause, "the ports of this config are: web, web.hmr");
	alloc_finish(&a);
	config_finish(&c);

	/* a config without ports says so */
	load_config(&c, "[service \"a\"]\ncommand = true\n");
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .pins = pins + 1, .n_pins = 1};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -ENOENT);
	ASSERT_CONTAINS(a.cause, "(none)");
	alloc_finish(&a);
	config_finish(&c);
	band_release(&web);
	band_release(&hmr);
}

static void test_alloc_previous_ports(void)
{
	struct band b, prev;
	struct config c;
	struct alloc a = {0};
	struct port_rec previous[] = {{.name = (char *)"web"}};
	struct port_rec rec[] = {{.name = (char *)"web", .slug = (char *)"feat-b"}};

	band_reserve(&b, 1, 1);
	band_reserve(&prev, 1, 1);
	web_config(&c, 8, 1, 10, false, b.port[0], 0);
	previous[0].port = prev.port[0];
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .previous = previous, .n_previous = 1};

	/* a resumed session keeps its port while it is free */
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), prev.port[0]);
	alloc_finish(&a);

	/* since recorded by somebody else: back to the nominal port */
	rec[0].port = prev.port[0];
	a.in.recorded = rec;
	a.in.n_recorded = 1;
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	alloc_finish(&a);
	a.in.recorded = NULL;
	a.in.n_recorded = 0;

	/* taken by a listener meanwhile: the nominal port, silently */
	band_listen(&prev, 0);
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[0]);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
	band_release(&prev);
}

static void test_alloc_range_exhausted(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	char *want;

	/* max_slots 2, stride 1, range 2: candidates P, P+2, P+4 */
	band_reserve(&b, 4, 2);
	web_config(&c, 2, 1, 2, false, b.port[0], 0);
	for (size_t i = 0; i < 3; i++)
		band_listen(&b, i);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	ASSERT_TRUE(a.out == NULL && a.n == 0);
	want = xasprintf("no free port for 'web': port %u is held by pid %d (", b.port[0],
			 (int)getpid());
	ASSERT_CONTAINS(a.cause, want);
	free(want);
	ASSERT_CONTAINS(a.cause, "2 bump candidates (+2 each, up to 65535) are taken too");
	ASSERT_CONTAINS(a.cause, "port_search_range");
	alloc_finish(&a);

	/* one more band allowed: P+6 */
	config_finish(&c);
	web_config(&c, 2, 1, 3, false, b.port[0], 0);
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(out_port(&a, "web"), b.port[3]);
	alloc_finish(&a);

	/* port_search_range = 0: no bump at all */
	config_finish(&c);
	web_config(&c, 2, 1, 0, false, b.port[0], 0);
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_bumps_stop_at_65535(void)
{
	struct config c;
	struct alloc a = {0};
	struct port_rec rec[] = {{.name = (char *)"x", .port = 65530, .slug = (char *)"other"}};

	/* nominal 65530 is taken (recorded elsewhere) and the first bump would be
	 * 65530 + 64 > 65535: no candidate, an error, no wrap-around */
	load_config(&c, "[berth]\nmax_slots = 64\n[service \"web\"]\ncommand = x\n"
			"base_port = 65529\n");
	a.in = (struct port_alloc_input){
		.config = &c, .slot = 1, .slug = "me", .recorded = rec, .n_recorded = 1};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -EADDRINUSE);
	ASSERT_CONTAINS(a.cause, "no free port for 'web': port 65530 is recorded by session "
				 "'other' (x)");
	alloc_finish(&a);
	config_finish(&c);
}

static void test_alloc_beyond_65535(void)
{
	struct band b;
	struct config c;
	struct alloc a = {0};
	char *text;

	band_reserve(&b, 1, 1);
	/* web fits, the extra port of slot 1 does not */
	text = xasprintf("[service \"web\"]\ncommand = x\nbase_port = %u\n"
			 "extra_ports = hmr:65535\n",
			 b.port[0] - 1);
	load_config(&c, text);
	free(text);
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -ERANGE);
	ASSERT_TRUE(a.out == NULL && a.n == 0);
	ASSERT_CONTAINS(a.cause, "port 'web.hmr' of slot 1 is beyond 65535");
	alloc_finish(&a);
	config_finish(&c);

	/* host_port counts, not base_port */
	load_config(&c, "[berth]\nmode = hybrid\n[service \"db\"]\nrun = docker\nbase_port = 5432\n"
			"host_port = 65534\n");
	a.in = (struct port_alloc_input){.config = &c, .slot = 2, .slug = "me"};
	alloc_run(&a);
	ASSERT_EQ_INT(a.r, -ERANGE);
	ASSERT_CONTAINS(a.cause, "port 'db' of slot 2 is beyond 65535");
	alloc_finish(&a);
	config_finish(&c);
	band_release(&b);
}

static void test_alloc_no_ports(void)
{
	struct config c;
	struct alloc a = {0};

	load_config(&c, "[service \"a\"]\ncommand = true\n");
	a.in = (struct port_alloc_input){.config = &c, .slot = 1, .slug = "me"};
	alloc_run(&a);
	ASSERT_OK(a.r);
	ASSERT_EQ_INT(a.n, 0);
	alloc_finish(&a);
	config_finish(&c);
}

/* ---- slot_holder_text --------------------------------------------------- */

static void test_holder_text(void)
{
	struct port_holder proc = {.kind = HOLDER_PROCESS, .uid = 0, .pid = 4242};
	struct port_holder hidden = {.kind = HOLDER_HIDDEN, .uid = 1001};
	struct port_holder free_ = {.kind = HOLDER_FREE};
	struct port_rec rec = {.name = (char *)"web", .port = 3001, .slug = (char *)"feat-b"};
	struct port_rec noslug = {.name = (char *)"web", .port = 3001};
	struct passwd *pw = getpwuid(0);
	char *t, *want;

	snprintf(proc.comm, sizeof(proc.comm), "node");
	proc.cmdline = (char *)"node server.js --port 3001";
	ASSERT_TRUE(pw != NULL);

	t = slot_holder_text(&proc, NULL);
	want = xasprintf("pid 4242 (node) of user %s: node server.js --port 3001", pw->pw_name);
	ASSERT_STREQ(t, want);
	free(want);
	free(t);

	/* a uid without a user name */
	proc.uid = 3999999;
	proc.cmdline = NULL;
	t = slot_holder_text(&proc, NULL);
	ASSERT_STREQ(t, "pid 4242 (node) of uid 3999999");
	free(t);
	proc.cmdline = (char *)"";
	t = slot_holder_text(&proc, NULL);
	ASSERT_STREQ(t, "pid 4242 (node) of uid 3999999");
	free(t);

	t = slot_holder_text(&hidden, NULL);
	ASSERT_STREQ(t, "a process of uid 1001 (owner not visible)");
	free(t);

	t = slot_holder_text(NULL, &rec);
	ASSERT_STREQ(t, "session 'feat-b' (web)");
	free(t);
	t = slot_holder_text(&free_, &rec);
	ASSERT_STREQ(t, "session 'feat-b' (web)");
	free(t);

	t = slot_holder_text(&proc, &rec);
	ASSERT_STREQ(t, "session 'feat-b' (web), listening: pid 4242 (node) of uid 3999999");
	free(t);
	t = slot_holder_text(&hidden, &rec);
	ASSERT_STREQ(t, "session 'feat-b' (web), listening: a process of uid 1001 (owner not "
			"visible)");
	free(t);

	t = slot_holder_text(&free_, NULL);
	ASSERT_STREQ(t, "nobody");
	free(t);
	t = slot_holder_text(NULL, NULL);
	ASSERT_STREQ(t, "nobody");
	free(t);
	t = slot_holder_text(NULL, &noslug); /* a record without its slug names nobody */
	ASSERT_STREQ(t, "nobody");
	free(t);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_pick),
	TAP_TEST(test_port_wants),
	TAP_TEST(test_recorded_port),
	TAP_TEST(test_alloc_nominal_when_free),
	TAP_TEST(test_alloc_slot_and_stride),
	TAP_TEST(test_alloc_bumps_past_listener),
	TAP_TEST(test_alloc_skips_recorded_port),
	TAP_TEST(test_alloc_two_services_same_nominal),
	TAP_TEST(test_alloc_strict_port_names_holder),
	TAP_TEST(test_alloc_pins),
	TAP_TEST(test_alloc_unknown_pin),
	TAP_TEST(test_alloc_previous_ports),
	TAP_TEST(test_alloc_range_exhausted),
	TAP_TEST(test_alloc_bumps_stop_at_65535),
	TAP_TEST(test_alloc_beyond_65535),
	TAP_TEST(test_alloc_no_ports),
	TAP_TEST(test_holder_text),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
