/* Small pieces every tracker file uses: the lock, the warning writer, number formatting and the clock. */
#include "internal.h"
#include "arch.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

LW_TLS uintptr_t lw_taking;
LW_TLS int lw_locks_held;

/* While it waits the thread does not hold l, and l is not counted (lw_locks_held): a signal handler that
 * interrupts the wait finds only the locks this thread held before it called lw_lock, and when there are none it
 * may take l itself, which the other thread lets go. It is counted again before each exchange that may take it. */
void lw_lock_wait(lw_lock_t *l)
{
    for (;;) {
        atomic_signal_fence(memory_order_seq_cst);
        lw_locks_held--;
        atomic_signal_fence(memory_order_seq_cst);
        for (int spin = 0; atomic_load_explicit(&l->held, memory_order_relaxed); spin++) {
            if (spin < 64)
                LW_CPU_RELAX();
            else
                sched_yield();
        }
        lw_locks_held++;
        atomic_signal_fence(memory_order_seq_cst);
        if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
            return;
    }
}

void lw_lock_thread_came(lw_lock_t *l)
{
    /* no handler takes it for this thread now: the process has threads */
    if (lw_taking != ((uintptr_t)l | 1) && atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
        lw_lock_wait(l);
    lw_taking = 0;
    atomic_signal_fence(memory_order_seq_cst);
}

void lw_thread_coming(void)
{
    uintptr_t l = lw_taking;
    if (!__libc_single_threaded || !l || (l & 1))
        return;
    /* This thread is inside lw_lock(l), past its first reading of the flag: before its second (then it finds the
     * mark, lw_lock_thread_came), or before its store (which then stores what is there), or past it (then the
     * lock is its own already, and the exchange finds it held). Nothing else holds l: there is no other thread,
     * and no handler tries it (lw_trylock). */
    if (!atomic_exchange_explicit(&((lw_lock_t *)l)->held, 1, memory_order_acquire))
        lw_taking = l | 1;
    atomic_signal_fence(memory_order_seq_cst);
}

int lw_trylock(lw_lock_t *l)
{
    /* a handler that interrupted this thread's lw_lock(l) leaves l to it, as held (lw_thread_coming) */
    if ((lw_taking & ~(uintptr_t)1) == (uintptr_t)l)
        return 0;
    lw_locks_held++;
    atomic_signal_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&l->held, memory_order_relaxed) &&
        !atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
        return 1;
    atomic_signal_fence(memory_order_seq_cst);
    lw_locks_held--;
    return 0;
}

int lw_lock_in_handler(lw_lock_t *l)
{
    for (int i = 0; i < 2048; i++) {
        if (lw_trylock(l))
            return 1;
        if (i < 64)
            LW_CPU_RELAX();
        else
            sched_yield();
    }
    return 0;
}

size_t lw_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

char *lw_fmt_u64(char *p, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

char *lw_fmt_hex(char *p, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    *p++ = '0';
    *p++ = 'x';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* The standard error the library found when it started. A program that closes descriptor 2 and opens a file
 * or a socket that takes its number would find the library's lines in its data: they go to descriptor 2 only
 * while it is still that file, or is a terminal. */
static struct {
    int known; /* 1: open at the start, -1: closed at the start, 0: not looked at yet */
    uint64_t dev, ino;
} err_at_start;

/* fstat as the system call (the wrappers may be the program's), with every argument given. */
static long fd_stat(int fd, struct stat *st)
{
    const long a[6] = { fd, (long)(uintptr_t)st, 0, 0, 0, 0 };
    return lw_sys_raw(SYS_fstat, a);
}

void lw_stderr_note(void)
{
    struct stat st;
    if (fd_stat(STDERR_FILENO, &st) == 0) {
        err_at_start.dev = st.st_dev;
        err_at_start.ino = st.st_ino;
        err_at_start.known = 1;
    } else {
        err_at_start.known = -1;
    }
}

int lw_stderr_usable(int fd)
{
    struct stat st;
    struct termios t;
    if (fd < 0 || fd_stat(fd, &st) != 0)
        return 0;
    if (err_at_start.known == 0 ||
        (err_at_start.known == 1 && st.st_dev == err_at_start.dev && st.st_ino == err_at_start.ino))
        return 1;
    const long a[6] = { fd, TCGETS, (long)(uintptr_t)&t, 0, 0, 0 };
    return lw_sys_raw(SYS_ioctl, a) == 0;
}

/* Understands %s, %d, %u, %zu, %lu, %x (as 0x...), %p and %%; enough for warnings, and never allocates. */
void lw_warn(const char *fmt, ...)
{
    char buf[512];
    char *p = buf, *end = buf + sizeof(buf) - 2;
    int saved = errno;
    va_list ap;

    p += lw_strlcpy(p, "leakwatch: ", (size_t)(end - p));
    va_start(ap, fmt);
    for (const char *f = fmt; *f && p < end - 24; f++) {
        if (*f != '%') {
            *p++ = *f;
            continue;
        }
        f++;
        if (*f == 'z' || *f == 'l')
            f++;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            size_t n = lw_strlcpy(p, s ? s : "(null)", (size_t)(end - p));
            p += n < (size_t)(end - p) ? n : (size_t)(end - p) - 1;
            break;
        }
        case 'd': {
            long v = f[-1] == 'l' ? va_arg(ap, long) : va_arg(ap, int);
            if (v < 0) {
                *p++ = '-';
                v = -v;
            }
            p = lw_fmt_u64(p, (uint64_t)v);
            break;
        }
        case 'u':
            p = lw_fmt_u64(p, (f[-1] == 'l' || f[-1] == 'z') ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
            break;
        case 'x':
            p = lw_fmt_hex(p, (f[-1] == 'l' || f[-1] == 'z') ? va_arg(ap, unsigned long) : va_arg(ap, unsigned));
            break;
        case 'p':
            p = lw_fmt_hex(p, (uintptr_t)va_arg(ap, void *));
            break;
        case '%':
            *p++ = '%';
            break;
        default:
            goto done;
        }
    }
done:
    va_end(ap);
    *p++ = '\n';
    int err_fd = lw_sys_borrow_fd(STDERR_FILENO); /* the dump thread has a descriptor table of its own */
    if (lw_stderr_usable(err_fd))
        lw_sys_write_all(err_fd, buf, (size_t)(p - buf));
    lw_sys_unborrow_fd(err_fd, STDERR_FILENO);
    errno = saved;
}

uint64_t lw_start_ms;

static uint64_t coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint32_t lw_now_ms(void)
{
    if (LW_UNLIKELY(!lw_start_ms))
        lw_start_ms = coarse_ms();
    return (uint32_t)(coarse_ms() - lw_start_ms);
}

ssize_t lw_read_file(const char *path, char *buf, size_t cap)
{
    int fd = lw_sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    lw_sys_close(fd);
    return (ssize_t)n;
}
