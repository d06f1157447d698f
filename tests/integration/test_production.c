/* Integration tests of production dumps: a service signalled twice under the library, `leakwatch diff` and `trend`
 * ranking its cache and its descriptor leak first; no process left behind as the service's child by a signal
 * dump's scan; dumps under load from 8 threads; the triage screen in tmux, whose marks hide exactly the site
 * marked. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lwtest.h"

/* A running service: its pid, the pipe to its stdin and from its stdout. */
typedef struct {
    pid_t pid;
    FILE *in;
    FILE *out;
} svc_t;

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static svc_t start_service(const char *dumpdir, const char *const *args)
{
    int to[2], from[2];
    ck_assert_int_eq(pipe(to), 0);
    ck_assert_int_eq(pipe(from), 0);
    svc_t s;
    s.pid = fork();
    ck_assert_int_ge(s.pid, 0);
    if (s.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        setenv("LD_PRELOAD", lwt_lib(), 1);
        setenv("LEAKWATCH_DUMP_DIR", dumpdir, 1);
        setenv("LEAKWATCH_DUMP_SIGNAL", "USR2", 1);
        setenv("LEAKWATCH_REPORT", "none", 1);
        setenv("LEAKWATCH_REACHABILITY", "always", 1); /* signal dumps say what holds each site */
        const char *argv[16] = { lwt_fixture("service") };
        for (int i = 0; args && args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    s.in = fdopen(to[1], "w");
    s.out = fdopen(from[0], "r");
    char line[64] = "";
    ck_assert_msg(fgets(line, sizeof line, s.out) != NULL, "the service did not start");
    ck_assert_msg(strncmp(line, "pid=", 4) == 0, "unexpected first line '%s'", line);
    return s;
}

/* Sends `r N` and waits for the answer. */
static void requests(svc_t *s, int n)
{
    char line[64] = "";
    fprintf(s->in, "r %d\n", n);
    fflush(s->in);
    ck_assert_msg(fgets(line, sizeof line, s->out) != NULL, "no answer to 'r %d'", n);
    ck_assert_msg(strncmp(line, "ok ", 3) == 0, "unexpected answer '%s'", line);
}

/* Waits (at most 10 s) until dump number `seq` of the service exists, and returns its path (static buffer). */
static const char *await_dump(const char *dir, pid_t pid, int seq)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/leakwatch.%d.%d.json", dir, (int)pid, seq);
    for (int i = 0; i < 1000; i++) {
        if (access(path, F_OK) == 0)
            return path;
        sleep_ms(10);
    }
    ck_abort_msg("dump %s did not appear within 10 s", path);
    return NULL;
}

/* Sends `q` and waits (at most `secs`) for the service to exit; returns 1 when it did, else kills it, 0. */
static int stop_service(svc_t *s, int secs)
{
    fputs("q\n", s->in);
    fclose(s->in);
    fclose(s->out);
    for (int i = 0; i < secs * 100; i++) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0;
        sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    return 0;
}

/* Whether a site (diff JSON) has a frame in function `func`. */
static int has_func(json_t *site, const char *func)
{
    json_t *frames = json_object_get(site, "frames");
    for (size_t i = 0; i < json_array_size(frames); i++) {
        const char *f = json_string_value(json_object_get(json_array_get(frames, i), "function"));
        if (f && strcmp(f, func) == 0)
            return 1;
    }
    return 0;
}

/* The first site of `kind` in a diff or trend document. */
static json_t *first_of_kind(json_t *doc, const char *kind)
{
    json_t *sites = json_object_get(doc, "sites");
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *s = json_array_get(sites, i);
        if (strcmp(json_string_value(json_object_get(s, "kind")), kind) == 0)
            return s;
    }
    return NULL;
}

/* Runs the service: 20 requests, dump 1, 100 requests, dump 2, 50 requests, dump 3. Paths into d1..d3. */
static void three_dumps(const char *dir, char *d1, char *d2, char *d3, size_t len)
{
    svc_t s = start_service(dir, NULL);
    requests(&s, 20);
    kill(s.pid, SIGUSR2);
    snprintf(d1, len, "%s", await_dump(dir, s.pid, 1));
    requests(&s, 100);
    kill(s.pid, SIGUSR2);
    snprintf(d2, len, "%s", await_dump(dir, s.pid, 2));
    requests(&s, 50);
    kill(s.pid, SIGUSR2);
    snprintf(d3, len, "%s", await_dump(dir, s.pid, 3));
    ck_assert(stop_service(&s, 30));
}

