/* The options `leakwatch run` and `leakwatch report` share for CI: suppressions, baselines, reachable sites and
 * the SARIF and JUnit outputs, parsed, loaded and applied to a report in one place. */
#ifndef LWR_CI_H
#define LWR_CI_H

#include "aggregate.h"
#include "baseline.h"
#include "suppress.h"

#include <stdbool.h>

/* At most this many --suppressions options (nothing is allocated before lwr_ci_load, so a usage error can
 * return without freeing). */
#define LWR_MAX_SUPP_FILES 64

typedef struct {
    const char *supp_files[LWR_MAX_SUPP_FILES];  /* --suppressions, in the order given */
    size_t nsupp_files;
    bool no_default_supp;       /* --no-default-suppressions */
    bool show_reachable;        /* --show-reachable */
    bool gen_suppressions;      /* --gen-suppressions */
    bool gate_reachable;        /* --gate-reachable (run only) */
    const char *baseline;       /* --baseline FILE */
    const char *sarif;          /* --sarif FILE (run only; report has --format sarif) */
    const char *junit;          /* --junit FILE (run only) */
    lwr_supplist_t supps;       /* loaded by lwr_ci_load */
    lwr_baseline_t base;
    bool show_indirect;         /* --show-indirect */
} lwr_ci_t;

#define LWR_CI_INIT { { NULL }, 0, false, false, false, false, NULL, NULL, NULL, LWR_SUPPLIST_INIT, LWR_BASELINE_INIT, \
                      false }

/* Takes argv[*i] when it is one of the shared options (`run` also takes --gate-reachable, --sarif and --junit
 * when `outputs` is true). Returns 1 when taken (then *i is past it), 0 when argv[*i] is something else, -1 on a
 * usage error (printed). */
int lwr_ci_take_option(const char *cmd, int argc, char **argv, int *i, bool outputs, lwr_ci_t *ci);

/* Reads the suppression files (LEAKWATCH_SUPPRESSIONS, then --suppressions, then the built-in list) and the
 * baseline. Returns 0, or LWR_EXIT_USAGE after printing `leakwatch CMD: FILE:LINE: reason`. */
int lwr_ci_load(const char *cmd, lwr_ci_t *ci);

/* Applies the suppressions and the baseline to the report and sets its show_reachable and show_indirect. Returns 0, or -1 when out
 * of memory. */
int lwr_ci_apply(lwr_report_t *report, const lwr_ci_t *ci);

/* Writes --sarif and --junit. Returns 0, or -1 after printing which file could not be written. */
int lwr_ci_write_outputs(const lwr_report_t *report, const lwr_ci_t *ci);

void lwr_ci_free(lwr_ci_t *ci);

#endif
