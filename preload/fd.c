/* The descriptor family, interposed: the open family, dup and fcntl's duplicates, pipes and the anonymous-inode
 * descriptors, close and close_range, FILE* and DIR* streams, the descriptors libc opens inside (mkstemp, tmpfile,
 * shm_open, ptys, pidfds) and those syscall() returns, each wrapper calling the real function and telling the
 * tracker. */
#undef _FORTIFY_SOURCE /* the fortify headers turn open() into an inline wrapper we could not define */
#include "real.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- shared steps ------------------------------------------------------------------------------------- */

/* Records a new descriptor of `kind` (the tracker leaves out the standard streams 0-2). */
static void opened_as(lw_kind_t kind, int fd, int cloexec, lw_origin_t origin)
{
    lw_on_acquire_at(kind, (uintptr_t)fd, 0, origin);
    if (!cloexec)
        lw_set_flags(kind, (uintptr_t)fd, LW_FLAG_NO_CLOEXEC, 1);
}

static int opened(int fd, int cloexec, lw_origin_t origin)
{
    if (fd >= 0)
        opened_as(LW_FD, fd, cloexec, origin);
    return fd;
}

/* A copy of a descriptor is of the kind of what it refers to: a duplicated socket is a socket. */
static lw_kind_t kind_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? LW_SOCKET : LW_FD;
}

static int duplicated(int fd, int cloexec, lw_origin_t origin)
{
    if (fd >= 0) {
        int saved = errno;
        opened_as(kind_of(fd), fd, cloexec, origin);
        errno = saved;
    }
    return fd;
}

/* Forgets descriptor fd, of either kind, before the real close: once it is closed another thread may be given
 * the same number. Returns the kind it was, or LW_KIND_COUNT when it was not tracked. */
static lw_kind_t forget(int fd)
{
    if (lw_on_release(LW_FD, (uintptr_t)fd))
        return LW_FD;
    if (lw_on_release(LW_SOCKET, (uintptr_t)fd))
        return LW_SOCKET;
    return LW_KIND_COUNT;
}

/* Like forget, as a transaction (lw_release_begin) that the call which would close fd ends. */
static void forget_begin(lw_release_t *t, int fd)
{
    lw_release_begin(t, LW_FD, (uintptr_t)fd);
    if (!t->had)
        lw_release_begin(t, LW_SOCKET, (uintptr_t)fd);
}

static int needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* ---- the open family ----------------------------------------------------------------------------------- */

/* The mode argument exists only when the flags create a file; reading it otherwise would read garbage. */
#define TAKE_MODE(flags, last)                                                                                  \
    unsigned mode = 0;                                                                                          \
    if (needs_mode(flags)) {                                                                                    \
        va_list ap;                                                                                             \
        va_start(ap, last);                                                                                     \
        mode = va_arg(ap, unsigned);                                                                            \
        va_end(ap);                                                                                             \
    }

