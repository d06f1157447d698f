/* Declarations shared by the tracker's files and nothing outside tracker/: locks, the internal allocator,
 * per-thread state, stacks, call sites and the live-handle tables (the configuration is config.h). */
#ifndef LW_INTERNAL_H
#define LW_INTERNAL_H

#include "config.h"
#include "lw_tracker.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>
#include <sys/types.h>

#define LW_LIKELY(x) __builtin_expect(!!(x), 1)
#define LW_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LW_TLS __attribute__((tls_model("initial-exec"))) _Thread_local

#define LW_SAMPLES 5

/* ---- locks ---------------------------------------------------------------------------------------------- */

/* A test-and-test-and-set lock that yields the processor after a short spin. Four bytes, no allocation, safe to
 * take in pthread_atfork handlers. Never taken twice by one thread: the reentrancy guard sees to that. */
typedef struct {
    atomic_int held;
} lw_lock_t;

/* Waits for a held lock and takes it (util.c). */
void lw_lock_wait(lw_lock_t *l);

/* The lock this thread is taking the way a one-thread process does, from just after lw_lock finds the process
 * has one thread until its plain store (0 otherwise). A signal handler that makes the process's second thread in
 * between takes that lock on this thread's behalf (lw_thread_coming) and sets the low bit: a plain store after the
 * new thread had taken the lock would give it two holders. A handler never tries that lock (lw_trylock). */
extern LW_TLS uintptr_t lw_taking;

/* How many of leakwatch's locks this thread holds or is taking (counted from before the take to after the
 * release, so a handler never sees fewer than there are; not while it waits for one another thread holds,
 * lw_lock_wait). A signal handler that interrupted the tracker may wait for a lock only when it is 0, and then
 * only for a while (lw_lock_in_handler): the code it interrupted holds none of leakwatch's, but it may hold a lock
 * of the program's or of libc's that a forking thread, holding every lock of leakwatch's in its prepare handler,
 * waits for. */
extern LW_TLS int lw_locks_held;

/* lw_lock's way when a thread came between its two readings of the flag: the lock taken for this thread, or
 * taken with the exchange. */
void lw_lock_thread_came(lw_lock_t *l);

/* Every malloc and free takes a shard lock: the free case is one exchange, inline. The signal fences keep the
 * reentrancy guard's plain stores (lw_self.busy) outside the section the lock holds, as a call would: a signal
 * handler that finds the guard clear while this thread holds a lock would wait for it forever.
 * While the process has one thread (glibc's __libc_single_threaded, which its own malloc and libstdc++'s shared
 * pointers trust the same way: it turns false for good before a second thread starts) nothing but this thread
 * can hold the lock, and a plain store takes it: the exchange, a full barrier that waits for every store before
 * it, cost a few percent of a single-threaded program's time. A lock held while a thread is made (the dump
 * thread's start lock) is held in memory before the new thread runs, which takes it with the exchange; a signal
 * handler on this thread still sees it held (lw_trylock), and one that makes a thread while this one is between
 * the flag and the store takes the lock first (lw_taking). The flag is read again once lw_taking is set: a thread
 * made before that found no lock to take. */
static inline void lw_lock(lw_lock_t *l)
{
    lw_locks_held++;
    atomic_signal_fence(memory_order_seq_cst);
    if (LW_LIKELY(__libc_single_threaded)) {
        lw_taking = (uintptr_t)l;
        atomic_signal_fence(memory_order_seq_cst);
        if (LW_LIKELY(__libc_single_threaded)) {
            atomic_store_explicit(&l->held, 1, memory_order_relaxed);
            atomic_signal_fence(memory_order_seq_cst);
            lw_taking = 0;
            return;
        }
        lw_lock_thread_came(l);
        return;
    }
    if (LW_UNLIKELY(atomic_exchange_explicit(&l->held, 1, memory_order_acquire)))
        lw_lock_wait(l);
}

static inline void lw_unlock(lw_lock_t *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
    atomic_signal_fence(memory_order_seq_cst);
    lw_locks_held--;
}

