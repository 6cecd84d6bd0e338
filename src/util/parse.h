/*
 * parse.h: the one checked way to turn text into numbers and durations.
 */
#ifndef BERTH_PARSE_H
#define BERTH_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Parse a decimal unsigned integer in [min, max]; the whole string must be
 * digits. Returns 0, -EINVAL (not a number) or -ERANGE (out of range). */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* Same for a signed value. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret);
/* Parse a duration: a number with an optional suffix ms, s, m, h or d (no suffix
 * means seconds); fractions allowed ("1.5s"). Result in milliseconds. */
int parse_duration_ms(const char *s, uint64_t *ret_ms);
/* Format a duration in the shortest exact unit ("1500ms" -> "1.5s"). The caller frees. */
char *format_duration_ms(uint64_t ms);
/* Parse true/false/yes/no/on/off/1/0. */
int parse_bool(const char *s, bool *ret);

#endif
