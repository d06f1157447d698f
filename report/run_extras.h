/* What `leakwatch run` does besides running, reporting and gating: the checks of its output paths before the
 * command starts, the kept dumps (--keep-dumps), the per-process logs (--log-dir), the summary of --quiet and
 * the LeakSanitizer options it maps (LSAN_OPTIONS). */
#ifndef LWR_RUN_EXTRAS_H
#define LWR_RUN_EXTRAS_H

#include "aggregate.h"
#include "ci.h"
#include "cli.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* LSAN_OPTIONS (README, LeakSanitizer's options), as far as leakwatch maps them. */
typedef struct {
    char *buf;                  /* a copy of the variable; the strings below point into it */
    const char *suppressions;   /* suppressions=FILE, NULL when absent */
    bool has_exitcode;          /* exitcode=N */
    int exitcode;
    const char *log_path;       /* log_path=PREFIX (reports go to PREFIX.<pid>); NULL when absent or "stderr" */
    bool no_detect;             /* detect_leaks=0 */
    uint64_t max_leaks;         /* max_leaks=N: at most N sites in the text report; 0 for all */
} lwr_lsan_t;

/* Parses `text` (LSAN_OPTIONS: name=value pairs separated by ':', ',' or blanks, values optionally quoted with '
 * or "). Every option leakwatch does not map, and every value it cannot use, is named once on stderr
 * (`leakwatch: LSAN_OPTIONS: ... is not used by leakwatch`); `text` NULL is an empty list. Returns 0, or -1 when out
 * of memory. */
int lwr_lsan_parse(const char *text, lwr_lsan_t *out);

void lwr_lsan_free(lwr_lsan_t *l);

/* Puts the suppressions= file of `l` first among the suppression files of `ci` (read first, as those of
 * LEAKWATCH_SUPPRESSIONS are). Returns 0, or -1 when there is no room for one more (said, for command `cmd`). */
int lwr_lsan_add_suppressions(const lwr_lsan_t *l, lwr_ci_t *ci, const char *cmd);

/* `leakwatch report --lsan` (what the library runs at exit by hand when LSAN_OPTIONS is set): writes the text
 * report to standard output, or with log_path= to `PREFIX.<pid>` (created as lwr_write_logs does), at most
 * max_leaks= sites. Returns the exit status: exitcode= (when set and not 0) if the report has leaks, else 0, or 1
 * when the report could not be written. */
int lwr_lsan_report(const lwr_lsan_t *l, const lwr_report_t *rep);

/* Whether the file at `path` (option `opt`, e.g. "--json") can be written: an existing one is opened for writing
 * without being truncated, a missing one is created exclusively and removed again. Returns 0, or an errno value
 * after naming the option, the path and the reason on stderr. */
int lwr_check_output(const char *opt, const char *path);

/* Makes `dir` ready to receive files for option `opt`: created (mode 0700) when missing, and when it is shared the
 * way /tmp is (sticky, writable by its group or others) its private `leakwatch-<euid>` directory (mode 0700, owned
 * by the user, not a link), as the library does for dumps. The directory to use goes to out. Returns 0, or an
 * errno value after saying why on stderr. */
int lwr_prepare_dir(const char *opt, const char *dir, char *out, size_t outlen);

/* Moves the dump `name` of directory `from` into directory `to` under the same name, or when that is taken under
 * the same pid with the next free seq (nothing is ever replaced). On one filesystem it is a rename and the file
 * keeps its owner; across filesystems it is copied into a new file (mode 0600, created exclusively) and the old
 * one removed. The new path goes to newpath. Returns 0 or an errno value. */
int lwr_keep_dump(const char *from, const char *name, const char *to, char *newpath, size_t len);

/* Whether users other than a directory's owner can pass through every directory on the way to `path` (resolved),
 * `path` included, by the permission bits for others. Returns 0 when they can, 1 with the first directory that
 * stops them in `closed` (size len), or -1 when `path` cannot be resolved. */
int lwr_closed_to_others(const char *path, char *closed, size_t len);

/* Writes one text report per process of `dumps` (sorted by pid), built with `sym` and the run's suppressions and
 * baseline: into `dir` named `EXE.<pid>.log` (EXE the executable's base name, bytes other than letters, digits,
 * '-' and '_' as '_'), or, with `prefix`, at `PREFIX.<pid>` (LSAN_OPTIONS log_path). Files are created
 * exclusively, never through a link, mode 0600; a name that exists gets `.2`, `.3`, ... Returns 0, or -1 after
 * naming on stderr what could not be written. */
int lwr_write_logs(const lwr_dumplist_t *dumps, lwr_symbolizer_t *sym, const lwr_ci_t *ci, const char *dir,
                   const char *prefix);

/* Writes the text report to `out`: whole, or with `quiet` only its summary (the lines starting with `SUMMARY:`,
 * else its first line) after the generated suppressions when there are some (--gen-suppressions), or with `max_sites` > 0 only that many sites (the first line still counts them all, and
 * a last line says how many were left out). Returns 0, or -1 when writing failed. */
int lwr_render_text_limited(FILE *out, const lwr_report_t *r, bool quiet, uint64_t max_sites);

#endif
