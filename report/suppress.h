/* Suppressions: LeakSanitizer-style `leak:PATTERN` lines plus fd/socket/thread/timer lines, read from files and
 * a built-in list, matched against every frame of a report site, and applied to a report. */
#ifndef LWR_SUPPRESS_H
#define LWR_SUPPRESS_H

#include "aggregate.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    lwr_kind_t kind;        /* `leak:` is LWR_HEAP */
    char *pattern;          /* as written after the colon, blanks around it removed */
    char *file;             /* the file it was read from, NULL for the built-in list */
    unsigned line;          /* line in that file; position (from 1) in the built-in list */
    bool builtin;
    bool warning;           /* a `warning:TYPE[:PATTERN]` line: `pattern` holds TYPE[:PATTERN], kind is unused */
    const char *inner;      /* built-in only: the frames inside the matching one must lie in a module whose base
                             * name starts with this (static string), NULL for no condition */
} lwr_supp_t;

typedef struct {
    lwr_supp_t *v;
    size_t n, cap;
} lwr_supplist_t;

#define LWR_SUPPLIST_INIT { NULL, 0, 0 }

/* Whether `name` matches a suppression pattern. `*` matches any run of characters (`/` included), every other
 * character itself. The pattern may match any part of the name unless it starts with `^` (then it must match
 * from the name's first character) or ends with `$` (then up to its last). NULL and empty names never match. */
bool lwr_supp_glob(const char *pattern, const char *name);

/* Parses `len` bytes of suppression text; `file` names it in errors and in the entries. Lines are `TYPE:PATTERN`
 * with TYPE one of leak, fd, socket, thread, timer, or `warning:WTYPE` and `warning:WTYPE:PATTERN` with WTYPE
 * bad-close, double-close, fd-into-exec or `*` (an unknown WTYPE is malformed too); blank lines and lines starting with `#` are skipped; blanks
 * around a line, its type and its pattern are ignored. Returns 0, or -1 with `FILE:LINE: reason` in err (at most
 * errlen bytes) for the first malformed line (no colon, unknown type, empty pattern) or when out of memory;
 * entries of the lines before it stay in the list. */
int lwr_supp_parse(lwr_supplist_t *list, const char *text, size_t len, const char *file, char *err, size_t errlen);

/* Bounds of a suppression file: lines longer than LWR_SUPP_MAX_LINE bytes and files larger than
 * LWR_SUPP_MAX_BYTES are errors. */
#define LWR_SUPP_MAX_LINE 4096
#define LWR_SUPP_MAX_BYTES ((uint64_t)16 << 20)

/* Reads the file at `path` (at most LWR_SUPP_MAX_BYTES; a pipe is read to its end) with lwr_supp_parse. A file
 * that cannot be read is an error too (`PATH: reason`). */
int lwr_supp_load(lwr_supplist_t *list, const char *path, char *err, size_t errlen);

/* Appends the built-in list: allocations of the C runtime, the dynamic linker and libstdc++ that may remain at
 * exit without being the program's leaks. Returns 0, or -1 when out of memory. */
int lwr_supp_add_builtin(lwr_supplist_t *list);

/* The list `leakwatch run` and `report` use: the files of LEAKWATCH_SUPPRESSIONS (`env`, colon-separated, empty
 * parts skipped; NULL for none), then `files`, then the built-in list unless `no_builtin`. Returns 0, or -1 with
 * the first error in err. */
int lwr_supp_setup(lwr_supplist_t *list, const char *env, const char *const *files, size_t nfiles, bool no_builtin,
                   char *err, size_t errlen);

/* Whether the suppression hides `site`: same kind (leak: for heap sites of every class), and the pattern matches
 * the function, the file (full path or base name), the module (full path or base name) or the position
 * (`FILE:LINE` and `FILE:LINE:COLUMN`, full path or base name of the file) of one of its frames (for a built-in
 * entry with `inner`, the first such frame, and every frame inside it lies in that module). A pattern with `;`
 * is a stack, `P0;P1;...;Pn`: Pi must match frame i as above, from the innermost, `*` alone any frame. */
bool lwr_supp_matches(const lwr_supp_t *supp, const lwr_site_t *site);

/* Whether the `warning:` suppression hides warning `w`: its type is WTYPE (any with `*`), and when a PATTERN is
 * given it matches a frame of either of the warning's stacks as lwr_supp_matches matches a site's. */
bool lwr_supp_matches_warning(const lwr_supp_t *supp, const lwr_warning_t *w);

/* Removes the sites that a suppression of `list` hides (the first matching entry takes the site) from the report
 * and from its totals (reachable sites from `reachable`), and the warnings a `warning:` entry hides, and records
 * in report->supps what each entry hid (a warning entry counts the warnings in `hidden.count`);
 * report->has_suppressions becomes true. Returns 0, or -1 when out of memory. */
int lwr_supp_apply(lwr_report_t *report, const lwr_supplist_t *list);

/* The suppression line (`leak:...`, `fd:...`; malloc'd, no newline) that hides site `index` of the report and no
 * other of its sites: the stack pattern of its frames from the innermost, each frame by what tells it from other
 * frames as sites are merged (its position `^tree.c:6:22$`, else its function, else its place in its module
 * `^perl+0x1b9ec8$`, else its module), as few frames as tell it from every other site and reach the frame that
 * acquired it in the program (lwr_acquiring_frame); one frame is a plain LeakSanitizer pattern. Sites with the
 * same frames (another class) or with more frames below the same ones cannot be told apart: the line is the
 * shortest that hides those and no other site. NULL for a site without frames, a line longer than
 * LWR_SUPP_MAX_LINE, or out of memory. */
char *lwr_supp_generate(const lwr_report_t *report, size_t index);

/* lwr_supp_generate for site `index` of `n` sites of which only kind, frames and nframes are read (triage's sites,
 * matched across dumps by the same identity as report sites). */
char *lwr_supp_generate_sites(const lwr_site_t *sites, size_t n, size_t index);

void lwr_supplist_free(lwr_supplist_t *list);

#endif
