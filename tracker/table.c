/* The live-handle tables: one uthash table per kind in each of 64 shards, each shard with its own lock and its
 * own record pool. A heap block's shard follows the 64 MiB region it lies in: glibc gives each thread's arena
 * its own 64 MiB-aligned heap, so threads that allocate at once work in different shards and their cache lines
 * stay on their own cores. */
#include "hash.h"
#include "closes.h"

#include <errno.h>
#include <string.h>

#define LW_SHARDS 64
#define LW_POOL_CHUNK (64u * 1024u)

/* 24 bytes of record and uthash's 56-byte handle: 80 bytes a live handle. `meta` packs the size (or, for the
 * other kinds, the detail value) in 48 bits with the fork generation and the flags; the kind is implied by the
 * table the record is in. */
typedef struct lw_rec {
    uintptr_t handle;
    uint32_t site;
    uint32_t born_ms;
    uint64_t meta;
    UT_hash_handle hh;
} lw_rec_t;

#define META_SIZE_MASK ((1ull << 48) - 1)
#define META(size, gen, flags)                                                                                  \
    (((uint64_t)(size) & META_SIZE_MASK) | ((uint64_t)(uint8_t)(gen) << 48) | ((uint64_t)(uint8_t)(flags) << 56))
#define REC_SIZE(r) ((r)->meta & META_SIZE_MASK)
#define REC_GEN(r) ((uint8_t)((r)->meta >> 48))
#define REC_FLAGS(r) ((uint8_t)((r)->meta >> 56))

typedef struct lw_rec_free {
    struct lw_rec_free *next;
} lw_rec_free_t;

typedef struct {
    lw_lock_t lock;
    lw_rec_t *heads[LW_KIND_COUNT];
    lw_rec_free_t *free;
    char *pool_cur, *pool_end;
    size_t live[LW_KIND_COUNT]; /* records of this process (not the inherited ones), for lw_tables_total */
} __attribute__((aligned(64))) lw_shard_t;

static lw_shard_t shards[LW_SHARDS];
atomic_ulong lw_lost_records;

/* uthash frees a table when its last item goes and allocates one for the next: with few live handles per shard
 * that would happen on nearly every call. A sentinel record that is never removed keeps each table alive. */
#define LW_SENTINEL UINTPTR_MAX
#define LW_REC_SENTINEL 1
static lw_rec_t sentinels[LW_SHARDS][LW_KIND_COUNT];
static atomic_int sentinels_ready;

static void add_sentinels(void)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            lw_rec_t *r = &sentinels[i][k];
            r->handle = LW_SENTINEL;
            r->meta = META(0, 0, LW_REC_SENTINEL);
            HASH_ADD(hh, shards[i].heads[k], handle, sizeof(r->handle), r);
        }
    }
}

/* The fork generation: a record made before the last fork belongs to the parent, and a child reports only
 * records of its own generation. */
static uint8_t cur_gen; /* compared for equality only: wrapping after 256 nested forks is harmless */

static inline uint32_t handle_hash(uintptr_t h)
{
    return lw_mix64((uint64_t)h);
}

static inline lw_shard_t *shard_of(uintptr_t handle)
{
    return &shards[lw_mix64((uint64_t)(handle >> 26)) & (LW_SHARDS - 1)];
}

static lw_rec_t *rec_alloc(lw_shard_t *s)
{
    if (s->free) {
        lw_rec_t *r = (lw_rec_t *)s->free;
        s->free = s->free->next;
        return r;
    }
    if ((size_t)(s->pool_end - s->pool_cur) < sizeof(lw_rec_t)) {
        char *c = lw_mem_alloc(LW_POOL_CHUNK);
        if (!c)
            return NULL;
        s->pool_cur = c;
        s->pool_end = c + LW_POOL_CHUNK;
    }
    lw_rec_t *r = (lw_rec_t *)s->pool_cur;
    s->pool_cur += sizeof(lw_rec_t);
    return r;
}

static void rec_free(lw_shard_t *s, lw_rec_t *r)
{
    lw_rec_free_t *f = (lw_rec_free_t *)r;
    f->next = s->free;
    s->free = f;
}