START_TEST(diff_ranks_the_cache_first_by_bytes_and_the_descriptor_first_among_fds)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), d1[4096], d2[4096], d3[4096];
    three_dumps(dir, d1, d2, d3, sizeof d1);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "diff", "--format", "json", d1, d2), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    json_error_t err;
    json_t *doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc != NULL, "diff JSON: %s\n%s", err.text, r->out);
    json_t *top = json_array_get(json_object_get(doc, "sites"), 0);
    ck_assert_msg(top && has_func(top, "cache_insert"), "the first site is not the cache:\n%s", r->out);
    ck_assert_int_eq(lwt_int(top, "delta_count"), 100);
    ck_assert_int_eq(lwt_int(top, "old_count"), 20);
    ck_assert_int_eq(lwt_int(top, "delta_bytes"), 100 * lwt_int(top, "new_bytes") / lwt_int(top, "new_count"));
    /* the global that holds the cache */
    int decl = LWT_MARKER_LINE("tests/fixtures/service.c", "static struct entry *cache_head;");
    char held[128];
    snprintf(held, sizeof held, "held by global cache_head (service.c:%d) -> cache_insert blocks\n", decl);
    json_t *hb = json_object_get(top, "held_by");
    ck_assert_msg(hb && strcmp(json_string_value(json_object_get(hb, "name")), "cache_head") == 0 &&
                      lwt_int(hb, "line") == decl && strncmp(json_string_value(json_object_get(hb, "text")),
                                                             held + 8, strlen(held + 8) - 1) == 0,
                  "diff: held_by of the cache:\n%s", r->out);
    /* descriptor tracking: one /dev/null every 5 requests, 20 of them between the dumps */
    json_t *fd = first_of_kind(doc, "fd");
    ck_assert_msg(fd && has_func(fd, "open_request_log"), "the first fd site is not the descriptor leak:\n%s",
                  r->out);
    ck_assert_int_eq(lwt_int(fd, "delta_count"), 20);
    /* the temporaries are freed: handle_request's scratch buffer is no site */
    json_t *sites = json_object_get(doc, "sites");
    for (size_t i = 0; i < json_array_size(sites); i++) {
        json_t *s = json_array_get(sites, i);
        json_t *f0 = json_array_get(json_object_get(s, "frames"), 0);
        const char *fn = json_string_value(json_object_get(f0, "function"));
        ck_assert_msg(!fn || strcmp(fn, "handle_request") != 0, "a temporary of handle_request is live");
    }
    json_decref(doc);
    lwt_free(r);

    /* trend over the three, given out of order: the cache first, the fd leak first among fds */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", "--format", "json", d3, d1, d2), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    doc = json_loads(r->out, 0, &err);
    ck_assert_msg(doc != NULL, "trend JSON: %s", err.text);
    top = json_array_get(json_object_get(doc, "sites"), 0);
    ck_assert_msg(has_func(top, "cache_insert"), "trend: the first site is not the cache:\n%s", r->out);
    hb = json_object_get(top, "held_by");
    ck_assert_msg(hb && strcmp(json_string_value(json_object_get(hb, "root")), "global") == 0 &&
                      strcmp(json_string_value(json_object_get(hb, "name")), "cache_head") == 0,
                  "trend: held_by of the cache:\n%s", r->out);
    ck_assert_msg(has_func(first_of_kind(doc, "fd"), "open_request_log"), "trend: fd:\n%s", r->out);
    json_t *dumps = json_object_get(doc, "dumps");
    ck_assert_int_eq(lwt_int(json_array_get(dumps, 0), "seq"), 1);
    ck_assert_int_eq(lwt_int(json_array_get(dumps, 2), "seq"), 3);
    json_decref(doc);
    lwt_free(r);

    /* text diff and report --older-than on the same dumps */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "diff", d1, d2), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "cache_insert") && strstr(r->out, "+100 blocks"), "%s",
                  r->out);
    ck_assert_msg(strstr(r->out, held) != NULL, "diff: no '%s' in\n%s", held, r->out);
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", d1, d2, d3), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, held) != NULL, "trend: no '%s' in\n%s", held, r->out);
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--older-than", "1h", d2), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "no leaks"), "%s", lwt_describe(r));
    lwt_free(r);
    r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--older-than", "1 h", d2), NULL);
    ck_assert_int_eq(r->exit_code, 2);
    lwt_free(r);
    /* the cache is reachable in these dumps: a flame graph shows it with --show-reachable */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "svg", "--show-reachable", d2), NULL);
    ck_assert_msg(r->exit_code == 0 && strstr(r->out, "<svg") && strstr(r->out, ">cache_insert<"), "%s",
                  lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* The processes, zombies included, whose parent is pid: what `ps --ppid` lists. */
static int children_of(pid_t pid)
{
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char state;
        long ppid;
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && lwt_proc_stat(atol(e->d_name), &state, &ppid) == 0 &&
            ppid == (long)pid)
            n++;
    }
    closedir(d);
    return n;
}

