/* Unit tests of baselines: sites match across rebuilds (other addresses, lines and directories) by kind and the
 * function and file name of every frame; new sites do not; the gate leaves baseline leaks out; the baseline
 * command's output reads back. */
#include "baseline.h"
#include "render.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *function, *file;
    unsigned line;
    uint64_t address;
} fr_t;

static void add_site(lwr_report_t *r, lwr_kind_t kind, lwr_class_t cls, uint64_t count, const fr_t *f, size_t n)
{
    r->sites = realloc(r->sites, (r->nsites + 1) * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->cls = cls;
    s->count = count;
    s->bytes = kind == LWR_HEAP ? 16 * count : 0;
    s->nframes = n;
    s->frames = calloc(n, sizeof *s->frames);
    for (size_t i = 0; i < n; i++)
        s->frames[i] = (lwr_frame_t){ f[i].address, f[i].function ? strdup(f[i].function) : NULL,
                                      f[i].file ? strdup(f[i].file) : NULL, f[i].line, strdup("/build/app"),
                                      f[i].address & 0xffff, 0 };
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    if (cls == LWR_CLASS_REACHABLE) {
        r->reachable.count += count;
    } else {
        r->totals[kind].count += count;
        r->totals[kind].bytes += s->bytes;
    }
}

/* The first build: two heap leaks, an fd leak and a reachable block. */
static lwr_report_t *first_build(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    const fr_t a[] = { { "make_table", "/ci/run1/src/table.c", 41, 0x55d0c0a01234 },
                       { "main", "/ci/run1/src/main.c", 80, 0x55d0c0a05678 },
                       { NULL, NULL, 0, 0x7f000002718a } };
    const fr_t b[] = { { "parse", "/ci/run1/src/parse.c", 12, 0x55d0c0a02000 },
                       { "main", "/ci/run1/src/main.c", 81, 0x55d0c0a05690 } };
    const fr_t c[] = { { "open_log", "/ci/run1/src/log.c", 7, 0x55d0c0a03000 } };
    const fr_t d[] = { { "load_config", "/ci/run1/src/config.c", 3, 0x55d0c0a04000 } };
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 3, a, 3);
    add_site(r, LWR_HEAP, LWR_CLASS_INDIRECT, 2, b, 2);
    add_site(r, LWR_FD, LWR_CLASS_NONE, 1, c, 1);
    add_site(r, LWR_HEAP, LWR_CLASS_REACHABLE, 1, d, 1);
    return r;
}

/* The same program rebuilt in another directory after an edit: other addresses and lines, one new leak, one
 * leak whose caller changed, and the reachable block now lost. */
static lwr_report_t *second_build(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    const fr_t a[] = { { "make_table", "/ci/run2/src/table.c", 44, 0x5600aa001111 },
                       { "main", "/ci/run2/src/main.c", 85, 0x5600aa002222 },
                       { NULL, NULL, 0, 0x7f1111111111 } };
    const fr_t b[] = { { "parse", "/ci/run2/src/parse.c", 12, 0x5600aa003333 },
                       { "run_cli", "/ci/run2/src/cli.c", 9, 0x5600aa004444 } };
    const fr_t c[] = { { "open_log", "/ci/run2/src/log.c", 9, 0x5600aa005555 } };
    const fr_t d[] = { { "load_config", "/ci/run2/src/config.c", 3, 0x5600aa006666 } };
    const fr_t e[] = { { "make_table", "/ci/run2/src/table.c", 44, 0x5600aa001111 } };
    add_site(r, LWR_HEAP, LWR_CLASS_INDIRECT, 5, a, 3);     /* class changed: still the same call site */
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 2, b, 2);     /* another caller: new */
    add_site(r, LWR_FD, LWR_CLASS_NONE, 1, c, 1);
    add_site(r, LWR_HEAP, LWR_CLASS_DEFINITE, 1, d, 1);     /* reachable before, lost now: new */
    add_site(r, LWR_FD, LWR_CLASS_NONE, 4, e, 1);           /* same frames, another kind: new */
    return r;
}

/* The report rendered as JSON and parsed back, as `run --json` then `--baseline` would read it. */
static json_t *as_json(const lwr_report_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(lwr_render_json(f, r), 0);
    fclose(f);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    free(text);
    return root;
}

static void check_marks(lwr_report_t *now, const lwr_baseline_t *b)
{
    ck_assert_uint_eq(lwr_baseline_mark(now, b), 2);
    ck_assert(now->sites[0].baseline);
    ck_assert(!now->sites[1].baseline);
    ck_assert(now->sites[2].baseline);
    ck_assert(!now->sites[3].baseline);
    ck_assert(!now->sites[4].baseline);
}