/* Takes the lock if it is free; returns nonzero when it did. */
int lw_trylock(lw_lock_t *l);
/* For a signal handler that interrupted this thread inside the tracker while it held none of leakwatch's locks:
 * takes the lock, waiting a few milliseconds at most. Returns nonzero when it did; on zero the handler puts its
 * change off as when the interrupted code holds a lock. */
int lw_lock_in_handler(lw_lock_t *l);

/* ---- the standard error (util.c) ---------------------------------------------------------------------------- */

/* Notes which file descriptor 2 is at the library's start (lw_init). */
void lw_stderr_note(void);
/* Whether the library may write to fd, which is (or was borrowed from) descriptor 2: it is still the file noted
 * at the start, or a terminal. Not when the program closed its standard error and a file or socket of its own
 * took the number. */
int lw_stderr_usable(int fd);

/* ---- internal allocator (mem.c) -------------------------------------------------------------------------- */

/* Memory for the tracker's own tables, taken from mmap and never from the program's malloc. Returns zeroed
 * memory or NULL. lw_mem_free needs the size that was asked for. Thread-safe. */
void *lw_mem_alloc(size_t size);
void lw_mem_free(void *p, size_t size);
/* Copies the address ranges the allocator holds into lo/hi (at most cap); returns how many. */
size_t lw_mem_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap);
/* Held across fork so that the child never inherits a lock taken by a thread that does not exist there. */
void lw_mem_lock_all(void);
void lw_mem_unlock_all(void);
/* In a forked child, the *_forked functions release locks that only threads now gone could have held. */
void lw_mem_forked(void);
void lw_dump_forked(void);
void lw_dumper_forked(void);

/* ---- per-thread state (stack.c) ------------------------------------------------------------------------- */

typedef struct lw_tcache lw_tcache_t;

#define LW_DEFERRED_CLOSES 8
#define LW_DEFERRED_LOW 1024 /* descriptors below this go in a bitmap, any number of them */
#define LW_DEFERRED_UNMAPS 16

/* A range of addresses whose mapping records go once the interrupted call is done (mapping.c): those numbered
 * `seq` or below. hi is 0 in a free slot, LW_UNMAP_CLAIMED while a handler fills it in. */
typedef struct {
    uintptr_t lo;
    _Atomic uintptr_t hi;
    uint64_t seq;
} lw_unmapped_t;
#define LW_UNMAP_CLAIMED UINTPTR_MAX

/* A release of another kind (a timer, a thread, a FILE* or DIR*) whose record goes once the interrupted call is
 * done (table.c), if no record of that kind was added to its shard since (`puts`, the shard's count then). */
#define LW_DEFERRED_RELEASES 16
typedef struct {
    _Atomic int state; /* LW_SLOT_FREE, _CLAIMED (being written or read), _CALL (the call may still fail), _READY */
    uint8_t kind;
    uint32_t puts;
    uintptr_t handle;
} lw_released_t;
enum { LW_SLOT_FREE, LW_SLOT_CLAIMED, LW_SLOT_CALL, LW_SLOT_READY };

typedef struct {
    int busy;               /* inside the tracker: inner calls pass through untracked */
    int in_unwind;          /* inside libunwind on the tracker's behalf (see lw_signal_mask_elided) */
    lw_tcache_t *cache;     /* the thread's stack cache, allocated on first use */
    uintptr_t stack_lo;     /* bounds of the thread's stack for the frame-pointer walk, 0 until known */
    uintptr_t stack_hi;
    uint64_t sample_rng;    /* the thread's random state for sampling, 0 until seeded */
    /* Releases that a signal handler made while their records' lock was held (by the code it interrupted or by
     * another thread), left to the end of the interrupted call (lw_finish_deferred): */
    int pending;                               /* any of those below */
    void *deferred;                            /* heap blocks (lw_on_free), linked through their first words */
    uint64_t closed_low[LW_DEFERRED_LOW / 64]; /* descriptors closed, a bit each */
    uint64_t closed[LW_DEFERRED_CLOSES];       /* and those above: the number + 1, 0 for a free slot */
    lw_unmapped_t unmapped[LW_DEFERRED_UNMAPS]; /* ranges unmapped or mapped over */
    lw_released_t released[LW_DEFERRED_RELEASES]; /* handles of the other kinds */
    int own_thread; /* a thread of leakwatch's (the dump thread), inside the tracker for good */
} lw_thread_t;

