/* Unit tests of the tracker driven through its header, without LD_PRELOAD: tables, call sites, the stack cache,
 * threads, fork and the dump writer. */
#include "testing.h"
#include "internal.h"
#include "sys.h"

#include <check.h>
#include <sys/mman.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* Acquires `handle` with the stack of this function's caller (the wrappers' convention). */
__attribute__((noinline)) static void acquire_here(lw_kind_t kind, uintptr_t handle, size_t size)
{
    lw_on_acquire(kind, handle, size);
    __asm__ volatile("" ::: "memory"); /* keep the call from becoming a tail call */
}

typedef struct {
    uintptr_t handle;
    uint32_t site;
} find_t;

static void find_site(lw_kind_t k, uintptr_t h, uint64_t size, uint32_t site, void *arg)
{
    (void)k;
    (void)size;
    find_t *f = arg;
    if (h == f->handle)
        f->site = site;
}

static uint32_t site_of(lw_kind_t kind, uintptr_t handle)
{
    find_t f = { handle, 0 };
    lw_foreach_live(kind, find_site, &f);
    return f.site;
}

static void setup(void)
{
    lw_reset_for_tests();
    lw_config.kinds = (1u << LW_KIND_COUNT) - 1;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    lw_config.verify = false;
}

START_TEST(acquire_release_counts)
{
    acquire_here(LW_HEAP, 0x1000, 10);
    acquire_here(LW_HEAP, 0x2000, 20);
    acquire_here(LW_FD, 7, 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 2);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), 30);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_int_eq(lw_on_release(LW_HEAP, 0x1000), 1);
    ck_assert_int_eq(lw_on_release(LW_HEAP, 0x1000), 0);
    ck_assert_int_eq(lw_on_release(LW_HEAP, 0x3000), 0);
    /* kinds are separate name spaces: fd 7 is not heap block 7 */
    ck_assert_int_eq(lw_on_release(LW_HEAP, 7), 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), 20);
    ck_assert_int_eq(lw_on_release(LW_FD, 7), 1);
    ck_assert_uint_eq(lw_live_count(LW_FD), 0);
}
END_TEST

/* A descriptor number acquired again was closed behind the tracker's back (a raw system call): the new record
 * replaces the old one. */
START_TEST(reacquire_replaces)
{
    acquire_here(LW_FD, 40, 1);
    acquire_here(LW_FD, 40, 2);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

typedef struct {
    lw_kind_t kind;
    uintptr_t handle;
} handle_t;

static void *acquire_in_thread(void *arg)
{
    const handle_t *h = arg;
    acquire_here(h->kind, h->handle, 0);
    return NULL;
}

/* Another thread acquires (kind, handle) while this one waits. */
static void acquire_elsewhere(lw_kind_t kind, uintptr_t handle)
{
    handle_t h = { kind, handle };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, acquire_in_thread, &h), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* A release from a signal handler that interrupted the tracker while it held the lock of the record's shard: the
 * record goes once the interrupted call is done (case 0); not when the call failed (1); not when the handle was
 * handed out again and recorded meanwhile (2: another thread was given the same id, and that record is the one
 * kept); but it does when another handle of the kind was recorded in the shard meanwhile (3: the interrupted call
 * was, say, a timer_create). A FILE*'s release is no call that can fail and goes the same way (4), and a FILE* is
 * never taken for a descriptor's number, however low its address (a non-PIE program's heap): another thread's
 * fopen given the same address meanwhile keeps its record (5). No slot keeps the handle once it is done: the exit
 * scan reads this thread's slots as roots. */
START_TEST(release_in_lock_waits)
{
    int stream = _i >= 4;
    uintptr_t h = stream ? 0x7000000 : 9;
    lw_kind_t kind = stream ? LW_FD : LW_TIMER;
    acquire_here(kind, h, 0);
    lw_test_set_busy(1);
    lw_test_hold_shard(h, 1);
    if (stream) {
        lw_on_release_stream(h);
    } else {
        lw_release_t t;
        lw_release_begin(&t, kind, h);
        lw_release_end(&t, _i != 1);
    }
    lw_test_hold_shard(h, 0);
    ck_assert_uint_eq(lw_live_count(kind), 1);
    if (_i == 2 || _i == 5)
        acquire_elsewhere(kind, h);
    if (_i == 3)
        acquire_elsewhere(kind, h + 1);
    lw_test_set_busy(0);
    ck_assert_uint_eq(lw_live_count(kind), _i == 0 || _i == 4 ? 0 : 1);
    if (_i == 3)
        ck_assert_msg(site_of(kind, h) == 0 && site_of(kind, h + 1) != 0, "the record left is the new handle's");
    for (int k = 0; k < LW_DEFERRED_RELEASES; k++)
        ck_assert_uint_eq(lw_self.released[k].handle, 0);
}
END_TEST

