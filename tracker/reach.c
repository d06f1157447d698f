/* Reachability at exit, as LeakSanitizer and valgrind define it: a conservative scan of the program's roots for
 * words that point into live heap blocks, a flood fill through the blocks reached, and a pass over the rest that
 * tells blocks only other lost blocks point to (indirect) from those nothing points to (definite). */
#include "allocator.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
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

/* The x86-64 ABI lets a function keep 128 bytes below its stack pointer without moving it: a thread stopped in
 * such a function has live words there. */
#define LW_RED_ZONE 128

typedef struct {
    const lw_entry_t *b; /* the blocks, sorted by address */
    size_t n;
    uintptr_t min, max; /* the span of all blocks */
    uint8_t *cls;
    uint32_t *stack; /* blocks reached but not yet scanned */
    size_t top;
} scan_t;

/* Index of the block containing address v, or -1. A pointer to the first byte past a block does not count;
 * a zero-sized block is pointed to only by its start. */
static ptrdiff_t find_block(const scan_t *s, uintptr_t v)
{
    if (v < s->min || v >= s->max)
        return -1;
    size_t lo = 0, hi = s->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].handle <= v)
            lo = mid;
        else
            hi = mid;
    }
    uintptr_t b = s->b[lo].handle;
    uint64_t len = LW_ENTRY_SIZE(&s->b[lo]);
    if (v < b)
        return -1;
    if (v == b)
        return (ptrdiff_t)lo;
    if (v - b >= len)
        return -1;
    /* glibc lends the last word of a block to the next chunk's header, and its arena and bins point at such
     * headers: a pointer to the next chunk's header is not a pointer into this block. */
    uintptr_t chunk = (len + sizeof(size_t) + 15) & ~(uintptr_t)15;
    if (chunk < 32)
        chunk = 32;
    if (v == b - 2 * sizeof(size_t) + chunk)
        return -1;
    return (ptrdiff_t)lo;
}

/* The scan reads memory it does not own (redzones and all, in a sanitizer build of the tests). */
#define LW_NO_SANITIZE __attribute__((no_sanitize("address", "undefined")))

LW_NO_SANITIZE static void scan_words(scan_t *s, uintptr_t lo, uintptr_t hi, uint8_t mark_as, ptrdiff_t self)
{
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    for (uintptr_t a = lo; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
        uintptr_t v = *(const uintptr_t *)a;
        if (v < s->min || v >= s->max)
            continue;
        ptrdiff_t i = find_block(s, v);
        if (i < 0 || i == self)
            continue;
        if (mark_as == LW_CLASS_REACHABLE) {
            if (s->cls[i] != LW_CLASS_REACHABLE) {
                s->cls[i] = LW_CLASS_REACHABLE;
                s->stack[s->top++] = (uint32_t)i;
            }
        } else if (s->cls[i] == LW_CLASS_DEFINITE) {
            s->cls[i] = LW_CLASS_INDIRECT;
        }
    }
}

static void flood(scan_t *s)
{
    while (s->top) {
        uint32_t i = s->stack[--s->top];
        scan_words(s, s->b[i].handle, s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]), LW_CLASS_REACHABLE, (ptrdiff_t)i);
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

/* glibc's malloc keeps a thread arena in 64 MiB-aligned heaps whose header records the used size, and hands
 * out large blocks as their own mappings; both hold freed chunks with stale pointers, so they are left out of
 * the roots, as is the main arena ([heap]). Live blocks inside them are scanned through the flood fill. */
#define LW_ARENA_HEAP (64ul << 20)

