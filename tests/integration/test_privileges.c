/* Processes that change user still deliver their dumps to `leakwatch run`: a root master forks a worker that
 * becomes nobody with each of the setuid family, and both leaks are reported, each by its own process. Runs as
 * root, as CI does. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The kept dumps in `keep`: every name is a dump of one of the report's processes, mode 0600; returns how many. */
static int kept_dumps(const lwt_result_t *r, const char *keep)
{
    DIR *d = opendir(keep);
    ck_assert_msg(d != NULL, "%s is missing%s", keep, lwt_describe(r));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid, seq;
        char path[4096 + 256];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        ck_assert_msg(sscanf(e->d_name, "leakwatch.%ld.%ld.json", &pid, &seq) == 2, "%s holds %s%s", keep,
                      e->d_name, lwt_describe(r));
        ck_assert_msg(lwt_process(r->report, pid) != NULL, "kept %s of no process of the report%s", e->d_name,
                      lwt_describe(r));
        snprintf(path, sizeof path, "%s/%s", keep, e->d_name);
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "%s: mode %o", path,
                      (unsigned)st.st_mode);
        n++;
    }
    closedir(d);
    return n;
}

/* --keep-dumps into a directory other users cannot pass through (made 0700 by run, inside a 0700 directory): the
 * worker that became nobody is still checked, and both dumps are kept. Case 0 keeps them on TMPDIR's filesystem
 * (a rename), case 1 writes the run's directory on tmpfs (/dev/shm) and keeps them on disk (a copy). */
START_TEST(worker_that_becomes_nobody_is_kept)
{
    ck_assert_msg(geteuid() == 0, "this test changes user and must run as root (CI does)");
    char *home = lwt_mkdtemp(), keep[4096], env[4200] = "";
    snprintf(keep, sizeof keep, "%s/kept", home);
    char *shm = NULL;
    if (_i == 1) {
        shm = strdup("/dev/shm/lwtest.XXXXXX");
        ck_assert_msg(shm && mkdtemp(shm) && chmod(shm, 01777) == 0, "cannot make a directory in /dev/shm");
        struct stat a, b;
        ck_assert_int_eq(stat(shm, &a), 0);
        ck_assert_int_eq(stat(home, &b), 0);
        ck_assert_msg(a.st_dev != b.st_dev, "/dev/shm is on TMPDIR's filesystem: the copy is not tested");
        snprintf(env, sizeof env, "TMPDIR=%s", shm);
    }
    const char *const envv[] = { env, NULL };
    lwt_opts_t opts = { .env = env[0] ? envv : NULL };
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--keep-dumps", keep), LWT_ARGV(lwt_fixture("setuid_worker"), "setuid"),
                                    &opts);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(lwt_out_value(r, "worker", -1) == 0, "the worker could not become nobody%s", lwt_describe(r));
    json_t *unchecked = json_object_get(r->report, "unchecked");
    ck_assert_msg(json_array_size(unchecked) == 0, "the worker that became nobody was checked%s", lwt_describe(r));
    LWT_ASSERT_SITE(r, "heap", "worker_leak", 1, 77);
    LWT_ASSERT_SITE(r, "heap", "master_leak", 1, 11);
    ck_assert_msg(kept_dumps(r, keep) == 2, "the two dumps are kept in %s%s", keep, lwt_describe(r));
    if (shm) {
        ck_assert_msg(rmdir(shm) == 0, "the run's directory was left in %s", shm);
        free(shm);
    }
    lwt_free(r);
    lwt_rmtree(home);
    free(home);
}
END_TEST

/* A TMPDIR other users cannot pass through: the worker cannot write its dump, and the report says why. */
START_TEST(worker_that_cannot_reach_the_dumps_is_named)
{
    ck_assert_msg(geteuid() == 0, "this test changes user and must run as root (CI does)");
    char *closed = lwt_mkdtemp(), env[4200];
    ck_assert_int_eq(chmod(closed, 0700), 0);
    snprintf(env, sizeof env, "TMPDIR=%s", closed);
    lwt_opts_t opts = { .env = LWT_ARGV(env) };
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("setuid_worker"), "setuid"), &opts);
    LWT_ASSERT_RUN(r, 23); /* the master's leak comes before the unchecked worker */
    ck_assert_msg(lwt_out_value(r, "worker", -1) == 0, "the worker could not become nobody%s", lwt_describe(r));
    json_t *unchecked = json_object_get(r->report, "unchecked");
    ck_assert_msg(json_array_size(unchecked) == 1, "the worker is unchecked%s", lwt_describe(r));
    const char *reason = json_string_value(json_object_get(json_array_get(unchecked, 0), "reason"));
    char want[4200];
    snprintf(want, sizeof want, "it became user 65534, who cannot write its exit dump: %s is closed to other users",
             closed);
    ck_assert_msg(reason && strcmp(reason, want) == 0, "reason %s, want %s%s", reason ? reason : "(none)", want,
                  lwt_describe(r));
    LWT_ASSERT_SITE(r, "heap", "master_leak", 1, 11);
    lwt_free(r);
    lwt_rmtree(closed);
    free(closed);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("privileges");
    TCase *tc = tcase_create("change of user");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, worker_that_becomes_nobody_is_reported, 0, 4);
    tcase_add_test(tc, workers_that_become_nobody_at_once_share_one_directory);
    tcase_add_loop_test(tc, worker_that_becomes_nobody_is_kept, 0, 2);
    tcase_add_test(tc, worker_that_cannot_reach_the_dumps_is_named);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
