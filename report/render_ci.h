/* Renders a report for CI systems: SARIF 2.1.0 for code-scanning annotations and JUnit XML for test dashboards. */
#ifndef LWR_RENDER_CI_H
#define LWR_RENDER_CI_H

#include "aggregate.h"

#include <stdio.h>

/* The SARIF rule of a site: `leakwatch/heap-definite`, `leakwatch/heap-indirect`, `leakwatch/heap-reachable`,
 * `leakwatch/heap` (unclassified), `leakwatch/fd`, `leakwatch/socket`, `leakwatch/thread`, `leakwatch/timer`. */
const char *lwr_rule_id(const lwr_site_t *site);

/* The program's own first frame of `n` frames (innermost first), the one every output names a site by: the first
 * frame with a file and a line whose module is not the runtime (the C runtime, libstdc++, libgcc, the dynamic
 * linker, leakwatch), else the first frame known by function or module whose module is not the runtime (a program
 * without debug information, known by function or by module and offset), else NULL (every frame is the
 * runtime's or unknown). */
const lwr_frame_t *lwr_program_frame(const lwr_frame_t *frames, size_t n);

/* The frame that acquired the handle in the program: lwr_program_frame of the site's frames. */
const lwr_frame_t *lwr_acquiring_frame(const lwr_site_t *site);

/* Writes the report as one SARIF 2.1.0 log: one run whose tool.driver is leakwatch with one rule per kind and
 * class, and one result per leaking site (reachable sites only when the gate counts them). A result's location is
 * the acquiring frame (paths under the current directory relative to %SRCROOT%), its code flow the whole stack;
 * sites in the baseline carry baselineState "unchanged", the others "new" when a baseline was given. Returns 0,
 * or -1 when out of memory or writing failed. */
int lwr_render_sarif(FILE *out, const lwr_report_t *report);

/* Writes the report as JUnit XML: <testsuites> holding one <testsuite name="leakwatch">, one <testcase> per
 * process (named by executable and pid), with a <failure> per site of that process that counts against the gate
 * (the stack in its text); sites that do not count (other kinds, baseline) are listed in <system-out>. Text and
 * attributes are escaped; characters XML 1.0 cannot carry become U+FFFD. Returns 0, or -1 when writing failed. */
int lwr_render_junit(FILE *out, const lwr_report_t *report);

/* Writes the report with `render` into the file at `path`, replacing it. Returns 0 or an errno value. */
int lwr_render_to_file(const char *path, int (*render)(FILE *, const lwr_report_t *), const lwr_report_t *report);

#endif
