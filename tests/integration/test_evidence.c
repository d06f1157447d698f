/* Integration tests of what `leakwatch run` leaves for later and how it is told what to do: kept dumps
 * (--keep-dumps, LEAKWATCH_DUMP_DIR) and saved JSON reports read again by report, diff, triage and the flame
 * graphs, output paths checked before the command starts, per-process logs (--log-dir), --quiet, and
 * LSAN_OPTIONS under run and by hand. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwtest.h"

static char *xfmt(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    char *s = malloc(n);
    ck_assert_ptr_nonnull(s);
    snprintf(s, n, fmt, a, b ? b : "");
    return s;
}

/* The names in `dir` that start with `prefix`, counted; the first goes to *first (malloc'd) when not NULL. */
static int count_names(const char *dir, const char *prefix, char **first)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (first)
        *first = NULL;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            if (first && !*first)
                *first = strdup(e->d_name);
            n++;
        }
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *s = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(s);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

static long count_lines(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* `leakwatch run ARGS -- gate_leaker N STATUS`, with `env` added. */
static lwt_result_t *run_leaker(const char *const *args, const char *n, const char *status, const char *const *env)
{
    const char *argv[32];
    size_t k = 0;
    argv[k++] = lwt_cli();
    argv[k++] = "run";
    for (size_t i = 0; args && args[i]; i++)
        argv[k++] = args[i];
    argv[k++] = "--";
    argv[k++] = lwt_fixture("gate_leaker");
    argv[k++] = n;
    argv[k++] = status;
    argv[k] = NULL;
    lwt_opts_t o = { .env = env };
    return lwt_exec(argv, &o);
}

START_TEST(test_keep_dumps_are_read_by_report_diff_and_flame)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    char *keep = xfmt("%s/kept/dumps", tmp, NULL), *json = xfmt("%s/r.json", tmp, NULL);
    char *parent = xfmt("%s/kept", tmp, NULL);
    ck_assert_int_eq(mkdir(parent, 0700), 0);
    lwt_result_t *r = run_leaker(LWT_ARGV("--keep-dumps", keep, "--json", json), "3", "0", NULL);
    ck_assert_msg(r->exited && r->exit_code == 23, "the gate still fails%s", lwt_describe(r));
    char *name = NULL;
    ck_assert_msg(count_names(keep, "leakwatch.", &name) == 1, "one dump kept in %s (created)%s", keep,
                  lwt_describe(r));
    ck_assert_msg(count_names(keep, ".leakwatch-run.", NULL) == 0, "the run's own directory is gone%s",
                  lwt_describe(r));
    char *dump = xfmt("%s/%s", keep, name);
    struct stat st;
    ck_assert_int_eq(stat(dump, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0600, "a kept dump stays mode 0600, not %o", st.st_mode & 0777);
    ck_assert_int_eq(stat(keep, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0700, "the directory is made 0700, not %o", st.st_mode & 0777);

    /* the JSON report names the dump that stayed */
    json_t *rep = json_load_file(json, 0, NULL);
    ck_assert_ptr_nonnull(rep);
    json_t *p = json_array_get(json_object_get(rep, "processes"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "dump")), name);
    json_decref(rep);

    /* report reads the kept dump and the saved report alike: the same folded stacks */
    lwt_result_t *a = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "folded", dump), NULL);
    lwt_result_t *b = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "folded", json), NULL);
    ck_assert_msg(a->exit_code == 0 && strstr(a->out, ";main;gate_leak 96\n"), "%s", lwt_describe(a));
    ck_assert_msg(b->exit_code == 0 && strcmp(a->out, b->out) == 0, "the saved report folds as its dump:\n%s\n%s",
                  a->out, lwt_describe(b));
    lwt_result_t *svg = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "svg", json), NULL);
    ck_assert_msg(svg->exit_code == 0 && strstr(svg->out, "<svg") && strstr(svg->out, "gate_leak"),
                  "a saved report renders as a flame graph%s", lwt_describe(svg));
    lwt_result_t *t = lwt_exec(LWT_ARGV(lwt_cli(), "report", json), NULL);
    ck_assert_msg(t->exit_code == 0
                      && strstr(t->out, "leakwatch: 3 leaks at 1 site in 1 process: heap 3 blocks (96 bytes)")
                      && strstr(t->out, "#0 gate_leak ") && strstr(t->out, "gate_leaker.c:"),
                  "the text report of a saved report keeps its symbols%s", lwt_describe(t));
    /* diff of a saved report and the dump it came from: nothing grew */
    lwt_result_t *d = lwt_exec(LWT_ARGV(lwt_cli(), "diff", "--format", "json", json, dump), NULL);
    ck_assert_msg(d->exit_code == 0 && strstr(d->out, "\"unchanged\""), "%s", lwt_describe(d));
    lwt_free(a);
    lwt_free(b);
    lwt_free(svg);
    lwt_free(t);
    lwt_free(d);
    lwt_free(r);

    /* a second run into the same directory replaces nothing */
    r = run_leaker(LWT_ARGV("--keep-dumps", keep), "1", "0", NULL);
    ck_assert_msg(count_names(keep, "leakwatch.", NULL) == 2, "both runs' dumps are kept%s", lwt_describe(r));
    lwt_free(r);
    free(name);
    free(dump);
    free(keep);
    free(parent);
    free(json);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_without_keep_dumps_no_dump_is_named)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("gate_leaker")), NULL);
    LWT_ASSERT_RUN(r, 23);
    json_t *p = json_array_get(json_object_get(r->report, "processes"), 0);
    ck_assert_msg(json_is_null(json_object_get(p, "dump")), "the removed dump is not named%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_leakwatch_dump_dir_keeps_dumps)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    char *env = xfmt("LEAKWATCH_DUMP_DIR=%s", tmp, NULL);
    lwt_result_t *r = run_leaker(NULL, "2", "0", LWT_ARGV(env));
    ck_assert_msg(r->exit_code == 23 && count_names(tmp, "leakwatch.", NULL) == 1,
                  "run keeps its dumps in LEAKWATCH_DUMP_DIR%s", lwt_describe(r));
    lwt_free(r);
    free(env);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

/* Triage on a saved report, on a terminal (script(1) gives it one), shows its site and quits on q. */
START_TEST(test_triage_reads_a_saved_report)
{
    LWT_REQUIRE_BUILT();
    const char *script = lwt_which(LWT_ARGV("/usr/bin/script", "script"));
    ck_assert_msg(script != NULL, "script(1) not found (util-linux)");
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("gate_leaker")), NULL);
    LWT_ASSERT_RUN(r, 23);
    char *json = xfmt("%s/report.json", r->tmpdir, NULL);
    char *cmd = xfmt("%s triage %s", lwt_cli(), json);
    lwt_opts_t o = { .stdin_text = "q", .env = LWT_ARGV("TERM=xterm", "COLUMNS=80", "LINES=24") };
    lwt_result_t *t = lwt_exec(LWT_ARGV(script, "-qec", cmd, "/dev/null"), &o);
    ck_assert_msg(t->exited && t->exit_code == 0 && strstr(t->out, "gate_leak"), "%s", lwt_describe(t));
    lwt_free(t);
    free(cmd);
    free(json);
    lwt_free(r);
}
END_TEST

