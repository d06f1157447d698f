/* Dumps from every process of a prefork server: a master and two forked workers under the library, each worker
 * signalled once and the master every 200 ms, all on LEAKWATCH_DUMP_INTERVAL=1. Every process writes signal and
 * interval dumps of its own (`leakwatch dump` on a worker too), the master's interval goes on through its
 * signals, and `leakwatch trend` over the directory takes each process as a series and ranks the workers' cache
 * first. Also: a program that installs
 * its own handler for the dump signal keeps it and is told so, once; a forked child stays single-threaded (unshare
 * works) until its first allocation starts its dump thread. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lwtest.h"

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Starts the prefork fixture for `ms` milliseconds with its stdout on a pipe; fills the master's and the
 * workers' pids from its `master=` and `worker=` lines and returns once it printed `ready`. */
static pid_t start_prefork(const char *dir, long ms, pid_t workers[2])
{
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        char arg[32];
        snprintf(arg, sizeof arg, "%ld", ms);
        setenv("LD_PRELOAD", lwt_lib(), 1);
        setenv("LEAKWATCH_DUMP_DIR", dir, 1);
        setenv("LEAKWATCH_DUMP_INTERVAL", "1", 1);
        setenv("LEAKWATCH_DUMP_SIGNAL", "RTMIN+3", 1);
        setenv("LEAKWATCH_REPORT", "none", 1);
        execl(lwt_fixture("prefork_service"), "prefork_service", arg, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    char line[64];
    int nw = 0, ready = 0;
    long master = 0;
    while (!ready && fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "master=%ld", &v) == 1)
            master = v;
        else if (sscanf(line, "worker=%ld", &v) == 1 && nw < 2)
            workers[nw++] = (pid_t)v;
        else if (strncmp(line, "ready", 5) == 0)
            ready = 1;
    }
    fclose(f);
    ck_assert_msg(ready && nw == 2 && master == pid, "the prefork fixture did not start (%d workers)", nw);
    return pid;
}

/* The dump `seq` of `pid` in dir, loaded, or NULL when it does not exist. */
static json_t *load_dump(const char *dir, long pid, int seq)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/leakwatch.%ld.%d.json", dir, pid, seq);
    if (access(path, F_OK) != 0)
        return NULL;
    json_error_t err;
    json_t *d = json_load_file(path, 0, &err);
    ck_assert_msg(d != NULL, "%s: %s", path, err.text);
    return d;
}

/* Counts the dumps of pid by reason. */
static void count_reasons(const char *dir, long pid, int *sig, int *interval, int *exit_dumps)
{
    *sig = *interval = *exit_dumps = 0;
    json_t *d;
    for (int seq = 1; (d = load_dump(dir, pid, seq)) != NULL; seq++) {
        const char *reason = json_string_value(json_object_get(d, "reason"));
        ck_assert_ptr_nonnull(reason);
        *sig += strcmp(reason, "signal") == 0;
        *interval += strcmp(reason, "interval") == 0;
        *exit_dumps += strcmp(reason, "exit") == 0;
        json_decref(d);
    }
}

static int has_function(json_t *site, const char *func)
{
    return lwt_site_frame(site, func) != NULL;
}

