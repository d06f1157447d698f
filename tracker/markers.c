/* Start and exec marker files in the dump directory, through the system layer only, for `leakwatch run`. */
#include "markers.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <unistd.h>

#define MARKER_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)
/* Earlier processes of one number whose markers are kept aside: beyond this, the oldest information is lost. */
#define MAX_ASIDE 1000

static int markers_on;
/* Whether this thread's last lw_marker_exec created the marker (a vfork child writes it too: harmless, since the
 * parent's next exec sets it again before it can fail). */
static LW_TLS int exec_marked;

static pid_t sys_getpid(void)
{
    return (pid_t)lw_syscall(SYS_getpid);
}

/* DIR/leakwatch.PID[.K].SUFFIX into buf (4096 bytes); K 0 means none. DIR is the dump directory, or this user's
 * directory in it when the process became another user (cred.c). */
static void marker_path(char *buf, pid_t pid, unsigned k, const char *suffix)
{
    char *p = buf, userdir[600];
    p += lw_strlcpy(p, lw_dump_dir_for_user(lw_config.dump_dir, userdir, sizeof(userdir)), 600);
    p += lw_strlcpy(p, "/leakwatch.", 12);
    p = lw_fmt_u64(p, (uint64_t)pid);
    if (k) {
        *p++ = '.';
        p = lw_fmt_u64(p, k);
    }
    *p++ = '.';
    lw_strlcpy(p, suffix, 12);
}