LW_EXPORT int open(const char *path, int flags, ...)
{
    TAKE_MODE(flags, flags);
    LW_ENSURE_REAL(open);
    return opened(lw_real.open(path, flags, mode), flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int open64(const char *path, int flags, ...)
{
    TAKE_MODE(flags, flags);
    LW_ENSURE_REAL(open);
    int fd = lw_real.open64 ? lw_real.open64(path, flags, mode) : lw_real.open(path, flags | O_LARGEFILE, mode);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    TAKE_MODE(flags, flags);
    LW_ENSURE_REAL(openat);
    return opened(lw_real.openat(dirfd, path, flags, mode), flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    TAKE_MODE(flags, flags);
    LW_ENSURE_REAL(openat);
    int fd = lw_real.openat64 ? lw_real.openat64(dirfd, path, flags, mode)
                              : lw_real.openat(dirfd, path, flags | O_LARGEFILE, mode);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

/* The _FORTIFY_SOURCE entry points: the real ones abort when the flags need a mode, which these never get. */
LW_EXPORT int __open_2(const char *path, int flags)
{
    LW_ENSURE_REAL(open);
    int fd = lw_real.open_2 ? lw_real.open_2(path, flags) : lw_real.open(path, flags);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int __open64_2(const char *path, int flags)
{
    LW_ENSURE_REAL(open);
    int fd = lw_real.open64_2 ? lw_real.open64_2(path, flags) : lw_real.open(path, flags | O_LARGEFILE);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    LW_ENSURE_REAL(openat);
    int fd = lw_real.openat_2 ? lw_real.openat_2(dirfd, path, flags) : lw_real.openat(dirfd, path, flags);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    LW_ENSURE_REAL(openat);
    int fd = lw_real.openat64_2 ? lw_real.openat64_2(dirfd, path, flags)
                                : lw_real.openat(dirfd, path, flags | O_LARGEFILE);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int creat(const char *path, mode_t mode)
{
    LW_ENSURE_REAL(open);
    int fd = lw_real.creat ? lw_real.creat(path, mode) : lw_real.open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    return opened(fd, 0, LW_HERE());
}

LW_EXPORT int creat64(const char *path, mode_t mode)
{
    LW_ENSURE_REAL(open);
    int fd = lw_real.creat64 ? lw_real.creat64(path, mode)
                             : lw_real.open(path, O_CREAT | O_WRONLY | O_TRUNC | O_LARGEFILE, mode);
    return opened(fd, 0, LW_HERE());
}

/* ---- copies -------------------------------------------------------------------------------------------- */

LW_EXPORT int dup(int fd)
{
    LW_ENSURE_REAL(dup);
    return duplicated(lw_real.dup(fd), 0, LW_HERE());
}

/* dup2 and dup3 close `to` when it is open, so its record goes first (and comes back if the call fails). The
 * close of `to` is remembered like any close. */
static int dup_onto(int from, int to, int flags, int three, lw_origin_t origin)
{
    lw_release_t t;
    forget_begin(&t, to);
    int r = three ? lw_real.dup3(from, to, flags) : lw_real.dup2(from, to);
    lw_release_end(&t, r >= 0); /* keeps errno */
    if (r < 0)
        return r;
    if (t.had)
        lw_on_close_at(to, origin);
    return duplicated(r, flags & O_CLOEXEC, origin);
}

LW_EXPORT int dup2(int from, int to)
{
    LW_ENSURE_REAL(dup2);
    if (from == to)
        return lw_real.dup2(from, to); /* changes nothing: checks that `from` is open and returns it */
    return dup_onto(from, to, 0, 0, LW_HERE());
}

LW_EXPORT int dup3(int from, int to, int flags)
{
    LW_ENSURE_REAL(dup2);
    if (!lw_real.dup3 || from == to) {
        if (!lw_real.dup3) {
            errno = ENOSYS;
            return -1;
        }
        return lw_real.dup3(from, to, flags); /* dup3 refuses from == to with EINVAL */
    }
    return dup_onto(from, to, flags, 1, LW_HERE());
}

/* fcntl's third argument is an int for some commands, a pointer for others, and absent for the rest; it is read
 * with the type the command has, as va_arg requires, and passed on the same way. Commands this table does not
 * know are read as a pointer, which is what glibc's own fcntl does with every command. */
typedef enum { ARG_NONE, ARG_INT, ARG_PTR } arg_type_t;

static arg_type_t fcntl_arg_type(int cmd)
{
    switch (cmd) {
    case F_GETFD:
    case F_GETFL:
    case F_GETOWN:
    case F_GETSIG:
    case F_GETLEASE:
    case F_GETPIPE_SZ:
    case F_GET_SEALS:
        return ARG_NONE;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
    case F_SETFD:
    case F_SETFL:
    case F_SETOWN:
    case F_SETSIG:
    case F_SETLEASE:
    case F_NOTIFY:
    case F_SETPIPE_SZ:
    case F_ADD_SEALS:
        return ARG_INT;
    default:
        return ARG_PTR;
    }
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, arg_type_t type, int iarg, void *parg,
                        lw_origin_t origin)
{
    if (type == ARG_NONE)
        return real(fd, cmd);
    if (type == ARG_PTR)
        return real(fd, cmd, parg);
    int r = real(fd, cmd, iarg);
    if (r < 0)
        return r;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return duplicated(r, cmd == F_DUPFD_CLOEXEC, origin);
    if (cmd == F_SETFD) {
        /* the program changes close-on-exec: the record follows, whichever kind it is */
        unsigned set = (iarg & FD_CLOEXEC) ? 0 : 1;
        if (!lw_set_flags(LW_FD, (uintptr_t)fd, LW_FLAG_NO_CLOEXEC, (int)set))
            lw_set_flags(LW_SOCKET, (uintptr_t)fd, LW_FLAG_NO_CLOEXEC, (int)set);
    }
    return r;
}

#define FCNTL_BODY(realfn)                                                                                      \
    arg_type_t type = fcntl_arg_type(cmd);                                                                      \
    int iarg = 0;                                                                                               \
    void *parg = NULL;                                                                                          \
    if (type != ARG_NONE) {                                                                                     \
        va_list ap;                                                                                             \
        va_start(ap, cmd);                                                                                      \
        if (type == ARG_INT)                                                                                    \
            iarg = va_arg(ap, int);                                                                             \
        else                                                                                                    \
            parg = va_arg(ap, void *);                                                                          \
        va_end(ap);                                                                                             \
    }                                                                                                           \
    LW_ENSURE_REAL(fcntl);                                                                                      \
    return fcntl_common((realfn), fd, cmd, type, iarg, parg, LW_HERE())

LW_EXPORT int fcntl(int fd, int cmd, ...)
{
    FCNTL_BODY(lw_real.fcntl);
}

LW_EXPORT int fcntl64(int fd, int cmd, ...)
{
    FCNTL_BODY(lw_real.fcntl64 ? lw_real.fcntl64 : lw_real.fcntl);
}

/* ---- pipes and anonymous-inode descriptors ------------------------------------------------------------- */

static int pipe_made(int r, const int fds[2], int cloexec, lw_origin_t origin)
{
    if (r == 0) {
        opened_as(LW_FD, fds[0], cloexec, origin);
        opened_as(LW_FD, fds[1], cloexec, origin);
    }
    return r;
}

LW_EXPORT int pipe(int fds[2])
{
    LW_ENSURE_REAL(pipe);
    return pipe_made(lw_real.pipe(fds), fds, 0, LW_HERE());
}

LW_EXPORT int pipe2(int fds[2], int flags)
{
    LW_ENSURE_REAL(pipe);
    if (!lw_real.pipe2) {
        errno = ENOSYS;
        return -1;
    }
    return pipe_made(lw_real.pipe2(fds, flags), fds, flags & O_CLOEXEC, LW_HERE());
}

/* An optional real function that this libc lacks fails the way a missing system call would. */
#define REQUIRE_OPTIONAL(field)                                                                                 \
    do {                                                                                                        \
        LW_ENSURE_REAL(close);                                                                                  \
        if (!lw_real.field) {                                                                                   \
            errno = ENOSYS;                                                                                     \
            return -1;                                                                                          \
        }                                                                                                       \
    } while (0)

LW_EXPORT int eventfd(unsigned initval, int flags)
{
    REQUIRE_OPTIONAL(eventfd);
    return opened(lw_real.eventfd(initval, flags), flags & EFD_CLOEXEC, LW_HERE());
}

LW_EXPORT int timerfd_create(int clockid, int flags)
{
    REQUIRE_OPTIONAL(timerfd_create);
    return opened(lw_real.timerfd_create(clockid, flags), flags & TFD_CLOEXEC, LW_HERE());
}

LW_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    REQUIRE_OPTIONAL(signalfd);
    int r = lw_real.signalfd(fd, mask, flags);
    /* with an existing descriptor signalfd only changes its mask: nothing new to record */
    if (fd == -1)
        opened(r, flags & SFD_CLOEXEC, LW_HERE());
    return r;
}

LW_EXPORT int epoll_create(int size)
{
    REQUIRE_OPTIONAL(epoll_create);
    return opened(lw_real.epoll_create(size), 0, LW_HERE());
}

LW_EXPORT int epoll_create1(int flags)
{
    REQUIRE_OPTIONAL(epoll_create1);
    return opened(lw_real.epoll_create1(flags), flags & EPOLL_CLOEXEC, LW_HERE());
}

LW_EXPORT int inotify_init(void)
{
    REQUIRE_OPTIONAL(inotify_init);
    return opened(lw_real.inotify_init(), 0, LW_HERE());
}

LW_EXPORT int inotify_init1(int flags)
{
    REQUIRE_OPTIONAL(inotify_init1);
    return opened(lw_real.inotify_init1(flags), flags & IN_CLOEXEC, LW_HERE());
}

LW_EXPORT int memfd_create(const char *name, unsigned flags)
{
    REQUIRE_OPTIONAL(memfd_create);
    return opened(lw_real.memfd_create(name, flags), flags & MFD_CLOEXEC, LW_HERE());
}

/* ---- closing ------------------------------------------------------------------------------------------- */

LW_EXPORT int close(int fd)
{
    LW_ENSURE_REAL(close);
    lw_origin_t origin = LW_HERE();
    forget(fd);
    int r = lw_real.close(fd);
    int err = errno;
    /* Linux frees the number even when close reports EINTR or EIO; only EBADF means nothing was open. */
    if (r == 0 || err != EBADF)
        lw_on_close_at(fd, origin);
    else
        lw_on_bad_close_at(fd, origin); /* ignores fd < 0: close(-1) on an error path harms no one */
    errno = err;
    return r;
}

LW_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    REQUIRE_OPTIONAL(close_range);
    lw_origin_t origin = LW_HERE();
    if (flags & CLOSE_RANGE_CLOEXEC) {
        /* marks the range close-on-exec; nothing is closed */
        int r = lw_real.close_range(first, last, flags);
        if (r == 0)
            lw_on_close_range_at(first, last, 1, origin);
        return r;
    }
    /* Released before the call like close. The kernel refuses a reversed range or an unknown flag before closing
     * anything, so those calls go through untouched and the records stay. */
    if (first > last || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)))
        return lw_real.close_range(first, last, flags);
    lw_on_close_range_at(first > STDERR_FILENO ? first : STDERR_FILENO + 1, last, 0, origin);
    return lw_real.close_range(first, last, flags);
}

/* ---- FILE* streams ------------------------------------------------------------------------------------- */

/* A stream counts once, keyed by the FILE*, as an fd-kind handle: the descriptor under it is opened inside libc
 * without going through these wrappers, so it is never recorded twice. Its mode string says 'e' for
 * close-on-exec. */
static FILE *stream_opened(FILE *f, const char *mode, lw_origin_t origin)
{
    if (f) {
        int saved = errno;
        lw_on_acquire_at(LW_FD, (uintptr_t)f, 0, origin);
        unsigned flags = LW_FLAG_FILE | (mode && strchr(mode, 'e') ? 0u : LW_FLAG_NO_CLOEXEC);
        lw_set_flags(LW_FD, (uintptr_t)f, flags, 1);
        errno = saved;
    }
    return f;
}

LW_EXPORT FILE *fopen(const char *path, const char *mode)
{
    LW_ENSURE_REAL(fopen);
    return stream_opened(lw_real.fopen(path, mode), mode, LW_HERE());
}

LW_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    LW_ENSURE_REAL(fopen);
    FILE *f = lw_real.fopen64 ? lw_real.fopen64(path, mode) : lw_real.fopen(path, mode);
    return stream_opened(f, mode, LW_HERE());
}

LW_EXPORT FILE *fdopen(int fd, const char *mode)
{
    LW_ENSURE_REAL(fdopen);
    lw_release_t t;
    forget_begin(&t, fd);
    FILE *f = lw_real.fdopen(fd, mode);
    lw_release_end(&t, f != NULL);
    if (!f)
        return NULL;
    /* the stream now owns the descriptor: fclose closes both, and the stream is the one handle reported */
    return stream_opened(f, mode, LW_HERE());
}

/* freopen closes the stream's descriptor and opens another into the same FILE. A stream we did not record
 * (stdin, stdout, stderr) stays unrecorded: it is the program's standard stream pointed elsewhere. */
static FILE *reopened(FILE *f, FILE *old, const char *mode, lw_origin_t origin)
{
    if (f)
        return lw_on_release_stream((uintptr_t)old) ? stream_opened(f, mode, origin) : f;
    /* on failure the old stream is closed anyway */
    lw_on_release_stream((uintptr_t)old);
    return f;
}

LW_EXPORT FILE *freopen(const char *path, const char *mode, FILE *old)
{
    LW_ENSURE_REAL(freopen);
    return reopened(lw_real.freopen(path, mode, old), old, mode, LW_HERE());
}

LW_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *old)
{
    LW_ENSURE_REAL(freopen);
    FILE *f = lw_real.freopen64 ? lw_real.freopen64(path, mode, old) : lw_real.freopen(path, mode, old);
    return reopened(f, old, mode, LW_HERE());
}

