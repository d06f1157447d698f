/* The tracker's list of warnings, kept for the dump; nothing outside tracker/ uses it. */
#ifndef LW_WARNINGS_H
#define LW_WARNINGS_H

#include <stddef.h>
#include <stdint.h>

/* At most this many warnings are kept per process; later ones are counted in lw_warnings_dropped. */
#define LW_MAX_WARNINGS 256

typedef enum { LW_W_BAD_CLOSE, LW_W_DOUBLE_CLOSE, LW_W_FD_INTO_EXEC } lw_warning_type_t;

/* One warning, as values: the report makes the sentence (data in dumps, words in reports). */
typedef struct {
    uint8_t type;        /* lw_warning_type_t */
    uint8_t kind;        /* fd-into-exec: LW_FD or LW_SOCKET, the kind of the inherited descriptor's record */
    int32_t fd;
    uint32_t site;       /* the stack of the close (or of the open, for fd-into-exec) */
    uint32_t other_site; /* the earlier close, or the exec; 0 when none */
    uint32_t count;      /* how many times this (type, fd, site, other_site) happened */
    char target[120];    /* fd-into-exec: what /proc names the descriptor (a path, pipe:[N]); "" when unknown */
    char program[200];   /* fd-into-exec: the program that inherits it (a path, or "descriptor N" for fexecve) */
} lw_warning_t;

/* The name written as the warning's "type" in dumps. */
const char *lw_warning_type_name(unsigned type);

/* Adds a copy of *w with a count of 1, or counts one more of an equal warning (same type, fd, site and other_site)
 * when `merge` is set: a loop that closes the same bad descriptor a million times is one warning. Past
 * LW_MAX_WARNINGS the warning is only counted as dropped. Caller holds the reentrancy guard. */
void lw_warning_add(const lw_warning_t *w, int merge);

/* Copies warning i into *w; returns 0 when i is past the end. Safe while warnings are being added. */
int lw_warning_get(size_t i, lw_warning_t *w);
size_t lw_warnings_dropped(void);

/* Removes the warnings of `type` at index `mark` and after (lw_warning_count() taken as the mark before they were
 * added), keeping the order of the others. */
void lw_warnings_withdraw(size_t mark, lw_warning_type_t type);

/* In a forked child: forget the parent's warnings (the parent reports them) and its lock state. */
void lw_warnings_forked(void);
/* For tests: forget every warning (lw_closes_reset forgets the remembered closes). */
void lw_warnings_reset(void);

#endif