extern LW_TLS lw_thread_t lw_self;

/* The reentrancy guard, with errno kept: lw_enter marks the calling thread as inside the tracker and returns what
 * lw_leave puts back, the guard as it was (a nested entry leaves it set) and errno. Every way into the tracker
 * (a hook, a signal handler, an atfork handler, a thread of the tracker's own) takes the pair. */
typedef struct {
    int busy;
    int err;
} lw_guard_t;

static inline lw_guard_t lw_enter(void)
{
    lw_guard_t g = { lw_self.busy, errno };
    lw_self.busy = 1;
    return g;
}

/* Carries out this thread's deferred releases (lw_self.pending): frees the blocks, forgets the descriptors that
 * are still closed, the other handles released and the mapping records of ranges unmapped. Runs outside the
 * tracker (lw_self.busy clear). */
void lw_finish_deferred(void);

static inline void lw_leave(lw_guard_t g)
{
    lw_self.busy = g.busy;
    atomic_signal_fence(memory_order_seq_cst); /* pending is read after the guard clears, not before */
    if (LW_UNLIKELY(lw_self.pending) && !g.busy)
        lw_finish_deferred();
    errno = g.err;
}

/* ---- time ------------------------------------------------------------------------------------------------ */

/* Milliseconds on a coarse monotonic clock since the process (or the forked child) started. */
uint32_t lw_now_ms(void);
extern uint64_t lw_start_ms;    /* CLOCK_MONOTONIC_COARSE at start, ms */

/* ---- stacks and call sites (stack.c, sites.c) ------------------------------------------------------------ */

/* Returns the call-site id of the stack whose first return address is `ra`, found in the wrapper's frame at
 * `frame` (interning it on first sight), or 0 when the stack could not be taken. Must run with lw_self.busy set. */
uint32_t lw_stack_site_at(uintptr_t ra, uintptr_t frame);

/* lw_stack_site_at of origin. The pair goes on as two scalars: gcc keeps a pair passed by value in memory and
 * loads it back as one 16-byte word, which stalls on the two 8-byte stores before it. */
static inline uint32_t lw_stack_site(lw_origin_t origin)
{
    return lw_stack_site_at(origin.ra, origin.frame);
}

/* Interns a stack of n return addresses; returns its id (1-based) or 0 when out of memory (counted in
 * lw_lost_sites). */
uint32_t lw_site_intern(const uintptr_t *frames, int n);
void lw_sites_lock_all(void);
void lw_sites_unlock_all(void);
void lw_sites_reset(void);
/* The distinct stacks interned so far. */
size_t lw_sites_count(void);
/* In a forked child: the parent's losses are the parent's (lw_tables_forked does the same for records). */
void lw_sites_forked(void);

/* What the tracker could not keep for want of memory, counted where it happened and written in every dump as
 * "lost": acquisitions that were not recorded (table.c) and stacks that could not be interned, so that a record
 * or a warning went without its frames (sites.c). */
extern atomic_ulong lw_lost_records;
extern atomic_ulong lw_lost_sites;

/* Stack-cache statistics, reported in every dump: `hits` are the stacks taken without a full unwind, `walks`
 * those of them walked by learned rules after a cache miss, `misses` the full unwinds. */
typedef struct {
    atomic_ulong hits, walks, misses, verified, mismatches;
} lw_stack_stats_t;
extern lw_stack_stats_t lw_stack_stats;
/* Adds the calling thread's hit and miss counts to lw_stack_stats (other threads add theirs as they go). */
void lw_stack_flush_counts(void);
/* Drops the calling thread's stack cache, whose entries name sites (lw_reset_for_tests empties the sites). */
void lw_stack_forget(void);
/* Around fork: wait for the unwinds in progress and hold new ones back; then let them go again. */
void lw_stack_block_unwinds(void);
void lw_stack_allow_unwinds(int in_child);
/* Around fork: wait for a dump being written (it walks the loaded objects too). */
void lw_dump_lock_for_fork(void);
void lw_dump_unlock_for_fork(void);
/* After a dump from the dump thread: waits, under the dump lock, for what the dump's scan left exiting. */
void lw_dump_settle(void);
/* Points libunwind's descriptor imports at a memory validation that holds no descriptor (unwind_io.c). Call it
 * before libunwind's first use. Returns 0, or -1 when it could not, and then libunwind must not be used. */
