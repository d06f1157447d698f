/* Unit tests of the display escaping (report/escape.c), of the reader's side of the dump's byte escapes, and of
 * the bounds on what the readers of dumps, suppression files and baselines take in. */
#include "baseline.h"
#include "dump.h"
#include "escape.h"
#include "flame.h"
#include "render.h"
#include "render_ci.h"
#include "series.h"
#include "suppress.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(utf8_sequences)
{
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"a", 1), 1);
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xc3\xa9", 2), 2);
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xe9", 1), 0);          /* Latin-1 */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\x80", 1), 0);          /* continuation */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xc0\xaf", 2), 0);      /* overlong '/' */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xe0\x80\xaf", 3), 0);  /* overlong */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0);  /* surrogate */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
    ck_assert_uint_eq(lwr_utf8_len((const unsigned char *)"\xe2\x82", 2), 0);      /* cut short */
    ck_assert(lwr_utf8_valid("caf\xc3\xa9"));
    ck_assert(!lwr_utf8_valid("caf\xe9"));
}
END_TEST

START_TEST(escape_for_display)
{
    char buf[256];
    ck_assert_str_eq(lwr_escape("a\nb\x1b]0;title\x07\tc", buf, sizeof buf), "a\\nb\\x1b]0;title\\x07\\tc");
    ck_assert_str_eq(lwr_escape("caf\xe9 \xc3\xa9 \\ \r\x7f", buf, sizeof buf), "caf\\xe9 \xc3\xa9 \\\\ \\r\\x7f");
    /* C1 control U+009B (CSI) and a right-to-left override */
    ck_assert_str_eq(lwr_escape("x\xc2\x9by\xe2\x80\xaez", buf, sizeof buf), "x\\xc2\\x9by\\u202ez");
    ck_assert_str_eq(lwr_escape(NULL, buf, sizeof buf), "");
    ck_assert(!lwr_needs_escape("/usr/lib/x86_64-linux-gnu/libc.so.6 \xe2\x82\xac"));
    ck_assert(lwr_needs_escape("a\tb"));
    const char *plain = "main";
    ck_assert_ptr_eq(lwr_show(plain), plain);
    ck_assert_str_eq(lwr_show("a\nb"), "a\\nb");
    /* Cut at a whole escape, marked, never past the buffer. */
    char small[10];
    memset(small, 'x', sizeof small);
    lwr_escape("\x01\x02\x03\x04\x05", small, 8);
    ck_assert_str_eq(small, "\\x01...");
    ck_assert_int_eq(small[8], 'x');
    char *d = lwr_utf8_dup("caf\xe9\n");
    ck_assert_str_eq(d, "caf\\xe9\n");
    free(d);
}
END_TEST

static lwr_dump_t *dump_with_exe(const char *exe_json, char *err, size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"leakwatch_dump\": 1, \"pid\": 1, \"exe\": \"%s\", \"argv\": [\"%s\"], \"modules\": [], "
             "\"sites\": []}",
             exe_json, exe_json);
    return lwr_dump_parse(text, strlen(text), "n.json", err, errlen);
}

