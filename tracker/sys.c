/* The tracker's system layer: system calls made with the instruction itself (never through the public lw_syscall(),
 * which is the injected library's wrapper), descriptors, quiet process copies through clone, and the real
 * pthread_create and sigaction handed over by preload/. */
#include "sys.h"
#include "arch.h"
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

long lw_sys_raw(long nr, const long a[6])
{
    return lw_arch_syscall6(nr, a);
}

long lw_syscall(long nr, ...)
{
    long a[6];
    va_list ap;
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    long r = lw_arch_syscall6(nr, a);
    if ((unsigned long)r > -4096ul) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

int lw_sys_open(const char *path, int flags, unsigned mode)
{
    return lw_sys_openat(AT_FDCWD, path, flags, mode);
}

int lw_sys_openat(int dirfd, const char *path, int flags, unsigned mode)
{
    return (int)lw_syscall(SYS_openat, dirfd, path, flags, mode);
}

int lw_sys_close(int fd)
{
    return (int)lw_syscall(SYS_close, fd);
}

int lw_sys_pipe2(int fds[2], int flags)
{
    return (int)lw_syscall(SYS_pipe2, fds, flags);
}

int lw_sys_fcntl(int fd, int cmd, long arg)
{
    return (int)lw_syscall(SYS_fcntl, fd, cmd, arg);
}

int lw_sys_dup2(int oldfd, int newfd)
{
    if (oldfd == newfd) /* dup3 refuses equal numbers; dup2 checks that oldfd is open and returns it */
        return lw_sys_fcntl(oldfd, F_GETFD, 0) < 0 ? -1 : newfd;
    return (int)lw_syscall(SYS_dup3, oldfd, newfd, 0);
}

void *lw_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
    return (void *)lw_syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

int lw_sys_munmap(void *addr, size_t len)
{
    return (int)lw_syscall(SYS_munmap, addr, len);
}

long lw_sys_getdents64(int dirfd, void *buf, size_t cap)
{
    return lw_syscall(SYS_getdents64, dirfd, buf, cap);
}

/* read or write (nr) of all n bytes at p, retrying after EINTR and short transfers: 0 or an errno value. */
static int transfer_all(long nr, int fd, uintptr_t p, size_t n)
{
    while (n) {
        ssize_t k = lw_syscall(nr, fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno;
        if (k == 0)
            return EIO;
        p += (size_t)k;
        n -= (size_t)k;
    }
    return 0;
}

int lw_sys_read_all(int fd, void *buf, size_t n)
{
    return transfer_all(SYS_read, fd, (uintptr_t)buf, n);
}

int lw_sys_write_all(int fd, const void *buf, size_t n)
{
    return transfer_all(SYS_write, fd, (uintptr_t)buf, n);
}

pid_t lw_sys_fork_quiet(void)
{
    pid_t parent = (pid_t)lw_syscall(SYS_getpid);
    /* clone with no flags and no stack is fork without glibc's bookkeeping; an exit signal of 0 (the low byte
     * of the flags) is what keeps the copy out of the program's signals and waits */
    pid_t pid = (pid_t)lw_syscall(SYS_clone, 0ul, 0ul, 0ul, 0ul, 0ul);
    if (pid == 0) {
        /* a copy never outlives the process it copies (killed, say, while its exit dump waited for the copy):
         * nothing would read its answer, and a scan that went wrong would spin on unseen */
        lw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0ul, 0ul, 0ul);
        if ((pid_t)lw_syscall(SYS_getppid) != parent)
            lw_syscall(SYS_exit_group, 1);
    }
    return pid;
}

int lw_sys_reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, __WALL) < 0) {
        if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* The thread's pidfd of its own process when it has a private descriptor table, else -1 (0: not yet known). */
static LW_TLS int own_pidfd;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int lw_sys_private_fds(void)
{
    /* a pidfd opened before the unshare would be the program's; the copy of the table the unshare makes is
     * emptied at once, so that no descriptor the program closes stays open here */
    if (lw_syscall(SYS_unshare, CLONE_FILES) != 0)
        return errno;
    lw_syscall(SYS_close_range, 0u, ~0u, 0u);
    int pidfd = (int)lw_syscall(SYS_pidfd_open, (long)getpid(), 0u);
    own_pidfd = pidfd >= 0 ? pidfd + 1 : -1;
    return 0;
}

int lw_sys_borrow_fd(int fd)
{
    if (own_pidfd == 0)
        return fd;
    if (own_pidfd < 0)
        return -1;
    return (int)lw_syscall(SYS_pidfd_getfd, own_pidfd - 1, fd, 0u);
}

void lw_sys_unborrow_fd(int local, int fd)
{
    if (local >= 0 && local != fd)
        lw_sys_close(local);
}

void lw_sys_exec_in_copy(const char *path, char *const argv[], char *const envp[])
{
    /* Every signal blocked: the copy inherited the program's handlers, and its child's end (SIGCHLD) must not run
     * one of them. The child gets the program's mask back just before it executes. */
    sigset_t all, old;
    sigfillset(&all);
    lw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, (size_t)(_NSIG / 8));
    pid_t pid = (pid_t)lw_syscall(SYS_clone, (unsigned long)SIGCHLD, 0ul, 0ul, 0ul, 0ul);
    if (pid == 0) {
        lw_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, (size_t)(_NSIG / 8));
        lw_syscall(SYS_execve, path, argv, envp);
        lw_syscall(SYS_exit_group, 127);
    }
    int st = 0;
    if (pid < 0 || lw_sys_reap(pid, &st) != 0 || !WIFEXITED(st))
        lw_syscall(SYS_exit_group, 127);
    lw_syscall(SYS_exit_group, WEXITSTATUS(st));
    __builtin_unreachable();
}

static lw_thread_create_fn real_pthread_create;

void lw_sys_set_thread_create(lw_thread_create_fn fn)
{
    real_pthread_create = fn;
}

int lw_sys_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (!real_pthread_create) {
        /* no preload layer (the unit tests link the tracker alone): the next definition is libc's */
        void *sym = dlsym(RTLD_NEXT, "pthread_create");
        memcpy(&real_pthread_create, &sym, sizeof(sym)); /* POSIX: a dlsym result converts to a function pointer */
        if (!real_pthread_create)
            return ENOSYS;
    }
    lw_thread_coming();
    return real_pthread_create(t, attr, fn, arg);
}

static lw_sigaction_fn real_sigaction;

void lw_sys_set_sigaction(lw_sigaction_fn fn)
{
    real_sigaction = fn;
}

int lw_sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!real_sigaction) {
        /* no preload layer (the unit tests link the tracker alone): the next definition is libc's */
        void *sym = dlsym(RTLD_NEXT, "sigaction");
        memcpy(&real_sigaction, &sym, sizeof(sym));
        if (!real_sigaction) {
            errno = ENOSYS;
            return -1;
        }
    }
    return real_sigaction(sig, act, old);
}
