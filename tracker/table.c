/* The live-handle tables: 64 shards, each with its own lock and its own pool. A heap block's shard follows the
 * 64 MiB region it lies in: glibc gives each thread's arena its own 64 MiB-aligned heap, so threads that
 * allocate at once work in different shards and their cache lines stay on their own cores. In a shard, heap
 * records live in a nursery while young and then in spans (a uthash table of 4 KiB address spans, each with a
 * small array of the records whose blocks start in it); the other kinds, and heap handles packed too densely
 * for a span, have a uthash record each. */
#include "hash.h"
#include "closes.h"
#include "sort.h"
#include "sys.h"
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define LW_SHARDS 64
#define LW_POOL_CHUNK (64u * 1024u)
#define CHUNK_LINK 16u /* the bytes of a pool chunk that hold the next chunk's address */

/* The key comparison of the live tables: a record keeps its handle (a span its number) in uthash's key pointer
 * itself rather than in a member the pointer points to (HASH_ADD_KEYPTR with the key as the "pointer"), which
 * saves 8 bytes an item. `a` is the stored key, `b` points to the key looked for. Every lookup in this file
 * passes the key's address and every add the key's value, and HASH_FUNCTION is never called here (hash values
 * are given), so uthash never dereferences a stored key. */
#undef HASH_KEYCMP
#define HASH_KEYCMP(a, b, len) ((void)(len), (uintptr_t)(a) != *(const uintptr_t *)(b))

/* What a record holds besides its handle and kind: 16 bytes. `meta` packs the size (or, for the other kinds, the
 * detail value) in 48 bits with the fork generation and the flags. */
typedef struct {
    uint64_t meta;
    uint32_t site;
    uint32_t born_ms;
} body_t;

/* A record of its own: the body and uthash's 56-byte handle, 80 bytes. The kind is implied by the table the
 * record is in, the handle is the key (see HASH_KEYCMP). `stamp`: for the kinds but the heap, the shard's count
 * of that kind's records added before this one (lw_shard_t's puts), which tells a release put off by a signal
 * handler whether this is the record it released or one added since. */
typedef struct lw_rec {
    UT_hash_handle hh;
    body_t b;
    uint32_t stamp;
} lw_rec_t;

#define REC_HANDLE(r) ((uintptr_t)(r)->hh.key)

#define META_SIZE_MASK ((1ull << 48) - 1)
#define META(size, gen, flags)                                                                                  \
    (((uint64_t)(size) & META_SIZE_MASK) | ((uint64_t)(uint8_t)(gen) << 48) | ((uint64_t)(uint8_t)(flags) << 56))
#define META_SIZE(m) ((m) & META_SIZE_MASK)
#define META_GEN(m) ((uint8_t)((m) >> 48))
#define META_FLAGS(m) ((uint8_t)((m) >> 56))
#define REC_FLAGS(r) META_FLAGS((r)->b.meta)

typedef struct lw_pool_free {
    struct lw_pool_free *next;
} lw_pool_free_t;

/* A span: the heap records of the blocks that start in one 4 KiB span of addresses, as n offsets into the span
 * (2 bytes each) followed, in the same store, by their bodies. A store holds 4 << cls records; it doubles when
 * full and halves when a quarter full. Blocks made one after another lie side by side, so an acquisition finds
 * the span it adds to already in the cache (and usually among the shard's recent spans), and a table of spans
 * has a fortieth of the items a table of records would: adding to it and looking in it miss the cache far less.
 * A span's handle is 72 bytes like a record's, shared by tens of blocks: 18 to 20 bytes a record all told. */
#define SPAN_SHIFT 12
#define SPAN_CLASSES 7 /* stores of 4 to 256 records */
#define SPAN_CAP(cls) (4u << (cls))
#define STORE_OFFS(cls) ((SPAN_CAP(cls) * 2u + 15u) & ~15u) /* the offsets, padded to the bodies' alignment */
#define STORE_BYTES(cls) (STORE_OFFS(cls) + SPAN_CAP(cls) * (unsigned)sizeof(body_t))
#define SPAN_KEY_SENTINEL UINTPTR_MAX /* no handle >> SPAN_SHIFT is this */

typedef struct lw_span {
    UT_hash_handle hh; /* keyed by the span's number (handle >> SPAN_SHIFT), kept in the key pointer */
    uint16_t n;
    uint8_t cls;
    void *store;
} lw_span_t;

#define SPAN_KEY(sp) ((uintptr_t)(sp)->hh.key)
#define RECENT_SPANS 256 /* a shard's cache of spans (lw_shard_t's recent) */
#define SPAN_OFFS(sp) ((uint16_t *)(sp)->store)
#define SPAN_BODIES(sp) ((body_t *)((char *)(sp)->store + STORE_OFFS((sp)->cls)))

#define POOL_CLASSES (1 + SPAN_CLASSES)
_Static_assert(sizeof(lw_span_t) <= sizeof(lw_rec_t), "a span must fit the pool's record class");

/* The nursery of a shard: young heap records in a set-associative array, 8 ways a set, so that a block that dies
 * young (most do) is recorded and released without touching uthash: a lookup reads the one cache line of its
 * set's handles. A record is promoted into the shard's uthash table when its set is full and it is the oldest of
 * the set. Handle 0 marks a free way (no heap block is at address 0). */
#define NURSERY_WAYS 8
#define NURSERY_SETS 1024u

/* A way's body lies in one cache line after the line of handles, so a release reads two lines. */
typedef struct {
    uintptr_t handle[NURSERY_WAYS];
    body_t way[NURSERY_WAYS];
} __attribute__((aligned(64))) nursery_set_t;

typedef struct {
    lw_lock_t lock;
    lw_rec_t *heads[LW_KIND_COUNT];
    lw_span_t *spans;           /* the heap records past the nursery, by span */
    size_t in_spans;            /* records in spans, of every generation */
    nursery_set_t *nursery;     /* NURSERY_SETS sets, allocated with the shard's first heap record; NULL until */
    size_t nursed;              /* records in the nursery, of every generation */
    uint32_t died_young, moved_on; /* the nursery's records released, and promoted, in the current window */
    uint32_t bypass;            /* heap records still to put straight into uthash (see nursery_put) */
    lw_pool_free_t *free[POOL_CLASSES];
    char *pool_cur, *pool_end;
    char *chunks; /* the pool's chunks, each holding the next one's address in its first bytes */
    size_t live[LW_KIND_COUNT]; /* records of this process (not the inherited ones), for lw_tables_total */
    /* Records added of each kind but the heap, counted under the lock and read without it: a release put off by a
     * signal handler (defer_release) is carried out only if none was added since. */
    _Atomic uint32_t puts[LW_KIND_COUNT];
    /* The spans most recently found or made, by the low bits of their number: 1 MiB of addresses in a row. An
     * acquisition and the free of a block made a moment ago usually find their spans here and not in uthash,
     * whose bucket chains of a large table are a cache miss at every step (perl building a hash: 98% of span
     * lookups end here; the one last span kept before caught 83%). */
    lw_span_t *recent[RECENT_SPANS];
} __attribute__((aligned(64))) lw_shard_t;

static lw_shard_t shards[LW_SHARDS];
atomic_ulong lw_lost_records;

/* The hash of a handle (or of a span's number): bits 24 to 55 of one multiplication, which the handle's low bits
 * all reach (heap blocks lie 16 bytes apart or more, descriptors count up from 3; uthash takes a bucket from the
 * low bits of the hash, the nursery a set from the high ones). Every malloc and free computes it and the shard,
 * so each is one multiplication rather than a full mix. */
