/* Unit tests of the heap's live table driven through the tracker's header: the nursery of young records, the spans
 * behind it and the table of handles too dense for a span seen as one table (counts, walks, flags, dumps, the
 * reachability scan, threads, fork, frees from signal handlers), and sampling (LEAKWATCH_SAMPLE: the value's
 * parsing, the weights, the estimates a dump shows, and the frees of blocks that were never sampled). */
#include "internal.h"
#include "testing.h"

#include <check.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Acquires `handle` with the stack of this function's caller (the wrappers' convention). */
__attribute__((noinline)) static void acquire_here(lw_kind_t kind, uintptr_t handle, size_t size)
{
    lw_on_acquire(kind, handle, size);
    __asm__ volatile("" ::: "memory"); /* keep the call from becoming a tail call */
}

static void setup(void)
{
    lw_reset_for_tests();
    lw_mem_fail_after(-1);
    lw_nursery_off(0);
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.reach = 1;
}

/* More blocks in one 64 MiB region (one shard) than its nursery holds (8192), so that the oldest move on into
 * their spans while the young stay; and more than a window of records moving on (4096), so that the shard also
 * empties its nursery into the spans and bypasses it for a while (a program whose blocks survive). */
#define BASE ((uintptr_t)0x7d0000000000ull)
#define MANY 30000

static uintptr_t handle_at(int i)
{
    return BASE + (uintptr_t)i * 16;
}

typedef struct {
    unsigned char seen[MANY];
    size_t others, bytes;
} census_t;

static void count_each(lw_kind_t k, uintptr_t h, uint64_t size, uint32_t site, void *arg)
{
    (void)site;
    census_t *c = arg;
    if (k == LW_HEAP && h >= BASE && h < handle_at(MANY) && (h - BASE) % 16 == 0)
        c->seen[(h - BASE) / 16]++;
    else
        c->others++;
    c->bytes += size;
}

START_TEST(nursery_and_table_are_one_table)
{
    for (int i = 0; i < MANY; i++)
        acquire_here(LW_HEAP, handle_at(i), (size_t)(i % 7) + 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), MANY);
    census_t *c = calloc(1, sizeof *c);
    lw_foreach_live(LW_HEAP, count_each, c);
    size_t bytes = 0;
    for (int i = 0; i < MANY; i++) {
        ck_assert_msg(c->seen[i] == 1, "block %d seen %d times", i, c->seen[i]);
        bytes += (size_t)(i % 7) + 1;
    }
    ck_assert_uint_eq(c->others, 0);
    ck_assert_uint_eq(c->bytes, bytes);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), bytes);

    /* flags reach the oldest (promoted) and the youngest (still in the nursery) alike */
    ck_assert_int_eq(lw_set_flags(LW_HEAP, handle_at(0), 2, 1), 1);
    ck_assert_int_eq(lw_set_flags(LW_HEAP, handle_at(MANY - 1), 2, 1), 1);
    ck_assert_int_eq(lw_set_flags(LW_HEAP, handle_at(MANY), 2, 1), 0);

    /* every block is released once, from wherever it lies, and only once */
    for (int i = MANY - 1; i >= 0; i -= 2)
        ck_assert_int_eq(lw_on_release(LW_HEAP, handle_at(i)), 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), MANY / 2);
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(lw_on_release(LW_HEAP, handle_at(i)), i % 2 == 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    ck_assert_uint_eq(lw_tables_total_all(), 0);
    ck_assert_uint_eq(atomic_load(&lw_lost_records), 0);
    free(c);
}
END_TEST

/* Handles 4 bytes apart: a 4 KiB span holds the records of its first 256 and the shard's heap table the rest.
 * Both are one table to every caller, and releasing most of a span shrinks its store without losing a record. */
#define DENSE_BASE ((uintptr_t)0x7d4000000000ull)
#define DENSE 2048 /* two spans of 1024 handles each */

typedef struct {
    unsigned char seen[DENSE];
    size_t others, bytes;
} dense_census_t;

static void count_dense(lw_kind_t k, uintptr_t h, uint64_t size, uint32_t site, void *arg)
{
    (void)site;
    dense_census_t *c = arg;
    if (k == LW_HEAP && h >= DENSE_BASE && h < DENSE_BASE + DENSE * 4 && h % 4 == 0)
        c->seen[(h - DENSE_BASE) / 4]++;
    else
        c->others++;
    c->bytes += size;
}

