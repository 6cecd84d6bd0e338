/*
 * test_config.c: .berth.ini parsing (every type and every error with its
 * line), config show round trip, defaults, the prefix, and config_validate:
 * the port gap at its exact boundary, cycles, docker and compose checks.
 */
#include "util/common.h"

#include <ini.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "tap.h"

/* Debian's libinih exports its build options as variables; other builds may
 * not, so they are referenced weakly and the test using them skips. */
#pragma weak ini_allow_inline_comments
#pragma weak ini_inline_comment_prefixes
#pragma weak ini_max_line
#pragma weak ini_allow_multiline

/* ---- helpers ---- */

static void load_at(struct config *c, const char *root, const char *text, const char *file,
		    int line)
{
	char *cause = NULL;

	if (config_load_string(c, root, text, ".berth.ini", &cause) < 0)
		tap_fail(file, line, cause ? cause : "config_load_string failed");
	free(cause);
}
#define LOAD(c, text) load_at((c), "/repo/app", (text), __FILE__, __LINE__)

static void expect_err_at(const char *text, const char *want, const char *file, int line)
{
	struct config c;
	char *cause = NULL;
	int r = config_load_string(&c, "/repo/app", text, ".berth.ini", &cause);

	if (r != -EINVAL) {
		char m[128];

		snprintf(m, sizeof(m), "config_load_string returned %d, expected -EINVAL", r);
		if (r >= 0)
			config_finish(&c);
		tap_fail(file, line, m);
	}
	if (!cause || strcmp(cause, want)) {
		char *m = xasprintf("error \"%s\" != \"%s\"", cause ? cause : "(null)", want);

		tap_fail(file, line, m);
	}
	/* On error c is finished: zeroed, nothing to free. */
	if (c.n_services || c.services || c.prefix || c.root)
		tap_fail(file, line, "config not finished after an error");
	free(cause);
}
#define EXPECT_ERR(text, want) expect_err_at((text), (want), __FILE__, __LINE__)

static const char *find_issue(const struct config_issues *is, bool error, const char *needle)
{
	for (size_t i = 0; i < is->n; i++)
		if (is->v[i].error == error && strstr(is->v[i].msg, needle))
			return is->v[i].msg;
	return NULL;
}

static void assert_issue_at(const struct config_issues *is, bool error, const char *needle,
			    const char *file, int line)
{
	struct strbuf sb = STRBUF_INIT;

	if (find_issue(is, error, needle))
		return;
	strbuf_addf(&sb, "no %s containing \"%s\"; issues:", error ? "error" : "warning", needle);
	for (size_t i = 0; i < is->n; i++)
		strbuf_addf(&sb, "\n#     %s: %s", is->v[i].error ? "error" : "warning",
			    is->v[i].msg);
	tap_fail(file, line, sb.buf);
}
#define ASSERT_ISSUE(is, error, needle) assert_issue_at((is), (error), (needle), __FILE__, __LINE__)

static void dump_issues(const struct config_issues *is)
{
	for (size_t i = 0; i < is->n; i++)
		printf("#   %s: %s\n", is->v[i].error ? "error" : "warning", is->v[i].msg);
}

static int validate_text(const char *text, struct config_issues *is)
{
	struct config c;
	int n;

	LOAD(&c, text);
	n = config_validate(&c, is);
	config_finish(&c);
	return n;
}

