/*
 * test_compose.c: the per-session compose file against golden files in
 * tests/unit/compose/: NAME.yml is read, NAME.out is the expected file and
 * NAME.warn the expected warnings (one per line). Short and long port
 * syntax, ip:host:container, protocols, ranges, ports added where the
 * original published none, container_name, named volumes and networks
 * (explicit names, external ones), bind mounts and build contexts untouched,
 * interpolation left intact, anchors and merge keys, custom tags; errors.
 * BERTH_UPDATE_GOLDEN=1 rewrites the golden files (review the diff).
 */
#include "util/common.h"

#include "docker/compose.h"
#include "tap.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

static const struct compose_port ports[] = {
	{"db", 5432, 15433},     {"cache", 6379, 16380}, {"dns", 53, 10054},
	{"dns", 8053, 18054},    {"mq", 5672, 15673},    {"api", 8080, 18081},
	{"worker", 9000, 19001}, {"other", 2222, 12223},
};

static const struct compose_rewrite rw = {
	.project = "myapp_feat-a",
	.prefix = "myapp",
	.slot = 1,
	.ports = ports,
	.n_ports = ARRAY_SIZE(ports),
};

static char *golden_path(const char *name, const char *ext)
{
	return xasprintf("%s/tests/unit/compose/%s.%s", getenv("BERTH_SRCDIR"), name, ext);
}

static void expect_file(const char *name, const char *ext, const char *got)
{
	char *path = golden_path(name, ext), *want = NULL;
	size_t len;

	if (getenv("BERTH_UPDATE_GOLDEN")) {
		ASSERT_OK(write_file_atomic(path, got, strlen(got), 0644));
		free(path);
		return;
	}
	if (read_file(path, 1 << 20, &want, &len) < 0)
		want = xstrdup("");
	if (strcmp(want, got))
		printf("# %s differs; got:\n%s\n", path, got);
	ASSERT_STREQ(got, want);
	free(want);
	free(path);
}

static void check(const char *name)
{
	char *in = golden_path(name, "yml"), *cause = NULL;
	struct strbuf out = STRBUF_INIT, warn = STRBUF_INIT;
	struct strvec warnings = STRVEC_INIT;

	if (compose_rewrite(in, &rw, &out, &warnings, &cause) < 0)
		printf("# %s\n", cause);
	ASSERT_TRUE(cause == NULL);
	for (size_t i = 0; i < warnings.n; i++)
		strbuf_addf(&warn, "%s\n", warnings.v[i]);
	expect_file(name, "out", out.buf ? out.buf : "");
	expect_file(name, "warn", warn.buf ? warn.buf : "");
	strbuf_release(&out);
	strbuf_release(&warn);
	strvec_clear(&warnings);
	free(in);
}

static void test_short_syntax(void)
{
	check("short");
}

static void test_long_syntax(void)
{
	check("long");
}

static void test_volumes_networks_paths(void)
{
	check("volumes");
}

static void test_anchors_and_tags(void)
{
	check("anchors");
}

