/* Stack capture: a full libunwind walk (or a bounds-checked frame-pointer walk) on a miss, and a per-thread cache
 * that recognises a stack it has seen by re-reading the stack slots that hold its return addresses. */
#include "internal.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

lw_stack_stats_t lw_stack_stats;
LW_TLS lw_thread_t lw_self;

/* The cache is 4-way set-associative, 256 sets to start with, doubled while a thread misses more often than it
 * has entries (a compiler's parser reaches its allocations through thousands of stacks). An entry remembers, for one (return address, wrapper frame)
 * pair, where on the stack each frame's return address lives (as an offset above the wrapper frame) and what it
 * was; a hit re-reads those words and compares them, which costs a few loads instead of an unwind. Entries are
 * touched only as they are used, so a thread that allocates from a few places keeps a few pages of it. */
#define LW_CACHE_SETS 256       /* to start with */
#define LW_CACHE_MAX_SETS 8192  /* a thread that keeps missing doubles its cache up to this */
#define LW_CACHE_ASSOC 4

typedef struct {
    union {
        uintptr_t ra;   /* libunwind mode: the return address into the wrapper's caller, with `frame` the key */
        uintptr_t hash; /* frame-pointer mode: the hash of the frames, which are compared in full on a match */
    };
    uintptr_t frame;
    uint32_t site;
    uint32_t n;
    /* followed by uint32_t off[depth] and uintptr_t val[depth], laid out by entry_size() */
} lw_centry_t;

struct lw_tcache {
    size_t entry_size;
    size_t total;
    size_t sets;            /* a power of two */
    size_t misses;          /* since the cache was made */
    size_t next_victim; /* a size_t keeps the entries after it aligned */
    _Alignas(16) unsigned char entries[];
};

static pthread_key_t cache_key;
static atomic_int cache_key_state; /* 0 none, 1 creating, 2 ready */

/* Hits and misses are counted per thread and added to the shared totals now and then: a shared counter bumped on
 * every allocation would bounce its cache line between the cores. */
static LW_TLS unsigned long my_hits, my_misses;

static void flush_counts(void)
{
    atomic_fetch_add_explicit(&lw_stack_stats.hits, my_hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&lw_stack_stats.misses, my_misses, memory_order_relaxed);
    my_hits = my_misses = 0;
}

static inline void count_hit(void)
{
    if (LW_UNLIKELY(++my_hits >= 4096))
        flush_counts();
}

static inline void count_miss(void)
{
    if (++my_misses >= 64)
        flush_counts();
}

void lw_stack_flush_counts(void)
{
    flush_counts();
}

static size_t entry_size(int depth)
{
    return (sizeof(lw_centry_t) + (size_t)depth * (sizeof(uint32_t) + sizeof(uintptr_t)) + 15) & ~(size_t)15;
}

static lw_centry_t *entry_at(lw_tcache_t *c, size_t i)
{
    return (lw_centry_t *)(c->entries + i * c->entry_size);
}

static uintptr_t *entry_val(lw_centry_t *e)
{
    return (uintptr_t *)(e + 1);
}

static uint32_t *entry_off(lw_centry_t *e, int depth)
{
    return (uint32_t *)(entry_val(e) + depth);
}

static void cache_destroy(void *p)
{
    lw_tcache_t *c = p;
    flush_counts();
    if (c == lw_self.cache)
        lw_self.cache = NULL;
    lw_mem_free(c, c->total);
}

/* The set of a key. Both halves matter: many call sites share one stack depth, and one call site is reached at
 * many depths. */
static inline size_t set_of(const lw_tcache_t *c, uintptr_t ra, uintptr_t frame)
{
    uint64_t k = (ra * 0x9e3779b97f4a7c15ull) ^ (frame * 0xc2b2ae3d27d4eb4full);
    return (size_t)((k ^ (k >> 29)) * 0xbf58476d1ce4e5b9ull >> 40) & (c->sets - 1);
}

