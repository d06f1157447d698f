/* Who holds a reachable site, as the reports say it: the root (a global with its declaration, a thread's stack
 * with the function of its frame, ...) and the sites on the way down, from a dump's `held_by`. */
#ifndef LWR_RETAIN_H
#define LWR_RETAIN_H

#include "dump.h"
#include "symbolize.h"

#include <jansson.h>
#include <stdio.h>

/* One site of a retention path: the function of its first frame, else its module and offset. */
typedef struct {
    char *function;     /* NULL when unknown */
    char *file;         /* of that first frame, NULL when unknown */
    unsigned line;
    char *module;       /* of that first frame, NULL when none holds it */
    uint64_t offset;    /* of that first frame in its module */
} lwr_held_step_t;

typedef struct {
    char *root;             /* "global", "stack", "registers", "memory", "tls", "heap" (or what the dump says) */
    char *name;             /* a global's variable, a stack root's function; NULL when unknown */
    uint64_t within;        /* a global: offset of the root word in the variable */
    char *file;             /* the variable's declaration, the frame's source; NULL when unknown */
    unsigned line;
    char *module;           /* module of the root word (a global) or of the frame (a stack); NULL when none */
    uint64_t offset;        /* the root word's (a global's) or the frame's offset in module; else the address */
    lwr_held_step_t *path;  /* the sites from the root down, the held site last */
    size_t npath;
    char *text;             /* "global cache (service.c:12) -> cache_insert blocks", raw bytes: show escaped */
} lwr_held_t;

/* Describes the held_by of site `ds` of dump `d` (NULL when it has none, or out of memory). `sym` NULL: module and
 * offset only. Free with lwr_held_free. */
lwr_held_t *lwr_held_make(const lwr_dump_t *d, const lwr_dump_site_t *ds, lwr_symbolizer_t *sym);

void lwr_held_free(lwr_held_t *h);

/* Writes `held by TEXT` and a newline, the text escaped as every name for people; nothing for NULL. */
void lwr_held_print(FILE *out, const lwr_held_t *h);

/* The JSON form (docs/FORMAT.md `held_by`), or NULL when out of memory. */
json_t *lwr_held_json(const lwr_held_t *h);

#endif
