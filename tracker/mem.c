/* The tracker's own allocator: size classes carved from mmap'd chunks, so that the tables never call the
 * program's malloc (which would re-enter the hooks) and never change what the program's heap looks like. */
#include "internal.h"
#include "sys.h"
#include "testing.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sizes up to LW_SMALL_MAX come from per-class free lists in 16-byte steps; larger ones are mmap'd whole. */
#define LW_SMALL_MAX 4096
#define LW_CLASSES (LW_SMALL_MAX / 16)
#define LW_CHUNK (1u << 20)

typedef struct lw_free {
    struct lw_free *next;
} lw_free_t;

static lw_lock_t mem_lock;

/* Every mapping the allocator holds, so that the reachability scan can leave the tracker's own memory (which
 * points at every live block) out of its roots. Guarded by map_lock; a full table only means a range that is
 * scanned needlessly, never a wrong answer about what the program holds. */
#define LW_MAX_MAPS 16384
static lw_lock_t map_lock;
static struct {
    uintptr_t lo, hi;
} maps[LW_MAX_MAPS];
static size_t nmaps;

static void note_map(void *p, size_t size)
{
    lw_lock(&map_lock);
    if (nmaps < LW_MAX_MAPS) {
        maps[nmaps].lo = (uintptr_t)p;
        maps[nmaps].hi = (uintptr_t)p + size;
        nmaps++;
    }
    lw_unlock(&map_lock);
}

static void forget_map(void *p)
{
    lw_lock(&map_lock);
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].lo == (uintptr_t)p) {
            maps[i] = maps[--nmaps];
            break;
        }
    }
    lw_unlock(&map_lock);
}

size_t lw_mem_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap)
{
    lw_lock(&map_lock);
    size_t n = nmaps < cap ? nmaps : cap;
    for (size_t i = 0; i < n; i++) {
        lo[i] = maps[i].lo;
        hi[i] = maps[i].hi;
    }
    lw_unlock(&map_lock);
    return n;
}
static lw_free_t *free_lists[LW_CLASSES + 1];
static char *chunk_cur, *chunk_end;

static void *map(size_t size)
{
    /* the system layer: the public mmap is the injected library's own wrapper */
    void *p = lw_sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    note_map(p, size);
    return p;
}

static size_t page_round(size_t size)
{
    return (size + 4095) & ~(size_t)4095;
}

/* The failure injection of testing.h: -1 when off, else how many more requests are served before every request is
 * refused. One relaxed load per request, and requests are rare (pool chunks, tables, the dump's working copy). */
static atomic_long fail_budget = -1;

void lw_mem_fail_after(long n)
{
    atomic_store(&fail_budget, n < 0 ? -1 : n);
}

/* Whether an injected failure refuses this request. */
static int injected_failure(void)
{
    long b = atomic_load_explicit(&fail_budget, memory_order_relaxed);
    while (b > 0) {
        if (atomic_compare_exchange_weak(&fail_budget, &b, b - 1))
            return 0;
    }
    return b == 0;
}

void *lw_mem_alloc(size_t size)
{
    if (LW_UNLIKELY(atomic_load_explicit(&fail_budget, memory_order_relaxed) >= 0) && injected_failure())
        return NULL;
    if (size == 0)
        size = 1;
    if (size > LW_SMALL_MAX)
        return map(page_round(size));

    size_t cls = (size + 15) / 16;
    size_t rounded = cls * 16;
    void *p = NULL;

    lw_lock(&mem_lock);
    if (free_lists[cls]) {
        p = free_lists[cls];
        free_lists[cls] = free_lists[cls]->next;
        memset(p, 0, rounded);
    } else {
        if ((size_t)(chunk_end - chunk_cur) < rounded) {
            char *c = map(LW_CHUNK);
            if (c) {
                chunk_cur = c;
                chunk_end = c + LW_CHUNK;
            }
        }
        if ((size_t)(chunk_end - chunk_cur) >= rounded) {
            p = chunk_cur; /* fresh mmap memory is already zero */
            chunk_cur += rounded;
        }
    }
    lw_unlock(&mem_lock);
    return p;
}

void lw_mem_free(void *p, size_t size)
{
    if (!p)
        return;
    if (size == 0)
        size = 1;
    if (size > LW_SMALL_MAX) {
        forget_map(p);
        lw_sys_munmap(p, page_round(size));
        return;
    }
    size_t cls = (size + 15) / 16;
    lw_lock(&mem_lock);
    ((lw_free_t *)p)->next = free_lists[cls];
    free_lists[cls] = p;
    lw_unlock(&mem_lock);
}


void lw_mem_lock_all(void)
{
    lw_lock(&mem_lock);
}

void lw_mem_unlock_all(void)
{
    lw_unlock(&mem_lock);
}

void lw_mem_forked(void)
{
    /* a thread that no longer exists may have held it while noting a mapping */
    atomic_store(&map_lock.held, 0);
}
