/* Descriptor events that are not acquisitions: closes that hit no open descriptor, descriptors that leak into an
 * exec'd program, and close_range, which become the warnings of the dump; and the descriptor a shell holds on its
 * own script, which is no leak. */
#include "internal.h"
#include "markers.h"
#include "sys.h"
#include "warn_events.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <dirent.h>
#include <unistd.h>

#define FD_KINDS ((1u << LW_FD) | (1u << LW_SOCKET))
/* Closes are remembered for descriptor numbers below this bound: 4 MiB of address space, touched page by page. */
#define LW_CLOSE_MAX (1u << 20)

/* ---- what every descriptor number last did ------------------------------------------------------------ */

/* Per number: 0 when this process never had it open (it was not open at start, no tracked call returned it, no
 * close of it was seen), CLOSE_OPENED when it was open at start or a tracked call returned it, and the call site of the last successful close after that (CLOSE_NO_STACK when the
 * stack could not be taken). Site ids are small: the two marks never collide with one. */
#define CLOSE_OPENED UINT32_MAX
#define CLOSE_NO_STACK (UINT32_MAX - 1)
static _Atomic(_Atomic uint32_t *) close_sites;

/* Returns the per-number array of close sites, mapping it on first use; NULL when out of memory. */
static _Atomic uint32_t *close_array(void)
{
    _Atomic uint32_t *a = atomic_load_explicit(&close_sites, memory_order_acquire);
    if (LW_LIKELY(a != NULL))
        return a;
    _Atomic uint32_t *fresh = lw_mem_alloc(LW_CLOSE_MAX * sizeof(uint32_t));
    if (!fresh)
        return NULL;
    _Atomic uint32_t *expect = NULL;
    if (!atomic_compare_exchange_strong(&close_sites, &expect, fresh)) {
        /* another thread mapped it first: use theirs */
        lw_mem_free((void *)fresh, LW_CLOSE_MAX * sizeof(uint32_t));
        return expect;
    }
    return fresh;
}

/* ---- the warning list ---------------------------------------------------------------------------------- */

static lw_lock_t warn_lock;
static atomic_size_t unopened_closes;
static lw_warning_t warnings[LW_MAX_WARNINGS];
static size_t nwarnings;
static size_t ndropped;

static const char *const type_names[] = { "bad-close", "double-close", "fd-into-exec" };

const char *lw_warning_type_name(unsigned type)
{
    return type < sizeof(type_names) / sizeof(type_names[0]) ? type_names[type] : "unknown";
}

/* Adds a warning, or counts one more of an equal warning when `merge` is set (a loop that closes the same bad
 * descriptor a million times is one warning). Caller holds the reentrancy guard. */
static void add_warning(lw_warning_type_t type, int fd, uint32_t site, uint32_t other, const char *msg, int merge)
{
    lw_lock(&warn_lock);
    if (merge) {
        for (size_t i = 0; i < nwarnings; i++) {
            lw_warning_t *w = &warnings[i];
            if (w->type == type && w->fd == fd && w->site == site && w->other_site == other) {
                if (w->count < UINT32_MAX)
                    w->count++;
                lw_unlock(&warn_lock);
                return;
            }
        }
    }
    if (nwarnings < LW_MAX_WARNINGS) {
        lw_warning_t *w = &warnings[nwarnings++];
        w->type = (uint8_t)type;
        w->fd = fd;
        w->site = site;
        w->other_site = other;
        w->count = 1;
        lw_strlcpy(w->message, msg, sizeof(w->message));
    } else {
        ndropped++;
    }
    lw_unlock(&warn_lock);
}

int lw_warning_get(size_t i, lw_warning_t *w)
{
    int found = 0;
    lw_lock(&warn_lock);
    if (i < nwarnings) {
        *w = warnings[i];
        found = 1;
    }
    lw_unlock(&warn_lock);
    return found;
}

