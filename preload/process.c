/* The process's start and end, interposed: main's return value and exit()'s status reach the exit dump, and the
 * library's constructor and destructor hand over to the tracker. */
#include "real.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static lw_main_fn real_main;

static int main_wrapper(int argc, char **argv, char **envp)
{
    int status = real_main(argc, argv, envp);
    lw_note_exit(status);
    lw_note_exit_frame((uintptr_t)__builtin_frame_address(0));
    return status;
}

LW_EXPORT int __libc_start_main(lw_main_fn main_fn, int argc, char **argv, void (*init)(void), void (*fini)(void),
                                void (*rtld_fini)(void), void *stack_end)
{
    lw_resolve();
    real_main = main_fn;
    return lw_real.libc_start_main(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}

LW_EXPORT void exit(int status)
{
    lw_resolve();
    lw_note_exit(status);
    lw_note_exit_frame((uintptr_t)__builtin_frame_address(0));
    lw_real.exit(status);
}

LW_EXPORT void _exit(int status)
{
    lw_resolve();
    lw_note_exit_frame((uintptr_t)__builtin_frame_address(0));
    lw_on_quick_exit(status);
    lw_real._exit(status);
}

LW_EXPORT void _Exit(int status)
{
    lw_resolve();
    lw_note_exit_frame((uintptr_t)__builtin_frame_address(0));
    lw_on_quick_exit(status);
    lw_real._exit(status);
}

__attribute__((constructor)) static void lw_preload_start(void)
{
    /* before the tracker starts: loaded late, it rebinds the process's slots, and the dynamic linker's own
     * allocations (its error strings, say) would then resolve the real functions from inside the linker */
    lw_resolve();
    lw_on_load();
}

__attribute__((destructor)) static void lw_preload_end(void)
{
    lw_on_unload();
}