/* A signal dump with a reachability scan makes a copy of the process and a tracer, both its children for a
 * moment: once the dump is written, neither stays (not even as a zombie) for the program's `ps --ppid`, its
 * /proc or a supervisor to see, however long the service then runs without another dump. */
START_TEST(a_signal_dump_leaves_no_child_behind)
{
    char *dir = lwt_mkdtemp();
    svc_t s = start_service(dir, NULL);
    requests(&s, 50);
    ck_assert_int_eq(children_of(s.pid), 0);
    kill(s.pid, SIGUSR2);
    await_dump(dir, s.pid, 1);
    int left = -1;
    for (int i = 0; i < 300 && left != 0; i++) {   /* the copy takes some milliseconds to exit */
        left = children_of(s.pid);
        if (left)
            sleep_ms(10);
    }
    ck_assert_msg(left == 0, "the service still has %d child process(es) 3 s after its dump", left);
    requests(&s, 10);
    ck_assert_int_eq(children_of(s.pid), 0);
    ck_assert(stop_service(&s, 30));
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* `leakwatch dump` signals the dump thread alone: a thread of the program waiting in poll, which no SA_RESTART
 * resumes, is not interrupted, and the dump is written. */
START_TEST(leakwatch_dump_interrupts_no_thread_of_the_program)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), spid[16];
    svc_t s = start_service(dir, NULL);
    requests(&s, 10);
    fputs("w 3000\n", s.in);
    fflush(s.in);
    /* until the service's thread is seen in poll */
    char sys_path[64], line0[64] = "";
    snprintf(sys_path, sizeof sys_path, "/proc/%d/syscall", (int)s.pid);
    for (int i = 0; i < 250 && atoi(line0) != SYS_poll; i++) {
        FILE *f = fopen(sys_path, "r");
        if (!f || !fgets(line0, sizeof line0, f))
            line0[0] = '\0';
        if (f)
            fclose(f);
        if (atoi(line0) != SYS_poll)
            sleep_ms(10);
    }
    ck_assert_msg(atoi(line0) == SYS_poll, "the service is not in poll: %s", line0);
    snprintf(spid, sizeof spid, "%d", (int)s.pid);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", "--dir", dir, spid), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    char line[64] = "";
    ck_assert_msg(fgets(line, sizeof line, s.out) != NULL, "no answer to 'w'");
    ck_assert_msg(strcmp(line, "waited 0 0\n") == 0, "the program's poll was cut short: %s", line);
    ck_assert(stop_service(&s, 10));
    lwt_rmtree(dir);
}
END_TEST

/* `leakwatch dump PID`, without --dir; how long it took into *secs. */
static lwt_result_t *timed_dump(pid_t pid, double *secs)
{
    char spid[32];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", spid), NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return r;
}

/* A service that rewrote its environment (process titles) no longer says where it writes: `leakwatch dump` without
 * --dir still asks for the dump, gives up after 3 s rather than 30 with the hint to give --dir, and with --dir
 * prints the next dump's path at once. */
