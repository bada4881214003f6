/*
 * hash.h - a fast, stable 64-bit hash for identities.
 *
 * Event identities and (later) alert ids and store keys are derived from
 * this hash, so its output is part of the on-disk and on-the-wire contract:
 * it must give the same value on every platform and in every release.  It
 * reads input eight bytes at a time in little-endian order and finishes
 * with a strong 64-bit mixer; it is not a cryptographic hash.
 */
#ifndef AUDITWATCH_HASH_H
#define AUDITWATCH_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t aw_hash64(const void *data, size_t len, uint64_t seed);

/* Write v as 16 lowercase hex digits (no NUL). */
void aw_hex64(uint64_t v, char out[16]);

#endif
