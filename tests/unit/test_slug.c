/*
 * test_slug.c: session names: slug_check against the grammar
 * ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$, slug_from_branch (lowercasing, runs
 * of other characters to one '-', trimming, empty / too long), and
 * slug_quote for messages (control bytes, backslash, truncation).
 */
#include "util/common.h"

#include "store/slug.h"
#include "tap.h"

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void expect_valid(const char *s)
{
	char *cause = NULL;
	int r = slug_check(s, &cause);

	if (r != 0)
		printf("# rejected \"%s\": %s\n", s, cause ? cause : "(no cause)");
	ASSERT_EQ_INT(r, 0);
	ASSERT_TRUE(cause == NULL);
}

static void expect_invalid(const char *s, const char *want)
{
	char *cause = NULL;
	int r = slug_check(s, &cause);

	if (r != -EINVAL)
		printf("# accepted \"%s\"\n", s);
	ASSERT_EQ_INT(r, -EINVAL);
	ASSERT_CONTAINS(cause, want);
	free(cause);
}

static void test_check_valid(void)
{
	char *max = repeat('a', SLUG_MAX);

	expect_valid("a"); /* one character is a name (it was refused: issue 15) */
	expect_valid("7");
	expect_valid("ab");
	expect_valid("a1");
	expect_valid("1a");
	expect_valid("42");
	expect_valid("a-b");
	expect_valid("a--b"); /* the grammar allows inner runs of '-' */
	expect_valid("feat-foo-bar");
	expect_valid("0123456789abcdefghijklmnopqrstuvwxyz");
	expect_valid(max);
	max[0] = '9';
	max[SLUG_MAX - 1] = '0';
	max[SLUG_MAX / 2] = '-';
	expect_valid(max);
	free(max);
}

static void test_check_invalid(void)
{
	static const char *const bad[] = {
		"",    "A",   "-",   "--",   "-a",   "a-", "-ab-", "Ab",  "aB",  "a_b",
		"a.b", "a b", "a/b", "a\nb", "a\tb", "é",  "aé",   "a+b", " ab", "ab ",
	};
	char *long1 = repeat('a', SLUG_MAX + 1), *long2 = repeat('-', 200);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_invalid(bad[i], "use 1-63 characters from a-z, 0-9 and '-'");
	expect_invalid(long1, "longer than 63 characters");
	expect_invalid(long2, "longer than 63 characters");
	free(long1);
	free(long2);
}

static void test_check_cause_quotes_the_name(void)
{
	char *cause = NULL;

	ASSERT_EQ_INT(slug_check("Bad\x1b[31mName", &cause), -EINVAL);
	/* a terminal escape never reaches the user's terminal raw */
	ASSERT_CONTAINS(cause, "'Bad\\x1b[31mName'");
	ASSERT_TRUE(strchr(cause, '\x1b') == NULL);
	free(cause);
}

static void expect_branch(const char *branch, const char *want)
{
	char *slug = NULL, *cause = NULL;
	int r = slug_from_branch(branch, &slug, &cause);

	if (r < 0)
		printf("# \"%s\": %s\n", branch, cause ? cause : "(no cause)");
	ASSERT_OK(r);
	ASSERT_STREQ(slug, want);
	ASSERT_TRUE(cause == NULL);
	ASSERT_OK(slug_check(slug, &cause));
	free(slug);
}

static void expect_branch_bad(const char *branch, const char *want)
{
	char *slug = (char *)0x1, *cause = NULL;

	ASSERT_EQ_INT(slug_from_branch(branch, &slug, &cause), -EINVAL);
	ASSERT_TRUE(slug == (char *)0x1); /* not written on failure */
	ASSERT_CONTAINS(cause, want);
	free(cause);
}

