/* Integration test that leakwatch's definite+indirect heap leaks agree with valgrind's on real programs, through scripts/compare-valgrind; skipped, with a message, only when valgrind is not installed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

/* Every row of the comparison agrees within the script's margin, and the comparison is not vacuous: some of the
 * programs do leak by valgrind's count, so a leakwatch that reported nothing at all would disagree. */
START_TEST(test_agrees_with_valgrind)
{
    LWT_REQUIRE_BUILT();
    if (!lwt_which(LWT_ARGV("/usr/bin/valgrind", "valgrind"))) {
        fprintf(stderr, "test_valgrind_agreement: SKIPPED: valgrind is not installed (apt-get install valgrind)\n");
        return;
    }
    char script[4096];
    snprintf(script, sizeof script, "%s/scripts/compare-valgrind", lwt_root());
    lwt_opts_t o = { .timeout_s = 150 };
    lwt_result_t *r = lwt_exec(LWT_ARGV("/bin/sh", script), &o);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 0,
                  "compare-valgrind should exit 0 (every row agrees)\n%s%s", r->out ? r->out : "", lwt_describe(r));

    /* Rows: label, "lb / lB", "vb / vB", verdict. */
    int rows = 0;
    long long vg_blocks = 0;
    char *copy = strdup(r->out ? r->out : "");
    ck_assert(copy != NULL);
    for (char *line = copy; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char label[64], verdict[64];
        long long lb, lB, vb, vB;
        if (sscanf(line, "%63s %lld / %lld %lld / %lld %63s", label, &lb, &lB, &vb, &vB, verdict) == 6) {
            rows++;
            vg_blocks += vb;
            ck_assert_msg(strcmp(verdict, "agree") == 0, "row %s: %s", label, line);
        }
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    ck_assert_msg(rows >= 5, "compare-valgrind printed %d rows\n%s", rows, r->out);
    ck_assert_msg(vg_blocks > 0, "no program leaked by valgrind's count: the comparison proves nothing\n%s", r->out);
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("valgrind_agreement");
    TCase *tc = tcase_create("real programs");
    tcase_set_timeout(tc, 200);
    tcase_add_test(tc, test_agrees_with_valgrind);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
