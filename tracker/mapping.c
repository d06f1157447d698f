/* The memory the program maps itself (mmap, mremap, shmat) as ranges, and the shared-memory objects it creates
 * (shm_open, shmget), each an mmap-kind record of the live tables: a munmap of part of a range splits it. */
#include "allocator.h"
#include "internal.h"
#include "sys.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* How a range is backed (lw_map_t.how). */
#define HOW_SHARED 0x01u
#define HOW_ANON 0x02u
#define HOW_SYSV 0x04u

typedef struct {
    uintptr_t lo, hi;
    uint32_t site, born_ms;
    uint8_t prot, how, recflags;
    char *path; /* NULL for anonymous memory or when it could not be read; lw_mem_alloc'd, pathlen + 1 bytes */
    uint16_t pathlen;
    uint64_t seq; /* maps_seq when it was added (the parts a removal leaves keep it) */
} map_t;

/* An object that outlives the process unless removed: a POSIX shm object (its path /dev/shm/NAME) or a System V
 * segment (its id). The record's handle is LW_MMAP_SHM | sequence or LW_MMAP_SYSV | id, above every address. */
typedef struct {
    uintptr_t handle;
    int shmid; /* -1 for a POSIX object */
    char path[96];
} obj_t;

#define LW_MMAP_SYSV (1ull << 63)
#define LW_MMAP_SHM (1ull << 62)

static lw_lock_t maps_lock;
static map_t *maps; /* sorted by lo, disjoint */
static size_t nmaps, cap_maps;
static obj_t *objs;
static size_t nobjs, cap_objs;
static uint64_t shm_seq;
/* Set once an object is recorded, read without the lock so that the removals of a program with none skip it. */
static atomic_int have_objs;
/* The span the ranges ever covered, read without the lock so that a munmap far from every range skips it. */
static atomic_uintptr_t span_lo = UINTPTR_MAX, span_hi;
/* The number of ranges ever added, each range numbered by it (map_t.seq); read without the lock before a call
 * (lw_maps_seq), so that a removal put off until later leaves alone what was added after that call. */
static _Atomic uint64_t maps_seq;

static uintptr_t page_end(uintptr_t lo, size_t len)
{
    uintptr_t hi = lo + len;
    return hi < lo ? UINTPTR_MAX : (hi + 4095) & ~(uintptr_t)4095;
}

/* Grows *v (elements of `size` bytes, *cap of them) to hold one more; 0 or -1 when out of memory. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    void *nv = lw_mem_alloc(ncap * size);
    if (!nv)
        return -1;
    if (*v) {
        memcpy(nv, *v, n * size);
        lw_mem_free(*v, *cap * size);
    }
    *v = nv;
    *cap = ncap;
    return 0;
}

static char *dup_path(const char *s, uint16_t len)
{
    if (!s)
        return NULL;
    char *p = lw_mem_alloc((size_t)len + 1);
    if (p)
        memcpy(p, s, (size_t)len + 1);
    return p;
}

static void free_path(map_t *m)
{
    if (m->path)
        lw_mem_free(m->path, (size_t)m->pathlen + 1);
    m->path = NULL;
}

static void record(const map_t *m)
{
    lw_table_put(LW_MMAP, m->lo, m->hi - m->lo, m->site, m->born_ms, m->recflags);
}

/* Takes [lo, hi) out of the ranges numbered `upto` or below (the others stay whole): a range inside it goes, one
 * that overlaps keeps what lies outside (its head keeps its record, a tail becomes a record of its own with the
 * same stack). Caller holds maps_lock. */
static void remove_range_upto(uintptr_t lo, uintptr_t hi, uint64_t upto)
{
    size_t i = 0;
    while (i < nmaps && maps[i].hi <= lo)
        i++;
    while (i < nmaps && maps[i].lo < hi) {
        map_t *m = &maps[i];
        uintptr_t a = m->lo, b = m->hi;
        if (m->seq > upto) {
            i++;
        } else if (a < lo && b > hi) {
            /* a hole in the middle: two ranges */
            if (grow((void **)&maps, &cap_maps, nmaps, sizeof(map_t)) != 0) {
                atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
                maps[i].hi = lo; /* the tail is forgotten */
                record(&maps[i]);
                return;
            }
            m = &maps[i];
            memmove(&maps[i + 1], &maps[i], (nmaps - i) * sizeof(map_t));
            nmaps++;
            maps[i].hi = lo;
            maps[i + 1].lo = hi;
            maps[i + 1].path = dup_path(m->path, m->pathlen);
            record(&maps[i]);
            record(&maps[i + 1]);
            return;
        } else if (a < lo) {
            m->hi = lo;
            record(m);
            i++;
        } else if (b > hi) {
            lw_table_drop(LW_MMAP, a);
            m->lo = hi;
            record(m);
            return;
        } else {
            lw_table_drop(LW_MMAP, a);
            free_path(m);
            memmove(&maps[i], &maps[i + 1], (nmaps - i - 1) * sizeof(map_t));
            nmaps--;
        }
    }
}

