/* Says what a non-heap handle refers to, for the samples of a dump, as values (lw_desc_t): read from /proc and the
 * handle itself at the time the dump is written. */
#include "internal.h"
#include "sys.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A bounded writer: everything past the capacity is dropped, the text stays terminated. */
typedef struct {
    char *p, *end;
} text_t;

#define TEXT(field) ((text_t){ (field), (field) + sizeof(field) - 1 })

static void put(text_t *t, const char *s)
{
    while (*s && t->p < t->end)
        *t->p++ = *s++;
    *t->p = '\0';
}

static void put_u(text_t *t, uint64_t v)
{
    char tmp[24];
    *lw_fmt_u64(tmp, v) = '\0';
    put(t, tmp);
}

static void put_hex(text_t *t, uint64_t v)
{
    char tmp[24];
    *lw_fmt_hex(tmp, v) = '\0';
    put(t, tmp);
}

/* The object behind descriptor fd as /proc names it: a path, pipe:[N], socket:[N], anon_inode:[eventfd]... */
static void put_fd_target(text_t *t, int fd)
{
    char link[64], target[256], *p = link;
    p += lw_strlcpy(p, "/proc/self/fd/", sizeof(link));
    p = lw_fmt_u64(p, (uint64_t)fd);
    *p = '\0';
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) {
        put(t, "(closed)");
        return;
    }
    target[n] = '\0';
    put(t, target);
}

static void put_addr(text_t *t, const struct sockaddr_storage *ss, socklen_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        put(t, inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)) ? ip : "?");
        put(t, ":");
        put_u(t, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        put(t, "[");
        put(t, inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) ? ip : "?");
        put(t, "]:");
        put_u(t, ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t plen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (plen == 0 || (un->sun_path[0] == '\0' && plen == 1)) {
            put(t, "(unnamed)");
        } else if (un->sun_path[0] == '\0') {
            /* an abstract name: shown with a leading @, as ss and netstat do */
            char name[sizeof(un->sun_path)];
            size_t k = plen - 1 < sizeof(name) - 1 ? plen - 1 : sizeof(name) - 1;
            memcpy(name, un->sun_path + 1, k);
            name[k] = '\0';
            put(t, "@");
            put(t, name);
        } else {
            char name[sizeof(un->sun_path) + 1];
            size_t k = plen < sizeof(un->sun_path) ? plen : sizeof(un->sun_path);
            memcpy(name, un->sun_path, k);
            name[k] = '\0';
            put(t, name);
        }
    } else {
        put(t, "?");
    }
}

static const char *family_name(int family)
{
    switch (family) {
    case AF_INET:
        return "AF_INET";
    case AF_INET6:
        return "AF_INET6";
    case AF_UNIX:
        return "AF_UNIX";
    case AF_NETLINK:
        return "AF_NETLINK";
    case AF_PACKET:
        return "AF_PACKET";
    }
    return NULL;
}

static const char *type_name(int type)
{
    switch (type) {
    case SOCK_STREAM:
        return "SOCK_STREAM";
    case SOCK_DGRAM:
        return "SOCK_DGRAM";
    case SOCK_SEQPACKET:
        return "SOCK_SEQPACKET";
    case SOCK_RAW:
        return "SOCK_RAW";
    }
    return NULL;
}

static void describe_socket_as(lw_desc_t *d, int fd, int local);

/* The dump thread has a descriptor table of its own: it asks a copy of the program's socket. */
static void describe_socket(lw_desc_t *d, int fd)
{
    int local = lw_sys_borrow_fd(fd);
    describe_socket_as(d, fd, local);
    lw_sys_unborrow_fd(local, fd);
}

/* fd is the program's number, local the calling thread's for the same socket. */
static void describe_socket_as(lw_desc_t *d, int fd, int local)
{
    int family = -1, type = -1, listening = 0;
    socklen_t ol = sizeof(int);
    if (getsockopt(local, SOL_SOCKET, SO_DOMAIN, &family, &ol) != 0) {
        text_t t = TEXT(d->target);
        put_fd_target(&t, fd); /* not a socket (any more): say what the number is now */
        return;
    }
    ol = sizeof(int);
    getsockopt(local, SOL_SOCKET, SO_TYPE, &type, &ol);
    ol = sizeof(int);
    getsockopt(local, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol);
    const char *f = family_name(family), *ty = type_name(type);
    text_t t = TEXT(d->family);
    if (f)
        put(&t, f);
    else
        put_u(&t, (uint64_t)family);
    t = TEXT(d->type);
    if (ty)
        put(&t, ty);
    else
        put_u(&t, (uint64_t)type);
    t = TEXT(d->listening);
    put(&t, listening ? "true" : "false");
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(local, (struct sockaddr *)&ss, &len) == 0) {
        t = TEXT(d->local);
        put_addr(&t, &ss, len);
    }
    len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(local, (struct sockaddr *)&ss, &len) == 0) {
        t = TEXT(d->peer);
        put_addr(&t, &ss, len);
    }
}

