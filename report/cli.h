/* What the subcommands of the leakwatch command share: their table entry type, exit codes, argument and dump
 * directory helpers, and the exit-status rule of `leakwatch run`. */
#ifndef LWR_CLI_H
#define LWR_CLI_H

#include "dump.h"
#include "symbolize.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LWR_VERSION "0.1.0"

/* Exit codes of the leakwatch command (README and `leakwatch --help` list them). */
#define LWR_EXIT_LEAKS 23       /* run: more leaks than --max-leaks (default; --exit-code changes it) */
#define LWR_EXIT_UNCHECKED 24   /* run: some process could not be checked (--allow-unchecked accepts it) */
#define LWR_EXIT_USAGE 2        /* a usage error */
#define LWR_EXIT_INTERNAL 125   /* leakwatch itself failed: no library, no temp dir, fork failed, ... */
#define LWR_EXIT_NOEXEC 126     /* run: CMD exists but cannot be executed */
#define LWR_EXIT_NOTFOUND 127   /* run: CMD not found */

/* One subcommand. Adding a command is one file defining an lwr_command_t and one entry in main.c's table. */
typedef struct {
    const char *name;
    const char *summary;        /* one line for `leakwatch --help` */
    const char *usage;          /* the full text of `leakwatch help NAME`, ending with a newline */
    int (*main)(int argc, char **argv);     /* argv[0] is the command name; returns the exit status */
} lwr_command_t;

extern const lwr_command_t lwr_cmd_run;
extern const lwr_command_t lwr_cmd_report;
extern const lwr_command_t lwr_cmd_diff;
extern const lwr_command_t lwr_cmd_trend;
extern const lwr_command_t lwr_cmd_triage;
extern const lwr_command_t lwr_cmd_baseline;
extern const lwr_command_t lwr_cmd_dump;
extern const lwr_command_t lwr_cmd_attach;

/* Prints `leakwatch CMD: MESSAGE` and a hint to `leakwatch CMD --help` on stderr; returns LWR_EXIT_USAGE. */
int lwr_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a decimal number in [0, max] with nothing around it. Returns 0, or -1 (then *out is unchanged). */
int lwr_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* If argv[*i] is option `name` (e.g. "--json"), takes its value, from `--json=V` or from the next argument,
 * and advances *i past it. Returns 1 when the option matched with a value, 0 when argv[*i] is another
 * argument, -1 when it matched but the value is missing (a usage error has been printed then). */
int lwr_take_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);

/* Offers argv[*i] to a command's own options: returns as lwr_take_option (1 taken and *i advanced, 0 not one of
 * its options, -1 a usage error that has been printed). */
typedef int (*lwr_option_fn)(const char *cmd, int argc, char **argv, int *i, void *opts);

/* Reads the options that come before a command's operands, from argv[1]: `--help` or `-h` prints `usage` on
 * stdout, `--` ends the options, `take` is offered every other argument, an unknown option is a usage error,
 * and the first other argument is the first operand. Returns -1 when the command goes on, with *first the index
 * of the first operand (argc when there is none); else the exit status to return: 0 after --help, LWR_EXIT_USAGE
 * on a usage error (printed). */
int lwr_parse_options(const char *cmd, const char *usage, int argc, char **argv, lwr_option_fn take, void *opts,
                      int *first);

/* At most this many --debug-dir options (nothing is allocated while the options are read). */
#define LWR_MAX_DEBUG_DIRS 64

/* The options of every command that symbolizes dumps (run, report, diff, trend, triage): where the debug files
 * of stripped objects are and under which root moved objects are. */
typedef struct {
    const char *debug_dirs[LWR_MAX_DEBUG_DIRS];     /* --debug-dir, in the order given */
    size_t ndebug_dirs;
    const char *sysroot;                            /* --sysroot, NULL without */
} lwr_sym_opts_t;

#define LWR_SYM_OPTS_INIT { { NULL }, 0, NULL }

/* Their lines of `leakwatch help CMD`. */
#define LWR_SYM_OPTS_USAGE \
    "  --debug-dir DIR      where separate debug files of stripped objects are, for dumps read on another\n" \
    "                       machine: DIR/<debuglink name>, DIR/.build-id/xx/rest.debug, DIR/<object's name>;\n" \
    "                       repeatable, searched in order (DEBUGINFOD_URLS servers are asked last, by build-id)\n" \
    "  --sysroot DIR        look for an object not found at its recorded path under DIR (DIR/usr/lib/libx.so),\n" \
    "                       and for its debug file in DIR/usr/lib/debug\n"

/* Takes --debug-dir DIR or --sysroot DIR into `opts` (an lwr_sym_opts_t); an lwr_option_fn. An empty DIR and
 * more than LWR_MAX_DEBUG_DIRS --debug-dir are usage errors. */
