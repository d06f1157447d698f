/* Integration tests for the processes `leakwatch run` could not check: static and set-group-ID programs, processes
 * killed before their dump, dumps that cannot be read or are incomplete, a FIFO in the dump directory; each is
 * named in `unchecked` and makes run exit 24 unless --allow-unchecked. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lwtest.h"

static json_t *unchecked(const lwt_result_t *r)
{
    json_t *u = json_object_get(r->report, "unchecked");
    ck_assert_msg(json_is_array(u), "the report of a run has `unchecked`%s", lwt_describe(r));
    return u;
}

/* `unchecked` has exactly one entry; it is for `pid` (when >= 0), names `exe` (when not NULL, by suffix) and its
 * reason contains `why`. */
static void assert_one_unchecked(const lwt_result_t *r, long long pid, const char *exe, const char *why)
{
    json_t *u = unchecked(r);
    ck_assert_msg(json_array_size(u) == 1, "one unchecked process%s", lwt_describe(r));
    json_t *e = json_array_get(u, 0);
    const char *x = json_string_value(json_object_get(e, "executable"));
    const char *reason = json_string_value(json_object_get(e, "reason"));
    ck_assert_msg(pid < 0 || lwt_int(e, "pid") == pid, "unchecked pid %lld, not %lld%s", pid, lwt_int(e, "pid"),
                  lwt_describe(r));
    ck_assert_msg(!exe || (x && strlen(x) >= strlen(exe) && strcmp(x + strlen(x) - strlen(exe), exe) == 0),
                  "unchecked executable ends with %s, is %s%s", exe, x ? x : "null", lwt_describe(r));
    ck_assert_msg(reason && strstr(reason, why), "reason contains \"%s\", is \"%s\"%s", why, reason ? reason : "null",
                  lwt_describe(r));
    /* the text shows names escaped: compare up to the first byte it would escape */
    char shown[512];
    size_t k = 0;
    while (reason[k] && k < sizeof shown - 1 && (unsigned char)reason[k] >= 0x20 && (unsigned char)reason[k] < 0x7f &&
           reason[k] != '\\')
        k++;
    memcpy(shown, reason, k);
    shown[k] = '\0';
    ck_assert_msg(strstr(r->err, shown) != NULL, "the text report names the reason too%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: no leaks (") == NULL, "never the plain \"no leaks\" line%s",
                  lwt_describe(r));
}

START_TEST(test_static_command)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("static_hello"), "0"), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, "/static_hello", "a static binary");
    ck_assert_msg(strstr(r->err, "leakwatch: no process could be checked (1 unchecked, below)") != NULL,
                  "says nothing was checked%s", lwt_describe(r));
    ck_assert_msg(lwt_process_count(r->report) == 0, "no process wrote a dump%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

START_TEST(test_allow_unchecked)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(LWT_ARGV("--allow-unchecked"), LWT_ARGV(lwt_fixture("static_hello"), "5"), NULL);
    LWT_ASSERT_RUN(r, 5);
    assert_one_unchecked(r, -1, "/static_hello", "a static binary");
    lwt_free(r);
}
END_TEST