static inline uint32_t handle_hash(uintptr_t h)
{
    return (uint32_t)(((uint64_t)h * 0x9e3779b97f4a7c15ull) >> 24);
}

/* The shard of the 64 MiB region a handle lies in: the top bits of one multiplication of the region's number. */
static inline lw_shard_t *shard_of(uintptr_t handle)
{
    return &shards[((uint64_t)(handle >> 26) * 0xc2b2ae3d27d4eb4full) >> (64 - 6)];
}
_Static_assert(LW_SHARDS == 1 << 6, "shard_of takes six bits");

static inline uint32_t span_hash(uintptr_t key)
{
    return handle_hash(key);
}

/* uthash frees a table when its last item goes and allocates one for the next: with few live handles per shard
 * that would happen on nearly every call. A sentinel record that is never removed keeps each table alive. */
#define LW_SENTINEL UINTPTR_MAX
#define LW_REC_SENTINEL 1
/* A heap block recorded by sampling, counted in sampled_filter. Like LW_REC_SENTINEL it is the table's own: it
 * shares its bit with LW_FLAG_POOL_BLOCK, which the scan sets on its entries, so it never leaves table.c. */
#define LW_REC_SAMPLED 0x80
static lw_rec_t sentinels[LW_SHARDS][LW_KIND_COUNT];
static lw_span_t span_sentinels[LW_SHARDS]; /* no records (n 0) and a key no handle has */
static atomic_int sentinels_ready;

static void add_sentinels(void)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            lw_rec_t *r = &sentinels[i][k];
            uintptr_t h = LW_SENTINEL;
            r->b.meta = META(0, 0, LW_REC_SENTINEL);
            HASH_ADD_KEYPTR_BYHASHVALUE(hh, shards[i].heads[k], (const void *)h, sizeof(h), handle_hash(h), r);
        }
        lw_span_t *sp = &span_sentinels[i];
        uintptr_t key = SPAN_KEY_SENTINEL;
        HASH_ADD_KEYPTR_BYHASHVALUE(hh, shards[i].spans, (const void *)key, sizeof(key), span_hash(key), sp);
    }
}

/* With sampling, most heap blocks have no record, and a free must tell so without a lock or a table lookup: a
 * bit per slot of the handle (lw_sample_bits, lw_sample_slot: the boundary's, so that the free wrapper reads it
 * inline) says whether any sampled record lies there, and a free whose bit is clear has nothing to release. 4 KiB
 * of bits, and a slot a page, so that the check stays in the cache of a program that churns through megabytes (a
 * first version, with 256 KiB of counters read on every free, spent most of the free waiting for them; 32 KiB of
 * one-byte counters still did, and so did these bits with a slot per 16 bytes). A count per slot keeps the bit
 * right, both changed under filter_lock only, which is taken inside a shard lock (so never held across fork) and
 * only on the sampled path. A release nested in a signal handler only tries the lock: when it fails the count
 * stays one too high, and frees of that slot look in the table for nothing, which is slower but never wrong. A
 * count that reaches its maximum stays there for the same reason. */
_Atomic uint64_t lw_sample_bits[LW_SAMPLE_SLOTS / 64];
static uint16_t filter_counts[LW_SAMPLE_SLOTS];
static lw_lock_t filter_lock;

/* Whether a block of this kind at handle can have a record: always but for heap blocks under sampling. */
static inline int maybe_recorded(lw_kind_t kind, uintptr_t handle)
{
    return kind != LW_HEAP || !lw_heap_unrecorded((const void *)handle);
}

/* Counts a sampled record in (delta 1) or out (delta -1). Caller holds the record's shard lock; `nested` when it
 * runs inside a signal handler that interrupted the tracker (then the lock is only tried). */
static void filter_add(uintptr_t handle, int delta, int nested)
{
    uint32_t i = lw_sample_slot(handle);
    if (!nested)
        lw_lock(&filter_lock);
    else if (!lw_trylock(&filter_lock))
        return;
    uint16_t c = filter_counts[i];
    if (c != UINT16_MAX && !(delta < 0 && c == 0)) {
        c = (uint16_t)(c + delta);
        filter_counts[i] = c;
        if (c == 0)
            atomic_fetch_and_explicit(&lw_sample_bits[i / 64], ~(1ull << (i % 64)), memory_order_relaxed);
        else if (c == 1 && delta > 0)
            atomic_fetch_or_explicit(&lw_sample_bits[i / 64], 1ull << (i % 64), memory_order_relaxed);
    }
    lw_unlock(&filter_lock);
}

/* The fork generation: a record made before the last fork belongs to the parent, and a child reports only
 * records of its own generation. */
static uint8_t cur_gen; /* compared for equality only: wrapping after 256 nested forks is harmless */

static inline nursery_set_t *set_of(lw_shard_t *s, uint32_t hv)
{
    /* uthash picks buckets with the low bits of hv; the set comes from the high ones */
    return &s->nursery[(hv >> 16) & (NURSERY_SETS - 1)];
}

/* The shard's pool hands out memory in POOL_CLASSES sizes, each with its own free list: class 0 holds a record
 * or a span, the others a span's store (see spans below). */
static const uint16_t pool_size[POOL_CLASSES] = {
    sizeof(lw_rec_t), STORE_BYTES(0), STORE_BYTES(1), STORE_BYTES(2), STORE_BYTES(3),
    STORE_BYTES(4),   STORE_BYTES(5), STORE_BYTES(6),
};

static void *pool_alloc(lw_shard_t *s, unsigned cls)
{
    if (s->free[cls]) {
        lw_pool_free_t *f = s->free[cls];
        s->free[cls] = f->next;
        return f;
    }
    size_t size = pool_size[cls];
    if ((size_t)(s->pool_end - s->pool_cur) < size) {
        char *c = lw_mem_alloc(LW_POOL_CHUNK);
        if (!c)
            return NULL;
        *(char **)c = s->chunks;
        s->chunks = c;
        s->pool_cur = c + CHUNK_LINK;
        s->pool_end = c + LW_POOL_CHUNK;
    }
    void *p = s->pool_cur;
    s->pool_cur += size;
    return p;
}

static void pool_free(lw_shard_t *s, unsigned cls, void *p)
{
    lw_pool_free_t *f = p;
    f->next = s->free[cls];
    s->free[cls] = f;
}

/* The way of handle in its nursery set, or -1. */
static inline int nursery_way(const nursery_set_t *set, uintptr_t handle)
{
    for (int w = 0; w < NURSERY_WAYS; w++)
        if (set->handle[w] == handle)
            return w;
    return -1;
}

/* Adds a record to the shard's uthash table. Returns 0, or -1 when there was no memory for it. Caller holds the
 * shard lock. */
static int table_add(lw_shard_t *s, lw_kind_t kind, uintptr_t handle, uint32_t hv, const body_t *b, uint32_t stamp)
{
    lw_rec_t *r = pool_alloc(s, 0);
    if (!r)
        return -1;
    r->b = *b;
    r->stamp = stamp;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->heads[kind], (const void *)handle, sizeof(handle), hv, r);
    if (LW_UNLIKELY(!r->hh.tbl)) {
        /* uthash could not allocate its table or more buckets, and left the record out */
        pool_free(s, 0, r);
        return -1;
    }
    return 0;
}

/* ---- spans ---- */

/* The span of key, or NULL. Caller holds the shard lock. */
static inline lw_span_t *span_find(lw_shard_t *s, uintptr_t key)
{
    lw_span_t **c = &s->recent[key % RECENT_SPANS];
    lw_span_t *sp = *c;
    if (sp && SPAN_KEY(sp) == key)
        return sp;
    HASH_FIND_BYHASHVALUE(hh, s->spans, &key, sizeof(key), span_hash(key), sp);
    if (sp)
        *c = sp;
    return sp;
}