/* A report cut short or with a member of the wrong type is refused with the line or the member named. */
START_TEST(test_bad_saved_reports_are_named)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    char *cut = xfmt("%s/cut.json", tmp, NULL), *bad = xfmt("%s/bad.json", tmp, NULL);
    ck_assert_int_eq(lwt_write_file(cut, "{\"leakwatch_report\": 1, \"totals\": {\"heap\": {\"count\": 1,"), 0);
    ck_assert_int_eq(lwt_write_file(bad, "{\"leakwatch_report\": 1, \"totals\": {}, \"sites\": [], \"processes\": []}"),
                     0);
    lwt_result_t *a = lwt_exec(LWT_ARGV(lwt_cli(), "report", cut), NULL);
    ck_assert_msg(a->exit_code == 1 && strstr(a->err, "cut.json: saved report: line 1 column"), "%s", lwt_describe(a));
    lwt_result_t *b = lwt_exec(LWT_ARGV(lwt_cli(), "report", bad), NULL);
    ck_assert_msg(b->exit_code == 1 && strstr(b->err, "bad.json: saved report: totals.heap: missing"), "%s",
                  lwt_describe(b));
    lwt_free(a);
    lwt_free(b);
    free(cut);
    free(bad);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

/* An output that cannot be written is found before the command runs: the command leaves no trace. */
START_TEST(test_bad_output_paths_fail_before_the_command)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    char *mark = xfmt("%s/ran", tmp, NULL), *touch = xfmt("touch %s", mark, NULL);
    static const char *const opts[] = { "--json", "--sarif", "--junit", "--keep-dumps", "--log-dir" };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        /* a path below a file (ENOTDIR even for root), and the directory itself as a file */
        const char *paths[] = { "/dev/null/x", i < 3 ? tmp : "/dev/null" };
        for (size_t j = 0; j < 2; j++) {
            lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "run", opts[i], paths[j], "--", "sh", "-c", touch), NULL);
            ck_assert_msg(r->exited && r->exit_code == 2 && access(mark, F_OK) != 0 && strstr(r->err, opts[i])
                              && strstr(r->err, paths[j]),
                          "%s %s: exit 2 before the command%s", opts[i], paths[j], lwt_describe(r));
            lwt_free(r);
        }
    }
    /* an existing file is not truncated by the check */
    char *json = xfmt("%s/old.json", tmp, NULL);
    ck_assert_int_eq(lwt_write_file(json, "old"), 0);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "run", "--json", json, "--junit", "/dev/null/j", "--", "true"),
                               NULL);
    char *old = slurp(json);
    ck_assert_msg(r->exit_code == 2 && old && strcmp(old, "old") == 0, "%s", lwt_describe(r));
    free(old);
    lwt_free(r);
    free(json);
    free(mark);
    free(touch);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_log_dir_writes_one_report_per_process)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    /* a copy of the fixture under a hostile name: a blank, a newline, a semicolon, a glob, a quote, dots */
    char *odd = xfmt("%s/a b\n;*'..leaker", tmp, NULL);
    lwt_result_t *c = lwt_exec(LWT_ARGV("cp", lwt_fixture("gate_leaker"), odd), NULL);
    ck_assert_int_eq(c->exit_code, 0);
    lwt_free(c);
    char *logs = xfmt("%s/logs", tmp, NULL);
    char *script = xfmt("'%s' 2; \"$1\" 1", lwt_fixture("gate_leaker"), NULL);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "run", "--log-dir", logs, "--", "sh", "-c", script, "sh", odd),
                               NULL);
    ck_assert_msg(r->exit_code == 23, "%s", lwt_describe(r));
    char *first = NULL;
    ck_assert_msg(count_names(logs, "gate_leaker.", &first) == 1, "one log of gate_leaker%s", lwt_describe(r));
    char *odd_log = NULL;
    ck_assert_msg(count_names(logs, "a_b______leaker.", &odd_log) == 1, "the odd name is written safely%s",
                  lwt_describe(r));
    ck_assert_msg(count_names(logs, "", NULL) == 2 + 3, "a log of the shell too, and nothing else (. and ..)%s",
                  lwt_describe(r));
    char *path = xfmt("%s/%s", logs, first);
    char *text = slurp(path);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
    ck_assert_msg(text && strstr(text, "leakwatch: 2 leaks at 1 site in 1 process") && strstr(text, "gate_leak"),
                  "the log is that process's report:\n%s", text ? text : "(none)");
    free(text);
    free(path);
    path = xfmt("%s/%s", logs, odd_log);
    text = slurp(path);
    ck_assert_msg(text && strstr(text, "leakwatch: 1 leak at 1 site in 1 process"), "%s", text ? text : "(none)");
    free(text);
    free(path);
    free(first);
    free(odd_log);
    lwt_free(r);
    free(script);
    free(logs);
    free(odd);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_quiet_prints_the_summary_and_the_status)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_leaker(LWT_ARGV("-q"), "3", "0", NULL);
    ck_assert_msg(r->exit_code == 23 && count_lines(r->err) == 2
                      && (strstr(r->err, "SUMMARY: ") || strstr(r->err, "leakwatch: 3 leaks at 1 site in 1 process"))
                      && strstr(r->err, "exit status 23\n") && !strstr(r->err, "#0 "),
                  "-q: the summary line and the exit status only%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_lsan_options_under_run)
{
    LWT_REQUIRE_BUILT();
    /* exitcode=0: leaks leave the command's status, as LeakSanitizer does */
    lwt_result_t *r = run_leaker(NULL, "3", "0", LWT_ARGV("LSAN_OPTIONS=exitcode=0"));
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->err, "3 leaks"), "%s", lwt_describe(r));
    lwt_free(r);
    r = run_leaker(NULL, "3", "4", LWT_ARGV("LSAN_OPTIONS=exitcode=0"));
    ck_assert_msg(r->exit_code == 4, "the command's own status 4%s", lwt_describe(r));
    lwt_free(r);
    r = run_leaker(NULL, "3", "0", LWT_ARGV("LSAN_OPTIONS=exitcode=7"));
    ck_assert_msg(r->exit_code == 7, "exitcode=7 stands for --exit-code 7%s", lwt_describe(r));
    lwt_free(r);
    r = run_leaker(LWT_ARGV("--exit-code", "9"), "3", "0", LWT_ARGV("LSAN_OPTIONS=exitcode=7"));
    ck_assert_msg(r->exit_code == 9, "--exit-code takes precedence%s", lwt_describe(r));
    lwt_free(r);

    /* suppressions=: LeakSanitizer's leak: file hides the site and the gate passes */
    char *tmp = lwt_mkdtemp();
    char *supp = xfmt("%s/lsan.supp", tmp, NULL);
    char *env = xfmt("LSAN_OPTIONS=suppressions='%s':verbosity=1 verbosity=1", supp, NULL);
    ck_assert_int_eq(lwt_write_file(supp, "# LeakSanitizer's format\nleak:gate_leak\n"), 0);
    r = run_leaker(NULL, "3", "0", LWT_ARGV(env, "LSAN_OPTIONS_UNUSED=1"));
    ck_assert_msg(r->exit_code == 0 && strstr(r->err, "leak:gate_leak (") && strstr(r->err, "lsan.supp:2)"),
                  "suppressions= hides the leak%s", lwt_describe(r));
    const char *unused = strstr(r->err, "LSAN_OPTIONS: verbosity=1 is not used by leakwatch");
    ck_assert_msg(unused && !strstr(unused + 20, "verbosity=1 is not used"), "named once%s", lwt_describe(r));
    lwt_free(r);
    free(env);

    /* report_objects=1 is what leakwatch does anyway: accepted without a word */
    r = run_leaker(NULL, "3", "0", LWT_ARGV("LSAN_OPTIONS=report_objects=1"));
    ck_assert_msg(r->exit_code == 23 && !strstr(r->err, "LSAN_OPTIONS") && strstr(r->err, "samples: 0x"), "%s",
                  lwt_describe(r));
    lwt_free(r);

    /* detect_leaks=0: the command runs as without leakwatch */
    r = run_leaker(NULL, "3", "5", LWT_ARGV("LSAN_OPTIONS=detect_leaks=0"));
    ck_assert_msg(r->exit_code == 5 && r->err_len == 0 && strstr(r->out, "leaked=3"), "%s", lwt_describe(r));
    lwt_free(r);

    /* log_path=PREFIX: PREFIX.<pid> holds the process's report */
    char *prefix = xfmt("%s/lsanlog", tmp, NULL);
    env = xfmt("LSAN_OPTIONS=log_path=%s", prefix, NULL);
    r = run_leaker(NULL, "3", "0", LWT_ARGV(env));
    char *name = NULL;
    ck_assert_msg(r->exit_code == 23 && count_names(tmp, "lsanlog.", &name) == 1,
                  "%s", lwt_describe(r));
    free(name);
    lwt_free(r);
    free(env);
    free(prefix);
    free(supp);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

