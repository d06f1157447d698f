/* What every descriptor number last did (open once, closed where), as the tables and the initialisation tell it. */
#ifndef LW_CLOSES_H
#define LW_CLOSES_H

#include <stddef.h>
#include <stdint.h>

/* A tracked call returned descriptor `handle` (fd or socket kind): a close of that number that fails later is
 * a close of a descriptor that was open once, and warned about. Handles at or above 1 << 20 (FILE* and DIR*
 * records, huge numbers) are ignored. Called from lw_on_acquire_at with the guard held. */
void lw_fd_opened(uintptr_t handle);

/* Marks the descriptors open when the process starts (those it inherited) as open once, like lw_fd_opened; read
 * from /proc/self/fd with raw system calls. Called once at initialisation. */
void lw_fds_at_start(void);

/* How many closes failed on numbers this process never had open (not warned about, see lw_on_bad_close_at). */
size_t lw_unopened_closes(void);

/* For tests: forget every remembered open and close, and the count of closes of numbers never open. */
void lw_closes_reset(void);

#endif
