/* The call-site table: every distinct stack is stored once and named by a small integer id, so that a live
 * record carries four bytes of stack instead of a whole backtrace. */
#include "hash.h"

typedef struct lw_site {
    UT_hash_handle hh;
    uint32_t id;
    uint32_t nframes;
    uintptr_t frames[];
} lw_site_t;

/* Sites are found by id through a two-level array that only grows, so a reader (the dump writer) can index it
 * without taking the lock; the hash table used to intern new stacks is guarded by site_lock. */
#define LW_SITE_CHUNK 4096
#define LW_SITE_CHUNKS 4096

static lw_lock_t site_lock;
static lw_site_t *site_index;
static lw_site_t **_Atomic site_chunks[LW_SITE_CHUNKS];
static atomic_uint site_next = 1;
atomic_ulong lw_lost_sites;

uint32_t lw_site_intern(const uintptr_t *frames, int n)
{
    size_t keylen = (size_t)n * sizeof(uintptr_t);
    lw_site_t *s;

    lw_lock(&site_lock);
    HASH_FIND(hh, site_index, frames, keylen, s);
    if (s) {
        uint32_t id = s->id;
        lw_unlock(&site_lock);
        return id;
    }
    uint32_t id = atomic_load(&site_next);
    uint32_t chunk = id / LW_SITE_CHUNK;
    if (chunk >= LW_SITE_CHUNKS)
        goto full;
    if (!site_chunks[chunk]) {
        lw_site_t **c = lw_mem_alloc(LW_SITE_CHUNK * sizeof(*c));
        if (!c)
            goto full;
        atomic_store(&site_chunks[chunk], c);
    }
    s = lw_mem_alloc(sizeof(*s) + keylen);
    if (!s)
        goto full;
    s->id = id;
    s->nframes = (uint32_t)n;
    memcpy(s->frames, frames, keylen);
    HASH_ADD_KEYPTR(hh, site_index, s->frames, keylen, s);
    if (!s->hh.tbl) {
        /* uthash could not grow its table and left the site out: without it the stack would be interned anew,
         * under a new id, every time it is seen */
        lw_mem_free(s, sizeof(*s) + keylen);
        goto full;
    }
    site_chunks[chunk][id % LW_SITE_CHUNK] = s;
    atomic_store(&site_next, id + 1);
    lw_unlock(&site_lock);
    return id;
full:
    lw_unlock(&site_lock);
    atomic_fetch_add_explicit(&lw_lost_sites, 1, memory_order_relaxed);
    return 0;
}

int lw_site_frames(uint32_t id, uintptr_t *frames, int max)
{
    if (id == 0 || id >= atomic_load(&site_next))
        return -1;
    lw_site_t **c = atomic_load(&site_chunks[id / LW_SITE_CHUNK]);
    lw_site_t *s = c ? c[id % LW_SITE_CHUNK] : NULL;
    if (!s)
        return -1;
    int n = (int)s->nframes;
    for (int i = 0; i < n && i < max; i++)
        frames[i] = s->frames[i];
    return n;
}

size_t lw_sites_count(void)
{
    return atomic_load(&site_next) - 1;
}

void lw_sites_lock_all(void)
{
    lw_lock(&site_lock);
}

void lw_sites_unlock_all(void)
{
    lw_unlock(&site_lock);
}

void lw_sites_forked(void)
{
    atomic_store(&lw_lost_sites, 0);
}

void lw_sites_reset(void)
{
    lw_lock(&site_lock);
    lw_site_t *s, *tmp;
    HASH_ITER(hh, site_index, s, tmp) {
        HASH_DELETE(hh, site_index, s);
        lw_mem_free(s, sizeof(*s) + s->nframes * sizeof(uintptr_t));
    }
    for (uint32_t c = 0; c < LW_SITE_CHUNKS; c++) {
        if (site_chunks[c]) {
            lw_mem_free(site_chunks[c], LW_SITE_CHUNK * sizeof(lw_site_t *));
            site_chunks[c] = NULL;
        }
    }
    atomic_store(&site_next, 1);
    atomic_store(&lw_lost_sites, 0);
    lw_unlock(&site_lock);
}