static char *repeat(char ch, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

static char *make_tmpdir(void)
{
	char *d = xstrdup("/tmp/berth-test-config-XXXXXX");

	if (!mkdtemp(d))
		tap_fail(__FILE__, __LINE__, "mkdtemp failed");
	return d;
}

/* ---- defaults and types ---- */

static void test_defaults(void)
{
	struct config c;

	config_init(&c, "/home/u/src/app");
	ASSERT_EQ_INT(c.mode, MODE_HOST);
	ASSERT_EQ_INT(c.runner, RUNNER_PROCESS);
	ASSERT_EQ_INT(c.max_slots, 8);
	ASSERT_EQ_INT(c.slot_stride, 1);
	ASSERT_EQ_INT(c.port_search_range, 10);
	ASSERT_FALSE(c.strict_port);
	ASSERT_STREQ(c.worktree_dir, ".berth/worktrees");
	ASSERT_STREQ(c.compose_file, "docker-compose.yml");
	ASSERT_EQ_INT(c.inherit_env.n, 2);
	ASSERT_STREQ(c.inherit_env.v[0], ".env");
	ASSERT_STREQ(c.inherit_env.v[1], ".env.local");
	ASSERT_EQ_INT(c.inherit_env_mode, INHERIT_SYMLINK);
	ASSERT_EQ_INT(c.stop_grace_ms, 5000);
	ASSERT_EQ_INT(c.startup_window_ms, 1500);
	ASSERT_EQ_INT(c.hooks.timeout_ms, 600000);
	ASSERT_TRUE(c.hooks.pre_up == NULL && c.hooks.post_down == NULL);
	ASSERT_EQ_INT(c.n_services, 0);
	ASSERT_STREQ(c.root, "/home/u/src/app");
	ASSERT_TRUE(c.path == NULL);
	ASSERT_TRUE(!strncmp(c.prefix, "app-", 4) && strlen(c.prefix) == 10);
	config_finish(&c);
	ASSERT_TRUE(c.prefix == NULL && c.root == NULL);
	config_finish(&c); /* twice is fine: zeroed */
}

static void test_empty_file(void)
{
	struct config c;

	LOAD(&c, "");
	ASSERT_EQ_INT(c.n_services, 0);
	ASSERT_EQ_INT(c.max_slots, 8);
	config_finish(&c);
	LOAD(&c, "; only a comment\n\n# another\n   \n");
	ASSERT_EQ_INT(c.n_services, 0);
	config_finish(&c);
}

static void test_service_defaults(void)
{
	struct config c;
	const struct service_config *s;

	LOAD(&c, "[service \"web\"]\ncommand = x\n");
	s = config_service(&c, "web");
	ASSERT_TRUE(s != NULL);
	ASSERT_EQ_INT(s->line, 1);
	ASSERT_EQ_INT(s->run, RUN_NATIVE);
	ASSERT_TRUE(s->cwd == NULL);
	ASSERT_EQ_INT(s->base_port, 0);
	ASSERT_EQ_INT(s->host_port, 0);
	ASSERT_EQ_INT(s->port_env.n, 0);
	ASSERT_EQ_INT(s->n_extra, 0);
	ASSERT_EQ_INT(s->env.n, 0);
	ASSERT_STREQ(s->ready, "none");
	ASSERT_EQ_INT(s->ready_timeout_ms, 60000);
	ASSERT_EQ_INT(s->depends_on.n, 0);
	ASSERT_EQ_INT(s->restart, RESTART_NO);
	ASSERT_EQ_INT(s->stop_signal, SIGTERM);
	ASSERT_FALSE(s->oneshot);
	ASSERT_TRUE(config_service(&c, "api") == NULL);
	config_finish(&c);
}

static void test_every_type(void)
{
	struct config c;
	const struct service_config *w, *db;

	LOAD(&c, "[berth]\n"
		 "mode = hybrid\n"
		 "runner = tmux\n"
		 "max_slots = 64\n"
		 "slot_stride = 1000\n"
		 "port_search_range = 0\n"
		 "strict_port = yes\n"
		 "worktree_dir = /srv/wt\n"
		 "prefix = my_app-1\n"
		 "compose_file = deploy/compose.yaml\n"
		 "inherit_env = .env   config/.secrets\n"
		 "inherit_env_mode = copy\n"
		 "stop_grace = 250ms\n"
		 "startup_window = 2m\n"
		 "[service \"web\"]\n"
		 "command = npm run dev -- --port $PORT\n"
		 "cwd = apps/web\n"
		 "base_port = 3000\n"
		 "port_env = APP_PORT VITE_PORT\n"
		 "extra_ports = hmr:24678 debug:9229:NODE_DEBUG,DBG_PORT\n"
		 "env = NODE_ENV=development B=two\n"
		 "env = C=x=y\n"
		 "ready = http:/health\n"
		 "ready_timeout = 1h\n"
		 "depends_on = db  api\n"
		 "restart = on-failure\n"
		 "stop_signal = SIGINT\n"
		 "oneshot = false\n"
		 "[service \"db\"]\n"
		 "run = docker\n"
		 "base_port = 5432\n"
		 "host_port = 15432\n"
		 "stop_signal = 9\n"
		 "restart = always\n"
		 "[service \"api\"]\n"
		 "command = ./api\n"
		 "ready = log:listening on [0-9]+\n"
		 "oneshot = true\n"
		 "stop_signal = hup\n"
		 "[hooks]\n"
		 "pre_up = ./scripts/check-tools\n"
		 "pre_spawn = npm run db:migrate\n"
		 "post_up =\n"
		 "pre_down = echo bye ; true\n"
		 "post_down = rm -rf tmp # really\n"
		 "timeout = 30s\n");
	ASSERT_EQ_INT(c.mode, MODE_HYBRID);
	ASSERT_EQ_INT(c.runner, RUNNER_TMUX);
	ASSERT_EQ_INT(c.max_slots, 64);
	ASSERT_EQ_INT(c.slot_stride, 1000);
	ASSERT_EQ_INT(c.port_search_range, 0);
	ASSERT_TRUE(c.strict_port);
	ASSERT_STREQ(c.worktree_dir, "/srv/wt");
	ASSERT_STREQ(c.prefix, "my_app-1");
	ASSERT_STREQ(c.compose_file, "deploy/compose.yaml");
	ASSERT_EQ_INT(c.inherit_env.n, 2);
	ASSERT_STREQ(c.inherit_env.v[1], "config/.secrets");
	ASSERT_EQ_INT(c.inherit_env_mode, INHERIT_COPY);
	ASSERT_EQ_INT(c.stop_grace_ms, 250);
	ASSERT_EQ_INT(c.startup_window_ms, 120000);
	ASSERT_EQ_INT(c.n_services, 3);

	w = &c.services[0];
	ASSERT_STREQ(w->name, "web");
	ASSERT_EQ_INT(w->line, 15);
	ASSERT_STREQ(w->command, "npm run dev -- --port $PORT");
	ASSERT_STREQ(w->cwd, "apps/web");
	ASSERT_EQ_INT(w->base_port, 3000);
	ASSERT_EQ_INT(w->port_env.n, 2);
	ASSERT_STREQ(w->port_env.v[1], "VITE_PORT");
	ASSERT_EQ_INT(w->n_extra, 2);
	ASSERT_STREQ(w->extra[0].name, "hmr");
	ASSERT_EQ_INT(w->extra[0].base, 24678);
	ASSERT_EQ_INT(w->extra[0].env.n, 0);
	ASSERT_STREQ(w->extra[1].name, "debug");
	ASSERT_EQ_INT(w->extra[1].base, 9229);
	ASSERT_EQ_INT(w->extra[1].env.n, 2);
	ASSERT_STREQ(w->extra[1].env.v[0], "NODE_DEBUG");
	ASSERT_STREQ(w->extra[1].env.v[1], "DBG_PORT");
	ASSERT_EQ_INT(w->env.n, 3);
	ASSERT_STREQ(w->env.v[0], "NODE_ENV=development");
	ASSERT_STREQ(w->env.v[1], "B=two");
	ASSERT_STREQ(w->env.v[2], "C=x=y");
	ASSERT_STREQ(w->ready, "http:/health");
	ASSERT_EQ_INT(w->ready_timeout_ms, 3600000);
	ASSERT_EQ_INT(w->depends_on.n, 2);
	ASSERT_STREQ(w->depends_on.v[0], "db");
	ASSERT_STREQ(w->depends_on.v[1], "api");
	ASSERT_EQ_INT(w->restart, RESTART_ON_FAILURE);
	ASSERT_EQ_INT(w->stop_signal, SIGINT);
	ASSERT_FALSE(w->oneshot);

	db = config_service(&c, "db");
	ASSERT_EQ_INT(db->run, RUN_DOCKER);
	ASSERT_TRUE(db->command == NULL);
	ASSERT_EQ_INT(db->base_port, 5432);
	ASSERT_EQ_INT(db->host_port, 15432);
	ASSERT_EQ_INT(db->stop_signal, 9);
	ASSERT_EQ_INT(db->restart, RESTART_ALWAYS);
	ASSERT_STREQ(db->ready, "port");

	ASSERT_STREQ(c.services[2].ready, "log:listening on [0-9]+");
	ASSERT_TRUE(c.services[2].oneshot);
	ASSERT_EQ_INT(c.services[2].stop_signal, SIGHUP);

	ASSERT_STREQ(c.hooks.pre_up, "./scripts/check-tools");
	ASSERT_STREQ(c.hooks.pre_spawn, "npm run db:migrate");
	ASSERT_TRUE(c.hooks.post_up == NULL);
	ASSERT_STREQ(c.hooks.pre_down, "echo bye ; true");
	ASSERT_STREQ(c.hooks.post_down, "rm -rf tmp # really");
	ASSERT_EQ_INT(c.hooks.timeout_ms, 30000);
	config_finish(&c);
}

static void test_signals(void)
{
	static const struct {
		const char *text;
		int sig;
	} cases[] = {
		{"TERM", SIGTERM},    {"SIGTERM", SIGTERM}, {"INT", SIGINT},   {"KILL", SIGKILL},
		{"HUP", SIGHUP},      {"QUIT", SIGQUIT},    {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
		{"sigusr2", SIGUSR2}, {"15", 15},           {"64", 64},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct config c;
		char *text = xasprintf("[service \"a\"]\nstop_signal = %s\n", cases[i].text);

		LOAD(&c, text);
		ASSERT_EQ_INT(c.services[0].stop_signal, cases[i].sig);
		config_finish(&c);
		free(text);
	}
}

static void test_ready_values(void)
{
	struct config c;

	LOAD(&c, "[service \"a\"]\nbase_port = 4000\n"
		 "[service \"b\"]\n"
		 "[service \"c\"]\nready = exec:pg_isready -h localhost ; true\n"
		 "[service \"d\"]\nbase_port = 4100\nready = none\n");
	ASSERT_STREQ(c.services[0].ready, "port"); /* default with a base_port */
	ASSERT_STREQ(c.services[1].ready, "none"); /* default without */
	ASSERT_STREQ(c.services[2].ready, "exec:pg_isready -h localhost ; true");
	ASSERT_STREQ(c.services[3].ready, "none");
	config_finish(&c);
}

static void test_empty_values(void)
{
	struct config c;

	LOAD(&c, "[berth]\ninherit_env =\n[service \"a\"]\ncommand =\ncwd =\nbase_port =\n"
		 "host_port =\nport_env =\nextra_ports =\nenv =\ndepends_on =\n");
	ASSERT_EQ_INT(c.inherit_env.n, 0);
	ASSERT_TRUE(c.services[0].command == NULL);
	ASSERT_TRUE(c.services[0].cwd == NULL);
	ASSERT_EQ_INT(c.services[0].base_port, 0);
	ASSERT_EQ_INT(c.services[0].n_extra, 0);
	ASSERT_EQ_INT(c.services[0].env.n, 0);
	config_finish(&c);
}

/* ---- the lexer: bytes of values, comments, line ends ---- */

static void test_command_kept_verbatim(void)
{
	struct config c;

	LOAD(&c, "[service \"web\"]\ncommand = echo a ; echo b # not a comment\n");
	ASSERT_STREQ(c.services[0].command, "echo a ; echo b # not a comment");
	config_finish(&c);
}

static void test_value_bytes(void)
{
	struct config c;

	LOAD(&c, "[service \"web\"]\n"
		 "command=FOO=\"a ; b\" sh -c 'x=1;echo $x' \t  \n"
		 "[hooks]\n"
		 "pre_up =    a = b == c ;;\n"
		 "post_up = ;leading semicolon\n"
		 "pre_down = #leading hash\n"
		 "post_down = printf '%s\\n' \"q\"\n");
	ASSERT_STREQ(c.services[0].command, "FOO=\"a ; b\" sh -c 'x=1;echo $x'");
	ASSERT_STREQ(c.hooks.pre_up, "a = b == c ;;");
	ASSERT_STREQ(c.hooks.post_up, ";leading semicolon");
	ASSERT_STREQ(c.hooks.pre_down, "#leading hash");
	ASSERT_STREQ(c.hooks.post_down, "printf '%s\\n' \"q\"");
	config_finish(&c);
}

static void test_comments_whole_lines(void)
{
	struct config c;

	LOAD(&c, "; comment\n# comment\n[berth]\n   ; indented comment\n\t# tab comment\n"
		 "max_slots = 3\n\n[service \"a\"]\n;command = not this\ncommand = this\n");
	ASSERT_EQ_INT(c.max_slots, 3);
	ASSERT_STREQ(c.services[0].command, "this");
	config_finish(&c);
}

static void test_indented_keys(void)
{
	struct config c;

	/* Leading whitespace is ignored: an indented line is an ordinary line,
	 * never a continuation of the previous value. */
	LOAD(&c, "[service \"a\"]\n  command = one\n\tbase_port = 4000\n");
	ASSERT_STREQ(c.services[0].command, "one");
	ASSERT_EQ_INT(c.services[0].base_port, 4000);
	config_finish(&c);
}

static void test_long_command_kept(void)
{
	struct config c;
	char *cmd = repeat('x', 3000), *text;

	memcpy(cmd + 100, " ; ", 3);
	memcpy(cmd + 2000, " # ", 3);
	text = xasprintf("[service \"a\"]\ncommand = %s\n", cmd);
	LOAD(&c, text);
	ASSERT_EQ_INT(strlen(c.services[0].command), 3000);
	ASSERT_STREQ(c.services[0].command, cmd);
	config_finish(&c);
	free(text);
	free(cmd);
}

static void test_line_limit(void)
{
	struct config c;
	char *v = repeat('y', 4096 - strlen("command = ")), *text;

	/* exactly 4096 bytes: fine */
	text = xasprintf("[service \"a\"]\ncommand = %s\r\n", v);
	LOAD(&c, text);
	ASSERT_EQ_INT(strlen(c.services[0].command), 4096 - strlen("command = "));
	config_finish(&c);
	free(text);
	/* 4097 bytes: an error, never a silent cut */
	text = xasprintf("[service \"a\"]\ncommand = %sy\n", v);
	EXPECT_ERR(text, ".berth.ini:2: line too long (4097 bytes; the limit is 4096)");
	free(text);
	free(v);
}

static void test_line_5000_bytes(void)
{
	char *v = repeat('z', 5000 - strlen("command = ")), *text;

	text = xasprintf("[berth]\n\n[service \"a\"]\ncommand = %s\nbase_port = 1\n", v);
	EXPECT_ERR(text, ".berth.ini:4: line too long (5000 bytes; the limit is 4096)");
	free(text);
	free(v);
}

static void test_bom_crlf(void)
{
	struct config c;

	LOAD(&c, "\xef\xbb\xbf[berth]\r\nmax_slots = 4\r\n\r\n[service \"web\"]\r\n"
		 "command = echo a ; echo b\r\n");
	ASSERT_EQ_INT(c.max_slots, 4);
	ASSERT_STREQ(c.services[0].command, "echo a ; echo b");
	ASSERT_EQ_INT(c.services[0].line, 4);
	config_finish(&c);
	/* a final line without a newline */
	LOAD(&c, "[berth]\nmax_slots = 5");
	ASSERT_EQ_INT(c.max_slots, 5);
	config_finish(&c);
	/* line numbers count after a BOM and CRLF */
	EXPECT_ERR("\xef\xbb\xbf[berth]\r\n\r\nmax_slotz = 4\r\n",
		   ".berth.ini:3: unknown key 'max_slotz' in [berth] (did you mean 'max_slots'?)");
}

/* Whatever inih was built with (inline comments with ';' and '#', a short
 * line buffer, multi-line values), values arrive intact: the reader hands
 * inih only short canonical lines. */
static void test_any_inih_build(void)
{
	struct config c;
	char *cmd = repeat('w', 3000), *text;

	if (!&ini_max_line || !&ini_allow_inline_comments || !&ini_inline_comment_prefixes ||
	    !&ini_allow_multiline)
		tap_skip("this libinih exports no runtime options");
	ini_allow_inline_comments = true;
	ini_inline_comment_prefixes = (char *)";#";
	ini_allow_multiline = true;
	ini_max_line = 64;
	memcpy(cmd + 10, " ; # ", 5);
	text = xasprintf("[service \"abcdefghij-abcdefghij-abcdefghi\"]\ncommand = %s\n"
			 "  base_port = 4000\n[hooks]\npre_up = a ; b # c\n",
			 cmd);
	LOAD(&c, text);
	ASSERT_STREQ(c.services[0].command, cmd);
	ASSERT_EQ_INT(c.services[0].base_port, 4000);
	ASSERT_STREQ(c.hooks.pre_up, "a ; b # c");
	config_finish(&c);
	free(text);
	free(cmd);
}

/* ---- errors, each with its line ---- */

static void test_err_unknown_key(void)
{
	EXPECT_ERR("[berth]\nmode = host\n\n[service \"web\"]\nbase_port = 3000\n\n\n\n\n\n\n"
		   "comand = npm start\n",
		   ".berth.ini:12: unknown key 'comand' in [service \"web\"] (did you mean "
		   "'command'?)");
	EXPECT_ERR("[hooks]\ntimout = 5s\n",
		   ".berth.ini:2: unknown key 'timout' in [hooks] (did you mean 'timeout'?)");
	EXPECT_ERR("[berth]\nfoo = 1\n", ".berth.ini:2: unknown key 'foo' in [berth]");
	EXPECT_ERR("[service \"a\"]\nmax_slots = 2\n",
		   ".berth.ini:2: unknown key 'max_slots' in [service \"a\"] (max_slots belongs "
		   "in [berth])");
	EXPECT_ERR("[berth]\ncommand = x\n",
		   ".berth.ini:2: unknown key 'command' in [berth] (command belongs in [service "
		   "\"NAME\"])");
	/* keys are case-sensitive */
	EXPECT_ERR("[berth]\nMode = host\n",
		   ".berth.ini:2: unknown key 'Mode' in [berth] (did you mean 'mode'?)");
}

static void test_err_unknown_section(void)
{
	EXPECT_ERR("[berth]\n\n[servce \"x\"]\n",
		   ".berth.ini:3: unknown section [servce \"x\"] (did you mean [service \"x\"]?)");
	EXPECT_ERR("[hook]\n", ".berth.ini:1: unknown section [hook] (did you mean [hooks]?)");
	EXPECT_ERR("[general]\nmode = host\n",
		   ".berth.ini:1: unknown section [general]: expected [berth], [service "
		   "\"NAME\"], [hooks], [watch] or [database]");
	EXPECT_ERR("[berth \"x\"]\n", ".berth.ini:1: section [berth] takes no name: found [berth "
				      "\"x\"]");
}

static void test_err_section_header(void)
{
	EXPECT_ERR("[berth\n", ".berth.ini:1: missing ']' in section header '[berth'");
	EXPECT_ERR("[berth]\n[database] ; later\n",
		   ".berth.ini:2: unexpected text after ']' in '[database] ; later' (comments "
		   "must be on their own line)");
	EXPECT_ERR("[berth] x\n", ".berth.ini:1: unexpected text after ']' in '[berth] x'");
	EXPECT_ERR("[]\n", ".berth.ini:1: bad section header '[]': expected [NAME] or [NAME "
			   "\"SUBNAME\"]");
	EXPECT_ERR("[service \"a]\n", ".berth.ini:1: bad section header '[service \"a]': "
				      "expected [NAME] or [NAME \"SUBNAME\"]");
	EXPECT_ERR("[service \"a\" \"b\"]\n", ".berth.ini:1: bad section header '[service \"a\" "
					      "\"b\"]': expected [NAME] or [NAME \"SUBNAME\"]");
}

static void test_err_service_names(void)
{
	EXPECT_ERR("[service]\n", ".berth.ini:1: [service] needs a name: [service \"NAME\"]");
	EXPECT_ERR("\n[service web]\n", ".berth.ini:2: bad section header '[service web]': "
					"expected [NAME] or [NAME \"SUBNAME\"]");
	EXPECT_ERR("[service \"Web\"]\n",
		   ".berth.ini:1: invalid service name \"Web\": use 1 to 31 characters from a-z, "
		   "0-9, '_' and '-', starting with a letter or digit");
	EXPECT_ERR("[service \"\"]\n",
		   ".berth.ini:1: invalid service name \"\": use 1 to 31 characters from a-z, "
		   "0-9, '_' and '-', starting with a letter or digit");
	EXPECT_ERR("[service \"-web\"]\n",
		   ".berth.ini:1: invalid service name \"-web\": use 1 to 31 characters from "
		   "a-z, 0-9, '_' and '-', starting with a letter or digit");
	EXPECT_ERR("[service \"a.b\"]\n",
		   ".berth.ini:1: invalid service name \"a.b\": use 1 to 31 characters from "
		   "a-z, 0-9, '_' and '-', starting with a letter or digit");
	/* 31 characters fine, 32 not */
	{
		struct config c;

		LOAD(&c, "[service \"a123456789012345678901234567890\"]\n");
		ASSERT_EQ_INT(c.n_services, 1);
		config_finish(&c);
	}
	EXPECT_ERR(
		"[service \"a1234567890123456789012345678901\"]\n",
		".berth.ini:1: invalid service name \"a1234567890123456789012345678901\": use "
		"1 to 31 characters from a-z, 0-9, '_' and '-', starting with a letter or digit");
}

static void test_err_duplicate_service(void)
{
	/* even with no keys: sections are checked by the reader, not the handler */
	EXPECT_ERR("[service \"web\"]\ncommand = a\n[service \"api\"]\n[service \"web\"]\n",
		   ".berth.ini:4: duplicate service \"web\" (first defined on line 1)");
}

static void test_err_duplicate_key(void)
{
	struct config c;

	EXPECT_ERR("[berth]\nmax_slots = 3\nmode = host\nmax_slots = 4\n",
		   ".berth.ini:4: duplicate key 'max_slots' in [berth] (first set on line 2)");
	EXPECT_ERR(
		"[service \"a\"]\ncommand = x\ncommand = y\n",
		".berth.ini:3: duplicate key 'command' in [service \"a\"] (first set on line 2)");
	/* a re-opened [berth] still has one value per key */
	EXPECT_ERR("[berth]\nmode = host\n[hooks]\n[berth]\nmode = hybrid\n",
		   ".berth.ini:5: duplicate key 'mode' in [berth] (first set on line 2)");
	EXPECT_ERR("[hooks]\ntimeout = 1m\ntimeout = 2m\n",
		   ".berth.ini:3: duplicate key 'timeout' in [hooks] (first set on line 2)");
	/* the same key in two services is no duplicate */
	LOAD(&c, "[service \"a\"]\ncommand = x\n[service \"b\"]\ncommand = y\n[berth]\n"
		 "mode = host\n[berth]\nrunner = tmux\n");
	ASSERT_EQ_INT(c.runner, RUNNER_TMUX);
	config_finish(&c);
}

static void test_err_key_outside_section(void)
{
	EXPECT_ERR("; header\nmode = host\n",
		   ".berth.ini:2: key 'mode' outside any section: put it under [berth], [service "
		   "\"NAME\"] or [hooks]");
}

static void test_err_missing_equals(void)
{
	EXPECT_ERR("[berth]\nmode host\n",
		   ".berth.ini:2: missing '=' in 'mode host': expected 'key = value'");
	EXPECT_ERR("[berth]\nmode: host\n",
		   ".berth.ini:2: missing '=' in 'mode: host': expected 'key = value'");
	/* an indented line never continues the value above it */
	EXPECT_ERR("[service \"a\"]\ncommand = npm run dev\n    --port 3000\n",
		   ".berth.ini:3: missing '=' in '--port 3000': expected 'key = value' "
		   "(continuation lines are not supported: put the whole value on one line)");
	EXPECT_ERR("[service \"a\"]\ncommand = x\n    --port=3000\n",
		   ".berth.ini:3: invalid key '--port' (continuation lines are not supported: put "
		   "the whole value on one line)");
	EXPECT_ERR("[service \"a\"]\ncommand = x\n    more = 3000\n",
		   ".berth.ini:3: unknown key 'more' in [service \"a\"] (continuation lines are "
		   "not supported: put the whole value on one line)");
}

static void test_err_bad_keys(void)
{
	char *key = repeat('k', 65), *text, *want;

	EXPECT_ERR("[berth]\n= host\n", ".berth.ini:2: missing key before '='");
	EXPECT_ERR("[berth]\nmax slots = 1\n", ".berth.ini:2: invalid key 'max slots'");
	EXPECT_ERR("[berth]\n9lives = 1\n", ".berth.ini:2: invalid key '9lives'");
	text = xasprintf("[berth]\n%s = 1\n", key);
	want = xasprintf(".berth.ini:2: invalid key '%.60s...'", key);
	EXPECT_ERR(text, want);
	free(want);
	free(text);
	free(key);
}

static void test_database_section(void)
{
	struct config c;
	struct strbuf sb = STRBUF_INIT;
	char *s;

	LOAD(&c, "[berth]\nmode = host\n");
	ASSERT_TRUE(!c.database.enabled);
	config_finish(&c);
	LOAD(&c, "[database]\n; berth runs the server\n[berth]\nmode = host\n");
	ASSERT_TRUE(c.database.enabled);
	ASSERT_EQ_INT(c.database.line, 1);
	ASSERT_TRUE(c.database.url == NULL);
	ASSERT_TRUE(c.database.source == NULL);
	ASSERT_EQ_INT(c.database.port, 54320);
	ASSERT_EQ_INT(c.database.timeout_ms, 5000);
	config_finish(&c);
	LOAD(&c, "[database]\nengine = postgres\nurl = postgres://app:s3cret@db:5433/postgres\n"
		 "source = app_dev\nport = 41000\n");
	ASSERT_STREQ(c.database.url, "postgres://app:s3cret@db:5433/postgres");
	ASSERT_STREQ(c.database.source, "app_dev");
	ASSERT_EQ_INT(c.database.port, 41000);
	/* config show never prints the password */
	config_show(&c, &sb);
	ASSERT_CONTAINS(sb.buf, "url = postgres://app:***@db:5433/postgres\n");
	ASSERT_TRUE(strstr(sb.buf, "s3cret") == NULL);
	strbuf_release(&sb);
	config_finish(&c);
	EXPECT_ERR("[database]\nurl = mysql://app:s3cret@x/db\n",
		   ".berth.ini:2: bad value 'mysql://app:***@x/db' for url: expected "
		   "postgres://USER:PASSWORD@HOST:PORT/DB");
	EXPECT_ERR("[database]\nengine = mysql\n",
		   ".berth.ini:2: bad value 'mysql' for engine: expected postgres");
	EXPECT_ERR("[database]\nsource = x\nsource = y\n",
		   ".berth.ini:3: duplicate key 'source' in [database] (first set on line 2)");
	EXPECT_ERR("[database]\nsorce = x\n",
		   ".berth.ini:2: unknown key 'sorce' in [database] (did you mean 'source'?)");

	{
		struct config_issues is;

		LOAD(&c, "[database]\nserver_user = no-such-user-berth\n");
		ASSERT_EQ_INT(config_validate(&c, &is), 1);
		ASSERT_ISSUE(&is, true, "server_user: no such user 'no-such-user-berth'");
		config_issues_finish(&is);
		config_finish(&c);
		LOAD(&c, "[database]\nurl = postgres://u:p@h/app_dev?sslmode=disable\n"
			 "source = app_dev\n");
		ASSERT_EQ_INT(config_validate(&c, &is), 1);
		ASSERT_ISSUE(&is, true, "source = app_dev is the database berth connects to");
		config_issues_finish(&is);
		config_finish(&c);
		LOAD(&c, "[database]\nurl = postgres://u:p@h/app_dev2\nsource = app_dev\n");
		ASSERT_EQ_INT(config_validate(&c, &is), 0);
		config_issues_finish(&is);
		config_finish(&c);
	}
	s = config_url_redacted("postgresql://u:p%40ss@h/db?sslmode=require&password=x2&a=b");
	ASSERT_STREQ(s, "postgresql://u:***@h/db?sslmode=require&password=***&a=b");
	free(s);
	s = config_url_redacted("postgres://h:5432/db");
	ASSERT_STREQ(s, "postgres://h:5432/db");
	free(s);
	s = config_url_redacted("postgres://user@h/db?password=abc");
	ASSERT_STREQ(s, "postgres://user@h/db?password=***");
	free(s);
}

static void test_err_bad_values(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"[berth]\nmax_slots = abc\n",
		 ".berth.ini:2: bad value 'abc' for max_slots: expected a number from 1 to 64"},
		{"[berth]\nmax_slots = 0\n",
		 ".berth.ini:2: bad value '0' for max_slots: expected a number from 1 to 64"},
		{"[berth]\nmax_slots = 65\n",
		 ".berth.ini:2: bad value '65' for max_slots: expected a number from 1 to 64"},
		{"[berth]\nmax_slots = -1\n",
		 ".berth.ini:2: bad value '-1' for max_slots: expected a number from 1 to 64"},
		{"[berth]\nmax_slots =\n",
		 ".berth.ini:2: bad value '' for max_slots: expected a number from 1 to 64"},
		{"[berth]\nslot_stride = 1001\n", ".berth.ini:2: bad value '1001' for slot_stride: "
						  "expected a number from 1 to 1000"},
		{"[berth]\nport_search_range = 101\n",
		 ".berth.ini:2: bad value '101' for port_search_range: expected a number from 0 to "
		 "100"},
		{"[berth]\nmax_slots = 8 ; comment\n",
		 ".berth.ini:2: bad value '8 ; comment' for max_slots: expected a number from 1 to "
		 "64 (comments must be on their own line)"},
		{"[berth]\nmode = hybrid  # host | hybrid\n",
		 ".berth.ini:2: bad value 'hybrid  # host | hybrid' for mode: expected host, "
		 "hybrid "
		 "or container (comments must be on their own line)"},
		{"[berth]\nmode = docker\n",
		 ".berth.ini:2: bad value 'docker' for mode: expected host, hybrid or container"},
		{"[berth]\nrunner = screen\n",
		 ".berth.ini:2: bad value 'screen' for runner: expected process or tmux"},
		{"[berth]\ninherit_env_mode = hardlink\n",
		 ".berth.ini:2: bad value 'hardlink' for inherit_env_mode: expected symlink or "
		 "copy"},
		{"[berth]\nstrict_port = maybe\n",
		 ".berth.ini:2: bad value 'maybe' for strict_port: expected true or false"},
		{"[berth]\nstop_grace = 5 s\n",
		 ".berth.ini:2: bad value '5 s' for stop_grace: expected a duration from 0s to 1h "
		 "(like 500ms, 5s, 10m, 1h)"},
		{"[berth]\nstop_grace = 2h\n",
		 ".berth.ini:2: bad value '2h' for stop_grace: expected a duration from 0s to 1h "
		 "(like 500ms, 5s, 10m, 1h)"},
		{"[berth]\nstartup_window = 5d\n",
		 ".berth.ini:2: bad value '5d' for startup_window: expected a duration from 0s to "
		 "10m (like 500ms, 5s, 10m, 1h)"},
		{"[berth]\nworktree_dir =\n",
		 ".berth.ini:2: bad value '' for worktree_dir: expected a value"},
		{"[berth]\ncompose_file =\n",
		 ".berth.ini:2: bad value '' for compose_file: expected a value"},
		{"[berth]\nprefix = My-App\n",
		 ".berth.ini:2: bad value 'My-App' for prefix: expected lowercase letters, digits, "
		 "'_' and '-', starting with a letter or digit"},
		{"[berth]\nprefix = -app\n",
		 ".berth.ini:2: bad value '-app' for prefix: expected lowercase letters, digits, "
		 "'_' and '-', starting with a letter or digit"},
		{"[berth]\nprefix =\n", ".berth.ini:2: bad value '' for prefix: expected a value"},
		{"[berth]\ninherit_env = .env ../secrets\n",
		 ".berth.ini:2: bad value '.env ../secrets' for inherit_env: '../secrets': "
		 "expected "
		 "a relative path without '..'"},
		{"[service \"a\"]\ncwd = /abs/path\n",
		 ".berth.ini:2: bad value '/abs/path' for cwd: '/abs/path': expected a relative "
		 "path without '..'"},
		{"[service \"a\"]\ncwd = apps/../../x\n",
		 ".berth.ini:2: bad value 'apps/../../x' for cwd: 'apps/../../x': expected a "
		 "relative path without '..'"},
		{"[service \"a\"]\nrun = podman\n",
		 ".berth.ini:2: bad value 'podman' for run: expected native or docker"},
		{"[service \"a\"]\nbase_port = 0\n",
		 ".berth.ini:2: bad value '0' for base_port: expected a port from 1 to 65535"},
		{"[service \"a\"]\nbase_port = 65536\n",
		 ".berth.ini:2: bad value '65536' for base_port: expected a port from 1 to 65535"},
		{"[service \"a\"]\nhost_port = x1\n",
		 ".berth.ini:2: bad value 'x1' for host_port: expected a port from 1 to 65535"},
		{"[service \"a\"]\nport_env = APP_PORT 2X\n",
		 ".berth.ini:2: bad value 'APP_PORT 2X' for port_env: '2X' is not an environment "
		 "variable name (letters, digits and '_', not starting with a digit)"},

		{"[service \"a\"]\nextra_ports = hmr\n",
		 ".berth.ini:2: bad value 'hmr' for extra_ports: 'hmr': expected NAME:PORT or "
		 "NAME:PORT:ENV,ENV..."},
		{"[service \"a\"]\nextra_ports = hmr:1 dbg:70000\n",
		 ".berth.ini:2: bad value 'hmr:1 dbg:70000' for extra_ports: 'dbg:70000': expected "
		 "a port from 1 to 65535 after the name"},
		{"[service \"a\"]\nextra_ports = HMR:24678\n",
		 ".berth.ini:2: bad value 'HMR:24678' for extra_ports: 'HMR:24678': the name must "
		 "be 1 to 31 lowercase letters, digits, '_' and '-', starting with a letter or "
		 "digit"},
		{"[service \"a\"]\nextra_ports = :24678\n",
		 ".berth.ini:2: bad value ':24678' for extra_ports: ':24678': the name must be 1 "
		 "to "
		 "31 lowercase letters, digits, '_' and '-', starting with a letter or digit"},
		{"[service \"a\"]\nextra_ports = hmr:24678:\n",
		 ".berth.ini:2: bad value 'hmr:24678:' for extra_ports: 'hmr:24678:': '' is not an "
		 "environment variable name"},
		{"[service \"a\"]\nextra_ports = hmr:24678:A,\n",
		 ".berth.ini:2: bad value 'hmr:24678:A,' for extra_ports: 'hmr:24678:A,': '' is "
		 "not "
		 "an environment variable name"},
		{"[service \"a\"]\nextra_ports = hmr:24678:A-B\n",
		 ".berth.ini:2: bad value 'hmr:24678:A-B' for extra_ports: 'hmr:24678:A-B': 'A-B' "
		 "is not an environment variable name"},
		{"[service \"a\"]\nextra_ports = hmr:1 hmr:2\n",
		 ".berth.ini:2: bad value 'hmr:1 hmr:2' for extra_ports: extra port 'hmr' is named "
		 "twice"},
		{"[service \"a\"]\nenv = A=1 NOEQ\n",
		 ".berth.ini:2: bad value 'A=1 NOEQ' for env: 'NOEQ': expected KEY=VALUE words "
		 "(KEY: letters, digits and '_', not starting with a digit)"},
		{"[service \"a\"]\nenv = 1A=x\n",
		 ".berth.ini:2: bad value '1A=x' for env: '1A=x': expected KEY=VALUE words (KEY: "
		 "letters, digits and '_', not starting with a digit)"},
		{"[service \"a\"]\nenv = =x\n",
		 ".berth.ini:2: bad value '=x' for env: '=x': expected KEY=VALUE words (KEY: "
		 "letters, digits and '_', not starting with a digit)"},
		{"[service \"a\"]\nready = tcp\n",
		 ".berth.ini:2: bad value 'tcp' for ready: expected port, none, http:/PATH, "
		 "exec:COMMAND or log:REGEX"},
		{"[service \"a\"]\nready =\n",
		 ".berth.ini:2: bad value '' for ready: expected port, none, http:/PATH, "
		 "exec:COMMAND or log:REGEX"},
		{"[service \"a\"]\nready = http:health\n",
		 ".berth.ini:2: bad value 'http:health' for ready: expected http:/PATH (a path "
		 "starting with '/', no spaces)"},
		{"[service \"a\"]\nready = exec:\n",
		 ".berth.ini:2: bad value 'exec:' for ready: expected a command after exec:"},
		{"[service \"a\"]\nready = log:\n",
		 ".berth.ini:2: bad value 'log:' for ready: expected a regular expression after "
		 "log:"},
		{"[service \"a\"]\nready_timeout = 0\n",
		 ".berth.ini:2: bad value '0' for ready_timeout: expected a duration from 1ms to "
		 "1d "
		 "(like 500ms, 5s, 10m, 1h)"},
		{"[service \"a\"]\ndepends_on = db Api\n",
		 ".berth.ini:2: bad value 'db Api' for depends_on: 'Api' is not a service name"},
		{"[service \"a\"]\nrestart = sometimes\n",
		 ".berth.ini:2: bad value 'sometimes' for restart: expected no, on-failure or "
		 "always"},
		{"[service \"a\"]\nstop_signal = TERMINATE\n",
		 ".berth.ini:2: bad value 'TERMINATE' for stop_signal: expected a signal name "
		 "(TERM, INT, KILL, HUP, QUIT, USR1, USR2) or a number from 1 to 64"},
		{"[service \"a\"]\nstop_signal = 0\n",
		 ".berth.ini:2: bad value '0' for stop_signal: expected a signal name (TERM, INT, "
		 "KILL, HUP, QUIT, USR1, USR2) or a number from 1 to 64"},
		{"[service \"a\"]\noneshot = 2\n",
		 ".berth.ini:2: bad value '2' for oneshot: expected true or false"},
		{"[hooks]\ntimeout = soon\n",
		 ".berth.ini:2: bad value 'soon' for timeout: expected a duration from 0s to 1d "
		 "(like 500ms, 5s, 10m, 1h)"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		EXPECT_ERR(cases[i].text, cases[i].want);
}

static void test_err_bad_regex(void)
{
	struct config c;
	char *cause = NULL;

	ASSERT_EQ_INT(config_load_string(&c, NULL, "[service \"a\"]\nready = log:([a-\n", "x.ini",
					 &cause),
		      -EINVAL);
	ASSERT_CONTAINS(cause, "x.ini:2: bad value 'log:([a-' for ready: bad regular expression: ");
	free(cause);
}

/* ready = log:(a{1,1000}){1,100}, 25 bytes: glibc's regcomp took 5 s and
 * 820 MB expanding it, a{1,10000} over 20 s and 690 MB (and the shim compiles
 * it again). A pattern over 1000 atoms once its {m,n} are expanded is refused
 * before regcomp; ordinary ones and one a{1,1000} are read. */
static void test_ready_regex_too_large(void)
{
	static const char *const bad[] = {
		"(a{1,1000}){1,100}",
		"(a|b|c){1,1000}",
		"a{1,1001}",
		"((x{10}){10}){11}",
		"[[:digit:]]{999}ab",
		"a{2000,}",
		"(((a{1,99999999999999999999})))",
		/* glibc reads {,n} as {0,n} (found by fuzz_config: 14 s) */
		"(a{,11000}){1,100}",
		"a{,1001}",
		/* a group left open: regcomp expands, then says so (fuzz_config: 12 s) */
		"x(a(a{,5537}){,2200}",
		/* {0} took off what saturated the count before it (fuzz_config) */
		"(a{1,1000}){1,100}(b){0}",
		/* x+ is x x*: each '+' doubles (fuzz_config: 67 of them) */
		"(a{1,10}){1,10}++++",
		"3++++++++++++++++++++++++++++++++++++++++",
		/* a star does not end what the next repetition applies to */
		"a{1,500}*{1,100}",
	};
	static const char *const good[] = {
		"listening on [0-9]+", "a{1,1000}",   "[0-9]{4}-[0-9]{2}-[0-9]{2}",
		"\\{1,99999\\}",       "[{]{1}x{,5}", "((x{10}){10}){10}",
		"[]{1,9999}]x",        "a{0}{999}",   "ready|(up{2}){3}",
	};
	uint64_t t0 = time_mono_ms();

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *text = xasprintf("[service \"a\"]\nready = log:%s\n", bad[i]);
		char *want = xasprintf(".berth.ini:2: bad value 'log:%s' for ready: the regular "
				       "expression is too large: over 1000 atoms once its {m,n} "
				       "repetitions are expanded",
				       bad[i]);

		EXPECT_ERR(text, want);
		free(text);
		free(want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct config c;
		char *text = xasprintf("[service \"a\"]\nready = log:%s\n", good[i]);

		LOAD(&c, text);
		config_finish(&c);
		free(text);
	}
	ASSERT_TRUE(time_mono_ms() - t0 < 5000);
}

static void test_err_long_value_shortened(void)
{
	char *v = repeat('v', 200), *text;
	struct config c;
	char *cause = NULL;

	text = xasprintf("[berth]\nmode = %s\n", v);
	ASSERT_EQ_INT(config_load_string(&c, NULL, text, ".berth.ini", &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "vvvvv...' for mode: expected host, hybrid or container");
	ASSERT_TRUE(strlen(cause) < 200);
	free(cause);
	free(text);
	free(v);
}

static void test_err_cause_optional(void)
{
	struct config c;

	/* a NULL cause is allowed: the message is dropped */
	ASSERT_EQ_INT(config_load_string(&c, NULL, "[nope]\n", ".berth.ini", NULL), -EINVAL);
}

static void test_load_file(void)
{
	char *dir = make_tmpdir(), *path = path_join(dir, ".berth.ini"), *cause = NULL;
	char *missing = path_join(dir, "missing.ini");
	static const char text[] = "[service \"web\"]\ncommand = a ; b\n[berth]\nmax_slots = 2\n";
	struct config c;

	ASSERT_OK(write_file_atomic(path, text, strlen(text), 0644));
	ASSERT_OK(config_load(&c, dir, path, &cause));
	ASSERT_TRUE(cause == NULL);
	ASSERT_STREQ(c.path, path);
	ASSERT_STREQ(c.root, dir);
	ASSERT_STREQ(c.services[0].command, "a ; b");
	ASSERT_EQ_INT(c.max_slots, 2);
	config_finish(&c);

	ASSERT_EQ_INT(config_load(&c, dir, missing, &cause), -ENOENT);
	ASSERT_TRUE(c.services == NULL && c.prefix == NULL);
	{
		char *want = xasprintf("cannot open '%s': No such file or directory", missing);

		ASSERT_STREQ(cause, want);
		free(want);
	}
	free(cause);
	cause = NULL;

	/* errors name the path given */
	ASSERT_OK(write_file_atomic(path, "[berth]\nmax_slots = 99\n", 23, 0644));
	ASSERT_EQ_INT(config_load(&c, dir, path, &cause), -EINVAL);
	{
		char *want = xasprintf("%s:2: bad value '99' for max_slots: expected a number "
				       "from 1 to 64",
				       path);

		ASSERT_STREQ(cause, want);
		free(want);
	}
	free(cause);
	cause = NULL;

	/* a NUL byte is an error, not a silent end of file */
	{
		static const char nul[] = "[berth]\nmode = host\0\nmax_slots = 99\n";
		char *want = xasprintf("%s:2: the line contains a NUL byte", path);

		ASSERT_OK(write_file_atomic(path, nul, sizeof(nul) - 1, 0644));
		ASSERT_EQ_INT(config_load(&c, dir, path, &cause), -EINVAL);
		ASSERT_STREQ(cause, want);
		free(want);
	}
	free(cause);

	unlink(path);
	rmdir(dir);
	free(missing);
	free(path);
	free(dir);
}

/* ---- show ---- */

static const char rich[] = "[berth]\n"
			   "mode = hybrid\n"
			   "runner = tmux\n"
			   "max_slots = 4\n"
			   "slot_stride = 10\n"
			   "port_search_range = 3\n"
			   "strict_port = on\n"
			   "prefix = shop\n"
			   "inherit_env = .env\n"
			   "inherit_env_mode = copy\n"
			   "stop_grace = 1500ms\n"
			   "startup_window = 0\n"
			   "[service \"web\"]\n"
			   "command = npm run dev -- --port \"$PORT\" ; echo done # ok\n"
			   "cwd = apps/web\n"
			   "base_port = 3000\n"
			   "port_env = APP_PORT VITE_PORT\n"
			   "extra_ports = hmr:24000 dbg:9000:A,B\n"
			   "env = A=1 B=2\n"
			   "env = C=3\n"
			   "ready = http:/health?x=1\n"
			   "ready_timeout = 90s\n"
			   "depends_on = api db\n"
			   "restart = always\n"
			   "stop_signal = 31\n"
			   "[service \"db\"]\n"
			   "run = docker\n"
			   "base_port = 5432\n"
			   "host_port = 15432\n"
			   "[service \"api\"]\n"
			   "command = ./api\n"
			   "oneshot = true\n"
			   "stop_signal = QUIT\n"
			   "[hooks]\n"
			   "pre_up = a=1 ; b\n"
			   "timeout = 2h\n";

static void test_show_defaults(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct config c;

	config_init(&c, NULL);
	config_show(&c, &sb);
	ASSERT_STREQ(sb.buf, "[berth]\n"
			     "mode = host\n"
			     "runner = process\n"
			     "max_slots = 8\n"
			     "slot_stride = 1\n"
			     "port_search_range = 10\n"
			     "strict_port = false\n"
			     "worktree_dir = .berth/worktrees\n"
			     "prefix = berth\n"
			     "compose_file = docker-compose.yml\n"
			     "inherit_env = .env .env.local\n"
			     "inherit_env_mode = symlink\n"
			     "stop_grace = 5s\n"
			     "startup_window = 1.5s\n"
			     "\n"
			     "[hooks]\n"
			     "pre_up =\n"
			     "post_create =\n"
			     "pre_spawn =\n"
			     "post_up =\n"
			     "pre_down =\n"
			     "post_down =\n"
			     "timeout = 10m\n"
			     "\n"
			     "[watch]\n"
			     "interval = 30s\n"
			     "idle_stop = 0s\n"
			     "autostart = false\n"
			     "events_keep = 10000\n"
			     "events_max_age = 30d\n");
	strbuf_release(&sb);
	config_finish(&c);
}

/* A service's stop_grace is [berth]'s, wherever [berth] is in the file,
 * unless it sets its own (0 included). */
static void test_service_stop_grace_and_user(void)
{
	struct config c;
	char *cause = NULL;

	LOAD(&c, "[service \"a\"]\ncommand = x\n"
		 "[service \"b\"]\ncommand = x\nstop_grace = 0\nuser = nobody\n"
		 "[service \"c\"]\ncommand = x\nstop_grace = 250ms\n"
		 "[berth]\nstop_grace = 7s\n");
	ASSERT_EQ_INT((long long)c.services[0].stop_grace_ms, 7000);
	ASSERT_EQ_INT((long long)c.services[1].stop_grace_ms, 0);
	ASSERT_EQ_INT((long long)c.services[2].stop_grace_ms, 250);
	ASSERT_STREQ(c.services[1].user, "nobody");
	ASSERT_TRUE(c.services[0].user == NULL);
	config_finish(&c);
	ASSERT_EQ_INT(
		config_load_string(&c, "/r", "[service \"a\"]\nuser = -x\n", ".berth.ini", &cause),
		-EINVAL);
	ASSERT_STREQ(cause, ".berth.ini:2: bad value '-x' for user: '-x' is not a user name");
	free(cause);
}

/* Stop order: what nobody depends on first; a dependency after every service
 * that depends on it, however long the chain. */
static void test_stop_levels(void)
{
	struct config c;
	unsigned *lv = NULL, levels = 0;
	struct strvec names = STRVEC_INIT;

	LOAD(&c, "[service \"db\"]\ncommand = x\nstop_grace = 1s\n"
		 "[service \"cache\"]\ncommand = x\nstop_grace = 3s\n"
		 "[service \"api\"]\ncommand = x\ndepends_on = db cache\nstop_grace = 2s\n"
		 "[service \"worker\"]\ncommand = x\ndepends_on = db\nstop_grace = 4s\n"
		 "[service \"web\"]\ncommand = x\ndepends_on = api\nstop_grace = 1s\n"
		 "[berth]\nstop_grace = 1s\n");
	ASSERT_OK(config_stop_levels(&c, &lv));
	ASSERT_EQ_INT(lv[0], 2); /* db: under api, under web */
	ASSERT_EQ_INT(lv[1], 2); /* cache */
	ASSERT_EQ_INT(lv[2], 1); /* api */
	ASSERT_EQ_INT(lv[3], 0); /* worker */
	ASSERT_EQ_INT(lv[4], 0); /* web */
	free(lv);
	/* level 0: 4 s, level 1: 2 s, level 2: 3 s, then the safety net 4 s */
	ASSERT_EQ_INT((long long)config_stop_time_ms(&c, &levels), 13000);
	ASSERT_EQ_INT(levels, 3);
	strvec_push(&names, "web");
	config_with_deps(&c, &names);
	ASSERT_EQ_INT(names.n, 4);
	ASSERT_STREQ(names.v[1], "api");
	ASSERT_STREQ(names.v[2], "db");
	ASSERT_STREQ(names.v[3], "cache");
	strvec_clear(&names);
	config_finish(&c);
	LOAD(&c, "[service \"a\"]\ncommand = x\ndepends_on = b\n"
		 "[service \"b\"]\ncommand = x\ndepends_on = a\n");
	ASSERT_EQ_INT(config_stop_levels(&c, &lv), -ELOOP);
	ASSERT_TRUE(lv == NULL);
	config_finish(&c);
}

static void test_show_service(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct config c;

	LOAD(&c, "[service \"web\"]\ncommand = a ; b\nbase_port = 3000\n"
		 "extra_ports = hmr:24000 dbg:9000:A,B\n[service \"w2\"]\n");
	config_show(&c, &sb);
	ASSERT_CONTAINS(sb.buf, "\n[service \"web\"]\n"
				"run = native\n"
				"command = a ; b\n"
				"cwd =\n"
				"base_port = 3000\n"
				"host_port =\n"
				"port_env =\n"
				"extra_ports = hmr:24000 dbg:9000:A,B\n"
				"env =\n"
				"ready = port\n"
				"ready_timeout = 1m\n"
				"depends_on =\n"
				"restart = no\n"
				"stop_signal = TERM\n"
				"stop_grace = 5s\n"
				"user =\n"
				"oneshot = false\n"
				"\n[service \"w2\"]\n");
	ASSERT_CONTAINS(sb.buf, "\n[service \"w2\"]\nrun = native\ncommand =\n");
	ASSERT_CONTAINS(sb.buf, "ready = none\n");
	strbuf_release(&sb);
	config_finish(&c);
}

static void assert_same_config(const struct config *a, const struct config *b)
{
	ASSERT_EQ_INT(a->mode, b->mode);
	ASSERT_EQ_INT(a->runner, b->runner);
	ASSERT_EQ_INT(a->max_slots, b->max_slots);
	ASSERT_EQ_INT(a->slot_stride, b->slot_stride);
	ASSERT_EQ_INT(a->port_search_range, b->port_search_range);
	ASSERT_EQ_INT(a->strict_port, b->strict_port);
	ASSERT_STREQ(a->worktree_dir, b->worktree_dir);
	ASSERT_STREQ(a->prefix, b->prefix);
	ASSERT_STREQ(a->compose_file, b->compose_file);
	ASSERT_EQ_INT(a->inherit_env.n, b->inherit_env.n);
	for (size_t i = 0; i < a->inherit_env.n; i++)
		ASSERT_STREQ(a->inherit_env.v[i], b->inherit_env.v[i]);
	ASSERT_EQ_INT(a->inherit_env_mode, b->inherit_env_mode);
	ASSERT_EQ_INT(a->stop_grace_ms, b->stop_grace_ms);
	ASSERT_EQ_INT(a->startup_window_ms, b->startup_window_ms);
	ASSERT_EQ_INT(a->n_services, b->n_services);
	for (size_t i = 0; i < a->n_services; i++) {
		const struct service_config *x = &a->services[i], *y = &b->services[i];

		ASSERT_STREQ(x->name, y->name);
		ASSERT_EQ_INT(x->run, y->run);
		ASSERT_TRUE((!x->command && !y->command) ||
			    (x->command && y->command && !strcmp(x->command, y->command)));
		ASSERT_TRUE((!x->cwd && !y->cwd) || (x->cwd && y->cwd && !strcmp(x->cwd, y->cwd)));
		ASSERT_EQ_INT(x->base_port, y->base_port);
		ASSERT_EQ_INT(x->host_port, y->host_port);
		ASSERT_EQ_INT(x->port_env.n, y->port_env.n);
		for (size_t j = 0; j < x->port_env.n; j++)
			ASSERT_STREQ(x->port_env.v[j], y->port_env.v[j]);
		ASSERT_EQ_INT(x->n_extra, y->n_extra);
		for (size_t j = 0; j < x->n_extra; j++) {
			ASSERT_STREQ(x->extra[j].name, y->extra[j].name);
			ASSERT_EQ_INT(x->extra[j].base, y->extra[j].base);
			ASSERT_EQ_INT(x->extra[j].env.n, y->extra[j].env.n);
			for (size_t k = 0; k < x->extra[j].env.n; k++)
				ASSERT_STREQ(x->extra[j].env.v[k], y->extra[j].env.v[k]);
		}
		ASSERT_EQ_INT(x->env.n, y->env.n);
		for (size_t j = 0; j < x->env.n; j++)
			ASSERT_STREQ(x->env.v[j], y->env.v[j]);
		ASSERT_STREQ(x->ready, y->ready);
		ASSERT_EQ_INT(x->ready_timeout_ms, y->ready_timeout_ms);
		ASSERT_EQ_INT(x->depends_on.n, y->depends_on.n);
		for (size_t j = 0; j < x->depends_on.n; j++)
			ASSERT_STREQ(x->depends_on.v[j], y->depends_on.v[j]);
		ASSERT_EQ_INT(x->restart, y->restart);
		ASSERT_EQ_INT(x->stop_signal, y->stop_signal);
		ASSERT_EQ_INT(x->oneshot, y->oneshot);
	}
	ASSERT_TRUE(
		(!a->hooks.pre_up && !b->hooks.pre_up) ||
		(a->hooks.pre_up && b->hooks.pre_up && !strcmp(a->hooks.pre_up, b->hooks.pre_up)));
	ASSERT_TRUE(!a->hooks.post_down == !b->hooks.post_down);
	ASSERT_EQ_INT(a->hooks.timeout_ms, b->hooks.timeout_ms);
}

static void test_show_roundtrip(void)
{
	struct strbuf s1 = STRBUF_INIT, s2 = STRBUF_INIT;
	struct config a, b;

	LOAD(&a, rich);
	ASSERT_STREQ(a.services[0].command, "npm run dev -- --port \"$PORT\" ; echo done # ok");
	config_show(&a, &s1);
	LOAD(&b, s1.buf);
	assert_same_config(&a, &b);
	config_show(&b, &s2);
	ASSERT_STREQ(s1.buf, s2.buf);
	ASSERT_CONTAINS(s1.buf, "stop_grace = 1.5s\n");
	ASSERT_CONTAINS(s1.buf, "stop_signal = 31\n");
	ASSERT_CONTAINS(s1.buf, "env = A=1 B=2 C=3\n");
	ASSERT_CONTAINS(s1.buf, "pre_up = a=1 ; b\n");
	strbuf_release(&s1);
	strbuf_release(&s2);
	config_finish(&a);
	config_finish(&b);
}

/* A derived prefix survives show -> load too (it matches the prefix rule). */
static void test_show_roundtrip_derived_prefix(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct config a, b;
	char *cause = NULL;

	ASSERT_OK(config_load_string(&a, "/srv/_My Repo.git/", "", ".berth.ini", &cause));
	config_show(&a, &sb);
	ASSERT_OK(config_load_string(&b, "/elsewhere", sb.buf, ".berth.ini", &cause));
	ASSERT_STREQ(a.prefix, b.prefix);
	strbuf_release(&sb);
	config_finish(&a);
	config_finish(&b);
}

static void test_describe_and_docs(void)
{
	struct strbuf sb = STRBUF_INIT;
	const char *src = getenv("BERTH_SRCDIR");
	char *path, *doc = NULL;
	size_t n = 0;

	config_describe(&sb);
	ASSERT_CONTAINS(sb.buf, "berth.max_slots (number 1..64, default 8): ");
	ASSERT_CONTAINS(sb.buf, "service.restart (enum: no, on-failure or always, default no)");
	ASSERT_CONTAINS(sb.buf, "hooks.timeout (duration, default 10m)");
	if (!src)
		tap_skip("BERTH_SRCDIR not set");
	path = path_join(src, "docs/config.md");
	ASSERT_OK(read_file(path, 1 << 20, &doc, NULL));
	/* every key of the table is documented as `key` */
	for (const char *p = sb.buf; *p; p += strcspn(p, "\n") + 1, n++) {
		const char *dot = strchr(p, '.');
		size_t len = strcspn(dot + 1, " ");
		char *needle = xasprintf("`%.*s`", (int)len, dot + 1);

		ASSERT_CONTAINS(doc, needle);
		free(needle);
	}
	ASSERT_EQ_INT(n, 47);
	free(doc);
	free(path);
	strbuf_release(&sb);
}

/* ---- names, ports, prefix ---- */

static void test_port_env_names(void)
{
	char *s;

	s = config_port_env_name("web", NULL);
	ASSERT_STREQ(s, "BERTH_WEB_PORT");
	free(s);
	s = config_port_env_name("my-db.x", "hmr");
	ASSERT_STREQ(s, "BERTH_MY_DB_X_HMR_PORT");
	free(s);
	s = config_port_env_name("api_2", "debug-port");
	ASSERT_STREQ(s, "BERTH_API_2_DEBUG_PORT_PORT");
	free(s);
}

static void test_config_port(void)
{
	struct config c;

	config_init(&c, NULL);
	ASSERT_EQ_INT(config_port(&c, 3000, 1), 3001);
	ASSERT_EQ_INT(config_port(&c, 3000, 8), 3008);
	ASSERT_EQ_INT(config_port(&c, 0, 3), 0);
	c.slot_stride = 100;
	ASSERT_EQ_INT(config_port(&c, 3000, 3), 3300);
	ASSERT_EQ_INT(config_port(&c, 65000, 5), 65500);
	ASSERT_EQ_INT(config_port(&c, 65000, 6), 0);
	ASSERT_EQ_INT(config_port(&c, 65435, 1), 65535);
	config_finish(&c);
}

static void test_mode_runner_names(void)
{
	enum config_mode m;
	enum config_runner r;

	ASSERT_STREQ(config_mode_name(MODE_HOST), "host");
	ASSERT_STREQ(config_mode_name(MODE_HYBRID), "hybrid");
	ASSERT_STREQ(config_mode_name(MODE_CONTAINER), "container");
	ASSERT_STREQ(config_runner_name(RUNNER_PROCESS), "process");
	ASSERT_STREQ(config_runner_name(RUNNER_TMUX), "tmux");
	ASSERT_OK(config_mode_parse("container", &m));
	ASSERT_EQ_INT(m, MODE_CONTAINER);
	ASSERT_EQ_INT(config_mode_parse("Host", &m), -EINVAL);
	ASSERT_OK(config_runner_parse("tmux", &r));
	ASSERT_EQ_INT(r, RUNNER_TMUX);
	ASSERT_EQ_INT(config_runner_parse("", &r), -EINVAL);
}

static void test_prefix_derivation(void)
{
	struct config a, b;

	config_init(&a, "/home/alice/src/app");
	config_init(&b, "/home/bob/work/app");
	/* same basename, different repositories: different prefixes */
	ASSERT_TRUE(!strncmp(a.prefix, "app-", 4) && !strncmp(b.prefix, "app-", 4));
	ASSERT_TRUE(strcmp(a.prefix, b.prefix) != 0);
	config_finish(&b);
	/* same root: same prefix, with or without a trailing slash */
	config_init(&b, "/home/alice/src/app/");
	ASSERT_STREQ(a.prefix, b.prefix);
	config_finish(&b);
	config_init(&b, "/home/alice/src/app");
	ASSERT_STREQ(a.prefix, b.prefix);
	config_finish(&b);
	config_finish(&a);

	/* the name part: lowercased, runs of other characters as one '-', trimmed */
	config_init(&a, "/x/My__Shop.Front-End!");
	ASSERT_TRUE(!strncmp(a.prefix, "my-shop-front-end-", 18));
	ASSERT_EQ_INT(strlen(a.prefix), 18 + 6);
	for (const char *p = a.prefix + 18; *p; p++)
		ASSERT_TRUE(strchr("0123456789abcdef", *p) != NULL);
	config_finish(&a);
	config_init(&a, "/x/.hidden");
	ASSERT_TRUE(!strncmp(a.prefix, "hidden-", 7));
	config_finish(&a);
	config_init(&a, "/x/___");
	ASSERT_TRUE(!strncmp(a.prefix, "berth-", 6));
	config_finish(&a);
	config_init(&a, "/");
	ASSERT_TRUE(!strncmp(a.prefix, "berth-", 6));
	config_finish(&a);
	config_init(&a, NULL);
	ASSERT_STREQ(a.prefix, "berth");
	config_finish(&a);

	/* a user prefix replaces it */
	LOAD(&a, "[berth]\nprefix = shop\n");
	ASSERT_STREQ(a.prefix, "shop");
	config_finish(&a);
}

/* ---- validate ---- */

static void test_validate_clean(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = a\nbase_port = 3000\n"
				    "[service \"api\"]\ncommand = b\nbase_port = 4000\n"
				    "depends_on = web\n",
				    &is),
		      0);
	if (is.n)
		dump_issues(&is);
	ASSERT_EQ_INT(is.n, 0);
	config_issues_finish(&is);
	ASSERT_EQ_INT(validate_text("", &is), 0);
	ASSERT_EQ_INT(is.n, 0);
	config_issues_finish(&is);
}

/* The gap: port sets over slots 1..max_slots and bands 0..port_search_range
 * must not meet. With stride 1 the span of one thing is
 * max_slots * (port_search_range + 1) ports above its base. */
static void test_gap_boundary(void)
{
	const unsigned max_slots = 8, range = 10, stride = 1;
	const unsigned a = 3000, span = max_slots * (range + 1) * stride;
	struct config_issues is;
	char *text, *want;
	uint64_t top = 0;

	/* the highest port a can take, from the formula itself */
	for (unsigned slot = 1; slot <= max_slots; slot++)
		for (unsigned i = 0; i <= range; i++) {
			uint64_t p = a + slot * stride + (uint64_t)i * max_slots * stride;

			if (p > top)
				top = p;
		}
	ASSERT_EQ_INT(top, a + span);

	/* b's lowest port is b + stride: exactly one above a's highest passes */
	text = xasprintf("[service \"a\"]\ncommand = x\nbase_port = %u\n"
			 "[service \"b\"]\ncommand = y\nbase_port = %" PRIu64 "\n",
			 a, top);
	ASSERT_EQ_INT(validate_text(text, &is), 0);
	config_issues_finish(&is);
	free(text);

	/* one port closer fails, with the real numbers */
	text = xasprintf("[service \"a\"]\ncommand = x\nbase_port = %u\n"
			 "[service \"b\"]\ncommand = y\nbase_port = %" PRIu64 "\n",
			 a, top - 1);
	ASSERT_EQ_INT(validate_text(text, &is), 1);
	want = xasprintf("service 'a' (base 3000) can take ports up to 3088, which overlaps "
			 "service 'b' (base 3087); move base ports at least 88 apart or lower "
			 "port_search_range");
	ASSERT_STREQ(is.v[0].msg, want);
	ASSERT_TRUE(is.v[0].error);
	config_issues_finish(&is);
	free(text);
	free(want);

	/* the order in the file does not matter */
	ASSERT_EQ_INT(validate_text("[service \"b\"]\ncommand = y\nbase_port = 3050\n"
				    "[service \"a\"]\ncommand = x\nbase_port = 3000\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'a' (base 3000) can take ports up to 3088, which "
				  "overlaps service 'b' (base 3050); move base ports at least 88 "
				  "apart or lower port_search_range");
	config_issues_finish(&is);
}

static void test_gap_settings_and_extras(void)
{
	struct config_issues is;

	/* max_slots 4, range 2, stride 5: span 4 * 3 * 5 = 60 */
	ASSERT_EQ_INT(validate_text("[berth]\nmax_slots = 4\nport_search_range = 2\n"
				    "slot_stride = 5\n"
				    "[service \"a\"]\ncommand = x\nbase_port = 3000\n"
				    "[service \"b\"]\ncommand = y\nbase_port = 3060\n",
				    &is),
		      0);
	config_issues_finish(&is);
	ASSERT_EQ_INT(validate_text("[berth]\nmax_slots = 4\nport_search_range = 2\n"
				    "slot_stride = 5\n"
				    "[service \"a\"]\ncommand = x\nbase_port = 3000\n"
				    "[service \"b\"]\ncommand = y\nbase_port = 3055\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'a' (base 3000) can take ports up to 3060, which "
				  "overlaps service 'b' (base 3055); move base ports at least 60 "
				  "apart or lower port_search_range");
	config_issues_finish(&is);
	/* interleaved bases (not a multiple of the stride apart) never meet */
	ASSERT_EQ_INT(validate_text("[berth]\nslot_stride = 10\n"
				    "[service \"a\"]\ncommand = x\nbase_port = 3000\n"
				    "[service \"b\"]\ncommand = y\nbase_port = 3001\n",
				    &is),
		      0);
	config_issues_finish(&is);

	/* extra ports and host_port are port-bearing too */
	ASSERT_EQ_INT(validate_text("[berth]\nmode = hybrid\ncompose_file = /nonexistent/c.yml\n"
				    "[service \"web\"]\ncommand = x\nbase_port = 3000\n"
				    "extra_ports = hmr:5440\n"
				    "[service \"db\"]\nrun = docker\nbase_port = 5432\n"
				    "host_port = 5400\n",
				    &is),
		      2);
	ASSERT_ISSUE(&is, true,
		     "service 'db' (base 5400) can take ports up to 5488, which overlaps service "
		     "'web' extra port 'hmr' (base 5440); move base ports at least 88 apart");
	ASSERT_ISSUE(&is, true, "needs the compose file '/nonexistent/c.yml': it does not exist");
	config_issues_finish(&is);
}

static void test_same_base_port(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"a\"]\ncommand = x\nbase_port = 3000\n"
				    "[service \"b\"]\ncommand = y\nbase_port = 3000\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'a' and service 'b' use the same base port 3000");
	config_issues_finish(&is);
}

static void test_port_beyond_65535(void)
{
	struct config_issues is;

	/* 65447 + 88 = 65535: fine; one more is not */
	ASSERT_EQ_INT(validate_text("[service \"a\"]\ncommand = x\nbase_port = 65447\n", &is), 0);
	config_issues_finish(&is);
	ASSERT_EQ_INT(validate_text("[service \"a\"]\ncommand = x\nbase_port = 65448\n", &is), 1);
	ASSERT_STREQ(is.v[0].msg, "service 'a' (base 65448) can take ports up to 65536, beyond "
				  "65535; lower its base port, max_slots, slot_stride or "
				  "port_search_range");
	config_issues_finish(&is);
	ASSERT_EQ_INT(validate_text("[service \"a\"]\ncommand = x\nextra_ports = big:65500\n", &is),
		      1);
	ASSERT_ISSUE(&is, true,
		     "service 'a' extra port 'big' (base 65500) can take ports up to "
		     "65588, beyond 65535");
	config_issues_finish(&is);
}

static void test_validate_depends(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = x\ndepends_on = api cache\n"
				    "[service \"api\"]\ncommand = y\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'web' depends on unknown service 'cache'");
	config_issues_finish(&is);
	/* across runners: native on docker is fine, docker on native is not */
	validate_text("[berth]\nmode = hybrid\n[service \"db\"]\nrun = docker\nbase_port = 5432\n"
		      "depends_on = web\n[service \"web\"]\ncommand = x\n",
		      &is);
	ASSERT_ISSUE(&is, true,
		     "docker service 'db' depends on native service 'web': docker services start "
		     "before native ones (a native service may depend on a docker one)");
	config_issues_finish(&is);
}

static void test_validate_cycles(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = x\ndepends_on = api\n"
				    "[service \"api\"]\ncommand = y\ndepends_on = web\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "dependency cycle: web -> api -> web");
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[service \"a\"]\ncommand = x\ndepends_on = a\n", &is), 1);
	ASSERT_STREQ(is.v[0].msg, "dependency cycle: a -> a");
	config_issues_finish(&is);

	/* a longer cycle below an acyclic entry point */
	ASSERT_EQ_INT(validate_text("[service \"top\"]\ncommand = x\ndepends_on = b\n"
				    "[service \"b\"]\ncommand = x\ndepends_on = c\n"
				    "[service \"c\"]\ncommand = x\ndepends_on = d\n"
				    "[service \"d\"]\ncommand = x\ndepends_on = b\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "dependency cycle: b -> c -> d -> b");
	config_issues_finish(&is);
}

static void test_validate_services(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"db\"]\nrun = docker\nbase_port = 5432\n", &is), 1);
	ASSERT_STREQ(is.v[0].msg, "service 'db' has run = docker but mode = host runs no "
				  "containers; set mode = hybrid in [berth] or make the service "
				  "native");
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[berth]\nmode = hybrid\ncompose_file = /nonexistent\n"
				    "[service \"db\"]\nrun = docker\ncommand = postgres\n",
				    &is),
		      2);
	ASSERT_ISSUE(&is, true,
		     "service 'db' has run = docker and a command: its compose file "
		     "defines what it runs; remove the command");
	config_issues_finish(&is);

	/* warnings are not errors */
	ASSERT_EQ_INT(validate_text("[service \"ports\"]\nbase_port = 8000\n"
				    "[service \"web\"]\ncommand = x\nbase_port = 80\n",
				    &is),
		      0);
	ASSERT_ISSUE(&is, false, "service 'ports' has no command: berth only allocates its ports");
	ASSERT_ISSUE(&is, false,
		     "service 'web': base port 80 is below 1024: binding privileged "
		     "ports needs root");
	ASSERT_EQ_INT(is.n, 2);
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[service \"w\"]\ncommand = x\nready = port\n", &is), 1);
	ASSERT_STREQ(is.v[0].msg, "service 'w' has ready = port but no base_port");
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[service \"w\"]\ncommand = x\nhost_port = 4000\n"
				    "ready = none\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'w' has host_port but no base_port");
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[service \"m\"]\ncommand = x\noneshot = true\n"
				    "restart = always\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "service 'm' is oneshot with restart = always: a oneshot "
				  "service is meant to exit; use restart = no or on-failure");
	config_issues_finish(&is);
	ASSERT_EQ_INT(validate_text("[service \"m\"]\ncommand = x\noneshot = true\n"
				    "restart = on-failure\n",
				    &is),
		      0);
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[hooks]\ntimeout = 0\n", &is), 1);
	ASSERT_STREQ(is.v[0].msg, "hooks: timeout = 0 would kill every hook at once; set it "
				  "above 0");
	config_issues_finish(&is);
}

