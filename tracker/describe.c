/* Says what a non-heap handle refers to, for the samples of a dump: read from /proc and the handle itself at the
 * time the dump is written. */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void lw_describe(const lw_live_t *rec, char *buf, size_t cap)
{
    if (!cap)
        return;
    buf[0] = '\0';
    if (rec->kind == LW_FD || rec->kind == LW_SOCKET) {
        char link[64], *p = link;
        p += lw_strlcpy(p, "/proc/self/fd/", sizeof(link));
        p = lw_fmt_u64(p, rec->handle);
        *p = '\0';
        ssize_t n = readlink(link, buf, cap - 1);
        buf[n > 0 ? n : 0] = '\0';
    }
}