size_t lw_warning_count(void)
{
    lw_lock(&warn_lock);
    size_t n = nwarnings;
    lw_unlock(&warn_lock);
    return n;
}

size_t lw_warnings_dropped(void)
{
    lw_lock(&warn_lock);
    size_t n = ndropped;
    lw_unlock(&warn_lock);
    return n;
}

void lw_warnings_forked(void)
{
    /* The child has one thread: a lock held by another thread of the parent would never be released here. */
    atomic_store(&warn_lock.held, 0);
    nwarnings = 0;
    ndropped = 0;
}

void lw_warnings_reset(void)
{
    lw_lock(&warn_lock);
    nwarnings = 0;
    ndropped = 0;
    lw_unlock(&warn_lock);
    atomic_store(&unopened_closes, 0);
    _Atomic uint32_t *a = atomic_load(&close_sites);
    if (a)
        memset((void *)a, 0, LW_CLOSE_MAX * sizeof(uint32_t));
}

/* ---- closes -------------------------------------------------------------------------------------------- */

/* Whether descriptor events are wanted now: a descriptor kind is tracked and this is not the tracker's own call. */
static int fd_events_on(void)
{
    lw_init();
    return !lw_self.busy && (lw_config.kinds & FD_KINDS);
}

void lw_fds_at_start(void)
{
    if (!(lw_config.kinds & FD_KINDS))
        return;
    /* Raw system calls: open and close by name are leakwatch's own wrappers, and this runs in its initialisation.
     * The directory descriptor lives only for this function. */
    int dir = lw_sys_open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    _Atomic uint32_t *a = close_array();
    char buf[2048] __attribute__((aligned(8)));
    for (long got; a && (got = lw_sys_getdents64(dir, buf, sizeof(buf))) > 0;) {
        for (long off = 0; off < got;) {
            const lw_dirent64_t *d = (const void *)(buf + off);
            off += d->reclen;
            unsigned long fd = 0;
            const char *q = d->name;
            for (; *q >= '0' && *q <= '9' && fd < LW_CLOSE_MAX; q++)
                fd = fd * 10 + (unsigned long)(*q - '0');
            if (q != d->name && !*q && fd < LW_CLOSE_MAX && (int)fd != dir)
                atomic_store_explicit(&a[fd], CLOSE_OPENED, memory_order_relaxed);
        }
    }
    lw_sys_close(dir);
}

void lw_fd_opened(uintptr_t handle)
{
    /* FILE* and DIR* records are keyed by pointers, far above the bound: their descriptors are not numbered here */
    if (handle >= LW_CLOSE_MAX || !(lw_config.kinds & FD_KINDS))
        return;
    _Atomic uint32_t *a = close_array();
    if (a)
        atomic_store_explicit(&a[handle], CLOSE_OPENED, memory_order_relaxed);
}

void lw_on_close_at(int fd, lw_origin_t origin)
{
    if (fd < 0 || (unsigned)fd >= LW_CLOSE_MAX || !fd_events_on())
        return;
    lw_guard_t guard = lw_enter();
    _Atomic uint32_t *a = close_array();
    if (a) {
        uint32_t site = lw_stack_site(origin);
        atomic_store_explicit(&a[fd], site ? site : CLOSE_NO_STACK, memory_order_relaxed);
    }
    lw_leave(guard);
}

/* Copies s to p, stopping at end; returns the new end (not terminated). */
static char *put_str(char *p, char *end, const char *s)
{
    while (*s && p < end)
        *p++ = *s++;
    return p;
}

/* Appends the decimal n to p and returns the new end. */
static char *put_int(char *p, long long n)
{
    if (n < 0) {
        *p++ = '-';
        n = -n;
    }
    return lw_fmt_u64(p, (uint64_t)n);
}

