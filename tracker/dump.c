/* The dump writer: groups every live record of this process by kind and call site and writes the versioned JSON
 * described in docs/FORMAT.md, using only write(2) and the internal allocator; dumpfile.c gives it its file. */
#include "allocator.h"
#include "internal.h"
#include "json_out.h"
#include "object_span.h"
#include "retain.h"
#include "sort.h"
#include "sys.h"
#include "warnings.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- grouping ------------------------------------------------------------------------------------------ */

/* The sort key of an entry: kind (3 bits) | class (2 bits) | site (27 bits) | born_ms (32 bits), so that a sort
 * groups by kind, reachability class and site, and puts the oldest first within a group. */
typedef lw_entry_t entry_t;

#define KEY(kind, cls, site, born)                                                                            \
    (((uint64_t)(kind) << 61) | ((uint64_t)(cls) << 59) | ((uint64_t)((site) & 0x7ffffff) << 32) | (born))
#define KEY_KIND(k) ((uint32_t)((k) >> 61)) /* LW_ENTRY_KIND reads the same */
#define KEY_CLASS(k) ((uint32_t)((k) >> 59) & 3u)
#define KEY_SITE(k) ((uint32_t)((k) >> 32) & 0x7ffffffu)

typedef struct {
    entry_t *v;
    size_t n, cap, dropped;
} collect_t;

static void collect_one(const lw_live_t *r, void *arg)
{
    collect_t *c = arg;
    if (r->inherited && r->kind != LW_HEAP)
        return;
    if (c->n == c->cap) {
        c->dropped++;
        return;
    }
    entry_t *e = &c->v[c->n++];
    uint64_t size = r->kind == LW_FD ? lw_stream_fd(r) : r->size;
    e->key = KEY(r->kind, LW_CLASS_NONE, r->site, r->born_ms);
    e->handle = r->handle;
    e->meta = (size & LW_ENTRY_SIZE_MASK) | ((uint64_t)r->flags << 48) | (r->inherited ? LW_ENTRY_INHERITED : 0);
}

/* Drops the parent's blocks and the ignored ones (leakwatch.h) once the scan has used them. Returns the new
 * count. */
static size_t drop_inherited(entry_t *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(v[i].meta & LW_ENTRY_INHERITED) && !(LW_ENTRY_FLAGS(&v[i]) & LW_FLAG_IGNORED))
            v[k++] = v[i];
    return k;
}

#define HEAP_SORT_MAX 80 /* the largest element heap_sort takes, in bytes */

/* Heapsort in place, for the groups (the entries take lw_sort_entries): no allocation. `after(a, b)` says that
 * a sorts after b. Inlined into its caller, so that the element size is a constant and the comparison a direct
 * call. */
static inline __attribute__((always_inline)) void heap_sort(void *base, size_t n, size_t size,
                                                            int (*after)(const void *, const void *))
{
    char *v = base, x[HEAP_SORT_MAX];
    /* a max-heap on "sorts after": the roots moved to the end leave the array in ascending order */
    for (size_t start = n / 2, end = n; end > 1;) {
        size_t i;
        if (start > 0) {
            i = --start; /* building the heap */
        } else {
            --end; /* the root, the last in order of what is left, to the end */
            memcpy(x, v, size);
            memcpy(v, v + end * size, size);
            memcpy(v + end * size, x, size);
            i = 0;
        }
        /* sift element i down, moving the hole rather than swapping */
        memcpy(x, v + i * size, size);
        for (;;) {
            size_t c = 2 * i + 1;
            if (c >= end)
                break;
            if (c + 1 < end && after(v + (c + 1) * size, v + c * size))
                c++;
            if (!after(v + c * size, x))
                break;
            memcpy(v + i * size, v + c * size, size);
            i = c;
        }
        memcpy(v + i * size, x, size);
    }
}

/* The number of heap entries v[0, n) starts with. */
static size_t heap_prefix(const entry_t *v, size_t n)
{
    size_t k = 0;
    while (k < n && KEY_KIND(v[k].key) == LW_HEAP)
        k++;
    return k;
}

/* The listing for the scan, taken in the scanning copy: every record, the inherited ones too (a forked child's
 * own blocks may be reachable only through them), sorted by address with the heap first. */
void lw_dump_list(lw_listing_t *l, void *arg)
{
    (void)arg;
    collect_t c = { l->v, 0, l->cap, 0 };
    size_t nheap;
    if (lw_tables_walk_by_address(collect_one, &c) == 0) {
        /* the heap came in address order: only the other kinds after it are sorted */
        nheap = heap_prefix(c.v, c.n);
        lw_sort_entries(c.v + nheap, c.n - nheap, LW_SORT_ADDRESS);
    } else {
        lw_tables_walk_all(collect_one, &c);
        lw_sort_entries(c.v, c.n, LW_SORT_ADDRESS);
        nheap = heap_prefix(c.v, c.n);
    }
    l->n = c.n;
    l->nheap = nheap;
    l->dropped = c.dropped;
}

