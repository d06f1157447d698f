/* Integration tests for heap tracking across threads, fork, signal handlers, exec, vfork, posix_spawn and shell
 * pipelines. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = s ? strlen(s) : 0, lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static const char *process_exe(json_t *report, long long pid)
{
    return json_string_value(json_object_get(lwt_process(report, pid), "executable"));
}

/* 8 threads x 100000 malloc/free pairs, plus exactly 25 leaks each from one call site. */
START_TEST(test_threads_exact)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_threads")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "heap", "thread_leak", 8 * 25, 8 * 25 * 40);
    LWT_ASSERT_TOTALS(r, "heap", 200, 8000, "exactly 200 blocks of 40 bytes leak");
    lwt_free(r);
}
END_TEST

/* 1000 short-lived threads in waves of 50, each leaking one block: threads that exit while others allocate lose
 * nothing and add nothing. */
START_TEST(test_thread_churn)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_thread_churn")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "heap", "churn_leak", 1000, 16000);
    ck_assert_msg(lwt_total_count(r->report, "heap") == 1000, "exactly 1000 blocks leak%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* The child reports only what it allocated; the pre-fork block is the parent's, reported once. */
START_TEST(test_fork)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_fork")), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long parent = lwt_out_value(r, "parent", -1), child = lwt_out_value(r, "child", -1);
    ck_assert_msg(parent > 0 && child > 0 && parent != child, "fixture prints both pids%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 2, "two processes%s", lwt_describe(r));
    ck_assert_msg(lwt_process(r->report, parent) && lwt_process(r->report, child), "both pids in processes%s",
                  lwt_describe(r));

    json_t *site = LWT_ASSERT_SITE(r, "heap", "before_fork", 1, 4096);
    LWT_ASSERT_ONE_PID(r, site, parent, "the pre-fork block is reported by the parent only");
    site = LWT_ASSERT_SITE(r, "heap", "child_leak", 3, 192);
    LWT_ASSERT_ONE_PID(r, site, child, "child_leak is the child's");
    site = LWT_ASSERT_SITE(r, "heap", "parent_leak", 2, 256);
    LWT_ASSERT_ONE_PID(r, site, parent, "parent_leak is the parent's");
    LWT_ASSERT_NO_SITE(r, "before_fork_freed");
    LWT_ASSERT_TOTALS(r, "heap", 6, 4096 + 192 + 256, "6 blocks in all");
    lwt_free(r);
}
END_TEST

/* Forking while two other threads allocate: no child hangs on a lock held across fork, every child reports. */
START_TEST(test_fork_while_allocating)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .timeout_s = 120 };
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_fork_threads")), &o);
    LWT_ASSERT_RUN(r, 0);
    json_t *site = LWT_ASSERT_SITE(r, "heap", "fork_child_leak", 20, 20 * 24);
    ck_assert_msg(lwt_site_npids(site) == 20, "one leak in each of 20 children%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 21, "21 processes%s", lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, "heap") == 20, "only the children's blocks leak%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* exec replaces the image: what was allocated before it is gone, not leaked. Only exec_target's blocks remain. */
static void check_exec_in_place(const char *mode)
{
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("exec_leaker"), mode), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long leaker = lwt_out_value(r, "leaker", -1), target = lwt_out_value(r, "target", -1);
    ck_assert_msg(leaker > 0 && leaker == target, "exec keeps the pid%s", lwt_describe(r));
    LWT_ASSERT_NO_SITE(r, "leak_before_exec");
    json_t *site = LWT_ASSERT_SITE(r, "heap", "target_leak", 3, 666);
    ck_assert_msg(lwt_site_has_pid(site, target), "target_leak belongs to pid %lld%s", target, lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 1, "one process (one pid, one exit)%s", lwt_describe(r));
    ck_assert_msg(ends_with(process_exe(r->report, target), "/exec_target"), "the process is exec_target%s",
                  lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, "heap") == 3, "3 blocks in all%s", lwt_describe(r));
    lwt_free(r);
}

START_TEST(test_execv)
{
    LWT_REQUIRE_BUILT();
    check_exec_in_place("execv");
}
END_TEST

START_TEST(test_execvp)
{
    LWT_REQUIRE_BUILT();
    check_exec_in_place("execvp");
}
END_TEST

/* execve with an empty environment: LD_PRELOAD must still reach the new image. */
START_TEST(test_execve_empty_env)
{
    LWT_REQUIRE_BUILT();
    check_exec_in_place("execve-noenv");
}
END_TEST

