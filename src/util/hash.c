/*
 * hash.c: FNV-1a.
 */
#include "util/common.h"

#include "util/hash.h"

uint64_t hash_fnv1a64_n(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t hash_fnv1a64(const char *s)
{
	return hash_fnv1a64_n(s, strlen(s));
}

char *hash_root_id(const char *root)
{
	return xasprintf("%016" PRIx64, hash_fnv1a64(root));
}
