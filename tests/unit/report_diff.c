/* Unit tests of `leakwatch diff`: sites matched across two hand-written dumps despite ASLR, exact deltas, the
 * order (growers by bytes then count, unchanged, then shrunk and gone) and the JSON members. */
#include "cli.h"
#include "series.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A dump of `pid` (seq, uptime) whose one module /nonexistent/svc is loaded at `bias`; `sites` is JSON text. */
static lwr_dump_t *dump_of(long pid, long seq, long uptime, unsigned long long bias, const char *sites)
{
    char text[8192], err[256] = "";
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": %ld, \"seq\": %ld, \"uptime_ms\": %ld, \"reason\": \"signal\","
             " \"modules\": [{\"path\": \"/nonexistent/svc\", \"build_id\": \"\", \"bias\": \"0x%llx\","
             " \"start\": \"0x%llx\", \"end\": \"0x%llx\"}], \"sites\": [%s], \"totals\": {}}",
             pid, seq, uptime, bias, bias, bias + 0x100000, sites);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "t.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

/* One site: kind, count, bytes, frames bias+off1, bias+off2; text in one of eight rotating buffers. */
static const char *site(const char *kind, int count, int bytes, unsigned long long bias, unsigned off1,
                        unsigned off2)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 512,
             "{\"kind\": \"%s\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%llx\", \"0x%llx\"],"
             " \"oldest_age_ms\": 900, \"median_age_ms\": 400,"
             " \"samples\": [{\"handle\": \"7\", \"size\": 0, \"age_ms\": 900, \"detail\": \"/tmp/x\"}]}",
             kind, count, bytes, bias + off1, bias + off2);
    return b;
}

static const unsigned long long B1 = 0x555500000000ull, B2 = 0x560000000000ull;

/* Old and new dumps of a service: cache (grows 1000 -> 5000 bytes), pool (shrinks), temp (gone), fd leak
 * (1 -> 4), new site (appears with 200 bytes), steady site (unchanged). */
static lwr_series_t *service_series(void)
{
    char s1[4096], s2[4096];
    snprintf(s1, sizeof s1, "%s, %s, %s, %s, %s", site("heap", 10, 1000, B1, 0x100, 0x900),
             site("heap", 5, 3000, B1, 0x200, 0x900), site("heap", 2, 64, B1, 0x300, 0x900),
             site("fd", 1, 0, B1, 0x400, 0x900), site("heap", 1, 50, B1, 0x500, 0x900));
    snprintf(s2, sizeof s2, "%s, %s, %s, %s, %s, %s", site("heap", 2, 1000, B2, 0x200, 0x900),
             site("heap", 50, 5000, B2, 0x100, 0x900), site("fd", 4, 0, B2, 0x400, 0x900),
             site("heap", 1, 200, B2, 0x600, 0x900), site("heap", 1, 50, B2, 0x500, 0x900),
             site("heap", 0, 0, B2, 0x300, 0x900));
    lwr_dump_t *d[2] = { dump_of(42, 1, 1000, B1, s1), dump_of(42, 2, 6000, B2, s2) };
    lwr_series_t *s = lwr_series_build(d, 2, NULL);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
    ck_assert_ptr_nonnull(s);
    return s;
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return (long long)json_integer_value(v);
}

/* The module offset of a JSON site's first frame (address - bias of the dump the frames came from). */
static unsigned long long first_offset(json_t *site)
{
    const char *a = json_string_value(json_object_get(json_array_get(json_object_get(site, "frames"), 0), "address"));
    ck_assert_ptr_nonnull(a);
    unsigned long long v = strtoull(a, NULL, 16);
    return v >= B2 ? v - B2 : v - B1;
}

START_TEST(sites_match_across_aslr_and_deltas_are_exact)
{
    lwr_series_t *s = service_series();
    ck_assert_uint_eq(s->nsites, 6);
    json_t *j = lwr_diff_json(s, 0, 1);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(num(j, "leakwatch_diff"), 1);
    json_t *sites = json_object_get(j, "sites");
    ck_assert_uint_eq(json_array_size(sites), 6);
    /* expected order: cache (+4000 B), new (+200 B), fd (+3), steady, temp gone (-64 B), pool (-2000 B) ... */
    static const struct {
        unsigned long long off;
        const char *status;
        long long dc, db, oc, ob, nc, nb;
    } want[] = {
        { 0x100, "grown", 40, 4000, 10, 1000, 50, 5000 },
        { 0x600, "new", 1, 200, 0, 0, 1, 200 },
        { 0x400, "grown", 3, 0, 1, 0, 4, 0 },
        { 0x500, "unchanged", 0, 0, 1, 50, 1, 50 },
        { 0x200, "shrunk", -3, -2000, 5, 3000, 2, 1000 },
        { 0x300, "gone", -2, -64, 2, 64, 0, 0 },
    };
    for (size_t i = 0; i < 6; i++) {
        json_t *o = json_array_get(sites, i);
        ck_assert_msg(first_offset(o) == want[i].off, "site %zu is at 0x%llx", i, first_offset(o));
        ck_assert_str_eq(json_string_value(json_object_get(o, "status")), want[i].status);
        ck_assert_int_eq(num(o, "delta_count"), want[i].dc);
        ck_assert_int_eq(num(o, "delta_bytes"), want[i].db);
        ck_assert_int_eq(num(o, "old_count"), want[i].oc);
        ck_assert_int_eq(num(o, "old_bytes"), want[i].ob);
        ck_assert_int_eq(num(o, "new_count"), want[i].nc);
        ck_assert_int_eq(num(o, "new_bytes"), want[i].nb);
    }
    json_t *heap = json_object_get(json_object_get(j, "totals"), "heap");
    ck_assert_int_eq(num(heap, "old_bytes"), 1000 + 3000 + 64 + 50);
    ck_assert_int_eq(num(heap, "new_bytes"), 5000 + 1000 + 200 + 50);
    ck_assert_int_eq(num(heap, "delta_bytes"), 6250 - 4114);
    json_t *fd = json_object_get(json_object_get(j, "totals"), "fd");
    ck_assert_int_eq(num(fd, "delta_count"), 3);
    /* the fd site keeps its samples with age and detail */
    json_t *sample = json_array_get(json_object_get(json_array_get(sites, 2), "samples"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(sample, "detail")), "/tmp/x");
    ck_assert_int_eq(num(sample, "age_ms"), 900);
    ck_assert_int_eq(num(json_object_get(j, "new"), "uptime_ms"), 6000);
    json_decref(j);
    lwr_series_free(s);
}
END_TEST

