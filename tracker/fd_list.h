/* The tracked descriptors of a range of numbers, as close_range, exec and a shell's script see them. */
#ifndef LW_FD_LIST_H
#define LW_FD_LIST_H

#include <stddef.h>
#include <stdint.h>

/* The kinds whose handles are descriptors. */
#define LW_FD_KINDS ((1u << LW_FD) | (1u << LW_SOCKET))

/* One tracked descriptor: its number, and the record it belongs to (kind, flags, site and handle; for a FILE* or
 * DIR* the handle is the stream's address). */
typedef struct {
    int fd;
    uint8_t kind;
    uint8_t flags;
    uint32_t site;
    uintptr_t handle;
} lw_fd_rec_t;

typedef struct {
    lw_fd_rec_t *v;
    size_t n, cap;
} lw_fd_list_t;

/* Whether descriptor events are wanted now: a descriptor kind is tracked and this is not the tracker's own call.
 * Initialises the tracker first. */
int lw_fd_events_on(void);

/* Lists the tracked descriptors numbered first..last (FILE* and DIR* records by their descriptor too when
 * `streams` is set), the records a forked child inherited included: exec passes those on too. The list lives in
 * memory from lw_mem_alloc (an empty list when there is none); free it with lw_fd_list_free. Caller holds the
 * reentrancy guard and no table lock. */
lw_fd_list_t lw_fd_list(unsigned first, unsigned last, int streams);
void lw_fd_list_free(lw_fd_list_t *l);

#endif
