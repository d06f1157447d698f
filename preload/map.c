/* The memory-mapping calls, interposed so that the tracker learns which mappings the program's allocator made (an
 * allocator other than glibc's, jemalloc say, maps its memory with these calls from its own code). */
#include "real.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* While lw_resolve runs on this thread the real functions may not be known yet: the system call does the same. */
static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long r = lw_syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return r == -1 ? MAP_FAILED : (void *)r;
}

static void *mapped(void *p, size_t len, uintptr_t caller)
{
    if (p != MAP_FAILED) {
        int saved = errno;
        lw_on_map(p, len, caller);
        errno = saved;
    }
    return p;
}

LW_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    lw_resolve(); /* not only lw_real.mmap: the allocator must be known before a mapping is attributed */
    void *p = lw_real.mmap ? lw_real.mmap(addr, len, prot, flags, fd, off) : sys_mmap(addr, len, prot, flags, fd, off);
    return mapped(p, len, caller);
}

LW_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    lw_resolve();
    void *p = lw_real.mmap64   ? lw_real.mmap64(addr, len, prot, flags, fd, off)
              : lw_real.mmap ? lw_real.mmap(addr, len, prot, flags, fd, off)
                             : sys_mmap(addr, len, prot, flags, fd, off);
    return mapped(p, len, caller);
}

LW_EXPORT int munmap(void *addr, size_t len)
{
    lw_resolve();
    int r = lw_real.munmap ? lw_real.munmap(addr, len) : (int)lw_syscall(SYS_munmap, addr, len);
    if (r == 0) {
        int saved = errno;
        lw_on_unmap(addr, len);
        errno = saved;
    }
    return r;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* mremap's fifth argument (the new address) is there only with MREMAP_FIXED; with MREMAP_DONTUNMAP the old
 * mapping stays. */
LW_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    lw_resolve();
    void *p;
    if (lw_real.mremap) {
        p = lw_real.mremap(old, old_len, new_len, flags, want);
    } else {
        long r = lw_syscall(SYS_mremap, old, old_len, new_len, flags, want);
        p = r == -1 ? MAP_FAILED : (void *)r;
    }
    if (p != MAP_FAILED) {
        int saved = errno;
        if (!(flags & MREMAP_DONTUNMAP))
            lw_on_unmap(old, old_len);
        lw_on_map(p, new_len, caller);
        errno = saved;
    }
    return p;
}
