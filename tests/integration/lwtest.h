/* Shared helpers for the integration tests: run commands plain, under LD_PRELOAD or under `leakwatch run`, and
 * query the report JSON (docs/FORMAT.md) they produce. */
#ifndef LWTEST_H
#define LWTEST_H

#include <check.h>
#include <stddef.h>
#include <jansson.h>

/* A NULL-terminated argument vector literal: LWT_ARGV("a", "b") */
#define LWT_ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* How a command ran. Strings are NUL-terminated and owned by the result. */
typedef struct {
    int exited;         /* 1 when the command exited normally */
    int exit_code;      /* WEXITSTATUS, or -1 */
    int term_sig;       /* WTERMSIG, or 0 */
    int timed_out;      /* 1 when the deadline passed and the process group was killed */
    char *out;          /* captured stdout */
    size_t out_len;
    char *err;          /* captured stderr */
    size_t err_len;
    json_t *report;     /* the parsed `--json` report of a leakwatch run, or NULL */
    char *report_error; /* why the report could not be read, or NULL */
    char *desc;         /* the command line, for messages */
    char *tmpdir;       /* private temporary directory, removed by lwt_free */
} lwt_result_t;

/* Options for lwt_exec. Every member may be left zero. */
typedef struct {
    const char *const *env;  /* extra NAME=VALUE entries added to (or replacing in) the inherited environment */
    const char *stdin_text;  /* fed to stdin; /dev/null when NULL */
    const char *cwd;         /* working directory of the child */
    int timeout_s;           /* deadline, default 150 s */
    int broken_stderr;       /* stderr is a pipe nobody reads (writes fail with EPIPE or SIGPIPE); r->err stays empty */
} lwt_opts_t;

/* Paths: the source root ($LEAKWATCH_ROOT, default "."), the build directory ($LEAKWATCH_BUILD, default
 * "<root>/build"), the CLI, the library, and build/tests/fixtures/NAME. Returned strings are static or interned;
 * never free them. */
const char *lwt_root(void);
const char *lwt_build(void);
const char *lwt_cli(void);
const char *lwt_lib(void);
const char *lwt_fixture(const char *name);
/* The first existing path among the candidates (e.g. "/usr/bin/python3", "python3"), for real programs. */
const char *lwt_which(const char *const *candidates);

/* Runs argv (argv[0] is looked up in PATH) with stdout and stderr captured. Never returns NULL. */
lwt_result_t *lwt_exec(const char *const *argv, const lwt_opts_t *opts);
/* Runs argv with LD_PRELOAD=<lib>, LEAKWATCH_REPORT=none and LEAKWATCH_DUMP_DIR set to a private directory. */
lwt_result_t *lwt_exec_preload(const char *const *argv, const lwt_opts_t *opts);
/* Runs `leakwatch run --json <tmp> <lw_args...> -- <cmd...>` and loads the report (r->report) when it exists.
 * lw_args may be NULL. */
lwt_result_t *lwt_leakwatch(const char *const *lw_args, const char *const *cmd, const lwt_opts_t *opts);
void lwt_free(lwt_result_t *r);

/* Whether two runs ended the same way (exit status or signal) and wrote the same stdout. */
int lwt_same_outcome(const lwt_result_t *a, const lwt_result_t *b);

/* A multi-line description of a result (status, stderr head, report sites), for assertion messages. Valid until
 * the next call. */
const char *lwt_describe(const lwt_result_t *r);

/* The decimal value printed by a fixture as "NAME=VALUE" anywhere in stdout, or `dflt` when absent. */
long long lwt_out_value(const lwt_result_t *r, const char *name, long long dflt);

/* --- Report accessors. `kind` NULL means every kind. Missing members read as -1. The site accessors look at
 * leak sites only: sites of class `reachable` are skipped. --- */
long long lwt_total_count(json_t *report, const char *kind);
long long lwt_total_bytes(json_t *report, const char *kind);
/* Number of entries in `sites` of `kind`. */
long long lwt_site_total(json_t *report, const char *kind);
long long lwt_process_count(json_t *report);
/* The process entry whose pid is `pid`, or NULL. */
json_t *lwt_process(json_t *report, long long pid);

/* The frame of `site` whose function is `func`, or NULL. */
json_t *lwt_site_frame(json_t *site, const char *func);
/* The index-th site (0-based) of `kind` whose frames include function `func`; when `file` is not NULL that frame's
 * file must end with "/<file>" or equal it, and when line > 0 its line must equal `line`. NULL when none. */
