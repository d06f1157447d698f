/* The allocator behind the program's malloc: which loaded object it is, and the memory its own code mapped, which
 * holds its metadata, free lists, unused extents and stale copies of block addresses and so is no root of the
 * reachability scan. */
#include "allocator.h"
#include "object_span.h"
#include "sys.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- the allocator's object ------------------------------------------------------------------------------- */

static lw_alloc_kind_t kind = LW_ALLOC_GLIBC;
static uintptr_t obj_lo, obj_hi; /* the object's span; 0, 0 until known */
static int obj_shared;           /* a shared object other than libc (its data are the allocator's own) */
static char obj_name[64];        /* the object's file name without its directory, for messages */

static int bypassed; /* the program's calls reach a malloc of its own, ahead of the wrapper */

/* The span of the object holding addr, and its file name without directory ("" for the main program). */
typedef struct {
    uintptr_t addr, lo, hi;
    char name[64];
    int found;
} span_arg_t;

static int find_span(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    span_arg_t *a = arg;
    uintptr_t lo, hi;
    if (!lw_object_span(info, a->addr, &lo, &hi))
        return 0;
    const char *path = info->dlpi_name ? info->dlpi_name : "";
    const char *base = strrchr(path, '/');
    lw_strlcpy(a->name, base ? base + 1 : path, sizeof(a->name));
    a->lo = lo;
    a->hi = hi;
    a->found = 1;
    return 1;
}

/* Whether addr is a definition of malloc. A program built without PIE that takes malloc's address has a PLT entry
 * that stands for malloc, an undefined symbol with a value, which dlsym(RTLD_DEFAULT) returns although the program's
 * calls still reach the wrapper. */
static int defines_malloc(uintptr_t addr)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    return dladdr1((void *)addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_shndx != SHN_UNDEF &&
           info.dli_sname && strcmp(info.dli_sname, "malloc") == 0 && (uintptr_t)info.dli_saddr == addr;
}

void lw_note_allocator(uintptr_t real_malloc, uintptr_t first_malloc)
{
    span_arg_t self = { (uintptr_t)&lw_note_allocator, 0, 0, "", 0 };
    span_arg_t first = { first_malloc, 0, 0, "", 0 };
    dl_iterate_phdr(find_span, &self);
    if (first_malloc)
        dl_iterate_phdr(find_span, &first);
    if (first.found && self.found && first.lo != self.lo && defines_malloc(first_malloc)) {
        /* the executable (or a library ahead of leakwatch) defines malloc: the wrapper is never called */
        bypassed = 1;
        kind = LW_ALLOC_UNKNOWN;
        lw_strlcpy(obj_name, first.name[0] ? first.name : "the program itself", sizeof(obj_name));
        return;
    }
    span_arg_t a = { real_malloc, 0, 0, "", 0 };
    if (real_malloc)
        dl_iterate_phdr(find_span, &a);
    if (!a.found) {
        /* a malloc in no loaded object (generated code?) is nothing the scan can reason about */
        kind = real_malloc ? LW_ALLOC_UNKNOWN : LW_ALLOC_GLIBC;
        lw_strlcpy(obj_name, "an unknown object", sizeof(obj_name));
        return;
    }
    lw_strlcpy(obj_name, a.name[0] ? a.name : "the program itself", sizeof(obj_name));
    if (strcmp(a.name, "libc.so.6") == 0)
        kind = LW_ALLOC_GLIBC;
    else if (strstr(a.name, "jemalloc"))
        kind = LW_ALLOC_JEMALLOC;
    else if (strstr(a.name, "tcmalloc"))
        kind = LW_ALLOC_TCMALLOC;
    else
        kind = LW_ALLOC_UNKNOWN;
    /* the main program has an empty name; its data are the program's, whatever allocator it carries */
    obj_shared = a.name[0] && kind != LW_ALLOC_GLIBC;
    obj_lo = a.lo;
    obj_hi = a.hi;
}

const char *lw_allocator_untracked(void)
{
    static char msg[200];
    if (!bypassed)
        return NULL;
    char *p = msg;
    p += lw_strlcpy(p, "malloc is defined by ", sizeof(msg));
    p += lw_strlcpy(p, obj_name, sizeof(msg) - (size_t)(p - msg));
    lw_strlcpy(p, ", ahead of leakwatch's: the program's calls never reach leakwatch, and heap blocks are not tracked",
               sizeof(msg) - (size_t)(p - msg));
    return msg;
}