START_TEST(every_process_of_a_prefork_server_dumps_and_trend_ranks_the_workers_cache)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    pid_t w[2];
    pid_t master = start_prefork(dir, 2500, w);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(kill(w[i], SIGRTMIN + 3), 0);
        /* the signal's dump, among the worker's interval dumps (one is due a second after its start) */
        int sig = 0, interval, exits;
        for (int t = 0; t < 1000 && !sig; t++) {
            count_reasons(dir, w[i], &sig, &interval, &exits);
            if (!sig)
                nap_ms(10);
        }
        ck_assert_msg(sig == 1, "worker %d wrote %d dumps on one signal", (int)w[i], sig);
    }
    /* `leakwatch dump` finds the worker's signal and directory itself, and waits for the new dump */
    char spid[16], want[4200];
    snprintf(spid, sizeof spid, "%d", (int)w[0]);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", spid), NULL);
    ck_assert_msg(r->exit_code == 0, "%s", lwt_describe(r));
    snprintf(want, sizeof want, "%s/leakwatch.%d.", dir, (int)w[0]);
    ck_assert_msg(strncmp(r->out, want, strlen(want)) == 0 && strstr(r->out, ".json\n"), "%s", r->out);
    lwt_free(r);
    /* the master: a signal every 200 ms, which must not hold its 1 s interval back */
    int st = 0, signals = 0;
    while (waitpid(master, &st, WNOHANG) == 0) {
        if (kill(master, SIGRTMIN + 3) == 0)
            signals++;
        nap_ms(200);
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the prefork fixture failed: status %d", st);
    ck_assert_int_ge(signals, 5);
    long pids[3] = { master, w[0], w[1] };
    for (int i = 0; i < 3; i++) {
        int sig, interval, exits;
        count_reasons(dir, pids[i], &sig, &interval, &exits);
        /* the first worker had a signal and `leakwatch dump`, the second a signal: one dump each, never two */
        int want_sig = i == 1 ? 2 : 1;
        ck_assert_msg((i ? sig == want_sig : sig >= 1) && interval >= 1 && exits == 1,
                      "pid %ld (%s): %d signal, %d interval, %d exit dumps", pids[i], i ? "worker" : "master", sig,
                      interval, exits);
    }

    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--format", "json", dir), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc != NULL, "trend JSON: %s", err.text);
    json_t *top = json_array_get(json_object_get(doc, "sites"), 0);
    ck_assert_msg(top && has_function(top, "worker_cache_insert"), "the first site is not the workers' cache:\n%s",
                  r->out);
    ck_assert_msg(json_real_value(json_object_get(top, "grew")) > 0.5, "%s", r->out);
    json_t *per = json_object_get(top, "processes");
    ck_assert_int_eq(json_array_size(per), 2); /* the two workers; the master never ran the cache */
    for (size_t i = 0; i < 2; i++) {
        long long pid = lwt_int(json_array_get(per, i), "pid");
        ck_assert(pid == w[0] || pid == w[1]);
        ck_assert(json_real_value(json_object_get(json_array_get(per, i), "slope_bytes_per_s")) > 0);
    }
    json_t *procs = json_object_get(doc, "processes");
    ck_assert_int_eq(json_array_size(procs), 3);
    int workers_of_master = 0;
    for (size_t i = 0; i < 3; i++)
        workers_of_master += lwt_int(json_array_get(procs, i), "master") == master;
    ck_assert_int_eq(workers_of_master, 2);
    json_decref(doc);
    lwt_free(r);

    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--top", "1", dir), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "3 processes, one service (prefork_service: master")
                      && strstr(r->out, "#1 heap") && strstr(r->out, "worker_cache_insert"),
                  "%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
}
END_TEST

START_TEST(a_program_that_takes_the_dump_signal_over_keeps_it_and_is_told_once)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_DUMP_SIGNAL=USR2", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal")), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    /* the program's handlers ran, through sigaction and through signal */
    ck_assert_int_eq(lwt_out_value(r, "handled", -1), 2);
    const char *w = strstr(r->err, "installs its own handler for signal 12");
    ck_assert_msg(w != NULL && strstr(w, "(a real-time one, RTMIN+3)"), "no warning, or no other signal named:\n%s",
                  r->err);
    ck_assert_msg(strstr(w + 1, "installs its own handler") == NULL, "warned twice:\n%s", r->err);
    lwt_free(r);

    /* a vfork child that resets the signal before it execs takes nothing over: the warning is the parent's own,
     * once, after the child is gone */
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal"), "vfork-first"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_int_eq(lwt_out_value(r, "handled", -1), 2);
    const char *done = strstr(r->err, "child done");
    w = strstr(r->err, "installs its own handler for signal 12");
    ck_assert_msg(done != NULL && w != NULL && w > done, "the warning is not the parent's, after its child:\n%s",
                  r->err);
    ck_assert_msg(strstr(w + 1, "installs its own handler") == NULL, "warned twice:\n%s", r->err);
    lwt_free(r);

    /* a forked child that sets every signal back to its default and execs (git's run-command) takes nothing over
     * either: no word from it, the parent's one warning after it */
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal"), "fork-first"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_int_eq(lwt_out_value(r, "handled", -1), 2);
    done = strstr(r->err, "child done");
    w = strstr(r->err, "installs its own handler for signal 12");
    ck_assert_msg(done != NULL && w != NULL && w > done && !strstr(r->err, "signal 12 back to its default"),
                  "the warning is not the parent's alone, after its child:\n%s", r->err);
    ck_assert_msg(strstr(w + 1, "installs its own handler") == NULL, "warned twice:\n%s", r->err);
    lwt_free(r);

    /* a program that saves the disposition and puts it back (Python's signal.getsignal, bash's traps) sees the
     * default where the library's handler is, and the default is what it puts back: it ends as without the
     * library */
    lwt_result_t *plain = lwt_exec(LWT_ARGV(lwt_fixture("own_dump_signal"), "restore"), NULL);
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal"), "restore"), &o);
    ck_assert_msg(!plain->exited && plain->term_sig == SIGUSR2 && lwt_same_outcome(plain, r),
                  "plain:\n%s\nwith the library:\n%s", lwt_describe(plain), lwt_describe(r));
    ck_assert_int_eq(lwt_out_value(r, "default", -1), 1);
    ck_assert_int_eq(lwt_out_value(r, "saved_default", -1), 1);
    lwt_free(plain);
    lwt_free(r);

    /* a program whose descriptor 2 is a data file of its own by then: the warning (and the exit report) stay out
     * of it */
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal"), "stderr-file"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0 && strstr(r->out, "data=payload\n") != NULL &&
                      strstr(r->out, "leakwatch") == NULL,
                  "%s", lwt_describe(r));
    lwt_free(r);

    /* a program that goes on after ignoring the signal is told at its next allocation */
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal"), "ignore"), &o);
    ck_assert_msg(r->exited && r->exit_code == 0 && lwt_out_value(r, "survived", -1) == 1, "%s", lwt_describe(r));
    ck_assert_msg(strstr(r->err, "the program ignores signal 12, LEAKWATCH_DUMP_SIGNAL") != NULL, "no warning:\n%s",
                  r->err);
    lwt_free(r);

    /* another dump signal: nothing to say */
    const char *env2[] = { "LEAKWATCH_DUMP_SIGNAL=RTMIN+3", NULL };
    o.env = env2;
    r = lwt_exec_preload(LWT_ARGV(lwt_fixture("own_dump_signal")), &o);
    ck_assert_msg(r->exited && r->exit_code == 0 && !strstr(r->err, "own handler"), "%s", lwt_describe(r));
    lwt_free(r);
}
END_TEST

