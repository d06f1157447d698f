/* Saved JSON reports (`leakwatch run --json`, `report --format json`) read back into the dump model, so that
 * report, triage, diff and the flame graphs work on them as on dumps. */
#ifndef LWR_SAVED_H
#define LWR_SAVED_H

#include "aggregate.h"
#include "dump.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether `len` bytes of `text` are a saved report rather than a dump: a JSON object whose first member is
 * `leakwatch_report`, or one that parses and has `leakwatch_report` and no `leakwatch_dump`. */
bool lwr_saved_is_report(const char *text, size_t len);

/* Reads the saved report in `len` bytes of `text`; `name` stands for its file in the result and in errors.
 * Returns the dump of its first process with the others chained in `more` (lwr_dump_free frees them all), or
 * NULL with one line in err: the JSON error with line and column, an unsupported version, or the path of a member
 * that is missing or of the wrong type (`sites[2].frames[0].address: expected a string`). */
lwr_dump_t *lwr_saved_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

/* Frees what a saved report adds to a dump (known frames, pids, unchecked entries, the chained processes). */
void lwr_saved_free(lwr_dump_t *d);

/* Fills `st` with the frames a saved report's site carries (ds->known), as lwr_stack_symbolize would. Returns 0,
 * or -1 when out of memory. */
int lwr_saved_stack(lwr_stack_t *st, const lwr_dump_site_t *ds);

/* Appends the `unchecked` entries of saved report `d` to the report's (setting has_unchecked). Returns 0 or -1. */
int lwr_saved_add_unchecked(lwr_report_t *r, const lwr_dump_t *d);

/* The symbol of known frame `k`, its strings borrowed. */
void lwr_saved_symbol(const lwr_known_frame_t *k, lwr_symbol_t *out);

#endif
