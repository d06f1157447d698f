/* Processes that change user still deliver their dumps to `leakwatch run`: a root master forks a worker that
 * becomes nobody with each of the setuid family, and both leaks are reported, each by its own process. Runs as
 * root, as CI does. */
#include <check.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwtest.h"

static const char *const calls[] = { "setuid", "setresuid", "setreuid", "seteuid" };

START_TEST(worker_that_becomes_nobody_is_reported)
{
    ck_assert_msg(geteuid() == 0, "this test changes user and must run as root (CI does)");
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("setuid_worker"), calls[_i]), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(lwt_out_value(r, "worker", -1) == 0, "the worker could not become nobody%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 2, "expected the master and the worker%s", lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "heap", 2, 88, "one block of the master, one of the worker");
    json_t *unchecked = json_object_get(r->report, "unchecked");
    ck_assert_msg(json_array_size(unchecked) == 0, "the worker that became nobody was checked%s", lwt_describe(r));
    LWT_ASSERT_SITE(r, "heap", "worker_leak", 1, 77);
    LWT_ASSERT_SITE(r, "heap", "master_leak", 1, 11);
    lwt_free(r);
}
END_TEST

/* Eight workers that become nobody at the same moment each prepare the same directory of nobody's in the dump
 * directory: none of them finds it half made (still root's) and warns, and every one is reported. */
START_TEST(workers_that_become_nobody_at_once_share_one_directory)
{
    ck_assert_msg(geteuid() == 0, "this test changes user and must run as root (CI does)");
    for (int round = 0; round < 5; round++) {
        lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("setuid_worker"), "setuid", "8"), NULL);
        LWT_ASSERT_RUN(r, 23);
        ck_assert_msg(lwt_out_value(r, "worker", -1) == 0, "a worker could not become nobody%s", lwt_describe(r));
        ck_assert_msg(!strstr(r->err, "cannot prepare"), "round %d: a worker found the directory half made%s", round,
                      lwt_describe(r));
        ck_assert_msg(lwt_process_count(r->report) == 9, "expected the master and 8 workers%s", lwt_describe(r));
        LWT_ASSERT_SITE(r, "heap", "worker_leak", 8, 8 * 77);
        lwt_free(r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("privileges");
    TCase *tc = tcase_create("change of user");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, worker_that_becomes_nobody_is_reported, 0, 4);
    tcase_add_test(tc, workers_that_become_nobody_at_once_share_one_directory);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
