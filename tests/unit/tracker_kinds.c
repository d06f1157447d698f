/* Unit tests of the tracker's descriptor events without LD_PRELOAD: bad and double closes with both stacks, the
 * bounded and merged warning list, close_range bookkeeping, closes from signal handlers, fd-into-exec and its
 * withdrawal, and the dump's warnings array. */
#include "internal.h"
#include "testing.h"

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each does one event with the stack of this function's caller, the way a wrapper does. */
__attribute__((noinline)) static void close_a(int fd)
{
    lw_on_close(fd);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void close_b(int fd)
{
    lw_on_close(fd);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void bad_close(int fd)
{
    lw_on_bad_close(fd);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void acquire_fd(int fd, int cloexec)
{
    lw_on_acquire(LW_FD, fd, 0);
    if (!cloexec)
        lw_set_flags(LW_FD, (uintptr_t)fd, LW_FLAG_NO_CLOEXEC, 1);
    __asm__ volatile("" ::: "memory");
}

/* A descriptor a tracked call returned and that went away without a close leakwatch saw (a raw system call):
 * its record is gone, as the close wrapper drops it before the close that then fails. */
static void opened_then_lost(int fd)
{
    acquire_fd(fd, 1);
    lw_on_release(LW_FD, (uintptr_t)fd);
}

static void setup(void)
{
    lw_reset_for_tests();
    lw_warnings_reset();
    lw_closes_reset();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.dump_dir[0] = '\0';
}

static lw_warning_t get(size_t i)
{
    lw_warning_t w;
    memset(&w, 0, sizeof w);
    ck_assert_msg(lw_warning_get(i, &w), "warning %zu exists", i);
    return w;
}

START_TEST(bad_close_without_earlier_close)
{
    opened_then_lost(900);
    bad_close(900);
    ck_assert_uint_eq(lw_warning_count(), 1);
    lw_warning_t w = get(0);
    ck_assert_int_eq(w.type, LW_W_BAD_CLOSE);
    ck_assert_int_eq(w.fd, 900);
    ck_assert_uint_ne(w.site, 0);
    ck_assert_uint_eq(w.other_site, 0);
    ck_assert_str_eq(lw_warning_type_name(w.type), "bad-close");
    ck_assert_int_eq(w.kind, LW_FD);
}
END_TEST

/* Closing numbers never open (a daemon closing 3..1023) warns about nothing; a number opened since does. */
START_TEST(close_of_never_open_number_is_quiet)
{
    for (int fd = 3; fd < 1024; fd++)
        bad_close(fd);
    ck_assert_uint_eq(lw_warning_count(), 0);
    ck_assert_uint_eq(lw_unopened_closes(), 1021);
    lw_on_acquire(LW_SOCKET, 700, 0);
    lw_on_release(LW_SOCKET, 700);
    bad_close(700);
    ck_assert_uint_eq(lw_warning_count(), 1);
    ck_assert_int_eq(get(0).type, LW_W_BAD_CLOSE);
    /* a FILE* record is keyed by its pointer, not a number */
    lw_on_acquire(LW_FD, 0x7f0000002000ull, 0);
    ck_assert_uint_eq(lw_warning_count(), 1);
    /* reopened after a close: a failing close then is a bad close, not a double close of the old incarnation */
    close_a(701);
    opened_then_lost(701);
    bad_close(701);
    ck_assert_int_eq(get(1).type, LW_W_BAD_CLOSE);
    ck_assert_uint_eq(get(1).other_site, 0);
    ck_assert_uint_eq(lw_unopened_closes(), 1021);
}
END_TEST

START_TEST(double_close_names_the_last_close)
{
    close_a(901);
    close_b(901); /* the last successful close wins */
    bad_close(901);
    lw_warning_t w = get(0);
    ck_assert_int_eq(w.type, LW_W_DOUBLE_CLOSE);
    ck_assert_uint_ne(w.other_site, 0);
    ck_assert_uint_ne(w.other_site, w.site);
    close_a(902);
    bad_close(902);
    lw_warning_t w2 = get(1);
    /* different close functions: different earlier-close sites */
    ck_assert_uint_ne(w2.other_site, w.other_site);
}
END_TEST

START_TEST(equal_warnings_merge_and_the_list_is_bounded)
{
    opened_then_lost(903);
    for (int i = 0; i < 5; i++)
        bad_close(903);
    ck_assert_uint_eq(lw_warning_count(), 1);
    ck_assert_uint_eq(get(0).count, 5);
    for (int fd = 1000; fd < 1000 + LW_MAX_WARNINGS + 10; fd++) {
        opened_then_lost(fd);
        bad_close(fd);
    }
    ck_assert_uint_eq(lw_warning_count(), LW_MAX_WARNINGS);
    ck_assert_uint_eq(lw_warnings_dropped(), 11);
}
END_TEST

START_TEST(negative_and_inside_tracker_are_ignored)
{
    opened_then_lost(904);
    opened_then_lost(905);
    bad_close(-1);
    lw_test_set_busy(1);
    bad_close(904);
    lw_test_set_busy(0);
    lw_config.kinds = 1u << LW_HEAP; /* descriptors untracked: no descriptor events */
    bad_close(905);
    ck_assert_uint_eq(lw_warning_count(), 0);
}
END_TEST

/* Closes from a signal handler that interrupted the tracker while it held the descriptors' shard: each record
 * goes when the interrupted call leaves the tracker, unless its number is open again by then (another thread's
 * open, whose record replaces it). */
START_TEST(close_in_handler_waits_for_the_interrupted_call)
{
    int fd = open("/dev/null", O_RDONLY), again = open("/dev/null", O_RDONLY);
    ck_assert(fd > 2 && again > 2);
    acquire_fd(fd, 1);
    acquire_fd(again, 1);
    ck_assert_uint_eq(lw_live_count(LW_FD), 2);

    lw_guard_t g = lw_enter(); /* the interrupted call */
    lw_tables_lock_all();
    ck_assert_int_eq(lw_on_release(LW_FD, (uintptr_t)fd), 0); /* the handler's closes */
    ck_assert_int_eq(close(fd), 0);
    ck_assert_int_eq(lw_on_release(LW_FD, (uintptr_t)again), 0);
    ck_assert_int_eq(close(again), 0);
    ck_assert_int_eq(dup2(0, again), again); /* the number is given out again */
    lw_tables_unlock_all();
    ck_assert_uint_eq(lw_live_count(LW_FD), 2);
    lw_leave(g);

    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_int_eq(lw_on_release(LW_FD, (uintptr_t)fd), 0);
    ck_assert_int_eq(lw_on_release(LW_FD, (uintptr_t)again), 1);
    close(again);
}
END_TEST

START_TEST(close_range_releases_and_marks)
{
    for (int fd = 300; fd < 310; fd++)
        acquire_fd(fd, 0);
    lw_on_acquire(LW_SOCKET, 305, 0); /* 305 is both in two name spaces: both go */
    lw_on_acquire(LW_FD, 0x7f0000001000ull, 0);
    lw_set_flags(LW_FD, 0x7f0000001000ull, LW_FLAG_FILE, 1); /* a FILE*: never a descriptor number */
    ck_assert_uint_eq(lw_on_close_range_at(302, 304, 1, LW_HERE()), 3);
    ck_assert_uint_eq(lw_live_count(LW_FD), 11);
    ck_assert_uint_eq(lw_on_close_range_at(303, 306, 0, LW_HERE()), 5);
    ck_assert_uint_eq(lw_live_count(LW_FD), 7);
    ck_assert_uint_eq(lw_live_count(LW_SOCKET), 0);
    /* a later close of a number the range closed is a double close */
    bad_close(304);
    ck_assert_int_eq(get(0).type, LW_W_DOUBLE_CLOSE);
}
END_TEST

START_TEST(exec_reports_inherited_and_withdraws)
{
    int inherited = open("/dev/null", O_RDONLY);
    int private_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int flagged_but_cloexec = open("/dev/null", O_RDONLY | O_CLOEXEC);
    acquire_fd(inherited, 0);
    acquire_fd(private_fd, 1);
    acquire_fd(flagged_but_cloexec, 0); /* the flag says inherited, F_GETFD says not: not reported */
    opened_then_lost(950);
    bad_close(950);
    unsigned mark = lw_on_exec("/bin/true", 1);
    ck_assert_uint_eq(lw_warning_count(), 2);
    lw_warning_t w = get(1);
    ck_assert_int_eq(w.type, LW_W_FD_INTO_EXEC);
    ck_assert_int_eq(w.fd, inherited);
    ck_assert_int_eq(w.kind, LW_FD);
    ck_assert_str_eq(w.target, "/dev/null");
    ck_assert_str_eq(w.program, "/bin/true");
    ck_assert_uint_ne(w.other_site, 0);
    lw_on_exec_failed(mark);
    ck_assert_uint_eq(lw_warning_count(), 1); /* the bad close stays */
    ck_assert_int_eq(get(0).type, LW_W_BAD_CLOSE);
    close(inherited);
    close(private_fd);
    close(flagged_but_cloexec);
}
END_TEST

START_TEST(dump_carries_warnings)
{
    char dir[] = "/tmp/lw_kinds_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    close_a(906);
    bad_close(906);
    opened_then_lost(907);
    bad_close(907);
    char path[4200];
    snprintf(path, sizeof path, "%s/d.json", dir);
    ck_assert_int_eq(lw_dump_to(path, "signal"), 0);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    ck_assert_msg(root != NULL, "dump parses: %s", err.text);
    json_t *ws = json_object_get(root, "warnings");
    ck_assert_uint_eq(json_array_size(ws), 2);
    json_t *w0 = json_array_get(ws, 0), *w1 = json_array_get(ws, 1);
    ck_assert_str_eq(json_string_value(json_object_get(w0, "type")), "double-close");
    ck_assert_str_eq(json_string_value(json_object_get(w0, "handle")), "906");
    ck_assert_uint_gt(json_array_size(json_object_get(w0, "frames")), 0);
    ck_assert_uint_gt(json_array_size(json_object_get(w0, "other_frames")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(w1, "type")), "bad-close");
    ck_assert_uint_eq(json_array_size(json_object_get(w1, "other_frames")), 0);
    /* values only: the report says the sentence */
    ck_assert_ptr_null(json_object_get(w0, "message"));
    ck_assert_ptr_null(json_object_get(w1, "message"));
    json_decref(root);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* An fd-into-exec warning is written as values: the kind of the descriptor, what it is, the program. */
START_TEST(dump_carries_exec_values)
{
    char dir[] = "/tmp/lw_kinds_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    int inherited = open("/dev/null", O_RDONLY);
    acquire_fd(inherited, 0);
    unsigned mark = lw_on_exec("/bin/true", 0);
    char path[4200], fd[16];
    snprintf(path, sizeof path, "%s/d.json", dir);
    snprintf(fd, sizeof fd, "%d", inherited);
    ck_assert_int_eq(lw_dump_to(path, "signal"), 0);
    lw_on_exec_failed(mark);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    ck_assert_msg(root != NULL, "dump parses: %s", err.text);
    json_t *w = json_array_get(json_object_get(root, "warnings"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(w, "type")), "fd-into-exec");
    ck_assert_str_eq(json_string_value(json_object_get(w, "handle")), fd);
    ck_assert_str_eq(json_string_value(json_object_get(w, "kind")), "fd");
    ck_assert_str_eq(json_string_value(json_object_get(w, "target")), "/dev/null");
    ck_assert_str_eq(json_string_value(json_object_get(w, "program")), "/bin/true");
    ck_assert_ptr_null(json_object_get(w, "message"));
    json_decref(root);
    unlink(path);
    rmdir(dir);
    close(inherited);
}
END_TEST

/* fexecve names the program by its descriptor. */
START_TEST(fexec_names_the_descriptor)
{
    int inherited = open("/dev/null", O_RDONLY);
    acquire_fd(inherited, 0);
    unsigned mark = lw_on_fexec_at(7, LW_HERE());
    ck_assert_uint_eq(lw_warning_count(), 1);
    lw_warning_t w = get(0);
    ck_assert_int_eq(w.type, LW_W_FD_INTO_EXEC);
    ck_assert_int_eq(w.fd, inherited);
    ck_assert_str_eq(w.program, "descriptor 7");
    lw_on_exec_failed(mark);
    ck_assert_uint_eq(lw_warning_count(), 0);
    close(inherited);
}
END_TEST

START_TEST(forked_child_starts_without_warnings)
{
    opened_then_lost(908);
    bad_close(908);
    ck_assert_uint_eq(lw_warning_count(), 1);
    lw_warnings_forked();
    ck_assert_uint_eq(lw_warning_count(), 0);
}
END_TEST

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    Suite *s = suite_create("tracker_kinds");
    TCase *tc = tcase_create("warnings");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_close_without_earlier_close);
    tcase_add_test(tc, close_of_never_open_number_is_quiet);
    tcase_add_test(tc, double_close_names_the_last_close);
    tcase_add_test(tc, equal_warnings_merge_and_the_list_is_bounded);
    tcase_add_test(tc, negative_and_inside_tracker_are_ignored);
    tcase_add_test(tc, close_in_handler_waits_for_the_interrupted_call);
    tcase_add_test(tc, close_range_releases_and_marks);
    tcase_add_test(tc, exec_reports_inherited_and_withdraws);
    tcase_add_test(tc, dump_carries_warnings);
    tcase_add_test(tc, dump_carries_exec_values);
    tcase_add_test(tc, fexec_names_the_descriptor);
    tcase_add_test(tc, forked_child_starts_without_warnings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
