/* Integration tests of what the reachability scan's graph tells about sites: indirect leaks grouped under the
 * definite site whose blocks reach them (a lost tree, a cycle nothing definite reaches, a block two definite
 * sites point to), and the root and chain of sites that hold a reachable site (a service's global cache, a frame's local). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define TREE_SRC "tests/fixtures/reach_tree.c"
#define SERVICE_SRC "tests/fixtures/service.c"
/* For runs that leak on purpose: the gate passes, so the exit status is the fixture's own. */
#define NO_GATE "--max-leaks", "1000000"

static lwt_result_t *run_tree(const char *mode, const char *extra)
{
    if (extra)
        return lwt_leakwatch(LWT_ARGV(NO_GATE, extra), LWT_ARGV(lwt_fixture("reach_tree"), mode), NULL);
    return lwt_leakwatch(LWT_ARGV(NO_GATE), LWT_ARGV(lwt_fixture("reach_tree"), mode), NULL);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The report site with that id. */
static json_t *site_by_id(json_t *report, long long id)
{
    json_t *sites = json_object_get(report, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s) if (lwt_int(s, "id") == id) return s;
    return NULL;
}

/* The first site with a frame in `func`, reachable ones included (lwt_find_site leaves those out). */
static json_t *any_site(json_t *report, const char *func)
{
    json_t *sites = json_object_get(report, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s) if (lwt_site_frame(s, func)) return s;
    return NULL;
}

/* How many lines of `text` start with `prefix`. */
static int lines_starting(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* Checks the grouping of a report: every indirect site that names a root is listed by it, and the blocks and
 * bytes of the groups add up to every lost heap block. */
static void assert_groups_add_up(const lwt_result_t *r)
{
    json_t *sites = json_object_get(r->report, "sites"), *s;
    size_t i;
    long long count = 0, bytes = 0;
    json_array_foreach(sites, i, s) {
        if (!json_object_get(s, "indirect_count"))
            continue;
        int cycle = json_is_true(json_object_get(s, "cycle"));
        count += (cycle ? lwt_int(s, "direct_count") : lwt_site_count(s)) + lwt_int(s, "indirect_count");
        bytes += (cycle ? lwt_int(s, "direct_bytes") : lwt_site_bytes(s)) + lwt_int(s, "indirect_bytes");
    }
    ck_assert_msg(count == lwt_total_count(r->report, "heap") && bytes == lwt_total_bytes(r->report, "heap"),
                  "the groups hold %lld blocks (%lld bytes), the totals say %lld (%lld)%s", count, bytes,
                  lwt_total_count(r->report, "heap"), lwt_total_bytes(r->report, "heap"), lwt_describe(r));
    json_array_foreach(sites, i, s) {
        if (!json_object_get(s, "root_site"))
            continue;
        json_t *root = site_by_id(r->report, lwt_int(s, "root_site"));
        ck_assert_msg(root != NULL, "site %zu names a root that is not in the report%s", i, lwt_describe(r));
        json_t *ids = json_object_get(root, "indirect_sites"), *id;
        size_t k;
        int listed = 0;
        json_array_foreach(ids, k, id) listed |= json_integer_value(id) == lwt_int(s, "id");
        ck_assert_msg(listed, "site %zu is not among its root's indirect_sites%s", i, lwt_describe(r));
        ck_assert_msg(lwt_site_index(r->report, root) < (int)i, "site %zu comes before its root%s", i,
                      lwt_describe(r));
    }
}

/* A lost binary tree of 14 nodes of 32 bytes (one call site per depth of the recursive insert): one record, the
 * root's, with the 13 other nodes as its indirect total; the three indirect sites only with --show-indirect. */
START_TEST(test_tree_is_one_record)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_tree("tree", NULL);
    LWT_ASSERT_RUN(r, 0);
    char want[256];
    snprintf(want, sizeof want, "\nheap: 448 bytes (32 direct, 416 indirect) in 1 block + 13 indirect, pid %lld\n",
             lwt_int(json_array_get(json_object_get(r->report, "processes"), 0), "pid"));
    ck_assert_msg(strstr(r->err, want) != NULL, "no line '%s'%s", want + 1, lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: 14 leaks at 1 site in 1 process: heap 14 blocks (448 bytes)\n"),
                  "the first line counts one site%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "\n    indirect blocks at 3 more sites (--show-indirect lists them)\n"),
                  "no pointer to --show-indirect%s", lwt_describe(r));
    ck_assert_msg(lines_starting(r->err, "heap") == 1, "one heap record only%s", lwt_describe(r));
    /* the root's record is the first site of the JSON, the indirect ones follow, listed by it */
    json_t *root = json_array_get(json_object_get(r->report, "sites"), 0);
    ck_assert_msg(strcmp(str(root, "class"), "definite") == 0 && lwt_site_count(root) == 1 &&
                      lwt_site_bytes(root) == 32 && lwt_int(root, "indirect_count") == 13 &&
                      lwt_int(root, "indirect_bytes") == 416 &&
                      json_array_size(json_object_get(root, "indirect_sites")) == 3,
                  "the root site%s", lwt_describe(r));
    ck_assert_msg(lwt_site_frame(root, "insert") != NULL, "the root comes from insert%s", lwt_describe(r));
    assert_groups_add_up(r);
    LWT_ASSERT_SORTED(r);
    /* the saved JSON report reads back with its grouping: the same record, the same pointer to the rest */
    char saved[512];
    snprintf(saved, sizeof saved, "%s/report.json", r->tmpdir);
    lwt_result_t *again = lwt_exec(LWT_ARGV(lwt_cli(), "report", saved), NULL);
    ck_assert_msg(again->exited && again->exit_code == 0 && strstr(again->out, want + 1) &&
                      strstr(again->out, "indirect blocks at 3 more sites (--show-indirect lists them)"),
                  "the saved report keeps the grouping%s", lwt_describe(again));
    lwt_free(again);
    lwt_free(r);

    r = run_tree("tree", "--show-indirect");
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lines_starting(r->err, "heap, indirect (only leaked blocks point to them): ") == 3,
                  "--show-indirect lists the three indirect sites%s", lwt_describe(r));
    const char *title = strstr(r->err, "\nheap: 448 bytes"), *first = strstr(r->err, "\nheap, indirect");
    ck_assert_msg(title && first && title < first, "the indirect sites follow their root%s", lwt_describe(r));
    ck_assert_msg(strstr(first, "224 bytes in 7 blocks") && strstr(first, "128 bytes in 4 blocks") &&
                      strstr(first, "64 bytes in 2 blocks"),
                  "largest first%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "--show-indirect lists them") == NULL, "no pointer once listed%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A ring of three lost blocks (64, 200 and 16 bytes) that nothing definite reaches: one group, named by its
 * largest site, which heads the other two. */
START_TEST(test_cycle_is_one_group)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_tree("cycle", NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(strstr(r->err, "\nheap, indirect cycle (no definite block reaches it): 280 bytes (200 direct, 80 "
                                 "indirect) in 1 block + 2 indirect, pid ") != NULL,
                  "one record for the cycle%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: 3 leaks at 1 site in 1 process"), "one site%s", lwt_describe(r));
    json_t *head = json_array_get(json_object_get(r->report, "sites"), 0);
    ck_assert_msg(lwt_site_frame(head, "ring_large") && json_is_true(json_object_get(head, "cycle")) &&
                      lwt_int(head, "direct_count") == 1 && lwt_int(head, "direct_bytes") == 200 &&
                      lwt_int(head, "indirect_count") == 2 && lwt_int(head, "indirect_bytes") == 80,
                  "the 200-byte site heads the cycle%s", lwt_describe(r));
    assert_groups_add_up(r);
    lwt_free(r);
}
END_TEST

/* Two definite blocks of two sites point to one block: it counts once, under the definite block that comes
 * first by address (the one allocated first, here), and the totals add up. */
START_TEST(test_shared_block_counts_once)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_tree("shared", NULL);
    LWT_ASSERT_RUN(r, 0);
    json_t *one = lwt_find_site(r->report, "heap", "owner_one", NULL, 0, 0);
    json_t *two = lwt_find_site(r->report, "heap", "owner_two", NULL, 0, 0);
    json_t *shared = lwt_find_site(r->report, "heap", "shared_block", NULL, 0, 0);
    ck_assert_msg(one && two && shared, "three sites%s", lwt_describe(r));
    const char *h1 = str(json_array_get(json_object_get(one, "samples"), 0), "handle");
    const char *h2 = str(json_array_get(json_object_get(two, "samples"), 0), "handle");
    json_t *first = strtoull(h1, NULL, 16) < strtoull(h2, NULL, 16) ? one : two;
    json_t *other = first == one ? two : one;
    ck_assert_msg(lwt_int(first, "indirect_count") == 1 && lwt_int(first, "indirect_bytes") == 100 &&
                      lwt_int(other, "indirect_count") == 0 && lwt_int(other, "indirect_bytes") == 0,
                  "the shared block belongs to the first definite block by address%s", lwt_describe(r));
    ck_assert_msg(lwt_int(shared, "root_site") == lwt_int(first, "id"), "its root_site%s", lwt_describe(r));
    assert_groups_add_up(r);
    LWT_ASSERT_SORTED(r);
    lwt_free(r);
}
END_TEST

