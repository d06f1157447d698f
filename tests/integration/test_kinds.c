/* Integration tests for the descriptor, socket, thread and timer kinds: exact counts per call site, the details
 * the report shows, the warnings (double close, bad close, descriptors inherited by exec), and per-kind gating. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

/* The fixtures leak on purpose: let the gate pass so that the exit status is the fixture's own check. */
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

/* The first sample's detail of the one site of `kind` in function `func`. */
static const char *detail_of(const lwt_result_t *r, const char *kind, const char *func, int sample)
{
    json_t *site = lwt_find_site(r->report, kind, func, NULL, 0, 0);
    json_t *s = site ? json_array_get(json_object_get(site, "samples"), (size_t)sample) : NULL;
    const char *d = s ? json_string_value(json_object_get(s, "detail")) : NULL;
    return d ? d : "";
}

/* No site of `kind` has a frame in `func` (other kinds may: e.g. the runtime's reachable blocks). */
#define ASSERT_NO_KIND_SITE(r, kind, func)                                                                      \
    ck_assert_msg(lwt_find_site((r)->report, (kind), (func), NULL, 0, 0) == NULL, "no %s site in %s()%s",       \
                  (kind), (func), lwt_describe(r))

#define ASSERT_DETAIL(r, kind, func, sample, needle)                                                            \
    ck_assert_msg(strstr(detail_of((r), (kind), (func), (sample)), (needle)) != NULL,                          \
                  "detail of %s sample %d should contain '%s', is '%s'%s", (func), (sample), (needle),          \
                  detail_of((r), (kind), (func), (sample)), lwt_describe(r))

/* What fd_kinds leaks per mode: descriptors, and a piece of the detail of the first sample. */
static const struct {
    const char *mode;
    const char *func;
    long long count;
    const char *detail;
} fd_modes[] = {
    { "open", "leak_open", 1, "/dev/null" },
    { "openat", "leak_openat", 1, "/dev/zero" },
    { "creat", "leak_creat", 1, "/tmp/lw_fd_kinds." },
    { "pipe", "leak_pipe", 2, "pipe:[" },
    { "pipe2", "leak_pipe2", 2, "pipe:[" },
    { "dup", "leak_dup", 1, "/dev/null" },
    { "dup2", "leak_dup2", 1, "/dev/null" },
    { "fcntl", "leak_fcntl_dupfd", 1, "/dev/null" },
    { "eventfd", "leak_eventfd", 1, "anon_inode:[eventfd]" },
    { "timerfd", "leak_timerfd", 1, "anon_inode:[timerfd]" },
    { "signalfd", "leak_signalfd", 1, "anon_inode:[signalfd]" },
    { "epoll", "leak_epoll", 1, "anon_inode:[eventpoll]" },
    { "inotify", "leak_inotify", 1, "inotify" },
    { "memfd", "leak_memfd", 1, "memfd:fixture" },
    { "fopen", "leak_fopen", 1, "FILE* fd " },
    { "fdopen", "leak_fdopen", 1, "FILE* fd " },
    { "opendir", "leak_opendir", 1, "DIR* fd " },
    { "popen", "leak_popen", 1, "pipe:[" },
    { "range_cloexec", "leak_range_cloexec", 1, "/dev/null" },
};
#define N_FD_MODES ((int)(sizeof fd_modes / sizeof fd_modes[0]))

/* One entry point at a time: exactly its leak, no other descriptor (the one closed beside it is not reported). */
START_TEST(test_fd_mode)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("fd_kinds"), fd_modes[_i].mode), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "fd", fd_modes[_i].func, fd_modes[_i].count, 0);
    ck_assert_msg(lwt_total_count(r->report, "fd") == fd_modes[_i].count, "fd total should be %lld%s",
                  fd_modes[_i].count, lwt_describe(r));
    ASSERT_DETAIL(r, "fd", fd_modes[_i].func, 0, fd_modes[_i].detail);
    ck_assert_msg(lwt_total_count(r->report, "socket") == 0 && lwt_total_count(r->report, "thread") == 0
                      && lwt_total_count(r->report, "timer") == 0,
                  "no other kind%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Everything in one process: the fd total is exactly the sum; the underlying descriptors of FILE* and DIR*
 * streams (fopen's own open, popen's pipe) are never counted beside the stream. */
START_TEST(test_fd_all)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("fd_kinds"), "all"), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long total = 0;
    for (int i = 0; i < N_FD_MODES; i++) {
        LWT_ASSERT_SITE(r, "fd", fd_modes[i].func, fd_modes[i].count, 0);
        total += fd_modes[i].count;
    }
    ck_assert_msg(lwt_total_count(r->report, "fd") == total, "fd total should be %lld%s", total, lwt_describe(r));
    ck_assert_msg(lwt_site_total(r->report, "fd") == N_FD_MODES, "one fd site per mode%s", lwt_describe(r));
    ASSERT_NO_KIND_SITE(r, "fd", "closed_by_range");
    ASSERT_NO_KIND_SITE(r, "fd", "standard_streams");
    lwt_free(r);
}
END_TEST

