/* leakwatch.h: what a program can tell leakwatch (`man leakwatch`, THE PROGRAM'S OWN CALLS). Include it and call
 * these anywhere: under LD_PRELOAD=libleakwatch.so they reach the library, and without it every call does nothing
 * (the first call of each looks the library's function up with dlsym and remembers the answer), so the program
 * needs no link dependency and runs unchanged without leakwatch. On glibc before 2.34, where dlsym lives in
 * libdl, link with -ldl. C and C++; each call is a macro. */
#ifndef LEAKWATCH_LEAKWATCH_H
#define LEAKWATCH_LEAKWATCH_H

#include <dlfcn.h>
#include <stddef.h>

#ifdef RTLD_DEFAULT
#define LEAKWATCH_SCOPE_ RTLD_DEFAULT
#else
#define LEAKWATCH_SCOPE_ ((void *)0) /* glibc's RTLD_DEFAULT, which <dlfcn.h> names only with _GNU_SOURCE */
#endif

/* Looked-up functions are kept as object pointers (what dlsym returns) and called through this union: ISO C has
 * no cast between object and function pointers. */
typedef union {
    void *p;
    void (*fn)(void);
} leakwatch_sym_;

#define LEAKWATCH_ABSENT_ ((void *)&leakwatch_absent_)
static const char leakwatch_absent_ __attribute__((unused)) = 0;

/* The library's function `name`, or LEAKWATCH_ABSENT_, remembered in *cache. Threads racing on the first call
 * store the same value. */
static __attribute__((noinline, unused)) void *leakwatch_lookup_(void **cache, const char *name)
{
    void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!p) {
        p = dlsym(LEAKWATCH_SCOPE_, name);
        if (!p)
            p = LEAKWATCH_ABSENT_;
        __atomic_store_n(cache, p, __ATOMIC_RELEASE);
    }
    return p;
}

/* Each call is a macro that calls the library's function through the pointer a getter returns (NULL without the
 * library): the call instruction is the caller's own, so the stack leakwatch records (leakwatch_alloc's) starts
 * in the caller and not in this header. The arguments are evaluated once, and not at all without the library. */
#define LEAKWATCH_GETTER_(name, ret, params)                                                                    \
    typedef ret(*name##_fn_) params;                                                                            \
    static inline __attribute__((unused)) name##_fn_ name##_get_(void)                                          \
    {                                                                                                           \
        static void *cache_;                                                                                    \
        leakwatch_sym_ s_;                                                                                      \
        s_.p = leakwatch_lookup_(&cache_, #name);                                                               \
        return s_.p == LEAKWATCH_ABSENT_ ? (name##_fn_)0 : (name##_fn_)s_.fn;                                   \
    }

/* Nonzero when the program runs under leakwatch. */
LEAKWATCH_GETTER_(leakwatch_running, int, (void))
#define leakwatch_running() (leakwatch_running_get_() ? leakwatch_running_get_()() : 0)

/* The heap block that starts at p is never freed on purpose: it is neither a leak nor a reachable block in any
 * report, and the blocks it points to are reachable through it (LeakSanitizer's __lsan_ignore_object). */
LEAKWATCH_GETTER_(leakwatch_ignore, void, (const void *p))
#define leakwatch_ignore(p) (leakwatch_ignore_get_() ? leakwatch_ignore_get_()((p)) : (void)0)

/* Between leakwatch_disable and leakwatch_enable, what the calling thread acquires (heap blocks, descriptors,
 * every kind) is never reported; releasing it later, inside the region or not, works as any release, and an
 * ignored block keeps what it points to reachable. Regions nest per thread (__lsan_disable, __lsan_enable). */
LEAKWATCH_GETTER_(leakwatch_disable, void, (void))
#define leakwatch_disable() (leakwatch_disable_get_() ? leakwatch_disable_get_()() : (void)0)
LEAKWATCH_GETTER_(leakwatch_enable, void, (void))
#define leakwatch_enable() (leakwatch_enable_get_() ? leakwatch_enable_get_()() : (void)0)

/* Writes a dump now, with reason "program: <reason>", where the exit dump goes (LEAKWATCH_DUMP_DIR, or a private
 * directory in $TMPDIR or /tmp). Returns 0 or an errno value; 0 without the library. */
LEAKWATCH_GETTER_(leakwatch_dump, int, (const char *reason))
#define leakwatch_dump(reason) (leakwatch_dump_get_() ? leakwatch_dump_get_()((reason)) : 0)

/* The number of leaks at this moment: heap blocks that are definite or indirect (a reachability scan of a copy
 * of the process, as at exit) and live handles of the other kinds but mmap, the ignored ones left out. A test calls it
 * after each case (__lsan_do_recoverable_leak_check). 0 without the library. */
LEAKWATCH_GETTER_(leakwatch_check, int, (void))
#define leakwatch_check() (leakwatch_check_get_() ? leakwatch_check_get_()() : 0)

/* [begin, begin + size) holds pointers the scan would not read (a shared mapping, memory of a foreign runtime):
 * the blocks they point to are reachable. Unregister with the same begin and size (LeakSanitizer's root
 * regions). */
LEAKWATCH_GETTER_(leakwatch_register_root, void, (const void *begin, size_t size))
#define leakwatch_register_root(begin, size) \
    (leakwatch_register_root_get_() ? leakwatch_register_root_get_()((begin), (size)) : (void)0)
LEAKWATCH_GETTER_(leakwatch_unregister_root, void, (const void *begin, size_t size))
#define leakwatch_unregister_root(begin, size) \
    (leakwatch_unregister_root_get_() ? leakwatch_unregister_root_get_()((begin), (size)) : (void)0)

/* Custom allocators (valgrind's MALLOCLIKE, FREELIKE and mempool requests). `pool` is any address that names the
 * pool. leakwatch_alloc makes the object [p, p + size) a heap block of its own, recorded with the stack of this
 * call, reported by that call site and classified by the scan; the pool's own memory (a block it took from
 * malloc, a mapping) is then neither reported nor a root. leakwatch_free forgets one object, and
 * leakwatch_pool_destroy every object of the pool: call it before the pool's memory is freed or unmapped. */
LEAKWATCH_GETTER_(leakwatch_alloc, void, (const void *pool, const void *p, size_t size))
#define leakwatch_alloc(pool, p, size) \
    (leakwatch_alloc_get_() ? leakwatch_alloc_get_()((pool), (p), (size)) : (void)0)
LEAKWATCH_GETTER_(leakwatch_free, void, (const void *pool, const void *p))
#define leakwatch_free(pool, p) (leakwatch_free_get_() ? leakwatch_free_get_()((pool), (p)) : (void)0)
LEAKWATCH_GETTER_(leakwatch_pool_destroy, void, (const void *pool))
#define leakwatch_pool_destroy(pool) \
    (leakwatch_pool_destroy_get_() ? leakwatch_pool_destroy_get_()((pool)) : (void)0)

#ifdef __cplusplus
namespace leakwatch {
/* A disabled region for the lifetime of the object: { leakwatch::scoped_disable off; ... } */
class scoped_disable {
public:
    scoped_disable() { leakwatch_disable(); }
    ~scoped_disable() { leakwatch_enable(); }
    scoped_disable(const scoped_disable &) = delete;
    scoped_disable &operator=(const scoped_disable &) = delete;
};
} // namespace leakwatch
#endif

#endif