START_TEST(statuses_follow_bytes_then_count)
{
    lwr_series_t *s = service_series();
    size_t order[6];
    lwr_diff_order(s, 0, 1, order);
    ck_assert_int_eq(lwr_diff_status(&s->sites[order[0]], 0, 1), LWR_DIFF_GROWN);
    ck_assert_int_eq(lwr_diff_status(&s->sites[order[5]], 0, 1), LWR_DIFF_GONE);
    /* reversed, the cache shrinks and the new site is gone */
    lwr_diff_order(s, 1, 0, order);
    ck_assert_int_eq(lwr_diff_status(&s->sites[order[0]], 1, 0), LWR_DIFF_GROWN);   /* the pool */
    ck_assert_int_eq(lwr_diff_status(&s->sites[order[5]], 1, 0), LWR_DIFF_SHRUNK);  /* the cache, -4000 */
    lwr_series_free(s);
}
END_TEST

START_TEST(two_dump_sites_of_one_stack_add_up)
{
    char s1[2048];
    snprintf(s1, sizeof s1, "%s, %s", site("heap", 1, 10, B1, 0x100, 0x900), site("heap", 2, 20, B1, 0x100, 0x900));
    lwr_dump_t *d[2] = { dump_of(1, 1, 10, B1, s1), dump_of(1, 2, 20, B1, site("heap", 1, 5, B1, 0x100, 0x900)) };
    lwr_series_t *s = lwr_series_build(d, 2, NULL);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
    ck_assert_uint_eq(s->nsites, 1);
    ck_assert_uint_eq(s->sites[0].points[0].count, 3);
    ck_assert_uint_eq(s->sites[0].points[0].bytes, 30);
    ck_assert_uint_eq(s->sites[0].points[1].bytes, 5);
    ck_assert_int_eq(s->sites[0].points[1].oldest_age_ms, 900);
    lwr_series_free(s);
}
END_TEST

START_TEST(text_diff_via_the_command)
{
    char dir[] = "/tmp/lwdiffXXXXXX", a[64], b[64], out[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    FILE *f = fopen(a, "w");
    fprintf(f, "{\"leakwatch_dump\": 1, \"pid\": 1, \"seq\": 1, \"uptime_ms\": 5, \"modules\": [], \"sites\": [%s]}",
            site("heap", 1, 10, 0, 0x100, 0x900));
    fclose(f);
    f = fopen(b, "w");
    fprintf(f, "{\"leakwatch_dump\": 1, \"pid\": 1, \"seq\": 2, \"uptime_ms\": 9, \"modules\": [], \"sites\": [%s]}",
            site("heap", 3, 70, 0, 0x100, 0x900));
    fclose(f);
    char *argv[] = { "diff", "--output", out, a, b, NULL };
    ck_assert_int_eq(lwr_cmd_diff.main(5, argv), 0);
    char text[4096] = "";
    f = fopen(out, "r");
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "heap: +60 bytes, +2 blocks (1 -> 3 blocks, 10 -> 70 bytes)"), "%s", text);
    ck_assert_msg(strstr(text, "1 site grew, 0 shrank or vanished, 0 unchanged"), "%s", text);
    char *bad[] = { "diff", a, NULL };
    ck_assert_int_eq(lwr_cmd_diff.main(2, bad), 2);
    remove(a);
    remove(b);
    remove(out);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_diff");
    TCase *tc = tcase_create("diff");
    tcase_add_test(tc, sites_match_across_aslr_and_deltas_are_exact);
    tcase_add_test(tc, statuses_follow_bytes_then_count);
    tcase_add_test(tc, two_dump_sites_of_one_stack_add_up);
    tcase_add_test(tc, text_diff_via_the_command);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
