/*
 * test_envfile.c: a session's environment: the variables berth defines for a
 * config and a session (port_env aliases, extra ports and their env names,
 * PORT from the first native service), .env.berth writing (sorted, quoted,
 * atomic), dotenv parsing and its errors, and the sh format checked against
 * the real /bin/sh.
 */
#include "util/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/envfile.h"
#include "store/state.h"
#include "util/fsutil.h"
#include "util/timeutil.h"
#include "tap.h"

/* ---- helpers ---------------------------------------------------------- */

static char *tmpdir_new(void)
{
	const char *base = getenv("TMPDIR");
	char *t = xasprintf("%s/berth-envfile-XXXXXX", base && *base ? base : "/tmp");

	ASSERT_TRUE(mkdtemp(t) != NULL);
	return t;
}

static void load_config(struct config *c, const char *text)
{
	char *cause = NULL;

	if (config_load_string(c, "/repo", text, ".berth.ini", &cause) < 0)
		tap_fail(__FILE__, __LINE__, cause ? cause : "config_load_string failed");
}

static void session_add_port(struct session *s, const char *name, unsigned port)
{
	s->ports = xreallocarray(s->ports, s->n_ports + 1, sizeof(*s->ports));
	s->ports[s->n_ports++] = (struct port_rec){.name = xstrdup(name), .port = port};
}

/* A session as the store would return it: ports sorted by name. */
static void session_make(struct session *s, const char *slug, unsigned slot, const char *mode)
{
	memset(s, 0, sizeof(*s));
	s->slug = xstrdup(slug);
	s->slot = slot;
	s->branch = xstrdup(slug);
	s->worktree = xstrdup("/repo/.berth/worktrees/x");
	s->mode = xstrdup(mode);
	s->status = SESSION_ACTIVE;
}

static void assert_env(const struct envmap *m, const char *key, const char *want)
{
	const char *got = envmap_get(m, key);

	if (!got || strcmp(got, want)) {
		char *msg = xasprintf("%s = \"%s\", want \"%s\"", key, got ? got : "(unset)", want);

		tap_fail(__FILE__, __LINE__, msg);
	}
}

static void assert_sorted(const struct envmap *m)
{
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(m->v[i - 1].key, m->v[i].key) >= 0) {
			char *msg =
				xasprintf("not sorted: %s before %s", m->v[i - 1].key, m->v[i].key);

			tap_fail(__FILE__, __LINE__, msg);
		}
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	ASSERT_TRUE(d != NULL);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Parse text that must be valid. */
static void parse_ok(const char *text, struct envmap *m)
{
	char *cause = NULL;
	int r = envfile_parse(text, m, &cause);

	if (r < 0)
		tap_fail(__FILE__, __LINE__, cause ? cause : "envfile_parse failed");
	ASSERT_TRUE(cause == NULL);
}

static void parse_bad(const char *text, const char *want_cause)
{
	struct envmap m = {0};
	char *cause = NULL;

	ASSERT_EQ_INT(envfile_parse(text, &m, &cause), -EINVAL);
	ASSERT_STREQ(cause, want_cause);
	free(cause);
	envmap_finish(&m);
}

/* ---- the envmap ------------------------------------------------------- */

static void test_envmap_basics(void)
{
	struct envmap m = {0};

	ASSERT_TRUE(envmap_get(&m, "A") == NULL);
	envmap_set(&m, "B", "2");
	envmap_set(&m, "A", "1");
	envmap_set(&m, "C", "3");
	envmap_set(&m, "B", "two");
	ASSERT_EQ_INT(m.n, 3);
	assert_env(&m, "B", "two");
	envmap_sort(&m);
	ASSERT_STREQ(m.v[0].key, "A");
	ASSERT_STREQ(m.v[1].key, "B");
	ASSERT_STREQ(m.v[2].key, "C");
	/* bytewise: uppercase before underscore before lowercase */
	envmap_set(&m, "a", "x");
	envmap_set(&m, "A_", "x");
	envmap_sort(&m);
	assert_sorted(&m);
	ASSERT_STREQ(m.v[m.n - 1].key, "a");
	envmap_finish(&m);
	ASSERT_TRUE(m.v == NULL && m.n == 0);
	envmap_finish(&m);
}

/* ---- the session environment ------------------------------------------ */

