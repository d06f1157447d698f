/* What a program tells leakwatch through include/leakwatch/leakwatch.h: blocks it never frees on purpose, regions
 * whose acquisitions are not leaks, checks and dumps on request, root regions, and the objects of its own pools. */
#include "allocator.h"
#include "api_fork.h"
#include "hash.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

LW_TLS unsigned lw_acquire_flags;
static LW_TLS unsigned disable_depth;

void lw_api_ignore(const void *p)
{
    lw_init();
    if (p && !lw_self.busy)
        lw_set_flags(LW_HEAP, (uintptr_t)p, LW_FLAG_IGNORED, 1);
}

void lw_api_disable(int on)
{
    if (on) {
        disable_depth++;
        lw_acquire_flags |= LW_FLAG_IGNORED;
        return;
    }
    if (disable_depth == 0) {
        static atomic_int warned;
        if (!atomic_exchange(&warned, 1))
            lw_warn("leakwatch_enable without a leakwatch_disable before it on this thread; ignored");
        return;
    }
    if (--disable_depth == 0)
        lw_acquire_flags &= ~LW_FLAG_IGNORED;
}

/* ---- dumps and checks on request ------------------------------------------------------------------------ */

int lw_api_dump(const char *reason)
{
    lw_init();
    if (lw_self.busy)
        return EBUSY;
    lw_guard_t guard = lw_enter();
    char why[256], path[4096];
    size_t n = lw_strlcpy(why, "program", sizeof(why));
    if (reason && n < sizeof(why)) {
        n += lw_strlcpy(why + n, ": ", sizeof(why) - n);
        if (n < sizeof(why))
            lw_strlcpy(why + n, reason, sizeof(why) - n);
    }
    /* where the exit dump goes (life.c): LEAKWATCH_DUMP_DIR, else the $TMPDIR the process started with, or /tmp */
    const char *dir = lw_config.dump_dir[0] ? lw_config.dump_dir : lw_start_tmpdir();
    int err = lw_dump_next(dir, why, path, sizeof(path));
    if (err)
        lw_warn("could not write the dump %s: %s", path, strerror(err));
    else if (!lw_config.dump_dir[0] && lw_config.report == LW_REPORT_TEXT)
        lw_warn("dump written on request: %s (read it with `leakwatch report`)", path);
    lw_leave(guard);
    return err;
}

typedef struct {
    size_t count;
} tally_t;

/* leakwatch_check counts the kinds a gate counts by default: mappings left at exit are no leak there (README). */
static void tally_unclassified(const lw_live_t *rec, void *arg)
{
    if (!(rec->flags & LW_FLAG_IGNORED) && rec->kind != LW_MMAP)
        ((tally_t *)arg)->count++;
}

int lw_api_check(uintptr_t live_from)
{
    lw_init();
    if (lw_self.busy)
        return 0;
    lw_guard_t guard = lw_enter();
    /* the scan keeps its working state in static memory: one scan at a time, the dumps' among them */
    lw_dump_lock_for_fork();
    size_t total = lw_tables_total_all();
    size_t cap = total + total / 8 + 1024;
    lw_entry_t *v = lw_mem_alloc(cap * sizeof(lw_entry_t));
    uint8_t *cls = lw_mem_alloc(cap + 1);
    int err = ENOTSUP; /* until a scan has classified the blocks */
    tally_t t = { 0 };
    if (v && cls && lw_config.reach && !lw_allocator_untracked()) {
        lw_listing_t l = { v, cap, 0, 0, 0, NULL, NULL, NULL };
        /* the scan reads this thread's stack from lw_exit_frame up, as at exit (another thread that exits
         * during the scan finds the value taken and notes none: its exit scan reads its whole stack) */
        uintptr_t was = lw_exit_frame;
        lw_exit_frame = live_from;
        err = lw_reach_snapshot(&l, lw_dump_list, NULL, cls, NULL);
        if (lw_exit_frame == live_from)
            lw_exit_frame = was;
        for (size_t i = 0; i < l.n && !err; i++) {
            const lw_entry_t *e = &v[i];
            if ((e->meta & LW_ENTRY_INHERITED) || (LW_ENTRY_FLAGS(e) & LW_FLAG_IGNORED) || LW_ENTRY_KIND(e) == LW_MMAP)
                continue;
            if (i >= l.nheap || cls[i] == LW_CLASS_DEFINITE || cls[i] == LW_CLASS_INDIRECT)
                t.count++;
        }
    }
    if (err) /* no scan: every block counts, as in a dump without classes */
        lw_tables_walk(tally_unclassified, &t);
    lw_mem_free(v, cap * sizeof(lw_entry_t));
    lw_mem_free(cls, cap + 1);
    lw_dump_unlock_for_fork();
    lw_leave(guard);
    return t.count > INT_MAX ? INT_MAX : (int)t.count;
}