static void test_errors(void)
{
	char *path = golden_path("bad-yaml", "yml"), *cause = NULL;
	struct strbuf out = STRBUF_INIT;

	ASSERT_EQ_INT(compose_rewrite(path, &rw, &out, NULL, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "bad-yaml.yml:");
	ASSERT_CONTAINS(cause, "not valid YAML");
	free(cause);
	free(path);
	path = golden_path("no-services", "yml");
	cause = NULL;
	ASSERT_EQ_INT(compose_rewrite(path, &rw, &out, NULL, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, "no top-level 'services:' mapping");
	free(cause);
	free(path);
	cause = NULL;
	ASSERT_EQ_INT(compose_rewrite("/nonexistent/compose.yml", &rw, &out, NULL, &cause),
		      -ENOENT);
	ASSERT_CONTAINS(cause, "cannot read the compose file");
	free(cause);
	cause = NULL;
	/* a FIFO (or a device) is not read: it would block */
	ASSERT_EQ_INT(compose_rewrite("/dev/null", &rw, &out, NULL, &cause), -EINVAL);
	ASSERT_STREQ(cause, "cannot read the compose file /dev/null: not a regular file");
	free(cause);
	strbuf_release(&out);
}

/* Write y to a fresh compose.yml and expect both readers to refuse it with
 * want in the cause, within bounded time. */
static void expect_refused(const struct strbuf *y, const char *want)
{
	char dir[] = "/tmp/bc-XXXXXX", *path, *cause = NULL;
	struct strbuf out = STRBUF_INIT;
	struct strvec names = STRVEC_INIT;
	uint64_t t0;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/compose.yml", dir);
	ASSERT_OK(write_file_atomic(path, y->buf, y->len, 0644));
	t0 = time_mono_ms();
	ASSERT_EQ_INT(compose_services(path, &names, NULL, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, want);
	free(cause);
	cause = NULL;
	ASSERT_EQ_INT(compose_rewrite(path, &rw, &out, NULL, &cause), -EINVAL);
	ASSERT_CONTAINS(cause, want);
	ASSERT_TRUE(time_mono_ms() - t0 < 2000);
	free(cause);
	strbuf_release(&out);
	strvec_clear(&names);
	rm_rf(dir);
	free(path);
}

static void test_alias_bomb(void)
{
	/* nine levels of nine aliases: 9^9 nodes once expanded */
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 10; i++) {
		strbuf_addf(&y, "a%d: &a%d [", i, i);
		for (int j = 0; j < 9; j++)
			strbuf_addf(&y, "%s*a%d", j ? ", " : "", i - 1);
		strbuf_adds(&y, "]\n");
	}
	strbuf_adds(&y, "services:\n  s:\n    image: x\n    labels: *a9\n");
	expect_refused(&y, "compose.yml:6:15: more than 200000 nodes once aliases are expanded");
	strbuf_release(&y);
}

/* One list of 20,000 ports, aliased by 20,000 services (600 KB): the rewrite
 * walked every port of every service, 4e8 warnings (10 GB, minutes), since
 * the copy's node limit did not cover the ports. Refused before any walk. */
static void test_alias_bomb_through_ports(void)
{
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "x-ports: &p [");
	for (int i = 0; i < 20000; i++)
		strbuf_adds(&y, i ? ",1" : "1");
	strbuf_adds(&y, "]\nservices:\n");
	for (int i = 0; i < 20000; i++)
		strbuf_addf(&y, "  s%d: {image: x, ports: *p}\n", i);
	expect_refused(&y, "more than 200000 nodes once aliases are expanded");
	strbuf_release(&y);
}

/* A mapping of 20,000 keys aliased by 20,000 services: compose_services
 * looked for `image:` through all of it for each service (4e8 compares). */
static void test_alias_bomb_through_services(void)
{
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "x-svc: &m {");
	for (int i = 0; i < 20000; i++)
		strbuf_addf(&y, "%sk%d: 1", i ? ", " : "", i);
	strbuf_adds(&y, "}\nservices:\n");
	for (int i = 0; i < 20000; i++)
		strbuf_addf(&y, "  s%d: *m\n", i);
	expect_refused(&y, "more than 200000 nodes once aliases are expanded");
	strbuf_release(&y);
}

/* 300,000 anchors (3 MB): libyaml's loader compares every anchor with every
 * earlier one, over two minutes. Refused at the 1001st. */
static void test_many_anchors(void)
{
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "services:\n  s:\n    image: x\nx: [");
	for (int i = 0; i < 300000; i++)
		strbuf_addf(&y, "%s&a%d x", i ? "," : "", i);
	strbuf_adds(&y, "]\n");
	expect_refused(&y, "compose.yml:4:");
	expect_refused(&y, "more than 1000 anchors");
	strbuf_release(&y);
}

/* An alias inside the node it names makes a cycle: refused, not expanded
 * until a limit. */
static void test_recursive_alias(void)
{
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "services:\n  s:\n    image: x\n    labels: &l [x, *l]\n");
	expect_refused(&y, "compose.yml:4:20: alias *l is inside the node it names");
	strbuf_release(&y);
}

/* 80,000 nested flow sequences (160 KB) took libyaml 17.9 s (quadratic in
 * depth): refused after one pass over the bytes, with where; 150 levels, and
 * brackets inside quotes and comments, are read as before. */
static void test_yaml_depth(void)
{
	char dir[] = "/tmp/bd-XXXXXX", *path, *cause = NULL;
	struct strbuf y = STRBUF_INIT, out = STRBUF_INIT;
	uint64_t t0;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/compose.yml", dir);
	strbuf_adds(&y, "x: ");
	for (int i = 0; i < 80000; i++)
		strbuf_addch(&y, '[');
	for (int i = 0; i < 80000; i++)
		strbuf_addch(&y, ']');
	strbuf_adds(&y, "\nservices:\n  s:\n    image: x\n");
	ASSERT_OK(write_file_atomic(path, y.buf, y.len, 0644));
	t0 = time_mono_ms();
	ASSERT_EQ_INT(compose_rewrite(path, &rw, &out, NULL, &cause), -EINVAL);
	ASSERT_TRUE(time_mono_ms() - t0 < 2000);
	ASSERT_CONTAINS(cause, "compose.yml:1:204: nested more than 200 levels deep");
	free(cause);
	cause = NULL;
	/* the byte pre-scan took "-'" for the start of a quoted scalar, libyaml
	 * a plain one: the nesting after it went through (15 s, then 22 s) */
	strbuf_reset(&y);
	strbuf_adds(&y, "x: [-'a, ");
	for (int i = 0; i < 80000; i++)
		strbuf_addch(&y, '[');
	for (int i = 0; i < 80000; i++)
		strbuf_addch(&y, ']');
	strbuf_adds(&y, "]\nservices:\n  s:\n    image: x\n");
	expect_refused(&y, "compose.yml:1:209: nested more than 200 levels deep");
	/* block style: compose_services took it, the rewrite called it too large
	 * "once its aliases are expanded" */
	strbuf_reset(&y);
	strbuf_adds(&y, "x:\n  ");
	for (int i = 0; i < 80000; i++)
		strbuf_adds(&y, "- ");
	strbuf_adds(&y, "y\nservices:\n  s:\n    image: x\n");
	expect_refused(&y, "compose.yml:2:403: nested more than 200 levels deep");
	strbuf_reset(&y);
	strbuf_adds(&y, "x: ");
	for (int i = 0; i < 150; i++)
		strbuf_addch(&y, '[');
	for (int i = 0; i < 150; i++)
		strbuf_addch(&y, ']');
	strbuf_adds(&y, "\n# [[[[[[[[[[ a comment\nservices:\n  s:\n    image: x\n    command: \"");
	for (int i = 0; i < 300; i++)
		strbuf_addch(&y, '[');
	strbuf_adds(&y, "\"\n");
	ASSERT_OK(write_file_atomic(path, y.buf, y.len, 0644));
	strbuf_reset(&out);
	if (compose_rewrite(path, &rw, &out, NULL, &cause) < 0)
		tap_fail(__FILE__, __LINE__, cause);
	strbuf_release(&y);
	strbuf_release(&out);
	rm_rf(dir);
	free(path);
}

