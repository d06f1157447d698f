/* Unit tests of aggregation: sites merged across processes by module and offset (or by symbol), totals,
 * processes and the sort order. Dumps are hand-written; modules name files that do not exist, so no symbols. */
#include "aggregate.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dump of process `pid` whose one module /nonexistent/app is loaded at `bias`; `sites` is the JSON text of
 * the sites array (frames already at runtime addresses) and `totals` the JSON text of the totals object. */
static lwr_dump_t *dump_of(long pid, unsigned long long bias, const char *sites, const char *totals)
{
    char text[4096], err[256] = "";
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": %ld, \"ppid\": 1, \"exe\": \"/nonexistent/app\","
             " \"argv\": [\"app\", \"%ld\"], \"seq\": 1, \"exit_status\": 0,"
             " \"modules\": [{\"path\": \"/nonexistent/app\", \"build_id\": \"abcd\", \"bias\": \"0x%llx\","
             " \"start\": \"0x%llx\", \"end\": \"0x%llx\"}],"
             " \"sites\": [%s], \"totals\": %s}",
             pid, pid, bias, bias, bias + 0x100000, sites, totals);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* The JSON text of one site whose frames are `bias` + offsets[i] and whose one sample is `handle`. The text
 * lives in one of four rotating buffers, enough for the calls of one expression. */
static char *site(const char *kind, int count, int bytes, unsigned long long bias, const unsigned *offsets, int n,
                  const char *handle)
{
    static char buf[4][1024];
    static int next;
    char *b = buf[next++ % 4];
    int len = snprintf(b, 1024, "{\"kind\": \"%s\", \"count\": %d, \"bytes\": %d, \"frames\": [", kind, count, bytes);
    for (int i = 0; i < n; i++)
        len += snprintf(b + len, 1024 - (size_t)len, "%s\"0x%llx\"", i ? ", " : "", bias + offsets[i]);
    snprintf(b + len, 1024 - (size_t)len, "], \"samples\": [{\"handle\": \"%s\", \"size\": %d}]}", handle,
             count ? bytes / count : 0);
    return b;
}

static const char zero_totals[] =
    "{\"heap\": {\"count\": 0, \"bytes\": 0}, \"fd\": {\"count\": 0, \"bytes\": 0}}";

START_TEST(same_site_in_two_processes_is_merged_despite_aslr)
{
    const unsigned frames[] = { 0x1234, 0x2000 };
    const unsigned other[] = { 0x1234, 0x2004 };
    char sites1[2048], sites2[2048];
    unsigned long long b1 = 0x555500000000ull, b2 = 0x560000000000ull;
    snprintf(sites1, sizeof sites1, "%s, %s", site("heap", 2, 64, b1, frames, 2, "0x10"),
             site("heap", 1, 8, b1, other, 2, "0x20"));
    snprintf(sites2, sizeof sites2, "%s", site("heap", 3, 96, b2, frames, 2, "0x30"));
    lwr_dump_t *d[2] = {
        dump_of(200, b2, sites2, "{\"heap\": {\"count\": 3, \"bytes\": 96}}"),
        dump_of(100, b1, sites1, "{\"heap\": {\"count\": 3, \"bytes\": 72}}"),
    };
    lwr_report_t *r = lwr_report_build(d, 2, NULL);
    ck_assert_ptr_nonnull(r);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);

    ck_assert_uint_eq(r->nsites, 2);
    lwr_site_t *s = &r->sites[0];
    ck_assert_int_eq(s->kind, LWR_HEAP);
    ck_assert_uint_eq(s->count, 5);
    ck_assert_uint_eq(s->bytes, 160);
    ck_assert_uint_eq(s->npids, 2);
    ck_assert_int_eq(s->pids[0], 100);
    ck_assert_int_eq(s->pids[1], 200);
    ck_assert_uint_eq(s->nsamples, 2);
    ck_assert_int_eq(s->samples[0].pid, 200);  /* dumps are taken in the order given */
    ck_assert_str_eq(s->samples[0].handle, "0x30");
    ck_assert_str_eq(s->samples[1].handle, "0x10");
    ck_assert_uint_eq(s->nframes, 2);
    ck_assert_uint_eq(s->frames[0].address, b2 + 0x1234);
    ck_assert_uint_eq(s->frames[0].offset, 0x1234);
    ck_assert_str_eq(s->frames[0].module, "/nonexistent/app");
    ck_assert_ptr_null(s->frames[0].function);
    ck_assert_ptr_null(s->frames[0].file);

    /* A different second frame is a different site, even with the same first frame. */
    s = &r->sites[1];
    ck_assert_uint_eq(s->count, 1);
    ck_assert_uint_eq(s->bytes, 8);
    ck_assert_uint_eq(s->npids, 1);
    ck_assert_int_eq(s->pids[0], 100);
    ck_assert_uint_eq(s->frames[1].offset, 0x2004);

    /* Totals come from the dumps' totals; processes are sorted by pid. */
    ck_assert_uint_eq(r->totals[LWR_HEAP].count, 6);
    ck_assert_uint_eq(r->totals[LWR_HEAP].bytes, 168);
    ck_assert_uint_eq(r->totals[LWR_FD].count, 0);
    ck_assert_uint_eq(r->nprocesses, 2);
    ck_assert_int_eq(r->processes[0].pid, 100);
    ck_assert_int_eq(r->processes[1].pid, 200);
    ck_assert_str_eq(r->processes[0].arguments[1], "100");
    ck_assert_str_eq(r->processes[0].dump, "t.json");
    ck_assert_str_eq(r->processes[0].executable, "/nonexistent/app");
    ck_assert(r->processes[0].has_exit_status);
    ck_assert_uint_eq(lwr_report_count(r, LWR_ALL_KINDS), 6);
    ck_assert_uint_eq(lwr_report_count(r, 1u << LWR_FD), 0);
    lwr_report_free(r);
}
END_TEST