LW_NO_SANITIZE static void exclude_malloc_memory(const scan_t *s, ranges_t *excl, const vma_t *vmas, size_t nv)
{
    /* another allocator's memory is what its code mapped (see prepare): its blocks carry no glibc chunk headers,
     * and reading them as such would exclude arbitrary ranges */
    if (lw_allocator_kind() != LW_ALLOC_GLIBC)
        return;
    uintptr_t last_base = 0;
    size_t vi = 0;
    for (size_t i = 0; i < s->n; i++) {
        uintptr_t b = s->b[i].handle;
        while (vi < nv && vmas[vi].hi <= b)
            vi++;
        if (vi == nv || vmas[vi].lo > b)
            continue;
        const vma_t *v = &vmas[vi];
        if (v->has_path && strcmp(v->name, "[heap]") == 0)
            continue; /* the whole VMA is excluded already */
        if (b - v->lo < 2 * sizeof(size_t))
            continue;
        size_t chunk_size = ((const size_t *)b)[-1];
        if (chunk_size & 2) {
            /* a chunk of its own mapping: prev_size holds the offset from the mapping's start */
            size_t before = ((const size_t *)b)[-2];
            uintptr_t chunk = b - 2 * sizeof(size_t);
            add_range(excl, chunk - before, chunk + (chunk_size & ~(size_t)7));
            continue;
        }
        uintptr_t base = b & ~(LW_ARENA_HEAP - 1);
        if (base == last_base || base < v->lo)
            continue;
        last_base = base;
        size_t used = ((const size_t *)base)[2]; /* heap_info: ar_ptr, prev, size */
        if (used > LW_ARENA_HEAP)
            used = v->hi - base;
        add_range(excl, base, base + used);
    }
}

/* The stack pointers of the process's other threads, from /proc/self/task/TID/syscall ("nr args... sp pc" for a
 * thread blocked in the kernel, which is what threads are at exit). A running thread has none there; its stack
 * is scanned whole. Registers of the other threads are not read: a pointer kept only in one is missed. */
static size_t other_thread_sps(uintptr_t *out, size_t cap, pid_t self, pid_t *tids, size_t *ntids, size_t tcap)
{
    char buf[4096], path[64], line[512];
    size_t n = 0;
    int wait_budget = 50; /* milliseconds in all, however many threads keep running */
    int dir = lw_sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return 0;
    for (;;) {
        long got = syscall(SYS_getdents64, dir, buf, sizeof(buf));
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '1' || d->name[0] > '9')
                continue;
            char *p = path;
            p += lw_strlcpy(p, "/proc/self/task/", sizeof(path));
            size_t k = lw_strlcpy(p, d->name, sizeof(path) - (size_t)(p - path));
            p += k;
            lw_strlcpy(p, "/syscall", sizeof(path) - (size_t)(p - path));
            pid_t tid = 0;
            for (const char *q = d->name; *q >= '0' && *q <= '9'; q++)
                tid = tid * 10 + (*q - '0');
            if (tid == self || n == cap)
                continue;
            /* a thread that is running has no stack pointer here; at exit the others are about to block, so
             * give them a few milliseconds before scanning the whole stack instead */
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
            if (strncmp(line, "running", 7) == 0) {
                /* still running: its registers, stack pointer included, come from ptrace (see read_registers) */
                if (*ntids < tcap)
                    tids[(*ntids)++] = tid;
                continue;
            }
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
            if (nf >= 3 && fields[nf - 2][0] == '0' && fields[nf - 2][1] == 'x') {
                const char *h = fields[nf - 2] + 2;
                uintptr_t sp;
                if (parse_hex(&h, &sp) && sp)
                    out[n++] = sp - LW_RED_ZONE;
            }
        }
    }
    lw_sys_close(dir);
    return n;
}

/* Does the whole classification in the calling process. Memory comes from lw_mem, set up by the caller. */
typedef struct {
    char *maps_buf;
    size_t maps_cap;
    vma_t *vmas;
    size_t vmas_cap;
    range_t *excl;
    range_t *mods;
    uintptr_t *own_lo, *own_hi;
} scratch_t;

/* Reads the memory map, the tracker's own ranges and the loaded objects; runs in the process itself, because the
 * locks these take (the loader's, the allocator's) may be held by a thread that does not exist in a fork. */
