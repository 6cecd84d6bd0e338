/*
 * fuzz_envfile.c: dotenv text (the inherit_env files berth reads into a
 * session's environment) through envfile_parse. Properties: a refused text
 * comes with a cause; what envfile_format writes parses back to the same
 * variables in the same order.
 */
#include "util/common.h"

#include "config/envfile.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size), *cause = NULL;
	struct envmap m = {0}, back = {0};
	struct strbuf out = STRBUF_INIT;

	if (envfile_parse(text, &m, &cause) < 0) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		goto out;
	}
	envfile_format(&m, ENV_FORMAT_DOTENV, &out);
	if (envfile_parse(strbuf_str(&out), &back, &cause) < 0) {
		fprintf(stderr, "envfile_format's text does not parse back: %s\n%s", cause,
			out.buf);
		abort();
	}
	FUZZ_CHECK(back.n == m.n);
	for (size_t i = 0; i < m.n; i++) {
		FUZZ_CHECK(!strcmp(back.v[i].key, m.v[i].key));
		FUZZ_CHECK(!strcmp(back.v[i].value, m.v[i].value));
	}
	strbuf_reset(&out);
	envfile_format(&m, ENV_FORMAT_SH, &out);
out:
	strbuf_release(&out);
	envmap_finish(&m);
	envmap_finish(&back);
	free(text);
	return 0;
}
