/* Integration tests for the reachability classes of heap blocks at exit (reachable, definite, indirect): globals, lost blocks and lists, interior pointers, chains, cycles, other threads' stacks, registers and thread-local storage, blocks freed while the exit dump runs, forked children, and helper processes the program never sees. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define CLASSES_SRC "tests/fixtures/reach_classes.c"
#define THREAD_SRC "tests/fixtures/reach_thread.c"
#define FORK_SRC "tests/fixtures/reach_fork.c"
#define EXIT_FREE_SRC "tests/fixtures/reach_exit_free.c"
#define STALE_SRC "tests/fixtures/stale_records.c"
/* For runs that leak on purpose: the gate passes, so the exit status is the fixture's own. */
#define NO_GATE LWT_ARGV("--max-leaks", "1000000")

static const char *site_class(json_t *site)
{
    return json_string_value(json_object_get(site, "class"));
}

static int is_leak_site(json_t *site)
{
    const char *c = site_class(site);
    return !c || strcmp(c, "reachable") != 0;
}

/* Exactly one heap site with a frame in `func` at the marker's line has class `cls`, holding `count` blocks of
 * `bytes` bytes in all. */
static void assert_class_site(const lwt_result_t *r, const char *func, const char *cls, long long count,
                              long long bytes, const char *src, const char *marker)
{
    int line = LWT_MARKER_LINE(src, marker);
    const char *file = strrchr(src, '/') + 1;
    json_t *found = NULL;
    int n = 0;
    json_t *site;
    for (int i = 0; (site = lwt_find_site(r->report, "heap", func, file, line, i)) != NULL; i++) {
        const char *c = site_class(site);
        if (c && strcmp(c, cls) == 0) {
            found = site;
            n++;
        }
    }
    ck_assert_msg(n == 1, "expected one %s heap site in %s() at %s:%d, found %d%s", cls, func, file, line, n,
                  lwt_describe(r));
    ck_assert_msg(lwt_site_count(found) == count && lwt_site_bytes(found) == bytes,
                  "the %s site in %s() should hold %lld blocks, %lld bytes, not %lld, %lld%s", cls, func, count, bytes,
                  lwt_site_count(found), lwt_site_bytes(found), lwt_describe(r));
}

/* No definite or indirect (or unclassified) site has a frame in `func`. Reports may list reachable sites. */
static void assert_no_leak_site(const lwt_result_t *r, const char *func)
{
    json_t *site;
    for (int i = 0; (site = lwt_find_site(r->report, NULL, func, NULL, 0, i)) != NULL; i++)
        ck_assert_msg(!is_leak_site(site), "%s() leaks nothing, but a %s site names it%s", func,
                      site_class(site) ? site_class(site) : "unclassified", lwt_describe(r));
}

static long long leak_site_count(const lwt_result_t *r)
{
    long long n = 0;
    size_t i;
    json_t *site;
    json_array_foreach(json_object_get(r->report, "sites"), i, site) n += is_leak_site(site);
    return n;
}

static void assert_totals(const lwt_result_t *r, long long heap_count, long long heap_bytes, long long reach_count,
                          long long reach_bytes)
{
    LWT_ASSERT_TOTALS(r, "heap", heap_count, heap_bytes, "totals.heap");
    LWT_ASSERT_TOTALS(r, "reachable", reach_count, reach_bytes, "totals.reachable");
    ck_assert_msg(lwt_total_count(r->report, NULL) == heap_count, "no other kind leaks%s", lwt_describe(r));
}

static lwt_result_t *run_classes(const char *const *lw_args, const char *mode)
{
    return lwt_leakwatch(lw_args, LWT_ARGV(lwt_fixture("reach_classes"), mode), NULL);
}

/* Nothing allocated and kept: nothing reachable either (the runtime's buffers are freed before the scan). */
START_TEST(test_nothing_held)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "none");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, 0, 0);
    lwt_free(r);
}
END_TEST

