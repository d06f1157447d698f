/* Work spread over the machine's cores: the dumps of a run are read and parsed side by side. */
#ifndef LWR_PARALLEL_H
#define LWR_PARALLEL_H

#include <stddef.h>

/* Calls fn(i, arg) once for every i in [0, n), on up to one thread per online CPU (at most 8), and returns when
 * every call has returned. A call must touch only what belongs to its own i (and thread-safe state). When no
 * thread can be started, the calling thread makes every call itself. */
void lwr_parallel_for(size_t n, void (*fn)(size_t i, void *arg), void *arg);

#endif