/* fork's handlers take every lock of leakwatch's and let them all go again, in the parent and in the child: the
 * forking thread holds none in either (a lock counted as held for good would turn every later signal handler's
 * change inside the tracker into one put off). */
START_TEST(fork_leaves_no_lock_held)
{
    acquire_here(LW_TIMER, 9, 0); /* the tracker is set up, its fork handlers registered */
    ck_assert_int_eq(lw_locks_held, 0);
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0)
        _exit(lw_locks_held == 0 ? 0 : 10 + lw_locks_held);
    int st;
    ck_assert_int_eq(waitpid(p, &st, 0), p);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child holds %d locks", WEXITSTATUS(st) - 10);
    ck_assert_int_eq(lw_locks_held, 0);
}
END_TEST

/* A release from inside the tracker (a signal handler that interrupted it) still removes the record. */
START_TEST(nested_release)
{
    acquire_here(LW_HEAP, 0x5000, 10);
    lw_test_set_busy(1);
    int found = lw_on_release(LW_HEAP, 0x5000);
    lw_test_set_busy(0);
    ck_assert_int_eq(found, 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

START_TEST(keep_and_restore)
{
    acquire_here(LW_HEAP, 0x6000, 64);
    uint32_t site = site_of(LW_HEAP, 0x6000);
    /* a release that fails puts the record back unchanged */
    lw_release_t t;
    lw_release_begin(&t, LW_HEAP, 0x6000);
    ck_assert_int_eq(t.had, 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    lw_release_end(&t, 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), 64);
    ck_assert_uint_eq(site_of(LW_HEAP, 0x6000), site);
    /* one that succeeds drops it for good */
    lw_release_begin(&t, LW_HEAP, 0x6000);
    lw_release_end(&t, 1);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
    /* an unknown handle is not made up */
    lw_release_begin(&t, LW_HEAP, 0x6000);
    ck_assert_int_eq(t.had, 0);
    lw_release_end(&t, 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

/* The unwinder's memory check: readable memory is, a guard page and an unmapped page are not. */
START_TEST(readable_memory)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)page * 2, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    static const char text[] = "x";
    ck_assert(lw_readable(text));
    ck_assert(lw_readable(m + 3));
    ck_assert_int_eq(mprotect(m, (size_t)page, PROT_NONE), 0);
    ck_assert(!lw_readable(m + 1));
    ck_assert_int_eq(munmap(m + page, (size_t)page), 0);
    ck_assert(!lw_readable(m + page));
    munmap(m, (size_t)page);
}
END_TEST

/* The standard streams are never the program's acquisitions, whichever wrapper reports them. */
START_TEST(standard_streams_not_recorded)
{
    for (int fd = 0; fd <= 2; fd++) {
        acquire_here(LW_FD, (uintptr_t)fd, 0);
        acquire_here(LW_SOCKET, (uintptr_t)fd, 0);
    }
    acquire_here(LW_FD, 3, 0);
    ck_assert_uint_eq(lw_live_count(LW_FD), 1);
    ck_assert_uint_eq(lw_live_count(LW_SOCKET), 0);
    ck_assert_int_eq(lw_on_release(LW_FD, 0), 0);
    ck_assert_int_eq(lw_on_release(LW_FD, 3), 1);
}
END_TEST

START_TEST(untracked_kind_is_ignored)
{
    lw_config.kinds = 1u << LW_HEAP;
    acquire_here(LW_FD, 9, 0);
    acquire_here(LW_HEAP, 0x7000, 1);
    ck_assert_uint_eq(lw_live_count(LW_FD), 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
}
END_TEST

START_TEST(errno_preserved)
{
    errno = EBADF;
    acquire_here(LW_HEAP, 0x8000, 1);
    ck_assert_int_eq(errno, EBADF);
    errno = ENOENT;
    lw_on_release(LW_HEAP, 0x8000);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* Same line, same site; another line, another site; the first frame lies in the calling function. */
__attribute__((noinline)) static void two_sites(uint32_t *a1, uint32_t *a2, uint32_t *b)
{
    for (int i = 0; i < 2; i++) {
        acquire_here(LW_HEAP, 0x10000 + (uintptr_t)i, 8);
        *(i ? a2 : a1) = site_of(LW_HEAP, 0x10000 + (uintptr_t)i);
    }
    acquire_here(LW_HEAP, 0x20000, 8);
    *b = site_of(LW_HEAP, 0x20000);
}

START_TEST(call_sites)
{
    uint32_t a1, a2, b;
    two_sites(&a1, &a2, &b);
    ck_assert_uint_ne(a1, 0);
    ck_assert_uint_eq(a1, a2);
    ck_assert_uint_ne(a1, b);

    uintptr_t fa[LW_MAX_DEPTH], fb[LW_MAX_DEPTH];
    int na = lw_site_frames(a1, fa, LW_MAX_DEPTH);
    int nb = lw_site_frames(b, fb, LW_MAX_DEPTH);
    ck_assert_int_ge(na, 2);
    ck_assert_int_eq(na, nb);
    /* both start inside two_sites, at different return addresses, and share every outer frame */
    uintptr_t fn = (uintptr_t)&two_sites;
    ck_assert(fa[0] > fn && fa[0] < fn + 512);
    ck_assert(fb[0] > fn && fb[0] < fn + 512);
    ck_assert(fa[0] != fb[0]);
    ck_assert(memcmp(fa + 1, fb + 1, (size_t)(na - 1) * sizeof(uintptr_t)) == 0);
    ck_assert_int_eq(lw_site_frames(0, fa, LW_MAX_DEPTH), -1);
    ck_assert_int_eq(lw_site_frames(999999, fa, LW_MAX_DEPTH), -1);
}
END_TEST

/* Many more stacks than the site table's first buckets hold (uthash doubles them as its chains grow): every
 * stack keeps the id it was first given, ids are distinct, a stack and its own prefix are two sites, and the frames come back exact. */
#define MANY_SITES 20000

static int stack_of(int i, uintptr_t *frames)
{
    int n = 1 + i % 8;
    for (int k = 0; k < n; k++)
        frames[k] = 0x400000 + (uintptr_t)(i / 8) * 64 + (uintptr_t)k * 8;
    return n;
}

START_TEST(site_index_grows)
{
    static uint32_t ids[MANY_SITES];
    uintptr_t frames[8], back[LW_MAX_DEPTH];
    for (int i = 0; i < MANY_SITES; i++) {
        int n = stack_of(i, frames);
        ids[i] = lw_site_intern(frames, n);
        ck_assert_uint_ne(ids[i], 0);
        if (i > 0)
            ck_assert_uint_ne(ids[i], ids[i - 1]); /* i - 1 is a prefix of i unless i starts a new group */
    }
    for (int i = 0; i < MANY_SITES; i++) {
        int n = stack_of(i, frames);
        ck_assert_uint_eq(lw_site_intern(frames, n), ids[i]);
        ck_assert_int_eq(lw_site_frames(ids[i], back, LW_MAX_DEPTH), n);
        ck_assert(memcmp(back, frames, (size_t)n * sizeof(uintptr_t)) == 0);
    }
    ck_assert_uint_eq(ids[MANY_SITES - 1], ids[0] + MANY_SITES - 1); /* none lost, none given twice */
    ck_assert_uint_eq(lw_test_lost_sites(), 0);
}
END_TEST

/* A reset empties the sites and the calling thread's stack cache with them: the same stack after it is a site
 * that exists, not the number it had before. */
START_TEST(reset_forgets_cached_stacks)
{
    uint32_t sites[2];
    for (int i = 0; i < 2; i++) {
        if (i)
            lw_reset_for_tests();
        acquire_here(LW_HEAP, 0x40000 + (uintptr_t)i * 16, 8);
        sites[i] = site_of(LW_HEAP, 0x40000 + (uintptr_t)i * 16);
    }
    uintptr_t f[LW_MAX_DEPTH];
    ck_assert_int_gt(lw_site_frames(sites[1], f, LW_MAX_DEPTH), 0);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
}
END_TEST

START_TEST(depth_is_capped)
{
    lw_config.depth = 2;
    lw_reset_for_tests(); /* the per-thread cache keeps its layout; a new depth needs fresh entries */
    acquire_here(LW_HEAP, 0x30000, 8);
    uintptr_t f[LW_MAX_DEPTH];
    ck_assert_int_eq(lw_site_frames(site_of(LW_HEAP, 0x30000), f, LW_MAX_DEPTH), 2);
    lw_config.depth = 32;
}
END_TEST

/* Recursion to different depths from one call site: each depth is its own stack, and the cache must tell them
 * apart even though the innermost return address is the same. */
__attribute__((noinline)) static uint32_t recurse(int depth, uintptr_t handle)
{
    if (depth > 0) {
        uint32_t s = recurse(depth - 1, handle);
        __asm__ volatile("" ::: "memory");
        return s;
    }
    acquire_here(LW_HEAP, handle, 1);
    return site_of(LW_HEAP, handle);
}

static void check_cache_agrees(void)
{
    lw_config.verify = true;
    uint32_t by_depth[8];
    for (int round = 0; round < 3; round++) {
        for (int d = 0; d < 8; d++) {
            uint32_t s = recurse(d, 0x40000 + (uintptr_t)(round * 8 + d));
            if (round == 0)
                by_depth[d] = s;
            else
                ck_assert_uint_eq(s, by_depth[d]);
        }
    }
    for (int d = 1; d < 8; d++)
        ck_assert_uint_ne(by_depth[d], by_depth[d - 1]);
    unsigned long verified, mismatches;
    lw_test_stack_checks(&verified, &mismatches);
    ck_assert_uint_gt(verified, 0);
    ck_assert_uint_eq(mismatches, 0);
}

START_TEST(stack_cache_verified)
{
    check_cache_agrees();
}
END_TEST

__attribute__((noinline)) static uint32_t recurse_with(lw_unwind_mode_t mode, uintptr_t handle)
{
    lw_config.unwind = mode;
    uint32_t s = recurse(3, handle);
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
    return s;
}

START_TEST(frame_pointer_walk_matches_libunwind)
{
    uintptr_t a[LW_MAX_DEPTH], b[LW_MAX_DEPTH];
    uint32_t s1 = recurse_with(LW_UNWIND_LIBUNWIND, 0x50000);
    uint32_t s2 = recurse_with(LW_UNWIND_FP, 0x50001);
    int n1 = lw_site_frames(s1, a, LW_MAX_DEPTH), n2 = lw_site_frames(s2, b, LW_MAX_DEPTH);
    /* this test is built with frame pointers; the walk may stop early in code built without them (libc's
     * start-up), so compare the frames of this program */
    /* frames 0-4: recurse x4 and recurse_with; frame 5 is the line of this test that called recurse_with */
    ck_assert_int_ge(n1, 6);
    ck_assert_int_ge(n2, 6);
    ck_assert(a[5] != b[5]);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(a[i] == b[i], "frame %d: %lx vs %lx", i, (unsigned long)a[i], (unsigned long)b[i]);
}
END_TEST

#define THREADS 8
#define PER_THREAD 20000
#define KEEP 37

static void *churn(void *arg)
{
    uintptr_t base = (uintptr_t)arg << 40;
    for (int i = 0; i < PER_THREAD; i++) {
        acquire_here(LW_HEAP, base + (uintptr_t)i * 16, 16);
        if (i >= KEEP)
            lw_on_release(LW_HEAP, base + (uintptr_t)i * 16);
    }
    return NULL;
}

START_TEST(threads_exact_counts)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), THREADS * KEEP);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), THREADS * KEEP * 16);
}
END_TEST

