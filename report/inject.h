/* Function calls inside another process through ptrace, for `leakwatch attach` (inject.c). */
#ifndef LWR_INJECT_H
#define LWR_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct lwr_inject lwr_inject_t;

/* Stops process pid (its main thread) for calls. The process must use this machine's C library, the one this
 * program runs on. Returns 0 with *out set, or -1 with the reason in err. */
int lwr_inject_begin(pid_t pid, lwr_inject_t **out, char *err, size_t errlen);

/* The address of the C library's function `name` in the stopped process, 0 when unknown. */
uintptr_t lwr_inject_libc(const lwr_inject_t *in, const char *name);

/* Calls fn(args...) in the stopped process with up to 6 arguments: argument i is strings[i] copied into the
 * process (when strings and strings[i] are not NULL), else ints[i]. Returns 0 with the return value in *result,
 * or an errno value. */
int lwr_inject_call(lwr_inject_t *in, uintptr_t fn, const char *const *strings, const uintptr_t *ints, int nargs,
                    uintptr_t *result);

/* Puts the thread's registers back and lets the process go on. Frees in. Returns 0 or an errno value. */
int lwr_inject_end(lwr_inject_t *in);

#endif