/* ---- root regions ---------------------------------------------------------------------------------------- */

#define LW_ROOTS 1024

/* Written under roots_lock; the scan's copy reads them without it (a lock another thread held at the copy's
 * making would stay held there), so the count is published after the entry it covers. */
static lw_lock_t roots_lock;
static struct {
    uintptr_t lo, hi;
} roots[LW_ROOTS];
static atomic_size_t nroots;

int lw_api_root(const void *begin, size_t size, int add)
{
    uintptr_t lo = (uintptr_t)begin, hi = lo + size;
    if (hi < lo)
        return EINVAL;
    int err = 0;
    lw_lock(&roots_lock);
    size_t n = atomic_load(&nroots), i = 0;
    while (i < n && !(roots[i].lo == lo && roots[i].hi == hi))
        i++;
    if (add) {
        if (n == LW_ROOTS) {
            err = ENOSPC;
        } else {
            roots[n].lo = lo;
            roots[n].hi = hi;
            atomic_store(&nroots, n + 1);
        }
    } else if (i == n) {
        err = ENOENT;
    } else {
        /* the last entry moves into the hole before the count drops: a copy made in between sees it twice */
        roots[i] = roots[n - 1];
        atomic_store(&nroots, n - 1);
    }
    lw_unlock(&roots_lock);
    if (err == ENOSPC)
        lw_warn("more than %d root regions registered; the region at %p is not scanned", LW_ROOTS, begin);
    else if (err == ENOENT)
        lw_warn("leakwatch_unregister_root: no root region at %p of %zu bytes", begin, size);
    return err;
}

int lw_api_root_region(size_t i, uintptr_t *lo, uintptr_t *hi)
{
    if (i >= atomic_load(&nroots))
        return 0;
    *lo = roots[i].lo;
    *hi = roots[i].hi;
    return 1;
}

/* ---- pools ----------------------------------------------------------------------------------------------- */

/* Which pool each annotated object belongs to, so that leakwatch_pool_destroy can forget them all: a table of
 * pools, each with a table of its objects, in the tracker's own memory. The objects' records are ordinary heap
 * records (flagged LW_FLAG_POOLED); these tables only name their pool. */
typedef struct {
    uintptr_t p;
    UT_hash_handle hh;
} pool_obj_t;

typedef struct {
    uintptr_t pool;
    pool_obj_t *objs;
    UT_hash_handle hh;
} pool_t;

/* Held across fork (lw_api_lock_for_fork), as roots_lock is, so that a child never inherits either held by a
 * thread it does not have, nor a table that thread was half way through changing. */
static lw_lock_t pools_lock;
static pool_t *pools;

static void pools_lock_take(void)
{
    lw_lock(&pools_lock);
}

void lw_api_lock_for_fork(void)
{
    lw_lock(&roots_lock);
    lw_lock(&pools_lock);
}

void lw_api_unlock_for_fork(void)
{
    lw_unlock(&pools_lock);
    lw_unlock(&roots_lock);
}

/* The pool's entry, made when `create` is set and it is missing (NULL when out of memory). */
static pool_t *pool_get(uintptr_t pool, int create)
{
    pool_t *pl;
    HASH_FIND(hh, pools, &pool, sizeof(pool), pl);
    if (!pl && create && (pl = lw_mem_alloc(sizeof(*pl))) != NULL) {
        pl->pool = pool;
        HASH_ADD(hh, pools, pool, sizeof(pl->pool), pl);
        if (!pl->hh.tbl) {
            lw_mem_free(pl, sizeof(*pl));
            pl = NULL;
        }
    }
    return pl;
}

/* The pool's entry for object key, or NULL. */
static pool_obj_t *obj_find(pool_t *pl, uintptr_t key)
{
    pool_obj_t *o = NULL;
    if (pl)
        HASH_FIND(hh, pl->objs, &key, sizeof(key), o);
    return o;
}