#define SLOTS 64

static atomic_int churning;

/* The handle a slot holds at its nth refill: one in another 64 MB region each time, so that most often the
 * tables keep it in another shard than its predecessor (a heap that straddles two regions does so). */
#define SLOT_HANDLE(base, n) ((base) + (uintptr_t)(n) * ((uintptr_t)1 << 26) + 16)

/* One slot at a time: its handle released, the next one acquired in its place. */
static void *replace_slots(void *arg)
{
    uintptr_t base = (uintptr_t)arg << 44, next = 0, slot[SLOTS];
    for (int i = 0; i < SLOTS; i++)
        acquire_here(LW_HEAP, slot[i] = SLOT_HANDLE(base, next++), 16);
    atomic_store(&churning, 1);
    while (atomic_load(&churning) == 1) {
        int i = (int)(next % SLOTS);
        lw_on_release(LW_HEAP, slot[i]);
        acquire_here(LW_HEAP, slot[i] = SLOT_HANDLE(base, next++), 16);
    }
    for (int i = 0; i < SLOTS; i++)
        lw_on_release(LW_HEAP, slot[i]);
    return NULL;
}

/* A walk sees the records of one moment: a thread that never holds more than SLOTS handles is never seen
 * holding more, however its releases and acquisitions fall between the shards the walk has passed. */
