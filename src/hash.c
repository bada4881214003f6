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
    static const char digits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        unsigned byte = (unsigned)(v & 0xff);
        out[2 * i] = digits[byte >> 4];
        out[2 * i + 1] = digits[byte & 15];
        v >>= 8;
    }
}
