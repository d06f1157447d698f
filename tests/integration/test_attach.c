/* `leakwatch attach PID` on a service started without leakwatch: after 20 requests it is attached, `leakwatch
 * dump` then shows exactly the requests served since (the 20 before are not known, and freeing their temporaries
 * is no error), growth between two dumps ranks the cache first, and the service answers on and exits 0. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwtest.h"

typedef struct {
    pid_t pid;
    FILE *to, *from;
} plain_service_t;

/* A service fixture without the library, its stdin and stdout on pipes, running as user `uid` (-1: this one). */
static plain_service_t spawn_plain_as(const char *fixture, long uid)
{
    int in[2], out[2];
    ck_assert(pipe(in) == 0 && pipe(out) == 0);
    plain_service_t s = { fork(), NULL, NULL };
    ck_assert_int_ge(s.pid, 0);
    if (s.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        for (int fd = 3; fd < 64; fd++)
            close(fd);
        if (uid >= 0 && setuid((uid_t)uid) != 0)
            _exit(126);
        execl(lwt_fixture(fixture), fixture, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s.to = fdopen(in[1], "w");
    s.from = fdopen(out[0], "r");
    char line[64];
    ck_assert_msg(fgets(line, sizeof line, s.from) && strncmp(line, "pid=", 4) == 0, "the service did not start");
    return s;
}

static plain_service_t spawn_plain(const char *fixture)
{
    return spawn_plain_as(fixture, -1);
}

/* Serves n requests; returns the service's running total. */
static long serve(plain_service_t *s, int n)
{
    char line[64] = "";
    fprintf(s->to, "r %d\n", n);
    fflush(s->to);
    ck_assert_msg(fgets(line, sizeof line, s->from) != NULL, "the service gave no answer");
    long total = -1;
    ck_assert_msg(sscanf(line, "ok %ld", &total) == 1, "unexpected answer '%s'", line);
    return total;
}

/* `leakwatch attach pid` with LEAKWATCH_DUMP_DIR=dir in its environment. */
static lwt_result_t *attach_to(pid_t pid, const char *dir)
{
    char spid[16], envdir[4200];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    snprintf(envdir, sizeof envdir, "LEAKWATCH_DUMP_DIR=%s", dir);
    const char *env[] = { envdir, NULL };
    lwt_opts_t o = { .env = env, .timeout_s = 60 };
    return lwt_exec(LWT_ARGV(lwt_cli(), "attach", spid), &o);
}

/* Asks the service to end and checks that it ends as it would: status 0. */
static void quit(plain_service_t *s)
{
    fputs("q\n", s->to);
    fclose(s->to);
    fclose(s->from);
    int st;
    ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the service ended with status %d", st);
}

/* `leakwatch dump --dir dir pid`: the new dump, loaded; its path into path. */
static json_t *dump_now(const char *dir, pid_t pid, char *path, size_t cap)
{
    char spid[16];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", "--dir", dir, spid), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    snprintf(path, cap, "%.*s", (int)strcspn(r->out, "\n"), r->out);
    lwt_free(r);
    json_error_t err;
    json_t *d = json_load_file(path, 0, &err);
    ck_assert_msg(d != NULL, "%s: %s", path, err.text);
    return d;
}

static long long heap_count(json_t *d)
{
    return lwt_int(json_object_get(json_object_get(d, "totals"), "heap"), "count");
}

START_TEST(attach_tracks_a_running_service_from_that_moment_and_leaves_it_running)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    plain_service_t s = spawn_plain("service");
    ck_assert_int_eq(serve(&s, 20), 20);
    lwt_result_t *r = attach_to(s.pid, dir);
    if (r->exit_code == 1 && strstr(r->err, "ptrace:")) {
        /* tracing refused here (Yama, a seccomp filter, no CAP_SYS_PTRACE): nothing to test */
        fprintf(stderr, "test_attach: skipped, this machine refuses ptrace: %s", r->err);
        lwt_free(r);
        kill(s.pid, SIGKILL);
        waitpid(s.pid, NULL, 0);
        lwt_rmtree(dir);
        return;
    }
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->out, "tracking pid"), "%s", lwt_describe(r));
    lwt_free(r);

    ck_assert_int_eq(serve(&s, 30), 50);
    char p1[4300], p2[4300];
    json_t *d1 = dump_now(dir, s.pid, p1, sizeof p1);
    json_t *att = json_object_get(d1, "attached");
    ck_assert_msg(att && lwt_int(att, "time_unix_ms") > 0, "the dump does not say it comes from an attach");
    ck_assert_str_eq(json_string_value(json_object_get(att, "note")), "blocks allocated before are not known");
    /* the 30 cache entries since the attach, none of the 20 before; a descriptor every 5 requests */
    ck_assert_int_eq(heap_count(d1), 30);
    ck_assert_int_eq(lwt_int(json_object_get(json_object_get(d1, "totals"), "fd"), "count"), 6);
    ck_assert_int_eq(json_array_size(json_object_get(d1, "warnings")), 0);
    json_decref(d1);

    ck_assert_int_eq(serve(&s, 50), 100);
    json_t *d2 = dump_now(dir, s.pid, p2, sizeof p2);
    ck_assert_int_eq(heap_count(d2), 80);
    json_decref(d2);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--format", "json", p1, p2), NULL);
    ck_assert_msg(r->exit_code == 0, "%s", lwt_describe(r));
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc && lwt_site_frame(json_array_get(json_object_get(doc, "sites"), 0), "cache_insert"),
                  "the cache is not first:\n%s", r->out);
    /* the whole stack, as under LD_PRELOAD: libunwind's own calls stay bound to the tracker's memory validation */
    ck_assert_msg(lwt_site_frame(json_array_get(json_object_get(doc, "sites"), 0), "main"),
                  "the cache's stack stops short of main:\n%s", r->out);
    json_decref(doc);
    lwt_free(r);

    /* a second attach is refused; the service runs on and ends as it would */
    r = attach_to(s.pid, dir);
    ck_assert_msg(r->exit_code == 1 && strstr(r->err, "already runs with leakwatch"), "%s", lwt_describe(r));
    lwt_free(r);
    ck_assert_int_eq(serve(&s, 10), 110);
    quit(&s);
    lwt_rmtree(dir);
}
END_TEST

