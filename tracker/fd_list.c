/* Lists the tracked descriptors of a range of numbers for the descriptor events: close_range, exec, a shell's
 * script. */
#include "internal.h"
#include "fd_list.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>

int lw_fd_events_on(void)
{
    lw_init();
    return !lw_self.busy && (lw_config.kinds & LW_FD_KINDS);
}

typedef struct {
    lw_fd_list_t *l;
    unsigned first, last;
    int streams; /* include FILE* and DIR* records (by their descriptor) */
} collector_t;

static void collect_fd(const lw_live_t *r, void *arg)
{
    collector_t *c = arg;
    if ((r->kind != LW_FD && r->kind != LW_SOCKET) || c->l->n == c->l->cap)
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
    c->l->v[c->l->n++] = (lw_fd_rec_t){ fd, r->kind, r->flags, r->site, r->handle };
}

lw_fd_list_t lw_fd_list(unsigned first, unsigned last, int streams)
{
    lw_fd_list_t l = { NULL, 0, 0 };
    l.cap = lw_tables_count_handles(LW_FD_KINDS) + 64;
    l.v = lw_mem_alloc(l.cap * sizeof(lw_fd_rec_t));
    if (!l.v) {
        l.cap = 0;
        return l;
    }
    collector_t c = { &l, first, last, streams };
    lw_tables_walk_handles(LW_FD_KINDS, collect_fd, &c);
    return l;
}

void lw_fd_list_free(lw_fd_list_t *l)
{
    if (l->v)
        lw_mem_free(l->v, l->cap * sizeof(lw_fd_rec_t));
    l->v = NULL;
    l->n = l->cap = 0;
}
