/* Reachability at exit, as LeakSanitizer and valgrind define it: a conservative scan of the program's roots for
 * words that point into live heap blocks, a breadth-first flood through the blocks reached, and a pass over the
 * rest that tells blocks only other lost blocks point to (indirect) from those nothing points to (definite); on
 * request it keeps the graph it walked (lw_links_t): who reached each block first, and whose each lost block is. */
#include "allocator.h"
#include "internal.h"
#include "arch.h"
#include "sys.h"
#include "tls.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/resource.h>
#include <sys/user.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uintptr_t lo, hi;
} range_t;


typedef struct {
    const lw_entry_t *b; /* the blocks, sorted by address */
    size_t n;
    uintptr_t min, max; /* the span of all blocks */
    uint8_t *cls;
    uint32_t *stack; /* every block reached, in the order reached; [head, top) not yet scanned */
    size_t head, top;
    /* With links (lw_links_t): who reached each block, the roots that did, and what the root scan is reading. */
    uint32_t *link;
    lw_root_t *roots;
    size_t nroots;
    uint32_t root_kind;
    uintptr_t root_lo; /* the start of the mapping scanned, where a stack root's frame is looked for */
    uintptr_t root_tp; /* the thread pointer of the thread-local storage scanned */
    const void *vmas;  /* the memory map (vma_t), for that frame */
    size_t nv;
    /* The blocks ranked by granule (block_index_t), NULL when there was no memory for it: then find_block
     * searches the whole array. */
    const struct block_index *ix;
    /* The flood's lookups under way (flood): taken in, their spots fetched, settled; counts since the start. */
    size_t q_in, q_mid, q_out;
} scan_t;

static uint64_t frame_below(const scan_t *s, uintptr_t a);

/* ---- finding the block a word points into -------------------------------------------------------------------- */

/* A run of blocks whose starts lie at most RUN_GAP granules apart (a granule: 1 << shift bytes), all less than
 * RUN_SPAN bytes above the start of its first granule. */
typedef struct {
    uint64_t lo_g, last_g; /* the granules of its first and last block's start */
    uint32_t tab;          /* where its granules begin in block_index_t's rank */
    uint32_t first, last;  /* its first and last block */
} run_t;

#define RUN_GAP 64
#define RUN_SPAN (1ull << 32)

/* A block as find_block reads it: where it starts, as an offset from the start of its run's first granule, and
 * its size (LEN_FAR for 4 GiB or more: the listing has it then). Eight bytes, a third of a listing entry, so that
 * the lookups' cache misses fall on a third of the memory. */
typedef struct {
    uint32_t off, len;
} spot_t;

#define LEN_FAR UINT32_MAX

/* The blocks by address, ranked per granule: for each run, rank[tab + j] is the first block that starts at or
 * above granule lo_g + j (rank[tab + last_g - lo_g + 1] the block after the run), so that the last block
 * starting at or below a word is found with a search of the few runs, one load from the rank and a step or two
 * among the spots of one granule, instead of a binary search of millions of entries, each step a cache miss.
 * Built in the scanning copy from memory it maps itself. */
typedef struct block_index {
    run_t *run;
    size_t nrun;
    uint32_t *rank;
    spot_t *spot; /* of each block */
    unsigned shift;
    size_t bytes; /* of the mapping that holds all three */
    /* One bit for each MiB of addresses from the first block's on: whether a block lies in it, MAP_FAILED when
     * there was no memory for it. Most words in [min, max) that point nowhere near a block fail here with one
     * load: a compiler's roots are its own collected heap, which lies between its malloc heaps. */
    uint64_t *region;
    uint64_t region0;
    size_t region_bytes;
    /* One bit for each 4 KiB page a block covers, the page numbers folded into 1 << page_bits bits (MAP_FAILED
     * when there was no memory for it): a word that passes the regions and points into no page of a block fails
     * here. Under sampling the recorded blocks are a few hundred in a heap of megabytes, which the scan reads
     * as a root: nearly every word of it lies in a MiB that holds a block, and nearly none in a page that does. */
    uint64_t *page;
    unsigned page_bits;
    size_t page_bytes;
} block_index_t;

#define REGION_SHIFT 20
#define REGION_MAX_BITS (1ull << 28) /* 32 MiB of bitmap, for blocks spread over 256 TiB */

#define PAGE_SHIFT 12
#define PAGE_BITS_MIN 15
#define PAGE_BITS_MAX 24 /* 2 MiB of bits */

/* The bit of page number pg: neighbouring pages take neighbouring bits, so that the words of one stretch of memory
 * that point near each other read one line of the bits; higher pages fold onto them. */
static inline uint64_t page_slot(const block_index_t *x, uint64_t pg)
{
    return (pg ^ (pg >> x->page_bits)) & ((1ull << x->page_bits) - 1);
}

/* Whether v may point into a block: it lies in a MiB and in a page that a block covers. */
static inline int in_region(const block_index_t *x, uintptr_t v)
{
    if (x->region != MAP_FAILED) {
        uint64_t r = (v >> REGION_SHIFT) - x->region0;
        if (!((x->region[r >> 6] >> (r & 63)) & 1))
            return 0;
    }
    if (x->page == MAP_FAILED)
        return 1;
    uint64_t b = page_slot(x, v >> PAGE_SHIFT);
    return (int)((x->page[b >> 6] >> (b & 63)) & 1);
}

/* Maps and fills in x's page bits for b[0, n) (sorted by address, so that each page is counted once): sized at 16
 * bits or more a page covered, within PAGE_BITS_MIN and PAGE_BITS_MAX. */
static void index_pages(block_index_t *x, const lw_entry_t *b, size_t n)
{
    x->page = MAP_FAILED;
    uint64_t pages = 0, last = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t len = LW_ENTRY_SIZE(&b[i]) ? LW_ENTRY_SIZE(&b[i]) : 1;
        uint64_t lo = b[i].handle >> PAGE_SHIFT, hi = (b[i].handle + len - 1) >> PAGE_SHIFT;
        if (any && lo <= last)
            lo = last + 1;
        if (lo <= hi) {
            pages += hi - lo + 1;
            last = hi;
            any = 1;
        }
    }
    unsigned bits = PAGE_BITS_MIN;
    while (bits < PAGE_BITS_MAX && (1ull << bits) < pages * 16)
        bits++;
    x->page_bits = bits;
    x->page_bytes = ((1ull << bits) / 8 + 4095) & ~(size_t)4095;
    x->page = lw_sys_mmap(NULL, x->page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x->page == MAP_FAILED)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t len = LW_ENTRY_SIZE(&b[i]) ? LW_ENTRY_SIZE(&b[i]) : 1;
        uint64_t lo = b[i].handle >> PAGE_SHIFT, hi = (b[i].handle + len - 1) >> PAGE_SHIFT;
        if (hi - lo >= (1ull << bits)) {
            /* a block of more pages than there are bits (64 GiB at the most bits): no filter is worth its pass */
            lw_sys_munmap(x->page, x->page_bytes);
            x->page = MAP_FAILED;
            return;
        }
        for (uint64_t pg = lo; pg <= hi; pg++) {
            uint64_t slot = page_slot(x, pg);
            x->page[slot >> 6] |= 1ull << (slot & 63);
        }
    }
}

/* Maps and fills in x's region bitmap for b[0, n) (sorted by address), whose highest block ends at `last`. Only the
 * pages that hold a set bit are touched; the others read as zero. */
static void index_regions(block_index_t *x, const lw_entry_t *b, size_t n, uint64_t last)
{
    x->region0 = b[0].handle >> REGION_SHIFT;
    uint64_t bits = ((last - 1) >> REGION_SHIFT) - x->region0 + 1;
    x->region = MAP_FAILED;
    if (bits > REGION_MAX_BITS)
        return;
    x->region_bytes = ((bits + 63) / 64 * 8 + 4095) & ~(size_t)4095;
    x->region = lw_sys_mmap(NULL, x->region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (x->region == MAP_FAILED)
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t len = LW_ENTRY_SIZE(&b[i]) ? LW_ENTRY_SIZE(&b[i]) : 1;
        uint64_t r = (b[i].handle >> REGION_SHIFT) - x->region0, r_end = ((b[i].handle + len - 1) >> REGION_SHIFT) -
                                                                         x->region0;
        for (; r <= r_end; r++)
            x->region[r >> 6] |= 1ull << (r & 63);
    }
}

/* Whether the block starting at granule g (the start h) begins a new run after the run [lo_g, last_g]. */
static int starts_run(uint64_t g, uintptr_t h, uint64_t lo_g, uint64_t last_g, unsigned shift)
{
    return g - last_g > RUN_GAP || h - ((uintptr_t)lo_g << shift) >= RUN_SPAN;
}

/* The runs and rank entries b[0, n) (sorted by address) takes with granules of 1 << shift bytes. */
static void count_runs(const lw_entry_t *b, size_t n, unsigned shift, size_t *nrun, size_t *nrank)
{
    *nrun = *nrank = 0;
    uint64_t lo = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = b[i].handle >> shift;
        if (i == 0 || starts_run(g, b[i].handle, lo, last, shift)) {
            if (i)
                *nrank += last - lo + 2;
            ++*nrun;
            lo = g;
        }
        last = g;
    }
    *nrank += last - lo + 2;
}

/* Maps and fills in the index of b[0, n) (sorted by address, n at least 1, the highest block ending at `last`): the
 * smallest granule of 1 << INDEX_MIN_SHIFT bytes or more whose rank takes at most an entry a block. Returns 0, or -1
 * without memory for it. */