/* A block a global points to has not leaked: reachable, and the default gate (--max-leaks 0) passes. */
START_TEST(test_global_reachable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "global");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, 1, 4001);
    assert_no_leak_site(r, "hold_in_global");
    lwt_free(r);
}
END_TEST

/* A block nothing points to is definite and fails the default gate. */
START_TEST(test_lost_definite)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "lost");
    LWT_ASSERT_RUN(r, 23);
    assert_class_site(r, "lose_block", "definite", 1, 4002, CLASSES_SRC, "@reach_lost */");
    assert_totals(r, 1, 4002, 0, 0);
    lwt_free(r);
}
END_TEST

/* A lost list of 5 nodes from one call site: the head is definite, the 4 nodes only lost nodes point to are
 * indirect; sites of different classes are not merged, and both count as leaks. */
START_TEST(test_list_indirect)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NO_GATE, "list");
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, "lose_list", "definite", 1, 48, CLASSES_SRC, "@reach_list */");
    assert_class_site(r, "lose_list", "indirect", 4, 192, CLASSES_SRC, "@reach_list */");
    ck_assert_msg(leak_site_count(r) == 2, "two sites%s", lwt_describe(r));
    assert_totals(r, 5, 240, 0, 0);
    json_t *g = json_object_get(r->report, "gate");
    ck_assert_msg(lwt_int(g, "leaks") == 5, "the gate counts definite and indirect blocks%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A pointer into the middle of a block keeps it reachable, as in LeakSanitizer. */
START_TEST(test_interior_reachable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "interior");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, 1, 4003);
    assert_no_leak_site(r, "hold_interior");
    lwt_free(r);
}
END_TEST

/* A pointer 5 MiB into a 6 MiB block keeps it reachable, and so does a pointer stored in its sixth MiB: the
 * scan's map of the MiBs that hold blocks spans every MiB of a block, not its first. */
START_TEST(test_far_interior_reachable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "far");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, 2, (6 << 20) + 77);
    assert_no_leak_site(r, "hold_far");
    lwt_free(r);
}
END_TEST

/* global -> block -> block -> block: the whole chain is reachable (the flood fill follows pointers in blocks). */
START_TEST(test_chain_reachable)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "chain");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, 3, 1001 + 1002 + 1003);
    assert_no_leak_site(r, "hold_chain");
    lwt_free(r);
}
END_TEST

/* Two lost blocks that point to each other. leakwatch classifies like LeakSanitizer: each block is pointed to by a
 * lost block, so both are indirect and no site is definite (valgrind would call the first block of the cycle it
 * meets "definitely lost" and the other "indirectly lost"). Indirect blocks gate like definite ones. */
START_TEST(test_cycle_indirect)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NULL, "cycle");
    LWT_ASSERT_RUN(r, 23);
    assert_class_site(r, "cycle_first", "indirect", 1, 88, CLASSES_SRC, "@reach_cycle_first */");
    assert_class_site(r, "cycle_second", "indirect", 1, 96, CLASSES_SRC, "@reach_cycle_second */");
    ck_assert_msg(leak_site_count(r) == 2, "no definite site%s", lwt_describe(r));
    assert_totals(r, 2, 184, 0, 0);
    lwt_free(r);
}
END_TEST

/* Every case in one process: the classes do not bleed into each other. */
START_TEST(test_all_classes)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_classes(NO_GATE, "all");
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, "lose_block", "definite", 1, 4002, CLASSES_SRC, "@reach_lost */");
    assert_class_site(r, "lose_list", "definite", 1, 48, CLASSES_SRC, "@reach_list */");
    assert_class_site(r, "lose_list", "indirect", 4, 192, CLASSES_SRC, "@reach_list */");
    assert_class_site(r, "cycle_first", "indirect", 1, 88, CLASSES_SRC, "@reach_cycle_first */");
    assert_class_site(r, "cycle_second", "indirect", 1, 96, CLASSES_SRC, "@reach_cycle_second */");
    ck_assert_msg(leak_site_count(r) == 5, "five leak sites%s", lwt_describe(r));
    assert_totals(r, 8, 4002 + 240 + 184, 7, 4001 + 4003 + (6 << 20) + 77 + 3006);
    lwt_free(r);
}
END_TEST