static void remove_range(uintptr_t lo, uintptr_t hi)
{
    remove_range_upto(lo, hi, UINT64_MAX);
}

/* Adds m (its range free now) and its record. Caller holds maps_lock. */
static void add_range(map_t *m)
{
    m->seq = atomic_fetch_add(&maps_seq, 1) + 1;
    if (grow((void **)&maps, &cap_maps, nmaps, sizeof(map_t)) != 0) {
        free_path(m);
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
        return;
    }
    size_t i = 0;
    while (i < nmaps && maps[i].lo < m->lo)
        i++;
    memmove(&maps[i + 1], &maps[i], (nmaps - i) * sizeof(map_t));
    nmaps++;
    maps[i] = *m;
    record(&maps[i]);
    if (m->lo < atomic_load(&span_lo))
        atomic_store(&span_lo, m->lo);
    if (m->hi > atomic_load(&span_hi))
        atomic_store(&span_hi, m->hi);
}

static int near_ranges(uintptr_t lo, uintptr_t hi)
{
    return hi > atomic_load(&span_lo) && lo < atomic_load(&span_hi);
}

uint64_t lw_maps_seq(void)
{
    return atomic_load_explicit(&maps_seq, memory_order_relaxed);
}

/* Whether a call that changes the ranges must leave that to later (defer_removal): it comes from inside the
 * tracker (a signal handler that interrupted it) while this thread holds one of leakwatch's locks, which may be
 * the ranges' lock or a lock of the live tables or of lw_mem that changing them takes. Holding none, it takes
 * them and waits as any call does. The dump thread is inside the tracker for good and holds none of those when
 * it maps memory. */
static int nested(void)
{
    return lw_self.busy && lw_locks_held != 0 && !lw_self.own_thread;
}

/* Whether the caller is a signal handler that interrupted the tracker (holding none of its locks, or nested would
 * say so). Read before lw_enter, which sets the guard. */
static int in_handler(void)
{
    return lw_self.busy && !lw_self.own_thread;
}

/* Takes the ranges' lock; a handler (in_handler) waits for it only a while, since the thread that holds it may be
 * forking and wait for a lock the interrupted code holds. Returns 0 when the lock was not taken: the caller puts
 * its change off (defer_removal). */
static int lock_maps(int handler)
{
    if (handler)
        return lw_lock_in_handler(&maps_lock);
    lw_lock(&maps_lock);
    return 1;
}

/* Puts off taking [lo, hi) out of the ranges numbered `before` or below (those that existed before the call that
 * unmapped it began) to the end of the tracker's call that this thread is inside of. A range that touches one
 * put off with the same number joins it (their union is the same removal); otherwise it takes a free slot. A slot
 * is claimed with a compare-and-swap before it is written, since a handler may interrupt to claim one of its own.
 * With every slot taken the removal is lost, and counted as a lost record: the dump then says it is incomplete. */
