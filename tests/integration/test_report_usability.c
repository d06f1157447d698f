/* Integration tests for what makes a report easy to act on: source columns, operator new[] named as such, the
 * SUMMARY line, ages in the JSON report, generated suppressions, symbols from --debug-dir and --sysroot, and the
 * progress line. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define TREE_SRC "tests/fixtures/tree.c"
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

/* The 1-based columns of the first two `malloc(` on the line of TREE_SRC holding `@line`. */
static void tree_columns(int *first, int *second)
{
    int line = LWT_MARKER_LINE(TREE_SRC, "@line");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", lwt_root(), TREE_SRC);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char text[512] = "";
    for (int i = 0; i < line; i++)
        ck_assert(fgets(text, sizeof text, f) != NULL);
    fclose(f);
    char *a = strstr(text, "malloc("), *b = a ? strstr(a + 1, "malloc(") : NULL;
    ck_assert_msg(a && b, "two malloc calls on line %d of %s", line, TREE_SRC);
    *first = (int)(a - text) + 1;
    *second = (int)(b - text) + 1;
}

/* Two allocations on one line are two sites, told apart by the column of each call, in JSON and in text. */
START_TEST(test_columns)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("tree")), NULL);
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(TREE_SRC, "@line"), c1, c2;
    tree_columns(&c1, &c2);
    LWT_ASSERT_TOTALS(r, "heap", 30, 15 * 24 + 15 * 9, "15 nodes of 24 bytes and 15 labels of 9");
    json_t *sites = json_object_get(r->report, "sites");
    size_t i;
    json_t *site;
    int n1 = 0, n2 = 0;
    json_array_foreach(sites, i, site) {
        json_t *f0 = json_array_get(json_object_get(site, "frames"), 0);
        ck_assert_msg(lwt_int(f0, "line") == line, "every site is allocated on line %d%s", line, lwt_describe(r));
        long long col = lwt_int(f0, "column");
        ck_assert_msg(col == c1 || col == c2, "column %lld is one of the two calls (%d, %d)%s", col, c1, c2,
                      lwt_describe(r));
        n1 += col == c1 && lwt_site_bytes(site) == 24 * lwt_site_count(site);
        n2 += col == c2 && lwt_site_bytes(site) == 9 * lwt_site_count(site);
    }
    /* one site per path from the root for each call: 15 each; merged by line alone they would be 15 (16 with the
     * root's two classes) */
    ck_assert_msg(n1 == 15 && n2 == 15, "15 node sites at column %d, 15 label sites at column %d: %d, %d%s", c1, c2,
                  n1, n2, lwt_describe(r));
    char want[64];
    snprintf(want, sizeof want, "tree.c:%d:%d (tree)\n", line, c1);
    ck_assert_msg(strstr(r->err, want), "the text report shows %s%s", want, lwt_describe(r));
    snprintf(want, sizeof want, "tree.c:%d:%d (tree)\n", line, c2);
    ck_assert_msg(strstr(r->err, want), "the text report shows %s%s", want, lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* `new char[n]` is seen inside operator new, which libstdc++'s operator new[] jumps to: the innermost frame is
 * named operator new[] in JSON and text, and a plain `new` keeps operator new. */
START_TEST(test_array_new)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("heap_cxx")), NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *arr = LWT_ASSERT_SITE(r, "heap", "use_new_array", 1, 1017);
    json_t *one = LWT_ASSERT_SITE(r, "heap", "use_new", 1, 1018);
    const char *fa = json_string_value(json_object_get(json_array_get(json_object_get(arr, "frames"), 0), "function"));
    const char *fo = json_string_value(json_object_get(json_array_get(json_object_get(one, "frames"), 0), "function"));
    ck_assert_msg(fa && strcmp(fa, "operator new[](unsigned long)") == 0, "new[]: innermost frame '%s'%s",
                  fa ? fa : "(null)", lwt_describe(r));
    ck_assert_msg(fo && strcmp(fo, "operator new(unsigned long)") == 0, "new: innermost frame '%s'%s",
                  fo ? fo : "(null)", lwt_describe(r));
    const char *t = strstr(r->err, "heap: 1017 bytes in 1 block");
    ck_assert_msg(t && strncmp(strchr(t, '\n'), "\n    #0 operator new[](unsigned long) (libstdc++", 47) == 0,
                  "the text report names operator new[]%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* The SUMMARY line comes after the sites and before the gate's line; a clean run stays one line. */
START_TEST(test_summary)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_kinds")), NULL);
    LWT_ASSERT_RUN(r, 23);
    char want[256];
    long long heap = lwt_total_count(r->report, "heap"), bytes = lwt_total_bytes(r->report, "heap");
    long long fds = lwt_total_count(r->report, "fd");
    ck_assert_msg(fds > 1, "fd_kinds leaks descriptors%s", lwt_describe(r));
    snprintf(want, sizeof want, "\nSUMMARY: leakwatch: %lld %s leaked in %lld %s; %lld descriptors\nleakwatch: ", bytes,
             bytes == 1 ? "byte" : "bytes", heap, heap == 1 ? "allocation" : "allocations", fds);
    const char *at = strstr(r->err, want);
    ck_assert_msg(at, "the summary '%s' before the gate line%s", want, lwt_describe(r));
    ck_assert_msg(strstr(at + 1, "leakwatch: ") && strstr(strstr(at + 1, "leakwatch: "), "exit status 23\n"),
                  "the gate's line follows it%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("tree")), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(strstr(r->err, "\nSUMMARY: leakwatch: 495 bytes leaked in 30 allocations\nleakwatch: 30 leaks"),
                  "the tree's summary%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("clean"), "0"), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(strcmp(r->err, "leakwatch: no leaks (1 process)\n") == 0, "a clean run is one line%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Every artifactLocation under `j` has a base (uriBaseId) or an absolute file:// URI; returns how many there are. */
static int check_artifacts(json_t *j, const lwt_result_t *r)
{
    int n = 0;
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (strcmp(key, "artifactLocation") == 0) {
                const char *uri = json_string_value(json_object_get(v, "uri"));
                ck_assert_msg(uri && (json_object_get(v, "uriBaseId") || strncmp(uri, "file:///", 8) == 0),
                              "artifactLocation '%s' has a base or is absolute%s", uri ? uri : "(null)",
                              lwt_describe(r));
                n++;
            }
            n += check_artifacts(v, r);
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            n += check_artifacts(v, r);
    }
    return n;
}

/* The JUnit file validates against Jenkins' junit-10 structure (tests/fixtures/junit-10.xsd, which refuses a
 * `file` attribute on <testcase>), failures and system-out included; SARIF names its informationUri and every
 * artifact location resolves. */
START_TEST(test_ci_formats)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), junit[4096], sarif[4096], xsd[4096], bad[4096];
    snprintf(junit, sizeof junit, "%s/leaks.xml", dir);
    snprintf(sarif, sizeof sarif, "%s/leaks.sarif", dir);
    snprintf(bad, sizeof bad, "%s/bad.xml", dir);
    snprintf(xsd, sizeof xsd, "%s/tests/fixtures/junit-10.xsd", lwt_root());
    /* heap gated, descriptors listed in system-out */
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--kinds", "heap", "--junit", junit, "--sarif", sarif),
                                    LWT_ARGV(lwt_fixture("fd_kinds")), NULL);
    LWT_ASSERT_RUN(r, 23);
    lwt_result_t *x = lwt_exec(LWT_ARGV("xmllint", "--noout", "--schema", xsd, junit), NULL);
    ck_assert_msg(x->exited && x->exit_code == 0, "the JUnit file validates: %s", x->err);
    lwt_free(x);
    FILE *f = fopen(junit, "r");
    char text[1 << 16];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    ck_assert_msg(strstr(text, "<failure") && strstr(text, "<system-out>") && strstr(text, "    #0 "),
                  "failures with stacks and system-out are there: %s", text);

    /* the schema is strict: the attribute the old output had is refused */
    lwt_write_file(bad, "<testsuites><testsuite name=\"s\" tests=\"1\"><testcase name=\"c\" file=\"/bin/x\"/>"
                        "</testsuite></testsuites>\n");
    x = lwt_exec(LWT_ARGV("xmllint", "--noout", "--schema", xsd, bad), NULL);
    ck_assert_msg(x->exited && x->exit_code != 0 && strstr(x->err, "'file'"), "file= is refused: %s", x->err);
    lwt_free(x);

    json_error_t jerr;
    json_t *log = json_load_file(sarif, 0, &jerr);
    ck_assert_msg(log, "SARIF: %s", jerr.text);
    json_t *driver = json_object_get(json_object_get(json_array_get(json_object_get(log, "runs"), 0), "tool"),
                                     "driver");
    const char *info = json_string_value(json_object_get(driver, "informationUri"));
    ck_assert_msg(info && (strncmp(info, "file:///", 8) == 0 || strncmp(info, "https://", 8) == 0),
                  "informationUri is an absolute URI: %s", info ? info : "(null)");
    ck_assert_msg(check_artifacts(log, r) > 0, "the log has artifact locations%s", lwt_describe(r));
    json_decref(log);
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_usability");
    TCase *tc = tcase_create("positions and summary");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_columns);
    tcase_add_test(tc, test_array_new);
    tcase_add_test(tc, test_summary);
    suite_add_tcase(s, tc);

    tc = tcase_create("CI formats");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_ci_formats);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
