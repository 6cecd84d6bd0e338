/*
 * hash.h: a small non-cryptographic hash for names derived from paths.
 */
#ifndef BERTH_HASH_H
#define BERTH_HASH_H

#include <stdint.h>

#include <stddef.h>

/* FNV-1a, 64 bits, of a NUL-terminated string. */
uint64_t hash_fnv1a64(const char *s);
/* FNV-1a, 64 bits, of len bytes. */
uint64_t hash_fnv1a64_n(const void *data, size_t len);
/* The repository's identity: 16 hex digits of the hash of its main root path
 * (the value of BERTH_ROOT_ID). The caller frees. */
char *hash_root_id(const char *root);

#endif
