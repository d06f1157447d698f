/* Integration tests for the mmap kind: the program's own mappings and shared-memory objects still present at exit,
 * with exact counts, bytes and paths per call site; a clean program reports none; the gate leaves the kind out
 * unless --kinds names it; a real program runs unchanged with the kind tracked. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include "lwtest.h"

#define NO_GATE LWT_ARGV("--max-leaks", "1000000")
#define PAGE 4096

/* The detail of sample `i` of the one mmap site in `func`. */
static const char *detail_of(const lwt_result_t *r, const char *func, int i)
{
    json_t *site = lwt_find_site(r->report, "mmap", func, NULL, 0, 0);
    json_t *s = site ? json_array_get(json_object_get(site, "samples"), (size_t)i) : NULL;
    const char *d = s ? json_string_value(json_object_get(s, "detail")) : NULL;
    return d ? d : "";
}

/* What the fixture left behind outlives it: the file, the shm object and the System V segment go. */
static void clean_up(const lwt_result_t *r)
{
    long long pid = lwt_out_value(r, "pid", -1), shmid = lwt_out_value(r, "shmid", -1);
    char path[96];
    if (pid > 0) {
        snprintf(path, sizeof path, "/tmp/lw_mmap_kinds.%lld", pid);
        unlink(path);
        snprintf(path, sizeof path, "/lw_mmap_kinds.%lld", pid);
        shm_unlink(path);
    }
    if (shmid >= 0)
        shmctl((int)shmid, IPC_RMID, NULL);
}

static lwt_result_t *run(const char *const *lw_args, const char *mode)
{
    return lwt_leakwatch(lw_args, LWT_ARGV(lwt_fixture("mmap_kinds"), mode), NULL);
}

#define ASSERT_DETAIL(r, func, i, want)                                                                          \
    ck_assert_msg(strcmp(detail_of((r), (func), (i)), (want)) == 0, "detail of %s sample %d: '%s', expected '%s'%s", \
                  (func), (i), detail_of((r), (func), (i)), (want), lwt_describe(r))

START_TEST(test_anon)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "anon");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "mmap", "leak_anon", 1, 3 * PAGE);
    LWT_ASSERT_TOTALS(r, "mmap", 1, 3 * PAGE, "one anonymous mapping of 3 pages");
    ASSERT_DETAIL(r, "leak_anon", 0, "rw- private anon");
    LWT_ASSERT_TOTALS(r, "heap", 0, 0, "the fixture leaks no heap");
    clean_up(r);
    lwt_free(r);
}
END_TEST

START_TEST(test_file)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "file");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "mmap", "leak_file", 1, 2 * PAGE);
    char want[128];
    snprintf(want, sizeof want, "r-- shared file /tmp/lw_mmap_kinds.%lld", lwt_out_value(r, "pid", -1));
    ASSERT_DETAIL(r, "leak_file", 0, want);
    LWT_ASSERT_TOTALS(r, "fd", 0, 0, "the descriptor was closed; the mapping is what stays");
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* 8 pages with the first, two in the middle and the last unmapped: two mappings of 2 pages, one site. */
START_TEST(test_partial)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "partial");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "mmap", "leak_partial", 2, 4 * PAGE);
    LWT_ASSERT_TOTALS(r, "mmap", 2, 4 * PAGE, "what partial unmaps left");
    json_t *site = lwt_find_site(r->report, "mmap", "leak_partial", NULL, 0, 0);
    json_t *smp = json_object_get(site, "samples");
    ck_assert_int_eq((int)json_array_size(smp), 2);
    ck_assert_int_eq(lwt_int(json_array_get(smp, 0), "size"), 2 * PAGE);
    ck_assert_int_eq(lwt_int(json_array_get(smp, 1), "size"), 2 * PAGE);
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* Grown from 1 page to 5, shrunk to 4: one mapping of 4 pages, at the mmap's call site. */
START_TEST(test_remap)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "remap");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "mmap", "leak_remap", 1, 4 * PAGE, "mmap_kinds.c",
                       LWT_MARKER_LINE("tests/fixtures/mmap_kinds.c", "/* remap-site */"));
    LWT_ASSERT_TOTALS(r, "mmap", 1, 4 * PAGE, "one mremap'd mapping");
    clean_up(r);
    lwt_free(r);
}
END_TEST

