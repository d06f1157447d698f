/* The one boundary between the interposed wrappers (preload/) and the in-process core (tracker/). */
#ifndef LW_TRACKER_H
#define LW_TRACKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Resource kinds. The order is the order of `totals` in every dump and report. */
typedef enum {
    LW_HEAP,
    LW_FD,
    LW_SOCKET,
    LW_THREAD,
    LW_TIMER,
    LW_MMAP,
    LW_KIND_COUNT
} lw_kind_t;

/* Where an acquisition came from: the return address into the caller of the wrapper and the wrapper's own
 * frame address. Together they key the per-thread stack cache; the unwinder starts at the first frame whose
 * stack pointer lies above `frame`, so every wrapper and tracker frame is left out of the stack. */
typedef struct {
    uintptr_t ra;
    uintptr_t frame;
} lw_origin_t;

/* Evaluated inside a wrapper, names the wrapper's caller. __builtin_frame_address(0) forces a frame pointer in
 * the function that uses it, so the value is exact even in an optimised build. */
#define LW_HERE() \
    ((lw_origin_t){ (uintptr_t)__builtin_return_address(0), (uintptr_t)__builtin_frame_address(0) })

/* Hands the tracker the real pthread_create, which it uses for its own threads (the dump thread): the public
 * name is the injected library's wrapper. Call it as soon as the real function is resolved. */
