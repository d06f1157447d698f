/* Integration tests of what a program tells leakwatch (include/leakwatch/leakwatch.h and LeakSanitizer's names for
 * the same calls): ignored blocks, disabled regions, checks and dumps on request, root regions, an annotated arena,
 * and the same programs run without the library. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define CASES_SRC "tests/fixtures/api_cases.h"
#define ARENA_SRC "tests/fixtures/api_arena.c"
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

/* The same cases through leakwatch.h and through weak declarations of the __lsan_* names. */
static const char *const fixtures[] = { "api_cases", "api_lsan" };

static const char *site_class(json_t *site)
{
    const char *c = json_string_value(json_object_get(site, "class"));
    return c ? c : "unclassified";
}

/* The sites of `kind` (any class) with a frame in `func` at the marker's line of `src`. */
static int sites_at(const lwt_result_t *r, const char *kind, const char *func, const char *src, const char *marker)
{
    int line = LWT_MARKER_LINE(src, marker);
    const char *file = strrchr(src, '/') + 1;
    int n = 0;
    json_t *site;
    size_t i;
    json_array_foreach(json_object_get(r->report, "sites"), i, site)
    {
        if (strcmp(json_string_value(json_object_get(site, "kind")), kind) != 0)
            continue;
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(site, "frames"), k, f)
        {
            const char *fn = json_string_value(json_object_get(f, "function"));
            const char *ff = json_string_value(json_object_get(f, "file"));
            size_t lf = ff ? strlen(ff) : 0;
            if (fn && strcmp(fn, func) == 0 && lf >= strlen(file) && strcmp(ff + lf - strlen(file), file) == 0 &&
                lwt_int(f, "line") == line) {
                n++;
                break;
            }
        }
    }
    return n;
}

/* Exactly one site of `kind` and class `cls` in `func` at the marker, with count and bytes. */
static void assert_site(const lwt_result_t *r, const char *kind, const char *func, const char *cls, long long count,
                        long long bytes, const char *src, const char *marker)
{
    int line = LWT_MARKER_LINE(src, marker);
    const char *file = strrchr(src, '/') + 1;
    json_t *site, *found = NULL;
    int n = 0;
    for (int i = 0; (site = lwt_find_site(r->report, kind, func, file, line, i)) != NULL; i++) {
        if (strcmp(site_class(site), cls) == 0) {
            found = site;
            n++;
        }
    }
    ck_assert_msg(n == 1, "expected one %s %s site in %s() at %s:%d, found %d%s", cls, kind, func, file, line, n,
                  lwt_describe(r));
    ck_assert_msg(lwt_site_count(found) == count && lwt_site_bytes(found) == bytes,
                  "the site in %s() should hold %lld, %lld bytes, not %lld, %lld%s", func, count, bytes,
                  lwt_site_count(found), lwt_site_bytes(found), lwt_describe(r));
}

static lwt_result_t *run_mode(const char *fixture, const char *mode)
{
    return lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture(fixture), mode), NULL);
}

/* An ignored block is reported in no class, and the block it points to is reachable through it; a lost block
 * next to it is still a leak. */
START_TEST(test_ignore)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_mode(fixtures[_i], "ignore");
    LWT_ASSERT_RUN(r, 0);
    assert_site(r, "heap", "ignore_case", "definite", 1, 1003, CASES_SRC, "@api_ignore_control */");
    ck_assert_msg(sites_at(r, "heap", "ignore_case", CASES_SRC, "@api_ignored */") == 0,
                  "the ignored block is not reported%s", lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "heap", 1, 1003, "the control block only");
    LWT_ASSERT_TOTALS(r, "reachable", 1, 1002, "the ignored block's target, reachable through it");
    lwt_free(r);
}
END_TEST

/* What a thread acquires in a disabled region (nested) is not reported, blocks and descriptors alike; a block
 * acquired in it and freed after it leaves no trace and no warning; what is acquired after the region, and by
 * another thread during it, is reported. */
