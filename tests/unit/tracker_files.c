/* Unit tests of the files the tracker writes and of what it loses: dumps created exclusively, without following
 * links, mode 0600, in a private directory when the dump directory is shared, never a partial file under a name;
 * and the "lost" counts of a dump when the tracker's own allocator fails. */
#include "testing.h"

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
    lw_closes_reset();
    lw_mem_fail_after(-1);
    lw_dump_force_named_tmp(0);
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.reach = LW_REACH_AT_EXIT;
    lw_test_reset_dump_seq();
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

/* Number of entries in dir (without . and ..); the first one's name goes into first (when not NULL). */
static int entries(const char *dir, char *first, size_t cap)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n++ == 0 && first)
            snprintf(first, cap, "%s", e->d_name);
    }
    closedir(d);
    return n;
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
    ck_assert_uint_eq(lw_test_lost_records(), (size_t)n + 1 - live);

    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(total_of(d, "heap"), (long long)live);
    ck_assert_int_eq(lost_of(d, "records"), (long long)(n + 1 - live));
    ck_assert_int_eq(lost_of(d, "sites"), (long long)lw_test_lost_sites());
    ck_assert_int_eq(json_integer_value(json_object_get(d, "dropped")), 0);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

START_TEST(records_lost_when_the_table_cannot_grow)
{
    /* 300 records first, past the nursery, each block 4 KiB from the next so that each has a span of its own: the
     * 500 after them need more of the pool and of uthash's bucket arrays than there is, and the records that
     * cannot be taken are left out of the table */
    const uintptr_t base = (uintptr_t)0x7c0000000000ull;
    lw_nursery_off(1);
    for (int i = 0; i < 300; i++)
        acquire_here(LW_HEAP, base + (uintptr_t)i * 4096, 8);
    lw_mem_fail_after(0);
    for (int i = 300; i < 800; i++)
        acquire_here(LW_HEAP, base + (uintptr_t)i * 4096, 8);
    lw_mem_fail_after(-1);
    size_t live = lw_live_count(LW_HEAP);
    ck_assert_uint_lt(live, 800);
    ck_assert_uint_eq(lw_test_lost_records(), 800 - live);
    /* the table is whole: every recorded block is found and released, and nothing else is */
    size_t released = 0;
    for (int i = 0; i < 800; i++)
        released += (size_t)lw_on_release(LW_HEAP, base + (uintptr_t)i * 4096);
    ck_assert_uint_eq(released, live);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    lw_nursery_off(0);
}
END_TEST

START_TEST(records_lost_when_the_nursery_cannot_promote)
{
    /* Blocks 4 KiB apart: the first 6500 spread over the shard's nursery without filling a set, and with no memory
     * the 1500 after them push out records that cannot be promoted into spans. Such a record is lost; the new one
     * is in the nursery all the same, and its counts must say so: the shard's count that sizes a dump, and (every
     * block sampled) the free filter, without which its release would be skipped. */
    const uintptr_t base = (uintptr_t)0x7a0000000000ull;
    const int first = 6500, n = first + 1500;
    lw_sample_mean = 1;
    for (int i = 0; i < first; i++)
        acquire_here(LW_HEAP, base + (uintptr_t)i * 4096, 8);
    lw_mem_fail_after(0);
    for (int i = first; i < n; i++)
        acquire_here(LW_HEAP, base + (uintptr_t)i * 4096, 8);
    lw_mem_fail_after(-1);
    size_t live = lw_live_count(LW_HEAP);
    ck_assert_uint_gt(lw_test_lost_records(), 0);
    ck_assert_uint_eq(lw_tables_total(), live);
    size_t released = 0;
    for (int i = 0; i < n; i++)
        released += (size_t)lw_on_release(LW_HEAP, base + (uintptr_t)i * 4096);
    ck_assert_uint_eq(released, live);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    ck_assert_uint_eq(lw_tables_total(), 0);
    lw_sample_mean = 0;
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
    /* a failing close of a number that was open (and whose close was not seen) is a bad close */
    for (int fd = 1000; fd < 1000 + LW_MAX_WARNINGS + 44; fd++) {
        lw_on_acquire(LW_FD, (uintptr_t)fd, 0);
        lw_on_release(LW_FD, (uintptr_t)fd);
        lw_on_bad_close(fd);
    }
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
    ck_assert_uint_gt(lw_test_lost_records(), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(lw_test_lost_records() == 0 && lw_test_lost_sites() == 0 ? 0 : 1);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child inherited the parent's losses");
}
END_TEST

/* ---- files --------------------------------------------------------------------------------------------- */

static void assert_mode(const char *path, mode_t type, mode_t perm)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
    ck_assert_msg((st.st_mode & S_IFMT) == type, "%s: wrong type", path);
    ck_assert_msg((st.st_mode & 07777) == perm, "%s: mode %o, expected %o", path, st.st_mode & 07777, perm);
    ck_assert_uint_eq(st.st_uid, geteuid());
}