static const char *class_name(uint32_t c)
{
    switch (c) {
    case LW_CLASS_DEFINITE:
        return "definite";
    case LW_CLASS_INDIRECT:
        return "indirect";
    case LW_CLASS_REACHABLE:
        return "reachable";
    }
    return NULL;
}

/* The kinds whose records' sizes are bytes (the others carry a detail value there). */
#define SIZED(kind) ((kind) == LW_HEAP || (kind) == LW_MMAP)

/* ---- the groups of a dump ---------------------------------------------------------------------------------- */

/* A record shown as a sample of its group. */
typedef struct {
    uint64_t handle, meta;
    uint32_t born;
} sample_t;

typedef struct {
    uint32_t kind, cls, site;
    uint32_t nsamples;
    uint64_t count, bytes;
    double wcount, wbytes; /* with sampling, the estimates (each block weighed, see lw_sample_weight) */
    uint64_t est;          /* with sampling, the estimated count (bytes then holds the estimated bytes) */
    uint32_t oldest, median; /* the birth of the oldest record and of the median one by age */
    uint32_t id;             /* its number in order of discovery: its samples start at samples[id * LW_SAMPLES] */
} group_t;
_Static_assert(sizeof(group_t) <= HEAP_SORT_MAX, "heap_sort's element");

/* The groups of a dump by kind, class and site, found in one pass over the records instead of a sort of them:
 * g[0, n) with room for cap, LW_SAMPLES samples each, and an open-addressing table from a group's key (an
 * entry's key >> 32) + 1, in the upper half of a slot, to its number, in the lower half. In the scanning copy
 * (in_copy) the memory comes from mappings of its own, which may take no lock, else from lw_mem. */
typedef struct {
    group_t *g;
    sample_t *samples;
    size_t n, cap;
    uint64_t *slot;
    size_t mask;
    uint64_t records; /* the records the groups hold */
    int in_copy;
} groups_t;

