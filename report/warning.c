/* Writes the sentences of the close and exec warnings from a dump's values: the library records what happened,
 * the report says it. */
#include "warning.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* printf into a malloc'd string; NULL with *oom set when out of memory. */
static char *format(int *oom, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *format(int *oom, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *lwr_warning_sentence(const lwr_warning_values_t *v, int *oom)
{
    const char *fd = v->handle ? v->handle : "?";
    if (!v->type)
        return NULL;
    if (strcmp(v->type, "bad-close") == 0)
        return format(oom, "close(%s): the descriptor was open once but is not open now (closed behind "
                           "leakwatch's back)", fd);
    if (strcmp(v->type, "double-close") == 0)
        return format(oom, "close(%s): the descriptor was already closed (other_frames: the earlier close)", fd);
    if (strcmp(v->type, "fd-into-exec") == 0) {
        const char *what = v->kind && strcmp(v->kind, "socket") == 0 ? "socket" : "descriptor";
        const char *prog = v->program ? v->program : "?";
        if (v->target && v->target[0])
            return format(oom, "%s %s (%s) has no close-on-exec and is inherited by %s", what, fd, v->target, prog);
        return format(oom, "%s %s has no close-on-exec and is inherited by %s", what, fd, prog);
    }
    return NULL;
}