/* Unlinks and returns the record for handle, or NULL. Caller holds the shard lock. */
static lw_rec_t *take(lw_shard_t *s, lw_kind_t kind, uintptr_t handle, uint32_t hv)
{
    lw_rec_t *r;
    HASH_FIND_BYHASHVALUE(hh, s->heads[kind], &handle, sizeof(handle), hv, r);
    if (r && (REC_FLAGS(r) & LW_REC_SENTINEL))
        return NULL;
    if (r) {
        HASH_DELETE(hh, s->heads[kind], r);
        if (REC_GEN(r) == cur_gen) {
            s->live[kind]--;
        }
    }
    return r;
}

/* Set once a release could not be carried out (a handler that interrupted the tracker freed a block of the
 * shard it was working on). From then on every acquisition looks for a stale record of its handle first. */
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
    if (LW_UNLIKELY(handle == LW_SENTINEL))
        return;
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);

    lw_lock(&s->lock);
    /* A live record for this handle means its release was missed: replace it. Descriptors are closed behind
     * our back all the time (a raw close system call); a heap block only when a release was missed. */
    lw_rec_t *r = NULL;
    if (kind != LW_HEAP || atomic_load_explicit(&release_missed, memory_order_relaxed))
        r = take(s, kind, handle, hv);
    if (!r)
        r = rec_alloc(s);
    if (r) {
        r->handle = handle;
        r->site = site;
        r->born_ms = born_ms;
        r->meta = META(size, gen, flags);
        HASH_ADD_BYHASHVALUE(hh, s->heads[kind], handle, sizeof(r->handle), hv, r);
        if (LW_UNLIKELY(!r->hh.tbl)) {
            /* uthash could not allocate its table or more buckets, and left the record out */
            rec_free(s, r);
            r = NULL;
        } else if (gen == cur_gen) {
            s->live[kind]++;
        }
    }
    lw_unlock(&s->lock);
    if (LW_UNLIKELY(!r))
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
}

int lw_tracking(lw_kind_t kind)
{
    return !lw_self.busy && (lw_config.kinds & (1u << kind));
}

/* Descriptors 0-2 are the standard streams: a program that puts a file or a pipe there (a shell redirecting, a
 * daemon pointing stdin at /dev/null) means it to stay for good and to be inherited, so they are never recorded
 * (nor released: the program never acquired them). A FILE* or DIR* is an fd-kind handle too, but a pointer. */
static int standard_stream(lw_kind_t kind, uintptr_t handle)
{
    return (kind == LW_FD || kind == LW_SOCKET) && handle <= 2;
}

void lw_on_acquire_at(lw_kind_t kind, uintptr_t handle, size_t size, lw_origin_t origin)
{
    lw_init();
    if (!lw_tracking(kind) || standard_stream(kind, handle))
        return;
    if (LW_UNLIKELY(atomic_load_explicit(&lw_dumper_wanted, memory_order_relaxed)))
        lw_dumper_start_wanted(kind); /* a forked child's first acquisition since its dumps became due */
    lw_guard_t guard = lw_enter();
    uint32_t site = lw_stack_site(origin);
    put(kind, handle, size, site, lw_now_ms(), lw_acquire_flags, cur_gen);
    if (kind == LW_FD || kind == LW_SOCKET)
        lw_fd_opened(handle); /* a later failing close of this number is a double or bad close */
    lw_leave(guard);
}

/* A release from inside the tracker: a signal handler that interrupted it, or an atfork handler that runs while
 * fork holds the locks. The lock is only tried, since this thread may hold it already. */
static int release_nested(lw_kind_t kind, uintptr_t handle)
{
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    if (!lw_trylock(&s->lock)) {
        atomic_store(&release_missed, 1);
        return 0;
    }
    lw_rec_t *r = take(s, kind, handle, hv);
    if (r)
        rec_free(s, r);
    lw_unlock(&s->lock);
    return r != NULL;
}

