/* Unit tests of `leakwatch trend` and the duration helpers: time order of dumps whatever the argument order, a
 * steady grower ranked above an oscillating pool of larger size, the slopes, and duration parsing/formatting. */
#include "series.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned long long BIAS = 0x555500000000ull;

/* A dump of pid 7 at `uptime` with a cache site (frames 0x100, 0x900) of `cache` bytes in cache/100 blocks and a
 * pool site (0x200, 0x900) of `pool` bytes in 4 blocks. */
static lwr_dump_t *dump_at(long seq, long uptime, int cache, int pool)
{
    char text[4096], err[256] = "";
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": 7, \"seq\": %ld, \"uptime_ms\": %ld,"
             " \"modules\": [{\"path\": \"/nonexistent/svc\", \"build_id\": \"\", \"bias\": \"0x%llx\","
             " \"start\": \"0x%llx\", \"end\": \"0x%llx\"}], \"sites\": ["
             "{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%llx\", \"0x%llx\"]},"
             "{\"kind\": \"heap\", \"count\": 4, \"bytes\": %d, \"frames\": [\"0x%llx\", \"0x%llx\"]}]}",
             seq, uptime, BIAS, BIAS, BIAS + 0x10000, cache / 100, cache, BIAS + 0x100, BIAS + 0x900, pool,
             BIAS + 0x200, BIAS + 0x900);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

static unsigned long long offset0(const lwr_series_t *s, size_t site)
{
    return s->sites[site].frames[0].address - BIAS;
}

START_TEST(steady_grower_outranks_larger_oscillating_pool)
{
    /* given out of order: the series must be sorted by uptime */
    lwr_dump_t *d[5] = {
        dump_at(3, 3000, 300, 90000), dump_at(1, 1000, 100, 90000), dump_at(5, 5000, 500, 90000),
        dump_at(2, 2000, 200, 10000), dump_at(4, 4000, 400, 10000),
    };
    lwr_series_sort(d, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(d[i]->seq, i + 1);
    lwr_series_t *s = lwr_series_build(d, 5, NULL);
    for (int i = 0; i < 5; i++)
        lwr_dump_free(d[i]);
    ck_assert_ptr_nonnull(s);
    ck_assert_double_eq_tol(lwr_series_time_s(s, 4), 4.0, 1e-9);
    lwr_trend_t *t = lwr_trend_rank(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(offset0(s, t[0].site), 0x100);
    ck_assert_double_eq_tol(t[0].slope_bytes, 100.0, 1e-6);    /* 100 bytes per second */
    ck_assert_double_eq_tol(t[0].slope_count, 1.0, 1e-6);
    ck_assert_double_eq_tol(t[0].grew, 1.0, 1e-9);
    ck_assert_double_eq_tol(t[0].score_bytes, 100.0, 1e-6);
    /* the pool: 90000 10000 90000 10000 90000 -> up 2, down 2 of 4 intervals */
    ck_assert_uint_eq(offset0(s, t[1].site), 0x200);
    ck_assert_double_eq_tol(t[1].grew, 0.5, 1e-9);
    ck_assert_double_eq_tol(t[1].shrank, 0.5, 1e-9);
    ck_assert_double_eq_tol(t[1].score_bytes, 0.0, 1e-9);
    json_t *j = lwr_trend_json(s, t);
    ck_assert_ptr_nonnull(j);
    json_t *first = json_array_get(json_object_get(j, "sites"), 0);
    ck_assert_double_eq_tol(json_real_value(json_object_get(first, "slope_bytes_per_s")), 100.0, 1e-6);
    ck_assert_uint_eq(json_array_size(json_object_get(first, "series")), 5);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(first, "series"), 4), "bytes")),
                     500);
    json_decref(j);
    free(t);
    lwr_series_free(s);
}
END_TEST

START_TEST(a_grower_with_one_dip_still_outranks_a_flat_site)
{
    lwr_dump_t *d[4] = { dump_at(1, 0, 100, 5000), dump_at(2, 1000, 300, 5000), dump_at(3, 2000, 200, 5000),
                         dump_at(4, 3000, 600, 5000) };
    lwr_series_t *s = lwr_series_build(d, 4, NULL);
    for (int i = 0; i < 4; i++)
        lwr_dump_free(d[i]);
    lwr_trend_t *t = lwr_trend_rank(s);
    ck_assert_uint_eq(offset0(s, t[0].site), 0x100);
    ck_assert_double_eq_tol(t[0].grew, 2.0 / 3, 1e-9);
    ck_assert(t[0].score_bytes > 0);
    ck_assert_double_eq_tol(t[1].slope_bytes, 0.0, 1e-9);
    free(t);
    lwr_series_free(s);
}
END_TEST

