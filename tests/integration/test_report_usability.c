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

static Suite *suite(void)
{
    Suite *s = suite_create("report_usability");
    TCase *tc = tcase_create("positions and summary");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_columns);
    tcase_add_test(tc, test_array_new);
    tcase_add_test(tc, test_summary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
