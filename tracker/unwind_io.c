/* Gives libunwind a memory validation that holds no descriptor: its imports of pipe2, read, close and syscall
 * are pointed at the functions below, which serve a pipe that exists only as two impossible numbers. */
#include "internal.h"
#include "arch.h"
#include "sys.h"

#include <dlfcn.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* libunwind (1.6, x86-64) checks that an address is readable before it reads there by writing one byte of it into
 * a pipe it opens in the process: write fails with EFAULT where memory is unreadable. That pipe sits in the
 * program's descriptor space (on 3 and 4 in a fresh process): a program that closes descriptors it did not open
 * closes it, libunwind re-creates it on a number the program then owns, reads from the program's file and writes
 * stray bytes into it. Here the pipe is two numbers no kernel hands out (descriptors stay below INT_MAX - 63),
 * a read from it finds it empty, and a write of one byte from `addr` succeeds exactly when the byte is readable. */
#define VPIPE_READ (INT_MAX - 1)
#define VPIPE_WRITE INT_MAX

static int is_vpipe(long fd)
{
    return fd == VPIPE_READ || fd == VPIPE_WRITE;
}

/* A private futex wait reads the
 * aligned word that holds it and fails with EFAULT where it cannot, and has no other effect (it returns at once
 * with EAGAIN when the word differs from the value given, or with ETIMEDOUT after a zero wait when it matches).
 * One system call, no pid and no permission needed, allowed by every filter that lets threads run. */
int lw_readable(const void *addr)
{
    const uint32_t *word = (const uint32_t *)((uintptr_t)addr & ~(uintptr_t)3);
    struct timespec zero = { 0, 0 };
    long r = lw_syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 0u, &zero, NULL, 0);
    return !(r < 0 && errno == EFAULT);
}

static int vpipe2(int fds[2], int flags)
{
    (void)flags;
    fds[0] = VPIPE_READ;
    fds[1] = VPIPE_WRITE;
    return 0;
}

static ssize_t vread(int fd, void *buf, size_t n)
{
    if (!is_vpipe(fd))
        return lw_syscall(SYS_read, fd, buf, n);
    errno = EAGAIN; /* empty, as a non-blocking pipe is */
    return -1;
}

static int vclose(int fd)
{
    if (is_vpipe(fd))
        return 0;
    return lw_sys_close(fd);
}

static long vsyscall(long nr, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (nr == SYS_write && is_vpipe(a[0])) {
        if (lw_readable((const void *)a[1]))
            return 1;
        errno = EFAULT;
        return -1;
    }
    return lw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

typedef struct {
    const char *name;
    void *fn;
} redirect_t;

/* Points every import slot of each red[].name in the object at red[].fn. Returns how many slots it could not
 * change. */
static int patch_slots(const struct dl_phdr_info *info, const redirect_t *red, size_t nred)
{
    const ElfW(Dyn) *dyn = NULL;
    uintptr_t relro_lo = 0, relro_hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type == PT_GNU_RELRO) {
            relro_lo = info->dlpi_addr + ph->p_vaddr;
            relro_hi = relro_lo + ph->p_memsz;
        }
    }
    if (!dyn)
        return 1;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const ElfW(Rela) *tables[2] = { NULL, NULL };
    size_t sizes[2] = { 0, 0 };
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)d->d_un.d_ptr; break;
        case DT_STRTAB: strtab = (const char *)d->d_un.d_ptr; break;
        case DT_JMPREL: tables[0] = (const ElfW(Rela) *)d->d_un.d_ptr; break;
        case DT_PLTRELSZ: sizes[0] = d->d_un.d_val; break;
        case DT_RELA: tables[1] = (const ElfW(Rela) *)d->d_un.d_ptr; break;
        case DT_RELASZ: sizes[1] = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!symtab || !strtab)
        return 1;
    long page = sysconf(_SC_PAGESIZE);
    int failed = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t k = 0; tables[t] && k < sizes[t] / sizeof(ElfW(Rela)); k++) {
            const ElfW(Rela) *r = &tables[t][k];
            unsigned type = LW_R_TYPE(r->r_info);
            if (type != LW_R_JUMP_SLOT && type != LW_R_GLOB_DAT)
                continue;
            const char *name = strtab + symtab[LW_R_SYM(r->r_info)].st_name;
            for (size_t j = 0; j < nred; j++) {
                if (strcmp(name, red[j].name) != 0)
                    continue;
                void **slot = (void **)(info->dlpi_addr + r->r_offset);
                uintptr_t at = (uintptr_t)slot;
                /* with full RELRO the slot is read-only once the loader is done: open it for the one store */
                int sealed = at >= relro_lo && at < relro_hi;
                void *pg = (void *)(at & ~(uintptr_t)(page - 1));
                if (sealed && mprotect(pg, (size_t)page, PROT_READ | PROT_WRITE) != 0) {
                    failed++;
                    continue;
                }
                __atomic_store_n(slot, red[j].fn, __ATOMIC_RELEASE);
                if (sealed)
                    mprotect(pg, (size_t)page, PROT_READ);
            }
        }
    }
    return failed;
}

typedef struct {
    uintptr_t base;
    int found, failed;
} find_t;

static int patch_unwinder(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    find_t *f = arg;
    if (info->dlpi_addr != f->base)
        return 0;
    static const char *names[] = { "pipe2", "read", "close", "syscall" };
    redirect_t red[4];
    void *fns[4];
    int (*p2)(int[2], int) = vpipe2;
    ssize_t (*rd)(int, void *, size_t) = vread;
    int (*cl)(int) = vclose;
    long (*sc)(long, ...) = vsyscall;
    memcpy(&fns[0], &p2, sizeof(void *)); /* POSIX: function and object pointers convert */
    memcpy(&fns[1], &rd, sizeof(void *));
    memcpy(&fns[2], &cl, sizeof(void *));
    memcpy(&fns[3], &sc, sizeof(void *));
    for (int i = 0; i < 4; i++)
        red[i] = (redirect_t){ names[i], fns[i] };
    f->found = 1;
    f->failed = patch_slots(info, red, 4);
    return 1;
}

/* libunwind's object, found by one of its functions: dladdr's answer for it, or 0 when there is none. */
static int unwinder_object(Dl_info *dli)
{
    int (*probe)(unw_cursor_t *, unw_context_t *) = unw_init_local;
    void *addr;
    memcpy(&addr, &probe, sizeof(addr));
    return dladdr(addr, dli) && dli->dli_fbase;
}

const char *lw_unwinder_path(void)
{
    Dl_info dli;
    return unwinder_object(&dli) ? dli.dli_fname : NULL;
}

int lw_unwinder_io_init(void)
{
    Dl_info dli;
    if (!unwinder_object(&dli))
        return -1;
    find_t f = { 0, 0, 0 };
    /* dladdr names the object by the address it is mapped at; dl_iterate_phdr by its load bias: for a shared
     * object whose first segment starts at address 0, as libunwind's does, the two are the same */
    f.base = (uintptr_t)dli.dli_fbase;
    dl_iterate_phdr(patch_unwinder, &f);
    return f.found && !f.failed ? 0 : -1;
}
