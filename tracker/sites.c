/* The call-site table: every distinct stack is stored once and named by a small integer id, so that a live
 * record carries four bytes of stack instead of a whole backtrace. */
#include "hash.h"

typedef struct lw_site {
    uint32_t id;
    uint32_t nframes;
    uintptr_t frames[];
} lw_site_t;

/* Sites are found by id through a two-level array that only grows, so a reader (the dump writer) can index it
 * without taking the lock. A stack is found among the sites through an open-addressing index of (hash, id)
 * pairs guarded by site_lock: a look-up reads one line of the index and the one site whose hash matches, where a
 * chained table walked a bucket of separately allocated records, a cache miss each (cc1 spent most of the time
 * it interned stacks walking uthash's chains). */
#define LW_SITE_CHUNK 4096
#define LW_SITE_CHUNKS 4096
#define LW_SITE_SLOTS 4096 /* the index's first size, doubled whenever it is half full */

typedef struct {
    uint32_t hash;
    uint32_t id; /* 0: free */
} lw_site_slot_t;

static lw_lock_t site_lock;
static lw_site_slot_t *site_slots;
static uint32_t site_slot_count, site_used;
static lw_site_t **_Atomic site_chunks[LW_SITE_CHUNKS];
static atomic_uint site_next = 1;
atomic_ulong lw_lost_sites;

static lw_site_t *site_by_id(uint32_t id)
{
    lw_site_t **c = atomic_load_explicit(&site_chunks[id / LW_SITE_CHUNK], memory_order_acquire);
    return c ? c[id % LW_SITE_CHUNK] : NULL;
}

/* The index twice as large (or its first one), holding the same sites. Returns 0 or -1 when out of memory. */
static int slots_grow(void)
{
    uint32_t count = site_slot_count ? site_slot_count * 2 : LW_SITE_SLOTS;
    lw_site_slot_t *t = lw_mem_alloc(count * sizeof(*t)); /* zeroed */
    if (!t)
        return -1;
    for (uint32_t i = 0; i < site_slot_count; i++) {
        if (!site_slots[i].id)
            continue;
        uint32_t j = site_slots[i].hash & (count - 1);
        while (t[j].id)
            j = (j + 1) & (count - 1);
        t[j] = site_slots[i];
    }
    if (site_slots)
        lw_mem_free(site_slots, site_slot_count * sizeof(*site_slots));
    site_slots = t;
    site_slot_count = count;
    return 0;
}

uint32_t lw_site_intern(const uintptr_t *frames, int n)
{
    size_t keylen = (size_t)n * sizeof(uintptr_t);
    uint32_t hash = lw_hash_bytes(frames, keylen);
    lw_site_t *s;

    lw_lock(&site_lock);
    if ((site_used + 1) * 2 > site_slot_count && slots_grow() < 0 && site_used + 1 >= site_slot_count)
        goto full; /* a full index could not grow: a slot is always left free, where look-ups stop */
    uint32_t mask = site_slot_count - 1, i = hash & mask;
    for (; site_slots[i].id; i = (i + 1) & mask) {
        if (site_slots[i].hash != hash)
            continue;
        s = site_by_id(site_slots[i].id);
        if (s->nframes == (uint32_t)n && memcmp(s->frames, frames, keylen) == 0) {
            uint32_t id = s->id;
            lw_unlock(&site_lock);
            return id;
        }
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
    site_chunks[chunk][id % LW_SITE_CHUNK] = s;
    site_slots[i].hash = hash;
    site_slots[i].id = id;
    site_used++;
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
    lw_site_t *s = site_by_id(id);
    if (!s)
        return -1;
    int n = (int)s->nframes;
    for (int i = 0; i < n && i < max; i++)
        frames[i] = s->frames[i];
    return n;
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
    uint32_t next = atomic_load(&site_next);
    for (uint32_t id = 1; id < next; id++) {
        lw_site_t *s = site_by_id(id);
        if (s)
            lw_mem_free(s, sizeof(*s) + s->nframes * sizeof(uintptr_t));
    }
    for (uint32_t c = 0; c < LW_SITE_CHUNKS; c++) {
        if (site_chunks[c]) {
            lw_mem_free(site_chunks[c], LW_SITE_CHUNK * sizeof(lw_site_t *));
            site_chunks[c] = NULL;
        }
    }
    if (site_slots)
        lw_mem_free(site_slots, site_slot_count * sizeof(*site_slots));
    site_slots = NULL;
    site_slot_count = site_used = 0;
    atomic_store(&site_next, 1);
    atomic_store(&lw_lost_sites, 0);
    lw_unlock(&site_lock);
}