/* close_range releases its whole range; freopen of stdin is not an acquisition. */
START_TEST(test_fd_closed)
{
    LWT_REQUIRE_BUILT();
    const char *modes[] = { "range", "std" };
    for (int i = 0; i < 2; i++) {
        lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_kinds"), modes[i]), NULL);
        LWT_ASSERT_RUN(r, 0);
        ck_assert_msg(lwt_total_count(r->report, NULL) == 0, "%s leaks nothing%s", modes[i], lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* A signal handler that releases handles while the code it interrupted is inside leakwatch, one from each run of
 * a timer every 20 to 100 us, the program acquiring and releasing all the while (handler_releases):
 *   fd, fd-threads: 600 closes, the program opening and closing, then with two more threads doing the same and
 *     the handler opening and closing one of its own too;
 *   map, map-threads: 20000 unmaps of the program's pages and a page of the handler's own mapped and unmapped,
 *     the program mapping and unmapping, then with two more threads too (some land while leakwatch holds a lock:
 *     the interrupted call's end forgets them);
 *   timer: 600 timer_deletes while the program opens and closes descriptors (whose records share the timers'
 *     shard: the handler often finds it locked by the code it interrupted, and the releases wait for that code);
 *   timer-churn: the same while the program creates and deletes timers (the interrupted call is often recording
 *     another timer in that shard, which must not keep the released one's record).
 * The program finishes, no handle the handler released is left, and the five the program leaks are all there
 * is. */
static const struct {
    const char *mode, *kind;
    long long released, leak_bytes;
} handler_cases[] = {
    { "fd", "fd", 600, 0 },
    { "fd-threads", "fd", 600, 0 },
    { "map", "mmap", 20000, 5 * 4096 },
    { "map-threads", "mmap", 20000, 5 * 4096 },
    { "timer", "timer", 600, 0 },
    { "timer-churn", "timer", 600, 0 },
};

START_TEST(test_releases_in_signal_handler)
{
    LWT_REQUIRE_BUILT();
    const char *mode = handler_cases[_i].mode, *kind = handler_cases[_i].kind;
    lwt_opts_t o = { .timeout_s = 60 };
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("handler_releases"), mode), &o);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_out_value(r, "released", -1) == handler_cases[_i].released,
                  "%s: the handler released the whole pool%s", mode, lwt_describe(r));
    LWT_ASSERT_SITE(r, kind, "kept_leak", 5, handler_cases[_i].leak_bytes);
    ck_assert_msg(lwt_total_count(r->report, kind) == 5, "%s: no handle the handler released is left%s", mode,
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_sockets)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("socket_kinds")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "socket", "leak_listener", 1, 0);
    LWT_ASSERT_SITE(r, "socket", "leak_client", 1, 0);
    LWT_ASSERT_SITE(r, "socket", "leak_accepted", 1, 0);
    LWT_ASSERT_SITE(r, "socket", "leak_socketpair", 2, 0);
    LWT_ASSERT_SITE(r, "fd", "receive_fd", 1, 0); /* SCM_RIGHTS: a file, so an fd */
    ASSERT_NO_KIND_SITE(r, "socket", "closed_connection");
    ck_assert_msg(lwt_total_count(r->report, "socket") == 5 && lwt_total_count(r->report, "fd") == 1,
                  "5 sockets and 1 descriptor%s", lwt_describe(r));
    long long sp = lwt_out_value(r, "server_port", -1), cp = lwt_out_value(r, "client_port", -1);
    char want[128];
    snprintf(want, sizeof want, "AF_INET SOCK_STREAM 127.0.0.1:%lld listening", sp);
    ASSERT_DETAIL(r, "socket", "leak_listener", 0, want);
    snprintf(want, sizeof want, "127.0.0.1:%lld -> 127.0.0.1:%lld", cp, sp);
    ASSERT_DETAIL(r, "socket", "leak_client", 0, want);
    snprintf(want, sizeof want, "127.0.0.1:%lld -> 127.0.0.1:%lld", sp, cp);
    ASSERT_DETAIL(r, "socket", "leak_accepted", 0, want);
    ASSERT_DETAIL(r, "socket", "leak_socketpair", 0, "AF_UNIX SOCK_STREAM");
    ASSERT_DETAIL(r, "fd", "receive_fd", 0, "/dev/null");
    lwt_free(r);
}
END_TEST

START_TEST(test_threads)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("thread_kinds")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "thread", "spawn_finished", 1, 0);
    LWT_ASSERT_SITE(r, "thread", "spawn_forever", 1, 0);
    LWT_ASSERT_SITE(r, "thread", "spawn_exit", 1, 0);
    ASSERT_NO_KIND_SITE(r, "thread", "spawn_clean");
    ck_assert_msg(lwt_total_count(r->report, "thread") == 3, "3 threads%s", lwt_describe(r));
    ASSERT_DETAIL(r, "thread", "spawn_finished", 0, " finished");
    ASSERT_DETAIL(r, "thread", "spawn_forever", 0, " running");
    ASSERT_DETAIL(r, "thread", "spawn_exit", 0, " finished");
    /* the start routine is named by function and line, not by address */
    ASSERT_DETAIL(r, "thread", "spawn_finished", 0, "start=quick (thread_kinds.c:");
    ASSERT_DETAIL(r, "thread", "spawn_forever", 0, "start=forever (thread_kinds.c:");
    ASSERT_DETAIL(r, "thread", "spawn_exit", 0, "start=exits (thread_kinds.c:");
    lwt_free(r);
}
END_TEST

