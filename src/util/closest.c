/*
 * closest.c: the did-you-mean of a typo (see closest.h).
 */
#include <stdint.h>
#include <string.h>

#include "util/closest.h"

/* Levenshtein distance; SIZE_MAX for words longer than CLOSEST_WORD_MAX. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[CLOSEST_WORD_MAX + 2],
	       prev[CLOSEST_WORD_MAX + 2];

	if (la > CLOSEST_WORD_MAX || lb > CLOSEST_WORD_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t del = prev[j] + 1, ins = row[j - 1] + 1;
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t m = del < ins ? del : ins;

			row[j] = m < sub ? m : sub;
		}
		memcpy(prev, row, sizeof(row));
	}
	return prev[lb];
}

bool closest_better(const char *typo, const char *cand, size_t *best)
{
	size_t d = edit_distance(typo, cand), la = strlen(typo), lb = strlen(cand);
	size_t longer = la > lb ? la : lb;

	if (d > 2 || 2 * d >= longer || d >= *best)
		return false;
	*best = d;
	return true;
}
