/* A small hash map from byte strings to indices, shared by the symbolizer caches and the site aggregation. */
#ifndef LWR_MAP_H
#define LWR_MAP_H

#include <stddef.h>

typedef struct {
    struct lwr_map_slot *slots;
    size_t cap;     /* a power of two, or 0 before the first insert */
    size_t len;
} lwr_map_t;

#define LWR_MAP_INIT { NULL, 0, 0 }

/* Returns the value stored for the `klen` bytes at `key`, or (size_t)-1 when absent. */
size_t lwr_map_get(const lwr_map_t *map, const void *key, size_t klen);

/* Stores `value` for the key (the key bytes are copied), replacing an old value.
 * Returns 0, or -1 when out of memory (the map is unchanged then). */
int lwr_map_put(lwr_map_t *map, const void *key, size_t klen, size_t value);

/* Frees the map's memory and leaves it empty and reusable. */
void lwr_map_clear(lwr_map_t *map);

#endif