static void test_validate_env_collisions(void)
{
	struct config_issues is;

	ASSERT_EQ_INT(validate_text("[service \"my-db\"]\ncommand = x\nbase_port = 3000\n"
				    "[service \"my_db\"]\ncommand = y\nbase_port = 4000\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "env name 'BERTH_MY_DB_PORT' is exported by both service "
				  "'my-db' and service 'my_db'");
	config_issues_finish(&is);

	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = x\nbase_port = 3000\n"
				    "port_env = APP_PORT\n"
				    "[service \"api\"]\ncommand = y\nbase_port = 4000\n"
				    "extra_ports = m:5000:APP_PORT\n",
				    &is),
		      1);
	ASSERT_STREQ(is.v[0].msg, "env name 'APP_PORT' is exported by both service 'web' and "
				  "service 'api'");
	config_issues_finish(&is);

	/* PORT is each service's own (port_env = PORT would give every service
	 * the same one), BERTH_ names are berth's: a validate error with the
	 * line, so that a file that has one still loads (down works) */
	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = x\nbase_port = 3000\n"
				    "port_env = VITE_PORT PORT\n"
				    "extra_ports = m:5000:X,BERTH_SLOT\n",
				    &is),
		      2);
	ASSERT_STREQ(is.v[0].msg, "service 'web': port_env names PORT: berth sets PORT to each "
				  "service's own port; remove it from port_env");
	ASSERT_EQ_INT(is.v[0].line, 4);
	ASSERT_STREQ(is.v[1].msg, "service 'web': extra port 'm' exports BERTH_SLOT: BERTH_ names "
				  "are berth's own; remove it from extra_ports");
	ASSERT_EQ_INT(is.v[1].line, 5);
	config_issues_finish(&is);

	/* a service may repeat its own names */
	ASSERT_EQ_INT(validate_text("[service \"web\"]\ncommand = x\nbase_port = 3000\n"
				    "port_env = APP_PORT APP_PORT\n",
				    &is),
		      0);
	config_issues_finish(&is);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *path = path_join(dir, name);

	ASSERT_OK(write_file_atomic(path, text, strlen(text), 0644));
	free(path);
}