void lw_on_bad_close_at(int fd, lw_origin_t origin)
{
    if (fd < 0 || (unsigned)fd >= LW_CLOSE_MAX || !fd_events_on())
        return;
    lw_guard_t guard = lw_enter();
    _Atomic uint32_t *a = close_array();
    uint32_t before = a ? atomic_load_explicit(&a[fd], memory_order_relaxed) : CLOSE_OPENED;
    /* A number this process never had: "close everything I may have inherited" (a daemon closing 3..1023), not
     * a close of someone's descriptor. */
    if (before == 0) {
        atomic_fetch_add_explicit(&unopened_closes, 1, memory_order_relaxed);
        lw_leave(guard);
        return;
    }
    int twice = before != CLOSE_OPENED;
    uint32_t other = twice && before != CLOSE_NO_STACK ? before : 0;
    uint32_t site = lw_stack_site(origin);
    char msg[200], *p = msg;
    p = put_str(p, msg + 40, "close(");
    p = put_int(p, fd);
    p = put_str(p, msg + sizeof(msg) - 1,
                twice ? "): the descriptor was already closed (other_frames: the earlier close)"
                      : "): the descriptor was open once but is not open now (closed behind leakwatch's back)");
    *p = '\0';
    add_warning(twice ? LW_W_DOUBLE_CLOSE : LW_W_BAD_CLOSE, fd, site, other, msg, 1);
    lw_leave(guard);
}

size_t lw_unopened_closes(void)
{
    return atomic_load_explicit(&unopened_closes, memory_order_relaxed);
}

/* ---- walking the tracked descriptors ------------------------------------------------------------------- */

typedef struct {
    int fd;
    uint8_t kind;
    uint8_t flags;
    uint32_t site;
    uintptr_t handle;
} fd_rec_t;

typedef struct {
    fd_rec_t *v;
    size_t n, cap;
    unsigned first, last;
    int streams;        /* include FILE* and DIR* records (by their descriptor) */
} fd_collect_t;

static void collect_fd(const lw_live_t *r, void *arg)
{
    fd_collect_t *c = arg;
    if ((r->kind != LW_FD && r->kind != LW_SOCKET) || c->n == c->cap)
        return;
    int fd;
    if (r->flags & LW_FLAG_FILE) {
        if (!c->streams)
            return;
        fd = fileno_unlocked((FILE *)r->handle);
    } else if (r->flags & LW_FLAG_DIR) {
        if (!c->streams)
            return;
        fd = dirfd((DIR *)r->handle);
    } else {
        if (r->handle > INT_MAX)
            return;
        fd = (int)r->handle;
    }
    if (fd < 0 || (unsigned)fd < c->first || (unsigned)fd > c->last)
        return;
    c->v[c->n++] = (fd_rec_t){ fd, r->kind, r->flags, r->site, r->handle };
}

/* Collects the tracked descriptors in [first, last] into memory from lw_mem_alloc (*cap_out entries). */
static fd_collect_t collect_range(unsigned first, unsigned last, int streams)
{
    fd_collect_t c = { NULL, 0, 0, first, last, streams };
    c.cap = lw_tables_total_all() + 64;
    c.v = lw_mem_alloc(c.cap * sizeof(fd_rec_t));
    if (!c.v)
        c.cap = 0;
    else
        lw_tables_walk_all(collect_fd, &c); /* with a forked child's inherited descriptors: exec passes them on too */
    return c;
}

size_t lw_on_close_range_at(unsigned first, unsigned last, int cloexec_only, lw_origin_t origin)
{
    if (first > last || !fd_events_on())
        return 0;
    lw_guard_t guard = lw_enter();
    fd_collect_t c = collect_range(first, last, 0);
    uint32_t site = cloexec_only ? 0 : lw_stack_site(origin);
    _Atomic uint32_t *a = cloexec_only ? NULL : close_array();
    /* lw_on_release and lw_set_flags do nothing inside the guard: they are the program's releases. */
    lw_self.busy = 0;
    size_t done = 0;
    for (size_t i = 0; i < c.n; i++) {
        const fd_rec_t *r = &c.v[i];
        if (cloexec_only) {
            done += (size_t)lw_set_flags((lw_kind_t)r->kind, r->handle, LW_FLAG_NO_CLOEXEC, 0);
        } else {
            done += (size_t)lw_on_release((lw_kind_t)r->kind, r->handle);
            if (a && (unsigned)r->fd < LW_CLOSE_MAX && site)
                atomic_store_explicit(&a[r->fd], site, memory_order_relaxed);
        }
    }
    if (c.v)
        lw_mem_free(c.v, c.cap * sizeof(fd_rec_t));
    lw_leave(guard);
    return done;
}