START_TEST(test_disable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_mode(fixtures[_i], "disable");
    LWT_ASSERT_RUN(r, 0);
    assert_site(r, "heap", "disable_case", "definite", 1, 2004, CASES_SRC, "@api_after_region */");
    LWT_ASSERT_SITE(r, "fd", "other_thread", 1, 0);
    LWT_ASSERT_TOTALS(r, "heap", 1, 2004, "only the block acquired after the region");
    LWT_ASSERT_TOTALS(r, "fd", 1, 0, "only the other thread's descriptor");
    LWT_ASSERT_TOTALS(r, "reachable", 0, 0, "the ignored blocks are in no class");
    ck_assert_msg(strstr(r->err, "leakwatch_enable") == NULL,
                  "balanced regions give no warning%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* leakwatch_check counts the leaks of the moment, classified: a block a global holds is no leak, a freed one
 * and a closed descriptor go. */
START_TEST(test_check)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_mode(fixtures[_i], "check");
    LWT_ASSERT_RUN(r, 0);
    const long long want[] = { 0, 2, 1, 2, 1 };
    for (int k = 0; k < 5; k++) {
        char name[16];
        snprintf(name, sizeof name, "check%d", k);
        ck_assert_msg(lwt_out_value(r, name, -1) == want[k], "%s should be %lld, is %lld%s", name, want[k],
                      lwt_out_value(r, name, -1), lwt_describe(r));
    }
    assert_site(r, "heap", "check_case", "definite", 1, 3002, CASES_SRC, "@api_check_left */");
    lwt_free(r);
}
END_TEST

/* A registered root keeps its target reachable; an unregistered region, and one registered and removed again,
 * do not (shared mappings are no roots). */
START_TEST(test_root)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_mode(fixtures[_i], "root");
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(sites_at(r, "heap", "root_case", CASES_SRC, "@api_root_held */") == 1, "a reachable site%s",
                  lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "reachable", 1, 4001, "the registered region's target");
    assert_site(r, "heap", "root_case", "definite", 1, 4002, CASES_SRC, "@api_root_none */");
    assert_site(r, "heap", "root_case", "definite", 1, 4003, CASES_SRC, "@api_root_gone */");
    LWT_ASSERT_TOTALS(r, "heap", 2, 8005, "the blocks of the regions that are no roots");
    lwt_free(r);
}
END_TEST

/* Dumps on request: leakwatch_dump writes one each call, with the program's reason; __lsan_do_leak_check only the
 * first time. The exit dump follows. */
START_TEST(test_dump)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture(fixtures[_i]), "dump"), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "runs%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "dump1", -1) == 0 && lwt_out_value(r, "dump2", -1) == 0, "both calls succeed%s",
                  lwt_describe(r));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/dumps", r->tmpdir);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int program = 0, exits = 0, mid = 0, lsan = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".json"))
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_t *j = json_load_file(path, 0, NULL);
        ck_assert_msg(j != NULL, "dump %s parses", path);
        const char *why = json_string_value(json_object_get(j, "reason"));
        ck_assert_ptr_nonnull(why);
        exits += strcmp(why, "exit") == 0;
        program += strncmp(why, "program", 7) == 0;
        mid += strcmp(why, "program: mid-run") == 0;
        lsan += strcmp(why, "program: __lsan_do_leak_check") == 0;
        json_decref(j);
    }
    closedir(d);
    ck_assert_int_eq(exits, 1);
    if (_i == 0) {
        ck_assert_msg(program == 2 && mid == 1, "two dumps on request, the first with its reason");
    } else {
        ck_assert_msg(program == 1 && lsan == 1, "__lsan_do_leak_check dumps once");
    }
    lwt_free(r);
}
END_TEST

/* Without the library every call does nothing: the programs run and print the same counts (0). */
START_TEST(test_without_library)
{
    LWT_REQUIRE_BUILT();
    const char *modes[] = { "all", "dump" };
    for (int m = 0; m < 2; m++) {
        lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_fixture(fixtures[_i]), modes[m]), NULL);
        ck_assert_msg(r->exited && r->exit_code == 0, "runs without leakwatch%s", lwt_describe(r));
        for (int k = 0; k < 5 && m == 0; k++) {
            char name[16];
            snprintf(name, sizeof name, "check%d", k);
            ck_assert_msg(lwt_out_value(r, name, -1) == 0, "%s is 0 without the library%s", name, lwt_describe(r));
        }
        ck_assert_msg(m == 0 || lwt_out_value(r, "dump1", -1) == 0, "dump is a no-op%s", lwt_describe(r));
        lwt_free(r);
    }
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_fixture("api_arena")), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0 && lwt_out_value(r, "leaks", -1) == 0, "the arena runs%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* An annotated arena: its lost objects are reported by the call site that took them, classified (a lost list is
 * one definite head and indirect nodes), whether the arena's memory came from malloc (objects at its start, or
 * after a header) or from mmap; objects a global holds are reachable, objects given back and the objects of a
 * destroyed arena are gone, and the arenas' own memory is not reported. leakwatch_check agrees with the exit. */