LW_EXPORT FILE *popen(const char *command, const char *mode)
{
    LW_ENSURE_REAL(popen);
    return stream_opened(lw_real.popen(command, mode), mode, LW_HERE());
}

LW_EXPORT int fclose(FILE *f)
{
    LW_ENSURE_REAL(fclose);
    lw_origin_t origin = LW_HERE();
    /* the descriptor closes inside libc: it is remembered as closed here, so that a close of it after fclose is
     * a double close */
    int fd = f && lw_on_release_stream((uintptr_t)f) ? fileno_unlocked(f) : -1;
    int r = lw_real.fclose(f);
    if (fd >= 0)
        lw_on_close_at(fd, origin); /* keeps errno */
    return r;
}

LW_EXPORT int pclose(FILE *f)
{
    LW_ENSURE_REAL(pclose);
    if (f)
        lw_on_release_stream((uintptr_t)f);
    return lw_real.pclose(f);
}

/* ---- DIR* streams -------------------------------------------------------------------------------------- */

static DIR *dir_opened(DIR *d, lw_origin_t origin)
{
    if (d) {
        int saved = errno;
        lw_on_acquire_at(LW_FD, (uintptr_t)d, 0, origin);
        /* opendir's descriptor is close-on-exec; fdopendir's is what the program made it */
        lw_set_flags(LW_FD, (uintptr_t)d, LW_FLAG_DIR, 1);
        errno = saved;
    }
    return d;
}

