/* Unit tests of the one site identity (lwr_site_identity): two dumps of this very test binary whose sites differ
 * only by line, in one function, are two sites in `report`, in the diff and trend series and in triage's marks. */
#include "aggregate.h"
#include "keybuf.h"
#include "series.h"
#include "suppress.h"

#include "self_module.h"

#include <check.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Two calls in one function on two lines: the return addresses they record are the frames of the two sites. */
static uintptr_t returns[2];
static volatile int sink;
__attribute__((noinline)) static void capture(int i)
{
    returns[i] = (uintptr_t)__builtin_return_address(0);
}
__attribute__((noinline)) static void two_calls(void)
{
    capture(0);
    sink = 1;
    capture(1);
    sink = 2;
}
static const unsigned first_line = __LINE__ - 5, second_line = __LINE__ - 3;

/* A signal dump of this process (seq, uptime) with two heap sites: one frame each, the two return addresses of
 * two_calls, holding (c0 blocks, b0 bytes) and (c1, b1). */
static lwr_dump_t *dump_of(long seq, long uptime, int c0, int b0, int c1, int b1)
{
    self_t self;
    memset(&self, 0, sizeof self);
    dl_iterate_phdr(find_self, &self);
    ck_assert(self.found && self.build_id[0]);
    char exe[PATH_MAX], text[PATH_MAX + 4096], err[256] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": 42, \"seq\": %ld, \"uptime_ms\": %ld, \"reason\": \"signal\","
             " \"modules\": [{\"path\": \"%s\", \"build_id\": \"%s\", \"bias\": \"0x%llx\", \"start\": \"0x%llx\","
             " \"end\": \"0x%llx\"}], \"sites\": ["
             "{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%llx\"]},"
             "{\"kind\": \"heap\", \"count\": %d, \"bytes\": %d, \"frames\": [\"0x%llx\"]}], \"totals\": {}}",
             seq, uptime, exe, self.build_id, self.bias, self.start, self.end, c0, b0,
             (unsigned long long)returns[0], c1, b1, (unsigned long long)returns[1]);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "self.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return (long long)json_integer_value(v);
}

START_TEST(the_symbols_differ_only_by_line)
{
    two_calls();
    lwr_dump_t *d = dump_of(1, 1000, 1, 10, 2, 20);
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    ck_assert_ptr_nonnull(sym);
    lwr_symbol_t a, b;
    lwr_symbolize(sym, d, returns[0], &a);
    lwr_symbolize(sym, d, returns[1], &b);
    ck_assert_str_eq(a.function, "two_calls");
    ck_assert_str_eq(b.function, "two_calls");
    ck_assert_str_eq(a.file, b.file);
    ck_assert_uint_eq(a.line, first_line);
    ck_assert_uint_eq(b.line, second_line);
    /* one identity rule: the lines keep them apart, and the same symbol is the same key */
    lwr_keybuf_t ka = LWR_KEYBUF_INIT, kb = LWR_KEYBUF_INIT;
    lwr_site_identity(&ka, LWR_HEAP, &a, 1);
    lwr_site_identity(&kb, LWR_HEAP, &b, 1);
    ck_assert(ka.len != kb.len || memcmp(ka.p, kb.p, ka.len) != 0);
    lwr_site_identity(&kb, LWR_HEAP, &a, 1);
    ck_assert(ka.len == kb.len && memcmp(ka.p, kb.p, ka.len) == 0);
    free(ka.p);
    free(kb.p);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d);
}
END_TEST

START_TEST(report_diff_trend_and_triage_keep_the_two_lines_apart)
{
    two_calls();
    lwr_dump_t *d[2] = { dump_of(1, 1000, 1, 10, 2, 20), dump_of(2, 3000, 5, 50, 2, 20) };
    lwr_symbolizer_t *sym = lwr_symbolizer_new(NULL);
    ck_assert_ptr_nonnull(sym);

    /* report: two sites, the larger first */
    lwr_report_t *r = lwr_report_build(&d[1], 1, sym);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 2);
    ck_assert_uint_eq(r->sites[0].frames[0].line, first_line);
    ck_assert_uint_eq(r->sites[0].bytes, 50);
    ck_assert_uint_eq(r->sites[1].frames[0].line, second_line);
    ck_assert_uint_eq(r->sites[1].bytes, 20);
    lwr_report_free(r);

    /* diff: the first line grew by 4 blocks and 40 bytes, the second is unchanged (merged, they would be one
     * site that grew from 3 blocks, 30 bytes to 7 blocks, 70 bytes) */
    lwr_series_t *s = lwr_series_build(d, 2, sym);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->nsites, 2);
    json_t *j = lwr_diff_json(s, 0, 1);
    ck_assert_ptr_nonnull(j);
    json_t *sites = json_object_get(j, "sites");
    ck_assert_uint_eq(json_array_size(sites), 2);
    json_t *grown = json_array_get(sites, 0), *same = json_array_get(sites, 1);
    ck_assert_str_eq(json_string_value(json_object_get(grown, "status")), "grown");
    ck_assert_int_eq(num(grown, "old_count"), 1);
    ck_assert_int_eq(num(grown, "new_count"), 5);
    ck_assert_int_eq(num(grown, "delta_bytes"), 40);
    ck_assert_int_eq(num(json_array_get(json_object_get(grown, "frames"), 0), "line"), first_line);
    ck_assert_str_eq(json_string_value(json_object_get(same, "status")), "unchanged");
    ck_assert_int_eq(num(same, "new_bytes"), 20);
    ck_assert_int_eq(num(json_array_get(json_object_get(same, "frames"), 0), "line"), second_line);
    json_decref(j);

    /* trend: the first line grows steadily, the second does not */
    lwr_trend_t *t = lwr_trend_rank(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(s->sites[t[0].site].frames[0].line, first_line);
    ck_assert(t[0].score_bytes > 0);
    ck_assert(t[1].score_bytes == 0 && t[1].score_count == 0);
    free(t);

    /* triage's mark: a line that hides the first site and not the second */
    lwr_site_t rs[2];
    memset(rs, 0, sizeof rs);
    for (size_t i = 0; i < 2; i++) {
        rs[i].kind = s->sites[i].kind;
        rs[i].frames = s->sites[i].frames;
        rs[i].nframes = s->sites[i].nframes;
    }
    size_t first = s->sites[0].frames[0].line == first_line ? 0 : 1;
    char *line = lwr_supp_generate_sites(rs, 2, first);
    ck_assert_ptr_nonnull(line);
    char want[64];
    snprintf(want, sizeof want, "leak:^report_identity.c:%u:", first_line);
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
    lwr_supp_t probe = { LWR_HEAP, line + 5, NULL, 0, false, false, NULL };
    ck_assert(lwr_supp_matches(&probe, &rs[first]));
    ck_assert(!lwr_supp_matches(&probe, &rs[1 - first]));
    free(line);

    lwr_series_free(s);
    lwr_symbolizer_free(sym);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_identity");
    TCase *tc = tcase_create("identity");
    tcase_add_test(tc, the_symbols_differ_only_by_line);
    tcase_add_test(tc, report_diff_trend_and_triage_keep_the_two_lines_apart);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