/* The index of offset off in sp, or -1. The newest records are looked at first: they are the likeliest to go. */
static inline int span_slot(const lw_span_t *sp, uint16_t off)
{
    const uint16_t *offs = SPAN_OFFS(sp);
    for (int i = sp->n - 1; i >= 0; i--)
        if (offs[i] == off)
            return i;
    return -1;
}

/* Moves sp's records to a store of class cls. Returns 0, or -1 when there was no memory (sp is unchanged). */
static int span_restore(lw_shard_t *s, lw_span_t *sp, unsigned cls)
{
    void *store = pool_alloc(s, 1 + cls);
    if (!store)
        return -1;
    memcpy(store, SPAN_OFFS(sp), sp->n * sizeof(uint16_t));
    memcpy((char *)store + STORE_OFFS(cls), SPAN_BODIES(sp), sp->n * sizeof(body_t));
    pool_free(s, 1 + sp->cls, sp->store);
    sp->store = store;
    sp->cls = (uint8_t)cls;
    return 0;
}

/* Adds a heap record to its span. Returns 0; -1 when there was no memory for it; -2 when its span is full (its
 * record goes into the shard's heap table instead). Caller holds the shard lock. */
static int span_add(lw_shard_t *s, uintptr_t handle, const body_t *b)
{
    uintptr_t key = handle >> SPAN_SHIFT;
    lw_span_t *sp = span_find(s, key);
    if (!sp) {
        sp = pool_alloc(s, 0);
        if (!sp)
            return -1;
        sp->store = pool_alloc(s, 1);
        if (!sp->store) {
            pool_free(s, 0, sp);
            return -1;
        }
        sp->n = 0;
        sp->cls = 0;
        HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->spans, (const void *)key, sizeof(key), span_hash(key), sp);
        if (LW_UNLIKELY(!sp->hh.tbl)) {
            pool_free(s, 1, sp->store);
            pool_free(s, 0, sp);
            return -1;
        }
        s->recent[key % RECENT_SPANS] = sp;
    } else if (sp->n == SPAN_CAP(sp->cls)) {
        if (sp->cls + 1u == SPAN_CLASSES)
            return -2;
        if (span_restore(s, sp, sp->cls + 1u) < 0)
            return -1;
    }
    SPAN_OFFS(sp)[sp->n] = (uint16_t)(handle & ((1u << SPAN_SHIFT) - 1));
    SPAN_BODIES(sp)[sp->n] = *b;
    sp->n++;
    s->in_spans++;
    return 0;
}

/* Takes handle's record out of its span into *out. Returns nonzero when there was one. A span left empty goes;
 * a store left a quarter full halves, except in a signal handler (`nested`), which must not allocate. Caller
 * holds the shard lock. */
static int span_take(lw_shard_t *s, uintptr_t handle, body_t *out, int nested)
{
    lw_span_t *sp = span_find(s, handle >> SPAN_SHIFT);
    if (!sp)
        return 0;
    int i = span_slot(sp, (uint16_t)(handle & ((1u << SPAN_SHIFT) - 1)));
    if (i < 0)
        return 0;
    body_t *bodies = SPAN_BODIES(sp);
    uint16_t *offs = SPAN_OFFS(sp);
    *out = bodies[i];
    sp->n--;
    offs[i] = offs[sp->n];
    bodies[i] = bodies[sp->n];
    s->in_spans--;
    if (sp->n == 0) {
        HASH_DELETE(hh, s->spans, sp);
        pool_free(s, 1 + sp->cls, sp->store);
        s->recent[SPAN_KEY(sp) % RECENT_SPANS] = NULL;
        pool_free(s, 0, sp);
    } else if (sp->cls > 0 && sp->n == SPAN_CAP(sp->cls) / 4 && !nested) {
        (void)span_restore(s, sp, sp->cls - 1u); /* without memory it stays as large as it is */
    }
    return 1;
}

/* The meta word of handle's record in its span, or NULL. Caller holds the shard lock. */
static uint64_t *span_meta(lw_shard_t *s, uintptr_t handle)
{
    lw_span_t *sp = span_find(s, handle >> SPAN_SHIFT);
    int i = sp ? span_slot(sp, (uint16_t)(handle & ((1u << SPAN_SHIFT) - 1))) : -1;
    return i >= 0 ? &SPAN_BODIES(sp)[i].meta : NULL;
}

/* Whether the shard's heap table holds records besides its sentinel: those of handles too dense for their span. */
static inline int dense_records(const lw_shard_t *s)
{
    return s->heads[LW_HEAP] && HASH_COUNT(s->heads[LW_HEAP]) > 1;
}

/* Adds a heap record past the nursery: to its span, or to the shard's heap table when the span is full. Returns
 * as table_add. Caller holds the shard lock. */
static int heap_add(lw_shard_t *s, uintptr_t handle, const body_t *b)
{
    int err = span_add(s, handle, b);
    return err == -2 ? table_add(s, LW_HEAP, handle, handle_hash(handle), b, 0) : err;
}

/* A program whose blocks mostly outlive the nursery (perl building a large hash keeps nearly all) would pay for
 * the nursery on top of the spans: every record written twice and every release looking in both. So the nursery
 * watches windows of NURSERY_WINDOW records that left it: when more moved on than died young, the shard empties
 * its nursery into the spans and puts the next NURSERY_BYPASS heap records straight there, then tries again. */
#define NURSERY_WINDOW 4096u
#define NURSERY_BYPASS 65536u

/* A record that was to move from the nursery into its span and was lost for want of memory: it leaves the
 * shard's counts and joins the lost ones. Caller holds the shard lock, outside a signal handler. */
static void lose_promoted(lw_shard_t *s, uintptr_t handle, const body_t *b)
{
    if (META_GEN(b->meta) == cur_gen)
        s->live[LW_HEAP]--;
    if (META_FLAGS(b->meta) & LW_REC_SAMPLED)
        filter_add(handle, -1, 0);
    atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
}

/* Moves every record of the shard's nursery into the spans. Caller holds the shard lock. */
static void nursery_flush(lw_shard_t *s)
{
    for (size_t n = 0; n < NURSERY_SETS && s->nursed; n++) {
        nursery_set_t *set = &s->nursery[n];
        for (int w = 0; w < NURSERY_WAYS; w++) {
            if (!set->handle[w])
                continue;
            if (heap_add(s, set->handle[w], &set->way[w]) < 0)
                lose_promoted(s, set->handle[w], &set->way[w]);
            set->handle[w] = 0;
            s->nursed--;
        }
    }
}

/* The end of a window: decides whether the shard bypasses the nursery for a while. */
static __attribute__((noinline)) void nursery_window_end(lw_shard_t *s)
{
    if (s->moved_on > s->died_young) {
        s->bypass = NURSERY_BYPASS;
        nursery_flush(s);
    }
    s->died_young = s->moved_on = 0;
}

/* Counts one record leaving the nursery (every free of a young block comes here, inline). */
static inline void nursery_left(lw_shard_t *s, int died_young)
{
    if (died_young)
        s->died_young++;
    else
        s->moved_on++;
    if (LW_UNLIKELY(s->died_young + s->moved_on >= NURSERY_WINDOW))
        nursery_window_end(s);
}

/* Puts a heap record into the nursery, promoting the oldest record of a full set into its span (a promoted record
 * lost for want of memory is counted lost here: the new one is in all the same). Returns 0; -2 when the record is
 * to go past the nursery instead (the shard has no nursery, or bypasses it). Caller holds the shard lock. */
