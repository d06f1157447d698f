/* Turns the reachability scan's graph of blocks into facts about call sites: which definite site the lost blocks
 * belong to (LeakSanitizer's and valgrind's "direct" and "indirect" bytes of one record) and the chain of sites a
 * root holds each reachable site through. Built in the scanning copy (from mappings of its own) or in the process
 * that writes the dump (from lw_mem); the copy sends what it built to the writer. */
#include "retain.h"
#include "sys.h"
#include "tls.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NONE LW_LINK_NONE
#define PATH_MAX_SITES 16 /* sites of a retention path, the root's end kept */

typedef struct {
    uint64_t k, v;
} kv_t;

/* Where the building takes its memory: lw_mem in the process that writes the dump, mappings of its own in the
 * scanning copy (which may take no lock: another thread may have held lw_mem's when the copy was made). Zeroed
 * either way. */
static int in_copy;

static void *ralloc(size_t size)
{
    if (!in_copy)
        return lw_mem_alloc(size);
    void *p = lw_sys_mmap(NULL, (size + 4095) & ~(size_t)4095, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void rfree(void *p, size_t size)
{
    if (!in_copy)
        lw_mem_free(p, size);
    else if (p)
        lw_sys_munmap(p, (size + 4095) & ~(size_t)4095);
}

/* Heapsort by k, in place: no second copy, no allocation. */
static void sift(kv_t *a, size_t i, size_t n)
{
    kv_t x = a[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && a[c + 1].k > a[c].k)
            c++;
        if (a[c].k <= x.k)
            break;
        a[i] = a[c];
        i = c;
    }
    a[i] = x;
}

static void sort_kv(kv_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(a, i, n);
    for (size_t end = n; end-- > 1;) {
        kv_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

/* An open-addressing set of nonzero 64-bit values, for counting distinct sites and pairs in one pass instead of
 * sorting every block: the caller sizes it (a power of two, at least twice the values it will hold). */
typedef struct {
    uint64_t *v;
    size_t mask;
} set_t;

static int set_init(set_t *t, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    t->mask = cap - 1;
    t->v = ralloc(cap * sizeof(uint64_t));
    return t->v ? 0 : ENOMEM;
}

static void set_free(set_t *t)
{
    rfree(t->v, (t->mask + 1) * sizeof(uint64_t));
}

static size_t set_hash(const set_t *t, uint64_t x)
{
    return (size_t)((x * 0x9e3779b97f4a7c15ull) >> 17) & t->mask;
}

/* The slot of x: holding x, or empty (0) where x belongs. */
static uint64_t *set_slot(const set_t *t, uint64_t x)
{
    size_t h = set_hash(t, x);
    while (t->v[h] && t->v[h] != x)
        h = (h + 1) & t->mask;
    return &t->v[h];
}

/* The same, for slots that hold a key + 1 in their upper half and a number in the lower one. */
static uint64_t *key_slot(const set_t *t, uint32_t key)
{
    uint64_t up = (uint64_t)key + 1;
    size_t h = set_hash(t, up);
    while (t->v[h] && t->v[h] >> 32 != up)
        h = (h + 1) & t->mask;
    return &t->v[h];
}

/* Doubles a set of key slots (key_slot's), keeping what it holds. Returns 0 or ENOMEM (t unchanged). */
static int keys_grow(set_t *t)
{
    set_t u;
    if (set_init(&u, t->mask + 1) != 0)
        return ENOMEM;
    for (size_t h = 0; h <= t->mask; h++)
        if (t->v[h])
            *key_slot(&u, (uint32_t)((t->v[h] >> 32) - 1)) = t->v[h];
    set_free(t);
    *t = u;
    return 0;
}

static int copy_side(void *arg, const lw_entry_t *v, size_t nheap, const uint8_t *cls, lw_links_t *links, int fd);
static int parent_side(void *arg, int fd);

int lw_retain_prepare(lw_retain_t *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    r->cap = cap ? cap : 1;
    r->links.link = lw_mem_alloc(r->cap * sizeof(uint32_t));
    r->links.order = lw_mem_alloc(r->cap * sizeof(uint32_t));
    r->links.work = lw_mem_alloc(r->cap * sizeof(uint32_t));
    r->links.roots = lw_mem_alloc(r->cap * sizeof(lw_root_t));
    if (!r->links.link || !r->links.order || !r->links.work || !r->links.roots) {
        lw_retain_free(r);
        return ENOMEM;
    }
    r->links.in_copy = copy_side;
    r->links.in_parent = parent_side;
    r->links.arg = r;
    return 0;
}

static lw_rgroup_t *group_of(const lw_retain_t *r, uint32_t key)
{
    size_t lo = 0, hi = r->ng;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->g[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->ng && r->g[lo].key == key ? &r->g[lo] : NULL;
}

/* The groups, sorted by key, and the group of every block. Returns 0 or ENOMEM. */
static int make_groups(lw_retain_t *r, const lw_entry_t *v, size_t n)
{
    set_t t;
    r->gi = ralloc(n * sizeof(uint32_t));
    /* sized for a few hundred sites and grown as needed: a table sized for every block would be read whole */
    if (!r->gi || set_init(&t, 256) != 0) {
        rfree(r->gi, n * sizeof(uint32_t));
        r->gi = NULL;
        return ENOMEM;
    }
    /* a slot holds key + 1 above the group's number in order of discovery */
    for (size_t i = 0; i < n; i++) {
        uint32_t key = (uint32_t)(v[i].key >> 32);
        uint64_t *at = key_slot(&t, key);
        if (!*at) {
            if (2 * (r->ng + 1) > t.mask + 1) {
                if (keys_grow(&t) != 0) {
                    set_free(&t);
                    rfree(r->gi, n * sizeof(uint32_t));
                    r->gi = NULL;
                    r->ng = 0;
                    return ENOMEM;
                }
                at = key_slot(&t, key);
            }
            *at = ((uint64_t)key + 1) << 32 | r->ng++;
        }
        r->gi[i] = (uint32_t)*at;
    }
    kv_t *kv = ralloc(r->ng * sizeof(kv_t));
    r->g = ralloc(r->ng * sizeof(lw_rgroup_t));
    if (kv && r->g) {
        size_t k = 0;
        for (size_t h = 0; h <= t.mask; h++)
            if (t.v[h])
                kv[k++] = (kv_t){ (t.v[h] >> 32) - 1, (uint32_t)t.v[h] };
        sort_kv(kv, r->ng);
        uint32_t *to = (uint32_t *)t.v; /* the set is done with: it holds old number -> sorted number now */
        for (size_t g = 0; g < r->ng; g++) {
            r->g[g] = (lw_rgroup_t){ .key = (uint32_t)kv[g].k, .pos = -1, .root = NONE, .rep = NONE };
            to[kv[g].v] = (uint32_t)g;
        }
        for (size_t i = 0; i < n; i++)
            r->gi[i] = to[r->gi[i]];
    }
    rfree(kv, r->ng * sizeof(kv_t));
    set_free(&t);
    return r->g ? 0 : ENOMEM;
}

/* Reachable blocks, in the order reached (every block after the one that reached it): each block's root record
 * goes into rootof, and its link becomes the nearest block on its way up that is of another group, so that a
 * site's chain is walked in as many steps as it has sites. A group's first block reached represents it. */
static void shorten_paths(lw_retain_t *r, uint32_t *rootof)
{
    lw_links_t *l = &r->links;
    for (size_t k = 0; k < l->norder; k++) {
        /* the blocks come in the order reached, all over the arrays: what a step reads is prefetched a few steps
         * ahead, the block's own entries first, then those of the block that reached it */
        if (k + 16 < l->norder && l->order[k + 16] < r->n) {
            uint32_t j = l->order[k + 16];
            __builtin_prefetch(&l->link[j]);
            __builtin_prefetch(&r->gi[j]);
            __builtin_prefetch(&rootof[j], 1);
        }
        if (k + 8 < l->norder && l->order[k + 8] < r->n) {
            uint32_t q = l->link[l->order[k + 8]];
            if (q < r->n) {
                __builtin_prefetch(&rootof[q]);
                __builtin_prefetch(&r->gi[q]);
                __builtin_prefetch(&l->link[q]);
            }
        }
        uint32_t i = l->order[k], p = l->link[i];
        if (i >= r->n)
            continue;
        if (p != NONE && (p & LW_LINK_ROOT) && (p & ~LW_LINK_ROOT) < l->nroots) {
            rootof[i] = p & ~LW_LINK_ROOT;
            l->link[i] = NONE;
        } else if (p < r->n) {
            rootof[i] = rootof[p];
            l->link[i] = r->gi[p] != r->gi[i] ? p : l->link[p];
        } else {
            rootof[i] = NONE;
            l->link[i] = NONE;
        }
        if (r->g[r->gi[i]].rep == NONE)
            r->g[r->gi[i]].rep = i;
    }
}

/* The group a lost block counts under: its definite block's, or for a group no definite block heads, the group
 * holding most of its bytes (the first of them by key on a tie), found for each such head into *best (indexed
 * by block; left NULL when no group lacks a definite head, as is usual). */
static int cycle_sites(lw_retain_t *r, const lw_entry_t *v, const uint8_t *cls, uint32_t **best)
{
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t h = r->links.link[i];
        m += cls[i] != LW_CLASS_REACHABLE && h < r->n && cls[h] == LW_CLASS_INDIRECT;
    }
    if (m == 0)
        return 0;
    kv_t *kv = ralloc(m * sizeof(kv_t));
    *best = ralloc(r->n * sizeof(uint32_t));
    if (!kv || !*best) {
        rfree(kv, m * sizeof(kv_t));
        return ENOMEM;
    }
    for (size_t i = 0; i < r->n; i++)
        (*best)[i] = NONE;
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t h = r->links.link[i];
        if (cls[i] != LW_CLASS_REACHABLE && h < r->n && cls[h] == LW_CLASS_INDIRECT)
            kv[k++] = (kv_t){ (uint64_t)h << 32 | r->gi[i], LW_ENTRY_SIZE(&v[i]) };
    }
    sort_kv(kv, m);
    uint64_t top = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        uint64_t sum = 0;
        while (j < m && kv[j].k == kv[i].k)
            sum += kv[j++].v;
        uint32_t h = (uint32_t)(kv[i].k >> 32);
        if (i == 0 || h != (uint32_t)(kv[i - 1].k >> 32) || sum > top) {
            (*best)[h] = (uint32_t)kv[i].k;
            top = sum;
        }
        i = j;
    }
    rfree(kv, m * sizeof(kv_t));
    return 0;
}

/* Sums every lost block into the group it counts under, and lists the groups each root group holds. */
static int attribute(lw_retain_t *r, const lw_entry_t *v, const uint8_t *cls, const uint32_t *best)
{
    /* sized for the lost blocks, which are few as a rule (a set sized for every block would be read whole) */
    size_t lost = 0;
    for (size_t i = 0; i < r->n; i++)
        lost += cls[i] != LW_CLASS_REACHABLE && cls[i] != LW_CLASS_NONE;
    set_t seen;
    if (set_init(&seen, lost) != 0)
        return ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t h = r->links.link[i];
        if (cls[i] == LW_CLASS_REACHABLE || cls[i] == LW_CLASS_NONE || h >= r->n)
            continue;
        uint32_t root = cls[h] == LW_CLASS_DEFINITE ? r->gi[h] : best ? best[h] : NONE, gi = r->gi[i];
        if (root >= r->ng)
            continue;
        lw_rgroup_t *R = &r->g[root], *G = &r->g[gi];
        uint64_t size = LW_ENTRY_SIZE(&v[i]);
        R->is_root = 1;
        R->cycle = cls[h] == LW_CLASS_INDIRECT;
        if (root == gi) {
            R->dir_count++;
            R->dir_bytes += size;
        } else {
            R->ind_count++;
            R->ind_bytes += size;
            /* each pair once, + 1: a pair of group 0 with itself never occurs, but 0 is the empty slot */
            uint64_t *slot = set_slot(&seen, ((uint64_t)root << 32 | gi) + 1);
            m += !*slot;
            *slot = ((uint64_t)root << 32 | gi) + 1;
            if (G->root == NONE)
                G->root = root;
        }
    }
    kv_t *kv = ralloc(m * sizeof(kv_t) + 1);
    r->pairs_size = m * sizeof(uint64_t) + 1;
    r->pairs = ralloc(r->pairs_size);
    if (kv && r->pairs) {
        size_t k = 0;
        for (size_t h = 0; h <= seen.mask; h++)
            if (seen.v[h])
                kv[k++].k = seen.v[h] - 1;
        sort_kv(kv, m);
        for (size_t i = 0; i < m; i++)
            r->pairs[r->npairs++] = kv[i].k;
    }
    int err = kv && r->pairs ? 0 : ENOMEM;
    rfree(kv, m * sizeof(kv_t) + 1);
    set_free(&seen);
    return err;
}

