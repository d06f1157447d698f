/* The dump writer: groups every live record of this process by kind and call site and writes the versioned JSON
 * described in docs/FORMAT.md, using only write(2) and the internal allocator, into files that get their name only
 * when they are complete. */
#include "allocator.h"
#include "internal.h"
#include "sys.h"
#include "testing.h"
#include "warn_events.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0) /* linux/fs.h; glibc before 2.28 does not name it */
#endif

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

/* The length of the well-formed UTF-8 sequence (RFC 3629: no overlong form, no surrogate, at most U+10FFFF)
 * that starts at s[0] of the n bytes there, 0 when none starts there. Called for bytes >= 0x80 only. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || n < len)
        return 0;
    uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* A JSON string that is valid for any bytes (paths and arguments need not be UTF-8): `"` and `\` escaped,
 * control bytes as \u00XX, well-formed UTF-8 copied, and every other byte XX (0x80..0xff, not part of a
 * well-formed sequence) as \u00XX. Well-formed U+0080..U+00FF is always copied, never escaped, so an escape
 * \u0080..\u00ff in a dump always stands for one raw byte (docs/FORMAT.md). */
static void out_str(out_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    out_s(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        size_t k;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            out_mem(o, e, 2);
        } else if (c < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            out_mem(o, e, 6);
        } else if (c < 0x80) {
            out_mem(o, (const char *)&c, 1);
        } else if ((k = utf8_seq(u + i, n - i)) != 0) {
            out_mem(o, s + i, k);
            i += k - 1;
        } else {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            out_mem(o, e, 6);
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

/* The listing for the scan, taken in the scanning copy: every record, the inherited ones too (a forked child's
 * own blocks may be reachable only through them), sorted by address with the heap first. */
static void list_for_scan(lw_listing_t *l, void *arg)
{
    (void)arg;
    collect_t c = { l->v, 0, l->cap, 0 };
    lw_tables_walk_all(collect_one, &c);
    sort_entries(c.v, c.n, by_address);
    size_t nheap = 0;
    while (nheap < c.n && KEY_KIND(c.v[nheap].key) == LW_HEAP)
        nheap++;
    l->n = c.n;
    l->nheap = nheap;
    l->dropped = c.dropped;
}

/* Lists the records and classifies the heap blocks at one moment (lw_reach_snapshot), the classes put into the
 * keys. Returns 0, or an errno value with nothing listed (c->n 0). */
static int list_classified(collect_t *c)
{
    uint8_t *cls = lw_mem_alloc(c->cap + 1);
    lw_listing_t l = { c->v, c->cap, 0, 0, 0 };
    int err = cls ? lw_reach_snapshot(&l, list_for_scan, NULL, cls) : ENOMEM;
    c->n = err ? 0 : l.n;
    c->dropped = err ? 0 : l.dropped;
    for (size_t i = 0; i < l.nheap && !err; i++)
        c->v[i].key |= (uint64_t)cls[i] << 59;
    lw_mem_free(cls, c->cap + 1);
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
/* The members that say what a non-heap sample refers to (docs/FORMAT.md, samples): values only. */
static void out_description(out_t *o, const lw_live_t *rec)
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
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        if (!m[i].value[0])
            continue;
        out_s(o, ", \"");
        out_s(o, m[i].name);
        out_s(o, "\": ");
        if (m[i].raw)
            out_s(o, m[i].value);
        else
            out_str(o, m[i].value, strlen(m[i].value));
    }
}

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
    if (list && reach && !unclassified) {
        int err = list_classified(&c);
        if (err == ENOTSUP)
            unclassified = lw_allocator_refusal();
        else if (err)
            lw_warn("reachability scan failed (errno %d); heap blocks are left unclassified", err);
        classified = !err;
        list = !classified;
    }
    if (list)
        lw_tables_walk(collect_one, &c);
    lost_here += c.dropped;
    c.n = drop_inherited(c.v, c.n);
    if (c.n)
        sort_entries(c.v, c.n, by_key);

    size_t ngroups = 0;
    for (size_t i = 0; i < c.n; i++)
        if (i == 0 || (c.v[i].key >> 32) != (c.v[i - 1].key >> 32))
            ngroups++;
    group_t *g = ngroups ? lw_mem_alloc(ngroups * sizeof(group_t)) : NULL;
    if (ngroups && !g) {
        lost_here += c.n;
        ngroups = 0;
        lw_warn("out of memory while writing a dump; its sites are left out");
    }
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

    out_s(o, "{\n  \"leakwatch_dump\": 2,\n  \"pid\": ");
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
                lw_live_t l = { e[k].handle, LW_ENTRY_SIZE(&e[k]), s->site, born, (uint8_t)s->kind, LW_ENTRY_FLAGS(&e[k]), 0 };
                out_description(o, &l);
            }
            out_s(o, "}");
        }
        out_s(o, "]}");
    }
    out_s(o, "\n  ],\n  \"warnings\": [");
    out_warnings(o, heap_type, unclassified);
    out_s(o, "],\n  \"dropped\": ");
    out_u(o, c.dropped);
    out_s(o, ",\n  \"lost\": {\"records\": ");
    out_u(o, atomic_load(&lw_lost_records) + lost_here);
    out_s(o, ", \"sites\": ");
    out_u(o, atomic_load(&lw_lost_sites));
    out_s(o, ", \"warnings\": ");
    out_u(o, lw_warnings_dropped());
    out_s(o, "},\n  \"totals\": {");
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