START_TEST(walk_sees_one_moment)
{
    pthread_t t;
    atomic_store(&churning, 0);
    ck_assert_int_eq(pthread_create(&t, NULL, replace_slots, (void *)(uintptr_t)3), 0);
    while (atomic_load(&churning) == 0)
        sched_yield();
    size_t most = 0;
    for (int round = 0; round < 500; round++) {
        size_t n = lw_live_count(LW_HEAP);
        most = n > most ? n : most;
    }
    atomic_store(&churning, 2);
    pthread_join(t, NULL);
    ck_assert_msg(most <= SLOTS, "a walk counted %zu handles of a thread that holds %d", most, SLOTS);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 0);
}
END_TEST

START_TEST(fork_child_reports_its_own)
{
    acquire_here(LW_HEAP, 0x60000, 100);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        size_t inherited = lw_live_count(LW_HEAP);
        acquire_here(LW_HEAP, 0x70000, 5);
        /* a failed realloc of an inherited block puts it back as the parent's, not the child's */
        lw_release_t t;
        lw_release_begin(&t, LW_HEAP, 0x60000);
        int kept = t.had;
        lw_release_end(&t, 0);
        size_t mine = lw_live_count(LW_HEAP), bytes = lw_live_bytes(LW_HEAP);
        /* releasing an inherited handle is harmless, and the restored record is there to release */
        if (!kept || !lw_on_release(LW_HEAP, 0x60000))
            mine += 100;
        size_t out[3] = { inherited, mine, bytes };
        ssize_t w = write(fds[1], out, sizeof(out));
        _exit(w == (ssize_t)sizeof(out) ? 0 : 1);
    }
    size_t got[3];
    ck_assert_int_eq(read(fds[0], got, sizeof(got)), (ssize_t)sizeof(got));
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_uint_eq(got[0], 0);
    ck_assert_uint_eq(got[1], 1);
    ck_assert_uint_eq(got[2], 5);
    ck_assert_uint_eq(lw_live_count(LW_HEAP), 1);
    ck_assert_uint_eq(lw_live_bytes(LW_HEAP), 100);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(dump_round_trip)
{
    for (int i = 0; i < 3; i++)
        acquire_here(LW_HEAP, 0x80000 + (uintptr_t)i * 64, 40);
    acquire_here(LW_HEAP, 0x90000, 1000);
    acquire_here(LW_FD, 5, 0);
    char dir[] = "/tmp/lwtest.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    ck_assert_int_eq(lw_dump_next(dir, "signal", path, sizeof(path)), 0);

    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    ck_assert_msg(d != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "leakwatch_dump")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "pid")), getpid());
    ck_assert_str_eq(json_string_value(json_object_get(d, "reason")), "signal");
    ck_assert(json_is_null(json_object_get(d, "exit_status")));
    json_t *tot = json_object_get(d, "totals");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(tot, "heap"), "count")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(tot, "heap"), "bytes")), 1120);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(tot, "fd"), "count")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(tot, "timer"), "count")), 0);

    json_t *sites = json_object_get(d, "sites");
    ck_assert_uint_eq(json_array_size(sites), 3);
    /* largest first: the 1000-byte block, then the three 40-byte ones, then the descriptor */
    json_t *s0 = json_array_get(sites, 0), *s1 = json_array_get(sites, 1), *s2 = json_array_get(sites, 2);
    ck_assert_int_eq(json_integer_value(json_object_get(s0, "bytes")), 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(s1, "count")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(s1, "bytes")), 120);
    ck_assert_str_eq(json_string_value(json_object_get(s2, "kind")), "fd");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(s2, "samples"), 0), "handle")), "5");
    ck_assert_uint_eq(json_array_size(json_object_get(s1, "samples")), 3);
    ck_assert_uint_ge(json_array_size(json_object_get(s1, "frames")), 1);
    const char *f0 = json_string_value(json_array_get(json_object_get(s1, "frames"), 0));
    ck_assert(f0 && strncmp(f0, "0x", 2) == 0);
    ck_assert_uint_ge(json_array_size(json_object_get(d, "modules")), 2);

    json_decref(d);
    /* the name counts up, and no temporary file is left behind */
    char path2[256];
    ck_assert_int_eq(lw_dump_next(dir, "interval", path2, sizeof(path2)), 0);
    ck_assert_ptr_nonnull(strstr(path2, ".2.json"));
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(dump_to_unwritable_dir_fails_cleanly)
{
    char path[256];
    ck_assert_int_eq(lw_dump_next("/nonexistent/dir", "exit", path, sizeof(path)), ENOENT);
}
END_TEST