static int nursery_put(lw_shard_t *s, uintptr_t handle, uint32_t hv, const body_t *b)
{
    if (s->bypass) {
        s->bypass--;
        return -2;
    }
    if (LW_UNLIKELY(!s->nursery)) {
        /* 192 KiB for the shard's first heap record; without it, the records go to the spans directly */
        s->nursery = lw_mem_alloc(NURSERY_SETS * sizeof(nursery_set_t));
        if (!s->nursery)
            return -2;
    }
    nursery_set_t *set = set_of(s, hv);
    int w = nursery_way(set, 0);
    if (w < 0) {
        /* full: the oldest moves on (ages are ms since start, so the smallest born_ms) */
        w = 0;
        for (int i = 1; i < NURSERY_WAYS; i++)
            if (set->way[i].born_ms < set->way[w].born_ms)
                w = i;
        if (heap_add(s, set->handle[w], &set->way[w]) < 0)
            lose_promoted(s, set->handle[w], &set->way[w]);
        set->handle[w] = handle;
        set->way[w] = *b;
        nursery_left(s, 0); /* after the new record is in: a flush takes it along */
    } else {
        s->nursed++;
        set->handle[w] = handle;
        set->way[w] = *b;
    }
    return 0;
}

/* Takes the record for handle out of the tables into *out (when out is not NULL). Returns nonzero when there was
 * one. Caller holds the shard lock; `nested` as for filter_add. */
static int take(lw_shard_t *s, lw_kind_t kind, uintptr_t handle, uint32_t hv, body_t *out, int nested)
{
    body_t b;
    if (kind == LW_HEAP && s->nursed) {
        nursery_set_t *set = set_of(s, hv);
        int w = nursery_way(set, handle);
        if (w >= 0) {
            b = set->way[w];
            set->handle[w] = 0;
            s->nursed--;
            if (!nested) /* a window's end may empty the nursery, which allocates: never in a signal handler */
                nursery_left(s, 1);
            goto found;
        }
    }
    if (kind == LW_HEAP) {
        if (span_take(s, handle, &b, nested))
            goto found;
        if (!dense_records(s))
            return 0;
    }
    lw_rec_t *r;
    HASH_FIND_BYHASHVALUE(hh, s->heads[kind], &handle, sizeof(handle), hv, r);
    if (!r || (REC_FLAGS(r) & LW_REC_SENTINEL))
        return 0;
    HASH_DELETE(hh, s->heads[kind], r);
    b = r->b;
    pool_free(s, 0, r);
found:
    if (META_GEN(b.meta) == cur_gen)
        s->live[kind]--;
    if (META_FLAGS(b.meta) & LW_REC_SAMPLED)
        filter_add(handle, -1, nested);
    if (out)
        *out = b;
    return 1;
}

/* The meta word of handle's record, where it lies, or NULL. Caller holds the shard lock. */
static uint64_t *find_meta(lw_shard_t *s, lw_kind_t kind, uintptr_t handle, uint32_t hv)
{
    if (kind == LW_HEAP && s->nursed) {
        nursery_set_t *set = set_of(s, hv);
        int w = nursery_way(set, handle);
        if (w >= 0)
            return &set->way[w].meta;
    }
    if (kind == LW_HEAP) {
        uint64_t *m = span_meta(s, handle);
        if (m || !dense_records(s))
            return m;
    }
    lw_rec_t *r;
    HASH_FIND_BYHASHVALUE(hh, s->heads[kind], &handle, sizeof(handle), hv, r);
    return r && !(REC_FLAGS(r) & LW_REC_SENTINEL) ? &r->b.meta : NULL;
}

static int nursery_off; /* see testing.h */

void lw_nursery_off(int off)
{
    nursery_off = off;
}

void lw_test_hold_shard(uintptr_t handle, int hold)
{
    if (hold)
        lw_lock(&shard_of(handle)->lock);
    else
        lw_unlock(&shard_of(handle)->lock);
}

/* Set once a release could not be carried out (a handler that interrupted the tracker released a handle of a
 * shard whose lock was held, and its release could not be put off: see release_nested and forget_released). From
 * then on every acquisition looks for a stale record of its handle first. */
static atomic_int release_missed;

static void put(lw_kind_t kind, uintptr_t handle, uint64_t size, uint32_t site, uint32_t born_ms, unsigned flags,
                uint8_t gen)
{
    if (LW_UNLIKELY(!atomic_load_explicit(&sentinels_ready, memory_order_acquire))) {
        /* first record: every shard lock, so no other thread adds while the sentinels go in */
        lw_tables_lock_all();
        if (!atomic_load(&sentinels_ready)) {
            add_sentinels();
            atomic_store(&sentinels_ready, 1);
        }
        lw_tables_unlock_all();
    }
    if (LW_UNLIKELY(handle == LW_SENTINEL || (kind == LW_HEAP && handle == 0)))
        return;
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    body_t b = { META(size, gen, flags), site, born_ms };
    int err;
    uint32_t stamp = 0;

    lw_lock(&s->lock);
    /* A live record for this handle means its release was missed: replace it. Descriptors are closed behind
     * our back all the time (a raw close system call); a heap block only when a release was missed. */
    if (kind != LW_HEAP) {
        take(s, kind, handle, hv, NULL, 0);
        stamp = atomic_load_explicit(&s->puts[kind], memory_order_relaxed);
        atomic_store_explicit(&s->puts[kind], stamp + 1, memory_order_relaxed);
    } else if (LW_UNLIKELY(atomic_load_explicit(&release_missed, memory_order_relaxed))) {
        take(s, kind, handle, hv, NULL, 0);
    }
    err = kind == LW_HEAP && !nursery_off ? nursery_put(s, handle, hv, &b) : -2;
    if (err == -2)
        err = kind == LW_HEAP ? heap_add(s, handle, &b) : table_add(s, kind, handle, hv, &b, stamp);
    if (err == 0 && gen == cur_gen)
        s->live[kind]++;
    if (err == 0 && (flags & LW_REC_SAMPLED))
        filter_add(handle, 1, 0);
    lw_unlock(&s->lock);
    if (LW_UNLIKELY(err))
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
}

void lw_table_put(lw_kind_t kind, uintptr_t handle, uint64_t size, uint32_t site, uint32_t born_ms, unsigned flags)
{
    put(kind, handle, size, site, born_ms, flags & ~(unsigned)(LW_REC_SENTINEL | LW_REC_SAMPLED), cur_gen);
}

int lw_table_drop(lw_kind_t kind, uintptr_t handle)
{
    if (handle == LW_SENTINEL)
        return 0;
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    lw_lock(&s->lock);
    int found = take(s, kind, handle, hv, NULL, 0);
    lw_unlock(&s->lock);
    return found;
}

int lw_tracking(lw_kind_t kind)
{
    return !lw_self.busy && (lw_config.kinds & (1u << kind));
}

int lw_in_tracker(void)
{
    return lw_self.busy;
}

/* Descriptors 0-2 are the standard streams: a program that puts a file or a pipe there (a shell redirecting, a
 * daemon pointing stdin at /dev/null) means it to stay for good and to be inherited, so they are never recorded
 * (nor released: the program never acquired them). A FILE* or DIR* is an fd-kind handle too, but a pointer. */
static int standard_stream(lw_kind_t kind, uintptr_t handle)
{
    return (kind == LW_FD || kind == LW_SOCKET) && handle <= 2;
}

