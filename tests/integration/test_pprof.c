/* Integration tests of `leakwatch report --format pprof`: Debian's `go tool pprof` reads the profile and lists the
 * same sites with the same values as `leakwatch report --show-reachable`, per kind, with the fixture's build-id. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

/* `go tool pprof` with `args` on the profile `path`; fails the test when go is missing (scripts/install-deps
 * installs golang-go) or pprof cannot read the file. The caller frees the result. */
static lwt_result_t *pprof(const char *path, const char *const *args, const char *tmp)
{
    const char *go = lwt_which((const char *const[]){ "/usr/bin/go", "/usr/lib/go/bin/go", "go", NULL });
    ck_assert_msg(go != NULL, "go is not installed: scripts/install-deps installs golang-go for this test");
    const char *argv[16] = { go, "tool", "pprof" };
    int n = 3;
    for (int i = 0; args[i] && n < 14; i++)
        argv[n++] = args[i];
    argv[n++] = path;
    argv[n] = NULL;
    char cache[512], home[512];
    snprintf(cache, sizeof cache, "GOCACHE=%s/gocache", tmp);
    snprintf(home, sizeof home, "HOME=%s", tmp);
    lwt_opts_t o = { .env = (const char *const[]){ cache, home, "PPROF_TMPDIR=/nonexistent", NULL } };
    lwt_result_t *r = lwt_exec(argv, &o);
    ck_assert_msg(!r->timed_out && r->exited && r->exit_code == 0, "go tool pprof failed%s", lwt_describe(r));
    return r;
}

/* The flat value `go tool pprof -top` prints for `function`, parsed as an integer (with -unit=B, bytes print as
 * "1500B"), or -1 when no line names it. */
static long long top_flat(const lwt_result_t *r, const char *function)
{
    const char *p = r->out;
    while (p && *p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
        long long flat;
        char name[256];
        /* flat flat% sum% cum cum% name */
        if (sscanf(line, " %lld%*[B] %*s %*s %*s %*s %255s", &flat, name) == 2
            || sscanf(line, " %lld %*s %*s %*s %*s %255s", &flat, name) == 2)
            if (strcmp(name, function) == 0)
                return flat;
        p = end ? end + 1 : NULL;
    }
    return -1;
}

/* Position of the first -top line naming `function`, or -1. */
static int top_rank(const lwt_result_t *r, const char *function)
{
    int rank = 0;
    for (const char *p = r->out; p && *p; rank++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t fl = strlen(function);
        if (len > fl && p[len - fl - 1] == ' ' && strncmp(p + len - fl, function, fl) == 0)
            return rank;
        p = end ? end + 1 : NULL;
    }
    return -1;
}

/* The site of the JSON report (reachable ones included) with a frame in `function`. */
static json_t *json_site(json_t *report, const char *function)
{
    json_t *sites = json_object_get(report, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s) {
        json_t *frames = json_object_get(s, "frames"), *f;
        size_t j;
        json_array_foreach(frames, j, f) {
            const char *fn = json_string_value(json_object_get(f, "function"));
            if (fn && strcmp(fn, function) == 0)
                return s;
        }
    }
    return NULL;
}