LW_EXPORT DIR *opendir(const char *path)
{
    LW_ENSURE_REAL(opendir);
    return dir_opened(lw_real.opendir(path), LW_HERE());
}

LW_EXPORT DIR *fdopendir(int fd)
{
    LW_ENSURE_REAL(opendir);
    if (!lw_real.fdopendir) {
        errno = ENOSYS;
        return NULL;
    }
    lw_release_t t;
    forget_begin(&t, fd);
    DIR *d = lw_real.fdopendir(fd);
    lw_release_end(&t, d != NULL);
    if (!d)
        return NULL;
    int saved = errno;
    dir_opened(d, LW_HERE());
    int fdflags = lw_real.fcntl(fd, F_GETFD);
    if (fdflags >= 0 && !(fdflags & FD_CLOEXEC))
        lw_set_flags(LW_FD, (uintptr_t)d, LW_FLAG_NO_CLOEXEC, 1);
    errno = saved;
    return d;
}

LW_EXPORT int closedir(DIR *d)
{
    LW_ENSURE_REAL(closedir);
    lw_on_release_stream((uintptr_t)d); /* closedir(NULL) is undefined; a NULL handle is simply not found */
    return lw_real.closedir(d);
}

/* ---- descriptors libc opens inside ------------------------------------------------------------------------ */

