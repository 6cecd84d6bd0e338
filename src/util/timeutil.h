/*
 * timeutil.h: clocks.
 */
#ifndef BERTH_TIMEUTIL_H
#define BERTH_TIMEUTIL_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t time_mono_ms(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t time_mono_ns(void);
/* Wall clock, seconds since the epoch. */
int64_t time_wall_s(void);
/* Wall clock, milliseconds since the epoch. */
int64_t time_wall_ms(void);
/* "3s", "5m", "2h", "4d": a short age for tables. The caller frees. */
char *time_format_age(int64_t seconds);
/* RFC 3339 UTC ("2026-11-22T10:00:00Z"). The caller frees. */
char *time_format_rfc3339(int64_t epoch_s);

#endif
