/* The thread family, interposed: pthread_create records every joinable thread (and runs its start routine in a
 * trampoline that marks the thread finished), and joins and detaches release it. */
#include "real.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define RECORDED 1u /* the creator has recorded the thread */
#define FINISHED 2u /* the start routine has returned, called pthread_exit or was cancelled */

/* Handed to the new thread, which waits for the creator to record it before running the start routine; the
 * thread marks its record finished at the end and frees the trampoline. */
typedef struct {
    void *(*start)(void *);
    void *arg;
    atomic_uint state;
} trampoline_t;

static void thread_ended(void *p)
{
    trampoline_t *t = p;
    unsigned before = atomic_fetch_or(&t->state, FINISHED);
    if (before & RECORDED) {
        lw_set_flags(LW_THREAD, (uintptr_t)pthread_self(), LW_FLAG_THREAD_DONE, 1);
        lw_real.free(t);
    }
}

static void *trampoline(void *p)
{
    trampoline_t *t = p;
    void *(*start)(void *) = t->start;
    void *arg = t->arg;
    void *volatile ret = NULL;
    /* The creator records the thread right after pthread_create returns. A routine that detaches itself at
     * once would otherwise find no record to release and leave one behind, so it starts once the record is in. */
    while (!(atomic_load(&t->state) & RECORDED))
        sched_yield();
    /* the cleanup handler runs on return, on pthread_exit and on cancellation alike */
    pthread_cleanup_push(thread_ended, t);
    ret = start(arg);
    pthread_cleanup_pop(1);
    return ret;
}

LW_EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    LW_ENSURE_REAL(pthread_create);
    int detached = PTHREAD_CREATE_JOINABLE;
    if (attr)
        pthread_attr_getdetachstate(attr, &detached);
    /* A thread created detached is never joined and never leaks; the tracker's own threads are not the
     * program's. Both start as they are. */
    if (detached == PTHREAD_CREATE_DETACHED || !lw_tracking(LW_THREAD))
        return lw_real.pthread_create(thread, attr, start, arg);
    trampoline_t *t = lw_real.malloc(sizeof(*t));
    if (!t)
        return lw_real.pthread_create(thread, attr, start, arg);
    t->start = start;
    t->arg = arg;
    atomic_init(&t->state, 0);
    int r = lw_real.pthread_create(thread, attr, trampoline, t);
    if (r != 0) {
        lw_real.free(t);
        return r;
    }
    uintptr_t handle = (uintptr_t)*thread;
    lw_on_acquire_at(LW_THREAD, handle, (size_t)(uintptr_t)start, LW_HERE());
    unsigned before = atomic_fetch_or(&t->state, RECORDED);
    if (before & FINISHED) {
        lw_set_flags(LW_THREAD, handle, LW_FLAG_THREAD_DONE, 1);
        lw_real.free(t);
    }
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