static int validate_in(const char *root, const char *text, struct config_issues *is)
{
	struct config c;
	int n;

	load_at(&c, root, text, __FILE__, __LINE__);
	n = config_validate(&c, is);
	config_finish(&c);
	return n;
}

static void test_validate_compose(void)
{
	char *dir = make_tmpdir(), *want;
	struct config_issues is;
	static const char svc[] = "[service \"web\"]\ncommand = x\nbase_port = 3000\n"
				  "[service \"db\"]\nrun = docker\nbase_port = 5432\n"
				  "[service \"redis\"]\nrun = docker\nbase_port = 6379\n";
	char *hybrid = xasprintf("[berth]\nmode = hybrid\n%s", svc);

	/* no compose file */
	ASSERT_EQ_INT(validate_in(dir, hybrid, &is), 1);
	want = xasprintf("mode = hybrid needs the compose file '%s/docker-compose.yml': it does "
			 "not exist; create it or set compose_file in [berth]",
			 dir);
	ASSERT_STREQ(is.v[0].msg, want);
	free(want);
	config_issues_finish(&is);

	/* both services defined (two-space indent, quotes, comments, other keys) */
	write_text(dir, "docker-compose.yml",
		   "# dev stack\nversion: \"3.8\"\nservices:\n  db:\n    image: postgres\n"
		   "    ports:\n      - \"5432:5432\"\n\n  # cache\n  \"redis\":\n"
		   "    image: redis\r\nvolumes:\n  web:\n");
	ASSERT_EQ_INT(validate_in(dir, hybrid, &is), 0);
	config_issues_finish(&is);

	/* a docker service the compose file lacks; `web` under volumes: is no service */
	write_text(dir, "docker-compose.yml",
		   "services:\n    db:\n        image: postgres\nvolumes:\n    redis:\n");
	ASSERT_EQ_INT(validate_in(dir, hybrid, &is), 1);
	want = xasprintf("service 'redis' has run = docker but '%s/docker-compose.yml' defines "
			 "no service 'redis'",
			 dir);
	ASSERT_STREQ(is.v[0].msg, want);
	free(want);
	config_issues_finish(&is);

	/* container mode needs the file too; compose_file is relative to the root */
	write_text(dir, "compose.yaml", "services:\n  app:\n    build: .\n");
	ASSERT_EQ_INT(
		validate_in(dir, "[berth]\nmode = container\ncompose_file = compose.yaml\n", &is),
		0);
	config_issues_finish(&is);
	ASSERT_EQ_INT(
		validate_in(dir, "[berth]\nmode = container\ncompose_file = nope.yaml\n", &is), 1);
	config_issues_finish(&is);

	/* host mode never reads it */
	ASSERT_EQ_INT(validate_in(dir, "[berth]\ncompose_file = nope.yaml\n", &is), 0);
	config_issues_finish(&is);

	write_text(dir, "docker-compose.yml", "");
	{
		char *p = path_join(dir, "docker-compose.yml"), *q = path_join(dir, "compose.yaml");

		unlink(p);
		unlink(q);
		free(p);
		free(q);
	}
	rmdir(dir);
	free(hybrid);
	free(dir);
}