static const char *clock_name(int32_t clock)
{
    switch (clock) {
    case CLOCK_REALTIME:
        return "CLOCK_REALTIME";
    case CLOCK_MONOTONIC:
        return "CLOCK_MONOTONIC";
    case CLOCK_PROCESS_CPUTIME_ID:
        return "CLOCK_PROCESS_CPUTIME_ID";
    case CLOCK_THREAD_CPUTIME_ID:
        return "CLOCK_THREAD_CPUTIME_ID";
    case CLOCK_BOOTTIME:
        return "CLOCK_BOOTTIME";
    case CLOCK_REALTIME_ALARM:
        return "CLOCK_REALTIME_ALARM";
    case CLOCK_BOOTTIME_ALARM:
        return "CLOCK_BOOTTIME_ALARM";
    case CLOCK_TAI:
        return "CLOCK_TAI";
    }
    return NULL;
}

static const char *notify_name(unsigned notify)
{
    switch (notify) {
    case SIGEV_SIGNAL:
        return "SIGEV_SIGNAL";
    case SIGEV_NONE:
        return "SIGEV_NONE";
    case SIGEV_THREAD:
        return "SIGEV_THREAD";
    case SIGEV_THREAD_ID:
        return "SIGEV_THREAD_ID";
    }
    return NULL;
}

uint64_t lw_stream_fd(const lw_live_t *rec)
{
    /* fileno_unlocked reads the stream's field without taking its lock, which the program may hold */
    if (rec->flags & LW_FLAG_FILE)
        return (uint64_t)(fileno_unlocked((FILE *)rec->handle) + 1);
    if (rec->flags & LW_FLAG_DIR)
        return (uint64_t)(dirfd((DIR *)rec->handle) + 1);
    return rec->size;
}

void lw_describe(const lw_live_t *rec, lw_desc_t *d)
{
    memset(d, 0, sizeof(*d));
    text_t t;
    switch (rec->kind) {
    case LW_FD:
        if (rec->flags & (LW_FLAG_FILE | LW_FLAG_DIR)) {
            /* the stream's descriptor, read while its record was locked (see lw_stream_fd); the stream itself may
             * be closed and freed by now */
            int fd = (int)rec->size - 1;
            t = TEXT(d->stream);
            put(&t, (rec->flags & LW_FLAG_FILE) ? "FILE" : "DIR");
            if (fd >= 0) {
                t = TEXT(d->fd);
                put_u(&t, (uint64_t)fd);
                t = TEXT(d->target);
                put_fd_target(&t, fd);
            }
        } else {
            t = TEXT(d->target);
            put_fd_target(&t, (int)rec->handle);
        }
        break;
    case LW_SOCKET:
        describe_socket(d, (int)rec->handle);
        break;
    case LW_THREAD:
        t = TEXT(d->start);
        put_hex(&t, rec->size);
        t = TEXT(d->state);
        put(&t, (rec->flags & LW_FLAG_THREAD_DONE) ? "finished" : "running");
        break;
    case LW_TIMER: {
        int32_t clock = (int32_t)(uint32_t)(rec->size >> 8);
        unsigned notify = (unsigned)(rec->size & 0xff);
        const char *c = clock_name(clock), *n = notify_name(notify);
        t = TEXT(d->clock);
        if (c)
            put(&t, c);
        else if (clock < 0) {
            put(&t, "cpu-clock -");
            put_u(&t, (uint64_t)(-(int64_t)clock));
        } else
            put_u(&t, (uint64_t)clock);
        t = TEXT(d->notify);
        if (n)
            put(&t, n);
        else
            put_u(&t, notify);
        break;
    }
    case LW_MMAP:
        lw_mapping_describe(rec->handle, d);
        break;
    default:
        break;
    }
}