START_TEST(test_arena)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("api_arena")), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(lwt_out_value(r, "leaks", -1) == 8, "leakwatch_check counts the 8 lost objects%s", lwt_describe(r));
    int line = LWT_MARKER_LINE(ARENA_SRC, "@arena_lost */");
    json_t *site;
    long long malloc_arena = 0, mapped_arena = 0;
    for (int i = 0; (site = lwt_find_site(r->report, "heap", "lose_objects", "api_arena.c", line, i)) != NULL; i++) {
        ck_assert_str_eq(site_class(site), "definite");
        if (lwt_site_frame(site, "mapped_objects"))
            mapped_arena += lwt_site_bytes(site);
        else
            malloc_arena += lwt_site_bytes(site);
        ck_assert_int_eq(lwt_site_count(site), 2);
    }
    ck_assert_msg(malloc_arena == 200 && mapped_arena == 400, "2 objects of 100 and 2 of 200 bytes%s",
                  lwt_describe(r));
    assert_site(r, "heap", "lose_list", "definite", 1, 48, ARENA_SRC, "@arena_list */");
    assert_site(r, "heap", "lose_list", "indirect", 3, 144, ARENA_SRC, "@arena_list */");
    LWT_ASSERT_TOTALS(r, "heap", 8, 792, "the lost objects, not the arenas' memory");
    LWT_ASSERT_TOTALS(r, "reachable", 4, 344, "the kept chain and the kept mapped object");
    LWT_ASSERT_NO_SITE(r, "give_back");
    LWT_ASSERT_NO_SITE(r, "destroy_live");
    /* the arenas' memory is no heap leak; the mapped one, never unmapped, is the mmap kind's (not gated) */
    ck_assert_msg(lwt_find_site(r->report, "heap", "arena_init", NULL, 0, 0) == NULL, "no heap site in arena_init%s",
                  lwt_describe(r));
    LWT_ASSERT_SITE(r, "mmap", "arena_init", 1, 65536);
    lwt_free(r);
}
END_TEST

/* C++: a leakwatch::scoped_disable covers its scope and ends with it. */
/* A child forked while another thread registers root regions and announces pool objects makes the same calls at
 * once and exits: the locks of those tables are never inherited held (a child stuck on one is ended by its
 * alarm and counted). */
START_TEST(test_fork_during_api_calls)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("api_fork_churn")), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "children", -1) == 200 && lwt_out_value(r, "stuck", -1) == 0,
                  "every child made its calls and exited%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "root region") == NULL, "no root-region complaint%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_scoped_disable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("api_scoped")), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(lwt_out_value(r, "running", -1) == 1, "leakwatch_running says so%s", lwt_describe(r));
    assert_site(r, "heap", "after_scope()", "definite", 1, 5003, "tests/fixtures/api_scoped.cc", "@api_after_scope");
    LWT_ASSERT_TOTALS(r, "heap", 1, 5003, "only the block allocated after the scope");
    LWT_ASSERT_NO_SITE(r, "cache_in_scope()");
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_fixture("api_scoped")), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0 && lwt_out_value(r, "running", -1) == 0,
                  "runs without the library%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* `make install` installs the header and leakwatch.pc: a program built with `pkg-config --cflags leakwatch` and
 * nothing to link runs without the library and reaches it under LD_PRELOAD. */
START_TEST(test_install)
{
    LWT_REQUIRE_BUILT();
    char *dest = lwt_mkdtemp();
    char destdir[4200], script[16384];
    snprintf(destdir, sizeof destdir, "DESTDIR=%s", dest);
    lwt_opts_t o = { .env = LWT_ARGV("MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="), .cwd = lwt_root() };
    lwt_result_t *r = lwt_exec(LWT_ARGV("make", "-s", "--no-print-directory", "install", destdir, "PREFIX=/usr"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    char src[4300], lib[PATH_MAX];
    snprintf(src, sizeof src, "%s/p.c", dest);
    ck_assert_int_eq(lwt_write_file(src, "#include <leakwatch/leakwatch.h>\n#include <stdio.h>\n"
                                         "int main(void) { printf(\"running=%d\\n\", leakwatch_running()); }\n"),
                     0);
    ck_assert_ptr_nonnull(realpath(lwt_lib(), lib));
    snprintf(script, sizeof script,
             "set -e; cd '%s'; cc -Wall -Werror $(PKG_CONFIG_PATH=%s/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=%s "
             "pkg-config --cflags leakwatch) -o p p.c; ./p; LD_PRELOAD=%s LEAKWATCH_REPORT=none ./p",
             dest, dest, dest, lib);
    r = lwt_exec(LWT_ARGV("sh", "-c", script), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(strcmp(r->out, "running=0\nrunning=1\n") == 0, "plain, then under the library%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dest);
    free(dest);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("calls");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_ignore, 0, 2);
    tcase_add_loop_test(tc, test_disable, 0, 2);
    tcase_add_loop_test(tc, test_check, 0, 2);
    tcase_add_loop_test(tc, test_root, 0, 2);
    tcase_add_loop_test(tc, test_dump, 0, 2);
    tcase_add_loop_test(tc, test_without_library, 0, 2);
    tcase_add_test(tc, test_scoped_disable);
    suite_add_tcase(s, tc);

    tc = tcase_create("arena");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_arena);
    tcase_add_test(tc, test_fork_during_api_calls);
    tcase_add_test(tc, test_install);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