/* held_by of every reachable group, taken from the graph while it is at hand: the root of the group's first
 * block reached and the groups on the way down, the root's end kept. Returns 0 or ENOMEM. */
static int held_by_all(lw_retain_t *r)
{
    r->held = ralloc(r->ng * sizeof(lw_rheld_t) + 1);
    if (!r->held)
        return ENOMEM;
    for (size_t gi = 0; gi < r->ng; gi++) {
        const lw_rgroup_t *g = &r->g[gi];
        lw_rheld_t *h = &r->held[gi];
        if (g->rep == NONE)
            continue;
        uint32_t rec = r->links.work[g->rep];
        if (rec >= r->links.nroots)
            continue;
        h->root = r->links.roots[rec];
        h->valid = 1;
        size_t len = 0, steps = 0;
        for (uint32_t x = g->rep; x != NONE && x < r->n && steps <= r->n; x = r->links.link[x], steps++)
            len++;
        size_t skip = len > PATH_MAX_SITES ? len - PATH_MAX_SITES : 0, k = 0;
        steps = 0;
        for (uint32_t x = g->rep; x != NONE && x < r->n && k < PATH_MAX_SITES && steps <= r->n;
             x = r->links.link[x], steps++) {
            if (skip) {
                skip--;
                continue;
            }
            h->chain[k++] = r->gi[x];
        }
        h->len = (uint32_t)k;
    }
    return 0;
}

