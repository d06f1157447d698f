/* The tracker's one way to the kernel for descriptors, processes and threads: raw system calls, or the real
 * functions preload/ resolved, never the public names that the injected library interposes. */
#ifndef LW_SYS_H
#define LW_SYS_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Each call behaves as the libc function of the same name: the result, or -1 with errno set. */
int lw_sys_open(const char *path, int flags, unsigned mode);
int lw_sys_openat(int dirfd, const char *path, int flags, unsigned mode);
int lw_sys_close(int fd);
int lw_sys_pipe2(int fds[2], int flags);
int lw_sys_fcntl(int fd, int cmd, long arg);
int lw_sys_dup2(int oldfd, int newfd);

/* mmap and munmap as the kernel has them (the library interposes the public names to learn the program's
 * allocator's memory; the tracker's own mappings are not the program's). lw_sys_mmap returns MAP_FAILED with
 * errno set on failure. */
void *lw_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int lw_sys_munmap(void *addr, size_t len);

/* One directory entry as getdents64 writes it; the next starts reclen bytes further. */
typedef struct {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
} lw_dirent64_t;

/* getdents64: reads directory entries of dirfd into buf; returns the bytes read, 0 at the end, or -1. */
long lw_sys_getdents64(int dirfd, void *buf, size_t cap);

/* Reads exactly n bytes, retrying after EINTR and short reads. Returns 0 or an errno value (EIO at end-of-file). */
int lw_sys_read_all(int fd, void *buf, size_t n);

/* Writes all n bytes, retrying after EINTR and short writes. Returns 0 or an errno value. */
int lw_sys_write_all(int fd, const void *buf, size_t n);

/* A copy of the calling process, as fork makes it, that is invisible to the program: no atfork handler runs, the
 * copy sends no signal when it ends (no SIGCHLD reaches the program), and since it is a "clone" child the
 * program's wait(), waitpid(-1, ...) and waitid(P_ALL, ...) never see it (only __WALL or __WCLONE do). The copy
 * may use raw system calls only: glibc's idea of its thread id is the parent's. The copy is killed when the
 * calling thread ends (PR_SET_PDEATHSIG), so it never outlives the process it copies. Returns 0 in the copy, its
 * pid in the caller, or -1 with errno set. Reap it with lw_sys_reap. */
pid_t lw_sys_fork_quiet(void);

/* Waits for the quiet copy `pid` to end, retrying after EINTR. Returns 0 with *status set, or an errno value. */
int lw_sys_reap(pid_t pid, int *status);

/* Gives the calling thread a descriptor table of its own, empty: what it opens from then on is invisible to the
 * program (no number taken, none the program can close or reuse), and the program's descriptors are not held
 * open by it. For leakwatch's own threads (the dump thread). Returns 0 or an errno value. */
int lw_sys_private_fds(void);

/* A descriptor of the program's that the calling thread can use: `fd` itself, or in a thread with a private
 * table a copy of it (pidfd_getfd), or -1 when no copy can be had. lw_sys_unborrow_fd(local, fd) gives it back. */
int lw_sys_borrow_fd(int fd);
void lw_sys_unborrow_fd(int local, int fd);

/* Runs the program at path in a child of the calling quiet copy and ends the copy with the program's exit status
 * (127 when it could not be run); never returns. Call it only in a copy from lw_sys_fork_quiet: a process that
 * executes a program is reported to its parent with SIGCHLD whatever exit signal it was made with, so the
 * program must be the copy's child, not the traced program's. */
void lw_sys_exec_in_copy(const char *path, char *const argv[], char *const envp[]) __attribute__((noreturn));

/* sigaction as libc has it (preload/ hands it over): the public name is the injected library's wrapper. */
int lw_sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* pthread_create as libc has it: the thread is leakwatch's, not a handle the program acquired. */
int lw_sys_thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif
