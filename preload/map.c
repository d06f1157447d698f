/* The memory-mapping and shared-memory calls, interposed so that the tracker learns the mappings and shared-memory
 * objects the program makes (the mmap kind) and which mappings the program's allocator made (an allocator other
 * than glibc's, jemalloc say, maps its memory with these calls from its own code). */
#include "real.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

/* While lw_resolve runs on this thread the real functions may not be known yet: the system call does the same. */
static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    long r = lw_syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return r == -1 ? MAP_FAILED : (void *)r;
}


LW_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    lw_resolve(); /* not only lw_real.mmap: the allocator must be known before a mapping is attributed */
    uint64_t before = lw_maps_seq();
    void *p = lw_real.mmap ? lw_real.mmap(addr, len, prot, flags, fd, off) : sys_mmap(addr, len, prot, flags, fd, off);
    lw_on_map_at(p, len, prot, flags, fd, before, LW_HERE());
    return p;
}

LW_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    lw_resolve();
    uint64_t before = lw_maps_seq();
    void *p = lw_real.mmap64   ? lw_real.mmap64(addr, len, prot, flags, fd, off)
              : lw_real.mmap ? lw_real.mmap(addr, len, prot, flags, fd, off)
                             : sys_mmap(addr, len, prot, flags, fd, off);
    lw_on_map_at(p, len, prot, flags, fd, before, LW_HERE());
    return p;
}

LW_EXPORT int munmap(void *addr, size_t len)
{
    lw_resolve();
    uint64_t before = lw_maps_seq();
    int r = lw_real.munmap ? lw_real.munmap(addr, len) : (int)lw_syscall(SYS_munmap, addr, len);
    if (r == 0) {
        int saved = errno;
        lw_on_unmap(addr, len, before);
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
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    lw_resolve();
    uint64_t before = lw_maps_seq();
    void *p;
    if (lw_real.mremap) {
        p = lw_real.mremap(old, old_len, new_len, flags, want);
    } else {
        long r = lw_syscall(SYS_mremap, old, old_len, new_len, flags, want);
        p = r == -1 ? MAP_FAILED : (void *)r;
    }
    lw_on_remap_at(old, old_len, p, new_len, flags, before, LW_HERE());
    return p;
}

LW_EXPORT int shm_unlink(const char *name)
{
    lw_resolve();
    if (!lw_real.shm_unlink) {
        errno = ENOSYS;
        return -1;
    }
    int r = lw_real.shm_unlink(name);
    if (r == 0)
        lw_on_shm_unlink(name);
    return r;
}

/* System V shared memory: glibc's functions are thin system calls, resolved all the same. */
LW_EXPORT int shmget(key_t key, size_t size, int shmflg)
{
    lw_resolve();
    int creates = lw_shmget_creates(key, shmflg);
    int id = lw_real.shmget ? lw_real.shmget(key, size, shmflg) : (int)lw_syscall(SYS_shmget, key, size, shmflg);
    lw_on_shmget_at(id, key, size, creates, LW_HERE());
    return id;
}

LW_EXPORT void *shmat(int shmid, const void *addr, int shmflg)
{
    lw_resolve();
    void *p;
    if (lw_real.shmat) {
        p = lw_real.shmat(shmid, addr, shmflg);
    } else {
        long r = lw_syscall(SYS_shmat, shmid, addr, shmflg);
        p = r == -1 ? (void *)-1 : (void *)r;
    }
    lw_on_shmat_at(p, shmid, shmflg, LW_HERE());
    return p;
}

LW_EXPORT int shmdt(const void *addr)
{
    lw_resolve();
    int r = lw_real.shmdt ? lw_real.shmdt(addr) : (int)lw_syscall(SYS_shmdt, addr);
    if (r == 0)
        lw_on_shmdt(addr);
    return r;
}

LW_EXPORT int shmctl(int shmid, int cmd, struct shmid_ds *buf)
{
    lw_resolve();
    int r = lw_real.shmctl ? lw_real.shmctl(shmid, cmd, buf) : (int)lw_syscall(SYS_shmctl, shmid, cmd, buf);
    if (r == 0 && cmd == IPC_RMID)
        lw_on_shm_rmid(shmid);
    return r;
}