static void build(lw_retain_t *r, const lw_entry_t *v, size_t nheap, const uint8_t *cls)
{
    r->n = nheap;
    if (!r->links.link || nheap == 0 || nheap > r->cap)
        return;
    /* the scan's work stack is free now: it holds each reachable block's root record */
    uint32_t *scratch = r->links.work;
    if (make_groups(r, v, nheap) != 0)
        return;
    shorten_paths(r, scratch);
    uint32_t *best = NULL;
    int err = cycle_sites(r, v, cls, &best);
    if (!err)
        err = attribute(r, v, cls, best);
    rfree(best, nheap * sizeof(uint32_t));
    if (!err)
        err = held_by_all(r);
    r->built = !err;
}

/* What the copy sends: the header, then the groups, the pairs and the held_by of each group. */
typedef struct {
    uint64_t built, ng, npairs;
} blob_t;

static int copy_side(void *arg, const lw_entry_t *v, size_t nheap, const uint8_t *cls, lw_links_t *links, int fd)
{
    lw_retain_t *r = arg;
    (void)links; /* r->links itself */
    in_copy = 1;
    build(r, v, nheap, cls);
    blob_t b = { (uint64_t)r->built, r->built ? r->ng : 0, r->built ? r->npairs : 0 };
    if (lw_sys_write_all(fd, &b, sizeof(b)))
        return -1;
    if (b.built && (lw_sys_write_all(fd, r->g, b.ng * sizeof(lw_rgroup_t)) ||
                    lw_sys_write_all(fd, r->pairs, b.npairs * sizeof(uint64_t)) ||
                    lw_sys_write_all(fd, r->held, b.ng * sizeof(lw_rheld_t))))
        return -1;
    return 0;
}