START_TEST(spans_and_dense_handles_are_one_table)
{
    lw_nursery_off(1); /* straight into the spans */
    for (int i = 0; i < DENSE; i++)
        acquire_here(LW_HEAP, DENSE_BASE + (uintptr_t)i * 4, (size_t)i + 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), DENSE);
    ck_assert_uint_eq(lw_tables_total_all(), DENSE);
    dense_census_t *c = calloc(1, sizeof *c);
    lw_foreach_live(LW_HEAP, count_dense, c);
    for (int i = 0; i < DENSE; i++)
        ck_assert_msg(c->seen[i] == 1, "handle %d seen %d times", i, c->seen[i]);
    ck_assert_uint_eq(c->others, 0);
    ck_assert_uint_eq(c->bytes, (size_t)DENSE * (DENSE + 1) / 2);

    /* flags reach a record in a span (the first of a span) and one in the heap table (the last) */
    ck_assert_int_eq(lw_set_flags(LW_HEAP, DENSE_BASE, 2, 1), 1);
    ck_assert_int_eq(lw_set_flags(LW_HEAP, DENSE_BASE + (DENSE - 1) * 4, 2, 1), 1);
    ck_assert_int_eq(lw_set_flags(LW_HEAP, DENSE_BASE + 2, 2, 1), 0);

    /* nine in ten go, oldest first, so that each span's store halves again and again */
    size_t left = DENSE, bytes = (size_t)DENSE * (DENSE + 1) / 2;
    for (int i = 0; i < DENSE; i++) {
        if (i % 10 == 9)
            continue;
        ck_assert_int_eq(lw_on_release(LW_HEAP, DENSE_BASE + (uintptr_t)i * 4), 1);
        left--;
        bytes -= (size_t)i + 1;
    }
    ck_assert_uint_eq(lw_live_count(LW_HEAP), left);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), bytes);
    memset(c, 0, sizeof *c);
    lw_foreach_live(LW_HEAP, count_dense, c);
    for (int i = 0; i < DENSE; i++)
        ck_assert_msg(c->seen[i] == (i % 10 == 9), "handle %d seen %d times", i, c->seen[i]);

    /* the rest go once each, and nothing is left behind */
    for (int i = 0; i < DENSE; i++)
        ck_assert_int_eq(lw_on_release(LW_HEAP, DENSE_BASE + (uintptr_t)i * 4), i % 10 == 9);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    ck_assert_uint_eq(lw_tables_total_all(), 0);
    ck_assert_uint_eq(atomic_load(&lw_lost_records), 0);
    free(c);
}
END_TEST

/* The scanning copy's listing (lw_dump_list): every heap record in address order, from the nursery, from spans
 * whose offsets a release has put out of order, and from the table of handles too dense for a span, in two
 * shards; then the other kinds, by handle. */
START_TEST(listing_is_in_address_order)
{
    /* blocks acquired in a scattered order, every third released, so that spans hold their offsets out of order */
    size_t want = 0;
    for (int i = 0; i < MANY; i++) {
        int j = (int)(((uint64_t)i * 7919u) % MANY);
        acquire_here(LW_HEAP, handle_at(j), 8);
        want++;
    }
    for (int i = 0; i < MANY; i += 3) {
        ck_assert_int_eq(lw_on_release(LW_HEAP, handle_at(i)), 1);
        want--;
    }
    /* the young ones of another shard stay in its nursery */
    for (int i = 0; i < 500; i++)
        acquire_here(LW_HEAP, (uintptr_t)0x7e0000000000ull + (uintptr_t)((i * 7907) % 100000) * 16, 8);
    want = lw_live_count(LW_HEAP);
    lw_nursery_off(1);
    for (int i = 0; i < DENSE; i++)
        acquire_here(LW_HEAP, DENSE_BASE + (uintptr_t)(DENSE - 1 - i) * 4, 4);
    want += DENSE;
    ck_assert_uint_eq(lw_live_count(LW_HEAP), want);
    for (int fd = 40; fd > 30; fd--)
        acquire_here(LW_FD, (uintptr_t)fd, 0);

    size_t cap = lw_tables_total_all() + 16;
    lw_listing_t l = { .v = calloc(cap, sizeof(lw_entry_t)), .cap = cap };
    ck_assert_ptr_nonnull(l.v);
    lw_dump_list(&l, NULL);
    ck_assert_uint_eq(l.dropped, 0);
    ck_assert_uint_eq(l.nheap, want);
    ck_assert_uint_eq(l.n, want + 10);
    for (size_t i = 1; i < l.nheap; i++)
        ck_assert_msg(l.v[i - 1].handle < l.v[i].handle, "heap entries %zu and %zu out of order: %#lx, %#lx", i - 1,
                      i, (unsigned long)l.v[i - 1].handle, (unsigned long)l.v[i].handle);
    size_t mine = 0;
    for (size_t i = 0; i < l.nheap; i++)
        if (l.v[i].handle >= BASE && l.v[i].handle < handle_at(MANY)) {
            ck_assert_uint_ne((l.v[i].handle - BASE) / 16 % 3, 0); /* released */
            mine++;
        }
    ck_assert_uint_eq(mine, MANY - (MANY + 2) / 3);
    for (size_t i = l.nheap; i < l.n; i++)
        ck_assert_uint_eq(l.v[i].handle, 31 + (i - l.nheap));
    free(l.v);
}
END_TEST

