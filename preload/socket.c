/* The socket family, interposed: socket, socketpair, accept and accept4, and descriptors passed in with
 * SCM_RIGHTS, each recorded as a socket-kind handle (a passed descriptor as what it refers to). */
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Records socket descriptor fd (the tracker leaves out the standard streams 0-2). */
static void made(lw_kind_t kind, int fd, int cloexec, lw_origin_t origin)
{
    lw_on_acquire_at(kind, (uintptr_t)fd, 0, origin);
    if (!cloexec)
        lw_set_flags(kind, (uintptr_t)fd, LW_FLAG_NO_CLOEXEC, 1);
}

LW_EXPORT int socket(int domain, int type, int protocol)
{
    LW_ENSURE_REAL(socket);
    int fd = lw_real.socket(domain, type, protocol);
    if (fd >= 0)
        made(LW_SOCKET, fd, type & SOCK_CLOEXEC, LW_HERE());
    return fd;
}

LW_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    LW_ENSURE_REAL(socket);
    if (!lw_real.socketpair) {
        errno = ENOSYS;
        return -1;
    }
    int r = lw_real.socketpair(domain, type, protocol, sv);
    if (r == 0) {
        lw_origin_t origin = LW_HERE();
        made(LW_SOCKET, sv[0], type & SOCK_CLOEXEC, origin);
        made(LW_SOCKET, sv[1], type & SOCK_CLOEXEC, origin);
    }
    return r;
}

/* __SOCKADDR_ARG is the transparent union glibc declares accept with; any sockaddr pointer converts to it. */
LW_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
    LW_ENSURE_REAL(accept);
    int s = lw_real.accept(fd, addr, len);
    if (s >= 0)
        made(LW_SOCKET, s, 0, LW_HERE());
    return s;
}

LW_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
    LW_ENSURE_REAL(accept);
    if (!lw_real.accept4) {
        errno = ENOSYS;
        return -1;
    }
    int s = lw_real.accept4(fd, addr, len, flags);
    if (s >= 0)
        made(LW_SOCKET, s, flags & SOCK_CLOEXEC, LW_HERE());
    return s;
}

/* A received message may carry descriptors (SCM_RIGHTS): each is new in this process. A control buffer the
 * kernel had to cut (MSG_CTRUNC) still holds whole descriptors up to the cut, and the kernel closed the rest. */
static void received(const struct msghdr *msg, int flags, lw_origin_t origin)
{
    if (!msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
        return;
    int saved = errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int)); /* CMSG_DATA need not be aligned for int */
            struct stat st;
            lw_kind_t kind = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? LW_SOCKET : LW_FD;
            made(kind, fd, flags & MSG_CMSG_CLOEXEC, origin);
        }
    }
    errno = saved;
}

LW_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    LW_ENSURE_REAL(recvmsg);
    ssize_t r = lw_real.recvmsg(fd, msg, flags);
    if (r >= 0 && msg && (lw_tracking(LW_FD) || lw_tracking(LW_SOCKET)))
        received(msg, flags, LW_HERE());
    return r;
}
