/*
 * hash.c: FNV-1a.
 */
#include "util/common.h"

#include "util/hash.h"

uint64_t hash_fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

char *hash_root_id(const char *root)
{
	return xasprintf("%016" PRIx64, hash_fnv1a64(root));
}