START_TEST(dump_of_a_retitled_service_fails_fast_and_names_the_cure)
{
    char *dir = lwt_mkdtemp();
    svc_t s = start_service(dir, LWT_ARGV("--retitle", "1"));
    requests(&s, 5);
    char spid[32];
    snprintf(spid, sizeof spid, "%d", (int)s.pid);
    double secs;
    lwt_result_t *r = timed_dump(s.pid, &secs);
    ck_assert_msg(r->exited && r->exit_code == 1 && strstr(r->err, "no longer names its dump directory") &&
                      strstr(r->err, "--dir") && strstr(r->err, "within 3 s"),
                  "%s", lwt_describe(r));
    ck_assert_msg(secs >= 2.9 && secs < 10, "gave up after %.1f s", secs);
    lwt_free(r);
    await_dump(dir, s.pid, 1);   /* the dump was written where the service writes */
    r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", "--dir", dir, spid), NULL);
    char want[4200];
    snprintf(want, sizeof want, "%s/leakwatch.%d.2.json\n", dir, (int)s.pid);
    ck_assert_msg(r->exited && r->exit_code == 0 && strcmp(r->out, want) == 0, "%s", lwt_describe(r));
    lwt_free(r);
    ck_assert(stop_service(&s, 30));
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* A process started with a dump signal the library refuses (TERM) has no dump signal: `leakwatch dump` sends it
 * nothing, rather than the signal its environment names, which would end it. */
START_TEST(dump_never_sends_a_signal_the_library_refused)
{
    LWT_REQUIRE_BUILT();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("LD_PRELOAD", lwt_lib(), 1);
        setenv("LEAKWATCH_DUMP_SIGNAL", "TERM", 1);
        setenv("LEAKWATCH_REPORT", "none", 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    char spid[32];
    snprintf(spid, sizeof spid, "%d", (int)pid);
    sleep_ms(300);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", "--timeout", "2", spid), NULL);
    ck_assert_msg(r->exited && r->exit_code == 1 && strstr(r->err, "has no dump signal"), "%s", lwt_describe(r));
    lwt_free(r);
    ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "the process ended: it was sent its environment's TERM");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
END_TEST

/* A process in a container of its own (its own mount and pid namespaces, its dump directory a tmpfs only it sees):
 * `leakwatch dump` finds the directory through its root and the dump by the pid it has inside, and prints the
 * path through /proc/PID/root. Root only, as CI runs. */
START_TEST(dump_of_a_process_in_a_container_of_its_own)
{
    LWT_REQUIRE_BUILT();
    ck_assert_msg(geteuid() == 0, "this test makes namespaces and must run as root (CI does)");
    char script[8192];
    snprintf(script, sizeof script,
             "mount -t tmpfs none /mnt && mkdir /mnt/d && LD_PRELOAD='%s' LEAKWATCH_DUMP_DIR=/mnt/d "
             "LEAKWATCH_DUMP_SIGNAL=RTMIN+3 LEAKWATCH_REPORT=none exec sleep 20", lwt_lib());
    pid_t outer = fork();
    ck_assert_int_ge(outer, 0);
    if (outer == 0) {
        execlp("unshare", "unshare", "-m", "-p", "-f", "--mount-proc", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    /* the sleep is unshare's child: found by its parent */
    pid_t inner = 0;
    for (int i = 0; i < 300 && !inner; i++) {
        char path[64], text[256] = "";
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)outer, (int)outer);
        FILE *f = fopen(path, "r");
        if (f && fgets(text, sizeof text, f))
            inner = (pid_t)atoi(text);
        if (f)
            fclose(f);
        char comm[64] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)inner);
        if (inner && (!(f = fopen(path, "r")) || !fgets(comm, sizeof comm, f) || strcmp(comm, "sleep\n") != 0))
            inner = 0;
        if (f && inner)
            fclose(f);
        if (!inner)
            sleep_ms(10);
    }
    ck_assert_msg(inner > 0, "the contained process did not start");
    sleep_ms(200);
    char spid[32], want[128];
    snprintf(spid, sizeof spid, "%d", (int)inner);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "dump", "--timeout", "10", spid), NULL);
    snprintf(want, sizeof want, "/proc/%d/root/mnt/d/leakwatch.1.1.json\n", (int)inner);
    ck_assert_msg(r->exited && r->exit_code == 0 && strcmp(r->out, want) == 0, "%s", lwt_describe(r));
    lwt_free(r);
    kill(outer, SIGKILL);
    kill(inner, SIGKILL);
    waitpid(outer, NULL, 0);
}
END_TEST

/* A service whose dump directory does not exist cannot write a dump: `leakwatch dump` says so at once, without
 * signalling it, and does not sit out its timeout. */
START_TEST(dump_into_a_missing_directory_fails_at_once)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp(), missing[4200];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    svc_t s = start_service(missing, NULL);
    requests(&s, 5);
    double secs;
    lwt_result_t *r = timed_dump(s.pid, &secs);
    char want[4400];
    snprintf(want, sizeof want, "%s: No such file or directory: process %d cannot write its dumps there", missing,
             (int)s.pid);
    ck_assert_msg(r->exited && r->exit_code == 1 && strstr(r->err, want), "%s", lwt_describe(r));
    ck_assert_msg(secs < 2, "gave up after %.1f s", secs);
    lwt_free(r);
    ck_assert(stop_service(&s, 30));
    lwt_rmtree(dir);
}
END_TEST

