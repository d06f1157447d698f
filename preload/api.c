/* The calls of include/leakwatch/leakwatch.h, exported under their own names and under LeakSanitizer's
 * (sanitizer/lsan_interface.h), so that code written for either reaches the tracker unchanged. */
#include "real.h"

#include <stdatomic.h>
#include <stddef.h>

LW_EXPORT int leakwatch_running(void)
{
    return 1;
}

LW_EXPORT void leakwatch_ignore(const void *p)
{
    lw_api_ignore(p);
}

LW_EXPORT void leakwatch_disable(void)
{
    lw_api_disable(1);
}

LW_EXPORT void leakwatch_enable(void)
{
    lw_api_disable(0);
}

LW_EXPORT int leakwatch_dump(const char *reason)
{
    return lw_api_dump(reason);
}

/* The caller's stack is live from this frame up. __builtin_unwind_init spills every callee-saved register into
 * it, above `mark`, so that a pointer the caller keeps in one is seen; the frames below `mark` are the tracker's,
 * laid over dead frames of the program's earlier calls, whose stale pointers must not count. */
LW_EXPORT int leakwatch_check(void)
{
    __builtin_unwind_init();
    volatile char mark = 0;
    int n = lw_api_check((uintptr_t)&mark);
    __asm__ volatile("" ::: "memory"); /* no tail call: this frame must stay while the scan runs */
    return n;
}

LW_EXPORT void leakwatch_register_root(const void *begin, size_t size)
{
    lw_api_root(begin, size, 1);
}

LW_EXPORT void leakwatch_unregister_root(const void *begin, size_t size)
{
    lw_api_root(begin, size, 0);
}

LW_EXPORT void leakwatch_alloc(const void *pool, const void *p, size_t size)
{
    lw_api_pool_alloc(pool, p, size, LW_HERE());
}

LW_EXPORT void leakwatch_free(const void *pool, const void *p)
{
    lw_api_pool_free(pool, p);
}

LW_EXPORT void leakwatch_pool_destroy(const void *pool)
{
    lw_api_pool_destroy(pool);
}

/* LeakSanitizer's names. __lsan_do_recoverable_leak_check returns nonzero when there are leaks, as the count
 * does. __lsan_do_leak_check writes one dump, the first time only (LeakSanitizer checks once, then ends the
 * process when it found leaks; here the process goes on, and its exit dump is the one that gates). */
LW_EXPORT void __lsan_ignore_object(const void *p) __attribute__((alias("leakwatch_ignore")));
LW_EXPORT void __lsan_disable(void) __attribute__((alias("leakwatch_disable")));
LW_EXPORT void __lsan_enable(void) __attribute__((alias("leakwatch_enable")));
LW_EXPORT int __lsan_do_recoverable_leak_check(void) __attribute__((alias("leakwatch_check")));
LW_EXPORT void __lsan_register_root_region(const void *p, size_t size) __attribute__((alias("leakwatch_register_root")));
LW_EXPORT void __lsan_unregister_root_region(const void *p, size_t size)
    __attribute__((alias("leakwatch_unregister_root")));

LW_EXPORT void __lsan_do_leak_check(void)
{
    static atomic_int done;
    if (!atomic_exchange(&done, 1))
        lw_api_dump("__lsan_do_leak_check");
}
