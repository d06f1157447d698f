/* Unit tests of the reachability scan: held by a global, by the stack, by an interior pointer, lost, and lost
 * blocks that only other lost blocks point to. */
#include "internal.h"
#include "sort.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define N 8

/* volatile: the compiler would drop stores to globals that nothing reads */
static void *volatile held_by_global;
static char *volatile interior_global;
static _Thread_local void *volatile held_by_tls;

typedef struct {
    lw_entry_t e[N]; /* handle and size of each block, as the dump hands them to the scan */
    uint8_t cls[N];
    void *ptr[N];
    size_t n;
} blocks_t;

static void add(blocks_t *b, void *p, size_t len)
{
    b->ptr[b->n] = p;
    b->e[b->n].handle = (uintptr_t)p;
    b->e[b->n].meta = len;
    b->e[b->n].key = 0;
    b->n++;
}

static void sort_blocks(blocks_t *b)
{
    for (size_t i = 1; i < b->n; i++)
        for (size_t j = i; j > 0 && b->e[j - 1].handle > b->e[j].handle; j--) {
            lw_entry_t e = b->e[j];
            b->e[j] = b->e[j - 1];
            b->e[j - 1] = e;
            void *p = b->ptr[j];
            b->ptr[j] = b->ptr[j - 1];
            b->ptr[j - 1] = p;
        }
}

/* Hides a pointer from the scan: the test finds its blocks through these XOR-ed copies only. */
#define HIDE(p) ((uintptr_t)(p) ^ 0x5a5a5a5a5a5a5a5aull)
#define SHOW(x) ((void *)((x) ^ 0x5a5a5a5a5a5a5a5aull))

/* The blocks come from the tracker's allocator, which the scan leaves out of its roots, so that no allocator's
 * bookkeeping (a sanitizer's, here) can point at them. Every helper is noinline and returns hidden values only,
 * so no live frame keeps a plain copy of a pointer the test wants lost. */
static uintptr_t h_parent, h_child, h_interior, h_tls, h_stack, h_n1, h_n2, h_n3;

__attribute__((noinline)) static void *block(size_t n)
{
    return lw_mem_alloc(n);
}

__attribute__((noinline)) static void make_blocks(void)
{
    void **n1 = block(16), **n2 = block(16), **n3 = block(16);
    n1[0] = n2; /* a lost list of three: the head is definite, the nodes it points to indirect */
    n2[0] = n3;
    h_n1 = HIDE(n1);
    h_n2 = HIDE(n2);
    h_n3 = HIDE(n3);
    void **parent = block(16); /* a reachable block that points to another: both reachable */
    parent[0] = block(24);
    h_parent = HIDE(parent);
    h_child = HIDE(parent[0]);
    held_by_global = parent;
    char *obj = block(64);
    interior_global = obj + 40;
    h_interior = HIDE(obj);
    held_by_tls = block(48);
    h_tls = HIDE(held_by_tls);
    h_stack = HIDE(block(32));
}

__attribute__((noinline)) static void fill(blocks_t *b)
{
    memset(b, 0, sizeof(*b));
    add(b, SHOW(h_parent), 16);
    add(b, SHOW(h_child), 24);
    add(b, SHOW(h_interior), 64);
    add(b, SHOW(h_tls), 48);
    add(b, SHOW(h_stack), 32);
    add(b, SHOW(h_n1), 16);
    add(b, SHOW(h_n2), 16);
    add(b, SHOW(h_n3), 16);
    sort_blocks(b);
    for (size_t i = 0; i < N; i++)
        b->ptr[i] = (void *)HIDE(b->ptr[i]);
}

static int class_of(const blocks_t *b, uintptr_t hidden)
{
    for (size_t i = 0; i < b->n; i++)
        if ((uintptr_t)b->ptr[i] == hidden)
            return b->cls[i];
    return -1;
}

__attribute__((noinline)) static int classify_with_stack_ref(blocks_t *b)
{
    void *volatile on_stack = SHOW(h_stack);
    int r = lw_reach_classify(b->e, b->n, b->cls);
    on_stack = NULL;
    (void)on_stack;
    return r;
}

START_TEST(classes)
{
    /* the block list holds every address: it lives in the tracker's memory, which is no root */
    blocks_t *bp = lw_mem_alloc(sizeof(blocks_t));
    make_blocks();
    fill(bp);
#define b (*bp)

    ck_assert_int_eq(classify_with_stack_ref(&b), 0);
    ck_assert_int_eq(class_of(&b, h_parent), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(&b, h_child), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(&b, h_interior), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(&b, h_tls), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(&b, h_stack), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(&b, h_n1), LW_CLASS_DEFINITE);
    ck_assert_int_eq(class_of(&b, h_n2), LW_CLASS_INDIRECT);
    ck_assert_int_eq(class_of(&b, h_n3), LW_CLASS_INDIRECT);

    /* drop the global: the parent becomes definite and its child indirect */
    held_by_global = NULL;
    ck_assert_int_eq(classify_with_stack_ref(&b), 0);
    ck_assert_int_eq(class_of(&b, h_parent), LW_CLASS_DEFINITE);
    ck_assert_int_eq(class_of(&b, h_child), LW_CLASS_INDIRECT);
#undef b
    lw_mem_free(bp, sizeof(blocks_t));
}
END_TEST