/* Reads what copy_side sent. Without memory for it the groups are read and dropped: the dump goes without. */
static int parent_side(void *arg, int fd)
{
    lw_retain_t *r = arg;
    blob_t b;
    if (lw_sys_read_all(fd, &b, sizeof(b)))
        return -1;
    if (!b.built)
        return 0;
    if (b.ng > r->cap || b.npairs > (uint64_t)r->cap * r->cap)
        return -1;
    r->g = lw_mem_alloc(b.ng * sizeof(lw_rgroup_t) + 1);
    r->pairs_size = b.npairs * sizeof(uint64_t) + 1;
    r->pairs = lw_mem_alloc(r->pairs_size);
    r->held = lw_mem_alloc(b.ng * sizeof(lw_rheld_t) + 1);
    int have = r->g && r->pairs && r->held;
    char sink[4096];
    size_t parts[3] = { b.ng * sizeof(lw_rgroup_t), b.npairs * sizeof(uint64_t), b.ng * sizeof(lw_rheld_t) };
    void *to[3] = { r->g, r->pairs, r->held };
    for (int k = 0; k < 3; k++) {
        if (have) {
            if (lw_sys_read_all(fd, to[k], parts[k]))
                return -1;
            continue;
        }
        for (size_t left = parts[k]; left;) {
            size_t n = left < sizeof(sink) ? left : sizeof(sink);
            if (lw_sys_read_all(fd, sink, n))
                return -1;
            left -= n;
        }
    }
    r->ng = b.ng;
    r->npairs = b.npairs;
    r->built = have;
    return 0;
}

