/* Remembers what every descriptor number last did (open once, closed by which call site) and turns a close that
 * finds nothing open into a bad-close or double-close warning; close_range is a close of many. */
#include "internal.h"
#include "closes.h"
#include "fd_list.h"
#include "sys.h"
#include "warnings.h"

#include <fcntl.h>
#include <string.h>

/* Closes are remembered for descriptor numbers below this bound: 4 MiB of address space, touched page by page. */
#define LW_CLOSE_MAX (1u << 20)

/* Per number: 0 when this process never had it open (it was not open at start, no tracked call returned it, no
 * close of it was seen), CLOSE_OPENED when it was open at start or a tracked call returned it, and the call site
 * of the last successful close after that (CLOSE_NO_STACK when the stack could not be taken). Site ids are small:
 * the two marks never collide with one. */
#define CLOSE_OPENED UINT32_MAX
#define CLOSE_NO_STACK (UINT32_MAX - 1)
static _Atomic(_Atomic uint32_t *) close_sites;
static atomic_size_t unopened_closes;

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

void lw_closes_reset(void)
{
    atomic_store(&unopened_closes, 0);
    _Atomic uint32_t *a = atomic_load(&close_sites);
    if (a)
        memset((void *)a, 0, LW_CLOSE_MAX * sizeof(uint32_t));
}

void lw_fds_at_start(void)
{
    if (!(lw_config.kinds & LW_FD_KINDS))
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
    if (handle >= LW_CLOSE_MAX || !(lw_config.kinds & LW_FD_KINDS))
        return;
    _Atomic uint32_t *a = close_array();
    if (a)
        atomic_store_explicit(&a[handle], CLOSE_OPENED, memory_order_relaxed);
}

void lw_on_close_at(int fd, lw_origin_t origin)
{
    if (fd < 0 || (unsigned)fd >= LW_CLOSE_MAX || !lw_fd_events_on())
        return;
    lw_guard_t guard = lw_enter();
    _Atomic uint32_t *a = close_array();
    if (a) {
        uint32_t site = lw_stack_site(origin);
        atomic_store_explicit(&a[fd], site ? site : CLOSE_NO_STACK, memory_order_relaxed);
    }
    lw_leave(guard);
}

void lw_on_bad_close_at(int fd, lw_origin_t origin)
{
    if (fd < 0 || (unsigned)fd >= LW_CLOSE_MAX || !lw_fd_events_on())
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
    lw_warning_t w = { .type = twice ? LW_W_DOUBLE_CLOSE : LW_W_BAD_CLOSE, .kind = LW_FD, .fd = fd,
                       .site = lw_stack_site(origin), .other_site = other };
    lw_warning_add(&w, 1);
    lw_leave(guard);
}

size_t lw_unopened_closes(void)
{
    return atomic_load_explicit(&unopened_closes, memory_order_relaxed);
}

size_t lw_on_close_range_at(unsigned first, unsigned last, int cloexec_only, lw_origin_t origin)
{
    if (first > last || !lw_fd_events_on())
        return 0;
    lw_guard_t guard = lw_enter();
    lw_fd_list_t l = lw_fd_list(first, last, 0);
    uint32_t site = cloexec_only ? 0 : lw_stack_site(origin);
    _Atomic uint32_t *a = cloexec_only ? NULL : close_array();
    /* lw_on_release and lw_set_flags do nothing inside the guard: they are the program's releases. */
    lw_self.busy = 0;
    size_t done = 0;
    for (size_t i = 0; i < l.n; i++) {
        const lw_fd_rec_t *r = &l.v[i];
        if (cloexec_only) {
            done += (size_t)lw_set_flags((lw_kind_t)r->kind, r->handle, LW_FLAG_NO_CLOEXEC, 0);
        } else {
            done += (size_t)lw_on_release((lw_kind_t)r->kind, r->handle);
            if (a && (unsigned)r->fd < LW_CLOSE_MAX && site)
                atomic_store_explicit(&a[r->fd], site, memory_order_relaxed);
        }
    }
    lw_fd_list_free(&l);
    lw_leave(guard);
    return done;
}
