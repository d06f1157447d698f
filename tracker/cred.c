/* Keeps a process's dumps deliverable when it changes user: a privileged process that is about to become another
 * user prepares a directory of that user's inside the dump directory, and a process whose user cannot write the
 * dump directory writes into its own user's directory there. */
#include "internal.h"
#include "markers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* <dir>/uid-<euid> into buf (size cap); 0, or ENAMETOOLONG. */
static int user_dir(const char *dir, uid_t euid, char *buf, size_t cap)
{
    size_t dl = strlen(dir);
    if (dl + 32 >= cap)
        return ENAMETOOLONG;
    memcpy(buf, dir, dl);
    char *p = buf + dl;
    p += lw_strlcpy(p, "/uid-", cap - dl);
    p = lw_fmt_u64(p, (uint64_t)euid);
    *p = '\0';
    return 0;
}

/* Whether path is a real directory (not a link) owned by uid with mode 0700. */
static int private_dir_of(const char *path, uid_t uid)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid && (st.st_mode & 07777) == 0700;
}

/* Makes sub, a directory of user uid, mode 0700, unless it exists. It is made under a name of this process's and
 * renamed into place once it is uid's: another process preparing the same directory (two workers of one master)
 * finds it whole or not at all, never still root's. */
static void make_user_dir(const char *sub, uid_t uid)
{
    char tmp[640];
    char *p = tmp + lw_strlcpy(tmp, sub, sizeof(tmp) - 32);
    p += lw_strlcpy(p, ".new-", 8);
    *lw_fmt_u64(p, (uint64_t)getpid()) = '\0';
    if (mkdir(tmp, 0700) != 0)
        return;
    if (chown(tmp, uid, (gid_t)-1) != 0 || renameat2(AT_FDCWD, tmp, AT_FDCWD, sub, RENAME_NOREPLACE) != 0)
        rmdir(tmp);
}

void lw_cred_prepare(uid_t new_euid)
{
    lw_init();
    const char *dir = lw_config.dump_dir;
    uid_t euid = geteuid();
    /* only a privileged process can hand a directory to another user, and only the dump directory of `run` (or
     * one the user named) is shared with a parent that collects dumps; by hand, the per-user directory in the
     * temporary directory serves any user */
    if (euid != 0 || new_euid == (uid_t)-1 || new_euid == euid || !dir[0])
        return;
    lw_guard_t guard = lw_enter();
    char sub[600];
    struct stat st;
    if (user_dir(dir, new_euid, sub, sizeof(sub)) == 0 && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == euid) {
        make_user_dir(sub, new_euid);
        if (private_dir_of(sub, new_euid)) {
            /* the new user must be able to pass through the dump directory, not to list or write it */
            if ((st.st_mode & 07777) == 0700)
                chmod(dir, 0711);
            lw_marker_follow_user(sub, new_euid);
        } else {
            lw_warn("cannot prepare %s for the dumps of user %u", sub, (unsigned)new_euid);
        }
    }
    lw_leave(guard);
}

const char *lw_dump_dir_for_user(const char *dir, char *buf, size_t cap)
{
    uid_t euid = geteuid();
    struct stat st;
    if (euid == 0 || (stat(dir, &st) == 0 && st.st_uid == euid))
        return dir;
    if (user_dir(dir, euid, buf, cap) == 0 && private_dir_of(buf, euid))
        return buf;
    return dir; /* the dump fails with EACCES, and the collector names the process as unchecked */
}
