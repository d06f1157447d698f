/* The traced program is unchanged: a program that fights the library for descriptors (closes what it did not
 * open, then opens, writes and reads files, pipes, a socketpair and a loopback connection) prints the same bytes
 * and numbers with the library as without it, run after run, in both unwind modes, and its leak counts are exact. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lwtest.h"

#define RUNS 20

static const char *const modes[] = { "loop", "range" };
static const char *const unwinds[] = { "LEAKWATCH_UNWIND=libunwind", "LEAKWATCH_UNWIND=fp" };

/* Runs the fixture RUNS times under the library and requires the plain run's outcome every time. */
START_TEST(same_bytes_and_numbers_after_closing_everything)
{
    const char *mode = modes[_i % 2], *unwind = unwinds[_i / 2];
    const char *const *argv = LWT_ARGV(lwt_fixture("fd_fight"), mode);
    lwt_result_t *plain = lwt_exec(argv, NULL);
    ck_assert_msg(plain->exited && plain->exit_code == 0, "plain run failed%s", lwt_describe(plain));
    ck_assert_msg(strstr(plain->out, "WRONG") == NULL, "the fixture fails by itself%s", lwt_describe(plain));
    ck_assert_msg(strstr(plain->out, "file fd 3\n") != NULL, "the fixture's first file is not fd 3%s",
                  lwt_describe(plain));
    const char *env[] = { unwind, NULL };
    lwt_opts_t o = { .env = env };
    for (int run = 0; run < RUNS; run++) {
        lwt_result_t *traced = lwt_exec_preload(argv, &o);
        ck_assert_msg(lwt_same_outcome(plain, traced), "run %d (%s, %s) differs from the plain run:\n--- plain\n%s"
                      "--- traced%s", run, mode, unwind, plain->out, lwt_describe(traced));
        lwt_free(traced);
    }
    lwt_free(plain);
}
END_TEST

/* Under `leakwatch run` the same program is clean: no descriptor of the library's is counted, none of the
 * program's is missed. */
START_TEST(counts_exact_after_closing_everything)
{
    const char *mode = modes[_i % 2], *unwind = unwinds[_i / 2];
    const char *env[] = { unwind, NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_fight"), mode), &o);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_TOTALS(r, NULL, 0, 0, "the fixture closes everything it opens and frees everything it allocates");
    ck_assert_msg(strstr(r->out, "WRONG") == NULL, "the program read wrong bytes%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A leaked descriptor opened after the close loop is the one number the report names. */
START_TEST(leak_after_closing_everything_is_named)
{
    const char *unwind = unwinds[_i];
    const char *env[] = { unwind, NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_fight"), "loop", "leak"), &o);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_TOTALS(r, "fd", 1, 0, "the fixture leaks exactly one descriptor");
    LWT_ASSERT_TOTALS(r, "heap", 0, 0, "the fixture frees every block");
    LWT_ASSERT_SITE(r, "fd", "leak_one", 1, 0);
    lwt_free(r);
}
END_TEST

/* Interval dumps are written by a thread with a descriptor table of its own: while they run, every open of the
 * program still gets the lowest free number, and the dumps still describe the program's socket. */
START_TEST(interval_dumps_take_no_number)
{
    const char *env[] = { "LEAKWATCH_DUMP_INTERVAL=1", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("fd_steady"), "2600"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "the fixture failed%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "opens", 0) > 1000, "the fixture hardly ran%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "wrong", -1) == 0, "opens got another number during a dump%s", lwt_describe(r));
    char path[4096];
    int described = 0, dumps = 0;
    for (int seq = 1; seq <= 4; seq++) {
        snprintf(path, sizeof path, "%s/dumps/leakwatch.%lld.%d.json", r->tmpdir, lwt_out_value(r, "pid", 0), seq);
        json_t *d = json_load_file(path, 0, NULL);
        if (!d)
            continue;
        const char *reason = json_string_value(json_object_get(d, "reason"));
        if (reason && strcmp(reason, "interval") == 0) {
            dumps++;
            size_t i;
            json_t *site;
            json_array_foreach(json_object_get(d, "sites"), i, site) {
                const char *kind = json_string_value(json_object_get(site, "kind"));
                json_t *smp = json_array_get(json_object_get(site, "samples"), 0);
                const char *local = json_string_value(json_object_get(smp, "local"));
                if (kind && strcmp(kind, "socket") == 0 && local && strncmp(local, "127.0.0.1:", 10) == 0 &&
                    json_is_true(json_object_get(smp, "listening")))
                    described++;
            }
        }
        json_decref(d);
    }
    ck_assert_msg(dumps >= 2, "expected at least two interval dumps, found %d%s", dumps, lwt_describe(r));
    ck_assert_msg(described == dumps, "%d of %d interval dumps describe the listening socket%s", described, dumps,
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fidelity");
    TCase *tc = tcase_create("descriptors");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, same_bytes_and_numbers_after_closing_everything, 0, 4);
    tcase_add_loop_test(tc, counts_exact_after_closing_everything, 0, 4);
    tcase_add_loop_test(tc, leak_after_closing_everything_is_named, 0, 2);
    tcase_add_test(tc, interval_dumps_take_no_number);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
