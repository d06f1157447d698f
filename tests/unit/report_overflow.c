/* Unit tests of sums over forged dumps: counts and bytes stop at LWR_COUNT_MAX instead of wrapping, in the
 * report's sites and totals, the gate, the series behind diff and trend, and a dump's own totals. */
#include "aggregate.h"
#include "baseline.h"
#include "series.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define Q "4611686018427387904" /* 2^62: four of them sum to 2^64, which wraps to 0 */

/* A dump of `pid` with `nsites` equal heap sites of 2^62 blocks and bytes each; totals as given (JSON text). */
static lwr_dump_t *forged(long pid, int nsites, const char *totals)
{
    char sites[2048] = "", text[4096], err[256] = "";
    for (int i = 0; i < nsites; i++)
        snprintf(sites + strlen(sites), sizeof sites - strlen(sites),
                 "%s{\"kind\": \"heap\", \"count\": " Q ", \"bytes\": " Q ", \"frames\": [\"0x401000\"]}",
                 i ? ", " : "");
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": %ld, \"seq\": 1, \"uptime_ms\": %ld, \"modules\": [{\"path\": "
             "\"/nonexistent/app\", \"build_id\": \"\", \"bias\": \"0x400000\", \"start\": \"0x400000\", "
             "\"end\": \"0x500000\"}], \"sites\": [%s]%s%s}",
             pid, pid, sites, totals ? ", \"totals\": " : "", totals ? totals : "");
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "forged.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

START_TEST(report_sums_saturate)
{
    lwr_dump_t *d[4];
    for (int i = 0; i < 4; i++)
        d[i] = forged(100 + i, 1, "{\"heap\": {\"count\": " Q ", \"bytes\": " Q "}}");
    lwr_report_t *r = lwr_report_build(d, 4, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->totals[LWR_HEAP].count, LWR_COUNT_MAX);
    ck_assert_uint_eq(r->totals[LWR_HEAP].bytes, LWR_COUNT_MAX);
    ck_assert_uint_eq(r->nsites, 1);
    ck_assert_uint_eq(r->sites[0].count, LWR_COUNT_MAX);
    ck_assert_uint_eq(r->sites[0].bytes, LWR_COUNT_MAX);
    ck_assert_uint_eq(lwr_report_count(r, LWR_ALL_KINDS), LWR_COUNT_MAX);
    lwr_report_gate(r, 0, LWR_ALL_KINDS, false, false);
    ck_assert(r->gate.failed);
    ck_assert_uint_eq(r->gate.leaks, LWR_COUNT_MAX);
    ck_assert(lwr_counts_saturated());
    lwr_report_free(r);
    for (int i = 0; i < 4; i++)
        lwr_dump_free(d[i]);
}
END_TEST

START_TEST(gate_count_over_kinds_saturates)
{
    /* Each kind alone fits; their sum over the gated kinds does not. */
    lwr_dump_t *d = forged(7, 0, "{\"heap\": {\"count\": " Q "}, \"fd\": {\"count\": " Q "}, \"socket\": {\"count\": "
                                 Q "}, \"thread\": {\"count\": " Q "}}");
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    ck_assert_uint_eq(lwr_report_count(r, LWR_ALL_KINDS), LWR_COUNT_MAX);
    lwr_report_gate(r, 5, LWR_ALL_KINDS, false, false);
    ck_assert(r->gate.failed);
    lwr_report_free(r);
    lwr_dump_free(d);
}
END_TEST

START_TEST(dump_totals_from_sites_saturate)
{
    lwr_dump_t *d = forged(9, 4, NULL);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, LWR_COUNT_MAX);
    ck_assert_uint_eq(d->totals[LWR_HEAP].bytes, LWR_COUNT_MAX);
    lwr_dump_free(d);
}
END_TEST

START_TEST(series_points_saturate)
{
    /* Four equal sites in one dump are one site of the series; the diff's totals sum them too. */
    lwr_dump_t *d[2] = { forged(5, 4, "{}"), forged(6, 4, "{}") };
    lwr_series_t *s = lwr_series_build(d, 2, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->nsites, 1);
    ck_assert_uint_eq(s->sites[0].points[0].count, LWR_COUNT_MAX);
    ck_assert_uint_eq(s->sites[0].points[1].bytes, LWR_COUNT_MAX);
    json_t *j = lwr_diff_json(s, 0, 1);
    ck_assert_ptr_nonnull(j);
    json_t *heap = json_object_get(json_object_get(j, "totals"), "heap");
    ck_assert_int_eq(json_integer_value(json_object_get(heap, "new_count")), (json_int_t)LWR_COUNT_MAX);
    ck_assert_int_eq(json_integer_value(json_object_get(heap, "delta_count")), 0);
    json_decref(j);
    lwr_series_free(s);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_overflow");
    TCase *tc = tcase_create("saturate");
    tcase_add_test(tc, report_sums_saturate);
    tcase_add_test(tc, gate_count_over_kinds_saturates);
    tcase_add_test(tc, dump_totals_from_sites_saturate);
    tcase_add_test(tc, series_points_saturate);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