/* A traced process executes a static binary: the exec marker names the path. */
START_TEST(test_exec_static)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r =
        lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "exec", lwt_fixture("static_hello")), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, "/static_hello", "which ran without libleakwatch.so: a static binary");
    ck_assert_msg(strstr(r->out, "static hello") != NULL, "the static program ran%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* posix_spawn of a static binary: the parent marks the child, and nothing in the child takes the mark back. A
 * spawned program that runs the library is checked as usual. */
START_TEST(test_spawn_static)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r =
        lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "spawn", lwt_fixture("static_hello")), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, "/static_hello", "posix_spawn started it as");
    ck_assert_msg(strstr(r->out, "static hello") != NULL, "the static program ran%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "spawn", lwt_fixture("clean"), "0"), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(json_array_size(unchecked(r)) == 0 && lwt_process_count(r->report) == 2,
                  "both processes checked%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Set-group-ID to a group that is not ours: the kernel sets AT_SECURE and the dynamic linker ignores LD_PRELOAD
 * (even for root, whose real group then differs from the effective one). */
START_TEST(test_setgid)
{
    LWT_REQUIRE_BUILT();
    struct group *g = getgrnam("nogroup");
    gid_t other = g ? g->gr_gid : 65534;
    if (getgid() == other)
        return; /* nothing to differ from */
    char *dir = lwt_mkdtemp();
    char copy[4096], cmd[8192];
    snprintf(copy, sizeof copy, "%s/sgid_clean", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", lwt_fixture("clean"), copy);
    ck_assert_msg(system(cmd) == 0, "copy the fixture");
    chmod(dir, 0755);
    if (chown(copy, (uid_t)-1, other) != 0 || chmod(copy, 02755) != 0) {
        lwt_rmtree(dir);
        ck_assert_msg(geteuid() != 0, "root can make a set-group-ID copy");
        return; /* not root: cannot hand the file to another group */
    }
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(copy, "0"), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, "/sgid_clean", "set-group-ID: the dynamic linker ignores LD_PRELOAD");
    lwt_free(r);

    r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "exec", copy, "0"), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, "/sgid_clean", "it executed");
    lwt_free(r);
    lwt_rmtree(dir);
}
END_TEST

START_TEST(test_killed_command)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "kill-self"), NULL);
    LWT_ASSERT_RUN(r, 128 + 9);
    assert_one_unchecked(r, -1, "/unchecked_cases", "killed by signal 9");
    lwt_free(r);
}
END_TEST

/* The child dies of SIGKILL, the parent exits 0: the child's start marker is left, and run does not pass. */
START_TEST(test_killed_child)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "kill-child"), NULL);
    LWT_ASSERT_RUN(r, 24);
    long long child = lwt_out_value(r, "child", -1);
    assert_one_unchecked(r, child, "/unchecked_cases", "ended without writing its exit dump");
    ck_assert_msg(lwt_process_count(r->report) == 1, "the parent was checked%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "leakwatch: no leaks in the 1 process checked; 1 could not be checked (below)"),
                  "the first line says what was checked%s", lwt_describe(r));
    lwt_free(r);

    r = lwt_leakwatch(LWT_ARGV("--allow-unchecked"), LWT_ARGV(lwt_fixture("unchecked_cases"), "kill-child"), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(json_array_size(unchecked(r)) == 1, "still named%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Leaks beyond the limit still exit 23 when a process was also unchecked. */
START_TEST(test_leaks_win)
{
    LWT_REQUIRE_BUILT();
    char script[8192];
    snprintf(script, sizeof script, "'%s' kill-child; '%s' 2", lwt_fixture("unchecked_cases"),
             lwt_fixture("gate_leaker"));
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV("sh", "-c", script), NULL);
    LWT_ASSERT_RUN(r, 23);
    ck_assert_msg(json_array_size(unchecked(r)) == 1, "the killed child is named%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

static void check_unreadable(const char *mode, const char *why)
{
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), mode), NULL);
    LWT_ASSERT_RUN(r, 24);
    assert_one_unchecked(r, -1, NULL, why);
    lwt_free(r);
}

START_TEST(test_garbage_dump)
{
    LWT_REQUIRE_BUILT();
    check_unreadable("garbage", "cannot be read: line 1, column 1");
}
END_TEST

START_TEST(test_truncated_dump)
{
    LWT_REQUIRE_BUILT();
    check_unreadable("truncated", "cannot be read: line 1, column 29");
}
END_TEST

/* A FIFO under a dump's name: run never opens it (it would wait for a writer forever) and finishes. */
START_TEST(test_fifo_in_dump_dir)
{
    LWT_REQUIRE_BUILT();
    check_unreadable("fifo", "is not a regular file");
}
END_TEST