START_TEST(test_shm)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "shm");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE(r, "mmap", "leak_shm", 1, 0);
    char want[128];
    snprintf(want, sizeof want, "shm /dev/shm/lw_mmap_kinds.%lld", lwt_out_value(r, "pid", -1));
    ASSERT_DETAIL(r, "leak_shm", 0, want);
    LWT_ASSERT_TOTALS(r, "mmap", 1, 0, "the object alone: its mapping was unmapped");
    LWT_ASSERT_TOTALS(r, "fd", 0, 0, "its descriptor was closed");
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* The segment (6 pages, never IPC_RMID'd) and its attachment (never shmdt'd): two sites in leak_sysv. */
START_TEST(test_sysv)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NO_GATE, "sysv");
    LWT_ASSERT_RUN(r, 0);
    long long count = 0, bytes = 0;
    ck_assert_msg(lwt_match_sites(r->report, "mmap", "leak_sysv", &count, &bytes) == 2, "two sites%s",
                  lwt_describe(r));
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(bytes, 2 * 6 * PAGE);
    long long id = lwt_out_value(r, "shmid", -1);
    char seg[96], att[96];
    snprintf(seg, sizeof seg, "sysv-segment SYSV00000000 shmid %lld", id);
    snprintf(att, sizeof att, "rw- shared sysv SYSV00000000 shmid %lld", id);
    int found_seg = 0, found_att = 0;
    for (int i = 0; i < 2; i++) {
        json_t *site = lwt_find_site(r->report, "mmap", "leak_sysv", NULL, 0, i);
        const char *d = json_string_value(json_object_get(json_array_get(json_object_get(site, "samples"), 0),
                                                          "detail"));
        found_seg |= d && strcmp(d, seg) == 0;
        found_att |= d && strcmp(d, att) == 0;
    }
    ck_assert_msg(found_seg && found_att, "segment '%s' and attachment '%s'%s", seg, att, lwt_describe(r));
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* Every mode at once: the totals are the sum; the gate counts none of it by default (exit 0 with --max-leaks 0),
 * and fails once --kinds names mmap. */
START_TEST(test_all_and_gate)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(NULL, "all");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_TOTALS(r, "mmap", 8, (3 + 2 + 4 + 4 + 0 + 6 + 6) * PAGE, "every mode's leaks");
    clean_up(r);
    lwt_free(r);
    r = run(LWT_ARGV("--kinds", "heap,mmap"), "all");
    LWT_ASSERT_RUN(r, 23);
    clean_up(r);
    lwt_free(r);
    r = run(LWT_ARGV("--kinds", "all"), "anon");
    LWT_ASSERT_RUN(r, 23);
    clean_up(r);
    lwt_free(r);
    r = run(LWT_ARGV("--kinds", "heap,fd"), "anon");
    LWT_ASSERT_RUN(r, 0);
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* The same calls with everything unmapped, unlinked, detached and removed: nothing to report, even gated. */
START_TEST(test_clean)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run(LWT_ARGV("--kinds", "all"), "clean");
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_TOTALS(r, "mmap", 0, 0, "everything was released");
    LWT_ASSERT_TOTALS(r, NULL, 0, 0, "a clean program");
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* LEAKWATCH_KINDS without mmap: nothing recorded. */
START_TEST(test_untracked)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { 0 };
    o.env = LWT_ARGV("LEAKWATCH_KINDS=heap,fd");
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--kinds", "all"), LWT_ARGV(lwt_fixture("mmap_kinds"), "all"), &o);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_TOTALS(r, "mmap", 0, 0, "the kind is not tracked");
    clean_up(r);
    lwt_free(r);
}
END_TEST

/* python3 maps memory itself (its object arenas): with the kind tracked it runs as it does alone, same output and
 * exit status, and the gate passes. */
START_TEST(test_real_program)
{
    LWT_REQUIRE_BUILT();
    const char *py = lwt_which(LWT_ARGV("/usr/bin/python3", "/usr/local/bin/python3"));
    if (!py)
        return;
    const char *const *cmd =
        LWT_ARGV(py, "-c", "import json, mmap\n"
                           "m = mmap.mmap(-1, 1 << 20)\nm[:5] = b'hello'\n"
                           "d = [{'k%d' % i: i} for i in range(20000)]\n"
                           "print(len(json.dumps(d)), bytes(m[:5]).decode())\n");
    lwt_result_t *plain = lwt_exec(cmd, NULL);
    lwt_result_t *r = lwt_leakwatch(NULL, cmd, NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_same_outcome(plain, r), "same outcome plain and traced%s", lwt_describe(r));
    lwt_free(plain);
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mmap");
    TCase *tc = tcase_create("mmap");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_anon);
    tcase_add_test(tc, test_file);
    tcase_add_test(tc, test_partial);
    tcase_add_test(tc, test_remap);
    tcase_add_test(tc, test_shm);
    tcase_add_test(tc, test_sysv);
    tcase_add_test(tc, test_all_and_gate);
    tcase_add_test(tc, test_clean);
    tcase_add_test(tc, test_untracked);
    tcase_add_test(tc, test_real_program);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
