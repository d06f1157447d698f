/* Who holds what, per call site, from the reachability scan's graph (lw_links_t): the lost blocks each definite
 * site's blocks account for, and the way from a root to each reachable site. */
#ifndef LW_RETAIN_H
#define LW_RETAIN_H

#include "internal.h"
#include "json_out.h"

/* One group of the dump (kind, class and site: an entry's key >> 32, as dump.c groups). */
typedef struct {
    uint32_t key;
    int32_t pos;                  /* its index in the dump's `sites`, -1 while not written */
    uint32_t root;                /* an indirect group that is no root: the group of its first block's root */
    uint32_t rep;                 /* a reachable group: its block the scan reached first */
    uint8_t is_root, cycle;       /* heads lost blocks; cycle: an indirect group that does (no definite reaches) */
    uint64_t dir_count, dir_bytes; /* its own blocks that head their group */
    uint64_t ind_count, ind_bytes; /* the other lost blocks its groups hold */
} lw_rgroup_t;

/* The held_by of a reachable group: the root record of its first block reached and the groups on the way down
 * from the root (chain[len - 1] nearest the root). */
typedef struct {
    lw_root_t root;
    uint32_t valid, len;
    uint32_t chain[16];
} lw_rheld_t;

typedef struct {
    lw_links_t links;             /* what lw_reach_snapshot fills in, in the scanning copy */
    size_t cap, n;
    lw_rgroup_t *g;               /* sorted by key */
    size_t ng;
    uint64_t *pairs;              /* root group << 32 | group it holds, sorted, each once */
    size_t npairs, pairs_size;
    uint32_t *gi;                 /* the group of each heap block (in the copy only) */
    lw_rheld_t *held;             /* of each group */
    int built;
} lw_retain_t;

/* Takes room for the graph of a listing of cap entries (r->links, filled in by the scanning copy only) and sets
 * its hooks: the copy groups the graph by site (v holds the nheap heap entries in the listing's order, their
 * keys carrying the classes in cls) and sends the groups, which this process receives into r. Without memory
 * for them, nothing is added to the dump. Returns 0 or ENOMEM (nothing held then). */
int lw_retain_prepare(lw_retain_t *r, size_t cap);

/* Tells the group of `key` its index in the dump's sites. */
void lw_retain_place(lw_retain_t *r, uint32_t key, size_t pos);

/* Writes the members of the site of group `key` (docs/FORMAT.md: indirect_count, indirect_bytes, indirect_sites,
 * cycle, direct_count, direct_bytes, root_site, held_by), each preceded by ", "; nothing when not built. */
void lw_retain_out(lw_out_t *o, const lw_retain_t *r, uint32_t key);

void lw_retain_free(lw_retain_t *r);

#endif