static size_t prepare(scratch_t *w, ranges_t *excl, ranges_t *mods)
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

    size_t own = lw_mem_ranges(w->own_lo, w->own_hi, MAX_EXCL / 2);
    for (size_t i = 0; i < own; i++)
        add_range(excl, w->own_lo[i], w->own_hi[i]);
    /* Another allocator's mappings (its extents, metadata, caches, free memory) are no roots: they hold stale and
     * bookkeeping pointers to blocks. Its live blocks in there are scanned through the flood fill, as glibc's are.
     * lw_reach_classify has made sure the copy is complete. */
    int complete;
    size_t am = lw_allocator_ranges(w->own_lo, w->own_hi, MAX_EXCL / 2, &complete);
    for (size_t i = 0; i < am; i++)
        add_range(excl, w->own_lo[i], w->own_hi[i]);
    phdr_arg_t pa = { excl, mods, (uintptr_t)&lw_reach_classify, 0, 0 };
    lw_allocator_object(&pa.alloc_lo, &pa.alloc_hi);
    dl_iterate_phdr(collect_modules, &pa);
    return nv;
}

/* Where the live part of a stack begins, for each stack whose stack pointer is known: every word below it
 * belongs to frames that have returned, whose stale pointers must not keep a leak alive. */
typedef struct {
    uintptr_t *sp;
    size_t n, cap;
} stack_marks_t;


/* The lowest mark inside [lo, hi), or lo when the range holds none (a stack whose pointer is unknown, or no
 * stack at all, is scanned whole). */
static uintptr_t live_start(const stack_marks_t *m, uintptr_t lo, uintptr_t hi)
{
    uintptr_t best = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->sp[i] > lo && m->sp[i] < hi && (!best || m->sp[i] < best))
            best = m->sp[i];
    return best ? best : lo;
}

/* The copy scans memory the parent saw mapped; a mapping the parent marked MADV_DONTFORK is missing here, and
 * another thread may have unmapped something since. A fault ends the scan of that mapping, nothing more: the
 * copy catches SIGSEGV and SIGBUS itself (the program's handlers, crash reporters among them, must not run) and
 * writes no core file. */
static sigjmp_buf scan_fault;

static void on_scan_fault(int sig)
{
    (void)sig;
    siglongjmp(scan_fault, 1);
}

static void guard_faults(void)
{
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_scan_fault;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

static void scan_guarded(scan_t *s, uintptr_t lo, uintptr_t hi, const ranges_t *excl)
{
    if (sigsetjmp(scan_fault, 1) == 0)
        scan_root(s, lo, hi, excl);
    /* the blocks reached so far are on the stack either way; they are live heap blocks, always mapped */
    if (sigsetjmp(scan_fault, 1) == 0)
        flood(s);
}

/* The registers of the other threads that were running (not blocked in a system call), read by the copy with
 * ptrace: such a thread is stopped for as long as it takes to read them. Threads blocked in a system call are left
 * alone, since a stop would make some calls (epoll_wait, poll) fail with EINTR in the program; their stack pointer
 * comes from /proc, and a pointer kept only in one of their registers is missed. A thread that cannot be read
 * (ptrace refused, the thread gone) is skipped: its stack is scanned whole all the same. */
typedef struct {
    struct user_regs_struct *v;
    size_t n;
} regs_t;

static void read_registers(const pid_t *tids, size_t ntids, regs_t *regs, stack_marks_t *marks)
{
    if (!regs->v)
        return;
    for (size_t i = 0; i < ntids; i++) {
        pid_t tid = tids[i];
        if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
            continue;
        int stopped = 0;
        if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) == 0) {
            /* give a thread in an uninterruptible wait a tenth of a second */
            for (int tries = 0; tries < 100 && !stopped; tries++) {
                int st;
                pid_t r = waitpid(tid, &st, __WALL | WNOHANG);
                if (r == tid) {
                    stopped = 1;
                } else if (r < 0 && errno != EINTR) {
                    break;
                } else {
                    struct timespec ms = { 0, 1000000 };
                    nanosleep(&ms, NULL);
                }
            }
        }
        if (stopped && ptrace(PTRACE_GETREGS, tid, NULL, &regs->v[regs->n]) == 0) {
            /* its stack pointer too: a thread that was running has none in /proc */
            if (marks->n < marks->cap)
                marks->sp[marks->n++] = (uintptr_t)regs->v[regs->n].rsp - LW_RED_ZONE;
            regs->n++;
        }
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
    }
}

