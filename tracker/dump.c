/* The dump writer: groups every live record of this process by kind and call site and writes the versioned JSON
 * described in docs/FORMAT.md, using only write(2) and the internal allocator. */
#include "allocator.h"
#include "internal.h"
#include "sys.h"
#include "warn_events.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- buffered output ----------------------------------------------------------------------------------- */

typedef struct {
    int fd;
    int err;
    size_t n;
    char buf[1 << 16];
} out_t;

static void out_flush(out_t *o)
{
    size_t off = 0;
    while (off < o->n && !o->err) {
        ssize_t w = write(o->fd, o->buf + off, o->n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            o->err = errno;
            break;
        }
        off += (size_t)w;
    }
    o->n = 0;
}

static void out_mem(out_t *o, const char *s, size_t n)
{
    while (n) {
        if (o->n == sizeof(o->buf))
            out_flush(o);
        size_t k = sizeof(o->buf) - o->n;
        if (k > n)
            k = n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
    }
}

static void out_s(out_t *o, const char *s)
{
    out_mem(o, s, strlen(s));
}

static void out_u(out_t *o, uint64_t v)
{
    char tmp[24];
    out_mem(o, tmp, (size_t)(lw_fmt_u64(tmp, v) - tmp));
}

static void out_i(out_t *o, int64_t v)
{
    if (v < 0) {
        out_s(o, "-");
        v = -v;
    }
    out_u(o, (uint64_t)v);
}

/* A JSON string: quotes, escapes, and control bytes as \u00XX. Bytes >= 0x80 pass as they are. */
static void out_str(out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    out_s(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            out_mem(o, e, 2);
        } else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            out_mem(o, e, 6);
        } else {
            out_mem(o, (const char *)&c, 1);
        }
    }
    out_s(o, "\"");
}

static void out_hexq(out_t *o, uint64_t v)
{
    char tmp[24];
    char *e = lw_fmt_hex(tmp, v);
    out_s(o, "\"");
    out_mem(o, tmp, (size_t)(e - tmp));
    out_s(o, "\"");
}

/* ---- grouping ------------------------------------------------------------------------------------------ */

/* The sort key of an entry: kind (3 bits) | class (2 bits) | site (27 bits) | born_ms (32 bits), so that a sort
 * groups by kind, reachability class and site, and puts the oldest first within a group. */
typedef lw_entry_t entry_t;

#define KEY(kind, cls, site, born)                                                                            \
    (((uint64_t)(kind) << 61) | ((uint64_t)(cls) << 59) | ((uint64_t)((site) & 0x7ffffff) << 32) | (born))
#define KEY_KIND(k) ((uint32_t)((k) >> 61))
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

/* Drops the parent's blocks once the scan has used them. Returns the new count. */
static size_t drop_inherited(entry_t *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(v[i].meta & LW_ENTRY_INHERITED))
            v[k++] = v[i];
    return k;
}

/* The two orders the dump needs: by key (to group), and by address with the heap first (for the scan). */
static inline uint64_t by_key(const entry_t *e)
{
    return e->key;
}

static inline uint64_t by_address(const entry_t *e)
{
    return KEY_KIND(e->key) == LW_HEAP ? e->handle : (1ull << 63) | e->handle;
}

/* Heapsort in place: no second copy of a million entries, and no allocation. */
static void sift_entries(entry_t *v, size_t i, size_t n, uint64_t (*ord)(const entry_t *))
{
    entry_t x = v[i];
    uint64_t kx = ord(&x);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ord(&v[c + 1]) > ord(&v[c]))
            c++;
        if (ord(&v[c]) <= kx)
            break;
        v[i] = v[c];
        i = c;
    }
    v[i] = x;
}

static void sort_entries(entry_t *v, size_t n, uint64_t (*ord)(const entry_t *))
{
    for (size_t i = n / 2; i-- > 0;)
        sift_entries(v, i, n, ord);
    for (size_t end = n; end-- > 1;) {
        entry_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_entries(v, 0, end, ord);
    }
}

/* Sorts the heap entries by address, classifies them, and puts the class into their keys. Returns 0 when the
 * classes are in, or an errno value (the entries are then unclassified). */