/* LEAKWATCH_REACHABILITY=never: no scan, every live block counts as a leak and sites carry no class. */
START_TEST(test_reachability_never)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_REACHABILITY=never", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("reach_classes"), "all"), &o);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_SITE_AT(r, "heap", "hold_in_global", 1, 4001, "reach_classes.c",
                       LWT_MARKER_LINE(CLASSES_SRC, "@reach_global */"));
    LWT_ASSERT_SITE_AT(r, "heap", "hold_interior", 1, 4003, "reach_classes.c",
                       LWT_MARKER_LINE(CLASSES_SRC, "@reach_interior */"));
    LWT_ASSERT_SITE(r, "heap", "lose_list", 5, 240);
    size_t i;
    json_t *site;
    json_array_foreach(json_object_get(r->report, "sites"), i, site)
        ck_assert_msg(site_class(site) == NULL, "site %zu has a class without a scan%s", i, lwt_describe(r));
    assert_totals(r, 15, 4001 + 4002 + 240 + 4003 + (6 << 20) + 77 + 3006 + 184, 0, 0);
    lwt_free(r);
}
END_TEST

/* ---- other threads and thread-local storage ---- */

/* Each mode of reach_thread leaves one block of `bytes` bytes that only the named root holds. The runtime keeps
 * blocks of its own while a thread still runs at exit (the stdout buffer, the thread's TLS vector): mode "none"
 * starts the same thread holding nothing, and the difference must be exactly the fixture's block. */
static const struct {
    const char *mode;
    const char *func;
    long long bytes;
} held[] = {
    { "stack_pause", "hold_on_stack_pause", 5001 }, /* a live local of a thread blocked in pause() */
    { "stack_cond", "hold_on_stack_cond", 5002 },   /* a live local of a thread waiting on a condvar */
    { "tls_thread", "store_in_tls", 5003 },         /* the TLS of a blocked thread */
    { "tls_main", "store_in_tls", 5004 },           /* main's TLS */
};

static lwt_result_t *run_thread(const char *const *lw_args, const char *mode)
{
    return lwt_leakwatch(lw_args, LWT_ARGV(lwt_fixture("reach_thread"), mode), NULL);
}

static void thread_baseline(long long *count, long long *bytes)
{
    lwt_result_t *r = run_thread(NULL, "none");
    LWT_ASSERT_RUN(r, 0);
    *count = lwt_total_count(r->report, "reachable");
    *bytes = lwt_total_bytes(r->report, "reachable");
    ck_assert_msg(lwt_total_count(r->report, "heap") == 0 && *count >= 0, "the baseline leaks nothing%s",
                  lwt_describe(r));
    lwt_free(r);
}

START_TEST(test_thread_roots)
{
    LWT_REQUIRE_BUILT();
    long long c0, b0;
    thread_baseline(&c0, &b0);
    lwt_result_t *r = run_thread(NULL, held[_i].mode);
    /* The default gate passes: the block is reachable, not a leak. */
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, c0 + 1, b0 + held[_i].bytes);
    assert_no_leak_site(r, held[_i].func);
    lwt_free(r);
}
END_TEST

/* Runs reach_thread in `mode`, where a thread loses one block of `bytes` in a dead frame below its stack pointer,
 * and checks the block is definite: a stack is a root from its stack pointer up. */
static void check_dead_frame(const char *mode, const char *func, long long bytes, const char *marker)
{
    long long c0, b0;
    thread_baseline(&c0, &b0);
    lwt_result_t *r = run_thread(NO_GATE, mode);
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, func, "definite", 1, bytes, THREAD_SRC, marker);
    assert_totals(r, 1, bytes, c0, b0);
    lwt_free(r);
}

/* The thread is blocked at exit: its stack pointer comes from /proc. */
START_TEST(test_dead_frame_not_a_root)
{
    LWT_REQUIRE_BUILT();
    check_dead_frame("dead_frame", "lose_deep", 5005, "@reach_dead_frame */");
}
END_TEST

