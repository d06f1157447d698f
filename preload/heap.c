/* The malloc family, interposed: each wrapper resolves the real function, calls it, and tells the tracker, but
 * for the blocks that sampling passes over (lw_on_alloc, lw_heap_unrecorded), which cost no call into it. */
#include "real.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* While dlsym runs inside lw_resolve the real allocator is unknown; its allocations come from the pool. */
#define POOL_IF_RESOLVING(size, align)                                                                          \
    do {                                                                                                        \
        if (LW_UNLIKELY_P(lw_resolving()))                                                                      \
            return lw_pool_alloc((size), (align));                                                              \
    } while (0)

LW_EXPORT void *malloc(size_t size)
{
    if (LW_UNLIKELY_P(!lw_real.malloc)) {
        POOL_IF_RESOLVING(size, 16);
        lw_resolve();
    }
    void *p = lw_real.malloc(size);
    if (p)
        lw_on_alloc(p, size);
    return p;
}

/* free's way through the tracker, apart so that the free of a block sampling passed over saves no register. */
static __attribute__((noinline)) void free_tracked(void *p)
{
    LW_ENSURE_REAL(free);
    if (lw_on_free(p, lw_real.free) != LW_FREE_KEPT)
        lw_real.free(p);
}

LW_EXPORT void free(void *p)
{
    if (!p || lw_pool_owns(p))
        return;
    if (lw_real.free && lw_heap_unrecorded(p))
        lw_real.free(p);
    else
        free_tracked(p);
}

LW_EXPORT void *calloc(size_t n, size_t size)
{
    if (LW_UNLIKELY_P(!lw_real.calloc)) {
        size_t total;
        if (__builtin_mul_overflow(n, size, &total))
            total = SIZE_MAX;
        POOL_IF_RESOLVING(total, 16);
        lw_resolve();
    }
    void *p = lw_real.calloc(n, size);
    if (p)
        lw_on_alloc(p, n * size);
    return p;
}

/* realloc from inside the tracker (a signal handler that interrupted it) of a block that may have a record: that
 * record may be locked, and glibc's realloc would free the block while the record stays, a leak at exit. So the
 * block moves by hand: a new block, a copy, and the old one freed the way free does it (put off until the
 * interrupted call is done when its record is locked). The caller makes sure malloc_usable_size is there. */
static void *move_inside_tracker(void *old, size_t size)
{
    void *p = size ? lw_real.malloc(size) : NULL;
    if (!p && size)
        return NULL; /* old stays as it was */
    if (p) {
        size_t have = lw_real.malloc_usable_size(old);
        memcpy(p, old, have < size ? have : size);
    }
    free_tracked(old); /* realloc(p, 0) frees p and returns NULL */
    return p;
}

/* realloc of old to size, for realloc and reallocarray. A pool block moves to the real heap. Otherwise the record
 * is taken out before the real call (if the block moves, another thread may be handed the old address at once)
 * and put back unchanged if the call fails, since the old block then stays live. realloc(p, 0) frees p and
 * returns NULL: not a failure. Inline in each wrapper, whose caller the new block's stack starts from. */
static inline __attribute__((always_inline)) void *resize(void *old, size_t size)
{
    void *p;
    if (old && lw_pool_owns(old)) {
        size_t have = lw_pool_size(old);
        p = lw_real.malloc(size);
        if (p)
            memcpy(p, old, have < size ? have : size);
    } else if (lw_heap_unrecorded(old)) {
        p = lw_real.realloc(old, size); /* an unsampled block: no record to take out or put back */
    } else if (LW_UNLIKELY_P(lw_in_tracker()) && old && lw_real.malloc_usable_size) {
        p = move_inside_tracker(old, size);
    } else {
        lw_release_t t;
        lw_release_begin(&t, LW_HEAP, (uintptr_t)old);
        p = lw_real.realloc(old, size);
        lw_release_end(&t, p || (old && size == 0));
    }
    if (p)
        lw_on_alloc(p, size);
    return p;
}

LW_EXPORT void *realloc(void *old, size_t size)
{
    if (LW_UNLIKELY_P(!lw_real.realloc)) {
        POOL_IF_RESOLVING(size, 16);
        lw_resolve();
    }
    return resize(old, size);
}

LW_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    LW_ENSURE_REAL(realloc);
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return resize(old, total);
}

LW_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    LW_ENSURE_REAL(posix_memalign);
    int r = lw_real.posix_memalign(out, align, size);
    if (r == 0 && *out)
        lw_on_alloc(*out, size);
    return r;
}

/* The aligned allocators that glibc may lack fall back on posix_memalign, with the same contract. */
static void *aligned_via_posix(size_t align, size_t size)
{
    void *p = NULL;
    int r = lw_real.posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size);
    if (r) {
        errno = r;
        return NULL;
    }
    return p;
}

LW_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    LW_ENSURE_REAL(posix_memalign);
    void *p = lw_real.aligned_alloc ? lw_real.aligned_alloc(align, size) : aligned_via_posix(align, size);
    if (p)
        lw_on_alloc(p, size);
    return p;
}

LW_EXPORT void *memalign(size_t align, size_t size)
{
    LW_ENSURE_REAL(posix_memalign);
    void *p = lw_real.memalign ? lw_real.memalign(align, size) : aligned_via_posix(align, size);
    if (p)
        lw_on_alloc(p, size);
    return p;
}

LW_EXPORT void *valloc(size_t size)
{
    LW_ENSURE_REAL(posix_memalign);
    void *p = lw_real.valloc ? lw_real.valloc(size) : aligned_via_posix(4096, size);
    if (p)
        lw_on_alloc(p, size);
    return p;
}

LW_EXPORT void *pvalloc(size_t size)
{
    LW_ENSURE_REAL(posix_memalign);
    void *p = lw_real.pvalloc ? lw_real.pvalloc(size) : aligned_via_posix(4096, (size + 4095) & ~(size_t)4095);
    if (p)
        lw_on_alloc(p, size);
    return p;
}

LW_EXPORT size_t malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (lw_pool_owns(p))
        return lw_pool_size(p);
    LW_ENSURE_REAL(malloc);
    return lw_real.malloc_usable_size ? lw_real.malloc_usable_size(p) : 0;
}
