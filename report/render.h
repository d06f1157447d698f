/* Renders a report as text for people (LeakSanitizer-like) or as the JSON report contract of docs/FORMAT.md. */
#ifndef LWR_RENDER_H
#define LWR_RENDER_H

#include "aggregate.h"

#include <jansson.h>
#include <stdio.h>

/* At most this many samples are shown per site in text. */
#define LWR_TEXT_SAMPLES 3

/* The frame formatting of every output for people (report, run, diff, trend, triage, JUnit, the comments of
 * generated suppressions): one place, so that they show a frame alike. They write raw names into buf (cut to
 * len bytes with the NUL); the caller escapes them for its medium (lwr_show for a terminal). */

/* A short name of a frame: its function, else "module+0xoffset" (module basename), else "0xaddress". */
void lwr_frame_label(const lwr_frame_t *f, char *buf, size_t len);

/* The frame's position: `file:line:column`, `file:line` when the column is unknown, `file` when the line is,
 * "" without a file; the file's base name when `base`, else its path. */
void lwr_frame_position(const lwr_frame_t *f, bool base, char *buf, size_t len);

/* Where a frame is, in one line: its label, then its position with the file's base name when it has a file
 * (`make_table demo.c:41:17`, `Perl_safesysmalloc`, `libffi.so.8+0x6f7a`). */
void lwr_frame_where(const lwr_frame_t *f, char *buf, size_t len);

/* The text of a frame in a stack, as every text output lists one: `function file:line:column (module)` (the
 * position as lwr_frame_position, the module's base name), `function (module+0xoffset)` without a file,
 * `0xaddress (module+0xoffset)` without a function (`0xaddress (module)` where the offset is the address: a
 * non-PIE executable), `0xaddress (no module)` outside every module. */
#define LWR_FRAME_TEXT_MAX 16384
void lwr_frame_text(const lwr_frame_t *f, char *buf, size_t len);

/* The title of a site's block in the text report, without its processes: `heap: 72 bytes in 3 blocks` (definite
 * or unclassified), `heap, indirect (only leaked blocks point to them): ...`, `heap, indirect cycle (no definite
 * block reaches it): ...` (a cycle's head), `heap, reachable (still pointed to at exit, not a leak): ...`,
 * `mmap: 2 mappings, 8.0 KiB (8192 bytes) still mapped or created`, `fd: 1 descriptor still open`, `thread: 1
 * thread still open (neither joined nor detached)`. The site's own blocks only: the text report titles a site
 * heading indirect blocks with all it heads instead. JUnit's failures say the same. */
#define LWR_SITE_TITLE_MAX 160
void lwr_site_title(const lwr_site_t *s, char *buf, size_t len);

/* The frame as JSON, as every JSON document has it (report, diff and trend frames of docs/FORMAT.md: function,
 * file, line, column, module, address, offset), or NULL when out of memory. */
json_t *lwr_frame_json(const lwr_frame_t *f);

/* Writes frame i of a stack as the text report does: `    #i function file:line:column (module)` (docs/FORMAT.md
 * text report). */
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

/* Whether the text report ends with generated suppressions: --gen-suppressions, and a site it shows. */
bool lwr_has_generated(const lwr_report_t *report);

/* Writes the block of generated suppressions the text report ends with (--gen-suppressions): a title line, then
 * per site shown a `# KIND: ... at WHERE` comment and the line of lwr_supp_generate that hides it; sites that get
 * the same line share it (their comments, then the line once). */
void lwr_render_generated(FILE *out, const lwr_report_t *report);

/* Writes the report as JSON (`leakwatch_report: 1`, members as in docs/FORMAT.md, `gate` only when the report
 * has one), indented, ending with a newline. Returns 0, or -1 when out of memory or writing failed. */
int lwr_render_json(FILE *out, const lwr_report_t *report);

/* Writes `root` with json_dumpf `flags` and a newline, flushes, and drops the reference to `root`. Returns 0, or
 * -1 when `root` is NULL (out of memory) or writing failed. */
int lwr_json_write(FILE *out, json_t *root, size_t flags);

/* Writes the JSON report to the file at `path` (replacing it). Returns 0 or an errno value. */
int lwr_render_json_file(const char *path, const lwr_report_t *report);

#endif