lw_alloc_kind_t lw_allocator_kind(void)
{
    return kind;
}

const char *lw_allocator_name(void)
{
    static const char *const names[] = { "glibc", "jemalloc", "tcmalloc", "unknown" };
    return names[kind];
}

int lw_allocator_object(uintptr_t *lo, uintptr_t *hi)
{
    if (!obj_shared || obj_lo >= obj_hi)
        return 0;
    *lo = obj_lo;
    *hi = obj_hi;
    return 1;
}

/* ---- the allocator's mappings ----------------------------------------------------------------------------- */

/* Sorted, disjoint, adjacent ranges merged: an allocator maps few, large regions (jemalloc keeps what it maps,
 * tcmalloc never unmaps), so the table stays short and a linear update is cheap next to the system call. */
#define LW_AMAP_MAX 4096
static lw_lock_t amap_lock;
static struct {
    uintptr_t lo, hi;
} amap[LW_AMAP_MAX];
static size_t namap;
static atomic_int amap_lost;
/* The span of the table, read without the lock so that the program's own mmap and munmap calls far from it skip
 * the lock. Only ever widened. */
static atomic_uintptr_t span_lo = UINTPTR_MAX, span_hi;

/* The lock, or 0 after a long wait: a thread that was forked away, or a signal handler that interrupted this
 * thread inside the table, holds it for good. The table is then marked incomplete instead of deadlocking. */