#define INDEX_MIN_SHIFT 8
static int index_blocks(block_index_t *x, const lw_entry_t *b, size_t n, uint64_t last)
{
    unsigned shift = INDEX_MIN_SHIFT;
    size_t nrun, nrank;
    for (;; shift++) {
        count_runs(b, n, shift, &nrun, &nrank);
        if (nrank <= n + 1024 || shift == 40)
            break;
    }
    if (nrank > UINT32_MAX || n > UINT32_MAX)
        return -1;
    size_t bytes = (nrun * sizeof(run_t) + n * sizeof(spot_t) + nrank * sizeof(uint32_t) + 4095) & ~(size_t)4095;
    void *m = lw_sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    *x = (block_index_t){ .run = m, .spot = (spot_t *)((run_t *)m + nrun), .shift = shift, .bytes = bytes };
    x->rank = (uint32_t *)(x->spot + n);
    size_t at = 0;
    run_t *r = NULL;
    for (size_t i = 0; i < n; i++) {
        uintptr_t h = b[i].handle;
        uint64_t g = h >> shift;
        if (!r || starts_run(g, h, r->lo_g, r->last_g, shift)) {
            if (r)
                x->rank[at++] = (uint32_t)i; /* the block after the run */
            r = &x->run[x->nrun++];
            *r = (run_t){ .lo_g = g, .last_g = g, .tab = (uint32_t)at, .first = (uint32_t)i };
        }
        /* the granules up to this block's rank it */
        while (at - r->tab <= g - r->lo_g)
            x->rank[at++] = (uint32_t)i;
        r->last_g = g;
        r->last = (uint32_t)i;
        uint64_t len = LW_ENTRY_SIZE(&b[i]);
        x->spot[i] = (spot_t){ (uint32_t)(h - ((uintptr_t)r->lo_g << shift)), len >= LEN_FAR ? LEN_FAR : (uint32_t)len };
    }
    x->rank[at++] = (uint32_t)n;
    index_regions(x, b, n, last);
    index_pages(x, b, n);
    return 0;
}

/* The index of the last block of b[lo, hi) that starts at or below v; b[lo] does. */
static size_t last_at_or_below(const lw_entry_t *b, size_t lo, size_t hi, uintptr_t v)
{
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b[mid].handle <= v)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Whether v points into the block of len bytes at start. A pointer to the first byte past a block does not
 * count; a zero-sized block is pointed to only by its start. */
static inline int points_into(uintptr_t v, uintptr_t start, uint64_t len)
{
    if (v == start)
        return 1;
    if (v < start || v - start >= len)
        return 0;
    /* glibc lends the last word of a block to the next chunk's header, and its arena and bins point at such
     * headers: a pointer to the next chunk's header is not a pointer into this block. */
    uintptr_t chunk = (len + sizeof(size_t) + 15) & ~(uintptr_t)15;
    if (chunk < 32)
        chunk = 32;
    return v != start - 2 * sizeof(size_t) + chunk;
}

static ptrdiff_t listed_block(const scan_t *s, size_t i, uintptr_t v)
{
    return points_into(v, s->b[i].handle, LW_ENTRY_SIZE(&s->b[i])) ? (ptrdiff_t)i : -1;
}

/* The run the granule g falls in or after (g at least the first run's first granule). */
static inline const run_t *run_of(const block_index_t *x, uint64_t g)
{
    size_t lo = 0, hi = x->nrun;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->run[mid].lo_g <= g)
            lo = mid;
        else
            hi = mid;
    }
    return &x->run[lo];
}

/* A lookup of find_block in three steps, so that the flood can have many under way at once (flood): where v's
 * rank entry lies, then which spots it names, then the block. Each step loads what the step before prefetched. */
typedef struct {
    uintptr_t v;
    const run_t *r;
    const uint32_t *rk; /* the granule's rank entry, NULL when v lies past the run's last block start */
    uint32_t first, end; /* the spots of the blocks starting in the granule */
    uint32_t from;      /* the block the word was read from */
} lookup_t;

static inline void lookup_rank(const block_index_t *x, lookup_t *q)
{
    uint64_t g = q->v >> x->shift;
    q->r = run_of(x, g);
    if (g > q->r->last_g) {
        q->rk = NULL; /* between runs */
        __builtin_prefetch(&x->spot[q->r->last]);
    } else {
        q->rk = &x->rank[q->r->tab + (g - q->r->lo_g)];
        __builtin_prefetch(q->rk);
    }
}

static inline void lookup_spots(const block_index_t *x, lookup_t *q)
{
    if (!q->rk)
        return;
    q->first = q->rk[0];
    q->end = q->rk[1];
    __builtin_prefetch(&x->spot[q->first]);
}

/* The block v points into, or -1, v within [min, max). */
static inline ptrdiff_t lookup_block(const scan_t *s, const block_index_t *x, const lookup_t *q)
{
    const run_t *r = q->r;
    uintptr_t v = q->v, base = (uintptr_t)r->lo_g << x->shift;
    size_t i;
    if (!q->rk) {
        i = r->last;
    } else {
        size_t first = q->first, end = q->end;
        uint64_t off = v - base;
        if (first == end || off < x->spot[first].off) {
            /* none starts in the granule at or below v: the one before, of an earlier run when first is this
             * run's first */
            if (first == r->first)
                return first ? listed_block(s, first - 1, v) : -1;
            i = first - 1;
        } else {
            i = first;
            if (end - first > 8) {
                size_t hi = end;
                while (hi - i > 1) {
                    size_t mid = i + (hi - i) / 2;
                    if (x->spot[mid].off <= off)
                        i = mid;
                    else
                        hi = mid;
                }
            } else {
                while (i + 1 < end && x->spot[i + 1].off <= off)
                    i++;
            }
        }
    }
    spot_t sp = x->spot[i];
    uint64_t len = sp.len == LEN_FAR ? LW_ENTRY_SIZE(&s->b[i]) : sp.len;
    return points_into(v, base + sp.off, len) ? (ptrdiff_t)i : -1;
}

static inline ptrdiff_t find_indexed(const scan_t *s, const block_index_t *x, uintptr_t v)
{
    lookup_t q = { .v = v };
    lookup_rank(x, &q);
    lookup_spots(x, &q);
    return lookup_block(s, x, &q);
}

/* Index of the block containing address v, or -1 (points_into says what counts). */
static ptrdiff_t find_block(const scan_t *s, uintptr_t v)
{
    if (v < s->min || v >= s->max)
        return -1;
    if (s->ix)
        return in_region(s->ix, v) ? find_indexed(s, s->ix, v) : -1;
    return listed_block(s, last_at_or_below(s->b, 0, s->n, v), v);
}

/* The scan reads memory it does not own (redzones and all, in a sanitizer build of the tests). */
#define LW_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

/* Records that the root word at a points to block i; returns the link that names the record. */
static uint32_t add_root(scan_t *s, uintptr_t a, uint32_t i)
{
    lw_root_t *r = &s->roots[s->nroots];
    r->addr = a;
    r->kind = s->root_kind;
    r->block = i;
    r->frame = s->root_kind == LW_ROOT_STACK ? frame_below(s, a) : s->root_kind == LW_ROOT_TLS ? s->root_tp : 0;
    return LW_LINK_ROOT | (uint32_t)s->nroots++;
}

/* One word at a that holds v, a heap address (in [min, max)). */
LW_NO_SANITIZE static inline void scan_word(scan_t *s, uintptr_t a, uintptr_t v, uint8_t mark_as, ptrdiff_t self)
{
    ptrdiff_t i = find_block(s, v);
    if (i < 0 || i == self)
        return;
    if (mark_as == LW_CLASS_REACHABLE) {
        if (s->cls[i] != LW_CLASS_REACHABLE) {
            s->cls[i] = LW_CLASS_REACHABLE;
            s->stack[s->top++] = (uint32_t)i;
            if (s->link)
                s->link[i] = self >= 0 ? (uint32_t)self : add_root(s, a, (uint32_t)i);
        }
    } else if (s->cls[i] == LW_CLASS_DEFINITE) {
        s->cls[i] = LW_CLASS_INDIRECT;
    }
}

/* Most words of a root hold no heap address (a compiler's roots are mostly its own collected heap): eight words
 * are tested at once without a branch, and only a group that holds a candidate is looked at word by word, so that
 * a branch the processor cannot predict is taken once a group instead of once a word. */
#define SCAN_GROUP 8

LW_NO_SANITIZE static void scan_words(scan_t *s, uintptr_t lo, uintptr_t hi, uint8_t mark_as, ptrdiff_t self)
{
    const uintptr_t min = s->min, span = s->max - s->min; /* v in [min, max): v - min < span */
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    uintptr_t a = lo;
    for (; hi >= SCAN_GROUP * sizeof(uintptr_t) && a <= hi - SCAN_GROUP * sizeof(uintptr_t);
         a += SCAN_GROUP * sizeof(uintptr_t)) {
        const uintptr_t *w = (const uintptr_t *)a;
        unsigned any = 0;
        for (int k = 0; k < SCAN_GROUP; k++)
            any |= w[k] - min < span;
        if (LW_LIKELY(!any))
            continue;
        for (int k = 0; k < SCAN_GROUP; k++)
            if (w[k] - min < span)
                scan_word(s, a + (uintptr_t)k * sizeof(uintptr_t), w[k], mark_as, self);
    }
    for (; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t v = *(const uintptr_t *)a;
        if (v - min < span)
            scan_word(s, a, v, mark_as, self);
    }
}

/* Marks block i reached from block `from` (not itself). */
static inline void reach_from(scan_t *s, ptrdiff_t i, uint32_t from)
{
    if (i < 0 || (uint32_t)i == from || s->cls[i] == LW_CLASS_REACHABLE)
        return;
    s->cls[i] = LW_CLASS_REACHABLE;
    s->stack[s->top++] = (uint32_t)i;
    if (s->link)
        s->link[i] = from;
}

/* The flood's lookups under way: each word that may be a pointer is taken in, has its rank entry prefetched,
 * AHEAD_RANK words later its spots, and AHEAD_SPOT words after that it is settled, in the order taken in. So a
 * dozen cache misses overlap where one lookup would wait for two in a row, and the blocks are reached in the same
 * order as one word at a time. The ring outlives a fault in the flood (scan_guarded): the next flood settles
 * what was under way. */
#define LOOKUP_RING 32 /* a power of two, more than AHEAD_RANK + AHEAD_SPOT */
#define AHEAD_RANK 8
#define AHEAD_SPOT 8
/* How far ahead in the queue the flood prefetches a block's entry, and then the block's first two lines (a block
 * takes about 150 ns to scan, a miss under load more than that). */
#define PF_ENTRY 24
#define PF_BLOCK 10
static lookup_t ring[LOOKUP_RING];