START_TEST(dumps_under_load_from_eight_threads_do_not_deadlock_and_parse)
{
    LWT_REQUIRE_BUILT();
    char *dir = lwt_mkdtemp();
    svc_t s = start_service(dir, LWT_ARGV("--threads", "8"));
    for (int i = 0; i < 40; i++) {
        kill(s.pid, SIGUSR2);
        sleep_ms(25);
        if (i % 10 == 9)
            requests(&s, 10);   /* the main thread still answers between dumps */
    }
    await_dump(dir, s.pid, 2);
    ck_assert_msg(stop_service(&s, 60), "the service did not exit within 60 s of 'q' (deadlock?)");
    /* every dump parses and is complete */
    lwt_result_t *ls = lwt_exec(LWT_ARGV("ls", dir), NULL);
    int n = 0;
    char *save = NULL;
    for (char *name = strtok_r(ls->out, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        ck_assert_msg(strstr(name, ".tmp") == NULL, "a partial dump was left: %s", name);
        json_error_t err;
        json_t *d = json_load_file(path, 0, &err);
        ck_assert_msg(d != NULL, "%s: %s (line %d)", name, err.text, err.line);
        ck_assert_int_eq(lwt_int(d, "leakwatch_dump"), 2);
        json_decref(d);
        n++;
    }
    ck_assert_msg(n >= 3, "only %d dumps", n);
    lwt_free(ls);
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "trend", dir), NULL);
    ck_assert_msg(r->exited && r->exit_code == 0, "%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- tmux ---- */

static char tmux_socket[64];

static lwt_result_t *tmux(const char *const *args)
{
    const char *argv[24] = { "tmux", "-L", tmux_socket };
    for (int i = 0; args[i] && i < 20; i++)
        argv[i + 3] = args[i];
    return lwt_exec(argv, NULL);
}

/* The pane's text after `ms` milliseconds. The caller frees it. */
static char *capture(int ms)
{
    sleep_ms(ms);
    lwt_result_t *r = tmux(LWT_ARGV("capture-pane", "-p", "-t", "lw"));
    char *text = strdup(r->out ? r->out : "");
    lwt_free(r);
    return text;
}

/* The line number (0-based) in `pane` of the first line containing `needle`, or -1. */
static int line_of(const char *pane, const char *needle)
{
    const char *hit = strstr(pane, needle);
    if (!hit)
        return -1;
    int n = 0;
    for (const char *p = pane; p < hit; p++)
        n += *p == '\n';
    return n;
}

START_TEST(triage_screen_in_tmux)
{
    LWT_REQUIRE_BUILT();
    const char *tm = lwt_which(LWT_ARGV("/usr/bin/tmux", "/usr/local/bin/tmux"));
    ck_assert_msg(tm != NULL, "tmux is missing: run scripts/install-deps");
    char *dir = lwt_mkdtemp(), d1[4096], d2[4096], d3[4096], cmd[16384], supp[4200];
    three_dumps(dir, d1, d2, d3, sizeof d1);
    snprintf(tmux_socket, sizeof tmux_socket, "lwtest-%d", (int)getpid());
    snprintf(supp, sizeof supp, "%s/marks.supp", dir);
    snprintf(cmd, sizeof cmd, "%s triage --suppressions %s %s %s", lwt_cli(), supp, d1, d2);
    lwt_free(tmux(LWT_ARGV("new-session", "-d", "-s", "lw", "-x", "80", "-y", "24", cmd)));
    char *pane = capture(800);
    /* the list: by bytes, the cache first and the descriptor site (no bytes) below the stdio buffers */
    ck_assert_msg(strstr(pane, "leakwatch triage:") && strstr(pane, "KIND"), "no list:\n%s", pane);
    int cache = line_of(pane, "cache_insert"), fd = line_of(pane, "open_request_log");
    ck_assert_msg(cache == 2 && fd > cache, "unexpected order:\n%s", pane);
    free(pane);
    /* the cache's detail says what holds it; q goes back to the list */
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "Enter")));
    pane = capture(300);
    ck_assert_msg(strstr(pane, "held by global cache_head (service.c:") != NULL, "no holder in the detail:\n%s", pane);
    free(pane);
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "q")));
    pane = capture(300);
    ck_assert_msg(line_of(pane, "cache_insert") == 2, "q did not go back to the list:\n%s", pane);
    free(pane);
    /* sort by count: the descriptor site (24) moves above the single stdio buffers */
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "2")));
    pane = capture(300);
    ck_assert_msg(strstr(pane, "COUNT*") != NULL, "no sort mark:\n%s", pane);
    int fd2 = line_of(pane, "open_request_log");
    ck_assert_msg(fd2 == 3 && fd2 < fd, "sorting did not move the fd site (%d -> %d):\n%s", fd, fd2, pane);
    free(pane);
    /* open the second site: its stack and samples */
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "Down", "Enter")));
    pane = capture(300);
    ck_assert_msg(strstr(pane, "stack, innermost first:") && strstr(pane, "#1 handle_request")
                      && strstr(pane, "/dev/null"), "the site did not open:\n%s", pane);
    free(pane);
    /* mark it: a suppression line naming its position (sites are told apart by line, as in report), announced in
     * the status line */
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "m")));
    pane = capture(300);
    char mark[64], line[80];
    snprintf(mark, sizeof mark, "fd:^service.c:%d:17$",
             LWT_MARKER_LINE("tests/fixtures/service.c", "never closed: one descriptor leaked every K requests"));
    snprintf(line, sizeof line, "\n%s\n", mark);
    ck_assert_msg(strstr(pane, mark), "no mark %s in the status line:\n%s", mark, pane);
    free(pane);
    lwt_result_t *cat = lwt_exec(LWT_ARGV("cat", supp), NULL);
    ck_assert_msg(strstr(cat->out, line) != NULL, "suppression file:\n%s", cat->out);
    lwt_free(cat);
    /* the line hides that site and no other: the report of the same dumps loses exactly the descriptor site */
    lwt_result_t *all = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "json", d2), NULL);
    lwt_result_t *less = lwt_exec(LWT_ARGV(lwt_cli(), "report", "--format", "json", "--suppressions", supp, d2), NULL);
    json_t *ja = json_loads(all->out, 0, NULL), *jl = json_loads(less->out, 0, NULL);
    ck_assert_msg(ja && jl, "reports: %s %s", all->err, less->err);
    ck_assert_uint_eq(json_array_size(json_object_get(jl, "sites")), json_array_size(json_object_get(ja, "sites")) - 1);
    ck_assert_int_eq(lwt_int(json_object_get(json_object_get(jl, "totals"), "fd"), "count"), 0);
    json_decref(ja);
    json_decref(jl);
    lwt_free(all);
    lwt_free(less);
    /* back, help, quit */
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "q", "?")));
    pane = capture(300);
    ck_assert_msg(strstr(pane, "leakwatch triage keys"), "no help:\n%s", pane);
    free(pane);
    lwt_free(tmux(LWT_ARGV("send-keys", "-t", "lw", "x", "q")));
    int ended = 0;
    for (int i = 0; i < 50 && !ended; i++) {
        sleep_ms(100);
        lwt_result_t *r = tmux(LWT_ARGV("has-session", "-t", "lw"));
        ended = r->exit_code != 0;
        lwt_free(r);
    }
    if (!ended)
        lwt_free(tmux(LWT_ARGV("kill-server")));
    ck_assert_msg(ended, "q did not end the triage session");
    /* not a terminal: a clear error and exit status 2 */
    lwt_result_t *r = lwt_exec(LWT_ARGV(lwt_cli(), "triage", d1), NULL);
    ck_assert_msg(r->exit_code == 2 && strstr(r->err, "not a terminal"), "%s", lwt_describe(r));
    lwt_free(r);
    lwt_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("production");
    TCase *tc = tcase_create("production");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, diff_ranks_the_cache_first_by_bytes_and_the_descriptor_first_among_fds);
    tcase_add_test(tc, a_signal_dump_leaves_no_child_behind);
    tcase_add_test(tc, leakwatch_dump_interrupts_no_thread_of_the_program);
    tcase_add_test(tc, dump_of_a_retitled_service_fails_fast_and_names_the_cure);
    tcase_add_test(tc, dump_into_a_missing_directory_fails_at_once);
    tcase_add_test(tc, dump_never_sends_a_signal_the_library_refused);
    tcase_add_test(tc, dump_of_a_process_in_a_container_of_its_own);
    tcase_add_test(tc, dumps_under_load_from_eight_threads_do_not_deadlock_and_parse);
    tcase_add_test(tc, triage_screen_in_tmux);
    suite_add_tcase(s, tc);
    return lwt_run_suite(s);
}