static const char two_services[] = "[berth]\n"
				   "mode = hybrid\n"
				   "\n"
				   "[service \"db\"]\n"
				   "run = docker\n"
				   "base_port = 5432\n"
				   "host_port = 15432\n"
				   "port_env = DATABASE_PORT PGPORT\n"
				   "\n"
				   "[service \"web\"]\n"
				   "command = npm run dev\n"
				   "base_port = 3000\n"
				   "port_env = VITE_PORT APP_PORT\n"
				   "extra_ports = hmr:24678:VITE_HMR_PORT,HMR_PORT debug:9229\n"
				   "\n"
				   "[service \"api\"]\n"
				   "command = ./api\n"
				   "base_port = 4000\n";

static void test_session_env(void)
{
	struct config c;
	struct session s;
	struct envmap m = {0};

	load_config(&c, two_services);
	session_make(&s, "feat-a", 2, "hybrid");
	session_add_port(&s, "api", 4002);
	session_add_port(&s, "db", 15434);
	session_add_port(&s, "web", 3002);
	session_add_port(&s, "web.debug", 9231);
	session_add_port(&s, "web.hmr", 24680);

	envfile_session_env(&c, &s, &m);
	assert_sorted(&m);
	assert_env(&m, "BERTH_SLUG", "feat-a");
	assert_env(&m, "BERTH_SLOT", "2");
	assert_env(&m, "BERTH_MODE", "hybrid");
	assert_env(&m, "BERTH_DB_PORT", "15434");
	assert_env(&m, "DATABASE_PORT", "15434");
	assert_env(&m, "PGPORT", "15434");
	assert_env(&m, "BERTH_WEB_PORT", "3002");
	assert_env(&m, "VITE_PORT", "3002");
	assert_env(&m, "APP_PORT", "3002");
	assert_env(&m, "BERTH_WEB_HMR_PORT", "24680");
	assert_env(&m, "VITE_HMR_PORT", "24680");
	assert_env(&m, "HMR_PORT", "24680");
	assert_env(&m, "BERTH_WEB_DEBUG_PORT", "9231");
	assert_env(&m, "BERTH_API_PORT", "4002");
	/* PORT is the first NATIVE service's port: the docker db comes first in
	 * the file but must not become PORT */
	assert_env(&m, "PORT", "3002");
	ASSERT_EQ_INT(m.n, 15);

	envmap_finish(&m);
	session_finish(&s);
	config_finish(&c);
}

static void test_session_env_missing_ports(void)
{
	struct config c;
	struct session s;
	struct envmap m = {0};

	/* a session with no recorded ports yet (or only some) exports only what it has */
	load_config(&c, two_services);
	session_make(&s, "b2", 1, "hybrid");
	envfile_session_env(&c, &s, &m);
	ASSERT_EQ_INT(m.n, 3);
	assert_env(&m, "BERTH_SLOT", "1");
	ASSERT_TRUE(envmap_get(&m, "PORT") == NULL);
	envmap_finish(&m);

	session_add_port(&s, "api", 4001);
	envfile_session_env(&c, &s, &m);
	assert_env(&m, "PORT", "4001"); /* web has no port: api is the first native one */
	assert_env(&m, "BERTH_API_PORT", "4001");
	ASSERT_TRUE(envmap_get(&m, "BERTH_WEB_PORT") == NULL);
	ASSERT_TRUE(envmap_get(&m, "VITE_HMR_PORT") == NULL);
	envmap_finish(&m);
	session_finish(&s);
	config_finish(&c);
}

static void test_session_env_service_names(void)
{
	struct config c;
	struct session s;
	struct envmap m = {0};

	/* service and extra names with '-' and '_' become valid variable names */
	load_config(&c, "[service \"my-app_2\"]\n"
			"command = x\n"
			"base_port = 8000\n"
			"extra_ports = live-reload:35729\n");
	session_make(&s, "s1", 1, "host");
	session_add_port(&s, "my-app_2", 8001);
	session_add_port(&s, "my-app_2.live-reload", 35730);
	envfile_session_env(&c, &s, &m);
	assert_env(&m, "BERTH_MY_APP_2_PORT", "8001");
	assert_env(&m, "BERTH_MY_APP_2_LIVE_RELOAD_PORT", "35730");
	assert_env(&m, "PORT", "8001");
	assert_env(&m, "BERTH_MODE", "host");
	assert_sorted(&m);
	envmap_finish(&m);
	session_finish(&s);
	config_finish(&c);
}

/* ---- .env.berth ------------------------------------------------------- */