static inline void fetch_spots(scan_t *s, const block_index_t *x)
{
    lookup_t *q = &ring[s->q_mid++ % LOOKUP_RING];
    lookup_spots(x, q);
    /* the block found is most often the granule's first: its class is read, its link written */
    if (q->rk) {
        __builtin_prefetch(&s->cls[q->first]);
        if (s->link)
            __builtin_prefetch(&s->link[q->first], 1);
    }
}

static inline void settle(scan_t *s, const block_index_t *x)
{
    const lookup_t *q = &ring[s->q_out++ % LOOKUP_RING];
    reach_from(s, lookup_block(s, x, q), q->from);
}

/* Breadth first: every block is queued once, and the link of each block names a shortest way to it from the
 * roots scanned so far. The blocks some places ahead in the queue are prefetched, their entries first. */
LW_NO_SANITIZE static void flood(scan_t *s)
{
    const block_index_t *x = s->ix;
    if (!x) {
        while (s->head < s->top) {
            uint32_t i = s->stack[s->head++];
            scan_words(s, s->b[i].handle, s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]), LW_CLASS_REACHABLE,
                       (ptrdiff_t)i);
        }
        return;
    }
    for (;;) {
        if (s->head < s->top) {
            uint32_t i = s->stack[s->head++];
            if (s->head + PF_ENTRY < s->top)
                __builtin_prefetch(&s->b[s->stack[s->head + PF_ENTRY]]);
            if (s->head + PF_BLOCK < s->top) {
                const lw_entry_t *e = &s->b[s->stack[s->head + PF_BLOCK]];
                __builtin_prefetch((const void *)(uintptr_t)e->handle);
                if (LW_ENTRY_SIZE(e) > 64)
                    __builtin_prefetch((const void *)(uintptr_t)(e->handle + 64));
            }
            uintptr_t lo = (s->b[i].handle + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
            uintptr_t hi = s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]);
            for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
                uintptr_t v = *(const uintptr_t *)a;
                if (v < s->min || v >= s->max || !in_region(x, v))
                    continue;
                lookup_t *q = &ring[s->q_in++ % LOOKUP_RING];
                q->v = v;
                q->from = i;
                lookup_rank(x, q);
                if (s->q_in - s->q_mid > AHEAD_RANK)
                    fetch_spots(s, x);
                if (s->q_mid - s->q_out > AHEAD_SPOT)
                    settle(s, x);
            }
        } else if (s->q_out < s->q_in) {
            /* nothing queued: settle what is under way, which may queue more */
            if (s->q_mid == s->q_out)
                fetch_spots(s, x);
            settle(s, x);
        } else {
            return;
        }
    }
}

/* ---- attribution of lost blocks --------------------------------------------------------------------------- */

/* The lost blocks that block i points to and nobody owns yet become `owner`'s, and are queued on work (top
 * returned); a block that starts an earlier group of a cycle (its own owner, not definite) is merged into
 * owner's group instead: that group hangs below this one. */
LW_NO_SANITIZE static size_t own_words(scan_t *s, uint32_t i, uint32_t owner, uint32_t *work, size_t top)
{
    uintptr_t lo = (s->b[i].handle + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    uintptr_t hi = s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]);
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        ptrdiff_t t = find_block(s, *(const uintptr_t *)a);
        if (t < 0 || (uint32_t)t == i || s->cls[t] == LW_CLASS_REACHABLE || (uint32_t)t == owner ||
            (s->b[t].meta & LW_ENTRY_INHERITED))
            continue;
        if (s->link[t] == LW_LINK_NONE) {
            s->link[t] = owner;
            work[top++] = (uint32_t)t;
        } else if (s->link[t] == (uint32_t)t && s->cls[t] == LW_CLASS_INDIRECT) {
            s->link[t] = owner;
        }
    }
    return top;
}

static void own_from(scan_t *s, uint32_t start, uint32_t *work)
{
    size_t top = 0;
    s->link[start] = start;
    work[top++] = start;
    while (top) {
        uint32_t i = work[--top];
        top = own_words(s, i, start, work, top);
    }
}

/* Gives every lost block of this process the block its group is named after (lw_links_t): the definite blocks
 * in address order each take what they reach that no earlier one took, then what is left (cycles nothing
 * definite reaches, and what hangs below them) forms groups the same way. Each block is scanned once. */
static void attribute_lost(scan_t *s, uint32_t *work)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < s->n; i++)
            if (s->cls[i] == (pass ? LW_CLASS_INDIRECT : LW_CLASS_DEFINITE) && s->link[i] == LW_LINK_NONE &&
                !(s->b[i].meta & LW_ENTRY_INHERITED))
                own_from(s, (uint32_t)i, work);
    /* a merged group's blocks name the group's old start; follow to the start that names itself */
    for (size_t i = 0; i < s->n; i++) {
        uint32_t r = s->link[i];
        if (s->cls[i] == LW_CLASS_REACHABLE || r == LW_LINK_NONE)
            continue;
        while (s->link[r] != r)
            r = s->link[r];
        for (uint32_t x = (uint32_t)i; s->link[x] != r;) {
            uint32_t next = s->link[x];
            s->link[x] = r;
            x = next;
        }
    }
}

/* ---- roots ------------------------------------------------------------------------------------------------ */

#define MAX_EXCL 65536

typedef struct {
    range_t *v;
    size_t n;
} ranges_t;

static void add_range(ranges_t *r, uintptr_t lo, uintptr_t hi)
{
    if (r->n < MAX_EXCL && lo < hi)
        r->v[r->n++] = (range_t){ lo, hi };
}

static void sort_ranges(ranges_t *r)
{
    /* insertion sort: the list is short and mostly sorted already */
    for (size_t i = 1; i < r->n; i++) {
        range_t x = r->v[i];
        size_t j = i;
        while (j > 0 && r->v[j - 1].lo > x.lo) {
            r->v[j] = r->v[j - 1];
            j--;
        }
        r->v[j] = x;
    }
}

/* Scans [lo, hi) minus the excluded ranges (sorted). */
static void scan_root_all(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl)
{
    for (size_t i = 0; i < excl->n && lo < hi; i++) {
        const range_t *e = &excl->v[i];
        if (e->hi <= lo)
            continue;
        if (e->lo >= hi)
            break;
        if (e->lo > lo)
            scan_words(s, lo, e->lo, LW_CLASS_REACHABLE, -1);
        if (e->hi > lo)
            lo = e->hi;
    }
    if (lo < hi)
        scan_words(s, lo, hi, LW_CLASS_REACHABLE, -1);
}

/* Large mappings are mostly reservations (a sanitizer's shadow, a runtime's heap reserve) whose untouched pages
 * hold nothing: scan them a window at a time and skip the windows mincore finds no resident page in. Mappings
 * of a terabyte or more are address-space reservations and are not scanned. */
#define LW_SCAN_WINDOW (64ul << 20)
#define LW_SCAN_MAX (1ul << 40)
static unsigned char residency[LW_SCAN_WINDOW / 4096];

static void scan_root(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl)
{
    if (hi - lo <= LW_SCAN_WINDOW) {
        scan_root_all(s, lo, hi, excl);
        return;
    }
    if (hi - lo >= LW_SCAN_MAX)
        return;
    for (uintptr_t w = lo; w < hi; w += LW_SCAN_WINDOW) {
        uintptr_t end = hi - w < LW_SCAN_WINDOW ? hi : w + LW_SCAN_WINDOW;
        if (mincore((void *)w, end - w, residency) < 0) {
            scan_root_all(s, w, end, excl);
            continue;
        }
        size_t pages = (end - w + 4095) / 4096;
        for (size_t p = 0; p < pages;) {
            if (!(residency[p] & 1)) {
                p++;
                continue;
            }
            size_t q = p;
            while (q < pages && (residency[q] & 1))
                q++;
            uintptr_t a = w + p * 4096, b = w + q * 4096;
            scan_root_all(s, a, b < end ? b : end, excl);
            p = q;
        }
    }
}

typedef struct {
    ranges_t *excl;
    ranges_t *modules; /* writable segments of loaded objects */
    uintptr_t self_addr;
    uintptr_t alloc_lo, alloc_hi; /* the allocator's own object, when it is a library other than libc */
} phdr_arg_t;

static int collect_modules(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    phdr_arg_t *a = arg;
    int is_self = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && a->self_addr >= lo && a->self_addr < lo + ph->p_memsz &&
            info->dlpi_name && info->dlpi_name[0])
            is_self = 1;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        /* leakwatch's own data (the dlsym pool, its configuration) is not the program's, and neither are the
         * allocator's (jemalloc's and tcmalloc's globals point into their arenas and caches) */
        int allocator = lo >= a->alloc_lo && hi <= a->alloc_hi;
        add_range(is_self || allocator ? a->excl : a->modules, lo, hi);
    }
    return 0;
}

static int in_ranges(const ranges_t *r, uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < r->n; i++)
        if (lo < r->v[i].hi && r->v[i].lo < hi)
            return 1;
    return 0;
}

/* One line of /proc/self/maps: start-end perms offset dev inode path. */
typedef struct {
    uintptr_t lo, hi;
    char perms[5];
    int has_path;
    char name[32]; /* "[heap]", "[stack]", ... or the first bytes of the path */
} vma_t;

static int parse_hex(const char **p, uintptr_t *out)
{
    uintptr_t v = 0;
    int any = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            break;
        v = v * 16 + (uintptr_t)d;
        any = 1;
    }
    *out = v;
    return any;
}

