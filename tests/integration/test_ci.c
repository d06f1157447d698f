/* Integration tests of the CI features of `leakwatch run` and `report` on tests/fixtures/ci_leaker.c: suppressions
 * (files, the environment, the built-in list, errors), baselines across a rebuild, reachable sites, and the SARIF
 * and JUnit files written together with the JSON report. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lwtest.h"

#define FIXTURE_SRC "tests/fixtures/ci_leaker.c"

/* The leak site whose frames include `func`, asserting there is exactly one. */
static json_t *site_of(const lwt_result_t *r, const char *kind, const char *func)
{
    json_t *s = lwt_find_site(r->report, kind, func, NULL, 0, 0);
    ck_assert_msg(s && !lwt_find_site(r->report, kind, func, NULL, 0, 1), "one %s site in %s%s", kind, func,
                  lwt_describe(r));
    return s;
}

/* The reachable site of `func` in the report's sites, or NULL. */
static json_t *reachable_site(json_t *report, const char *func)
{
    json_t *sites = json_object_get(report, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s) {
        const char *cls = json_string_value(json_object_get(s, "class"));
        const char *fn = json_string_value(json_object_get(json_array_get(json_object_get(s, "frames"), 0),
                                                           "function"));
        if (cls && strcmp(cls, "reachable") == 0 && fn && strcmp(fn, func) == 0)
            return s;
    }
    return NULL;
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    ck_assert_int_eq(lwt_write_file(path, text), 0);
    return path;
}

/* The entry of `suppressed` (or unused_suppressions) whose pattern is `pattern`, or NULL. */
static json_t *supp_entry(json_t *report, const char *member, const char *pattern)
{
    json_t *arr = json_object_get(report, member), *e;
    size_t i;
    json_array_foreach(arr, i, e) {
        const char *p = json_string_value(json_object_get(e, "pattern"));
        if (p && strcmp(p, pattern) == 0)
            return e;
    }
    return NULL;
}

START_TEST(test_suppressions_hide_exactly_the_matched_sites)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char *supp = write_tmp(dir, "app.supp",
                           "# known leaks of ci_leaker\n"
                           "leak:ci_lost_buffer\n"
                           "\n"
                           "leak:^ci_known_leak$\n"
                           "fd:ci_leaker.c\n");
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--suppressions", supp), LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_site_total(r->report, NULL) == 0, "every leak site is suppressed%s", lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, "heap") == 0 && lwt_total_count(r->report, "fd") == 0,
                  "suppressed sites leave the totals%s", lwt_describe(r));
    ck_assert_msg(lwt_int(json_object_get(r->report, "gate"), "leaks") == 0, "and the gate%s", lwt_describe(r));
    json_t *e = supp_entry(r->report, "suppressed", "ci_lost_buffer");
    ck_assert_msg(e && lwt_int(e, "count") == 2 && lwt_int(e, "bytes") == 96 && lwt_int(e, "line") == 2,
                  "ci_lost_buffer hid 2 blocks of 96 bytes%s", lwt_describe(r));
    ck_assert_str_eq(json_string_value(json_object_get(e, "file")), supp);
    ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), "heap");
    e = supp_entry(r->report, "suppressed", "^ci_known_leak$");
    ck_assert_msg(e && lwt_int(e, "count") == 1 && lwt_int(e, "bytes") == 100 && lwt_int(e, "line") == 4,
                  "ci_known_leak hid 1 block%s", lwt_describe(r));
    e = supp_entry(r->report, "suppressed", "ci_leaker.c");
    ck_assert_msg(e && lwt_int(e, "count") == 1, "the fd line hid the descriptor%s", lwt_describe(r));
    ck_assert_msg(json_array_size(json_object_get(r->report, "unused_suppressions")) == 0, "none unused%s",
                  lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: no leaks (1 process)") != NULL, "%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "suppressions used:\n    leak:ci_lost_buffer (") != NULL
                      && strstr(r->err, "app.supp:2): 2 blocks (96 bytes)\n") != NULL,
                  "the text report ends with the suppressions used%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(supp);
    free(dir);
}
END_TEST