START_TEST(kinds_parsing)
{
    ck_assert_int_eq(lw_parse_kinds("heap"), 1 << LW_HEAP);
    ck_assert_int_eq(lw_parse_kinds("fd,socket"), (1 << LW_FD) | (1 << LW_SOCKET));
    ck_assert_int_eq(lw_parse_kinds("all"), (1 << LW_KIND_COUNT) - 1);
    ck_assert_int_eq(lw_parse_kinds("HEAP,timer"), (1 << LW_HEAP) | (1 << LW_TIMER));
    ck_assert_int_eq(lw_parse_kinds("heap,bogus"), -1);
    ck_assert_int_eq(lw_parse_kinds(""), 0);
}
END_TEST

START_TEST(config_from_environment)
{
    setenv("LEAKWATCH_DEPTH", "12", 1);
    setenv("LEAKWATCH_UNWIND", "fp", 1);
    setenv("LEAKWATCH_KINDS", "heap,thread", 1);
    setenv("LEAKWATCH_DUMP_SIGNAL", "SIGUSR2", 1);
    setenv("LEAKWATCH_DUMP_INTERVAL", "30", 1);
    lw_config_load();
    ck_assert_int_eq(lw_config.depth, 12);
    ck_assert_int_eq(lw_config.unwind, LW_UNWIND_FP);
    ck_assert_uint_eq(lw_config.kinds, (1u << LW_HEAP) | (1u << LW_THREAD));
    ck_assert_int_eq(lw_config.dump_signal, SIGUSR2);
    ck_assert_uint_eq(lw_config.dump_interval_s, 30);
    /* odd values keep the previous setting and only warn */
    setenv("LEAKWATCH_DEPTH", "0", 1);
    setenv("LEAKWATCH_UNWIND", "magic", 1);
    setenv("LEAKWATCH_KINDS", "heap,files", 1);
    setenv("LEAKWATCH_DUMP_SIGNAL", "SIGNOPE", 1);
    setenv("LEAKWATCH_DUMP_INTERVAL", "-5", 1);
    lw_config_load();
    ck_assert_int_eq(lw_config.depth, 12);
    ck_assert_int_eq(lw_config.unwind, LW_UNWIND_FP);
    ck_assert_uint_eq(lw_config.kinds, (1u << LW_HEAP) | (1u << LW_THREAD));
    ck_assert_int_eq(lw_config.dump_signal, SIGUSR2);
    unsetenv("LEAKWATCH_DEPTH");
    unsetenv("LEAKWATCH_UNWIND");
    unsetenv("LEAKWATCH_KINDS");
    unsetenv("LEAKWATCH_DUMP_SIGNAL");
    unsetenv("LEAKWATCH_DUMP_INTERVAL");
    lw_config.depth = 32;
    lw_config.unwind = LW_UNWIND_LIBUNWIND;
}
END_TEST