int lw_unwinder_io_init(void);
/* The file libunwind was loaded from, as the dynamic linker names it, or NULL: its imports are the tracker's. */
const char *lw_unwinder_path(void);
/* Nonzero when the byte at addr can be read; never faults, holds no descriptor (unwind_io.c). */
int lw_readable(const void *addr);
/* Learns the tracker's own code range, so that its frames are left out of stacks. */
void lw_stack_init(void);

/* ---- live-handle tables (table.c) ------------------------------------------------------------------------ */

/* One live record as the dump sees it. `size` is what lw_on_acquire_at was given, which means one of four things
 * by kind: the bytes of a heap block, the start routine's address of a thread, (clockid << 8) | sigev_notify of a
 * timer, and 0 for a descriptor or socket; in the dump's working copy a FILE* or DIR* carries its descriptor + 1
 * there instead (lw_stream_fd). */
typedef struct {
    uintptr_t handle;
    uint64_t size;
    uint32_t site;
    uint32_t born_ms;
    uint8_t kind;
    uint8_t flags;
    uint8_t inherited; /* acquired by the parent before fork: not this process's leak, but it may hold pointers */
} lw_live_t;

void lw_tables_lock_all(void);
void lw_tables_unlock_all(void);
/* In the scanning copy, once it has listed the records: gives back the copy's pages of the tables (records,
 * buckets, nurseries), which it reads no more, so that the copy's memory does not hold the tables and the
 * scan's arrays at once. The tables are empty afterwards; the process that forked the copy keeps its own. */
void lw_tables_drop_in_copy(void);
/* In the scanning copy, before it lists the records: forgets those of the deferred releases of the thread that
 * made the copy (made by a handler while the copy was being made). Not its mapping changes put off, which need
 * the ranges' lock and memory: the dump counts those as lost records (lw_maps_deferred). */
void lw_tables_forget_deferred(void);
/* Carries out the mapping-record removals this thread's handlers put off (lw_thread_t.unmapped), emptying the
 * slots. Outside the tracker (lw_self.busy clear). */
void lw_maps_finish_deferred(void);
/* How many of this thread's mapping changes are put off now. */
unsigned lw_maps_deferred(void);
/* Marks every record of the parent as inherited: after fork the child reports only what it acquired. */
void lw_tables_forked(void);
/* Calls fn with every record of this process, every shard locked for the whole walk (one moment's records). */
void lw_tables_walk(void (*fn)(const lw_live_t *rec, void *arg), void *arg);
/* The same, including the records inherited from the parent (marked `inherited`). */
void lw_tables_walk_all(void (*fn)(const lw_live_t *rec, void *arg), void *arg);
/* Calls fn with every record (inherited ones too) of the kinds in the mask `kinds` (1 << kind) other than the
 * heap, shard by shard, each shard locked in turn: for the descriptor events, which need no single moment and
 * must not hold up every thread for the heap's records. lw_tables_count_handles counts them (unlocked). */
void lw_tables_walk_handles(unsigned kinds, void (*fn)(const lw_live_t *rec, void *arg), void *arg);
size_t lw_tables_count_handles(unsigned kinds);
/* Calls fn with every record, the inherited ones included: the heap's first, in address order, then the other
 * kinds' in no order, every shard locked. Returns 0, or -1 without memory to order them (nothing is visited). */
int lw_tables_walk_by_address(void (*fn)(const lw_live_t *rec, void *arg), void *arg);
size_t lw_tables_total(void);
/* Records of every generation, the inherited ones included (unlocked: an estimate for sizing). */
size_t lw_tables_total_all(void);
void lw_tables_reset(void);
/* Records handle with a stack already interned and the given birth and flags, replacing a live record of it
 * (mapping.c: a piece of a split range keeps its mmap's stack); lw_table_drop forgets one. Both take the shard
 * lock itself (never nested in a handler) and must run with the guard set. */