/* A block whose address is left only in freed blocks of a thread's arena, a thread that is gone: freed memory of
 * the allocator is no root, so the block is definite, at its call site. */
START_TEST(test_freed_arena_not_a_root)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_thread(NO_GATE, "freed_arena");
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, "lose_after_freed_copies", "definite", 1, 5009, THREAD_SRC, "@reach_freed_arena */");
    LWT_ASSERT_TOTALS(r, "heap", 1, 5009, "totals.heap");
    lwt_free(r);
}
END_TEST

/* A pointer kept only in a register of a thread still running at exit: registers are roots, so the block is
 * reachable. */
START_TEST(test_register_is_a_root)
{
    LWT_REQUIRE_BUILT();
    long long c0, b0;
    thread_baseline(&c0, &b0);
    lwt_result_t *r = run_thread(NO_GATE, "register_running");
    LWT_ASSERT_RUN(r, 0);
    assert_totals(r, 0, 0, c0 + 1, b0 + 5007);
    assert_no_leak_site(r, "hold_in_register");
    lwt_free(r);
}
END_TEST

/* The thread is running (not blocked) at exit: its stack pointer comes from its registers. */
START_TEST(test_dead_frame_of_running_thread)
{
    LWT_REQUIRE_BUILT();
    check_dead_frame("dead_frame_running", "lose_deep_running", 5008, "@reach_dead_running */");
}
END_TEST

/* The scan at exit leaves a thread blocked in epoll_wait alone: the program prints and exits as it does without
 * leakwatch. */
START_TEST(test_blocked_threads_not_disturbed)
{
    LWT_REQUIRE_BUILT();
    for (int round = 0; round < 5; round++) {
        lwt_result_t *plain = lwt_exec(LWT_ARGV(lwt_fixture("epoll_waiter")), NULL);
        lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("epoll_waiter")), NULL);
        ck_assert_msg(lwt_same_outcome(plain, r), "plain:\n%s", lwt_describe(plain));
        ck_assert_msg(!strstr(r->out, "interrupted"), "%s", lwt_describe(r));
        lwt_free(plain);
        lwt_free(r);
    }
}
END_TEST

/* exit() called by a second thread while main waits in pthread_join: the 3 blocks main lost are definite. The scan
 * then runs on a thread stack, whose frames (the scanner's own, the dump writer's) hold block addresses too. */
START_TEST(test_exit_from_thread)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_thread(NO_GATE, "exit_thread");
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, "lose_before_thread_exit", "definite", 3, 3 * 5006, THREAD_SRC, "@reach_exit_thread */");
    LWT_ASSERT_TOTALS(r, "heap", 3, 3 * 5006, "only main's three blocks leak");
    lwt_free(r);
}
END_TEST

/* ---- one consistent moment ---- */

/* Another thread frees 20000 blocks while the exit dump runs (modes of reach_exit_free: from inside a
 * dl_iterate_phdr callback, which also holds up the loader for the scan, or a detached thread that then exits).
 * Each block is either freed or still held when the copy is made, never listed live and scanned freed: the only
 * leak is main's lost block, and nothing else is definite. A race, so each mode runs several times; the fixture
 * starts freeing only once the exit dump has begun. */
static const char *const exit_free_modes[] = { "phdr", "detached" };

