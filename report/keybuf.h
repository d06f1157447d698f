/* A growable byte buffer for the keys that merge and match call sites (reports, series, baselines). */
#ifndef LWR_KEYBUF_H
#define LWR_KEYBUF_H

#include "dump.h"
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

/* The identity of a call site, the one rule by which `report` merges sites and `diff`, `trend` and `triage` match
 * them across dumps: replaces what b held with the kind, then per frame "F" function file line column where the
 * function is known, else "M" module offset, else "A" address. Two calls in one function, or on one line, are
 * two sites; processes of one build agree even where their load addresses differ. (report adds the class;
 * baselines match without lines, baseline.c.) */
void lwr_site_identity(lwr_keybuf_t *b, lwr_kind_t kind, const lwr_symbol_t *syms, size_t n);

#endif
