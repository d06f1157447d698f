/* What the commands that act on a running process (`dump`, `attach`) read of it in /proc. */
#ifndef LWR_PROCINFO_H
#define LWR_PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

/* Reads /proc/<pid>/<what> into buf (NUL-terminated); returns the length or -1. */
ssize_t lwr_read_proc(long pid, const char *what, char *buf, size_t cap);

/* The value of NAME in the process's initial environment (/proc/PID/environ), copied into out; 0 or -1. */
int lwr_environ_value(long pid, const char *name, char *out, size_t cap);

/* The dump signal of a running dump thread of the process: a task named "leakwatch-sN", its thread id into *tid
 * (when tid is not NULL). 0 for a thread of interval dumps only, -1 when there is no such thread. */
int lwr_dump_thread_signal(long pid, long *tid);

/* The process's effective user and the pid it has in its innermost pid namespace (the one its dumps are named
 * by), from /proc/PID/status; 0, or -1 when there is no such process. A field the kernel does not give is -1,
 * the pid itself for nspid. */
int lwr_proc_ids(long pid, long *euid, long *nspid);

/* "/proc/PID/root" into buf when the process lives in another mount namespace (a container: its paths are seen
 * through its root), else "". */
void lwr_proc_root(long pid, char *buf, size_t cap);

/* Whether the process maps a file whose name holds `needle` (the library already loaded, say). */
int lwr_maps_contain(long pid, const char *needle);

#endif