static int parse_vma(const char *line, vma_t *v)
{
    const char *p = line;
    memset(v, 0, sizeof(*v));
    if (!parse_hex(&p, &v->lo) || *p++ != '-' || !parse_hex(&p, &v->hi) || *p++ != ' ')
        return 0;
    for (int i = 0; i < 4 && *p; i++)
        v->perms[i] = *p++;
    /* skip offset, device, inode */
    for (int field = 0; field < 3; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    if (*p && *p != '\n') {
        v->has_path = 1;
        size_t k = 0;
        while (p[k] && p[k] != '\n' && k < sizeof(v->name) - 1) {
            v->name[k] = p[k];
            k++;
        }
    }
    return 1;
}

/* glibc's malloc keeps each thread arena in heaps of its own: 64 MiB-aligned reservations, private and anonymous,
 * whose first words are a header (heap_info: the arena, the previous heap of the same arena, the used size, the
 * size made writable, which is exactly the part of the reservation that is not PROT_NONE). It hands out large
 * blocks as mappings of their own, and the main arena lives in [heap]. All of them hold freed chunks with stale
 * pointers, so they are left out of the roots; the live blocks in them are scanned through the flood fill. An
 * arena heap is found by its header, whether or not a live block is left in it: a thread that freed everything
 * it allocated leaves its arena full of stale copies of pointers (scanned, they once kept lost blocks
 * "reachable"). A heap whose header the search passes over (its page swapped out) is still found through a live
 * block in it. */
#define LW_ARENA_HEAP (64ul << 20)
#define ARENA_MAX_HEAPS 1024 /* 64 GiB of one arena; a longer chain of heaps is not taken for one */

static int is_anonymous_rw(const vma_t *v)
{
    return !v->has_path && v->perms[0] == 'r' && v->perms[1] == 'w' && v->perms[3] == 'p';
}

/* The mapping of vmas (sorted by address) that holds a, or NULL. */
static const vma_t *vma_at(const vma_t *vmas, size_t nv, uintptr_t a)
{
    size_t lo = 0, hi = nv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vmas[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nv && vmas[lo].lo <= a ? &vmas[lo] : NULL;
}

/* The arena of the glibc heap at a (64 MiB-aligned), or 0 when a holds no heap header: each heap of the chain
 * lies in a private anonymous mapping that ends where its writable size does (or holds all 64 MiB of it), its
 * sizes are whole pages, and the chain of previous heaps, each of the same arena, ends at the arena's first
 * heap, whose arena state follows its header. The reads may fault (a guard page inside a writable mapping):
 * call it through heap_arena_guarded. */
LW_NO_SANITIZE __attribute__((noinline)) static uintptr_t glibc_heap_arena(const vma_t *vmas, size_t nv, uintptr_t a)
{
    uintptr_t arena = 0;
    for (int k = 0; k < ARENA_MAX_HEAPS; k++) {
        const vma_t *v = vma_at(vmas, nv, a);
        if (!v || !is_anonymous_rw(v) || v->hi - a < 4096)
            return 0;
        const uintptr_t *h = (const uintptr_t *)a;
        uintptr_t ar = h[0], prev = h[1], size = h[2], writable = h[3];
        if (!size || (size & 4095) || writable < size || writable > LW_ARENA_HEAP || (writable & 4095) ||
            writable > v->hi - a || (writable < LW_ARENA_HEAP && writable != v->hi - a) || (ar & 7) ||
            (arena && ar != arena))
            return 0;
        arena = ar;
        if (!prev)
            return ar > a && ar - a <= 128 ? ar : 0;
        if ((prev & (LW_ARENA_HEAP - 1)) || prev == a)
            return 0;
        a = prev;
    }
    return 0;
}

static uintptr_t heap_arena_guarded(const vma_t *vmas, size_t nv, uintptr_t a);

/* Leaves out the arena heap at a, when there is one, in the mapping v. */
static void exclude_heap(ranges_t *excl, const vma_t *vmas, size_t nv, const vma_t *v, uintptr_t a)
{
    if (heap_arena_guarded(vmas, nv, a))
        add_range(excl, a, v->hi - a < LW_ARENA_HEAP ? v->hi : a + LW_ARENA_HEAP);
}

/* With sampling, most live blocks have no record, and the scan cannot follow the pointers they hold: the heap
 * outside the sampled blocks is then a root of its own kind (LW_ROOT_HEAP), so that a sampled block that only an
 * unsampled one holds is reachable, not a leak. Freed chunks there hold stale pointers too: a sampled exit
 * report errs towards reachable. */
static int heap_is_root(void)
{
    return lw_sample_mean != 0;
}

/* Whether v is the kernel's heap ([heap]: glibc's main arena, the memory tcmalloc takes first) or starts with a
 * heap of a glibc thread arena. Another allocator's mappings are known from its calls to mmap instead
 * (scratch_t's heaps). */
static int malloc_heap(const vma_t *vmas, size_t nv, const vma_t *v)
{
    if (v->has_path)
        return strcmp(v->name, "[heap]") == 0;
    if (lw_allocator_kind() != LW_ALLOC_GLIBC)
        return 0;
    return !(v->lo & (LW_ARENA_HEAP - 1)) && heap_arena_guarded(vmas, nv, v->lo);
}

LW_NO_SANITIZE static void exclude_malloc_memory(const scan_t *s, ranges_t *excl, const vma_t *vmas, size_t nv)
{
    /* another allocator's memory is what its code mapped (see prepare): its blocks carry no glibc chunk headers,
     * and reading them as such would exclude arbitrary ranges */
    if (lw_allocator_kind() != LW_ALLOC_GLIBC)
        return;
    size_t first = excl->n; /* the arena heaps, by address, from here on */
    for (size_t i = 0; i < nv && !heap_is_root(); i++) {
        const vma_t *v = &vmas[i];
        /* a reservation of a terabyte or more holds no heap (the scan skips it too); in a mapping larger than a
         * heap, a candidate header is read only when its page is resident, so that a sanitizer's shadow or a
         * runtime's reserve is not paged in 64 MiB apart */
        if (!is_anonymous_rw(v) || v->hi - v->lo >= LW_SCAN_MAX)
            continue;
        for (uintptr_t a = (v->lo + LW_ARENA_HEAP - 1) & ~(LW_ARENA_HEAP - 1); a >= v->lo && a + 4096 <= v->hi;
             a += LW_ARENA_HEAP) {
            unsigned char resident = 1;
            if (v->hi - v->lo > LW_ARENA_HEAP && mincore((void *)a, 4096, &resident) < 0)
                resident = 0;
            if (resident & 1)
                exclude_heap(excl, vmas, nv, v, a);
        }
    }
    size_t arenas_end = excl->n, ai = first, vi = 0, named = (size_t)-1;
    uintptr_t last_base = 0;
    int heap = 0;
    for (size_t i = 0; i < s->n; i++) {
        uintptr_t b = s->b[i].handle;
        while (vi < nv && vmas[vi].hi <= b)
            vi++;
        if (vi == nv || vmas[vi].lo > b || b - vmas[vi].lo < 2 * sizeof(size_t) || vmas[vi].perms[0] != 'r')
            continue; /* no chunk header to read: a record that outlived its memory, say */
        if (vi != named) { /* once a mapping, not once a block */
            named = vi;
            heap = vmas[vi].has_path && strcmp(vmas[vi].name, "[heap]") == 0;
        }
        while (ai < arenas_end && excl->v[ai].hi <= b)
            ai++;
        if (heap || (ai < arenas_end && excl->v[ai].lo <= b))
            continue; /* a block of an arena, whose chunk header need not be read (a cache miss a block) */
        size_t chunk_size = ((const size_t *)b)[-1];
        if (chunk_size & 2) {
            /* a chunk of its own mapping: prev_size holds the offset from the mapping's start */
            size_t before = ((const size_t *)b)[-2];
            uintptr_t chunk = b - 2 * sizeof(size_t);
            add_range(excl, chunk - before, chunk + (chunk_size & ~(size_t)7));
            continue;
        }
        /* a block of a heap the search passed over */
        uintptr_t base = b & ~(LW_ARENA_HEAP - 1);
        if (!heap_is_root() && base != last_base && base >= vmas[vi].lo) {
            last_base = base;
            exclude_heap(excl, vmas, nv, &vmas[vi], base);
        }
    }
}

/* Whether a line of /proc/PID/task/TID/syscall says the thread is not in a system call: "running" on a processor,
 * or "-1 sp pc" when it was preempted in user mode. Such a thread keeps live values in any register; stopping it
 * interrupts no system call. */
static int in_user_mode(const char *line)
{
    return strncmp(line, "running", 7) == 0 || strncmp(line, "-1 ", 3) == 0;
}

/* The stack pointer in a line of /proc/PID/task/TID/syscall ("nr args... sp pc" for a thread blocked in the
 * kernel), or 0: "running" for a thread that is not, and nothing useful for one that is gone. */
static uintptr_t syscall_line_sp(char *line)
{
    if (strncmp(line, "running", 7) == 0)
        return 0;
    /* the second last field is the stack pointer */
    const char *fields[10];
    int nf = 0;
    for (char *q = line; *q && nf < 10;) {
        while (*q == ' ' || *q == '\n')
            q++;
        if (!*q)
            break;
        fields[nf++] = q;
        while (*q && *q != ' ' && *q != '\n')
            q++;
    }
    uintptr_t sp = 0;
    if (nf >= 3 && fields[nf - 2][0] == '0' && fields[nf - 2][1] == 'x') {
        const char *h = fields[nf - 2] + 2;
        if (!parse_hex(&h, &sp))
            sp = 0;
    }
    return sp;
}

/* Appends "/proc/PID/task/TID/syscall" (PID "self" when pid is 0) to path. */
static void syscall_path(char *path, size_t cap, pid_t pid, pid_t tid)
{
    char *p = path, num[24];
    p += lw_strlcpy(p, "/proc/", cap);
    if (pid) {
        *lw_fmt_u64(num, (uint64_t)pid) = '\0';
        p += lw_strlcpy(p, num, cap - (size_t)(p - path));
    } else {
        p += lw_strlcpy(p, "self", cap - (size_t)(p - path));
    }
    p += lw_strlcpy(p, "/task/", cap - (size_t)(p - path));
    *lw_fmt_u64(num, (uint64_t)tid) = '\0';
    p += lw_strlcpy(p, num, cap - (size_t)(p - path));
    lw_strlcpy(p, "/syscall", cap - (size_t)(p - path));
}

/* A thread of the process other than the calling one, as the scan finds it before the copy is made. */
typedef struct {
    pid_t tid;
    int running; /* not blocked in a system call: it has no stack pointer in /proc, its registers are read */
} thread_t;

/* The process's other threads, and the stack pointers of those blocked in the kernel (which is what threads are
 * at exit), from /proc/self/task/TID/syscall. A thread still running gets a few milliseconds to block; the
 * registers of those that do not are read by the tracer (see tracer_main). */
static size_t other_threads(uintptr_t *sps, size_t cap, size_t *nsps, pid_t self, thread_t *ts, size_t tcap)
{
    char buf[4096], path[96], line[512];
    size_t nt = 0;
    int wait_budget = 50; /* milliseconds in all, however many threads keep running */
    int dir = lw_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return 0;
    for (;;) {
        long got = lw_sys_getdents64(dir, buf, sizeof(buf));
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            const lw_dirent64_t *d = (const void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '1' || d->name[0] > '9')
                continue;
            pid_t tid = 0;
            for (const char *q = d->name; *q >= '0' && *q <= '9'; q++)
                tid = tid * 10 + (*q - '0');
            if (tid == self || nt == tcap)
                continue;
            syscall_path(path, sizeof(path), 0, tid);
            /* at exit the other threads are about to block: give them a few milliseconds */
            ssize_t len = 0;
            for (int attempt = 0; attempt < 20; attempt++) {
                len = lw_read_file(path, line, sizeof(line) - 1);
                if (len <= 0 || strncmp(line, "running", 7) != 0 || wait_budget == 0)
                    break;
                wait_budget--;
                struct timespec ms = { 0, 1000000 };
                nanosleep(&ms, NULL);
            }
            if (len <= 0)
                continue;
            line[len] = '\0';
            ts[nt].tid = tid;
            ts[nt].running = in_user_mode(line);
            nt++;
            uintptr_t sp = syscall_line_sp(line);
            if (sp && *nsps < cap)
                sps[(*nsps)++] = sp - LW_RED_ZONE;
        }
    }
    lw_sys_close(dir);
    return nt;
}

/* Memory for the scan, all taken from lw_mem before the copy is made: the copy may not allocate. */
typedef struct {
    char *maps_buf;
    size_t maps_cap;
    vma_t *vmas;
    size_t vmas_cap;
    range_t *excl;
    range_t *mods;
    uintptr_t *own_lo, *own_hi;
    /* With sampling, the memory an allocator other than glibc's mapped (sorted, disjoint): the heap root, read
     * outside the sampled blocks. Without sampling it is excluded with the rest, and this is empty. */
    ranges_t heaps;
} scratch_t;

/* The tracker's own memory and the loaded objects' writable segments; read in the process itself, because the
 * locks these take (the allocator's map lock, the loader's) may be held by a thread that does not exist in the
 * copy. */
static void prepare(scratch_t *w, ranges_t *excl, ranges_t *mods)
{
    size_t own = lw_mem_ranges(w->own_lo, w->own_hi, MAX_EXCL / 2);
    for (size_t i = 0; i < own; i++)
        add_range(excl, w->own_lo[i], w->own_hi[i]);
    /* Another allocator's mappings (its extents, metadata, caches, free memory) are no roots: they hold stale and
     * bookkeeping pointers to blocks. Its live blocks in there are scanned through the flood fill, as glibc's are.
     * With sampling they are the heap root instead (heap_is_root), as glibc's heaps are. The copy refuses to
     * classify when that record is incomplete (lw_allocator_distrust). */
    int complete;
    size_t am = lw_allocator_ranges(w->own_lo, w->own_hi, MAX_EXCL / 2, &complete);
    for (size_t i = 0; i < am; i++)
        add_range(heap_is_root() ? &w->heaps : excl, w->own_lo[i], w->own_hi[i]);
    phdr_arg_t pa = { excl, mods, (uintptr_t)&lw_reach_snapshot, 0, 0 };
    lw_allocator_object(&pa.alloc_lo, &pa.alloc_hi);
    dl_iterate_phdr(collect_modules, &pa);
    lw_tls_prepare();
}

/* The memory map, read in the copy: the mappings exactly as they were when it was made (and without those the
 * parent marked MADV_DONTFORK, which the copy does not have). */
static size_t read_maps(scratch_t *w)
{
    ssize_t len = lw_read_file("/proc/self/maps", w->maps_buf, w->maps_cap - 1);
    if (len < 0)
        len = 0;
    w->maps_buf[len] = '\0';
    size_t nv = 0;
    for (char *line = w->maps_buf; *line && nv < w->vmas_cap;) {
        char *nl = strchr(line, '\n');
        if (parse_vma(line, &w->vmas[nv]))
            nv++;
        if (!nl)
            break;
        line = nl + 1;
    }
    return nv;
}

/* A stack root's frame: the nearest word below a, within the stack, that is an address in executable code of a
 * file mapping: most likely the return address of the last call the frame holding a made, an address in the
 * frame's own function (the word above a frame's locals would name its caller). 0 when none is near. */
LW_NO_SANITIZE static uint64_t frame_below(const scan_t *s, uintptr_t a)
{
    for (uintptr_t p = a - sizeof(uintptr_t); p >= s->root_lo && p + 4096 > a; p -= sizeof(uintptr_t)) {
        uintptr_t w = *(const uintptr_t *)p;
        const vma_t *v = vma_at(s->vmas, s->nv, w);
        if (v && v->perms[2] == 'x' && v->has_path && v->name[0] == '/')
            return w;
    }
    return 0;
}

/* Where the live part of a stack begins, for each stack whose stack pointer is known: every word below it
 * belongs to frames that have returned, whose stale pointers must not keep a leak alive. */
typedef struct {
    uintptr_t *sp;
    size_t n, cap;
} stack_marks_t;


/* The lowest mark inside [lo, hi), or lo when the range holds none (a stack whose pointer is unknown, or no
 * stack at all, is scanned whole). A stack with two marks (read at two moments) is scanned from the lower one:
 * that scans more, never less. */
static uintptr_t live_start(const stack_marks_t *m, uintptr_t lo, uintptr_t hi)
{
    uintptr_t best = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->sp[i] > lo && m->sp[i] < hi && (!best || m->sp[i] < best))
            best = m->sp[i];
    return best ? best : lo;
}

