/* Renders a report as text for people (LeakSanitizer-like) or as the JSON report contract of docs/FORMAT.md. */
#ifndef LWR_RENDER_H
#define LWR_RENDER_H

#include "aggregate.h"

#include <jansson.h>
#include <stdio.h>

/* At most this many samples are shown per site in text. */
#define LWR_TEXT_SAMPLES 3

/* Writes frame i of a stack as the text report does: `    #i function file:line (module)`. */
void lwr_print_frame(FILE *out, size_t i, const lwr_frame_t *f);

/* Writes a sample as the text report does ("0x55.. (24 bytes)", "fd 3 /tmp/x"), with its pid when `with_pid`
 * ("0x55.. (24 bytes, pid 7)", "fd 3 /tmp/x (pid 7)"). A sample without a handle shows "?". */
/* n bytes for people: "512 B", "1.0 MiB" (binary units, one decimal). */
void lwr_human_bytes(char *buf, size_t cap, uint64_t n);

void lwr_print_sample(FILE *out, lwr_kind_t kind, const lwr_report_sample_t *s, bool with_pid);

/* Writes the text report to `out`. A report without leaks is exactly one line,
 * `leakwatch: no leaks (N processes)`, followed on that line by the count of still reachable heap blocks when
 * there are some; otherwise a header line with the totals, then one block per site in the
 * report's order (kind, count, bytes, processes; frames as `#i function file:line (module basename)`; a few
 * samples). With `unchecked` entries the first line never says "no leaks" alone: it names the processes checked
 * and those that could not be, which are listed at the end. Returns 0, or -1 when writing failed. */
int lwr_render_text(FILE *out, const lwr_report_t *report);

/* Writes the report as JSON (`leakwatch_report: 1`, members as in docs/FORMAT.md, `gate` only when the report
 * has one), indented, ending with a newline. Returns 0, or -1 when out of memory or writing failed. */
int lwr_render_json(FILE *out, const lwr_report_t *report);

/* Writes `root` with json_dumpf `flags` and a newline, flushes, and drops the reference to `root`. Returns 0, or
 * -1 when `root` is NULL (out of memory) or writing failed. */
int lwr_json_write(FILE *out, json_t *root, size_t flags);

/* Writes the JSON report to the file at `path` (replacing it). Returns 0 or an errno value. */
int lwr_render_json_file(const char *path, const lwr_report_t *report);

#endif