static void *gmem(const groups_t *gs, size_t size)
{
    if (!gs->in_copy)
        return lw_mem_alloc(size);
    void *p = lw_sys_mmap(NULL, (size + 4095) & ~(size_t)4095, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void gfree(const groups_t *gs, void *p, size_t size)
{
    if (!gs->in_copy)
        lw_mem_free(p, size);
    else if (p)
        lw_sys_munmap(p, (size + 4095) & ~(size_t)4095);
}

static void groups_free(groups_t *gs)
{
    gfree(gs, gs->g, gs->cap * sizeof(group_t) + 1);
    gfree(gs, gs->samples, gs->cap * LW_SAMPLES * sizeof(sample_t) + 1);
    gfree(gs, gs->slot, (gs->mask + 1) * sizeof(uint64_t));
    int in_copy = gs->in_copy;
    memset(gs, 0, sizeof(*gs));
    gs->in_copy = in_copy;
}

static uint64_t *group_slot(const groups_t *gs, uint32_t key)
{
    uint64_t up = (uint64_t)key + 1;
    size_t h = (size_t)((up * 0x9e3779b97f4a7c15ull) >> 20) & gs->mask;
    while (gs->slot[h] && gs->slot[h] >> 32 != up)
        h = (h + 1) & gs->mask;
    return &gs->slot[h];
}

/* Doubles the room for groups (and the table, kept at most half full). Returns 0 or ENOMEM (gs unchanged). */
static int groups_grow(groups_t *gs)
{
    size_t cap = gs->cap ? 2 * gs->cap : 64, slots = 4 * cap;
    groups_t to = { gmem(gs, cap * sizeof(group_t) + 1), gmem(gs, cap * LW_SAMPLES * sizeof(sample_t) + 1), gs->n,
                    cap, gmem(gs, slots * sizeof(uint64_t)), slots - 1, gs->records, gs->in_copy };
    if (!to.g || !to.samples || !to.slot) {
        groups_free(&to);
        return ENOMEM;
    }
    if (gs->n) {
        memcpy(to.g, gs->g, gs->n * sizeof(group_t));
        memcpy(to.samples, gs->samples, gs->n * LW_SAMPLES * sizeof(sample_t));
    }
    for (size_t i = 0; i < gs->n; i++) {
        uint32_t key = (uint32_t)(KEY(to.g[i].kind, to.g[i].cls, to.g[i].site, 0) >> 32);
        *group_slot(&to, key) = ((uint64_t)key + 1) << 32 | i;
    }
    groups_free(gs);
    *gs = to;
    return 0;
}

/* The number of the group of `key`, made on first sight; -1 without memory for it. */
static ptrdiff_t group_number(groups_t *gs, uint32_t key)
{
    if (gs->slot) {
        uint64_t s = *group_slot(gs, key);
        if (s)
            return (ptrdiff_t)(uint32_t)s;
    }
    if (gs->n == gs->cap && groups_grow(gs) != 0)
        return -1;
    size_t i = gs->n++;
    uint64_t k = (uint64_t)key << 32;
    gs->g[i] = (group_t){ .kind = KEY_KIND(k), .cls = KEY_CLASS(k), .site = KEY_SITE(k), .id = (uint32_t)i };
    *group_slot(gs, key) = ((uint64_t)key + 1) << 32 | i;
    return (ptrdiff_t)i;
}

/* Keeps e among the group's LW_SAMPLES oldest records, by birth and then by address. */
static void add_sample(groups_t *gs, group_t *g, const entry_t *e)
{
    sample_t *s = &gs->samples[(size_t)g->id * LW_SAMPLES];
    sample_t x = { e->handle, e->meta, (uint32_t)e->key };
    size_t k = g->nsamples;
    if (k == LW_SAMPLES) {
        if (x.born > s[k - 1].born || (x.born == s[k - 1].born && x.handle > s[k - 1].handle))
            return;
        k--;
    } else {
        g->nsamples++;
    }
    while (k > 0 && (s[k - 1].born > x.born || (s[k - 1].born == x.born && s[k - 1].handle > x.handle))) {
        s[k] = s[k - 1];
        k--;
    }
    s[k] = x;
}

/* The median births of the groups whose samples do not hold it (the median record is the count / 2-th by
 * age): a radix selection on the births less the oldest birth of all, a 4-bit digit a pass over v[0, n) from
 * the top, each group's digits counted among its records that share the digits chosen so far for it. Passes are
 * sequential and v is only read, so that a million records cost a few passes over memory rather than a move of
 * each to its group's place. The keys' upper halves hold the group numbers by then. Returns 0 or ENOMEM. */
typedef struct {
    uint64_t prefix; /* the digits chosen, of the birth less `lo` */
    uint64_t rank;   /* the median's rank among the records that share them */
    uint32_t count[16];
    int want;
} pick_t;

static int group_medians(groups_t *gs, const entry_t *v, size_t n)
{
    uint32_t lo = UINT32_MAX, hi = 0;
    int any = 0;
    for (size_t i = 0; i < gs->n; i++) {
        group_t *g = &gs->g[i];
        if (g->count / 2 < g->nsamples)
            g->median = gs->samples[(size_t)g->id * LW_SAMPLES + g->count / 2].born;
        else
            any = 1;
    }
    if (!any)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t born = (uint32_t)v[i].key;
        lo = born < lo ? born : lo;
        hi = born > hi ? born : hi;
    }
    size_t bytes = gs->n * sizeof(pick_t);
    pick_t *p = gmem(gs, bytes);
    if (!p)
        return ENOMEM;
    for (size_t i = 0; i < gs->n; i++) {
        p[i].want = gs->g[i].count / 2 >= gs->g[i].nsamples;
        p[i].rank = gs->g[i].count / 2;
    }
    unsigned bits = hi > lo ? 32 - (unsigned)__builtin_clz(hi - lo) : 1;
    for (int shift = (int)((bits + 3) / 4 * 4) - 4; shift >= 0; shift -= 4) {
        for (size_t i = 0; i < gs->n; i++)
            memset(p[i].count, 0, sizeof(p[i].count));
        for (size_t i = 0; i < n; i++) {
            pick_t *q = &p[v[i].key >> 32];
            uint64_t b = (uint32_t)v[i].key - lo;
            if (q->want && b >> (shift + 4) == q->prefix)
                q->count[(b >> shift) & 15]++;
        }
        for (size_t i = 0; i < gs->n; i++) {
            pick_t *q = &p[i];
            if (!q->want)
                continue;
            unsigned d = 0;
            while (q->rank >= q->count[d]) /* the counts add up to more than rank: d stays below 16 */
                q->rank -= q->count[d++];
            q->prefix = q->prefix << 4 | d;
        }
    }
    for (size_t i = 0; i < gs->n; i++)
        if (p[i].want)
            gs->g[i].median = lo + (uint32_t)p[i].prefix;
    gfree(gs, p, bytes);
    return 0;
}

/* Groups the records v[0, n) by kind, class and site into gs (empty, its in_copy set): each group's count and
 * bytes (and estimates, with sampling), the birth of its oldest and of its median record, and its LW_SAMPLES
 * oldest records. The parent's blocks and the ignored ones are left out, which moves records in v, and the
 * keys of those kept name their groups afterwards. Returns 0, or ENOMEM with gs empty. */
static int group_entries(groups_t *gs, entry_t *v, size_t n)
{
    n = drop_inherited(v, n);
    for (size_t i = 0; i < n; i++) {
        ptrdiff_t gi = group_number(gs, (uint32_t)(v[i].key >> 32));
        if (gi < 0) {
            groups_free(gs);
            return ENOMEM;
        }
        group_t *g = &gs->g[gi];
        uint64_t bytes = SIZED(g->kind) ? LW_ENTRY_SIZE(&v[i]) : 0;
        g->count++;
        g->bytes += bytes;
        if (lw_sample_mean) {
            double w = g->kind == LW_HEAP ? lw_sample_weight(bytes) : 1;
            g->wcount += w;
            g->wbytes += w * (double)bytes;
        }
        add_sample(gs, g, &v[i]);
        v[i].key = (uint64_t)gi << 32 | (uint32_t)v[i].key;
    }
    for (size_t i = 0; i < gs->n; i++)
        gs->g[i].oldest = gs->samples[(size_t)gs->g[i].id * LW_SAMPLES].born;
    if (group_medians(gs, v, n) != 0) {
        groups_free(gs);
        return ENOMEM;
    }
    gs->records = n;
    return 0;
}

/* What the scanning copy sends of its groups (lw_listing_t's send): the count, the groups, their samples. */
static int send_groups(void *arg, lw_listing_t *l, int fd)
{
    (void)arg;
    groups_t gs = { .in_copy = 1 };
    if (group_entries(&gs, l->v, l->n) != 0)
        return -1; /* the scan fails: the dump goes without classes, and says so */
    uint64_t head[2] = { gs.n, gs.records };
    return lw_sys_write_all(fd, head, sizeof(head)) || lw_sys_write_all(fd, gs.g, gs.n * sizeof(group_t)) ||
                   lw_sys_write_all(fd, gs.samples, gs.n * LW_SAMPLES * sizeof(sample_t))
               ? -1
               : 0;
}

static int receive_groups(void *arg, int fd)
{
    groups_t *gs = arg;
    uint64_t head[2];
    if (lw_sys_read_all(fd, head, sizeof(head)) || head[0] > UINT32_MAX)
        return -1;
    size_t n = (size_t)head[0];
    gs->g = lw_mem_alloc(n * sizeof(group_t) + 1);
    gs->samples = lw_mem_alloc(n * LW_SAMPLES * sizeof(sample_t) + 1);
    gs->cap = n;
    if (!gs->g || !gs->samples || lw_sys_read_all(fd, gs->g, n * sizeof(group_t)) ||
        lw_sys_read_all(fd, gs->samples, n * LW_SAMPLES * sizeof(sample_t))) {
        groups_free(gs);
        return -1;
    }
    gs->n = n;
    gs->records = head[1];
    return 0;
}

/* Lists the records and classifies the heap blocks at one moment (lw_reach_snapshot), groups them (in the
 * scanning copy, which sends the groups into gs rather than the records) and the scan's graph by site into ret
 * (left empty without memory for it). Returns 0, or an errno value with nothing listed (c->n 0, gs empty). */
static int list_classified(collect_t *c, lw_retain_t *ret, groups_t *gs)
{
    uint8_t *cls = lw_mem_alloc(c->cap + 1);
    lw_listing_t l = { c->v, c->cap, 0, 0, 0, send_groups, receive_groups, gs };
    lw_links_t *links = lw_retain_prepare(ret, c->cap) == 0 ? &ret->links : NULL;
    int err = cls ? lw_reach_snapshot(&l, lw_dump_list, NULL, cls, links) : ENOMEM;
    c->n = err ? 0 : l.n;
    c->dropped = err ? 0 : l.dropped;
    if (err)
        groups_free(gs);
    lw_mem_free(cls, c->cap + 1);
    return err;
}

/* The order of the sites in a dump: most bytes first, then most records, then by kind, class and site. */
static int group_after(const void *pa, const void *pb)
{
    const group_t *a = pb, *b = pa; /* a sorts before b: b sorts after a */
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    if (a->count != b->count)
        return a->count > b->count;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    if (a->cls != b->cls)
        return a->cls < b->cls;
    return a->site < b->site;
}

/* ---- process facts ------------------------------------------------------------------------------------- */

static void out_argv(lw_out_t *o)
{
    static char cmd[16384];
    ssize_t n = lw_read_file("/proc/self/cmdline", cmd, sizeof(cmd));
    lw_out_s(o, "[");
    size_t start = 0;
    int first = 1;
    for (ssize_t i = 0; i < n; i++) {
        if (cmd[i] == '\0') {
            if (!first)
                lw_out_s(o, ",");
            lw_out_str(o, cmd + start, (size_t)i - start);
            first = 0;
            start = (size_t)i + 1;
        }
    }
    lw_out_s(o, "]");
}

static void out_exe(lw_out_t *o)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    lw_out_str(o, path, n > 0 ? (size_t)n : 0);
}