/* Every signal blocked in a copy of the program (the copy inherited its handlers, and none of them may run there:
 * ptrace reports stopped threads to their tracer with SIGCHLD, which the program's handler would count as a child
 * of its own), but those in `keep`. The system call, as a copy may use no more: the sigprocmask wrapper is the
 * injected library's. */
static void block_signals_but(int keep1, int keep2)
{
    sigset_t mask;
    sigfillset(&mask);
    if (keep1)
        sigdelset(&mask, keep1);
    if (keep2)
        sigdelset(&mask, keep2);
    lw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, (size_t)(_NSIG / 8));
}

/* A fault ends the scan of that mapping, nothing more (mincore and a mapping's tail past the end of its file
 * can still fault): the copy catches SIGSEGV and SIGBUS itself (the program's handlers, crash reporters among
 * them, must not run) and writes no core file. */
static sigjmp_buf scan_fault;

static void on_scan_fault(int sig)
{
    (void)sig;
    siglongjmp(scan_fault, 1);
}

static void guard_faults(void)
{
    block_signals_but(SIGSEGV, SIGBUS);
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_scan_fault;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    lw_sys_sigaction(SIGSEGV, &sa, NULL);
    lw_sys_sigaction(SIGBUS, &sa, NULL);
}

/* The flood, which goes on past a block whose memory faults: a record whose release was missed (a realloc or free
 * leakwatch did not see) may outlive its pages, which the allocator gave back. The flood pops a block before it
 * reads it, so each fault passes over one block, and the ring of lookups under way outlives the fault. */
static void flood_guarded(scan_t *s)
{
    (void)sigsetjmp(scan_fault, 1);
    flood(s);
}

static void scan_guarded(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl)
{
    if (sigsetjmp(scan_fault, 1) == 0)
        scan_root(s, lo, hi, excl);
    /* the blocks reached so far are on the stack either way */
    flood_guarded(s);
}

/* Scans [lo, hi) as roots of `kind`. Memory the program mapped may hold a loaded object's globals: the part of
 * its .bss past its file's last page is an anonymous mapping (often merged with the one after it), and the words
 * there are that object's variables, roots of kind global. */
static void scan_roots(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl, const ranges_t *mods,
                       uint32_t kind)
{
    while (lo < hi) {
        uintptr_t glo = hi, ghi = hi; /* the first part of [lo, hi) in a writable segment */
        for (size_t i = 0; kind == LW_ROOT_MEMORY && i < mods->n; i++) {
            uintptr_t a = mods->v[i].lo & ~(uintptr_t)7, b = (mods->v[i].hi + 7) & ~(uintptr_t)7;
            if (b > lo && a < hi && (a > lo ? a : lo) < glo) {
                glo = a > lo ? a : lo;
                ghi = b < hi ? b : hi;
            }
        }
        s->root_kind = kind;
        if (lo < glo)
            scan_guarded(s, lo, glo, excl);
        s->root_kind = LW_ROOT_GLOBAL;
        if (glo < ghi)
            scan_guarded(s, glo, ghi, excl);
        lo = ghi;
    }
    s->root_kind = kind;
}

/* Scans the malloc heap [lo, hi) as a root of kind LW_ROOT_HEAP, but for the sampled blocks in it, which the flood
 * reads when they are reached. */
static void scan_heap_outside_blocks(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl)
{
    s->root_lo = lo;
    s->root_kind = LW_ROOT_HEAP;
    size_t i = 0, n = s->n;
    while (i < n) { /* the first block that ends above lo */
        size_t mid = i + (n - i) / 2;
        if (s->b[mid].handle + LW_ENTRY_SIZE(&s->b[mid]) <= lo)
            i = mid + 1;
        else
            n = mid;
    }
    uintptr_t a = lo;
    for (; i < s->n && s->b[i].handle < hi; i++) {
        uintptr_t start = s->b[i].handle, end = start + LW_ENTRY_SIZE(&s->b[i]);
        if (start > a)
            scan_guarded(s, a, start, excl);
        if (end > a)
            a = end;
    }
    if (a < hi)
        scan_guarded(s, a, hi, excl);
}

