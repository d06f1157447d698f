/* Dumps on an interval: a process that runs for 2.5 s with LEAKWATCH_DUMP_INTERVAL=1 writes numbered dumps while
 * it runs, each complete and showing more of its growing cache than the one before, and its exit dump comes last. */
#include "lwtest.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

START_TEST(test_interval_dumps)
{
    LWT_REQUIRE_BUILT();
    char dir[] = "/tmp/lwinterval.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char preload[1100], dumpdir[64];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lwt_lib());
    snprintf(dumpdir, sizeof dumpdir, "LEAKWATCH_DUMP_DIR=%s", dir);
    const char *env[] = { preload, dumpdir, "LEAKWATCH_REPORT=none", "LEAKWATCH_DUMP_INTERVAL=1", NULL };
    lwt_opts_t opts = { .env = env, .timeout_s = 60 };
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_fixture("interval_service"), "2500"), &opts);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));

    /* leakwatch.<pid>.1.json, .2.json ... : interval dumps first, the exit dump last */
    long pid = 0;
    DIR *dd = opendir(dir);
    struct dirent *de;
    while (dd && (de = readdir(dd)))
        if (sscanf(de->d_name, "leakwatch.%ld.", &pid) == 1)
            break;
    if (dd)
        closedir(dd);
    ck_assert_msg(pid > 0, "no dump in %s", dir);
    long long last_count = -1, last_uptime = -1;
    int seq = 1, intervals = 0, saw_exit = 0;
    for (;; seq++) {
        char path[256];
        snprintf(path, sizeof path, "%s/leakwatch.%ld.%d.json", dir, pid, seq);
        if (access(path, F_OK) != 0)
            break;
        json_error_t err;
        json_t *d = json_load_file(path, 0, &err);
        ck_assert_msg(d != NULL, "%s: %s", path, err.text);
        ck_assert_int_eq(json_integer_value(json_object_get(d, "seq")), seq);
        const char *reason = json_string_value(json_object_get(d, "reason"));
        long long uptime = json_integer_value(json_object_get(d, "uptime_ms"));
        ck_assert_int_gt(uptime, last_uptime);
        last_uptime = uptime;
        if (strcmp(reason, "exit") == 0) {
            saw_exit = 1;
        } else {
            ck_assert_str_eq(reason, "interval");
            ck_assert(!saw_exit); /* nothing after the exit dump */
            intervals++;
            /* every block of the cache is live, and there are more at every dump */
            long long count = json_integer_value(json_object_get(json_object_get(json_object_get(d, "totals"), "heap"), "count"));
            ck_assert_int_gt(count, last_count);
            last_count = count;
        }
        json_decref(d);
        unlink(path);
    }
    ck_assert_msg(intervals >= 2, "%d interval dumps in 2.5 s with LEAKWATCH_DUMP_INTERVAL=1", intervals);
    ck_assert(saw_exit);
    ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interval");
    TCase *tc = tcase_create("dumps");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_interval_dumps);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
