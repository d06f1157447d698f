/* Unit tests of the start and exec markers `leakwatch run` reads: created, removed and renamed aside as the process
 * starts, execs and exits, and nothing at all without LEAKWATCH_MARKERS=1. */
#include "testing.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static char *path_of(const char *suffix)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/leakwatch.%d.%s", dir, (int)getpid(), suffix);
    return p;
}

/* The whole file, or "" when it does not exist. */
static const char *contents(const char *path)
{
    static char buf[8192];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* "START\nEXE\n" as the library writes it for this process. */
static const char *own_start_marker(void)
{
    static char want[8192];
    char stat[1024], exe[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    char *p = strrchr(stat, ')');
    for (int field = 2; field < 22; field++)
        p = strchr(p + 1, ' ');
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = '\0';
    snprintf(want, sizeof want, "%llu\n%s\n", strtoull(p + 1, NULL, 10), exe);
    return want;
}

START_TEST(markers_follow_start_exec_and_exit)
{
    snprintf(dir, sizeof dir, "/tmp/lw_markers_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    lw_strlcpy(lw_config.dump_dir, dir, sizeof lw_config.dump_dir);
    setenv("LEAKWATCH_MARKERS", "1", 1);

    /* an earlier process with this pid left its marker, and one before it too: the newer goes to .2 */
    put(path_of("start"), "1\n/old/exe\n");
    put(path_of("1.start"), "2\n/older\n");
    lw_markers_init();
    ck_assert_str_eq(contents(path_of("2.start")), "1\n/old/exe\n");
    ck_assert_str_eq(contents(path_of("1.start")), "2\n/older\n");
    const char *own = own_start_marker();
    ck_assert_str_eq(contents(path_of("start")), own);
    struct stat st;
    ck_assert_int_eq(stat(path_of("start"), &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);

    /* an exec names the path, relative ones from the working directory; a failed exec withdraws it */
    char cwd[4096], want[8192];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    lw_marker_exec("sub/prog");
    snprintf(want, sizeof want, "%.*s%s/sub/prog\n", (int)(strchr(own, '\n') - own + 1), own, cwd);
    ck_assert_str_eq(contents(path_of("exec")), want);
    lw_marker_exec_failed();
    ck_assert_int_ne(access(path_of("exec"), F_OK), 0);
    lw_marker_exec_failed(); /* nothing left to withdraw */

    /* the exec'd image of this same process starts: the exec marker and the old start marker are its own */
    lw_marker_exec("/bin/prog");
    ck_assert_int_eq(access(path_of("exec"), F_OK), 0);
    lw_markers_init();
    ck_assert_int_ne(access(path_of("exec"), F_OK), 0);
    ck_assert_str_eq(contents(path_of("start")), own);
    ck_assert_int_ne(access(path_of("3.start"), F_OK), 0);

    /* the exit dump is written: the start marker goes; earlier processes' markers stay for leakwatch run */
    lw_marker_done();
    ck_assert_int_ne(access(path_of("start"), F_OK), 0);
    ck_assert_int_eq(access(path_of("1.start"), F_OK), 0);
    ck_assert_int_eq(access(path_of("2.start"), F_OK), 0);

    /* without LEAKWATCH_MARKERS=1 nothing is written */
    setenv("LEAKWATCH_MARKERS", "0", 1);
    lw_markers_init();
    lw_marker_exec("/bin/prog");
    ck_assert_int_ne(access(path_of("start"), F_OK), 0);
    ck_assert_int_ne(access(path_of("exec"), F_OK), 0);

    unlink(path_of("1.start"));
    unlink(path_of("2.start"));
    ck_assert_int_eq(rmdir(dir), 0);
    lw_config.dump_dir[0] = '\0';
    unsetenv("LEAKWATCH_MARKERS");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tracker_markers");
    TCase *tc = tcase_create("markers");
    tcase_add_test(tc, markers_follow_start_exec_and_exit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
