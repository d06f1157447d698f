/* Unit tests of site ages in the JSON report: a dump taken from a running process carries `oldest_age_ms` and
 * `median_age_ms` per site, and the report keeps them (merged across processes), and leaves them out when the
 * dumps have none. Dumps are hand-written; their module names a file that does not exist, so no symbols. */
#include "aggregate.h"
#include "render.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A `signal` dump of process `pid` with one heap site at 0x1000 + offset in /nonexistent/app; `ages` is the JSON
 * text of the site's age members (may be empty). */
static lwr_dump_t *dump_of(long pid, unsigned offset, int count, const char *ages)
{
    char text[2048], err[256] = "";
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 2, \"pid\": %ld, \"reason\": \"signal\", \"uptime_ms\": 9000,"
             " \"modules\": [{\"path\": \"/nonexistent/app\", \"build_id\": \"\", \"bias\": \"0x0\","
             " \"start\": \"0x0\", \"end\": \"0x100000\"}],"
             " \"sites\": [{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%x\"]%s%s,"
             " \"samples\": []}],"
             " \"totals\": {\"heap\": {\"count\": %d, \"bytes\": %d}}}",
             pid, count, 8 * count, 0x1000 + offset, ages[0] ? ", " : "", ages, count, 8 * count);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* The report of the dumps as parsed JSON. */
static json_t *report_json(lwr_dump_t **d, size_t n)
{
    lwr_report_t *r = lwr_report_build(d, n, NULL);
    ck_assert_ptr_nonnull(r);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(lwr_render_json(f, r), 0);
    fclose(f);
    json_error_t jerr;
    json_t *root = json_loads(buf, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    free(buf);
    lwr_report_free(r);
    for (size_t i = 0; i < n; i++)
        lwr_dump_free(d[i]);
    return root;
}

static json_t *site_at(json_t *root, size_t i)
{
    return json_array_get(json_object_get(root, "sites"), i);
}

START_TEST(ages_of_one_dump_are_kept)
{
    lwr_dump_t *d[1] = { dump_of(10, 0x10, 3, "\"oldest_age_ms\": 7400, \"median_age_ms\": 5100") };
    json_t *root = report_json(d, 1);
    json_t *s = site_at(root, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "oldest_age_ms")), 7400);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "median_age_ms")), 5100);
    json_decref(root);
}
END_TEST

/* The same site in two processes: the oldest of both, and the median of the process holding most handles. */
START_TEST(ages_merge_across_processes)
{
    lwr_dump_t *d[2] = { dump_of(10, 0x10, 2, "\"oldest_age_ms\": 900, \"median_age_ms\": 300"),
                         dump_of(11, 0x10, 5, "\"oldest_age_ms\": 800, \"median_age_ms\": 650") };
    json_t *root = report_json(d, 2);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "sites")), 1);
    json_t *s = site_at(root, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "count")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "oldest_age_ms")), 900);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "median_age_ms")), 650);
    json_decref(root);
}
END_TEST

/* Dumps without ages (an older library, or the exit dump of one that wrote none) give sites without them. */
START_TEST(no_ages_no_members)
{
    lwr_dump_t *d[1] = { dump_of(10, 0x10, 1, "") };
    json_t *root = report_json(d, 1);
    json_t *s = site_at(root, 0);
    ck_assert_ptr_null(json_object_get(s, "oldest_age_ms"));
    ck_assert_ptr_null(json_object_get(s, "median_age_ms"));
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_ages");
    TCase *tc = tcase_create("ages");
    tcase_add_test(tc, ages_of_one_dump_are_kept);
    tcase_add_test(tc, ages_merge_across_processes);
    tcase_add_test(tc, no_ages_no_members);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