static void test_write_sorted_and_quoted(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, ENVFILE_NAME), *text;
	struct envmap m = {0};
	struct stat st;

	envmap_set(&m, "ZED", "last");
	envmap_set(&m, "BERTH_SLOT", "3");
	envmap_set(&m, "URL", "postgres://u:p@h:5432/db");
	envmap_set(&m, "QUERY", "/db?sslmode=disable");
	envmap_set(&m, "SPACE", "a b");
	envmap_set(&m, "EMPTY", "");
	envmap_set(&m, "DQ", "say \"hi\"");
	envmap_set(&m, "SQ", "it's");
	envmap_set(&m, "DOLLAR", "$HOME and `id`");
	envmap_set(&m, "NL", "one\ntwo");
	envmap_set(&m, "BS", "C:\\path");
	envmap_set(&m, "HASH", "a #b");
	envmap_set(&m, "PCT", "50%+-_./,@=");

	umask(022);
	ASSERT_OK(envfile_write(path, &m));
	ASSERT_OK(read_file(path, 1 << 20, &text, NULL));
	ASSERT_STREQ(text, "BERTH_SLOT=3\n"
			   "BS=\"C:\\\\path\"\n"
			   "DOLLAR=\"\\$HOME and \\`id\\`\"\n"
			   "DQ=\"say \\\"hi\\\"\"\n"
			   "EMPTY=\n"
			   "HASH=\"a #b\"\n"
			   "NL=\"one\\ntwo\"\n"
			   "PCT=50%+-_./,@=\n"
			   "QUERY=\"/db?sslmode=disable\"\n"
			   "SPACE=\"a b\"\n"
			   "SQ=\"it's\"\n"
			   "URL=postgres://u:p@h:5432/db\n"
			   "ZED=last\n");
	ASSERT_OK(stat(path, &st));
	ASSERT_EQ_INT(st.st_mode & 0777, 0644);
	ASSERT_EQ_INT(count_entries(dir), 1); /* no temp file left */
	/* the caller's map is left as it was */
	ASSERT_STREQ(m.v[0].key, "ZED");

	/* rewriting replaces the file */
	envmap_finish(&m);
	envmap_set(&m, "ONLY", "1");
	ASSERT_OK(envfile_write(path, &m));
	free(text);
	ASSERT_OK(read_file(path, 1 << 20, &text, NULL));
	ASSERT_STREQ(text, "ONLY=1\n");
	ASSERT_EQ_INT(count_entries(dir), 1);

	free(text);
	envmap_finish(&m);
	ASSERT_OK(rm_rf(dir));
	free(path);
	free(dir);
}

static void test_write_missing_dir(void)
{
	struct envmap m = {0};

	envmap_set(&m, "A", "1");
	ASSERT_EQ_INT(envfile_write("/nonexistent-berth-dir/.env.berth", &m), -ENOENT);
	envmap_finish(&m);
}

static const char *const tricky[] = {
	"",
	"plain",
	"a b",
	"  leading and trailing  ",
	"it's",
	"'single'",
	"\"double\"",
	"$HOME",
	"${PATH}",
	"$(id)",
	"`id`",
	"back\\slash",
	"trailing\\",
	"\\n is not a newline",
	"one\ntwo",
	"ends with newline\n",
	"tab\there",
	"# not a comment",
	"a #b",
	"a=b=c",
	"*?[glob]",
	"~user",
	"; rm -rf / &&",
	"caf\xc3\xa9",
	"!bang",
};

static void test_dotenv_round_trip(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, ENVFILE_NAME), *text;
	struct envmap m = {0}, back = {0};

	for (size_t i = 0; i < ARRAY_SIZE(tricky); i++) {
		char key[16];

		snprintf(key, sizeof(key), "K%02zu", i);
		envmap_set(&m, key, tricky[i]);
	}
	ASSERT_OK(envfile_write(path, &m));
	ASSERT_OK(read_file(path, 1 << 20, &text, NULL));
	parse_ok(text, &back);
	ASSERT_EQ_INT(back.n, m.n);
	for (size_t i = 0; i < m.n; i++) {
		const char *got = envmap_get(&back, m.v[i].key);

		if (!got || strcmp(got, m.v[i].value))
			printf("# %s: wrote \"%s\", read back \"%s\"\n", m.v[i].key, m.v[i].value,
			       got ? got : "(unset)");
		ASSERT_STREQ(got, m.v[i].value);
	}
	free(text);
	envmap_finish(&m);
	envmap_finish(&back);
	ASSERT_OK(rm_rf(dir));
	free(path);
	free(dir);
}