START_TEST(failed_realloc_restores_a_nursery_record)
{
    acquire_here(LW_HEAP, handle_at(1), 40);
    lw_release_t t;
    lw_release_begin(&t, LW_HEAP, handle_at(1));
    ck_assert_int_eq(t.had, 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    lw_release_end(&t, 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), 40);
}
END_TEST

/* ---- dumps and the scan ---------------------------------------------------------------------------------- */

static json_t *dump_now(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/lwheap.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[PATH_MAX];
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof path), 0);
    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    ck_assert_msg(d != NULL, "%s: %s", path, jerr.text);
    return d;
}

static void remove_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static long long total(json_t *d, const char *what, const char *field)
{
    return json_integer_value(json_object_get(json_object_get(json_object_get(d, "totals"), what), field));
}

START_TEST(dump_shows_nursery_and_table)
{
    for (int i = 0; i < MANY; i++)
        acquire_here(LW_HEAP, handle_at(i), 8);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_int_eq(total(d, "heap", "count"), MANY);
    ck_assert_int_eq(total(d, "heap", "bytes"), MANY * 8);
    json_decref(d);
    remove_tree(dir);
}
END_TEST

/* Blocks of the tracker's own allocator (no root of the scan), two held by globals and two lost, one of each pair
 * recorded in uthash (nursery off) and one in the nursery. The helpers are noinline and keep pointers only
 * hidden, so that no frame holds a plain copy of a block meant to be lost. */
#define HIDE(p) ((uintptr_t)(p) ^ 0x5a5a5a5a5a5a5a5aull)
static void *volatile held_a, *volatile held_b;
static uintptr_t lost_a, lost_b;

__attribute__((noinline)) static void make_blocks(void)
{
    /* each lost block before a held one, so that no register is left holding a lost block's address; and none
     * at the start of a chunk of the allocator, whose address its own bookkeeping (static data of this test
     * program, a root here) holds */
    static void *spacer;
    if (!spacer)
        spacer = lw_mem_alloc(48);
    lw_nursery_off(1);
    void *p = lw_mem_alloc(48);
    acquire_here(LW_HEAP, (uintptr_t)p, 48);
    lost_a = HIDE(p);
    p = lw_mem_alloc(48);
    acquire_here(LW_HEAP, (uintptr_t)p, 48);
    held_a = p;
    lw_nursery_off(0);
    p = lw_mem_alloc(48);
    acquire_here(LW_HEAP, (uintptr_t)p, 48);
    lost_b = HIDE(p);
    p = lw_mem_alloc(48);
    acquire_here(LW_HEAP, (uintptr_t)p, 48);
    held_b = p;
}

/* Overwrites the stack below the caller's frame, where the calls that recorded the blocks (the unwinder saves
 * every register there) left copies of their addresses. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char junk[256 * 1024];
    memset((char *)junk, 0, sizeof junk);
}

START_TEST(scan_sees_nursery_records)
{
    lw_config.reach = 2; /* classify in this dump too, not only at exit */
    make_blocks();
    scrub_stack();
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    ck_assert_msg(json_is_true(json_object_get(d, "reachability")), "the dump was not classified");
    ck_assert_int_eq(total(d, "reachable", "count"), 2);
    ck_assert_int_eq(total(d, "heap", "count"), 2);
    ck_assert_int_eq(total(d, "heap", "bytes"), 96);
    json_decref(d);
    remove_tree(dir);
    held_a = held_b = NULL;
    lw_mem_free((void *)(lost_a ^ 0x5a5a5a5a5a5a5a5aull), 48);
    lw_mem_free((void *)(lost_b ^ 0x5a5a5a5a5a5a5a5aull), 48);
}
END_TEST