typedef struct {
    lw_out_t *o;
    int count;
} mods_t;

static void out_build_id(lw_out_t *o, struct dl_phdr_info *info)
{
    static const char hex[] = "0123456789abcdef";
    lw_out_s(o, "\"");
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof(*nh);
            const unsigned char *desc = (const unsigned char *)name + ((nh->n_namesz + 3) & ~3u);
            if ((const char *)desc + nh->n_descsz > end)
                break;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                for (unsigned k = 0; k < nh->n_descsz; k++) {
                    char b[2] = { hex[desc[k] >> 4], hex[desc[k] & 15] };
                    lw_out_mem(o, b, 2);
                }
                lw_out_s(o, "\"");
                return;
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    lw_out_s(o, "\"");
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    mods_t *m = arg;
    lw_out_t *o = m->o;
    uintptr_t lo, hi;
    lw_object_span(info, 0, &lo, &hi);
    if (hi == 0)
        return 0;
    lw_out_s(o, m->count++ ? ",\n    {\"path\": " : "\n    {\"path\": ");
    if (m->count == 1 || !info->dlpi_name || !info->dlpi_name[0])
        out_exe(o);
    else
        lw_out_str(o, info->dlpi_name, strlen(info->dlpi_name));
    lw_out_s(o, ", \"build_id\": ");
    out_build_id(o, info);
    lw_out_s(o, ", \"bias\": ");
    lw_out_hexq(o, info->dlpi_addr);
    lw_out_s(o, ", \"start\": ");
    lw_out_hexq(o, lo);
    lw_out_s(o, ", \"end\": ");
    lw_out_hexq(o, hi);
    lw_out_s(o, "}");
    return 0;
}