START_TEST(test_freed_during_exit_dump)
{
    LWT_REQUIRE_BUILT();
    for (int round = 0; round < 6; round++) {
        lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("reach_exit_free"), exit_free_modes[_i]), NULL);
        LWT_ASSERT_RUN(r, 0);
        assert_class_site(r, "lose_one", "definite", 1, 4242, EXIT_FREE_SRC, "@exit_free_lost */");
        ck_assert_msg(leak_site_count(r) == 1, "round %d: one leak site, main's lost block%s", round,
                      lwt_describe(r));
        LWT_ASSERT_TOTALS(r, "heap", 1, 4242, "only main's lost block leaks");
        ck_assert_msg(lwt_total_count(r->report, NULL) == 1, "no other kind leaks%s", lwt_describe(r));
        /* what was still held when the copy was made is reachable: at most the 20000 blocks */
        ck_assert_msg(lwt_total_count(r->report, "reachable") <= 20000, "%s", lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* ---- vector registers ---- */

/* reach_vector's running thread keeps the only pointer to a 5011-byte block in a vector register: xmm0, the upper
 * half of ymm0, the upper 256 bits of zmm0. The register is a root: reachable. */
static const char *const vector_modes[] = { "xmm0", "ymm_high", "zmm_high" };

static lwt_result_t *run_vector(const char *mode)
{
    return lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("reach_vector"), mode), NULL);
}

START_TEST(test_vector_register_is_a_root)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_vector(vector_modes[_i]);
    LWT_ASSERT_RUN(r, 0);
    if (lwt_out_value(r, "skip", 0) == 1) {
        /* the processor lacks the extension: nothing to hold the pointer in */
        lwt_free(r);
        return;
    }
    assert_totals(r, 0, 0, 1, 5011);
    assert_no_leak_site(r, "alloc_hidden");
    lwt_free(r);
}
END_TEST

/* The control: the same thread with the address in no register: definite. */
START_TEST(test_vector_control_definite)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = run_vector("nowhere");
    LWT_ASSERT_RUN(r, 0);
    assert_class_site(r, "alloc_hidden", "definite", 1, 5011, "tests/fixtures/reach_vector.c", "@vector_block */");
    assert_totals(r, 1, 5011, 0, 0);
    lwt_free(r);
}
END_TEST

/* The running thread moves the only pointer between a global and xmm0 every few microseconds: the registers are
 * read at the moment of the memory snapshot (the thread stays stopped while the copy is made), so one of the two
 * always holds it. Read at two moments, both could miss it (about one run in ten did); the race is run 40 times. */
START_TEST(test_registers_and_memory_one_moment)
{
    LWT_REQUIRE_BUILT();
    for (int round = 0; round < 40; round++) {
        lwt_result_t *r = run_vector("alternate");
        LWT_ASSERT_RUN(r, 0);
        ck_assert_msg(lwt_total_count(r->report, "heap") == 0, "round %d: the block is held%s", round,
                      lwt_describe(r));
        assert_totals(r, 0, 0, 1, 5011);
        lwt_free(r);
    }
}
END_TEST

/* ---- helper processes ---- */

/* quiet_children counts SIGCHLD and polls waitpid(-1, WNOHANG) from a thread still running at exit: the scanning
 * copy (which stops that thread with ptrace) and the report command leakwatch runs by hand (LEAKWATCH_REPORT=text)
 * are nobody the program can see. The report still comes out on stderr. */
START_TEST(test_helpers_invisible_by_hand)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_REPORT=text", NULL };
    lwt_opts_t o = { .env = env };
    for (int round = 0; round < 3; round++) {
        lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("quiet_children")), &o);
        ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
        ck_assert_msg(strcmp(r->out, "done\n") == 0, "no SIGCHLD, no child, no wait error:\n%s%s", r->out,
                      lwt_describe(r));
        ck_assert_msg(strstr(r->err, "heap: 6001 bytes in 1 block") != NULL, "the report is printed%s",
                      lwt_describe(r));
        lwt_free(r);
    }
}
END_TEST

/* The same with a dump on a signal and the scan in every dump, after which main calls waitpid(-1, WNOHANG) and
 * wait(): both find no child (ECHILD). */
START_TEST(test_helpers_invisible_to_wait)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_DUMP_SIGNAL=SIGUSR2", "LEAKWATCH_REACHABILITY=always", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("quiet_children"), "dump"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(strcmp(r->out, "waitpid=ECHILD\nwait=ECHILD\ndone\n") == 0, "no SIGCHLD, no child:\n%s%s", r->out,
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* ---- fork ---- */

