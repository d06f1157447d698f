/* The dump's file: a name in the dump directory (or a private directory in it when it is shared), created
 * exclusively, 0600, and given its name only once the dump in it is complete. */
#include "internal.h"
#include "sys.h"
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0) /* linux/fs.h; glibc before 2.28 does not name it */
#endif

atomic_uint lw_dump_seq;

/* ---- the dump file ------------------------------------------------------------------------------------- */

static int force_named_tmp; /* testing.h: as where the filesystem refuses O_TMPFILE */

void lw_dump_force_named_tmp(int on)
{
    force_named_tmp = on;
}

/* Eight bytes for a temporary name. From the kernel's generator; should it refuse, from the clock and the pid,
 * which another user could guess: the names that matter are made in a private directory anyway. */
static uint64_t random_word(void)
{
    uint64_t v = 0;
    if (lw_syscall(SYS_getrandom, &v, sizeof(v), GRND_NONBLOCK) == (long)sizeof(v))
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_nsec << 24) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 44) ^ (uintptr_t)&v;
}

/* The temporary name of `name`: ".<name>.<16 random hex digits>.tmp". Returns 0 or ENAMETOOLONG. */
static int tmp_name(char *buf, size_t cap, const char *name)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(name);
    if (n + 22 >= cap)
        return ENAMETOOLONG;
    char *p = buf;
    *p++ = '.';
    memcpy(p, name, n);
    p += n;
    *p++ = '.';
    uint64_t r = random_word();
    for (int i = 0; i < 16; i++, r >>= 4)
        *p++ = hex[r & 15];
    lw_strlcpy(p, ".tmp", 5);
    return 0;
}

/* Gives the complete unnamed file fd the name `name` in dirfd. A link never replaces an existing name (EEXIST)
 * and never follows one. Returns 0 or an errno value. */
static int link_unnamed(int fd, int dirfd, const char *name)
{
    /* thread-self: the dump thread has a descriptor table of its own, and /proc/self/fd is the program's */
    char proc[48], *p = proc;
    p += lw_strlcpy(p, "/proc/thread-self/fd/", sizeof(proc));
    p = lw_fmt_u64(p, (uint64_t)fd);
    *p = '\0';
    if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != ENOENT)
        return errno;
    /* no /proc: the descriptor itself, which the kernel allows with CAP_DAC_READ_SEARCH */
    return linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0 ? 0 : errno;
}