/* ---- the dump ------------------------------------------------------------------------------------------ */

static lw_lock_t dump_lock;

void lw_dump_lock_for_fork(void)
{
    lw_lock(&dump_lock);
}

void lw_dump_unlock_for_fork(void)
{
    lw_unlock(&dump_lock);
}

void lw_dump_settle(void)
{
    lw_lock(&dump_lock);
    lw_reach_reap();
    lw_unlock(&dump_lock);
}

void lw_dump_forked(void)
{
    /* taken by the prepare handler of fork, in the thread that is now the child's only one */
    lw_unlock(&dump_lock);
}
static lw_out_t out_buf;

static void out_frames(lw_out_t *o, uint32_t site)
{
    uintptr_t frames[LW_MAX_DEPTH];
    int n = lw_site_frames(site, frames, LW_MAX_DEPTH);
    lw_out_s(o, "[");
    for (int i = 0; i < n && i < LW_MAX_DEPTH; i++) {
        if (i)
            lw_out_s(o, ", ");
        lw_out_hexq(o, frames[i]);
    }
    lw_out_s(o, "]");
}

static void out_handle(lw_out_t *o, uint32_t kind, uint64_t h, uint64_t flags)
{
    /* a descriptor is a number; a FILE* or DIR* (fd kind too) is an address */
    if ((kind == LW_FD && !(flags & (LW_FLAG_FILE | LW_FLAG_DIR))) || kind == LW_SOCKET) {
        lw_out_s(o, "\"");
        lw_out_u(o, h);
        lw_out_s(o, "\"");
    } else {
        lw_out_hexq(o, h);
    }
}

/* The warnings recorded so far (warnings.c): closes of descriptors that were not open and descriptors
 * inherited by an exec'd program, each with its stack and the other stack involved. */
/* The members that say what a non-heap sample refers to (docs/FORMAT.md, samples): values only. */
static void out_description(lw_out_t *o, const lw_live_t *rec)
{
    static lw_desc_t d; /* 700 bytes, off the dump thread's stack; the dump lock serialises its use */
    lw_describe(rec, &d);
    const struct {
        const char *name, *value;
        int raw; /* a JSON literal (true, false), not a string */
    } m[] = {
        { "target", d.target, 0 }, { "stream", d.stream, 0 }, { "fd", d.fd, 1 },
        { "family", d.family, 0 }, { "type", d.type, 0 },     { "local", d.local, 0 },
        { "peer", d.peer, 0 },     { "listening", d.listening, 1 }, { "start", d.start, 0 },
        { "state", d.state, 0 },   { "clock", d.clock, 0 },   { "notify", d.notify, 0 },
        { "prot", d.prot, 0 },     { "sharing", d.sharing, 0 }, { "backing", d.backing, 0 },
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (!m[i].value[0])
            continue;
        lw_out_s(o, ", \"");
        lw_out_s(o, m[i].name);
        lw_out_s(o, "\": ");
        if (m[i].raw)
            lw_out_s(o, m[i].value);
        else
            lw_out_str(o, m[i].value, strlen(m[i].value));
    }
}