/* max_leaks= limits the sites of the text report: heap_sites has five. */
START_TEST(test_lsan_max_leaks_limits_the_sites_shown)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .env = LWT_ARGV("LSAN_OPTIONS=max_leaks=2") };
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "run", "--", lwt_fixture("heap_sites")), &o);
    int shown = 0;
    for (const char *p = strstr(r->err, "\nheap"); p; p = strstr(p + 1, "\nheap"))
        shown++;
    ck_assert_msg(r->exit_code == 23 && shown == 2 && strstr(r->err, "at 5 sites")
                      && strstr(r->err, "leakwatch: 3 more sites not shown (LSAN_OPTIONS max_leaks=2)"),
                  "%d sites shown%s", shown, lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* By hand the library maps LSAN_OPTIONS itself: exitcode= changes the status only when leaks are found. */
START_TEST(test_lsan_options_by_hand)
{
    LWT_REQUIRE_BUILT();
    char *tmp = lwt_mkdtemp();
    char *pre = xfmt("LD_PRELOAD=%s", lwt_lib(), NULL), *tmpdir = xfmt("TMPDIR=%s", tmp, NULL);
    lwt_opts_t o = { .env = LWT_ARGV(pre, tmpdir, "LSAN_OPTIONS=exitcode=9:foo=1") };
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"), &o);
    ck_assert_msg(r->exited && r->exit_code == 9 && strstr(r->err, "3 leaks")
                      && strstr(r->err, "LSAN_OPTIONS: foo=1 is not used by leakwatch"),
                  "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_fixture("gate_leaker"), "0", "0"), &o);
    ck_assert_msg(r->exit_code == 0, "no leaks: the program's own status%s", lwt_describe(r));
    lwt_free(r);
    char *supp = xfmt("%s/s.supp", tmp, NULL), *env = xfmt("LSAN_OPTIONS=exitcode=9:suppressions=%s", supp, NULL);
    ck_assert_int_eq(lwt_write_file(supp, "leak:gate_leak\n"), 0);
    lwt_opts_t os = { .env = LWT_ARGV(pre, tmpdir, env) };
    r = lwt_exec(LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"), &os);
    ck_assert_msg(r->exit_code == 0 && strstr(r->err, "leakwatch: no leaks"), "suppressed: no leaks%s",
                  lwt_describe(r));
    lwt_free(r);
    lwt_opts_t od = { .env = LWT_ARGV(pre, tmpdir, "LSAN_OPTIONS=detect_leaks=0:exitcode=9") };
    r = lwt_exec(LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"), &od);
    ck_assert_msg(r->exit_code == 0 && r->err_len == 0, "detect_leaks=0: nothing%s", lwt_describe(r));
    lwt_free(r);
    free(env);
    env = xfmt("LSAN_OPTIONS=log_path=%s/hand", tmp, NULL);
    lwt_opts_t ol = { .env = LWT_ARGV(pre, tmpdir, env) };
    r = lwt_exec(LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"), &ol);
    char *name = NULL;
    ck_assert_msg(r->exit_code == 0 && !strstr(r->err, "3 leaks") && count_names(tmp, "hand.", &name) == 1,
                  "the report goes to log_path.<pid>%s", lwt_describe(r));
    char *path = xfmt("%s/%s", tmp, name), *text = slurp(path);
    ck_assert_msg(text && strstr(text, "3 leaks at 1 site"), "%s", text ? text : "(none)");
    free(text);
    free(path);
    free(name);
    lwt_free(r);
    free(env);
    free(supp);
    free(pre);
    free(tmpdir);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

/* make check's runner gives the tests a TMPDIR of their own and fails when one leaves a dump in it. */
START_TEST(test_the_test_runner_fails_on_leftovers)
{
    char *tmp = lwt_mkdtemp();
    char *messy = xfmt("%s/messy", tmp, NULL), *tidy = xfmt("%s/tidy", tmp, NULL);
    ck_assert_int_eq(lwt_write_file(messy, "#!/bin/sh\nmkdir -p \"$TMPDIR/leakwatch-0\" && "
                                           "echo '{}' > \"$TMPDIR/leakwatch-0/leakwatch.7.1.json\"\n"), 0);
    ck_assert_int_eq(lwt_write_file(tidy, "#!/bin/sh\nd=$(mktemp -d \"$TMPDIR/own.XXXXXX\") && rmdir \"$d\"\n"), 0);
    ck_assert_int_eq(chmod(messy, 0700), 0);
    ck_assert_int_eq(chmod(tidy, 0700), 0);
    char *runner = xfmt("%s/scripts/run-tests", lwt_root(), NULL);
    lwt_result_t *r = lwt_exec(LWT_ARGV("sh", runner, "t", tidy), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "t: 1 passed, 0 failed"), "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV("sh", runner, "t", tidy, messy), NULL);
    ck_assert_msg(r->exit_code != 0 && strstr(r->out, "left these in their TMPDIR")
                      && strstr(r->out, "leakwatch-0/leakwatch.7.1.json") && strstr(r->out, "t: 2 passed, 1 failed"),
                  "%s", lwt_describe(r));
    lwt_free(r);
    free(runner);
    free(messy);
    free(tidy);
    lwt_rmtree(tmp);
    free(tmp);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("evidence");
    TCase *keep = tcase_create("kept dumps and saved reports");
    tcase_set_timeout(keep, 120);
    tcase_add_test(keep, test_keep_dumps_are_read_by_report_diff_and_flame);
    tcase_add_test(keep, test_without_keep_dumps_no_dump_is_named);
    tcase_add_test(keep, test_leakwatch_dump_dir_keeps_dumps);
    tcase_add_test(keep, test_triage_reads_a_saved_report);
    tcase_add_test(keep, test_bad_saved_reports_are_named);
    suite_add_tcase(s, keep);
    TCase *out = tcase_create("outputs");
    tcase_set_timeout(out, 120);
    tcase_add_test(out, test_bad_output_paths_fail_before_the_command);
    tcase_add_test(out, test_log_dir_writes_one_report_per_process);
    tcase_add_test(out, test_quiet_prints_the_summary_and_the_status);
    tcase_add_test(out, test_the_test_runner_fails_on_leftovers);
    suite_add_tcase(s, out);
    TCase *lsan = tcase_create("LSAN_OPTIONS");
    tcase_set_timeout(lsan, 120);
    tcase_add_test(lsan, test_lsan_options_under_run);
    tcase_add_test(lsan, test_lsan_max_leaks_limits_the_sites_shown);
    tcase_add_test(lsan, test_lsan_options_by_hand);
    suite_add_tcase(s, lsan);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