/* ---- order ---- */

static void test_service_order(void)
{
	struct config c;
	size_t *order = NULL;

	/* dependencies first, ties in file order */
	LOAD(&c, "[service \"web\"]\ndepends_on = api db\n"
		 "[service \"worker\"]\ndepends_on = db\n"
		 "[service \"api\"]\ndepends_on = db\n"
		 "[service \"db\"]\n"
		 "[service \"docs\"]\n");
	ASSERT_EQ_INT(config_service_order(&c, &order), 5);
	ASSERT_STREQ(c.services[order[0]].name, "db");
	ASSERT_STREQ(c.services[order[1]].name, "worker");
	ASSERT_STREQ(c.services[order[2]].name, "api");
	ASSERT_STREQ(c.services[order[3]].name, "web");
	ASSERT_STREQ(c.services[order[4]].name, "docs");
	free(order);
	config_finish(&c);

	/* no dependencies: file order */
	LOAD(&c, "[service \"b\"]\n[service \"a\"]\n");
	ASSERT_EQ_INT(config_service_order(&c, &order), 2);
	ASSERT_EQ_INT(order[0], 0);
	ASSERT_EQ_INT(order[1], 1);
	free(order);
	config_finish(&c);

	/* unknown names are left to config_validate */
	LOAD(&c, "[service \"a\"]\ndepends_on = ghost\n");
	ASSERT_EQ_INT(config_service_order(&c, &order), 1);
	ASSERT_EQ_INT(order[0], 0);
	free(order);
	config_finish(&c);

	/* a cycle */
	order = NULL;
	LOAD(&c, "[service \"x\"]\n[service \"a\"]\ndepends_on = b\n[service \"b\"]\n"
		 "depends_on = a\n");
	ASSERT_EQ_INT(config_service_order(&c, &order), -ELOOP);
	ASSERT_TRUE(order == NULL);
	config_finish(&c);

	/* none */
	config_init(&c, NULL);
	order = (size_t *)&c;
	ASSERT_EQ_INT(config_service_order(&c, &order), 0);
	ASSERT_TRUE(order == NULL);
	config_finish(&c);
}