/* Moves the entries of old into c, where there is room in their new set. */
static void cache_rehash(lw_tcache_t *c, lw_tcache_t *old)
{
    for (size_t i = 0; i < old->sets * LW_CACHE_ASSOC; i++) {
        lw_centry_t *from = entry_at(old, i);
        if (!from->site || lw_config.unwind == LW_UNWIND_FP)
            continue;
        size_t set = set_of(c, from->ra, from->frame);
        for (size_t way = 0; way < LW_CACHE_ASSOC; way++) {
            lw_centry_t *to = entry_at(c, set * LW_CACHE_ASSOC + way);
            if (!to->site) {
                memcpy(to, from, c->entry_size);
                break;
            }
        }
    }
}

/* Makes the calling thread's cache with the given number of sets, taking over the entries of the one it had. */
static lw_tcache_t *cache_make(size_t sets)
{
    size_t es = entry_size(lw_config.depth);
    size_t total = sizeof(lw_tcache_t) + es * sets * LW_CACHE_ASSOC;
    lw_tcache_t *c = lw_mem_alloc(total); /* zeroed pages, touched only as entries are used */
    if (!c)
        return lw_self.cache;
    c->entry_size = es;
    c->total = total;
    c->sets = sets;
    if (lw_self.cache) {
        cache_rehash(c, lw_self.cache);
        lw_mem_free(lw_self.cache, lw_self.cache->total);
    }
    lw_self.cache = c;
    pthread_setspecific(cache_key, c);
    return c;
}

static lw_tcache_t *cache_get(void)
{
    if (LW_LIKELY(lw_self.cache != NULL))
        return lw_self.cache;

    /* The key exists only to free the cache when the thread exits; creating it may allocate, which is fine here
     * because the caller holds the reentrancy guard. */
    int expect = 0;
    if (atomic_compare_exchange_strong(&cache_key_state, &expect, 1)) {
        if (pthread_key_create(&cache_key, cache_destroy) == 0)
            atomic_store(&cache_key_state, 2);
        else
            atomic_store(&cache_key_state, 0);
    }
    if (atomic_load(&cache_key_state) != 2)
        return NULL;

    return cache_make(LW_CACHE_SETS);
}

extern void *__libc_stack_end;