/* A child that execs: the parent's pre-fork leaks are the parent's, the child's pre-exec block vanishes. */
static void check_child_exec(const char *mode)
{
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("exec_leaker"), mode), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long leaker = lwt_out_value(r, "leaker", -1), target = lwt_out_value(r, "target", -1);
    ck_assert_msg(leaker > 0 && target > 0 && leaker != target, "two pids printed%s", lwt_describe(r));
    json_t *site = LWT_ASSERT_SITE(r, "heap", "leak_before_exec", 2, 222);
    LWT_ASSERT_ONE_PID(r, site, leaker, "the parent's blocks");
    site = LWT_ASSERT_SITE(r, "heap", "target_leak", 3, 666);
    LWT_ASSERT_ONE_PID(r, site, target, "the exec'd child's blocks");
    LWT_ASSERT_NO_SITE(r, "child_before_exec");
    ck_assert_msg(lwt_process_count(r->report) == 2, "two processes%s", lwt_describe(r));
    ck_assert_msg(ends_with(process_exe(r->report, target), "/exec_target") &&
                      ends_with(process_exe(r->report, leaker), "/exec_leaker"),
                  "executables of both processes%s", lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "heap", 5, 888, "5 blocks, 888 bytes in all");
    lwt_free(r);
}

START_TEST(test_fork_exec)
{
    LWT_REQUIRE_BUILT();
    check_child_exec("fork-exec");
}
END_TEST

START_TEST(test_vfork_exec)
{
    LWT_REQUIRE_BUILT();
    check_child_exec("vfork");
}
END_TEST

START_TEST(test_posix_spawn)
{
    LWT_REQUIRE_BUILT();
    check_child_exec("spawn");
}
END_TEST

static char *shell_cmd(const char *fmt, const char *a, const char *b)
{
    size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    ck_assert(s != NULL);
    snprintf(s, n, fmt, a, b);
    return s;
}

/* sh -c 'writer | reader': both processes' leaks are in one report, each with its own pid. */
START_TEST(test_pipeline)
{
    LWT_REQUIRE_BUILT();
    char *cmd = shell_cmd("'%s' | '%s'", lwt_fixture("pipe_writer"), lwt_fixture("pipe_reader"));
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV("/bin/sh", "-c", cmd), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_out_value(r, "lines", -1) == 5, "the reader got five lines%s", lwt_describe(r));
    json_t *w = LWT_ASSERT_SITE(r, "heap", "writer_leak", 2, 200);
    json_t *rd = LWT_ASSERT_SITE(r, "heap", "reader_keep", 5, 35);
    ck_assert_msg(lwt_site_npids(w) == 1 && lwt_site_npids(rd) == 1, "one pid per site%s", lwt_describe(r));
    long long wp = json_integer_value(json_array_get(json_object_get(w, "pids"), 0));
    long long rp = json_integer_value(json_array_get(json_object_get(rd, "pids"), 0));
    ck_assert_msg(wp != rp, "writer and reader are different processes%s", lwt_describe(r));
    ck_assert_msg(ends_with(process_exe(r->report, wp), "/pipe_writer") &&
                      ends_with(process_exe(r->report, rp), "/pipe_reader"),
                  "processes name both executables%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) >= 2, "both commands%s", lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, "heap") >= 7, "totals include both%s", lwt_describe(r));
    free(cmd);
    lwt_free(r);
}
END_TEST

/* The same call site in two processes (different load addresses) is merged into one site. */
START_TEST(test_merge_across_processes)
{
    LWT_REQUIRE_BUILT();
    char *cmd = shell_cmd("'%s' 3; '%s' 4", lwt_fixture("gate_leaker"), lwt_fixture("gate_leaker"));
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV("/bin/sh", "-c", cmd), NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *site = LWT_ASSERT_SITE(r, "heap", "gate_leak", 7, 7 * 32);
    ck_assert_msg(lwt_site_npids(site) == 2, "the site lists both pids%s", lwt_describe(r));
    free(cmd);
    lwt_free(r);
}
END_TEST

/* A signal handler that releases blocks while the code it interrupted is inside leakwatch (20000 from a timer
 * every 20 us, the program allocating and freeing all the while): "heap" frees them, "heap-realloc" moves each
 * (to 4096 bytes, the program freeing the moved blocks at the end). Every block the handler released is gone
 * from the report, no record of a moved block's old address is left, and the five blocks the program leaks are
 * all that is left. */
static const char *const handler_modes[] = { "heap", "heap-realloc" };

START_TEST(test_releases_in_signal_handler)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .timeout_s = 120 };
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("handler_releases"), handler_modes[_i]), &o);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_out_value(r, "released", -1) == 20000, "the handler released the whole pool%s",
                  lwt_describe(r));
    LWT_ASSERT_SITE(r, "heap", "kept_leak", 5, 5 * 48);
    LWT_ASSERT_TOTALS(r, "heap", 5, 5 * 48, "no block the handler released is left");
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("heap_process");
    TCase *tc = tcase_create("threads and fork");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_threads_exact);
    tcase_add_test(tc, test_thread_churn);
    tcase_add_test(tc, test_fork);
    tcase_add_test(tc, test_fork_while_allocating);
    tcase_add_loop_test(tc, test_releases_in_signal_handler, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("exec");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_execv);
    tcase_add_test(tc, test_execvp);
    tcase_add_test(tc, test_execve_empty_env);
    tcase_add_test(tc, test_fork_exec);
    tcase_add_test(tc, test_vfork_exec);
    tcase_add_test(tc, test_posix_spawn);
    suite_add_tcase(s, tc);

    tc = tcase_create("process trees");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pipeline);
    tcase_add_test(tc, test_merge_across_processes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
