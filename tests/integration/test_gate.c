/* Integration tests for `leakwatch run`'s exit status: clean programs, the leak gate and its options, killed programs, the ways a process can end, and bad command lines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

static json_t *gate(const lwt_result_t *r)
{
    json_t *g = json_object_get(r->report, "gate");
    ck_assert_msg(json_is_object(g), "the report of a run has a gate%s", lwt_describe(r));
    return g;
}

/* The report's gate allowed `max` leaks, counted `leaks`, and failed or passed. */
static void assert_gate(const lwt_result_t *r, long long max, long long leaks, int failed)
{
    json_t *g = gate(r), *f = json_object_get(g, "failed");
    ck_assert_msg(lwt_int(g, "max_leaks") == max && lwt_int(g, "leaks") == leaks
                      && (failed ? json_is_true(f) : json_is_false(f)),
                  "gate: max %lld, %lld leaks, %s%s", max, leaks, failed ? "failed" : "passed", lwt_describe(r));
}

static void assert_clean(const lwt_result_t *r, int status)
{
    LWT_ASSERT_RUN(r, status);
    LWT_ASSERT_TOTALS(r, NULL, 0, 0, "a clean program leaks nothing");
    ck_assert_msg(lwt_site_total(r->report, NULL) == 0, "no sites%s", lwt_describe(r));
    json_t *g = gate(r);
    ck_assert_msg(lwt_int(g, "leaks") == 0 && json_is_false(json_object_get(g, "failed")), "the gate passes%s",
                  lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 1, "one process%s", lwt_describe(r));
    json_t *p = json_array_get(json_object_get(r->report, "processes"), 0);
    ck_assert_msg(lwt_int(p, "exit_status") == status, "the process's exit_status is %d%s", status, lwt_describe(r));
}

START_TEST(test_clean_status_0)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean"), "0"), NULL);
    assert_clean(r, 0);
    ck_assert_msg(strstr(r->out, "first=0 last=999") != NULL, "the program's stdout passes through%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_clean_status_7)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean"), "7"), NULL);
    assert_clean(r, 7);
    lwt_free(r);
}
END_TEST

/* iostream, containers, exceptions: libstdc++'s emergency pool and stdio buffers are not leaks. */
START_TEST(test_clean_cxx)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean_cxx")), NULL);
    assert_clean(r, 0);
    lwt_free(r);
}
END_TEST

/* Exiting while a detached thread still runs: its thread-local storage and the stdout buffer are the runtime's. */
START_TEST(test_clean_background_thread)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean_bg_thread")), NULL);
    assert_clean(r, 0);
    lwt_free(r);
}
END_TEST

/* dlopen, dlsym (which calls calloc while leakwatch may still be resolving its own symbols), dlerror, dlclose. */
START_TEST(test_clean_dlopen)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("dl_clean")), NULL);
    assert_clean(r, 0);
    lwt_free(r);
}
END_TEST

START_TEST(test_gate_default_fails)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"), NULL);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_SITE(r, "heap", "gate_leak", 3, 96);
    assert_gate(r, 0, 3, 1);
    lwt_free(r);
}
END_TEST

START_TEST(test_gate_exit_code)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--exit-code", "99"), LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"),
                                    NULL);
    LWT_ASSERT_RUN(r, 99);
    lwt_free(r);
}
END_TEST

/* Leaks equal to --max-leaks pass: the status is the program's own (5). */
START_TEST(test_gate_at_limit)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--max-leaks", "3"), LWT_ARGV(lwt_fixture("gate_leaker"), "3", "5"),
                                    NULL);
    LWT_ASSERT_RUN(r, 5);
    assert_gate(r, 3, 3, 0);
    lwt_free(r);
}
END_TEST

START_TEST(test_gate_one_over)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--max-leaks", "2"), LWT_ARGV(lwt_fixture("gate_leaker"), "3", "0"),
                                    NULL);
    LWT_ASSERT_RUN(r, 23);
    lwt_free(r);
}
END_TEST

/* Only the gated kinds count: heap leaks do not fail a gate on fd. */
START_TEST(test_gate_kinds)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--kinds", "fd"), LWT_ARGV(lwt_fixture("gate_leaker"), "3", "5"), NULL);
    LWT_ASSERT_RUN(r, 5);
    json_t *g = gate(r);
    json_t *kinds = json_object_get(g, "kinds");
    ck_assert_msg(json_array_size(kinds) == 1 && strcmp(json_string_value(json_array_get(kinds, 0)), "fd") == 0,
                  "gate.kinds is [\"fd\"]%s", lwt_describe(r));
    ck_assert_msg(lwt_int(g, "leaks") == 0 && json_is_false(json_object_get(g, "failed")), "nothing gated%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

static void check_killed(const char *how, int sig)
{
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("die"), how), NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 128 + sig, "expected exit status %d%s", 128 + sig,
                  lwt_describe(r));
    lwt_free(r);
}

