/* The interposition floor of `make bench`: a preload library whose malloc, free, calloc and realloc only call
 * glibc's own and count the bytes in a thread-local countdown, the one step sampling takes on an allocation it does
 * not record. A row run under it shows what interposing the malloc family costs before any tracking, the least any
 * preloaded tool pays on the same host. */
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *old, size_t size);
extern void __libc_free(void *p);

#define EXPORT __attribute__((visibility("default")))

static __thread long left = 512 * 1024;

static inline void count(size_t size)
{
    if ((left -= (long)size) <= 0)
        left += 512 * 1024;
}

EXPORT void *malloc(size_t size)
{
    void *p = __libc_malloc(size);
    count(size);
    return p;
}

EXPORT void free(void *p)
{
    __libc_free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    count(n * size);
    return p;
}

EXPORT void *realloc(void *old, size_t size)
{
    void *p = __libc_realloc(old, size);
    count(size);
    return p;
}