/* Renames tmp to name in dirfd, replacing an existing name only with `replace`. Returns 0 or an errno value. */
static int publish_named(int dirfd, const char *tmp, const char *name, int replace)
{
    if (replace)
        return renameat(dirfd, tmp, dirfd, name) == 0 ? 0 : errno;
    if (lw_syscall(SYS_renameat2, dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return errno;
    /* a filesystem without RENAME_NOREPLACE: a hard link does not replace either */
    if (linkat(dirfd, tmp, dirfd, name, 0) != 0)
        return errno;
    unlinkat(dirfd, tmp, 0);
    return 0;
}

/* Writes a dump as the file `name` of directory dirfd, mode 0600, never through a link and never into a file that
 * existed before. The file is unnamed (O_TMPFILE) while it is written and gets its name only when it is
 * complete, so that no partial file ever has a name, even when the process is killed in the middle. Where the
 * filesystem refuses O_TMPFILE, it is written under an exclusive temporary name that nobody can guess, renamed
 * when complete and removed on every error (only a process killed while it writes leaves it behind). An existing
 * `name` is replaced only with `replace`, and then by a rename. Returns 0 or an errno value. */
static int write_file(int dirfd, const char *name, int replace, const char *reason, unsigned seq)
{
    char tmp[NAME_MAX + 1];
    int err, fd = -1;
    if (!force_named_tmp) {
        fd = lw_sys_openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        /* EOPNOTSUPP: a filesystem without unnamed files; EISDIR, ENOENT, EINVAL: a kernel without the flag */
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT && errno != EINVAL)
            return errno;
    }
    if (fd >= 0) {
        /* fchmod: the umask may have taken bits of the mode, and the owner must be able to read the dump */
        err = fchmod(fd, 0600) != 0 ? errno : lw_dump_write_fd(fd, reason, seq);
        if (!err)
            err = link_unnamed(fd, dirfd, name);
        if (err == EEXIST && replace) {
            /* named, complete, under a temporary name for the moment the rename takes */
            err = tmp_name(tmp, sizeof(tmp), name);
            if (!err)
                err = link_unnamed(fd, dirfd, tmp);
            if (!err && (err = publish_named(dirfd, tmp, name, 1)) != 0)
                unlinkat(dirfd, tmp, 0);
        }
        lw_sys_close(fd);
        return err;
    }

    if ((err = tmp_name(tmp, sizeof(tmp), name)) != 0)
        return err;
    fd = lw_sys_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    err = fchmod(fd, 0600) != 0 ? errno : lw_dump_write_fd(fd, reason, seq);
    if (lw_sys_close(fd) < 0 && !err)
        err = errno;
    if (!err)
        err = publish_named(dirfd, tmp, name, replace);
    if (err)
        unlinkat(dirfd, tmp, 0);
    return err;
}

/* "0755" (or "1777") for the permission bits of a mode, into buf (at least 5 bytes). */
static const char *mode_str(mode_t m, char *buf)
{
    for (int i = 0; i < 4; i++)
        buf[i] = (char)('0' + ((m >> (9 - 3 * i)) & 7));
    buf[4] = '\0';
    return buf;
}

/* Whether a directory is shared with other users the way /tmp is: sticky, and writable by its group or by
 * everyone. */
static int shared_dir(const struct stat *st)
{
    return (st->st_mode & S_ISVTX) && (st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Opens the directory that the dumps meant for `dir` go to, and puts its path into out (cap bytes): dir itself,
 * or, when dir is shared, the private directory leakwatch-<euid> in it, made with mode 0700 on first use. That one
 * is used only when it is a directory (not a link) that belongs to the effective user and has mode 0700, since
 * another user may have made it first; otherwise a warning says what is wrong with it. Returns the descriptor,
 * or -1 with errno set. */
static int open_dump_dir(const char *dir, char *out, size_t cap)
{
    if (lw_strlcpy(out, dir, cap) >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int base = lw_sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (base < 0)
        return -1;
    struct stat st;
    if (fstat(base, &st) != 0 || !shared_dir(&st))
        return base;

    uid_t uid = geteuid();
    char name[40], *p = name;
    p += lw_strlcpy(p, "leakwatch-", sizeof(name));
    p = lw_fmt_u64(p, (uint64_t)uid);
    *p = '\0';
    size_t dl = strlen(out);
    if (dl + 1 + strlen(name) >= cap) {
        lw_sys_close(base);
        errno = ENAMETOOLONG;
        return -1;
    }
    out[dl] = '/';
    lw_strlcpy(out + dl + 1, name, cap - dl - 1);

    int made = mkdirat(base, name, 0700) == 0;
    int fd = lw_sys_openat(base, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    int e = errno;
    lw_sys_close(base);
    if (fd < 0) {
        if (e == ELOOP || e == ENOTDIR) {
            lw_warn("%s is a symbolic link or not a directory; no dump is written there", out);
            e = EPERM;
        }
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        lw_sys_close(fd);
        errno = e;
        return -1;
    }
    /* the umask may have taken bits of mkdir's mode */
    if (made && st.st_uid == uid && (st.st_mode & 07777) != 0700 && fchmod(fd, 0700) == 0)
        st.st_mode = (st.st_mode & ~(mode_t)07777) | 0700;
    if (st.st_uid != uid || (st.st_mode & 07777) != 0700) {
        char m[8];
        lw_warn("%s belongs to uid %u and has mode %s, not uid %u and mode 0700; no dump is written there", out,
                (unsigned)st.st_uid, mode_str(st.st_mode, m), (unsigned)uid);
        lw_sys_close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* The name of dump number seq of process pid, leakwatch.<pid>.<seq>.json, into p (at least 48 bytes). */
static void dump_name(char *p, pid_t pid, unsigned seq)
{
    p += lw_strlcpy(p, "leakwatch.", 11);
    p = lw_fmt_u64(p, (uint64_t)pid);
    *p++ = '.';
    p = lw_fmt_u64(p, seq);
    lw_strlcpy(p, ".json", 6);
}

/* A dump at a path the caller chose: the directory is the caller's, and an existing file there is replaced. */
static int dump_at_path(const char *path, const char *reason, unsigned seq)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name)
        return EISDIR;
    if (!slash) {
        lw_strlcpy(dir, ".", sizeof(dir));
    } else {
        size_t dl = (size_t)(slash - path);
        if (dl >= sizeof(dir))
            return ENAMETOOLONG;
        memcpy(dir, path, dl);
        dir[dl] = '\0';
        if (dl == 0)
            lw_strlcpy(dir, "/", sizeof(dir));
    }
    int dfd = lw_sys_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return errno;
    int err = write_file(dfd, name, 1, reason, seq);
    lw_sys_close(dfd);
    return err;
}

int lw_dump_to(const char *path, const char *reason)
{
    lw_init();
    lw_guard_t guard = lw_enter();
    int err = dump_at_path(path, reason, atomic_fetch_add(&lw_dump_seq, 1) + 1);
    lw_leave(guard);
    return err;
}

int lw_dump_next(const char *dir, const char *reason, char *path_out, size_t cap)
{
    char path[4096], userdir[600];
    dir = lw_dump_dir_for_user(dir, userdir, sizeof(userdir)); /* a process that became another user: cred.c */
    int dfd = open_dump_dir(dir, path, sizeof(path));
    if (dfd < 0) {
        int err = errno;
        if (path_out)
            lw_strlcpy(path_out, path, cap);
        return err;
    }
    size_t dl = strlen(path);
    if (dl + 64 >= sizeof(path)) {
        lw_sys_close(dfd);
        return ENAMETOOLONG;
    }
    path[dl++] = '/';
    char *name = path + dl;
    unsigned seq;
    /* A name that exists belongs to an earlier process with the same pid, or to the image this one exec'd from:
     * the next number, rather than that file replaced. */
    for (int tries = 0;; tries++) {
        seq = atomic_fetch_add(&lw_dump_seq, 1) + 1;
        dump_name(name, getpid(), seq);
        struct stat st;
        if (tries == 1000 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            break;
    }
    if (path_out)
        lw_strlcpy(path_out, path, cap);
    int err = write_file(dfd, name, 0, reason, seq);
    lw_sys_close(dfd);
    return err;
}

void lw_dump_seq_resume(void)
{
    if (!lw_config.dump_dir[0])
        return;
    char path[4096];
    size_t dl = strlen(lw_config.dump_dir);
    if (dl + 64 >= sizeof(path))
        return;
    memcpy(path, lw_config.dump_dir, dl);
    path[dl++] = '/';
    unsigned seq = 0;
    for (;;) {
        dump_name(path + dl, getpid(), seq + 1);
        if (access(path, F_OK) != 0)
            break;
        seq++;
    }
    if (seq)
        atomic_store(&lw_dump_seq, seq);
}