/* The start time of a process from /proc/PID/stat (field 22; "self" for 0), 0 when unknown. */
static uint64_t start_time_of(pid_t pid)
{
    char buf[1024], path[64], *q = path;
    q += lw_strlcpy(q, "/proc/", 7);
    if (pid) {
        q = lw_fmt_u64(q, (uint64_t)pid);
        lw_strlcpy(q, "/stat", 6);
    } else {
        lw_strlcpy(q, "self/stat", 10);
    }
    ssize_t n = lw_read_file(path, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* the command name (field 2) may hold spaces and parentheses: count from the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    for (int field = 2; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static uint64_t start_time(void)
{
    return start_time_of(0);
}

/* The start time a marker file holds, 0 when it cannot be read (a FIFO is never waited for). */
static uint64_t marker_start_time(const char *path)
{
    char buf[32];
    int fd = lw_sys_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    ssize_t n = lw_syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    lw_sys_close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* A marker of this pid that is already there and belongs to an earlier process that had the same number is
 * renamed aside for `leakwatch run` to name; this process's own (left by the image that exec'd this one) stays. */
static void settle_aside(pid_t pid, uint64_t mine, const char *suffix)
{
    char path[4096], aside[4096];
    marker_path(path, pid, 0, suffix);
    if (lw_syscall(SYS_faccessat, AT_FDCWD, path, F_OK, 0) != 0)
        return;
    if (mine && marker_start_time(path) == mine)
        return;
    for (unsigned k = 1; k <= MAX_ASIDE; k++) {
        marker_path(aside, pid, k, suffix);
        /* link refuses an existing name, where rename would replace it */
        if (lw_syscall(SYS_linkat, AT_FDCWD, path, AT_FDCWD, aside, 0) == 0) {
            lw_syscall(SYS_unlinkat, AT_FDCWD, path, 0);
            return;
        }
        if (errno != EEXIST)
            return;
    }
}

/* Removes this process's own marker of `suffix` (one an earlier image of it wrote before it exec'd). */
static void remove_own(pid_t pid, uint64_t mine, const char *suffix)
{
    char path[4096];
    marker_path(path, pid, 0, suffix);
    if (mine && marker_start_time(path) == mine)
        lw_syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

/* Creates `path` holding the start time and `what`, then closes it. Returns 0 or an errno value. */
static int create_marker(const char *path, uint64_t start, const char *what, size_t whatlen)
{
    int fd = lw_sys_open(path, MARKER_FLAGS, 0600);
    if (fd < 0)
        return errno;
    char head[32], *p = lw_fmt_u64(head, start);
    *p++ = '\n';
    int err = lw_sys_write_all(fd, head, (size_t)(p - head));
    if (!err)
        err = lw_sys_write_all(fd, what, whatlen);
    if (!err)
        err = lw_sys_write_all(fd, "\n", 1);
    lw_sys_close(fd);
    return err;
}

static int rename_over(const char *from, const char *to)
{
#ifdef SYS_renameat
    return (int)lw_syscall(SYS_renameat, AT_FDCWD, from, AT_FDCWD, to);
#else
    return (int)lw_syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
#endif
}

/* Marks this process started. A process that exec'd is marked at every moment: the new start marker replaces the
 * old image's in one rename, and only then does the exec marker go, so `leakwatch run` never lists the directory
 * between two markers and finds none for a process that runs. */
static void mark_start(void)
{
    pid_t pid = sys_getpid();
    uint64_t mine = start_time();
    settle_aside(pid, mine, "start");
    settle_aside(pid, mine, "exec");
    settle_aside(pid, mine, "spawn");
    char exe[4096], path[4096], fresh[4096];
    ssize_t n = lw_syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", exe, sizeof(exe));
    if (n < 0 || n >= (ssize_t)sizeof(exe))
        n = 0;
    marker_path(path, pid, 0, "start");
    marker_path(fresh, pid, 0, "start.new");
    lw_syscall(SYS_unlinkat, AT_FDCWD, fresh, 0); /* left by an image killed between the two steps below */
    int err = create_marker(fresh, mine, exe, (size_t)n);
    if (!err && rename_over(fresh, path) != 0) {
        err = errno;
        lw_syscall(SYS_unlinkat, AT_FDCWD, fresh, 0);
    }
    if (err)
        lw_warn("cannot create %s: errno %d; leakwatch run cannot tell whether this process wrote its dump", path,
                err);
    remove_own(pid, mine, "exec");
    remove_own(pid, mine, "spawn");
}

void lw_markers_init(void)
{
    const char *v = getenv("LEAKWATCH_MARKERS");
    /* the dump directory bounds the marker paths: lw_config keeps at most 511 bytes of it */
    markers_on = v && strcmp(v, "1") == 0 && lw_config.dump_dir[0];
    if (!markers_on)
        return;
    int saved = errno;
    mark_start();
    errno = saved;
}

int lw_markers_enabled(void)
{
    return markers_on;
}

void lw_marker_forked(void)
{
    if (!markers_on)
        return;
    int saved = errno;
    mark_start();
    errno = saved;
}

void lw_marker_follow_user(const char *userdir, uid_t uid)
{
    if (!markers_on)
        return;
    int saved = errno;
    char from[4096], to[4096], *p = to;
    marker_path(from, sys_getpid(), 0, "start");
    p += lw_strlcpy(p, userdir, 600);
    p += lw_strlcpy(p, "/leakwatch.", 12);
    p = lw_fmt_u64(p, (uint64_t)sys_getpid());
    lw_strlcpy(p, ".start", 8);
    /* the new user must be able to remove it with its exit dump, from the directory that is its own */
    if (rename(from, to) == 0 && chown(to, uid, (gid_t)-1) != 0)
        rename(to, from);
    errno = saved;
}

void lw_marker_done(void)
{
    if (!markers_on)
        return;
    int saved = errno;
    char path[4096];
    marker_path(path, sys_getpid(), 0, "start");
    lw_syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    errno = saved;
}

/* `what` into target (4096 bytes), a relative path with a slash made absolute: it is relative to this process's
 * directory, which `leakwatch run` does not know. Returns the length. */
static size_t target_path(char *target, const char *what)
{
    size_t n = 0, cap = 4096;
    const char *w = what ? what : "?";
    if (w[0] != '/' && strchr(w, '/') && lw_syscall(SYS_getcwd, target, cap - 1) > 0) {
        n = strlen(target);
        if (n + 1 < cap)
            target[n++] = '/';
    }
    n += lw_strlcpy(target + n, w, cap - n);
    return n >= cap ? cap - 1 : n;
}

void lw_marker_exec(const char *what)
{
    exec_marked = 0;
    if (!markers_on)
        return;
    int saved = errno;
    char target[4096], path[4096];
    size_t n = target_path(target, what);
    marker_path(path, sys_getpid(), 0, "exec");
    /* EEXIST: another thread of this process is exec'ing too, and its marker stands for both */
    exec_marked = create_marker(path, start_time(), target, n) == 0;
    errno = saved;
}

void lw_marker_spawned(pid_t child, const char *what)
{
    if (!markers_on || child <= 0)
        return;
    int saved = errno;
    char target[4096], path[4096];
    size_t n = target_path(target, what);
    /* the child is not reaped yet (only the caller of posix_spawn can): its number is not reused meanwhile */
    uint64_t start = start_time_of(child);
    settle_aside(child, start, "spawn");
    remove_own(child, start, "spawn");
    marker_path(path, child, 0, "spawn");
    create_marker(path, start, target, n);
    errno = saved;
}

void lw_marker_exec_failed(void)
{
    if (!exec_marked)
        return;
    exec_marked = 0;
    int saved = errno;
    char path[4096];
    marker_path(path, sys_getpid(), 0, "exec");
    lw_syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    errno = saved;
}
