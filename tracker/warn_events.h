/* The tracker's warning list as the dump writer and the lifetime code see it; nothing outside tracker/ uses it. */
#ifndef LW_WARN_EVENTS_H
#define LW_WARN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many warnings are kept per process; later ones are counted in lw_warnings_dropped. */
#define LW_MAX_WARNINGS 256

typedef enum { LW_W_BAD_CLOSE, LW_W_DOUBLE_CLOSE, LW_W_FD_INTO_EXEC } lw_warning_type_t;

typedef struct {
    uint8_t type;        /* lw_warning_type_t */
    int32_t fd;
    uint32_t site;       /* the stack of the close (or of the open, for fd-into-exec) */
    uint32_t other_site; /* the earlier close, or the exec; 0 when none */
    uint32_t count;      /* how many times this (type, fd, site, other_site) happened */
    char message[200];
} lw_warning_t;

/* The name written as the warning's "type" in dumps. */
const char *lw_warning_type_name(unsigned type);

/* Copies warning i into *w; returns 0 when i is past the end. Safe while warnings are being added. */
int lw_warning_get(size_t i, lw_warning_t *w);
size_t lw_warnings_dropped(void);

/* A tracked call returned descriptor `handle` (fd or socket kind): a close of that number that fails later is
 * a close of a descriptor that was open once, and warned about. Handles at or above 1 << 20 (FILE* and DIR*
 * records, huge numbers) are ignored. Called from lw_on_acquire_at with the guard held. */
void lw_fd_opened(uintptr_t handle);

/* How many closes failed on numbers this process never had open (not warned about, see lw_on_bad_close_at). */
size_t lw_unopened_closes(void);

/* In a forked child: forget the parent's warnings (the parent reports them) and its lock state. */
void lw_warnings_forked(void);
/* For tests: forget every warning and every remembered close. */
void lw_warnings_reset(void);

/* The exec'd image keeps the pid: starts this image's dump numbers after the dumps already in the dump directory
 * for this pid, so that an "exec" dump of the previous image is not replaced. Called once at initialisation. */
void lw_dump_seq_resume(void);

#endif
