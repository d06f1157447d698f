/* Stack capture: a per-thread cache that recognises a stack it has seen by re-reading the stack slots that hold its
 * return addresses, and on a miss a walk by frame rules learned from libunwind, a full libunwind walk, or in
 * frame-pointer mode a bounds-checked frame-pointer walk. */
#include "hash.h"

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

/* The cache is 8-way set-associative, 128 sets to start with, doubled each time a thread has missed as often as
 * half its entries (a compiler's parser reaches its allocations through thousands of stacks). An entry remembers, for
 * one (return address, wrapper frame) pair, where on the stack each frame's return address lives (as an offset
 * above the wrapper frame) and a 64-bit digest of what they were; a hit re-reads those words and compares their
 * digest, which costs a few loads instead of an unwind. The digest keeps an entry small (a deep stack's entry fits
 * a few cache lines, not a dozen) and tells apart any two stacks that differ in one frame; two that differ in
 * more collide with a chance of about one in 2^64 (LEAKWATCH_VERIFY=1 would count it). Many stacks can share their
 * innermost frame and depth, more than a set's ways hold: once a second stack of a key is seen, the key's way in
 * its first set becomes a redirect, and its stacks go to second sets that also depend on the caller's return
 * address (see second_key), with no entry read and no digest taken in the first set. Stacks that share their two
 * innermost frames and depth still share a second set, and a compiler has dozens of such groups in turn: with
 * four ways a set, gcc's cc1 walked one stack in twenty-two (57000 walks of 1.3 million stacks, 7600 of them
 * distinct), with eight about one in fifty.
 * Entries are touched only as they are used, so a thread that allocates from a few places keeps a few pages. */
#define LW_CACHE_SETS 128       /* to start with */
#define LW_CACHE_MAX_SETS 4096  /* a thread that keeps missing doubles its cache up to this */
#define LW_CACHE_ASSOC 8

/* The keys of a set's eight ways lie in two cache lines of their own, ahead of the entries: a look-up reads those
 * and then only the entry whose key matches. ra 0 marks a free way; LW_REDIRECT in frame (which is 16-byte
 * aligned, the wrapper's frame pointer) marks a key's redirect, whose entry is unused (see lw_stack_site). */
typedef struct {
    uintptr_t ra;       /* the return address into the wrapper's caller, with `frame` the key (both modes) */
    uintptr_t frame;
} lw_ctag_t;
#define LW_REDIRECT ((uintptr_t)1)

typedef struct {
    uintptr_t key2;     /* the second key the entry's set was chosen with, for moving it to a larger cache */
    uint64_t digest;    /* stack_digest of the return addresses */
    uint32_t site;
    uint32_t n;
    uint32_t off[];     /* n of them, room for the configured depth (entry_size) */
} lw_centry_t;

struct lw_tcache {
    size_t entry_size;
    size_t total;
    size_t sets;            /* a power of two */
    size_t misses;          /* since the cache was made */
    size_t next_victim;
    unsigned char *body;    /* the entries, after sets * LW_CACHE_ASSOC tags */
    _Alignas(64) lw_ctag_t tags[];
};

static pthread_key_t cache_key;
static atomic_int cache_key_state; /* 0 none, 1 creating, 2 ready */

/* Hits and misses are counted per thread and added to the shared totals now and then: a shared counter bumped on
 * every allocation would bounce its cache line between the cores. */
static LW_TLS unsigned long my_hits, my_walks, my_misses;

static void flush_counts(void)
{
    atomic_fetch_add_explicit(&lw_stack_stats.hits, my_hits, memory_order_relaxed);
    atomic_fetch_add_explicit(&lw_stack_stats.walks, my_walks, memory_order_relaxed);
    atomic_fetch_add_explicit(&lw_stack_stats.misses, my_misses, memory_order_relaxed);
    my_hits = my_walks = my_misses = 0;
}

static inline void count_hit(void)
{
    if (LW_UNLIKELY(++my_hits >= 4096))
        flush_counts();
}

/* A stack taken without a full unwind but not from the cache: a hit in the statistics, counted apart too. */
static inline void count_walk(void)
{
    my_walks++;
    count_hit();
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
    return (sizeof(lw_centry_t) + (size_t)depth * sizeof(uint32_t) + 15) & ~(size_t)15;
}

static lw_centry_t *entry_at(lw_tcache_t *c, size_t i)
{
    return (lw_centry_t *)(c->body + i * c->entry_size);
}