/* ---- threads and fork -------------------------------------------------------------------------------------- */

#define THREADS 4
#define PER_THREAD 20000
#define KEEP 300

/* Every thread works in the same region (one shard, one nursery) and releases blocks another thread acquired:
 * thread t acquires handles t, t + THREADS, ... and releases the one its neighbour acquired KEEP rounds before. */
static pthread_barrier_t round_barrier;

static void *churn(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        acquire_here(LW_HEAP, handle_at(i * THREADS + (int)t), 16);
        if (i % 1000 == 999)
            pthread_barrier_wait(&round_barrier); /* the neighbour's block of KEEP rounds ago is acquired */
        if (i >= KEEP + 1000) {
            int j = i - KEEP - 1000;
            ck_assert_int_eq(lw_on_release(LW_HEAP, handle_at(j * THREADS + (int)((t + 1) % THREADS))), 1);
        }
    }
    return NULL;
}

START_TEST(threads_release_each_others_blocks)
{
    pthread_t th[THREADS];
    ck_assert_int_eq(pthread_barrier_init(&round_barrier, NULL, THREADS), 0);
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, churn, (void *)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&round_barrier);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), THREADS * (KEEP + 1000));
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), THREADS * (KEEP + 1000) * 16);
    ck_assert_uint_eq(atomic_load(&lw_lost_records), 0);
}
END_TEST

static void *freed_late;
static int late_frees;

static void count_free(void *p)
{
    freed_late = p;
    late_frees++;
    free(p);
}

/* A free from a signal handler that interrupted the tracker while it held the block's shard: the block is kept,
 * its record and its memory, and both go when the interrupted call leaves the tracker. */
START_TEST(free_in_handler_waits_for_the_interrupted_call)
{
    void *p = malloc(32);
    ck_assert_ptr_nonnull(p);
    acquire_here(LW_HEAP, (uintptr_t)p, 32);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    freed_late = NULL;
    late_frees = 0;

    lw_guard_t g = lw_enter(); /* the interrupted call */
    lw_tables_lock_all();
    ck_assert_int_eq(lw_on_free(p, count_free), LW_FREE_KEPT); /* the handler's free */
    ck_assert_int_eq(late_frees, 0);
    lw_tables_unlock_all();
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    lw_leave(g);

    ck_assert_int_eq(late_frees, 1);
    ck_assert_ptr_eq(freed_late, p);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    /* a free with nothing locked is the caller's to carry out */
    void *q = malloc(16);
    acquire_here(LW_HEAP, (uintptr_t)q, 16);
    g = lw_enter();
    ck_assert_int_eq(lw_on_free(q, count_free), 1);
    lw_leave(g);
    ck_assert_int_eq(late_frees, 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    free(q);
}
END_TEST

START_TEST(fork_child_sees_the_nursery_as_inherited)
{
    for (int i = 0; i < MANY; i++)
        acquire_here(LW_HEAP, handle_at(i), 8);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        size_t out[4];
        out[0] = lw_live_count(LW_HEAP); /* the parent's: none of them the child's */
        acquire_here(LW_HEAP, handle_at(MANY + 1), 5);
        /* the child frees inherited blocks, young (nursery) and old (uthash): found, and harmless */
        out[1] = (size_t)lw_on_release(LW_HEAP, handle_at(0)) + (size_t)lw_on_release(LW_HEAP, handle_at(MANY - 1));
        out[2] = lw_live_count(LW_HEAP);
        out[3] = lw_tables_total_all();
        ssize_t w = write(fds[1], out, sizeof(out));
        _exit(w == (ssize_t)sizeof(out) ? 0 : 1);
    }
    size_t got[4];
    ck_assert_int_eq(read(fds[0], got, sizeof(got)), (ssize_t)sizeof(got));
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_uint_eq(got[0], 0);
    ck_assert_uint_eq(got[1], 2);
    ck_assert_uint_eq(got[2], 1);
    ck_assert_uint_eq(got[3], MANY - 2 + 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), MANY);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* ---- sampling (LEAKWATCH_SAMPLE): the value, the weights, estimates, frees of blocks never sampled ---------- */