/* LEAKWATCH_DUMP_INTERVAL: plain seconds as before, and the duration forms of the command (ms, s, m, h) when they
 * make whole seconds; anything else leaves the setting as it was. */
START_TEST(dump_interval_forms)
{
    static const struct {
        const char *text;
        unsigned seconds;   /* 0: refused */
    } cases[] = {
        { "30", 30 }, { "1", 1 }, { "45s", 45 }, { "2000ms", 2 }, { "1000ms", 1 }, { "5m", 300 }, { "1h", 3600 },
        { "8760h", 86400 * 365 }, { "31536000", 86400 * 365 }, { "0", 0 }, { "0s", 0 }, { "500ms", 0 },
        { "1500ms", 0 }, { "8761h", 0 }, { "31536001", 0 }, { "-5", 0 }, { "+5s", 0 }, { "1.5s", 0 }, { "5 s", 0 },
        { "5sec", 0 }, { "s", 0 }, { "5d", 0 }, { "99999999999999999999", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lw_config.dump_interval_s = 7;
        setenv("LEAKWATCH_DUMP_INTERVAL", cases[i].text, 1);
        lw_config_load();
        unsigned want = cases[i].seconds ? cases[i].seconds : 7;
        ck_assert_msg(lw_config.dump_interval_s == want, "LEAKWATCH_DUMP_INTERVAL=%s gave %u, not %u", cases[i].text,
                      lw_config.dump_interval_s, want);
    }
    unsetenv("LEAKWATCH_DUMP_INTERVAL");
    lw_config.dump_interval_s = 0;
}
END_TEST

START_TEST(internal_allocator)
{
    void *a = lw_mem_alloc(24), *b = lw_mem_alloc(24);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_ne(a, b);
    memset(a, 0xab, 24);
    lw_mem_free(a, 24);
    void *c = lw_mem_alloc(24);
    ck_assert_ptr_eq(c, a); /* reused, and zeroed again */
    for (int i = 0; i < 24; i++)
        ck_assert_int_eq(((unsigned char *)c)[i], 0);
    void *big = lw_mem_alloc(1 << 20);
    ck_assert_ptr_nonnull(big);
    ((char *)big)[(1 << 20) - 1] = 1;
    lw_mem_free(big, 1 << 20);
    lw_mem_free(b, 24);
    lw_mem_free(c, 24);
}
END_TEST

/* The lock a thread takes the way a one-thread process does (a plain store after reading
 * __libc_single_threaded) is taken for it first by a signal handler that makes the process's second thread in
 * between (lw_thread_coming): the new thread waits for it, and the interrupted thread, reading the flag again,
 * finds the lock its own rather than waiting for itself. A handler never tries the lock being taken. */
static lw_lock_t window_lock;
static atomic_int window_thread_has_lock;

static void *take_window_lock(void *arg)
{
    (void)arg;
    lw_lock(&window_lock);
    atomic_store(&window_thread_has_lock, 1);
    lw_unlock(&window_lock);
    return NULL;
}

START_TEST(lock_taken_for_the_thread_a_handler_makes)
{
    ck_assert_msg(__libc_single_threaded, "the test process has one thread");
    lw_thread_coming(); /* no lock being taken: none is touched */
    ck_assert_int_eq(atomic_load(&window_lock.held), 0);

    /* past the store: the lock is this thread's already, and nothing is marked */
    lw_taking = (uintptr_t)&window_lock;
    atomic_store(&window_lock.held, 1);
    lw_thread_coming();
    ck_assert_msg(lw_taking == (uintptr_t)&window_lock, "no mark on a lock the thread holds");
    atomic_store(&window_lock.held, 0);

    /* before the store: a handler does not try the lock, and one about to make a thread takes it */
    ck_assert_msg(!lw_trylock(&window_lock), "a handler leaves the lock being taken alone");
    ck_assert_int_eq(atomic_load(&window_lock.held), 0);
    lw_thread_coming();
    ck_assert_msg(atomic_load(&window_lock.held) == 1, "the lock is taken for the interrupted thread");
    ck_assert_msg(lw_taking == ((uintptr_t)&window_lock | 1), "and marked so");
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_window_lock, NULL), 0);
    ck_assert(!__libc_single_threaded);
    /* the interrupted lw_lock reads the flag again: threads now */
    lw_lock_thread_came(&window_lock); /* returns at once: the lock was taken for this thread */
    ck_assert_msg(lw_taking == 0, "the mark is cleared");
    usleep(20000);
    ck_assert_msg(!atomic_load(&window_thread_has_lock), "the new thread waits while this one holds the lock");
    lw_unlock(&window_lock);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert(atomic_load(&window_thread_has_lock));

    /* a process of many threads takes every lock with the exchange: a handler takes nothing for it */
    lw_taking = (uintptr_t)&window_lock;
    lw_thread_coming();
    ck_assert_int_eq(atomic_load(&window_lock.held), 0);
    lw_taking = 0;
}
END_TEST

