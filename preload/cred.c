/* The setuid family, interposed: before a privileged process becomes another user, the tracker prepares a
 * place where that user's dumps can go. */
#include "real.h"

#include <unistd.h>

LW_EXPORT int setuid(uid_t uid)
{
    LW_ENSURE_REAL(setuid);
    /* as root, setuid changes every uid; otherwise only the effective one, which is what dumps are written as */
    lw_cred_prepare(uid);
    return lw_real.setuid(uid);
}

LW_EXPORT int seteuid(uid_t euid)
{
    LW_ENSURE_REAL(setuid);
    lw_cred_prepare(euid);
    return lw_real.seteuid(euid);
}

LW_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
    LW_ENSURE_REAL(setuid);
    lw_cred_prepare(euid);
    return lw_real.setreuid(ruid, euid);
}

LW_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    LW_ENSURE_REAL(setuid);
    lw_cred_prepare(euid);
    return lw_real.setresuid(ruid, euid, suid);
}