/* ---- the dump file ------------------------------------------------------------------------------------- */

static int force_named_tmp; /* testing.h: as where the filesystem refuses O_TMPFILE */

void lw_dump_force_named_tmp(int on)
{
    force_named_tmp = on;
}

/* Writes the dump into fd. Returns 0 or an errno value. */
static int write_to_fd(int fd, const char *reason, unsigned seq)
{
    lw_lock(&dump_lock);
    out_buf.fd = fd;
    out_buf.err = 0;
    out_buf.n = 0;
    write_dump(&out_buf, reason, seq);
    out_flush(&out_buf);
    int err = out_buf.err;
    lw_unlock(&dump_lock);
    return err;
}

/* Eight bytes for a temporary name. From the kernel's generator; should it refuse, from the clock and the pid,
 * which another user could guess: the names that matter are made in a private directory anyway. */
static uint64_t random_word(void)
{
    uint64_t v = 0;
    if (syscall(SYS_getrandom, &v, sizeof(v), GRND_NONBLOCK) == (long)sizeof(v))
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_nsec << 24) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 44) ^ (uintptr_t)&v;
}

/* The temporary name of `name`: ".<name>.<16 random hex digits>.tmp". Returns 0 or ENAMETOOLONG. */
static int tmp_name(char *buf, size_t cap, const char *name)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(name);
    if (n + 22 >= cap)
        return ENAMETOOLONG;
    char *p = buf;
    *p++ = '.';
    memcpy(p, name, n);
    p += n;
    *p++ = '.';
    uint64_t r = random_word();
    for (int i = 0; i < 16; i++, r >>= 4)
        *p++ = hex[r & 15];
    lw_strlcpy(p, ".tmp", 5);
    return 0;
}

/* Gives the complete unnamed file fd the name `name` in dirfd. A link never replaces an existing name (EEXIST)
 * and never follows one. Returns 0 or an errno value. */
static int link_unnamed(int fd, int dirfd, const char *name)
{
    /* thread-self: the dump thread has a descriptor table of its own, and /proc/self/fd is the program's */
    char proc[48], *p = proc;
    p += lw_strlcpy(p, "/proc/thread-self/fd/", sizeof(proc));
    p = lw_fmt_u64(p, (uint64_t)fd);
    *p = '\0';
    if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != ENOENT)
        return errno;
    /* no /proc: the descriptor itself, which the kernel allows with CAP_DAC_READ_SEARCH */
    return linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0 ? 0 : errno;
}

