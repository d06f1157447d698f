/* What the subcommands of the leakwatch command share: their table entry type, exit codes, argument and dump
 * directory helpers, and the exit-status rule of `leakwatch run`. */
#ifndef LWR_CLI_H
#define LWR_CLI_H

#include "dump.h"

#include <stddef.h>
#include <stdint.h>

#define LWR_VERSION "0.1.0"

/* Exit codes of the leakwatch command (README and `leakwatch --help` list them). */
#define LWR_EXIT_LEAKS 23       /* run: more leaks than --max-leaks (default; --exit-code changes it) */
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

/* Prints `leakwatch CMD: MESSAGE` and a hint to `leakwatch CMD --help` on stderr; returns LWR_EXIT_USAGE. */
int lwr_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a decimal number in [0, max] with nothing around it. Returns 0, or -1 (then *out is unchanged). */
int lwr_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* If argv[*i] is option `name` (e.g. "--json"), takes its value, from `--json=V` or from the next argument,
 * and advances *i past it. Returns 1 when the option matched with a value, 0 when argv[*i] is another
 * argument, -1 when it matched but the value is missing (a usage error has been printed then). */
int lwr_take_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);

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

/* Loads the dumps of directory `dir`: of the files named `leakwatch.<pid>.<seq>.json`, the one with the highest
 * seq of each pid. A dump that cannot be read is reported on stderr (`leakwatch: FILE: ...`) and skipped.
 * Returns the number of dumps that could not be read, or -1 when the directory cannot be read (reported too). */
int lwr_collect_dir(const char *dir, lwr_dumplist_t *list);

/* Removes the files of `dir` (not recursing) and the directory itself. Returns 0 or an errno value. */
int lwr_remove_dir(const char *dir);

/* The exit status of `leakwatch run`. `wait_status` is CMD's status as waitpid returns it; `leaks` the gated
 * count. CMD killed by signal S: 128 + S. Else more leaks than `max_leaks`: `leak_exit_code`. Else CMD's own
 * exit status. */
int lwr_run_exit_status(int wait_status, uint64_t leaks, uint64_t max_leaks, int leak_exit_code);

#endif