/* ---- envfile_parse ---------------------------------------------------- */

static void test_parse_basics(void)
{
	struct envmap m = {0};

	parse_ok("# a comment\n"
		 "\n"
		 "   \n"
		 "\t# indented comment\n"
		 "A=1\n"
		 "export B=two\n"
		 "export\tC=3\n"
		 "  D = spaced  \n"
		 "E=\n"
		 "F=value # inline comment\n"
		 "G=a#b\n"
		 "H=x\t# tab comment\n"
		 "URL=postgres://h/db?a=b&c=d\n"
		 "dotted.key=ok\n"
		 "_U=u\n"
		 "A=last wins\n"
		 "export=7\n"
		 "NOEOL=end",
		 &m);
	assert_env(&m, "A", "last wins");
	assert_env(&m, "B", "two");
	assert_env(&m, "C", "3");
	assert_env(&m, "D", "spaced");
	assert_env(&m, "E", "");
	assert_env(&m, "F", "value");
	assert_env(&m, "G", "a#b");
	assert_env(&m, "H", "x");
	assert_env(&m, "URL", "postgres://h/db?a=b&c=d");
	assert_env(&m, "dotted.key", "ok");
	assert_env(&m, "_U", "u");
	assert_env(&m, "export", "7");
	assert_env(&m, "NOEOL", "end");
	ASSERT_EQ_INT(m.n, 13);
	envmap_finish(&m);

	/* nothing at all */
	parse_ok("", &m);
	parse_ok("\n\n# only comments\n", &m);
	ASSERT_EQ_INT(m.n, 0);
}

static void test_parse_quotes(void)
{
	struct envmap m = {0};

	parse_ok("S='single $HOME \\n \"x\" # kept'\n"
		 "D=\"a\\\"b\\\\c\\nd\\$e\\`f\"\n"
		 "E=\"\"\n"
		 "F=''\n"
		 "Q=\"it's\"\n"
		 "H=\"a # not a comment\"\n"
		 "T=\"x\" # comment after the quote\n"
		 "  export   W='  spaced  '  \n",
		 &m);
	assert_env(&m, "S", "single $HOME \\n \"x\" # kept");
	assert_env(&m, "D", "a\"b\\c\nd$e`f");
	assert_env(&m, "E", "");
	assert_env(&m, "F", "");
	assert_env(&m, "Q", "it's");
	assert_env(&m, "H", "a # not a comment");
	assert_env(&m, "T", "x");
	assert_env(&m, "W", "  spaced  ");
	envmap_finish(&m);
}

static void test_parse_crlf(void)
{
	struct envmap m = {0};

	parse_ok("# windows\r\nA=1\r\nB=\"two\"\r\n\r\nC='3'\r\nD=x # c\r\nE=e", &m);
	assert_env(&m, "A", "1");
	assert_env(&m, "B", "two");
	assert_env(&m, "C", "3");
	assert_env(&m, "D", "x");
	assert_env(&m, "E", "e");
	ASSERT_EQ_INT(m.n, 5);
	envmap_finish(&m);
}

/* 115,000 variables (a 1 MB file, the most berth reads): each was looked
 * for among all the earlier ones, 33 s. */
static void test_parse_many_variables(void)
{
	struct strbuf sb = STRBUF_INIT;
	struct envmap m = {0};
	uint64_t t0;
	size_t n;

	for (int i = 0; sb.len < (1u << 20) - 16; i++)
		strbuf_addf(&sb, "A%d=%d\n", i, i % 10);
	strbuf_adds(&sb, "A7=last\n");
	t0 = time_mono_ms();
	parse_ok(sb.buf, &m);
	ASSERT_TRUE(time_mono_ms() - t0 < 2000);
	n = m.n;
	ASSERT_TRUE(n > 100000);
	assert_env(&m, "A7", "last");
	assert_env(&m, "A99999", "9");
	envmap_unset(&m, "A7");
	ASSERT_TRUE(envmap_get(&m, "A7") == NULL);
	assert_env(&m, "A8", "8");
	ASSERT_EQ_INT(m.n, n - 1);
	envmap_sort(&m);
	assert_env(&m, "A99999", "9");
	envmap_finish(&m);
	strbuf_release(&sb);
}