/* Where Yama restricts ptrace to ancestors (ptrace_scope 1), the copy may read this process's registers only once
 * this process names it; the permission is withdrawn when the scan is done (and given only when some thread was
 * running, since withdrawing it also forgets a tracer the program may have named itself). */
static void allow_tracer(pid_t copy, int allow)
{
    char scope[8];
    ssize_t n = lw_read_file("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
    if (n > 0 && scope[0] == '1')
        prctl(PR_SET_PTRACER, allow ? (unsigned long)copy : 0ul, 0ul, 0ul, 0ul);
}

/* The scan proper: reads memory, takes no lock, calls nothing that allocates. */
static void classify(scan_t *s, scratch_t *w, size_t nv, ranges_t excl, ranges_t mods, const stack_marks_t *marks,
                     const regs_t *regs)
{
    exclude_malloc_memory(s, &excl, w->vmas, nv);
    sort_ranges(&excl);

    for (size_t i = 0; i < s->n; i++)
        s->cls[i] = LW_CLASS_DEFINITE;

    /* the registers of the other threads are roots too */
    if (regs->v && regs->n) {
        scan_words(s, (uintptr_t)regs->v, (uintptr_t)(regs->v + regs->n), LW_CLASS_REACHABLE, -1);
        flood(s);
    }

    for (size_t i = 0; i < nv; i++) {
        const vma_t *v = &w->vmas[i];
        if (v->perms[0] != 'r' || v->perms[1] != 'w' || v->perms[3] == 's')
            continue;
        uintptr_t lo = v->lo, hi = v->hi;
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
        /* a thread's stack: from its stack pointer up (the thread's TLS and descriptor lie above it) */
        lo = live_start(marks, lo, hi);
        scan_guarded(s, lo, hi, &excl);
    }

    /* What the roots did not reach is lost; a lost block that another lost block points to is indirect. */
    for (size_t i = 0; i < s->n; i++) {
        if (s->cls[i] == LW_CLASS_REACHABLE)
            continue;
        scan_words(s, s->b[i].handle, s->b[i].handle + LW_ENTRY_SIZE(&s->b[i]), LW_CLASS_INDIRECT, (ptrdiff_t)i);
    }
}

int lw_reach_classify(const lw_entry_t *blocks, size_t n, uint8_t *cls)
{
    if (n == 0)
        return 0;
    if (n > UINT32_MAX)
        return EOVERFLOW;
    /* an allocator whose memory is not known would make the classes a guess */
    if (lw_allocator_distrust(blocks, n))
        return ENOTSUP;

    scratch_t w = { 0 };
    w.maps_cap = 4u << 20;
    w.vmas_cap = 65536;
    w.maps_buf = lw_mem_alloc(w.maps_cap);
    w.vmas = lw_mem_alloc(w.vmas_cap * sizeof(vma_t));
    w.excl = lw_mem_alloc(MAX_EXCL * sizeof(range_t));
    w.mods = lw_mem_alloc(MAX_EXCL * sizeof(range_t));
    w.own_lo = lw_mem_alloc(MAX_EXCL / 2 * sizeof(uintptr_t));
    w.own_hi = lw_mem_alloc(MAX_EXCL / 2 * sizeof(uintptr_t));
    uint32_t *stack = lw_mem_alloc(n * sizeof(uint32_t));
    uint8_t *tmp_cls = lw_mem_alloc(n);
    int fds[2] = { -1, -1 }, sync[2] = { -1, -1 };
    int err = 0;
    pid_t pid = -1;
    static pid_t tids[4096];
    size_t ntids = 0;
    regs_t regs = { NULL, 0 };
    if (!w.maps_buf || !w.vmas || !w.excl || !w.mods || !w.own_lo || !w.own_hi || !stack || !tmp_cls) {
        err = ENOMEM;
        goto out;
    }

    scan_t s = { blocks, n, blocks[0].handle, 0, tmp_cls, stack, 0 };
    for (size_t i = 0; i < n; i++) {
        uintptr_t end = blocks[i].handle + (LW_ENTRY_SIZE(&blocks[i]) ? LW_ENTRY_SIZE(&blocks[i]) : 1);
        if (end > s.max)
            s.max = end;
    }
    /* The scan runs in a forked copy: the other threads do not exist there, so nothing moves while it reads. The
     * copy is made with lw_sys_fork_quiet (no atfork handlers, no SIGCHLD, invisible to the program's waits) and
     * never calls malloc; its answer comes back through a pipe. */
    if (lw_sys_pipe2(fds, O_CLOEXEC) < 0) {
        err = errno;
        goto out;
    }
    ranges_t excl = { w.excl, 0 }, mods = { w.mods, 0 };
    size_t nv = prepare(&w, &excl, &mods);

    /* This thread's stack is live from here up, or, when this is the thread that called exit, from exit's
     * caller up: below lie exit handlers and this scan's own frames, which hold the blocks' addresses. */
    static uintptr_t sps[4096];
    stack_marks_t marks = { sps, 0, sizeof(sps) / sizeof(sps[0]) };
    uintptr_t here = (uintptr_t)__builtin_frame_address(0), mine = here;
    for (size_t i = 0; i < nv; i++)
        if (here >= w.vmas[i].lo && here < w.vmas[i].hi && lw_exit_frame > here && lw_exit_frame < w.vmas[i].hi)
            mine = lw_exit_frame;
    sps[marks.n++] = mine;
    marks.n += other_thread_sps(sps + 1, sizeof(sps) / sizeof(sps[0]) - 1, (pid_t)syscall(SYS_gettid), tids, &ntids,
                                sizeof(tids) / sizeof(tids[0]));
    regs.v = lw_mem_alloc(ntids * sizeof(struct user_regs_struct) + 1);
    if (lw_sys_pipe2(sync, O_CLOEXEC) < 0)
        sync[0] = sync[1] = -1;
    pid = lw_sys_fork_quiet();
    if (pid == 0) {
        lw_sys_close(fds[0]);
        guard_faults();
        if (sync[0] >= 0) {
            char go;
            lw_sys_close(sync[1]);
            while (read(sync[0], &go, 1) < 0 && errno == EINTR)
                ;
        }
        read_registers(tids, ntids, &regs, &marks);
        classify(&s, &w, nv, excl, mods, &marks, &regs);
        size_t off = 0;
        while (off < n) {
            ssize_t k = write(fds[1], tmp_cls + off, n - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                syscall(SYS_exit_group, 1);
            off += (size_t)k;
        }
        syscall(SYS_exit_group, 0); /* not _exit: the injected library interposes it */
    }
    if (pid < 0) {
        err = errno;
        goto out;
    }
    if (ntids)
        allow_tracer(pid, 1);
    if (sync[0] >= 0) {
        lw_sys_close(sync[0]);
        lw_sys_close(sync[1]); /* the copy reads end-of-file: go on */
    }
    lw_sys_close(fds[1]);
    fds[1] = -1;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fds[0], tmp_cls + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    int st = 0;
    int reaped = lw_sys_reap(pid, &st) == 0;
    if (ntids)
        allow_tracer(pid, 0);
    if (got != n || !reaped || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        err = ECHILD;
    else
        memcpy(cls, tmp_cls, n);

out:
    if (sync[0] >= 0 && pid < 0) {
        lw_sys_close(sync[0]);
        lw_sys_close(sync[1]);
    }
    if (fds[0] >= 0)
        lw_sys_close(fds[0]);
    if (fds[1] >= 0)
        lw_sys_close(fds[1]);
    lw_mem_free(w.maps_buf, w.maps_cap);
    lw_mem_free(w.vmas, w.vmas_cap * sizeof(vma_t));
    lw_mem_free(w.excl, MAX_EXCL * sizeof(range_t));
    lw_mem_free(w.mods, MAX_EXCL * sizeof(range_t));
    lw_mem_free(w.own_lo, MAX_EXCL / 2 * sizeof(uintptr_t));
    lw_mem_free(w.own_hi, MAX_EXCL / 2 * sizeof(uintptr_t));
    lw_mem_free(stack, n * sizeof(uint32_t));
    lw_mem_free(tmp_cls, n);
    lw_mem_free(regs.v, ntids * sizeof(struct user_regs_struct) + 1);
    return err;
}