int lwr_take_sym_option(const char *cmd, int argc, char **argv, int *i, void *opts);

/* A symbolizer that looks where `opts` says. Returns NULL when out of memory (then "leakwatch: out of memory" is
 * on stderr). */
lwr_symbolizer_t *lwr_sym_opts_symbolizer(const lwr_sym_opts_t *opts);

/* The options of the commands that print ranked sites (diff, trend). */
typedef struct {
    const char *format;     /* "text" or "json" */
    const char *output;     /* NULL: standard output */
    uint64_t top;           /* sites shown in text, 0 for all */
    lwr_sym_opts_t sym;     /* --debug-dir, --sysroot */
} lwr_table_opts_t;

#define LWR_TABLE_OPTS_INIT { "text", NULL, 10, LWR_SYM_OPTS_INIT }

/* Takes --format text|json, --top N, --output FILE, --debug-dir DIR or --sysroot DIR into `opts` (an
 * lwr_table_opts_t); an lwr_option_fn. */
int lwr_take_table_option(const char *cmd, int argc, char **argv, int *i, void *opts);

/* Opens `path` for writing, or gives standard output when it is NULL. Returns NULL when the file cannot be
 * opened (named on stderr then). */
FILE *lwr_output_open(const char *path);

/* Ends the output that lwr_output_open gave after writing it returned `rc` (0, or -1 when writing failed, errno
 * saying why): closes a file (a failing close is a failed write) and names a failure on stderr as "writing PATH
 * failed: REASON", with `what` (e.g. "the report") for standard output; a reader gone (EPIPE, `| head`) is not
 * named. Returns 0, or 1 when the output failed. */
int lwr_output_close(FILE *out, const char *path, const char *what, int rc);

/* A growing list of loaded dumps. */
typedef struct {
    lwr_dump_t **v;
    size_t n, cap;
} lwr_dumplist_t;

/* Appends a dump; the list takes ownership. Returns 0, or -1 (then the dump is freed). */
int lwr_dumplist_add(lwr_dumplist_t *list, lwr_dump_t *dump);

/* Sorts by pid, then seq. */
void lwr_dumplist_sort(lwr_dumplist_t *list);

void lwr_dumplist_free(lwr_dumplist_t *list);

/* Whether a dump that a newer dump of the same pid follows is still read: only an "exec" dump is, since the image
 * that exec'd wrote its warnings there (it holds no sites) and the new image of the pid wrote the newer ones. */
bool lwr_older_dump_kept(const lwr_dump_t *dump);

/* Loads the dumps of directory `dir`: of the files named `leakwatch.<pid>.<seq>.json`, the one with the highest
 * seq of each pid and the older ones lwr_older_dump_kept keeps. A dump that cannot be read is reported on stderr
 * (`leakwatch: FILE: ...`) and skipped. Returns the number of dumps that could not be read, or -1 when the
 * directory cannot be read (reported too). */
int lwr_collect_dir(const char *dir, lwr_dumplist_t *list);

/* Loads the `n` dump files or directories at `paths` into `list`: a directory through `add_dir` (lwr_collect_dir
 * or lwr_series_add_dir), a file as itself. What cannot be read is named on stderr. Returns 0, or 1 when a dump
 * or directory could not be read or the list could not grow. */
int lwr_load_dumps(char *const *paths, int n, int (*add_dir)(const char *dir, lwr_dumplist_t *list),
                   lwr_dumplist_t *list);

/* Removes the files of `dir`, its users' `uid-<N>` directories with theirs, and `dir` itself. Returns 0 or an errno
 * value. */
int lwr_remove_dir(const char *dir);

/* Whether `name` in dirfd is a user's directory of a dump directory, `uid-<N>`, where processes that became that
 * user write their dumps (README, dumps across a change of user): a real directory, not a link. */
int lwr_is_user_dir(int dirfd, const char *name);

/* The exit status of `leakwatch run`. `wait_status` is CMD's status as waitpid returns it; `leaks` the gated
 * count. CMD killed by signal S: 128 + S. Else more leaks than `max_leaks`: `leak_exit_code`. Else CMD's own
 * exit status. */
int lwr_run_exit_status(int wait_status, uint64_t leaks, uint64_t max_leaks, int leak_exit_code);

/* The one operand of a command that takes a process (dump, attach): argv[first], a pid. Returns 0 with *pid
 * set, or LWR_EXIT_USAGE after printing the usage error. */
int lwr_pid_operand(const char *cmd, int argc, char **argv, int first, long *pid);

/* Where libleakwatch.so is: LEAKWATCH_LIB, else relative to this executable (../lib, ../lib/leakwatch).
 * Returns a malloc'd absolute path, or NULL with the reason printed. */
char *lwr_find_library(void);

#endif
