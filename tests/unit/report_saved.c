/* Unit tests of saved JSON reports read back (report/saved.c): a report renders the same after a round trip,
 * bad reports are refused with the member named, and of run's helpers (report/run_extras.c): LSAN_OPTIONS parsing
 * and kept dumps that never replace a file. */
#include "aggregate.h"
#include "render.h"
#include "run_extras.h"
#include "saved.h"
#include "series.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char dump_a[] =
    "{\"leakwatch_dump\": 1, \"pid\": 4242, \"ppid\": 4200, \"exe\": \"/usr/bin/demo\", \"argv\": [\"demo\", \"-v\"],"
    " \"reason\": \"exit\", \"exit_status\": 3,"
    " \"modules\": [{\"path\": \"/usr/bin/demo\", \"build_id\": \"\", \"bias\": \"0x1000\", \"start\": \"0x1000\","
    " \"end\": \"0x9000\"}],"
    " \"sites\": [{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 3, \"bytes\": 72,"
    " \"oldest_age_ms\": 5000, \"median_age_ms\": 1200,"
    " \"frames\": [\"0x1234\", \"0x2345\"], \"samples\": [{\"handle\": \"0xabc\", \"size\": 24}]},"
    " {\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 1, \"bytes\": 8, \"frames\": [\"0x1234\"]},"
    " {\"kind\": \"fd\", \"count\": 1, \"bytes\": 0, \"frames\": [\"0x3456\"],"
    " \"samples\": [{\"handle\": \"7\", \"size\": 0, \"detail\": \"/tmp/log\"}]}],"
    " \"warnings\": [{\"type\": \"double-close\", \"handle\": \"5\", \"message\": \"m\", \"count\": 2,"
    " \"frames\": [\"0x1234\"], \"other_frames\": [\"0x2345\"]}],"
    " \"totals\": {\"heap\": {\"count\": 3, \"bytes\": 72}, \"fd\": {\"count\": 1, \"bytes\": 0},"
    " \"socket\": {\"count\": 0, \"bytes\": 0}, \"thread\": {\"count\": 0, \"bytes\": 0},"
    " \"timer\": {\"count\": 0, \"bytes\": 0}, \"reachable\": {\"count\": 1, \"bytes\": 8}}}";

static const char dump_b[] =
    "{\"leakwatch_dump\": 1, \"pid\": 4243, \"exe\": \"/usr/bin/demo\", \"argv\": [\"demo\"],"
    " \"modules\": [{\"path\": \"/usr/bin/demo\", \"build_id\": \"\", \"bias\": \"0x5000\", \"start\": \"0x5000\","
    " \"end\": \"0xd000\"}],"
    " \"sites\": [{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 2, \"bytes\": 48,"
    " \"frames\": [\"0x5234\", \"0x6345\"], \"samples\": [{\"handle\": \"0xdef\", \"size\": 24}]}],"
    " \"totals\": {\"heap\": {\"count\": 2, \"bytes\": 48}, \"fd\": {\"count\": 0, \"bytes\": 0},"
    " \"socket\": {\"count\": 0, \"bytes\": 0}, \"thread\": {\"count\": 0, \"bytes\": 0},"
    " \"timer\": {\"count\": 0, \"bytes\": 0}}}";