typedef int (*lw_thread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
void lw_sys_set_thread_create(lw_thread_create_fn fn);

/* Hands the tracker the real sigaction, which it uses for its own handlers (the dump signal, the scan's fault
 * handler): the public name is the injected library's wrapper. */
struct sigaction;
typedef int (*lw_sigaction_fn)(int, const struct sigaction *, struct sigaction *);
void lw_sys_set_sigaction(lw_sigaction_fn fn);

/* One system call made with the instruction itself, six arguments whatever it reads: the kernel's result, or
 * -errno (a value in [-4095, -1]). For the syscall() wrapper, which has no real function to call. */
long lw_sys_raw(long nr, const long a[6]);

/* syscall() with glibc's contract (six arguments forwarded, -1 with errno on failure, errno untouched
 * otherwise), made with the instruction itself: the public syscall() is the injected library's wrapper, so
 * the library's own system calls, in preload/ and tracker/ alike, go through this one. */
long lw_syscall(long nr, ...);

/* Tells the tracker where the real malloc is (the loaded object that defines it is the program's allocator) and
 * which malloc the program's own calls reach (the first definition in the global scope: the wrapper, unless the
 * executable defines malloc itself). Call it once, as soon as malloc is resolved and before the wrappers of mmap
 * report anything. */
void lw_note_allocator(uintptr_t real_malloc, uintptr_t first_malloc);

/* The calls that change mappings take `before`, lw_maps_seq() read before the call was made: from a signal
 * handler that interrupted leakwatch, the change to the records waits until the interrupted call is done, and
 * then leaves alone the ranges other threads recorded after `before` (which may lie where this call unmapped). */
uint64_t lw_maps_seq(void);
/* A successful mmap (mmap64) at `addr`, `len` bytes, made with prot, flags and fd by the code `origin` names.
 * When that code is the allocator's (see reach.c) the memory is the allocator's; otherwise it is the program's,
 * whatever was there before, and with the mmap kind tracked it becomes an mmap-kind record (handle the start,
 * size the bytes, page-rounded) with its protection, sharing and, for a file, the path of fd. MAP_FAILED is
 * ignored; errno is kept. Call it after the call. */
void lw_on_map_at(void *addr, size_t len, int prot, int flags, int fd, uint64_t before, lw_origin_t origin);
/* A successful munmap: the part of every recorded range inside [addr, addr + len) goes (a range that overlaps
 * keeps its head and its tail, each a record with the range's stack). */
void lw_on_unmap(void *addr, size_t len, uint64_t before);
/* A successful mremap from [old, old + old_len) to [p, p + new_len): the old range goes (not with
 * MREMAP_DONTUNMAP) and a recorded one's attributes and stack move to the new. MAP_FAILED is ignored. */
void lw_on_remap_at(void *old, size_t old_len, void *p, size_t new_len, int flags, uint64_t before,
                    lw_origin_t origin);

/* Shared-memory objects outlive the process unless removed. Call lw_shm_open_creates before shm_open: nonzero
 * when the call, if it succeeds, creates the object (O_CREAT with O_EXCL, or O_CREAT and no such name yet);
 * then lw_on_shm_open_at with its result, which records a created object as an mmap-kind handle named
 * /dev/shm/NAME. lw_on_shm_unlink after a successful shm_unlink forgets it. All keep errno. */
int lw_shm_open_creates(const char *name, int oflag);
void lw_on_shm_open_at(const char *name, int fd, int created, lw_origin_t origin);
void lw_on_shm_unlink(const char *name);
/* System V shared memory, the same way: lw_shmget_creates before shmget (IPC_PRIVATE, IPC_CREAT with IPC_EXCL, or
 * IPC_CREAT and no segment of that key yet), lw_on_shmget_at after it (a created segment is an mmap-kind handle of
 * `size` bytes), lw_on_shm_rmid after a successful shmctl(IPC_RMID). An attachment (shmat) is a recorded range
 * until shmdt. */
int lw_shmget_creates(key_t key, int shmflg);
void lw_on_shmget_at(int shmid, key_t key, size_t size, int created, lw_origin_t origin);
void lw_on_shm_rmid(int shmid);
void lw_on_shmat_at(void *addr, int shmid, int shmflg, lw_origin_t origin);
void lw_on_shmdt(const void *addr);

/* Reads the configuration from the environment and prepares the tables. Idempotent, thread-safe, callable
 * from any hook before the library's constructor has run. Never allocates through malloc. */
void lw_init(void);

/* Returns nonzero when the tracker records this kind (LEAKWATCH_KINDS) and the calling thread is not already
 * inside the tracker. Wrappers may use it to skip work such as reading a path; the lw_on_* calls check it too. */
int lw_tracking(lw_kind_t kind);

/* Whether the calling thread is inside the tracker: a signal handler that interrupted it, or leakwatch's own
 * code. What it acquires is not recorded, and what it releases may find the records locked. */
int lw_in_tracker(void);

/* Records that `handle` of `kind` was acquired with `size` bytes, with the stack that starts at `origin`. A
 * handle already live is replaced: the old record was lost by a release we did not see. Descriptors 0-2 (fd and
 * socket kinds) are never recorded or released: they are the standard streams. For the other kinds
 * `size` carries a detail the dump describes instead of a byte count: the start routine's address for
 * LW_THREAD, (clockid << 8) | sigev_notify for LW_TIMER, 0 for LW_FD and LW_SOCKET (LW_MMAP records come
 * from lw_on_map_at and the shared-memory calls, never from here). */
void lw_on_acquire_at(lw_kind_t kind, uintptr_t handle, size_t size, lw_origin_t origin);
#define lw_on_acquire(kind, handle, size) lw_on_acquire_at((kind), (uintptr_t)(handle), (size), LW_HERE())

/* ---- heap blocks under sampling (LEAKWATCH_SAMPLE) ----
 * With sampling most heap blocks get no record, and the malloc family's wrappers tell so inline, without a call
 * into the tracker: an allocation that sampling passes over costs a countdown and a branch (lw_on_alloc), the free
 * of a block that cannot have a record a load and a bit test (lw_heap_unrecorded). */

/* LEAKWATCH_SAMPLE's mean bytes between sampled blocks; 0 records every block. Set as the library starts. */
extern uint64_t lw_sample_mean;
/* The calling thread's bytes still to allocate before its next sampled block (0 in a thread that never sampled). */
extern _Thread_local int64_t lw_sample_left __attribute__((tls_model("initial-exec")));
/* One bit per slot of lw_sample_slot: set while a sampled block whose address falls in that slot is recorded. */
#define LW_SAMPLE_SLOTS (1u << 15)
extern _Atomic uint64_t lw_sample_bits[LW_SAMPLE_SLOTS / 64];

/* The slot of a heap address: its 4 KiB page, folded into 15 bits. A page, not a block, so that the frees of a
 * program working in some megabytes of heap read a few cache lines of the bits (one covers 2 MiB) rather than all
 * 64: with blocks spread over tens of megabytes, one miss a free was most of what an unsampled free cost. The
 * price is the frees of blocks that share a page with a sampled one, which look in the tables for nothing: about
 * 4 KiB / LEAKWATCH_SAMPLE of all frees, since the sampled blocks live stand for that share of the live heap. */
static inline uint32_t lw_sample_slot(uintptr_t p)
{
    return (uint32_t)((p >> 12) ^ (p >> 27)) & (LW_SAMPLE_SLOTS - 1);
}

/* Nonzero when heap block p cannot have a record: sampling is on and no sampled block falls in p's slot. The load
 * is relaxed: a sampled block reaches the thread that frees it through the program's own synchronisation. */
static inline int lw_heap_unrecorded(const void *p)
{
    if (!lw_sample_mean)
        return 0;
    uint32_t i = lw_sample_slot((uintptr_t)p);
    return !((__atomic_load_n(&lw_sample_bits[i / 64], __ATOMIC_RELAXED) >> (i % 64)) & 1);
}

/* Sampling's countdown for an allocation of `size` bytes (a block of 0 bytes counts as 1). */
#define LW_SAMPLE_UNCOUNTED 0 /* sampling is off, or the library has not read LEAKWATCH_SAMPLE yet */
#define LW_SAMPLE_SKIP 1      /* sampling passes over the block */
#define LW_SAMPLE_CROSSED 2   /* the countdown ran out at the block: lw_on_alloc_at decides */
static inline int lw_sample_count(size_t size)
{
    if (!lw_sample_mean)
        return LW_SAMPLE_UNCOUNTED;
    int64_t n = size ? (size < (1ull << 62) ? (int64_t)size : (int64_t)1 << 62) : 1;
    return (lw_sample_left -= n) > 0 ? LW_SAMPLE_SKIP : LW_SAMPLE_CROSSED;
}

/* A heap block of `size` bytes acquired at p: lw_on_acquire(LW_HEAP, p, size) with sampling's countdown taken in
 * the caller. `counted` is what lw_sample_count returned for the block, never LW_SAMPLE_SKIP. */
void lw_on_alloc_at(uintptr_t p, size_t size, int counted, lw_origin_t origin);
#define lw_on_alloc(p, size)                                                                                    \
    do {                                                                                                        \
        int lw_counted_ = lw_sample_count(size);                                                                \
        if (lw_counted_ != LW_SAMPLE_SKIP)                                                                      \
            lw_on_alloc_at((uintptr_t)(p), (size), lw_counted_, LW_HERE());                                     \
    } while (0)

/* Forgets `handle`. Call it before the real release function: once the resource is released another thread may
 * acquire the same address or descriptor. Returns 1 when the handle was live, 0 when it was unknown. */
int lw_on_release(lw_kind_t kind, uintptr_t handle);
/* The release of a FILE* or DIR* (recorded as LW_FD): as lw_on_release, for a handle that is never a descriptor's
 * number, however low it lies (a non-PIE program's heap). */
int lw_on_release_stream(uintptr_t stream);

/* free's release: forgets heap block p, as lw_on_release, before the caller frees it with real_free. A free
 * that a signal handler makes while the code it interrupted is inside leakwatch may find p's records locked (by
 * that code or another thread): leakwatch then keeps p and frees it with real_free once the interrupted call is
 * done, and returns LW_FREE_KEPT (the caller must not free p); otherwise 0 or 1, as lw_on_release. */
#define LW_FREE_KEPT 2
int lw_on_free(void *p, void (*real_free)(void *));

/* A release that may fail, as a transaction: lw_release_begin takes the record of `handle` out before the real
 * call (once the resource is released another thread may be handed the same address or number), and
 * lw_release_end drops it for good when the call released the handle, or puts it back unchanged when the call
 * failed and the handle is still held (realloc that fails, dup2 onto a descriptor, a join or timer_delete that
 * fails). `had` says whether the handle was tracked. Both keep errno. */
typedef struct {
    lw_kind_t kind;
    uintptr_t handle;
    int had;
    uint64_t held[3]; /* the record, opaque */
} lw_release_t;
void lw_release_begin(lw_release_t *t, lw_kind_t kind, uintptr_t handle);
void lw_release_end(lw_release_t *t, int released);

/* Per-handle flags, set after acquisition. */
#define LW_FLAG_THREAD_DONE 0x02u /* the thread's start routine has returned (or it called pthread_exit) */
#define LW_FLAG_NO_CLOEXEC 0x04u  /* the descriptor is inherited by programs the process executes */
#define LW_FLAG_FILE 0x08u        /* an fd-kind handle that is a FILE* (fopen family) */
#define LW_FLAG_DIR 0x10u         /* an fd-kind handle that is a DIR* (opendir family) */
#define LW_FLAG_IGNORED 0x20u     /* never reported (leakwatch_ignore, a disabled region); a heap block is a root */
#define LW_FLAG_POOLED 0x40u      /* a heap-kind object of the program's own pool (leakwatch_alloc) */
#define LW_FLAG_POOL_BLOCK 0x80u  /* set by the scan alone: a heap block that holds pool objects (api.c) */

/* Call right before making a thread (pthread_create, a SIGEV_THREAD timer): a signal handler may be making the
 * process's second thread while the code it interrupted is taking a lock the way a one-thread process does. */
void lw_thread_coming(void);

/* Sets (set != 0) or clears the given flag bits of a live handle. Returns 1 when the handle was live. */
int lw_set_flags(lw_kind_t kind, uintptr_t handle, unsigned bits, int set);

/* Nonzero while the calling thread is inside libunwind on the tracker's behalf. libunwind blocks every signal
 * around its cache lock (two system calls per frame) so that a signal handler that unwinds cannot deadlock on
 * it; a handler that interrupts the tracker never reaches libunwind, since the reentrancy guard passes its calls
 * straight through, so the sigprocmask wrapper skips those two calls then. */
int lw_signal_mask_elided(void);

/* Live handles and bytes of one kind, summed over the tables at one moment (every shard lock held). */
size_t lw_live_count(lw_kind_t kind);
size_t lw_live_bytes(lw_kind_t kind);

/* Calls fn for every live handle of `kind` (all kinds when kind == LW_KIND_COUNT), those of one moment: every
 * shard is locked for the walk, so fn must not acquire or release tracked handles. */
typedef void (*lw_visit_fn)(lw_kind_t kind, uintptr_t handle, uint64_t size, uint32_t site, void *arg);
void lw_foreach_live(lw_kind_t kind, lw_visit_fn fn, void *arg);

/* The frames of call site `site` (as recorded by lw_on_acquire_at): stores up to `max` return addresses in
 * frames and returns how many the site has, or -1 for an unknown site. */
int lw_site_frames(uint32_t site, uintptr_t *frames, int max);

/* Writes a dump of every live handle to `path`, mode 0600, replacing what is there (a link is replaced, never
 * followed); the file gets a name only once complete. `reason` is one of
 * "exit", "signal", "interval". Never allocates through malloc. Returns 0 or an errno value. */
int lw_dump_to(const char *path, const char *reason);

/* Tells the tracker the status the program exits with (from main's return or exit()); the exit dump carries it. */
void lw_note_exit(int status);

/* Tells the tracker where the live part of the exiting thread's stack begins: the frame of exit() or _exit(), or
 * of the wrapper main() returned to. Below it lie only exit machinery and stale frames, which the reachability
 * scan leaves out so that an old pointer in a dead frame does not make a leak look reachable. */
void lw_note_exit_frame(uintptr_t frame);

/* Called from the injected library's constructor, once the program's libraries are initialised: starts what
 * runs in the background (the dump thread, when LEAKWATCH_DUMP_SIGNAL or LEAKWATCH_DUMP_INTERVAL asks for it). */
void lw_on_load(void);

/* Called from the injected library's destructor: arranges for the exit dump and report to run once every other
 * exit handler and destructor has finished. */
void lw_on_unload(void);

/* ---- descriptor events that are not acquisitions (closes.c, exec_fds.c) --------------------------------- */

/* A close of descriptor `fd` by the program succeeded (or failed in a way that still closed it): the stack that
 * starts at `origin` is remembered for that descriptor number, so that a later close of the same number that
 * fails can name it. Numbers at or above 1 << 20 are not remembered. */
void lw_on_close_at(int fd, lw_origin_t origin);
#define lw_on_close(fd) lw_on_close_at((fd), LW_HERE())

/* A close of descriptor `fd` (>= 0) failed with EBADF: records a "double-close" warning when the program closed
 * that number before (with the stack of that close), a "bad-close" warning when the number was open at start or
 * a tracked call returned it, and no close was seen since (it was closed behind leakwatch's back). Either way the program closed, or
 * would have closed, a descriptor that someone else may own by now. A number the process never had open is the
 * "close whatever I may have inherited" idiom of daemons: only counted (lw_unopened_closes). Numbers at or above
 * 1 << 20 are not tracked. */
void lw_on_bad_close_at(int fd, lw_origin_t origin);
#define lw_on_bad_close(fd) lw_on_bad_close_at((fd), LW_HERE())

/* The process is about to replace itself with `what` (a path, or a description such as "fd 5" for fexecve):
 * every tracked descriptor above 2 that the new program inherits (no close-on-exec, checked with F_GETFD) becomes
 * an "fd-into-exec" warning with the stack that opened it. With LEAKWATCH_DUMP_DIR set they are written at once
 * as a dump with reason "exec" (the process image ends, so its exit dump never comes); otherwise each is one
 * lw_warn line. `replaces` is 0 for posix_spawn, where the caller goes on and its exit dump carries the warnings.
 * Returns a mark for lw_on_exec_failed. Does nothing in a vfork child (getpid() differs from the tracked pid),
 * except that an exec (`replaces`) leaves the marker by which `leakwatch run` names a program that then runs
 * without the library (tracker/markers.c). */
unsigned lw_on_exec_at(const char *what, int replaces, lw_origin_t origin);
#define lw_on_exec(what, replaces) lw_on_exec_at((what), (replaces), LW_HERE())
/* The same for fexecve of descriptor fd, whose program is named "descriptor <fd>". */
unsigned lw_on_fexec_at(int fd, lw_origin_t origin);

/* The environment an exec'd program gets: envp, plus LD_PRELOAD and the LEAKWATCH_* settings this process
 * started with where envp lacks them, so that every program of the tree runs under leakwatch. The program's own
 * removal stands: envp is returned as it is when its LD_PRELOAD names no libleakwatch, or when it has no
 * LD_PRELOAD but was edited rather than cleared (it carries a LEAKWATCH_* variable, or more than half of the
 * other variables this process started with). lw_exec_env_size
 * says how many pointers `out` needs; lw_exec_env fills it and returns it, or returns envp when nothing is
 * missing. Allocates nothing: safe in a vfork child. */
size_t lw_exec_env_size(char *const envp[]);
char *const *lw_exec_env(char *const envp[], char **out, size_t cap);

/* posix_spawn started `child` running `what`: creates leakwatch.CHILD.spawn (start time and path), which the
 * library in the child removes if it starts after this; `leakwatch run` also takes a start marker or a dump of
 * that pid as proof that the library ran there. */
void lw_marker_spawned(pid_t child, const char *what);

/* The exec announced by lw_on_exec_at (which returned `mark`) failed: its warnings and its dump are withdrawn. */
void lw_on_exec_failed(unsigned mark);

/* Releases every tracked descriptor (fd and socket kinds, not FILE* or DIR*) numbered first..last, as close_range
 * does; with `cloexec_only` set, marks them close-on-exec instead (CLOSE_RANGE_CLOEXEC). Returns how many. */
size_t lw_on_close_range_at(unsigned first, unsigned last, int cloexec_only, lw_origin_t origin);

/* The warnings recorded so far in this process (bad-close, double-close, fd-into-exec). */
size_t lw_warning_count(void);

/* The process is about to change its effective user to new_euid ((uid_t)-1: unchanged) with a setuid-family
 * call: its dumps must still reach the directory that collects them (see README, dumps across a change of user). */
void lw_cred_prepare(uid_t new_euid);

/* Called from _exit and _Exit, which run no exit handlers: writes the exit dump and report at once. */
void lw_on_quick_exit(int status);

/* ---- what the program tells leakwatch (include/leakwatch/leakwatch.h, tracker/api.c) ----------------------- */

/* Marks the heap block that starts at p as never freed on purpose: not reported, and scanned as a root. */
void lw_api_ignore(const void *p);
/* Enters (on != 0) or leaves a region of the calling thread whose acquisitions are never reported (they are
 * recorded with LW_FLAG_IGNORED, so their releases work as any). Regions nest; an unmatched leave is warned
 * about once and does nothing. */
void lw_api_disable(int on);
/* Writes a dump now, with reason "program: <reason>" (or "program"), where the exit dump would go. Returns 0
 * or an errno value. */
int lw_api_dump(const char *reason);
/* The leaks at this moment: definite and indirect heap blocks (classified by a scan of a copy of the process
 * when LEAKWATCH_REACHABILITY allows one; every block otherwise) and the live handles of the other kinds but mmap
 * (which a gate leaves out by default), the ignored ones left out. The calling thread's stack is scanned from live_from up. Saturates at INT_MAX; 0
 * inside the tracker. */
int lw_api_check(uintptr_t live_from);
/* Adds (add != 0) or removes a root region: memory the scan reads for pointers whatever it is. Removal needs
 * the same begin and size. Returns 0, ENOSPC when the table is full, ENOENT when the region is not there. */
int lw_api_root(const void *begin, size_t size, int add);
/* Objects of the program's own pools: leakwatch_alloc makes [p, p + size) a heap record of `pool` with the stack
 * that starts at origin (replacing a heap record at p, the pool's own block), leakwatch_free forgets one,
 * leakwatch_pool_destroy every object of the pool. */
void lw_api_pool_alloc(const void *pool, const void *p, size_t size, lw_origin_t origin);
void lw_api_pool_free(const void *pool, const void *p);
void lw_api_pool_destroy(const void *pool);

/* The program sets the disposition of signal `sig` to `handler` (sigaction, signal): when that is the dump
 * signal and the handler is not leakwatch's, a warning says, once, that signal dumps stop; the program's handler
 * is installed all the same. */
void lw_on_sigaction(int sig, uintptr_t handler);
/* Whether handler is the one the library put in place of the dump signal's SIG_DFL: the program is shown SIG_DFL
 * instead, as it would see without the library. */
int lw_is_dump_handler(uintptr_t handler);
/* Whether sig is the dump signal and the library's handler is in place for it. */
int lw_dump_handler_installed(int sig);

/* Nonzero while the library is loaded into a running process by `leakwatch attach`: the program's calls reach
 * the wrappers through rebound GOT slots, not through the global scope (which finds libc's malloc first). */
int lw_attaching(void);

/* Whether p is the start of a symbol that an object defines (the object named `object`, when not NULL), as
 * opposed to a PLT entry that stands for a function defined elsewhere. Takes the dynamic linker's lock. */
int lw_defined_at(const void *p, const char *object);

/* Forgets every live handle and call site; for tests only. */
void lw_reset_for_tests(void);

/* One warning line on stderr, prefixed "leakwatch: ", written with write(2), capped, never allocating; nothing
 * when descriptor 2 is no longer the standard error the library started with (lw_stderr_usable). */
void lw_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
