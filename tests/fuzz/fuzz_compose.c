/*
 * fuzz_compose.c: a compose file through both readers of docker/compose.c:
 * compose_services (berth init, validate) and compose_rewrite (the session's
 * copy: the depth and size checks, libyaml's loader, the port, name and
 * volume rewriting, the emitter). Properties: a refused file comes with a
 * cause; a file rewrite accepts, services accepts; the rewritten file reads
 * back with the same services.
 */
#include "util/common.h"

#include "docker/compose.h"
#include "fuzz.h"

static const struct compose_port ports[] = {
	{"web", 80, 18081},
	{"db", 5432, 15433},
	{"cache", 6379, 16380},
	{"dns", 53, 10054},
};

static const struct compose_rewrite rw = {
	.project = "fuzz_feat-a",
	.prefix = "fuzz",
	.slot = 1,
	.ports = ports,
	.n_ports = ARRAY_SIZE(ports),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strvec names = STRVEC_INIT, images = STRVEC_INIT, warnings = STRVEC_INIT;
	struct strvec again = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	const char *path = fuzz_file(0, data, size);
	char *cause = NULL;
	int r, rr;

	r = compose_services(path, &names, &images, &cause);
	FUZZ_CHECK((r < 0) == (cause != NULL));
	FUZZ_CHECK(r < 0 || names.n == images.n);
	free(cause);
	cause = NULL;

	rr = compose_rewrite(path, &rw, &out, &warnings, &cause);
	FUZZ_CHECK((rr < 0) == (cause != NULL));
	free(cause);
	cause = NULL;
	if (rr == 0) {
		FUZZ_CHECK(r == 0);
		if (compose_services(fuzz_file(1, out.buf, out.len), &again, NULL, &cause) < 0) {
			fprintf(stderr, "the rewritten file does not read back: %s\n%s", cause,
				out.buf);
			abort();
		}
		FUZZ_CHECK(again.n == names.n);
		for (size_t i = 0; i < names.n; i++)
			FUZZ_CHECK(!strcmp(again.v[i], names.v[i]));
	}

	strvec_clear(&names);
	strvec_clear(&images);
	strvec_clear(&warnings);
	strvec_clear(&again);
	strbuf_release(&out);
	return 0;
}
