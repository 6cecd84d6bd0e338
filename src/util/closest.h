/*
 * closest.h: the did-you-mean of a typo (a config key, a section, a
 * command, an option): a candidate at most 2 edits away and less than half
 * the word.
 */
#ifndef BERTH_CLOSEST_H
#define BERTH_CLOSEST_H

#include <stdbool.h>
#include <stddef.h>

#define CLOSEST_WORD_MAX 64 /* longer words are never close */

/* Is cand a closer match for typo than *best edits? Then *best becomes its
 * distance. Start with *best = SIZE_MAX. */
bool closest_better(const char *typo, const char *cand, size_t *best);

#endif