START_TEST(sites_match_across_a_rebuild_by_function_and_file)
{
    lwr_report_t *old = first_build(), *now = second_build();
    json_t *root = as_json(old);
    lwr_baseline_t b = LWR_BASELINE_INIT;
    char err[256];
    ck_assert_msg(lwr_baseline_from_json(&b, root, "old.json", err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(b.nsites, 4);
    check_marks(now, &b);

    /* The gate: heap 8 + fd 5 = 13 leaks, of which 5 + 1 are in the baseline. */
    lwr_report_gate(now, 6, LWR_ALL_KINDS, false, true);
    ck_assert_uint_eq(now->gate.leaks, 7);
    ck_assert_uint_eq(now->gate.baseline, 6);
    ck_assert(now->gate.failed);
    lwr_report_gate(now, 7, LWR_ALL_KINDS, false, true);
    ck_assert(!now->gate.failed);
    /* Only heap gated: the fd site in the baseline does not count either way. */
    lwr_report_gate(now, 0, 1u << LWR_HEAP, false, true);
    ck_assert_uint_eq(now->gate.leaks, 3);
    ck_assert_uint_eq(now->gate.baseline, 5);

    /* Baseline sites stay in the JSON report, marked. */
    json_t *j = as_json(now);
    json_t *sites = json_object_get(j, "sites");
    ck_assert(json_is_true(json_object_get(json_array_get(sites, 0), "baseline")));
    ck_assert_ptr_null(json_object_get(json_array_get(sites, 1), "baseline"));
    json_decref(j);
    json_decref(root);
    lwr_baseline_free(&b);
    lwr_report_free(old);
    lwr_report_free(now);
}
END_TEST

START_TEST(baseline_command_output_reads_back)
{
    lwr_report_t *old = first_build(), *now = second_build();
    json_t *root = as_json(old);
    char *text = NULL;
    size_t len = 0;
    char err[256];
    FILE *f = open_memstream(&text, &len);
    ck_assert_msg(lwr_baseline_write(f, root, "old.json", err, sizeof err) == 0, "%s", err);
    fclose(f);
    json_error_t jerr;
    json_t *base = json_loads(text, 0, &jerr);
    ck_assert_msg(base != NULL, "%s", jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(base, "leakwatch_baseline")), 1);
    /* The reachable site is left out: there is nothing to forgive. */
    ck_assert_uint_eq(json_array_size(json_object_get(base, "sites")), 3);
    json_t *frame = json_array_get(json_object_get(json_array_get(json_object_get(base, "sites"), 0), "frames"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(frame, "function")), "make_table");
    ck_assert_ptr_null(json_object_get(frame, "address"));
    lwr_baseline_t b = LWR_BASELINE_INIT;
    ck_assert_msg(lwr_baseline_from_json(&b, base, "base.json", err, sizeof err) == 0, "%s", err);
    check_marks(now, &b);
    lwr_baseline_free(&b);
    json_decref(base);
    json_decref(root);
    free(text);
    lwr_report_free(old);
    lwr_report_free(now);
}
END_TEST

START_TEST(bad_baselines_are_refused_with_a_reason)
{
    lwr_baseline_t b = LWR_BASELINE_INIT;
    char err[256];
    json_t *doc = json_loads("{\"sites\": []}", 0, NULL);
    ck_assert_int_eq(lwr_baseline_from_json(&b, doc, "x.json", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "x.json: not a leakwatch report or baseline") != NULL, "%s", err);
    json_decref(doc);
    doc = json_loads("{\"leakwatch_baseline\": 1, \"sites\": [{\"kind\": \"heap\", \"frames\": [{\"function\": 3}]}]}",
                     0, NULL);
    ck_assert_int_eq(lwr_baseline_from_json(&b, doc, "x.json", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "sites[0].frames[0]") != NULL, "%s", err);
    json_decref(doc);
    ck_assert_int_eq(lwr_baseline_load(&b, "/nonexistent/base.json", err, sizeof err), -1);
    ck_assert_msg(strstr(err, "/nonexistent/base.json") != NULL, "%s", err);
    lwr_baseline_free(&b);
}
END_TEST

START_TEST(gate_counts_reachable_only_when_asked)
{
    lwr_report_t *r = first_build();
    lwr_report_gate(r, 0, LWR_ALL_KINDS, false, false);
    ck_assert_uint_eq(r->gate.leaks, 6);
    lwr_report_gate(r, 0, LWR_ALL_KINDS, true, false);
    ck_assert_uint_eq(r->gate.leaks, 7);
    lwr_report_gate(r, 0, 1u << LWR_FD, true, false);
    ck_assert_uint_eq(r->gate.leaks, 1);
    ck_assert(lwr_site_gated(r, &r->sites[2]));
    ck_assert(!lwr_site_gated(r, &r->sites[0]));
    lwr_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_baseline");
    TCase *tc = tcase_create("baseline");
    tcase_add_test(tc, sites_match_across_a_rebuild_by_function_and_file);
    tcase_add_test(tc, baseline_command_output_reads_back);
    tcase_add_test(tc, bad_baselines_are_refused_with_a_reason);
    tcase_add_test(tc, gate_counts_reachable_only_when_asked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
