/* Unit tests of what a program declares (tracker/api.c) without LD_PRELOAD: disabled regions and their nesting,
 * pool objects and their pools, root regions, and what the scan makes of ignored blocks and pools' blocks. */
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
}

typedef struct {
    lw_kind_t kind;
    uintptr_t handle;
    int found;
    unsigned flags;
    uint64_t size;
} probe_t;

static void find_one(const lw_live_t *rec, void *arg)
{
    probe_t *p = arg;
    if (rec->kind == p->kind && rec->handle == p->handle) {
        p->found = 1;
        p->flags = rec->flags;
        p->size = rec->size;
    }
}

/* The live record of handle, or found 0. */
static probe_t probe(lw_kind_t kind, uintptr_t handle)
{
    probe_t p = { kind, handle, 0, 0, 0 };
    lw_tables_walk(find_one, &p);
    return p;
}

/* Acquisitions in a region are recorded ignored, every kind, and released as any; regions nest; an enable
 * without a disable changes nothing. */
START_TEST(test_disabled_regions)
{
    lw_api_disable(1);
    lw_on_acquire(LW_FD, 100, 0);
    lw_api_disable(1);
    lw_on_acquire(LW_HEAP, 0x10000, 32);
    lw_api_disable(0);
    lw_on_acquire(LW_HEAP, 0x20000, 32); /* still inside the outer region */
    lw_api_disable(0);
    lw_on_acquire(LW_FD, 101, 0);
    lw_api_disable(0); /* unmatched: warned about, ignored */
    lw_on_acquire(LW_HEAP, 0x30000, 32);

    ck_assert(probe(LW_FD, 100).flags & LW_FLAG_IGNORED);
    ck_assert(probe(LW_HEAP, 0x10000).flags & LW_FLAG_IGNORED);
    ck_assert(probe(LW_HEAP, 0x20000).flags & LW_FLAG_IGNORED);
    ck_assert(probe(LW_FD, 101).found && !(probe(LW_FD, 101).flags & LW_FLAG_IGNORED));
    ck_assert(probe(LW_HEAP, 0x30000).found && !(probe(LW_HEAP, 0x30000).flags & LW_FLAG_IGNORED));
    ck_assert_int_eq(lw_on_release(LW_HEAP, 0x10000), 1); /* freed after the region: an ordinary release */
    ck_assert_int_eq(lw_on_release(LW_FD, 100), 1);

    lw_api_ignore((void *)0x30000);
    ck_assert(probe(LW_HEAP, 0x30000).flags & LW_FLAG_IGNORED);
}
END_TEST

/* Pool objects are heap records flagged as such, replacing a heap record at their address (the pool's own block);
 * leakwatch_free forgets an object of that pool only, leakwatch_pool_destroy every object of the pool. */
START_TEST(test_pools)
{
    int pool_a, pool_b;
    lw_on_acquire(LW_HEAP, 0x40000, 4096); /* the block pool A carves, its first object at its start */
    lw_api_pool_alloc(&pool_a, (void *)0x40000, 48, LW_HERE());
    lw_api_pool_alloc(&pool_a, (void *)0x40030, 48, LW_HERE());
    lw_api_pool_alloc(&pool_b, (void *)0x50000, 16, LW_HERE());
    probe_t first = probe(LW_HEAP, 0x40000);
    ck_assert(first.found && (first.flags & LW_FLAG_POOLED));
    ck_assert_uint_eq(first.size, 48);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 3);

    lw_api_pool_free(&pool_b, (void *)0x40030); /* not pool B's: stays */
    ck_assert(probe(LW_HEAP, 0x40030).found);
    lw_api_pool_free(&pool_a, (void *)0x40030);
    ck_assert(!probe(LW_HEAP, 0x40030).found);

    lw_api_pool_alloc(&pool_a, (void *)0x40060, 48, LW_HERE());
    lw_api_pool_destroy(&pool_a);
    ck_assert(!probe(LW_HEAP, 0x40000).found && !probe(LW_HEAP, 0x40060).found);
    ck_assert(probe(LW_HEAP, 0x50000).found);
    lw_api_pool_destroy(&pool_a); /* twice: nothing left to do */
    lw_api_pool_destroy(&pool_b);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

/* Root regions: added, listed, removed by exact match only. */
START_TEST(test_root_regions)
{
    static char a[64], b[64];
    uintptr_t lo, hi;
    ck_assert_int_eq(lw_api_root(a, sizeof a, 1), 0);
    ck_assert_int_eq(lw_api_root(b, sizeof b, 1), 0);
    ck_assert_int_eq(lw_api_root(a, 32, 0), ENOENT);
    ck_assert_int_eq(lw_api_root(a, sizeof a, 0), 0);
    ck_assert(lw_api_root_region(0, &lo, &hi));
    ck_assert(lo == (uintptr_t)b && hi == (uintptr_t)b + sizeof b);
    ck_assert(!lw_api_root_region(1, &lo, &hi));
    ck_assert_int_eq(lw_api_root(b, sizeof b, 0), 0);
    ck_assert(!lw_api_root_region(0, &lo, &hi));
}
END_TEST

static lw_entry_t entry(uintptr_t handle, uint64_t size, unsigned flags)
{
    lw_entry_t e = { handle, size | ((uint64_t)flags << 48), 0 };
    return e;
}