static void test_parse_errors(void)
{
	parse_bad("A=1\n# ok\n1BAD=x\n", "line 3: '1BAD' is not a variable name");
	parse_bad("BAD-KEY=x\n", "line 1: 'BAD-KEY' is not a variable name");
	parse_bad("A B=x\n", "line 1: 'A B' is not a variable name");
	parse_bad("=x\n", "line 1: '' is not a variable name");
	parse_bad("A=1\r\nB=2\r\nnot a pair\r\n", "line 3: expected KEY=VALUE");
	parse_bad("export\n", "line 1: expected KEY=VALUE");
	parse_bad("A=\"abc\n", "line 1: unterminated quote");
	parse_bad("\n\nA='abc\nB=1\n", "line 3: unterminated quote");
	parse_bad("A=\"abc\\\"\n", "line 1: unterminated quote");
	parse_bad("A=\"abc", "line 1: unterminated quote");
}

/* ---- formats and /bin/sh ---------------------------------------------- */

static void test_format_dotenv_and_sh(void)
{
	struct envmap m = {0};
	struct strbuf sb = STRBUF_INIT;

	envmap_set(&m, "B", "it's here");
	envmap_set(&m, "A", "1");
	envfile_format(&m, ENV_FORMAT_DOTENV, &sb);
	ASSERT_STREQ(strbuf_str(&sb), "B=\"it's here\"\nA=1\n");
	strbuf_reset(&sb);
	envfile_format(&m, ENV_FORMAT_SH, &sb);
	ASSERT_STREQ(strbuf_str(&sb), "export B='it'\\''s here'\nexport A='1'\n");
	strbuf_release(&sb);
	envmap_finish(&m);
}

/* Run /bin/sh -c 'eval "$(cat FILE)"; printf %s "$KEY"' and return its stdout. */
static char *sh_eval(const char *file, const char *key)
{
	struct strbuf out = STRBUF_INIT;
	char *script = xasprintf("eval \"$(cat '%s')\" || exit 3; printf %%s \"$%s\"", file, key);
	int pfd[2], status;
	char buf[4096];
	ssize_t n;
	pid_t pid;

	ASSERT_OK(pipe2(pfd, O_CLOEXEC));
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		char *argv[] = {(char *)"sh", (char *)"-c", script, NULL};
		char *envp[] = {(char *)"PATH=/usr/bin:/bin", (char *)"HOME=/nonexistent", NULL};

		dup2(pfd[1], STDOUT_FILENO);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		ASSERT_TRUE(n > 0);
		strbuf_add(&out, buf, (size_t)n);
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		ASSERT_EQ_INT(errno, EINTR);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ_INT(WEXITSTATUS(status), 0);
	free(script);
	return strbuf_detach(&out);
}

static void test_sh_format_round_trips_through_sh(void)
{
	char *dir = tmpdir_new(), *path = path_join(dir, "env.sh");
	struct envmap m = {0};
	struct strbuf sb = STRBUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(tricky); i++) {
		char key[16];

		snprintf(key, sizeof(key), "K%02zu", i);
		envmap_set(&m, key, tricky[i]);
	}
	envmap_set(&m, "BERTH_SLUG", "feat-a");
	envfile_format(&m, ENV_FORMAT_SH, &sb);
	ASSERT_OK(write_file_atomic(path, sb.buf, sb.len, 0644));
	for (size_t i = 0; i < m.n; i++) {
		char *got = sh_eval(path, m.v[i].key);

		if (strcmp(got, m.v[i].value))
			printf("# %s: want \"%s\", sh says \"%s\"\n", m.v[i].key, m.v[i].value,
			       got);
		ASSERT_STREQ(got, m.v[i].value);
		free(got);
	}
	strbuf_release(&sb);
	envmap_finish(&m);
	ASSERT_OK(rm_rf(dir));
	free(path);
	free(dir);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_envmap_basics),
	TAP_TEST(test_session_env),
	TAP_TEST(test_session_env_missing_ports),
	TAP_TEST(test_session_env_service_names),
	TAP_TEST(test_write_sorted_and_quoted),
	TAP_TEST(test_write_missing_dir),
	TAP_TEST(test_dotenv_round_trip),
	TAP_TEST(test_parse_basics),
	TAP_TEST(test_parse_quotes),
	TAP_TEST(test_parse_crlf),
	TAP_TEST(test_parse_errors),
	TAP_TEST(test_parse_many_variables),
	TAP_TEST(test_format_dotenv_and_sh),
	TAP_TEST(test_sh_format_round_trips_through_sh),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
