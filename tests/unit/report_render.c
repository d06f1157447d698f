/* Unit tests of the renderers: the JSON report parsed back with jansson and checked member by member against
 * docs/FORMAT.md, and the text report's header, site blocks, frames, samples and clean-run line. */
#include "render.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A report of two processes, built by hand: a heap site with one symbolized and one unknown frame, an fd site
 * without a module, and a gate. */
static lwr_report_t *sample_report(void)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    r->totals[LWR_HEAP] = (lwr_total_t){ 3, 72 };
    r->totals[LWR_FD] = (lwr_total_t){ 1, 0 };
    r->reachable = (lwr_total_t){ 2, 4096 };
    r->nsites = 2;
    r->sites = calloc(2, sizeof *r->sites);

    lwr_site_t *s = &r->sites[0];
    s->kind = LWR_HEAP;
    s->cls = LWR_CLASS_DEFINITE;
    s->count = 3;
    s->bytes = 72;
    s->nframes = 2;
    s->frames = calloc(2, sizeof *s->frames);
    s->frames[0] = (lwr_frame_t){ 0x55d0c0a01234, strdup("make_table"), strdup("/src/demo.c"), 41,
                                  strdup("/usr/bin/demo"), 0x1234, 0 };
    s->frames[1] = (lwr_frame_t){ 0x7f000002718a, NULL, NULL, 0, strdup("/lib/x86_64-linux-gnu/libc.so.6"),
                                  0x2718a, 0 };
    s->nsamples = 2;
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    s->samples[0] = (lwr_report_sample_t){ 4242, strdup("0x55d0c1e002a0"), 24, NULL };
    s->samples[1] = (lwr_report_sample_t){ 4243, strdup("0x55d0c1e002c0"), 48, NULL };
    s->npids = 2;
    s->pids = calloc(2, sizeof *s->pids);
    s->pids[0] = 4242;
    s->pids[1] = 4243;

    s = &r->sites[1];
    s->kind = LWR_FD;
    s->count = 1;
    s->nframes = 1;
    s->frames = calloc(1, sizeof *s->frames);
    s->frames[0] = (lwr_frame_t){ 0xdead, NULL, NULL, 0, NULL, 0xdead, 0 };
    s->nsamples = 1;
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    s->samples[0] = (lwr_report_sample_t){ 4242, strdup("7"), 0, strdup("/tmp/log.txt") };
    s->npids = 1;
    s->pids = calloc(1, sizeof *s->pids);
    s->pids[0] = 4242;

    r->nprocesses = 2;
    r->processes = calloc(2, sizeof *r->processes);
    r->processes[0] = (lwr_process_t){ 4242, 4200, strdup("/usr/bin/demo"), calloc(3, sizeof(char *)), 2, true, 0,
                                       strdup("leakwatch.4242.1.json"), strdup("exit"), 0, 0, 0, 0, 0 };
    r->processes[0].arguments[0] = strdup("demo");
    r->processes[0].arguments[1] = strdup("-v");
    r->processes[1] = (lwr_process_t){ 4243, -1, NULL, calloc(1, sizeof(char *)), 0, false, 0,
                                       strdup("leakwatch.4243.2.json"), NULL, 0, 0, 0, 0, 0 };
    r->has_gate = true;
    r->gate = (lwr_gate_t){ .max_leaks = 0, .leaks = 3, .kinds = (1u << LWR_HEAP) | (1u << LWR_TIMER), .failed = true };
    return r;
}

/* Renders with `fn` into memory; the caller frees the text. */
static char *render(int (*fn)(FILE *, const lwr_report_t *), const lwr_report_t *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fn(f, r), 0);
    fclose(f);
    return text;
}

static json_t *member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(v != NULL, "member '%s' missing", key);
    return v;
}

static void expect_int(json_t *obj, const char *key, json_int_t want)
{
    json_t *v = member(obj, key);
    ck_assert_msg(json_is_integer(v), "'%s' is not an integer", key);
    ck_assert_int_eq(json_integer_value(v), want);
}