START_TEST(test_killed_sigkill)
{
    LWT_REQUIRE_BUILT();
    check_killed("KILL", 9);
}
END_TEST

START_TEST(test_killed_sigsegv)
{
    LWT_REQUIRE_BUILT();
    check_killed("SEGV", 11);
}
END_TEST

/* However the process ends with status 3, its leak is reported and the run exits 3 (the gate allows it). */
static const char *const exit_modes[] = { "return", "exit", "thread", "_exit", "_Exit" };

START_TEST(test_exit_paths)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--max-leaks", "1"), LWT_ARGV(lwt_fixture("exit_paths"), exit_modes[_i]),
                                    NULL);
    LWT_ASSERT_RUN(r, 3);
    LWT_ASSERT_SITE(r, "heap", "leak_before_exit", 1, 64);
    json_t *p = json_array_get(json_object_get(r->report, "processes"), 0);
    ck_assert_msg(lwt_process_count(r->report) == 1 && lwt_int(p, "exit_status") == 3,
                  "one process with exit_status 3%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* `leakwatch run ... 2>&1 | head` closes the pipe early: the JSON report and the exit status must survive it. */
START_TEST(test_broken_stderr)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .broken_stderr = 1 };
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--max-leaks", "5"), LWT_ARGV(lwt_fixture("gate_leaker"), "3", "6"), &o);
    LWT_ASSERT_RUN(r, 6);
    LWT_ASSERT_SITE(r, "heap", "gate_leak", 3, 96);
    lwt_free(r);
}
END_TEST

static void check_usage_error(const char *const *argv, const char *mention)
{
    lwt_result_t *r = lwt_exec(argv, NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 2, "a usage error exits 2%s", lwt_describe(r));
    ck_assert_msg(r->err_len > 0, "and says why on stderr%s", lwt_describe(r));
    if (mention)
        ck_assert_msg(strstr(r->err, mention) != NULL, "the message names %s%s", mention, lwt_describe(r));
    lwt_free(r);
}

START_TEST(test_usage_no_command)
{
    LWT_REQUIRE_BUILT();
    check_usage_error(LWT_ARGV(lwt_cli(), "run"), NULL);
    check_usage_error(LWT_ARGV(lwt_cli(), "run", "--"), NULL);
}
END_TEST

START_TEST(test_usage_unknown_flag)
{
    LWT_REQUIRE_BUILT();
    check_usage_error(LWT_ARGV(lwt_cli(), "run", "--bogus-flag", "--", "true"), "bogus-flag");
}
END_TEST

START_TEST(test_usage_bad_number)
{
    LWT_REQUIRE_BUILT();
    check_usage_error(LWT_ARGV(lwt_cli(), "run", "--max-leaks", "many", "--", "true"), "many");
}
END_TEST

/* A command that cannot be started is an error, never a pass. */
START_TEST(test_command_not_found)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV("/nonexistent/leakwatch-test-command"), NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code != 0 && r->err_len > 0,
                  "a missing command fails with a message%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gate");
    TCase *tc = tcase_create("clean programs");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_clean_status_0);
    tcase_add_test(tc, test_clean_status_7);
    tcase_add_test(tc, test_clean_cxx);
    tcase_add_test(tc, test_clean_background_thread);
    tcase_add_test(tc, test_clean_dlopen);
    suite_add_tcase(s, tc);

    tc = tcase_create("gate");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_gate_default_fails);
    tcase_add_test(tc, test_gate_exit_code);
    tcase_add_test(tc, test_gate_at_limit);
    tcase_add_test(tc, test_gate_one_over);
    tcase_add_test(tc, test_gate_kinds);
    suite_add_tcase(s, tc);

    tc = tcase_create("process end");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_killed_sigkill);
    tcase_add_test(tc, test_killed_sigsegv);
    tcase_add_test(tc, test_broken_stderr);
    tcase_add_loop_test(tc, test_exit_paths, 0, (int)(sizeof exit_modes / sizeof exit_modes[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("usage");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_usage_no_command);
    tcase_add_test(tc, test_usage_unknown_flag);
    tcase_add_test(tc, test_usage_bad_number);
    tcase_add_test(tc, test_command_not_found);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
