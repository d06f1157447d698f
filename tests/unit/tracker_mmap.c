/* Unit tests of the tracker's mapping ranges without LD_PRELOAD: a munmap of a head, a tail or a hole splits a
 * range into records that keep its stack, MAP_FIXED replaces, mremap moves, grows and shrinks, calls from inside
 * the tracker and failed calls are nothing, and the dump carries size, protection, sharing and path. */
#include "testing.h"
#include "internal.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096u
/* Addresses nothing maps: the tracker only records them. */
#define BASE ((uintptr_t)0x200000000000ull)

/* Each makes its call with the stack of this function's caller, the way a wrapper does. */
__attribute__((noinline)) static void map_here(uintptr_t at, size_t len, int prot, int flags, int fd)
{
    lw_on_map_at((void *)at, len, prot, flags, fd, lw_maps_seq(), LW_HERE());
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void map_elsewhere(uintptr_t at, size_t len)
{
    lw_on_map_at((void *)at, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, lw_maps_seq(), LW_HERE());
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void remap_here(uintptr_t old, size_t old_len, uintptr_t to, size_t len, int flags)
{
    lw_on_remap_at((void *)old, old_len, (void *)to, len, flags, lw_maps_seq(), LW_HERE());
    __asm__ volatile("" ::: "memory");
}

static void anon(uintptr_t at, size_t len)
{
    map_here(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
}

static void unmap(uintptr_t at, size_t len)
{
    lw_on_unmap((void *)at, len, lw_maps_seq());
}

typedef struct {
    size_t n;
    uintptr_t handle[16];
    uint64_t size[16];
    uint32_t site[16];
} live_t;

static void collect(lw_kind_t kind, uintptr_t handle, uint64_t size, uint32_t site, void *arg)
{
    (void)kind;
    live_t *l = arg;
    if (l->n < 16) {
        l->handle[l->n] = handle;
        l->size[l->n] = size;
        l->site[l->n] = site;
    }
    l->n++;
}

/* The live mmap records sorted by handle. */
static live_t live(void)
{
    live_t l = { 0 };
    lw_foreach_live(LW_MMAP, collect, &l);
    for (size_t i = 1; i < l.n && i < 16; i++)
        for (size_t j = i; j > 0 && l.handle[j - 1] > l.handle[j]; j--) {
            uintptr_t h = l.handle[j];
            uint64_t s = l.size[j];
            uint32_t t = l.site[j];
            l.handle[j] = l.handle[j - 1], l.size[j] = l.size[j - 1], l.site[j] = l.site[j - 1];
            l.handle[j - 1] = h, l.size[j - 1] = s, l.site[j - 1] = t;
        }
    return l;
}

/* The records are exactly these ranges (pairs of page offsets from BASE, begin and end), and agree with the
 * range table. */
static void expect(const unsigned *pages, size_t n)
{
    live_t l = live();
    ck_assert_uint_eq(l.n, n);
    uintptr_t lo[16], hi[16];
    ck_assert_uint_eq(lw_mapping_ranges(lo, hi, 16), n);
    for (size_t i = 0; i < n; i++) {
        uintptr_t a = BASE + pages[2 * i] * PAGE, b = BASE + pages[2 * i + 1] * PAGE;
        ck_assert_msg(l.handle[i] == a && l.size[i] == b - a, "record %zu: %#lx+%lu, expected %#lx+%lu", i,
                      (unsigned long)l.handle[i], (unsigned long)l.size[i], (unsigned long)a,
                      (unsigned long)(b - a));
        ck_assert_uint_eq(lo[i], a);
        ck_assert_uint_eq(hi[i], b);
    }
    ck_assert_uint_eq(lw_live_count(LW_MMAP), n);
}

static void setup(void)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.dump_dir[0] = '\0';
}

START_TEST(whole_unmap_forgets)
{
    anon(BASE, 3 * PAGE);
    expect((unsigned[]){ 0, 3 }, 1);
    ck_assert_uint_eq(lw_live_bytes(LW_MMAP), 3 * PAGE);
    unmap(BASE, 3 * PAGE);
    expect(NULL, 0);
}
END_TEST

/* A length that is no multiple of the page covers the page it ends in. */
START_TEST(length_rounds_up_to_pages)
{
    anon(BASE, 5000);
    expect((unsigned[]){ 0, 2 }, 1);
    unmap(BASE, 1);
    expect((unsigned[]){ 1, 2 }, 1);
}
END_TEST

START_TEST(head_tail_and_hole_split)
{
    anon(BASE, 10 * PAGE);
    unmap(BASE, PAGE); /* head */
    expect((unsigned[]){ 1, 10 }, 1);
    unmap(BASE + 9 * PAGE, PAGE); /* tail */
    expect((unsigned[]){ 1, 9 }, 1);
    unmap(BASE + 4 * PAGE, 2 * PAGE); /* hole: two ranges */
    expect((unsigned[]){ 1, 4, 6, 9 }, 2);
    unmap(BASE + 7 * PAGE, PAGE); /* a hole in the second */
    expect((unsigned[]){ 1, 4, 6, 7, 8, 9 }, 3);
    live_t l = live();
    ck_assert_uint_ne(l.site[0], 0);
    ck_assert_uint_eq(l.site[1], l.site[0]); /* every piece keeps the stack of its mmap */
    ck_assert_uint_eq(l.site[2], l.site[0]);
    ck_assert_uint_eq(lw_live_bytes(LW_MMAP), 5 * PAGE);
    /* one munmap across two pieces and the gap between them */
    unmap(BASE + 2 * PAGE, 5 * PAGE);
    expect((unsigned[]){ 1, 2, 8, 9 }, 2);
    unmap(BASE, 100 * PAGE);
    expect(NULL, 0);
}
END_TEST

/* Two mappings side by side stay two records; an unmap across both trims each. */
START_TEST(neighbours_stay_apart)
{
    anon(BASE, 2 * PAGE);
    map_elsewhere(BASE + 2 * PAGE, 2 * PAGE);
    expect((unsigned[]){ 0, 2, 2, 4 }, 2);
    live_t l = live();
    ck_assert_uint_ne(l.site[0], l.site[1]);
    unmap(BASE + PAGE, 2 * PAGE);
    expect((unsigned[]){ 0, 1, 3, 4 }, 2);
}
END_TEST

/* MAP_FIXED over the middle of a mapping: the new mapping replaces that part. */
START_TEST(fixed_map_replaces)
{
    anon(BASE, 6 * PAGE);
    map_elsewhere(BASE + 2 * PAGE, 2 * PAGE);
    expect((unsigned[]){ 0, 2, 2, 4, 4, 6 }, 3);
    live_t l = live();
    ck_assert_uint_eq(l.site[0], l.site[2]);
    ck_assert_uint_ne(l.site[0], l.site[1]);
}
END_TEST

START_TEST(remap_moves_grows_and_shrinks)
{
    anon(BASE, PAGE);
    uint32_t site = live().site[0];
    remap_here(BASE, PAGE, BASE, 3 * PAGE, 0); /* grown in place */
    expect((unsigned[]){ 0, 3 }, 1);
    remap_here(BASE, 3 * PAGE, BASE + 16 * PAGE, 5 * PAGE, MREMAP_MAYMOVE); /* moved and grown */
    expect((unsigned[]){ 16, 21 }, 1);
    remap_here(BASE + 16 * PAGE, 5 * PAGE, BASE + 16 * PAGE, 2 * PAGE, 0); /* shrunk */
    expect((unsigned[]){ 16, 18 }, 1);
    ck_assert_uint_eq(live().site[0], site); /* the stack of the mmap, not of the mremap */
    remap_here(BASE + 16 * PAGE, 2 * PAGE, BASE + 32 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | 4 /* DONTUNMAP */);
    expect((unsigned[]){ 16, 18, 32, 34 }, 2);
    /* a failed mremap changes nothing; an unknown old range makes no record */
    remap_here(BASE + 16 * PAGE, 2 * PAGE, (uintptr_t)MAP_FAILED, 4 * PAGE, MREMAP_MAYMOVE);
    remap_here(BASE + 64 * PAGE, PAGE, BASE + 80 * PAGE, PAGE, MREMAP_MAYMOVE);
    expect((unsigned[]){ 16, 18, 32, 34 }, 2);
}
END_TEST

/* The tracker's own calls, failed calls, zero lengths and an untracked kind record nothing; a mapping made inside
 * the tracker over a recorded one still replaces it. */
START_TEST(not_the_programs)
{
    lw_test_set_busy(1);
    anon(BASE, PAGE);
    lw_test_set_busy(0);
    map_here((uintptr_t)MAP_FAILED, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1);
    anon(BASE + 8 * PAGE, 0);
    expect(NULL, 0);
    anon(BASE, 4 * PAGE);
    lw_test_set_busy(1);
    anon(BASE + PAGE, PAGE);
    lw_test_set_busy(0);
    expect((unsigned[]){ 0, 1, 2, 4 }, 2);
    unmap(BASE, 4 * PAGE);
    lw_config.kinds = 1u << LW_HEAP;
    anon(BASE, PAGE);
    ck_assert_uint_eq(lw_live_count(LW_MMAP), 0);
}
END_TEST

/* The state of a signal handler that interrupted the tracker while it held a lock (on), and its end (off). */
static void handler_in_lock(int on)
{
    if (on) {
        lw_test_set_busy(1);
        lw_test_hold_lock(1);
    } else {
        lw_test_hold_lock(0);
        lw_test_set_busy(0);
    }
}

/* From a signal handler that interrupted the tracker while it held a lock (maybe the ranges' own) an unmap, a
 * mapping over a recorded range and a remap change no record until the interrupted call is done. */
START_TEST(inside_a_lock_waits)
{
    anon(BASE, 4 * PAGE);
    anon(BASE + 8 * PAGE, 2 * PAGE);
    anon(BASE + 16 * PAGE, 2 * PAGE);
    handler_in_lock(1);
    unmap(BASE, 4 * PAGE);
    anon(BASE + 8 * PAGE, PAGE);
    remap_here(BASE + 16 * PAGE, 2 * PAGE, BASE + 32 * PAGE, 2 * PAGE, MREMAP_MAYMOVE);
    expect((unsigned[]){ 0, 4, 8, 10, 16, 18 }, 3);
    handler_in_lock(0);
    expect((unsigned[]){ 9, 10 }, 1);
}
END_TEST

static void *map_first_two_pages(void *arg)
{
    (void)arg;
    anon(BASE, 2 * PAGE);
    return NULL;
}

/* An unmap put off that way leaves alone what another thread mapped and recorded there meanwhile. */
START_TEST(unmap_put_off_spares_later_mappings)
{
    anon(BASE, 4 * PAGE);
    handler_in_lock(1);
    unmap(BASE, 4 * PAGE);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, map_first_two_pages, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    expect((unsigned[]){ 0, 2, 2, 4 }, 2);
    handler_in_lock(0);
    expect((unsigned[]){ 0, 2 }, 1);
}
END_TEST

static pthread_t waiter;
static atomic_int waiting, handled;

static void unmap_in_handler(int sig)
{
    (void)sig;
    unmap(BASE, 4 * PAGE);
    atomic_store(&handled, 1);
}

/* Holds the lock the main thread then waits for, interrupts that wait with a signal whose handler unmaps, and
 * looks at the ranges before it lets the lock go. */
static void *hold_while_main_waits(void *arg)
{
    int *removed_at_once = arg;
    lw_test_hold_lock(1);
    atomic_store(&waiting, 1);
    usleep(100000); /* the main thread is in lw_lock's wait by now */
    pthread_kill(waiter, SIGUSR1);
    while (!atomic_load(&handled))
        usleep(1000);
    *removed_at_once = live().n == 0;
    lw_test_hold_lock(0);
    return NULL;
}

/* A handler that interrupts a wait for a lock another thread holds (while the interrupted code holds none) changes
 * the ranges at once: waiting is not holding, and what the handler waits for lets go. A busy lock whose wait
 * counted as held put off every removal of the handlers that ran meanwhile, more of them than there are slots
 * when the lock is in demand. */
START_TEST(waiting_for_a_lock_is_not_holding_it)
{
    anon(BASE, 4 * PAGE);
    struct sigaction sa = { 0 }, old;
    sa.sa_handler = unmap_in_handler;
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
    waiter = pthread_self();
    atomic_store(&waiting, 0);
    atomic_store(&handled, 0);
    int removed_at_once = 0;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, hold_while_main_waits, &removed_at_once), 0);
    while (!atomic_load(&waiting))
        usleep(1000);
    lw_test_set_busy(1);
    lw_test_hold_lock(1);
    lw_test_hold_lock(0);
    lw_test_set_busy(0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    sigaction(SIGUSR1, &old, NULL);
    ck_assert_msg(removed_at_once, "the handler's unmap is carried out while the lock is waited for");
    expect(NULL, 0);
}
END_TEST

static atomic_int maps_held;

static void *hold_the_ranges(void *arg)
{
    (void)arg;
    lw_mappings_lock();
    atomic_store(&maps_held, 1);
    while (atomic_load(&maps_held) == 1)
        usleep(1000);
    lw_mappings_unlock();
    return NULL;
}

/* A dump (with the scan, whose copy of the process has none of its threads) while this thread still has an unmap
 * put off and another thread holds the ranges' lock: the dump ends, and counts the removal still to come as a lost
 * record, since the mapping's record is in it. The copy once carried the removals out itself, waiting for a lock
 * that no thread of the copy would ever let go. */
START_TEST(dump_with_removal_put_off)
{
    char dir[] = "/tmp/lw_tracker_mmap.XXXXXX", path[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/d.json", dir);
    lw_config.reach = LW_REACH_EVERY_DUMP;
    void *block = malloc(100);
    lw_on_alloc(block, 100); /* a heap block, so that the scan runs */
    anon(BASE, PAGE);
    handler_in_lock(1);
    unmap(BASE, PAGE);
    lw_test_hold_lock(0); /* still inside the tracker: the removal waits */
    atomic_store(&maps_held, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, hold_the_ranges, NULL), 0);
    while (!atomic_load(&maps_held))
        usleep(1000);
    int err = lw_dump_to(path, "signal");
    atomic_store(&maps_held, 2);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    lw_test_set_busy(0);
    ck_assert_int_eq(err, 0);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "dump parses: %s", jerr.text);
    json_t *lost = json_object_get(json_object_get(root, "lost"), "records");
    ck_assert_int_ge(json_integer_value(lost), 1);
    json_decref(root);
    expect(NULL, 0); /* carried out once the tracker's call is done */
    if (lw_on_free(block, free) != LW_FREE_KEPT)
        free(block);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* More removals put off within one call than there are slots: the one that finds none is counted lost, so that
 * the dump says it is incomplete, and the others are carried out. */
START_TEST(removals_past_the_slots_are_counted)
{
    for (unsigned i = 0; i < 17; i++)
        anon(BASE + 2 * i * PAGE, PAGE);
    unsigned long lost = lw_test_lost_records();
    handler_in_lock(1);
    for (unsigned i = 0; i < 17; i++)
        unmap(BASE + 2 * i * PAGE, PAGE);
    handler_in_lock(0);
    ck_assert_uint_eq(lw_test_lost_records(), lost + 1);
    expect((unsigned[]){ 32, 33 }, 1);
}
END_TEST

/* Removals put off within one call that touch each other take one slot: 40 neighbouring pages lose nothing. */
START_TEST(neighbouring_removals_join)
{
    anon(BASE, 40 * PAGE);
    anon(BASE + 41 * PAGE, PAGE);
    unsigned long lost = lw_test_lost_records();
    handler_in_lock(1);
    for (unsigned i = 0; i < 40; i++)
        unmap(BASE + (39 - i) * PAGE, PAGE);
    handler_in_lock(0);
    ck_assert_uint_eq(lw_test_lost_records(), lost);
    expect((unsigned[]){ 41, 42 }, 1);
}
END_TEST

/* errno is the caller's after every call. */
START_TEST(errno_kept)
{
    errno = 1234;
    anon(BASE, 2 * PAGE);
    unmap(BASE, PAGE);
    remap_here(BASE + PAGE, PAGE, BASE + 4 * PAGE, PAGE, MREMAP_MAYMOVE);
    ck_assert_int_eq(errno, 1234);
}
END_TEST

static json_t *mmap_samples(json_t *root)
{
    json_t *sites = json_object_get(root, "sites"), *s;
    size_t i;
    json_array_foreach(sites, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "kind")), "mmap") == 0)
            return json_object_get(s, "samples");
    }
    return NULL;
}

