/* Integration tests for heap tracking of every allocation entry point, realloc's edge cases, call-site order, errno and allocations made before leakwatch's constructor. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define ENTRY_SRC "tests/fixtures/heap_entry.c"
#define REALLOC_SRC "tests/fixtures/heap_realloc.c"
#define CXX_SRC "tests/fixtures/heap_cxx.cc"
/* Every fixture here leaks on purpose: let the gate pass so that the exit status is the fixture's own check. */
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

/* What heap_entry leaks per entry point; bytes -1 means "as the fixture printed in NAME_bytes=". */
static const struct {
    const char *mode;
    const char *func;
    const char *marker;
    long long bytes;
} entries[] = {
    { "malloc", "use_malloc", "@malloc */", 1001 },
    { "calloc", "use_calloc", "@calloc */", 3 * 111 },
    { "realloc_null", "use_realloc_null", "@realloc_null */", 1003 },
    { "reallocarray", "use_reallocarray", "@reallocarray */", 4 * 251 },
    { "posix_memalign", "use_posix_memalign", "@posix_memalign */", 1005 },
    { "aligned_alloc", "use_aligned_alloc", "@aligned_alloc */", 1088 },
    { "memalign", "use_memalign", "@memalign */", 1007 },
    { "valloc", "use_valloc", "@valloc */", 1009 },
    { "pvalloc", "use_pvalloc", "@pvalloc */", 8192 },
    { "strdup", "use_strdup", "@strdup */", 100 },
    { "strndup", "use_strndup", "@strndup */", 51 },
    { "asprintf", "use_asprintf", "@asprintf */", -1 },
    { "getline", "use_getline", "@getline */", -1 },
};
#define N_ENTRIES ((int)(sizeof entries / sizeof entries[0]))

static long long entry_bytes(const lwt_result_t *r, int i)
{
    if (entries[i].bytes >= 0)
        return entries[i].bytes;
    char name[64];
    snprintf(name, sizeof name, "%s_bytes", entries[i].mode);
    long long v = lwt_out_value(r, name, -1);
    ck_assert_msg(v > 0, "fixture did not print %s=%s", name, lwt_describe(r));
    return v;
}

/* One entry point at a time: its own function leaks exactly one block of the known size, at the marked line. */
START_TEST(test_entry_point)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_entry"), entries[_i].mode), NULL);
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(ENTRY_SRC, entries[_i].marker);
    LWT_ASSERT_SITE_AT(r, "heap", entries[_i].func, 1, entry_bytes(r, _i), "heap_entry.c", line);
    lwt_free(r);
}
END_TEST

/* Every entry point in one process: the heap totals are exactly the sum of the fixture's leaks, so neither a freed
 * block nor a runtime allocation (stdio buffers, fmemopen's FILE) is reported. */
START_TEST(test_entry_totals)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_entry"), "all"), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long count = 0, bytes = 0;
    for (int i = 0; i < N_ENTRIES; i++) {
        LWT_ASSERT_SITE(r, "heap", entries[i].func, 1, entry_bytes(r, i));
        count++;
        bytes += entry_bytes(r, i);
    }
    LWT_ASSERT_TOTALS(r, "heap", count, bytes, "heap totals");
    ck_assert_msg(lwt_site_total(r->report, NULL) == count, "expected %lld sites%s", count, lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, NULL) == count, "no other kind may leak%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 1, "one process%s", lwt_describe(r));
    LWT_ASSERT_SORTED(r);
    lwt_free(r);
}
END_TEST

/* C++ operator new, new[] and nothrow new. */
START_TEST(test_cxx_new)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "heap", "use_new", 1, 1018, "heap_cxx.cc", LWT_MARKER_LINE(CXX_SRC, "@new\n"));
    LWT_ASSERT_SITE_AT(r, "heap", "use_new_array", 1, 1017, "heap_cxx.cc", LWT_MARKER_LINE(CXX_SRC, "@new_array\n"));
    LWT_ASSERT_SITE_AT(r, "heap", "use_new_nothrow", 1, 1019, "heap_cxx.cc",
                       LWT_MARKER_LINE(CXX_SRC, "@new_nothrow\n"));
    /* Nothing else: libstdc++'s emergency exception pool is not a leak. */
    LWT_ASSERT_TOTALS(r, "heap", 3, 1018 + 1017 + 1019, "only the three objects leak");
    lwt_free(r);
}
END_TEST

/* Runs heap_realloc MODE, which leaks one block of `bytes` bytes and nothing else, allocated in function `func` on
 * the line of REALLOC_SRC that holds `marker`. Returns the run for further checks. */
static lwt_result_t *run_one_realloc_block(const char *mode, const char *func, long long bytes, const char *marker)
{
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_realloc"), mode), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "heap", func, 1, bytes, "heap_realloc.c", LWT_MARKER_LINE(REALLOC_SRC, marker));
    LWT_ASSERT_TOTALS(r, "heap", 1, bytes, "one block");
    return r;
}