/* lw_lock of a one-thread process names the lock it is taking while a signal handler may interrupt it there, and
 * leaves nothing named once it holds it: a timer's handler that interrupts a loop of lw_lock and lw_unlock finds
 * the loop's lock named now and then, and never another. */
static lw_lock_t loop_lock;
static volatile sig_atomic_t seen_taking, seen_other, handler_runs;

static void note_taking(int sig)
{
    (void)sig;
    handler_runs++;
    uintptr_t t = lw_taking & ~(uintptr_t)1;
    if (t == (uintptr_t)&loop_lock)
        seen_taking++;
    else if (t)
        seen_other++;
}

START_TEST(lock_names_what_it_is_taking)
{
    ck_assert_msg(__libc_single_threaded, "the test process has one thread");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_taking;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval on = { { 0, 50 }, { 0, 50 } }, off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &on, NULL);
    for (long n = 0; seen_taking < 20 && n < 200000000; n++) {
        lw_lock(&loop_lock);
        lw_unlock(&loop_lock);
    }
    setitimer(ITIMER_REAL, &off, NULL);
    ck_assert_msg(seen_taking >= 20, "a handler found the lock being taken %d times in %d", (int)seen_taking,
                  (int)handler_runs);
    ck_assert_int_eq(seen_other, 0);
    ck_assert_msg(lw_taking == 0, "nothing named after the loop");
}
END_TEST

