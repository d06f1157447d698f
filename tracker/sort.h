/* Sorting the dump's entries in place: an MSD radix sort (American flag sort) on a 64-bit key, for a listing of
 * millions of records without a second copy of it or any allocation. */
#ifndef LW_SORT_H
#define LW_SORT_H

#include "internal.h"

/* The orders the dump needs. */
typedef enum {
    LW_SORT_KEY,     /* by e->key: kind, class, site, then oldest first */
    LW_SORT_ADDRESS, /* the heap first, each part by handle */
} lw_sort_by_t;

/* The value v is sorted on in that order. */
static inline uint64_t lw_sort_value(const lw_entry_t *e, lw_sort_by_t by)
{
    if (by == LW_SORT_KEY)
        return e->key;
    return (uint32_t)(e->key >> 61) == LW_HEAP ? e->handle : (1ull << 63) | e->handle;
}

/* Sorts v[0, n) ascending on lw_sort_value; entries with equal values keep no particular order. */
void lw_sort_entries(lw_entry_t *v, size_t n, lw_sort_by_t by);

#endif