json_t *lwt_find_site(json_t *report, const char *kind, const char *func, const char *file, int line, int index);
/* How many sites match, and the sums of their count and bytes. */
int lwt_match_sites(json_t *report, const char *kind, const char *func, long long *count, long long *bytes);
/* Position of `site` in the report's sites array, or -1. */
int lwt_site_index(json_t *report, json_t *site);
long long lwt_site_count(json_t *site);
long long lwt_site_bytes(json_t *site);
/* Number of pids in the site's `pids`, and whether `pid` is one of them. */
int lwt_site_npids(json_t *site);
int lwt_site_has_pid(json_t *site, long long pid);
/* Integer member of an object, -1 when absent or not an integer. */
long long lwt_int(json_t *obj, const char *key);

/* Line number (1-based) of the first line of ROOT/relpath containing `marker`, or -1. */
int lwt_marker_line(const char *relpath, const char *marker);

/* A fresh private temporary directory (mkdtemp); the caller removes it with lwt_rmtree. */
char *lwt_mkdtemp(void);
void lwt_rmtree(const char *path);
/* Writes text to path; returns 0 or -1. */
int lwt_write_file(const char *path, const char *text);
/* The state letter (R, S, Z, ...) and parent of process pid from /proc/PID/stat; returns 0, or -1 when the
 * process is gone. */
int lwt_proc_stat(long pid, char *state, long *ppid);

/* ---- Assertions (Check). Each records the caller's file and line and prints lwt_describe(r) on failure. ---- */

/* The run finished in time, wrote a parseable report, and exited with `code`. */
#define LWT_ASSERT_RUN(r, code) lwt_assert_run_at((r), (code), __FILE__, __LINE__)
void lwt_assert_run_at(const lwt_result_t *r, int code, const char *file, int line);

/* Exactly one site of `kind` has a frame in function `func`, and it holds `count` blocks of `bytes` bytes in all.
 * When src_file is not NULL, that frame is in src_file (matched by path suffix) at `src_line` (when > 0).
 * Returns the site. */
#define LWT_ASSERT_SITE(r, kind, func, count, bytes) \
    lwt_assert_site_at((r), (kind), (func), (count), (bytes), NULL, 0, __FILE__, __LINE__)
#define LWT_ASSERT_SITE_AT(r, kind, func, count, bytes, src_file, src_line) \
    lwt_assert_site_at((r), (kind), (func), (count), (bytes), (src_file), (src_line), __FILE__, __LINE__)
json_t *lwt_assert_site_at(const lwt_result_t *r, const char *kind, const char *func, long long count,
                           long long bytes, const char *src_file, int src_line, const char *file, int line);

/* No site of any kind has a frame in function `func`. */
#define LWT_ASSERT_NO_SITE(r, func) lwt_assert_no_site_at((r), (func), __FILE__, __LINE__)
void lwt_assert_no_site_at(const lwt_result_t *r, const char *func, const char *file, int line);

/* The report's totals of `kind` (NULL: every kind) are `count` handles of `bytes` bytes; `why` says what that
 * means for the test. */
#define LWT_ASSERT_TOTALS(r, kind, count, bytes, why) \
    lwt_assert_totals_at((r), (kind), (count), (bytes), (why), __FILE__, __LINE__)
void lwt_assert_totals_at(const lwt_result_t *r, const char *kind, long long count, long long bytes, const char *why,
                          const char *file, int line);

/* `site` was reported by process `pid` alone; `why` says what that means for the test. */
#define LWT_ASSERT_ONE_PID(r, site, pid, why) lwt_assert_one_pid_at((r), (site), (pid), (why), __FILE__, __LINE__)
void lwt_assert_one_pid_at(const lwt_result_t *r, json_t *site, long long pid, const char *why, const char *file,
                           int line);

/* The report's sites are sorted by bytes, then count, descending, reachable sites after every leak site. */
#define LWT_ASSERT_SORTED(r) lwt_assert_sorted_at((r), __FILE__, __LINE__)
void lwt_assert_sorted_at(const lwt_result_t *r, const char *file, int line);

/* The marker's line in ROOT/relpath, failing the test when it is missing. */
#define LWT_MARKER_LINE(relpath, marker) lwt_marker_line_at((relpath), (marker), __FILE__, __LINE__)
int lwt_marker_line_at(const char *relpath, const char *marker, const char *file, int line);

/* Runs every test of `s` (CK_NORMAL) and frees the runner. Returns the test program's exit status: EXIT_SUCCESS,
 * or EXIT_FAILURE when a test failed. */
int lwt_run_suite(Suite *s);

/* Whether the CLI and the library are built; tests that need them fail with a clear message otherwise. */
#define LWT_REQUIRE_BUILT() lwt_require_built_at(__FILE__, __LINE__)
void lwt_require_built_at(const char *file, int line);

#endif