/* libc opens these descriptors with its own internal calls, which never reach the wrappers above. */

LW_EXPORT int mkstemp(char *tmpl)
{
    REQUIRE_OPTIONAL(mkstemp);
    return opened(lw_real.mkstemp(tmpl), 0, LW_HERE());
}

LW_EXPORT int mkstemp64(char *tmpl)
{
    REQUIRE_OPTIONAL(mkstemp);
    return opened(lw_real.mkstemp64 ? lw_real.mkstemp64(tmpl) : lw_real.mkstemp(tmpl), 0, LW_HERE());
}

LW_EXPORT int mkostemp(char *tmpl, int flags)
{
    REQUIRE_OPTIONAL(mkostemp);
    return opened(lw_real.mkostemp(tmpl, flags), flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int mkostemp64(char *tmpl, int flags)
{
    REQUIRE_OPTIONAL(mkostemp);
    int fd = lw_real.mkostemp64 ? lw_real.mkostemp64(tmpl, flags) : lw_real.mkostemp(tmpl, flags);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
    REQUIRE_OPTIONAL(mkstemps);
    return opened(lw_real.mkstemps(tmpl, suffixlen), 0, LW_HERE());
}

LW_EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
    REQUIRE_OPTIONAL(mkstemps);
    int fd = lw_real.mkstemps64 ? lw_real.mkstemps64(tmpl, suffixlen) : lw_real.mkstemps(tmpl, suffixlen);
    return opened(fd, 0, LW_HERE());
}

LW_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
    REQUIRE_OPTIONAL(mkostemps);
    return opened(lw_real.mkostemps(tmpl, suffixlen, flags), flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
    REQUIRE_OPTIONAL(mkostemps);
    int fd = lw_real.mkostemps64 ? lw_real.mkostemps64(tmpl, suffixlen, flags)
                                 : lw_real.mkostemps(tmpl, suffixlen, flags);
    return opened(fd, flags & O_CLOEXEC, LW_HERE());
}

/* A stream, counted once like fopen's; its descriptor is opened without close-on-exec. */
LW_EXPORT FILE *tmpfile(void)
{
    LW_ENSURE_REAL(tmpfile);
    if (!lw_real.tmpfile) {
        errno = ENOSYS;
        return NULL;
    }
    return stream_opened(lw_real.tmpfile(), "w+b", LW_HERE());
}

LW_EXPORT FILE *tmpfile64(void)
{
    LW_ENSURE_REAL(tmpfile);
    FILE *(*real)(void) = lw_real.tmpfile64 ? lw_real.tmpfile64 : lw_real.tmpfile;
    if (!real) {
        errno = ENOSYS;
        return NULL;
    }
    return stream_opened(real(), "w+b", LW_HERE());
}

/* glibc's shm_open always adds O_CLOEXEC. */
LW_EXPORT int shm_open(const char *name, int oflag, mode_t mode)
{
    REQUIRE_OPTIONAL(shm_open);
    int creates = lw_shm_open_creates(name, oflag);
    int fd = opened(lw_real.shm_open(name, oflag, mode), 1, LW_HERE());
    lw_on_shm_open_at(name, fd, creates, LW_HERE());
    return fd;
}

LW_EXPORT int posix_openpt(int flags)
{
    REQUIRE_OPTIONAL(posix_openpt);
    return opened(lw_real.posix_openpt(flags), flags & O_CLOEXEC, LW_HERE());
}

LW_EXPORT int getpt(void)
{
    REQUIRE_OPTIONAL(getpt);
    return opened(lw_real.getpt(), 0, LW_HERE());
}

struct termios;
struct winsize;

LW_EXPORT int openpty(int *amaster, int *aslave, char *name, const struct termios *termp,
                      const struct winsize *winp)
{
    REQUIRE_OPTIONAL(openpty);
    int r = lw_real.openpty(amaster, aslave, name, termp, winp);
    if (r == 0) {
        lw_origin_t origin = LW_HERE();
        opened_as(LW_FD, *amaster, 0, origin);
        opened_as(LW_FD, *aslave, 0, origin);
    }
    return r;
}

/* The parent keeps the master; in the child, the slave has become its standard streams. */
LW_EXPORT pid_t forkpty(int *amaster, char *name, const struct termios *termp, const struct winsize *winp)
{
    REQUIRE_OPTIONAL(forkpty);
    pid_t pid = lw_real.forkpty(amaster, name, termp, winp);
    if (pid > 0)
        opened_as(LW_FD, *amaster, 0, LW_HERE());
    return pid;
}

#ifndef FAN_CLOEXEC
#define FAN_CLOEXEC 0x1u
#endif

LW_EXPORT int fanotify_init(unsigned flags, unsigned event_f_flags)
{
    REQUIRE_OPTIONAL(fanotify_init);
    return opened(lw_real.fanotify_init(flags, event_f_flags), flags & FAN_CLOEXEC, LW_HERE());
}

/* pidfds are always close-on-exec. */
LW_EXPORT int pidfd_open(pid_t pid, unsigned flags)
{
    REQUIRE_OPTIONAL(pidfd_open);
    return opened(lw_real.pidfd_open(pid, flags), 1, LW_HERE());
}

/* A copy of another process's descriptor, of the kind of what it refers to. */
LW_EXPORT int pidfd_getfd(int pidfd, int targetfd, unsigned flags)
{
    REQUIRE_OPTIONAL(pidfd_getfd);
    return duplicated(lw_real.pidfd_getfd(pidfd, targetfd, flags), 1, LW_HERE());
}

/* ---- syscall(2) ----------------------------------------------------------------------------------------- */

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_fspick
#define SYS_fspick 433
#endif
#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

/* What a system call returns when it succeeds: a descriptor of kind LW_FD or LW_SOCKET (SYS_dup and
 * SYS_pidfd_getfd: LW_FD, the caller looks at what the copy refers to), or LW_KIND_COUNT for a call that returns
 * none (or, like signalfd on an existing descriptor, none new). With `done` (the call succeeded), `cloexec` says
 * whether the descriptor is close-on-exec, from the call's flags (each *_CLOEXEC flag is O_CLOEXEC or 1, as
 * noted); before the call nothing the arguments point to is read. */
static lw_kind_t made_by(long nr, const long a[6], int done, int *cloexec)
{
    *cloexec = 1; /* pidfds, io_uring, landlock rulesets, and copies taken with pidfd_getfd */
    switch (nr) {
    case SYS_open:
        *cloexec = (int)(a[1] & O_CLOEXEC);
        return LW_FD;
    case SYS_openat:
    case SYS_open_by_handle_at:
    case SYS_open_tree: /* OPEN_TREE_CLOEXEC is O_CLOEXEC */
        *cloexec = (int)(a[2] & O_CLOEXEC);
        return LW_FD;
    case SYS_openat2: /* struct open_how starts with its flags */
        *cloexec = done && (*(const uint64_t *)a[2] & O_CLOEXEC);
        return LW_FD;
    case SYS_creat:
    case SYS_eventfd:
    case SYS_epoll_create:
    case SYS_inotify_init:
        *cloexec = 0;
        return LW_FD;
    case SYS_eventfd2:      /* EFD_CLOEXEC */
    case SYS_epoll_create1: /* EPOLL_CLOEXEC */
    case SYS_inotify_init1: /* IN_CLOEXEC */
    case SYS_userfaultfd:   /* O_CLOEXEC */
    case SYS_memfd_secret:  /* O_CLOEXEC */
        *cloexec = (int)(a[nr == SYS_eventfd2 ? 1 : 0] & O_CLOEXEC);
        return LW_FD;
    case SYS_timerfd_create: /* TFD_CLOEXEC */
        *cloexec = (int)(a[1] & O_CLOEXEC);
        return LW_FD;
    case SYS_signalfd:
    case SYS_signalfd4: /* SFD_CLOEXEC */
        *cloexec = nr == SYS_signalfd4 && (a[3] & O_CLOEXEC);
        return (int)a[0] == -1 ? LW_FD : LW_KIND_COUNT;
    case SYS_memfd_create: /* MFD_CLOEXEC */
    case SYS_fanotify_init: /* FAN_CLOEXEC */
    case SYS_fsopen:        /* FSOPEN_CLOEXEC */
        *cloexec = (int)(a[nr == SYS_memfd_create || nr == SYS_fsopen ? 1 : 0] & 1);
        return LW_FD;
    case SYS_fsmount: /* FSMOUNT_CLOEXEC */
    case SYS_fspick:  /* FSPICK_CLOEXEC */
        *cloexec = (int)(a[nr == SYS_fsmount ? 1 : 2] & 1);
        return LW_FD;
    case SYS_perf_event_open: /* PERF_FLAG_FD_CLOEXEC */
        *cloexec = (int)(a[4] & 8);
        return LW_FD;
    case SYS_dup:
        *cloexec = 0;
        return LW_FD;
    case SYS_pidfd_getfd:
    case SYS_io_uring_setup:
    case SYS_pidfd_open:
        return LW_FD;
    case SYS_landlock_create_ruleset:
        return a[2] == 0 ? LW_FD : LW_KIND_COUNT; /* a flag asks for the ABI version instead */
    case SYS_socket:
        *cloexec = (int)(a[1] & SOCK_CLOEXEC);
        return LW_SOCKET;
    case SYS_accept:
        *cloexec = 0;
        return LW_SOCKET;
    case SYS_accept4:
        *cloexec = (int)(a[3] & SOCK_CLOEXEC);
        return LW_SOCKET;
    default:
        return LW_KIND_COUNT;
    }
}

/* The bounds of the injected library itself (the linker defines both in every object): its own system calls go
 * through lw_syscall, never through this wrapper, and one that came from its code would not be the program's. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* syscall() as glibc defines it: six arguments forwarded whatever the call takes (reading those it was not given
 * is what glibc's own assembly does), -1 with errno for a result in [-4095, -1], errno untouched otherwise. A
 * call that returns descriptors is recorded like the libc function of the same name. Every other number (futex
 * above all) costs the switch and nothing more; SYS_close among them stays a close behind leakwatch's back,
 * which a later close of the number reports as a bad close (README, warnings). Reached from the exported entry
 * below for every number but those that entry makes itself; hidden, and global only for that entry's jump. */
long lw_syscall_tracked(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long lw_syscall_tracked(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    long a[6] = { a0, a1, a2, a3, a4, a5 };
    lw_origin_t origin = LW_HERE();
    int cloexec;
    /* the tracker's own calls (from its code, or inside a hook) are not recorded */
    int own = origin.ra >= (uintptr_t)__ehdr_start && origin.ra < (uintptr_t)_end;
    int track = !own &&
                (nr == SYS_pipe || nr == SYS_pipe2 || nr == SYS_socketpair ||
                 made_by(nr, a, 0, &cloexec) != LW_KIND_COUNT) &&
                (lw_tracking(LW_FD) || lw_tracking(LW_SOCKET));
    long r = lw_sys_raw(nr, a); /* the instruction itself: no real function to resolve first */
    if ((unsigned long)r > -4096ul) {
        errno = (int)-r;
        return -1;
    }
    if (!track)
        return r;
    int saved = errno;
    if (nr == SYS_pipe || nr == SYS_pipe2) {
        pipe_made(0, (const int *)a[0], nr == SYS_pipe2 && (a[1] & O_CLOEXEC), origin);
    } else if (nr == SYS_socketpair) {
        const int *sv = (const int *)a[3];
        opened_as(LW_SOCKET, sv[0], (int)(a[1] & SOCK_CLOEXEC), origin);
        opened_as(LW_SOCKET, sv[1], (int)(a[1] & SOCK_CLOEXEC), origin);
    } else {
        lw_kind_t kind = made_by(nr, a, 1, &cloexec);
        if (nr == SYS_dup || nr == SYS_pidfd_getfd)
            kind = kind_of((int)r);
        opened_as(kind, (int)r, cloexec, origin);
    }
    errno = saved;
    return r;
}

/* errno for a failed call of the exported entry's own path; hidden, global only for that entry's jump. */
long lw_syscall_failed(long r);
long lw_syscall_failed(long r)
{
    errno = (int)-r;
    return -1;
}

#define LW_STR_(x) #x
#define LW_STR(x) LW_STR_(x)

/* The exported syscall(). clone and clone3 (a child on a stack of its own runs on from the call's return with
 * that stack: glibc's syscall() lets it "return" to the address the program put on top), vfork (the child shares
 * the caller's stack and returns through it while the parent is stopped inside the call) and rt_sigreturn (the
 * kernel reads the signal frame at the stack pointer) only work from a function without a frame, as glibc's is:
 * for those this entry makes the call itself with nothing pushed, instruction for instruction as glibc does. Every
 * other number jumps to lw_syscall_tracked with the caller's registers and stack as they came (the sixth argument
 * stays at 8(%rsp), where a seven-argument function finds it). None of the four returns a descriptor the wrapper
 * records. */
__asm__(".text\n"
        ".globl syscall\n"
        ".type syscall, @function\n"
        "syscall:\n"
        "    endbr64\n"
        "    cmpq $" LW_STR(SYS_clone) ", %rdi\n"
        "    je 1f\n"
        "    cmpq $" LW_STR(SYS_clone3) ", %rdi\n"
        "    je 1f\n"
        "    cmpq $" LW_STR(SYS_vfork) ", %rdi\n"
        "    je 1f\n"
        "    cmpq $" LW_STR(SYS_rt_sigreturn) ", %rdi\n"
        "    je 1f\n"
        "    jmp lw_syscall_tracked\n"
        "1:  movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    movq %rdx, %rsi\n"
        "    movq %rcx, %rdx\n"
        "    movq %r8, %r10\n"
        "    movq %r9, %r8\n"
        "    movq 8(%rsp), %r9\n"
        "    syscall\n"
        "    cmpq $-4095, %rax\n"
        "    jae 2f\n"
        "    ret\n"
        "2:  movq %rax, %rdi\n"
        "    jmp lw_syscall_failed\n"
        ".size syscall, .-syscall\n");
