/* Loaded late into a running process (`leakwatch attach`, through the debugger's dlopen): the calls the process's
 * modules already bound to libc are rebound to the library's wrappers, by rewriting the GOT slots their
 * relocations name, so that tracking starts from that moment. What was allocated before is not known: a release
 * of such a handle finds no record and is no error. */
#include "internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

uint64_t lw_attached_unix_ms;

static int attached; /* set for good once bound: the settings leave the environment right after the load */

int lw_attaching(void)
{
    if (attached)
        return 1;
    const char *v = getenv("LEAKWATCH_ATTACH");
    return v && *v;
}

/* Calls that stay bound where they are: the process is past its start, and the programs an attached process
 * runs or spawns are not traced (nothing preloads the library into them). */
static const char *const unbound[] = { "__libc_start_main", "execve", "execv", "execvp", "execvpe", "execl",
                                       "execlp", "execle", "fexecve", "posix_spawn", "posix_spawnp" };

typedef struct {
    void *self;            /* this library's handle */
    const char *self_path; /* and its file, whose own slots stay as they are */
    const char *unwinder;  /* libunwind's file: its slots are the tracker's too (unwind_io.c set some), or NULL */
    size_t patched;
} bind_arg_t;

/* The wrapper this library exports as `name`, or NULL when it exports none (dlsym on the library's handle would
 * also find what its dependencies define: the address must lie in this library). */
static void *wrapper_for(bind_arg_t *a, const char *name)
{
    for (size_t i = 0; i < sizeof(unbound) / sizeof(unbound[0]); i++)
        if (strcmp(name, unbound[i]) == 0)
            return NULL;
    void *p = dlsym(a->self, name);
    Dl_info info;
    if (!p || !dladdr(p, &info) || !info.dli_fname || strcmp(info.dli_fname, a->self_path) != 0)
        return NULL;
    return p;
}

int lw_defined_at(const void *p, const char *object)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym || info.dli_saddr != p)
        return 0;
    /* dladdr also names an undefined symbol whose value is a PLT entry */
    return sym->st_shndx != SHN_UNDEF && (!object || (info.dli_fname && strcmp(info.dli_fname, object) == 0));
}

/* Writes value into the GOT slot at addr. The dynamic linker made the whole pages of the RELRO range read-only
 * after relocation (its last partial page stays writable: it holds the lazily bound .got.plt): a slot on such a
 * page is made writable for the write, that one page only, and read-only again. */
static void write_slot(uintptr_t addr, void *value, uintptr_t relro_lo, uintptr_t relro_hi)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = addr & ~(page - 1);
    int ro = addr >= relro_lo && addr < (relro_hi & ~(page - 1));
    if (ro && mprotect((void *)lo, page, PROT_READ | PROT_WRITE) != 0)
        return;
    __atomic_store_n((void **)addr, value, __ATOMIC_RELEASE); /* another thread may call through it meanwhile */
    if (ro)
        mprotect((void *)lo, page, PROT_READ);
}

/* A dynamic entry's address: glibc relocates them in place when it loads an object, the vDSO's are offsets. */
static uintptr_t dyn_addr(uintptr_t base, uintptr_t v)
{
    return v < base ? v + base : v;
}

static void bind_relocs(bind_arg_t *a, uintptr_t base, const ElfW(Rela) *rel, size_t n, const ElfW(Sym) *syms,
                        const char *strs, uintptr_t relro_lo, uintptr_t relro_hi)
{
    for (size_t i = 0; i < n; i++) {
        unsigned long type = ELF64_R_TYPE(rel[i].r_info), sym = ELF64_R_SYM(rel[i].r_info);
        if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || sym == 0)
            continue;
        const char *name = strs + syms[sym].st_name;
        void *w = name[0] ? wrapper_for(a, name) : NULL;
        if (!w)
            continue;
        /* A data slot holds the function's address as the module sees it: rebound only when it holds the
         * definition. A null slot is an undefined weak reference (the program tests it), and a slot holding a
         * non-PIE executable's PLT entry holds what the executable calls the function (its code compares
         * against it): the calls through that entry reach the wrapper once its own slot is rebound. */
        if (type == R_X86_64_GLOB_DAT) {
            void *now = __atomic_load_n((void **)(base + rel[i].r_offset), __ATOMIC_RELAXED);
            if (!now || !lw_defined_at(now, NULL))
                continue;
        }
        write_slot(base + rel[i].r_offset, w, relro_lo, relro_hi);
        a->patched++;
    }
}

static int bind_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    bind_arg_t *a = arg;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (strcmp(name, a->self_path) == 0 || (a->unwinder && strcmp(name, a->unwinder) == 0) ||
        strstr(name, "ld-linux") || strstr(name, "linux-vdso"))
        return 0; /* our own calls and libunwind's (bound to its validation), the dynamic linker's, the kernel's */
    uintptr_t base = info->dlpi_addr, relro_lo = 0, relro_hi = 0;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
        else if (ph->p_type == PT_GNU_RELRO) {
            relro_lo = base + ph->p_vaddr;
            relro_hi = relro_lo + ph->p_memsz;
        }
    }
    if (!dyn)
        return 0;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmpsz = 0, relasz = 0;
    const ElfW(Sym) *syms = NULL;
    const char *strs = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_addr(base, dyn->d_un.d_ptr); break;
        case DT_PLTRELSZ: jmpsz = dyn->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn_addr(base, dyn->d_un.d_ptr); break;
        case DT_RELASZ: relasz = dyn->d_un.d_val; break;
        case DT_SYMTAB: syms = (const ElfW(Sym) *)dyn_addr(base, dyn->d_un.d_ptr); break;
        case DT_STRTAB: strs = (const char *)dyn_addr(base, dyn->d_un.d_ptr); break;
        default: break;
        }
    }
    if (!syms || !strs)
        return 0;
    if (jmprel)
        bind_relocs(a, base, jmprel, jmpsz / sizeof(ElfW(Rela)), syms, strs, relro_lo, relro_hi);
    if (rela)
        bind_relocs(a, base, rela, relasz / sizeof(ElfW(Rela)), syms, strs, relro_lo, relro_hi);
    return 0;
}

void lw_attach_bind(void)
{
    if (!lw_attaching() || lw_attached_unix_ms)
        return;
    lw_guard_t guard = lw_enter();
    attached = 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lw_attached_unix_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    Dl_info info;
    bind_arg_t a = { NULL, NULL, lw_unwinder_path(), 0 };
    if (dladdr(&lw_attached_unix_ms, &info) && info.dli_fname) {
        a.self_path = info.dli_fname;
        a.self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    }
    if (!a.self) {
        lw_warn("attached, but cannot find the library's own handle: nothing is tracked");
        lw_leave(guard);
        return;
    }
    dl_iterate_phdr(bind_module, &a);
    if (!a.patched)
        lw_warn("attached, but no module of the process calls what leakwatch tracks through the dynamic linker "
                "(a static binary?): nothing is tracked");
    dlclose(a.self); /* the RTLD_NOLOAD reference only; the library stays (nodelete) */
    lw_leave(guard);
}