void lw_table_put(lw_kind_t kind, uintptr_t handle, uint64_t size, uint32_t site, uint32_t born_ms, unsigned flags);
int lw_table_drop(lw_kind_t kind, uintptr_t handle);

/* ---- sampling (sample.c) ----------------------------------------------------------------------------------- */

/* With LEAKWATCH_SAMPLE=R, heap blocks are recorded as the points of a Poisson process over the bytes a thread
 * allocates, one every R bytes on average: a block of n bytes is recorded with probability 1 - exp(-n/R) (a block
 * of 0 bytes counts as 1), so large blocks nearly always are. Unbiased estimates weigh each recorded block by
 * the inverse of that probability. */

/* The countdown (lw_sample_left) and its test are the boundary's (lw_sample_count), inline in the wrappers. */

/* The next gap between sampled bytes, drawn for the calling thread (exponential, mean lw_sample_mean). */
int64_t lw_sample_gap(void);
/* How many blocks one recorded heap block of `size` bytes stands for: 1 without sampling. */
double lw_sample_weight(uint64_t size);
/* Whether the block at which the calling thread's countdown ran out (lw_sample_count gave LW_SAMPLE_CROSSED) is
 * recorded, with the countdown set to the next gap. Sampling must be on. */
int lw_sample_crossed(void);

/* ---- the dump's working copy (dump.c, reach.c) ----------------------------------------------------------- */

/* One live record as the dump sorts and the reachability scan reads it: 24 bytes, sorted in place, so that the
 * copy of a million records costs 24 MB. `meta` holds the size (heap bytes, or the detail value of the other
 * kinds) in its low 48 bits, the record's flags in the next 8 and LW_ENTRY_INHERITED above (not the layout of
 * a table record's `meta` in table.c, which keeps the fork generation where this keeps the flags). */
typedef struct {
    uint64_t handle;
    uint64_t meta;
    uint64_t key;
} lw_entry_t;

#define LW_ENTRY_SIZE_MASK ((1ull << 48) - 1)
#define LW_ENTRY_SIZE(e) ((e)->meta & LW_ENTRY_SIZE_MASK)
#define LW_ENTRY_FLAGS(e) ((uint8_t)((e)->meta >> 48))
#define LW_ENTRY_INHERITED (1ull << 56) /* a parent's block, kept only as a path for the scan */
/* The record's kind, which the dump keeps in the top 3 bits of `key` (dump.c). */
#define LW_ENTRY_KIND(e) ((uint32_t)((e)->key >> 61))

/* ---- reachability (reach.c) ------------------------------------------------------------------------------- */

#define LW_CLASS_NONE 0
#define LW_CLASS_DEFINITE 1
#define LW_CLASS_INDIRECT 2
#define LW_CLASS_REACHABLE 3

/* Classifies n live heap blocks (handle and size of each entry), given sorted by address, the way LeakSanitizer does: reachable from the
 * roots (writable data of every module, thread stacks, TLS and other memory the program mapped itself), else
 * indirect when another lost block points to it, else definite. Interior pointers count. The scan runs in a
 * forked copy of the process, so threads that keep running cannot change memory under it. Returns 0 with cls
 * filled, or an errno value (cls then untouched). */
int lw_reach_classify(const lw_entry_t *blocks, size_t n, uint8_t *cls);

/* A list of live records taken for a dump: room for cap entries in v; n listed, the first nheap of them heap
 * blocks sorted by address; dropped, the records left out for want of room. send and receive, both or neither:
 * what the scanning copy sends back instead of the entries and their classes (lw_reach_snapshot), so that a
 * caller that needs only what they sum to does not copy millions of them: the copy calls send with its listing
 * (the heap entries' keys carrying their classes in bits 59-60) once the graph is sent (lw_links_t), to write to
 * fd, and the caller's process reads that with receive; each returns 0, or -1 when it could not. */
typedef struct lw_listing {
    lw_entry_t *v;
    size_t cap, n, nheap, dropped;
    int (*send)(void *arg, struct lw_listing *l, int fd);
    int (*receive)(void *arg, int fd);
    void *hook_arg;
} lw_listing_t;

/* Fills in a listing from the live tables (lw_tables_walk_by_address or lw_tables_walk_all may be called). Runs in
 * the scanning copy: it must not allocate (but with lw_sys_mmap) or take a lock other than the tables'. */