/* A dump of `pid` (seq, uptime) with `reason` (NULL: none) and the cache site of dump_at holding `cache` bytes. */
static lwr_dump_t *dump_why(long pid, long seq, long uptime, const char *reason, int cache)
{
    char text[4096], err[256] = "", why[64] = "";
    if (reason)
        snprintf(why, sizeof why, " \"reason\": \"%s\",", reason);
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": %ld, \"seq\": %ld, \"uptime_ms\": %ld,%s"
             " \"modules\": [{\"path\": \"/nonexistent/svc\", \"build_id\": \"\", \"bias\": \"0x%llx\","
             " \"start\": \"0x%llx\", \"end\": \"0x%llx\"}], \"sites\": ["
             "{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%llx\", \"0x%llx\"]}]}",
             pid, seq, uptime, why, BIAS, BIAS, BIAS + 0x10000, cache / 100, cache, BIAS + 0x100, BIAS + 0x900);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

START_TEST(exit_dumps_leave_the_series_when_the_process_has_running_dumps)
{
    /* pid 7: a service dumped on signal, interval and by the program, that empties its cache at exit; pid 8: an
     * exit dump alone (kept: nothing else says what it held); pid 9: an exec dump (no sites) and a dump without
     * a reason (a saved report's, taken as a running one) */
    lwr_dump_t *d[7] = {
        dump_why(7, 1, 1000, "signal", 100), dump_why(7, 2, 2000, "interval", 200),
        dump_why(7, 3, 3000, "program: checkpoint", 300), dump_why(7, 4, 3500, "exit", 0),
        dump_why(8, 1, 500, "exit", 700), dump_why(9, 1, 100, "exec", 0), dump_why(9, 2, 900, NULL, 50),
    };
    lwr_dump_t *all[7];
    memcpy(all, d, sizeof d);
    size_t n = 7, execs = 99;
    ck_assert_uint_eq(lwr_trend_select(d, &n, false, &execs), 1);
    ck_assert_uint_eq(execs, 1);
    ck_assert_uint_eq(n, 5);
    lwr_dump_t *want[5] = { all[0], all[1], all[2], all[4], all[6] };
    for (size_t i = 0; i < 5; i++)
        ck_assert_ptr_eq(d[i], want[i]);
    /* the cache of pid 7 grew in every interval of what is left */
    lwr_series_sort(d, n);
    lwr_series_t *s = lwr_series_build(d, n, NULL);
    ck_assert_ptr_nonnull(s);
    lwr_trend_t *t = lwr_trend_rank(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_double_eq_tol(t[0].grew, 1.0, 1e-9);
    ck_assert_double_eq_tol(t[0].shrank, 0.0, 1e-9);
    ck_assert_double_eq_tol(t[0].slope_bytes, 100.0, 1e-6);
    free(t);
    lwr_series_free(s);
    for (size_t i = 0; i < n; i++)
        lwr_dump_free(d[i]);

    /* --include-exit: every exit dump stays, the exec dump still goes; the exit dump's drop shows */
    lwr_dump_t *e[3] = { dump_why(7, 1, 1000, "interval", 100), dump_why(7, 2, 2000, "interval", 200),
                         dump_why(7, 3, 3000, "exit", 0) };
    n = 3;
    ck_assert_uint_eq(lwr_trend_select(e, &n, true, NULL), 0);
    ck_assert_uint_eq(n, 3);
    s = lwr_series_build(e, n, NULL);
    t = lwr_trend_rank(s);
    ck_assert_double_eq_tol(t[0].shrank, 0.5, 1e-9);
    ck_assert_double_eq_tol(t[0].score_bytes, 0.0, 1e-9);
    free(t);
    lwr_series_free(s);
    for (size_t i = 0; i < n; i++)
        lwr_dump_free(e[i]);
}
END_TEST

START_TEST(durations_parse_and_format)
{
    int64_t ms = -1;
    ck_assert_int_eq(lwr_parse_duration("500ms", &ms), 0);
    ck_assert_int_eq(ms, 500);
    ck_assert_int_eq(lwr_parse_duration("30s", &ms), 0);
    ck_assert_int_eq(ms, 30000);
    ck_assert_int_eq(lwr_parse_duration("5m", &ms), 0);
    ck_assert_int_eq(ms, 300000);
    ck_assert_int_eq(lwr_parse_duration("1h", &ms), 0);
    ck_assert_int_eq(ms, 3600000);
    ck_assert_int_eq(lwr_parse_duration("0s", &ms), 0);
    ck_assert_int_eq(ms, 0);
    static const char *const bad[] = { "", "5", "s", "-5s", "+5s", "1.5s", "5 s", "5sec", "5S", "5ms ", "10d",
                                       "99999999999999999999h", "3000000000000h", NULL };
    for (int i = 0; bad[i]; i++) {
        ms = 77;
        ck_assert_msg(lwr_parse_duration(bad[i], &ms) == -1, "'%s' was accepted", bad[i]);
        ck_assert_int_eq(ms, 77);
    }
    ck_assert_int_eq(lwr_parse_duration(NULL, &ms), -1);
    char buf[32];
    lwr_format_age(850, buf, sizeof buf);
    ck_assert_str_eq(buf, "850ms");
    lwr_format_age(12500, buf, sizeof buf);
    ck_assert_str_eq(buf, "12.5s");
    lwr_format_age(423000, buf, sizeof buf);
    ck_assert_str_eq(buf, "7m03s");
    lwr_format_age(7500000, buf, sizeof buf);
    ck_assert_str_eq(buf, "2h05m");
    lwr_format_age(-1, buf, sizeof buf);
    ck_assert_str_eq(buf, "-");
}
END_TEST

START_TEST(older_than_keeps_sites_whose_oldest_handle_is_old_enough)
{
    const char *text =
        "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": ["
        "{\"kind\": \"heap\", \"count\": 3, \"bytes\": 300, \"frames\": [\"0x10\"], \"oldest_age_ms\": 60000,"
        " \"median_age_ms\": 100, \"samples\": [{\"handle\": \"0xa\", \"size\": 100, \"age_ms\": 60000},"
        " {\"handle\": \"0xb\", \"size\": 100, \"age_ms\": 100}, {\"handle\": \"0xc\", \"size\": 100}]},"
        "{\"kind\": \"fd\", \"count\": 1, \"bytes\": 0, \"frames\": [\"0x20\"], \"oldest_age_ms\": 29999,"
        " \"samples\": [{\"handle\": \"4\", \"size\": 0, \"age_ms\": 29999, \"detail\": \"/x\"}]},"
        "{\"kind\": \"fd\", \"count\": 2, \"bytes\": 0, \"frames\": [\"0x30\"], \"oldest_age_ms\": 30000},"
        "{\"kind\": \"heap\", \"count\": 1, \"bytes\": 8, \"frames\": [\"0x40\"]},"
        "{\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 2, \"bytes\": 16, \"frames\": [\"0x50\"],"
        " \"oldest_age_ms\": 90000}],"
        " \"totals\": {\"heap\": {\"count\": 4, \"bytes\": 308}, \"fd\": {\"count\": 3, \"bytes\": 0}}}";
    char err[256] = "";
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(lwr_dump_keep_older(d, 30000), 1);     /* the site at 0x40 has no ages */
    /* kept: the heap site (count and bytes of the whole site, the 100 ms sample dropped, the ageless kept) */
    ck_assert_uint_eq(d->sites[0].count, 3);
    ck_assert_uint_eq(d->sites[0].bytes, 300);
    ck_assert_uint_eq(d->sites[0].nsamples, 2);
    ck_assert_str_eq(d->sites[0].samples[0].handle, "0xa");
    ck_assert_str_eq(d->sites[0].samples[1].handle, "0xc");
    ck_assert_uint_eq(d->sites[1].count, 0);                 /* 29999 ms < 30 s */
    ck_assert_uint_eq(d->sites[2].count, 2);                 /* exactly 30 s is kept */
    ck_assert_uint_eq(d->sites[3].count, 0);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 3);
    ck_assert_uint_eq(d->totals[LWR_HEAP].bytes, 300);
    ck_assert_uint_eq(d->totals[LWR_FD].count, 2);
    ck_assert_uint_eq(d->reachable.count, 2);
    lwr_dump_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_trend");
    TCase *tc = tcase_create("trend");
    tcase_add_test(tc, steady_grower_outranks_larger_oscillating_pool);
    tcase_add_test(tc, a_grower_with_one_dip_still_outranks_a_flat_site);
    tcase_add_test(tc, exit_dumps_leave_the_series_when_the_process_has_running_dumps);
    tcase_add_test(tc, durations_parse_and_format);
    tcase_add_test(tc, older_than_keeps_sites_whose_oldest_handle_is_old_enough);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