/* Whether process pid is gone or a zombie. */
static int process_ended(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* A quiet copy (the exit scan's, the report's) never outlives the process it copies: killed while its exit dump
 * waits for the copy, a process takes the copy with it. */
START_TEST(quiet_copy_dies_with_its_process)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t mid = fork();
    ck_assert_int_ge(mid, 0);
    if (mid == 0) {
        pid_t copy = lw_sys_fork_quiet();
        if (copy == 0)
            for (;;)
                lw_syscall(SYS_pause);
        if (write(fds[1], &copy, sizeof copy) != sizeof copy)
            _exit(1);
        for (;;)
            pause(); /* until killed, as a program whose exit dump waits for its copy */
    }
    pid_t copy = 0;
    ck_assert_int_eq(read(fds[0], &copy, sizeof copy), (ssize_t)sizeof copy);
    ck_assert_int_gt(copy, 0);
    ck_assert_msg(!process_ended(copy), "the copy runs while its process does");
    kill(mid, SIGKILL);
    ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
    for (int i = 0; i < 500 && !process_ended(copy); i++)
        usleep(10000);
    ck_assert_msg(process_ended(copy), "the copy %d ended with its process", (int)copy);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

int main(void)
{
    setenv("LEAKWATCH_REPORT", "none", 1);
    Suite *s = suite_create("tracker");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, acquire_release_counts);
    tcase_add_test(tc, reacquire_replaces);
    tcase_add_test(tc, nested_release);
    tcase_add_loop_test(tc, release_in_lock_waits, 0, 6);
    tcase_add_test(tc, fork_leaves_no_lock_held);
    tcase_add_test(tc, keep_and_restore);
    tcase_add_test(tc, standard_streams_not_recorded);
    tcase_add_test(tc, readable_memory);
    tcase_add_test(tc, untracked_kind_is_ignored);
    tcase_add_test(tc, errno_preserved);
    tcase_add_test(tc, call_sites);
    tcase_add_test(tc, depth_is_capped);
    tcase_add_test(tc, reset_forgets_cached_stacks);
    tcase_add_test(tc, site_index_grows);
    tcase_add_test(tc, stack_cache_verified);
    tcase_add_test(tc, frame_pointer_walk_matches_libunwind);
    tcase_add_test(tc, threads_exact_counts);
    tcase_add_test(tc, walk_sees_one_moment);
    tcase_add_test(tc, fork_child_reports_its_own);
    tcase_add_test(tc, dump_round_trip);
    tcase_add_test(tc, dump_to_unwritable_dir_fails_cleanly);
    tcase_add_test(tc, kinds_parsing);
    tcase_add_test(tc, config_from_environment);
    tcase_add_test(tc, dump_interval_forms);
    tcase_add_test(tc, internal_allocator);
    tcase_add_test(tc, lock_taken_for_the_thread_a_handler_makes);
    tcase_add_test(tc, lock_names_what_it_is_taking);
    tcase_add_test(tc, quiet_copy_dies_with_its_process);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