typedef void (*lw_list_fn)(lw_listing_t *l, void *arg);

/* What a root word that reached a block was part of (lw_root_t). */
#define LW_ROOT_GLOBAL 0    /* a writable segment of a loaded object: a global or static variable */
#define LW_ROOT_STACK 1     /* a thread's stack, from its stack pointer up to its thread-local storage */
#define LW_ROOT_REGISTERS 2 /* the registers of a thread the scan stopped */
#define LW_ROOT_MEMORY 3    /* other memory the program mapped itself */
#define LW_ROOT_TLS 4       /* a thread's thread-local storage: static TLS blocks and its control block (tls.h) */
#define LW_ROOT_HEAP 5      /* with sampling: the malloc heap outside the sampled blocks (the blocks not sampled) */

/* A root word through which the scan reached a block first: its address, what kind of memory it lies in, the
 * block, and in `frame`: for a stack the nearest code address below the word (a return address into the function
 * of its frame, most likely), for thread-local storage the thread pointer of its thread. */
typedef struct {
    uint64_t addr;
    uint64_t frame;
    uint32_t kind;
    uint32_t block;
} lw_root_t;

/* The graph the scan walked, per heap block i of the listing (lw_reach_snapshot):
 * - a reachable block: link[i] is the block whose scan reached it first, or LW_LINK_ROOT | r for roots[r];
 *   order[0, norder) lists the reachable blocks in the order reached, breadth first, so every block comes after
 *   the one its link names and the links give a shortest way from the roots;
 * - a lost block of this process: link[i] is the block its group is named after: the definite block whose flood
 *   reached it first (the definite blocks flood in address order, each taking only what no earlier one took; a
 *   definite block names itself), or, for a lost block no definite block reaches (a cycle, and what hangs below
 *   it), the first such block by address that starts its group; a lost block of the parent (inherited) has
 *   LW_LINK_NONE.
 * The caller gives link, order and work room for l->cap entries each, roots room for l->cap records. */
#define LW_LINK_ROOT 0x80000000u
#define LW_LINK_NONE 0xffffffffu
typedef struct lw_links {
    uint32_t *link;
    uint32_t *order;
    size_t norder;
    lw_root_t *roots;
    size_t nroots;
    uint32_t *work; /* the scan's own */
    /* What becomes of the graph: the copy calls in_copy with its listing (the heap entries [0, nheap), their
     * keys carrying their classes) and the graph filled in, to turn it into what the caller keeps and write
     * that to fd (returns 0, or -1 when it could not write); the caller's process then reads it with in_parent
     * (returns 0 or -1). The graph itself never leaves the copy. */
    int (*in_copy)(void *arg, const lw_entry_t *v, size_t nheap, const uint8_t *cls, struct lw_links *links,
                   int fd);
    int (*in_parent)(void *arg, int fd);
    void *arg;
} lw_links_t;

/* Lists the live records with list() and classifies the heap blocks among them at one and the same moment: both
 * happen in a forked copy made while every table lock is held, so a block freed by a thread that keeps running is
 * either gone from the list or still live in the memory scanned. Fills l (v, n, nheap, dropped) and cls[0, nheap)
 * (cls has room for l->cap classes; with l->send, l's counts only, and receive gets the rest), and the scan's
 * graph into links unless it is NULL. Returns 0, or an errno
 * value with l->n 0: nothing listed, nothing classified. Call it with the reentrancy guard set and no table lock
 * held. */
int lw_reach_snapshot(lw_listing_t *l, lw_list_fn list, void *arg, uint8_t *cls, lw_links_t *links);
/* Waits for the scanning copy of the last snapshot if it was still exiting when it had answered, so that no dead
 * copy stays a child of the process (ps would show it) until the next snapshot. Caller holds the dump lock. */
void lw_reach_reap(void);

/* The listing of a dump's scan (dump.c): every record, the inherited ones too, the heap first by address. */
void lw_dump_list(lw_listing_t *l, void *arg);

/* ---- what the program declared (api.c), read by the scan in its copy ---------------------------------------- */