/* An acquisition that is to be recorded, with its flags: sampling has had its say on a heap block. */
static inline __attribute__((always_inline)) void acquire(lw_kind_t kind, uintptr_t handle, size_t size,
                                                          lw_origin_t origin, unsigned flags)
{
    if (!lw_tracking(kind) || standard_stream(kind, handle))
        return;
    if (LW_UNLIKELY(atomic_load_explicit(&lw_dumper_wanted, memory_order_relaxed)))
        lw_dumper_start_wanted(kind); /* a forked child's first acquisition since its dumps became due */
    lw_guard_t guard = lw_enter();
    uint32_t site = lw_stack_site(origin);
    put(kind, handle, size, site, lw_now_ms(), flags | lw_acquire_flags, cur_gen);
    if (kind == LW_FD || kind == LW_SOCKET)
        lw_fd_opened(handle); /* a later failing close of this number is a double or bad close */
    lw_leave(guard);
}

void lw_on_alloc_at(uintptr_t p, size_t size, int counted, lw_origin_t origin)
{
    lw_init();
    unsigned flags = 0;
    if (lw_sample_mean) {
        /* uncounted: the caller looked before the library's start read LEAKWATCH_SAMPLE */
        if (counted == LW_SAMPLE_UNCOUNTED && lw_sample_count(size) == LW_SAMPLE_SKIP)
            return;
        if (!lw_sample_crossed())
            return;
        flags = LW_REC_SAMPLED;
    }
    acquire(LW_HEAP, p, size, origin, flags);
}

void lw_on_acquire_at(lw_kind_t kind, uintptr_t handle, size_t size, lw_origin_t origin)
{
    if (kind == LW_HEAP) {
        lw_on_alloc_at(handle, size, LW_SAMPLE_UNCOUNTED, origin);
        return;
    }
    lw_init();
    acquire(kind, handle, size, origin, 0);
}

/* The real free of the blocks whose free was put off (lw_on_free): the same function for every block. */
static void (*deferred_free)(void *);

/* Puts off the free of heap block p to the end of the tracker's call that this thread is inside of (lw_leave,
 * lw_finish_deferred): p joins the thread's list, linked through its first word (the program has freed it). A
 * compare-and-swap, since a handler may interrupt the push to push one of its own. A block on the list already
 * (a double free) is not pushed again: its link would make the list a loop. */
