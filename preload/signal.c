/* sigprocmask, interposed only to spare libunwind's signal blocking while it unwinds for the tracker. */
#include "real.h"

#include <signal.h>

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
