/* Resolves the real functions behind every interposed symbol, once, and serves the allocations that dlsym makes
 * while it is doing so from a static pool. */
#include "real.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

lw_real_t lw_real;

typedef struct {
    const char *name;
    const char *version; /* for dlvsym where glibc versions the symbol, else NULL */
    int required;
    void **slot;
} lw_sym_t;

#define SYM(field, name, req) { name, NULL, req, (void **)&lw_real.field }
/* A versioned symbol, optional: several entries may name one slot, in order of preference. */
#define VSYM(field, name, version) { name, version, 0, (void **)&lw_real.field }

static const lw_sym_t symbols[] = {
    SYM(malloc, "malloc", 1),
    SYM(free, "free", 1),
    SYM(calloc, "calloc", 1),
    SYM(realloc, "realloc", 1),
    SYM(reallocarray, "reallocarray", 0),
    SYM(posix_memalign, "posix_memalign", 1),
    SYM(aligned_alloc, "aligned_alloc", 0),
    SYM(memalign, "memalign", 0),
    SYM(valloc, "valloc", 0),
    SYM(pvalloc, "pvalloc", 0),
    SYM(malloc_usable_size, "malloc_usable_size", 0),
    SYM(libc_start_main, "__libc_start_main", 1),
    SYM(exit, "exit", 1),
    SYM(_exit, "_exit", 1),
    SYM(sigprocmask, "sigprocmask", 1),
    SYM(sigaction, "sigaction", 1),
    SYM(signal, "signal", 1),
    SYM(execve, "execve", 1),
    SYM(execv, "execv", 1),
    SYM(execvp, "execvp", 1),
    SYM(execvpe, "execvpe", 0),
    SYM(fexecve, "fexecve", 0),
    SYM(posix_spawn, "posix_spawn", 0),
    SYM(posix_spawnp, "posix_spawnp", 0),
    /* descriptors */
    SYM(open, "open", 1),
    SYM(open64, "open64", 0),
    SYM(openat, "openat", 1),
    SYM(openat64, "openat64", 0),
    SYM(open_2, "__open_2", 0),
    SYM(open64_2, "__open64_2", 0),
    SYM(openat_2, "__openat_2", 0),
    SYM(openat64_2, "__openat64_2", 0),
    SYM(creat, "creat", 0),
    SYM(creat64, "creat64", 0),
    SYM(dup, "dup", 1),
    SYM(dup2, "dup2", 1),
    SYM(dup3, "dup3", 0),
    SYM(fcntl, "fcntl", 1),
    SYM(fcntl64, "fcntl64", 0),
    SYM(pipe, "pipe", 1),
    SYM(pipe2, "pipe2", 0),
    SYM(eventfd, "eventfd", 0),
    SYM(timerfd_create, "timerfd_create", 0),
    SYM(signalfd, "signalfd", 0),
    SYM(epoll_create, "epoll_create", 0),
    SYM(epoll_create1, "epoll_create1", 0),
    SYM(inotify_init, "inotify_init", 0),
    SYM(inotify_init1, "inotify_init1", 0),
    SYM(memfd_create, "memfd_create", 0),
    SYM(close, "close", 1),
    SYM(close_range, "close_range", 0),
    SYM(fopen, "fopen", 1),
    SYM(fopen64, "fopen64", 0),
    SYM(fdopen, "fdopen", 1),
    SYM(freopen, "freopen", 1),
    SYM(freopen64, "freopen64", 0),
    SYM(popen, "popen", 1),
    SYM(fclose, "fclose", 1),
    SYM(pclose, "pclose", 1),
    SYM(opendir, "opendir", 1),
    SYM(fdopendir, "fdopendir", 0),
    SYM(closedir, "closedir", 1),
    SYM(mkstemp, "mkstemp", 0),
    SYM(mkstemp64, "mkstemp64", 0),
    SYM(mkostemp, "mkostemp", 0),
    SYM(mkostemp64, "mkostemp64", 0),
    SYM(mkstemps, "mkstemps", 0),
    SYM(mkstemps64, "mkstemps64", 0),
    SYM(mkostemps, "mkostemps", 0),
    SYM(mkostemps64, "mkostemps64", 0),
    SYM(tmpfile, "tmpfile", 0),
    SYM(tmpfile64, "tmpfile64", 0),
    SYM(shm_open, "shm_open", 0),
    SYM(posix_openpt, "posix_openpt", 0),
    SYM(getpt, "getpt", 0),
    SYM(openpty, "openpty", 0),
    SYM(forkpty, "forkpty", 0),
    SYM(fanotify_init, "fanotify_init", 0),
    SYM(pidfd_open, "pidfd_open", 0),
    SYM(pidfd_getfd, "pidfd_getfd", 0),
    /* sockets */
    SYM(socket, "socket", 1),
    SYM(socketpair, "socketpair", 0),
    SYM(accept, "accept", 1),
    SYM(accept4, "accept4", 0),
    SYM(recvmsg, "recvmsg", 1),
    /* threads: the default versions, as a program linked today gets them */
    SYM(pthread_create, "pthread_create", 1),
    SYM(pthread_join, "pthread_join", 1),
    SYM(pthread_tryjoin_np, "pthread_tryjoin_np", 0),
    SYM(pthread_timedjoin_np, "pthread_timedjoin_np", 0),
    SYM(pthread_clockjoin_np, "pthread_clockjoin_np", 0),
    SYM(pthread_detach, "pthread_detach", 1),
    /* timers: glibc keeps an old ABI (GLIBC_2.2.5, integer timer ids) beside the current one, and plain dlsym may
     * hand back the old. The current version is GLIBC_2.34 (the same code as GLIBC_2.3.3, which older glibc
     * releases have): the first that resolves fills the slot. */
    VSYM(timer_create, "timer_create", "GLIBC_2.34"),
    VSYM(timer_create, "timer_create", "GLIBC_2.3.3"),
    VSYM(timer_delete, "timer_delete", "GLIBC_2.34"),
    VSYM(timer_delete, "timer_delete", "GLIBC_2.3.3"),
    SYM(setuid, "setuid", 1),
    SYM(seteuid, "seteuid", 1),
    SYM(setreuid, "setreuid", 1),
    SYM(setresuid, "setresuid", 1),
    /* memory mappings */
    SYM(mmap, "mmap", 1),
    SYM(mmap64, "mmap64", 0),
    SYM(munmap, "munmap", 1),
    SYM(mremap, "mremap", 0),
    /* shared memory */
    SYM(shm_unlink, "shm_unlink", 0),
    SYM(shmget, "shmget", 0),
    SYM(shmat, "shmat", 0),
    SYM(shmdt, "shmdt", 0),
    SYM(shmctl, "shmctl", 0),
};

