/* Where the threads' thread-local storage lies, so that a root word in it is named as thread-local: the static
 * TLS blocks of the loaded objects below each thread's control block, and the control block itself above. */
#ifndef LW_TLS_H
#define LW_TLS_H

#include <stddef.h>
#include <stdint.h>

/* Reads the layout of static TLS (each object's block, at a fixed distance below every thread's thread pointer)
 * in the process itself, before a scan's copy is made: it takes the loader's lock. The layout is kept for
 * lw_tls_range and lw_tls_place until the next call. */
void lw_tls_prepare(void);

/* The thread pointer of a thread whose control block lies in the mapping [lo, hi), found as the thread library
 * places it (at the top of a thread's stack mapping; the main thread's, recorded by lw_tls_note_main), or 0.
 * Reads the mapping: for the scan's copy, under its fault guard. */
uintptr_t lw_tls_find(uintptr_t lo, uintptr_t hi);

/* The thread-local storage of the thread whose thread pointer is tp: [*lo, *hi). */
void lw_tls_range(uintptr_t tp, uintptr_t *lo, uintptr_t *hi);

/* Remembers the calling thread's thread pointer as the main thread's (its control block lies among the dynamic
 * linker's own memory, not at the top of a stack). */
void lw_tls_note_main(void);

/* Names the word at address a of the thread whose thread pointer is tp: 1 with the address of the TLS image of
 * the object whose block holds it (its PT_TLS segment, inside the object's mapping) and the offset of a in that
 * block; 0 when a lies in the thread's control block or in no object's block. */
int lw_tls_place(uintptr_t tp, uintptr_t a, uintptr_t *image, uint64_t *offset);

#endif
