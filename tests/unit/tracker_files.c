/* Unit tests of what the tracker loses: the "lost" counts of a dump when the tracker's own allocator fails, and
 * the warnings past the cap. */
#include "internal.h"
#include "testing.h"
#include "warn_events.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Acquires `handle` with the stack of this function's caller (the wrappers' convention). */
__attribute__((noinline)) static void acquire_here(lw_kind_t kind, uintptr_t handle, size_t size)
{
    lw_on_acquire(kind, handle, size);
    __asm__ volatile("" ::: "memory"); /* keep the call from becoming a tail call */
}

static void setup(void)
{
    lw_reset_for_tests();
    lw_warnings_reset();
    lw_mem_fail_after(-1);
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.reach = 1;
    atomic_store(&lw_dump_seq, 0);
}

static char *make_dir(mode_t mode)
{
    static char dirs[8][64];
    static int next;
    char *d = dirs[next++ % 8];
    snprintf(d, 64, "/tmp/lwfiles.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    ck_assert_int_eq(chmod(d, mode), 0);
    return d;
}

static void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    ck_assert_msg(d != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
    return d;
}

static long long lost_of(json_t *d, const char *what)
{
    json_t *lost = json_object_get(d, "lost");
    ck_assert_msg(json_is_object(lost), "the dump has no \"lost\" object");
    json_t *v = json_object_get(lost, what);
    ck_assert_msg(json_is_integer(v), "lost.%s is not an integer", what);
    return json_integer_value(v);
}

static long long total_of(json_t *d, const char *kind)
{
    return json_integer_value(json_object_get(json_object_get(json_object_get(d, "totals"), kind), "count"));
}

/* Writes a dump into a fresh private directory and loads it. */
static json_t *dump_now(char *dir_out, size_t cap)
{
    char *dir = make_dir(0700);
    char path[PATH_MAX];
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    json_t *d = load(path);
    snprintf(dir_out, cap, "%s", dir);
    return d;
}

/* ---- lost ---------------------------------------------------------------------------------------------- */

START_TEST(nothing_lost_reads_zero)
{
    acquire_here(LW_HEAP, 0x1000, 10);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(lost_of(d, "records"), 0);
    ck_assert_int_eq(lost_of(d, "sites"), 0);
    ck_assert_int_eq(lost_of(d, "warnings"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "dropped")), 0);
    ck_assert_int_eq(total_of(d, "heap"), 1);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(records_lost_when_the_allocator_fails)
{
    /* One 64 MiB region is one shard: far more records than one pool chunk holds (819). Their stack may be lost
     * too (it is new), which is counted apart. */
    const uintptr_t base = (uintptr_t)0x7e0000000000ull;
    const int n = 5000;
    lw_mem_fail_after(0);
    for (int i = 0; i <= n; i++)
        acquire_here(LW_HEAP, base + (uintptr_t)i * 16, 8);
    lw_mem_fail_after(-1);
    size_t live = lw_live_count(LW_HEAP);
    ck_assert_uint_lt(live, (size_t)n + 1);
    ck_assert_uint_eq(atomic_load(&lw_lost_records), (size_t)n + 1 - live);

    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(total_of(d, "heap"), (long long)live);
    ck_assert_int_eq(lost_of(d, "records"), (long long)(n + 1 - live));
    ck_assert_int_eq(lost_of(d, "sites"), (long long)atomic_load(&lw_lost_sites));
    ck_assert_int_eq(json_integer_value(json_object_get(d, "dropped")), 0);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(records_lost_when_the_dump_has_no_working_memory)
{
    for (int i = 0; i < 100; i++)
        acquire_here(LW_HEAP, 0x100000 + (uintptr_t)i * 32, 16);
    char *dir = make_dir(0700);
    char path[PATH_MAX];
    /* the copy of the live records cannot be made: every record is missing from the dump */
    lw_mem_fail_after(0);
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    lw_mem_fail_after(-1);
    json_t *d = load(path);
    ck_assert_int_eq(total_of(d, "heap"), 0);
    ck_assert_int_eq(lost_of(d, "records"), 100);
    json_decref(d);
    /* the copy is made, the groups are not */
    lw_mem_fail_after(1);
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    lw_mem_fail_after(-1);
    d = load(path);
    ck_assert_int_eq(json_array_size(json_object_get(d, "sites")), 0);
    ck_assert_int_eq(lost_of(d, "records"), 100);
    json_decref(d);
    /* memory again: nothing lost, and the counts of one dump do not stay in the next */
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    d = load(path);
    ck_assert_int_eq(total_of(d, "heap"), 100);
    ck_assert_int_eq(lost_of(d, "records"), 0);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(sites_lost_when_the_allocator_fails)
{
    lw_mem_fail_after(0);
    for (uintptr_t i = 0; i < 3; i++) {
        uintptr_t frames[2] = { 0x4000 + i, 0x5000 };
        ck_assert_uint_eq(lw_site_intern(frames, 2), 0);
    }
    lw_mem_fail_after(-1);
    uintptr_t frames[2] = { 0x4000, 0x5000 };
    ck_assert_uint_ne(lw_site_intern(frames, 2), 0);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(lost_of(d, "sites"), 3);
    ck_assert_int_eq(lost_of(d, "records"), 0);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(warnings_past_the_cap_are_counted)
{
    for (int fd = 1000; fd < 1000 + LW_MAX_WARNINGS + 44; fd++)
        lw_on_bad_close(fd);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_uint_eq(json_array_size(json_object_get(d, "warnings")), LW_MAX_WARNINGS);
    ck_assert_int_eq(lost_of(d, "warnings"), 44);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(forked_child_starts_without_losses)
{
    lw_mem_fail_after(0);
    for (int i = 0; i < 2000; i++)
        acquire_here(LW_HEAP, (uintptr_t)0x7d0000000000ull + (uintptr_t)i * 16, 8);
    uintptr_t frames[1] = { 0x4444 };
    ck_assert_uint_eq(lw_site_intern(frames, 1), 0);
    lw_mem_fail_after(-1);
    ck_assert_uint_gt(atomic_load(&lw_lost_records), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(atomic_load(&lw_lost_records) == 0 && atomic_load(&lw_lost_sites) == 0 ? 0 : 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child inherited the parent's losses");
}
END_TEST

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    Suite *s = suite_create("tracker files");
    TCase *lost = tcase_create("lost");
    tcase_add_checked_fixture(lost, setup, NULL);
    tcase_set_timeout(lost, 60);
    tcase_add_test(lost, nothing_lost_reads_zero);
    tcase_add_test(lost, records_lost_when_the_allocator_fails);
    tcase_add_test(lost, records_lost_when_the_dump_has_no_working_memory);
    tcase_add_test(lost, sites_lost_when_the_allocator_fails);
    tcase_add_test(lost, warnings_past_the_cap_are_counted);
    tcase_add_test(lost, forked_child_starts_without_losses);
    suite_add_tcase(s, lost);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