/* Renames tmp to name in dirfd, replacing an existing name only with `replace`. Returns 0 or an errno value. */
static int publish_named(int dirfd, const char *tmp, const char *name, int replace)
{
    if (replace)
        return renameat(dirfd, tmp, dirfd, name) == 0 ? 0 : errno;
    if (syscall(SYS_renameat2, dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    /* a filesystem without RENAME_NOREPLACE: a hard link does not replace either */
    if (linkat(dirfd, tmp, dirfd, name, 0) != 0)
        return errno;
    unlinkat(dirfd, tmp, 0);
    return 0;
}

/* Writes a dump as the file `name` of directory dirfd, mode 0600, never through a link and never into a file that
 * existed before. The file is unnamed (O_TMPFILE) while it is written and gets its name only when it is
 * complete, so that no partial file ever has a name, even when the process is killed in the middle. Where the
 * filesystem refuses O_TMPFILE, it is written under an exclusive temporary name that nobody can guess, renamed
 * when complete and removed on every error (only a process killed while it writes leaves it behind). An existing
 * `name` is replaced only with `replace`, and then by a rename. Returns 0 or an errno value. */
static int write_file(int dirfd, const char *name, int replace, const char *reason, unsigned seq)
{
    char tmp[NAME_MAX + 1];
    int err, fd = -1;
    if (!force_named_tmp) {
        fd = lw_sys_openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        /* EOPNOTSUPP: a filesystem without unnamed files; EISDIR, ENOENT, EINVAL: a kernel without the flag */
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT && errno != EINVAL)
            return errno;
    }
    if (fd >= 0) {
        /* fchmod: the umask may have taken bits of the mode, and the owner must be able to read the dump */
        err = fchmod(fd, 0600) != 0 ? errno : write_to_fd(fd, reason, seq);
        if (!err)
            err = link_unnamed(fd, dirfd, name);
        if (err == EEXIST && replace) {
            /* named, complete, under a temporary name for the moment the rename takes */
            err = tmp_name(tmp, sizeof(tmp), name);
            if (!err)
                err = link_unnamed(fd, dirfd, tmp);
            if (!err && (err = publish_named(dirfd, tmp, name, 1)) != 0)
                unlinkat(dirfd, tmp, 0);
        }
        lw_sys_close(fd);
        return err;
    }

    if ((err = tmp_name(tmp, sizeof(tmp), name)) != 0)
        return err;
    fd = lw_sys_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    err = fchmod(fd, 0600) != 0 ? errno : write_to_fd(fd, reason, seq);
    if (lw_sys_close(fd) < 0 && !err)
        err = errno;
    if (!err)
        err = publish_named(dirfd, tmp, name, replace);
    if (err)
        unlinkat(dirfd, tmp, 0);
    return err;
}

/* "0755" (or "1777") for the permission bits of a mode, into buf (at least 5 bytes). */
static const char *mode_str(mode_t m, char *buf)
{
    for (int i = 0; i < 4; i++)
        buf[i] = (char)('0' + ((m >> (9 - 3 * i)) & 7));
    buf[4] = '\0';
    return buf;
}

/* Whether a directory is shared with other users the way /tmp is: sticky, and writable by its group or by
 * everyone. */
static int shared_dir(const struct stat *st)
{
    return (st->st_mode & S_ISVTX) && (st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Opens the directory that the dumps meant for `dir` go to, and puts its path into out (cap bytes): dir itself,
 * or, when dir is shared, the private directory leakwatch-<euid> in it, made with mode 0700 on first use. That one
 * is used only when it is a directory (not a link) that belongs to the effective user and has mode 0700, since
 * another user may have made it first; otherwise a warning says what is wrong with it. Returns the descriptor,
 * or -1 with errno set. */
static int open_dump_dir(const char *dir, char *out, size_t cap)
{
    if (lw_strlcpy(out, dir, cap) >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int base = lw_sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (base < 0)
        return -1;
    struct stat st;
    if (fstat(base, &st) != 0 || !shared_dir(&st))
        return base;

    uid_t uid = geteuid();
    char name[40], *p = name;
    p += lw_strlcpy(p, "leakwatch-", sizeof(name));
    p = lw_fmt_u64(p, (uint64_t)uid);
    *p = '\0';
    size_t dl = strlen(out);
    if (dl + 1 + strlen(name) >= cap) {
        lw_sys_close(base);
        errno = ENAMETOOLONG;
        return -1;
    }
    out[dl] = '/';
    lw_strlcpy(out + dl + 1, name, cap - dl - 1);

    int made = mkdirat(base, name, 0700) == 0;
    int fd = lw_sys_openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    int e = errno;
    lw_sys_close(base);
    if (fd < 0) {
        if (e == ELOOP || e == ENOTDIR) {
            lw_warn("%s is a symbolic link or not a directory; no dump is written there", out);
            e = EPERM;
        }
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        lw_sys_close(fd);
        errno = e;
        return -1;
    }
    /* the umask may have taken bits of mkdir's mode */
    if (made && st.st_uid == uid && (st.st_mode & 07777) != 0700 && fchmod(fd, 0700) == 0)
        st.st_mode = (st.st_mode & ~(mode_t)07777) | 0700;
    if (st.st_uid != uid || (st.st_mode & 07777) != 0700) {
        char m[8];
        lw_warn("%s belongs to uid %u and has mode %s, not uid %u and mode 0700; no dump is written there", out,
                (unsigned)st.st_uid, mode_str(st.st_mode, m), (unsigned)uid);
        lw_sys_close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* A dump at a path the caller chose: the directory is the caller's, and an existing file there is replaced. */
static int dump_at_path(const char *path, const char *reason, unsigned seq)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name)
        return EISDIR;
    if (!slash) {
        lw_strlcpy(dir, ".", sizeof(dir));
    } else {
        size_t dl = (size_t)(slash - path);
        if (dl >= sizeof(dir))
            return ENAMETOOLONG;
        memcpy(dir, path, dl);
        dir[dl] = '\0';
        if (dl == 0)
            lw_strlcpy(dir, "/", sizeof(dir));
    }
    int dfd = lw_sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return errno;
    int err = write_file(dfd, name, 1, reason, seq);
    lw_sys_close(dfd);
    return err;
}

int lw_dump_to(const char *path, const char *reason)
{
    lw_init();
    lw_guard_t guard = lw_enter();
    int err = dump_at_path(path, reason, atomic_fetch_add(&lw_dump_seq, 1) + 1);
    lw_leave(guard);
    return err;
}

int lw_dump_next(const char *dir, const char *reason, char *path_out, size_t cap)
{
    char path[4096], userdir[600];
    dir = lw_dump_dir_for_user(dir, userdir, sizeof(userdir)); /* a process that became another user: cred.c */
    int dfd = open_dump_dir(dir, path, sizeof(path));
    if (dfd < 0) {
        int err = errno;
        if (path_out)
            lw_strlcpy(path_out, path, cap);
        return err;
    }
    size_t dl = strlen(path);
    if (dl + 64 >= sizeof(path)) {
        lw_sys_close(dfd);
        return ENAMETOOLONG;
    }
    path[dl++] = '/';
    char *name = path + dl;
    unsigned seq;
    /* A name that exists belongs to an earlier process with the same pid, or to the image this one exec'd from:
     * the next number, rather than that file replaced. */
    for (int tries = 0;; tries++) {
        seq = atomic_fetch_add(&lw_dump_seq, 1) + 1;
        char *p = name;
        p += lw_strlcpy(p, "leakwatch.", 11);
        p = lw_fmt_u64(p, (uint64_t)getpid());
        *p++ = '.';
        p = lw_fmt_u64(p, seq);
        lw_strlcpy(p, ".json", 6);
        struct stat st;
        if (tries == 1000 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            break;
    }
    if (path_out)
        lw_strlcpy(path_out, path, cap);
    int err = write_file(dfd, name, 0, reason, seq);
    lw_sys_close(dfd);
    return err;
}