/* A dump whose library lost records is incomplete; its lost warnings are a line of the text report. */
START_TEST(test_incomplete_dump)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("unchecked_cases"), "lost"), NULL);
    LWT_ASSERT_RUN(r, 24);
    long long other = lwt_out_value(r, "other", -1);
    assert_one_unchecked(r, other, "/bin/lost", "incomplete: 5 records not recorded, 1 stack not stored");
    json_t *p = lwt_process(r->report, other);
    json_t *lost = json_object_get(p, "lost");
    ck_assert_msg(lwt_int(p, "dropped") == 2 && lwt_int(lost, "records") == 3 && lwt_int(lost, "sites") == 1
                      && lwt_int(lost, "warnings") == 4,
                  "the process carries dropped and lost%s", lwt_describe(r));
    char line[128];
    snprintf(line, sizeof line, "leakwatch: pid %lld: 4 more warnings were not kept", other);
    ck_assert_msg(strstr(r->err, line) != NULL, "lost warnings are a line%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A clean tree: `unchecked` is empty and the report stays one line. */
START_TEST(test_clean_tree)
{
    LWT_REQUIRE_BUILT();
    char script[8192];
    snprintf(script, sizeof script, "'%s' 0 && '%s' 0", lwt_fixture("clean"), lwt_fixture("clean"));
    lwt_result_t *r = lwt_leakwatch(NULL, LWT_ARGV("sh", "-c", script), NULL);
    LWT_ASSERT_RUN(r, 0);
    ck_assert_msg(json_array_size(unchecked(r)) == 0, "nothing unchecked%s", lwt_describe(r));
    ck_assert_msg(strncmp(r->err, "leakwatch: no leaks (3 processes)", 33) == 0, "%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* Starts `n` processes that spin until killed, to keep both cores busy: a process of the tree then waits to run,
 * which widens every window between a fork, a marker and a dump. */
static void spin(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        ck_assert_msg(pids[i] >= 0, "fork");
        if (pids[i] == 0)
            for (;;)
                ;
    }
}

static void unspin(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
}

/* Twenty processes that each outlive their parent, and so the command: run waits for every one (they come to it as
 * orphans) and counts each one's leak, on busy cores too. */
/* Whether process pid is gone or a zombie (a daemon reparented to an init that does not reap stays one). */
static int ended(pid_t pid)
{
    char state;
    long ppid;
    return lwt_proc_stat(pid, &state, &ppid) != 0 || state == 'Z' || state == 'X';
}

/* A daemon that outlives the command is named as still running; when it ends later, once run has taken its dump
 * directory away, it writes nothing onto the stderr it inherited: the run is over, and said so. */
START_TEST(test_daemon_ending_after_the_run_stays_quiet)
{
    LWT_REQUIRE_BUILT();
    lwt_result_t *r =
        lwt_leakwatch(LWT_ARGV("--max-leaks", "100"), LWT_ARGV(lwt_fixture("unchecked_cases"), "outlive", "30"), NULL);
    ck_assert_msg(r->exited && r->exit_code == 24 && strstr(r->err, "still running when the command ended"), "%s",
                  lwt_describe(r));
    long long daemon = lwt_out_value(r, "daemon", -1);
    ck_assert_msg(daemon > 0, "%s", lwt_describe(r));
    for (int i = 0; i < 4000 && !ended((pid_t)daemon); i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(ended((pid_t)daemon), "the daemon did not end");
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr", r->tmpdir);
    lwt_result_t *cat = lwt_exec(LWT_ARGV("cat", path), NULL);
    ck_assert_msg(strstr(cat->out, "could not write") == NULL && strcmp(cat->out, r->err) == 0,
                  "the daemon wrote after the run:\n%s", cat->out);
    lwt_free(cat);
    lwt_free(r);
}
END_TEST

START_TEST(test_relay_outlives_command)
{
    LWT_REQUIRE_BUILT();
    pid_t spinners[3];
    spin(spinners, 3);
    for (int round = 0; round < 12; round++) {
        lwt_result_t *r =
            lwt_leakwatch(NULL, LWT_ARGV(lwt_fixture("relay"), "20", round % 3 ? "0" : "300"), NULL);
        LWT_ASSERT_RUN(r, 23);
        ck_assert_msg(lwt_process_count(r->report) == 21, "21 processes checked, round %d%s", round,
                      lwt_describe(r));
        ck_assert_msg(lwt_int(json_object_get(r->report, "gate"), "leaks") == 21, "21 leaks, round %d%s", round,
                      lwt_describe(r));
        ck_assert_msg(json_array_size(unchecked(r)) == 0, "nothing unchecked, round %d%s", round, lwt_describe(r));
        lwt_free(r);
    }
    unspin(spinners, 3);
}
END_TEST

/* Whether a thread of process pid is inside openat, by the system call number /proc/PID/task/TID/syscall shows
 * first (readable here: leakwatch is this process's child). */
static int in_openat(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char sp[300], line[64] = "", want[24];
        snprintf(want, sizeof want, "%d ", (int)SYS_openat);
        snprintf(sp, sizeof sp, "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
        FILE *f = fopen(sp, "r");
        if (f) {
            found = fgets(line, sizeof line, f) && strncmp(line, want, strlen(want)) == 0;
            fclose(f);
        }
    }
    closedir(d);
    return found;
}

/* After the command ended, leakwatch reads what the dumps name: here a module that is a FIFO, which blocks the
 * symbolizer. The first signal is held for the end of the report; a second one ends leakwatch at once. */
START_TEST(test_second_signal_ends_run)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s/module.fifo", dir);
    ck_assert_msg(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        setenv("TMPDIR", dir, 1); /* the dump directory it leaves behind goes with the test's */
        execl(lwt_cli(), lwt_cli(), "run", "--", lwt_fixture("unchecked_cases"), "fifo-module", fifo, (char *)NULL);
        _exit(127);
    }
    /* The symbolizer's open of the FIFO blocks until something opens it for writing, which nothing does: once a
     * thread of leakwatch is seen in that open twice, 100 ms apart, the command has ended and the report is stuck.
     * (Opening the FIFO here would let the report go on and end before the signals came.) */
    int stuck = 0;
    for (int i = 0; i < 200 && stuck < 2; i++) {
        stuck = in_openat(pid) ? stuck + 1 : 0;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(stuck == 2, "leakwatch was never seen waiting in the open of %s", fifo);
    kill(pid, SIGTERM);
    kill(pid, SIGINT);
    int st = 0;
    ck_assert_msg(waitpid(pid, &st, 0) == pid, "waitpid");
    ck_assert_msg(WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM),
                  "leakwatch died of the second signal (status 0x%x)", st);
    lwt_rmtree(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("unchecked");
    TCase *tc = tcase_create("without the library");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_static_command);
    tcase_add_test(tc, test_allow_unchecked);
    tcase_add_test(tc, test_exec_static);
    tcase_add_test(tc, test_spawn_static);
    tcase_add_test(tc, test_setgid);
    suite_add_tcase(s, tc);

    tc = tcase_create("without a dump");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_killed_command);
    tcase_add_test(tc, test_killed_child);
    tcase_add_test(tc, test_leaks_win);
    tcase_add_test(tc, test_clean_tree);
    tcase_add_test(tc, test_relay_outlives_command);
    tcase_add_test(tc, test_daemon_ending_after_the_run_stays_quiet);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad dumps");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_garbage_dump);
    tcase_add_test(tc, test_truncated_dump);
    tcase_add_test(tc, test_fifo_in_dump_dir);
    tcase_add_test(tc, test_incomplete_dump);
    tcase_add_test(tc, test_second_signal_ends_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lwt_run_suite(suite());
}
