/* Use by hand: LD_PRELOAD alone, no `leakwatch run`. The library writes its dump to $TMPDIR, prints the report on
 * stderr through the leakwatch command, once, and the program's output and exit status stay its own. */
#include "lwtest.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int count_dumps(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, "leakwatch.", 10) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Runs argv with LD_PRELOAD set as a user would by hand, TMPDIR the directory `dir` (where the dumps go; made
 * from its mkdtemp template when it still ends in XXXXXX) and up to two more NAME=VALUE entries (or NULL). */
static lwt_result_t *run_by_hand(const char *const *argv, char *dir, const char *more1, const char *more2)
{
    size_t n = strlen(dir);
    if (n >= 6 && strcmp(dir + n - 6, "XXXXXX") == 0)
        ck_assert_ptr_nonnull(mkdtemp(dir));
    char preload[1100], tmpdir[64];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lwt_lib());
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    const char *env[] = { preload, tmpdir, more1, more2, NULL };
    if (!more1)
        env[2] = more2, env[3] = NULL;
    lwt_opts_t opts = { .env = env, .timeout_s = 60 };
    return lwt_exec(argv, &opts);
}

START_TEST(test_report_printed_once)
{
    char dir[] = "/tmp/lwhand.XXXXXX";
    lwt_result_t *r = run_by_hand(LWT_ARGV(lwt_fixture("gate_leaker"), "4", "5"), dir, NULL, NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 5, "%s", lwt_describe(r));
    /* one report (the command that prints it is not traced itself), naming the leaking function */
    ck_assert_msg(occurrences(r->err, "leakwatch: 4 leaks") == 1, "%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "gate_leak") != NULL, "%s", lwt_describe(r));
    ck_assert_int_eq(count_dumps(dir), 1);
    lwt_rmtree(dir);
    lwt_free(r);
}
END_TEST

START_TEST(test_clean_program_one_line)
{
    char dir[] = "/tmp/lwhand.XXXXXX";
    lwt_result_t *r = run_by_hand(LWT_ARGV(lwt_fixture("clean"), "7"), dir, NULL, NULL);
    lwt_result_t *plain = lwt_exec(LWT_ARGV(lwt_fixture("clean"), "7"), NULL);
    ck_assert_msg(lwt_same_outcome(plain, r), "%s", lwt_describe(r));
    ck_assert_msg(strncmp(r->err, "leakwatch: no leaks", 19) == 0 && occurrences(r->err, "\n") == 1, "%s",
                  lwt_describe(r));
    ck_assert_int_eq(count_dumps(dir), 0); /* nothing to read: no dump left behind */
    rmdir(dir);
    lwt_free(r);
    lwt_free(plain);
}
END_TEST

/* A program that starts with its standard error closed: no report is run (there is nowhere to print it), unless
 * LSAN_OPTIONS may need its status; the dump stays either way. The command is a stand-in that notes each run. */
START_TEST(test_no_report_without_stderr)
{
    for (int lsan = 0; lsan < 2; lsan++) {
        char dir[] = "/tmp/lwhand.XXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(dir));
        char cli[128], ran[128], script[2048], env_cli[160];
        snprintf(cli, sizeof cli, "%s/cli", dir);
        snprintf(ran, sizeof ran, "%s/ran", dir);
        snprintf(script, sizeof script, "#!/bin/sh\necho \"$@\" >> %s\n", ran);
        ck_assert_int_eq(lwt_write_file(cli, script), 0);
        ck_assert_int_eq(chmod(cli, 0755), 0);
        snprintf(env_cli, sizeof env_cli, "LEAKWATCH_CLI=%s", cli);
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "exec 2>&-; exec %s 4 5", lwt_fixture("gate_leaker"));
        lwt_result_t *r = run_by_hand(LWT_ARGV("/bin/sh", "-c", cmd), dir, env_cli,
                                      lsan ? "LSAN_OPTIONS=exitcode=23" : "LSAN_OPTIONS=");
        ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 5, "lsan %d%s", lsan, lwt_describe(r));
        ck_assert_msg(access(ran, F_OK) == (lsan ? 0 : -1), "lsan %d: the report %s%s", lsan,
                      lsan ? "runs for its status" : "is not run", lwt_describe(r));
        ck_assert_msg(count_dumps(dir) == 1, "lsan %d: the dump stays%s", lsan, lwt_describe(r));
        lwt_rmtree(dir);
        lwt_free(r);
    }
}
END_TEST

/* A program that clears its environment before it exits: its dumps (one asked for through the API after the
 * clearing, and the exit dump) still go to the TMPDIR it started with, and LSAN_OPTIONS=exitcode= still gives
 * the exit status of a leak, as the settings of the start count. */
START_TEST(test_settings_of_the_start_count)
{
    char dir[] = "/tmp/lwhand.XXXXXX";
    lwt_result_t *r = run_by_hand(LWT_ARGV(lwt_fixture("clears_env"), "dump"), dir, "LSAN_OPTIONS=exitcode=9", NULL);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 9 && lwt_out_value(r, "cleared", 0) == 1,
                  "the leak gives exitcode=9%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "env_leak") != NULL, "the report names the leak%s", lwt_describe(r));
    ck_assert_msg(count_dumps(dir) == 2, "the dump asked for and the exit dump, both in TMPDIR%s", lwt_describe(r));
    lwt_rmtree(dir);
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("by hand");
    TCase *tc = tcase_create("preload only");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_report_printed_once);
    tcase_add_test(tc, test_clean_program_one_line);
    tcase_add_test(tc, test_no_report_without_stderr);
    tcase_add_test(tc, test_settings_of_the_start_count);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
