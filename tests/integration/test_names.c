/* Integration tests for names that are not UTF-8 or hold control bytes: the dump stays valid JSON, the report
 * reads it with exact counts, and no output a person reads carries a raw control byte. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lwtest.h"

/* The fd site's first sample detail in the report. */
static const char *fd_detail(json_t *report)
{
    json_t *sites = json_object_get(report, "sites");
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *s = json_array_get(sites, i);
        if (strcmp(json_string_value(json_object_get(s, "kind")), "fd") == 0)
            return json_string_value(json_object_get(json_array_get(json_object_get(s, "samples"), 0), "detail"));
    }
    return NULL;
}

static int count_lines(const char *s, size_t n)
{
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += s[i] == '\n';
    return lines;
}

START_TEST(test_non_utf8_argv_and_path)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("odd_names"), "latin1", dir, "arg\xe9\xff"), NULL);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_SITE(r, "heap", "leak_block", 1, 48);
    LWT_ASSERT_SITE(r, "fd", "open_odd", 1, 0);
    LWT_ASSERT_TOTALS(r, NULL, 2, 48, "one block and the descriptor under the Latin-1 name");
    ck_assert_msg(lwt_process_count(r->report) == 1, "the dump was read%s", lwt_describe(r));
    json_t *args = json_object_get(json_array_get(json_object_get(r->report, "processes"), 0), "arguments");
    ck_assert_str_eq(json_string_value(json_array_get(args, 3)), "arg\\xe9\\xff");
    const char *detail = fd_detail(r->report);
    ck_assert_msg(detail && strlen(detail) > 12 && strcmp(detail + strlen(detail) - 12, "/caf\\xe9.log") == 0,
                  "the JSON report names the byte: %s%s", detail ? detail : "(none)", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "caf\\xe9.log") != NULL && memchr(r->err, 0xe9, r->err_len) == NULL,
                  "the text report shows the byte escaped%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* The dump itself: valid JSON whose escapes \u0080..\u00ff stand for the raw bytes, read back by `report`. */
START_TEST(test_dump_escapes_bytes)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char *dumps = malloc(strlen(dir) + 8), *env = malloc(strlen(dir) + 40);
    sprintf(dumps, "%s/dumps", dir);
    sprintf(env, "LEAKWATCH_DUMP_DIR=%s", dumps);
    char mk[512];
    snprintf(mk, sizeof mk, "mkdir %s", dumps);
    ck_assert_int_eq(system(mk), 0);
    char pre[512];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lwt_lib());
    lwt_opts_t o = { .env = LWT_ARGV(pre, "LEAKWATCH_REPORT=none", env) };
    lwt_result_t *p = lwt_exec(LWT_ARGV(lwt_fixture("odd_names"), "latin1", dir, "\xc3\xa9\xe9"), &o);
    ck_assert_msg(p->exited && p->exit_code == 0, "the fixture ran%s", lwt_describe(p));
    lwt_free(p);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cat %s/leakwatch.*.json", dumps);
    lwt_result_t *cat = lwt_exec(LWT_ARGV("sh", "-c", cmd), NULL);
    /* Well-formed é stays as it is; the lone byte 0xe9 becomes \u00e9. */
    ck_assert_msg(strstr(cat->out, "\"\xc3\xa9\\u00e9\"") != NULL, "argv[3] in the dump%s", lwt_describe(cat));
    ck_assert_msg(strstr(cat->out, "caf\\u00e9.log") != NULL, "the path in the dump%s", lwt_describe(cat));
    json_error_t jerr;
    json_t *doc = json_loadb(cat->out, cat->out_len, 0, &jerr);
    ck_assert_msg(doc != NULL, "the dump is JSON: %s", jerr.text);
    json_decref(doc);
    lwt_free(cat);

    lwt_result_t *rep = lwt_exec(LWT_ARGV(lwt_cli(), "report", dumps), NULL);
    ck_assert_msg(rep->exited && rep->exit_code == 0, "report reads it%s", lwt_describe(rep));
    ck_assert_msg(strstr(rep->out, "leakwatch: 2 leaks") != NULL && strstr(rep->out, "caf\\xe9.log") != NULL,
                  "counts and the escaped name%s", lwt_describe(rep));
    lwt_free(rep);
    /* Every other format stays well-formed: no raw 0xe9 in JSON, SARIF, JUnit or SVG. */
    static const char *const formats[] = { "json", "sarif", "junit", "svg" };
    for (int i = 0; i < 4; i++) {
        lwt_result_t *f = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", formats[i], dumps), NULL);
        ck_assert_msg(f->exited && f->exit_code == 0 && f->out_len > 0 && memchr(f->out, 0xe9, f->out_len) == NULL,
                      "--format %s%s", formats[i], lwt_describe(f));
        if (i < 2) {
            json_t *j = json_loadb(f->out, f->out_len, 0, &jerr);
            ck_assert_msg(j != NULL, "--format %s is JSON: %s", formats[i], jerr.text);
            json_decref(j);
        }
        lwt_free(f);
    }
    lwt_rmtree(dir);
    free(dir);
    free(dumps);
    free(env);
}
END_TEST