/* The dump: bytes of the site and the totals, each sample's size, protection, sharing, backing and path (read
 * from the descriptor when mmap was called, so the file may be gone by the dump). */
START_TEST(dump_carries_values)
{
    char dir[] = "/tmp/lw_tracker_mmap.XXXXXX", file[128], path[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/mapped", dir);
    snprintf(path, sizeof path, "%s/d.json", dir);
    int fd = open(file, O_RDWR | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    map_here(BASE, 2 * PAGE, PROT_READ, MAP_SHARED, fd);
    close(fd);
    unlink(file);
    ck_assert_int_eq(lw_dump_to(path, "signal"), 0);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    ck_assert_msg(root != NULL, "dump parses: %s", err.text);
    json_t *smp = json_array_get(mmap_samples(root), 0);
    ck_assert_ptr_nonnull(smp);
    ck_assert_int_eq(json_integer_value(json_object_get(smp, "size")), 2 * PAGE);
    ck_assert_str_eq(json_string_value(json_object_get(smp, "prot")), "r--");
    ck_assert_str_eq(json_string_value(json_object_get(smp, "sharing")), "shared");
    ck_assert_str_eq(json_string_value(json_object_get(smp, "backing")), "file");
    ck_assert_str_eq(json_string_value(json_object_get(smp, "target")), file);
    json_t *tot = json_object_get(json_object_get(root, "totals"), "mmap");
    ck_assert_int_eq(json_integer_value(json_object_get(tot, "count")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(tot, "bytes")), 2 * PAGE);
    json_decref(root);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    Suite *s = suite_create("tracker_mmap");
    TCase *tc = tcase_create("ranges");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, whole_unmap_forgets);
    tcase_add_test(tc, length_rounds_up_to_pages);
    tcase_add_test(tc, head_tail_and_hole_split);
    tcase_add_test(tc, neighbours_stay_apart);
    tcase_add_test(tc, fixed_map_replaces);
    tcase_add_test(tc, remap_moves_grows_and_shrinks);
    tcase_add_test(tc, not_the_programs);
    tcase_add_test(tc, inside_a_lock_waits);
    tcase_add_test(tc, unmap_put_off_spares_later_mappings);
    tcase_add_test(tc, waiting_for_a_lock_is_not_holding_it);
    tcase_add_test(tc, removals_past_the_slots_are_counted);
    tcase_add_test(tc, neighbouring_removals_join);
    tcase_add_test(tc, errno_kept);
    tcase_add_test(tc, dump_carries_values);
    tcase_add_test(tc, dump_with_removal_put_off);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
