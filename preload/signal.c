/* Signals, interposed: sigprocmask to spare libunwind's signal blocking while it unwinds for the tracker, and
 * sigaction and signal so that a program that takes the dump signal over is told so. */
#include "real.h"

#include <signal.h>
#include <stdint.h>

LW_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (LW_UNLIKELY_P(!lw_real.sigprocmask))
        lw_resolve();
    if (lw_signal_mask_elided()) {
        /* what the caller saves here is only ever handed back to this function, still inside the unwind */
        if (old)
            sigemptyset(old);
        return 0;
    }
    return lw_real.sigprocmask(how, set, old);
}

/* A handler's address as the tracker compares it: sa_handler and sa_sigaction share their storage. */
static uintptr_t handler_of(const struct sigaction *act)
{
    return (act->sa_flags & SA_SIGINFO) ? (uintptr_t)act->sa_sigaction : (uintptr_t)act->sa_handler;
}

LW_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    LW_ENSURE_REAL(sigaction);
    if (act)
        lw_on_sigaction(sig, handler_of(act));
    return lw_real.sigaction(sig, act, old);
}

LW_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    LW_ENSURE_REAL(signal);
    lw_on_sigaction(sig, (uintptr_t)handler);
    return lw_real.signal(sig, handler);
}