/* The injected library's own code range: frames inside it (the main() wrapper, say) are not the program's. */
static uintptr_t self_lo, self_hi;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    if (!info->dlpi_name || !info->dlpi_name[0])
        return 0; /* linked into a program (the unit tests): its frames are all the program's */
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < lo + ph->p_memsz) {
            self_lo = lo;
            self_hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

void lw_stack_init(void)
{
    dl_iterate_phdr(find_self, (void *)(uintptr_t)__builtin_return_address(0));
}

static inline int is_self(uintptr_t ip)
{
    return ip >= self_lo && ip < self_hi;
}

/* Unwinds with libunwind from here, skips every frame at or below the wrapper's frame, and stores up to max
 * return addresses. When slots is given, stores for each frame the address its return address was read from,
 * or 0 when it did not come from memory (then the stack cannot be cached). Returns the frame count. */
/* libunwind searches the loaded objects with dl_iterate_phdr, under the dynamic loader's lock. A fork while a
 * thread is in there would leave the child that lock held by a thread it does not have, so fork waits for
 * unwinds in progress (lw_stack_block_unwinds, from the atfork handler) and no new one starts until it is done. */
static atomic_int unwinders, unwind_blocked;

static void unwind_enter(void)
{
    for (;;) {
        while (atomic_load(&unwind_blocked))
            sched_yield();
        atomic_fetch_add(&unwinders, 1);
        if (!atomic_load(&unwind_blocked))
            return;
        atomic_fetch_sub(&unwinders, 1);
    }
}

void lw_stack_block_unwinds(void)
{
    atomic_store(&unwind_blocked, 1);
    while (atomic_load(&unwinders))
        sched_yield();
}

void lw_stack_allow_unwinds(int in_child)
{
    if (in_child)
        atomic_store(&unwinders, 0);
    atomic_store(&unwind_blocked, 0);
}

static int unwind_steps(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max);

static int unwind_full(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max)
{
    unwind_enter();
    lw_self.in_unwind = 1;
    int n = unwind_steps(o, frames, slots, max);
    lw_self.in_unwind = 0;
    atomic_fetch_sub(&unwinders, 1);
    return n;
}

int lw_signal_mask_elided(void)
{
    return lw_self.in_unwind;
}

static int unwind_steps(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t ip, sp;

    if (unw_getcontext(&uc) < 0 || unw_init_local(&c, &uc) < 0)
        return 0;
    for (;;) {
        if (unw_step(&c) <= 0)
            return 0;
        if (unw_get_reg(&c, UNW_REG_SP, &sp) < 0)
            return 0;
        if (sp > o.frame)
            break;
    }
    int n = 0;
    do {
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        if (is_self(ip))
            continue;
        frames[n] = ip;
        if (slots) {
            unw_save_loc_t loc;
            slots[n] = 0;
            if (unw_get_save_loc(&c, UNW_REG_IP, &loc) == 0 && loc.type == UNW_SLT_MEMORY)
                slots[n] = loc.u.addr;
        }
        n++;
    } while (n < max && unw_step(&c) > 0);
    return n;
}

/* Learns the calling thread's stack bounds once, for the frame-pointer walk. */
static void learn_stack_bounds(uintptr_t here)
{
    /* The main thread's stack grows below __libc_stack_end. Asking by thread id would be wrong in a child forked
     * from another thread: that thread is the child's main thread, on its old stack. */
    uintptr_t top = (uintptr_t)__libc_stack_end;
    if (here < top && top - here < (64u << 20)) {
        lw_self.stack_lo = here - (64u << 20);
        lw_self.stack_hi = top;
        return;
    }
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            lw_self.stack_lo = (uintptr_t)addr;
            lw_self.stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
    if (!lw_self.stack_hi) {
        lw_self.stack_lo = here;
        lw_self.stack_hi = here + 1; /* unknown: walk no further than the first frame */
    }
}

/* Follows saved frame pointers from the wrapper's frame. Every step must move up the stack, stay inside the
 * thread's stack and stay aligned, so a program built without frame pointers ends the walk instead of faulting. */
static int walk_fp(lw_origin_t o, uintptr_t *frames, int max)
{
    if (!lw_self.stack_hi)
        learn_stack_bounds(o.frame);
    uintptr_t lo = lw_self.stack_lo, hi = lw_self.stack_hi;
    int n = 0;
    frames[n++] = o.ra;
    if (o.frame < lo || o.frame + 2 * sizeof(uintptr_t) > hi)
        return n;
    uintptr_t fp = *(const uintptr_t *)o.frame;
    uintptr_t prev = o.frame;
    while (n < max && fp > prev && fp + 2 * sizeof(uintptr_t) <= hi && (fp & (sizeof(uintptr_t) - 1)) == 0) {
        uintptr_t ra = ((const uintptr_t *)fp)[1];
        if (ra < 4096)
            break;
        if (!is_self(ra))
            frames[n++] = ra;
        prev = fp;
        fp = *(const uintptr_t *)fp;
    }
    return n;
}

static uint32_t frames_hash(const uintptr_t *f, int n)
{
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = (h ^ f[i]) * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 32);
}

/* Frame-pointer mode: the walk is cheap; the cache only saves the site-table lookup (and its lock). */
static uint32_t site_fp(lw_origin_t o)
{
    uintptr_t frames[LW_MAX_DEPTH];
    int depth = lw_config.depth;
    int n = walk_fp(o, frames, depth);
    uint32_t h = frames_hash(frames, n);
    lw_tcache_t *c = cache_get();
    if (!c)
        return lw_site_intern(frames, n);
    size_t set = h & (c->sets - 1);
    lw_centry_t *victim = NULL;
    for (size_t way = 0; way < LW_CACHE_ASSOC; way++) {
        lw_centry_t *e = entry_at(c, set * LW_CACHE_ASSOC + way);
        if (e->site && e->hash == h && e->n == (uint32_t)n &&
            memcmp(entry_val(e), frames, (size_t)n * sizeof(uintptr_t)) == 0) {
            count_hit();
            return e->site;
        }
        if (!victim && !e->site)
            victim = e;
    }
    uint32_t site = lw_site_intern(frames, n);
    count_miss();
    if (++c->misses > 2 * c->sets * LW_CACHE_ASSOC && c->sets < LW_CACHE_MAX_SETS) {
        /* more stacks than fit: twice as many sets (the frames of the old entries are not rehashed here) */
        c = cache_make(c->sets * 2);
        set = h & (c->sets - 1);
        victim = entry_at(c, set * LW_CACHE_ASSOC);
    }
    lw_centry_t *e = victim ? victim : entry_at(c, set * LW_CACHE_ASSOC + (c->next_victim++ & (LW_CACHE_ASSOC - 1)));
    e->site = site;
    e->hash = h;
    e->n = (uint32_t)n;
    memcpy(entry_val(e), frames, (size_t)n * sizeof(uintptr_t));
    return site;
}