static void out_warnings(lw_out_t *o, const char *heap_type, const char *unclassified)
{
    lw_warning_t w;
    size_t i = 0;
    if (unclassified) {
        /* why the heap carries no classes, or no blocks: a fact about the whole dump, shown with the warnings */
        lw_out_s(o, "\n    {\"type\": \"");
        lw_out_s(o, heap_type);
        lw_out_s(o, "\", \"count\": 1, \"message\": ");
        lw_out_str(o, unclassified, strlen(unclassified));
        lw_out_s(o, ",\n     \"frames\": [], \"other_frames\": []}");
    }
    for (; lw_warning_get(i, &w); i++) {
        lw_out_s(o, i || unclassified ? ",\n    {\"type\": \"" : "\n    {\"type\": \"");
        lw_out_s(o, lw_warning_type_name(w.type));
        lw_out_s(o, "\", \"handle\": \"");
        lw_out_i(o, w.fd);
        lw_out_s(o, "\", \"count\": ");
        lw_out_u(o, w.count);
        if (w.type == LW_W_FD_INTO_EXEC) {
            lw_out_s(o, ", \"kind\": \"");
            lw_out_s(o, lw_kind_name((lw_kind_t)w.kind));
            lw_out_s(o, "\"");
            if (w.target[0]) {
                lw_out_s(o, ", \"target\": ");
                lw_out_str(o, w.target, strlen(w.target));
            }
            lw_out_s(o, ", \"program\": ");
            lw_out_str(o, w.program, strlen(w.program));
        }
        lw_out_s(o, ",\n     \"frames\": ");
        out_frames(o, w.site);
        lw_out_s(o, ", \"other_frames\": ");
        out_frames(o, w.other_site);
        lw_out_s(o, "}");
    }
    if (i || unclassified)
        lw_out_s(o, "\n  ");
}