/* A user's suppression together with the built-in list: only the matched site goes, every other leak stays. */
START_TEST(test_user_and_builtin_suppressions_keep_other_leaks)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char *supp = write_tmp(dir, "one.supp", "leak:ci_lost_buffer\nleak:never_called_anywhere\n");
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--suppressions", supp), LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_NO_SITE(r, "ci_lost_buffer");
    LWT_ASSERT_SITE(r, "heap", "ci_known_leak", 1, 100);
    LWT_ASSERT_SITE(r, "fd", "ci_open_log", 1, 0);
    LWT_ASSERT_TOTALS(r, "heap", 1, 100, "totals without the suppressed site");
    ck_assert_msg(lwt_int(json_object_get(r->report, "gate"), "leaks") == 2, "2 leaks gate%s", lwt_describe(r));
    json_t *u = supp_entry(r->report, "unused_suppressions", "never_called_anywhere");
    ck_assert_msg(u && lwt_int(u, "line") == 2, "the unused line is listed%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "suppressions that matched nothing:\n    leak:never_called_anywhere (") != NULL,
                  "%s", lwt_describe(r));
    lwt_free(r);

    /* The same through LEAKWATCH_SUPPRESSIONS, without the built-in list. */
    char env[600];
    snprintf(env, sizeof env, "LEAKWATCH_SUPPRESSIONS=%s", supp);
    lwt_opts_t o = { 0 };
    o.env = LWT_ARGV(env);
    r = lwt_leakwatch(LWT_ARGV("--no-default-suppressions"), LWT_ARGV(lwt_fixture("ci_leaker")), &o);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_NO_SITE(r, "ci_lost_buffer");
    LWT_ASSERT_SITE(r, "heap", "ci_known_leak", 1, 100);
    lwt_free(r);
    lwt_rmtree(dir);
    free(supp);
    free(dir);
}
END_TEST

START_TEST(test_bad_suppression_files_exit_2_before_running)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char *supp = write_tmp(dir, "bad.supp", "leak:ok\nleek:typo\n");
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--suppressions", supp), LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    ck_assert_msg(r->exited && r->exit_code == 2, "exit 2%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "bad.supp:2: unknown suppression type 'leek'") != NULL, "file:line%s",
                  lwt_describe(r));
    ck_assert_msg(strstr(r->out, "done") == NULL, "the command did not run%s", lwt_describe(r));
    lwt_free(r);

    char env[600];
    snprintf(env, sizeof env, "LEAKWATCH_SUPPRESSIONS=%s/missing.supp", dir);
    lwt_opts_t o = { 0 };
    o.env = LWT_ARGV(env);
    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("ci_leaker")), &o);
    ck_assert_msg(r->exited && r->exit_code == 2 && strstr(r->err, "missing.supp: No such file"),
                  "an unreadable file is an error%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--suppressions", supp, dir), NULL);
    ck_assert_msg(r->exited && r->exit_code == 2 && strstr(r->err, "bad.supp:2:"), "report too%s",
                  lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(supp);
    free(dir);
}
END_TEST

/* Copies the fixture's source into dir/ci_leaker.c with `shift` extra lines at the top and builds it there. */
static char *build_copy(const char *dir, int shift)
{
    char src[600], exe[600], path[600];
    snprintf(path, sizeof path, "%s/%s", lwt_root(), FIXTURE_SRC);
    FILE *in = fopen(path, "r");
    ck_assert_ptr_nonnull(in);
    snprintf(src, sizeof src, "%s/ci_leaker.c", dir);
    FILE *out = fopen(src, "w");
    ck_assert_ptr_nonnull(out);
    for (int i = 0; i < shift; i++)
        fprintf(out, "/* a line added above everything: %d */\n", i);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    snprintf(exe, sizeof exe, "%s/ci_leaker", dir);
    lwt_result_t *r = lwt_exec(LWT_ARGV("cc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", exe, src), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "the copy builds%s", lwt_describe(r));
    lwt_free(r);
    return strdup(exe);
}

static int frame_line(json_t *site, const char *func)
{
    return (int)lwt_int(lwt_site_frame(site, func), "line");
}