START_TEST(dump_escapes_read_back_as_bytes)
{
    char err[256] = "";
    /* \u00e9 is the raw byte 0xe9; raw UTF-8 é and an escaped backslash followed by text stay what they are. */
    lwr_dump_t *d = dump_with_exe("/tmp/caf\\u00e9 \xc3\xa9 \\\\u00e9 \\u0041\\u00FF", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_str_eq(d->exe, "/tmp/caf\xe9 \xc3\xa9 \\u00e9 A\xff");
    ck_assert_str_eq(d->argv[0], d->exe);
    lwr_dump_free(d);

    ck_assert_ptr_null(dump_with_exe("a\\u0000b", err, sizeof err));
    ck_assert_msg(strstr(err, "n.json: line 1, column ") && strstr(err, "NUL"), "%s", err);
    /* An address is an address to its end: a byte escape after the digits does not cut it short. */
    static const char addr[] = "{\"leakwatch_dump\": 1, \"pid\": 1, \"modules\": [], \"sites\": [{\"kind\": "
                               "\"heap\", \"count\": 1, \"frames\": [\"0x10\\u00e9\"]}]}";
    ck_assert_ptr_null(lwr_dump_parse(addr, strlen(addr), "n.json", err, sizeof err));
    ck_assert_msg(strstr(err, "sites[0].frames[0]") != NULL, "%s", err);
    /* A raw byte that is not UTF-8 is a JSON error, reported escaped. */
    ck_assert_ptr_null(dump_with_exe("a\xe9", err, sizeof err));
    ck_assert_msg(strncmp(err, "n.json: line 1", 14) == 0 && !memchr(err, 0xe9, strlen(err)), "%s", err);
}
END_TEST

START_TEST(dump_reader_takes_regular_files_only)
{
    char dir[] = "/tmp/lwr_names_XXXXXX", path[128], err[256] = "";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* A FIFO named like a dump, with nobody writing: refused at once instead of blocking in open. */
    snprintf(path, sizeof path, "%s/leakwatch.5.1.json", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_ptr_null(lwr_dump_load(path, err, sizeof err));
    ck_assert_msg(strstr(err, path) && strstr(err, "not a regular file"), "%s", err);
    unlink(path);
    ck_assert_ptr_null(lwr_dump_load("/dev/zero", err, sizeof err));
    ck_assert_msg(strstr(err, "/dev/zero: not a regular file"), "%s", err);
    /* A (sparse) file above the bound: refused before a byte is read. */
    snprintf(path, sizeof path, "%s/big.json", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)LWR_DUMP_MAX_BYTES + 1), 0);
    close(fd);
    ck_assert_ptr_null(lwr_dump_load(path, err, sizeof err));
    ck_assert_msg(strstr(err, path) && strstr(err, "larger than 256 MiB"), "%s", err);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(suppression_and_baseline_bounds)
{
    char err[256] = "";
    lwr_supplist_t l = LWR_SUPPLIST_INIT;
    ck_assert_int_eq(lwr_supp_load(&l, "/dev/zero", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/dev/zero: larger than 16 MiB"), "%s", err);
    char *text = malloc(LWR_SUPP_MAX_LINE + 64);
    strcpy(text, "leak:ok\nleak:");
    size_t n = strlen(text);
    memset(text + n, 'a', LWR_SUPP_MAX_LINE);
    text[n + LWR_SUPP_MAX_LINE] = '\0';
    ck_assert_int_eq(lwr_supp_parse(&l, text, strlen(text), "long.supp", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "long.supp:2: line longer than 4096 bytes"), "%s", err);
    free(text);
    lwr_supplist_free(&l);

    lwr_baseline_t b = LWR_BASELINE_INIT;
    ck_assert_int_eq(lwr_baseline_load(&b, "/dev/zero", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/dev/zero: larger than 256 MiB"), "%s", err);
    lwr_baseline_free(&b);
}
END_TEST

/* A report whose module, executable, argument and sample detail hold the byte 0xe9 and a newline. */
static lwr_report_t *odd_report(lwr_dump_t **dump)
{
    static const char text[] =
        "{\"leakwatch_dump\": 1, \"pid\": 7, \"exe\": \"/opt/caf\\u00e9.bin\", \"argv\": [\"a\\nb\\u00ff\"],"
        " \"modules\": [{\"path\": \"/opt/caf\\u00e9.bin\", \"build_id\": \"\", \"bias\": \"0x400000\","
        " \"start\": \"0x400000\", \"end\": \"0x500000\"}],"
        " \"sites\": [{\"kind\": \"fd\", \"count\": 1, \"frames\": [\"0x401000\"],"
        " \"samples\": [{\"handle\": \"3\", \"detail\": \"/tmp/x\\u001b]0;t\\u0007\\u00e9\"}]}]}";
    char err[256] = "";
    *dump = lwr_dump_parse(text, strlen(text), "odd.json", err, sizeof err);
    ck_assert_msg(*dump != NULL, "%s", err);
    lwr_report_t *r = lwr_report_build(dump, 1, NULL);
    ck_assert_ptr_nonnull(r);
    return r;
}

static char *render_with(int (*fn)(FILE *, const lwr_report_t *), const lwr_report_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(fn(f, r), 0);
    fclose(f);
    return buf;
}

static int svg_bytes(FILE *out, const lwr_report_t *r)
{
    return lwr_render_svg(out, r, LWR_WEIGHT_COUNT);
}

START_TEST(every_format_is_utf8_with_odd_names)
{
    lwr_dump_t *d;
    lwr_report_t *r = odd_report(&d);
    int (*const fns[])(FILE *, const lwr_report_t *) = { lwr_render_text, lwr_render_json, lwr_render_sarif,
                                                         lwr_render_junit, svg_bytes };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        char *out = render_with(fns[i], r);
        ck_assert_msg(lwr_utf8_valid(out), "output %zu is UTF-8:\n%s", i, out);
        if (i == 0) {
            ck_assert_msg(strstr(out, "(caf\\xe9.bin+0x1000)") && strstr(out, "/tmp/x\\x1b]0;t\\x07\\xe9"), "%s",
                          out);
            for (const char *p = out; *p; p++)
                ck_assert_msg((unsigned char)*p >= 0x20 || *p == '\n', "raw control byte in\n%s", out);
        }
        free(out);
    }
    lwr_report_free(r);
    lwr_dump_free(d);
}
END_TEST

/* Sites are converted one at a time once the version is known; any order of members still reads the same, and
 * what jansson would refuse in one piece is refused in pieces too. */
START_TEST(members_in_any_order)
{
    static const char site[] = "{\"kind\": \"heap\", \"count\": 2, \"bytes\": 8, \"frames\": [\"0x10\"]}";
    char text[1024], err[256] = "";
    snprintf(text, sizeof text, "{\"sites\": [%s, %s], \"leakwatch_dump\": 1, \"pid\": 3, \"modules\": []}", site, site);
    lwr_dump_t *d = lwr_dump_parse(text, strlen(text), "o.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, 2);
    ck_assert_uint_eq(d->totals[LWR_HEAP].count, 4);
    lwr_dump_free(d);
    snprintf(text, sizeof text, "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [%s, %s]}", site, site);
    d = lwr_dump_parse(text, strlen(text), "o.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, 2);
    ck_assert_uint_eq(d->sites[1].bytes, 8);
    lwr_dump_free(d);

    static const char *const bad[][2] = {
        { "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [], \"sites\": []}", "duplicate" },
        { "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [{\"kind\": \"gpu\"} 2]}", "',' or ']' expected" },
        { "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [],}", "line 1, column 60" },
        { "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": []} x", "end of file expected" },
        { "{\"leakwatch_dump\": 1,\n \"pid\" 3}", "line 2, column 2: ':' expected" },
        { "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [{\"kind\": \"heap\"}]}", "sites[0].count" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_ptr_null(lwr_dump_parse(bad[i][0], strlen(bad[i][0]), "o.json", err, sizeof err));
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: %s", bad[i][0], err);
    }
}
END_TEST

/* diff and trend JSON name their dumps by file: a file name that is not UTF-8 still gives a document. */
START_TEST(diff_and_trend_json_with_odd_file_names)
{
    static const char text[] = "{\"leakwatch_dump\": 1, \"pid\": 3, \"modules\": [], \"sites\": [{\"kind\": "
                               "\"heap\", \"count\": 2, \"bytes\": 8, \"frames\": [\"0x10\"]}]}";
    char err[256] = "";
    lwr_dump_t *d[2] = { lwr_dump_parse(text, strlen(text), "/tmp/caf\xe9.1.json", err, sizeof err),
                         lwr_dump_parse(text, strlen(text), "/tmp/caf\xe9.2.json", err, sizeof err) };
    ck_assert_msg(d[0] && d[1], "%s", err);
    lwr_series_t *s = lwr_series_build(d, 2, NULL);
    ck_assert_ptr_nonnull(s);
    json_t *diff = lwr_diff_json(s, 0, 1);
    ck_assert_ptr_nonnull(diff);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(diff, "old"), "file")), "/tmp/caf\\xe9.1.json");
    json_decref(diff);
    lwr_trend_t *t = lwr_trend_rank(s);
    json_t *trend = lwr_trend_json(s, t);
    ck_assert_ptr_nonnull(trend);
    json_decref(trend);
    free(t);
    lwr_series_free(s);
    lwr_dump_free(d[0]);
    lwr_dump_free(d[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_names");
    TCase *tc = tcase_create("names");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, utf8_sequences);
    tcase_add_test(tc, escape_for_display);
    tcase_add_test(tc, dump_escapes_read_back_as_bytes);
    tcase_add_test(tc, dump_reader_takes_regular_files_only);
    tcase_add_test(tc, suppression_and_baseline_bounds);
    tcase_add_test(tc, every_format_is_utf8_with_odd_names);
    tcase_add_test(tc, members_in_any_order);
    tcase_add_test(tc, diff_and_trend_json_with_odd_file_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