static void defer_removal(uintptr_t lo, uintptr_t hi, uint64_t before)
{
    for (int i = 0; i < LW_DEFERRED_UNMAPS; i++) {
        lw_unmapped_t *u = &lw_self.unmapped[i];
        uintptr_t h = atomic_load_explicit(&u->hi, memory_order_relaxed);
        if (h == 0 || h == LW_UNMAP_CLAIMED || u->seq != before || u->lo > hi || lo > h ||
            !atomic_compare_exchange_strong_explicit(&u->hi, &h, LW_UNMAP_CLAIMED, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        atomic_signal_fence(memory_order_seq_cst);
        if (lo < u->lo)
            u->lo = lo;
        atomic_signal_fence(memory_order_seq_cst);
        atomic_store_explicit(&u->hi, hi > h ? hi : h, memory_order_relaxed);
        return;
    }
    for (int i = 0; i < LW_DEFERRED_UNMAPS; i++) {
        lw_unmapped_t *u = &lw_self.unmapped[i];
        uintptr_t free_slot = 0;
        if (!atomic_compare_exchange_strong_explicit(&u->hi, &free_slot, LW_UNMAP_CLAIMED, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        atomic_signal_fence(memory_order_seq_cst);
        u->lo = lo;
        u->seq = before;
        atomic_signal_fence(memory_order_seq_cst);
        atomic_store_explicit(&u->hi, hi, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst);
        lw_self.pending = 1;
        return;
    }
    atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
}

unsigned lw_maps_deferred(void)
{
    unsigned n = 0;
    for (int i = 0; i < LW_DEFERRED_UNMAPS; i++)
        n += atomic_load_explicit(&lw_self.unmapped[i].hi, memory_order_relaxed) != 0;
    return n;
}

void lw_maps_finish_deferred(void)
{
    for (int i = 0; i < LW_DEFERRED_UNMAPS; i++) {
        lw_unmapped_t *u = &lw_self.unmapped[i];
        uintptr_t hi = atomic_load_explicit(&u->hi, memory_order_relaxed);
        if (hi == 0 || hi == LW_UNMAP_CLAIMED)
            continue;
        /* claimed while it is read and emptied: a handler that runs meanwhile (and carries out the slots itself)
         * neither takes it nor has it emptied under its own range */
        if (!atomic_compare_exchange_strong_explicit(&u->hi, &hi, LW_UNMAP_CLAIMED, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        atomic_signal_fence(memory_order_seq_cst);
        uintptr_t lo = u->lo;
        uint64_t seq = u->seq;
        u->lo = 0; /* an address left in a free slot would be a root of the exit scan */
        atomic_signal_fence(memory_order_seq_cst);
        atomic_store_explicit(&u->hi, 0, memory_order_relaxed);
        int was = lw_self.busy;
        lw_self.busy = 1;
        lw_lock(&maps_lock);
        remove_range_upto(lo, hi, seq);
        lw_unlock(&maps_lock);
        lw_self.busy = was;
    }
}

/* The path of descriptor fd, read from /proc with the system call itself. Returns its length, 0 when unknown. */
static uint16_t fd_path(int fd, char *buf, size_t cap)
{
    char link[48], *p = link;
    p += lw_strlcpy(p, "/proc/self/fd/", sizeof(link));
    *lw_fmt_u64(p, (uint64_t)fd) = '\0';
    long n = lw_syscall(SYS_readlinkat, AT_FDCWD, link, buf, cap - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (uint16_t)n;
}

/* Whether the tracker records mappings now: the kind is on and the caller is not the tracker. */
static int tracking_maps(void)
{
    return lw_tracking(LW_MMAP);
}

void lw_on_map_at(void *addr, size_t len, int prot, int flags, int fd, uint64_t before, lw_origin_t origin)
{
    if (addr == MAP_FAILED || len == 0)
        return;
    int saved = errno;
    uintptr_t lo = (uintptr_t)addr, hi = page_end(lo, len);
    int program = lw_allocator_on_map(lo, hi, origin.ra);
    if (nested()) {
        /* not recorded (lw_tracking), and whatever the program had mapped there is gone */
        if (near_ranges(lo, hi))
            defer_removal(lo, hi, before);
        errno = saved;
        return;
    }
    lw_init();
    if (!program || !tracking_maps()) {
        /* not the program's own mapping (the allocator's, or one the tracker made): whatever the program had
         * mapped there before the call is gone */
        if (near_ranges(lo, hi)) {
            int handler = in_handler();
            lw_guard_t g = lw_enter();
            int locked = lock_maps(handler);
            if (locked) {
                remove_range_upto(lo, hi, before);
                lw_unlock(&maps_lock);
            }
            lw_leave(g);
            if (!locked)
                defer_removal(lo, hi, before);
        }
        errno = saved;
        return;
    }
    lw_guard_t g = lw_enter();
    char path[256];
    uint16_t plen = (flags & MAP_ANONYMOUS) || fd < 0 ? 0 : fd_path(fd, path, sizeof(path));
    map_t m = { lo, hi, lw_stack_site(origin), lw_now_ms(), (uint8_t)(prot & 7),
                (uint8_t)(((flags & MAP_TYPE) == MAP_PRIVATE ? 0 : HOW_SHARED) |
                          ((flags & MAP_ANONYMOUS) ? HOW_ANON : 0)),
                (uint8_t)lw_acquire_flags, NULL, plen, 0 }; /* seq: add_range numbers it */
    m.path = plen ? dup_path(path, plen) : NULL;
    lw_lock(&maps_lock);
    remove_range(lo, hi); /* MAP_FIXED over a range replaces it */
    add_range(&m);
    lw_unlock(&maps_lock);
    lw_leave(g);
}

void lw_on_unmap(void *addr, size_t len, uint64_t before)
{
    uintptr_t lo = (uintptr_t)addr, hi = page_end(lo, len);
    lw_allocator_on_unmap(lo, hi);
    if (!near_ranges(lo, hi))
        return;
    int handler = in_handler();
    if (nested()) {
        defer_removal(lo, hi, before);
        return;
    }
    lw_guard_t g = lw_enter();
    int locked = lock_maps(handler);
    if (locked) {
        /* what another thread mapped there since the call began (the address handed out again) stays */
        remove_range_upto(lo, hi, before);
        lw_unlock(&maps_lock);
    }
    lw_leave(g);
    if (!locked)
        defer_removal(lo, hi, before);
}

void lw_on_remap_at(void *old, size_t old_len, void *p, size_t new_len, int flags, uint64_t before,
                    lw_origin_t origin)
{
    if (p == MAP_FAILED)
        return;
    int saved = errno;
    uintptr_t olo = (uintptr_t)old, ohi = page_end(olo, old_len), lo = (uintptr_t)p, hi = page_end(lo, new_len);
    if (!(flags & MREMAP_DONTUNMAP))
        lw_allocator_on_unmap(olo, ohi);
    int program = lw_allocator_on_map(lo, hi, origin.ra);
    int track = tracking_maps();
    if (!near_ranges(olo, ohi) && !near_ranges(lo, hi)) {
        errno = saved;
        return;
    }
    if (nested()) {
        /* the new range is not recorded (lw_tracking), and what was recorded at either range is gone */
        if (!(flags & MREMAP_DONTUNMAP))
            defer_removal(olo, ohi, before);
        defer_removal(lo, hi, before);
        errno = saved;
        return;
    }
    int handler = in_handler();
    lw_guard_t g = lw_enter();
    if (!lock_maps(handler)) {
        lw_leave(g);
        if (!(flags & MREMAP_DONTUNMAP))
            defer_removal(olo, ohi, before);
        defer_removal(lo, hi, before);
        errno = saved;
        return;
    }
    /* the new range takes the attributes and the stack of the range the old address lay in */
    map_t m = { 0 };
    int known = 0;
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].lo <= olo && olo < maps[i].hi) {
            m = maps[i];
            m.path = dup_path(maps[i].path, maps[i].pathlen);
            known = 1;
            break;
        }
    }
    if (!(flags & MREMAP_DONTUNMAP))
        remove_range(olo, ohi);
    remove_range(lo, hi);
    if (known && program && track) {
        m.lo = lo;
        m.hi = hi;
        add_range(&m);
    } else if (known) {
        free_path(&m);
    }
    lw_unlock(&maps_lock);
    lw_leave(g);
    errno = saved;
}

/* ---- shared-memory objects ------------------------------------------------------------------------------- */

static void obj_add(uintptr_t handle, int shmid, const char *path, uint64_t size, lw_origin_t origin)
{
    lw_guard_t g = lw_enter();
    uint32_t site = lw_stack_site(origin);
    lw_lock(&maps_lock);
    if (grow((void **)&objs, &cap_objs, nobjs, sizeof(obj_t)) == 0) {
        obj_t *o = &objs[nobjs++];
        o->handle = handle;
        o->shmid = shmid;
        lw_strlcpy(o->path, path, sizeof(o->path));
        lw_table_put(LW_MMAP, handle, size, site, lw_now_ms(), lw_acquire_flags);
        atomic_store(&have_objs, 1);
    } else {
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
    }
    lw_unlock(&maps_lock);
    lw_leave(g);
}

/* Forgets the objects with that path (shmid < 0) or that id. From inside the tracker (see nested) the removal is
 * lost, and counted as a lost record. */
static void obj_remove(const char *path, int shmid)
{
    if (nested()) {
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed);
        return;
    }
    lw_guard_t g = lw_enter();
    lw_lock(&maps_lock);
    for (size_t i = 0; i < nobjs;) {
        obj_t *o = &objs[i];
        if (path ? o->shmid < 0 && strcmp(o->path, path) == 0 : o->shmid == shmid) {
            lw_table_drop(LW_MMAP, o->handle);
            objs[i] = objs[--nobjs];
        } else {
            i++;
        }
    }
    lw_unlock(&maps_lock);
    lw_leave(g);
}

/* /dev/shm/NAME for the name given to shm_open (leading slashes dropped, as glibc does). */
static void shm_path(const char *name, char *buf, size_t cap)
{
    while (*name == '/')
        name++;
    size_t n = lw_strlcpy(buf, "/dev/shm/", cap);
    if (n < cap)
        lw_strlcpy(buf + n, name, cap - n);
}

int lw_shm_open_creates(const char *name, int oflag)
{
    if (!(oflag & O_CREAT) || !name || !lw_tracking(LW_MMAP))
        return 0;
    if (oflag & O_EXCL)
        return 1;
    int saved = errno;
    char path[96];
    struct stat st;
    shm_path(name, path, sizeof(path));
    int exists = lw_syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0;
    errno = saved;
    return !exists;
}

void lw_on_shm_open_at(const char *name, int fd, int created, lw_origin_t origin)
{
    if (fd < 0 || !created || !lw_tracking(LW_MMAP))
        return;
    int saved = errno;
    char path[96];
    shm_path(name, path, sizeof(path));
    obj_remove(path, -1); /* an object of that name that was removed behind our back */
    lw_guard_t g = lw_enter();
    lw_lock(&maps_lock);
    uintptr_t h = LW_MMAP_SHM | ++shm_seq;
    lw_unlock(&maps_lock);
    lw_leave(g);
    obj_add(h, -1, path, 0, origin);
    errno = saved;
}

void lw_on_shm_unlink(const char *name)
{
    if (!name || !atomic_load(&have_objs))
        return;
    int saved = errno;
    char path[96];
    shm_path(name, path, sizeof(path));
    obj_remove(path, -1);
    errno = saved;
}

int lw_shmget_creates(key_t key, int shmflg)
{
    if (!lw_tracking(LW_MMAP))
        return 0;
    if (key == IPC_PRIVATE || ((shmflg & IPC_CREAT) && (shmflg & IPC_EXCL)))
        return 1;
    if (!(shmflg & IPC_CREAT))
        return 0;
    int saved = errno;
    int exists = lw_syscall(SYS_shmget, key, 0, 0) >= 0 || errno != ENOENT;
    errno = saved;
    return !exists;
}

void lw_on_shmget_at(int shmid, key_t key, size_t size, int created, lw_origin_t origin)
{
    if (shmid < 0 || !created || !lw_tracking(LW_MMAP))
        return;
    int saved = errno;
    char path[96], *p = path;
    p += lw_strlcpy(p, "SYSV", sizeof(path));
    char hex[24];
    char *e = lw_fmt_hex(hex, (uint64_t)(uint32_t)key); /* "0x..." */
    *e = '\0';
    size_t digits = (size_t)(e - hex) - 2;
    for (size_t i = digits; i < 8; i++)
        *p++ = '0';
    p += lw_strlcpy(p, hex + 2, sizeof(path) - (size_t)(p - path));
    p += lw_strlcpy(p, " shmid ", sizeof(path) - (size_t)(p - path));
    *lw_fmt_u64(p, (uint64_t)shmid) = '\0';
    obj_add(LW_MMAP_SYSV | (uint32_t)shmid, shmid, path, size, origin);
    errno = saved;
}

void lw_on_shm_rmid(int shmid)
{
    if (shmid < 0 || !atomic_load(&have_objs))
        return;
    int saved = errno;
    obj_remove(NULL, shmid);
    errno = saved;
}

void lw_on_shmat_at(void *addr, int shmid, int shmflg, lw_origin_t origin)
{
    if (addr == (void *)-1)
        return;
    int saved = errno;
    struct shmid_ds ds;
    uintptr_t lo = (uintptr_t)addr;
    size_t len = lw_syscall(SYS_shmctl, shmid, IPC_STAT, &ds) == 0 ? ds.shm_segsz : 4096;
    uintptr_t hi = page_end(lo, len);
    lw_allocator_on_map(lo, hi, origin.ra);
    if (!tracking_maps()) {
        errno = saved;
        return;
    }
    lw_guard_t g = lw_enter();
    char path[64], *p = path;
    p += lw_strlcpy(p, "SYSV", sizeof(path));
    char hex[24];
    char *e = lw_fmt_hex(hex, (uint64_t)(uint32_t)ds.shm_perm.__key);
    *e = '\0';
    for (size_t i = (size_t)(e - hex) - 2; i < 8; i++)
        *p++ = '0';
    p += lw_strlcpy(p, hex + 2, sizeof(path) - (size_t)(p - path));
    p += lw_strlcpy(p, " shmid ", sizeof(path) - (size_t)(p - path));
    p = lw_fmt_u64(p, (uint64_t)shmid);
    *p = '\0';
    map_t m = { lo, hi, lw_stack_site(origin), lw_now_ms(), (uint8_t)((shmflg & SHM_RDONLY) ? 1 : 3),
                HOW_SHARED | HOW_SYSV, (uint8_t)lw_acquire_flags, NULL, (uint16_t)(p - path), 0 };
    m.path = dup_path(path, m.pathlen);
    lw_lock(&maps_lock);
    remove_range(lo, hi);
    add_range(&m);
    lw_unlock(&maps_lock);
    lw_leave(g);
    errno = saved;
}

void lw_on_shmdt(const void *addr)
{
    uintptr_t lo = (uintptr_t)addr;
    if (!near_ranges(lo, lo + 1))
        return;
    if (nested()) {
        atomic_fetch_add_explicit(&lw_lost_records, 1, memory_order_relaxed); /* see obj_remove */
        return;
    }
    int saved = errno;
    lw_guard_t g = lw_enter();
    lw_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++) {
        if (maps[i].lo == lo && (maps[i].how & HOW_SYSV)) {
            remove_range(maps[i].lo, maps[i].hi);
            break;
        }
    }
    lw_unlock(&maps_lock);
    lw_leave(g);
    errno = saved;
}

/* ---- what the dump and the tests read ------------------------------------------------------------------- */

void lw_mapping_describe(uintptr_t handle, lw_desc_t *d)
{
    /* only tried: a signal dump may interrupt a thread that holds the lock */
    if (!lw_trylock(&maps_lock))
        return;
    if (handle & (LW_MMAP_SYSV | LW_MMAP_SHM)) {
        for (size_t i = 0; i < nobjs; i++) {
            if (objs[i].handle != handle)
                continue;
            lw_strlcpy(d->backing, objs[i].shmid < 0 ? "shm" : "sysv-segment", sizeof(d->backing));
            lw_strlcpy(d->target, objs[i].path, sizeof(d->target));
            break;
        }
        lw_unlock(&maps_lock);
        return;
    }
    for (size_t i = 0; i < nmaps; i++) {
        const map_t *m = &maps[i];
        if (m->lo != handle)
            continue;
        d->prot[0] = (m->prot & PROT_READ) ? 'r' : '-';
        d->prot[1] = (m->prot & PROT_WRITE) ? 'w' : '-';
        d->prot[2] = (m->prot & PROT_EXEC) ? 'x' : '-';
        d->prot[3] = '\0';
        lw_strlcpy(d->sharing, (m->how & HOW_SHARED) ? "shared" : "private", sizeof(d->sharing));
        lw_strlcpy(d->backing, (m->how & HOW_SYSV) ? "sysv" : (m->how & HOW_ANON) ? "anon" : "file",
                   sizeof(d->backing));
        if (m->path)
            lw_strlcpy(d->target, m->path, sizeof(d->target));
        break;
    }
    lw_unlock(&maps_lock);
}

size_t lw_mapping_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap)
{
    lw_guard_t g = lw_enter();
    lw_lock(&maps_lock);
    size_t n = 0;
    for (; n < nmaps && n < cap; n++) {
        lo[n] = maps[n].lo;
        hi[n] = maps[n].hi;
    }
    lw_unlock(&maps_lock);
    lw_leave(g);
    return n;
}

void lw_mappings_lock(void)
{
    lw_lock(&maps_lock);
}

void lw_mappings_unlock(void)
{
    lw_unlock(&maps_lock);
}

void lw_mappings_reset(void)
{
    lw_lock(&maps_lock);
    for (size_t i = 0; i < nmaps; i++)
        free_path(&maps[i]);
    nmaps = 0;
    nobjs = 0;
    atomic_store(&span_lo, UINTPTR_MAX);
    atomic_store(&span_hi, 0);
    lw_unlock(&maps_lock);
}
