/* The real functions behind the interposed symbols, resolved in one place (resolve.c) on first use. */
#ifndef LW_REAL_H
#define LW_REAL_H

#include "leakwatch.h"

#include <stddef.h>
#include <sys/types.h>

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
} lw_real_t;

extern lw_real_t lw_real;

/* Resolves every real symbol. Thread-safe; a required symbol that is missing ends the process with a message,
 * since the program could not run correctly without it. */
void lw_resolve(void);

/* Nonzero while the calling thread is inside lw_resolve: dlsym may allocate, and those calls are served from a
 * static pool because the real allocator is not known yet. */
int lw_resolving(void);

/* The static pool. lw_pool_owns tells free and realloc that a pointer is not the real allocator's. */
void *lw_pool_alloc(size_t size, size_t align);
int lw_pool_owns(const void *p);
size_t lw_pool_size(const void *p);

#endif