static int classify_entries(entry_t *v, size_t n)
{
    sort_entries(v, n, by_address);
    size_t nheap = 0;
    while (nheap < n && KEY_KIND(v[nheap].key) == LW_HEAP)
        nheap++;
    uint8_t *cls = lw_mem_alloc(nheap + 1);
    int err = cls ? lw_reach_classify(v, nheap, cls) : ENOMEM;
    for (size_t i = 0; i < nheap && !err; i++)
        v[i].key |= (uint64_t)cls[i] << 59;
    lw_mem_free(cls, nheap + 1);
    return err;
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

typedef struct {
    uint32_t kind, cls, site;
    size_t first, count;
    uint64_t bytes;
} group_t;

static int group_before(const group_t *a, const group_t *b)
{
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

static void sift(group_t *g, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        /* a max-heap on "sorts after", so the result is in "sorts before" order */
        if (c + 1 < n && group_before(&g[c], &g[c + 1]))
            c++;
        if (!group_before(&g[i], &g[c]))
            return;
        group_t t = g[i];
        g[i] = g[c];
        g[c] = t;
        i = c;
    }
}

static void heap_sort_groups(group_t *g, size_t n)
{
    /* build a heap whose root sorts last, then move roots to the end */
    for (size_t i = n / 2; i-- > 0;)
        sift(g, i, n);
    for (size_t end = n; end-- > 1;) {
        group_t t = g[0];
        g[0] = g[end];
        g[end] = t;
        sift(g, 0, end);
    }
}

/* ---- process facts ------------------------------------------------------------------------------------- */

static void out_argv(out_t *o)
{
    static char cmd[16384];
    ssize_t n = lw_read_file("/proc/self/cmdline", cmd, sizeof(cmd));
    out_s(o, "[");
    size_t start = 0;
    int first = 1;
    for (ssize_t i = 0; i < n; i++) {
        if (cmd[i] == '\0') {
            if (!first)
                out_s(o, ",");
            out_str(o, cmd + start, (size_t)i - start);
            first = 0;
            start = (size_t)i + 1;
        }
    }
    out_s(o, "]");
}

static void out_exe(out_t *o)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    out_str(o, path, n > 0 ? (size_t)n : 0);
}

typedef struct {
    out_t *o;
    int count;
} mods_t;

static void out_build_id(out_t *o, struct dl_phdr_info *info)
{
    static const char hex[] = "0123456789abcdef";
    out_s(o, "\"");
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
                    out_mem(o, b, 2);
                }
                out_s(o, "\"");
                return;
            }
            p = (const char *)desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
    out_s(o, "\"");
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    mods_t *m = arg;
    out_t *o = m->o;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (hi == 0)
        return 0;
    out_s(o, m->count++ ? ",\n    {\"path\": " : "\n    {\"path\": ");
    if (m->count == 1 || !info->dlpi_name || !info->dlpi_name[0])
        out_exe(o);
    else
        out_str(o, info->dlpi_name, strlen(info->dlpi_name));
    out_s(o, ", \"build_id\": ");
    out_build_id(o, info);
    out_s(o, ", \"bias\": ");
    out_hexq(o, info->dlpi_addr);
    out_s(o, ", \"start\": ");
    out_hexq(o, lo);
    out_s(o, ", \"end\": ");
    out_hexq(o, hi);
    out_s(o, "}");
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

void lw_dump_forked(void)
{
    /* the dump thread does not exist in the child: a dump it was writing is not the child's */
    atomic_store(&dump_lock.held, 0);
}
static out_t out_buf;
atomic_uint lw_dump_seq;

static void out_frames(out_t *o, uint32_t site)
{
    uintptr_t frames[LW_MAX_DEPTH];
    int n = lw_site_frames(site, frames, LW_MAX_DEPTH);
    out_s(o, "[");
    for (int i = 0; i < n && i < LW_MAX_DEPTH; i++) {
        if (i)
            out_s(o, ", ");
        out_hexq(o, frames[i]);
    }
    out_s(o, "]");
}

static void out_handle(out_t *o, uint32_t kind, uint64_t h, uint64_t flags)
{
    /* a descriptor is a number; a FILE* or DIR* (fd kind too) is an address */
    if ((kind == LW_FD && !(flags & (LW_FLAG_FILE | LW_FLAG_DIR))) || kind == LW_SOCKET) {
        out_s(o, "\"");
        out_u(o, h);
        out_s(o, "\"");
    } else {
        out_hexq(o, h);
    }
}