START_TEST(test_baseline_survives_a_rebuild)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char da[600], db[600], base[600], report[600];
    snprintf(da, sizeof da, "%s/a", dir);
    snprintf(db, sizeof db, "%s/b", dir);
    mkdir(da, 0755);
    mkdir(db, 0755);
    char *exe_a = build_copy(da, 0), *exe_b = build_copy(db, 3);

    /* The first build's report becomes the baseline. */
    snprintf(report, sizeof report, "%s/first.json", dir);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "run", "--json", report, "--", exe_a), NULL);
    ck_assert_msg(r->exited && r->exit_code == 23, "%s", lwt_describe(r));
    lwt_free(r);
    snprintf(base, sizeof base, "%s/base.json", dir);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "baseline", "-o", base, report), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);

    /* The rebuilt program (other directory, lines moved by 3) with one new leak: only that one gates. */
    r = lwt_leakwatch(LWT_ARGV("--baseline", base), LWT_ARGV(exe_b, "new"), NULL);
    LWT_ASSERT_RUN(r, 23);
    json_t *known = site_of(r, "heap", "ci_known_leak"), *lost = site_of(r, "heap", "ci_lost_buffer");
    json_t *fd = site_of(r, "fd", "ci_open_log"), *fresh = site_of(r, "heap", "ci_new_leak");
    ck_assert_msg(json_is_true(json_object_get(known, "baseline")) && json_is_true(json_object_get(lost, "baseline"))
                      && json_is_true(json_object_get(fd, "baseline")),
                  "the old sites are in the baseline%s", lwt_describe(r));
    ck_assert_msg(json_object_get(fresh, "baseline") == NULL, "the new one is not%s", lwt_describe(r));
    int line_b = frame_line(known, "ci_known_leak");
    json_t *gate = json_object_get(r->report, "gate");
    ck_assert_msg(lwt_int(gate, "leaks") == 1 && lwt_int(gate, "baseline") == 4, "1 new leak, 4 known%s",
                  lwt_describe(r));
    ck_assert_msg(strstr(r->err, "(in baseline)") != NULL, "the text marks them%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: 1 leak not in the baseline, more than --max-leaks 0; exit status 23"),
                  "%s", lwt_describe(r));
    lwt_free(r);

    /* The lines did move: the match is not by line. */
    json_error_t jerr;
    json_t *first = json_load_file(report, 0, &jerr);
    ck_assert_ptr_nonnull(first);
    int line_a = (int)lwt_int(lwt_site_frame(lwt_find_site(first, "heap", "ci_known_leak", NULL, 0, 0),
                                             "ci_known_leak"), "line");
    ck_assert_int_eq(line_b, line_a + 3);
    json_decref(first);

    /* Without the new leak the gate passes; an earlier --json report serves as a baseline directly. */
    r = lwt_leakwatch(LWT_ARGV("--baseline", report), LWT_ARGV(exe_b), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_site_total(r->report, NULL) == 3, "the known leaks are still listed%s", lwt_describe(r));
    lwt_free(r);

    /* A bad baseline is a usage error. */
    r = lwt_leakwatch(LWT_ARGV("--baseline", exe_a), LWT_ARGV(exe_b), NULL);
    ck_assert_msg(r->exited && r->exit_code == 2 && strstr(r->err, "--baseline"), "%s", lwt_describe(r));
    lwt_free(r);
    free(exe_a);
    free(exe_b);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_reachable_sites_listed_shown_and_gated_on_request)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_SORTED(r);
    json_t *kept = reachable_site(r->report, "ci_kept_config");
    ck_assert_msg(kept && lwt_site_count(kept) == 1 && lwt_site_bytes(kept) == 64, "the reachable site is listed%s",
                  lwt_describe(r));
    ck_assert_msg(lwt_int(json_object_get(r->report, "gate"), "leaks") == 4, "it does not gate%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "ci_kept_config") == NULL, "the text hides it%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "1 more block (64 bytes) still reachable, not leaks") != NULL, "%s",
                  lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(LWT_ARGV("--show-reachable", "--gate-reachable", "--max-leaks", "4"),
                      LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(lwt_int(json_object_get(r->report, "gate"), "leaks") == 5, "5 with --gate-reachable%s",
                  lwt_describe(r));
    ck_assert_msg(strstr(r->err, "heap, reachable (still pointed to at exit, not a leak): 64 bytes in 1 block") &&
                      strstr(r->err, "#0 ci_kept_config "),
                  "--show-reachable shows it%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Runs python3 on a script with one argument; returns its stdout (malloc'd) or NULL when python3 is missing. */
static char *python(const char *script, const char *arg)
{
    const char *py = lwt_which(LWT_ARGV("/usr/bin/python3", "/usr/local/bin/python3"));
    if (!py)
        return NULL;
    lwt_result_t *r = lwt_exec(LWT_ARGV(py, "-c", script, arg), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "python3 check failed%s", lwt_describe(r));
    char *out = strdup(r->out);
    lwt_free(r);
    return out;
}

START_TEST(test_sarif_and_junit_with_json)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char sarif[600], junit[600];
    snprintf(sarif, sizeof sarif, "%s/leaks.sarif", dir);
    snprintf(junit, sizeof junit, "%s/leaks.xml", dir);
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--sarif", sarif, "--junit", junit), LWT_ARGV(lwt_fixture("ci_leaker")),
                                    NULL);
    LWT_ASSERT_RUN(r, 23);
    lwt_free(r);

    json_error_t jerr;
    json_t *log = json_load_file(sarif, 0, &jerr);
    ck_assert_msg(log != NULL, "SARIF is JSON: %s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(log, "version")), "2.1.0");
    ck_assert(json_is_string(json_object_get(log, "$schema")));
    json_t *run = json_array_get(json_object_get(log, "runs"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(run, "tool"), "driver"),
                                                       "name")),
                     "leakwatch");
    json_t *results = json_object_get(run, "results"), *res;
    ck_assert_uint_eq(json_array_size(results), 3);
    int want_known = LWT_MARKER_LINE(FIXTURE_SRC, "ci-marker: known leak");
    int want_fd = LWT_MARKER_LINE(FIXTURE_SRC, "ci-marker: open log");
    int seen = 0;
    size_t i;
    json_array_foreach(results, i, res) {
        const char *rule = json_string_value(json_object_get(res, "ruleId"));
        json_t *phys = json_object_get(json_array_get(json_object_get(res, "locations"), 0), "physicalLocation");
        const char *uri = json_string_value(json_object_get(json_object_get(phys, "artifactLocation"), "uri"));
        json_int_t line = json_integer_value(json_object_get(json_object_get(phys, "region"), "startLine"));
        ck_assert(rule != NULL);
        ck_assert_msg(uri && strstr(uri, "ci_leaker.c") != NULL, "location in the fixture: %s", uri ? uri : "null");
        ck_assert(json_is_string(json_object_get(json_object_get(res, "message"), "text")));
        if (strstr(json_string_value(json_object_get(json_object_get(res, "message"), "text")), "ci_known_leak")) {
            ck_assert_str_eq(rule, "leakwatch/heap-definite");
            ck_assert_int_eq(line, want_known);
            seen++;
        }
        if (strcmp(rule, "leakwatch/fd") == 0) {
            ck_assert_int_eq(line, want_fd);
            seen++;
        }
    }
    ck_assert_int_eq(seen, 2);
    json_decref(log);

    /* JUnit: parsed by a real XML parser when python3 is there, else at least the counts are checked. */
    char *out = python("import sys, xml.etree.ElementTree as E\n"
                       "root = E.parse(sys.argv[1]).getroot()\n"
                       "cases = list(root.iter('testcase'))\n"
                       "print('suites=%d cases=%d failures=%d' % (len(list(root.iter('testsuite'))), len(cases),"
                       " len(list(root.iter('failure')))))\n"
                       "print('name=' + cases[0].get('name'))\n",
                       junit);
    if (out) {
        ck_assert_msg(strstr(out, "suites=1 cases=1 failures=3\n") != NULL, "%s", out);
        ck_assert_msg(strstr(out, "name=ci_leaker (pid ") != NULL, "%s", out);
        free(out);
    }
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(test_report_formats_sarif_and_junit_from_dumps)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *p = lwt_exec_preload(LWT_ARGV(lwt_fixture("ci_leaker")), NULL);
    ck_assert_msg(p->exited && p->exit_code == 0, "%s", lwt_describe(p));
    char dumps[600];
    snprintf(dumps, sizeof dumps, "%s/dumps", p->tmpdir);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "sarif", dumps), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    json_t *log = json_loads(r->out, 0, NULL);
    ck_assert_msg(log != NULL, "%s", lwt_describe(r));
    ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(json_object_get(log, "runs"), 0), "results")),
                      3);
    json_decref(log);
    lwt_free(r);
    char supp[700];
    snprintf(supp, sizeof supp, "%s/x.supp", p->tmpdir);
    ck_assert_int_eq(lwt_write_file(supp, "leak:ci_known_leak\n"), 0);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "junit", "--suppressions", supp, dumps), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->out, "<testsuites") != NULL, "%s", lwt_describe(r));
    ck_assert_msg(strstr(r->out, "ci_known_leak") == NULL && strstr(r->out, "ci_lost_buffer") != NULL, "%s",
                  lwt_describe(r));
    lwt_free(r);
    lwt_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ci");
    TCase *tc = tcase_create("ci");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_suppressions_hide_exactly_the_matched_sites);
    tcase_add_test(tc, test_user_and_builtin_suppressions_keep_other_leaks);
    tcase_add_test(tc, test_bad_suppression_files_exit_2_before_running);
    tcase_add_test(tc, test_baseline_survives_a_rebuild);
    tcase_add_test(tc, test_reachable_sites_listed_shown_and_gated_on_request);
    tcase_add_test(tc, test_sarif_and_junit_with_json);
    tcase_add_test(tc, test_report_formats_sarif_and_junit_from_dumps);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