static void expect_str(json_t *obj, const char *key, const char *want)
{
    json_t *v = member(obj, key);
    if (!want) {
        ck_assert_msg(json_is_null(v), "'%s' should be null", key);
        return;
    }
    ck_assert_msg(json_is_string(v), "'%s' is not a string", key);
    ck_assert_str_eq(json_string_value(v), want);
}

START_TEST(json_report_matches_the_contract)
{
    lwr_report_t *r = sample_report();
    char *text = render(lwr_render_json, r);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON (%s): %s", jerr.text, text);
    ck_assert(text[strlen(text) - 1] == '\n');

    expect_int(root, "leakwatch_report", 1);
    json_t *totals = member(root, "totals");
    ck_assert_uint_eq(json_object_size(totals), LWR_KIND_COUNT + 1);
    expect_int(member(totals, "reachable"), "count", 2);
    expect_int(member(totals, "reachable"), "bytes", 4096);
    static const char *const kinds[] = { "heap", "fd", "socket", "thread", "timer", "mmap" };
    const json_int_t counts[] = { 3, 1, 0, 0, 0, 0 }, bytes[] = { 72, 0, 0, 0, 0, 0 };
    for (int k = 0; k < LWR_KIND_COUNT; k++) {
        json_t *t = member(totals, kinds[k]);
        expect_int(t, "count", counts[k]);
        expect_int(t, "bytes", bytes[k]);
    }

    json_t *sites = member(root, "sites");
    ck_assert_uint_eq(json_array_size(sites), 2);
    json_t *s = json_array_get(sites, 0);
    expect_str(s, "kind", "heap");
    expect_str(s, "class", "definite");
    expect_int(s, "count", 3);
    expect_int(s, "bytes", 72);
    json_t *frames = member(s, "frames");
    ck_assert_uint_eq(json_array_size(frames), 2);
    json_t *f = json_array_get(frames, 0);
    expect_str(f, "function", "make_table");
    expect_str(f, "file", "/src/demo.c");
    expect_int(f, "line", 41);
    expect_str(f, "module", "/usr/bin/demo");
    expect_str(f, "address", "0x55d0c0a01234");
    f = json_array_get(frames, 1);
    expect_str(f, "function", NULL);
    expect_str(f, "file", NULL);
    expect_int(f, "line", 0);
    expect_str(f, "module", "/lib/x86_64-linux-gnu/libc.so.6");
    expect_str(f, "address", "0x7f000002718a");
    json_t *samples = member(s, "samples");
    ck_assert_uint_eq(json_array_size(samples), 2);
    expect_int(json_array_get(samples, 1), "pid", 4243);
    expect_str(json_array_get(samples, 1), "handle", "0x55d0c1e002c0");
    expect_int(json_array_get(samples, 1), "size", 48);
    ck_assert_ptr_null(json_object_get(json_array_get(samples, 1), "detail"));
    json_t *pids = member(s, "pids");
    ck_assert_uint_eq(json_array_size(pids), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(pids, 0)), 4242);
    ck_assert_int_eq(json_integer_value(json_array_get(pids, 1)), 4243);

    s = json_array_get(sites, 1);
    expect_str(s, "kind", "fd");
    ck_assert_ptr_null(json_object_get(s, "class"));   /* unclassified: no class member */
    expect_int(s, "bytes", 0);
    f = json_array_get(member(s, "frames"), 0);
    expect_str(f, "module", NULL);
    expect_str(f, "address", "0xdead");
    json_t *smp = json_array_get(member(s, "samples"), 0);
    expect_str(smp, "handle", "7");
    expect_str(smp, "detail", "/tmp/log.txt");

    json_t *procs = member(root, "processes");
    ck_assert_uint_eq(json_array_size(procs), 2);
    json_t *p = json_array_get(procs, 0);
    expect_int(p, "pid", 4242);
    expect_int(p, "ppid", 4200);
    expect_str(p, "executable", "/usr/bin/demo");
    json_t *args = member(p, "arguments");
    ck_assert_uint_eq(json_array_size(args), 2);
    ck_assert_str_eq(json_string_value(json_array_get(args, 1)), "-v");
    expect_int(p, "exit_status", 0);
    expect_str(p, "dump", "leakwatch.4242.1.json");
    p = json_array_get(procs, 1);
    ck_assert(json_is_null(member(p, "ppid")));
    ck_assert(json_is_null(member(p, "exit_status")));
    expect_str(p, "executable", NULL);
    ck_assert_uint_eq(json_array_size(member(p, "arguments")), 0);

    json_t *gate = member(root, "gate");
    expect_int(gate, "max_leaks", 0);
    expect_int(gate, "leaks", 3);
    ck_assert(json_is_true(member(gate, "failed")));
    json_t *gk = member(gate, "kinds");
    ck_assert_uint_eq(json_array_size(gk), 2);
    ck_assert_str_eq(json_string_value(json_array_get(gk, 0)), "heap");
    ck_assert_str_eq(json_string_value(json_array_get(gk, 1)), "timer");

    json_decref(root);
    free(text);

    /* Without a gate (leakwatch report), there is no gate member. */
    r->has_gate = false;
    text = render(lwr_render_json, r);
    root = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    ck_assert_ptr_null(json_object_get(root, "gate"));
    json_decref(root);
    free(text);
    lwr_report_free(r);
}
END_TEST

