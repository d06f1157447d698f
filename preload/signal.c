/* Signals, interposed: sigprocmask to spare libunwind's signal blocking while it unwinds for the tracker, and
 * sigaction and signal so that a program that takes the dump signal over is told so, and sees the disposition
 * it would see without the library. */
#include "real.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>

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

/* The dump handler the library installed where the program had SIG_DFL reads as SIG_DFL: a program that saves a
 * disposition and puts it back later (Python's signal.getsignal, bash's traps) puts back the default, and would
 * otherwise keep a handler it never had (Python refuses to restore one it does not know, and exits). Setting
 * SIG_DFL there leaves the dump handler in place, since that is what the program sees already: a process that
 * resets every signal (a forked child before exec, Python at its exit) keeps its dumps and hears nothing. */
static void show_default(struct sigaction *old)
{
    memset(old, 0, sizeof(*old));
    old->sa_handler = SIG_DFL;
}

LW_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    LW_ENSURE_REAL(sigaction);
    if (act && handler_of(act) == (uintptr_t)SIG_DFL && lw_dump_handler_installed(sig)) {
        if (old)
            show_default(old);
        return 0;
    }
    if (act)
        lw_on_sigaction(sig, handler_of(act));
    int r = lw_real.sigaction(sig, act, old);
    if (r == 0 && old && lw_is_dump_handler(handler_of(old)))
        show_default(old);
    return r;
}

LW_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    LW_ENSURE_REAL(signal);
    if (handler == SIG_DFL && lw_dump_handler_installed(sig))
        return SIG_DFL;
    lw_on_sigaction(sig, (uintptr_t)handler);
    sighandler_t old = lw_real.signal(sig, handler);
    return lw_is_dump_handler((uintptr_t)old) ? SIG_DFL : old;
}