/* ---- the script a shell runs --------------------------------------------------------------------------- */

/* Shells read their script while it runs and keep it open on a descriptor of their own to the end (dash moves it
 * to 10 or above, bash to 255). That descriptor is the shell's, not a leak of the script. */
static const char *const shells[] = { "sh", "dash", "bash", "rbash", "ash", "ksh", "ksh93", "mksh", "lksh",
                                      "pdksh", "zsh", "yash", "posh", "busybox" };
static dev_t script_dev;
static ino_t script_ino;
static int have_script;

/* Whether option `a` of a shell's command line takes the next argument as its value (-o name, -O shopt). */
static int takes_value(const char *a)
{
    if (strcmp(a, "--rcfile") == 0 || strcmp(a, "--init-file") == 0)
        return 1;
    size_t n = strlen(a);
    return a[0] != '-' || a[1] != '-' ? (a[n - 1] == 'o' || a[n - 1] == 'O') : 0;
}

void lw_shell_script_init(void)
{
    have_script = 0;
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    static char cmd[8192];
    ssize_t len = lw_read_file("/proc/self/cmdline", cmd, sizeof(cmd) - 1);
    if (len > 0)
        lw_shell_script_pick(exe, cmd, (size_t)len);
}

int lw_shell_script_pick(const char *exe, char *cmd, size_t len)
{
    have_script = 0;
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    int shell = 0;
    for (size_t i = 0; i < sizeof(shells) / sizeof(shells[0]); i++)
        shell |= strcmp(base, shells[i]) == 0;
    if (!shell || len == 0)
        return 0;
    cmd[len - 1] = '\0'; /* the last argument ends the buffer, terminated or cut short */
    /* The script is the first argument that is not an option nor an option's value; -c (a command string) and
     * -s (commands from stdin) mean there is none. */
    const char *a = cmd + strlen(cmd) + 1, *end = cmd + len;
    int skip = 0, after_dashes = 0;
    for (; a < end; a += strlen(a) + 1) {
        if (skip) {
            skip = 0;
            continue;
        }
        if (!after_dashes && strcmp(a, "--") == 0) {
            after_dashes = 1;
            continue;
        }
        if (!after_dashes && (a[0] == '-' || a[0] == '+') && a[1]) {
            if (a[0] == '-' && a[1] != '-' && (strchr(a, 'c') || strchr(a, 's')))
                return 0;
            skip = takes_value(a);
            continue;
        }
        struct stat st;
        if (stat(a, &st) == 0 && S_ISREG(st.st_mode)) {
            script_dev = st.st_dev;
            script_ino = st.st_ino;
            have_script = 1;
        }
        return have_script;
    }
    return 0;
}

