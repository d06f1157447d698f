/* The thread family, interposed: pthread_create records every joinable thread (and runs its start routine in a
 * trampoline that marks the thread finished), and joins and detaches release it. */
#include "real.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

/* Handed to the new thread, which waits for the creator to record it, reads it and gives it back before it runs
 * the start routine. */
typedef struct {
    void *(*start)(void *);
    void *arg;
    atomic_uint recorded; /* the creator has recorded the thread */
} trampoline_t;

/* Trampolines come from a pool of the library's own, claimed by compare-and-swap: pthread_create may run in a
 * signal handler that interrupted malloc or free, whose thread cache glibc's malloc would then corrupt. The pool is
 * a page mapped on first use (mmap is safe in a handler), which the reachability scan reads as the program's
 * memory: a start argument that the new thread has not read yet is held there, as glibc's thread descriptor holds
 * it without the library, and a slot given back holds none. A slot is held from the creation until the new thread
 * has read it; when every one is held or no page could be mapped, glibc's malloc gives one. Slots stay taken for
 * good in a fork child whose parent was starting threads, and for a thread that a signal handler ends before it
 * starts. */
#define POOL 64
static _Atomic(trampoline_t *) pool;
static _Atomic uint64_t pool_taken;

static trampoline_t *pool_slots(void)
{
    trampoline_t *p = atomic_load_explicit(&pool, memory_order_acquire);
    if (p || !lw_real.mmap || !lw_real.munmap)
        return p;
    void *m = lw_real.mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (!atomic_compare_exchange_strong_explicit(&pool, &p, (trampoline_t *)m, memory_order_acq_rel,
                                                 memory_order_acquire))
        lw_real.munmap(m, 4096); /* another thread's page went in first */
    return atomic_load_explicit(&pool, memory_order_acquire);
}

static trampoline_t *trampoline_take(void)
{
    trampoline_t *slots = pool_slots();
    uint64_t taken = atomic_load_explicit(&pool_taken, memory_order_relaxed);
    while (slots && ~taken) {
        unsigned i = (unsigned)__builtin_ctzll(~taken);
        if (atomic_compare_exchange_weak_explicit(&pool_taken, &taken, taken | 1ull << i, memory_order_acquire,
                                                  memory_order_relaxed))
            return &slots[i];
    }
    return lw_real.malloc(sizeof(trampoline_t));
}

static void trampoline_give_back(trampoline_t *t)
{
    trampoline_t *slots = atomic_load_explicit(&pool, memory_order_relaxed);
    if (slots && t >= slots && t < slots + POOL) {
        t->arg = NULL;
        atomic_fetch_and_explicit(&pool_taken, ~(1ull << (t - slots)), memory_order_release);
    } else {
        lw_real.free(t);
    }
}

static void thread_ended(void *unused)
{
    (void)unused;
    lw_set_flags(LW_THREAD, (uintptr_t)pthread_self(), LW_FLAG_THREAD_DONE, 1);
}

static void *trampoline(void *p)
{
    trampoline_t *t = p;
    /* The creator records the thread right after pthread_create returns. A routine that detaches itself at
     * once would otherwise find no record to release and leave one behind, so it starts once the record is in,
     * and the trampoline's last reader is this thread. */
    while (!atomic_load_explicit(&t->recorded, memory_order_acquire))
        sched_yield();
    void *(*start)(void *) = t->start;
    void *arg = t->arg;
    trampoline_give_back(t);
    void *volatile ret = NULL;
    /* the cleanup handler runs on return, on pthread_exit and on cancellation alike */
    pthread_cleanup_push(thread_ended, NULL);
    ret = start(arg);
    pthread_cleanup_pop(1);
    return ret;
}

LW_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    LW_ENSURE_REAL(pthread_create);
    lw_thread_coming();
    int detached = PTHREAD_CREATE_JOINABLE;
    if (attr)
        pthread_attr_getdetachstate(attr, &detached);
    /* A thread created detached is never joined and never leaks; the tracker's own threads are not the
     * program's. Both start as they are. */
    if (detached == PTHREAD_CREATE_DETACHED || !lw_tracking(LW_THREAD))
        return lw_real.pthread_create(thread, attr, start, arg);
    trampoline_t *t = trampoline_take();
    if (!t)
        return lw_real.pthread_create(thread, attr, start, arg);
    t->start = start;
    t->arg = arg;
    atomic_init(&t->recorded, 0);
    int r = lw_real.pthread_create(thread, attr, trampoline, t);
    if (r != 0) {
        trampoline_give_back(t);
        return r;
    }
    lw_on_acquire_at(LW_THREAD, (uintptr_t)*thread, (size_t)(uintptr_t)start, LW_HERE());
    atomic_store_explicit(&t->recorded, 1, memory_order_release); /* t is the new thread's from here on */
    return 0;
}

/* A join or detach releases the thread first (once it is reaped, a new thread may get the same pthread_t) and
 * puts the record back when the call fails (EBUSY, ETIMEDOUT, EINVAL...). */
#define RELEASE_AROUND(call)                                                                                    \
    lw_release_t txn;                                                                                           \
    lw_release_begin(&txn, LW_THREAD, (uintptr_t)t);                                                            \
    int r = (call);                                                                                             \
    lw_release_end(&txn, r == 0);                                                                               \
    return r

LW_EXPORT int pthread_join(pthread_t t, void **ret)
{
    LW_ENSURE_REAL(pthread_join);
    RELEASE_AROUND(lw_real.pthread_join(t, ret));
}

LW_EXPORT int pthread_tryjoin_np(pthread_t t, void **ret)
{
    LW_ENSURE_REAL(pthread_join);
    if (!lw_real.pthread_tryjoin_np)
        return ENOSYS;
    RELEASE_AROUND(lw_real.pthread_tryjoin_np(t, ret));
}

LW_EXPORT int pthread_timedjoin_np(pthread_t t, void **ret, const struct timespec *abstime)
{
    LW_ENSURE_REAL(pthread_join);
    if (!lw_real.pthread_timedjoin_np)
        return ENOSYS;
    RELEASE_AROUND(lw_real.pthread_timedjoin_np(t, ret, abstime));
}

LW_EXPORT int pthread_clockjoin_np(pthread_t t, void **ret, clockid_t clock, const struct timespec *abstime)
{
    LW_ENSURE_REAL(pthread_join);
    if (!lw_real.pthread_clockjoin_np)
        return ENOSYS;
    RELEASE_AROUND(lw_real.pthread_clockjoin_np(t, ret, clock, abstime));
}

LW_EXPORT int pthread_detach(pthread_t t)
{
    LW_ENSURE_REAL(pthread_detach);
    RELEASE_AROUND(lw_real.pthread_detach(t));
}