/* A process's first thread made by a signal handler that interrupted malloc or free (2000 processes, each
 * churning small blocks until a one-shot timer fires): the wrapper takes none of glibc's heap for itself, so no
 * process finds its heap corrupt, and every thread runs and is joined. */
START_TEST(test_thread_made_in_signal_handler)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .timeout_s = 240 };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("handler_thread"), "2000"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "trials", -1) == 2000 && lwt_out_value(r, "crashed", -1) == 0,
                  "no process crashed%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* close_range refused by the kernel (an unknown flag) closes nothing, so the record of the descriptor stays. */
START_TEST(test_close_range_refused)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("fd_close_range_bad")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "fd", "open_kept", 1, 0);
    ck_assert_msg(lwt_total_count(r->report, "fd") == 1, "1 fd%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_timers)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("timer_kinds")), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "timer", "leak_signal_timer", 1, 0);
    LWT_ASSERT_SITE(r, "timer", "leak_none_timer", 1, 0);
    ck_assert_msg(lwt_total_count(r->report, "timer") == 2 && lwt_total_count(r->report, NULL) == 2,
                  "2 timers and nothing else%s", lwt_describe(r));
    ASSERT_DETAIL(r, "timer", "leak_signal_timer", 0, "clock=CLOCK_MONOTONIC notify=SIGEV_SIGNAL");
    ASSERT_DETAIL(r, "timer", "leak_none_timer", 0, "clock=CLOCK_REALTIME notify=SIGEV_NONE");
    lwt_free(r);
}
END_TEST

/* Whether `frames` (an array of report frames) has one in function func. */
static int has_function(json_t *frames, const char *func)
{
    for (size_t i = 0; i < json_array_size(frames); i++) {
        const char *f = json_string_value(json_object_get(json_array_get(frames, i), "function"));
        if (f && strcmp(f, func) == 0)
            return 1;
    }
    return 0;
}

static json_t *warning_of(json_t *report, const char *type, int *count)
{
    json_t *found = NULL, *ws = json_object_get(report, "warnings");
    *count = 0;
    for (size_t i = 0; i < json_array_size(ws); i++) {
        json_t *w = json_array_get(ws, i);
        if (strcmp(json_string_value(json_object_get(w, "type")), type) == 0) {
            found = w;
            (*count)++;
        }
    }
    return found;
}

/* A double close names both closes, fclose then close included; a close of a descriptor closed behind
 * leakwatch's back is a bad close; close(-1), the close of an inherited descriptor and of a number never open
 * warn about nothing. Warnings do not fail the gate. */