/* A released record kept aside by a release that may still fail, so that it can be put back unchanged. */
typedef struct {
    uint32_t site;
    uint32_t flags;
    uint64_t size;
    uint32_t born_ms;
    uint32_t gen; /* the fork generation: a block inherited from the parent stays the parent's */
} held_t;

static int release(lw_kind_t kind, uintptr_t handle, held_t *held)
{
    if ((unsigned)kind >= LW_KIND_COUNT || !(lw_config.kinds & (1u << kind)) || handle == LW_SENTINEL ||
        standard_stream(kind, handle) || (kind == LW_HEAP && handle == 0))
        return 0;
    if (lw_self.busy)
        return release_nested(kind, handle);
    uint32_t hv = handle_hash(handle);
    lw_shard_t *s = shard_of(handle);
    int found = 0;

    /* every free comes here: the guard alone, since nothing below can change errno (lw_enter would read and
     * write it back on each call) */
    lw_self.busy = 1;
    lw_lock(&s->lock);
    lw_rec_t *r = take(s, kind, handle, hv);
    if (r) {
        found = 1;
        if (held) {
            held->site = r->site;
            held->flags = REC_FLAGS(r);
            held->size = REC_SIZE(r);
            held->born_ms = r->born_ms;
            held->gen = REC_GEN(r);
        }
        rec_free(s, r);
    }
    lw_unlock(&s->lock);
    lw_self.busy = 0;
    return found;
}

int lw_on_release(lw_kind_t kind, uintptr_t handle)
{
    return release(kind, handle, NULL);
}

/* The transaction's record is kept in the caller's lw_release_t, whose opaque words hold a held_t. */
_Static_assert(sizeof(held_t) <= sizeof(((lw_release_t *)0)->held), "lw_release_t too small for a held record");

void lw_release_begin(lw_release_t *t, lw_kind_t kind, uintptr_t handle)
{
    held_t held;
    t->kind = kind;
    t->handle = handle;
    t->had = release(kind, handle, &held);
    memcpy(t->held, &held, sizeof(held));
}

void lw_release_end(lw_release_t *t, int released)
{
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
    lw_rec_t *r;
    int found = 0;

    bits &= ~(unsigned)LW_REC_SENTINEL;
    lw_guard_t guard = lw_enter();
    lw_lock(&s->lock);
    HASH_FIND_BYHASHVALUE(hh, s->heads[kind], &handle, sizeof(handle), hv, r);
    if (r && !(REC_FLAGS(r) & LW_REC_SENTINEL)) {
        uint8_t f = (uint8_t)(set ? (REC_FLAGS(r) | bits) : (REC_FLAGS(r) & ~bits));
        r->meta = META(REC_SIZE(r), REC_GEN(r), f);
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

static void walk(void (*fn)(const lw_live_t *rec, void *arg), void *arg, int with_inherited)
{
    for (int i = 0; i < LW_SHARDS; i++) {
        lw_shard_t *s = &shards[i];
        lw_lock(&s->lock);
        for (int k = 0; k < LW_KIND_COUNT; k++) {
            for (lw_rec_t *r = s->heads[k]; r; r = r->hh.next) {
                if ((REC_FLAGS(r) & LW_REC_SENTINEL) || (REC_GEN(r) != cur_gen && !with_inherited))
                    continue;
                lw_live_t l = { r->handle, REC_SIZE(r), r->site, r->born_ms, (uint8_t)k, REC_FLAGS(r),
                                REC_GEN(r) != cur_gen };
                fn(&l, arg);
            }
        }
        lw_unlock(&s->lock);
    }
}

void lw_tables_walk(void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    walk(fn, arg, 0);
}

void lw_tables_walk_all(void (*fn)(const lw_live_t *rec, void *arg), void *arg)
{
    walk(fn, arg, 1);
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
    for (int i = 0; i < LW_SHARDS; i++)
        for (int k = 0; k < LW_KIND_COUNT; k++)
            n += HASH_COUNT(shards[i].heads[k]);
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
                rec_free(s, r);
            }
            s->live[k] = 0;
        }
        lw_unlock(&s->lock);
    }
    atomic_store(&lw_lost_records, 0);
}
