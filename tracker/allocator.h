/* What the tracker knows about the allocator behind the program's malloc, for the reachability scan and the dump
 * (allocator.c); nothing outside tracker/ uses it. */
#ifndef LW_ALLOCATOR_H
#define LW_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef enum {
    LW_ALLOC_GLIBC,    /* libc.so.6's malloc: the scan knows its arenas and chunks */
    LW_ALLOC_JEMALLOC, /* a shared jemalloc (Debian's libjemalloc2) */
    LW_ALLOC_TCMALLOC, /* a shared tcmalloc (gperftools' libtcmalloc or libtcmalloc_minimal) */
    LW_ALLOC_UNKNOWN   /* anything else, the program's own malloc included */
} lw_alloc_kind_t;

/* The allocator lw_note_allocator found; LW_ALLOC_GLIBC until it is called (the tracker driven without
 * LD_PRELOAD, as the unit tests do, runs on the process's own malloc and is treated as glibc's). */
lw_alloc_kind_t lw_allocator_kind(void);
/* "glibc", "jemalloc", "tcmalloc" or "unknown", as the dump writes it. */
const char *lw_allocator_name(void);

/* The address span of the loaded object that defines the allocator (from its first to the end of its last
 * loadable segment) in *lo, *hi; returns 0 when that object is libc or the main program, whose writable data are
 * not the allocator's alone, or when it is not known. */
int lw_allocator_object(uintptr_t *lo, uintptr_t *hi);

/* A mapping [lo, hi) (page-aligned) was made by code whose return address is caller: when that is the allocator's
 * own code the range is the allocator's memory and 0 is returned; otherwise it is the program's (whatever the
 * allocator had there before) and 1 is returned. */
int lw_allocator_on_map(uintptr_t lo, uintptr_t hi, uintptr_t caller);
/* [lo, hi) was unmapped. */
void lw_allocator_on_unmap(uintptr_t lo, uintptr_t hi);

/* Copies the memory the allocator's own code mapped with mmap (and has not unmapped), sorted and disjoint, into
 * lo/hi (at most cap ranges); returns how many. *complete is set to 0 when some mapping could not be recorded (the
 * table was full, or its lock was held by a thread that vanished in a fork), so that the copy misses some. */
size_t lw_allocator_ranges(uintptr_t *lo, uintptr_t *hi, size_t cap, int *complete);

/* Whether the classification of these heap blocks (sorted by address) can be trusted: the allocator is glibc's, or
 * one whose memory the tracker knows and every block lies in it. Returns NULL when it can, else a sentence that
 * says why not, valid until the next call. Reads /proc; never allocates through malloc. */
const char *lw_allocator_distrust(const lw_entry_t *blocks, size_t n);
/* When the program's own calls to malloc never reach the wrapper (the executable defines malloc, as one linking a
 * static jemalloc does), a sentence that says so; else NULL. Nothing of the heap is tracked then. */
const char *lw_allocator_untracked(void);

/* What the last lw_allocator_distrust returned, here or (lw_allocator_set_refusal) in the scanning copy, which
 * makes that decision on the blocks it lists. */
const char *lw_allocator_refusal(void);
void lw_allocator_set_refusal(const char *text);

#endif
