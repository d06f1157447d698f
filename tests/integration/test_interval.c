/* Dumps on an interval: a process that runs for 2.5 s with LEAKWATCH_DUMP_INTERVAL=1 writes numbered dumps while
 * it runs, each complete and showing more of its growing cache than the one before, and its exit dump comes last;
 * the interval in the duration forms of the command (1000ms); and `leakwatch trend` over such a directory ranks
 * the cache of a service that empties it at exit as growing, its exit dump left out. */
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

/* The one site of `trend --format json` output `out` whose frames name `function`, or NULL. */
static json_t *site_of(json_t *doc, const char *function)
{
    json_t *sites = json_object_get(doc, "sites");
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *frames = json_object_get(json_array_get(sites, i), "frames");
        for (size_t k = 0; k < json_array_size(frames); k++) {
            const char *f = json_string_value(json_object_get(json_array_get(frames, k), "function"));
            if (f && strcmp(f, function) == 0)
                return json_array_get(sites, i);
        }
    }
    return NULL;
}

START_TEST(test_trend_leaves_the_exit_dump_out)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char preload[1100], dumpdir[4200];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", lwt_lib());
    snprintf(dumpdir, sizeof dumpdir, "LEAKWATCH_DUMP_DIR=%s", dir);
    /* 1000ms: the interval takes the duration forms of the command's options */
    const char *env[] = { preload, dumpdir, "LEAKWATCH_REPORT=none", "LEAKWATCH_DUMP_INTERVAL=1000ms", NULL };
    lwt_opts_t opts = { .env = env, .timeout_s = 60 };
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_fixture("interval_service"), "2500", "free"), &opts);
    ck_assert_msg(r->exited && r->exit_code == 0 && !strstr(r->err, "LEAKWATCH_DUMP_INTERVAL"), "%s",
                  lwt_describe(r));
    lwt_free(r);

    /* the default: the interval dumps alone, the cache grew in every interval */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--format", "json", dir), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch trend: note: 1 exit dump left out") != NULL, "%s", r->err);
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc != NULL, "trend JSON: %s", err.text);
    size_t ndumps = json_array_size(json_object_get(doc, "dumps"));
    ck_assert_msg(ndumps >= 2, "%zu interval dumps in 2.5 s", ndumps);
    json_t *cache = site_of(doc, "main");
    ck_assert_msg(cache != NULL && cache == json_array_get(json_object_get(doc, "sites"), 0),
                  "the cache is not ranked first:\n%s", r->out);
    ck_assert(json_real_value(json_object_get(cache, "score_bytes")) > 0);
    ck_assert(json_real_value(json_object_get(cache, "grew")) == 1.0);
    ck_assert(json_real_value(json_object_get(cache, "shrank")) == 0.0);
    json_decref(doc);
    lwt_free(r);

    /* --include-exit: the exit dump ends the series, with the cache gone */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--format", "json", "--include-exit", dir), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0 && !strstr(r->err, "left out"), "%s", lwt_describe(r));
    doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc != NULL, "trend JSON: %s", err.text);
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "dumps")), ndumps + 1);
    cache = site_of(doc, "main");
    ck_assert_msg(cache != NULL, "%s", r->out);
    json_t *series = json_object_get(cache, "series");
    ck_assert_int_eq(lwt_int(json_array_get(series, ndumps), "count"), 0);
    ck_assert(json_real_value(json_object_get(cache, "shrank")) > 0);
    json_decref(doc);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interval");
    TCase *tc = tcase_create("dumps");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_interval_dumps);
    tcase_add_test(tc, test_trend_leaves_the_exit_dump_out);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