START_TEST(kind_and_depth_separate_sites)
{
    const unsigned f[] = { 0x100, 0x200 };
    char sites[4096];
    unsigned long long b = 0x400000;
    snprintf(sites, sizeof sites, "%s, %s, %s", site("heap", 1, 10, b, f, 2, "0x1"),
             site("fd", 1, 0, b, f, 2, "3"), site("heap", 1, 10, b, f, 1, "0x2"));
    lwr_dump_t *d = dump_of(1, b, sites, zero_totals);
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    lwr_dump_free(d);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 3);
    lwr_report_free(r);
}
END_TEST

START_TEST(addresses_outside_every_module_merge_by_address)
{
    char text[] =
        "{\"leakwatch_dump\": 1, \"pid\": 9, \"modules\": [], \"sites\": ["
        "{\"kind\": \"thread\", \"count\": 1, \"frames\": [\"0xdead\"], \"samples\": [{\"handle\": \"0x7f\"}]},"
        "{\"kind\": \"thread\", \"count\": 2, \"frames\": [\"0xdead\"]},"
        "{\"kind\": \"thread\", \"count\": 1, \"frames\": [\"0xbeef\"]}]}";
    char err[256];
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "x", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    lwr_dump_free(d);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 2);
    ck_assert_uint_eq(r->sites[0].count, 3);
    ck_assert_ptr_null(r->sites[0].frames[0].module);
    ck_assert_uint_eq(r->sites[0].frames[0].address, 0xdead);
    ck_assert_uint_eq(r->sites[0].frames[0].offset, 0xdead);
    ck_assert_uint_eq(r->sites[0].npids, 1);
    ck_assert_uint_eq(r->totals[LWR_THREAD].count, 4);   /* no totals member: summed from the sites */
    lwr_report_free(r);
}
END_TEST