/* glibc_heap_arena, where a fault means that a holds no heap header. */
static uintptr_t heap_arena_guarded(const vma_t *vmas, size_t nv, uintptr_t a)
{
    volatile uintptr_t ar = 0;
    if (sigsetjmp(scan_fault, 1) == 0)
        ar = glibc_heap_arena(vmas, nv, a);
    return ar;
}

/* lw_tls_find, where a fault means that the mapping holds no thread control block. */
static uintptr_t find_tls_guarded(uintptr_t lo, uintptr_t hi)
{
    volatile uintptr_t tp = 0;
    if (sigsetjmp(scan_fault, 1) == 0)
        tp = lw_tls_find(lo, hi);
    return tp;
}

/* ---- x86-64: the registers of a stopped thread (moves behind tracker/arch.h) ------------------------------ */

/* The size of the extended state the kernel hands to ptrace: the XSAVE area of every feature the processor
 * has (CPUID leaf 0xD, ECX), or the 512-byte FXSAVE area (xmm0-15) where XSAVE is absent. */
static size_t xstate_size(void)
{
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_max(0, NULL) >= 0xd &&
        __get_cpuid_count(0xd, 0, &a, &b, &c, &d) && c >= 512 && c <= (1u << 16))
        return (c + 63) & ~(size_t)63;
    return 512;
}

/* Reads the stopped thread's general registers into gp and its extended state as XSAVE lays it out (x87,
 * xmm0-15, the upper halves of ymm0-15, AVX-512's zmm upper halves and zmm16-31, ...) into the xsize bytes at x.
 * The scan reads both word by word: every 64-bit lane of every vector register is a word there, at an 8-byte
 * boundary, and a component in its initial state reads as zeros (the kernel writes it so for ptrace). Returns 0,
 * or -1 when not even the general registers could be read. */
static int read_thread_regs(pid_t tid, struct user_regs_struct *gp, void *x, size_t xsize)
{
    if (ptrace(PTRACE_GETREGS, tid, NULL, gp) < 0)
        return -1;
    struct iovec io = { x, xsize };
    if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)NT_X86_XSTATE, &io) < 0) {
        /* no XSAVE in the kernel or the processor: xmm0-15 at least, from the FXSAVE area */
        io.iov_len = xsize < sizeof(struct user_fpregs_struct) ? xsize : sizeof(struct user_fpregs_struct);
        if (ptrace(PTRACE_GETREGSET, tid, (void *)(uintptr_t)NT_PRFPREG, &io) < 0)
            memset(x, 0, xsize);
    }
    return 0;
}

static uintptr_t regs_sp(const struct user_regs_struct *gp)
{
    return (uintptr_t)gp->rsp;
}

/* ---- the tracer: the other threads at the moment of the copy ---------------------------------------------- */

/* What the tracer found of one thread, in memory it shares with the copy. */
typedef struct {
    uint64_t kind; /* SLOT_NONE, SLOT_SP (a blocked thread: sp only) or SLOT_REGS (stopped: the registers) */
    uint64_t sp;
    struct user_regs_struct gp;
    /* followed by the extended state, xsize bytes */
} slot_t;

#define SLOT_NONE 0
#define SLOT_SP 1
#define SLOT_REGS 2

typedef struct {
    char *v; /* n slots of `stride` bytes, shared (MAP_SHARED) by the tracer and the copy */
    size_t n, stride, xsize, bytes;
} regs_t;

static slot_t *slot_at(const regs_t *r, size_t i)
{
    return (slot_t *)(r->v + i * r->stride);
}

/* Stops the thread with ptrace (seized, so no signal of the program's is involved) and waits for the stop; a
 * thread in an uninterruptible wait gets a tenth of a second. Returns 1 when stopped, 0 when seized only, -1 when
 * not even seized. */
