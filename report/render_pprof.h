/* `--format pprof`: the report as a pprof profile (gzip-compressed protobuf, github.com/google/pprof's format). */
#ifndef LWR_RENDER_PPROF_H
#define LWR_RENDER_PPROF_H

#include "aggregate.h"

#include <stdio.h>

/* What the profile says of a module: its path, build-id and the span its mappings cover as offsets from the
 * load bias (the same in every process). The report's frames name modules by path only; these come from the
 * dumps, before they are freed. */
typedef struct {
    char *path;
    char *build_id;     /* lower-case hex, "" when the object has none */
    uint64_t low, high;
} lwr_pprof_module_t;

typedef struct {
    lwr_pprof_module_t *v;
    size_t n, cap;
} lwr_pprof_modules_t;

#define LWR_PPROF_MODULES_INIT { NULL, 0, 0 }

/* Adds the modules of `dump` not yet in `m` (by path; the first dump naming a path gives its build-id). Returns 0,
 * or -1 when out of memory. */
int lwr_pprof_modules_add(lwr_pprof_modules_t *m, const lwr_dump_t *dump);

void lwr_pprof_modules_free(lwr_pprof_modules_t *m);

/* Writes the profile of `r` to `out`: one sample per site holding something, reachable sites included (as diff
 * and trend count them), with per kind a `<kind>_objects` (count) value and, for the heap and any kind whose
 * handles have sizes, a `<kind>_space` (bytes) value; `heap_space` is the default. Samples carry the labels
 * `kind`, `class` (when classified) and `processes` (how many processes had the site). Each module is a mapping
 * with its build-id, in an address space of its own; locations carry their functions, files, lines and inlining,
 * so pprof needs no binary. One comment per process. Returns 0, or -1 when out of memory or writing failed. */
int lwr_render_pprof(FILE *out, const lwr_report_t *r, const lwr_pprof_modules_t *mods);

#endif
