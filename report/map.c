/* Open-addressing hash map (linear probing) from copied byte keys to indices. */
#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lwr_map_slot {
    char *key;      /* NULL: empty slot */
    size_t klen;
    uint64_t hash;
    size_t value;
};

/* Eight bytes a step, each mixed in by a multiplication; the last step folds the high bits into the low ones,
 * which pick the slot. */
static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static struct lwr_map_slot *find(const lwr_map_t *map, const void *key, size_t klen, uint64_t h)
{
    size_t mask = map->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct lwr_map_slot *s = &map->slots[i];
        if (!s->key || (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0))
            return s;
    }
}

size_t lwr_map_get(const lwr_map_t *map, const void *key, size_t klen)
{
    if (map->cap == 0)
        return (size_t)-1;
    struct lwr_map_slot *s = find(map, key, klen, hash_bytes(key, klen));
    return s->key ? s->value : (size_t)-1;
}

static int grow(lwr_map_t *map)
{
    size_t cap = map->cap ? map->cap * 2 : 64;
    struct lwr_map_slot *old = map->slots;
    size_t oldcap = map->cap;
    map->slots = calloc(cap, sizeof *map->slots);
    if (!map->slots) {
        map->slots = old;
        return -1;
    }
    map->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *find(map, old[i].key, old[i].klen, old[i].hash) = old[i];
    free(old);
    return 0;
}

int lwr_map_put(lwr_map_t *map, const void *key, size_t klen, size_t value)
{
    /* Keep the load at most 1/2 so that probes stay short. */
    if ((map->len + 1) * 2 > map->cap && grow(map) != 0)
        return -1;
    uint64_t h = hash_bytes(key, klen);
    struct lwr_map_slot *s = find(map, key, klen, h);
    if (!s->key) {
        char *copy = malloc(klen ? klen : 1);
        if (!copy)
            return -1;
        memcpy(copy, key, klen);
        s->key = copy;
        s->klen = klen;
        s->hash = h;
        map->len++;
    }
    s->value = value;
    return 0;
}

void lwr_map_clear(lwr_map_t *map)
{
    for (size_t i = 0; i < map->cap; i++)
        free(map->slots[i].key);
    free(map->slots);
    map->slots = NULL;
    map->cap = map->len = 0;
}