static void verify_hit(lw_origin_t o, uint32_t site)
{
    uintptr_t full[LW_MAX_DEPTH], cached[LW_MAX_DEPTH];
    int n = unwind_full(o, full, NULL, lw_config.depth);
    int m = lw_site_frames(site, cached, LW_MAX_DEPTH);
    atomic_fetch_add_explicit(&lw_stack_stats.verified, 1, memory_order_relaxed);
    if (n != m || memcmp(full, cached, (size_t)n * sizeof(uintptr_t)) != 0)
        atomic_fetch_add_explicit(&lw_stack_stats.mismatches, 1, memory_order_relaxed);
}

uint32_t lw_stack_site(lw_origin_t o)
{
    if (lw_config.unwind == LW_UNWIND_FP)
        return site_fp(o);

    int depth = lw_config.depth;
    /* Only a stack known to stay mapped is cached: a hit re-reads words above the wrapper's frame, and on a
     * coroutine stack or an alternate signal stack, freed and reused, those words may be gone. */
    if (LW_UNLIKELY(!lw_self.stack_hi))
        learn_stack_bounds(o.frame);
    int cacheable = o.frame >= lw_self.stack_lo && o.frame < lw_self.stack_hi;
    lw_tcache_t *c = cacheable ? cache_get() : NULL;
    lw_centry_t *e = NULL;

    if (LW_LIKELY(c != NULL)) {
        size_t set = set_of(c, o.ra, o.frame);
        lw_centry_t *victim = NULL;
        for (size_t way = 0; way < LW_CACHE_ASSOC; way++) {
            lw_centry_t *w = entry_at(c, set * LW_CACHE_ASSOC + way);
            if (w->ra == o.ra && w->frame == o.frame && w->site) {
                const uintptr_t *val = entry_val(w);
                const uint32_t *off = entry_off(w, depth);
                uint32_t i = 0;
                while (i < w->n && *(const uintptr_t *)(o.frame + off[i]) == val[i])
                    i++;
                if (i == w->n) {
                    count_hit();
                    if (LW_UNLIKELY(lw_config.verify))
                        verify_hit(o, w->site);
                    return w->site;
                }
                /* same key, another stack above it: several such stacks may live in the set side by side */
            }
            if (!victim && !w->site)
                victim = w;
        }
        /* no free way: replace one in turn */
        e = victim ? victim : entry_at(c, set * LW_CACHE_ASSOC + (c->next_victim++ & (LW_CACHE_ASSOC - 1)));
    }

    if (c && ++c->misses > 2 * c->sets * LW_CACHE_ASSOC && c->sets < LW_CACHE_MAX_SETS) {
        /* more misses than twice the entries: the thread has more stacks than fit; twice as many sets */
        c = cache_make(c->sets * 2);
        e = NULL;
    }
    uintptr_t frames[LW_MAX_DEPTH], slots[LW_MAX_DEPTH];
    int n = unwind_full(o, frames, slots, depth);
    count_miss();
    if (n == 0) {
        frames[0] = o.ra;
        n = 1;
        slots[0] = 0;
    }
    uint32_t site = lw_site_intern(frames, n);
    if (e && site) {
        /* Cache only when every return address came from a stack word above the wrapper's frame: those are the
         * words a hit re-reads. */
        uintptr_t *val = entry_val(e);
        uint32_t *off = entry_off(e, depth);
        int ok = 1;
        for (int k = 0; k < n; k++) {
            if (slots[k] <= o.frame || slots[k] - o.frame > UINT32_MAX || slots[k] + sizeof(uintptr_t) > lw_self.stack_hi) {
                ok = 0;
                break;
            }
            off[k] = (uint32_t)(slots[k] - o.frame);
            val[k] = frames[k];
        }
        e->site = ok ? site : 0;
        e->ra = o.ra;
        e->frame = o.frame;
        e->n = (uint32_t)n;
    }
    return site;
}
