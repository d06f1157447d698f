/* Integration tests for LEAKWATCH_SAMPLE: a sampled process is never an exact check (run names it unchecked and
 * exits 24 unless --allow-unchecked), and its report estimates leaks from the sampled blocks: large blocks are
 * always caught, small ones in proportion. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

static const char *const sampled_env[] = { "LEAKWATCH_SAMPLE=4K", NULL };

START_TEST(test_sampled_run_is_unchecked)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .env = sampled_env };
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean"), "0"), &o);
    LWT_ASSERT_RUN(r, 24);
    json_t *u = json_object_get(r->report, "unchecked");
    ck_assert_msg(json_is_array(u) && json_array_size(u) == 1, "one unchecked process%s", lwt_describe(r));
    const char *reason = json_string_value(json_object_get(json_array_get(u, 0), "reason"));
    ck_assert_msg(reason && strstr(reason, "sampled (LEAKWATCH_SAMPLE=4096)"), "reason names the sampling: %s%s",
                  reason ? reason : "null", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_sampled_estimates)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .env = sampled_env };
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--allow-unchecked"), LWT_ARGV(lwt_fixture("sample_leaker")), &o);
    LWT_ASSERT_RUN(r, 23); /* estimates still gate, once unchecked processes are allowed */
    long long count = 0, bytes = 0;
    /* 1 MiB against a mean of 4 KiB: every block recorded, each of weight 1 */
    ck_assert_msg(lwt_match_sites(r->report, "heap", "leak_large", &count, &bytes) == 1 && count == 50 &&
                      bytes == 50ll << 20,
                  "leak_large: %lld blocks, %lld bytes%s", count, bytes, lwt_describe(r));
    /* 16 of 4096 bytes: about 390 of the 100000 recorded, the estimate within 20% (its standard error is 5%) */
    ck_assert_msg(lwt_match_sites(r->report, "heap", "leak_small", &count, &bytes) == 1 && count > 80000 &&
                      count < 120000,
                  "leak_small: estimated %lld blocks%s", count, lwt_describe(r));
    ck_assert_msg(bytes > count * 16 - 16 && bytes < count * 16 + 16, "leak_small: %lld bytes for %lld blocks%s",
                  bytes, count, lwt_describe(r));
    /* the churn's frees found nothing to release, and left nothing behind */
    ck_assert_msg(lwt_match_sites(r->report, "heap", "churn", &count, &bytes) == 0, "nothing from churn%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Sampled blocks are classified like any: leaked ones definite, the ones a global holds reachable (the table's
 * own mark of a sampled block must not reach the scan, where it would read as a pool's block). */
START_TEST(test_sampled_blocks_are_classified)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .env = (const char *const[]){ "LEAKWATCH_SAMPLE=1", NULL } };
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--allow-unchecked", "--max-leaks", "1000000"),
                                    LWT_ARGV(lwt_fixture("pprof_sites")), &o);
    LWT_ASSERT_RUN(r, 0);
    json_t *mid = lwt_find_site(r->report, "heap", "leak_mid", NULL, 0, 0);
    json_t *small = lwt_find_site(r->report, "heap", "leak_small", NULL, 0, 0);
    ck_assert_msg(mid && small, "the leaked blocks are leak sites%s", lwt_describe(r));
    ck_assert_str_eq(json_string_value(json_object_get(mid, "class")), "definite");
    ck_assert_str_eq(json_string_value(json_object_get(small, "class")), "definite");
    ck_assert_msg(lwt_find_site(r->report, "heap", "cache_fill", NULL, 0, 0) == NULL,
                  "the cache a global holds is no leak%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* With sampling most blocks have no record, and a sampled block that only an unsampled one holds is reachable,
 * whether the holder lies in the main heap or in a thread's arena, and whether the malloc is glibc's, jemalloc's
 * or tcmalloc's (whose memory is no root without sampling). On glibc's malloc one that nothing holds is still a
 * leak; jemalloc's and tcmalloc's bookkeeping, read with the rest of their memory, holds addresses of live blocks
 * (extent records, caches of blocks handed out), so there a lost block may count as reachable, and only the held
 * ones are asserted. */
static const char *const held_fixtures[] = { "sample_leaker", "sample_jemalloc", "sample_tcmalloc" };

START_TEST(test_held_by_unsampled_blocks)
{
    LWT_REQUIRE_BUILT();
    const char *fixture = held_fixtures[_i];
    int glibc = strcmp(fixture, "sample_leaker") == 0;
    lwt_opts_t o = { .env = (const char *const[]){ "LEAKWATCH_SAMPLE=128", NULL } };
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--allow-unchecked"), LWT_ARGV(lwt_fixture(fixture), "held"), &o);
    json_t *lost = lwt_find_site(r->report, "heap", "lose_one", NULL, 0, 0);
    if (glibc) {
        LWT_ASSERT_RUN(r, 23); /* the block nothing holds */
        ck_assert_msg(lost && lwt_site_count(lost) == 1 && lwt_site_bytes(lost) == 2048 &&
                          strcmp(json_string_value(json_object_get(lost, "class")), "definite") == 0,
                      "lose_one's block is a definite leak%s", lwt_describe(r));
        LWT_ASSERT_TOTALS(r, "heap", 1, 2048, "the one block nothing holds");
    }
    long long held = 0;
    size_t i;
    json_t *site;
    json_array_foreach(json_object_get(r->report, "sites"), i, site)
    {
        const char *cls = json_string_value(json_object_get(site, "class"));
        if (!lwt_site_frame(site, "hold_behind") || lwt_site_bytes(site) < lwt_site_count(site) * 2048)
            continue; /* another site, or a holder that happened to be sampled */
        ck_assert_msg(cls && strcmp(cls, "reachable") == 0, "hold_behind's blocks are reachable, not %s%s",
                      cls ? cls : "unclassified", lwt_describe(r));
        held += lwt_site_count(site);
    }
    ck_assert_msg(held == 20, "20 held blocks of 2 KiB, not %lld%s", held, lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_bad_sample_value)
{
    LWT_REQUIRE_BUILT();
    static const char *const bad_env[] = { "LEAKWATCH_SAMPLE=12 parsecs", NULL };
    lwt_opts_t o = { .env = bad_env };
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("gate_leaker"), "3"), &o);
    /* warned about, and every block recorded: the gate counts exactly */
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(strstr(r->err, "LEAKWATCH_SAMPLE=12 parsecs: expected") != NULL, "the warning%s", lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "heap", 3, 96, "every block recorded");
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sampling");
    TCase *tc = tcase_create("sampling");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_sampled_run_is_unchecked);
    tcase_add_test(tc, test_sampled_estimates);
    tcase_add_test(tc, test_bad_sample_value);
    tcase_add_test(tc, test_sampled_blocks_are_classified);
    tcase_add_loop_test(tc, test_held_by_unsampled_blocks, 0, sizeof held_fixtures / sizeof held_fixtures[0]);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