void lw_api_pool_alloc(const void *pool, const void *p, size_t size, lw_origin_t origin)
{
    lw_init();
    if (!p || !lw_tracking(LW_HEAP))
        return;
    /* A heap record at p is the pool's own block (an arena's first object at the start of the block it took
     * from malloc) or an object of a pool that was reused without leakwatch_free: the object replaces it. */
    lw_on_release(LW_HEAP, (uintptr_t)p);
    unsigned was = lw_acquire_flags;
    lw_acquire_flags = was | LW_FLAG_POOLED;
    lw_on_acquire_at(LW_HEAP, (uintptr_t)p, size, origin);
    lw_acquire_flags = was;

    lw_guard_t guard = lw_enter();
    pools_lock_take();
    pool_t *pl = pool_get((uintptr_t)pool, 1);
    uintptr_t key = (uintptr_t)p;
    pool_obj_t *o = obj_find(pl, key);
    if (pl && !o && (o = lw_mem_alloc(sizeof(*o))) != NULL) {
        o->p = key;
        HASH_ADD(hh, pl->objs, p, sizeof(o->p), o);
        if (!o->hh.tbl) {
            lw_mem_free(o, sizeof(*o));
            o = NULL;
        }
    }
    lw_unlock(&pools_lock);
    if (!o) /* the object stays recorded; only leakwatch_pool_destroy cannot find it */
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
    lw_leave(guard);
}

void lw_api_pool_free(const void *pool, const void *p)
{
    lw_init();
    if (!p || lw_self.busy)
        return;
    lw_guard_t guard = lw_enter();
    pools_lock_take();
    pool_t *pl = pool_get((uintptr_t)pool, 0);
    uintptr_t key = (uintptr_t)p;
    pool_obj_t *o = obj_find(pl, key);
    if (o)
        HASH_DELETE(hh, pl->objs, o);
    lw_unlock(&pools_lock);
    lw_leave(guard);
    /* only an object of this pool: a heap block at p that the pool never announced is the program's */
    if (o) {
        lw_mem_free(o, sizeof(*o));
        lw_on_release(LW_HEAP, key);
    }
}

void lw_api_pool_destroy(const void *pool)
{
    lw_init();
    if (lw_self.busy)
        return;
    lw_guard_t guard = lw_enter();
    pools_lock_take();
    pool_t *pl = pool_get((uintptr_t)pool, 0);
    if (pl)
        HASH_DELETE(hh, pools, pl);
    lw_unlock(&pools_lock);
    lw_leave(guard);
    if (!pl)
        return;
    pool_obj_t *o, *tmp;
    HASH_ITER(hh, pl->objs, o, tmp) {
        uintptr_t p = o->p;
        HASH_DELETE(hh, pl->objs, o);
        lw_mem_free(o, sizeof(*o));
        lw_on_release(LW_HEAP, p);
    }
    lw_mem_free(pl, sizeof(*pl));
}

/* ---- the scan's view of what was declared ------------------------------------------------------------------ */

void lw_api_mark_pool_blocks(lw_entry_t *v, size_t nheap)
{
    for (size_t i = 0; i < nheap; i++) {
        if (LW_ENTRY_FLAGS(&v[i]) & LW_FLAG_POOLED)
            continue;
        uintptr_t end = v[i].handle + LW_ENTRY_SIZE(&v[i]);
        for (size_t j = i + 1; j < nheap && v[j].handle < end; j++) {
            if (LW_ENTRY_FLAGS(&v[j]) & LW_FLAG_POOLED) {
                v[i].meta |= (uint64_t)(LW_FLAG_POOL_BLOCK | LW_FLAG_IGNORED) << 48;
                break;
            }
        }
    }
}

size_t lw_api_seed(const lw_entry_t *b, size_t n, uint8_t *cls, uint32_t *stack)
{
    size_t top = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned f = LW_ENTRY_FLAGS(&b[i]);
        if (f & LW_FLAG_POOL_BLOCK) {
            cls[i] = LW_CLASS_REACHABLE; /* not pushed: what lies in it are the objects, each on its own */
        } else if (f & LW_FLAG_IGNORED) {
            cls[i] = LW_CLASS_REACHABLE;
            stack[top++] = (uint32_t)i;
        }
    }
    return top;
}

int lw_api_pool_span(const lw_entry_t *b, size_t n, size_t *i, uintptr_t *lo, uintptr_t *hi)
{
    while (*i < n && !(LW_ENTRY_FLAGS(&b[*i]) & LW_FLAG_POOLED))
        (*i)++;
    if (*i == n)
        return 0;
    *lo = *hi = b[*i].handle;
    for (; *i < n && (LW_ENTRY_FLAGS(&b[*i]) & LW_FLAG_POOLED); (*i)++) {
        uintptr_t end = b[*i].handle + LW_ENTRY_SIZE(&b[*i]);
        if (end > *hi)
            *hi = end;
    }
    return 1;
}
