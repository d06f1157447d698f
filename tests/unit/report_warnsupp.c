/* Unit tests of `warning:` suppression lines: parsing and its errors, matching by warning type and by a frame of
 * either stack, and what applying them removes from a report and records in `suppressed`. */
#include "render.h"
#include "suppress.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void parse_ok(lwr_supplist_t *l, const char *text)
{
    char err[256] = "";
    ck_assert_msg(lwr_supp_parse(l, text, strlen(text), "w.supp", err, sizeof err) == 0, "%s: %s", text, err);
}

static void expect_error(const char *text, const char *want)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    char err[256] = "";
    ck_assert_int_eq(lwr_supp_parse(&l, text, strlen(text), "w.supp", err, sizeof err), -1);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' should contain '%s'", err, want);
    lwr_supplist_free(&l);
}

START_TEST(warning_lines_parse)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    parse_ok(&l, "warning:double-close\n warning : bad-close : close_all \nwarning:*:libfoo.so\nleak:x\n");
    ck_assert_uint_eq(l.n, 4);
    ck_assert(l.v[0].warning && l.v[1].warning && l.v[2].warning && !l.v[3].warning);
    ck_assert_str_eq(l.v[0].pattern, "double-close");
    ck_assert_str_eq(l.v[1].pattern, "bad-close : close_all");
    ck_assert_uint_eq(l.v[1].line, 2);
    lwr_supplist_free(&l);
    expect_error("warning:triple-close\n", "w.supp:1: unknown warning type 'triple-close'");
    expect_error("leak:a\nwarning:double-close:  \n", "w.supp:2: empty frame pattern");
    expect_error("warning:\n", "w.supp:1: empty pattern after 'warning:'");
    expect_error("warnings:double-close\n", "unknown suppression type 'warnings'");
}
END_TEST

static lwr_frame_t *frames_of(const char *const *names, size_t n)
{
    lwr_frame_t *f = calloc(n, sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (lwr_frame_t){ 0x1000 + i, strdup(names[3 * i]), strdup(names[3 * i + 1]), 7,
                              strdup(names[3 * i + 2]), 0x100 + i, 0 };
    return f;
}

static void add_warning(lwr_report_t *r, const char *type, uint64_t count, const char *const *frames, size_t n,
                        const char *const *other, size_t nother)
{
    r->warnings = realloc(r->warnings, (r->nwarnings + 1) * sizeof *r->warnings);
    lwr_warning_t *w = &r->warnings[r->nwarnings++];
    memset(w, 0, sizeof *w);
    w->pid = 42;
    w->type = strdup(type);
    w->handle = strdup("5");
    w->message = strdup("close(5)");
    w->count = count;
    w->frames = frames_of(frames, n);
    w->nframes = n;
    w->other_frames = other ? frames_of(other, nother) : NULL;
    w->nother = other ? nother : 0;
}

static const char *const second[] = { "close_again", "/src/d.c", "/usr/bin/d", "main", "/src/d.c", "/usr/bin/d" };
static const char *const first[] = { "close_all", "/src/d.c", "/usr/bin/d", "main", "/src/d.c", "/usr/bin/d" };
static const char *const lib[] = { "lib_close", "/src/lib.c", "/usr/lib/libfoo.so.1" };

static lwr_report_t *report_with_warnings(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    add_warning(r, "double-close", 3, second, 2, first, 2);
    add_warning(r, "bad-close", 1, lib, 1, NULL, 0);
    add_warning(r, "fd-into-exec", 1, first, 2, second, 2);
    return r;
}

START_TEST(warning_matching)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    parse_ok(&l, "warning:double-close\nwarning:double-close:^close_all$\nwarning:bad-close:libfoo.so\n"
                 "warning:*:nowhere\nwarning:bad-close:close_all\nleak:close_again\n");
    lwr_report_t *r = report_with_warnings();
    ck_assert(lwr_supp_matches_warning(&l.v[0], &r->warnings[0]));
    ck_assert(!lwr_supp_matches_warning(&l.v[0], &r->warnings[1]));
    ck_assert(lwr_supp_matches_warning(&l.v[1], &r->warnings[0])); /* a frame of the earlier close */
    ck_assert(lwr_supp_matches_warning(&l.v[2], &r->warnings[1])); /* the module's base name */
    ck_assert(!lwr_supp_matches_warning(&l.v[3], &r->warnings[2]));
    ck_assert(!lwr_supp_matches_warning(&l.v[4], &r->warnings[1])); /* the type matches, no frame does */
    for (size_t i = 0; i < r->nwarnings; i++)
        ck_assert(!lwr_supp_matches_warning(&l.v[5], &r->warnings[i])); /* leak: lines are for sites */
    lwr_report_free(r);
    lwr_supplist_free(&l);
}
END_TEST

START_TEST(apply_hides_warnings_and_records_them)
{
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    parse_ok(&l, "warning:double-close:close_again\nwarning:bad-close:nothing_here\n");
    lwr_report_t *r = report_with_warnings();
    ck_assert_int_eq(lwr_supp_apply(r, &l), 0);
    ck_assert_uint_eq(r->nwarnings, 2);
    ck_assert_str_eq(r->warnings[0].type, "bad-close");
    ck_assert_str_eq(r->warnings[1].type, "fd-into-exec");
    ck_assert(r->supps[0].warning && r->supps[0].sites == 1 && r->supps[0].hidden.count == 3);
    ck_assert(r->supps[1].sites == 0);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(lwr_render_text(out, r), 0);
    fclose(out);
    ck_assert_msg(strstr(text, "suppressions used:\n    warning:double-close:close_again (w.supp:1): 3 warnings\n"),
                  "%s", text);
    ck_assert_msg(strstr(text, "suppressions that matched nothing:\n    warning:bad-close:nothing_here (w.supp:2)"),
                  "%s", text);
    ck_assert(!strstr(text, "warning: double-close"));
    free(text);

    text = NULL;
    out = open_memstream(&text, &len);
    ck_assert_int_eq(lwr_render_json(out, r), 0);
    fclose(out);
    const char *used = strstr(text, "\"pattern\": \"double-close:close_again\"");
    ck_assert_msg(used && strstr(used, "\"kind\": \"warning\"") && strstr(used, "\"count\": 3"), "%s", text);
    free(text);
    lwr_report_free(r);
    lwr_supplist_free(&l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_warnsupp");
    TCase *tc = tcase_create("warning suppressions");
    tcase_add_test(tc, warning_lines_parse);
    tcase_add_test(tc, warning_matching);
    tcase_add_test(tc, apply_hides_warnings_and_records_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