/* Whether free's address is one in the executable and in a library, as service_nopie answers `i`. */
static int same_free(plain_service_t *s)
{
    char line[64] = "";
    fputs("i\n", s->to);
    fflush(s->to);
    ck_assert_msg(fgets(line, sizeof line, s->from) != NULL, "the service gave no answer");
    return strcmp(line, "same\n") == 0;
}

/* A non-PIE executable that takes malloc's and free's addresses in code (Debian's python3 is built so): its PLT
 * entries stand for both functions, and dlsym hands them back. Attached, the wrappers must still reach the C
 * library's functions (forwarding to the entry called the wrapper again until the stack ran out), and free's
 * address must stay what the executable and its libraries compare. */
START_TEST(attach_to_a_non_pie_program_that_takes_mallocs_address)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    plain_service_t s = spawn_plain("service_nopie");
    ck_assert_int_eq(serve(&s, 20), 20);
    ck_assert(same_free(&s));
    lwt_result_t *r = attach_to(s.pid, dir);
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->out, "tracking pid"), "%s", lwt_describe(r));
    lwt_free(r);
    ck_assert_int_eq(serve(&s, 30), 50);
    ck_assert_msg(same_free(&s), "attached, free's address differs between the executable and its library");
    char p1[4300];
    json_t *d1 = dump_now(dir, s.pid, p1, sizeof p1);
    ck_assert_int_eq(heap_count(d1), 30);
    ck_assert_int_eq(lwt_int(json_object_get(json_object_get(d1, "totals"), "fd"), "count"), 6);
    json_decref(d1);
    ck_assert_int_eq(serve(&s, 10), 60);
    quit(&s);
    lwt_rmtree(dir);
}
END_TEST

/* A main thread that does nothing but malloc and free is stopped inside the allocator most of the time, holding
 * its lock or halfway through its lists: a load made there corrupted the heap or deadlocked (one attach in six
 * before attach waited for a point outside the C library). Each of eight such processes is attached, keeps
 * running, and writes a dump of what it holds since. */