/* What aliases add counts: the depth of the node an alias names, where the
 * alias is; and no more than 10,000 aliases in all (libyaml's loader looks
 * each up among all the anchors). */
static void test_alias_depth_and_count(void)
{
	struct strbuf y = STRBUF_INIT;

	strbuf_adds(&y, "a: &deep ");
	for (int i = 0; i < 150; i++)
		strbuf_addch(&y, '[');
	for (int i = 0; i < 150; i++)
		strbuf_addch(&y, ']');
	strbuf_adds(&y, "\nb: ");
	for (int i = 0; i < 100; i++)
		strbuf_addch(&y, '[');
	strbuf_adds(&y, "*deep");
	for (int i = 0; i < 100; i++)
		strbuf_addch(&y, ']');
	strbuf_adds(&y, "\nservices:\n  s:\n    image: x\n");
	expect_refused(&y, "compose.yml:2:104: nested more than 200 levels deep once aliases are "
			   "expanded");
	strbuf_reset(&y);
	strbuf_adds(&y, "services:\n  s:\n    image: &i x\nx: [");
	for (int i = 0; i < 10001; i++)
		strbuf_adds(&y, i ? ",*i" : "*i");
	strbuf_adds(&y, "]\n");
	expect_refused(&y, "compose.yml:4:30005: more than 10000 aliases");
	strbuf_release(&y);
}

/* A second top-level `services:` whose value is not a mapping (found by
 * fuzz_compose): load() checks the first only, and the rewrite read the
 * second, a scalar, as a mapping (heap overflow under ASan). It is copied
 * as it is. */
static void test_second_services_key(void)
{
	char dir[] = "/tmp/bs-XXXXXX", *path, *cause = NULL;
	const char *y = "services:\n  db:\n    image: x\nservices: dbdata:/data\n";
	struct strbuf out = STRBUF_INIT;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/compose.yml", dir);
	ASSERT_OK(write_file_atomic(path, y, strlen(y), 0644));
	if (compose_rewrite(path, &rw, &out, NULL, &cause) < 0)
		tap_fail(__FILE__, __LINE__, cause);
	ASSERT_CONTAINS(out.buf, "services: dbdata:/data\n");
	ASSERT_CONTAINS(out.buf, "- \"15433:5432\"");
	strbuf_release(&out);
	rm_rf(dir);
	free(path);
}

static void test_services(void)
{
	char *path = golden_path("short", "yml"), *cause = NULL;
	struct strvec v = STRVEC_INIT, img = STRVEC_INIT;

	ASSERT_OK(compose_services(path, &v, &img, &cause));
	ASSERT_EQ_INT(img.n, 4);
	ASSERT_STREQ(img.v[0], "postgres:15");
	ASSERT_STREQ(img.v[3], "busybox");
	strvec_clear(&img);
	ASSERT_EQ_INT(v.n, 4);
	ASSERT_STREQ(v.v[0], "db");
	ASSERT_STREQ(v.v[1], "cache");
	ASSERT_STREQ(v.v[2], "dns");
	ASSERT_STREQ(v.v[3], "other");
	strvec_clear(&v);
	free(path);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_short_syntax),
	TAP_TEST(test_long_syntax),
	TAP_TEST(test_volumes_networks_paths),
	TAP_TEST(test_anchors_and_tags),
	TAP_TEST(test_errors),
	TAP_TEST(test_alias_bomb),
	TAP_TEST(test_alias_bomb_through_ports),
	TAP_TEST(test_alias_bomb_through_services),
	TAP_TEST(test_many_anchors),
	TAP_TEST(test_recursive_alias),
	TAP_TEST(test_alias_depth_and_count),
	TAP_TEST(test_yaml_depth),
	TAP_TEST(test_second_services_key),
	TAP_TEST(test_services),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