static void defer_free(void *p, void (*real_free)(void *))
{
    deferred_free = real_free;
    void *head = __atomic_load_n(&lw_self.deferred, __ATOMIC_RELAXED);
    for (void *q = head; q; memcpy(&q, q, sizeof(q)))
        if (q == p)
            return;
    do
        memcpy(p, &head, sizeof(head));
    while (!__atomic_compare_exchange_n(&lw_self.deferred, &head, p, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    atomic_signal_fence(memory_order_seq_cst);
    lw_self.pending = 1;
}

/* Puts off forgetting descriptor fd, which the handler is closing, to the end of the interrupted call (a bit or
 * a slot a number, for both of its kinds); returns 0 when the number is high and every slot is taken. The records
 * are forgotten then only if the number is still closed: if another thread has been given it meanwhile, its
 * acquisition replaces the old record (put), and the record there is the new one. */
static int defer_close(int fd)
{
    if (fd < LW_DEFERRED_LOW) {
        __atomic_fetch_or(&lw_self.closed_low[fd / 64], 1ull << (fd % 64), __ATOMIC_RELAXED);
        atomic_signal_fence(memory_order_seq_cst);
        lw_self.pending = 1;
        return 1;
    }
    uint64_t v = (uint32_t)fd + 1ull;
    for (int i = 0; i < LW_DEFERRED_CLOSES; i++)
        if (__atomic_load_n(&lw_self.closed[i], __ATOMIC_RELAXED) == v)
            return 1;
    for (int i = 0; i < LW_DEFERRED_CLOSES; i++) {
        uint64_t free_slot = 0;
        if (__atomic_compare_exchange_n(&lw_self.closed[i], &free_slot, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            atomic_signal_fence(memory_order_seq_cst);
            lw_self.pending = 1;
            return 1;
        }
    }
    return 0;
}

/* Puts off forgetting the record of `handle` (a kind other than the heap's, not a descriptor number) to the end
 * of the interrupted call: the slot holds the shard's count of records added of that kind now, before the call
 * that releases the handle, so that a record added since (maybe of the same handle, handed out again) is never
 * taken for the released one. `call`: the release is a call that may still fail (lw_release_end decides). Returns
 * 0 when every slot is taken. */
static int defer_release(lw_kind_t kind, uintptr_t handle, const lw_shard_t *s, int call)
{
    for (int i = 0; i < LW_DEFERRED_RELEASES; i++) {
        lw_released_t *r = &lw_self.released[i];
        int free_slot = LW_SLOT_FREE;
        if (!atomic_compare_exchange_strong_explicit(&r->state, &free_slot, LW_SLOT_CLAIMED, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        atomic_signal_fence(memory_order_seq_cst);
        r->kind = (uint8_t)kind;
        r->handle = handle;
        r->puts = atomic_load_explicit(&s->puts[kind], memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        atomic_store_explicit(&r->state, call ? LW_SLOT_CALL : LW_SLOT_READY, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        lw_self.pending = 1;
        return 1;
    }
    return 0;
}

/* The call a release put off for (kind, handle) ended: the slot is carried out when it released the handle, and
 * given back when it failed. Returns whether there was such a slot. */
static int settle_release(lw_kind_t kind, uintptr_t handle, int released)
{
    for (int i = 0; i < LW_DEFERRED_RELEASES; i++) {
        lw_released_t *r = &lw_self.released[i];
        if (atomic_load_explicit(&r->state, memory_order_relaxed) != LW_SLOT_CALL || r->kind != kind ||
            r->handle != handle)
            continue;
        if (!released)
            r->handle = 0; /* a handle left in a free slot would be a root of the exit scan */
        atomic_signal_fence(memory_order_seq_cst);
        atomic_store_explicit(&r->state, released ? LW_SLOT_READY : LW_SLOT_FREE, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        return 1;
    }
    return 0;
}

/* Carries out the releases put off (defer_release), emptying the slots when `drain`: the handle's record goes
 * when it was added before the release (its stamp is below the slot's count); one added since is the handle
 * handed out again, and stays. Inside the guard, as forget_if_closed. */
static void forget_released(int drain)
{
    for (int i = 0; i < LW_DEFERRED_RELEASES; i++) {
        lw_released_t *r = &lw_self.released[i];
        int ready = LW_SLOT_READY;
        if (drain ? !atomic_compare_exchange_strong_explicit(&r->state, &ready, LW_SLOT_CLAIMED, memory_order_relaxed,
                                                             memory_order_relaxed)
                  : atomic_load_explicit(&r->state, memory_order_relaxed) != LW_SLOT_READY)
            continue;
        atomic_signal_fence(memory_order_seq_cst);
        lw_kind_t kind = (lw_kind_t)r->kind;
        uintptr_t handle = r->handle;
        uint32_t puts = r->puts;
        atomic_signal_fence(memory_order_seq_cst);
        if (drain) {
            r->handle = 0; /* a handle left in a free slot would be a root of the exit scan */
            atomic_signal_fence(memory_order_seq_cst);
            atomic_store_explicit(&r->state, LW_SLOT_FREE, memory_order_relaxed);
        }
        uint32_t hv = handle_hash(handle);
        lw_shard_t *s = shard_of(handle);
        int was = lw_self.busy;
        lw_self.busy = 1;
        lw_lock(&s->lock);
        lw_rec_t *rec;
        HASH_FIND_BYHASHVALUE(hh, s->heads[kind], &handle, sizeof(handle), hv, rec);
        if (rec && (int32_t)(rec->stamp - puts) < 0)
            take(s, kind, handle, hv, NULL, 0);
        lw_unlock(&s->lock);
        lw_self.busy = was;
    }
}

/* Whether fd is closed in this process now (errno is the caller's to keep). */
static int fd_closed(int fd)
{
    return lw_syscall(SYS_fcntl, fd, F_GETFD) < 0;
}

/* Forgets the records of descriptor fd (both kinds) if it is closed, checked under the shard lock (so that
 * another thread's open of the number cannot come between the check and the take) and inside the guard (so that
 * a handler's close or open meanwhile does not wait for the lock this thread holds). */
static void forget_if_closed(int fd)
{
    uint32_t hv = handle_hash((uintptr_t)fd);
    lw_shard_t *s = shard_of((uintptr_t)fd);
    int was = lw_self.busy;
    lw_self.busy = 1;
    lw_lock(&s->lock);
    if (fd_closed(fd)) {
        take(s, LW_FD, (uintptr_t)fd, hv, NULL, 0);
        take(s, LW_SOCKET, (uintptr_t)fd, hv, NULL, 0);
    }
    lw_unlock(&s->lock);
    lw_self.busy = was;
}

/* Forgets the records of every descriptor this thread's handlers closed (forget_if_closed), emptying the bits and
 * slots when `drain` (else they stay, as in the scanning copy, whose tables alone change). */
static void forget_closed(int drain)
{
    for (int w = 0; w < LW_DEFERRED_LOW / 64; w++)
        for (uint64_t bits = drain ? __atomic_exchange_n(&lw_self.closed_low[w], 0, __ATOMIC_RELAXED)
                                   : lw_self.closed_low[w];
             bits; bits &= bits - 1)
            forget_if_closed(w * 64 + __builtin_ctzll(bits));
    for (int i = 0; i < LW_DEFERRED_CLOSES; i++) {
        uint64_t v = drain ? __atomic_exchange_n(&lw_self.closed[i], 0, __ATOMIC_RELAXED) : lw_self.closed[i];
        if (v)
            forget_if_closed((int)(v - 1));
    }
}

/* A release from inside the tracker: a signal handler that interrupted it, an atfork handler that runs while
 * fork holds the locks, or leakwatch's own code (libunwind, the dump thread), whose blocks have no record. When
 * this thread holds none of leakwatch's locks, the shard's is waited for a while (another thread has it, and
 * lets it go, unless it is forking and waits for a lock the interrupted code holds: lw_lock_in_handler); else it
 * is only tried, since this thread may hold it. When it is not taken, a heap block that free releases
 * (real_free) is kept, record and memory, until the interrupted call is done: freed now, its address could be
 * handed out and recorded again while the old record is still there, and left recorded it would be a leak at
 * exit. A descriptor's records are forgotten then (defer_close), and those of the other kinds but the heap's
 * (defer_release); `call`: the release is a call that may still fail; `stream`: the handle is a FILE* or DIR*,
 * never a descriptor's number, however small. A heap release that finds no slot is missed (release_missed:
 * acquisitions look for its stale record); one of another kind is a lost record, since its stale record would
 * be a leak (an acquisition of the handle replaces it anyway). Returns 1 when the handle was live, LW_FREE_KEPT
 * when its free was put off. */
static int release_nested(lw_kind_t kind, uintptr_t handle, void (*real_free)(void *), int call, int stream)
{
    if (lw_self.own_thread)
        return 0; /* the dump thread's: never recorded, and its guard never clears to carry out a deferral */
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    if (!(lw_locks_held == 0 ? lw_lock_in_handler(&s->lock) : lw_trylock(&s->lock))) {
        if (real_free) {
            defer_free((void *)handle, real_free);
            return LW_FREE_KEPT;
        }
        if ((kind == LW_FD || kind == LW_SOCKET) && !stream && handle <= INT_MAX) {
            if (defer_close((int)handle))
                return 0;
        } else if (kind != LW_HEAP && defer_release(kind, handle, s, call)) {
            return 0;
        }
        if (kind == LW_HEAP)
            atomic_store(&release_missed, 1);
        else
            atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
        return 0;
    }
    int found = take(s, kind, handle, hv, NULL, 1);
    lw_unlock(&s->lock);
    return found;
}

/* A released record kept aside by a release that may still fail, so that it can be put back unchanged. */
typedef struct {
    uint32_t site;
    uint32_t flags;
    uint64_t size;
    uint32_t born_ms;
    uint32_t gen; /* the fork generation: a block inherited from the parent stays the parent's */
} held_t;

/* Forgets handle's record, into *held when held is not NULL. real_free: see release_nested. */
static int release(lw_kind_t kind, uintptr_t handle, held_t *held, void (*real_free)(void *), int stream)
{
    if ((unsigned)kind >= LW_KIND_COUNT || !(lw_config.kinds & (1u << kind)) || handle == LW_SENTINEL ||
        standard_stream(kind, handle) || (kind == LW_HEAP && handle == 0))
        return 0;
    if (lw_self.busy)
        return release_nested(kind, handle, real_free, held != NULL, stream);
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    int found = 0;

    /* every free comes here: the guard alone, since nothing below can change errno (lw_enter would read and
     * write it back on each call) */
    lw_self.busy = 1;
    lw_lock(&s->lock);
    body_t b;
    found = take(s, kind, handle, hv, &b, 0);
    lw_unlock(&s->lock);
    if (found && held) {
        held->site = b.site;
        held->flags = META_FLAGS(b.meta);
        held->size = META_SIZE(b.meta);
        held->born_ms = b.born_ms;
        held->gen = META_GEN(b.meta);
    }
    lw_self.busy = 0;
    atomic_signal_fence(memory_order_seq_cst); /* pending is read after the guard clears, not before */
    if (LW_UNLIKELY(lw_self.pending)) /* a handler's releases that found the lock held */
        lw_finish_deferred();
    return found;
}

int lw_on_release(lw_kind_t kind, uintptr_t handle)
{
    if (!maybe_recorded(kind, handle))
        return 0;
    return release(kind, handle, NULL, NULL, 0);
}

int lw_on_release_stream(uintptr_t stream)
{
    return release(LW_FD, stream, NULL, NULL, 1);
}

int lw_on_free(void *p, void (*real_free)(void *))
{
    if (!maybe_recorded(LW_HEAP, (uintptr_t)p))
        return 0; /* an unsampled block: every free of one comes here, before anything else is done */
    return release(LW_HEAP, (uintptr_t)p, NULL, real_free, 0);
}

void lw_finish_deferred(void)
{
    int err = errno;
    /* a handler that runs meanwhile sets pending again, and the loop takes what it left */
    while (lw_self.pending) {
        lw_self.pending = 0;
        atomic_signal_fence(memory_order_seq_cst);
        forget_closed(1);
        forget_released(1);
        lw_maps_finish_deferred();
        /* the list is taken whole: a handler's pushes meanwhile start a new one */
        void *p = __atomic_exchange_n(&lw_self.deferred, NULL, __ATOMIC_RELAXED);
        atomic_signal_fence(memory_order_seq_cst);
        if (!p)
            continue;
        /* Every signal blocked across the frees: these are calls into the allocator the program never made here
         * (a handler freed the blocks), and a handler that interrupted one and called malloc itself would find
         * the allocator mid-change, where the program's own code (say only its thread cache) never leaves it. */
        sigset_t all, old;
        sigfillset(&all);
        lw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, (size_t)(_NSIG / 8));
        while (p) {
            void *next;
            memcpy(&next, p, sizeof(next));
            release(LW_HEAP, (uintptr_t)p, NULL, NULL, 0);
            deferred_free(p);
            p = next;
        }
        lw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, (size_t)(_NSIG / 8));
    }
    errno = err;
}

void lw_tables_forget_deferred(void)
{
    forget_closed(0);
    forget_released(0);
    for (void *p = lw_self.deferred; p; memcpy(&p, p, sizeof(p)))
        lw_table_drop(LW_HEAP, (uintptr_t)p);
}

/* The transaction's record is kept in the caller's lw_release_t, whose opaque words hold a held_t. */
_Static_assert(sizeof(held_t) <= sizeof(((lw_release_t *)0)->held), "lw_release_t too small for a held record");

void lw_release_begin(lw_release_t *t, lw_kind_t kind, uintptr_t handle)
{
    held_t held;
    t->kind = kind;
    t->handle = handle;
    t->had = maybe_recorded(kind, handle) ? release(kind, handle, &held, NULL, 0) : 0;
    memcpy(t->held, &held, sizeof(held));
}

void lw_release_end(lw_release_t *t, int released)
{
    if (!t->had && lw_self.busy && settle_release(t->kind, t->handle, released))
        return;
    if (released || !t->had || lw_self.busy)
        return;
    held_t held;
    memcpy(&held, t->held, sizeof(held));
    lw_guard_t guard = lw_enter();
    put(t->kind, t->handle, held.size, held.site, held.born_ms, held.flags, (uint8_t)held.gen);
    lw_leave(guard);
}

int lw_set_flags(lw_kind_t kind, uintptr_t handle, unsigned bits, int set)
{
    if (lw_self.busy || (unsigned)kind >= LW_KIND_COUNT || handle == LW_SENTINEL)
        return 0;
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    int found = 0;

    bits &= ~(unsigned)(LW_REC_SENTINEL | LW_REC_SAMPLED);
    lw_guard_t guard = lw_enter();
    lw_lock(&s->lock);
    uint64_t *m = find_meta(s, kind, handle, hv);
    if (m) {
        uint8_t f = (uint8_t)(set ? (META_FLAGS(*m) | bits) : (META_FLAGS(*m) & ~bits));
        *m = META(META_SIZE(*m), META_GEN(*m), f);
        found = 1;
    }
    lw_unlock(&s->lock);
    lw_leave(guard);
    return found;
}

void lw_tables_lock_all(void)
{
    for (int i = 0; i < LW_SHARDS; i++)
        lw_lock(&shards[i].lock);
}

void lw_tables_unlock_all(void)
{
    for (int i = LW_SHARDS - 1; i >= 0; i--)
        lw_unlock(&shards[i].lock);
}

/* Drops the pages of a mapping of lw_mem's own (larger than its small sizes, so page-aligned and not shared
 * with other allocations) from this process: they read as zeros afterwards. */
static void drop_pages(void *p, size_t size)
{
    if (p && size > 4096)
        lw_syscall(SYS_madvise, p, (size + 4095) & ~(size_t)4095, MADV_DONTNEED);
}

void lw_tables_drop_in_copy(void)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        for (int k = 0; k < LW_KIND_COUNT; k++)
            if (s->heads[k])
                drop_pages(s->heads[k]->hh.tbl->buckets, s->heads[k]->hh.tbl->num_buckets * sizeof(UT_hash_bucket));
        if (s->spans)
            drop_pages(s->spans->hh.tbl->buckets, s->spans->hh.tbl->num_buckets * sizeof(UT_hash_bucket));
        drop_pages(s->nursery, NURSERY_SETS * sizeof(nursery_set_t));
        for (char *c = s->chunks, *next; c; c = next) {
            next = *(char **)c;
            drop_pages(c, LW_POOL_CHUNK);
        }
        memset(s, 0, sizeof(*s));
    }
}

void lw_tables_forked(void)
{
    cur_gen++;
    atomic_store(&lw_lost_records, 0); /* acquisitions the parent lost are not the child's */
    for (int i = 0; i < LW_SHARDS; i++) {
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            shards[i].live[k] = 0;
        }
    }
}

/* Calls fn with one record unless it is a sentinel or, without with_inherited, the parent's. */
static inline void visit(void (*fn)(const lw_live_t *rec, void *arg), void *arg, int with_inherited,
                         lw_kind_t kind, uintptr_t handle, const body_t *b)
{
    if ((META_FLAGS(b->meta) & LW_REC_SENTINEL) || (META_GEN(b->meta) != cur_gen && !with_inherited))
        return;
    lw_live_t l = { handle, META_SIZE(b->meta), b->site, b->born_ms, (uint8_t)kind,
                    (uint8_t)(META_FLAGS(b->meta) & ~LW_REC_SAMPLED), META_GEN(b->meta) != cur_gen };
    fn(&l, arg);
}

/* Every shard stays locked for the whole walk: the records it visits are those of one moment. Shard by shard, a
 * block freed in a shard already walked and its successor allocated in one still ahead were both listed, so a
 * dump of a running process could count more handles than it ever held at once. */
static void walk(void (*fn)(const lw_live_t *rec, void *arg), void *arg, int with_inherited)
{
    lw_tables_lock_all();
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            for (lw_rec_t *r = s->heads[k]; r; r = r->hh.next)
                visit(fn, arg, with_inherited, (lw_kind_t)k, REC_HANDLE(r), &r->b);
        }
        for (lw_span_t *sp = s->spans; sp; sp = sp->hh.next) {
            const uint16_t *offs = SPAN_OFFS(sp);
            const body_t *bodies = SPAN_BODIES(sp);
            for (unsigned j = 0; j < sp->n; j++)
                visit(fn, arg, with_inherited, LW_HEAP, (SPAN_KEY(sp) << SPAN_SHIFT) | offs[j], &bodies[j]);
        }
        for (size_t n = 0; s->nursed && n < NURSERY_SETS; n++) {
            const nursery_set_t *set = &s->nursery[n];
            for (int w = 0; w < NURSERY_WAYS; w++) {
                if (!set->handle[w])
                    continue;
                visit(fn, arg, with_inherited, LW_HEAP, set->handle[w], &set->way[w]);
            }
        }
    }
    lw_tables_unlock_all();
}

void lw_tables_walk(void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    walk(fn, arg, 0);
}

/* ---- the walk in address order, for the scanning copy's listing -------------------------------------------- */

_Static_assert(SPAN_CAP(SPAN_CLASSES - 1) <= 256 && SPAN_SHIFT <= 24, "a span's entries sort as offset << 8 | index");

/* Visits the records of span sp (all generations) in address order, the loose heap records of loose[*li, nloose)
 * that lie below each of them first. A span's offsets are in no order (a release moves the last into the gap): they
 * are sorted as offset << 8 | index, mostly in order already, by insertion. */
static void visit_span(void (*fn)(const lw_live_t *rec, void *arg), void *arg, const lw_span_t *sp,
                       const lw_entry_t *loose, size_t nloose, size_t *li)
{
    const uint16_t *offs = SPAN_OFFS(sp);
    const body_t *bodies = SPAN_BODIES(sp);
    uint32_t order[256];
    for (unsigned j = 0; j < sp->n; j++) {
        uint32_t x = (uint32_t)offs[j] << 8 | j;
        unsigned k = j;
        for (; k > 0 && order[k - 1] > x; k--)
            order[k] = order[k - 1];
        order[k] = x;
    }
    uintptr_t base = SPAN_KEY(sp) << SPAN_SHIFT;
    for (unsigned j = 0; j < sp->n; j++) {
        uintptr_t h = base | (order[j] >> 8);
        for (; *li < nloose && loose[*li].key < h; ++*li)
            visit(fn, arg, 1, LW_HEAP, loose[*li].key, (const body_t *)(uintptr_t)loose[*li].handle);
        visit(fn, arg, 1, LW_HEAP, h, &bodies[order[j] & 255]);
    }
}

int lw_tables_walk_by_address(void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    lw_tables_lock_all();
    /* the spans, and the heap records outside them (the nurseries' and those too dense for a span): an entry each,
     * keyed by span number or handle, its `handle` word pointing to the span or body */
    size_t nspans = 0, nloose = 0;
    for (int i = 0; i < LW_SHARDS; i++) {
        const lw_shard_t *s = &shards[i];
        nspans += HASH_COUNT(s->spans);
        nloose += s->nursed + HASH_COUNT(s->heads[LW_HEAP]);
    }
    size_t bytes = ((nspans + nloose + 1) * sizeof(lw_entry_t) + 4095) & ~(size_t)4095;
    lw_entry_t *spans = lw_sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (spans == MAP_FAILED) {
        lw_tables_unlock_all();
        return -1;
    }
    lw_entry_t *loose = spans + nspans;
    size_t ns = 0, nl = 0;
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        for (lw_span_t *sp = s->spans; sp && ns < nspans; sp = sp->hh.next)
            if (SPAN_KEY(sp) != SPAN_KEY_SENTINEL && sp->n)
                spans[ns++] = (lw_entry_t){ .key = SPAN_KEY(sp), .handle = (uintptr_t)sp };
        for (lw_rec_t *r = s->heads[LW_HEAP]; r && nl < nloose; r = r->hh.next)
            loose[nl++] = (lw_entry_t){ .key = REC_HANDLE(r), .handle = (uintptr_t)&r->b };
        for (size_t n = 0; s->nursed && n < NURSERY_SETS; n++) {
            const nursery_set_t *set = &s->nursery[n];
            for (int w = 0; w < NURSERY_WAYS && nl < nloose; w++)
                if (set->handle[w])
                    loose[nl++] = (lw_entry_t){ .key = set->handle[w], .handle = (uintptr_t)&set->way[w] };
        }
    }
    lw_sort_entries(spans, ns, LW_SORT_KEY);
    lw_sort_entries(loose, nl, LW_SORT_KEY);
    size_t li = 0;
    for (size_t i = 0; i < ns; i++)
        visit_span(fn, arg, (const lw_span_t *)(uintptr_t)spans[i].handle, loose, nl, &li);
    for (; li < nl; li++)
        visit(fn, arg, 1, LW_HEAP, loose[li].key, (const body_t *)(uintptr_t)loose[li].handle);
    lw_sys_munmap(spans, bytes);
    for (int i = 0; i < LW_SHARDS; i++)
        for (int k = 0; k < LW_KIND_COUNT; k++)
            if (k != LW_HEAP)
                for (lw_rec_t *r = shards[i].heads[k]; r; r = r->hh.next)
                    visit(fn, arg, 1, (lw_kind_t)k, REC_HANDLE(r), &r->b);
    lw_tables_unlock_all();
    return 0;
}