/* The child's 333-byte block hangs only on a block the parent allocated before fork (which a global points to):
 * reachable in the child, not a leak; its 77-byte block is lost. The inherited block is nobody's leak in the
 * child, and the parent freed it. */
START_TEST(test_fork_inherited_root)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("reach_fork")), NULL);
    LWT_ASSERT_RUN(r, 0);
    long long parent = lwt_out_value(r, "parent", -1), child = lwt_out_value(r, "child", -1);
    ck_assert_msg(parent > 0 && child > 0 && parent != child, "fixture prints both pids%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 2, "two processes%s", lwt_describe(r));
    assert_class_site(r, "child_lose", "definite", 1, 77, FORK_SRC, "@reach_fork_lost */");
    json_t *site = lwt_find_site(r->report, "heap", "child_lose", NULL, 0, 0);
    LWT_ASSERT_ONE_PID(r, site, child, "the lost block is the child's");
    assert_no_leak_site(r, "child_hang");
    assert_no_leak_site(r, "parent_root");
    ck_assert_msg(leak_site_count(r) == 1, "one leak site%s", lwt_describe(r));
    assert_totals(r, 1, 77, 1, 333);
    lwt_free(r);
}
END_TEST

/* Records whose memory cannot be read (a free leakwatch did not see, the pages given back): the exit scan faults on
 * each, passes over it and goes on, so that it ends, and every other block is classified as ever: the blocks a
 * global holds and those they hold are reachable, a lost block's list is indirect. */
START_TEST(test_records_without_memory)
{
    LWT_REQUIRE_BUILT();
    lwt_opts_t o = { .timeout_s = 60 };
    lwt_result_t *r = lwt_leakwatch(NO_GATE, LWT_ARGV(lwt_fixture("stale_records")), &o);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(lwt_out_value(r, "stale", -1) == 40, "the fixture ran%s", lwt_describe(r));
    assert_class_site(r, "lose_stale", "definite", 20, 20ll << 20, STALE_SRC, "@stale_lost */");
    assert_class_site(r, "lose_list", "definite", 1, 32, STALE_SRC, "@list_head */");
    assert_class_site(r, "lose_list", "indirect", 1, 200, STALE_SRC, "@list_tail */");
    assert_no_leak_site(r, "hold_stale");
    assert_no_leak_site(r, "hold_chain");
    assert_totals(r, 22, (20ll << 20) + 32 + 200, 22, (20ll << 20) + 32 + 100);
    lwt_free(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = tcase_create("classes");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_nothing_held);
    tcase_add_test(tc, test_global_reachable);
    tcase_add_test(tc, test_lost_definite);
    tcase_add_test(tc, test_list_indirect);
    tcase_add_test(tc, test_interior_reachable);
    tcase_add_test(tc, test_far_interior_reachable);
    tcase_add_test(tc, test_chain_reachable);
    tcase_add_test(tc, test_cycle_indirect);
    tcase_add_test(tc, test_records_without_memory);
    tcase_add_test(tc, test_all_classes);
    tcase_add_test(tc, test_reachability_never);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_thread_roots, 0, (int)(sizeof held / sizeof held[0]));
    tcase_add_test(tc, test_dead_frame_not_a_root);
    tcase_add_test(tc, test_freed_arena_not_a_root);
    tcase_add_test(tc, test_register_is_a_root);
    tcase_add_test(tc, test_dead_frame_of_running_thread);
    tcase_add_test(tc, test_blocked_threads_not_disturbed);
    tcase_add_test(tc, test_exit_from_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("moment");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_freed_during_exit_dump, 0, 2);
    suite_add_tcase(s, tc);

    tc = tcase_create("vector");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_vector_register_is_a_root, 0, 3);
    tcase_add_test(tc, test_vector_control_definite);
    tcase_add_test(tc, test_registers_and_memory_one_moment);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_helpers_invisible_by_hand);
    tcase_add_test(tc, test_helpers_invisible_to_wait);
    suite_add_tcase(s, tc);

    tc = tcase_create("fork");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_fork_inherited_root);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