/* realloc(NULL, n) is tested with the entry points; these are the other edges. */
START_TEST(test_realloc_zero_frees)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("heap_realloc"), "zero"), NULL);
    /* Nothing leaks, so the default gate (--max-leaks 0) passes and the status is the fixture's. */
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_out_value(r, "realloc_zero_null", -1) == 1, "glibc's realloc(p, 0) returns NULL%s",
                  lwt_describe(r));
    LWT_ASSERT_NO_SITE(r, "use_realloc_zero");
    ck_assert_msg(lwt_total_count(r->report, "heap") == 0, "realloc(p, 0) freed p%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_realloc_inplace)
{
    LWT_REQUIRE_BUILT();
    /* The block now belongs to the realloc call and has its new size. */
    lwt_result_t *r = run_one_realloc_block("inplace", "use_realloc_inplace", 2000, "@realloc_inplace */");
    lwt_free(r);
}
END_TEST

START_TEST(test_realloc_move)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_one_realloc_block("move", "use_realloc_move", 9000, "@realloc_move */");
    ck_assert_msg(lwt_out_value(r, "realloc_moved", -1) == 1, "the fixture's realloc should move%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_realloc_chain)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_realloc"), "chain"), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "heap", "use_realloc_chain", 1, 12000, "heap_realloc.c",
                       LWT_MARKER_LINE(REALLOC_SRC, "@realloc_chain */"));
    ck_assert_msg(lwt_total_count(r->report, "heap") == 1, "one block%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A failed realloc leaves the old block live: reported once, with its original size and allocation site. */
START_TEST(test_realloc_fail)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_one_realloc_block("fail", "use_realloc_fail", 777, "@realloc_fail_origin */");
    lwt_free(r);
}
END_TEST

START_TEST(test_reallocarray_overflow)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r =
        run_one_realloc_block("reallocarray_overflow", "use_reallocarray_overflow", 400, "@reallocarray_origin */");
    lwt_free(r);
}
END_TEST

/* Five call sites: the report lists them by bytes, then count, descending, with exact counts. */
START_TEST(test_sites_sorted)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_sites")), NULL);
    LWT_ASSERT_RUN(r, 0);
    static const struct {
        const char *func;
        long long count, bytes;
    } want[] = {
        { "site_big", 3, 3000 }, { "site_mid", 5, 500 }, { "site_many", 10, 100 }, { "site_few", 2, 100 },
        { "site_single", 1, 7 },
    };
    int prev = -1;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *site = LWT_ASSERT_SITE(r, "heap", want[i].func, want[i].count, want[i].bytes);
        int at = lwt_site_index(r->report, site);
        ck_assert_msg(at > prev, "%s() should come after the previous site in the report%s", want[i].func,
                      lwt_describe(r));
        prev = at;
    }
    LWT_ASSERT_TOTALS(r, "heap", 21, 3707, "totals 21 blocks, 3707 bytes");
    LWT_ASSERT_SORTED(r);
    lwt_free(r);
}
END_TEST

/* errno survives every wrapper, and failing allocations set ENOMEM; the fixture exits 1 on a mismatch. */
START_TEST(test_errno_preserved)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *plain = lwt_exec(LWT_ARGV(lwt_fixture("errno_check")), NULL);
    ck_assert_msg(plain->exit_code == 0, "the fixture itself fails%s", lwt_describe(plain));
    lwt_result_t *pre = lwt_exec_preload(LWT_ARGV(lwt_fixture("errno_check")), NULL);
    ck_assert_msg(pre->exited && pre->exit_code == 0, "errno changed under LD_PRELOAD%s", lwt_describe(pre));
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("errno_check")), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_total_count(r->report, "heap") == 0, "errno_check leaks nothing%s", lwt_describe(r));
    lwt_free(plain);
    lwt_free(pre);
    lwt_free(r);
}
END_TEST

/* A library constructor that runs before leakwatch's: its leak is reported with the constructor in the stack, and
 * the block it freed is not. */
START_TEST(test_early_constructor)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("early_user")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "heap", "early_ctor", 1, 4242, "libearly.so.c",
                       LWT_MARKER_LINE("tests/fixtures/libearly.so.c", "@early_leak */"));
    LWT_ASSERT_TOTALS(r, "heap", 1, 4242, "only the constructor's 4242-byte block leaks");
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("heap_entry");
    TCase *tc = tcase_create("entry points");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_entry_point, 0, N_ENTRIES);
    tcase_add_test(tc, test_entry_totals);
    tcase_add_test(tc, test_cxx_new);
    suite_add_tcase(s, tc);

    tc = tcase_create("realloc");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_realloc_zero_frees);
    tcase_add_test(tc, test_realloc_inplace);
    tcase_add_test(tc, test_realloc_move);
    tcase_add_test(tc, test_realloc_chain);
    tcase_add_test(tc, test_realloc_fail);
    tcase_add_test(tc, test_reallocarray_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("sites and runtime");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sites_sorted);
    tcase_add_test(tc, test_errno_preserved);
    tcase_add_test(tc, test_early_constructor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