/* The service's cache stays reachable at exit from the global cache_head: the report names it, with the line of
 * its declaration, in the text (--show-reachable) and in the JSON. */
START_TEST(test_cache_is_held_by_its_global)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .stdin_text = "r 10\nq\n" };
    lwt_result_t *r =
        lwt_leakwatch(LWT_ARGV(NO_GATE, "--show-reachable"), LWT_ARGV(lwt_fixture("service")), &o);
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(SERVICE_SRC, "static struct entry *cache_head;");
    char text[96], want[128];
    snprintf(text, sizeof text, "global cache_head (service.c:%d) -> cache_insert blocks", line);
    snprintf(want, sizeof want, "\nheld by %s\n", text);
    ck_assert_msg(strstr(r->err, want) != NULL, "no line '%s'%s", want + 1, lwt_describe(r));
    json_t *cache = any_site(r->report, "cache_insert");
    ck_assert_msg(cache && strcmp(str(cache, "class"), "reachable") == 0 && lwt_site_count(cache) == 10,
                  "the cache's site%s", lwt_describe(r));
    json_t *h = json_object_get(cache, "held_by");
    ck_assert_msg(h && strcmp(str(h, "root"), "global") == 0 && strcmp(str(h, "name"), "cache_head") == 0 &&
                      lwt_int(h, "line") == line && strstr(str(h, "file"), "/" SERVICE_SRC) &&
                      strstr(str(h, "module"), "/service") && strcmp(str(h, "text"), text) == 0,
                  "held_by%s", lwt_describe(r));
    json_t *path = json_object_get(h, "path");
    ck_assert_msg(json_array_size(path) == 1 && strcmp(str(json_array_get(path, 0), "function"), "cache_insert") == 0,
                  "the path is the cache's own site%s", lwt_describe(r));
    lwt_free(r);
    /* without --show-reachable the text does not list the cache */
    r = lwt_leakwatch(LWT_ARGV(NO_GATE), LWT_ARGV(lwt_fixture("service")), &o);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(strstr(r->err, "held by") == NULL, "%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A block only a local of hold_on_stack points to when that function calls exit: held by the stack, named with
 * the function of the frame and the line of its call. */
START_TEST(test_stack_root_names_its_frame)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_tree("stack", "--show-reachable");
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(TREE_SRC, "@stack_exit */");
    char want[128];
    snprintf(want, sizeof want, "\nheld by the stack of hold_on_stack (reach_tree.c:%d) -> hold_on_stack blocks\n",
             line);
    ck_assert_msg(strstr(r->err, want) != NULL, "no line '%s'%s", want + 1, lwt_describe(r));
    json_t *h = json_object_get(any_site(r->report, "hold_on_stack"), "held_by");
    ck_assert_msg(h && strcmp(str(h, "root"), "stack") == 0 && strcmp(str(h, "name"), "hold_on_stack") == 0 &&
                      lwt_int(h, "line") == line,
                  "held_by%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Blocks only the main thread's thread-local tls_cache points to at exit: held by thread-local storage, named
 * with the variable (its STT_TLS symbol and DWARF declaration), in text and JSON. */
START_TEST(test_tls_root_names_its_variable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_tree("tls", "--show-reachable");
    LWT_ASSERT_RUN(r, 0);
    int line = LWT_MARKER_LINE(TREE_SRC, "static __thread void *tls_cache[4];");
    char want[128];
    snprintf(want, sizeof want, "\nheld by thread-local tls_cache (reach_tree.c:%d) -> fill_tls blocks\n", line);
    ck_assert_msg(strstr(r->err, want) != NULL, "no line '%s'%s", want + 1, lwt_describe(r));
    json_t *sites = json_object_get(r->report, "sites"), *s, *found = NULL;
    size_t i;
    json_array_foreach(sites, i, s) if (lwt_site_frame(s, "hold_in_tls") && lwt_site_count(s) == 3) found = s;
    ck_assert_msg(found != NULL, "no site of the main thread's 3 blocks%s", lwt_describe(r));
    json_t *h = json_object_get(found, "held_by");
    ck_assert_msg(h && strcmp(str(h, "root"), "tls") == 0 && strcmp(str(h, "name"), "tls_cache") == 0 &&
                      lwt_int(h, "line") == line,
                  "held_by%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("retention");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tree_is_one_record);
    tcase_add_test(tc, test_cycle_is_one_group);
    tcase_add_test(tc, test_shared_block_counts_once);
    tcase_add_test(tc, test_cache_is_held_by_its_global);
    tcase_add_test(tc, test_tls_root_names_its_variable);
    tcase_add_test(tc, test_stack_root_names_its_frame);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