START_TEST(attach_waits_until_the_main_thread_is_outside_the_allocator)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    for (int round = 0; round < 8; round++) {
        plain_service_t s = spawn_plain("malloc_spinner");
        char path[4300];
        usleep(100000 + 37000 * round);
        lwt_result_t *r = attach_to(s.pid, dir);
        ck_assert_msg(r->exited && r->exit_code == 0, "round %d: %s", round, lwt_describe(r));
        lwt_free(r);
        /* its 256 slots, once each has been refilled since the attach (a few thousand rounds of its loop, which a
         * busy machine may not have given it yet when the first dump is taken); one may be between its free and
         * its malloc. Never more than 256. */
        long long held = 0;
        for (int tries = 0; tries < 100 && held < 255; tries++) {
            if (tries)
                usleep(20000);
            json_t *d = dump_now(dir, s.pid, path, sizeof path);
            held = heap_count(d);
            json_decref(d);
            ck_assert_int_le(held, 256);
        }
        ck_assert_int_ge(held, 255);
        ck_assert_msg(waitpid(s.pid, NULL, WNOHANG) == 0, "round %d: the process ended after the attach", round);
        kill(s.pid, SIGKILL);
        ck_assert_int_eq(waitpid(s.pid, NULL, 0), s.pid);
        fclose(s.to);
        fclose(s.from);
    }
    lwt_rmtree(dir);
}
END_TEST

/* A service that runs as nobody (a server's worker after it dropped its privileges), attached by root with a
 * dump directory private to root: attach makes nobody's directory in it, and the dumps land there. */
START_TEST(attach_to_a_service_of_another_user_prepares_its_directory)
{
    LWT_REQUIRE_BUILT();
    ck_assert_msg(geteuid() == 0, "this test attaches to a process of another user and must run as root (CI does)");
    char *dir = lwt_mkdtemp(), sub[4300];
    ck_assert_int_eq(chmod(dir, 0700), 0);
    snprintf(sub, sizeof sub, "%s/uid-65534", dir);
    plain_service_t s = spawn_plain_as("service", 65534);
    ck_assert_int_eq(serve(&s, 5), 5);
    lwt_result_t *r = attach_to(s.pid, dir);
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->out, sub), "%s", lwt_describe(r));
    lwt_free(r);
    struct stat st;
    ck_assert_int_eq(lstat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode) && st.st_uid == 65534 && (st.st_mode & 07777) == 0700);
    ck_assert_int_eq(serve(&s, 30), 35);
    char p1[4300];
    json_t *d1 = dump_now(dir, s.pid, p1, sizeof p1);
    ck_assert_msg(strncmp(p1, sub, strlen(sub)) == 0, "the dump %s is not in %s", p1, sub);
    ck_assert_int_eq(heap_count(d1), 30);
    json_decref(d1);
    quit(&s);
    lwt_rmtree(dir);
}
END_TEST

START_TEST(attach_and_dump_name_what_they_cannot_do)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "attach", "4194304"), NULL);
    ck_assert_msg(r->exit_code == 1 && strstr(r->err, "no process 4194304"), "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "attach"), NULL);
    ck_assert_int_eq(r->exit_code, 2);
    lwt_free(r);
    /* a process without the library has no dump signal */
    char self[16];
    snprintf(self, sizeof self, "%d", (int)getpid());
    r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", self), NULL);
    ck_assert_msg(r->exit_code == 1 && strstr(r->err, "has no dump signal"), "%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attach");
    TCase *tc = tcase_create("attach");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, attach_tracks_a_running_service_from_that_moment_and_leaves_it_running);
    tcase_add_test(tc, attach_to_a_non_pie_program_that_takes_mallocs_address);
    tcase_add_test(tc, attach_waits_until_the_main_thread_is_outside_the_allocator);
    tcase_add_test(tc, attach_to_a_service_of_another_user_prepares_its_directory);
    tcase_add_test(tc, attach_and_dump_name_what_they_cannot_do);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