void lw_retain_place(lw_retain_t *r, uint32_t key, size_t pos)
{
    lw_rgroup_t *g = r->built ? group_of(r, key) : NULL;
    if (g)
        g->pos = (int32_t)pos;
}

static void out_member(lw_out_t *o, const char *name, uint64_t v)
{
    lw_out_s(o, ", \"");
    lw_out_s(o, name);
    lw_out_s(o, "\": ");
    lw_out_u(o, v);
}

static const char *root_name(uint32_t kind)
{
    static const char *const names[] = { "global", "stack", "registers", "memory", "tls", "heap" };
    return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "memory";
}

/* held_by: the root of the group's first block reached and the sites on the way down, the root's end first. */
static void out_held_by(lw_out_t *o, const lw_retain_t *r, const lw_rgroup_t *g)
{
    const lw_rheld_t *h = &r->held[g - r->g];
    if (!h->valid)
        return;
    const lw_root_t *root = &h->root;
    lw_out_s(o, ",\n     \"held_by\": {\"root\": \"");
    lw_out_s(o, root_name(root->kind));
    lw_out_s(o, "\", \"address\": ");
    lw_out_hexq(o, root->addr);
    uintptr_t image;
    uint64_t offset;
    if (root->kind == LW_ROOT_TLS) {
        lw_out_s(o, ", \"thread_pointer\": ");
        lw_out_hexq(o, root->frame);
        if (lw_tls_place(root->frame, root->addr, &image, &offset)) {
            lw_out_s(o, ", \"tls_image\": ");
            lw_out_hexq(o, image);
            lw_out_s(o, ", \"tls_offset\": ");
            lw_out_u(o, offset);
        }
    } else if (root->frame) {
        lw_out_s(o, ", \"frame\": ");
        lw_out_hexq(o, root->frame);
    }
    lw_out_s(o, ", \"path\": [");
    for (size_t i = h->len, first = 1; i-- > 0;) {
        if (h->chain[i] >= r->ng || r->g[h->chain[i]].pos < 0)
            continue;
        if (!first)
            lw_out_s(o, ", ");
        lw_out_u(o, (uint64_t)r->g[h->chain[i]].pos);
        first = 0;
    }
    lw_out_s(o, "]}");
}

void lw_retain_out(lw_out_t *o, const lw_retain_t *r, uint32_t key)
{
    const lw_rgroup_t *g = r->built ? group_of(r, key) : NULL;
    if (!g)
        return;
    if (g->is_root) {
        out_member(o, "indirect_count", g->ind_count);
        out_member(o, "indirect_bytes", g->ind_bytes);
        lw_out_s(o, ", \"indirect_sites\": [");
        uint32_t me = (uint32_t)(g - r->g);
        size_t lo = 0, hi = r->npairs;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (r->pairs[mid] >> 32 < me)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo, first = 1; i < r->npairs && r->pairs[i] >> 32 == me; i++) {
            int32_t pos = r->g[(uint32_t)r->pairs[i]].pos;
            if (pos < 0)
                continue;
            if (!first)
                lw_out_s(o, ", ");
            lw_out_u(o, (uint64_t)pos);
            first = 0;
        }
        lw_out_s(o, "]");
        if (g->cycle) {
            lw_out_s(o, ", \"cycle\": true");
            out_member(o, "direct_count", g->dir_count);
            out_member(o, "direct_bytes", g->dir_bytes);
        }
    } else if (g->root != NONE && r->g[g->root].pos >= 0) {
        out_member(o, "root_site", (uint64_t)r->g[g->root].pos);
    }
    if (g->rep != NONE)
        out_held_by(o, r, g);
}

void lw_retain_free(lw_retain_t *r)
{
    lw_mem_free(r->links.link, r->cap * sizeof(uint32_t));
    lw_mem_free(r->links.order, r->cap * sizeof(uint32_t));
    lw_mem_free(r->links.work, r->cap * sizeof(uint32_t));
    lw_mem_free(r->links.roots, r->cap * sizeof(lw_root_t));
    /* gi is the copy's alone */
    lw_mem_free(r->g, r->ng * sizeof(lw_rgroup_t) + 1);
    lw_mem_free(r->pairs, r->pairs_size);
    lw_mem_free(r->held, r->ng * sizeof(lw_rheld_t) + 1);
    memset(r, 0, sizeof(*r));
}