void lw_tables_walk_all(void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    walk(fn, arg, 1);
}

void lw_tables_walk_handles(unsigned kinds, void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        lw_lock(&s->lock);
        for (int k = 0; k < LW_KIND_COUNT; k++)
            if (k != LW_HEAP && (kinds & (1u << k)))
                for (lw_rec_t *r = s->heads[k]; r; r = r->hh.next)
                    visit(fn, arg, 1, (lw_kind_t)k, REC_HANDLE(r), &r->b);
        lw_unlock(&s->lock);
    }
}

/* The records of kind k in shard s's uthash table (not its nursery or spans). */
static size_t in_table(const lw_shard_t *s, int k)
{
    size_t n = HASH_COUNT(s->heads[k]);
    return n ? n - 1 : 0; /* the sentinel is no record */
}

size_t lw_tables_count_handles(unsigned kinds)
{
    size_t n = 0;
    for (int i = 0; i < LW_SHARDS; i++)
        for (int k = 0; k < LW_KIND_COUNT; k++)
            if (k != LW_HEAP && (kinds & (1u << k)))
                n += in_table(&shards[i], k);
    return n;
}

static void count_one(const lw_live_t *rec, void *arg)
{
    size_t *acc = arg;
    acc[0]++;
    acc[1] += rec->size;
}