START_TEST(test_pprof_matches_report)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *run = lwt_exec_preload(LWT_ARGV(lwt_fixture("pprof_sites")), NULL);
    ck_assert_msg(run->exited && run->exit_code == 0, "the fixture ran%s", lwt_describe(run));
    char dumps[512], prof[512], json[512];
    snprintf(dumps, sizeof dumps, "%s/dumps", run->tmpdir);
    snprintf(prof, sizeof prof, "%s/profile.pb.gz", run->tmpdir);
    snprintf(json, sizeof json, "%s/report.json", run->tmpdir);

    lwt_result_t *w = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "pprof", "--output", prof, dumps), NULL);
    ck_assert_msg(w->exited && w->exit_code == 0 && w->out_len == 0, "report --format pprof%s", lwt_describe(w));
    lwt_result_t *j = lwt_exec(
        LWT_ARGV(lwt_cli(), "report", "--format", "json", "--show-reachable", "--output", json, dumps), NULL);
    ck_assert_msg(j->exited && j->exit_code == 0, "report --format json%s", lwt_describe(j));
    json_error_t err;
    json_t *report = json_load_file(json, 0, &err);
    ck_assert_msg(report != NULL, "the JSON report parses: %s", err.text);

    /* heap bytes, the default sample type: the same values as the report, in the same order */
    lwt_result_t *bytes = pprof(prof, LWT_ARGV("-top", "-unit=B", "-nodefraction=0", "-symbolize=none"), run->tmpdir);
    const char *funcs[] = { "cache_fill", "leak_mid", "leak_small" };
    const long long want_bytes[] = { 20000, 1500, 50 }, want_count[] = { 20, 5, 1 };
    for (int i = 0; i < 3; i++) {
        json_t *site = json_site(report, funcs[i]);
        ck_assert_msg(site != NULL, "the report has a site in %s", funcs[i]);
        ck_assert_int_eq(lwt_site_bytes(site), want_bytes[i]);
        ck_assert_int_eq(lwt_site_count(site), want_count[i]);
        ck_assert_msg(top_flat(bytes, funcs[i]) == want_bytes[i], "pprof -top gives %s %lld bytes, not %lld:\n%s",
                      funcs[i], top_flat(bytes, funcs[i]), want_bytes[i], bytes->out);
    }
    ck_assert_msg(strstr(bytes->out, "Type: heap_space") != NULL, "heap_space is the default:\n%s", bytes->out);
    ck_assert_msg(top_rank(bytes, "cache_fill") < top_rank(bytes, "leak_mid")
                      && top_rank(bytes, "leak_mid") < top_rank(bytes, "leak_small"),
                  "the top sites are in the report's order:\n%s", bytes->out);

    /* heap blocks and descriptors counted as the report counts them */
    lwt_result_t *count = pprof(prof, LWT_ARGV("-top", "-sample_index=heap_objects", "-nodefraction=0", "-symbolize=none"), run->tmpdir);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(top_flat(count, funcs[i]) == want_count[i], "pprof -top gives %s %lld blocks, not %lld:\n%s",
                      funcs[i], top_flat(count, funcs[i]), want_count[i], count->out);
    lwt_result_t *fds = pprof(prof, LWT_ARGV("-top", "-sample_index=fd_objects", "-nodefraction=0", "-symbolize=none"), run->tmpdir);
    json_t *fd_site = json_site(report, "open_fds");
    ck_assert_msg(fd_site != NULL && lwt_site_count(fd_site) == 2, "the report has 2 descriptors in open_fds");
    ck_assert_msg(top_flat(fds, "open_fds") == 2, "pprof counts the 2 descriptors:\n%s", fds->out);

    /* the class label tells reachable blocks from leaks; the fixture's mapping carries its build-id */
    lwt_result_t *reach =
        pprof(prof, LWT_ARGV("-top", "-unit=B", "-nodefraction=0", "-tagfocus=class=reachable", "-symbolize=none"), run->tmpdir);
    ck_assert_msg(top_flat(reach, "cache_fill") == 20000 && top_flat(reach, "leak_mid") == -1,
                  "only the cache is reachable:\n%s", reach->out);
    lwt_result_t *raw = pprof(prof, LWT_ARGV("-raw"), run->tmpdir);
    lwt_result_t *elf = lwt_exec(LWT_ARGV("readelf", "-n", lwt_fixture("pprof_sites")), NULL);
    const char *id = strstr(elf->out, "Build ID: ");
    ck_assert_msg(id != NULL, "readelf shows the fixture's build-id%s", lwt_describe(elf));
    char mapping[128];
    snprintf(mapping, sizeof mapping, "/pprof_sites %.*s [FN][FL][LN][IN]", (int)strspn(id + 10, "0123456789abcdef"),
             id + 10);
    ck_assert_msg(strstr(raw->out, mapping) != NULL,
                  "the fixture is a mapping with its build-id, functions, files, lines and inlining ('%s'):\n%s",
                  mapping, raw->out);
    ck_assert_msg(strstr(raw->out, "pprof_sites.c:") != NULL, "locations carry file and line:\n%s", raw->out);

    json_decref(report);
    lwt_free(elf);
    lwt_free(raw);
    lwt_free(reach);
    lwt_free(fds);
    lwt_free(count);
    lwt_free(bytes);
    lwt_free(j);
    lwt_free(w);
    lwt_free(run);
}
END_TEST

/* A binary profile is not written to a terminal, and an unwritable output fails with status 1. */
START_TEST(test_pprof_bad_outputs)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *run = lwt_exec_preload(LWT_ARGV(lwt_fixture("pprof_sites")), NULL);
    char dumps[512];
    snprintf(dumps, sizeof dumps, "%s/dumps", run->tmpdir);
    lwt_result_t *w = lwt_exec(
        LWT_ARGV(lwt_cli(), "report", "--format", "pprof", "--output", "/nonexistent/dir/p.pb.gz", dumps), NULL);
    ck_assert_msg(w->exited && w->exit_code == 1 && strstr(w->err, "/nonexistent/dir/p.pb.gz") != NULL,
                  "an unwritable output is an error naming it%s", lwt_describe(w));
    lwt_result_t *u = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "protobuf", dumps), NULL);
    ck_assert_msg(u->exited && u->exit_code == 2 && strstr(u->err, "pprof") != NULL,
                  "an unknown format lists pprof%s", lwt_describe(u));
    lwt_free(u);
    lwt_free(w);
    lwt_free(run);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pprof");
    TCase *tc = tcase_create("pprof");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_pprof_matches_report);
    tcase_add_test(tc, test_pprof_bad_outputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