static void setup_sampling(void)
{
    setup();
    lw_config.reach = 0;
    lw_sample_mean = 0;
}

static void teardown_sampling(void)
{
    lw_sample_mean = 0;
}

START_TEST(sample_values)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = { { "0", 0 },          { "1", 1 },          { "524288", 524288 }, { "512K", 524288 },
                 { "512k", 524288 },  { "512KB", 524288 }, { "512KiB", 524288 }, { "1M", 1u << 20 },
                 { "2g", 2ull << 30 }, { "100B", 100 },    { "1024G", 1ull << 40 } };
    static const char *const bad[] = { "", "K", "-1", "+5", " 5", "5 ", "5KK", "5Q", "5iB", "0x10", "1025G",
                                       "1099511627777", "99999999999999999999999", "1.5M" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(lw_parse_sample(good[i].text, &v) == 0, "%s refused", good[i].text);
        ck_assert_msg(v == good[i].bytes, "%s read as %llu", good[i].text, (unsigned long long)v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 7;
        ck_assert_msg(lw_parse_sample(bad[i], &v) == -1, "%s accepted", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
}
END_TEST

START_TEST(sample_from_environment)
{
    setenv("LEAKWATCH_SAMPLE", "64K", 1);
    lw_config_load();
    ck_assert_uint_eq(lw_sample_mean, 65536);
    /* a bad value is warned about and changes nothing: every block recorded */
    lw_sample_mean = 0;
    setenv("LEAKWATCH_SAMPLE", "lots", 1);
    lw_config_load();
    ck_assert_uint_eq(lw_sample_mean, 0);
    unsetenv("LEAKWATCH_SAMPLE");
}
END_TEST

START_TEST(weights)
{
    ck_assert(lw_sample_weight(100) == 1.0); /* no sampling: every record is one block */
    lw_sample_mean = 1000;
    ck_assert_double_eq_tol(lw_sample_weight(1000), 1 / (1 - exp(-1.0)), 1e-9);
    ck_assert_double_eq_tol(lw_sample_weight(10), 1 / (1 - exp(-0.01)), 1e-7);
    ck_assert_double_eq_tol(lw_sample_weight(1), 1 / (1 - exp(-0.001)), 1e-6);
    ck_assert_double_eq_tol(lw_sample_weight(0), lw_sample_weight(1), 1e-12); /* counts as one byte */
    ck_assert_double_eq_tol(lw_sample_weight(3000), 1 / (1 - exp(-3.0)), 1e-9);
    ck_assert(lw_sample_weight(1u << 30) == 1.0);
    /* the gaps are exponential: their mean is the mean asked for, within a few standard errors */
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t g = lw_sample_gap();
        ck_assert_int_ge(g, 1);
        sum += (double)g;
    }
    ck_assert_double_eq_tol(sum / 100000, 1000, 20);
}
END_TEST

/* ---- sampling: estimates in a dump ------------------------------------------------------------------------------------ */

#define SMALL 200000
#define LARGE 100
#define SBASE ((uintptr_t)0x7a0000000000ull)

__attribute__((noinline)) static void acquire_small(uintptr_t h)
{
    lw_on_acquire(LW_HEAP, h, 64);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void acquire_large(uintptr_t h)
{
    lw_on_acquire(LW_HEAP, h, 1u << 20);
    __asm__ volatile("" ::: "memory");
}

static long long member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    ck_assert_msg(json_is_integer(v), "no integer %s", name);
    return json_integer_value(v);
}

START_TEST(dump_shows_estimates)
{
    lw_sample_mean = 4096;
    for (uintptr_t i = 0; i < SMALL; i++)
        acquire_small(SBASE + i * 64);
    for (uintptr_t i = 0; i < LARGE; i++)
        acquire_large(SBASE + (1ull << 32) + i * (1u << 20));
    /* far fewer records than blocks: 1 - exp(-64/4096) of the small ones, about 3100, and every large one */
    size_t records = lw_live_count(LW_HEAP);
    ck_assert_uint_lt(records, SMALL / 20);
    ck_assert_uint_gt(records, LARGE);

    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    remove_tree(dir);
    ck_assert_int_eq(member(json_object_get(d, "sampling"), "mean_bytes"), 4096);
    json_t *sites = json_object_get(d, "sites");
    ck_assert_uint_eq(json_array_size(sites), 2);
    /* sorted by estimated bytes: the large blocks (100 MiB) first, every one of them recorded */
    json_t *large = json_array_get(sites, 0), *small = json_array_get(sites, 1);
    ck_assert_int_eq(member(large, "sampled"), LARGE);
    ck_assert_int_eq(member(large, "count"), LARGE);
    ck_assert_int_eq(member(large, "bytes"), (long long)LARGE << 20);
    /* the small ones estimated within 10% (the sampled count's standard error is under 2%) */
    long long sampled = member(small, "sampled"), count = member(small, "count");
    ck_assert_int_eq(sampled + LARGE, (long long)records);
    ck_assert_msg(count > SMALL * 9 / 10 && count < SMALL * 11 / 10, "estimated %lld of %d", count, SMALL);
    long long bytes = member(small, "bytes"); /* both rounded from the same sum of weights */
    ck_assert_msg(bytes >= count * 64 - 64 && bytes <= count * 64 + 64, "%lld bytes for %lld blocks", bytes, count);
    json_t *heap = json_object_get(json_object_get(d, "totals"), "heap");
    ck_assert_int_eq(member(heap, "count"), count + LARGE);
    json_decref(d);

    /* freeing every block releases exactly the sampled ones; the rest are known unsampled without a record */
    size_t released = 0;
    for (uintptr_t i = 0; i < SMALL; i++)
        released += (size_t)lw_on_release(LW_HEAP, SBASE + i * 64);
    for (uintptr_t i = 0; i < LARGE; i++)
        released += (size_t)lw_on_release(LW_HEAP, SBASE + (1ull << 32) + i * (1u << 20));
    ck_assert_uint_eq(released, records);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    d = dump_now(dir, sizeof dir);
    remove_tree(dir);
    ck_assert_int_eq(member(json_object_get(json_object_get(d, "totals"), "heap"), "count"), 0);
    json_decref(d);
}
END_TEST

START_TEST(unsampled_dump_has_no_sampling)
{
    acquire_small(SBASE);
    char dir[64];
    json_t *d = dump_now(dir, sizeof dir);
    remove_tree(dir);
    ck_assert_ptr_null(json_object_get(d, "sampling"));
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(d, "sites"), 0), "sampled"));
    json_decref(d);
}
END_TEST