/* One step of the digest of a stack's return addresses: a bijection of the digest so far for a given word, and of
 * the word for a given digest so far. */
static inline uint64_t digest_step(uint64_t h, uintptr_t word)
{
    h = (h ^ word) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

/* The digest of n return addresses: the even frames and the odd ones in two chains of steps that the processor
 * runs side by side (a chain's multiplications wait on each other), joined by a last step. Two stacks that differ
 * in exactly one frame differ in one chain, whose value stays different through every later step and the join,
 * so they never share a digest. A hit reads the stack's words where an entry's offsets say (slots_digest); the
 * entry's digest is of the frames its walk gave (frames_digest), not of the words at the offsets, so that a hit
 * also proves that the words it re-read are those frames. Both give the same digest for the same words. */
#define DIGEST_ODD_SEED 0x2545f4914f6cdd1dull

static inline uint64_t slots_digest(uintptr_t frame, const uint32_t *off, uint32_t n)
{
    uint64_t even = n, odd = DIGEST_ODD_SEED;
    uint32_t k = 0;
    for (; k + 1 < n; k += 2) {
        even = digest_step(even, *(const uintptr_t *)(frame + off[k]));
        odd = digest_step(odd, *(const uintptr_t *)(frame + off[k + 1]));
    }
    if (k < n)
        even = digest_step(even, *(const uintptr_t *)(frame + off[k]));
    return digest_step(even, odd);
}

static inline uint64_t frames_digest(const uintptr_t *frames, uint32_t n)
{
    uint64_t even = n, odd = DIGEST_ODD_SEED;
    uint32_t k = 0;
    for (; k + 1 < n; k += 2) {
        even = digest_step(even, frames[k]);
        odd = digest_step(odd, frames[k + 1]);
    }
    if (k < n)
        even = digest_step(even, frames[k]);
    return digest_step(even, odd);
}

/* Also the key's destructor, which glibc calls as the thread ends, outside any call of the tracker: inside the
 * guard, so that a signal handler that interrupts the free (which holds the allocator's lock of its mappings)
 * passes its calls through or puts them off instead of taking that lock again, which would wait for good. */
static void cache_destroy(void *p)
{
    lw_guard_t g = lw_enter();
    lw_tcache_t *c = p;
    flush_counts();
    if (c == lw_self.cache)
        lw_self.cache = NULL;
    lw_mem_free(c, c->total);
    lw_leave(g);
}

void lw_stack_forget(void)
{
    lw_tcache_t *c = lw_self.cache;
    if (!c)
        return;
    if (atomic_load(&cache_key_state) == 2)
        pthread_setspecific(cache_key, NULL);
    cache_destroy(c);
}

/* The set of a key. Every part matters: many call sites share one stack depth, one call site is reached at many
 * depths, and many callers reach one call site at the same depth. */
static inline size_t set_of(const lw_tcache_t *c, uintptr_t ra, uintptr_t frame, uintptr_t key2)
{
    uint64_t k = (ra * 0x9e3779b97f4a7c15ull) ^ (frame * 0xc2b2ae3d27d4eb4full) ^ (key2 * 0xd6e8feb86659fd93ull);
    return (size_t)((k ^ (k >> 29)) * 0xbf58476d1ce4e5b9ull >> 40) & (c->sets - 1);
}

/* Moves the entries of old into c, where there is room in their new set. */
static void cache_rehash(lw_tcache_t *c, lw_tcache_t *old)
{
    for (size_t i = 0; i < old->sets * LW_CACHE_ASSOC; i++) {
        const lw_ctag_t *tag = &old->tags[i];
        if (!tag->ra)
            continue;
        lw_centry_t *from = entry_at(old, i);
        size_t set = set_of(c, tag->ra, tag->frame & ~LW_REDIRECT, (tag->frame & LW_REDIRECT) ? 0 : from->key2);
        for (size_t way = 0; way < LW_CACHE_ASSOC; way++) {
            size_t j = set * LW_CACHE_ASSOC + way;
            if (!c->tags[j].ra) {
                c->tags[j] = *tag;
                memcpy(entry_at(c, j), from, c->entry_size);
                break;
            }
        }
    }
}

/* Makes the calling thread's cache with the given number of sets, taking over the entries of the one it had. */
static lw_tcache_t *cache_make(size_t sets)
{
    size_t es = entry_size(lw_config.depth);
    size_t tags = sets * LW_CACHE_ASSOC * sizeof(lw_ctag_t);
    size_t total = sizeof(lw_tcache_t) + tags + es * sets * LW_CACHE_ASSOC;
    lw_tcache_t *c = lw_mem_alloc(total); /* zeroed pages, touched only as entries are used */
    if (!c)
        return lw_self.cache;
    c->body = (unsigned char *)c->tags + tags;
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

/* libunwind searches the loaded objects with dl_iterate_phdr, under the dynamic loader's lock. A fork while a
 * thread is in there would leave the child that lock held by a thread it does not have, so fork waits for
 * unwinds in progress (lw_stack_block_unwinds, from the atfork handler) and no new one starts until it is done.
 * The walk by learned rules below checks the loaded objects the same way and takes the same pass. */
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

static void unwind_leave(void)
{
    atomic_fetch_sub(&unwinders, 1);
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

int lw_signal_mask_elided(void)
{
    return lw_self.in_unwind;
}

/* ---- frame rules learned from libunwind ---------------------------------------------------------------------
 * Where a frame's caller's return address lives depends only on the code address the frame is at: its canonical
 * frame address (CFA) is the stack pointer plus a constant there, or, in a function that keeps a frame pointer,
 * the frame pointer plus 16; the return address is the word below the CFA. Every full unwind records that rule
 * for each return address it passes (and where the frame saved its caller's frame pointer, so that the next
 * rule can use it), so that a later stack made of frames already seen is walked with one table look-up and one
 * load a frame instead of libunwind's search. A frame whose rule is unknown, was seen to change, or is not of
 * these two kinds (a signal frame, a realigned stack) sends the whole stack to libunwind; a frame not seen yet is
 * learned on the way with one libunwind step from it (learn_frame). The table is shared by
 * the threads, lock-free (an entry is claimed with a compare-and-swap, then its rule stored), and only grows; it
 * is given up for good once the program unloads a library, whose addresses new code may reuse. */
#define LW_RULE_SLOTS (1u << 16)
#define LW_RULE_PROBES 32

enum { RULE_SP = 1, RULE_BP = 2, RULE_END = 3 }; /* the kind in the low two bits; 0: not learned yet */
#define RULE_KIND(r) ((unsigned)((r) & 3))
#define RULE_BAD 4ull /* seen with two different rules, or not learnable by learn_frame: never walked by rule */
#define RULE_SAVES_BP 8ull          /* the frame saved its caller's frame pointer at CFA - save offset */
#define RULE_OFF(r) ((uintptr_t)(((r) >> 8) & 0xffffff))         /* CFA = SP or BP + this */
#define RULE_SAVE_OFF(r) ((uintptr_t)(((r) >> 32) & 0xffffff))   /* the caller's BP is at CFA - this */
#define RULE_MAX_OFF 0xffffffu

typedef struct {
    _Atomic uintptr_t ip;
    _Atomic uint64_t rule;
} lw_rule_t;

static lw_rule_t *_Atomic rule_table;
static atomic_int rules_state;   /* 0 unused, 1 in use, 2 given up */
static unsigned long rules_subs; /* dlpi_subs when the table was made */

static inline uint32_t rule_home(uintptr_t ip)
{
    return lw_mix64(ip) & (LW_RULE_SLOTS - 1);
}

static uint64_t rule_of(const lw_rule_t *t, uintptr_t ip)
{
    uint32_t h = rule_home(ip);
    for (uint32_t i = 0; i < LW_RULE_PROBES; i++) {
        const lw_rule_t *e = &t[(h + i) & (LW_RULE_SLOTS - 1)];
        uintptr_t k = atomic_load_explicit(&e->ip, memory_order_acquire);
        if (k == ip)
            return atomic_load_explicit(&e->rule, memory_order_acquire);
        if (k == 0)
            return 0;
    }
    return 0;
}

static void rule_learn(lw_rule_t *t, uintptr_t ip, uint64_t rule)
{
    uint32_t h = rule_home(ip);
    for (uint32_t i = 0; i < LW_RULE_PROBES; i++) {
        lw_rule_t *e = &t[(h + i) & (LW_RULE_SLOTS - 1)];
        uintptr_t k = atomic_load_explicit(&e->ip, memory_order_acquire);
        if (k == 0 && atomic_compare_exchange_strong(&e->ip, &k, ip)) {
            atomic_store_explicit(&e->rule, rule, memory_order_release);
            return;
        }
        if (k == ip) {
            /* claimed by another thread that may not have stored its rule yet: a rule stored after ours that
             * differs is caught the next time this frame is learned */
            uint64_t old = atomic_load_explicit(&e->rule, memory_order_acquire);
            if (old == 0)
                atomic_compare_exchange_strong(&e->rule, &old, rule);
            if (old != 0 && old != rule)
                atomic_store_explicit(&e->rule, RULE_BAD, memory_order_release);
            return;
        }
    }
    /* a crowded neighbourhood: the frame stays unknown */
}

static int count_unloads(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    *(unsigned long *)arg = info->dlpi_subs;
    return 1;
}

/* The table, made on first use, or NULL when the walk by rules is off (the table could not be made, or a library
 * was unloaded since). Runs inside unwind_enter. */
static lw_rule_t *rules_get(void)
{
    int st = atomic_load_explicit(&rules_state, memory_order_acquire);
    if (st == 2)
        return NULL;
    unsigned long subs = 0;
    dl_iterate_phdr(count_unloads, &subs);
    if (st == 1) {
        if (subs == rules_subs)
            return atomic_load_explicit(&rule_table, memory_order_acquire);
        atomic_store(&rules_state, 2); /* the memory stays: another thread may be reading it */
        return NULL;
    }
    lw_rule_t *t = lw_mem_alloc(LW_RULE_SLOTS * sizeof(lw_rule_t)); /* zeroed pages, touched as used */
    lw_rule_t *none = NULL;
    if (!t) {
        atomic_store(&rules_state, 2);
        return NULL;
    }
    if (!atomic_compare_exchange_strong(&rule_table, &none, t)) {
        lw_mem_free(t, LW_RULE_SLOTS * sizeof(lw_rule_t));
        return atomic_load(&rule_table);
    }
    rules_subs = subs;
    atomic_store_explicit(&rules_state, 1, memory_order_release);
    return t;
}

/* The rule of a frame at ip whose stack pointer was sp and frame pointer bp, from the cursor c that libunwind has
 * just stepped to its caller; 0 when it is not one of the two kinds. */
static uint64_t rule_from_step(unw_cursor_t *c, uintptr_t sp, uintptr_t bp)
{
    unw_word_t cfa, caller_bp;
    unw_save_loc_t ra_loc, bp_loc;
    if (unw_get_reg(c, UNW_REG_SP, &cfa) < 0 || unw_get_reg(c, UNW_X86_64_RBP, &caller_bp) < 0 ||
        unw_get_save_loc(c, UNW_REG_IP, &ra_loc) < 0 || unw_get_save_loc(c, UNW_X86_64_RBP, &bp_loc) < 0)
        return 0;
    if (cfa <= sp || cfa - sp > RULE_MAX_OFF || (cfa & 7) || ra_loc.type != UNW_SLT_MEMORY ||
        ra_loc.u.addr != cfa - sizeof(uintptr_t))
        return 0;
    uint64_t saves = 0, save_off = 0;
    if (bp_loc.type == UNW_SLT_MEMORY && bp_loc.u.addr >= sp && bp_loc.u.addr < cfa) {
        saves = RULE_SAVES_BP; /* saved in this frame */
        save_off = cfa - bp_loc.u.addr;
    } else if (caller_bp != bp) {
        return 0; /* changed without being saved here: not a frame this walk can follow */
    }
    if (saves && bp == bp_loc.u.addr) {
        /* the frame pointer points at its own save slot: a function that keeps a frame pointer, whose stack
         * pointer may move (alloca); unless CFA = BP + 16 the stack was realigned, and no rule holds */
        if (save_off != 2 * sizeof(uintptr_t))
            return 0;
        return RULE_BP | saves | (uint64_t)(2 * sizeof(uintptr_t)) << 8 | save_off << 32;
    }
    return RULE_SP | saves | (uint64_t)(cfa - sp) << 8 | save_off << 32;
}

/* What the registers other than the instruction, stack and frame pointers hold in the context a frame is learned
 * from: the middle of a readable block of zeros. A frame whose rule rests on another register (hand-written code)
 * then has a canonical frame address inside this block, far below the stack, which rule_from_step refuses, and
 * libunwind's reads there find memory to read. */
static const uintptr_t no_registers[2048];

/* Learns the rule of the frame at ip whose stack pointer is sp and frame pointer bp with one libunwind step from a
 * context of those three registers, as the full unwind would have learned it on its way past (unw_init_local
 * takes the context's instruction pointer for a return address, as it does every stepped-to frame's). Returns
 * the frame's rule now, RULE_BAD when libunwind cannot step it or it is not of the kinds the rules follow (a
 * signal frame, a realigned stack): those are left to the full unwind. Runs inside unwind_enter. */
static uint64_t learn_frame(lw_rule_t *t, uintptr_t ip, uintptr_t sp, uintptr_t bp)
{
    unw_context_t uc;
    unw_cursor_t c;
    memset(&uc, 0, sizeof uc);
    greg_t *g = uc.uc_mcontext.gregs;
    for (int r = 0; r < NGREG; r++)
        g[r] = (greg_t)(uintptr_t)&no_registers[sizeof no_registers / sizeof no_registers[0] / 2];
    g[REG_RIP] = (greg_t)ip;
    g[REG_RSP] = (greg_t)sp;
    g[REG_RBP] = (greg_t)bp;
    uint64_t r = 0;
    lw_self.in_unwind = 1;
    if (unw_init_local(&c, &uc) == 0 && unw_is_signal_frame(&c) <= 0) {
        int step = unw_step(&c);
        if (step == 0)
            r = RULE_END; /* as the full unwind learns it */
        else if (step > 0)
            r = rule_from_step(&c, sp, bp);
    }
    lw_self.in_unwind = 0;
    /* a frame that cannot be learned so is marked, so that every later stack through it goes to the full unwind
     * at once instead of trying again */
    rule_learn(t, ip, r ? r : RULE_BAD);
    return rule_of(t, ip);
}

/* Walks the stack that starts at the wrapper's frame by learned rules, learning the rule of a frame not seen yet
 * with one libunwind step. Returns the frame count with frames and slots filled as
 * unwind_steps does, or -1 when a frame's rule cannot be had this way (then libunwind walks the whole stack). */
static int walk_by_rules(lw_rule_t *t, lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max)
{
    /* the wrapper's frame: its caller's frame pointer at o.frame, the return address above, the caller's stack
     * pointer above that */
    uintptr_t hi = lw_self.stack_hi;
    uintptr_t slot = o.frame + sizeof(uintptr_t), sp = o.frame + 2 * sizeof(uintptr_t);
    uintptr_t bp = *(const uintptr_t *)o.frame, ip = o.ra;
    int n = 0;
    for (;;) {
        if (!is_self(ip)) {
            frames[n] = ip;
            slots[n] = slot;
            if (++n == max)
                return n;
        }
        uint64_t r = rule_of(t, ip);
        if (RULE_KIND(r) == 0)
            r = learn_frame(t, ip, sp, bp);
        unsigned kind = RULE_KIND(r);
        if (kind == 0 || (r & RULE_BAD))
            return -1;
        if (kind == RULE_END)
            return n;
        uintptr_t cfa = (kind == RULE_BP ? bp : sp) + RULE_OFF(r);
        /* every step moves up the stack and stays inside it, whatever the words read were */
        if (cfa <= sp || cfa > hi || (cfa & 7))
            return -1;
        if (r & RULE_SAVES_BP) {
            uintptr_t at = cfa - RULE_SAVE_OFF(r);
            if (at < sp || at + sizeof(uintptr_t) > hi)
                return -1;
            bp = *(const uintptr_t *)at;
        }
        slot = cfa - sizeof(uintptr_t);
        ip = *(const uintptr_t *)slot;
        sp = cfa;
        if (ip == 0)
            return n; /* where libunwind stops too */
    }
}

/* Unwinds with libunwind from here, skips every frame at or below the wrapper's frame, and stores up to max
 * return addresses. When slots is given, stores for each frame the address its return address was read from,
 * or 0 when it did not come from memory (then the stack cannot be cached). When rules is given, records the rule
 * of every frame it steps past. Returns the frame count. */
static int unwind_steps(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max, lw_rule_t *rules)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_word_t ip, sp, bp;

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
    int n = 0, after_signal = 0;
    for (;;) {
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        if (!is_self(ip)) {
            frames[n] = ip;
            if (slots) {
                unw_save_loc_t loc;
                slots[n] = 0;
                if (unw_get_save_loc(&c, UNW_REG_IP, &loc) == 0 && loc.type == UNW_SLT_MEMORY)
                    slots[n] = loc.u.addr;
            }
            if (++n == max)
                break;
        }
        /* A signal frame is stepped past by its saved context, not by a rule; the frame it interrupted is at
         * an address that is no return address, whose rule may not be the one a call there would have. */
        int learn = rules && !after_signal;
        after_signal = unw_is_signal_frame(&c) > 0;
        learn = learn && !after_signal;
        if (learn && (unw_get_reg(&c, UNW_REG_SP, &sp) < 0 || unw_get_reg(&c, UNW_X86_64_RBP, &bp) < 0))
            learn = 0;
        int step = unw_step(&c);
        if (step <= 0) {
            if (learn && step == 0)
                rule_learn(rules, ip, RULE_END); /* the outermost frame (_start, a thread's start) */
            break;
        }
        if (learn) {
            uint64_t r = rule_from_step(&c, sp, bp);
            if (r)
                rule_learn(rules, ip, r);
        }
    }
    return n;
}

/* The stack from libunwind: by the rules learned so far, learning those of frames not seen yet one step at a time
 * (*by_rule set), else a full unwind that learns them. */
static int unwind_full(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max, int *by_rule)
{
    unwind_enter();
    lw_rule_t *rules = slots ? rules_get() : NULL;
    int n = rules ? walk_by_rules(rules, o, frames, slots, max) : -1;
    *by_rule = n >= 0;
    if (n < 0) {
        lw_self.in_unwind = 1;
        n = unwind_steps(o, frames, slots, max, rules);
        lw_self.in_unwind = 0;
    }
    unwind_leave();
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

/* Follows saved frame pointers from the wrapper's frame, storing with each return address the stack word it was
 * read from. Every step must move up the stack, stay inside the thread's stack and stay aligned, so a program
 * built without frame pointers ends the walk instead of faulting. */
static int walk_fp(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max)
{
    if (!lw_self.stack_hi)
        learn_stack_bounds(o.frame);
    uintptr_t lo = lw_self.stack_lo, hi = lw_self.stack_hi;
    int n = 0;
    frames[n] = o.ra;
    slots[n++] = o.frame + sizeof(uintptr_t);
    if (o.frame < lo || o.frame + 2 * sizeof(uintptr_t) > hi)
        return n;
    uintptr_t fp = *(const uintptr_t *)o.frame;
    uintptr_t prev = o.frame;
    while (n < max && fp > prev && fp + 2 * sizeof(uintptr_t) <= hi && (fp & (sizeof(uintptr_t) - 1)) == 0) {
        uintptr_t ra = ((const uintptr_t *)fp)[1];
        if (ra < 4096)
            break;
        if (!is_self(ra)) {
            frames[n] = ra;
            slots[n++] = fp + sizeof(uintptr_t);
        }
        prev = fp;
        fp = *(const uintptr_t *)fp;
    }
    return n;
}

/* Takes the stack the slow way of the configured mode. *by_rule is set when libunwind's rules did it. */
static int take_stack(lw_origin_t o, uintptr_t *frames, uintptr_t *slots, int max, int cacheable, int *by_rule)
{
    *by_rule = 0;
    if (lw_config.unwind == LW_UNWIND_FP)
        return walk_fp(o, frames, slots, max);
    return unwind_full(o, frames, cacheable ? slots : NULL, max, by_rule);
}

/* LEAKWATCH_VERIFY: the stack a hit (or a walk by rules) gave, against the mode's own walk from scratch. */
static void verify_site(lw_origin_t o, uint32_t site)
{
    uintptr_t full[LW_MAX_DEPTH], slots[LW_MAX_DEPTH], cached[LW_MAX_DEPTH];
    int by_rule;
    int n = lw_config.unwind == LW_UNWIND_FP ? walk_fp(o, full, slots, lw_config.depth)
                                             : unwind_full(o, full, NULL, lw_config.depth, &by_rule);
    int m = lw_site_frames(site, cached, LW_MAX_DEPTH);
    atomic_fetch_add_explicit(&lw_stack_stats.verified, 1, memory_order_relaxed);
    if (n != m || memcmp(full, cached, (size_t)n * sizeof(uintptr_t)) != 0)
        atomic_fetch_add_explicit(&lw_stack_stats.mismatches, 1, memory_order_relaxed);
}

/* Looks for the stack at (ra, frame) in one set: returns its entry, or NULL with *victim the index of a free way
 * (left as it was when none), *same the index of a way of another stack of the same key (left as it was when
 * none) and *redirect set when the set holds the key's redirect (looked for in a first set only). */
static inline lw_centry_t *probe(lw_tcache_t *c, size_t set, uintptr_t ra, uintptr_t frame, size_t *victim,
                                 size_t *same, int *redirect)
{
    const lw_ctag_t *tags = &c->tags[set * LW_CACHE_ASSOC];
    for (size_t way = 0; way < LW_CACHE_ASSOC; way++) {
        size_t i = set * LW_CACHE_ASSOC + way;
        if (redirect && tags[way].ra == ra && tags[way].frame == (frame | LW_REDIRECT)) {
            *redirect = 1;
            return NULL;
        }
        if (tags[way].ra == ra && tags[way].frame == frame) {
            lw_centry_t *w = entry_at(c, i);
            /* every word is read, without a branch a word: they lie where the walk that filled the entry found
             * them, inside this thread's stack above the same frame */
            if (slots_digest(frame, w->off, w->n) == w->digest)
                return w;
            *same = i; /* another stack above the same frame */
        } else if (*victim == SIZE_MAX && !tags[way].ra) {
            *victim = i;
        }
    }
    return NULL;
}

/* The rule of the first frame (the wrapper's caller), by which the caller's return address is read: the learned
 * one, or in frame-pointer mode the frame pointer's; 0 when not known. */
static inline uint64_t first_rule(uintptr_t ra)
{
    if (lw_config.unwind == LW_UNWIND_FP)
        return RULE_BP | (uint64_t)(2 * sizeof(uintptr_t)) << 8;
    const lw_rule_t *t = atomic_load_explicit(&rule_table, memory_order_acquire);
    return t ? rule_of(t, ra) : 0;
}

/* The caller's return address, the second key, read by the first frame's rule r when that stays inside the
 * thread's stack; 0 when not known. It only chooses the set, so a wrong guess costs a miss, never a wrong stack. */
static inline uintptr_t second_key(uintptr_t frame, uint64_t r)
{
    uintptr_t cfa, hi = lw_self.stack_hi;
    unsigned kind = RULE_KIND(r);
    if (kind == RULE_SP)
        cfa = frame + 2 * sizeof(uintptr_t) + RULE_OFF(r);
    else if (kind == RULE_BP)
        cfa = *(const uintptr_t *)frame + RULE_OFF(r); /* the caller's frame pointer, which the wrapper saved */
    else
        return 0;
    if (cfa <= frame + 2 * sizeof(uintptr_t) || cfa > hi || (cfa & 7))
        return 0;
    return *(const uintptr_t *)(cfa - sizeof(uintptr_t));
}

/* Makes way i of set (a way of the key (ra, frame)) the key's redirect and frees the set's other ways of that key:
 * the key's stacks live in the second sets from now on. */
static void make_redirect(lw_tcache_t *c, size_t set, size_t i, uintptr_t ra, uintptr_t frame)
{
    for (size_t j = set * LW_CACHE_ASSOC; j < (set + 1) * LW_CACHE_ASSOC; j++)
        if (j != i && c->tags[j].ra == ra && c->tags[j].frame == frame)
            c->tags[j].ra = 0;
    c->tags[i].frame = frame | LW_REDIRECT;
}

/* The way of a full set that a miss replaces: the ways in turn, a redirect passed over when another way is there
 * (a redirect stands for many stacks, a way for one). */
static size_t victim_of(lw_tcache_t *c, size_t set)
{
    size_t i = set * LW_CACHE_ASSOC + (c->next_victim++ & (LW_CACHE_ASSOC - 1));
    if (c->tags[i].frame & LW_REDIRECT)
        i = set * LW_CACHE_ASSOC + (c->next_victim++ & (LW_CACHE_ASSOC - 1));
    return i;
}

/* The miss path of lw_stack_site_at: takes the stack at (ra, frame) the slow way and fills way ei of c with it when
 * ei is one (key2 the second key the way was chosen by). Out of line, so that the hit path keeps the two words in
 * registers. */
static __attribute__((noinline)) uint32_t stack_site_miss(uintptr_t ra, uintptr_t frame, lw_tcache_t *c, size_t ei,
                                                         uintptr_t key2, int cacheable)
{
    const lw_origin_t o = { .ra = ra, .frame = frame };
    if (c && ++c->misses > c->sets * LW_CACHE_ASSOC / 2 && c->sets < LW_CACHE_MAX_SETS) {
        /* more misses than half the entries: the thread has more stacks than fit well; twice as many sets */
        c = cache_make(c->sets * 2);
        ei = SIZE_MAX;
    }
    uintptr_t frames[LW_MAX_DEPTH], slots[LW_MAX_DEPTH];
    int by_rule;
    int n = take_stack(o, frames, slots, lw_config.depth, cacheable, &by_rule);
    if (by_rule)
        count_walk();
    else
        count_miss();
    if (n == 0) {
        frames[0] = ra;
        n = 1;
        slots[0] = 0;
    }
    uint32_t site = lw_site_intern(frames, n);
    if (by_rule && LW_UNLIKELY(lw_config.verify) && site)
        verify_site(o, site);
    if (ei != SIZE_MAX && site) {
        /* Cache only when every return address came from a stack word above the wrapper's frame: those are the
         * words a hit re-reads. */
        lw_centry_t *e = entry_at(c, ei);
        int ok = 1;
        for (int k = 0; k < n; k++) {
            if (slots[k] <= frame || slots[k] - frame > UINT32_MAX || slots[k] + sizeof(uintptr_t) > lw_self.stack_hi) {
                ok = 0;
                break;
            }
            e->off[k] = (uint32_t)(slots[k] - frame);
        }
        e->digest = frames_digest(frames, (uint32_t)n);
        e->site = site;
        e->key2 = key2;
        e->n = (uint32_t)n;
        c->tags[ei].ra = ok ? ra : 0;
        c->tags[ei].frame = frame;
    }
    return site;
}

/* Both modes share the cache: a hit re-reads the words that held the return addresses, wherever the walk that
 * filled the entry found them. A miss is a frame-pointer walk, a walk by learned rules (which may learn a frame
 * not seen yet with one libunwind step), or a full unwind; only the last counts as a miss in the statistics, and
 * the others are verified like hits. */
uint32_t lw_stack_site_at(uintptr_t ra, uintptr_t frame)
{
    /* Only a stack known to stay mapped is cached: a hit re-reads words above the wrapper's frame, and on a
     * coroutine stack or an alternate signal stack, freed and reused, those words may be gone. */
    if (LW_UNLIKELY(!lw_self.stack_hi))
        learn_stack_bounds(frame);
    int cacheable = frame >= lw_self.stack_lo && frame < lw_self.stack_hi;
    lw_tcache_t *c = cacheable ? cache_get() : NULL;
    size_t ei = SIZE_MAX; /* the way a miss fills */

    uintptr_t key2 = 0;
    if (LW_LIKELY(c != NULL)) {
        /* The set of (return address, frame) first. A key that several stacks share (a compiler reaches its
         * allocator through thousands of paths, many at the same depth) becomes a redirect there once a second
         * stack of it is seen: its stacks then live in sets that also depend on the caller's return address, read
         * by the first frame's rule (in a small table that stays in the cache, or in frame-pointer mode the same
         * for every frame). */
        size_t set = set_of(c, ra, frame, 0), same = SIZE_MAX, other = SIZE_MAX;
        int redirect = 0;
        lw_centry_t *w = probe(c, set, ra, frame, &ei, &same, &redirect);
        if (redirect) {
            ei = SIZE_MAX;
            if ((key2 = second_key(frame, first_rule(ra))) == 0)
                c = NULL; /* the caller's word is out of reach this time: not cached */
        } else if (!w && same != SIZE_MAX && (key2 = second_key(frame, first_rule(ra))) != 0) {
            make_redirect(c, set, same, ra, frame);
        }
        if (key2) {
            set = set_of(c, ra, frame, key2);
            ei = SIZE_MAX;
            w = probe(c, set, ra, frame, &ei, &other, NULL);
        }
        if (w) {
            count_hit();
            if (LW_UNLIKELY(lw_config.verify))
                verify_site((lw_origin_t){ .ra = ra, .frame = frame }, w->site);
            return w->site;
        }
        /* no free way: replace one in turn */
        if (c && ei == SIZE_MAX)
            ei = victim_of(c, set);
    }
    return stack_site_miss(ra, frame, c, ei, key2, cacheable);
}