static atomic_int state; /* 0 unresolved, 1 resolving, 2 resolved */
static _Thread_local int resolving __attribute__((tls_model("initial-exec")));

int lw_resolving(void)
{
    return resolving;
}

static void die(const char *name)
{
    static const char a[] = "leakwatch: the real ";
    static const char b[] = " was not found; the traced program cannot run with leakwatch\n";
    ssize_t r = write(STDERR_FILENO, a, sizeof(a) - 1);
    r = write(STDERR_FILENO, name, strlen(name));
    r = write(STDERR_FILENO, b, sizeof(b) - 1);
    (void)r;
    lw_syscall(SYS_exit_group, 127); /* not _exit: that is interposed too */
    __builtin_unreachable();
}

/* The address of the first definition of name (of version, if given) in the process's load order, for a library
 * loaded late. RTLD_DEFAULT answers that, except where a non-PIE executable takes the function's address in
 * code: the executable's PLT entry then stands for the function (an undefined symbol with a value), dlsym hands
 * the entry back, and a wrapper forwarding to it would call itself through the rebound slot. An address that is
 * that is not the start of a defined symbol is such an entry: the definition is then looked for object by object. */
static void *first_definition(const char *name, const char *version)
{
    void *p = version ? dlvsym(RTLD_DEFAULT, name, version) : dlsym(RTLD_DEFAULT, name);
    if (!p || lw_defined_at(p, NULL))
        return p;
    Dl_info self;
    struct link_map *lm = NULL;
    void *program = dlopen(NULL, RTLD_LAZY | RTLD_NOLOAD);
    if (!program || !dladdr(&lw_real, &self) || dlinfo(program, RTLD_DI_LINKMAP, &lm) != 0)
        lm = NULL;
    for (; lm; lm = lm->l_next) {
        if (!lm->l_name || !lm->l_name[0] || (self.dli_fname && strcmp(lm->l_name, self.dli_fname) == 0))
            continue; /* the executable (its entry is what was found) and this library */
        void *h = dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD);
        if (!h)
            continue;
        void *q = version ? dlvsym(h, name, version) : dlsym(h, name);
        /* the handle's scope holds its dependencies too: only a definition in this object counts here */
        int here = q && lw_defined_at(q, lm->l_name);
        dlclose(h);
        if (here) {
            p = q;
            break;
        }
    }
    if (program)
        dlclose(program);
    return p;
}

void lw_resolve(void)
{
    int expect = 0;
    if (atomic_load(&state) == 2)
        return;
    if (!atomic_compare_exchange_strong(&state, &expect, 1)) {
        if (resolving)
            return;
        while (atomic_load(&state) != 2)
            sched_yield();
        return;
    }
    resolving = 1;
    /* loaded late (`leakwatch attach`), the library is outside the global scope: what the program's calls bound
     * to (jemalloc's malloc, say) is the first definition there, not the next one after the library */
    int late = lw_attaching();
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        const lw_sym_t *s = &symbols[i];
        if (*s->slot)
            continue; /* an earlier, preferred version of this symbol was found */
        void *p = late ? first_definition(s->name, s->version)
                       : s->version ? dlvsym(RTLD_NEXT, s->name, s->version) : dlsym(RTLD_NEXT, s->name);
        if (!p && s->required)
            die(s->name);
        *s->slot = p;
    }
    lw_sys_set_thread_create(lw_real.pthread_create);
    lw_sys_set_sigaction(lw_real.sigaction);
    lw_note_allocator((uintptr_t)lw_real.malloc, lw_attaching() ? 0 : (uintptr_t)dlsym(RTLD_DEFAULT, "malloc"));
    resolving = 0;
    atomic_store(&state, 2);
}

/* ---- the static pool ----------------------------------------------------------------------------------- */

/* dlsym allocates a little (its error buffer) with calloc before malloc is known. Blocks carry their size in a
 * 16-byte header; they are never freed. */
_Alignas(64) unsigned char lw_pool[LW_POOL_SIZE];
static atomic_size_t pool_used;

void *lw_pool_alloc(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    for (;;) {
        size_t used = atomic_load(&pool_used);
        size_t start = (used + 16 + align - 1) & ~(align - 1);
        if (start + size > LW_POOL_SIZE || size > LW_POOL_SIZE)
            return NULL;
        if (atomic_compare_exchange_weak(&pool_used, &used, start + size)) {
            memcpy(lw_pool + start - sizeof(size_t), &size, sizeof(size_t));
            memset(lw_pool + start, 0, size);
            return lw_pool + start;
        }
    }
}

size_t lw_pool_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(size_t));
    return n;
}
