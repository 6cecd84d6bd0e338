/*
 * forensics.h: what can be known of why a process died when it was not our
 * child (its exit status is lost to us): the machine's memory pressure and
 * the kernel's out-of-memory lines about it. For the watcher's death
 * records; nothing here is a verdict, only evidence.
 */
#ifndef BERTH_PROBE_FORENSICS_H
#define BERTH_PROBE_FORENSICS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/strbuf.h"

/* Append "memory pressure: some avg10=0.00 ..., full avg10=0.00 ..." (or
 * why it is unknown) and the kernel log's lines about an OOM kill of one of
 * pids[0..n) ("oom: Killed process 123 (node) ..."; at most 3) to out,
 * "; "-separated. kmsg: the kernel log device ("/dev/kmsg"); pressure:
 * "/proc/pressure/memory" (parameters for tests). */
void forensics_snapshot(const pid_t *pids, size_t n, const char *kmsg, const char *pressure,
			struct strbuf *out);
/* The kernel log's OOM lines about one of pids[0..n) in text (the records
 * of /dev/kmsg, one per line: "6,1234,5678,-;Killed process ..."), at most
 * max, appended "; "-separated to out. Returns how many. */
size_t forensics_oom_lines(const char *text, const pid_t *pids, size_t n, size_t max,
			   struct strbuf *out);

#endif