/* The warnings recorded so far (warn_events.c): closes of descriptors that were not open and descriptors
 * inherited by an exec'd program, each with its stack and the other stack involved. */
static void out_warnings(out_t *o, const char *heap_type, const char *unclassified)
{
    lw_warning_t w;
    size_t i = 0;
    if (unclassified) {
        /* why the heap carries no classes, or no blocks: a fact about the whole dump, shown with the warnings */
        out_s(o, "\n    {\"type\": \"");
        out_s(o, heap_type);
        out_s(o, "\", \"count\": 1, \"message\": ");
        out_str(o, unclassified, strlen(unclassified));
        out_s(o, ",\n     \"frames\": [], \"other_frames\": []}");
    }
    for (; lw_warning_get(i, &w); i++) {
        out_s(o, i || unclassified ? ",\n    {\"type\": \"" : "\n    {\"type\": \"");
        out_s(o, lw_warning_type_name(w.type));
        out_s(o, "\", \"handle\": \"");
        out_i(o, w.fd);
        out_s(o, "\", \"count\": ");
        out_u(o, w.count);
        out_s(o, ", \"message\": ");
        out_str(o, w.message, strlen(w.message));
        out_s(o, ",\n     \"frames\": ");
        out_frames(o, w.site);
        out_s(o, ", \"other_frames\": ");
        out_frames(o, w.other_site);
        out_s(o, "}");
    }
    if (i || unclassified)
        out_s(o, "\n  ");
}