/* A pointer into the last page of a block of five pages holds the block: the scan's page filter must know every
 * page a block covers, not only the one it starts in. The block lies 16 bytes into a mapping of its own, as
 * glibc's mmapped chunks do. */



static char *volatile far_interior;
static uintptr_t h_big, h_small;

__attribute__((noinline)) static void make_far_blocks(void)
{
    char *big = (char *)block(5 * 4096 + 64) + 16;
    far_interior = big + 4 * 4096 + 100;
    h_big = HIDE(big);
    h_small = HIDE(block(16));
}

__attribute__((noinline)) static void fill_far(blocks_t *b)
{
    memset(b, 0, sizeof(*b));
    add(b, SHOW(h_big), 5 * 4096);
    add(b, SHOW(h_small), 16);
    sort_blocks(b);
    for (size_t i = 0; i < b->n; i++)
        b->ptr[i] = (void *)HIDE(b->ptr[i]);
}

START_TEST(interior_pointer_pages_away)
{
    blocks_t *bp = lw_mem_alloc(sizeof(blocks_t));
    make_far_blocks();
    fill_far(bp);
    ck_assert_int_eq(lw_reach_classify(bp->e, bp->n, bp->cls), 0);
    ck_assert_int_eq(class_of(bp, h_big), LW_CLASS_REACHABLE);
    ck_assert_int_eq(class_of(bp, h_small), LW_CLASS_DEFINITE);
    far_interior = NULL;
    ck_assert_int_eq(lw_reach_classify(bp->e, bp->n, bp->cls), 0);
    ck_assert_int_eq(class_of(bp, h_big), LW_CLASS_DEFINITE);
    lw_mem_free(bp, sizeof(blocks_t));
}
END_TEST

START_TEST(empty_input)
{
    ck_assert_int_eq(lw_reach_classify(NULL, 0, NULL), 0);
}
END_TEST

/* The listing's sort (in place, by address with the heap first) gives qsort's order on lw_sort_value, on a heap
 * spread over a few regions with values that share digits, in random order and nearly in order. */
static int by_address(const void *a, const void *b)
{
    uint64_t x = lw_sort_value(a, LW_SORT_ADDRESS), y = lw_sort_value(b, LW_SORT_ADDRESS);
    return x < y ? -1 : x > y;
}

START_TEST(sort_orders_like_qsort)
{
    size_t sizes[] = { 0, 1, 2, 31, 33, 1000, 100000 };
    uint64_t seed = 88172645463325252ull;
    for (int nearly = 0; nearly < 2; nearly++) {
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            lw_entry_t *v = calloc(n + 1, sizeof *v), *want = calloc(n + 1, sizeof *want);
            ck_assert(v && want);
            for (size_t i = 0; i < n; i++) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                uint64_t kind = seed % 5 == 0 ? (uint64_t)LW_FD : (uint64_t)LW_HEAP;
                uint64_t region = (seed >> 8) % 3;
                v[i].handle = kind == LW_HEAP ? 0x7f0000000000ull + region * 0x4000000ull +
                                                    ((seed >> 16) % 200000) * 16
                                              : (seed >> 20) % 1024;
                v[i].key = kind << 61 | (seed & 0xffff);
            }
            if (nearly) {
                /* in order but for one pair in a hundred */
                qsort(v, n, sizeof *v, by_address);
                for (size_t i = 0; i + 1 < n; i += 100) {
                    lw_entry_t t = v[i];
                    v[i] = v[i + 1];
                    v[i + 1] = t;
                }
            }
            memcpy(want, v, n * sizeof *v);
            qsort(want, n, sizeof *want, by_address);
            lw_sort_entries(v, n, LW_SORT_ADDRESS);
            for (size_t i = 0; i < n; i++)
                ck_assert_uint_eq(lw_sort_value(&v[i], LW_SORT_ADDRESS), lw_sort_value(&want[i], LW_SORT_ADDRESS));
            free(v);
            free(want);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = tcase_create("classes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, classes);
    tcase_add_test(tc, interior_pointer_pages_away);
    tcase_add_test(tc, empty_input);
    tcase_add_test(tc, sort_orders_like_qsort);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
