/* Baselines: the call sites of an earlier report, matched by kind and symbolized frames (function and file, never
 * addresses or lines) so that known leaks do not fail the gate; also the gate computation itself. */
#ifndef LWR_BASELINE_H
#define LWR_BASELINE_H

#include "aggregate.h"
#include "map.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct {
    lwr_map_t keys;     /* site keys (see lwr_baseline_key) -> 1 */
    size_t nsites;      /* sites read */
} lwr_baseline_t;

#define LWR_BASELINE_INIT { LWR_MAP_INIT, 0 }

/* Fills `b` from a parsed baseline document: a JSON report (`leakwatch_report: 1`) or a baseline file
 * (`leakwatch_baseline: 1`); `name` names it in errors. Sites of a kind this reader does not know are skipped.
 * Returns 0, or -1 with a one-line reason in err (not a report or baseline, a member of the wrong type with its
 * path, out of memory). */
int lwr_baseline_from_json(lwr_baseline_t *b, json_t *root, const char *name, char *err, size_t errlen);

/* The largest baseline file read (a whole report may serve as one); bigger is an error. */
#define LWR_BASELINE_MAX_BYTES ((uint64_t)256 << 20)

/* Reads the file at `path` (at most LWR_BASELINE_MAX_BYTES, with lwr_read_file) with lwr_baseline_from_json;
 * JSON syntax errors name the line and column. */
int lwr_baseline_load(lwr_baseline_t *b, const char *path, char *err, size_t errlen);

/* Whether the report site's call site is in the baseline: same kind, both reachable or both not, and the same
 * number of frames with, frame by frame, the same function and the same file base name where the function is
 * known, the same module base name where it is not. */
bool lwr_baseline_has(const lwr_baseline_t *b, const lwr_site_t *site);

/* Sets `baseline` on every site of the report that is in `b`. Returns how many sites were marked. */
size_t lwr_baseline_mark(lwr_report_t *report, const lwr_baseline_t *b);

void lwr_baseline_free(lwr_baseline_t *b);

/* Whether a site counts against the gate: a gated kind (report->gate.kinds, every kind when the report has no
 * gate), not reachable unless the gate counts reachable blocks, not in the baseline. */
bool lwr_site_gated(const lwr_report_t *report, const lwr_site_t *site);

/* Fills report->gate: `leaks` is the sum of the totals of the gated kinds (plus the reachable heap blocks when
 * `reachable`), less the counts of the gated sites marked `baseline`, which go to `gate.baseline`; `failed` when
 * leaks > max_leaks. `has_baseline` says whether a baseline was applied. */
void lwr_report_gate(lwr_report_t *report, uint64_t max_leaks, lwr_kindset_t kinds, bool reachable,
                     bool has_baseline);

/* Writes the baseline of a parsed report (`leakwatch_report: 1`) to `out`: `{"leakwatch_baseline": 1, "sites":
 * [...]}` with, for each site that is not reachable, its kind, class, count, bytes and frames (function, file,
 * line, module). Returns 0, or -1 with the reason in err. */
int lwr_baseline_write(FILE *out, json_t *report, const char *name, char *err, size_t errlen);

#endif
