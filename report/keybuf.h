/* A growable byte buffer for the keys that merge and match call sites (reports, series, baselines). */
#ifndef LWR_KEYBUF_H
#define LWR_KEYBUF_H

#include "symbolize.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom;        /* set when growing failed; later appends do nothing */
} lwr_keybuf_t;

#define LWR_KEYBUF_INIT { NULL, 0, 0, 0 }

/* Appends `n` bytes. Out of memory sets b->oom and leaves the buffer as it was. */
void lwr_keybuf_put(lwr_keybuf_t *b, const void *data, size_t n);

/* Appends the string with its NUL; NULL appends an empty string. */
void lwr_keybuf_put_str(lwr_keybuf_t *b, const char *s);

/* Appends the identity of `n` symbolized frames: per frame "F" function file (and line and column when `lines`),
 * "M" module offset, or "A" offset. */
void lwr_keybuf_put_frames(lwr_keybuf_t *b, const lwr_symbol_t *syms, size_t n, bool lines);

#endif
