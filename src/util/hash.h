/*
 * hash.h: a small non-cryptographic hash for names derived from paths.
 */
#ifndef BERTH_HASH_H
#define BERTH_HASH_H

#include <stdint.h>

/* FNV-1a, 64 bits. */
uint64_t hash_fnv1a64(const char *s);
/* The repository's identity: 16 hex digits of the hash of its main root path
 * (the value of BERTH_ROOT_ID). The caller frees. */
char *hash_root_id(const char *root);

#endif