static int stop_thread(pid_t tid)
{
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
        return -1;
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
        return 0;
    for (int tries = 0; tries < 100; tries++) {
        int st;
        pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
        if (r == tid)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* The tracer, a quiet copy made before the scanning one: once `go` reads end-of-file it looks at every other thread of the process
 * `pid` afresh; one blocked in a system call is left alone (a stop would make some calls, epoll_wait and poll,
 * fail with EINTR in the program) and only its stack pointer is taken, one running is stopped and its registers
 * read. It says so on `ack`, and keeps the threads stopped until `rel` reads end-of-file: the scanning copy is
 * made in between, so its memory and the registers are the same moment. A thread blocked in a system call is inside a
 * function call (the call's wrapper), across which the ABI keeps no vector register (all are caller-saved): what
 * is missed there is a pointer held only in a callee-saved general register (rbx, rbp, r12-r15) that nothing
 * spilled. A thread that cannot be read (ptrace refused, the thread gone) is skipped: its stack is scanned whole,
 * or from the stack pointer read before. Ends the tracer. */
static void tracer_main(pid_t pid, const thread_t *ts, size_t nt, regs_t *regs, int go, int ack, int rel)
{
    static signed char seized[4096];
    char line[512], path[96], c;
    block_signals_but(0, 0);
    if (read(go, &c, 1) != 0)
        lw_syscall(SYS_exit_group, 0); /* the process wrote: not the go it gives by closing the pipe */
    for (size_t i = 0; i < nt && i < sizeof(seized); i++) {
        slot_t *s = slot_at(regs, i);
        seized[i] = -1;
        syscall_path(path, sizeof(path), pid, ts[i].tid);
        ssize_t len = lw_read_file(path, line, sizeof(line) - 1);
        if (len > 0) {
            line[len] = '\0';
            uintptr_t sp = syscall_line_sp(line);
            if (sp) {
                s->kind = SLOT_SP;
                s->sp = sp;
                continue;
            }
        } else if (!ts[i].running) {
            continue; /* /proc refused, or the thread is gone: the stack pointer read before stands */
        }
        seized[i] = (signed char)stop_thread(ts[i].tid);
        if (seized[i] == 1 && read_thread_regs(ts[i].tid, &s->gp, (char *)s + sizeof(*s), regs->xsize) == 0) {
            s->kind = SLOT_REGS;
            s->sp = regs_sp(&s->gp);
        }
    }
    lw_sys_write_all(ack, "s", 1);
    (void)read(rel, &c, 1); /* end-of-file: the scanning copy is made */
    for (size_t i = 0; i < nt && i < sizeof(seized); i++)
        if (seized[i] >= 0)
            ptrace(PTRACE_DETACH, ts[i].tid, NULL, NULL);
    lw_syscall(SYS_exit_group, 0);
}

/* Where Yama restricts ptrace to ancestors (ptrace_scope 1), the tracer may read this process's registers only
 * once this process names it; the permission is withdrawn when the scan is done (and given only when some thread
 * was running, since withdrawing it also forgets a tracer the program may have named itself). */
static void allow_tracer(pid_t tracer, int allow)
{
    char scope[8];
    ssize_t n = lw_read_file("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
    if (n > 0 && scope[0] == '1')
        prctl(PR_SET_PTRACER, allow ? (unsigned long)tracer : 0ul, 0ul, 0ul, 0ul);
}

/* Scans [lo, hi) of the writable mapping v as roots: a thread's stack from its stack pointer up, its TLS as a root
 * of its own kind, a loaded object's globals, or the program's own memory. */
static void scan_mapping(scan_t *s, const vma_t *v, uintptr_t lo, uintptr_t hi, const ranges_t *excl,
                         const ranges_t *mods, const stack_marks_t *marks)
{
    /* a thread's stack: from its stack pointer up (the thread's TLS and descriptor lie above it) */
    uintptr_t live = live_start(marks, lo, hi);
    int stack = live != lo || (v->has_path && v->name[0] == '[');
    uint32_t kind = stack ? LW_ROOT_STACK : v->has_path ? LW_ROOT_GLOBAL : LW_ROOT_MEMORY;
    s->root_lo = lo;
    /* a thread's thread-local storage, at the top of its stack mapping or (the main thread's) among the dynamic
     * linker's memory, is a root of its own kind */
    uintptr_t tp = kind == LW_ROOT_GLOBAL ? 0 : find_tls_guarded(lo, hi), tls_lo = hi, tls_hi = hi;
    if (tp) {
        lw_tls_range(tp, &tls_lo, &tls_hi);
        tls_lo = tls_lo < live ? live : tls_lo;
        tls_hi = tls_hi > hi ? hi : tls_hi;
        if (tls_lo >= tls_hi)
            tls_lo = tls_hi = hi; /* nothing of it above the stack pointer */
    }
    scan_roots(s, live, tls_lo, excl, mods, kind);
    if (tls_lo < tls_hi) {
        s->root_kind = LW_ROOT_TLS;
        s->root_tp = tp;
        scan_guarded(s, tls_lo, tls_hi, excl);
        scan_roots(s, tls_hi, hi, excl, mods, kind);
    }
}

/* Scans the anonymous mapping v, parts of which another allocator mapped (heaps, from heaps->v[*at] on): those
 * parts as the heap root, outside the sampled blocks, the rest (the kernel may have merged the allocator's
 * mapping with the program's or a thread's stack) as any mapping. */
static void scan_beside_heaps(scan_t *s, const vma_t *v, const ranges_t *heaps, size_t *at, const ranges_t *excl,
                              const ranges_t *mods, const stack_marks_t *marks)
{
    uintptr_t a = v->lo;
    for (; *at < heaps->n && heaps->v[*at].lo < v->hi; ++*at) {
        const range_t *h = &heaps->v[*at];
        uintptr_t lo = h->lo > a ? h->lo : a, hi = h->hi < v->hi ? h->hi : v->hi;
        if (lo > a)
            scan_mapping(s, v, a, lo, excl, mods, marks);
        scan_heap_outside_blocks(s, lo, hi, excl);
        a = hi;
        if (h->hi > v->hi)
            break; /* the range goes on into the next mapping */
    }
    if (a < v->hi)
        scan_mapping(s, v, a, v->hi, excl, mods, marks);
}

/* The scan proper: reads memory, takes no lock, calls nothing that allocates. */
static void classify(scan_t *s, scratch_t *w, size_t nv, ranges_t excl, ranges_t mods, const stack_marks_t *marks,
                     const regs_t *regs, uint32_t *work)
{
    exclude_malloc_memory(s, &excl, w->vmas, nv);
    uintptr_t dlo, dhi; /* declared by the program */
    for (size_t i = 0; lw_api_pool_span(s->b, s->n, &i, &dlo, &dhi);)
        add_range(&excl, dlo, dhi);
    sort_ranges(&excl);

    for (size_t i = 0; i < s->n; i++)
        s->cls[i] = LW_CLASS_DEFINITE;
    s->top = lw_api_seed(s->b, s->n, s->cls, s->stack); /* what the program declared (leakwatch.h) */

    s->vmas = w->vmas;
    s->nv = nv;
    size_t heaps = 0; /* the first of w->heaps that may lie in the mapping at hand */
    /* the registers of the stopped threads are roots too, the vector registers with the general ones */
    s->root_kind = LW_ROOT_REGISTERS;
    for (size_t i = 0; i < regs->n; i++) {
        const slot_t *t = slot_at(regs, i);
        if (t->kind == SLOT_REGS) {
            scan_words(s, (uintptr_t)&t->gp, (uintptr_t)(&t->gp + 1), LW_CLASS_REACHABLE, -1);
            scan_words(s, (uintptr_t)(t + 1), (uintptr_t)(t + 1) + regs->xsize, LW_CLASS_REACHABLE, -1);
        }
    }
    flood(s);

    for (size_t i = 0; i < nv; i++) {
        const vma_t *v = &w->vmas[i];
        if (v->perms[0] != 'r' || v->perms[1] != 'w' || v->perms[3] == 's')
            continue; /* shared mappings are no roots (the tracer's slots among them) */
        uintptr_t lo = v->lo, hi = v->hi;
        while (heaps < w->heaps.n && w->heaps.v[heaps].hi <= lo)
            heaps++; /* another allocator's memory that lies below this mapping */
        if (heap_is_root() && malloc_heap(w->vmas, nv, v)) {
            scan_heap_outside_blocks(s, lo, hi, &excl);
            continue;
        }
        if (v->has_path && v->name[0] == '[') {
            if (strcmp(v->name, "[stack]") != 0)
                continue; /* [heap], [vvar], [vsyscall] ... */
        } else if (v->has_path && v->name[0] == '/') {
            /* a file mapping: only the writable segments of loaded objects (the rest could end past the end
             * of its file and fault) */
            if (!in_ranges(&mods, lo, hi))
                continue;
        } else if (v->has_path) {
            continue; /* memfd, shared memory and other named mappings */
        }
        if (!v->has_path && heaps < w->heaps.n)
            scan_beside_heaps(s, v, &w->heaps, &heaps, &excl, &mods, marks);
        else
            scan_mapping(s, v, lo, hi, &excl, &mods, marks);
    }
    /* the program's root regions, whatever memory they lie in */
    ranges_t none = { NULL, 0 };
    for (size_t i = 0; lw_api_root_region(i, &dlo, &dhi); i++)
        scan_guarded(s, dlo, dhi, &none);

    /* What the roots did not reach is lost; a lost block that another lost block points to is indirect. A block
     * whose memory faults (see flood_guarded) points to nothing. */
    volatile size_t lost = 0;
    if (sigsetjmp(scan_fault, 1) != 0)
        lost++;
    for (; lost < s->n; lost++) {
        size_t i = lost;
        if (s->cls[i] == LW_CLASS_REACHABLE)
            continue;
        scan_words(s, s->b[i].handle, s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]), LW_CLASS_INDIRECT, (ptrdiff_t)i);
    }
    if (s->link)
        attribute_lost(s, work);
}

#define COPY_DONE 0x656e6f642d776c00ull /* the copy's last word */

/* A scanning copy that said its last word but was still exiting (its address space being taken down, tens of
 * milliseconds for a large program): reaped by the dump thread once its dump is written, or at the start of the
 * next snapshot (lw_reach_reap), rather than waited for, so that the exit dump does not wait. Invisible to the
 * program's own waits meanwhile (lw_sys_fork_quiet). `of` is the process whose child it is: a forked child has
 * none of its parent's. */
static struct {
    pid_t pid, of;
} exiting;

void lw_reach_reap(void)
{
    if (exiting.pid > 0 && exiting.of == lw_pid) {
        int st;
        lw_sys_reap(exiting.pid, &st);
    }
    exiting.pid = 0;
}

/* What the copy sends back ahead of the entries and the classes. `refused`: the copy would not classify these
 * blocks, for the reason in `why` (lw_allocator_distrust), and sends nothing else. */
typedef struct {
    uint64_t n, nheap, dropped, refused;
    uint64_t norder, nroots; /* with links: lw_links_t */
    char why[512];
} answer_t;

/* The copy's work: list, classify, answer. Ends the copy. */
static void in_copy(lw_listing_t *l, lw_list_fn list, void *arg, scratch_t *w, ranges_t excl, ranges_t mods,
                    const regs_t *regs, stack_marks_t *marks, uint32_t *stack, uint8_t *cls, lw_links_t *links,
                    int out, uintptr_t here)
{
    guard_faults();
    /* The tables were locked when the copy was made, by the thread that is the copy's only one; they are
     * consistent, and the copy may walk them once it lets the locks go. */
    lw_tables_unlock_all();
    lw_tables_forget_deferred();
    list(l, arg);
    lw_tables_drop_in_copy();
    /* an allocator whose memory is not known would make the classes a guess */
    const char *why = lw_allocator_distrust(l->v, l->nheap);
    if (why) {
        static answer_t no;
        no.refused = 1;
        lw_strlcpy(no.why, why, sizeof(no.why));
        lw_syscall(SYS_exit_group, lw_sys_write_all(out, &no, sizeof(no)) ? 1 : 0);
    }
    size_t nv = read_maps(w);
    /* This thread's stack is live from here up, or, when this is the thread that called exit, from exit's
     * caller up: below lie exit handlers and this scan's own frames, which hold the blocks' addresses. */
    uintptr_t mine = here;
    for (size_t i = 0; i < nv; i++)
        if (here >= w->vmas[i].lo && here < w->vmas[i].hi && lw_exit_frame > here && lw_exit_frame < w->vmas[i].hi)
            mine = lw_exit_frame;
    if (marks->n < marks->cap)
        marks->sp[marks->n++] = mine;
    /* the tracer's stack pointers, read at the moment of the copy (it has written them before the copy was
     * made) */
    for (size_t i = 0; i < regs->n && marks->n < marks->cap; i++)
        if (slot_at(regs, i)->kind != SLOT_NONE)
            marks->sp[marks->n++] = (uintptr_t)slot_at(regs, i)->sp - LW_RED_ZONE;
    /* on this stack, below the live mark: in a static, min would be a root pointing to the first block */
    scan_t s = { 0 };
    if (l->nheap) {
        lw_api_mark_pool_blocks(l->v, l->nheap);
        s = (scan_t){ .b = l->v, .n = l->nheap, .min = l->v[0].handle, .cls = cls, .stack = stack };
        for (size_t i = 0; i < l->nheap; i++) {
            uintptr_t end = l->v[i].handle + (LW_ENTRY_SIZE(&l->v[i]) ? LW_ENTRY_SIZE(&l->v[i]) : 1);
            if (end > s.max)
                s.max = end;
        }
        if (links) {
            s.link = links->link;
            s.roots = links->roots;
            for (size_t i = 0; i < l->nheap; i++)
                s.link[i] = LW_LINK_NONE;
        }
        /* mapped after the memory map was read: the index is no root */
        static block_index_t ix;
        if (index_blocks(&ix, l->v, l->nheap, s.max) == 0)
            s.ix = &ix;
        classify(&s, w, nv, excl, mods, marks, regs, links ? links->work : NULL);
        /* given back before the graph is grouped: the copy's peak is then the smaller */
        if (s.ix) {
            lw_sys_munmap(ix.run, ix.bytes);
            if (ix.region != MAP_FAILED)
                lw_sys_munmap(ix.region, ix.region_bytes);
            if (ix.page != MAP_FAILED)
                lw_sys_munmap(ix.page, ix.page_bytes);
        }
        s.ix = NULL;
    }
    static answer_t a;
    a.n = l->n;
    a.nheap = l->nheap;
    a.dropped = l->dropped;
    a.norder = links ? s.top : 0;
    a.nroots = links ? s.nroots : 0;
    if (lw_sys_write_all(out, &a, sizeof(a)) ||
        (!l->send && (lw_sys_write_all(out, l->v, l->n * sizeof(lw_entry_t)) || lw_sys_write_all(out, cls, l->nheap))))
        lw_syscall(SYS_exit_group, 1);
    if (links) {
        /* the queue of the flood holds the reachable blocks in the order they were reached */
        links->order = stack;
        links->norder = a.norder;
        links->nroots = a.nroots;
        for (size_t i = 0; i < l->nheap; i++)
            l->v[i].key |= (uint64_t)cls[i] << 59;
        if (links->in_copy(links->arg, l->v, l->nheap, cls, links, out))
            lw_syscall(SYS_exit_group, 1);
    } else if (l->send) {
        for (size_t i = 0; i < l->nheap; i++)
            l->v[i].key |= (uint64_t)cls[i] << 59;
    }
    if (l->send && l->send(l->hook_arg, l, out))
        lw_syscall(SYS_exit_group, 1);
    /* the last word: all was sent (the process that reads it need not wait for this one's exit to know) */
    static const uint64_t done = COPY_DONE;
    lw_syscall(SYS_exit_group, lw_sys_write_all(out, &done, sizeof(done)) ? 1 : 0);
}

/* One consistent moment. The block list, the memory the scan reads and the registers of the threads still
 * running are the same snapshot:
 *  - the tracer (a quiet copy) stops the running threads and reads their registers, and the stack pointers of the
 *    blocked ones afresh;
 *  - then the scanning copy is made, while this thread holds every table lock, so that no record comes or goes
 *    while the kernel copies the address space and no stopped thread is inside the tables;
 *  - the copy lists the records itself, from its own tables, which are the tables as they were at that instant;
 *    a block freed before it is in neither the list nor (as a live block) the memory, a block freed after it is
 *    in both, and live.
 * Listing in the parent and scanning later would let another thread (a detached one still freeing, one inside a
 * dl_iterate_phdr callback, which also holds up prepare's own dl_iterate_phdr) free listed blocks in between,
 * and the scan would find nothing pointing to them: definite leaks that are not. Re-checking the parent's tables
 * afterwards would not do either: a freed address may be reused by then. Between taking the locks and letting
 * them go this thread waits only for the tracer, which takes none of ours; the locks are taken after
 * prepare's dl_iterate_phdr, since a thread in a dl_iterate_phdr callback may be waiting for one of them. */
int lw_reach_snapshot(lw_listing_t *l, lw_list_fn list, void *arg, uint8_t *cls, lw_links_t *links)
{
    l->n = l->nheap = l->dropped = 0;
    if (l->cap > UINT32_MAX || (links && l->cap >= LW_LINK_ROOT))
        return EOVERFLOW;
    if (links)
        links->norder = links->nroots = 0;
    lw_reach_reap();
    scratch_t w = { 0 };
    w.maps_cap = 4u << 20;
    w.vmas_cap = 65536;
    w.maps_buf = lw_mem_alloc(w.maps_cap);
    w.vmas = lw_mem_alloc(w.vmas_cap * sizeof(vma_t));
    w.excl = lw_mem_alloc(MAX_EXCL * sizeof(range_t));
    w.mods = lw_mem_alloc(MAX_EXCL * sizeof(range_t));
    w.own_lo = lw_mem_alloc(MAX_EXCL / 2 * sizeof(uintptr_t));
    w.own_hi = lw_mem_alloc(MAX_EXCL / 2 * sizeof(uintptr_t));
    w.heaps.v = lw_mem_alloc(MAX_EXCL * sizeof(range_t));
    uint32_t *stack = lw_mem_alloc(l->cap * sizeof(uint32_t) + 1);
    static thread_t ts[4096];
    static uintptr_t sps[2 * 4096 + 1];
    stack_marks_t marks = { sps, 0, sizeof(sps) / sizeof(sps[0]) };
    regs_t regs = { NULL, 0, 0, xstate_size(), 0 };
    /* Pipes: the copy's answer; the tracer's start, its report that the threads are stopped, and their release.
     * This process only ever closes a pipe to the tracer (a write could raise SIGPIPE here, in the program). */
    int fds[2] = { -1, -1 }, go[2] = { -1, -1 }, ack[2] = { -1, -1 }, rel[2] = { -1, -1 };
    int err = 0;
    pid_t pid = -1, tracer = -1;
    if (!w.maps_buf || !w.vmas || !w.excl || !w.mods || !w.own_lo || !w.own_hi || !w.heaps.v || !stack) {
        err = ENOMEM;
        goto out;
    }
    if (lw_sys_pipe2(fds, O_CLOEXEC) < 0) {
        err = errno;
        goto out;
    }
    ranges_t excl = { w.excl, 0 }, mods = { w.mods, 0 };
    prepare(&w, &excl, &mods);

    /* The other threads, and the tracer when one of them is running. Its slots are shared with the copies, and
     * mapped here rather than taken from lw_mem, whose ranges prepare has read already. */
    size_t nt = other_threads(sps, sizeof(ts) / sizeof(ts[0]), &marks.n, (pid_t)lw_syscall(SYS_gettid), ts,
                              sizeof(ts) / sizeof(ts[0]));
    int any_running = 0;
    for (size_t i = 0; i < nt; i++)
        any_running |= ts[i].running;
    if (any_running) {
        regs.stride = (sizeof(slot_t) + regs.xsize + 63) & ~(size_t)63;
        regs.bytes = (nt * regs.stride + 4095) & ~(size_t)4095;
        void *m = lw_sys_mmap(NULL, regs.bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED && lw_sys_pipe2(go, O_CLOEXEC) == 0 && lw_sys_pipe2(ack, O_CLOEXEC) == 0 &&
            lw_sys_pipe2(rel, O_CLOEXEC) == 0) {
            regs.v = m;
            regs.n = nt;
            tracer = lw_sys_fork_quiet();
            if (tracer == 0) {
                lw_sys_close(go[1]);
                lw_sys_close(ack[0]);
                lw_sys_close(rel[1]);
                lw_sys_close(fds[0]);
                lw_sys_close(fds[1]);
                tracer_main((pid_t)lw_syscall(SYS_getppid), ts, nt, &regs, go[0], ack[1], rel[0]);
            }
        }
        if (tracer > 0) {
            allow_tracer(tracer, 1);
        } else {
            /* no tracer: the stacks of the running threads are scanned whole */
            regs.n = 0;
        }
        /* the tracer's ends */
        int *ends[] = { &go[0], &ack[1], &rel[0] };
        for (int k = 0; k < 3; k++) {
            if (*ends[k] >= 0)
                lw_sys_close(*ends[k]);
            *ends[k] = -1;
        }
        if (m != MAP_FAILED && !regs.v)
            lw_sys_munmap(m, regs.bytes);
    }

    /* The copy is made with lw_sys_fork_quiet (no atfork handlers, no SIGCHLD, invisible to the program's waits)
     * and never calls malloc. */
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    lw_tables_lock_all();
    if (tracer > 0) {
        char c;
        lw_sys_close(go[1]);
        go[1] = -1;
        /* end-of-file instead when the tracer is gone: then its slots hold what it managed to read */
        while (read(ack[0], &c, 1) < 0 && errno == EINTR)
            ;
    }
    pid = lw_sys_fork_quiet();
    if (pid == 0) {
        lw_sys_close(fds[0]);
        /* the tracer lets the threads go when this process closes its end, not when the scan is over */
        if (rel[1] >= 0)
            lw_sys_close(rel[1]);
        if (ack[0] >= 0)
            lw_sys_close(ack[0]);
        in_copy(l, list, arg, &w, excl, mods, &regs, &marks, stack, cls, links, fds[1], here);
    }
    int fork_err = errno;
    if (tracer > 0) {
        lw_sys_close(rel[1]); /* the tracer reads end-of-file: it lets the threads go */
        rel[1] = -1;
    }
    lw_tables_unlock_all();
    if (tracer > 0) {
        int st;
        lw_sys_reap(tracer, &st);
        allow_tracer(tracer, 0);
    }
    if (pid < 0) {
        err = fork_err;
        goto out;
    }
    lw_sys_close(fds[1]);
    fds[1] = -1;
    static answer_t a;
    int ok = lw_sys_read_all(fds[0], &a, sizeof(a)) == 0;
    int refused = ok && a.refused;
    ok = ok && !refused && a.n <= l->cap && a.nheap <= a.n &&
         (l->send || (lw_sys_read_all(fds[0], l->v, a.n * sizeof(lw_entry_t)) == 0 &&
                      lw_sys_read_all(fds[0], cls, a.nheap) == 0));
    ok = ok && (!links || links->in_parent(links->arg, fds[0]) == 0);
    ok = ok && (!l->send || l->receive(l->hook_arg, fds[0]) == 0);
    uint64_t last = 0;
    ok = ok && lw_sys_read_all(fds[0], &last, sizeof(last)) == 0 && last == COPY_DONE;
    int st = 0, reaped;
    if (ok && !refused) {
        /* all said: reaped now if it is gone, else at the next snapshot */
        pid_t r;
        while ((r = waitpid(pid, &st, __WALL | WNOHANG)) < 0 && errno == EINTR)
            ;
        if (r == 0) {
            exiting.pid = pid;
            exiting.of = lw_pid;
            st = 0;
        }
        reaped = r >= 0;
    } else {
        reaped = lw_sys_reap(pid, &st) == 0;
    }
    if (refused) {
        a.why[sizeof(a.why) - 1] = '\0';
        lw_allocator_set_refusal(a.why);
        err = ENOTSUP;
    } else if (ok && reaped && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        l->n = a.n;
        l->nheap = a.nheap;
        l->dropped = a.dropped;

    } else {
        err = ECHILD;
    }

out:
    for (int i = 0; i < 2; i++) {
        if (go[i] >= 0)
            lw_sys_close(go[i]);
        if (ack[i] >= 0)
            lw_sys_close(ack[i]);
        if (rel[i] >= 0)
            lw_sys_close(rel[i]);
        if (fds[i] >= 0)
            lw_sys_close(fds[i]);
    }
    if (regs.v)
        lw_sys_munmap(regs.v, regs.bytes);
    lw_mem_free(w.maps_buf, w.maps_cap);
    lw_mem_free(w.vmas, w.vmas_cap * sizeof(vma_t));
    lw_mem_free(w.excl, MAX_EXCL * sizeof(range_t));
    lw_mem_free(w.mods, MAX_EXCL * sizeof(range_t));
    lw_mem_free(w.own_lo, MAX_EXCL / 2 * sizeof(uintptr_t));
    lw_mem_free(w.own_hi, MAX_EXCL / 2 * sizeof(uintptr_t));
    lw_mem_free(w.heaps.v, MAX_EXCL * sizeof(range_t));
    lw_mem_free(stack, l->cap * sizeof(uint32_t) + 1);
    return err;
}

/* The caller's blocks, as the listing of lw_reach_classify. */
typedef struct {
    const lw_entry_t *blocks;
    size_t n;
} given_t;

static void list_given(lw_listing_t *l, void *arg)
{
    const given_t *g = arg;
    memcpy(l->v, g->blocks, g->n * sizeof(lw_entry_t));
    l->n = l->nheap = g->n;
}

int lw_reach_classify(const lw_entry_t *blocks, size_t n, uint8_t *cls)
{
    if (n == 0)
        return 0;
    lw_entry_t *copy = lw_mem_alloc(n * sizeof(lw_entry_t));
    uint8_t *tmp = lw_mem_alloc(n);
    int err = ENOMEM;
    if (copy && tmp) {
        given_t g = { blocks, n };
        lw_listing_t l = { copy, n, 0, 0, 0, NULL, NULL, NULL };
        err = lw_reach_snapshot(&l, list_given, &g, tmp, NULL);
        if (!err)
            memcpy(cls, tmp, n);
    }
    lw_mem_free(copy, n * sizeof(lw_entry_t));
    lw_mem_free(tmp, n);
    return err;
}