/* Hostile sizes (issue 11): a dependency chain of 5,000 services (180 KB)
 * took config_service_order over two minutes; 5,000 services on one port
 * made validate write 12.5 million issues (1.5 GB, 30 s); 40,000 services
 * took 12 s to load. Now: at most 256 services, 1024 ports, 1024 exported
 * env names and 1024 depends_on entries in all, and a clash of ports is
 * told once per port, with the first one it clashes with. */
static void test_config_limits(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct config c;
	struct config_issues is;
	size_t *order = NULL;
	uint64_t t0;

	for (int i = 0; i < 257; i++)
		strbuf_addf(&sb, "[service \"s%d\"]\n", i);
	EXPECT_ERR(sb.buf, ".berth.ini:257: more than 256 services; berth reads configs with up to "
			   "that many");

	/* the most services, in the slowest order, each on the same port */
	strbuf_reset(&sb);
	for (int i = 0; i < 256; i++) {
		strbuf_addf(&sb, "[service \"s%d\"]\nbase_port = 3000\ndepends_on =", i);
		for (int j = i + 1; j < 256 && j < i + 5; j++)
			strbuf_addf(&sb, " s%d", j);
		strbuf_addch(&sb, '\n');
	}
	t0 = time_mono_ms();
	LOAD(&c, sb.buf);
	ASSERT_EQ_INT(config_service_order(&c, &order), 256);
	ASSERT_STREQ(c.services[order[0]].name, "s255");
	ASSERT_EQ_INT(config_validate(&c, &is), 255);
	ASSERT_STREQ(is.v[256].msg, "service 's0' and service 's1' use the same base port 3000");
	ASSERT_STREQ(is.v[510].msg, "service 's0' and service 's255' use the same base port 3000");
	ASSERT_TRUE(time_mono_ms() - t0 < 2000);
	config_issues_finish(&is);
	config_finish(&c);
	free(order);

	strbuf_reset(&sb);
	for (int i = 0; i < 8; i++) {
		strbuf_addf(&sb, "[service \"s%d\"]\nextra_ports =", i);
		for (int j = 0; j < 129; j++)
			strbuf_addf(&sb, " x%d:%d", j, 1024 + i * 129 + j);
		strbuf_addch(&sb, '\n');
	}
	EXPECT_ERR(sb.buf, ".berth.ini: more than 1024 ports (base_port and extra_ports of all "
			   "services); berth reads configs with up to that many");
	strbuf_reset(&sb);
	for (int i = 0; i < 5; i++) {
		strbuf_addf(&sb, "[service \"s%d\"]\nport_env =", i);
		for (int j = 0; j < 205; j++)
			strbuf_addf(&sb, " E%d", j);
		strbuf_addch(&sb, '\n');
	}
	EXPECT_ERR(sb.buf, ".berth.ini: more than 1024 port_env and extra port env names (of all "
			   "services); berth reads configs with up to that many");
	strbuf_reset(&sb);
	for (int i = 0; i < 5; i++) {
		strbuf_addf(&sb, "[service \"s%d\"]\ndepends_on =", i);
		for (int j = 0; j < 205; j++)
			strbuf_addf(&sb, " s%d", j % 5);
		strbuf_addch(&sb, '\n');
	}
	EXPECT_ERR(sb.buf, ".berth.ini: more than 1024 depends_on entries (of all services); "
			   "berth reads configs with up to that many");
	strbuf_release(&sb);
}

