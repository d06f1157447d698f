/* Unit tests of heap sampling (LEAKWATCH_SAMPLE) driven through the tracker's header: the value's parsing, the
 * weights, the estimates a dump shows, and the frees of blocks that were never sampled. */
#include "internal.h"

#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void setup(void)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.reach = 0;
    lw_config.sample = 0;
}

static void teardown(void)
{
    lw_config.sample = 0;
}

START_TEST(sample_values)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = { { "0", 0 },          { "1", 1 },          { "524288", 524288 }, { "512K", 524288 },
                 { "512k", 524288 },  { "512KB", 524288 }, { "512KiB", 524288 }, { "1M", 1u << 20 },
                 { "2g", 2ull << 30 }, { "100B", 100 },    { "1024G", 1ull << 40 } };
    static const char *const bad[] = { "", "K", "-1", "+5", " 5", "5 ", "5KK", "5Q", "5iB", "0x10", "1025G",
                                       "1099511627777", "99999999999999999999999", "1.5M" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(lw_parse_sample(good[i].text, &v) == 0, "%s refused", good[i].text);
        ck_assert_msg(v == good[i].bytes, "%s read as %llu", good[i].text, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(lw_parse_sample(bad[i], &v) == -1, "%s accepted", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
}
END_TEST

START_TEST(sample_from_environment)
{
    setenv("LEAKWATCH_SAMPLE", "64K", 1);
    lw_config_load();
    ck_assert_uint_eq(lw_config.sample, 65536);
    /* a bad value is warned about and changes nothing: every block recorded */
    lw_config.sample = 0;
    setenv("LEAKWATCH_SAMPLE", "lots", 1);
    lw_config_load();
    ck_assert_uint_eq(lw_config.sample, 0);
    unsetenv("LEAKWATCH_SAMPLE");
}
END_TEST

START_TEST(weights)
{
    ck_assert(lw_sample_weight(100) == 1.0); /* no sampling: every record is one block */
    lw_config.sample = 1000;
    ck_assert_double_eq_tol(lw_sample_weight(1000), 1 / (1 - exp(-1.0)), 1e-9);
    ck_assert_double_eq_tol(lw_sample_weight(10), 1 / (1 - exp(-0.01)), 1e-7);
    ck_assert_double_eq_tol(lw_sample_weight(1), 1 / (1 - exp(-0.001)), 1e-6);
    ck_assert_double_eq_tol(lw_sample_weight(0), lw_sample_weight(1), 1e-12); /* counts as one byte */
    ck_assert_double_eq_tol(lw_sample_weight(3000), 1 / (1 - exp(-3.0)), 1e-9);
    ck_assert(lw_sample_weight(1u << 30) == 1.0);
    /* the gaps are exponential: their mean is the mean asked for, within a few standard errors */
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t g = lw_sample_gap();
        ck_assert_int_ge(g, 1);
        sum += (double)g;
    }
    ck_assert_double_eq_tol(sum / 100000, 1000, 20);
}
END_TEST

/* ---- estimates in a dump ------------------------------------------------------------------------------------ */

#define SMALL 200000
#define LARGE 100
#define BASE ((uintptr_t)0x7a0000000000ull)

__attribute__((noinline)) static void acquire_small(uintptr_t h)
{
    lw_on_acquire(LW_HEAP, h, 64);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void acquire_large(uintptr_t h)
{
    lw_on_acquire(LW_HEAP, h, 1u << 20);
    __asm__ volatile("" ::: "memory");
}

static json_t *dump_now(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/lwsample.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[PATH_MAX];
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    ck_assert_msg(d != NULL, "%s: %s", path, jerr.text);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    return d;
}

static long long member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    ck_assert_msg(json_is_integer(v), "no integer %s", name);
    return json_integer_value(v);
}

START_TEST(dump_shows_estimates)
{
    lw_config.sample = 4096;
    for (uintptr_t i = 0; i < SMALL; i++)
        acquire_small(BASE + i * 64);
    for (uintptr_t i = 0; i < LARGE; i++)
        acquire_large(BASE + (1ull << 32) + i * (1u << 20));
    /* far fewer records than blocks: 1 - exp(-64/4096) of the small ones, about 3100, and every large one */
    size_t records = lw_live_count(LW_HEAP);
    ck_assert_uint_lt(records, SMALL / 20);
    ck_assert_uint_gt(records, LARGE);

    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(member(json_object_get(d, "sampling"), "mean_bytes"), 4096);
    json_t *sites = json_object_get(d, "sites");
    ck_assert_uint_eq(json_array_size(sites), 2);
    /* sorted by estimated bytes: the large blocks (100 MiB) first, every one of them recorded */
    json_t *large = json_array_get(sites, 0), *small = json_array_get(sites, 1);
    ck_assert_int_eq(member(large, "sampled"), LARGE);
    ck_assert_int_eq(member(large, "count"), LARGE);
    ck_assert_int_eq(member(large, "bytes"), (long long)LARGE << 20);
    /* the small ones estimated within 10% (the sampled count's standard error is under 2%) */
    long long sampled = member(small, "sampled"), count = member(small, "count");
    ck_assert_int_eq(sampled + LARGE, (long long)records);
    ck_assert_msg(count > SMALL * 9 / 10 && count < SMALL * 11 / 10, "estimated %lld of %d", count, SMALL);
    long long bytes = member(small, "bytes"); /* both rounded from the same sum of weights */
    ck_assert_msg(bytes >= count * 64 - 64 && bytes <= count * 64 + 64, "%lld bytes for %lld blocks", bytes, count);
    json_t *heap = json_object_get(json_object_get(d, "totals"), "heap");
    ck_assert_int_eq(member(heap, "count"), count + LARGE);
    json_decref(d);

    /* freeing every block releases exactly the sampled ones; the rest are known unsampled without a record */
    size_t released = 0;
    for (uintptr_t i = 0; i < SMALL; i++)
        released += (size_t)lw_on_release(LW_HEAP, BASE + i * 64);
    for (uintptr_t i = 0; i < LARGE; i++)
        released += (size_t)lw_on_release(LW_HEAP, BASE + (1ull << 32) + i * (1u << 20));
    ck_assert_uint_eq(released, records);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(member(json_object_get(json_object_get(d, "totals"), "heap"), "count"), 0);
    json_decref(d);
}
END_TEST

START_TEST(unsampled_dump_has_no_sampling)
{
    acquire_small(BASE);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_ptr_null(json_object_get(d, "sampling"));
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(d, "sites"), 0), "sampled"));
    json_decref(d);
}
END_TEST

START_TEST(sampled_realloc_keeps_its_record)
{
    lw_config.sample = 4096;
    acquire_large(BASE); /* recorded: 1 MiB against a mean of 4 KiB */
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    lw_release_t t;
    lw_release_begin(&t, LW_HEAP, BASE);
    ck_assert_int_eq(t.had, 1);
    lw_release_end(&t, 0); /* the realloc failed: the record is back, and still found by a free */
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_int_eq(lw_on_release(LW_HEAP, BASE), 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

START_TEST(descriptors_are_never_sampled)
{
    lw_config.sample = 1u << 30;
    lw_on_acquire(LW_FD, 40, 0);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_int_eq(lw_on_release(LW_FD, 40), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tracker_sample");
    TCase *tc = tcase_create("sample");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sample_values);
    tcase_add_test(tc, sample_from_environment);
    tcase_add_test(tc, weights);
    tcase_add_test(tc, dump_shows_estimates);
    tcase_add_test(tc, unsampled_dump_has_no_sampling);
    tcase_add_test(tc, sampled_realloc_keeps_its_record);
    tcase_add_test(tc, descriptors_are_never_sampled);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