/* A dump signal the program was started with ignored stays ignored: no handler of the library's takes its place
 * (the programs it runs would get the default action), and a line says signal dumps are off. */
START_TEST(an_ignored_dump_signal_stays_ignored)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_DUMP_SIGNAL=USR2", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("ignored_dump_signal")), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "ignored", -1) == 1, "still ignored after the library's start%s",
                  lwt_describe(r));
    ck_assert_int_eq(lwt_out_value(r, "survived", -1), 1);
    ck_assert_msg(strstr(r->err, "signal 12 already is ignored by the program") != NULL, "no line:\n%s", r->err);
    lwt_free(r);
}
END_TEST

START_TEST(a_forked_child_has_one_thread_until_it_allocates)
{
    LWT_REQUIRE_BUILT();
    const char *env[] = { "LEAKWATCH_DUMP_INTERVAL=60", NULL };
    lwt_opts_t o = { .env = env };
    lwt_result_t *r = lwt_exec_preload(LWT_ARGV(lwt_fixture("fork_lazy_dumper")), &o);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    /* single-threaded at fork, so unshare is not refused for threads (EPERM may still come from the machine) */
    ck_assert_int_eq(lwt_out_value(r, "before", -1), 1);
    ck_assert_int_ne(lwt_out_value(r, "unshare", -1), EINVAL);
    /* its first allocation starts its own dump thread */
    ck_assert_int_eq(lwt_out_value(r, "after", -1), 2);
    lwt_free(r);
}
END_TEST

/* A fixture under the library with the dump signal RTMIN+3 and its dumps in dir. */
static lwt_result_t *run_dumping(const char *dir, const char *fixture)
{
    char envdir[4200];
    snprintf(envdir, sizeof envdir, "LEAKWATCH_DUMP_DIR=%s", dir);
    const char *env[] = { "LEAKWATCH_DUMP_SIGNAL=RTMIN+3", envdir, NULL };
    lwt_opts_t o = { .env = env };
    return lwt_exec_preload(LWT_ARGV(lwt_fixture(fixture)), &o);
}

/* A program that blocks the dump signal in every thread and reads it from a signalfd gets every one it sends
 * itself: the dump thread, which the kernel hands such a signal (it waits for it), gives it back to the process,
 * stops waiting for it, and says once that there are no signal dumps. */
START_TEST(a_program_that_waits_for_the_dump_signal_gets_it)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_result_t *r = run_dumping(dir, "sigwait_dump_signal");
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "got", -1) == 5, "the program lost its signals%s", lwt_describe(r));
    const char *w = strstr(r->err, "every thread of the program blocks signal");
    ck_assert_msg(w && !strstr(w + 1, "every thread of the program blocks signal"), "not told once%s",
                  lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
}
END_TEST

/* A dump signal that reaches a forked child while fork's handlers still run in it (before the library's own has
 * set the child's dump state up) is not lost: the child's first dump is the signal's. */
START_TEST(a_signal_in_a_child_before_its_fork_handlers_is_not_lost)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    lwt_result_t *r = run_dumping(dir, "early_child_signal");
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    ck_assert_msg(lwt_out_value(r, "dumped", -1) == 1, "the child wrote no dump on the signal%s", lwt_describe(r));
    json_t *d = load_dump(dir, lwt_out_value(r, "child", -1), 1);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(json_string_value(json_object_get(d, "reason")), "signal");
    json_decref(d);
    lwt_free(r);
    lwt_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prefork");
    TCase *tc = tcase_create("dumps");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_process_of_a_prefork_server_dumps_and_trend_ranks_the_workers_cache);
    tcase_add_test(tc, a_program_that_takes_the_dump_signal_over_keeps_it_and_is_told_once);
    tcase_add_test(tc, an_ignored_dump_signal_stays_ignored);
    tcase_add_test(tc, a_forked_child_has_one_thread_until_it_allocates);
    tcase_add_test(tc, a_signal_in_a_child_before_its_fork_handlers_is_not_lost);
    tcase_add_test(tc, a_program_that_waits_for_the_dump_signal_gets_it);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
