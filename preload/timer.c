/* The POSIX timer family, interposed: timer_create records the timer with its clock and notification, and
 * timer_delete releases it. */
#include "real.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

LW_EXPORT int timer_create(clockid_t clock, struct sigevent *sev, timer_t *out)
{
    LW_ENSURE_REAL(close);
    if (!lw_real.timer_create) {
        errno = ENOSYS;
        return -1;
    }
    if (sev && sev->sigev_notify == SIGEV_THREAD)
        lw_thread_coming(); /* glibc's first such timer starts a thread of its own */
    int r = lw_real.timer_create(clock, sev, out);
    if (r == 0) {
        /* no sigevent means SIGEV_SIGNAL with SIGALRM */
        unsigned notify = sev ? (unsigned)sev->sigev_notify : SIGEV_SIGNAL;
        size_t detail = ((size_t)(uint32_t)clock << 8) | (notify & 0xffu);
        lw_on_acquire(LW_TIMER, (uintptr_t)*out, detail);
    }
    return r;
}

LW_EXPORT int timer_delete(timer_t timer)
{
    LW_ENSURE_REAL(close);
    if (!lw_real.timer_delete) {
        errno = ENOSYS;
        return -1;
    }
    /* released first: once deleted, the next timer_create may return the same id */
    lw_release_t t;
    lw_release_begin(&t, LW_TIMER, (uintptr_t)timer);
    int r = lw_real.timer_delete(timer);
    lw_release_end(&t, r == 0);
    return r;
}