START_TEST(classes_separate_sites_and_reachable_blocks_are_summed_and_listed_last)
{
    char text[] =
        "{\"leakwatch_dump\": 1, \"pid\": 9, \"modules\": [], \"sites\": ["
        "{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 1, \"bytes\": 8, \"frames\": [\"0x10\"]},"
        "{\"kind\": \"heap\", \"class\": \"indirect\", \"count\": 2, \"bytes\": 16, \"frames\": [\"0x10\"]},"
        "{\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 5, \"bytes\": 500, \"frames\": [\"0x10\"]},"
        "{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 1, \"bytes\": 8, \"frames\": [\"0x10\"]}],"
        " \"totals\": {\"heap\": {\"count\": 4, \"bytes\": 32}, \"reachable\": {\"count\": 5, \"bytes\": 500}}}";
    char err[256];
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "x", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    lwr_dump_free(d);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 3);
    ck_assert_uint_eq(lwr_report_leak_sites(r), 2);
    ck_assert_int_eq(r->sites[0].cls, LWR_CLASS_DEFINITE);   /* 16 bytes (merged) before indirect's 16: count */
    ck_assert_uint_eq(r->sites[0].count, 2);
    ck_assert_int_eq(r->sites[1].cls, LWR_CLASS_INDIRECT);
    /* The reachable site is listed after every leak, larger as it is. */
    ck_assert_int_eq(r->sites[2].cls, LWR_CLASS_REACHABLE);
    ck_assert_uint_eq(r->sites[2].bytes, 500);
    ck_assert_uint_eq(r->reachable.count, 5);
    ck_assert_uint_eq(r->reachable.bytes, 500);
    ck_assert_uint_eq(lwr_report_count(r, LWR_ALL_KINDS), 4);
    lwr_report_free(r);
}
END_TEST

START_TEST(samples_are_capped)
{
    const unsigned f[] = { 0x10 };
    char sites[8192] = "";
    size_t len = 0;
    for (int i = 0; i < 4; i++) {
        char h[8];
        snprintf(h, sizeof h, "0x%d", i);
        len += (size_t)snprintf(sites + len, sizeof sites - len, "%s%s", i ? ", " : "",
                                site("heap", 1, 1, 0x1000, f, 1, h));
    }
    /* Two identical dumps of different processes: 8 samples offered, LWR_MAX_SAMPLES kept. */
    lwr_dump_t *d[2] = { dump_of(1, 0x1000, sites, zero_totals), dump_of(2, 0x1000, sites, zero_totals) };
    lwr_report_t *r = lwr_report_build(d, 2, NULL);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 1);
    ck_assert_uint_eq(r->sites[0].count, 8);
    ck_assert_uint_eq(r->sites[0].nsamples, LWR_MAX_SAMPLES);
    ck_assert_str_eq(r->sites[0].samples[4].handle, "0x0");
    ck_assert_int_eq(r->sites[0].samples[4].pid, 2);
    lwr_report_free(r);
}
END_TEST

START_TEST(sites_sort_by_bytes_then_count_and_stay_stable)
{
    lwr_report_t r;
    memset(&r, 0, sizeof r);
    lwr_site_t sites[6];
    memset(sites, 0, sizeof sites);
    /* bytes, count, and a tag stored in npids (unused by the sort) that tells the sites apart */
    const unsigned long long spec[6][3] = { { 10, 1, 0 }, { 10, 5, 1 }, { 0, 7, 2 }, { 500, 1, 3 }, { 10, 5, 4 },
                                            { 0, 9, 5 } };
    for (int i = 0; i < 6; i++) {
        sites[i].bytes = spec[i][0];
        sites[i].count = spec[i][1];
        sites[i].npids = (size_t)spec[i][2];
    }
    r.sites = sites;
    r.nsites = 6;
    lwr_report_sort(&r);
    const size_t order[6] = { 3, 1, 4, 0, 5, 2 };
    for (int i = 0; i < 6; i++)
        ck_assert_msg(r.sites[i].npids == order[i], "position %d holds site %zu, expected %zu", i, r.sites[i].npids,
                      order[i]);
}
END_TEST

START_TEST(empty_input_gives_an_empty_report)
{
    lwr_report_t *r = lwr_report_build(NULL, 0, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 0);
    ck_assert_uint_eq(r->nprocesses, 0);
    ck_assert_uint_eq(lwr_report_count(r, LWR_ALL_KINDS), 0);
    lwr_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_aggregate");
    TCase *tc = tcase_create("aggregate");
    tcase_add_test(tc, same_site_in_two_processes_is_merged_despite_aslr);
    tcase_add_test(tc, kind_and_depth_separate_sites);
    tcase_add_test(tc, addresses_outside_every_module_merge_by_address);
    tcase_add_test(tc, classes_separate_sites_and_reachable_blocks_are_summed_and_listed_last);
    tcase_add_test(tc, samples_are_capped);
    tcase_add_test(tc, sites_sort_by_bytes_then_count_and_stay_stable);
    tcase_add_test(tc, empty_input_gives_an_empty_report);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