/* Writes the body of a dump to o. Caller holds dump_lock and the reentrancy guard. */
static void write_dump(out_t *o, const char *reason, unsigned seq)
{
    uint32_t now = lw_now_ms();
    collect_t c = { 0 };
    int reach = lw_config.reach == 2 || (lw_config.reach == 1 && strcmp(reason, "exit") == 0);
    /* with the scan, a forked child also collects the blocks it inherited: its own may be reachable only
     * through them */
    size_t total = reach ? lw_tables_total_all() : lw_tables_total();
    c.cap = total + total / 8 + 1024;
    c.v = lw_mem_alloc(c.cap * sizeof(entry_t));
    if (!c.v) {
        c.cap = 0;
        lw_warn("out of memory while writing a dump; its sites are left out");
    }
    /* An exec dump carries warnings only: what the image held is gone with it, none of it leaked. */
    if (c.cap && strcmp(reason, "exec") != 0)
        (reach ? lw_tables_walk_all : lw_tables_walk)(collect_one, &c);
    int classified = 0;
    const char *unclassified = lw_allocator_untracked(); /* why not, when a scan was asked for and not done */
    const char *heap_type = unclassified ? "heap-untracked" : "heap-unclassified";
    if (c.n && reach && !unclassified) {
        int err = classify_entries(c.v, c.n);
        if (err == ENOTSUP)
            unclassified = lw_allocator_refusal();
        else if (err)
            lw_warn("reachability scan failed (errno %d); heap blocks are left unclassified", err);
        classified = !err;
    }
    c.n = drop_inherited(c.v, c.n);
    if (c.n)
        sort_entries(c.v, c.n, by_key);

    size_t ngroups = 0;
    for (size_t i = 0; i < c.n; i++)
        if (i == 0 || (c.v[i].key >> 32) != (c.v[i - 1].key >> 32))
            ngroups++;
    group_t *g = ngroups ? lw_mem_alloc(ngroups * sizeof(group_t)) : NULL;
    if (ngroups && !g)
        ngroups = 0;
    uint64_t tot_count[LW_KIND_COUNT] = { 0 }, tot_bytes[LW_KIND_COUNT] = { 0 };
    uint64_t reach_count = 0, reach_bytes = 0;
    size_t gi = 0;
    for (size_t i = 0; i < c.n && ngroups; i++) {
        if (i == 0 || (c.v[i].key >> 32) != (c.v[i - 1].key >> 32)) {
            if (i)
                gi++;
            g[gi].kind = KEY_KIND(c.v[i].key);
            g[gi].cls = KEY_CLASS(c.v[i].key);
            g[gi].site = KEY_SITE(c.v[i].key);
            g[gi].first = i;
        }
        uint64_t bytes = g[gi].kind == LW_HEAP ? LW_ENTRY_SIZE(&c.v[i]) : 0;
        g[gi].count++;
        g[gi].bytes += bytes;
        if (g[gi].cls == LW_CLASS_REACHABLE) {
            reach_count++;
            reach_bytes += bytes;
        } else {
            tot_count[g[gi].kind]++;
            tot_bytes[g[gi].kind] += bytes;
        }
    }
    if (ngroups)
        heap_sort_groups(g, ngroups);

    struct timeval tv;
    gettimeofday(&tv, NULL);

    out_s(o, "{\n  \"leakwatch_dump\": 1,\n  \"pid\": ");
    out_u(o, (uint64_t)getpid());
    out_s(o, ",\n  \"ppid\": ");
    out_u(o, (uint64_t)getppid());
    out_s(o, ",\n  \"exe\": ");
    out_exe(o);
    out_s(o, ",\n  \"argv\": ");
    out_argv(o);
    out_s(o, ",\n  \"seq\": ");
    out_u(o, seq);
    out_s(o, ",\n  \"reason\": ");
    out_str(o, reason, strlen(reason));
    out_s(o, ",\n  \"exit_status\": ");
    if (lw_exit_status >= 0 && strcmp(reason, "exit") == 0)
        out_i(o, lw_exit_status);
    else
        out_s(o, "null");
    out_s(o, ",\n  \"uptime_ms\": ");
    out_u(o, now);
    out_s(o, ",\n  \"time_unix_ms\": ");
    out_u(o, (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u);
    out_s(o, ",\n  \"unwind\": ");
    out_s(o, lw_config.unwind == LW_UNWIND_FP ? "\"fp\"" : "\"libunwind\"");
    out_s(o, ",\n  \"kinds\": [");
    for (int k = 0, first = 1; k < LW_KIND_COUNT; k++) {
        if (!(lw_config.kinds & (1u << k)))
            continue;
        out_s(o, first ? "\"" : ", \"");
        out_s(o, lw_kind_name((lw_kind_t)k));
        out_s(o, "\"");
        first = 0;
    }
    lw_stack_flush_counts();
    out_s(o, "],\n  \"stack_cache\": {\"hits\": ");
    out_u(o, atomic_load(&lw_stack_stats.hits));
    out_s(o, ", \"misses\": ");
    out_u(o, atomic_load(&lw_stack_stats.misses));
    out_s(o, ", \"verified\": ");
    out_u(o, atomic_load(&lw_stack_stats.verified));
    out_s(o, ", \"mismatches\": ");
    out_u(o, atomic_load(&lw_stack_stats.mismatches));
    out_s(o, "},\n  \"modules\": [");
    mods_t m = { o, 0 };
    dl_iterate_phdr(module_cb, &m);
    out_s(o, "\n  ],\n  \"sites\": [");
    for (size_t i = 0; i < ngroups; i++) {
        group_t *s = &g[i];
        const entry_t *e = &c.v[s->first];
        uint32_t oldest = (uint32_t)e[0].key, median = (uint32_t)e[s->count / 2].key;
        out_s(o, i ? ",\n    {\"kind\": \"" : "\n    {\"kind\": \"");
        out_s(o, lw_kind_name((lw_kind_t)s->kind));
        out_s(o, "\", ");
        if (class_name(s->cls)) {
            out_s(o, "\"class\": \"");
            out_s(o, class_name(s->cls));
            out_s(o, "\", ");
        }
        out_s(o, "\"count\": ");
        out_u(o, s->count);
        out_s(o, ", \"bytes\": ");
        out_u(o, s->bytes);
        out_s(o, ", \"oldest_age_ms\": ");
        out_u(o, now >= oldest ? now - oldest : 0);
        out_s(o, ", \"median_age_ms\": ");
        out_u(o, now >= median ? now - median : 0);
        out_s(o, ",\n     \"frames\": ");
        out_frames(o, s->site);
        out_s(o, ",\n     \"samples\": [");
        for (size_t k = 0; k < s->count && k < LW_SAMPLES; k++) {
            uint32_t born = (uint32_t)e[k].key;
            out_s(o, k ? ", {\"handle\": " : "{\"handle\": ");
            out_handle(o, s->kind, e[k].handle, LW_ENTRY_FLAGS(&e[k]));
            out_s(o, ", \"size\": ");
            out_u(o, s->kind == LW_HEAP ? LW_ENTRY_SIZE(&e[k]) : 0);
            out_s(o, ", \"age_ms\": ");
            out_u(o, now >= born ? now - born : 0);
            if (s->kind != LW_HEAP) {
                char detail[512];
                lw_live_t l = { e[k].handle, LW_ENTRY_SIZE(&e[k]), s->site, born, (uint8_t)s->kind, LW_ENTRY_FLAGS(&e[k]), 0 };
                detail[0] = '\0';
                lw_describe(&l, detail, sizeof(detail));
                if (detail[0]) {
                    out_s(o, ", \"detail\": ");
                    out_str(o, detail, strlen(detail));
                }
            }
            out_s(o, "}");
        }
        out_s(o, "]}");
    }
    out_s(o, "\n  ],\n  \"warnings\": [");
    out_warnings(o, heap_type, unclassified);
    out_s(o, "],\n  \"dropped\": ");
    out_u(o, c.dropped);
    out_s(o, ",\n  \"totals\": {");
    for (int k = 0; k < LW_KIND_COUNT; k++) {
        out_s(o, k ? ", \"" : "\"");
        out_s(o, lw_kind_name((lw_kind_t)k));
        out_s(o, "\": {\"count\": ");
        out_u(o, tot_count[k]);
        out_s(o, ", \"bytes\": ");
        out_u(o, tot_bytes[k]);
        out_s(o, "}");
    }
    out_s(o, ", \"reachable\": {\"count\": ");
    out_u(o, reach_count);
    out_s(o, ", \"bytes\": ");
    out_u(o, reach_bytes);
    out_s(o, "}},\n  \"allocator\": \"");
    out_s(o, lw_allocator_name());
    out_s(o, "\",\n  \"reachability\": ");
    out_s(o, classified ? "true" : "false");
    if (unclassified) {
        out_s(o, ",\n  \"reachability_reason\": ");
        out_str(o, unclassified, strlen(unclassified));
    }
    out_s(o, "\n}\n");

    if (g)
        lw_mem_free(g, ngroups * sizeof(group_t));
    if (c.v)
        lw_mem_free(c.v, c.cap * sizeof(entry_t));
}

static int dump_to(const char *path, const char *reason, unsigned seq)
{
    char tmp[4200];
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    if (dirlen + strlen(path + dirlen) + 8 >= sizeof(tmp))
        return ENAMETOOLONG;
    memcpy(tmp, path, dirlen);
    tmp[dirlen] = '.';
    lw_strlcpy(tmp + dirlen + 1, path + dirlen, sizeof(tmp) - dirlen - 1);
    memcpy(tmp + strlen(tmp), ".tmp", 5);

    int fd = lw_sys_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    lw_lock(&dump_lock);
    out_buf.fd = fd;
    out_buf.err = 0;
    out_buf.n = 0;
    write_dump(&out_buf, reason, seq);
    out_flush(&out_buf);
    int err = out_buf.err;
    lw_unlock(&dump_lock);
    if (lw_sys_close(fd) < 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) < 0)
        err = errno;
    if (err)
        unlink(tmp);
    return err;
}

int lw_dump_to(const char *path, const char *reason)
{
    int saved = errno, was = lw_self.busy;
    lw_init();
    lw_self.busy = 1;
    int err = dump_to(path, reason, atomic_fetch_add(&lw_dump_seq, 1) + 1);
    lw_self.busy = was;
    errno = saved;
    return err;
}

int lw_dump_next(const char *dir, const char *reason, char *path_out, size_t cap)
{
    unsigned seq = atomic_fetch_add(&lw_dump_seq, 1) + 1;
    char path[4096];
    char *p = path;
    size_t dl = strlen(dir);
    if (dl + 64 >= sizeof(path))
        return ENAMETOOLONG;
    memcpy(p, dir, dl);
    p += dl;
    p += lw_strlcpy(p, "/leakwatch.", 12);
    p = lw_fmt_u64(p, (uint64_t)getpid());
    *p++ = '.';
    p = lw_fmt_u64(p, seq);
    lw_strlcpy(p, ".json", 6);
    if (path_out)
        lw_strlcpy(path_out, path, cap);
    return dump_to(path, reason, seq);
}