START_TEST(sampled_realloc_keeps_its_record)
{
    lw_sample_mean = 4096;
    acquire_large(SBASE); /* recorded: 1 MiB against a mean of 4 KiB */
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    lw_release_t t;
    lw_release_begin(&t, LW_HEAP, SBASE);
    ck_assert_int_eq(t.had, 1);
    lw_release_end(&t, 0); /* the realloc failed: the record is back, and still found by a free */
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_int_eq(lw_on_release(LW_HEAP, SBASE), 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

START_TEST(descriptors_are_never_sampled)
{
    lw_sample_mean = 1u << 30;
    lw_on_acquire(LW_FD, 40, 0);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_int_eq(lw_on_release(LW_FD, 40), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tracker_heap");
    TCase *tc = tcase_create("nursery");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nursery_and_table_are_one_table);
    tcase_add_test(tc, spans_and_dense_handles_are_one_table);
    tcase_add_test(tc, listing_is_in_address_order);
    tcase_add_test(tc, failed_realloc_restores_a_nursery_record);
    tcase_add_test(tc, dump_shows_nursery_and_table);
    tcase_add_test(tc, scan_sees_nursery_records);
    tcase_add_test(tc, threads_release_each_others_blocks);
    tcase_add_test(tc, fork_child_sees_the_nursery_as_inherited);
    tcase_add_test(tc, free_in_handler_waits_for_the_interrupted_call);
    suite_add_tcase(s, tc);
    tc = tcase_create("sampling");
    tcase_add_checked_fixture(tc, setup_sampling, teardown_sampling);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sample_values);
    tcase_add_test(tc, sample_from_environment);
    tcase_add_test(tc, weights);
    tcase_add_test(tc, dump_shows_estimates);
    tcase_add_test(tc, unsampled_dump_has_no_sampling);
    tcase_add_test(tc, sampled_realloc_keeps_its_record);
    tcase_add_test(tc, descriptors_are_never_sampled);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
