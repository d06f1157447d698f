/* The real functions behind the interposed symbols, resolved in one place (resolve.c) on first use. */
#ifndef LW_REAL_H
#define LW_REAL_H

#include "lw_tracker.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define LW_EXPORT __attribute__((visibility("default")))
#define LW_UNLIKELY_P(x) __builtin_expect(!!(x), 0)

typedef int (*lw_main_fn)(int, char **, char **);

typedef struct {
    /* heap */
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    /* process */
    int (*libc_start_main)(lw_main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);
    void (*exit)(int) __attribute__((noreturn));
    void (*_exit)(int) __attribute__((noreturn));
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                       char *const[], char *const[]);
    int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);
    /* signals */
    int (*sigprocmask)(int, const sigset_t *, sigset_t *);
    int (*sigaction)(int, const struct sigaction *, struct sigaction *);
    void (*(*signal)(int, void (*)(int)))(int);
    /* descriptors */
    int (*open)(const char *, int, ...);
    int (*open64)(const char *, int, ...);
    int (*openat)(int, const char *, int, ...);
    int (*openat64)(int, const char *, int, ...);
    int (*open_2)(const char *, int);
    int (*open64_2)(const char *, int);
    int (*openat_2)(int, const char *, int);
    int (*openat64_2)(int, const char *, int);
    int (*creat)(const char *, mode_t);
    int (*creat64)(const char *, mode_t);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*fcntl64)(int, int, ...);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    int (*eventfd)(unsigned, int);
    int (*timerfd_create)(int, int);
    int (*signalfd)(int, const sigset_t *, int);
    int (*epoll_create)(int);
    int (*epoll_create1)(int);
    int (*inotify_init)(void);
    int (*inotify_init1)(int);
    int (*memfd_create)(const char *, unsigned);
    int (*close)(int);
    int (*close_range)(unsigned, unsigned, int);
    FILE *(*fopen)(const char *, const char *);
    FILE *(*fopen64)(const char *, const char *);
    FILE *(*fdopen)(int, const char *);
    FILE *(*freopen)(const char *, const char *, FILE *);
    FILE *(*freopen64)(const char *, const char *, FILE *);
    FILE *(*popen)(const char *, const char *);
    int (*fclose)(FILE *);
    int (*pclose)(FILE *);
    DIR *(*opendir)(const char *);
    DIR *(*fdopendir)(int);
    int (*closedir)(DIR *);
    /* descriptors libc opens inside (fd.c) */
    int (*mkstemp)(char *);
    int (*mkstemp64)(char *);
    int (*mkostemp)(char *, int);
    int (*mkostemp64)(char *, int);
    int (*mkstemps)(char *, int);
    int (*mkstemps64)(char *, int);
    int (*mkostemps)(char *, int, int);
    int (*mkostemps64)(char *, int, int);
    FILE *(*tmpfile)(void);
    FILE *(*tmpfile64)(void);
    int (*shm_open)(const char *, int, mode_t);
    int (*posix_openpt)(int);
    int (*getpt)(void);
    int (*openpty)(int *, int *, char *, const void *, const void *);
    pid_t (*forkpty)(int *, char *, const void *, const void *);
    int (*fanotify_init)(unsigned, unsigned);
    int (*pidfd_open)(pid_t, unsigned);
    int (*pidfd_getfd)(int, int, unsigned);
    /* sockets */
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*accept)(int, __SOCKADDR_ARG, socklen_t *__restrict);
    int (*accept4)(int, __SOCKADDR_ARG, socklen_t *__restrict, int);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    /* threads */
    int (*pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    int (*pthread_join)(pthread_t, void **);
    int (*pthread_tryjoin_np)(pthread_t, void **);
    int (*pthread_timedjoin_np)(pthread_t, void **, const struct timespec *);
    int (*pthread_clockjoin_np)(pthread_t, void **, clockid_t, const struct timespec *);
    int (*pthread_detach)(pthread_t);
    /* timers */
    int (*timer_create)(clockid_t, struct sigevent *, timer_t *);
    int (*timer_delete)(timer_t);
    /* credentials */
    int (*setuid)(uid_t);
    int (*seteuid)(uid_t);
    int (*setreuid)(uid_t, uid_t);
    int (*setresuid)(uid_t, uid_t, uid_t);
    /* memory mappings (map.c) */
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    void *(*mmap64)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    /* shared memory */
    int (*shm_unlink)(const char *);
    int (*shmget)(key_t, size_t, int);
    void *(*shmat)(int, const void *, int);
    int (*shmdt)(const void *);
    int (*shmctl)(int, int, struct shmid_ds *);
} lw_real_t;

/* Makes sure lw_real.field is resolved before a wrapper calls it. */
#define LW_ENSURE_REAL(field)                                                                                   \
    do {                                                                                                        \
        if (LW_UNLIKELY_P(!lw_real.field))                                                                      \
            lw_resolve();                                                                                       \
    } while (0)

extern lw_real_t lw_real;

/* Resolves every real symbol. Thread-safe; a required symbol that is missing ends the process with a message,
 * since the program could not run correctly without it. */
void lw_resolve(void);

/* Nonzero while the calling thread is inside lw_resolve: dlsym may allocate, and those calls are served from a
 * static pool because the real allocator is not known yet. */
int lw_resolving(void);

/* The static pool. lw_pool_owns tells free and realloc that a pointer is not the real allocator's: inline, since
 * every free asks. */
#define LW_POOL_SIZE (64 * 1024)
extern unsigned char lw_pool[LW_POOL_SIZE];
void *lw_pool_alloc(size_t size, size_t align);
static inline int lw_pool_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)lw_pool < LW_POOL_SIZE;
}
size_t lw_pool_size(const void *p);

#endif