/* Flags every acquisition of the calling thread gets (LW_FLAG_IGNORED inside a disabled region). */
extern LW_TLS unsigned lw_acquire_flags;
/* Flags with LW_FLAG_POOL_BLOCK | LW_FLAG_IGNORED every heap block of v[0, nheap) (sorted by address) that holds
 * objects of a pool: it is neither scanned nor reported, the objects in it are classified on their own. */
void lw_api_mark_pool_blocks(lw_entry_t *v, size_t nheap);
/* Seeds the scan of n blocks: an ignored block is reachable and pushed on stack for the flood fill, a pool's
 * block reachable and never scanned. Returns how many were pushed. */
size_t lw_api_seed(const lw_entry_t *b, size_t n, uint8_t *cls, uint32_t *stack);
/* Steps through the spans of consecutive pool objects among b[0, n) from *i on: 1 with [lo, hi) set, 0 at the
 * end. Those spans are no roots (an arena the program mapped would make all its objects reachable). */
int lw_api_pool_span(const lw_entry_t *b, size_t n, size_t *i, uintptr_t *lo, uintptr_t *hi);
/* The i-th root region the program registered: 1 with [lo, hi) set, 0 past the last. Lock-free, for the copy. */
int lw_api_root_region(size_t i, uintptr_t *lo, uintptr_t *hi);

/* ---- describing handles (describe.c) ---------------------------------------------------------------------- */

/* What a non-heap handle refers to, read from /proc and the handle itself when the dump is written: values, no
 * sentences (the report writes those). Every member is a NUL-terminated string, "" when not known or not of
 * this kind. */
typedef struct {
    char target[256];   /* fd kinds: what /proc names the descriptor (a path, pipe:[N], anon_inode:[eventfd]);
                         * a socket that is no socket any more: the same */
    char stream[8];     /* "FILE" or "DIR" for a stream */
    char fd[16];        /* a stream's descriptor number */
    char family[24];    /* socket: AF_INET, AF_UNIX... or the number */
    char type[24];      /* socket: SOCK_STREAM... or the number */
    char local[128];    /* socket: its own address: 127.0.0.1:5432, [::1]:80, a path, @abstract, (unnamed) */
    char peer[128];     /* socket: the peer's address, "" when not connected */
    char listening[8];  /* socket: "true" or "false" */
    char start[24];     /* thread: the start routine's address, 0x... */
    char state[12];     /* thread: "running" or "finished" */
    char clock[32];     /* timer: CLOCK_MONOTONIC... or the number (cpu-clock -N for a process or thread clock) */
    char notify[24];    /* timer: SIGEV_SIGNAL... or the number */
    char prot[8];       /* mmap: "rw-", "r-x", "---" */
    char sharing[12];   /* mmap: "private" or "shared" */
    char backing[16];   /* mmap: "anon", "file", "sysv" (an shmat attachment), "shm" (a POSIX shm object),
                         * "sysv-segment"; the path or name is in target */
} lw_desc_t;

/* Describes rec into *d. `rec->size` is the value recorded as size (see lw_stream_fd for streams). Runs while the
 * dump is written: no malloc, no locks of the program's. */
void lw_describe(const lw_live_t *rec, lw_desc_t *d);
/* The values of an mmap-kind record (mapping.c); fields left "" when the record is unknown there. */
void lw_mapping_describe(uintptr_t handle, lw_desc_t *d);
/* The ranges recorded now, sorted (at most cap); for tests. */
size_t lw_mapping_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap);
/* Held across fork (taken before the tables' locks, as every path takes them). */
void lw_mappings_lock(void);
void lw_mappings_unlock(void);
void lw_mappings_reset(void);

/* For a FILE* or DIR* record, its descriptor + 1 (0 when unknown), to be stored as the record's size for
 * lw_describe; any other record's size as it is. Call it only while the record's shard is locked: the stream
 * cannot be closed then, since closing it releases the record first. */
uint64_t lw_stream_fd(const lw_live_t *rec);

/* ---- process state (init.c) and dumps (dump.c, dumpfile.c) ----------------------------------------------- */

/* Keeps a copy of the environment as the library starts in the process (life.c), for the report at exit; runs
 * from lw_init and again from the library's constructor (a no-op once taken). lw_start_tmpdir is its TMPDIR (else
 * the one of the moment, else /tmp): where dumps go without LEAKWATCH_DUMP_DIR. */
void lw_note_environment(void);
const char *lw_start_tmpdir(void);

extern pid_t lw_pid;
extern int lw_exit_status;          /* -1 until seen */
extern uintptr_t lw_exit_frame;     /* see lw_note_exit_frame; 0 until known */
extern atomic_uint lw_dump_seq;     /* the number of the last dump of this process image (dumpfile.c), 0 before */

/* Dumps across a change of user (cred.c). lw_cred_prepare runs before a setuid-family call that leaves the
 * effective uid new_euid ((uid_t)-1: unchanged): a privileged process then prepares <dump dir>/uid-<new_euid>,
 * owned by that user, mode 0700, and makes the dump directory searchable (0711). lw_dump_dir_for_user returns the
 * directory this process writes its dumps into: dir itself when the process's user owns it (or is root), else
 * that user's directory inside it when it was prepared (copied into buf, of size cap). */
const char *lw_dump_dir_for_user(const char *dir, char *buf, size_t cap);

/* Writes a whole dump into fd (dump.c; dumpfile.c gives it the file). Returns 0 or an errno value. */
int lw_dump_write_fd(int fd, const char *reason, unsigned seq);

/* Writes the next numbered dump, leakwatch.<pid>.<seq>.json, into dir, or into the private directory
 * leakwatch-<euid> in it when dir is shared like /tmp (sticky, writable by others); a number whose file exists is
 * skipped. The file is 0600, created exclusively, and has its name only once complete. The path goes into
 * path_out (size cap), also when the dump fails. Returns 0 or an errno. */
int lw_dump_next(const char *dir, const char *reason, char *path_out, size_t cap);

/* The exec'd image keeps the pid: starts this image's dump numbers after the dumps already in the dump directory
 * for this pid, so that an "exec" dump of the previous image is not replaced. Called once at initialisation. */
void lw_dump_seq_resume(void);

/* Starts the thread that writes dumps on LEAKWATCH_DUMP_SIGNAL and every LEAKWATCH_DUMP_INTERVAL seconds, once
 * per process (a forked child starts its own lazily: lw_dumper_wanted). Does nothing when neither is set. */
void lw_dumper_start(void);
/* Nonzero when there is something to do at the next tracked acquisition, outside the tracker: a forked child's
 * dump thread to start, LW_DUMPER_AT_ALLOC at its next heap allocation (an interval is set), LW_DUMPER_AT_ANY at
 * its next acquisition of any kind (the dump signal came); LW_DUMPER_TAKEOVER, the warning that the program reset
 * the dump signal's disposition (an exec before it makes it moot). lw_dumper_start_wanted, given the kind being
 * acquired, does what is due. Call it only from outside the tracker (the guard not set). */
#define LW_DUMPER_AT_ALLOC 1
#define LW_DUMPER_AT_ANY 2
#define LW_DUMPER_TAKEOVER 4
extern atomic_int lw_dumper_wanted;
void lw_dumper_start_wanted(lw_kind_t kind);
/* ---- attaching to a running process (attach.c) ---- */

/* Nonzero when the library is being loaded into a running process by `leakwatch attach` (LEAKWATCH_ATTACH set
 * in the process's environment for the load). */
int lw_attaching(void);
/* When attaching: rebinds every module's calls to the interposed functions to the library's wrappers and records
 * the time in lw_attached_unix_ms (0 for a process that started under the library). Call it once the tracker is
 * initialised. */
void lw_attach_bind(void);
extern uint64_t lw_attached_unix_ms;

/* How many threads of this process are leakwatch's own (0 or 1). */
int lw_dumper_threads(void);

/* Small helpers that neither allocate nor touch stdio. lw_read_file reads up to cap bytes of a file (a /proc file,
 * say) and returns how many, or -1 when it cannot be opened. */
ssize_t lw_read_file(const char *path, char *buf, size_t cap);
size_t lw_strlcpy(char *dst, const char *src, size_t cap);
char *lw_fmt_u64(char *p, uint64_t v);
char *lw_fmt_hex(char *p, uint64_t v);

#endif