static void test_from_branch(void)
{
	char *b63 = repeat('x', SLUG_MAX), *long_runs;

	expect_branch("feat/Foo_bar", "feat-foo-bar");
	expect_branch("main", "main");
	expect_branch("FEATURE", "feature");
	expect_branch("feat//foo__bar", "feat-foo-bar"); /* runs collapse */
	expect_branch("a/-_.b", "a-b");                  /* a mixed run is one '-' */
	expect_branch("--feat--", "feat");               /* trimmed both ends */
	expect_branch("/.feat/x.", "feat-x");
	expect_branch("user/JIRA-123_fix it", "user-jira-123-fix-it");
	expect_branch("v1.2.3", "v1-2-3");
	expect_branch("caf\xc3\xa9-bar", "caf-bar"); /* non-ASCII bytes are separators */
	expect_branch("x-y", "x-y");
	expect_branch("a", "a"); /* a one-letter branch is a one-letter name */
	expect_branch("/A/", "a");
	expect_branch("_9_", "9");
	expect_branch(b63, b63);
	/* a long branch that collapses to a short enough slug is fine */
	long_runs = xasprintf("ab%sc", "////////////////////////////////////////////////////"
				       "////////////////////////////////////////////////");
	expect_branch(long_runs, "ab-c");
	free(long_runs);
	free(b63);
}

static void test_from_branch_errors(void)
{
	char *b64 = repeat('x', SLUG_MAX + 1), *b200 = xasprintf("feat/%0200d", 7);

	expect_branch_bad("", "gives no usable session name");
	expect_branch_bad("///", "gives no usable session name");
	expect_branch_bad("-_-.", "gives no usable session name");
	expect_branch_bad("_", "gives no usable session name: it has no letter or digit");
	expect_branch_bad("\xc3\xa9\xc3\xa9", "gives no usable session name");
	expect_branch_bad(b64, "longer than 63 characters");
	expect_branch_bad(b200, "longer than 63 characters");
	/* the cause quotes the branch safely */
	{
		char *slug, *cause = NULL;

		ASSERT_EQ_INT(slug_from_branch("\x01\x02", &slug, &cause), -EINVAL);
		ASSERT_CONTAINS(cause, "branch '\\x01\\x02'");
		free(cause);
	}
	free(b64);
	free(b200);
}

static void test_quote(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{"", ""},
		{"plain name", "plain name"},
		{"a\\b", "a\\b"},
		{"tab\there", "tab\\x09here"},
		{"nl\n", "nl\\x0a"},
		{"\x1b[2J", "\\x1b[2J"},
		{"\x7f", "\\x7f"},
		{"caf\xc3\xa9", "caf\xc3\xa9"}, /* valid UTF-8 stays */
		{"x\xc2\x9by", "x\\xc2\\x9by"}, /* a C1 control does not */
		{"'\"~!", "'\"~!"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		char *q = slug_quote(v[i].in);

		ASSERT_STREQ(q, v[i].out);
		free(q);
	}
}

static void test_quote_truncates(void)
{
	char *s80 = repeat('a', 80), *s81 = repeat('b', 81), *s500 = repeat('\x01', 500), *q;

	q = slug_quote(s80);
	ASSERT_STREQ(q, s80); /* exactly 80: kept whole */
	free(q);

	q = slug_quote(s81);
	ASSERT_EQ_INT(strlen(q), 83);
	ASSERT_EQ_INT(strncmp(q, s81, 80), 0);
	ASSERT_STREQ(q + 80, "...");
	free(q);

	/* 80 input characters, each escaped to 4 bytes, then "..." */
	q = slug_quote(s500);
	ASSERT_EQ_INT(strlen(q), 80 * 4 + 3);
	ASSERT_EQ_INT(strncmp(q, "\\x01\\x01", 8), 0);
	ASSERT_STREQ(q + 320, "...");
	free(q);

	free(s80);
	free(s81);
	free(s500);
}

static const struct tap_test tests[] = {
	TAP_TEST(test_check_valid),
	TAP_TEST(test_check_invalid),
	TAP_TEST(test_check_cause_quotes_the_name),
	TAP_TEST(test_from_branch),
	TAP_TEST(test_from_branch_errors),
	TAP_TEST(test_quote),
	TAP_TEST(test_quote_truncates),
};

int main(int argc, char **argv)
{
	return tap_main(argc, argv, tests, ARRAY_SIZE(tests));
}
