/*
 * fuzz_engine.c: what the Docker engine's socket answers (engine.c), through
 * engine_response_parse: the head, Content-Length, chunked framing. A
 * refused answer leaves the body untouched; an accepted one has a status
 * HTTP knows and a body no longer than the answer.
 */
#include "util/common.h"

#include "docker/engine.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf body = STRBUF_INIT;
	int status = 0;

	if (engine_response_parse((const char *)data, size, &status, &body) < 0) {
		FUZZ_CHECK(body.len == 0);
	} else {
		FUZZ_CHECK(status >= 100 && status <= 599);
		FUZZ_CHECK(body.len <= size);
	}
	strbuf_release(&body);
	return 0;
}