size_t lw_forget_shell_script(void)
{
    if (!have_script || !fd_events_on())
        return 0;
    lw_guard_t guard = lw_enter();
    fd_collect_t c = collect_range(3, INT_MAX, 0);
    lw_self.busy = 0; /* lw_on_release does nothing inside the guard */
    size_t done = 0;
    for (size_t i = 0; i < c.n; i++) {
        struct stat st;
        if (fstat(c.v[i].fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == script_dev && st.st_ino == script_ino)
            done += (size_t)lw_on_release((lw_kind_t)c.v[i].kind, c.v[i].handle);
    }
    if (c.v)
        lw_mem_free(c.v, c.cap * sizeof(fd_rec_t));
    lw_leave(guard);
    return done;
}

/* ---- exec ---------------------------------------------------------------------------------------------- */

#define NO_MARK UINT_MAX
static char exec_dump[4096];

unsigned lw_on_exec_at(const char *what, int replaces, lw_origin_t origin)
{
    if (replaces)
        lw_marker_exec(what); /* safe in a vfork child too */
    if (!fd_events_on() || getpid() != lw_pid)
        return NO_MARK; /* a vfork child shares our memory: it must not touch the tracker */
    lw_guard_t guard = lw_enter();
    unsigned mark = (unsigned)lw_warning_count();
    fd_collect_t c = collect_range(3, INT_MAX, 1);
    uint32_t exec_site = c.n ? lw_stack_site(origin) : 0;
    size_t added = 0;
    for (size_t i = 0; i < c.n; i++) {
        const fd_rec_t *r = &c.v[i];
        /* The flag says what the program asked for; F_GETFD says what is true now (ioctl FIOCLEX, or a
         * descriptor changed behind a FILE*). Both must agree that the descriptor is inherited. */
        if (!(r->flags & LW_FLAG_NO_CLOEXEC))
            continue;
        int fdflags = lw_sys_fcntl(r->fd, F_GETFD, 0);
        if (fdflags < 0 || (fdflags & FD_CLOEXEC))
            continue;
        char link[64], target[120], msg[200], *p = link, *end = msg + sizeof(msg) - 1;
        p += lw_strlcpy(p, "/proc/self/fd/", sizeof(link));
        p = lw_fmt_u64(p, (uint64_t)r->fd);
        *p = '\0';
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        char num[24];
        *lw_fmt_u64(num, (uint64_t)r->fd) = '\0';
        p = put_str(msg, end, r->kind == LW_SOCKET ? "socket " : "descriptor ");
        p = put_str(p, end, num);
        if (target[0]) {
            p = put_str(p, end, " (");
            p = put_str(p, end, target);
            p = put_str(p, end, ")");
        }
        p = put_str(p, end, " has no close-on-exec and is inherited by ");
        p = put_str(p, end, what ? what : "?");
        *p = '\0';
        add_warning(LW_W_FD_INTO_EXEC, r->fd, r->site, exec_site, msg, 0);
        added++;
        if (replaces && !lw_config.dump_dir[0])
            lw_warn("%s", msg);
    }
    if (c.v)
        lw_mem_free(c.v, c.cap * sizeof(fd_rec_t));
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

void lw_on_exec_failed(unsigned mark)
{
    lw_marker_exec_failed();
    if (mark == NO_MARK || getpid() != lw_pid)
        return;
    int saved = errno;
    lw_lock(&warn_lock);
    size_t keep = mark;
    for (size_t i = mark; i < nwarnings; i++)
        if (warnings[i].type != LW_W_FD_INTO_EXEC)
            warnings[keep++] = warnings[i];
    if (keep < nwarnings)
        nwarnings = keep;
    lw_unlock(&warn_lock);
    if (exec_dump[0]) {
        unlink(exec_dump);
        exec_dump[0] = '\0';
    }
    errno = saved;
}

/* ---- dump numbers across exec -------------------------------------------------------------------------- */

void lw_dump_seq_resume(void)
{
    if (!lw_config.dump_dir[0])
        return;
    char path[4096];
    size_t dl = strlen(lw_config.dump_dir);
    if (dl + 64 >= sizeof(path))
        return;
    unsigned seq = 0;
    for (;;) {
        char *p = path;
        memcpy(p, lw_config.dump_dir, dl);
        p += dl;
        p += lw_strlcpy(p, "/leakwatch.", 12);
        p = lw_fmt_u64(p, (uint64_t)getpid());
        *p++ = '.';
        p = lw_fmt_u64(p, seq + 1);
        lw_strlcpy(p, ".json", 6);
        if (access(path, F_OK) != 0)
            break;
        seq++;
    }
    if (seq)
        atomic_store(&lw_dump_seq, seq);
}