START_TEST(test_close_warnings)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_warn")), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(json_array_size(json_object_get(r->report, "warnings")) == 3, "three warnings%s", lwt_describe(r));
    int n;
    json_t *w = warning_of(r->report, "double-close", &n);
    json_t *first = json_array_get(json_object_get(r->report, "warnings"), 0);
    ck_assert_msg(n == 2 && has_function(json_object_get(first, "frames"), "second_close")
                      && has_function(json_object_get(first, "other_frames"), "first_close")
                      && !has_function(json_object_get(first, "frames"), "first_close"),
                  "double close with both stacks%s", lwt_describe(r));
    ck_assert_msg(has_function(json_object_get(w, "frames"), "close_after_fclose")
                      && has_function(json_object_get(w, "other_frames"), "close_after_fclose"),
                  "close after fclose is a double close, the fclose the earlier one%s", lwt_describe(r));
    w = warning_of(r->report, "bad-close", &n);
    char fd[24];
    snprintf(fd, sizeof fd, "%lld", lwt_out_value(r, "bad_fd", -1));
    ck_assert_msg(n == 1 && strcmp(json_string_value(json_object_get(w, "handle")), fd) == 0
                      && has_function(json_object_get(w, "frames"), "bad_close")
                      && json_array_size(json_object_get(w, "other_frames")) == 0,
                  "bad close of the descriptor closed behind leakwatch's back%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "warning: double-close") && strstr(r->err, "the earlier close:"),
                  "text report shows warnings%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Of two descriptors open at exec, only the one without close-on-exec is reported, with its opening stack; the
 * failed exec before leaves nothing behind. */
START_TEST(test_fd_into_exec)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_exec")), NULL);
    LWT_ASSERT_RUN(r, 0);
    int n;
    json_t *w = warning_of(r->report, "fd-into-exec", &n);
    char fd[24];
    snprintf(fd, sizeof fd, "%lld", lwt_out_value(r, "inherited_fd", -1));
    ck_assert_msg(n == 1 && json_array_size(json_object_get(r->report, "warnings")) == 1, "one warning%s",
                  lwt_describe(r));
    ck_assert_msg(strcmp(json_string_value(json_object_get(w, "handle")), fd) == 0
                      && strstr(json_string_value(json_object_get(w, "message")), "(/dev/null)")
                      && strstr(json_string_value(json_object_get(w, "message")), "/bin/true")
                      && has_function(json_object_get(w, "frames"), "open_inherited")
                      && has_function(json_object_get(w, "other_frames"), "main"),
                  "the inherited descriptor, its path and stacks%s", lwt_describe(r));
    ck_assert_msg(lwt_total_count(r->report, NULL) == 0, "an exec dump holds no leaks%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* --kinds chooses what gates: each fixture fails exactly the gates of the kinds it leaks. */
START_TEST(test_gate_per_kind)
{
    LWT_REQUIRE_BUILT();
    static const struct {
        const char *fixture, *mode, *leaks, *clean;
    } cases[] = {
        { "fd_kinds", "open", "fd", "heap,socket,thread,timer" },
        { "socket_kinds", NULL, "socket", "heap,thread,timer" },
        { "thread_kinds", NULL, "thread", "fd,socket,timer" },
        { "timer_kinds", NULL, "timer", "heap,fd,socket,thread" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fx = lwt_fixture(cases[i].fixture);
        const char *const *cmd = cases[i].mode ? LWT_ARGV(fx, cases[i].mode) : LWT_ARGV(fx);
        lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--kinds", cases[i].leaks), cmd, NULL);
        LWT_ASSERT_RUN(r, 23);
        lwt_free(r);
        r = lwt_leakwatch(LWT_ARGV("--kinds", cases[i].clean), cmd, NULL);
        LWT_ASSERT_RUN(r, 0);
        lwt_free(r);
        r = lwt_leakwatch(NULL, cmd, NULL);
        LWT_ASSERT_RUN(r, 23);
        lwt_free(r);
    }
}
END_TEST

/* LEAKWATCH_KINDS=heap: descriptors are not tracked at all, so neither reported nor gated. */
START_TEST(test_untracked_kind)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { 0 };
    o.env = LWT_ARGV("LEAKWATCH_KINDS=heap");
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_kinds"), "open"), &o);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_total_count(r->report, "fd") == 0, "fd untracked%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("kinds");
    TCase *tc = tcase_create("fd");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, test_fd_mode, 0, N_FD_MODES);
    tcase_add_test(tc, test_fd_all);
    tcase_add_test(tc, test_fd_closed);
    tcase_add_loop_test(tc, test_releases_in_signal_handler, 0, sizeof handler_cases / sizeof handler_cases[0]);
    suite_add_tcase(s, tc);

    tc = tcase_create("other kinds");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sockets);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_thread_made_in_signal_handler);
    tcase_add_test(tc, test_close_range_refused);
    tcase_add_test(tc, test_timers);
    suite_add_tcase(s, tc);

    tc = tcase_create("warnings and gate");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_close_warnings);
    tcase_add_test(tc, test_fd_into_exec);
    tcase_add_test(tc, test_gate_per_kind);
    tcase_add_test(tc, test_untracked_kind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