static int take(void)
{
    for (int i = 0; i < 100000; i++) {
        if (lw_trylock(&amap_lock))
            return 1;
        if (i < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
    atomic_store(&amap_lost, 1);
    return 0;
}

static void table_add(uintptr_t lo, uintptr_t hi)
{
    size_t i = 0;
    while (i < namap && amap[i].hi < lo)
        i++;
    size_t j = i;
    while (j < namap && amap[j].lo <= hi) {
        if (amap[j].lo < lo)
            lo = amap[j].lo;
        if (amap[j].hi > hi)
            hi = amap[j].hi;
        j++;
    }
    if (j == i) {
        if (namap == LW_AMAP_MAX) {
            atomic_store(&amap_lost, 1);
            return;
        }
        memmove(&amap[i + 1], &amap[i], (namap - i) * sizeof(amap[0]));
        namap++;
    } else if (j > i + 1) {
        memmove(&amap[i + 1], &amap[j], (namap - j) * sizeof(amap[0]));
        namap -= j - i - 1;
    }
    amap[i].lo = lo;
    amap[i].hi = hi;
    if (lo < atomic_load(&span_lo))
        atomic_store(&span_lo, lo);
    if (hi > atomic_load(&span_hi))
        atomic_store(&span_hi, hi);
}

static void table_remove(uintptr_t lo, uintptr_t hi)
{
    for (size_t i = 0; i < namap;) {
        uintptr_t a = amap[i].lo, b = amap[i].hi;
        if (b <= lo || a >= hi) {
            i++;
            continue;
        }
        if (a < lo && b > hi) {
            /* the hole splits the range in two */
            if (namap == LW_AMAP_MAX) {
                atomic_store(&amap_lost, 1);
                amap[i].hi = lo; /* what lies past the hole is forgotten: scanned, not excluded */
                return;
            }
            memmove(&amap[i + 1], &amap[i], (namap - i) * sizeof(amap[0]));
            namap++;
            amap[i].hi = lo;
            amap[i + 1].lo = hi;
            return;
        }
        if (a < lo) {
            amap[i].hi = lo;
            i++;
        } else if (b > hi) {
            amap[i].lo = hi;
            i++;
        } else {
            memmove(&amap[i], &amap[i + 1], (namap - i - 1) * sizeof(amap[0]));
            namap--;
        }
    }
}

static int by_allocator(uintptr_t caller)
{
    return kind != LW_ALLOC_GLIBC && caller >= obj_lo && caller < obj_hi;
}

static void forget(uintptr_t lo, uintptr_t hi)
{
    if (hi <= atomic_load(&span_lo) || lo >= atomic_load(&span_hi))
        return;
    if (take()) {
        table_remove(lo, hi);
        lw_unlock(&amap_lock);
    }
}

int lw_allocator_on_map(uintptr_t lo, uintptr_t hi, uintptr_t caller)
{
    if (!by_allocator(caller)) {
        /* the program's memory now, whatever the allocator had there before */
        forget(lo, hi);
        return 1;
    }
    if (take()) {
        table_add(lo, hi);
        lw_unlock(&amap_lock);
    }
    return 0;
}

void lw_allocator_on_unmap(uintptr_t lo, uintptr_t hi)
{
    forget(lo, hi);
}

size_t lw_allocator_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap, int *complete)
{
    size_t n = 0;
    *complete = 0;
    if (!take())
        return 0;
    for (; n < namap && n < cap; n++) {
        lo[n] = amap[n].lo;
        hi[n] = amap[n].hi;
    }
    *complete = n == namap && !atomic_load(&amap_lost);
    lw_unlock(&amap_lock);
    return n;
}

/* ---- can the scan be trusted -------------------------------------------------------------------------------- */

/* Where the kernel's heap (brk) begins and ends now: field 47 of /proc/self/stat, start_brk, and brk(0). An
 * allocator other than glibc's may take memory from there too (tcmalloc does first). */
static void brk_heap(uintptr_t *lo, uintptr_t *hi)
{
    char buf[1024];
    *lo = *hi = 0;
    ssize_t len = lw_read_file("/proc/self/stat", buf, sizeof(buf) - 1);
    if (len <= 0)
        return;
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return;
    p++;
    for (int field = 3; field < 47 && *p; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    uintptr_t v = 0;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uintptr_t)(*p++ - '0');
    *lo = v;
    *hi = (uintptr_t)lw_syscall(SYS_brk, 0);
    if (*hi < *lo)
        *lo = *hi = 0;
}

static char why[320];

static const char *say(const char *a, uint64_t num, const char *b)
{
    char *p = why;
    p += lw_strlcpy(p, "malloc comes from ", sizeof(why));
    p += lw_strlcpy(p, obj_name, sizeof(why) - (size_t)(p - why));
    p += lw_strlcpy(p, a, sizeof(why) - (size_t)(p - why));
    if (b) {
        if ((size_t)(p - why) < sizeof(why) - 24)
            p = lw_fmt_u64(p, num);
        lw_strlcpy(p, b, sizeof(why) - (size_t)(p - why));
    }
    return why;
}

static const char *last_refusal;

const char *lw_allocator_refusal(void)
{
    return last_refusal;
}

void lw_allocator_set_refusal(const char *text)
{
    static char copy[512];
    lw_strlcpy(copy, text, sizeof(copy));
    last_refusal = copy;
}

static const char *distrust(const lw_entry_t *blocks, size_t n);

const char *lw_allocator_distrust(const lw_entry_t *blocks, size_t n)
{
    return last_refusal = distrust(blocks, n);
}

static const char *distrust(const lw_entry_t *blocks, size_t n)
{
    if (kind == LW_ALLOC_GLIBC)
        return NULL;
    if (kind == LW_ALLOC_UNKNOWN)
        return say(", an allocator leakwatch does not know: its own memory (metadata, free lists, stale copies of "
                   "addresses) cannot be told from the program's, so heap blocks are left unclassified and every "
                   "live block counts as a leak",
                   0, NULL);
    if (!take())
        return say(": its mappings could not be read (a lock held by a thread that is gone), so heap blocks are "
                   "left unclassified and every live block counts as a leak",
                   0, NULL);
    uintptr_t blo, bhi;
    brk_heap(&blo, &bhi);
    uint64_t outside = 0;
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        uintptr_t b = blocks[i].handle;
        if (b >= blo && b < bhi)
            continue;
        while (r < namap && amap[r].hi <= b)
            r++;
        if (r == namap || amap[r].lo > b)
            outside++;
    }
    int lost = atomic_load(&amap_lost);
    lw_unlock(&amap_lock);
    if (outside)
        return say(": ", outside,
                   " heap blocks lie outside the memory it was seen to map, so its own memory cannot be told from "
                   "the program's: heap blocks are left unclassified and every live block counts as a leak");
    if (lost)
        return say(": some of its mappings could not be recorded, so heap blocks are left unclassified and every "
                   "live block counts as a leak",
                   0, NULL);
    return NULL;
}
