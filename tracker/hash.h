/* uthash configured for the tracker: its memory comes from the internal allocator and its hash is a fast mix
 * that suits the 8-byte keys of the live tables as well as the frame arrays of the site table. */
#ifndef LW_HASH_H
#define LW_HASH_H

#include "internal.h"

#include <string.h>

static inline uint32_t lw_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

static inline uint32_t lw_hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ull + (h >> 29);
        p += 8;
        len -= 8;
    }
    while (len--)
        h = (h ^ *p++) * 0x100000001b3ull;
    return lw_mix64(h);
}

#undef uthash_malloc
#undef uthash_free
#define uthash_malloc(sz) lw_mem_alloc(sz)
#define uthash_free(ptr, sz) lw_mem_free((ptr), (sz))
#define uthash_nonfatal_oom(obj) ((void)0)
#define HASH_NONFATAL_OOM 1
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = lw_hash_bytes((keyptr), (size_t)(keylen)))

/* Keys of the live tables are one word: compare them as one. Nonzero when they differ, like memcmp. */
static inline int lw_key_differs(const void *a, const void *b, size_t len)
{
    if (len == sizeof(uintptr_t)) {
        uintptr_t x, y;
        memcpy(&x, a, sizeof x);
        memcpy(&y, b, sizeof y);
        return x != y;
    }
    return memcmp(a, b, len);
}
#define HASH_KEYCMP(a, b, len) lw_key_differs((a), (b), (size_t)(len))

#include <uthash.h>

#endif