START_TEST(json_file_is_written_and_errors_are_returned)
{
    lwr_report_t *r = sample_report();
    char path[] = "/tmp/lwr_render_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(lwr_render_json_file(path, r), 0);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    expect_int(root, "leakwatch_report", 1);
    json_decref(root);
    unlink(path);
    ck_assert_int_ne(lwr_render_json_file("/nonexistent-dir/r.json", r), 0);
    lwr_report_free(r);
}
END_TEST

/* The headline lists every kind still held and says which ones the gate leaves out of its count (mmap by default),
 * so that its number and the gate's line agree to a reader; without a gate (`leakwatch report`) nothing is said. */
START_TEST(headline_says_which_kinds_the_gate_leaves_out)
{
    lwr_report_t *r = sample_report();
    r->totals[LWR_MMAP] = (lwr_total_t){ 1, 4096 };
    char *text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "heap 3 blocks (72 bytes), fd 1 (not counted by the gate), mmap 1 (4096 bytes, not "
                               "counted by the gate);"), "%s", text);
    free(text);
    r->gate.kinds |= (1u << LWR_FD) | (1u << LWR_MMAP);
    text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "heap 3 blocks (72 bytes), fd 1, mmap 1 (4096 bytes);") && !strstr(text, "of them"),
                  "%s", text);
    free(text);
    r->gate.kinds = 1u << LWR_FD;
    r->has_gate = false;
    text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "heap 3 blocks (72 bytes), fd 1, mmap 1 (4096 bytes);") && !strstr(text, "not counted"),
                  "%s", text);
    free(text);
    lwr_report_free(r);
}
END_TEST

/* Dumps of processes that were still running (signal, interval, the program's own), taken without a scan, list
 * what they hold: the headline and the summary say held, not leaked, and that the heap is not classified; with
 * the heap classified, or one exit dump among them, the words are the leak report's again. */
START_TEST(dumps_of_running_processes_say_held_not_leaked)
{
    lwr_report_t *r = sample_report();
    free(r->processes[0].reason);
    r->processes[0].reason = strdup("signal");
    r->processes[1].reason = strdup("interval");
    for (size_t i = 0; i < r->nsites; i++)
        if (r->sites[i].kind == LWR_HEAP)
            r->sites[i].cls = LWR_CLASS_NONE;
    char *text = render(lwr_render_text, r);
    const char *held = "leakwatch: 4 handles held at 2 sites in 2 processes dumped while they ran, 3 of them counted "
                       "by the gate: heap 3 blocks (72 bytes), ";
    ck_assert_msg(strncmp(text, held, strlen(held)) == 0, "%s", text);
    ck_assert_msg(strstr(text, "; the heap is not classified (LEAKWATCH_REACHABILITY=always scans these dumps "
                               "too)\n"), "%s", text);
    ck_assert_msg(strstr(text, "\nSUMMARY: leakwatch: 72 bytes held in 3 allocations"), "%s", text);
    ck_assert_msg(!strstr(text, "leaked") && !strstr(text, " leaks at"), "%s", text);
    free(text);
    for (size_t i = 0; i < r->nsites; i++)
        if (r->sites[i].kind == LWR_HEAP)
            r->sites[i].cls = LWR_CLASS_DEFINITE;
    text = render(lwr_render_text, r);
    ck_assert_msg(strncmp(text, "leakwatch: 4 leaks at 2 sites in 2 processes, ", 46) == 0 &&
                      !strstr(text, "not classified"), "%s", text);
    free(text);
    for (size_t i = 0; i < r->nsites; i++)
        if (r->sites[i].kind == LWR_HEAP)
            r->sites[i].cls = LWR_CLASS_NONE;
    free(r->processes[1].reason);
    r->processes[1].reason = strdup("exit");
    text = render(lwr_render_text, r);
    ck_assert_msg(strncmp(text, "leakwatch: 4 leaks at 2 sites in 2 processes, ", 46) == 0 &&
                      strstr(text, "SUMMARY: leakwatch: 72 bytes leaked") && !strstr(text, "not classified"),
                  "%s", text);
    free(text);
    lwr_report_free(r);
}
END_TEST

