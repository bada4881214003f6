/*
 * hash.c - stable 64-bit hash (see hash.h).
 *
 * Construction: each 8-byte little-endian word is multiplied into the
 * state with two odd 64-bit constants and a rotation (a multiply-rotate
 * scheme in the family of the well-known Murmur/xxHash designs); the tail
 * is packed into one final word together with the length, and the state is
 * finished with the SplitMix64 avalanche step.  Byte order is fixed
 * explicitly so big-endian hosts agree with little-endian ones.
 */
#include "auditwatch/hash.h"

#include <string.h>

static const uint64_t K1 = 0x9E3779B97F4A7C15ULL;
static const uint64_t K2 = 0xC2B2AE3D27D4EB4FULL;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load_le64(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline uint64_t avalanche(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t aw_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * K1);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w = load_le64(p + i) * K2;
        h ^= rotl64(w, 31) * K1;
        h = rotl64(h, 27) * K1 + K2;
    }
    uint64_t tail = 0;
    if (i < len && len >= 8) {
        /* The tail bytes are the top ones of the last 8: one load and a
         * shift instead of a loop over up to 7 bytes. */
        tail = load_le64(p + len - 8) >> (8 * (8 - (len - i)));
    } else {
        for (size_t j = 0; i + j < len; j++)
            tail |= (uint64_t)p[i + j] << (8 * j);
    }
    h ^= rotl64(tail * K2, 33) * K1;
    return avalanche(h ^ len);
}

void aw_hex64(uint64_t v, char out[16])
{
    /* Two digits per table entry: one lookup and one 2-byte copy per byte. */
    static const char pairs[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    for (int i = 7; i >= 0; i--) {
        memcpy(out + 2 * i, pairs + 2 * (v & 0xff), 2);
        v >>= 8;
    }
}
