/* Resolves the real functions behind every interposed symbol, once, and serves the allocations that dlsym makes
 * while it is doing so from a static pool. */
#include "real.h"

#include <dlfcn.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

lw_real_t lw_real;

typedef struct {
    const char *name;
    const char *version; /* for dlvsym where glibc versions the symbol, else NULL */
    int required;
    void **slot;
} lw_sym_t;

#define SYM(field, name, req) { name, NULL, req, (void **)&lw_real.field }

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
    _exit(127);
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
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        const lw_sym_t *s = &symbols[i];
        void *p = s->version ? dlvsym(RTLD_NEXT, s->name, s->version) : dlsym(RTLD_NEXT, s->name);
        if (!p && s->required)
            die(s->name);
        *s->slot = p;
    }
    resolving = 0;
    atomic_store(&state, 2);
}

/* ---- the static pool ----------------------------------------------------------------------------------- */

/* dlsym allocates a little (its error buffer) with calloc before malloc is known. Blocks carry their size in a
 * 16-byte header; they are never freed. */
#define LW_POOL_SIZE (64 * 1024)
static _Alignas(64) unsigned char pool[LW_POOL_SIZE];
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
            memcpy(pool + start - sizeof(size_t), &size, sizeof(size_t));
            memset(pool + start, 0, size);
            return pool + start;
        }
    }
}

int lw_pool_owns(const void *p)
{
    return (const unsigned char *)p >= pool && (const unsigned char *)p < pool + LW_POOL_SIZE;
}

size_t lw_pool_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(size_t));
    return n;
}
