/* Unit tests of the grouping and retention members of dump sites: read with their site indexes turned into the
 * reader's (a site of an unknown kind in between), carried into the report's sites by id, and refused with a
 * message when malformed; a dump without them reads as before. */
#include "aggregate.h"
#include "dump.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#define HEAD                                                                                                  \
    "{\"leakwatch_dump\": 2, \"pid\": 7, \"modules\": [], \"reachability\": true, \"sites\": ["
#define TAIL "]}"

static const char grouped[] = HEAD
    "{\"kind\": \"heap\", \"class\": \"indirect\", \"count\": 7, \"bytes\": 224, \"frames\": [\"0x10\"],"
    " \"root_site\": 3},"
    "{\"kind\": \"gpu-buffer\", \"count\": 1, \"frames\": []},"
    "{\"kind\": \"heap\", \"class\": \"reachable\", \"count\": 2, \"bytes\": 20, \"frames\": [\"0x30\"],"
    " \"held_by\": {\"root\": \"global\", \"address\": \"0x5000\", \"path\": [2]}},"
    "{\"kind\": \"heap\", \"class\": \"definite\", \"count\": 1, \"bytes\": 32, \"frames\": [\"0x20\"],"
    " \"indirect_count\": 7, \"indirect_bytes\": 224, \"indirect_sites\": [0, 1]}" TAIL;

START_TEST(grouping_is_read_and_carried_into_the_report)
{
    char err[512] = "";
    lwr_dump_t *d = lwr_dump_parse(grouped, sizeof grouped - 1, "g.json", err, sizeof err);
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_uint_eq(d->nsites, 3);
    ck_assert_uint_eq(d->sites[0].root_site, 2); /* JSON index 3, after the skipped site */
    ck_assert(d->sites[2].attributed);
    ck_assert_uint_eq(d->sites[2].indirect_count, 7);
    ck_assert_uint_eq(d->sites[2].nindirect_sites, 1); /* the unknown site's index is dropped */
    ck_assert_uint_eq(d->sites[2].indirect_sites[0], 0);
    ck_assert_ptr_nonnull(d->sites[1].held_by);
    ck_assert_str_eq(d->sites[1].held_by->root, "global");
    ck_assert_uint_eq(d->sites[1].held_by->address, 0x5000);
    ck_assert_uint_eq(d->sites[1].held_by->npath, 1);
    ck_assert_uint_eq(d->sites[1].held_by->path[0], 1);
    ck_assert(!d->sites[0].attributed && d->sites[0].held_by == NULL);

    lwr_report_t *r = lwr_report_build(&d, 1, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->nsites, 3);
    /* the definite site heads 256 bytes: first; its indirect site next; the reachable one last */
    ck_assert(r->sites[0].cls == LWR_CLASS_DEFINITE && r->sites[0].id == 1);
    ck_assert_uint_eq(r->sites[0].nindirect, 1);
    ck_assert_uint_eq(r->sites[0].indirect_ids[0], 2);
    ck_assert(r->sites[1].cls == LWR_CLASS_INDIRECT && r->sites[1].root_id == 1);
    ck_assert_uint_eq(lwr_site_group_total(&r->sites[0]).bytes, 256);
    ck_assert_ptr_nonnull(r->sites[2].held);
    /* no symbols: the root is named by its address, the site by its module-less frame */
    ck_assert_str_eq(r->sites[2].held->text, "global at ?+0x5000 -> blocks of ?");
    ck_assert_ptr_eq(lwr_report_site_by_id(r, 2), &r->sites[1]);
    /* a removed (suppressed) indirect site leaves its root's total and list */
    lwr_report_remove_site(r, 1);
    ck_assert_uint_eq(r->sites[0].indirect_count, 0);
    ck_assert_uint_eq(r->sites[0].indirect_bytes, 0);
    ck_assert_uint_eq(r->sites[0].nindirect, 0);
    ck_assert_ptr_null(lwr_report_site_by_id(r, 2));
    ck_assert_ptr_eq(lwr_report_site_by_id(r, 3), &r->sites[1]);
    lwr_report_free(r);
    lwr_dump_free(d);
}
END_TEST

START_TEST(malformed_grouping_is_named)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"indirect_sites\": 3}" TAIL,
          "sites[0].indirect_sites: expected an array" },
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"indirect_sites\": [\"x\"]}" TAIL,
          "sites[0].indirect_sites[0]: expected a site index" },
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"indirect_sites\": [5]}" TAIL,
          "site index 5 lies past the sites" },
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"held_by\": []}" TAIL,
          "sites[0].held_by: expected an object" },
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"held_by\": {\"root\": \"global\"}}" TAIL,
          "sites[0].held_by.address: missing" },
        { HEAD "{\"kind\": \"heap\", \"count\": 1, \"frames\": [], \"root_site\": -1}" TAIL,
          "sites[0].root_site: negative value" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        lwr_dump_t *d = lwr_dump_parse(bad[i].text, strlen(bad[i].text), "b.json", err, sizeof err);
        ck_assert_msg(d == NULL && strstr(err, bad[i].want), "case %zu: '%s', wanted '%s'", i, err, bad[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_retain");
    TCase *tc = tcase_create("retain");
    tcase_add_test(tc, grouping_is_read_and_carried_into_the_report);
    tcase_add_test(tc, malformed_grouping_is_named);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