START_TEST(text_report_has_header_blocks_frames_and_samples)
{
    lwr_report_t *r = sample_report();
    char *text = render(lwr_render_text, r);
    /* the gate counts heap and timer only: the descriptor is listed, and said to be left out of its count */
    const char *want_header = "leakwatch: 4 leaks at 2 sites in 2 processes, 3 of them counted by the gate: heap 3 "
                              "blocks (72 bytes), fd 1 (not counted by the gate); 2 more blocks (4096 bytes) still "
                              "reachable, not leaks\n";
    ck_assert_msg(strncmp(text, want_header, strlen(want_header)) == 0, "header: %s", text);
    const char *heap = strstr(text, "\nheap: 72 bytes in 3 blocks, 2 processes (pids 4242, 4243)\n");
    const char *f0 = strstr(text, "\n    #0 make_table /src/demo.c:41 (demo)\n");
    const char *f1 = strstr(text, "\n    #1 0x7f000002718a (libc.so.6+0x2718a)\n");
    const char *smp = strstr(text, "\n    samples: 0x55d0c1e002a0 (24 bytes, pid 4242), 0x55d0c1e002c0 (48 bytes, "
                                   "pid 4243)\n");
    const char *fd = strstr(text, "\nfd: 1 descriptor still open, pid 4242\n");
    const char *fdf = strstr(text, "\n    #0 0xdead (no module)\n");
    const char *fds = strstr(text, "\n    samples: fd 7 /tmp/log.txt\n");
    ck_assert_msg(heap && f0 && f1 && smp && fd && fdf && fds, "text:\n%s", text);
    /* Largest site first, each block in order. */
    ck_assert(heap < f0 && f0 < f1 && f1 < smp && smp < fd && fd < fdf && fdf < fds);
    /* A blank line before each block. */
    ck_assert(heap[-1] == '\n');
    free(text);
    lwr_report_free(r);
}
END_TEST

/* A frame without a function shows its address once: with the module's offset beside it when the module was
 * loaded elsewhere (PIE, libraries), with the module alone when the offset is the address (non-PIE). */
START_TEST(frames_without_symbols_show_their_address_once)
{
    char text[256];
    lwr_frame_t nopie = { 0x4010b1, NULL, NULL, 0, (char *)"/build/alloc_nopie", 0x4010b1, 0 };
    lwr_frame_text(&nopie, text, sizeof text);
    ck_assert_str_eq(text, "0x4010b1 (alloc_nopie)");
    lwr_frame_t pie = { 0x55d0c1e010b1, NULL, NULL, 0, (char *)"/build/alloc_glibc", 0x10b1, 0 };
    lwr_frame_text(&pie, text, sizeof text);
    ck_assert_str_eq(text, "0x55d0c1e010b1 (alloc_glibc+0x10b1)");
    /* a function without a file keeps the offset, the one address shown */
    lwr_frame_t start = { 0x4010b1, (char *)"_start", NULL, 0, (char *)"/build/alloc_nopie", 0x4010b1, 0 };
    lwr_frame_text(&start, text, sizeof text);
    ck_assert_str_eq(text, "_start (alloc_nopie+0x4010b1)");
}
END_TEST