typedef struct {
    lw_kind_t kind;
    lw_visit_fn fn;
    void *arg;
    size_t acc[2];
} visit_t;

static void visit_one(const lw_live_t *rec, void *arg)
{
    visit_t *v = arg;
    if (v->kind != LW_KIND_COUNT && rec->kind != v->kind)
        return;
    if (v->fn)
        v->fn((lw_kind_t)rec->kind, rec->handle, rec->size, rec->site, v->arg);
    else
        count_one(rec, v->acc);
}

void lw_foreach_live(lw_kind_t kind, lw_visit_fn fn, void *arg)
{
    lw_guard_t guard = lw_enter();
    visit_t v = { kind, fn, arg, { 0, 0 } };
    lw_tables_walk(visit_one, &v);
    lw_leave(guard);
}

/* Live handles (which 0) or bytes (which 1) of one kind. */
static size_t live_sum(lw_kind_t kind, int which)
{
    visit_t v = { kind, NULL, NULL, { 0, 0 } };
    lw_guard_t guard = lw_enter();
    lw_tables_walk(visit_one, &v);
    lw_leave(guard);
    return v.acc[which];
}

size_t lw_live_count(lw_kind_t kind)
{
    return live_sum(kind, 0);
}

size_t lw_live_bytes(lw_kind_t kind)
{
    return live_sum(kind, 1);
}

size_t lw_tables_total_all(void)
{
    size_t n = 0;
    for (int i = 0; i < LW_SHARDS; i++) {
        n += shards[i].nursed + shards[i].in_spans;
        for (int k = 0; k < LW_KIND_COUNT; k++)
            n += in_table(&shards[i], k);
    }
    return n;
}

size_t lw_tables_total(void)
{
    size_t n = 0;
    for (int i = 0; i < LW_SHARDS; i++)
        for (int k = 0; k < LW_KIND_COUNT; k++)
            n += shards[i].live[k];
    return n;
}

void lw_tables_reset(void)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        lw_lock(&s->lock);
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            lw_rec_t *r, *tmp;
            HASH_ITER(hh, s->heads[k], r, tmp) {
                if (REC_FLAGS(r) & LW_REC_SENTINEL)
                    continue;
                HASH_DELETE(hh, s->heads[k], r);
                pool_free(s, 0, r);
            }
            s->live[k] = 0;
        }
        lw_span_t *sp, *tmp;
        HASH_ITER(hh, s->spans, sp, tmp) {
            if (SPAN_KEY(sp) == SPAN_KEY_SENTINEL)
                continue;
            HASH_DELETE(hh, s->spans, sp);
            pool_free(s, 1 + sp->cls, sp->store);
            pool_free(s, 0, sp);
        }
        memset(s->recent, 0, sizeof s->recent);
        s->in_spans = 0;
        if (s->nursery)
            memset(s->nursery, 0, NURSERY_SETS * sizeof(nursery_set_t));
        s->nursed = 0;
        s->died_young = s->moved_on = s->bypass = 0;
        lw_unlock(&s->lock);
    }
    for (size_t i = 0; i < LW_SAMPLE_SLOTS / 64; i++)
        atomic_store_explicit(&lw_sample_bits[i], 0, memory_order_relaxed);
    memset(filter_counts, 0, sizeof filter_counts);
    atomic_store(&lw_lost_records, 0);
}
