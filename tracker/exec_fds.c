/* The descriptors a program passes to the program it executes become fd-into-exec warnings, written at once as
 * an exec dump; an exec that fails withdraws both. */
#include "internal.h"
#include "fd_list.h"
#include "markers.h"
#include "sys.h"
#include "warnings.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#define NO_MARK UINT_MAX
static char exec_dump[4096];

unsigned lw_on_exec_at(const char *what, int replaces, lw_origin_t origin)
{
    if (replaces)
        lw_marker_exec(what); /* safe in a vfork child too */
    if (!lw_fd_events_on() || getpid() != lw_pid)
        return NO_MARK; /* a vfork child shares our memory: it must not touch the tracker */
    lw_guard_t guard = lw_enter();
    unsigned mark = (unsigned)lw_warning_count();
    lw_fd_list_t c = lw_fd_list(3, INT_MAX, 1);
    uint32_t exec_site = c.n ? lw_stack_site(origin) : 0;
    size_t added = 0;
    for (size_t i = 0; i < c.n; i++) {
        const lw_fd_rec_t *r = &c.v[i];
        /* The flag says what the program asked for; F_GETFD says what is true now (ioctl FIOCLEX, or a
         * descriptor changed behind a FILE*). Both must agree that the descriptor is inherited. */
        if (!(r->flags & LW_FLAG_NO_CLOEXEC))
            continue;
        int fdflags = lw_sys_fcntl(r->fd, F_GETFD, 0);
        if (fdflags < 0 || (fdflags & FD_CLOEXEC))
            continue;
        lw_warning_t w = { .type = LW_W_FD_INTO_EXEC, .kind = r->kind, .fd = r->fd, .site = r->site,
                           .other_site = exec_site };
        char link[64], *p = link;
        p += lw_strlcpy(p, "/proc/self/fd/", sizeof(link));
        p = lw_fmt_u64(p, (uint64_t)r->fd);
        *p = '\0';
        ssize_t n = readlink(link, w.target, sizeof(w.target) - 1);
        w.target[n > 0 ? n : 0] = '\0';
        lw_strlcpy(w.program, what ? what : "?", sizeof(w.program));
        lw_warning_add(&w, 0);
        added++;
        /* no dump to carry it: the library's own line on stderr is all the user gets */
        if (replaces && !lw_config.dump_dir[0])
            lw_warn("%s %d%s%s%s has no close-on-exec and is inherited by %s", r->kind == LW_SOCKET ? "socket" :
                    "descriptor", r->fd, w.target[0] ? " (" : "", w.target, w.target[0] ? ")" : "", w.program);
    }
    lw_fd_list_free(&c);
    exec_dump[0] = '\0';
    if (added && replaces && lw_config.dump_dir[0]) {
        int err = lw_dump_next(lw_config.dump_dir, "exec", exec_dump, sizeof(exec_dump));
        if (err) {
            lw_warn("could not write the exec dump %s: errno %d", exec_dump, err);
            exec_dump[0] = '\0';
        }
    }
    lw_leave(guard);
    return mark;
}

unsigned lw_on_fexec_at(int fd, lw_origin_t origin)
{
    char what[32], *p = what;
    p += lw_strlcpy(p, "descriptor ", sizeof(what));
    p = lw_fmt_u64(p, fd < 0 ? 0u : (uint64_t)fd); /* no snprintf: this may run in a vfork child */
    *p = '\0';
    return lw_on_exec_at(what, 1, origin);
}

void lw_on_exec_failed(unsigned mark)
{
    lw_marker_exec_failed();
    if (mark == NO_MARK || getpid() != lw_pid)
        return;
    int saved = errno;
    lw_warnings_withdraw(mark, LW_W_FD_INTO_EXEC);
    if (exec_dump[0]) {
        unlink(exec_dump);
        exec_dump[0] = '\0';
    }
    errno = saved;
}