/* The scan's view: a block holding pool objects becomes a pool's block (ignored, never scanned), an ignored block
 * is pushed as a root, and the pool objects make one span that is no root. */
START_TEST(test_scan_view)
{
    lw_entry_t v[] = {
        entry(0x1000, 0x1000, 0),              /* a pool's block */
        entry(0x1010, 16, LW_FLAG_POOLED),     /* its objects */
        entry(0x1020, 16, LW_FLAG_POOLED),
        entry(0x3000, 8, LW_FLAG_IGNORED),     /* ignored */
        entry(0x4000, 8, 0),                   /* ordinary */
        entry(0x5000, 8, LW_FLAG_POOLED),      /* an object of a mapped pool */
    };
    size_t n = sizeof v / sizeof v[0];
    lw_api_mark_pool_blocks(v, n);
    ck_assert(LW_ENTRY_FLAGS(&v[0]) & LW_FLAG_POOL_BLOCK);
    ck_assert(LW_ENTRY_FLAGS(&v[0]) & LW_FLAG_IGNORED);
    ck_assert_uint_eq(LW_ENTRY_SIZE(&v[0]), 0x1000);
    for (size_t i = 1; i < n; i++)
        ck_assert(!(LW_ENTRY_FLAGS(&v[i]) & LW_FLAG_POOL_BLOCK));

    uint8_t cls[6];
    uint32_t stack[6];
    memset(cls, LW_CLASS_DEFINITE, sizeof cls);
    size_t top = lw_api_seed(v, n, cls, stack);
    ck_assert_uint_eq(top, 1);
    ck_assert_uint_eq(stack[0], 3);
    ck_assert_int_eq(cls[0], LW_CLASS_REACHABLE);
    ck_assert_int_eq(cls[3], LW_CLASS_REACHABLE);
    ck_assert_int_eq(cls[1], LW_CLASS_DEFINITE);
    ck_assert_int_eq(cls[4], LW_CLASS_DEFINITE);

    size_t i = 0;
    uintptr_t lo, hi;
    ck_assert(lw_api_pool_span(v, n, &i, &lo, &hi));
    ck_assert(lo == 0x1010 && hi == 0x1030);
    ck_assert(lw_api_pool_span(v, n, &i, &lo, &hi));
    ck_assert(lo == 0x5000 && hi == 0x5008);
    ck_assert(!lw_api_pool_span(v, n, &i, &lo, &hi));
}
END_TEST

/* Hides a pointer from the scan. */
#define HIDE(p) ((uintptr_t)(p) ^ 0x5a5a5a5a5a5a5a5aull)
static uintptr_t h_ignored, h_target, h_lost;

typedef struct {
    lw_entry_t e[3];
    uint8_t cls[3];
    uintptr_t hidden[3];
} scan_case_t;

/* From the tracker's allocator, which the scan leaves out of its roots, and so is the list of blocks; every
 * helper is noinline and leaves no plain copy of an address in a live frame. */
__attribute__((noinline)) static void make_blocks(scan_case_t *c)
{
    void **ignored = lw_mem_alloc(32);
    ignored[0] = lw_mem_alloc(24);
    h_ignored = HIDE(ignored);
    h_target = HIDE(ignored[0]);
    h_lost = HIDE(lw_mem_alloc(40));
    uintptr_t h[3] = { h_ignored, h_target, h_lost };
    uint64_t size[3] = { 32, 24, 40 };
    for (int i = 0; i < 3; i++) {
        c->e[i] = entry(HIDE(h[i]), size[i], i == 0 ? LW_FLAG_IGNORED : 0);
        c->hidden[i] = h[i];
    }
    for (int i = 1; i < 3; i++)
        for (int j = i; j > 0 && c->e[j - 1].handle > c->e[j].handle; j--) {
            lw_entry_t t = c->e[j];
            c->e[j] = c->e[j - 1];
            c->e[j - 1] = t;
            uintptr_t x = c->hidden[j];
            c->hidden[j] = c->hidden[j - 1];
            c->hidden[j - 1] = x;
        }
}

__attribute__((noinline)) static int classify(scan_case_t *c)
{
    lw_guard_t g = lw_enter();
    int err = lw_reach_classify(c->e, 3, c->cls);
    lw_leave(g);
    return err;
}

/* The whole scan: an ignored block nothing points to is reachable and keeps its target reachable; a lost block
 * next to it is definite. */
START_TEST(test_ignored_is_a_root)
{
    scan_case_t *c = lw_mem_alloc(sizeof(*c));
    make_blocks(c);
    ck_assert_int_eq(classify(c), 0);
    for (int i = 0; i < 3; i++) {
        int want = c->hidden[i] == h_lost ? LW_CLASS_DEFINITE : LW_CLASS_REACHABLE;
        ck_assert_msg(c->cls[i] == want, "block %d: class %d, want %d", i, c->cls[i], want);
    }
    lw_mem_free(c, sizeof(*c));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tracker_api");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_disabled_regions);
    tcase_add_test(tc, test_pools);
    tcase_add_test(tc, test_root_regions);
    tcase_add_test(tc, test_scan_view);
    tcase_add_test(tc, test_ignored_is_a_root);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    Suite *s = suite();
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