/* Writes the body of a dump to o. Caller holds dump_lock and the reentrancy guard. */
static void write_dump(lw_out_t *o, const char *reason, unsigned seq)
{
    uint32_t now = lw_now_ms();
    collect_t c = { 0 };
    int reach = lw_config.reach == LW_REACH_EVERY_DUMP
                || (lw_config.reach == LW_REACH_AT_EXIT && strcmp(reason, "exit") == 0);
    /* with the scan, a forked child also collects the blocks it inherited: its own may be reachable only
     * through them */
    size_t total = reach ? lw_tables_total_all() : lw_tables_total();
    c.cap = total + total / 8 + 1024;
    c.v = lw_mem_alloc(c.cap * sizeof(entry_t));
    /* An exec dump carries warnings only: what the image held is gone with it, none of it leaked. */
    int exec = strcmp(reason, "exec") == 0;
    uint64_t lost_here = 0; /* live records of this process that this dump cannot show */
    if (!c.v) {
        c.cap = 0;
        if (!exec) {
            lost_here += lw_tables_total();
            lw_warn("out of memory while writing a dump; its sites are left out");
        }
    }
    int list = c.cap && !exec;
    int classified = 0;
    const char *unclassified = lw_allocator_untracked(); /* why not, when a scan was asked for and not done */
    const char *heap_type = unclassified ? "heap-untracked" : "heap-unclassified";
    static lw_retain_t retain; /* the dump lock serialises its use */
    groups_t gs = { 0 };
    if (list && reach && !unclassified) {
        int err = list_classified(&c, &retain, &gs);
        if (err == ENOTSUP)
            unclassified = lw_allocator_refusal();
        else if (err)
            lw_warn("reachability scan failed (errno %d); heap blocks are left unclassified", err);
        classified = !err;
        list = !classified;
    }
    if (list) {
        lw_tables_walk(collect_one, &c);
        c.n = drop_inherited(c.v, c.n);
        if (group_entries(&gs, c.v, c.n) != 0) {
            lost_here += c.n;
            lw_warn("out of memory while writing a dump; its sites are left out");
        }
    }
    lost_here += c.dropped;
    /* mapping changes a signal handler put off until this thread's call is done: their records are still here */
    lost_here += lw_maps_deferred();

    size_t ngroups = gs.n;
    group_t *g = gs.g;
    uint64_t tot_count[LW_KIND_COUNT] = { 0 }, tot_bytes[LW_KIND_COUNT] = { 0 };
    uint64_t reach_count = 0, reach_bytes = 0;
    for (size_t i = 0; i < ngroups; i++) {
        if (g[i].cls == LW_CLASS_REACHABLE) {
            reach_count += g[i].count;
            reach_bytes += g[i].bytes;
        } else {
            tot_count[g[i].kind] += g[i].count;
            tot_bytes[g[i].kind] += g[i].bytes;
        }
    }
    if (lw_sample_mean) {
        /* the sites and totals a sampled dump shows are estimates, the number of records each site holds is
         * its "sampled" */
        memset(tot_count, 0, sizeof tot_count);
        memset(tot_bytes, 0, sizeof tot_bytes);
        reach_count = reach_bytes = 0;
        for (size_t i = 0; i < ngroups; i++) {
            g[i].est = (uint64_t)(g[i].wcount + 0.5);
            g[i].bytes = (uint64_t)(g[i].wbytes + 0.5);
            *(g[i].cls == LW_CLASS_REACHABLE ? &reach_count : &tot_count[g[i].kind]) += g[i].est;
            *(g[i].cls == LW_CLASS_REACHABLE ? &reach_bytes : &tot_bytes[g[i].kind]) += g[i].bytes;
        }
    }
    if (ngroups)
        heap_sort(g, ngroups, sizeof(group_t), group_after);
    for (size_t i = 0; i < ngroups; i++)
        lw_retain_place(&retain, (uint32_t)(KEY(g[i].kind, g[i].cls, g[i].site, 0) >> 32), i);

    struct timeval tv;
    gettimeofday(&tv, NULL);

    lw_out_s(o, "{\n  \"leakwatch_dump\": 2,\n  \"pid\": ");
    lw_out_u(o, (uint64_t)getpid());
    lw_out_s(o, ",\n  \"ppid\": ");
    lw_out_u(o, (uint64_t)getppid());
    lw_out_s(o, ",\n  \"exe\": ");
    out_exe(o);
    lw_out_s(o, ",\n  \"argv\": ");
    out_argv(o);
    lw_out_s(o, ",\n  \"seq\": ");
    lw_out_u(o, seq);
    lw_out_s(o, ",\n  \"reason\": ");
    lw_out_str(o, reason, strlen(reason));
    lw_out_s(o, ",\n  \"exit_status\": ");
    if (lw_exit_status >= 0 && strcmp(reason, "exit") == 0)
        lw_out_i(o, lw_exit_status);
    else
        lw_out_s(o, "null");
    lw_out_s(o, ",\n  \"uptime_ms\": ");
    lw_out_u(o, now);
    lw_out_s(o, ",\n  \"time_unix_ms\": ");
    lw_out_u(o, (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u);
    if (lw_attached_unix_ms) { /* `leakwatch attach`: the tables start at that moment */
        lw_out_s(o, ",\n  \"attached\": {\"time_unix_ms\": ");
        lw_out_u(o, lw_attached_unix_ms);
        lw_out_s(o, ", \"note\": \"blocks allocated before are not known\"}");
    }
    lw_out_s(o, ",\n  \"unwind\": ");
    lw_out_s(o, lw_config.unwind == LW_UNWIND_FP ? "\"fp\"" : "\"libunwind\"");
    lw_out_s(o, ",\n  \"kinds\": [");
    for (int k = 0, first = 1; k < LW_KIND_COUNT; k++) {
        if (!(lw_config.kinds & (1u << k)))
            continue;
        lw_out_s(o, first ? "\"" : ", \"");
        lw_out_s(o, lw_kind_name((lw_kind_t)k));
        lw_out_s(o, "\"");
        first = 0;
    }
    lw_stack_flush_counts();
    if (lw_sample_mean) {
        lw_out_s(o, "],\n  \"sampling\": {\"mean_bytes\": ");
        lw_out_u(o, lw_sample_mean);
        lw_out_s(o, "}");
    } else {
        lw_out_s(o, "]");
    }
    lw_out_s(o, ",\n  \"stack_cache\": {\"hits\": ");
    lw_out_u(o, atomic_load(&lw_stack_stats.hits));
    lw_out_s(o, ", \"walks\": ");
    lw_out_u(o, atomic_load(&lw_stack_stats.walks));
    lw_out_s(o, ", \"misses\": ");
    lw_out_u(o, atomic_load(&lw_stack_stats.misses));
    lw_out_s(o, ", \"verified\": ");
    lw_out_u(o, atomic_load(&lw_stack_stats.verified));
    lw_out_s(o, ", \"mismatches\": ");
    lw_out_u(o, atomic_load(&lw_stack_stats.mismatches));
    lw_out_s(o, ", \"stacks\": ");
    lw_out_u(o, lw_sites_count());
    lw_out_s(o, "},\n  \"modules\": [");
    mods_t m = { o, 0 };
    dl_iterate_phdr(module_cb, &m);
    lw_out_s(o, "\n  ],\n  \"sites\": [");
    for (size_t i = 0; i < ngroups; i++) {
        group_t *s = &g[i];
        const sample_t *e = &gs.samples[(size_t)s->id * LW_SAMPLES];
        uint32_t oldest = s->oldest, median = s->median;
        lw_out_s(o, i ? ",\n    {\"kind\": \"" : "\n    {\"kind\": \"");
        lw_out_s(o, lw_kind_name((lw_kind_t)s->kind));
        lw_out_s(o, "\", ");
        if (class_name(s->cls)) {
            lw_out_s(o, "\"class\": \"");
            lw_out_s(o, class_name(s->cls));
            lw_out_s(o, "\", ");
        }
        lw_out_s(o, "\"count\": ");
        lw_out_u(o, lw_sample_mean ? s->est : s->count);
        if (lw_sample_mean) {
            lw_out_s(o, ", \"sampled\": ");
            lw_out_u(o, s->count);
        }
        lw_out_s(o, ", \"bytes\": ");
        lw_out_u(o, s->bytes);
        lw_out_s(o, ", \"oldest_age_ms\": ");
        lw_out_u(o, now >= oldest ? now - oldest : 0);
        lw_out_s(o, ", \"median_age_ms\": ");
        lw_out_u(o, now >= median ? now - median : 0);
        lw_retain_out(o, &retain, (uint32_t)(KEY(s->kind, s->cls, s->site, 0) >> 32));
        lw_out_s(o, ",\n     \"frames\": ");
        out_frames(o, s->site);
        lw_out_s(o, ",\n     \"samples\": [");
        for (size_t k = 0; k < s->nsamples; k++) {
            uint32_t born = e[k].born;
            lw_out_s(o, k ? ", {\"handle\": " : "{\"handle\": ");
            out_handle(o, s->kind, e[k].handle, LW_ENTRY_FLAGS(&e[k]));
            lw_out_s(o, ", \"size\": ");
            lw_out_u(o, SIZED(s->kind) ? LW_ENTRY_SIZE(&e[k]) : 0);
            lw_out_s(o, ", \"age_ms\": ");
            lw_out_u(o, now >= born ? now - born : 0);
            if (s->kind != LW_HEAP) {
                lw_live_t l = { e[k].handle, LW_ENTRY_SIZE(&e[k]), s->site, born, (uint8_t)s->kind, LW_ENTRY_FLAGS(&e[k]), 0 };
                out_description(o, &l);
            }
            lw_out_s(o, "}");
        }
        lw_out_s(o, "]}");
    }
    lw_out_s(o, "\n  ],\n  \"warnings\": [");
    out_warnings(o, heap_type, unclassified);
    lw_out_s(o, "],\n  \"dropped\": ");
    lw_out_u(o, c.dropped);
    lw_out_s(o, ",\n  \"lost\": {\"records\": ");
    lw_out_u(o, atomic_load(&lw_lost_records) + lost_here);
    lw_out_s(o, ", \"sites\": ");
    lw_out_u(o, atomic_load(&lw_lost_sites));
    lw_out_s(o, ", \"warnings\": ");
    lw_out_u(o, lw_warnings_dropped());
    lw_out_s(o, "},\n  \"totals\": {");
    for (int k = 0; k < LW_KIND_COUNT; k++) {
        lw_out_s(o, k ? ", \"" : "\"");
        lw_out_s(o, lw_kind_name((lw_kind_t)k));
        lw_out_s(o, "\": {\"count\": ");
        lw_out_u(o, tot_count[k]);
        lw_out_s(o, ", \"bytes\": ");
        lw_out_u(o, tot_bytes[k]);
        lw_out_s(o, "}");
    }
    lw_out_s(o, ", \"reachable\": {\"count\": ");
    lw_out_u(o, reach_count);
    lw_out_s(o, ", \"bytes\": ");
    lw_out_u(o, reach_bytes);
    lw_out_s(o, "}},\n  \"allocator\": \"");
    lw_out_s(o, lw_allocator_name());
    lw_out_s(o, "\",\n  \"reachability\": ");
    lw_out_s(o, classified ? "true" : "false");
    if (unclassified) {
        lw_out_s(o, ",\n  \"reachability_reason\": ");
        lw_out_str(o, unclassified, strlen(unclassified));
    }
    lw_out_s(o, "\n}\n");

    lw_retain_free(&retain);
    groups_free(&gs);
    if (c.v)
        lw_mem_free(c.v, c.cap * sizeof(entry_t));
}

int lw_dump_write_fd(int fd, const char *reason, unsigned seq)
{
    lw_lock(&dump_lock);
    out_buf.fd = fd;
    out_buf.err = 0;
    out_buf.n = 0;
    write_dump(&out_buf, reason, seq);
    lw_out_flush(&out_buf);
    int err = out_buf.err;
    lw_unlock(&dump_lock);
    return err;
}