START_TEST(clean_report_is_exactly_one_line)
{
    lwr_report_t r;
    memset(&r, 0, sizeof r);
    r.nprocesses = 3;
    r.reachable = (lwr_total_t){ 1, 100 };   /* reachable blocks are no leaks */
    char *text = render(lwr_render_text, &r);
    ck_assert_str_eq(text, "leakwatch: no leaks (3 processes); 1 heap block (100 bytes) still reachable at exit\n");
    free(text);
    r.nprocesses = 1;
    r.reachable = (lwr_total_t){ 0, 0 };
    text = render(lwr_render_text, &r);
    ck_assert_str_eq(text, "leakwatch: no leaks (1 process)\n");
    free(text);
}
END_TEST

/* `leakwatch run`'s unchecked processes: listed in JSON and at the end of the text, never under a plain "no leaks";
 * each process carries dropped and lost, and lost warnings are a line of the text. */
START_TEST(unchecked_and_lost_are_rendered)
{
    lwr_report_t *r = calloc(1, sizeof *r);
    r->nprocesses = 2;
    r->processes = calloc(2, sizeof *r->processes);
    r->processes[0] = (lwr_process_t){ .pid = 10, .ppid = -1, .arguments = calloc(1, sizeof(char *)) };
    r->processes[1] = (lwr_process_t){ .pid = 11, .ppid = -1, .arguments = calloc(1, sizeof(char *)), .dropped = 1,
                                       .lost_records = 2, .lost_sites = 3, .lost_warnings = 4 };
    r->has_unchecked = true;
    r->nunchecked = 2;
    r->unchecked = calloc(2, sizeof *r->unchecked);
    r->unchecked[0] = (lwr_unchecked_t){ 11, strdup("/bin/x"), strdup("incomplete: 3 records not recorded") };
    r->unchecked[1] = (lwr_unchecked_t){ 12, NULL, strdup("a static binary") };

    char *text = render(lwr_render_text, r);
    ck_assert_str_eq(text, "leakwatch: no leaks in the 1 process checked; 2 could not be checked (below)\n"
                           "\nleakwatch: pid 11: 4 more warnings were not kept (at most 256 per process)\n"
                           "\nleakwatch: 2 processes could not be checked:\n"
                           "    pid 11 (/bin/x): incomplete: 3 records not recorded\n"
                           "    pid 12 (?): a static binary\n"
                           "\nSUMMARY: leakwatch: 0 bytes leaked in 0 allocations; 2 processes not checked\n");
    free(text);

    char *json = render(lwr_render_json, r);
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    json_t *u = member(root, "unchecked");
    ck_assert_uint_eq(json_array_size(u), 2);
    expect_int(json_array_get(u, 0), "pid", 11);
    expect_str(json_array_get(u, 0), "executable", "/bin/x");
    expect_str(json_array_get(u, 0), "reason", "incomplete: 3 records not recorded");
    expect_str(json_array_get(u, 1), "executable", NULL);
    json_t *p = json_array_get(member(root, "processes"), 1);
    expect_int(p, "dropped", 1);
    expect_int(member(p, "lost"), "records", 2);
    expect_int(member(p, "lost"), "sites", 3);
    expect_int(member(p, "lost"), "warnings", 4);
    json_decref(root);
    free(json);

    /* every process unchecked */
    r->nprocesses = 1;
    r->processes[0].pid = 11;
    text = render(lwr_render_text, r);
    ck_assert_msg(strncmp(text, "leakwatch: no process could be checked (2 unchecked, below)\n", 60) == 0, "%s", text);
    free(text);
    r->processes[0].pid = 10;
    r->nprocesses = 2;

    /* `leakwatch report` has no unchecked list: no member */
    r->has_unchecked = false;
    json = render(lwr_render_json, r);
    root = json_loads(json, 0, &jerr);
    ck_assert_ptr_null(json_object_get(root, "unchecked"));
    json_decref(root);
    free(json);
    lwr_report_free(r);
}
END_TEST