START_TEST(shared_dir_gets_a_private_dir)
{
    char *base = make_dir(01777);
    /* a umask that takes bits of 0700 and 0600: both are set as they must be all the same */
    mode_t old = umask(0277);
    char path[PATH_MAX], want[PATH_MAX + 64], priv[PATH_MAX];
    ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), 0);
    umask(old);
    snprintf(priv, sizeof priv, "%s/leakwatch-%u", base, (unsigned)geteuid());
    snprintf(want, sizeof want, "%s/leakwatch.%d.1.json", priv, (int)getpid());
    ck_assert_str_eq(path, want);
    assert_mode(priv, S_IFDIR, 0700);
    assert_mode(path, S_IFREG, 0600);
    json_decref(load(path));
    /* nothing else: the private directory in the shared one, the dump in it */
    ck_assert_int_eq(entries(base, NULL, 0), 1);
    ck_assert_int_eq(entries(priv, NULL, 0), 1);
    /* the next dump uses the same private directory */
    ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), 0);
    ck_assert_int_eq(entries(priv, NULL, 0), 2);
    remove_tree(base);
}
END_TEST

START_TEST(private_dir_by_another_hand_is_refused)
{
    char *base = make_dir(01777), *elsewhere = make_dir(0700);
    char priv[PATH_MAX], path[PATH_MAX];
    snprintf(priv, sizeof priv, "%s/leakwatch-%u", base, (unsigned)geteuid());

    /* a link planted where the private directory goes */
    ck_assert_int_eq(symlink(elsewhere, priv), 0);
    ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), EPERM);
    ck_assert_int_eq(entries(elsewhere, NULL, 0), 0);
    ck_assert_int_eq(unlink(priv), 0);

    /* a directory others can read */
    ck_assert_int_eq(mkdir(priv, 0755), 0);
    ck_assert_int_eq(chmod(priv, 0755), 0);
    ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), EPERM);
    ck_assert_int_eq(entries(priv, NULL, 0), 0);

    /* a directory of another user (root can make one) */
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(priv, 0700), 0);
        ck_assert_int_eq(chown(priv, 65534, 65534), 0);
        ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), EPERM);
        ck_assert_int_eq(entries(priv, NULL, 0), 0);
    }
    /* a file */
    ck_assert_int_eq(rmdir(priv), 0);
    int fd = open(priv, O_CREAT | O_EXCL | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(lw_dump_next(base, "signal", path, sizeof path), EPERM);
    struct stat st;
    ck_assert_int_eq(stat(priv, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    remove_tree(base);
    remove_tree(elsewhere);
}
END_TEST

START_TEST(existing_name_is_neither_followed_nor_replaced)
{
    char *dir = make_dir(0700), *other = make_dir(0700);
    char target[PATH_MAX], planted[PATH_MAX], path[PATH_MAX];
    snprintf(target, sizeof target, "%s/target", other);
    FILE *f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious\n", f);
    fclose(f);
    snprintf(planted, sizeof planted, "%s/leakwatch.%d.1.json", dir, (int)getpid());
    ck_assert_int_eq(symlink(target, planted), 0);

    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    /* the next number, not through the link */
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/leakwatch.%d.2.json", dir, (int)getpid());
    ck_assert_str_eq(path, want);
    json_t *d = load(path);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "seq")), 2);
    json_decref(d);
    struct stat st;
    ck_assert_int_eq(lstat(planted, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_int_eq(st.st_size, 9);
    remove_tree(dir);
    remove_tree(other);
}
END_TEST

START_TEST(dump_to_replaces_a_link_without_following_it)
{
    char *dir = make_dir(0700), *other = make_dir(0700);
    char target[PATH_MAX], path[PATH_MAX];
    snprintf(target, sizeof target, "%s/target", other);
    FILE *f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/chosen.json", dir);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_eq(lw_dump_to(path, "signal"), 0);
    assert_mode(path, S_IFREG, 0600);
    json_decref(load(path));
    struct stat st;
    ck_assert_int_eq(stat(target, &st), 0);
    ck_assert_int_eq(st.st_size, 9);
    ck_assert_int_eq(entries(dir, NULL, 0), 1);
    /* and again, over the dump itself */
    ck_assert_int_eq(lw_dump_to(path, "signal"), 0);
    ck_assert_int_eq(entries(dir, NULL, 0), 1);
    remove_tree(dir);
    remove_tree(other);
}
END_TEST

START_TEST(named_temporary_fallback)
{
    lw_dump_force_named_tmp(1);
    char *dir = make_dir(0700);
    char path[PATH_MAX], first[256];
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    ck_assert_int_eq(entries(dir, first, sizeof first), 1);
    ck_assert_str_eq(strrchr(path, '/') + 1, first);
    assert_mode(path, S_IFREG, 0600);
    json_decref(load(path));
    /* an existing name is not replaced on this path either */
    lw_test_reset_dump_seq();
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    ck_assert_ptr_nonnull(strstr(path, ".2.json"));
    ck_assert_int_eq(entries(dir, NULL, 0), 2);
    remove_tree(dir);
}
END_TEST

/* A write that fails half-way (the file size limit) leaves no file, named or not, with and without O_TMPFILE. */
START_TEST(failed_write_leaves_nothing)
{
    for (int i = 0; i < 400; i++)
        acquire_here(LW_HEAP, 0x200000 + (uintptr_t)i * 32, 16);
    signal(SIGXFSZ, SIG_IGN);
    for (int named = 0; named < 2; named++) {
        lw_dump_force_named_tmp(named);
        char *dir = make_dir(0700);
        char path[PATH_MAX];
        struct rlimit old, lim;
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 1000;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        int err = lw_dump_next(dir, "signal", path, sizeof path);
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
        ck_assert_int_eq(err, EFBIG);
        ck_assert_int_eq(entries(dir, NULL, 0), 0);
        remove_tree(dir);
    }
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
    tcase_add_test(lost, records_lost_when_the_table_cannot_grow);
    tcase_add_test(lost, records_lost_when_the_nursery_cannot_promote);
    tcase_add_test(lost, records_lost_when_the_dump_has_no_working_memory);
    tcase_add_test(lost, sites_lost_when_the_allocator_fails);
    tcase_add_test(lost, warnings_past_the_cap_are_counted);
    tcase_add_test(lost, forked_child_starts_without_losses);
    suite_add_tcase(s, lost);
    TCase *files = tcase_create("files");
    tcase_add_checked_fixture(files, setup, NULL);
    tcase_set_timeout(files, 60);
    tcase_add_test(files, shared_dir_gets_a_private_dir);
    tcase_add_test(files, private_dir_by_another_hand_is_refused);
    tcase_add_test(files, existing_name_is_neither_followed_nor_replaced);
    tcase_add_test(files, dump_to_replaces_a_link_without_following_it);
    tcase_add_test(files, named_temporary_fallback);
    tcase_add_test(files, failed_write_leaves_nothing);
    suite_add_tcase(s, files);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
