/*
 * fuzz_config.c: .berth.ini through config_load (the file read, inih and the
 * option table), then what berth does with a config that loaded: validate it,
 * order its services, show it. Properties: a refused file comes with a cause;
 * the text config_show prints loads back and shows the same.
 */
#include "util/common.h"

#include "config/config.h"
#include "fuzz.h"

#define ROOT "/nonexistent/berth-fuzz"

/* validate reads the compose file the config names: the harness gives it a
 * fixed one instead, never a path taken from the input (/dev/tty...). */
static const char compose_text[] = "services:\n  web:\n    image: nginx\n  db:\n    image: pg\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, back;
	struct config_issues is;
	struct strbuf shown = STRBUF_INIT, again = STRBUF_INIT;
	char *cause = NULL;
	size_t *order = NULL;

	if (config_load(&c, ROOT, fuzz_file(0, data, size), &cause) < 0) {
		FUZZ_CHECK(cause != NULL);
		free(cause);
		return 0;
	}
	FUZZ_CHECK(cause == NULL);

	config_show(&c, &shown);
	if (config_load_string(&back, ROOT, shown.buf, "shown", &cause) < 0) {
		fprintf(stderr, "config_show's text does not load back: %s\n%s", cause, shown.buf);
		abort();
	}
	config_show(&back, &again);
	FUZZ_CHECK(!strcmp(shown.buf, again.buf));
	config_finish(&back);

	free(c.compose_file);
	c.compose_file = xstrdup(fuzz_file(1, compose_text, strlen(compose_text)));
	config_validate(&c, &is);
	config_issues_finish(&is);
	if (config_service_order(&c, &order) >= 0)
		free(order);
	for (size_t i = 0; i < c.n_services; i++)
		FUZZ_CHECK(config_service(&c, c.services[i].name) == &c.services[i]);

	strbuf_release(&shown);
	strbuf_release(&again);
	config_finish(&c);
	return 0;
}
