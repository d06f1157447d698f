/* Integration tests of the descriptors libc opens inside (mkstemp family, tmpfile, shm_open, ptys, pidfds) and
 * of those made through syscall(): each is counted at its call site, closing releases it, and the system-call
 * wrapper keeps glibc's contract. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lwtest.h"

#define SRC "tests/fixtures/fd_sources.c"

/* What the fixture prints (NAME=1 when the call worked), the function that leaks it, its kind and how many
 * descriptors it leaves. */
static const struct {
    const char *name, *func, *kind;
    int count;
} sources[] = {
    { "mkstemp", "leak_mkstemp", "fd", 1 },
    { "mkostemp", "leak_mkostemp", "fd", 1 },
    { "mkstemps", "leak_mkstemps", "fd", 1 },
    { "mkostemps", "leak_mkostemps", "fd", 1 },
    { "tmpfile", "leak_tmpfile", "fd", 1 },
    { "shm_open", "leak_shm_open", "fd", 1 },
    { "posix_openpt", "leak_posix_openpt", "fd", 1 },
    { "getpt", "leak_getpt", "fd", 1 },
    { "openpty", "leak_openpty", "fd", 2 },
    { "forkpty", "leak_forkpty", "fd", 1 },
    { "pidfd_open", "leak_pidfd_open", "fd", 1 },
    { "sys_openat", "leak_sys_openat", "fd", 1 },
    { "sys_memfd_create", "leak_sys_memfd", "fd", 1 },
    { "sys_eventfd2", "leak_sys_eventfd", "fd", 1 },
    { "sys_pidfd_open", "leak_sys_pidfd", "fd", 1 },
    { "sys_socket", "leak_sys_socket", "socket", 1 },
    { "sys_pipe2", "leak_sys_pipe", "fd", 2 },
    { "sys_userfaultfd", "leak_sys_userfaultfd", "fd", 1 },
    { "sys_perf_event_open", "leak_sys_perf_event", "fd", 1 },
    { "sys_io_uring_setup", "leak_sys_io_uring", "fd", 1 },
};

static const char *sample_detail(json_t *site)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(site, "samples"), 0), "detail"));
}

/* Every source that worked is one site of its own holding its descriptors; the totals are those and nothing
 * else; mkstemp, tmpfile, shm_open and posix_openpt need no privilege and must work. */
START_TEST(test_every_source_counted)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_sources")), NULL);
    LWT_ASSERT_RUN(r, 23);
    long long fds = 0, sockets = 0;
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++) {
        if (lwt_out_value(r, sources[i].name, 0) != 1) {
            LWT_ASSERT_NO_SITE(r, sources[i].func);
            continue;
        }
        LWT_ASSERT_SITE(r, sources[i].kind, sources[i].func, sources[i].count, 0);
        *(strcmp(sources[i].kind, "fd") == 0 ? &fds : &sockets) += sources[i].count;
    }
    ck_assert_msg(lwt_out_value(r, "open", -1) == fds + sockets, "the fixture's count agrees%s", lwt_describe(r));
    LWT_ASSERT_TOTALS(r, "fd", fds, 0, "one per descriptor the sources left open");
    LWT_ASSERT_TOTALS(r, "socket", sockets, 0, "the socket from syscall(SYS_socket)");
    const char *must[] = { "mkstemp", "tmpfile", "shm_open", "posix_openpt" };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        ck_assert_msg(lwt_out_value(r, must[i], 0) == 1, "%s works here%s", must[i], lwt_describe(r));

    json_t *shm = lwt_find_site(r->report, "fd", "leak_shm_open", "fd_sources.c",
                                LWT_MARKER_LINE(SRC, "@src_shm_open */"), 0);
    ck_assert_msg(shm && sample_detail(shm) && strstr(sample_detail(shm), "/dev/shm/lw_fd_sources."),
                  "the shm object is named%s", lwt_describe(r));
    json_t *tmp = lwt_find_site(r->report, "fd", "leak_tmpfile", "fd_sources.c",
                                LWT_MARKER_LINE(SRC, "@src_tmpfile */"), 0);
    ck_assert_msg(tmp && sample_detail(tmp) && strncmp(sample_detail(tmp), "FILE* fd ", 9) == 0,
                  "tmpfile's stream counts once, as a FILE*: %s%s", tmp ? sample_detail(tmp) : "-", lwt_describe(r));
    json_t *mk = lwt_find_site(r->report, "fd", "leak_mkstemp", "fd_sources.c",
                               LWT_MARKER_LINE(SRC, "@src_mkstemp */"), 0);
    ck_assert_msg(mk && sample_detail(mk) && strstr(sample_detail(mk), "/tmp/lw_fd_sources."), "the path%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Closed again (fclose, close), nothing is left. */
START_TEST(test_closed_sources)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("fd_sources"), "closed"), NULL);
    LWT_ASSERT_RUN(r, 0);
    LWT_ASSERT_TOTALS(r, NULL, 0, 0, "every descriptor was closed");
    ck_assert_msg(json_array_size(json_object_get(r->report, "warnings")) == 0, "and no close was a bad one%s",
                  lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Runs argv without and then under the library, checks that the output and status are the same and that the
 * plain run printed `key`=`want`, and returns the traced run (the caller frees it). */
static lwt_result_t *same_as_plain(const char *const *argv, const char *key, long want)
{
    lwt_result_t *plain = lwt_exec(argv, NULL);
    lwt_result_t *traced = lwt_exec_preload(argv, NULL);
    ck_assert_msg(lwt_out_value(plain, key, -1) == want, "plain%s", lwt_describe(plain));
    ck_assert_msg(lwt_same_outcome(plain, traced), "same output and status%s%s", lwt_describe(plain),
                  lwt_describe(traced));
    lwt_free(plain);
    return traced;
}

/* syscall() under the library returns and sets errno exactly as glibc's, and the program's output is the same. */
START_TEST(test_syscall_contract)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *traced = same_as_plain(LWT_ARGV(lwt_fixture("fd_sources"), "closed"), "errno_ok", 1);
    ck_assert_msg(lwt_out_value(traced, "errno_ok", -1) == 1, "traced%s", lwt_describe(traced));
    lwt_free(traced);
}
END_TEST

/* A clone or clone3 through syscall() whose child starts on a stack of its own, and a vfork through it, run as
 * under glibc: the wrapper makes those calls from a frameless entry, so each child exits with its own code. */
START_TEST(test_syscall_new_stack)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *traced = same_as_plain(LWT_ARGV(lwt_fixture("syscall_clone")), "clone", 7);
    ck_assert_msg(lwt_out_value(traced, "clone", -1) == 7, "clone's child ran on its stack%s", lwt_describe(traced));
    ck_assert_msg(lwt_out_value(traced, "clone3", -1) == 7, "and clone3's%s", lwt_describe(traced));
    ck_assert_msg(lwt_out_value(traced, "vfork", -1) == 5, "vfork's child exited%s", lwt_describe(traced));
    ck_assert_msg(lwt_out_value(traced, "errno_ok", -1) == 1, "a failed clone3 set errno%s", lwt_describe(traced));
    lwt_free(traced);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fd_sources");
    TCase *tc = tcase_create("sources");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_source_counted);
    tcase_add_test(tc, test_closed_sources);
    tcase_add_test(tc, test_syscall_contract);
    tcase_add_test(tc, test_syscall_new_stack);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
