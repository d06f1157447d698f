/* The sentence a report shows for what a non-heap sample refers to, made from the dump's values. */
#ifndef LWR_SAMPLE_H
#define LWR_SAMPLE_H

#include "dump.h"

/* The values a version-2 dump's sample carries (docs/FORMAT.md); NULL or -1 when absent. */
typedef struct {
    char *target, *stream, *family, *type, *local, *peer, *start, *state, *clock, *notify, *prot, *sharing, *backing;
    long long fd;
    int listening;
} lwr_sample_values_t;

/* Fills smp->detail, smp->thread_start and smp->thread_state for a sample of a site of `kind`. From a version-2
 * dump the sentence is made of the values v; a version-1 dump carries the sentence as `detail` (already in
 * smp->detail, kept), and a thread's start address and state are read from it. Returns 0, or -1 when out of
 * memory. */
int lwr_sample_describe(lwr_sample_t *smp, lwr_kind_t kind, const lwr_sample_values_t *v);

#endif