/* A .berth.ini that is a FIFO, or a symlink to /dev/tty, hung config_load in
 * its read: refused unopened. */
static void test_config_file_fifo(void)
{
	char dir[] = "/tmp/bf-XXXXXX", *path, *cause = NULL;
	struct config c;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/.berth.ini", dir);
	ASSERT_TRUE(mkfifo(path, 0600) == 0);
	ASSERT_EQ_INT(config_load(&c, dir, path, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "not a regular file");
	free(cause);
	rm_rf(dir);
	free(path);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_defaults),
	TAP_TEST(test_empty_file),
	TAP_TEST(test_service_defaults),
	TAP_TEST(test_every_type),
	TAP_TEST(test_signals),
	TAP_TEST(test_ready_values),
	TAP_TEST(test_empty_values),
	TAP_TEST(test_command_kept_verbatim),
	TAP_TEST(test_value_bytes),
	TAP_TEST(test_comments_whole_lines),
	TAP_TEST(test_indented_keys),
	TAP_TEST(test_long_command_kept),
	TAP_TEST(test_line_limit),
	TAP_TEST(test_line_5000_bytes),
	TAP_TEST(test_bom_crlf),
	TAP_TEST(test_any_inih_build),
	TAP_TEST(test_err_unknown_key),
	TAP_TEST(test_err_unknown_section),
	TAP_TEST(test_err_section_header),
	TAP_TEST(test_err_service_names),
	TAP_TEST(test_err_duplicate_service),
	TAP_TEST(test_err_duplicate_key),
	TAP_TEST(test_err_key_outside_section),
	TAP_TEST(test_err_missing_equals),
	TAP_TEST(test_err_bad_keys),
	TAP_TEST(test_database_section),
	TAP_TEST(test_err_bad_values),
	TAP_TEST(test_err_bad_regex),
	TAP_TEST(test_ready_regex_too_large),
	TAP_TEST(test_err_long_value_shortened),
	TAP_TEST(test_err_cause_optional),
	TAP_TEST(test_load_file),
	TAP_TEST(test_show_defaults),
	TAP_TEST(test_show_service),
	TAP_TEST(test_service_stop_grace_and_user),
	TAP_TEST(test_stop_levels),
	TAP_TEST(test_show_roundtrip),
	TAP_TEST(test_show_roundtrip_derived_prefix),
	TAP_TEST(test_describe_and_docs),
	TAP_TEST(test_port_env_names),
	TAP_TEST(test_config_port),
	TAP_TEST(test_mode_runner_names),
	TAP_TEST(test_prefix_derivation),
	TAP_TEST(test_validate_clean),
	TAP_TEST(test_gap_boundary),
	TAP_TEST(test_gap_settings_and_extras),
	TAP_TEST(test_same_base_port),
	TAP_TEST(test_port_beyond_65535),
	TAP_TEST(test_validate_depends),
	TAP_TEST(test_validate_cycles),
	TAP_TEST(test_validate_services),
	TAP_TEST(test_validate_env_collisions),
	TAP_TEST(test_validate_compose),
	TAP_TEST(test_service_order),
	TAP_TEST(test_config_limits),
	TAP_TEST(test_config_file_fifo),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