/* A reachable site is listed in JSON with its class, hidden in text unless show_reachable, and never counted as
 * a leak site in the header. */
START_TEST(reachable_sites_are_listed_in_json_and_shown_in_text_on_request)
{
    lwr_report_t *r = sample_report();
    r->sites = realloc(r->sites, 3 * sizeof *r->sites);
    lwr_site_t *s = &r->sites[r->nsites++];
    memset(s, 0, sizeof *s);
    s->kind = LWR_HEAP;
    s->cls = LWR_CLASS_REACHABLE;
    s->count = 2;
    s->bytes = 4096;
    s->nframes = 1;
    s->frames = calloc(1, sizeof *s->frames);
    s->frames[0] = (lwr_frame_t){ 0x55d0c0a09999, strdup("load_config"), strdup("/src/demo.c"), 12,
                                  strdup("/usr/bin/demo"), 0x9999, 0 };
    s->samples = calloc(LWR_MAX_SAMPLES, sizeof *s->samples);
    char *text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "leakwatch: 4 leaks at 2 sites in 2 processes, 3 of them counted by the gate:"), "%s",
                  text);
    ck_assert_msg(strstr(text, "2 more blocks (4096 bytes) still reachable, not leaks\n"), "%s", text);
    ck_assert_msg(!strstr(text, "load_config"), "%s", text);
    free(text);
    r->show_reachable = true;
    text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "\nheap, reachable (still pointed to at exit, not a leak): 4096 bytes in 2 blocks\n"
                               "    #0 load_config /src/demo.c:12 (demo)\n"),
                  "%s", text);
    free(text);
    text = render(lwr_render_json, r);
    json_t *root = json_loads(text, 0, NULL);
    json_t *site = json_array_get(json_object_get(root, "sites"), 2);
    ck_assert_str_eq(json_string_value(json_object_get(site, "class")), "reachable");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(json_object_get(root, "totals"), "heap"),
                                                        "count")), 3);
    json_decref(root);
    free(text);
    lwr_report_free(r);
}
END_TEST

START_TEST(text_samples_of_other_kinds)
{
    lwr_report_t *r = sample_report();
    /* Turn the fd site into a thread site with four samples: three shown, then an ellipsis. */
    lwr_site_t *s = &r->sites[1];
    s->kind = LWR_THREAD;
    s->count = 4;
    for (int i = 1; i < 4; i++) {
        char h[32];
        snprintf(h, sizeof h, "0x7f0%d", i);
        s->samples[i] = (lwr_report_sample_t){ 4242, strdup(h), 0, NULL };
    }
    r->sites[0].cls = LWR_CLASS_INDIRECT;
    free(s->samples[0].detail);
    s->samples[0].detail = strdup("worker");
    free(s->samples[0].handle);
    s->samples[0].handle = strdup("0x7f00");
    s->nsamples = 4;
    char *text = render(lwr_render_text, r);
    ck_assert_msg(strstr(text, "\nthread: 4 threads still open (neither joined nor detached), pid 4242\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n    samples: thread 0x7f00 worker, thread 0x7f01, thread 0x7f02, ...\n"), "%s",
                  text);
    ck_assert_ptr_null(strstr(text, "0x7f03"));
    ck_assert_msg(strstr(text, "\nheap, indirect (only leaked blocks point to them): 72 bytes in 3 blocks, 2 processes"),
                  "%s", text);
    free(text);
    lwr_report_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_render");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, json_report_matches_the_contract);
    tcase_add_test(tc, json_file_is_written_and_errors_are_returned);
    tcase_add_test(tc, text_report_has_header_blocks_frames_and_samples);
    tcase_add_test(tc, headline_says_which_kinds_the_gate_leaves_out);
    tcase_add_test(tc, dumps_of_running_processes_say_held_not_leaked);
    tcase_add_test(tc, clean_report_is_exactly_one_line);
    tcase_add_test(tc, frames_without_symbols_show_their_address_once);
    tcase_add_test(tc, unchecked_and_lost_are_rendered);
    tcase_add_test(tc, text_samples_of_other_kinds);
    tcase_add_test(tc, reachable_sites_are_listed_in_json_and_shown_in_text_on_request);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