START_TEST(test_control_bytes_in_names)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_result_t *plain = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("odd_names"), "plain", dir), NULL);
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("odd_names"), "control", dir), NULL);
    LWT_ASSERT_RUN(plain, 23);
    LWT_ASSERT_RUN(r, 23);
    LWT_ASSERT_TOTALS(r, NULL, 2, 48, "one block and the descriptor");
    for (size_t i = 0; i < r->err_len; i++) {
        unsigned char c = (unsigned char)r->err[i];
        ck_assert_msg(c >= 0x20 || c == '\n', "raw control byte 0x%02x at offset %zu of the report%s", c, i,
                      lwt_describe(r));
    }
    ck_assert_msg(strstr(r->err, "a\\nb\\x1b]0;title\\x07\\tc") != NULL, "the name, escaped%s", lwt_describe(r));
    ck_assert_msg(count_lines(r->err, r->err_len) == count_lines(plain->err, plain->err_len),
                  "as many report lines as with a plain name (%d, %d)%s", count_lines(r->err, r->err_len),
                  count_lines(plain->err, plain->err_len), lwt_describe(r));
    lwt_free(plain);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* What the readers refuse: an endless suppression file or baseline exits 2 naming it; a FIFO named like a dump
 * and a dump that is not JSON are named on stderr, never waited on or counted as "no leaks". */
START_TEST(test_unbounded_and_unreadable_inputs)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/leakwatch.41.1.json", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(bad, sizeof bad, "%s/leakwatch.42.1.json", dir);
    ck_assert_int_eq(lwt_write_file(bad, "{\"leakwatch_dump\": 1, \"pid\": 42, \"sites\": [\n"), 0);
    lwt_opts_t o = { .timeout_s = 30 };
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "report", dir), &o);
    ck_assert_msg(r->exited && r->exit_code == 1, "report exits 1%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch.41.1.json: not a regular file") != NULL
                      && strstr(r->err, "leakwatch.42.1.json: line ") != NULL
                      && strstr(r->out, "no leaks") == NULL,
                  "both are named, nothing is called clean%s", lwt_describe(r));
    lwt_free(r);

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(unlink(bad), 0);
    static const char *const opts[][2] = { { "--suppressions", "/dev/zero" }, { "--baseline", "/dev/zero" } };
    for (int i = 0; i < 2; i++) {
        lwt_result_t *q = lwt_exec(LWT_ARGV(lwt_cli(), "report", opts[i][0], opts[i][1], dir), &o);
        ck_assert_msg(q->exited && q->exit_code == 2 && strstr(q->err, "/dev/zero: larger than"),
                      "%s /dev/zero exits 2 naming it%s", opts[i][0], lwt_describe(q));
        lwt_free(q);
    }
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_non_utf8_argv_and_path);
    tcase_add_test(tc, test_dump_escapes_bytes);
    tcase_add_test(tc, test_control_bytes_in_names);
    tcase_add_test(tc, test_unbounded_and_unreadable_inputs);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