/* Renders `r` with `fn` into a malloc'd string. */
static char *render(const lwr_report_t *r, int (*fn)(FILE *, const lwr_report_t *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(fn(m, r), 0);
    fclose(m);
    return buf;
}

/* The JSON report of dumps a and b, with one unchecked process. */
static char *saved_report(void)
{
    char err[256] = "";
    lwr_dump_t *d[2] = { lwr_dump_parse(dump_a, strlen(dump_a), "/d/leakwatch.4242.1.json", err, sizeof err),
                         lwr_dump_parse(dump_b, strlen(dump_b), "/d/leakwatch.4243.1.json", err, sizeof err) };
    ck_assert_msg(d[0] && d[1], "%s", err);
    lwr_report_t *r = lwr_report_build(d, 2, NULL);
    ck_assert_ptr_nonnull(r);
    r->has_unchecked = true;
    r->unchecked = calloc(1, sizeof *r->unchecked);
    r->unchecked[0] = (lwr_unchecked_t){ 4250, strdup("/bin/static"), strdup("a static binary") };
    r->nunchecked = 1;
    char *json = render(r, lwr_render_json);
    lwr_report_free(r);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
    return json;
}

START_TEST(a_saved_report_renders_as_it_was_written)
{
    char *json = saved_report(), err[256] = "";
    ck_assert(lwr_saved_is_report(json, strlen(json)));
    lwr_dump_t *d = lwr_dump_parse(json, strlen(json), "r.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert(d->saved_report);
    ck_assert_int_eq(d->pid, 4242);
    ck_assert_str_eq(d->dump_name, "leakwatch.4242.1.json");
    ck_assert_ptr_nonnull(d->more);
    ck_assert_int_eq(d->more->pid, 4243);
    ck_assert_ptr_null(d->more->more);
    ck_assert_uint_eq(d->nsites, 3);
    ck_assert_uint_eq(d->sites[0].npids, 2);
    ck_assert_uint_eq(d->nunchecked, 1);
    ck_assert_msg(strstr(json, "\"oldest_age_ms\": 5000") != NULL, "the report carries the site's ages:\n%s", json);
    /* the report of the saved report is the report: every member, processes, warnings and unchecked included */
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    ck_assert_ptr_nonnull(r);
    char *again = render(r, lwr_render_json);
    ck_assert_str_eq(again, json);
    char *text = render(r, lwr_render_text);
    ck_assert_msg(strstr(text, "leakwatch: 6 leaks at 2 sites in 2 processes") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "pid 4250 (/bin/static): a static binary") != NULL, "%s", text);
    /* a report of a report and the series of diff and triage keep its frames */
    lwr_series_t *s = lwr_series_build(&d, 1, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->nsites, 3);
    ck_assert_uint_eq(s->sites[0].nframes, 2);
    ck_assert_uint_eq(s->sites[0].frames[0].offset, 0x234);
    ck_assert_str_eq(s->sites[0].frames[0].module, "/usr/bin/demo");
    lwr_series_free(s);
    free(text);
    free(again);
    lwr_report_free(r);
    lwr_dump_free(d);
    free(json);
}
END_TEST

/* Each bad report is refused, and the message names the file and the member (or the line and column). */
START_TEST(bad_reports_name_what_is_wrong)
{
    static const char *const cases[][2] = {
        { "{\"leakwatch_report\": 1, \"totals\": {\"heap\": ", "r.json: saved report: line 1 column" },
        { "{\"leakwatch_report\": 2}", "leakwatch_report: unsupported version 2" },
        { "{\"leakwatch_report\": \"1\"}", "leakwatch_report: expected an integer" },
        { "{\"leakwatch_report\": 1, \"sites\": [], \"processes\": []}", "totals: missing" },
        { "{\"leakwatch_report\": 1, \"totals\": {\"heap\": {\"count\": -1, \"bytes\": 0}}, \"sites\": [],"
          " \"processes\": []}", "totals.heap.count: negative" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [{\"kind\": \"heap\", \"count\": 1, \"bytes\": 1,"
          " \"frames\": [{\"function\": \"f\"}]}], \"processes\": []}", "sites[0].frames[0].address: missing" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [{\"kind\": \"heap\", \"count\": 1, \"bytes\": 1,"
          " \"frames\": [{\"address\": \"12\"}]}], \"processes\": []}",
          "sites[0].frames[0].address: not a hexadecimal address" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [{\"kind\": \"heap\", \"count\": 1, \"bytes\": 1,"
          " \"frames\": [], \"pids\": [0]}], \"processes\": []}", "sites[0].pids[0]: not a process number" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [], \"processes\": [{\"pid\": 1, \"arguments\": [3]}]}",
          "processes[0].arguments[0]: expected a string" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [], \"processes\": [], \"warnings\": [{\"pid\": 1}]}",
          "warnings[0].type: missing" },
        { "{\"leakwatch_report\": 1, \"totals\": %T, \"sites\": [], \"processes\": [], \"unchecked\": [{\"pid\": 1}]}",
          "unchecked[0].reason: missing" },
    };
    static const char totals[] =
        "{\"heap\": {\"count\": 0, \"bytes\": 0}, \"fd\": {\"count\": 0, \"bytes\": 0}, \"socket\": {\"count\": 0,"
        " \"bytes\": 0}, \"thread\": {\"count\": 0, \"bytes\": 0}, \"timer\": {\"count\": 0, \"bytes\": 0}}";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[2048], err[512] = "";
        const char *t = strstr(cases[i][0], "%T");
        if (t)
            snprintf(text, sizeof text, "%.*s%s%s", (int)(t - cases[i][0]), cases[i][0], totals, t + 2);
        else
            snprintf(text, sizeof text, "%s", cases[i][0]);
        lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "r.json", err, sizeof err);
        ck_assert_msg(d == NULL, "case %zu read", i);
        ck_assert_msg(strncmp(err, "r.json: saved report: ", 22) == 0 && strstr(err, cases[i][1]),
                      "case %zu: '%s' does not say '%s'", i, err, cases[i][1]);
    }
}
END_TEST

/* Members in another order, and sites of a kind this reader does not know (left out, as in dumps). */
START_TEST(reordered_reports_and_unknown_kinds)
{
    static const char text[] =
        "{\"processes\": [], \"sites\": [{\"kind\": \"gpu\", \"count\": 1, \"bytes\": 1, \"frames\": []},"
        " {\"kind\": \"fd\", \"count\": 2, \"bytes\": 0, \"frames\": []}], \"leakwatch_report\": 1,"
        " \"totals\": {\"heap\": {\"count\": 0, \"bytes\": 0}, \"fd\": {\"count\": 2, \"bytes\": 0},"
        " \"socket\": {\"count\": 0, \"bytes\": 0}, \"thread\": {\"count\": 0, \"bytes\": 0},"
        " \"timer\": {\"count\": 0, \"bytes\": 0}}}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "r.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, 1);
    ck_assert_uint_eq(d->skipped_sites, 1);
    ck_assert_uint_eq(d->totals[LWR_FD].count, 2);
    lwr_dump_free(d);
    /* a dump that mentions the name in an argument stays a dump */
    static const char dump[] = "{\"leakwatch_dump\": 1, \"pid\": 3, \"argv\": [\"\\\"leakwatch_report\\\"\"],"
                               " \"modules\": [], \"sites\": []}";
    ck_assert(!lwr_saved_is_report(dump, strlen(dump)));
    d = lwr_dump_parse(dump, strlen(dump), "d.json", err, sizeof err);
    ck_assert_msg(d != NULL && !d->saved_report, "%s", err);
    lwr_dump_free(d);
}
END_TEST

/* Every prefix of a valid report is either read or refused with a message, never a crash (sanitizers watch). */
START_TEST(cut_reports_never_crash)
{
    char *json = saved_report();
    size_t n = strlen(json);
    for (size_t cut = 0; cut < n; cut += 3) {
        char err[512] = "";
        lwr_dump_t *d = lwr_dump_parse(json, cut, "r.json", err, sizeof err);
        if (!d)
            ck_assert_msg(err[0] != '\0', "no message for a report cut at %zu", cut);
        lwr_dump_free(d);
    }
    free(json);
}
END_TEST

START_TEST(lsan_options_are_parsed)
{
    lwr_lsan_t l;
    ck_assert_int_eq(lwr_lsan_parse("exitcode=7:suppressions='/a b/s.supp',max_leaks=3 detect_leaks=1"
                                    " log_path=\"/tmp/x\":report_objects=1:verbosity=2",
                                    &l),
                     0);
    ck_assert(l.has_exitcode);
    ck_assert_int_eq(l.exitcode, 7);
    ck_assert_str_eq(l.suppressions, "/a b/s.supp");
    ck_assert_uint_eq(l.max_leaks, 3);
    ck_assert(!l.no_detect);
    ck_assert_str_eq(l.log_path, "/tmp/x");
    lwr_lsan_free(&l);
    ck_assert_int_eq(lwr_lsan_parse("detect_leaks=0:log_path=stderr:exitcode=300", &l), 0);
    ck_assert(l.no_detect);
    ck_assert_ptr_null(l.log_path);
    ck_assert(!l.has_exitcode);    /* not an exit status: named, not used */
    lwr_lsan_free(&l);
    ck_assert_int_eq(lwr_lsan_parse(NULL, &l), 0);
    ck_assert(!l.has_exitcode && !l.suppressions && !l.no_detect);
    lwr_lsan_free(&l);
}
END_TEST

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A kept dump never replaces a file of the directory it goes to: it takes the next seq. */
START_TEST(kept_dumps_replace_nothing)
{
    const char *base = getenv("TMPDIR");
    char f[256], t[256];
    snprintf(f, sizeof f, "%s/lwr_keep_from_XXXXXX", base && base[0] ? base : "/tmp");
    snprintf(t, sizeof t, "%s/lwr_keep_to_XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(f));
    ck_assert_ptr_nonnull(mkdtemp(t));
    char a[512], b[512], c[512], kept[512];
    snprintf(a, sizeof a, "%s/leakwatch.5.1.json", f);
    snprintf(b, sizeof b, "%s/leakwatch.5.1.json", t);
    snprintf(c, sizeof c, "%s/leakwatch.5.2.json", t);
    write_text(a, "new");
    write_text(b, "old");
    ck_assert_int_eq(lwr_keep_dump(f, "leakwatch.5.1.json", t, kept, sizeof kept), 0);
    ck_assert_str_eq(kept, c);
    ck_assert_int_eq(access(a, F_OK), -1);
    char buf[8] = "";
    FILE *in = fopen(b, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, in));
    fclose(in);
    ck_assert_str_eq(buf, "old");
    unlink(b);
    unlink(c);
    rmdir(f);
    rmdir(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_saved");
    TCase *tc = tcase_create("saved");
    tcase_add_test(tc, a_saved_report_renders_as_it_was_written);
    tcase_add_test(tc, bad_reports_name_what_is_wrong);
    tcase_add_test(tc, reordered_reports_and_unknown_kinds);
    tcase_add_test(tc, cut_reports_never_crash);
    tcase_add_test(tc, lsan_options_are_parsed);
    tcase_add_test(tc, kept_dumps_replace_nothing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
